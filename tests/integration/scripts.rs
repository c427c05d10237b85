//! Supervisors change the IVR: drafts, publishing, diffs, rollback, the folder watched, a call
//! in progress kept on its version, and test callers on the draft.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::api::{self, Allowed, assert_matrix, person};
use common::{TestApp, new_call_sid, said, spawn_app_with, text};
use hotline::domain::people::Role;
use serde_json::{Value, json};

/// A server on its own copy of the scripts, watching it every 50 ms; that folder, and what
/// holds it until the test ends.
async fn spawn() -> (TestApp, PathBuf, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::shipped_scripts_copy(scratch.path());
    let app = spawn_app_with(|config| {
        config.scripts.dir = dir.clone();
        config.scripts.watch_interval_ms = 50;
    })
    .await;
    (app, dir, scratch)
}

const MAIN_EN: &str = "If you are a serviceman and want to surrender, press 1.";

/// The shipped English script with its main menu's first sentence replaced.
fn english_with(sentence: &str) -> String {
    let text = std::fs::read_to_string(common::shipped_scripts().join("en.xml")).unwrap();
    assert!(text.contains(MAIN_EN));
    text.replace(MAIN_EN, sentence)
}

/// The parameters of a call from a British number, which goes straight to English.
fn call(sid: &str, from: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CallSid", sid.to_owned()),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef".into()),
        ("From", from.to_owned()),
        ("To", "+18005550100".into()),
        ("CallStatus", "in-progress".into()),
        ("FromCountry", "GB".into()),
    ]
}

fn params<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Starts a call from `from` and follows it to the English main menu; returns what the menu
/// says and the URL its keys go to.
async fn to_main_menu(app: &TestApp, from: &str) -> (Vec<String>, String) {
    let owned = call(&new_call_sid(), from);
    let welcome = app.post("/voice/incoming", &params(&owned)).await;
    let next = text(&welcome.body, "Redirect").expect("the welcome continues");
    let menu = app.post(&next, &params(&owned)).await;
    let action = common::attribute(&menu.body, "Gather", "action").expect("a menu");
    (said(&menu.body), action)
}

async fn wait_for(mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting");
}

async fn versions(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = api::api(app, "GET", "/api/scripts/versions", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["versions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_draft_is_published_diffed_and_rolled_back() {
    let (app, dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let first = versions(&app, &boss).await;
    assert_eq!(first.len(), 5, "the folder is imported at first start: {first:?}");
    let original_en = first.iter().find(|v| v["file"] == "en.xml").unwrap()["id"].as_i64().unwrap();

    let edited = english_with("Soldier, to surrender press 1.");
    let (status, saved) = api::api(
        &app,
        "PUT",
        "/api/scripts/drafts/en.xml",
        Some(&boss),
        Some(json!({ "text": edited })),
    )
    .await;
    assert_eq!((status, saved["valid"].as_bool()), (200, Some(true)), "{saved}");
    // Nobody hears a draft before it is published.
    assert!(!to_main_menu(&app, "+447700900001").await.0.concat().contains("Soldier"));

    let body = json!({ "comment": "shorter first option" });
    let (status, published) =
        api::api(&app, "POST", "/api/scripts/publish", Some(&boss), Some(body)).await;
    assert_eq!(status, 200, "{published}");
    let new_en = published["versions"][0]["id"].as_i64().unwrap();
    assert_eq!(published["versions"][0]["author"], "boss");
    assert!(to_main_menu(&app, "+447700900002").await.0.concat().contains("Soldier, to surrender"));
    // The folder mirrors what callers hear.
    assert_eq!(std::fs::read_to_string(dir.join("en.xml")).unwrap(), edited);

    let path = format!("/api/scripts/diff?from={original_en}&to={new_en}");
    let (status, diff) = api::api(&app, "GET", &path, Some(&boss), None).await;
    assert_eq!(status, 200, "{diff}");
    let diff = diff["diff"].as_str().unwrap();
    assert!(diff.contains(&format!("-    <say>{MAIN_EN}")), "{diff}");
    assert!(diff.contains("+    <say>Soldier, to surrender press 1."), "{diff}");
    assert!(diff.contains(&format!("en.xml version {new_en} (boss,")), "{diff}");

    let body = json!({ "version": original_en, "comment": "callers were confused" });
    let (status, rolled) =
        api::api(&app, "POST", "/api/scripts/rollback", Some(&boss), Some(body)).await;
    assert_eq!(status, 200, "{rolled}");
    assert!(to_main_menu(&app, "+447700900003").await.0.concat().contains(MAIN_EN));
    let history = versions(&app, &boss).await;
    assert_eq!(
        history[0]["comment"],
        format!("rollback to version {original_en}: callers were confused")
    );
    let (_, back) = api::api(
        &app,
        "GET",
        &format!("/api/scripts/diff?from={original_en}&to={}", history[0]["id"]),
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(back["diff"], "", "the rollback restores the text exactly");

    let filter = hotline::domain::audit::AuditFilter { limit: 100, ..Default::default() };
    let audit = app.storage.audit_log(filter).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|line| line.action.as_str()).collect();
    assert!(
        actions.contains(&"scripts.publish") && actions.contains(&"scripts.rollback"),
        "{actions:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_draft_is_refused_with_every_diagnostic() {
    let (app, _dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let broken = english_with("Press 1.").replace(r#"goto="surrender-group""#, r#"goto="nowhere""#);
    let body = json!({ "text": broken });
    let (status, saved) =
        api::api(&app, "PUT", "/api/scripts/drafts/en.xml", Some(&boss), Some(body)).await;
    assert_eq!((status, saved["valid"].as_bool()), (200, Some(false)), "{saved}");

    let (status, refused) =
        api::api(&app, "POST", "/api/scripts/publish", Some(&boss), Some(json!({}))).await;
    assert_eq!(status, 422, "{refused}");
    let diagnostics = refused["diagnostics"].as_array().unwrap();
    let error = diagnostics.iter().find(|d| d["severity"] == "error").expect("an error");
    assert_eq!(error["file"], "en.xml");
    assert!(error["line"].as_u64().unwrap() > 1 && error["column"].as_u64().unwrap() > 0);
    assert!(error["message"].as_str().unwrap().contains("nowhere"), "{error}");
    assert_eq!(versions(&app, &boss).await.len(), 5, "nothing was published");
    assert!(to_main_menu(&app, "+447700900004").await.0.concat().contains(MAIN_EN));
    app.stop().await;
}

#[tokio::test]
async fn a_folder_edit_goes_live_while_a_call_in_progress_keeps_its_version() {
    let (app, dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let (before, in_progress) = to_main_menu(&app, "+447700900005").await;
    assert!(before.concat().contains(MAIN_EN));

    std::fs::write(dir.join("en.xml"), english_with("Edited in the folder: press 1.")).unwrap();
    wait_for(async || versions(&app, &boss).await.len() == 6).await;
    let newest = &versions(&app, &boss).await[0];
    assert_eq!(
        (newest["author"].as_str(), newest["file"].as_str()),
        (Some("file"), Some("en.xml"))
    );
    assert!(to_main_menu(&app, "+447700900006").await.0.concat().contains("Edited in the folder"));

    // The call that heard the old menu goes on with it: star repeats the menu it is on.
    let owned = call("CA00000000000000000000000000000000", "+447700900005");
    let mut pressed = params(&owned);
    pressed.push(("Digits", "*"));
    let repeated = app.post(&in_progress, &pressed).await;
    let repeated = said(&repeated.body).concat();
    assert!(repeated.contains(MAIN_EN) && !repeated.contains("Edited"), "{repeated}");

    // An invalid edit is refused: the live version stays.
    std::fs::write(dir.join("en.xml"), "<script language=\"en\">").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(versions(&app, &boss).await.len(), 6);
    assert!(to_main_menu(&app, "+447700900007").await.0.concat().contains("Edited in the folder"));
    // So is a file that is not UTF-8 text.
    std::fs::write(dir.join("en.xml"), b"<script \xff\xfe>").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(versions(&app, &boss).await.len(), 6);
    assert!(to_main_menu(&app, "+447700900008").await.0.concat().contains("Edited in the folder"));
    app.stop().await;
}

#[tokio::test]
async fn a_test_caller_hears_the_draft_and_everyone_else_the_live_version() {
    let (app, _dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let body = json!({ "number": "+447700900123", "label": "Olena's phone" });
    let (status, answer) =
        api::api(&app, "POST", "/api/scripts/testers", Some(&boss), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["id"].as_i64().is_some(), "{answer}");
    let body = json!({ "text": english_with("Draft menu: press 1.") });
    let (status, _) =
        api::api(&app, "PUT", "/api/scripts/drafts/en.xml", Some(&boss), Some(body)).await;
    assert_eq!(status, 200);

    let (tester, tester_url) = to_main_menu(&app, "+447700900123").await;
    assert!(tester.concat().contains("Draft menu"), "{tester:?}");
    let (caller, _) = to_main_menu(&app, "+447700900124").await;
    assert!(caller.concat().contains(MAIN_EN) && !caller.concat().contains("Draft"));
    // The tester stays on the draft through the call.
    let owned = call("CA00000000000000000000000000000001", "+447700900123");
    let mut pressed = params(&owned);
    pressed.push(("Digits", "*"));
    assert!(said(&app.post(&tester_url, &pressed).await.body).concat().contains("Draft menu"));

    // The number itself is stored nowhere.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let dump: Vec<String> = conn
        .prepare("SELECT caller_hash || label FROM script_testers")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(dump.len(), 1);
    assert!(!dump[0].contains("7700900123"), "{dump:?}");
    app.stop().await;
}

#[tokio::test]
async fn only_supervisors_reach_the_scripts() {
    let (app, _dir, _scratch) = spawn().await;
    for (method, path, body) in [
        ("GET", "/api/scripts", None),
        ("GET", "/api/scripts/versions", None),
        ("GET", "/api/scripts/versions/1", None),
        ("GET", "/api/scripts/diff?from=1&to=2", None),
        ("GET", "/api/scripts/drafts/en.xml", None),
        ("PUT", "/api/scripts/drafts/en.xml", Some(json!({ "text": "<x/>" }))),
        ("DELETE", "/api/scripts/drafts/en.xml", None),
        ("POST", "/api/scripts/publish", Some(json!({}))),
        ("POST", "/api/scripts/rollback", Some(json!({ "version": 1 }))),
        ("POST", "/api/scripts/testers", Some(json!({ "number": "+447700900999" }))),
        ("GET", "/api/scripts/testers", None),
        ("DELETE", "/api/scripts/testers/1", None),
    ] {
        assert_matrix(&app, method, path, body, Allowed::Supervisor).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn hostile_input_is_refused_clearly_and_changes_nothing() {
    let (app, dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let put = |file: &str| format!("/api/scripts/drafts/{file}");
    // Names that are not script files, including ones that climb out of the folder.
    for file in ["..%2Fetc%2Fpasswd", "russian.xml", "EN.xml", "en.txt", "a%00.xml"] {
        let body = json!({ "text": "<x/>" });
        let (status, answer) = api::api(&app, "PUT", &put(file), Some(&boss), Some(body)).await;
        assert!([400, 404].contains(&status), "{file}: {status} {answer}");
    }
    // A script over 1 MiB.
    let huge = json!({ "text": "x".repeat(1024 * 1024 + 1) });
    let (status, answer) = api::api(&app, "PUT", &put("en.xml"), Some(&boss), Some(huge)).await;
    assert_eq!(status, 400, "{answer}");
    // A body far over the limit.
    let (status, _) = api::raw(
        &app,
        "PUT",
        &put("en.xml"),
        Some(&boss),
        Some(vec![b'a'; 8 << 20]),
        "application/json",
    )
    .await;
    assert!([0, 400, 413].contains(&status), "{status}");
    // Not JSON, and not UTF-8.
    let (status, _) = api::raw(
        &app,
        "PUT",
        &put("en.xml"),
        Some(&boss),
        Some(b"{\"text\": \"\xff\"}".to_vec()),
        "application/json",
    )
    .await;
    assert_eq!(status, 400);
    // An XML entity bomb is refused by the parser, so the draft cannot be published.
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><script language="en">&b;</script>"#;
    let (status, saved) =
        api::api(&app, "PUT", &put("en.xml"), Some(&boss), Some(json!({ "text": bomb }))).await;
    assert_eq!((status, saved["valid"].as_bool()), (200, Some(false)), "{saved}");
    let (status, _) =
        api::api(&app, "POST", "/api/scripts/publish", Some(&boss), Some(json!({}))).await;
    assert_eq!(status, 422);
    // Comments are one bounded line; versions are numbers that exist; numbers look like numbers.
    let (status, _) = api::api(
        &app,
        "POST",
        "/api/scripts/publish",
        Some(&boss),
        Some(json!({ "comment": "a\nb" })),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = api::api(
        &app,
        "POST",
        "/api/scripts/rollback",
        Some(&boss),
        Some(json!({ "version": 999_999 })),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api::api(&app, "GET", "/api/scripts/diff?from=1", Some(&boss), None).await;
    assert_eq!(status, 400);
    for number in
        ["", "12345", "+1 (555) abc", "+1234567890123456789", "anonymous", "+44/7700/900123"]
    {
        let body = json!({ "number": number, "label": "desk" });
        let (status, answer) =
            api::api(&app, "POST", "/api/scripts/testers", Some(&boss), Some(body)).await;
        assert_eq!(status, 400, "{number:?}");
        assert!(answer.to_string().contains("a number is + and 6 to 15 digits"), "{answer}");
    }
    // A label is required, one line, plain: the API's rule is the console's.
    let huge = "x".repeat(100_000);
    for (label, why) in [
        (json!(null), "may not be empty"),
        (json!("   "), "may not be empty"),
        (json!(huge), "at most 64 characters"),
        (json!("a\u{0}b"), "control or direction characters"),
        (json!("\u{202e}olleh"), "control or direction characters"),
    ] {
        let mut body = json!({ "number": "+447700900123" });
        if !label.is_null() {
            body["label"] = label.clone();
        }
        let (status, answer) =
            api::api(&app, "POST", "/api/scripts/testers", Some(&boss), Some(body)).await;
        assert_eq!(status, 400, "{label}: {answer}");
        assert!(answer.to_string().contains(why), "{label}: {answer}");
    }
    assert!(app.storage.tester_list().await.unwrap().is_empty());
    // Separators are taken out; the same number again keeps its id and takes the new label.
    let body = json!({ "number": "+44 7700 900-123", "label": " Olena " });
    let (status, first) =
        api::api(&app, "POST", "/api/scripts/testers", Some(&boss), Some(body)).await;
    assert_eq!(status, 200, "{first}");
    let body = json!({ "number": "+447700900123", "label": "Olena's desk" });
    let (status, again) =
        api::api(&app, "POST", "/api/scripts/testers", Some(&boss), Some(body)).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]), "{again}");
    let testers = app.storage.tester_list().await.unwrap();
    assert_eq!(testers.len(), 1);
    assert_eq!(testers[0].label, "Olena's desk");
    assert_eq!(versions(&app, &boss).await.len(), 5);
    assert!(std::fs::read_to_string(dir.join("en.xml")).unwrap().contains(MAIN_EN));
    app.stop().await;
}

/// `hotline` run in `dir`, which holds `data/hotline.db` and `ivr-scripts/` (the defaults).
fn hotline(dir: &Path, args: &[String], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write as _;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"));
    // `call …` and `graph …` are commands of their own; everything else here is `scripts …`.
    let own = args.first().is_some_and(|a| a == "call" || a == "graph");
    let scripts = if own { None } else { Some("scripts") };
    command.current_dir(dir).args(scripts).args(args).env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("HOTLINE_") {
            command.env_remove(name);
        }
    }
    // The test servers' callback key, which wraps their data keys.
    command.env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(stdin) = stdin {
        input.write_all(stdin.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), out, err)
}

/// A server whose database and scripts are where the command line looks by default.
async fn spawn_in(scratch: &Path) -> TestApp {
    let dir = scratch.join("ivr-scripts");
    if !dir.exists() {
        common::shipped_scripts_copy(scratch);
    }
    spawn_app_with(|config| {
        config.scripts.dir = dir;
        config.database.path = scratch.join("data/hotline.db");
        config.scripts.watch_interval_ms = 50;
        // These tests start many calls from one number and leave them unfinished to see
        // which version each one hears; the flood limit on calls in progress per number
        // would turn the third away (it has tests of its own, in tests/flood.rs).
        config.webhooks.calls_per_caller = 1000;
    })
    .await
}

#[tokio::test]
async fn the_command_line_drafts_publishes_diffs_and_rolls_back_under_a_running_server() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let app = spawn_in(&root).await;
    std::fs::write(root.join("new-en.xml"), english_with("From the shell: press 1.")).unwrap();

    let run = |args: &[&str], stdin: Option<String>| {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        let root = root.clone();
        tokio::task::spawn_blocking(move || hotline(&root, &args, stdin.as_deref()))
    };
    let (code, out, err) = run(&["draft", "en.xml", "--from", "new-en.xml"], None).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("draft of en.xml saved") && err.contains("the drafts are valid"), "{err}");
    let (code, out, err) = run(&["publish", "-m", "from the shell"], None).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("en.xml") && out.contains("cli") && out.contains("from the shell"),
        "{out}"
    );
    // The running server takes the new version up without a restart.
    wait_for(async || {
        to_main_menu(&app, "+447700900010").await.0.concat().contains("From the shell")
    })
    .await;

    let (code, out, _) = run(&["versions", "--file", "en.xml"], None).await.unwrap();
    assert_eq!(code, 0);
    // Under the header row, newest first.
    assert!(out.starts_with("id "), "{out}");
    let ids: Vec<String> = out
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{out}");
    let (code, diff, _) = run(&["diff", &ids[1], &ids[0]], None).await.unwrap();
    assert_eq!(code, 0);
    assert!(
        diff.contains(&format!("-    <say>{MAIN_EN}")) && diff.contains("+    <say>From the shell"),
        "{diff}"
    );

    let (code, out, err) = run(&["rollback", &ids[1], "-m", "undo"], None).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    wait_for(async || to_main_menu(&app, "+447700900011").await.0.concat().contains(MAIN_EN)).await;

    // An invalid draft is saved but refused at publishing, with file, line and column.
    let broken = english_with("x").replace(r#"goto="relative""#, r#"goto="nobody""#);
    let (code, _, err) = run(&["draft", "en.xml"], Some(broken)).await.unwrap();
    assert_eq!(code, 1, "{err}");
    // The line named is the draft's: the folder's en.xml has no such problem.
    let named = err.lines().find(|line| line.contains("nobody")).unwrap_or_default();
    assert!(named.starts_with("draft of en.xml:") && named.contains(": error: "), "{err}");
    let (code, out, err) = run(&["drafts"], None).await.unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.lines().any(|line| line.starts_with("draft of en.xml:")), "{err}");
    // Standard output is the table alone, for a program or a person to read.
    assert!(out.starts_with("file ") && out.lines().count() == 2, "{out}");
    let (code, _, err) = run(&["publish"], None).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("en.xml:") && err.contains("error") && err.contains("nobody"), "{err}");
    let (code, _, _) = run(&["discard", "en.xml"], None).await.unwrap();
    assert_eq!(code, 0);

    // Wrong arguments: a file that is not a script, a version that does not exist, no UTF-8.
    let (code, _, err) = run(&["draft", "../passwd"], Some("x".into())).await.unwrap();
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(&["show", "999999"], None).await.unwrap();
    assert_eq!(code, 1);
    std::fs::write(root.join("latin1.xml"), b"<script \xe9>").unwrap();
    let (code, _, err) = run(&["draft", "en.xml", "--from", "latin1.xml"], None).await.unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("UTF-8"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn at_start_a_folder_edit_is_published_and_a_stale_file_is_rewritten_with_a_backup() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let dir = root.join("ivr-scripts");
    let app = spawn_in(&root).await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let _ = app.stop().await;

    // Edited while the server was stopped: published at start, author "file".
    std::fs::write(dir.join("en.xml"), english_with("Edited offline: press 1.")).unwrap();
    let app = spawn_in(&root).await;
    assert!(to_main_menu(&app, "+447700900020").await.0.concat().contains("Edited offline"));
    let newest = &versions(&app, &boss).await[0];
    assert_eq!(newest["author"], "file");
    assert!(newest["comment"].as_str().unwrap().contains("while the server was stopped"));
    let _ = app.stop().await;

    // Older than the newest version (say, restored from a backup with its old time): the
    // database wins, and the file's text is kept beside it.
    let old = english_with("Stale text: press 1.");
    std::fs::write(dir.join("en.xml"), &old).unwrap();
    let past = std::time::SystemTime::now() - Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(dir.join("en.xml"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    let app = spawn_in(&root).await;
    assert!(to_main_menu(&app, "+447700900021").await.0.concat().contains("Edited offline"));
    assert!(std::fs::read_to_string(dir.join("en.xml")).unwrap().contains("Edited offline"));
    let backups: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("en.xml.") && name.ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read_to_string(dir.join(&backups[0])).unwrap(), old);
    app.stop().await;
}

#[tokio::test]
async fn every_shipped_language_is_drawn_with_every_node() {
    let (app, _dir, _scratch) = spawn().await;
    let (_, anna) = person(&app, "anna", Role::Operator, &["ru"]).await;
    let loaded = hotline::scripts::load_dir(&common::shipped_scripts()).unwrap();
    assert_eq!(loaded.set.scripts.len(), 4);
    for (language, script) in &loaded.set.scripts {
        let svg = get_text(&app, &format!("/api/scripts/graph/{language}"), &anna).await;
        let document = roxmltree::Document::parse(&svg).expect("the SVG is XML");
        assert_eq!(document.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> = document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        let dot = get_text(&app, &format!("/api/scripts/graph/{language}?format=dot"), &anna).await;
        let mermaid =
            get_text(&app, &format!("/api/scripts/graph/{language}?format=mermaid"), &anna).await;
        assert!(dot.starts_with("digraph") && mermaid.starts_with("flowchart TD"));
        for id in script.nodes.keys() {
            assert!(texts.contains(&id.as_str()), "{language}: {id} not drawn");
            assert!(dot.contains(&format!("\"{id}\" [label=")), "{language}: {id} not in DOT");
            assert!(mermaid.contains(&format!("[\"{id}: ")), "{language}: {id} not in Mermaid");
        }
    }
    for (path, status) in [
        ("/api/scripts/graph/xx", 404),
        ("/api/scripts/graph/..%2F..", 404),
        ("/api/scripts/graph/ru?format=png", 400),
        ("/api/scripts/graph/ru?format=svg&x=1", 400),
    ] {
        assert_eq!(api::api(&app, "GET", path, Some(&anna), None).await.0, status, "{path}");
    }
    assert_matrix(&app, "GET", "/api/scripts/graph/ru", None, Allowed::Both).await;
    app.stop().await;
}

/// The body of a GET that answers text rather than JSON.
async fn get_text(app: &TestApp, path: &str, token: &str) -> String {
    let (status, body) = api::api(app, "GET", path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body.as_str().expect("a text answer").to_owned()
}

#[tokio::test]
async fn the_report_finds_what_one_language_has_and_the_others_lack() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let dir = common::shipped_scripts_copy(&root);
    let shipped = || {
        let root = root.clone();
        tokio::task::spawn_blocking(move || hotline(&root, &["report".to_owned()], None))
    };
    let (code, out, err) = shipped().await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("every language has the same nodes, options and tags"), "{out}");
    assert!(out.contains("uk: 34 prompts, 34 recording(s) missing"), "{out}");

    // English gets a node, an option and a tag the others do not have.
    let english = std::fs::read_to_string(dir.join("en.xml")).unwrap();
    let anchor =
        r#"<option key="9" goto="@language" label="change language" text="Another language"/>"#;
    let english = english
        .replacen(
            anchor,
            &format!(
                r#"<option key="4" goto="extra" tag="intent=extra" label="extra"/>{anchor}"#
            ),
            1,
        )
        .replace(
            "</script>",
            r#"<message id="extra" next="main"><say>Something only English callers hear.</say></message></script>"#,
        );
    std::fs::write(dir.join("en.xml"), english).unwrap();
    let (code, out, err) = shipped().await.unwrap();
    assert_eq!(code, 1, "{out}{err}");
    for missing in [
        "missing in ko, ru, uk: node extra",
        "missing in ko, ru, uk: option 4 of menu main (to extra)",
        "missing in ko, ru, uk: tag intent=extra",
    ] {
        assert!(out.contains(missing), "{missing}:\n{out}");
    }
    assert!(out.contains("en: 35 prompts"), "{out}");
}

#[tokio::test]
async fn a_translation_goes_out_as_csv_and_comes_back_as_a_draft() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let app = spawn_in(&root).await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ko"]).await;
    let run = |args: &[&str]| {
        let root = root.clone();
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        tokio::task::spawn_blocking(move || hotline(&root, &args, None))
    };
    let (code, csv, err) = run(&["export", "ko"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    // For a spreadsheet: the UTF-8 mark first, CRLF line ends.
    assert!(csv.starts_with("\u{feff}node,key,reference,text\r\n"), "{csv}");
    assert!(csv.contains("main,say.1,\"If you are a serviceman"), "{csv}");

    // Unchanged, it comes back as nothing to change.
    std::fs::write(root.join("ko.csv"), &csv).unwrap();
    let (code, out, err) = run(&["import", "ko", "--from", "ko.csv"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no text changed: nothing was saved"), "{out}");
    assert!(app.storage.drafts().await.unwrap().is_empty(), "a draft saved for nothing");

    // One text changed: a draft with exactly that change, which publishes like any other.
    let welcome = csv.lines().find(|line| line.starts_with("welcome,say.1,")).unwrap();
    let korean = welcome.rsplit(',').next().unwrap().to_owned();
    let edited = csv.replacen(&korean, "새로운 환영 인사입니다.", 1);
    std::fs::write(root.join("ko.csv"), &edited).unwrap();
    let (code, out, err) = run(&["import", "ko", "--from", "ko.csv"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+") && out.contains("새로운 환영 인사입니다."), "{out}");
    assert!(err.contains("the drafts are valid"), "{err}");
    let (status, published) =
        api::api(&app, "POST", "/api/scripts/publish", Some(&boss), Some(json!({}))).await;
    assert_eq!(status, 200, "{published}");
    let (code, again, _) = run(&["export", "ko"]).await.unwrap();
    assert_eq!(code, 0);
    assert_eq!(again, edited, "export → import → export is lossless");

    // A CSV that names a text the script does not have is refused, and saves nothing.
    std::fs::write(root.join("bad.csv"), "node,key,reference,text\nnowhere,say.1,,x\n").unwrap();
    let (code, _, err) = run(&["import", "ko", "--from", "bad.csv"]).await.unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn a_translation_starts_from_the_pending_draft_and_never_replaces_anothers_unasked() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let app = spawn_in(&root).await;
    let (_, anna) = person(&app, "anna", Role::Supervisor, &["ko"]).await;
    let run = |args: &[&str]| {
        let root = root.clone();
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        tokio::task::spawn_blocking(move || hotline(&root, &args, None))
    };
    // anna saves a draft of ko.xml with a welcome of her own.
    let (_, live_csv, _) = run(&["export", "ko"]).await.unwrap();
    let welcome = live_csv.lines().find(|line| line.starts_with("welcome,say.1,")).unwrap();
    let live_welcome = welcome.rsplit(',').next().unwrap().to_owned();
    let ko = std::fs::read_to_string(root.join("ivr-scripts/ko.xml")).unwrap();
    assert!(ko.contains(&live_welcome), "{live_welcome}");
    let hers = ko.replacen(&live_welcome, "안나의 새 인사말입니다.", 1);
    let body = json!({ "text": hers });
    let (status, saved) =
        api::api(&app, "PUT", "/api/scripts/drafts/ko.xml", Some(&anna), Some(body)).await;
    assert_eq!(status, 200, "{saved}");
    let draft = || async { app.storage.drafts().await.unwrap().remove("ko.xml").unwrap() };
    let saved_at = draft().await.updated_at;

    // The export is made from her draft, and says so where the CSV does not go.
    let (code, csv, err) = run(&["export", "ko"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(csv.contains("안나의 새 인사말입니다.") && !csv.contains(&live_welcome), "{csv}");
    assert!(err.starts_with("exported the draft of ko.xml, saved by anna at "), "{err}");

    // Imported unchanged: nothing saved, her draft as it was.
    std::fs::write(root.join("ko.csv"), &csv).unwrap();
    let (code, out, err) = run(&["import", "ko", "--from", "ko.csv"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no text changed: nothing was saved"), "{out}");
    assert_eq!((draft().await.author, draft().await.updated_at), ("anna".into(), saved_at));

    // A change: applied to her draft, but not over her draft unless asked.
    let main = csv.lines().find(|line| line.starts_with("main,say.1,")).unwrap();
    let korean = main.rsplit(',').next().unwrap().to_owned();
    let edited = csv.replacen(&korean, "번역가의 새 메뉴입니다.", 1);
    std::fs::write(root.join("ko.csv"), &edited).unwrap();
    let (code, out, err) = run(&["import", "ko", "--from", "ko.csv"]).await.unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("ko.xml has a draft saved by anna at ")
            && err.contains("nothing was saved")
            && err.contains("--replace-draft"),
        "{err}"
    );
    assert_eq!(draft().await.text, hers, "her draft was changed");
    // The Ukrainian recordings not made yet, as on a new line: a line for them, not one each.
    std::fs::remove_dir_all(root.join("ivr-scripts/audio/uk")).unwrap();
    let (code, out, err) =
        run(&["import", "ko", "--from", "ko.csv", "--replace-draft"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ko.xml (draft before)") && out.contains("+"), "{out}");
    let replaced = draft().await;
    assert_eq!(replaced.author, "cli");
    assert!(
        replaced.text.contains("안나의 새 인사말입니다.")
            && replaced.text.contains("번역가의 새 메뉴입니다."),
        "her edit and the translation are both in the draft"
    );
    // Diagnostics go to standard error, the recordings not made yet a line per language.
    assert!(!out.contains("recording"), "{out}");
    let recordings: Vec<&str> = err.lines().filter(|line| line.contains("recording")).collect();
    let languages: std::collections::BTreeSet<&str> =
        recordings.iter().filter_map(|line| line.split(':').next()).collect();
    assert_eq!(recordings.len(), languages.len(), "{err}");
    assert_eq!(languages.into_iter().collect::<Vec<_>>(), ["uk"], "{err}");
    assert!(recordings[0].contains("recordings its prompts name are not made yet"), "{err}");
    assert!(err.ends_with("the drafts are valid\n"), "{err}");
    // With an error in the drafts too: the error in full, the recordings still one line.
    let broken = english_with("x").replace(r#"goto="relative""#, r#"goto="nobody""#);
    let (code, out, err) = tokio::task::spawn_blocking({
        let root = root.clone();
        move || hotline(&root, &["draft".into(), "en.xml".into()], Some(&broken))
    })
    .await
    .unwrap();
    assert_eq!((code, out.as_str()), (1, "draft of en.xml saved\n"), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("draft of en.xml:") && l.contains("nobody")),
        "{err}"
    );
    let recordings: Vec<&str> = err.lines().filter(|line| line.contains("recording")).collect();
    assert_eq!(recordings.len(), 1, "{err}");
    assert!(recordings[0].starts_with("uk: ") && recordings[0].contains("not made yet"), "{err}");
    assert!(err.ends_with("the drafts have errors: they cannot be published until fixed\n"));
    assert_eq!(app.storage.drafts().await.unwrap().len(), 2);
    let (code, _, err) = run(&["discard", "en.xml"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    // The draft is now the terminal's own: importing onto it again needs no flag.
    let (code, out, err) = run(&["import", "ko", "--from", "ko.csv"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no text changed"), "{out}");

    // The same flag, the same refusals: a language that does not exist, a hostile name.
    for language in ["xx", "../ko", "", "k\u{202e}o"] {
        let (code, out, err) = run(&["import", language, "--from", "ko.csv"]).await.unwrap();
        assert_ne!(code, 0, "{language:?}: {out}");
        assert!(!err.is_empty(), "{language:?}");
        let (code, _, _) = run(&["export", language]).await.unwrap();
        assert_ne!(code, 0, "{language:?}");
    }
    assert_eq!(draft().await.author, "cli");
    app.stop().await;
}

#[tokio::test]
async fn a_draft_can_be_called_from_the_terminal_without_touching_the_line() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let app = spawn_in(&root).await;
    let run = |args: &[&str], stdin: Option<String>| {
        let root = root.clone();
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        tokio::task::spawn_blocking(move || hotline(&root, &args, stdin.as_deref()))
    };
    let (code, out, _) =
        run(&["draft", "en.xml"], Some(english_with("Rehearsal text: press 1."))).await.unwrap();
    assert_eq!(code, 0, "{out}");

    let (code, out, err) = run(&["call", "--draft", "en", "--press", "_"], None).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Rehearsal text: press 1."), "{out}");
    let (code, out, err) = run(&["call", "--draft", "en", "--press", "_"], None).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    // The live line still says the old text, and the rehearsals left no case behind.
    assert!(to_main_menu(&app, "+447700900030").await.0.concat().contains(MAIN_EN));
    assert_eq!(app.storage.recent_cases(10).await.unwrap().len(), 1, "only the live call above");

    let (code, _, err) = run(&["call", "--draft", "xx"], None).await.unwrap();
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(&["call", "--draft", "../etc"], None).await.unwrap();
    assert_eq!(code, 2, "{err}");
    app.stop().await;
}

/// `hotline check DIR`: its exit code and what it printed.
fn check(dir: &Path) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("check")
        .arg(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), out)
}

/// The lines of `hotline check` that are warnings of `file` containing `words`, after the
/// shipped scripts in a fresh folder had `edit` applied to `file`.
fn warnings_after(file: &str, edit: impl FnOnce(String) -> String, words: &str) -> Vec<String> {
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::shipped_scripts_copy(scratch.path());
    let (code, out) = check(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(words), "the shipped scripts have no such warning:\n{out}");
    let path = dir.join(file);
    std::fs::write(&path, edit(std::fs::read_to_string(&path).unwrap())).unwrap();
    let (code, out) = check(&dir);
    assert_eq!(code, 0, "a warning blocks nothing:\n{out}");
    let prefix = format!("{}:", path.display());
    out.lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(": warning: ") && l.contains(words))
        .map(str::to_owned)
        .collect()
}

/// The line and column `hotline check` gives a warning, after the file's name.
fn place(warning: &str, file: &str) -> (u32, u32) {
    let rest = &warning[warning.find(file).unwrap() + file.len() + 1..];
    let mut parts = rest.split(':');
    let line = parts.next().unwrap().parse().unwrap();
    (line, parts.next().unwrap().parse().unwrap())
}

/// The 1-based line and column where `needle` starts in `text`.
fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let offset = text.find(needle).expect("the needle is in the text");
    let line = text[..offset].matches('\n').count() + 1;
    let column = text[..offset].rsplit('\n').next().unwrap().chars().count() + 1;
    (u32::try_from(line).unwrap(), u32::try_from(column).unwrap())
}

#[test]
fn check_warns_of_a_prompt_identical_to_another_languages() {
    let english = std::fs::read_to_string(common::shipped_scripts().join("en.xml")).unwrap();
    let said = |text: &str| {
        let start = text.find("<menu id=\"main\"").unwrap();
        let say = start + text[start..].find("<say>").unwrap();
        let end = say + text[say..].find("</say>").unwrap() + "</say>".len();
        text[say..end].to_owned()
    };
    let english_menu = said(&english);
    let mut edited = String::new();
    let warnings = warnings_after(
        "ko.xml",
        |korean| {
            edited = korean.replacen(&said(&korean), &english_menu, 1);
            edited.clone()
        },
        "word for word",
    );
    // Korean's main menu now reads like English's (English is warned in en.xml too).
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("node \"main\"") && warnings[0].contains("en's \"main\""));
    assert!(warnings[0].contains("probably not translated yet"), "{warnings:?}");
    let start = edited.find("<menu id=\"main\"").unwrap();
    let (line, _) = position_of(&edited, "<menu id=\"main\"");
    let (say_line, say_column) = position_of(&edited[start..], "<say>");
    assert_eq!(place(&warnings[0], "ko.xml"), (line + say_line - 1, say_column));
}

#[test]
fn check_warns_of_a_tag_only_one_language_sets() {
    let misspelt = r#"tag="intent=surender""#;
    let mut edited = String::new();
    let warnings = warnings_after(
        "ru.xml",
        |russian| {
            edited = russian.replacen(r#"tag="intent=surrender""#, misspelt, 1);
            edited.clone()
        },
        "intent=surender",
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("menu \"main\": option 1"), "{warnings:?}");
    assert!(warnings[0].contains("finds only ru callers"), "{warnings:?}");
    let line_start = edited[..edited.find(misspelt).unwrap()].rfind('\n').unwrap() + 1;
    let option = line_start + edited[line_start..].find("<option").unwrap();
    assert_eq!(place(&warnings[0], "ru.xml"), position_of(&edited, &edited[option..]));
}

#[test]
fn check_warns_of_a_menu_with_no_way_back() {
    let mut edited = String::new();
    let warnings = warnings_after(
        "uk.xml",
        |ukrainian| {
            let start = ukrainian.find("<menu id=\"relative\"").unwrap();
            let end = start + ukrainian[start..].find('>').unwrap();
            let tag = ukrainian[start..end].replace(" back=\"main\"", "");
            assert_ne!(tag, ukrainian[start..end], "the shipped menu has a way back");
            edited = format!("{}{tag}{}", &ukrainian[..start], &ukrainian[end..]);
            edited.clone()
        },
        "no way back",
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("menu \"relative\" has no way back"), "{warnings:?}");
    assert_eq!(place(&warnings[0], "uk.xml"), position_of(&edited, "<menu id=\"relative\""));
}

#[tokio::test]
async fn a_drafts_answer_and_a_publish_carry_the_warnings_without_being_refused() {
    let (app, _dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let edited = english_with("Press 1.").replacen(
        r#"tag="intent=surrender""#,
        r#"tag="intent=surender""#,
        1,
    );
    let body = json!({ "text": edited });
    let (status, saved) =
        api::api(&app, "PUT", "/api/scripts/drafts/en.xml", Some(&boss), Some(body)).await;
    assert_eq!((status, saved["valid"].as_bool()), (200, Some(true)), "{saved}");
    let warned = |answer: &Value, key: &str| {
        answer[key]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["message"].as_str().unwrap().contains("intent=surender"))
            .cloned()
    };
    let warning = warned(&saved, "diagnostics").expect("the draft's answer warns");
    assert_eq!(
        (warning["file"].as_str(), warning["severity"].as_str()),
        (Some("en.xml"), Some("warning"))
    );
    assert_eq!(
        (warning["line"].as_u64(), warning["column"].as_u64()),
        (
            Some(u64::from(position_of(&edited, "<option key=\"1\" goto=\"surrender-group\"").0)),
            Some(5)
        )
    );
    let (status, published) =
        api::api(&app, "POST", "/api/scripts/publish", Some(&boss), Some(json!({}))).await;
    assert_eq!(status, 200, "{published}");
    assert!(warned(&published, "warnings").is_some(), "{published}");
    app.stop().await;
}

#[tokio::test]
async fn test_callers_are_listed_without_their_number_and_removed_with_an_audit_line() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let app = spawn_in(&root).await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let mut ids = Vec::new();
    for (number, label) in [("+447700900123", "Olena's phone"), ("+447700900456", "desk phone")] {
        let body = json!({ "number": number, "label": label });
        let (status, answer) =
            api::api(&app, "POST", "/api/scripts/testers", Some(&boss), Some(body)).await;
        assert_eq!(status, 200, "{answer}");
        ids.push(answer["id"].as_i64().unwrap());
    }
    let body = json!({ "text": english_with("Draft menu: press 1.") });
    let (status, _) =
        api::api(&app, "PUT", "/api/scripts/drafts/en.xml", Some(&boss), Some(body)).await;
    assert_eq!(status, 200);
    assert!(to_main_menu(&app, "+447700900123").await.0.concat().contains("Draft menu"));

    let (status, listed) = api::api(&app, "GET", "/api/scripts/testers", Some(&boss), None).await;
    assert_eq!(status, 200, "{listed}");
    let testers = listed["testers"].as_array().unwrap();
    assert_eq!(testers.len(), 2, "{listed}");
    assert_eq!(testers[0]["id"].as_i64(), Some(ids[0]));
    assert_eq!(
        (testers[0]["label"].as_str(), testers[0]["added_by"].as_str()),
        (Some("Olena's phone"), Some("boss"))
    );
    assert!(testers[0]["added_at"].as_str().is_some(), "{listed}");
    let dump = listed.to_string();
    assert!(!dump.contains("7700900") && !dump.contains("hash"), "no number, no hash: {dump}");

    // Removed through the API: that number hears the live version again.
    let path = format!("/api/scripts/testers/{}", ids[0]);
    let (status, _) = api::api(&app, "DELETE", &path, Some(&boss), None).await;
    assert_eq!(status, 204);
    let (status, _) = api::api(&app, "DELETE", &path, Some(&boss), None).await;
    assert_eq!(status, 404, "removed once only");
    let (menu, _) = to_main_menu(&app, "+447700900123").await;
    assert!(menu.concat().contains(MAIN_EN) && !menu.concat().contains("Draft"), "{menu:?}");
    for bad in ["abc", "99999999999999999999999", "-1", "1.5", "%00"] {
        let path = format!("/api/scripts/testers/{bad}");
        let (status, answer) = api::api(&app, "DELETE", &path, Some(&boss), None).await;
        assert!([400, 404].contains(&status), "{bad}: {status} {answer}");
    }

    assert!(to_main_menu(&app, "+447700900456").await.0.concat().contains("Draft menu"));

    // The command line lists the other and removes it.
    let run = |args: &[&str]| {
        let root = root.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || hotline(&root, &args, None))
    };
    let (code, out, err) = run(&["testers"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    // A header row, then id, label, when added, by whom.
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|line| line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect();
    assert_eq!(rows[0], ["id", "label", "added", "added by"], "{out}");
    assert_eq!(
        (rows[1][0], rows[1][1], rows[1][3]),
        (ids[1].to_string().as_str(), "desk phone", "boss")
    );
    assert!(!out.contains("7700900"), "{out}");
    let (code, out, err) = run(&["remove-tester", &ids[1].to_string()]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(&["remove-tester", &ids[1].to_string()]).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no test caller"), "{err}");
    let (code, _, _) = run(&["remove-tester", "twelve"]).await.unwrap();
    assert_eq!(code, 2, "clap refuses a word");
    let (code, out, _) = run(&["testers"]).await.unwrap();
    assert_eq!((code, out.as_str()), (0, "no test callers\n"));
    // The running server takes the removal up within its watch interval (50 ms here): the
    // second number hears the live version. One call after a generous wait, since a number
    // calling in a loop would meet the line's flood limit.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (menu, _) = to_main_menu(&app, "+447700900456").await;
    assert!(menu.concat().contains(MAIN_EN) && !menu.concat().contains("Draft"), "{menu:?}");

    let audit = app
        .storage
        .audit_log(hotline::domain::audit::AuditFilter { limit: 100, ..Default::default() })
        .await
        .unwrap();
    let lines: Vec<String> = audit
        .iter()
        .filter(|r| r.action.starts_with("scripts.tester"))
        .map(|r| format!("{} {}", r.action, r.detail))
        .collect();
    assert_eq!(
        lines,
        [
            format!("scripts.tester-remove cli tester={} label=\"desk phone\"", ids[1]),
            format!("scripts.tester-remove tester={} label=\"Olena's phone\"", ids[0]),
            format!("scripts.tester-add tester={} label=\"desk phone\"", ids[1]),
            format!("scripts.tester-add tester={} label=\"Olena's phone\"", ids[0]),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_command_line_draws_the_live_version_as_the_api_does_and_the_folder_on_request() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let run = |args: &[&str]| {
        let root = root.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || hotline(&root, &args, None))
    };
    let (code, _, err) = run(&["graph", "en"]).await.unwrap();
    assert_eq!(code, 2, "no database yet: {err}");
    let app = spawn_in(&root).await;
    let (_, anna) = person(&app, "anna", Role::Operator, &["en"]).await;
    let from_api = get_text(&app, "/api/scripts/graph/en?format=dot", &anna).await;
    let (code, from_cli, err) = run(&["graph", "en", "--format", "dot"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(from_cli, from_api);
    app.stop().await;

    // An edit of the folder while no server runs is not live: the command line still draws
    // what callers hear, and the folder only when asked.
    let path = root.join("ivr-scripts/en.xml");
    let english = std::fs::read_to_string(&path).unwrap();
    let edited = english.replacen("This is a hotline", "Zebra crossing hotline", 1);
    assert_ne!(edited, english);
    std::fs::write(&path, edited).unwrap();
    let (code, live, _) = run(&["graph", "en", "--format", "dot"]).await.unwrap();
    assert_eq!((code, live.as_str()), (0, from_api.as_str()));
    let (code, folder, err) =
        run(&["graph", "en", "--format", "dot", "--dir", "ivr-scripts"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(folder.contains("Zebra") && !live.contains("Zebra"), "{folder}");
    for bad in [&["graph", "xx"][..], &["graph", "../en"], &["graph", ""]] {
        let (code, _, err) = run(bad).await.unwrap();
        assert_eq!(code, 1, "{bad:?}: {err}");
        assert!(err.contains("no script for"), "{err}");
    }
}

#[tokio::test]
async fn a_language_published_after_the_start_shows_in_the_queues_at_once() {
    let (app, _dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let languages = async || {
        let (status, queues) = api::api(&app, "GET", "/api/queues", Some(&boss), None).await;
        assert_eq!(status, 200, "{queues}");
        let mut found: Vec<String> = queues
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["language"].as_str().unwrap().to_owned())
            .collect();
        found.sort();
        found
    };
    assert_eq!(languages().await, ["en", "ko", "ru", "uk"]);

    let shipped = common::shipped_scripts();
    let german = std::fs::read_to_string(shipped.join("en.xml"))
        .unwrap()
        .replace(r#"<script language="en""#, r#"<script language="de""#);
    let menu = std::fs::read_to_string(shipped.join("languages.xml")).unwrap().replace(
        "</languages>",
        r#"<language code="de" key="5"><say>Für Deutsch drücken Sie 5.</say></language></languages>"#,
    );
    for (file, text) in [("de.xml", german), ("languages.xml", menu)] {
        let path = format!("/api/scripts/drafts/{file}");
        let (status, saved) =
            api::api(&app, "PUT", &path, Some(&boss), Some(json!({ "text": text }))).await;
        assert_eq!(status, 200, "{saved}");
    }
    let (status, published) =
        api::api(&app, "POST", "/api/scripts/publish", Some(&boss), Some(json!({}))).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(languages().await, ["de", "en", "ko", "ru", "uk"]);
    app.stop().await;
}

#[tokio::test]
async fn publishers_racing_on_one_database_publish_once_and_the_others_are_told() {
    use hotline::storage::{PUBLISHED_MEANWHILE, Publication, Storage, StorageError};
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::shipped_scripts_copy(scratch.path());
    let path = scratch.path().join("hotline.db");
    let open = || Storage::open(&path, common::storage_options());
    // The server's handle and, as `hotline scripts publish` has, handles of other processes.
    let handles = [open().await.unwrap(), open().await.unwrap(), open().await.unwrap()];
    hotline::app::scripts::versions::reconcile(&handles[0], &dir, chrono::Utc::now())
        .await
        .unwrap();
    let (head, texts) = handles[0].live_scripts().await.unwrap();

    // Each checked its own edit against the same live version, and all publish at once.
    let racers = (0..9).map(|n| {
        let storage = handles[n % handles.len()].clone();
        let en = texts["en.xml"].replace(MAIN_EN, &format!("Publisher {n}: press 1."));
        tokio::spawn(async move {
            let publication = Publication {
                files: [("en.xml".to_owned(), en)].into(),
                author: format!("publisher-{n}"),
                comment: String::new(),
                actor: None,
                action: Some(hotline::domain::audit::AuditAction::ScriptsPublish),
                clear_drafts: true,
                head,
                at: chrono::Utc::now(),
            };
            storage.publish_scripts(publication).await
        })
    });
    let mut won = Vec::new();
    for racer in racers.collect::<Vec<_>>() {
        match racer.await.unwrap() {
            Ok(versions) => won.push(versions),
            Err(StorageError::Conflict(message)) => assert_eq!(message, PUBLISHED_MEANWHILE),
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one publication over version {head}");
    let (newest, texts) = handles[1].live_scripts().await.unwrap();
    assert_eq!(newest, won[0][0].id);
    let author = &won[0][0].author;
    assert!(texts["en.xml"].contains(&author.replace("publisher-", "Publisher ")), "{author}");
    assert_eq!(handles[2].script_versions(None, 100).await.unwrap().len(), 6);

    // A publication checked against the version now live goes through.
    let publication = Publication {
        files: [("en.xml".to_owned(), texts["en.xml"].replace("press 1", "press one"))].into(),
        author: "next".into(),
        comment: String::new(),
        actor: None,
        action: None,
        clear_drafts: false,
        head: newest,
        at: chrono::Utc::now(),
    };
    handles[2].publish_scripts(publication).await.unwrap();
}

#[tokio::test]
async fn a_call_keeps_its_version_across_a_restart_after_a_publication() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().to_owned();
    let app = spawn_in(&root).await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let (before, in_progress) = to_main_menu(&app, "+447700900030").await;
    assert!(before.concat().contains(MAIN_EN));
    let started_on = in_progress.rsplit_once("v=").expect("a pinned URL").1.to_owned();

    let draft = json!({ "text": english_with("Published during the call: press 1.") });
    let path = "/api/scripts/drafts/en.xml";
    let (status, saved) = api::api(&app, "PUT", path, Some(&boss), Some(draft)).await;
    assert_eq!(status, 200, "{saved}");
    let body = json!({ "comment": "during a call" });
    let (status, published) =
        api::api(&app, "POST", "/api/scripts/publish", Some(&boss), Some(body)).await;
    assert_eq!(status, 200, "{published}");
    let _ = app.stop().await;

    // A restart: the new server holds only the live version in memory.
    let app = spawn_in(&root).await;
    assert!(to_main_menu(&app, "+447700900031").await.0.concat().contains("Published during"));
    // The call in progress presses star (repeat this menu): it hears the menu it started on,
    // and its next URLs still name that version.
    let owned = call("CA00000000000000000000000000000030", "+447700900030");
    let mut pressed = params(&owned);
    pressed.push(("Digits", "*"));
    let repeated = app.post(&in_progress, &pressed).await;
    let heard = said(&repeated.body).concat();
    assert!(heard.contains(MAIN_EN) && !heard.contains("Published during"), "{heard}");
    let next = common::attribute(&repeated.body, "Gather", "action").expect("the menu again");
    assert!(next.ends_with(&format!("v={started_on}")), "{next}");
    // A key of that menu takes the call on within the same version.
    let mut pressed = params(&owned);
    pressed.push(("Digits", "1"));
    let on = app.post(&next, &pressed).await;
    let redirect = common::attribute(&on.body, "Gather", "action")
        .or_else(|| text(&on.body, "Redirect"))
        .expect("the call goes on");
    assert!(redirect.ends_with(&format!("v={started_on}")), "{redirect}");
    app.stop().await;
}

#[tokio::test]
async fn a_draft_saved_again_while_it_is_published_is_kept() {
    use hotline::storage::{Publication, Storage};
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::shipped_scripts_copy(scratch.path());
    let storage =
        Storage::open(&scratch.path().join("hotline.db"), common::storage_options()).await.unwrap();
    hotline::app::scripts::versions::reconcile(&storage, &dir, chrono::Utc::now()).await.unwrap();
    let first = english_with("First draft: press 1.");
    storage
        .save_draft("en.xml".into(), "anna".into(), first.clone(), chrono::Utc::now())
        .await
        .unwrap();
    // A publisher reads the drafts; meanwhile their author saves the file again.
    let (head, _) = storage.live_scripts().await.unwrap();
    let second = english_with("Second draft: press 1.");
    storage
        .save_draft("en.xml".into(), "anna".into(), second.clone(), chrono::Utc::now())
        .await
        .unwrap();
    let publication = Publication {
        files: [("en.xml".to_owned(), first)].into(),
        author: "boris".into(),
        comment: String::new(),
        actor: None,
        action: Some(hotline::domain::audit::AuditAction::ScriptsPublish),
        clear_drafts: true,
        head,
        at: chrono::Utc::now(),
    };
    storage.publish_scripts(publication).await.unwrap();
    let drafts = storage.drafts().await.unwrap();
    assert_eq!(
        drafts.get("en.xml").map(|draft| &draft.text),
        Some(&second),
        "the newer work stays"
    );
}

#[tokio::test]
async fn a_folder_edit_read_before_a_rollback_rewrote_the_file_is_not_published() {
    // The watcher reads the folder before it holds the publications' lock; a rollback can
    // rewrite the file in between. The text it read is then no edit: publishing it would
    // undo the rollback.
    use hotline::app::scripts::versions::{self, Author, Change, FILE_AUTHOR, VersionError};
    use hotline::storage::Storage;
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::shipped_scripts_copy(scratch.path());
    let storage =
        Storage::open(&scratch.path().join("hotline.db"), common::storage_options()).await.unwrap();
    versions::reconcile(&storage, &dir, chrono::Utc::now()).await.unwrap();
    let before = storage.script_versions(None, 100).await.unwrap().len();
    let stale = english_with("Soldier, to surrender press 1.");
    let edits = [("en.xml".to_owned(), stale.clone())].into();
    let author = Author { name: FILE_AUTHOR.into(), id: None };
    let change = Change::Folder { edits, why: "edited in the folder" };
    let now = chrono::Utc::now();
    let stale_read = versions::publish(&storage, &dir, None, change, &author, "", now).await;
    assert!(matches!(stale_read, Err(VersionError::Unchanged)), "{stale_read:?}");
    assert_eq!(storage.script_versions(None, 100).await.unwrap().len(), before);

    // The same text, still in the folder, is an edit.
    std::fs::write(dir.join("en.xml"), &stale).unwrap();
    let edits = [("en.xml".to_owned(), stale)].into();
    let change = Change::Folder { edits, why: "edited in the folder" };
    let edit = versions::publish(&storage, &dir, None, change, &author, "", now).await;
    assert!(edit.is_ok(), "{:?}", edit.err());
    assert_eq!(storage.script_versions(None, 100).await.unwrap().len(), before + 1);
}

#[test]
fn check_warns_of_a_language_without_its_chat_words() {
    let warnings = warnings_after(
        "ko.xml",
        |korean| {
            let start = korean.find("  <chat ").unwrap();
            let end = korean.find("</chat>").unwrap() + "</chat>".len();
            format!("{}{}", &korean[..start], &korean[end..])
        },
        "no <chat>",
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("chats in ko will show English buttons"), "{warnings:?}");
}

#[test]
fn check_refuses_what_a_chat_cannot_carry_with_its_place() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::shipped_scripts_copy(scratch.path());
    let path = dir.join("en.xml");
    let english = std::fs::read_to_string(&path).unwrap();
    let button = r#"text="I want to surrender""#;
    let long_button = format!(r#"text="{}""#, "x".repeat(41));
    let second_text = "<text>How can we help you?</text>";
    let edited = english
        .replacen(button, &long_button, 1)
        .replacen(second_text, &format!("{second_text}<text>Again.</text>"), 1)
        .replacen(r#"var="unit""#, r#"var="Unit!""#, 1);
    std::fs::write(&path, &edited).unwrap();
    let (code, out) = check(&dir);
    assert_eq!(code, 1, "{out}");
    let error = |words: &str| {
        out.lines()
            .find(|l| l.contains(": error: ") && l.contains(words))
            .unwrap_or_else(|| panic!("no error with {words:?}:\n{out}"))
            .to_owned()
    };
    let button_error = error("41 characters long; a chat's button holds at most 40");
    assert_eq!(place(&button_error, "en.xml"), position_of(&edited, &long_button));
    let text_error = error("a second <text>");
    assert_eq!(place(&text_error, "en.xml"), position_of(&edited, "<text>Again."));
    error("var=\"Unit!\" is not a name for the answer");
    assert_eq!(out.lines().filter(|l| l.contains(": error: ")).count(), 3, "{out}");
}

#[tokio::test]
async fn the_consoles_checker_shows_a_chats_limits_too() {
    let (app, _dir, _scratch) = spawn().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["en"]).await;
    let huge = format!("<text>{}</text>", "w".repeat(5000));
    let broken = english_with("Press 1.")
        .replacen("<text>How can we help you?</text>", &huge, 1)
        .replacen(r#"text="Another language""#, r#"text="""#, 1);
    let body = json!({ "text": broken });
    let (status, saved) =
        api::api(&app, "PUT", "/api/scripts/drafts/en.xml", Some(&boss), Some(body)).await;
    assert_eq!((status, saved["valid"].as_bool()), (200, Some(false)), "{saved}");
    let messages: Vec<&str> = saved["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.contains("5000 characters long")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("option 9: text=\"\" is empty")), "{messages:?}");
    app.stop().await;
}
