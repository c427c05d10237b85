//! A flood of bad console logins and operator-line PIN entries against the real release
//! server, while real calls step through the IVR: the server's memory must stay bounded (each
//! password or PIN check fills 19 MiB) and the calls must not feel it.
//!
//! Starts `hotline serve` (this build's binary) on a fresh database with one operator, then
//! for `--secs` seconds (60 by default) 1,200 connections at once, 60 from each of 20
//! loopback addresses (127.0.0.2 to 127.0.0.21), post wrong passwords to the console login
//! (with a valid login form token) and wrong PINs to the operator line (signed as the
//! provider signs), each on a new connection, again and again. Meanwhile one simulated caller
//! after another goes through the shipped scripts (`hotline call`'s simulator, from
//! 127.0.0.1), every webhook timed. Prints the server's peak and settled resident memory,
//! what the flood was answered, and the real calls' slowest webhook. Asserts nothing.
//!
//! `cargo bench --bench password_flood` (`… -- --secs 10` for a shorter run).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline::simulator::{self, CallOptions, HttpTransport, Method, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The provider's auth token of the server under test.
const AUTH_TOKEN: &str = "bench-auth-token-0123456789";
/// Source addresses of the flood: 127.0.0.2 onwards, each an ordinary client to the server.
const ADDRESSES: u8 = 20;
/// Connections each address keeps busy at once, under its cap of 64.
const PER_ADDRESS: usize = 60;
/// A flood request (or a real call's) without an answer by then counts as failed.
const TIMEOUT: Duration = Duration::from_secs(20);
/// What each flood request tries.
const WRONG_PASSWORD: &str = "not-the-password-123";
const WRONG_PIN: &str = "000000";

/// How the flood's requests were answered.
#[derive(Default)]
struct Tally {
    /// Console: wrong password, checked (401).
    login_checked: AtomicU64,
    /// Console: refused at once because every check was busy (429 with Retry-After).
    login_busy: AtomicU64,
    /// Console: refused at once because the address used up its failures (429).
    login_limited: AtomicU64,
    /// Operator line: wrong PIN, checked.
    pin_checked: AtomicU64,
    /// Operator line: asked for the PIN again because every check was busy.
    pin_busy: AtomicU64,
    /// Any other status or answer.
    other: AtomicU64,
    /// No answer: refused or reset connection, timeout.
    failed: AtomicU64,
}

fn main() {
    let secs = std::env::args()
        .skip_while(|arg| arg != "--secs")
        .nth(1)
        .and_then(|value| value.parse().ok())
        .unwrap_or(60u64);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = Server::start(dir.path());
    let (cookie, field) = login_form(server.addr);
    println!(
        "server: {} (pid {}), {} cores; RSS after start {:.1} MiB",
        server.base_url(),
        server.child.id(),
        std::thread::available_parallelism().map_or(1, usize::from),
        mib(server.rss_kib("VmRSS:"))
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sampled_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak, pid) = (Arc::clone(&stop), Arc::clone(&sampled_peak), server.child.id());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_of(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let calls = {
        let (stop, base) = (Arc::clone(&stop), server.base_url());
        std::thread::spawn(move || real_calls(&base, &stop))
    };

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut flooders = Vec::new();
        for a in 0..ADDRESSES {
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + a));
            for n in 0..PER_ADDRESS {
                let request = if n % 2 == 0 {
                    Request::Login { cookie: cookie.clone(), field: field.clone() }
                } else {
                    Request::Pin { operator: server.operator }
                };
                let (tally, addr) = (Arc::clone(&tally), server.addr);
                flooders.push(tokio::spawn(flood(source, addr, request, deadline, tally)));
            }
        }
        for flooder in flooders {
            let _ = flooder.await;
        }
    });
    let flooded = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let calls = calls.join().expect("the real calls ran");
    let _ = sampler.join();
    // What the allocator keeps once the flood is over.
    std::thread::sleep(Duration::from_secs(5));
    let settled = server.rss_kib("VmRSS:");
    let peak = server.rss_kib("VmHWM:").max(sampled_peak.load(Ordering::Relaxed));

    let n = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let total = n(&tally.login_checked)
        + n(&tally.login_busy)
        + n(&tally.login_limited)
        + n(&tally.pin_checked)
        + n(&tally.pin_busy)
        + n(&tally.other)
        + n(&tally.failed);
    println!(
        "flood: {:.0} s, {} connections at once from {ADDRESSES} addresses, {total} requests \
         ({:.0}/s)",
        flooded.as_secs_f64(),
        usize::from(ADDRESSES) * PER_ADDRESS,
        total as f64 / flooded.as_secs_f64()
    );
    println!(
        "  console logins: {} checked (401), {} busy (429 + Retry-After), {} over the address \
         limit (429)",
        n(&tally.login_checked),
        n(&tally.login_busy),
        n(&tally.login_limited)
    );
    println!(
        "  operator-line PINs: {} checked (wrong PIN), {} asked again (busy)",
        n(&tally.pin_checked),
        n(&tally.pin_busy)
    );
    println!("  other answers: {}, no answer: {}", n(&tally.other), n(&tally.failed));
    println!(
        "server memory: peak RSS {:.1} MiB (bar: under 100 MB = 95.4 MiB), {:.1} MiB 5 s after \
         the flood",
        mib(peak),
        mib(settled)
    );
    println!(
        "real calls meanwhile: {} calls, {} webhooks, {} not 200; slowest webhook {:.0} ms \
         (bar: under 1 s), median {:.0} ms",
        calls.calls,
        calls.latencies.len(),
        calls.failed,
        calls.slowest().as_secs_f64() * 1000.0,
        calls.median().as_secs_f64() * 1000.0
    );
}

/// What a flooder sends.
#[derive(Clone)]
enum Request {
    /// A console login with a valid form token and a wrong password.
    Login { cookie: String, field: String },
    /// A wrong PIN for this operator on the operator line.
    Pin { operator: i64 },
}

/// Sends `request` from `source`, a new connection each time, until `deadline`.
async fn flood(
    source: IpAddr,
    server: SocketAddr,
    request: Request,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    let mut sent = 0u64;
    while Instant::now() < deadline && sent < 1_000_000 {
        sent += 1;
        let raw = match &request {
            Request::Login { cookie, field } => {
                let body = format!("name=flood{sent}&password={WRONG_PASSWORD}&csrf={field}");
                format!(
                    "POST /console/login HTTP/1.1\r\nHost: {server}\r\nCookie: hotline_login=\
                     {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            }
            Request::Pin { operator } => pin_entry(server, *operator, source, sent),
        };
        let answer = tokio::time::timeout(TIMEOUT, exchange(source, server, raw)).await;
        let counter = match (answer, &request) {
            (Ok(Ok(answer)), Request::Login { .. }) => {
                if answer.starts_with("HTTP/1.1 401") {
                    &tally.login_checked
                } else if answer.starts_with("HTTP/1.1 429") {
                    if answer.to_ascii_lowercase().contains("retry-after: 1\r\n") {
                        &tally.login_busy
                    } else {
                        &tally.login_limited
                    }
                } else {
                    &tally.other
                }
            }
            (Ok(Ok(answer)), Request::Pin { .. }) => {
                if !answer.starts_with("HTTP/1.1 200") {
                    &tally.other
                } else if answer.contains("busy checking PINs") {
                    &tally.pin_busy
                } else if answer.contains("do not match") {
                    &tally.pin_checked
                } else {
                    &tally.other
                }
            }
            _ => &tally.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A signed PIN entry, as the provider posts it, of a call of its own.
fn pin_entry(server: SocketAddr, operator: i64, source: IpAddr, n: u64) -> String {
    let path = format!("/voice/operator/pin?try=1&op={operator}");
    let sid = format!("CA{:016x}{:016x}", u32::from_be_bytes(ip4(source)), n);
    let params: Vec<(String, String)> = [
        ("CallSid", sid.as_str()),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+15550100000"),
        ("To", "+15550100001"),
        ("CallStatus", "in-progress"),
        ("Digits", WRONG_PIN),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = format!("http://{server}{path}");
    let signature = hotline::signature::compute(AUTH_TOKEN.as_bytes(), &url, &params);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {server}\r\nX-Twilio-Signature: {signature}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn ip4(address: IpAddr) -> [u8; 4] {
    match address {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => [0; 4],
    }
}

/// One request on a new connection from `source`; the whole answer (the server closes).
async fn exchange(source: IpAddr, server: SocketAddr, raw: String) -> std::io::Result<String> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let mut stream = socket.connect(server).await?;
    stream.write_all(raw.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.take(256 * 1024).read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The real calls' webhooks, timed.
struct Calls {
    calls: u32,
    failed: u32,
    latencies: Vec<Duration>,
}

impl Calls {
    fn slowest(&self) -> Duration {
        self.latencies.iter().copied().max().unwrap_or_default()
    }

    fn median(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

/// A transport that times every request of a simulated call.
struct Timed {
    inner: HttpTransport,
    latencies: Vec<Duration>,
    failed: u32,
}

impl Transport for Timed {
    fn send<'a>(
        &'a mut self,
        url: &'a str,
        method: Method,
        params: &'a [(String, String)],
    ) -> simulator::Sending<'a> {
        let started = Instant::now();
        let reply = self.inner.request(url, method, params);
        self.latencies.push(started.elapsed());
        if !reply.as_ref().is_ok_and(|reply| reply.status == 200) {
            self.failed += 1;
        }
        Box::pin(std::future::ready(reply))
    }
}

/// One caller after another, through the shipped scripts (Russian, surrender, with others,
/// cannot talk, voicemail), until `stop`.
fn real_calls(base_url: &str, stop: &AtomicBool) -> Calls {
    let mut timed = Timed {
        inner: HttpTransport::pooled(Some(AUTH_TOKEN), 2, TIMEOUT),
        latencies: Vec::new(),
        failed: 0,
    };
    let mut calls = 0;
    while !stop.load(Ordering::Relaxed) && calls < 100_000 {
        calls += 1;
        let options = CallOptions {
            base_url: base_url.to_owned(),
            auth_token: Some(AUTH_TOKEN.into()),
            from: format!("+7916{:07}", calls),
            to: "+15550100001".into(),
            from_country: Some("RU".into()),
            call_sid: None,
            presses: Some(simulator::parse_presses("1,1,2,2,1").expect("valid presses")),
            queue_waits: 1,
            max_requests: 30,
        };
        let result =
            simulator::run_with(&options, &mut timed, &mut std::io::empty(), &mut std::io::sink());
        if result.is_err() {
            timed.failed += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Calls { calls, failed: timed.failed, latencies: timed.latencies }
}

/// The server under test, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// The operator whose PIN the flood guesses.
    operator: i64,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let program = PathBuf::from(env!("CARGO_BIN_EXE_hotline"));
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let config = dir.join("config.toml");
        let text = format!(
            "[database]\npath = {:?}\n\n[scripts]\ndir = {:?}\n\n[webhooks]\n\
             verify_signatures = true\n\n[log]\nlevel = \"error\"\n",
            dir.join("hotline.db"),
            scripts
        );
        std::fs::write(&config, text).expect("the configuration is written");
        let free = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = free.local_addr().expect("its address");
        drop(free);
        let command = |args: &[&str]| {
            let mut command = Command::new(&program);
            command
                .args(args)
                .current_dir(dir)
                .env("HOTLINE_CONFIG", &config)
                .env("HOTLINE_SERVER_LISTEN", addr.to_string())
                .env("HOTLINE_AUTH_TOKEN", AUTH_TOKEN)
                .env("HOTLINE_CALLER_HASH_KEY", "bench-caller-hash-key-0123456789")
                .env("HOTLINE_CALLBACK_KEY", "bench-callback-key-0123456789abcdef0123");
            command
        };
        let added = command(&["users", "add", "olga", "--role", "operator", "--languages", "ru"])
            .stderr(Stdio::null())
            .output()
            .expect("hotline users add runs");
        let added = String::from_utf8_lossy(&added.stdout);
        let operator = added
            .lines()
            .find_map(|line| line.strip_prefix("operator id: "))
            .and_then(|id| id.trim().parse().ok())
            .unwrap_or_else(|| panic!("no operator id in: {added}"));
        let log = std::fs::File::create(dir.join("server.log")).expect("a log file");
        let child = command(&["serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("hotline serve starts");
        let server = Server { child, addr, operator };
        let started = Instant::now();
        while !server.answers_health() {
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn answers_health(&self) -> bool {
        get(self.addr, "/health", "").is_some_and(|answer| answer.starts_with("HTTP/1.1 200"))
    }

    fn rss_kib(&self, field: &str) -> u64 {
        rss_of(self.child.id(), field)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET on a new connection; the whole answer.
fn get(server: SocketAddr, path: &str, headers: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let head =
        format!("GET {path} HTTP/1.1\r\nHost: {server}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// A login form's token pair: its cookie, and its field. Any number of logins may post it.
fn login_form(server: SocketAddr) -> (String, String) {
    let answer = get(server, "/console/login", "").expect("the login form");
    let cookie = answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: hotline_login="))
        .and_then(|rest| rest.split(';').next())
        .expect("the login cookie")
        .to_owned();
    let at = answer.find("name=\"csrf\" value=\"").expect("the form's token")
        + "name=\"csrf\" value=\"".len();
    let field = answer[at..].split('"').next().unwrap_or_default().to_owned();
    (cookie, field)
}

/// A `/proc/PID/status` field in KiB (`VmRSS:` now, `VmHWM:` the peak).
fn rss_of(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)?.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
