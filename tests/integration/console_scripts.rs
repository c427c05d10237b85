//! The supervisors' script editor in the web console, used as a browser would: log in
//! through the form, keep the cookie, post forms with the session's CSRF token. What callers
//! hear is checked with signed webhooks.

use crate::common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use common::api::{TEST_PASSWORD, person};
use common::console::Browser;
use common::{TestApp, new_call_sid, said, spawn_app_with, text};
use hotline::domain::people::Role;

/// A server on its own copy of the scripts; that folder, and what holds it.
async fn spawn() -> (TestApp, PathBuf, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::shipped_scripts_copy(scratch.path());
    let app = spawn_app_with(|config| config.scripts.dir = dir.clone()).await;
    (app, dir, scratch)
}

const MAIN_EN: &str = "If you are a serviceman and want to surrender, press 1.";

/// The shipped English script with its main menu's first sentence replaced.
fn english_with(sentence: &str) -> String {
    let text = std::fs::read_to_string(common::shipped_scripts().join("en.xml")).unwrap();
    assert!(text.contains(MAIN_EN));
    text.replace(MAIN_EN, sentence)
}

/// What a new British caller (straight to English) hears in the main menu, through signed
/// webhooks. Each call is from another number: calls in progress per caller are limited.
async fn main_menu(app: &TestApp) -> String {
    static CALLERS: AtomicU32 = AtomicU32::new(0);
    let from = format!("+4477009{:05}", CALLERS.fetch_add(1, Ordering::Relaxed));
    let owned = [
        ("CallSid", new_call_sid()),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef".to_owned()),
        ("From", from),
        ("To", "+18005550100".to_owned()),
        ("CallStatus", "in-progress".to_owned()),
        ("FromCountry", "GB".to_owned()),
    ];
    let params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let welcome = app.post("/voice/incoming", &params).await;
    let next = text(&welcome.body, "Redirect").expect("the welcome continues");
    said(&app.post(&next, &params).await.body).concat()
}

/// A browser logged in as `name` through the form, holding its session's CSRF token.
async fn logged_in(app: &TestApp, name: &str) -> Browser {
    let mut browser = Browser::login(app, name, TEST_PASSWORD).await;
    assert_eq!(browser.get("/console").await.status, 200);
    browser
}

/// A form body, URL-encoded, exactly these fields.
fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        encoded.append_pair(name, value);
    }
    encoded.finish().into_bytes()
}

/// `text` as the pages escape it.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;").replace('"', "&#34;")
}

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|line| line.contains(needle)).expect("the needle is in the text") + 1
}

async fn version_count(app: &TestApp) -> usize {
    app.storage.script_versions(None, 1000).await.unwrap().len()
}

/// The newest version of a file: its id and comment.
async fn newest(app: &TestApp, file: &str) -> (i64, String) {
    let versions = app.storage.script_versions(Some(file.into()), 1).await.unwrap();
    (versions[0].id, versions[0].comment.clone())
}

#[tokio::test]
async fn a_broken_script_is_shown_at_its_line_refused_then_fixed_published_and_rolled_back() {
    let (app, dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["en"]).await;
    let mut boss = logged_in(&app, "boss").await;

    let list = boss.get("/console/scripts").await;
    assert_eq!(list.status, 200, "{}", list.body);
    for file in ["languages.xml", "en.xml", "ru.xml", "uk.xml", "ko.xml"] {
        assert!(list.body.contains(&format!(r#"href="/console/scripts/{file}""#)), "{file}");
    }
    let (original, _) = newest(&app, "en.xml").await;
    let editor = boss.get("/console/scripts/en.xml").await;
    assert_eq!(editor.status, 200);
    assert!(editor.body.contains(MAIN_EN), "the live text is in the editor");
    assert!(editor.body.contains("hotline call --draft en"), "test-call instructions");
    assert!(editor.body.contains(r#"src="/console/scripts/en.xml/graph.svg""#));
    let svg = boss.get("/console/scripts/en.xml/graph.svg").await;
    assert_eq!(svg.status, 200);
    assert!(svg.body.starts_with("<svg") && svg.body.contains("main"), "{}", svg.body);

    // Broken: an option leads to a node that does not exist.
    let broken = english_with("Press 1.").replace(r#"goto="surrender-group""#, r#"goto="nowhere""#);
    let line = line_of(&broken, r#"goto="nowhere""#);
    // A browser sends a text area's lines with CRLF.
    let typed = broken.replace('\n', "\r\n");
    let saved = boss.post("/console/scripts/en.xml/validate", &[("text", &typed)]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location(), "/console/scripts/en.xml?done=saved");
    let drafts = app.storage.drafts().await.unwrap();
    assert_eq!(drafts["en.xml"].text, broken, "saved with the file's own line endings");

    let shown = boss.get("/console/scripts/en.xml?done=saved").await;
    assert!(shown.body.contains(&format!(r##"<a href="#line-{line}">"##)), "{}", shown.body);
    assert!(shown.body.contains(&format!(r#"<li id="line-{line}" class="error">"#)));
    let item = &shown.body[shown.body.find(&format!(r#"data-line="{line}""#)).unwrap()..];
    let item = &item[..item.find("</li>").unwrap()];
    assert!(item.contains("nowhere"), "the message names the node: {item}");
    assert!(shown.body.contains(r#"class="diagnostic error""#));

    // Publishing is refused with the same diagnostic; callers keep the live version.
    let before = version_count(&app).await;
    let refused =
        boss.post("/console/scripts/en.xml/publish", &[("text", &typed), ("comment", "try")]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains(&format!(r##"<a href="#line-{line}">"##)));
    assert!(refused.body.contains(r#"class="flash error""#));
    assert_eq!(version_count(&app).await, before, "nothing was published");
    assert!(main_menu(&app).await.contains(MAIN_EN));
    assert_eq!(std::fs::read_to_string(dir.join("en.xml")).unwrap(), english_with(MAIN_EN));

    // Fixed and published: the next call hears it.
    let fixed = english_with("Soldier, to surrender press 1.");
    let published = boss
        .post("/console/scripts/en.xml/publish", &[("text", &fixed), ("comment", "shorter")])
        .await;
    assert_eq!(published.status, 303, "{}", published.body);
    assert_eq!(published.location(), "/console/scripts/en.xml?done=published");
    assert!(main_menu(&app).await.contains("Soldier, to surrender press 1."));
    let (live, comment) = newest(&app, "en.xml").await;
    assert_eq!(comment, "shorter");
    assert!(app.storage.drafts().await.unwrap().is_empty(), "the draft became the version");
    assert_eq!(std::fs::read_to_string(dir.join("en.xml")).unwrap(), fixed);

    // The history shows the change against the live version.
    let history = boss.get(&format!("/console/scripts/en.xml?diff={original}")).await;
    assert_eq!(history.status, 200);
    assert!(history.body.contains(&format!(r#"data-testid="rollback-{original}""#)));
    let removed = escaped(&format!("-    <say>{MAIN_EN}"));
    assert!(history.body.contains(&format!(r#"<span class="removed">{removed}"#)), "{removed}");
    let added = escaped("+    <say>Soldier, to surrender");
    assert!(history.body.contains(&format!(r#"<span class="added">{added}"#)), "{added}");
    assert!(history.body.contains(&format!("{original} → {live}")));

    // Rolled back: the next call hears the original again.
    let rolled =
        boss.post("/console/scripts/en.xml/rollback", &[("version", &original.to_string())]).await;
    assert_eq!(rolled.status, 303, "{}", rolled.body);
    assert!(main_menu(&app).await.contains(MAIN_EN));
    let (_, comment) = newest(&app, "en.xml").await;
    assert_eq!(comment, format!("rollback to version {original}"));

    let filter = hotline::domain::audit::AuditFilter { limit: 100, ..Default::default() };
    let audit = app.storage.audit_log(filter).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|line| line.action.as_str()).collect();
    assert!(actions.contains(&"scripts.publish") && actions.contains(&"scripts.rollback"));
    app.stop().await;
}

#[tokio::test]
async fn operators_get_403_and_change_nothing() {
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "olga", Role::Operator, &["ru", "uk"]).await;
    let mut olga = logged_in(&app, "olga").await;
    for path in [
        "/console/scripts",
        "/console/scripts/en.xml",
        "/console/scripts/en.xml?diff=1",
        "/console/scripts/en.xml/graph.svg",
    ] {
        let answer = olga.get(path).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
    }
    let before = version_count(&app).await;
    let fixed = english_with("An operator's edit.");
    for (path, fields) in [
        ("/console/scripts/en.xml/validate", vec![("text", fixed.as_str())]),
        ("/console/scripts/en.xml/publish", vec![("text", fixed.as_str()), ("comment", "x")]),
        ("/console/scripts/en.xml/rollback", vec![("version", "1")]),
        ("/console/scripts/en.xml/discard", vec![]),
    ] {
        let answer = olga.post(path, &fields).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
    }
    assert!(app.storage.drafts().await.unwrap().is_empty());
    assert_eq!(version_count(&app).await, before);

    // Nobody logged in is sent to the login page.
    let anonymous = Browser::new(&app).get("/console/scripts/en.xml").await;
    assert_eq!((anonymous.status, anonymous.location()), (303, "/console/login"));
    app.stop().await;
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["en"]).await;
    let mut boss = logged_in(&app, "boss").await;
    let before = version_count(&app).await;
    let edited = english_with("Forged: press 1.");
    let forged = "0".repeat(64);
    for csrf in [None, Some(""), Some(forged.as_str())] {
        let mut fields = vec![("text", edited.as_str()), ("comment", "forged")];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        for path in ["/console/scripts/en.xml/publish", "/console/scripts/en.xml/validate"] {
            let answer = boss.post_raw(path, form(&fields)).await;
            assert_eq!(answer.status, 403, "{path} with csrf {csrf:?}: {}", answer.body);
        }
        let rollback = boss.post_raw("/console/scripts/en.xml/rollback", form(&[("version", "2")]));
        assert_eq!(rollback.await.status, 403);
    }
    assert!(app.storage.drafts().await.unwrap().is_empty(), "no draft was saved");
    assert_eq!(version_count(&app).await, before, "nothing was published");
    assert!(main_menu(&app).await.contains(MAIN_EN));
    app.stop().await;
}

#[tokio::test]
async fn hostile_values_are_refused_and_change_nothing() {
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["en"]).await;
    let mut boss = logged_in(&app, "boss").await;
    let before = version_count(&app).await;
    let valid = english_with("Press 1 to surrender.");
    let csrf = boss.csrf().expect("the page's CSRF token").to_owned();

    // A 5 MB body.
    let mut huge = form(&[("csrf", &csrf), ("comment", "big")]);
    huge.extend_from_slice(b"&text=");
    huge.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
    let answer = boss.post_raw("/console/scripts/en.xml/publish", huge).await;
    assert!([400, 413, 0].contains(&answer.status), "a 5 MB form: {}", answer.status);
    // Just over a script's limit, inside the form's: the script rule speaks.
    let big = "a".repeat(1024 * 1024 + 1);
    let answer = boss.post("/console/scripts/en.xml/validate", &[("text", &big)]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("at most 1 MiB"), "{}", answer.body);

    // Bytes that are not UTF-8, percent-encoded and raw.
    for text in [&b"%FF%FEbroken"[..], &b"\xff\xfe<script>"[..]] {
        let mut body = form(&[("csrf", &csrf)]);
        body.extend_from_slice(b"&text=");
        body.extend_from_slice(text);
        let answer = boss.post_raw("/console/scripts/en.xml/validate", body).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(answer.body.contains("UTF-8"), "{}", answer.body);
    }

    // File names that are not script files, or not ones that exist.
    for file in ["..%2F..%2Fetc%2Fpasswd", "passwd", "xx.xml", "en.xml.bak", "%00", "EN.xml"] {
        let answer = boss.get(&format!("/console/scripts/{file}")).await;
        assert_eq!(answer.status, 404, "GET {file}: {}", answer.body);
        let path = format!("/console/scripts/{file}/validate");
        let answer = boss.post(&path, &[("text", &valid)]).await;
        assert_eq!(answer.status, 404, "POST {file}: {}", answer.body);
    }
    assert_eq!(boss.get("/console/scripts/languages.xml/graph.svg").await.status, 404);

    // Comments: a line break or more than 500 characters is refused before anything is
    // saved; an empty one is allowed (the rule of every surface).
    let long = "c".repeat(501);
    for comment in ["two\nlines", "bell\u{7}", long.as_str()] {
        let fields = [("text", valid.as_str()), ("comment", comment)];
        let answer = boss.post("/console/scripts/en.xml/publish", &fields).await;
        assert_eq!(answer.status, 400, "comment {comment:?}: {}", answer.body);
    }

    // Wrong versions and queries.
    let answer = boss.post("/console/scripts/en.xml/rollback", &[("version", "abc")]).await;
    assert_eq!(answer.status, 400);
    let (ru, _) = newest(&app, "ru.xml").await;
    let ru = ru.to_string();
    let answer = boss.post("/console/scripts/en.xml/rollback", &[("version", &ru)]).await;
    assert_eq!(answer.status, 404, "a version of another file");
    assert_eq!(boss.get("/console/scripts/en.xml?diff=abc").await.status, 400);
    assert_eq!(boss.get(&format!("/console/scripts/en.xml?diff={ru}")).await.status, 404);
    assert_eq!(boss.post("/console/scripts/en.xml/validate", &[]).await.status, 400);
    assert_eq!(boss.post("/console/scripts/en.xml/discard", &[]).await.status, 404);

    assert!(app.storage.drafts().await.unwrap().is_empty(), "no draft was saved");
    assert_eq!(version_count(&app).await, before, "nothing was published");

    let answer =
        boss.post("/console/scripts/en.xml/publish", &[("text", &valid), ("comment", "")]).await;
    assert_eq!(answer.status, 303, "an empty comment: {}", answer.body);
    assert!(main_menu(&app).await.contains("Press 1 to surrender."));
    app.stop().await;
}

#[tokio::test]
async fn the_editor_speaks_ukrainian_and_escapes_the_script() {
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["uk"]).await;
    let mut boss = logged_in(&app, "boss").await;
    let answer = boss.post("/console/language", &[("language", "uk")]).await;
    assert_eq!(answer.status, 303);
    let list = boss.get("/console/scripts").await;
    assert!(list.body.contains("<h1>Сценарії</h1>"), "{}", list.body);

    // A text that would close the text area is shown as text, not markup.
    let hostile = english_with("</textarea><script>alert(1)</script>");
    let saved = boss.post("/console/scripts/en.xml/validate", &[("text", &hostile)]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let editor = boss.get("/console/scripts/en.xml").await;
    assert!(editor.body.contains("Перевірити (зберегти чернетку)"));
    // Versions are named in Ukrainian too: в1, with the id beside it.
    assert!(
        editor
            .body
            .contains(r#"<strong class="version-label">в1</strong> <small class="muted">ід. "#)
    );
    assert!(!editor.body.contains("<script>alert(1)"));
    assert!(editor.body.contains(&escaped("</textarea><script>alert(1)")));
    app.stop().await;
}

/// What a British caller from `from` hears in the main menu.
async fn main_menu_from(app: &TestApp, from: &str) -> String {
    let sid = new_call_sid();
    let params = [
        ("CallSid", sid.as_str()),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", from),
        ("To", "+18005550100"),
        ("CallStatus", "in-progress"),
        ("FromCountry", "GB"),
    ];
    let welcome = app.post("/voice/incoming", &params).await;
    let next = text(&welcome.body, "Redirect").expect("the welcome continues");
    said(&app.post(&next, &params).await.body).concat()
}

/// The audit lines of `action`, newest first.
async fn audit_lines(app: &TestApp, action: &str) -> Vec<hotline::domain::audit::AuditRecord> {
    let filter = hotline::domain::audit::AuditFilter { limit: 100, ..Default::default() };
    let lines = app.storage.audit_log(filter).await.unwrap();
    lines.into_iter().filter(|line| line.action == action).collect()
}

#[tokio::test]
async fn a_test_caller_added_on_the_screen_hears_the_draft_until_removed_and_is_never_shown() {
    const TESTER: &str = "+447700900555";
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["en"]).await;
    let mut boss = logged_in(&app, "boss").await;
    let drafted = english_with("Draft: press 1 to surrender.");
    let saved = boss.post("/console/scripts/en.xml/validate", &[("text", &drafted)]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(main_menu_from(&app, TESTER).await.contains(MAIN_EN), "not a tester yet");

    let editor = boss.get("/console/scripts/en.xml").await;
    assert!(editor.body.contains(r#"action="/console/scripts/en.xml/testers""#));
    let added = boss
        .post("/console/scripts/en.xml/testers", &[("number", TESTER), ("label", "Sofia's <b>")])
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let tester = app.storage.tester_list().await.unwrap()[0].id;
    assert_eq!(
        added.location(),
        format!("/console/scripts/en.xml?done=tester-added&tester={tester}#testers")
    );
    let shown = boss.get("/console/scripts/en.xml?done=tester-added").await;
    assert!(shown.body.contains("Calls from this number now hear the draft"), "{}", shown.body);
    assert!(shown.body.contains("Sofia&#39;s &#60;b&#62;"), "the label, escaped");
    assert!(!shown.body.contains("900555") && !shown.body.contains("7700"), "the number is shown");
    // The number now hears the draft; everyone else the live version.
    assert!(main_menu_from(&app, TESTER).await.contains("Draft: press 1 to surrender."));
    assert!(main_menu(&app).await.contains(MAIN_EN));
    // Audited as the API does it: who, which tester, the label, never the number.
    let lines = audit_lines(&app, "scripts.tester-add").await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].actor_name.as_deref(), Some("boss"));
    assert!(!lines[0].detail.contains("900555"), "{}", lines[0].detail);

    // The same number typed with separators is the same tester: it keeps its id and takes the
    // new label, and the page says so instead of saying it now hears the draft.
    let spaced = "+44 (7700) 900-555";
    let again = boss
        .post(
            "/console/scripts/en.xml/testers",
            &[("number", spaced), ("label", "  Соня — 상담원 ")],
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    let location = again.location().to_owned();
    assert_eq!(
        location,
        format!("/console/scripts/en.xml?done=tester-relabelled&tester={tester}#testers")
    );
    let shown = boss.get(location.trim_end_matches("#testers")).await;
    assert!(
        shown.body.contains("already a test caller; its label is now “Соня — 상담원”"),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("Calls from this number now hear the draft"));
    let testers = app.storage.tester_list().await.unwrap();
    assert_eq!(testers.len(), 1, "{testers:?}");
    assert_eq!((testers[0].id, testers[0].label.as_str()), (tester, "Соня — 상담원"));
    // A tester id that is not one, or not a number, says nothing rather than guessing.
    for wrong in ["4242", "x", ""] {
        let page = boss
            .get(&format!("/console/scripts/en.xml?done=tester-relabelled&tester={wrong}"))
            .await;
        assert_eq!(page.status, 200, "{wrong}");
        assert!(!page.body.contains(r#"data-testid="tester-notice""#), "{wrong}");
    }

    // Removed from the same screen: the number hears the live version again.
    assert!(shown.body.contains(&format!(r#"data-testid="remove-tester-{tester}""#)));
    let path = format!("/console/scripts/en.xml/testers/{tester}/remove");
    let removed = boss.post(&path, &[]).await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(removed.location(), "/console/scripts/en.xml?done=tester-removed#testers");
    let shown = boss.get("/console/scripts/en.xml?done=tester-removed").await;
    assert!(shown.body.contains("Test caller removed"), "{}", shown.body);
    assert!(shown.body.contains(r#"data-testid="no-testers""#));
    assert!(main_menu_from(&app, TESTER).await.contains(MAIN_EN), "still hears the draft");
    assert_eq!(audit_lines(&app, "scripts.tester-remove").await.len(), 1);
    // Gone already: nothing to remove.
    assert_eq!(boss.post(&path, &[]).await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn wrong_numbers_labels_and_ids_of_test_callers_are_refused_on_the_page() {
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["en"]).await;
    person(&app, "olga", Role::Operator, &["ru"]).await;
    let mut boss = logged_in(&app, "boss").await;
    boss.get("/console/scripts/ru.xml").await;

    let huge = format!("+44{}", "7".repeat(200_000));
    for number in [
        "",
        "   ",
        "447700900777",
        "+44",
        "+4477009007774567",
        "+44/7700/900123",
        "+44_7700_900123",
        "+44\t7700900123",
        "+44770090077x",
        "+４４７７００９００７７７",
        "+447700900777\n+447700900124",
        "<script>alert(1)</script>",
        huge.as_str(),
    ] {
        let fields = [("number", number), ("label", "a label")];
        let answer = boss.post("/console/scripts/ru.xml/testers", &fields).await;
        assert_eq!(answer.status, 400, "{number:?}: {}", answer.body);
        // The editor again, saying why, with the label kept and the number not echoed.
        assert!(answer.body.contains(r#"data-testid="tester-notice""#), "{number:?}");
        assert!(answer.body.contains("The test caller was not added: a number is + and 6 to 15"));
        assert!(answer.body.contains(r#"value="a label""#));
        assert!(!answer.body.contains("<script>alert(1)") && !answer.body.contains("7700900777"));
        assert!(!answer.body.contains(&"7".repeat(30)), "{number:?}: the number is echoed");
    }
    // The trunk zero written the British way would make a number no call comes from.
    let fields = [("number", "+44 (0) 7700 900777"), ("label", "a label")];
    let answer = boss.post("/console/scripts/ru.xml/testers", &fields).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("leave out the (0)"), "{}", answer.body);
    let long = "l".repeat(65);
    let huge = "l".repeat(100_000);
    for (label, why) in [
        ("", "it may not be empty"),
        ("   ", "it may not be empty"),
        ("\u{a0}\t\u{3000}", "it may not be empty"),
        (long.as_str(), "a label is at most 64 characters"),
        (huge.as_str(), "a label is at most 64 characters"),
        ("two\nlines", "a label may not contain control or direction characters"),
        ("bell\u{7}", "a label may not contain control or direction characters"),
        ("nul\0", "a label may not contain control or direction characters"),
        ("\u{202e}enohp s'ylO", "a label may not contain control or direction characters"),
    ] {
        let fields = [("number", "+447700900777"), ("label", label)];
        let answer = boss.post("/console/scripts/ru.xml/testers", &fields).await;
        assert_eq!(answer.status, 400, "{label:?}: {}", answer.body);
        assert!(answer.body.contains(why), "{label:?}: {}", answer.body);
    }
    // Without the session's token, or from an operator: refused.
    let forged = form(&[("number", "+447700900777"), ("label", "x")]);
    assert_eq!(boss.post_raw("/console/scripts/ru.xml/testers", forged).await.status, 403);
    let mut olga = logged_in(&app, "olga").await;
    let fields = [("number", "+447700900777"), ("label", "x")];
    assert_eq!(olga.post("/console/scripts/ru.xml/testers", &fields).await.status, 403);
    assert!(app.storage.tester_list().await.unwrap().is_empty(), "a tester was added");
    assert!(audit_lines(&app, "scripts.tester-add").await.is_empty());

    // Ids that are not a tester's.
    boss.post("/console/scripts/ru.xml/testers", &fields).await;
    let id = app.storage.tester_list().await.unwrap()[0].id;
    for (wrong, status) in
        [("abc", 400), ("0", 400), ("-1", 400), ("99999999999999999999", 400), ("4242", 404)]
    {
        let path = format!("/console/scripts/ru.xml/testers/{wrong}/remove");
        assert_eq!(boss.post(&path, &[]).await.status, status, "{wrong}");
    }
    let path = format!("/console/scripts/ru.xml/testers/{id}/remove");
    assert_eq!(olga.post(&path, &[]).await.status, 403);
    assert_eq!(boss.post_raw(&path, Vec::new()).await.status, 403);
    assert_eq!(
        boss.post(&format!("/console/scripts/xx.xml/testers/{id}/remove"), &[]).await.status,
        404
    );
    assert_eq!(app.storage.tester_list().await.unwrap().len(), 1, "a tester was removed");
    app.stop().await;
}

#[tokio::test]
async fn versions_are_counted_per_file_with_their_id_beside() {
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["en"]).await;
    let mut boss = logged_in(&app, "boss").await;
    let (first, _) = newest(&app, "en.xml").await;
    // Two versions of en.xml with one of ru.xml between them: the ids skip, the count does not.
    for (file, text) in [
        ("en.xml", english_with("Second: press 1.")),
        ("ru.xml", {
            let ru = std::fs::read_to_string(common::shipped_scripts().join("ru.xml")).unwrap();
            ru.replacen("</say>", " </say>", 1)
        }),
        ("en.xml", english_with("Third: press 1.")),
    ] {
        let path = format!("/console/scripts/{file}/publish");
        let answer = boss.post(&path, &[("text", &text), ("comment", "")]).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
    }
    let (third, _) = newest(&app, "en.xml").await;
    let (ru, _) = newest(&app, "ru.xml").await;
    assert!(ru > first && ru < third);

    let editor = boss.get(&format!("/console/scripts/en.xml?diff={first}")).await;
    let rows: Vec<&str> = editor
        .body
        .match_indices("data-ordinal=\"")
        .map(|(at, _)| {
            let rest = &editor.body[at + 14..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(rows, ["3", "2", "1"], "newest first");
    assert!(editor.body.contains(&format!(
        r#"<strong class="version-label">v3</strong> <small class="muted">id {third}</small>"#
    )));
    assert!(editor.body.contains("Roll back v1"));
    assert!(
        editor.body.contains("Make v1 of en.xml live again? Callers hear it from their next call.")
    );
    let title = &editor.body[editor.body.find(r#"data-testid="diff-title""#).unwrap()..];
    let title = &title[..title.find("</h3>").unwrap()];
    assert!(title.contains("Changes from v1 of en.xml → v3"), "{title}");
    assert!(title.contains(&format!("id {first} → {third}")), "{title}");
    assert!(
        editor.body.contains(&escaped(&format!("--- v1 of en.xml (id {first}, "))),
        "the diff's head"
    );

    let list = boss.get("/console/scripts").await;
    let row = |file: &str| {
        let at = list.body.find(&format!(r#"data-file="{file}""#)).unwrap();
        list.body[at..at + list.body[at..].find("</tr>").unwrap()].to_owned()
    };
    assert!(
        row("en.xml").contains(&format!(r#">v3</span> <small class="muted">id {third}</small>"#))
    );
    assert!(row("ru.xml").contains(&format!(r#">v2</span> <small class="muted">id {ru}</small>"#)));
    assert!(row("ko.xml").contains(">v1</span>"));
    app.stop().await;
}

#[tokio::test]
async fn a_drafts_diagnostics_name_the_draft() {
    let (app, _dir, _scratch) = spawn().await;
    person(&app, "boss", Role::Supervisor, &["en"]).await;
    let mut boss = logged_in(&app, "boss").await;
    let broken = english_with("Press 1.").replace(r#"goto="surrender-group""#, r#"goto="nowhere""#);
    let line = line_of(&broken, r#"goto="nowhere""#);
    boss.post("/console/scripts/en.xml/validate", &[("text", &broken)]).await;

    let own = boss.get("/console/scripts/en.xml").await;
    assert!(
        own.body.contains(&format!(
            r##"<a href="#line-{line}">draft of en.xml, line {line}, column "##
        )),
        "{}",
        own.body
    );
    // From another file's editor: the same words, leading to the draft's line.
    let other = boss.get("/console/scripts/ru.xml").await;
    assert!(
        other.body.contains(&format!(
            r#"<a href="/console/scripts/en.xml#line-{line}">draft of en.xml, line {line}, column "#
        )),
        "{}",
        other.body
    );
    assert!(!other.body.contains("ivr-scripts/en.xml") && !other.body.contains("en.xml:"));
    app.stop().await;
}
