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
//!
//! One address may hold at most `max_per_address` of the slots: a flood of slow clients from
//! one machine cannot take them all, and a caller's provider elsewhere still gets one. A
//! connection over its address's cap is closed as soon as it is accepted. An IPv6 client is
//! counted by its /64 network, which one subscriber usually holds whole. The trusted proxy's
//! address is not capped: behind it every connection comes from it, so the cap per client is
//! then the proxy's job. Nor are the machine's own addresses, 127.0.0.1 and ::1, for the same
//! reason as the flood limits (`limits.rs`): a local proxy left undeclared would otherwise
//! have every caller share one cap, and calls would be turned away.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// Connections one address (an IPv6 /64) may have open at once.
    pub max_per_address: usize,
    /// An address exempt from `max_per_address`: the trusted reverse proxy, which carries
    /// every client's connections.
    pub uncapped: Option<IpAddr>,
}

/// What a client is counted as by every per-address limit (connections here, refusals and
/// logins in `limits.rs` and the console): an IPv4 address, or an IPv6 address's /64
/// network, which one subscriber usually holds whole (else one client could count as
/// billions). An IPv4-mapped IPv6 address is its IPv4 address.
pub fn client_network(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Whether `address` is the machine's own, 127.0.0.1 or ::1 (other loopback addresses are
/// ordinary clients). The per-address limits leave it out when it is the connection's peer.
pub fn is_this_machine(address: IpAddr) -> bool {
    let address = address.to_canonical();
    address == IpAddr::from(Ipv4Addr::LOCALHOST) || address == IpAddr::from(Ipv6Addr::LOCALHOST)
}

/// The connections open per address, for [`ConnectionLimits::max_per_address`]. An address
/// has an entry only while it has connections, so the table never holds more entries than
/// there are slots.
struct PerAddress {
    max: usize,
    uncapped: Option<IpAddr>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address; uncounted when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    address: Option<IpAddr>,
}

impl PerAddress {
    /// Counts a connection from `peer`, or `None` if its address is at its cap.
    fn admit(table: &Arc<PerAddress>, peer: IpAddr) -> Option<AddressSlot> {
        let peer = peer.to_canonical();
        if is_this_machine(peer)
            || table.uncapped.is_some_and(|uncapped| uncapped.to_canonical() == peer)
        {
            return Some(AddressSlot { table: Arc::clone(table), address: None });
        }
        let address = client_network(peer);
        // A counter update: nothing in it can panic, so a poisoned lock still holds counts.
        let mut open = table.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= table.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot { table: Arc::clone(table), address: Some(address) })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(address) = self.address else { return };
        let mut open = self.table.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&address);
            }
        }
    }
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
    let per_address = Arc::new(PerAddress {
        max: limits.max_per_address.max(1),
        uncapped: limits.uncapped,
        open: Mutex::new(HashMap::new()),
    });
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
        let Some(address_slot) = PerAddress::admit(&per_address, peer.ip()) else {
            // Closed unanswered: reading a request would already spend what the cap saves.
            tracing::debug!(%peer, "an address over its connection cap; connection closed");
            drop(stream);
            continue;
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
            drop(address_slot);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds a slot until it ends: all slots back means all done.
    let _all = slots.acquire_many(u32::try_from(max).unwrap_or(u32::MAX)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max: usize, uncapped: Option<&str>) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            max,
            uncapped: uncapped.map(|a| a.parse().unwrap()),
            open: Mutex::new(HashMap::new()),
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_cap_and_a_slot_back_when_a_connection_ends() {
        let table = table(2, None);
        let first = PerAddress::admit(&table, ip("203.0.113.7")).unwrap();
        let _second = PerAddress::admit(&table, ip("203.0.113.7")).unwrap();
        assert!(PerAddress::admit(&table, ip("203.0.113.7")).is_none());
        // Another address is not affected, nor the same one written as IPv4-mapped IPv6.
        assert!(PerAddress::admit(&table, ip("203.0.113.8")).is_some());
        assert!(PerAddress::admit(&table, ip("::ffff:203.0.113.7")).is_none());
        drop(first);
        assert!(PerAddress::admit(&table, ip("203.0.113.7")).is_some());
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let table = table(1, None);
        let _held = PerAddress::admit(&table, ip("2001:db8:1:2::1")).unwrap();
        assert!(PerAddress::admit(&table, ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(PerAddress::admit(&table, ip("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn the_proxy_and_the_machine_itself_are_not_capped() {
        let table = table(1, Some("10.0.0.2"));
        let held: Vec<_> = (0..5)
            .flat_map(|_| ["10.0.0.2", "127.0.0.1", "::1"])
            .map(|a| PerAddress::admit(&table, ip(a)).expect("uncapped"))
            .collect();
        assert_eq!(held.len(), 15);
        // Other loopback addresses are ordinary clients.
        let _one = PerAddress::admit(&table, ip("127.0.0.2")).unwrap();
        assert!(PerAddress::admit(&table, ip("127.0.0.2")).is_none());
        drop(held);
        assert!(table.open.lock().unwrap().len() == 1, "uncapped connections were counted");
    }

    #[test]
    fn a_client_is_its_ipv4_address_or_its_ipv6_network() {
        assert_eq!(client_network(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_network(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_network(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(client_network(ip("::1")), ip("::"));
        assert!(is_this_machine(ip("127.0.0.1")) && is_this_machine(ip("::1")));
        assert!(is_this_machine(ip("::ffff:127.0.0.1")));
        assert!(!is_this_machine(ip("127.0.0.2")) && !is_this_machine(ip("10.0.0.1")));
    }

    #[test]
    fn the_table_forgets_an_address_with_no_connection() {
        let table = table(3, None);
        let slots: Vec<_> =
            (0..100).map(|n| PerAddress::admit(&table, ip(&format!("198.51.100.{n}")))).collect();
        assert_eq!(table.open.lock().unwrap().len(), 100);
        drop(slots);
        assert!(table.open.lock().unwrap().is_empty());
    }
}
