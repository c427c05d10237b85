//! Calls made with someone else's number as their caller ID, to learn whether that number is
//! blocked or on a call to the hotline right now. A refused call (blocked, or over its
//! number's limit of calls in progress) hears, document for document and byte for byte, what
//! any call from that number hears, until it would reach a person; there it is told goodbye,
//! as callers are at the end of the menus. Nothing of it reaches the operators' queue, and
//! its case says what happened.

use crate::common;

use common::api::{api, person};
use common::{
    CALLER, Context, TestApp, assert_valid_twiml, attribute, call_params, new_call_sid, said,
    spawn_app_with, verbs, with,
};
use hotline::domain::cases::{CallSid, Event};
use hotline::domain::people::Role;
use serde_json::json;

/// The keys from the start of a call to the Russian operators' queue (language menu,
/// serviceman, surrender, alone), and from a Korean number's start to the Korean one.
const TO_QUEUE: [(Option<&str>, &[&str]); 2] =
    [(None, &["1", "1", "2", "1"]), (Some("KR"), &["1", "2", "1"])];

/// Posts one request of call `sid` from [`CALLER`] (in `country`, when given) and returns
/// its answer, which must be valid TwiML.
async fn post(
    app: &TestApp,
    path: &str,
    sid: &str,
    country: Option<&str>,
    extra: &[(&'static str, &str)],
) -> String {
    let base = call_params(sid);
    let mut params = with(&base, extra);
    if let Some(country) = country {
        params.push(("FromCountry", country));
    }
    let reply = app.post(path, &params).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    assert_valid_twiml(&reply.body, Context::Call);
    assert!(!reply.body.contains(&CALLER[2..]), "the caller's number in an answer");
    reply.body
}

/// Every document call `sid` hears from its start, pressing `keys` at each menu in turn.
async fn walk(app: &TestApp, sid: &str, country: Option<&str>, keys: &[&str]) -> Vec<String> {
    let mut heard = vec![post(app, "/voice/incoming", sid, country, &[]).await];
    for key in keys {
        let last = heard.last().unwrap();
        let action = attribute(last, "Gather", "action").unwrap_or_else(|| panic!("{last}"));
        heard.push(post(app, &action, sid, country, &[("Digits", key)]).await);
        // The unit is asked on the way to the queue; the caller skips it.
        if let Some(question) = attribute(heard.last().unwrap(), "Record", "action") {
            heard.push(post(app, &question, sid, country, &[]).await);
        }
    }
    heard
}

/// The final status of call `sid`.
async fn end(app: &TestApp, sid: &str) {
    post(app, "/voice/status", sid, None, &[("CallStatus", "completed")]).await;
}

/// Whether a document is the polite end of a call: speech, then a hang-up.
fn is_goodbye(document: &str) -> bool {
    let verbs = verbs(document);
    verbs.last().map(String::as_str) == Some("Hangup")
        && verbs[..verbs.len() - 1].iter().all(|verb| verb == "Say" || verb == "Play")
        && !said(document).is_empty()
}

/// Call `sid` was refused: it heard `ordinary` (what a call from its number heard on the same
/// keys) up to the last document, which was a goodbye instead of the queue; it never entered
/// the queue, and its case records `refusal` first and the goodbye last.
async fn assert_refused(
    app: &TestApp,
    sid: &str,
    heard: &[String],
    ordinary: &[String],
    refusal: fn(&Event) -> bool,
) {
    let last = heard.len() - 1;
    assert_eq!(heard.len(), ordinary.len());
    assert_eq!(heard[..last], ordinary[..last], "a refused call sounds refused before the end");
    assert!(verbs(&ordinary[last]).contains(&"Enqueue".to_owned()), "{}", ordinary[last]);
    assert!(is_goodbye(&heard[last]), "{}", heard[last]);
    let call = CallSid::parse(sid).unwrap();
    assert!(app.storage.queue_entry_of_call(&call).await.unwrap().is_none(), "queued");
    let events: Vec<Event> = app.case(sid).await.events.into_iter().map(|e| e.event).collect();
    assert!(refusal(&events[0]), "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::HandedOff { .. })), "{events:?}");
    let told = events.iter().any(
        |e| matches!(e, Event::Rejected { reason } if reason.contains("instead of the operators' queue")),
    );
    assert!(told, "{events:?}");
    assert!(matches!(events.last(), Some(Event::Finished { .. })), "{events:?}");
}

fn over_the_limit(event: &Event) -> bool {
    matches!(event, Event::Rejected { reason } if reason.contains("limit of calls in progress"))
}

fn blocked(event: &Event) -> bool {
    *event == Event::Blocked { refused: true }
}

#[tokio::test]
async fn a_refused_call_sounds_like_any_other_until_it_would_reach_a_person() {
    let app = spawn_app_with(|c| c.webhooks.calls_per_caller = 1).await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru", "ko"]).await;

    // The number calls, from the language menu and from Korea (straight into Korean), and
    // while that call waits for an operator, calls again: over its limit.
    let mut ordinary = Vec::new();
    for (country, keys) in TO_QUEUE {
        let first = new_call_sid();
        let heard = walk(&app, &first, country, keys).await;
        let second = new_call_sid();
        let again = walk(&app, &second, country, keys).await;
        assert_refused(&app, &second, &again, &heard, over_the_limit).await;
        // Had the provider failed an answer of the refused call, its fallback would not
        // queue it either.
        let failed = [("ErrorUrl", "/voice/menu?lang=ru&node=main&step=3"), ("ErrorCode", "11200")];
        let fallback = post(&app, "/voice/fallback", &second, country, &failed).await;
        assert!(is_goodbye(&fallback), "{fallback}");
        end(&app, &second).await;
        end(&app, &first).await;
        ordinary.push(heard);
    }

    // A call that started before the number was blocked is refused where it would reach a
    // person, though nothing marked it at its start.
    let (country, keys) = TO_QUEUE[0];
    let started = new_call_sid();
    let before = walk(&app, &started, country, &keys[..keys.len() - 1]).await;
    let case = app.case(&started).await.number.to_string();
    let block = json!({ "case": case, "reason": "threatens operators" });
    assert_eq!(api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(block)).await.0, 201);
    let action = attribute(before.last().unwrap(), "Gather", "action").unwrap();
    let asked = post(&app, &action, &started, country, &[("Digits", keys[keys.len() - 1])]).await;
    let question = attribute(&asked, "Record", "action").expect("the question");
    let goodbye = post(&app, &question, &started, country, &[]).await;
    assert!(is_goodbye(&goodbye), "{goodbye}");
    let call = CallSid::parse(&started).unwrap();
    assert!(app.storage.queue_entry_of_call(&call).await.unwrap().is_none(), "queued");
    end(&app, &started).await;

    // The blocked number calls.
    for ((country, keys), ordinary) in TO_QUEUE.into_iter().zip(&ordinary) {
        let sid = new_call_sid();
        let heard = walk(&app, &sid, country, keys).await;
        assert_refused(&app, &sid, &heard, ordinary, blocked).await;
        end(&app, &sid).await;
    }
    app.stop().await;
}
