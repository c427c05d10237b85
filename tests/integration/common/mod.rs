//! Test helpers: a real server on port 0 with a fresh database, requests signed as the
//! provider signs them, and a checker of the provider's TwiML rules.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hotline::app::secrets::{Secrets, TelegramSecrets};
use hotline::app::{App, Clock};
use hotline::config::Config;
use hotline::domain::cases::{CallSid, Case};
use hotline::domain::secret::Secret;
use hotline::http::server::Application;
use hotline::simulator::{self, CallOptions, Reply, Transcript};
use hotline::storage::{Storage, StorageOptions};
use tokio::sync::oneshot;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Every log line of this test binary, as JSON, at every level: the tests that look for
/// callers' numbers in the logs read it (the lines of the tests running beside them are in
/// it too, and must be as clean). Installed before the first server starts; the server's
/// lines at `RUST_LOG` (default `hotline=info`) are also shown with a failing test's output.
/// The tests' own HTTP client is left out: it logs the URLs it requests.
pub fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let everything = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(move || Sink(Arc::clone(&sink)))
            .with_filter(EnvFilter::new("trace,ureq=off"));
        let shown = tracing_subscriber::fmt::layer().with_test_writer().with_filter(
            EnvFilter::new(std::env::var("RUST_LOG").unwrap_or_else(|_| "hotline=info".into())),
        );
        tracing_subscriber::registry().with(everything).with(shown).init();
        logs
    })
    .clone()
}

/// Appends what it is given to the captured logs.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The auth token of test servers.
pub const TOKEN: &str = "test-auth-token-0123456789";

/// The webhook secret token test servers expect from "Telegram".
pub const TELEGRAM_SECRET: &str = "test-telegram-webhook-secret_0123456789";

/// The callback-number key of test servers.
pub const CALLBACK_KEY: &str = "test-callback-key-0123456789abcdef0123";

/// A running server and what a test needs to talk to it and look inside.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The database file.
    pub db_path: PathBuf,
    /// A second connection to the database, to check what was recorded.
    pub storage: Storage,
    /// Holds the temporary folder (database, journal) until the test ends.
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The shipped scripts.
pub fn shipped_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts")
}

/// A copy of the shipped scripts (with their recordings) in `into`: for tests that publish
/// or edit scripts, which rewrites the folder's files.
pub fn shipped_scripts_copy(into: &Path) -> PathBuf {
    let dir = into.join("ivr-scripts");
    copy_dir(&shipped_scripts(), &dir);
    dir
}

/// A copy of the folder `from` at `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Starts a server on the shipped scripts with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after letting the test adjust its configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (config, dir) = test_config(adjust);
    start(config, dir).await
}

/// The configuration of a test server (port 0, a fresh database, the shipped scripts), as
/// `adjust` changes it, and the folder of its database.
pub fn test_config(adjust: impl FnOnce(&mut Config)) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = dir.path().join("hotline.db");
    config.scripts.dir = shipped_scripts();
    adjust(&mut config);
    (config, dir)
}

/// How the tests reach a server over HTTP: every answer is returned (a 4xx is something to
/// assert, not an error), no proxy from the environment, and at most 30 s per request. Callers
/// add what their requests need (no redirects, a certificate) and build the agent.
pub fn agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
}

/// The options that open a test server's database: its data keys under the test servers'
/// callback key.
pub fn storage_options() -> StorageOptions {
    StorageOptions::new(Secret::new(CALLBACK_KEY.into()))
}

/// The secrets of test servers.
pub fn test_secrets() -> Secrets {
    Secrets {
        auth_token: Secret::new(TOKEN.into()),
        caller_hash_key: Secret::new("test-caller-hash-key-0123456789".into()),
        callback_key: Secret::new(CALLBACK_KEY.into()),
        telegram: Some(TelegramSecrets {
            token: Secret::new(telegram::BOT_TOKEN.into()),
            webhook_secret: Secret::new(TELEGRAM_SECRET.into()),
        }),
        provider_api_secret: None,
    }
}

/// Starts a server with exactly this configuration.
pub async fn start(config: Config, dir: tempfile::TempDir) -> TestApp {
    start_with_secrets(config, dir, test_secrets()).await
}

/// Starts a server with exactly this configuration and these secrets.
pub async fn start_with_secrets(
    config: Config,
    dir: tempfile::TempDir,
    secrets: Secrets,
) -> TestApp {
    logs();
    let app = Application::build(&config, secrets).await.expect("server builds");
    serve(app, config, dir).await
}

/// Starts a server like [`start`] whose use cases read `clock`: a test moves it to step over
/// a lock's or a retention period's length without waiting for it.
pub async fn start_with_clock(config: Config, dir: tempfile::TempDir, clock: Clock) -> TestApp {
    logs();
    let secrets = test_secrets();
    let hotline = App::open(&config, &secrets, clock).await.expect("the hotline opens");
    let app = Application::serving(hotline, &config, secrets).await.expect("server builds");
    serve(app, config, dir).await
}

/// Runs a built server until the test stops it.
async fn serve(app: Application, config: Config, dir: tempfile::TempDir) -> TestApp {
    let base_url = app.public_url().to_owned();
    let (stop, stopped) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base_url,
        db_path: config.database.path.clone(),
        storage: match config.database.postgres_url() {
            Some(url) => {
                Storage::open_postgres(url, &config.database.path, storage_options()).await.unwrap()
            }
            None => Storage::open(&config.database.path, storage_options()).await.unwrap(),
        },
        dir,
        stop: Some(stop),
        server: Some(server),
    }
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// The number test callers call from. It must never appear in an answer, a log line or the
/// database.
pub const CALLER: &str = "+79161234567";

/// The parameters the provider sends with every request of call `sid`, from [`CALLER`].
pub fn call_params(sid: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CallSid", sid.to_owned()),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef".into()),
        ("From", CALLER.into()),
        ("To", "+18005550100".into()),
        ("CallStatus", "in-progress".into()),
        ("ApiVersion", "2010-04-01".into()),
        ("Direction", "inbound".into()),
    ]
}

/// The call's parameters with `extra` added or replacing those of the same name.
pub fn with<'a>(
    base: &'a [(&'static str, String)],
    extra: &[(&'static str, &'a str)],
) -> Vec<(&'static str, &'a str)> {
    let mut params: Vec<(&str, &str)> = base
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    params.extend_from_slice(extra);
    params
}

/// A CallSid unique within the test run.
pub fn new_call_sid() -> String {
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("CA{:032x}", (std::process::id() as u128) << 64 | n as u128)
}

impl TestApp {
    /// Posts a form signed with the server's token, as the provider does.
    pub async fn post(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.post_as(path, params, Some(TOKEN)).await
    }

    /// Posts a form signed with `token` (or unsigned).
    pub async fn post_as(&self, path: &str, params: &[(&str, &str)], token: Option<&str>) -> Reply {
        let base = self.base_url.clone();
        let path = path.to_owned();
        let token = token.map(str::to_owned);
        let params: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        tokio::task::spawn_blocking(move || {
            simulator::post(&base, &path, token.as_deref(), &params).expect("request completes")
        })
        .await
        .unwrap()
    }

    /// Posts `path` as the provider does for call `sid` (its usual parameters, with `extra`
    /// added or replacing them) and returns the answer, which must be a 200 without the
    /// caller's number in it.
    pub async fn post_call(&self, path: &str, sid: &str, extra: &[(&'static str, &str)]) -> String {
        let base = call_params(sid);
        let reply = self.post(path, &with(&base, extra)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert!(!reply.body.contains(&CALLER[2..]), "the caller's number in an answer");
        reply.body
    }

    /// Places a whole simulated call with scripted key presses.
    pub async fn call(&self, presses: &str, country: Option<&str>) -> Transcript {
        self.try_call(presses, country).await.expect("the call completes")
    }

    /// Places a call; the error if the server misbehaved.
    pub async fn try_call(
        &self,
        presses: &str,
        country: Option<&str>,
    ) -> Result<Transcript, simulator::SimulatorError> {
        let options = CallOptions {
            base_url: self.base_url.clone(),
            auth_token: Some(TOKEN.into()),
            from: "+79161234567".into(),
            to: "+18005550100".into(),
            from_country: country.map(str::to_owned),
            call_sid: Some(new_call_sid()),
            presses: Some(simulator::parse_presses(presses).unwrap()),
            queue_waits: 1,
            max_requests: 100,
        };
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut input = std::io::empty();
            simulator::run(&options, &mut input, &mut out)
        })
        .await
        .unwrap()
    }

    /// The case of a call, which must exist.
    pub async fn case(&self, call_sid: &str) -> Case {
        let sid = CallSid::parse(call_sid).unwrap();
        self.storage.case_by_call(&sid).await.unwrap().expect("the call has a case")
    }

    /// Stops the server, letting requests in flight finish; returns its folder, which lives
    /// as long as the caller keeps it.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.dir
    }
}

/// Which verbs a document may hold, by where it is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The voice URL, a Gather action, a Redirect target.
    Call,
    /// A queue's wait document.
    Wait,
    /// A `<Dial><Queue url>` document, played to the dequeued caller before the bridge.
    QueueUrl,
}

/// Checks a TwiML document against the provider's rules (see the protocol notes): root
/// `<Response>`, known verbs with known attributes, nesting, size and text limits.
pub fn assert_valid_twiml(xml: &str, context: Context) {
    assert!(xml.len() <= 64 * 1024, "document over 64 kB: {} bytes", xml.len());
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not XML ({e}): {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response", "{xml}");
    assert!(root.attributes().next().is_none(), "{xml}");
    let allowed: &[&str] = match context {
        Context::Call => &[
            "Say", "Play", "Pause", "Gather", "Redirect", "Enqueue", "Record", "Hangup", "Dial",
            "Reject", "Leave",
        ],
        Context::Wait => &["Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"],
        Context::QueueUrl => &["Play", "Say", "Pause", "Redirect"],
    };
    for verb in root.children().filter(|n| n.is_element()) {
        let name = verb.tag_name().name();
        assert!(allowed.contains(&name), "<{name}> not allowed in a {context:?} document: {xml}");
        check_verb(verb, xml);
        if name == "Gather" {
            for inner in verb.children().filter(|n| n.is_element()) {
                let inner_name = inner.tag_name().name();
                assert!(
                    ["Say", "Play", "Pause"].contains(&inner_name),
                    "<{inner_name}> inside <Gather>: {xml}"
                );
                check_verb(inner, xml);
            }
        } else if name == "Dial" {
            let nouns: Vec<_> = verb.children().filter(|n| n.is_element()).collect();
            assert_eq!(nouns.len(), 1, "<Dial> with one noun: {xml}");
            let queue = nouns[0];
            assert_eq!(queue.tag_name().name(), "Queue", "{xml}");
            for attr in queue.attributes() {
                assert!(["url", "method"].contains(&attr.name()), "<Queue {}>: {xml}", attr.name());
            }
            let name = queue.text().unwrap_or("");
            assert!(!name.is_empty() && name.len() <= 64, "queue name {name:?}");
        } else {
            assert!(verb.children().all(|n| !n.is_element()), "<{name}> has child elements: {xml}");
        }
    }
}

fn check_verb(verb: roxmltree::Node<'_, '_>, xml: &str) {
    let name = verb.tag_name().name();
    let known: &[&str] = match name {
        "Say" => &["voice", "language", "loop"],
        "Play" => &["loop", "digits"],
        "Pause" => &["length"],
        "Gather" => &[
            "action",
            "method",
            "input",
            "timeout",
            "numDigits",
            "finishOnKey",
            "language",
            "hints",
            "speechTimeout",
            "actionOnEmptyResult",
        ],
        "Record" => &[
            "action",
            "method",
            "timeout",
            "finishOnKey",
            "maxLength",
            "playBeep",
            "trim",
            "recordingStatusCallback",
            "transcribe",
        ],
        "Enqueue" => &["action", "method", "waitUrl", "waitUrlMethod", "workflowSid"],
        "Redirect" => &["method"],
        "Dial" => &["action", "method", "timeout"],
        "Hangup" | "Leave" => &[],
        _ => &[],
    };
    for attr in verb.attributes() {
        assert!(
            known.contains(&attr.name()),
            "<{name} {}> is not a known attribute: {xml}",
            attr.name()
        );
    }
    let text = verb.text().unwrap_or("");
    match name {
        "Say" => {
            assert!(!text.trim().is_empty(), "empty <Say>: {xml}");
            assert!(text.chars().count() <= 3000, "<Say> over 3000 characters");
            assert!(verb.attribute("language").is_some(), "<Say> without language: {xml}");
        }
        "Play" | "Redirect" => {
            assert!(text.starts_with('/') || text.starts_with("http"), "<{name}> URL {text:?}")
        }
        "Enqueue" => {
            assert!(!text.is_empty() && text.len() <= 64, "queue name {text:?}");
            assert!(
                verb.attribute("waitUrl").is_some() && verb.attribute("action").is_some(),
                "{xml}"
            );
        }
        "Pause" => {
            let length: u32 =
                verb.attribute("length").unwrap_or("1").parse().expect("numeric length");
            assert!((1..=600).contains(&length));
        }
        _ => {}
    }
}

/// The names of the verbs of a document, top level, in order (`Gather` shown with its
/// children: `Gather[Say,Say]`).
pub fn verbs(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.root_element()
        .children()
        .filter(|n| n.is_element())
        .map(|n| {
            let inner: Vec<&str> =
                n.children().filter(|c| c.is_element()).map(|c| c.tag_name().name()).collect();
            if inner.is_empty() {
                n.tag_name().name().to_owned()
            } else {
                format!("{}[{}]", n.tag_name().name(), inner.join(","))
            }
        })
        .collect()
}

/// The value of the first element's attribute, e.g. the Gather's `action`.
pub fn attribute(xml: &str, element: &str, attribute: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .find(|n| n.has_tag_name(element))
        .and_then(|n| n.attribute(attribute))
        .map(str::to_owned)
}

/// The text of the first such element, e.g. the Redirect's URL.
pub fn text(xml: &str, element: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants().find(|n| n.has_tag_name(element)).and_then(|n| n.text()).map(str::to_owned)
}

/// Every `<Say>` text of a document, in order.
pub fn said(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("Say"))
        .filter_map(|n| n.text())
        .map(str::to_owned)
        .collect()
}

/// The records a journal file holds: its lines before the zeros of its unused reserve (a
/// missing file holds none).
pub fn journal_records(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(|&b| b == 0 || b.is_ascii_whitespace()))
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

/// A small tmpfs mounted for one test (a disk to fill up), unmounted when dropped.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB (needs root, as CI runs).
    pub fn mount(mib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(mounted.success(), "this test mounts a small tmpfs and needs root for it");
        SmallDisk { dir }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills what is left of the disk with a file; returns its path.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        // Bounded: the disk is a few MiB.
        for _ in 0..10_000 {
            if file.write_all(&chunk).and_then(|()| file.sync_data()).is_err() {
                break;
            }
        }
        for _ in 0..10_000 {
            if file.write_all(&chunk[..512]).and_then(|()| file.sync_data()).is_err() {
                return filler;
            }
        }
        panic!("the disk never filled");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Helpers for the JSON API: people with tokens, and requests.
/// Every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { found.extend(files_under(&path)) } else { found.push(path) }
    }
    found
}

/// Scans every file under `dir` for `needles`, failing on the first found; the files read
/// and their bytes. A file gone before it is read (SQLite removes its -shm at the last close)
/// holds nothing.
pub fn assert_in_no_file(dir: &Path, needles: &[&str]) -> (Vec<PathBuf>, usize) {
    let (mut read, mut bytes_read) = (Vec::new(), 0);
    for file in files_under(dir) {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for needle in needles {
            assert!(!text.contains(needle), "{needle} found in {}", file.display());
        }
        bytes_read += bytes.len();
        read.push(file);
    }
    (read, bytes_read)
}

pub mod api;
pub mod binary;
pub mod chats;
pub mod console;
pub mod loopback;
pub mod messaging;
pub mod postgres;
pub mod process;
pub mod provider;
pub mod telegram;

/// Starts a server like [`spawn_app_with`], and also returns the storage the server itself
/// writes through (not a second connection), for tests that break it while it serves.
pub async fn spawn_app_and_its_storage(adjust: impl FnOnce(&mut Config)) -> (TestApp, Storage) {
    logs();
    let (config, dir) = test_config(adjust);
    let secrets = test_secrets();
    let busy_timeout = std::time::Duration::from_millis(config.database.busy_timeout_ms);
    let options =
        StorageOptions { busy_timeout, data_keys_secret: Some(secrets.callback_key.clone()) };
    let served = Storage::open(&config.database.path, options).await.unwrap();
    let hotline = App::on(served.clone(), &config, &secrets, Clock::system()).await.unwrap();
    let app = Application::serving(hotline, &config, secrets).await.expect("server builds");
    (serve(app, config, dir).await, served)
}
