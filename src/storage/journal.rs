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

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Storage, StorageError, blocking};
use crate::cases::Record;

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
    /// How long a record may take to reach the database before it is journaled instead.
    deadline: Duration,
    /// The number of lines in the journal. Its lock orders every use of the journal file; the
    /// decision "journal empty, so write to the database" reads it but does not hold it across
    /// that write, so concurrent writes can be committed together. It is a tokio lock because
    /// it is held across the await of the fsync.
    pending: Mutex<usize>,
    /// Held for a whole replay, so two replays never apply the same lines side by side.
    replaying: Mutex<()>,
    /// Told how long each database write took (the server's metrics); set once at start.
    write_observer: std::sync::OnceLock<Observer>,
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
    /// Opens (or creates, mode 0600) the journal at `journal_path` and replays what it holds.
    ///
    /// A replay that fails (database still unavailable) is logged and left to
    /// [`Recorder::replay`] or [`Recorder::spawn_replayer`]; only a journal file that cannot be
    /// created or read is an error.
    #[tracing::instrument(skip_all, fields(journal = %journal_path.display()))]
    pub async fn open(
        storage: Storage,
        journal_path: &Path,
        deadline: Duration,
    ) -> Result<Recorder, StorageError> {
        let path = journal_path.to_owned();
        let pending = {
            let path = path.clone();
            blocking(move || {
                prepare(&path).map_err(|source| StorageError::Journal { path, source })
            })
            .await?
        };
        let recorder = Recorder {
            inner: Arc::new(Inner {
                storage,
                corrupt_path: sibling(&path, ".corrupt"),
                path,
                deadline,
                pending: Mutex::new(pending),
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
        // The lock is not held across the database write: records written at the same time
        // then share one commit (the storage's group commit) instead of taking turns for an
        // fsync each. The records of one call are written together only from one answer, in
        // order, and a case's columns are derived from its events whatever their order, so a
        // record written beside one being journaled loses nothing.
        let journal_empty = *self.inner.pending.lock().await == 0;
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

    /// Appends `record` to the journal.
    async fn journal(&self, record: Record) -> Durability {
        let mut pending = self.inner.pending.lock().await;
        let appended = match serde_json::to_vec(&record) {
            Ok(mut line) => {
                line.push(b'\n');
                let path = self.inner.path.clone();
                blocking(move || {
                    append(&path, &line).map_err(|source| StorageError::Journal { path, source })
                })
                .await
            }
            Err(error) => {
                Err(StorageError::Data(format!("a record cannot be written as JSON: {error}")))
            }
        };
        match appended {
            Ok(()) => {
                *pending += 1;
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
                let _files = self.inner.pending.lock().await;
                let path = self.inner.path.clone();
                blocking(move || {
                    read_all(&path).map_err(|source| StorageError::Journal { path, source })
                })
                .await?
            };
            if snapshot.is_empty() {
                break;
            }
            let (records, corrupt) = parse(&snapshot);
            for record in records {
                self.inner.storage.apply(record).await?;
                applied += 1;
            }
            let mut pending = self.inner.pending.lock().await;
            let (path, corrupt_path) = (self.inner.path.clone(), self.inner.corrupt_path.clone());
            *pending = blocking(move || {
                drop_prefix(&path, snapshot.len(), &corrupt_path, &corrupt)
                    .map_err(|source| StorageError::Journal { path, source })
            })
            .await?;
            if *pending == 0 {
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
        *self.inner.pending.lock().await
    }

    /// The number of records waiting in the journal, or `None` when a write holds the count
    /// right now: for a metrics scrape, which must not queue behind the writes it measures.
    pub fn pending_now(&self) -> Option<usize> {
        self.inner.pending.try_lock().ok().map(|pending| *pending)
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

/// Creates the journal if needed, ends it with a newline, and counts its records.
///
/// A crash in the middle of an append leaves a line without its newline; the next append
/// would glue a good record onto it. Ending the file first keeps that line apart, to be
/// skipped by the replay.
fn prepare(path: &Path) -> io::Result<usize> {
    if let Some(dir) = path.parent() {
        super::create_private_dir(dir)?;
    }
    match OpenOptions::new().append(true).create_new(true).mode(0o600).open(path) {
        // A new file's name is only durable once its directory is synced.
        Ok(_) => sync_dir(path)?,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    let mut file = OpenOptions::new().read(true).append(true).open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    if bytes.last().is_some_and(|&last| last != b'\n') {
        file.write_all(b"\n")?;
        file.sync_data()?;
    }
    Ok(count_lines(&bytes))
}

/// Appends one line and waits until it is on disk.
fn append(path: &Path, line: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
    let before = file.metadata()?.len();
    // sync_data suffices: it also writes the new length, which is all the metadata a reader
    // needs.
    if let Err(error) = file.write_all(line).and_then(|()| file.sync_data()) {
        // Cut off a half-written line, or the next append would glue onto it.
        if let Err(cut) = file.set_len(before) {
            tracing::error!(error = %cut, "could not cut a failed append off the journal");
        }
        return Err(error);
    }
    Ok(())
}

/// The journal's content; a journal deleted by hand is an empty one.
fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    match fs::read(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    }
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

/// Removes the first `len` bytes (the replayed snapshot) from the journal, after saving its
/// unreadable lines to `corrupt_path`. Returns the records left: those appended meanwhile.
fn drop_prefix(
    path: &Path,
    len: usize,
    corrupt_path: &Path,
    corrupt: &[Vec<u8>],
) -> io::Result<usize> {
    if !corrupt.is_empty() {
        let mut side =
            OpenOptions::new().append(true).create(true).mode(0o600).open(corrupt_path)?;
        for line in corrupt {
            side.write_all(line)?;
            side.write_all(b"\n")?;
        }
        side.sync_all()?;
    }
    let bytes = read_all(path)?;
    let tail = bytes.get(len..).unwrap_or_default();
    if tail.is_empty() {
        let file =
            OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        file.sync_all()?;
        return Ok(0);
    }
    // Replace the file in one rename so that a crash leaves either the old journal (replayed
    // again, harmlessly) or the new one, never half of each.
    let temporary = sibling(path, ".tmp");
    let mut file =
        OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(tail)?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    sync_dir(path)?;
    Ok(count_lines(tail))
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').filter(|line| !is_blank(line)).count()
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Syncs the directory holding `path`, so a file created or renamed there survives a crash.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    use chrono::{DateTime, Utc};
    use rusqlite::Connection;

    use super::*;
    use crate::cases::{CallSid, CallStatus, Event};
    use crate::scripts::NodeId;
    use crate::storage::StorageOptions;

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

    struct Setup {
        dir: tempfile::TempDir,
        storage: Storage,
    }

    impl Setup {
        async fn new(busy_timeout: Duration) -> Setup {
            let dir = tempfile::tempdir().unwrap();
            let storage =
                Storage::open(&dir.path().join("cases.db"), StorageOptions { busy_timeout })
                    .await
                    .unwrap();
            Setup { dir, storage }
        }

        fn journal(&self) -> PathBuf {
            self.dir.path().join("journal.jsonl")
        }

        async fn recorder(&self, deadline: Duration) -> Recorder {
            Recorder::open(self.storage.clone(), &self.journal(), deadline).await.unwrap()
        }

        /// Another connection holding the write lock, as a backup tool would.
        fn lock(&self) -> Connection {
            let conn = Connection::open(self.dir.path().join("cases.db")).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            conn
        }

        fn journaled(&self) -> Vec<Record> {
            let bytes = fs::read(self.journal()).unwrap();
            bytes
                .split(|&b| b == b'\n')
                .filter(|line| !line.is_empty())
                .map(|line| serde_json::from_slice(line).unwrap())
                .collect()
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
        assert!(fs::read(setup.journal()).unwrap().is_empty());
        assert_eq!(recorder.replay().await.unwrap(), 0);

        let case = setup.storage.case_by_call(&sid()).await.unwrap().unwrap();
        assert_eq!(case.number.sequence, 1);
        assert_eq!(case.country.as_deref(), Some("UA"));
        assert_eq!(case.events.iter().map(|e| e.step).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(setup.storage.recent_cases(10).await.unwrap().len(), 1);

        assert_eq!(recorder.record(completed()).await, Durability::Stored);
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
        assert_eq!(case.status, Some(crate::cases::CallStatus::Completed));
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
                            .write(|conn| Ok(conn.pragma_update(None, "query_only", true)?))
                            .await
                            .unwrap();
                    }
                    Fault::Full => {
                        setup
                            .storage
                            .write(|conn| {
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
                                Ok(std::mem::replace(conn, garbage))
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
                            .write(|conn| Ok(conn.pragma_update(None, "query_only", false)?))
                            .await
                            .unwrap();
                    }
                    Fault::Full => {
                        setup
                            .storage
                            .write(|conn| {
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
                                *conn = real;
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
            let setup = Setup::new(Duration::from_millis(50)).await;
            let recorder = setup.recorder(Duration::from_secs(2)).await;
            assert_eq!(recorder.record(started()).await, Durability::Stored);

            fault.inject(&setup).await;
            assert_eq!(recorder.record(big_step(1)).await, Durability::Journaled);
            assert_eq!(recorder.record(step(2, "info")).await, Durability::Journaled);
            let error = recorder.replay().await.unwrap_err();
            match &error {
                StorageError::Sqlite(e) => assert_eq!(e.sqlite_error_code(), Some(expected)),
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
