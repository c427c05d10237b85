//! The operator's console screens over HTTP, as a browser uses them: log in through the
//! form, keep the cookie, post forms with the session's CSRF token. Callers arrive by
//! signed webhooks and the operator line is driven as the provider drives it. Real server.

use crate::common;

use common::api::{self, TEST_PASSWORD, TEST_PIN};
use common::console::{Answer, Browser};
use common::{CALLER, TestApp, attribute, new_call_sid, spawn_app, spawn_app_with, text};
use hotline::domain::audit::AuditFilter;
use hotline::domain::people::{Person, Role};

/// The number a caller types for their callback.
const TYPED: &str = "4915112345678";

/// Posts a form without the CSRF token, as another site's page would.
async fn post_without_csrf(browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Answer {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        body.append_pair(name, value);
    }
    browser.post_raw(path, body.finish().into_bytes()).await
}

/// An operator logged in, on a page of the console (its forms' CSRF token read).
pub(crate) async fn operator(app: &TestApp, name: &str, languages: &[&str]) -> (Person, Browser) {
    let (person, _) = api::person(app, name, Role::Operator, languages).await;
    let mut browser = Browser::login(app, name, TEST_PASSWORD).await;
    assert_eq!(browser.get("/console").await.status, 200);
    (person, browser)
}

/// The caller's number, as digits, must be in no page.
fn assert_no_number(html: &str) {
    for number in [&CALLER[1..], TYPED] {
        assert!(!html.contains(number), "a phone number in a page: {html}");
    }
}

/// A Russian caller on the surrender path (tags set) now waiting: (sid, the Enqueue document).
pub(crate) async fn waiting_caller(app: &TestApp) -> (String, String) {
    let sid = new_call_sid();
    let mut doc = app.post_call("/voice/incoming", &sid, &[]).await;
    for key in ["1", "1", "2", "1"] {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = app.post_call(&action, &sid, &[("Digits", key)]).await;
    }
    // The unit is asked on the way; the caller skips it.
    let question = attribute(&doc, "Record", "action").expect("the question");
    doc = app.post_call(&question, &sid, &[]).await;
    assert!(text(&doc, "Enqueue").is_some(), "{doc}");
    (sid, doc)
}

/// The operator line: ID then PIN; returns the document after the PIN (whisper and Dial).
async fn dial_in(app: &TestApp, op_sid: &str, id: i64) -> String {
    let start = app.post_call("/voice/operator", op_sid, &[]).await;
    let action = attribute(&start, "Gather", "action").unwrap();
    let asked = app.post_call(&action, op_sid, &[("Digits", &id.to_string())]).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    app.post_call(&action, op_sid, &[("Digits", TEST_PIN)]).await
}

/// A caller enqueued and connected to `operator` by the operator line: the case's number.
async fn connected_caller(app: &TestApp, operator: &Person) -> String {
    let (sid, _) = waiting_caller(app).await;
    let answer = dial_in(app, &new_call_sid(), operator.id).await;
    assert!(answer.contains("<Queue"), "{answer}");
    app.case(&sid).await.number.to_string()
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
async fn an_operator_sets_their_state_in_one_click_and_only_with_the_token() {
    // Arrange
    let app = spawn_app().await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    let (_, boss) = api::person(&app, "boss", Role::Supervisor, &["ru"]).await;
    let state_of = |body: serde_json::Value| {
        body.as_array().unwrap().iter().find(|p| p["id"] == olga.id).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let screen = browser.get("/console/operator").await;
    assert_eq!(screen.status, 200);
    assert!(screen.body.contains(r#"data-testid="state">Offline<"#), "{}", screen.body);

    // Act: one click on "Available".
    let changed = browser.post("/console/operator/state", &[("state", "available")]).await;

    // Assert: back to the screen, which shows it, and the API agrees.
    assert_eq!(changed.status, 303);
    assert_eq!(changed.location(), "/console/operator");
    let screen = browser.get("/console/operator").await;
    assert!(screen.body.contains(r#"data-testid="state">Available<"#), "{}", screen.body);
    let (_, people) = api::api(&app, "GET", "/api/operators", Some(&boss), None).await;
    assert_eq!(state_of(people), "available");

    // Without the token, with a state the call flow owns, or with junk: refused, unchanged.
    let forged =
        post_without_csrf(&mut browser, "/console/operator/state", &[("state", "break")]).await;
    assert_eq!(forged.status, 403);
    let wrong_token = format!("csrf={}&state=break", "0".repeat(64));
    let wrong = browser.post_raw("/console/operator/state", wrong_token.into_bytes()).await;
    assert_eq!(wrong.status, 403);
    for bad in ["on-call", "wrap-up", "", "<script>", &"x".repeat(100_000)] {
        let refused = browser.post("/console/operator/state", &[("state", bad)]).await;
        assert_eq!(refused.status, 400, "{bad:.20}");
        assert!(!refused.body.contains("<script>"), "{}", refused.body);
    }
    let (_, people) = api::api(&app, "GET", "/api/operators", Some(&boss), None).await;
    assert_eq!(state_of(people), "available");

    // Break, then a page in Ukrainian shows it in Ukrainian.
    assert_eq!(browser.post("/console/operator/state", &[("state", "break")]).await.status, 303);
    assert_eq!(browser.post("/console/language", &[("language", "uk")]).await.status, 303);
    let screen = browser.get("/console/operator").await;
    assert!(screen.body.contains(r#"data-testid="state">Перерва<"#), "{}", screen.body);
    assert!(screen.body.contains("Черги і моя справа"));
    app.stop().await;
}

#[tokio::test]
async fn a_caller_enqueued_by_webhooks_appears_in_the_live_queue_of_their_language_only() {
    // Arrange
    let app = spawn_app().await;
    let (_, mut olga) = operator(&app, "olga", &["ru", "uk"]).await;
    let (_, minji) = operator(&app, "minji", &["ko"]).await;
    let before = olga.first_live_message("/console/operator/queues/events").await;
    assert!(!before.contains(r#"data-testid="waiting""#), "{before}");

    // Act: a caller walks the Russian script to the operators' queue.
    let (sid, _) = waiting_caller(&app).await;
    let case = app.case(&sid).await.number.to_string();

    // Assert: the live region (and the page) show them with their choices, never the number.
    let fragment = olga.first_live_message("/console/operator/queues/events").await;
    assert!(fragment.contains(&format!(r#"data-case="{case}""#)), "{fragment}");
    assert!(fragment.contains("serviceman, wants to surrender"), "{fragment}");
    assert!(fragment.contains("can talk safely now"), "{fragment}");
    assert_no_number(&fragment);
    let page = olga.get("/console/operator").await;
    assert!(page.body.contains(&case), "{}", page.body);
    assert!(page.body.contains(r#"data-live="/console/operator/queues/events""#));
    assert_no_number(&page.body);
    // The Korean operator's queue does not show a Russian caller.
    let other = minji.first_live_message("/console/operator/queues/events").await;
    assert!(!other.contains(&case), "{other}");

    // A second call from the same number is marked as a repeat caller.
    waiting_caller(&app).await;
    let fragment = olga.first_live_message("/console/operator/queues/events").await;
    assert!(fragment.contains("called before"), "{fragment}");
    assert_no_number(&fragment);

    // Without a session there is no stream, only the login page.
    let mut stranger = Browser::new(&app);
    let refused = stranger.get("/console/operator/queues/events").await;
    assert_eq!(refused.status, 303);
    assert_eq!(refused.location(), "/console/login");
    app.stop().await;
}

#[tokio::test]
async fn a_claim_reserves_the_caller_the_operator_line_then_connects_and_the_case_shows() {
    // Arrange
    let app = spawn_app().await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    let empty = browser.post("/console/operator/claim", &[]).await;
    assert_eq!(empty.location(), "/console/operator?claimed=none");
    let (sid, _) = waiting_caller(&app).await;
    let case = app.case(&sid).await.number.to_string();

    // Act: claim, then dial in on the operator line.
    let claimed = browser.post("/console/operator/claim", &[]).await;
    let forged = post_without_csrf(&mut browser, "/console/operator/claim", &[]).await;
    let screen = browser.get(claimed.location()).await;
    let op_sid = new_call_sid();
    let answer = dial_in(&app, &op_sid, olga.id).await;

    // Assert: reserved (audited), connected to exactly that caller, and the case on screen.
    assert_eq!(claimed.status, 303);
    assert_eq!(forged.status, 403);
    assert!(screen.body.contains(&format!("<strong>{case}</strong>")), "{}", screen.body);
    let claims = app.storage.audit_log(audit(olga.id, "queue.claim")).await.unwrap();
    assert_eq!(claims.len(), 1, "{claims:?}");
    assert_eq!(claims[0].case.map(|c| c.to_string()), Some(case.clone()));
    assert!(answer.contains(&format!("c-{case}-")), "{answer}");
    let screen = browser.get("/console/operator").await;
    assert!(
        screen.body.contains(&format!(r#"data-testid="case-number">{case}<"#)),
        "{}",
        screen.body
    );
    assert!(screen.body.contains("Russian."), "the whisper: {}", screen.body);
    assert!(screen.body.contains("serviceman, wants to surrender"));
    assert!(screen.body.contains("First call"));
    assert_no_number(&screen.body);
    let reads = app.storage.audit_log(audit(olga.id, "case.read")).await.unwrap();
    assert!(!reads.is_empty(), "the screen's read of the case is audited");

    // The talk ends: wrap-up, counted down on the screen; the case stays until closed.
    let dial_action = attribute(&answer, "Dial", "action").unwrap();
    let done =
        [("DialCallStatus", "completed"), ("DialCallDuration", "42"), ("DialCallSid", "CA9")];
    app.post_call(&dial_action, &op_sid, &done).await;
    let screen = browser.get("/console/operator").await;
    assert!(screen.body.contains(r#"data-testid="state">Wrap-up<"#), "{}", screen.body);
    let countdown = screen.body.split(r#"data-countdown=""#).nth(1).expect("a countdown");
    let left: i64 = countdown.split('"').next().unwrap().parse().unwrap();
    assert!((1..=30).contains(&left), "{left}");
    assert!(screen.body.contains(&format!(r#"data-testid="case-number">{case}<"#)));
    app.stop().await;
}

/// The number a queue card says waits: `<span data-testid="waiting-count">N</span>`.
fn waiting_count(fragment: &str, language: &str) -> usize {
    let card = fragment.split(&format!(r#"data-language="{language}""#)).nth(1).expect("a card");
    let count = card.split(r#"data-testid="waiting-count">"#).nth(1).expect("a count");
    count.split('<').next().unwrap().parse().unwrap()
}

/// The row of case `case` in a live queue.
fn row<'a>(fragment: &'a str, case: &str) -> &'a str {
    let start = fragment.find(&format!(r#"data-case="{case}""#)).expect("the caller's row");
    &fragment[start..start + fragment[start..].find("</tr>").unwrap()]
}

#[tokio::test]
async fn a_claimed_caller_is_marked_reserved_for_its_operator_with_the_hold_counting_down() {
    // Arrange: two Russian callers waiting, two Russian operators.
    let app = spawn_app().await;
    let (_, mut olga) = operator(&app, "olga", &["ru"]).await;
    let (ivan, ivans) = operator(&app, "ivan", &["ru"]).await;
    let (first, _) = waiting_caller(&app).await;
    let first = app.case(&first).await.number.to_string();
    let (second, _) = waiting_caller(&app).await;
    let second = app.case(&second).await.number.to_string();
    let before = olga.first_live_message("/console/operator/queues/events").await;
    assert!(!before.contains(r#"data-testid="reserved""#), "{before}");
    assert_eq!(waiting_count(&before, "ru"), 2);

    // Act: Olga claims the next caller.
    let claimed = olga.post("/console/operator/claim", &[]).await;
    assert_eq!(claimed.location(), format!("/console/operator?claimed={first}"));

    // Assert: her queue marks that caller reserved for her, with the minute counting down;
    // nobody else's queue does, and the caller still waits.
    let hers = olga.first_live_message("/console/operator/queues/events").await;
    let reserved = row(&hers, &first);
    assert!(reserved.contains(r#"data-testid="reserved""#), "{reserved}");
    assert!(reserved.contains("reserved for you"), "{reserved}");
    let left = reserved.split(r#"data-countdown=""#).nth(1).expect("a countdown");
    let left: i64 = left.split('"').next().unwrap().parse().unwrap();
    assert!((50..=60).contains(&left), "{left}");
    assert!(!row(&hers, &second).contains(r#"data-testid="reserved""#), "{hers}");
    assert_eq!(waiting_count(&hers, "ru"), 2);
    let his = ivans.first_live_message("/console/operator/queues/events").await;
    assert!(!his.contains(r#"data-testid="reserved""#), "{his}");

    // Ivan dials in and is being connected to the other caller: the card counts only the
    // caller still waiting, and tells the one being connected apart.
    let answer = dial_in(&app, &new_call_sid(), ivan.id).await;
    assert!(answer.contains(&format!("c-{second}-")), "{answer}");
    let hers = olga.first_live_message("/console/operator/queues/events").await;
    assert_eq!(waiting_count(&hers, "ru"), 1, "{hers}");
    assert!(row(&hers, &second).contains("connecting"), "{hers}");
    assert!(row(&hers, &first).contains(r#"data-testid="reserved""#), "{hers}");
    app.stop().await;
}

#[tokio::test]
async fn notes_disposition_and_closing_work_with_the_token_and_refuse_without_or_with_junk() {
    // Arrange
    let app = spawn_app_with(|c| c.queues.wrap_up_secs = 120).await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    let case = connected_caller(&app, &olga).await;
    let notes = format!("/console/operator/case/{case}/notes");
    let dispose = format!("/console/operator/case/{case}/disposition");
    let stored = |app: &TestApp, case: &str| {
        let storage = app.storage.clone();
        let number = case.parse().unwrap();
        async move { storage.case_work(number).await.unwrap().unwrap() }
    };

    // Act + Assert: a note without the token is refused and not kept.
    let forged = post_without_csrf(&mut browser, &notes, &[("text", "forged")]).await;
    assert_eq!(forged.status, 403);
    assert!(stored(&app, &case).await.notes.is_empty());

    // A hostile note is kept as text and shown escaped; from the screen, back to it.
    let hostile = "<script>alert(1)</script> «щось» 🙂";
    let added = browser.post(&notes, &[("text", hostile), ("from", "operator")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(added.location(), "/console/operator");
    let screen = browser.get("/console/operator").await;
    assert!(
        screen.body.contains("&#60;script&#62;alert(1)&#60;/script&#62; «щось» 🙂"),
        "{}",
        screen.body
    );
    assert!(!screen.body.contains("<script>alert"));
    let notes_audit = app.storage.audit_log(audit(olga.id, "case.note")).await.unwrap();
    assert_eq!(notes_audit.len(), 1);
    assert!(!notes_audit[0].detail.contains("script"), "the note's text stays out of the log");

    // Empty and huge notes are refused with a message, and nothing is kept.
    for bad in [String::new(), "   ".into(), "я".repeat(4001), "x".repeat(3_000_000)] {
        let refused = browser.post(&notes, &[("text", &bad)]).await;
        assert_eq!(refused.status, 400, "{} chars", bad.len());
    }
    assert_eq!(stored(&app, &case).await.notes.len(), 1);

    // Dispositions: unknown or hostile ones are refused; a configured one is set.
    for bad in ["not-a-disposition", "", "<b>", &"d".repeat(10_000)] {
        let refused = browser.post(&dispose, &[("disposition", bad)]).await;
        assert_eq!(refused.status, 400, "{bad:.20}");
        assert!(!refused.body.contains("<b>"));
    }
    let bad_close =
        browser.post(&dispose, &[("disposition", "referred"), ("close", "maybe")]).await;
    assert_eq!(bad_close.status, 400);
    let forged = post_without_csrf(&mut browser, &dispose, &[("disposition", "referred")]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(stored(&app, &case).await.disposition, None);
    let set = browser.post(&dispose, &[("disposition", "referred"), ("close", "false")]).await;
    assert_eq!(set.status, 303);
    assert_eq!(set.location(), format!("/console/operator/case/{case}"));
    assert_eq!(
        stored(&app, &case).await.disposition.map(|d| d.to_string()).as_deref(),
        Some("referred")
    );

    // Closing: the case is closed, audited, and leaves the operator's screen.
    let forged = post_without_csrf(
        &mut browser,
        &dispose,
        &[("disposition", "referred"), ("close", "true")],
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(stored(&app, &case).await.closed_at.is_none());
    let closed = browser
        .post(
            &dispose,
            &[("disposition", "information-given"), ("close", "true"), ("from", "operator")],
        )
        .await;
    assert_eq!(closed.status, 303);
    assert!(stored(&app, &case).await.closed_at.is_some());
    assert_eq!(app.storage.audit_log(audit(olga.id, "case.close")).await.unwrap().len(), 1);
    let screen = browser.get("/console/operator").await;
    assert!(screen.body.contains(r#"data-testid="no-case""#), "{}", screen.body);
    let page = browser.get(&format!("/console/operator/case/{case}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"data-testid="closed""#));
    let again = browser.post(&dispose, &[("disposition", "referred"), ("close", "true")]).await;
    assert_eq!(again.status, 409);
    assert_no_number(&page.body);
    app.stop().await;
}

/// The disposition list of a page: its `<select>` element.
fn disposition_select(html: &str) -> &str {
    let start = html.find(r#"<select name="disposition""#).expect("a disposition list");
    let end = start + html[start..].find("</select>").expect("the list ends");
    &html[start..end]
}

#[tokio::test]
async fn no_disposition_is_preselected_a_close_needs_a_choice_and_says_what_it_recorded() {
    // Arrange: a case with a disposition set but not closed.
    let app = spawn_app().await;
    let (olga, mut browser) = operator(&app, "olga", &["ru"]).await;
    let case = connected_caller(&app, &olga).await;
    let page = format!("/console/operator/case/{case}");
    let dispose = format!("{page}/disposition");
    let set = browser.post(&dispose, &[("disposition", "referred"), ("close", "false")]).await;
    assert_eq!(set.status, 303, "{}", set.body);

    // Assert: both forms start on an empty, selected choice, and only that one is selected.
    for path in [page.as_str(), "/console/operator"] {
        let html = browser.get(path).await.body;
        let select = disposition_select(&html);
        assert!(select.contains(r#"<option value="" selected>Choose…</option>"#), "{select}");
        assert_eq!(select.matches("selected").count(), 1, "{path}: {select}");
        assert!(select.contains(r#"required"#), "{select}");
    }

    // A close without a choice is refused, with the reason, and closes nothing.
    for fields in [
        vec![("close", "true")],
        vec![("disposition", ""), ("close", "true"), ("from", "operator")],
        vec![("disposition", "   "), ("close", "true")],
    ] {
        let refused = browser.post(&dispose, &fields).await;
        assert_eq!(refused.status, 400, "{fields:?}");
        assert!(refused.body.contains("no disposition was chosen"), "{}", refused.body);
    }
    let number = case.parse().unwrap();
    assert!(app.storage.case_work(number).await.unwrap().unwrap().closed_at.is_none());
    // The confirmation is read from the case, never from the address: not on an open case.
    let open = browser.get(&format!("{page}?closed=1")).await;
    assert_eq!(open.status, 200);
    assert!(!open.body.contains(r#"data-testid="recorded""#), "{}", open.body);
    for bad in ["0", "true", "%3Cscript%3E", &"1".repeat(10_000)] {
        assert_eq!(browser.get(&format!("{page}?closed={bad}")).await.status, 400, "{bad:.20}");
    }
    let noted = browser.post(&format!("{page}/notes"), &[("text", "Asked about the route.")]).await;
    assert_eq!(noted.status, 303, "{}", noted.body);

    // Act: closed with a deliberate choice, from the operator's screen.
    let closed = browser
        .post(
            &dispose,
            &[("disposition", "information-given"), ("close", "true"), ("from", "operator")],
        )
        .await;

    // Assert: the page says what was recorded.
    assert_eq!(closed.status, 303, "{}", closed.body);
    assert_eq!(closed.location(), format!("{page}?closed=1"));
    let confirmed = browser.get(closed.location()).await;
    let at = confirmed.body.find(r#"data-testid="recorded""#).expect("a confirmation");
    let flash = &confirmed.body[at..at + confirmed.body[at..].find("</p>").unwrap()];
    assert!(flash.contains("<strong>information-given</strong>"), "{flash}");
    // With the caller's choices and the notes that stay with the case.
    assert!(flash.contains("serviceman, wants to surrender"), "{flash}");
    assert!(flash.contains(r#"data-testid="recorded-notes">1<"#), "{flash}");
    let work = app.storage.case_work(number).await.unwrap().unwrap();
    assert_eq!(work.disposition.map(|d| d.to_string()).as_deref(), Some("information-given"));
    app.stop().await;
}

#[tokio::test]
async fn bad_case_numbers_get_a_clear_error_page() {
    let app = spawn_app().await;
    let (_, mut browser) = operator(&app, "olga", &["ru"]).await;
    for (path, status) in [
        ("/console/operator/case/nonsense", 400),
        ("/console/operator/case/2026-000000x", 400),
        ("/console/operator/case/2026-999999", 404),
        ("/console/operator/case?number=%3Cscript%3E", 400),
        ("/console/operator/case?number=", 400),
    ] {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
    }
    let open = browser.get("/console/operator/case?number=2026-000042").await;
    assert_eq!(open.status, 303);
    assert_eq!(open.location(), "/console/operator/case/2026-000042");
    let note = browser
        .post("/console/operator/case/%27%3B%20DROP%20TABLE%20cases%3B--/notes", &[("text", "x")])
        .await;
    assert!([400, 404].contains(&note.status), "{}", note.status);
    let note = browser.post("/console/operator/case/2026-999999/notes", &[("text", "x")]).await;
    assert_eq!(note.status, 404);
    app.stop().await;
}

/// A Russian caller leaves the queue to ask for a callback on [`TYPED`] and confirms it.
async fn callback_requested(app: &TestApp) {
    let (sid, enqueued) = waiting_caller(app).await;
    let wait_url = attribute(&enqueued, "Enqueue", "waitUrl").unwrap();
    let wait = app.post_call(&wait_url, &sid, &[("QueuePosition", "1")]).await;
    let gather = attribute(&wait, "Gather", "action").unwrap();
    app.post_call(&gather, &sid, &[("Digits", "2")]).await;
    let action = attribute(&enqueued, "Enqueue", "action").unwrap();
    let asked =
        app.post_call(&action, &sid, &[("QueueResult", "leave"), ("QueueTime", "30")]).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    let read = app.post_call(&action, &sid, &[("Digits", TYPED)]).await;
    let confirm = attribute(&read, "Gather", "action").unwrap();
    app.post_call(&confirm, &sid, &[("Digits", "1")]).await;
    app.post_call("/voice/status", &sid, &[("CallStatus", "completed"), ("CallDuration", "90")])
        .await;
}

fn follow_up_id(html: &str) -> String {
    let start = html.find(r#"data-testid="followup" data-id=""#).expect("a follow-up") + 32;
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn only_the_taker_reveals_a_callback_number_on_a_page_of_its_own_and_it_is_audited() {
    // Arrange
    let app = spawn_app().await;
    let (olga, mut olga_browser) = operator(&app, "olga", &["ru"]).await;
    let (ivan, mut ivan_browser) = operator(&app, "ivan", &["ru"]).await;
    let (_, mut taras_browser) = operator(&app, "taras", &["uk"]).await;
    callback_requested(&app).await;
    let list = olga_browser.get("/console/followups").await;
    assert_eq!(list.status, 200);
    assert_no_number(&list.body);
    assert!(list.body.contains("Callback request"), "{}", list.body);
    let id = follow_up_id(&list.body);
    let path = |what: &str| format!("/console/followups/{id}/{what}");

    // Another language's operator does not see it and cannot take it.
    let theirs = taras_browser.get("/console/followups").await;
    assert!(theirs.body.contains(r#"data-testid="no-followups""#), "{}", theirs.body);
    assert_eq!(taras_browser.post(&path("take"), &[]).await.status, 404);
    // Nobody took it yet: no reveal, even for Olga; refusals are audited.
    assert_eq!(olga_browser.post(&path("reveal"), &[]).await.status, 409);

    // Act: Olga takes it (not without the token), Ivan tries to reveal, Olga reveals.
    assert_eq!(post_without_csrf(&mut olga_browser, &path("take"), &[]).await.status, 403);
    let taken = olga_browser.post(&path("take"), &[]).await;
    assert_eq!(taken.status, 303);
    assert_eq!(ivan_browser.post(&path("take"), &[]).await.status, 409);
    let refused = ivan_browser.post(&path("reveal"), &[]).await;
    let forged = post_without_csrf(&mut olga_browser, &path("reveal"), &[]).await;
    let revealed = olga_browser.post(&path("reveal"), &[]).await;

    // Assert: only Olga's reveal answers the number, once, and each is audited.
    assert_eq!(refused.status, 409);
    assert!(!refused.body.contains(TYPED));
    assert_eq!(forged.status, 403);
    assert!(!forged.body.contains(TYPED));
    assert_eq!(revealed.status, 200, "{}", revealed.body);
    assert!(revealed.body.contains(&format!("+{TYPED}")), "{}", revealed.body);
    let reveals = app.storage.audit_log(audit(olga.id, "followup.reveal")).await.unwrap();
    assert_eq!(reveals.len(), 1);
    assert!(!reveals[0].detail.contains(TYPED));
    let refusals = app.storage.audit_log(audit(ivan.id, "followup.reveal-refused")).await.unwrap();
    assert_eq!(refusals.len(), 1);
    let list = olga_browser.get("/console/followups").await;
    assert_no_number(&list.body);
    assert!(list.body.contains("taken by me"));
    // The callback's case, timeline included, shows neither number in any grouping.
    let at = list.body.find("/console/operator/case/").expect("a link to the case");
    let case_path = list.body[at..].split('"').next().unwrap().to_owned();
    let case_page = olga_browser.get(&case_path).await;
    assert_eq!(case_page.status, 200);
    let digits: String = case_page.body.chars().filter(char::is_ascii_digit).collect();
    assert!(!digits.contains(&TYPED[4..]), "the callback number's digits on the case page");
    assert_no_number(&case_page.body);

    // Attempts: only the taker, only known outcomes; "reached" closes it.
    assert_eq!(ivan_browser.post(&path("attempts"), &[("result", "tried")]).await.status, 409);
    for bad in ["", "called", "<script>", &"r".repeat(50_000)] {
        let answer = olga_browser.post(&path("attempts"), &[("result", bad)]).await;
        assert_eq!(answer.status, 400, "{bad:.20}");
    }
    let forged =
        post_without_csrf(&mut olga_browser, &path("attempts"), &[("result", "reached")]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(olga_browser.post(&path("attempts"), &[("result", "no-answer")]).await.status, 303);
    assert_eq!(olga_browser.post(&path("attempts"), &[("result", "reached")]).await.status, 303);
    let attempts = app.storage.audit_log(audit(olga.id, "followup.attempt")).await.unwrap();
    assert_eq!(attempts.len(), 2);
    let open = olga_browser.get("/console/followups").await;
    assert!(open.body.contains(r#"data-testid="no-followups""#), "{}", open.body);
    let all = olga_browser.get("/console/followups?closed=true").await;
    assert!(all.body.contains("reached"), "{}", all.body);
    assert_no_number(&all.body);

    // Bad ids and bad query values.
    for bad in ["abc", "0x1", "99999999999999999999", "-1"] {
        let answer = olga_browser.post(&format!("/console/followups/{bad}/take"), &[]).await;
        assert_eq!(answer.status, 400, "{bad}");
    }
    assert_eq!(olga_browser.post("/console/followups/987654/reveal", &[]).await.status, 404);
    assert_eq!(olga_browser.get("/console/followups?closed=yes").await.status, 400);
    app.stop().await;
}

#[tokio::test]
async fn a_voicemail_is_shown_without_its_recording_url() {
    let app = spawn_app().await;
    let (_, mut browser) = operator(&app, "olga", &["ru"]).await;
    let (sid, enqueued) = waiting_caller(&app).await;
    let wait_url = attribute(&enqueued, "Enqueue", "waitUrl").unwrap();
    let wait = app.post_call(&wait_url, &sid, &[("QueuePosition", "1")]).await;
    let gather = attribute(&wait, "Gather", "action").unwrap();
    app.post_call(&gather, &sid, &[("Digits", "1")]).await;
    let action = attribute(&enqueued, "Enqueue", "action").unwrap();
    let record =
        app.post_call(&action, &sid, &[("QueueResult", "leave"), ("QueueTime", "30")]).await;
    let action = attribute(&record, "Record", "action").unwrap();
    let status_url = attribute(&record, "Record", "recordingStatusCallback").unwrap();
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1";
    app.post_call(&action, &sid, &[("RecordingUrl", url), ("RecordingDuration", "9")]).await;
    let done =
        [("RecordingStatus", "completed"), ("RecordingUrl", url), ("RecordingDuration", "9")];
    app.post_call(&status_url, &sid, &done).await;
    app.post_call("/voice/status", &sid, &[("CallStatus", "completed"), ("CallDuration", "60")])
        .await;

    let list = browser.get("/console/followups").await;

    // The provider's address never reaches the page; without `[provider]` the page says
    // where the recording is (it plays through the server otherwise: `provider_rest.rs`).
    assert!(!list.body.contains(url), "{}", list.body);
    assert!(list.body.contains("configure [provider] to play it here"), "{}", list.body);
    assert!(list.body.contains("Voicemail"));
    assert_no_number(&list.body);
    app.stop().await;
}

#[tokio::test]
async fn a_callback_request_reads_as_one_on_the_operators_case_page_in_their_language() {
    // Arrange: a caller who left the queue for a callback, then hung up.
    let app = spawn_app().await;
    let (_, mut olga) = operator(&app, "olga", &["ru"]).await;
    callback_requested(&app).await;
    let case = app.storage.recent_cases(1).await.unwrap()[0].number;

    // Act
    let page = olga.get(&format!("/console/operator/case/{case}")).await;

    // Assert: the outcome and the timeline's line say it, the number masked, no prompt or
    // recording on this screen.
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"data-outcome="callback">asked for a callback<"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("<strong>Asked to be called back on</strong> …78"), "{}", page.body);
    assert!(!page.body.contains("finished"), "{}", page.body);
    assert!(!page.body.contains("<strong>Heard</strong>"), "{}", page.body);
    assert_no_number(&page.body);
    assert_eq!(olga.post("/console/language", &[("language", "uk")]).await.status, 303);
    let page = olga.get(&format!("/console/operator/case/{case}")).await;
    assert!(page.body.contains(">попросив передзвонити<"), "{}", page.body);
    app.stop().await;
}
