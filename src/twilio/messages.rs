//! Twilio's Messages resource, as far as the hotline uses it: one message of free text
//! (`Body`) created per call, from the configured number or Messaging Service.
//!
//! Blocking (`ureq`), so it runs on a blocking task. The account SID and auth token are sent
//! as HTTP basic authentication. Twilio's refusals are JSON, `{"code":…, "message":…,
//! "status":…}`: only the numeric code is kept, since the message can quote the recipient's
//! number. No error carries the URL, the token, the recipient or the text.

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use ureq::Agent;

use crate::domain::secret::Secret;

/// The most characters Twilio takes in one message's `Body`; a longer text is split by the
/// caller (segments below it are the carrier's business).
pub const MAX_BODY_CHARS: usize = 1600;
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer that is read: a created message's JSON is about 1 KiB.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// The wait after a `429` that names none, and the bounds of one it names.
const RETRY_AFTER_BOUNDS: (u64, u64) = (1, 3600);

/// Who a message is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A phone number (`+E164`), or a WhatsApp sender (`whatsapp:+E164`).
    From(String),
    /// A Messaging Service (`MG…`), which picks the sender itself.
    Service(String),
}

/// Why a message was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Too many requests: try again after this long.
    #[error("Twilio asks to wait {} s (too many requests)", .0.as_secs())]
    RetryAfter(Duration),
    /// Twilio refused the message (a wrong number, an opted-out recipient, outside
    /// WhatsApp's 24-hour window…): trying again would fail the same way.
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

/// A Twilio account's Messages resource.
pub struct MessagesApi {
    agent: Agent,
    /// `{base}/2010-04-01/Accounts/{sid}/Messages.json`.
    url: String,
    /// `Basic base64(sid:token)`.
    authorization: Secret,
}

impl std::fmt::Debug for MessagesApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authorization is the account: never shown.
        f.debug_struct("MessagesApi").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The part of Twilio's answer that is read.
#[derive(Deserialize)]
struct Answer {
    sid: Option<String>,
    code: Option<u32>,
}

impl MessagesApi {
    /// The Messages resource of account `account_sid` (authenticated by `auth_token`) at
    /// `base` (`https://api.twilio.com`, or a test's fake).
    pub fn new(base: &str, account_sid: &str, auth_token: &Secret) -> MessagesApi {
        MessagesApi::with_timeouts(base, account_sid, auth_token, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// The same with other timeouts: a connection may take `connect`, a request `whole`.
    pub fn with_timeouts(
        base: &str,
        account_sid: &str,
        auth_token: &Secret,
        connect: Duration,
        whole: Duration,
    ) -> MessagesApi {
        let base = base.trim_end_matches('/');
        let url = format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json");
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
        MessagesApi {
            agent: config.build().new_agent(),
            url,
            authorization: Secret::new(format!("Basic {credentials}")),
        }
    }

    /// Creates one message saying `text` (at most [`MAX_BODY_CHARS`]) to `to` (`+E164` or
    /// `whatsapp:+E164`) from `sender`; Twilio's id of it (`SM…`).
    pub fn send(&self, to: &str, sender: &Sender, text: &str) -> Result<String, ApiError> {
        self.create(to, sender, ("Body", text))
    }

    /// Creates one message from the pre-approved Content template `content_sid` (`HX…`), as
    /// WhatsApp requires outside its 24-hour window; Twilio's id of it.
    pub fn send_template(
        &self,
        to: &str,
        sender: &Sender,
        content_sid: &str,
    ) -> Result<String, ApiError> {
        self.create(to, sender, ("ContentSid", content_sid))
    }

    /// POSTs a Message resource with `content` (its body, or its template).
    fn create(&self, to: &str, sender: &Sender, content: (&str, &str)) -> Result<String, ApiError> {
        let mut form: Vec<(&str, &str)> = vec![("To", to)];
        match sender {
            Sender::From(from) => form.push(("From", from)),
            Sender::Service(sid) => form.push(("MessagingServiceSid", sid)),
        }
        form.push(content);
        let sent = self
            .agent
            .post(&self.url)
            .header("Authorization", self.authorization.expose())
            .send_form(form);
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
        read_answer(status, retry_after, &text)
    }
}

/// Reads Twilio's answer with HTTP status `status` (and its `Retry-After`, in seconds): the
/// created message's id, or why there is none.
fn read_answer(status: u16, retry_after: Option<u64>, text: &str) -> Result<String, ApiError> {
    let answer = serde_json::from_str::<Answer>(text).ok();
    if status == 429 {
        let (min, max) = RETRY_AFTER_BOUNDS;
        let secs = retry_after.map_or(min, |secs| secs.clamp(min, max));
        return Err(ApiError::RetryAfter(Duration::from_secs(secs)));
    }
    if status >= 500 {
        return Err(ApiError::Unreachable(format!("HTTP {status}")));
    }
    if (200..300).contains(&status) {
        return match answer.and_then(|a| a.sid) {
            Some(sid) if is_message_sid(&sid) => Ok(sid),
            _ => Err(ApiError::Unreachable(format!("HTTP {status} without a message's id"))),
        };
    }
    if (400..500).contains(&status) {
        let code = answer.and_then(|a| a.code).unwrap_or_default();
        return Err(ApiError::Refused { status, code });
    }
    Err(ApiError::Unreachable(format!("HTTP {status}")))
}

/// Whether `sid` is shaped like a message's id: `SM` or `MM` and 32 hex digits.
pub fn is_message_sid(sid: &str) -> bool {
    sid.len() == 34
        && (sid.starts_with("SM") || sid.starts_with("MM"))
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
    fn answers_become_what_the_caller_may_do() {
        let created = r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}"#;
        assert_eq!(read_answer(201, None, created).unwrap(), "SM0123456789abcdef0123456789abcdef");
        let refusal = r#"{"code":63016,"message":"Failed to send freeform message because you are outside the allowed window. +15005550006","status":400}"#;
        let refused = read_answer(400, None, refusal).unwrap_err();
        assert_eq!(refused, ApiError::Refused { status: 400, code: 63016 });
        // Only the code is kept: the message quoted the number.
        assert!(!refused.to_string().contains("+1500"), "{refused}");
        assert_eq!(
            read_answer(429, Some(7), "{}").unwrap_err(),
            ApiError::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            read_answer(429, None, "").unwrap_err(),
            ApiError::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            read_answer(429, Some(u64::MAX), "").unwrap_err(),
            ApiError::RetryAfter(Duration::from_secs(3600))
        );
        assert!(matches!(read_answer(503, None, "<html>"), Err(ApiError::Unreachable(_))));
        assert_eq!(
            read_answer(401, None, "not json").unwrap_err(),
            ApiError::Refused { status: 401, code: 0 }
        );
        for odd in ["", "{}", r#"{"sid":"x"}"#, r#"{"sid":"SM<script>"}"#] {
            assert!(matches!(read_answer(201, None, odd), Err(ApiError::Unreachable(_))), "{odd}");
        }
        assert!(matches!(read_answer(302, None, ""), Err(ApiError::Unreachable(_))));
    }

    #[test]
    fn message_ids_are_twilios_shape() {
        assert!(is_message_sid("SM0123456789abcdef0123456789abcdef"));
        assert!(is_message_sid("MM0123456789ABCDEF0123456789abcdef"));
        for bad in
            ["", "SM", "CA0123456789abcdef0123456789abcdef", "SM0123456789abcdef0123456789abcdeg"]
        {
            assert!(!is_message_sid(bad), "{bad}");
        }
        assert!(!is_message_sid(&format!("SM{}", "é".repeat(16))));
    }

    #[test]
    fn a_server_that_is_not_there_may_be_tried_again() {
        // Port 9 (discard) on loopback: nothing listens in a test environment.
        let api = MessagesApi::with_timeouts(
            "http://127.0.0.1:9",
            "AC0123456789abcdef0123456789abcdef",
            &Secret::new("t".into()),
            Duration::from_millis(200),
            Duration::from_millis(500),
        );
        let sender = Sender::From("+12025550100".into());
        match api.send("+12025550123", &sender, "hello") {
            Err(ApiError::Unreachable(why)) => assert!(!why.contains("2025550123"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_account_is_never_printed() {
        let api = MessagesApi::new(
            "http://127.0.0.1:1",
            "AC0123456789abcdef0123456789abcdef",
            &Secret::new("very-secret-token".into()),
        );
        let printed = format!("{api:?}");
        assert!(!printed.contains("very-secret") && !printed.contains("Basic"), "{printed}");
    }
}
