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

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, ApiError, ApiState, ErrorBody, Supervisor};
use crate::app::AppError;
use crate::app::presence::{LanguageQueue, OperatorPresence};
use crate::domain::queue::{PresenceState, QueueEntry};

/// The bodies here are a few bytes.
const MAX_BODY_BYTES: usize = 1024;

/// This resource's routes.
pub fn router() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(queues))
        .routes(routes!(claim))
        .routes(routes!(set_state))
        .routes(routes!(operators))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `GET /queues`.
#[utoipa::path(
    get,
    path = "/queues",
    tag = "queues",
    responses((status = 200, description = "Per language (an operator's own, every one for a supervisor), who waits, next first; never a number", body = Vec<LanguageQueue>))
)]
async fn queues(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
) -> Result<Json<Vec<LanguageQueue>>, ApiError> {
    Ok(Json(state.app.language_queues(&actor).await?))
}

/// What `claim` answers: the queue entry, and until when it is held.
#[derive(Debug, Serialize, ToSchema)]
struct Claimed {
    /// The caller reserved.
    #[serde(flatten)]
    entry: QueueEntry,
    /// Until when; dial in before it.
    reserved_until: DateTime<Utc>,
}

/// `POST /queues/claim`.
#[utoipa::path(
    post,
    path = "/queues/claim",
    tag = "queues",
    responses(
        (status = 200, description = "The next caller, reserved for this person until they dial in (audited as `queue.claim`)", body = Claimed),
        (status = 404, description = "Nobody waits for this person", body = ErrorBody),
    )
)]
async fn claim(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
) -> Result<Json<Claimed>, ApiError> {
    let (entry, reserved_until) = state.app.claim_next(&actor).await?;
    Ok(Json(Claimed { entry, reserved_until }))
}

/// The body of `PUT /me/state`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StateChange {
    /// `available`, `break` or `offline`; on-call and wrap-up are set by the call flow.
    state: String,
}

/// What `PUT /me/state` answers.
#[derive(Debug, Serialize, ToSchema)]
struct OwnState {
    /// The state as it reads now.
    state: PresenceState,
}

/// `PUT /me/state`.
#[utoipa::path(
    put,
    path = "/me/state",
    tag = "queues",
    request_body = StateChange,
    responses(
        (status = 200, description = "The new state", body = OwnState),
        (status = 400, description = "Not one of the states a person sets", body = ErrorBody),
    )
)]
async fn set_state(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
    body: Result<Json<StateChange>, JsonRejection>,
) -> Result<Json<OwnState>, ApiError> {
    let usage = || {
        ApiError::BadRequest(
            "send {\"state\": \"available\"}, \"break\" or \"offline\"; on-call and wrap-up are \
             set by the call flow"
                .into(),
        )
    };
    let Ok(Json(change)) = body else { return Err(usage()) };
    let new = match state.app.set_own_state(&actor, &change.state).await {
        Ok(new) => new,
        Err(AppError::Invalid(_)) => return Err(usage()),
        Err(other) => return Err(other.into()),
    };
    Ok(Json(OwnState { state: new }))
}

/// `GET /operators`.
#[utoipa::path(
    get,
    path = "/operators",
    tag = "queues",
    responses(
        (status = 200, description = "Everyone's presence", body = Vec<OperatorPresence>),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn operators(
    State(state): State<Arc<ApiState>>,
    Supervisor(actor): Supervisor,
) -> Result<Json<Vec<OperatorPresence>>, ApiError> {
    Ok(Json(state.app.operator_presence(&actor).await?))
}
