//! The supervisor's audit log screen, `/console/audit`: the newest lines, filtered by
//! person, action and case, with a limit the supervisor chooses (the API's rules:
//! [`crate::app::people::audit_filter`]). The page says how many lines it shows and that
//! they are the newest; an older line is found by narrowing the filter.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;

use super::ConsoleState;
use super::page::{Page, PageError, render};
use super::session::Viewer;
use crate::app::Actor;
use crate::app::people::MAX_AUDIT_LIMIT;
use crate::domain::audit::AuditRecord;
use crate::domain::people::Person;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new().route("/audit", get(audit_log))
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    page: Page,
    people: Vec<Person>,
    /// The filter as given, to fill the form again.
    actor: String,
    action: String,
    case: String,
    limit: u32,
    max_limit: u32,
    entries: Vec<AuditRecord>,
}

impl AuditPage {
    fn is_actor(&self, id: &i64) -> bool {
        self.actor == id.to_string()
    }
}

/// `GET /console/audit?actor=…&action=…&case=…&limit=…`: newest first.
async fn audit_log(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, PageError> {
    viewer.require_supervisor()?;
    let value = query_values(query.as_deref());
    let (actor, action, case, limit) =
        (value("actor"), value("action"), value("case"), value("limit"));
    let filter = crate::app::people::audit_filter(
        Some(case.trim()),
        Some(actor.trim()),
        Some(action.trim()),
        Some(limit.trim()),
    )
    .map_err(PageError::BadRequest)?;
    let asking = Actor::Person(viewer.person.clone());
    let limit = filter.limit;
    let entries = state.app.audit_log(&asking, filter).await?;
    render(&AuditPage {
        page: viewer.page("/console/audit"),
        people: state.app.filter_people(&asking).await?,
        actor,
        action,
        case,
        limit,
        max_limit: MAX_AUDIT_LIMIT,
        entries,
    })
}

/// The first value of each query parameter (an absent one is empty): a repeated parameter
/// cannot make the filter ambiguous.
fn query_values(query: Option<&str>) -> impl Fn(&str) -> String {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }
}
