//! The operations routes: `GET /metrics` (for the scraper holding the token), `GET /healthz`
//! (the process answers) and `GET /readyz` (the instance can take calls), and [`track`], the
//! layer around the whole application that counts requests per route group, times webhooks
//! and counts signature failures and rate-limited requests, so the handlers know nothing of
//! metrics.
//!
//! A request is counted under its route's group, [`ROUTE_GROUPS`]: the first two segments of
//! the route it matched (`/api/cases` for `/api/cases/{number}/notes`), or `other`. Groups,
//! not paths, so a path's case number never becomes a label; a closed set, so a stranger's
//! requests cannot create series without end. A test holds the list to the router and to
//! docs/api.md.
//!
//! What the metrics say and when the instance is ready are the use cases' answers
//! ([`App::render_metrics`], [`App::readiness`]); this file keeps only HTTP. `/metrics` is off
//! (`404`) unless `metrics.token_sha256` is set: even counts say how busy the line is and with
//! whom, which is worth hiding from an adversary.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::app::metrics::Metrics;

/// The content type of the exposition format `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Every route group a request is counted under besides [`OTHER`]: the first two segments of
/// a route's path, its second cut at a `.` (`/api/cases.csv` is `/api/cases`), or the first
/// alone when the second is a parameter (`/voice/{unknown}` is `/voice`). The `/voice/…`
/// groups name the webhooks' latency series too, without `/voice/`.
pub const ROUTE_GROUPS: [&str; 49] = [
    // The provider's webhooks (`http/webhooks`); `/voice` is an unknown one.
    "/voice",
    "/voice/incoming",
    "/voice/status",
    "/voice/fallback",
    "/voice/language",
    "/voice/menu",
    "/voice/continue",
    "/voice/queue",
    "/voice/wait",
    "/voice/wait-key",
    "/voice/recorded",
    "/voice/recording",
    "/voice/answered",
    "/voice/callback",
    "/voice/callback-confirm",
    "/voice/operator",
    // The text channels' webhooks (`http/text`).
    "/text/telegram",
    "/text/sms",
    // The JSON API (`http/api`).
    "/api/me",
    "/api/users",
    "/api/pin-locks",
    "/api/audit",
    "/api/queues",
    "/api/operators",
    "/api/cases",
    "/api/blocklist",
    "/api/followups",
    "/api/scripts",
    "/api/openapi",
    // The console (`http/console`).
    "/console",
    "/console/settings",
    "/console/login",
    "/console/logout",
    "/console/language",
    "/console/operator",
    "/console/chats",
    "/console/followups",
    "/console/scripts",
    "/console/people",
    "/console/blocklist",
    "/console/audit",
    "/console/cases",
    "/console/wallboard",
    "/console/assets",
    // Recorded prompts, and the server's own.
    "/audio",
    "/health",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// The group of a request that matched no route, or a route of no group.
pub const OTHER: &str = "other";

/// The webhook routes' prefix, which their latency labels leave out.
const VOICE: &str = "/voice/";

/// The group of a route's path (as the router has it, `/api/cases/{number}`): one of
/// [`ROUTE_GROUPS`] or [`OTHER`].
pub fn route_group(path: &str) -> &'static str {
    let mut segments = path.split('/').skip(1);
    let first = segments.next().unwrap_or("");
    let second = segments.next().map(|s| s.split('.').next().unwrap_or(s));
    let length = match second {
        Some(second) if !second.is_empty() && !second.starts_with('{') => {
            first.len() + second.len() + 2
        }
        _ => first.len() + 1,
    };
    let key = path.get(..length).unwrap_or(path);
    ROUTE_GROUPS.iter().find(|group| **group == key).copied().unwrap_or(OTHER)
}

/// The label of a webhook's latency series: its group without `/voice/`, or `other`.
fn webhook_label(group: &'static str) -> &'static str {
    group.strip_prefix(VOICE).unwrap_or(OTHER)
}

/// What the operations routes need.
struct Operations {
    /// The hotline, which answers what the metrics say and whether it is ready.
    app: App,
    /// SHA-256 of the scraper's token, lowercase hex; empty: `/metrics` is off.
    token_sha256: String,
}

/// Adds `/metrics`, `/healthz` and `/readyz` to `router`, and wraps it all in [`track`].
/// `token_sha256` is `metrics.token_sha256` of the configuration.
pub fn instrument(router: Router, app: App, token_sha256: String) -> Router {
    let metrics = Arc::clone(app.metrics());
    metrics.expect_routes(&ROUTE_GROUPS);
    metrics.expect_routes(&[OTHER]);
    let webhooks = ROUTE_GROUPS.iter().filter_map(|group| group.strip_prefix(VOICE));
    metrics.expect_webhooks(&webhooks.chain([OTHER]).collect::<Vec<_>>());
    router
        .merge(
            Router::new()
                .route("/metrics", get(scrape))
                .route("/healthz", get(|| async { "ok\n" }))
                .route("/readyz", get(ready))
                .with_state(Arc::new(Operations { app, token_sha256 })),
        )
        .layer(middleware::from_fn_with_state(metrics, track))
}

/// Counts every request under its route group and status class, times webhooks per route,
/// and counts signature failures (a `403` from `/voice/…`) and rate-limited requests (any
/// `429`).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let group = matched.as_ref().map_or(OTHER, |matched| route_group(matched.as_str()));
    // Only a route the router matched is a webhook: `/voice/a/b` matches none and is counted
    // under `other` with every unknown path, not timed as a webhook the provider called.
    let webhook = matched.is_some_and(|matched| matched.as_str().starts_with(VOICE));
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    metrics.count_request(group, status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS {
        metrics.rate_limited().inc();
    }
    if webhook {
        if status == StatusCode::FORBIDDEN {
            metrics.signature_failures().inc();
        }
        metrics.observe_webhook(webhook_label(group), started.elapsed());
    }
    response
}

/// `GET /metrics`: for the holder of the token only.
async fn scrape(State(operations): State<Arc<Operations>>, headers: HeaderMap) -> Response {
    if operations.token_sha256.is_empty() {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| hex(&Sha256::digest(token.trim().as_bytes())));
    // Hashes are compared, not tokens: how long a comparison takes says nothing an attacker
    // could use to find the token.
    if presented.as_deref() != Some(operations.token_sha256.to_ascii_lowercase().as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response();
    }
    let text = operations.app.render_metrics().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// `GET /readyz`: 200 when the instance can take calls now, else 503 with the reason. A load
/// balancer takes a 503 instance out of rotation for new calls; see docs/resilience.md.
async fn ready(State(operations): State<Arc<Operations>>) -> Response {
    match operations.app.readiness().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response()
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
    fn a_route_is_counted_under_its_group_or_other() {
        let cases = [
            ("/voice/menu", "/voice/menu"),
            ("/voice/operator/status", "/voice/operator"),
            ("/voice/operator/{unknown}", "/voice/operator"),
            ("/voice/{unknown}", "/voice"),
            ("/api/cases/{number}/notes", "/api/cases"),
            ("/api/cases.csv", "/api/cases"),
            ("/console", "/console"),
            ("/console/", "/console"),
            ("/console/wallboard/figures.json", "/console/wallboard"),
            ("/audio/{*rest}", "/audio"),
            ("/metrics", "/metrics"),
            // Not groups: near misses, empty, huge and hostile paths.
            ("/api/casesx", OTHER),
            ("/api", OTHER),
            ("/metrics/x", OTHER),
            ("", OTHER),
            ("/", OTHER),
            ("//", OTHER),
            ("voice/menu", OTHER),
            ("/voice/../api/cases", "/voice"),
            ("/voice/men\u{fc}", OTHER),
            ("/\u{fc}\u{fc}/\u{fc}.x", OTHER),
        ];
        for (path, group) in cases {
            assert_eq!(route_group(path), group, "{path:?}");
        }
        let huge = format!("/api/{}", "x".repeat(100_000));
        assert_eq!(route_group(&huge), OTHER);
        assert_eq!(webhook_label("/voice/operator"), "operator");
        assert_eq!(webhook_label("/voice"), OTHER);
        assert_eq!(webhook_label("/api/cases"), OTHER);
    }

    #[tokio::test]
    async fn a_429_anywhere_is_rate_limited_and_a_403_from_a_webhook_a_signature_failure() {
        let metrics = Arc::new(Metrics::new());
        let router = Router::new()
            .route("/api/x", get(|| async { StatusCode::TOO_MANY_REQUESTS }))
            .route("/voice/menu", get(|| async { StatusCode::FORBIDDEN }))
            .route("/voice/{unknown}", get(|| async { StatusCode::FORBIDDEN }))
            .route("/api/y", get(|| async { StatusCode::FORBIDDEN }))
            .layer(middleware::from_fn_with_state(Arc::clone(&metrics), track));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        for path in ["/api/x", "/api/x", "/voice/menu", "/api/y", "/voice/nope", "/voice/a/b"] {
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
            assert!(matches!(status, 429 | 403 | 404), "{path}: {status}");
        }
        assert_eq!(metrics.rate_limited().get(), 2);
        assert_eq!(metrics.signature_failures().get(), 2, "only webhooks' 403s are signatures");
        let text = metrics.encode();
        assert!(
            text.contains("hotline_webhook_duration_seconds_count{route=\"menu\"} 1\n"),
            "{text}"
        );
        // The unknown webhook is timed under `other`; /api and the path no route matched
        // (`/voice/a/b`) are not webhooks.
        assert!(
            text.contains("hotline_webhook_duration_seconds_count{route=\"other\"} 1\n"),
            "{text}"
        );
        // Every request is counted, under its group: these /api routes are of none, and
        // neither is a path no route matched.
        for (series, count) in [
            ("{route=\"/voice/menu\",status=\"4xx\"}", 1),
            ("{route=\"/voice\",status=\"4xx\"}", 1),
            ("{route=\"other\",status=\"4xx\"}", 4),
        ] {
            let line = format!("hotline_http_requests_total{series} {count}\n");
            assert!(text.contains(&line), "{line} missing: {text}");
        }
    }
}
