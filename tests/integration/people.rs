//! People, roles, tokens and the audit log, as supervisors and operators meet them: through
//! the API of a real server, and through `hotline users …` on a fresh install.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::api::{self, Allowed, BAD_TOKEN, TEST_PIN, assert_matrix, person};
use common::binary::{hotline, printed as text};
use common::{TestApp, spawn_app};
use hotline::domain::people::{self, Role};
use serde_json::{Value, json};

const JSON: &str = "application/json";

// ---------------------------------------------------------------------------------------------
// Authorisation

#[tokio::test]
async fn every_people_route_checks_the_token_and_the_role() {
    // Arrange
    let app = spawn_app().await;
    let (target, _) = person(&app, "target", Role::Operator, &["ru"]).await;
    let id = target.id;
    let routes: Vec<(&str, String, Option<Value>, Allowed)> = vec![
        ("GET", "/api/me".into(), None, Allowed::Both),
        ("GET", "/api/users".into(), None, Allowed::Supervisor),
        (
            "POST",
            "/api/users".into(),
            Some(json!({"name": "newcomer", "role": "operator", "languages": ["uk"]})),
            Allowed::Supervisor,
        ),
        ("POST", format!("/api/users/{id}/pin"), None, Allowed::Supervisor),
        ("POST", format!("/api/users/{id}/password"), None, Allowed::Supervisor),
        (
            "PUT",
            format!("/api/users/{id}/languages"),
            Some(json!({"languages": ["uk", "ru"]})),
            Allowed::Supervisor,
        ),
        ("POST", format!("/api/users/{id}/tokens"), None, Allowed::Supervisor),
        // An operator may revoke only their own tokens: these are someone else's.
        ("DELETE", format!("/api/users/{id}/tokens"), None, Allowed::Supervisor),
        ("POST", format!("/api/users/{id}/disable"), None, Allowed::Supervisor),
        ("POST", format!("/api/users/{id}/enable"), None, Allowed::Supervisor),
        ("GET", "/api/audit".into(), None, Allowed::Supervisor),
        ("GET", "/api/audit?limit=5&action=user.add".into(), None, Allowed::Supervisor),
    ];

    for (method, path, body, allowed) in routes {
        // Act + Assert
        let (status, answer) = assert_matrix(&app, method, &path, body, allowed).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    }
}

#[tokio::test]
async fn me_is_the_token_holder_without_secrets() {
    let app = spawn_app().await;
    let (anna, token) = person(&app, "anna", Role::Operator, &["ru", "uk"]).await;

    let (status, me) = api::api(&app, "GET", "/api/me", Some(&token), None).await;

    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({"id": anna.id, "name": "anna", "role": "operator", "languages": ["ru", "uk"],
               "disabled": false})
    );
    assert!(anna.id >= 101, "operator IDs have 3 digits or more: {}", anna.id);
}

#[tokio::test]
async fn an_operator_may_revoke_their_own_tokens_and_then_is_refused() {
    let app = spawn_app().await;
    let (anna, token) = person(&app, "anna", Role::Operator, &["ru"]).await;
    let second = api::token_for(&app, anna.id).await;

    let path = format!("/api/users/{}/tokens", anna.id);
    let (status, answer) = api::api(&app, "DELETE", &path, Some(&token), None).await;

    assert_eq!((status, answer), (200, json!({"revoked": 2})));
    for token in [&token, &second] {
        let (status, _) = api::api(&app, "GET", "/api/me", Some(token), None).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn a_disabled_persons_token_is_refused_and_enabling_does_not_revive_it() {
    let app = spawn_app().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let (anna, token) = person(&app, "anna", Role::Operator, &["ru"]).await;
    assert_eq!(api::api(&app, "GET", "/api/me", Some(&token), None).await.0, 200);

    let path = format!("/api/users/{}/disable", anna.id);
    let (status, disabled) = api::api(&app, "POST", &path, Some(&boss), None).await;

    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["disabled"], json!(true));
    assert_eq!(api::api(&app, "GET", "/api/me", Some(&token), None).await.0, 401);
    // A disabled person gets no new token and cannot dial in.
    let issue = format!("/api/users/{}/tokens", anna.id);
    assert_eq!(api::api(&app, "POST", &issue, Some(&boss), None).await.0, 409);
    assert_eq!(app.storage.pin_hash(anna.id).await.unwrap(), None);

    let enable = format!("/api/users/{}/enable", anna.id);
    assert_eq!(api::api(&app, "POST", &enable, Some(&boss), None).await.0, 200);
    assert_eq!(api::api(&app, "GET", "/api/me", Some(&token), None).await.0, 401);
    let (status, issued) = api::api(&app, "POST", &issue, Some(&boss), None).await;
    assert_eq!(status, 201);
    let fresh = issued["token"].as_str().unwrap();
    assert_eq!(api::api(&app, "GET", "/api/me", Some(fresh), None).await.0, 200);
}

#[tokio::test]
async fn a_tokens_use_is_noted_at_most_once_a_minute() {
    let app = spawn_app().await;
    let (_, token) = person(&app, "anna", Role::Operator, &["ru"]).await;
    let last_used = || {
        let conn = rusqlite::Connection::open(&app.db_path).unwrap();
        conn.query_row("SELECT last_used_at FROM api_tokens", [], |row| row.get(0)).unwrap()
    };
    let never: Option<String> = last_used();
    assert_eq!(never, None);

    assert_eq!(api::api(&app, "GET", "/api/me", Some(&token), None).await.0, 200);
    let first: Option<String> = last_used();
    assert_eq!(api::api(&app, "GET", "/api/me", Some(&token), None).await.0, 200);

    assert!(first.is_some());
    assert_eq!(last_used(), first, "a second use within the minute writes nothing");
}

#[tokio::test]
async fn a_supervisor_cannot_disable_themself() {
    let app = spawn_app().await;
    let (boss, token) = person(&app, "boss", Role::Supervisor, &["ru"]).await;

    let path = format!("/api/users/{}/disable", boss.id);
    let (status, answer) = api::api(&app, "POST", &path, Some(&token), None).await;

    assert_eq!(status, 409, "{answer}");
    assert_eq!(api::api(&app, "GET", "/api/me", Some(&token), None).await.0, 200);
}

// ---------------------------------------------------------------------------------------------
// Creating people and their secrets

#[tokio::test]
async fn a_new_person_gets_a_pin_and_password_shown_once_and_stored_hashed() {
    let app = spawn_app().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ru"]).await;

    let body = json!({"name": "olena.k", "role": "operator", "languages": ["uk", "ru"]});
    let (status, created) = api::api(&app, "POST", "/api/users", Some(&boss), Some(body)).await;

    assert_eq!(status, 201, "{created}");
    let id = created["person"]["id"].as_i64().unwrap();
    assert_eq!(created["person"]["languages"], json!(["uk", "ru"]));
    let pin = created["pin"].as_str().unwrap();
    let password = created["password"].as_str().unwrap();
    assert!(pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()), "{pin}");
    assert!(password.len() >= 12, "{password}");
    let (pin_hash, password_hash) = stored_hashes(&app, id);
    assert!(pin_hash.starts_with("$argon2id$") && !pin_hash.contains(pin));
    assert!(!password_hash.contains(password));
    assert!(hotline::app::hashers::verify_secret(&pin_hash, pin));
    assert!(hotline::app::hashers::verify_secret(&password_hash, password));
    assert!(!hotline::app::hashers::verify_secret(&pin_hash, "000000"));
    assert_eq!(app.storage.pin_hash(id).await.unwrap(), Some(pin_hash));
    // The list shows the person and no secret.
    let (_, list) = api::api(&app, "GET", "/api/users", Some(&boss), None).await;
    let text = list.to_string();
    assert!(text.contains("olena.k") && !text.contains(pin) && !text.contains("argon2"));
    assert!(!text.contains(password));
}

#[tokio::test]
async fn a_pin_reset_replaces_the_old_pin() {
    let app = spawn_app().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let (anna, _) = person(&app, "anna", Role::Operator, &["ru"]).await;

    let path = format!("/api/users/{}/pin", anna.id);
    let (status, answer) = api::api(&app, "POST", &path, Some(&boss), None).await;

    assert_eq!(status, 200, "{answer}");
    let pin = answer["pin"].as_str().unwrap();
    let hash = app.storage.pin_hash(anna.id).await.unwrap().unwrap();
    assert!(hotline::app::hashers::verify_secret(&hash, pin));
    assert!(pin == TEST_PIN || !hotline::app::hashers::verify_secret(&hash, TEST_PIN));
}

#[tokio::test]
async fn a_taken_name_is_a_conflict() {
    let app = spawn_app().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ru"]).await;

    let body = json!({"name": "boss", "role": "operator", "languages": ["ru"]});
    let (status, answer) = api::api(&app, "POST", "/api/users", Some(&boss), Some(body)).await;

    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("boss"), "{answer}");
}

#[tokio::test]
async fn wrong_empty_huge_and_hostile_people_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let long = "n".repeat(65);
    let bodies = [
        json!({"name": "o'brien\"", "role": "operator", "languages": ["ru"]}),
        json!({"name": "анна", "role": "operator", "languages": ["ru"]}),
        json!({"name": "a b", "role": "operator", "languages": ["ru"]}),
        json!({"name": "", "role": "operator", "languages": ["ru"]}),
        json!({"name": long, "role": "operator", "languages": ["ru"]}),
        json!({"name": "x", "role": "admin", "languages": ["ru"]}),
        json!({"name": "x", "role": "", "languages": ["ru"]}),
        json!({"name": "x", "role": "operator", "languages": []}),
        json!({"name": "x", "role": "operator", "languages": ["xx", ""]}),
        json!({"name": "x", "role": "operator", "languages": ["ru", "ru"]}),
        json!({"name": "x", "role": "operator", "languages": ["RU"]}),
        json!({"name": "x", "role": "operator", "languages": "ru,uk"}),
        json!({"name": "x", "role": "operator", "languages": ["ru"], "admin": true}),
        json!({"name": "x", "role": "operator"}),
        json!({"name": 7, "role": "operator", "languages": ["ru"]}),
        json!([]),
        json!(null),
    ];
    for body in bodies {
        let (status, answer) =
            api::api(&app, "POST", "/api/users", Some(&boss), Some(body.clone())).await;
        assert_eq!(status, 400, "{body} → {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(!message.is_empty() && message.len() < 300, "{body} → {message}");
    }

    // Over the limit but small enough to be sent whole: a clear 400.
    let over = padded_user(20 * 1024);
    let (status, answer) =
        api::raw(&app, "POST", "/api/users", Some(&boss), Some(over), JSON).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("too large"), "{answer}");
    // A megabyte: the same 400, unless the server stops reading and cuts the connection
    // before the client has finished sending (which refuses it just as well).
    let huge = padded_user(1024 * 1024);
    let (status, answer) =
        api::raw(&app, "POST", "/api/users", Some(&boss), Some(huge), JSON).await;
    match status {
        400 => assert!(answer["error"].as_str().unwrap().contains("too large"), "{answer}"),
        0 => {
            let error = answer.as_str().unwrap().to_lowercase();
            assert!(error.contains("pipe") || error.contains("reset"), "{error}");
        }
        _ => panic!("a megabyte body: {status} {answer}"),
    }
    for (bytes, content_type) in [
        (b"".to_vec(), JSON),
        (b"{not json".to_vec(), JSON),
        (b"\xff\xfe".to_vec(), JSON),
        (br#"{"name":"x","role":"operator","languages":["ru"]}"#.to_vec(), "text/plain"),
    ] {
        let (status, answer) =
            api::raw(&app, "POST", "/api/users", Some(&boss), Some(bytes), content_type).await;
        assert_eq!(status, 400, "{content_type}: {answer}");
    }
    // Nothing was added.
    let (_, list) = api::api(&app, "GET", "/api/users", Some(&boss), None).await;
    assert_eq!(list["users"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn wrong_ids_and_audit_queries_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ru"]).await;

    for (method, path, expected) in [
        ("POST", "/api/users/abc/disable", 400),
        ("POST", "/api/users/1e3/pin", 400),
        ("POST", "/api/users/99999999999999999999/enable", 400),
        ("POST", "/api/users/99999/disable", 404),
        ("POST", "/api/users/-1/tokens", 404),
        ("DELETE", "/api/users/99999/tokens", 404),
        ("GET", "/api/audit?limit=0", 400),
        ("GET", "/api/audit?limit=1001", 400),
        ("GET", "/api/audit?limit=ten", 400),
        ("GET", "/api/audit?case=42", 400),
        ("GET", "/api/audit?case=2026-000042%27%20OR%201=1", 400),
        ("GET", "/api/audit?actor=boss", 400),
        ("GET", "/api/audit?action=USER%20ADD", 400),
        ("GET", "/api/audit?sort=desc", 400),
        ("GET", "/api/audit?limit=1000&case=2026-000042&actor=101&action=user.add", 200),
    ] {
        let (status, answer) = api::api(&app, method, path, Some(&boss), None).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        if expected == 400 {
            assert!(answer["error"].is_string(), "{method} {path}: {answer}");
        }
    }
    // Hostile Authorization headers are a plain 401; one over server.max_header_bytes is
    // refused (431) before it reaches the API.
    for token in ["", "hlt_", &"a".repeat(100_000), "hlt_' OR 1=1 --", BAD_TOKEN] {
        let (status, _) = api::api(&app, "GET", "/api/me", Some(token), None).await;
        let expected = if token.len() > 16 * 1024 { 431 } else { 401 };
        assert_eq!(status, expected, "{token:.20}");
    }
}

// ---------------------------------------------------------------------------------------------
// Audit

#[tokio::test]
async fn every_change_to_people_is_audited_with_its_author() {
    let app = spawn_app().await;
    let (boss, token) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let body = json!({"name": "anna", "role": "operator", "languages": ["ru"]});
    let (_, created) = api::api(&app, "POST", "/api/users", Some(&token), Some(body)).await;
    let id = created["person"]["id"].as_i64().unwrap();

    for (method, action) in [
        ("POST", "pin"),
        ("POST", "tokens"),
        ("DELETE", "tokens"),
        ("POST", "disable"),
        ("POST", "enable"),
    ] {
        let path = format!("/api/users/{id}/{action}");
        let (status, answer) = api::api(&app, method, &path, Some(&token), None).await;
        assert!((200..300).contains(&status), "{method} {path}: {answer}");
    }

    let path = format!("/api/audit?actor={}", boss.id);
    let (status, log) = api::api(&app, "GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "user.enable",
            "user.disable",
            "token.revoke",
            "token.issue",
            "user.pin-reset",
            "user.add"
        ]
    );
    for entry in entries {
        assert_eq!(entry["actor_id"], json!(boss.id));
        assert_eq!(entry["actor_name"], json!("boss"));
        assert!(entry["detail"].as_str().unwrap().contains(&format!("user={id}")), "{entry}");
        assert!(entry["at"].is_string());
    }
    // No secret in the log.
    let text = log.to_string();
    assert!(!text.contains(created["pin"].as_str().unwrap()));
    assert!(!text.contains(created["password"].as_str().unwrap()));
    // Filters and limits.
    let (_, one) =
        api::api(&app, "GET", "/api/audit?action=user.add&limit=1", Some(&token), None).await;
    assert_eq!(one["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_audit_lines() {
    let app = spawn_app().await;
    let (_, token) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let body = json!({"name": "anna", "role": "operator", "languages": ["ru"]});
    assert_eq!(api::api(&app, "POST", "/api/users", Some(&token), Some(body)).await.0, 201);

    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    for sql in [
        "UPDATE audit_log SET detail = 'nothing happened'",
        "UPDATE audit_log SET actor_id = NULL",
        "DELETE FROM audit_log",
    ] {
        let refused = conn.execute(sql, []).unwrap_err().to_string();
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 1);
}

/// A valid new person's JSON padded with an unknown field to `size` bytes.
fn padded_user(size: usize) -> Vec<u8> {
    let mut body = br#"{"name": "x", "role": "operator", "languages": ["ru"], "pad": ""#.to_vec();
    body.resize(size - 2, b'a');
    body.extend_from_slice(br#""}"#);
    body
}

/// The stored PIN and password hashes of a person, read straight from the database.
fn stored_hashes(app: &TestApp, id: i64) -> (String, String) {
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.query_row("SELECT pin_hash, password_hash FROM users WHERE id = ?1", [id], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The command line

/// The value of a `key: value` line of a command's output.
fn line_value(output: &Output, key: &str) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}: ")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {key}: in {}", text(output)))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shipped_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts")
}

/// `GET /api/me` with a token, against a server on `port`: the status.
fn me_status(port: u16, token: &str) -> u16 {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().new_agent();
    agent
        .get(format!("http://127.0.0.1:{port}/api/me"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_fresh_install_bootstraps_a_supervisor_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();

    // The first supervisor, on a fresh install: the database is created.
    let added = hotline(dir.path())
        .args(["users", "add", "chief", "--role", "supervisor", "--languages", "ru,uk"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));
    let pin = line_value(&added, "pin");
    let password = line_value(&added, "password");
    assert_eq!(line_value(&added, "operator id"), "101");
    assert_eq!(pin.len(), 6);

    let with_stdin = hotline(dir.path())
        .args([
            "users",
            "add",
            "anna",
            "--role",
            "operator",
            "--languages",
            "ko",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"correct horse battery\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(with_stdin.status.success(), "{}", text(&with_stdin));
    assert!(!text(&with_stdin).contains("password:"), "{}", text(&with_stdin));

    // The list shows people, never a secret.
    let listed = hotline(dir.path()).args(["users", "list"]).output().unwrap();
    let list = text(&listed);
    assert!(listed.status.success(), "{list}");
    assert!(list.contains("chief") && list.contains("supervisor") && list.contains("ru,uk"));
    assert!(list.contains("anna") && list.contains("102"), "{list}");
    assert!(!list.contains(&pin) && !list.contains(&password) && !list.contains("argon2"));

    // A token works against a running server.
    let issued = hotline(dir.path()).args(["users", "token", "chief"]).output().unwrap();
    assert!(issued.status.success(), "{}", text(&issued));
    let token = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
    assert!(people::is_token_shaped(&token), "{token}");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = Server(
        hotline(dir.path())
            .arg("serve")
            .env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOTLINE_SCRIPTS_DIR", shipped_scripts())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(me_status(port, &token), 200);

    // Disabling takes effect at once, even with the server running.
    let disabled = hotline(dir.path()).args(["users", "disable", "chief"]).output().unwrap();
    assert!(disabled.status.success(), "{}", text(&disabled));
    assert_eq!(me_status(port, &token), 401);
    let enabled = hotline(dir.path()).args(["users", "enable", "chief"]).output().unwrap();
    assert!(enabled.status.success(), "{}", text(&enabled));
    assert_eq!(me_status(port, &token), 401, "enabling does not revive a revoked token");

    // A second token, then revoke, then a new PIN.
    let issued = hotline(dir.path()).args(["users", "token", "chief"]).output().unwrap();
    let token = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
    assert_eq!(me_status(port, &token), 200);
    let revoked = hotline(dir.path()).args(["users", "revoke", "chief"]).output().unwrap();
    assert!(text(&revoked).contains("revoked 1"), "{}", text(&revoked));
    assert_eq!(me_status(port, &token), 401);
    let reset = hotline(dir.path()).args(["users", "reset-pin", "anna"]).output().unwrap();
    assert!(reset.status.success(), "{}", text(&reset));
    assert_eq!(line_value(&reset, "pin").len(), 6);

    // Every change is audited with no actor and a detail saying it came from the CLI.
    let conn = rusqlite::Connection::open(dir.path().join("data/hotline.db")).unwrap();
    let mut statement =
        conn.prepare("SELECT actor_id, action, detail FROM audit_log ORDER BY id").unwrap();
    let lines: Vec<(Option<i64>, String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let actions: Vec<&str> = lines.iter().map(|(_, action, _)| action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.add",
            "user.add",
            "token.issue",
            "user.disable",
            "user.enable",
            "token.issue",
            "token.revoke",
            "user.pin-reset"
        ]
    );
    for (actor, _, detail) in &lines {
        assert_eq!(*actor, None);
        assert!(detail.starts_with("cli "), "{detail}");
        assert!(!detail.contains(&pin) && !detail.contains(&password));
    }
}

#[test]
fn wrong_command_line_arguments_exit_2_and_unknown_names_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let long = "n".repeat(65);
    for args in [
        vec!["users", "add", "o'brien", "--role", "operator", "--languages", "ru"],
        vec!["users", "add", "анна", "--role", "operator", "--languages", "ru"],
        vec!["users", "add", "a\"b", "--role", "operator", "--languages", "ru"],
        vec!["users", "add", &long, "--role", "operator", "--languages", "ru"],
        vec!["users", "add", "", "--role", "operator", "--languages", "ru"],
        vec!["users", "add", "anna", "--role", "admin", "--languages", "ru"],
        vec!["users", "add", "anna", "--role", "operator", "--languages", "xx,,"],
        vec!["users", "add", "anna", "--role", "operator", "--languages", ""],
        vec!["users", "add", "anna", "--role", "operator"],
        vec!["users", "add", "anna", "--languages", "ru"],
        vec!["users", "frobnicate"],
        vec!["users", "disable"],
    ] {
        let output = hotline(dir.path()).args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let message = text(&output);
        assert!(!message.trim().is_empty(), "{args:?}");
    }
    // A password too short on stdin is refused before anything is stored.
    let output = hotline(dir.path())
        .args(["users", "add", "anna", "--role", "operator", "--languages", "ru"])
        .arg("--password-stdin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    // Before any person exists there is no database: other commands say how to start.
    let output = hotline(dir.path()).args(["users", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("hotline users add"), "{}", text(&output));

    let added = hotline(dir.path())
        .args(["users", "add", "anna", "--role", "operator", "--languages", "ru"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));
    for args in [
        ["users", "disable", "boris"],
        ["users", "enable", "boris"],
        ["users", "token", "boris"],
        ["users", "revoke", "boris"],
        ["users", "reset-pin", "boris"],
    ] {
        let output = hotline(dir.path()).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert!(text(&output).contains("boris"), "{}", text(&output));
    }
    let again = hotline(dir.path())
        .args(["users", "add", "anna", "--role", "operator", "--languages", "ru"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    // A disabled person gets no token.
    let disabled = hotline(dir.path()).args(["users", "disable", "anna"]).output().unwrap();
    assert!(disabled.status.success(), "{}", text(&disabled));
    let token = hotline(dir.path()).args(["users", "token", "anna"]).output().unwrap();
    assert_eq!(token.status.code(), Some(1), "{}", text(&token));
    assert!(text(&token).contains("enable"), "{}", text(&token));
}

#[tokio::test]
async fn a_password_reset_and_a_language_change_are_audited_and_checked() {
    let app = spawn_app().await;
    let (boss_person, boss) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let (anna, _) = person(&app, "anna", Role::Operator, &["ru"]).await;
    let mut console = common::console::Browser::login(&app, "anna", api::TEST_PASSWORD).await;

    let path = format!("/api/users/{}/password", anna.id);
    let (status, answer) = api::api(&app, "POST", &path, Some(&boss), None).await;
    assert_eq!(status, 200, "{answer}");
    let password = answer["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 12);
    // Her console session ended; the old password no longer works, the new one does.
    assert_eq!(console.get("/console").await.location(), "/console/login");
    let mut again = common::console::Browser::new(&app);
    assert_eq!(again.log_in("anna", api::TEST_PASSWORD).await.status, 401);
    assert_eq!(again.log_in("anna", &password).await.status, 303);

    let path = format!("/api/users/{}/languages", anna.id);
    let body = json!({"languages": ["uk", "ko"]});
    let (status, answer) = api::api(&app, "PUT", &path, Some(&boss), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["languages"], json!(["uk", "ko"]));
    for bad in [
        json!({"languages": []}),
        json!({"languages": ["ru", "ru"]}),
        json!({"languages": ["<script>"]}),
        json!({"languages": ["x".repeat(10_000)]}),
        json!({"languages": "ru"}),
        json!({"languages": ["ru"], "role": "supervisor"}),
    ] {
        let (status, answer) = api::api(&app, "PUT", &path, Some(&boss), Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let (status, _) = api::api(
        &app,
        "PUT",
        "/api/users/999999/languages",
        Some(&boss),
        Some(json!({"languages": ["ru"]})),
    )
    .await;
    assert_eq!(status, 404);
    let now = app.storage.person(anna.id).await.unwrap().unwrap();
    assert_eq!(now.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["uk", "ko"]);

    let path = format!("/api/audit?actor={}", boss_person.id);
    let (_, log) = api::api(&app, "GET", &path, Some(&boss), None).await;
    let lines: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().into(), e["detail"].as_str().unwrap().into()))
        .collect();
    let expected = |action: &str, detail: String| (action.to_owned(), detail);
    assert_eq!(
        lines,
        [
            expected(
                "user.languages",
                format!("user={} name=anna languages=uk,ko was=ru", anna.id)
            ),
            expected("user.password-reset", format!("user={} name=anna", anna.id)),
        ]
    );
}
