//! A Twilio account's REST API, as every resource the hotline uses reaches it: requests under
//! `{base}/2010-04-01/Accounts/{AccountSid}/`, authenticated by HTTP basic authentication with
//! the account SID and auth token, and Twilio's answers read into what the caller may do next.
//!
//! Blocking (`ureq`), so it runs on a blocking task. Twilio's refusals are JSON,
//! `{"code":…, "message":…, "status":…}`: only the numeric code is kept, since the message can
//! quote a phone number. No error carries the URL, the token, or what was sent.

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use ureq::Agent;

use crate::domain::secret::Secret;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer that is read as text: a resource's JSON is a few KiB.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// The wait after a `429` that names none, and the bounds of one it names.
const RETRY_AFTER_BOUNDS: (u64, u64) = (1, 3600);

/// Why a request did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Too many requests: try again after this long.
    #[error("Twilio asks to wait {} s (too many requests)", .0.as_secs())]
    RetryAfter(Duration),
    /// Twilio refused the request (a wrong number, an opted-out recipient, a resource that is
    /// not there…): trying again would fail the same way.
    #[error("refused by Twilio (HTTP {status}, error {code})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Twilio's error code (`63016`: outside WhatsApp's window), 0 when none was given.
        code: u32,
    },
    /// No answer to act on (network error, timeout, 5xx, an answer that is not Twilio's):
    /// trying again later may work.
    #[error("Twilio could not be reached: {0}")]
    Unreachable(String),
}

/// A Twilio account's REST API.
pub struct Account {
    agent: Agent,
    /// `{base}/2010-04-01/Accounts/{sid}`.
    root: String,
    /// `Basic base64(sid:token)`.
    authorization: Secret,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authorization is the account: never shown.
        f.debug_struct("Account").field("root", &self.root).finish_non_exhaustive()
    }
}

/// A successful answer: its status and JSON text.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status, 2xx.
    pub status: u16,
    /// The body, at most 64 KiB of it.
    pub text: String,
}

/// The part of a refusal that is read.
#[derive(Deserialize)]
struct Refusal {
    code: Option<u32>,
}

impl Account {
    /// The account `account_sid` (authenticated by `auth_token`) at `base`
    /// (`https://api.twilio.com`, or a test's fake).
    pub fn new(base: &str, account_sid: &str, auth_token: &Secret) -> Account {
        Account::with_timeouts(base, account_sid, auth_token, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// The same with other timeouts: a connection may take `connect`, a request `whole`.
    pub fn with_timeouts(
        base: &str,
        account_sid: &str,
        auth_token: &Secret,
        connect: Duration,
        whole: Duration,
    ) -> Account {
        let base = base.trim_end_matches('/');
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{account_sid}:{}", auth_token.expose()));
        let mut config = Agent::config_builder()
            // Twilio's refusals are JSON with a status: read them, not an error without body.
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(connect))
            .timeout_global(Some(whole));
        // A loopback API (the tests' fake) is never behind a proxy.
        if is_loopback(base) {
            config = config.proxy(None);
        }
        Account {
            agent: config.build().new_agent(),
            root: format!("{base}/2010-04-01/Accounts/{account_sid}"),
            authorization: Secret::new(format!("Basic {credentials}")),
        }
    }

    /// The URL of `resource` (`Messages.json`, `Queues/QU….json`) in this account.
    fn url(&self, resource: &str) -> String {
        format!("{}/{resource}", self.root)
    }

    /// POSTs `form` to `resource`.
    pub fn post(&self, resource: &str, form: &[(&str, &str)]) -> Result<Answer, ApiError> {
        let sent = self
            .agent
            .post(&self.url(resource))
            .header("Authorization", self.authorization.expose())
            .send_form(form.iter().copied());
        answer(sent)
    }

    /// GETs `resource`, with `query` (name, value) pairs.
    pub fn get(&self, resource: &str, query: &[(&str, &str)]) -> Result<Answer, ApiError> {
        let sent = self
            .agent
            .get(&self.url(resource))
            .query_pairs(query.iter().copied())
            .header("Authorization", self.authorization.expose())
            .call();
        answer(sent)
    }

    /// DELETEs `resource`.
    pub fn delete(&self, resource: &str) -> Result<Answer, ApiError> {
        let sent = self
            .agent
            .delete(&self.url(resource))
            .header("Authorization", self.authorization.expose())
            .call();
        answer(sent)
    }
}

/// Reads what a request got: its text when 2xx, or why not.
fn answer(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer, ApiError> {
    // ureq's errors name the URL (the account SID) at most, never the form.
    let mut response = sent.map_err(|e| ApiError::Unreachable(kind_of(&e)))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_ANSWER_BYTES)
        .read_to_string(&mut text)
        .map_err(|_| ApiError::Unreachable("the answer could not be read".into()))?;
    read_status(status, retry_after, &text).map(|()| Answer { status, text })
}

/// What HTTP status `status` (with its `Retry-After`, in seconds, and its body `text`) means:
/// `Ok` for a 2xx, otherwise why the request did nothing.
pub fn read_status(status: u16, retry_after: Option<u64>, text: &str) -> Result<(), ApiError> {
    match status {
        200..=299 => Ok(()),
        429 => {
            let (min, max) = RETRY_AFTER_BOUNDS;
            let secs = retry_after.map_or(min, |secs| secs.clamp(min, max));
            Err(ApiError::RetryAfter(Duration::from_secs(secs)))
        }
        400..=499 => {
            let code = serde_json::from_str::<Refusal>(text).ok().and_then(|r| r.code);
            Err(ApiError::Refused { status, code: code.unwrap_or_default() })
        }
        _ => Err(ApiError::Unreachable(format!("HTTP {status}"))),
    }
}

/// Whether `sid` is shaped like a Twilio id with one of `prefixes`: two letters and 32 hex
/// digits.
pub fn is_sid(sid: &str, prefixes: &[&str]) -> bool {
    sid.len() == 34
        && prefixes.iter().any(|prefix| sid.starts_with(prefix))
        && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// What kind of transport failure `error` is, in words that hold no URL.
fn kind_of(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => "the request timed out".into(),
        ureq::Error::Io(e) => format!("connection failed ({:?})", e.kind()),
        ureq::Error::HostNotFound => "the host was not found".into(),
        ureq::Error::ConnectionFailed => "the connection failed".into(),
        _ => "the request failed".into(),
    }
}

/// Whether `base` names this machine.
fn is_loopback(base: &str) -> bool {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    matches!(host, "127.0.0.1" | "localhost") || rest.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_become_what_the_caller_may_do() {
        assert!(read_status(201, None, "{}").is_ok());
        assert!(read_status(204, None, "").is_ok());
        let refusal = r#"{"code":63016,"message":"Failed to send freeform message because you are outside the allowed window. +15005550006","status":400}"#;
        let refused = read_status(400, None, refusal).unwrap_err();
        assert_eq!(refused, ApiError::Refused { status: 400, code: 63016 });
        // Only the code is kept: the message quoted the number.
        assert!(!refused.to_string().contains("+1500"), "{refused}");
        assert_eq!(
            read_status(429, Some(7), "{}").unwrap_err(),
            ApiError::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            read_status(429, None, "").unwrap_err(),
            ApiError::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            read_status(429, Some(u64::MAX), "").unwrap_err(),
            ApiError::RetryAfter(Duration::from_secs(3600))
        );
        assert!(matches!(read_status(503, None, "<html>"), Err(ApiError::Unreachable(_))));
        assert_eq!(
            read_status(401, None, "not json").unwrap_err(),
            ApiError::Refused { status: 401, code: 0 }
        );
        assert!(matches!(read_status(302, None, ""), Err(ApiError::Unreachable(_))));
    }

    #[test]
    fn ids_are_twilios_shape() {
        assert!(is_sid("SM0123456789abcdef0123456789abcdef", &["SM", "MM"]));
        assert!(is_sid("MM0123456789ABCDEF0123456789abcdef", &["SM", "MM"]));
        for bad in
            ["", "SM", "CA0123456789abcdef0123456789abcdef", "SM0123456789abcdef0123456789abcdeg"]
        {
            assert!(!is_sid(bad, &["SM"]), "{bad}");
        }
        assert!(!is_sid(&format!("SM{}", "é".repeat(16)), &["SM"]));
    }

    #[test]
    fn a_server_that_is_not_there_may_be_tried_again() {
        // Port 9 (discard) on loopback: nothing listens in a test environment.
        let account = Account::with_timeouts(
            "http://127.0.0.1:9",
            "AC0123456789abcdef0123456789abcdef",
            &Secret::new("t".into()),
            Duration::from_millis(200),
            Duration::from_millis(500),
        );
        match account.post("Messages.json", &[("To", "+12025550123")]) {
            Err(ApiError::Unreachable(why)) => assert!(!why.contains("2025550123"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(account.delete("Queues/QU1.json"), Err(ApiError::Unreachable(_))));
    }

    #[test]
    fn the_account_is_never_printed() {
        let account = Account::new(
            "http://127.0.0.1:1",
            "AC0123456789abcdef0123456789abcdef",
            &Secret::new("very-secret-token".into()),
        );
        let printed = format!("{account:?}");
        assert!(!printed.contains("very-secret") && !printed.contains("Basic"), "{printed}");
    }
}
