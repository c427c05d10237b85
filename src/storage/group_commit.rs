//! Group commit: records that arrive while a write is on the disk are written together, in
//! one transaction and one fsync.
//!
//! Every webhook of a call writes a record, and with `synchronous = FULL` each transaction
//! waits for its own fsync: one writer connection then commits a few hundred records a second
//! at most, whatever the CPU could do, and a burst of calls queues behind the disk. Here the
//! first record to arrive starts a flush on the blocking pool; records arriving meanwhile wait
//! in [`WriteQueue`] and the flush takes them all in its next transaction. Each record is
//! applied inside its own savepoint, so one bad record fails alone and the rest of its group
//! is still committed; each waiter learns its own record's fate, and only after the commit
//! that made it durable. Under light load a group is one record and nothing changes.

use std::mem;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::StorageError;
use crate::cases::Record;

/// The most records one transaction takes, so a huge backlog is committed in steps and the
/// first waiters are not kept for the last.
const MAX_GROUP: usize = 512;

/// The records waiting for the next group, and whether a flush is running.
#[derive(Debug, Default)]
pub(super) struct WriteQueue {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    waiting: Vec<(Record, oneshot::Sender<Result<(), StorageError>>)>,
    flushing: bool,
}

/// What applies one record inside an open transaction.
pub(super) type ApplyFn = fn(&rusqlite::Transaction<'_>, &Record) -> Result<(), StorageError>;

/// A record's place in the queue: its result comes once its group is committed.
pub(super) struct Ticket(oneshot::Receiver<Result<(), StorageError>>);

impl Ticket {
    /// Waits for the record's group.
    pub(super) async fn result(self) -> Result<(), StorageError> {
        self.0.await.unwrap_or_else(|_| {
            Err(StorageError::Task("the group write stopped before this record's turn".into()))
        })
    }
}

impl WriteQueue {
    /// Queues `record`. `true` when no flush is running: the caller must start one
    /// ([`WriteQueue::flush`], on the blocking pool).
    pub(super) fn push(&self, record: Record) -> (bool, Ticket) {
        let (done, result) = oneshot::channel();
        let mut state = lock(&self.state);
        state.waiting.push((record, done));
        (!mem::replace(&mut state.flushing, true), Ticket(result))
    }

    /// Writes groups with the connection `writer` locks until nobody waits.
    pub(super) fn flush<'a>(
        &self,
        writer: impl Fn() -> MutexGuard<'a, Connection>,
        apply: ApplyFn,
    ) {
        // If applying panics, the next record pushed starts a new flush, which takes whatever
        // is still queued; the records of the group that panicked get an error.
        struct Reset<'q>(&'q WriteQueue);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    lock(&self.0.state).flushing = false;
                }
            }
        }
        let _reset = Reset(self);
        loop {
            let group = {
                let mut state = lock(&self.state);
                if state.waiting.is_empty() {
                    state.flushing = false;
                    return;
                }
                let take = state.waiting.len().min(MAX_GROUP);
                state.waiting.drain(..take).collect::<Vec<_>>()
            };
            let records: Vec<&Record> = group.iter().map(|(record, _)| record).collect();
            let results = write_group(&mut writer(), &records, apply);
            for ((_, done), result) in group.into_iter().zip(results) {
                // A waiter that gave up (its deadline passed) has journaled its record
                // already; the copy written here is applied again from the journal, to no
                // effect.
                let _ = done.send(result);
            }
        }
    }
}

/// One transaction for `records`, each in its own savepoint. One result per record.
fn write_group(
    conn: &mut Connection,
    records: &[&Record],
    apply: ApplyFn,
) -> Vec<Result<(), StorageError>> {
    let every = |error: &rusqlite::Error| records.iter().map(|_| Err(copy(error))).collect();
    // IMMEDIATE takes the write lock up front: waiting for it is then covered by the busy
    // timeout, instead of failing at once when a read transaction tries to become a write.
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => return every(&error),
    };
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        if let Err(error) = tx.execute_batch("SAVEPOINT record") {
            results.push(Err(error.into()));
            continue;
        }
        match apply(&tx, record) {
            Ok(()) => results.push(tx.execute_batch("RELEASE record").map_err(Into::into)),
            Err(error) if tx.is_autocommit() => {
                // SQLite rolled the whole transaction back by itself (a full disk, an I/O
                // error): the records before this one are gone too, and none after it can be
                // written. Every record of the group gets this error, so each is journaled.
                return records.iter().map(|_| Err(copy_storage(&error))).collect();
            }
            Err(error) => {
                // Undo this record's half-done changes only; the group goes on.
                let _ = tx.execute_batch("ROLLBACK TO record; RELEASE record");
                results.push(Err(error));
            }
        }
    }
    match tx.commit() {
        Ok(()) => results,
        Err(error) => every(&error),
    }
}

/// [`copy`] for an error already wrapped.
fn copy_storage(error: &StorageError) -> StorageError {
    match error {
        StorageError::Sqlite(error) => copy(error),
        other => StorageError::Task(format!("the group write failed: {other}")),
    }
}

/// A copy of an SQLite error for each record of a failed group (the type is not `Clone`).
fn copy(error: &rusqlite::Error) -> StorageError {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone()).into()
        }
        other => StorageError::Task(format!("the group write failed: {other}")),
    }
}

fn lock(state: &Mutex<QueueState>) -> MutexGuard<'_, QueueState> {
    // The state is a list and a flag, sound whatever a panicking holder was doing.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cases::CallSid;

    fn record(sid: &str) -> Record {
        Record::CallStarted {
            call_sid: CallSid::parse(sid).unwrap(),
            at: chrono::Utc::now(),
            caller: None,
            country: None,
        }
    }

    /// Inserts the record's call id, then fails if it ends in `bad`: a half-done record.
    fn insert_then_fail_bad(
        tx: &rusqlite::Transaction<'_>,
        record: &Record,
    ) -> Result<(), StorageError> {
        let sid = record.call_sid().as_str().to_owned();
        tx.execute("INSERT INTO t (sid) VALUES (?1)", [&sid])?;
        if sid.ends_with("bad") {
            return Err(StorageError::Data("a bad record".into()));
        }
        Ok(())
    }

    fn stored(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT sid FROM t ORDER BY sid").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (sid TEXT PRIMARY KEY)").unwrap();
        conn
    }

    #[test]
    fn a_bad_record_fails_alone_and_the_rest_of_its_group_is_committed() {
        let mut conn = table();
        let records = [record("CAgood1"), record("CAbad"), record("CAgood2")];
        let group: Vec<&Record> = records.iter().collect();
        let results = write_group(&mut conn, &group, insert_then_fail_bad);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(matches!(results[1], Err(StorageError::Data(_))), "{results:?}");
        assert_eq!(stored(&conn), ["CAgood1", "CAgood2"], "the bad record's insert is undone");
        assert!(conn.is_autocommit(), "no transaction is left open");
    }

    #[test]
    fn a_failed_commit_fails_every_record_of_its_group() {
        let mut conn = table();
        // A deferred foreign key is checked at commit: the commit fails, not a record.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        fn orphan(tx: &rusqlite::Transaction<'_>, _: &Record) -> Result<(), StorageError> {
            tx.execute("INSERT INTO child (parent) VALUES (42)", [])?;
            Ok(())
        }
        let records = [record("CA1"), record("CA2")];
        let group: Vec<&Record> = records.iter().collect();
        let results = write_group(&mut conn, &group, orphan);
        assert!(results.iter().all(Result::is_err), "{results:?}");
        let children: i64 = conn.query_row("SELECT count(*) FROM child", [], |r| r.get(0)).unwrap();
        assert_eq!(children, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_submitted_at_once_all_land_and_each_learns_its_fate() {
        let queue = Arc::new(WriteQueue::default());
        let writer = Arc::new(Mutex::new(table()));
        let mut tasks = Vec::new();
        for i in 0..300 {
            let (queue, writer) = (Arc::clone(&queue), Arc::clone(&writer));
            tasks.push(tokio::spawn(async move {
                let sid = if i % 50 == 7 { format!("CA{i:04}bad") } else { format!("CA{i:04}") };
                let (start_flush, ticket) = queue.push(record(&sid));
                if start_flush {
                    let queue = Arc::clone(&queue);
                    tokio::task::spawn_blocking(move || {
                        queue.flush(|| writer.lock().unwrap(), insert_then_fail_bad);
                    });
                }
                (sid, ticket.result().await)
            }));
        }
        let mut good = Vec::new();
        for task in tasks {
            let (sid, result) = task.await.unwrap();
            assert_eq!(result.is_err(), sid.ends_with("bad"), "{sid}: {result:?}");
            if result.is_ok() {
                good.push(sid);
            }
        }
        good.sort();
        assert_eq!(good.len(), 294);
        assert_eq!(stored(&writer.lock().unwrap()), good);
        assert!(!lock(&queue.state).flushing, "the last flush ended");
    }
}
