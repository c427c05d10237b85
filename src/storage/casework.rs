//! The SQL of case work: notes, dispositions and closing, the search, the blocklist
//! (`db/migrations/0004_casework.sql`), and the reads of `queue_entries` for queue and talk
//! times.
//!
//! Every change runs in one IMMEDIATE transaction that first checks the case's state, so two
//! supervisors closing the same case at once get one success and one conflict.

use super::engine::{
    Connection, Engine, OptionalExtension, TransactionBehavior, Value, params, params_from_iter,
};
use chrono::{DateTime, Utc};

use super::retention::SHREDDED_NOTE;
use super::sealing;
use super::sqlite::{db_time, decode_channel, decode_language, decode_time};
use super::{Storage, StorageError};
use crate::domain::cases::{CallerHash, CaseNumber};
use crate::domain::casework::{
    BlockEntry, BlockKey, CaseFilter, CaseListing, CaseReach, CaseWork, Change, Disposition, Note,
    NoteText, PersonRef, QueueVisit, main_visit,
};
use crate::domain::data_keys::{DataClass, DataKeys};
use crate::domain::timeline::CaseOutcome;
use crate::scripts::Tag;

/// The most earlier cases a case detail links to.
const MAX_REPEAT_CASES: u32 = 100;

/// What came of the case `c`, by its machine name: the rules of
/// [`CaseOutcome::derive`](crate::domain::timeline::CaseOutcome::derive) in SQL, in the same
/// order, so the search can filter and page on it. One pass over the case's events finds the
/// strongest of the first three rules (3 refused, 2 answered, 1 callback; `detail` is the
/// event's JSON, `kind` its tag); the rest look at the stored path, the channel and whether
/// the case has ended. The tests compare the two on every path.
macro_rules! outcome_sql {
    ($refused:literal) => {
        concat!(
            "CASE (
        SELECT max(CASE json_extract(v.detail, '$.kind')
                   WHEN 'blocked' THEN CASE WHEN json_extract(v.detail, '$.refused') = ",
            $refused,
            " THEN 3 ELSE 0 END
                   WHEN 'answered' THEN 2
                   WHEN 'left-queue' THEN CASE WHEN json_extract(v.detail, '$.result')
                       IN ('bridged', 'bridging-in-process', 'redirected-from-bridged')
                       THEN 2 ELSE 0 END
                   WHEN 'callback-requested' THEN 1
                   ELSE 0 END)
        FROM case_events v WHERE v.case_id = c.id)
    WHEN 3 THEN 'refused'
    WHEN 2 THEN 'answered'
    WHEN 1 THEN 'callback'
    ELSE CASE
        WHEN c.outcome = 'voicemail' THEN 'voicemail'
        WHEN c.outcome = 'finished' THEN 'finished-in-menus'
        WHEN c.outcome = 'abandoned-in-queue'
             OR (c.outcome = 'handed-off' AND c.ended_at IS NOT NULL)
             THEN CASE WHEN c.channel = 'voice' THEN 'hung-up-waiting' ELSE 'chat-closed' END
        WHEN c.outcome = 'handed-off' THEN 'waiting'
        WHEN c.ended_at IS NOT NULL
             THEN CASE WHEN c.channel = 'voice' THEN 'hung-up-in-menus' ELSE 'chat-closed' END
        ELSE 'in-progress'
    END
END"
        )
    };
}

/// [`outcome_sql`] as each engine reads it: a JSON `true` is the integer 1 to SQLite's
/// `json_extract`, the text `true` to PostgreSQL's `->>`.
const OUTCOME_SQLITE: &str = outcome_sql!("1");
const OUTCOME_POSTGRES: &str = outcome_sql!("'true'");

/// What came of the case `c` (see `outcome_sql!`), in `conn`'s engine's SQL.
pub(super) fn outcome_sql(conn: &Connection) -> &'static str {
    match conn.engine() {
        Engine::Sqlite => OUTCOME_SQLITE,
        Engine::Postgres => OUTCOME_POSTGRES,
    }
}

/// What a case with this outcome must have in its own columns: checked before
/// [`outcome_sql`], so a search for an outcome of the path reads no case's events but
/// those that can have it.
fn outcome_precondition(outcome: CaseOutcome) -> &'static str {
    match outcome {
        CaseOutcome::Refused | CaseOutcome::Answered | CaseOutcome::Callback => "1 = 1",
        CaseOutcome::Voicemail => "c.outcome = 'voicemail'",
        CaseOutcome::FinishedInMenus => "c.outcome = 'finished'",
        CaseOutcome::HungUpWaiting => {
            "c.channel = 'voice' AND c.outcome IN ('abandoned-in-queue', 'handed-off')"
        }
        CaseOutcome::Waiting => "c.outcome = 'handed-off' AND c.ended_at IS NULL",
        CaseOutcome::HungUpInMenus => {
            "c.channel = 'voice' AND c.ended_at IS NOT NULL \
             AND c.outcome IN ('in-progress', 'abandoned')"
        }
        CaseOutcome::InProgress => {
            "c.ended_at IS NULL AND c.outcome IN ('in-progress', 'abandoned')"
        }
        CaseOutcome::ChatClosed => "c.channel <> 'voice' AND c.ended_at IS NOT NULL",
    }
}

/// What came of the case with this id.
pub(super) fn case_outcome(conn: &Connection, case_id: i64) -> Result<CaseOutcome, StorageError> {
    let name: String = conn
        .prepare_cached(&format!("SELECT {} FROM cases c WHERE c.id = ?1", outcome_sql(conn)))?
        .query_row([case_id], |row| row.get(0))?;
    decode_outcome(&name)
}

fn decode_outcome(name: &str) -> Result<CaseOutcome, StorageError> {
    CaseOutcome::parse(name).ok_or_else(|| StorageError::Data(format!("outcome {name:?}")))
}

impl Storage {
    /// Whether this caller has a block in force at `now`. One lookup on the UNIQUE index, on
    /// the reader connection.
    #[tracing::instrument(skip_all)]
    pub async fn is_blocked(
        &self,
        caller: CallerHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        self.read(move |conn| {
            let blocked = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM blocklist WHERE caller_hash = ?1
                                     AND (expires_at IS NULL OR expires_at > ?2))",
                )?
                .query_row(params![caller.0, db_time(now)], |row| row.get(0))?;
            Ok(blocked)
        })
        .await
    }

    /// What case work adds to the case with this number; `None` if there is no such case.
    #[tracing::instrument(skip(self))]
    pub async fn case_work(&self, number: CaseNumber) -> Result<Option<CaseWork>, StorageError> {
        let keys = self.shared_keys();
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let work = load_case_work(&tx, number, &keys)?;
            tx.finish()?;
            Ok(work)
        })
        .await
    }

    /// What decides who may see each of these cases ([`crate::domain::casework::may_see`]): its
    /// language and the operators connected to it. A number with no case is left out.
    #[tracing::instrument(skip_all, fields(cases = numbers.len()))]
    pub async fn case_reaches(
        &self,
        numbers: Vec<CaseNumber>,
    ) -> Result<Vec<(CaseNumber, CaseReach)>, StorageError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let mut reaches = Vec::with_capacity(numbers.len());
            for number in numbers {
                if let Some(reach) = case_reach(&tx, number)? {
                    reaches.push((number, reach));
                }
            }
            tx.finish()?;
            Ok(reaches)
        })
        .await
    }

    /// Appends a note to a case; `None` if there is no such case.
    #[tracing::instrument(skip(self, text))]
    pub async fn add_note(
        &self,
        number: CaseNumber,
        author: i64,
        text: NoteText,
        at: DateTime<Utc>,
    ) -> Result<Option<Note>, StorageError> {
        let keys = self.shared_keys();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((case_id, _)) = case_state(&tx, number)? else { return Ok(None) };
            let sealed = keys.seal(DataClass::Notes, at, text.as_str())?;
            tx.prepare_cached(
                "INSERT INTO case_notes (case_id, author_id, at, text) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![case_id, author, db_time(at), sealed])?;
            let id = tx.last_insert_rowid()?;
            let note = load_notes(&tx, case_id, &keys)?.into_iter().find(|note| note.id == id);
            tx.commit()?;
            note.map(Some).ok_or_else(|| StorageError::Data("a new note cannot be read".into()))
        })
        .await
    }

    /// Sets a case's disposition and, with `close`, closes it. A closed case is not changed:
    /// it must be reopened first ([`Change::Conflict`]).
    #[tracing::instrument(skip(self))]
    pub async fn set_disposition(
        &self,
        number: CaseNumber,
        disposition: Disposition,
        close: bool,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<Change<CaseWork>, StorageError> {
        let keys = self.shared_keys();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((case_id, closed)) = case_state(&tx, number)? else {
                return Ok(Change::NoCase);
            };
            if closed {
                return Ok(Change::Conflict(format!(
                    "case {number} is closed; a supervisor can reopen it"
                )));
            }
            let (closed_at, closed_by) =
                if close { (Some(db_time(at)), Some(by)) } else { (None, None) };
            tx.prepare_cached(
                "UPDATE cases SET disposition = ?2, closed_at = ?3, closed_by = ?4 WHERE id = ?1",
            )?
            .execute(params![case_id, disposition.as_str(), closed_at, closed_by])?;
            let work = load_case_work(&tx, number, &keys)?;
            tx.commit()?;
            work.map(Change::Done).ok_or_else(|| StorageError::Data("a case vanished".into()))
        })
        .await
    }

    /// Reopens a closed case, keeping its disposition.
    #[tracing::instrument(skip(self))]
    pub async fn reopen_case(&self, number: CaseNumber) -> Result<Change<()>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((case_id, closed)) = case_state(&tx, number)? else {
                return Ok(Change::NoCase);
            };
            if !closed {
                return Ok(Change::Conflict(format!("case {number} is not closed")));
            }
            tx.prepare_cached("UPDATE cases SET closed_at = NULL, closed_by = NULL WHERE id = ?1")?
                .execute([case_id])?;
            tx.commit()?;
            Ok(Change::Done(()))
        })
        .await
    }

    /// The cases that pass the filter, newest first, one page of them.
    #[tracing::instrument(skip(self))]
    pub async fn search_cases(&self, filter: CaseFilter) -> Result<Vec<CaseListing>, StorageError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let listings = search(&tx, &filter)?;
            tx.finish()?;
            Ok(listings)
        })
        .await
    }

    /// Blocks the caller of a case. Refused if the caller withheld their number
    /// ([`Change::Invalid`]) or is already blocked by an entry in force ([`Change::Conflict`]);
    /// an expired entry of theirs is replaced.
    #[tracing::instrument(skip(self, reason))]
    pub async fn block_caller(
        &self,
        number: CaseNumber,
        reason: NoteText,
        expires_at: Option<DateTime<Utc>>,
        by: i64,
        now: DateTime<Utc>,
    ) -> Result<Change<BlockEntry>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((case_id, caller)) = case_caller(&tx, number)? else {
                return Ok(Change::NoCase);
            };
            let Some(caller) = caller else {
                return Ok(Change::Invalid(format!(
                    "the caller of case {number} withheld their number: there is nothing to block"
                )));
            };
            let now_text = db_time(now);
            // An entry in force stays; an expired one is replaced by the new block.
            let existing: Option<(i64, Option<String>)> = tx
                .prepare_cached("SELECT id, expires_at FROM blocklist WHERE caller_hash = ?1")?
                .query_row([&caller], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            if let Some((id, expires)) = existing {
                if expires.as_deref().is_none_or(|e| e > now_text.as_str()) {
                    return Ok(Change::Conflict(format!(
                        "the caller of case {number} is already blocked (entry {id})"
                    )));
                }
                tx.prepare_cached("DELETE FROM blocklist WHERE id = ?1")?.execute([id])?;
            }
            tx.prepare_cached(
                "INSERT INTO blocklist (caller_hash, case_id, reason, created_by, created_at,
                                        expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                caller,
                case_id,
                reason.as_str(),
                by,
                now_text,
                expires_at.map(db_time)
            ])?;
            let id = tx.last_insert_rowid()?;
            let entry = load_blocklist(&tx, now, Some(id))?.pop();
            tx.commit()?;
            entry.map(Change::Done).ok_or_else(|| StorageError::Data("a new block vanished".into()))
        })
        .await
    }

    /// The blocklist, newest first, expired entries included (marked not active).
    #[tracing::instrument(skip(self))]
    pub async fn blocklist(&self, now: DateTime<Utc>) -> Result<Vec<BlockEntry>, StorageError> {
        self.read(move |conn| load_blocklist(conn, now, None)).await
    }

    /// Removes a blocklist entry, named by its id or by a case of the blocked caller. The
    /// removed entry, or `None` if there was none.
    #[tracing::instrument(skip(self))]
    pub async fn unblock(
        &self,
        key: BlockKey,
        now: DateTime<Utc>,
    ) -> Result<Option<BlockEntry>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id: Option<i64> = match key {
                BlockKey::Id(id) => Some(id),
                BlockKey::Case(number) => match case_caller(&tx, number)? {
                    Some((_, Some(caller))) => tx
                        .prepare_cached("SELECT id FROM blocklist WHERE caller_hash = ?1")?
                        .query_row([caller], |row| row.get(0))
                        .optional()?,
                    _ => None,
                },
            };
            let Some(id) = id else { return Ok(None) };
            let entry = load_blocklist(&tx, now, Some(id))?.pop();
            if entry.is_some() {
                tx.prepare_cached("DELETE FROM blocklist WHERE id = ?1")?.execute([id])?;
            }
            tx.commit()?;
            Ok(entry)
        })
        .await
    }
}

/// A case's id and whether it is closed.
fn case_state(conn: &Connection, number: CaseNumber) -> Result<Option<(i64, bool)>, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, closed_at IS NOT NULL FROM cases WHERE number_year = ?1 AND number_seq = ?2",
        )?
        .query_row(params![number.year, number.sequence], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// A case's language and the operators connected to it: those the operator line gave its
/// caller to (`queue_entries.operator_id`, set the moment they hear the whisper), and those
/// who took its follow-up or made an attempt on it (a callback is a call with the caller).
/// A claim (`reserved_for`) is not a connection: it lapses, and only ever names a caller
/// waiting in a language the operator speaks.
fn case_reach(conn: &Connection, number: CaseNumber) -> Result<Option<CaseReach>, StorageError> {
    let found: Option<(i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT id, language FROM cases WHERE number_year = ?1 AND number_seq = ?2",
        )?
        .query_row(params![number.year, number.sequence], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((case_id, language)) = found else { return Ok(None) };
    let connected = conn
        .prepare_cached(
            "SELECT operator_id FROM queue_entries WHERE case_id = ?1 AND operator_id IS NOT NULL
             UNION
             SELECT taken_by FROM follow_ups WHERE case_id = ?1 AND taken_by IS NOT NULL
             UNION
             SELECT a.operator_id FROM follow_up_attempts a
                 JOIN follow_ups f ON f.id = a.follow_up_id WHERE f.case_id = ?1
             UNION
             SELECT operator_id FROM conversations WHERE case_id = ?1 AND operator_id IS NOT NULL",
        )?
        .query_map([case_id], |row| row.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    let language = language.as_deref().map(decode_language).transpose()?;
    let routed: Option<String> = conn
        .prepare_cached(
            "SELECT queue_language FROM conversations
             WHERE case_id = ?1 AND state <> 'closed' AND queue_language IS NOT NULL",
        )?
        .query_row([case_id], |row| row.get(0))
        .optional()?;
    let routed = routed.as_deref().map(decode_language).transpose()?;
    Ok(Some(CaseReach { language, connected, routed }))
}

/// A case's id and its caller's hash.
fn case_caller(
    conn: &Connection,
    number: CaseNumber,
) -> Result<Option<(i64, Option<String>)>, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, caller_hash FROM cases WHERE number_year = ?1 AND number_seq = ?2",
        )?
        .query_row(params![number.year, number.sequence], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

fn load_case_work(
    conn: &Connection,
    number: CaseNumber,
    keys: &DataKeys,
) -> Result<Option<CaseWork>, StorageError> {
    type Row = (i64, Option<String>, Option<String>, Option<i64>, Option<String>, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT c.id, c.disposition, c.closed_at, c.closed_by, u.name, c.caller_hash
             FROM cases c LEFT JOIN users u ON u.id = c.closed_by
             WHERE c.number_year = ?1 AND c.number_seq = ?2",
        )?
        .query_row(params![number.year, number.sequence], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
        })
        .optional()?;
    let Some((case_id, disposition, closed_at, closed_by, closer, caller)) = row else {
        return Ok(None);
    };
    let repeat_cases = match caller {
        Some(caller) => conn
            .prepare_cached(
                "SELECT o.number_year, o.number_seq FROM cases o, cases c
                 WHERE c.id = ?1 AND o.caller_hash = ?2 AND o.id != c.id
                   AND (o.started_at < c.started_at OR (o.started_at = c.started_at AND o.id < c.id))
                 ORDER BY o.started_at DESC, o.id DESC LIMIT ?3",
            )?
            .query_map(params![case_id, caller, MAX_REPEAT_CASES], |row| {
                Ok(CaseNumber { year: row.get(0)?, sequence: row.get(1)? })
            })?
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(Some(CaseWork {
        disposition: disposition.as_deref().map(decode_disposition).transpose()?,
        closed_at: closed_at.as_deref().map(decode_time).transpose()?,
        closed_by: closed_by.map(|id| person(id, closer)),
        notes: load_notes(conn, case_id, keys)?,
        queue: load_visits(conn, case_id)?,
        repeat_cases,
    }))
}

/// A case's notes, their text opened (a shredded one reads as the placeholder).
fn load_notes(conn: &Connection, case_id: i64, keys: &DataKeys) -> Result<Vec<Note>, StorageError> {
    let rows = conn
        .prepare_cached(
            "SELECT n.id, n.author_id, u.name, n.at, n.text
             FROM case_notes n LEFT JOIN users u ON u.id = n.author_id
             WHERE n.case_id = ?1 ORDER BY n.id",
        )?
        .query_map([case_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get::<_, String>(3)?, row.get(4)?))
        })?
        .collect::<Result<Vec<(i64, i64, Option<String>, String, String)>, _>>()?;
    rows.into_iter()
        .map(|(id, author, name, at, text)| {
            let text = sealing::open(keys, &text).unwrap_or_else(|| SHREDDED_NOTE.to_owned());
            Ok(Note { id, author: person(author, name), at: decode_time(&at)?, text })
        })
        .collect()
}

/// The caller's visits to operators' queues (`queue_entries`, kept by the queue module), in
/// order. Empty when the call never reached a queue.
fn load_visits(conn: &Connection, case_id: i64) -> Result<Vec<QueueVisit>, StorageError> {
    type Row = (
        String,
        String,
        i64,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows = conn
        .prepare_cached(
            "SELECT q.language, q.state, q.interpreter_needed, q.joined_at, q.operator_id, u.name,
                    q.bridged_at, q.ended_at, q.result
             FROM queue_entries q LEFT JOIN users u ON u.id = q.operator_id
             WHERE q.case_id = ?1 ORDER BY q.joined_at, q.id",
        )?
        .query_map([case_id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
            ))
        })?
        .collect::<Result<Vec<Row>, _>>()?;
    rows.into_iter()
        .map(|(language, state, interpreter, joined, operator, name, bridged, ended, result)| {
            Ok(QueueVisit {
                language,
                state,
                interpreter_needed: interpreter != 0,
                joined_at: decode_time(&joined)?,
                operator: operator.map(|id| person(id, name)),
                bridged_at: bridged.as_deref().map(decode_time).transpose()?,
                ended_at: ended.as_deref().map(decode_time).transpose()?,
                result,
                wait_secs: None,
                talk_secs: None,
            }
            .with_times())
        })
        .collect()
}

fn search(conn: &Connection, filter: &CaseFilter) -> Result<Vec<CaseListing>, StorageError> {
    // Conditions are fixed SQL; only the values are parameters.
    let outcome_of_case = outcome_sql(conn);
    let mut sql = format!(
        "SELECT c.id, c.number_year, c.number_seq, c.started_at, c.ended_at, c.language,
                c.country, c.status, c.duration_secs, {outcome_of_case},
                COALESCE(c.outcome_node, c.outcome_queue), c.disposition, c.closed_at, c.channel
         FROM cases c WHERE 1 = 1",
    );
    let mut values: Vec<Value> = Vec::new();
    let mut condition = |sql_part: &str, new: Vec<Value>| {
        sql.push_str(sql_part);
        values.extend(new);
    };
    if let Some(from) = filter.from {
        condition(" AND c.started_at >= ?", vec![Value::Text(db_time(from))]);
    }
    if let Some(to) = filter.to {
        condition(" AND c.started_at < ?", vec![Value::Text(db_time(to))]);
    }
    if let Some(language) = &filter.language {
        condition(" AND c.language = ?", vec![Value::Text(language.as_str().to_owned())]);
    }
    if let Some(channel) = filter.channel {
        condition(" AND c.channel = ?", vec![Value::Text(channel.as_str().to_owned())]);
    }
    if let Some(outcome) = filter.outcome {
        let precondition = outcome_precondition(outcome);
        condition(
            &format!(" AND {precondition} AND ({outcome_of_case}) = ?"),
            vec![Value::Text(outcome.as_str().to_owned())],
        );
    }
    if let Some(disposition) = &filter.disposition {
        condition(" AND c.disposition = ?", vec![Value::Text(disposition.as_str().to_owned())]);
    }
    if let Some(Tag { key, value }) = &filter.tag {
        condition(
            " AND EXISTS (SELECT 1 FROM case_tags t
                          WHERE t.case_id = c.id AND t.key = ? AND t.value = ?)",
            vec![Value::Text(key.clone()), Value::Text(value.clone())],
        );
    }
    if let Some(operator) = filter.operator {
        condition(
            " AND EXISTS (SELECT 1 FROM queue_entries q
                          WHERE q.case_id = c.id AND q.operator_id = ?)",
            vec![Value::Integer(operator)],
        );
    }
    if let Some(after) = filter.after {
        condition(
            " AND (c.started_at, c.id) < (SELECT a.started_at, a.id FROM cases a
                                          WHERE a.number_year = ? AND a.number_seq = ?)",
            vec![Value::Integer(after.year.into()), Value::Integer(after.sequence.into())],
        );
    }
    sql.push_str(" ORDER BY c.started_at DESC, c.id DESC LIMIT ? OFFSET ?");
    values.push(Value::Integer(filter.limit.into()));
    values.push(Value::Integer(filter.offset.into()));

    type Row = (
        i64,
        i32,
        u32,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<u32>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );
    let rows = conn
        .prepare(&sql)?
        .query_map(params_from_iter(values), |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
                row.get(10)?,
                row.get(11)?,
                row.get(12)?,
                row.get(13)?,
            ))
        })?
        .collect::<Result<Vec<Row>, _>>()?;
    rows.into_iter()
        .map(|row| {
            let (id, year, sequence, started, ended, language, country, status, duration) =
                (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8);
            let (outcome, outcome_at, disposition, closed_at) = (row.9, row.10, row.11, row.12);
            let channel = decode_channel(&row.13)?;
            let visits = load_visits(conn, id)?;
            let main = main_visit(&visits);
            Ok(CaseListing {
                number: CaseNumber { year, sequence },
                channel,
                started_at: decode_time(&started)?,
                ended_at: ended.as_deref().map(decode_time).transpose()?,
                language,
                country,
                status,
                duration_secs: duration,
                outcome: decode_outcome(&outcome)?,
                outcome_at,
                tags: load_tags(conn, id)?,
                disposition: disposition.as_deref().map(decode_disposition).transpose()?,
                closed_at: closed_at.as_deref().map(decode_time).transpose()?,
                operator: main.and_then(|v| v.operator.clone()),
                wait_secs: main.and_then(|v| v.wait_secs),
                talk_secs: main.and_then(|v| v.talk_secs),
            })
        })
        .collect()
}

fn load_tags(conn: &Connection, case_id: i64) -> Result<Vec<Tag>, StorageError> {
    Ok(conn
        .prepare_cached("SELECT key, value FROM case_tags WHERE case_id = ?1 ORDER BY position")?
        .query_map([case_id], |row| Ok(Tag { key: row.get(0)?, value: row.get(1)? }))?
        .collect::<Result<Vec<_>, _>>()?)
}

/// The blocklist, newest first, or only the entry `only`.
fn load_blocklist(
    conn: &Connection,
    now: DateTime<Utc>,
    only: Option<i64>,
) -> Result<Vec<BlockEntry>, StorageError> {
    type Row = (i64, i32, u32, String, i64, Option<String>, String, Option<String>);
    let rows = conn
        .prepare_cached(
            "SELECT b.id, c.number_year, c.number_seq, b.reason, b.created_by, u.name,
                    b.created_at, b.expires_at
             FROM blocklist b JOIN cases c ON c.id = b.case_id
                  LEFT JOIN users u ON u.id = b.created_by
             WHERE CAST(?1 AS BIGINT) IS NULL OR b.id = ?1
             ORDER BY b.created_at DESC, b.id DESC",
        )?
        .query_map([only], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
            ))
        })?
        .collect::<Result<Vec<Row>, _>>()?;
    rows.into_iter()
        .map(|(id, year, sequence, reason, by, name, created, expires)| {
            let expires_at = expires.as_deref().map(decode_time).transpose()?;
            Ok(BlockEntry {
                id,
                case: CaseNumber { year, sequence },
                reason,
                created_by: person(by, name),
                created_at: decode_time(&created)?,
                active: expires_at.is_none_or(|expires| expires > now),
                expires_at,
            })
        })
        .collect()
}

/// A person named by id; the name is empty if their account is gone (accounts are disabled,
/// not deleted, so this is a database edited by hand).
fn person(id: i64, name: Option<String>) -> PersonRef {
    PersonRef { id, name: name.unwrap_or_default() }
}

fn decode_disposition(text: &str) -> Result<Disposition, StorageError> {
    Disposition::parse(text)
        .ok_or_else(|| StorageError::Data(format!("stored disposition {text:?}")))
}
