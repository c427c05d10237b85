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
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Actor, ApiError, ApiState, Supervisor};
use crate::app::AppError;
use crate::app::presence::{LanguageQueue, OperatorPresence};
use crate::domain::queue::QueueEntry;

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

/// `GET /queues`.
async fn queues(
    State(state): State<Arc<ApiState>>,
    actor: Actor,
) -> Result<Json<Vec<LanguageQueue>>, ApiError> {
    Ok(Json(state.app.language_queues(&actor).await?))
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
    let (entry, reserved_until) = state.app.claim_next(&actor).await?;
    Ok(Json(Claimed { entry, reserved_until }))
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
    let new = match state.app.set_own_state(&actor, &change.state).await {
        Ok(new) => new,
        Err(AppError::Invalid(_)) => return Err(usage()),
        Err(other) => return Err(other.into()),
    };
    Ok(Json(serde_json::json!({ "state": new })))
}

/// `GET /operators`.
async fn operators(
    State(state): State<Arc<ApiState>>,
    Supervisor(actor): Supervisor,
) -> Result<Json<Vec<OperatorPresence>>, ApiError> {
    Ok(Json(state.app.operator_presence(&actor).await?))
}
