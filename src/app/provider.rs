//! The provider's REST side, as the use cases need it: the callers' own queues deleted once
//! left, a voicemail played through the server, and recordings deleted at the provider when
//! retention shreds their addresses.
//!
//! - **Queues.** Each caller waits in a queue of their own (`c-2026-000042-17`, see
//!   `queues/`), which the provider keeps for ever unless it is deleted. When the Enqueue
//!   action says a caller left ([`App::forget_queue`]), their queue is read and, if it is a
//!   caller's own and empty, deleted: in a task of its own, so the caller's answer never
//!   waits for it. What that misses (an action lost, the provider briefly down) the sweep
//!   ([`App::sweep_queues`]) finds: every empty caller's queue older than [`SWEEP_AFTER`].
//!   The shared queues of each language (`ru`) are never deleted.
//! - **Recordings.** The console plays a recording through [`App::play_recording`]: the
//!   person's right to the case checked and the play audited, then the audio streamed from
//!   the provider with the account's credentials, so the provider's address never reaches a
//!   browser. A purge (with an account) queues the deletion of each shredded recording in its
//!   own transaction (`storage/provider_deletions.rs`); [`App::delete_shredded_recordings`]
//!   deletes them,
//!   retrying with a growing wait while the provider fails; a recording already gone counts
//!   as deleted.
//! - **Without an account** (`[provider]` empty) calls are answered as ever: queues stay at
//!   the provider, the console says where a recording is instead of playing it, and a purge
//!   shreds only the recordings' addresses (queueing no id it could not use). The start says
//!   so once.
//!
//! The upkeep ([`App::spawn_provider_upkeep`]) runs the deletions every minute and the sweep
//! every ten.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::casework::require_staff;
use crate::app::secrets::Secrets;
use crate::app::{Actor, App, AppError};
use crate::config::ProviderConfig;
use crate::domain::audit::AuditAction;
use crate::domain::cases::CaseNumber;
use crate::domain::recording::RecordingSid;
use crate::twilio::account::{Account, ApiError, Deleted, Media};
use crate::twilio::queues::QueuesApi;
use crate::twilio::recordings::RecordingsApi;

/// How often the upkeep runs the recordings' deletions.
const UPKEEP_EVERY: Duration = Duration::from_secs(60);
/// The queues are swept every this many rounds of the upkeep (ten minutes).
const SWEEP_EVERY_ROUNDS: u32 = 10;
/// A caller's queue found empty is deleted by the sweep once this old: by then its caller
/// has long been taken or left (a queue is made at the moment its caller is put in it).
pub const SWEEP_AFTER: TimeDelta = TimeDelta::minutes(15);
/// The most pages of queues one sweep reads (a thousand queues each).
const SWEEP_PAGES: usize = 20;
/// The most recordings one round deletes.
const DELETIONS_PER_ROUND: u32 = 200;
/// The first wait after a failed deletion; it doubles with each failure, up to the cap.
const RETRY_FIRST: TimeDelta = TimeDelta::minutes(1);
/// The longest wait between two tries of a deletion.
const RETRY_MAX: TimeDelta = TimeDelta::hours(6);
/// The size of each piece of audio passed on to the browser.
const CHUNK_BYTES: usize = 64 * 1024;
/// The most queues being deleted at once behind webhooks: a burst of callers leaving never
/// ties up more of the blocking threads the database also reads on; the sweep deletes what
/// is skipped.
const QUEUE_DELETIONS_AT_ONCE: usize = 4;
/// What the console says where it cannot play a recording.
pub const NOT_PLAYABLE: &str =
    "the recording is at the provider; configure [provider] to play it here";

/// The provider's REST API as `config` and `secrets` name it: the account's auth token, or
/// its API key when one is configured. `None` without an account, or with an API key whose
/// secret is missing (said in the log: the start refuses that, but the hotline is also opened
/// by tools).
pub(crate) fn account(config: &ProviderConfig, secrets: &Secrets) -> Option<Account> {
    if !config.has_account() {
        return None;
    }
    let base = config.api_base();
    if !config.has_api_key() {
        return Some(Account::new(base, &config.account_sid, &secrets.auth_token));
    }
    match &secrets.provider_api_secret {
        Some(secret) => {
            Some(Account::with_api_key(base, &config.account_sid, &config.api_key_sid, secret))
        }
        None => {
            tracing::error!(
                "[provider] api_key_sid is set but HOTLINE_PROVIDER_API_SECRET is not: the \
                 provider's REST API is not called"
            );
            None
        }
    }
}

/// The queues' deletions under way behind webhooks, at most [`QUEUE_DELETIONS_AT_ONCE`].
#[derive(Debug, Clone)]
pub(crate) struct InFlight(Arc<tokio::sync::Semaphore>);

impl Default for InFlight {
    fn default() -> Self {
        InFlight(Arc::new(tokio::sync::Semaphore::new(QUEUE_DELETIONS_AT_ONCE)))
    }
}

/// A recording's audio on its way from the provider.
#[derive(Debug)]
pub struct Recording {
    /// Its media type, as the provider gave it (`audio/mpeg`).
    pub content_type: String,
    /// Its length in bytes, when the provider gave it.
    pub length: Option<u64>,
    /// The audio, piece by piece; an error cuts it short (the provider failed mid-way).
    pub chunks: mpsc::Receiver<std::io::Result<Vec<u8>>>,
}

/// What one sweep of the provider's queues did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSweep {
    /// Queues read.
    pub seen: usize,
    /// Callers' queues deleted (or found gone).
    pub deleted: usize,
    /// Deletions that failed (tried again at the next sweep).
    pub failed: usize,
}

/// What one round of the recordings' deletions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletionRound {
    /// Recordings deleted at the provider (or found gone).
    pub deleted: usize,
    /// Recordings whose deletion failed, to be tried again later.
    pub failed: usize,
}

impl App {
    /// Whether recordings can be played through the server: an account is configured.
    pub fn recordings_playable(&self) -> bool {
        self.provider().is_some()
    }

    /// The voicemail of case `number`, for an operator or supervisor who may see the case:
    /// the play is audited (`recording.play`) once the provider has started answering, and
    /// the audio comes as it arrives. The same "not found" for a case out of reach as for
    /// none (and that refusal audited `case.refused`).
    pub async fn play_recording(
        &self,
        actor: &Actor,
        number: CaseNumber,
    ) -> Result<Recording, AppError> {
        require_staff(actor)?;
        self.in_reach(actor, number, "recording.play").await?;
        let case = self.storage().case(number).await?;
        let sid = case
            .and_then(|case| case.recording_url)
            .and_then(|url| RecordingSid::in_url(&url))
            .ok_or_else(|| AppError::NotFound(format!("case {number} has no recording")))?;
        let account = self.provider().ok_or_else(|| AppError::NotFound(NOT_PLAYABLE.into()))?;
        let recordings = RecordingsApi::new(Arc::clone(account));
        let fetched = tokio::task::spawn_blocking(move || recordings.audio(&sid)).await;
        let media = match fetched.map_err(|e| AppError::Internal(Box::new(e)))? {
            Ok(media) => media,
            Err(ApiError::Refused { status: 404, .. }) => {
                return Err(AppError::NotFound(format!(
                    "the recording of case {number} is no longer at the provider"
                )));
            }
            Err(error) => {
                tracing::warn!(%error, case = %number, "the provider did not give a recording");
                return Err(AppError::Internal(Box::new(error)));
            }
        };
        self.audit(actor, AuditAction::RecordingPlay, Some(number), "voicemail".into()).await?;
        Ok(pass_on(media))
    }

    /// A caller left the queue `queue_sid` (the Enqueue action's `QueueSid`): if it is a
    /// caller's own and now empty, it is deleted at the provider, in the background. Nothing
    /// is requested for a value that is not a queue's id, or without an account.
    pub fn forget_queue(&self, queue_sid: Option<&str>) {
        let Some(account) = self.provider() else { return };
        let Some(sid) = queue_sid.filter(|sid| crate::twilio::queues::is_queue_sid(sid)) else {
            return;
        };
        let Ok(permit) = Arc::clone(&self.inner.queue_deletions.0).try_acquire_owned() else {
            tracing::debug!("queue deletions busy; the sweep deletes this one");
            return;
        };
        let (queues, sid) = (QueuesApi::new(Arc::clone(account)), sid.to_owned());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let queue = match queues.fetch(&sid) {
                Ok(Some(queue)) => queue,
                Ok(None) => return,
                Err(error) => {
                    tracing::info!(%error, "a left queue could not be read; the sweep retries");
                    return;
                }
            };
            if !is_callers_queue(&queue.friendly_name) || queue.current_size > 0 {
                return;
            }
            match queues.delete(&sid) {
                Some(Ok(_)) => tracing::debug!("a caller's queue deleted at the provider"),
                Some(Err(error)) => {
                    tracing::info!(%error, "a left queue could not be deleted; the sweep retries");
                }
                None => {}
            }
        });
    }

    /// Deletes every caller's queue at the provider that is empty and older than
    /// [`SWEEP_AFTER`]; the shared queues, and any queue with a call in it, are left.
    pub async fn sweep_queues(&self) -> Result<QueueSweep, AppError> {
        let Some(account) = self.provider() else { return Ok(QueueSweep::default()) };
        let queues = QueuesApi::new(Arc::clone(account));
        let before = self.now() - SWEEP_AFTER;
        let swept = tokio::task::spawn_blocking(move || sweep(&queues, before)).await;
        let sweep = swept.map_err(|e| AppError::Internal(Box::new(e)))?;
        sweep.map_err(|error| AppError::Internal(Box::new(error)))
    }

    /// Deletes at the provider the recordings whose deletion is due (queued by a purge, or
    /// failed before): each done one is forgotten, each failed one tried again later, after
    /// a wait that doubles with each failure.
    pub async fn delete_shredded_recordings(&self) -> Result<DeletionRound, AppError> {
        let Some(account) = self.provider() else { return Ok(DeletionRound::default()) };
        let storage = self.storage();
        let due = storage.due_recording_deletions(self.now(), DELETIONS_PER_ROUND).await?;
        let mut round = DeletionRound::default();
        for pending in due {
            let recordings = RecordingsApi::new(Arc::clone(account));
            let sid = pending.sid.clone();
            let result = tokio::task::spawn_blocking(move || recordings.delete(&sid)).await;
            match result.map_err(|e| AppError::Internal(Box::new(e)))? {
                Ok(Deleted::Now | Deleted::AlreadyGone) => {
                    storage.recording_deleted(pending.sid).await?;
                    round.deleted += 1;
                }
                Err(error) => {
                    tracing::warn!(%error, attempts = pending.attempts + 1,
                        "a shredded recording could not be deleted at the provider; retried later");
                    let next = self.now() + retry_wait(pending.attempts);
                    storage.recording_deletion_failed(pending.sid, next).await?;
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }

    /// Starts the provider's upkeep: the recordings' deletions every minute, the queues'
    /// sweep every ten (the first a minute after start). Without an account, says once what
    /// the hotline does not do, and starts nothing.
    pub(crate) fn spawn_provider_upkeep(&self) -> Option<JoinHandle<()>> {
        if self.provider().is_none() {
            tracing::warn!(
                "[provider] names no account: calls are answered as usual, but the callers' \
                 queues are not deleted at the provider, voicemails cannot be played in the \
                 console (they stay at the provider), and retention does not delete the \
                 recordings there"
            );
            return None;
        }
        let app = self.clone();
        Some(tokio::spawn(async move {
            let first = tokio::time::Instant::now() + UPKEEP_EVERY;
            let mut ticks = tokio::time::interval_at(first, UPKEEP_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for round in 0u32.. {
                ticks.tick().await;
                match app.delete_shredded_recordings().await {
                    Ok(done) if done.deleted + done.failed > 0 => tracing::info!(
                        deleted = done.deleted,
                        failed = done.failed,
                        "shredded recordings deleted at the provider"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "the recordings' deletions failed"),
                }
                if round % SWEEP_EVERY_ROUNDS == 0 {
                    match app.sweep_queues().await {
                        Ok(sweep) if sweep.deleted + sweep.failed > 0 => tracing::info!(
                            seen = sweep.seen,
                            deleted = sweep.deleted,
                            failed = sweep.failed,
                            "old callers' queues deleted at the provider"
                        ),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "the queues' sweep failed"),
                    }
                }
            }
        }))
    }
}

/// Reads the account's queues and deletes the callers' own that are empty and were made
/// before `before`.
fn sweep(queues: &QueuesApi, before: DateTime<Utc>) -> Result<QueueSweep, ApiError> {
    let all = queues.list(SWEEP_PAGES)?;
    let mut sweep = QueueSweep { seen: all.len(), ..QueueSweep::default() };
    let old_and_empty = all.into_iter().filter(|queue| {
        is_callers_queue(&queue.friendly_name)
            && queue.current_size == 0
            && queue.date_created.is_some_and(|created| created < before)
    });
    for queue in old_and_empty {
        match queues.delete(&queue.sid) {
            Some(Ok(_)) => sweep.deleted += 1,
            Some(Err(error)) => {
                tracing::info!(%error, "an old caller's queue could not be deleted");
                sweep.failed += 1;
            }
            None => {}
        }
    }
    Ok(sweep)
}

/// Whether `name` is a caller's own queue (`c-2026-000042-17`), never a language's shared one.
fn is_callers_queue(name: &str) -> bool {
    name.strip_prefix("c-").is_some_and(|rest| {
        rest.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && rest.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    })
}

/// How long to wait before trying a deletion again after `attempts` failed tries.
fn retry_wait(attempts: u32) -> TimeDelta {
    let factor = 1i32.checked_shl(attempts.min(16)).unwrap_or(i32::MAX);
    (RETRY_FIRST * factor).min(RETRY_MAX)
}

/// Passes `media` on piece by piece, from a blocking thread, until it ends, fails, or the
/// browser stops listening (the receiver is dropped with the response).
fn pass_on(media: Media) -> Recording {
    let (content_type, length) = (media.content_type.clone(), media.length);
    let (sender, chunks) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut media = media;
        loop {
            let mut chunk = vec![0; CHUNK_BYTES];
            match media.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => {
                    chunk.truncate(read);
                    if sender.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::warn!(%error, "a recording's audio was cut short");
                    let _ = sender.blocking_send(Err(error));
                    break;
                }
            }
        }
    });
    Recording { content_type, length, chunks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_callers_own_queues_are_theirs() {
        assert!(is_callers_queue("c-2026-000042-17"));
        for other in ["ru", "uk", "c-", "c-x", "C-2026-1-1", "c-2026-1-1 ", "support", ""] {
            assert!(!is_callers_queue(other), "{other}");
        }
    }

    #[test]
    fn a_failing_deletion_waits_longer_each_time_up_to_a_bound() {
        assert_eq!(retry_wait(0), TimeDelta::minutes(1));
        assert_eq!(retry_wait(1), TimeDelta::minutes(2));
        assert_eq!(retry_wait(5), TimeDelta::minutes(32));
        assert_eq!(retry_wait(9), RETRY_MAX);
        assert_eq!(retry_wait(u32::MAX), RETRY_MAX);
    }
}
