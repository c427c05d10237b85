//! The text channels' surface: `POST /text/…`, one webhook per channel, each parsing its
//! channel's update once into a [`crate::domain::conversation::Inbound`] and handing it to
//! the conversation use cases (`app/conversations.rs`).
//!
//! The rule of this module mirrors the voice webhooks': a genuine update is acknowledged once
//! it is stored, and never lost. An update that cannot be stored (the database is down) is
//! answered `503`, so the channel delivers it again; an update that can never be handled (not
//! shaped like one) is acknowledged and dropped, since a redelivery would fail the same way.
//! Replies never leave from here: they go through the outbox, so a slow channel cannot hold
//! the next update up.

mod sms;
mod telegram;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;

use crate::app::App;
use crate::domain::secret::Secret;

/// What the text webhooks share.
pub struct TextChannels {
    /// The hotline.
    app: App,
    /// The secret token Telegram sends with each update (`setWebhook`'s `secret_token`);
    /// `None` when Telegram is not enabled.
    telegram_secret: Option<Secret>,
    /// What Twilio Messaging's webhook checks; `None` when `[sms]` is not enabled.
    twilio: Option<TwilioHook>,
}

/// What a Twilio webhook's signature is checked with.
struct TwilioHook {
    /// The account's auth token, the key of request signatures.
    auth_token: Secret,
    /// The base URL Twilio calls, without a trailing slash: the signed URL starts with it.
    public_url: String,
}

impl TwilioHook {
    /// Whether `signature` is Twilio's for this URL and form.
    fn verify(&self, url: &str, form: &[(String, String)], signature: &str) -> bool {
        crate::signature::verify(self.auth_token.expose().as_bytes(), url, form, signature)
    }
}

impl TextChannels {
    /// The text channels of `app`: Telegram when its webhook secret is given.
    pub fn new(app: App, telegram_secret: Option<Secret>) -> TextChannels {
        TextChannels { app, telegram_secret, twilio: None }
    }

    /// With Twilio Messaging's webhook, when `[sms]` is enabled: requests signed with
    /// `auth_token` (the voice webhooks' token) for URLs under `public_url`.
    pub fn with_twilio(mut self, auth_token: Secret, public_url: &str) -> TextChannels {
        if self.app.config().sms.enabled {
            let public_url = public_url.trim_end_matches('/').to_owned();
            self.twilio = Some(TwilioHook { auth_token, public_url });
        }
        self
    }
}

/// The routes of the text channels.
pub fn router(channels: Arc<TextChannels>) -> Router {
    Router::new()
        .route("/text/telegram", post(telegram::update))
        .route("/text/sms", post(sms::message))
        .with_state(channels)
}
