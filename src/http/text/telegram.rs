//! `POST /text/telegram`: the Telegram bot's webhook.
//!
//! Each update carries the secret token given to `setWebhook` in a header; anything without
//! it is refused with `403` and counted like a forged voice webhook. A pressed button is
//! acknowledged in the answer itself (`answerCallbackQuery` as the webhook's reply, which the
//! Bot API allows), so the person's app stops its spinner without an outgoing request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::TextChannels;
use crate::app::AppError;
use crate::domain::conversation::{Channel, ChatAddress, Inbound, TextInput};
use crate::telegram::update::{SECRET_HEADER, Update, UpdateKind, secret_matches};

/// The commands a person may type; anything else starting with `/` is words.
const START: &str = "/start";
const DELETE: &str = "/delete";

/// Handles one update (see the module's header).
pub async fn update(
    State(channels): State<Arc<TextChannels>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &channels.telegram_secret else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers.get(SECRET_HEADER).map(|value| value.as_bytes());
    if !secret_matches(secret.expose(), given) {
        channels.app.metrics().signature_failures().inc();
        tracing::warn!(target: "security", "telegram update without the webhook's secret token refused");
        return StatusCode::FORBIDDEN.into_response();
    }
    let update = match Update::parse(&body) {
        Ok(update) => update,
        Err(error) => {
            // Telegram would deliver it again and it would fail again: acknowledged, dropped.
            tracing::warn!(%error, "telegram update not understood; acknowledged");
            return StatusCode::OK.into_response();
        }
    };
    let (chat_id, message_id, input, callback) = match update.kind {
        UpdateKind::Text { chat_id, message_id, text } => {
            (chat_id, Some(message_id.to_string()), command_or_words(text), None)
        }
        UpdateKind::Button { chat_id, callback_id, data, .. } => {
            (chat_id, None, TextInput::Button(data), Some(callback_id))
        }
        UpdateKind::Other { chat_id: Some(chat_id) } => {
            (chat_id, None, TextInput::Unsupported, None)
        }
        UpdateKind::Other { chat_id: None } => return StatusCode::OK.into_response(),
    };
    let Some(from) = ChatAddress::new(Channel::Telegram, &chat_id.to_string()) else {
        return StatusCode::OK.into_response();
    };
    let inbound = Inbound {
        channel: Channel::Telegram,
        update_key: update.update_id.to_string(),
        from,
        message_id,
        input,
    };
    match channels.app.receive_text(inbound).await {
        Ok(_) => acknowledged(callback),
        Err(AppError::Invalid(why)) => {
            tracing::warn!(%why, "telegram update refused; acknowledged");
            acknowledged(callback)
        }
        Err(error) => {
            // The cause is storage's message, which never carries a stored value.
            let cause = std::error::Error::source(&error).map(ToString::to_string);
            tracing::error!(
                %error,
                cause = cause.as_deref().unwrap_or(""),
                "telegram update not stored; Telegram will deliver it again"
            );
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// `/start` and `/delete` are commands; everything else is what the person wrote.
fn command_or_words(text: String) -> TextInput {
    // Telegram adds the bot's name to commands typed in some clients: `/start@hotline_bot`.
    let command = text.split(['@', ' ']).next().unwrap_or_default();
    match command {
        START => TextInput::Start,
        DELETE => TextInput::Delete,
        _ => TextInput::Text(text),
    }
}

/// `200`, answering a pressed button's query in the reply itself.
fn acknowledged(callback: Option<String>) -> Response {
    match callback {
        Some(callback_query_id) => {
            let reply = serde_json::json!({
                "method": "answerCallbackQuery",
                "callback_query_id": callback_query_id,
            });
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], reply.to_string())
                .into_response()
        }
        None => StatusCode::OK.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_commands_are_commands() {
        assert_eq!(command_or_words("/start".into()), TextInput::Start);
        assert_eq!(command_or_words("/start@hotline_bot".into()), TextInput::Start);
        assert_eq!(command_or_words("/delete".into()), TextInput::Delete);
        assert_eq!(command_or_words("/help me".into()), TextInput::Text("/help me".into()));
        assert_eq!(command_or_words("start".into()), TextInput::Text("start".into()));
    }
}
