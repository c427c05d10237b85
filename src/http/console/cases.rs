//! The supervisor's case search, `/console/cases`: the API's filters (dates, language,
//! outcome, disposition, tag, operator) and paging, results linking to a case's read-only
//! detail (`/console/cases/{number}`: the full record, its timeline as lines in the viewer's
//! language, the outcome in the one vocabulary of `domain::timeline`), and the CSV export of
//! the filtered set (`/console/cases.csv`).
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
use super::text::Text;
use crate::app::{Actor, AppError};
use crate::domain::cases::CaseNumber;
use crate::domain::casework::{CaseDetail, CaseListing, MAX_PAGE, write_csv};
use crate::domain::line_time::{LineZone, Stamp};
use crate::domain::people::Person;
use crate::domain::timeline::{CaseOutcome, What, timeline};

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
    /// The outcome's machine name (the filter's value).
    outcome_name: &'static str,
    /// The outcome in the viewer's language.
    outcome: String,
    disposition: String,
    closed: bool,
    operator: String,
    wait: String,
    talk: String,
    tags: String,
}

impl Row {
    fn new(case: CaseListing, text: &Text, zone: LineZone) -> Row {
        let secs = |s: Option<i64>| s.map(|s| s.to_string()).unwrap_or_default();
        Row {
            number: case.number,
            started_at: when(zone, case.started_at),
            language: case.language.unwrap_or_default(),
            country: case.country.unwrap_or_default(),
            outcome_name: case.outcome.as_str(),
            outcome: outcome_text(text, case.outcome),
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
    /// Each outcome's machine name and words, for the filter.
    outcomes: Vec<(&'static str, String)>,
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
        outcomes: CaseOutcome::ALL
            .into_iter()
            .map(|outcome| (outcome.as_str(), outcome_text(viewer.text, outcome)))
            .collect(),
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
    page.rows =
        found.cases.into_iter().map(|case| Row::new(case, viewer.text, viewer.zone)).collect();
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

/// One line of a case's timeline, as the full record shows it.
struct Step {
    at: String,
    what: String,
    detail: String,
    /// The server's own words: the prompt heard, a reason.
    extra: String,
    /// Whether this line is the case's voicemail, played here through the case's own route
    /// (the provider's address never reaches a page). Answers recorded at an `<ask>` are
    /// marked only: the route plays the voicemail.
    voicemail: bool,
    /// The operator who answered, by name when the case's queue visits name them.
    operator: String,
}

#[derive(Template)]
#[template(path = "console/case.html")]
struct CasePage {
    page: Page,
    case: CaseDetail,
    /// The outcome in the viewer's language.
    outcome: String,
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
    let operator_name = |id: i64| {
        case.queue
            .iter()
            .filter_map(|visit| visit.operator.as_ref())
            .find(|person| person.id == id)
            .map_or_else(|| format!("#{id}"), |person| person.name.clone())
    };
    let steps = timeline(&case.timeline)
        .into_iter()
        .map(|line| Step {
            at: viewer.zone.show(line.at, Stamp::Clock),
            what: what_text(viewer.text, line.what),
            detail: line.detail,
            extra: line.extra.unwrap_or_default(),
            voicemail: line.recording.is_some() && line.what == What::Voicemail,
            operator: line.operator.map(operator_name).unwrap_or_default(),
        })
        .collect();
    let page = CasePage {
        page: viewer.page("/console/cases"),
        outcome: outcome_text(viewer.text, case.outcome),
        started_at: when(viewer.zone, case.started_at),
        ended_at: case.ended_at.map(|t| when(viewer.zone, t)).unwrap_or_default(),
        closed_at: case.closed_at.map(|t| when(viewer.zone, t)).unwrap_or_default(),
        steps,
        playable: state.app.recordings_playable(),
        case,
    };
    Ok(render(&page)?.into_response())
}

/// What came of a case, in the viewer's language (`outcome.<name>`).
pub(super) fn outcome_text(text: &Text, outcome: CaseOutcome) -> String {
    text.get(&format!("outcome.{}", outcome.as_str())).to_owned()
}

/// What a timeline's line says happened, in the viewer's language (`timeline.<name>`).
pub(super) fn what_text(text: &Text, what: What) -> String {
    text.get(&format!("timeline.{}", what.as_str())).to_owned()
}

/// A time as the screens show it, in the line's time.
fn when(zone: LineZone, time: DateTime<Utc>) -> String {
    zone.show(time, Stamp::Minute)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::domain::cases::{Event, LanguageChoiceMethod, TimedEvent};
    use crate::domain::language::{LanguageTag, NodeId, Tag};
    use crate::domain::timeline::line;

    /// One event of every kind, so every line a timeline can have is made.
    fn every_kind_of_event() -> Vec<Event> {
        let node = || NodeId::parse("main").unwrap();
        let language = || LanguageTag::parse("ru").unwrap();
        let mut events: Vec<Event> = [
            LanguageChoiceMethod::Key,
            LanguageChoiceMethod::Country,
            LanguageChoiceMethod::Default,
        ]
        .into_iter()
        .map(|how| Event::LanguageChosen { language: language(), how })
        .collect();
        events.extend([
            Event::LanguageMenu { attempt: 1 },
            Event::Entered { node: node(), said: "Hello".into() },
            Event::Pressed { node: None, digits: "1".into(), meaning: "ru".into() },
            Event::NoInput { node: None, attempt: 2 },
            Event::AttemptsExhausted { node: node() },
            Event::Tagged { tag: Tag { key: "intent".into(), value: "info".into() } },
            Event::HandedOff { node: node(), queue: "ru".into() },
            Event::Routed {
                language: Some(language()),
                interpreter_needed: false,
                reason: "".into(),
            },
            Event::Routed {
                language: Some(language()),
                interpreter_needed: true,
                reason: "".into(),
            },
            Event::Routed { language: None, interpreter_needed: false, reason: "".into() },
            Event::LeftQueue { result: "hangup".into(), wait_secs: None },
            Event::Answered { operator_id: 1, wait_secs: Some(3) },
            Event::Answered { operator_id: 1, wait_secs: None },
            Event::Voicemail { recording_url: "https://r/1".into(), duration_secs: None },
            Event::AskAnswered {
                node: node(),
                var: "unit".into(),
                recording_url: None,
                duration_secs: None,
            },
            Event::Finished { node: node() },
            Event::Fallback { error_code: None },
            Event::Rejected { reason: "bad digits".into() },
            Event::CallbackRequested { hint: "…67".into() },
            Event::Blocked { refused: true },
            Event::Blocked { refused: false },
            Event::Wrote { node: None, chars: 5 },
            Event::DeletionAsked,
            Event::StatusLost { silent_secs: 90 },
        ]);
        events
    }

    #[test]
    fn every_outcome_and_every_line_reads_in_every_language() {
        let at = DateTime::from_timestamp(1_772_366_400, 0).unwrap();
        let events: Vec<TimedEvent> = every_kind_of_event()
            .into_iter()
            .map(|event| TimedEvent { step: 1, at, event })
            .collect();
        let whats: std::collections::HashSet<What> =
            timeline(&events).iter().map(|l| l.what).collect();
        assert_eq!(whats.len(), events.len(), "each event kind has its own line");
        for text in Text::all() {
            for outcome in CaseOutcome::ALL {
                let words = outcome_text(text, outcome);
                assert_ne!(words, format!("outcome.{}", outcome.as_str()), "{}", text.code);
            }
            for what in &whats {
                let words = what_text(text, *what);
                assert_ne!(words, format!("timeline.{}", what.as_str()), "{}", text.code);
            }
        }
        assert_eq!(line(at, &Event::DeletionAsked).detail, "");
    }
}
