//! Structured logs with `tracing`: readable text for people, JSON lines for collectors.
//!
//! Nothing logged anywhere in the crate may contain a caller's number: webhooks log the
//! CallSid (the provider's opaque id) and the caller's keyed hash at most. HTTP requests are
//! logged by their method and path alone ([`request_span`]), never their query, headers or
//! body: a webhook sent with GET carries the caller's number in its query, our own URLs carry
//! a sealed callback number, and headers carry bearer tokens and session cookies.

use std::io::IsTerminal;

use axum::extract::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over the configured level.
/// Calling it twice (as tests may) keeps the first subscriber.
///
/// Text is coloured only on a terminal: journald, container runtimes and files keep escape
/// codes as they are, and they make logs hard to read and search.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The span of one HTTP request (`TraceLayer`'s, at debug level): its method and path, and
/// nothing else of the request, whatever the level.
pub fn request_span(request: &Request) -> Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}
