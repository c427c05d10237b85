//! Case work over the API: a case's detail, notes, disposition and closing, reopening, the
//! supervisors' search and CSV export, and the blocklist.
//!
//! Operators reach only the cases in their languages and those they were connected to
//! ([`crate::app::casework::may_work_on`]); any other case number is the same 404 as one that does not
//! exist.
//!
//! Every read of a case and every change is written to the audit log before the answer goes
//! out; if the audit line cannot be written, the request fails (500) rather than leave an
//! unrecorded read. The caller's number never reaches this module (cases keep only its hash),
//! and the hash itself is never put in an answer: supervisors block "the caller of case N".
//!
//! Request bodies are parsed here, not by axum's `Json`, so a malformed or unknown field gets
//! the API's JSON error with a message, like every other client mistake.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{Actor, ApiError, ApiState};
use crate::app::casework::{export_cases, read_blocklist, search_cases};
use crate::domain::audit::AuditAction;
use crate::domain::cases::CaseNumber;
use crate::domain::casework::{
    BlockKey, CaseDetail, CaseFilter, CaseWork, Change, Disposition, MAX_EXPORT, MAX_PAGE, Note,
    NoteText, write_csv,
};
use crate::domain::people::Role;
use crate::storage::AuditEntry;

/// This resource's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/cases", get(search))
        .route("/cases.csv", get(export))
        .route("/cases/{number}", get(detail))
        .route("/cases/{number}/notes", post(add_note))
        .route("/cases/{number}/disposition", put(set_disposition))
        .route("/cases/{number}/reopen", post(reopen))
        .route("/blocklist", get(blocklist).post(block))
        .route("/blocklist/{entry}", delete(unblock))
}

/// `GET /cases/{number}` (operators and supervisors): the case, the caller masked.
async fn detail(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    Ok(Json(read_case(&state, &actor, &number).await?))
}

/// Case `number` for `actor` (operators and supervisors), the caller masked; the read is
/// audited (`case.read`) before it is returned.
pub(crate) async fn read_case(
    state: &ApiState,
    actor: &Actor,
    number: &str,
) -> Result<CaseDetail, ApiError> {
    require_staff(actor)?;
    let number = case_number(number)?;
    crate::app::casework::read_case(&state.storage, super::person_of(actor), number)
        .await?
        .ok_or_else(|| no_case(number))
}

/// Succeeds if `actor` may work on case `number` ([`crate::app::casework::may_work_on`]: supervisors
/// always, operators in their languages or when connected to it); otherwise the very 404 of
/// a case that does not exist, and an attempt on one that does is audited.
async fn in_reach(
    state: &ApiState,
    actor: &Actor,
    number: CaseNumber,
    attempt: &str,
) -> Result<(), ApiError> {
    if crate::app::casework::may_work_on(&state.storage, super::person_of(actor), number, attempt)
        .await?
    {
        Ok(())
    } else {
        Err(no_case(number))
    }
}

/// The body of `POST /cases/{number}/notes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

/// `POST /cases/{number}/notes` (operators and supervisors): appends a note.
async fn add_note(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: NoteBody = json_body(&body)?;
    let note = write_note(&state, &actor, &number, &body.text).await?;
    Ok((StatusCode::CREATED, Json(note)).into_response())
}

/// Appends `actor`'s note to case `number` (operators and supervisors; the text checked by
/// [`NoteText`]); audited (`case.note`) without its text.
pub(crate) async fn write_note(
    state: &ApiState,
    actor: &Actor,
    number: &str,
    text: &str,
) -> Result<Note, ApiError> {
    require_staff(actor)?;
    let number = case_number(number)?;
    in_reach(state, actor, number, "note").await?;
    let text = NoteText::parse(text).map_err(|e| ApiError::BadRequest(format!("text: {e}")))?;
    let chars = text.as_str().chars().count();
    let note = state
        .storage
        .add_note(number, super::person_of(actor).id, text, Utc::now())
        .await?
        .ok_or_else(|| no_case(number))?;
    // The note's text stays out of the audit line: it is on the case for those allowed to read it.
    let detail = format!("note={} chars={chars}", note.id);
    audit(state, actor, AuditAction::CaseNote, Some(number), detail).await?;
    Ok(note)
}

/// The body of `PUT /cases/{number}/disposition`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DispositionBody {
    /// Optional here so that a body without it gets the same clear refusal as an empty one.
    #[serde(default)]
    disposition: Option<String>,
    #[serde(default)]
    close: bool,
}

/// `PUT /cases/{number}/disposition` (operators and supervisors): sets the disposition, and
/// with `close: true` closes the case. A closed case is 409 until reopened; a body without
/// a disposition is 400, so nothing is ever recorded by default.
async fn set_disposition(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body: DispositionBody = json_body(&body)?;
    let disposition = body.disposition.as_deref().unwrap_or("");
    let (number, work) = dispose(&state, &actor, &number, disposition, body.close).await?;
    Ok(Json(json!({
        "number": number,
        "disposition": work.disposition,
        "closed": work.closed_at.is_some(),
        "closed_at": work.closed_at,
        "closed_by": work.closed_by,
    })))
}

/// Sets case `number`'s disposition (one of `[cases] dispositions`), and with `close` closes
/// it (operators and supervisors); audited (`case.disposition` or `case.close`). A closed
/// case is a conflict until reopened. An empty disposition is refused: the person must
/// choose one, since a default would record an outcome nobody chose.
pub(crate) async fn dispose(
    state: &ApiState,
    actor: &Actor,
    number: &str,
    disposition: &str,
    close: bool,
) -> Result<(CaseNumber, CaseWork), ApiError> {
    require_staff(actor)?;
    let number = case_number(number)?;
    in_reach(state, actor, number, if close { "close" } else { "disposition" }).await?;
    let allowed = state.config.cases.dispositions();
    let names = || allowed.iter().map(Disposition::as_str).collect::<Vec<_>>().join(", ");
    if disposition.trim().is_empty() {
        let when = if close { " before closing the case" } else { "" };
        return Err(ApiError::BadRequest(format!(
            "no disposition was chosen: choose one{when}, one of {}",
            names()
        )));
    }
    let disposition =
        Disposition::parse(disposition).filter(|d| allowed.contains(d)).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "disposition {:?} is not one of {}",
                disposition.chars().take(40).collect::<String>(),
                names()
            ))
        })?;
    let work = match state
        .storage
        .set_disposition(number, disposition.clone(), close, super::person_of(actor).id, Utc::now())
        .await?
    {
        Change::Done(work) => work,
        Change::NoCase => return Err(no_case(number)),
        Change::Conflict(why) => return Err(ApiError::Conflict(why)),
        Change::Invalid(why) => return Err(ApiError::BadRequest(why)),
    };
    let action = if close { AuditAction::CaseClose } else { AuditAction::CaseDisposition };
    audit(state, actor, action, Some(number), format!("disposition={disposition}")).await?;
    Ok((number, work))
}

/// `POST /cases/{number}/reopen` (supervisors): reopens a closed case (409 if it is open).
async fn reopen(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require_supervisor()?;
    let number = case_number(&number)?;
    in_reach(&state, &actor, number, "reopen").await?;
    match state.storage.reopen_case(number).await? {
        Change::Done(()) => {}
        Change::NoCase => return Err(no_case(number)),
        Change::Conflict(why) => return Err(ApiError::Conflict(why)),
        Change::Invalid(why) => return Err(ApiError::BadRequest(why)),
    }
    audit(&state, &actor, AuditAction::CaseReopen, Some(number), String::new()).await?;
    Ok(Json(json!({ "number": number, "closed": false })))
}

/// `GET /cases?…` (supervisors): one page of the cases that pass the filters, newest first.
async fn search(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require_supervisor()?;
    let filter = filter(query.as_deref(), MAX_PAGE)?;
    let (limit, offset) = (filter.limit, filter.offset);
    let query = query.as_deref().unwrap_or("");
    let cases = search_cases(&state.storage, super::person_of(&actor).id, filter, query).await?;
    Ok(Json(json!({ "cases": cases, "limit": limit, "offset": offset })))
}

/// `GET /cases.csv?…` (supervisors): the same search as CSV, up to [`MAX_EXPORT`] cases.
async fn export(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    actor.require_supervisor()?;
    let filter = filter(query.as_deref(), MAX_EXPORT)?;
    let query = query.as_deref().unwrap_or("");
    let cases = export_cases(&state.storage, super::person_of(&actor).id, filter, query).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8; header=present"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"cases.csv\""),
    ];
    Ok((headers, write_csv(&cases)).into_response())
}

/// `GET /blocklist` (supervisors): every entry, newest first, expired ones marked inactive.
async fn blocklist(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require_supervisor()?;
    let entries = read_blocklist(&state.storage, super::person_of(&actor).id, Utc::now()).await?;
    Ok(Json(json!({ "entries": entries })))
}

/// The body of `POST /blocklist`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    case: String,
    reason: String,
    #[serde(default)]
    expires_at: Option<String>,
}

/// `POST /blocklist` (supervisors): blocks the caller of a case.
async fn block(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    actor.require_supervisor()?;
    let body: BlockBody = json_body(&body)?;
    let number = case_number(&body.case)?;
    let expires_at = body.expires_at.as_deref();
    let change = crate::app::casework::block(
        &state.storage,
        super::person_of(&actor).id,
        number,
        &body.reason,
        expires_at,
        Utc::now(),
    )
    .await?;
    let entry = match change {
        Change::Done(entry) => entry,
        Change::NoCase => return Err(no_case(number)),
        Change::Conflict(why) => return Err(ApiError::Conflict(why)),
        Change::Invalid(why) => return Err(ApiError::BadRequest(why)),
    };
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// `DELETE /blocklist/{entry}` (supervisors): removes an entry, named by its id (`7`) or by a
/// case of the blocked caller (`2026-000042`).
async fn unblock(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(entry): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require_supervisor()?;
    let key = if entry.contains('-') {
        BlockKey::Case(case_number(&entry)?)
    } else {
        BlockKey::Id(entry.parse::<i64>().ok().filter(|id| *id >= 1).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{entry:?} is neither a blocklist entry's id nor a case number like 2026-000042"
            ))
        })?)
    };
    let removed =
        crate::app::casework::unblock(&state.storage, super::person_of(&actor).id, key, Utc::now())
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no blocklist entry for {entry}")))?;
    Ok(Json(json!({ "removed": removed })))
}

/// Operators and supervisors. Today that is every role, but each route states its rule, and
/// the exhaustive match makes a new role a compile error here until someone decides.
fn require_staff(actor: &Actor) -> Result<(), ApiError> {
    match super::person_of(actor).role {
        Role::Operator | Role::Supervisor => Ok(()),
    }
}

/// Writes an audit line; the request fails if it cannot be written.
async fn audit(
    state: &ApiState,
    actor: &Actor,
    action: AuditAction,
    case: Option<CaseNumber>,
    detail: String,
) -> Result<(), ApiError> {
    let entry = AuditEntry { actor: Some(super::person_of(actor).id), action, case, detail };
    Ok(state.storage.audit(entry).await?)
}

fn case_number(text: &str) -> Result<CaseNumber, ApiError> {
    text.parse().map_err(ApiError::BadRequest)
}

fn no_case(number: CaseNumber) -> ApiError {
    ApiError::NotFound(format!("there is no case {number}"))
}

/// The query string's filters; 400 with the reason if one is wrong.
fn filter(query: Option<&str>, max: u32) -> Result<CaseFilter, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    CaseFilter::parse(&pairs, max).map_err(ApiError::BadRequest)
}

/// A JSON body; 400 saying what is wrong (bad JSON, a missing or unknown field).
fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the expected JSON: {e}")))
}
