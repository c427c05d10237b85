//! Turning a [`Turn`] of the call engine into a TwiML document, with the URLs that carry the
//! call's position to the next request.
//!
//! Those URLs are the server's own business: `/voice/menu?lang=ru&node=main&attempt=1&step=3`.
//! Everything a later request needs travels in them, so a call in progress survives a server
//! restart, and the step number makes a retried request recognisable.

use std::fmt::Write;

use crate::ivr::{Spoken, Then, Turn};
use crate::scripts::{LanguageTag, NodeId, PromptItem};
use crate::twiml::{Document, Enqueue, Gather, KeypadEntry, Record, Speech, Verb};

/// Seconds of silence that end a voicemail.
const RECORD_SILENCE_TIMEOUT: u32 = 5;

/// Keys a callback number may have before the keypad entry ends by itself: one more than the
/// longest number, so a number too long is heard as such rather than cut short.
const CALLBACK_MAX_KEYS: u32 = 16;

/// Seconds the caller has to type a callback number or confirm it.
const CALLBACK_TIMEOUT: u32 = 10;

/// Renders a turn; `next_step` is the step number of the request the document leads to.
pub fn render(turn: &Turn, next_step: u32) -> Document {
    let speech: Vec<Speech> = turn.speech.iter().map(speech).collect();
    let mut verbs = Vec::with_capacity(speech.len() + 2);
    match &turn.then {
        Then::ChooseLanguage { attempt, timeout } => {
            let url = format!("/voice/language?attempt={attempt}&step={next_step}");
            gather(&mut verbs, url, *timeout, speech);
        }
        Then::Choose { language, node, attempt, timeout } => {
            let url = at(language, node, "menu", next_step) + &format!("&attempt={attempt}");
            gather(&mut verbs, url, *timeout, speech);
        }
        Then::Continue { language, node } => {
            verbs.extend(speech.into_iter().map(Verb::Speech));
            verbs.push(Verb::Redirect { url: at(language, node, "continue", next_step) });
        }
        Then::Enqueue { language, node, queue } => {
            verbs.extend(speech.into_iter().map(Verb::Speech));
            verbs.push(Verb::Enqueue(Enqueue {
                queue: queue.clone(),
                action: at(language, node, "queue", next_step),
                wait_url: format!("/voice/wait?lang={language}&node={node}"),
            }));
        }
        Then::Record { language, node, max_length } => {
            let action = at(language, node, "recorded", next_step);
            verbs.extend(speech.into_iter().map(Verb::Speech));
            verbs.push(Verb::Record(Record {
                action: action.clone(),
                max_length: *max_length,
                timeout: RECORD_SILENCE_TIMEOUT,
                status_callback: at(language, node, "recording", next_step),
            }));
            // Without any audio the provider skips the action and falls through: move on.
            verbs.push(Verb::Redirect { url: action });
        }
        Then::CallbackNumber { language, node, attempt } => {
            let action = at(language, node, "callback", next_step) + &format!("&attempt={attempt}");
            verbs.push(Verb::KeypadEntry(KeypadEntry {
                action: action.clone(),
                max_digits: CALLBACK_MAX_KEYS,
                timeout: CALLBACK_TIMEOUT,
                prompts: speech,
            }));
            // Nothing typed (or `#` alone) arrives without `Digits`: the number called from.
            verbs.push(Verb::Redirect { url: action });
        }
        Then::ConfirmCallback { language, node, sealed, attempt } => {
            let url = at(language, node, "callback-confirm", next_step)
                + &format!("&attempt={attempt}&n={sealed}");
            gather(&mut verbs, url, CALLBACK_TIMEOUT, speech);
        }
        Then::Hangup => {
            verbs.extend(speech.into_iter().map(Verb::Speech));
            verbs.push(Verb::Hangup);
        }
    }
    Document { verbs }
}

/// Converts one piece of speech.
pub fn speech(spoken: &Spoken) -> Speech {
    match &spoken.item {
        PromptItem::Say(text) => Speech::Say {
            text: text.clone(),
            voice: spoken.voice.name.clone(),
            language: spoken.voice.language.clone(),
        },
        PromptItem::Play { url, .. } => Speech::Play { url: url.clone() },
        PromptItem::Pause(seconds) => Speech::Pause { seconds: *seconds },
    }
}

/// A Gather, then a Redirect to the same action for when the caller presses nothing: the
/// provider falls through to the next verb on timeout, and arriving without `Digits` is how
/// the action learns of it. (`actionOnEmptyResult` does the same but not every compatible
/// provider has it.)
fn gather(verbs: &mut Vec<Verb>, action: String, timeout: u32, prompts: Vec<Speech>) {
    verbs.push(Verb::Gather(Gather { action: action.clone(), num_digits: 1, timeout, prompts }));
    verbs.push(Verb::Redirect { url: action });
}

/// `/voice/<route>?lang=…&node=…&step=…`. Language codes and node ids are URL-safe by
/// construction, so nothing needs escaping.
fn at(language: &LanguageTag, node: &NodeId, route: &str, step: u32) -> String {
    let mut url = String::with_capacity(64);
    let _ = write!(url, "/voice/{route}?lang={language}&node={node}&step={step}");
    url
}
