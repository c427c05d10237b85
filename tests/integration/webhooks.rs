//! The provider's view: single webhook requests, signed or forged, well-formed or hostile,
//! and the TwiML that comes back.

use crate::common;

use common::{
    Context, assert_valid_twiml, attribute, call_params, new_call_sid, said, spawn_app, text,
    verbs, with,
};
use hotline::domain::cases::{Event, Outcome};

#[tokio::test]
async fn a_new_call_hears_every_language_announce_itself_and_opens_a_case() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    let reply = app.post("/voice/incoming", &with(&base, &[("CallStatus", "ringing")])).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type.as_deref(), Some("text/xml; charset=utf-8"));
    assert_valid_twiml(&reply.body, Context::Call);
    insta::assert_snapshot!("language_menu", reply.body);
    let action = attribute(&reply.body, "Gather", "action").unwrap();
    // The version of the scripts the call started on travels with it (see tests/scripts.rs).
    assert!(action.starts_with("/voice/language?attempt=1&step=1&v="), "{action}");
    // The timeout falls through to a Redirect to the same action.
    assert_eq!(text(&reply.body, "Redirect").unwrap(), action);

    let case = app.case(&sid).await;
    assert_eq!(
        case.number.year,
        chrono::Utc::now().naive_utc().date().format("%Y").to_string().parse::<i32>().unwrap()
    );
    assert!(case.caller.is_some());
    assert_eq!(case.outcome, Outcome::InProgress);
    app.stop().await;
}

#[tokio::test]
async fn a_caller_from_a_configured_country_goes_straight_into_their_language() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    let reply = app.post("/voice/incoming", &with(&base, &[("FromCountry", "UA")])).await;
    assert_valid_twiml(&reply.body, Context::Call);
    let action = attribute(&reply.body, "Gather", "action").unwrap();
    assert!(action.starts_with("/voice/menu?lang=uk&node=main&step=1"), "{action}");
    // No Polly voice for Ukrainian: Google's voice reads the fallback text.
    assert_eq!(attribute(&reply.body, "Say", "language").as_deref(), Some("uk-UA"));
    let case = app.case(&sid).await;
    assert_eq!(case.language.unwrap().as_str(), "uk");
    assert_eq!(case.country.as_deref(), Some("UA"));
    app.stop().await;
}

#[tokio::test]
async fn choosing_a_language_by_key_starts_its_script() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    app.post("/voice/incoming", &with(&base, &[])).await;
    let reply =
        app.post("/voice/language?attempt=1&step=1", &with(&base, &[("Digits", "2")])).await;
    assert_valid_twiml(&reply.body, Context::Call);
    assert_eq!(attribute(&reply.body, "Say", "voice").as_deref(), Some("Polly.Seoyeon"));
    insta::assert_snapshot!("korean_welcome_and_main_menu", reply.body);
    assert_eq!(app.case(&sid).await.language.unwrap().as_str(), "ko");
    app.stop().await;
}

#[tokio::test]
async fn hostile_digits_replay_the_menu_and_never_fail() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    app.post("/voice/incoming", &with(&base, &[])).await;
    let long = "1".repeat(10_000);
    let thirty_three = "1".repeat(33);
    let hostile = [
        "a",
        "1 ",
        " ",
        "١",
        "１",
        "<Hangup/>",
        "&amp;",
        "1\r\n",
        "\u{202e}1",
        "99",
        "10",
        "#1",
        thirty_three.as_str(),
        long.as_str(),
        "'; DROP TABLE cases; --",
        "%00",
        "\0",
    ];
    for (i, digits) in hostile.iter().enumerate() {
        let shown: String = digits.chars().take(40).collect();
        let step = (10 + i).to_string();
        let path = format!("/voice/menu?lang=ru&node=main&attempt=1&step={step}");
        let reply = app.post(&path, &with(&base, &[("Digits", digits)])).await;
        assert_eq!(reply.status, 200, "{shown:?}");
        assert_valid_twiml(&reply.body, Context::Call);
        // "Not in the menu", then the menu again, one attempt further.
        assert_eq!(said(&reply.body)[0], "Такой клавиши нет в меню.", "{shown:?}");
        let action = attribute(&reply.body, "Gather", "action").unwrap();
        assert!(
            action.contains("node=main") && action.contains("attempt=2"),
            "{shown:?}: {action}"
        );
    }
    let case = app.case(&sid).await;
    let stored = serde_json::to_string(&case).unwrap();
    assert!(!stored.contains("DROP TABLE") && !stored.contains("Hangup/"), "raw digits stored");
    app.stop().await;
}

#[tokio::test]
async fn requests_that_do_not_fit_the_script_get_an_apology_and_an_operator() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    for path in [
        "/voice/menu?lang=ru&node=no-such-node&step=3",
        "/voice/menu?lang=xx&node=main&step=3",
        "/voice/menu?lang=ko&step=3",
        "/voice/menu",
        "/voice/continue?lang=ru&node=..%2F..%2Fetc&step=3",
        "/voice/menu?lang=ru&node=main&attempt=-1&step=99999999999999",
        "/voice/no-such-route",
        "/voice/recorded?lang=en",
        "/voice/queue?lang=ru&node=main&step=4",
    ] {
        let reply = app.post(path, &with(&base, &[("Digits", "1")])).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_valid_twiml(&reply.body, Context::Call);
        let v = verbs(&reply.body);
        assert!(
            v.iter().any(|v| v == "Enqueue" || v.starts_with("Gather") || v == "Hangup"),
            "{path}: {v:?}"
        );
    }
    // The Korean request without a node still apologises in Korean.
    let reply = app.post("/voice/menu?lang=ko&step=3", &with(&base, &[])).await;
    assert_eq!(text(&reply.body, "Enqueue").as_deref(), Some("ko"));
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_still_get_safe_twiml() {
    let app = spawn_app().await;
    // No CallSid, no parameters at all.
    let reply = app.post("/voice/incoming", &[]).await;
    assert_eq!(reply.status, 200);
    assert_valid_twiml(&reply.body, Context::Call);
    // A CallSid that could inject: answered, nothing recorded under it.
    let reply = app.post("/voice/incoming", &[("CallSid", "CA1'; --"), ("From", "+1")]).await;
    assert_eq!(reply.status, 200);
    assert_valid_twiml(&reply.body, Context::Call);
    assert!(app.storage.recent_cases(10).await.unwrap().is_empty());
    // A body over the limit (64 kB by default).
    let huge = "x".repeat(200_000);
    let reply = app.post("/voice/incoming", &[("CallSid", "CA1"), ("Junk", &huge)]).await;
    assert_eq!(reply.status, 200);
    assert_valid_twiml(&reply.body, Context::Call);
    assert!(verbs(&reply.body).contains(&"Enqueue".to_string()));
    app.stop().await;
}

#[tokio::test]
async fn forged_or_missing_signatures_are_refused_and_leave_no_case() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    let params = with(&base, &[]);
    let unsigned = app.post_as("/voice/incoming", &params, None).await;
    assert_eq!(unsigned.status, 403);
    let forged = app.post_as("/voice/incoming", &params, Some("not-the-token")).await;
    assert_eq!(forged.status, 403);
    assert!(!forged.body.contains("<Response"));
    for path in ["/voice/status", "/voice/fallback", "/voice/menu?lang=ru&node=main&step=1"] {
        assert_eq!(app.post_as(path, &params, Some("wrong")).await.status, 403, "{path}");
    }
    assert!(app.storage.recent_cases(10).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_retried_request_records_its_choice_once() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    app.post("/voice/incoming", &with(&base, &[])).await;
    app.post("/voice/language?attempt=1&step=1", &with(&base, &[("Digits", "1")])).await;
    let path = "/voice/menu?lang=ru&node=main&attempt=1&step=2";
    let first = app.post(path, &with(&base, &[("Digits", "1")])).await;
    let retry = app.post(path, &with(&base, &[("Digits", "1")])).await;
    assert_eq!(first.body, retry.body, "a retry gets the same answer");
    let case = app.case(&sid).await;
    let presses = case
        .events
        .iter()
        .filter(
            |e| matches!(&e.event, Event::Pressed { node: Some(n), .. } if n.as_str() == "main"),
        )
        .count();
    assert_eq!(presses, 1);
    assert_eq!(case.tags.len(), 1);
    assert_eq!((case.tags[0].key.as_str(), case.tags[0].value.as_str()), ("intent", "surrender"));
    app.stop().await;
}

#[tokio::test]
async fn handoff_enqueues_with_a_wait_document_that_tells_the_place_in_line() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    app.post("/voice/incoming", &with(&base, &[])).await;
    app.post("/voice/language?attempt=1&step=1", &with(&base, &[("Digits", "1")])).await;
    let reply = app
        .post("/voice/menu?lang=ru&node=main&attempt=1&step=2", &with(&base, &[("Digits", "0")]))
        .await;
    assert_valid_twiml(&reply.body, Context::Call);
    // The caller's own queue, named by the server: case number and entry id.
    let queue = text(&reply.body, "Enqueue").unwrap();
    assert!(queue.starts_with("c-") && queue.len() <= 64, "{queue}");
    insta::assert_snapshot!("handoff_ru", reply.body.replace(&queue, "c-CASE-ENTRY"));
    let wait_url = attribute(&reply.body, "Enqueue", "waitUrl").unwrap();

    let waiting = with(
        &base,
        &[
            ("QueuePosition", "3"),
            ("QueueSid", "QU1"),
            ("QueueTime", "40"),
            ("CurrentQueueSize", "5"),
        ],
    );
    let wait = app.post(&wait_url, &waiting).await;
    assert_valid_twiml(&wait.body, Context::Wait);
    insta::assert_snapshot!("wait_ru", wait.body);
    // The server's own position (the only caller waiting), not the provider's QueuePosition.
    assert!(said(&wait.body).iter().any(|s| s.contains('1')), "{}", wait.body);
    // For a caller the server does not know, before the provider reports a position, no
    // number is invented (the only digits said are the keys on offer: "нажмите 1").
    let stranger = new_call_sid();
    let wait = app.post(&wait_url, &with(&call_params(&stranger), &[])).await;
    assert_valid_twiml(&wait.body, Context::Wait);
    let position_said = said(&wait.body)
        .iter()
        .any(|s| !s.contains("нажмите") && s.chars().any(|c| c.is_ascii_digit()));
    assert!(!wait.body.contains("{position}") && !position_said, "{}", wait.body);
    assert!(matches!(app.case(&sid).await.outcome, Outcome::HandedOff { .. }));

    // The caller hangs up while waiting.
    let action = attribute(&reply.body, "Enqueue", "action").unwrap();
    let left =
        app.post(&action, &with(&base, &[("QueueResult", "hangup"), ("QueueTime", "65")])).await;
    assert_valid_twiml(&left.body, Context::Call);
    app.post(
        "/voice/status",
        &with(
            &base,
            &[("CallStatus", "completed"), ("CallDuration", "90"), ("SequenceNumber", "0")],
        ),
    )
    .await;
    let case = app.case(&sid).await;
    assert_eq!(case.outcome, Outcome::AbandonedInQueue { queue: "ru".into() });
    assert_eq!(case.duration_secs, Some(90));
    app.stop().await;
}

#[tokio::test]
async fn a_full_queue_sends_the_caller_to_voicemail_and_keeps_the_recording() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    app.post("/voice/incoming", &with(&base, &[("FromCountry", "GB")])).await;
    let full = app
        .post(
            "/voice/queue?lang=en&node=operator&step=2",
            &with(&base, &[("QueueResult", "queue-full")]),
        )
        .await;
    assert_valid_twiml(&full.body, Context::Call);
    insta::assert_snapshot!("voicemail_en", full.body);
    let action = attribute(&full.body, "Record", "action").unwrap();
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0123";
    let done = app
        .post(
            &action,
            &with(&base, &[("RecordingUrl", url), ("RecordingDuration", "14"), ("Digits", "#")]),
        )
        .await;
    assert_valid_twiml(&done.body, Context::Call);
    assert_eq!(verbs(&done.body).last().map(String::as_str), Some("Hangup"));
    let case = app.case(&sid).await;
    assert_eq!(case.recording_url.as_deref(), Some(url));
    assert_eq!(case.outcome, Outcome::Voicemail);
    app.stop().await;
}

/// Follows an English call (from GB) through `keys` at its menus; returns the last document.
async fn english_call_through(
    app: &common::TestApp,
    base: &[(&'static str, String)],
    keys: &[&str],
) -> String {
    let mut doc = app.post("/voice/incoming", &with(base, &[("FromCountry", "GB")])).await.body;
    for key in keys {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = app.post(&action, &with(base, &[("Digits", key)])).await.body;
    }
    doc
}

#[tokio::test]
async fn an_ask_records_a_short_answer_then_goes_on_without_a_tag_or_a_follow_up() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    // Surrender, alone, safe to talk: the question comes before the operator.
    let asked = english_call_through(&app, &base, &["1", "1", "1"]).await;
    assert_valid_twiml(&asked, Context::Call);
    insta::assert_snapshot!("ask_en", asked);
    assert_eq!(
        said(&asked).concat(),
        "Which unit are you in? You may skip this: after the tone, say anything, or nothing at all."
    );
    // What a chat shows never reaches the caller's phone.
    assert!(!asked.contains("write anything") && !asked.contains("<text"), "{asked}");
    assert!(!asked.contains("recordingStatusCallback"), "an answer asks for no follow-up");
    let action = attribute(&asked, "Record", "action").unwrap();
    assert!(action.starts_with("/voice/answered?lang=en&node=surrender-unit&step="), "{action}");

    let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0456";
    let answered =
        app.post(&action, &with(&base, &[("RecordingUrl", url), ("RecordingDuration", "6")])).await;
    assert_valid_twiml(&answered.body, Context::Call);
    assert!(verbs(&answered.body).iter().any(|v| v.starts_with("Enqueue")), "{}", answered.body);
    let case = app.case(&sid).await;
    let answer = Event::AskAnswered {
        node: hotline::scripts::NodeId::parse("surrender-unit").unwrap(),
        var: "unit".into(),
        recording_url: Some(url.into()),
        duration_secs: Some(6),
    };
    assert_eq!(case.events.iter().filter(|e| e.event == answer).count(), 1, "{:?}", case.events);
    assert_eq!(case.recording_url, None, "an answer is no voicemail");
    assert!(case.tags.iter().all(|t| t.key != "unit"), "an answer is never a tag");
    assert_eq!(case.outcome, Outcome::HandedOff { queue: "en".into() });

    // Silence: the provider falls through to the Redirect, without a recording, and the
    // caller goes on all the same; a hostile RecordingUrl is not kept.
    let sid = new_call_sid();
    let base = call_params(&sid);
    let asked = english_call_through(&app, &base, &["1", "1", "1"]).await;
    let redirect = text(&asked, "Redirect").unwrap();
    let silent = app
        .post(
            &redirect,
            &with(&base, &[("RecordingUrl", "javascript:alert(1)"), ("RecordingDuration", "x")]),
        )
        .await;
    assert!(verbs(&silent.body).iter().any(|v| v.starts_with("Enqueue")), "{}", silent.body);
    let case = app.case(&sid).await;
    assert!(case.events.iter().any(|e| matches!(
        &e.event,
        Event::AskAnswered { recording_url: None, duration_secs: None, .. }
    )));

    // A stale or forged node reaches an operator with an apology.
    let stale = app.post("/voice/answered?lang=en&node=main&step=9", &with(&base, &[])).await;
    assert_valid_twiml(&stale.body, Context::Call);
    assert!(said(&stale.body)[0].starts_with("Sorry"), "{}", stale.body);
    app.stop().await;
}

#[tokio::test]
async fn status_callbacks_out_of_order_keep_the_final_status() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    app.post("/voice/incoming", &with(&base, &[])).await;
    let completed = with(
        &base,
        &[("CallStatus", "completed"), ("CallDuration", "31"), ("SequenceNumber", "2")],
    );
    let reply = app.post("/voice/status", &completed).await;
    assert_eq!(reply.status, 200);
    assert_valid_twiml(&reply.body, Context::Call);
    app.post("/voice/status", &with(&base, &[("CallStatus", "ringing"), ("SequenceNumber", "0")]))
        .await;
    app.post("/voice/status", &completed).await;
    let case = app.case(&sid).await;
    assert_eq!(case.status.map(|s| s.as_str()), Some("completed"));
    assert_eq!(case.duration_secs, Some(31));
    assert!(case.ended_at.is_some());
    assert_eq!(case.outcome, Outcome::Abandoned { node: None });
    // Garbage status values are ignored without an error.
    let reply = app
        .post("/voice/status", &with(&base, &[("CallStatus", "exploded"), ("CallDuration", "-5")]))
        .await;
    assert_eq!(reply.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_fallback_apologises_in_the_callers_language_and_reaches_an_operator() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    app.post("/voice/incoming", &with(&base, &[])).await;
    let failed = "https://hotline.example/voice/menu?lang=ko&node=main&attempt=1&step=4";
    let reply = app
        .post("/voice/fallback", &with(&base, &[("ErrorCode", "11200"), ("ErrorUrl", failed)]))
        .await;
    assert_eq!(reply.status, 200);
    assert_valid_twiml(&reply.body, Context::Call);
    insta::assert_snapshot!("fallback_ko", reply.body);
    assert_eq!(text(&reply.body, "Enqueue").as_deref(), Some("ko"));
    let case = app.case(&sid).await;
    assert!(
        case.events.iter().any(|e| e.event == Event::Fallback { error_code: Some("11200".into()) })
    );
    // Without any usable hint, the default language is used.
    let reply = app.post("/voice/fallback", &with(&base, &[("ErrorUrl", "<script>")])).await;
    assert_valid_twiml(&reply.body, Context::Call);
    assert_eq!(text(&reply.body, "Enqueue").as_deref(), Some("ru"));
    app.stop().await;
}

/// The voice URL itself failed (its server died under the call's first request): the call's
/// next request, the queue's action here, is a step of its own, not a retry of the fallback.
#[tokio::test]
async fn the_request_after_a_fallback_for_the_voice_url_is_kept() {
    let app = spawn_app().await;
    let sid = new_call_sid();
    let base = call_params(&sid);
    let failed = "https://hotline.example/voice/incoming";
    let reply = app
        .post("/voice/fallback", &with(&base, &[("ErrorCode", "11200"), ("ErrorUrl", failed)]))
        .await;
    let action = attribute(&reply.body, "Enqueue", "action").unwrap();
    let left =
        app.post(&action, &with(&base, &[("QueueResult", "hangup"), ("QueueTime", "20")])).await;
    assert_valid_twiml(&left.body, Context::Call);
    let case = app.case(&sid).await;
    let steps: std::collections::BTreeSet<u32> = case.events.iter().map(|e| e.step).collect();
    assert_eq!(steps.len(), 2, "the fallback's step and the action's: {:?}", case.events);
    assert_eq!(case.outcome, Outcome::AbandonedInQueue { queue: "ru".into() });
    // The case knows its caller, as one the voice URL opened does: a later call from the
    // same number is a repeat call.
    let first = case.caller.clone().expect("the fallback opened the case with the caller");
    let again = app.call("1", None).await;
    assert_eq!(app.case(&again.call_sid).await.caller, Some(first));
    app.stop().await;
}

#[tokio::test]
async fn audio_is_served_only_from_the_audio_folder() {
    let app = spawn_app().await;
    let get = |path: &str| {
        let url = format!("{}{path}", app.base_url);
        tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .config()
                .http_status_as_error(false)
                .build()
                .call()
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
    };
    assert_eq!(get("/audio/uk/README.md").await.unwrap(), 200);
    assert_eq!(get("/audio/../config.toml").await.unwrap(), 404);
    assert_eq!(get("/audio/%2e%2e/ru.xml").await.unwrap(), 404);
    assert_eq!(get("/health").await.unwrap(), 200);
    app.stop().await;
}

/// Random requests to every route, signed so they get past the signature check: whatever the
/// parameters hold, the answer is 200 and valid TwiML.
#[test]
fn random_requests_to_any_route_always_get_valid_twiml() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let routes = prop::sample::select(vec![
        "incoming", "language", "menu", "continue", "wait", "queue", "recorded", "answered",
        "status", "fallback", "other",
    ]);
    let names = prop::sample::select(vec![
        "CallSid",
        "From",
        "FromCountry",
        "Digits",
        "CallStatus",
        "QueuePosition",
        "QueueResult",
        "QueueTime",
        "RecordingUrl",
        "RecordingDuration",
        "ErrorUrl",
        "ErrorCode",
        "SequenceNumber",
        "CallDuration",
        "lang",
        "node",
        "step",
        "attempt",
        "x",
    ]);
    let value = prop_oneof![
        any::<String>(),
        "[0-9*#]{0,40}",
        prop::sample::select(vec!["ru", "uk", "ko", "en", "main", "operator", "1", "0", "-1"])
            .prop_map(String::from),
    ];
    let params = prop::collection::vec((names.clone(), value.clone()), 0..12);
    let query = prop::collection::vec((names, value), 0..5);
    let mut runner = TestRunner::new(Config { cases: 300, ..Config::default() });
    runner
        .run(&(routes, params, query), |(route, params, query)| {
            let query: String =
                form_urlencoded::Serializer::new(String::new()).extend_pairs(&query).finish();
            let path = format!("/voice/{route}?{query}");
            let params: Vec<(String, String)> =
                params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let reply =
                hotline::simulator::post(&app.base_url, &path, Some(common::TOKEN), &params)
                    .expect("the server answers");
            prop_assert_eq!(reply.status, 200);
            let context = if route == "wait" { Context::Wait } else { Context::Call };
            assert_valid_twiml(&reply.body, context);
            Ok(())
        })
        .unwrap();
    runtime.block_on(app.stop());
}
