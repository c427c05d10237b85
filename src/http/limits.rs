//! Limits against floods: of calls from one number, and of refused requests from one address.
//!
//! - [`CallsInProgress`]: a caller (by number hash) may have at most `calls_per_caller` calls
//!   in progress. Someone dialling the line over and over from one number cannot fill the
//!   operators' queues and push real callers out; the extra calls are recorded as rejected
//!   and hear the menus like any caller until they would reach a person, then a goodbye (or,
//!   with `over_limit_answer = "hangup"`, are hung up on at once): see `webhooks/refused.rs`.
//! - [`Offenders`]: an address whose requests keep being refused (forged webhook
//!   signatures, unreadable webhooks, wrong API tokens) is answered `429` without any work
//!   for a while, so guessing tokens or flooding with fakes costs the server next to nothing.
//!   An address is counted as the connections are ([`crate::http::connections::client_network`]:
//!   an IPv6 client by its /64), and only the machine itself, as the connection's peer, is
//!   left out: an `X-Forwarded-For` saying 127.0.0.1 is counted like any other address.
//!
//! Both live in memory (a restart forgets them, which only ever lets calls in) and are
//! bounded in size: a flood of distinct numbers or addresses cannot grow them without limit.
//! When a table is full of live entries, newcomers are let through untracked rather than
//! refused: a real caller is never refused because of someone else's flood.
//!
//! [`refused_total`] counts every request refused by a limit, for metrics.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::cases::{CallSid, CallerHash};
use crate::http::connections::{client_network, is_this_machine};

/// A call the provider never reported the end of is forgotten after this long: the
/// provider's own limit on a call's length is four hours.
const LONGEST_CALL: Duration = Duration::from_secs(4 * 3600);

/// Most callers tracked at once by [`CallsInProgress`].
const MAX_CALLERS: usize = 50_000;

/// Most addresses tracked at once by [`Offenders`].
const MAX_ADDRESSES: usize = 10_000;

/// A full table is swept for stale entries at most this often, so that a flood of newcomers
/// does not make every request scan the whole table.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Whether a sweep is due, noting it if so.
fn sweep_due(last: &mut Option<Instant>, now: Instant) -> bool {
    let due = last.is_none_or(|last| now.duration_since(last) >= SWEEP_EVERY);
    if due {
        *last = Some(now);
    }
    due
}

/// Requests refused by any limit since start.
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// How many requests the limits of this module have refused since the server started (calls
/// over their caller's limit, and `429` answers to addresses).
pub fn refused_total() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

pub(crate) fn count_refusal() {
    REFUSED.fetch_add(1, Ordering::Relaxed);
}

/// Locks a table, recovering it if a holder panicked (the tables stay consistent: every
/// change is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| {
        mutex.clear_poison();
        poisoned.into_inner()
    })
}

/// Calls in progress per caller.
#[derive(Debug)]
pub struct CallsInProgress {
    per_caller: usize,
    table: Mutex<CallTable>,
}

#[derive(Debug, Default)]
struct CallTable {
    /// Each caller's calls in progress, with when they started.
    by_caller: HashMap<CallerHash, Vec<(CallSid, Instant)>>,
    /// Whose each call is, to end it from its status callback.
    caller_of: HashMap<CallSid, CallerHash>,
    /// When the table was last swept for stale calls.
    swept: Option<Instant>,
}

impl CallsInProgress {
    /// A limit of `per_caller` calls in progress per caller.
    pub fn new(per_caller: usize) -> CallsInProgress {
        CallsInProgress { per_caller: per_caller.max(1), table: Mutex::default() }
    }

    /// Whether a new call from `caller` may go on. A call already admitted (the provider
    /// retrying the voice URL) is admitted again.
    pub fn admit(&self, caller: &CallerHash, call: &CallSid) -> bool {
        self.admit_at(caller, call, Instant::now())
    }

    fn admit_at(&self, caller: &CallerHash, call: &CallSid, now: Instant) -> bool {
        let mut table = lock(&self.table);
        let table = &mut *table;
        if let Some(calls) = table.by_caller.get_mut(caller) {
            // Calls the provider never reported ended do not count for ever.
            calls.retain(|(sid, started)| {
                let live = now.duration_since(*started) < LONGEST_CALL;
                if !live {
                    table.caller_of.remove(sid);
                }
                live
            });
            if calls.iter().any(|(sid, _)| sid == call) {
                return true;
            }
            if calls.len() >= self.per_caller {
                count_refusal();
                return false;
            }
        }
        if !table.by_caller.contains_key(caller) && table.by_caller.len() >= MAX_CALLERS {
            if sweep_due(&mut table.swept, now) {
                table.forget_stale(now);
            }
            if table.by_caller.len() >= MAX_CALLERS {
                tracing::warn!("the calls-in-progress table is full; a call goes untracked");
                return true;
            }
        }
        table.by_caller.entry(caller.clone()).or_default().push((call.clone(), now));
        table.caller_of.insert(call.clone(), caller.clone());
        true
    }

    /// The call ended (its final status arrived).
    pub fn ended(&self, call: &CallSid) {
        let mut table = lock(&self.table);
        let Some(caller) = table.caller_of.remove(call) else { return };
        if let Some(calls) = table.by_caller.get_mut(&caller) {
            calls.retain(|(sid, _)| sid != call);
            if calls.is_empty() {
                table.by_caller.remove(&caller);
            }
        }
    }

    /// The number of calls in progress tracked.
    pub fn len(&self) -> usize {
        lock(&self.table).caller_of.len()
    }

    /// Whether no call is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CallTable {
    fn forget_stale(&mut self, now: Instant) {
        let caller_of = &mut self.caller_of;
        self.by_caller.retain(|_, calls| {
            calls.retain(|(sid, started)| {
                let live = now.duration_since(*started) < LONGEST_CALL;
                if !live {
                    caller_of.remove(sid);
                }
                live
            });
            !calls.is_empty()
        });
    }
}

/// Addresses whose requests keep being refused: a token bucket per address that each refusal
/// drains and that refills at `per_minute`; an empty bucket means `429` without any work.
#[derive(Debug)]
pub struct Offenders {
    per_minute: u32,
    /// The proxy whose `X-Forwarded-For` names the real client, if the server is behind one.
    trusted_proxy: Option<IpAddr>,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_address: HashMap<IpAddr, Bucket>,
    /// When the table was last swept for refilled buckets.
    swept: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Offenders {
    /// `per_minute` refusals per address are tolerated (in a burst, or spread out); beyond,
    /// the address is refused until its bucket refills.
    pub fn new(per_minute: u32, trusted_proxy: Option<IpAddr>) -> Offenders {
        Offenders { per_minute: per_minute.max(1), trusted_proxy, buckets: Mutex::default() }
    }

    fn capacity(&self) -> f64 {
        f64::from(self.per_minute)
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.capacity() / 60.0).min(self.capacity());
        bucket.updated = now;
    }

    /// Whether `address` has used up its refusals.
    pub fn is_blocked(&self, address: IpAddr) -> bool {
        self.is_blocked_at(address, Instant::now())
    }

    fn is_blocked_at(&self, address: IpAddr, now: Instant) -> bool {
        let mut buckets = lock(&self.buckets);
        match buckets.by_address.get_mut(&address) {
            Some(bucket) => {
                self.refill(bucket, now);
                bucket.tokens < 1.0
            }
            None => false,
        }
    }

    /// Notes a refused request from `address`.
    pub fn refused(&self, address: IpAddr) {
        self.refused_at(address, Instant::now());
    }

    fn refused_at(&self, address: IpAddr, now: Instant) {
        let mut guard = lock(&self.buckets);
        let buckets = &mut *guard;
        if !buckets.by_address.contains_key(&address) && buckets.by_address.len() >= MAX_ADDRESSES {
            // A full bucket is the same as none: forget those first.
            if sweep_due(&mut buckets.swept, now) {
                let capacity = self.capacity();
                buckets.by_address.retain(|_, bucket| {
                    let mut bucket = *bucket;
                    self.refill(&mut bucket, now);
                    bucket.tokens < capacity
                });
            }
            if buckets.by_address.len() >= MAX_ADDRESSES {
                return;
            }
        }
        let fresh = Bucket { tokens: self.capacity(), updated: now };
        let bucket = buckets.by_address.entry(address).or_insert(fresh);
        self.refill(bucket, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }

    /// What the client of a request from `peer` counts against, in this limiter and the
    /// console's logins: its [`client_network`]; `None` for the machine itself as the peer
    /// (its own tools, or a local proxy not declared as trusted, behind which every client
    /// would share this address and one guesser would lock all out). Behind the trusted
    /// proxy, the client named in `X-Forwarded-For` is counted whatever it says, 127.0.0.1
    /// included.
    pub fn counted_as(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let behind_proxy = self.trusted_proxy.is_some_and(|proxy| proxy == peer);
        if !behind_proxy && is_this_machine(peer) {
            return None;
        }
        Some(client_network(self.client_address(peer, headers)))
    }

    /// The client's address: the connection's peer, or, when that is the trusted proxy, the
    /// last address the proxy added to `X-Forwarded-For`.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.trusted_proxy != Some(peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .next_back()
            .unwrap_or(peer)
    }
}

/// What [`refuse_offenders`] guards: the limiter, and which answer counts as a refusal
/// (`403` for forged webhooks, `401` for wrong API tokens).
#[derive(Debug, Clone)]
pub struct Guard {
    /// The addresses' buckets.
    pub offenders: Arc<Offenders>,
    /// The status that counts against an address.
    pub refusal: StatusCode,
}

/// Marks an answer that counts against its address although its status is not the guard's
/// refusal: an unreadable webhook, answered `200` with safe TwiML (a call must not drop
/// because of how a request was written) but never sent by the provider.
#[derive(Debug, Clone, Copy)]
pub struct CountedRefusal;

/// Middleware: answers `429` at once to an address that has used up its refusals, and
/// counts each of its requests refused with `guard.refusal` or marked [`CountedRefusal`].
/// Requests without a peer address (built in process, not over a connection) and from the
/// machine itself pass ([`Offenders::counted_as`]).
pub async fn refuse_offenders(
    State(guard): State<Guard>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let Some(peer) = peer else { return next.run(request).await };
    let Some(address) = guard.offenders.counted_as(peer, request.headers()) else {
        return next.run(request).await;
    };
    if guard.offenders.is_blocked(address) {
        count_refusal();
        tracing::warn!(
            target: "hotline::security",
            %address,
            "refused a request from an address with too many refused requests"
        );
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "60")], "too many requests\n")
            .into_response();
    }
    let response = next.run(request).await;
    if response.status() == guard.refusal || response.extensions().get::<CountedRefusal>().is_some()
    {
        guard.offenders.refused(address);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(n: u32) -> CallerHash {
        CallerHash(format!("{n:064x}"))
    }

    fn sid(n: u32) -> CallSid {
        CallSid::parse(&format!("CA{n:032x}")).unwrap()
    }

    #[test]
    fn a_caller_gets_their_limit_of_calls_and_more_once_one_ends() {
        let calls = CallsInProgress::new(2);
        assert!(calls.admit(&caller(1), &sid(1)));
        assert!(calls.admit(&caller(1), &sid(2)));
        assert!(!calls.admit(&caller(1), &sid(3)));
        // A retried voice URL of an admitted call is admitted again.
        assert!(calls.admit(&caller(1), &sid(2)));
        // Another caller is not affected.
        assert!(calls.admit(&caller(2), &sid(4)));
        calls.ended(&sid(1));
        calls.ended(&sid(1));
        assert!(calls.admit(&caller(1), &sid(3)));
        assert_eq!(calls.len(), 3);
        calls.ended(&sid(99));
    }

    #[test]
    fn calls_never_reported_ended_are_forgotten() {
        let calls = CallsInProgress::new(1);
        let start = Instant::now();
        assert!(calls.admit_at(&caller(1), &sid(1), start));
        assert!(!calls.admit_at(&caller(1), &sid(2), start + Duration::from_secs(60)));
        assert!(calls.admit_at(&caller(1), &sid(2), start + LONGEST_CALL));
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn a_flood_of_distinct_callers_stays_bounded_and_never_refuses() {
        let calls = CallsInProgress::new(1);
        let start = Instant::now();
        for n in 0..(MAX_CALLERS as u32 + 500) {
            assert!(calls.admit_at(&caller(n), &sid(n), start));
        }
        assert_eq!(calls.len(), MAX_CALLERS);
        // Once the first calls are stale, newcomers are tracked again in their place.
        let later = start + LONGEST_CALL;
        assert!(calls.admit_at(&caller(u32::MAX), &sid(u32::MAX), later));
        assert!(!calls.admit_at(&caller(u32::MAX), &sid(u32::MAX - 1), later));
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn an_address_is_blocked_after_its_refusals_and_refills() {
        let offenders = Offenders::new(3, None);
        let address: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(!offenders.is_blocked_at(address, start));
            offenders.refused_at(address, start);
        }
        assert!(offenders.is_blocked_at(address, start));
        assert!(!offenders.is_blocked_at(other, start));
        // Three a minute: one more after twenty seconds.
        assert!(!offenders.is_blocked_at(address, start + Duration::from_secs(20)));
    }

    #[test]
    fn a_flood_of_distinct_addresses_stays_bounded() {
        let offenders = Offenders::new(2, None);
        let start = Instant::now();
        for n in 0..(MAX_ADDRESSES as u32 + 100) {
            offenders.refused_at(IpAddr::from(n.to_be_bytes()), start);
        }
        assert_eq!(lock(&offenders.buckets).by_address.len(), MAX_ADDRESSES);
        // Once they have refilled, the table makes room.
        let later = start + Duration::from_secs(120);
        offenders.refused_at("198.51.100.1".parse().unwrap(), later);
        assert_eq!(lock(&offenders.buckets).by_address.len(), 1);
    }

    #[test]
    fn only_the_trusted_proxy_may_name_the_client() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let offenders = Offenders::new(2, Some(proxy));
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "198.51.100.9, 203.0.113.5".parse().unwrap());
        assert_eq!(
            offenders.client_address(proxy, &headers),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(offenders.client_address(stranger, &headers), stranger);
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(offenders.client_address(proxy, &headers), proxy);
    }

    #[test]
    fn only_the_machine_itself_as_the_peer_goes_uncounted() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let forwarded = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", value.parse().unwrap());
            headers
        };
        let none = HeaderMap::new();
        let direct = Offenders::new(2, None);
        assert_eq!(direct.counted_as(ip("127.0.0.1"), &none), None);
        assert_eq!(direct.counted_as(ip("::1"), &none), None);
        // Other loopback addresses are clients like any other.
        assert_eq!(direct.counted_as(ip("127.0.0.2"), &none), Some(ip("127.0.0.2")));
        // An IPv6 client is its /64: another address in it shares its count.
        let v6 = direct.counted_as(ip("2001:db8:7:8:a:b:c:d"), &none);
        assert_eq!(v6, Some(ip("2001:db8:7:8::")));
        assert_eq!(direct.counted_as(ip("2001:db8:7:8::99"), &none), v6);
        // Without a trusted proxy the header is not believed.
        assert_eq!(
            direct.counted_as(ip("192.0.2.1"), &forwarded("127.0.0.1")),
            Some(ip("192.0.2.1"))
        );
        // Behind a proxy on this machine, the client it names is counted, even "127.0.0.1".
        let proxied = Offenders::new(2, Some(ip("127.0.0.1")));
        assert_eq!(
            proxied.counted_as(ip("127.0.0.1"), &forwarded("127.0.0.1")),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            proxied.counted_as(ip("127.0.0.1"), &forwarded("10.1.1.1, 2001:db8::5")),
            Some(ip("2001:db8::"))
        );
        for hostile in ["", ",,,", "::1, 127.0.0.1", &"9".repeat(4000)] {
            assert!(
                proxied.counted_as(ip("127.0.0.1"), &forwarded(hostile)).is_some(),
                "{hostile:.20}"
            );
        }
    }
}
