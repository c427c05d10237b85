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
use crate::domain::queue::Route;
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
    /// The person asked for the conversation's messages to be deleted from their phone.
    pub forget: bool,
    /// At a handoff: the operators' language it was routed to ([`routed`]).
    pub routed: Option<LanguageTag>,
    /// The readable prompts the replies were rendered from, so that routing can take the
    /// handoff's back.
    texts: Vec<String>,
}

/// The first message of a conversation: the language menu. Words written with it are kept:
/// someone's first message may be the urgent one.
pub fn start(set: &ScriptSet, input: &TextInput) -> ChatTurn {
    let mut turn = from_turn(set, ivr::start(set, None));
    if let TextInput::Text(text) = input
        && !is_command(text)
    {
        turn.kept =
            Some(Kept { kind: MessageKind::Text, node: None, var: None, body: text.clone() });
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
    if *input == TextInput::Delete && *position != Position::Closed {
        return ChatTurn {
            replies: Vec::new(),
            events: vec![Event::DeletionAsked],
            position: Position::Closed,
            kept: None,
            handoff: None,
            free_text: false,
            forget: true,
            routed: None,
            texts: Vec::new(),
        };
    }
    match position {
        Position::Closed => start(set, input),
        Position::Language { attempt } => {
            let keys = match input {
                TextInput::Button(data) => language_button(data).map(|tag| language_key(set, &tag)),
                TextInput::Text(text) => Some(typed_language(set, text)),
                _ => None,
            };
            match keys.flatten() {
                Some(key) => from_turn(set, ivr::language_input(set, *attempt, Input::Keys(&key))),
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
                    let mut turn = written_message(set, script, node);
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
                forget: false,
                routed: None,
                texts: Vec::new(),
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
    Event::Wrote {
        node: node.cloned(),
        chars: u32::try_from(text.chars().count()).unwrap_or(u32::MAX),
    }
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
            let received =
                Reply { text: script_or_default.chat.received.clone(), buttons: Vec::new() };
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

/// A message written at a `<voicemail>` node. A call's voicemail reaches the operators through
/// the follow-up list; a written one reaches them the way a chat does: what the node's `next`
/// says is shown, and the conversation waits, silently, in the operators' queue (the script's
/// operator node), where an operator reads it and can write back.
fn written_message(set: &ScriptSet, script: &Script, node: &NodeId) -> ChatTurn {
    let after = from_turn(set, ivr::recorded(script, node, None, None));
    if after.handoff.is_some() {
        return after;
    }
    let ChatTurn { replies, events, texts, .. } = after;
    let bare = replies.into_iter().map(|reply| Reply { buttons: Vec::new(), ..reply }).collect();
    let mut events = events;
    events.retain(|event| !matches!(event, Event::Finished { .. }));
    events.push(Event::HandedOff { node: script.operator.clone(), queue: operator_queue(script) });
    ChatTurn {
        replies: bare,
        events,
        position: Position::Operator {
            language: script.language.clone(),
            node: script.operator.clone(),
        },
        kept: None,
        handoff: Some(operator_queue(script)),
        free_text: false,
        forget: false,
        routed: None,
        texts,
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
            // The chat is the way back: instead of a number to call, the operators, who
            // write back when they are free. The question about the number is not shown.
            Then::CallbackNumber { language, .. } | Then::ConfirmCallback { language, .. } => {
                texts.pop();
                let script = script_of(set, language);
                ivr::enter(script, &script.operator)
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
            let position = Position::Menu {
                language: script.language.clone(),
                node: node.clone(),
                attempt: *attempt,
            };
            (menu_buttons(script, node), position, None)
        }
        Then::Enqueue { language, node, queue } => {
            let position = Position::Operator { language: language.clone(), node: node.clone() };
            (Vec::new(), position, Some(queue.clone()))
        }
        Then::Record { language, node, .. } => (
            Vec::new(),
            Position::Voicemail { language: language.clone(), node: node.clone() },
            None,
        ),
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
        forget: false,
        routed: None,
        texts,
    }
}

/// A turn that reached a handoff, routed as the queue rules decided
/// ([`crate::domain::queue::route`]): to a queue of some operators' language (recorded, as
/// for a call), or past the queue to the handoff's `otherwise` node (its prompt taken back).
pub fn routed(set: &ScriptSet, mut turn: ChatTurn, route: Route) -> ChatTurn {
    let Position::Operator { language, node } = turn.position.clone() else { return turn };
    if turn.handoff.is_none() {
        return turn;
    }
    // A written message already went where `otherwise` leads (a voicemail): it waits for its
    // own language's operators rather than being asked for again.
    let written = turn.kept.as_ref().is_some_and(|kept| kept.kind == MessageKind::Voicemail);
    let route = match route {
        Route::Otherwise { reason } if written => Route::Queue {
            language: language.clone(),
            interpreter_needed: false,
            reason: format!("{reason}; a written message waits for its language's operators"),
        },
        route => route,
    };
    match route {
        Route::Queue { language: operators, interpreter_needed, reason } => {
            for event in &mut turn.events {
                if let Event::HandedOff { queue, .. } = event {
                    *queue = operators.to_string();
                }
            }
            turn.events.push(Event::Routed {
                language: Some(operators.clone()),
                interpreter_needed,
                reason,
            });
            turn.routed = Some(operators);
            turn
        }
        Route::Otherwise { reason } => {
            let script = script_of(set, &language);
            let Some(NodeKind::Handoff { otherwise, .. }) = script.node(&node).map(|n| &n.kind)
            else {
                return turn;
            };
            let mut texts = std::mem::take(&mut turn.texts);
            texts.pop();
            turn.events.retain(|event| !matches!(event, Event::HandedOff { .. }));
            turn.events.push(Event::Routed { language: None, interpreter_needed: false, reason });
            let mut next = from_turn(set, ivr::enter(script, otherwise));
            texts.append(&mut next.texts);
            let buttons = next.replies.pop().map(|reply| reply.buttons).unwrap_or_default();
            turn.events.append(&mut next.events);
            ChatTurn {
                replies: replies(&texts, buttons),
                position: next.position,
                handoff: next.handoff,
                texts,
                ..turn
            }
        }
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
            let cut =
                current.char_indices().nth(MAX_MESSAGE_CHARS).map_or(current.len(), |(i, _)| i);
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
    set.script_or_default(Some(language))
}

/// One button per language, each named in itself.
fn language_buttons(set: &ScriptSet) -> Vec<Vec<Button>> {
    set.entry
        .options
        .iter()
        .filter_map(|option| set.script(&option.language))
        .map(|script| {
            let key = language_key(set, &script.language);
            vec![Button { text: script.name.clone(), data: language_data(&script.language), key }]
        })
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
            let key = Some(option.key.to_string());
            vec![Button { text, data: menu_data(node, option.key), key }]
        })
        .collect();
    let mut last = vec![Button {
        text: script.chat.operator.clone(),
        data: menu_data(node, Key::OPERATOR),
        key: Some(Key::OPERATOR.to_string()),
    }];
    if back.is_some() {
        last.push(Button {
            text: script.chat.back.clone(),
            data: menu_data(node, Key::BACK),
            key: Some(Key::BACK.to_string()),
        });
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
    text.trim().trim_end_matches(['.', '!', '?', ',', ';']).trim().to_lowercase()
}

/// A short, stable fingerprint of a node id (FNV-1a, 32 bits) for button data. Not a secret:
/// it only tells one menu's buttons from another's.
fn fingerprint(text: &str) -> u32 {
    text.bytes()
        .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::scripts::load_texts;

    const LANGUAGES: &str = r#"<languages default="ru" timeout="5" attempts="2">
      <language code="ru" key="1"><say>Для русского нажмите 1.</say><text>Русский</text></language>
      <language code="en" key="2"><say>For English press 2.</say></language>
    </languages>"#;

    fn script(language: &str, name: &str, operator_word: &str) -> String {
        format!(
            r#"<script language="{language}" name="{name}" voice="Polly.Joanna" tts-language="en-US"
                 start="welcome" operator="operator">
              <apology><say>Sorry.</say></apology>
              <chat operator="{operator_word}" back="Back" operator-words="{operator_word}">
                <received>Got it.</received><reminder>Still there?</reminder><closed>Bye.</closed>
              </chat>
              <message id="welcome" next="main"><say>Welcome, press 0 for an operator.</say><text>Welcome.</text></message>
              <menu id="main" timeout="5" attempts="2" default="operator">
                <say>Press 1 to surrender, 2 to hear the rules.</say><text>What do you need?</text>
                <option key="1" goto="unit" tag="intent=surrender" label="wants to surrender" text="Surrender"/>
                <option key="2" goto="rules" label="rules"/>
                <invalid><say>Wrong key.</say></invalid>
              </menu>
              <ask id="unit" var="unit" next="operator"><say>Which unit?</say><text>Which unit are you in?</text></ask>
              <message id="rules" next="bye"><say>The rules.</say></message>
              <hangup id="bye"><say>Goodbye.</say></hangup>
              <handoff id="operator" queue="{language}" otherwise="bye">
                <say>Connecting.</say><text>An operator will write to you.</text>
                <wait><say>You are number {{position}}.</say></wait>
              </handoff>
            </script>"#
        )
    }

    fn set() -> ScriptSet {
        let texts = BTreeMap::from([
            ("languages.xml".to_owned(), LANGUAGES.to_owned()),
            ("ru.xml".to_owned(), script("ru", "Русский", "Оператор")),
            ("en.xml".to_owned(), script("en", "English", "Operator")),
        ]);
        match load_texts(Path::new("scripts"), &texts) {
            Ok(loaded) => loaded.set,
            Err(report) => panic!("test scripts invalid: {report}"),
        }
    }

    fn en_main() -> Position {
        Position::Menu {
            language: LanguageTag::parse("en").unwrap(),
            node: NodeId::parse("main").unwrap(),
            attempt: 1,
        }
    }

    fn text(words: &str) -> TextInput {
        TextInput::Text(words.to_owned())
    }

    #[test]
    fn a_first_message_offers_the_languages_as_buttons_named_in_themselves() {
        let turn = start(&set(), &TextInput::Start);
        assert_eq!(turn.position, Position::Language { attempt: 1 });
        let reply = turn.replies.last().unwrap();
        let names: Vec<_> = reply.buttons.iter().flatten().map(|b| b.text.as_str()).collect();
        assert_eq!(names, ["Русский", "English"]);
        assert!(turn.kept.is_none(), "/start is not words of the person");
    }

    #[test]
    fn words_in_a_first_message_are_kept_not_lost() {
        let turn = start(&set(), &text("help, I am wounded"));
        let kept = turn.kept.expect("kept");
        assert_eq!(kept.body, "help, I am wounded");
        assert!(matches!(turn.events[0], Event::Wrote { node: None, chars: 18 }));
    }

    #[test]
    fn a_language_button_enters_its_script_and_reads_the_text_not_the_speech() {
        let set = set();
        let turn = input(
            &set,
            &Position::Language { attempt: 1 },
            0,
            3,
            &TextInput::Button("l:en".into()),
        );
        assert_eq!(turn.position, en_main());
        let all: String =
            turn.replies.iter().map(|r| r.text.as_str()).collect::<Vec<_>>().join("|");
        assert_eq!(all, "Welcome.\n\nWhat do you need?");
        assert!(!all.contains("press"), "voice wording leaked into the chat: {all}");
        let buttons: Vec<_> =
            turn.replies.last().unwrap().buttons.iter().flatten().map(|b| b.text.clone()).collect();
        // Option 2 has no text=: its key is the button.
        assert_eq!(buttons, ["Surrender", "2", "Operator"]);
    }

    #[test]
    fn a_typed_language_name_or_digit_chooses_it() {
        let set = set();
        for typed in ["english", "English!", "2", "en"] {
            let turn = input(&set, &Position::Language { attempt: 1 }, 0, 3, &text(typed));
            assert_eq!(turn.position, en_main(), "{typed}");
        }
    }

    #[test]
    fn a_button_a_digit_and_the_option_text_all_choose_the_same() {
        let set = set();
        let node = NodeId::parse("main").unwrap();
        let inputs = [
            TextInput::Button(menu_data(&node, Key::parse("1").unwrap())),
            text("1"),
            text(" surrender "),
        ];
        for given in inputs {
            let turn = input(&set, &en_main(), 0, 3, &given);
            let Position::Ask { node, .. } = &turn.position else { panic!("{given:?}: {turn:?}") };
            assert_eq!(node.as_str(), "unit");
            assert!(turn.events.iter().any(|e| matches!(e, Event::Tagged { .. })), "{given:?}");
            assert_eq!(turn.replies.last().unwrap().text, "Which unit are you in?");
        }
    }

    #[test]
    fn the_answer_to_an_ask_is_kept_and_the_script_goes_on() {
        let set = set();
        let asked = Position::Ask {
            language: LanguageTag::parse("en").unwrap(),
            node: NodeId::parse("unit").unwrap(),
        };
        let turn = input(&set, &asked, 0, 3, &text("3rd battalion"));
        let kept = turn.kept.clone().unwrap();
        assert_eq!(
            (kept.kind, kept.var.as_deref(), kept.body.as_str()),
            (MessageKind::Answer, Some("unit"), "3rd battalion")
        );
        assert!(matches!(turn.position, Position::Operator { .. }));
        assert_eq!(turn.handoff.as_deref(), Some("en"));
        assert!(
            !format!("{:?}", turn.events).contains("battalion"),
            "an answer is never in the events"
        );
    }

    #[test]
    fn free_text_at_a_menu_is_kept_answered_and_after_the_limit_reaches_an_operator() {
        let set = set();
        let first = input(&set, &en_main(), 0, 3, &text("please help"));
        assert!(first.free_text);
        assert_eq!(first.kept.as_ref().unwrap().body, "please help");
        assert_eq!(first.replies[0].text, "Got it.");
        assert_eq!(first.position, en_main(), "not a failed attempt: the menu stays");
        assert!(first.handoff.is_none());
        let third = input(&set, &en_main(), 2, 3, &text("please!!"));
        assert!(matches!(third.position, Position::Operator { .. }));
        assert!(third.handoff.is_some());
        assert_eq!(third.kept.as_ref().unwrap().body, "please!!");
    }

    #[test]
    fn reserved_words_reach_an_operator_in_each_language() {
        let set = set();
        let ru_main = Position::Menu {
            language: LanguageTag::parse("ru").unwrap(),
            node: NodeId::parse("main").unwrap(),
            attempt: 1,
        };
        for (position, word) in
            [(&ru_main, "оператор"), (&en_main(), "OPERATOR"), (&en_main(), "0")]
        {
            let turn = input(&set, position, 0, 3, &text(word));
            assert!(matches!(turn.position, Position::Operator { .. }), "{word}");
            assert!(turn.handoff.is_some(), "{word}");
        }
    }

    #[test]
    fn a_button_of_another_menu_only_shows_the_current_one_again() {
        let set = set();
        let old = menu_data(&NodeId::parse("welcome").unwrap(), Key::parse("1").unwrap());
        let turn = input(&set, &en_main(), 0, 3, &TextInput::Button(old));
        assert_eq!(turn.position, en_main());
        assert!(turn.events.is_empty() && turn.kept.is_none() && !turn.free_text);
        assert_eq!(turn.replies.last().unwrap().text, "What do you need?");
    }

    #[test]
    fn with_an_operator_words_are_kept_and_the_script_says_nothing() {
        let set = set();
        let with = Position::Operator {
            language: LanguageTag::parse("en").unwrap(),
            node: NodeId::parse("operator").unwrap(),
        };
        let turn = input(&set, &with, 0, 3, &text("are you there?"));
        assert!(turn.replies.is_empty());
        assert_eq!(turn.kept.unwrap().body, "are you there?");
        assert_eq!(turn.position, with);
    }

    #[test]
    fn the_end_of_the_script_closes_the_conversation() {
        let set = set();
        let node = NodeId::parse("main").unwrap();
        let turn = input(
            &set,
            &en_main(),
            0,
            3,
            &TextInput::Button(menu_data(&node, Key::parse("2").unwrap())),
        );
        assert_eq!(turn.position, Position::Closed);
        assert_eq!(turn.replies.last().unwrap().text, "The rules.\n\nGoodbye.");
    }

    #[test]
    fn long_text_is_split_under_the_limit_with_the_buttons_on_the_last_message() {
        let long = "я".repeat(MAX_MESSAGE_CHARS + 10);
        let buttons = vec![vec![Button { text: "1".into(), data: "x".into(), key: None }]];
        let replies = replies(&[long, "end".into()], buttons);
        assert_eq!(replies.len(), 2);
        assert!(replies.iter().all(|r| r.text.chars().count() <= MAX_MESSAGE_CHARS));
        assert!(replies[0].buttons.is_empty() && !replies[1].buttons.is_empty());
    }

    #[test]
    fn button_data_is_short_and_never_the_option_text() {
        let node = NodeId::parse(&"n".repeat(64)).unwrap();
        let data = menu_data(&node, Key::parse("9").unwrap());
        assert!(data.len() <= 64, "{data}");
        assert!(!data.contains("nnnn"));
        assert_eq!(language_data(&LanguageTag::parse("yue").unwrap()), "l:yue");
    }

    /// Every node of the shipped scripts as a chat shows it on entering it: its messages,
    /// its buttons (text and the key a channel without buttons would take), where it leaves
    /// the conversation. Reviewed by reading the snapshots, one per language.
    #[test]
    fn every_node_of_the_shipped_scripts_reads_well_in_a_chat() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let set = crate::scripts::load_dir(&dir).map_err(|r| r.to_string()).unwrap().set;
        for (language, script) in &set.scripts {
            let mut out = String::new();
            for id in script.nodes.keys() {
                let turn = from_turn(&set, ivr::enter(script, id));
                out.push_str(&format!("## {id}\n"));
                for reply in &turn.replies {
                    assert!(reply.text.chars().count() <= MAX_MESSAGE_CHARS, "{language} {id}");
                    assert!(
                        !reply.text.to_lowercase().contains("press "),
                        "{language} {id}: {}",
                        reply.text
                    );
                    out.push_str(&reply.text);
                    out.push('\n');
                    for row in &reply.buttons {
                        let row: Vec<String> = row
                            .iter()
                            .map(|b| {
                                assert!(b.data.len() <= 64, "{language} {id}: {}", b.data);
                                format!("[{}|{}]", b.text, b.key.as_deref().unwrap_or("-"))
                            })
                            .collect();
                        out.push_str(&row.join(" "));
                        out.push('\n');
                    }
                }
                out.push_str(&format!("-> {:?}\n\n", turn.position.state()));
            }
            insta::assert_snapshot!(format!("chat_{language}"), out);
        }
    }
}
