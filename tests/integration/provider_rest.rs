//! The provider's REST side, against the fake provider on loopback: a caller's own queue
//! deleted once they leave it, old empty callers' queues swept (and nothing else), a
//! voicemail played through the console (audited, never cached, refused to whoever may not
//! see the case), a shredded recording deleted at the provider even across an outage, the
//! API key as credentials, and a hotline without an account that still answers every call.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use hotline::app::secrets::Secrets;
use hotline::app::{Actor, App, Clock};
use hotline::config::Config;
use hotline::domain::audit::AuditFilter;
use hotline::domain::cases::{CallSid, CallStatus, CallerHash, Event, Record};
use hotline::domain::people::Role;
use hotline::domain::secret::Secret;
use hotline::storage::Storage;

use crate::common::console::Browser;
use crate::common::messaging::{ACCOUNT_SID, FakeTwilio};
use crate::common::{
    self, Context, TestApp, assert_valid_twiml, attribute, new_call_sid, text, verbs,
};
use common::api;

/// The audio of the tests' recording: bytes a browser would play as MP3.
const AUDIO: &[u8] = b"ID3\x04\x00\x00\x00\x00\x00\x00voice of a caller, 9 seconds";

/// A recording's id at the fake provider.
fn recording_sid(n: u32) -> String {
    format!("RE{n:032x}")
}

/// The address the provider posts for recording `sid`.
fn recording_url(sid: &str) -> String {
    format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}")
}

/// `[provider]` pointed at `fake`.
fn provider_on(config: &mut Config, fake: &FakeTwilio) {
    config.provider.account_sid = ACCOUNT_SID.into();
    config.provider.api_base = fake.base.clone();
}

/// A server whose provider is `fake`.
async fn served_with(fake: &FakeTwilio) -> TestApp {
    common::spawn_app_with(|config| provider_on(config, fake)).await
}

/// The hotline itself on a clock the test moves, its provider `fake`, with `secrets`.
async fn hotline_itself(
    fake: &FakeTwilio,
    secrets: Secrets,
    adjust: impl FnOnce(&mut Config),
) -> (App, Clock, Storage, tempfile::TempDir) {
    common::logs();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database.path = dir.path().join("hotline.db");
    config.scripts.dir = common::shipped_scripts();
    provider_on(&mut config, fake);
    adjust(&mut config);
    config.validate().unwrap();
    let clock = Clock::manual(Utc::now());
    let app = App::open(&config, &secrets, clock.clone()).await.unwrap();
    let storage = Storage::open(&config.database.path, common::storage_options()).await.unwrap();
    (app, clock, storage, dir)
}

fn secrets() -> Secrets {
    Secrets {
        auth_token: Secret::new(common::TOKEN.into()),
        caller_hash_key: Secret::new("test-caller-hash-key-0123456789".into()),
        callback_key: Secret::new(common::CALLBACK_KEY.into()),
        telegram: None,
        provider_api_secret: None,
    }
}

/// A Russian caller on the surrender path, now waiting: (sid, the Enqueue document).
async fn waiting_caller(app: &TestApp) -> (String, String) {
    let sid = new_call_sid();
    let mut doc = app.post_call("/voice/incoming", &sid, &[]).await;
    for key in ["1", "1", "2", "1"] {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = app.post_call(&action, &sid, &[("Digits", key)]).await;
    }
    let question = attribute(&doc, "Record", "action").expect("the question");
    doc = app.post_call(&question, &sid, &[]).await;
    assert!(text(&doc, "Enqueue").is_some(), "{doc}");
    (sid, doc)
}

/// A waiting caller who presses 1 for voicemail and leaves recording `sid`; their case's
/// number.
async fn voicemail(app: &TestApp, recording: &str) -> String {
    let (sid, enqueued) = waiting_caller(app).await;
    let wait_url = attribute(&enqueued, "Enqueue", "waitUrl").unwrap();
    let wait = app.post_call(&wait_url, &sid, &[("QueuePosition", "1")]).await;
    let gather = attribute(&wait, "Gather", "action").expect("the wait document offers keys");
    app.post_call(&gather, &sid, &[("Digits", "1")]).await;
    let action = attribute(&enqueued, "Enqueue", "action").unwrap();
    let record = app.post_call(&action, &sid, &[("QueueResult", "leave")]).await;
    let recorded = attribute(&record, "Record", "action").expect("the voicemail's recording");
    let url = recording_url(recording);
    app.post_call(&recorded, &sid, &[("RecordingUrl", &url), ("RecordingDuration", "9")]).await;
    app.post_call("/voice/status", &sid, &[("CallStatus", "completed")]).await;
    app.case(&sid).await.number.to_string()
}

/// Waits up to five seconds for `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The requests the fake got with `method` for `resource`.
fn requests_of(fake: &FakeTwilio, method: &str, resource: &str) -> usize {
    fake.rest_requests().iter().filter(|(m, r)| m == method && r == resource).count()
}

#[tokio::test]
async fn a_callers_queue_is_deleted_once_they_leave_it_and_nothing_else_is() {
    // Arrange: two callers waiting, each in a queue of their own at the provider; a shared
    // queue and a caller's queue that still holds a call.
    let fake = FakeTwilio::start();
    let app = served_with(&fake).await;
    let (bridged_sid, bridged_doc) = waiting_caller(&app).await;
    let (hung_up_sid, hung_up_doc) = waiting_caller(&app).await;
    let name = |doc: &str| text(doc, "Enqueue").unwrap();
    assert!(name(&bridged_doc).starts_with("c-"), "{bridged_doc}");
    let now = Utc::now();
    let bridged_queue = fake.add_queue(&name(&bridged_doc), 0, now);
    let hung_up_queue = fake.add_queue(&name(&hung_up_doc), 0, now);
    let shared = fake.add_queue("ru", 0, now);
    let busy = fake.add_queue("c-2026-999999-9", 1, now);
    // The provider is slow: the caller's answer does not wait for it.
    fake.slow_rest(Duration::from_millis(1500));

    // Act: one is bridged, the other hangs up in the queue; the shared and busy queues are
    // named by callers who leave them.
    let mut answered_in = Vec::new();
    for (sid, doc, result, queue) in [
        (&bridged_sid, &bridged_doc, "bridged", &bridged_queue),
        (&hung_up_sid, &hung_up_doc, "hangup", &hung_up_queue),
        (&bridged_sid, &bridged_doc, "bridged", &shared),
        (&hung_up_sid, &hung_up_doc, "hangup", &busy),
    ] {
        let action = attribute(doc, "Enqueue", "action").unwrap();
        let started = Instant::now();
        let extra = [("QueueResult", result), ("QueueSid", queue.as_str()), ("QueueTime", "40")];
        let answer = app.post_call(&action, sid, &extra).await;
        answered_in.push(started.elapsed());
        assert_valid_twiml(&answer, Context::Call);
    }

    // Assert
    for took in &answered_in {
        assert!(*took < Duration::from_millis(1000), "an answer waited for the provider: {took:?}");
    }
    let gone = |queue: &str| requests_of(&fake, "DELETE", &format!("Queues/{queue}.json")) == 1;
    eventually("both callers' queues deleted", || gone(&bridged_queue) && gone(&hung_up_queue))
        .await;
    // The shared and busy queues were read (their name and size decide), never deleted.
    eventually("the other queues read", || {
        requests_of(&fake, "GET", &format!("Queues/{shared}.json")) == 1
            && requests_of(&fake, "GET", &format!("Queues/{busy}.json")) == 1
    })
    .await;
    eventually("the callers' queues gone", || fake.queue_names() == ["ru", "c-2026-999999-9"])
        .await;
    let deletes = fake.rest_requests().iter().filter(|(m, _)| m == "DELETE").count();
    assert_eq!(deletes, 2, "{:?}", fake.rest_requests());
    app.stop().await;
}

#[tokio::test]
async fn hostile_queue_ids_reach_no_provider_and_the_caller_is_answered() {
    let fake = FakeTwilio::start();
    let app = served_with(&fake).await;
    let (sid, doc) = waiting_caller(&app).await;
    let action = attribute(&doc, "Enqueue", "action").unwrap();
    let huge = format!("QU{}", "a".repeat(100_000));
    for hostile in [
        "",
        "QU1",
        "../../Calls.json",
        "QU0123456789abcdef0123456789abcde/",
        "QU0123456789abcdef0123456789abcdeg",
        "CA0123456789abcdef0123456789abcdef",
        "QU0123456789abcdef%2F../Recordings",
        huge.as_str(),
    ] {
        let extra = [("QueueResult", "hangup"), ("QueueSid", hostile)];
        let answer = app.post_call(&action, &sid, &extra).await;
        assert_valid_twiml(&answer, Context::Call);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.rest_requests(), Vec::<(String, String)>::new(), "nothing was requested");
    app.stop().await;
}

#[tokio::test]
async fn the_sweep_deletes_old_empty_callers_queues_across_pages_and_leaves_the_rest() {
    // Arrange: pages of two queues, so the sweep must follow next_page_uri.
    let fake = FakeTwilio::start();
    let (app, clock, _storage, _dir) = hotline_itself(&fake, secrets(), |_| {}).await;
    fake.pages_of(2);
    let now = clock.now();
    let old = now - TimeDelta::hours(3);
    let recent = now - TimeDelta::minutes(2);
    let first = fake.add_queue("c-2026-000001-1", 0, old);
    fake.add_queue("ru", 0, old);
    fake.add_queue("c-2026-000002-2", 1, old);
    fake.add_queue("c-2026-000003-3", 0, recent);
    fake.add_queue("support", 0, old);
    let last = fake.add_queue("c-2026-000004-4", 0, old);

    // Act
    let sweep = app.sweep_queues().await.unwrap();

    // Assert
    assert_eq!((sweep.seen, sweep.deleted, sweep.failed), (6, 2, 0), "{sweep:?}");
    assert_eq!(fake.queue_names(), ["ru", "c-2026-000002-2", "c-2026-000003-3", "support"]);
    let deletes: Vec<_> =
        fake.rest_requests().into_iter().filter(|(method, _)| method == "DELETE").collect();
    let expected = [first, last].map(|sid| ("DELETE".to_owned(), format!("Queues/{sid}.json")));
    assert_eq!(deletes, expected);
    let pages = requests_of(&fake, "GET", "Queues.json?PageSize=1000");
    assert_eq!(pages, 1, "{:?}", fake.rest_requests());
    assert!(fake.rest_requests().iter().any(|(_, r)| r.contains("Page=2")), "followed pages");

    // A provider that is down: the sweep fails, nothing is lost, the next one does it.
    fake.add_queue("c-2026-000005-5", 0, old);
    fake.fail_rest_next(1);
    assert!(app.sweep_queues().await.is_err());
    clock.advance(TimeDelta::minutes(20));
    let again = app.sweep_queues().await.unwrap();
    assert_eq!(again.deleted, 2, "the fifth, and the third now old enough: {again:?}");
}

#[tokio::test]
async fn a_voicemail_plays_through_the_console_for_whoever_may_see_its_case() {
    // Arrange: a Russian caller's voicemail, an operator of Russian, one of Ukrainian.
    let fake = FakeTwilio::start();
    let app = served_with(&fake).await;
    let (olga, _) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    api::person(&app, "taras", Role::Operator, &["uk"]).await;
    api::person(&app, "sofia", Role::Supervisor, &["ru"]).await;
    let sid = recording_sid(7);
    fake.add_recording(&sid, AUDIO);
    let case = voicemail(&app, &sid).await;
    let route = format!("/console/cases/{case}/recording");

    // Act
    let mut browser = Browser::login(&app, "olga", api::TEST_PASSWORD).await;
    let list = browser.get("/console/followups").await;
    let operator_page = browser.get(&format!("/console/operator/case/{case}")).await;
    let played = browser.get(&route).await;
    let mut supervisor = Browser::login(&app, "sofia", api::TEST_PASSWORD).await;
    let case_page = supervisor.get(&format!("/console/cases/{case}")).await;

    // Assert: the pages name the server's route, never the provider's address.
    for page in [&list, &operator_page, &case_page] {
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(&route), "{}", page.body);
        assert!(
            !page.body.contains("api.twilio.com") && !page.body.contains(&sid),
            "{}",
            page.body
        );
        assert!(page.header("content-security-policy").contains("media-src 'self';"));
    }
    assert_eq!(played.status, 200, "{}", played.body);
    assert_eq!(played.body.as_bytes(), AUDIO);
    assert_eq!(played.header("content-type"), "audio/mpeg");
    assert_eq!(played.header("cache-control"), "no-store");
    assert_eq!(requests_of(&fake, "GET", &format!("Recordings/{sid}.mp3")), 1);
    let filter = AuditFilter {
        case: Some(case.parse().unwrap()),
        actor: None,
        action: Some("recording.play".into()),
        limit: 10,
    };
    let played_lines = app.storage.audit_log(filter).await.unwrap();
    assert_eq!(played_lines.len(), 1, "{played_lines:?}");
    assert_eq!(played_lines[0].actor_id, Some(olga.id));
    app.stop().await;
}

#[tokio::test]
async fn a_recording_is_refused_to_strangers_and_hostile_paths_reach_no_provider() {
    let fake = FakeTwilio::start();
    let app = served_with(&fake).await;
    api::person(&app, "taras", Role::Operator, &["uk"]).await;
    let sid = recording_sid(8);
    fake.add_recording(&sid, AUDIO);
    let case = voicemail(&app, &sid).await;
    let route = format!("/console/cases/{case}/recording");
    let (no_voicemail, _) = waiting_caller(&app).await;
    let silent_case = app.case(&no_voicemail).await.number.to_string();

    // Nobody logged in: the login page, not the audio.
    let mut stranger = Browser::new(&app);
    let refused = stranger.get(&route).await;
    assert_ne!(refused.status, 200);
    assert!(!refused.body.as_bytes().ends_with(AUDIO));

    // Another language's operator: "no such case", and the attempt audited.
    let mut taras = Browser::login(&app, "taras", api::TEST_PASSWORD).await;
    let other = taras.get(&route).await;
    assert_eq!(other.status, 404, "{}", other.body);
    let filter = AuditFilter {
        case: Some(case.parse().unwrap()),
        actor: None,
        action: Some("case.refused".into()),
        limit: 10,
    };
    let refusals = app.storage.audit_log(filter).await.unwrap();
    assert_eq!(refusals.len(), 1, "{refusals:?}");

    // Wrong, empty, huge and hostile case numbers and paths: clear 404s.
    api::person(&app, "sofia", Role::Supervisor, &["ru"]).await;
    let mut sofia = Browser::login(&app, "sofia", api::TEST_PASSWORD).await;
    let huge = "9".repeat(10_000);
    for path in [
        format!("/console/cases/{silent_case}/recording"),
        "/console/cases/2026-999999/recording".into(),
        "/console/cases/0/recording".into(),
        "/console/cases/%20/recording".into(),
        format!("/console/cases/{huge}/recording"),
        "/console/cases/%3Cscript%3E/recording".into(),
        format!("/console/cases/{case}%2F..%2F..%2FRecordings%2F{sid}/recording"),
        format!("/console/cases/{case}/recording/{sid}"),
        format!("/console/cases/{sid}/recording"),
    ] {
        let answer = sofia.get(&path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert!(!answer.body.as_bytes().ends_with(AUDIO), "{path}");
    }
    assert_eq!(fake.rest_requests(), Vec::<(String, String)>::new(), "nothing was requested");

    // A recording the provider no longer has is a 404 too.
    fake.forget_recording(&sid);
    let gone = sofia.get(&route).await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    app.stop().await;
}

/// A call on `day` days ago that left voicemail recording `sid` and ended.
async fn old_voicemail(storage: &Storage, n: u32, days_ago: i64, url: &str) {
    let call_sid = CallSid::parse(&format!("CA{n:032x}")).unwrap();
    let at = Utc::now() - TimeDelta::days(days_ago);
    let records = [
        Record::CallStarted {
            call_sid: call_sid.clone(),
            at,
            caller: Some(CallerHash(format!("{n:064x}"))),
            country: None,
        },
        Record::Step {
            call_sid: call_sid.clone(),
            step: 1,
            at,
            events: vec![Event::Voicemail { recording_url: url.into(), duration_secs: Some(9) }],
        },
        Record::Status {
            call_sid,
            at,
            status: CallStatus::Completed,
            duration_secs: Some(30),
            sequence: Some(3),
        },
    ];
    for record in records {
        storage.apply(record).await.unwrap();
    }
}

#[tokio::test]
async fn a_shredded_recording_is_deleted_at_the_provider_once_even_across_an_outage() {
    // Arrange: two old voicemails (one the provider no longer has), one recent, one of
    // another provider's address.
    let fake = FakeTwilio::start();
    let (app, clock, storage, _dir) = hotline_itself(&fake, secrets(), |_| {}).await;
    let (old, gone, recent) = (recording_sid(1), recording_sid(2), recording_sid(3));
    fake.add_recording(&old, AUDIO);
    fake.add_recording(&recent, AUDIO);
    old_voicemail(&storage, 1, 400, &recording_url(&old)).await;
    old_voicemail(&storage, 2, 400, &recording_url(&gone)).await;
    old_voicemail(&storage, 3, 2, &recording_url(&recent)).await;
    old_voicemail(&storage, 4, 400, "https://rec.example/1").await;
    fake.fail_rest_next(2);

    // Act: the purge shreds the addresses while the provider is down.
    let report = app.purge(&Actor::Terminal, false).await.unwrap();
    assert_eq!(report.recordings, 3);
    let first = app.delete_shredded_recordings().await.unwrap();
    let soon = app.delete_shredded_recordings().await.unwrap();
    clock.advance(TimeDelta::minutes(2));
    let later = app.delete_shredded_recordings().await.unwrap();
    clock.advance(TimeDelta::hours(1));
    let last = app.delete_shredded_recordings().await.unwrap();
    clock.advance(TimeDelta::days(1));
    let after = app.delete_shredded_recordings().await.unwrap();

    // Assert
    assert_eq!((first.deleted, first.failed), (0, 2), "both failed while down");
    assert_eq!((soon.deleted, soon.failed), (0, 0), "nothing is retried at once");
    assert_eq!((later.deleted + last.deleted, later.failed + last.failed), (2, 0));
    assert_eq!((after.deleted, after.failed), (0, 0), "done once");
    assert!(!fake.has_recording(&old) && fake.has_recording(&recent));
    assert_eq!(requests_of(&fake, "DELETE", &format!("Recordings/{old}.json")), 2);
    assert_eq!(requests_of(&fake, "DELETE", &format!("Recordings/{gone}.json")), 2);
    let deletes = fake.rest_requests().iter().filter(|(m, _)| m == "DELETE").count();
    assert_eq!(deletes, 4, "no other recording: {:?}", fake.rest_requests());
}

#[tokio::test]
async fn an_api_key_is_the_credentials_of_the_rest_calls() {
    let fake = FakeTwilio::start();
    let key = "SK0123456789abcdef0123456789abcdef";
    let secret = "api-key-secret-0123456789abcdef";
    fake.accept_api_key(key, secret);
    let with_key = Secrets { provider_api_secret: Some(Secret::new(secret.into())), ..secrets() };
    let (app, clock, _storage, _dir) = hotline_itself(&fake, with_key, |config| {
        config.provider.api_key_sid = key.into();
    })
    .await;
    fake.add_queue("c-2026-000001-1", 0, clock.now() - TimeDelta::hours(1));
    let sweep = app.sweep_queues().await.unwrap();
    assert_eq!(sweep.deleted, 1, "{sweep:?}");

    // A wrong secret is refused by the provider: the sweep fails, nothing is deleted.
    let wrong = Secrets { provider_api_secret: Some(Secret::new("wrong".repeat(5))), ..secrets() };
    let (app, clock, _storage, _dir) = hotline_itself(&fake, wrong, |config| {
        config.provider.api_key_sid = key.into();
    })
    .await;
    fake.add_queue("c-2026-000002-2", 0, clock.now() - TimeDelta::hours(1));
    assert!(app.sweep_queues().await.is_err());
    assert_eq!(fake.queue_names(), ["c-2026-000002-2"]);
}

#[tokio::test]
async fn without_an_account_calls_are_answered_and_the_console_says_where_recordings_are() {
    let app = common::spawn_app().await;
    api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let sid = recording_sid(9);
    let case = voicemail(&app, &sid).await;
    let (caller, doc) = waiting_caller(&app).await;
    let action = attribute(&doc, "Enqueue", "action").unwrap();
    let queue = "QU0123456789abcdef0123456789abcdef";
    let extra = [("QueueResult", "bridged"), ("QueueSid", queue)];
    let answer = app.post_call(&action, &caller, &extra).await;
    assert_valid_twiml(&answer, Context::Call);
    assert!(!verbs(&answer).is_empty(), "{answer}");

    let mut olga = Browser::login(&app, "olga", api::TEST_PASSWORD).await;
    let list = olga.get("/console/followups").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("configure [provider] to play it here"), "{}", list.body);
    assert!(!list.body.contains("<audio") && !list.body.contains(&sid), "{}", list.body);
    let route = olga.get(&format!("/console/cases/{case}/recording")).await;
    assert_eq!(route.status, 404);
    assert!(route.body.contains("configure [provider]"), "{}", route.body);
    app.stop().await;
}
