//! Talking to a test server as Telegram does: updates (built by the fake Bot API,
//! `telegram.rs`, exactly as Telegram sends them) posted to `/text/telegram` with the
//! webhook's secret token, and a server whose bot answers through that fake.

use ureq::Agent;

use super::telegram::FakeBotApi;
use super::{TELEGRAM_SECRET, TestApp};

/// A server with the Telegram bot on, answering through `fake`, its outbox paced fast
/// enough for tests (10 ms per chat instead of a second).
pub async fn chat_app(fake: &FakeBotApi) -> TestApp {
    let base = fake.base.clone();
    super::spawn_app_with(move |config| {
        config.telegram.enabled = true;
        config.telegram.api_base = base;
        config.outbox.per_chat_interval_ms = 10;
        config.outbox.per_second = 1000;
    })
    .await
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
            let agent: Agent = super::agent_config().build().new_agent();
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
