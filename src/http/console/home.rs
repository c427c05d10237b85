//! The console's start page (where a login lands: the screens the viewer's role may open)
//! and the viewer's settings (the console's language).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::response::Html;
use axum::routing::get;

use super::ConsoleState;
use super::page::{Page, PageError, render};
use super::session::Viewer;
use super::text::Text;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new().route("/", get(home)).route("/settings", get(settings))
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    page: Page,
}

/// `GET /console`.
async fn home(viewer: Viewer) -> Result<Html<String>, PageError> {
    render(&HomePage { page: viewer.page("/console") })
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    page: Page,
    languages: &'static [Text],
}

/// `GET /console/settings`.
async fn settings(viewer: Viewer) -> Result<Html<String>, PageError> {
    render(&SettingsPage { page: viewer.page("/console/settings"), languages: Text::all() })
}
