//! Talking to a test server as Telegram does: updates posted to `/text/telegram` with the
//! webhook's secret token, shaped exactly as the Bot API sends them (the sender's names and
//! username included, so tests can prove they are never kept).

use std::time::Duration;

use serde_json::{Value, json};
use ureq::Agent;

use super::{TELEGRAM_SECRET, TestApp};

/// The first name every test sender has: it must never reach the database or a log.
pub const SENDER_NAME: &str = "Vasiliy-Sender";
/// The username every test sender has: it must never reach the database or a log.
pub const SENDER_USERNAME: &str = "vasya_in_unit_4417";

fn sender(chat_id: i64) -> Value {
    json!({
        "id": chat_id,
        "is_bot": false,
        "first_name": SENDER_NAME,
        "username": SENDER_USERNAME,
        "language_code": "ru"
    })
}

/// An update carrying a text message from private chat `chat_id`.
pub fn text_update(update_id: i64, chat_id: i64, text: &str) -> String {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id + 1000,
            "from": sender(chat_id),
            "chat": { "id": chat_id, "first_name": SENDER_NAME, "username": SENDER_USERNAME,
                      "type": "private" },
            "date": 1_765_000_000,
            "text": text
        }
    })
    .to_string()
}

/// An update carrying a button pressed under bot message `message_id` in chat `chat_id`.
pub fn button_update(update_id: i64, chat_id: i64, message_id: i64, data: &str) -> String {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cb-{update_id}"),
            "from": sender(chat_id),
            "message": {
                "message_id": message_id,
                "from": { "id": 1, "is_bot": true, "first_name": "Hotline" },
                "chat": { "id": chat_id, "first_name": SENDER_NAME, "type": "private" },
                "date": 1_765_000_000,
                "text": "…"
            },
            "chat_instance": "-123",
            "data": data
        }
    })
    .to_string()
}

impl TestApp {
    /// Posts an update as Telegram does, with `secret` as the secret-token header (none:
    /// without the header). Returns the status and the body.
    pub async fn telegram_as(&self, body: String, secret: Option<&str>) -> (u16, String) {
        let url = format!("{}/text/telegram", self.base_url);
        let mut request = ureq::http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("Content-Type", "application/json");
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let request = request.body(body.into_bytes()).expect("a valid request");
        tokio::task::spawn_blocking(move || {
            let agent: Agent = Agent::config_builder()
                .http_status_as_error(false)
                .proxy(None)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .new_agent();
            let mut response = agent.run(request).expect("the server answers");
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            (status, text)
        })
        .await
        .unwrap()
    }

    /// Posts an update as Telegram does, with the right secret; it must be acknowledged.
    pub async fn telegram(&self, body: String) -> String {
        let (status, text) = self.telegram_as(body, Some(TELEGRAM_SECRET)).await;
        assert_eq!(status, 200, "the update was not acknowledged: {text}");
        text
    }
}
