//! Operations: `GET /metrics` (Prometheus' text format, OpenMetrics flavour), `GET /healthz`
//! (the process answers) and `GET /readyz` (the database takes writes and the scripts are
//! loaded: send calls here).
//!
//! What `/metrics` shows is counts only — webhook latency per route, calls in the IVR,
//! callers waiting per language, operators per state, today's cases per outcome, database
//! write latency, the journal's backlog, signature failures, rate-limited requests — never a
//! number, a call id or a case. Counts still say how busy the line is and with whom, which is
//! worth hiding from an adversary, so the route is off unless `metrics.token_sha256` is set,
//! and then answers only a scraper presenting that token as a bearer token.
//!
//! Webhook latencies, signature failures (`403` from `/voice/…`) and rate-limited requests
//! (any `429`) are counted by [`track`], a layer around the whole application, so the
//! handlers know nothing of metrics. The gauges are read from the database at each scrape
//! ([`Storage::gauges`]), and so are the operator line's PIN locks ([`Storage::pin_locks`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration as Span, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};

use crate::scripts::ScriptSet;
use crate::storage::{Recorder, Storage, WriteObserver};

/// The content type of the exposition format `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Webhook and write latency buckets, in seconds: fine below 10 ms, where the line should be,
/// coarse up to the 5 s webhook deadline.
const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// The webhook routes given their own latency series; any other is `other`, so a stranger's
/// requests cannot create series without end.
const ROUTES: [&str; 14] = [
    "incoming",
    "status",
    "fallback",
    "language",
    "menu",
    "continue",
    "queue",
    "recorded",
    "wait",
    "wait-key",
    "recording",
    "callback",
    "callback-confirm",
    "operator",
];
/// A call started longer ago without an end is a lost status callback, not a call in the IVR.
const LONGEST_CALL_HOURS: i64 = 4;
/// The longest `/readyz` waits for the database's write lock.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// One label: name and value.
type Labels = Vec<(&'static str, String)>;

/// The server's metrics. Counters and histograms are updated as requests go by; gauges are
/// refreshed from the database at each scrape.
pub struct Metrics {
    registry: Registry,
    webhook_latency: Family<Labels, Histogram, fn() -> Histogram>,
    write_latency: Histogram,
    signature_failures: Counter,
    rate_limited: Counter,
    in_ivr: Gauge,
    waiting: Family<Labels, Gauge>,
    operators: Family<Labels, Gauge>,
    cases_today: Family<Labels, Gauge>,
    journal_backlog: Gauge,
    /// Bytes of the journal's reserve holding records: the alarm is at half of the next.
    journal_reserve_used: Gauge,
    /// Bytes the journal owns on disk.
    journal_reserve: Gauge,
    database_up: Gauge,
    /// Operator-line locks of the moment, per kind of key: someone may be guessing PINs.
    pin_locks: Family<Labels, Gauge>,
    /// One scrape at a time: a scrape clears and refills the gauge families.
    scraping: tokio::sync::Mutex<()>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hotline");
        let webhook_latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "webhook_duration_seconds",
            "Time to answer a provider webhook, per route",
            webhook_latency.clone(),
        );
        let write_latency = latency_histogram();
        registry.register(
            "database_write_duration_seconds",
            "Time to write one call record to the database (slower than the write deadline: journaled)",
            write_latency.clone(),
        );
        let signature_failures = Counter::default();
        registry.register(
            "signature_failures",
            "Webhook requests refused for a missing or wrong X-Twilio-Signature",
            signature_failures.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused by a rate limit (answered 429)",
            rate_limited.clone(),
        );
        let in_ivr = Gauge::default();
        registry.register(
            "calls_in_ivr",
            "Calls in progress that have not reached an operator's queue",
            in_ivr.clone(),
        );
        let waiting = Family::<Labels, Gauge>::default();
        registry.register(
            "callers_waiting",
            "Callers waiting for an operator, per language queue",
            waiting.clone(),
        );
        let operators = Family::<Labels, Gauge>::default();
        registry.register("operators", "Operators per presence state", operators.clone());
        let cases_today = Family::<Labels, Gauge>::default();
        registry.register(
            "cases_today",
            "Cases opened since midnight UTC, per outcome",
            cases_today.clone(),
        );
        let journal_backlog = Gauge::default();
        registry.register(
            "journal_backlog_records",
            "Records in the journal waiting for the database",
            journal_backlog.clone(),
        );
        let journal_reserve_used = Gauge::default();
        registry.register(
            "journal_reserve_used_bytes",
            "Bytes of the journal's reserve holding records; /readyz fails past half of it",
            journal_reserve_used.clone(),
        );
        let journal_reserve = Gauge::default();
        registry.register(
            "journal_reserve_bytes",
            "Bytes the journal owns on disk (database.journal_reserve_mb, or less when the disk \
             had no room at start)",
            journal_reserve.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "database_up",
            "1 when the last scrape could read the gauges from the database, else 0",
            database_up.clone(),
        );
        let pin_locks = Family::<Labels, Gauge>::default();
        registry.register(
            "pin_locks",
            "Operator IDs and calling numbers locked out of the operator line by wrong PINs now, \
             per kind (operator-id, number, withheld)",
            pin_locks.clone(),
        );
        Metrics {
            registry,
            pin_locks,
            webhook_latency,
            write_latency,
            signature_failures,
            rate_limited,
            in_ivr,
            waiting,
            operators,
            cases_today,
            journal_backlog,
            journal_reserve_used,
            journal_reserve,
            database_up,
            scraping: tokio::sync::Mutex::new(()),
        }
    }

    /// The counter of rate-limited requests, for a limit that answers outside [`track`].
    pub fn rate_limited(&self) -> &Counter {
        &self.rate_limited
    }

    /// What the [`Recorder`] calls with the time of each database write.
    pub fn write_observer(&self) -> WriteObserver {
        let histogram = self.write_latency.clone();
        Arc::new(move |took: Duration| histogram.observe(took.as_secs_f64()))
    }

    /// Refreshes the gauges and writes every metric in the exposition format.
    async fn scrape(&self, state: &MetricsState) -> String {
        let _one_at_a_time = self.scraping.lock().await;
        let now = Utc::now();
        let midnight = now.date_naive().and_hms_opt(0, 0, 0).map_or(now, |t| t.and_utc());
        let since = now - Span::hours(LONGEST_CALL_HOURS);
        match state.storage.gauges(midnight, since).await {
            Ok(gauges) => {
                self.database_up.set(1);
                self.in_ivr.set(i64::try_from(gauges.in_ivr).unwrap_or(i64::MAX));
                // Every language has a series, at zero when nobody waits, so a graph does not
                // break off when a queue empties.
                self.waiting.clear();
                for language in state.scripts.scripts.keys() {
                    self.waiting
                        .get_or_create(&vec![("language", language.as_str().to_owned())])
                        .set(0);
                }
                for (family, counts, label) in [
                    (&self.waiting, &gauges.waiting, "language"),
                    (&self.operators, &gauges.operators, "state"),
                    (&self.cases_today, &gauges.today, "outcome"),
                ] {
                    if label != "language" {
                        family.clear();
                    }
                    for (value, count) in counts {
                        family
                            .get_or_create(&vec![(label, value.clone())])
                            .set(i64::try_from(*count).unwrap_or(i64::MAX));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: the gauges could not be read from the database");
                self.database_up.set(0);
            }
        }
        match state.storage.pin_locks(now).await {
            Ok(locks) => {
                // Every kind has its series, at zero without a lock, so an alert can watch it.
                for kind in PIN_LOCK_KINDS {
                    let count = locks.iter().filter(|lock| lock.key.kind() == kind);
                    let count = i64::try_from(count.count()).unwrap_or(i64::MAX);
                    self.pin_locks.get_or_create(&vec![("kind", kind.to_owned())]).set(count);
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: the PIN locks could not be read"),
        }
        if let Some(pending) = state.recorder.pending_now() {
            self.journal_backlog.set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
        if let Some(reserve) = state.recorder.reserve_now() {
            self.journal_reserve_used.set(i64::try_from(reserve.used).unwrap_or(i64::MAX));
            self.journal_reserve.set(i64::try_from(reserve.capacity).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            // Writing to a String cannot fail; an empty answer beats a panic all the same.
            text.clear();
        }
        text
    }
}

/// The kinds of operator-line locks, as the `kind` label of `hotline_pin_locks`.
const PIN_LOCK_KINDS: [&str; 3] = ["operator-id", "number", "withheld"];

/// What the operations routes need.
pub struct MetricsState {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// For the gauges and the readiness check.
    pub storage: Storage,
    /// For the journal's backlog.
    pub recorder: Recorder,
    /// The loaded scripts (their languages label the queues).
    pub scripts: Arc<ScriptSet>,
    /// SHA-256 of the scraper's token, lowercase hex; empty: `/metrics` is off.
    pub token_sha256: String,
}

/// Adds `/metrics`, `/healthz` and `/readyz` to `router`, and wraps it all in [`track`].
pub fn instrument(router: Router, state: Arc<MetricsState>) -> Router {
    let metrics = Arc::clone(&state.metrics);
    router
        .merge(
            Router::new()
                .route("/metrics", get(scrape))
                .route("/healthz", get(|| async { "ok\n" }))
                .route("/readyz", get(ready))
                .with_state(state),
        )
        .layer(middleware::from_fn_with_state(metrics, track))
}

/// Times webhooks per route and counts signature failures and rate-limited requests.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request.uri().path().strip_prefix("/voice/").map(route_label);
    let started = Instant::now();
    let response = next.run(request).await;
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        metrics.rate_limited.inc();
    }
    if let Some(route) = route {
        if response.status() == StatusCode::FORBIDDEN {
            metrics.signature_failures.inc();
        }
        metrics
            .webhook_latency
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

/// The label of a webhook route: one of [`ROUTES`] or `other`.
fn route_label(rest: &str) -> &'static str {
    let first = rest.split('/').next().unwrap_or("");
    ROUTES.iter().find(|route| **route == first).copied().unwrap_or("other")
}

/// `GET /metrics`: for the holder of the token only.
async fn scrape(State(state): State<Arc<MetricsState>>, headers: HeaderMap) -> Response {
    if state.token_sha256.is_empty() {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| hex(&Sha256::digest(token.trim().as_bytes())));
    // Hashes are compared, not tokens: how long a comparison takes says nothing an attacker
    // could use to find the token.
    if presented.as_deref() != Some(state.token_sha256.to_ascii_lowercase().as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response();
    }
    let text = state.metrics.scrape(&state).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// `GET /readyz`: 200 when the instance can take writes now (a real write commits, and the
/// journal's reserve is whole and at most half used) and the scripts are loaded, else 503
/// with the reason. A load balancer takes a 503 instance out of rotation for new calls; see
/// docs/resilience.md.
async fn ready(State(state): State<Arc<MetricsState>>) -> Response {
    if state.scripts.scripts.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: no scripts loaded\n").into_response();
    }
    // `None`: a record is being journaled right now; the next probe looks again.
    if let Some(reserve) = state.recorder.reserve_now()
        && !reserve.healthy()
    {
        let reason = if reserve.capacity < reserve.wanted {
            "the disk had no room for the journal's whole reserve"
        } else {
            "the journal's reserve is more than half used"
        };
        tracing::warn!(
            used_bytes = reserve.used,
            reserve_bytes = reserve.capacity,
            wanted_bytes = reserve.wanted,
            "readyz: {reason}"
        );
        return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response();
    }
    match tokio::time::timeout(READY_TIMEOUT, state.storage.check_writable(chrono::Utc::now()))
        .await
    {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readyz: the database does not take writes");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the database does not take writes\n")
                .into_response()
        }
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the database is busy\n").into_response()
        }
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_a_closed_set() {
        assert_eq!(route_label("menu"), "menu");
        assert_eq!(route_label("operator/status"), "operator");
        assert_eq!(route_label("x".repeat(10_000).as_str()), "other");
        assert_eq!(route_label(""), "other");
    }

    #[tokio::test]
    async fn a_429_anywhere_is_rate_limited_and_a_403_from_a_webhook_a_signature_failure() {
        let metrics = Arc::new(Metrics::new());
        let router = Router::new()
            .route("/api/x", get(|| async { StatusCode::TOO_MANY_REQUESTS }))
            .route("/voice/menu", get(|| async { StatusCode::FORBIDDEN }))
            .route("/api/y", get(|| async { StatusCode::FORBIDDEN }))
            .layer(middleware::from_fn_with_state(Arc::clone(&metrics), track));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        for path in ["/api/x", "/api/x", "/voice/menu", "/api/y"] {
            let url = format!("{base}{path}");
            let status = tokio::task::spawn_blocking(move || {
                let agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .proxy(None)
                    .build()
                    .new_agent();
                agent.get(&url).call().map(|r| r.status().as_u16())
            })
            .await
            .unwrap()
            .unwrap();
            assert!(status == 429 || status == 403);
        }
        assert_eq!(metrics.rate_limited().get(), 2);
        assert_eq!(metrics.signature_failures.get(), 1, "only /voice/ 403s are signatures");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
        assert!(
            text.contains("hotline_webhook_duration_seconds_count{route=\"menu\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("route=\"other\""), "/api is not a webhook: {text}");
    }

    #[test]
    fn a_fresh_registry_encodes_every_metric() {
        let metrics = Metrics::new();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
        for name in ["hotline_signature_failures_total", "hotline_journal_backlog_records"] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
