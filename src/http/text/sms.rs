//! `POST /text/sms`: Twilio Messaging's webhook, for SMS and WhatsApp alike.
//!
//! Twilio posts each incoming message as a form signed like the voice webhooks'
//! (`X-Twilio-Signature`, the account's auth token, the public URL as requested): anything
//! unsigned or forged is refused with `403` and counted like a forged voice webhook. `From`
//! becomes the reply address, on WhatsApp when it reads `whatsapp:+E164`, and is never
//! logged; `MessageSid` is the update's key, so a redelivered message changes nothing; `Body`
//! is what the person wrote (an empty one, a picture alone, is something the hotline does not
//! read).
//!
//! The carrier's keywords are Twilio's business on SMS: with Advanced Opt-Out Twilio answers
//! STOP, HELP and their synonyms itself and stops our messages to someone who wrote STOP. Those
//! words are acknowledged and handed to no script (a menu option's words could otherwise
//! match them); START and its synonyms begin a conversation like a first message. WhatsApp has
//! no such keywords: there they are words like any other.
//!
//! The answer is an empty `<Response/>`: replies leave through the outbox, stored first,
//! paced and retried. A message that could not be stored is answered `503`. Twilio does not
//! redeliver a messaging webhook on an error answer by default (it requests the number's
//! fallback URL, and retries only what its connection overrides, a `#rc=…&rp=…` fragment on
//! the configured URL, ask for), so such a message is in Twilio's log but not on a case: the
//! database being down is the alert that matters, and `/readyz` reports it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::TextChannels;
use crate::app::AppError;
use crate::config::is_e164;
use crate::domain::conversation::{Channel, ChatAddress, Inbound, TextInput};

/// The prefix of WhatsApp addresses in Twilio's `From` and `To`.
const WHATSAPP: &str = "whatsapp:";
/// The longest `Body` read: Twilio delivers at most 1600 characters; anything longer is not
/// Twilio's.
const MAX_BODY_CHARS: usize = 4096;
/// At most this many form parameters; Twilio sends about twenty (more with media).
const MAX_PARAMS: usize = 100;
/// The empty TwiML answer: nothing to send from here.
const EMPTY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
/// The SMS keywords Twilio's Advanced Opt-Out answers itself (opt-out and help).
const CARRIER_KEYWORDS: [&str; 9] =
    ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "HELP"];
/// The SMS keywords that opt back in: a start, as a first message is.
const START_KEYWORDS: [&str; 3] = ["START", "UNSTOP", "YES"];

/// What Twilio's form says, read once.
#[derive(Debug)]
enum Message {
    /// A message to hand over.
    Inbound(Inbound),
    /// A carrier keyword, answered by Twilio.
    Keyword,
    /// Not a message the hotline can take (why, safe to log).
    Unusable(&'static str),
}

/// Handles one incoming message (see the module's header).
pub async fn message(
    State(channels): State<Arc<TextChannels>>,
    request: Request<Body>,
) -> Response {
    let Some(twilio) = &channels.twilio else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let app = &channels.app;
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("{}{path_and_query}", twilio.public_url);
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let max_body = app.config().webhooks.max_body_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
        tracing::warn!(max_body, "sms webhook: body too large or unreadable; refused");
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let form: Vec<(String, String)> = if is_form {
        form_urlencoded::parse(&bytes)
            .take(MAX_PARAMS + 1)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    } else {
        Vec::new()
    };
    let signature = parts.headers.get("x-twilio-signature").and_then(|v| v.to_str().ok());
    if app.config().webhooks.verify_signatures
        && !signature.is_some_and(|sig| twilio.verify(&url, &form, sig))
    {
        app.metrics().signature_failures().inc();
        tracing::warn!(
            target: "security",
            signature_present = signature.is_some(),
            "sms webhook with a missing or wrong signature refused"
        );
        return StatusCode::FORBIDDEN.into_response();
    }
    let whatsapp_on = app.config().sms.whatsapp_enabled();
    let inbound = match read(&form, whatsapp_on) {
        Message::Inbound(inbound) => inbound,
        Message::Keyword => {
            tracing::info!("sms webhook: a carrier keyword, left to Twilio; acknowledged");
            return empty();
        }
        Message::Unusable(why) => {
            // Twilio would send it again the same way: acknowledged, dropped.
            tracing::warn!(why, "sms webhook: message not usable; acknowledged");
            return empty();
        }
    };
    let channel = inbound.channel;
    match app.receive_text(inbound).await {
        Ok(_) => empty(),
        Err(AppError::Invalid(why)) => {
            tracing::warn!(%why, %channel, "text message refused; acknowledged");
            empty()
        }
        Err(error) => {
            tracing::error!(%error, %channel, "text message not stored; answered 503");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Reads Twilio's form into a message.
fn read(form: &[(String, String)], whatsapp_on: bool) -> Message {
    if form.len() > MAX_PARAMS {
        return Message::Unusable("too many parameters");
    }
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(sid) = param("MessageSid").filter(|sid| is_message_sid(sid)) else {
        return Message::Unusable("no MessageSid of Twilio's shape");
    };
    let from = param("From").unwrap_or_default();
    let (channel, number) = match from.strip_prefix(WHATSAPP) {
        Some(number) => (Channel::WhatsApp, number),
        None => (Channel::Sms, from),
    };
    if channel == Channel::WhatsApp && !whatsapp_on {
        return Message::Unusable("a WhatsApp message, but no WhatsApp sender is configured");
    }
    if !is_e164(number) {
        return Message::Unusable("From is not a number the hotline can answer");
    }
    let Some(address) = ChatAddress::new(channel, number) else {
        return Message::Unusable("From is not a number the hotline can answer");
    };
    let body = param("Body").unwrap_or_default();
    if body.chars().count() > MAX_BODY_CHARS {
        return Message::Unusable("Body longer than Twilio delivers");
    }
    let words = body.trim();
    let keyword = words.to_uppercase();
    let input = if words.is_empty() {
        // A picture, a voice note, a location alone.
        TextInput::Unsupported
    } else if channel == Channel::Sms && CARRIER_KEYWORDS.contains(&keyword.as_str()) {
        return Message::Keyword;
    } else if channel == Channel::Sms && START_KEYWORDS.contains(&keyword.as_str()) {
        TextInput::Start
    } else {
        TextInput::Text(words.to_owned())
    };
    // A text message cannot be deleted from a phone: no id is kept for that.
    let message_id = None;
    Message::Inbound(Inbound {
        channel,
        update_key: sid.to_owned(),
        from: address,
        message_id,
        input,
    })
}

/// Whether `sid` is shaped like a message's id: `SM` or `MM` and 32 hex digits.
fn is_message_sid(sid: &str) -> bool {
    sid.len() == 34
        && (sid.starts_with("SM") || sid.starts_with("MM"))
        && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn empty() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "SM0123456789abcdef0123456789abcdef";

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn input(from: &str, body: &str) -> Message {
        read(&form(&[("MessageSid", SID), ("From", from), ("Body", body), ("NumMedia", "0")]), true)
    }

    fn inbound(message: Message) -> Inbound {
        match message {
            Message::Inbound(inbound) => inbound,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sms_and_whatsapp_come_apart_by_the_prefix() {
        let sms = inbound(input("+79161234567", " 2 "));
        assert_eq!((sms.channel, sms.input), (Channel::Sms, TextInput::Text("2".into())));
        assert_eq!(sms.from.expose(), "+79161234567");
        assert_eq!(sms.update_key, SID);
        let wa = inbound(input("whatsapp:+79161234567", "Help me"));
        assert_eq!(wa.channel, Channel::WhatsApp);
        assert_eq!(wa.from.expose(), "+79161234567");
        let off = read(&form(&[("MessageSid", SID), ("From", "whatsapp:+79161234567")]), false);
        assert!(matches!(off, Message::Unusable(_)));
    }

    #[test]
    fn carrier_keywords_are_left_to_twilio_on_sms_only() {
        for word in ["STOP", "stop", " Stop ", "HELP", "unsubscribe", "QUIT"] {
            assert!(matches!(input("+79161234567", word), Message::Keyword), "{word}");
        }
        for word in ["START", "unstop", "Yes"] {
            assert_eq!(inbound(input("+79161234567", word)).input, TextInput::Start, "{word}");
        }
        assert_eq!(
            inbound(input("whatsapp:+79161234567", "STOP")).input,
            TextInput::Text("STOP".into())
        );
        assert_eq!(
            inbound(input("+79161234567", "stop it please")).input,
            TextInput::Text("stop it please".into())
        );
    }

    #[test]
    fn empty_or_media_only_messages_are_unsupported() {
        assert_eq!(inbound(input("+79161234567", "")).input, TextInput::Unsupported);
        assert_eq!(inbound(input("+79161234567", " \n ")).input, TextInput::Unsupported);
        let picture = form(&[("MessageSid", SID), ("From", "+79161234567"), ("NumMedia", "1")]);
        assert_eq!(inbound(read(&picture, true)).input, TextInput::Unsupported);
    }

    #[test]
    fn wrong_empty_huge_and_hostile_forms_are_unusable() {
        let huge = "9".repeat(10_000);
        for (sid, from) in [
            ("", "+79161234567"),
            ("SM123", "+79161234567"),
            ("CA0123456789abcdef0123456789abcdef", "+79161234567"),
            ("SM0123456789abcdef0123456789abcdeg", "+79161234567"),
            (SID, ""),
            (SID, "whatsapp:"),
            (SID, "79161234567"),
            (SID, "+7916<script>"),
            (SID, "messenger:+79161234567"),
            (SID, "whatsapp:whatsapp:+79161234567"),
            (SID, &huge),
            (SID, "+7916123456\u{0}"),
        ] {
            let message = read(&form(&[("MessageSid", sid), ("From", from), ("Body", "hi")]), true);
            assert!(matches!(message, Message::Unusable(_)), "{sid:?} {from:?}");
        }
        assert!(matches!(read(&[], true), Message::Unusable(_)));
        let long = "я".repeat(MAX_BODY_CHARS + 1);
        assert!(matches!(input("+79161234567", &long), Message::Unusable(_)));
        let many: Vec<(String, String)> =
            (0..=MAX_PARAMS).map(|i| (format!("p{i}"), String::new())).collect();
        assert!(matches!(read(&many, true), Message::Unusable(_)));
        let hostile = "<Response><Dial>+1900</Dial></Response>";
        assert_eq!(inbound(input("+79161234567", hostile)).input, TextInput::Text(hostile.into()));
    }
}
