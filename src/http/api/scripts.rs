//! The IVR scripts' versions: `/scripts/…`, a supervisor's, and the menu flow's diagram
//! (`/scripts/graph/…`), which operators may see too.
//!
//! Drafts are saved file by file and checked at each save; publishing takes every draft at
//! once, and is refused (422, with every diagnostic) if the scripts they make have an error.
//! A rollback publishes an earlier version's text again. Publishing and rolling back are
//! audited; the new version is live for new calls as soon as the answer is sent.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, ApiError, ApiState, ErrorBody, Supervisor, json_body};
use crate::app::scripts::editing::{diagnostics_json, refusal};
use crate::app::scripts::versions::{self, Change, Published};
use crate::domain::script_versions::{ScriptDraft, ScriptVersion, Tester};
use crate::scripts::graph::Format;
use crate::scripts::{Diagnostic, LanguageTag};

/// A draft is a whole script file (at most 1 MiB) in JSON, escapes and all.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// The versions listed when the request names no limit.
const DEFAULT_LIMIT: u32 = 100;
/// The most versions one request lists.
pub(super) const MAX_LIMIT: u32 = 1000;

/// This resource's routes.
pub fn router() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(diff))
        .routes(routes!(save_draft, draft, discard_draft))
        .routes(routes!(publish))
        .routes(routes!(rollback))
        .routes(routes!(add_tester, testers))
        .routes(routes!(remove_tester))
        .routes(routes!(graph))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// How the diagnostics (`diagnostics_json`) read: a list of problems, each placed in its file.
pub(super) fn diagnostics_schema() -> ArrayBuilder {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let number = || ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1));
    ArrayBuilder::new().items(
        ObjectBuilder::new()
            .property("file", text().description(Some("The file's name, without the folder")))
            .property("line", number())
            .property("column", number())
            .property("severity", text().enum_values(Some(["error", "warning"])))
            .property("message", text())
            .required("file")
            .required("line")
            .required("column")
            .required("severity")
            .required("message"),
    )
}

/// What `GET /scripts` answers.
#[derive(Debug, Serialize, ToSchema)]
struct Overview {
    /// The key of the version new calls get.
    live: String,
    /// The drafts, without their text.
    drafts: Vec<DraftListed>,
    /// What the scripts the drafts make would meet (empty without drafts).
    #[schema(schema_with = diagnostics_schema)]
    draft_diagnostics: Vec<Value>,
}

/// A draft as listed.
#[derive(Debug, Serialize, ToSchema)]
struct DraftListed {
    /// `languages.xml` or `<code>.xml`.
    file: String,
    /// Who saved it last.
    author: String,
    /// When.
    updated_at: DateTime<Utc>,
}

/// `GET /scripts`: the live version's key, the drafts, and what they would make.
#[utoipa::path(
    get,
    path = "/scripts",
    tag = "scripts",
    responses(
        (status = 200, description = "What is live, and the drafts", body = Overview),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn overview(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Overview>, ApiError> {
    let drafts = state.app.script_files(&actor).await?.drafts;
    let diagnostics = state.app.draft_diagnostics(&actor).await?;
    let drafts = drafts
        .into_values()
        .map(|d| DraftListed { file: d.file, author: d.author, updated_at: d.updated_at })
        .collect();
    Ok(Json(Overview {
        live: state.app.live().live().key.clone(),
        drafts,
        draft_diagnostics: diagnostics_json(&diagnostics),
    }))
}

/// The query of `GET /scripts/versions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this file's versions: `languages.xml` or `<code>.xml`.
    file: Option<String>,
    /// How many, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// Published versions.
#[derive(Debug, Serialize, ToSchema)]
struct Versions {
    /// Newest first, without their text.
    versions: Vec<ScriptVersion>,
}

/// `GET /scripts/versions[?file=ru.xml&limit=N]`: published versions, newest first.
#[utoipa::path(
    get,
    path = "/scripts/versions",
    operation_id = "list_script_versions",
    tag = "scripts",
    params(ListQuery),
    responses(
        (status = 200, description = "The history", body = Versions),
        (status = 400, description = "An unknown parameter or a wrong value", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn list(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Versions>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: give a number from 1 to {MAX_LIMIT}")));
    }
    let versions = state.app.script_versions(&actor, query.file.as_deref(), limit).await?;
    Ok(Json(Versions { versions }))
}

/// One version with its text.
#[derive(Debug, Serialize, ToSchema)]
struct VersionText {
    /// The version.
    version: ScriptVersion,
    /// The whole file.
    text: String,
}

/// `GET /scripts/versions/{id}`: one version with its text.
#[utoipa::path(
    get,
    path = "/scripts/versions/{id}",
    tag = "scripts",
    params(("id" = i64, Path, description = "The version's id")),
    responses(
        (status = 200, description = "The version", body = VersionText),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
    )
)]
async fn show(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<VersionText>, ApiError> {
    let id = version_id(id)?;
    let (version, text) = state.app.script_version(&actor, id).await?;
    Ok(Json(VersionText { version, text }))
}

/// The query of `GET /scripts/diff`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DiffQuery {
    /// The older version's id.
    from: i64,
    /// The newer version's id.
    to: i64,
}

/// What changed between two versions.
#[derive(Debug, Serialize, ToSchema)]
struct Diff {
    /// The older version's id.
    from: i64,
    /// The newer version's id.
    to: i64,
    /// A unified diff by lines, three lines of context; empty for equal texts.
    diff: String,
}

/// `GET /scripts/diff?from=ID&to=ID`: a unified diff between two versions.
#[utoipa::path(
    get,
    path = "/scripts/diff",
    tag = "scripts",
    params(DiffQuery),
    responses(
        (status = 200, description = "The diff", body = Diff),
        (status = 400, description = "Not two version ids", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
    )
)]
async fn diff(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<Diff>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::BadRequest("give two version ids: ?from=ID&to=ID".into()))?;
    let diff = state.app.script_diff(&actor, query.from, query.to).await?;
    Ok(Json(Diff { from: query.from, to: query.to, diff }))
}

/// The body of `PUT /scripts/drafts/{file}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DraftBody {
    /// The whole file, at most 1 MiB.
    text: String,
}

/// What a saved draft would make.
#[derive(Debug, Serialize, ToSchema)]
struct DraftSaved {
    /// The file.
    file: String,
    /// Whether the drafts could be published as they are (no error).
    valid: bool,
    /// What publishing them would meet.
    #[schema(schema_with = diagnostics_schema)]
    diagnostics: Vec<Value>,
}

/// `PUT /scripts/drafts/{file}`: saves a draft and answers what the drafts would make.
#[utoipa::path(
    put,
    path = "/scripts/drafts/{file}",
    tag = "scripts",
    params(("file" = String, Path, description = "`languages.xml` or `<code>.xml`")),
    request_body = DraftBody,
    responses(
        (status = 200, description = "Saved, whatever it contains", body = DraftSaved),
        (status = 400, description = "Not a script file's name, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn save_draft(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    file: Result<Path<String>, PathRejection>,
    body: Result<Json<DraftBody>, JsonRejection>,
) -> Result<Json<DraftSaved>, ApiError> {
    let file = file_name(file)?;
    let body = json_body(body, MAX_BODY_BYTES)?;
    let diagnostics = state.app.save_script_draft(&actor, &file, body.text).await?;
    let valid = !diagnostics.iter().any(Diagnostic::is_error);
    Ok(Json(DraftSaved { file, valid, diagnostics: diagnostics_json(&diagnostics) }))
}

/// `GET /scripts/drafts/{file}`: the draft's text.
#[utoipa::path(
    get,
    path = "/scripts/drafts/{file}",
    tag = "scripts",
    params(("file" = String, Path, description = "`languages.xml` or `<code>.xml`")),
    responses(
        (status = 200, description = "The draft", body = ScriptDraft),
        (status = 400, description = "Not a script file's name", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No draft of that file", body = ErrorBody),
    )
)]
async fn draft(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    file: Result<Path<String>, PathRejection>,
) -> Result<Json<ScriptDraft>, ApiError> {
    let file = file_name(file)?;
    let mut drafts = state.app.script_files(&actor).await?.drafts;
    let draft = drafts
        .remove(&file)
        .ok_or_else(|| ApiError::NotFound(format!("there is no draft of {file}")))?;
    Ok(Json(draft))
}

/// `DELETE /scripts/drafts/{file}`: throws a draft away.
#[utoipa::path(
    delete,
    path = "/scripts/drafts/{file}",
    tag = "scripts",
    params(("file" = String, Path, description = "`languages.xml` or `<code>.xml`")),
    responses(
        (status = 204, description = "Thrown away"),
        (status = 400, description = "Not a script file's name", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No draft of that file", body = ErrorBody),
    )
)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// What changed: one line, at most 500 characters.
    #[serde(default)]
    comment: String,
}

/// `POST /scripts/publish`: publishes every draft (audited).
#[utoipa::path(
    post,
    path = "/scripts/publish",
    tag = "scripts",
    request_body = PublishBody,
    responses(
        (status = 200, description = "Live for new calls (audited as `scripts.publish`)", body = WentLive),
        (status = 400, description = "No draft, a wrong comment, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 409, description = "Someone else published meanwhile: review and publish again", body = ErrorBody),
        (status = 422, description = "The scripts would have errors: nothing changed; every diagnostic is given", body = ErrorBody),
    )
)]
async fn publish(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<PublishBody>, JsonRejection>,
) -> Result<Json<WentLive>, ApiError> {
    let body = json_body(body, MAX_BODY_BYTES)?;
    go_live(&state, &actor, Change::Drafts, &body.comment).await
}

/// The body of `POST /scripts/rollback`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The version whose text goes live again.
    version: i64,
    /// Why: one line, at most 500 characters.
    #[serde(default)]
    comment: String,
}

/// `POST /scripts/rollback`: publishes an earlier version's text again (audited).
#[utoipa::path(
    post,
    path = "/scripts/rollback",
    tag = "scripts",
    request_body = RollbackBody,
    responses(
        (status = 200, description = "Live for new calls (audited as `scripts.rollback`)", body = WentLive),
        (status = 400, description = "A wrong comment, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "Someone else published meanwhile, or that text is live already", body = ErrorBody),
        (status = 422, description = "The scripts would have errors: nothing changed; every diagnostic is given", body = ErrorBody),
    )
)]
async fn rollback(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<RollbackBody>, JsonRejection>,
) -> Result<Json<WentLive>, ApiError> {
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
) -> Result<Json<WentLive>, ApiError> {
    match state.app.publish_scripts(actor, change, comment).await? {
        Ok(published) => Ok(Json(WentLive::from(published))),
        Err(report) => Err(refusal(report).into()),
    }
}

/// The query of `GET /scripts/graph/{language}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct GraphQuery {
    /// `svg` (the default), `dot` or `mermaid`.
    format: Option<String>,
}

/// `GET /scripts/graph/{language}?format=svg|dot|mermaid`: the live script's menu flow
/// (operators and supervisors: it shows what callers hear, nothing about a case).
#[utoipa::path(
    get,
    path = "/scripts/graph/{language}",
    tag = "scripts",
    params(("language" = LanguageTag, Path, description = "The script's language"), GraphQuery),
    responses(
        (status = 200, description = "The diagram: SVG, or Graphviz or Mermaid text",
            content((String = "image/svg+xml"), (String = "text/plain"))),
        (status = 400, description = "A format that is not one", body = ErrorBody),
        (status = 404, description = "No script in that language", body = ErrorBody),
    )
)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TesterBody {
    /// The phone number, as the provider sends it (`+447700900123`); only its hash is kept.
    number: String,
    /// Whose phone it is, for the audit log: up to 64 characters.
    #[serde(default)]
    label: String,
}

/// A test caller added.
#[derive(Debug, Serialize, ToSchema)]
struct TesterAdded {
    /// The tester's id (a number added again keeps its id).
    id: i64,
}

/// `POST /scripts/testers`: calls from this number hear the drafts (audited, without the
/// number); answers the tester's id.
#[utoipa::path(
    post,
    path = "/scripts/testers",
    tag = "scripts",
    request_body = TesterBody,
    responses(
        (status = 200, description = "Added (audited as `scripts.tester-add`, without the number)", body = TesterAdded),
        (status = 400, description = "A number that is not `+` and 6 to 15 digits, a wrong label, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn add_tester(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<TesterBody>, JsonRejection>,
) -> Result<Json<TesterAdded>, ApiError> {
    let body = json_body(body, MAX_BODY_BYTES)?;
    let id = state.app.add_script_tester(&actor, &body.number, &body.label).await?.id;
    Ok(Json(TesterAdded { id }))
}

/// The test callers.
#[derive(Debug, Serialize, ToSchema)]
struct Testers {
    /// Oldest first; never a number, nor its hash.
    testers: Vec<Tester>,
}

/// `GET /scripts/testers`: the test callers, with who added them and when; never a number.
#[utoipa::path(
    get,
    path = "/scripts/testers",
    tag = "scripts",
    responses(
        (status = 200, description = "The test callers", body = Testers),
        (status = 403, description = "Supervisors only", body = ErrorBody),
    )
)]
async fn testers(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Testers>, ApiError> {
    Ok(Json(Testers { testers: state.app.script_testers(&actor).await? }))
}

/// `DELETE /scripts/testers/{id}`: that number hears the live version again from its next
/// call (audited).
#[utoipa::path(
    delete,
    path = "/scripts/testers/{id}",
    tag = "scripts",
    params(("id" = i64, Path, description = "The tester's id")),
    responses(
        (status = 204, description = "Removed (audited as `scripts.tester-remove`)"),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such tester", body = ErrorBody),
    )
)]
async fn remove_tester(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id.map_err(|_| ApiError::BadRequest("a tester's id is a whole number".into()))?.0;
    state.app.remove_script_tester(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What went live.
#[derive(Debug, Serialize, ToSchema)]
struct WentLive {
    /// The key of the version new calls get now.
    live: String,
    /// The new versions, one per file published.
    versions: Vec<ScriptVersion>,
    /// Problems that do not stop a call.
    #[schema(schema_with = diagnostics_schema)]
    warnings: Vec<Value>,
}

impl From<Published> for WentLive {
    fn from(published: Published) -> WentLive {
        WentLive {
            live: published.live.key,
            versions: published.versions,
            warnings: diagnostics_json(&published.warnings),
        }
    }
}

fn file_name(file: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(file) = file.map_err(|_| ApiError::BadRequest("name a script file".into()))?;
    Ok(versions::check_file_name(&file).map_err(crate::app::AppError::from)?)
}

fn version_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("a version's id is a number, like 12".into()))
}
