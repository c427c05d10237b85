//! The real `hotline serve` process, killed and stopped while calls are under way: what was
//! acknowledged is kept, and calls in progress carry on with the next process.
//!
//! These tests drive the built binary (not an in-process server), because what they check is
//! what survives the process: `kill -9` leaves only what is on disk.

use crate::common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Context, TOKEN, assert_valid_twiml, new_call_sid};
use hotline::domain::cases::{CallSid, CallStatus};
use hotline::simulator::{self, Reply};
use hotline::storage::Storage;

/// The step of the emergency answer (see `webhooks/voice.rs`): a call that hears it has lost
/// its place in the script.
const EMERGENCY_STEP: &str = "step=2000000000";

/// How long a simulated caller takes between two requests of a call.
const LISTENING: Duration = Duration::from_millis(15);

/// A `hotline serve` process on a fixed port and database.
struct Server {
    child: Child,
    base_url: String,
}

/// What every start of the server shares: where it listens and keeps its data.
struct Setup {
    dir: tempfile::TempDir,
    port: u16,
}

impl Setup {
    fn new() -> Setup {
        // A free port, kept across restarts: the provider calls one public URL, and
        // signatures are computed over it.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Setup { dir: tempfile::tempdir().unwrap(), port }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("hotline.db")
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.path().join("data").join("hotline.db.journal")
    }

    /// Starts `hotline serve` and waits until it answers.
    fn start(&self, extra_env: &[(&str, &str)]) -> Server {
        let server = self.spawn(extra_env);
        let waited = Instant::now();
        while !healthy(self.port) {
            assert!(waited.elapsed() < Duration::from_secs(20), "the server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Starts `hotline serve` without waiting for it.
    fn spawn(&self, extra_env: &[(&str, &str)]) -> Server {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
        command
            .arg("serve")
            // No config.toml there: the built-in defaults, then the variables below.
            .current_dir(self.dir.path())
            .env_clear()
            .env("HOTLINE_SERVER_LISTEN", &listen)
            .env("HOTLINE_DATABASE_PATH", self.db_path())
            .env("HOTLINE_SCRIPTS_DIR", common::shipped_scripts())
            .env("HOTLINE_AUTH_TOKEN", TOKEN)
            .env("HOTLINE_CALLER_HASH_KEY", "test-caller-hash-key-0123456789")
            .env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the hotline binary starts");
        Server { child, base_url: format!("http://{listen}") }
    }
}

impl Server {
    /// `kill -9`: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the process to exit.
    fn terminate(mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait()
    }

    fn send_sigterm(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn wait(&mut self) -> ExitStatus {
        let waited = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(waited.elapsed() < Duration::from_secs(30), "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET /health` answers on the port.
fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /health HTTP/1.0\r\nHost: hotline\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// One request a caller's provider made that was answered 200: its records must be in the
/// database.
#[derive(Debug, Clone)]
struct Acknowledged {
    call_sid: String,
    /// The step the request's events are stored under; `None` for a status callback.
    step: Option<u32>,
    path: String,
}

/// What the callers drove, shared by their threads.
#[derive(Default)]
struct Ledger {
    acknowledged: Mutex<Vec<Acknowledged>>,
    calls: AtomicU32,
    /// Requests with no answer because the server was killed under them.
    cut: AtomicU32,
    /// Calls whose next request went to a new process after the one before was killed.
    continued: AtomicU32,
    /// Which process is up: 0, then 1 after the restart.
    epoch: AtomicU32,
    /// While set, patient callers stay on the line between two requests (a long prompt).
    hold: AtomicBool,
    /// Calls that went through the fallback URL after a request was cut.
    fell_back: AtomicU32,
}

/// The step a request's events go under, read from the URL we gave the provider (`step=`),
/// as the server does: 0 for the voice URL.
fn step_of(path: &str) -> Option<u32> {
    if path.starts_with("/voice/incoming") {
        return Some(0);
    }
    let (_, query) = path.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "step")
        .and_then(|(_, v)| v.parse().ok())
}

/// The next request a provider makes after a document, and the parameters it adds: the
/// Gather's action with a key, a Redirect, or the Enqueue's action when the caller hangs up
/// in the queue. `None` when the document ends the call.
fn next_request(document: &str, key: &str) -> Option<(String, Vec<(String, String)>)> {
    let doc = roxmltree::Document::parse(document).ok()?;
    let verbs: Vec<_> = doc.root_element().children().filter(|n| n.is_element()).collect();
    let attr = |name: &str, attr: &str| {
        verbs
            .iter()
            .find(|v| v.tag_name().name() == name)
            .and_then(|v| v.attribute(attr))
            .map(str::to_owned)
    };
    if let Some(action) = attr("Gather", "action") {
        return Some((action, vec![("Digits".into(), key.into())]));
    }
    if let Some(target) = verbs.iter().find(|v| v.tag_name().name() == "Redirect") {
        return Some((target.text()?.to_owned(), Vec::new()));
    }
    if let Some(action) = attr("Enqueue", "action") {
        let left = vec![("QueueResult".into(), "hangup".into()), ("QueueTime".into(), "2".into())];
        return Some((action, left));
    }
    None
}

/// Strips the scheme and host, keeping path and query (the test posts to whichever process
/// is up, on the same public URL).
fn path_of(url: &str) -> String {
    match url.find("://") {
        Some(scheme) => {
            let rest = &url[scheme + 3..];
            rest.find('/').map_or_else(|| "/".to_owned(), |slash| rest[slash..].to_owned())
        }
        None => url.to_owned(),
    }
}

/// A caller's provider: sends one request, and when the server is gone, waits for it to be
/// back and reports the request as cut.
struct Caller {
    base_url: String,
    port: u16,
    call_sid: String,
    ledger: Arc<Ledger>,
    /// Listens to long prompts: is between two requests when the server is killed.
    patient: bool,
    /// The caller's number: one per caller thread, so each has one call at a time.
    from: String,
}

impl Caller {
    fn params(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        let mut params = vec![
            ("CallSid".to_owned(), self.call_sid.clone()),
            ("From".to_owned(), self.from.clone()),
            ("To".to_owned(), "+18005550100".to_owned()),
            ("FromCountry".to_owned(), "RU".to_owned()),
        ];
        params.extend_from_slice(extra);
        params
    }

    /// Posts; `Some(reply)` when answered (which must then be a 200 with valid TwiML),
    /// `None` when the server was killed under the request.
    fn post(&self, path: &str, extra: &[(String, String)]) -> Option<Reply> {
        match simulator::post(&self.base_url, path, Some(TOKEN), &self.params(extra)) {
            Ok(reply) => {
                assert_eq!(reply.status, 200, "{path}: {}", reply.body);
                assert_valid_twiml(&reply.body, Context::Call);
                let step = if path.starts_with("/voice/status") { None } else { step_of(path) };
                self.ledger.acknowledged.lock().unwrap().push(Acknowledged {
                    call_sid: self.call_sid.clone(),
                    step,
                    path: path.to_owned(),
                });
                Some(reply)
            }
            Err(_) => {
                self.ledger.cut.fetch_add(1, Ordering::Relaxed);
                let waited = Instant::now();
                while !healthy(self.port) {
                    assert!(waited.elapsed() < Duration::from_secs(30), "no server came back");
                    std::thread::sleep(Duration::from_millis(20));
                }
                None
            }
        }
    }

    /// One whole call: the voice URL, keys at each menu, a hang-up in the queue or at the end,
    /// and the status callback. A request cut by the crash is followed, as the provider
    /// does, by the fallback URL.
    fn call(&self, keys: &[&str]) {
        self.ledger.calls.fetch_add(1, Ordering::Relaxed);
        let mut path = "/voice/incoming".to_owned();
        let mut extra = Vec::new();
        let mut keys = keys.iter().copied();
        let mut key = keys.next();
        // The process that answered this call's last request, until a request is cut.
        let mut answered_by = None;
        for _ in 0..40 {
            let epoch = self.ledger.epoch.load(Ordering::Relaxed);
            let reply = match self.post(&path, &extra) {
                Some(reply) => {
                    // Wherever the call is, the next process knows its place from the URL.
                    assert!(!reply.body.contains(EMERGENCY_STEP), "{path}: {}", reply.body);
                    if answered_by.is_some_and(|before| before < epoch) {
                        self.ledger.continued.fetch_add(1, Ordering::Relaxed);
                    }
                    answered_by = Some(epoch);
                    reply
                }
                None => {
                    self.ledger.fell_back.fetch_add(1, Ordering::Relaxed);
                    answered_by = None;
                    let failed = format!("{}{path}", self.base_url);
                    let fallback = [
                        ("ErrorUrl".to_owned(), failed),
                        ("ErrorCode".to_owned(), "11200".to_owned()),
                    ];
                    self.post("/voice/fallback", &fallback).expect("the restarted server answers")
                }
            };
            let Some((next, params)) = next_request(&reply.body, key.unwrap_or("0")) else {
                break;
            };
            if params.iter().any(|(k, _)| k == "Digits") {
                match key {
                    Some(_) => key = keys.next(),
                    // Out of keys: the caller hangs up at this menu.
                    None => break,
                }
            }
            path = path_of(&next);
            extra = params;
            // The caller listens to the prompt before pressing: a kill then often falls
            // between two requests of a call, whose next request meets the new process.
            std::thread::sleep(LISTENING);
            while self.patient && self.ledger.hold.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let status = [
            ("CallStatus".to_owned(), "completed".to_owned()),
            ("CallDuration".to_owned(), "42".to_owned()),
            ("SequenceNumber".to_owned(), "1".to_owned()),
        ];
        while self.post("/voice/status", &status).is_none() {}
    }
}

/// Many calls against the real binary, `kill -9` in the middle, a restart on the same
/// database: every acknowledged request's records are in the database, calls in progress go
/// on, and every case ends with its final status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_calls_loses_nothing_acknowledged() {
    let setup = Setup::new();
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let server = setup.start(&[]);
    let base_url = server.base_url.clone();

    // Paths through the Russian script: deep menus, the queue, a voicemail, a hang-up early.
    let paths: &[&[&str]] =
        &[&["1", "1", "1", "1"], &["1", "1", "2", "2", "1"], &["2", "1"], &["1"], &["3", "1", "1"]];
    let callers: Vec<_> = (0..12)
        .map(|n| {
            let (ledger, stop, base_url) =
                (Arc::clone(&ledger), Arc::clone(&stop), base_url.clone());
            let port = setup.port;
            let keys = paths[n % paths.len()];
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let caller = Caller {
                        base_url: base_url.clone(),
                        port,
                        call_sid: new_call_sid(),
                        ledger: Arc::clone(&ledger),
                        patient: n % 2 == 0,
                        from: format!("+7916{n:07}"),
                    };
                    caller.call(keys);
                }
            })
        })
        .collect();

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
    let acknowledged = ledger.acknowledged.lock().unwrap().clone();
    let mut by_call: HashMap<String, Vec<Acknowledged>> = HashMap::new();
    for ack in acknowledged.iter() {
        by_call.entry(ack.call_sid.clone()).or_default().push(ack.clone());
    }
    let mut lost = Vec::new();
    let mut events = 0;
    for (sid, acks) in &by_call {
        let Some(case) = storage.case_by_call(&CallSid::parse(sid).unwrap()).await.unwrap() else {
            lost.extend(acks.iter().map(|a| a.path.clone()));
            continue;
        };
        events += case.events.len();
        for ack in acks {
            let kept = match ack.step {
                Some(step) => case.events.iter().any(|e| e.step == step),
                None => case.status.is_some_and(CallStatus::is_final),
            };
            if !kept {
                lost.push(format!("{sid} {}", ack.path));
            }
        }
        // Consistent: every call ended with a status callback, so every case is closed.
        assert_eq!(case.status, Some(CallStatus::Completed), "case of {sid} left open");
    }
    let calls = ledger.calls.load(Ordering::Relaxed);
    println!(
        "crash test: {calls} calls, {} requests acknowledged ({before_kill} before kill -9), \
         {events} events stored, {} requests cut by the kill, {} calls through the fallback \
         URL, {} calls continued on the new process, events lost: {}",
        acknowledged.len(),
        ledger.cut.load(Ordering::Relaxed),
        ledger.fell_back.load(Ordering::Relaxed),
        ledger.continued.load(Ordering::Relaxed),
        lost.len(),
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:#?}");
    assert!(ledger.continued.load(Ordering::Relaxed) > 0, "no call spanned the restart");
    assert!(before_kill > 0 && acknowledged.len() > before_kill, "the test drove too little");
    assert_eq!(storage.recent_cases(100_000).await.unwrap().len(), by_call.len());
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
