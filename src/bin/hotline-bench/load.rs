//! The load generator: many simulated calls at once, each acted out by the crate's own
//! simulator over a shared pool of keep-alive connections, with every request timed.
//!
//! One thread per call in progress keeps that many calls open on the server (a call's steps
//! are spread over the whole run, as a real caller's are), while a gate bounds the requests in
//! flight, the way the provider bounds its connections, and can pace them to a fixed rate.

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::child::usage_of;
use hotline::simulator::{self, CallOptions, HttpTransport, Method, Reply, SimulatorError};

/// Stack of a simulated caller's thread: the simulator needs little, and 10,000 callers
/// must fit beside the server on a small machine.
const CALLER_STACK_BYTES: usize = 256 * 1024;

/// What one load run does.
#[derive(Debug, Clone)]
pub struct Load {
    /// The server's base URL.
    pub base_url: String,
    /// The auth token requests are signed with.
    pub auth_token: String,
    /// Calls kept in progress at once.
    pub calls: usize,
    /// Requests in flight at once, at most.
    pub concurrency: usize,
    /// `Some`: requests per second, paced; `None`: as fast as the server answers.
    pub rate: Option<f64>,
    /// Time to let the calls get going before measuring.
    pub warmup: Duration,
    /// How long to measure.
    pub measure: Duration,
    /// How long one request may take before it counts as failed.
    pub request_timeout: Duration,
}

/// What a load run measured.
#[derive(Debug, Default)]
pub struct Measured {
    /// Latencies in microseconds, per route (`/voice/menu`, …).
    pub latencies: BTreeMap<String, Vec<u64>>,
    /// Requests that got no answer or a failing status during the measurement.
    pub failures: u64,
    /// The first few failures, for the report.
    pub failure_samples: Vec<String>,
    /// Requests sent again because their connection was dropped without an answer (see
    /// [`Caller::send`]); not failures unless the second try failed too.
    pub retried: u64,
    /// Calls that ran to their end during the measurement.
    pub calls_completed: u64,
    /// The measurement's real length.
    pub elapsed: Duration,
    /// The server's CPU time during the measurement, in seconds (0 when not watched).
    pub server_cpu_secs: f64,
    /// The load generator's own CPU time during the measurement, in seconds: it shares the
    /// machine with the server.
    pub own_cpu_secs: f64,
}

impl Measured {
    /// Every request measured.
    pub fn requests(&self) -> usize {
        self.latencies.values().map(Vec::len).sum()
    }

    /// Requests per second over the measurement.
    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// All latencies, every route together.
    pub fn all(&self) -> Vec<u64> {
        self.latencies.values().flatten().copied().collect()
    }
}

/// The paths callers take through the shipped scripts: the language menu, the menus of each
/// language, invalid keys, silence, going back, the handoff and its wait, the voicemail,
/// hang-ups in the middle.
const PATHS: &[&str] = &[
    "1,1,1,1",      // Russian, surrender, alone, can talk: the handoff, then the wait
    "1,1,2,2,1",    // Russian, with others, cannot talk: voicemail
    "2,1,1,1",      // Korean, surrender: the handoff
    "2,7,1,hangup", // Korean, an invalid key, then hangs up in a menu
    "3,2,_,1",      // Ukrainian, relative, silence once
    "4,3",          // English, how prisoners are treated
    "4,1,*,1,2",    // English, surrender, goes back, with others
    "1,0",          // Russian, straight to an operator
    "8,1,1,hangup", // an invalid language key first
    "hangup",       // hangs up at the language menu
];

/// Countries the provider reports; `None` is a withheld or unknown origin.
const COUNTRIES: &[Option<&str>] = &[Some("RU"), Some("KP"), Some("UA"), None, Some("RU")];

/// Runs `load` and returns what it measured, with the CPU time of the server process
/// `server_pid` during the measurement.
pub fn run(load: &Load, server_pid: Option<u32>) -> Measured {
    let gate = Arc::new(Gate::new(load.concurrency.max(1), load.rate));
    let shared = Arc::new(Shared {
        recording: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        calls_completed: AtomicU64::new(0),
        measured: Mutex::new(Measured::default()),
    });
    let transport = HttpTransport::pooled(
        Some(&load.auth_token),
        load.concurrency.max(1),
        load.request_timeout,
    );
    let mut callers = Vec::with_capacity(load.calls);
    for index in 0..load.calls {
        let caller = Caller {
            index,
            base_url: load.base_url.clone(),
            inner: transport.clone(),
            gate: Arc::clone(&gate),
            shared: Arc::clone(&shared),
            local: BTreeMap::new(),
            failures: Vec::new(),
            retried: 0,
        };
        let spawned = thread::Builder::new()
            .name(format!("caller-{index}"))
            .stack_size(CALLER_STACK_BYTES)
            .spawn(move || caller.run());
        match spawned {
            Ok(handle) => callers.push(handle),
            Err(e) => {
                eprintln!("hotline-bench: could not start caller {index}: {e}; running with fewer");
                break;
            }
        }
    }
    thread::sleep(load.warmup);
    let cpu = |pid: Option<u32>| pid.and_then(|pid| usage_of(pid).ok()).map_or(0.0, |u| u.cpu_secs);
    let own_pid = Some(std::process::id());
    let (server_before, own_before) = (cpu(server_pid), cpu(own_pid));
    shared.recording.store(true, Ordering::SeqCst);
    let started = Instant::now();
    thread::sleep(load.measure);
    shared.recording.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed();
    let (server_cpu_secs, own_cpu_secs) =
        (cpu(server_pid) - server_before, cpu(own_pid) - own_before);
    shared.stop.store(true, Ordering::SeqCst);
    gate.release_all();
    for handle in callers {
        let _ = handle.join();
    }
    let mut measured = std::mem::take(&mut *lock(&shared.measured));
    measured.elapsed = elapsed;
    measured.server_cpu_secs = server_cpu_secs;
    measured.own_cpu_secs = own_cpu_secs;
    measured.calls_completed = shared.calls_completed.load(Ordering::SeqCst);
    measured
}

/// What the callers share.
struct Shared {
    /// Requests are timed only while this is set.
    recording: AtomicBool,
    /// Set at the end: callers stop at their next request.
    stop: AtomicBool,
    /// Calls that ended while recording.
    calls_completed: AtomicU64,
    /// Where each caller adds its latencies when it stops.
    measured: Mutex<Measured>,
}

/// One simulated caller: places calls one after the other until the run stops.
struct Caller {
    index: usize,
    base_url: String,
    inner: HttpTransport,
    gate: Arc<Gate>,
    shared: Arc<Shared>,
    /// This caller's latencies, merged at the end so timing takes no shared lock.
    local: BTreeMap<String, Vec<u64>>,
    failures: Vec<String>,
    /// Requests sent a second time after a dropped connection.
    retried: u64,
}

impl Caller {
    fn run(mut self) {
        let mut n = self.index;
        while !self.shared.stop.load(Ordering::SeqCst) {
            let path = PATHS[n % PATHS.len()];
            let options = CallOptions {
                base_url: self.base_url.clone(),
                auth_token: None, // the transport signs
                // Distinct numbers, so each caller's hash is its own.
                from: format!("+7916{:07}", n % 10_000_000),
                to: "+18005550100".into(),
                from_country: COUNTRIES[n % COUNTRIES.len()].map(str::to_owned),
                call_sid: None,
                presses: Some(simulator::parse_presses(path).unwrap_or_default()),
                queue_waits: 2,
                max_requests: 40,
            };
            let mut input = io::empty();
            let result = simulator::run_with(
                &options,
                &mut self,
                &mut input as &mut dyn BufRead,
                &mut io::sink(),
            );
            let recording = self.shared.recording.load(Ordering::SeqCst);
            match result {
                Ok(_) if recording => {
                    self.shared.calls_completed.fetch_add(1, Ordering::Relaxed);
                }
                // No answer and a failing status were counted where the request was sent;
                // what is left is the server's fault seen by the caller: TwiML the provider
                // could not act on, a URL it could not request, a call that never ends.
                Err(
                    e @ (SimulatorError::Twiml { .. }
                    | SimulatorError::InvalidUrl { .. }
                    | SimulatorError::TooManyRequests { .. }),
                ) if recording => self.failures.push(e.to_string()),
                _ => {}
            }
            n += 7919; // a prime step, so neighbouring callers take different paths
        }
        let mut measured = lock(&self.shared.measured);
        for (route, latencies) in self.local {
            measured.latencies.entry(route).or_default().extend(latencies);
        }
        measured.failures += self.failures.len() as u64;
        measured.retried += self.retried;
        for failure in self.failures {
            if measured.failure_samples.len() < 5 {
                measured.failure_samples.push(failure);
            }
        }
    }
}

impl simulator::Transport for Caller {
    fn send(
        &mut self,
        url: &str,
        method: Method,
        params: &[(String, String)],
    ) -> Result<Reply, SimulatorError> {
        let stopped =
            || SimulatorError::Transport { url: url.to_owned(), message: "the run is over".into() };
        if self.shared.stop.load(Ordering::SeqCst) {
            return Err(stopped());
        }
        let _permit = self.gate.enter(&self.shared.stop).ok_or_else(stopped)?;
        let recording = self.shared.recording.load(Ordering::SeqCst);
        let started = Instant::now();
        let mut result = self.inner.send(url, method, params);
        if let Err(SimulatorError::Transport { .. }) = &result
            && !self.shared.stop.load(Ordering::SeqCst)
        {
            // A kept-alive connection the server closed for idleness just as this request
            // went out on it (on a loaded machine a caller can sit idle past the server's
            // header timeout) is dropped without an answer. The provider sends such a
            // request again, and so does the benchmark, once; the time of both counts.
            self.retried += 1;
            result = self.inner.send(url, method, params);
        }
        let micros = started.elapsed().as_micros() as u64;
        if recording && self.shared.recording.load(Ordering::SeqCst) {
            match &result {
                Ok(reply) if reply.status == 200 => {
                    self.local.entry(route_of(url)).or_default().push(micros);
                }
                Ok(reply) => {
                    self.failures.push(format!("{}: HTTP {}", route_of(url), reply.status))
                }
                Err(e) => self.failures.push(e.to_string()),
            }
        }
        result
    }
}

/// The route of a URL: its path without the query (`/voice/menu`).
fn route_of(url: &str) -> String {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = path.find('/').map_or("/", |slash| &path[slash..]);
    path.split('?').next().unwrap_or(path).to_owned()
}

/// Bounds the requests in flight and, when given a rate, spaces their starts evenly.
struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
    limit: usize,
    interval: Option<Duration>,
}

struct GateState {
    in_flight: usize,
    next_start: Instant,
    closed: bool,
}

/// A request's place in flight; leaving frees it.
struct Permit<'a>(&'a Gate);

impl Gate {
    fn new(limit: usize, rate: Option<f64>) -> Gate {
        Gate {
            state: Mutex::new(GateState {
                in_flight: 0,
                next_start: Instant::now(),
                closed: false,
            }),
            freed: Condvar::new(),
            limit,
            interval: rate.filter(|r| *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r)),
        }
    }

    /// Waits for a place (and the next paced start); `None` once the run is over.
    fn enter(&self, stop: &AtomicBool) -> Option<Permit<'_>> {
        let mut state = lock(&self.state);
        while state.in_flight >= self.limit && !state.closed {
            state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.closed || stop.load(Ordering::SeqCst) {
            return None;
        }
        state.in_flight += 1;
        let start = match self.interval {
            Some(interval) => {
                let now = Instant::now();
                // A slot missed is not made up with a burst.
                let start = state.next_start.max(now);
                state.next_start = start + interval;
                Some(start)
            }
            None => None,
        };
        drop(state);
        let permit = Permit(self);
        if let Some(start) = start {
            thread::sleep(start.saturating_duration_since(Instant::now()));
        }
        Some(permit)
    }

    /// Wakes every waiting caller at the end of the run.
    fn release_all(&self) {
        lock(&self.state).closed = true;
        self.freed.notify_all();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).in_flight -= 1;
        self.0.freed.notify_one();
    }
}

/// A lock, even if a caller panicked holding it: the numbers are still worth printing.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `q` quantile (0..=1) of sorted latencies.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_drop_host_and_query() {
        assert_eq!(route_of("http://127.0.0.1:9/voice/menu?l=ru&n=main&s=3"), "/voice/menu");
        assert_eq!(route_of("http://127.0.0.1:9"), "/");
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&sorted, 0.5), 50);
        assert_eq!(quantile(&sorted, 0.99), 99);
        assert_eq!(quantile(&sorted, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn every_path_parses() {
        for path in PATHS {
            assert!(simulator::parse_presses(path).is_ok(), "{path}");
        }
    }
}
