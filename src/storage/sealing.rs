//! Which stored values are sealed under data keys, and the SQL around them: sealing records
//! before they are written, opening what reads hand back, sealing text written before
//! sealing existed, and finding the oldest month each class still holds (retention destroys
//! only the keys of months nothing live needs).
//!
//! Sealed, in [`DataClass::Recordings`]: a recording's address (in the case, its voicemail
//! and answer events, its follow-up), a callback number (already sealed under the callback
//! key by the webhook; this is a second layer), a text conversation's reply address (in the
//! conversation and the outbox). In [`DataClass::Notes`]: a note's text, a chat message's
//! body, an outgoing message's body. Storage seals on the way in and opens on the way out, so
//! the use cases see text and the files (database, its log, the journal, backups) see only
//! ciphertext.

use super::engine::{Connection, Engine, OptionalExtension, TransactionBehavior, Value, params};
use chrono::{DateTime, Utc};

use super::StorageError;
use super::sqlite::decode_time;
use crate::domain::cases::{Event, Record, TimedEvent};
use crate::domain::data_keys::{DataClass, DataKeys, Month, Unopened, is_sealed};

/// A column holding sealed values: its table, the column (or a JSON path in it), and the
/// column of the row's time, which decides the month a value written before sealing gets.
struct SealedColumn {
    class: DataClass,
    table: &'static str,
    /// An SQL expression of the value, with the table aliased `t`.
    value: &'static str,
    /// An SQL expression of when the value was written, with the table aliased `t`.
    at: &'static str,
    /// The SQL assignment that writes `?2` in its place.
    set: &'static str,
    /// Further conditions on the rows that hold a value of this column.
    only: &'static str,
    /// An SQL expression of the row's case, with the table aliased `t`.
    case: &'static str,
}

/// Every sealed column.
const SEALED: [SealedColumn; 9] = [
    SealedColumn {
        class: DataClass::Recordings,
        table: "cases",
        value: "t.recording_url",
        at: "t.started_at",
        set: "recording_url = ?2",
        only: "",
        case: "t.id",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "case_events",
        value: "json_extract(t.detail, '$.recording_url')",
        at: "t.at",
        set: "detail = json_set(detail, '$.recording_url', ?2)",
        only: "AND t.kind IN ('voicemail', 'ask-answered')",
        case: "t.case_id",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "follow_ups",
        value: "t.recording_url",
        at: "t.created_at",
        set: "recording_url = ?2",
        only: "",
        case: "t.case_id",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "follow_ups",
        value: "t.number_sealed",
        at: "t.created_at",
        set: "number_sealed = ?2",
        only: "",
        case: "t.case_id",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "conversations",
        value: "t.address_sealed",
        at: "(SELECT c.started_at FROM cases c WHERE c.id = t.case_id)",
        set: "address_sealed = ?2",
        only: "",
        case: "t.case_id",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "outbox",
        value: "t.address_sealed",
        at: "t.created_at",
        set: "address_sealed = ?2",
        only: "",
        case: "t.case_id",
    },
    SealedColumn {
        class: DataClass::Notes,
        table: "case_notes",
        value: "t.text",
        at: "t.at",
        set: "text = ?2",
        only: "AND t.shredded_at IS NULL",
        case: "t.case_id",
    },
    SealedColumn {
        class: DataClass::Notes,
        table: "chat_messages",
        value: "t.body",
        at: "t.at",
        set: "body = ?2",
        only: "AND t.shredded_at IS NULL",
        case: "t.case_id",
    },
    SealedColumn {
        class: DataClass::Notes,
        table: "outbox",
        value: "t.body",
        at: "t.created_at",
        set: "body = ?2",
        only: "",
        case: "t.case_id",
    },
];

/// `record` with its sensitive values sealed (recording addresses, the sealed callback
/// number); values already sealed stay as they are, so sealing twice changes nothing.
pub(super) fn seal_record(keys: &DataKeys, mut record: Record) -> Result<Record, StorageError> {
    seal_record_in_place(keys, &mut record)?;
    Ok(record)
}

/// [`seal_record`] in place. Locked keys fail at the first value, leaving `record` unchanged.
pub(super) fn seal_record_in_place(
    keys: &DataKeys,
    record: &mut Record,
) -> Result<(), StorageError> {
    let seal = |value: &mut String, at: DateTime<Utc>| -> Result<(), StorageError> {
        if !value.is_empty() && !is_sealed(value) {
            *value = keys.seal(DataClass::Recordings, at, value)?;
        }
        Ok(())
    };
    match record {
        Record::Step { at, events, .. } => seal_events(events, *at, seal)?,
        Record::Callback { at, events, sealed, .. } => {
            seal_events(events, *at, seal)?;
            seal(sealed, *at)?;
        }
        Record::CallStarted { .. }
        | Record::Status { .. }
        | Record::QueueLeft { .. }
        | Record::OperatorLineEnded { .. } => {}
    }
    Ok(())
}

fn seal_events(
    events: &mut [Event],
    at: DateTime<Utc>,
    seal: impl Fn(&mut String, DateTime<Utc>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    for event in events {
        match event {
            Event::Voicemail { recording_url, .. } => seal(recording_url, at)?,
            Event::AskAnswered { recording_url: Some(url), .. } => seal(url, at)?,
            _ => {}
        }
    }
    Ok(())
}

/// `value` sealed in `class` under the month of `at`, unless it is sealed already (an address
/// read back from the conversation it is copied from).
pub(super) fn seal_unless_sealed(
    keys: &DataKeys,
    class: DataClass,
    at: DateTime<Utc>,
    value: &str,
) -> Result<String, StorageError> {
    Ok(if is_sealed(value) { value.to_owned() } else { keys.seal(class, at, value)? })
}

/// The text of a stored value: opened if sealed; `None` if its key was destroyed (the value
/// is shredded) or it is damaged (logged, never its content). Text stored before sealing
/// existed, not yet sealed, is returned as it is.
pub(super) fn open(keys: &DataKeys, stored: &str) -> Option<String> {
    if !is_sealed(stored) {
        return Some(stored.to_owned());
    }
    match keys.open(stored) {
        Ok(text) => Some(text),
        // Locked: a tool without the key; what it shows of sealed text is nothing.
        Err(Unopened::Shredded | Unopened::Locked) => None,
        Err(Unopened::Damaged) => {
            tracing::warn!(
                "a stored value sealed under data keys does not open: altered, or sealed under \
                 other keys; it is shown as shredded"
            );
            None
        }
    }
}

/// [`open`] of an optional value.
pub(super) fn open_opt(keys: &DataKeys, stored: Option<String>) -> Option<String> {
    stored.as_deref().and_then(|stored| open(keys, stored))
}

/// The events with their recording addresses opened; a shredded one becomes what retention
/// leaves (an empty voicemail address, no answer address).
pub(super) fn open_events(keys: &DataKeys, events: &mut [TimedEvent]) {
    for timed in events {
        match &mut timed.event {
            Event::Voicemail { recording_url, .. } => {
                *recording_url = open(keys, recording_url).unwrap_or_default();
            }
            Event::AskAnswered { recording_url, .. } => {
                *recording_url = open_opt(keys, recording_url.take());
            }
            _ => {}
        }
    }
}

/// Whether the database holds any sealed value.
pub(super) fn holds_sealed(conn: &Connection) -> Result<bool, StorageError> {
    for column in &SEALED {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} t WHERE 1 = 1 {} AND substr({}, 1, 4) = 'dk1.')",
            column.table, column.only, column.value
        );
        if conn.query_row(&sql, (), |row| row.get(0))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The oldest month each class's live values are sealed under (`None` for a class with
/// none), in one pass over each column.
pub(super) fn oldest_months(
    conn: &Connection,
) -> Result<[(DataClass, Option<Month>); 3], StorageError> {
    let (from, len) = DataClass::MONTH_IN_VALUE;
    let mut oldest = DataClass::ALL.map(|class| (class, None::<Month>));
    // Every column and every class: a column of either class holds held values too.
    for column in &SEALED {
        let mins: Vec<String> = DataClass::ALL
            .iter()
            .map(|class| {
                format!(
                    "MIN(CASE WHEN substr({value}, 1, 6) = '{prefix}' \
                     THEN substr({value}, {from}, {len}) END)",
                    value = column.value,
                    prefix = class.prefix(),
                )
            })
            .collect();
        let sql = format!(
            "SELECT {mins} FROM {table} t WHERE 1 = 1 {only} AND substr({value}, 1, 4) = 'dk1.'",
            mins = mins.join(", "),
            table = column.table,
            only = column.only,
            value = column.value,
        );
        let months: [Option<String>; 3] =
            conn.query_row(&sql, (), |row| Ok([row.get(0)?, row.get(1)?, row.get(2)?]))?;
        for ((_, kept), month) in oldest.iter_mut().zip(months) {
            let month = month.as_deref().and_then(Month::parse);
            *kept = match (*kept, month) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    Ok(oldest)
}

/// Seals again the values of the cases under legal hold as [`DataClass::Held`] (under the
/// month of `now`), and the held values of the cases released back in their column's class
/// (under the month their case's data ages from, or the oldest kept: a release past the
/// period lets the purge shred them). Run by each purge before it shreds and destroys keys,
/// so that a hold keeps its own values readable, not every value of their months. Returns how
/// many values were sealed again.
pub(super) fn reseal_holds(
    conn: &Connection,
    keys: &DataKeys,
    now: DateTime<Utc>,
) -> Result<u64, StorageError> {
    let mut resealed = 0;
    let held = DataClass::Held.prefix();
    for column in &SEALED {
        let (row, by_row) = row_key(conn);
        let select = format!(
            "SELECT {row}, {value}, c.legal_hold, COALESCE(c.ended_at, c.started_at)
             FROM {table} t JOIN cases c ON c.id = {case}
             WHERE 1 = 1 {only}
               AND ((c.legal_hold = 1 AND substr({value}, 1, 6) = ?1)
                 OR (c.legal_hold = 0 AND substr({value}, 1, 6) = ?2))",
            value = column.value,
            table = column.table,
            case = column.case,
            only = column.only,
        );
        let rows: Vec<(Value, String, bool, String)> = conn
            .prepare_cached(&select)?
            .query_map(params![column.class.prefix(), held], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut update = conn.prepare_cached(&format!(
            "UPDATE {} SET {} WHERE {by_row}",
            column.table, column.set
        ))?;
        for (rowid, stored, on_hold, ages_from) in rows {
            // A value whose key is gone stays as it is: the purge shreds its row.
            let Ok(text) = keys.open(&stored) else { continue };
            let value = if on_hold {
                keys.seal(DataClass::Held, now, &text)?
            } else {
                keys.seal(column.class, decode_time(&ages_from)?, &text)?
            };
            update.execute(params![rowid, value])?;
            resealed += 1;
        }
    }
    Ok(resealed)
}

/// Seals every value written before sealing existed, once (the first start of the release
/// that seals), in one transaction, under the month it was written in; then, if anything was
/// sealed, rewrites the file and empties the log so no plaintext copy stays in either.
/// Returns how many values were sealed.
pub(super) fn seal_legacy(conn: &mut Connection, keys: &DataKeys) -> Result<u64, StorageError> {
    let done: Option<i64> = conn
        .query_row("SELECT 1 FROM legacy_text_sealed WHERE id = 1", (), |row| row.get(0))
        .optional()?;
    if done.is_some() {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut sealed = 0u64;
    for column in &SEALED {
        let (row, by_row) = row_key(&tx);
        let select = format!(
            "SELECT {row}, {value}, {at} FROM {table} t
             WHERE 1 = 1 {only}
               AND {value} IS NOT NULL AND {value} <> '' AND substr({value}, 1, 4) <> 'dk1.'",
            value = column.value,
            at = column.at,
            table = column.table,
            only = column.only,
        );
        let rows: Vec<(Value, String, String)> = tx
            .prepare(&select)?
            .query_map((), |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut update =
            tx.prepare(&format!("UPDATE {} SET {} WHERE {by_row}", column.table, column.set))?;
        for (rowid, text, at) in rows {
            if column.table == "case_notes" && text == super::retention::SHREDDED_NOTE {
                continue;
            }
            let value = keys.seal(column.class, decode_time(&at)?, &text)?;
            update.execute(params![rowid, value])?;
            sealed += 1;
        }
    }
    tx.execute("INSERT INTO legacy_text_sealed (id) VALUES (1)", ())?;
    tx.commit()?;
    if sealed > 0 {
        conn.execute_batch("VACUUM")?;
        super::retention::checkpoint_truncate(conn)?;
        tracing::info!(sealed, "text written before sealing existed is now sealed");
    }
    Ok(sealed)
}

/// How a row read for sealing is found again to be updated, in the same transaction: the
/// expression to select (over `t`) and the condition on `?1`. SQLite's rowid; PostgreSQL's
/// physical address, which stays the row's until the row is updated, once, here.
fn row_key(conn: &Connection) -> (&'static str, &'static str) {
    match conn.engine() {
        Engine::Sqlite => ("t.rowid", "rowid = ?1"),
        Engine::Postgres => ("CAST(t.ctid AS TEXT)", "ctid = CAST(CAST(?1 AS TEXT) AS tid)"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::cases::{CallSid, CallStatus, CaseNumber};
    use crate::domain::casework::NoteText;
    use crate::domain::people::Role;
    use crate::domain::retention::RetentionPolicy;
    use crate::domain::secret::Secret;
    use crate::scripts::LanguageTag;
    use crate::storage::{DATA_KEYS_FILE, NewPerson, Storage, StorageOptions};

    const NOTE: &str = "he waits at the old bridge";
    const RECORDING: &str = "https://rec.example/RE-voicemail-of-the-bridge";

    fn at(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap() + Duration::days(day)
    }

    fn case() -> CaseNumber {
        CaseNumber { year: 2026, sequence: 1 }
    }

    /// A database with one ended call that left a voicemail, and an operator's note on it.
    async fn with_a_case(path: &Path, options: StorageOptions) -> Storage {
        let storage = Storage::open(path, options).await.unwrap();
        let call_sid = CallSid::parse(&format!("CA{:032x}", 1)).unwrap();
        let records = [
            Record::CallStarted {
                call_sid: call_sid.clone(),
                at: at(0),
                caller: None,
                country: None,
            },
            Record::Step {
                call_sid: call_sid.clone(),
                step: 1,
                at: at(0),
                events: vec![Event::Voicemail {
                    recording_url: RECORDING.into(),
                    duration_secs: None,
                }],
            },
            Record::Status {
                call_sid,
                at: at(0),
                status: CallStatus::Completed,
                duration_secs: Some(40),
                sequence: Some(2),
            },
        ];
        for record in records {
            storage.apply(record).await.unwrap();
        }
        let new = NewPerson {
            name: "anna".into(),
            role: Role::Operator,
            languages: vec![LanguageTag::parse("ru").unwrap()],
            password_hash: None,
            pin_hash: None,
        };
        let author = storage.add_person(new, at(0)).await.unwrap();
        let note = storage.add_note(case(), author.id, NoteText::parse(NOTE).unwrap(), at(1));
        assert_eq!(note.await.unwrap().unwrap().text, NOTE, "a note reads back as written");
        storage
    }

    /// Every byte of the database's files in `dir` (the database, its log, the keys).
    fn files_hold(dir: &Path, needle: &str) -> bool {
        std::fs::read_dir(dir).unwrap().any(|entry| {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|window| window == needle.as_bytes())
        })
    }

    #[tokio::test]
    async fn what_is_stored_is_sealed_and_reads_back_as_written() {
        if crate::storage::conformance::sqlite_file_only("it scans the file") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let storage = with_a_case(&dir.path().join("h.db"), StorageOptions::for_tests()).await;
        let read = storage.case(case()).await.unwrap().unwrap();
        assert_eq!(read.recording_url.as_deref(), Some(RECORDING));
        assert!(read.events.iter().any(|e| matches!(&e.event,
            Event::Voicemail { recording_url, .. } if recording_url == RECORDING)));
        let work = storage.case_work(case()).await.unwrap().unwrap();
        assert_eq!(work.notes[0].text, NOTE);
        drop((read, work));
        for plain in [NOTE, "RE-voicemail-of-the-bridge"] {
            assert!(!files_hold(dir.path(), plain), "{plain:?} is in a file in the clear");
        }
        assert!(files_hold(dir.path(), "dk1.n.202601."), "the note is there, sealed");
        assert!(files_hold(dir.path(), "dk1.r.202601."), "the address is there, sealed");
    }

    #[tokio::test]
    async fn the_longest_texts_in_the_widest_characters_fit_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let storage = with_a_case(&dir.path().join("h.db"), StorageOptions::for_tests()).await;
        // 4,000 characters of 4 bytes each: the longest note, at its largest.
        let longest = "𝄞".repeat(4000);
        let author = storage.people().await.unwrap()[0].id;
        let note = NoteText::parse(&longest).unwrap();
        let added = storage.add_note(case(), author, note, at(2)).await.unwrap().unwrap();
        assert_eq!(added.text, longest);
        // A chat message may have 4,096 such characters; the schema takes 32,768 sealed.
        let keys = crate::domain::data_keys::DataKeys::generate(
            &Secret::new("a key for the length check".into()),
            at(0),
        )
        .unwrap();
        let sealed = keys.seal(DataClass::Notes, at(0), &"𝄞".repeat(4096)).unwrap();
        assert!(sealed.chars().count() <= 32_768, "{}", sealed.len());
    }

    #[tokio::test]
    async fn text_written_before_sealing_is_sealed_at_the_first_start_and_leaves_no_copy() {
        if crate::storage::conformance::sqlite_file_only(
            "text from before sealing exists only in SQLite files",
        ) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let storage = with_a_case(&path, StorageOptions::for_tests()).await;
        // What a database of the release before looks like: the same rows in the clear, no
        // keys file, and the sealing not done.
        storage
            .write(|conn| {
                conn.execute_batch(&format!(
                    "DROP TRIGGER case_notes_are_append_only_update;
                     UPDATE case_notes SET text = '{NOTE}';
                     UPDATE cases SET recording_url = '{RECORDING}';
                     UPDATE follow_ups SET recording_url = '{RECORDING}';
                     UPDATE case_events SET detail = json_set(detail, '$.recording_url', '{RECORDING}')
                      WHERE kind = 'voicemail';
                     DELETE FROM legacy_text_sealed;"
                ))?;
                super::super::retention::checkpoint_truncate(conn)
            })
            .await
            .unwrap();
        drop(storage);
        std::fs::remove_file(dir.path().join(DATA_KEYS_FILE)).unwrap();
        assert!(files_hold(dir.path(), NOTE), "the scan sees text in the clear");

        let storage = Storage::open(&path, StorageOptions::for_tests()).await.unwrap();
        assert_eq!(storage.case_work(case()).await.unwrap().unwrap().notes[0].text, NOTE);
        let read = storage.case(case()).await.unwrap().unwrap();
        assert_eq!(read.recording_url.as_deref(), Some(RECORDING));
        for plain in [NOTE, "RE-voicemail-of-the-bridge"] {
            assert!(!files_hold(dir.path(), plain), "{plain:?} is still in a file in the clear");
        }
    }

    #[tokio::test]
    async fn a_database_holding_sealed_text_does_not_open_without_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(with_a_case(&path, StorageOptions::for_tests()).await);

        let other =
            StorageOptions::new(Secret::new("another callback key, also long enough".into()));
        let error = Storage::open(&path, other).await.unwrap_err().to_string();
        assert!(error.contains("another one") && error.contains(DATA_KEYS_FILE), "{error}");

        std::fs::remove_file(dir.path().join(DATA_KEYS_FILE)).unwrap();
        let error =
            Storage::open(&path, StorageOptions::for_tests()).await.unwrap_err().to_string();
        assert!(error.contains("missing") && error.contains("put back"), "{error}");
        assert!(!dir.path().join(DATA_KEYS_FILE).exists(), "no new keys made in its place");

        for damaged in ["", "hotline data keys v1\nr 202601 AAAA\n", &"x".repeat(10_000)] {
            std::fs::write(dir.path().join(DATA_KEYS_FILE), damaged).unwrap();
            let error = Storage::open(&path, StorageOptions::for_tests()).await.unwrap_err();
            assert!(error.to_string().contains(DATA_KEYS_FILE), "{error}");
        }
    }

    #[tokio::test]
    async fn a_purge_destroys_the_keys_so_a_copy_taken_before_it_reads_nothing() {
        if crate::storage::conformance::sqlite_file_only("it copies the file") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let storage = with_a_case(&path, StorageOptions::for_tests()).await;
        // A backup taken before the purge: the database's file, its log emptied into it.
        storage.write(|conn| super::super::retention::checkpoint_truncate(conn)).await.unwrap();
        let backup = tempfile::tempdir().unwrap();
        std::fs::copy(&path, backup.path().join("h.db")).unwrap();

        let period = Duration::days(90);
        let policy = RetentionPolicy { recordings: period, notes: period, caller_hashes: period };
        let report = storage.purge(policy, at(200), false).await.unwrap();
        assert_eq!((report.recordings, report.notes), (1, 1));
        assert_eq!(
            (report.recording_keys_from.as_str(), report.note_keys_from.as_str()),
            ("2026-04", "2026-04")
        );
        drop(storage);

        // The backup restored beside the keys as they are now: the values are in it, sealed
        // under keys that no longer exist anywhere.
        std::fs::copy(dir.path().join(DATA_KEYS_FILE), backup.path().join(DATA_KEYS_FILE)).unwrap();
        assert!(files_hold(backup.path(), "dk1.n.202601."));
        let restored =
            Storage::open(&backup.path().join("h.db"), StorageOptions::for_tests()).await.unwrap();
        let work = restored.case_work(case()).await.unwrap().unwrap();
        assert_eq!(work.notes[0].text, super::super::retention::SHREDDED_NOTE);
        let read = restored.case(case()).await.unwrap().unwrap();
        assert_eq!(read.recording_url, None);
        assert!(read.events.iter().all(|e| !matches!(&e.event,
            Event::Voicemail { recording_url, .. } if !recording_url.is_empty())));
    }

    /// A copy of the database's file now, its log emptied into it first, beside a copy of
    /// the keys as they will be (copied in `read_copy`).
    async fn copy_of(storage: &Storage, path: &Path) -> tempfile::TempDir {
        storage.write(|conn| super::super::retention::checkpoint_truncate(conn)).await.unwrap();
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(path, copy.path().join("h.db")).unwrap();
        copy
    }

    /// The note of the case in `copy`, opened with the keys of `keys_dir` as they are now.
    async fn note_in_copy(copy: &Path, keys_dir: &Path) -> String {
        std::fs::copy(keys_dir.join(DATA_KEYS_FILE), copy.join(DATA_KEYS_FILE)).unwrap();
        let restored =
            Storage::open(&copy.join("h.db"), StorageOptions::for_tests()).await.unwrap();
        restored.case_work(case()).await.unwrap().unwrap().notes.remove(0).text
    }

    #[tokio::test]
    async fn a_held_case_keeps_its_own_values_readable_not_its_months() {
        if crate::storage::conformance::sqlite_file_only("it reads the file") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let storage = with_a_case(&path, StorageOptions::for_tests()).await;
        assert_eq!(storage.set_legal_hold(case(), true).await.unwrap(), Some(true));
        let before_hold_purge = copy_of(&storage, &path).await;
        let period = Duration::days(90);
        let policy = RetentionPolicy { recordings: period, notes: period, caller_hashes: period };

        // The purge seals the held case's values as held, then destroys January's keys all the
        // same: the held case reads on, a copy from before reads nothing of it.
        let report = storage.purge(policy, at(200), false).await.unwrap();
        assert_eq!(report.held, 1);
        assert_eq!(report.note_keys_from, "2026-04", "a hold keeps no month's key");
        assert_eq!(storage.case_work(case()).await.unwrap().unwrap().notes[0].text, NOTE);
        let read = storage.case(case()).await.unwrap().unwrap();
        assert_eq!(read.recording_url.as_deref(), Some(RECORDING));
        assert!(files_hold(dir.path(), "dk1.h.202607.") && !files_hold(dir.path(), "dk1.n."));
        let shredded = super::super::retention::SHREDDED_NOTE;
        assert_eq!(note_in_copy(before_hold_purge.path(), dir.path()).await, shredded);
        let while_held = copy_of(&storage, &path).await;

        // Released: the next purge shreds what is past its period, and once its month is over
        // the held key goes too, so a copy taken during the hold reads nothing either.
        storage.set_legal_hold(case(), false).await.unwrap();
        let report = storage.purge(policy, at(201), false).await.unwrap();
        assert_eq!(report.notes, 1, "{report:?}");
        assert_eq!(storage.case_work(case()).await.unwrap().unwrap().notes[0].text, shredded);
        assert_eq!(note_in_copy(while_held.path(), dir.path()).await, NOTE, "July's key is kept");
        storage.purge(policy, at(240), false).await.unwrap();
        assert_eq!(note_in_copy(while_held.path(), dir.path()).await, shredded);
    }
}
