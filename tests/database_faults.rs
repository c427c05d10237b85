//! The database breaks under a running server (read-only, or its file gone bad): callers
//! reaching the signed webhooks still hear the IVR, and their records land once the fault
//! clears. The journal-level tests (`src/storage/journal.rs`) show each fault's records in
//! order and exactly once; this is the same seen by a caller and an operator.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, spawn_app_and_its_storage};
use hotline::cases::{CallSid, Outcome};
use hotline::simulator::Heard;
use hotline::storage::{DatabaseFault, Storage};

async fn app() -> (TestApp, Storage) {
    spawn_app_and_its_storage(|c| {
        c.database.busy_timeout_ms = 20;
        c.database.write_deadline_ms = 200;
    })
    .await
}

/// What a caller heard up to the queue: the part that does not depend on the queue's
/// bookkeeping, which a broken database degrades on purpose (see `queues.db_timeout_ms`).
fn until_the_queue(heard: &[Heard]) -> Vec<Heard> {
    heard.iter().take_while(|h| !matches!(h, Heard::Enqueued { .. })).cloned().collect()
}

async fn survives(fault: impl FnOnce(&TestApp) -> DatabaseFault) {
    let (app, served) = app().await;
    // The same call with the database well: what the caller must hear anyway.
    let healthy = app.call("1,1,1,1", Some("RU")).await;

    let injected = served.inject_fault(fault(&app)).await.unwrap();
    let started = Instant::now();
    let broken = app.call("1,1,1,1", Some("RU")).await;
    let took = started.elapsed();
    assert_eq!(until_the_queue(&broken.heard), until_the_queue(&healthy.heard));
    assert!(broken.heard.iter().any(|h| matches!(h, Heard::Enqueued { .. })), "{broken:?}");
    assert_eq!(broken.requests, healthy.requests);
    let sid = CallSid::parse(&broken.call_sid).unwrap();
    // Nothing reached the database; all of it waits in the journal.
    assert!(app.storage.case_by_call(&sid).await.unwrap().is_none());
    let journal = app.db_path.with_extension("db.journal");
    let journaled = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert!(journaled >= 5, "{journaled} records journaled");

    served.clear_fault(injected).await.unwrap();
    // The replay (every 5 s) brings the records in.
    let cleared = Instant::now();
    let case = loop {
        let replayed = std::fs::read_to_string(&journal).unwrap_or_default().is_empty();
        if let (true, Some(case)) = (replayed, app.storage.case_by_call(&sid).await.unwrap()) {
            break case;
        }
        assert!(cleared.elapsed() < Duration::from_secs(20), "the journal was not replayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "database fault: a call of {} requests took {} ms on the journal ({journaled} records); \
         in the database {} ms after the fault cleared",
        broken.requests,
        took.as_millis(),
        cleared.elapsed().as_millis()
    );
    let expected = app.case(&healthy.call_sid).await;
    let tags: Vec<String> = case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    assert_eq!(tags, ["intent=surrender", "group=alone", "can_talk=yes"]);
    assert_eq!(case.tags, expected.tags);
    assert_eq!(case.events.len(), expected.events.len());
    assert!(matches!(case.outcome, Outcome::AbandonedInQueue { .. }), "{:?}", case.outcome);
    // Written once: no event twice.
    let mut keys: Vec<(u32, String)> =
        case.events.iter().map(|e| (e.step, format!("{:?}", e.event))).collect();
    let stored = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), stored, "an event was stored twice");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_under_a_running_server() {
    survives(|_| DatabaseFault::ReadOnly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_database_under_a_running_server() {
    survives(|app| DatabaseFault::Unavailable {
        not_a_database: app.dir.path().join("not-a-database"),
    })
    .await;
}
