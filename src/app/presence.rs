//! Operators at a screen: their presence, the live queues of their languages, a claim on the
//! next caller, and the case they are on. The JSON API (`/queues`, `/me/state`,
//! `/operators`) and the console's operator screen show the same, from here.
//!
//! A waiting caller is shown by case number, tags and marks: never a number or a caller
//! hash.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::queues::estimated_wait;
use crate::app::{Actor, App, AppError};
use crate::domain::audit::AuditAction;
use crate::domain::cases::CaseNumber;
use crate::domain::people::{Person, Role};
use crate::domain::queue::{CLAIM_SECS, EntryState, PresenceState, QueueEntry, stale_before};
use crate::scripts::{LanguageTag, Tag};
use crate::storage::{AuditEntry, WaitingCaller};

/// One language's queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageQueue {
    /// The operators' language.
    pub language: LanguageTag,
    /// Mean wait of the callers answered in the estimate window; absent without history.
    pub estimated_wait_secs: Option<i64>,
    /// Who waits (or is being connected), next first.
    pub callers: Vec<Caller>,
}

/// A waiting caller on a screen.
#[derive(Debug, Serialize, ToSchema)]
pub struct Caller {
    /// The queue entry (what `claim` returns).
    pub entry: i64,
    /// The case number.
    pub case: String,
    /// 1 for the next one; absent while being connected.
    pub position: Option<u32>,
    /// `waiting` or `connecting`.
    pub state: EntryState,
    /// Seconds waited so far.
    pub wait_secs: i64,
    /// The caller's own language.
    pub caller_language: Option<LanguageTag>,
    /// The tags their choices set.
    pub tags: Vec<Tag>,
    /// Whether they called before.
    pub repeat_caller: bool,
    /// Routed here from another language.
    pub interpreter_needed: bool,
    /// Claimed by an operator.
    pub operator_id: Option<i64>,
    /// Seconds left of the hold when a claim holds this caller for the person asking:
    /// their screen counts it down.
    #[serde(skip)]
    pub reserved_for_you_secs: Option<i64>,
}

impl Caller {
    fn new(
        caller: WaitingCaller,
        position: Option<u32>,
        now: DateTime<Utc>,
        asking: Option<i64>,
    ) -> Caller {
        let reserved_for_you_secs = caller
            .reserved
            .filter(|(by, until)| Some(*by) == asking && *until > now)
            .map(|(_, until)| (until - now).num_seconds().max(0));
        Caller {
            reserved_for_you_secs,
            entry: caller.entry.id,
            case: caller.entry.case.to_string(),
            position,
            state: caller.entry.state,
            wait_secs: caller.entry.wait_secs(now),
            caller_language: caller.caller_language,
            tags: caller.tags,
            repeat_caller: caller.repeat_caller,
            interpreter_needed: caller.entry.interpreter_needed,
            operator_id: caller.entry.operator_id,
        }
    }
}

/// One person's presence, for a supervisor.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorPresence {
    /// Their id.
    pub id: i64,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// The languages they take calls in.
    pub languages: Vec<LanguageTag>,
    /// Whether they are disabled.
    pub disabled: bool,
    /// As it reads now: a finished wrap-up is available.
    pub state: PresenceState,
    /// Since when.
    pub since: Option<DateTime<Utc>>,
    /// End of a wrap-up.
    pub until: Option<DateTime<Utc>>,
}

/// A person's own presence as their screen shows it.
#[derive(Debug, Clone, Copy)]
pub struct OwnPresence {
    /// As it reads now.
    pub state: PresenceState,
    /// Seconds of wrap-up left.
    pub wrap_up_left: Option<i64>,
}

impl App {
    /// The queues `actor` sees: their languages' (every language for a supervisor), each
    /// with its callers in the server's order and its wait estimate.
    pub async fn language_queues(&self, actor: &Actor) -> Result<Vec<LanguageQueue>, AppError> {
        let now = self.now();
        let waiting = self.storage().waiting_callers().await?;
        let mut languages: Vec<LanguageTag> = match actor.person() {
            Some(person) if !person.is_supervisor() => person.languages.clone(),
            _ => {
                // The live version's languages: one published since the start shows at once.
                let mut all: Vec<LanguageTag> =
                    self.live().live().set.scripts.keys().cloned().collect();
                for caller in &waiting {
                    if !all.contains(&caller.entry.language) {
                        all.push(caller.entry.language.clone());
                    }
                }
                all
            }
        };
        let mut out = Vec::with_capacity(languages.len());
        for language in languages.drain(..) {
            let mut position = 0;
            let callers = waiting
                .iter()
                .filter(|c| c.entry.language == language)
                .map(|c| {
                    let place = (c.entry.state == EntryState::Waiting).then(|| {
                        position += 1;
                        position
                    });
                    Caller::new(c.clone(), place, now, actor.person().map(|p| p.id))
                })
                .collect();
            let estimated_wait_secs =
                estimated_wait(self.storage(), self.queues(), &language).await;
            out.push(LanguageQueue { language, estimated_wait_secs, callers });
        }
        Ok(out)
    }

    /// Reserves the next caller for `actor` for [`CLAIM_SECS`] seconds (audited
    /// `queue.claim`): their next dial-in on the operator line connects them to exactly that
    /// caller. The entry and until when; [`AppError::NotFound`] when nobody waits for their
    /// languages.
    pub async fn claim_next(&self, actor: &Actor) -> Result<(QueueEntry, DateTime<Utc>), AppError> {
        let person = operator(actor)?;
        let now = self.now();
        let until = now + Duration::seconds(CLAIM_SECS);
        let stale = stale_before(now, self.config().queues.max_wait_secs);
        let entry = self
            .storage()
            .claim_next(person.id, person.languages.clone(), now, until, stale)
            .await?
            .ok_or_else(|| AppError::NotFound("nobody is waiting for your languages".into()))?;
        let audit = AuditEntry {
            actor: Some(person.id),
            action: AuditAction::QueueClaim,
            case: Some(entry.case),
            detail: format!("queue entry {} reserved until {}", entry.id, until.to_rfc3339()),
            at: now,
        };
        self.storage().audit(audit).await?;
        Ok((entry, until))
    }

    /// Sets `actor`'s own state to `available`, `break` or `offline`; on-call and wrap-up
    /// are the call flow's, and anything else is refused ([`AppError::Invalid`]).
    pub async fn set_own_state(
        &self,
        actor: &Actor,
        text: &str,
    ) -> Result<PresenceState, AppError> {
        let person = operator(actor)?;
        let new = match PresenceState::parse(text) {
            Some(
                s @ (PresenceState::Available | PresenceState::Break | PresenceState::Offline),
            ) => s,
            _ => {
                return Err(AppError::Invalid(format!(
                    "state {:?} is not available, break or offline; on-call and wrap-up are set \
                     by the call flow",
                    text.chars().take(40).collect::<String>()
                )));
            }
        };
        self.storage().set_presence(person.id, new, None, None, self.now()).await?;
        if new == PresenceState::Available {
            // A call-me operator is rung for a caller already waiting.
            self.wake_ringer();
        }
        Ok(new)
    }

    /// `actor`'s own presence, as it reads now.
    pub async fn own_presence(&self, actor: &Actor) -> Result<OwnPresence, AppError> {
        let person = operator(actor)?;
        let now = self.now();
        let presences = self.storage().presences().await?;
        let presence = presences.into_iter().find(|p| p.user_id == person.id);
        let state = presence.as_ref().map_or(PresenceState::Offline, |p| p.effective(now));
        let wrap_up_left = presence
            .as_ref()
            .filter(|_| state == PresenceState::WrapUp)
            .and_then(|p| p.until)
            .map(|until| (until - now).num_seconds().max(0));
        Ok(OwnPresence { state, wrap_up_left })
    }

    /// The case `actor` is on: the caller they were last given, while its case is open.
    pub async fn own_case(&self, actor: &Actor) -> Result<Option<CaseNumber>, AppError> {
        let person = operator(actor)?;
        let storage = self.storage();
        let Some(entry) = storage.latest_taken(person.id).await? else { return Ok(None) };
        let open =
            storage.case_work(entry.case).await?.is_some_and(|work| work.closed_at.is_none());
        Ok(open.then_some(entry.case))
    }

    /// Everyone's presence, as it reads now (supervisor).
    pub async fn operator_presence(
        &self,
        actor: &Actor,
    ) -> Result<Vec<OperatorPresence>, AppError> {
        actor.require_supervisor()?;
        let now = self.now();
        let presences = self.storage().presences().await?;
        let people = self.storage().people().await?;
        Ok(people
            .into_iter()
            .map(|person| {
                let presence = presences.iter().find(|p| p.user_id == person.id);
                OperatorPresence {
                    id: person.id,
                    name: person.name,
                    role: person.role,
                    languages: person.languages,
                    disabled: person.disabled,
                    state: presence.map_or(PresenceState::Offline, |p| p.effective(now)),
                    since: presence.map(|p| p.since),
                    until: presence.and_then(|p| p.until).filter(|until| *until > now),
                }
            })
            .collect())
    }
}

/// The person at a screen: the terminal has no presence, no queue and no case.
fn operator(actor: &Actor) -> Result<&Person, AppError> {
    actor.person().ok_or(AppError::Forbidden)
}
