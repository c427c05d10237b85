//! Whole calls, dialled with the simulator against a real server: the caller's view.

use crate::common;

use std::collections::{BTreeMap, VecDeque};

use common::spawn_app;
use hotline::domain::cases::{Case, Event, Outcome};
use hotline::scripts::{self, NodeId, NodeKind, Target};

/// What `pick` finds in the events of a case, in order.
fn picked<T>(case: &Case, pick: impl Fn(&Event) -> Option<T>) -> Vec<T> {
    case.events.iter().filter_map(|e| pick(&e.event)).collect()
}

/// Whether the call entered `node`.
fn entered(case: &Case, node: &str) -> bool {
    case.events
        .iter()
        .any(|e| matches!(&e.event, Event::Entered { node: n, .. } if n.as_str() == node))
}

/// For every node of a script, a list of keys (`_` for silence) that reaches it from the start.
fn paths_to_every_node(script: &scripts::Script) -> BTreeMap<NodeId, Vec<String>> {
    let mut paths = BTreeMap::new();
    let mut queue = VecDeque::from([(script.start.clone(), Vec::<String>::new())]);
    while let Some((id, keys)) = queue.pop_front() {
        if paths.contains_key(&id) {
            continue;
        }
        paths.insert(id.clone(), keys.clone());
        let node = script.node(&id).unwrap();
        match &node.kind {
            NodeKind::Message { next } => queue.push_back((next.clone(), keys)),
            // The simulator records a voicemail by itself, then the call goes on.
            NodeKind::Voicemail { next, .. } => queue.push_back((next.clone(), keys)),
            // A key pressed while waiting leaves the queue for a voicemail or a callback.
            NodeKind::Handoff { wait_keys, .. } => {
                for key in wait_keys {
                    let mut more = keys.clone();
                    more.push(key.key.to_string());
                    queue.push_back((key.goto.clone(), more));
                }
            }
            // A number, then 1 confirms it; three numbers too short go to `otherwise`.
            NodeKind::Callback { next, otherwise, .. } => {
                let mut confirmed = keys.clone();
                confirmed.extend(["4915112345678".to_owned(), "1".to_owned()]);
                queue.push_back((next.clone(), confirmed));
                let mut refused = keys.clone();
                refused.extend((0..3).map(|_| "12".to_owned()));
                queue.push_back((otherwise.clone(), refused));
            }
            NodeKind::Menu { options, default, attempts, .. } => {
                // Silence at every attempt takes the default route.
                let mut silent = keys.clone();
                silent.extend((0..*attempts).map(|_| "_".to_owned()));
                queue.push_back((default.clone(), silent));
                for option in options {
                    if let Target::Node(next) = &option.goto {
                        let mut more = keys.clone();
                        more.push(option.key.to_string());
                        queue.push_back((next.clone(), more));
                    }
                }
            }
            _ => {}
        }
    }
    paths
}

#[tokio::test]
async fn every_node_of_every_shipped_language_is_reached_and_every_path_ends_well() {
    let app = spawn_app().await;
    let loaded = scripts::load_dir(&common::shipped_scripts()).unwrap();
    let set = loaded.set;
    let mut calls = 0;
    for option in &set.entry.options {
        let script = set.script(&option.language).unwrap();
        let paths = paths_to_every_node(script);
        assert_eq!(
            paths.len(),
            script.nodes.len(),
            "{}: some node has no key path",
            script.language
        );
        for (node, keys) in paths {
            let mut presses = vec![option.key.to_string()];
            presses.extend(keys);
            let transcript = app.call(&presses.join(","), None).await;
            calls += 1;
            let case = app.case(&transcript.call_sid).await;
            let label = format!("{} {node} via {presses:?}", script.language);
            assert_eq!(case.language.as_ref(), Some(&script.language), "{label}");
            assert!(entered(&case, node.as_str()), "{label}: never entered");
            assert!(case.ended_at.is_some(), "{label}: no status callback recorded");
            // Where the path stops decides how the call ends: every end is an operator, a
            // voicemail, a goodbye, or a caller who hung up at a menu.
            let expected = match &script.node(&node).unwrap().kind {
                NodeKind::Handoff { queue, .. } => {
                    Outcome::AbandonedInQueue { queue: queue.clone() }
                }
                NodeKind::Voicemail { .. } => Outcome::Voicemail,
                // A goodbye after a voicemail still leaves a message to answer.
                NodeKind::Hangup if case.recording_url.is_some() => Outcome::Voicemail,
                NodeKind::Hangup => Outcome::Finished { node: node.clone() },
                NodeKind::Menu { .. } => Outcome::Abandoned { node: Some(node.clone()) },
                NodeKind::Message { .. } | NodeKind::Callback { .. } | NodeKind::Ask { .. } => {
                    continue;
                }
            };
            assert_eq!(case.outcome, expected, "{label}");
        }
    }
    assert!(calls >= 40, "only {calls} calls");
    app.stop().await;
}

#[tokio::test]
async fn zero_reaches_an_operator_from_every_menu_of_every_language() {
    let app = spawn_app().await;
    let set = scripts::load_dir(&common::shipped_scripts()).unwrap().set;
    for option in &set.entry.options {
        let script = set.script(&option.language).unwrap();
        for (node, keys) in paths_to_every_node(script) {
            if !matches!(script.node(&node).unwrap().kind, NodeKind::Menu { .. }) {
                continue;
            }
            let mut presses = vec![option.key.to_string()];
            presses.extend(keys);
            presses.push("0".into());
            let transcript = app.call(&presses.join(","), None).await;
            let case = app.case(&transcript.call_sid).await;
            assert!(
                matches!(&case.outcome, Outcome::AbandonedInQueue { queue } if *queue == script.language.as_str()),
                "{} {node}: {:?}",
                script.language,
                case.outcome
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn star_goes_back_or_repeats_without_using_an_attempt() {
    let app = spawn_app().await;
    // Russian, surrender (1), then * goes back to the main menu, then 3: treatment.
    let t = app.call("1,1,*,3", None).await;
    let case = app.case(&t.call_sid).await;
    let pressed: Vec<String> = picked(&case, |event| match event {
        Event::Pressed { digits, meaning, .. } => Some(format!("{digits}:{meaning}")),
        _ => None,
    });
    assert_eq!(pressed[2], "*:back", "{pressed:?}");
    assert!(entered(&case, "treatment"));

    // In the main menu (no way back) * repeats it, four times in a row, and the caller is
    // still in the menu: repeats are not failed attempts.
    let t = app.call("1,*,*,*,*", None).await;
    let case = app.case(&t.call_sid).await;
    assert!(!case.events.iter().any(|e| matches!(e.event, Event::AttemptsExhausted { .. })));
    assert_eq!(case.outcome, Outcome::Abandoned { node: NodeId::parse("main") });
    app.stop().await;
}

#[tokio::test]
async fn wrong_keys_and_silence_use_up_attempts_then_take_the_default_route() {
    let app = spawn_app().await;
    // Main menu allows 3 attempts; its default is the operator.
    let t = app.call("1,7,_,8", None).await;
    let case = app.case(&t.call_sid).await;
    let kinds: Vec<&str> = picked(&case, |event| match event {
        Event::Pressed { meaning, .. } if meaning == "invalid" => Some("invalid"),
        Event::NoInput { .. } => Some("silence"),
        Event::AttemptsExhausted { .. } => Some("exhausted"),
        _ => None,
    });
    assert_eq!(kinds, ["invalid", "silence", "invalid", "exhausted"]);
    assert_eq!(case.outcome, Outcome::AbandonedInQueue { queue: "ru".into() });

    // Silence at the language menu twice: the default language (Russian).
    let t = app.call("_,_", None).await;
    let case = app.case(&t.call_sid).await;
    assert_eq!(case.language.unwrap().as_str(), "ru");
    app.stop().await;
}

#[tokio::test]
async fn hanging_up_in_the_middle_leaves_an_abandoned_at_node_outcome() {
    let app = spawn_app().await;
    let t = app.call("3,1,hangup", None).await;
    let case = app.case(&t.call_sid).await;
    assert_eq!(case.language.unwrap().as_str(), "uk");
    assert_eq!(case.outcome, Outcome::Abandoned { node: NodeId::parse("surrender-group") });
    assert_eq!(
        case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect::<Vec<_>>(),
        ["intent=surrender"]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_surrender_branch_classifies_the_case_for_the_operator() {
    let app = spawn_app().await;
    let t = app.call("4,1,2,2,1", None).await;
    let case = app.case(&t.call_sid).await;
    let tags: Vec<String> = case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    assert_eq!(tags, ["intent=surrender", "group=with-others", "can_talk=no"]);
    assert_eq!(case.outcome, Outcome::Voicemail);
    assert!(case.recording_url.unwrap().starts_with("https://"));
    app.stop().await;
}

#[tokio::test]
async fn a_caller_can_switch_language_after_an_automatic_choice() {
    let app = spawn_app().await;
    // A caller from Korea gets Korean at once; 9 returns to the language menu; 1 is Russian.
    let t = app.call("9,1,0", Some("KR")).await;
    let case = app.case(&t.call_sid).await;
    let chosen: Vec<String> = picked(&case, |event| match event {
        Event::LanguageChosen { language, how } => Some(format!("{language}:{how:?}")),
        _ => None,
    });
    assert_eq!(chosen, ["ko:Country", "ru:Key"]);
    assert_eq!(case.language.unwrap().as_str(), "ru");
    app.stop().await;
}
