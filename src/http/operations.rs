//! The operations routes: `GET /metrics` (for the scraper holding the token), `GET /healthz`
//! (the process answers) and `GET /readyz` (the instance can take calls), and [`track`], the
//! layer around the whole application that times webhooks and counts signature failures and
//! rate-limited requests, so the handlers know nothing of metrics.
//!
//! What the metrics say and when the instance is ready are the use cases' answers
//! ([`App::render_metrics`], [`App::readiness`]); this file keeps only HTTP. `/metrics` is off
//! (`404`) unless `metrics.token_sha256` is set: even counts say how busy the line is and with
//! whom, which is worth hiding from an adversary.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::app::metrics::Metrics;

/// The content type of the exposition format `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The webhook routes given their own latency series; any other is `other`, so a stranger's
/// requests cannot create series without end.
const ROUTES: [&str; 15] = [
    "incoming",
    "status",
    "fallback",
    "language",
    "menu",
    "continue",
    "queue",
    "recorded",
    "answered",
    "wait",
    "wait-key",
    "recording",
    "callback",
    "callback-confirm",
    "operator",
];

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

/// Times webhooks per route and counts signature failures (a `403` from `/voice/…`) and
/// rate-limited requests (any `429`).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request.uri().path().strip_prefix("/voice/").map(route_label);
    let started = Instant::now();
    let response = next.run(request).await;
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        metrics.rate_limited().inc();
    }
    if let Some(route) = route {
        if response.status() == StatusCode::FORBIDDEN {
            metrics.signature_failures().inc();
        }
        metrics.observe_webhook(route, started.elapsed());
    }
    response
}

/// The label of a webhook route: one of [`ROUTES`] or `other`.
fn route_label(rest: &str) -> &'static str {
    let first = rest.split('/').next().unwrap_or("");
    ROUTES.iter().find(|route| **route == first).copied().unwrap_or("other")
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
        assert_eq!(metrics.signature_failures().get(), 1, "only /voice/ 403s are signatures");
        let text = metrics.encode();
        assert!(
            text.contains("hotline_webhook_duration_seconds_count{route=\"menu\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("route=\"other\""), "/api is not a webhook: {text}");
    }
}
