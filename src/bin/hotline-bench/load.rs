//! The load generator: many simulated calls at once, each acted out by the crate's own
//! simulator, quietly ([`simulator::run_quiet`]: no transcript is built), over a few
//! keep-alive HTTP/1.1 connections, with every request timed.
//!
//! Each call in progress is a task on one Tokio thread, so 10,000 calls cost memory, not
//! threads (a call's steps are spread over the whole run, as a real caller's are). The
//! requests go out over at most `concurrency` keep-alive connections of the bench's own lean
//! HTTP/1.1 client ([`crate::client`]),
//! which also bounds the requests in flight, the way the provider bounds its connections, and
//! can be paced to a fixed rate. The generator runs on one thread (a current-thread runtime)
//! so that the server under test keeps the other cores: measured on two cores against the
//! static baseline, a runtime with one worker thread did no better (30,000 requests/s
//! either way) and adds a hand-over between threads to every wake-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::child::usage_of;
use crate::client::{Connection, Failure, Outgoing};
use hotline::simulator::{
    self, CallOptions, DocumentCache, Method, Reply, Sending, SimulatorError, Transport,
    WireRequest,
};

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
    /// The call paths the callers take in turn ([`PATHS`], or one of them alone).
    pub paths: &'static [&'static str],
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
pub const PATHS: &[&str] = &[
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
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(generate(load, server_pid)),
        Err(e) => Measured {
            failures: 1,
            failure_samples: vec![format!("cannot start the load generator's runtime: {e}")],
            ..Measured::default()
        },
    }
}

/// The load run itself, on the generator's runtime.
async fn generate(load: &Load, server_pid: Option<u32>) -> Measured {
    let shared = Arc::new(Shared {
        recording: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        calls_completed: AtomicU64::new(0),
        measured: Mutex::new(Measured::default()),
    });
    let pool = match Pool::new(load) {
        Ok(pool) => Arc::new(pool),
        Err(e) => {
            return Measured { failures: 1, failure_samples: vec![e], ..Measured::default() };
        }
    };
    let paths = if load.paths.is_empty() { PATHS } else { load.paths };
    let mut callers = tokio::task::JoinSet::new();
    for index in 0..load.calls {
        let caller = Caller {
            index,
            base_url: load.base_url.clone(),
            paths,
            pool: Arc::clone(&pool),
            shared: Arc::clone(&shared),
            local: BTreeMap::new(),
            failures: Vec::new(),
            retried: 0,
        };
        callers.spawn(caller.run());
    }
    tokio::time::sleep(load.warmup).await;
    let cpu = |pid: Option<u32>| pid.and_then(|pid| usage_of(pid).ok()).map_or(0.0, |u| u.cpu_secs);
    let own_pid = Some(std::process::id());
    let (server_before, own_before) = (cpu(server_pid), cpu(own_pid));
    shared.recording.store(true, Ordering::SeqCst);
    let started = Instant::now();
    tokio::time::sleep(load.measure).await;
    shared.recording.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed();
    let (server_cpu_secs, own_cpu_secs) =
        (cpu(server_pid) - server_before, cpu(own_pid) - own_before);
    shared.stop.store(true, Ordering::SeqCst);
    // Callers waiting for a connection give up; those in flight end within their timeout.
    pool.places.close();
    while callers.join_next().await.is_some() {}
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
    paths: &'static [&'static str],
    pool: Arc<Pool>,
    shared: Arc<Shared>,
    /// This caller's latencies, merged at the end so timing takes no shared lock.
    local: BTreeMap<String, Vec<u64>>,
    failures: Vec<String>,
    /// Requests sent a second time after a dropped connection.
    retried: u64,
}

impl Caller {
    async fn run(mut self) {
        let mut n = self.index;
        while !self.shared.stop.load(Ordering::SeqCst) {
            let path = self.paths[n % self.paths.len()];
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
            let result = simulator::run_quiet(&options, &mut self).await;
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

    /// Sends one request through the pool, timed, and keeps its latency or its failure.
    async fn timed(
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
        let Ok(_place) = self.pool.places.acquire().await else {
            return Err(stopped());
        };
        if let Some(pacer) = &self.pool.pacer {
            tokio::time::sleep_until(pacer.next_slot(Instant::now()).into()).await;
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err(stopped());
            }
        }
        let token = Some(self.pool.auth_token.as_str());
        let recording = self.shared.recording.load(Ordering::SeqCst);
        let started = Instant::now();
        let wire = WireRequest::new(token, url, method, params);
        let mut result = self.pool.send(url, wire, Reuse::Idle).await;
        if let Err(Failure::Dropped(_)) = &result
            && !self.shared.stop.load(Ordering::SeqCst)
        {
            // A kept-alive connection the server closed for idleness just as this request
            // went out on it (on a loaded machine a caller can sit idle past the server's
            // header timeout) is dropped without an answer. The provider sends such a
            // request again, and so does the benchmark, once, on a new connection (the next
            // idle one may have been closed as well); the time of both counts.
            self.retried += 1;
            let wire = WireRequest::new(token, url, method, params);
            result = self.pool.send(url, wire, Reuse::New).await;
        }
        let micros = started.elapsed().as_micros() as u64;
        let result = result.map_err(|failure| SimulatorError::Transport {
            url: url.to_owned(),
            message: failure.to_string(),
        });
        if recording && self.shared.recording.load(Ordering::SeqCst) {
            match &result {
                // Looked up by the borrowed route: no allocation per request once it is known.
                Ok(reply) if reply.status == 200 => match self.local.get_mut(route_of(url)) {
                    Some(latencies) => latencies.push(micros),
                    None => {
                        self.local.insert(route_of(url).to_owned(), vec![micros]);
                    }
                },
                Ok(reply) => {
                    self.failures.push(format!("{}: HTTP {}", route_of(url), reply.status))
                }
                Err(e) => self.failures.push(e.to_string()),
            }
        }
        result
    }
}

impl Transport for Caller {
    fn send<'a>(
        &'a mut self,
        url: &'a str,
        method: Method,
        params: &'a [(String, String)],
    ) -> Sending<'a> {
        Box::pin(self.timed(url, method, params))
    }

    fn documents(&self) -> Option<&DocumentCache> {
        Some(&self.pool.documents)
    }
}

/// Which connection a request goes out on.
#[derive(Debug, Clone, Copy)]
enum Reuse {
    /// An idle one if there is one (most recently used first), else a new one.
    Idle,
    /// A new one.
    New,
}

/// The server's connections: at most `concurrency` of them, opened when needed and kept
/// alive, each carrying one request at a time, as HTTP/1.1 does.
struct Pool {
    /// The server's address.
    address: SocketAddr,
    /// `http://host:port`, the prefix every URL requested must have.
    origin: String,
    /// The `Host` header.
    host: String,
    auth_token: String,
    /// Connections not in use.
    idle: Mutex<Vec<Connection>>,
    /// Places in flight, one per connection; closed at the end of the run.
    places: Semaphore,
    /// Present when requests are paced.
    pacer: Option<Pacer>,
    request_timeout: Duration,
    /// The documents the callers have parsed: a line's menus come back byte for byte.
    documents: DocumentCache,
}

impl Pool {
    fn new(load: &Load) -> Result<Pool, String> {
        let origin = load.base_url.trim_end_matches('/');
        // The URL is echoed in errors, but not at any length.
        let shown: String = origin.chars().take(60).collect();
        let authority = origin
            .strip_prefix("http://")
            .filter(|rest| !rest.contains(['/', '?', '#']))
            .ok_or_else(|| format!("{shown}: the load generator needs http://address:port"))?;
        let address = authority
            .parse::<SocketAddr>()
            .map_err(|e| format!("{shown}: not an IP address and port: {e}"))?;
        let concurrency = load.concurrency.max(1);
        Ok(Pool {
            address,
            origin: origin.to_owned(),
            host: authority.to_owned(),
            auth_token: load.auth_token.clone(),
            idle: Mutex::new(Vec::with_capacity(concurrency)),
            places: Semaphore::new(concurrency),
            pacer: load.rate.and_then(Pacer::new),
            request_timeout: load.request_timeout,
            documents: DocumentCache::new(),
        })
    }

    /// Sends `wire` (a request to `url`) on an idle connection or a new one, as `reuse`
    /// says, within the request timeout.
    async fn send(&self, url: &str, wire: WireRequest, reuse: Reuse) -> Result<Reply, Failure> {
        match tokio::time::timeout(self.request_timeout, self.exchange(wire, reuse)).await {
            Ok(result) => result,
            Err(_) => {
                Err(Failure::Other(format!("{url}: no answer within {:?}", self.request_timeout)))
            }
        }
    }

    async fn exchange(&self, wire: WireRequest, reuse: Reuse) -> Result<Reply, Failure> {
        let path = wire
            .url
            .strip_prefix(&self.origin)
            .filter(|path| path.is_empty() || path.starts_with(['/', '?']))
            .ok_or_else(|| Failure::Other(format!("{}: not on the server under test", wire.url)))?;
        let path = if path.is_empty() { "/" } else { path };
        let request = Outgoing {
            method: wire.method,
            path,
            host: &self.host,
            signature: wire.signature.as_deref(),
            body: &wire.body,
        };
        let popped = match reuse {
            Reuse::Idle => lock(&self.idle).pop(),
            Reuse::New => None,
        };
        let mut connection = match popped {
            Some(connection) => connection,
            None => Connection::open(self.address).await?,
        };
        let (reply, keep_alive) =
            connection.exchange(&request).await.map_err(|failure| match failure {
                Failure::Dropped(message) => Failure::Dropped(format!("{}: {message}", wire.url)),
                Failure::Other(message) => Failure::Other(format!("{}: {message}", wire.url)),
            })?;
        // Read to its end, the answer leaves the connection ready for the next request.
        if keep_alive {
            lock(&self.idle).push(connection);
        }
        Ok(reply)
    }
}

/// The route of a URL: its path without the query (`/voice/menu`).
fn route_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    // The host ends at the path, the query or the fragment; only a path is a route.
    let path = match rest.find(['/', '?', '#']) {
        Some(end) if rest[end..].starts_with('/') => &rest[end..],
        _ => "/",
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Spaces the starts of requests evenly at a fixed rate.
struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer of `rate` requests per second; `None` for a rate that is not one.
    fn new(rate: f64) -> Option<Pacer> {
        let interval = Duration::try_from_secs_f64(1.0 / rate).ok()?;
        (rate.is_finite() && rate > 0.0).then_some(Pacer { interval, next: Mutex::new(None) })
    }

    /// When the next request may start, asked at `now`: one interval after the previous
    /// slot, or now if that has passed. A slot missed is not made up with a burst.
    fn next_slot(&self, now: Instant) -> Instant {
        let mut next = lock(&self.next);
        let slot = next.map_or(now, |next| next.max(now));
        *next = Some(slot + self.interval);
        slot
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
        assert_eq!(route_of("http://127.0.0.1:9/voice/wait#x?y"), "/voice/wait");
        assert_eq!(route_of("http://127.0.0.1:9"), "/");
        assert_eq!(route_of("http://127.0.0.1:9?q=/x"), "/");
        assert_eq!(route_of(""), "/");
        let huge = format!("http://h/{}", "a/".repeat(100_000));
        assert_eq!(route_of(&huge).len(), huge.len() - "http://h".len());
    }

    #[test]
    fn paced_starts_are_evenly_spaced_and_a_missed_slot_is_not_made_up() {
        let pacer = Pacer::new(1000.0).unwrap();
        let start = Instant::now();
        let ms = Duration::from_millis;
        // Asked all at once, the starts are one interval apart.
        let slots: Vec<Duration> = (0..4).map(|_| pacer.next_slot(start) - start).collect();
        assert_eq!(slots, [ms(0), ms(1), ms(2), ms(3)]);
        // Asked late, the next start is now, not a burst of the slots missed.
        let late = start + ms(50);
        assert_eq!(pacer.next_slot(late), late);
        assert_eq!(pacer.next_slot(late), late + ms(1));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            assert!(Pacer::new(rate).is_none(), "{rate}");
        }
    }

    fn load_of(base_url: &str) -> Load {
        Load {
            base_url: base_url.into(),
            auth_token: "token".into(),
            calls: 20,
            concurrency: 4,
            rate: None,
            warmup: Duration::from_millis(100),
            measure: Duration::from_millis(400),
            request_timeout: Duration::from_secs(5),
            paths: &PATHS[9..],
        }
    }

    #[test]
    fn a_base_url_the_generator_cannot_reach_is_refused_before_any_call() {
        let huge = format!("http://127.0.0.1:1{}", "0".repeat(100_000));
        for base in ["", "127.0.0.1:80", "https://127.0.0.1:443", "http://localhost:80", &huge]
            .into_iter()
            .chain(["http://127.0.0.1:80/prefix", "http://127.0.0.1:99999", "http://[::1]:x"])
        {
            let measured = run(&load_of(base), None);
            assert_eq!((measured.requests(), measured.failures), (0, 1), "{base:.40}");
            assert!(measured.failure_samples[0].len() < 300, "{base:.40}");
        }
    }

    /// A webhook server on a free loopback port that checks signatures: a call is the menu,
    /// then a hang-up (the `hangup` path presses nothing).
    fn serve_signed_calls() -> String {
        use axum::extract::Request;
        use axum::http::StatusCode;
        use axum::response::IntoResponse;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let origin = base.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            runtime.unwrap().block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let answer = move |request: Request| {
                    let origin = origin.clone();
                    async move {
                        let uri = request.uri().clone();
                        let signature = request
                            .headers()
                            .get("x-twilio-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body =
                            axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
                        let params: Vec<(String, String)> =
                            form_urlencoded::parse(&body).into_owned().collect();
                        let url = format!("{origin}{uri}");
                        if !hotline::signature::verify(b"token", &url, &params, &signature) {
                            return StatusCode::FORBIDDEN.into_response();
                        }
                        let twiml = match uri.path() {
                            "/voice/status" => "",
                            "/voice/incoming" => {
                                r#"<Gather action="/voice/menu" numDigits="1"><Say>Hi</Say></Gather>"#
                            }
                            _ => "<Hangup/>",
                        };
                        let document = format!("<Response>{twiml}</Response>");
                        ([("content-type", "text/xml")], document).into_response()
                    }
                };
                let router = axum::Router::new().fallback(answer);
                axum::serve(listener, router).await.unwrap();
            });
        });
        base
    }

    #[test]
    fn callers_follow_the_twiml_over_signed_requests() {
        let base = serve_signed_calls();
        let measured = run(&load_of(&base), None);
        assert_eq!(measured.failures, 0, "{:?}", measured.failure_samples);
        let routes: Vec<&str> = measured.latencies.keys().map(String::as_str).collect();
        assert_eq!(routes, ["/voice/incoming", "/voice/status"]);
        assert!(measured.calls_completed > 0);
        assert!(measured.elapsed >= Duration::from_millis(400));

        // Paced, the requests keep to the rate: no more than its slots, and a few in flight.
        let paced = Load { rate: Some(100.0), ..load_of(&base) };
        let measured = run(&paced, None);
        assert_eq!(measured.failures, 0, "{:?}", measured.failure_samples);
        let most = 100.0 * measured.elapsed.as_secs_f64() + 4.0 + 1.0;
        assert!((1..=most as usize).contains(&measured.requests()), "{}", measured.requests());
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

    /// A server that drops its first connection on the first request, unanswered, as a
    /// server closing an idle connection does, then answers every request with a hang-up.
    fn serve_after_a_dropped_connection() -> String {
        use std::io::{BufRead, BufReader, Read, Write};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for (index, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line.trim_end().is_empty() {
                                break;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(value) = lower.strip_prefix("content-length:") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        if index == 0 {
                            return; // closed without an answer
                        }
                        let document = "<Response><Hangup/></Response>";
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{document}",
                            document.len()
                        );
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        base
    }

    /// A server that answers one request per connection with a hang-up, then closes it
    /// without saying so, as a server closing idle connections does.
    fn serve_one_request_per_connection() -> String {
        use std::io::{Read, Write};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = vec![0; 4096];
                let _ = stream.read(&mut request);
                let document = "<Response><Hangup/></Response>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{document}",
                    document.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        base
    }

    #[test]
    fn a_request_sent_again_goes_out_on_a_new_connection_not_another_idle_one() {
        let base = serve_one_request_per_connection();
        let pool = Pool::new(&load_of(&base)).unwrap();
        let url = format!("{base}/voice/incoming");
        let request = || WireRequest::new(Some("token"), &url, Method::Post, &[]);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // Two connections answered once and left idle, both closed by the server since.
            let (first, second) = tokio::join!(
                pool.send(&url, request(), Reuse::New),
                pool.send(&url, request(), Reuse::New)
            );
            assert_eq!((first.unwrap().status, second.unwrap().status), (200, 200));
            assert_eq!(lock(&pool.idle).len(), 2);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let stale = pool.send(&url, request(), Reuse::Idle).await;
            assert!(matches!(stale, Err(Failure::Dropped(_))), "{stale:?}");
            // The other idle connection is as dead; a new one is not.
            let again = pool.send(&url, request(), Reuse::New).await;
            assert_eq!(again.unwrap().status, 200);
        });
    }

    #[test]
    fn a_request_dropped_with_its_connection_is_sent_again_once() {
        let base = serve_after_a_dropped_connection();
        let load = Load { calls: 1, concurrency: 1, warmup: Duration::ZERO, ..load_of(&base) };
        let measured = run(&load, None);
        assert_eq!((measured.retried, measured.failures), (1, 0), "{:?}", measured.failure_samples);
        assert!(measured.requests() > 0);
    }
}
