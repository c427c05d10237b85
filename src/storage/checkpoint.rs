//! Checkpoints of the write-ahead log, run by a thread with a connection of its own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that
//! commit copies the log into the database and syncs the database file before it returns,
//! so every few dozen group commits one batch of webhooks waits for a checkpoint as well as
//! for its own fsync. The writer has automatic checkpoints off instead, and this thread
//! checkpoints every [`INTERVAL`] in `PASSIVE` mode, which runs beside the writer without
//! taking its lock. Durability does not change: a commit is durable once the log is synced
//! (`synchronous = FULL`), checkpoint or not.
//!
//! A passive checkpoint cannot restart the log while commits keep landing, so under a long
//! burst the log would grow; past [`RESTART_FRAMES`] this thread asks the writer, through a
//! [`LogRestart`], to run a `RESTART` checkpoint between two of its groups. A restart needs
//! the writer's lock. Taken from this thread, it had to be won against the writer by
//! polling for up to the busy timeout (a second: most of 104 restarts timed at 5,000
//! requests/s took that long), and once won it was held while the readers finished; a
//! webhook stall of 1.6 s was seen. The writer has its lock at once, waits at most
//! [`READERS_WAIT`] for readers, and no group waits behind a restart for more than that,
//! its copy and its sync.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::Connection;

/// How often the log is checkpointed. An idle checkpoint is a read of the log's index.
const INTERVAL: Duration = Duration::from_millis(100);

/// Frames (pages) in the log beyond which the checkpoint also restarts it: 64 MiB of 4 KiB
/// pages, against SQLite's automatic 1,000. A restart holds the writer for the last frames'
/// copy and a sync of the database file (3-4 ms here, now and then 40-100 ms): with 4,096
/// frames that was five times a second at 5,500 steps/s, and the webhooks queued behind it
/// were the p99. The log's space, once grown, is reused, not given back.
const RESTART_FRAMES: i64 = 16384;

/// The most the log grows to between two restarts, in bytes: the room the database's disk
/// must keep free for commits to go on landing (`App::readiness`).
pub const LOG_MOST_BYTES: u64 = RESTART_FRAMES.unsigned_abs() * 4096;

/// The checkpointer's request that the writer restart the log, and the writer's answer.
#[derive(Debug, Clone, Default)]
pub(super) struct LogRestart(Arc<AtomicBool>);

impl LogRestart {
    /// Asks for a restart at the writer's next turn.
    pub(super) fn ask(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a restart was asked for since the last look; the request is taken.
    pub(super) fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// How long a restart waits for readers still in the old log (a long export, say): the
/// writer's next group waits behind it. A restart they hold up is asked for again at the
/// checkpointer's next look.
const READERS_WAIT: Duration = Duration::from_millis(50);

/// Restarts the log on the writer's connection, between two of its groups: copies what the
/// passive checkpoints left and starts the log from its beginning once the readers are done
/// with it.
pub(super) fn restart_log(conn: &Connection) {
    let busy: rusqlite::Result<u64> = conn.query_row("PRAGMA busy_timeout", [], |row| row.get(0));
    let restarted = conn.busy_timeout(READERS_WAIT).and_then(|()| checkpoint(conn, "RESTART"));
    if let Ok(millis) = busy {
        let _ = conn.busy_timeout(Duration::from_millis(millis));
    }
    if let Err(error) = restarted {
        tracing::warn!(%error, "cannot restart the database's write-ahead log");
    }
}

/// The checkpointing thread. Dropping this stops it (its connection then closes).
#[derive(Debug)]
pub(super) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    /// Checkpoints the database of `conn` until dropped, asking `restart` for a restart of
    /// the log past [`RESTART_FRAMES`].
    pub(super) fn start(conn: Connection, restart: LogRestart) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel();
        std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || run(&conn, &stopped, &restart))?;
        Ok(Checkpointer { _stop: stop })
    }
}

fn run(conn: &Connection, stopped: &Receiver<()>, restart: &LogRestart) {
    let mut failing = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        match checkpoint(conn, "PASSIVE") {
            Ok(frames) => {
                failing = false;
                if frames > RESTART_FRAMES {
                    restart.ask();
                }
            }
            // Said once per failing spell, not ten times a second; the writer keeps working
            // (its log grows until a checkpoint succeeds again).
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot checkpoint the database's write-ahead log");
            }
            Err(_) => {}
        }
    }
}

/// Runs one checkpoint in `mode`; the log's size in frames.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits keep coming on a connection with automatic checkpoints off; with the
    /// checkpointer running the log is reused instead of growing by every commit.
    #[test]
    fn the_log_is_reused_while_commits_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (blob BLOB)").unwrap();
        let restart = LogRestart::default();
        let _checkpointer =
            Checkpointer::start(Connection::open(&path).unwrap(), restart.clone()).unwrap();
        // 40 commits of 100 KB, 4 MB in all, at most 25 a second.
        for _ in 0..40 {
            writer.execute("INSERT INTO t (blob) VALUES (zeroblob(100000))", ()).unwrap();
            writer.execute("DELETE FROM t", ()).unwrap();
            if restart.take() {
                restart_log(&writer);
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        let wal = std::fs::metadata(dir.path().join("cases.db-wal")).unwrap().len();
        assert!(wal < 2_000_000, "the log grew to {wal} bytes");
    }
}
