//! Text conversations through the running server, as Telegram drives them: updates posted to
//! `/text/telegram` with the webhook's secret, the script walked by buttons and words, each
//! update handled exactly once, and nothing of the person kept but what the case needs.

use std::time::{Duration, Instant};

use crate::common::chats::chat_app;
use crate::common::telegram::{
    FakeBotApi, Fault, PERSON_FIRST_NAME, PERSON_LAST_NAME, PERSON_USERNAME, Sent,
};
use crate::common::{self, TELEGRAM_SECRET, TestApp};
use hotline::domain::cases::CaseNumber;
use hotline::domain::conversation::{Author, Channel, MessageKind};
use hotline::domain::people::Role;

/// The person's Telegram chat id in these tests: it must never be stored or logged.
const CHAT: i64 = 5_550_123_987;

/// Waits (up to 10 s) until the bot has sent `n` messages to [`CHAT`]; returns them all.
async fn delivered(fake: &FakeBotApi, n: usize) -> Vec<Sent> {
    let start = Instant::now();
    loop {
        let sent: Vec<Sent> = fake.sent().into_iter().filter(|s| s.chat_id == CHAT).collect();
        if sent.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The data of the button labelled `label` under a message.
fn button(message: &Sent, label: &str) -> String {
    let found = message.buttons.iter().flatten().find(|(text, _)| text == label);
    found.unwrap_or_else(|| panic!("no button {label:?} in {:?}", message.buttons)).1.clone()
}

/// Rows of a table, counted on a connection of the test's own.
fn count(app: &TestApp, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// The texts queued for the person, in order.
fn queued_texts(app: &TestApp) -> Vec<String> {
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let mut statement = conn.prepare("SELECT body FROM outbox ORDER BY id").unwrap();
    statement
        .query_map([], |row| row.get::<_, Option<String>>(0))
        .unwrap()
        .map(|row| row.unwrap().unwrap_or_default())
        .collect()
}

fn only_case(app: &TestApp) -> CaseNumber {
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.query_row("SELECT number_year, number_seq FROM cases", [], |row| {
        Ok(CaseNumber { year: row.get(0)?, sequence: row.get(1)? })
    })
    .unwrap()
}

#[tokio::test]
async fn an_update_without_the_secret_is_refused_and_leaves_nothing() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    let update = fake.update_text(1, CHAT, "/start");
    for secret in [None, Some("wrong"), Some(""), Some(&TELEGRAM_SECRET[..10])] {
        let (status, _) = app.telegram_as(update.clone(), secret).await;
        assert_eq!(status, 403, "secret {secret:?}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM text_updates"), 0);
}

#[tokio::test]
async fn without_telegram_enabled_there_is_no_webhook() {
    let fake = FakeBotApi::start();
    let app = common::spawn_app().await;
    let (status, _) =
        app.telegram_as(fake.update_text(1, CHAT, "/start"), Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn start_opens_a_telegram_case_and_offers_the_languages() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    let case = app.storage.case(only_case(&app)).await.unwrap().unwrap();
    assert_eq!(case.channel, Channel::Telegram);
    assert!(case.call_sid.as_str().starts_with("tg-"));
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let buttons: String =
        conn.query_row("SELECT buttons FROM outbox", [], |row| row.get(0)).unwrap();
    for language in ["l:ru", "l:ko", "l:uk", "l:en"] {
        assert!(buttons.contains(language), "{language} not offered: {buttons}");
    }
}

#[tokio::test]
async fn the_same_update_three_times_is_handled_once() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    for _ in 0..3 {
        app.telegram(fake.update_text(7, CHAT, "/start")).await;
    }
    app.telegram(fake.update_button(8, CHAT, 1, "l:en")).await;
    for _ in 0..3 {
        app.telegram(fake.update_text(9, CHAT, "please, I need help")).await;
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM text_updates"), 3);
    let kept = app.storage.chat_messages(only_case(&app)).await.unwrap();
    let written: Vec<_> = kept.iter().filter(|m| m.author == Author::Person).collect();
    assert_eq!(written.len(), 1, "{kept:?}");
    let events = app.storage.case(only_case(&app)).await.unwrap().unwrap().events;
    let wrote = events.iter().filter(|e| format!("{:?}", e.event).starts_with("Wrote")).count();
    assert_eq!(wrote, 1);
}

#[tokio::test]
async fn a_person_reaches_the_operators_queue_by_button_and_by_word() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.telegram(fake.update_button(2, CHAT, 1, "l:ru")).await;
    app.telegram(fake.update_text(3, CHAT, "оператор")).await;
    let number = only_case(&app);
    let case = app.storage.case(number).await.unwrap().unwrap();
    assert_eq!(case.language.as_ref().map(|l| l.as_str()), Some("ru"));
    let handed_off = case.events.iter().any(|e| format!("{:?}", e.event).starts_with("HandedOff"));
    assert!(handed_off, "{:?}", case.events);
    let conversation = app.storage.conversation_of(number).await.unwrap().unwrap();
    assert_eq!(conversation.position.state(), "operator");
    assert!(conversation.queued_at.is_some());
    // Words written while waiting are for the operator; the script stays silent.
    let before = queued_texts(&app).len();
    app.telegram(fake.update_text(4, CHAT, "я жду")).await;
    assert_eq!(queued_texts(&app).len(), before);
    let kept = app.storage.chat_messages(number).await.unwrap();
    assert_eq!(kept.last().unwrap().body, "я жду");
    assert_eq!(kept.last().unwrap().kind, MessageKind::Text);
}

#[tokio::test]
async fn a_pressed_button_is_answered_in_the_webhook_reply() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    let update = fake.update_button(2, CHAT, 1, "l:en");
    let query: serde_json::Value = serde_json::from_str(&update).unwrap();
    let reply = app.telegram(update).await;
    let json: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(json["method"], "answerCallbackQuery");
    assert_eq!(json["callback_query_id"], query["callback_query"]["id"]);
}

#[tokio::test]
async fn unreadable_updates_are_acknowledged_and_leave_nothing() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    let huge = format!("{{\"update_id\": 1, \"x\": \"{}\"}}", "a".repeat(100_000));
    for body in [
        String::new(),
        "{".to_owned(),
        "[]".to_owned(),
        "{\"update_id\": \"one\"}".to_owned(),
        "{\"update_id\": 5, \"message\": {\"chat\": {\"id\": 1, \"type\": \"group\"}, \"text\": \"hi\", \"message_id\": 1}}".to_owned(),
        huge,
    ] {
        let (status, _) = app.telegram_as(body.clone(), Some(TELEGRAM_SECRET)).await;
        assert!(status == 200 || status == 413, "{status} for {:.40}", body);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 0);
}

#[tokio::test]
async fn the_end_of_the_script_closes_the_conversation_and_a_later_message_opens_a_new_case() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.telegram(fake.update_button(2, CHAT, 1, "l:en")).await;
    // How prisoners are treated, then three keys the menu does not offer: its default, the
    // goodbye, ends the conversation as it would end a call.
    for (update, key) in (3..).zip(["3", "7", "7", "7"]) {
        app.telegram(fake.update_text(update, CHAT, key)).await;
    }
    let first = only_case(&app);
    let conversation = app.storage.conversation_of(first).await.unwrap().unwrap();
    assert_eq!(conversation.position.state(), "closed");
    assert!(conversation.address_sealed.is_none(), "the reply address is shredded at close");
    let case = app.storage.case(first).await.unwrap().unwrap();
    assert!(case.ended_at.is_some());
    app.telegram(fake.update_text(10, CHAT, "hello again")).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 2);
    let hashes = count(&app, "SELECT COUNT(DISTINCT caller_hash) FROM cases");
    assert_eq!(hashes, 1, "the second case is recognised as the same person");
    let second = app.storage.recent_cases(1).await.unwrap()[0].number;
    assert_ne!(first, second);
    let kept = app.storage.chat_messages(second).await.unwrap();
    assert_eq!(kept[0].body, "hello again", "a first message's words are kept");
}

#[tokio::test]
async fn no_chat_id_name_or_username_is_kept_or_logged() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.telegram(fake.update_button(2, CHAT, 1, "l:uk")).await;
    app.telegram(fake.update_text(3, CHAT, "0")).await;
    app.telegram(fake.update_text(4, CHAT, "мій підрозділ Щука-Жовтень")).await;
    let logs = String::from_utf8_lossy(&common::logs().lock().unwrap()).into_owned();
    let kept = app.stop().await;
    let dir = kept.path().to_owned();
    let chat = CHAT.to_string();
    let forbidden = [chat.as_str(), PERSON_FIRST_NAME, PERSON_LAST_NAME, PERSON_USERNAME];
    common::assert_in_no_file(&dir, &forbidden);
    for needle in forbidden {
        assert!(!logs.contains(needle), "{needle} in the logs");
    }
    assert!(!logs.contains("Щука-Жовтень"), "the person's words in the logs");
}

#[tokio::test]
async fn a_person_walks_the_script_by_buttons_digits_and_words_and_every_answer_arrives() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    let sent = delivered(&fake, 1).await;
    let languages = &sent[0];
    assert_eq!(languages.buttons.len(), 4, "{languages:?}");
    app.telegram(fake.update_button(2, CHAT, languages.message_id, &button(languages, "English")))
        .await;
    let sent = delivered(&fake, 2).await;
    let main = sent.last().unwrap();
    assert!(!main.text.to_lowercase().contains("press"), "voice wording in a chat: {}", main.text);
    // The option's own words choose it.
    let surrender = main.buttons.iter().flatten().next().unwrap().0.clone();
    app.telegram(fake.update_text(3, CHAT, &surrender.to_uppercase())).await;
    let sent = delivered(&fake, 3).await;
    // A digit chooses too (alone), then a button (can talk safely).
    app.telegram(fake.update_text(4, CHAT, "1")).await;
    let sent_talk = delivered(&fake, 4).await;
    let talk = sent_talk.last().unwrap();
    assert!(sent.len() == 3 && talk.buttons.len() >= 2, "{talk:?}");
    let yes = talk.buttons[0][0].1.clone();
    app.telegram(fake.update_button(5, CHAT, talk.message_id, &yes)).await;
    // The question about the unit, answered in words.
    let asked = delivered(&fake, 5).await;
    assert!(asked.last().unwrap().buttons.is_empty(), "a question has no buttons");
    app.telegram(fake.update_text(6, CHAT, "3rd battalion, 4417")).await;
    // The handoff, and the place in line.
    let sent = delivered(&fake, 7).await;
    assert_eq!(sent.len(), 7, "{sent:#?}");
    assert!(sent[6].text.contains('1'), "the place in line: {}", sent[6].text);
    let number = only_case(&app);
    let case = app.storage.case(number).await.unwrap().unwrap();
    let tags: Vec<_> = case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    assert!(tags.contains(&"intent=surrender".to_owned()), "{tags:?}");
    let kept = app.storage.chat_messages(number).await.unwrap();
    let answer = kept.iter().find(|m| m.kind == MessageKind::Answer).expect("the answer kept");
    assert_eq!(
        (answer.var.as_deref(), answer.body.as_str()),
        (Some("unit"), "3rd battalion, 4417")
    );
    assert!(!format!("{:?}", case.events).contains("4417"), "an answer is never an event");
    // Everything queued was delivered, once: marked sent (the worker marks a message after
    // Telegram answered it, so the last mark may follow the fake's receipt by a moment).
    let start = Instant::now();
    while count(&app, "SELECT COUNT(*) FROM outbox WHERE state <> 'sent'") > 0
        && start.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox WHERE state <> 'sent'"), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox WHERE body IS NOT NULL"), 0);
    assert_eq!(fake.sent().len(), 7, "a message sent twice");
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_telegram_asks_and_sends_once() {
    let fake = FakeBotApi::start();
    fake.fail_next("sendMessage", 1, Fault::RetryAfter(1));
    let app = chat_app(&fake).await;
    let asked = Instant::now();
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    let sent = delivered(&fake, 1).await;
    assert_eq!(sent.len(), 1);
    assert!(asked.elapsed() >= Duration::from_secs(1), "sent before retry_after passed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivered(&fake, 1).await.len(), 1, "sent twice");
    assert_eq!(fake.calls("sendMessage"), 2);
}

#[tokio::test]
async fn a_blocked_bot_fails_the_message_without_retrying_for_ever() {
    let fake = FakeBotApi::start();
    fake.block(CHAT);
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    let start = Instant::now();
    while count(&app, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never given up on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.calls("sendMessage"), 1);
}

#[tokio::test]
async fn delete_removes_the_conversation_from_the_phone_and_closes_it() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    let start = fake.update_text(1, CHAT, "/start");
    app.telegram(start).await;
    let languages = delivered(&fake, 1).await[0].clone();
    app.telegram(fake.update_button(2, CHAT, languages.message_id, "l:en")).await;
    let menu = delivered(&fake, 2).await[1].clone();
    app.telegram(fake.update_text(3, CHAT, "I am afraid someone reads my phone")).await;
    let received = delivered(&fake, 4).await;
    assert_eq!(received.len(), 4, "the received words and the menu again: {received:#?}");
    app.telegram(fake.update_text(4, CHAT, "/delete")).await;
    // Every message of the bot, and the person's three, are deleted from the phone.
    let bot: Vec<i64> = received.iter().map(|m| m.message_id).collect();
    let wait = Instant::now();
    while fake.deletions().len() < bot.len() + 3 && wait.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deleted: Vec<i64> = fake.deletions().iter().map(|(_, id)| *id).collect();
    for id in &bot {
        assert!(deleted.contains(id), "bot message {id} left on the phone: {deleted:?}");
    }
    assert_eq!(deleted.len(), bot.len() + 3, "{deleted:?}");
    assert!(fake.deletions().iter().all(|(chat, _)| *chat == CHAT));
    assert_ne!(menu.message_id, 0);
    let number = only_case(&app);
    let conversation = app.storage.conversation_of(number).await.unwrap().unwrap();
    assert_eq!(conversation.position.state(), "closed");
    assert!(conversation.address_sealed.is_none());
    // The case keeps its record; nothing more is said on the phone.
    assert_eq!(delivered(&fake, 5).await.len(), 4);
    let case = app.storage.case(number).await.unwrap().unwrap();
    assert!(case.events.iter().any(|e| format!("{:?}", e.event) == "DeletionAsked"));
    // A /delete with nothing open opens nothing.
    app.telegram(fake.update_text(5, CHAT, "/delete")).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM cases"), 1);
}

#[tokio::test]
async fn search_and_export_tell_chats_from_calls() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.call("1,1", None).await;
    let (_, token) = common::api::person(&app, "sofia", Role::Supervisor, &["ru"]).await;
    for (channel, expected) in [("telegram", 1), ("voice", 1), ("sms", 0)] {
        let path = format!("/api/cases?channel={channel}");
        let (status, body) = common::api::api(&app, "GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{body}");
        let cases = body["cases"].as_array().unwrap();
        assert_eq!(cases.len(), expected, "{channel}: {body}");
        assert!(cases.iter().all(|case| case["channel"] == channel), "{body}");
    }
    let (status, body) =
        common::api::api(&app, "GET", "/api/cases?channel=pigeon", Some(&token), None).await;
    assert_eq!(status, 400, "{body}");
    let (_, csv) =
        common::api::raw(&app, "GET", "/api/cases.csv?channel=telegram", Some(&token), None, "")
            .await;
    let csv = csv.as_str().unwrap_or_default().to_owned();
    assert!(csv.lines().next().unwrap().ends_with(",channel"), "{csv}");
    assert!(csv.lines().nth(1).unwrap().ends_with(",telegram"), "{csv}");
}

#[tokio::test]
async fn the_wall_board_counts_chats_per_channel() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    common::api::person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let mut boss = common::console::Browser::login(&app, "boss", common::api::TEST_PASSWORD).await;
    let before = boss.get("/console/wallboard").await.body;
    assert!(!before.contains(r#"data-testid="chats""#), "no chats yet, no table");
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.telegram(fake.update_text(2, CHAT + 1, "/start")).await;
    app.telegram(fake.update_button(3, CHAT + 1, 1, "l:ru")).await;
    app.telegram(fake.update_text(4, CHAT + 1, "0")).await;
    let board = boss.get("/console/wallboard").await.body;
    let row = board
        .split(r#"<tr data-channel="Telegram">"#)
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no Telegram row: {board}"));
    let cells: Vec<&str> = row
        .split(r#"<td class="num">"#)
        .skip(1)
        .map(|cell| cell.split('<').next().unwrap())
        .collect();
    // In the script, waiting, with an operator, today.
    assert_eq!(cells, ["1", "1", "0", "2"], "{row}");
}

/// A server whose Korean callers and writers fall back to Russian-speaking operators, and
/// whose Ukrainian ones go straight to the voicemail node.
async fn fallback_app(fake: &FakeBotApi) -> TestApp {
    let base = fake.base.clone();
    common::spawn_app_with(move |config| {
        config.telegram.enabled = true;
        config.telegram.api_base = base;
        config.outbox.per_chat_interval_ms = 10;
        config.queues.fallbacks = "ko=ru, uk=voicemail".parse().unwrap();
    })
    .await
}

#[tokio::test]
async fn chats_follow_the_queue_fallbacks_like_calls() {
    let fake = FakeBotApi::start();
    let app = fallback_app(&fake).await;
    let (olga, token) = common::api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let state = serde_json::json!({ "state": "available" });
    let (status, body) =
        common::api::api(&app, "PUT", "/api/me/state", Some(&token), Some(state)).await;
    assert_eq!(status, 200, "{body}");
    // A Korean person asks for an operator: no Korean operator, so the Russian-speaking one.
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.telegram(fake.update_button(2, CHAT, 1, "l:ko")).await;
    app.telegram(fake.update_text(3, CHAT, "0")).await;
    let korean = only_case(&app);
    let case = app.storage.case(korean).await.unwrap().unwrap();
    let routed = case.events.iter().find_map(|e| match &e.event {
        hotline::domain::cases::Event::Routed { language, interpreter_needed, .. } => {
            Some((language.clone(), *interpreter_needed))
        }
        _ => None,
    });
    assert_eq!(
        routed,
        Some((Some(hotline::domain::language::LanguageTag::parse("ru").unwrap()), true))
    );
    let mut browser =
        common::console::Browser::login(&app, "olga", common::api::TEST_PASSWORD).await;
    let list = browser.get("/console/chats").await.body;
    assert!(list.contains(&korean.to_string()), "the ru operator does not see the ko chat: {list}");
    let _ = olga;
    // A Ukrainian person is sent on to the voicemail node: asked to write their message.
    app.telegram(fake.update_text(4, CHAT + 7, "/start")).await;
    app.telegram(fake.update_button(5, CHAT + 7, 1, "l:uk")).await;
    app.telegram(fake.update_text(6, CHAT + 7, "0")).await;
    let ukrainian = app.storage.recent_cases(1).await.unwrap()[0].number;
    let conversation = app.storage.conversation_of(ukrainian).await.unwrap().unwrap();
    assert_eq!(conversation.position.state(), "voicemail", "{:?}", conversation.position);
    assert!(conversation.queued_at.is_none(), "not in any queue");
}

#[tokio::test]
async fn a_message_left_in_writing_waits_for_an_operator_who_can_write_back() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    app.telegram(fake.update_button(2, CHAT, 1, "l:en")).await;
    // A relative or friend, then "leave a message".
    app.telegram(fake.update_text(3, CHAT, "2")).await;
    app.telegram(fake.update_text(4, CHAT, "3")).await;
    app.telegram(fake.update_text(5, CHAT, "My son Ivan was in the 3rd company; is he alive?"))
        .await;
    let number = only_case(&app);
    let conversation = app.storage.conversation_of(number).await.unwrap().unwrap();
    assert_eq!(conversation.position.state(), "operator", "it waits for an operator");
    assert!(conversation.address_sealed.is_some(), "an operator can still write back");
    assert!(conversation.queued_at.is_some());
    let kept = app.storage.chat_messages(number).await.unwrap();
    let message = kept.iter().find(|m| m.kind == MessageKind::Voicemail).expect("the message kept");
    assert!(message.body.contains("3rd company"));
    let sent = delivered(&fake, 5).await;
    assert!(sent.iter().any(|m| m.text.starts_with("Thank you for writing")), "{sent:#?}");
}

#[tokio::test]
async fn the_first_message_asks_for_a_language_in_each_language_without_keys_to_press() {
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    app.telegram(fake.update_text(1, CHAT, "/start")).await;
    let first = delivered(&fake, 1).await.remove(0);
    for words in ["Выберите язык", "언어를 선택하십시오", "Оберіть мову", "Choose your language"]
    {
        assert!(first.text.contains(words), "{words} missing: {}", first.text);
    }
    for press in ["нажмите", "누르십시오", "натисніть", "press"] {
        assert!(!first.text.contains(press), "voice wording in a chat: {}", first.text);
    }
}
