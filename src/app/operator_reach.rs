//! Operators reachable when they say so: each person's mode, *on the line* (they dial the
//! operator line and wait on it) or *call me* (the hotline rings their phone when a caller
//! waits for them), their phone number sealed, and the ringing itself.
//!
//! A call-me operator who is available is rung by a task beside the requests
//! ([`App::spawn_ringer`]), woken when a caller is put in a queue or an operator becomes
//! available, and looking again every few seconds (a wrap-up or a pause ends with no event).
//! It claims the next caller for the operator with the very claim of the operator line (two
//! operators never get the same caller), then creates a call to their phone through the
//! provider's REST API. The answered call asks the operator to press 1 (a voicemail that
//! picks up does not), then runs the same whisper and bridge as the operator line. A ring not
//! answered, busy, failed or not accepted gives the caller back to the queue for the next
//! operator, and the operator is not rung again for `operators.no_answer_pause_mins`.
//!
//! The phone number is sealed like callback numbers, bound to the operator's id; it is opened
//! here only, for the provider's request, and screens show its last two digits.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::app::operator_line::NextWork;
use crate::app::{Actor, App, AppError};
use crate::domain::audit::AuditAction;
use crate::domain::cases::CallSid;
use crate::domain::followups::CallbackNumber;
use crate::domain::people::Person;
use crate::domain::queue::{EntryState, PresenceState, QueueEntry, Reach, stale_before};
use crate::scripts::ScriptSet;
use crate::storage::{AuditEntry, ReachSettings, RingCandidate};
use crate::twilio::account::Account;
use crate::twilio::calls::{CallsApi, NewCall};

/// How often the ringer looks for call-me operators and waiting callers without being woken.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// How long after its ringing a ring whose end was never reported is given up: time for the
/// operator to hear the question and press 1, and for the provider's status callback.
const RING_GRACE_SECS: i64 = 120;

/// The longest phone number text read: an E.164 number is at most 16 characters.
const MAX_PHONE_CHARS: usize = 32;

/// What wakes the ringer.
#[derive(Debug, Default)]
pub(crate) struct Ringer {
    wake: Notify,
}

/// The URLs of a ring call, built by the webhooks' surface (the use cases do not know its
/// routes): the one whose TwiML runs when the operator answers, and the status callback.
pub struct RingUrls {
    /// The answer URL of the ring of operator `.0` for queue entry `.1`, absolute.
    pub answer: Box<dyn Fn(i64, i64) -> String + Send + Sync>,
    /// The status callback URL of that ring, absolute.
    pub status: Box<dyn Fn(i64, i64) -> String + Send + Sync>,
}

/// A person's reach as their screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachView {
    /// On the line, or call me.
    pub reach: Reach,
    /// The last digits of their phone number, when one is set.
    pub phone_hint: Option<String>,
    /// The operator line's number, to dial to be on the line.
    pub line_number: Option<String>,
    /// Why call me cannot be chosen on this hotline, if it cannot.
    pub call_me_refused: Option<&'static str>,
    /// A call of theirs is up (the operator line, or a ring they took).
    pub on_a_call: bool,
    /// They are not rung before then: they did not answer the last ring.
    pub paused_until: Option<DateTime<Utc>>,
}

/// A ring call's request, as the hotline checks it.
#[derive(Debug)]
pub enum RingCall {
    /// Our ring of this operator, and they may work.
    Ours(Person),
    /// The provider's id of the ring is not noted yet (its answer to the create is on its
    /// way): ask again in a moment.
    NotYet,
    /// Not a ring we placed for this operator and entry (or the operator is disabled).
    NotOurs,
    /// The database could not tell in time.
    Unknown,
}

impl App {
    /// Why call-me mode cannot be chosen on this hotline; `None` when it can.
    pub fn call_me_refused(&self) -> Option<&'static str> {
        if self.provider().is_none() {
            Some(
                "the hotline has no provider account to place calls with \
                 (provider.account_sid)",
            )
        } else if self.operator_line_number().is_none() {
            Some("the operator line's number is not configured (operators.line_number)")
        } else {
            None
        }
    }

    /// The operator line's number, when configured.
    pub fn operator_line_number(&self) -> Option<&str> {
        Some(self.config().operators.line_number.as_str()).filter(|n| !n.is_empty())
    }

    /// Wakes the ringer: a caller was put in a queue, or an operator became available.
    pub fn wake_ringer(&self) {
        self.ringer().wake.notify_one();
    }

    /// `actor`'s own reach.
    pub async fn own_reach(&self, actor: &Actor) -> Result<ReachView, AppError> {
        let person = actor.person().ok_or(AppError::Forbidden)?;
        let settings = self.storage().reach_settings(person.id).await?.unwrap_or_default();
        self.reach_view(person.id, settings).await
    }

    /// Sets `actor`'s own mode (`line` or `call-me`) and, when `phone` is given, their phone
    /// number (`+` and 7 to 15 digits; empty removes it). Audited `user.reach`, never with
    /// the number. Call me needs a number and a hotline that can place calls.
    pub async fn set_own_reach(
        &self,
        actor: &Actor,
        mode: &str,
        phone: Option<&str>,
    ) -> Result<ReachView, AppError> {
        let person = actor.person().ok_or(AppError::Forbidden)?;
        let settings = self.change_reach(actor, person.id, mode, phone).await?;
        self.reach_view(person.id, settings).await
    }

    /// Sets person `id`'s mode and phone number as [`App::set_own_reach`] does (supervisor,
    /// or the terminal).
    pub async fn set_reach(
        &self,
        actor: &Actor,
        id: i64,
        mode: &str,
        phone: Option<&str>,
    ) -> Result<ReachView, AppError> {
        actor.require_supervisor()?;
        let settings = self.change_reach(actor, id, mode, phone).await?;
        self.reach_view(id, settings).await
    }

    async fn change_reach(
        &self,
        actor: &Actor,
        id: i64,
        mode: &str,
        phone: Option<&str>,
    ) -> Result<ReachSettings, AppError> {
        let reach = parse_reach(mode)?;
        let phone = match phone {
            None => None,
            Some(text) if text.trim().is_empty() => Some(None),
            Some(text) => {
                let number = parse_phone(text)?;
                let sealed = self.sealer().seal_operator_phone(&number, id).ok_or_else(|| {
                    AppError::Internal("the system gave no randomness to seal the number".into())
                })?;
                Some(Some(sealed))
            }
        };
        if reach == Reach::CallMe {
            if let Some(why) = self.call_me_refused() {
                return Err(AppError::Invalid(format!("call me cannot be chosen: {why}")));
            }
            let has_number = match &phone {
                Some(phone) => phone.is_some(),
                None => self
                    .storage()
                    .reach_settings(id)
                    .await?
                    .is_some_and(|settings| settings.phone_sealed.is_some()),
            };
            if !has_number {
                return Err(AppError::Invalid(
                    "call me needs the phone number to ring: + and the country code, 7 to 15 \
                     digits"
                        .into(),
                ));
            }
        }
        let settings = self
            .storage()
            .set_reach(id, reach, phone, actor.changed_by(), AuditAction::UserReach, self.now())
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no person has the id {id}")))?;
        self.wake_ringer();
        Ok(settings)
    }

    async fn reach_view(&self, id: i64, settings: ReachSettings) -> Result<ReachView, AppError> {
        let line = self.storage().line_state(id).await?;
        let now = self.now();
        Ok(ReachView {
            reach: settings.reach,
            phone_hint: settings
                .phone_sealed
                .as_deref()
                .and_then(|sealed| self.sealer().open_operator_phone(sealed, id))
                .map(|number| number.hint()),
            line_number: self.operator_line_number().map(str::to_owned),
            call_me_refused: self.call_me_refused(),
            on_a_call: line.on_a_call,
            paused_until: line.unreachable_until.filter(|until| *until > now),
        })
    }

    /// Starts the ringer, when the hotline can place calls (a provider account and the
    /// operator line's number); it stops when the handle is dropped or aborted.
    pub fn spawn_ringer(&self, urls: Arc<RingUrls>) -> Option<JoinHandle<()>> {
        if self.call_me_refused().is_some() {
            return None;
        }
        let app = self.clone();
        Some(tokio::spawn(async move {
            loop {
                app.ring_round(&urls).await;
                let _ = tokio::time::timeout(LOOK_EVERY, app.ringer().wake.notified()).await;
            }
        }))
    }

    /// Gives back the callers of rings that lapsed, then rings every call-me operator who may
    /// be rung and for whom a caller waits.
    async fn ring_round(&self, urls: &Arc<RingUrls>) {
        let (storage, queues) = (self.storage(), self.queues());
        let now = self.now();
        // A ring ends by its status callback; one never reported (lost, or the server was
        // down) would hold its caller and its operator for good. Past the ringing and the
        // operator's answer to it, with room to spare, it is over.
        let ring_secs = i64::from(self.config().operators.ring_secs);
        let lapsed_before = now - chrono::Duration::seconds(ring_secs + RING_GRACE_SECS);
        let pause =
            chrono::Duration::minutes(i64::from(self.config().operators.no_answer_pause_mins));
        let released = storage.release_lapsed_rings(lapsed_before, now, now + pause);
        if let Some(count @ 1..) = queues.bounded("lapsed rings", released).await {
            tracing::warn!(count, "rings whose end never came: their callers wait again");
        }
        let stale = stale_before(now, queues.config.max_wait_secs);
        let Some(candidates) =
            queues.bounded("ring candidates", storage.ring_candidates(now)).await
        else {
            return;
        };
        for candidate in candidates {
            let speaks = candidate.languages.clone();
            let claim = storage.claim_for_ring(candidate.operator, speaks, now, stale);
            if let Some(Some(entry)) = queues.bounded("ring claim", claim).await {
                let (app, urls) = (self.clone(), Arc::clone(urls));
                // Each ring waits on the provider's API on its own: one slow request must not
                // hold the callers of other operators.
                tokio::spawn(async move { app.ring(&candidate, &entry, &urls).await });
            }
        }
    }

    /// Rings `candidate` for `entry`, claimed for them; a ring that cannot be placed gives
    /// the caller back at once.
    async fn ring(&self, candidate: &RingCandidate, entry: &QueueEntry, urls: &RingUrls) {
        let operator = candidate.operator;
        let (Some(account), Some(from)) =
            (self.provider().cloned(), self.operator_line_number().map(str::to_owned))
        else {
            return self.ring_over(entry.id, operator, None).await;
        };
        let Some(number) = self.sealer().open_operator_phone(&candidate.phone_sealed, operator)
        else {
            // Sealed under another key or altered: they are paused like a ring not answered,
            // and a supervisor sees the error.
            tracing::error!(operator, "a call-me operator's phone number does not open");
            return self.ring_over(entry.id, operator, None).await;
        };
        let (answer, status) =
            ((urls.answer)(operator, entry.id), (urls.status)(operator, entry.id));
        let ring_secs = self.config().operators.ring_secs;
        let created = tokio::task::spawn_blocking(move || {
            place_call(&account, &number, &from, &answer, &status, ring_secs)
        })
        .await;
        let sid = match created {
            Ok(Ok(sid)) => sid,
            Ok(Err(error)) => {
                tracing::warn!(operator, entry = entry.id, %error, "could not ring an operator");
                return self.ring_over(entry.id, operator, None).await;
            }
            Err(error) => {
                tracing::error!(operator, %error, "the ring task failed");
                return self.ring_over(entry.id, operator, None).await;
            }
        };
        let placed = self.storage().ring_placed(entry.id, operator, &sid);
        if self.queues().bounded("ring placed", placed).await != Some(true) {
            // The caller left meanwhile (or the database is slow): the answered call finds
            // no caller and is given the next one, or hears so.
            tracing::info!(
                operator,
                entry = entry.id,
                "ring placed for a caller no longer waiting"
            );
        }
        tracing::info!(operator, entry = entry.id, "rang a call-me operator");
        let audit = AuditEntry {
            actor: Some(operator),
            action: AuditAction::OperatorRing,
            case: Some(entry.case),
            detail: format!("rang the operator's phone for queue entry {}", entry.id),
            at: self.now(),
        };
        let _ = self.queues().bounded("audit", self.storage().audit(audit)).await;
    }

    /// Checks that a request of call `call_sid` is the ring placed for `operator` and queue
    /// entry `entry`.
    pub async fn ring_call(&self, operator: i64, entry: i64, call_sid: &CallSid) -> RingCall {
        let (storage, queues) = (self.storage(), self.queues());
        let Some(ring) = queues.bounded("ring", storage.ring_of(entry)).await else {
            return RingCall::Unknown;
        };
        let Some((found, placed)) = ring else { return RingCall::NotOurs };
        if found.operator_id != Some(operator) {
            return RingCall::NotOurs;
        }
        match placed {
            Some(placed) if placed == call_sid.as_str() => {}
            None if found.state == EntryState::Connecting => return RingCall::NotYet,
            _ => return RingCall::NotOurs,
        }
        match queues.bounded("ring person", storage.person(operator)).await {
            Some(Some(person)) if !person.disabled => RingCall::Ours(person),
            Some(_) => RingCall::NotOurs,
            None => RingCall::Unknown,
        }
    }

    /// The operator pressed 1 on ring call `call_sid` (already checked by
    /// [`App::ring_call`]): the call is theirs on the line from now on, like a dial-in, and
    /// their work is the caller claimed for them, or, if that caller left meanwhile, the
    /// next one as the operator line gives it. `None` when the database cannot take the
    /// call as theirs in time.
    pub async fn ring_taken(
        &self,
        person: &Person,
        entry: i64,
        call_sid: CallSid,
        scripts: &ScriptSet,
    ) -> Option<NextWork> {
        let (storage, queues) = (self.storage(), self.queues());
        let now = self.now();
        let on_line =
            storage.set_presence(person.id, PresenceState::OnCall, None, Some(call_sid), now);
        queues.bounded("ring taken", on_line).await?;
        let found = queues.bounded("ring entry", storage.ring_of(entry)).await.flatten();
        match found {
            Some((found, _))
                if found.state == EntryState::Connecting
                    && found.operator_id == Some(person.id) =>
            {
                Some(self.caller_work(person.id, &found, scripts).await)
            }
            _ => Some(self.next_work(person.id, &person.languages, scripts).await),
        }
    }

    /// The provider's status callback of ring call `call_sid` for `operator` and `entry`:
    /// a final status ends the ring (see [`Storage::ring_ended`]), and the ringer looks for
    /// the next operator at once.
    ///
    /// [`Storage::ring_ended`]: crate::storage::Storage::ring_ended
    pub async fn ring_status(&self, operator: i64, entry: i64, call_sid: CallSid) {
        self.ring_over(entry, operator, Some(call_sid)).await;
    }

    /// Ends a ring: see [`App::ring_status`]; `sid` is `None` when it could not be placed.
    async fn ring_over(&self, entry: i64, operator: i64, sid: Option<CallSid>) {
        let now = self.now();
        let pause =
            chrono::Duration::minutes(i64::from(self.config().operators.no_answer_pause_mins));
        let ended = self.storage().ring_ended(entry, operator, sid, now, now + pause);
        let _ = self.queues().bounded("ring ended", ended).await;
        self.wake_ringer();
    }
}

/// Creates the ring call; its id.
fn place_call(
    account: &Arc<Account>,
    number: &CallbackNumber,
    from: &str,
    answer: &str,
    status: &str,
    ring_secs: u32,
) -> Result<CallSid, crate::twilio::account::ApiError> {
    let to = number.e164();
    let call = NewCall { to: &to, from, url: answer, status_callback: status, ring_secs };
    let sid = CallsApi::new(Arc::clone(account)).create(&call)?;
    CallSid::parse(&sid).ok_or_else(|| {
        crate::twilio::account::ApiError::Unreachable("a call id that is not one".into())
    })
}

/// `line` or `call-me`.
fn parse_reach(text: &str) -> Result<Reach, AppError> {
    Reach::parse(text.trim()).ok_or_else(|| {
        AppError::Invalid(format!(
            "mode {:?} is not line or call-me",
            text.chars().take(20).collect::<String>()
        ))
    })
}

/// A phone number typed on a screen or a command line: `+` and 7 to 15 digits (spaces
/// around it are ignored). The refusal never quotes it.
pub fn parse_phone(text: &str) -> Result<CallbackNumber, AppError> {
    let text = text.trim();
    (text.chars().count() <= MAX_PHONE_CHARS)
        .then(|| CallbackNumber::from_caller_id(text))
        .flatten()
        .ok_or_else(|| {
            AppError::Invalid(
                "the phone number must be + and the country code, 7 to 15 digits in all, \
                 like +442071234567"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164_and_refusals_do_not_quote_them() {
        assert_eq!(parse_phone(" +380441234567 ").unwrap().e164(), "+380441234567");
        let huge = format!("+{}", "1".repeat(100_000));
        for odd in [
            "",
            "+",
            "380441234567",
            "+0441234567",
            "+12345",
            "+1234567890123456",
            "+38044 123 4567",
            "+38044123456x",
            "<script>+380441234567",
            "+380441234567\0",
            "+３８０４４１２３４５６７",
            huge.as_str(),
        ] {
            let error = parse_phone(odd).unwrap_err().to_string();
            assert!(!error.contains("441234567"), "{odd:?}: {error}");
        }
    }

    #[test]
    fn modes_are_line_or_call_me() {
        assert_eq!(parse_reach("call-me").unwrap(), Reach::CallMe);
        assert_eq!(parse_reach(" line ").unwrap(), Reach::Line);
        for odd in ["", "CALL-ME", "phone", &"x".repeat(5000)] {
            assert!(parse_reach(odd).is_err(), "{odd:?}");
        }
    }
}
