//! The supervisor's console screens: people, blocklist, audit log, case search.
//!
//! Each test logs in through the login form and keeps the session cookie, as a browser does,
//! then uses the pages and forms. Every change must land and be audited; operators get 403 on
//! every page and form here; a form without its CSRF token changes nothing; hostile values are
//! refused or shown escaped; no page and no CSV holds the caller's number.

use crate::common;

use chrono::Utc;
use common::api::{TEST_PASSWORD, person};
use common::console::{Answer, Browser, csrf_of};
use common::{TestApp, spawn_app};
use hotline::domain::audit::AuditFilter;
use hotline::domain::cases::CaseNumber;
use hotline::domain::casework::NoteText;
use hotline::domain::people::{self, Role};

/// The digits of the number test callers call from.
const CALLER_DIGITS: &str = "79161234567";

/// Reads the login form and posts it as `name`: the browser, and the login's answer.
async fn log_in(app: &TestApp, name: &str, password: &str) -> (Browser, Answer) {
    let mut browser = Browser::new(app);
    let answer = browser.log_in(name, password).await;
    (browser, answer)
}

/// A form body with exactly these fields (no CSRF token added).
fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish().into_bytes()
}

/// Posting a form the way its page does.
trait PostFrom {
    /// Reads the page at `from`, then posts `fields` to `path` with that page's CSRF token.
    async fn post_from(&mut self, from: &str, path: &str, fields: &[(&str, &str)]) -> Answer;
}

impl PostFrom for Browser {
    async fn post_from(&mut self, from: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let page = self.get(from).await;
        assert_eq!(page.status, 200, "{from}: {}", page.body);
        self.post(path, fields).await
    }
}

/// Places a call (Russian, surrender, …, voicemail) and returns its case.
async fn call_case(app: &TestApp) -> CaseNumber {
    let transcript = app.call("1,1,2,2,1", None).await;
    app.case(&transcript.call_sid).await.number
}

/// How many audit lines have this action (and this actor, if given).
async fn audited(app: &TestApp, action: &str, actor: Option<i64>) -> usize {
    let filter = AuditFilter { case: None, actor, action: Some(action.into()), limit: 1000 };
    app.storage.audit_log(filter).await.unwrap().len()
}

/// Every audit line's action, oldest first.
async fn actions(app: &TestApp) -> Vec<String> {
    let filter = AuditFilter { limit: 1000, ..AuditFilter::default() };
    let mut lines = app.storage.audit_log(filter).await.unwrap();
    lines.reverse();
    lines.into_iter().map(|line| line.action).collect()
}

/// Fails if the caller's number (or a long run of its digits) is in `text`.
fn assert_no_number(text: &str) {
    assert!(!text.contains(CALLER_DIGITS), "the caller's number leaked: {text}");
    assert!(!text.contains("1234567"), "digits of the caller's number leaked: {text}");
}

/// The text between `data-testid="NAME">` and the next `<`.
fn testid(html: &str, name: &str) -> String {
    let marker = format!(r#"data-testid="{name}">"#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_supervisor_manages_people_and_every_change_is_audited() {
    let app = spawn_app().await;
    let (boss, _) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let mut sup = Browser::login(&app, "boss", TEST_PASSWORD).await;

    let added = sup
        .post_from(
            "/console/people",
            "/console/people",
            &[("name", "nina"), ("role", "operator"), ("languages", " ru, uk ")],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let pin = testid(&added.body, "pin");
    let password = testid(&added.body, "password");
    assert_eq!(pin.len(), 6);
    assert!(pin.bytes().all(|b| b.is_ascii_digit()), "{pin}");
    let nina = app.storage.person_by_name("nina").await.unwrap().expect("nina was added");
    assert_eq!(nina.role, Role::Operator);
    assert_eq!(nina.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["ru", "uk"]);
    assert_eq!(audited(&app, "user.add", Some(boss.id)).await, 1);
    // Shown once: the list does not show secrets.
    let list = sup.get("/console/people").await;
    assert!(
        list.body.contains("nina") && !list.body.contains(&password) && !list.body.contains(&pin)
    );

    // The generated password logs nina in.
    let (mut nina_browser, login) = log_in(&app, "nina", &password).await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(nina_browser.get("/console").await.status, 200);

    let path = |action: &str| format!("/console/people/{}/{action}", nina.id);
    let answer = sup.post_from("/console/people", &path("languages"), &[("languages", "ko")]).await;
    assert_eq!((answer.status, answer.location()), (303, "/console/people"));
    let changed = app.storage.person(nina.id).await.unwrap().unwrap();
    assert_eq!(changed.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["ko"]);
    assert_eq!(audited(&app, "user.languages", Some(boss.id)).await, 1);

    let answer = sup.post_from("/console/people", &path("pin"), &[]).await;
    assert_eq!(answer.status, 200);
    let new_pin = testid(&answer.body, "pin");
    let hash = app.storage.pin_hash(nina.id).await.unwrap().unwrap();
    assert!(hotline::app::hashers::verify_secret(&hash, &new_pin));
    assert_eq!(audited(&app, "user.pin-reset", Some(boss.id)).await, 1);

    // A new password ends nina's session; only the new password works.
    let answer = sup.post_from("/console/people", &path("password"), &[]).await;
    assert_eq!(answer.status, 200);
    let new_password = testid(&answer.body, "password");
    assert_ne!(new_password, password);
    assert_eq!(audited(&app, "user.password-reset", Some(boss.id)).await, 1);
    let gone = nina_browser.get("/console").await;
    assert_eq!((gone.status, gone.location()), (303, "/console/login"));
    assert_eq!(log_in(&app, "nina", &password).await.1.status, 401);
    let (mut nina_browser, login) = log_in(&app, "nina", &new_password).await;
    assert_eq!(login.status, 303);

    // Revoking tokens: the token stops working.
    let token = common::api::token_for(&app, nina.id).await;
    let answer = sup.post_from("/console/people", &path("tokens/revoke"), &[]).await;
    assert_eq!(answer.status, 303);
    assert!(app.storage.token_owner(&people::token_hash(&token)).await.unwrap().is_none());
    assert_eq!(audited(&app, "token.revoke", Some(boss.id)).await, 1);

    // Disabling ends the session and refuses logins; enabling lets them back.
    let answer = sup.post_from("/console/people", &path("disable"), &[]).await;
    assert_eq!(answer.status, 303);
    assert!(app.storage.person(nina.id).await.unwrap().unwrap().disabled);
    assert_eq!(nina_browser.get("/console").await.status, 303);
    assert_eq!(log_in(&app, "nina", &new_password).await.1.status, 401);
    let list = sup.get("/console/people").await;
    assert!(list.body.contains(&format!("/console/people/{}/enable", nina.id)));
    let answer = sup.post_from("/console/people", &path("enable"), &[]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(log_in(&app, "nina", &new_password).await.1.status, 303);
    assert_eq!(audited(&app, "user.disable", Some(boss.id)).await, 1);
    assert_eq!(audited(&app, "user.enable", Some(boss.id)).await, 1);

    // A supervisor cannot disable themself.
    let own = format!("/console/people/{}/disable", boss.id);
    assert_eq!(sup.post_from("/console/people", &own, &[]).await.status, 409);
    assert!(!app.storage.person(boss.id).await.unwrap().unwrap().disabled);
}

#[tokio::test]
async fn operators_get_403_on_every_supervisor_page_and_form() {
    let app = spawn_app().await;
    let (olga, _) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let (boss, _) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    let before = actions(&app).await;
    let mut op = Browser::login(&app, "olga", TEST_PASSWORD).await;
    let home = op.get("/console").await;
    assert!(!home.body.contains("/console/people\""), "operators' menu lists supervisor screens");
    let csrf = csrf_of(&home.body).unwrap();

    for path in [
        "/console/people".to_owned(),
        "/console/blocklist".into(),
        "/console/audit".into(),
        "/console/audit?action=user.add".into(),
        "/console/cases".into(),
        "/console/cases?language=ru".into(),
        "/console/cases.csv".into(),
        format!("/console/cases/{number}"),
    ] {
        let answer = op.get(&path).await;
        assert_eq!(answer.status, 403, "GET {path}");
        assert!(!answer.body.contains(&number.to_string()) || path.ends_with(&number.to_string()));
    }
    let id = boss.id.to_string();
    let case = number.to_string();
    for (path, fields) in [
        (
            "/console/people".to_owned(),
            vec![("name", "mole"), ("role", "supervisor"), ("languages", "ru")],
        ),
        (format!("/console/people/{id}/disable"), vec![]),
        (format!("/console/people/{id}/enable"), vec![]),
        (format!("/console/people/{id}/languages"), vec![("languages", "ko")]),
        (format!("/console/people/{id}/pin"), vec![]),
        (format!("/console/people/{id}/password"), vec![]),
        (format!("/console/people/{id}/tokens/revoke"), vec![]),
        (format!("/console/people/{}/languages", olga.id), vec![("languages", "ru,uk,ko")]),
        (
            "/console/blocklist".into(),
            vec![("case", case.as_str()), ("reason", "x"), ("expires", "")],
        ),
        ("/console/blocklist/1/remove".into(), vec![]),
    ] {
        let mut fields = fields.clone();
        fields.push(("csrf", &csrf));
        assert_eq!(op.post_raw(&path, form(&fields)).await.status, 403, "POST {path}");
    }
    // Nothing changed, nothing was read: only olga's login is new in the audit log.
    let mut expected = before;
    expected.push("console.login".into());
    assert_eq!(actions(&app).await, expected);
    assert!(app.storage.person_by_name("mole").await.unwrap().is_none());
    assert_eq!(app.storage.person(olga.id).await.unwrap().unwrap().languages.len(), 1);
    assert!(app.storage.blocklist(Utc::now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (olga, _) = person(&app, "olga", Role::Operator, &["ru"]).await;
    person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    let mut sup = Browser::login(&app, "boss", TEST_PASSWORD).await;
    let before = actions(&app).await;
    let id = olga.id.to_string();
    let case = number.to_string();
    let zeros = "0".repeat(64);
    for token in [None, Some(""), Some("forged"), Some(zeros.as_str())] {
        for (path, fields) in [
            (
                "/console/people".to_owned(),
                vec![("name", "mole"), ("role", "operator"), ("languages", "ru")],
            ),
            (format!("/console/people/{id}/disable"), vec![]),
            (format!("/console/people/{id}/languages"), vec![("languages", "ko")]),
            (format!("/console/people/{id}/pin"), vec![]),
            (format!("/console/people/{id}/password"), vec![]),
            (format!("/console/people/{id}/tokens/revoke"), vec![]),
            ("/console/blocklist".into(), vec![("case", case.as_str()), ("reason", "x")]),
        ] {
            let mut fields = fields.clone();
            if let Some(token) = token {
                fields.push(("csrf", token));
            }
            let answer = sup.post_raw(&path, form(&fields)).await;
            assert_eq!(answer.status, 403, "POST {path} with {token:?}");
        }
    }
    assert_eq!(actions(&app).await, before);
    let olga_now = app.storage.person(olga.id).await.unwrap().unwrap();
    assert_eq!(olga_now, olga);
    assert!(app.storage.person_by_name("mole").await.unwrap().is_none());
    assert!(app.storage.blocklist(Utc::now()).await.unwrap().is_empty());
    // Another session's token is no better than none.
    let mut other = Browser::login(&app, "olga", TEST_PASSWORD).await;
    let their_csrf = csrf_of(&other.get("/console").await.body).unwrap();
    let answer = sup
        .post_raw(&format!("/console/people/{id}/disable"), form(&[("csrf", &their_csrf)]))
        .await;
    assert_eq!(answer.status, 403);
    assert!(!app.storage.person(olga.id).await.unwrap().unwrap().disabled);
}

#[tokio::test]
async fn hostile_people_forms_are_refused_with_a_reason_and_shown_escaped() {
    let app = spawn_app().await;
    let (olga, _) = person(&app, "olga", Role::Operator, &["ru"]).await;
    person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let mut sup = Browser::login(&app, "boss", TEST_PASSWORD).await;
    let count = app.storage.people().await.unwrap().len();
    let huge = "n".repeat(100_000);
    let languages = (0..17).map(|i| format!("l{}", (b'a' + i) as char)).collect::<Vec<_>>();
    let many = languages.iter().map(|l| l.replace('l', "x")).collect::<Vec<_>>().join(",");
    for (name, role, languages) in [
        ("<script>alert(1)</script>", "operator", "ru"),
        (huge.as_str(), "operator", "ru"),
        ("", "operator", "ru"),
        ("anna maria", "operator", "ru"),
        ("anna", "admin", "ru"),
        ("anna", "<b>root</b>", "ru"),
        ("anna", "operator", ""),
        ("anna", "operator", "russian"),
        ("anna", "operator", "ru,ru"),
        ("anna", "operator", "<script>x</script>"),
        ("anna", "operator", many.as_str()),
        ("olga", "operator", "ru"),
    ] {
        let answer = sup
            .post_from(
                "/console/people",
                "/console/people",
                &[("name", name), ("role", role), ("languages", languages)],
            )
            .await;
        assert!(
            matches!(answer.status, 400 | 409),
            "{name:.40} {role} {languages:.40}: {}",
            answer.status
        );
        assert!(
            !answer.body.contains("<script>") && !answer.body.contains("<b>root"),
            "{}",
            answer.body
        );
        assert!(answer.body.len() < 10_000, "the error echoes a huge value");
        assert!(answer.body.contains("data-testid=\"error\""));
    }
    assert_eq!(app.storage.people().await.unwrap().len(), count);
    for (path, fields) in [
        (format!("/console/people/{}/languages", olga.id), vec![("languages", "<img src=x>")]),
        (format!("/console/people/{}/languages", olga.id), vec![("languages", "")]),
        ("/console/people/abc/pin".to_owned(), vec![]),
        ("/console/people/-1/pin".to_owned(), vec![]),
        ("/console/people/99999999999999999999999/pin".to_owned(), vec![]),
    ] {
        let answer = sup.post_from("/console/people", &path, &fields).await;
        assert_eq!(answer.status, 400, "{path}");
        assert!(!answer.body.contains("<img"), "{}", answer.body);
    }
    assert_eq!(
        sup.post_from("/console/people", "/console/people/999999/pin", &[]).await.status,
        404
    );
    assert_eq!(app.storage.person(olga.id).await.unwrap().unwrap(), olga);
    // A form bigger than the console accepts is refused, not read: a 400, or the connection
    // closed while the body is still being sent (status 0). Nobody is added either way.
    let big = "x".repeat(5 << 20);
    let fields = [("name", big.as_str()), ("role", "operator"), ("languages", "ru")];
    let answer = sup.post_from("/console/people", "/console/people", &fields).await;
    assert!(matches!(answer.status, 0 | 400), "{}: {:.200}", answer.status, answer.body);
    assert_eq!(app.storage.people().await.unwrap().len(), count);
}

#[tokio::test]
async fn the_blocklist_blocks_by_case_with_an_expiry_and_removes_audited_without_numbers() {
    let app = spawn_app().await;
    let (boss, _) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    let mut sup = Browser::login(&app, "boss", TEST_PASSWORD).await;
    let empty = sup.get("/console/blocklist").await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("data-testid=\"blocklist-empty\""));

    let case = number.to_string();
    let reason = "threatens <script>alert('op')</script> operators";
    let answer = sup
        .post_from(
            "/console/blocklist",
            "/console/blocklist",
            &[("case", &case), ("reason", reason), ("expires", "2099-01-01")],
        )
        .await;
    assert_eq!((answer.status, answer.location()), (303, "/console/blocklist"), "{}", answer.body);
    let entries = app.storage.blocklist(Utc::now()).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].case, number);
    assert_eq!(entries[0].expires_at.unwrap().to_rfc3339(), "2099-01-01T00:00:00+00:00");
    assert_eq!(audited(&app, "blocklist.add", Some(boss.id)).await, 1);

    let page = sup.get("/console/blocklist").await;
    assert!(page.body.contains(&format!("/console/cases/{case}")));
    assert!(
        page.body.contains("threatens &#60;script&#62;")
            || page.body.contains("threatens &lt;script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"));
    assert!(page.body.contains("2099-01-01"));
    assert_no_number(&page.body);
    let hash = app.storage.case(number).await.unwrap().unwrap().caller.unwrap();
    assert!(!page.body.contains(&hash.0), "the caller's hash is shown");
    assert!(audited(&app, "blocklist.read", Some(boss.id)).await >= 2);

    // The same caller again, bad expiries, bad cases: refused with a reason, nothing added.
    let again = sup
        .post_from(
            "/console/blocklist",
            "/console/blocklist",
            &[("case", &case), ("reason", "again")],
        )
        .await;
    assert_eq!(again.status, 409);
    for (case, reason, expires, status) in [
        (case.as_str(), "r", "2001-01-01", 400),
        (case.as_str(), "r", "tomorrow", 400),
        (case.as_str(), "r", "2026-13-45", 400),
        (case.as_str(), "", "", 400),
        (case.as_str(), &"r".repeat(501), "", 400),
        (case.as_str(), "bell\u{7}", "", 400),
        ("42", "r", "", 400),
        ("<script>", "r", "", 400),
        ("2026-999999", "r", "", 404),
    ] {
        let answer = sup
            .post_from(
                "/console/blocklist",
                "/console/blocklist",
                &[("case", case), ("reason", reason), ("expires", expires)],
            )
            .await;
        assert_eq!(answer.status, status, "{case} {reason:.20} {expires}: {}", answer.body);
        assert!(!answer.body.contains("<script>"));
    }
    assert_eq!(app.storage.blocklist(Utc::now()).await.unwrap().len(), 1);
    assert_eq!(audited(&app, "blocklist.add", None).await, 1);

    let remove = format!("/console/blocklist/{}/remove", entries[0].id);
    let answer = sup.post_from("/console/blocklist", &remove, &[]).await;
    assert_eq!(answer.status, 303);
    assert!(app.storage.blocklist(Utc::now()).await.unwrap().is_empty());
    assert_eq!(audited(&app, "blocklist.remove", Some(boss.id)).await, 1);
    assert_eq!(sup.post_from("/console/blocklist", &remove, &[]).await.status, 404);
    assert_eq!(
        sup.post_from("/console/blocklist", "/console/blocklist/x/remove", &[]).await.status,
        400
    );
}

#[tokio::test]
async fn the_audit_log_filters_by_person_action_and_case_and_says_how_many_it_shows() {
    let app = spawn_app().await;
    let (olga, _) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let (boss, _) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    let mut sup = Browser::login(&app, "boss", TEST_PASSWORD).await;
    Browser::login(&app, "olga", TEST_PASSWORD).await;
    assert_eq!(sup.get(&format!("/console/cases/{number}")).await.status, 200);
    sup.post_from("/console/people", &format!("/console/people/{}/pin", olga.id), &[]).await;

    let all = sup.get("/console/audit").await;
    assert_eq!(all.status, 200);
    let total = app
        .storage
        .audit_log(AuditFilter { limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .len();
    assert!(all.body.contains(&format!("Showing the {total} ")), "{}", all.body);
    assert!(all.body.contains("user.pin-reset") && all.body.contains("case.read"));

    let by_olga = sup.get(&format!("/console/audit?actor={}", olga.id)).await;
    assert!(by_olga.body.contains("console.login"));
    assert!(!by_olga.body.contains("user.pin-reset") && !by_olga.body.contains("case.read"));
    assert!(by_olga.body.contains("Showing the 1 "), "{}", by_olga.body);

    let pin = sup.get("/console/audit?action=user.pin-reset&actor=&case=&limit=").await;
    assert_eq!(pin.status, 200);
    assert!(pin.body.contains(&format!("user={} name=olga", olga.id)));
    assert!(!pin.body.contains("console.login</code>"));

    let about = sup.get(&format!("/console/audit?case={number}")).await;
    assert!(about.body.contains("case.read") && !about.body.contains("user.pin-reset"));
    let one = sup.get(&format!("/console/audit?limit=1&actor={}", boss.id)).await;
    assert!(one.body.contains("Showing the 1 ") && one.body.contains("Older lines exist"));

    for query in [
        "limit=0",
        "limit=-5",
        "limit=1001",
        "limit=99999999999999999999999",
        "limit=ten",
        "case=42",
        "case=%3Cscript%3E",
        "actor=boss",
        "actor=%3Cscript%3E",
        "action=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "action=USER%20ADD",
    ] {
        let answer = sup.get(&format!("/console/audit?{query}")).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
    }
    let huge = format!("/console/audit?action={}", "a".repeat(5_000));
    assert_eq!(sup.get(&huge).await.status, 400);
}

#[tokio::test]
async fn the_case_search_filters_links_to_audited_details_and_exports_csv_without_numbers() {
    let app = spawn_app().await;
    let (dash, _) = person(&app, "-danger", Role::Operator, &["ru"]).await;
    let (boss, _) = person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let first = call_case(&app).await;
    let second = call_case(&app).await;
    let note = NoteText::parse("<script>alert('note')</script> = surrender at 06:00").unwrap();
    app.storage.add_note(second, dash.id, note, Utc::now()).await.unwrap().unwrap();
    rusqlite::Connection::open(&app.db_path)
        .unwrap()
        .execute(
            "INSERT INTO queue_entries (case_id, call_sid, step, language, provider_queue,
                                        joined_at, state, operator_id, bridged_at, ended_at, result)
             SELECT id, call_sid, 99, 'ru', 'test-' || id, '2026-03-01T12:00:00.000000000Z',
                    'left', ?1, '2026-03-01T12:00:30.000000000Z', '2026-03-01T12:01:30.000000000Z',
                    'bridged'
             FROM cases WHERE number_year = ?2 AND number_seq = ?3",
            rusqlite::params![dash.id, second.year, second.sequence],
        )
        .unwrap();
    let mut sup = Browser::login(&app, "boss", TEST_PASSWORD).await;

    let all = sup.get("/console/cases").await;
    assert_eq!(all.status, 200);
    for number in [first, second] {
        assert!(all.body.contains(&format!("href=\"/console/cases/{number}\"")), "{}", all.body);
    }
    assert_no_number(&all.body);
    assert_eq!(audited(&app, "cases.search", Some(boss.id)).await, 1);

    // A form submits every field; empty ones are no filter.
    let form = "from=&to=&language=ru&outcome=&disposition=&tag=&operator=&limit=&offset=";
    let ru = sup.get(&format!("/console/cases?{form}")).await;
    assert_eq!(ru.status, 200, "{}", ru.body);
    assert!(ru.body.contains(&first.to_string()) && ru.body.contains(&second.to_string()));
    let by_dash = sup.get(&format!("/console/cases?operator={}", dash.id)).await;
    assert!(
        by_dash.body.contains(&second.to_string())
            && !by_dash.body.contains(&format!("/console/cases/{first}"))
    );
    let ko = sup.get("/console/cases?language=ko").await;
    assert!(!ko.body.contains(&format!("/console/cases/{first}")));
    let future = sup.get("/console/cases?from=2099-01-01").await;
    assert!(!future.body.contains(&format!("/console/cases/{first}")));
    let page = sup.get("/console/cases?limit=1").await;
    assert!(
        page.body.contains(&format!("/console/cases/{second}"))
            && !page.body.contains(&format!("/console/cases/{first}"))
    );
    assert!(page.body.contains("offset=1"), "no link to the older page");
    let older = sup.get("/console/cases?limit=1&offset=1").await;
    assert!(older.body.contains(&format!("/console/cases/{first}")));

    for query in [
        "from=yesterday",
        "from=2026-02-30",
        "to=2026-01-01&from=2026-02-01",
        "limit=0",
        "limit=-1",
        "limit=501",
        "limit=99999999999999999999",
        "limit=10001",
        "offset=-1",
        "language=%3Cscript%3E",
        "outcome=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "tag=nokey",
        "operator=anna",
        "sort=desc",
        "language=ru&language=uk",
    ] {
        let answer = sup.get(&format!("/console/cases?{query}")).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.body.contains("data-testid=\"error\""), "{query}");
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
        if query != "limit=501" {
            // An export may hold up to 10 000 cases; a page 500.
            let csv = sup.get(&format!("/console/cases.csv?{query}")).await;
            assert_eq!(csv.status, 400, "csv {query}");
        }
    }

    // The detail: read-only, audited, the note escaped, no number.
    let detail = sup.get(&format!("/console/cases/{second}")).await;
    assert_eq!(detail.status, 200);
    assert_eq!(testid(&detail.body, "case-number"), second.to_string());
    assert!(detail.body.contains("&#60;script&#62;") || detail.body.contains("&lt;script&gt;"));
    assert!(!detail.body.contains("<script>alert"));
    assert!(detail.body.contains("-danger"));
    assert!(
        !detail.body.contains("method=\"post\" action=\"/console/cases"),
        "the detail is read-only"
    );
    assert_no_number(&detail.body);
    let reads = AuditFilter {
        case: Some(second),
        actor: Some(boss.id),
        action: Some("case.read".into()),
        limit: 10,
    };
    assert_eq!(app.storage.audit_log(reads).await.unwrap().len(), 1);
    for bad in ["42", "2026-999999", "%3Cscript%3E"] {
        let answer = sup.get(&format!("/console/cases/{bad}")).await;
        assert!(matches!(answer.status, 400 | 404), "{bad}");
        assert!(!answer.body.contains("<script>"));
    }

    // The CSV: the filtered set, the formula guard, audited, no number.
    let csv = sup.get(&format!("/console/cases.csv?operator={}", dash.id)).await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.split("\r\n").collect();
    assert!(lines[0].starts_with("number,started_at,"), "{}", csv.body);
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(
        lines[1].starts_with(&format!("{second},")) && lines[1].contains(",'-danger,30,60"),
        "{}",
        csv.body
    );
    assert_no_number(&csv.body);
    let all_csv = sup.get("/console/cases.csv?language=ru").await;
    assert_eq!(all_csv.body.split("\r\n").count(), 4);
    assert_no_number(&all_csv.body);
    let exports = app
        .storage
        .audit_log(AuditFilter {
            action: Some("cases.export".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(exports.len(), 2);
    assert!(exports.iter().any(|line| line.detail == "query=language=ru rows=2"), "{exports:?}");
}
