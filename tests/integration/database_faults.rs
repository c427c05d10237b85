//! The database breaks under a running server (read-only, or its file gone bad): callers
//! reaching the signed webhooks still hear the IVR, and their records land once the fault
//! clears. The journal-level tests (`src/storage/journal.rs`) show each fault's records in
//! order and exactly once; this is the same seen by a caller and an operator. Queue
//! bookkeeping acknowledged during a fault (a caller hanging up in the queue, an operator
//! hanging up the operator line) goes through the journal too: no ghost caller afterwards.

use crate::common;

use std::time::{Duration, Instant};

use common::api::{self, TEST_PIN};
use common::{
    Context, TestApp, assert_valid_twiml, attribute, new_call_sid, said, spawn_app_and_its_storage,
    text,
};
use hotline::domain::cases::{CallSid, Outcome};
use hotline::domain::people::Role;
use hotline::domain::queue::EntryState;
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
    let journaled = common::journal_records(&journal).len();
    assert!(journaled >= 5, "{journaled} records journaled");

    served.clear_fault(injected).await.unwrap();
    // The replay (every 5 s) brings the records in.
    let cleared = Instant::now();
    let case = loop {
        let replayed = common::journal_records(&journal).is_empty();
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

/// A fault of the running server's database, for the queue tests: another program's lock,
/// or the writer made read-only.
#[derive(Clone, Copy)]
enum QueueFault {
    Locked,
    ReadOnly,
}

/// A fault in place until [`Held::clear`].
enum Held {
    Lock(rusqlite::Connection),
    Injected(hotline::storage::InjectedFault),
}

impl QueueFault {
    async fn hold(self, app: &TestApp, served: &Storage) -> Held {
        match self {
            QueueFault::Locked => {
                let blocker = rusqlite::Connection::open(&app.db_path).unwrap();
                blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
                Held::Lock(blocker)
            }
            QueueFault::ReadOnly => {
                Held::Injected(served.inject_fault(DatabaseFault::ReadOnly).await.unwrap())
            }
        }
    }
}

impl Held {
    async fn clear(self, served: &Storage) {
        match self {
            Held::Lock(blocker) => blocker.execute_batch("COMMIT").unwrap(),
            Held::Injected(injected) => served.clear_fault(injected).await.unwrap(),
        }
    }
}

async fn queue_app() -> (TestApp, Storage) {
    spawn_app_and_its_storage(|c| {
        c.database.busy_timeout_ms = 20;
        c.database.write_deadline_ms = 200;
        c.queues.db_timeout_ms = 300;
    })
    .await
}

/// A Russian caller straight to an operator; returns their call and the Enqueue document.
async fn enqueued_caller(app: &TestApp) -> (String, String) {
    let sid = new_call_sid();
    let mut doc = app.post_call("/voice/incoming", &sid, &[]).await;
    for key in ["1", "0"] {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = app.post_call(&action, &sid, &[("Digits", key)]).await;
    }
    assert!(text(&doc, "Enqueue").is_some_and(|q| q.starts_with("c-")), "{doc}");
    (sid, doc)
}

/// The operator line up to the PIN; returns the document after it.
async fn dial_in(app: &TestApp, op_sid: &str, id: i64) -> String {
    let start = app.post_call("/voice/operator", op_sid, &[]).await;
    let action = attribute(&start, "Gather", "action").unwrap();
    let asked_pin = app.post_call(&action, op_sid, &[("Digits", &id.to_string())]).await;
    let action = attribute(&asked_pin, "Gather", "action").unwrap();
    let doc = app.post_call(&action, op_sid, &[("Digits", TEST_PIN)]).await;
    assert_valid_twiml(&doc, Context::Call);
    doc
}

async fn entry_state(app: &TestApp, sid: &str) -> EntryState {
    let sid = CallSid::parse(sid).unwrap();
    app.storage.queue_entry_of_call(&sid).await.unwrap().expect("a queue entry").state
}

/// A caller waits; the database breaks; they hang up (the Enqueue action and the final status
/// are both answered); the fault clears; an operator dials in at once, before the journal's
/// periodic replay, and must not be handed the caller who left.
async fn no_ghost_after(fault: QueueFault) {
    let (app, served) = queue_app().await;
    let (olga, _) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let (gone, enqueued) = enqueued_caller(&app).await;
    assert_eq!(entry_state(&app, &gone).await, EntryState::Waiting);

    let held = fault.hold(&app, &served).await;
    let action = attribute(&enqueued, "Enqueue", "action").unwrap();
    let left = app.post_call(&action, &gone, &[("QueueResult", "hangup"), ("QueueTime", "7")]);
    assert_valid_twiml(&left.await, Context::Call);
    let status = [("CallStatus", "completed"), ("CallDuration", "30")];
    assert_valid_twiml(&app.post_call("/voice/status", &gone, &status).await, Context::Call);
    assert_eq!(entry_state(&app, &gone).await, EntryState::Waiting, "the fault held the write");
    held.clear(&served).await;

    let answer = dial_in(&app, &new_call_sid(), olga.id).await;
    assert_eq!(text(&answer, "Queue").as_deref(), Some("ru"), "not the ghost's queue: {answer}");
    assert!(!said(&answer).join(" ").contains("Case"), "no whisper of a ghost: {answer}");
    assert_eq!(entry_state(&app, &gone).await, EntryState::Left);
    let case = app.case(&gone).await;
    assert!(matches!(case.outcome, Outcome::AbandonedInQueue { .. }), "{:?}", case.outcome);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_the_database_is_locked_is_not_handed_to_an_operator() {
    no_ghost_after(QueueFault::Locked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_the_database_is_read_only_is_not_handed_to_an_operator() {
    no_ghost_after(QueueFault::ReadOnly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_who_hangs_up_while_the_database_is_locked_goes_offline_afterwards() {
    let (app, served) = queue_app().await;
    let (olga, _) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let (_, boss) = api::person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let (waiting, enqueued) = enqueued_caller(&app).await;
    let op_sid = new_call_sid();
    let answer = dial_in(&app, &op_sid, olga.id).await;
    assert_eq!(text(&answer, "Queue"), text(&enqueued, "Enqueue"), "{answer}");
    assert_eq!(entry_state(&app, &waiting).await, EntryState::Connecting);

    let held = QueueFault::Locked.hold(&app, &served).await;
    let status = [("CallStatus", "completed"), ("CallDuration", "12")];
    let reply = app.post_call("/voice/operator/status", &op_sid, &status).await;
    assert_valid_twiml(&reply, Context::Call);
    held.clear(&served).await;

    // The next decision that reads the queue comes after the journal: a colleague dialling in
    // is given the caller Olga never took, and Olga reads offline.
    let (anna, _) = api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let answer = dial_in(&app, &new_call_sid(), anna.id).await;
    assert_eq!(text(&answer, "Queue"), text(&enqueued, "Enqueue"), "{answer}");
    let (_, people) = api::api(&app, "GET", "/api/operators", Some(&boss), None).await;
    let olga_now = people.as_array().unwrap().iter().find(|p| p["id"] == olga.id).unwrap();
    assert_eq!(olga_now["state"], "offline");
    app.stop().await;
}

/// The database and its journal share a small disk, which fills up while 40 calls go on. Every
/// call is answered, and once space is freed every step the server acknowledged is in the
/// database: the journal wrote into space it owned from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_no_acknowledged_record() {
    const CALLS: usize = 40;
    let disk = common::SmallDisk::mount(12);
    let db = disk.path().join("hotline.db");
    let (app, _) = spawn_app_and_its_storage(|c| {
        c.database.path = db.clone();
        c.database.busy_timeout_ms = 20;
        c.database.write_deadline_ms = 200;
        c.database.journal_reserve_mb = 4;
        c.queues.db_timeout_ms = 300;
        c.webhooks.calls_per_caller = 100;
    })
    .await;
    let healthy = app.call("1,1,1,1", Some("RU")).await;
    let expected = app.case(&healthy.call_sid).await.events.len();
    let filler = disk.fill();

    let app = std::sync::Arc::new(app);
    let started = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let app = std::sync::Arc::clone(&app);
            tokio::spawn(async move { app.call("1,1,1,1", Some("RU")).await })
        })
        .collect();
    let mut placed = Vec::new();
    for call in calls {
        placed.push(call.await.unwrap());
    }
    let took = started.elapsed();
    let journal = db.with_extension("db.journal");
    let journaled = common::journal_records(&journal).len();
    assert!(journaled > 0, "the disk was full, yet nothing was journaled");

    std::fs::remove_file(filler).unwrap();
    let freed = Instant::now();
    while !common::journal_records(&journal).is_empty() {
        if freed.elapsed() > Duration::from_secs(30) {
            // What holds the disk says why (once, the write-ahead log had taken it all).
            let ls = std::process::Command::new("ls").arg("-l").arg(disk.path()).output();
            let ls = ls.map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
            panic!("the journal was not replayed; the disk holds:\n{}", ls.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut events = 0;
    for call in &placed {
        let case = app.case(&call.call_sid).await;
        assert_eq!(case.events.len(), expected, "a step of {} was lost", call.call_sid);
        events += case.events.len();
    }
    println!(
        "full disk: {CALLS} calls answered in {} ms, {journaled} records journaled, \
         {events} events stored after space was freed ({} ms later)",
        took.as_millis(),
        freed.elapsed().as_millis()
    );
    let app = std::sync::Arc::into_inner(app).expect("the calls are done");
    app.stop().await;
}

/// A start that must migrate the schema while another program holds the write lock waits for
/// the lock (nothing can be served under a schema this build does not know), then migrates
/// and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_with_a_migration_due_waits_for_the_lock_then_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotline.db");
    // A database one migration behind: the newest migration's tables (the duties' leases and
    // the data keys' floors, 0019) not there yet.
    let storage = Storage::open(&db, common::storage_options()).await.unwrap();
    drop(storage);
    let behind = rusqlite::Connection::open(&db).unwrap();
    let version: u32 = behind.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    behind.execute_batch("DROP TABLE leases; DROP TABLE data_key_floors;").unwrap();
    behind.pragma_update(None, "user_version", version - 1).unwrap();
    behind.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let mut config = hotline::config::Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = db.clone();
    config.database.busy_timeout_ms = 20;
    config.scripts.dir = common::shipped_scripts();
    let starting = tokio::spawn(common::start(config, dir));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!starting.is_finished(), "started without migrating");

    behind.execute_batch("COMMIT").unwrap();
    let app = tokio::time::timeout(Duration::from_secs(10), starting).await.unwrap().unwrap();
    let check = rusqlite::Connection::open(&db).unwrap();
    let now: u32 = check.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(now, version);
    let transcript = app.call("1,1,1,1", Some("RU")).await;
    assert!(transcript.requests >= 5);
    app.stop().await;
}

/// The database is too slow at a handoff, so the caller goes to the shared queue; their late
/// queue entry lands after all, and the database fails again at once. Closing that entry goes
/// through the journal, so no operator is later handed a caller who is not in their queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_queue_entry_is_closed_through_the_journal_when_the_database_fails_again() {
    let (app, served) = spawn_app_and_its_storage(|c| {
        // Long enough for the entry to land once the lock goes, far past the handoff's wait.
        c.database.busy_timeout_ms = 5000;
        c.database.write_deadline_ms = 200;
        c.queues.db_timeout_ms = 300;
    })
    .await;
    api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let sid = new_call_sid();
    let doc = app.post_call("/voice/incoming", &sid, &[]).await;
    let action = attribute(&doc, "Gather", "action").expect("the language menu");
    let doc = app.post_call(&action, &sid, &[("Digits", "1")]).await;
    let action = attribute(&doc, "Gather", "action").expect("the Russian menu");

    let blocker = rusqlite::Connection::open(&app.db_path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let handed = app.post_call(&action, &sid, &[("Digits", "0")]).await;
    assert_eq!(text(&handed, "Enqueue").as_deref(), Some("ru"), "the shared queue: {handed}");
    // Queued at the writer behind the late entry: read-only as soon as the entry is in.
    let faulting = tokio::spawn({
        let served = served.clone();
        async move { served.inject_fault(DatabaseFault::ReadOnly).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    blocker.execute_batch("COMMIT").unwrap();
    let injected = faulting.await.unwrap();
    let journal = app.db_path.with_extension("db.journal");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !common::journal_records(&journal).iter().any(|r| r.contains("degraded")) {
        assert!(Instant::now() < deadline, "the late entry's closing was never journaled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served.clear_fault(injected).await.unwrap();

    let db_path = app.db_path.clone();
    let _dir = app.stop().await;
    let storage = Storage::open(&db_path, common::storage_options()).await;
    let sid = CallSid::parse(&sid).unwrap();
    let entry = storage.unwrap().queue_entry_of_call(&sid).await.unwrap().expect("the late entry");
    assert_ne!(entry.state, EntryState::Waiting, "a ghost caller waits for an operator");
}
