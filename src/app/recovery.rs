//! The recovery of lost calls: cases left open because their final status callback never
//! came.
//!
//! The provider sends a call's final status once. If the call ends while the server is down,
//! that callback is lost and the case would stay open for ever. A call cannot stay silent
//! for long, though: while the caller is in the IVR each key is a webhook, a wait in the
//! queue ends after `queues.max_wait_secs`, and a conversation with an operator after
//! `queues.max_conversation_secs`. So a case with no end that nothing has been heard of for
//! longer than both, plus the provider's webhook timeout, is closed: status `lost`, and a
//! `status-lost` event on its timeline. This runs at start and then periodically.
//!
//! The mark is a correction waiting to happen: a final status that arrives afterwards
//! replaces it (storage's status ordering), and the event stays to say it happened. The
//! recovery skips a round while the journal holds records: they may be the very events
//! that show a call is alive.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::domain::cases::{CallStatus, Event, Record};
use crate::storage::{Recorder, Storage, StorageError};

/// The step the `status-lost` event is stored under: above the script's steps, the
/// fallback's (1 000 000 000 +) and the emergency answer's (2 000 000 000), so it never
/// takes a webhook's place, and a second recovery of the same call is a no-op.
pub const RECOVERY_STEP: u32 = 3_000_000_000;

/// The provider's limit on a webhook: a request still in flight can be that much older.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest time between two rounds.
const MAX_PERIOD: Duration = Duration::from_secs(300);

/// How long a real call can stay silent: the longest queue wait, then the longest
/// conversation, then a webhook in flight.
pub fn silence_bound(config: &Config) -> Duration {
    Duration::from_secs(config.queues.max_wait_secs)
        + Duration::from_secs(config.queues.max_conversation_secs)
        + WEBHOOK_TIMEOUT
}

/// How often the recovery runs: a quarter of the bound, at most every five minutes, so a
/// lost call is closed at most that long after it is due.
pub fn period(bound: Duration) -> Duration {
    (bound / 4).clamp(Duration::from_secs(1), MAX_PERIOD)
}

/// Closes the calls silent for longer than `bound` at `now`. Returns how many were closed.
pub async fn close_lost_calls(
    storage: &Storage,
    bound: Duration,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let bound = chrono::Duration::from_std(bound).unwrap_or(chrono::Duration::MAX);
    let cutoff = now.checked_sub_signed(bound).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let silent = storage.silent_open_calls(cutoff).await?;
    for call in &silent {
        let silent_secs = u64::try_from((now - call.last_heard).num_seconds()).unwrap_or(0);
        // The event first: if the status then fails, the next round finds the case still
        // open and writes the status; the event's step makes its second write a no-op.
        storage
            .apply(Record::Step {
                call_sid: call.call_sid.clone(),
                step: RECOVERY_STEP,
                at: now,
                events: vec![Event::StatusLost { silent_secs }],
            })
            .await?;
        storage
            .apply(Record::Status {
                call_sid: call.call_sid.clone(),
                at: now,
                status: CallStatus::Lost,
                duration_secs: None,
                sequence: None,
            })
            .await?;
    }
    Ok(silent.len())
}

/// Runs the recovery now and then every [`period`] of `bound`, while the task lives.
pub fn spawn(storage: Storage, recorder: Recorder, bound: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period(bound));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let pending = recorder.pending().await;
            if pending > 0 {
                tracing::debug!(pending, "lost-call recovery waits for the journal's replay");
                continue;
            }
            match close_lost_calls(&storage, bound, Utc::now()).await {
                Ok(0) => {}
                Ok(closed) => tracing::warn!(
                    closed,
                    "closed calls whose final status callback never came (status lost)"
                ),
                Err(error) => {
                    tracing::warn!(%error, "lost-call recovery failed; it retries next round")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::cases::CallSid;
    use crate::storage::StorageOptions;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap()
    }

    fn sid(n: u32) -> CallSid {
        CallSid::parse(&format!("CA{n:032}")).unwrap()
    }

    fn status(n: u32, status: CallStatus, secs: i64, sequence: Option<u32>) -> Record {
        Record::Status { call_sid: sid(n), at: at(secs), status, duration_secs: Some(7), sequence }
    }

    async fn storage_with_calls(dir: &tempfile::TempDir, calls: u32) -> Storage {
        let storage =
            Storage::open(&dir.path().join("cases.db"), StorageOptions::for_tests()).await.unwrap();
        for n in 0..calls {
            let record =
                Record::CallStarted { call_sid: sid(n), at: at(0), caller: None, country: None };
            storage.apply(record).await.unwrap();
        }
        storage
    }

    async fn status_of(storage: &Storage, n: u32) -> Option<CallStatus> {
        storage.case_by_call(&sid(n)).await.unwrap().unwrap().status
    }

    #[test]
    fn the_bound_is_the_longest_wait_and_conversation_and_a_webhook() {
        let mut config = Config::default();
        config.queues.max_wait_secs = 600;
        config.queues.max_conversation_secs = 3600;
        assert_eq!(silence_bound(&config), Duration::from_secs(4215));
        assert_eq!(period(silence_bound(&config)), MAX_PERIOD);
        assert_eq!(period(Duration::from_secs(16)), Duration::from_secs(4));
        assert_eq!(period(Duration::ZERO), Duration::from_secs(1));
    }

    #[test]
    fn the_provider_cannot_claim_a_call_lost() {
        assert_eq!(CallStatus::parse("lost"), None);
        assert_eq!(CallStatus::from_stored("lost"), Some(CallStatus::Lost));
        assert!(CallStatus::Lost.is_final());
    }

    #[tokio::test]
    async fn only_calls_silent_past_the_bound_are_closed_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_with_calls(&dir, 3).await;
        // Call 1 ended; call 2 was heard of at 100 s.
        storage.apply(status(1, CallStatus::Completed, 50, Some(2))).await.unwrap();
        storage.apply(status(2, CallStatus::InProgress, 100, Some(1))).await.unwrap();
        let bound = Duration::from_secs(60);
        assert_eq!(close_lost_calls(&storage, bound, at(90)).await.unwrap(), 1);
        assert_eq!(status_of(&storage, 0).await, Some(CallStatus::Lost));
        assert_eq!(status_of(&storage, 1).await, Some(CallStatus::Completed));
        assert_eq!(status_of(&storage, 2).await, Some(CallStatus::InProgress));
        // Again later: call 2 is now due, call 0 is not closed a second time.
        assert_eq!(close_lost_calls(&storage, bound, at(161)).await.unwrap(), 1);
        let lost = storage.case_by_call(&sid(0)).await.unwrap().unwrap();
        assert_eq!(lost.ended_at, Some(at(90)));
        let marks: Vec<_> = lost.events.iter().map(|e| (e.step, e.event.clone())).collect();
        assert_eq!(marks, vec![(RECOVERY_STEP, Event::StatusLost { silent_secs: 90 })]);
    }

    #[tokio::test]
    async fn the_provider_s_final_status_replaces_the_mark_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_with_calls(&dir, 2).await;
        close_lost_calls(&storage, Duration::from_secs(10), at(20)).await.unwrap();
        // A stale non-final status does not reopen the case.
        storage.apply(status(0, CallStatus::Ringing, 30, Some(0))).await.unwrap();
        assert_eq!(status_of(&storage, 0).await, Some(CallStatus::Lost));
        // The final one, with or without a sequence, corrects it.
        storage.apply(status(0, CallStatus::Completed, 40, Some(3))).await.unwrap();
        storage.apply(status(1, CallStatus::Canceled, 40, None)).await.unwrap();
        let corrected = storage.case_by_call(&sid(0)).await.unwrap().unwrap();
        assert_eq!(
            (corrected.status, corrected.duration_secs, corrected.ended_at),
            (Some(CallStatus::Completed), Some(7), Some(at(40)))
        );
        assert_eq!(status_of(&storage, 1).await, Some(CallStatus::Canceled));
        // A mark that races with a real final status never overwrites it.
        let mark = Record::Status {
            call_sid: sid(0),
            at: at(50),
            status: CallStatus::Lost,
            duration_secs: None,
            sequence: None,
        };
        storage.apply(mark).await.unwrap();
        assert_eq!(status_of(&storage, 0).await, Some(CallStatus::Completed));
    }
}
