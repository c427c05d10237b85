//! The follow-up list's SQL: voicemails and missed calls kept in step with their case's
//! events, callback requests with their sealed number, taking, attempts and closing.

use super::engine::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::sqlite::{Storage, db_time, decode_language, decode_time};
use super::{StorageError, sealing};
use crate::domain::cases::{CallSid, CaseNumber, Event, Outcome};
use crate::domain::followups::{Attempt, AttemptResult, FollowUp, Kind, State};
use crate::scripts::{LanguageTag, NodeId, Tag};

/// Brings a case's voicemail and missed-call follow-ups in line with its events, inside the
/// transaction that changed them; one filed now is created `at` the time of the record that
/// changed them. A missed call that turns out to have been answered after all (the
/// provider's callbacks arrive in any order) is removed while nobody worked on it;
/// `was_missed` says whether the case's outcome before this change could have filed one.
pub(super) fn sync(
    tx: &Transaction<'_>,
    case_id: i64,
    events: &[Event],
    outcome: &Outcome,
    was_missed: bool,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    let now = db_time(at);
    let voicemail = events.iter().rev().find_map(|event| match event {
        Event::Voicemail { recording_url, duration_secs } => Some((recording_url, duration_secs)),
        _ => None,
    });
    if let Some((url, secs)) = voicemail {
        tx.prepare_cached(
            "INSERT INTO follow_ups (case_id, kind, created_at, joined_at, recording_url,
                                     recording_secs)
             VALUES (?1, 'voicemail', ?2, (SELECT MIN(joined_at) FROM queue_entries
                                          WHERE case_id = ?1), NULLIF(?3, ''), ?4)
             ON CONFLICT (case_id, kind) DO UPDATE SET
                 recording_url = excluded.recording_url,
                 recording_secs = COALESCE(excluded.recording_secs, follow_ups.recording_secs)",
        )?
        .execute(params![case_id, now, url, secs])?;
    }
    if matches!(outcome, Outcome::AbandonedInQueue { .. }) {
        tx.prepare_cached(
            "INSERT INTO follow_ups (case_id, kind, created_at, joined_at)
             VALUES (?1, 'missed', ?2, (SELECT MIN(joined_at) FROM queue_entries
                                        WHERE case_id = ?1))
             ON CONFLICT (case_id, kind) DO NOTHING",
        )?
        .execute(params![case_id, now])?;
    } else if was_missed {
        tx.prepare_cached(
            "DELETE FROM follow_ups WHERE case_id = ?1 AND kind = 'missed' AND state = 'open'
                                      AND attempts = 0",
        )?
        .execute([case_id])?;
    }
    Ok(())
}

/// Files a callback request (or replaces the number of one nobody has worked on yet).
pub(super) fn request_callback(
    tx: &Transaction<'_>,
    case_id: i64,
    at: DateTime<Utc>,
    sealed: &str,
    hint: &str,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO follow_ups (case_id, kind, created_at, joined_at, number_sealed, number_hint)
         VALUES (?1, 'callback', ?2, (SELECT MIN(joined_at) FROM queue_entries
                                      WHERE case_id = ?1), ?3, ?4)
         ON CONFLICT (case_id, kind) DO UPDATE SET
             number_sealed = excluded.number_sealed, number_hint = excluded.number_hint
         WHERE follow_ups.state = 'open' AND follow_ups.attempts = 0
               AND follow_ups.number_shredded_at IS NULL",
    )?
    .execute(params![case_id, db_time(at), sealed, hint])?;
    Ok(())
}

/// Why taking a follow-up or recording an attempt was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such follow-up.
    NotFound,
    /// Taken by someone else, or closed; the message says which.
    Conflict(String),
    /// Only the operator who took it may do this.
    NotYours,
}

const SELECT: &str = "SELECT f.id, f.kind, c.number_year, c.number_seq, c.language, c.country,
                             f.created_at, f.joined_at, f.recording_url, f.recording_secs,
                             f.number_hint, f.state, f.taken_by, f.closed_reason, c.id,
                             c.call_sid
                      FROM follow_ups f JOIN cases c ON c.id = f.case_id";

impl Storage {
    /// The follow-ups not closed (or all, with `closed`), oldest place in line first. Who
    /// may see which is decided by their case ([`crate::domain::casework::may_see`]).
    #[tracing::instrument(skip(self))]
    pub async fn follow_ups(&self, closed: bool) -> Result<Vec<FollowUp>, StorageError> {
        self.read(move |conn| {
            let sql = format!(
                "{SELECT} WHERE (?1 OR f.state != 'closed')
                 ORDER BY COALESCE(f.joined_at, f.created_at), f.id LIMIT 500"
            );
            let rows = conn
                .prepare_cached(&sql)?
                .query_map([closed], Row::read)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(|row| Row::complete(row, conn)).collect::<Result<Vec<_>, _>>()
        })
        .await
        .map(|all| all.into_iter().map(|follow_up| self.with_recording_opened(follow_up)).collect())
    }

    /// `follow_up` with its recording's address opened (`None` once shredded).
    fn with_recording_opened(&self, mut follow_up: FollowUp) -> FollowUp {
        follow_up.recording_url = sealing::open_opt(self.keys(), follow_up.recording_url.take());
        follow_up
    }

    /// One follow-up.
    #[tracing::instrument(skip(self))]
    pub async fn follow_up(&self, id: i64) -> Result<Option<FollowUp>, StorageError> {
        Ok(self
            .read(move |conn| load(conn, id))
            .await?
            .map(|follow_up| self.with_recording_opened(follow_up)))
    }

    /// The sealed callback number of a follow-up, for the one who took it; the follow-up
    /// itself comes with it so the caller can check who that is.
    #[tracing::instrument(skip(self))]
    pub async fn sealed_number(
        &self,
        id: i64,
    ) -> Result<Option<(FollowUp, Option<String>)>, StorageError> {
        self.read(move |conn| {
            let Some(follow_up) = load(conn, id)? else { return Ok(None) };
            let sealed: Option<String> = conn
                .prepare_cached("SELECT number_sealed FROM follow_ups WHERE id = ?1")?
                .query_row([id], |row| row.get(0))?;
            Ok(Some((follow_up, sealed)))
        })
        .await
        .map(|found| {
            found.map(|(follow_up, sealed)| {
                (self.with_recording_opened(follow_up), sealing::open_opt(self.keys(), sealed))
            })
        })
    }

    /// `operator` takes an open follow-up; `speaks` limits it to their languages (`None`:
    /// any; another language is a conflict). Taking one already theirs again is fine.
    #[tracing::instrument(skip(self))]
    pub async fn take_follow_up(
        &self,
        id: i64,
        operator: i64,
        speaks: Option<Vec<LanguageTag>>,
        at: DateTime<Utc>,
    ) -> Result<Result<FollowUp, Refusal>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(follow_up) = load(&tx, id)? else { return Ok(Err(Refusal::NotFound)) };
            // Whether the person may see it at all is the case's rule, checked before; this
            // one is about calling back: in the caller's language.
            if let (Some(speaks), Some(language)) = (&speaks, &follow_up.language)
                && !speaks.contains(language)
            {
                return Ok(Err(Refusal::Conflict(format!(
                    "the caller speaks {language}, which you do not take calls in"
                ))));
            }
            match (follow_up.state, follow_up.taken_by) {
                (State::Closed, _) => {
                    return Ok(Err(Refusal::Conflict("this follow-up is closed".into())));
                }
                (State::Taken, Some(by)) if by != operator => {
                    return Ok(Err(Refusal::Conflict(format!(
                        "this follow-up is taken by operator {by}"
                    ))));
                }
                _ => {}
            }
            tx.prepare_cached(
                "UPDATE follow_ups SET state = 'taken', taken_by = ?2,
                                       taken_at = COALESCE(taken_at, ?3)
                 WHERE id = ?1",
            )?
            .execute(params![id, operator, db_time(at)])?;
            let taken = load(&tx, id)?;
            tx.commit()?;
            Ok(taken.ok_or(Refusal::NotFound))
        })
        .await
        .map(|taken| taken.map(|follow_up| self.with_recording_opened(follow_up)))
    }

    /// Records an attempt by the operator who took the follow-up; it closes on `reached`,
    /// `wrong-number`, or when `max_attempts` attempts have been made.
    #[tracing::instrument(skip(self))]
    pub async fn record_attempt(
        &self,
        id: i64,
        operator: i64,
        result: AttemptResult,
        max_attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Result<FollowUp, Refusal>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(follow_up) = load(&tx, id)? else { return Ok(Err(Refusal::NotFound)) };
            if follow_up.state == State::Closed {
                return Ok(Err(Refusal::Conflict("this follow-up is closed".into())));
            }
            if follow_up.taken_by != Some(operator) || follow_up.state != State::Taken {
                return Ok(Err(Refusal::NotYours));
            }
            let at = db_time(at);
            tx.prepare_cached(
                "INSERT INTO follow_up_attempts (follow_up_id, operator_id, at, result)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, operator, at, result.as_str()])?;
            let made = u32::try_from(follow_up.attempts.len() + 1).unwrap_or(u32::MAX);
            let closed_reason = if result.closes() {
                Some(result.as_str())
            } else if made >= max_attempts {
                Some("attempts")
            } else {
                None
            };
            tx.prepare_cached(
                "UPDATE follow_ups SET attempts = ?2,
                        state = CASE WHEN CAST(?3 AS TEXT) IS NULL THEN state ELSE 'closed' END,
                        closed_at = CASE WHEN CAST(?3 AS TEXT) IS NULL THEN NULL ELSE ?4 END,
                        closed_reason = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, made, closed_reason, at])?;
            let updated = load(&tx, id)?;
            tx.commit()?;
            Ok(updated.ok_or(Refusal::NotFound))
        })
        .await
        .map(|updated| updated.map(|follow_up| self.with_recording_opened(follow_up)))
    }

    /// Gives `operator` the due callback that comes first among their languages, taking it
    /// for them in the same transaction (two operators dialling in at once get different
    /// ones). Due: requested, not taken, and not tried since `retry_before`. Ordered by when
    /// the caller first joined the queue. Returns it with its sealed number.
    #[tracing::instrument(skip(self, speaks))]
    pub async fn take_due_callback(
        &self,
        operator: i64,
        speaks: Vec<LanguageTag>,
        now: DateTime<Utc>,
        retry_before: DateTime<Utc>,
    ) -> Result<Option<(FollowUp, String)>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<(i64, Option<String>, String)> = tx
                .prepare_cached(
                    "SELECT f.id, c.language, f.number_sealed FROM follow_ups f
                     JOIN cases c ON c.id = f.case_id
                     WHERE f.kind = 'callback' AND f.state = 'open'
                       AND f.number_sealed IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM follow_up_attempts a
                                       WHERE a.follow_up_id = f.id AND a.at >= ?1)
                     ORDER BY COALESCE(f.joined_at, f.created_at), f.id LIMIT 200",
                )?
                .query_map([db_time(retry_before)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let first = due.into_iter().find(|(_, language, _)| {
                language
                    .as_deref()
                    .and_then(LanguageTag::parse)
                    .is_some_and(|l| speaks.contains(&l))
            });
            let Some((id, _, sealed)) = first else { return Ok(None) };
            tx.prepare_cached(
                "UPDATE follow_ups SET state = 'taken', taken_by = ?2, taken_at = ?3
                 WHERE id = ?1 AND state = 'open'",
            )?
            .execute(params![id, operator, db_time(now)])?;
            let taken = load(&tx, id)?;
            tx.commit()?;
            Ok(taken.map(|follow_up| (follow_up, sealed)))
        })
        .await
        .map(|taken| {
            // A number whose key is gone opens to nothing, which the callback key refuses.
            taken.map(|(follow_up, sealed)| {
                (
                    self.with_recording_opened(follow_up),
                    sealing::open(self.keys(), &sealed).unwrap_or_default(),
                )
            })
        })
    }

    /// Gives a follow-up that is still open work back to the list (after a callback from the
    /// operator line that did not reach the caller), so the next dial-in can try again.
    #[tracing::instrument(skip(self))]
    pub async fn release_follow_up(&self, id: i64, operator: i64) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE follow_ups SET state = 'open', taken_by = NULL, taken_at = NULL
                 WHERE id = ?1 AND taken_by = ?2 AND state = 'taken'",
            )?
            .execute(params![id, operator])?;
            Ok(())
        })
        .await
    }

    /// A waiting caller pressed a `<wait>` key for `node`: remembered on their queue entry
    /// for the Enqueue action that follows their `<Leave/>`. False if they have no waiting
    /// entry.
    #[tracing::instrument(skip(self))]
    pub async fn leave_queue_for(
        &self,
        call_sid: &CallSid,
        node: &NodeId,
    ) -> Result<bool, StorageError> {
        let (call_sid, node) = (call_sid.clone(), node.clone());
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE queue_entries SET left_for = ?2
                     WHERE call_sid = ?1 AND state = 'waiting'",
                )?
                .execute(params![call_sid.as_str(), node.as_str()])?;
            Ok(changed > 0)
        })
        .await
    }

    /// The node a caller chose with a `<wait>` key, if they did.
    #[tracing::instrument(skip(self))]
    pub async fn left_for(&self, call_sid: &CallSid) -> Result<Option<NodeId>, StorageError> {
        let call_sid = call_sid.clone();
        self.read(move |conn| {
            let node: Option<String> = conn
                .prepare_cached(
                    "SELECT left_for FROM queue_entries WHERE call_sid = ?1
                     AND left_for IS NOT NULL ORDER BY id DESC LIMIT 1",
                )?
                .query_row([call_sid.as_str()], |row| row.get(0))
                .optional()?;
            Ok(node.as_deref().and_then(NodeId::parse))
        })
        .await
    }
}

/// A follow-up's own row, before its tags, wait and attempts are read.
struct Row {
    follow_up: FollowUp,
    case_id: i64,
}

impl Row {
    fn read(r: &super::engine::Row<'_>) -> super::engine::Result<Result<Row, StorageError>> {
        let kind: String = r.get(1)?;
        let language: Option<String> = r.get(4)?;
        let created: String = r.get(6)?;
        let joined: Option<String> = r.get(7)?;
        let call_sid: String = r.get(15)?;
        let state: String = r.get(11)?;
        let build = || -> Result<Row, StorageError> {
            let follow_up = FollowUp {
                id: r.get(0)?,
                kind: Kind::parse(&kind)
                    .ok_or_else(|| StorageError::Data(format!("follow-up kind {kind:?}")))?,
                case: CaseNumber { year: r.get(2)?, sequence: r.get(3)? },
                language: language.as_deref().map(decode_language).transpose()?,
                country: r.get(5)?,
                tags: Vec::new(),
                created_at: decode_time(&created)?,
                joined_at: joined.as_deref().map(decode_time).transpose()?,
                wait_secs: None,
                recording_url: r.get(8)?,
                recording_secs: r.get(9)?,
                number: r.get(10)?,
                state: State::parse(&state)
                    .ok_or_else(|| StorageError::Data(format!("follow-up state {state:?}")))?,
                taken_by: r.get(12)?,
                attempts: Vec::new(),
                closed_reason: r.get(13)?,
                earlier_calls: 0,
                call_sid: CallSid::parse(&call_sid)
                    .ok_or_else(|| StorageError::Data("a stored call id".into()))?,
            };
            Ok(Row { follow_up, case_id: r.get(14)? })
        };
        Ok(build())
    }

    /// Adds the case's tags, the caller's wait in the queue, and the attempts.
    fn complete(
        row: Result<Row, StorageError>,
        conn: &Connection,
    ) -> Result<FollowUp, StorageError> {
        let Row { mut follow_up, case_id } = row?;
        follow_up.tags = conn
            .prepare_cached(
                "SELECT key, value FROM case_tags WHERE case_id = ?1 ORDER BY position",
            )?
            .query_map([case_id], |r| Ok(Tag { key: r.get(0)?, value: r.get(1)? }))?
            .collect::<Result<_, _>>()?;
        let (joined, left): (Option<String>, Option<String>) = conn
            .prepare_cached(
                "SELECT MIN(joined_at), MAX(COALESCE(bridged_at, ended_at)) FROM queue_entries
                 WHERE case_id = ?1",
            )?
            .query_row([case_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        follow_up.earlier_calls = conn
            .prepare_cached(
                "SELECT count(*) FROM cases e JOIN cases c ON c.id = ?1
                 WHERE e.caller_hash = c.caller_hash AND e.started_at < c.started_at
                   AND e.id <> c.id",
            )?
            .query_row([case_id], |r| r.get(0))?;
        if let (Some(joined), Some(left)) = (joined, left) {
            follow_up.wait_secs =
                Some((decode_time(&left)? - decode_time(&joined)?).num_seconds().max(0));
        }
        let attempts = conn
            .prepare_cached(
                "SELECT operator_id, at, result FROM follow_up_attempts WHERE follow_up_id = ?1
                 ORDER BY id",
            )?
            .query_map([follow_up.id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (operator_id, at, result) in attempts {
            let result = AttemptResult::parse(&result)
                .ok_or_else(|| StorageError::Data(format!("attempt result {result:?}")))?;
            follow_up.attempts.push(Attempt { operator_id, at: decode_time(&at)?, result });
        }
        Ok(follow_up)
    }
}

/// One follow-up, complete.
fn load(conn: &Connection, id: i64) -> Result<Option<FollowUp>, StorageError> {
    let row = conn
        .prepare_cached(&format!("{SELECT} WHERE f.id = ?1"))?
        .query_row([id], Row::read)
        .optional()?;
    row.map(|row| Row::complete(row, conn)).transpose()
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::domain::cases::{CallStatus, LanguageChoiceMethod, Record};
    use crate::domain::people::{Role, parse_languages};
    use crate::storage::{NewEntry, NewPerson, StorageOptions};

    async fn open(dir: &tempfile::TempDir) -> Storage {
        Storage::open(&dir.path().join("hotline.db"), StorageOptions::for_tests()).await.unwrap()
    }

    fn sid(n: u32) -> CallSid {
        CallSid::parse(&format!("CA{n}")).unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap()
    }

    /// A call in `language` that joined the queue at `joined` seconds.
    async fn queued(storage: &Storage, n: u32, language: &str, joined: i64) {
        let language = LanguageTag::parse(language).unwrap();
        let chosen =
            Event::LanguageChosen { language: language.clone(), how: LanguageChoiceMethod::Key };
        let handed = Event::HandedOff {
            node: NodeId::parse("operator").unwrap(),
            queue: language.to_string(),
        };
        for record in [
            Record::CallStarted { call_sid: sid(n), at: at(0), caller: None, country: None },
            Record::Step {
                call_sid: sid(n),
                step: 1,
                at: at(joined),
                events: vec![chosen, handed],
            },
        ] {
            storage.apply(record).await.unwrap();
        }
        let entry = NewEntry {
            call_sid: sid(n),
            step: 1,
            language,
            interpreter_needed: false,
            at: at(joined),
        };
        storage.enqueue(entry).await.unwrap();
    }

    fn callback(n: u32, requested: i64) -> Record {
        Record::Callback {
            call_sid: sid(n),
            step: 5,
            at: at(requested),
            events: vec![Event::CallbackRequested { hint: "…67".into() }],
            sealed: format!("sealed-{n}"),
            hint: "…67".into(),
        }
    }

    async fn operator(storage: &Storage, name: &str, languages: &str) -> i64 {
        let new = NewPerson {
            name: name.into(),
            role: Role::Operator,
            languages: parse_languages(languages).unwrap(),
            password_hash: None,
            pin_hash: None,
        };
        storage.add_person(new, Utc::now()).await.unwrap().id
    }

    #[tokio::test]
    async fn a_callback_request_is_filed_once_with_its_sealed_number() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        queued(&storage, 1, "ru", 10).await;
        storage.apply(callback(1, 40)).await.unwrap();
        storage.apply(callback(1, 40)).await.unwrap();
        let list = storage.follow_ups(false).await.unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!((list[0].kind, list[0].number.as_deref()), (Kind::Callback, Some("…67")));
        assert_eq!(list[0].joined_at, Some(at(10)), "keeps the place in line");
        let (_, sealed) = storage.sealed_number(list[0].id).await.unwrap().unwrap();
        assert_eq!(sealed.as_deref(), Some("sealed-1"));
    }

    #[tokio::test]
    async fn a_missed_call_leaves_the_list_if_the_caller_turns_out_to_be_handled() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        queued(&storage, 1, "ru", 10).await;
        let left = Event::LeftQueue { result: "hangup".into(), wait_secs: Some(30) };
        storage
            .apply(Record::Step { call_sid: sid(1), step: 2, at: at(40), events: vec![left] })
            .await
            .unwrap();
        let ended = Record::Status {
            call_sid: sid(1),
            at: at(41),
            status: CallStatus::Completed,
            duration_secs: Some(41),
            sequence: Some(3),
        };
        storage.apply(ended).await.unwrap();
        let list = storage.follow_ups(false).await.unwrap();
        assert_eq!(list.iter().map(|f| f.kind).collect::<Vec<_>>(), [Kind::Missed]);
        assert_eq!(list[0].wait_secs, None, "the entry is still open in this test");
        // A later step puts the call back in a queue: no longer a missed call.
        let handed =
            Event::HandedOff { node: NodeId::parse("operator").unwrap(), queue: "ru".into() };
        storage
            .apply(Record::Step { call_sid: sid(1), step: 3, at: at(50), events: vec![handed] })
            .await
            .unwrap();
        assert!(storage.follow_ups(false).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn due_callbacks_come_in_place_in_line_order_within_the_operators_languages() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let olga = operator(&storage, "olga", "ru").await;
        let ivan = operator(&storage, "ivan", "ru").await;
        queued(&storage, 1, "ru", 100).await;
        queued(&storage, 2, "ru", 50).await;
        queued(&storage, 3, "uk", 10).await;
        for (n, requested) in [(1, 110), (2, 300), (3, 20)] {
            storage.apply(callback(n, requested)).await.unwrap();
        }
        let ru = parse_languages("ru").unwrap();
        let now = at(400);
        let long_ago = at(0);
        // The caller who joined first comes first, although they asked later; two operators
        // get different ones; Ukrainian is nobody's here.
        let first = storage.take_due_callback(olga, ru.clone(), now, long_ago).await.unwrap();
        let (first, sealed) = first.unwrap();
        assert_eq!((first.joined_at, sealed.as_str()), (Some(at(50)), "sealed-2"));
        assert_eq!(first.taken_by, Some(olga));
        let second = storage.take_due_callback(ivan, ru.clone(), now, long_ago).await.unwrap();
        assert_eq!(second.unwrap().1, "sealed-1");
        assert!(
            storage.take_due_callback(olga, ru.clone(), now, long_ago).await.unwrap().is_none()
        );

        // Not reached: an attempt, back to the list, due again only after the retry time.
        let tried = storage.record_attempt(first.id, olga, AttemptResult::NoAnswer, 3, now).await;
        assert_eq!(tried.unwrap().unwrap().state, State::Taken);
        storage.release_follow_up(first.id, olga).await.unwrap();
        let soon = now + TimeDelta::minutes(1);
        let retry_before = soon - TimeDelta::minutes(15);
        assert!(
            storage
                .take_due_callback(ivan, ru.clone(), soon, retry_before)
                .await
                .unwrap()
                .is_none()
        );
        let later = now + TimeDelta::minutes(16);
        let retry_before = later - TimeDelta::minutes(15);
        let again = storage.take_due_callback(ivan, ru, later, retry_before).await.unwrap();
        assert_eq!(again.unwrap().0.id, first.id);
    }
}
