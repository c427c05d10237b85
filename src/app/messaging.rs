//! How the outbox's messages reach people who write by SMS or WhatsApp: the [`Deliver`] of
//! Twilio Messaging, and the rule of WhatsApp's 24-hour window for operators' replies.
//!
//! SMS and WhatsApp have no buttons. A message's buttons become numbered lines under its text,
//! one per button with the key a person types for it (`1 — Surrender`, `0 — Operator`,
//! `* — Back`); the text engine reads that key back, and the option's words too. A button
//! without a key cannot be typed, so it is left out.
//!
//! A message is never edited or deleted on a phone: an edit (a place in line that changed) is
//! sent as a new message, and a deletion is a no-op. A text longer than Twilio takes in one
//! message (1600 characters) is sent in parts, each a message; should a later part fail, the
//! retry sends every part again.
//!
//! Like Telegram's delivery, the address is opened from its seal (bound to the conversation's
//! id) only for the request, and failures are reported by HTTP status and Twilio's code, never
//! with the number or the text.

use std::sync::Arc;

use crate::app::casework::require_staff;
use crate::app::{Actor, App, AppError, Deliver};
use crate::domain::audit::AuditAction;
use crate::domain::cases::{CallSid, CaseNumber};
use crate::domain::conversation::Author;
use crate::domain::conversation::Channel;
use crate::domain::outbox::{Button, Delivery, OutAction, Outgoing};
use crate::storage::NewReply;
use crate::twilio::account::{Account, ApiError};
use crate::twilio::messages::{MAX_BODY_CHARS, MessagesApi, Sender};

/// What the case shows of the approved template sent (its words are the supervisor's, at
/// the provider).
const TEMPLATE_SHOWN: &str = "(the approved WhatsApp template)";

/// How long after the person's last message WhatsApp still takes free text from us.
const WHATSAPP_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Twilio Messaging as the outbox's channel, for SMS or for WhatsApp.
pub struct MessagingDelivery {
    app: App,
    api: MessagesApi,
    channel: Channel,
    sender: Sender,
}

impl MessagingDelivery {
    /// Delivers on `channel` (SMS or WhatsApp) through `account`; `None` when the
    /// configuration gives this channel no sender.
    pub fn new(app: App, channel: Channel, account: &Arc<Account>) -> Option<MessagingDelivery> {
        let config = &app.config().sms;
        let sender = if !config.messaging_service_sid.is_empty() {
            Sender::Service(config.messaging_service_sid.clone())
        } else {
            match channel {
                Channel::Sms if !config.from.is_empty() => Sender::From(config.from.clone()),
                Channel::WhatsApp if !config.whatsapp_from.is_empty() => {
                    Sender::From(format!("whatsapp:{}", config.whatsapp_from))
                }
                _ => return None,
            }
        };
        let api = MessagesApi::new(Arc::clone(account));
        Some(MessagingDelivery { app, api, channel, sender })
    }

    /// The `To` of a message, opened from its sealed address.
    fn recipient(&self, out: &Outgoing) -> Option<String> {
        let call = CallSid::parse(&out.chat_key)?;
        let address = self.app.sealer().open_address(self.channel, &out.address_sealed, &call)?;
        Some(match self.channel {
            Channel::WhatsApp => format!("whatsapp:{}", address.expose()),
            _ => address.expose().to_owned(),
        })
    }
}

impl Deliver for MessagingDelivery {
    fn deliver(&self, out: &Outgoing) -> Delivery {
        let (text, buttons) = match &out.action {
            OutAction::Send { text, buttons } | OutAction::Edit { text, buttons, .. } => {
                (text, buttons)
            }
            // A text message cannot be taken back from a phone.
            OutAction::Delete { .. } | OutAction::Forget { .. } => {
                return Delivery::Sent { provider_id: None };
            }
            OutAction::Template { content_sid } => {
                let Some(to) = self.recipient(out) else {
                    return Delivery::Refused("the reply address could not be opened".into());
                };
                return match self.api.send_template(&to, &self.sender, content_sid) {
                    Ok(sid) => Delivery::Sent { provider_id: Some(sid) },
                    Err(error) => failed(error),
                };
            }
        };
        let Some(to) = self.recipient(out) else {
            return Delivery::Refused("the reply address could not be opened".into());
        };
        let mut last = None;
        for part in parts(&with_keys(text, buttons)) {
            match self.api.send(&to, &self.sender, &part) {
                Ok(sid) => last = Some(sid),
                Err(error) => return failed(error),
            }
        }
        Delivery::Sent { provider_id: last }
    }
}

/// Twilio's refusal in the outbox's terms.
fn failed(error: ApiError) -> Delivery {
    match error {
        ApiError::RetryAfter(wait) => Delivery::RetryAfter(wait),
        // Twilio's message can quote the number: its code alone tells a reader why.
        ApiError::Refused { status, code } => {
            Delivery::Refused(format!("refused by Twilio (HTTP {status}, error {code})"))
        }
        ApiError::Unreachable(why) => Delivery::Transient(why),
    }
}

/// The text with its buttons as numbered lines under it (buttons without a key left out).
pub fn with_keys(text: &str, buttons: &[Vec<Button>]) -> String {
    let lines: Vec<String> = buttons
        .iter()
        .flatten()
        .filter_map(|button| Some(format!("{} — {}", button.key.as_deref()?, button.text)))
        .collect();
    if lines.is_empty() { text.to_owned() } else { format!("{text}\n\n{}", lines.join("\n")) }
}

/// The text cut into messages Twilio takes, at line ends (or spaces) where it can be.
pub fn parts(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > MAX_BODY_CHARS {
        let window = &rest[..MAX_BODY_CHARS];
        let cut = window
            .iter()
            .rposition(|c| *c == '\n')
            .or_else(|| window.iter().rposition(|c| c.is_whitespace()))
            .filter(|at| *at > MAX_BODY_CHARS / 2)
            .map_or(MAX_BODY_CHARS, |at| at + 1);
        parts.push(rest[..cut].iter().collect::<String>().trim_end().to_owned());
        rest.drain(..cut);
    }
    parts.push(rest.into_iter().collect());
    parts.retain(|part| !part.trim().is_empty());
    parts
}

impl App {
    /// Whether an operator's message to case `case` can only be the approved template now:
    /// a WhatsApp conversation whose person last wrote more than 24 hours ago, with a template
    /// configured.
    pub async fn template_only(&self, case: CaseNumber) -> Result<bool, AppError> {
        let template = !self.config().sms.whatsapp_template_sid.is_empty();
        Ok(template && self.reply_allowed(case).await.is_err())
    }

    /// `actor` (who holds conversation `case`) sends the supervisor's pre-approved WhatsApp
    /// template (`[sms] whatsapp_template_sid`): the one message WhatsApp delivers after its
    /// window, holding no case data. Only then: within the window a reply says more. Audited
    /// as a reply (`chat.reply`, `template`).
    pub async fn send_whatsapp_template(
        &self,
        actor: &Actor,
        case: CaseNumber,
    ) -> Result<(), AppError> {
        let operator = require_staff(actor)?;
        self.in_reach(actor, case, "reply").await?;
        let Some(conversation) = self.storage().conversation_of(case).await? else {
            return Err(AppError::NotFound(format!("case {case} has no conversation")));
        };
        if conversation.operator_id != Some(operator) {
            return Err(AppError::Conflict(format!(
                "take the conversation of case {case} before you write to the person"
            )));
        }
        let content_sid = self.config().sms.whatsapp_template_sid.clone();
        if content_sid.is_empty() {
            return Err(AppError::Conflict(
                "no WhatsApp template is configured ([sms] whatsapp_template_sid)".into(),
            ));
        }
        if self.reply_allowed(case).await.is_ok() {
            return Err(AppError::Conflict(format!(
                "the person of case {case} can still be written to: reply in words instead"
            )));
        }
        let reply = NewReply {
            author: Author::Operator(operator),
            text: TEMPLATE_SHOWN.to_owned(),
            buttons: Vec::new(),
            template: Some(content_sid),
        };
        if self.storage().chat_reply(case, reply, self.now()).await?.is_none() {
            return Err(AppError::Conflict(format!("the conversation of case {case} is closed")));
        }
        self.wake_outbox(conversation.channel);
        self.audit(actor, AuditAction::ChatReply, Some(case), "template".into()).await
    }

    /// Whether an operator may send free text to the person of conversation `case` now:
    /// WhatsApp refuses free text to someone who last wrote more than 24 hours ago (Twilio
    /// error 63016), so such a reply is refused here, before it is queued to fail. Only the
    /// configured neutral template may reach them then.
    pub async fn reply_allowed(&self, case: CaseNumber) -> Result<(), AppError> {
        let Some(conversation) = self.storage().conversation_of(case).await? else {
            return Err(AppError::NotFound(format!("case {case} has no conversation")));
        };
        if conversation.channel == Channel::WhatsApp
            && self.now() - conversation.last_in_at > WHATSAPP_WINDOW
        {
            return Err(AppError::Conflict(format!(
                "the person of case {case} last wrote on WhatsApp more than 24 hours ago: \
                 WhatsApp delivers no free text after that. Wait for them to write again{}",
                if self.config().sms.whatsapp_template_sid.is_empty() {
                    "."
                } else {
                    ", or send the approved template."
                }
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(text: &str, key: Option<&str>) -> Button {
        Button { text: text.into(), data: format!("d:{text}"), key: key.map(str::to_owned) }
    }

    #[test]
    fn buttons_become_numbered_lines_and_keyless_ones_are_left_out() {
        let rows = vec![
            vec![button("Surrender", Some("1"))],
            vec![button("Rules", Some("2")), button("Untypable", None)],
            vec![button("Operator", Some("0")), button("Back", Some("*"))],
        ];
        assert_eq!(
            with_keys("What do you need?", &rows),
            "What do you need?\n\n1 — Surrender\n2 — Rules\n0 — Operator\n* — Back"
        );
        assert_eq!(with_keys("Hello", &[]), "Hello");
        assert_eq!(with_keys("Hello", &[vec![button("x", None)]]), "Hello");
    }

    #[test]
    fn long_texts_are_split_below_twilios_limit_and_nothing_is_lost() {
        assert_eq!(parts("short"), vec!["short"]);
        assert!(parts("").is_empty());
        let exact = "ж".repeat(MAX_BODY_CHARS);
        assert_eq!(parts(&exact), vec![exact.clone()]);
        let words = "слово ".repeat(1000);
        let split = parts(&words);
        assert!(split.len() >= 4, "{}", split.len());
        assert!(split.iter().all(|part| part.chars().count() <= MAX_BODY_CHARS));
        let rejoined = split.join(" ");
        assert_eq!(rejoined.split_whitespace().count(), 1000);
        // One huge word: cut hard, every character kept.
        let word = "a".repeat(MAX_BODY_CHARS * 2 + 5);
        let split = parts(&word);
        assert_eq!(split.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![1600, 1600, 5]);
    }

    #[test]
    fn refusals_keep_the_code_only() {
        let refused = failed(ApiError::Refused { status: 400, code: 21211 });
        assert_eq!(refused, Delivery::Refused("refused by Twilio (HTTP 400, error 21211)".into()));
        let wait = std::time::Duration::from_secs(3);
        assert_eq!(failed(ApiError::RetryAfter(wait)), Delivery::RetryAfter(wait));
        assert!(matches!(failed(ApiError::Unreachable("x".into())), Delivery::Transient(_)));
    }
}
