//! The provider's side of calls to `hotline serve` processes that die under them: callers
//! walking the shipped scripts as the provider does, on the voice URL's server and, when a
//! request gets no answer, on the fallback URL's; and a [`Ledger`] of every request that was
//! answered, checked against the database afterwards (what was acknowledged must be kept).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hotline::domain::cases::{CallSid, CallStatus};
use hotline::simulator::{self, Reply};
use hotline::storage::Storage;

use super::process::healthy;
use super::{Context, TOKEN, assert_valid_twiml, new_call_sid};

/// The step of the emergency answer (see `webhooks/voice.rs`): a call that hears it has lost
/// its place in the script. The fallback URL stores a request whose step it cannot tell there.
const EMERGENCY_STEP: u32 = 2_000_000_000;

/// Where the fallback URL stores its events: the failed request's step plus this (see
/// `webhooks/voice.rs`), apart from whatever the failed request stored before it died.
const FALLBACK_STEP_OFFSET: u32 = 1_000_000_000;

/// Paths through the Russian script: deep menus, the queue, a voicemail, a hang-up early.
const PATHS: &[&[&str]] =
    &[&["1", "1", "1", "1"], &["1", "1", "2", "2", "1"], &["2", "1"], &["1"], &["3", "1", "1"]];

/// One request a caller's provider made that was answered 200: its records must be in the
/// database.
#[derive(Debug, Clone)]
pub struct Acknowledged {
    pub call_sid: String,
    /// The step the request's events are stored under; `None` for a status callback.
    pub step: Option<u32>,
    pub path: String,
    /// When the request was sent.
    pub sent: Instant,
    /// How long its answer took.
    pub took: Duration,
}

/// What the callers drove, shared by their threads.
#[derive(Default)]
pub struct Ledger {
    pub acknowledged: Mutex<Vec<Acknowledged>>,
    pub calls: AtomicU32,
    /// Requests with no answer: the server was killed under them, or was gone.
    pub cut: AtomicU32,
    /// Calls whose next request went to a new process after the one before was killed.
    pub continued: AtomicU32,
    /// Which process is up: 0, then 1 after the restart.
    pub epoch: AtomicU32,
    /// While set, patient callers stay on the line between two requests (a long prompt).
    pub hold: AtomicBool,
    /// Calls that went through the fallback URL after a request was cut.
    pub fell_back: AtomicU32,
}

/// A server as the provider knows it: the URL it posts to, and the port to see it is up.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub port: u16,
}

/// What the database holds of what the callers were answered.
#[derive(Debug)]
pub struct Kept {
    /// Calls answered at least once, each with its case.
    pub calls: usize,
    /// The events of their cases.
    pub events: usize,
    /// Acknowledged requests whose records are missing.
    pub lost: Vec<String>,
}

impl Ledger {
    /// Every acknowledged request, looked up in the database: its call's case, the events
    /// of its step (a step of its own), and for a status callback the case's final status.
    /// Every call ended with its status callback, so every case must be closed as completed.
    pub async fn kept_in(&self, storage: &Storage) -> Kept {
        let mut by_call: HashMap<String, Vec<Acknowledged>> = HashMap::new();
        for ack in self.acknowledged.lock().unwrap().iter() {
            by_call.entry(ack.call_sid.clone()).or_default().push(ack.clone());
        }
        let (mut lost, mut events) = (Vec::new(), 0);
        for (sid, acks) in &by_call {
            // Two requests of a call answered at one step: the later one's events were taken
            // for a retry of the first's, and dropped.
            let mut steps = HashSet::new();
            for ack in acks {
                if let Some(step) = ack.step
                    && !steps.insert(step)
                {
                    lost.push(format!("{sid} {} (another request's step)", ack.path));
                }
            }
            let Some(case) = storage.case_by_call(&CallSid::parse(sid).unwrap()).await.unwrap()
            else {
                lost.extend(acks.iter().map(|a| format!("{sid} {} (no case)", a.path)));
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
            assert_eq!(case.status, Some(CallStatus::Completed), "case of {sid} left open");
        }
        Kept { calls: by_call.len(), events, lost }
    }

    /// The slowest answer to a request sent `during` that time.
    pub fn slowest(&self, during: Range<Instant>) -> Duration {
        let acknowledged = self.acknowledged.lock().unwrap();
        let sent = acknowledged.iter().filter(|a| during.contains(&a.sent));
        sent.map(|a| a.took).max().unwrap_or_default()
    }
}

/// The step a request's events go under, read from the URL we gave the provider (`step=`),
/// as the server does: 0 for the voice URL; for the fallback URL, the failed request's
/// step moved out of the way. `None` for a status callback, which records no step.
fn step_of(path: &str, params: &[(String, String)]) -> Option<u32> {
    if path.starts_with("/voice/status") {
        return None;
    }
    if path.starts_with("/voice/fallback") {
        // The failed request's step, read from its URL the same way: 0 for the voice URL.
        let failed = params.iter().find(|(k, _)| k == "ErrorUrl").map(|(_, v)| path_of(v));
        let failed_step =
            failed.and_then(|url| step_of(&url, &[])).filter(|s| *s < FALLBACK_STEP_OFFSET);
        return Some(failed_step.map_or(EMERGENCY_STEP, |step| step + FALLBACK_STEP_OFFSET));
    }
    if path.starts_with("/voice/incoming") {
        return Some(0);
    }
    query_step(path)
}

/// The `step=` of a URL's query.
fn query_step(url: &str) -> Option<u32> {
    let (_, query) = url.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "step")
        .and_then(|(_, v)| v.parse().ok())
}

/// The next request a provider makes after a document, and the parameters it adds: the
/// Gather's action with a key, a Redirect, or the Enqueue's action when the caller hangs up
/// in the queue. `None` when the document ends the call.
pub fn next_request(document: &str, key: &str) -> Option<(String, Vec<(String, String)>)> {
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
/// the call is on).
pub fn path_of(url: &str) -> String {
    match url.find("://") {
        Some(scheme) => {
            let rest = &url[scheme + 3..];
            rest.find('/').map_or_else(|| "/".to_owned(), |slash| rest[slash..].to_owned())
        }
        None => url.to_owned(),
    }
}

/// A caller's provider: sends each request of one call, and when the server does not
/// answer, reports the request as cut and goes on with the fallback URL's server.
struct Caller {
    /// The voice URL's server: every call starts there.
    primary: Endpoint,
    /// The fallback URL's server: it gets the request the primary left unanswered, and the
    /// call's later requests (the provider follows the URLs of the documents it gets). The
    /// primary again when the test restarts the same server.
    fallback: Endpoint,
    call_sid: String,
    ledger: Arc<Ledger>,
    /// Listens to long prompts: is between two requests when the server is killed.
    patient: bool,
    /// How long the caller listens to each prompt before the next request.
    listening: Duration,
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

    /// Posts to `at`; `Some(reply)` when answered (which must then be a 200 with valid
    /// TwiML), `None` when the server was killed under the request or is gone, once the
    /// fallback URL's server is up.
    fn post(&self, at: &Endpoint, path: &str, extra: &[(String, String)]) -> Option<Reply> {
        let sent = Instant::now();
        match simulator::post(&at.base_url, path, Some(TOKEN), &self.params(extra)) {
            Ok(reply) => {
                let took = sent.elapsed();
                assert_eq!(reply.status, 200, "{path}: {}", reply.body);
                assert_valid_twiml(&reply.body, Context::Call);
                self.ledger.acknowledged.lock().unwrap().push(Acknowledged {
                    call_sid: self.call_sid.clone(),
                    step: step_of(path, extra),
                    path: path.to_owned(),
                    sent,
                    took,
                });
                Some(reply)
            }
            Err(_) => {
                self.ledger.cut.fetch_add(1, Ordering::Relaxed);
                let waited = Instant::now();
                while !healthy(self.fallback.port) {
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
        let mut at = &self.primary;
        let mut path = "/voice/incoming".to_owned();
        let mut extra = Vec::new();
        let mut keys = keys.iter().copied();
        let mut key = keys.next();
        // The process that answered this call's last request, until a request is cut.
        let mut answered_by = None;
        for _ in 0..40 {
            let epoch = self.ledger.epoch.load(Ordering::Relaxed);
            let reply = match self.post(at, &path, &extra) {
                Some(reply) => {
                    // Wherever the call is, the next process knows its place from the URL.
                    let emergency = format!("step={EMERGENCY_STEP}");
                    assert!(!reply.body.contains(&emergency), "{path}: {}", reply.body);
                    if answered_by.is_some_and(|before| before < epoch) {
                        self.ledger.continued.fetch_add(1, Ordering::Relaxed);
                    }
                    answered_by = Some(epoch);
                    reply
                }
                None => {
                    self.ledger.fell_back.fetch_add(1, Ordering::Relaxed);
                    answered_by = None;
                    let failed = format!("{}{path}", at.base_url);
                    let fallback = [
                        ("ErrorUrl".to_owned(), failed),
                        ("ErrorCode".to_owned(), "11200".to_owned()),
                    ];
                    at = &self.fallback;
                    self.post(at, "/voice/fallback", &fallback).expect("the fallback URL answers")
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
            std::thread::sleep(self.listening);
            while self.patient && self.ledger.hold.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let status = [
            ("CallStatus".to_owned(), "completed".to_owned()),
            ("CallDuration".to_owned(), "42".to_owned()),
            ("SequenceNumber".to_owned(), "1".to_owned()),
        ];
        while self.post(at, "/voice/status", &status).is_none() {
            at = &self.fallback;
        }
    }
}

/// Twelve callers, each placing one call after another from a number of its own at
/// `primary` (falling back to `fallback`) until `stop` is set, `listening` to each prompt;
/// half of them patient. Join the threads to have every call finished, status callback
/// included.
pub fn spawn_callers(
    primary: &Endpoint,
    fallback: &Endpoint,
    listening: Duration,
    ledger: &Arc<Ledger>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    (0..12)
        .map(|n| {
            let (primary, fallback) = (primary.clone(), fallback.clone());
            let (ledger, stop) = (Arc::clone(ledger), Arc::clone(stop));
            let keys = PATHS[n % PATHS.len()];
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let caller = Caller {
                        primary: primary.clone(),
                        fallback: fallback.clone(),
                        call_sid: new_call_sid(),
                        ledger: Arc::clone(&ledger),
                        patient: n % 2 == 0,
                        listening,
                        from: format!("+7916{n:07}"),
                    };
                    caller.call(keys);
                }
            })
        })
        .collect()
}
