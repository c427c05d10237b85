//! Operations endpoints: `/healthz`, `/readyz` and `/metrics`, as a monitoring system and an
//! attacker see them. Real server, signed webhooks.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::api::{self};
use common::telegram::FakeBotApi;
use common::{new_call_sid, spawn_app, spawn_app_with};
use hotline::config::Config;
use hotline::domain::conversation::Channel;
use hotline::domain::people::Role;
use hotline::http::operations::{OTHER, ROUTE_GROUPS, route_group};
use hotline::http::server::Application;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The scraper's token in these tests.
pub(crate) const SCRAPER: &str = "scrape-token-7f3a9c1e5b2d4f6a8c0e";
/// The caller's number: it must never appear in the metrics.
const CALLER: &str = "+79161234567";

pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

async fn app_with_metrics() -> common::TestApp {
    spawn_app_with(|config| config.metrics.token_sha256 = sha256_hex(SCRAPER)).await
}

/// A GET with any `Authorization` header value (or none), written byte for byte on the socket
/// (HTTP clients refuse to send malformed values): the status and the body.
async fn get(app: &common::TestApp, path: &str, authorization: Option<Vec<u8>>) -> (u16, String) {
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
        if let Some(value) = authorization {
            request.extend(b"Authorization: ");
            request.extend(value);
            request.extend(b"\r\n");
        }
        request.extend(b"\r\n");
        let mut stream = TcpStream::connect(&addr).expect("connects");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // The server may answer and close before reading a huge header to its end.
        let _ = stream.write_all(&request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        // Bodies here are small; a chunked one is de-chunked crudely but enough to compare.
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_owned()
        };
        (status, body)
    })
    .await
    .unwrap()
}

/// The data of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

pub(crate) async fn scrape(app: &common::TestApp) -> Samples {
    let (status, body) = get(app, "/metrics", Some(format!("Bearer {SCRAPER}").into_bytes())).await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

/// Samples by `name{labels}`, as written.
pub(crate) type Samples = BTreeMap<String, f64>;

/// The suffixes a sample of a family of `kind` may add to the family's name.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_sum", "_count", "_created"],
        "info" => &["_info"],
        "gauge" | "unknown" => &[""],
        other => panic!("a family of unknown type {other}"),
    }
}

/// A sample's labels: names and values.
type Labels = Vec<(String, String)>;

/// The labels of a sample, `a="x",b="y"`, read by the format's rules (escaped `\\`, `\"` and
/// `\n` in values); panics on anything else.
fn labels(text: &str, line: &str) -> Labels {
    let mut found = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad label name {name:?} in {line:?}"
        );
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => panic!("bad escape in {line:?}"),
                },
                Some((at, '"')) => break at,
                Some((_, c)) => value.push(c),
                None => panic!("unclosed label value in {line:?}"),
            }
        };
        assert!(!found.iter().any(|(n, _)| n == name), "label {name} twice in {line:?}");
        found.push((name.to_owned(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    found
}

/// Parses the exposition format strictly, by OpenMetrics' rules: every line is a `# HELP`,
/// `# TYPE` or `# UNIT` comment, a sample `name{labels} value`, or the final `# EOF`; a
/// family is described once, before its samples, which follow it together and carry its
/// name with the suffixes its type allows; no series appears twice; counters are not
/// negative and a histogram's buckets add up to its count. Panics on anything else.
fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    // Families described so far, and the one whose samples are being read.
    let mut described: BTreeMap<String, (bool, Option<String>)> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut ended = false;
    for line in text.lines() {
        assert!(!ended, "text after # EOF: {line:?}");
        if line == "# EOF" {
            ended = true;
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (kind, family) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            assert!(["HELP", "TYPE", "UNIT"].contains(&kind), "bad comment {line:?}");
            if current.as_deref() != Some(family) {
                assert!(!described.contains_key(family), "{family} described twice: {line:?}");
                current = Some(family.to_owned());
            }
            let (help, kind_of) = described.entry(family.to_owned()).or_default();
            match kind {
                "HELP" => {
                    assert!(!*help, "two HELP lines for {family}");
                    *help = true;
                }
                "TYPE" => {
                    assert!(kind_of.is_none(), "two TYPE lines for {family}");
                    let declared = words.next().unwrap_or("");
                    suffixes(declared);
                    *kind_of = Some(declared.to_owned());
                }
                _ => {}
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        let family =
            current.as_deref().unwrap_or_else(|| panic!("a sample before any TYPE: {line:?}"));
        let kind = described[family].1.clone().unwrap_or_else(|| panic!("{family} has no TYPE"));
        let suffix =
            name.strip_prefix(family).unwrap_or_else(|| panic!("{line:?} is not of {family}"));
        assert!(suffixes(&kind).contains(&suffix), "{line:?}: a {kind} has no {suffix:?} sample");
        if name_end < series.len() {
            let inner = series[name_end + 1..].strip_suffix('}');
            labels(inner.unwrap_or_else(|| panic!("unclosed labels in {line:?}")), line);
        }
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        if kind == "counter" || suffix == "_bucket" || suffix == "_count" {
            assert!(value >= 0.0, "a negative count in {line:?}");
        }
        assert!(samples.insert(series.to_owned(), value).is_none(), "{series} twice");
    }
    assert!(ended, "no # EOF at the end");
    // Each histogram's buckets grow and end at its count: buckets by their other labels.
    let mut buckets: BTreeMap<(String, Labels), Vec<(f64, f64)>> = BTreeMap::new();
    for (series, value) in &samples {
        let Some((name, inner)) = series.split_once("_bucket{") else { continue };
        let mut others = labels(inner.trim_end_matches('}'), series);
        let at = others.iter().position(|(label, _)| label == "le").expect("a bucket's le");
        let (_, le) = others.remove(at);
        let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
        others.sort();
        buckets.entry((name.to_owned(), others)).or_default().push((le, *value));
    }
    for ((name, others), mut counts) in buckets {
        counts.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(counts.windows(2).all(|w| w[0].1 <= w[1].1), "{name} {others:?}: {counts:?}");
        assert_eq!(counts.last().map(|c| c.0), Some(f64::INFINITY), "{name} {others:?}");
        let count = samples.iter().find(|(series, _)| {
            series.split_once("_count").is_some_and(|(n, rest)| {
                let mut theirs = labels(rest.trim_start_matches('{').trim_end_matches('}'), series);
                theirs.sort();
                n == name && theirs == others
            })
        });
        assert_eq!(count.map(|c| *c.1), counts.last().map(|c| c.1), "{name} {others:?}: +Inf");
    }
    samples
}

fn value(samples: &Samples, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

fn sum(samples: &Samples, prefix: &str) -> f64 {
    samples.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
}

#[tokio::test]
async fn healthz_and_readyz_answer_without_a_token() {
    let app = spawn_app().await;
    assert_eq!(get(&app, "/healthz", None).await, (200, "ok\n".into()));
    assert_eq!(get(&app, "/readyz", None).await, (200, "ready\n".into()));
}

#[tokio::test]
async fn readyz_says_not_ready_while_the_database_is_locked() {
    let app = spawn_app().await;
    let locker = rusqlite::Connection::open(&app.db_path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (status, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready"), "{body}");
    locker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(get(&app, "/readyz", None).await.0, 200);
}

#[tokio::test]
async fn readyz_says_not_ready_while_the_database_is_read_only() {
    let (app, served) = common::spawn_app_and_its_storage(|_| {}).await;
    assert_eq!(get(&app, "/readyz", None).await.0, 200);
    let injected = served.inject_fault(hotline::storage::DatabaseFault::ReadOnly).await.unwrap();
    let (status, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, "not ready: the database does not take writes\n");
    served.clear_fault(injected).await.unwrap();
    assert_eq!(get(&app, "/readyz", None).await.0, 200);
}

#[tokio::test]
async fn readyz_says_not_ready_while_the_databases_disk_is_full() {
    // Room for the database, its journal and a write-ahead log at its most (64 MiB).
    let disk = common::SmallDisk::mount(80);
    let app = spawn_app_with(|c| {
        c.database.path = disk.path().join("hotline.db");
        c.database.journal_reserve_mb = 1;
    })
    .await;
    assert_eq!(get(&app, "/readyz", None).await.0, 200);
    // A commit into the log's space already owned still succeeds on a full disk, so the probe
    // alone would say "ready": the free space is what tells.
    let filler = disk.fill();
    let (status, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, "not ready: the database's disk is nearly full: 0 MiB free, 64 MiB needed\n");
    std::fs::remove_file(filler).unwrap();
    assert_eq!(get(&app, "/readyz", None).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_says_not_ready_when_the_disk_had_no_room_for_the_journals_reserve() {
    let disk = common::SmallDisk::mount(2);
    let journal = disk.path().join("journal").join("hotline.journal");
    let app = spawn_app_with(|c| {
        c.database.journal_path = journal.clone();
        c.database.journal_reserve_mb = 8;
        c.metrics.token_sha256 = sha256_hex(SCRAPER);
    })
    .await;
    // The server started and answers calls; the journal took what the disk had.
    let owned = std::fs::metadata(&journal).unwrap().len();
    assert!(owned > 0 && owned <= 2 << 20, "{owned} bytes");
    let (status, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, "not ready: the disk had no room for the journal's whole reserve\n");
    let metrics = scrape(&app).await;
    assert_eq!(metrics.get("hotline_journal_reserve_bytes"), Some(&(owned as f64)), "{metrics:?}");
    assert_eq!(metrics.get("hotline_journal_reserve_used_bytes"), Some(&0.0));
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_off_unless_a_token_hash_is_configured() {
    let app = spawn_app().await;
    let (status, _) = get(&app, "/metrics", Some(format!("Bearer {SCRAPER}").into_bytes())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_refuse_a_missing_wrong_or_hostile_token() {
    let app = app_with_metrics().await;
    let mut huge = b"Bearer ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 32 * 1024));
    let attempts: Vec<Option<Vec<u8>>> = vec![
        None,
        Some(b"Bearer ".to_vec()),
        Some(b"Bearer wrong-token".to_vec()),
        Some(format!("Basic {SCRAPER}").into_bytes()),
        Some(format!("bearer{SCRAPER}").into_bytes()),
        // The hash itself is not the token.
        Some(format!("Bearer {}", sha256_hex(SCRAPER)).into_bytes()),
        Some(b"Bearer \xff\xfe".to_vec()),
        Some(huge),
    ];
    for authorization in attempts {
        let shown = authorization
            .as_ref()
            .map(|a| String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned());
        let (status, body) = get(&app, "/metrics", authorization).await;
        // A huge header may be refused by the HTTP layer itself; either way nothing leaks.
        assert!(status == 401 || status == 400 || status == 431, "{shown:?}: {status}");
        assert!(!body.contains("hotline_"), "{shown:?}: {body}");
    }
}

#[tokio::test]
async fn the_metrics_parse_and_move_when_calls_are_made() {
    let app = app_with_metrics().await;
    let before = scrape(&app).await;
    for name in [
        "hotline_calls_in_ivr",
        "hotline_journal_backlog_records",
        "hotline_signature_failures_total",
        "hotline_rate_limited_requests_total",
        "hotline_database_up",
        "hotline_callers_waiting{language=\"ru\"}",
        "hotline_callers_waiting{language=\"ko\"}",
    ] {
        assert!(before.contains_key(name), "{name} missing: {before:?}");
    }
    assert_eq!(value(&before, "hotline_database_up"), 1.0);

    // Russian, surrender, alone, can talk: to the operators' queue, then hangs up.
    let transcript = app.call("1,1,1,1", Some("RU")).await;
    // And a call that stays in the IVR: the provider has only asked for the first menu.
    let open_sid = new_call_sid();
    app.post(
        "/voice/incoming",
        &[
            ("CallSid", &open_sid),
            ("From", CALLER),
            ("To", "+18005550100"),
            ("CallStatus", "ringing"),
        ],
    )
    .await;
    // And a forged request.
    let forged = app
        .post_as(
            "/voice/incoming",
            &[("CallSid", &new_call_sid()), ("From", CALLER)],
            Some("not-the-token"),
        )
        .await;
    assert_eq!(forged.status, 403);

    let after = scrape(&app).await;
    let count = |s: &Samples, route: &str| {
        value(s, &format!("hotline_webhook_duration_seconds_count{{route=\"{route}\"}}"))
    };
    // The forged request and the open call's first request are both timed.
    assert_eq!(count(&after, "incoming") - count(&before, "incoming"), 3.0);
    assert!(count(&after, "menu") > count(&before, "menu"));
    assert!(count(&after, "status") > count(&before, "status"));
    assert_eq!(
        value(&after, "hotline_signature_failures_total")
            - value(&before, "hotline_signature_failures_total"),
        1.0
    );
    assert!(
        value(&after, "hotline_database_write_duration_seconds_count")
            >= value(&before, "hotline_database_write_duration_seconds_count") + 5.0
    );
    assert_eq!(value(&after, "hotline_calls_in_ivr"), 1.0, "{after:?}");
    assert_eq!(sum(&after, "hotline_cases_today{") - sum(&before, "hotline_cases_today{"), 2.0);
    assert_eq!(value(&after, "hotline_cases_today{outcome=\"in-progress\"}"), 1.0);

    // Nothing about a caller: not the number, not a call id, not a case.
    let (_, text) = get(&app, "/metrics", Some(format!("Bearer {SCRAPER}").into_bytes())).await;
    for secret in [CALLER, "9161234567", transcript.call_sid.as_str(), open_sid.as_str(), "2026-0"]
    {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
}

#[tokio::test]
async fn operators_by_state_and_a_hostile_route_make_no_new_series() {
    let app = app_with_metrics().await;
    let (_, token) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let (status, body) =
        api::api(&app, "PUT", "/api/me/state", Some(&token), Some(json!({"state": "available"})))
            .await;
    assert_eq!(status, 200, "{body}");
    for route in ["../../etc/passwd", "x%00y", &"z".repeat(5000)] {
        app.post(&format!("/voice/{route}"), &[("CallSid", &new_call_sid())]).await;
    }
    let samples = scrape(&app).await;
    assert_eq!(value(&samples, "hotline_operators{state=\"available\"}"), 1.0, "{samples:?}");
    let routes: Vec<&String> = samples
        .keys()
        .filter(|k| k.starts_with("hotline_webhook_duration_seconds_count"))
        .collect();
    assert!(routes.iter().all(|k| !k.contains("passwd") && !k.contains("zzz")), "{routes:?}");
    let webhook_routes = ROUTE_GROUPS.iter().filter(|g| g.starts_with("/voice/")).count() + 1;
    assert_eq!(routes.len(), webhook_routes, "{routes:?}");
}

#[test]
fn a_token_hash_that_is_not_sha256_hex_is_a_config_error() {
    for bad in ["abc", &"g".repeat(64), &"a".repeat(65), SCRAPER] {
        let vars = [("HOTLINE_METRICS_TOKEN_SHA256".to_owned(), bad.to_owned())];
        let error = Config::load(None, vars).unwrap_err().to_string();
        assert!(error.contains("metrics.token_sha256 must be 64 hex digits"), "{bad}: {error}");
    }
    let good = [("HOTLINE_METRICS_TOKEN_SHA256".to_owned(), sha256_hex(SCRAPER))];
    assert_eq!(Config::load(None, good).unwrap().metrics.token_sha256, sha256_hex(SCRAPER));
}

/// The status classes requests are counted in.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

fn requests(group: &str, class: &str) -> String {
    format!("hotline_http_requests_total{{route=\"{group}\",status=\"{class}\"}}")
}

fn webhook_count(route: &str) -> String {
    format!("hotline_webhook_duration_seconds_count{{route=\"{route}\"}}")
}

#[tokio::test]
async fn a_fresh_server_has_every_route_group_and_state_at_zero() {
    let app = app_with_metrics().await;
    let samples = scrape(&app).await;
    for group in ROUTE_GROUPS.iter().chain([&OTHER]) {
        for class in CLASSES {
            let series = requests(group, class);
            assert_eq!(samples.get(&series), Some(&0.0), "{series}");
        }
    }
    let webhooks = ROUTE_GROUPS.iter().filter_map(|group| group.strip_prefix("/voice/"));
    for route in webhooks.chain([OTHER]) {
        assert_eq!(samples.get(&webhook_count(route)), Some(&0.0), "{route}");
    }
    for channel in Channel::ALL {
        let series = format!("hotline_cases_opened_total{{channel=\"{}\"}}", channel.as_str());
        assert_eq!(samples.get(&series), Some(&0.0), "{series}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(samples.get(&format!("hotline_build_info{{version=\"{version}\"}}")), Some(&1.0));
}

#[tokio::test]
async fn the_process_is_described_under_prometheus_standard_names() {
    let app = app_with_metrics().await;
    let samples = scrape(&app).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let started = value(&samples, "process_start_time_seconds");
    // The tests share one process, started before this server: within the last hour.
    assert!((0.0..3600.0).contains(&(now.as_secs_f64() - started)), "started at {started}");
    assert!(value(&samples, "process_cpu_seconds_total") > 0.0);
    assert!(value(&samples, "process_resident_memory_bytes") > f64::from(1 << 20));
    let open = value(&samples, "process_open_fds");
    // The server's database, journal and listener at least.
    assert!(open >= 4.0, "{open} open");
    if let Some(max) = samples.get("process_max_fds") {
        assert!(open <= *max, "{open} open of {max}");
    }
    // CPU time only grows.
    let later = scrape(&app).await;
    assert!(
        value(&later, "process_cpu_seconds_total") >= value(&samples, "process_cpu_seconds_total")
    );
}

#[tokio::test]
async fn requests_are_counted_under_their_group_and_no_series_appears_later() {
    let fake = FakeBotApi::start();
    let base = fake.base.clone();
    let app = spawn_app_with(move |config| {
        config.metrics.token_sha256 = sha256_hex(SCRAPER);
        config.telegram.enabled = true;
        config.telegram.api_base = base;
    })
    .await;
    let fresh = scrape(&app).await;
    let (_, token) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let before = scrape(&app).await;

    app.call("1,1,1,1", Some("RU")).await;
    let forged = app
        .post_as("/voice/incoming", &[("CallSid", &new_call_sid())], Some("not-the-token"))
        .await;
    assert_eq!(forged.status, 403);
    app.telegram(fake.update_text(1, 4242, "/start")).await;
    let (status, _) = api::api(&app, "GET", "/api/me", Some(&token), None).await;
    assert_eq!(status, 200);
    let (status, _) = api::api(&app, "GET", "/api/cases/2026-000001", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(get(&app, "/console/login", None).await.0, 200);
    assert_eq!(get(&app, "/console", None).await.0, 303);
    assert_eq!(get(&app, "/nowhere", None).await.0, 404);
    assert_eq!(get(&app, "/api/nowhere", None).await.0, 404);
    let after = scrape(&app).await;

    let moved = |series: String| value(&after, &series) - value(&before, &series);
    for (group, class, count) in [
        ("/api/me", "2xx", 1.0),
        ("/api/cases", "4xx", 1.0),
        ("/console/login", "2xx", 1.0),
        ("/console", "3xx", 1.0),
        ("/text/telegram", "2xx", 1.0),
        ("/voice/incoming", "2xx", 1.0),
        ("/voice/incoming", "4xx", 1.0),
        // The scrape before, counted once it was answered.
        ("/metrics", "2xx", 1.0),
        ("other", "4xx", 2.0),
        ("/api/users", "2xx", 0.0),
        ("/voice/incoming", "5xx", 0.0),
    ] {
        assert_eq!(moved(requests(group, class)), count, "{group} {class}");
    }
    let webhooks: f64 = ROUTE_GROUPS
        .iter()
        .filter(|group| group.starts_with("/voice"))
        .flat_map(|group| CLASSES.map(|class| moved(requests(group, class))))
        .sum();
    let timed: f64 = ROUTE_GROUPS
        .iter()
        .filter_map(|group| group.strip_prefix("/voice/"))
        .chain([OTHER])
        .map(|route| moved(webhook_count(route)))
        .sum();
    assert_eq!(webhooks, timed, "every webhook counted is timed, and only those");
    let opened =
        |channel: &str| moved(format!("hotline_cases_opened_total{{channel=\"{channel}\"}}"));
    assert_eq!(opened("voice"), 1.0, "the forged call opened nothing");
    assert_eq!(opened("telegram"), 1.0);
    assert_eq!(opened("sms"), 0.0);

    let appeared: Vec<&String> = after.keys().filter(|k| !fresh.contains_key(*k)).collect();
    assert!(appeared.is_empty(), "series not there from the start: {appeared:?}");
}

#[tokio::test]
async fn the_counter_of_cases_only_grows_where_the_gauge_of_today_does_not() {
    let app = app_with_metrics().await;
    let mut last = 0.0;
    for _ in 0..3 {
        app.call("1,1,1,1", Some("RU")).await;
        let samples = scrape(&app).await;
        let opened = value(&samples, "hotline_cases_opened_total{channel=\"voice\"}");
        assert_eq!(opened, last + 1.0);
        assert_eq!(sum(&samples, "hotline_cases_today{"), opened);
        last = opened;
    }
}

/// The paths of a router as axum's `Debug` shows them: the `paths` of its path router's node
/// (route ids to paths), before its fallback router's (which serves `/` and everything else
/// as a 404). axum has no other way to list them; should a new version show them otherwise,
/// the checks of the list fail rather than pass empty.
fn router_paths(router: &axum::Router) -> Vec<String> {
    let shown = format!("{router:?}");
    let (routes, _) = shown.split_once("fallback_router:").expect("a fallback router");
    let mut paths = Vec::new();
    for (at, _) in routes.match_indices("paths: {") {
        let mut chars = routes[at + "paths: {".len()..].chars();
        loop {
            match chars.next() {
                Some('}') | None => break,
                Some('"') => {
                    let mut path = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => path.extend(chars.next()),
                            Some('"') | None => break,
                            Some(c) => path.push(c),
                        }
                    }
                    paths.push(path);
                }
                Some(_) => {}
            }
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

/// The route groups docs/api.md lists under "Route groups": every code span of the section.
fn documented_groups() -> BTreeSet<String> {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    let (_, section) = docs.split_once("#### Route groups\n").expect("a Route groups section");
    let section = section.split("\n#").next().unwrap_or(section);
    let list = section.split_once("\n- ").map_or("", |(_, list)| list);
    list.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[tokio::test]
async fn the_route_groups_are_the_routers_and_the_documentations() {
    let (config, _dir) = common::test_config(|_| {});
    let server = Application::build(&config, common::test_secrets()).await.unwrap();
    let paths = router_paths(server.router());
    assert!(paths.len() > 50 && paths.contains(&"/voice/incoming".to_owned()), "{paths:?}");
    let mut groups = BTreeSet::new();
    for path in &paths {
        let group = route_group(path);
        assert_ne!(
            group, OTHER,
            "{path} is served but its group is not in operations::ROUTE_GROUPS (nor docs/api.md)"
        );
        groups.insert(group.to_owned());
    }
    let listed: BTreeSet<String> = ROUTE_GROUPS.iter().map(|g| (*g).to_owned()).collect();
    assert_eq!(listed.len(), ROUTE_GROUPS.len(), "a group listed twice");
    let unserved: Vec<&String> = listed.difference(&groups).collect();
    assert!(unserved.is_empty(), "groups of no route: {unserved:?}");
    let mut expected = listed;
    expected.insert(OTHER.to_owned());
    assert_eq!(documented_groups(), expected, "docs/api.md, Route groups");
}

/// A row of the metrics' table of docs/api.md: the metric, its type, and each label with its
/// values when the cell lists them all (`` `state` (`a`, `b`) ``).
struct Documented {
    name: String,
    kind: String,
    labels: Vec<(String, Option<Vec<String>>)>,
}

/// The rows of the metrics' table of docs/api.md.
fn documented_metrics() -> Vec<Documented> {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    let (_, section) = docs.split_once("### `GET /metrics`").unwrap();
    let (_, table) =
        section.split_once("| metric | type | labels | what |\n|---|---|---|---|\n").unwrap();
    let mut rows = Vec::new();
    for row in table.lines().take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let name = cells[0].trim_start_matches("| ").trim_matches('`').to_owned();
        let mut labels = Vec::new();
        let mut rest = cells[2];
        while let Some((_, after)) = rest.split_once('`') {
            let (label, after) = after.split_once('`').unwrap();
            rest = after;
            let mut values = None;
            if let Some(inner) = rest.strip_prefix(" (") {
                // To the matching parenthesis: a description may hold a link.
                let mut depth = 1;
                let end = inner
                    .char_indices()
                    .find(|(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .unwrap()
                    .0;
                let list = &inner[..end];
                let spans: Vec<String> =
                    list.split('`').skip(1).step_by(2).map(str::to_owned).collect();
                let bare = list
                    .split('`')
                    .step_by(2)
                    .all(|between| between.trim() == "," || between.is_empty());
                if bare {
                    values = Some(spans);
                }
                rest = &inner[end + 1..];
            }
            labels.push((label.to_owned(), values));
        }
        rows.push(Documented { name, kind: cells[1].to_owned(), labels });
    }
    rows
}

#[tokio::test]
async fn the_documented_metrics_and_states_are_those_served_from_the_start() {
    let app = app_with_metrics().await;
    let samples = scrape(&app).await;
    let rows = documented_metrics();
    assert!(rows.len() >= 20, "{} rows", rows.len());
    // The sample each row names, as written: a histogram's by its count.
    let sample_name = |name: &str, kind: &str| match kind {
        "histogram" => format!("{name}_count"),
        _ => name.to_owned(),
    };
    let documented: BTreeSet<String> =
        rows.iter().map(|row| sample_name(&row.name, &row.kind)).collect();
    let served: BTreeSet<String> = samples
        .keys()
        .map(|series| series.split('{').next().unwrap_or(series).to_owned())
        .filter(|name| !name.ends_with("_bucket") && !name.ends_with("_sum"))
        .collect();
    assert_eq!(served, documented, "docs/api.md's table and the served metrics");
    for Documented { name, kind, labels } in &rows {
        let name = sample_name(name, kind);
        let of_metric: Vec<&String> =
            samples.keys().filter(|k| k.split('{').next() == Some(name.as_str())).collect();
        for (label, values) in labels {
            let Some(values) = values else { continue };
            let shown: BTreeSet<String> = of_metric
                .iter()
                .filter_map(|series| series.split_once(&format!("{label}=\"")))
                .map(|(_, rest)| rest.split('"').next().unwrap_or("").to_owned())
                .collect();
            let values: BTreeSet<String> = values.iter().cloned().collect();
            assert_eq!(shown, values, "{name}'s {label}: served, documented");
        }
    }
}

#[tokio::test]
async fn only_a_path_a_webhook_route_matched_is_timed_as_a_webhook() {
    let app = app_with_metrics().await;
    let before = scrape(&app).await;
    // An unknown webhook (`/voice/{unknown}`, answered with TwiML) and paths no route matches.
    app.post("/voice/abc", &[("CallSid", &new_call_sid())]).await;
    for _ in 0..5 {
        app.post("/voice/abc/def", &[("CallSid", &new_call_sid())]).await;
    }
    let after = scrape(&app).await;
    let grew = |key: &str| value(&after, key) - value(&before, key);
    assert_eq!(grew(&webhook_count("other")), 1.0, "{after:?}");
    let webhooks: f64 = ROUTE_GROUPS
        .iter()
        .filter_map(|group| group.strip_prefix("/voice/"))
        .chain(["other"])
        .map(|route| grew(&webhook_count(route)))
        .sum();
    let voice_requests: f64 = ROUTE_GROUPS
        .iter()
        .filter(|group| group.starts_with("/voice"))
        .flat_map(|group| CLASSES.map(|class| requests(group, class)))
        .map(|key| grew(&key))
        .sum();
    assert_eq!(webhooks, voice_requests, "every timed webhook is a request to a webhook route");
    assert_eq!(grew(&requests("other", "4xx")), 5.0, "{after:?}");
}
