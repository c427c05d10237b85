//! The live queues and presence for people at a screen.
//!
//! - `GET /queues`: per language (an operator's own; every language for a supervisor), who
//!   waits, in the server's order: position, wait, tags, repeat caller, interpreter — never a
//!   number or a caller hash — and the language's wait estimate (see [`crate::domain::queue`]).
//! - `POST /queues/claim`: reserves the next caller for the operator for
//!   [`CLAIM_SECS`](crate::domain::queue::CLAIM_SECS) seconds; their next dial-in on the operator line
//!   connects them to exactly that caller. 404 when nobody waits for them. Audited
//!   (`queue.claim`, with the case).
//! - `PUT /me/state`: `available`, `break` or `offline` for oneself; on-call and wrap-up are
//!   the call flow's (400).
//! - `GET /operators` (supervisors): everyone's presence.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Actor, ApiError, ApiState};
use crate::app::queues::{Queues, estimated_wait};
use crate::domain::audit::AuditAction;
use crate::domain::queue::{CLAIM_SECS, EntryState, PresenceState, stale_before};
use crate::scripts::{LanguageTag, Tag};
use crate::storage::{AuditEntry, QueueEntry, WaitingCaller};

/// The bodies here are a few bytes.
const MAX_BODY_BYTES: usize = 1024;

/// This resource's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/queues", get(queues))
        .route("/queues/claim", post(claim))
        .route("/me/state", put(set_state))
        .route("/operators", get(operators))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// One language's queue.
#[derive(Debug, Serialize)]
pub(crate) struct LanguageQueue {
    /// The operators' language.
    pub(crate) language: LanguageTag,
    /// Mean wait of the callers answered in the estimate window; absent without history.
    pub(crate) estimated_wait_secs: Option<i64>,
    /// Who waits (or is being connected), next first.
    pub(crate) callers: Vec<Caller>,
}

/// A waiting caller on a screen.
#[derive(Debug, Serialize)]
pub(crate) struct Caller {
    /// The queue entry (what `claim` returns).
    pub(crate) entry: i64,
    /// The case number.
    pub(crate) case: String,
    /// 1 for the next one; absent while being connected.
    pub(crate) position: Option<u32>,
    /// `waiting` or `connecting`.
    pub(crate) state: EntryState,
    /// Seconds waited so far.
    pub(crate) wait_secs: i64,
    /// The caller's own language.
    pub(crate) caller_language: Option<LanguageTag>,
    /// The tags their choices set.
    pub(crate) tags: Vec<Tag>,
    /// Whether they called before.
    pub(crate) repeat_caller: bool,
    /// Routed here from another language.
    pub(crate) interpreter_needed: bool,
    /// Claimed by an operator.
    pub(crate) operator_id: Option<i64>,
}

impl Caller {
    fn new(caller: WaitingCaller, position: Option<u32>, now: DateTime<Utc>) -> Caller {
        Caller {
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

/// `GET /queues`.
async fn queues(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
) -> Result<Json<Vec<LanguageQueue>>, ApiError> {
    Ok(Json(language_queues(&state, &actor).await?))
}

/// The queues `actor` sees: their languages' (every language for a supervisor), each with
/// its callers in the server's order and its wait estimate. The console's live queue shows
/// the same.
pub(crate) async fn language_queues(
    state: &ApiState,
    actor: &Actor,
) -> Result<Vec<LanguageQueue>, ApiError> {
    let now = Utc::now();
    let waiting = state.storage.waiting_callers().await?;
    let mut languages: Vec<LanguageTag> = if actor.person.is_supervisor() {
        // The live version's languages: one published since the start shows at once.
        state.live.live().set.scripts.keys().cloned().collect()
    } else {
        actor.person.languages.clone()
    };
    if actor.person.is_supervisor() {
        for caller in &waiting {
            if !languages.contains(&caller.entry.language) {
                languages.push(caller.entry.language.clone());
            }
        }
    }
    let queues = Queues::new(&state.config.queues);
    let mut out = Vec::with_capacity(languages.len());
    for language in languages {
        let mut position = 0;
        let callers = waiting
            .iter()
            .filter(|c| c.entry.language == language)
            .map(|c| {
                let place = (c.entry.state == EntryState::Waiting).then(|| {
                    position += 1;
                    position
                });
                Caller::new(c.clone(), place, now)
            })
            .collect();
        let estimated_wait_secs = estimated_wait(&state.storage, &queues, &language).await;
        out.push(LanguageQueue { language, estimated_wait_secs, callers });
    }
    Ok(out)
}

/// What `claim` answers.
#[derive(Debug, Serialize)]
struct Claimed {
    /// The caller reserved.
    #[serde(flatten)]
    entry: QueueEntry,
    /// Until when; dial in before it.
    reserved_until: DateTime<Utc>,
}

/// `POST /queues/claim`.
async fn claim(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
) -> Result<Json<Claimed>, ApiError> {
    let (entry, reserved_until) = claim_next(&state, &actor).await?;
    Ok(Json(Claimed { entry, reserved_until }))
}

/// Reserves the next caller for `actor` for [`CLAIM_SECS`] seconds (audited `queue.claim`):
/// the entry and until when. 404 when nobody waits for their languages.
pub(crate) async fn claim_next(
    state: &ApiState,
    actor: &Actor,
) -> Result<(QueueEntry, DateTime<Utc>), ApiError> {
    let now = Utc::now();
    let until = now + Duration::seconds(CLAIM_SECS);
    let stale = stale_before(now, state.config.queues.max_wait_secs);
    let entry = state
        .storage
        .claim_next(actor.id(), actor.person.languages.clone(), now, until, stale)
        .await?
        .ok_or_else(|| ApiError::NotFound("nobody is waiting for your languages".into()))?;
    let audit = AuditEntry {
        actor: Some(actor.id()),
        action: AuditAction::QueueClaim,
        case: Some(entry.case),
        detail: format!("queue entry {} reserved until {}", entry.id, until.to_rfc3339()),
    };
    state.storage.audit(audit).await?;
    Ok((entry, until))
}

/// The body of `PUT /me/state`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    state: String,
}

/// `PUT /me/state`.
async fn set_state(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
    body: Result<Json<StateChange>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let usage = || {
        ApiError::BadRequest(
            "send {\"state\": \"available\"}, \"break\" or \"offline\"; on-call and wrap-up are \
             set by the call flow"
                .into(),
        )
    };
    let Ok(Json(change)) = body else { return Err(usage()) };
    let new = set_own_state(&state, &actor, &change.state).await.map_err(|error| match error {
        ApiError::BadRequest(_) => usage(),
        other => other,
    })?;
    Ok(Json(serde_json::json!({ "state": new })))
}

/// Sets `actor`'s own state to `available`, `break` or `offline`; on-call and wrap-up are
/// the call flow's, and anything else is refused (400).
pub(crate) async fn set_own_state(
    state: &ApiState,
    actor: &Actor,
    text: &str,
) -> Result<PresenceState, ApiError> {
    let new = match PresenceState::parse(text) {
        Some(s @ (PresenceState::Available | PresenceState::Break | PresenceState::Offline)) => s,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "state {:?} is not available, break or offline; on-call and wrap-up are set by \
                 the call flow",
                text.chars().take(40).collect::<String>()
            )));
        }
    };
    state.storage.set_presence(actor.id(), new, None, None, Utc::now()).await?;
    Ok(new)
}

/// One person's presence for a supervisor.
#[derive(Debug, Serialize)]
struct OperatorPresence {
    id: i64,
    name: String,
    role: crate::domain::people::Role,
    languages: Vec<LanguageTag>,
    disabled: bool,
    /// As it reads now: a finished wrap-up is available.
    state: PresenceState,
    since: Option<DateTime<Utc>>,
    /// End of a wrap-up.
    until: Option<DateTime<Utc>>,
}

/// `GET /operators`.
async fn operators(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
) -> Result<Json<Vec<OperatorPresence>>, ApiError> {
    actor.require_supervisor()?;
    let now = Utc::now();
    let presences = state.storage.presences().await?;
    let people = state.storage.people().await?;
    Ok(Json(
        people
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
            .collect(),
    ))
}
