//! People and the audit log: `/me`, `/users…`, `/audit`.
//!
//! Anyone with a token may see themself and revoke their own tokens; everything else here is
//! a supervisor's (the rules are the use cases', [`crate::app::people`]). Every change is
//! written to the audit log, in the same transaction as the change itself, with the person
//! who made it as actor.
//! Secrets (a new PIN, password or token) are in the answer of the request that made them
//! and nowhere else: only their hashes are stored.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Actor, ApiError, ApiState, Supervisor, json_body};
use crate::app::people::Added;
use crate::domain::audit::AuditRecord;
use crate::domain::lockout::{LockedKey, PinLock};
use crate::domain::people::Person;

/// The largest request body accepted: a person's details are a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// This resource's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/me", get(me))
        .route("/users", get(list).post(create))
        .route("/users/{id}/disable", post(disable))
        .route("/users/{id}/enable", post(enable))
        .route("/users/{id}/pin", post(reset_pin))
        .route("/users/{id}/unlock", post(unlock_pin))
        .route("/pin-locks", get(pin_locks))
        .route("/users/{id}/password", post(reset_password))
        .route("/users/{id}/languages", put(set_languages))
        .route("/users/{id}/tokens", post(issue_token).delete(revoke_tokens))
        .route("/audit", get(audit_log))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `GET /me`: who the token belongs to.
async fn me(actor: Actor) -> Json<Option<Person>> {
    Json(actor.person().cloned())
}

/// `GET /users`: everyone, disabled or not (supervisor).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn list(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Value>, ApiError> {
    let people = state.app.people(&actor).await?;
    Ok(Json(json!({ "users": people })))
}

/// The body of `POST /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    /// 1–64 ASCII letters, digits, `.`, `_`, `-`.
    name: String,
    /// `operator` or `supervisor`; parsed here so the message is ours.
    role: String,
    /// Language codes, like `["ru", "uk"]`.
    languages: Vec<String>,
}

/// The answer to `POST /users`: the person and their secrets, shown this once.
#[derive(Debug, Serialize)]
struct Created {
    /// Who was added.
    person: Person,
    /// Their dial-in PIN.
    pin: String,
    /// Their console password.
    password: String,
}

/// `POST /users`: adds a person with a generated PIN and password (supervisor; audited).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn create(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let new = json_body(body, MAX_BODY_BYTES)?;
    let languages: Vec<&str> = new.languages.iter().map(String::as_str).collect();
    let Added { person, pin, password } =
        state.app.add_person(&actor, &new.name, &new.role, &languages).await?;
    Ok((StatusCode::CREATED, Json(Created { person, pin, password })))
}

/// `POST /users/{id}/disable`: the person can no longer dial in or use the API, and their
/// tokens are revoked and console sessions ended (supervisor; audited). Supervisors cannot
/// disable themselves, so the API can never leave the hotline without an enabled supervisor.
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn disable(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Person>, ApiError> {
    let id = path_id(id)?;
    Ok(Json(state.app.set_disabled(&actor, id, true).await?))
}

/// `POST /users/{id}/enable`: the person may work again, with new tokens (supervisor;
/// audited).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn enable(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Person>, ApiError> {
    let id = path_id(id)?;
    Ok(Json(state.app.set_disabled(&actor, id, false).await?))
}

/// `POST /users/{id}/pin`: a new generated PIN, shown this once (supervisor; audited).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn reset_pin(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id)?;
    let (_, pin) = state.app.reset_pin(&actor, id).await?;
    Ok(Json(json!({ "pin": pin })))
}

/// `POST /users/{id}/unlock`: lifts the lock wrong PINs put on the person's operator ID and
/// on the numbers that tried it (supervisor; audited). Answers the person and whether
/// anything was locked.
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn unlock_pin(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id)?;
    let (person, was_locked) = state.app.unlock_pin(&actor, id).await?;
    Ok(Json(json!({ "person": person, "was_locked": was_locked })))
}

/// `GET /pin-locks`: the operator line's locks of the moment, those ending first first
/// (supervisor). A locked number is shown by its kind alone, never by its hash.
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn pin_locks(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Value>, ApiError> {
    let locks = state.app.pin_locks(&actor).await?;
    Ok(Json(json!({ "locks": locks.iter().map(lock_json).collect::<Vec<_>>() })))
}

/// One lock as `GET /pin-locks` shows it.
fn lock_json(lock: &PinLock) -> Value {
    let (operator_id, person) = match &lock.key {
        LockedKey::Operator { id, name } => (Some(*id), name.as_deref()),
        LockedKey::Number | LockedKey::WithheldNumbers => (None, None),
    };
    json!({
        "kind": lock.key.kind(),
        "operator_id": operator_id,
        "person": person,
        "locks_in_a_row": lock.locks,
        "until": lock.until,
    })
}

/// `POST /users/{id}/password`: a new generated console password, shown this once; the
/// person's console sessions end (supervisor; audited).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn reset_password(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id)?;
    let (_, password) = state.app.reset_password(&actor, id).await?;
    Ok(Json(json!({ "password": password })))
}

/// The body of `PUT /users/{id}/languages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Languages {
    /// Language codes, like `["ru", "uk"]`.
    languages: Vec<String>,
}

/// `PUT /users/{id}/languages`: the languages the person takes calls in (supervisor;
/// audited).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn set_languages(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<Languages>, JsonRejection>,
) -> Result<Json<Person>, ApiError> {
    let id = path_id(id)?;
    let body = json_body(body, MAX_BODY_BYTES)?;
    let languages: Vec<&str> = body.languages.iter().map(String::as_str).collect();
    Ok(Json(state.app.set_languages(&actor, id, &languages).await?))
}

/// `POST /users/{id}/tokens`: a new API token for the person, shown this once (supervisor;
/// audited). A disabled person gets none.
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn issue_token(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = path_id(id)?;
    let token = state.app.issue_token(&actor, id).await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token }))))
}

/// `DELETE /users/{id}/tokens`: revokes every token of the person, the one in use included
/// (supervisor, or the person themself; audited).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn revoke_tokens(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id)?;
    let revoked = state.app.revoke_tokens(&actor, id).await?;
    Ok(Json(json!({ "revoked": revoked })))
}

/// The query of `GET /audit`. Strings, parsed here, so a wrong value gets our message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// A case number, like `2026-000042`.
    case: Option<String>,
    /// A person's id.
    actor: Option<String>,
    /// An action code, like `user.add`.
    action: Option<String>,
    /// How many lines, 1 to [`crate::app::people::MAX_AUDIT_LIMIT`].
    limit: Option<String>,
}

/// `GET /audit?case=…&actor=…&action=…&limit=…`: the audit log, newest first (supervisor).
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn audit_log(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let filter = crate::app::people::audit_filter(
        query.case.as_deref(),
        query.actor.as_deref(),
        query.action.as_deref(),
        query.limit.as_deref(),
    )
    .map_err(ApiError::BadRequest)?;
    let entries: Vec<AuditRecord> = state.app.read_audit_log(&actor, filter).await?;
    Ok(Json(json!({ "entries": entries })))
}

/// A person's id from the path, or a 400.
fn path_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("a person's id is a number, like 101".into()))
}
