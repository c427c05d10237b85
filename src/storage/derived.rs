//! What a case's columns say, worked out from its events.
//!
//! Webhooks of a call can arrive late, twice, or out of order (a status callback before the
//! last step, a retried step after a newer one). Instead of updating columns record by record,
//! storage recomputes them from all of the case's events, in call order, after every write:
//! the result is then the same whatever the order the records came in. "Call order" is the
//! time each step arrived, then the step and the event's place in it: steps of a fallback
//! request are numbered apart from the rest (see `webhooks`), so their number alone does not
//! place them.

use crate::domain::cases::{Event, Outcome};
use crate::scripts::{LanguageTag, NodeId, Tag};

/// The columns of a case that follow from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Derived {
    /// The language chosen last.
    pub language: Option<LanguageTag>,
    /// The recording of the last voicemail.
    pub recording_url: Option<String>,
    /// The last node the caller heard.
    pub last_node: Option<NodeId>,
    /// How the call ended up.
    pub outcome: Outcome,
    /// One value per key, the last set winning, in the order keys were first set.
    pub tags: Vec<Tag>,
}

/// Works out a case's columns from its events in call order; `ended` says whether the
/// provider has reported a final status.
pub(super) fn derive(events: &[Event], ended: bool) -> Derived {
    let mut language = None;
    let mut recording_url = None;
    let mut last_node = None;
    let mut tags: Vec<Tag> = Vec::new();
    for event in events {
        match event {
            Event::LanguageChosen { language: chosen, .. } => language = Some(chosen.clone()),
            Event::Entered { node, .. } => last_node = Some(node.clone()),
            Event::Voicemail { recording_url: url, .. } => recording_url = Some(url.clone()),
            Event::Tagged { tag } => match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value.clone_from(&tag.value),
                None => tags.push(tag.clone()),
            },
            _ => {}
        }
    }
    let outcome = outcome(events, ended, last_node.as_ref());
    Derived { language, recording_url, last_node, outcome, tags }
}

/// The outcome: the last event that moved the call somewhere for good (finished, voicemail,
/// queue) decides; otherwise an ended call was abandoned where it was. A voicemail outweighs
/// the goodbye that follows it: someone has a message to answer.
fn outcome(events: &[Event], ended: bool, last_node: Option<&NodeId>) -> Outcome {
    for (i, event) in events.iter().enumerate().rev() {
        match event {
            Event::Finished { .. }
                if events[..i].iter().any(|e| matches!(e, Event::Voicemail { .. })) =>
            {
                return Outcome::Voicemail;
            }
            Event::Finished { node } => return Outcome::Finished { node: node.clone() },
            Event::Voicemail { .. } => return Outcome::Voicemail,
            Event::HandedOff { queue, .. } => return Outcome::HandedOff { queue: queue.clone() },
            Event::LeftQueue { result, .. } => match (result.as_str(), queue_left(&events[..i])) {
                ("hangup", Some(queue)) => {
                    return Outcome::AbandonedInQueue { queue: queue.to_owned() };
                }
                // The provider reports `bridged` when an operator answered: the handoff
                // worked, whatever happens to the call after.
                ("bridged" | "bridging-in-process", Some(queue)) => {
                    return Outcome::HandedOff { queue: queue.to_owned() };
                }
                // Queue full, left, error: the call went back to the IVR, so what counts is
                // what happened there, not the handoff before.
                _ => break,
            },
            _ => {}
        }
    }
    if ended { Outcome::Abandoned { node: last_node.cloned() } } else { Outcome::InProgress }
}

/// The queue a `LeftQueue` event left: that of the handoff just before it, if the previous
/// deciding event was a handoff.
fn queue_left(before: &[Event]) -> Option<&str> {
    before.iter().rev().find_map(|event| match event {
        Event::HandedOff { queue, .. } => Some(Some(queue.as_str())),
        Event::LeftQueue { .. } | Event::Voicemail { .. } | Event::Finished { .. } => Some(None),
        _ => None,
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> NodeId {
        NodeId::parse(id).unwrap()
    }

    fn entered(id: &str) -> Event {
        Event::Entered { node: node(id), said: String::new() }
    }

    fn handed_off(queue: &str) -> Event {
        Event::HandedOff { node: node("operator"), queue: queue.into() }
    }

    fn left(result: &str) -> Event {
        Event::LeftQueue { result: result.into(), wait_secs: Some(3) }
    }

    fn tag(key: &str, value: &str) -> Event {
        Event::Tagged { tag: Tag { key: key.into(), value: value.into() } }
    }

    #[test]
    fn outcome_follows_the_last_deciding_event() {
        let cases: Vec<(Vec<Event>, bool, Outcome)> = vec![
            (vec![], false, Outcome::InProgress),
            (vec![], true, Outcome::Abandoned { node: None }),
            (
                vec![entered("main"), entered("info")],
                true,
                Outcome::Abandoned { node: Some(node("info")) },
            ),
            (vec![entered("main")], false, Outcome::InProgress),
            (
                vec![entered("bye"), Event::Finished { node: node("bye") }],
                true,
                Outcome::Finished { node: node("bye") },
            ),
            (vec![handed_off("ru")], false, Outcome::HandedOff { queue: "ru".into() }),
            (
                vec![handed_off("ru"), left("hangup")],
                true,
                Outcome::AbandonedInQueue { queue: "ru".into() },
            ),
            (
                vec![handed_off("ru"), left("bridged")],
                true,
                Outcome::HandedOff { queue: "ru".into() },
            ),
            (
                vec![handed_off("ru"), left("bridging-in-process")],
                true,
                Outcome::HandedOff { queue: "ru".into() },
            ),
            (
                vec![handed_off("ru"), left("queue-full"), entered("voicemail")],
                true,
                Outcome::Abandoned { node: Some(node("voicemail")) },
            ),
            (
                vec![
                    handed_off("ru"),
                    left("queue-full"),
                    Event::Voicemail { recording_url: "https://r/1".into(), duration_secs: None },
                ],
                true,
                Outcome::Voicemail,
            ),
            (
                vec![
                    entered("voicemail"),
                    Event::Voicemail { recording_url: "https://r/1".into(), duration_secs: None },
                    entered("bye"),
                    Event::Finished { node: node("bye") },
                ],
                true,
                Outcome::Voicemail,
            ),
            // A hangup with no handoff before it names no queue: the call is abandoned where
            // it was.
            (
                vec![entered("main"), left("hangup")],
                true,
                Outcome::Abandoned { node: Some(node("main")) },
            ),
            (vec![handed_off("ru"), left("leave"), left("hangup")], false, Outcome::InProgress),
        ];
        for (events, ended, expected) in cases {
            assert_eq!(derive(&events, ended).outcome, expected, "{events:?} ended={ended}");
        }
    }

    #[test]
    fn tags_keep_first_set_order_and_last_value() {
        let events = [tag("intent", "info"), tag("region", "north"), tag("intent", "surrender")];
        let tags = derive(&events, false).tags;
        let pairs: Vec<_> = tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
        assert_eq!(pairs, [("intent", "surrender"), ("region", "north")]);
    }

    #[test]
    fn the_last_language_and_voicemail_count() {
        let ru = LanguageTag::parse("ru").unwrap();
        let uk = LanguageTag::parse("uk").unwrap();
        let how = crate::domain::cases::LanguageChoiceMethod::Key;
        let events = [
            Event::LanguageChosen { language: ru, how },
            Event::LanguageChosen { language: uk.clone(), how },
            Event::Voicemail { recording_url: "https://r/2".into(), duration_secs: Some(4) },
        ];
        let derived = derive(&events, true);
        assert_eq!(derived.language, Some(uk));
        assert_eq!(derived.recording_url.as_deref(), Some("https://r/2"));
        assert_eq!(derived.outcome, Outcome::Voicemail);
    }

    #[test]
    fn an_answer_to_a_question_is_no_voicemail() {
        let answered = Event::AskAnswered {
            node: node("unit"),
            var: "unit".into(),
            recording_url: Some("https://r/3".into()),
            duration_secs: Some(5),
        };
        let events = [entered("unit"), answered.clone(), handed_off("en")];
        let derived = derive(&events, false);
        assert_eq!(derived.recording_url, None, "the case's recording is a voicemail's");
        assert_eq!(derived.outcome, Outcome::HandedOff { queue: "en".into() });
        assert!(derived.tags.is_empty(), "an answer is never a tag");
        let ended = derive(&[entered("unit"), answered, entered("goodbye")], true);
        assert_eq!(ended.outcome, Outcome::Abandoned { node: Some(node("goodbye")) });
    }
}
