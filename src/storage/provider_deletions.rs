//! The SQL of what must still be deleted at the telephony provider (`provider_deletions`):
//! the recordings whose addresses retention shredded, queued in the purge's transaction
//! ([`queue_shredded_recordings`]), then taken, marked done or retried later by the
//! provider's upkeep. Only the recording's id is kept (see `domain/recording.rs`).

use super::engine::{Connection, params};
use chrono::{DateTime, Utc};

use super::sqlite::{db_time, decode_time};
use super::{Storage, StorageError};
use crate::domain::data_keys::DataKeys;
use crate::domain::recording::RecordingSid;

/// A recording still to be deleted at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDeletion {
    /// Its id at the provider.
    pub sid: RecordingSid,
    /// Requests tried so far.
    pub attempts: u32,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
}

impl Storage {
    /// The recordings whose deletion is due at `now`, at most `limit`, longest waiting first.
    #[tracing::instrument(skip(self))]
    pub async fn due_recording_deletions(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingDeletion>, StorageError> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT sid, attempts, queued_at FROM provider_deletions
                 WHERE kind = 'recording' AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at, id LIMIT ?2",
            )?;
            let rows = statement.query_map(params![db_time(now), limit], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?, row.get::<_, String>(2)?))
            })?;
            let mut due = Vec::new();
            for row in rows {
                let (sid, attempts, queued_at) = row?;
                // The table's check keeps the length; the shape was checked when queued.
                let sid = RecordingSid::parse(&sid)
                    .ok_or_else(|| StorageError::Data(format!("stored recording id {sid:?}")))?;
                due.push(PendingDeletion { sid, attempts, queued_at: decode_time(&queued_at)? });
            }
            Ok(due)
        })
        .await
    }

    /// Recording `sid` is deleted at the provider (or was not there): forgotten.
    #[tracing::instrument(skip(self))]
    pub async fn recording_deleted(&self, sid: RecordingSid) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM provider_deletions WHERE kind = 'recording' AND sid = ?1",
            )?
            .execute([sid.as_str()])?;
            Ok(())
        })
        .await
    }

    /// A request to delete recording `sid` failed: tried again at `next`.
    #[tracing::instrument(skip(self))]
    pub async fn recording_deletion_failed(
        &self,
        sid: RecordingSid,
        next: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE provider_deletions SET attempts = attempts + 1, next_attempt_at = ?2
                 WHERE kind = 'recording' AND sid = ?1",
            )?
            .execute(params![sid.as_str(), db_time(next)])?;
            Ok(())
        })
        .await
    }

    /// How many recordings wait to be deleted at the provider.
    #[tracing::instrument(skip(self))]
    pub async fn recording_deletions_waiting(&self) -> Result<u64, StorageError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT COUNT(*) FROM provider_deletions WHERE kind = 'recording'")?
                .query_row((), |row| row.get(0))?)
        })
        .await
    }
}

/// Queues for deletion at the provider every recording of the cases whose recordings a purge
/// shreds (not under legal hold, their data starting to age before `cutoff`), as of `now`;
/// run in the purge's transaction before the addresses are blanked. Addresses that name no
/// recording of the provider's (another provider's, a test's) are skipped. Returns how many
/// were queued.
pub(super) fn queue_shredded_recordings(
    conn: &Connection,
    keys: &DataKeys,
    cutoff: &str,
    now: &str,
) -> Result<usize, StorageError> {
    let due_cases = "SELECT c.id FROM cases c WHERE c.legal_hold = 0
                       AND COALESCE(c.ended_at, c.started_at) < ?1";
    let addresses = format!(
        "SELECT json_extract(e.detail, '$.recording_url') FROM case_events e
          WHERE e.kind IN ('voicemail', 'ask-answered') AND e.case_id IN ({due_cases})
            AND json_extract(e.detail, '$.recording_url') <> ''
         UNION SELECT c.recording_url FROM cases c
          WHERE c.recording_url IS NOT NULL AND c.id IN ({due_cases})
         UNION SELECT f.recording_url FROM follow_ups f
          WHERE f.recording_url IS NOT NULL AND f.case_id IN ({due_cases})"
    );
    let urls: Vec<String> = conn
        .prepare(&addresses)?
        .query_map([cutoff], |row| row.get::<_, Option<String>>(0))?
        .filter_map(Result::transpose)
        .collect::<Result<_, _>>()?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO provider_deletions (kind, sid, queued_at, next_attempt_at)
         VALUES ('recording', ?1, ?2, ?2) ON CONFLICT (kind, sid) DO NOTHING",
    )?;
    let mut queued = 0;
    // Opened here (they are sealed), and queued in the order of their ids.
    let mut sids: Vec<RecordingSid> = urls
        .iter()
        .filter_map(|stored| super::sealing::open(keys, stored))
        .filter_map(|url| RecordingSid::in_url(&url))
        .collect();
    sids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    for sid in sids {
        queued += insert.execute(params![sid.as_str(), now])?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::cases::{CallSid, CallStatus, CaseNumber, Event, Record};
    use crate::domain::retention::RetentionPolicy;
    use crate::storage::StorageOptions;

    fn at(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::days(day)
    }

    fn recording(n: u32) -> String {
        format!("RE{n:032x}")
    }

    fn url(n: u32) -> String {
        format!("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{}", recording(n))
    }

    /// Call `n` on `day`, with a voicemail and a spoken answer at these addresses.
    async fn call(storage: &Storage, n: u32, day: i64, voicemail: String, answer: Option<String>) {
        let call_sid = CallSid::parse(&format!("CA{n:032x}")).unwrap();
        let records = [
            Record::CallStarted {
                call_sid: call_sid.clone(),
                at: at(day),
                caller: None,
                country: None,
            },
            Record::Step {
                call_sid: call_sid.clone(),
                step: 1,
                at: at(day),
                events: vec![
                    Event::AskAnswered {
                        node: crate::scripts::NodeId::parse("unit").unwrap(),
                        var: "unit".into(),
                        recording_url: answer,
                        duration_secs: Some(4),
                    },
                    Event::Voicemail { recording_url: voicemail, duration_secs: Some(9) },
                ],
            },
            Record::Status {
                call_sid,
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

    fn sids(due: &[PendingDeletion]) -> Vec<String> {
        due.iter().map(|pending| pending.sid.to_string()).collect()
    }

    #[tokio::test]
    async fn a_purge_queues_the_provider_recordings_it_shreds_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::open(&dir.path().join("h.db"), StorageOptions::for_tests()).await.unwrap();
        let policy = RetentionPolicy {
            recordings: Duration::days(90),
            notes: Duration::days(3650),
            caller_hashes: Duration::days(3650),
        };
        // A purge without the provider's account keeps no id of what it shreds.
        call(&storage, 6, 0, url(6), None).await;
        storage.purge(policy, at(100), false).await.unwrap();
        assert_eq!(storage.recording_deletions_waiting().await.unwrap(), 0);
        // Old: a voicemail and a spoken answer; the same voicemail twice; another
        // provider's address; one under legal hold; and a recent call.
        call(&storage, 1, 0, url(1), Some(url(2))).await;
        call(&storage, 2, 0, url(1), None).await;
        call(&storage, 3, 0, "https://rec.example/RE-x".into(), None).await;
        call(&storage, 4, 0, url(4), None).await;
        call(&storage, 5, 200, url(5), None).await;
        // The fifth case of the year (the call of the purge above was the first).
        let held = CaseNumber { year: 2026, sequence: 5 };
        assert_eq!(storage.set_legal_hold(held, true).await.unwrap(), Some(true));

        storage.purge_deleting_at_provider(policy, at(100), true).await.unwrap();
        assert!(storage.due_recording_deletions(at(100), 10).await.unwrap().is_empty(), "dry run");
        storage.purge_deleting_at_provider(policy, at(100), false).await.unwrap();
        storage.purge_deleting_at_provider(policy, at(101), false).await.unwrap();

        let due = storage.due_recording_deletions(at(100), 10).await.unwrap();
        assert_eq!(sids(&due), [recording(1), recording(2)]);
        assert_eq!(storage.recording_deletions_waiting().await.unwrap(), 2);
        assert!(due.iter().all(|pending| pending.attempts == 0 && pending.queued_at == at(100)));

        // A failure waits; a deletion done is forgotten.
        let (first, second) = (due[0].sid.clone(), due[1].sid.clone());
        storage.recording_deletion_failed(first.clone(), at(102)).await.unwrap();
        storage.recording_deleted(second).await.unwrap();
        assert!(storage.due_recording_deletions(at(101), 10).await.unwrap().is_empty());
        let again = storage.due_recording_deletions(at(102), 10).await.unwrap();
        assert_eq!((sids(&again), again[0].attempts), (vec![recording(1)], 1));
        assert_eq!(storage.due_recording_deletions(at(102), 0).await.unwrap(), Vec::new());
        storage.recording_deleted(first).await.unwrap();
        assert_eq!(storage.recording_deletions_waiting().await.unwrap(), 0);
    }
}
