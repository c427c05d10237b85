//! The real `hotline serve` process, for the tests of what survives it: `kill -9` leaves only
//! what is on disk and in the database, so these run the built binary, not an in-process
//! server. A [`Setup`] is one machine's hotline (a port and a data folder, kept across
//! restarts); a [`Server`] is one run of it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CALLBACK_KEY, TOKEN, journal_records, shipped_scripts};

/// A `hotline serve` process on a fixed port and database.
pub struct Server {
    /// The process, to kill or to signal.
    pub child: Child,
    /// `http://127.0.0.1:PORT`, the provider's URL of it.
    pub base_url: String,
}

/// What every start of the server shares: where it listens and keeps its data.
pub struct Setup {
    dir: tempfile::TempDir,
    /// Where it listens, on loopback.
    pub port: u16,
}

impl Setup {
    pub fn new() -> Setup {
        // A free port, kept across restarts: the provider calls one public URL, and
        // signatures are computed over it.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Setup { dir: tempfile::tempdir().unwrap(), port }
    }

    /// The data folder: the database (or, on PostgreSQL, nothing of it), the journal and
    /// the data keys.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("hotline.db")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.data_dir().join("hotline.db.journal")
    }

    /// Where every run's log goes, one after the other: a database that is down makes a
    /// server log a line for each call, too many to show unless the test fails.
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    fn log(&self) -> File {
        OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap()
    }

    /// Starts `hotline serve` and waits until it answers.
    pub fn start(&self, extra_env: &[(&str, &str)]) -> Server {
        let server = self.spawn(extra_env);
        let waited = Instant::now();
        while !healthy(self.port) {
            assert!(waited.elapsed() < Duration::from_secs(20), "the server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Starts `hotline serve` without waiting for it.
    pub fn spawn(&self, extra_env: &[(&str, &str)]) -> Server {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
        command
            .arg("serve")
            // No config.toml there: the built-in defaults, then the variables below.
            .current_dir(self.dir.path())
            .env_clear()
            .env("HOTLINE_SERVER_LISTEN", &listen)
            .env("HOTLINE_DATABASE_PATH", self.db_path())
            .env("HOTLINE_SCRIPTS_DIR", shipped_scripts())
            .env("HOTLINE_AUTH_TOKEN", TOKEN)
            .env("HOTLINE_CALLER_HASH_KEY", "test-caller-hash-key-0123456789")
            .env("HOTLINE_CALLBACK_KEY", CALLBACK_KEY)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the hotline binary starts");
        Server { child, base_url: format!("http://{listen}") }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // Shown with the failing test's output, before the folder goes: the end, where the
        // fault is.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let end = lines[lines.len().saturating_sub(200)..].join("\n");
            eprintln!("== hotline serve on port {}, the last of its log:\n{end}", self.port);
        }
    }
}

impl Server {
    /// `kill -9`: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait()
    }

    pub fn send_sigterm(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn wait(&mut self) -> ExitStatus {
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

/// Whether `GET /health` answers 200 on the port.
pub fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /health HTTP/1.0\r\nHost: hotline\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// What a journal held while it was watched.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    /// The most records it held at once: while the database takes nothing, about all the
    /// records journaled (the replays fail and leave it whole).
    pub peak: usize,
    /// When it first held a record.
    pub first: Option<Instant>,
    /// When it was last found empty after holding records: replayed into the database.
    pub drained: Option<Instant>,
}

/// Looks at a server's journal file every 50 ms from a thread of its own, for tests that
/// make the database fail under a running server: the server tells the provider nothing of
/// its journal, so this is how a test sees that records went there and came back out. It
/// stops when dropped.
pub struct JournalWatch {
    seen: Arc<Mutex<Backlog>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JournalWatch {
    pub fn start(journal: &Path) -> JournalWatch {
        let (seen, stop) =
            (Arc::new(Mutex::new(Backlog::default())), Arc::new(AtomicBool::new(false)));
        let (path, seeing, stopped) = (journal.to_owned(), Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let held = journal_records(&path).len();
                let mut seen = seeing.lock().unwrap();
                seen.peak = seen.peak.max(held);
                if held > 0 {
                    seen.first.get_or_insert_with(Instant::now);
                    seen.drained = None;
                } else if seen.first.is_some() && seen.drained.is_none() {
                    seen.drained = Some(Instant::now());
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        JournalWatch { seen, stop, thread: Some(thread) }
    }

    /// What was seen so far.
    fn seen(&self) -> Backlog {
        *self.seen.lock().unwrap()
    }

    /// Waits until the journal, having held records, is found empty; what was seen then.
    pub fn drained_within(&self, limit: Duration) -> Backlog {
        let waited = Instant::now();
        loop {
            let seen = self.seen();
            if seen.drained.is_some() {
                return seen;
            }
            assert!(waited.elapsed() < limit, "the journal did not drain in {limit:?}: {seen:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for JournalWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
