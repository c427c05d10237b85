//! What an attacker holding the logs or the disk would find about callers: whole call flows
//! with known numbers, every log line captured, every table and the raw files scanned; the
//! retention purge checked on the file's bytes; caller-hash key rotation end to end.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, Utc};
use common::api::{self, person};
use common::{TOKEN, TestApp, spawn_app};
use hotline::app::OpenError;
use hotline::app::secrets::Secrets;
use hotline::config::Config;
use hotline::domain::cases::{CaseNumber, Event};
use hotline::domain::people::Role;
use hotline::domain::secret::Secret;
use hotline::http::server::{Application, StartError};
use hotline::simulator::{self, CallOptions};
use hotline::storage::SHREDDED_NOTE;
use serde_json::json;

/// The numbers calls come from in this file, as the provider sends them, with the digit runs
/// that must appear nowhere: the whole number, the national part, the last seven digits.
const NUMBERS: [(&str, [&str; 3]); 3] = [
    ("+79163048271", ["79163048271", "9163048271", "3048271"]),
    ("+82 10-6924-5813", ["821069245813", "1069245813", "9245813"]),
    ("+380678152946", ["380678152946", "678152946", "8152946"]),
];

/// A whole simulated call from `from`, pressing `presses`.
async fn call_from(app: &TestApp, from: &str, presses: &str) -> String {
    let options = CallOptions {
        base_url: app.base_url.clone(),
        auth_token: Some(TOKEN.into()),
        from: from.into(),
        to: "+18005550100".into(),
        from_country: None,
        call_sid: Some(common::new_call_sid()),
        presses: Some(simulator::parse_presses(presses).unwrap()),
        queue_waits: 1,
        max_requests: 100,
    };
    let sid = options.call_sid.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        simulator::run(&options, &mut std::io::empty(), &mut Vec::new())
    })
    .await
    .unwrap()
    .expect("the call completes");
    sid
}

async fn case_of(app: &TestApp, sid: &str) -> CaseNumber {
    app.case(sid).await.number
}

/// Every value of every table, as text (blobs lossily), one string per value.
fn every_value(db: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut values = Vec::new();
    for table in tables {
        let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                use rusqlite::types::ValueRef;
                let text = match row.get_ref(i).unwrap() {
                    ValueRef::Null => continue,
                    ValueRef::Integer(n) => n.to_string(),
                    ValueRef::Real(x) => x.to_string(),
                    ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into(),
                };
                values.push((table.clone(), text));
            }
        }
    }
    values
}

/// The database file, its WAL and the journal beside it: the raw bytes an attacker copies.
fn raw_files(db: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for suffix in ["", "-wal", "-shm", ".journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        if let Ok(bytes) = std::fs::read(&path) {
            files.push((path, bytes));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_log_line_table_or_file_byte_holds_a_callers_number() {
    let logs = common::logs();
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sofia", Role::Supervisor, &["ru", "ko", "uk", "en"]).await;
    let (mut cases, mut sids) = (Vec::new(), Vec::new());
    for (from, _) in NUMBERS {
        // Russian voicemail; a handoff to the queue; the language menu timing out.
        for presses in ["1,1,2,2,1", "1,1,1,1", "_,_"] {
            let sid = call_from(&app, from, presses).await;
            cases.push(case_of(&app, &sid).await);
            sids.push(sid);
        }
    }
    // An operator's day: the case screen, a note, the search, the export, the blocklist.
    let first = cases[0].to_string();
    for (method, path, body) in [
        ("GET", format!("/api/cases/{first}"), None),
        ("POST", format!("/api/cases/{first}/notes"), Some(json!({ "text": "called back" }))),
        ("GET", "/api/cases?limit=50".into(), None),
        ("GET", "/api/cases.csv".into(), None),
        ("GET", "/api/queues".into(), None),
        ("POST", "/api/blocklist".into(), Some(json!({ "case": first, "reason": "threats" }))),
        ("GET", "/api/blocklist".into(), None),
        ("PUT", format!("/api/cases/{first}/hold"), Some(json!({ "hold": true }))),
    ] {
        let (status, answer) = api::api(&app, method, &path, Some(&supervisor), body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        for (_, digits) in NUMBERS {
            for run in digits {
                assert!(!answer.to_string().contains(run), "{path} answered {run}: {answer}");
            }
        }
    }
    // The blocked caller calls again and is told goodbye.
    let sid = call_from(&app, NUMBERS[0].0, "1").await;
    assert!(app.case(&sid).await.events.iter().any(|e| matches!(e.event, Event::Blocked { .. })));
    // A webhook sent with GET has the number in its query; the query is never logged.
    for (from, _) in NUMBERS {
        let from: String = form_urlencoded::byte_serialize(from.as_bytes()).collect();
        let get = format!("/voice/incoming?CallSid={}&From={from}", common::new_call_sid());
        assert_eq!(api::api(&app, "GET", &get, None, None).await.0, 405);
    }
    let db = app.db_path.clone();
    let dir = app.stop().await;

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let lines = logs.lines().count();
    assert!(lines > 100, "the capture saw the calls: {lines} lines");
    assert!(sids.iter().all(|sid| logs.contains(sid.as_str())), "every call is in the logs");
    let values = every_value(&db);
    assert!(values.len() > 500, "the scan saw the tables: {} values", values.len());
    let files = raw_files(&db);
    // Nor is a header: the supervisor's bearer token was sent with every API request.
    assert!(!logs.contains(&supervisor), "a log line holds a bearer token");
    for (_, digits) in NUMBERS {
        for run in digits {
            let line = logs.lines().find(|line| line.contains(run));
            assert_eq!(line, None, "a log line holds {run}");
            let value = values.iter().find(|(_, value)| value.contains(run));
            assert_eq!(value, None, "a table holds {run}");
            for (path, bytes) in &files {
                assert!(!contains(bytes, run), "{} holds {run}", path.display());
            }
        }
    }
    println!(
        "scanned {lines} log lines, {} stored values, {} files ({} bytes): no caller digits",
        values.len(),
        files.len(),
        files.iter().map(|(_, b)| b.len()).sum::<usize>()
    );
    drop(dir);
}

/// Moves a case's call `days` into the past, as if it had been taken then.
fn age(db: &Path, case: CaseNumber, days: i64) {
    let then =
        (Utc::now() - Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "UPDATE cases SET started_at = ?1, ended_at = ?1 WHERE number_year = ?2 AND number_seq = ?3",
        rusqlite::params![then, case.year, case.sequence],
    )
    .unwrap();
}

fn hotline(dir: &Path, db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.current_dir(dir).env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("HOTLINE_") {
            cmd.env_remove(name);
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    cmd.env("HOTLINE_DATABASE_PATH", db).env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"));
    // The test server's callback key, which wraps its data keys, as an operator's shell has it.
    cmd.env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY);
    cmd
}

fn run(cmd: &mut Command) -> (bool, String) {
    let output = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn a_purge_shreds_old_personal_data_down_to_the_files_bytes() {
    common::logs();
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sofia", Role::Supervisor, &["ru"]).await;
    let old = call_from(&app, NUMBERS[1].0, "1,1,2,2,1").await;
    let held = call_from(&app, NUMBERS[2].0, "1,1,2,2,1").await;
    let recent = call_from(&app, NUMBERS[2].0, "1,1,2,2,1").await;
    let (old_case, held_case) = (app.case(&old).await, app.case(&held).await);
    let old_url = old_case.recording_url.clone().expect("a voicemail");
    let old_hash = old_case.caller.clone().expect("a caller hash").0;
    for (case, text) in
        [(old_case.number, "OLDNOTE met at the bridge"), (held_case.number, "HELDNOTE")]
    {
        let path = format!("/api/cases/{}/notes", case);
        let (status, _) =
            api::api(&app, "POST", &path, Some(&supervisor), Some(json!({ "text": text }))).await;
        assert_eq!(status, 201);
    }
    let hold = format!("/api/cases/{}/hold", held_case.number);
    let (status, answer) = api::api(&app, "GET", &hold, Some(&supervisor), None).await;
    assert_eq!((status, &answer["legal_hold"]), (200, &json!(false)), "{answer}");
    let (status, answer) =
        api::api(&app, "PUT", &hold, Some(&supervisor), Some(json!({ "hold": true }))).await;
    assert_eq!((status, &answer["changed"]), (200, &json!(true)), "{answer}");
    let (_, answer) = api::api(&app, "GET", &hold, Some(&supervisor), None).await;
    assert_eq!(answer["legal_hold"], json!(true), "{answer}");
    api::assert_matrix(&app, "GET", &hold, None, api::Allowed::Supervisor).await;
    let unknown = "/api/cases/2026-999999/hold";
    assert_eq!(api::api(&app, "GET", unknown, Some(&supervisor), None).await.0, 404);
    let hostile = "/api/cases/2026-00004%27%20OR%201=1/hold";
    assert_eq!(api::api(&app, "GET", hostile, Some(&supervisor), None).await.0, 400);
    // Hostile and wrong bodies are refused with a reason; an operator may not hold.
    for body in [json!({}), json!({ "hold": "yes" }), json!({ "hold": true, "x": 1 })] {
        let (status, _) = api::api(&app, "PUT", &hold, Some(&supervisor), Some(body)).await;
        assert_eq!(status, 400);
    }
    let huge = vec![b'['; 1 << 20];
    let (status, _) =
        api::raw(&app, "PUT", &hold, Some(&supervisor), Some(huge), "application/json").await;
    assert!(status == 400 || status == 413, "{status}");
    let (status, _) = api::api(
        &app,
        "PUT",
        "/api/cases/2026-999999/hold",
        Some(&supervisor),
        Some(json!({ "hold": true })),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api::api(
        &app,
        "PUT",
        "/api/cases/../hold",
        Some(&supervisor),
        Some(json!({ "hold": true })),
    )
    .await;
    assert!(status == 400 || status == 404, "{status}");
    api::assert_matrix(&app, "PUT", &hold, Some(json!({ "hold": true })), api::Allowed::Supervisor)
        .await;
    for case in [old_case.number, held_case.number] {
        age(&app.db_path, case, 400);
    }

    // The command line, against the running server's database. Without the callback key the
    // tools list what they can, but refuse to show or shred sealed text, changing nothing.
    let work = tempfile::tempdir().unwrap();
    let keyless = |args: &[&str]| {
        let mut cmd = hotline(work.path(), &app.db_path);
        run(cmd.env_remove("HOTLINE_CALLBACK_KEY").args(args))
    };
    let (ok, text) = keyless(&["cases"]);
    assert!(ok && text.contains(&old_case.number.to_string()), "{text}");
    for args in [&["purge"][..], &["case", &old_case.number.to_string()]] {
        let (ok, text) = keyless(args);
        assert!(!ok && text.contains("HOTLINE_CALLBACK_KEY"), "{args:?}: {text}");
    }
    let (ok, text) = run(hotline(work.path(), &app.db_path).args(["purge", "--dry-run"]));
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "would shred: 1 recording URL(s), 1 note(s), 0 chat message(s), 1 caller hash(es)"
        ),
        "{text}"
    );
    assert!(text.contains("1 case(s) under legal hold kept"), "{text}");
    let (_, detail) =
        api::api(&app, "GET", &format!("/api/cases/{}", old_case.number), Some(&supervisor), None)
            .await;
    assert!(detail.to_string().contains("OLDNOTE"), "a dry run shreds nothing: {detail}");
    for (path, bytes) in raw_files(&app.db_path) {
        assert!(!contains(&bytes, "OLDNOTE"), "{} holds a note in the clear", path.display());
    }
    let (ok, text) = run(hotline(work.path(), &app.db_path).arg("purge"));
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "shredded: 1 recording URL(s), 1 note(s), 0 chat message(s), 1 caller hash(es)"
        ),
        "{text}"
    );
    let (ok, text) = run(hotline(work.path(), &app.db_path).args(["hold", "2026-0x"]));
    assert!(!ok && text.contains("hotline hold"), "{text}");

    // What a supervisor sees: the statistics stay, the personal data is gone.
    let (_, detail) =
        api::api(&app, "GET", &format!("/api/cases/{}", old_case.number), Some(&supervisor), None)
            .await;
    assert_eq!(detail["voicemail_url"], json!(null), "{detail}");
    assert!(detail.to_string().contains(SHREDDED_NOTE), "{detail}");
    assert!(detail.to_string().contains("voicemail"), "the outcome stays: {detail}");
    let kept = app.case(&held).await;
    assert!(kept.recording_url.is_some() && kept.caller.is_some());
    let held_hash = kept.caller.clone().unwrap().0;
    let fresh = app.case(&recent).await;
    assert!(fresh.recording_url.is_some() && fresh.caller.is_some());
    let db = app.db_path.clone();
    let dir = app.stop().await;

    let recording_sid = old_url.rsplit('/').next().unwrap().to_owned();
    let files = raw_files(&db);
    for (path, bytes) in &files {
        for gone in [recording_sid.as_str(), old_hash.as_str(), "OLDNOTE"] {
            assert!(!contains(bytes, gone), "{} still holds {gone}", path.display());
        }
    }
    // The scan can see: the held case's caller hash is in the file (its note is too, sealed).
    assert!(files.iter().any(|(_, bytes)| contains(bytes, &held_hash)));
    assert!(files.iter().all(|(_, bytes)| !contains(bytes, "HELDNOTE")));
    let audit = every_value(&db).into_iter().filter(|(table, _)| table == "audit_log");
    for (_, value) in audit {
        assert!(!value.contains(&recording_sid) && !value.contains(&old_hash), "{value}");
    }
    drop(dir);
}

fn config_in(dir: &Path) -> Config {
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = dir.join("hotline.db");
    config.scripts.dir = common::shipped_scripts();
    config
}

fn secrets(key: &str) -> Secrets {
    Secrets {
        auth_token: Secret::new(TOKEN.into()),
        caller_hash_key: Secret::new(key.into()),
        callback_key: Secret::new(common::CALLBACK_KEY.into()),
        telegram: None,
        provider_api_secret: None,
    }
}

/// Starts a server on the database in `dir` with this caller-hash key (or chain).
async fn start_with_key(dir: &Path, key: &str) -> TestApp {
    common::start_with_secrets(config_in(dir), tempfile::tempdir().unwrap(), secrets(key)).await
}

#[tokio::test]
async fn a_rotated_key_keeps_repeat_callers_and_the_blocklist() {
    common::logs();
    let dir = tempfile::tempdir().unwrap();
    let old_key = "old-caller-hash-key-0123456789";
    let app = start_with_key(dir.path(), old_key).await;
    let (_, supervisor) = person(&app, "sofia", Role::Supervisor, &["ru"]).await;
    let first = app.case(&call_from(&app, NUMBERS[0].0, "1,1,2,2,1").await).await;
    let other = app.case(&call_from(&app, NUMBERS[1].0, "1,1,2,2,1").await).await;
    let body = json!({ "case": first.number.to_string(), "reason": "hostile" });
    assert_eq!(
        api::api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(body)).await.0,
        201
    );
    drop(app.stop().await);

    let work = tempfile::tempdir().unwrap();
    let new_key = work.path().join("new-key");
    let chain = work.path().join("chain");
    let db = dir.path().join("hotline.db");
    let rotate = |key_file: &Path, chain_out: &Path, current: &str| {
        let mut cmd = hotline(work.path(), &db);
        cmd.env("HOTLINE_CALLER_HASH_KEY", current).args(["keys", "rotate-caller-hash"]);
        cmd.arg("--new-key-file").arg(key_file).arg("--chain-out").arg(chain_out);
        run(&mut cmd)
    };
    // Wrong, empty, short and hostile new keys change nothing.
    for (content, expected) in [
        ("", "shorter than 16"),
        ("short", "shorter than 16"),
        ("a-new-key-0123456789\nsecond-line-0123456", "exactly one key"),
        (old_key, "already in the chain"),
    ] {
        std::fs::write(&new_key, content).unwrap();
        let (ok, text) = rotate(&new_key, &chain, old_key);
        assert!(!ok && text.contains(expected), "{content:?}: {text}");
        assert!(!chain.exists());
    }
    let (ok, text) = rotate(&work.path().join("missing"), &chain, old_key);
    assert!(!ok && text.contains("missing"), "{text}");
    std::fs::write(&new_key, "new-caller-hash-key-9876543210\n").unwrap();
    let (ok, text) = rotate(&new_key, &chain, "not-the-key-of-this-database");
    assert!(!ok && text.contains("not the one"), "{text}");
    assert!(!chain.exists(), "a refused rotation leaves no chain file");
    let (ok, text) = rotate(&new_key, &chain, old_key);
    assert!(ok, "{text}");
    assert!(text.contains("wrapped 3 caller hash(es)"), "two cases and a blocklist entry: {text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&chain).unwrap().permissions().mode() & 0o777, 0o600);
    let (ok, text) = rotate(&new_key, &work.path().join("chain2"), old_key);
    assert!(!ok, "the old key alone no longer matches: {text}");

    // The old key alone is refused at start; the chain works.
    let refused = Application::build(&config_in(dir.path()), secrets(old_key)).await;
    let refused = refused.err().expect("the old key is refused");
    assert!(
        matches!(refused, StartError::App(OpenError::CallerHashKey { given: 1, stored: 2 })),
        "{refused}"
    );
    assert!(refused.to_string().contains("rotate-caller-hash"), "{refused}");
    let chain_text = std::fs::read_to_string(&chain).unwrap();
    let app = start_with_key(dir.path(), &chain_text).await;
    let again = app.case(&call_from(&app, NUMBERS[0].0, "1").await).await;
    assert!(again.events.iter().any(|e| matches!(e.event, Event::Blocked { .. })), "still blocked");
    let unblocked = app.case(&call_from(&app, NUMBERS[1].0, "1,1,2,2,1").await).await;
    let work_of = app.storage.case_work(unblocked.number).await.unwrap().unwrap();
    assert_eq!(work_of.repeat_cases, vec![other.number], "the repeat caller is recognised");
    drop(app.stop().await);
}
