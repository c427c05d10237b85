//! The supervisors' wall board (`/console/wallboard`): the line at a glance, for a screen on
//! the wall of the operators' room.
//!
//! The figures of the moment (calls in the IVR, callers waiting and the longest wait per
//! language, people by state, today's calls, the service level, abandonment, mean wait and
//! talk) are a live region refreshed every second; the charts of calls per hour (last 24
//! hours) and per day (last 30 days) by language, and of the service level per hour, are a
//! second one, redrawn every 10 seconds. Both read counts only, never a case or a number; what
//! each figure counts is written on the page and in docs/wallboard.md. Days and hours are the
//! line's (`[console] time_zone`), and figures are written as the viewer's language writes
//! them.
//!
//! `GET /console/wallboard/figures.json` gives the same figures to a screen that draws its
//! own: raw counts and shares, times in UTC (RFC 3339), the zone named.
//!
//! The numbers are the use cases' ([`crate::app::dashboard`]); this module lays them out.
//! While wrong PINs keep an operator ID or a number locked out of the operator line, a
//! banner above the figures says which and until when.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::ConsoleState;
use super::charts::{Chart, Scale, Series, WHOLE, bar_chart};
use super::page::{Page, PageError, number, percent, render};
use super::session::Viewer;
use super::text::Text;
use crate::app::Actor;
use crate::app::dashboard::{CallsPer, STATES};
use crate::domain::dashboard::{CallCount, Period, ServiceLevel};
use crate::domain::line_time::{LineZone, Stamp};
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
        .route("/wallboard/figures.json", get(figures_json))
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
    waiting: String,
    /// The longest wait, as `m:ss`; empty when nobody waits.
    longest: String,
}

/// A label and a count, written for the viewer.
struct Count {
    label: String,
    count: String,
}

#[derive(Template)]
#[template(path = "console/wallboard_figures.html")]
struct Figures {
    text: &'static Text,
    in_ivr: String,
    waiting: String,
    longest: String,
    queues: Vec<QueueLine>,
    people: Vec<Count>,
    calls: Vec<Count>,
    calls_total: String,
    /// The service level, e.g. `87.5%`; empty before any wait counts today.
    service: String,
    /// Its threshold, e.g. `20 s`.
    service_threshold: String,
    /// Answered in time / counted.
    service_detail: String,
    /// The abandonment rate, e.g. `12.5%`; empty before anyone reached a queue today.
    abandonment: String,
    /// Abandoned / reached the queue.
    abandonment_detail: String,
    mean_wait: String,
    answered: String,
    mean_talk: String,
    talks: String,
    /// When the figures were read, `HH:MM:SS` in the line's time.
    updated: String,
    /// The place the line's zone is named by (`Kyiv`), beside the time of the update; the
    /// footer names it in full.
    zone: String,
    /// The operator line's locks of the moment: a banner while there is any.
    locks: Vec<LockLine>,
    /// Each text channel's conversations.
    chats: Vec<ChatLine>,
}

/// A text channel's conversations, as the board's table shows them.
struct ChatLine {
    channel: &'static str,
    in_script: String,
    waiting: String,
    with_operator: String,
    today: String,
}

/// One lock on the operator line, as the banner shows it.
struct LockLine {
    /// What is locked: an operator ID (and whose), a number, withheld numbers.
    what: String,
    /// When it ends, `HH:MM` in the line's time.
    until: String,
    /// How many locks in a row.
    nth: u32,
}

/// The banner's lines: someone guessing PINs is something a supervisor must see at once.
fn lock_lines(locks: Vec<PinLock>, text: &Text, zone: LineZone) -> Vec<LockLine> {
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
            LockLine { what, until: zone.show(lock.until, Stamp::HourMinute), nth: lock.locks }
        })
        .collect()
}

/// `in_time / counted`, as the viewer writes numbers.
fn fraction(text: &Text, part: u64, whole: u64) -> String {
    format!("{} / {}", number(text, part), number(text, whole))
}

/// A threshold in seconds, e.g. `20 s`.
fn seconds_label(text: &Text, secs: u64) -> String {
    format!("{}\u{a0}{}", number(text, secs), text.get("service.seconds"))
}

/// The figures of the moment, rendered.
async fn figures_html(
    state: &ConsoleState,
    actor: &Actor,
    text: &'static Text,
) -> Result<String, PageError> {
    let board = state.app.board_figures(actor).await?;
    let (now, gauges, since, day) = (board.now, board.gauges, board.waiting_since, board.day);
    let n = |value: u64| number(text, value);
    let waiting_in =
        |language: &str| gauges.waiting.iter().find(|(l, _)| l == language).map_or(0, |(_, n)| *n);
    let oldest = |language: &str| since.iter().find(|w| w.language == language).map(|w| w.since);
    let queues = board
        .languages
        .iter()
        .map(|language| QueueLine {
            language: language.clone(),
            waiting: n(waiting_in(language)),
            longest: oldest(language).map(|s| clock(seconds(now - s))).unwrap_or_default(),
        })
        .collect();
    let longest =
        since.iter().map(|w| w.since).min().map(|s| clock(seconds(now - s))).unwrap_or_default();
    let people = STATES
        .iter()
        .zip(board.people)
        .map(|(state, count)| Count {
            label: text.get(state_key(*state)).to_owned(),
            count: n(count),
        })
        .collect();

    let calls = day
        .calls
        .iter()
        .map(|(language, count)| Count {
            label: language.clone().unwrap_or_else(|| text.get("wallboard.no_language").into()),
            count: n(*count),
        })
        .collect();
    let figures = Figures {
        text,
        in_ivr: n(gauges.in_ivr),
        waiting: n(gauges.waiting.iter().map(|(_, n)| n).sum()),
        longest,
        queues,
        people,
        calls,
        calls_total: n(day.total_calls()),
        service: day.service.share().map(|r| percent(text, r)).unwrap_or_default(),
        service_threshold: seconds_label(text, board.service_level_secs),
        service_detail: fraction(text, day.service.in_time, day.service.counted),
        abandonment: day.abandonment().map(|r| percent(text, r)).unwrap_or_default(),
        abandonment_detail: fraction(text, day.abandoned, day.reached_queue),
        mean_wait: day.mean_wait_secs.map(|s| clock(s.round() as i64)).unwrap_or_default(),
        answered: n(day.answered),
        mean_talk: day.mean_talk_secs.map(|s| clock(s.round() as i64)).unwrap_or_default(),
        talks: n(day.talks),
        updated: board.zone.show(now, Stamp::Clock),
        zone: board.zone.place(),
        locks: lock_lines(board.locks, text, board.zone),
        chats: board
            .chats
            .into_iter()
            .map(|figures| ChatLine {
                channel: figures.channel.label(),
                in_script: n(figures.in_script),
                waiting: n(figures.waiting),
                with_operator: n(figures.with_operator),
                today: n(figures.today),
            })
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
    /// The table's column heads after the bucket's.
    columns: Vec<String>,
    /// The table: a bucket's label and its cells, written for the viewer.
    rows: Vec<(String, Vec<String>)>,
    /// What the caption adds after the title: the total, or the threshold.
    summary: String,
}

#[derive(Template)]
#[template(path = "console/wallboard_charts.html")]
struct Charts {
    text: &'static Text,
    charts: Vec<ChartView>,
}

/// The charts, rendered: calls per hour, the service level per hour, calls per day.
async fn charts_html(
    state: &ConsoleState,
    actor: &Actor,
    text: &'static Text,
) -> Result<String, PageError> {
    let hours = state.app.calls_per(actor, Period::Hour, 24).await?;
    let days = state.app.calls_per(actor, Period::Day, 30).await?;
    let charts = vec![
        calls_chart(&hours, text, Period::Hour),
        service_chart(&hours, text),
        calls_chart(&days, text, Period::Day),
    ];
    Charts { text, charts }.render().map_err(|e| PageError::Internal(Box::new(e)))
}

/// A bucket's label on the charts: its local hour or day.
fn bucket_labels(calls: &CallsPer, period: Period) -> Vec<String> {
    let stamp = match period {
        Period::Hour => Stamp::Hour,
        Period::Day => Stamp::Day,
    };
    calls.starts.iter().map(|s| calls.zone.show(*s, stamp)).collect()
}

/// Calls per hour or day, a block per language chosen.
fn calls_chart(calls: &CallsPer, text: &'static Text, period: Period) -> ChartView {
    let (id, title, description, label_every) = match period {
        Period::Hour => ("hours", "wallboard.chart_hours", "wallboard.chart_hours_desc", 3),
        Period::Day => ("days", "wallboard.chart_days", "wallboard.chart_days_desc", 5),
    };
    let chart = Chart {
        id,
        title: text.get(title).to_owned(),
        description: text.get(description).to_owned(),
        buckets: bucket_labels(calls, period),
        label_every,
        series: series(&calls.counts, &calls.starts, text),
        scale: Scale::Count,
    };
    let total: u64 = chart.series.iter().flat_map(|s| &s.values).flatten().sum();
    let rows = chart
        .buckets
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let cells =
                chart.series.iter().map(|s| number(text, s.values[i].unwrap_or(0))).collect();
            (label.clone(), cells)
        })
        .collect();
    let svg = bar_chart(&chart, &|v| number(text, v));
    ChartView {
        svg,
        columns: chart.series.iter().map(|s| s.name.clone()).collect(),
        chart,
        rows,
        summary: format!("{}: {}", text.get("wallboard.total"), number(text, total)),
    }
}

/// The service level of each hour, as a share; hours without counted waits have no bar.
fn service_chart(calls: &CallsPer, text: &'static Text) -> ChartView {
    let threshold = seconds_label(text, calls.service_level_secs);
    // Thousandths: the chart's axis is whole numbers, the share is shown to a tenth of a per
    // cent.
    let share = |level: &ServiceLevel| level.share().map(|r| (r * WHOLE as f64).round() as u64);
    let series = Series {
        name: format!("{} {threshold}", text.get("service.threshold")),
        values: calls.service.iter().map(share).collect(),
    };
    let chart = Chart {
        id: "service",
        title: text.get("service.chart").to_owned(),
        description: text.get("service.chart_desc").to_owned(),
        buckets: bucket_labels(calls, Period::Hour),
        label_every: 3,
        series: vec![series],
        scale: Scale::Share,
    };
    let rows = chart
        .buckets
        .iter()
        .zip(&calls.service)
        .map(|(label, level)| {
            let share = level.share().map_or_else(|| "—".to_owned(), |r| percent(text, r));
            (label.clone(), vec![share, number(text, level.in_time), number(text, level.counted)])
        })
        .collect();
    let svg = bar_chart(&chart, &|v| percent(text, v as f64 / WHOLE as f64));
    ChartView {
        svg,
        columns: vec![
            text.get("service.title").to_owned(),
            text.get("service.in_time").to_owned(),
            text.get("service.counted").to_owned(),
        ],
        chart,
        rows,
        summary: format!("{} {threshold}", text.get("service.threshold")),
    }
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
                    Some(
                        counts
                            .iter()
                            .filter(|c| c.bucket == *start && c.language.as_ref() == language)
                            .map(|c| c.calls)
                            .sum(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// `GET /console/wallboard/figures.json`: the figures of the moment and the last 24 hours'
/// service level, for a screen that draws its own (supervisors only). Counts, seconds and
/// shares (0 to 1) as they are; times in UTC; the zone whose midnight "today" starts at.
async fn figures_json(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
) -> Result<Json<Value>, PageError> {
    let actor = viewer.actor();
    let board = state.app.board_figures(&actor).await?;
    let hours = state.app.calls_per(&actor, Period::Hour, 24).await?;
    let utc = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let level = |level: &ServiceLevel| json!({"in_time": level.in_time, "counted": level.counted, "share": level.share()});
    let day = &board.day;
    let calls: Vec<Value> = day
        .calls
        .iter()
        .map(|(language, calls)| json!({"language": language, "calls": calls}))
        .collect();
    let per_hour: Vec<Value> = hours
        .starts
        .iter()
        .zip(&hours.service)
        .map(|(start, service)| json!({"start": utc(*start), "service_level": level(service)}))
        .collect();
    Ok(Json(json!({
        "at": utc(board.now),
        "time_zone": board.zone.name(),
        "day_start": utc(board.zone.floor(Period::Day, board.now)),
        "in_ivr": board.gauges.in_ivr,
        "waiting": board.gauges.waiting.iter().map(|(l, n)| json!({"language": l, "waiting": n})).collect::<Vec<_>>(),
        "calls_today": calls,
        "reached_queue": day.reached_queue,
        "abandoned": day.abandoned,
        "abandonment": day.abandonment(),
        "answered": day.answered,
        "mean_wait_secs": day.mean_wait_secs,
        "talks": day.talks,
        "mean_talk_secs": day.mean_talk_secs,
        "service_level_secs": board.service_level_secs,
        "service_level": level(&day.service),
        "hours": per_hour,
    })))
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
        assert_eq!(made[0].values, [Some(0), Some(0), Some(4)]);
        assert_eq!(made[1].values, [Some(0), Some(3), Some(0)]);
        assert_eq!(made[2].values, [Some(0), Some(2), Some(0)]);
    }
}
