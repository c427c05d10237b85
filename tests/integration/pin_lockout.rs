//! PIN guessing on the operator line is locked out: wrong PINs count per operator ID and per
//! calling number across calls and restarts; a locked ID answers exactly like a wrong PIN,
//! whether or not it exists; supervisors see the locks (wall board, /metrics, audit log) and
//! lift them (CLI, API, console), operators cannot. Real server, signed webhooks.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::api::{self, TEST_PASSWORD, TEST_PIN};
use common::console::Browser;
use common::{TestApp, call_params, said, shipped_scripts, start, with};
use hotline::app::Clock;
use hotline::config::Config;
use hotline::domain::audit::{AuditFilter, AuditRecord};
use hotline::domain::people::{Person, Role};
use sha2::{Digest, Sha256};

/// A PIN no test person has.
const WRONG_PIN: &str = "000000";

/// The scraper's token of these tests' `/metrics`.
const SCRAPER: &str = "scrape-token-for-the-lockout-tests";

/// The configuration of a test server whose database is in `dir`, kept across a restart.
fn config_in(dir: &Path) -> Config {
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = dir.join("hotline.db");
    config.scripts.dir = shipped_scripts();
    let digest = Sha256::digest(SCRAPER.as_bytes());
    config.metrics.token_sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    config
}

async fn spawn() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    start(config_in(dir.path()), dir).await
}

/// Stops the server and starts a new one on the same database.
async fn restart(app: TestApp) -> TestApp {
    let dir = app.stop().await;
    start(config_in(dir.path()), dir).await
}

/// The `n`th calling number of a test: every call of an attacker can come from a new one.
fn number(n: u32) -> String {
    format!("+3805012{n:05}")
}

/// The answer to `pin` typed for operator ID `id` on a new call from `from`, at the PIN step
/// of the first try (what the line asks after the ID).
async fn dial(app: &TestApp, id: i64, pin: &str, from: &str) -> String {
    let sid = common::new_call_sid();
    let base = call_params(&sid);
    let path = format!("/voice/operator/pin?try=1&op={id}");
    let reply = app.post(&path, &with(&base, &[("From", from), ("Digits", pin)])).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Whether an answer signs the operator in.
fn welcomed(doc: &str) -> bool {
    said(doc).iter().any(|s| s.starts_with("Welcome"))
}

/// Types `count` wrong PINs for `id`, each on a new call from a number of its own (so only
/// the ID's count grows), numbers from `first` on.
async fn wrong_pins(app: &TestApp, id: i64, count: u32, first: u32) {
    for n in first..first + count {
        let doc = dial(app, id, WRONG_PIN, &number(n)).await;
        assert!(!welcomed(&doc), "{doc}");
    }
}

async fn audit(app: &TestApp, action: &str) -> Vec<AuditRecord> {
    let filter = AuditFilter { action: Some(action.into()), limit: 100, ..Default::default() };
    app.storage.audit_log(filter).await.unwrap()
}

async fn operator(app: &TestApp, name: &str) -> (Person, String) {
    api::person(app, name, Role::Operator, &["ru"]).await
}

async fn supervisor(app: &TestApp, name: &str) -> (Person, String) {
    api::person(app, name, Role::Supervisor, &["ru"]).await
}

#[tokio::test]
async fn wrong_pins_across_calls_and_a_restart_lock_the_id_and_refuse_even_the_right_pin() {
    let app = spawn().await;
    let (anna, _) = operator(&app, "anna").await;
    // What a wrong PIN sounds like, on an ID nobody has (it locks nothing).
    let wrong = dial(&app, 4242, WRONG_PIN, &number(999)).await;

    wrong_pins(&app, anna.id, 3, 0).await;
    let app = restart(app).await;
    wrong_pins(&app, anna.id, 2, 3).await;

    // Five wrong PINs from five numbers: the ID is locked, the right PIN refused, word for
    // word as a wrong one.
    let during_lock = dial(&app, anna.id, TEST_PIN, &number(5)).await;
    assert_eq!(during_lock, wrong);
    assert!(!welcomed(&during_lock));

    let locked = audit(&app, "dial-in.locked").await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0].actor_id, None);
    let expected = format!("operator ID {} locked for 15 min (lock 1 in a row) after 5", anna.id);
    assert!(locked[0].detail.starts_with(&expected), "{}", locked[0].detail);
    let kept_out = audit(&app, "dial-in.locked-out").await;
    assert_eq!(kept_out.len(), 1, "{kept_out:?}");
    assert_eq!(kept_out[0].actor_id, Some(anna.id));
    for line in locked.iter().chain(&kept_out) {
        assert!(!line.detail.contains("38050") && !line.detail.contains(TEST_PIN), "{line:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_locked_id_answers_like_a_wrong_pin_whether_or_not_it_exists() {
    let app = spawn().await;
    let (anna, _) = operator(&app, "anna").await;
    let (boris, _) = operator(&app, "boris").await;
    let ghost = anna.id + 500;
    wrong_pins(&app, anna.id, 5, 0).await;
    wrong_pins(&app, ghost, 5, 10).await;

    let answers = [
        // Locked and existing, with the right PIN.
        dial(&app, anna.id, TEST_PIN, &number(20)).await,
        // Locked and existing, with a wrong PIN.
        dial(&app, anna.id, WRONG_PIN, &number(21)).await,
        // Locked, nobody's.
        dial(&app, ghost, TEST_PIN, &number(22)).await,
        // Not locked, nobody's.
        dial(&app, ghost + 1, TEST_PIN, &number(23)).await,
        // Not locked, existing, a wrong PIN.
        dial(&app, boris.id, WRONG_PIN, &number(24)).await,
    ];
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer, &answers[0], "answer {i} differs");
    }
    assert!(said(&answers[0]).contains(&"That operator number and PIN do not match.".into()));

    // Both locks are audited alike; another operator is not affected.
    let locked = audit(&app, "dial-in.locked").await;
    let mut ids: Vec<&str> = locked.iter().map(|l| &l.detail[..15]).collect();
    ids.sort();
    assert_eq!(ids, [format!("operator ID {}", anna.id), format!("operator ID {ghost}")]);
    assert!(welcomed(&dial(&app, boris.id, TEST_PIN, &number(25)).await));
    app.stop().await;
}

#[tokio::test]
async fn a_number_trying_many_ids_is_locked_and_withheld_numbers_share_one_count() {
    let app = spawn().await;
    let (anna, _) = operator(&app, "anna").await;
    let spraying = number(1);
    for id in 500..505 {
        dial(&app, id, WRONG_PIN, &spraying).await;
    }
    // That number cannot sign anyone in, even with the right PIN; another number can.
    assert!(!welcomed(&dial(&app, anna.id, TEST_PIN, &spraying).await));
    assert!(welcomed(&dial(&app, anna.id, TEST_PIN, &number(2)).await));
    let locked = audit(&app, "dial-in.locked").await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert!(
        locked[0].detail.starts_with("a calling number (last tried operator ID 504) locked"),
        "{}",
        locked[0].detail
    );

    // Hiding the number does not escape the count: every withheld number is one.
    for (id, hidden) in (600..605).zip(["anonymous", "", "Restricted", "+266696687", "private"]) {
        dial(&app, id, WRONG_PIN, hidden).await;
    }
    assert!(!welcomed(&dial(&app, anna.id, TEST_PIN, "unknown").await));
    assert!(welcomed(&dial(&app, anna.id, TEST_PIN, &number(3)).await));
    let locked = audit(&app, "dial-in.locked").await;
    assert!(locked[0].detail.starts_with("withheld numbers (last tried"), "{locked:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_supervisor_unlocks_through_the_api_and_the_sign_in_is_marked_an_operator_cannot() {
    let app = spawn().await;
    let (anna, anna_token) = operator(&app, "anna").await;
    let (_, boss_token) = supervisor(&app, "boss").await;
    wrong_pins(&app, anna.id, 5, 0).await;
    let path = format!("/api/users/{}/unlock", anna.id);

    // The locked operator, or any operator, cannot lift it.
    let (status, _) = api::api(&app, "POST", &path, Some(&anna_token), None).await;
    assert_eq!(status, 403);
    assert!(!welcomed(&dial(&app, anna.id, TEST_PIN, &number(10)).await));
    for (bad, expected) in [
        ("/api/users/abc/unlock", 400),
        ("/api/users/999999/unlock", 404),
        ("/api/users/-1/unlock", 404),
        ("/api/users/99999999999999999999999/unlock", 400),
    ] {
        let (status, body) = api::api(&app, "POST", bad, Some(&boss_token), None).await;
        assert_eq!(status, expected, "{bad}: {body}");
    }
    let (status, _) = api::api(&app, "POST", &path, None, None).await;
    assert_eq!(status, 401);

    let (status, body) = api::api(&app, "POST", &path, Some(&boss_token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["was_locked"], true);
    assert_eq!(body["person"]["id"], anna.id);
    assert!(welcomed(&dial(&app, anna.id, TEST_PIN, &number(11)).await));

    let unlocked = audit(&app, "dial-in.unlock").await;
    assert_eq!(unlocked.len(), 1, "{unlocked:?}");
    let expected = format!("user={} name=anna was locked", anna.id);
    assert!(unlocked[0].detail.starts_with(&expected), "{}", unlocked[0].detail);
    // The wrong PINs before the sign-in are marked; a later clean sign-in is not.
    let marked = audit(&app, "dial-in.accepted-after-failures").await;
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(marked[0].actor_id, Some(anna.id));
    assert!(marked[0].detail.contains("after 6 wrong PIN(s)"), "{}", marked[0].detail);
    assert!(welcomed(&dial(&app, anna.id, TEST_PIN, &number(12)).await));
    assert_eq!(audit(&app, "dial-in.accepted-after-failures").await.len(), 1);
    assert_eq!(audit(&app, "dial-in.accepted").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_console_shows_and_lifts_a_lock_for_supervisors_only() {
    let app = spawn().await;
    let (anna, _) = operator(&app, "anna").await;
    supervisor(&app, "boss").await;
    wrong_pins(&app, anna.id, 5, 0).await;
    let path = format!("/console/people/{}/unlock", anna.id);

    let mut op = Browser::login(&app, "anna", TEST_PASSWORD).await;
    assert_eq!(op.post(&path, &[]).await.status, 403);
    assert!(!welcomed(&dial(&app, anna.id, TEST_PIN, &number(10)).await));

    let mut boss = Browser::login(&app, "boss", TEST_PASSWORD).await;
    let people = boss.get("/console/people").await;
    assert!(people.body.contains("data-testid=\"pin-locked\""), "{}", people.body);
    assert!(people.body.contains(&format!("action=\"{path}\"")));
    for bad in ["/console/people/abc/unlock", "/console/people/0/unlock"] {
        assert_eq!(boss.post(bad, &[]).await.status, 400, "{bad}");
    }
    assert_eq!(boss.post("/console/people/999999/unlock", &[]).await.status, 404);
    let done = boss.post(&path, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(!boss.get("/console/people").await.body.contains("data-testid=\"pin-locked\""));
    assert!(welcomed(&dial(&app, anna.id, TEST_PIN, &number(11)).await));
    app.stop().await;
}

#[tokio::test]
async fn hotline_users_unlock_lifts_a_lock_from_the_shell() {
    let app = spawn().await;
    let (anna, _) = operator(&app, "anna").await;
    wrong_pins(&app, anna.id, 5, 0).await;
    let unlock = |name: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
        command.current_dir(app.dir.path()).env_remove("RUST_LOG");
        for (var, _) in std::env::vars().filter(|(var, _)| var.starts_with("HOTLINE_")) {
            command.env_remove(var);
        }
        command.env("HOTLINE_DATABASE_PATH", &app.db_path).args(["users", "unlock", name]);
        command.env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY);
        command.output().unwrap()
    };
    let nobody = unlock("nobody");
    assert_eq!(nobody.status.code(), Some(1));
    assert_eq!(unlock("no body").status.code(), Some(2));
    let done = unlock("anna");
    assert!(done.status.success(), "{done:?}");
    let out = String::from_utf8_lossy(&done.stdout);
    assert_eq!(out.trim(), format!("anna (id {}): unlocked", anna.id));
    assert!(welcomed(&dial(&app, anna.id, TEST_PIN, &number(10)).await));
    let unlocked = audit(&app, "dial-in.unlock").await;
    assert!(unlocked[0].detail.starts_with("cli user="), "{unlocked:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_wall_board_and_metrics_show_the_locks_of_the_moment() {
    let app = spawn().await;
    let (anna, anna_token) = operator(&app, "anna").await;
    let (_, boss_token) = supervisor(&app, "boss").await;
    let mut boss = Browser::login(&app, "boss", TEST_PASSWORD).await;
    assert!(!boss.get("/console/wallboard").await.body.contains("pin-locks"));
    let (status, none) = api::api(&app, "GET", "/api/pin-locks", Some(&boss_token), None).await;
    assert_eq!((status, none), (200, serde_json::json!({ "locks": [] })));

    wrong_pins(&app, anna.id, 5, 0).await;
    wrong_pins(&app, 777_777, 5, 10).await;
    let board = boss.get("/console/wallboard").await.body;
    assert!(board.contains("data-testid=\"pin-locks\""), "{board}");
    assert!(board.contains(&format!("Operator ID {} (anna): until", anna.id)), "{board}");
    assert!(board.contains("Operator ID 777777 (no such person): until"), "{board}");
    let live = boss.first_live_message("/console/wallboard/events").await;
    assert!(live.contains("pin-locks"), "{live}");
    // The same from the API, for supervisors only.
    let (status, listed) = api::api(&app, "GET", "/api/pin-locks", Some(&boss_token), None).await;
    assert_eq!(status, 200, "{listed}");
    let locks = listed["locks"].as_array().unwrap();
    let ids: Vec<_> =
        locks.iter().map(|l| (l["operator_id"].clone(), l["person"].clone())).collect();
    assert_eq!(locks.len(), 2, "{listed}");
    assert!(ids.contains(&(anna.id.into(), "anna".into())), "{listed}");
    assert!(ids.contains(&(777_777.into(), serde_json::Value::Null)), "{listed}");
    assert!(locks.iter().all(|l| l["kind"] == "operator-id" && l["locks_in_a_row"] == 1));
    assert!(locks.iter().all(|l| l["until"].as_str().is_some_and(|t| t.ends_with('Z'))));
    let (status, _) = api::api(&app, "GET", "/api/pin-locks", Some(&anna_token), None).await;
    assert_eq!(status, 403);
    let (status, _) = api::api(&app, "GET", "/api/pin-locks", None, None).await;
    assert_eq!(status, 401);

    let scrape = |token: &'static str| {
        let url = format!("{}/metrics", app.base_url);
        tokio::task::spawn_blocking(move || {
            let agent = ureq::Agent::config_builder().proxy(None).build().new_agent();
            let mut answer =
                agent.get(&url).header("Authorization", &format!("Bearer {token}")).call().unwrap();
            answer.body_mut().read_to_string().unwrap()
        })
    };
    let metrics = scrape(SCRAPER).await.unwrap();
    for line in [
        "hotline_pin_locks{kind=\"operator-id\"} 2",
        "hotline_pin_locks{kind=\"number\"} 0",
        "hotline_pin_locks{kind=\"withheld\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_lock_ends_when_the_hotlines_clock_has_passed_it() {
    // The use cases read one clock: moved on by the test, the lock's quarter of an hour
    // passes at once, and the first lock in a row is no longer than the policy says.
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(chrono::Utc::now());
    let app = common::start_with_clock(config_in(dir.path()), dir, clock.clone()).await;
    let (olga, _) = operator(&app, "olga").await;
    wrong_pins(&app, olga.id, 5, 600).await;
    assert!(!welcomed(&dial(&app, olga.id, TEST_PIN, &number(700)).await), "locked");
    clock.advance(chrono::Duration::minutes(14));
    assert!(!welcomed(&dial(&app, olga.id, TEST_PIN, &number(701)).await), "still locked");
    clock.advance(chrono::Duration::minutes(2));
    assert!(welcomed(&dial(&app, olga.id, TEST_PIN, &number(702)).await), "the lock ended");
    app.stop().await;
}
