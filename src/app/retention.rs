//! Retention: personal data is shredded for good after the periods of `[retention]`, on a
//! schedule inside the server and on demand with `hotline purge`; a case under legal hold is
//! exempt. The SQL, and why the shredding leaves no copy on the disk, is in
//! `storage/retention.rs`; `docs/security.md` says what is kept and why.

use std::time::Duration as StdDuration;

use chrono::Duration;

use crate::app::{Actor, App, AppError, Clock};
use crate::config::RetentionConfig;
use crate::domain::audit::AuditAction;
use crate::domain::retention::{PurgeReport, RetentionPolicy};
use crate::storage::{AuditEntry, Storage};

/// The policy of the configuration.
pub fn policy(config: &RetentionConfig) -> RetentionPolicy {
    // Validated to at most 36 500 days, so the conversions cannot overflow.
    let days = |d: u64| Duration::days(i64::try_from(d).unwrap_or(36_500));
    RetentionPolicy {
        recordings: days(config.recordings_days),
        notes: days(config.notes_days),
        caller_hashes: days(config.caller_hashes_days),
    }
}

/// One line for a person or a log: what went (or would go).
pub fn describe(report: &PurgeReport) -> String {
    format!(
        "{} recording URL(s), {} note(s), {} chat message(s), {} caller hash(es), {} expired \
         blocklist entr(y/ies), {} callback number(s); {} case(s) under legal hold kept{}",
        report.recordings,
        report.notes,
        report.messages,
        report.caller_hashes,
        report.blocklist_entries,
        report.callback_numbers,
        report.held,
        if report.recording_keys_from.is_empty() {
            String::new()
        } else {
            format!(
                "; data keys kept from {} (recordings, numbers) and {} (notes, messages)",
                report.recording_keys_from, report.note_keys_from
            )
        }
    )
}

impl App {
    /// Shreds what is past its retention period now (supervisors and the terminal; with
    /// `dry_run`, only counts it): audited (`retention.purge`) unless a dry run.
    pub async fn purge(&self, actor: &Actor, dry_run: bool) -> Result<PurgeReport, AppError> {
        actor.require_supervisor()?;
        let policy = policy(&self.config().retention);
        let storage = self.storage();
        let report = if self.provider().is_some() {
            storage.purge_deleting_at_provider(policy, self.now(), dry_run).await?
        } else {
            storage.purge(policy, self.now(), dry_run).await?
        };
        if !dry_run {
            self.audit(actor, AuditAction::RetentionPurge, None, describe(&report)).await?;
        }
        Ok(report)
    }
}

/// Runs the purge every `config.purge_every_mins` minutes (first a minute after start, so a
/// restart loop cannot keep the database busy), until the task is aborted; with
/// `at_provider`, queueing the deletion of the shredded recordings at the provider. `None`
/// when the schedule is off.
pub fn spawn_schedule(
    storage: Storage,
    clock: Clock,
    config: &RetentionConfig,
    at_provider: bool,
) -> Option<tokio::task::JoinHandle<()>> {
    if config.purge_every_mins == 0 {
        return None;
    }
    let every = StdDuration::from_secs(config.purge_every_mins * 60);
    let policy = policy(config);
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + StdDuration::from_secs(60).min(every),
            every,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let purged = if at_provider {
                storage.purge_deleting_at_provider(policy, clock.now(), false).await
            } else {
                storage.purge(policy, clock.now(), false).await
            };
            match purged {
                Ok(report) if report.is_empty() => {
                    tracing::debug!("retention purge: nothing due");
                }
                Ok(report) => {
                    let summary = describe(&report);
                    tracing::info!("retention purge shredded {summary}");
                    let entry = AuditEntry {
                        actor: None,
                        action: AuditAction::RetentionPurge,
                        case: None,
                        detail: format!("schedule {summary}"),
                        at: clock.now(),
                    };
                    if let Err(error) = storage.audit(entry).await {
                        tracing::error!(%error, "the purge could not be audited");
                    }
                }
                // The line goes on; the data is shredded at the next run.
                Err(error) => tracing::error!(%error, "retention purge failed"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    use crate::domain::audit::AuditFilter;
    use crate::domain::cases::{CallSid, CallerHash, Record};
    use crate::storage::StorageOptions;

    /// Awaits `work` (a read, answered by the reader's thread) without letting the paused
    /// clock move: a runtime with nothing to do jumps its paused clock to the next timer, here
    /// the purge's first run, while the read is still on its way.
    async fn clock_held<F: Future>(work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        loop {
            let ready = std::future::poll_fn(|cx| std::task::Poll::Ready(work.as_mut().poll(cx)));
            if let std::task::Poll::Ready(output) = ready.await {
                return output;
            }
            // Busy, so never idle: the clock stays where it is.
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_server_purges_on_its_schedule_and_audits_it() {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::open(&dir.path().join("h.db"), StorageOptions::for_tests()).await.unwrap();
        let sid = CallSid::parse(&format!("CA{:032x}", 7)).unwrap();
        let long_ago = Utc::now() - Duration::days(400);
        let caller = Some(CallerHash("ab".repeat(32)));
        storage
            .apply(Record::CallStarted {
                call_sid: sid.clone(),
                at: long_ago,
                caller,
                country: None,
            })
            .await
            .unwrap();
        let config = RetentionConfig { purge_every_mins: 5, ..RetentionConfig::default() };
        assert!(
            spawn_schedule(
                storage.clone(),
                Clock::system(),
                &RetentionConfig { purge_every_mins: 0, ..config.clone() },
                false,
            )
            .is_none()
        );
        let schedule = spawn_schedule(storage.clone(), Clock::system(), &config, false).unwrap();

        // Not before the first run, a minute after start.
        tokio::time::sleep(StdDuration::from_secs(50)).await;
        let case = clock_held(storage.case_by_call(&sid)).await.unwrap().unwrap();
        assert!(case.caller.is_some());
        tokio::time::sleep(StdDuration::from_secs(11)).await;
        let mut purged = false;
        for _ in 0..500 {
            if storage.case_by_call(&sid).await.unwrap().unwrap().caller.is_none() {
                purged = true;
                break;
            }
            // The purge runs on the blocking pool, in real time.
            std::thread::sleep(StdDuration::from_millis(10));
            tokio::task::yield_now().await;
        }
        assert!(purged, "the scheduled purge shredded the old caller hash");
        let filter = AuditFilter {
            case: None,
            actor: None,
            action: Some("retention.purge".into()),
            limit: 10,
        };
        let mut audited = Vec::new();
        for _ in 0..500 {
            audited = storage.audit_log(filter.clone()).await.unwrap();
            if !audited.is_empty() {
                break;
            }
            std::thread::sleep(StdDuration::from_millis(10));
            tokio::task::yield_now().await;
        }
        assert_eq!(audited.len(), 1);
        assert!(audited[0].detail.starts_with("schedule 0 recording"), "{}", audited[0].detail);
        assert!(audited[0].actor_id.is_none());
        schedule.abort();
    }
}
