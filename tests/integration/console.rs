//! The web console's foundation, seen from a browser: logging in and out, sessions and their
//! end, the CSRF token of every form, the login limit, the security headers, the interface
//! language, and hostile input at the login.

use crate::common;

use common::api::{self, TEST_PASSWORD};
use common::console::{Browser, csrf_of};
use common::spawn_app_with;
use hotline::domain::audit::AuditAction;
use hotline::domain::audit::AuditFilter;
use hotline::domain::people::Role;
use hotline::storage::ChangedBy;

#[tokio::test]
async fn a_login_gives_a_session_cookie_that_scripts_and_other_sites_cannot_use() {
    let app = spawn_app_with(|_| {}).await;
    let (anna, _) = api::person(&app, "anna", Role::Operator, &["ru", "uk"]).await;
    let mut browser = Browser::new(&app);
    let form = browser.get("/console/login").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"password\" type=\"password\""));
    let answer = browser.log_in("anna", TEST_PASSWORD).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), "/console");
    let session = answer
        .header("set-cookie")
        .lines()
        .find(|c| c.starts_with("hotline_session="))
        .expect("a session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    // Plain HTTP here: the cookie cannot be Secure, or the browser would drop it.
    assert!(!session.contains("Secure"));

    let home = browser.get("/console").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("anna · operator"), "{}", home.body);
    // The menu an operator sees: their screens, none of a supervisor's.
    assert!(home.body.contains("/console/operator"));
    assert!(!home.body.contains("/console/people"));

    let audit = app
        .storage
        .audit_log(AuditFilter { actor: Some(anna.id), limit: 10, ..AuditFilter::default() })
        .await
        .unwrap();
    assert!(audit.iter().any(|line| line.action == "console.login"), "{audit:?}");
}

#[tokio::test]
async fn every_console_answer_carries_the_security_headers() {
    let app = spawn_app_with(|_| {}).await;
    let mut browser = Browser::new(&app);
    let form = browser.get("/console/login").await;
    let csp = form.header("content-security-policy");
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(form.header("x-frame-options"), "DENY");
    assert_eq!(form.header("x-content-type-options"), "nosniff");
    assert_eq!(form.header("cache-control"), "no-store");
    // No inline script or style anywhere: the CSP would block it.
    assert!(!form.body.contains("<script>") && !form.body.contains("style="));
    let script = browser.get("/console/assets/console.js").await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert!(script.body.contains("EventSource"));
}

#[tokio::test]
async fn wrong_unknown_and_disabled_logins_fail_alike() {
    let app = spawn_app_with(|_| {}).await;
    let (gone, _) = api::person(&app, "gone", Role::Operator, &["ru"]).await;
    api::person(&app, "anna", Role::Operator, &["ru"]).await;
    app.storage
        .change_disabled(
            gone.id,
            true,
            ChangedBy::Cli,
            AuditAction::UserDisable,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    for (name, password) in [
        ("anna", "not-the-password"),
        ("anna", ""),
        ("nobody", TEST_PASSWORD),
        ("gone", TEST_PASSWORD),
        ("ANNA", TEST_PASSWORD),
    ] {
        let mut browser = Browser::new(&app);
        let answer = browser.log_in(name, password).await;
        assert_eq!(answer.status, 401, "{name}/{password}");
        assert!(answer.body.contains("The name or the password is wrong."), "{name}");
        assert!(!browser.has_session(), "{name}");
        assert_eq!(browser.get("/console").await.location(), "/console/login");
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_name_even_for_the_right_password() {
    let app = spawn_app_with(|config| config.console.login_failures = 3).await;
    api::person(&app, "anna", Role::Operator, &["ru"]).await;
    api::person(&app, "bob", Role::Operator, &["ru"]).await;
    let mut browser = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(browser.log_in("anna", "guess-guess-guess").await.status, 401);
    }
    let locked = browser.log_in("anna", TEST_PASSWORD).await;
    assert_eq!(locked.status, 429);
    assert!(locked.body.contains("Too many failed logins"));
    assert!(!browser.has_session());
    // Someone else can still log in.
    Browser::login(&app, "bob", TEST_PASSWORD).await;
}

#[tokio::test]
async fn a_form_without_its_sessions_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let (anna, _) = api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let mut browser = Browser::login(&app, "anna", TEST_PASSWORD).await;
    browser.get("/console/settings").await;
    let token = browser.csrf().unwrap().to_owned();
    let other = Browser::login(&app, "anna", TEST_PASSWORD).await.csrf().map(str::to_owned);
    for body in [
        "language=uk".to_owned(),
        "language=uk&csrf=".to_owned(),
        format!("language=uk&csrf={}", "0".repeat(64)),
        format!("language=uk&csrf={}", other.unwrap_or_default()),
        format!("language=uk&csrf={}x", token),
    ] {
        let answer = browser.post_raw("/console/language", body.clone().into_bytes()).await;
        assert_eq!(answer.status, 403, "{body}");
        assert!(answer.body.contains("reload the page"), "{body}");
    }
    assert!(browser.get("/console").await.body.contains("<html lang=\"en\">"));
    // With it, the same form works.
    let answer = browser.post("/console/language", &[("language", "uk")]).await;
    assert_eq!(answer.status, 303);
    let home = browser.get("/console").await;
    assert!(home.body.contains("<html lang=\"uk\">"));
    assert!(home.body.contains("Вийти"), "the menu is in Ukrainian");
    // The login form has its own token, in a cookie and a field: a forged login is refused.
    let mut stranger = Browser::new(&app);
    let forged = stranger
        .post_raw("/console/login", format!("name=anna&password={TEST_PASSWORD}").into_bytes())
        .await;
    assert_eq!(forged.status, 403);
    assert!(!stranger.has_session());
    let _ = anna;
}

#[tokio::test]
async fn logging_out_ends_the_session_for_good_and_is_audited() {
    let app = spawn_app_with(|_| {}).await;
    let (anna, _) = api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let mut browser = Browser::login(&app, "anna", TEST_PASSWORD).await;
    let copy = browser.clone();
    browser.get("/console").await;
    let answer = browser.post("/console/logout", &[]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/console/login");
    assert!(!browser.has_session());
    // The stolen cookie of the ended session is worth nothing.
    let mut copy = copy;
    assert_eq!(copy.get("/console").await.location(), "/console/login");
    let audit = app
        .storage
        .audit_log(AuditFilter { actor: Some(anna.id), limit: 10, ..AuditFilter::default() })
        .await
        .unwrap();
    assert!(audit.iter().any(|line| line.action == "console.logout"), "{audit:?}");
}

#[tokio::test]
async fn an_idle_or_disabled_persons_session_ends() {
    let app = spawn_app_with(|_| {}).await;
    let (anna, _) = api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let mut browser = Browser::login(&app, "anna", TEST_PASSWORD).await;
    assert_eq!(browser.get("/console").await.status, 200);
    // 31 minutes without a request (the default idle timeout is 30).
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    let stale = (chrono::Utc::now() - chrono::TimeDelta::minutes(31))
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    db.execute("UPDATE console_sessions SET last_seen_at = ?1", [&stale]).unwrap();
    assert_eq!(browser.get("/console").await.location(), "/console/login");
    let left: i64 =
        db.query_row("SELECT count(*) FROM console_sessions", [], |row| row.get(0)).unwrap();
    assert_eq!(left, 0, "the expired session is removed");

    let mut browser = Browser::login(&app, "anna", TEST_PASSWORD).await;
    app.storage
        .change_disabled(
            anna.id,
            true,
            ChangedBy::Cli,
            AuditAction::UserDisable,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(browser.get("/console").await.location(), "/console/login");
}

#[tokio::test]
async fn the_database_holds_no_session_token() {
    let app = spawn_app_with(|_| {}).await;
    api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let mut browser = Browser::new(&app);
    let answer = browser.log_in("anna", TEST_PASSWORD).await;
    let cookie = answer.header("set-cookie").lines().find(|c| c.starts_with("hotline_session="));
    let token = cookie.unwrap().split(';').next().unwrap().trim_start_matches("hotline_session=");
    assert_eq!(token.len(), 64);
    let bytes = std::fs::read(&app.db_path).unwrap();
    let wal = std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default();
    for file in [&bytes, &wal] {
        assert!(!file.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[tokio::test]
async fn hostile_logins_get_clear_answers_and_nothing_is_echoed_unescaped() {
    let app = spawn_app_with(|_| {}).await;
    api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let huge = "n".repeat(100_000);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"".to_vec(), 403),
        (b"\xff\xfe=\xff".to_vec(), 403),
        (b"name=<script>alert(1)</script>&password=x".to_vec(), 403),
        (format!("name={huge}&password={huge}").into_bytes(), 403),
        (vec![b'a'; 5 << 20], 400),
    ];
    for (body, status) in cases {
        let mut browser = Browser::new(&app);
        browser.get("/console/login").await;
        let answer = browser.post_raw("/console/login", body.clone()).await;
        assert!(
            answer.status == status || answer.status == 0,
            "{} for {:.40}",
            answer.status,
            String::from_utf8_lossy(&body)
        );
        assert!(!answer.body.contains("<script>alert"), "echoed unescaped");
        assert!(!browser.has_session());
    }
    // With the login token, a hostile name is refused as a failed login, not reflected.
    let mut browser = Browser::new(&app);
    let answer = browser.log_in("<script>alert(1)</script>", &huge).await;
    assert_eq!(answer.status, 401);
    assert!(!answer.body.contains("<script>alert"));
    assert!(csrf_of(&answer.body).is_some(), "the form is shown again, with a fresh token");
    let answer = browser.post("/console/language", &[("language", "<b>")]).await;
    assert_eq!(answer.location(), "/console/login", "no session: to the login");
    let mut anna = Browser::login(&app, "anna", TEST_PASSWORD).await;
    anna.get("/console/settings").await;
    for language in ["<b>", "", "xx", &"u".repeat(10_000)] {
        let answer = anna.post("/console/language", &[("language", language)]).await;
        assert_eq!(answer.status, 400, "{language:.20}");
        assert!(!answer.body.contains("<b>"));
    }
}

#[tokio::test]
async fn a_line_in_kyiv_shows_kyiv_time_and_names_it_once() {
    let kyiv = hotline::domain::line_time::LineZone::parse("Europe/Kyiv").unwrap();
    let app = spawn_app_with(|c| c.console.time_zone = kyiv).await;
    api::person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let mut boss = Browser::login(&app, "boss", TEST_PASSWORD).await;
    // A call at 22:30 UTC on 27 November: half past midnight on the 28th in Kyiv.
    let sid = common::new_call_sid();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T22:30:00Z").unwrap().to_utc();
    let call_sid = hotline::domain::cases::CallSid::parse(&sid).unwrap();
    let started =
        hotline::domain::cases::Record::CallStarted { call_sid, at, caller: None, country: None };
    app.storage.apply(started).await.unwrap();
    let number = app.case(&sid).await.number;

    let page = boss.get(&format!("/console/cases/{number}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<dd>2026-11-28 00:30</dd>"), "{}", page.body);
    assert!(!page.body.contains("2026-11-27 22:30"), "no UTC time left on the page");
    assert_eq!(page.body.matches("Europe/Kyiv").count(), 1, "the zone is named once");
    assert!(page.body.contains("Times shown: Kyiv (Europe/Kyiv)"));
    let list = boss.get("/console/cases").await.body;
    assert!(list.contains("2026-11-28 00:30"), "{list}");
    // The audit log keeps the machine-readable time in UTC beside the local one.
    let audit = boss.get("/console/audit").await.body;
    assert!(audit.contains("Z\">"), "a <time datetime> in UTC: {audit}");

    // In Ukrainian, the zone's line is translated; the API still answers in UTC.
    boss.get("/console/settings").await;
    assert_eq!(boss.post("/console/language", &[("language", "uk")]).await.status, 303);
    let page = boss.get(&format!("/console/cases/{number}")).await.body;
    assert!(page.contains("Час на сторінці: Kyiv (Europe/Kyiv)"), "{page}");
    let (_, token) = api::person(&app, "auditor", Role::Supervisor, &["ru"]).await;
    let (status, body) =
        api::api(&app, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("2026-11-27T22:30:00"), "the API keeps UTC: {body}");
    app.stop().await;
}

#[tokio::test]
async fn a_supervisors_case_page_reads_as_lines_not_as_serialised_events() {
    // Arrange: a Russian call through the menus to the voicemail.
    let app = spawn_app_with(|_| {}).await;
    api::person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let transcript = app.call("1,1,2,2,1", None).await;
    let case = app.case(&transcript.call_sid).await;
    let mut browser = Browser::login(&app, "sveta", TEST_PASSWORD).await;

    // Act
    let page = browser.get(&format!("/console/cases/{}", case.number)).await;

    // Assert: every event is a line in words, none a field dump; the full record keeps the
    // prompts heard and the recording.
    assert_eq!(page.status, 200);
    let timeline = page.body.split(r#"<table class="timeline">"#).nth(1).expect("a timeline");
    let rows = timeline.matches("<tr>").count();
    assert_eq!(rows, case.events.len(), "{timeline}");
    for raw in ["{&quot;", "{\"", "kind", "tag=", "node=", "recording_url", "digits="] {
        assert!(!page.body.contains(raw), "{raw} in {timeline}");
    }
    for words in ["Chose the language", "Pressed", "Choice noted", "Heard", "Left a voicemail"] {
        assert!(timeline.contains(words), "{words} missing: {timeline}");
    }
    // Without a provider account the recording cannot be streamed through the server: the
    // page says where it is, and the provider's address of it never reaches the page.
    assert!(page.body.contains(r#"data-testid="recording-elsewhere""#), "{}", page.body);
    assert!(!page.body.contains("/Recordings/") && !page.body.contains("<audio"), "{}", page.body);
    assert!(page.body.contains(r#"data-outcome="voicemail">left a voicemail"#), "{}", page.body);
}
