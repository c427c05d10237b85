//! The Bot API client against the fake Bot API (every method, every refusal, every fault),
//! the fake's updates as the gateway parses them, and `hotline telegram` as the person
//! connecting a bot uses it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hotline::domain::outbox::Button;
use hotline::domain::secret::Secret;
use hotline::telegram::client::{ApiError, BotApi};
use hotline::telegram::update::{Update, UpdateKind};

use crate::common::binary::{self, printed as text};
use crate::common::telegram::{
    BOT_TOKEN, FakeBotApi, Fault, PERSON_FIRST_NAME, PERSON_LAST_NAME, PERSON_USERNAME, Sent,
    Webhook,
};

const CHAT: i64 = 5_550_001_234;

fn client(fake: &FakeBotApi) -> BotApi {
    BotApi::new(&fake.base, Secret::new(BOT_TOKEN.into()))
}

fn buttons(rows: &[&[(&str, &str)]]) -> Vec<Vec<Button>> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|(text, data)| Button {
                    text: (*text).into(),
                    data: (*data).into(),
                    key: None,
                })
                .collect()
        })
        .collect()
}

fn refused(result: Result<impl std::fmt::Debug, ApiError>) -> (u16, String) {
    match result {
        Err(ApiError::Refused { code, description }) => (code, description),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn every_method_does_what_telegram_would() {
    let fake = FakeBotApi::start();
    let api = client(&fake);
    // Telegram knows a chat once the person has written to the bot.
    assert_eq!(
        refused(api.send_message(CHAT, "hello", &[])),
        (400, "Bad Request: chat not found".into())
    );
    fake.update_text(1, CHAT, "/start");

    let menu =
        buttons(&[&[("Українська", "lang:uk"), ("Русский", "lang:ru")], &[("Help", "help")]]);
    let id = api.send_message(CHAT, "Choose a language", &menu).unwrap();
    assert_eq!(id, 2, "the person's /start was message 1 of the chat");
    let expected_buttons = vec![
        vec![("Українська".to_owned(), "lang:uk".to_owned()), ("Русский".into(), "lang:ru".into())],
        vec![("Help".into(), "help".into())],
    ];
    assert_eq!(
        fake.sent(),
        [Sent {
            chat_id: CHAT,
            message_id: 2,
            text: "Choose a language".into(),
            buttons: expected_buttons
        }]
    );
    assert_eq!(api.send_message(CHAT, "plain", &[]).unwrap(), 3);

    api.edit_message_text(CHAT, id, "Language: Українська", &[]).unwrap();
    assert_eq!(fake.message_text(CHAT, id).as_deref(), Some("Language: Українська"));
    assert_eq!(fake.edits().len(), 1);
    assert!(fake.edits()[0].buttons.is_empty(), "the keyboard was taken away");
    // The same edit again: Telegram says "not modified", which is what was asked.
    api.edit_message_text(CHAT, id, "Language: Українська", &[]).unwrap();
    assert_eq!(fake.edits().len(), 1);
    assert_eq!(fake.calls("editMessageText"), 2);
    assert_eq!(
        refused(api.edit_message_text(CHAT, 99, "x", &[])).1,
        "Bad Request: message to edit not found"
    );
    assert_eq!(
        refused(api.edit_message_text(CHAT, 1, "x", &[])).1,
        "Bad Request: message can't be edited"
    );

    let pressed = Update::parse(fake.update_button(2, CHAT, id, "lang:uk").as_bytes()).unwrap();
    let UpdateKind::Button { callback_id, message_id, data, chat_id } = pressed.kind else {
        panic!("{pressed:?}")
    };
    assert_eq!((chat_id, message_id, data.as_str()), (CHAT, id, "lang:uk"));
    api.answer_callback_query(&callback_id).unwrap();
    assert_eq!(fake.callback_answers(), std::slice::from_ref(&callback_id));
    let (code, description) = refused(api.answer_callback_query(&callback_id));
    assert_eq!(code, 400);
    assert!(description.contains("query ID is invalid"), "{description}");
    refused(api.answer_callback_query(""));

    api.delete_message(CHAT, 3).unwrap();
    assert_eq!(fake.deletions(), [(CHAT, 3)]);
    assert_eq!(refused(api.delete_message(CHAT, 3)).1, "Bad Request: message to delete not found");
    assert_eq!(refused(api.delete_message(CHAT + 1, 3)).1, "Bad Request: chat not found");

    assert_eq!(api.webhook_info().unwrap().url, "");
    api.set_webhook("https://hotline.example.org/text/telegram", "s3cret_-token", 17).unwrap();
    assert_eq!(
        fake.webhook(),
        Some(Webhook {
            url: "https://hotline.example.org/text/telegram".into(),
            secret_token: Some("s3cret_-token".into()),
            allowed_updates: Some(vec!["message".into(), "callback_query".into()]),
            max_connections: Some(17),
            drop_pending_updates: false,
        })
    );
    fake.set_delivery(4, Some("Wrong response from the webhook: 502 Bad Gateway"));
    let info = api.webhook_info().unwrap();
    assert_eq!(info.url, "https://hotline.example.org/text/telegram");
    assert_eq!(info.pending_update_count, 4);
    assert_eq!(
        info.last_error_message.as_deref(),
        Some("Wrong response from the webhook: 502 Bad Gateway")
    );
    assert!(info.last_error_date.is_some_and(|date| date > 1_600_000_000));
}

#[test]
fn texts_buttons_and_chats_telegram_refuses_are_refused() {
    let fake = FakeBotApi::start();
    let api = client(&fake);
    fake.update_text(1, CHAT, "hi");
    for text in ["", "   \n\t "] {
        assert_eq!(
            refused(api.send_message(CHAT, text, &[])).1,
            "Bad Request: message text is empty"
        );
    }
    // Telegram counts UTF-16 units: 4096 letters pass, 2049 emoji (4098 units) do not.
    assert!(api.send_message(CHAT, &"я".repeat(4096), &[]).is_ok());
    for long in ["я".repeat(4097), "🆘".repeat(2049), "x".repeat(1 << 20)] {
        assert_eq!(
            refused(api.send_message(CHAT, &long, &[])).1,
            "Bad Request: message is too long"
        );
    }
    // Hostile text is just text.
    let hostile = "<b>\"}{\u{0}'; DROP TABLE cases; --";
    let id = api.send_message(CHAT, hostile, &[]).unwrap();
    assert_eq!(fake.message_text(CHAT, id).as_deref(), Some(hostile));

    // Button data Telegram would refuse never leaves the client.
    let before = fake.calls("sendMessage");
    for data in ["", &"d".repeat(65), &"д".repeat(33)] {
        let rows = buttons(&[&[("ok", data)]]);
        let (code, description) = refused(api.send_message(CHAT, "menu", &rows));
        assert_eq!(code, 400);
        assert!(description.contains("BUTTON_DATA_INVALID"), "{description}");
        refused(api.edit_message_text(CHAT, id, "menu", &rows));
    }
    assert_eq!(fake.calls("sendMessage"), before);
    assert!(api.send_message(CHAT, "menu", &buttons(&[&[("ok", &"d".repeat(64))]])).is_ok());

    fake.block(CHAT);
    assert_eq!(
        refused(api.send_message(CHAT, "are you safe?", &[])),
        (403, "Forbidden: bot was blocked by the user".into())
    );
}

#[test]
fn a_wrong_token_is_refused_and_never_shown() {
    let fake = FakeBotApi::start();
    let wrong = "7012345678:AAF-notTheRightTokenAtAll_0123456789";
    let api = BotApi::new(&fake.base, Secret::new(wrong.into()));
    for result in [api.webhook_info().map(|_| ()), api.delete_message(CHAT, 1)] {
        let error = result.unwrap_err();
        assert_eq!(error, ApiError::Refused { code: 401, description: "Unauthorized".into() });
        assert!(!format!("{error} {error:?}").contains("notTheRight"));
    }
    assert_eq!(fake.calls("getWebhookInfo"), 0, "nothing reaches a method with a wrong token");
}

#[test]
fn every_fault_is_told_apart_and_hides_the_token() {
    let fake = FakeBotApi::start();
    let api = BotApi::with_timeouts(
        &fake.base,
        Secret::new(BOT_TOKEN.into()),
        Duration::from_millis(500),
        Duration::from_millis(700),
    );
    fake.update_text(1, CHAT, "hi");

    fake.fail_next("sendMessage", 2, Fault::RetryAfter(7));
    for _ in 0..2 {
        assert_eq!(
            api.send_message(CHAT, "x", &[]),
            Err(ApiError::RetryAfter(Duration::from_secs(7)))
        );
    }
    // Faults are per method, and used up.
    assert!(api.webhook_info().is_ok());
    assert!(api.send_message(CHAT, "x", &[]).is_ok());

    for status in [500, 502, 503] {
        fake.fail_next("SENDMESSAGE", 1, Fault::Status(status));
        match api.send_message(CHAT, "x", &[]) {
            Err(ApiError::Unreachable(reason)) => {
                assert!(reason.contains(&status.to_string()), "{reason}")
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    fake.fail_next("deleteMessage", 1, Fault::Status(400));
    assert_eq!(refused(api.delete_message(CHAT, 1)).0, 400);

    fake.fail_next("answerCallbackQuery", 1, Fault::Hang);
    let started = Instant::now();
    match api.answer_callback_query("anything") {
        Err(ApiError::Unreachable(reason)) => {
            assert!(!reason.contains(BOT_TOKEN) && !reason.contains("AAF-"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the timeout ends a hung request");
    assert_eq!(fake.calls("answerCallbackQuery"), 1);

    // Nobody listening: unreachable, with neither the token nor the URL in the reason.
    let closed = closed_port_base();
    let api = BotApi::new(&closed, Secret::new(BOT_TOKEN.into()));
    match api.send_message(CHAT, "x", &[]) {
        Err(ApiError::Unreachable(reason)) => {
            assert!(!reason.contains("AAF-") && !reason.contains("/bot"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_fakes_webhook_rules_are_telegrams() {
    let fake = FakeBotApi::start();
    let api = client(&fake);
    for (url, secret, expected) in [
        ("http://hotline.example.org/text/telegram", "ok", "An HTTPS URL must be provided"),
        ("http://127.0.0.1:8080/text/telegram", "ok", "An HTTPS URL must be provided"),
        ("https://hotline.example.org:8080/x", "ok", "ports 80, 88, 443 or 8443"),
        ("https://hotline.example.org/x", "has space", "unallowed characters"),
        ("https://hotline.example.org/x", "", "unallowed characters"),
        ("https://hotline.example.org/x", &"s".repeat(257), "unallowed characters"),
    ] {
        let (code, description) = refused(api.set_webhook(url, secret, 40));
        assert_eq!(code, 400);
        assert!(description.contains(expected), "{url} {secret}: {description}");
    }
    assert_eq!(fake.webhook(), None);
    fake.accept_loopback_webhooks();
    api.set_webhook("http://127.0.0.1:8080/text/telegram", "ok", 40).unwrap();
    assert_eq!(fake.webhook().unwrap().url, "http://127.0.0.1:8080/text/telegram");
}

#[test]
fn the_fakes_updates_parse_as_the_gateway_expects_and_hide_the_person() {
    let fake = FakeBotApi::start();
    let body = fake.update_text(10, CHAT, "I need help");
    // The names are in what Telegram sends…
    for name in [PERSON_FIRST_NAME, PERSON_LAST_NAME, PERSON_USERNAME] {
        assert!(body.contains(name), "{body}");
    }
    let update = Update::parse(body.as_bytes()).unwrap();
    assert_eq!(update.update_id, 10);
    assert_eq!(
        update.kind,
        UpdateKind::Text { chat_id: CHAT, message_id: 1, text: "I need help".into() }
    );
    // …and nothing of the person, nor the chat, shows in what the gateway gives.
    let shown = format!("{update:?}");
    for private in [PERSON_FIRST_NAME, PERSON_USERNAME, &CHAT.to_string(), "I need help"] {
        assert!(!shown.contains(private), "{shown}");
    }

    let photo = Update::parse(fake.update_photo(11, CHAT).as_bytes()).unwrap();
    assert_eq!(photo.kind, UpdateKind::Other { chat_id: Some(CHAT) });
    let group = Update::parse(fake.update_group_text(12, -1_001_234, "hi all").as_bytes()).unwrap();
    assert_eq!(group.kind, UpdateKind::Other { chat_id: None });
    let button = Update::parse(fake.update_button(13, CHAT, 1, "node:start").as_bytes()).unwrap();
    assert!(
        matches!(button.kind, UpdateKind::Button { chat_id: CHAT, message_id: 1, .. }),
        "{button:?}"
    );
    // The person's and the bot's messages share the chat's count.
    assert_eq!(client(&fake).send_message(CHAT, "ok", &[]).unwrap(), 3);
}

/// `http://127.0.0.1:PORT` where nothing listens.
fn closed_port_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// The `hotline` binary in `dir`, with no `HOTLINE_*` variable but the fake's API base.
fn hotline(dir: &Path, api_base: &str) -> Command {
    let mut cmd = binary::hotline(dir);
    cmd.env("HOTLINE_TELEGRAM_API_BASE", api_base);
    cmd
}

#[test]
fn set_webhook_registers_the_server_and_shows_the_new_secret_once() {
    let fake = FakeBotApi::start();
    let dir = tempfile::tempdir().unwrap();
    let output = hotline(dir.path(), &fake.base)
        .args(["telegram", "set-webhook", "--url", "https://hotline.example.org/"])
        .env("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN)
        .output()
        .unwrap();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    let webhook = fake.webhook().expect("registered");
    assert_eq!(webhook.url, "https://hotline.example.org/text/telegram");
    assert_eq!(webhook.allowed_updates, Some(vec!["message".into(), "callback_query".into()]));
    assert_eq!(webhook.max_connections, Some(40));
    assert!(!webhook.drop_pending_updates, "updates waiting are people writing for help");
    let secret = webhook.secret_token.unwrap();
    assert_eq!(secret.len(), 64);
    assert!(said.contains(&format!("export HOTLINE_TELEGRAM_SECRET={secret}")), "{said}");
    assert!(said.contains("url               https://hotline.example.org/text/telegram"), "{said}");
    assert!(said.contains("pending updates   0"), "{said}");
    assert!(said.contains("enabled is false"), "{said}");
    assert!(!said.contains("AAF-"), "the token is never printed: {said}");

    // With the secret given, it is the one registered, and not printed.
    let output = hotline(dir.path(), &fake.base)
        .args(["telegram", "set-webhook", "--url", "https://hotline.example.org:8443"])
        .env("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN)
        .env("HOTLINE_TELEGRAM_SECRET", "given_secret-0123")
        .env("HOTLINE_TELEGRAM_MAX_CONNECTIONS", "5")
        .env("HOTLINE_TELEGRAM_ENABLED", "true")
        .output()
        .unwrap();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    let webhook = fake.webhook().unwrap();
    assert_eq!(webhook.secret_token.as_deref(), Some("given_secret-0123"));
    assert_eq!(webhook.max_connections, Some(5));
    assert!(!said.contains("given_secret") && !said.contains("export"), "{said}");
    assert!(!said.contains("enabled is false"), "{said}");
}

#[test]
fn status_shows_what_telegram_has() {
    let fake = FakeBotApi::start();
    let dir = tempfile::tempdir().unwrap();
    let status = || {
        hotline(dir.path(), &fake.base)
            .args(["telegram", "status"])
            .env("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN)
            .output()
            .unwrap()
    };
    let output = status();
    assert_eq!(output.status.code(), Some(1), "no webhook yet: {}", text(&output));
    assert!(text(&output).contains("(none set)"), "{}", text(&output));

    client(&fake).set_webhook("https://hotline.example.org/text/telegram", "abc", 40).unwrap();
    fake.set_delivery(12, Some("Connection timed out\n\u{1b}[31m"));
    let output = status();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("pending updates   12"), "{said}");
    assert!(said.contains("last error        Connection timed out[31m (at 20"), "{said}");
    assert!(!said.contains('\u{1b}'), "Telegram's words cannot drive the terminal: {said:?}");
}

#[test]
fn set_webhook_says_what_is_wrong() {
    let fake = FakeBotApi::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |base: &str, args: &[&str], token: Option<&str>| {
        let mut cmd = hotline(dir.path(), base);
        cmd.args(["telegram", "set-webhook"]).args(args);
        if let Some(token) = token {
            cmd.env("HOTLINE_TELEGRAM_TOKEN", token);
        }
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        text(&output)
    };
    let public = ["--url", "https://hotline.example.org"];

    let wrong = "7012345678:AAF-notTheRightTokenAtAll_0123456789";
    let said = run(&fake.base, &public, Some(wrong));
    assert!(said.contains("401 Unauthorized") && said.contains("@BotFather"), "{said}");
    assert!(!said.contains("notTheRight"), "{said}");

    let said = run(&fake.base, &public, None);
    assert!(said.contains("HOTLINE_TELEGRAM_TOKEN is not set"), "{said}");
    let said = run(&fake.base, &public, Some("not-a-token"));
    assert!(said.contains("HOTLINE_TELEGRAM_TOKEN is not a bot token"), "{said}");
    assert!(!said.contains("not-a-token"), "{said}");

    let said = run(&closed_port_base(), &public, Some(BOT_TOKEN));
    assert!(said.contains("cannot reach the Telegram Bot API"), "{said}");
    assert!(!said.contains("AAF-"), "{said}");

    // The configured public URL by default: here none, so the local http:// one.
    let said = run(&fake.base, &[], Some(BOT_TOKEN));
    assert!(said.contains("only over https://") && said.contains("--url"), "{said}");
    let said = run(&fake.base, &["--url", "http://hotline.example.org"], Some(BOT_TOKEN));
    assert!(said.contains("only over https://"), "{said}");
    let said = run(&fake.base, &["--url", "https://hotline.example.org:8080"], Some(BOT_TOKEN));
    assert!(said.contains("ports 443, 80, 88 and 8443"), "{said}");
    let said =
        run(&fake.base, &["--url", "http://hotline.example.org", "--insecure"], Some(BOT_TOKEN));
    assert!(said.contains("only to this machine"), "{said}");
    assert_eq!(fake.calls("setWebhook"), 0, "nothing was sent for a URL Telegram refuses");

    // --insecure reaches a loopback server; Telegram itself (here the fake, faithful) refuses.
    let said = run(&fake.base, &["--url", "http://127.0.0.1:8080", "--insecure"], Some(BOT_TOKEN));
    assert!(said.contains("An HTTPS URL must be provided"), "{said}");
    fake.accept_loopback_webhooks();
    let output = hotline(dir.path(), &fake.base)
        .args(["telegram", "set-webhook", "--insecure"])
        .env("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(fake.webhook().unwrap().url, "http://127.0.0.1:8080/text/telegram");
}

#[test]
fn serve_refuses_to_start_the_bot_without_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = hotline(dir.path(), "https://api.telegram.org")
        .args(["serve"])
        .env("HOTLINE_SERVER_LISTEN", "127.0.0.1:0")
        .env("HOTLINE_TELEGRAM_ENABLED", "true")
        .env("HOTLINE_TELEGRAM_SECRET", "a-secret")
        .output()
        .unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("HOTLINE_TELEGRAM_TOKEN is not set"), "{said}");
    assert!(!said.contains("HOTLINE_TELEGRAM_SECRET is not set"), "{said}");
}
