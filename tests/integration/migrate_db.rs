//! `hotline migrate-db`: a database the hotline filled, moved to a real PostgreSQL (started
//! by `tests/postgres/cluster`) and back to a new SQLite file, compared table by table and row
//! by row here, independently of the command's own check, and opened by the hotline again; and
//! every refusal, which leaves the target as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::types::Value;
use serde_json::json;

use crate::common::api::{api, person};
use crate::common::binary::{hotline, printed};
use crate::common::chats::chat_app;
use crate::common::postgres::Postgres;
use crate::common::telegram::FakeBotApi;
use crate::common::{self, TestApp, attribute};
use hotline::domain::people::Role;
use hotline::storage::{DATA_KEYS_FILE, Storage};

/// The note written on the case: it must come back, and be stored sealed on both engines.
pub(crate) const NOTE: &str =
    "Позвонил снова: 3 человека, ждут у моста. <b>'; DROP TABLE cases; --";

/// The person's Telegram chat id.
const CHAT: i64 = 5_550_123_987;

/// `hotline migrate-db --from FROM --to TO`, run in `dir`.
pub(crate) fn migrate(dir: &Path, from: &str, to: &str) -> Output {
    hotline(dir).args(["migrate-db", "--from", from, "--to", to]).output().unwrap()
}

pub(crate) fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// How many tables schema public holds (the version table included).
fn pg_tables(pg: &Postgres, uri: &str) -> String {
    let output = pg.psql(uri, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[]);
    assert!(output.status.success(), "{}", printed(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The tables whose hidden rowid is a value the hotline shows (a test caller's number): a copy
/// keeps it. Elsewhere a hidden rowid is only where SQLite put the row, and a copy puts the
/// rows in key order.
const NUMBERED_BY_ROWID: &[&str] = &["script_testers"];

/// Every row of every table of an SQLite database (SQLite's own `sqlite_sequence` too), in
/// the order of each table's rowid or primary key, every value with its type.
fn every_row(db: &Path) -> Vec<(String, Vec<Vec<Value>>)> {
    let conn = Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|table| {
            // The primary key orders the rows.
            let key: Vec<String> = conn
                .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
                .unwrap()
                .query_map([&table], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let order = if key.is_empty() { "name".to_owned() } else { key.join(", ") };
            let rowid = NUMBERED_BY_ROWID.contains(&table.as_str());
            let columns = if rowid { "rowid, *" } else { "*" };
            let mut statement = conn
                .prepare(&format!("SELECT {columns} FROM \"{table}\" ORDER BY {order}"))
                .unwrap();
            let width = statement.column_count();
            let rows = statement
                .query_map([], |row| (0..width).map(|i| row.get::<_, Value>(i)).collect())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (table, rows)
        })
        .collect()
}

/// A call that leaves a voicemail on the surrender path (language, tags, events, a recording).
pub(crate) async fn voicemail_case(app: &TestApp) -> String {
    let transcript = app.call("1,1,2,2,1", None).await;
    app.case(&transcript.call_sid).await.number.to_string()
}

/// A caller who waits in the queue and gives up: a missed call in the follow-up list.
async fn missed_call(app: &TestApp) {
    let sid = common::new_call_sid();
    let mut doc = app.post_call("/voice/incoming", &sid, &[]).await;
    for key in ["1", "1", "2", "1"] {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = app.post_call(&action, &sid, &[("Digits", key)]).await;
    }
    let question = attribute(&doc, "Record", "action").expect("the question");
    let enqueued = app.post_call(&question, &sid, &[]).await;
    let action = attribute(&enqueued, "Enqueue", "action").expect("the queue");
    app.post_call(&action, &sid, &[("QueueResult", "hangup"), ("QueueTime", "75")]).await;
    let done = [("CallStatus", "completed"), ("CallDuration", "90")];
    app.post_call("/voice/status", &sid, &done).await;
}

/// A database the hotline filled: a voicemail with a note, a missed call, an operator, reads
/// in the audit log, a Telegram conversation with messages and its outbox. Returns the server,
/// stopped, its folder, and the voicemail's case number.
pub(crate) async fn filled() -> (tempfile::TempDir, PathBuf, String) {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    let (_, token) = person(&app, "olga", Role::Supervisor, &["ru"]).await;
    let number = voicemail_case(&app).await;
    let notes = format!("/api/cases/{number}/notes");
    let (status, body) = api(&app, "POST", &notes, Some(&token), Some(json!({"text": NOTE}))).await;
    assert!(status == 200 || status == 201, "{status} {body}");
    missed_call(&app).await;
    let (status, list) = api(&app, "GET", "/api/followups", Some(&token), None).await;
    assert_eq!(status, 200, "{list}");
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.telegram(fake.update_button(2, CHAT, 1, "l:ru")).await;
    app.telegram(fake.update_text(3, CHAT, "оператор")).await;
    app.telegram(fake.update_text(4, CHAT, "я жду")).await;
    let (status, _) = api(&app, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    assert_eq!(status, 200);
    let db = app.db_path.clone();
    let dir = app.stop().await;
    (dir, db, number)
}

#[tokio::test]
async fn a_database_the_hotline_filled_goes_to_postgresql_and_back_unchanged() {
    let (dir, db, number) = filled().await;
    let conn = Connection::open(&db).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0)).unwrap()
    };
    for table in [
        "cases",
        "case_events",
        "case_tags",
        "case_notes",
        "follow_ups",
        "audit_log",
        "conversations",
        "chat_messages",
        "outbox",
        "users",
        "api_tokens",
    ] {
        assert!(count(table) > 0, "the hotline wrote no row in {table}");
    }
    let voicemails: i64 = conn
        .query_row("SELECT count(*) FROM cases WHERE recording_url IS NOT NULL", [], |r| r.get(0))
        .unwrap();
    assert!(voicemails > 0, "no voicemail");

    // To PostgreSQL.
    let pg = Postgres::single();
    let to_pg = migrate(dir.path(), path(&db), pg.uri());
    let said = printed(&to_pg);
    assert!(to_pg.status.success(), "{said}");
    assert!(said.contains(&format!("{} rows", count("case_events"))), "{said}");
    let keys = db.with_file_name(DATA_KEYS_FILE);
    assert!(said.contains(&keys.display().to_string()), "where the keys are: {said}");
    for table in ["cases", "case_events", "case_notes", "audit_log", "chat_messages", "outbox"] {
        assert_eq!(pg.query(&format!("SELECT count(*) FROM {table}")), count(table).to_string());
    }
    assert_eq!(pg.query("SELECT DISTINCT substr(text, 1, 4) FROM case_notes"), "dk1.");
    assert_eq!(pg.query("SELECT DISTINCT substr(body, 1, 4) FROM chat_messages"), "dk1.");
    assert!(!pg.query("SELECT string_agg(text, '') FROM case_notes").contains("моста"));
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(pg.query("SELECT version FROM hotline_schema_version"), version.to_string());
    // The line the chat waits in: the source's count, not the target's triggers' recount
    // on top of it.
    assert_eq!(
        pg.query("SELECT string_agg(line || ':' || waiting, ',') FROM waiting_lines"),
        "ru:1"
    );
    // The whole schema, as the hotline's SQLite has it.
    assert_eq!(crate::postgres::postgres_schema(&pg), crate::postgres::sqlite_schema(&conn));
    // The next ids follow the copied ones, as SQLite's would.
    let next_user = pg.query(
        "INSERT INTO users (name, role, languages, created_at)
         VALUES ('new', 'operator', 'ru', '2026-12-07T12:00:00.000000000Z') RETURNING id",
    );
    let max_user: i64 = conn.query_row("SELECT max(id) FROM users", [], |r| r.get(0)).unwrap();
    assert_eq!(next_user, (max_user + 1).to_string());
    pg.query("DELETE FROM users WHERE name = 'new'");

    // And back, into a new file: every table, every row, every value the same.
    let back_dir = tempfile::tempdir().unwrap();
    let back = back_dir.path().join("hotline.db");
    let to_sqlite = migrate(dir.path(), pg.uri(), path(&back));
    assert!(to_sqlite.status.success(), "{}", printed(&to_sqlite));
    let mode = std::os::unix::fs::PermissionsExt::mode(&back.metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the new database is its owner's only");
    let original = every_row(&db);
    let copied = every_row(&back);
    let names =
        |t: &[(String, Vec<Vec<Value>>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&copied), names(&original));
    assert!(original.len() > 20, "{:?}", names(&original));
    for ((table, rows), (_, copied_rows)) in original.iter().zip(&copied) {
        assert_eq!(rows.len(), copied_rows.len(), "rows of {table}");
        for (row, copied_row) in rows.iter().zip(copied_rows) {
            assert!(row == copied_row, "a row of {table} differs");
        }
    }
    let version: u32 = Connection::open(&back)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let original: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, original);

    // The hotline opens it with the original keys beside it and reads the note back.
    std::fs::copy(&keys, back.with_file_name(DATA_KEYS_FILE)).unwrap();
    let (mut config, _) = common::test_config(|_| {});
    config.database.path = back.clone();
    let app = common::start(config, back_dir).await;
    let (_, token) = person(&app, "taras", Role::Supervisor, &["ru"]).await;
    let (status, body) =
        api(&app, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notes"][0]["text"], NOTE, "{body}");
    assert_eq!(body["outcome"], "voicemail", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_postgresql_target_that_is_not_empty_is_refused_and_left_as_it_was() {
    let folder = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(folder.path()).await;
    let pg = Postgres::single();
    pg.query("CREATE TABLE mine (x BIGINT); INSERT INTO mine VALUES (42)");
    let output = migrate(folder.path(), path(&db), pg.uri());
    assert_eq!(output.status.code(), Some(2), "{}", printed(&output));
    assert!(printed(&output).contains("is not empty (1 table(s)"), "{}", printed(&output));
    assert_eq!(pg_tables(&pg, pg.uri()), "1");
    assert_eq!(pg.query("SELECT x FROM mine"), "42");

    // A database already filled by a first copy: the same.
    pg.query("CREATE DATABASE second");
    let second = pg.database_uri("second");
    let first = migrate(folder.path(), path(&db), &second);
    assert!(first.status.success(), "{}", printed(&first));
    let tables = pg_tables(&pg, &second);
    let again = migrate(folder.path(), path(&db), &second);
    assert!(printed(&again).contains("is not empty"), "{}", printed(&again));
    assert_eq!(pg_tables(&pg, &second), tables);
}

/// A database the hotline has just created, with nothing in it.
async fn fresh_sqlite(dir: &Path) -> PathBuf {
    let db = dir.join("hotline.db");
    drop(Storage::open(&db, common::storage_options()).await.unwrap());
    db
}

#[tokio::test]
async fn wrong_urls_unreachable_servers_and_missing_databases_are_named() {
    let folder = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(folder.path()).await;
    let closed = crate::common::binary::free_port();
    let pg = Postgres::single();
    let long = format!("postgres://postgres@127.0.0.1:{closed}/{}", "d".repeat(100_000));
    let cases = [
        (
            format!("postgres://postgres@127.0.0.1:{closed}/hotline"),
            "cannot connect to PostgreSQL at 127.0.0.1",
        ),
        ("postgres://postgres@127.0.0.1:99999/hotline".to_owned(), "not a PostgreSQL URL"),
        ("postgresql://u:s3cret@[::1/x".to_owned(), "not a PostgreSQL URL"),
        ("postgres://".to_owned(), "cannot connect"),
        (pg.database_uri("nowhere"), "database \"nowhere\" does not exist"),
        (long, "cannot connect"),
    ];
    for (url, words) in cases {
        let started = Instant::now();
        let output = migrate(folder.path(), path(&db), &url);
        let said = printed(&output);
        assert_eq!(output.status.code(), Some(2), "{url:.80}: {said}");
        assert!(said.contains(words), "{url:.80}: {said}");
        assert!(!said.contains("s3cret"), "a password printed: {said}");
        assert!(said.lines().count() <= 2 && said.len() < 2000, "{said:.300}");
        assert!(started.elapsed() < Duration::from_secs(30), "{url:.80}");
    }
    assert_eq!(pg_tables(&pg, pg.uri()), "0");
}

#[tokio::test]
async fn wrong_sources_and_sides_are_refused_and_touch_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(folder.path()).await;
    let pg = Postgres::single();
    let old = folder.path().join("old.db");
    std::fs::copy(&db, &old).unwrap();
    Connection::open(&old).unwrap().pragma_update(None, "user_version", 16).unwrap();
    let newer = folder.path().join("newer.db");
    std::fs::copy(&db, &newer).unwrap();
    Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let not_sqlite = folder.path().join("notes.txt");
    std::fs::write(&not_sqlite, "not a database at all\n".repeat(1000)).unwrap();
    let existing = folder.path().join("existing.db");
    std::fs::write(&existing, b"mine").unwrap();
    let missing = folder.path().join("missing.db");
    let uri = pg.uri().to_owned();
    let other = pg.database_uri("other");
    let huge = format!("{}/{}", path(folder.path()), "x".repeat(100_000));
    let cases: Vec<(String, String, &str)> = vec![
        (path(&missing).into(), uri.clone(), "no database at"),
        (huge.clone(), uri.clone(), "no database at"),
        (String::new(), uri.clone(), "no database at"),
        (path(&old).into(), uri.clone(), "start the hotline once on it (it migrates), then copy"),
        (path(&newer).into(), uri.clone(), "newer than this build's"),
        (path(&not_sqlite).into(), uri.clone(), "not a database"),
        (
            path(&db).into(),
            path(&existing).into(),
            "both sides are SQLite files: to copy an SQLite database use `hotline backup`",
        ),
        (uri.clone(), other.clone(), "both sides are PostgreSQL databases"),
        (uri.clone(), path(&existing).into(), "already exists"),
        (
            uri.clone(),
            path(&folder.path().join("new.db")).into(),
            "has no hotline_schema_version table",
        ),
    ];
    for (from, to, words) in cases {
        let output = migrate(folder.path(), &from, &to);
        let said = printed(&output);
        assert!(!output.status.success(), "{from:.80} → {to:.80}: {said:.300}");
        assert!(said.contains(words), "{from:.80} → {to:.80}: {said:.300}");
        assert!(said.len() < 1000, "{said:.300}");
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"mine");
    assert!(!folder.path().join("new.db").exists(), "a failed copy left its file");
    assert_eq!(pg_tables(&pg, pg.uri()), "0");
    // The configured database while a server answers on the configured address: refused
    // (what the server takes after the copy's moment would be lost). By another name (a
    // relative path) too; another file is not the server's business.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = listener.local_addr().unwrap().to_string();
    for from in [path(&db).to_owned(), format!("./{}", db.file_name().unwrap().to_str().unwrap())] {
        let output = hotline(folder.path())
            .env("HOTLINE_SERVER_LISTEN", &busy)
            .env("HOTLINE_DATABASE_PATH", &db)
            .args(["migrate-db", "--from", &from, "--to", &uri])
            .output()
            .unwrap();
        let said = printed(&output);
        assert!(!output.status.success() && said.contains("stop it first"), "{from}: {said}");
    }
    assert_eq!(pg_tables(&pg, pg.uri()), "0");
    let first = hotline(folder.path())
        .env("HOTLINE_SERVER_LISTEN", &busy)
        .env("HOTLINE_DATABASE_PATH", &old)
        .args(["migrate-db", "--from", path(&db), "--to", &uri])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", printed(&first));
    drop(listener);

    // A PostgreSQL database made by another version: refused, no file made.
    let version = pg.query("SELECT version FROM hotline_schema_version");
    pg.query("UPDATE hotline_schema_version SET version = 16");
    let target = folder.path().join("back.db");
    let output = migrate(folder.path(), pg.uri(), path(&target));
    assert!(
        printed(&output).contains(&format!("is at schema version 16, this build's is {version}")),
        "{}",
        printed(&output)
    );
    assert!(!target.exists());
    pg.query(&format!("UPDATE hotline_schema_version SET version = {version}"));
    // A file that cannot be made: named, cut short.
    let output = migrate(folder.path(), pg.uri(), &huge);
    assert!(printed(&output).contains("cannot create"), "{:.300}", printed(&output));
    assert!(printed(&output).len() < 1000, "{:.300}", printed(&output));
    // A table PostgreSQL has and SQLite does not: different versions, no file left.
    pg.query("CREATE TABLE extra (id BIGINT PRIMARY KEY)");
    let output = migrate(folder.path(), pg.uri(), path(&target));
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    assert!(printed(&output).contains("only in PostgreSQL: [extra]"), "{}", printed(&output));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        assert!(!folder.path().join(format!("back.db{suffix}")).exists(), "{suffix}");
    }
}

#[tokio::test]
async fn a_nul_character_is_refused_by_table_key_and_column_and_nothing_is_copied() {
    let folder = tempfile::tempdir().unwrap();
    let db = fresh_sqlite(folder.path()).await;
    let conn = Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO users (name, role, languages, created_at)
         VALUES ('anna', 'operator', 'ru', '2026-12-07T12:00:00.000000000Z')",
        [],
    )
    .unwrap();
    // A test caller's label may hold any character; here one PostgreSQL text cannot.
    conn.execute(
        "INSERT INTO script_testers (caller_hash, label, added_at)
         VALUES ('h1', 'fine', '2026-12-07T12:00:00Z'), ('h2', 'a' || char(0) || 'b', '2026-12-07T12:00:00Z')",
        [],
    )
    .unwrap();
    drop(conn);
    let pg = Postgres::single();
    let output = migrate(folder.path(), path(&db), pg.uri());
    let said = printed(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("table script_testers, row (caller_hash=\"h2\"), column label: holds the character U+0000"),
        "{said}"
    );
    assert!(!said.contains("a\u{0}b") && !said.contains("anna"), "a value printed: {said}");
    assert_eq!(pg_tables(&pg, pg.uri()), "0", "the target is left empty");
}

/// Fills the hotline's database at `db` with `n` cases copied from the ones it holds, with
/// their tags and events, in SQL: what a year or more of calls leaves.
fn grow(db: &Path, n: u32) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA synchronous = OFF;").unwrap();
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('cases')")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|c: &String| {
            !["id", "number_year", "number_seq", "call_sid", "caller_hash"].contains(&c.as_str())
        })
        .collect();
    let list = columns.join(", ");
    let from = columns.iter().map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    conn.execute_batch(&format!(
        "BEGIN;
         CREATE TEMP TABLE template AS
             SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM cases;
         CREATE TEMP TABLE seq AS
             WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {n})
             SELECT i, (SELECT max(id) FROM cases) + 1 + i AS id,
                    i % (SELECT count(*) FROM temp.template) AS k FROM s;
         INSERT INTO cases (id, number_year, number_seq, call_sid, caller_hash, {list})
             SELECT s.id, 2020, s.i + 1, printf('CAgrown%025d', s.i), printf('%064d', s.i), {from}
             FROM temp.seq s JOIN temp.template t ON t.k = s.k JOIN cases c ON c.id = t.id;
         INSERT INTO case_tags (case_id, key, value, position)
             SELECT s.id, g.key, g.value, g.position
             FROM temp.seq s JOIN temp.template t ON t.k = s.k JOIN case_tags g ON g.case_id = t.id;
         INSERT INTO case_events (case_id, step, idx, at, kind, node, digits, detail)
             SELECT s.id, e.step, e.idx, e.at, e.kind, e.node, e.digits, e.detail
             FROM temp.seq s JOIN temp.template t ON t.k = s.k JOIN case_events e ON e.case_id = t.id;
         COMMIT;
         PRAGMA wal_checkpoint(TRUNCATE);"
    ))
    .unwrap();
}

/// A database the hotline filled with a few calls, grown to `n` cases.
async fn large(n: u32) -> (tempfile::TempDir, PathBuf) {
    let app = common::spawn_app().await;
    for _ in 0..3 {
        voicemail_case(&app).await;
    }
    let db = app.db_path.clone();
    let dir = app.stop().await;
    grow(&db, n);
    (dir, db)
}

#[tokio::test]
async fn a_copy_killed_midway_leaves_postgresql_without_a_table() {
    let (dir, db) = large(20_000).await;
    let pg = Postgres::single();
    let mut child = hotline(dir.path())
        .args(["migrate-db", "--from", path(&db), "--to", pg.uri()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the copy is writing rows, then kill it without a chance to clean up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copying = pg.query(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%' AND state <> 'idle'",
        );
        if copying != "0" {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the copy ended before it was killed");
        assert!(Instant::now() < deadline, "the copy never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    // The server notices the dropped connection and rolls its transaction back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%'") != "0" {
        assert!(Instant::now() < deadline, "the killed copy's session stays");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(pg_tables(&pg, pg.uri()), "0");
    // And a copy started again goes through.
    let again = migrate(dir.path(), path(&db), pg.uri());
    assert!(again.status.success(), "{}", printed(&again));
}

/// The copy's speed on 100,000 cases, both ways: `cargo test --release --test integration
/// migrate_db -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check: about a minute in a release build"]
async fn the_copy_rate_of_a_large_database() {
    let (dir, db) = large(100_000).await;
    let pg = Postgres::single();
    for (from, to) in [
        (path(&db).to_owned(), pg.uri().to_owned()),
        (pg.uri().to_owned(), path(&dir.path().join("back.db")).to_owned()),
    ] {
        let output = migrate(dir.path(), &from, &to);
        let said = printed(&output);
        assert!(output.status.success(), "{said}");
        let total = said.lines().find(|l| l.starts_with("copied and checked")).unwrap();
        println!("{from:.40} → {to:.40}: {total}");
    }
}
