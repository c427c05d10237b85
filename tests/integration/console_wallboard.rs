//! The supervisors' wall board, seen from a browser: the figures a known set of calls (driven
//! by signed webhooks) leaves, the charts' hours and days (UTC by default, the line's local
//! ones with a time zone, across a change to summer time), the service level, the live region,
//! the figures' JSON, who may open it, and that no phone number reaches it.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::api::{self, TEST_PASSWORD};
use common::console::Browser;
use common::{CALLER, TestApp, attribute, new_call_sid, spawn_app, spawn_app_with};
use hotline::app::Clock;
use hotline::config::Config;
use hotline::domain::cases::{CallSid, Event, LanguageChoiceMethod, Record};
use hotline::domain::dashboard::Period;
use hotline::domain::line_time::LineZone;
use hotline::domain::people::Role;
use hotline::scripts::LanguageTag;
use hotline::storage::NewEntry;
use serde_json::json;

/// The line's zone of the tests that keep the default.
const UTC: LineZone = LineZone::UTC;

/// The text of the element marked `data-testid="id"`, up to its first tag.
fn figure(html: &str, id: &str) -> String {
    let marker = format!("data-testid=\"{id}\">");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {id} in {html}")) + marker.len();
    let rest = &html[at..];
    rest[..rest.find('<').unwrap()].trim().to_owned()
}

/// The counts of one bucket's row in one chart's table, by series name.
fn bucket(html: &str, chart: &str, label: &str) -> Vec<(String, u64)> {
    let start = html.find(&format!("data-chart=\"{chart}\"")).expect("the chart");
    let figure = &html[start..start + html[start..].find("</figure>").unwrap()];
    let head = &figure[figure.find("<thead>").unwrap()..figure.find("</thead>").unwrap()];
    let names: Vec<String> = head
        .split("<th scope=\"col\" class=\"num\">")
        .skip(1)
        .map(|cell| cell[..cell.find('<').unwrap()].to_owned())
        .collect();
    let marker = format!("data-bucket=\"{label}\">");
    let Some(at) = figure.find(&marker) else { return Vec::new() };
    let row = &figure[at..at + figure[at..].find("</tr>").unwrap()];
    let counts = row
        .split("<td class=\"num\">")
        .skip(1)
        .map(|cell| cell[..cell.find('<').unwrap()].parse::<u64>().unwrap());
    names.into_iter().zip(counts).filter(|(_, n)| *n > 0).collect()
}

/// The counts of a chart's buckets `labels` together, by name, in the chart's order.
fn buckets(html: &str, chart: &str, labels: &[String]) -> Vec<(String, u64)> {
    let mut total: Vec<(String, u64)> = Vec::new();
    for label in labels {
        for (name, count) in bucket(html, chart, label) {
            match total.iter_mut().find(|(known, _)| *known == name) {
                Some((_, sum)) => *sum += count,
                None => total.push((name, count)),
            }
        }
    }
    total
}

/// A caller who chose a language (`1` ru, `3` uk) and, with `to_queue`, asked for an operator.
async fn caller(app: &TestApp, language_key: &str, to_queue: bool) -> (String, String) {
    let sid = new_call_sid();
    let mut doc = app.post_call("/voice/incoming", &sid, &[]).await;
    let keys: &[&str] = if to_queue { &[language_key, "0"] } else { &[language_key] };
    for key in keys {
        let action = attribute(&doc, "Gather", "action").unwrap_or_else(|| panic!("a menu: {doc}"));
        doc = app.post_call(&action, &sid, &[("Digits", key)]).await;
    }
    (sid, doc)
}

async fn supervisor_browser(app: &TestApp) -> Browser {
    api::person(app, "boss", Role::Supervisor, &["ru"]).await;
    Browser::login(app, "boss", TEST_PASSWORD).await
}

#[tokio::test]
async fn the_board_shows_what_a_known_set_of_calls_left() {
    let began = Utc::now();
    // Six calls from one test number at once: above the flood limit of a real caller.
    let app = spawn_app_with(|c| c.webhooks.calls_per_caller = 10).await;
    let mut boss = supervisor_browser(&app).await;
    let (_, olga_token) = api::person(&app, "olga", Role::Operator, &["ru"]).await;

    // Before any call: zeros and dashes, and every language of the scripts has its line.
    let empty = boss.get("/console/wallboard").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    for (id, value) in [("in-ivr", "0"), ("waiting", "0"), ("longest", "—"), ("calls-today", "0")]
    {
        assert_eq!(figure(&empty.body, id), value, "{id}");
    }
    for (id, value) in
        [("abandonment", "—"), ("mean-wait", "—"), ("mean-talk", "—"), ("service-level", "—")]
    {
        assert_eq!(figure(&empty.body, id), value, "{id}");
    }
    for language in ["ru", "ko", "uk", "en"] {
        assert!(empty.body.contains(&format!("data-language=\"{language}\"")), "{language}");
    }

    // The calls: one Russian caller still waits; one hung up while waiting; two were
    // answered after 4 and 16 seconds; one Ukrainian caller is still in the menus; one hung up
    // before choosing a language.
    let (waiting, _) = caller(&app, "1", true).await;
    let (gone, enqueued) = caller(&app, "1", true).await;
    let action = attribute(&enqueued, "Enqueue", "action").unwrap();
    app.post_call(&action, &gone, &[("QueueResult", "hangup"), ("QueueTime", "30")]).await;
    app.post_call("/voice/status", &gone, &[("CallStatus", "completed"), ("CallDuration", "50")])
        .await;
    for queue_time in ["4", "16"] {
        let (answered, enqueued) = caller(&app, "1", true).await;
        let action = attribute(&enqueued, "Enqueue", "action").unwrap();
        app.post_call(&action, &answered, &[("QueueResult", "bridged"), ("QueueTime", queue_time)])
            .await;
    }
    caller(&app, "3", false).await;
    let silent = new_call_sid();
    app.post_call("/voice/incoming", &silent, &[]).await;
    app.post_call("/voice/status", &silent, &[("CallStatus", "completed"), ("CallDuration", "3")])
        .await;
    let status = api::api(
        &app,
        "PUT",
        "/api/me/state",
        Some(&olga_token),
        Some(json!({"state": "available"})),
    )
    .await
    .0;
    assert_eq!(status, 200);

    let board = boss.get("/console/wallboard").await;
    assert_eq!(board.status, 200);
    let html = &board.body;
    assert_eq!(figure(html, "in-ivr"), "1", "the Ukrainian caller in the menus");
    assert_eq!(figure(html, "waiting"), "1");
    let longest = figure(html, "longest");
    assert!(["0:00", "0:01", "0:02", "0:03"].contains(&longest.as_str()), "{longest}");
    assert_eq!(figure(html, "calls-today"), "6");
    // 1 of the 3 callers who reached the queue and are no longer in it hung up there.
    assert_eq!(figure(html, "abandonment"), "33.3%");
    assert!(html.contains("1 / 3"), "{html}");
    // Both answered callers were answered within 20 s; the one who hung up at once and the
    // one still waiting are not counted.
    assert_eq!(figure(html, "service-level"), "100.0%");
    assert_eq!(figure(html, "service-detail"), "in time / counted: 2 / 2");
    assert_eq!(figure(html, "mean-wait"), "0:10", "(4 + 16) / 2 seconds");
    assert_eq!(figure(html, "mean-talk"), "—", "no conversation has ended");
    let row = |label: &str| format!("<th scope=\"row\">{label}</th><td class=\"num\">");
    for (label, count) in [
        ("ru", "4"),
        ("uk", "1"),
        ("no language chosen", "1"),
        ("Available", "1"),
        ("Offline", "1"),
        ("On a call", "0"),
    ] {
        assert!(html.contains(&format!("{}{count}<", row(label))), "{label}: {html}");
    }
    let queues = &html[html.find("data-testid=\"queues\"").unwrap()..];
    assert!(queues.contains("data-language=\"ru\"><th scope=\"row\">ru</th><td class=\"num\">1<"));
    assert!(queues.contains("data-language=\"uk\"><th scope=\"row\">uk</th><td class=\"num\">0<"));

    // The charts count the same six calls in this hour and this day (in the two hours, or
    // days, a test that ran across the turn of one spans).
    let now = Utc::now();
    let expected: Vec<(String, u64)> =
        vec![("ru".into(), 4), ("uk".into(), 1), ("no language chosen".into(), 1)];
    let spanned = |period: Period, label: &str| {
        let mut labels = vec![UTC.floor(period, began).format(label).to_string()];
        labels.push(UTC.floor(period, now).format(label).to_string());
        labels.dedup();
        labels
    };
    let hours = spanned(Period::Hour, "%H:00");
    assert_eq!(buckets(html, "hours", &hours), expected, "{hours:?}");
    let days = spanned(Period::Day, "%m-%d");
    assert_eq!(buckets(html, "days", &days), expected, "{days:?}");
    assert!(html.contains("<svg"), "the charts are drawn");

    // The live region sends the same figures.
    let live = boss.first_event("/console/wallboard/events").await.expect("the stream");
    assert_eq!(figure(&live, "calls-today"), "6");
    assert_eq!(figure(&live, "waiting"), "1");
    let charts = boss.first_event("/console/wallboard/charts/events").await.expect("the stream");
    assert_eq!(buckets(&charts, "hours", &hours), expected);

    // Nowhere the callers' number, in any grouping.
    for text in [html.as_str(), live.as_str(), charts.as_str()] {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        assert!(!text.contains(&CALLER[1..]) && !digits.contains(&CALLER[2..]));
    }
    // The waiting caller is still there: the board changed nothing.
    let sid = CallSid::parse(&waiting).unwrap();
    let entry = app.storage.queue_entry_of_call(&sid).await.unwrap().unwrap();
    assert_eq!(entry.state, hotline::domain::queue::EntryState::Waiting);
    app.stop().await;
}

/// Opens a case at `at` whose caller chose `language`, as the webhooks would record it.
async fn past_call(app: &TestApp, at: DateTime<Utc>, language: Option<&str>) -> CallSid {
    let call_sid = CallSid::parse(&new_call_sid()).unwrap();
    app.storage
        .apply(Record::CallStarted { call_sid: call_sid.clone(), at, caller: None, country: None })
        .await
        .unwrap();
    if let Some(language) = language {
        let events = vec![Event::LanguageChosen {
            language: LanguageTag::parse(language).unwrap(),
            how: LanguageChoiceMethod::Key,
        }];
        app.storage
            .apply(Record::Step { call_sid: call_sid.clone(), step: 1, at, events })
            .await
            .unwrap();
    }
    call_sid
}

#[tokio::test]
async fn hours_and_days_are_utc_buckets_and_the_windows_end_where_they_say() {
    let app = spawn_app().await;
    let mut boss = supervisor_browser(&app).await;
    let ns = Duration::nanoseconds(1);
    // Retried if the hour turns while the test runs: every expectation is tied to it.
    for _ in 0..2 {
        let now = Utc::now();
        let (hour, day) = (UTC.floor(Period::Hour, now), UTC.floor(Period::Day, now));
        let calls = [
            (hour, "ru"),                            // this hour's first instant
            (hour - ns, "ru"),                       // the hour before, its last instant
            (hour - Duration::hours(23), "ko"),      // the chart's first hour
            (hour - Duration::hours(23) - ns, "ko"), // before the chart: not drawn by the hour
            (day - ns, "en"),                        // yesterday's last instant
            (day - Duration::days(29), "uk"),        // the first day of the month's chart
            (day - Duration::days(29) - ns, "uk"),   // before it: not drawn at all
        ];
        for (at, language) in calls {
            past_call(&app, at, Some(language)).await;
        }
        let html = boss.get("/console/wallboard").await.body;
        if UTC.floor(Period::Hour, Utc::now()) != hour {
            continue;
        }
        // Every bucket of both charts holds exactly the calls that started in it.
        let expected = |from: DateTime<Utc>, span: Duration| -> Vec<(String, u64)> {
            let mut counts = std::collections::BTreeMap::<String, u64>::new();
            for (_, language) in calls.iter().filter(|(at, _)| *at >= from && *at < from + span) {
                *counts.entry((*language).to_owned()).or_default() += 1;
            }
            counts.into_iter().collect()
        };
        for h in 0..24 {
            let start = hour - Duration::hours(h);
            let label = start.format("%H:00").to_string();
            assert_eq!(
                bucket(&html, "hours", &label),
                expected(start, Duration::hours(1)),
                "{label}"
            );
        }
        for d in 0..30 {
            let start = day - Duration::days(d);
            let label = start.format("%m-%d").to_string();
            assert_eq!(
                bucket(&html, "days", &label),
                expected(start, Duration::days(1)),
                "{label}"
            );
        }
        // The edges, said plainly: this hour's first instant is in this hour, the first hour
        // and day of each window are in, and a nanosecond before them is nowhere.
        assert_eq!(
            bucket(&html, "hours", &hour.format("%H:00").to_string()),
            [("ru".to_owned(), 1)]
        );
        let first_day = (day - Duration::days(29)).format("%m-%d").to_string();
        assert_eq!(bucket(&html, "days", &first_day), [("uk".to_owned(), 1)]);
        let drawn: u64 = (0..24)
            .flat_map(|h| {
                bucket(&html, "hours", &(hour - Duration::hours(h)).format("%H:00").to_string())
            })
            .map(|(_, n)| n)
            .sum();
        let in_window = calls.iter().filter(|(at, _)| *at >= hour - Duration::hours(23)).count();
        assert_eq!(drawn, in_window as u64);
        let started_today = calls.iter().filter(|(at, _)| *at >= day).count() as u64;
        assert_eq!(figure(&html, "calls-today"), started_today.to_string());
        app.stop().await;
        return;
    }
    panic!("the hour turned twice during the test");
}

/// Puts a past call in the Russian queue at `joined`.
async fn enqueued_at(app: &TestApp, joined: DateTime<Utc>) -> (CallSid, i64) {
    let sid = past_call(app, joined - Duration::seconds(5), Some("ru")).await;
    let new = NewEntry {
        call_sid: sid.clone(),
        step: 2,
        language: LanguageTag::parse("ru").unwrap(),
        interpreter_needed: false,
        at: joined,
    };
    let entry = app.storage.enqueue(new).await.unwrap().expect("enqueued");
    (sid, entry.id)
}

#[tokio::test]
async fn the_day_s_queue_starts_at_midnight_utc_and_waits_and_talks_are_averaged() {
    let app = spawn_app().await;
    let mut boss = supervisor_browser(&app).await;
    let (olga, _) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let day = UTC.floor(Period::Day, Utc::now());
    let s = Duration::seconds;

    // Yesterday: joined and hung up before midnight. Counted nowhere today.
    let (gone, _) = enqueued_at(&app, day - s(90)).await;
    app.storage.queue_left(&gone, "hangup".into(), Some(30), day - s(60)).await.unwrap();
    // Joined 20 s before midnight, connected at midnight: answered today (wait 20 s), but it
    // reached the queue yesterday.
    let (late, _) = enqueued_at(&app, day - s(20)).await;
    app.storage.queue_left(&late, "bridged".into(), Some(20), day).await.unwrap();
    // Joined at midnight, taken by Olga, connected after 10 s, talked 50 s.
    let (talked, id) = enqueued_at(&app, day).await;
    let taken = app.storage.take_next(olga.id, olga.languages.clone(), day + s(5), day).await;
    assert_eq!(taken.unwrap().map(|e| e.id), Some(id));
    app.storage.queue_left(&talked, "bridged".into(), Some(10), day + s(10)).await.unwrap();
    app.storage.dial_ended(id, olga.id, Some(50), false, day + s(60), day + s(70)).await.unwrap();

    let html = boss.get("/console/wallboard").await.body;
    assert_eq!(figure(&html, "mean-wait"), "0:15", "(20 + 10) / 2");
    assert_eq!(figure(&html, "mean-talk"), "0:50");
    assert!(html.contains("answered: 2") && html.contains("ended talks: 1"), "{html}");
    assert_eq!(figure(&html, "abandonment"), "0.0%", "yesterday's hang-up is not today's");
    assert!(html.contains("0 / 1"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn operators_get_403_and_strangers_the_login() {
    let app = spawn_app().await;
    api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let mut olga = Browser::login(&app, "olga", TEST_PASSWORD).await;
    for path in [
        "/console/wallboard",
        "/console/wallboard/events",
        "/console/wallboard/charts/events",
        "/console/wallboard/figures.json",
    ] {
        let answer = olga.get(path).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert!(!answer.body.contains("data-testid=\"in-ivr\""));
    }
    let home = olga.get("/console").await;
    assert!(!home.body.contains("/console/wallboard"), "the menu hides it from operators");
    let mut stranger = Browser::new(&app);
    for path in ["/console/wallboard", "/console/wallboard/events"] {
        let answer = stranger.get(path).await;
        assert_eq!((answer.status, answer.location()), (303, "/console/login"), "{path}");
    }
    // A Ukrainian-speaking supervisor reads the board in Ukrainian.
    let mut boss = supervisor_browser(&app).await;
    boss.get("/console/settings").await;
    assert_eq!(boss.post("/console/language", &[("language", "uk")]).await.status, 303);
    let board = boss.get("/console/wallboard").await;
    assert!(board.body.contains("Табло") && board.body.contains("Дзвінки сьогодні"));

    // The board takes no input: a hostile or huge query string is ignored, never echoed, and
    // a form posted to it is not a route.
    let hostile =
        format!("/console/wallboard?day=%3Cscript%3E&language=..%2F..&x={}", "9".repeat(8000));
    let answer = boss.get(&hostile).await;
    assert_eq!(answer.status, 200);
    assert!(!answer.body.contains("<script>") && !answer.body.contains("99999999"));
    let posted = boss.post("/console/wallboard", &[("x", "1")]).await;
    assert_eq!(posted.status, 405);
    app.stop().await;
}

/// A server whose line is in Kyiv and whose clock stands at `now`.
async fn kyiv_app(now: DateTime<Utc>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = dir.path().join("hotline.db");
    config.scripts.dir = common::shipped_scripts();
    config.console.time_zone = LineZone::parse("Europe/Kyiv").unwrap();
    common::start_with_clock(config, dir, Clock::manual(now)).await
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// The caller of `sid` hangs up in the queue at `left`, as the webhooks record it: the case
/// says so (outcome `abandoned-in-queue`) and the entry is closed.
async fn hangs_up(app: &TestApp, sid: &CallSid, left: DateTime<Utc>) {
    let events = vec![
        Event::HandedOff {
            node: hotline::scripts::NodeId::parse("operator").unwrap(),
            queue: "ru".into(),
        },
        Event::LeftQueue { result: "hangup".into(), wait_secs: None },
    ];
    let step = Record::Step { call_sid: sid.clone(), step: 3, at: left, events };
    app.storage.apply(step).await.unwrap();
    app.storage.queue_left(sid, "hangup".into(), None, left).await.unwrap();
}

/// The cells of one bucket's row in one chart's table, as written.
fn cells(html: &str, chart: &str, label: &str) -> Vec<String> {
    let start = html.find(&format!("data-chart=\"{chart}\"")).expect("the chart");
    let figure = &html[start..start + html[start..].find("</figure>").unwrap()];
    let marker = format!("data-bucket=\"{label}\">");
    let Some(at) = figure.find(&marker) else { return Vec::new() };
    let row = &figure[at..at + figure[at..].find("</tr>").unwrap()];
    row.split("<td class=\"num\">").skip(1).map(|c| c[..c.find('<').unwrap()].to_owned()).collect()
}

#[tokio::test]
async fn a_line_in_kyiv_counts_its_own_day_and_hours_and_its_service_level() {
    // 22:30 UTC on 27 November is 00:30 on the 28th in Kyiv (UTC+2 in winter).
    let now = at("2026-11-27T22:30:00Z");
    let app = kyiv_app(now).await;
    let mut boss = supervisor_browser(&app).await;
    // Yesterday in Kyiv (23:30 on the 27th), though the same UTC day.
    past_call(&app, at("2026-11-27T21:30:00Z"), Some("ru")).await;
    // Three Russian callers queued since (Kyiv's) midnight: answered after 5 s and after 40 s;
    // the third hung up after 10 s, before the threshold of 20 s: a short abandon, not counted.
    let s = Duration::seconds;
    let (fast, _) = enqueued_at(&app, now - s(120)).await;
    app.storage.queue_left(&fast, "bridged".into(), Some(5), now - s(115)).await.unwrap();
    let (slow, _) = enqueued_at(&app, now - s(100)).await;
    app.storage.queue_left(&slow, "bridged".into(), Some(40), now - s(60)).await.unwrap();
    let (hasty, _) = enqueued_at(&app, now - s(50)).await;
    hangs_up(&app, &hasty, now - s(40)).await;

    let html = boss.get("/console/wallboard").await.body;
    assert_eq!(figure(&html, "calls-today"), "3", "the call at 23:30 was yesterday in Kyiv");
    assert_eq!(figure(&html, "service-level"), "50.0%", "5 s in time, 40 s late");
    assert_eq!(figure(&html, "service-detail"), "in time / counted: 1 / 2");
    assert_eq!(figure(&html, "updated"), "00:30:00");
    assert_eq!(figure(&html, "abandonment"), "33.3%", "the abandonment rate counts it");
    assert_eq!(figure(&html, "time-zone"), "Times shown: Kyiv (Europe/Kyiv)");
    assert_eq!(html.matches("Europe/Kyiv").count(), 1, "the zone is named in full once");
    // The charts' buckets are Kyiv's hours and days.
    assert_eq!(bucket(&html, "hours", "00:00"), [("ru".to_owned(), 3)]);
    assert_eq!(bucket(&html, "hours", "23:00"), [("ru".to_owned(), 1)]);
    assert!(bucket(&html, "hours", "22:00").is_empty());
    assert_eq!(bucket(&html, "days", "11-28"), [("ru".to_owned(), 3)]);
    assert_eq!(bucket(&html, "days", "11-27"), [("ru".to_owned(), 1)]);
    assert_eq!(cells(&html, "service", "00:00"), ["50.0%", "1", "2"]);
    assert_eq!(cells(&html, "service", "23:00"), ["—", "0", "0"]);

    // In Ukrainian: a decimal comma and a spaced percent sign.
    boss.get("/console/settings").await;
    assert_eq!(boss.post("/console/language", &[("language", "uk")]).await.status, 303);
    let html = boss.get("/console/wallboard").await.body;
    assert_eq!(figure(&html, "service-level"), "50,0\u{a0}%");
    assert_eq!(cells(&html, "service", "00:00"), ["50,0\u{a0}%", "1", "2"]);

    // The JSON keeps UTC and raw shares, and names the zone.
    let answer = boss.get("/console/wallboard/figures.json").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(json["time_zone"], "Europe/Kyiv");
    assert_eq!(json["at"], "2026-11-27T22:30:00Z");
    assert_eq!(json["day_start"], "2026-11-27T22:00:00Z");
    assert_eq!(json["service_level_secs"], 20);
    assert_eq!(json["service_level"], json!({"in_time": 1, "counted": 2, "share": 0.5}));
    let hours = json["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[23]["start"], "2026-11-27T22:00:00Z");
    assert_eq!(hours[23]["service_level"]["share"], 0.5);
    assert_eq!(hours[22]["service_level"]["share"], serde_json::Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn the_day_summer_time_starts_has_23_hours_on_the_board() {
    // 29 March 2026: Kyiv's clocks go from 03:00 to 04:00 (01:00 UTC). 23:30 in Kyiv.
    let app = kyiv_app(at("2026-03-29T20:30:00Z")).await;
    let mut boss = supervisor_browser(&app).await;
    past_call(&app, at("2026-03-28T21:30:00Z"), Some("uk")).await; // 23:30 on the 28th
    past_call(&app, at("2026-03-29T00:30:00Z"), Some("ru")).await; // 02:30, winter time
    past_call(&app, at("2026-03-29T01:30:00Z"), Some("ko")).await; // 04:30, summer time
    let html = boss.get("/console/wallboard").await.body;
    assert_eq!(figure(&html, "calls-today"), "2");
    assert_eq!(bucket(&html, "hours", "02:00"), [("ru".to_owned(), 1)]);
    assert_eq!(bucket(&html, "hours", "04:00"), [("ko".to_owned(), 1)]);
    assert!(!html.contains("data-bucket=\"03:00\""), "03:00 never happened in Kyiv that day");
    assert_eq!(bucket(&html, "days", "03-29"), [("ko".to_owned(), 1), ("ru".to_owned(), 1)]);
    assert_eq!(bucket(&html, "days", "03-28"), [("uk".to_owned(), 1)]);
    // The hourly chart's first bucket is 23:00 on the 28th: 24 local hours back.
    let hours = &html[html.find("data-chart=\"hours\"").unwrap()..];
    let first = hours.find("data-bucket=\"").unwrap() + "data-bucket=\"".len();
    assert_eq!(&hours[first..first + 5], "23:00");
    assert_eq!(bucket(&html, "hours", "23:00"), [("uk".to_owned(), 1)]);
    app.stop().await;
}
