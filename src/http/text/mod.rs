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
}

impl TextChannels {
    /// The text channels of `app`: Telegram when its webhook secret is given.
    pub fn new(app: App, telegram_secret: Option<Secret>) -> TextChannels {
        TextChannels { app, telegram_secret }
    }
}

/// The routes of the text channels.
pub fn router(channels: Arc<TextChannels>) -> Router {
    Router::new().route("/text/telegram", post(telegram::update)).with_state(channels)
}
