//! The follow-up list for people at a screen: voicemails, callback requests and calls missed
//! in the queue, each with its case, language, tags, wait and attempts.
//!
//! - `GET /followups` (`?closed=true` adds the closed ones): those of the cases an operator
//!   may see (their languages, and cases they were connected to; every one for a
//!   supervisor), oldest place in line first.
//! - `GET /followups/{id}`: one of them (audited, `followup.read`).
//! - `POST /followups/{id}/take`: the person takes it (only in a language they speak); from
//!   then on only they can reveal its number and record attempts. Audited.
//! - `POST /followups/{id}/reveal`: the callback number, to the person who took it; every
//!   reveal is audited (`followup.reveal`), and so is every refusal (409 "not taken by
//!   you": the role may reveal, this person may not yet).
//! - `POST /followups/{id}/attempts` with `{"result": "tried" | "reached" | "no-answer" |
//!   "wrong-number"}`: one attempt by the person who took it; `reached` and `wrong-number`
//!   close it, and so does reaching `[followups] max_attempts`. Audited.
//!
//! Everywhere else the number is masked (`…67`), and no answer here holds it but a reveal's.
//!
//! A follow-up belongs to its case: whoever may not see the case gets the same 404 for its
//! follow-up as for one that does not exist, on every route. The rules and audit lines are
//! the use cases' (`crate::app::followups`), which the console calls too.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Actor, ApiError, ApiState};
use crate::domain::followups::{self, FollowUp};

/// The bodies here are a few bytes.
const MAX_BODY_BYTES: usize = 1024;

/// This resource's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/followups", get(list))
        .route("/followups/{id}", get(one))
        .route("/followups/{id}/take", post(take))
        .route("/followups/{id}/reveal", post(reveal))
        .route("/followups/{id}/attempts", post(attempt))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `GET /followups`.
async fn list(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut closed = false;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("closed", "true") => closed = true,
            ("closed", "false") => closed = false,
            ("closed", other) => {
                return Err(ApiError::BadRequest(format!(
                    "closed={:?}: use true or false",
                    other.chars().take(40).collect::<String>()
                )));
            }
            (other, _) => {
                return Err(ApiError::BadRequest(format!(
                    "unknown parameter {:?}; the only one is closed",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    let followups = state.app.follow_ups(&actor, closed).await?;
    let max_attempts = state.app.config().followups.max_attempts;
    Ok(Json(json!({ "max_attempts": max_attempts, "followups": followups })))
}

/// `GET /followups/{id}`.
async fn one(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<FollowUp>, ApiError> {
    Ok(Json(state.app.follow_up(&actor, follow_up_id(&id)?).await?))
}

/// `POST /followups/{id}/take`.
async fn take(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<FollowUp>, ApiError> {
    Ok(Json(state.app.take_follow_up(&actor, follow_up_id(&id)?).await?))
}

/// `POST /followups/{id}/reveal`.
async fn reveal(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = follow_up_id(&id)?;
    let (follow_up, number) = state.app.reveal_callback_number(&actor, id).await?;
    Ok(Json(json!({ "id": follow_up.id, "case": follow_up.case, "number": number.e164() })))
}

/// The body of `POST /followups/{id}/attempts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttemptBody {
    result: String,
}

/// `POST /followups/{id}/attempts`.
async fn attempt(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<FollowUp>, ApiError> {
    let body: AttemptBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the expected JSON: {e}")))?;
    let id = follow_up_id(&id)?;
    Ok(Json(state.app.record_attempt(&actor, id, &body.result).await?))
}

/// A follow-up's id from the path, or a 400.
fn follow_up_id(text: &str) -> Result<i64, ApiError> {
    followups::parse_id(text).map_err(ApiError::BadRequest)
}
