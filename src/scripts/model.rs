//! The loaded, validated form of the IVR scripts: what is said and what is offered.
//!
//! Nothing here knows about TwiML or HTTP. The same model will drive text channels (SMS, chat)
//! later, so a node describes the conversation, and renderers decide how it sounds or reads.
//! Values of these types only come out of [`super::load_dir`], which has checked every
//! reference, so code that walks the model may index by [`NodeId`] without fear.

use std::collections::BTreeMap;
use std::fmt;

pub use crate::domain::language::{LanguageTag, NodeId, Tag};

/// A telephone keypad key a menu can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(char);

impl Key {
    /// Key `0`: in every menu it reaches an operator.
    pub const OPERATOR: Key = Key('0');
    /// Key `*`: in every menu it goes back (or repeats the menu when there is no way back).
    pub const BACK: Key = Key('*');

    /// Parses one keypad key: `0`–`9`, `*` or `#`.
    pub fn parse(s: &str) -> Option<Key> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c @ ('0'..='9' | '*' | '#')), None) => Some(Key(c)),
            _ => None,
        }
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a language is spoken by text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    /// The provider's voice name (`Polly.Tatyana`, `Google.uk-UA-Standard-A`); `None` uses the
    /// provider's default voice for the language.
    pub name: Option<String>,
    /// The BCP-47 language the text is spoken in (`ru-RU`).
    pub language: String,
}

/// One piece of a prompt, in the order the caller hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptItem {
    /// Text read by text-to-speech in the script's voice.
    Say(String),
    /// A recording. `url` is absolute, or a path on this server (`/audio/uk/welcome.mp3`).
    /// `text` is what the recording says (its TTS fallback), kept for transcripts and logs.
    Play { url: String, text: Option<String> },
    /// Silence, in seconds.
    Pause(u32),
}

/// What a node says, in order. Never empty once validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    /// The pieces, in the order they are played.
    pub items: Vec<PromptItem>,
    /// What a reader sees in a chat instead of what is said (the `<text>` element): trimmed,
    /// never empty, its line breaks kept as paragraphs. Voice never uses it.
    pub text: Option<String>,
}

impl Prompt {
    /// The prompt as a chat shows it: its `<text>` when the script has one, else the spoken
    /// words ([`Prompt::summary`]).
    ///
    /// The fallback is sensible because a chat offers a menu's keys as buttons labelled with
    /// the key (or the option's `text=`): "press 1" read in a chat still points at button 1,
    /// so a script without any `<text>` reads clumsily but never wrongly.
    pub fn readable(&self) -> String {
        match &self.text {
            Some(text) => text.clone(),
            None => self.summary(),
        }
    }

    /// The prompt as plain text, for event logs and transcripts (recordings by their text).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            let text = match item {
                PromptItem::Say(text) => text.as_str(),
                PromptItem::Play { text: Some(text), .. } => text.as_str(),
                PromptItem::Play { url, text: None } => url.as_str(),
                PromptItem::Pause(_) => continue,
            };
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(text.trim());
        }
        out
    }
}

/// Where an option leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Another node of the same script.
    Node(NodeId),
    /// Back to the language-choice menu (`goto="@language"`), so a caller can switch language.
    LanguageChoice,
}

/// One keypad choice in a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuOption {
    /// The key that chooses it; never `0` or `*`, which every menu reserves.
    pub key: Key,
    /// Where it leads.
    pub goto: Target,
    /// What the choice means, in words an operator reads in the case log.
    pub label: String,
    /// The button a chat shows for it (`text="…"`), in the caller's language; `None` shows
    /// the key itself.
    pub text: Option<String>,
    /// Fields set on the case when chosen.
    pub tags: Vec<Tag>,
}

/// A key a caller waiting in a queue may press: they leave the queue for a voicemail or a
/// callback request, keeping their case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitKey {
    /// The key; never `0` or `*`, like a menu's options.
    pub key: Key,
    /// A `<voicemail>` or `<callback>` node.
    pub goto: NodeId,
    /// What pressing it means, for the operator reading the case.
    pub label: String,
    /// What the waiting caller hears about it, after each announcement.
    pub prompt: Prompt,
}

/// What a node does. See `docs/scripts.md` for the supervisor's view of each kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Says the prompt, then moves on without waiting for a key.
    Message {
        /// The node that follows.
        next: NodeId,
    },
    /// Says the prompt and waits for one key.
    Menu {
        /// The choices, in document order.
        options: Vec<MenuOption>,
        /// Seconds to wait for a key after the prompt ends.
        timeout: u32,
        /// How many times the menu is offered (first time included) before `default`.
        attempts: u32,
        /// Where the caller goes after `attempts` timeouts or wrong keys.
        default: NodeId,
        /// Said after a key the menu does not offer, before the menu is repeated.
        invalid: Prompt,
        /// Said after a timeout, before the menu is repeated; `None` just repeats.
        no_input: Option<Prompt>,
        /// Where `*` leads; `None` makes `*` repeat this menu.
        back: Option<NodeId>,
    },
    /// Says the prompt and puts the caller in an operators' queue.
    Handoff {
        /// The queue's name at the provider (≤ 64 characters).
        queue: String,
        /// Said to the caller while they wait; `{position}` is their place in line.
        wait: Prompt,
        /// Seconds of silence (or hold audio) between two wait announcements.
        wait_pause: u32,
        /// Said once when the caller has waited the longest allowed (`[queues]
        /// max_wait_secs`), just before they are taken to `otherwise`; empty when the script
        /// has no `<too-long>`.
        too_long: Prompt,
        /// Where the caller goes if they leave the queue without reaching an operator.
        otherwise: NodeId,
        /// Keys the caller may press at any time while waiting, each said in the `<wait>`
        /// announcement; empty when the script offers none.
        wait_keys: Vec<WaitKey>,
    },
    /// Asks for the number to call back on, reads it back digit by digit, and asks the caller
    /// to confirm it.
    Callback {
        /// Said before the number is read back ("you entered").
        read_back: Prompt,
        /// Said after the number: which key confirms, which re-enters.
        confirm: Prompt,
        /// Said when what was typed is not a number we can call.
        invalid: Prompt,
        /// Where the caller goes once the number is confirmed.
        next: NodeId,
        /// Where the caller goes after three entries that were not a number.
        otherwise: NodeId,
    },
    /// Says the prompt and records a message.
    Voicemail {
        /// Longest recording, in seconds.
        max_length: u32,
        /// The node that follows the recording.
        next: NodeId,
    },
    /// Says the prompt (a question) and takes one answer: a short recording in a call, a
    /// message in a chat. The answer is sensitive: it is never a tag of the case.
    Ask {
        /// The name the answer is kept under (the syntax of a tag's key: `unit`).
        var: String,
        /// The node that follows the answer.
        next: NodeId,
        /// Longest spoken answer, in seconds.
        max_length: u32,
    },
    /// Says the prompt and ends the call.
    Hangup,
}

/// A named step of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its name, unique in the script.
    pub id: NodeId,
    /// What is said on entering it (for menus: the menu itself).
    pub prompt: Prompt,
    /// What it does after the prompt.
    pub kind: NodeKind,
}

/// One language's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The language, equal to the file's name (`ru.xml` holds `ru`).
    pub language: LanguageTag,
    /// The language's name in itself (`Українська`), for people choosing or reading.
    pub name: String,
    /// How text-to-speech speaks it.
    pub voice: Voice,
    /// The first node of a call in this language.
    pub start: NodeId,
    /// The node key `0` leads to from any menu (a handoff).
    pub operator: NodeId,
    /// Said by the fallback URL when something went wrong, before the operator queue.
    pub apology: Prompt,
    /// Every node, by id.
    pub nodes: BTreeMap<NodeId, Node>,
    /// The words of a text channel that belong to no node (`<chat>`).
    pub chat: ChatTexts,
}

/// What a text channel says and shows in a language beyond the nodes' prompts: the buttons
/// every menu has, and the sentences of the conversation's own life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTexts {
    /// Button text for key 0 (an operator), e.g. "Оператор".
    pub operator: String,
    /// Button text for key * (back).
    pub back: String,
    /// Words that, typed alone (case-insensitive, trimmed), mean key 0 in this language.
    pub operator_words: Vec<String>,
    /// Said after a person typed free text at a menu, before the menu again.
    pub received: String,
    /// The one reminder after inactivity.
    pub reminder: String,
    /// Said when the conversation closes (inactivity or an operator closing it).
    pub closed: String,
}

impl Default for ChatTexts {
    /// The English words used where a script has no `<chat>` (or leaves some out).
    fn default() -> ChatTexts {
        ChatTexts {
            operator: "Operator".to_owned(),
            back: "Back".to_owned(),
            operator_words: vec!["operator".to_owned()],
            received: "Thank you, we have your message. Please choose one of the buttons below."
                .to_owned(),
            reminder: "Are you still there? Choose a button or write to us whenever you are ready."
                .to_owned(),
            closed: "This conversation is closed. You can write to us again at any time, day or \
                     night."
                .to_owned(),
        }
    }
}

impl Script {
    /// The node with this id, if the script has it.
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }
}

/// One entry of the language-choice menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageOption {
    /// The key that chooses it.
    pub key: Key,
    /// The language it chooses; a script for it exists.
    pub language: LanguageTag,
    /// ISO 3166 alpha-2 codes (`UA`) whose callers get this language without being asked.
    pub countries: Vec<String>,
    /// The language announcing itself, spoken in its own voice.
    pub prompt: Prompt,
}

/// The menu every call starts with, before any language is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageChoice {
    /// The choices, in the order they are announced.
    pub options: Vec<LanguageOption>,
    /// Seconds to wait for a key after the last announcement.
    pub timeout: u32,
    /// How many times the menu is offered before `default` is taken.
    pub attempts: u32,
    /// The language of a caller who chooses nothing.
    pub default: LanguageTag,
}

/// Everything loaded from `ivr-scripts/`: the language choice and one script per language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSet {
    /// The entry menu.
    pub entry: LanguageChoice,
    /// The scripts, by language.
    pub scripts: BTreeMap<LanguageTag, Script>,
}

impl ScriptSet {
    /// The script of a language, if it has one.
    pub fn script(&self, language: &LanguageTag) -> Option<&Script> {
        self.scripts.get(language)
    }

    /// The script of the default language, which validation guarantees exists.
    pub fn default_script(&self) -> &Script {
        &self.scripts[&self.entry.default]
    }

    /// The script of `language`, or of the default language when there is none (not chosen
    /// yet, or a script since removed).
    pub fn script_or_default(&self, language: Option<&LanguageTag>) -> &Script {
        language.and_then(|language| self.script(language)).unwrap_or_else(|| self.default_script())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_are_short_lowercase_letters() {
        assert!(LanguageTag::parse("uk").is_some());
        assert!(LanguageTag::parse("yue").is_some());
        for bad in ["", "u", "UK", "ukra", "u1", "../", "uk\n"] {
            assert!(LanguageTag::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn node_ids_are_url_safe() {
        assert!(NodeId::parse("surrender-alone_2").is_some());
        for bad in ["", "-x", "Main", "a b", "@language", "a/b", &"x".repeat(65)] {
            assert!(NodeId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_single_keypad_symbols() {
        assert_eq!(Key::parse("7").map(Key::as_char), Some('7'));
        assert_eq!(Key::parse("#").map(Key::as_char), Some('#'));
        for bad in ["", "10", "a", "**", " 1"] {
            assert!(Key::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn summary_joins_spoken_text_and_skips_pauses() {
        let prompt = Prompt {
            items: vec![
                PromptItem::Say(" Hello. ".into()),
                PromptItem::Pause(1),
                PromptItem::Play { url: "/audio/en/x.mp3".into(), text: Some("Press 1.".into()) },
            ],
            text: None,
        };
        assert_eq!(prompt.summary(), "Hello. Press 1.");
        assert_eq!(prompt.readable(), "Hello. Press 1.", "without <text>, the spoken words");
        let written = Prompt { text: Some("Hello.\n\nChoose below.".into()), ..prompt };
        assert_eq!(written.readable(), "Hello.\n\nChoose below.");
    }
}
