//! Sending to people who write on a text channel: [`App::enqueue_outgoing`] stores a message
//! (once per idempotency key), and one worker per channel ([`App::spawn_outbox`]) delivers
//! what is due through the channel's [`Deliver`], paced by the planner of
//! [`crate::domain::outbox`]: each chat's messages in order and spaced apart, at most
//! `[outbox] per_second` in any second, the whole channel silent while it asked us to wait.
//!
//! A failure that may pass is tried again after 1 s, 2 s, 4 s … (at most 5 minutes) up to
//! `[outbox] max_attempts`; a refusal is final. A worker that stops mid-send (a crash, a
//! restart) leaves its messages `sending`; the next one sends them again, since nothing tells
//! whether the channel got them (see [`crate::storage::Storage::resume_interrupted`]).
//!
//! The log says what happened to each message by its row and case, never its text or address.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::app::{App, AppError};
use crate::domain::conversation::Channel;
use crate::domain::outbox::{Delivery, NewOutgoing, Outgoing, Pacer, backoff};
use crate::storage::{Settlement, StorageError};

/// How often a worker looks at the outbox when nothing wakes it: messages enqueued in another
/// use case's transaction, or by another process, are found at the latest then.
const IDLE_POLL: Duration = Duration::from_secs(2);
/// How long a worker waits before trying the database again after it failed.
const STORAGE_RETRY: Duration = Duration::from_millis(500);
/// The longest a channel's request to wait is obeyed: a longer one is taken as a mistake, and
/// the channel is tried again after this (it can always ask again).
const LONGEST_PAUSE: Duration = Duration::from_secs(3600);
/// The longest failure text kept from a channel: it is stored and logged.
const MAX_ERROR_CHARS: usize = 500;

/// A text channel's sending: one attempt to deliver one message.
///
/// It blocks (an HTTP request), so the worker runs it on the blocking pool. What it answers
/// decides what happens next (see [`Delivery`]). The texts of its failures are stored and
/// logged: they must not hold the address or the message's text.
pub trait Deliver: Send + Sync + 'static {
    /// Tries to deliver `out` once.
    fn deliver(&self, out: &Outgoing) -> Delivery;
}

/// What wakes each channel's worker when a message is enqueued.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    /// One per channel, in the order of [`Channel::ALL`] (calls have none to wake).
    by_channel: [Notify; Channel::ALL.len()],
}

impl Wakers {
    fn of(&self, channel: Channel) -> &Notify {
        let index = Channel::ALL.iter().position(|known| *known == channel).unwrap_or_default();
        &self.by_channel[index]
    }
}

impl App {
    /// Stores a message for the channel's worker to deliver, and wakes it. Enqueueing the same
    /// `dedupe_key` again stores nothing and returns the first row.
    ///
    /// Fails with [`AppError::Invalid`] for a message no channel would take (empty, too long,
    /// too many buttons), and [`AppError::Conflict`] for an unknown case or an edit of a
    /// message of another conversation.
    pub async fn enqueue_outgoing(&self, new: NewOutgoing) -> Result<i64, AppError> {
        new.check().map_err(|invalid| AppError::Invalid(invalid.to_string()))?;
        let channel = new.channel;
        let id = self.storage().enqueue_outgoing(new, self.now()).await?;
        self.wake_outbox(channel);
        Ok(id)
    }

    /// Wakes the worker of `channel` now: for a use case that enqueued messages in a
    /// transaction of its own (otherwise the worker finds them within a couple of seconds).
    pub fn wake_outbox(&self, channel: Channel) {
        // A stored permit: a worker busy right now looks again as soon as it is done.
        self.inner.outbox.of(channel).notify_one();
    }

    /// Starts the worker of `channel`, delivering through `deliver`, until the returned handle
    /// is aborted or the runtime stops. Start one per channel: two would both pace, each
    /// unaware of the other's sends.
    pub fn spawn_outbox(&self, channel: Channel, deliver: Arc<dyn Deliver>) -> JoinHandle<()> {
        let worker = Worker {
            app: self.clone(),
            channel,
            deliver,
            pacer: Pacer::new(self.config().outbox.pacing()),
            max_attempts: self.config().outbox.max_attempts,
            in_flight: JoinSet::new(),
            unsettled: Vec::new(),
        };
        tokio::spawn(worker.run())
    }
}

/// One channel's worker.
struct Worker {
    app: App,
    channel: Channel,
    deliver: Arc<dyn Deliver>,
    pacer: Pacer,
    max_attempts: u32,
    /// The attempts handed to the channel, each answering with its outcome. Dropped with the
    /// worker: attempts not started are cancelled, started ones finish unrecorded.
    in_flight: JoinSet<Answer>,
    /// Outcomes the database could not take yet; recorded before anything else is sent.
    unsettled: Vec<Answer>,
}

/// What the channel answered to one attempt.
struct Answer {
    id: i64,
    case_id: i64,
    attempt: u32,
    delivery: Delivery,
}

impl Worker {
    async fn run(mut self) {
        let channel = self.channel.as_str();
        loop {
            match self.app.storage().resume_interrupted(self.channel).await {
                Ok(0) => break,
                Ok(resumed) => {
                    tracing::warn!(
                        channel,
                        resumed,
                        "outbox: messages were being sent when the last worker stopped; they \
                         are sent again (a person may get one of them twice)"
                    );
                    break;
                }
                Err(error) => {
                    tracing::warn!(channel, %error, "outbox: cannot resume; trying again");
                    tokio::time::sleep(STORAGE_RETRY).await;
                }
            }
        }
        tracing::info!(channel, "outbox: worker started");
        loop {
            let wake_at = match self.step().await {
                Ok(wake_at) => wake_at,
                Err(error) => {
                    tracing::warn!(channel, %error, "outbox: the database failed; trying again");
                    Instant::now() + STORAGE_RETRY
                }
            };
            let notify = self.app.inner.outbox.of(self.channel);
            tokio::select! {
                () = notify.notified() => {}
                Some(joined) = self.in_flight.join_next() => {
                    // Every answer already in is recorded in the same round.
                    let mut joined = Some(joined);
                    while let Some(result) = joined {
                        match result {
                            Ok(answer) => self.unsettled.push(answer),
                            // Only cancellation is left (panics are caught in the task): the
                            // runtime is stopping, and the row is resumed at the next start.
                            Err(error) => {
                                tracing::warn!(channel, %error, "outbox: an attempt was lost");
                            }
                        }
                        joined = self.in_flight.try_join_next();
                    }
                }
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Records the answers waiting and claims what may go now, in one write, then hands the
    /// claimed messages to the channel; returns when to look again at the latest. Should the
    /// write fail, the answers wait for the next round and nothing is sent.
    async fn step(&mut self) -> Result<Instant, StorageError> {
        let storage = self.app.storage();
        let now = self.app.now();
        let answered_at = Instant::now();
        for answer in &self.unsettled {
            self.pacer.answered(answer.id, answered_at.into_std());
            if let Delivery::RetryAfter(wait) = &answer.delivery {
                self.pacer.pause_until((answered_at + (*wait).min(LONGEST_PAUSE)).into_std());
            }
        }
        // A chat whose last message is answered but not recorded yet offers its next one in
        // the round after, which follows at once: its messages stay in order.
        let recorded = !self.unsettled.is_empty();
        // With most places taken the line is not read (`Pacer::worth_reading`): the answers
        // still out wake the worker, and the line is read once enough places are free. Under
        // a flood every message enqueued and every answer wakes it.
        let reading = self.pacer.worth_reading();
        let due = match reading {
            0 => Vec::new(),
            _ => storage.due_outgoing(self.channel, now, reading).await?,
        };
        let plan = self.pacer.plan(Instant::now().into_std(), &due);
        let settled: Vec<(i64, Settlement)> =
            self.unsettled.iter().map(|a| (a.id, self.settlement(a, now))).collect();
        let claimed = match storage.outbox_round(settled.clone(), plan.go.clone(), now).await {
            Ok(claimed) => claimed,
            Err(error) => {
                plan.go.iter().for_each(|id| self.pacer.withdrawn(*id));
                return Err(error);
            }
        };
        for (answer, (_, settlement)) in std::mem::take(&mut self.unsettled).iter().zip(&settled) {
            self.report(answer, settlement, now);
        }
        for id in plan.go.iter().filter(|id| !claimed.iter().any(|out| out.id == **id)) {
            self.pacer.withdrawn(*id);
        }
        for out in claimed {
            let deliver = Arc::clone(&self.deliver);
            self.in_flight.spawn_blocking(move || Answer {
                id: out.id,
                case_id: out.case_id,
                attempt: out.attempt,
                delivery: std::panic::catch_unwind(AssertUnwindSafe(|| deliver.deliver(&out)))
                    .unwrap_or_else(|_| {
                        Delivery::Transient("the channel's sender panicked".into())
                    }),
            });
        }
        if reading == 0 {
            return Ok(Instant::now() + IDLE_POLL);
        }
        let mut wake_at = Instant::now() + if recorded { Duration::ZERO } else { IDLE_POLL };
        if let Some(at) = plan.wake_at {
            wake_at = wake_at.min(Instant::from_std(at));
        }
        if let Some(next) = storage.next_outgoing_at(self.channel, now).await? {
            wake_at = wake_at.min(Instant::now() + until(now, next));
        }
        Ok(wake_at)
    }

    /// What to record of an answer that came at `now`.
    fn settlement(&self, answer: &Answer, now: DateTime<Utc>) -> Settlement {
        match &answer.delivery {
            Delivery::Sent { provider_id } => Settlement::Sent { provider_id: provider_id.clone() },
            Delivery::RetryAfter(wait) => {
                let wait = (*wait).min(LONGEST_PAUSE);
                let error = format!("the channel asked to wait {} s", wait.as_secs_f64());
                Settlement::Retry { next_at: now + span(wait), error }
            }
            Delivery::Transient(error) if answer.attempt < self.max_attempts => Settlement::Retry {
                next_at: now + span(backoff(answer.attempt)),
                error: bounded(error),
            },
            Delivery::Transient(error) | Delivery::Refused(error) => {
                Settlement::Failed { error: bounded(error) }
            }
        }
    }

    /// Logs and counts an answer once it is recorded as `settled` at `now`.
    fn report(&self, answer: &Answer, settled: &Settlement, now: DateTime<Utc>) {
        let Answer { id: outbox_id, case_id, attempt, delivery } = answer;
        let channel = self.channel.as_str();
        let metrics = self.app.metrics();
        match (settled, delivery) {
            (Settlement::Sent { .. }, _) => {
                metrics.outbox_sent().inc();
                tracing::info!(outbox_id, case_id, channel, attempt, "outbox: delivered");
            }
            (Settlement::Retry { next_at, .. }, Delivery::RetryAfter(_)) => tracing::warn!(
                outbox_id,
                case_id,
                channel,
                attempt,
                wait_secs = until(now, *next_at).as_secs_f64(),
                "outbox: the channel asks to slow down; the whole channel waits"
            ),
            (Settlement::Retry { next_at, error }, _) => tracing::warn!(
                outbox_id,
                case_id,
                channel,
                attempt,
                error,
                retry_in_secs = until(now, *next_at).as_secs(),
                "outbox: not delivered; trying again"
            ),
            (Settlement::Failed { error }, _) => {
                metrics.outbox_failed().inc();
                tracing::error!(
                    outbox_id,
                    case_id,
                    channel,
                    attempt,
                    error,
                    "outbox: not delivered; given up"
                );
            }
        }
    }
}

/// A channel's failure text, cut to a length fit to store and log.
fn bounded(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// A wait (at most [`LONGEST_PAUSE`], so it always fits) as a span of the hotline's clock.
fn span(wait: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(wait.min(LONGEST_PAUSE)).unwrap_or(chrono::TimeDelta::zero())
}

/// How long from `now` until `at` (nothing if it has passed).
fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_wait_asked_by_a_channel_is_capped_not_a_panic() {
        assert_eq!(span(Duration::MAX), chrono::TimeDelta::hours(1));
        assert_eq!(span(Duration::ZERO), chrono::TimeDelta::zero());
        assert_eq!(span(Duration::from_millis(1500)), chrono::TimeDelta::milliseconds(1500));
        let later = Instant::now() + Duration::MAX.min(LONGEST_PAUSE);
        assert!(later > Instant::now());
    }

    #[test]
    fn a_channels_failure_text_is_cut_to_a_storable_length() {
        assert_eq!(bounded(""), "");
        assert_eq!(bounded("Bad Request: chat not found"), "Bad Request: chat not found");
        let huge = "ж".repeat(100_000);
        assert_eq!(bounded(&huge).chars().count(), MAX_ERROR_CHARS);
    }

    #[test]
    fn a_wait_already_over_is_no_wait() {
        let now = Utc::now();
        assert_eq!(until(now, now - chrono::TimeDelta::seconds(5)), Duration::ZERO);
        assert_eq!(until(now, now + chrono::TimeDelta::seconds(5)), Duration::from_secs(5));
    }
}
