//! Presence and queue entries (tables of `0003_queue.sql`): who is on duty, who waits, who
//! takes whom. The policy is decided in [`crate::domain::queue`]; this module runs it inside
//! transactions so that two operators can never be given the same caller.

use super::engine::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::StorageError;
use super::sqlite::{Storage, db_time, decode_language, decode_time};
use crate::domain::cases::{CallSid, CaseNumber};
use crate::domain::queue::{
    Candidate, EntryState, Presence, PresenceState, QueueEntry, next_for, provider_queue,
};
use crate::scripts::{LanguageTag, Tag};

/// A caller to put in a queue.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Their call, which must have a case.
    pub call_sid: CallSid,
    /// The step of the call that enqueues them (a retry finds the same entry).
    pub step: u32,
    /// The operators' language routed to.
    pub language: LanguageTag,
    /// Routed to another language than the caller's.
    pub interpreter_needed: bool,
    /// Now.
    pub at: DateTime<Utc>,
}

/// A waiting caller as a queue screen shows them: never a number or a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingCaller {
    /// The entry.
    #[serde(flatten)]
    pub entry: QueueEntry,
    /// The caller's own language.
    pub caller_language: Option<LanguageTag>,
    /// The case's tags.
    pub tags: Vec<Tag>,
    /// Whether the same caller has earlier cases.
    pub repeat_caller: bool,
    /// How many earlier cases.
    #[serde(skip)]
    pub earlier_calls: u32,
    /// The operator a claim holds the caller for, and until when (it may have lapsed).
    #[serde(skip)]
    pub reserved: Option<(i64, DateTime<Utc>)>,
}

const ENTRY_COLUMNS: &str = "e.id, c.number_year, c.number_seq, e.call_sid, e.language, \
     e.provider_queue, e.interpreter_needed, e.joined_at, e.state, e.operator_id, e.bridged_at, \
     e.ended_at, e.result";

/// The condition, on `presence p JOIN users u` with `?1` now, of an operator the hotline may
/// ring: call-me with a number, enabled, available or past a wrap-up, on no call of theirs,
/// not paused, and not being connected to a caller already.
const RINGABLE: &str = "u.reach = 'call-me' AND u.phone_sealed IS NOT NULL \
     AND u.disabled_at IS NULL AND p.call_sid IS NULL \
     AND (p.state = 'available' OR (p.state = 'wrap-up' AND p.until <= ?1)) \
     AND (p.unreachable_until IS NULL OR p.unreachable_until <= ?1) \
     AND NOT EXISTS (SELECT 1 FROM queue_entries q \
                     WHERE q.operator_id = u.id AND q.state = 'connecting') \
     AND EXISTS (SELECT 1 FROM queue_entries w WHERE w.state = 'waiting')";

/// A call-me operator the hotline may ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingCandidate {
    /// Their id.
    pub operator: i64,
    /// Their languages.
    pub languages: Vec<LanguageTag>,
    /// Their phone number, sealed for them.
    pub phone_sealed: String,
}

/// Where an operator stands for being reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineState {
    /// A call of theirs is up (the operator line, or a ring they took).
    pub on_a_call: bool,
    /// They are not rung before then (they did not answer the last ring).
    pub unreachable_until: Option<DateTime<Utc>>,
}

const ENTRY_FROM: &str = "queue_entries e JOIN cases c ON c.id = e.case_id";

impl Storage {
    /// The languages spoken by enabled people on duty (available, on a call, in wrap-up).
    #[tracing::instrument(skip(self))]
    pub async fn on_duty_languages(&self) -> Result<Vec<LanguageTag>, StorageError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT u.languages FROM presence p JOIN users u ON u.id = p.user_id \
                 WHERE p.state IN ('available', 'on-call', 'wrap-up') AND u.disabled_at IS NULL",
            )?;
            spoken(stmt.query_map((), |row| row.get::<_, String>(0))?)
        })
        .await
    }

    /// The languages of enabled people who can be connected to a caller now (routing and
    /// fallbacks count only them): on duty and on the operator line (a live call of theirs
    /// is noted), or, when `call_me` (the provider's REST API can ring), in call-me mode with
    /// a phone number and not paused after a ring they did not answer. Someone "available"
    /// at a screen only is not among them: nobody could put a caller through to them.
    #[tracing::instrument(skip(self))]
    pub async fn reachable_languages(
        &self,
        now: DateTime<Utc>,
        call_me: bool,
    ) -> Result<Vec<LanguageTag>, StorageError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT u.languages FROM presence p JOIN users u ON u.id = p.user_id \
                 WHERE p.state IN ('available', 'on-call', 'wrap-up') AND u.disabled_at IS NULL \
                   AND (p.call_sid IS NOT NULL \
                        OR (?2 AND u.reach = 'call-me' AND u.phone_sealed IS NOT NULL \
                            AND (p.unreachable_until IS NULL OR p.unreachable_until <= ?1)))",
            )?;
            spoken(stmt.query_map(params![db_time(now), call_me], |row| row.get::<_, String>(0))?)
        })
        .await
    }

    /// The call-me operators who may be rung now: enabled, with a number, available (or past
    /// their wrap-up), not on a call of theirs, not paused, and not being connected to a
    /// caller already.
    #[tracing::instrument(skip(self))]
    pub async fn ring_candidates(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<RingCandidate>, StorageError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT u.id, u.languages, u.phone_sealed FROM presence p \
                 JOIN users u ON u.id = p.user_id WHERE {RINGABLE} ORDER BY p.since, u.id"
            ))?;
            let rows = stmt.query_map([db_time(now)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })?;
            rows.map(|row| {
                let (operator, languages, phone_sealed) = row?;
                let languages =
                    languages.split(',').map(decode_language).collect::<Result<_, _>>()?;
                Ok(RingCandidate { operator, languages, phone_sealed })
            })
            .collect()
        })
        .await
    }

    /// Gives call-me `operator` their next caller like [`Storage::take_next`] does (the same
    /// conditional update, so two operators never get the same caller), if they may still
    /// be rung (see [`Storage::ring_candidates`]) when the transaction runs. `None` when they
    /// may not, or nobody waits for them.
    #[tracing::instrument(skip(self, speaks))]
    pub async fn claim_for_ring(
        &self,
        operator: i64,
        speaks: Vec<LanguageTag>,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<QueueEntry>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ringable: bool = tx
                .prepare_cached(&format!(
                    "SELECT EXISTS (SELECT 1 FROM presence p JOIN users u ON u.id = p.user_id \
                     WHERE u.id = ?2 AND {RINGABLE})"
                ))?
                .query_row(params![db_time(now), operator], |r| r.get(0))?;
            if !ringable {
                return Ok(None);
            }
            let Some(id) = give_next(&tx, operator, &speaks, now, stale_before)? else {
                return Ok(None);
            };
            let entry = entry_by_id(&tx, id)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// Notes the provider's id of the call ringing `operator` for `entry`: its webhooks must
    /// come from that call. `false` when the entry is no longer being connected to them.
    #[tracing::instrument(skip(self))]
    pub async fn ring_placed(
        &self,
        entry: i64,
        operator: i64,
        sid: &CallSid,
    ) -> Result<bool, StorageError> {
        let sid = sid.clone();
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(
                    "UPDATE queue_entries SET ring_call_sid = ?3 \
                     WHERE id = ?1 AND operator_id = ?2 AND state = 'connecting'",
                )?
                .execute(params![entry, operator, sid.as_str()])?
                == 1)
        })
        .await
    }

    /// The entry a ring was for, with the id of the call placed for it (`None` until the
    /// provider's answer to the create is noted).
    #[tracing::instrument(skip(self))]
    pub async fn ring_of(
        &self,
        entry: i64,
    ) -> Result<Option<(QueueEntry, Option<String>)>, StorageError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let Some(found) = entry_by_id(&tx, entry)? else { return Ok(None) };
            let sid: Option<String> = tx
                .prepare_cached("SELECT ring_call_sid FROM queue_entries WHERE id = ?1")?
                .query_row([entry], |r| r.get(0))?;
            tx.finish()?;
            Ok(Some((found, sid)))
        })
        .await
    }

    /// The ring of `operator` for `entry` is over (`sid`: its call, `None` when it could not
    /// be placed). If the operator had taken that call (it is their line call), they leave
    /// it: a caller being connected to them goes back to waiting, and they are available
    /// again (a wrap-up runs its course). Otherwise they did not answer: the entry goes back
    /// to waiting for the next operator, and they are not rung again before `pause_until`.
    /// Applying it again changes nothing.
    #[tracing::instrument(skip(self))]
    pub async fn ring_ended(
        &self,
        entry: i64,
        operator: i64,
        sid: Option<CallSid>,
        now: DateTime<Utc>,
        pause_until: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let line: Option<Option<String>> = tx
                .prepare_cached("SELECT call_sid FROM presence WHERE user_id = ?1")?
                .query_row([operator], |r| r.get(0))
                .optional()?;
            let line = line.flatten();
            let took = sid.as_ref().is_some_and(|sid| line.as_deref() == Some(sid.as_str()));
            if took {
                tx.prepare_cached(
                    "UPDATE queue_entries SET state = 'waiting', operator_id = NULL, \
                     connecting_at = NULL WHERE operator_id = ?1 AND state = 'connecting'",
                )?
                .execute([operator])?;
                tx.prepare_cached(
                    "UPDATE presence SET call_sid = NULL, since = ?2, \
                     state = CASE state WHEN 'on-call' THEN 'available' ELSE state END \
                     WHERE user_id = ?1",
                )?
                .execute(params![operator, db_time(now)])?;
            } else {
                tx.prepare_cached(
                    "UPDATE queue_entries SET state = 'waiting', operator_id = NULL, \
                     connecting_at = NULL, ring_call_sid = NULL \
                     WHERE id = ?1 AND operator_id = ?2 AND state = 'connecting' \
                       AND (CAST(?3 AS TEXT) IS NULL OR ring_call_sid IS NULL OR ring_call_sid = ?3)",
                )?
                .execute(params![
                    entry,
                    operator,
                    sid.as_ref().map(CallSid::as_str)
                ])?;
                // An operator who meanwhile dialled in is left to their own call.
                if line.is_none() {
                    tx.prepare_cached(
                        "UPDATE presence SET unreachable_until = ?2, \
                         state = CASE state WHEN 'on-call' THEN 'available' ELSE state END, \
                         since = CASE state WHEN 'on-call' THEN ?3 ELSE since END \
                         WHERE user_id = ?1",
                    )?
                    .execute(params![
                        operator,
                        db_time(pause_until),
                        db_time(now)
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Gives back the callers of rings that lapsed: claimed for a call-me operator before
    /// `before`, never taken (the operator is on no call of theirs), and whose end never came
    /// (a status callback lost, a restart between the claim and the ring). Each caller waits
    /// again, and their operator is paused until `pause_until` as after a ring not answered.
    /// How many were given back.
    #[tracing::instrument(skip(self))]
    pub async fn release_lapsed_rings(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        pause_until: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let lapsed = tx
                .prepare_cached(
                    "SELECT q.id, q.operator_id FROM queue_entries q \
                     JOIN users u ON u.id = q.operator_id \
                     LEFT JOIN presence p ON p.user_id = q.operator_id \
                     WHERE q.state = 'connecting' AND q.connecting_at < ?1 \
                       AND u.reach = 'call-me' AND p.call_sid IS NULL",
                )?
                .query_map([db_time(before)], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (entry, operator) in &lapsed {
                tx.prepare_cached(
                    "UPDATE queue_entries SET state = 'waiting', operator_id = NULL, \
                     connecting_at = NULL, ring_call_sid = NULL \
                     WHERE id = ?1 AND state = 'connecting'",
                )?
                .execute([entry])?;
                tx.prepare_cached(
                    "UPDATE presence SET unreachable_until = ?2, \
                     state = CASE state WHEN 'on-call' THEN 'available' ELSE state END, \
                     since = CASE state WHEN 'on-call' THEN ?3 ELSE since END \
                     WHERE user_id = ?1 AND call_sid IS NULL",
                )?
                .execute(params![operator, db_time(pause_until), db_time(now)])?;
            }
            tx.commit()?;
            Ok(lapsed.len())
        })
        .await
    }

    /// Where `operator` stands for being reached: the call they are on, if any, and the end
    /// of a pause after a ring they did not answer.
    #[tracing::instrument(skip(self))]
    pub async fn line_state(&self, operator: i64) -> Result<LineState, StorageError> {
        self.read(move |conn| {
            let row: Option<(Option<String>, Option<String>)> = conn
                .prepare_cached(
                    "SELECT call_sid, unreachable_until FROM presence WHERE user_id = ?1",
                )?
                .query_row([operator], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (call, until) = row.unwrap_or_default();
            Ok(LineState {
                on_a_call: call.is_some(),
                unreachable_until: until.as_deref().map(decode_time).transpose()?,
            })
        })
        .await
    }

    /// Puts a caller in a queue: their entry, with their own provider queue. `None` if the
    /// call has no case (its first record was journaled). Idempotent per call and step.
    #[tracing::instrument(skip_all, fields(call_sid = %new.call_sid))]
    pub async fn enqueue(&self, new: NewEntry) -> Result<Option<QueueEntry>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let case: Option<(i64, i32, u32)> = tx
                .prepare_cached(
                    "SELECT id, number_year, number_seq FROM cases WHERE call_sid = ?1",
                )?
                .query_row([new.call_sid.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((case_id, year, sequence)) = case else { return Ok(None) };
            let existing: Option<i64> = tx
                .prepare_cached("SELECT id FROM queue_entries WHERE call_sid = ?1 AND step = ?2")?
                .query_row(params![new.call_sid.as_str(), new.step], |r| r.get(0))
                .optional()?;
            let id = match existing {
                Some(id) => id,
                None => {
                    // The name needs the id: insert under a unique placeholder, then name it.
                    tx.prepare_cached(
                        "INSERT INTO queue_entries (case_id, call_sid, step, language, \
                         provider_queue, interpreter_needed, joined_at, state) \
                         VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6, 'waiting')",
                    )?
                    .execute(params![
                        case_id,
                        new.call_sid.as_str(),
                        new.step,
                        new.language.as_str(),
                        new.interpreter_needed,
                        db_time(new.at),
                        format!("pending-{}-{}", new.call_sid.as_str(), new.step),
                    ])?;
                    let id = tx.last_insert_rowid()?;
                    let name = provider_queue(CaseNumber { year, sequence }, id);
                    tx.execute(
                        "UPDATE queue_entries SET provider_queue = ?1 WHERE id = ?2",
                        params![name, id],
                    )?;
                    id
                }
            };
            let entry = entry_by_id(&tx, id)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// The latest queue entry of a call.
    #[tracing::instrument(skip(self))]
    pub async fn queue_entry_of_call(
        &self,
        sid: &CallSid,
    ) -> Result<Option<QueueEntry>, StorageError> {
        let sid = sid.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE e.call_sid = ?1 ORDER BY e.id DESC LIMIT 1"
            ))?
            .query_row([sid.as_str()], entry_from_row)
            .optional()?
            .transpose()
        })
        .await
    }

    /// The place of a waiting entry among the waiting callers of its language, 1 for the
    /// next; `None` when it is not waiting. Entries that joined before `stale_before` (rows
    /// whose caller is long gone, see [`crate::domain::queue::next_for`]) are not counted.
    #[tracing::instrument(skip(self))]
    pub async fn queue_position(
        &self,
        id: i64,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<u32>, StorageError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT 1 + (SELECT count(*) FROM queue_entries o WHERE o.state = 'waiting' \
                       AND o.language = e.language AND o.joined_at >= ?2 \
                       AND (o.joined_at < e.joined_at OR (o.joined_at = e.joined_at AND o.id < e.id))) \
                     FROM queue_entries e WHERE e.id = ?1 AND e.state = 'waiting'",
                )?
                .query_row(params![id, db_time(stale_before)], |r| r.get::<_, u32>(0))
                .optional()?)
        })
        .await
    }

    /// The waits, in seconds, of the callers of `language` bridged since `since`.
    #[tracing::instrument(skip(self))]
    pub async fn recent_waits(
        &self,
        language: &LanguageTag,
        since: DateTime<Utc>,
    ) -> Result<Vec<i64>, StorageError> {
        let language = language.clone();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT joined_at, bridged_at FROM queue_entries \
                 WHERE bridged_at >= ?1 AND language = ?2 LIMIT 10000",
            )?;
            let rows = stmt.query_map(params![db_time(since), language.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (joined, bridged) = row?;
                Ok((decode_time(&bridged)? - decode_time(&joined)?).num_seconds())
            })
            .collect()
        })
        .await
    }

    /// Gives `operator` their next caller (see [`crate::domain::queue::next_for`]) and marks the entry
    /// `connecting` with a conditional update in one transaction, so that an entry is never
    /// given twice; the operator goes on-call. `None` when nobody waits for them.
    ///
    /// An operator who already has a caller being connected gets that caller again: a
    /// request the provider retried must not take a second caller.
    #[tracing::instrument(skip(self, speaks))]
    pub async fn take_next(
        &self,
        operator: i64,
        speaks: Vec<LanguageTag>,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<QueueEntry>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let connecting: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM queue_entries WHERE operator_id = ?1 AND state = 'connecting' \
                     ORDER BY id LIMIT 1",
                )?
                .query_row([operator], |r| r.get(0))
                .optional()?;
            if let Some(id) = connecting {
                let entry = entry_by_id(&tx, id)?;
                tx.commit()?;
                return Ok(entry);
            }
            let Some(id) = give_next(&tx, operator, &speaks, now, stale_before)? else {
                tx.commit()?;
                return Ok(None);
            };
            let entry = entry_by_id(&tx, id)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// Reserves the next caller for `operator` until `until` (`POST /api/queues/claim`).
    #[tracing::instrument(skip(self, speaks))]
    pub async fn claim_next(
        &self,
        operator: i64,
        speaks: Vec<LanguageTag>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<QueueEntry>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let waiting = candidates(&tx)?;
            let Some(id) = next_for(operator, &speaks, &waiting, now, stale_before) else {
                return Ok(None);
            };
            tx.prepare_cached(
                "UPDATE queue_entries SET reserved_for = NULL, reserved_until = NULL \
                 WHERE reserved_for = ?1 AND id <> ?2",
            )?
            .execute(params![operator, id])?;
            tx.prepare_cached(
                "UPDATE queue_entries SET reserved_for = ?1, reserved_until = ?2 \
                 WHERE id = ?3 AND state = 'waiting'",
            )?
            .execute(params![operator, db_time(until), id])?;
            let entry = entry_by_id(&tx, id)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// The Enqueue action: the caller left the queue with the provider's `result`
    /// (`queue_secs` in the queue). A bridge is noted (if the operator's Dial action has not
    /// already); any other result closes a waiting or connecting entry.
    #[tracing::instrument(skip(self))]
    pub async fn queue_left(
        &self,
        sid: &CallSid,
        result: String,
        queue_secs: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Option<QueueEntry>, StorageError> {
        let sid = sid.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let entry = leave_queue(&tx, &sid, &result, queue_secs, now, None)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// The operator's Dial action for `entry_id`: `talk_secs` is `Some` when they talked
    /// (the entry is bridged and ended, the operator goes to wrap-up until `wrap_until`);
    /// `None` when no bridge happened: the operator is available again, and a connecting
    /// entry goes back to waiting if `caller_still_there`, else it is closed (their own
    /// queue was empty: they had left).
    #[tracing::instrument(skip(self))]
    pub async fn dial_ended(
        &self,
        entry_id: i64,
        operator: i64,
        talk_secs: Option<u32>,
        caller_still_there: bool,
        now: DateTime<Utc>,
        wrap_until: DateTime<Utc>,
    ) -> Result<Option<QueueEntry>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match talk_secs {
                Some(secs) => {
                    let bridged = now - Duration::seconds(i64::from(secs));
                    tx.prepare_cached(
                        "UPDATE queue_entries SET state = 'bridged', \
                         bridged_at = coalesce(bridged_at, ?1), ended_at = ?2, \
                         result = coalesce(result, 'bridged') \
                         WHERE id = ?3 AND operator_id = ?4 AND state IN ('connecting', 'bridged')",
                    )?
                    .execute(params![db_time(bridged), db_time(now), entry_id, operator])?;
                    upsert_presence(&tx, operator, PresenceState::WrapUp, now, Some(wrap_until), None)?;
                }
                None if caller_still_there => {
                    tx.prepare_cached(
                        "UPDATE queue_entries SET state = 'waiting', operator_id = NULL, \
                         connecting_at = NULL WHERE id = ?1 AND operator_id = ?2 AND state = 'connecting'",
                    )?
                    .execute(params![entry_id, operator])?;
                    upsert_presence(&tx, operator, PresenceState::Available, now, None, None)?;
                }
                None => {
                    tx.prepare_cached(
                        "UPDATE queue_entries SET state = 'left', ended_at = ?1, \
                         result = coalesce(result, 'not-in-queue') \
                         WHERE id = ?2 AND operator_id = ?3 AND state = 'connecting'",
                    )?
                    .execute(params![db_time(now), entry_id, operator])?;
                    upsert_presence(&tx, operator, PresenceState::Available, now, None, None)?;
                }
            }
            let entry = entry_by_id(&tx, entry_id)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// Sets a person's state. `call_sid` binds them to their call on the operator line
    /// (`None` keeps the one already noted).
    #[tracing::instrument(skip(self))]
    pub async fn set_presence(
        &self,
        user_id: i64,
        state: PresenceState,
        until: Option<DateTime<Utc>>,
        call_sid: Option<CallSid>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            upsert_presence(&tx, user_id, state, now, until, call_sid.as_ref())?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Whether `user_id` is on the operator line with this call (identified by PIN in it).
    #[tracing::instrument(skip(self))]
    pub async fn on_operator_line(
        &self,
        user_id: i64,
        sid: &CallSid,
    ) -> Result<bool, StorageError> {
        let sid = sid.clone();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = ?1 AND call_sid = ?2)",
                )?
                .query_row(params![user_id, sid.as_str()], |r| r.get(0))?)
        })
        .await
    }

    /// Everyone's presence rows.
    #[tracing::instrument(skip(self))]
    pub async fn presences(&self) -> Result<Vec<Presence>, StorageError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT user_id, state, since, until FROM presence")?;
            let rows = stmt.query_map((), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (user_id, state, since, until) = row?;
                Ok(Presence {
                    user_id,
                    state: PresenceState::parse(&state)
                        .ok_or_else(|| StorageError::Data(format!("stored presence {state:?}")))?,
                    since: decode_time(&since)?,
                    until: until.as_deref().map(decode_time).transpose()?,
                })
            })
            .collect()
        })
        .await
    }

    /// The callers waiting or being connected, oldest first, with what a screen or a whisper
    /// shows of their case.
    #[tracing::instrument(skip(self))]
    pub async fn waiting_callers(&self) -> Result<Vec<WaitingCaller>, StorageError> {
        self.read(|conn| {
            let tx = conn.transaction()?;
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "SELECT id FROM queue_entries WHERE state IN ('waiting', 'connecting') \
                     ORDER BY joined_at, id LIMIT 5000",
                )?
                .query_map((), |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut callers = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(caller) = waiting_caller(&tx, id)? {
                    callers.push(caller);
                }
            }
            tx.finish()?;
            Ok(callers)
        })
        .await
    }

    /// One entry with its case's details (for the whisper).
    #[tracing::instrument(skip(self))]
    pub async fn waiting_caller(&self, id: i64) -> Result<Option<WaitingCaller>, StorageError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let caller = waiting_caller(&tx, id)?;
            tx.finish()?;
            Ok(caller)
        })
        .await
    }

    /// The caller last given to `operator` (being connected, or bridged): the case their
    /// screen shows as the one they are on. `None` when they have taken nobody.
    #[tracing::instrument(skip(self))]
    pub async fn latest_taken(&self, operator: i64) -> Result<Option<QueueEntry>, StorageError> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE e.operator_id = ?1 \
                 AND e.state IN ('connecting', 'bridged') ORDER BY e.id DESC LIMIT 1"
            ))?
            .query_row([operator], entry_from_row)
            .optional()?
            .transpose()
        })
        .await
    }
}

fn waiting_caller(tx: &Transaction<'_>, id: i64) -> Result<Option<WaitingCaller>, StorageError> {
    let Some(entry) = entry_by_id(tx, id)? else { return Ok(None) };
    let (case_id, language, caller_hash, started_at): (
        i64,
        Option<String>,
        Option<String>,
        String,
    ) = tx
        .prepare_cached(
            "SELECT c.id, c.language, c.caller_hash, c.started_at FROM cases c \
             JOIN queue_entries e ON e.case_id = c.id WHERE e.id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let tags = tx
        .prepare_cached("SELECT key, value FROM case_tags WHERE case_id = ?1 ORDER BY position")?
        .query_map([case_id], |r| Ok(Tag { key: r.get(0)?, value: r.get(1)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    let earlier_calls: u32 = match caller_hash {
        Some(hash) => tx
            .prepare_cached(
                "SELECT count(*) FROM cases WHERE caller_hash = ?1 AND started_at < ?2 AND id <> ?3",
            )?
            .query_row(params![hash, started_at, case_id], |r| r.get(0))?,
        None => 0,
    };
    let (by, until): (Option<i64>, Option<String>) = tx
        .prepare_cached("SELECT reserved_for, reserved_until FROM queue_entries WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let reserved = match (by, until) {
        (Some(by), Some(until)) => Some((by, decode_time(&until)?)),
        _ => None,
    };
    Ok(Some(WaitingCaller {
        entry,
        caller_language: language.as_deref().map(decode_language).transpose()?,
        tags,
        repeat_caller: earlier_calls > 0,
        earlier_calls,
        reserved,
    }))
}

/// Gives `operator` the next caller the policy names for them: the entry goes `connecting`
/// with a conditional update (an entry is never given twice) and the operator on-call. The
/// entry's id; `None` when nobody waits for them.
/// The languages of people, each once in the order first met, from their rows'
/// comma-separated lists.
fn spoken(
    lists: impl Iterator<Item = super::engine::Result<String>>,
) -> Result<Vec<LanguageTag>, StorageError> {
    let mut languages: Vec<LanguageTag> = Vec::new();
    for list in lists {
        for code in list?.split(',') {
            let language = decode_language(code.trim())?;
            if !languages.contains(&language) {
                languages.push(language);
            }
        }
    }
    Ok(languages)
}

fn give_next(
    tx: &Transaction<'_>,
    operator: i64,
    speaks: &[LanguageTag],
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<Option<i64>, StorageError> {
    let waiting = candidates(tx)?;
    let Some(id) = next_for(operator, speaks, &waiting, now, stale_before) else {
        return Ok(None);
    };
    let changed = tx
        .prepare_cached(
            "UPDATE queue_entries SET state = 'connecting', operator_id = ?1, \
             connecting_at = ?2, reserved_for = NULL, reserved_until = NULL, ring_call_sid = NULL \
             WHERE id = ?3 AND state = 'waiting'",
        )?
        .execute(params![operator, db_time(now), id])?;
    if changed != 1 {
        // Cannot happen with one writer; if it did, the caller stays waiting.
        return Ok(None);
    }
    upsert_presence(tx, operator, PresenceState::OnCall, now, None, None)?;
    Ok(Some(id))
}

fn candidates(tx: &Transaction<'_>) -> Result<Vec<Candidate>, StorageError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, language, joined_at, reserved_for, reserved_until FROM queue_entries \
         WHERE state = 'waiting' ORDER BY joined_at, id LIMIT 5000",
    )?;
    let rows = stmt.query_map((), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (id, language, joined, by, until) = row?;
        let reserved = match (by, until) {
            (Some(by), Some(until)) => Some((by, decode_time(&until)?)),
            _ => None,
        };
        Ok(Candidate {
            id,
            language: decode_language(&language)?,
            joined_at: decode_time(&joined)?,
            reserved,
        })
    })
    .collect()
}

fn upsert_presence(
    conn: &Connection,
    user_id: i64,
    state: PresenceState,
    now: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    call_sid: Option<&CallSid>,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO presence (user_id, state, since, until, call_sid) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, since = excluded.since, \
         until = excluded.until, call_sid = coalesce(excluded.call_sid, presence.call_sid)",
    )?
    .execute(params![
        user_id,
        state.as_str(),
        db_time(now),
        until.map(db_time),
        call_sid.map(CallSid::as_str),
    ])?;
    Ok(())
}

/// Closes the latest queue entry of `sid` as the provider's `result` says (a bridge is noted
/// if the operator's Dial action has not already; any other result closes a waiting or
/// connecting entry). With `joined_by`, the latest entry that joined by then: a journaled
/// departure replayed late must not close a later wait of the same call. Applying it twice
/// changes nothing the second time.
pub(super) fn leave_queue(
    tx: &Transaction<'_>,
    sid: &CallSid,
    result: &str,
    queue_secs: Option<u32>,
    now: DateTime<Utc>,
    joined_by: Option<DateTime<Utc>>,
) -> Result<Option<QueueEntry>, StorageError> {
    let id: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT id, joined_at FROM queue_entries \
             WHERE call_sid = ?1 AND (CAST(?2 AS TEXT) IS NULL OR joined_at <= ?2) ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![sid.as_str(), joined_by.map(db_time)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, joined)) = id else { return Ok(None) };
    let joined = decode_time(&joined)?;
    if matches!(result, "bridged" | "bridging-in-process" | "redirected-from-bridged") {
        let bridged = match queue_secs {
            Some(secs) => joined + Duration::seconds(i64::from(secs)),
            None => now,
        };
        tx.prepare_cached(
            "UPDATE queue_entries SET state = 'bridged', \
             bridged_at = coalesce(bridged_at, ?1), result = coalesce(result, ?2) \
             WHERE id = ?3 AND state <> 'left'",
        )?
        .execute(params![db_time(bridged), result, id])?;
    } else {
        tx.prepare_cached(
            "UPDATE queue_entries SET state = 'left', ended_at = ?1, result = ?2 \
             WHERE id = ?3 AND state IN ('waiting', 'connecting')",
        )?
        .execute(params![db_time(now), result, id])?;
    }
    entry_by_id(tx, id)
}

/// The operator line's call `sid` ended: whoever was on it goes offline, and a caller being
/// connected to them (not yet bridged) goes back to waiting. Applying it again changes
/// nothing: the presence no longer names the call.
pub(super) fn operator_line_ended(
    tx: &Transaction<'_>,
    sid: &CallSid,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "UPDATE queue_entries SET state = 'waiting', operator_id = NULL, connecting_at = NULL \
         WHERE state = 'connecting' \
           AND operator_id IN (SELECT user_id FROM presence WHERE call_sid = ?1)",
    )?
    .execute([sid.as_str()])?;
    tx.prepare_cached(
        "UPDATE presence SET state = 'offline', since = ?1, until = NULL, call_sid = NULL \
         WHERE call_sid = ?2",
    )?
    .execute(params![db_time(now), sid.as_str()])?;
    Ok(())
}

fn entry_by_id(tx: &Transaction<'_>, id: i64) -> Result<Option<QueueEntry>, StorageError> {
    tx.prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE e.id = ?1"))?
        .query_row([id], entry_from_row)
        .optional()?
        .transpose()
}

/// Reads a row of [`ENTRY_COLUMNS`]; the outer result is SQLite's, the inner one the
/// conversion of stored text.
fn entry_from_row(r: &Row<'_>) -> super::engine::Result<Result<QueueEntry, StorageError>> {
    let call_sid: String = r.get(3)?;
    let language: String = r.get(4)?;
    let joined: String = r.get(7)?;
    let state: String = r.get(8)?;
    let bridged: Option<String> = r.get(10)?;
    let ended: Option<String> = r.get(11)?;
    let (id, year, sequence, queue, interpreter, operator, result) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(5)?, r.get(6)?, r.get(9)?, r.get(12)?);
    Ok((|| {
        Ok(QueueEntry {
            id,
            case: CaseNumber { year, sequence },
            call_sid: CallSid::parse(&call_sid)
                .ok_or_else(|| StorageError::Data("a stored call id is not a call id".into()))?,
            language: decode_language(&language)?,
            provider_queue: queue,
            interpreter_needed: interpreter,
            joined_at: decode_time(&joined)?,
            state: EntryState::parse(&state)
                .ok_or_else(|| StorageError::Data(format!("stored entry state {state:?}")))?,
            operator_id: operator,
            bridged_at: bridged.as_deref().map(decode_time).transpose()?,
            ended_at: ended.as_deref().map(decode_time).transpose()?,
            result,
        })
    })())
}
