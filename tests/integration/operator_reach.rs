//! Operators reachable when they say so: a call-me operator is rung through the provider's
//! REST API (the fake's `Calls.json`) when a caller waits for them, and the answered call
//! whispers then bridges like the operator line; a ring not answered goes to the next
//! operator; only people who can be connected hold off a fallback; the phone number is
//! checked at the console, never stored or logged in plain text, and the ring's webhooks are
//! signed like every other.

use std::time::Duration;

use crate::common;

use common::api::{self, TEST_PASSWORD};
use common::console::Browser;
use common::messaging::{ACCOUNT_SID, FakeTwilio, Fault, Placed};
use common::{
    Context, TestApp, assert_valid_twiml, attribute, new_call_sid, said, spawn_app_with, text,
};
use hotline::app::Clock;
use hotline::domain::cases::{CallSid, Event};
use hotline::domain::people::{Person, Role};
use hotline::domain::queue::{EntryState, QueueEntry};

/// The operator line's number.
const LINE: &str = "+18005550111";
/// Olga's own phone.
const OLGA_PHONE: &str = "+380441234567";
/// Ivan's own phone.
const IVAN_PHONE: &str = "+380509876543";

/// The digits that must appear in no log line and no database file.
fn phone_digits() -> Vec<&'static str> {
    vec!["380441234567", "441234567", "380509876543", "509876543"]
}

/// A hotline whose provider account is the fake's, with the operator line's number set.
async fn reach_app(
    fake: &FakeTwilio,
    adjust: impl FnOnce(&mut hotline::config::Config),
) -> TestApp {
    let base = fake.base.clone();
    spawn_app_with(move |config| {
        config.provider.account_sid = ACCOUNT_SID.into();
        config.provider.api_base = base;
        config.operators.line_number = LINE.into();
        adjust(config);
    })
    .await
}

/// An operator signed in at the console.
async fn operator(app: &TestApp, name: &str, languages: &[&str]) -> (Person, Browser) {
    let (person, _) = api::person(app, name, Role::Operator, languages).await;
    let browser = Browser::login(app, name, TEST_PASSWORD).await;
    (person, browser)
}

/// Sets the operator's mode and phone at their console page; the answer's status.
async fn set_reach(browser: &mut Browser, mode: &str, phone: &str) -> u16 {
    browser.get("/console/operator").await;
    browser.post("/console/operator/reach", &[("mode", mode), ("phone", phone)]).await.status
}

async fn available(browser: &mut Browser) {
    browser.get("/console/operator").await;
    let answer = browser.post("/console/operator/state", &[("state", "available")]).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
}

/// A caller who asks for an operator at once in the language of `key` (1 Russian, 2 Korean):
/// their call id and the document that enqueued them.
async fn caller(app: &TestApp, key: &str) -> (String, String) {
    let sid = new_call_sid();
    let mut doc = app.post_call("/voice/incoming", &sid, &[]).await;
    for key in [key, "0"] {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = app.post_call(&action, &sid, &[("Digits", key)]).await;
    }
    assert!(text(&doc, "Enqueue").is_some(), "{doc}");
    (sid, doc)
}

async fn entry(app: &TestApp, sid: &str) -> QueueEntry {
    let sid = CallSid::parse(sid).unwrap();
    app.storage.queue_entry_of_call(&sid).await.unwrap().expect("a queue entry")
}

/// Waits until the fake has placed `n` calls (or fails after 10 s); the calls.
async fn placed(fake: &FakeTwilio, n: usize) -> Vec<Placed> {
    for _ in 0..100 {
        if fake.calls().len() >= n {
            return fake.calls();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} call(s) placed, expected {n}: {:?}", fake.calls().len(), fake.calls());
}

/// What the provider posts to a URL of ring call `call` (answer, gather action, status).
async fn post_ring(
    app: &TestApp,
    call: &Placed,
    url: &str,
    extra: &[(&str, &str)],
) -> hotline::simulator::Reply {
    let path = url.strip_prefix(&app.base_url).unwrap_or(url);
    let mut params: Vec<(&str, &str)> = vec![
        ("CallSid", call.sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", LINE),
        ("To", call.to.as_str()),
        ("CallStatus", "in-progress"),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "outbound-api"),
    ];
    params.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    params.extend_from_slice(extra);
    app.post(path, &params).await
}

/// The answered ring: asks for 1, then (with 1) the whisper and the bridge.
async fn take_ring(app: &TestApp, call: &Placed) -> String {
    let mut asked = post_ring(app, call, &call.url, &[]).await;
    // A ring answered before the hotline stored the call it placed is told to wait a second
    // and ask again (under load the provider's request can overtake that write): follow it,
    // as the provider does.
    while let Some(again) = text(&asked.body, "Redirect") {
        asked = post_ring(app, call, &again, &[]).await;
    }
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert_valid_twiml(&asked.body, Context::Call);
    assert!(said(&asked.body).join(" ").contains("Press 1"), "{}", asked.body);
    let take = attribute(&asked.body, "Gather", "action").expect("a key to take the call");
    let taken = post_ring(app, call, &take, &[("Digits", "1")]).await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_valid_twiml(&taken.body, Context::Call);
    taken.body
}

/// Every file of the server's folder (database, its WAL, the journal), as text.
fn stored_files(app: &TestApp) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(app.dir.path()).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()));
        }
    }
    all
}

#[tokio::test]
async fn a_call_me_operator_is_rung_and_the_answered_call_whispers_then_bridges() {
    // Arrange: Olga, call me, available.
    let logs = common::logs();
    let fake = FakeTwilio::start();
    let app = reach_app(&fake, |c| c.queues.wrap_up_secs = 1).await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    assert_eq!(set_reach(&mut browser, "call-me", OLGA_PHONE).await, 303);
    available(&mut browser).await;
    let page = browser.get("/console/operator").await.body;
    assert!(page.contains(r#"data-testid="reach">call me"#), "{page}");
    assert!(page.contains(r#"data-testid="phone-hint">…67"#), "{page}");
    assert!(page.contains(LINE) && !page.contains("441234567"), "{page}");
    assert!(!page.contains(r#"data-testid="not-on-line""#), "{page}");

    // Act: a Russian caller asks for an operator.
    let (sid, enqueued) = caller(&app, "1").await;

    // Assert: one call to Olga's phone, from the line, whose answer is ours.
    let calls = placed(&fake, 1).await;
    let call = &calls[0];
    assert_eq!((call.to.as_str(), call.from.as_str()), (OLGA_PHONE, LINE));
    let ring = format!("{}/voice/operator/ring?op={}&entry=", app.base_url, olga.id);
    assert!(call.url.starts_with(&ring), "{}", call.url);
    assert!(call.status_callback.contains("/voice/operator/ring-status"), "{call:?}");
    assert_eq!(call.events, ["completed"]);
    assert_eq!(call.timeout, Some(20));
    let waiting = entry(&app, &sid).await;
    assert_eq!(waiting.state, EntryState::Connecting);
    assert_eq!(waiting.operator_id, Some(olga.id));

    // The answered call: press 1, the whisper of the case, then exactly this caller's queue.
    let bridged = take_ring(&app, call).await;
    let case = app.case(&sid).await;
    assert!(said(&bridged).join(" ").contains("Russian"), "{bridged}");
    assert_eq!(text(&bridged, "Queue"), text(&enqueued, "Enqueue"), "{bridged}");
    let dialed = attribute(&bridged, "Dial", "action").expect("the bridge's action");
    let ended = post_ring(
        &app,
        call,
        &dialed,
        &[("DialCallStatus", "completed"), ("DialCallDuration", "42")],
    )
    .await;
    assert!(ended.body.contains("The call has ended"), "{}", ended.body);
    assert_eq!(entry(&app, &sid).await.state, EntryState::Bridged);
    let audit = app.storage.audit_log(hotline::domain::audit::AuditFilter {
        action: Some("operator.ring".into()),
        limit: 10,
        ..Default::default()
    });
    let audit = audit.await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].case, Some(case.number));

    // The operator hangs up: no longer on a call, and rung again for the next caller.
    let status = &call.status_callback;
    let over = post_ring(&app, call, status, &[("CallStatus", "completed")]).await;
    assert_eq!(over.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (next, _) = caller(&app, "1").await;
    let calls = placed(&fake, 2).await;
    assert_eq!(calls[1].to, OLGA_PHONE);
    assert_eq!(entry(&app, &next).await.operator_id, Some(olga.id));

    // The number is in no file of the server and no log line.
    let stored = stored_files(&app);
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    for digits in phone_digits() {
        assert!(!stored.contains(digits), "{digits} stored in plain text");
        assert!(!logged.contains(digits), "{digits} in the logs");
    }
    app.stop().await;
}

#[tokio::test]
async fn two_call_me_operators_and_one_caller_ring_one_and_no_answer_goes_to_the_other() {
    // Arrange
    let fake = FakeTwilio::start();
    let app = reach_app(&fake, |_| {}).await;
    let (olga, mut olga_browser) = operator(&app, "olga", &["ru"]).await;
    let (ivan, mut ivan_browser) = operator(&app, "ivan", &["ru"]).await;
    assert_eq!(set_reach(&mut olga_browser, "call-me", OLGA_PHONE).await, 303);
    assert_eq!(set_reach(&mut ivan_browser, "call-me", IVAN_PHONE).await, 303);
    available(&mut olga_browser).await;
    available(&mut ivan_browser).await;

    // Act: one caller.
    let (sid, _) = caller(&app, "1").await;

    // Assert: exactly one of them is rung, however long the caller waits.
    let first = placed(&fake, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fake.calls().len(), 1, "{:?}", fake.calls());
    let (rung, browser, other_phone) = if first.to == OLGA_PHONE {
        (olga.id, &mut olga_browser, IVAN_PHONE)
    } else {
        (ivan.id, &mut ivan_browser, OLGA_PHONE)
    };
    assert_eq!(entry(&app, &sid).await.operator_id, Some(rung));

    // Nobody answers: the caller goes to the other operator at once.
    let status = first.status_callback.clone();
    let over = post_ring(&app, &first, &status, &[("CallStatus", "no-answer")]).await;
    assert_eq!(over.status, 200);
    let second = placed(&fake, 2).await.remove(1);
    assert_eq!(second.to, other_phone);
    assert_ne!(entry(&app, &sid).await.operator_id, Some(rung));

    // The other does not answer either: the caller waits, and nobody is rung again and
    // again.
    let status = second.status_callback.clone();
    post_ring(&app, &second, &status, &[("CallStatus", "busy")]).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fake.calls().len(), 2, "{:?}", fake.calls());
    let waiting = entry(&app, &sid).await;
    assert_eq!((waiting.state, waiting.operator_id), (EntryState::Waiting, None));
    let page = browser.get("/console/operator").await.body;
    assert!(page.contains(r#"data-testid="ring-paused""#), "{page}");

    // A late answer of the first ring finds a call that is no longer ours.
    let late = post_ring(&app, &first, &first.url, &[]).await;
    assert_eq!(late.status, 200);
    assert!(late.body.contains("<Hangup"), "{}", late.body);
    assert!(!late.body.contains("<Dial"), "{}", late.body);
    app.stop().await;
}

#[tokio::test]
async fn a_ring_that_cannot_be_placed_or_is_not_taken_gives_the_caller_back() {
    let fake = FakeTwilio::start();
    let app = reach_app(&fake, |_| {}).await;
    let (olga, mut olga_browser) = operator(&app, "olga", &["ru"]).await;
    let (_, mut ivan_browser) = operator(&app, "ivan", &["ru"]).await;
    assert_eq!(set_reach(&mut olga_browser, "call-me", OLGA_PHONE).await, 303);
    available(&mut olga_browser).await;
    // The provider refuses the first call: Olga is paused, the caller waits for another.
    fake.fail_next_calls(1, Fault::Status(400, 21215));
    let (sid, _) = caller(&app, "1").await;
    for _ in 0..50 {
        if fake.call_requests() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = entry(&app, &sid).await;
    assert_eq!((waiting.state, waiting.operator_id), (EntryState::Waiting, None));
    assert!(fake.calls().is_empty());
    let page = olga_browser.get("/console/operator").await.body;
    assert!(page.contains(r#"data-testid="ring-paused""#), "{page}");

    // Ivan is rung; a voicemail picks up and presses nothing: the caller is given back.
    assert_eq!(set_reach(&mut ivan_browser, "call-me", IVAN_PHONE).await, 303);
    available(&mut ivan_browser).await;
    let call = placed(&fake, 1).await.remove(0);
    assert_eq!(call.to, IVAN_PHONE);
    let asked = post_ring(&app, &call, &call.url, &[]).await;
    assert!(asked.body.contains("<Hangup"), "the ring ends if nobody presses 1");
    let take = attribute(&asked.body, "Gather", "action").unwrap();
    let wrong = post_ring(&app, &call, &take, &[("Digits", "7")]).await;
    assert!(!wrong.body.contains("<Dial"), "{}", wrong.body);
    let status = call.status_callback.clone();
    post_ring(&app, &call, &status, &[("CallStatus", "completed")]).await;
    let waiting = entry(&app, &sid).await;
    assert_eq!((waiting.state, waiting.operator_id), (EntryState::Waiting, None));
    let _ = olga;
    app.stop().await;
}

#[tokio::test]
async fn a_ring_whose_end_never_comes_gives_the_caller_back_and_pauses_the_operator() {
    // Arrange: a call-me operator rung for a caller, on a clock the test moves.
    let fake = FakeTwilio::start();
    let clock = Clock::manual(chrono::Utc::now());
    let base = fake.base.clone();
    let (config, dir) = common::test_config(move |config| {
        config.provider.account_sid = ACCOUNT_SID.into();
        config.provider.api_base = base;
        config.operators.line_number = LINE.into();
    });
    let ring_secs = i64::from(config.operators.ring_secs);
    let app = common::start_with_clock(config, dir, clock.clone()).await;
    let (_, mut olga_browser) = operator(&app, "olga", &["ru"]).await;
    assert_eq!(set_reach(&mut olga_browser, "call-me", OLGA_PHONE).await, 303);
    available(&mut olga_browser).await;
    let (sid, _) = caller(&app, "1").await;
    placed(&fake, 1).await;
    assert_eq!(entry(&app, &sid).await.state, EntryState::Connecting);

    // Act: the ring's status callback never comes. Within its ringing and the grace after
    // it, the caller stays claimed; past them, the ringer gives them back.
    clock.advance(chrono::TimeDelta::seconds(ring_secs + 60));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(entry(&app, &sid).await.state, EntryState::Connecting);
    clock.advance(chrono::TimeDelta::seconds(61));
    let mut waiting = entry(&app, &sid).await;
    for _ in 0..50 {
        if waiting.state == EntryState::Waiting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waiting = entry(&app, &sid).await;
    }

    // Assert: the caller waits for anyone again; Olga is paused like after a ring not
    // answered, so she is not rung again at once.
    assert_eq!((waiting.state, waiting.operator_id), (EntryState::Waiting, None));
    let page = olga_browser.get("/console/operator").await.body;
    assert!(page.contains(r#"data-testid="ring-paused""#), "{page}");
    assert_eq!(fake.calls().len(), 1, "not rung again while paused");
    app.stop().await;
}

#[tokio::test]
async fn forged_ring_requests_are_refused_and_another_call_cannot_take_the_caller() {
    let fake = FakeTwilio::start();
    let app = reach_app(&fake, |_| {}).await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    assert_eq!(set_reach(&mut browser, "call-me", OLGA_PHONE).await, 303);
    available(&mut browser).await;
    let (sid, _) = caller(&app, "1").await;
    let call = placed(&fake, 1).await.remove(0);
    let path = |url: &str| url.strip_prefix(&app.base_url).unwrap().to_owned();
    let params = [
        ("CallSid", call.sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("CallStatus", "no-answer"),
        ("Direction", "outbound-api"),
    ];

    // A status callback signed with another token, or unsigned: 403, nothing changes.
    for token in [Some("not-the-token"), None] {
        let forged = app.post_as(&path(&call.status_callback), &params, token).await;
        assert_eq!(forged.status, 403, "{token:?}");
        let forged = app.post_as(&path(&call.url), &params, token).await;
        assert_eq!(forged.status, 403, "{token:?}");
    }
    assert_eq!(entry(&app, &sid).await.state, EntryState::Connecting);

    // A signed request of another call at the ring's URLs: it hangs up, and the caller
    // stays claimed for Olga's own ring.
    let other = Placed { sid: new_call_sid(), ..call.clone() };
    let answer = post_ring(&app, &other, &call.url, &[]).await;
    assert!(answer.body.contains("<Hangup") && !answer.body.contains("<Gather"), "{}", answer.body);
    let take = call.url.replace("/voice/operator/ring?", "/voice/operator/ring-take?");
    let taken = post_ring(&app, &other, &take, &[("Digits", "1")]).await;
    assert!(!taken.body.contains("<Dial"), "{}", taken.body);
    // Hostile parameters in the URL: safe TwiML, nothing taken.
    for odd in ["op=&entry=", "op=1e9&entry=-1", "op=99999999999999999999&entry=1"] {
        let url = format!("/voice/operator/ring-take?{odd}");
        let answer = post_ring(&app, &call, &url, &[("Digits", "1")]).await;
        assert_eq!(answer.status, 200);
        assert_valid_twiml(&answer.body, Context::Call);
        assert!(!answer.body.contains("<Dial"), "{}", answer.body);
    }
    let still = entry(&app, &sid).await;
    assert_eq!((still.state, still.operator_id), (EntryState::Connecting, Some(olga.id)));
    // Olga's own ring still connects her.
    let bridged = take_ring(&app, &call).await;
    assert!(bridged.contains("<Queue"), "{bridged}");
    app.stop().await;
}

#[tokio::test]
async fn a_console_only_available_operator_does_not_hold_off_a_fallback() {
    // Arrange: Korean callers go to Russian operators when no Korean one can take them.
    let fake = FakeTwilio::start();
    let app = reach_app(&fake, |c| c.queues.fallbacks = "ko=ru".parse().unwrap()).await;
    let (_, mut kim) = operator(&app, "kim", &["ko"]).await;
    let (ivan, _) = api::person(&app, "ivan", Role::Operator, &["ru"]).await;
    available(&mut kim).await;
    let page = kim.get("/console/operator").await.body;
    assert!(page.contains(r#"data-testid="not-on-line""#), "{page}");
    assert!(page.contains(&format!(r#"data-testid="line-number">{LINE}"#)), "{page}");
    // Ivan is on the line.
    let op_sid = new_call_sid();
    let start = app.post_call("/voice/operator", &op_sid, &[]).await;
    let action = attribute(&start, "Gather", "action").unwrap();
    let asked = app.post_call(&action, &op_sid, &[("Digits", &ivan.id.to_string())]).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    app.post_call(&action, &op_sid, &[("Digits", api::TEST_PIN)]).await;

    // Act: a Korean caller while Kim is "available" at her screen only.
    let (ko, _) = caller(&app, "2").await;

    // Assert: the Russian queue, with an interpreter.
    let queued = entry(&app, &ko).await;
    assert_eq!(queued.language.as_str(), "ru");
    assert!(queued.interpreter_needed);

    // Kim chooses call me: she can be rung, so the next Korean caller waits for her.
    assert_eq!(set_reach(&mut kim, "call-me", OLGA_PHONE).await, 303);
    let page = kim.get("/console/operator").await.body;
    assert!(!page.contains(r#"data-testid="not-on-line""#), "{page}");
    let (ko2, _) = caller(&app, "2").await;
    let queued = entry(&app, &ko2).await;
    assert_eq!(queued.language.as_str(), "ko");
    let case = app.case(&ko2).await;
    assert!(
        case.events
            .iter()
            .any(|e| matches!(&e.event, Event::Routed { interpreter_needed: false, .. }))
    );
    assert_eq!(placed(&fake, 1).await[0].to, OLGA_PHONE);
    app.stop().await;
}

#[tokio::test]
async fn phone_numbers_and_modes_are_checked_at_the_console() {
    let fake = FakeTwilio::start();
    let app = reach_app(&fake, |_| {}).await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    let huge = format!("+{}", "7".repeat(100_000));
    // Call me without a number, or with one that is not E.164: refused, nothing stored.
    for phone in [
        "",
        "   ",
        "0441234567",
        "+0441234567",
        "+12",
        "+1234567890123456",
        "+38044abc4567",
        "<script>alert(1)</script>",
        "+380441234567'; DROP TABLE users;--",
        "+380441234567\u{202e}",
        huge.as_str(),
    ] {
        let status = set_reach(&mut browser, "call-me", phone).await;
        assert_eq!(status, 400, "{phone:?}");
    }
    for mode in ["", "CALL-ME", "phone", "line; DROP", &"x".repeat(10_000)] {
        assert_eq!(set_reach(&mut browser, mode, OLGA_PHONE).await, 400, "{mode:?}");
    }
    let settings = app.storage.reach_settings(olga.id).await.unwrap().unwrap();
    assert_eq!(settings, Default::default());
    // A good one is kept sealed, and removed on request.
    assert_eq!(set_reach(&mut browser, "line", " +380441234567 ").await, 303);
    let settings = app.storage.reach_settings(olga.id).await.unwrap().unwrap();
    let sealed = settings.phone_sealed.expect("sealed");
    assert!(!sealed.contains("441234567"), "{sealed}");
    browser.get("/console/operator").await;
    let removed =
        browser.post("/console/operator/reach", &[("mode", "line"), ("forget_phone", "1")]).await;
    assert_eq!(removed.status, 303);
    assert_eq!(app.storage.reach_settings(olga.id).await.unwrap().unwrap().phone_sealed, None);
    app.stop().await;

    // Without a provider account, call me cannot be chosen, and the page says why.
    let app = spawn_app_with(|c| c.operators.line_number = LINE.into()).await;
    let (_, mut browser) = operator(&app, "olga", &["ru"]).await;
    assert_eq!(set_reach(&mut browser, "call-me", OLGA_PHONE).await, 400);
    let page = browser.get("/console/operator").await.body;
    assert!(page.contains(r#"data-testid="call-me-refused""#), "{page}");
    assert!(page.contains("provider.account_sid"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_new_callback_key_reseals_the_operators_phone_numbers_too() {
    use hotline::domain::followups::Sealer;
    use hotline::domain::secret::Secret;

    let fake = FakeTwilio::start();
    let app = reach_app(&fake, |_| {}).await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    assert_eq!(set_reach(&mut browser, "call-me", OLGA_PHONE).await, 303);
    let dir = app.stop().await;
    let sealed = |dir: &std::path::Path| -> String {
        let conn = rusqlite::Connection::open(dir.join("hotline.db")).unwrap();
        conn.query_row("SELECT phone_sealed FROM users WHERE id = ?1", [olga.id], |r| r.get(0))
            .unwrap()
    };
    let before = sealed(dir.path());
    let old = Sealer::new(&Secret::new(common::CALLBACK_KEY.into()));
    assert_eq!(old.open_operator_phone(&before, olga.id).unwrap().e164(), OLGA_PHONE);
    // Bound to Olga: the same value under another person's id does not open.
    assert!(old.open_operator_phone(&before, olga.id + 1).is_none());

    let key_file = dir.path().join("new-callback-key");
    let new_key = "a-brand-new-callback-key-0123456789-abcdef";
    std::fs::write(&key_file, new_key).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["keys", "rotate-callback", "--new-key-file"])
        .arg(&key_file)
        .current_dir(dir.path())
        .env_clear()
        .env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOTLINE_DATABASE_PATH", dir.path().join("hotline.db"))
        .env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let after = sealed(dir.path());
    let new = Sealer::new(&Secret::new(new_key.into()));
    assert_eq!(new.open_operator_phone(&after, olga.id).unwrap().e164(), OLGA_PHONE);
    assert!(old.open_operator_phone(&after, olga.id).is_none(), "the old key still opens it");
}
