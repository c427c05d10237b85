//! The writer: one thread that owns the database's writer connection, does every write, and
//! commits webhooks' records in groups.
//!
//! Every webhook of a call writes a record, and with `synchronous = FULL` each transaction
//! waits for its own fsync: one writer connection then commits a few hundred records a second
//! at most, whatever the CPU could do, and a burst of calls queues behind the disk. So the
//! records that arrive while a group is on the disk wait in the writer's channel, and the
//! thread takes them all into its next transaction: one transaction and one fsync for the lot.
//! Each record is applied inside its own savepoint, so one bad record fails alone and the rest
//! of its group is still committed; each waiter learns its own record's fate, and only after
//! the commit that made it durable. Under light load a group is one record and nothing
//! changes.
//!
//! A thread of its own rather than tokio's blocking pool: handing each write to the pool cost
//! a thread wake-up and a task switch per record, the largest item of the server's profile.
//! The thread sleeps on its channel, so a burst of records costs one wake-up. The other
//! writes (people, queues, case work) are closures sent down the same channel, in order
//! with the records, so there is still exactly one writer. Writes as frequent as records (a
//! text conversation's messages, the outbox's bookkeeping) are *grouped* closures: they join
//! the records' groups, each in its own savepoint like a record, and learn their result only
//! once the group is committed. Reads do not come here: they use their own connection
//! (`sqlite.rs`) and never wait behind a write.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

use super::engine::{self, Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::checkpoint::{self, LogRestart};
use super::event_cache::{EventCache, WriterCache};
use super::{StorageError, panic_message};
use crate::domain::cases::Record;

/// The most records one transaction takes, so a huge backlog is committed in steps and the
/// first waiters are not kept for the last.
const MAX_GROUP: usize = 512;

/// What applies one record inside an open transaction, with the writer's cache of events.
pub(super) type ApplyFn =
    fn(&super::engine::Transaction<'_>, &Record, &mut EventCache) -> Result<(), StorageError>;

/// A closure run on the writer's connection, which sends its own result.
type Work = Box<dyn FnOnce(&mut Connection) + Send>;

/// A write that shares a group's transaction: run inside its savepoint with the writer's
/// cache of events (given `None` when the group has no transaction to run in), it says
/// whether it failed (its changes are then undone) and what tells its waiter once the
/// group's commit is known.
type Grouped =
    Box<dyn FnOnce(Option<(&Transaction<'_>, &mut WriterCache)>) -> (bool, Finish) + Send>;

/// Tells a grouped write's waiter its result, given how its group's commit went.
type Finish = Box<dyn FnOnce(Result<(), StorageError>) + Send>;

/// What the writer thread is asked to do.
enum Job {
    /// Store a record; its result goes back once its group is committed.
    Record(Record, oneshot::Sender<Result<(), StorageError>>),
    /// Run a write in the next group.
    Grouped(Grouped),
    /// Run any other write.
    Work(Work),
}

/// One member of a group: a record with its waiter, or a grouped write.
enum Member {
    Record(Record, oneshot::Sender<Result<(), StorageError>>),
    Grouped(Grouped),
}

/// The handle of the writer thread. Dropping it lets the thread finish what was sent, then
/// waits for it, so the connection is closed when the drop returns.
#[derive(Debug)]
pub(super) struct Writer {
    /// The thread's channel; `None` only while dropping, to end the thread.
    jobs: Option<Sender<Job>>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

/// A record's place in the queue: its result comes once its group is committed.
pub(super) struct Ticket(oneshot::Receiver<Result<(), StorageError>>);

impl Ticket {
    /// Waits for the record's group.
    pub(super) async fn result(self) -> Result<(), StorageError> {
        self.0.await.unwrap_or_else(|_| Err(stopped()))
    }
}

impl Writer {
    /// Starts the thread that owns `conn` and applies records with `apply`, restarting the
    /// write-ahead log between groups when `restart` asks (SQLite).
    pub(super) fn start(
        conn: Connection,
        apply: ApplyFn,
        restart: Option<LogRestart>,
    ) -> std::io::Result<Writer> {
        let (jobs, received) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(conn, &received, apply, restart.as_ref()))?;
        Ok(Writer { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Queues `record` for the next group.
    pub(super) fn record(&self, record: Record) -> Ticket {
        let (done, result) = oneshot::channel();
        // If the thread is gone the job comes back and is dropped with its sender: the
        // ticket then reports the writer stopped.
        self.send(Job::Record(record, done));
        Ticket(result)
    }

    /// Runs `work` in the next group's transaction, in a savepoint of its own: an error
    /// undoes its changes only. Its result comes once the group is committed (a failed commit
    /// is its error too). For writes as frequent as records, which would otherwise wait for an
    /// fsync each.
    pub(super) async fn grouped<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    {
        // Its writes to the events, if any, empty the cache (the update hook sees them).
        self.grouped_job(move |tx, _| work(tx)).await
    }

    /// [`Writer::grouped`] for a write that stores events as the records do, through the
    /// writer's cache of events (`apply_cached`), and writes `case_events` and `case_tags` in
    /// no other way: the cache then stays right across it and serves its case's next step,
    /// where any other write to those tables empties it.
    pub(super) async fn grouped_with_events<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut EventCache) -> Result<T, StorageError> + Send + 'static,
    {
        self.grouped_job(move |tx, cache| {
            let outcome = work(tx, cache.for_record());
            cache.record_applied();
            outcome
        })
        .await
    }

    async fn grouped_job<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut WriterCache) -> Result<T, StorageError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.send(Job::Grouped(Box::new(move |group| {
            // Without a transaction the group's own error is what the waiter learns.
            let Some((tx, cache)) = group else {
                let finish: Finish = Box::new(move |committed| {
                    let _ = done.send(committed.and(Err(stopped())));
                });
                return (true, finish);
            };
            let outcome =
                catch_unwind(AssertUnwindSafe(|| work(tx, cache))).unwrap_or_else(|panic| {
                    Err(StorageError::Task(format!("panicked: {}", panic_message(&*panic))))
                });
            let failed = outcome.is_err();
            let finish: Finish = Box::new(move |committed| {
                let _ = done.send(committed.and(outcome));
            });
            (failed, finish)
        })));
        result.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Runs `work` with the writer connection, after whatever was sent before it.
    ///
    /// A panic in `work` becomes [`StorageError::Task`] with the panic's message; any
    /// transaction it left open is rolled back and the writer goes on.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.send(Job::Work(Box::new(move |conn| {
            let outcome = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
                Err(StorageError::Task(format!("panicked: {}", panic_message(&*panic))))
            });
            let _ = done.send(outcome);
        })));
        result.await.unwrap_or_else(|_| Err(stopped()))
    }

    fn send(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has done what is queued.
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// The writer thread: one job or group at a time, until the channel closes.
fn run(
    mut conn: Connection,
    received: &Receiver<Job>,
    apply: ApplyFn,
    restart: Option<&LogRestart>,
) {
    // Reused from group to group, so a drain allocates nothing of its own.
    let mut members = Vec::new();
    let mut cache = WriterCache::install(&conn);
    let mut held = None;
    loop {
        let job = match held.take() {
            Some(job) => job,
            None => match received.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Work(work) => {
                // A panicking closure has reported itself (see `Writer::run`).
                let _ = catch_unwind(AssertUnwindSafe(|| work(&mut conn)));
                roll_back_leftover(&conn);
            }
            first => {
                members.push(match first {
                    Job::Record(record, done) => Member::Record(record, done),
                    Job::Grouped(grouped) => Member::Grouped(grouped),
                    Job::Work(_) => unreachable!("matched above"),
                });
                // Everything that arrived while the last group was on the disk, in order;
                // other work waits until this group is committed.
                while members.len() < MAX_GROUP {
                    match received.try_recv() {
                        Ok(Job::Record(record, done)) => members.push(Member::Record(record, done)),
                        Ok(Job::Grouped(grouped)) => members.push(Member::Grouped(grouped)),
                        Ok(work) => {
                            held = Some(work);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                write_group(&mut conn, &mut members, apply, &mut cache);
                roll_back_leftover(&conn);
            }
        }
        if let (Some(restart), Some(sqlite)) = (restart, conn.sqlite())
            && restart.take()
        {
            checkpoint::restart_log(sqlite);
        }
    }
}

/// After a panic, the transaction it may have left open is rolled back so the next job
/// starts clean; refusing the connection for good would take the hotline's memory down for
/// one bug.
fn roll_back_leftover(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(error) = conn.end(false)
    {
        tracing::error!(%error, "could not roll back after a panic in storage");
    }
}

fn stopped() -> StorageError {
    StorageError::Task("the database writer stopped before this write's turn".into())
}

/// A member applied, waiting for its group's commit.
enum Pending {
    /// A record's waiter and the record's own result.
    Record(oneshot::Sender<Result<(), StorageError>>, Result<(), StorageError>),
    /// A grouped write's finisher.
    Grouped(Finish),
}

impl Pending {
    /// Tells the waiter, given how the group's commit went.
    fn tell(self, committed: Result<(), StorageError>) {
        match self {
            // A waiter that gave up (its deadline passed) has journaled its record already;
            // the copy written here is applied again from the journal, to no effect.
            Pending::Record(done, result) => drop(done.send(committed.and(result))),
            Pending::Grouped(finish) => finish(committed),
        }
    }
}

/// One transaction for the group, each member in its own savepoint; every waiter is told
/// its own result once the commit is known, never before.
fn write_group(
    conn: &mut Connection,
    members: &mut Vec<Member>,
    apply: ApplyFn,
    cache: &mut WriterCache,
) {
    // IMMEDIATE takes the write lock up front: waiting for it is then covered by the busy
    // timeout, instead of failing at once when a read transaction tries to become a write.
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => {
            for member in members.drain(..) {
                unapplied(member).tell(Err(copy(&error)));
            }
            return;
        }
    };
    cache.group_began(&tx);
    // Prepared once per connection, like every statement of the record path: a group of
    // hundreds would otherwise parse these hundreds of times.
    let savepoint = |sql: &str| tx.prepare_cached(sql).and_then(|mut stmt| stmt.execute(()));
    let mut pending = Vec::with_capacity(members.len());
    // Set when SQLite rolled the whole transaction back by itself (a full disk, an I/O
    // error): the members before are gone too, none after can be written, and every member
    // gets this error (each record is then journaled).
    let mut lost: Option<StorageError> = None;
    for member in members.drain(..) {
        if lost.is_some() {
            pending.push(unapplied(member));
            continue;
        }
        if let Err(error) = savepoint("SAVEPOINT record") {
            let member = unapplied(member);
            match member {
                Pending::Record(done, _) => pending.push(Pending::Record(done, Err(error.into()))),
                grouped => pending.push(grouped),
            }
            continue;
        }
        let (failed, applied) = match member {
            Member::Record(record, done) => {
                let events = cache.for_record();
                let result = catch_unwind(AssertUnwindSafe(|| apply(&tx, &record, events)))
                    .unwrap_or_else(|panic| {
                        Err(StorageError::Task(format!(
                            "applying a record panicked: {}",
                            panic_message(&*panic)
                        )))
                    });
                cache.record_applied();
                (result.is_err(), Pending::Record(done, result))
            }
            Member::Grouped(grouped) => {
                let (failed, finish) = grouped(Some((&tx, &mut *cache)));
                (failed, Pending::Grouped(finish))
            }
        };
        if tx.is_autocommit() {
            lost = Some(match &applied {
                Pending::Record(_, Err(error)) => copy_storage(error),
                _ => StorageError::Task("the database rolled the group's transaction back".into()),
            });
            pending.push(applied);
            continue;
        }
        if failed {
            // Undo this member's half-done changes only; the group goes on.
            cache.rolled_back();
            let _ = savepoint("ROLLBACK TO record").and_then(|_| savepoint("RELEASE record"));
            pending.push(applied);
        } else {
            match savepoint("RELEASE record") {
                Ok(_) => pending.push(applied),
                Err(error) => {
                    cache.rolled_back();
                    pending.push(match applied {
                        Pending::Record(done, _) => Pending::Record(done, Err(error.into())),
                        grouped => grouped,
                    });
                }
            }
        }
    }
    if let Some(error) = lost {
        cache.rolled_back();
        drop(tx);
        for member in pending {
            member.tell(Err(copy_storage(&error)));
        }
        return;
    }
    match tx.commit() {
        Ok(()) => {
            cache.committed();
            pending.into_iter().for_each(|member| member.tell(Ok(())));
        }
        Err(error) => {
            cache.rolled_back();
            pending.into_iter().for_each(|member| member.tell(Err(copy(&error))));
        }
    }
}

/// A member that could not be applied, as a waiter to tell.
fn unapplied(member: Member) -> Pending {
    match member {
        Member::Record(_, done) => {
            Pending::Record(done, Err(StorageError::Task("not applied".into())))
        }
        Member::Grouped(grouped) => Pending::Grouped(grouped(None).1),
    }
}

/// [`copy`] for an error already wrapped.
fn copy_storage(error: &StorageError) -> StorageError {
    match error {
        StorageError::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
            rusqlite::Error::SqliteFailure(*code, message.clone()).into()
        }
        StorageError::Postgres(error) => Arc::clone(error).into(),
        other => StorageError::Task(format!("the group write failed: {other}")),
    }
}

/// A copy of the engine's error for each record of a failed group (SQLite's is not `Clone`).
fn copy(error: &engine::Error) -> StorageError {
    match error {
        engine::Error::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
            rusqlite::Error::SqliteFailure(*code, message.clone()).into()
        }
        engine::Error::Postgres(error) => Arc::clone(error).into(),
        other => StorageError::Task(format!("the group write failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::cases::CallSid;

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
        tx: &super::engine::Transaction<'_>,
        record: &Record,
        _: &mut EventCache,
    ) -> Result<(), StorageError> {
        let sid = record.call_sid().as_str().to_owned();
        tx.execute("INSERT INTO t (sid) VALUES (?1)", [&sid])?;
        if sid.ends_with("bad") {
            return Err(StorageError::Data("a bad record".into()));
        }
        Ok(())
    }

    /// Panics on a record whose call id ends in `boom`.
    fn panic_on_boom(
        tx: &super::engine::Transaction<'_>,
        record: &Record,
        cache: &mut EventCache,
    ) -> Result<(), StorageError> {
        assert!(!record.call_sid().as_str().ends_with("boom"), "a bug in applying");
        insert_then_fail_bad(tx, record, cache)
    }

    /// One group of `records`, and each one's result as its waiter learns it.
    fn write_records(
        conn: &mut Connection,
        records: &[Record],
        apply: ApplyFn,
    ) -> Vec<Result<(), StorageError>> {
        let mut results = Vec::new();
        let mut members = Vec::new();
        for record in records {
            let (done, result) = oneshot::channel();
            members.push(Member::Record(record.clone(), done));
            results.push(result);
        }
        let mut cache = WriterCache::install(conn);
        write_group(conn, &mut members, apply, &mut cache);
        results.into_iter().map(|mut result| result.try_recv().unwrap()).collect()
    }

    fn stored(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT sid FROM t ORDER BY sid").unwrap();
        stmt.query_map((), |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn table() -> Connection {
        let conn = Connection::from(rusqlite::Connection::open_in_memory().unwrap());
        conn.execute_batch("CREATE TABLE t (sid TEXT PRIMARY KEY)").unwrap();
        conn
    }

    #[test]
    fn a_bad_record_fails_alone_and_the_rest_of_its_group_is_committed() {
        let mut conn = table();
        let records = [record("CAgood1"), record("CAbad"), record("CAgood2")];
        let results = write_records(&mut conn, &records, insert_then_fail_bad);
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
        fn orphan(
            tx: &super::engine::Transaction<'_>,
            _: &Record,
            _: &mut EventCache,
        ) -> Result<(), StorageError> {
            tx.execute("INSERT INTO child (parent) VALUES (42)", ())?;
            Ok(())
        }
        let records = [record("CA1"), record("CA2")];
        let results = write_records(&mut conn, &records, orphan);
        assert!(results.iter().all(Result::is_err), "{results:?}");
        let children: i64 = conn.query_row("SELECT count(*) FROM child", (), |r| r.get(0)).unwrap();
        assert_eq!(children, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_submitted_at_once_all_land_and_each_learns_its_fate() {
        let writer = Arc::new(Writer::start(table(), insert_then_fail_bad, None).unwrap());
        let mut tasks = Vec::new();
        for i in 0..300 {
            let writer = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                let sid = if i % 50 == 7 { format!("CA{i:04}bad") } else { format!("CA{i:04}") };
                let ticket = writer.record(record(&sid));
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
        let stored = writer.run(|conn| Ok(stored(conn))).await.unwrap();
        assert_eq!(stored, good);
    }

    #[tokio::test]
    async fn a_panic_fails_its_own_write_and_the_writer_goes_on() {
        let writer = Writer::start(table(), panic_on_boom, None).unwrap();
        let work: Result<(), _> = writer
            .run(|conn| {
                conn.execute_batch("BEGIN; INSERT INTO t (sid) VALUES ('CAhalf')")?;
                panic!("a bug in a write")
            })
            .await;
        match work {
            Err(StorageError::Task(message)) => assert!(message.contains("a bug in a write")),
            other => panic!("expected a task error, got {other:?}"),
        }
        let boom = writer.record(record("CAboom")).result().await;
        assert!(matches!(boom, Err(StorageError::Task(ref m)) if m.contains("a bug in applying")));
        writer.record(record("CAafter")).result().await.unwrap();
        let stored = writer.run(|conn| Ok(stored(conn))).await.unwrap();
        assert_eq!(stored, ["CAafter"], "the half-done transaction was rolled back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_share_the_records_groups_and_each_fails_alone() {
        let writer = Arc::new(Writer::start(table(), insert_then_fail_bad, None).unwrap());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let writer = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                let sid = format!("CW{i:04}");
                let result = if i % 2 == 0 {
                    writer.record(record(&sid)).result().await
                } else {
                    let mine = sid.clone();
                    writer
                        .grouped(move |tx| {
                            tx.execute("INSERT INTO t (sid) VALUES (?1)", [&mine])?;
                            if i % 40 == 1 {
                                return Err(StorageError::Conflict("undone".into()));
                            }
                            Ok(())
                        })
                        .await
                };
                (i, sid, result)
            }));
        }
        let mut good = Vec::new();
        for task in tasks {
            let (i, sid, result) = task.await.unwrap();
            assert_eq!(result.is_err(), i % 40 == 1, "{sid}: {result:?}");
            if result.is_ok() {
                good.push(sid);
            }
        }
        good.sort();
        let stored = writer.run(|conn| Ok(stored(conn))).await.unwrap();
        assert_eq!(stored, good, "a failed grouped write's insert is undone, the rest kept");
        let panicked: Result<(), _> = writer.grouped(|_| panic!("a bug in a grouped write")).await;
        assert!(matches!(panicked, Err(StorageError::Task(ref m)) if m.contains("a bug")));
        writer.record(record("CWafter")).result().await.unwrap();
    }

    /// The checkpointer asks, the writer restarts the log at its next turn: the commit after
    /// lands at the log's beginning. Without the request nothing checkpoints here, and the
    /// log holds every commit.
    #[tokio::test]
    async fn the_writer_restarts_the_log_between_groups_when_asked() {
        for asked in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cases.db");
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
            conn.execute_batch("CREATE TABLE t (sid TEXT PRIMARY KEY)").unwrap();
            let restart = LogRestart::default();
            let writer =
                Writer::start(Connection::from(conn), insert_then_fail_bad, Some(restart.clone()))
                    .unwrap();
            for n in 0..50 {
                writer.record(record(&format!("CA{n}"))).result().await.unwrap();
            }
            if asked {
                restart.ask();
            }
            // The request is taken after this job; the record after lands in the new log.
            writer.run(|_| Ok(())).await.unwrap();
            writer.record(record("CAlast")).result().await.unwrap();
            let other = rusqlite::Connection::open(&path).unwrap();
            let frames: i64 =
                other.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1)).unwrap();
            if asked {
                assert!(frames <= 2, "the log was not restarted: {frames} frames");
            } else {
                assert!(frames >= 50, "the log holds {frames} frames");
            }
        }
    }

    #[tokio::test]
    async fn records_and_other_writes_are_done_in_the_order_sent() {
        let writer = Writer::start(table(), insert_then_fail_bad, None).unwrap();
        let first = writer.record(record("CA1"));
        let count = writer
            .run(|conn| Ok(conn.query_row("SELECT count(*) FROM t", (), |r| r.get::<_, i64>(0))?));
        let (first, count) = tokio::join!(first.result(), count);
        first.unwrap();
        assert_eq!(count.unwrap(), 1, "the write sent after the record saw it committed");
    }
}
