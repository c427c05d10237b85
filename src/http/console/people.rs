//! The supervisor's people screen, `/console/people`: everyone, and what a supervisor does to
//! them — add (name, role, languages), disable and enable, change languages, reset the PIN
//! or the password, revoke API tokens, unlock an operator ID that wrong PINs locked out of
//! the operator line.
//!
//! The rules and audit lines are the use cases' ([`crate::app::people`]). A new PIN or password
//! is shown once, in the answer to the form that made it (not behind a redirect: it must not
//! sit in a URL or be fetched again), and only its hash is stored. Disabling a person or
//! resetting their password ends their console sessions.

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
use crate::domain::line_time::Stamp;
use crate::domain::lockout::LockedKey;
use crate::domain::people::Person;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/people", get(list).post(add))
        .route("/people/{id}/disable", post(disable))
        .route("/people/{id}/enable", post(enable))
        .route("/people/{id}/languages", post(languages))
        .route("/people/{id}/pin", post(reset_pin))
        .route("/people/{id}/unlock", post(unlock_pin))
        .route("/people/{id}/password", post(reset_password))
        .route("/people/{id}/tokens/revoke", post(revoke_tokens))
}

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    page: Page,
    rows: Vec<Row>,
}

/// A person, with their languages as the edit field shows them (`ru, uk`).
struct Row {
    person: Person,
    languages: String,
    /// Until when wrong PINs keep their operator ID locked out of the operator line
    /// (`HH:MM` UTC); `None` when it is not.
    pin_locked_until: Option<String>,
}

/// `GET /console/people`.
async fn list(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
) -> Result<Html<String>, PageError> {
    let actor = viewer.actor();
    let people = state.app.people(&actor).await?;
    let locks = state.app.pin_locks(&actor).await?;
    let rows = people
        .into_iter()
        .map(|person| {
            let languages =
                person.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ");
            let pin_locked_until = locks
                .iter()
                .find(|lock| matches!(lock.key, LockedKey::Operator { id, .. } if id == person.id))
                .map(|lock| viewer.zone.show(lock.until, Stamp::HourMinute));
            Row { person, languages, pin_locked_until }
        })
        .collect();
    render(&PeoplePage { page: viewer.page("/console/people"), rows })
}

/// A secret just made, shown this once.
#[derive(Template)]
#[template(path = "console/people_secret.html")]
struct SecretPage {
    page: Page,
    person: Person,
    /// `people.added`, `people.pin_reset` or `people.password_reset`.
    what: &'static str,
    pin: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NewPersonForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    languages: String,
}

/// `POST /console/people`: adds a person; the answer shows their PIN and password once.
async fn add(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<NewPersonForm>,
) -> Result<Html<String>, PageError> {
    let languages = split_languages(&form.languages);
    let added =
        state.app.add_person(&viewer.actor(), form.name.trim(), &form.role, &languages).await?;
    render(&SecretPage {
        page: viewer.page("/console/people"),
        person: added.person,
        what: "people.added",
        pin: Some(added.pin),
        password: Some(added.password),
    })
}

/// `POST /console/people/{id}/disable`: they can no longer log in, dial in or use the API.
async fn disable(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let id = person_id(&id)?;
    state.app.set_disabled(&viewer.actor(), id, true).await?;
    Ok(see_other("/console/people"))
}

/// `POST /console/people/{id}/enable`.
async fn enable(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let id = person_id(&id)?;
    state.app.set_disabled(&viewer.actor(), id, false).await?;
    Ok(see_other("/console/people"))
}

#[derive(Debug, Deserialize)]
struct LanguagesForm {
    #[serde(default)]
    languages: String,
}

/// `POST /console/people/{id}/languages`: the languages they take calls in.
async fn languages(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<LanguagesForm>,
) -> Result<Response, PageError> {
    let id = person_id(&id)?;
    state.app.set_languages(&viewer.actor(), id, &split_languages(&form.languages)).await?;
    Ok(see_other("/console/people"))
}

/// `POST /console/people/{id}/pin`: a new PIN, shown once.
async fn reset_pin(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Html<String>, PageError> {
    let id = person_id(&id)?;
    let (person, pin) = state.app.reset_pin(&viewer.actor(), id).await?;
    render(&SecretPage {
        page: viewer.page("/console/people"),
        person,
        what: "people.pin_reset",
        pin: Some(pin),
        password: None,
    })
}

/// `POST /console/people/{id}/unlock`: lifts the lock wrong PINs put on their operator ID.
async fn unlock_pin(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let id = person_id(&id)?;
    state.app.unlock_pin(&viewer.actor(), id).await?;
    Ok(see_other("/console/people"))
}

/// `POST /console/people/{id}/password`: a new password, shown once; their console
/// sessions end (the viewer's own too, if they reset their own: they read the new password
/// here, then log in with it).
async fn reset_password(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Html<String>, PageError> {
    let id = person_id(&id)?;
    let (person, password) = state.app.reset_password(&viewer.actor(), id).await?;
    render(&SecretPage {
        page: viewer.page("/console/people"),
        person,
        what: "people.password_reset",
        pin: None,
        password: Some(password),
    })
}

/// `POST /console/people/{id}/tokens/revoke`: every API token of theirs stops working.
async fn revoke_tokens(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    // Only the supervisor's screen offers it (the API lets anyone revoke their own).
    viewer.require_supervisor()?;
    let id = person_id(&id)?;
    state.app.revoke_tokens(&viewer.actor(), id).await?;
    Ok(see_other("/console/people"))
}

/// The codes of a typed language list, `ru, uk`: checked by the use case.
fn split_languages(list: &str) -> Vec<&str> {
    list.split(',').map(str::trim).collect()
}

/// A person's id from the path, or a 400.
fn person_id(text: &str) -> Result<i64, PageError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 1)
        .ok_or_else(|| PageError::BadRequest("a person's id is a number, like 101".into()))
}
