//! The SQL of retention: shredding personal data after its period, legal holds, and leaving
//! no copy of what was shredded in the database file or its write-ahead log.
//!
//! What is personal and goes: a voicemail's recording URL (in the case, its event and its
//! follow-up), a callback number (sealed; once its follow-up is closed, or with the
//! recordings), operators' notes (the text; author and time stay), the caller's hash, and blocklist
//! entries that expired long ago (their hash and reason). What stays, for statistics: the
//! case's number, language, times, status, outcome, tags, disposition, timeline of nodes.
//! A case under legal hold is left whole.
//!
//! Shredding must be irreversible on the disk, not only in queries. Every connection runs
//! with `secure_delete` (set when it is opened), so freed cells and pages are zeroed; but
//! rows rewritten before that setting existed, or old page images in the WAL, may still hold
//! copies. So a purge that shredded anything runs `VACUUM` (a fresh file with no free space,
//! its temporary copy kept in memory, not in a temporary file), and every purge ends with a
//! `TRUNCATE` checkpoint that empties the WAL.

use super::engine::{Connection, Engine, OptionalExtension, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::sqlite::db_time;
use super::{Storage, StorageError};
use crate::domain::cases::CaseNumber;
use crate::domain::data_keys::{DataClass, DataKeys, Month};
use crate::domain::retention::{PurgeReport, RetentionPolicy};

/// The placeholder a shredded note's text becomes (the schema's trigger accepts only it).
pub const SHREDDED_NOTE: &str = "[shredded]";

/// The cutoffs of a policy at `now`, as stored times.
struct Cutoffs {
    recordings: String,
    notes: String,
    caller_hashes: String,
    /// Text channels' update ids older than this are forgotten: the channels stop
    /// redelivering an update within a day.
    updates: String,
}

/// How long a text channel's update id is remembered.
const UPDATES_KEPT_DAYS: i64 = 7;

impl Cutoffs {
    fn new(policy: &RetentionPolicy, now: DateTime<Utc>) -> Cutoffs {
        Cutoffs {
            recordings: db_time(now - policy.recordings),
            notes: db_time(now - policy.notes),
            caller_hashes: db_time(now - policy.caller_hashes),
            updates: db_time(now - chrono::Duration::days(UPDATES_KEPT_DAYS)),
        }
    }
}

/// When a case's data starts ageing: the end of its call, or its start.
const AGE_FROM: &str = "COALESCE(c.ended_at, c.started_at)";

/// A follow-up `f` of case `c` whose callback number is due, given the recordings' cutoff as
/// `?1`: nobody will call it any more (closed), or it is as old as a recording may be.
const CALLBACK_NUMBER_DUE: &str = "c.legal_hold = 0 AND f.number_sealed IS NOT NULL
     AND (f.state = 'closed' OR COALESCE(c.ended_at, c.started_at) < ?1)";

impl Storage {
    /// Shreds the personal data older than `policy` allows at `now`; with `dry_run`, only
    /// counts it. One transaction, then (if anything went) a compaction; see the module.
    #[tracing::instrument(skip(self))]
    pub async fn purge(
        &self,
        policy: RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PurgeReport, StorageError> {
        self.purge_queueing(policy, now, dry_run, false).await
    }

    /// [`Storage::purge`], queueing in the same transaction the deletion at the provider of
    /// each recording it shreds (`provider_deletions.rs`): only with an account that can
    /// delete them, since the queue keeps the recordings' ids until then.
    #[tracing::instrument(skip(self))]
    pub async fn purge_deleting_at_provider(
        &self,
        policy: RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PurgeReport, StorageError> {
        self.purge_queueing(policy, now, dry_run, true).await
    }

    /// A purge, with the provider's deletions queued if `at_provider`.
    async fn purge_queueing(
        &self,
        policy: RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
        at_provider: bool,
    ) -> Result<PurgeReport, StorageError> {
        let keyring = self.keyring().clone();
        self.write(move |conn| {
            let cutoffs = Cutoffs::new(&policy, now);
            let mut report = count_due(conn, &cutoffs)?;
            if dry_run {
                return Ok(report);
            }
            // Without the keys, refused before anything goes (the keys must go with the rows),
            // unless nothing is due: the months' keys then wait for a purge with the key.
            if keyring.keys().is_locked() {
                return if report.is_empty() {
                    Ok(report)
                } else {
                    Err(crate::domain::data_keys::Locked.into())
                };
            }
            super::pin_lockout::forget_old_attempts(conn, now)?;
            let resealed = super::sealing::reseal_holds(conn, keyring.keys(), now)?;
            if resealed > 0 {
                tracing::info!(
                    resealed,
                    "values of cases placed under or released from legal hold sealed again"
                );
            }
            if !report.is_empty() {
                shred(conn, keyring.keys(), &cutoffs, &db_time(now), at_provider)?;
                conn.execute_batch("VACUUM")?;
                report.compacted = true;
            }
            // After the rows: the keys of the months nothing live needs any more go, which
            // reaches every copy of what the rows held (backups, an old log, a replica).
            // A held value has no period: its month's key goes once no held value needs it.
            let oldest = super::sealing::oldest_months(conn)?;
            let mut destroyed = Vec::new();
            for (class, period) in [
                (DataClass::Recordings, policy.recordings),
                (DataClass::Notes, policy.notes),
                (DataClass::Held, chrono::Duration::zero()),
            ] {
                let needed = oldest.iter().find(|(c, _)| *c == class).and_then(|(_, m)| *m);
                let expired = Month::of(now - period);
                let keep_from = needed.map_or(expired, |needed| needed.min(expired));
                if keyring.destroy_before(class, keep_from)? {
                    destroyed.push(format!("{class:?} before {keep_from}"));
                }
                let kept_from =
                    keyring.keys().first(class).map(|month| month.to_string()).unwrap_or_default();
                match class {
                    DataClass::Recordings => report.recording_keys_from = kept_from,
                    DataClass::Notes => report.note_keys_from = kept_from,
                    DataClass::Held => {}
                }
            }
            if !destroyed.is_empty() {
                tracing::info!("data keys destroyed: {}", destroyed.join(", "));
            }
            // Every other server sharing the database destroys the same months in its copy.
            super::duties::record_key_floors(conn, keyring.keys())?;
            // Every run, not only one that shredded: if a reader held the last truncation
            // back, the old frames are still in the WAL, and this is the retry.
            checkpoint_truncate(conn)?;
            Ok(report)
        })
        .await
    }

    /// Puts a case under legal hold (`hold`), or releases it. `None` if there is no such
    /// case; else whether the hold changed.
    #[tracing::instrument(skip(self))]
    pub async fn set_legal_hold(
        &self,
        number: CaseNumber,
        hold: bool,
    ) -> Result<Option<bool>, StorageError> {
        self.write(move |conn| {
            let current: Option<bool> = conn
                .prepare_cached(
                    "SELECT legal_hold FROM cases WHERE number_year = ?1 AND number_seq = ?2",
                )?
                .query_row(params![number.year, number.sequence], |row| row.get(0))
                .optional()?;
            let Some(current) = current else { return Ok(None) };
            if current == hold {
                return Ok(Some(false));
            }
            conn.prepare_cached(
                "UPDATE cases SET legal_hold = ?3 WHERE number_year = ?1 AND number_seq = ?2",
            )?
            .execute(params![number.year, number.sequence, hold])?;
            Ok(Some(true))
        })
        .await
    }

    /// Whether a case is under legal hold; `None` if there is no such case.
    #[tracing::instrument(skip(self))]
    pub async fn legal_hold(&self, number: CaseNumber) -> Result<Option<bool>, StorageError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT legal_hold FROM cases WHERE number_year = ?1 AND number_seq = ?2",
                )?
                .query_row(params![number.year, number.sequence], |row| row.get(0))
                .optional()?)
        })
        .await
    }
}

/// Counts what is due, and the held cases that would otherwise lose something.
fn count_due(conn: &Connection, cutoffs: &Cutoffs) -> Result<PurgeReport, StorageError> {
    let count = |sql: &str, cutoff: &str| -> Result<u64, StorageError> {
        Ok(conn.prepare_cached(sql)?.query_row([cutoff], |row| row.get(0))?)
    };
    let recordings = format!(
        "SELECT COUNT(*) FROM cases c WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1
           AND (c.recording_url IS NOT NULL OR EXISTS (SELECT 1 FROM case_events e
                WHERE e.case_id = c.id AND e.kind IN ('voicemail', 'ask-answered')
                  AND json_extract(e.detail, '$.recording_url') <> ''))"
    );
    let callback_numbers = format!(
        "SELECT COUNT(*) FROM follow_ups f JOIN cases c ON c.id = f.case_id
         WHERE {CALLBACK_NUMBER_DUE}"
    );
    let notes = format!(
        "SELECT COUNT(*) FROM case_notes n JOIN cases c ON c.id = n.case_id
         WHERE c.legal_hold = 0 AND n.shredded_at IS NULL AND {AGE_FROM} < ?1"
    );
    let messages = format!(
        "SELECT COUNT(*) FROM chat_messages m JOIN cases c ON c.id = m.case_id
         WHERE c.legal_hold = 0 AND m.shredded_at IS NULL AND {AGE_FROM} < ?1"
    );
    let callers = format!(
        "SELECT COUNT(*) FROM cases c
         WHERE c.legal_hold = 0 AND c.caller_hash IS NOT NULL AND {AGE_FROM} < ?1"
    );
    let blocklist = "SELECT COUNT(*) FROM blocklist b JOIN cases c ON c.id = b.case_id
         WHERE c.legal_hold = 0 AND b.expires_at IS NOT NULL AND b.expires_at < ?1";
    // A held case counts once, if any of its data is past any period.
    let held = format!(
        "SELECT COUNT(*) FROM cases c WHERE c.legal_hold = 1 AND (
             ({AGE_FROM} < ?1 AND c.recording_url IS NOT NULL)
          OR ({AGE_FROM} < ?2 AND EXISTS (SELECT 1 FROM case_notes n
                                          WHERE n.case_id = c.id AND n.shredded_at IS NULL))
          OR ({AGE_FROM} < ?2 AND EXISTS (SELECT 1 FROM chat_messages m
                                          WHERE m.case_id = c.id AND m.shredded_at IS NULL))
          OR ({AGE_FROM} < ?3 AND c.caller_hash IS NOT NULL))"
    );
    let held = conn
        .prepare_cached(&held)?
        .query_row(params![cutoffs.recordings, cutoffs.notes, cutoffs.caller_hashes], |row| {
            row.get(0)
        })?;
    Ok(PurgeReport {
        recordings: count(&recordings, &cutoffs.recordings)?,
        callback_numbers: count(&callback_numbers, &cutoffs.recordings)?,
        notes: count(&notes, &cutoffs.notes)?,
        messages: count(&messages, &cutoffs.notes)?,
        caller_hashes: count(&callers, &cutoffs.caller_hashes)?,
        blocklist_entries: count(blocklist, &cutoffs.caller_hashes)?,
        held,
        compacted: false,
        recording_keys_from: String::new(),
        note_keys_from: String::new(),
    })
}

/// Shreds what is due, in one transaction.
fn shred(
    conn: &mut Connection,
    keys: &DataKeys,
    cutoffs: &Cutoffs,
    now: &str,
    at_provider: bool,
) -> Result<(), StorageError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The recordings themselves are at the provider: their deletion there is queued in this
    // transaction, so it cannot be lost once the addresses are gone.
    if at_provider {
        super::provider_deletions::queue_shredded_recordings(&tx, keys, &cutoffs.recordings, now)?;
    }
    // The event is the source the case's columns are derived from: blank its URL too, or
    // the next write to the case would bring it back.
    tx.execute(
        &format!(
            "UPDATE case_events SET detail = json_set(detail, '$.recording_url', '')
             WHERE kind = 'voicemail' AND case_id IN (
                 SELECT c.id FROM cases c WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1)"
        ),
        [&cutoffs.recordings],
    )?;
    // A spoken answer to a question is a recording too; its event has no URL once shredded.
    tx.execute(
        &format!(
            "UPDATE case_events SET detail = json_set(detail, '$.recording_url', json('null'))
             WHERE kind = 'ask-answered' AND json_extract(detail, '$.recording_url') IS NOT NULL
               AND case_id IN (
                 SELECT c.id FROM cases c WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1)"
        ),
        [&cutoffs.recordings],
    )?;
    tx.execute(
        &format!(
            "UPDATE cases AS c SET recording_url = NULL, recording_shredded_at = ?2
             WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1 AND c.recording_url IS NOT NULL"
        ),
        params![cutoffs.recordings, now],
    )?;
    tx.execute(
        &format!(
            "UPDATE follow_ups AS f SET recording_url = NULL
             WHERE f.recording_url IS NOT NULL AND f.case_id IN (
                 SELECT c.id FROM cases c WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1)"
        ),
        [&cutoffs.recordings],
    )?;
    tx.execute(
        &format!(
            "UPDATE follow_ups AS f SET number_sealed = NULL, number_shredded_at = ?2
             WHERE f.id IN (SELECT f.id FROM follow_ups f JOIN cases c ON c.id = f.case_id
                            WHERE {CALLBACK_NUMBER_DUE})"
        ),
        params![cutoffs.recordings, now],
    )?;
    tx.execute(
        &format!(
            "UPDATE case_notes SET text = '{SHREDDED_NOTE}', shredded_at = ?2
             WHERE shredded_at IS NULL AND case_id IN (
                 SELECT c.id FROM cases c WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1)"
        ),
        params![cutoffs.notes, now],
    )?;
    tx.execute(
        &format!(
            "UPDATE chat_messages SET body = '{SHREDDED_NOTE}', shredded_at = ?2
             WHERE shredded_at IS NULL AND case_id IN (
                 SELECT c.id FROM cases c WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1)"
        ),
        params![cutoffs.notes, now],
    )?;
    tx.execute("DELETE FROM text_updates WHERE at < ?1", [&cutoffs.updates])?;
    tx.execute(
        "DELETE FROM blocklist WHERE expires_at IS NOT NULL AND expires_at < ?1
           AND case_id IN (SELECT id FROM cases WHERE legal_hold = 0)",
        [&cutoffs.caller_hashes],
    )?;
    tx.execute(
        &format!(
            "UPDATE cases AS c SET caller_hash = NULL, caller_shredded_at = ?2
             WHERE c.legal_hold = 0 AND {AGE_FROM} < ?1 AND c.caller_hash IS NOT NULL"
        ),
        params![cutoffs.caller_hashes, now],
    )?;
    tx.commit()?;
    Ok(())
}

/// Copies the WAL into the database and truncates it to zero bytes. A reader in the middle of
/// a read can hold the checkpoint back; it is retried for a while (the busy timeout waits
/// inside each try), and reported if it never completes.
pub(super) fn checkpoint_truncate(conn: &Connection) -> Result<(), StorageError> {
    // PostgreSQL's log is its own to recycle: nothing to empty here.
    if conn.engine() == Engine::Postgres {
        return Ok(());
    }
    for _ in 0..20 {
        let (busy, _, _): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(StorageError::Conflict(
        "the write-ahead log could not be emptied: a reader kept it busy; the next purge tries \
         again"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::cases::{CallSid, CallStatus, CallerHash, Event, Record};
    use crate::domain::casework::NoteText;
    use crate::storage::{NewPerson, StorageOptions};

    fn at(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::days(day)
    }

    fn sid(n: u32) -> CallSid {
        CallSid::parse(&format!("CA{n:032x}")).unwrap()
    }

    /// A call on `day` from caller `n` that left a voicemail and ended.
    async fn voicemail_call(storage: &Storage, n: u32, day: i64) {
        let records = [
            Record::CallStarted {
                call_sid: sid(n),
                at: at(day),
                caller: Some(CallerHash(format!("{n:064x}"))),
                country: Some("UA".into()),
            },
            Record::Step {
                call_sid: sid(n),
                step: 1,
                at: at(day),
                events: vec![
                    Event::AskAnswered {
                        node: crate::scripts::NodeId::parse("unit").unwrap(),
                        var: "unit".into(),
                        recording_url: Some(format!("https://rec.example/RE-unit-{n}")),
                        duration_secs: Some(4),
                    },
                    Event::Voicemail {
                        recording_url: format!("https://rec.example/RE-secret-{n}"),
                        duration_secs: Some(9),
                    },
                ],
            },
            Record::Status {
                call_sid: sid(n),
                at: at(day),
                status: CallStatus::Completed,
                duration_secs: Some(30),
                sequence: Some(3),
            },
        ];
        for record in records {
            storage.apply(record).await.unwrap();
        }
    }

    fn policy(days: i64) -> RetentionPolicy {
        RetentionPolicy {
            recordings: Duration::days(days),
            notes: Duration::days(days),
            caller_hashes: Duration::days(days),
        }
    }

    #[tokio::test]
    async fn old_personal_data_goes_held_and_recent_cases_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::open(&dir.path().join("h.db"), StorageOptions::for_tests()).await.unwrap();
        let author = storage
            .add_person(
                NewPerson {
                    name: "anna".into(),
                    role: crate::domain::people::Role::Operator,
                    languages: vec![crate::scripts::LanguageTag::parse("ru").unwrap()],
                    password_hash: None,
                    pin_hash: None,
                },
                Utc::now(),
            )
            .await
            .unwrap();
        for (n, day) in [(1, 0), (2, 0), (3, 50)] {
            voicemail_call(&storage, n, day).await;
        }
        let number = |n: u32| CaseNumber { year: 2026, sequence: n };
        for n in 1..=3 {
            let text = NoteText::parse("met at the bridge").unwrap();
            storage.add_note(number(n), author.id, text, at(1)).await.unwrap();
        }
        assert_eq!(storage.set_legal_hold(number(2), true).await.unwrap(), Some(true));
        assert_eq!(storage.set_legal_hold(number(2), true).await.unwrap(), Some(false));
        assert_eq!(storage.set_legal_hold(number(9), true).await.unwrap(), None);

        let dry = storage.purge(policy(30), at(40), true).await.unwrap();
        assert_eq!((dry.recordings, dry.notes, dry.caller_hashes, dry.held), (1, 1, 1, 1));
        assert!(!dry.compacted);
        let again = storage.purge(policy(30), at(40), true).await.unwrap();
        assert_eq!(again, dry, "a dry run changes nothing");

        let done = storage.purge(policy(30), at(40), false).await.unwrap();
        let kept_from = "2026-01".to_owned();
        assert_eq!(
            done,
            PurgeReport {
                compacted: true,
                recording_keys_from: kept_from.clone(),
                note_keys_from: kept_from,
                ..dry
            }
        );
        let shredded = storage.case(number(1)).await.unwrap().unwrap();
        assert_eq!((shredded.caller, shredded.recording_url), (None, None));
        let answers: Vec<&Event> = shredded
            .events
            .iter()
            .map(|e| &e.event)
            .filter(|e| matches!(e, Event::AskAnswered { .. }))
            .collect();
        assert!(
            matches!(
                answers[..],
                [Event::AskAnswered { recording_url: None, duration_secs: Some(4), .. }]
            ),
            "a spoken answer is a recording too: {answers:?}"
        );
        assert_eq!(shredded.outcome, crate::domain::cases::Outcome::Voicemail, "statistics stay");
        let work = storage.case_work(number(1)).await.unwrap().unwrap();
        assert!(work.notes.iter().all(|n| n.text == SHREDDED_NOTE), "{:?}", work.notes);
        for n in [2, 3] {
            let kept = storage.case(number(n)).await.unwrap().unwrap();
            assert!(kept.caller.is_some() && kept.recording_url.is_some(), "case {n}");
            let answer = kept.events.iter().any(|e| {
                matches!(&e.event, Event::AskAnswered { recording_url: Some(url), .. } if url.contains("RE-unit"))
            });
            assert!(answer, "case {n} keeps its answer");
        }
        // A late write to the shredded case does not bring the URL back from its event.
        storage
            .apply(Record::Status {
                call_sid: sid(1),
                at: at(41),
                status: CallStatus::Completed,
                duration_secs: Some(31),
                sequence: Some(4),
            })
            .await
            .unwrap();
        assert_eq!(storage.case(number(1)).await.unwrap().unwrap().recording_url, None);
        // Nor does the call's start, replayed late from a journal, bring the caller's hash.
        storage
            .apply(Record::CallStarted {
                call_sid: sid(1),
                at: at(0),
                caller: Some(CallerHash("ff".repeat(32))),
                country: None,
            })
            .await
            .unwrap();
        assert_eq!(storage.case(number(1)).await.unwrap().unwrap().caller, None);
        assert!(storage.purge(policy(30), at(40), false).await.unwrap().is_empty());
    }

    /// A callback request by caller `n` on `day`, after the call itself started.
    async fn callback_call(storage: &Storage, n: u32, day: i64) {
        let records = [
            Record::CallStarted { call_sid: sid(n), at: at(day), caller: None, country: None },
            callback_request(n, day),
        ];
        for record in records {
            storage.apply(record).await.unwrap();
        }
    }

    fn callback_request(n: u32, day: i64) -> Record {
        Record::Callback {
            call_sid: sid(n),
            step: 4,
            at: at(day),
            events: vec![Event::CallbackRequested { hint: "…67".into() }],
            sealed: format!("sealed-number-{n}"),
            hint: "…67".into(),
        }
    }

    #[tokio::test]
    async fn a_callback_number_goes_once_nobody_will_call_it() {
        if crate::storage::conformance::sqlite_file_only("it scans the file for the number") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::open(&dir.path().join("h.db"), StorageOptions::for_tests()).await.unwrap();
        let operator = storage
            .add_person(
                NewPerson {
                    name: "olga".into(),
                    role: crate::domain::people::Role::Operator,
                    languages: vec![crate::scripts::LanguageTag::parse("ru").unwrap()],
                    password_hash: None,
                    pin_hash: None,
                },
                Utc::now(),
            )
            .await
            .unwrap();
        // 1: old and never called back; 2: recent, called back and reached; 3: recent, open.
        for (n, day) in [(1, 0), (2, 35), (3, 35)] {
            callback_call(&storage, n, day).await;
        }
        let list = storage.follow_ups(false).await.unwrap();
        let id_of = |n: u32| {
            let case = CaseNumber { year: 2026, sequence: n };
            list.iter().find(|f| f.case == case).unwrap().id
        };
        let reached = id_of(2);
        storage.take_follow_up(reached, operator.id, None, at(36)).await.unwrap().unwrap();
        storage
            .record_attempt(
                reached,
                operator.id,
                crate::domain::followups::AttemptResult::Reached,
                3,
                at(36),
            )
            .await
            .unwrap()
            .unwrap();

        let dry = storage.purge(policy(30), at(40), true).await.unwrap();
        assert_eq!(dry.callback_numbers, 2, "{dry:?}");
        storage.purge(policy(30), at(40), false).await.unwrap();
        let sealed = |n: u32| {
            let storage = &storage;
            let id = id_of(n);
            async move { storage.sealed_number(id).await.unwrap().unwrap().1 }
        };
        assert_eq!(sealed(1).await, None, "old");
        assert_eq!(sealed(2).await, None, "closed");
        assert_eq!(sealed(3).await.as_deref(), Some("sealed-number-3"), "still to be called");

        // The request, replayed late from a journal, does not put the number back.
        storage.apply(callback_request(1, 0)).await.unwrap();
        assert_eq!(sealed(1).await, None);
        let bytes = std::fs::read(dir.path().join("h.db")).unwrap();
        let found = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(!found(b"sealed-number-1") && !found(b"sealed-number-2"));
        assert!(!found(b"sealed-number-3"), "what is kept is sealed under its month's key too");
        assert!(found(b"dk1.r.202602."), "the scan can see the kept number's sealed form");
    }
}
