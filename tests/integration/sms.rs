//! SMS and WhatsApp conversations through the running server, as Twilio drives them: incoming
//! messages posted to `/text/sms` signed with the account's token, the script walked by typed
//! numbers and words, replies created through a fake of Twilio's Messages API, each message
//! handled once, and the person's number kept nowhere.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use hotline::app::secrets::Secrets;
use hotline::app::{App, AppError, Clock};
use hotline::config::Config;
use hotline::domain::cases::CaseNumber;
use hotline::domain::conversation::{Author, Channel, ChatAddress, Inbound, TextInput};
use hotline::domain::secret::Secret;

use crate::common::messaging::{
    ACCOUNT_SID, FakeTwilio, Fault, HOTLINE_NUMBER, PROFILE_NAME, Sent, WHATSAPP_NUMBER,
};
use crate::common::{self, TestApp};

/// The person's number in these tests: it must never be stored, logged or answered.
const PERSON: &str = "+380501239876";
/// The same person on WhatsApp, as Twilio writes the address.
const PERSON_WA: &str = "whatsapp:+380501239876";
/// The number's digits, however a leak would spell them.
const PERSON_DIGITS: &str = "380501239876";

/// The `[sms]` and `[provider]` settings of a test server answering through `fake`.
fn sms_on(config: &mut Config, api_base: &str) {
    config.sms.enabled = true;
    config.provider.account_sid = ACCOUNT_SID.into();
    config.sms.from = HOTLINE_NUMBER.into();
    config.sms.whatsapp_from = WHATSAPP_NUMBER.into();
    config.provider.api_base = api_base.to_owned();
    config.outbox.per_chat_interval_ms = 10;
    config.outbox.per_second = 1000;
}

async fn sms_app(fake: &FakeTwilio) -> TestApp {
    let base = fake.base.clone();
    common::spawn_app_with(move |config| sms_on(config, &base)).await
}

/// A message id unique within the test.
fn sid(n: u32) -> String {
    format!("SM{:032x}", (u128::from(std::process::id()) << 40) | u128::from(n))
}

/// Posts Twilio's form for an incoming message, signed with `token` (none: unsigned).
async fn post_as(app: &TestApp, form: &[(String, String)], token: Option<&str>) -> (u16, String) {
    let params: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let reply = app.post_as("/text/sms", &params, token).await;
    (reply.status, reply.body)
}

/// Posts an incoming message as Twilio does; it must be acknowledged with empty TwiML.
async fn text(app: &TestApp, fake: &FakeTwilio, n: u32, from: &str, body: &str) {
    let (status, answer) =
        post_as(app, &fake.incoming(&sid(n), from, body), Some(common::TOKEN)).await;
    assert_eq!(status, 200, "not acknowledged: {answer}");
    assert!(answer.ends_with("<Response/>"), "{answer}");
    assert!(!answer.contains(PERSON_DIGITS), "the number in the answer");
}

/// Waits (up to 10 s) until `n` messages went to `to`; returns them all.
async fn delivered(fake: &FakeTwilio, to: &str, n: usize) -> Vec<Sent> {
    let start = Instant::now();
    loop {
        let sent: Vec<Sent> = fake.sent().into_iter().filter(|s| s.to == to).collect();
        if sent.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(app: &TestApp, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

fn only_case(app: &TestApp) -> CaseNumber {
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.query_row("SELECT number_year, number_seq FROM cases", [], |row| {
        Ok(CaseNumber { year: row.get(0)?, sequence: row.get(1)? })
    })
    .unwrap()
}

#[tokio::test]
async fn an_sms_walks_the_script_by_numbers_and_words_to_an_operator() {
    let fake = FakeTwilio::start();
    let app = sms_app(&fake).await;
    text(&app, &fake, 1, PERSON, "Hello?").await;
    let sent = delivered(&fake, PERSON, 1).await;
    let languages = &sent[0].body;
    for line in ["1 — ", "2 — ", "3 — ", "4 — English"] {
        assert!(languages.contains(line), "{line:?} not offered: {languages}");
    }
    assert_eq!(sent[0].from, HOTLINE_NUMBER);
    // The language by its number.
    text(&app, &fake, 2, PERSON, "4").await;
    // The welcome and the main menu are one message.
    let sent = delivered(&fake, PERSON, 2).await;
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let main = &sent.last().unwrap().body;
    assert!(main.contains("How can we help you?"), "{main}");
    assert!(main.contains("1 — I want to surrender") && main.contains("0 — Operator"), "{main}");
    // An option by its words, then by its number.
    text(&app, &fake, 3, PERSON, "i want to surrender").await;
    let sent = delivered(&fake, PERSON, 3).await;
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let group = &sent.last().unwrap().body;
    assert!(group.contains("1 — Alone") && group.contains("* — Back"), "{group}");
    text(&app, &fake, 4, PERSON, "1").await;
    let sent = delivered(&fake, PERSON, 4).await;
    assert_eq!(sent.len(), 4, "{sent:#?}");
    assert!(sent.last().unwrap().body.contains("safe for you to write"), "{sent:#?}");
    text(&app, &fake, 5, PERSON, "0").await;
    let number = only_case(&app);
    let conversation = app.storage.conversation_of(number).await.unwrap().unwrap();
    assert_eq!(conversation.position.state(), "operator");
    assert_eq!(conversation.channel, Channel::Sms);
    let case = app.storage.case(number).await.unwrap().unwrap();
    assert_eq!(case.channel, Channel::Sms);
    assert!(case.call_sid.as_str().starts_with("sms-"), "{}", case.call_sid.as_str());
    let tags: Vec<_> = case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    assert!(tags.contains(&"intent=surrender".to_owned()), "{tags:?}");
    // Every reply delivered, once, from the hotline's number.
    let start = Instant::now();
    while count(&app, "SELECT COUNT(*) FROM outbox WHERE state <> 'sent'") > 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "replies left unsent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fake.sent().iter().all(|s| s.from == HOTLINE_NUMBER && s.to == PERSON));
}

#[tokio::test]
async fn whatsapp_walks_the_same_script_with_whatsapp_addresses() {
    let fake = FakeTwilio::start();
    let app = sms_app(&fake).await;
    text(&app, &fake, 1, PERSON_WA, "hi").await;
    let sent = delivered(&fake, PERSON_WA, 1).await;
    assert!(sent[0].body.contains("4 — English"), "{}", sent[0].body);
    assert_eq!(sent[0].from, format!("whatsapp:{WHATSAPP_NUMBER}"));
    text(&app, &fake, 2, PERSON_WA, "English").await;
    assert_eq!(delivered(&fake, PERSON_WA, 2).await.len(), 2);
    // A reserved word reaches a person from any menu.
    text(&app, &fake, 3, PERSON_WA, "Operator").await;
    let number = only_case(&app);
    let conversation = app.storage.conversation_of(number).await.unwrap().unwrap();
    assert_eq!(
        (conversation.channel, conversation.position.state()),
        (Channel::WhatsApp, "operator")
    );
    let case = app.storage.case(number).await.unwrap().unwrap();
    assert!(case.call_sid.as_str().starts_with("wa-"));
    assert!(fake.sent().iter().all(|s| s.to == PERSON_WA), "an SMS went out for WhatsApp");
}

#[tokio::test]
async fn unsigned_or_forged_messages_are_refused_and_leave_nothing() {
    let fake = FakeTwilio::start();
    let app = sms_app(&fake).await;
    let form = fake.incoming(&sid(1), PERSON, "hello");
    for token in [None, Some("wrong"), Some(""), Some(&common::TOKEN[..10])] {
        let (status, _) = post_as(&app, &form, token).await;
        assert_eq!(status, 403, "token {token:?}");
    }
    // Signed, then changed on the way: the signature no longer matches.
    let params: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let signed = hotline::signature::compute(
        common::TOKEN.as_bytes(),
        &format!("{}/text/sms", app.base_url),
        &form,
    );
    // The same signature on the form as sent is Twilio's: only the change is refused.
    let genuine = fake.incoming(&sid(2), PERSON, "hello");
    let genuine_params: Vec<(&str, &str)> =
        genuine.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let genuine_signature = hotline::signature::compute(
        common::TOKEN.as_bytes(),
        &format!("{}/text/sms", app.base_url),
        &genuine,
    );
    assert_eq!(raw_post(&app, &genuine_params, &genuine_signature).await, 200);
    let mut tampered: Vec<(&str, &str)> = params.clone();
    tampered.retain(|(k, _)| *k != "Body");
    tampered.push(("Body", "0"));
    let reply = raw_post(&app, &tampered, &signed).await;
    assert_eq!(reply, 403);
    // Only the genuine message was taken.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM text_updates"), 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 1);
}

/// Posts a form with this signature header as is.
async fn raw_post(app: &TestApp, form: &[(&str, &str)], signature: &str) -> u16 {
    let url = format!("{}/text/sms", app.base_url);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let signature = signature.to_owned();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .new_agent();
        agent
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signature)
            .send(body)
            .expect("the server answers")
            .status()
            .as_u16()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn without_sms_enabled_there_is_no_webhook() {
    let fake = FakeTwilio::start();
    let app = common::spawn_app().await;
    let (status, _) =
        post_as(&app, &fake.incoming(&sid(1), PERSON, "hello"), Some(common::TOKEN)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_same_message_three_times_is_handled_once() {
    let fake = FakeTwilio::start();
    let app = sms_app(&fake).await;
    for _ in 0..3 {
        text(&app, &fake, 7, PERSON, "please, I need help").await;
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM text_updates"), 1);
    let kept = app.storage.chat_messages(only_case(&app)).await.unwrap();
    let written: Vec<_> = kept.iter().filter(|m| m.author == Author::Person).collect();
    assert_eq!(written.len(), 1, "{kept:?}");
    assert_eq!(delivered(&fake, PERSON, 1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().len(), 1, "answered more than once");
}

#[tokio::test]
async fn carrier_keywords_and_bad_forms_are_acknowledged_and_handed_to_no_script() {
    let fake = FakeTwilio::start();
    let app = sms_app(&fake).await;
    text(&app, &fake, 1, PERSON, "STOP").await;
    text(&app, &fake, 2, PERSON, "help").await;
    for (n, from) in [(3, "12345"), (4, ""), (5, "whatsapp:"), (6, "+380<b>")] {
        text(&app, &fake, n, from, "hello").await;
    }
    let mut no_sid = fake.incoming(&sid(7), PERSON, "hello");
    no_sid.retain(|(k, _)| k != "MessageSid");
    let (status, _) = post_as(&app, &no_sid, Some(common::TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 0);
    // A picture alone opens the conversation like any first message.
    let mut picture = fake.incoming(&sid(8), PERSON, "");
    picture.retain(|(k, _)| k != "NumMedia");
    picture.push(("NumMedia".into(), "1".into()));
    picture
        .push(("MediaUrl0".into(), "https://api.twilio.com/2010-04-01/Accounts/x/Media/y".into()));
    let (status, _) = post_as(&app, &picture, Some(common::TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 1);
}

#[tokio::test]
async fn too_many_requests_waits_and_sends_once() {
    let fake = FakeTwilio::start();
    fake.fail_next(1, Fault::TooMany(Some(1)));
    let app = sms_app(&fake).await;
    let asked = Instant::now();
    text(&app, &fake, 1, PERSON, "hello").await;
    let sent = delivered(&fake, PERSON, 1).await;
    assert_eq!(sent.len(), 1);
    assert!(asked.elapsed() >= Duration::from_secs(1), "sent before Retry-After passed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().len(), 1, "sent twice");
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn a_refusal_fails_the_message_once_keeping_the_code_only() {
    let fake = FakeTwilio::start();
    // 21610: the person wrote STOP earlier; Twilio will not send to them.
    fake.fail_next(1, Fault::Status(400, 21610));
    let app = sms_app(&fake).await;
    text(&app, &fake, 1, PERSON, "hello").await;
    let start = Instant::now();
    while count(&app, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never given up on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.requests(), 1, "a refusal was tried again");
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let error: String = conn.query_row("SELECT error FROM outbox", [], |row| row.get(0)).unwrap();
    assert!(error.contains("21610") && !error.contains(PERSON_DIGITS), "{error}");
}

#[tokio::test]
async fn the_number_and_profile_name_are_never_stored_logged_or_answered() {
    let fake = FakeTwilio::start();
    let app = sms_app(&fake).await;
    text(&app, &fake, 1, PERSON, "hi").await;
    text(&app, &fake, 2, PERSON, "3").await;
    text(&app, &fake, 3, PERSON, "0").await;
    text(&app, &fake, 4, PERSON, "my unit Kalyna-Dovgiy").await;
    text(&app, &fake, 5, PERSON_WA, "hi").await;
    text(&app, &fake, 6, PERSON_WA, "operator").await;
    delivered(&fake, PERSON_WA, 2).await;
    let logs = String::from_utf8_lossy(&common::logs().lock().unwrap()).into_owned();
    let kept = app.stop().await;
    let forbidden = [PERSON_DIGITS, PROFILE_NAME];
    common::assert_in_no_file(kept.path(), &forbidden);
    for needle in forbidden {
        assert!(!logs.contains(needle), "{needle} in the logs");
    }
    assert!(!logs.contains("Kalyna-Dovgiy"), "the person's words in the logs");
}

/// The hotline itself, without its HTTP side, on a clock the test moves: SMS on through
/// `fake`, the configuration as `adjust` leaves it. Its folder lives as long as the last value.
async fn hotline_itself(
    fake: &FakeTwilio,
    adjust: impl FnOnce(&mut Config),
) -> (App, Clock, Config, tempfile::TempDir) {
    common::logs();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database.path = dir.path().join("hotline.db");
    config.scripts.dir = common::shipped_scripts();
    sms_on(&mut config, &fake.base);
    adjust(&mut config);
    config.validate().unwrap();
    let secrets = Secrets {
        auth_token: Secret::new(common::TOKEN.into()),
        caller_hash_key: Secret::new("test-caller-hash-key-0123456789".into()),
        callback_key: Secret::new(common::CALLBACK_KEY.into()),
        telegram: None,
        provider_api_secret: None,
    };
    let clock = Clock::manual(Utc::now());
    let app = App::open(&config, &secrets, clock.clone()).await.unwrap();
    (app, clock, config, dir)
}

#[tokio::test]
async fn a_reply_to_whatsapp_after_24_hours_is_refused_with_a_clear_message() {
    let fake = FakeTwilio::start();
    let (app, clock, config, _dir) = hotline_itself(&fake, |_| {}).await;
    let mut cases = Vec::new();
    for (n, channel) in [(1, Channel::WhatsApp), (2, Channel::Sms)] {
        let inbound = Inbound {
            channel,
            update_key: sid(n),
            from: ChatAddress::new(channel, PERSON).unwrap(),
            message_id: None,
            input: TextInput::Text("hello".into()),
        };
        app.receive_text(inbound).await.unwrap();
        let conn = rusqlite::Connection::open(&config.database.path).unwrap();
        let case = conn
            .query_row(
                "SELECT number_year, number_seq FROM cases WHERE channel = ?1",
                [channel.as_str()],
                |row| Ok(CaseNumber { year: row.get(0)?, sequence: row.get(1)? }),
            )
            .unwrap();
        cases.push(case);
    }
    let (whatsapp, sms) = (cases[0], cases[1]);
    app.reply_allowed(whatsapp).await.unwrap();
    clock.advance(TimeDelta::hours(23));
    app.reply_allowed(whatsapp).await.unwrap();
    clock.advance(TimeDelta::hours(2));
    match app.reply_allowed(whatsapp).await {
        Err(AppError::Conflict(why)) => {
            assert!(why.contains("24 hours") && why.contains("write again"), "{why}");
            assert!(!why.contains(PERSON_DIGITS), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // SMS has no window.
    app.reply_allowed(sms).await.unwrap();
    let nobody = CaseNumber { year: 2001, sequence: 1 };
    assert!(matches!(app.reply_allowed(nobody).await, Err(AppError::NotFound(_))));
}

#[tokio::test]
async fn whatsapp_outside_its_window_fails_with_twilios_code() {
    let fake = FakeTwilio::start();
    fake.close_window(PERSON);
    let app = sms_app(&fake).await;
    text(&app, &fake, 1, PERSON_WA, "hello").await;
    let start = Instant::now();
    while count(&app, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never given up on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let error: String = conn.query_row("SELECT error FROM outbox", [], |row| row.get(0)).unwrap();
    assert!(error.contains("63016") && !error.contains(PERSON_DIGITS), "{error}");
    assert_eq!(fake.requests(), 1);
}

/// The neutral template a supervisor configured for WhatsApp after its window.
const TEMPLATE: &str = "HX0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn after_whatsapps_window_only_the_approved_template_reaches_the_person() {
    let fake = FakeTwilio::start();
    let template = |config: &mut Config| config.sms.whatsapp_template_sid = TEMPLATE.into();
    let (app, clock, _config, _dir) = hotline_itself(&fake, template).await;
    let _background = app.spawn_background(None);
    // A WhatsApp person chooses Russian and asks for an operator.
    for (n, words) in [(1, "hello"), (2, "1"), (3, "0")] {
        let inbound = Inbound {
            channel: Channel::WhatsApp,
            update_key: sid(n),
            from: ChatAddress::new(Channel::WhatsApp, PERSON).unwrap(),
            message_id: None,
            input: TextInput::Text(words.into()),
        };
        app.receive_text(inbound).await.unwrap();
    }
    let olga = app.add_person(&hotline::app::Actor::Terminal, "olga", "operator", &["ru"]).await;
    let olga = hotline::app::Actor::Person(olga.unwrap().person);
    let case = app.chats(&olga).await.unwrap()[0].case_number;
    app.take_chat(&olga, case).await.unwrap();
    // Within the window: words, and no template.
    assert!(!app.template_only(case).await.unwrap());
    assert!(matches!(app.send_whatsapp_template(&olga, case).await, Err(AppError::Conflict(_))));
    app.reply_chat(&olga, case, "Мы здесь").await.unwrap();
    // A day and an hour later: the template only.
    clock.advance(TimeDelta::hours(25));
    assert!(app.template_only(case).await.unwrap());
    assert!(matches!(app.reply_chat(&olga, case, "Вы тут?").await, Err(AppError::Conflict(_))));
    app.send_whatsapp_template(&olga, case).await.unwrap();
    let start = Instant::now();
    let template = loop {
        let found = fake.sent().into_iter().find(|sent| sent.content_sid.is_some());
        if let Some(sent) = found {
            break sent;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the template never left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(template.content_sid.as_deref(), Some(TEMPLATE));
    assert_eq!(template.to, PERSON_WA);
    assert!(template.body.is_empty(), "a template carries no words of ours: {}", template.body);
    let shown = app.read_chat(&olga, case).await.unwrap().messages;
    assert!(
        shown
            .iter()
            .any(|m| m.author == Author::Operator(olga_id(&olga)) && m.body.contains("template"))
    );
}

fn olga_id(actor: &hotline::app::Actor) -> i64 {
    actor.person().map(|person| person.id).unwrap()
}
