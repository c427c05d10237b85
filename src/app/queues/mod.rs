//! Operators' queues: who is on duty, where a caller waits, who an operator takes next.
//!
//! # The design
//!
//! - **Presence.** Each person is offline, available, on a call, in wrap-up or on a break
//!   (`presence` table). Available, break and offline are set by the person (`PUT
//!   /api/me/state`, or by dialling in: available); on-call and wrap-up only by the call flow:
//!   taking a caller puts the operator on a call, the end of the call into wrap-up until
//!   `[queues] wrap_up_secs` later, after which they read as available without any timer.
//!   Hanging up the operator line takes them offline.
//! - **Routing** ([`route`]). At a `<handoff>` the server decides: the caller's language if an
//!   operator who speaks it is on duty (available, on a call, or in wrap-up: expected soon);
//!   otherwise `[queues] fallbacks` (`ko=ru`: Russian-speaking operators, flagged
//!   "interpreter needed"; `ko=voicemail`: the handoff's `otherwise` node at once); without a
//!   rule, or when the fallback language has nobody on duty either, the caller waits in their
//!   own language. The decision is an event on the case ("routed to ru: no ko operator
//!   available").
//! - **One provider queue per caller.** Each caller is put in a queue of their own
//!   (`c-2026-000042-17`) and gets a `queue_entries` row. The provider's FIFO never chooses:
//!   the server gives an operator a caller ([`next_for`]: a caller they claimed on screen,
//!   else the longest-waiting caller among their languages; a due callback comes before
//!   both, see [`next_for`]) by marking the entry `connecting` with a conditional update in one
//!   transaction, whispers that caller's case, and dials exactly that caller's queue. Two
//!   operators dialling at the same moment therefore get different callers.
//! - **Positions and estimates** are the server's: a caller's position is their rank among the
//!   waiting entries of the same language, and the estimate ([`estimate`]) is the mean wait of
//!   the callers of that language answered in the last `estimate_window_mins` — none when
//!   there were none. After `max_wait_secs` the wait document takes the caller out of the
//!   queue (`<Leave/>`), and the Enqueue action sends them to the handoff's `otherwise` node.
//! - **When the database is slow or down**, nothing waits for it longer than
//!   `[queues] db_timeout_ms`: the caller is put in the shared queue of the language (named by
//!   its code, `ru`) and hears the provider's position; an operator who finds nobody waiting
//!   in the database dials the shared queues of their languages, so such a caller is still
//!   answered (without a whisper). A caller is never dropped.

pub mod whisper;

use std::future::Future;
use std::time::Duration;

use chrono::Utc;

pub use whisper::{Whisper, estimate, labels};

use crate::config::QueuesConfig;
use crate::domain::cases::{CallSid, Event, Record};
use crate::domain::queue::{EntryState, Route, route, stale_before};
use crate::ivr::{self, Then, Turn};
use crate::scripts::{LanguageTag, NodeKind, Script};
use crate::storage::{NewEntry, Recorder, Storage, StorageError};

/// The queue settings, checked once at start.
#[derive(Debug, Clone)]
pub struct Queues {
    /// `[queues]`.
    pub config: QueuesConfig,
    /// Whether the hotline can ring call-me operators (a provider account and the operator
    /// line's number): only then do they count as on duty.
    pub call_me: bool,
}

impl Queues {
    /// The settings of the configuration; `call_me`: whether call-me operators can be rung.
    pub fn new(config: &QueuesConfig, call_me: bool) -> Queues {
        Queues { config: config.clone(), call_me }
    }

    /// How long a webhook waits for queue bookkeeping.
    pub fn db_timeout(&self) -> Duration {
        Duration::from_millis(self.config.db_timeout_ms)
    }

    /// Runs a storage call bounded by [`Queues::db_timeout`]; `None` when it failed or was
    /// too slow (logged), so the caller can degrade.
    pub async fn bounded<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, StorageError>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.db_timeout(), work).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                tracing::warn!(%error, what, "queue bookkeeping failed; degraded");
                None
            }
            Err(_) => {
                tracing::warn!(what, "queue bookkeeping too slow; degraded");
                None
            }
        }
    }
}

/// Where a handoff turn sends the caller: routes, puts them in their own queue, and records
/// the decision. `turn` must end in [`Then::Enqueue`] (any other turn is returned as is).
/// `step` is the request's step, the idempotency key of the queue entry.
pub async fn place(
    storage: &Storage,
    recorder: &Recorder,
    queues: &Queues,
    script: &Script,
    call_sid: Option<&CallSid>,
    step: u32,
    mut turn: Turn,
) -> Turn {
    let Then::Enqueue { node, .. } = &turn.then else { return turn };
    let node = node.clone();
    let caller_language = script.language.clone();
    // Only operators a caller can be put through to count (`call_me`: the hotline can ring
    // call-me operators), so a fallback is not held off by someone at a screen only.
    let reachable = storage.reachable_languages(Utc::now(), queues.call_me);
    let on_duty = queues.bounded("on-duty languages", reachable).await;
    let decision = match &on_duty {
        Some(on_duty) => route(&caller_language, &queues.config.fallbacks, |l| on_duty.contains(l)),
        None => Route::Queue {
            language: caller_language.clone(),
            interpreter_needed: false,
            reason: "presence unknown (database unavailable)".into(),
        },
    };
    let (language, interpreter_needed, mut reason) = match decision {
        Route::Otherwise { reason } => return to_otherwise(script, &node, turn, reason),
        Route::Queue { language, interpreter_needed, reason } => {
            (language, interpreter_needed, reason)
        }
    };
    let entry = match (call_sid, on_duty.is_some()) {
        (Some(call_sid), true) => {
            let new = NewEntry {
                call_sid: call_sid.clone(),
                step,
                language: language.clone(),
                interpreter_needed,
                at: Utc::now(),
            };
            enqueue_bounded(storage, recorder, queues, new).await
        }
        _ => None,
    };
    let queue = match entry {
        Some(queue) => queue,
        None => {
            reason.push_str("; in the shared queue");
            language.to_string()
        }
    };
    for event in &mut turn.events {
        if let Event::HandedOff { queue: handed, .. } = event {
            *handed = language.to_string();
        }
    }
    turn.events.push(Event::Routed {
        language: Some(language.clone()),
        interpreter_needed,
        reason,
    });
    if let Then::Enqueue { queue: provider, .. } = &mut turn.then {
        *provider = queue;
    }
    turn
}

/// Inserts the queue entry within the time limit. A write that finishes after the limit
/// would leave an entry for a caller who is in the shared queue instead: it is closed as soon
/// as it lands, through the journal like every other queue change, so no operator is ever
/// sent to an empty queue for it, even if the database fails again in between.
async fn enqueue_bounded(
    storage: &Storage,
    recorder: &Recorder,
    queues: &Queues,
    new: NewEntry,
) -> Option<String> {
    let call_sid = new.call_sid.clone();
    let mut writing = tokio::spawn({
        let storage = storage.clone();
        async move { storage.enqueue(new).await }
    });
    match tokio::time::timeout(queues.db_timeout(), &mut writing).await {
        Ok(Ok(Ok(Some(entry)))) => Some(entry.provider_queue),
        Ok(Ok(Ok(None))) => {
            tracing::warn!("handoff of a call without a case; shared queue");
            None
        }
        Ok(Ok(Err(error))) => {
            tracing::warn!(%error, "could not enqueue; shared queue");
            None
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "enqueue task failed; shared queue");
            None
        }
        Err(_) => {
            tracing::warn!("enqueue too slow; shared queue");
            // Recorded after the late insert has landed or failed (the record only closes an
            // entry joined before its time, and the insert's own time is already past).
            let (recorder, left) = (recorder.clone(), Utc::now());
            let result = "degraded".to_owned();
            tokio::spawn(async move {
                let _ = writing.await;
                let record = Record::QueueLeft { call_sid, at: left, result, queue_secs: None };
                recorder.record(record).await;
            });
            None
        }
    }
}

/// Replaces the handoff at the end of `turn` by the handoff's `otherwise` node: its prompt
/// ("connecting you to an operator") is not said, the voicemail's is.
fn to_otherwise(
    script: &Script,
    node: &crate::scripts::NodeId,
    mut turn: Turn,
    reason: String,
) -> Turn {
    let Some(handoff) = script.node(node) else { return turn };
    let NodeKind::Handoff { otherwise, .. } = &handoff.kind else { return turn };
    let said = handoff.prompt.items.len();
    turn.speech.truncate(turn.speech.len().saturating_sub(said));
    turn.events.retain(|event| !matches!(event, Event::HandedOff { .. }));
    turn.events.push(Event::Routed { language: None, interpreter_needed: false, reason });
    let next = ivr::enter(script, otherwise);
    turn.speech.extend(next.speech);
    turn.events.extend(next.events);
    turn.then = next.then;
    turn
}

/// What the wait document says to a caller the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitPlan {
    /// Announce the position (1 = next) and, when there is history, the recent mean wait.
    Position {
        /// The caller's place among the waiting callers of their queue's language.
        position: u32,
        /// The mean wait in whole minutes (at least 1) of the callers of that language
        /// answered in the estimate window; `None` without any.
        minutes: Option<u32>,
    },
    /// An operator is being connected: say nothing, keep the line quiet for a moment.
    Connecting,
    /// The maximum wait is reached: tell them and take them out of the queue.
    TooLong,
    /// The server does not know this caller (shared queue): the provider's position.
    Unknown,
}

/// Decides the wait document of a caller from their entry (looked up within the time limit).
pub async fn wait_plan(storage: &Storage, queues: &Queues, call_sid: Option<&CallSid>) -> WaitPlan {
    let Some(call_sid) = call_sid else { return WaitPlan::Unknown };
    let Some(Some(entry)) =
        queues.bounded("wait entry", storage.queue_entry_of_call(call_sid)).await
    else {
        return WaitPlan::Unknown;
    };
    match entry.state {
        EntryState::Connecting | EntryState::Bridged => WaitPlan::Connecting,
        EntryState::Left => WaitPlan::Unknown,
        EntryState::Waiting => {
            let max = i64::try_from(queues.config.max_wait_secs).unwrap_or(i64::MAX);
            if entry.wait_secs(Utc::now()) >= max {
                return WaitPlan::TooLong;
            }
            let stale = stale_before(Utc::now(), queues.config.max_wait_secs);
            match queues.bounded("position", storage.queue_position(entry.id, stale)).await {
                Some(Some(position)) => {
                    let estimate = estimated_wait(storage, queues, &entry.language).await;
                    // Rounded up: "about 0 minutes" would promise too much.
                    let minutes = estimate
                        .map(|secs| u32::try_from((secs + 59) / 60).unwrap_or(u32::MAX).max(1));
                    WaitPlan::Position { position, minutes }
                }
                _ => WaitPlan::Unknown,
            }
        }
    }
}

/// The estimate for a language's queue (see [`estimate`]), within the time limit.
pub async fn estimated_wait(
    storage: &Storage,
    queues: &Queues,
    language: &LanguageTag,
) -> Option<i64> {
    let minutes = i64::try_from(queues.config.estimate_window_mins).unwrap_or(60);
    let since = Utc::now() - chrono::Duration::minutes(minutes);
    let waits = queues.bounded("recent waits", storage.recent_waits(language, since)).await?;
    estimate(&waits)
}
