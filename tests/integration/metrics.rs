//! Operations endpoints: `/healthz`, `/readyz` and `/metrics`, as a monitoring system and an
//! attacker see them. Real server, signed webhooks.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::api::{self};
use common::{new_call_sid, spawn_app, spawn_app_with};
use hotline::config::Config;
use hotline::domain::people::Role;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The scraper's token in these tests.
const SCRAPER: &str = "scrape-token-7f3a9c1e5b2d4f6a8c0e";
/// The caller's number: it must never appear in the metrics.
const CALLER: &str = "+79161234567";

fn sha256_hex(text: &str) -> String {
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

async fn scrape(app: &common::TestApp) -> Samples {
    let (status, body) = get(app, "/metrics", Some(format!("Bearer {SCRAPER}").into_bytes())).await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

/// Samples by `name{labels}`, as written.
type Samples = BTreeMap<String, f64>;

/// Parses the exposition format strictly: every line is a `# HELP`, `# TYPE` or `# UNIT`
/// comment, a sample `name{labels} value`, or the final `# EOF`. Panics on anything else.
fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    let lines = text.lines();
    let mut ended = false;
    for line in lines {
        assert!(!ended, "text after # EOF: {line:?}");
        if line == "# EOF" {
            ended = true;
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap_or("");
            assert!(["HELP", "TYPE", "UNIT"].contains(&kind), "bad comment {line:?}");
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
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line:?}");
            for label in series[name_end + 1..series.len() - 1].split(',').filter(|l| !l.is_empty())
            {
                let (key, value) = label.split_once('=').unwrap_or_else(|| panic!("{line:?}"));
                assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line:?}");
                assert!(value.starts_with('"') && value.ends_with('"'), "{line:?}");
            }
        }
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(series.to_owned(), value);
    }
    assert!(ended, "no # EOF at the end");
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
    // Room for the database, its journal and a write-ahead log at its most (16 MiB).
    let disk = common::SmallDisk::mount(24);
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
    assert_eq!(body, "not ready: the database's disk is nearly full: 0 MiB free, 16 MiB needed\n");
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
    assert!(routes.len() <= 11, "{routes:?}");
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
