//! Twilio's Calls resource, as far as the hotline uses it: one outbound call that rings a
//! call-me operator's phone (`POST …/Calls.json`). When it is answered, Twilio fetches `Url`
//! for the call's TwiML, as for any call; its end (answered and over, or not answered, busy,
//! failed, canceled) is posted to `StatusCallback`.
//!
//! Blocking, like every request of the [`Account`]'s.

use std::sync::Arc;

use super::account::{self, Account, ApiError, is_sid};

/// Twilio's bounds of a ring's `Timeout`, in seconds (it rings up to 600 s; under 5 most
/// phones never ring).
const TIMEOUT_BOUNDS: (u32, u32) = (5, 600);

/// An outbound call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall<'a> {
    /// Who is called, `+E164`.
    pub to: &'a str,
    /// The number it comes from, `+E164`: one of the account's own.
    pub from: &'a str,
    /// The absolute URL whose TwiML runs once the call is answered (POSTed, signed).
    pub url: &'a str,
    /// The absolute URL told of the call's end (its `completed` event, whatever the
    /// outcome: `completed`, `busy`, `no-answer`, `failed`, `canceled`).
    pub status_callback: &'a str,
    /// Seconds it rings before it counts as not answered.
    pub ring_secs: u32,
}

/// An account's Calls resource.
#[derive(Debug, Clone)]
pub struct CallsApi {
    account: Arc<Account>,
}

impl CallsApi {
    /// The Calls resource of `account`.
    pub fn new(account: Arc<Account>) -> CallsApi {
        CallsApi { account }
    }

    /// Places `call`; Twilio's id of it (`CA…`), which every webhook of the call carries as
    /// `CallSid`.
    pub fn create(&self, call: &NewCall<'_>) -> Result<String, ApiError> {
        let (min, max) = TIMEOUT_BOUNDS;
        let timeout = call.ring_secs.clamp(min, max).to_string();
        let form = [
            ("To", call.to),
            ("From", call.from),
            ("Url", call.url),
            ("Method", "POST"),
            ("StatusCallback", call.status_callback),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "completed"),
            ("Timeout", timeout.as_str()),
        ];
        let answer = self.account.post("Calls.json", &form)?;
        created_sid(answer.status, &answer.text)
    }
}

/// The id in a created call's JSON, or why an answer with status `status` holds none.
fn created_sid(status: u16, text: &str) -> Result<String, ApiError> {
    account::created_sid(status, text, &["CA"], "a call's id")
}

/// Whether `sid` is shaped like a call's id: `CA` and 32 hex digits.
pub fn is_call_sid(sid: &str) -> bool {
    is_sid(sid, &["CA"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_call_is_read_for_its_id() {
        let created = r#"{"sid":"CA0123456789abcdef0123456789abcdef","status":"queued"}"#;
        assert_eq!(created_sid(201, created).unwrap(), "CA0123456789abcdef0123456789abcdef");
        for odd in [
            "",
            "{}",
            "null",
            r#"{"sid":null}"#,
            r#"{"sid":"CA<script>"}"#,
            r#"{"sid":"SM0123456789abcdef0123456789abcdef"}"#,
            r#"{"sid":"CA0123456789abcdef0123456789abcdef00"}"#,
        ] {
            assert!(matches!(created_sid(201, odd), Err(ApiError::Unreachable(_))), "{odd}");
        }
    }

    #[test]
    fn call_ids_are_twilios_shape() {
        assert!(is_call_sid("CA0123456789abcdef0123456789ABCDEF"));
        assert!(!is_call_sid("SM0123456789abcdef0123456789abcdef"));
        assert!(!is_call_sid("CA0123456789abcdef0123456789abcdeg"));
        assert!(!is_call_sid(""));
    }
}
