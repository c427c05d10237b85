//! People and the audit log: `/me`, `/users…`, `/audit`.
//!
//! Anyone with a token may see themself and revoke their own tokens; everything else here is
//! a supervisor's (the rules are the use cases', [`crate::app::people`]). Every change is
//! written to the audit log, in the same transaction as the change itself, with the person
//! who made it as actor.
//! Secrets (a new PIN, password or token) are in the answer of the request that made them
//! and nowhere else: only their hashes are stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, ApiError, ApiState, ErrorBody, Supervisor, json_body};
use crate::app::people::Added;
use crate::domain::audit::AuditRecord;
use crate::domain::lockout::{LockedKey, PinLock};
use crate::domain::people::Person;

/// The largest request body accepted: a person's details are a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// This resource's routes.
pub fn router() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list, create))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(reset_pin))
        .routes(routes!(unlock_pin))
        .routes(routes!(pin_locks))
        .routes(routes!(reset_password))
        .routes(routes!(set_languages))
        .routes(routes!(issue_token, revoke_tokens))
        .routes(routes!(audit_log))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `GET /me`: who the token belongs to.
#[utoipa::path(
    get,
    path = "/me",
    tag = "people",
    responses((status = 200, description = "The token's person", body = Person))
)]
async fn me(actor: Actor) -> Json<Option<Person>> {
    Json(actor.person().cloned())
}

/// Everyone who works the line.
#[derive(Debug, Serialize, ToSchema)]
struct Users {
    /// Disabled people included.
    users: Vec<Person>,
}

/// `GET /users`: everyone, disabled or not (supervisor).
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "list_users",
    tag = "people",
    responses(
        (status = 200, description = "Everyone", body = Users),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn list(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Users>, ApiError> {
    let users = state.app.people(&actor).await?;
    Ok(Json(Users { users }))
}

/// The body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
struct Created {
    /// Who was added.
    person: Person,
    /// Their dial-in PIN.
    pin: String,
    /// Their console password.
    password: String,
}

/// `POST /users`: adds a person with a generated PIN and password (supervisor; audited).
#[utoipa::path(
    post,
    path = "/users",
    tag = "people",
    request_body = NewUser,
    responses(
        (status = 201, description = "Added (audited as `user.add`); the PIN and password are shown this once", body = Created),
        (status = 400, description = "A name, role or language that is not allowed, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/users/{id}/disable",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    responses(
        (status = 200, description = "The person, disabled (audited as `user.disable`)", body = Person),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 409, description = "A supervisor cannot disable themself", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/users/{id}/enable",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    responses(
        (status = 200, description = "The person, enabled (audited as `user.enable`)", body = Person),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn enable(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Person>, ApiError> {
    let id = path_id(id)?;
    Ok(Json(state.app.set_disabled(&actor, id, false).await?))
}

/// A new dial-in PIN, shown this once.
#[derive(Debug, Serialize, ToSchema)]
struct NewPin {
    /// The PIN; the old one no longer works.
    pin: String,
}

/// `POST /users/{id}/pin`: a new generated PIN, shown this once (supervisor; audited).
#[utoipa::path(
    post,
    path = "/users/{id}/pin",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    responses(
        (status = 200, description = "The new PIN (audited)", body = NewPin),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn reset_pin(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<NewPin>, ApiError> {
    let id = path_id(id)?;
    let (_, pin) = state.app.reset_pin(&actor, id).await?;
    Ok(Json(NewPin { pin }))
}

/// What `POST /users/{id}/unlock` answers.
#[derive(Debug, Serialize, ToSchema)]
struct Unlocked {
    /// The person.
    person: Person,
    /// Whether anything was locked.
    was_locked: bool,
}

/// `POST /users/{id}/unlock`: lifts the lock wrong PINs put on the person's operator ID and
/// on the numbers that tried it (supervisor; audited). Answers the person and whether
/// anything was locked.
#[utoipa::path(
    post,
    path = "/users/{id}/unlock",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    responses(
        (status = 200, description = "Unlocked (audited)", body = Unlocked),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn unlock_pin(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Unlocked>, ApiError> {
    let id = path_id(id)?;
    let (person, was_locked) = state.app.unlock_pin(&actor, id).await?;
    Ok(Json(Unlocked { person, was_locked }))
}

/// The operator line's locks of the moment.
#[derive(Debug, Serialize, ToSchema)]
struct PinLocks {
    /// Those ending first first.
    locks: Vec<Lock>,
}

/// One lock as `GET /pin-locks` shows it: a locked number by its kind alone.
#[derive(Debug, Serialize, ToSchema)]
struct Lock {
    /// `operator-id`, `number` (one calling number) or `withheld` (every withheld number).
    kind: &'static str,
    /// The locked operator ID, for `operator-id`.
    operator_id: Option<i64>,
    /// That operator's name, when the ID is a person's.
    person: Option<String>,
    /// 1 for the first lock; each lock in a row lasts twice as long, up to a day.
    locks_in_a_row: u32,
    /// When it ends by itself.
    until: DateTime<Utc>,
}

impl Lock {
    fn of(lock: &PinLock) -> Lock {
        let (operator_id, person) = match &lock.key {
            LockedKey::Operator { id, name } => (Some(*id), name.clone()),
            LockedKey::Number | LockedKey::WithheldNumbers => (None, None),
        };
        Lock {
            kind: lock.key.kind(),
            operator_id,
            person,
            locks_in_a_row: lock.locks,
            until: lock.until,
        }
    }
}

/// `GET /pin-locks`: the operator line's locks of the moment, those ending first first
/// (supervisor). A locked number is shown by its kind alone, never by its hash.
#[utoipa::path(
    get,
    path = "/pin-locks",
    tag = "people",
    responses(
        (status = 200, description = "The locks", body = PinLocks),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn pin_locks(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<PinLocks>, ApiError> {
    let locks = state.app.pin_locks(&actor).await?;
    Ok(Json(PinLocks { locks: locks.iter().map(Lock::of).collect() }))
}

/// `POST /users/{id}/password`: a new generated console password, shown this once; the
/// person's console sessions end (supervisor; audited).
#[utoipa::path(
    post,
    path = "/users/{id}/password",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    responses(
        (status = 200, description = "The new password (audited)", body = NewPassword),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn reset_password(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<NewPassword>, ApiError> {
    let id = path_id(id)?;
    let (_, password) = state.app.reset_password(&actor, id).await?;
    Ok(Json(NewPassword { password }))
}

/// A new console password, shown this once.
#[derive(Debug, Serialize, ToSchema)]
struct NewPassword {
    /// The password; the old one no longer works.
    password: String,
}

/// The body of `PUT /users/{id}/languages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Languages {
    /// Language codes, like `["ru", "uk"]`.
    languages: Vec<String>,
}

/// `PUT /users/{id}/languages`: the languages the person takes calls in (supervisor;
/// audited).
#[utoipa::path(
    put,
    path = "/users/{id}/languages",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    request_body = Languages,
    responses(
        (status = 200, description = "The person with their new languages (audited)", body = Person),
        (status = 400, description = "The id is not a number, a language code is not one, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/users/{id}/tokens",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    responses(
        (status = 201, description = "The new token (audited)", body = NewToken),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 409, description = "The person is disabled", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn issue_token(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let id = path_id(id)?;
    let token = state.app.issue_token(&actor, id).await?;
    Ok((StatusCode::CREATED, Json(NewToken { token })))
}

/// A new API token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
struct NewToken {
    /// `hlt_` and 64 hex digits.
    token: String,
}

/// How many tokens were revoked.
#[derive(Debug, Serialize, ToSchema)]
struct Revoked {
    /// The person's tokens that worked until now.
    revoked: usize,
}

/// `DELETE /users/{id}/tokens`: revokes every token of the person, the one in use included
/// (supervisor, or the person themself; audited).
#[utoipa::path(
    delete,
    path = "/users/{id}/tokens",
    tag = "people",
    params(("id" = i64, Path, description = "The person's id, like 101")),
    responses(
        (status = 200, description = "Revoked (audited)", body = Revoked),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Neither a supervisor nor the person themself", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn revoke_tokens(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Revoked>, ApiError> {
    let id = path_id(id)?;
    let revoked = state.app.revoke_tokens(&actor, id).await?;
    Ok(Json(Revoked { revoked }))
}

/// The query of `GET /audit`. Strings, parsed here, so a wrong value gets our message.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// A case number, like `2026-000042`.
    case: Option<String>,
    /// A person's id.
    #[param(value_type = Option<i64>)]
    actor: Option<String>,
    /// An action code, like `user.add`.
    action: Option<String>,
    /// How many lines, 1 to 1000, default 100.
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

/// Lines of the audit log.
#[derive(Debug, Serialize, ToSchema)]
struct AuditLog {
    /// Newest first.
    entries: Vec<AuditRecord>,
}

/// `GET /audit?case=…&actor=…&action=…&limit=…`: the audit log, newest first (supervisor).
#[utoipa::path(
    get,
    path = "/audit",
    tag = "people",
    params(AuditQuery),
    responses(
        (status = 200, description = "The lines that pass every filter given", body = AuditLog),
        (status = 400, description = "A filter that is not one, or a wrong value", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(actor = actor.audit_id()))]
async fn audit_log(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditLog>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let filter = crate::app::people::audit_filter(
        query.case.as_deref(),
        query.actor.as_deref(),
        query.action.as_deref(),
        query.limit.as_deref(),
    )
    .map_err(ApiError::BadRequest)?;
    let entries: Vec<AuditRecord> = state.app.read_audit_log(&actor, filter).await?;
    Ok(Json(AuditLog { entries }))
}

/// A person's id from the path, or a 400.
fn path_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("a person's id is a number, like 101".into()))
}
