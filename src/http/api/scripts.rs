//! The IVR scripts' versions: `/scripts/…`, a supervisor's, and the menu flow's diagram
//! (`/scripts/graph/…`), which operators may see too.
//!
//! Drafts are saved file by file and checked at each save; publishing takes every draft at
//! once, and is refused (422, with every diagnostic) if the scripts they make have an error.
//! A rollback publishes an earlier version's text again. Publishing and rolling back are
//! audited; the new version is live for new calls as soon as the answer is sent.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Actor, ApiError, ApiState, Supervisor, json_body};
use crate::app::scripts::editing::{diagnostics_json, refusal};
use crate::app::scripts::versions::{self, Change, Published};
use crate::scripts::graph::Format;
use crate::scripts::{Diagnostic, LanguageTag};

/// A draft is a whole script file (at most 1 MiB) in JSON, escapes and all.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// The versions listed when the request names no limit.
const DEFAULT_LIMIT: u32 = 100;
/// The most versions one request lists.
const MAX_LIMIT: u32 = 1000;

/// This resource's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/scripts", get(overview))
        .route("/scripts/versions", get(list))
        .route("/scripts/versions/{id}", get(show))
        .route("/scripts/diff", get(diff))
        .route("/scripts/drafts/{file}", put(save_draft).get(draft).delete(discard_draft))
        .route("/scripts/publish", post(publish))
        .route("/scripts/rollback", post(rollback))
        .route("/scripts/testers", post(add_tester).get(testers))
        .route("/scripts/testers/{id}", delete(remove_tester))
        .route("/scripts/graph/{language}", get(graph))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `GET /scripts`: the live version's key, the drafts, and what they would make.
async fn overview(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Value>, ApiError> {
    let drafts = state.app.script_files(&actor).await?.drafts;
    let diagnostics = state.app.draft_diagnostics(&actor).await?;
    let drafts: Vec<Value> = drafts
        .values()
        .map(|d| json!({ "file": d.file, "author": d.author, "updated_at": d.updated_at }))
        .collect();
    Ok(Json(json!({
        "live": state.app.live().live().key,
        "drafts": drafts,
        "draft_diagnostics": diagnostics_json(&diagnostics),
    })))
}

/// The query of `GET /scripts/versions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    file: Option<String>,
    limit: Option<u32>,
}

/// `GET /scripts/versions[?file=ru.xml&limit=N]`: published versions, newest first.
async fn list(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let listed = state.app.script_versions(&actor, query.file.as_deref(), limit).await?;
    Ok(Json(json!({ "versions": listed })))
}

/// `GET /scripts/versions/{id}`: one version with its text.
async fn show(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = version_id(id)?;
    let (version, text) = state.app.script_version(&actor, id).await?;
    Ok(Json(json!({ "version": version, "text": text })))
}

/// The query of `GET /scripts/diff`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    from: i64,
    to: i64,
}

/// `GET /scripts/diff?from=ID&to=ID`: a unified diff between two versions.
async fn diff(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::BadRequest("give two version ids: ?from=ID&to=ID".into()))?;
    let diff = state.app.script_diff(&actor, query.from, query.to).await?;
    Ok(Json(json!({ "from": query.from, "to": query.to, "diff": diff })))
}

/// The body of `PUT /scripts/drafts/{file}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftBody {
    text: String,
}

/// `PUT /scripts/drafts/{file}`: saves a draft and answers what the drafts would make.
async fn save_draft(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    file: Result<Path<String>, PathRejection>,
    body: Result<Json<DraftBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let file = file_name(file)?;
    let body = json_body(body, MAX_BODY_BYTES)?;
    let diagnostics = state.app.save_script_draft(&actor, &file, body.text).await?;
    let valid = !diagnostics.iter().any(Diagnostic::is_error);
    Ok(Json(json!({ "file": file, "valid": valid, "diagnostics": diagnostics_json(&diagnostics) })))
}

/// `GET /scripts/drafts/{file}`: the draft's text.
async fn draft(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    file: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let file = file_name(file)?;
    let drafts = state.app.script_files(&actor).await?.drafts;
    let draft = drafts
        .get(&file)
        .ok_or_else(|| ApiError::NotFound(format!("there is no draft of {file}")))?;
    Ok(Json(json!(draft)))
}

/// `DELETE /scripts/drafts/{file}`: throws a draft away.
async fn discard_draft(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    file: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let file = file_name(file)?;
    state.app.discard_script_draft(&actor, &file).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /scripts/publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    #[serde(default)]
    comment: String,
}

/// `POST /scripts/publish`: publishes every draft (audited).
async fn publish(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<PublishBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body, MAX_BODY_BYTES)?;
    go_live(&state, &actor, Change::Drafts, &body.comment).await
}

/// The body of `POST /scripts/rollback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    version: i64,
    #[serde(default)]
    comment: String,
}

/// `POST /scripts/rollback`: publishes an earlier version's text again (audited).
async fn rollback(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<RollbackBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body, MAX_BODY_BYTES)?;
    go_live(&state, &actor, Change::Rollback(body.version), &body.comment).await
}

/// Publishes `change` for `actor` and answers what went live, or a 422 with every
/// diagnostic when the scripts would have errors.
async fn go_live(
    state: &ApiState,
    actor: &Actor,
    change: Change,
    comment: &str,
) -> Result<Json<Value>, ApiError> {
    match state.app.publish_scripts(actor, change, comment).await? {
        Ok(published) => Ok(Json(went_live(published))),
        Err(report) => Err(refusal(report).into()),
    }
}

/// The query of `GET /scripts/graph/{language}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphQuery {
    format: Option<String>,
}

/// `GET /scripts/graph/{language}?format=svg|dot|mermaid`: the live script's menu flow
/// (operators and supervisors: it shows what callers hear, nothing about a case).
async fn graph(
    _actor: Actor,
    State(state): State<Arc<ApiState>>,
    language: Result<Path<String>, PathRejection>,
    query: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let format = match query.format.as_deref() {
        None => Format::Svg,
        Some(format) => Format::parse(format)
            .ok_or_else(|| ApiError::BadRequest("format is svg, dot or mermaid".into()))?,
    };
    let live = state.app.live().live();
    let script = language
        .ok()
        .and_then(|Path(language)| LanguageTag::parse(&language))
        .and_then(|language| live.set.script(&language))
        .ok_or_else(|| ApiError::NotFound("no script in that language".into()))?;
    let diagram = crate::scripts::graph::render(script, format);
    Ok(([(header::CONTENT_TYPE, format.content_type())], diagram).into_response())
}

/// The body of `POST /scripts/testers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TesterBody {
    /// The phone number, as the provider sends it (`+447700900123`); only its hash is kept.
    number: String,
    /// Whose phone it is, for the audit log: up to 64 characters.
    #[serde(default)]
    label: String,
}

/// `POST /scripts/testers`: calls from this number hear the drafts (audited, without the
/// number); answers the tester's id.
async fn add_tester(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<TesterBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body, MAX_BODY_BYTES)?;
    let id = state.app.add_script_tester(&actor, &body.number, &body.label).await?;
    Ok(Json(json!({ "id": id })))
}

/// `GET /scripts/testers`: the test callers, with who added them and when; never a number.
async fn testers(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "testers": state.app.script_testers(&actor).await? })))
}

/// `DELETE /scripts/testers/{id}`: that number hears the live version again from its next
/// call (audited).
async fn remove_tester(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id.map_err(|_| ApiError::BadRequest("a tester's id is a whole number".into()))?.0;
    state.app.remove_script_tester(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Describes a version that went live.
fn went_live(published: Published) -> Value {
    json!({
        "live": published.live.key,
        "versions": published.versions,
        "warnings": diagnostics_json(&published.warnings),
    })
}

fn file_name(file: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(file) = file.map_err(|_| ApiError::BadRequest("name a script file".into()))?;
    Ok(versions::check_file_name(&file).map_err(crate::app::AppError::from)?)
}

fn version_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("a version's id is a number, like 12".into()))
}
