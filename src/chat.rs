//! The text engine: a conversation walking its script one message at a time.
//!
//! It reuses the call engine ([`crate::ivr`]) for every decision a script makes (which option a
//! key chooses, where `*` and `0` lead, what a wrong answer costs, which events a case
//! records), so a menu behaves the same whether it was heard or read. What is its own is what
//! only text has: the person's words are matched to a key (a button's data, a typed digit,
//! the option's text, a reserved word like "оператор"), anything else they write is kept as
//! something a person wrote rather than refused as a wrong key, and a turn is rendered as
//! messages with buttons from the prompts' readable text ([`crate::scripts::Prompt::readable`]).
//!
//! Like the call engine it is pure: the conversation's [`Position`] comes in, the new one goes
//! out with what to send and what to record.

use crate::domain::cases::Event;
use crate::domain::conversation::{MessageKind, Position, TextInput};
use crate::domain::outbox::Button;
use crate::ivr::{self, Input, Then, Turn};
use crate::scripts::{Key, LanguageTag, NodeId, NodeKind, Script, ScriptSet};

/// The longest message the channels take (Telegram's limit; longer text is split).
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// How many nodes one message may walk through at most (message chains, passed-over callback
/// nodes): the call engine's own bound per answer is lower, this bounds the repeats.
const MAX_CONTINUES: usize = 8;

/// One message to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The words.
    pub text: String,
    /// Rows of buttons under it (empty: none).
    pub buttons: Vec<Vec<Button>>,
}

/// Words of the person that the case keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct Kept {
    /// What they are.
    pub kind: MessageKind,
    /// Where they were written.
    pub node: Option<NodeId>,
    /// The `<ask>` variable they answer.
    pub var: Option<String>,
    /// The words.
    pub body: String,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kept({:?}, {:?}, [{} chars])", self.kind, self.node, self.body.chars().count())
    }
}

/// What one message from the person does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTurn {
    /// Sent back, in order.
    pub replies: Vec<Reply>,
    /// Recorded on the case, as one step.
    pub events: Vec<Event>,
    /// Where the conversation is afterwards.
    pub position: Position,
    /// The person's words to keep, if they wrote any.
    pub kept: Option<Kept>,
    /// The conversation joins the operators' queue of this handoff node's queue.
    pub handoff: Option<String>,
    /// The words were free text at a menu (counted towards `free_text_handoff`).
    pub free_text: bool,
}

/// The first message of a conversation: the language menu. Words written with it are kept:
/// someone's first message may be the urgent one.
pub fn start(set: &ScriptSet, input: &TextInput) -> ChatTurn {
    let mut turn = from_turn(set, ivr::start(set, None));
    if let TextInput::Text(text) = input
        && !is_command(text)
    {
        turn.kept = Some(Kept { kind: MessageKind::Text, node: None, var: None, body: text.clone() });
        turn.events.insert(0, wrote(None, text));
    }
    turn
}

/// A message in a conversation at `position`. `free_texts` counts the free text written at
/// menus so far; reaching `handoff_after` such messages takes the person to an operator.
pub fn input(
    set: &ScriptSet,
    position: &Position,
    free_texts: u32,
    handoff_after: u32,
    input: &TextInput,
) -> ChatTurn {
    match position {
        Position::Closed => start(set, input),
        Position::Language { attempt } => {
            let keys = match input {
                TextInput::Button(data) => language_button(data).map(|tag| language_key(set, &tag)),
                TextInput::Text(text) => Some(typed_language(set, text)),
                _ => None,
            };
            match keys.flatten() {
                Some(key) => {
                    from_turn(set, ivr::language_input(set, *attempt, Input::Keys(&key)))
                }
                None => free_text(set, None, position, free_texts, handoff_after, input),
            }
        }
        Position::Menu { language, node, attempt } => {
            let script = script_of(set, language);
            let key = match input {
                TextInput::Button(data) => menu_button(script, node, data),
                TextInput::Text(text) => typed_key(script, node, text),
                _ => None,
            };
            match key {
                Some(key) => from_turn(
                    set,
                    ivr::menu_input(set, script, node, *attempt, Input::Keys(&key.to_string())),
                ),
                None => free_text(set, Some(script), position, free_texts, handoff_after, input),
            }
        }
        Position::Ask { language, node } => {
            let script = script_of(set, language);
            match input {
                TextInput::Text(text) if is_operator_word(script, text) => to_operator(set, script),
                TextInput::Text(text) if !is_command(text) => {
                    let var = match script.node(node).map(|n| &n.kind) {
                        Some(NodeKind::Ask { var, .. }) => Some(var.clone()),
                        _ => None,
                    };
                    let mut turn = from_turn(set, ivr::answered(script, node, None, None));
                    turn.kept = Some(Kept {
                        kind: MessageKind::Answer,
                        node: Some(node.clone()),
                        var,
                        body: text.clone(),
                    });
                    turn
                }
                // A button of an earlier message, or nothing readable: ask again.
                _ => from_turn(set, ivr::enter(script, node)),
            }
        }
        Position::Voicemail { language, node } => {
            let script = script_of(set, language);
            match input {
                TextInput::Text(text) if !is_command(text) => {
                    let mut turn = from_turn(set, ivr::recorded(script, node, None, None));
                    turn.events.insert(0, wrote(Some(node), text));
                    turn.kept = Some(Kept {
                        kind: MessageKind::Voicemail,
                        node: Some(node.clone()),
                        var: None,
                        body: text.clone(),
                    });
                    turn
                }
                _ => from_turn(set, ivr::enter(script, node)),
            }
        }
        // With an operator (or waiting for one), everything written is for them: no answer
        // from the script, and old menus' buttons do nothing.
        Position::Operator { node, .. } => {
            let (events, kept) = match input {
                TextInput::Text(text) if !is_command(text) => (
                    vec![wrote(Some(node), text)],
                    Some(Kept {
                        kind: MessageKind::Text,
                        node: Some(node.clone()),
                        var: None,
                        body: text.clone(),
                    }),
                ),
                _ => (Vec::new(), None),
            };
            ChatTurn {
                replies: Vec::new(),
                events,
                position: position.clone(),
                kept,
                handoff: None,
                free_text: false,
            }
        }
    }
}

/// The button data of a menu's key: opaque (never the option's text), short (Telegram allows
/// 64 bytes), and naming the menu it belongs to, so that a button of an older message cannot
/// choose in the menu shown now.
pub fn menu_data(node: &NodeId, key: Key) -> String {
    format!("m{:08x}:{key}", fingerprint(node.as_str()))
}

/// The button data of a language in the language menu.
pub fn language_data(language: &LanguageTag) -> String {
    format!("l:{language}")
}

/// The start command and the like: `/start`, `/help`. Not words a person wrote to us.
fn is_command(text: &str) -> bool {
    text.starts_with('/')
}

fn wrote(node: Option<&NodeId>, text: &str) -> Event {
    Event::Wrote { node: node.cloned(), chars: u32::try_from(text.chars().count()).unwrap_or(u32::MAX) }
}

/// Free text where the script expected a choice: kept, answered with the script's
/// `received` words and the question again, or with an operator once `handoff_after`
/// messages were written so.
fn free_text(
    set: &ScriptSet,
    script: Option<&Script>,
    position: &Position,
    free_texts: u32,
    handoff_after: u32,
    input: &TextInput,
) -> ChatTurn {
    let text = match input {
        TextInput::Text(text) if !is_command(text) => Some(text),
        _ => None,
    };
    let script_or_default = script.unwrap_or_else(|| set.default_script());
    if let Some(text) = text
        && is_operator_word(script_or_default, text)
    {
        return to_operator(set, script_or_default);
    }
    let handing_off = text.is_some() && free_texts + 1 >= handoff_after.max(1);
    let mut turn = if handing_off {
        to_operator(set, script_or_default)
    } else {
        again(set, script, position)
    };
    if let Some(text) = text {
        if !handing_off {
            let received = Reply { text: script_or_default.chat.received.clone(), buttons: Vec::new() };
            turn.replies.insert(0, received);
        }
        turn.events.insert(0, wrote(position.node(), text));
        turn.kept = Some(Kept {
            kind: MessageKind::Text,
            node: position.node().cloned(),
            var: None,
            body: text.clone(),
        });
        turn.free_text = true;
    }
    turn
}

/// The question of `position` asked again, without counting an attempt.
fn again(set: &ScriptSet, script: Option<&Script>, position: &Position) -> ChatTurn {
    match (script, position) {
        (Some(script), Position::Menu { node, attempt, .. }) => {
            let mut turn = from_turn(set, ivr::enter(script, node));
            turn.position = Position::Menu {
                language: script.language.clone(),
                node: node.clone(),
                attempt: *attempt,
            };
            // Repeating is not the script's doing: nothing to record but what was written.
            turn.events.clear();
            turn
        }
        _ => {
            let mut turn = from_turn(set, ivr::start(set, None));
            turn.position = position.clone();
            turn.events.clear();
            turn
        }
    }
}

/// Key `0` from anywhere: the script's operator node.
fn to_operator(set: &ScriptSet, script: &Script) -> ChatTurn {
    let mut turn = from_turn(set, ivr::enter(script, &script.operator));
    let pressed = Event::Pressed {
        node: None,
        digits: Key::OPERATOR.to_string(),
        meaning: "operator (written)".into(),
    };
    turn.events.insert(0, pressed);
    turn
}

/// Renders a call engine's turn for a chat, following what voice would do next where a chat
/// has no use for it.
fn from_turn(set: &ScriptSet, mut turn: Turn) -> ChatTurn {
    let mut texts = std::mem::take(&mut turn.text);
    let mut events = std::mem::take(&mut turn.events);
    for _ in 0..MAX_CONTINUES {
        let next = match &turn.then {
            Then::Continue { language, node } => ivr::enter(script_of(set, language), node),
            // The chat is the way back: a callback node passes on to where a confirmed
            // number would have led.
            Then::CallbackNumber { language, node, .. } | Then::ConfirmCallback { language, node, .. } => {
                let script = script_of(set, language);
                match script.node(node).map(|n| &n.kind) {
                    Some(NodeKind::Callback { next, .. }) => ivr::enter(script, next),
                    _ => ivr::to_operator(script, format!("unknown callback node {node}")),
                }
            }
            _ => break,
        };
        turn = next;
        texts.append(&mut turn.text);
        events.append(&mut turn.events);
    }
    let (buttons, position, handoff) = match &turn.then {
        Then::ChooseLanguage { attempt, .. } => {
            (language_buttons(set), Position::Language { attempt: *attempt }, None)
        }
        Then::Choose { language, node, attempt, .. } => {
            let script = script_of(set, language);
            let position =
                Position::Menu { language: script.language.clone(), node: node.clone(), attempt: *attempt };
            (menu_buttons(script, node), position, None)
        }
        Then::Enqueue { language, node, queue } => {
            let position = Position::Operator { language: language.clone(), node: node.clone() };
            (Vec::new(), position, Some(queue.clone()))
        }
        Then::Record { language, node, .. } => {
            (Vec::new(), Position::Voicemail { language: language.clone(), node: node.clone() }, None)
        }
        Then::Ask { language, node, .. } => {
            (Vec::new(), Position::Ask { language: language.clone(), node: node.clone() }, None)
        }
        Then::Hangup => (Vec::new(), Position::Closed, None),
        // Bounded above: a chain longer than that, or a callback left over, reaches a person.
        Then::Continue { language, .. }
        | Then::CallbackNumber { language, .. }
        | Then::ConfirmCallback { language, .. } => {
            let script = script_of(set, language);
            let position = Position::Operator {
                language: script.language.clone(),
                node: script.operator.clone(),
            };
            (Vec::new(), position, Some(operator_queue(script)))
        }
    };
    ChatTurn {
        replies: replies(&texts, buttons),
        events,
        position,
        kept: None,
        handoff,
        free_text: false,
    }
}

/// The queue of a script's operator node.
fn operator_queue(script: &Script) -> String {
    match script.node(&script.operator).map(|n| &n.kind) {
        Some(NodeKind::Handoff { queue, .. }) => queue.clone(),
        _ => script.language.to_string(),
    }
}

/// The texts of a turn as messages: paragraphs joined, split where one would pass the
/// channel's limit, the buttons under the last.
fn replies(texts: &[String], buttons: Vec<Vec<Button>>) -> Vec<Reply> {
    let mut messages: Vec<String> = Vec::new();
    let mut current = String::new();
    for text in texts.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let joined = current.chars().count() + 2 + text.chars().count();
        if !current.is_empty() && joined > MAX_MESSAGE_CHARS {
            messages.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(text);
        while current.chars().count() > MAX_MESSAGE_CHARS {
            let cut = current.char_indices().nth(MAX_MESSAGE_CHARS).map_or(current.len(), |(i, _)| i);
            let rest = current.split_off(cut);
            messages.push(std::mem::replace(&mut current, rest));
        }
    }
    if !current.is_empty() {
        messages.push(current);
    }
    if messages.is_empty() && !buttons.is_empty() {
        // Buttons need a message to hang under.
        messages.push("…".to_owned());
    }
    let last = messages.len().saturating_sub(1);
    let mut buttons = Some(buttons);
    messages
        .into_iter()
        .enumerate()
        .map(|(i, text)| Reply {
            text,
            buttons: if i == last { buttons.take().unwrap_or_default() } else { Vec::new() },
        })
        .collect()
}

fn script_of<'a>(set: &'a ScriptSet, language: &LanguageTag) -> &'a Script {
    set.script(language).unwrap_or_else(|| set.default_script())
}

/// One button per language, each named in itself.
fn language_buttons(set: &ScriptSet) -> Vec<Vec<Button>> {
    set.entry
        .options
        .iter()
        .filter_map(|option| set.script(&option.language))
        .map(|script| vec![Button { text: script.name.clone(), data: language_data(&script.language) }])
        .collect()
}

/// A menu's options, one per row, then the operator and (where the menu has a way back) back.
fn menu_buttons(script: &Script, node: &NodeId) -> Vec<Vec<Button>> {
    let Some(NodeKind::Menu { options, back, .. }) = script.node(node).map(|n| &n.kind) else {
        return Vec::new();
    };
    let mut rows: Vec<Vec<Button>> = options
        .iter()
        .map(|option| {
            let text = option.text.clone().unwrap_or_else(|| option.key.to_string());
            vec![Button { text, data: menu_data(node, option.key) }]
        })
        .collect();
    let mut last = vec![Button { text: script.chat.operator.clone(), data: menu_data(node, Key::OPERATOR) }];
    if back.is_some() {
        last.push(Button { text: script.chat.back.clone(), data: menu_data(node, Key::BACK) });
    }
    rows.push(last);
    rows
}

/// The key a menu button stands for, if it belongs to this menu.
fn menu_button(script: &Script, node: &NodeId, data: &str) -> Option<Key> {
    let (menu, key) = data.strip_prefix('m')?.split_once(':')?;
    let key = Key::parse(key)?;
    (menu == format!("{:08x}", fingerprint(node.as_str())) && script.node(node).is_some())
        .then_some(key)
}

/// The key typed words stand for in a menu: a key itself, an option's text, an operator word,
/// the back button's word.
fn typed_key(script: &Script, node: &NodeId, text: &str) -> Option<Key> {
    let typed = normalized(text);
    if let Some(key) = Key::parse(&typed) {
        return Some(key);
    }
    if is_operator_word(script, text) {
        return Some(Key::OPERATOR);
    }
    if typed == normalized(&script.chat.back) {
        return Some(Key::BACK);
    }
    let Some(NodeKind::Menu { options, .. }) = script.node(node).map(|n| &n.kind) else {
        return None;
    };
    options
        .iter()
        .find(|option| option.text.as_deref().is_some_and(|t| normalized(t) == typed))
        .map(|option| option.key)
}

fn is_operator_word(script: &Script, text: &str) -> bool {
    let typed = normalized(text);
    script.chat.operator_words.iter().any(|word| normalized(word) == typed)
}

/// The key of the language menu a typed text names: the key itself, the language's name in
/// itself, or its code.
fn typed_language(set: &ScriptSet, text: &str) -> Option<String> {
    let typed = normalized(text);
    if Key::parse(&typed).is_some() {
        return Some(typed);
    }
    set.entry
        .options
        .iter()
        .find(|option| {
            option.language.as_str() == typed
                || set.script(&option.language).is_some_and(|s| normalized(&s.name) == typed)
        })
        .map(|option| option.key.to_string())
}

fn language_button(data: &str) -> Option<LanguageTag> {
    LanguageTag::parse(data.strip_prefix("l:")?)
}

fn language_key(set: &ScriptSet, language: &LanguageTag) -> Option<String> {
    set.entry.options.iter().find(|o| &o.language == language).map(|o| o.key.to_string())
}

/// Lowercase, trimmed of spaces and of the punctuation people end words with.
fn normalized(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '!', '?', ',', ';'])
        .trim()
        .to_lowercase()
}

/// A short, stable fingerprint of a node id (FNV-1a, 32 bits) for button data. Not a secret:
/// it only tells one menu's buttons from another's.
fn fingerprint(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}
