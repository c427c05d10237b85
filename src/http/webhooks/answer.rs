//! Turning a [`Turn`] of the call engine into a TwiML document, with the URLs that carry the
//! call's position to the next request.
//!
//! Those URLs are the server's own business ([`Route`]):
//! `/voice/menu?lang=ru&node=main&step=3&attempt=1`.
//! Everything a later request needs travels in them, so a call in progress survives a server
//! restart, and the step number makes a retried request recognisable. Each ends with `v=`,
//! the key of the scripts' version the call is on (`scripts/live.rs`), written where the URL
//! is built, so the call finishes on the version it started on.
//!
//! The operator line's URLs (`operator.rs`) carry no version: the operator's own call follows
//! no script, and the one document of it spoken in a caller's language (`connecting`) comes
//! from the live version.

use super::route::{At, Route};
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

/// Renders a turn; `next_step` is the step number of the request the document leads to, and
/// `version` the key of the scripts' version the call is on: every URL ends with `&v=` and
/// it, so the call's next request is answered from the version it started on.
pub fn render(turn: &Turn, next_step: u32, version: &str) -> Document {
    let at = |language: &LanguageTag, node: &NodeId| At {
        language: language.clone(),
        node: node.clone(),
        step: next_step,
    };
    let speech: Vec<Speech> = turn.speech.iter().map(speech).collect();
    let mut verbs = Vec::with_capacity(speech.len() + 2);
    match &turn.then {
        Then::ChooseLanguage { attempt, timeout } => {
            let url = Route::Language { attempt: *attempt, step: next_step }.pinned(version);
            gather(&mut verbs, url, *timeout, speech);
        }
        Then::Choose { language, node, attempt, timeout } => {
            let url = Route::Menu { at: at(language, node), attempt: *attempt }.pinned(version);
            gather(&mut verbs, url, *timeout, speech);
        }
        Then::Continue { language, node } => {
            verbs.extend(speech.into_iter().map(Verb::Speech));
            verbs.push(Verb::Redirect { url: Route::Continue(at(language, node)).pinned(version) });
        }
        Then::Enqueue { language, node, queue } => {
            verbs.extend(speech.into_iter().map(Verb::Speech));
            let wait = Route::Wait { language: language.clone(), node: node.clone() };
            verbs.push(Verb::Enqueue(Enqueue {
                queue: queue.clone(),
                action: Route::Queue(at(language, node)).pinned(version),
                wait_url: wait.pinned(version),
            }));
        }
        Then::Record { language, node, max_length } => {
            let action = Route::Recorded(at(language, node)).pinned(version);
            verbs.extend(speech.into_iter().map(Verb::Speech));
            verbs.push(Verb::Record(Record {
                action: action.clone(),
                max_length: *max_length,
                timeout: RECORD_SILENCE_TIMEOUT,
                status_callback: Some(Route::Recording(at(language, node)).pinned(version)),
            }));
            // Without any audio the provider skips the action and falls through: move on.
            verbs.push(Verb::Redirect { url: action });
        }
        Then::Ask { language, node, max_length } => {
            // Like a voicemail, without the status callback: an answer is no message to call
            // back about, and the action's URL is all the case keeps.
            let action = Route::Answered(at(language, node)).pinned(version);
            verbs.extend(speech.into_iter().map(Verb::Speech));
            verbs.push(Verb::Record(Record {
                action: action.clone(),
                max_length: *max_length,
                timeout: RECORD_SILENCE_TIMEOUT,
                status_callback: None,
            }));
            // Silence skips the action too: the caller chose not to answer, and goes on.
            verbs.push(Verb::Redirect { url: action });
        }
        Then::CallbackNumber { language, node, attempt } => {
            let route = Route::Callback { at: at(language, node), attempt: *attempt };
            let action = route.pinned(version);
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
            let route = Route::CallbackConfirm {
                at: at(language, node),
                attempt: *attempt,
                sealed: sealed.clone(),
            };
            gather(&mut verbs, route.pinned(version), CALLBACK_TIMEOUT, speech);
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ivr::Then;

    /// Every URL of ours in `xml`: the attribute values and element bodies that start with
    /// `/voice/`.
    fn our_urls(xml: &str) -> Vec<&str> {
        xml.match_indices("/voice/")
            .filter(|(at, _)| matches!(xml.as_bytes()[at - 1], b'"' | b'>'))
            .map(|(at, _)| {
                let rest = &xml[at..];
                &rest[..rest.find(['"', '<']).unwrap_or(rest.len())]
            })
            .collect()
    }

    #[test]
    fn every_url_of_ours_ends_with_the_version_once() {
        let l = LanguageTag::parse("ru").unwrap();
        let n = NodeId::parse("main").unwrap();
        let thens = [
            Then::ChooseLanguage { attempt: 2, timeout: 5 },
            Then::Choose { language: l.clone(), node: n.clone(), attempt: 1, timeout: 5 },
            Then::Continue { language: l.clone(), node: n.clone() },
            Then::Enqueue { language: l.clone(), node: n.clone(), queue: "ru".into() },
            Then::Record { language: l.clone(), node: n.clone(), max_length: 60 },
            Then::Ask { language: l.clone(), node: n.clone(), max_length: 30 },
            Then::CallbackNumber { language: l.clone(), node: n.clone(), attempt: 1 },
            Then::ConfirmCallback { language: l, node: n, sealed: "s3al".into(), attempt: 2 },
        ];
        for then in thens {
            let turn = Turn::silent(then.clone(), Vec::new());
            let xml = render(&turn, 7, "d42").render();
            let urls = our_urls(&xml);
            assert!(!urls.is_empty(), "{then:?}: {xml}");
            for url in urls {
                assert!(url.ends_with("&amp;v=d42"), "{then:?}: {url}");
                assert_eq!(url.matches("v=").count(), 1, "{then:?}: {url}");
                // The wait document is fetched again and again: it is no step of the call.
                let stepped = !url.starts_with("/voice/wait?");
                assert_eq!(url.contains("step=7"), stepped, "{then:?}: {url}");
            }
        }
        let hangup = Turn::silent(Then::Hangup, Vec::new());
        assert!(our_urls(&render(&hangup, 7, "1").render()).is_empty());
    }
}
