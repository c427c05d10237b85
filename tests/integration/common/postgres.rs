//! A throwaway PostgreSQL for one test: `tests/postgres/cluster` started in a folder and on
//! ports of its own, stopped and its folder removed when the value is dropped, also when the
//! test fails. The tests talk to it with `psql`, as a person would: no client crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::binary::printed;

/// Where Debian's PostgreSQL 15 keeps its programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server (or cluster) and the URI that reaches it.
pub struct Postgres {
    dir: PathBuf,
    uri: String,
}

impl Postgres {
    /// One plain server with an empty `hotline` database.
    pub fn single() -> Postgres {
        Postgres::start("single")
    }

    /// A pg_auto_failover monitor, a primary and its synchronous standby; the URI names both
    /// data nodes and reaches whichever takes writes.
    pub fn cluster() -> Postgres {
        Postgres::start("start")
    }

    fn start(command: &str) -> Postgres {
        let missing: Vec<_> = [Path::new(BIN).join("psql"), PathBuf::from("/usr/bin/pg_autoctl")]
            .into_iter()
            .filter(|tool| !tool.exists())
            .collect();
        assert!(
            missing.is_empty(),
            "{missing:?} missing: run scripts/setup-tests (it installs PostgreSQL 15 and pg_auto_failover)"
        );
        // A port free when checked may be taken by the time the server binds it (another test
        // picked it too): then try again elsewhere, and only then.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("hotline-pg")
                .tempdir_in(temp_parent())
                .unwrap()
                .keep();
            let mut run = Command::new(script());
            run.arg(command).arg(&dir);
            if command == "single" {
                run.arg(free_port_below_32768().to_string());
            }
            let output = run.stdin(Stdio::null()).output().unwrap();
            let server =
                Postgres { dir, uri: String::from_utf8_lossy(&output.stdout).trim().to_owned() };
            if output.status.success() && !server.uri.is_empty() {
                return server;
            }
            let failure = format!("{}{}", printed(&output), server.logs());
            let busy = failure.contains("in use");
            failures.push(failure);
            if !busy {
                break;
            }
        }
        panic!("PostgreSQL did not start ({command}):\n{}", failures.join("\n---\n"));
    }

    /// `postgres://postgres@127.0.0.1:PORT/hotline`, or a cluster's multi-host URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The folder holding everything of this server.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URI of another database on the same server(s).
    pub fn database_uri(&self, name: &str) -> String {
        let (servers, query) = self.uri.split_once("/hotline").unwrap();
        format!("{servers}/{name}{query}")
    }

    /// `psql` on `uri`, quiet, unaligned, stopping at the first error: the SQL goes in on
    /// standard input (an argument may not be longer than 128 KiB).
    pub fn psql(&self, uri: &str, sql: &str, extra: &[&str]) -> Output {
        let mut child = Command::new(Path::new(BIN).join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", uri])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// What `sql` printed on the `hotline` database; a failure fails the test.
    pub fn query(&self, sql: &str) -> String {
        self.query_on(&self.uri, sql)
    }

    /// What `sql` printed on the database at `uri`; a failure fails the test.
    pub fn query_on(&self, uri: &str, sql: &str) -> String {
        let output = self.psql(uri, sql, &[]);
        assert!(output.status.success(), "{sql}\n{}", printed(&output));
        String::from_utf8_lossy(&output.stdout).trim_end().to_owned()
    }

    /// The URI of one data node of a cluster (`node1`, first in the URI, or `node2`), alone,
    /// whatever its role: to look at a standby, or at a node that has just come back.
    pub fn node_uri(&self, node: &str) -> String {
        let (servers, _) = self.uri.split_once("/hotline").unwrap();
        let hosts: Vec<&str> =
            servers.trim_start_matches("postgres://postgres@").split(',').collect();
        let host = match node {
            "node1" => hosts[0],
            "node2" => hosts[1],
            other => panic!("a cluster has node1 and node2, not {other}"),
        };
        format!("postgres://postgres@{host}/hotline")
    }

    /// Kills `node` of a cluster with -9, keeper and PostgreSQL, as when its machine dies;
    /// returns once nothing of it runs.
    pub fn kill(&self, node: &str) {
        self.run(&["kill", node]);
    }

    /// Starts killed `node`'s keeper again; returns once it is back as the synchronous
    /// standby of the other node.
    pub fn resume(&self, node: &str) {
        self.run(&["resume", node]);
    }

    /// What the monitor says of `node`: the state it reports and the state it is assigned.
    pub fn node_state(&self, node: &str) -> (String, String) {
        let state = self.run(&["state"]);
        // `pg_autoctl show state`: a table, `|` between the columns, the name first and the
        // two states last.
        let row = state.lines().find(|line| line.split('|').next().map(str::trim) == Some(node));
        let columns: Vec<&str> = row
            .unwrap_or_else(|| panic!("{node} is not in the state:\n{state}"))
            .split('|')
            .map(str::trim)
            .collect();
        let [.., reported, assigned] = columns[..] else { panic!("{state}") };
        (reported.to_owned(), assigned.to_owned())
    }

    /// Runs the script on this folder; what it printed on standard output. A failure fails
    /// the test, with the servers' logs.
    fn run(&self, args: &[&str]) -> String {
        let (command, rest) = args.split_first().unwrap();
        let output = Command::new(script())
            .arg(command)
            .arg(&self.dir)
            .args(rest)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "cluster {args:?}:\n{}{}", printed(&output), self.logs());
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The logs the servers wrote, to explain a failure.
    fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                logs.push_str(&format!("== {}\n{text}\n", path.display()));
            }
        }
        logs
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        match Command::new(script()).arg("stop").arg(&self.dir).stdin(Stdio::null()).output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!("stopping {}: {}", self.dir.display(), printed(&output)),
            Err(e) => eprintln!("stopping {}: {e}", self.dir.display()),
        }
    }
}

/// The script that starts and stops the servers.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("postgres").join("cluster")
}

/// /dev/shm where there is one: a server starts three times faster in memory than on a disk.
fn temp_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() }
}

/// A loopback port free a moment ago, below 32768: above, in the range the system hands out
/// to outgoing connections, one may hold it by the time the server binds it.
pub fn free_port_below_32768() -> u16 {
    for _ in 0..1000 {
        let mut random = RandomState::new().build_hasher();
        random.write_u64(0);
        let port = 20_000 + (random.finish() % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port from 20000 to 31999");
}
