//! The supervisors' wall board (`/console/wallboard`): the line at a glance, for a screen on
//! the wall of the operators' room.
//!
//! The figures of the moment (calls in the IVR, callers waiting and the longest wait per
//! language, people by state, today's calls, abandonment, mean wait and talk) are a live
//! region refreshed every second; the charts of calls per hour (last 24 hours) and per day
//! (last 30 days) by language are a second one, redrawn every 10 seconds. Both read counts only,
//! never a case or a number; what each figure counts is written on the page and in
//! docs/wallboard.md. Days and hours are UTC, as stored.
//!
//! The numbers are the use cases' ([`crate::app::dashboard`]); this module lays them out.
//! While wrong PINs keep an operator ID or a number locked out of the operator line, a
//! banner above the figures says which and until when.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration as Span, Utc};

use super::ConsoleState;
use super::charts::{Chart, Series, line_chart};
use super::page::{Page, PageError, render};
use super::session::Viewer;
use super::text::Text;
use crate::app::Actor;
use crate::app::dashboard::STATES;
use crate::domain::dashboard::{CallCount, ChannelChats, Period, QueueDay};
use crate::domain::lockout::{LockedKey, PinLock};
use crate::domain::queue::PresenceState;

/// How often the figures are checked for a change.
const FIGURES_EVERY: Duration = Duration::from_secs(1);
/// How often the charts are redrawn: soon enough that they agree with the figures above them,
/// rarely enough that a month of counts (the board's dearest read, tens of milliseconds on a
/// million cases) costs little.
const CHARTS_EVERY: Duration = Duration::from_secs(10);
pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/wallboard", get(board))
        .route("/wallboard/events", get(figures_events))
        .route("/wallboard/charts/events", get(charts_events))
}

#[derive(Template)]
#[template(path = "console/wallboard.html")]
struct BoardPage {
    page: Page,
    figures: String,
    charts: String,
}

/// `GET /console/wallboard`: supervisors only.
async fn board(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
) -> Result<Html<String>, PageError> {
    let actor = viewer.actor();
    let figures = figures_html(&state, &actor, viewer.text).await?;
    let charts = charts_html(&state, &actor, viewer.text).await?;
    render(&BoardPage { page: viewer.page("/console/wallboard"), figures, charts })
}

/// `GET /console/wallboard/events`: the figures, as they change.
async fn figures_events(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let (actor, text) = (viewer.actor(), viewer.text);
    let shared = Arc::clone(&state);
    Ok(super::live::fragments(state, &viewer, FIGURES_EVERY, move || {
        let (state, actor) = (Arc::clone(&shared), actor.clone());
        async move { figures_html(&state, &actor, text).await }
    })
    .into_response())
}

/// `GET /console/wallboard/charts/events`: the charts, redrawn every 10 seconds.
async fn charts_events(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    viewer.require_supervisor()?;
    let (actor, text) = (viewer.actor(), viewer.text);
    let shared = Arc::clone(&state);
    Ok(super::live::fragments(state, &viewer, CHARTS_EVERY, move || {
        let (state, actor) = (Arc::clone(&shared), actor.clone());
        async move { charts_html(&state, &actor, text).await }
    })
    .into_response())
}

/// One language's queue.
struct QueueLine {
    language: String,
    waiting: u64,
    /// The longest wait, as `m:ss`; empty when nobody waits.
    longest: String,
}

/// A label and a count.
struct Count {
    label: String,
    count: u64,
}

#[derive(Template)]
#[template(path = "console/wallboard_figures.html")]
struct Figures {
    text: &'static Text,
    in_ivr: u64,
    waiting: u64,
    longest: String,
    queues: Vec<QueueLine>,
    people: Vec<Count>,
    calls: Vec<Count>,
    calls_total: u64,
    day: QueueDay,
    /// The abandonment rate, e.g. `12.5 %`; empty before anyone reached a queue today.
    abandonment: String,
    mean_wait: String,
    mean_talk: String,
    /// When the figures were read, `HH:MM:SS` UTC.
    updated: String,
    /// The operator line's locks of the moment: a banner while there is any.
    locks: Vec<LockLine>,
    /// Each text channel's conversations.
    chats: Vec<ChatLine>,
}

/// A text channel's conversations, as the board's table shows them.
struct ChatLine {
    channel: &'static str,
    figures: ChannelChats,
}

/// One lock on the operator line, as the banner shows it.
struct LockLine {
    /// What is locked: an operator ID (and whose), a number, withheld numbers.
    what: String,
    /// When it ends, `HH:MM` UTC.
    until: String,
    /// How many locks in a row.
    nth: u32,
}

/// The banner's lines: someone guessing PINs is something a supervisor must see at once.
fn lock_lines(locks: Vec<PinLock>, text: &Text) -> Vec<LockLine> {
    locks
        .into_iter()
        .map(|lock| {
            let what = match lock.key {
                LockedKey::Operator { id, name } => {
                    let name = name.unwrap_or_else(|| text.get("lockout.no_person").to_owned());
                    format!("{} {id} ({name})", text.get("lockout.operator"))
                }
                LockedKey::Number => text.get("lockout.number").to_owned(),
                LockedKey::WithheldNumbers => text.get("lockout.withheld").to_owned(),
            };
            LockLine { what, until: lock.until.format("%H:%M").to_string(), nth: lock.locks }
        })
        .collect()
}

/// The figures of the moment, rendered.
async fn figures_html(
    state: &ConsoleState,
    actor: &Actor,
    text: &'static Text,
) -> Result<String, PageError> {
    let board = state.app.board_figures(actor).await?;
    let (now, gauges, since, day) = (board.now, board.gauges, board.waiting_since, board.day);
    let waiting_in =
        |language: &str| gauges.waiting.iter().find(|(l, _)| l == language).map_or(0, |(_, n)| *n);
    let oldest = |language: &str| since.iter().find(|w| w.language == language).map(|w| w.since);
    let queues = board
        .languages
        .iter()
        .map(|language| QueueLine {
            language: language.clone(),
            waiting: waiting_in(language),
            longest: oldest(language).map(|s| clock(seconds(now - s))).unwrap_or_default(),
        })
        .collect();
    let longest =
        since.iter().map(|w| w.since).min().map(|s| clock(seconds(now - s))).unwrap_or_default();
    let people = STATES
        .iter()
        .zip(board.people)
        .map(|(state, count)| Count { label: text.get(state_key(*state)).to_owned(), count })
        .collect();

    let calls = day
        .calls
        .iter()
        .map(|(language, count)| Count {
            label: language.clone().unwrap_or_else(|| text.get("wallboard.no_language").into()),
            count: *count,
        })
        .collect();
    let figures = Figures {
        text,
        in_ivr: gauges.in_ivr,
        waiting: gauges.waiting.iter().map(|(_, n)| n).sum(),
        longest,
        queues,
        people,
        calls,
        calls_total: day.total_calls(),
        abandonment: day.abandonment().map(|r| format!("{:.1} %", r * 100.0)).unwrap_or_default(),
        mean_wait: day.mean_wait_secs.map(|s| clock(s.round() as i64)).unwrap_or_default(),
        mean_talk: day.mean_talk_secs.map(|s| clock(s.round() as i64)).unwrap_or_default(),
        day,
        updated: now.format("%H:%M:%S").to_string(),
        locks: lock_lines(board.locks, text),
        chats: board
            .chats
            .into_iter()
            .map(|figures| ChatLine { channel: figures.channel.label(), figures })
            .collect(),
    };
    figures.render().map_err(|e| PageError::Internal(Box::new(e)))
}

/// The interface-text key of a state.
fn state_key(state: PresenceState) -> &'static str {
    match state {
        PresenceState::Available => "wallboard.state_available",
        PresenceState::OnCall => "wallboard.state_on_call",
        PresenceState::WrapUp => "wallboard.state_wrap_up",
        PresenceState::Break => "wallboard.state_break",
        PresenceState::Offline => "wallboard.state_offline",
    }
}

/// Whole seconds of a span, never negative (a clock a little ahead of the database's).
fn seconds(span: Span) -> i64 {
    span.num_seconds().max(0)
}

/// A duration as `m:ss`, or `h:mm:ss` from an hour.
fn clock(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// A chart with the numbers of its table.
struct ChartView {
    svg: String,
    chart: Chart,
    /// The table: a bucket's label and its count per series.
    rows: Vec<(String, Vec<u64>)>,
    total: u64,
}

#[derive(Template)]
#[template(path = "console/wallboard_charts.html")]
struct Charts {
    text: &'static Text,
    charts: Vec<ChartView>,
}

/// Both charts, rendered.
async fn charts_html(
    state: &ConsoleState,
    actor: &Actor,
    text: &'static Text,
) -> Result<String, PageError> {
    let mut charts = Vec::new();
    for (period, buckets, id, title, desc, label_every) in [
        (Period::Hour, 24, "hours", "wallboard.chart_hours", "wallboard.chart_hours_desc", 3),
        (Period::Day, 30, "days", "wallboard.chart_days", "wallboard.chart_days_desc", 5),
    ] {
        let chart = chart_of(state, actor, text, period, buckets).await?;
        let chart = Chart {
            id,
            title: text.get(title).to_owned(),
            description: text.get(desc).to_owned(),
            label_every,
            ..chart
        };
        let total = chart.series.iter().flat_map(|s| &s.values).sum();
        let rows = chart
            .buckets
            .iter()
            .enumerate()
            .map(|(i, label)| (label.clone(), chart.series.iter().map(|s| s.values[i]).collect()))
            .collect();
        charts.push(ChartView { svg: line_chart(&chart), chart, rows, total });
    }
    Charts { text, charts }.render().map_err(|e| PageError::Internal(Box::new(e)))
}

/// The last `buckets` buckets of `period` up to the one `now` is in, with a series per
/// language that had calls in them: an empty chart says "no calls" better than flat lines.
async fn chart_of(
    state: &ConsoleState,
    actor: &Actor,
    text: &'static Text,
    period: Period,
    buckets: i32,
) -> Result<Chart, PageError> {
    let calls = state.app.calls_per(actor, period, buckets).await?;
    let (starts, counts) = (calls.starts, calls.counts);
    let format = match period {
        Period::Hour => "%H:00",
        Period::Day => "%m-%d",
    };
    Ok(Chart {
        id: "",
        title: String::new(),
        description: String::new(),
        buckets: starts.iter().map(|s| s.format(format).to_string()).collect(),
        label_every: 1,
        series: series(&counts, &starts, text),
    })
}

/// One series per language found in `counts`, in language order (no language last).
fn series(counts: &[CallCount], starts: &[DateTime<Utc>], text: &Text) -> Vec<Series> {
    let mut languages: Vec<Option<&String>> = Vec::new();
    for count in counts {
        if !languages.contains(&count.language.as_ref()) {
            languages.push(count.language.as_ref());
        }
    }
    // `None` sorts first; the calls without a language go last, after the real ones.
    languages.sort_by_key(|l| (l.is_none(), *l));
    languages
        .into_iter()
        .map(|language| Series {
            name: language.cloned().unwrap_or_else(|| text.get("wallboard.no_language").into()),
            values: starts
                .iter()
                .map(|start| {
                    counts
                        .iter()
                        .filter(|c| c.bucket == *start && c.language.as_ref() == language)
                        .map(|c| c.calls)
                        .sum()
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_clock() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(65), "1:05");
        assert_eq!(clock(3600 + 62), "1:01:02");
        assert_eq!(clock(-5), "0:00");
    }

    #[test]
    fn series_fill_missing_buckets_with_zero_and_put_no_language_last() {
        let t = |h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_utc()
        };
        let counts = vec![
            CallCount { bucket: t(1), language: None, calls: 2 },
            CallCount { bucket: t(1), language: Some("uk".into()), calls: 3 },
            CallCount { bucket: t(2), language: Some("ko".into()), calls: 4 },
        ];
        let made = series(&counts, &[t(0), t(1), t(2)], Text::of(None));
        let names: Vec<_> = made.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ko", "uk", Text::of(None).get("wallboard.no_language")]);
        assert_eq!(made[0].values, [0, 0, 4]);
        assert_eq!(made[1].values, [0, 3, 0]);
        assert_eq!(made[2].values, [0, 2, 0]);
    }
}
