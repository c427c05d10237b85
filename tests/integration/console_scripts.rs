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
    assert!(!editor.body.contains("<script>alert(1)"));
    assert!(editor.body.contains(&escaped("</textarea><script>alert(1)")));
    app.stop().await;
}
