//! A Twilio account's REST API, as every resource the hotline uses reaches it: requests under
//! `{base}/2010-04-01/Accounts/{AccountSid}/`, authenticated by HTTP basic authentication with
//! the account SID and auth token, or with an API key (`SK…` and its secret: the URLs still
//! name the account), and Twilio's answers read into what the caller may do next.
//!
//! JSON answers are read whole (64 KiB at most); media (a recording's audio) is read as a
//! stream ([`Account::stream`]), bounded in size and time, and follows Twilio's redirect to
//! its storage without the credentials.
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
use crate::outbound;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer that is read as text: a resource's JSON is a few KiB.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// How long a stream of media may take, connection to last byte: a voicemail of an hour is
/// about 14 MiB of MP3.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(300);
/// The most redirects a media request follows (Twilio may send it on to its storage).
const MEDIA_REDIRECTS: u32 = 3;
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
    /// The agent of media: a longer time limit, and redirects followed without credentials.
    media: Agent,
    /// `{base}`, without a trailing `/`.
    base: String,
    /// `/2010-04-01/Accounts/{sid}`.
    root_path: String,
    /// `Basic base64(user:password)`: the account SID and auth token, or an API key.
    authorization: Secret,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authorization is the account: never shown.
        f.debug_struct("Account").field("root", &self.url("")).finish_non_exhaustive()
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

/// A stream of media: its type and length as Twilio gave them, and its bytes.
pub struct Media {
    /// `Content-Type` (`audio/mpeg`), or `application/octet-stream` when none was given.
    pub content_type: String,
    /// `Content-Length`, when given.
    pub length: Option<u64>,
    /// The bytes, which fail to read past the size bound.
    reader: ureq::BodyReader<'static>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("content_type", &self.content_type)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl Read for Media {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Account {
    /// The account `account_sid` (authenticated by `auth_token`) at `base`
    /// (`https://api.twilio.com`, or a test's fake).
    pub fn new(base: &str, account_sid: &str, auth_token: &Secret) -> Account {
        Account::with_timeouts(
            base,
            account_sid,
            account_sid,
            auth_token,
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
        )
    }

    /// The account `account_sid` at `base`, authenticated by the API key `key_sid` (`SK…`)
    /// and its `secret`.
    pub fn with_api_key(base: &str, account_sid: &str, key_sid: &str, secret: &Secret) -> Account {
        Account::with_timeouts(base, account_sid, key_sid, secret, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// The account `account_sid` at `base`, authenticated as `user` (the account SID or an
    /// API key's) with `password`; a connection may take `connect`, a request `whole`.
    pub fn with_timeouts(
        base: &str,
        account_sid: &str,
        user: &str,
        password: &Secret,
        connect: Duration,
        whole: Duration,
    ) -> Account {
        let base = base.trim_end_matches('/');
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        let agent = |whole: Duration, redirects: u32| {
            let config = Agent::config_builder()
                // Twilio's refusals are JSON with a status: read them, not an error without body.
                .http_status_as_error(false)
                .max_redirects(redirects)
                // A redirect (to Twilio's storage) never carries the credentials.
                .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
                .timeout_connect(Some(connect))
                .timeout_global(Some(whole))
                .max_idle_connections(outbound::KEPT_CONNECTIONS)
                .max_idle_connections_per_host(outbound::KEPT_CONNECTIONS)
                .proxy(outbound::proxy_for(base))
                .build();
            outbound::agent(config)
        };
        Account {
            agent: agent(whole, 0),
            media: agent(whole.max(MEDIA_TIMEOUT), MEDIA_REDIRECTS),
            base: base.to_owned(),
            root_path: format!("/2010-04-01/Accounts/{account_sid}"),
            authorization: Secret::new(format!("Basic {credentials}")),
        }
    }

    /// The URL of `resource` (`Messages.json`, `Queues/QU….json`) in this account.
    fn url(&self, resource: &str) -> String {
        format!("{}{}/{resource}", self.base, self.root_path)
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

    /// GETs a page Twilio named (a list's `next_page_uri`, relative to the API's base),
    /// which must be a resource of this account: any other is not requested.
    pub fn get_page(&self, uri: &str) -> Result<Answer, ApiError> {
        let inside = uri
            .strip_prefix(self.root_path.as_str())
            .is_some_and(|rest| rest.starts_with('/') && !rest.contains(['#', '\\', ' ', '@']));
        if !inside || uri.contains("..") || uri.len() > 2048 {
            return Err(ApiError::Unreachable("a next page outside the account".into()));
        }
        let sent = self
            .agent
            .get(&format!("{}{uri}", self.base))
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

    /// GETs the media `resource` (`Recordings/RE….mp3`) as a stream of at most `max_bytes`:
    /// refused at once when Twilio says it is longer, cut (a read error) when it grows past.
    pub fn stream(&self, resource: &str, max_bytes: u64) -> Result<Media, ApiError> {
        let sent = self
            .media
            .get(&self.url(resource))
            .header("Authorization", self.authorization.expose())
            .call();
        let response = sent.map_err(|e| ApiError::Unreachable(kind_of(&e)))?;
        let status = response.status().as_u16();
        if !(200..=299).contains(&status) {
            return answer(Ok(response)).and_then(|_| {
                Err(ApiError::Unreachable(format!("HTTP {status} without the media")))
            });
        }
        let header = |name: &str| {
            response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
        };
        let content_type = header("content-type")
            .filter(|kind| is_media_type(kind))
            .unwrap_or_else(|| "application/octet-stream".into());
        let length = header("content-length").and_then(|length| length.trim().parse().ok());
        if length.is_some_and(|length| length > max_bytes) {
            return Err(ApiError::Unreachable(format!("media over {max_bytes} bytes")));
        }
        let reader = response.into_body().into_with_config().limit(max_bytes).reader();
        Ok(Media { content_type, length, reader })
    }
}

/// What a DELETE came to: done now, or the resource was already gone (`404`), which is the
/// same for whoever wanted it gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted by this request.
    Now,
    /// Not there (deleted before, or never made).
    AlreadyGone,
}

/// Reads a DELETE's result: a `404` is a deletion done.
pub fn deleted(result: Result<Answer, ApiError>) -> Result<Deleted, ApiError> {
    match result {
        Ok(_) => Ok(Deleted::Now),
        Err(ApiError::Refused { status: 404, .. }) => Ok(Deleted::AlreadyGone),
        Err(other) => Err(other),
    }
}

/// Whether `kind` is a media type fit to pass on to a browser: `type/subtype`, a few
/// parameters, nothing else (a header cannot be smuggled through it).
fn is_media_type(kind: &str) -> bool {
    kind.len() <= 100
        && kind.contains('/')
        && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b"/+-.;= ".contains(&b))
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

/// The `sid` of a resource just created, read from its JSON `text` (answered with HTTP status
/// `status`) and checked to be one of `prefixes` (`CA`, `SM`…); `what` names it in the error of
/// an answer that holds none.
pub fn created_sid(
    status: u16,
    text: &str,
    prefixes: &[&str],
    what: &str,
) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct Created {
        sid: Option<String>,
    }
    match serde_json::from_str::<Created>(text).ok().and_then(|c| c.sid) {
        Some(sid) if is_sid(&sid, prefixes) => Ok(sid),
        _ => Err(ApiError::Unreachable(format!("HTTP {status} without {what}"))),
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
        assert!(matches!(
            account.stream("Recordings/RE1.mp3", 1024),
            Err(ApiError::Unreachable(_))
        ));
    }

    #[test]
    fn only_pages_of_the_account_are_followed() {
        // Nothing listens on port 9: a page that would be requested fails as unreachable
        // with the transport's words; one refused before says so.
        let account = Account::with_timeouts(
            "http://127.0.0.1:9",
            "AC0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcdef",
            &Secret::new("t".into()),
            Duration::from_millis(200),
            Duration::from_millis(500),
        );
        let root = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef";
        let refused = |uri: &str| {
            matches!(account.get_page(uri),
                Err(ApiError::Unreachable(why)) if why == "a next page outside the account")
        };
        for hostile in [
            String::new(),
            "https://evil.example/steal".into(),
            "//evil.example/2010-04-01/Accounts".into(),
            "/2010-04-01/Accounts/AC0000000000000000000000000000000/Queues.json".into(),
            root.to_owned(),
            format!("{root}/../../Accounts/ACx/Queues.json"),
            format!("{root}@evil.example/Queues.json"),
            format!("{root}/Queues.json?{}", "a".repeat(5000)),
        ] {
            assert!(refused(&hostile), "{hostile}");
        }
        assert!(!refused(&format!("{root}/Queues.json?PageSize=1000&Page=1&PageToken=PAQU1")));
    }

    #[test]
    fn a_deletion_of_what_is_gone_is_done() {
        let answer = Answer { status: 204, text: String::new() };
        assert_eq!(deleted(Ok(answer)), Ok(Deleted::Now));
        let gone = Err(ApiError::Refused { status: 404, code: 20404 });
        assert_eq!(deleted(gone), Ok(Deleted::AlreadyGone));
        let refused = ApiError::Refused { status: 400, code: 20001 };
        assert_eq!(deleted(Err(refused.clone())), Err(refused));
        let down = ApiError::Unreachable("HTTP 503".into());
        assert_eq!(deleted(Err(down.clone())), Err(down));
    }

    #[test]
    fn only_plain_media_types_are_passed_on() {
        for kind in ["audio/mpeg", "audio/x-wav", "audio/wav; charset=binary"] {
            assert!(is_media_type(kind), "{kind}");
        }
        let long = format!("audio/{}", "a".repeat(200));
        for kind in ["", "audio", "text/html\r\nSet-Cookie: a=b", "audio/mpeg<script>", &long] {
            assert!(!is_media_type(kind), "{kind}");
        }
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
