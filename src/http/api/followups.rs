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
//! A follow-up belongs to its case: whoever may not see the case ([`casework::may_see`]) gets
//! the same 404 for its follow-up as for one that does not exist, on every route.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Actor, ApiError, ApiState};
use crate::domain::audit::AuditAction;
use crate::domain::cases::CaseNumber;
use crate::domain::followups::{self, AttemptResult, CallbackNumber, FollowUp, Kind};
use crate::storage::{AuditEntry, Refusal};

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
    let followups = follow_ups_for(&state, &actor, closed).await?;
    let max_attempts = state.config.followups.max_attempts;
    Ok(Json(json!({ "max_attempts": max_attempts, "followups": followups })))
}

/// The follow-ups `actor` sees (those of the cases they may see; every one for a
/// supervisor), with the closed ones if `closed`, oldest place in line first.
pub(crate) async fn follow_ups_for(
    state: &ApiState,
    actor: &Actor,
    closed: bool,
) -> Result<Vec<FollowUp>, ApiError> {
    let all = state.storage.follow_ups(closed).await?;
    let cases = all.iter().map(|follow_up| follow_up.case).collect();
    let visible =
        crate::app::casework::visible_cases(&state.storage, super::person_of(actor), cases).await?;
    Ok(all.into_iter().filter(|follow_up| visible.contains(&follow_up.case)).collect())
}

/// `GET /followups/{id}`.
async fn one(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<FollowUp>, ApiError> {
    let follow_up = visible(&state, &actor, follow_up_id(&id)?, "followup.read").await?;
    audit(
        &state,
        &actor,
        AuditAction::FollowupRead,
        follow_up.case,
        format!("follow-up {}", follow_up.id),
    )
    .await?;
    Ok(Json(follow_up))
}

/// `POST /followups/{id}/take`.
async fn take(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<FollowUp>, ApiError> {
    Ok(Json(take_for(&state, &actor, &id).await?))
}

/// `actor` takes follow-up `id` (only in a language they speak); audited (`followup.take`).
pub(crate) async fn take_for(
    state: &ApiState,
    actor: &Actor,
    id: &str,
) -> Result<FollowUp, ApiError> {
    let id = follow_up_id(id)?;
    visible(state, actor, id, "followup.take").await?;
    let speaks = Some(super::person_of(actor).languages.clone());
    let taken =
        state.storage.take_follow_up(id, super::person_of(actor).id, speaks, Utc::now()).await?;
    let follow_up = refused(taken, id)?;
    audit(state, actor, AuditAction::FollowupTake, follow_up.case, format!("follow-up {id}"))
        .await?;
    Ok(follow_up)
}

/// `POST /followups/{id}/reveal`.
async fn reveal(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (follow_up, number) = reveal_for(&state, &actor, &id).await?;
    Ok(Json(json!({ "id": follow_up.id, "case": follow_up.case, "number": number.e164() })))
}

/// The callback number of follow-up `id`, for the person who took it: audited
/// (`followup.reveal`) before it is returned, and every refusal audited too
/// (`followup.reveal-refused`).
pub(crate) async fn reveal_for(
    state: &ApiState,
    actor: &Actor,
    id: &str,
) -> Result<(FollowUp, CallbackNumber), ApiError> {
    let id = follow_up_id(id)?;
    let Some((follow_up, sealed)) = state.storage.sealed_number(id).await? else {
        return Err(not_found(id));
    };
    let attempt = format!("followup.reveal {id}");
    if !crate::app::casework::may_work_on(
        &state.storage,
        super::person_of(actor),
        follow_up.case,
        &attempt,
    )
    .await?
    {
        return Err(not_found(id));
    }
    let theirs = follow_up.state == followups::State::Taken
        && follow_up.taken_by == Some(super::person_of(actor).id);
    if !theirs {
        let detail = format!("follow-up {id}: refused, not taken by this person");
        audit(state, actor, AuditAction::FollowupRevealRefused, follow_up.case, detail).await?;
        tracing::warn!(target: "hotline::security", follow_up = id, "refused a number reveal");
        return Err(not_yours(id));
    }
    if follow_up.kind != Kind::Callback {
        return Err(ApiError::NotFound(format!("follow-up {id} has no callback number")));
    }
    let number = sealed.and_then(|sealed| state.callbacks.open(&sealed, &follow_up.call_sid));
    let Some(number) = number else {
        // Sealed under another key (a key was changed) or altered on disk.
        tracing::error!(follow_up = id, "a sealed callback number does not open");
        return Err(ApiError::Conflict(format!(
            "the number of follow-up {id} cannot be opened with the current callback key"
        )));
    };
    audit(state, actor, AuditAction::FollowupReveal, follow_up.case, format!("follow-up {id}"))
        .await?;
    Ok((follow_up, number))
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
    Ok(Json(record_attempt(&state, &actor, &id, &body.result).await?))
}

/// One attempt on follow-up `id` by the person who took it, with its `result` (`tried`,
/// `reached`, `no-answer`, `wrong-number`); audited (`followup.attempt`).
pub(crate) async fn record_attempt(
    state: &ApiState,
    actor: &Actor,
    id: &str,
    result: &str,
) -> Result<FollowUp, ApiError> {
    let id = follow_up_id(id)?;
    visible(state, actor, id, "followup.attempt").await?;
    let result = AttemptResult::parse(result).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "result {:?} is not one of tried, reached, no-answer, wrong-number",
            result.chars().take(40).collect::<String>()
        ))
    })?;
    let max = state.config.followups.max_attempts;
    let recorded = state
        .storage
        .record_attempt(id, super::person_of(actor).id, result, max, Utc::now())
        .await?;
    let follow_up = refused(recorded, id)?;
    let detail = format!("follow-up {id}: {}", result.as_str());
    audit(state, actor, AuditAction::FollowupAttempt, follow_up.case, detail).await?;
    Ok(follow_up)
}

/// Follow-up `id` if this person may see its case ([`crate::app::casework::may_work_on`], which audits
/// an `attempt` on a case out of reach), else the same 404 as for one that does not exist.
async fn visible(
    state: &ApiState,
    actor: &Actor,
    id: i64,
    attempt: &str,
) -> Result<FollowUp, ApiError> {
    let follow_up = state.storage.follow_up(id).await?.ok_or_else(|| not_found(id))?;
    let attempt = format!("{attempt} {id}");
    if crate::app::casework::may_work_on(
        &state.storage,
        super::person_of(actor),
        follow_up.case,
        &attempt,
    )
    .await?
    {
        Ok(follow_up)
    } else {
        Err(not_found(id))
    }
}

fn refused(result: Result<FollowUp, Refusal>, id: i64) -> Result<FollowUp, ApiError> {
    result.map_err(|refusal| match refusal {
        Refusal::NotFound => not_found(id),
        Refusal::Conflict(message) => ApiError::Conflict(message),
        Refusal::NotYours => not_yours(id),
    })
}

fn not_yours(id: i64) -> ApiError {
    ApiError::Conflict(format!(
        "follow-up {id} is not taken by you: take it first (POST /api/followups/{id}/take)"
    ))
}

fn follow_up_id(text: &str) -> Result<i64, ApiError> {
    let ok = (1..=15).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten().ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{:?} is not a follow-up id (a number)",
            text.chars().take(40).collect::<String>()
        ))
    })
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("there is no follow-up {id} for you"))
}

async fn audit(
    state: &ApiState,
    actor: &Actor,
    action: AuditAction,
    case: CaseNumber,
    detail: String,
) -> Result<(), ApiError> {
    let entry =
        AuditEntry { actor: Some(super::person_of(actor).id), action, case: Some(case), detail };
    Ok(state.storage.audit(entry).await?)
}
