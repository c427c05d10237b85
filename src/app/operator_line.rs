//! The operator line's rules: dialling in with an operator ID and PIN (counted against the ID
//! and the calling number, locked after too many wrong ones), presence on the line, the next
//! caller or due callback with its whisper, and the end of each dial.
//!
//! Every database step is bounded ([`Queues::bounded`](crate::app::queues::Queues::bounded)):
//! an operator waiting on a slow database would hold a caller waiting too, so each step has a
//! safe answer for "could not tell in time", chosen here.

use chrono::{DateTime, Duration};

use crate::app::App;
use crate::app::queues::{Whisper, labels};
use crate::domain::audit::AuditAction;
use crate::domain::cases::{CallSid, CallerHash};
use crate::domain::followups::{AttemptResult, CallbackNumber, State};
use crate::domain::lockout::{LockedKey, number_key};
use crate::domain::people::Person;
use crate::domain::queue::{EntryState, PresenceState, QueueEntry, stale_before};
use crate::scripts::{LanguageTag, ScriptSet};
use crate::storage::{AuditEntry, PinAttempt, RefusalAudit};

/// How a PIN typed on the operator line ended.
#[derive(Debug)]
pub enum DialIn {
    /// Signed in: the operator is available on this call.
    SignedIn(Person),
    /// Wrong PIN, unknown or disabled ID, or a lock: all alike to the caller.
    Refused,
    /// Every PIN check was taken: nothing was checked, and the try does not count.
    Busy,
    /// The database could not count the attempt in time.
    CannotCheck,
    /// The PIN was right, but the presence could not be written in time.
    CannotSignIn,
}

/// What an operator who asks for work gets.
#[derive(Debug)]
pub enum NextWork {
    /// A callback that is due: its number, opened here for the provider's document only.
    Callback {
        /// The follow-up.
        follow_up: i64,
        /// Attempts made before this one.
        tried: usize,
        /// What the operator hears of the case.
        whisper: Whisper,
        /// The number to dial.
        number: CallbackNumber,
    },
    /// A waiting caller, now connecting to this operator.
    Caller {
        /// The queue entry.
        entry: i64,
        /// What the operator hears of the case.
        whisper: Whisper,
        /// The caller's language, for the document the caller hears.
        caller_language: LanguageTag,
        /// The provider's queue the caller waits in.
        provider_queue: String,
    },
    /// Nobody waits (or the database cannot tell): the operator listens on a shared queue.
    Nobody {
        /// When this look was made.
        at: DateTime<chrono::Utc>,
    },
}

impl App {
    /// Audits, without waiting for it, an identification refused after its last try
    /// (`claimed`: the operator ID typed last, if any).
    pub fn refuse_identification(&self, tries: u32, claimed: Option<i64>) {
        let storage = self.storage().clone();
        let now = self.now();
        let detail = match claimed {
            Some(id) => {
                format!("{tries} failed attempts on the operator line, last for operator ID {id}")
            }
            None => format!("{tries} failed attempts on the operator line"),
        };
        // The refusal must not wait for the audit write; it is logged if it fails.
        tokio::spawn(async move {
            let entry = AuditEntry {
                actor: None,
                action: AuditAction::DialInRefused,
                case: None,
                detail,
                at: now,
            };
            if let Err(error) = storage.audit(entry).await {
                tracing::error!(%error, "could not audit a refused dial-in");
            }
        });
    }

    /// Checks operator ID `operator`'s PIN typed on call `call_sid` from `caller` and, when
    /// right and nothing is locked, signs them in on that call (audited).
    pub async fn dial_in(
        &self,
        operator: i64,
        pin: String,
        call_sid: CallSid,
        caller: Option<CallerHash>,
    ) -> DialIn {
        let (storage, queues) = (self.storage(), self.queues());
        let tried_at = self.now();
        let number = number_key(caller);
        let policy = *self.pin_policy();
        let looked_up = queues
            .bounded("operator", async {
                // Counted before the PIN is checked, so calls that arrive together cannot all
                // be checked before the count sees them (see `crate::domain::lockout`).
                let tried =
                    storage.begin_pin_attempt(operator, number.clone(), policy, tried_at).await?;
                let person = storage.person(operator).await?;
                let hash = storage.pin_hash(operator).await?;
                Ok((tried, person, hash))
            })
            .await;
        let Some((tried, person, hash)) = looked_up else { return DialIn::CannotCheck };
        let hash = hash.filter(|_| person.as_ref().is_some_and(|p| !p.disabled));
        // Argon2 runs on the server's few password-check threads; when they are all taken the
        // operator is asked for the PIN again, and this try does not count (nothing was
        // checked): the attempt counted above is taken back, so a flood cannot lock out an
        // operator who is only ever told to try again.
        let Ok(matches) = self.hashers().verify(hash, pin).await else {
            // Should this not be written in time, the try stays counted (`bounded` logs it).
            queues.bounded("pin withdrawn", storage.withdraw_pin_attempt(tried)).await;
            return DialIn::Busy;
        };
        let Some(person) = person.filter(|_| matches) else {
            self.keep_refusal(tried, operator, number, false).await;
            return DialIn::Refused;
        };
        // A locked ID or number is refused whatever the PIN, after the same Argon2 work and
        // with the same words as a wrong PIN: the line must not tell that it is locked.
        if tried.locked {
            self.keep_refusal(tried, operator, number, true).await;
            return DialIn::Refused;
        }
        // Should this not be written in time, the attempt stays counted as a failure: a slow
        // database costs an operator one try of their limit, never a lock that does not hold.
        let accepted = storage.pin_accepted(tried, operator, number, tried_at);
        let failed_before = queues.bounded("pin accepted", accepted).await.unwrap_or(0);
        let signed = storage.set_presence(
            person.id,
            PresenceState::Available,
            None,
            Some(call_sid),
            self.now(),
        );
        if queues.bounded("presence", signed).await.is_none() {
            return DialIn::CannotSignIn;
        }
        // A sign-in after wrong PINs is marked, so a supervisor can tell a guessed PIN from a
        // mistyped one.
        let (action, detail) = match failed_before {
            0 => (AuditAction::DialInAccepted, "signed in on the operator line".to_owned()),
            n => (
                AuditAction::DialInAcceptedAfterFailures,
                format!(
                    "signed in on the operator line after {n} wrong PIN(s) for this ID since its \
                     last sign-in"
                ),
            ),
        };
        let audit =
            AuditEntry { actor: Some(person.id), action, case: None, detail, at: self.now() };
        let _ = queues.bounded("audit", storage.audit(audit)).await;
        tracing::info!(operator = person.id, "operator signed in on the operator line");
        DialIn::SignedIn(person)
    }

    /// Keeps a refused PIN as a failure of its ID and number, and logs the locks that follow.
    /// When the database cannot take it in time the attempt still counts: it was written as
    /// a failure before the PIN was checked, and the next attempt sees the limit reached.
    async fn keep_refusal(&self, tried: PinAttempt, operator: i64, number: String, right: bool) {
        let audit = RefusalAudit {
            locked: AuditAction::DialInLocked,
            locked_out: right.then_some(AuditAction::DialInLockedOut),
        };
        let policy = *self.pin_policy();
        let refused =
            self.storage().pin_refused(tried, operator, number, policy, audit, self.now());
        for lock in self.queues().bounded("pin refused", refused).await.unwrap_or_default() {
            let what = match lock.key {
                LockedKey::Operator { .. } => "an operator ID",
                LockedKey::Number => "a calling number",
                LockedKey::WithheldNumbers => "withheld numbers",
            };
            tracing::warn!(
                target: "hotline::security",
                until = %lock.until,
                locks = lock.locks,
                "operator line: {what} locked after wrong PINs"
            );
        }
    }

    /// Whether `operator` signed in on the call `call_sid`; `None` when the database cannot
    /// tell in time.
    pub async fn on_operator_line(&self, operator: i64, call_sid: &CallSid) -> Option<bool> {
        let on_line = self.storage().on_operator_line(operator, call_sid);
        self.queues().bounded("operator line", on_line).await
    }

    /// The operator's next work: a due callback in their languages first, else the waiting
    /// caller the queue rules give them (the whisper audited like any read of a case), else
    /// nobody, and the operator is marked available.
    pub async fn next_work(
        &self,
        operator: i64,
        speaks: &[LanguageTag],
        scripts: &ScriptSet,
    ) -> NextWork {
        let (storage, queues) = (self.storage(), self.queues());
        let now = self.now();
        if let Some(callback) = self.due_callback(operator, speaks, scripts).await {
            return callback;
        }
        let stale = stale_before(now, queues.config.max_wait_secs);
        // A departure acknowledged while the database was unavailable may still be in the
        // journal: it is applied first, or the operator could be handed a caller who hung up.
        // Without it the operator listens on the shared queues, as when the database is down.
        let taken = match queues
            .bounded("journal before the next caller", self.recorder().catch_up())
            .await
        {
            Some(_) => {
                let next = storage.take_next(operator, speaks.to_vec(), now, stale);
                queues.bounded("next caller", next).await
            }
            None => None,
        };
        let Some(Some(entry)) = taken else {
            if taken.is_some() {
                // Nobody waits: the operator is ready (also after a wrap-up they cut short).
                let ready =
                    storage.set_presence(operator, PresenceState::Available, None, None, now);
                let _ = queues.bounded("presence", ready).await;
            }
            return NextWork::Nobody { at: now };
        };
        self.caller_work(operator, &entry, scripts).await
    }

    /// The work of connecting `operator` to the caller of `entry`, given to them: the
    /// whisper of the case (audited like any read of a case) and the caller's own queue.
    pub(crate) async fn caller_work(
        &self,
        operator: i64,
        entry: &QueueEntry,
        scripts: &ScriptSet,
    ) -> NextWork {
        let (storage, queues) = (self.storage(), self.queues());
        let now = self.now();
        let caller = queues.bounded("whisper", storage.waiting_caller(entry.id)).await.flatten();
        let whisper = Whisper::of(entry, caller.as_ref(), scripts, now);
        let caller_language =
            whisper.caller_language.clone().unwrap_or_else(|| entry.language.clone());
        tracing::info!(operator, entry = entry.id, "operator connecting to a caller");
        // The whisper reads the case to the operator: audited like any read of a case.
        let audit = AuditEntry {
            actor: Some(operator),
            action: AuditAction::CaseWhisper,
            case: Some(entry.case),
            detail: format!("operator line, queue entry {}", entry.id),
            at: now,
        };
        let _ = queues.bounded("audit", storage.audit(audit)).await;
        NextWork::Caller {
            entry: entry.id,
            whisper,
            caller_language,
            provider_queue: entry.provider_queue.clone(),
        }
    }

    /// A callback that is due in the operator's languages comes before every waiting caller
    /// (see [`crate::domain::queue::next_for`]'s policy), its number opened here and written
    /// nowhere but the provider's document. `None` when no callback is due (or the list
    /// cannot be read in time).
    async fn due_callback(
        &self,
        operator: i64,
        speaks: &[LanguageTag],
        scripts: &ScriptSet,
    ) -> Option<NextWork> {
        let (storage, queues) = (self.storage(), self.queues());
        let now = self.now();
        let retry = i64::from(self.config().followups.retry_after_mins);
        let retry_before = now - Duration::minutes(retry);
        let due = storage.take_due_callback(operator, speaks.to_vec(), now, retry_before);
        let (follow_up, sealed) = queues.bounded("due callback", due).await.flatten()?;
        let Some(number) = self.open_callback_number(&sealed, &follow_up.call_sid) else {
            // Sealed under another key or altered: it stays taken by this operator (so it is
            // not offered again and again) and shows on their list.
            tracing::error!(follow_up = follow_up.id, "a due callback's number does not open");
            return None;
        };
        let script = follow_up.language.as_ref().and_then(|l| scripts.script(l));
        let whisper = Whisper {
            case: follow_up.case,
            caller_language: follow_up.language.clone(),
            labels: script.map(|s| labels(s, &follow_up.tags)).unwrap_or_default(),
            interpreter_needed: false,
            waited_secs: follow_up.wait_secs.unwrap_or(0),
            earlier_calls: follow_up.earlier_calls,
        };
        let audit = AuditEntry {
            actor: Some(operator),
            action: AuditAction::FollowupDial,
            case: Some(follow_up.case),
            detail: format!("operator line called back follow-up {}", follow_up.id),
            at: now,
        };
        let _ = queues.bounded("audit", storage.audit(audit)).await;
        let busy = storage.set_presence(operator, PresenceState::OnCall, None, None, now);
        let _ = queues.bounded("presence", busy).await;
        tracing::info!(operator, follow_up = follow_up.id, "operator line calls a caller back");
        Some(NextWork::Callback {
            follow_up: follow_up.id,
            tried: follow_up.attempts.len(),
            whisper,
            number,
        })
    }

    /// Records a callback attempt's result; a follow-up left open goes back to the list for a
    /// later try, and a caller reached puts the operator in wrap-up.
    pub async fn callback_attempted(&self, operator: i64, follow_up: i64, result: AttemptResult) {
        let (storage, queues) = (self.storage(), self.queues());
        let now = self.now();
        let max = self.config().followups.max_attempts;
        let recorded = storage.record_attempt(follow_up, operator, result, max, now);
        // An error: a retried Dial action, whose attempt is on record already.
        if let Some(Ok(recorded)) = queues.bounded("callback attempt", recorded).await
            && recorded.state != State::Closed
        {
            let release = storage.release_follow_up(follow_up, operator);
            let _ = queues.bounded("release", release).await;
        }
        if result == AttemptResult::Reached {
            self.wrap_up(operator).await;
        }
    }

    /// Puts the operator in wrap-up after a talk.
    pub async fn wrap_up(&self, operator: i64) {
        let now = self.now();
        let until = now + Duration::seconds(self.wrap_up_secs());
        let wrap =
            self.storage().set_presence(operator, PresenceState::WrapUp, Some(until), None, now);
        let _ = self.queues().bounded("wrap-up", wrap).await;
    }

    /// The seconds of wrap-up after a talk.
    pub fn wrap_up_secs(&self) -> i64 {
        i64::try_from(self.queues().config.wrap_up_secs).unwrap_or(0)
    }

    /// The operator's dial of queue entry `entry` ended (`talked`: seconds of talk); a caller
    /// still there goes back to waiting. The entry's state after, if known in time.
    pub async fn dial_ended(
        &self,
        entry: i64,
        operator: i64,
        talked: Option<u32>,
        caller_still_there: bool,
    ) -> Option<EntryState> {
        let now = self.now();
        let wrap_until = now + Duration::seconds(self.wrap_up_secs());
        let ended =
            self.storage().dial_ended(entry, operator, talked, caller_still_there, now, wrap_until);
        self.queues().bounded("dial ended", ended).await.flatten().map(|entry| entry.state)
    }
}
