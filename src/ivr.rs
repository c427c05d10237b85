//! The call engine: where a call is in its script, what the caller pressed, and what happens
//! next.
//!
//! Every function here is pure: it takes the loaded scripts and the call's position (which
//! travels in the URLs the provider requests, so a call survives a server restart) and returns
//! a [`Turn`]: what is said, what the call does afterwards, and the events to record. It knows
//! nothing of HTTP or TwiML: the webhooks render a turn as TwiML, and a text channel
//! could render the same turn as a chat message.

use crate::domain::cases::{Event, LanguageChoiceMethod};
use crate::scripts::{
    Key, LanguageOption, LanguageTag, Node, NodeId, NodeKind, Prompt, PromptItem, Script,
    ScriptSet, Target, Voice,
};

/// How many nodes one answer may pass through before handing over with a redirect. Message
/// chains are short in practice; the bound keeps each answer small and cannot loop, since the
/// loader refuses cycles of messages anyway.
const MAX_NODES_PER_TURN: usize = 8;

/// Roughly how much prompt text one answer may carry before the rest goes in the next one,
/// keeping documents far below the provider's 64 kB (Cyrillic takes two bytes a character,
/// Korean three).
const MAX_TEXT_BYTES_PER_TURN: usize = 24 * 1024;

/// One piece of speech with the voice that speaks it. The language menu mixes voices, so the
/// voice travels with each piece rather than with the turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoken {
    /// What is said or played.
    pub item: PromptItem,
    /// Who says it (for text-to-speech).
    pub voice: Voice,
}

/// Where the call goes once the speech of a turn has been said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Wait for a key in the language-choice menu; the speech is the menu itself.
    ChooseLanguage {
        /// Which offering of the menu this is (1 = first).
        attempt: u32,
        /// Seconds to wait.
        timeout: u32,
    },
    /// Wait for a key in a menu; the speech is the menu itself.
    Choose {
        /// The script's language.
        language: LanguageTag,
        /// The menu.
        node: NodeId,
        /// Which offering of the menu this is (1 = first).
        attempt: u32,
        /// Seconds to wait.
        timeout: u32,
    },
    /// Continue at a node in the next answer (the current one is full).
    Continue {
        /// The script's language.
        language: LanguageTag,
        /// Where to continue.
        node: NodeId,
    },
    /// Put the caller in an operators' queue.
    Enqueue {
        /// The script's language.
        language: LanguageTag,
        /// The handoff node.
        node: NodeId,
        /// The queue.
        queue: String,
    },
    /// Record the spoken answer to an `<ask>` question.
    Ask {
        /// The script's language.
        language: LanguageTag,
        /// The ask node.
        node: NodeId,
        /// Longest answer, in seconds.
        max_length: u32,
    },
    /// Record a voicemail.
    Record {
        /// The script's language.
        language: LanguageTag,
        /// The voicemail node.
        node: NodeId,
        /// Longest recording, in seconds.
        max_length: u32,
    },
    /// Ask for the number to call back on, typed on the keypad and ended by `#`.
    CallbackNumber {
        /// The script's language.
        language: LanguageTag,
        /// The callback node.
        node: NodeId,
        /// Which entry this is (1 = first).
        attempt: u32,
    },
    /// The number was read back: wait for the key that confirms it or re-enters it.
    ConfirmCallback {
        /// The script's language.
        language: LanguageTag,
        /// The callback node.
        node: NodeId,
        /// The number, sealed by the webhook layer (opaque here), carried to the next request.
        sealed: String,
        /// Which offering of the confirmation this is (1 = first).
        attempt: u32,
    },
    /// End the call.
    Hangup,
}

/// What one answer to the provider does: the speech, then where the call goes, and what
/// happened along the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Said in order.
    pub speech: Vec<Spoken>,
    /// For every prompt the turn speaks, in the same order, what a chat shows of it
    /// ([`Prompt::readable`]); for the language menu, each language's announcement.
    pub text: Vec<String>,
    /// Then this.
    pub then: Then,
    /// What to record about this step.
    pub events: Vec<Event>,
}

impl Turn {
    /// A turn that says nothing (yet) before `then`.
    pub fn silent(then: Then, events: Vec<Event>) -> Turn {
        Turn { speech: Vec::new(), text: Vec::new(), then, events }
    }

    /// Says a prompt in `voice` after what the turn already says: its speech and its readable
    /// text together, the one way a prompt enters a turn, so the two never drift apart.
    fn say(&mut self, voice: &Voice, prompt: &Prompt) {
        self.speech.extend(
            prompt.items.iter().map(|item| Spoken { item: item.clone(), voice: voice.clone() }),
        );
        self.text.push(prompt.readable());
    }

    /// Says a prompt before everything the turn already says.
    fn say_first(&mut self, voice: &Voice, prompt: &Prompt) {
        let mut first = Turn::silent(Then::Hangup, Vec::new());
        first.say(voice, prompt);
        self.speech.splice(0..0, first.speech);
        self.text.splice(0..0, first.text);
    }
}

/// What the caller hears while waiting in a queue, and what a chat shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The announcement.
    pub speech: Vec<Spoken>,
    /// The announcement as a chat shows it.
    pub text: String,
    /// Seconds between two announcements.
    pub pause: u32,
}

/// What the caller did at a menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Keys pressed, already checked to be `0-9*#` and not empty.
    Keys(&'a str),
    /// Nothing before the timeout.
    Nothing,
}

/// The first answer of a call: the language menu, or straight into a language when the
/// caller's country is configured for one.
pub fn start(set: &ScriptSet, country: Option<&str>) -> Turn {
    let by_country = country.and_then(|country| {
        set.entry.options.iter().find(|option| option.countries.iter().any(|c| c == country))
    });
    match by_country {
        Some(option) => choose_language(set, &option.language, LanguageChoiceMethod::Country),
        None => language_menu(set, 1, Vec::new()),
    }
}

/// The caller answered the language menu (offered for the `attempt`-th time).
pub fn language_input(set: &ScriptSet, attempt: u32, input: Input<'_>) -> Turn {
    let entry = &set.entry;
    let (chosen, mut events): (Option<&LanguageOption>, Vec<Event>) = match input {
        Input::Keys(keys) => {
            let option = Key::parse(keys)
                .and_then(|key| entry.options.iter().find(|option| option.key == key));
            let meaning = match option {
                Some(option) => format!("language {}", option.language),
                None => "invalid".to_owned(),
            };
            let pressed = Event::Pressed { node: None, digits: keys.to_owned(), meaning };
            (option, vec![pressed])
        }
        Input::Nothing => (None, vec![Event::NoInput { node: None, attempt }]),
    };
    if let Some(option) = chosen {
        let mut turn = choose_language(set, &option.language, LanguageChoiceMethod::Key);
        events.append(&mut turn.events);
        turn.events = events;
        return turn;
    }
    if attempt >= entry.attempts {
        let mut turn = choose_language(set, &entry.default, LanguageChoiceMethod::Default);
        events.append(&mut turn.events);
        turn.events = events;
        return turn;
    }
    language_menu(set, attempt + 1, events)
}

/// Enters a node: says its prompt and, for messages, goes on to the next node in the same
/// answer while it fits.
pub fn enter(script: &Script, node: &NodeId) -> Turn {
    let mut turn = Turn::silent(Then::Hangup, Vec::new());
    enter_into(script, node, &mut turn);
    turn
}

/// The caller answered a menu (offered for the `attempt`-th time).
///
/// A node that is not a menu (a stale URL after a script change) is entered afresh, and a node
/// that no longer exists sends the caller to an operator, so the caller always hears something
/// sensible rather than an error.
pub fn menu_input(
    set: &ScriptSet,
    script: &Script,
    node_id: &NodeId,
    attempt: u32,
    input: Input<'_>,
) -> Turn {
    let Some(node) = script.node(node_id) else {
        return to_operator(script, format!("unknown node {node_id}"));
    };
    let NodeKind::Menu { options, attempts, default, invalid, no_input, back, .. } = &node.kind
    else {
        return enter(script, node_id);
    };

    let keys = match input {
        Input::Keys(keys) => keys,
        Input::Nothing => {
            let events = vec![Event::NoInput { node: Some(node_id.clone()), attempt }];
            let retry = Retry { attempts: *attempts, default, said: no_input.as_ref() };
            return retry.turn(script, node, attempt, events);
        }
    };
    let pressed = |meaning: &str| Event::Pressed {
        node: Some(node_id.clone()),
        digits: keys.to_owned(),
        meaning: meaning.to_owned(),
    };
    let option = Key::parse(keys).and_then(|key| match key {
        Key::OPERATOR | Key::BACK => None,
        key => options.iter().find(|option| option.key == key),
    });

    match (Key::parse(keys), option) {
        (Some(Key::OPERATOR), _) => {
            prefixed(vec![pressed("operator")], enter(script, &script.operator))
        }
        (Some(Key::BACK), _) => match back {
            Some(back) => prefixed(vec![pressed("back")], enter(script, back)),
            // Repeating is not a failed attempt: the caller asked for it.
            None => prefixed(vec![pressed("repeat")], offer(script, node, attempt)),
        },
        (_, Some(option)) => {
            let mut events = vec![pressed(&option.label)];
            events.extend(option.tags.iter().map(|tag| Event::Tagged { tag: tag.clone() }));
            match &option.goto {
                Target::Node(next) => prefixed(events, enter(script, next)),
                Target::LanguageChoice => language_menu(set, 1, events),
            }
        }
        (_, None) => {
            let retry = Retry { attempts: *attempts, default, said: Some(invalid) };
            retry.turn(script, node, attempt, vec![pressed("invalid")])
        }
    }
}

/// What the caller hears, over and over, while waiting in the queue of a handoff node, with
/// `{position}` and `{minutes}` (the recent mean wait) filled in, and what a chat shows of
/// it. `None` if the node is not a handoff (a stale URL).
pub fn wait(
    script: &Script,
    node_id: &NodeId,
    position: Option<u32>,
    minutes: Option<u32>,
) -> Option<Waiting> {
    let node = script.node(node_id)?;
    let NodeKind::Handoff { wait, wait_pause, .. } = &node.kind else {
        return None;
    };
    // An unknown value would be a guess: a sentence that needs one is left out instead.
    let fill = |text: &str, placeholder: &str, value: Option<u32>| match value {
        Some(value) => Some(text.replace(placeholder, &value.to_string())),
        None if text.contains(placeholder) => None,
        None => Some(text.to_owned()),
    };
    let filled = |text: &str| {
        fill(text, "{position}", position).and_then(|text| fill(&text, "{minutes}", minutes))
    };
    let items = wait.items.iter().filter_map(|item| match item {
        PromptItem::Say(text) => filled(text).map(PromptItem::Say),
        item => Some(item.clone()),
    });
    // A written text loses its lines with an unknown value, as speech loses its sentences.
    let text = wait.text.as_ref().map(|text| text.lines().filter_map(filled).collect::<Vec<_>>());
    let text = text.map(|lines| lines.join("\n")).filter(|text| !text.trim().is_empty());
    let filled = Prompt { items: items.collect(), text };
    let mut turn = Turn::silent(Then::Hangup, Vec::new());
    turn.say(&script.voice, &filled);
    Some(Waiting { speech: turn.speech, text: filled.readable(), pause: *wait_pause })
}

/// The caller left the queue of a handoff node without staying with an operator. `result` is
/// the provider's `QueueResult`.
pub fn left_queue(script: &Script, node_id: &NodeId, result: &str, wait_secs: Option<u32>) -> Turn {
    let left = Event::LeftQueue { result: result.to_owned(), wait_secs };
    // Bridged and finished, or the caller hung up: the call is over, nothing more to say.
    if matches!(result, "bridged" | "bridging-in-process" | "hangup" | "redirected-from-bridged") {
        return Turn::silent(Then::Hangup, vec![left]);
    }
    // Queue full, error, left: the caller is still on the line and must not be dropped.
    match script.node(node_id).map(|node| &node.kind) {
        Some(NodeKind::Handoff { otherwise, .. }) => prefixed(vec![left], enter(script, otherwise)),
        _ => prefixed(vec![left], to_operator(script, format!("queue result at {node_id}"))),
    }
}

/// The caller pressed a `<wait>` key and left the queue of a handoff node for its voicemail
/// or callback node (`goto`).
pub fn left_queue_for(
    script: &Script,
    handoff: &NodeId,
    result: &str,
    wait_secs: Option<u32>,
    goto: &NodeId,
) -> Turn {
    let left = Event::LeftQueue { result: result.to_owned(), wait_secs };
    let label = match script.node(handoff).map(|node| &node.kind) {
        Some(NodeKind::Handoff { wait_keys, .. }) => wait_keys.iter().find(|k| &k.goto == goto),
        _ => None,
    };
    let mut events = vec![left];
    if let Some(key) = label {
        events.push(Event::Pressed {
            node: Some(handoff.clone()),
            digits: key.key.as_char().to_string(),
            meaning: key.label.clone(),
        });
    }
    prefixed(events, enter(script, goto))
}

/// The caller of a callback node typed something that is not a number we can call: the
/// node's `<invalid>`, then the question again, or after three entries its `otherwise`.
pub fn callback_invalid(script: &Script, node_id: &NodeId, attempt: u32) -> Turn {
    let Some(node) = script.node(node_id) else {
        return to_operator(script, format!("unknown callback node {node_id}"));
    };
    let NodeKind::Callback { invalid, otherwise, .. } = &node.kind else {
        return enter(script, node_id);
    };
    let rejected = Event::Rejected { reason: "not a phone number we can call back".into() };
    if attempt >= CALLBACK_ATTEMPTS {
        return prefixed(vec![rejected], enter(script, otherwise));
    }
    let mut turn = prefixed(vec![rejected], enter(script, node_id));
    turn.say_first(&script.voice, invalid);
    if let Then::CallbackNumber { attempt: next, .. } = &mut turn.then {
        *next = attempt + 1;
    }
    turn
}

/// Reads a callback number back (`digits`: already written out for speech, one digit at a
/// time) and asks for confirmation; `sealed` is the number in the form the next request
/// carries.
pub fn callback_read_back(
    script: &Script,
    node_id: &NodeId,
    digits: &str,
    sealed: String,
    attempt: u32,
) -> Turn {
    let Some(node) = script.node(node_id) else {
        return to_operator(script, format!("unknown callback node {node_id}"));
    };
    let NodeKind::Callback { read_back, confirm, .. } = &node.kind else {
        return enter(script, node_id);
    };
    let then = Then::ConfirmCallback {
        language: script.language.clone(),
        node: node_id.clone(),
        sealed,
        attempt,
    };
    let mut turn = Turn::silent(then, Vec::new());
    turn.say(&script.voice, read_back);
    let number = Prompt { items: vec![PromptItem::Say(digits.to_owned())], text: None };
    turn.say(&script.voice, &number);
    turn.say(&script.voice, confirm);
    turn
}

/// The caller confirmed the number read back: the node's `next`. `hint` is the masked number
/// the case shows.
pub fn callback_confirmed(script: &Script, node_id: &NodeId, hint: String) -> Turn {
    let requested = Event::CallbackRequested { hint };
    match script.node(node_id).map(|node| &node.kind) {
        Some(NodeKind::Callback { next, .. }) => prefixed(vec![requested], enter(script, next)),
        _ => prefixed(vec![requested], to_operator(script, format!("unknown node {node_id}"))),
    }
}

/// How many times a callback node asks for a number before giving up on it.
pub const CALLBACK_ATTEMPTS: u32 = 3;

/// The caller's voicemail was recorded at a voicemail node.
pub fn recorded(
    script: &Script,
    node_id: &NodeId,
    recording_url: Option<String>,
    duration_secs: Option<u32>,
) -> Turn {
    let events = match recording_url {
        Some(recording_url) => vec![Event::Voicemail { recording_url, duration_secs }],
        None => Vec::new(),
    };
    match script.node(node_id).map(|node| &node.kind) {
        Some(NodeKind::Voicemail { next, .. }) => prefixed(events, enter(script, next)),
        _ => prefixed(events, to_operator(script, format!("unknown voicemail node {node_id}"))),
    }
}

/// The caller answered the question of an ask node: a recording in a call (`None` when they
/// said nothing), nothing here for a text channel, which keeps the message itself. The
/// answer is recorded as what it is, never as a tag, and the call goes on at the node's `next`.
pub fn answered(
    script: &Script,
    node_id: &NodeId,
    recording_url: Option<String>,
    duration_secs: Option<u32>,
) -> Turn {
    let Some(NodeKind::Ask { var, next, .. }) = script.node(node_id).map(|node| &node.kind) else {
        return to_operator(script, format!("unknown ask node {node_id}"));
    };
    let answer = Event::AskAnswered {
        node: node_id.clone(),
        var: var.clone(),
        recording_url,
        duration_secs,
    };
    prefixed(vec![answer], enter(script, next))
}

/// Something went wrong on our side: apologise in the caller's language and put them through
/// to an operator. `reason` is recorded on the case (it must not contain caller data).
pub fn to_operator(script: &Script, reason: String) -> Turn {
    let mut turn = enter(script, &script.operator);
    turn.say_first(&script.voice, &script.apology);
    turn.events.insert(0, Event::Rejected { reason });
    turn
}

/// Prepends `events` to a turn's own.
fn prefixed(mut events: Vec<Event>, mut turn: Turn) -> Turn {
    events.append(&mut turn.events);
    turn.events = events;
    turn
}

/// The language-choice menu, each language announcing itself in its own voice.
fn language_menu(set: &ScriptSet, attempt: u32, mut events: Vec<Event>) -> Turn {
    events.push(Event::LanguageMenu { attempt });
    let then = Then::ChooseLanguage { attempt, timeout: set.entry.timeout };
    let mut turn = Turn::silent(then, events);
    for option in &set.entry.options {
        // A language without a script cannot be offered; the loader guarantees there is one.
        let Some(script) = set.script(&option.language) else { continue };
        turn.say(&script.voice, &option.prompt);
    }
    turn
}

/// Starts the script of a chosen language.
fn choose_language(set: &ScriptSet, language: &LanguageTag, how: LanguageChoiceMethod) -> Turn {
    let script = set.script(language).unwrap_or_else(|| set.default_script());
    let chosen = Event::LanguageChosen { language: script.language.clone(), how };
    prefixed(vec![chosen], enter(script, &script.start))
}

/// How a menu treats a timeout or a wrong key.
struct Retry<'a> {
    attempts: u32,
    default: &'a NodeId,
    said: Option<&'a Prompt>,
}

impl Retry<'_> {
    /// Says what went wrong, then offers the menu again, or sends the caller to the menu's
    /// default once the attempts are used up.
    fn turn(&self, script: &Script, node: &Node, attempt: u32, mut events: Vec<Event>) -> Turn {
        if attempt >= self.attempts {
            events.push(Event::AttemptsExhausted { node: node.id.clone() });
            return prefixed(events, enter(script, self.default));
        }
        let mut turn = prefixed(events, offer(script, node, attempt + 1));
        if let Some(said) = self.said {
            turn.say_first(&script.voice, said);
        }
        turn
    }
}

/// Offers a menu (its prompt, then waiting for a key).
fn offer(script: &Script, node: &Node, attempt: u32) -> Turn {
    let timeout = match &node.kind {
        NodeKind::Menu { timeout, .. } => *timeout,
        _ => 0,
    };
    let then =
        Then::Choose { language: script.language.clone(), node: node.id.clone(), attempt, timeout };
    let entered = Event::Entered { node: node.id.clone(), said: node.prompt.summary() };
    let mut turn = Turn::silent(then, vec![entered]);
    turn.say(&script.voice, &node.prompt);
    turn
}

fn text_bytes(speech: &[Spoken]) -> usize {
    speech
        .iter()
        .map(|spoken| match &spoken.item {
            PromptItem::Say(text) => text.len(),
            PromptItem::Play { url, .. } => url.len(),
            PromptItem::Pause(_) => 0,
        })
        .sum()
}

/// Walks from `start` through message nodes, appending to `turn`, until a node that needs the
/// caller (or ends the call), or until the answer is full.
fn enter_into(script: &Script, start: &NodeId, turn: &mut Turn) {
    let mut current = start.clone();
    for visited in 0.. {
        let full =
            visited >= MAX_NODES_PER_TURN || text_bytes(&turn.speech) > MAX_TEXT_BYTES_PER_TURN;
        let node = match script.node(&current) {
            Some(node) if !full => node,
            Some(_) => {
                turn.then = Then::Continue { language: script.language.clone(), node: current };
                return;
            }
            None => {
                // The loader checks every reference, so this means a stale URL: hand the
                // caller to a person rather than leave them in silence.
                let fallback = to_operator(script, format!("unknown node {current}"));
                turn.speech.extend(fallback.speech);
                turn.text.extend(fallback.text);
                turn.events.extend(fallback.events);
                turn.then = fallback.then;
                return;
            }
        };
        if let NodeKind::Menu { .. } = node.kind {
            let offered = offer(script, node, 1);
            turn.speech.extend(offered.speech);
            turn.text.extend(offered.text);
            turn.events.extend(offered.events);
            turn.then = offered.then;
            return;
        }
        turn.say(&script.voice, &node.prompt);
        turn.events.push(Event::Entered { node: node.id.clone(), said: node.prompt.summary() });
        let language = script.language.clone();
        let id = node.id.clone();
        turn.then = match &node.kind {
            NodeKind::Message { next } => {
                current = next.clone();
                continue;
            }
            NodeKind::Handoff { queue, .. } => {
                turn.events.push(Event::HandedOff { node: id.clone(), queue: queue.clone() });
                Then::Enqueue { language, node: id, queue: queue.clone() }
            }
            NodeKind::Voicemail { max_length, .. } => {
                Then::Record { language, node: id, max_length: *max_length }
            }
            NodeKind::Callback { .. } => Then::CallbackNumber { language, node: id, attempt: 1 },
            NodeKind::Ask { max_length, .. } => {
                Then::Ask { language, node: id, max_length: *max_length }
            }
            NodeKind::Hangup => {
                turn.events.push(Event::Finished { node: id });
                Then::Hangup
            }
            // Offered above; listed so that a new kind of node cannot be forgotten here.
            NodeKind::Menu { .. } => Then::Continue { language, node: id },
        };
        return;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::scripts::{LanguageChoice, MenuOption, Tag};

    fn id(s: &str) -> NodeId {
        NodeId::parse(s).unwrap()
    }

    fn say(text: &str) -> Prompt {
        Prompt { items: vec![PromptItem::Say(text.into())], text: None }
    }

    fn node(name: &str, text: &str, kind: NodeKind) -> (NodeId, Node) {
        (id(name), Node { id: id(name), prompt: say(text), kind })
    }

    /// welcome → main (1: info → more, 2: goodbye), operator, voicemail, goodbye; `lang`.
    fn script(lang: &str) -> Script {
        let menu = NodeKind::Menu {
            options: vec![
                MenuOption {
                    key: Key::parse("1").unwrap(),
                    goto: Target::Node(id("info")),
                    label: "info".into(),
                    text: None,
                    tags: vec![Tag { key: "intent".into(), value: "info".into() }],
                },
                MenuOption {
                    key: Key::parse("9").unwrap(),
                    goto: Target::LanguageChoice,
                    label: "language".into(),
                    text: Some("Another language".into()),
                    tags: vec![],
                },
            ],
            timeout: 5,
            attempts: 2,
            default: id("operator"),
            invalid: say("Wrong key."),
            no_input: Some(say("Nothing heard.")),
            back: None,
        };
        let nodes = BTreeMap::from([
            node("welcome", "Welcome.", NodeKind::Message { next: id("main") }),
            node("main", "Press 1.", menu),
            node("info", "Info.", NodeKind::Message { next: id("goodbye") }),
            node(
                "operator",
                "Connecting.",
                NodeKind::Handoff {
                    queue: lang.into(),
                    wait: Prompt {
                        items: vec![
                            PromptItem::Say("You are number {position}.".into()),
                            PromptItem::Say("About {minutes} minutes.".into()),
                            PromptItem::Say("Please hold.".into()),
                        ],
                        text: Some("You are number {position} in line.\nPlease wait.".into()),
                    },
                    wait_pause: 20,
                    too_long: say("Still busy."),
                    otherwise: id("voicemail"),
                    wait_keys: vec![crate::scripts::WaitKey {
                        key: Key::parse("2").unwrap(),
                        goto: id("callback"),
                        label: "wants a callback".into(),
                        prompt: say("For a callback, press 2."),
                    }],
                },
            ),
            node(
                "callback",
                "Your number?",
                NodeKind::Callback {
                    read_back: say("You entered:"),
                    confirm: say("Press 1 if right, 2 to retype."),
                    invalid: say("Not a number."),
                    next: id("goodbye"),
                    otherwise: id("voicemail"),
                },
            ),
            node(
                "voicemail",
                "Speak.",
                NodeKind::Voicemail { max_length: 60, next: id("goodbye") },
            ),
            node("goodbye", "Bye.", NodeKind::Hangup),
            node(
                "unit",
                "Which unit?",
                NodeKind::Ask { var: "unit".into(), next: id("operator"), max_length: 30 },
            ),
        ]);
        Script {
            language: LanguageTag::parse(lang).unwrap(),
            name: lang.into(),
            voice: Voice { name: Some(format!("Voice.{lang}")), language: format!("{lang}-XX") },
            start: id("welcome"),
            operator: id("operator"),
            apology: say("Sorry."),
            nodes,
            chat: crate::scripts::ChatTexts::default(),
        }
    }

    fn set() -> ScriptSet {
        let option = |key: &str, lang: &str, countries: &[&str]| LanguageOption {
            key: Key::parse(key).unwrap(),
            language: LanguageTag::parse(lang).unwrap(),
            countries: countries.iter().map(|c| c.to_string()).collect(),
            prompt: say(&format!("{lang}: press {key}")),
        };
        ScriptSet {
            entry: LanguageChoice {
                options: vec![option("1", "ru", &[]), option("2", "uk", &["UA"])],
                timeout: 5,
                attempts: 2,
                default: LanguageTag::parse("ru").unwrap(),
            },
            scripts: BTreeMap::from([
                (LanguageTag::parse("ru").unwrap(), script("ru")),
                (LanguageTag::parse("uk").unwrap(), script("uk")),
            ]),
        }
    }

    fn said(turn: &Turn) -> Vec<String> {
        turn.speech
            .iter()
            .filter_map(|s| match &s.item {
                PromptItem::Say(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_language_announces_itself_in_its_own_voice() {
        let turn = start(&set(), None);
        let voices: Vec<&str> =
            turn.speech.iter().filter_map(|s| s.voice.name.as_deref()).collect();
        assert_eq!(voices, ["Voice.ru", "Voice.uk"]);
        assert_eq!(turn.then, Then::ChooseLanguage { attempt: 1, timeout: 5 });
    }

    #[test]
    fn a_configured_country_skips_the_language_menu_and_messages_chain_into_the_menu() {
        let turn = start(&set(), Some("UA"));
        assert_eq!(said(&turn), ["Welcome.", "Press 1."]);
        assert_eq!(
            turn.events[0],
            Event::LanguageChosen {
                language: LanguageTag::parse("uk").unwrap(),
                how: LanguageChoiceMethod::Country
            }
        );
        assert!(
            matches!(turn.then, Then::Choose { ref node, attempt: 1, .. } if node.as_str() == "main")
        );
    }

    #[test]
    fn silence_at_the_language_menu_ends_in_the_default_language() {
        let set = set();
        let again = language_input(&set, 1, Input::Nothing);
        assert_eq!(again.then, Then::ChooseLanguage { attempt: 2, timeout: 5 });
        let chosen = language_input(&set, 2, Input::Nothing);
        assert!(chosen.events.iter().any(|e| matches!(
            e,
            Event::LanguageChosen { how: LanguageChoiceMethod::Default, .. }
        )));
    }

    #[test]
    fn options_tag_the_case_and_lead_on() {
        let set = set();
        let ru = set.default_script();
        let turn = menu_input(&set, ru, &id("main"), 1, Input::Keys("1"));
        assert!(
            turn.events.contains(&Event::Tagged {
                tag: Tag { key: "intent".into(), value: "info".into() }
            })
        );
        assert_eq!(said(&turn), ["Info.", "Bye."]);
        assert_eq!(turn.then, Then::Hangup);
        let switch = menu_input(&set, ru, &id("main"), 1, Input::Keys("9"));
        assert_eq!(switch.then, Then::ChooseLanguage { attempt: 1, timeout: 5 });
    }

    #[test]
    fn zero_reaches_the_operator_and_star_repeats_without_an_attempt() {
        let set = set();
        let ru = set.default_script();
        let zero = menu_input(&set, ru, &id("main"), 2, Input::Keys("0"));
        assert!(matches!(zero.then, Then::Enqueue { ref queue, .. } if queue == "ru"));
        let star = menu_input(&set, ru, &id("main"), 2, Input::Keys("*"));
        assert!(matches!(star.then, Then::Choose { attempt: 2, .. }));
    }

    #[test]
    fn wrong_keys_are_explained_then_the_default_route_is_taken() {
        let set = set();
        let ru = set.default_script();
        let first = menu_input(&set, ru, &id("main"), 1, Input::Keys("5"));
        assert_eq!(said(&first), ["Wrong key.", "Press 1."]);
        assert!(matches!(first.then, Then::Choose { attempt: 2, .. }));
        let last = menu_input(&set, ru, &id("main"), 2, Input::Nothing);
        assert!(last.events.contains(&Event::AttemptsExhausted { node: id("main") }));
        assert!(matches!(last.then, Then::Enqueue { .. }));
        // Not a keypad key at all (the webhook passes "" for those): the same as a wrong key.
        let junk = menu_input(&set, ru, &id("main"), 1, Input::Keys(""));
        assert_eq!(said(&junk)[0], "Wrong key.");
    }

    #[test]
    fn stale_positions_reach_a_person_not_an_error() {
        let set = set();
        let ru = set.default_script();
        let turn = menu_input(&set, ru, &id("gone"), 1, Input::Keys("1"));
        assert_eq!(said(&turn)[0], "Sorry.");
        assert!(matches!(turn.then, Then::Enqueue { .. }));
        let left = left_queue(ru, &id("main"), "error", None);
        assert!(matches!(left.then, Then::Enqueue { .. }));
    }

    #[test]
    fn leaving_the_queue_without_an_operator_goes_on_to_voicemail() {
        let ru = script("ru");
        let full = left_queue(&ru, &id("operator"), "queue-full", Some(3));
        assert!(matches!(full.then, Then::Record { max_length: 60, .. }));
        let gone = left_queue(&ru, &id("operator"), "hangup", Some(30));
        assert_eq!(gone.then, Then::Hangup);
        assert!(gone.speech.is_empty());
    }

    #[test]
    fn the_wait_announcement_tells_the_place_in_line_only_when_known() {
        let ru = script("ru");
        let known = wait(&ru, &id("operator"), Some(4), Some(3)).unwrap();
        let texts: Vec<&PromptItem> = known.speech.iter().map(|s| &s.item).collect();
        assert_eq!(texts[0], &PromptItem::Say("You are number 4.".into()));
        assert_eq!(texts[1], &PromptItem::Say("About 3 minutes.".into()));
        assert_eq!(known.pause, 20);
        assert_eq!(known.text, "You are number 4 in line.\nPlease wait.");
        let unknown = wait(&ru, &id("operator"), None, None).unwrap();
        assert_eq!(unknown.speech.len(), 1);
        assert_eq!(unknown.text, "Please wait.", "the line with the unknown place is left out");
        let no_history = wait(&ru, &id("operator"), Some(2), None).unwrap();
        assert_eq!(no_history.speech.len(), 2, "no estimate is invented");
        assert!(wait(&ru, &id("main"), Some(1), None).is_none());
    }

    #[test]
    fn long_chains_of_messages_continue_in_the_next_answer() {
        let mut ru = script("ru");
        let long = "слово ".repeat(2_000);
        for i in 0..6 {
            let next = if i == 5 { id("main") } else { id(&format!("m{}", i + 1)) };
            let (key, value) = node(&format!("m{i}"), &long, NodeKind::Message { next });
            ru.nodes.insert(key, value);
        }
        let turn = enter(&ru, &id("m0"));
        assert!(matches!(turn.then, Then::Continue { .. }), "{:?}", turn.then);
        assert!(text_bytes(&turn.speech) < 64 * 1024);
    }

    #[test]
    fn a_wait_key_leaves_the_queue_for_its_node_and_says_so_on_the_case() {
        let ru = script("ru");
        let turn = left_queue_for(&ru, &id("operator"), "leave", Some(40), &id("callback"));
        assert_eq!(said(&turn), ["Your number?"]);
        assert_eq!(
            turn.then,
            Then::CallbackNumber {
                language: ru.language.clone(),
                node: id("callback"),
                attempt: 1
            }
        );
        assert!(turn.events.iter().any(|e| matches!(e,
            Event::Pressed { digits, meaning, .. } if digits == "2" && meaning == "wants a callback")));
    }

    #[test]
    fn a_callback_number_is_asked_three_times_then_the_otherwise_node() {
        let ru = script("ru");
        let again = callback_invalid(&ru, &id("callback"), 1);
        assert_eq!(said(&again), ["Not a number.", "Your number?"]);
        assert!(matches!(again.then, Then::CallbackNumber { attempt: 2, .. }));
        let given_up = callback_invalid(&ru, &id("callback"), CALLBACK_ATTEMPTS);
        assert_eq!(said(&given_up), ["Speak."]);
        assert!(matches!(given_up.then, Then::Record { .. }));
    }

    #[test]
    fn a_callback_number_is_read_back_then_confirmed_with_only_its_hint_recorded() {
        let ru = script("ru");
        let read = callback_read_back(&ru, &id("callback"), "7, 9, 1", "SEALED".into(), 1);
        assert_eq!(said(&read), ["You entered:", "7, 9, 1", "Press 1 if right, 2 to retype."]);
        assert!(read.events.is_empty(), "the digits are never an event: {:?}", read.events);
        assert!(
            matches!(&read.then, Then::ConfirmCallback { sealed, attempt: 1, .. } if sealed == "SEALED")
        );
        let done = callback_confirmed(&ru, &id("callback"), "…67".into());
        assert_eq!(done.events[0], Event::CallbackRequested { hint: "…67".into() });
        assert_eq!(done.then, Then::Hangup);
    }

    #[test]
    fn a_chat_reads_each_prompt_where_a_call_hears_it() {
        let set = set();
        let ru = set.default_script();
        // Without <text>, a chat reads what is said, prompt by prompt, in the same order.
        let turns = [
            start(&set, None),
            start(&set, Some("UA")),
            menu_input(&set, ru, &id("main"), 1, Input::Keys("5")),
            menu_input(&set, ru, &id("main"), 1, Input::Nothing),
            menu_input(&set, ru, &id("gone"), 1, Input::Keys("1")),
            callback_invalid(ru, &id("callback"), 1),
            callback_read_back(ru, &id("callback"), "7, 9", "S".into(), 1),
            left_queue(ru, &id("operator"), "queue-full", None),
        ];
        for turn in turns {
            assert!(!turn.text.is_empty(), "{turn:?}");
            assert_eq!(turn.text, said(&turn), "{turn:?}");
        }
        assert_eq!(start(&set, None).text, ["ru: press 1", "uk: press 2"]);

        // A <text> replaces the words in the same place; voice still says the words.
        let mut written = script("ru");
        let main = written.nodes.get_mut(&id("main")).unwrap();
        main.prompt.text = Some("Choose below.".into());
        let turn = enter(&written, &id("welcome"));
        assert_eq!(said(&turn), ["Welcome.", "Press 1."]);
        assert_eq!(turn.text, ["Welcome.", "Choose below."]);
        let retried = menu_input(&set, &written, &id("main"), 1, Input::Keys("5"));
        assert_eq!(retried.text, ["Wrong key.", "Choose below."]);
    }

    #[test]
    fn an_ask_takes_one_answer_then_goes_on_without_tagging_it() {
        let ru = script("ru");
        let asked = enter(&ru, &id("unit"));
        assert_eq!(said(&asked), ["Which unit?"]);
        assert_eq!(
            asked.then,
            Then::Ask { language: ru.language.clone(), node: id("unit"), max_length: 30 }
        );
        let spoken = answered(&ru, &id("unit"), Some("https://rec/1".into()), Some(4));
        assert_eq!(
            spoken.events[0],
            Event::AskAnswered {
                node: id("unit"),
                var: "unit".into(),
                recording_url: Some("https://rec/1".into()),
                duration_secs: Some(4),
            }
        );
        assert!(
            !spoken
                .events
                .iter()
                .any(|e| matches!(e, Event::Tagged { .. } | Event::Voicemail { .. })),
            "{:?}",
            spoken.events
        );
        assert!(matches!(spoken.then, Then::Enqueue { .. }), "next is the operator");
        assert_eq!(said(&spoken), ["Connecting."]);
        // A text channel keeps the message elsewhere: the event only says it was answered.
        let typed = answered(&ru, &id("unit"), None, None);
        assert!(matches!(&typed.events[0], Event::AskAnswered { recording_url: None, .. }));
        // A stale position (not an ask, or gone) reaches a person.
        for stale in ["main", "gone"] {
            let turn = answered(&ru, &id(stale), None, None);
            assert_eq!(said(&turn)[0], "Sorry.", "{stale}");
            assert!(matches!(turn.then, Then::Enqueue { .. }), "{stale}");
            assert!(!turn.events.iter().any(|e| matches!(e, Event::AskAnswered { .. })));
        }
    }
}
