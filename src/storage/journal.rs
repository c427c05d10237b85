//! The journal: how webhooks write, without ever failing or keeping a caller waiting.
//!
//! A caller on the line must not hear silence because the database is locked by a backup or
//! stuck on a slow disk. [`Recorder::record`] gives the database a deadline; when it misses
//! it or fails, the record is appended to a journal file (one JSON line, fsync'd) and applied
//! later by [`Recorder::replay`]. Records are idempotent, so a record that reached both the
//! database and the journal (a write that finished after its deadline), or a replay cut short
//! by a crash, is applied twice to no effect.
//!
//! While the journal holds anything, new records go to it too, behind the older ones, so
//! records reach the database in the order they were made. (Records written at the same time
//! by different calls may land in either order; nothing depends on it.)
//!
//! # A reserve that a full disk cannot take away
//!
//! The journal is there for when the database cannot write, and one reason it cannot is a
//! full disk, which would stop an appended journal just the same. So the journal's file is
//! its reserve: created at its full size (`database.journal_reserve_mb`) by writing zeros,
//! synced, and records are written over those zeros in place. A record journaled never
//! needs a block the file does not already own, so a full disk cannot refuse it (on file
//! systems that overwrite in place: ext4, XFS, tmpfs; not on copy-on-write ones such as
//! Btrfs or ZFS). The records are the lines before the first zero byte; a replay moves the
//! lines journaled meanwhile to the front and zeroes the rest, so the file holds nothing
//! already applied. When more than half the reserve is used the journal raises an alarm
//! (an error in the log, the `hotline_journal_reserve_used_bytes` metric, `/readyz` 503);
//! a record that does not fit in what is left is lost, and said so loudly.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Storage, StorageError, blocking};
use crate::domain::cases::Record;

/// What became of a record given to [`Recorder::record`]; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// It is in the database.
    Stored,
    /// It is safely on disk in the journal and will reach the database later.
    Journaled,
    /// Neither the database nor the journal took it (logged at error).
    Lost,
}

/// Writes records to storage, falling back to the journal file. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Storage,
    /// The journal file.
    path: PathBuf,
    /// Where unreadable journal lines are kept for a person to look at.
    corrupt_path: PathBuf,
    /// The reserve asked for, in bytes.
    wanted: u64,
    /// How long a record may take to reach the database before it is journaled instead.
    deadline: Duration,
    /// What the journal file holds. Its lock orders every use of the journal file; the
    /// decision "journal empty, so write to the database" reads it but does not hold it across
    /// that write, so concurrent writes can be committed together. It is a tokio lock because
    /// it is held across the await of the fsync.
    space: Mutex<Space>,
    /// Held for a whole replay, so two replays never apply the same lines side by side.
    replaying: Mutex<()>,
    /// Told how long each database write took (the server's metrics); set once at start.
    write_observer: std::sync::OnceLock<Observer>,
}

/// The journal file's content and size.
#[derive(Debug, Clone, Copy)]
struct Space {
    /// The records in the journal.
    records: usize,
    /// Where the next record goes: the end of the records; the rest of the file is zeros.
    end: u64,
    /// The file's size, all of it owned on disk: what the journal can hold.
    capacity: u64,
    /// Whether the reserve-half-used alarm was raised since the journal was last empty.
    alarmed: bool,
}

impl Space {
    /// Whether more than half the reserve is in use: time to free the database's disk.
    fn over_alarm(&self) -> bool {
        self.end.saturating_mul(2) > self.capacity
    }
}

/// How much of the journal's reserve is in use, for metrics and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserve {
    /// Bytes of records waiting in the journal.
    pub used: u64,
    /// Bytes the journal owns on disk.
    pub capacity: u64,
    /// The reserve asked for (`database.journal_reserve_mb`); more than `capacity` when the
    /// disk did not have it at start.
    pub wanted: u64,
}

impl Reserve {
    /// The reserve is whole and at most half used: a fault of the database can be ridden out.
    pub fn healthy(&self) -> bool {
        self.capacity >= self.wanted && self.used.saturating_mul(2) <= self.capacity
    }
}

/// Told the time of each record's database write, successful or not.
pub type WriteObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// A [`WriteObserver`] in [`Inner`], which is `Debug`.
struct Observer(WriteObserver);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// How many times one [`Recorder::replay`] goes back for records journaled while it ran,
/// before leaving the rest to the next one: under steady traffic it could otherwise chase
/// new lines for ever.
const REPLAY_ROUNDS: usize = 8;

/// The shortest period [`Recorder::spawn_replayer`] accepts.
const MIN_REPLAY_PERIOD: Duration = Duration::from_millis(100);

impl Recorder {
    /// Opens (or creates, mode 0600) the journal at `journal_path`, makes it own `reserve`
    /// bytes on disk, and replays what it holds.
    ///
    /// A disk without room for the whole reserve does not stop the start: the journal keeps
    /// what it could take, logs an error, and reads unhealthy ([`Recorder::reserve_now`]). A
    /// replay that fails (database still unavailable) is logged and left to
    /// [`Recorder::replay`] or [`Recorder::spawn_replayer`]; only a journal file that cannot be
    /// created or read is an error.
    #[tracing::instrument(skip_all, fields(journal = %journal_path.display()))]
    pub async fn open(
        storage: Storage,
        journal_path: &Path,
        reserve: u64,
        deadline: Duration,
    ) -> Result<Recorder, StorageError> {
        let path = journal_path.to_owned();
        let space = {
            let path = path.clone();
            blocking(move || {
                prepare(&path, reserve).map_err(|source| StorageError::Journal { path, source })
            })
            .await?
        };
        if space.capacity < reserve {
            tracing::error!(
                owned_bytes = space.capacity,
                reserve_bytes = reserve,
                "the disk has no room for the journal's whole reserve; records may be lost if \
                 the database fails: free space on the journal's disk"
            );
        }
        let pending = space.records;
        let recorder = Recorder {
            inner: Arc::new(Inner {
                storage,
                corrupt_path: sibling(&path, ".corrupt"),
                wanted: reserve,
                path,
                deadline,
                space: Mutex::new(space),
                replaying: Mutex::new(()),
                write_observer: std::sync::OnceLock::new(),
            }),
        };
        if pending > 0 {
            tracing::info!(pending, "the journal holds records; replaying them");
            match recorder.replay().await {
                Ok(applied) => tracing::info!(applied, "journal replayed"),
                Err(error) => tracing::warn!(%error, "the journal cannot be replayed yet"),
            }
        }
        Ok(recorder)
    }

    /// Writes a record: to the database within the deadline, else to the journal. Never fails;
    /// the answer says where the record went.
    ///
    /// While the journal holds anything, the record goes behind it without trying the
    /// database, so records reach the database in the order they were made.
    pub async fn record(&self, record: Record) -> Durability {
        self.record_all(vec![record]).await
    }

    /// [`Recorder::record`] for the records of one answer, handed to the database together and
    /// in order, so they share one group commit instead of waiting for one fsync each. The
    /// answer is the worst durability among them.
    #[tracing::instrument(skip_all, fields(records = records.len()))]
    pub async fn record_all(&self, records: Vec<Record>) -> Durability {
        // The deadline counts from here, waiting behind other records included, so a slow
        // database cannot make a queue of webhooks that each wait a full deadline in turn.
        let give_up = tokio::time::Instant::now() + self.inner.deadline;
        if records.is_empty() {
            return Durability::Stored;
        }
        // Sealed before either copy is made, so the journal's file holds no recording's
        // address in the clear, and the database and journal copies are the same record.
        // Only a storage opened without its keys cannot seal, and no server runs on one; if
        // it ever did, the record would be journaled as it is rather than lost.
        let mut records = records;
        for record in &mut records {
            let _unsealed_if_locked = self.inner.storage.seal_record_in_place(record);
        }
        // The lock is not held across the database write: records written at the same time
        // then share one commit (the storage's group commit) instead of taking turns for an
        // fsync each. The records of one call are written together only from one answer, in
        // order, and a case's columns are derived from its events whatever their order, so a
        // record written beside one being journaled loses nothing.
        let journal_empty = self.inner.space.lock().await.records == 0;
        let mut worst = Durability::Stored;
        if !journal_empty {
            tracing::debug!("the journal is not empty; journaling behind it");
            for record in records {
                worst = worst.max(self.journal(record).await);
            }
            return worst;
        }
        let started = std::time::Instant::now();
        // All submitted before any is awaited. On timeout a write goes on in the background
        // and may still land; the journaled copy is then applied again later, to no effect.
        let writes: Vec<_> =
            records.iter().map(|record| self.inner.storage.submit(record.clone())).collect();
        for (record, write) in records.into_iter().zip(writes) {
            let written = tokio::time::timeout_at(give_up, write).await;
            if let Some(Observer(observe)) = self.inner.write_observer.get() {
                observe(started.elapsed());
            }
            match written {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => tracing::warn!(
                    %error,
                    kind = record_kind(&record),
                    "could not store a record; journaling it"
                ),
                Err(_) => tracing::warn!(
                    deadline_ms =
                        u64::try_from(self.inner.deadline.as_millis()).unwrap_or(u64::MAX),
                    kind = record_kind(&record),
                    "storing a record missed its deadline; journaling it"
                ),
            }
            worst = worst.max(self.journal(record).await);
        }
        worst
    }

    /// Writes `record` into the journal's reserve, after the records it holds.
    async fn journal(&self, record: Record) -> Durability {
        let mut space = self.inner.space.lock().await;
        let appended = match serde_json::to_vec(&record) {
            Ok(mut line) => {
                line.push(b'\n');
                let path = self.inner.path.clone();
                let at = space.end;
                let capacity = space.capacity;
                blocking(move || {
                    append(&path, at, capacity, &line)
                        .map_err(|source| StorageError::Journal { path, source })
                })
                .await
            }
            Err(error) => {
                Err(StorageError::Data(format!("a record cannot be written as JSON: {error}")))
            }
        };
        match appended {
            Ok(written) => {
                space.records += 1;
                space.end += written;
                if space.over_alarm() && !space.alarmed {
                    space.alarmed = true;
                    tracing::error!(
                        used_bytes = space.end,
                        reserve_bytes = space.capacity,
                        records = space.records,
                        "the journal's reserve is more than half used: the database has taken \
                         nothing for a long time; free its disk or clear its fault before the \
                         reserve runs out and records are lost"
                    );
                }
                Durability::Journaled
            }
            Err(error) => {
                // The call id and the kind say which record; nothing else of it is logged.
                tracing::error!(
                    %error,
                    call_sid = %record.call_sid(),
                    kind = record_kind(&record),
                    "a record was lost: neither the database nor the journal took it"
                );
                Durability::Lost
            }
        }
    }

    /// Applies the journal's records to the database in order and empties the journal once
    /// all are applied. Returns how many records were applied.
    ///
    /// Lines that cannot be read (a write cut short by a crash) are skipped with a warning and
    /// kept in the `.corrupt` file beside the journal. On a database error the journal is
    /// left whole; the records already applied will be applied again next time, to no effect.
    #[tracing::instrument(skip_all)]
    pub async fn replay(&self) -> Result<usize, StorageError> {
        let _one_at_a_time = self.inner.replaying.lock().await;
        let mut applied = 0;
        for _ in 0..REPLAY_ROUNDS {
            // Read under the lock so that no half-appended line is seen; apply without it, so
            // webhooks can keep journaling meanwhile.
            let snapshot = {
                let space = *self.inner.space.lock().await;
                let path = self.inner.path.clone();
                blocking(move || {
                    read_records(&path, space.end)
                        .map_err(|source| StorageError::Journal { path, source })
                })
                .await?
            };
            if snapshot.is_empty() {
                break;
            }
            let (records, corrupt) = parse(&snapshot);
            // All handed to the writer before any is awaited, in order, so that they share
            // group commits (up to 512 records a transaction) instead of one commit each: on a
            // disk that was full, a commit per record grew the write-ahead log by tens of
            // kilobytes each, faster than it could be checkpointed, until it had taken all the
            // space freed and the replay failed again. When one fails, those after it may have
            // landed; the journal stays whole and they are applied again, to no effect.
            let writes: Vec<_> =
                records.into_iter().map(|record| self.inner.storage.submit(record)).collect();
            for write in writes {
                write.await?;
                applied += 1;
            }
            let mut space = self.inner.space.lock().await;
            let (path, corrupt_path) = (self.inner.path.clone(), self.inner.corrupt_path.clone());
            let end = space.end;
            let (records, left) = blocking(move || {
                drop_prefix(&path, snapshot.len(), end, &corrupt_path, &corrupt)
                    .map_err(|source| StorageError::Journal { path, source })
            })
            .await?;
            space.records = records;
            space.end = left;
            if !space.over_alarm() {
                space.alarmed = false;
            }
            if space.records == 0 {
                break;
            }
        }
        Ok(applied)
    }

    /// Replays the journal now if it holds anything, so that a decision read from the database
    /// (the next caller for an operator) sees every state change acknowledged before it.
    /// Returns how many records were applied.
    ///
    /// The replay runs in its own task: a caller that stops waiting (a bounded webhook) must
    /// not cut it short between reading the journal and dropping what it applied.
    pub async fn catch_up(&self) -> Result<usize, StorageError> {
        if self.pending().await == 0 {
            return Ok(0);
        }
        let recorder = self.clone();
        tokio::spawn(async move { recorder.replay().await })
            .await
            .map_err(|error| StorageError::Task(error.to_string()))?
    }

    /// Starts a task that replays the journal every `every` (at least 100 ms) while it holds
    /// anything. It runs until aborted through the returned handle.
    pub fn spawn_replayer(&self, every: Duration) -> JoinHandle<()> {
        let recorder = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(MIN_REPLAY_PERIOD));
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if recorder.pending().await == 0 {
                    continue;
                }
                match recorder.replay().await {
                    Ok(applied) => tracing::info!(applied, "journal replayed"),
                    Err(error) => tracing::warn!(%error, "the journal cannot be replayed yet"),
                }
            }
        })
    }

    /// The number of records waiting in the journal.
    pub async fn pending(&self) -> usize {
        self.inner.space.lock().await.records
    }

    /// The number of records waiting in the journal, or `None` when a write holds the count
    /// right now: for a metrics scrape, which must not queue behind the writes it measures.
    pub fn pending_now(&self) -> Option<usize> {
        self.inner.space.try_lock().ok().map(|space| space.records)
    }

    /// How much of the reserve is in use, or `None` when a write holds the journal right now
    /// (as [`Recorder::pending_now`]).
    pub fn reserve_now(&self) -> Option<Reserve> {
        self.inner.space.try_lock().ok().map(|space| Reserve {
            used: space.end,
            capacity: space.capacity,
            wanted: self.inner.wanted,
        })
    }

    /// Has `observe` told the duration of every database write from now on (the first
    /// observer set stays).
    pub fn observe_writes(&self, observe: WriteObserver) {
        let _ = self.inner.write_observer.set(Observer(observe));
    }
}

/// The record's kind, for logs.
fn record_kind(record: &Record) -> &'static str {
    match record {
        Record::CallStarted { .. } => "call-started",
        Record::Step { .. } => "step",
        Record::Status { .. } => "status",
        Record::Callback { .. } => "callback",
        Record::QueueLeft { .. } => "queue-left",
        Record::OperatorLineEnded { .. } => "operator-line-ended",
    }
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The zeros written at a time while the reserve is made or cleared.
const ZEROS: usize = 1 << 20;

/// Creates the journal if needed, makes it own `reserve` bytes (as many as the disk has),
/// ends its records with a newline, and says what it holds.
///
/// A crash in the middle of a write leaves a line without its newline; the next record
/// would glue onto it. Ending the records first keeps that line apart, to be skipped by the
/// replay.
fn prepare(path: &Path, reserve: u64) -> io::Result<Space> {
    if let Some(dir) = path.parent() {
        super::create_private_dir(dir)?;
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        // A new file's name is only durable once its directory is synced.
        Ok(_) => sync_dir(path)?,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let bytes = std::fs::read(path)?;
    let mut end = bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
    let records = count_lines(&bytes[..end]);
    if bytes[..end].last().is_some_and(|&last| last != b'\n') {
        file.write_all_at(b"\n", to_u64(end))?;
        file.sync_data()?;
        end += 1;
    }
    let capacity = preallocate(&file, to_u64(bytes.len().max(end)), reserve)?;
    Ok(Space { records, end: to_u64(end), capacity, alarmed: false })
}

/// Writes zeros from `from` up to `reserve` and syncs them, so that the file owns those
/// blocks. Returns the size reached: short of `reserve` when the disk is full.
fn preallocate(file: &File, from: u64, reserve: u64) -> io::Result<u64> {
    let zeros = vec![0u8; ZEROS];
    let mut size = from;
    while size < reserve {
        let chunk = usize::try_from(reserve - size).unwrap_or(ZEROS).min(ZEROS);
        if let Err(error) = file.write_all_at(&zeros[..chunk], size) {
            if error.raw_os_error() == Some(ENOSPC) || error.kind() == io::ErrorKind::StorageFull {
                // Keep whole chunks only: a short write may have left a part unallocated.
                file.set_len(size)?;
                break;
            }
            return Err(error);
        }
        size += to_u64(chunk);
    }
    file.sync_all()?;
    Ok(size)
}

/// `ENOSPC` on Linux: no space left on the device.
const ENOSPC: i32 = 28;

/// Writes one line at `at` (over zeros the file owns) and waits until it is on disk. Returns
/// its length; a line that does not fit below `capacity` is refused without writing.
fn append(path: &Path, at: u64, capacity: u64, line: &[u8]) -> io::Result<u64> {
    let len = to_u64(line.len());
    if at.saturating_add(len) > capacity {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "the journal's reserve is full ({capacity} bytes); raise database.journal_reserve_mb"
            ),
        ));
    }
    let file = OpenOptions::new().write(true).open(path)?;
    // sync_data suffices: the file's size does not change.
    if let Err(error) = file.write_all_at(line, at).and_then(|()| file.sync_data()) {
        // Zero a half-written line, or the next record would glue onto it.
        let zeros = vec![0u8; line.len()];
        if let Err(cut) = file.write_all_at(&zeros, at).and_then(|()| file.sync_data()) {
            tracing::error!(error = %cut, "could not clear a failed write from the journal");
        }
        return Err(error);
    }
    Ok(len)
}

/// The journal's records: its first `end` bytes; a journal deleted by hand is an empty one.
fn read_records(path: &Path, end: u64) -> io::Result<Vec<u8>> {
    let file = match File::open(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    let size = file.metadata()?.len();
    let mut bytes = vec![0u8; usize::try_from(end.min(size)).unwrap_or(0)];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// The records of a journal snapshot, and the lines that are not records.
fn parse(bytes: &[u8]) -> (Vec<Record>, Vec<Vec<u8>>) {
    let mut records = Vec::new();
    let mut corrupt = Vec::new();
    for (number, line) in (1..).zip(bytes.split(|&b| b == b'\n')) {
        if is_blank(line) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => records.push(record),
            Err(error) => {
                // serde_json's message gives a position, never the content.
                tracing::warn!(
                    line = number,
                    bytes = line.len(),
                    %error,
                    "skipping an unreadable journal line; it is kept in the .corrupt file"
                );
                corrupt.push(line.to_vec());
            }
        }
    }
    (records, corrupt)
}

/// Removes the first `len` bytes (the replayed snapshot) of the journal's `end` bytes of
/// records, after saving its unreadable lines to `corrupt_path`: the records journaled
/// meanwhile move to the front and everything after them is zeroed. Returns the records left
/// and where they end.
///
/// A crash in the middle leaves the moved records twice, or a line cut by the zeroing:
/// replayed again to no effect, or skipped as unreadable. Nothing unapplied is lost, because
/// the records are written at the front before anything is zeroed.
fn drop_prefix(
    path: &Path,
    len: usize,
    end: u64,
    corrupt_path: &Path,
    corrupt: &[Vec<u8>],
) -> io::Result<(usize, u64)> {
    if !corrupt.is_empty() {
        let mut side =
            OpenOptions::new().append(true).create(true).mode(0o600).open(corrupt_path)?;
        for line in corrupt {
            io::Write::write_all(&mut side, line)?;
            io::Write::write_all(&mut side, b"\n")?;
        }
        side.sync_all()?;
    }
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
        other => other?,
    };
    let end = end.min(file.metadata()?.len());
    let start = to_u64(len).min(end);
    let mut tail = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
    file.read_exact_at(&mut tail, start)?;
    if !tail.is_empty() {
        file.write_all_at(&tail, 0)?;
        file.sync_data()?;
    }
    let left = to_u64(tail.len());
    let zeros = vec![0u8; ZEROS];
    let mut at = left;
    while at < end {
        let chunk = usize::try_from(end - at).unwrap_or(ZEROS).min(ZEROS);
        file.write_all_at(&zeros[..chunk], at)?;
        at += to_u64(chunk);
    }
    file.sync_data()?;
    Ok((count_lines(&tail), left))
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').filter(|line| !is_blank(line)).count()
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b.is_ascii_whitespace() || b == 0)
}

/// A length as a file offset (lossless: `usize` is at most 64 bits on our targets).
fn to_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Syncs the directory holding `path`, so a file created there survives a crash.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    use chrono::{DateTime, Utc};
    use rusqlite::Connection;

    use super::*;
    use crate::domain::cases::{CallSid, CallStatus, Event};
    use crate::scripts::NodeId;
    use crate::storage::StorageOptions;
    use crate::storage::conformance::{HeldLock, hold_write_lock, postgres_under_test};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap()
    }

    fn sid() -> CallSid {
        CallSid::parse("CAjournal").unwrap()
    }

    fn started() -> Record {
        Record::CallStarted { call_sid: sid(), at: at(0), caller: None, country: Some("UA".into()) }
    }

    fn step(n: u32, node: &str) -> Record {
        let node = NodeId::parse(node).unwrap();
        Record::Step {
            call_sid: sid(),
            step: n,
            at: at(n.into()),
            events: vec![Event::Entered { node, said: "hi".into() }],
        }
    }

    fn completed() -> Record {
        Record::Status {
            call_sid: sid(),
            at: at(60),
            status: CallStatus::Completed,
            duration_secs: Some(60),
            sequence: Some(3),
        }
    }

    /// The test journals' reserve: small, so that filling it is quick.
    const RESERVE: u64 = 64 * 1024;

    struct Setup {
        dir: tempfile::TempDir,
        storage: Storage,
    }

    impl Setup {
        async fn new(busy_timeout: Duration) -> Setup {
            let dir = tempfile::tempdir().unwrap();
            let storage = Storage::open(
                &dir.path().join("cases.db"),
                StorageOptions { busy_timeout, ..StorageOptions::for_tests() },
            )
            .await
            .unwrap();
            Setup { dir, storage }
        }

        fn journal(&self) -> PathBuf {
            self.dir.path().join("journal.jsonl")
        }

        async fn recorder(&self, deadline: Duration) -> Recorder {
            Recorder::open(self.storage.clone(), &self.journal(), RESERVE, deadline).await.unwrap()
        }

        /// Another connection holding the write lock, as a backup tool would.
        fn lock(&self) -> HeldLock {
            hold_write_lock(&self.dir.path().join("cases.db"))
        }

        fn journaled(&self) -> Vec<Record> {
            let bytes = fs::read(self.journal()).unwrap();
            bytes
                .split(|&b| b == b'\n')
                .filter(|line| !is_blank(line))
                .map(|line| serde_json::from_slice(line).unwrap())
                .collect()
        }

        /// The journal's bytes hold nothing but zeros, and the file still owns its reserve.
        fn assert_emptied(&self) {
            let bytes = fs::read(self.journal()).unwrap();
            assert_eq!(bytes.len(), RESERVE as usize, "the reserve is kept");
            assert!(bytes.iter().all(|&b| b == 0), "a replayed record is left in the file");
        }
    }

    #[tokio::test]
    async fn a_locked_database_sends_records_to_the_journal_until_replayed() {
        let setup = Setup::new(Duration::from_millis(50)).await;
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        let mode = fs::metadata(setup.journal()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let lock = setup.lock();
        let started_at = Instant::now();
        assert_eq!(recorder.record(started()).await, Durability::Journaled);
        assert!(started_at.elapsed() < Duration::from_millis(500), "{:?}", started_at.elapsed());
        assert_eq!(recorder.record(step(1, "main")).await, Durability::Journaled);
        assert!(recorder.replay().await.unwrap_err().is_unavailable());
        assert_eq!(recorder.pending().await, 2);

        drop(lock);
        // The database is back, but the journal is not empty: order comes first.
        assert_eq!(recorder.record(step(2, "info")).await, Durability::Journaled);
        assert_eq!(setup.journaled(), [started(), step(1, "main"), step(2, "info")]);

        assert_eq!(recorder.replay().await.unwrap(), 3);
        assert_eq!(recorder.pending().await, 0);
        setup.assert_emptied();
        assert_eq!(recorder.replay().await.unwrap(), 0);

        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        assert_eq!(case.number.sequence, 1);
        assert_eq!(case.country.as_deref(), Some("UA"));
        assert_eq!(case.events.iter().map(|e| e.step).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(setup.storage.recent_cases(10).await.unwrap().len(), 1);

        assert_eq!(recorder.record(completed()).await, Durability::Stored);
    }

    #[tokio::test]
    async fn a_journaled_voicemail_keeps_its_address_sealed_and_opens_once_replayed() {
        let setup = Setup::new(Duration::from_millis(50)).await;
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE-journaled";
        let voicemail = Record::Step {
            call_sid: sid(),
            step: 3,
            at: at(3),
            events: vec![Event::Voicemail { recording_url: url.into(), duration_secs: Some(4) }],
        };
        let lock = setup.lock();
        assert_eq!(recorder.record_all(vec![started(), voicemail]).await, Durability::Journaled);
        let bytes = String::from_utf8_lossy(&fs::read(setup.journal()).unwrap()).into_owned();
        assert!(!bytes.contains("RE-journaled") && bytes.contains("dk1.r."), "{bytes}");
        drop(lock);
        assert_eq!(recorder.replay().await.unwrap(), 2);
        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        assert_eq!(case.recording_url.as_deref(), Some(url));
    }

    #[tokio::test]
    async fn a_write_past_its_deadline_is_journaled_and_applied_once() {
        let setup = Setup::new(Duration::from_millis(600)).await;
        let recorder = setup.recorder(Duration::from_millis(50)).await;
        let lock = setup.lock();
        let started_at = Instant::now();
        assert_eq!(recorder.record(step(1, "main")).await, Durability::Journaled);
        assert!(started_at.elapsed() < Duration::from_millis(400), "{:?}", started_at.elapsed());
        drop(lock);
        assert_eq!(recorder.replay().await.unwrap(), 1);
        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        assert_eq!(case.events.len(), 1);
    }

    #[tokio::test]
    async fn the_records_of_one_answer_are_stored_together_or_journaled_in_order() {
        let setup = Setup::new(Duration::from_millis(600)).await;
        let recorder = setup.recorder(Duration::from_millis(50)).await;
        let lock = setup.lock();
        let answer = vec![started(), step(1, "main"), step(2, "info")];
        assert_eq!(recorder.record_all(answer.clone()).await, Durability::Journaled);
        assert_eq!(setup.journaled(), answer, "all three, in the order made");
        drop(lock);
        assert_eq!(recorder.replay().await.unwrap(), 3);

        let next = vec![step(3, "main"), completed()];
        assert_eq!(recorder.record_all(next).await, Durability::Stored);
        assert_eq!(recorder.record_all(Vec::new()).await, Durability::Stored);
        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        assert_eq!(case.country.as_deref(), Some("UA"));
        assert_eq!(case.events.iter().map(|e| e.step).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(case.status, Some(crate::domain::cases::CallStatus::Completed));
    }

    #[tokio::test]
    async fn a_truncated_last_line_is_skipped_and_kept_aside() {
        let setup = Setup::new(Duration::from_millis(50)).await;
        let mut content = serde_json::to_vec(&started()).unwrap();
        content.extend_from_slice(b"\n{\"record\":\"step\",\"call_");
        fs::write(setup.journal(), &content).unwrap();

        // The database is locked at start: the replay fails, and the record made then must not
        // glue onto the truncated line.
        let lock = setup.lock();
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        assert_eq!(recorder.pending().await, 2);
        assert_eq!(recorder.record(step(1, "main")).await, Durability::Journaled);
        drop(lock);

        assert_eq!(recorder.replay().await.unwrap(), 2);
        assert_eq!(recorder.pending().await, 0);
        let corrupt = fs::read(sibling(&setup.journal(), ".corrupt")).unwrap();
        assert_eq!(corrupt, b"{\"record\":\"step\",\"call_\n");
        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        assert_eq!(case.events.len(), 1);
    }

    #[tokio::test]
    async fn opening_replays_what_the_journal_holds() {
        let setup = Setup::new(Duration::from_millis(50)).await;
        let mut content = Vec::new();
        for record in [started(), step(1, "main"), completed()] {
            content.extend(serde_json::to_vec(&record).unwrap());
            content.push(b'\n');
        }
        fs::write(setup.journal(), &content).unwrap();
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        assert_eq!(recorder.pending().await, 0);
        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        assert_eq!(case.status, Some(CallStatus::Completed));
        assert!(!sibling(&setup.journal(), ".corrupt").exists());
    }

    #[tokio::test]
    async fn the_replayer_empties_the_journal_once_the_database_is_back() {
        let setup = Setup::new(Duration::from_millis(20)).await;
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        let lock = setup.lock();
        assert_eq!(recorder.record(started()).await, Durability::Journaled);
        let replayer = recorder.spawn_replayer(Duration::from_millis(100));
        drop(lock);
        let waited = Instant::now();
        while recorder.pending().await > 0 {
            assert!(waited.elapsed() < Duration::from_secs(1), "the replayer did not run");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        replayer.abort();
        assert!(setup.storage.case_by_call(&sid()).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_journal_owns_its_reserve_from_the_start_and_keeps_nothing_replayed() {
        let setup = Setup::new(Duration::from_millis(50)).await;
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        setup.assert_emptied();
        let reserve = recorder.reserve_now().unwrap();
        assert_eq!(reserve, Reserve { used: 0, capacity: RESERVE, wanted: RESERVE });
        assert!(reserve.healthy());

        let lock = setup.lock();
        for n in 1..=3 {
            assert_eq!(recorder.record(step(n, "main")).await, Durability::Journaled);
        }
        // Written over the zeros in place: the file never grows, so a full disk cannot refuse.
        assert_eq!(fs::metadata(setup.journal()).unwrap().len(), RESERVE);
        assert_eq!(setup.journaled(), [step(1, "main"), step(2, "main"), step(3, "main")]);
        drop(lock);
        assert_eq!(recorder.replay().await.unwrap(), 3);
        setup.assert_emptied();
        assert_eq!(recorder.reserve_now().unwrap().used, 0);
    }

    #[tokio::test]
    async fn a_full_reserve_raises_the_alarm_at_half_then_refuses_loudly_and_keeps_the_rest() {
        let setup = Setup::new(Duration::from_millis(20)).await;
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        let lock = setup.lock();
        let (mut journaled, mut alarm_at) = (0u32, None);
        let lost_at = loop {
            let n = journaled + 1;
            assert!(n < 10_000, "the reserve never filled");
            match recorder.record(step(n, "main")).await {
                Durability::Journaled => journaled = n,
                Durability::Lost => break n,
                Durability::Stored => panic!("the database is locked"),
            }
            let reserve = recorder.reserve_now().unwrap();
            if alarm_at.is_none() && !reserve.healthy() {
                alarm_at = Some(reserve.used);
            }
        };
        let line = serde_json::to_vec(&step(lost_at, "main")).unwrap().len() as u64 + 1;
        let alarm_at = alarm_at.expect("the alarm was raised");
        assert!((RESERVE / 2..RESERVE / 2 + line).contains(&alarm_at), "alarm at {alarm_at}");
        let used = recorder.reserve_now().unwrap().used;
        assert!(used <= RESERVE && RESERVE - used < line, "{used} of {RESERVE} used");
        assert_eq!(recorder.pending().await, journaled as usize);

        drop(lock);
        assert_eq!(recorder.replay().await.unwrap(), journaled as usize);
        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        let steps: Vec<u32> = case.events.iter().map(|e| e.step).collect();
        assert_eq!(steps, (1..=journaled).collect::<Vec<_>>(), "every record it took, once");
        assert!(recorder.reserve_now().unwrap().healthy());
        setup.assert_emptied();
    }

    #[test]
    fn records_journaled_during_a_replay_move_to_the_front_and_the_rest_is_zeroed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (corrupt, corrupt_path) = (vec![b"{not json".to_vec()], dir.path().join("corrupt"));
        let applied = b"{\"applied\":1}\n{\"applied\":2}\n".to_vec();
        let meanwhile = b"{\"later\":3}\n".to_vec();
        let mut file = [applied.clone(), meanwhile.clone()].concat();
        let end = file.len() as u64;
        file.resize(4096, 0);
        fs::write(&path, &file).unwrap();

        let (records, left) =
            drop_prefix(&path, applied.len(), end, &corrupt_path, &corrupt).unwrap();

        assert_eq!((records, left), (1, meanwhile.len() as u64));
        let after = fs::read(&path).unwrap();
        assert_eq!(after.len(), 4096, "the reserve is kept");
        assert_eq!(&after[..meanwhile.len()], &meanwhile[..]);
        assert!(after[meanwhile.len()..].iter().all(|&b| b == 0), "applied records linger");
        assert_eq!(fs::read(&corrupt_path).unwrap(), b"{not json\n");
    }

    #[tokio::test]
    async fn an_appended_journal_of_an_earlier_version_is_kept_and_given_its_reserve() {
        let setup = Setup::new(Duration::from_millis(50)).await;
        let line = serde_json::to_vec(&started()).unwrap();
        fs::write(setup.journal(), [&line[..], b"\n"].concat()).unwrap();
        let lock = setup.lock();
        let recorder = setup.recorder(Duration::from_secs(1)).await;
        assert_eq!(recorder.pending().await, 1);
        assert_eq!(fs::metadata(setup.journal()).unwrap().len(), RESERVE);
        assert_eq!(recorder.record(step(1, "main")).await, Durability::Journaled);
        assert_eq!(setup.journaled(), [started(), step(1, "main")]);
        drop(lock);
        assert_eq!(recorder.replay().await.unwrap(), 2);
        setup.assert_emptied();
    }

    /// Faults of the database itself, produced with SQLite's own errors on the writer
    /// connection (the one records go through): each sends records to the journal without
    /// failing, and once it is cleared the journal lands in order, exactly once.
    mod faults {
        use super::*;

        /// A fault of the writer connection, and how to clear it.
        enum Fault {
            /// `query_only`: every write fails with SQLITE_READONLY, as on a read-only mount.
            ReadOnly,
            /// `max_page_count` at the current size: a write that needs a page fails with
            /// SQLITE_FULL, as on a full disk.
            Full,
            /// The connection is to a file that is not a database (SQLITE_NOTADB), as after
            /// a botched restore; the real connection is kept aside until cleared.
            Unavailable(Option<Connection>),
        }

        impl Fault {
            async fn inject(&mut self, setup: &Setup) {
                match self {
                    Fault::ReadOnly => {
                        setup
                            .storage
                            .write(|conn| match conn.sqlite() {
                                Some(sqlite) => {
                                    Ok(sqlite.pragma_update(None, "query_only", true)?)
                                }
                                // What a primary demoted by a failover answers.
                                None => {
                                    Ok(conn
                                        .execute_batch("SET default_transaction_read_only = on")?)
                                }
                            })
                            .await
                            .unwrap();
                    }
                    Fault::Full => {
                        setup
                            .storage
                            .write(|conn| {
                                let conn = conn.sqlite().unwrap();
                                let pages: i64 =
                                    conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
                                Ok(conn.pragma_update(None, "max_page_count", pages)?)
                            })
                            .await
                            .unwrap();
                    }
                    Fault::Unavailable(kept) => {
                        let garbage = setup.dir.path().join("not-a-database");
                        fs::write(&garbage, vec![0x5a; 8192]).unwrap();
                        let real = setup
                            .storage
                            .write(move |conn| {
                                let garbage = Connection::open(&garbage)?;
                                Ok(std::mem::replace(conn.sqlite_mut().unwrap(), garbage))
                            })
                            .await
                            .unwrap();
                        *kept = Some(real);
                    }
                }
            }

            async fn clear(&mut self, setup: &Setup) {
                match self {
                    Fault::ReadOnly => {
                        setup
                            .storage
                            .write(|conn| match conn.sqlite() {
                                Some(sqlite) => {
                                    Ok(sqlite.pragma_update(None, "query_only", false)?)
                                }
                                // What a primary demoted by a failover answers.
                                None => {
                                    Ok(conn
                                        .execute_batch("SET default_transaction_read_only = off")?)
                                }
                            })
                            .await
                            .unwrap();
                    }
                    Fault::Full => {
                        setup
                            .storage
                            .write(|conn| {
                                let conn = conn.sqlite().unwrap();
                                Ok(conn.pragma_update(None, "max_page_count", 1 << 30)?)
                            })
                            .await
                            .unwrap();
                    }
                    Fault::Unavailable(kept) => {
                        let real = kept.take().unwrap();
                        setup
                            .storage
                            .write(move |conn| {
                                *conn.sqlite_mut().unwrap() = real;
                                Ok(())
                            })
                            .await
                            .unwrap();
                    }
                }
            }
        }

        /// A step big enough to need new pages (so a full database cannot take it).
        fn big_step(n: u32) -> Record {
            let node = NodeId::parse("main").unwrap();
            let said = "слово ".repeat(4000);
            Record::Step {
                call_sid: sid(),
                step: n,
                at: at(n.into()),
                events: vec![Event::Entered { node, said }],
            }
        }

        async fn survives(mut fault: Fault, expected: rusqlite::ErrorCode) {
            let on_postgres = postgres_under_test().is_some();
            if on_postgres && !matches!(fault, Fault::ReadOnly) {
                // SQLite's own file faults. PostgreSQL's lost server is the failover test's.
                return;
            }
            let setup = Setup::new(Duration::from_millis(50)).await;
            let recorder = setup.recorder(Duration::from_secs(2)).await;
            assert_eq!(recorder.record(started()).await, Durability::Stored);

            fault.inject(&setup).await;
            assert_eq!(recorder.record(big_step(1)).await, Durability::Journaled);
            assert_eq!(recorder.record(step(2, "info")).await, Durability::Journaled);
            let error = recorder.replay().await.unwrap_err();
            match &error {
                StorageError::Sqlite(e) => assert_eq!(e.sqlite_error_code(), Some(expected)),
                // A read-only server passes when the new primary takes over.
                other if on_postgres => assert!(other.is_unavailable(), "{other:?}"),
                other => panic!("expected SQLite's {expected:?}, got {other:?}"),
            }
            assert_eq!(recorder.pending().await, 2);
            // Reads keep working where the fault allows; the journal holds what is pending.
            assert_eq!(setup.journaled(), [big_step(1), step(2, "info")]);

            fault.clear(&setup).await;
            assert_eq!(recorder.record(completed()).await, Durability::Journaled);
            assert_eq!(recorder.replay().await.unwrap(), 3);
            assert_eq!(recorder.replay().await.unwrap(), 0);
            assert_eq!(recorder.record(step(3, "main")).await, Durability::Stored);

            let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
            let steps: Vec<u32> = case.events.iter().map(|e| e.step).collect();
            assert_eq!(steps, [1, 2, 3], "each step once, in order");
            assert_eq!(case.status, Some(CallStatus::Completed));
            assert_eq!(setup.storage.recent_cases(10).await.unwrap().len(), 1);
        }

        #[tokio::test]
        async fn a_read_only_database() {
            survives(Fault::ReadOnly, rusqlite::ErrorCode::ReadOnly).await;
        }

        #[tokio::test]
        async fn a_full_disk() {
            survives(Fault::Full, rusqlite::ErrorCode::DiskFull).await;
        }

        #[tokio::test]
        async fn a_database_that_is_not_there() {
            survives(Fault::Unavailable(None), rusqlite::ErrorCode::NotADatabase).await;
        }
    }
}
