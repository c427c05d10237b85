//! An update Telegram posts to the webhook, parsed once at the edge into the little the
//! hotline acts on: a text, a button pressed, or something else to acknowledge.
//!
//! Only the fields named here are read; the rest of Telegram's objects (the sender's names,
//! username, language, profile) are skipped by the parser without ever being kept in memory.
//! A chat id is the address a reply goes to, as sensitive as a phone number: [`Update`]'s
//! `Debug` hides it, and the text, so neither can reach a log line by accident.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The largest body accepted as an update; the caller refuses larger ones before parsing.
pub const MAX_UPDATE_BYTES: usize = 64 * 1024;
/// The longest text taken as a message: Telegram's own limit on a message's text.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The longest button data: Telegram's limit on `callback_data`.
pub const MAX_DATA_BYTES: usize = 64;
/// The header carrying the secret token given to `setWebhook`.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// One update from Telegram.
#[derive(Clone, PartialEq, Eq)]
pub struct Update {
    /// Telegram's sequence number of the update, to recognise one delivered twice.
    pub update_id: i64,
    /// What happened.
    pub kind: UpdateKind,
}

/// What an update is about.
#[derive(Clone, PartialEq, Eq)]
pub enum UpdateKind {
    /// A text message in a private chat. `chat_id` is the reply address (sensitive!).
    Text {
        /// The chat to answer in.
        chat_id: i64,
        /// The message, in that chat.
        message_id: i64,
        /// What the person wrote, at most [`MAX_TEXT_CHARS`].
        text: String,
    },
    /// A button pressed: answer with answerCallbackQuery(callback_id) always.
    Button {
        /// The chat to answer in.
        chat_id: i64,
        /// The bot's message that carries the button.
        message_id: i64,
        /// What answerCallbackQuery is given, so the person's app stops waiting.
        callback_id: String,
        /// The button's data, at most [`MAX_DATA_BYTES`].
        data: String,
    },
    /// Anything else we do not handle (stickers, photos, edited messages, group chats, …):
    /// acknowledged and ignored, but the chat gets a short "please write text" answer if
    /// private.
    Other {
        /// The private chat it came from, if it came from one.
        chat_id: Option<i64>,
    },
}

/// Why a body is not an update. Says what was wrong, never what the body held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// Larger than [`MAX_UPDATE_BYTES`].
    #[error("the update is {0} bytes, over the limit of {MAX_UPDATE_BYTES}")]
    TooLarge(usize),
    /// Not JSON at all, or cut short.
    #[error("the update is not JSON (syntax error at line {line}, column {column})")]
    NotJson {
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
    },
    /// JSON, but not shaped like an update (no `update_id`, a chat id that is not a number…).
    #[error(
        "the update is JSON but not shaped like a Telegram update (line {line}, column {column})"
    )]
    NotAnUpdate {
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
    },
}

impl Update {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<Update, UpdateError> {
        if body.len() > MAX_UPDATE_BYTES {
            return Err(UpdateError::TooLarge(body.len()));
        }
        // serde_json's own messages quote the offending value: only its position is kept.
        let raw: RawUpdate = serde_json::from_slice(body).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            if e.is_data() {
                UpdateError::NotAnUpdate { line, column }
            } else {
                UpdateError::NotJson { line, column }
            }
        })?;
        Ok(Update { update_id: raw.update_id, kind: raw.kind() })
    }
}

/// Whether the secret-token header Telegram sent is `expected`, compared in constant time.
///
/// Like the provider's signatures (`signature.rs`), the comparison is `hmac`'s
/// `verify_slice`: both values are first reduced to MACs of one length under a fixed key, so
/// neither where they differ nor how long the expected value is shows in the time taken. An
/// empty expected value matches nothing.
pub fn secret_matches(expected: &str, header: Option<&[u8]>) -> bool {
    let Some(header) = header else { return false };
    if expected.is_empty() {
        return false;
    }
    let mac = |value: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hotline telegram webhook secret")
            .expect("HMAC accepts a key of any length");
        mac.update(value);
        mac
    };
    let expected = mac(expected.as_bytes()).finalize().into_bytes();
    mac(header).verify_slice(&expected).is_ok()
}

impl fmt::Debug for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("update_id", &self.update_id)
            .field("kind", &self.kind)
            .finish()
    }
}

/// Stands for a chat id in `Debug`.
struct Hidden;

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// Stands for a person's text in `Debug`: only its length.
struct Length(usize);

impl fmt::Debug for Length {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} chars]", self.0)
    }
}

impl fmt::Debug for UpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateKind::Text { message_id, text, .. } => f
                .debug_struct("Text")
                .field("chat_id", &Hidden)
                .field("message_id", message_id)
                .field("text", &Length(text.chars().count()))
                .finish(),
            // The data is the bot's own (a node of the script), but a forged update could put
            // anything there.
            UpdateKind::Button { message_id, data, .. } => f
                .debug_struct("Button")
                .field("chat_id", &Hidden)
                .field("message_id", message_id)
                .field("callback_id", &Hidden)
                .field("data", &Length(data.chars().count()))
                .finish(),
            UpdateKind::Other { chat_id } => {
                f.debug_struct("Other").field("chat_id", &chat_id.map(|_| Hidden)).finish()
            }
        }
    }
}

// Telegram's objects, reduced to the fields read. Unknown fields are skipped by serde.

#[derive(Deserialize)]
struct RawUpdate {
    update_id: i64,
    message: Option<RawMessage>,
    callback_query: Option<RawCallback>,
}

#[derive(Deserialize)]
struct RawMessage {
    message_id: i64,
    chat: RawChat,
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawChat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawCallback {
    id: String,
    /// Absent when the button was on a message sent in inline mode, which the bot never does.
    message: Option<RawMessage>,
    /// Absent for a game's button.
    data: Option<String>,
}

impl RawChat {
    /// The chat's id if it is a one-to-one chat with a person.
    fn private(&self) -> Option<i64> {
        (self.kind == "private").then_some(self.id)
    }
}

impl RawUpdate {
    fn kind(self) -> UpdateKind {
        if let Some(message) = self.message {
            let chat_id = message.chat.private();
            return match (chat_id, message.text) {
                (Some(chat_id), Some(text))
                    if !text.is_empty() && text.chars().count() <= MAX_TEXT_CHARS =>
                {
                    UpdateKind::Text { chat_id, message_id: message.message_id, text }
                }
                _ => UpdateKind::Other { chat_id },
            };
        }
        if let Some(callback) = self.callback_query {
            let Some(message) = callback.message else {
                return UpdateKind::Other { chat_id: None };
            };
            let chat_id = message.chat.private();
            return match (chat_id, callback.data) {
                (Some(chat_id), Some(data))
                    if !data.is_empty()
                        && data.len() <= MAX_DATA_BYTES
                        && !callback.id.is_empty() =>
                {
                    UpdateKind::Button {
                        chat_id,
                        message_id: message.message_id,
                        callback_id: callback.id,
                        data,
                    }
                }
                _ => UpdateKind::Other { chat_id },
            };
        }
        // Edited messages, channel posts, member changes…: not asked for, nothing to answer.
        UpdateKind::Other { chat_id: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person as Telegram describes them, with the names the hotline must never keep.
    const FROM: &str = r#"{"id":424242,"is_bot":false,"first_name":"Olena","last_name":"K","username":"olena_k","language_code":"uk"}"#;

    fn message(chat_type: &str, content: &str) -> String {
        format!(
            r#"{{"update_id":77,"message":{{"message_id":9,"from":{FROM},"chat":{{"id":424242,"first_name":"Olena","username":"olena_k","type":"{chat_type}"}},"date":1700000000,{content}}}}}"#
        )
    }

    fn button(data: &str) -> String {
        format!(
            r#"{{"update_id":78,"callback_query":{{"id":"4382bfdwdsb323b2d9","from":{FROM},"message":{{"message_id":12,"from":{{"id":1,"is_bot":true,"first_name":"Hotline"}},"chat":{{"id":424242,"type":"private"}},"date":1700000000,"text":"Menu"}},"chat_instance":"-512","data":{data}}}}}"#
        )
    }

    #[test]
    fn a_private_text_is_a_text() {
        let update =
            Update::parse(message("private", r#""text":"Мне нужна помощь""#).as_bytes()).unwrap();
        assert_eq!(update.update_id, 77);
        assert_eq!(
            update.kind,
            UpdateKind::Text {
                chat_id: 424242, message_id: 9, text: "Мне нужна помощь".into()
            }
        );
    }

    #[test]
    fn a_button_is_a_button() {
        let update = Update::parse(button(r#""lang:uk""#).as_bytes()).unwrap();
        assert_eq!(
            update.kind,
            UpdateKind::Button {
                chat_id: 424242,
                message_id: 12,
                callback_id: "4382bfdwdsb323b2d9".into(),
                data: "lang:uk".into()
            }
        );
    }

    #[test]
    fn what_is_not_handled_is_other_and_answered_only_in_private() {
        let photo =
            r#""photo":[{"file_id":"AgAD","file_unique_id":"AQAD","width":90,"height":51}]"#;
        let long = format!(r#""text":"{}""#, "я".repeat(MAX_TEXT_CHARS + 1));
        let cases = [
            (message("private", photo), Some(424242)),
            (message("private", r#""sticker":{"file_id":"x"}"#), Some(424242)),
            (message("private", r#""text":"""#), Some(424242)),
            (message("private", &long), Some(424242)),
            (message("group", r#""text":"hi""#), None),
            (message("supergroup", r#""text":"hi""#), None),
            (message("channel", r#""text":"hi""#), None),
            (message("Private", r#""text":"hi""#), None),
            (button(&format!("\"{}\"", "x".repeat(MAX_DATA_BYTES + 1))), Some(424242)),
            (button(r#""""#), Some(424242)),
            (button("null"), Some(424242)),
            (
                r#"{"update_id":5,"edited_message":{"message_id":1,"chat":{"id":3,"type":"private"},"text":"x"}}"#.into(),
                None,
            ),
            (r#"{"update_id":5,"callback_query":{"id":"q","inline_message_id":"i","data":"d"}}"#.into(), None),
            (r#"{"update_id":5}"#.into(), None),
        ];
        for (body, chat_id) in cases {
            let update = Update::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
            assert_eq!(update.kind, UpdateKind::Other { chat_id }, "{body}");
        }
        // Exactly at the limits is still taken.
        let at_limit = format!(r#""text":"{}""#, "я".repeat(MAX_TEXT_CHARS));
        let update = Update::parse(message("private", &at_limit).as_bytes()).unwrap();
        assert!(matches!(update.kind, UpdateKind::Text { .. }));
        let data = format!("\"{}\"", "é".repeat(MAX_DATA_BYTES / 2));
        assert!(matches!(
            Update::parse(button(&data).as_bytes()).unwrap().kind,
            UpdateKind::Button { .. }
        ));
    }

    #[test]
    fn wrong_empty_huge_and_hostile_bodies_are_refused_without_echo() {
        let secret = "424242-secret-text";
        let huge = format!(r#"{{"update_id":1,"message":{{"text":"{}"}}}}"#, "a".repeat(70_000));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "not JSON"),
            (b"   ".to_vec(), "not JSON"),
            (b"update_id=1".to_vec(), "not JSON"),
            (b"{\"update_id\":1".to_vec(), "not JSON"),
            (b"[]".to_vec(), "not shaped"),
            (b"null".to_vec(), "not shaped"),
            (format!(r#"{{"message":{{"text":"{secret}"}}}}"#).into_bytes(), "not shaped"),
            (format!(r#"{{"update_id":"{secret}"}}"#).into_bytes(), "not shaped"),
            (
                format!(r#"{{"update_id":1,"message":{{"message_id":1,"chat":{{"id":"{secret}","type":"private"}}}}}}"#)
                    .into_bytes(),
                "not shaped",
            ),
            (b"{\"update_id\":99999999999999999999999}".to_vec(), "not shaped"),
            (vec![0xff, 0xfe, b'{'], "not JSON"),
            (huge.into_bytes(), "over the limit"),
        ];
        for (body, expected) in cases {
            let error = Update::parse(&body).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains(secret) && !error.contains("aaaa"), "{error}");
        }
    }

    #[test]
    fn debug_shows_neither_chat_ids_nor_texts() {
        let text =
            Update::parse(message("private", r#""text":"call me on +380501234567""#).as_bytes())
                .unwrap();
        let shown =
            format!("{text:?} {:?}", Update::parse(button(r#""lang:uk""#).as_bytes()).unwrap());
        assert!(
            shown.contains("chat_id: [hidden]") && shown.contains("text: [24 chars]"),
            "{shown}"
        );
        for private in ["424242", "380501234567", "4382bfdwdsb323b2d9", "lang:uk"] {
            assert!(!shown.contains(private), "{private} in {shown}");
        }
        let other = format!("{:?}", UpdateKind::Other { chat_id: Some(424242) });
        assert_eq!(other, "Other { chat_id: Some([hidden]) }");
    }

    #[test]
    fn the_secret_must_match_exactly() {
        let secret = "s3cr3t_Token-value";
        assert!(secret_matches(secret, Some(secret.as_bytes())));
        for wrong in [
            &b""[..],
            b"s3cr3t_Token-valu",
            b"s3cr3t_Token-value ",
            b"S3CR3T_TOKEN-VALUE",
            b"s3cr3t_Token-value\0",
            &[0xff; 300],
        ] {
            assert!(!secret_matches(secret, Some(wrong)), "{wrong:?}");
        }
        assert!(!secret_matches(secret, None));
        assert!(!secret_matches("", Some(b"")), "an empty secret protects nothing");
    }
}
