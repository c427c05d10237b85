//! The supervisor's blocklist screen, `/console/blocklist`: the entries (by case, never a
//! number or its hash: what the API shows), blocking the caller of a case with a reason and
//! an optional expiry, and removing an entry.
//!
//! Reading the list and every change are the use cases the API calls too
//! ([`crate::app::App::blocklist`], [`crate::app::App::block_caller`],
//! [`crate::app::App::unblock_caller`]), audited there.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::ConsoleState;
use super::page::{Page, PageError, render, see_other};
use super::session::{CsrfForm, Viewer};
use crate::app::Actor;
use crate::domain::cases::CaseNumber;
use crate::domain::casework::{BlockEntry, BlockKey, MAX_REASON_CHARS};

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/blocklist", get(list).post(add))
        .route("/blocklist/{id}/remove", post(remove))
}

#[derive(Template)]
#[template(path = "console/blocklist.html")]
struct BlocklistPage {
    page: Page,
    entries: Vec<BlockEntry>,
    max_reason: usize,
}

/// `GET /console/blocklist` (audited `blocklist.read`).
async fn list(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
) -> Result<Html<String>, PageError> {
    let entries = state.app.blocklist(&Actor::Person(viewer.person.clone())).await?;
    render(&BlocklistPage {
        page: viewer.page("/console/blocklist"),
        entries,
        max_reason: MAX_REASON_CHARS,
    })
}

#[derive(Debug, Deserialize)]
struct BlockForm {
    #[serde(default)]
    case: String,
    #[serde(default)]
    reason: String,
    /// A date (`2026-03-01`, from a date input) or a time; empty: until removed.
    #[serde(default)]
    expires: String,
}

/// `POST /console/blocklist`: blocks the caller of a case (audited `blocklist.add`).
async fn add(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<BlockForm>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let number: CaseNumber = form.case.trim().parse().map_err(PageError::BadRequest)?;
    let expires = Some(form.expires.trim()).filter(|text| !text.is_empty());
    let actor = Actor::Person(viewer.person.clone());
    state.app.block_caller(&actor, number, &form.reason, expires).await?;
    Ok(see_other("/console/blocklist"))
}

/// `POST /console/blocklist/{id}/remove` (audited `blocklist.remove`).
async fn remove(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let id = id.parse::<i64>().ok().filter(|id| *id >= 1).ok_or_else(|| {
        PageError::BadRequest("a blocklist entry's id is a number, like 7".into())
    })?;
    let actor = Actor::Person(viewer.person.clone());
    state
        .app
        .unblock_caller(&actor, BlockKey::Id(id))
        .await?
        .ok_or_else(|| PageError::NotFound(format!("there is no blocklist entry {id}")))?;
    Ok(see_other("/console/blocklist"))
}
