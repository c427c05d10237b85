//! The servers under test, each a child process: the real `hotline serve` on a fresh
//! database, or this program's own minimal baseline. Their CPU time and peak memory are read
//! from `/proc`, so the numbers are the server's alone, not the load generator's.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to answer its health check before the run gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server started for a measurement; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// From spawning the process to the first successful answer on the ready path.
    pub start_up: Duration,
}

/// CPU time and memory of a process at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User plus system CPU time, in seconds.
    pub cpu_secs: f64,
    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
}

impl Server {
    /// Starts `program` with `args` and `env` in `dir` on a free loopback port (given as
    /// `HOTLINE_SERVER_LISTEN`), and waits until `ready_path` answers 200.
    pub fn start(
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
        dir: &Path,
        ready_path: &str,
    ) -> Result<Server, String> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .env("HOTLINE_SERVER_LISTEN", &listen)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file(dir)?));
        for (name, value) in env {
            command.env(name, value);
        }
        let child =
            command.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut server =
            Server { child, base_url: format!("http://{listen}"), start_up: Duration::ZERO };
        let agent = ureq::Agent::config_builder()
            .proxy(None)
            .timeout_global(Some(Duration::from_millis(500)))
            .build()
            .new_agent();
        let url = format!("{}{ready_path}", server.base_url);
        loop {
            if let Ok(response) = agent.get(&url).call()
                && response.status() == 200
            {
                server.start_up = started.elapsed();
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before it was ready; its log: {}",
                    program.display(),
                    dir.join("server.log").display()
                ));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("{} not ready after {START_TIMEOUT:?}", program.display()));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's CPU time and memory now.
    pub fn usage(&self) -> Result<Usage, String> {
        usage_of(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time and memory of process `pid`, from `/proc`.
pub fn usage_of(pid: u32) -> Result<Usage, String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e} (the benchmark needs Linux)"))?;
    // The command name, in parentheses, may hold spaces: fields are counted after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let cpu_secs = (ticks(11) + ticks(12)) as f64 / clock_ticks();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(Usage { cpu_secs, peak_rss_kib: kib("VmHWM:") })
}

/// Clock ticks per second of `/proc/*/stat` times: 100 on every Linux this runs on, asked of
/// `getconf` to be sure.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A port nobody listens on now. Another program could take it before the server binds it;
/// the server would then fail to start, saying so.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Where a server's log goes: a file beside its database, kept for a failed run.
fn log_file(dir: &Path) -> Result<fs::File, String> {
    let path: PathBuf = dir.join("server.log");
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
}
