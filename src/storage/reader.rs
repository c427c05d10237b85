//! The reader: one thread that owns the database's read connection and runs every read in
//! turn.
//!
//! Reads were already one at a time (one connection behind a mutex), but each went through
//! tokio's blocking pool: a task allocated, the pool's lock, a condition variable to wake an
//! idle thread, and that thread's timed wait afterwards, for every lookup a webhook makes.
//! A thread of its own sleeps on its channel instead, like the writer (`group_commit.rs`),
//! and reads that arrive together run back to back on one wake-up. The runtime's threads
//! still never touch SQLite: a slow disk stalls this thread, not the answers to the
//! provider, whose lookups keep their own deadlines.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::engine::Connection;
use tokio::sync::oneshot;

use super::{StorageError, panic_message};

/// A read run on the reader's connection, which sends its own result.
type Read = Box<dyn FnOnce(&mut Connection) + Send>;

/// The handle of the reader thread. Dropping it lets the thread finish what was sent, then
/// waits for it, so the connection is closed when the drop returns.
#[derive(Debug)]
pub(super) struct Reader {
    /// The thread's channel; `None` only while dropping, to end the thread.
    reads: Option<Sender<Read>>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    /// Starts the thread that owns `conn`.
    pub(super) fn start(conn: Connection) -> std::io::Result<Reader> {
        let (reads, received) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("db-reader".into())
            .spawn(move || run(conn, &received))?;
        Ok(Reader { reads: Some(reads), thread: Some(thread) })
    }

    /// Runs `work` with the read connection, after the reads sent before it.
    ///
    /// A panic in `work` becomes [`StorageError::Task`] with the panic's message; any
    /// transaction it left open is rolled back and the reader goes on.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let read: Read = Box::new(move |conn| {
            let outcome = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
                Err(StorageError::Task(format!("panicked: {}", panic_message(&*panic))))
            });
            // A waiter that gave up (its deadline passed) no longer listens.
            let _ = done.send(outcome);
        });
        // Without the thread the read is dropped here, with its sender: the wait below then
        // ends with an error instead of lasting for ever.
        if let Some(reads) = &self.reads {
            let _ = reads.send(read);
        } else {
            drop(read);
        }
        result.await.unwrap_or_else(|_| {
            Err(StorageError::Task("the database reader stopped before this read's turn".into()))
        })
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has done what is queued.
        self.reads = None;
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// The reader thread: one read at a time, until the channel closes.
fn run(mut conn: Connection, received: &Receiver<Read>) {
    while let Ok(read) = received.recv() {
        // A panicking read has reported itself (see `Reader::run`).
        let _ = catch_unwind(AssertUnwindSafe(|| read(&mut conn)));
        // A read that panicked inside a transaction leaves it open, and an open read
        // transaction would pin the log for good: roll it back so the next read starts clean.
        if !conn.is_autocommit()
            && let Err(error) = conn.end(false)
        {
            tracing::error!(%error, "could not roll back after a panic in a read");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> Reader {
        Reader::start(Connection::from(rusqlite::Connection::open_in_memory().unwrap())).unwrap()
    }

    #[tokio::test]
    async fn reads_run_in_the_order_they_were_sent_and_return_their_results() {
        let reader = reader();
        let first =
            reader.run(|conn| Ok(conn.query_row("SELECT 1 + 1", (), |r| r.get::<_, i64>(0))?));
        let second =
            reader.run(|conn| Ok(conn.query_row("SELECT 'two'", (), |r| r.get::<_, String>(0))?));
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first.unwrap(), 2);
        assert_eq!(second.unwrap(), "two");
    }

    #[tokio::test]
    async fn a_panicking_read_is_an_error_and_leaves_no_transaction_open() {
        let reader = reader();
        let panicked = reader
            .run(|conn| -> Result<(), StorageError> {
                conn.execute_batch("BEGIN")?;
                panic!("a bug in a read");
            })
            .await;
        assert!(
            matches!(&panicked, Err(StorageError::Task(message)) if message.contains("a bug in a read")),
            "{panicked:?}"
        );
        let open = reader.run(|conn| Ok(!conn.is_autocommit())).await.unwrap();
        assert!(!open, "the panicked read's transaction was left open");
    }

    #[tokio::test]
    async fn a_read_after_the_thread_is_gone_is_an_error_not_a_hang() {
        let mut reader = reader();
        // What dropping does first: close the channel and let the thread end.
        reader.reads = None;
        if let Some(thread) = reader.thread.take() {
            thread.join().unwrap();
        }
        let result = reader.run(|_| Ok(())).await;
        assert!(matches!(result, Err(StorageError::Task(_))), "{result:?}");
    }
}
