//! The supervisor's case search, `/console/cases`: the API's filters (dates, language,
//! outcome, disposition, tag, operator) and paging, results linking to a case's read-only
//! detail (`/console/cases/{number}`), and the CSV export of the filtered set
//! (`/console/cases.csv`).
//!
//! The filters are parsed by [`crate::domain::casework::CaseFilter::parse`], the CSV written by
//! [`crate::domain::casework::write_csv`] (with its formula guard), and every search, export and
//! case read is audited as the API's are (`cases.search`, `cases.export`, `case.read`).
//! Callers appear as case numbers and countries, never as numbers or hashes.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use super::ConsoleState;
use super::page::{Page, PageError, render};
use super::session::Viewer;
use crate::app::{Actor, AppError};
use crate::domain::cases::CaseNumber;
use crate::domain::casework::{CaseDetail, CaseListing, MAX_PAGE, OUTCOMES, write_csv};
use crate::domain::people::Person;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/cases", get(search))
        .route("/cases.csv", get(export))
        .route("/cases/{number}", get(detail))
}

/// The filters' names, in the form's order.
const FIELDS: [&str; 9] =
    ["from", "to", "language", "outcome", "disposition", "tag", "operator", "limit", "offset"];

/// The search as given: each filter's value (empty when not given).
struct Given(Vec<(&'static str, String)>);

impl Given {
    /// The given values of the query string. An empty field is no filter (a form sends every
    /// field); an unknown or repeated parameter is kept, for the parser to refuse.
    fn parse(query: Option<&str>) -> (Given, Vec<(String, String)>) {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(name, value)| (name.into_owned(), value.trim().to_owned()))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        let value = |field: &str| {
            pairs.iter().find(|(name, _)| name == field).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        (Given(FIELDS.iter().map(|field| (*field, value(field))).collect()), pairs)
    }

    fn get(&self, field: &str) -> &str {
        self.0.iter().find(|(name, _)| *name == field).map_or("", |(_, value)| value)
    }

    /// The given filters as a query string, without `offset` (for the CSV link and paging).
    fn query_without_offset(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.0 {
            if !value.is_empty() && *name != "offset" {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

/// One line of the results, as shown.
struct Row {
    number: CaseNumber,
    started_at: String,
    language: String,
    country: String,
    outcome: String,
    disposition: String,
    closed: bool,
    operator: String,
    wait: String,
    talk: String,
    tags: String,
}

impl Row {
    fn new(case: CaseListing) -> Row {
        let secs = |s: Option<i64>| s.map(|s| s.to_string()).unwrap_or_default();
        Row {
            number: case.number,
            started_at: when(case.started_at),
            language: case.language.unwrap_or_default(),
            country: case.country.unwrap_or_default(),
            outcome: case.outcome,
            disposition: case.disposition.map(|d| d.to_string()).unwrap_or_default(),
            closed: case.closed_at.is_some(),
            operator: case.operator.map(|p| p.name).unwrap_or_default(),
            wait: secs(case.wait_secs),
            talk: secs(case.talk_secs),
            tags: case
                .tags
                .iter()
                .map(|t| format!("{}={}", t.key, t.value))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

#[derive(Template)]
#[template(path = "console/cases.html")]
struct SearchPage {
    page: Page,
    given: Given,
    error: Option<String>,
    rows: Vec<Row>,
    outcomes: &'static [&'static str],
    dispositions: Vec<String>,
    people: Vec<Person>,
    limit: u32,
    offset: u32,
    max_page: u32,
    /// The filters as a query string, for the CSV link and the paging links.
    query: String,
}

impl SearchPage {
    fn is(&self, field: &str, value: &str) -> bool {
        self.given.get(field) == value
    }

    fn has_more(&self) -> bool {
        self.rows.len() == self.limit as usize
    }

    fn next_offset(&self) -> u32 {
        self.offset.saturating_add(self.limit)
    }

    fn previous_offset(&self) -> u32 {
        self.offset.saturating_sub(self.limit)
    }
}

/// `GET /console/cases?…`: one page of the cases that pass the filters, newest first
/// (audited `cases.search`). A wrong filter shows the form again with the reason (400).
async fn search(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let actor = Actor::Person(viewer.person.clone());
    let (given, pairs) = Given::parse(query.as_deref());
    let query = given.query_without_offset();
    let mut page = SearchPage {
        page: viewer.page("/console/cases"),
        error: None,
        rows: Vec::new(),
        outcomes: &OUTCOMES,
        dispositions: state
            .app
            .config()
            .cases
            .dispositions()
            .iter()
            .map(|d| d.to_string())
            .collect(),
        people: state.app.filter_people(&actor).await?,
        limit: 100,
        offset: 0,
        max_page: MAX_PAGE,
        query,
        given,
    };
    let searched = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
    let found = match state.app.search_cases(&actor, &pairs, &searched).await {
        Ok(found) => found,
        Err(AppError::Invalid(why)) => {
            page.error = Some(why);
            return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
        }
        Err(error) => return Err(error.into()),
    };
    (page.limit, page.offset) = (found.limit, found.offset);
    page.rows = found.cases.into_iter().map(Row::new).collect();
    Ok(render(&page)?.into_response())
}

/// `GET /console/cases.csv?…`: the filtered set as CSV, up to [`MAX_EXPORT`](crate::domain::casework::MAX_EXPORT) cases (audited
/// `cases.export`).
async fn export(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let (_, pairs) = Given::parse(query.as_deref());
    let searched = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
    // The search's default page is 100; an export without a limit is the whole set.
    let actor = Actor::Person(viewer.person.clone());
    let cases = state.app.export_cases(&actor, &pairs, &searched, true).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8; header=present"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"cases.csv\""),
    ];
    Ok((headers, write_csv(&cases)).into_response())
}

/// One step of a case's timeline, as shown: its kind and what it carries.
struct Step {
    at: String,
    kind: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/case.html")]
struct CasePage {
    page: Page,
    case: CaseDetail,
    started_at: String,
    ended_at: String,
    closed_at: String,
    steps: Vec<Step>,
    /// Whether the voicemail plays here (through the server), or only at the provider.
    playable: bool,
}

/// `GET /console/cases/{number}`: the case, read-only, the caller masked (audited
/// `case.read`).
async fn detail(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(number): Path<String>,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let number: CaseNumber = number.parse().map_err(PageError::BadRequest)?;
    let case = state.app.read_case(&Actor::Person(viewer.person.clone()), number).await?;
    let steps = case
        .timeline
        .iter()
        .map(|event| {
            let (kind, detail) = describe(&event.event);
            Step { at: event.at.format("%H:%M:%S").to_string(), kind, detail }
        })
        .collect();
    let page = CasePage {
        page: viewer.page("/console/cases"),
        started_at: when(case.started_at),
        ended_at: case.ended_at.map(when).unwrap_or_default(),
        closed_at: case.closed_at.map(when).unwrap_or_default(),
        steps,
        playable: state.app.recordings_playable(),
        case,
    };
    Ok(render(&page)?.into_response())
}

/// An event's kind and its fields as `name=value`, from its serialised form: every kind of
/// event shows without this screen knowing each one.
fn describe(event: &crate::domain::cases::Event) -> (String, String) {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(event) else {
        return (String::new(), String::new());
    };
    let mut kind = String::new();
    let mut detail = Vec::new();
    for (name, value) in fields {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        if name == "kind" {
            kind = text;
        } else if name == "recording_url" {
            // The provider's address of a recording never reaches a page: it plays from the
            // case's own route.
            continue;
        } else {
            detail.push(format!("{name}={text}"));
        }
    }
    (kind, detail.join(" "))
}

/// A time as the screens show it, in UTC.
fn when(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}
