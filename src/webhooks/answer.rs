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

/// Adds the scripts' version key to every URL of ours in a rendered document (`&v=42` at
/// the end), so the call's next request is answered from the version it started on.
///
/// Our URLs are the attribute values and `<Redirect>` bodies that start with `/voice/`, and
/// each has a query. Spoken text cannot match: its `"` and `<` are escaped. Keys are
/// letters, digits and `-`, safe in a URL and in XML.
pub fn pin_version(document: &str, key: &str) -> String {
    const ATTRIBUTE: &str = "=\"/voice/";
    const REDIRECT: &str = "<Redirect";
    let mut pinned = String::with_capacity(document.len() + 64);
    let mut rest = document;
    loop {
        let attribute = rest.find(ATTRIBUTE).map(|at| at + 2);
        let redirect = rest
            .find(REDIRECT)
            .and_then(|at| rest[at..].find('>').map(|end| at + end + 1))
            .filter(|&body| rest[body..].starts_with("/voice/"));
        let Some(url_start) = [attribute, redirect].into_iter().flatten().min() else { break };
        let url_end = rest[url_start..].find(['"', '<']).map_or(rest.len(), |end| url_start + end);
        pinned.push_str(&rest[..url_end]);
        if rest[url_start..url_end].contains('?') {
            let _ = write!(pinned, "&amp;v={key}");
        }
        rest = &rest[url_end..];
    }
    pinned.push_str(rest);
    pinned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_of_ours_carries_the_version() {
        let document = r#"<Response><Gather action="/voice/menu?lang=ru&amp;node=main&amp;step=2"><Say>&quot;/voice/x?y&quot; &lt;Redirect&gt;/voice/a?b</Say></Gather><Redirect method="POST">/voice/menu?lang=ru&amp;step=2</Redirect><Enqueue waitUrl="/voice/wait?lang=ru" action="/voice/queue?lang=ru">q</Enqueue><Play>https://x/voice/a?b</Play></Response>"#;
        let pinned = pin_version(document, "42");
        assert_eq!(pinned.matches("&amp;v=42").count(), 4, "{pinned}");
        assert!(
            pinned.contains(r#"action="/voice/menu?lang=ru&amp;node=main&amp;step=2&amp;v=42""#)
        );
        assert!(pinned.contains(">/voice/menu?lang=ru&amp;step=2&amp;v=42</Redirect>"));
        assert!(pinned.contains(r#"waitUrl="/voice/wait?lang=ru&amp;v=42""#), "{pinned}");
        assert!(pinned.contains("<Play>https://x/voice/a?b</Play>"), "{pinned}");
        assert_eq!(pin_version("<Response/>", "1"), "<Response/>");
    }
}
