//! The HTTP agent under every API the hotline calls out to (Telegram's Bot API, Twilio's REST
//! API): each client sets its own timeouts and redirects, and takes from here what they all
//! need.
//!
//! - **Connections kept for the outbox** ([`KEPT_CONNECTIONS`]). The outbox hands up to
//!   [`MOST_IN_FLIGHT`] sends to a channel at once; ureq keeps 3 idle connections per host by
//!   default, so most sends opened a new connection (and, against the real APIs, a TLS
//!   handshake).
//! - **Names remembered for a minute.** ureq resolves the host before every request, even one
//!   that then takes a pooled connection, and with a timeout set it resolves on a thread of
//!   its own: a lookup and a thread per message sent. [`RememberedNames`] asks again at most
//!   once a minute per host, so an API that moves is followed within a minute.
//! - **No proxy for this machine** ([`proxy_for`]). A loopback API (a local Bot API server, the tests' fakes)
//!   is never behind a proxy, and a developer's `HTTPS_PROXY` rarely exempts it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, Proxy};

use crate::domain::outbox::MOST_IN_FLIGHT;

/// How long a host's addresses are used before it is looked up again.
const REMEMBER_NAMES: Duration = Duration::from_secs(60);

/// The idle connections an agent keeps, overall and per host: one for each send the outbox
/// may have going at once.
pub(crate) const KEPT_CONNECTIONS: usize = MOST_IN_FLIGHT;

/// The agent of a client built from `config`, with names remembered ([`RememberedNames`]).
/// Each client sets [`KEPT_CONNECTIONS`] and [`proxy_for`] in its own `config`: ureq's
/// builder type cannot be named outside it, so they cannot be set here.
pub(crate) fn agent(config: Config) -> Agent {
    Agent::with_parts(
        config,
        DefaultConnector::new(),
        RememberedNames::new(DefaultResolver::default()),
    )
}

/// The proxy to reach the API at `base` through: none for this machine, otherwise the one
/// the environment names, as ureq's default.
pub(crate) fn proxy_for(base: &str) -> Option<Proxy> {
    if is_loopback(base) { None } else { Proxy::try_from_env() }
}

/// Whether `base` names this machine.
pub(crate) fn is_loopback(base: &str) -> bool {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A resolver that remembers each host's addresses for [`REMEMBER_NAMES`] (see the module's
/// header). A failed lookup is not remembered: the next request asks again.
#[derive(Debug)]
struct RememberedNames<R> {
    lookup: R,
    /// By scheme and authority (the port may be implied by the scheme): when looked up, and
    /// what was found.
    known: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl<R> RememberedNames<R> {
    fn new(lookup: R) -> RememberedNames<R> {
        RememberedNames { lookup, known: Mutex::new(HashMap::new()) }
    }
}

impl<R: Resolver> Resolver for RememberedNames<R> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return self.lookup.resolve(uri, config, timeout);
        };
        let key = format!("{scheme}://{authority}");
        let known = |known: &HashMap<_, (Instant, ResolvedSocketAddrs)>| {
            known
                .get(&key)
                .filter(|(at, _)| at.elapsed() < REMEMBER_NAMES)
                .map(|(_, addrs)| addrs.clone())
        };
        if let Some(addrs) = known(&self.known.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(addrs);
        }
        // Looked up outside the lock: a slow lookup holds up no request to another host.
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        let mut remembered = self.known.lock().unwrap_or_else(|e| e.into_inner());
        remembered.insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A resolver that counts its lookups, failing those of `nowhere.invalid`.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &Uri,
            _: &Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if uri.host() == Some("nowhere.invalid") {
                return Err(ureq::Error::HostNotFound);
            }
            let mut addrs = self.empty();
            addrs.push(SocketAddr::from(([192, 0, 2, 7], 443)));
            Ok(addrs)
        }
    }

    #[test]
    fn a_host_is_looked_up_once_however_many_requests_go_to_it() {
        let names = RememberedNames::new(Counting::default());
        let config = Config::default();
        let resolve =
            |uri: &str| names.resolve(&uri.parse().unwrap(), &config, NextTimeout::default());
        for path in ["/bot1/sendMessage", "/bot1/editMessageText", "/bot1/sendMessage"] {
            let addrs = resolve(&format!("https://api.telegram.org{path}")).unwrap();
            assert_eq!(addrs[..], [SocketAddr::from(([192, 0, 2, 7], 443))]);
        }
        assert_eq!(names.lookup.0.load(Ordering::SeqCst), 1);
        // Another host, or the same on another port or scheme, is looked up for itself.
        resolve("https://api.twilio.com/2010-04-01").unwrap();
        resolve("https://api.telegram.org:8443/").unwrap();
        resolve("http://api.telegram.org/").unwrap();
        assert_eq!(names.lookup.0.load(Ordering::SeqCst), 4);
        // A failure is not remembered.
        assert!(resolve("https://nowhere.invalid/").is_err());
        assert!(resolve("https://nowhere.invalid/").is_err());
        assert_eq!(names.lookup.0.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn names_are_looked_up_again_after_a_minute() {
        let names = RememberedNames::new(Counting::default());
        let uri: Uri = "https://api.telegram.org/".parse().unwrap();
        names.resolve(&uri, &Config::default(), NextTimeout::default()).unwrap();
        let long_ago = Instant::now().checked_sub(REMEMBER_NAMES).unwrap();
        names.known.lock().unwrap().values_mut().for_each(|(at, _)| *at = long_ago);
        names.resolve(&uri, &Config::default(), NextTimeout::default()).unwrap();
        assert_eq!(names.lookup.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for base in
            ["http://127.0.0.1:8081", "http://localhost", "http://[::1]:9/", "http://127.9.9.9"]
        {
            assert!(is_loopback(base), "{base}");
        }
        for base in
            ["https://api.telegram.org", "http://10.0.0.1", "http://localhost.evil.org", "x"]
        {
            assert!(!is_loopback(base), "{base}");
        }
    }
}
