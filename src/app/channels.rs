//! How the outbox's messages reach the people writing: a [`Deliver`] per text channel, and
//! the workers started for the channels that are on.
//!
//! A delivery opens the message's sealed reply address (bound to its conversation's id, so an
//! address copied onto another conversation's row opens to nothing), makes one request to the
//! channel, and reports the channel's answer in the outbox's terms. The address lives only in
//! this function's stack; failures are reported by code, never with the address or the text.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::app::messaging::MessagingDelivery;
use crate::app::{App, Deliver};
use crate::domain::cases::CallSid;
use crate::domain::conversation::Channel;
use crate::domain::outbox::{Delivery, OutAction, Outgoing};
use crate::domain::secret::Secret;
use crate::telegram::client::{ApiError, BotApi};

/// Telegram's Bot API as the outbox's channel.
pub struct TelegramDelivery {
    app: App,
    api: BotApi,
}

impl TelegramDelivery {
    /// Delivers through the bot whose token is `token`, at the configured Bot API.
    pub fn new(app: App, token: Secret) -> TelegramDelivery {
        let api = BotApi::new(&app.config().telegram.api_base, token);
        TelegramDelivery { app, api }
    }

    /// The chat a message goes to, opened from its sealed address.
    fn chat_id(&self, out: &Outgoing) -> Option<i64> {
        let call = CallSid::parse(&out.chat_key)?;
        let address =
            self.app.sealer().open_address(Channel::Telegram, &out.address_sealed, &call)?;
        address.expose().parse().ok()
    }
}

impl Deliver for TelegramDelivery {
    fn deliver(&self, out: &Outgoing) -> Delivery {
        let Some(chat_id) = self.chat_id(out) else {
            return Delivery::Refused("the reply address could not be opened".into());
        };
        let target = || out.target_provider_id.as_deref().and_then(|id| id.parse::<i64>().ok());
        let result = match &out.action {
            OutAction::Send { text, buttons } => {
                self.api.send_message(chat_id, text, buttons).map(|id| Some(id.to_string()))
            }
            OutAction::Edit { text, buttons, .. } => match target() {
                Some(message_id) => self
                    .api
                    .edit_message_text(chat_id, message_id, text, buttons)
                    .map(|()| out.target_provider_id.clone()),
                // The message to change never reached the phone: send it whole instead.
                None => {
                    self.api.send_message(chat_id, text, buttons).map(|id| Some(id.to_string()))
                }
            },
            OutAction::Delete { .. } => match target() {
                Some(message_id) => self.api.delete_message(chat_id, message_id).map(|()| None),
                None => Ok(None),
            },
            OutAction::Forget { message_id } => match message_id.parse::<i64>() {
                Ok(message_id) => self.api.delete_message(chat_id, message_id).map(|()| None),
                Err(_) => Ok(None),
            },
            // Telegram takes free text at any time: no template is ever needed there.
            OutAction::Template { .. } => {
                return Delivery::Refused("Telegram has no templates".into());
            }
        };
        match result {
            Ok(provider_id) => Delivery::Sent { provider_id },
            Err(ApiError::RetryAfter(wait)) => Delivery::RetryAfter(wait),
            // Telegram's descriptions name no person; the code alone tells a reader why.
            Err(ApiError::Refused { code, .. }) => {
                Delivery::Refused(format!("refused by Telegram (error {code})"))
            }
            Err(ApiError::Unreachable(why)) => Delivery::Transient(why),
        }
    }
}

impl App {
    /// Starts the outbox worker of each text channel that is on.
    pub(crate) fn spawn_text_channels(&self) -> Vec<JoinHandle<()>> {
        let mut workers = Vec::new();
        if let Some(token) = self.telegram_token() {
            let delivery = TelegramDelivery::new(self.clone(), token.clone());
            workers.push(self.spawn_outbox(Channel::Telegram, Arc::new(delivery)));
        }
        if let Some(account) = self.provider().filter(|_| self.config().sms.enabled) {
            for channel in [Channel::Sms, Channel::WhatsApp] {
                if let Some(delivery) = MessagingDelivery::new(self.clone(), channel, account) {
                    workers.push(self.spawn_outbox(channel, Arc::new(delivery)));
                }
            }
        }
        workers
    }
}
