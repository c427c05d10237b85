//! What the caller and the case keep when things behind the webhook go wrong: a locked
//! database, a restart in the middle of a call.

use crate::common;

use common::{Context, TOKEN, assert_valid_twiml, new_call_sid, spawn_app_with};
use hotline::config::Config;
use hotline::domain::cases::{CallSid, Outcome};
use hotline::simulator;
use hotline::storage::Storage;

#[tokio::test]
async fn a_locked_database_does_not_fail_the_call_and_loses_nothing() {
    let app = spawn_app_with(|c| {
        c.database.busy_timeout_ms = 20;
        c.database.write_deadline_ms = 200;
    })
    .await;
    // Another program holds the write lock (a backup, a stuck tool).
    let blocker = rusqlite::Connection::open(&app.db_path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let transcript = app.call("1,1,1,1", None).await;
    assert!(transcript.requests >= 5);
    let journal = app.db_path.with_extension("db.journal");
    let journaled = common::journal_records(&journal);
    assert!(journaled.len() >= 5, "{journaled:?}");
    let bytes = String::from_utf8_lossy(&std::fs::read(&journal).unwrap()).into_owned();
    assert!(!bytes.contains("9161234567"), "the journal holds a phone number");

    // The lock goes away; at the latest at shutdown the journal reaches the database.
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    let db_path = app.db_path.clone();
    let sid = transcript.call_sid.clone();
    let dir = app.stop().await;

    let storage = Storage::open(&db_path, common::storage_options()).await.unwrap();
    let case =
        storage.case_by_call(&CallSid::parse(&sid).unwrap()).await.unwrap().expect("case recorded");
    let tags: Vec<String> = case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    assert_eq!(tags, ["intent=surrender", "group=alone", "can_talk=yes"]);
    assert_eq!(case.outcome, Outcome::AbandonedInQueue { queue: "ru".into() });
    assert!(common::journal_records(&dir.path().join("hotline.db.journal")).is_empty());
}

#[tokio::test]
async fn a_call_in_progress_continues_after_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = dir.path().join("hotline.db");
    config.scripts.dir = common::shipped_scripts();
    let sid = new_call_sid();
    let params = |extra: &[(&str, &str)]| {
        let mut p = vec![
            ("CallSid".to_owned(), sid.clone()),
            ("From".to_owned(), "+380441234567".to_owned()),
        ];
        p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        p
    };
    let post = |base: String, path: &'static str, params: Vec<(String, String)>| async move {
        tokio::task::spawn_blocking(move || {
            simulator::post(&base, path, Some(TOKEN), &params).unwrap()
        })
        .await
        .unwrap()
    };

    let first = common::start(config.clone(), tempfile::tempdir().unwrap()).await;
    let reply =
        post(first.base_url.clone(), "/voice/incoming", params(&[("FromCountry", "UA")])).await;
    assert_valid_twiml(&reply.body, Context::Call);
    first.stop().await;

    // A new process, a new port: the call's next request still makes sense, because its
    // position travels in the URL the provider was given.
    let second = common::start(config.clone(), tempfile::tempdir().unwrap()).await;
    let reply = post(
        second.base_url.clone(),
        "/voice/menu?lang=uk&node=main&attempt=1&step=1",
        params(&[("Digits", "3")]),
    )
    .await;
    assert_valid_twiml(&reply.body, Context::Call);
    assert!(reply.body.contains("node=treatment-more"), "{}", reply.body);
    let case = second.case(&sid).await;
    assert_eq!(case.tags.len(), 1);
    assert_eq!(case.language.unwrap().as_str(), "uk");
    second.stop().await;
}

/// The provider gives up on a webhook after 15 seconds. A database that makes every write
/// wait (a lock held for a long time, a stalled disk) must not bring any answer near that,
/// however many calls arrive meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_cannot_make_a_webhook_miss_the_providers_limit() {
    const PROVIDER_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);
    let app = spawn_app_with(|c| {
        // Every write waits out a lock for longer than the provider would wait.
        c.database.busy_timeout_ms = 20_000;
        // The simulated calls all come from one number.
        c.webhooks.calls_per_caller = 100;
    })
    .await;
    let blocker = rusqlite::Connection::open(&app.db_path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let app = std::sync::Arc::new(app);
    let calls: Vec<_> = (0..24)
        .map(|n| {
            let app = std::sync::Arc::clone(&app);
            tokio::spawn(async move {
                let presses = ["1,1,1,1", "1,1,2,2,1", "2,1", "3,1,1"][n % 4];
                let started = std::time::Instant::now();
                let transcript = app.call(presses, Some("RU")).await;
                (transcript.requests, started.elapsed())
            })
        })
        .collect();
    let mut requests = 0;
    let mut slowest_call = std::time::Duration::ZERO;
    for call in calls {
        let (made, took) = call.await.unwrap();
        requests += made;
        slowest_call = slowest_call.max(took);
    }
    // The simulator fails a call on any request over 20 s or any answer that is not TwiML;
    // each call's requests are sequential, so the whole call bounds each of its requests.
    println!(
        "stalled database: 24 calls, {requests} requests, all answered; slowest whole call {} ms",
        slowest_call.as_millis()
    );
    assert!(slowest_call < PROVIDER_LIMIT, "a call took {slowest_call:?}");
    let journal = common::journal_records(&app.db_path.with_extension("db.journal"));
    assert!(journal.len() >= requests as usize, "records not journaled");
    blocker.execute_batch("COMMIT").unwrap();
}
