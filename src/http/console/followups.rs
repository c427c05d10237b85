//! The follow-up list: voicemails (with a player for the recording, which plays through
//! `/console/cases/{number}/recording`), callback requests and
//! calls missed in the queue, in the viewer's languages; taking one, revealing a taken
//! callback's number, and recording an attempt.
//!
//! The rules and audit lines are the use cases' (`crate::app::followups`), as for the API. The number appears in
//! exactly one response: the page a reveal (a POST with the session's CSRF token, by the
//! person who took the follow-up) answers, which is never cached and shows it once.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::ConsoleState;
use super::operator::clock;
use super::page::{Page, PageError, choice_labels, render, see_other};
use super::session::{CsrfForm, Viewer};
use super::text::Text;
use crate::app::Actor;
use crate::domain::followups::{self, FollowUp, Kind, State as FollowUpState};
use crate::domain::line_time::{LineZone, Stamp};
use crate::scripts::ScriptSet;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/followups", get(list))
        .route("/followups/{id}/take", post(take))
        .route("/followups/{id}/reveal", post(reveal))
        .route("/followups/{id}/attempts", post(attempt))
}

/// The results an attempt may have, as the API names them, with their text keys.
const RESULTS: [(&str, &str); 4] = [
    ("tried", "followups.tried"),
    ("no-answer", "followups.no_answer"),
    ("reached", "followups.reached"),
    ("wrong-number", "followups.wrong_number"),
];

#[derive(Template)]
#[template(path = "console/followups.html")]
struct ListPage {
    page: Page,
    closed: bool,
    /// Whether recordings play here (through the server), or only at the provider.
    playable: bool,
    items: Vec<Item>,
    results: Vec<(&'static str, &'static str)>,
}

/// One follow-up as the list shows it: never the number, only its mask.
struct Item {
    id: i64,
    kind: &'static str,
    is_callback: bool,
    case: String,
    language: String,
    tags: Vec<String>,
    created: String,
    waited: Option<String>,
    /// Whether there is a recording: it plays from the case's route, never the provider's
    /// address, which does not reach the page.
    has_recording: bool,
    recording_secs: Option<u32>,
    masked: Option<String>,
    state: &'static str,
    open: bool,
    mine: bool,
    attempts: Vec<String>,
    closed_reason: Option<String>,
    repeat_caller: bool,
}

impl Item {
    fn new(f: FollowUp, me: i64, scripts: &ScriptSet, text: &'static Text, zone: LineZone) -> Item {
        let script = f.language.as_ref().and_then(|l| scripts.script(l));
        Item {
            id: f.id,
            kind: match f.kind {
                Kind::Voicemail => text.get("followups.voicemail"),
                Kind::Callback => text.get("followups.callback"),
                Kind::Missed => text.get("followups.missed"),
            },
            is_callback: f.kind == Kind::Callback,
            case: f.case.to_string(),
            language: f.language.as_ref().map_or_else(|| "—".to_owned(), ToString::to_string),
            tags: script.map(|s| choice_labels(text, s, &f.tags)).unwrap_or_default(),
            created: zone.show(f.created_at, Stamp::Minute),
            waited: f.wait_secs.map(clock),
            has_recording: f.recording_url.is_some(),
            recording_secs: f.recording_secs,
            masked: f.number,
            state: match f.state {
                FollowUpState::Open => text.get("followups.state_open"),
                FollowUpState::Taken if f.taken_by == Some(me) => text.get("followups.state_mine"),
                FollowUpState::Taken => text.get("followups.state_taken"),
                FollowUpState::Closed => text.get("followups.state_closed"),
            },
            open: f.state == FollowUpState::Open,
            mine: f.state == FollowUpState::Taken && f.taken_by == Some(me),
            attempts: f
                .attempts
                .iter()
                .map(|a| {
                    format!(
                        "{} {}",
                        zone.show(a.at, Stamp::Minute),
                        result_label(a.result.as_str(), text)
                    )
                })
                .collect(),
            closed_reason: f.closed_reason,
            repeat_caller: f.earlier_calls > 0,
        }
    }
}

fn result_label(result: &str, text: &'static Text) -> &'static str {
    RESULTS.iter().find(|(name, _)| *name == result).map_or("", |(_, key)| text.get(key))
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

#[derive(Debug, Deserialize)]
struct ListQuery {
    closed: Option<String>,
}

/// `GET /console/followups` (`?closed=true` adds the closed ones).
async fn list(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Html<String>, PageError> {
    let closed = match query.closed.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(PageError::BadRequest("closed must be true or false".into())),
    };
    let followups = state.app.follow_ups(&actor(&viewer), closed).await?;
    let scripts = state.app.live().live().set;
    let me = viewer.person.id;
    let items = followups
        .into_iter()
        .map(|f| Item::new(f, me, &scripts, viewer.text, viewer.zone))
        .collect();
    render(&ListPage {
        page: viewer.page("/console/followups"),
        closed,
        playable: state.app.recordings_playable(),
        items,
        results: RESULTS.to_vec(),
    })
}

/// `POST /console/followups/{id}/take`.
async fn take(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    state.app.take_follow_up(&actor(&viewer), follow_up_id(&id)?).await?;
    Ok(see_other("/console/followups"))
}

#[derive(Template)]
#[template(path = "console/followups_reveal.html")]
struct RevealPage {
    page: Page,
    id: i64,
    case: String,
    number: String,
}

/// `POST /console/followups/{id}/reveal`: the page that shows the number, once.
async fn reveal(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Html<String>, PageError> {
    let id = follow_up_id(&id)?;
    let (follow_up, number) = state.app.reveal_callback_number(&actor(&viewer), id).await?;
    render(&RevealPage {
        page: viewer.page("/console/followups"),
        id: follow_up.id,
        case: follow_up.case.to_string(),
        number: number.e164(),
    })
}

#[derive(Debug, Deserialize)]
struct AttemptForm {
    #[serde(default)]
    result: String,
}

/// `POST /console/followups/{id}/attempts`.
async fn attempt(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<AttemptForm>,
) -> Result<Response, PageError> {
    let id = follow_up_id(&id)?;
    state.app.record_attempt(&actor(&viewer), id, &form.result).await?;
    Ok(see_other("/console/followups"))
}

/// The viewer as the use cases know them.
fn actor(viewer: &Viewer) -> Actor {
    Actor::Person(viewer.person.clone())
}

/// A follow-up's id from the path, or a 400.
fn follow_up_id(text: &str) -> Result<i64, PageError> {
    followups::parse_id(text).map_err(PageError::BadRequest)
}
