//! The real `hotline serve` process, killed and stopped while calls are under way: what was
//! acknowledged is kept, and calls in progress carry on with the next process.
//!
//! These tests drive the built binary (not an in-process server), because what they check is
//! what survives the process: `kill -9` leaves only what is on disk.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::process::{Setup, healthy};
use common::provider::{Endpoint, Ledger, next_request, path_of, spawn_callers};
use common::{Context, TOKEN, assert_valid_twiml, new_call_sid};
use hotline::domain::cases::{CallSid, CallStatus};
use hotline::simulator;
use hotline::storage::Storage;

/// How long a simulated caller takes between two requests of a call.
const LISTENING: Duration = Duration::from_millis(15);

/// Many calls against the real binary, `kill -9` in the middle, a restart on the same
/// database: every acknowledged request's records are in the database, calls in progress go
/// on, and every case ends with its final status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_calls_loses_nothing_acknowledged() {
    let setup = Setup::new();
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let server = setup.start(&[]);
    // The fallback URL is on the same server: the one restarted after the kill.
    let endpoint = Endpoint { base_url: server.base_url.clone(), port: setup.port };
    // Callers who hardly listen: many requests in flight at the kill.
    let callers = spawn_callers(&endpoint, &endpoint, LISTENING, &ledger, &stop);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Half the callers are listening to a prompt, the others are in the middle of requests.
    ledger.hold.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_kill = ledger.acknowledged.lock().unwrap().len();
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = setup.start(&[]);
    ledger.epoch.store(1, Ordering::Relaxed);
    ledger.hold.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.join().expect("a caller failed");
    }
    assert_eq!(server.terminate().code(), Some(0));

    // Everything acknowledged, by either process, is in the database.
    let storage = Storage::open(&setup.db_path(), common::storage_options()).await.unwrap();
    let kept = ledger.kept_in(&storage).await;
    let (calls, acknowledged) =
        (ledger.calls.load(Ordering::Relaxed), ledger.acknowledged.lock().unwrap().len());
    println!(
        "crash test: {calls} calls, {acknowledged} requests acknowledged ({before_kill} before \
         kill -9), {} events stored, {} requests cut by the kill, {} calls through the fallback \
         URL, {} calls continued on the new process, events lost: {}",
        kept.events,
        ledger.cut.load(Ordering::Relaxed),
        ledger.fell_back.load(Ordering::Relaxed),
        ledger.continued.load(Ordering::Relaxed),
        kept.lost.len(),
    );
    assert!(kept.lost.is_empty(), "acknowledged but not stored: {:#?}", kept.lost);
    assert!(ledger.continued.load(Ordering::Relaxed) > 0, "no call spanned the restart");
    assert!(before_kill > 0 && acknowledged > before_kill, "the test drove too little");
    assert_eq!(storage.recent_cases(100_000).await.unwrap().len(), kept.calls);
    let journal = common::journal_records(&setup.journal_path());
    assert!(journal.is_empty(), "the journal was not emptied at shutdown");
}

/// SIGTERM while a request is half received and the database is locked: the request is
/// still answered, and the journal is flushed into the database before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_in_flight_and_flushes_the_journal() {
    let setup = Setup::new();
    let server = setup.start(&[("HOTLINE_DATABASE_BUSY_TIMEOUT_MS", "200")]);

    // Another program holds the database: a first call is journaled.
    let blocker = rusqlite::Connection::open(setup.db_path()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let first = new_call_sid();
    let params = |sid: &str| {
        vec![
            ("CallSid".to_owned(), sid.to_owned()),
            ("From".to_owned(), "+79161234567".to_owned()),
            ("FromCountry".to_owned(), "RU".to_owned()),
        ]
    };
    let reply = tokio::task::spawn_blocking({
        let (base, params) = (server.base_url.clone(), params(&first));
        move || simulator::post(&base, "/voice/incoming", Some(TOKEN), &params).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    let journal = common::journal_records(&setup.journal_path());
    assert!(!journal.is_empty(), "the locked database's records were not journaled");

    // A second call's request is on its way: headers sent, half of the body.
    let second = new_call_sid();
    let body: String =
        form_urlencoded::Serializer::new(String::new()).extend_pairs(params(&second)).finish();
    let url = format!("{}/voice/incoming", server.base_url);
    let signature = hotline::signature::compute(TOKEN.as_bytes(), &url, &params(&second));
    let mut stream = TcpStream::connect(("127.0.0.1", setup.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stream,
        "POST /voice/incoming HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\nX-Twilio-Signature: \
         {signature}\r\nConnection: close\r\n\r\n{}",
        setup.port,
        body.len(),
        &body[..body.len() / 2]
    )
    .unwrap();
    stream.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut server = server;
    server.send_sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "exited with a request in flight");
    // The lock goes away while the server drains; the rest of the request arrives.
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    stream.write_all(&body.as_bytes()[body.len() / 2..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let document = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    assert_valid_twiml(document, Context::Call);

    assert_eq!(server.wait().code(), Some(0));
    let journal = common::journal_records(&setup.journal_path());
    assert!(journal.is_empty(), "the journal was not flushed before exit");
    let storage = Storage::open(&setup.db_path(), common::storage_options()).await.unwrap();
    for sid in [first, second] {
        let case = storage.case_by_call(&CallSid::parse(&sid).unwrap()).await.unwrap();
        let case = case.unwrap_or_else(|| panic!("no case for {sid}"));
        assert!(case.events.iter().any(|e| e.step == 0), "{sid} has no events");
    }
}

/// Calls cut by `kill -9` whose final status callbacks never come (the provider sent them
/// while the server was down): after the restart, the recovery closes their cases as
/// `lost` once they have been silent for longer than any real call can be, leaves a call
/// that is still going alone, and a status callback that arrives later still corrects one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_closes_calls_whose_status_callback_was_lost() {
    let setup = Setup::new();
    // The bound is then 1 s of queue wait + 0 s of conversation + 15 s in flight; rounds
    // every 4 s.
    let short =
        [("HOTLINE_QUEUES_MAX_WAIT_SECS", "1"), ("HOTLINE_QUEUES_MAX_CONVERSATION_SECS", "0")];
    let server = setup.start(&short);
    let base_url = server.base_url.clone();
    let post = |sid: &str, path: &str, extra: &[(&str, &str)]| {
        let mut params = vec![
            ("CallSid".to_owned(), sid.to_owned()),
            // One number per call: a number has a limit of calls at once.
            (
                "From".to_owned(),
                format!(
                    "+7916{:07}",
                    u32::from_str_radix(&sid[sid.len() - 6..], 16).unwrap() % 10_000_000
                ),
            ),
            ("FromCountry".to_owned(), "RU".to_owned()),
        ];
        params.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let reply = simulator::post(&base_url, path, Some(TOKEN), &params).unwrap();
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply
    };

    // Calls in the middle of the IVR when the server dies: a first webhook and a key.
    let cut: Vec<String> = (0..4).map(|_| new_call_sid()).collect();
    for sid in &cut {
        let reply = post(sid, "/voice/incoming", &[]);
        let (next, _) = next_request(&reply.body, "1").expect("the language menu gathers");
        post(sid, &path_of(&next), &[("Digits", "1")]);
    }
    // A call that ended properly before the crash.
    let ended = new_call_sid();
    post(&ended, "/voice/incoming", &[]);
    let completed = [("CallStatus", "completed"), ("CallDuration", "30"), ("SequenceNumber", "2")];
    post(&ended, "/voice/status", &completed);
    let killed_at = Instant::now();
    server.kill();
    // The cut calls end while nothing listens: their status callbacks are dropped.

    let server = setup.start(&short);
    let storage = Storage::open(&setup.db_path(), common::storage_options()).await.unwrap();
    let case = |sid: &str| {
        let (storage, sid) = (storage.clone(), CallSid::parse(sid).unwrap());
        async move { storage.case_by_call(&sid).await.unwrap().expect("the call has its case") }
    };
    let mut closed = 0;
    while closed < cut.len() {
        assert!(killed_at.elapsed() < Duration::from_secs(60), "the recovery closed {closed}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        closed = 0;
        for sid in &cut {
            closed += usize::from(case(sid).await.status == Some(CallStatus::Lost));
        }
    }
    println!(
        "recovery: {} cut calls closed as lost {:.1} s after kill -9 (bound 16 s, rounds \
         every 4 s)",
        cut.len(),
        killed_at.elapsed().as_secs_f64()
    );
    for sid in &cut {
        let case = case(sid).await;
        assert!(case.ended_at.is_some(), "{sid} is lost but has no end");
        let marks: Vec<_> = case
            .events
            .iter()
            .filter(|e| matches!(e.event, hotline::domain::cases::Event::StatusLost { .. }))
            .collect();
        assert_eq!(marks.len(), 1, "{sid}: {:?}", case.events);
        // The events from before the crash are all still there.
        assert!(case.events.iter().any(|e| e.step == 0) && case.events.iter().any(|e| e.step == 1));
    }
    let untouched = case(&ended).await;
    assert_eq!(untouched.status, Some(CallStatus::Completed));
    assert_eq!(untouched.duration_secs, Some(30));

    // A call that starts now is silent for less than the bound through the next rounds.
    let fresh = new_call_sid();
    post(&fresh, "/voice/incoming", &[]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let alive = case(&fresh).await;
    assert_eq!(alive.status, None, "a live call was closed");
    assert_eq!(alive.ended_at, None);

    // The provider's status callback for a cut call comes after all (a retry): it wins.
    let late = [("CallStatus", "completed"), ("CallDuration", "95"), ("SequenceNumber", "3")];
    post(&cut[0], "/voice/status", &late);
    // Delivered twice, and a stale non-final one: nothing moves.
    post(&cut[0], "/voice/status", &late);
    post(&cut[0], "/voice/status", &[("CallStatus", "in-progress"), ("SequenceNumber", "1")]);
    let corrected = case(&cut[0]).await;
    assert_eq!(corrected.status, Some(CallStatus::Completed));
    assert_eq!(corrected.duration_secs, Some(95));
    assert!(corrected.ended_at.is_some());
    // The timeline keeps that it was lost for a while.
    assert!(
        corrected
            .events
            .iter()
            .any(|e| matches!(e.event, hotline::domain::cases::Event::StatusLost { .. }))
    );
    // The next rounds leave the corrected and the lost cases as they are.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(case(&cut[0]).await.status, Some(CallStatus::Completed));
    let marks = case(&cut[1])
        .await
        .events
        .iter()
        .filter(|e| matches!(e.event, hotline::domain::cases::Event::StatusLost { .. }))
        .count();
    assert_eq!(marks, 1, "a lost case was closed twice");
    assert_eq!(server.terminate().code(), Some(0));
}

/// SIGTERM while another program holds the database's write lock and 40 calls are under way:
/// the process still exits, with 0, within its grace period (what is pending stays in the
/// journal for the next start instead of waiting on the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_database_locked_ends_within_the_grace_period() {
    const GRACE_SECS: u64 = 3;
    const CALLERS: usize = 40;
    let setup = Setup::new();
    let grace = GRACE_SECS.to_string();
    let mut server = setup.start(&[
        ("HOTLINE_SERVER_SHUTDOWN_GRACE_SECS", &grace),
        ("HOTLINE_WEBHOOKS_CALLS_PER_CALLER", "1000"),
    ]);
    let blocker = rusqlite::Connection::open(setup.db_path()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU32::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (stop, answered, base_url) =
                (Arc::clone(&stop), Arc::clone(&answered), server.base_url.clone());
            std::thread::spawn(move || {
                // Bounded: a call is a handful of requests, and the server stops in seconds.
                for _ in 0..1000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let options = simulator::CallOptions {
                        base_url: base_url.clone(),
                        auth_token: Some(TOKEN.into()),
                        from: "+79161234567".into(),
                        to: "+18005550100".into(),
                        from_country: Some("RU".into()),
                        call_sid: Some(new_call_sid()),
                        presses: Some(simulator::parse_presses("1,1,1,1").unwrap()),
                        queue_waits: 1,
                        max_requests: 20,
                    };
                    let (mut input, mut out) = (std::io::empty(), Vec::new());
                    if simulator::run(&options, &mut input, &mut out).is_err() {
                        break;
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let signalled = Instant::now();
    server.send_sigterm();
    let status = server.wait();
    let took = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.join().unwrap();
    }
    println!(
        "SIGTERM with the database locked: exited in {} ms (grace {GRACE_SECS} s) after {} \
         whole calls; {} records left in the journal",
        took.as_millis(),
        answered.load(Ordering::Relaxed),
        common::journal_records(&setup.journal_path()).len()
    );
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(GRACE_SECS) + Duration::from_millis(1500), "{took:?}");
    assert!(!common::journal_records(&setup.journal_path()).is_empty(), "nothing journaled");
    blocker.execute_batch("ROLLBACK").unwrap();
}

/// `hotline serve` started while another program holds the database's write lock (a backup,
/// a `sqlite3` shell): it starts, answers calls from its journal, and catches up once the lock
/// is gone, as a running server does. (A schema migration due is the exception: start waits.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_under_another_programs_write_lock_and_catches_up() {
    let setup = Setup::new();
    // A first start creates and migrates the database.
    assert_eq!(setup.start(&[]).terminate().code(), Some(0));

    let blocker = rusqlite::Connection::open(setup.db_path()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let server = setup.start(&[]);
    let sid = new_call_sid();
    let params = vec![
        ("CallSid".to_owned(), sid.clone()),
        ("From".to_owned(), "+79161234567".to_owned()),
        ("FromCountry".to_owned(), "RU".to_owned()),
    ];
    let reply = tokio::task::spawn_blocking({
        let base = server.base_url.clone();
        move || simulator::post(&base, "/voice/incoming", Some(TOKEN), &params).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_valid_twiml(&reply.body, Context::Call);
    assert!(!common::journal_records(&setup.journal_path()).is_empty(), "not journaled");

    blocker.execute_batch("ROLLBACK").unwrap();
    let storage = Storage::open(&setup.db_path(), common::storage_options()).await.unwrap();
    let released = Instant::now();
    let sid = CallSid::parse(&sid).unwrap();
    while storage.case_by_call(&sid).await.unwrap().is_none() {
        assert!(released.elapsed() < Duration::from_secs(15), "the journal was not replayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.terminate().code(), Some(0));
}

/// A SIGTERM while the server is still starting (here it waits for another program's write
/// lock to migrate the schema; elsewhere its port may already take connections) stops it
/// cleanly, as one after the start does, instead of killing it with the default handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_server_starts_stops_it_cleanly() {
    let setup = Setup::new();
    assert_eq!(setup.start(&[]).terminate().code(), Some(0));
    // One migration behind (the readiness probe's table), and the write lock held.
    let behind = rusqlite::Connection::open(setup.db_path()).unwrap();
    let version: u32 = behind.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    behind.execute_batch("DROP TABLE ready_probe").unwrap();
    behind.pragma_update(None, "user_version", version - 1).unwrap();
    behind.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let server = setup.spawn(&[]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!healthy(setup.port), "started without migrating");
    assert_eq!(server.terminate().code(), Some(0), "SIGTERM while starting");
}
