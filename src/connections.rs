//! Serving HTTP connections, with the limits that keep slow or numerous clients from
//! exhausting the server: at most `max_connections` at once, request headers complete within
//! `header_read_timeout` and under `max_header_bytes`, a whole request within
//! `request_timeout`, an idle connection closed once no request has begun within
//! `header_read_timeout`, and a graceful stop that lets requests in flight finish.
//!
//! `axum::serve` exposes none of hyper's connection settings, so the accept loop is here,
//! on hyper's own HTTP/1 connection builder. A "slowloris" client, which opens connections
//! and sends its headers a byte at a time, holds a connection for at most the header timeout;
//! with many such clients, new connections wait for a free slot in the listen backlog rather
//! than open file descriptors without bound.
//!
//! Connections are kept alive between requests: a new TCP connection per webhook costs the
//! server more than the webhook itself. hyper starts the header timer as soon as it waits for
//! the next request's head, so an idle connection lasts at most `header_read_timeout` after its
//! last answer, and each request must finish within `request_timeout` of its start.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// How long the accept loop pauses after a failed accept (out of file descriptors, usually),
/// instead of spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The limits on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time a client has to send its request's headers, counted from the connection.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers); larger gets `431`.
    pub max_header_bytes: usize,
    /// Longest time one request may take, from its head to the end of its answer; a
    /// connection still busy with a request that old is closed.
    pub request_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the requests in flight to finish (the caller bounds that wait).
///
/// Each request carries the peer's address as [`ConnectInfo`], for the per-address limits.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stopping, _) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed; if it were, stop serving rather than spin.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // When the connection's latest request began, for its deadline.
        let (began, mut latest) = watch::channel(Instant::now());
        let began = Arc::new(began);
        let service = router.clone().map_request(move |mut request: Request<Incoming>| {
            began.send_replace(Instant::now());
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let (http, mut stopping) = (http.clone(), stopping.subscribe());
        tokio::spawn(async move {
            let connection =
                http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut connection = std::pin::pin!(connection);
            let served = async {
                tokio::select! {
                    result = connection.as_mut() => result,
                    _ = stopping.changed() => {
                        // Finish the request in flight, take no other.
                        connection.as_mut().graceful_shutdown();
                        connection.as_mut().await
                    }
                }
            };
            // Ends when the latest request has run for `request_timeout`; a request begun
            // since the last look moves the deadline to its own start.
            let overdue = async {
                loop {
                    let deadline = *latest.borrow_and_update() + limits.request_timeout;
                    tokio::time::sleep_until(deadline).await;
                    if !latest.has_changed().unwrap_or(false) {
                        break;
                    }
                }
            };
            tokio::select! {
                served = served => match served {
                    Ok(()) => {}
                    // The client's doing: a reset, a header timeout, a malformed request.
                    Err(error) => tracing::debug!(%error, %peer, "connection ended with an error"),
                },
                () = overdue => {
                    tracing::info!(%peer, "a request outlived the request timeout; connection closed")
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds a slot until it ends: all slots back means all done.
    let _all = slots.acquire_many(u32::try_from(max).unwrap_or(u32::MAX)).await;
    Ok(())
}
