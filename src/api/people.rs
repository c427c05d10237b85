//! People and the audit log: `/me`, `/users…`, `/audit`.
//!
//! Anyone with a token may see themself and revoke their own tokens; everything else here is
//! a supervisor's. Every change is written to the audit log, in the same transaction as the
//! change itself, with the person who made it as actor.
//! Secrets (a new PIN, password or token) are in the answer of the request that made them
//! and nowhere else: only their hashes are stored.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Actor, ApiError, ApiState, json_body};
use crate::cases::CaseNumber;
use crate::people::{self, PeopleError, Person, Role};
use crate::storage::{AuditFilter, AuditRecord, ChangedBy, NewPerson, StorageError};

/// The largest request body accepted: a person's details are a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// The audit lines returned when the request names no limit.
const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// The most audit lines one request returns.
const MAX_AUDIT_LIMIT: u32 = 1000;

/// This resource's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/me", get(me))
        .route("/users", get(list).post(create))
        .route("/users/{id}/disable", post(disable))
        .route("/users/{id}/enable", post(enable))
        .route("/users/{id}/pin", post(reset_pin))
        .route("/users/{id}/tokens", post(issue_token).delete(revoke_tokens))
        .route("/audit", get(audit_log))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `GET /me`: who the token belongs to.
async fn me(actor: Actor) -> Json<Person> {
    Json(actor.person)
}

/// `GET /users`: everyone, disabled or not (supervisor).
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn list(actor: Actor, State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    actor.require_supervisor()?;
    let people = state.storage.people().await?;
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
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn create(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    actor.require_supervisor()?;
    let new = json_body(body, MAX_BODY_BYTES)?;
    let name = people::check_name(&new.name).map_err(invalid)?;
    let role: Role = new.role.parse().map_err(invalid)?;
    let languages =
        people::check_languages(new.languages.iter().map(String::as_str)).map_err(invalid)?;
    let pin = people::generate_pin().map_err(internal)?;
    let password = people::generate_password().map_err(internal)?;
    let new = NewPerson {
        name,
        role,
        languages,
        password_hash: Some(hash(&password).await?),
        pin_hash: Some(hash(&pin).await?),
    };
    let person = state.storage.create_person(new, by(&actor)).await.map_err(conflict)?;
    Ok((StatusCode::CREATED, Json(Created { person, pin, password })))
}

/// `POST /users/{id}/disable`: the person can no longer dial in or use the API, and their
/// tokens are revoked (supervisor; audited). Supervisors cannot disable themselves, so the
/// API can never leave the hotline without an enabled supervisor.
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn disable(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Person>, ApiError> {
    actor.require_supervisor()?;
    let id = path_id(id)?;
    if id == actor.id() {
        return Err(ApiError::Conflict("you cannot disable yourself".into()));
    }
    let person =
        state.storage.set_disabled(id, true, by(&actor)).await?.ok_or_else(|| no_person(id))?;
    Ok(Json(person))
}

/// `POST /users/{id}/enable`: the person may work again, with new tokens (supervisor;
/// audited).
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn enable(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Person>, ApiError> {
    actor.require_supervisor()?;
    let id = path_id(id)?;
    let person =
        state.storage.set_disabled(id, false, by(&actor)).await?.ok_or_else(|| no_person(id))?;
    Ok(Json(person))
}

/// `POST /users/{id}/pin`: a new generated PIN, shown this once (supervisor; audited).
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn reset_pin(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    actor.require_supervisor()?;
    let id = path_id(id)?;
    let pin = people::generate_pin().map_err(internal)?;
    let pin_hash = hash(&pin).await?;
    state.storage.set_pin_hash(id, pin_hash, by(&actor)).await?.ok_or_else(|| no_person(id))?;
    Ok(Json(json!({ "pin": pin })))
}

/// `POST /users/{id}/tokens`: a new API token for the person, shown this once (supervisor;
/// audited). A disabled person gets none.
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn issue_token(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    actor.require_supervisor()?;
    let id = path_id(id)?;
    let token = people::generate_token().map_err(internal)?;
    state
        .storage
        .issue_token(id, people::token_hash(&token), by(&actor))
        .await
        .map_err(conflict)?
        .ok_or_else(|| no_person(id))?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token }))))
}

/// `DELETE /users/{id}/tokens`: revokes every token of the person, the one in use included
/// (supervisor, or the person themself; audited).
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn revoke_tokens(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id)?;
    if id != actor.id() {
        actor.require_supervisor()?;
    }
    let (_, revoked) =
        state.storage.revoke_tokens(id, by(&actor)).await?.ok_or_else(|| no_person(id))?;
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
    /// How many lines, 1 to [`MAX_AUDIT_LIMIT`].
    limit: Option<String>,
}

/// `GET /audit?case=…&actor=…&action=…&limit=…`: the audit log, newest first (supervisor).
#[tracing::instrument(skip_all, fields(actor = actor.id()))]
async fn audit_log(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    actor.require_supervisor()?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let case = query
        .case
        .map(|text| {
            text.parse::<CaseNumber>().map_err(|e| ApiError::BadRequest(format!("case: {e}")))
        })
        .transpose()?;
    let actor_id = query
        .actor
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                ApiError::BadRequest("actor: give a person's id, a number like 101".into())
            })
        })
        .transpose()?;
    let action = query
        .action
        .map(|text| {
            let ok = (1..=64).contains(&text.len())
                && text.bytes().all(|b| b.is_ascii_lowercase() || matches!(b, b'.' | b'-' | b'_'));
            if ok {
                Ok(text)
            } else {
                Err(ApiError::BadRequest(
                    "action: give an action code like user.add (lowercase letters, '.', '-')"
                        .into(),
                ))
            }
        })
        .transpose()?;
    let limit = match query.limit {
        None => DEFAULT_AUDIT_LIMIT,
        Some(text) => {
            text.parse().ok().filter(|n| (1..=MAX_AUDIT_LIMIT).contains(n)).ok_or_else(|| {
                ApiError::BadRequest(format!("limit: give a number from 1 to {MAX_AUDIT_LIMIT}"))
            })?
        }
    };
    let filter = AuditFilter { case, actor: actor_id, action, limit };
    let entries: Vec<AuditRecord> = state.storage.audit_log(filter).await?;
    Ok(Json(json!({ "entries": entries })))
}

/// Hashes a PIN or password on the blocking pool: Argon2 spends tens of milliseconds of CPU
/// on purpose, which must not stall the threads that answer the provider's webhooks.
async fn hash(secret: &str) -> Result<String, ApiError> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || people::hash_secret(&secret))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
        .map_err(internal)
}

/// The actor as the audit line of their change records them.
fn by(actor: &Actor) -> ChangedBy {
    ChangedBy::Person(actor.id())
}

/// A person's id from the path, or a 400.
fn path_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("a person's id is a number, like 101".into()))
}

fn no_person(id: i64) -> ApiError {
    ApiError::NotFound(format!("no person has the id {id}"))
}

fn invalid(error: PeopleError) -> ApiError {
    ApiError::BadRequest(error.to_string())
}

fn internal(error: PeopleError) -> ApiError {
    ApiError::Internal(Box::new(error))
}

/// A name taken or a disabled person is the client's conflict; anything else is ours.
fn conflict(error: StorageError) -> ApiError {
    match error {
        StorageError::Conflict(message) => ApiError::Conflict(message),
        other => other.into(),
    }
}
