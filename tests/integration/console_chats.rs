//! The operators' chat screens over HTTP, as a browser uses them: a person writes to the
//! Telegram bot (updates posted as Telegram posts them) until they wait for an operator, and
//! operators log in through the form, take the conversation, read it, answer and close it.
//! Real server.

use crate::common;

use common::TestApp;
use common::api::{self, TEST_PASSWORD};
use common::chats::chat_app;
use common::console::{Answer, Browser};
use common::telegram::FakeBotApi;
use hotline::domain::audit::AuditFilter;
use hotline::domain::people::{Person, Role};

/// A Telegram app (the bot's webhook open, its answers going to a fake Bot API).
async fn telegram_app() -> (TestApp, FakeBotApi) {
    let fake = FakeBotApi::start();
    (chat_app(&fake).await, fake)
}

/// An operator logged in, on a page of the console (its forms' CSRF token read).
async fn staff(app: &TestApp, name: &str, role: Role, languages: &[&str]) -> (Person, Browser) {
    let (person, _) = api::person(app, name, role, languages).await;
    let mut browser = Browser::login(app, name, TEST_PASSWORD).await;
    assert_eq!(browser.get("/console").await.status, 200);
    (person, browser)
}

/// A person of chat `chat_id` who chose Russian and asked for an operator (key 0), then
/// wrote `words`; updates numbered from `first_update`.
async fn waiting_person(
    (app, fake): &(TestApp, FakeBotApi),
    chat_id: i64,
    first_update: i64,
    words: &str,
) {
    app.telegram(fake.update_text(first_update, chat_id, "/start")).await;
    app.telegram(fake.update_button(first_update + 1, chat_id, 0, "l:ru")).await;
    app.telegram(fake.update_text(first_update + 2, chat_id, "0")).await;
    app.telegram(fake.update_text(first_update + 3, chat_id, words)).await;
}

/// The case numbers of the chats list's rows marked `testid`.
fn cases_in(html: &str, testid: &str) -> Vec<String> {
    let marker = format!(r#"data-testid="{testid}" data-case=""#);
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The one chat waiting, as the operator's chats list shows it.
async fn the_waiting_chat(browser: &mut Browser) -> String {
    let list = browser.get("/console/chats").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let waiting = cases_in(&list.body, "waiting-chat");
    assert_eq!(waiting.len(), 1, "{}", list.body);
    waiting[0].clone()
}

/// The messages of a conversation's page, one string per message with its tags removed.
fn messages(html: &str) -> Vec<String> {
    html.split(r#"data-testid="message""#)
        .skip(1)
        .map(|part| {
            let part = &part[..part.find("</li>").unwrap()];
            let mut plain = String::new();
            let mut in_tag = false;
            for c in part.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => plain.push(c),
                    _ => {}
                }
            }
            plain.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// Posts a form without the CSRF token, as another site's page would.
async fn post_without_csrf(browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Answer {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        body.append_pair(name, value);
    }
    browser.post_raw(path, body.finish().into_bytes()).await
}

fn audit(actor: i64, action: &str) -> AuditFilter {
    AuditFilter {
        actor: Some(actor),
        action: Some(action.into()),
        limit: 50,
        ..AuditFilter::default()
    }
}

#[tokio::test]
async fn an_operator_takes_a_waiting_chat_reads_it_and_replies_and_another_cannot() {
    // Arrange
    let both = telegram_app().await;
    let app = &both.0;
    let (olga, mut olga_browser) = staff(app, "olga", Role::Operator, &["ru"]).await;
    let (_, mut ivan) = staff(app, "ivan", Role::Operator, &["ru"]).await;
    let (_, mut minji) = staff(app, "minji", Role::Operator, &["ko"]).await;
    let empty = olga_browser.get("/console/chats").await;
    assert!(empty.body.contains(r#"data-testid="nobody-waiting""#), "{}", empty.body);
    assert!(empty.body.contains(r#"href="/console/chats""#), "the menu leads to the chats");

    // Act: a person reaches the queue; the live list shows them without a reload.
    waiting_person(&both, 5_550_001, 1, "Мне нужна помощь, я в подвале").await;
    let live = olga_browser.first_live_message("/console/chats/events").await;
    let case = the_waiting_chat(&mut olga_browser).await;

    // Assert: the waiting chat, to an operator of its language only.
    assert_eq!(cases_in(&live, "waiting-chat"), vec![case.clone()], "{live}");
    assert!(live.contains("Telegram") && live.contains(">ru<"), "{live}");
    let other = minji.get("/console/chats").await;
    assert!(cases_in(&other.body, "waiting-chat").is_empty(), "{}", other.body);
    let minji_live = minji.first_live_message("/console/chats/events").await;
    assert!(!minji_live.contains(&case), "{minji_live}");
    assert_eq!(minji.get(&format!("/console/chats/{case}")).await.status, 404);
    minji.get("/console/chats").await;
    let reached = minji.post(&format!("/console/chats/{case}/take"), &[]).await;
    assert_eq!(reached.status, 404, "{}", reached.body);

    // Act: Olga opens it (waiting: a Take button), takes it.
    let page = format!("/console/chats/{case}");
    let before = olga_browser.get(&page).await;
    assert_eq!(before.status, 200);
    assert_eq!(before.header("cache-control"), "no-store");
    assert!(before.body.contains(r#"data-testid="take""#), "{}", before.body);
    assert!(!before.body.contains(r#"data-testid="reply-text""#));
    let taken = olga_browser.post(&format!("{page}/take"), &[]).await;
    assert_eq!(taken.status, 303, "{}", taken.body);
    assert_eq!(taken.location(), page);

    // Assert: her chat, with the person's words, the script's prompts muted, a reply box.
    let mine = olga_browser.get(&page).await.body;
    assert!(mine.contains(r#"data-testid="reply-text""#), "{mine}");
    assert!(mine.contains(&format!(r#"href="/console/operator/case/{case}""#)), "{mine}");
    let said = messages(&mine);
    assert!(said.iter().any(|m| m.contains("Мне нужна помощь, я в подвале")), "{said:?}");
    assert!(mine.contains(r#"class="message script muted""#), "{mine}");
    let list = olga_browser.get("/console/chats").await.body;
    assert_eq!(cases_in(&list, "my-chat"), vec![case.clone()], "{list}");
    assert!(cases_in(&list, "waiting-chat").is_empty(), "{list}");

    // Act: she replies.
    let sent = olga_browser
        .post(&format!("{page}/reply"), &[("text", "Я здесь. Вы в безопасности?")])
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);

    // Assert: the reply is on the timeline with its delivery (pending, then sent once the Bot
    // API took it), it reached the person, and it is in the live region.
    let start = std::time::Instant::now();
    let reply = loop {
        let after = olga_browser.get(&page).await.body;
        let said = messages(&after);
        let reply = said
            .into_iter()
            .find(|m| m.contains("Я здесь. Вы в безопасности?"))
            .expect("the reply");
        assert!(reply.contains("olga"), "{reply}");
        assert!(reply.contains("pending") || reply.contains("sent"), "{reply}");
        if reply.contains("sent") || start.elapsed() > std::time::Duration::from_secs(10) {
            break reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(reply.contains("sent"), "never delivered: {reply}");
    let delivered = both.1.sent();
    assert!(delivered.iter().any(|m| m.text == "Я здесь. Вы в безопасности?"), "{delivered:?}");
    let timeline = olga_browser.first_live_message(&format!("{page}/events")).await;
    assert!(timeline.contains("Я здесь. Вы в безопасности?"), "{timeline}");
    let replies = app.storage.audit_log(audit(olga.id, "chat.reply")).await.unwrap();
    assert_eq!(replies.len(), 1);

    // Act and assert: Ivan, same language, reads it but cannot take it or reply to it.
    let theirs = ivan.get(&page).await;
    assert_eq!(theirs.status, 200);
    assert!(theirs.body.contains(r#"data-testid="read-only""#), "{}", theirs.body);
    assert!(theirs.body.contains("olga"), "the holder is named: {}", theirs.body);
    assert!(!theirs.body.contains(r#"data-testid="reply-text""#));
    let refused = ivan.post(&format!("{page}/take"), &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("another operator took it"), "{}", refused.body);
    let refused = ivan.post(&format!("{page}/reply"), &[("text", "Это Иван")]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("take the conversation"), "{}", refused.body);
    let after = messages(&olga_browser.get(&page).await.body);
    assert!(!after.iter().any(|m| m.contains("Это Иван")), "{after:?}");
}

#[tokio::test]
async fn bad_replies_are_refused_in_place_with_the_text_kept_and_nothing_sent() {
    // Arrange
    let both = telegram_app().await;
    let app = &both.0;
    let (olga, mut browser) = staff(app, "olga", Role::Operator, &["ru"]).await;
    waiting_person(&both, 5_550_002, 10, "<script>alert(1)</script> & я тут").await;
    let case = the_waiting_chat(&mut browser).await;
    let page = format!("/console/chats/{case}");
    assert_eq!(browser.post(&format!("{page}/take"), &[]).await.status, 303);
    let before = messages(&browser.get(&page).await.body);

    // Act and assert: each is refused with its reason, shown above the box holding the text.
    let long = "д".repeat(5000);
    let cases: [(&str, &str); 5] = [
        ("", "the reply is empty"),
        ("  \n\t ", "the reply is empty"),
        (&long, "5000 characters"),
        ("bell\u{7}here", "control characters"),
        ("nul\u{0}here", "control characters"),
    ];
    for (text, reason) in cases {
        let refused = browser.post(&format!("{page}/reply"), &[("text", text)]).await;
        assert_eq!(refused.status, 400, "{text:.20?}: {}", refused.body);
        assert!(refused.body.contains(r#"data-testid="reply-error""#), "{}", refused.body);
        assert!(refused.body.contains(reason), "{reason}: {}", refused.body);
        if text.trim().len() > 3 && !text.contains('\u{0}') && !text.contains('\u{7}') {
            assert!(refused.body.contains(&format!(">{text}</textarea>")), "the text is kept");
        }
    }
    let kept = browser.post(&format!("{page}/reply"), &[("text", "bell\u{7}here")]).await;
    assert!(kept.body.contains("bell\u{7}here</textarea>"), "the text is kept as typed");
    let forged =
        post_without_csrf(&mut browser, &format!("{page}/reply"), &[("text", "forged")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // Assert: nothing was stored or audited; the person's markup shows as text.
    let html = browser.get(&page).await.body;
    assert_eq!(messages(&html), before);
    assert!(app.storage.audit_log(audit(olga.id, "chat.reply")).await.unwrap().is_empty());
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62; &#38; я тут";
    assert!(html.contains(escaped), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    let live = browser.first_live_message(&format!("{page}/events")).await;
    assert!(live.contains(escaped) && !live.contains("<script>alert"), "{live}");

    // A reply of exactly the limit is taken.
    let full = "д".repeat(4096);
    let sent = browser.post(&format!("{page}/reply"), &[("text", &full)]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
}

#[tokio::test]
async fn closing_with_a_disposition_closes_the_case_and_removes_the_reply_box() {
    // Arrange
    let both = telegram_app().await;
    let app = &both.0;
    let (_, mut browser) = staff(app, "olga", Role::Operator, &["ru"]).await;
    waiting_person(&both, 5_550_003, 20, "помогите").await;
    let case = the_waiting_chat(&mut browser).await;
    let page = format!("/console/chats/{case}");
    let forged = post_without_csrf(&mut browser, &format!("{page}/take"), &[]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(the_waiting_chat(&mut browser).await, case, "a forged take took nothing");
    assert_eq!(browser.post(&format!("{page}/take"), &[]).await.status, 303);
    let html = browser.get(&page).await.body;
    assert!(html.contains(r#"<option value="" selected>"#), "no disposition preselected");
    assert!(html.contains(r#"<option value="referred">"#), "{html}");

    // Act and assert: a close without a known disposition, or forged, closes nothing.
    for bad in ["", "not-a-disposition", "<b>", &"d".repeat(10_000)] {
        let refused = browser.post(&format!("{page}/close"), &[("disposition", bad)]).await;
        assert_eq!(refused.status, 400, "{bad:.20}: {}", refused.body);
    }
    let forged =
        post_without_csrf(&mut browser, &format!("{page}/close"), &[("disposition", "referred")])
            .await;
    assert_eq!(forged.status, 403);
    assert!(browser.get(&page).await.body.contains(r#"data-testid="reply-text""#));

    // Act
    let closed = browser.post(&format!("{page}/close"), &[("disposition", "referred")]).await;
    assert_eq!(closed.status, 303, "{}", closed.body);
    assert_eq!(closed.location(), page);

    // Assert: closed, no reply box; the case page shows the disposition; replies refused.
    let after = browser.get(&page).await.body;
    assert!(after.contains(r#"data-testid="closed""#), "{after}");
    assert!(!after.contains(r#"data-testid="reply-text""#), "{after}");
    assert!(!after.contains(r#"data-testid="take""#), "{after}");
    let case_page = browser.get(&format!("/console/operator/case/{case}")).await.body;
    assert!(case_page.contains(r#"data-testid="disposition">referred<"#), "{case_page}");
    let late = browser.post(&format!("{page}/reply"), &[("text", "ещё слово")]).await;
    assert_eq!(late.status, 409, "{}", late.body);
    let list = browser.get("/console/chats").await.body;
    assert!(cases_in(&list, "my-chat").is_empty() && cases_in(&list, "waiting-chat").is_empty());
}

#[tokio::test]
async fn chat_pages_refuse_strangers_junk_numbers_and_open_only_with_a_session() {
    // Arrange
    let both = telegram_app().await;
    let app = &both.0;
    let (_, mut browser) = staff(app, "olga", Role::Operator, &["ru"]).await;
    waiting_person(&both, 5_550_004, 30, "слово").await;
    let case = the_waiting_chat(&mut browser).await;

    // Act and assert: no session, the login; a junk number, a clear 400; no chat, 404.
    let mut stranger = Browser::new(app);
    for path in ["/console/chats".to_owned(), format!("/console/chats/{case}")] {
        let answer = stranger.get(&path).await;
        assert_eq!(answer.status, 303, "{path}");
        assert_eq!(answer.location(), "/console/login");
    }
    assert!(stranger.first_event(&format!("/console/chats/{case}/events")).await.is_err());
    for junk in ["abc", "%3Cscript%3E", "2026-", &"9".repeat(5000)] {
        let answer = browser.get(&format!("/console/chats/{junk}")).await;
        assert_eq!(answer.status, 400, "{junk:.20}: {}", answer.body);
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
        let refused = browser.post(&format!("/console/chats/{junk}/take"), &[]).await;
        assert_eq!(refused.status, 400, "{junk:.20}");
    }
    let nobody = browser.get("/console/chats/2020-999999").await;
    assert_eq!(nobody.status, 404, "{}", nobody.body);
}
