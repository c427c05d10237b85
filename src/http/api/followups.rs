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
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, ApiError, ApiState, ErrorBody};
use crate::domain::cases::CaseNumber;
use crate::domain::followups::{self, FollowUp};

/// The bodies here are a few bytes.
const MAX_BODY_BYTES: usize = 1024;

/// This resource's routes.
pub fn router() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(take))
        .routes(routes!(reveal))
        .routes(routes!(attempt))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The follow-up list.
#[derive(Debug, Serialize, ToSchema)]
struct FollowUps {
    /// `[followups] max_attempts`: the attempts that close a follow-up.
    max_attempts: u32,
    /// Oldest place in line first; at most 500.
    followups: Vec<FollowUp>,
}

/// `GET /followups`.
#[utoipa::path(
    get,
    path = "/followups",
    operation_id = "list_followups",
    tag = "followups",
    params(("closed" = Option<bool>, Query, description = "`true` adds the closed ones")),
    responses(
        (status = 200, description = "Those of the cases this person reaches (every one for a supervisor)", body = FollowUps),
        (status = 400, description = "Another parameter, or a value but `true` or `false`", body = ErrorBody),
    )
)]
async fn list(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<FollowUps>, ApiError> {
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
    Ok(Json(FollowUps { max_attempts, followups }))
}

/// `GET /followups/{id}`.
#[utoipa::path(
    get,
    path = "/followups/{id}",
    tag = "followups",
    params(("id" = i64, Path, description = "The follow-up's id")),
    responses(
        (status = 200, description = "The follow-up (audited as `followup.read`)", body = FollowUp),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such follow-up, or its case is out of this person's reach", body = ErrorBody),
    )
)]
async fn one(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<FollowUp>, ApiError> {
    Ok(Json(state.app.follow_up(&actor, follow_up_id(&id)?).await?))
}

/// `POST /followups/{id}/take`.
#[utoipa::path(
    post,
    path = "/followups/{id}/take",
    tag = "followups",
    params(("id" = i64, Path, description = "The follow-up's id")),
    responses(
        (status = 200, description = "Taken by this person (audited as `followup.take`)", body = FollowUp),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such follow-up, or its case is out of this person's reach", body = ErrorBody),
        (status = 409, description = "Taken by someone else, closed, or in a language this person does not speak", body = ErrorBody),
    )
)]
async fn take(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<FollowUp>, ApiError> {
    Ok(Json(state.app.take_follow_up(&actor, follow_up_id(&id)?).await?))
}

/// A callback number, revealed.
#[derive(Debug, Serialize, ToSchema)]
struct Revealed {
    /// The follow-up.
    id: i64,
    /// Its case.
    case: CaseNumber,
    /// The number to call back, E.164 (`+447700900123`).
    number: String,
}

/// `POST /followups/{id}/reveal`.
#[utoipa::path(
    post,
    path = "/followups/{id}/reveal",
    tag = "followups",
    params(("id" = i64, Path, description = "The follow-up's id")),
    responses(
        (status = 200, description = "The number, to the person who took it (audited as `followup.reveal`, never with the number)", body = Revealed),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such follow-up, one without a callback number, or its case is out of this person's reach", body = ErrorBody),
        (status = 409, description = "Not taken by this person (audited as `followup.reveal-refused`), or the number no longer opens", body = ErrorBody),
    )
)]
async fn reveal(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Revealed>, ApiError> {
    let id = follow_up_id(&id)?;
    let (follow_up, number) = state.app.reveal_callback_number(&actor, id).await?;
    Ok(Json(Revealed { id: follow_up.id, case: follow_up.case, number: number.e164() }))
}

/// The body of `POST /followups/{id}/attempts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AttemptBody {
    /// `tried`, `reached`, `no-answer` or `wrong-number`.
    result: String,
}

/// `POST /followups/{id}/attempts`.
#[utoipa::path(
    post,
    path = "/followups/{id}/attempts",
    tag = "followups",
    params(("id" = i64, Path, description = "The follow-up's id")),
    request_body = AttemptBody,
    responses(
        (status = 200, description = "The follow-up with the attempt (audited as `followup.attempt`)", body = FollowUp),
        (status = 400, description = "The id is not a number, a result that is not one, or not the expected body", body = ErrorBody),
        (status = 404, description = "No such follow-up, or its case is out of this person's reach", body = ErrorBody),
        (status = 409, description = "Not taken by this person, or closed", body = ErrorBody),
    )
)]
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
