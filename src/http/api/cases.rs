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
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, ApiError, ApiState, ErrorBody, Supervisor};
use crate::app::casework::SearchPage;
use crate::domain::cases::CaseNumber;
use crate::domain::casework::{
    BlockEntry, BlockKey, CaseDetail, Disposition, Note, PersonRef, write_csv,
};

/// This resource's routes.
pub fn router() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(export))
        .routes(routes!(detail))
        .routes(routes!(add_note))
        .routes(routes!(set_disposition))
        .routes(routes!(reopen))
        .routes(routes!(blocklist, block))
        .routes(routes!(unblock))
}

/// `GET /cases/{number}` (operators and supervisors): the case, the caller masked.
#[utoipa::path(
    get,
    path = "/cases/{number}",
    tag = "cases",
    params(("number" = CaseNumber, Path, description = "The case")),
    responses(
        (status = 200, description = "The case, the caller masked (audited as `case.read`)", body = CaseDetail),
        (status = 400, description = "Not a case number", body = ErrorBody),
        (status = 404, description = "No such case, or not one this operator may see", body = ErrorBody),
    )
)]
async fn detail(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    let number = case_number(&number)?;
    Ok(Json(state.app.read_case(&actor, number).await?))
}

/// The body of `POST /cases/{number}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    /// The note: 1 to 4000 characters, not blank, no control characters but newline.
    text: String,
}

/// `POST /cases/{number}/notes` (operators and supervisors): appends a note.
#[utoipa::path(
    post,
    path = "/cases/{number}/notes",
    tag = "cases",
    params(("number" = CaseNumber, Path, description = "The case")),
    request_body = NoteBody,
    responses(
        (status = 201, description = "The note (audited as `case.note`)", body = Note),
        (status = 400, description = "Not a case number, a blank or too long note, or not the expected body", body = ErrorBody),
        (status = 404, description = "No such case, or not one this operator may see", body = ErrorBody),
    )
)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DispositionBody {
    /// One of `[cases] dispositions`. Optional here so that a body without it gets the same
    /// clear refusal as an empty one.
    #[serde(default)]
    #[schema(required = true)]
    disposition: Option<String>,
    /// `true` closes the case too.
    #[serde(default)]
    close: bool,
}

/// A case's disposition and whether it is closed.
#[derive(Debug, Serialize, ToSchema)]
struct DispositionSet {
    /// The case.
    number: CaseNumber,
    /// The disposition now.
    disposition: Option<Disposition>,
    /// Whether the case is closed.
    closed: bool,
    /// When it was closed.
    closed_at: Option<DateTime<Utc>>,
    /// Who closed it.
    closed_by: Option<PersonRef>,
}

/// `PUT /cases/{number}/disposition` (operators and supervisors): sets the disposition, and
/// with `close: true` closes the case. A closed case is 409 until reopened; a body without
/// a disposition is 400, so nothing is ever recorded by default.
#[utoipa::path(
    put,
    path = "/cases/{number}/disposition",
    tag = "cases",
    params(("number" = CaseNumber, Path, description = "The case")),
    request_body = DispositionBody,
    responses(
        (status = 200, description = "Set (audited as `case.close` when closing, `case.disposition` otherwise)", body = DispositionSet),
        (status = 400, description = "Not a case number, no disposition or not one of the configured, or not the expected body", body = ErrorBody),
        (status = 404, description = "No such case, or not one this operator may see", body = ErrorBody),
        (status = 409, description = "The case is closed: reopen it first", body = ErrorBody),
    )
)]
async fn set_disposition(
    actor: Actor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<DispositionSet>, ApiError> {
    let body: DispositionBody = json_body(&body)?;
    let number = case_number(&number)?;
    let disposition = body.disposition.as_deref().unwrap_or("");
    let work = state.app.set_disposition(&actor, number, disposition, body.close).await?;
    Ok(Json(DispositionSet {
        number,
        disposition: work.disposition,
        closed: work.closed_at.is_some(),
        closed_at: work.closed_at,
        closed_by: work.closed_by,
    }))
}

/// A case reopened.
#[derive(Debug, Serialize, ToSchema)]
struct Reopened {
    /// The case.
    number: CaseNumber,
    /// Always `false`: it is open again.
    closed: bool,
}

/// `POST /cases/{number}/reopen` (supervisors): reopens a closed case (409 if it is open).
#[utoipa::path(
    post,
    path = "/cases/{number}/reopen",
    tag = "cases",
    params(("number" = CaseNumber, Path, description = "The case")),
    responses(
        (status = 200, description = "Reopened (audited as `case.reopen`)", body = Reopened),
        (status = 400, description = "Not a case number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
        (status = 409, description = "The case is open", body = ErrorBody),
    )
)]
async fn reopen(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<Reopened>, ApiError> {
    let number = case_number(&number)?;
    state.app.reopen_case(&actor, number).await?;
    Ok(Json(Reopened { number, closed: false }))
}

/// `GET /cases?…` (supervisors): one page of the cases that pass the filters, newest first.
#[utoipa::path(
    get,
    path = "/cases",
    tag = "cases",
    params(
        ("from" = Option<String>, Query, description = "Cases that started at or after this time or date (RFC 3339, or `2026-03-01`)"),
        ("to" = Option<String>, Query, description = "Cases that started before this time or date"),
        ("language" = Option<String>, Query, description = "A language code: `ru`, `uk`, …"),
        ("channel" = Option<String>, Query, description = "`voice`, `telegram`, `sms` or `whatsapp`"),
        ("outcome" = Option<String>, Query, description = "One of the outcomes: `answered`, `callback`, …"),
        ("disposition" = Option<String>, Query, description = "A disposition name"),
        ("tag" = Option<String>, Query, description = "`key=value`, like `intent=surrender`"),
        ("operator" = Option<i64>, Query, description = "A person's id: the cases they took from a queue"),
        ("limit" = Option<u32>, Query, description = "1 to 500, default 100"),
        ("offset" = Option<u32>, Query, description = "0 to 1000000, default 0"),
    ),
    responses(
        (status = 200, description = "One page, newest first (audited as `cases.search`)", body = SearchPage),
        (status = 400, description = "An unknown or repeated parameter, or a wrong value", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn search(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<SearchPage>, ApiError> {
    let given = pairs(query.as_deref());
    let query = query.as_deref().unwrap_or("");
    Ok(Json(state.app.search_cases(&actor, &given, query).await?))
}

/// `GET /cases.csv?…` (supervisors): the same search as CSV, up to [`MAX_EXPORT`](crate::domain::casework::MAX_EXPORT) cases.
#[utoipa::path(
    get,
    path = "/cases.csv",
    tag = "cases",
    summary = "`GET /cases.csv?…` (supervisors): the same search as CSV, up to 10000 cases.",
    params(
        ("from" = Option<String>, Query, description = "As for the search"),
        ("to" = Option<String>, Query, description = "As for the search"),
        ("language" = Option<String>, Query, description = "As for the search"),
        ("channel" = Option<String>, Query, description = "As for the search"),
        ("outcome" = Option<String>, Query, description = "As for the search"),
        ("disposition" = Option<String>, Query, description = "As for the search"),
        ("tag" = Option<String>, Query, description = "As for the search"),
        ("operator" = Option<i64>, Query, description = "As for the search"),
        ("limit" = Option<u32>, Query, description = "1 to 10000, default 10000"),
        ("offset" = Option<u32>, Query, description = "0 to 1000000, default 0"),
    ),
    responses(
        (status = 200, description = "RFC 4180 CSV with a header line; no phone number or caller hash (audited as `cases.export`)",
            content_type = "text/csv", body = String),
        (status = 400, description = "An unknown or repeated parameter, or a wrong value", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
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

/// The blocklist.
#[derive(Debug, Serialize, ToSchema)]
struct Blocklist {
    /// Newest first, expired ones marked inactive.
    entries: Vec<BlockEntry>,
}

/// `GET /blocklist` (supervisors): every entry, newest first, expired ones marked inactive.
#[utoipa::path(
    get,
    path = "/blocklist",
    tag = "blocklist",
    responses(
        (status = 200, description = "Every entry (audited as `blocklist.read`)", body = Blocklist),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn blocklist(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Blocklist>, ApiError> {
    let entries = state.app.blocklist(&actor).await?;
    Ok(Json(Blocklist { entries }))
}

/// The body of `POST /blocklist`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    /// A case of the caller to block, like `2026-000042`.
    case: String,
    /// Why: 1 to 500 characters, no control characters.
    reason: String,
    /// When the block ends, in the future (RFC 3339 or a date); absent: until unblocked.
    #[serde(default)]
    expires_at: Option<String>,
}

/// `POST /blocklist` (supervisors): blocks the caller of a case.
#[utoipa::path(
    post,
    path = "/blocklist",
    tag = "blocklist",
    request_body = BlockBody,
    responses(
        (status = 201, description = "Blocked (audited as `blocklist.add`)", body = BlockEntry),
        (status = 400, description = "Not a case number, no reason, a wrong time, a caller who withheld their number, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
        (status = 409, description = "The caller is blocked already", body = ErrorBody),
    )
)]
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

/// An entry removed from the blocklist.
#[derive(Debug, Serialize, ToSchema)]
struct Unblocked {
    /// The entry as it was.
    removed: BlockEntry,
}

/// `DELETE /blocklist/{entry}` (supervisors): removes an entry, named by its id (`7`) or by a
/// case of the blocked caller (`2026-000042`).
#[utoipa::path(
    delete,
    path = "/blocklist/{entry}",
    tag = "blocklist",
    params(("entry" = String, Path, description = "The entry's id (`7`) or a case of the blocked caller (`2026-000042`)")),
    responses(
        (status = 200, description = "Removed (audited as `blocklist.remove`)", body = Unblocked),
        (status = 400, description = "Neither an id nor a case number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such entry", body = ErrorBody),
    )
)]
async fn unblock(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(entry): Path<String>,
) -> Result<Json<Unblocked>, ApiError> {
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
    Ok(Json(Unblocked { removed }))
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
