//! The supervisors' script editor: the script files and their live versions, an editor with
//! line numbers and inline diagnostics, publishing, the flow diagram, test calls, and the
//! history with diffs and rollback.
//!
//! Every rule is the one `hotline scripts` and the JSON API follow (the use cases of
//! `app::scripts`): a
//! draft is saved whatever it holds and checked at each save; publishing takes every draft
//! at once and is refused, with every diagnostic, while the scripts they make have an error;
//! a rollback publishes an earlier version's text again. Publishing and rolling back write
//! the audit log in the same transaction as the version.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::ConsoleState;
use super::page::{Page, PageError, render, see_other};
use super::session::{CsrfForm, Viewer};
use crate::app::scripts::versions::{self, Change};
use crate::app::{Actor, AppError};
use crate::domain::script_versions::{ScriptVersion, Tester};
use crate::scripts::graph::{self, Format};
use crate::scripts::{Diagnostic, LANGUAGES_FILE, file_language};

/// How many versions of a file its history lists.
const HISTORY: u32 = 50;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/scripts", get(index))
        .route("/scripts/{file}", get(editor))
        .route("/scripts/{file}/validate", post(validate))
        .route("/scripts/{file}/publish", post(publish))
        .route("/scripts/{file}/rollback", post(rollback))
        .route("/scripts/{file}/discard", post(discard))
        .route("/scripts/{file}/graph.svg", get(graph_svg))
}

/// One script file as the list shows it.
struct FileRow {
    file: String,
    live: Option<ScriptVersion>,
    draft: Option<String>,
}

#[derive(Template)]
#[template(path = "console/scripts.html")]
struct IndexPage {
    page: Page,
    files: Vec<FileRow>,
    errors: usize,
    warnings: usize,
    drafts: usize,
}

/// `GET /console/scripts`: the files, the live version of each, the drafts waiting.
async fn index(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
) -> Result<Html<String>, PageError> {
    let actor = viewer.actor();
    let files_now = state.app.script_files(&actor).await?;
    let (live, drafts) = (files_now.live, files_now.drafts);
    let names: BTreeSet<&String> = live.keys().chain(drafts.keys()).collect();
    let mut files = Vec::new();
    // languages.xml first: it is the first menu of every call.
    for name in names
        .iter()
        .filter(|n| n.as_str() == LANGUAGES_FILE)
        .chain(names.iter().filter(|n| n.as_str() != LANGUAGES_FILE))
    {
        let newest = state.app.script_versions(&actor, Some(name.as_str()), 1).await?;
        let draft = drafts
            .get(*name)
            .map(|d| format!("{} · {}", d.author, d.updated_at.format("%Y-%m-%d %H:%M UTC")));
        files.push(FileRow { file: (*name).clone(), live: newest.into_iter().next(), draft });
    }
    let diagnostics = state.app.draft_diagnostics(&actor).await?;
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    render(&IndexPage {
        page: viewer.page("/console/scripts"),
        files,
        errors,
        warnings: diagnostics.len() - errors,
        drafts: drafts.len(),
    })
}

/// A line number beside the text, marked when a diagnostic names it.
struct GutterLine {
    number: usize,
    mark: &'static str,
}

/// A diagnostic as the editor shows it.
struct Shown {
    file: String,
    line: u32,
    column: u32,
    severity: &'static str,
    message: String,
}

/// A line of a diff, with its kind for the stylesheet.
struct DiffLine {
    kind: &'static str,
    text: String,
}

/// The diff the history shows: from an earlier version to the live one.
struct DiffView {
    from: i64,
    to: i64,
    lines: Vec<DiffLine>,
}

/// A message at the top of the editor: what a form did, or why it was refused.
struct Notice {
    kind: &'static str,
    text: String,
}

#[derive(Template)]
#[template(path = "console/scripts_editor.html")]
struct EditorPage {
    page: Page,
    file: String,
    language: Option<String>,
    text: String,
    gutter: Vec<GutterLine>,
    draft_by: Option<String>,
    other_drafts: Vec<String>,
    here: Vec<Shown>,
    elsewhere: Vec<Shown>,
    errors: usize,
    warnings: usize,
    notice: Option<Notice>,
    versions: Vec<ScriptVersion>,
    live_id: Option<i64>,
    diff: Option<DiffView>,
    draft_graph: bool,
    testers: Vec<Tester>,
}

impl EditorPage {
    /// Whether version `id` is the file's live one.
    fn is_live(&self, id: &i64) -> bool {
        self.live_id == Some(*id)
    }

    /// Whether another file has an error: its diagnostics are then shown unfolded.
    fn errors_elsewhere(&self) -> bool {
        self.elsewhere.iter().any(|d| d.severity == "error")
    }
}

/// The query of the editor: a diff to show, and what the last form did.
#[derive(Debug, Deserialize)]
struct EditorQuery {
    diff: Option<String>,
    done: Option<String>,
}

/// `GET /console/scripts/{file}`: the editor, with the draft if there is one.
async fn editor(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    file: Result<Path<String>, PathRejection>,
    query: Result<Query<EditorQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    viewer.require_supervisor()?;
    let file = script_file(&state, &viewer, file).await?;
    let Query(query) = query.map_err(|_| PageError::BadRequest(bad_query()))?;
    let diff = match query.diff.as_deref() {
        None | Some("") => None,
        Some(id) => Some(id.parse::<i64>().map_err(|_| PageError::BadRequest(bad_query()))?),
    };
    let notice = query.done.as_deref().and_then(|done| {
        let key = match done {
            "saved" => "scripts.done_saved",
            "published" => "scripts.done_published",
            "rolledback" => "scripts.done_rolledback",
            "discarded" => "scripts.done_discarded",
            _ => return None,
        };
        Some(Notice { kind: "ok", text: viewer.t(key).to_owned() })
    });
    let diagnostics = state.app.draft_diagnostics(&viewer.actor()).await?;
    let page = editor_page(&viewer, &state, &file, None, diagnostics, notice, diff).await?;
    render(&page)
}

/// The editor for `file`: `typed` is the text to show instead of the saved one (a form that
/// was refused keeps what was typed).
async fn editor_page(
    viewer: &Viewer,
    state: &ConsoleState,
    file: &str,
    typed: Option<String>,
    diagnostics: Vec<Diagnostic>,
    notice: Option<Notice>,
    diff: Option<i64>,
) -> Result<EditorPage, PageError> {
    let actor = viewer.actor();
    let files = state.app.script_files(&actor).await?;
    let (drafts, live) = (files.drafts, files.live);
    let draft = drafts.get(file);
    let text = typed
        .or_else(|| draft.map(|d| d.text.clone()))
        .or_else(|| live.get(file).cloned())
        .unwrap_or_default();
    let (here, elsewhere): (Vec<Shown>, Vec<Shown>) =
        diagnostics.iter().map(shown).partition(|d| d.file == file);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let lines = text.lines().count().max(1);
    let gutter = (1..=lines)
        .map(|number| {
            let named = here.iter().filter(|d| d.line as usize == number);
            let mark = named.fold("", |mark, d| if mark == "error" { mark } else { d.severity });
            GutterLine { number, mark }
        })
        .collect();
    let versions = state.app.script_versions(&actor, Some(file), HISTORY).await?;
    let live_id = versions.first().map(|v| v.id);
    let diff = match (diff, live_id) {
        (Some(from), Some(to)) => Some(diff_view(state, &actor, file, from, to).await?),
        _ => None,
    };
    let testers = state.app.script_testers(&actor).await?;
    Ok(EditorPage {
        page: viewer.page("/console/scripts"),
        file: file.to_owned(),
        language: file_language(file).map(|l| l.to_string()),
        text,
        gutter,
        draft_by: draft
            .map(|d| format!("{} · {}", d.author, d.updated_at.format("%Y-%m-%d %H:%M UTC"))),
        other_drafts: drafts.keys().filter(|f| *f != file).cloned().collect(),
        warnings: diagnostics.len() - errors,
        errors,
        here,
        elsewhere,
        notice,
        versions,
        live_id,
        diff,
        draft_graph: state.app.live().draft().is_some(),
        testers,
    })
}

/// The diff from version `from` (of this file) to the live one.
async fn diff_view(
    state: &ConsoleState,
    actor: &Actor,
    file: &str,
    from: i64,
    to: i64,
) -> Result<DiffView, PageError> {
    if !is_version_of(state, actor, from, file).await? {
        return Err(PageError::NotFound(format!("{file} has no version {from}")));
    }
    let text = state.app.script_diff(actor, from, to).await?;
    let lines = text
        .lines()
        .map(|line| {
            let kind = if line.starts_with("+++") || line.starts_with("---") {
                "head"
            } else if line.starts_with('+') {
                "added"
            } else if line.starts_with('-') {
                "removed"
            } else if line.starts_with("@@") {
                "hunk"
            } else {
                "same"
            };
            DiffLine { kind, text: line.to_owned() }
        })
        .collect();
    Ok(DiffView { from, to, lines })
}

/// The form of the editor: the text, and the comment a publication is made with.
#[derive(Debug, Deserialize)]
struct EditorForm {
    text: Option<String>,
    #[serde(default)]
    comment: String,
}

/// `POST /console/scripts/{file}/validate`: saves the text as the file's draft, then shows
/// it with what the checker says.
async fn validate(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    file: Result<Path<String>, PathRejection>,
    CsrfForm(form): CsrfForm<EditorForm>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let file = script_file(&state, &viewer, file).await?;
    let text = form.text.ok_or_else(|| PageError::BadRequest("the form has no text".into()))?;
    save(&viewer, &state, &file, text).await?;
    Ok(see_other(&format!("/console/scripts/{file}?done=saved")))
}

/// `POST /console/scripts/{file}/publish`: saves the text shown (if the form has one) as a
/// draft, then publishes every draft, or shows why not, with nothing published.
async fn publish(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    file: Result<Path<String>, PathRejection>,
    CsrfForm(form): CsrfForm<EditorForm>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let file = script_file(&state, &viewer, file).await?;
    // The comment is checked first, so a wrong one changes nothing, not even the draft.
    let comment = versions::check_comment(&form.comment).map_err(AppError::from)?;
    if let Some(text) = form.text {
        save(&viewer, &state, &file, text).await?;
    }
    match state.app.publish_scripts(&viewer.actor(), Change::Drafts, &comment).await? {
        Ok(_) => Ok(see_other(&format!("/console/scripts/{file}?done=published"))),
        Err(report) => {
            refused(&viewer, &state, &file, report.diagnostics, "scripts.refused_publish").await
        }
    }
}

/// The form of a rollback: the version to make live again, and why.
#[derive(Debug, Deserialize)]
struct RollbackForm {
    version: String,
    #[serde(default)]
    comment: String,
}

/// `POST /console/scripts/{file}/rollback`: publishes an earlier version of this file again.
async fn rollback(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    file: Result<Path<String>, PathRejection>,
    CsrfForm(form): CsrfForm<RollbackForm>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let file = script_file(&state, &viewer, file).await?;
    let version = form
        .version
        .trim()
        .parse::<i64>()
        .map_err(|_| PageError::BadRequest("a version is a number, like 12".into()))?;
    let actor = viewer.actor();
    if !is_version_of(&state, &actor, version, &file).await? {
        return Err(PageError::NotFound(format!("{file} has no version {version}")));
    }
    let change = Change::Rollback(version);
    match state.app.publish_scripts(&actor, change, &form.comment).await? {
        Ok(_) => Ok(see_other(&format!("/console/scripts/{file}?done=rolledback"))),
        Err(report) => {
            refused(&viewer, &state, &file, report.diagnostics, "scripts.refused_rollback").await
        }
    }
}

/// `POST /console/scripts/{file}/discard`: throws the file's draft away.
async fn discard(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    file: Result<Path<String>, PathRejection>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let file = script_file(&state, &viewer, file).await?;
    state.app.discard_script_draft(&viewer.actor(), &file).await?;
    Ok(see_other(&format!("/console/scripts/{file}?done=discarded")))
}

/// The query of the diagram: `?draft` for the drafts test callers hear.
#[derive(Debug, Deserialize)]
struct GraphQuery {
    draft: Option<String>,
}

/// `GET /console/scripts/{file}/graph.svg[?draft=1]`: the language's menu flow, live or
/// drafted, as an image (its colours are SVG attributes, which the page's policy allows).
async fn graph_svg(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    file: Result<Path<String>, PathRejection>,
    query: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let file = script_file(&state, &viewer, file).await?;
    let language = file_language(&file)
        .ok_or_else(|| PageError::NotFound(format!("{file} has no flow of its own")))?;
    let draft = query.is_ok_and(|Query(q)| q.draft.is_some());
    let live = state.app.live();
    let pinned = if draft { live.draft() } else { Some(live.live()) };
    let script = pinned.as_ref().and_then(|p| p.set.script(&language)).ok_or_else(|| {
        PageError::NotFound(format!("there is no valid {} script for {file}", kind(draft)))
    })?;
    let svg = graph::render(script, Format::Svg);
    Ok(([(CONTENT_TYPE, Format::Svg.content_type())], svg).into_response())
}

fn kind(draft: bool) -> &'static str {
    if draft { "drafted" } else { "live" }
}

/// Saves a typed text as the file's draft and brings the test callers' draft up to date.
async fn save(
    viewer: &Viewer,
    state: &ConsoleState,
    file: &str,
    text: String,
) -> Result<(), PageError> {
    // A form decodes bytes that are not UTF-8 into U+FFFD: refuse rather than save a
    // script with the text silently changed.
    if text.contains('\u{FFFD}') {
        return Err(PageError::BadRequest(
            "the text holds characters that are not UTF-8 (or U+FFFD); nothing was saved".into(),
        ));
    }
    let actor = viewer.actor();
    let files = state.app.script_files(&actor).await?;
    let current = files.drafts.get(file).map(|d| &d.text).or_else(|| files.live.get(file));
    // Browsers send a text area's lines ending in CRLF; a file written with LF keeps LF, so
    // the history shows the lines that changed, not every line.
    let text =
        if current.is_some_and(|c| c.contains("\r\n")) { text } else { text.replace("\r\n", "\n") };
    state.app.save_script_draft(&actor, file, text).await?;
    Ok(())
}

/// The editor again, with why a publication or rollback was refused and nothing changed.
async fn refused(
    viewer: &Viewer,
    state: &ConsoleState,
    file: &str,
    diagnostics: Vec<Diagnostic>,
    key: &'static str,
) -> Result<Response, PageError> {
    let notice = Some(Notice { kind: "error", text: viewer.t(key).to_owned() });
    let page = editor_page(viewer, state, file, None, diagnostics, notice, None).await?;
    let html = render(&page)?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

/// The file a path names, if it is a script file that is live or drafted.
async fn script_file(
    state: &ConsoleState,
    viewer: &Viewer,
    file: Result<Path<String>, PathRejection>,
) -> Result<String, PageError> {
    let Path(file) = file.map_err(|_| PageError::NotFound("name a script file".into()))?;
    // A name that is no script file's is a page that does not exist.
    let file = versions::check_file_name(&file).map_err(|error| match AppError::from(error) {
        AppError::Invalid(message) => PageError::NotFound(message),
        other => other.into(),
    })?;
    let files = state.app.script_files(&viewer.actor()).await?;
    if files.live.contains_key(&file) || files.drafts.contains_key(&file) {
        Ok(file)
    } else {
        Err(PageError::NotFound(format!("there is no script file {file}")))
    }
}

fn shown(diagnostic: &Diagnostic) -> Shown {
    Shown {
        file: diagnostic
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        line: diagnostic.line,
        column: diagnostic.column,
        severity: if diagnostic.is_error() { "error" } else { "warning" },
        message: diagnostic.message.clone(),
    }
}

/// Whether version `id` exists and is one of `file`'s.
async fn is_version_of(
    state: &ConsoleState,
    actor: &Actor,
    id: i64,
    file: &str,
) -> Result<bool, PageError> {
    match state.app.script_version(actor, id).await {
        Ok((version, _)) => Ok(version.file == file),
        Err(AppError::NotFound(_)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn bad_query() -> String {
    "the address is not valid: ?diff=VERSION shows a version's changes".into()
}
