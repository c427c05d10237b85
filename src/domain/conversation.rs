//! Conversations: a person writing on a text channel (Telegram today; SMS and WhatsApp through
//! the same vocabulary), walking the same scripts a caller walks, and the messages of it.
//!
//! A conversation is a case like a call. What differs is where its position lives: a call
//! carries its place in the script in the URLs the provider requests, a chat has no such thing,
//! so the conversation row holds it ([`Position`]) and each message moves it on.
//!
//! The person's address on the channel (a Telegram chat id, a phone number) is as sensitive as
//! a caller's number: the hotline keeps its keyed hash (repeat contacts, the blocklist) and the
//! address sealed for replies, and nothing else of the person's profile.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::cases::{CallSid, CaseNumber};
use crate::domain::language::{LanguageTag, NodeId};

/// Where a case came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A phone call through the telephony provider.
    Voice,
    /// A Telegram bot chat.
    Telegram,
    /// Text messages to the hotline's number.
    Sms,
    /// WhatsApp through the messaging provider.
    WhatsApp,
}

impl Channel {
    /// Every channel, in the order screens list them.
    pub const ALL: [Channel; 4] =
        [Channel::Voice, Channel::Telegram, Channel::Sms, Channel::WhatsApp];

    /// The name stored and used in URLs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Telegram => "telegram",
            Channel::Sms => "sms",
            Channel::WhatsApp => "whatsapp",
        }
    }

    /// The channel named so.
    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|channel| channel.as_str() == text)
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Voice => "Phone",
            Channel::Telegram => "Telegram",
            Channel::Sms => "SMS",
            Channel::WhatsApp => "WhatsApp",
        }
    }

    /// Whether the channel is text (a conversation), not a call.
    pub fn is_text(self) -> bool {
        self != Channel::Voice
    }

    /// The prefix of the synthetic call ids of this channel's conversations, so a case's id
    /// says where it came from and never collides with the provider's call ids.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Channel::Voice => "CA",
            Channel::Telegram => "tg-",
            Channel::Sms => "sms-",
            Channel::WhatsApp => "wa-",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's address on a text channel (a chat id, a phone number): the reply address.
/// Never printed, never stored in the clear: hashed for recognition, sealed for replies.
#[derive(Clone, PartialEq, Eq)]
pub struct ChatAddress(String);

impl ChatAddress {
    /// An address of a channel. `None` for an empty or absurdly long one.
    pub fn new(channel: Channel, address: &str) -> Option<ChatAddress> {
        (!address.is_empty() && address.len() <= 64 && channel.is_text())
            .then(|| ChatAddress(address.to_owned()))
    }

    /// The address itself, for sealing and for the channel's API only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the keyed hash is taken of: the channel named in it, so one number on SMS and on
    /// WhatsApp is one person but a Telegram chat id never matches a phone number.
    pub fn identity(&self, channel: Channel) -> String {
        match channel {
            Channel::Sms | Channel::WhatsApp | Channel::Voice => self.0.clone(),
            Channel::Telegram => format!("telegram:{}", self.0),
        }
    }
}

impl fmt::Debug for ChatAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChatAddress([hidden])")
    }
}

/// What a person sent: one update of a channel, parsed at the edge.
#[derive(Clone, PartialEq, Eq)]
pub enum TextInput {
    /// The channel's start command (Telegram's `/start`), or a first contact.
    Start,
    /// Words typed.
    Text(String),
    /// A button of an earlier message pressed; its opaque data.
    Button(String),
    /// The person asks for the conversation's messages to be deleted from their phone.
    Delete,
    /// Something the hotline does not read (a photo, a sticker).
    Unsupported,
}

impl fmt::Debug for TextInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextInput::Start => f.write_str("Start"),
            TextInput::Text(text) => write!(f, "Text([{} chars])", text.chars().count()),
            TextInput::Button(data) => write!(f, "Button({data:?})"),
            TextInput::Delete => f.write_str("Delete"),
            TextInput::Unsupported => f.write_str("Unsupported"),
        }
    }
}

/// One update from a text channel, everything the use case needs and nothing more.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The channel.
    pub channel: Channel,
    /// The channel's id of the update (Telegram's `update_id`): an update handled once is
    /// never handled again, even after a restart.
    pub update_key: String,
    /// Who wrote: the reply address.
    pub from: ChatAddress,
    /// The channel's id of the person's message, when the update carried one (not for a
    /// button pressed): what deleting the conversation from their phone needs.
    pub message_id: Option<String>,
    /// What they sent.
    pub input: TextInput,
}

/// Where a conversation is in its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Choosing a language (offered for the `attempt`-th time).
    Language {
        /// 1 for the first offering.
        attempt: u32,
    },
    /// At a menu.
    Menu {
        /// The script's language.
        language: LanguageTag,
        /// The menu.
        node: NodeId,
        /// 1 for the first offering.
        attempt: u32,
    },
    /// An `<ask>` node waits for its answer.
    Ask {
        /// The script's language.
        language: LanguageTag,
        /// The question.
        node: NodeId,
    },
    /// A `<voicemail>` node waits for the message.
    Voicemail {
        /// The script's language.
        language: LanguageTag,
        /// The node.
        node: NodeId,
    },
    /// Waiting for an operator, or with one: everything written goes to them.
    Operator {
        /// The script's language.
        language: LanguageTag,
        /// The handoff node.
        node: NodeId,
    },
    /// Over: a new message starts a new case.
    Closed,
}

impl Position {
    /// The state's name as stored.
    pub fn state(&self) -> &'static str {
        match self {
            Position::Language { .. } => "language",
            Position::Menu { .. } => "menu",
            Position::Ask { .. } => "ask",
            Position::Voicemail { .. } => "voicemail",
            Position::Operator { .. } => "operator",
            Position::Closed => "closed",
        }
    }

    /// The script language, once chosen.
    pub fn language(&self) -> Option<&LanguageTag> {
        match self {
            Position::Menu { language, .. }
            | Position::Ask { language, .. }
            | Position::Voicemail { language, .. }
            | Position::Operator { language, .. } => Some(language),
            Position::Language { .. } | Position::Closed => None,
        }
    }

    /// The node, when the position has one.
    pub fn node(&self) -> Option<&NodeId> {
        match self {
            Position::Menu { node, .. }
            | Position::Ask { node, .. }
            | Position::Voicemail { node, .. }
            | Position::Operator { node, .. } => Some(node),
            Position::Language { .. } | Position::Closed => None,
        }
    }

    /// The offering's attempt (1 where the state has none).
    pub fn attempt(&self) -> u32 {
        match self {
            Position::Language { attempt } | Position::Menu { attempt, .. } => *attempt,
            _ => 1,
        }
    }

    /// Builds a position back from its stored columns; `None` if they do not fit together.
    pub fn from_parts(
        state: &str,
        language: Option<LanguageTag>,
        node: Option<NodeId>,
        attempt: u32,
    ) -> Option<Position> {
        Some(match (state, language, node) {
            ("language", _, _) => Position::Language { attempt },
            ("menu", Some(language), Some(node)) => Position::Menu { language, node, attempt },
            ("ask", Some(language), Some(node)) => Position::Ask { language, node },
            ("voicemail", Some(language), Some(node)) => Position::Voicemail { language, node },
            ("operator", Some(language), Some(node)) => Position::Operator { language, node },
            ("closed", _, _) => Position::Closed,
            _ => return None,
        })
    }
}

/// An open conversation as the use cases see it.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Its row.
    pub id: i64,
    /// Its case.
    pub case_id: i64,
    /// The case's number.
    pub case_number: CaseNumber,
    /// The synthetic call id its records are kept under.
    pub call_sid: CallSid,
    /// The channel.
    pub channel: Channel,
    /// Where it is in the script.
    pub position: Position,
    /// The next record step: each message handled is one step of the case.
    pub step: u32,
    /// Free-text messages written at menus so far.
    pub free_texts: u32,
    /// The reply address, sealed; `None` once shredded.
    pub address_sealed: Option<String>,
    /// The operator who took it, if one did.
    pub operator_id: Option<i64>,
    /// When the person last wrote.
    pub last_in_at: DateTime<Utc>,
    /// When they were reminded after their silence, if they were since.
    pub reminded_at: Option<DateTime<Utc>>,
    /// When it joined the operators' queue, if it did.
    pub queued_at: Option<DateTime<Utc>>,
}

/// Who wrote a message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The person writing to the hotline.
    Person,
    /// The script (a prompt, a menu).
    Bot,
    /// An operator (the user id).
    Operator(i64),
}

/// What a message of a conversation is, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Written freely (at a menu, to an operator).
    Text,
    /// The answer to an `<ask>` question.
    Answer,
    /// A message left at a `<voicemail>` node.
    Voicemail,
    /// A prompt or menu of the script.
    Prompt,
    /// An operator's reply.
    Reply,
}

impl MessageKind {
    /// The name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Answer => "answer",
            MessageKind::Voicemail => "voicemail",
            MessageKind::Prompt => "prompt",
            MessageKind::Reply => "reply",
        }
    }

    /// The kind named so.
    pub fn parse(text: &str) -> Option<MessageKind> {
        [
            MessageKind::Text,
            MessageKind::Answer,
            MessageKind::Voicemail,
            MessageKind::Prompt,
            MessageKind::Reply,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One message of a conversation: sensitive text, kept only on the case and shredded with it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Its row (also the order).
    pub id: i64,
    /// When it was written or sent.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub author: Author,
    /// What it is.
    pub kind: MessageKind,
    /// The node it was written at, if any.
    pub node: Option<NodeId>,
    /// The `<ask>` variable it answers.
    pub var: Option<String>,
    /// The words.
    pub body: String,
    /// How its delivery went, for messages to the person ("pending", "sent", "failed").
    pub delivery: Option<String>,
}

impl fmt::Debug for ChatMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatMessage")
            .field("id", &self.id)
            .field("author", &self.author)
            .field("kind", &self.kind)
            .field("body", &format_args!("[{} chars]", self.body.chars().count()))
            .finish()
    }
}

/// A conversation as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSummary {
    /// The case's number.
    pub case_number: CaseNumber,
    /// The channel.
    pub channel: Channel,
    /// The state's name ([`Position::state`]).
    pub state: String,
    /// The language, once chosen.
    pub language: Option<LanguageTag>,
    /// The operator who has it.
    pub operator_id: Option<i64>,
    /// When it joined the queue.
    pub queued_at: Option<DateTime<Utc>>,
    /// When the person last wrote.
    pub last_in_at: DateTime<Utc>,
    /// Messages from the person after the last reply.
    pub unanswered: u32,
}

/// A conversation waiting for an operator, with its place in its language's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingChat {
    /// Its case.
    pub case: CaseNumber,
    /// The script's language.
    pub language: LanguageTag,
    /// The handoff node it waits at.
    pub node: NodeId,
    /// 1 for the next to be taken.
    pub position: u32,
    /// The place last shown to the person, if one was.
    pub shown: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip_and_only_text_channels_take_addresses() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(Channel::parse("Telegram"), None);
        assert!(ChatAddress::new(Channel::Voice, "1").is_none());
        assert!(ChatAddress::new(Channel::Telegram, "").is_none());
        assert!(ChatAddress::new(Channel::Telegram, &"9".repeat(65)).is_none());
        assert!(ChatAddress::new(Channel::Telegram, "123456").is_some());
    }

    #[test]
    fn nothing_sensitive_is_printed_by_debug() {
        let address = ChatAddress::new(Channel::Telegram, "987654321").unwrap();
        assert!(!format!("{address:?}").contains("987654321"));
        let input = TextInput::Text("I am in unit 12".into());
        assert_eq!(format!("{input:?}"), "Text([15 chars])");
    }

    #[test]
    fn telegram_ids_never_collide_with_phone_numbers() {
        let tg = ChatAddress::new(Channel::Telegram, "+12025550123").unwrap();
        let sms = ChatAddress::new(Channel::Sms, "+12025550123").unwrap();
        assert_ne!(tg.identity(Channel::Telegram), sms.identity(Channel::Sms));
        assert_eq!(sms.identity(Channel::Sms), sms.identity(Channel::WhatsApp));
    }

    #[test]
    fn positions_round_trip_through_their_columns() {
        let ru = LanguageTag::parse("ru").unwrap();
        let main = NodeId::parse("main").unwrap();
        let positions = [
            Position::Language { attempt: 2 },
            Position::Menu { language: ru.clone(), node: main.clone(), attempt: 3 },
            Position::Ask { language: ru.clone(), node: main.clone() },
            Position::Voicemail { language: ru.clone(), node: main.clone() },
            Position::Operator { language: ru.clone(), node: main.clone() },
            Position::Closed,
        ];
        for position in positions {
            let back = Position::from_parts(
                position.state(),
                position.language().cloned(),
                position.node().cloned(),
                position.attempt(),
            );
            assert_eq!(back, Some(position));
        }
        assert_eq!(Position::from_parts("menu", None, None, 1), None);
        assert_eq!(Position::from_parts("dancing", None, None, 1), None);
    }
}
