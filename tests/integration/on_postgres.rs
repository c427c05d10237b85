//! The hotline with its cases in PostgreSQL (`database.url`), on a real server started by
//! `tests/postgres/cluster`: a database `hotline migrate-db` moved there, served from there;
//! and two servers sharing one database, as a line on two machines runs, each answering any
//! step of any call.

use std::path::Path;

use crate::common::api::{api, person};
use crate::common::binary::printed;
use crate::common::postgres::Postgres;
use crate::common::{self, TestApp, attribute};
use crate::migrate_db::{NOTE, filled, migrate, path, voicemail_case};
use hotline::domain::cases::CallSid;
use hotline::domain::people::Role;
use hotline::storage::DATA_KEYS_FILE;

/// A server on the PostgreSQL database `url`, with a copy of the data keys at `keys` (when
/// given) in its own data folder, as each machine of a line keeps one.
async fn serving(url: &str, keys: Option<&Path>) -> TestApp {
    let (config, dir) = common::test_config(|config| config.database.url = url.to_owned());
    if let Some(keys) = keys {
        std::fs::copy(keys, config.database.path.with_file_name(DATA_KEYS_FILE)).unwrap();
    }
    common::start(config, dir).await
}

#[tokio::test]
async fn a_database_moved_to_postgresql_is_served_from_there() {
    let (dir, db, number) = filled().await;
    let pg = Postgres::single();
    let moved = migrate(dir.path(), path(&db), pg.uri());
    assert!(moved.status.success(), "{}", printed(&moved));
    let cases_before: u32 = pg.query("SELECT count(*) FROM cases").parse().unwrap();

    let app = serving(pg.uri(), Some(&db.with_file_name(DATA_KEYS_FILE))).await;
    let (_, token) = person(&app, "taras", Role::Supervisor, &["ru"]).await;
    let (status, body) =
        api(&app, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notes"][0]["text"], NOTE, "the note opens with the copied keys: {body}");

    // A new call is answered and kept there, not in a file.
    let new = voicemail_case(&app).await;
    let (status, body) = api(&app, "GET", &format!("/api/cases/{new}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "voicemail", "{body}");
    let cases_after: u32 = pg.query("SELECT count(*) FROM cases").parse().unwrap();
    assert_eq!(cases_after, cases_before + 1);
    assert!(!app.db_path.exists(), "no SQLite file is made beside the data keys");
    app.stop().await;
}

/// Follows one call through the menus, each request to the server `at(step)` names, as the
/// provider does when its primary URL fails over to the fallback.
async fn call_across(servers: [&TestApp; 2], sid: &str, keys: &[&str]) {
    let mut doc = servers[0].post_call("/voice/incoming", sid, &[]).await;
    for (n, key) in keys.iter().enumerate() {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = servers[(n + 1) % 2].post_call(&action, sid, &[("Digits", key)]).await;
    }
    let done = [("CallStatus", "completed"), ("CallDuration", "30")];
    servers[keys.len() % 2].post_call("/voice/status", sid, &done).await;
}

#[tokio::test]
async fn two_servers_on_one_database_answer_any_step_of_any_call() {
    let pg = Postgres::single();
    // The first server makes the schema and the data keys; the second gets a copy of them.
    let first = serving(pg.uri(), None).await;
    let keys = first.db_path.with_file_name(DATA_KEYS_FILE);
    let second = serving(pg.uri(), Some(&keys)).await;

    // Twelve calls at once, each step answered by the other server than the step before.
    let sids: Vec<String> = (0..12).map(|_| common::new_call_sid()).collect();
    let calls = sids.iter().enumerate().map(|(n, sid)| {
        let servers = if n % 2 == 0 { [&first, &second] } else { [&second, &first] };
        async move { call_across(servers, sid, &["1", "1", "2"]).await }
    });
    futures_util::future::join_all(calls).await;

    assert_eq!(pg.query("SELECT count(*) FROM cases"), "12", "one case per call");
    for sid in &sids {
        let call = CallSid::parse(sid).unwrap();
        let seen_by_first = first.storage.case_by_call(&call).await.unwrap().unwrap();
        let seen_by_second = second.storage.case_by_call(&call).await.unwrap().unwrap();
        assert_eq!(seen_by_first.number, seen_by_second.number);
        let steps: Vec<u32> = seen_by_first.events.iter().map(|e| e.step).collect();
        let mut distinct = steps.clone();
        distinct.dedup();
        assert_eq!(distinct, [0, 1, 2, 3], "every step once, in order: {steps:?}");
        assert_eq!(seen_by_first.events.len(), seen_by_second.events.len());
        assert!(seen_by_first.ended_at.is_some(), "the final status landed");
    }

    // Someone added on one server signs in on the other.
    let (_, token) = person(&first, "oksana", Role::Supervisor, &["ru"]).await;
    let number = first.case(&sids[0]).await.number.to_string();
    let (status, body) =
        api(&second, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    first.stop().await;
    second.stop().await;
}
