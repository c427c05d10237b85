//! Case work over the API: a case's detail, notes, disposition and closing, reopening, the
//! supervisors' search and CSV export, and the blocklist.
//!
//! Each route calls one use case (`crate::app::casework`), which the console calls too: it
//! checks the role and the reach (operators reach only the cases in their languages and
//! those they were connected to; any other case number is the same 404 as one that does not
//! exist) and writes the audit line before the answer goes out; if the audit line cannot be
//! written, the request fails (500) rather than leave an unrecorded read. The caller's number never reaches this module (cases keep only its hash),
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
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{Actor, ApiError, ApiState, Supervisor};
use crate::domain::cases::CaseNumber;
use crate::domain::casework::{BlockKey, CaseDetail, write_csv};

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
    let number = case_number(&number)?;
    Ok(Json(state.app.read_case(&actor, number).await?))
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
    let number = case_number(&number)?;
    let note = state.app.add_note(&actor, number, &body.text).await?;
    Ok((StatusCode::CREATED, Json(note)).into_response())
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
    let number = case_number(&number)?;
    let disposition = body.disposition.as_deref().unwrap_or("");
    let work = state.app.set_disposition(&actor, number, disposition, body.close).await?;
    Ok(Json(json!({
        "number": number,
        "disposition": work.disposition,
        "closed": work.closed_at.is_some(),
        "closed_at": work.closed_at,
        "closed_by": work.closed_by,
    })))
}

/// `POST /cases/{number}/reopen` (supervisors): reopens a closed case (409 if it is open).
async fn reopen(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let number = case_number(&number)?;
    state.app.reopen_case(&actor, number).await?;
    Ok(Json(json!({ "number": number, "closed": false })))
}

/// `GET /cases?…` (supervisors): one page of the cases that pass the filters, newest first.
async fn search(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let given = pairs(query.as_deref());
    let query = query.as_deref().unwrap_or("");
    let page = state.app.search_cases(&actor, &given, query).await?;
    Ok(Json(json!({ "cases": page.cases, "limit": page.limit, "offset": page.offset })))
}

/// `GET /cases.csv?…` (supervisors): the same search as CSV, up to [`MAX_EXPORT`](crate::domain::casework::MAX_EXPORT) cases.
async fn export(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let given = pairs(query.as_deref());
    let query = query.as_deref().unwrap_or("");
    let cases = state.app.export_cases(&actor, &given, query, false).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8; header=present"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"cases.csv\""),
    ];
    Ok((headers, write_csv(&cases)).into_response())
}

/// `GET /blocklist` (supervisors): every entry, newest first, expired ones marked inactive.
async fn blocklist(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let entries = state.app.blocklist(&actor).await?;
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
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: BlockBody = json_body(&body)?;
    let number = case_number(&body.case)?;
    let expires_at = body.expires_at.as_deref();
    let entry = state.app.block_caller(&actor, number, &body.reason, expires_at).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// `DELETE /blocklist/{entry}` (supervisors): removes an entry, named by its id (`7`) or by a
/// case of the blocked caller (`2026-000042`).
async fn unblock(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(entry): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = if entry.contains('-') {
        BlockKey::Case(case_number(&entry)?)
    } else {
        BlockKey::Id(entry.parse::<i64>().ok().filter(|id| *id >= 1).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{entry:?} is neither a blocklist entry's id nor a case number like 2026-000042"
            ))
        })?)
    };
    let removed = state
        .app
        .unblock_caller(&actor, key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no blocklist entry for {entry}")))?;
    Ok(Json(json!({ "removed": removed })))
}

fn case_number(text: &str) -> Result<CaseNumber, ApiError> {
    text.parse().map_err(ApiError::BadRequest)
}

/// The query string's pairs, for the search's filters to be parsed from.
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A JSON body; 400 saying what is wrong (bad JSON, a missing or unknown field).
fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the expected JSON: {e}")))
}
