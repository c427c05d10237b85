//! The follow-up list as people work it: voicemails, callback requests and calls missed in
//! the queue, listed, read, taken, a callback's number revealed to the person who took it,
//! and the attempts recorded; each checked and audited here whichever surface asked.
//!
//! A follow-up belongs to its case: whoever may not see the case gets the same "no such
//! follow-up" as for one that does not exist. The one place a sealed callback number is
//! opened is [`App::open_callback_number`].

use crate::app::{Actor, App, AppError};
use crate::domain::audit::AuditAction;
use crate::domain::cases::CallSid;
use crate::domain::followups::{self, AttemptResult, CallbackNumber, FollowUp, Kind};
use crate::domain::people::Person;
use crate::storage::Refusal;

impl App {
    /// The follow-ups `actor` sees (those of the cases they may see; every one for a
    /// supervisor), with the closed ones if `closed`, oldest place in line first.
    pub async fn follow_ups(&self, actor: &Actor, closed: bool) -> Result<Vec<FollowUp>, AppError> {
        let all = self.storage().follow_ups(closed).await?;
        let cases = all.iter().map(|follow_up| follow_up.case).collect();
        let visible = self.visible_cases(actor, cases).await?;
        Ok(all.into_iter().filter(|follow_up| visible.contains(&follow_up.case)).collect())
    }

    /// Follow-up `id`, for someone who may see its case; audited (`followup.read`).
    pub async fn follow_up(&self, actor: &Actor, id: i64) -> Result<FollowUp, AppError> {
        let follow_up = self.visible_follow_up(actor, id, "followup.read").await?;
        let detail = format!("follow-up {}", follow_up.id);
        self.audit(actor, AuditAction::FollowupRead, Some(follow_up.case), detail).await?;
        Ok(follow_up)
    }

    /// `actor` takes follow-up `id` (only in a language they speak); from then on only they
    /// can reveal its number and record attempts. Audited (`followup.take`).
    pub async fn take_follow_up(&self, actor: &Actor, id: i64) -> Result<FollowUp, AppError> {
        let person = the_person(actor)?;
        self.visible_follow_up(actor, id, "followup.take").await?;
        let speaks = Some(person.languages.clone());
        let taken = self.storage().take_follow_up(id, person.id, speaks, self.now()).await?;
        let follow_up = refused(taken, id)?;
        let detail = format!("follow-up {id}");
        self.audit(actor, AuditAction::FollowupTake, Some(follow_up.case), detail).await?;
        Ok(follow_up)
    }

    /// The callback number of follow-up `id`, for the person who took it: audited
    /// (`followup.reveal`) before it is returned, and every refusal audited too
    /// (`followup.reveal-refused`).
    pub async fn reveal_callback_number(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(FollowUp, CallbackNumber), AppError> {
        let person = the_person(actor)?;
        let Some((follow_up, sealed)) = self.storage().sealed_number(id).await? else {
            return Err(not_found(id));
        };
        let attempt = format!("followup.reveal {id}");
        if !self.may_work_on(actor, follow_up.case, &attempt).await? {
            return Err(not_found(id));
        }
        let theirs =
            follow_up.state == followups::State::Taken && follow_up.taken_by == Some(person.id);
        if !theirs {
            let detail = format!("follow-up {id}: refused, not taken by this person");
            self.audit(actor, AuditAction::FollowupRevealRefused, Some(follow_up.case), detail)
                .await?;
            tracing::warn!(target: "hotline::security", follow_up = id, "refused a number reveal");
            return Err(not_yours(id));
        }
        if follow_up.kind != Kind::Callback {
            return Err(AppError::NotFound(format!("follow-up {id} has no callback number")));
        }
        let number =
            sealed.and_then(|sealed| self.open_callback_number(&sealed, &follow_up.call_sid));
        let Some(number) = number else {
            // Sealed under another key (a key was changed) or altered on disk.
            tracing::error!(follow_up = id, "a sealed callback number does not open");
            return Err(AppError::Conflict(format!(
                "the number of follow-up {id} cannot be opened with the current callback key"
            )));
        };
        let detail = format!("follow-up {id}");
        self.audit(actor, AuditAction::FollowupReveal, Some(follow_up.case), detail).await?;
        Ok((follow_up, number))
    }

    /// One attempt on follow-up `id` by the person who took it, with its `result` (`tried`,
    /// `reached`, `no-answer`, `wrong-number`); `reached` and `wrong-number` close it, and
    /// so does reaching `[followups] max_attempts`. Audited (`followup.attempt`).
    pub async fn record_attempt(
        &self,
        actor: &Actor,
        id: i64,
        result: &str,
    ) -> Result<FollowUp, AppError> {
        let person = the_person(actor)?;
        self.visible_follow_up(actor, id, "followup.attempt").await?;
        let result = AttemptResult::parse(result).ok_or_else(|| {
            AppError::Invalid(format!(
                "result {:?} is not one of tried, reached, no-answer, wrong-number",
                result.chars().take(40).collect::<String>()
            ))
        })?;
        let max = self.config().followups.max_attempts;
        let recorded =
            self.storage().record_attempt(id, person.id, result, max, self.now()).await?;
        let follow_up = refused(recorded, id)?;
        let detail = format!("follow-up {id}: {}", result.as_str());
        self.audit(actor, AuditAction::FollowupAttempt, Some(follow_up.case), detail).await?;
        Ok(follow_up)
    }

    /// Opens a sealed callback number of call `call`: the reveal's, the operator line's dial
    /// of a callback, and the call's own read-back of the number it typed, and nowhere else. `None` if it was sealed under another key or
    /// altered on disk.
    pub(crate) fn open_callback_number(
        &self,
        sealed: &str,
        call: &CallSid,
    ) -> Option<CallbackNumber> {
        self.sealer().open(sealed, call)
    }

    /// Follow-up `id` if `actor` may see its case ([`App::may_work_on`], which audits an
    /// `attempt` on a case out of reach), else the same "no such follow-up" as for one that
    /// does not exist.
    async fn visible_follow_up(
        &self,
        actor: &Actor,
        id: i64,
        attempt: &str,
    ) -> Result<FollowUp, AppError> {
        let follow_up = self.storage().follow_up(id).await?.ok_or_else(|| not_found(id))?;
        let attempt = format!("{attempt} {id}");
        if self.may_work_on(actor, follow_up.case, &attempt).await? {
            Ok(follow_up)
        } else {
            Err(not_found(id))
        }
    }
}

/// The person working a follow-up: taking one and its attempts are theirs, so the terminal,
/// which is nobody, may not.
fn the_person(actor: &Actor) -> Result<&Person, AppError> {
    actor.person().ok_or(AppError::Forbidden)
}

fn refused(result: Result<FollowUp, Refusal>, id: i64) -> Result<FollowUp, AppError> {
    result.map_err(|refusal| match refusal {
        Refusal::NotFound => not_found(id),
        Refusal::Conflict(message) => AppError::Conflict(message),
        Refusal::NotYours => not_yours(id),
    })
}

fn not_yours(id: i64) -> AppError {
    AppError::Conflict(format!(
        "follow-up {id} is not taken by you: take it first (POST /api/followups/{id}/take)"
    ))
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("there is no follow-up {id} for you"))
}
