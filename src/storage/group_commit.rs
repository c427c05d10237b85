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
