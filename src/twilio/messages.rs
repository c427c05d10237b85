//! Twilio's Messages resource, as far as the hotline uses it: one message of free text
//! (`Body`) created per call, from the configured number or Messaging Service.
//!
//! Blocking, like every request of the [`Account`]'s.

use std::sync::Arc;

use super::account::{self, Account, ApiError, is_sid};

/// The most characters Twilio takes in one message's `Body`; a longer text is split by the
/// caller (segments below it are the carrier's business).
pub const MAX_BODY_CHARS: usize = 1600;

/// Who a message is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A phone number (`+E164`), or a WhatsApp sender (`whatsapp:+E164`).
    From(String),
    /// A Messaging Service (`MG…`), which picks the sender itself.
    Service(String),
}

/// An account's Messages resource.
#[derive(Debug, Clone)]
pub struct MessagesApi {
    account: Arc<Account>,
}

impl MessagesApi {
    /// The Messages resource of `account`.
    pub fn new(account: Arc<Account>) -> MessagesApi {
        MessagesApi { account }
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
        let answer = self.account.post("Messages.json", &form)?;
        created_sid(answer.status, &answer.text)
    }
}

/// The id in a created message's JSON, or why an answer with status `status` holds none.
fn created_sid(status: u16, text: &str) -> Result<String, ApiError> {
    account::created_sid(status, text, &["SM", "MM"], "a message's id")
}

/// Whether `sid` is shaped like a message's id: `SM` or `MM` and 32 hex digits.
pub fn is_message_sid(sid: &str) -> bool {
    is_sid(sid, &["SM", "MM"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_message_is_read_for_its_id() {
        let created = r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}"#;
        assert_eq!(created_sid(201, created).unwrap(), "SM0123456789abcdef0123456789abcdef");
        for odd in [
            "",
            "{}",
            r#"{"sid":"x"}"#,
            r#"{"sid":"SM<script>"}"#,
            r#"{"sid":"CA0123456789abcdef0123456789abcdef"}"#,
        ] {
            assert!(matches!(created_sid(201, odd), Err(ApiError::Unreachable(_))), "{odd}");
        }
    }

    #[test]
    fn message_ids_are_twilios_shape() {
        assert!(is_message_sid("SM0123456789abcdef0123456789abcdef"));
        assert!(is_message_sid("MM0123456789ABCDEF0123456789abcdef"));
        assert!(!is_message_sid("CA0123456789abcdef0123456789abcdef"));
    }
}
