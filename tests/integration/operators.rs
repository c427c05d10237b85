//! Operators take the handoff: routing, the server's queue, the operator line with PIN and
//! whisper, the actions that close the loop, and the queue API. Real server, signed webhooks.

use crate::common;

use std::time::Duration;

use common::api::{self, Allowed, TEST_PIN};
use common::{
    Context, TestApp, assert_valid_twiml, attribute, new_call_sid, said, spawn_app, spawn_app_with,
    text, verbs,
};
use hotline::domain::audit::AuditFilter;
use hotline::domain::cases::{CallSid, Event, Outcome};
use hotline::domain::people::{Person, Role};
use hotline::domain::queue::QueueEntry;
use hotline::storage::Storage;
use serde_json::json;

/// A caller who reaches the operator handoff: language key, then the surrender path with
/// tags (`1,2,1`: surrender, with others, can talk) or straight to an operator (`0`).
struct Caller {
    sid: String,
    /// The document that enqueued them.
    enqueued: String,
}

impl Caller {
    fn queue(&self) -> String {
        text(&self.enqueued, "Enqueue").expect("enqueued")
    }

    fn wait_url(&self) -> String {
        attribute(&self.enqueued, "Enqueue", "waitUrl").unwrap()
    }

    fn action(&self) -> String {
        attribute(&self.enqueued, "Enqueue", "action").unwrap()
    }
}

async fn caller(app: &TestApp, language_key: &str, surrender: bool) -> Caller {
    let sid = new_call_sid();
    let mut doc = app.post_call("/voice/incoming", &sid, &[]).await;
    let keys: &[&str] =
        if surrender { &[language_key, "1", "2", "1"] } else { &[language_key, "0"] };
    for key in keys {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = app.post_call(&action, &sid, &[("Digits", key)]).await;
        assert_valid_twiml(&doc, Context::Call);
    }
    // The unit is asked on the surrender path; the caller skips it.
    let question = attribute(&doc, "Record", "action");
    if let Some(question) = question.filter(|url| url.starts_with("/voice/answered")) {
        doc = app.post_call(&question, &sid, &[]).await;
    }
    Caller { sid, enqueued: doc }
}

/// The operator line: ID, PIN; returns the document after the PIN.
async fn dial_in(app: &TestApp, op_sid: &str, id: i64, pin: &str) -> String {
    let start = app.post_call("/voice/operator", op_sid, &[]).await;
    assert_valid_twiml(&start, Context::Call);
    assert_eq!(attribute(&start, "Gather", "finishOnKey").as_deref(), Some("#"));
    let action = attribute(&start, "Gather", "action").unwrap();
    let asked_pin = app.post_call(&action, op_sid, &[("Digits", &id.to_string())]).await;
    assert_valid_twiml(&asked_pin, Context::Call);
    let action = attribute(&asked_pin, "Gather", "action").unwrap();
    let doc = app.post_call(&action, op_sid, &[("Digits", pin)]).await;
    assert_valid_twiml(&doc, Context::Call);
    doc
}

async fn entry(app: &TestApp, sid: &str) -> QueueEntry {
    let sid = CallSid::parse(sid).unwrap();
    app.storage.queue_entry_of_call(&sid).await.unwrap().expect("a queue entry")
}

async fn operator(app: &TestApp, name: &str, languages: &[&str]) -> (Person, String) {
    api::person(app, name, Role::Operator, languages).await
}

async fn set_state(app: &TestApp, token: &str, state: &str) -> u16 {
    api::api(app, "PUT", "/api/me/state", Some(token), Some(json!({ "state": state }))).await.0
}

#[tokio::test]
async fn an_operator_dials_in_hears_the_whisper_and_takes_exactly_the_waiting_caller() {
    // Arrange
    let app = spawn_app_with(|c| c.queues.wrap_up_secs = 1).await;
    let (olga, _) = operator(&app, "olga", &["ru"]).await;
    let (_, boss) = api::person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let caller = caller(&app, "1", true).await;
    let queue = caller.queue();
    assert!(queue.starts_with("c-") && queue.len() <= 64, "{queue}");
    let case = app.case(&caller.sid).await;
    assert!(queue.starts_with(&format!("c-{}-", case.number)), "{queue}");

    // The wait document: the server's position, not the provider's.
    let wait = app.post_call(&caller.wait_url(), &caller.sid, &[("QueuePosition", "7")]).await;
    assert_valid_twiml(&wait, Context::Wait);
    let announced = said(&wait).join(" ");
    assert!(announced.contains('1') && !announced.contains('7'), "{announced}");

    // Act: the operator dials in.
    let op_sid = new_call_sid();
    let answer = dial_in(&app, &op_sid, olga.id, TEST_PIN).await;

    // Assert: the whisper, then exactly this caller's queue.
    let whisper = said(&answer).join(" ");
    let digits = |s: String| s.chars().map(String::from).collect::<Vec<_>>().join(" ");
    let spelled = format!(
        "Case {}, {}.",
        digits(format!("{:04}", case.number.year)),
        digits(format!("{:06}", case.number.sequence))
    );
    assert!(whisper.contains(&spelled), "{whisper} / {spelled}");
    assert!(whisper.contains("Russian"), "{whisper}");
    assert!(whisper.contains("serviceman, wants to surrender"), "{whisper}");
    assert!(whisper.contains("surrendering with others"), "{whisper}");
    assert!(whisper.contains("can talk safely now"), "{whisper}");
    assert!(whisper.contains("First call"), "{whisper}");
    assert_eq!(verbs(&answer).last().map(String::as_str), Some("Dial[Queue]"), "{answer}");
    assert_eq!(text(&answer, "Queue"), Some(queue.clone()));
    assert_eq!(
        entry(&app, &caller.sid).await.state,
        hotline::domain::queue::EntryState::Connecting
    );

    // The caller hears "connecting" (Play/Say/Pause/Redirect only).
    let url = attribute(&answer, "Queue", "url").unwrap();
    let connecting =
        app.post_call(&url, &caller.sid, &[("QueueSid", "QU1"), ("QueueTime", "3")]).await;
    assert_valid_twiml(&connecting, Context::QueueUrl);
    assert!(!said(&connecting).is_empty());
    // While being connected, the wait document announces nothing.
    let wait = app.post_call(&caller.wait_url(), &caller.sid, &[]).await;
    assert_valid_twiml(&wait, Context::Wait);
    assert!(said(&wait).is_empty(), "{wait}");

    // They talk; both actions arrive.
    let dial_action = attribute(&answer, "Dial", "action").unwrap();
    let after = app
        .post_call(
            &dial_action,
            &op_sid,
            &[("DialCallStatus", "completed"), ("DialCallDuration", "42"), ("DialCallSid", "CA9")],
        )
        .await;
    assert_valid_twiml(&after, Context::Call);
    let left = app
        .post_call(&caller.action(), &caller.sid, &[("QueueResult", "bridged"), ("QueueTime", "5")])
        .await;
    assert_valid_twiml(&left, Context::Call);

    // The case shows who took it, the wait and the talk time.
    let taken = entry(&app, &caller.sid).await;
    assert_eq!(taken.state, hotline::domain::queue::EntryState::Bridged);
    assert_eq!(taken.operator_id, Some(olga.id));
    let talk = (taken.ended_at.unwrap() - taken.bridged_at.unwrap()).num_seconds();
    assert!((41..=43).contains(&talk), "talk {talk}");
    assert!(taken.wait_secs(chrono::Utc::now()) >= 0);
    let case = app.case(&caller.sid).await;
    assert!(
        case.events.iter().any(
            |e| matches!(e.event, Event::Answered { operator_id, .. } if operator_id == olga.id)
        ),
        "{:?}",
        case.events
    );
    assert!(matches!(case.outcome, Outcome::HandedOff { .. }));

    // Wrap-up, then available once its time is over.
    let state_of = |body: serde_json::Value| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == olga.id)
            .map(|p| p["state"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (status, body) = api::api(&app, "GET", "/api/operators", Some(&boss), None).await;
    assert_eq!(status, 200);
    assert_eq!(state_of(body), "wrap-up");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, body) = api::api(&app, "GET", "/api/operators", Some(&boss), None).await;
    assert_eq!(state_of(body), "available");
    app.stop().await;
}

#[tokio::test]
async fn callers_and_operators_of_two_languages_are_matched_by_language() {
    let app = spawn_app().await;
    let (ru_op, _) = operator(&app, "ivan", &["ru"]).await;
    let (ko_op, _) = operator(&app, "minji", &["ko"]).await;
    let ru = caller(&app, "1", false).await;
    let ko = caller(&app, "2", false).await;

    let ko_answer = dial_in(&app, &new_call_sid(), ko_op.id, TEST_PIN).await;
    let ru_answer = dial_in(&app, &new_call_sid(), ru_op.id, TEST_PIN).await;

    assert_eq!(text(&ko_answer, "Queue"), Some(ko.queue()));
    assert!(said(&ko_answer).join(" ").contains("Korean"));
    assert_eq!(text(&ru_answer, "Queue"), Some(ru.queue()));
    assert_eq!(entry(&app, &ko.sid).await.operator_id, Some(ko_op.id));
    assert_eq!(entry(&app, &ru.sid).await.operator_id, Some(ru_op.id));
    app.stop().await;
}

#[tokio::test]
async fn two_operators_dialling_at_the_same_moment_get_different_callers() {
    let app = spawn_app().await;
    let (a, _) = operator(&app, "anna", &["ru"]).await;
    let (b, _) = operator(&app, "boris", &["ru"]).await;
    let first = caller(&app, "1", false).await;
    let second = caller(&app, "1", false).await;
    // Both are at the PIN step; their PINs arrive together.
    let pin_step = |id: i64| format!("/voice/operator/pin?try=1&op={id}");
    let (sid_a, sid_b) = (new_call_sid(), new_call_sid());
    let (path_a, path_b) = (pin_step(a.id), pin_step(b.id));
    let (answer_a, answer_b) = tokio::join!(
        app.post_call(&path_a, &sid_a, &[("Digits", TEST_PIN)]),
        app.post_call(&path_b, &sid_b, &[("Digits", TEST_PIN)]),
    );
    let (queue_a, queue_b) = (text(&answer_a, "Queue").unwrap(), text(&answer_b, "Queue").unwrap());
    assert_ne!(queue_a, queue_b);
    let mut got = vec![queue_a, queue_b];
    got.sort();
    let mut expected = vec![first.queue(), second.queue()];
    expected.sort();
    assert_eq!(got, expected);
    app.stop().await;
}

#[tokio::test]
async fn three_wrong_pins_hang_up_connect_nobody_and_are_audited() {
    let app = spawn_app().await;
    let (olga, _) = operator(&app, "olga", &["ru"]).await;
    let waiting = caller(&app, "1", false).await;
    let op_sid = new_call_sid();

    let mut doc = app.post_call("/voice/operator", &op_sid, &[]).await;
    for attempt in 1..=3 {
        let action = attribute(&doc, "Gather", "action").unwrap();
        let asked = app.post_call(&action, &op_sid, &[("Digits", &olga.id.to_string())]).await;
        let action = attribute(&asked, "Gather", "action").unwrap();
        doc = app.post_call(&action, &op_sid, &[("Digits", "0000")]).await;
        assert_valid_twiml(&doc, Context::Call);
        assert!(!doc.contains("<Dial"), "attempt {attempt}: {doc}");
    }
    assert_eq!(verbs(&doc), ["Say", "Hangup"], "{doc}");
    assert_eq!(entry(&app, &waiting.sid).await.state, hotline::domain::queue::EntryState::Waiting);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let filter =
        AuditFilter { action: Some("dial-in.refused".into()), limit: 10, ..Default::default() };
    let refused = app.storage.audit_log(filter).await.unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(!refused[0].detail.contains("9161234567") && !refused[0].detail.contains(TEST_PIN));
    app.stop().await;
}

#[tokio::test]
async fn with_no_korean_operator_a_korean_caller_goes_to_russian_operators_with_an_interpreter() {
    let app = spawn_app_with(|c| c.queues.fallbacks = "ko=ru".parse().unwrap()).await;
    let (ivan, _) = operator(&app, "ivan", &["ru"]).await;
    // Ivan is on the line (only an operator who can be put through holds off a fallback).
    let op_sid = new_call_sid();
    let idle = dial_in(&app, &op_sid, ivan.id, TEST_PIN).await;
    assert!(said(&idle).join(" ").contains("No caller is waiting"), "{idle}");

    let ko = caller(&app, "2", false).await;

    let queued = entry(&app, &ko.sid).await;
    assert_eq!(queued.language.as_str(), "ru");
    assert!(queued.interpreter_needed);
    let case = app.case(&ko.sid).await;
    let routed = case.events.iter().find_map(|e| match &e.event {
        Event::Routed { language, interpreter_needed, reason } => {
            Some((language.clone(), *interpreter_needed, reason.clone()))
        }
        _ => None,
    });
    let (language, interpreter, reason) = routed.expect("the routing is on the case");
    assert_eq!(language.unwrap().as_str(), "ru");
    assert!(interpreter && reason.contains("no ko operator available"), "{reason}");
    let next = format!("/voice/operator/next?op={}&langs=ru", ivan.id);
    let answer = app.post_call(&next, &op_sid, &[]).await;
    let whisper = said(&answer).join(" ");
    assert!(whisper.contains("Korean") && whisper.contains("Interpreter needed"), "{whisper}");
    app.stop().await;
}

#[tokio::test]
async fn a_voicemail_fallback_sends_the_caller_to_voicemail_at_once() {
    let app = spawn_app_with(|c| c.queues.fallbacks = "ko=voicemail".parse().unwrap()).await;
    let ko = caller(&app, "2", false).await;
    assert_valid_twiml(&ko.enqueued, Context::Call);
    assert!(ko.enqueued.contains("<Record"), "{}", ko.enqueued);
    assert!(!ko.enqueued.contains("<Enqueue"), "{}", ko.enqueued);
    let case = app.case(&ko.sid).await;
    assert!(case.events.iter().any(|e| matches!(
        &e.event,
        Event::Routed { language: None, reason, .. } if reason.contains("no ko operator")
    )));
    app.stop().await;
}

#[tokio::test]
async fn a_caller_who_gives_up_is_abandoned_in_queue_with_the_wait() {
    let app = spawn_app().await;
    let gone = caller(&app, "1", false).await;
    let left = app
        .post_call(&gone.action(), &gone.sid, &[("QueueResult", "hangup"), ("QueueTime", "65")])
        .await;
    assert_valid_twiml(&left, Context::Call);
    let closed = entry(&app, &gone.sid).await;
    assert_eq!(closed.state, hotline::domain::queue::EntryState::Left);
    assert_eq!(closed.result.as_deref(), Some("hangup"));
    app.post_call(
        "/voice/status",
        &gone.sid,
        &[("CallStatus", "completed"), ("CallDuration", "90")],
    )
    .await;
    let case = app.case(&gone.sid).await;
    assert_eq!(case.outcome, Outcome::AbandonedInQueue { queue: "ru".into() });
    assert!(
        case.events.iter().any(|e| matches!(e.event, Event::LeftQueue { wait_secs: Some(65), .. }))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_caller_whose_queue_exit_was_lost_leaves_the_queue_at_the_end_of_the_call() {
    let app = spawn_app().await;
    let gone = caller(&app, "1", false).await;
    let stays = caller(&app, "1", false).await;
    assert_eq!(entry(&app, &gone.sid).await.state, hotline::domain::queue::EntryState::Waiting);
    // The Enqueue action never arrives (the server was down when it was sent); the final
    // status callback does.
    app.post_call("/voice/status", &gone.sid, &[("CallStatus", "no-answer")]).await;
    let closed = entry(&app, &gone.sid).await;
    assert_eq!(closed.state, hotline::domain::queue::EntryState::Left);
    assert_eq!(closed.result.as_deref(), Some("hangup"));
    // A late Enqueue action changes nothing, and the caller still waiting is untouched.
    app.post_call(&gone.action(), &gone.sid, &[("QueueResult", "hangup")]).await;
    assert_eq!(entry(&app, &gone.sid).await.state, hotline::domain::queue::EntryState::Left);
    assert_eq!(entry(&app, &stays.sid).await.state, hotline::domain::queue::EntryState::Waiting);
    // An in-progress status is not an end.
    app.post_call("/voice/status", &stays.sid, &[("CallStatus", "in-progress")]).await;
    assert_eq!(entry(&app, &stays.sid).await.state, hotline::domain::queue::EntryState::Waiting);
    app.stop().await;
}

#[tokio::test]
async fn at_the_maximum_wait_the_caller_leaves_the_queue_for_voicemail() {
    let app = spawn_app_with(|c| c.queues.max_wait_secs = 1).await;
    let waiting = caller(&app, "4", false).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let wait = app.post_call(&waiting.wait_url(), &waiting.sid, &[("QueuePosition", "1")]).await;
    assert_valid_twiml(&wait, Context::Wait);
    assert_eq!(verbs(&wait).last().map(String::as_str), Some("Leave"), "{wait}");
    assert!(!said(&wait).is_empty(), "the caller is told: {wait}");
    let after = app.post_call(&waiting.action(), &waiting.sid, &[("QueueResult", "leave")]).await;
    assert_valid_twiml(&after, Context::Call);
    assert!(after.contains("<Record"), "{after}");
    assert_eq!(entry(&app, &waiting.sid).await.state, hotline::domain::queue::EntryState::Left);
    app.stop().await;
}

#[tokio::test]
async fn a_caller_gone_before_the_bridge_is_reported_to_the_operator() {
    let app = spawn_app().await;
    let (olga, _) = operator(&app, "olga", &["ru"]).await;
    let gone = caller(&app, "1", false).await;
    let op_sid = new_call_sid();
    let answer = dial_in(&app, &op_sid, olga.id, TEST_PIN).await;
    assert_eq!(text(&answer, "Queue"), Some(gone.queue()));
    app.post_call(&gone.action(), &gone.sid, &[("QueueResult", "hangup"), ("QueueTime", "9")])
        .await;

    let dial_action = attribute(&answer, "Dial", "action").unwrap();
    let after = app
        .post_call(
            &dial_action,
            &op_sid,
            &[("DialCallStatus", "no-answer"), ("DialCallDuration", "0")],
        )
        .await;
    assert_valid_twiml(&after, Context::Call);
    assert!(said(&after).join(" ").contains("left"), "{after}");
    // The next look finds nobody: a shared-queue dial, at most one look per 10 s.
    let next = text(&after, "Redirect").unwrap();
    let idle = app.post_call(&next, &op_sid, &[]).await;
    assert_valid_twiml(&idle, Context::Call);
    assert_eq!(attribute(&idle, "Dial", "timeout").as_deref(), Some("10"));
    let again = attribute(&idle, "Dial", "action").unwrap();
    let paced = app.post_call(&again, &op_sid, &[("DialCallStatus", "failed")]).await;
    assert_valid_twiml(&paced, Context::Call);
    assert_eq!(verbs(&paced), ["Pause", "Redirect"], "{paced}");
    app.stop().await;
}

#[tokio::test]
async fn with_the_database_locked_the_caller_is_still_enqueued_in_the_shared_queue() {
    let app = spawn_app_with(|c| {
        c.database.busy_timeout_ms = 20;
        c.database.write_deadline_ms = 200;
        c.queues.db_timeout_ms = 300;
    })
    .await;
    let (olga, _) = operator(&app, "olga", &["ru"]).await;
    let op_sid = new_call_sid();
    let idle = dial_in(&app, &op_sid, olga.id, TEST_PIN).await;
    assert_eq!(text(&idle, "Queue").as_deref(), Some("ru"), "nobody waits yet: {idle}");

    let blocker = rusqlite::Connection::open(&app.db_path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let stuck = caller(&app, "1", false).await;
    assert_valid_twiml(&stuck.enqueued, Context::Call);
    assert_eq!(stuck.queue(), "ru");
    let wait = app.post_call(&stuck.wait_url(), &stuck.sid, &[("QueuePosition", "2")]).await;
    assert_valid_twiml(&wait, Context::Wait);
    assert!(said(&wait).join(" ").contains('2'), "the provider's position: {wait}");
    // The operator's next look cannot use the database: the shared queue.
    let next = format!("/voice/operator/next?op={}&langs=ru", olga.id);
    let answer = app.post_call(&next, &op_sid, &[]).await;
    assert_valid_twiml(&answer, Context::Call);
    assert_eq!(text(&answer, "Queue").as_deref(), Some("ru"));
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);

    // The routing decision was journaled and reaches the case (at the latest at shutdown).
    let db_path = app.db_path.clone();
    let _dir = app.stop().await;
    let storage = Storage::open(&db_path, common::storage_options()).await.unwrap();
    let sid = CallSid::parse(&stuck.sid).unwrap();
    let case = storage.case_by_call(&sid).await.unwrap().expect("the case");
    assert!(
        case.events.iter().any(|e| matches!(
            &e.event,
            Event::Routed { reason, .. } if reason.contains("shared queue")
        )),
        "{:?}",
        case.events
    );
}

#[tokio::test]
async fn an_operator_who_hangs_up_goes_offline_and_their_caller_waits_again() {
    let app = spawn_app().await;
    let (olga, _) = operator(&app, "olga", &["ru"]).await;
    let (_, boss) = api::person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let waiting = caller(&app, "1", false).await;
    let op_sid = new_call_sid();
    let answer = dial_in(&app, &op_sid, olga.id, TEST_PIN).await;
    assert_eq!(text(&answer, "Queue"), Some(waiting.queue()));

    let status = [("CallStatus", "completed"), ("CallDuration", "12")];
    let reply = app.post_call("/voice/operator/status", &op_sid, &status).await;

    assert_valid_twiml(&reply, Context::Call);
    assert_eq!(entry(&app, &waiting.sid).await.state, hotline::domain::queue::EntryState::Waiting);
    let (_, people) = api::api(&app, "GET", "/api/operators", Some(&boss), None).await;
    let olga_now = people.as_array().unwrap().iter().find(|p| p["id"] == olga.id).unwrap();
    assert_eq!(olga_now["state"], "offline");
    // Her signed-in URLs no longer work for that call.
    let next = format!("/voice/operator/next?op={}&langs=ru", olga.id);
    assert!(!app.post_call(&next, &op_sid, &[]).await.contains("<Dial"));
    app.stop().await;
}

#[tokio::test]
async fn hostile_values_on_every_operator_route_get_valid_twiml() {
    let app = spawn_app().await;
    let (olga, _) = operator(&app, "olga", &["ru"]).await;
    let op_sid = new_call_sid();
    dial_in(&app, &op_sid, olga.id, TEST_PIN).await;
    let huge = "9".repeat(5000);
    let paths = [
        "/voice/operator/id?try=0".to_owned(),
        "/voice/operator/id?try=-1".into(),
        format!("/voice/operator/pin?try=1&op={huge}"),
        "/voice/operator/pin?try=1&op=%3Cscript%3E".into(),
        "/voice/operator/next?op=1&langs=../../etc".into(),
        format!("/voice/operator/next?op={}&langs=ru&round=-1", olga.id),
        format!("/voice/operator/dialed?op={}&langs=ru,ru,xx,{huge}&round={huge}", olga.id),
        format!("/voice/operator/next?op={}&langs=ru&at=99999999999999999999", olga.id),
        format!("/voice/operator/dialed?op={}&langs=ru&entry=-1", olga.id),
        format!("/voice/operator/dialed?op={}&langs=ru&entry={huge}", olga.id),
        format!("/voice/operator/dialed?op={}&langs=ru&entry=abc", olga.id),
        "/voice/operator/connecting?lang=xx&entry=1".into(),
        "/voice/operator/connecting".into(),
        "/voice/operator/%00".into(),
        "/voice/operator/nope".into(),
        "/voice/operator/status".into(),
    ];
    let values: [&str; 6] = ["", "1 OR 1=1", "<Hangup/>", "١٢٣", "#", &huge];
    for path in &paths {
        for value in values {
            let reply = app
                .post(
                    path,
                    &[
                        ("CallSid", op_sid.as_str()),
                        ("Digits", value),
                        ("DialCallStatus", value),
                        ("DialCallDuration", value),
                        ("QueueResult", value),
                        ("CallStatus", value),
                    ],
                )
                .await;
            assert_eq!(reply.status, 200, "{path} {value:.20}");
            let context =
                if path.contains("connecting") { Context::QueueUrl } else { Context::Call };
            assert_valid_twiml(&reply.body, context);
        }
    }
    // Enqueue action and wait document with hostile values.
    let waiting = caller(&app, "1", false).await;
    for value in values {
        let wait =
            app.post_call(&waiting.wait_url(), &waiting.sid, &[("QueuePosition", value)]).await;
        assert_valid_twiml(&wait, Context::Wait);
    }
    let left = app
        .post_call(&waiting.action(), &waiting.sid, &[("QueueResult", "<x>"), ("QueueTime", &huge)])
        .await;
    assert_valid_twiml(&left, Context::Call);
    // Unsigned: refused.
    let forged =
        app.post_as("/voice/operator/next?op=1&langs=ru", &[("CallSid", "CA1")], None).await;
    assert_eq!(forged.status, 403);
    // Another call cannot ride on a signed-in operator's URL.
    let stranger = app
        .post_call(&format!("/voice/operator/next?op={}&langs=ru", olga.id), &new_call_sid(), &[])
        .await;
    assert!(!stranger.contains("<Dial"), "{stranger}");
    app.stop().await;
}

#[tokio::test]
async fn queue_routes_check_roles() {
    let app = spawn_app().await;
    api::assert_matrix(&app, "GET", "/api/queues", None, Allowed::Both).await;
    api::assert_matrix(
        &app,
        "PUT",
        "/api/me/state",
        Some(json!({"state": "break"})),
        Allowed::Both,
    )
    .await;
    api::assert_matrix(&app, "GET", "/api/operators", None, Allowed::Supervisor).await;
    let (status, _) =
        api::assert_matrix(&app, "POST", "/api/queues/claim", None, Allowed::Both).await;
    assert_eq!(status, 404, "nobody waits");
    app.stop().await;
}

#[tokio::test]
async fn the_state_api_refuses_what_only_the_call_flow_sets_and_bad_bodies() {
    let app = spawn_app().await;
    let (_, token) = operator(&app, "olga", &["ru"]).await;
    for state in ["on-call", "wrap-up", "", "Available", "<script>", &"a".repeat(5000)] {
        assert_eq!(set_state(&app, &token, state).await, 400, "{state:.20}");
    }
    for body in
        [json!(null), json!({}), json!({"state": 1}), json!({"state": "break", "x": 1}), json!([1])]
    {
        let (status, answer) =
            api::api(&app, "PUT", "/api/me/state", Some(&token), Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error"].is_string());
    }
    for state in ["available", "break", "offline"] {
        assert_eq!(set_state(&app, &token, state).await, 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_queue_screen_shows_callers_without_numbers_and_a_claim_holds_the_caller() {
    let app = spawn_app().await;
    let (anna, anna_token) = operator(&app, "anna", &["ru"]).await;
    let (_, boris_token) = operator(&app, "boris", &["ru"]).await;
    let (_, ko_token) = operator(&app, "minji", &["ko"]).await;
    let first = caller(&app, "1", true).await;
    let second = caller(&app, "1", true).await;

    let (status, queues) = api::api(&app, "GET", "/api/queues", Some(&anna_token), None).await;
    assert_eq!(status, 200);
    let shown = queues.to_string();
    assert!(!shown.contains("9161234567"), "{shown}");
    let case = app.case(&first.sid).await;
    assert!(!shown.contains(&case.caller.unwrap().0), "a caller hash is shown");
    let ru = &queues.as_array().unwrap()[0];
    assert_eq!(ru["language"], "ru");
    let callers = ru["callers"].as_array().unwrap();
    assert_eq!(callers.len(), 2);
    assert_eq!(callers[0]["position"], 1);
    assert_eq!(callers[1]["position"], 2);
    assert_eq!(callers[1]["repeat_caller"], true, "the same number called before");
    assert!(callers[0]["tags"].as_array().unwrap().len() == 3);
    let (_, ko_view) = api::api(&app, "GET", "/api/queues", Some(&ko_token), None).await;
    assert_eq!(ko_view[0]["callers"].as_array().unwrap().len(), 0, "{ko_view}");

    // Boris claims the next caller (the first); Anna's dial-in then gets the second.
    let (status, claimed) =
        api::api(&app, "POST", "/api/queues/claim", Some(&boris_token), None).await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["case"], case.number.to_string());
    let filter =
        AuditFilter { action: Some("queue.claim".into()), limit: 10, ..Default::default() };
    let claims = app.storage.audit_log(filter).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].case, Some(case.number));
    let answer = dial_in(&app, &new_call_sid(), anna.id, TEST_PIN).await;
    assert_eq!(text(&answer, "Queue"), Some(second.queue()));
    let (status, _) = api::api(&app, "POST", "/api/queues/claim", Some(&anna_token), None).await;
    assert_eq!(status, 404, "the only other caller is claimed");
    app.stop().await;
}

#[tokio::test]
async fn the_wait_estimate_comes_from_answered_callers_and_is_never_invented() {
    let app = spawn_app().await;
    let (olga, _) = operator(&app, "olga", &["en"]).await;
    let first = caller(&app, "4", false).await;
    let before = app.post_call(&first.wait_url(), &first.sid, &[]).await;
    assert!(!said(&before).join(" ").contains("minutes:"), "no history, no estimate: {before}");

    // The first caller is answered after waiting a little.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let op_sid = new_call_sid();
    let answer = dial_in(&app, &op_sid, olga.id, TEST_PIN).await;
    assert_eq!(text(&answer, "Queue"), Some(first.queue()));
    let left = [("QueueResult", "bridged"), ("QueueTime", "1")];
    app.post_call(&first.action(), &first.sid, &left).await;

    let second = caller(&app, "4", false).await;
    let wait = app.post_call(&second.wait_url(), &second.sid, &[]).await;
    assert_valid_twiml(&wait, Context::Wait);
    let announced = said(&wait).join(" ");
    assert!(announced.contains("number 1 in line"), "{announced}");
    assert!(announced.contains("this many minutes: 1."), "{announced}");
    app.stop().await;
}

#[tokio::test]
async fn a_retried_dial_in_request_gets_the_same_caller_and_the_whisper_is_audited() {
    let app = spawn_app().await;
    let (olga, _) = operator(&app, "olga", &["ru"]).await;
    let first = caller(&app, "1", false).await;
    let _second = caller(&app, "1", false).await;
    let op_sid = new_call_sid();
    let pin = format!("/voice/operator/pin?try=1&op={}", olga.id);

    let answer = app.post_call(&pin, &op_sid, &[("Digits", TEST_PIN)]).await;
    let retried = app.post_call(&pin, &op_sid, &[("Digits", TEST_PIN)]).await;

    assert_eq!(text(&answer, "Queue"), Some(first.queue()));
    assert_eq!(text(&retried, "Queue"), Some(first.queue()));
    let filter =
        AuditFilter { action: Some("case.whisper".into()), limit: 10, ..Default::default() };
    let whispers = app.storage.audit_log(filter).await.unwrap();
    let case = app.case(&first.sid).await;
    assert!(whispers.iter().all(|w| w.case == Some(case.number) && w.actor_id == Some(olga.id)));
    assert!(!whispers.is_empty());
    app.stop().await;
}
