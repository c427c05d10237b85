//! The supervisors' script editor: the script files and their live versions, an editor with
//! line numbers and inline diagnostics, publishing, the flow diagram, test calls and the test
//! callers who hear the drafts, and the history with diffs and rollback.
//!
//! A version is shown as its place among its file's versions, "v3 of ru.xml", with its id
//! (which counts every file's versions) beside it in small: the id is what the API and
//! `hotline scripts` take. A test caller's number is typed once and never shown again: the
//! hotline keeps only its keyed hash, and the list shows the label it was given.
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
use super::text::Text;
use crate::app::scripts::editing::{FileVersion, TesterRefusal, check_tester};
use crate::app::scripts::versions::{self, Change};
use crate::app::{Actor, AppError};
use crate::domain::script_versions::Tester;
use crate::scripts::graph::{self, Format};
use crate::scripts::{Diagnostic, LANGUAGES_FILE, file_language};

/// How many versions of a file its history lists.
const HISTORY: usize = 50;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/scripts", get(index))
        .route("/scripts/{file}", get(editor))
        .route("/scripts/{file}/validate", post(validate))
        .route("/scripts/{file}/publish", post(publish))
        .route("/scripts/{file}/rollback", post(rollback))
        .route("/scripts/{file}/discard", post(discard))
        .route("/scripts/{file}/testers", post(add_tester))
        .route("/scripts/{file}/testers/{id}/remove", post(remove_tester))
        .route("/scripts/{file}/graph.svg", get(graph_svg))
}

/// One script file as the list shows it.
struct FileRow {
    file: String,
    live: Option<FileVersion>,
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
        let newest = state.app.script_file_versions(&actor, name).await?;
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
    /// Where, in words: "draft of ru.xml, line 12, column 5" (the draft's text, not the file
    /// of the folder, is what has that line).
    place: String,
    line: u32,
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
    from: FileVersion,
    to: FileVersion,
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
    versions: Vec<FileVersion>,
    live_id: Option<i64>,
    diff: Option<DiffView>,
    draft_graph: bool,
    testers: Vec<Tester>,
    /// What the last test-caller form did, shown beside the test callers.
    tester_notice: Option<Notice>,
    /// The label typed in a refused test-caller form (never its number).
    tester_label: String,
}

impl EditorPage {
    /// Whether version `id` is the file's live one.
    fn is_live(&self, id: &i64) -> bool {
        self.live_id == Some(*id)
    }

    /// "v3 of ru.xml", in the viewer's language.
    fn version_label(&self, version: &FileVersion) -> String {
        version_label(self.page.text, version, &self.file)
    }

    /// The question before rolling back to `version`.
    fn rollback_question(&self, version: &FileVersion) -> String {
        fill(self.page.t("scripts.rollback_confirm"), &[("version", &self.version_label(version))])
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
    /// The test caller the last form added or gave a new label.
    tester: Option<String>,
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
    let notice = |key: &str| Some(Notice { kind: "ok", text: viewer.t(key).to_owned() });
    let (notice, tester_notice) = match query.done.as_deref() {
        Some("saved") => (notice("scripts.done_saved"), None),
        Some("published") => (notice("scripts.done_published"), None),
        Some("rolledback") => (notice("scripts.done_rolledback"), None),
        Some("discarded") => (notice("scripts.done_discarded"), None),
        Some("tester-added") => (None, notice("scripts.done_tester_added")),
        Some("tester-removed") => (None, notice("scripts.done_tester_removed")),
        _ => (None, None),
    };
    let diagnostics = state.app.draft_diagnostics(&viewer.actor()).await?;
    let mut page = editor_page(&viewer, &state, &file, None, diagnostics, notice, diff).await?;
    page.tester_notice = tester_notice;
    if query.done.as_deref() == Some("tester-relabelled") {
        // Named by id in the address, so the label shown is the one kept, not one typed.
        let tester = query.tester.as_deref().and_then(|id| id.parse::<i64>().ok());
        let label = page.testers.iter().find(|t| Some(t.id) == tester).map(|t| t.label.clone());
        page.tester_notice = label.map(|label| Notice {
            kind: "ok",
            text: fill(viewer.t("scripts.done_tester_relabelled"), &[("label", &label)]),
        });
    }
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
    let (here, elsewhere): (Vec<Shown>, Vec<Shown>) = diagnostics
        .iter()
        .map(|d| shown(viewer.text, d, |name| drafts.contains_key(name)))
        .partition(|d| d.file == file);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let lines = text.lines().count().max(1);
    let gutter = (1..=lines)
        .map(|number| {
            let named = here.iter().filter(|d| d.line as usize == number);
            let mark = named.fold("", |mark, d| if mark == "error" { mark } else { d.severity });
            GutterLine { number, mark }
        })
        .collect();
    let mut versions = state.app.script_file_versions(&actor, file).await?;
    let live_id = versions.first().map(|v| v.version.id);
    let diff = match (diff, versions.first()) {
        (Some(from), Some(live)) => {
            // The version compared may be older than the history lists.
            let from = versions
                .iter()
                .find(|v| v.version.id == from)
                .cloned()
                .ok_or_else(|| PageError::NotFound(format!("{file} has no version {from}")))?;
            Some(diff_view(state, viewer.text, &actor, file, from, live.clone()).await?)
        }
        _ => None,
    };
    versions.truncate(HISTORY);
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
        tester_notice: None,
        tester_label: String::new(),
    })
}

/// The diff from version `from` of this file to the live one, `to`.
async fn diff_view(
    state: &ConsoleState,
    text: &Text,
    actor: &Actor,
    file: &str,
    from: FileVersion,
    to: FileVersion,
) -> Result<DiffView, PageError> {
    let diff = state.app.script_diff(actor, from.version.id, to.version.id).await?;
    // The head lines name each side as the history does, not by its id alone.
    let head = |version: &FileVersion| {
        format!(
            "{} ({} {}, {}, {})",
            version_label(text, version, file),
            text.get("scripts.version_id"),
            version.version.id,
            version.version.author,
            version.version.created_at.format("%Y-%m-%d %H:%M:%SZ")
        )
    };
    let lines = diff
        .lines()
        .enumerate()
        .map(|(i, line)| {
            // The first two lines name the sides; a removed line may start with `--` too.
            let (kind, text) = if i == 0 && line.starts_with("---") {
                ("head", format!("--- {}", head(&from)))
            } else if i == 1 && line.starts_with("+++") {
                ("head", format!("+++ {}", head(&to)))
            } else if line.starts_with('+') {
                ("added", line.to_owned())
            } else if line.starts_with('-') {
                ("removed", line.to_owned())
            } else if line.starts_with("@@") {
                ("hunk", line.to_owned())
            } else {
                ("same", line.to_owned())
            };
            DiffLine { kind, text }
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

/// A diagnostic as the page shows it; `drafted` says whether a file has a draft, whose text
/// (not the folder's file) is the one the line and column are in.
fn shown(text: &Text, diagnostic: &Diagnostic, drafted: impl Fn(&str) -> bool) -> Shown {
    let file =
        diagnostic.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = if drafted(&file) {
        fill(text.get("scripts.draft_of"), &[("file", &file)])
    } else {
        file.clone()
    };
    let place = if diagnostic.line == 0 {
        format!("{name}, {}", text.get("scripts.whole_file"))
    } else {
        format!(
            "{name}, {} {}, {} {}",
            text.get("scripts.line"),
            diagnostic.line,
            text.get("scripts.column"),
            diagnostic.column
        )
    };
    Shown {
        file,
        place,
        line: diagnostic.line,
        severity: if diagnostic.is_error() { "error" } else { "warning" },
        message: diagnostic.message.clone(),
    }
}

/// "v3 of ru.xml" in `text`'s language (`scripts.version_of`).
fn version_label(text: &Text, version: &FileVersion, file: &str) -> String {
    let ordinal = version.ordinal.to_string();
    fill(text.get("scripts.version_of"), &[("n", &ordinal), ("file", file)])
}

/// A text of the catalog with its `{name}` slots filled: translations put the values where
/// their grammar wants them.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{name}}}"), value)
    })
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

/// The form that makes a number hear the drafts: the number, and whose phone it is.
#[derive(Debug, Deserialize)]
struct TesterForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    label: String,
}

/// `POST /console/scripts/{file}/testers`: calls from this number hear the drafts (audited,
/// without the number), back on this file's editor, which says whether the number was new or
/// a test caller already given a new label. A refused form shows the editor again with why,
/// and with the label typed but never the number.
async fn add_tester(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    file: Result<Path<String>, PathRejection>,
    CsrfForm(form): CsrfForm<TesterForm>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let file = script_file(&state, &viewer, file).await?;
    // The use case's own rule, asked first to say why in the viewer's language.
    let refusal = match check_tester(&form.number, &form.label) {
        Err(refusal) => refusal,
        Ok(_) => {
            match state.app.add_script_tester(&viewer.actor(), &form.number, &form.label).await {
                Ok(added) => {
                    let done = if added.already { "tester-relabelled" } else { "tester-added" };
                    let to =
                        format!("/console/scripts/{file}?done={done}&tester={}#testers", added.id);
                    return Ok(see_other(&to));
                }
                // Checked above; a number the hasher would not take is still a wrong number.
                Err(AppError::Invalid(_)) => TesterRefusal::Number,
                Err(other) => return Err(other.into()),
            }
        }
    };
    let why = match refusal {
        TesterRefusal::LabelEmpty => "scripts.tester_label_empty",
        TesterRefusal::LabelTooLong => "scripts.tester_label_long",
        TesterRefusal::LabelHidden => "scripts.tester_label_hidden",
        TesterRefusal::Number => "scripts.tester_bad_number",
        TesterRefusal::TrunkZero => "scripts.tester_trunk_zero",
    };
    let diagnostics = state.app.draft_diagnostics(&viewer.actor()).await?;
    let mut page = editor_page(&viewer, &state, &file, None, diagnostics, None, None).await?;
    page.tester_notice = Some(Notice {
        kind: "error",
        text: format!("{} {}", viewer.t("scripts.tester_refused"), viewer.t(why)),
    });
    // A label that was refused is shown as typed, cut to what the field takes.
    page.tester_label = form.label.chars().take(MAX_LABEL_SHOWN).collect();
    Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
}

/// The most of a refused label the form shows again: the field's own limit.
const MAX_LABEL_SHOWN: usize = 64;

/// `POST /console/scripts/{file}/testers/{id}/remove`: that number hears the live version
/// again from its next call (audited).
async fn remove_tester(
    viewer: Viewer,
    State(state): State<Arc<ConsoleState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let Path((file, id)) = path.map_err(|_| PageError::NotFound("name a test caller".into()))?;
    let file = script_file(&state, &viewer, Ok(Path(file))).await?;
    let id =
        id.parse::<i64>().ok().filter(|id| *id >= 1).ok_or_else(|| {
            PageError::BadRequest("a test caller's id is a number, like 3".into())
        })?;
    state.app.remove_script_tester(&viewer.actor(), id).await?;
    Ok(see_other(&format!("/console/scripts/{file}?done=tester-removed#testers")))
}

fn bad_query() -> String {
    "the address is not valid: ?diff=VERSION shows a version's changes".into()
}
