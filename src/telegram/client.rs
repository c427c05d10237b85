//! The Telegram Bot API, as far as the hotline calls it: sending, editing and deleting a
//! chat's messages, answering a button press, registering the webhook and reading it back.
//!
//! Blocking (`ureq`), so it runs on a blocking task. Every method POSTs JSON to
//! `{base}/bot{token}/{method}` and reads Telegram's answer, `{"ok":true,"result":…}` or
//! `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}`, into an
//! [`ApiError`] that says what the caller may do: wait, give up, or try again. The token is
//! part of every URL, so no error carries a URL or the token.

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};
use ureq::Agent;

use crate::domain::outbox::Button;
use crate::domain::secret::Secret;
use crate::outbound;

/// Telegram's own Bot API server.
pub const DEFAULT_BASE: &str = "https://api.telegram.org";
/// The updates the webhook asks for: messages and button presses, nothing else.
pub const ALLOWED_UPDATES: [&str; 2] = ["message", "callback_query"];
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer that is read: Telegram's answers to these methods are a few KiB.
const MAX_ANSWER_BYTES: u64 = 256 * 1024;
/// The longest description kept from a refusal.
const MAX_DESCRIPTION_CHARS: usize = 300;
/// The bounds of a `retry_after` taken from Telegram: a wait of at least a second, and never
/// one so long that a caller would hold a message for hours on a bad answer's word.
const RETRY_AFTER_BOUNDS: (u64, u64) = (1, 3600);

/// A client of one bot's Bot API.
pub struct BotApi {
    agent: Agent,
    base: String,
    token: Secret,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is the bot: it is never shown.
        f.debug_struct("BotApi").field("base", &self.base).finish_non_exhaustive()
    }
}

/// The webhook as Telegram has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookInfo {
    /// Where updates are sent; empty when no webhook is set.
    pub url: String,
    /// Updates waiting to be delivered.
    pub pending_update_count: u64,
    /// The last delivery's error, in Telegram's words.
    #[serde(default)]
    pub last_error_message: Option<String>,
    /// When that error happened (Unix time).
    #[serde(default)]
    pub last_error_date: Option<i64>,
}

/// Why a call did not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Flood control: try again after this long.
    #[error("Telegram asks to wait {} s before the next request (too many requests)", .0.as_secs())]
    RetryAfter(Duration),
    /// Telegram refused the request (`400 chat not found`, `403 bot was blocked by the
    /// user`, `401 Unauthorized`…): trying again would fail the same way.
    #[error("Telegram refused the request: {description} (error {code})")]
    Refused {
        /// Telegram's `error_code`.
        code: u16,
        /// Telegram's `description`, shortened.
        description: String,
    },
    /// No answer to act on (network error, timeout, 5xx, an answer that is not Telegram's):
    /// trying again later may work.
    #[error("the Bot API could not be reached: {0}")]
    Unreachable(String),
}

/// Telegram's answer to any method.
#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    result: Value,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<i64>,
}

/// The part of a sent `Message` that is kept.
#[derive(Deserialize)]
struct SentMessage {
    message_id: i64,
}

impl BotApi {
    /// A client of the bot whose token is `token`, at `base` (`https://api.telegram.org`, or
    /// a local Bot API server, or a test's fake), with the default timeouts.
    pub fn new(base: &str, token: Secret) -> BotApi {
        BotApi::with_timeouts(base, token, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// The same with other timeouts: a connection may take `connect`, a request `whole`.
    pub fn with_timeouts(base: &str, token: Secret, connect: Duration, whole: Duration) -> BotApi {
        let base = base.trim_end_matches('/').to_owned();
        let config = Agent::config_builder()
            // Telegram's refusals are JSON with a status: read them, not an error without body.
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(connect))
            .timeout_global(Some(whole))
            .max_idle_connections(outbound::KEPT_CONNECTIONS)
            .max_idle_connections_per_host(outbound::KEPT_CONNECTIONS)
            .proxy(outbound::proxy_for(&base))
            .build();
        BotApi { agent: outbound::agent(config), base, token }
    }

    /// Sends `text` to a chat, with rows of buttons under it; the new message's id.
    pub fn send_message(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<i64, ApiError> {
        let mut body = json!({ "chat_id": chat_id, "text": text });
        if !buttons.is_empty() {
            body["reply_markup"] = keyboard(buttons)?;
        }
        let sent: SentMessage = self.call("sendMessage", &body)?;
        Ok(sent.message_id)
    }

    /// Replaces the text and buttons of one of the bot's messages. An edit that changes
    /// nothing ("message is not modified") is a success: the message says what was asked.
    pub fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<(), ApiError> {
        // Always sent, empty or not: without it Telegram would keep the old buttons.
        let body = json!({
            "chat_id": chat_id,
            "message_id": message_id,
            "text": text,
            "reply_markup": keyboard(buttons)?,
        });
        match self.call::<IgnoredAny>("editMessageText", &body) {
            Err(ApiError::Refused { description, .. })
                if description.contains("message is not modified") =>
            {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Tells the person's app a button press was received (it shows a spinner until then).
    pub fn answer_callback_query(&self, callback_id: &str) -> Result<(), ApiError> {
        self.call::<IgnoredAny>("answerCallbackQuery", &json!({ "callback_query_id": callback_id }))
            .map(|_| ())
    }

    /// Deletes one of the chat's messages.
    pub fn delete_message(&self, chat_id: i64, message_id: i64) -> Result<(), ApiError> {
        self.call::<IgnoredAny>(
            "deleteMessage",
            &json!({ "chat_id": chat_id, "message_id": message_id }),
        )
        .map(|_| ())
    }

    /// Registers `url` as the webhook: Telegram sends `secret_token` in the
    /// `X-Telegram-Bot-Api-Secret-Token` header of every update, only messages and button
    /// presses, over at most `max_connections` connections. Pending updates are kept: each
    /// may be someone asking for help.
    pub fn set_webhook(
        &self,
        url: &str,
        secret_token: &str,
        max_connections: u32,
    ) -> Result<(), ApiError> {
        let body = json!({
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": ALLOWED_UPDATES,
            "max_connections": max_connections,
            "drop_pending_updates": false,
        });
        self.call::<IgnoredAny>("setWebhook", &body).map(|_| ())
    }

    /// The webhook as Telegram has it now.
    pub fn webhook_info(&self) -> Result<WebhookInfo, ApiError> {
        self.call("getWebhookInfo", &json!({}))
    }

    /// POSTs `body` to `method` and reads its `result` as `T`.
    fn call<T: DeserializeOwned>(&self, method: &str, body: &Value) -> Result<T, ApiError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose());
        let hide = |message: String| redact(&message, &url, self.token.expose());
        let sent =
            self.agent.post(&url).header("Content-Type", "application/json").send(body.to_string());
        let mut response =
            sent.map_err(|e| ApiError::Unreachable(hide(format!("{method}: {e}"))))?;
        let status = response.status().as_u16();
        let mut text = String::new();
        response.body_mut().as_reader().take(MAX_ANSWER_BYTES).read_to_string(&mut text).map_err(
            |e| ApiError::Unreachable(hide(format!("{method}: reading the answer: {e}"))),
        )?;
        let result = read_answer(status, &text).map_err(|e| match e {
            ApiError::Unreachable(reason) => {
                ApiError::Unreachable(hide(format!("{method}: {reason}")))
            }
            other => other,
        })?;
        serde_json::from_value(result).map_err(|_| {
            ApiError::Unreachable(format!("{method}: the result is not what the Bot API returns"))
        })
    }
}

/// Reads Telegram's answer with HTTP status `status`: its `result`, or why there is none.
fn read_answer(status: u16, text: &str) -> Result<Value, ApiError> {
    let Ok(answer) = serde_json::from_str::<Answer>(text) else {
        return Err(ApiError::Unreachable(format!(
            "HTTP {status} with an answer that is not the Bot API's"
        )));
    };
    if answer.ok && (200..300).contains(&status) {
        return Ok(answer.result);
    }
    let code = answer.error_code.and_then(|c| u16::try_from(c).ok()).unwrap_or(status);
    if code == 429 || status == 429 {
        let (min, max) = RETRY_AFTER_BOUNDS;
        let secs = answer
            .parameters
            .and_then(|p| p.retry_after)
            .map_or(min, |s| u64::try_from(s).unwrap_or(min).clamp(min, max));
        return Err(ApiError::RetryAfter(Duration::from_secs(secs)));
    }
    let description: String = answer
        .description
        .unwrap_or_else(|| format!("HTTP {status}"))
        .chars()
        .take(MAX_DESCRIPTION_CHARS)
        .collect();
    if code >= 500 || status >= 500 || answer.ok {
        return Err(ApiError::Unreachable(format!("{description} (error {code})")));
    }
    Err(ApiError::Refused { code, description })
}

/// The `reply_markup` of rows of buttons. Data Telegram would refuse is refused here with
/// its words, before anything is sent.
fn keyboard(rows: &[Vec<Button>]) -> Result<Value, ApiError> {
    let mut keyboard = Vec::with_capacity(rows.len());
    for row in rows {
        let mut buttons = Vec::with_capacity(row.len());
        for button in row {
            if button.data.is_empty() || button.data.len() > super::update::MAX_DATA_BYTES {
                return Err(ApiError::Refused {
                    code: 400,
                    description: "Bad Request: BUTTON_DATA_INVALID (checked before sending: a \
                                  button's data must be 1 to 64 bytes)"
                        .into(),
                });
            }
            buttons.push(json!({ "text": button.text, "callback_data": button.data }));
        }
        keyboard.push(Value::Array(buttons));
    }
    Ok(json!({ "inline_keyboard": keyboard }))
}

/// `message` without the URL or the token anywhere in it.
fn redact(message: &str, url: &str, token: &str) -> String {
    let without_url = message.replace(url, "[Bot API URL]");
    if token.is_empty() { without_url } else { without_url.replace(token, "[token]") }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::outbox::MOST_IN_FLIGHT;

    fn button(text: &str, data: &str) -> Button {
        Button { text: text.into(), data: data.into(), key: None }
    }

    #[test]
    fn buttons_are_an_inline_keyboard_of_rows() {
        let rows = vec![
            vec![button("Українська", "lang:uk"), button("Русский", "lang:ru")],
            vec![button("Back", "back")],
        ];
        assert_eq!(
            keyboard(&rows).unwrap(),
            json!({ "inline_keyboard": [
                [{ "text": "Українська", "callback_data": "lang:uk" },
                 { "text": "Русский", "callback_data": "lang:ru" }],
                [{ "text": "Back", "callback_data": "back" }],
            ]})
        );
        assert_eq!(keyboard(&[]).unwrap(), json!({ "inline_keyboard": [] }));
    }

    #[test]
    fn button_data_telegram_would_refuse_is_refused_before_sending() {
        let at_limit = "é".repeat(32);
        assert!(keyboard(&[vec![button("ok", &at_limit)]]).is_ok());
        for data in ["", &"x".repeat(65), &"é".repeat(33)] {
            let error =
                keyboard(&[vec![button("ok", "fine")], vec![button("x", data)]]).unwrap_err();
            assert!(
                matches!(&error, ApiError::Refused { code: 400, description } if description.contains("BUTTON_DATA_INVALID")),
                "{data:?}: {error:?}"
            );
        }
    }

    #[test]
    fn answers_are_read_as_telegram_writes_them() {
        let ok = r#"{"ok":true,"result":{"message_id":42,"chat":{"id":1,"type":"private"},"date":1,"text":"hi"}}"#;
        assert_eq!(read_answer(200, ok).unwrap()["message_id"], 42);
        assert_eq!(read_answer(200, r#"{"ok":true,"result":true}"#).unwrap(), json!(true));

        let flood = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        assert_eq!(read_answer(429, flood), Err(ApiError::RetryAfter(Duration::from_secs(7))));
        let flood = r#"{"ok":false,"error_code":429,"description":"Too Many Requests"}"#;
        assert_eq!(read_answer(429, flood), Err(ApiError::RetryAfter(Duration::from_secs(1))));
        for (retry_after, secs) in [("-5", 1), ("0", 1), ("99999999999", 3600)] {
            let flood = format!(
                r#"{{"ok":false,"error_code":429,"description":"x","parameters":{{"retry_after":{retry_after}}}}}"#
            );
            assert_eq!(
                read_answer(429, &flood),
                Err(ApiError::RetryAfter(Duration::from_secs(secs)))
            );
        }

        let blocked = r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        assert_eq!(
            read_answer(403, blocked),
            Err(ApiError::Refused {
                code: 403,
                description: "Forbidden: bot was blocked by the user".into()
            })
        );
        let unauthorized = r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#;
        assert!(matches!(read_answer(401, unauthorized), Err(ApiError::Refused { code: 401, .. })));
        let huge =
            format!(r#"{{"ok":false,"error_code":400,"description":"{}"}}"#, "x".repeat(100_000));
        match read_answer(400, &huge) {
            Err(ApiError::Refused { description, .. }) => {
                assert_eq!(description.len(), MAX_DESCRIPTION_CHARS)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_is_not_a_refusal_is_worth_trying_again() {
        for (status, text) in [
            (500, r#"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#),
            (502, "<html><body>502 Bad Gateway</body></html>"),
            (200, ""),
            (200, "not json"),
            (200, r#"{"result":true}"#),
            (404, "Not Found"),
            (302, r#"{"ok":true,"result":true}"#),
        ] {
            assert!(
                matches!(read_answer(status, text), Err(ApiError::Unreachable(_))),
                "{status} {text}"
            );
        }
    }

    #[test]
    fn errors_never_carry_the_token_or_the_url() {
        let token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        let url = format!("https://api.telegram.org/bot{token}/sendMessage");
        let message = format!("sendMessage: bad uri {url}: connection refused ({token})");
        let shown = redact(&message, &url, token);
        assert!(!shown.contains(token) && !shown.contains("AAHdq"), "{shown}");
        assert!(shown.contains("connection refused"), "{shown}");
    }

    #[test]
    fn the_client_never_shows_its_token() {
        let api = BotApi::new("https://api.telegram.org/", Secret::new("123:AAHdqTcvCH1v".into()));
        let shown = format!("{api:?}");
        assert_eq!(shown, "BotApi { base: \"https://api.telegram.org\", .. }");
    }

    /// A Bot API on loopback that answers every `sendMessage` after `delay`, keeping each
    /// connection open as Telegram does, and counts the connections it accepted.
    fn counting_bot_api(delay: Duration) -> (String, std::sync::Arc<AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut length = 0;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap();
                            }
                        }
                        reader.read_exact(&mut vec![0; length]).unwrap();
                        std::thread::sleep(delay);
                        let body = r#"{"ok":true,"result":{"message_id":7,"date":1,"chat":{"id":1,"type":"private"}}}"#;
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (base, accepted)
    }

    #[test]
    fn the_outbox_s_sends_at_once_reuse_their_connections() {
        let (base, accepted) = counting_bot_api(Duration::from_millis(20));
        let api = std::sync::Arc::new(BotApi::new(&base, Secret::new("1:token".into())));
        // Rounds of sends all at once: between two, every connection is idle together.
        let round = std::sync::Arc::new(std::sync::Barrier::new(MOST_IN_FLIGHT));
        let senders: Vec<_> = (0..MOST_IN_FLIGHT)
            .map(|chat| {
                let (api, round) = (std::sync::Arc::clone(&api), std::sync::Arc::clone(&round));
                std::thread::spawn(move || {
                    for _ in 0..4 {
                        round.wait();
                        assert_eq!(api.send_message(chat as i64, "hi", &[]).unwrap(), 7);
                    }
                })
            })
            .collect();
        senders.into_iter().for_each(|sender| sender.join().unwrap());
        // As many sends at once as the outbox makes keep their connections between rounds:
        // ureq's default pool of 3 opened about 29 more each round.
        let opened = accepted.load(Ordering::SeqCst);
        assert!(opened <= MOST_IN_FLIGHT, "{opened} connections for {MOST_IN_FLIGHT} at once");
    }
}
