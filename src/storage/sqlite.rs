//! The SQLite database of cases: opening it, applying records, reading cases back.
//!
//! Two connections to one file: a writer for records and a reader for lookups. In WAL mode
//! readers never wait for writers, so the fallback webhook's [`Storage::language_of`] answers
//! at once even while a write waits out another process's lock.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::engine::{Connection, OptionalExtension, Transaction, params};
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use futures_util::future::Either;

use super::checkpoint::{Checkpointer, LogRestart};
use super::derived::derive;
use super::event_cache::{CaseEvents, EventCache, EventKey};
use super::group_commit::Writer;
use super::keyring::Keyring;
use super::migrations::migrate;
use super::reader::Reader;
use super::sealing;
use super::{StorageError, StorageOptions, blocking};
use crate::domain::cases::{
    CallSid, CallStatus, CallerHash, Case, CaseNumber, CaseSummary, Event, Outcome, Record,
    TimedEvent,
};
use crate::domain::conversation::Channel;
use crate::domain::data_keys::DataKeys;
use crate::scripts::{LanguageTag, NodeId, Tag};

/// The case database. Cheap to clone: clones share the same connections.
#[derive(Debug, Clone)]
pub struct Storage {
    inner: Arc<Connections>,
}

/// The connections: the writer owned by its thread (`group_commit.rs`), which commits records
/// in groups and runs every other write in turn; the reader owned by its own (`reader.rs`),
/// which runs reads in turn.
#[derive(Debug)]
pub(super) struct Connections {
    pub(super) writer: Writer,
    pub(super) reader: Reader,
    /// The database file, whose disk [`Storage::disk_room`] measures; on PostgreSQL, a file
    /// in the data folder, which holds the journal and the data keys.
    pub(super) file: PathBuf,
    /// Checkpoints the log beside the writer, whose automatic checkpoints are off; none on
    /// PostgreSQL, which checkpoints by itself.
    pub(super) _checkpointer: Option<Checkpointer>,
    /// The data keys sensitive values are sealed under (`sealing.rs`).
    pub(super) keyring: Keyring,
}

impl Storage {
    /// Opens the database at `path`, creating its directory and the file on first start, and
    /// brings its schema up to date.
    ///
    /// Fails if the file cannot be opened, a migration fails, or the database was migrated by
    /// a newer build ([`StorageError::TooNew`]).
    #[tracing::instrument(skip_all, fields(path = %path.display()))]
    pub async fn open(path: &Path, options: StorageOptions) -> Result<Storage, StorageError> {
        #[cfg(test)]
        if let Some(server) = super::conformance::postgres_under_test() {
            return server.open(path, options).await;
        }
        let path = path.to_owned();
        let connections = blocking(move || open_blocking(&path, &options)).await?;
        Ok(Storage { inner: Arc::new(connections) })
    }

    /// The storage over connections opened elsewhere (`postgres/open.rs`).
    pub(super) fn over(connections: Connections) -> Storage {
        Storage { inner: Arc::new(connections) }
    }

    /// Bytes free for this process on the database's disk. A commit writes into the
    /// write-ahead log's space already owned as long as it can, so on a full disk writes fail
    /// only once the log must grow: the write probe (`check_writable`) alone can pass on a
    /// disk with nothing left.
    pub async fn disk_room(&self) -> std::io::Result<u64> {
        let file = self.inner.file.clone();
        let stats = tokio::task::spawn_blocking(move || {
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
            rustix::fs::statvfs(dir.unwrap_or(std::path::Path::new(".")))
        })
        .await??;
        Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
    }

    /// Applies a record. Idempotent: applying the same record again changes nothing, so a
    /// retried webhook or a replayed journal line is harmless.
    #[tracing::instrument(skip_all, fields(call_sid = %record.call_sid()))]
    pub async fn apply(&self, record: Record) -> Result<(), StorageError> {
        self.submit(record).await
    }

    /// [`Storage::apply`], with the record handed to the writer now, before the returned
    /// future is first awaited: records submitted one after the other are applied in that
    /// order, and usually in one group.
    pub(super) fn submit(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<(), StorageError>> + Send + use<> {
        let mut record = record;
        if let Err(locked) = self.seal_record_in_place(&mut record) {
            return Either::Left(std::future::ready(Err(locked)));
        }
        // Through the group commit (group_commit.rs): records arriving together share one
        // transaction and one fsync instead of queueing for one each.
        Either::Right(self.inner.writer.record(record).result())
    }

    /// The case with this number, with its events.
    #[tracing::instrument(skip(self))]
    pub async fn case(&self, number: CaseNumber) -> Result<Option<Case>, StorageError> {
        let case = self.read(move |conn| load_case(conn, &CaseKey::Number(number))).await?;
        Ok(case.map(|case| self.open_case(case)))
    }

    /// The case of this call, with its events.
    #[tracing::instrument(skip(self))]
    pub async fn case_by_call(&self, sid: &CallSid) -> Result<Option<Case>, StorageError> {
        let key = CaseKey::Call(sid.clone());
        let case = self.read(move |conn| load_case(conn, &key)).await?;
        Ok(case.map(|case| self.open_case(case)))
    }

    /// `case` with its sealed values opened.
    fn open_case(&self, mut case: Case) -> Case {
        case.recording_url = sealing::open_opt(self.keys(), case.recording_url.take());
        sealing::open_events(self.keys(), &mut case.events);
        case
    }

    /// The `limit` newest cases, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn recent_cases(&self, limit: u32) -> Result<Vec<CaseSummary>, StorageError> {
        self.read(move |conn| load_recent(conn, limit)).await
    }

    /// The language chosen in this call, if it has a case and a language. One indexed lookup
    /// on the reader connection, so it is fast even while writes wait for a lock.
    #[tracing::instrument(skip(self))]
    pub async fn language_of(&self, sid: &CallSid) -> Result<Option<LanguageTag>, StorageError> {
        let sid = sid.clone();
        self.read(move |conn| {
            let language: Option<Option<String>> = conn
                .prepare_cached("SELECT language FROM cases WHERE call_sid = ?1")?
                .query_row([sid.as_str()], |row| row.get(0))
                .optional()?;
            language.flatten().map(|text| decode_language(&text)).transpose()
        })
        .await
    }

    /// Seals `record`'s sensitive values under the data keys (`sealing.rs`); what is sealed
    /// already stays as it is, and with the keys locked nothing changes. The journal keeps
    /// records sealed too.
    pub(super) fn seal_record_in_place(&self, record: &mut Record) -> Result<(), StorageError> {
        sealing::seal_record_in_place(self.keys(), record)
    }

    /// Whether the data keys are open (the storage was opened with the callback key), so
    /// sealed text can be written and read.
    pub fn has_data_keys(&self) -> bool {
        !self.keys().is_locked()
    }

    /// The data keys, to seal and open with.
    pub(super) fn keys(&self) -> &DataKeys {
        self.inner.keyring.keys()
    }

    /// The data keys, for work run on the writer's or the reader's thread.
    pub(super) fn shared_keys(&self) -> Arc<DataKeys> {
        self.inner.keyring.shared()
    }

    /// The data keys and their file, for the writes that seal or destroy keys.
    pub(super) fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    /// Runs `work` with the writer connection on the writer thread, after the records and
    /// writes sent before it. The other storage modules (people, queues, case work) write
    /// through it too, so there is one writer.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        self.inner.writer.run(work).await
    }

    /// Runs `work` in the writer's next group of records (see `group_commit.rs`): one
    /// transaction and one fsync for everything written together, `work` in a savepoint of
    /// its own (an error undoes only its changes). For writes as frequent as records.
    pub(super) async fn write_grouped<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    {
        self.inner.writer.grouped(work).await
    }

    /// [`Storage::write_grouped`] for a write that stores a case's events only through
    /// [`apply_cached`] with the cache it is given, so that the writer's cache of events
    /// (`event_cache.rs`) stays right across it and serves the case's next step.
    pub(super) async fn write_grouped_with_events<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut EventCache) -> Result<T, StorageError> + Send + 'static,
    {
        self.inner.writer.grouped_with_events(work).await
    }

    /// Runs `work` with the reader connection on the reader thread.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        self.inner.reader.run(work).await
    }
}

/// Statements the writer keeps prepared.
const WRITER_STATEMENTS: usize = 128;

fn open_blocking(path: &Path, options: &StorageOptions) -> Result<Connections, StorageError> {
    if let Some(dir) = path.parent() {
        super::create_private_dir(dir).map_err(|e| open_error(path, e))?;
    }
    // Cases are the most sensitive thing on the disk after the secrets: a new database is
    // readable by its owner only. SQLite gives its -wal and -shm files the database's mode.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(open_error(path, e)),
    }
    let mut writer = connect(path, options)?;
    // The writer's statement journals and VACUUM's copy stay in memory. On disk (SQLite's
    // default) a group commit's savepoints spill page images to an unlinked temporary file:
    // a copy of case pages outside the database, and a write system call per page, which was
    // an eighth of the writer thread's time under a flood of chats. The reader keeps the
    // default, so that sorting a million cases for an export spills to disk, not to memory.
    writer.pragma_update(None, "temp_store", "MEMORY").map_err(|e| open_error(path, e))?;
    migrate(&mut writer, path)?;
    // Commits of webhooks' records must not also wait for checkpoints (`checkpoint.rs`).
    writer.pragma_update(None, "wal_autocheckpoint", 0).map_err(|e| open_error(path, e))?;
    // Room for every statement of the record path and the other writes, so none is parsed
    // again because the cache (16 by default) pushed it out.
    writer.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
    let mut writer = Connection::from(writer);
    let keyring = match &options.data_keys_secret {
        Some(secret) => {
            let may_create = !sealing::holds_sealed(&writer)?;
            let keyring = Keyring::open(path, secret, may_create)?;
            sealing::seal_legacy(&mut writer, keyring.keys())?;
            keyring
        }
        // Locked: the sealing of old text waits for a start with the key.
        None => Keyring::locked(path),
    };
    let reader = connect(path, options)?;
    // The reader only ever reads; make a slip an error rather than a second writer.
    reader.pragma_update(None, "query_only", true).map_err(|e| open_error(path, e))?;
    // The checkpointer asks, the writer restarts the log between its groups.
    let restart = LogRestart::default();
    let checkpointer = Checkpointer::start(connect(path, options)?, restart.clone())
        .map_err(|e| open_error(path, e))?;
    Ok(Connections {
        writer: Writer::start(writer, apply_cached, Some(restart))
            .map_err(|e| open_error(path, e))?,
        reader: Reader::start(reader.into()).map_err(|e| open_error(path, e))?,
        file: path.to_owned(),
        _checkpointer: Some(checkpointer),
        keyring,
    })
}

/// Opens one connection with the settings every connection needs.
fn connect(path: &Path, options: &StorageOptions) -> Result<rusqlite::Connection, StorageError> {
    let conn = rusqlite::Connection::open(path).map_err(|e| open_error(path, e))?;
    // First, so that the pragmas below also wait for a lock instead of failing.
    conn.busy_timeout(options.busy_timeout).map_err(|e| open_error(path, e))?;
    // WAL: readers and the writer do not block each other, and a commit is one sequential
    // append to the log.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| open_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_error(
            path,
            format!("the database refused WAL mode (it is in {mode} mode)"),
        ));
    }
    // FULL syncs the log at every commit. NORMAL (the usual WAL choice) can lose the last
    // commits in a power cut; the hotline acknowledges a record to the provider once it is
    // stored, and a record acknowledged and then lost would be a caller's case gone.
    conn.pragma_update(None, "synchronous", "FULL").map_err(|e| open_error(path, e))?;
    // SQLite leaves foreign keys off by default, per connection.
    conn.pragma_update(None, "foreign_keys", true).map_err(|e| open_error(path, e))?;
    // Deleted and overwritten content is zeroed on the page, not left in free space where a
    // stolen file would still hold it (see `retention.rs`).
    conn.pragma_update(None, "secure_delete", true).map_err(|e| open_error(path, e))?;
    Ok(conn)
}

fn open_error(
    path: &Path,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> StorageError {
    StorageError::Open { path: PathBuf::from(path), source: source.into() }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Applies a record inside the open transaction `tx` (a group commit's, or its own).
pub(super) fn apply_in(tx: &Transaction<'_>, record: &Record) -> Result<(), StorageError> {
    apply_with(tx, record, None)
}

/// [`apply_in`] by the writer thread, which keeps the events of the cases it writes
/// (`event_cache.rs`) so that a step does not read back all of its case's events.
pub(super) fn apply_cached(
    tx: &Transaction<'_>,
    record: &Record,
    cache: &mut EventCache,
) -> Result<(), StorageError> {
    apply_with(tx, record, Some(cache))
}

fn apply_with(
    tx: &Transaction<'_>,
    record: &Record,
    cache: Option<&mut EventCache>,
) -> Result<(), StorageError> {
    let changed = match record {
        Record::CallStarted { call_sid, at, caller, country } => {
            start_case(tx, call_sid, *at, caller.as_ref(), country.as_deref())?;
            // A new case's derived columns already have their starting values.
            None
        }
        Record::Step { call_sid, step, at, events } => add_step(tx, call_sid, *step, *at, events)?
            .map(|added| (added.case_id, *at, Some(added))),
        Record::Status { call_sid, at, status, duration_secs, sequence } => {
            set_status(tx, call_sid, *at, *status, *duration_secs, *sequence)?
                .map(|id| (id, *at, None))
        }
        Record::Callback { call_sid, step, at, events, sealed, hint } => {
            let changed = add_step(tx, call_sid, *step, *at, events)?;
            let case_id = ensure_case(tx, call_sid, *at)?;
            super::followups::request_callback(tx, case_id, *at, sealed, hint)?;
            changed.map(|added| (added.case_id, *at, Some(added)))
        }
        Record::QueueLeft { call_sid, at, result, queue_secs } => {
            super::queue::leave_queue(tx, call_sid, result, *queue_secs, *at, Some(*at))?;
            None
        }
        Record::OperatorLineEnded { call_sid, at } => {
            super::queue::operator_line_ended(tx, call_sid, *at)?;
            None
        }
    };
    if let Some((case_id, at, added)) = changed {
        refresh(tx, case_id, at, cache, added.as_ref())?;
    }
    Ok(())
}

/// The case of a call, opened now if the call has none. A Step or Status whose CallStarted
/// was lost still gets its case, dated by its own arrival.
fn ensure_case(
    tx: &Transaction<'_>,
    sid: &CallSid,
    at: DateTime<Utc>,
) -> Result<i64, StorageError> {
    let existing = tx
        .prepare_cached("SELECT id FROM cases WHERE call_sid = ?1")?
        .query_row([sid.as_str()], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    // Inside the write transaction, so no other writer can take the same number.
    let year = at.year();
    let sequence: u32 = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(number_seq), 0) + 1 FROM cases WHERE number_year = ?1",
        )?
        .query_row([year], |row| row.get(0))?;
    tx.prepare_cached(
        "INSERT INTO cases (number_year, number_seq, call_sid, started_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![year, sequence, sid.as_str(), db_time(at)])?;
    Ok(tx.last_insert_rowid()?)
}

fn start_case(
    tx: &Transaction<'_>,
    sid: &CallSid,
    at: DateTime<Utc>,
    caller: Option<&CallerHash>,
    country: Option<&str>,
) -> Result<(), StorageError> {
    let id = ensure_case(tx, sid, at)?;
    // If a later record opened the case first, fill in what only CallStarted knows. COALESCE
    // and keeping the earlier start make a repeated CallStarted a no-op. A caller hash the retention purge shredded
    // stays shredded, even if a journal replays the call's start long after.
    tx.prepare_cached(
        "UPDATE cases SET caller_hash = CASE WHEN caller_shredded_at IS NULL
                                             THEN COALESCE(caller_hash, ?2) END,
                          country = COALESCE(country, ?3),
                          started_at = CASE WHEN ?4 < started_at THEN ?4 ELSE started_at END
         WHERE id = ?1",
    )?
    .execute(params![id, caller.map(|c| c.0.as_str()), country, db_time(at)])?;
    Ok(())
}

/// Events a step stored, for the case's refresh.
struct Added<'r> {
    case_id: i64,
    events: &'r [Event],
    /// Where the first and the last fall in call order.
    first: EventKey,
    last: EventKey,
    /// Whether every event was inserted (a row already there is not this record's).
    complete: bool,
}

/// Stores a step's events, unless the step is already stored. Returns what was added, for
/// the refresh, if anything was.
fn add_step<'r>(
    tx: &Transaction<'_>,
    sid: &CallSid,
    step: u32,
    at: DateTime<Utc>,
    events: &'r [Event],
) -> Result<Option<Added<'r>>, StorageError> {
    let id = ensure_case(tx, sid, at)?;
    // A retried webhook carries the same step: keep what the first delivery stored, even if
    // the retry's events differ, so a step is never half one delivery and half another.
    let stored: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM case_events WHERE case_id = ?1 AND step = ?2)",
        )?
        .query_row(params![id, step], |row| row.get(0))?;
    if stored || events.is_empty() {
        return Ok(None);
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO case_events (case_id, step, idx, at, kind, node, digits, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (case_id, step, idx) DO NOTHING",
    )?;
    let at = db_time(at);
    let mut complete = true;
    let mut last = 0;
    for (idx, event) in (0u32..).zip(events) {
        let detail = serde_json::to_string(event)
            .map_err(|e| StorageError::Data(format!("an event cannot be written as JSON: {e}")))?;
        // `Event::kind` is serde's tag (a test in `domain::cases` holds it to that), so the
        // column always matches the JSON.
        let (node, digits) = event_columns(event);
        complete &=
            insert.execute(params![id, step, idx, at, event.kind(), node, digits, detail])? == 1;
        last = idx;
    }
    Ok(Some(Added {
        case_id: id,
        events,
        first: (at.clone(), step, 0),
        last: (at, step, last),
        complete,
    }))
}

/// The node and digits columns of an event.
fn event_columns(event: &Event) -> (Option<&str>, Option<&str>) {
    match event {
        Event::Entered { node, .. }
        | Event::AttemptsExhausted { node }
        | Event::HandedOff { node, .. }
        | Event::AskAnswered { node, .. }
        | Event::Finished { node } => (Some(node.as_str()), None),
        Event::Pressed { node, digits, .. } => (node.as_ref().map(NodeId::as_str), Some(digits)),
        Event::NoInput { node, .. } | Event::Wrote { node, .. } => {
            (node.as_ref().map(NodeId::as_str), None)
        }
        Event::LanguageChosen { .. }
        | Event::Routed { .. }
        | Event::Answered { .. }
        | Event::LanguageMenu { .. }
        | Event::Tagged { .. }
        | Event::LeftQueue { .. }
        | Event::Voicemail { .. }
        | Event::Fallback { .. }
        | Event::Rejected { .. }
        | Event::Blocked { .. }
        | Event::CallbackRequested { .. }
        | Event::DeletionAsked
        | Event::StatusLost { .. } => (None, None),
    }
}

/// Keeps the status if it is newer than the stored one. Returns the case to refresh if the
/// status changed.
fn set_status(
    tx: &Transaction<'_>,
    sid: &CallSid,
    at: DateTime<Utc>,
    status: CallStatus,
    duration_secs: Option<u32>,
    sequence: Option<u32>,
) -> Result<Option<i64>, StorageError> {
    let id = ensure_case(tx, sid, at)?;
    let (stored_status, stored_sequence, stored_at): (Option<String>, Option<u32>, Option<String>) =
        tx.prepare_cached("SELECT status, status_sequence, status_at FROM cases WHERE id = ?1")?
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    // Newest is: final over non-final (a late "ringing" must not reopen an ended call), then
    // the higher SequenceNumber, then the later arrival when the provider sends no sequence.
    // An equal key is the same callback again: nothing to do. When both carry a sequence,
    // the arrival time is not part of the key: a retried callback arrives later with the
    // same sequence, and must not move the end of the call.
    if let Some(stored) = stored_status {
        let stored = decode_status(&stored)?;
        // The recovery's `lost` mark never overrides what the provider said, and whatever
        // final status the provider sends afterwards corrects it (see `recovery.rs`).
        if (status == CallStatus::Lost && stored.is_final())
            || (stored == CallStatus::Lost && !status.is_final())
        {
            return Ok(None);
        }
        let stored_final = stored.is_final() && stored != CallStatus::Lost;
        let newer = match (sequence, stored_sequence) {
            (Some(new), Some(old)) => (status.is_final(), new) > (stored_final, old),
            _ => {
                let stored_at = stored_at.as_deref().map(decode_time).transpose()?.unwrap_or(at);
                (status.is_final(), sequence, at) > (stored_final, stored_sequence, stored_at)
            }
        };
        if !newer {
            return Ok(None);
        }
    }
    // Only a final status ends the call, and a non-final one only ever replaces another
    // non-final one, so ended_at and duration are never cleared.
    let (ended_at, duration) =
        if status.is_final() { (Some(db_time(at)), duration_secs) } else { (None, None) };
    tx.prepare_cached(
        "UPDATE cases SET status = ?2, status_sequence = ?3, status_at = ?4, ended_at = ?5,
                          duration_secs = ?6
         WHERE id = ?1",
    )?
    .execute(params![id, status.as_str(), sequence, db_time(at), ended_at, duration])?;
    Ok(Some(id))
}

/// Recomputes a case's derived columns and tags from its events and status, after a record
/// of time `at` changed them (adding the events `added`, if any). With the writer's `cache`,
/// the events already known are not read again.
fn refresh(
    tx: &Transaction<'_>,
    id: i64,
    at: DateTime<Utc>,
    mut cache: Option<&mut EventCache>,
    added: Option<&Added<'_>>,
) -> Result<(), StorageError> {
    let (status, stored) = tx
        .prepare_cached(
            "SELECT status, language, recording_url, last_node, outcome, outcome_node, outcome_queue
             FROM cases WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                DerivedColumns {
                    language: row.get(1)?,
                    recording_url: row.get(2)?,
                    last_node: row.get(3)?,
                    outcome: row.get(4)?,
                    outcome_node: row.get(5)?,
                    outcome_queue: row.get(6)?,
                },
            ))
        })?;
    let ended = status.as_deref().map(decode_status).transpose()?.is_some_and(CallStatus::is_final);
    let known = match cache.as_deref_mut().and_then(|cache| cache.take(id)) {
        Some(known) => extended(known, added),
        None => None,
    };
    let mut known = match known {
        Some(known) => known,
        None => read_events(tx, id)?,
    };
    let derived = derive(&known.events, ended);
    let (outcome, outcome_node, outcome_queue) = outcome_columns(&derived.outcome);
    let columns = DerivedColumns {
        language: derived.language.as_ref().map(|l| l.as_str().to_owned()),
        // Retention blanks a shredded recording's URL in its event; it is gone, not "".
        recording_url: derived.recording_url.filter(|url| !url.is_empty()),
        last_node: derived.last_node.as_ref().map(|n| n.as_str().to_owned()),
        outcome: outcome.to_owned(),
        outcome_node: outcome_node.map(str::to_owned),
        outcome_queue: outcome_queue.map(str::to_owned),
    };
    // Most steps move only the last node. Writing only what changed keeps the indexes on
    // language and outcome untouched: each rewritten entry is a page more in the commit.
    if columns.language != stored.language || columns.outcome != stored.outcome {
        tx.prepare_cached(
            "UPDATE cases SET language = ?2, recording_url = ?3, last_node = ?4, outcome = ?5,
                              outcome_node = ?6, outcome_queue = ?7
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            columns.language,
            columns.recording_url,
            columns.last_node,
            columns.outcome,
            columns.outcome_node,
            columns.outcome_queue,
        ])?;
    } else if columns != stored {
        tx.prepare_cached(
            "UPDATE cases SET recording_url = ?2, last_node = ?3, outcome_node = ?4,
                              outcome_queue = ?5
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            columns.recording_url,
            columns.last_node,
            columns.outcome_node,
            columns.outcome_queue,
        ])?;
    }
    let stored_tags = match known.tags.take() {
        Some(tags) => tags,
        None => tx
            .prepare_cached(
                "SELECT key, value FROM case_tags WHERE case_id = ?1 ORDER BY position",
            )?
            .query_map([id], |row| Ok(Tag { key: row.get(0)?, value: row.get(1)? }))?
            .collect::<Result<Vec<_>, _>>()?,
    };
    if stored_tags != derived.tags {
        tx.prepare_cached("DELETE FROM case_tags WHERE case_id = ?1")?.execute([id])?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO case_tags (case_id, key, value, position) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (position, tag) in (0u32..).zip(&derived.tags) {
            insert.execute(params![id, tag.key, tag.value, position])?;
        }
    }
    // Only a case that was abandoned in the queue can have a missed call to take back.
    let was_missed = stored.outcome == ABANDONED_IN_QUEUE;
    super::followups::sync(tx, id, &known.events, &derived.outcome, was_missed, at)?;
    if let Some(cache) = cache {
        known.tags = Some(derived.tags);
        cache.stage(id, known);
    }
    Ok(())
}

/// A case's events known before a record, with the events the record added: `None` unless
/// they are provably the table's, that is unless every added event was inserted and all of
/// them come after the known ones in call order (a step replayed late from the journal falls
/// between, and is read from the table with the rest).
fn extended(mut known: CaseEvents, added: Option<&Added<'_>>) -> Option<CaseEvents> {
    let Some(added) = added else { return Some(known) };
    if !added.complete || known.last.as_ref().is_some_and(|last| *last >= added.first) {
        return None;
    }
    known.events.extend_from_slice(added.events);
    known.last = Some(added.last.clone());
    Some(known)
}

/// A case's events as the table holds them, in call order.
fn read_events(tx: &Transaction<'_>, id: i64) -> Result<CaseEvents, StorageError> {
    let mut last = None;
    let mut events = Vec::new();
    let mut statement = tx.prepare_cached(
        "SELECT at, step, idx, detail FROM case_events WHERE case_id = ?1
         ORDER BY at, step, idx",
    )?;
    let rows = statement.query_map([id], |row| {
        let event = row.with_str(3, decode_event)?;
        Ok((event, (row.get(0)?, row.get(1)?, row.get(2)?)))
    })?;
    for row in rows {
        let (event, key) = row?;
        events.push(event?);
        last = Some(key);
    }
    Ok(CaseEvents::new(events, last))
}

/// The columns of a case that its events decide, as stored.
#[derive(Debug, PartialEq, Eq)]
struct DerivedColumns {
    language: Option<String>,
    recording_url: Option<String>,
    last_node: Option<String>,
    outcome: String,
    outcome_node: Option<String>,
    outcome_queue: Option<String>,
}

/// The `outcome` column of a caller who hung up while waiting in a queue.
const ABANDONED_IN_QUEUE: &str = "abandoned-in-queue";

/// An outcome as its three columns: kind, node, queue.
fn outcome_columns(outcome: &Outcome) -> (&'static str, Option<&str>, Option<&str>) {
    match outcome {
        Outcome::InProgress => ("in-progress", None, None),
        Outcome::Finished { node } => ("finished", Some(node.as_str()), None),
        Outcome::Abandoned { node } => ("abandoned", node.as_ref().map(NodeId::as_str), None),
        Outcome::HandedOff { queue } => ("handed-off", None, Some(queue)),
        Outcome::AbandonedInQueue { queue } => (ABANDONED_IN_QUEUE, None, Some(queue)),
        Outcome::Voicemail => ("voicemail", None, None),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// How a case is looked up.
#[derive(Debug)]
enum CaseKey {
    Number(CaseNumber),
    Call(CallSid),
}

/// The columns of `cases` that [`CaseRow`] reads, in its order.
const CASE_COLUMNS: &str = "id, number_year, number_seq, call_sid, language, caller_hash, country,
     started_at, ended_at, status, duration_secs, outcome, outcome_node, outcome_queue,
     recording_url, channel";

/// A `cases` row as stored, before its values are checked.
struct CaseRow {
    id: i64,
    year: i32,
    sequence: u32,
    call_sid: String,
    language: Option<String>,
    caller: Option<String>,
    country: Option<String>,
    started_at: String,
    ended_at: Option<String>,
    status: Option<String>,
    duration_secs: Option<u32>,
    outcome: String,
    outcome_node: Option<String>,
    outcome_queue: Option<String>,
    recording_url: Option<String>,
    channel: String,
}

impl CaseRow {
    fn from_row(row: &super::engine::Row<'_>) -> super::engine::Result<CaseRow> {
        Ok(CaseRow {
            id: row.get(0)?,
            year: row.get(1)?,
            sequence: row.get(2)?,
            call_sid: row.get(3)?,
            language: row.get(4)?,
            caller: row.get(5)?,
            country: row.get(6)?,
            started_at: row.get(7)?,
            ended_at: row.get(8)?,
            status: row.get(9)?,
            duration_secs: row.get(10)?,
            outcome: row.get(11)?,
            outcome_node: row.get(12)?,
            outcome_queue: row.get(13)?,
            recording_url: row.get(14)?,
            channel: row.get(15)?,
        })
    }
}

fn load_case(conn: &mut Connection, key: &CaseKey) -> Result<Option<Case>, StorageError> {
    // One read transaction, so the row, its tags and its events are the same snapshot.
    let tx = conn.transaction()?;
    let row = match key {
        CaseKey::Number(number) => tx
            .prepare_cached(&format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE number_year = ?1 AND number_seq = ?2"
            ))?
            .query_row(params![number.year, number.sequence], CaseRow::from_row)
            .optional()?,
        CaseKey::Call(sid) => tx
            .prepare_cached(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE call_sid = ?1"))?
            .query_row([sid.as_str()], CaseRow::from_row)
            .optional()?,
    };
    let Some(row) = row else { return Ok(None) };
    let tags = load_tags(&tx, row.id)?;
    let events = tx
        .prepare_cached(
            "SELECT step, at, detail FROM case_events WHERE case_id = ?1 ORDER BY at, step, idx",
        )?
        .query_map([row.id], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?
        .map(|event| {
            let (step, at, detail) = event?;
            Ok(TimedEvent { step, at: decode_time(&at)?, event: decode_event(&detail)? })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    tx.finish()?;
    Ok(Some(Case {
        number: CaseNumber { year: row.year, sequence: row.sequence },
        call_sid: CallSid::parse(&row.call_sid)
            .ok_or_else(|| StorageError::Data("a stored call id is not a call id".into()))?,
        channel: decode_channel(&row.channel)?,
        language: row.language.as_deref().map(decode_language).transpose()?,
        caller: row.caller.map(CallerHash),
        country: row.country,
        started_at: decode_time(&row.started_at)?,
        ended_at: row.ended_at.as_deref().map(decode_time).transpose()?,
        status: row.status.as_deref().map(decode_status).transpose()?,
        duration_secs: row.duration_secs,
        outcome: decode_outcome(&row.outcome, row.outcome_node, row.outcome_queue)?,
        tags,
        recording_url: row.recording_url,
        events,
    }))
}

fn load_recent(conn: &mut Connection, limit: u32) -> Result<Vec<CaseSummary>, StorageError> {
    let tx = conn.transaction()?;
    let rows = tx
        .prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM cases ORDER BY started_at DESC, id DESC LIMIT ?1"
        ))?
        .query_map([limit], CaseRow::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let summaries = rows
        .into_iter()
        .map(|row| {
            Ok(CaseSummary {
                number: CaseNumber { year: row.year, sequence: row.sequence },
                channel: decode_channel(&row.channel)?,
                language: row.language.as_deref().map(decode_language).transpose()?,
                started_at: decode_time(&row.started_at)?,
                status: row.status.as_deref().map(decode_status).transpose()?,
                duration_secs: row.duration_secs,
                outcome: super::casework::case_outcome(&tx, row.id)?,
                outcome_at: row.outcome_node.or(row.outcome_queue),
                tags: load_tags(&tx, row.id)?,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    tx.finish()?;
    Ok(summaries)
}

fn load_tags(conn: &Connection, case_id: i64) -> Result<Vec<Tag>, StorageError> {
    let tags = conn
        .prepare_cached("SELECT key, value FROM case_tags WHERE case_id = ?1 ORDER BY position")?
        .query_map([case_id], |row| Ok(Tag { key: row.get(0)?, value: row.get(1)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tags)
}

// ---------------------------------------------------------------------------------------------
// Stored forms

/// A time as stored: RFC 3339 UTC with nanoseconds, fixed width so text order is time order.
pub(super) fn db_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn decode_time(text: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Data(format!("stored time {text:?}: {e}")))
}

pub(super) fn decode_channel(text: &str) -> Result<Channel, StorageError> {
    Channel::parse(text).ok_or_else(|| StorageError::Data(format!("unknown channel {text:?}")))
}

pub(super) fn decode_language(text: &str) -> Result<LanguageTag, StorageError> {
    LanguageTag::parse(text).ok_or_else(|| StorageError::Data(format!("stored language {text:?}")))
}

fn decode_status(text: &str) -> Result<CallStatus, StorageError> {
    CallStatus::from_stored(text)
        .ok_or_else(|| StorageError::Data(format!("stored call status {text:?}")))
}

fn decode_event(detail: &str) -> Result<Event, StorageError> {
    serde_json::from_str(detail).map_err(|e| StorageError::Data(format!("stored event: {e}")))
}

fn decode_outcome(
    kind: &str,
    node: Option<String>,
    queue: Option<String>,
) -> Result<Outcome, StorageError> {
    let bad = || StorageError::Data(format!("stored outcome {kind:?} lacks its node or queue"));
    let node = node
        .map(|n| NodeId::parse(&n).ok_or_else(|| StorageError::Data(format!("stored node {n:?}"))))
        .transpose()?;
    Ok(match kind {
        "in-progress" => Outcome::InProgress,
        "finished" => Outcome::Finished { node: node.ok_or_else(bad)? },
        "abandoned" => Outcome::Abandoned { node },
        "handed-off" => Outcome::HandedOff { queue: queue.ok_or_else(bad)? },
        ABANDONED_IN_QUEUE => Outcome::AbandonedInQueue { queue: queue.ok_or_else(bad)? },
        "voicemail" => Outcome::Voicemail,
        other => return Err(StorageError::Data(format!("stored outcome {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::cases::LanguageChoiceMethod;
    use crate::storage::migrations::{latest_version, user_version};

    async fn open(dir: &tempfile::TempDir) -> Storage {
        Storage::open(&dir.path().join("db").join("cases.db"), StorageOptions::for_tests())
            .await
            .unwrap()
    }

    /// `.cargo/config.toml` builds SQLite without memory statistics (a global mutex taken at
    /// every allocation); a build that lost the setting, say to a `LIBSQLITE3_FLAGS` of its
    /// own, is slower without any other sign.
    #[test]
    fn sqlite_is_built_without_memory_statistics() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        // Listed only when set to something other than SQLite's default, 1.
        let option: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT compile_options FROM pragma_compile_options
             WHERE compile_options LIKE 'DEFAULT_MEMSTATUS=%'",
            (),
            |row| row.get(0),
        ))
        .unwrap();
        assert_eq!(option.as_deref(), Some("DEFAULT_MEMSTATUS=0"));
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    fn sid(n: u32) -> CallSid {
        CallSid::parse(&format!("CA{n:032x}")).unwrap()
    }

    fn node(id: &str) -> NodeId {
        NodeId::parse(id).unwrap()
    }

    fn started(n: u32, at: DateTime<Utc>) -> Record {
        Record::CallStarted {
            call_sid: sid(n),
            at,
            caller: Some(CallerHash("ab12".into())),
            country: Some("UA".into()),
        }
    }

    fn step(n: u32, step: u32, events: Vec<Event>) -> Record {
        Record::Step { call_sid: sid(n), step, at: at(step.into()), events }
    }

    fn status(n: u32, status: CallStatus, sequence: u32) -> Record {
        Record::Status {
            call_sid: sid(n),
            at: at(100 + i64::from(sequence)),
            status,
            duration_secs: status.is_final().then_some(42),
            sequence: Some(sequence),
        }
    }

    fn entered(id: &str) -> Event {
        Event::Entered { node: node(id), said: "…".into() }
    }

    fn tagged(key: &str, value: &str) -> Event {
        Event::Tagged { tag: Tag { key: key.into(), value: value.into() } }
    }

    async fn case(storage: &Storage, n: u32) -> Case {
        storage.case_by_call(&sid(n)).await.unwrap().unwrap()
    }

    async fn apply_all(storage: &Storage, records: Vec<Record>) {
        for record in records {
            storage.apply(record).await.unwrap();
        }
    }

    #[tokio::test]
    async fn migrations_build_a_sound_database_and_reopening_changes_nothing() {
        if crate::storage::conformance::sqlite_file_only("these are the SQLite migrations") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        storage.apply(started(1, at(0))).await.unwrap();
        drop(storage);

        let storage = open(&dir).await;
        assert_eq!(case(&storage, 1).await.number, CaseNumber { year: 2026, sequence: 1 });
        let conn = rusqlite::Connection::open(dir.path().join("db").join("cases.db")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        let integrity: String = conn.query_row("PRAGMA integrity_check", (), |r| r.get(0)).unwrap();
        assert_eq!(integrity, "ok");
        let violations: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", (), |r| r.get(0))
            .unwrap();
        assert_eq!(violations, 0);
        let mode: String = conn.query_row("PRAGMA journal_mode", (), |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn a_database_from_a_newer_build_is_refused() {
        if crate::storage::conformance::sqlite_file_only("the version is the file's user_version") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        drop(open(&dir).await);
        let path = dir.path().join("db").join("cases.db");
        rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let error = Storage::open(&path, StorageOptions::for_tests()).await.unwrap_err();
        assert!(matches!(error, StorageError::TooNew { found: 99, .. }), "{error:?}");
        assert!(error.to_string().contains("newer release"), "{error}");
    }

    #[tokio::test]
    async fn case_numbers_count_within_a_year() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let last_year = Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 0).unwrap();
        for n in 1..=3 {
            storage.apply(started(n, last_year)).await.unwrap();
        }
        storage.apply(started(4, at(0))).await.unwrap();
        for (n, expected) in
            [(1, "2025-000001"), (2, "2025-000002"), (3, "2025-000003"), (4, "2026-000001")]
        {
            assert_eq!(case(&storage, n).await.number.to_string(), expected);
        }
        let number = "2025-000002".parse().unwrap();
        assert_eq!(storage.case(number).await.unwrap().unwrap().call_sid, sid(2));
        assert_eq!(storage.case("2024-000001".parse().unwrap()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn every_record_kind_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let records = vec![
            started(1, at(0)),
            step(1, 1, vec![entered("main"), tagged("intent", "info")]),
            status(1, CallStatus::Completed, 3),
        ];
        apply_all(&storage, records.clone()).await;
        let once = case(&storage, 1).await;
        apply_all(&storage, records).await;
        assert_eq!(case(&storage, 1).await, once);
        assert_eq!(once.events.len(), 2);
        assert_eq!(storage.recent_cases(10).await.unwrap().len(), 1);

        // A retried step with other events keeps what the first delivery stored.
        storage.apply(step(1, 1, vec![entered("other")])).await.unwrap();
        assert_eq!(case(&storage, 1).await, once);
    }

    #[tokio::test]
    async fn a_case_reads_back_what_was_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let uk = LanguageTag::parse("uk").unwrap();
        apply_all(
            &storage,
            vec![
                started(1, at(0)),
                step(
                    1,
                    1,
                    vec![Event::LanguageChosen {
                        language: uk.clone(),
                        how: LanguageChoiceMethod::Key,
                    }],
                ),
                step(1, 2, vec![entered("main")]),
                status(1, CallStatus::Completed, 2),
            ],
        )
        .await;
        let case = case(&storage, 1).await;
        assert_eq!(case.language, Some(uk.clone()));
        assert_eq!(case.caller, Some(CallerHash("ab12".into())));
        assert_eq!(case.started_at, at(0));
        assert_eq!(case.ended_at, Some(at(102)));
        assert_eq!(case.duration_secs, Some(42));
        assert_eq!(case.events[1], TimedEvent { step: 2, at: at(2), event: entered("main") });
        assert_eq!(storage.language_of(&sid(1)).await.unwrap(), Some(uk));
        assert_eq!(storage.language_of(&sid(2)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_status_with_the_highest_sequence_wins() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        storage.apply(status(1, CallStatus::InProgress, 2)).await.unwrap();
        storage.apply(status(1, CallStatus::Ringing, 1)).await.unwrap();
        assert_eq!(case(&storage, 1).await.status, Some(CallStatus::InProgress));

        storage.apply(status(1, CallStatus::Completed, 3)).await.unwrap();
        // A late non-final status, even with a higher sequence, does not reopen the call.
        storage.apply(status(1, CallStatus::InProgress, 4)).await.unwrap();
        let case = case(&storage, 1).await;
        assert_eq!(case.status, Some(CallStatus::Completed));
        assert_eq!(case.ended_at, Some(at(103)));
    }

    #[tokio::test]
    async fn outcomes_do_not_depend_on_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let handoff = || Event::HandedOff { node: node("operator"), queue: "uk".into() };
        let left = |result: &str| Event::LeftQueue { result: result.into(), wait_secs: Some(5) };
        let voicemail =
            Event::Voicemail { recording_url: "https://rec/1".into(), duration_secs: Some(9) };
        let calls: Vec<(Vec<Record>, Outcome)> = vec![
            // Hung up in the IVR.
            (
                vec![
                    step(1, 1, vec![entered("main")]),
                    step(1, 2, vec![entered("info")]),
                    status(1, CallStatus::Completed, 3),
                ],
                Outcome::Abandoned { node: Some(node("info")) },
            ),
            // Reached a hangup node; the status came before the last step.
            (
                vec![
                    step(2, 1, vec![entered("main")]),
                    status(2, CallStatus::Completed, 3),
                    step(2, 2, vec![entered("bye"), Event::Finished { node: node("bye") }]),
                ],
                Outcome::Finished { node: node("bye") },
            ),
            // Hung up waiting in the queue.
            (
                vec![
                    step(3, 1, vec![handoff()]),
                    step(3, 2, vec![left("hangup")]),
                    status(3, CallStatus::Completed, 3),
                ],
                Outcome::AbandonedInQueue { queue: "uk".into() },
            ),
            // Queue full, then a voicemail; the steps arrive reversed.
            (
                vec![
                    step(4, 3, vec![voicemail.clone()]),
                    step(4, 2, vec![left("queue-full"), entered("voicemail")]),
                    step(4, 1, vec![handoff()]),
                    status(4, CallStatus::Completed, 3),
                ],
                Outcome::Voicemail,
            ),
            // Still going.
            (vec![step(5, 1, vec![entered("main")])], Outcome::InProgress),
        ];
        for (n, (records, expected)) in (1..).zip(calls) {
            apply_all(&storage, records).await;
            assert_eq!(case(&storage, n).await.outcome, expected, "call {n}");
        }
        assert_eq!(case(&storage, 4).await.recording_url.as_deref(), Some("https://rec/1"));
        let summaries = storage.recent_cases(2).await.unwrap();
        assert_eq!(summaries.len(), 2);
        assert!(summaries[0].started_at >= summaries[1].started_at);
    }

    #[tokio::test]
    async fn tags_keep_the_last_value_in_first_set_order() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        apply_all(
            &storage,
            vec![
                step(1, 2, vec![tagged("intent", "surrender")]),
                step(1, 1, vec![tagged("intent", "info"), tagged("region", "north")]),
            ],
        )
        .await;
        let tags = case(&storage, 1).await.tags;
        let pairs: Vec<_> = tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
        assert_eq!(pairs, [("intent", "surrender"), ("region", "north")]);
        assert_eq!(storage.recent_cases(1).await.unwrap()[0].tags, tags);
    }

    #[tokio::test]
    async fn a_step_for_an_unknown_call_opens_its_case() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        storage.apply(step(1, 3, vec![entered("main")])).await.unwrap();
        let opened = case(&storage, 1).await;
        assert_eq!(opened.number, CaseNumber { year: 2026, sequence: 1 });
        assert_eq!(opened.started_at, at(3));
        assert_eq!(opened.caller, None);

        // The CallStarted arriving late fills in what only it knows.
        storage.apply(started(1, at(0))).await.unwrap();
        let filled = case(&storage, 1).await;
        assert_eq!(filled.number, opened.number);
        assert_eq!(filled.started_at, at(0));
        assert_eq!(filled.country.as_deref(), Some("UA"));
    }

    #[tokio::test]
    async fn a_retried_status_callback_does_not_move_the_end_of_the_call() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        storage.apply(started(1, at(0))).await.unwrap();
        let first = status(1, CallStatus::Completed, 2);
        storage.apply(first.clone()).await.unwrap();
        let ended = case(&storage, 1).await.ended_at;
        assert_eq!(ended, Some(at(102)));
        // The provider did not get our answer in time and sends the same callback again.
        let Record::Status { call_sid, status: completed, duration_secs, sequence, .. } = first
        else {
            unreachable!()
        };
        let retry =
            Record::Status { call_sid, at: at(160), status: completed, duration_secs, sequence };
        storage.apply(retry).await.unwrap();
        // And an older one, delivered late.
        storage.apply(status(1, CallStatus::InProgress, 1)).await.unwrap();
        let case = case(&storage, 1).await;
        assert_eq!(case.ended_at, ended);
        assert_eq!(case.status, Some(CallStatus::Completed));
        assert_eq!(case.duration_secs, Some(42));
    }
}

/// The writer's cache of events against the table: whatever the records, their order, the
/// rollbacks and the other writes, a case's columns are always what all of its events, read
/// back and folded from scratch, say.
#[cfg(test)]
mod cache_tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::cases::LanguageChoiceMethod;
    use crate::domain::retention::RetentionPolicy;
    use crate::storage::derived::Derived;

    /// Something that happens to the database.
    #[derive(Debug, Clone)]
    enum Op {
        /// A step of call `call`, arriving `secs` after the first (earlier ones arrive late,
        /// as from the journal), with events by their codes (see `event`).
        Step { call: u32, step: u32, secs: i64, events: Vec<u8> },
        /// A status callback.
        Status { call: u32, ended: bool, sequence: u32 },
        /// Retention shreds every recording's URL, in the events too.
        Shred,
        /// A step in a group whose commit fails.
        Lost { call: u32, step: u32, secs: i64, events: Vec<u8> },
        /// A step written by a grouped write that then fails: its savepoint is rolled back.
        /// `kept`: the write keeps the cache of events, as a text message's does.
        Undone { call: u32, step: u32, secs: i64, events: Vec<u8>, kept: bool },
        /// A step written by a grouped write that keeps the cache of events, as a text
        /// message's is.
        Grouped { call: u32, step: u32, secs: i64, events: Vec<u8> },
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    fn sid(call: u32) -> CallSid {
        CallSid::parse(&format!("CA{call:032x}")).unwrap()
    }

    fn event(code: u8, step: u32) -> Event {
        let node = |id: &str| NodeId::parse(id).unwrap();
        match code {
            0 => Event::Entered { node: node("main"), said: "…".into() },
            1 => Event::Entered { node: node(&format!("n{step}")), said: "…".into() },
            2 => Event::Tagged { tag: Tag { key: "intent".into(), value: format!("v{step}") } },
            3 => Event::Tagged { tag: Tag { key: format!("k{}", step % 3), value: "x".into() } },
            4 => Event::LanguageChosen {
                language: LanguageTag::parse(if step.is_multiple_of(2) { "uk" } else { "en" })
                    .unwrap(),
                how: LanguageChoiceMethod::Key,
            },
            5 => Event::Voicemail {
                recording_url: format!("https://rec/{step}"),
                duration_secs: Some(step),
            },
            6 => Event::HandedOff { node: node("operator"), queue: "uk".into() },
            7 => Event::LeftQueue { result: "hangup".into(), wait_secs: Some(3) },
            _ => Event::Finished { node: node("bye") },
        }
    }

    fn step_record(call: u32, step: u32, secs: i64, events: &[u8]) -> Record {
        Record::Step {
            call_sid: sid(call),
            step,
            at: at(secs),
            events: events.iter().map(|&code| event(code, step)).collect(),
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let events = || proptest::collection::vec(0u8..9, 0..4);
        prop_oneof![
            6 => (0u32..3, 1u32..12, 0i64..40, events())
                .prop_map(|(call, step, secs, events)| Op::Step { call, step, secs, events }),
            1 => (0u32..3, any::<bool>(), 0u32..6)
                .prop_map(|(call, ended, sequence)| Op::Status { call, ended, sequence }),
            1 => Just(Op::Shred),
            1 => (0u32..3, 1u32..12, 0i64..40, events())
                .prop_map(|(call, step, secs, events)| Op::Lost { call, step, secs, events }),
            1 => (0u32..3, 1u32..12, 0i64..40, events(), any::<bool>()).prop_map(
                |(call, step, secs, events, kept)| Op::Undone { call, step, secs, events, kept }
            ),
            3 => (0u32..3, 1u32..12, 0i64..40, events())
                .prop_map(|(call, step, secs, events)| Op::Grouped { call, step, secs, events }),
        ]
    }

    /// Sends a write to the writer now, without waiting for it.
    fn send<F: Future>(future: std::pin::Pin<&mut F>) {
        let polled = future.poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Pending), "a write answered before the writer ran it");
    }

    async fn run(storage: &Storage, op: &Op) {
        match op {
            Op::Step { call, step, secs, events } => {
                storage.apply(step_record(*call, *step, *secs, events)).await.unwrap();
            }
            Op::Status { call, ended, sequence } => {
                let status = if *ended { CallStatus::Completed } else { CallStatus::InProgress };
                let record = Record::Status {
                    call_sid: sid(*call),
                    at: at(50 + i64::from(*sequence)),
                    status,
                    duration_secs: None,
                    sequence: Some(*sequence),
                };
                storage.apply(record).await.unwrap();
            }
            Op::Shred => {
                let policy = RetentionPolicy {
                    recordings: chrono::Duration::days(1),
                    notes: chrono::Duration::days(1000),
                    caller_hashes: chrono::Duration::days(1000),
                };
                storage.purge(policy, at(0) + chrono::Duration::days(2), false).await.unwrap();
            }
            Op::Lost { call, step, secs, events } => {
                // The writer is held on a write of its own while the step and a write that
                // breaks the commit (a deferred foreign key to no case) queue behind it, so
                // both are one group.
                let (release, gate) = std::sync::mpsc::channel::<()>();
                let mut hold = pin!(storage.write(move |_| {
                    let _ = gate.recv();
                    Ok(())
                }));
                send(hold.as_mut());
                let stepped = storage.submit(step_record(*call, *step, *secs, events));
                let mut breaker = pin!(storage.write_grouped(|tx| {
                    tx.sqlite().unwrap().pragma_update(None, "defer_foreign_keys", true)?;
                    tx.execute(
                        "INSERT INTO case_tags (case_id, key, value, position)
                         VALUES (-1, 'k', 'v', 0)",
                        (),
                    )?;
                    Ok(())
                }));
                send(breaker.as_mut());
                release.send(()).unwrap();
                hold.await.unwrap();
                assert!(stepped.await.is_err(), "the group's commit fails");
                assert!(breaker.await.is_err());
            }
            Op::Undone { call, step, secs, events, kept } => {
                let record = step_record(*call, *step, *secs, events);
                let undone = || Err::<(), _>(StorageError::Data("undone".into()));
                let result = if *kept {
                    storage
                        .write_grouped_with_events(move |tx, cache| {
                            apply_cached(tx, &record, cache)?;
                            undone()
                        })
                        .await
                } else {
                    storage
                        .write_grouped(move |tx| {
                            apply_in(tx, &record)?;
                            undone()
                        })
                        .await
                };
                assert!(result.is_err());
            }
            Op::Grouped { call, step, secs, events } => {
                let record = step_record(*call, *step, *secs, events);
                storage
                    .write_grouped_with_events(move |tx, cache| apply_cached(tx, &record, cache))
                    .await
                    .unwrap();
            }
        }
    }

    /// The case's columns, and what its events read back from scratch say they should be.
    fn columns_and_fold(path: &Path, call: u32) -> Option<(Derived, Derived)> {
        let mut conn = Connection::from(rusqlite::Connection::open(path).unwrap());
        let tx = conn.transaction().unwrap();
        let row: Option<(i64, Option<String>)> = tx
            .query_row(
                "SELECT id, status FROM cases WHERE call_sid = ?1",
                [sid(call).as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .unwrap();
        let (id, status) = row?;
        let ended = status
            .as_deref()
            .map(decode_status)
            .transpose()
            .unwrap()
            .is_some_and(CallStatus::is_final);
        let mut fold = derive(&read_events(&tx, id).unwrap().events, ended);
        fold.recording_url = fold.recording_url.filter(|url| !url.is_empty());
        tx.finish().unwrap();
        let case = load_case(&mut conn, &CaseKey::Call(sid(call))).unwrap().unwrap();
        let stored: (Option<String>,) = conn
            .query_row("SELECT last_node FROM cases WHERE id = ?1", [id], |r| Ok((r.get(0)?,)))
            .unwrap();
        let columns = Derived {
            language: case.language,
            recording_url: case.recording_url,
            last_node: stored.0.map(|n| NodeId::parse(&n).unwrap()),
            outcome: case.outcome,
            tags: case.tags,
        };
        Some((columns, fold))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn a_case_is_what_all_its_events_say(ops in proptest::collection::vec(op(), 1..24)) {
            if crate::storage::conformance::sqlite_file_only("the event cache watches SQLite's commits") {
                return Ok(());
            }
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cases.db");
            runtime.block_on(async {
                let storage = Storage::open(&path, StorageOptions::for_tests()).await.unwrap();
                for (n, op) in ops.iter().enumerate() {
                    run(&storage, op).await;
                    for call in 0..3 {
                        if let Some((columns, fold)) = columns_and_fold(&path, call) {
                            prop_assert_eq!(columns, fold, "call {} after op {} ({:?})", call, n, op);
                        }
                    }
                }
                Ok(())
            })?;
        }
    }
}
