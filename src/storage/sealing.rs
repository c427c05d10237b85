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

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

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
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "case_events",
        value: "json_extract(t.detail, '$.recording_url')",
        at: "t.at",
        set: "detail = json_set(detail, '$.recording_url', ?2)",
        only: "AND t.kind IN ('voicemail', 'ask-answered')",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "follow_ups",
        value: "t.recording_url",
        at: "t.created_at",
        set: "recording_url = ?2",
        only: "",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "follow_ups",
        value: "t.number_sealed",
        at: "t.created_at",
        set: "number_sealed = ?2",
        only: "",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "conversations",
        value: "t.address_sealed",
        at: "(SELECT c.started_at FROM cases c WHERE c.id = t.case_id)",
        set: "address_sealed = ?2",
        only: "",
    },
    SealedColumn {
        class: DataClass::Recordings,
        table: "outbox",
        value: "t.address_sealed",
        at: "t.created_at",
        set: "address_sealed = ?2",
        only: "",
    },
    SealedColumn {
        class: DataClass::Notes,
        table: "case_notes",
        value: "t.text",
        at: "t.at",
        set: "text = ?2",
        only: "AND t.shredded_at IS NULL",
    },
    SealedColumn {
        class: DataClass::Notes,
        table: "chat_messages",
        value: "t.body",
        at: "t.at",
        set: "body = ?2",
        only: "AND t.shredded_at IS NULL",
    },
    SealedColumn {
        class: DataClass::Notes,
        table: "outbox",
        value: "t.body",
        at: "t.created_at",
        set: "body = ?2",
        only: "",
    },
];

/// `record` with its sensitive values sealed (recording addresses, the sealed callback
/// number); values already sealed stay as they are, so sealing twice changes nothing.
pub(super) fn seal_record(keys: &DataKeys, mut record: Record) -> Record {
    let seal = |value: &mut String, at: DateTime<Utc>| {
        if !value.is_empty() && !is_sealed(value) {
            *value = keys.seal(DataClass::Recordings, at, value);
        }
    };
    match &mut record {
        Record::Step { at, events, .. } => seal_events(events, *at, seal),
        Record::Callback { at, events, sealed, .. } => {
            seal_events(events, *at, seal);
            seal(sealed, *at);
        }
        Record::CallStarted { .. }
        | Record::Status { .. }
        | Record::QueueLeft { .. }
        | Record::OperatorLineEnded { .. } => {}
    }
    record
}

fn seal_events(events: &mut [Event], at: DateTime<Utc>, seal: impl Fn(&mut String, DateTime<Utc>)) {
    for event in events {
        match event {
            Event::Voicemail { recording_url, .. } => seal(recording_url, at),
            Event::AskAnswered { recording_url: Some(url), .. } => seal(url, at),
            _ => {}
        }
    }
}

/// `value` sealed in `class` under the month of `at`, unless it is sealed already (an address
/// read back from the conversation it is copied from).
pub(super) fn seal_unless_sealed(
    keys: &DataKeys,
    class: DataClass,
    at: DateTime<Utc>,
    value: &str,
) -> String {
    if is_sealed(value) { value.to_owned() } else { keys.seal(class, at, value) }
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
        Err(Unopened::Shredded) => None,
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
            "SELECT EXISTS (SELECT 1 FROM {} t WHERE {} LIKE 'dk1.%' {})",
            column.table, column.value, column.only
        );
        if conn.query_row(&sql, [], |row| row.get(0))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The oldest month of `class` a live value is sealed under, if any.
pub(super) fn oldest_month(
    conn: &Connection,
    class: DataClass,
) -> Result<Option<Month>, StorageError> {
    let (from, len) = DataClass::MONTH_IN_VALUE;
    let pattern = class.like_pattern();
    let mut oldest: Option<Month> = None;
    for column in SEALED.iter().filter(|column| column.class == class) {
        let sql = format!(
            "SELECT MIN(substr({value}, {from}, {len})) FROM {table} t
             WHERE {value} LIKE ?1 {only}",
            value = column.value,
            table = column.table,
            only = column.only,
        );
        let month: Option<String> = conn.query_row(&sql, [&pattern], |row| row.get(0))?;
        let month = month.as_deref().and_then(Month::parse);
        oldest = match (oldest, month) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(oldest)
}

/// Seals every value written before sealing existed, once (the first start of the release
/// that seals), in one transaction, under the month it was written in; then, if anything was
/// sealed, rewrites the file and empties the log so no plaintext copy stays in either.
/// Returns how many values were sealed.
pub(super) fn seal_legacy(conn: &mut Connection, keys: &DataKeys) -> Result<u64, StorageError> {
    let done: Option<i64> = conn
        .query_row("SELECT 1 FROM legacy_text_sealed WHERE id = 1", [], |row| row.get(0))
        .optional()?;
    if done.is_some() {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut sealed = 0u64;
    for column in &SEALED {
        let select = format!(
            "SELECT t.rowid, {value}, {at} FROM {table} t
             WHERE {value} IS NOT NULL AND {value} <> '' AND {value} NOT LIKE 'dk1.%' {only}",
            value = column.value,
            at = column.at,
            table = column.table,
            only = column.only,
        );
        let rows: Vec<(i64, String, String)> = tx
            .prepare(&select)?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut update =
            tx.prepare(&format!("UPDATE {} SET {} WHERE rowid = ?1", column.table, column.set))?;
        for (rowid, text, at) in rows {
            if column.table == "case_notes" && text == super::retention::SHREDDED_NOTE {
                continue;
            }
            let value = keys.seal(column.class, decode_time(&at)?, &text);
            update.execute(params![rowid, value])?;
            sealed += 1;
        }
    }
    tx.execute("INSERT INTO legacy_text_sealed (id) VALUES (1)", [])?;
    tx.commit()?;
    if sealed > 0 {
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.execute_batch("VACUUM")?;
        super::retention::checkpoint_truncate(conn)?;
        tracing::info!(sealed, "text written before sealing existed is now sealed");
    }
    Ok(sealed)
}
