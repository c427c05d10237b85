//! `hotline health`: asks a running server whether it can take calls (`GET /readyz`), or only
//! whether its process answers (`GET /healthz`, with `--live`), and says so in one line. A
//! container's HEALTHCHECK, a service monitor or a person who has just deployed runs it.
//!
//! Exit 0: ready (or live); 1: not ready, something else answering, or no answer in time, the
//! line saying which; 2: there is no address to ask (a wrong `--url`, or `server.listen` on port
//! 0), or the configuration does not load: the check could not run. Docker reserves a health
//! check's exit 2, which the image's HEALTHCHECK cannot get: it passes no `--url`, its port is
//! fixed, and a configuration that does not load stops the server too.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use ureq::http::Uri;

use crate::domain::excerpt;

/// The most of the server's answer read for its reason: `/readyz` says it in one short line,
/// and whatever else answers on the address is not read to its end.
const MOST_ANSWER_BYTES: u64 = 512;
/// The most of the server's reason, or of an error, shown, in characters.
const MOST_REASON_CHARS: usize = 200;
/// The longest `--url` taken; a base URL is a scheme, a host and a port.
const MOST_URL_BYTES: usize = 2048;

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The endpoint answered 200: ready (or, with `--live`, the process answers).
    Up,
    /// `/readyz` answered 503, with the server's reason.
    NotReady(String),
    /// Another status: another program on the address, or a proxy's error page.
    Unexpected(u16),
    /// No answer at all.
    Unreachable(Unreachable),
}

/// Why there was no answer.
#[derive(Debug, PartialEq, Eq)]
enum Unreachable {
    /// Nothing listens there: the server is stopped, or on another address.
    Refused,
    /// Something took the connection but did not answer in time.
    TimedOut,
    /// The host name of `--url` does not resolve.
    NoSuchHost,
    /// `https://` was asked, and the server answered plain HTTP.
    NotTls,
    /// Anything else the connection failed with (TLS, a reset, a garbled answer).
    Failed(String),
}

/// Why `--url` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum UrlError {
    #[error("it is longer than {MOST_URL_BYTES} bytes")]
    TooLong,
    #[error("it is not a URL")]
    NotAUrl,
    #[error("it must start with http:// or https://")]
    Scheme,
    #[error("it names no host")]
    NoHost,
    #[error("its port is not a number from 1 to 65535")]
    Port,
    #[error("it must not hold a user name or password")]
    UserInfo,
    #[error("it must be just scheme://host[:port], with no path or query")]
    PathOrQuery,
    #[error(
        "server.listen has port 0 (a port chosen at each start), so the server's address is \
         unknown"
    )]
    AnyPort,
}

/// Runs `hotline health`: asks the server at `url` (default: the configured listen address)
/// and prints one line; the exit code says whether it is ready (see the module's header).
pub fn run(listen: SocketAddr, url: Option<&str>, live: bool, timeout: Duration) -> ExitCode {
    let base = match url {
        Some(given) => base_url(given).map_err(|error| {
            format!("--url {} is not a server's address: {error}", shorten(given))
        }),
        None => listen_url(listen).map_err(|error| format!("{error}: give --url")),
    };
    let base = match base {
        Ok(base) => base,
        Err(message) => {
            eprintln!("hotline health: {message}");
            return ExitCode::from(2);
        }
    };
    let endpoint = format!("{base}/{}", if live { "healthz" } else { "readyz" });
    let verdict = probe(&endpoint, timeout);
    println!("{}", describe(&verdict, &endpoint, live, timeout));
    if verdict == Verdict::Up { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `http://` and the listening address, loopback when the server listens on every address
/// (the check runs on the server's machine, or in its container).
fn listen_url(listen: SocketAddr) -> Result<String, UrlError> {
    if listen.port() == 0 {
        return Err(UrlError::AnyPort);
    }
    let mut addr = listen;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    Ok(format!("http://{addr}"))
}

/// `given` checked as a server's base URL (`http(s)://host[:port]`, a final `/` allowed),
/// without its final `/`.
fn base_url(given: &str) -> Result<String, UrlError> {
    if given.len() > MOST_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    let uri: Uri = given.parse().map_err(|_| UrlError::NotAUrl)?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(UrlError::Scheme);
    }
    let authority = uri.authority().ok_or(UrlError::NoHost)?;
    // A password in a health check's arguments would show in every `ps`.
    if authority.as_str().contains('@') {
        return Err(UrlError::UserInfo);
    }
    if authority.host().is_empty() {
        return Err(UrlError::NoHost);
    }
    // `Uri` takes any digits as a port, and then has none.
    let port = authority.as_str().strip_prefix(authority.host()).unwrap_or_default();
    if let Some(port) = port.strip_prefix(':')
        && !port.parse::<u16>().is_ok_and(|port| port > 0)
    {
        return Err(UrlError::Port);
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() || given.contains('#') {
        return Err(UrlError::PathOrQuery);
    }
    Ok(given.trim_end_matches('/').to_owned())
}

/// Asks `endpoint` once, waiting at most `timeout` for the whole answer.
fn probe(endpoint: &str, timeout: Duration) -> Verdict {
    let agent = ureq::Agent::config_builder()
        // A 503 is an answer to read, not a failure.
        .http_status_as_error(false)
        // A redirect is not the hotline's answer: reported, not followed.
        .max_redirects(0)
        // The server is asked directly; an HTTP(S)_PROXY in the environment, which rarely
        // exempts localhost, would answer in its place.
        .proxy(None)
        .timeout_global(Some(timeout))
        .user_agent("hotline-health")
        .build()
        .new_agent();
    let mut response = match agent.get(endpoint).call() {
        Ok(response) => response,
        Err(error) => return Verdict::Unreachable(unreachable(error)),
    };
    match response.status().as_u16() {
        200 => Verdict::Up,
        503 => {
            let mut answer = Vec::new();
            // A reason cut short by the timeout still says something; none at all is said so.
            let _ =
                response.body_mut().as_reader().take(MOST_ANSWER_BYTES).read_to_end(&mut answer);
            Verdict::NotReady(reason(&answer))
        }
        status => Verdict::Unexpected(status),
    }
}

/// What a failed request says about the server.
fn unreachable(error: ureq::Error) -> Unreachable {
    match error {
        ureq::Error::Timeout(_) => Unreachable::TimedOut,
        ureq::Error::HostNotFound => Unreachable::NoSuchHost,
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Unreachable::Refused
        }
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Unreachable::TimedOut,
        // What the TLS library says of an answer that is no TLS record: a plain HTTP server's
        // `HTTP/1.1 400 …`.
        ureq::Error::Io(e) if e.to_string().contains("InvalidContentType") => Unreachable::NotTls,
        // The error may quote what the other end sent.
        other => Unreachable::Failed(printable(&other.to_string())),
    }
}

/// The server's reason from the answer of `/readyz` (`not ready: REASON`): its first line,
/// printable characters only and cut short, since whatever answers there is printed.
fn reason(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or_default();
    let shown = printable(line.strip_prefix("not ready:").unwrap_or(line));
    if shown.is_empty() { "the server gave no reason".into() } else { shown }
}

/// `text` without control characters (a terminal would act on them), trimmed, cut short.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MOST_REASON_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The one line printed for `verdict`.
fn describe(verdict: &Verdict, endpoint: &str, live: bool, timeout: Duration) -> String {
    match verdict {
        Verdict::Up if live => format!("live: {endpoint} answered"),
        Verdict::Up => format!("ready: {endpoint} answered"),
        Verdict::NotReady(reason) => format!("not ready: {reason} ({endpoint})"),
        Verdict::Unexpected(status) => format!(
            "not ready: {endpoint} answered {status}, which the hotline does not (another \
             program on this address, or a proxy?)"
        ),
        Verdict::Unreachable(Unreachable::Refused) => format!(
            "unreachable: connection refused at {endpoint} (is `hotline serve` running, on \
             this address?)"
        ),
        Verdict::Unreachable(Unreachable::TimedOut) => format!(
            "unreachable: no answer from {endpoint} within {} s (timeout)",
            timeout.as_secs_f64()
        ),
        Verdict::Unreachable(Unreachable::NotTls) => {
            format!("unreachable: {endpoint}: the server answered plain HTTP, not TLS: use http://")
        }
        Verdict::Unreachable(Unreachable::NoSuchHost) => {
            format!("unreachable: the host of {endpoint} is not found")
        }
        Verdict::Unreachable(Unreachable::Failed(error)) => {
            format!("unreachable: {endpoint}: {error}")
        }
    }
}

/// `text` quoted and cut short for a message ([`excerpt`]), without what comes before an `@`:
/// a password in a URL is not repeated on the screen, or into a health check's log.
fn shorten(text: &str) -> String {
    match text.rsplit_once('@') {
        Some((_, host)) => excerpt(&format!("…@{host}")),
        None => excerpt(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EXCERPT_CHARS;

    #[test]
    fn the_default_address_is_the_listening_one_on_loopback_when_it_listens_everywhere() {
        let url = |listen: &str| listen_url(listen.parse().unwrap());
        assert_eq!(url("127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(url("0.0.0.0:9000").unwrap(), "http://127.0.0.1:9000");
        assert_eq!(url("[::]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(url("[2001:db8::7]:80").unwrap(), "http://[2001:db8::7]:80");
        assert_eq!(url("127.0.0.1:0"), Err(UrlError::AnyPort));
    }

    #[test]
    fn a_base_url_is_a_scheme_a_host_and_a_port() {
        assert_eq!(base_url("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(
            base_url("https://hotline.example.org/").unwrap(),
            "https://hotline.example.org"
        );
        assert_eq!(base_url("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        for (given, error) in [
            ("", UrlError::NotAUrl),
            ("   ", UrlError::NotAUrl),
            ("127.0.0.1:8080", UrlError::Scheme),
            ("localhost", UrlError::Scheme),
            ("ftp://127.0.0.1", UrlError::Scheme),
            ("file:///etc/passwd", UrlError::NotAUrl),
            ("file://host/etc/passwd", UrlError::Scheme),
            ("http://", UrlError::NotAUrl),
            ("http://user:secret@127.0.0.1:8080", UrlError::UserInfo),
            ("http://127.0.0.1:8080/readyz", UrlError::PathOrQuery),
            ("http://127.0.0.1:8080?x=1", UrlError::PathOrQuery),
            ("http://127.0.0.1:8080/#top", UrlError::PathOrQuery),
            ("http://127.0.0.1:8080\r\nX-Evil: 1", UrlError::NotAUrl),
            ("http://127.0.0.1:99999999", UrlError::Port),
            ("http://127.0.0.1:0", UrlError::Port),
            ("http://127.0.0.1:x", UrlError::Port),
            ("http://[::1]:70000", UrlError::Port),
        ] {
            assert_eq!(base_url(given), Err(error), "{given:?}");
        }
        let huge = format!("http://{}.org", "a".repeat(5000));
        assert_eq!(base_url(&huge), Err(UrlError::TooLong));
    }

    #[test]
    fn the_servers_reason_is_one_short_printable_line() {
        assert_eq!(
            reason(b"not ready: the database does not take writes\n"),
            "the database does not take writes"
        );
        assert_eq!(reason(b""), "the server gave no reason");
        assert_eq!(reason(b"not ready:   \n"), "the server gave no reason");
        assert_eq!(reason(b"maintenance\x1b[2J\x07 window\nsecond line"), "maintenance[2J window");
        assert_eq!(reason(&[0xff, 0xfe, b'x']), "\u{fffd}\u{fffd}x");
        assert_eq!(reason("é".repeat(1000).as_bytes()).chars().count(), MOST_REASON_CHARS);
    }

    #[test]
    fn a_hostile_url_is_shown_short_and_escaped() {
        let shown = shorten(&"x".repeat(10_000));
        assert_eq!(shown.chars().filter(|c| *c == 'x').count(), EXCERPT_CHARS);
        assert!(shorten("a\r\nb").contains("\\r\\n"));
        assert_eq!(shorten("https://admin:hunter2@example.org"), "\"…@example.org\"");
    }
}
