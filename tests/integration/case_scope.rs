//! Who reaches which case: every case and follow-up route of the API and the console, walked
//! by a supervisor, an operator of the case's language, one of another language, and one of
//! another language the operator line connected to the caller. A case out of reach answers
//! exactly as a case that does not exist, is audited, and is left as it was. Real server,
//! cases made by real signed calls.

use crate::common;

use common::api::{self, person};
use common::console::{Answer, Browser};
use common::{TestApp, attribute, new_call_sid, spawn_app, spawn_app_with, text};
use hotline::domain::audit::AuditFilter;
use hotline::domain::cases::CaseNumber;
use hotline::domain::people::Role;
use serde_json::{Value, json};

/// A case number no call has had.
const MISSING_CASE: &str = "2026-999999";

/// A follow-up id no follow-up has had.
const MISSING_FOLLOW_UP: &str = "999999";

/// Who walks the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// A supervisor who speaks only Korean: sees every case.
    Supervisor,
    /// An operator who speaks Russian, the case's language.
    Speaks,
    /// An operator who speaks only Korean.
    Other,
    /// An operator who speaks only Korean, whom the operator line gave the case's caller.
    Connected,
}

/// A Russian caller who leaves a voicemail: a case in `ru` with a voicemail follow-up.
async fn russian_voicemail(app: &TestApp) -> CaseNumber {
    let transcript = app.call("1,1,2,2,1", None).await;
    app.case(&transcript.call_sid).await.number
}

/// What the operator line writes when it gives `operator` the caller of `case`: the queue
/// entry's operator (here one that was bridged and has ended).
fn connect(app: &TestApp, case: CaseNumber, operator: i64) {
    rusqlite::Connection::open(&app.db_path)
        .unwrap()
        .execute(
            "INSERT INTO queue_entries (case_id, call_sid, step, language, provider_queue,
                                        interpreter_needed, joined_at, state, operator_id,
                                        connecting_at, bridged_at, ended_at, result)
             SELECT id, call_sid, 90, 'ko', 'scope-' || id, 1, started_at, 'left', ?1,
                    started_at, started_at, started_at, 'bridged'
             FROM cases WHERE number_year = ?2 AND number_seq = ?3",
            rusqlite::params![operator, case.year, case.sequence],
        )
        .unwrap();
}

/// Everything a route could change about a case and its follow-up, to compare before and
/// after a refused walk.
async fn snapshot(app: &TestApp, case: CaseNumber) -> String {
    let work = app.storage.case_work(case).await.unwrap().unwrap();
    let follow_ups: Vec<_> = app
        .storage
        .follow_ups(true)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.case == case)
        .collect();
    format!("{work:?} {follow_ups:?}")
}

/// The audit lines of `action` about `case`.
async fn audited(app: &TestApp, action: &str, case: CaseNumber) -> usize {
    let filter = AuditFilter {
        case: Some(case),
        action: Some(action.into()),
        limit: 1000,
        ..AuditFilter::default()
    };
    app.storage.audit_log(filter).await.unwrap().len()
}

/// One route, as the test sends it.
enum Route {
    /// `(method, path, body)` with the bearer token.
    Api(&'static str, String, Option<Value>),
    /// A page read in the console.
    Page(String),
    /// A form posted in the console, with the session's CSRF token.
    Form(String, Vec<(&'static str, &'static str)>),
}

/// A walker's way in: their token and a logged-in browser.
struct Client {
    token: String,
    browser: Browser,
}

impl Client {
    /// Sends the route; the status and the body as text.
    async fn send(&mut self, app: &TestApp, route: &Route) -> (u16, String) {
        match route {
            Route::Api(method, path, body) => {
                let (status, body) =
                    api::api(app, method, path, Some(&self.token), body.clone()).await;
                (status, body.to_string())
            }
            Route::Page(path) => {
                let Answer { status, body, .. } = self.browser.get(path).await;
                (status, body)
            }
            Route::Form(path, fields) => {
                // A page first, for its CSRF token.
                assert_eq!(self.browser.get("/console/settings").await.status, 200);
                let Answer { status, body, .. } = self.browser.post(path, fields).await;
                (status, body)
            }
        }
    }
}

/// Every case route of both surfaces for `case` and its follow-up `id`, each with the status
/// each walker gets and whether it is refused as out of reach (then a 404 that must read as
/// the same route's answer for a case or follow-up that does not exist).
fn routes(case: &str, id: &str) -> Vec<(&'static str, Route, [u16; 4])> {
    use Route::{Api, Form, Page};
    let c = |path: &str| path.replace("{n}", case).replace("{id}", id);
    // Statuses in the order Supervisor, Speaks, Other, Connected. The case is closed by the
    // API's close and reopened by the test before the console's routes.
    vec![
        ("api read", Api("GET", c("/api/cases/{n}"), None), [200, 200, 404, 200]),
        (
            "api note",
            Api("POST", c("/api/cases/{n}/notes"), Some(json!({ "text": "scope" }))),
            [201, 201, 404, 201],
        ),
        (
            "api disposition",
            Api("PUT", c("/api/cases/{n}/disposition"), Some(json!({ "disposition": "referred" }))),
            [200, 200, 404, 200],
        ),
        (
            "api close",
            Api(
                "PUT",
                c("/api/cases/{n}/disposition"),
                Some(json!({ "disposition": "referred", "close": true })),
            ),
            [200, 200, 404, 200],
        ),
        ("api reopen", Api("POST", c("/api/cases/{n}/reopen"), None), [200, 403, 403, 403]),
        ("api search", Api("GET", c("/api/cases?language=ru"), None), [200, 403, 403, 403]),
        ("api csv", Api("GET", c("/api/cases.csv"), None), [200, 403, 403, 403]),
        ("api follow-up", Api("GET", c("/api/followups/{id}"), None), [200, 200, 404, 200]),
        // Taking is calling back, in the caller's language: the Korean speakers may see the
        // follow-up but not take it.
        ("api take", Api("POST", c("/api/followups/{id}/take"), None), [409, 200, 404, 409]),
        (
            "api attempt",
            Api("POST", c("/api/followups/{id}/attempts"), Some(json!({ "result": "tried" }))),
            [409, 200, 404, 409],
        ),
        // A voicemail has no number to reveal, even to the one who took it.
        ("api reveal", Api("POST", c("/api/followups/{id}/reveal"), None), [409, 404, 404, 409]),
        ("console case", Page(c("/console/operator/case/{n}")), [200, 200, 404, 200]),
        (
            "console note",
            Form(c("/console/operator/case/{n}/notes"), vec![("text", "scope")]),
            [303, 303, 404, 303],
        ),
        (
            "console disposition",
            Form(c("/console/operator/case/{n}/disposition"), vec![("disposition", "prank")]),
            [303, 303, 404, 303],
        ),
        (
            "console close",
            Form(
                c("/console/operator/case/{n}/disposition"),
                vec![("disposition", "prank"), ("close", "true")],
            ),
            [303, 303, 404, 303],
        ),
        ("console detail", Page(c("/console/cases/{n}")), [200, 403, 403, 403]),
        ("console search", Page(c("/console/cases?language=ru")), [200, 403, 403, 403]),
        ("console csv", Page(c("/console/cases.csv")), [200, 403, 403, 403]),
        ("console take", Form(c("/console/followups/{id}/take"), vec![]), [409, 303, 404, 409]),
        (
            "console attempt",
            Form(c("/console/followups/{id}/attempts"), vec![("result", "no-answer")]),
            [409, 303, 404, 409],
        ),
        ("console reveal", Form(c("/console/followups/{id}/reveal"), vec![]), [409, 404, 404, 409]),
    ]
}

#[tokio::test]
async fn every_case_route_of_both_surfaces_answers_each_role_by_the_cases_reach() {
    let app = spawn_app().await;
    let walkers = [Who::Supervisor, Who::Speaks, Who::Other, Who::Connected];
    for (index, who) in walkers.into_iter().enumerate() {
        // Arrange: a case of its own for each walker, so each sees a fresh one.
        let case = russian_voicemail(&app).await;
        let (role, languages) = match who {
            Who::Supervisor => (Role::Supervisor, ["ko"]),
            Who::Speaks => (Role::Operator, ["ru"]),
            Who::Other | Who::Connected => (Role::Operator, ["ko"]),
        };
        let name = format!("walker-{index}");
        let (walker, token) = person(&app, &name, role, &languages).await;
        if who == Who::Connected {
            connect(&app, case, walker.id);
        }
        let follow_up = app.storage.follow_ups(false).await.unwrap();
        let id = follow_up.iter().find(|f| f.case == case).expect("the voicemail's follow-up").id;
        let browser = Browser::login(&app, &name, api::TEST_PASSWORD).await;
        let mut client = Client { token, browser };
        let before = snapshot(&app, case).await;
        let (n, id) = (case.to_string(), id.to_string());

        // Act + Assert, route by route.
        for (label, route, statuses) in routes(&n, &id) {
            if label == "console case"
                && app.storage.case_work(case).await.unwrap().unwrap().closed_at.is_some()
            {
                app.storage.reopen_case(case).await.unwrap();
            }
            let refusals = audited(&app, "case.refused", case).await;
            let (status, body) = client.send(&app, &route).await;
            let expected = statuses[index];
            assert_eq!(status, expected, "{who:?} {label}: {body:.300}");
            if who != Who::Other || expected != 404 {
                continue;
            }
            // Out of reach: word for word what a case or follow-up that does not exist gets,
            // and the attempt is in the audit log.
            let missing = match &route {
                Route::Api(method, path, body) => Route::Api(
                    method,
                    path.replace(&n, MISSING_CASE)
                        .replace(&format!("/{id}"), &format!("/{MISSING_FOLLOW_UP}")),
                    body.clone(),
                ),
                Route::Page(path) => Route::Page(path.replace(&n, MISSING_CASE)),
                Route::Form(path, fields) => Route::Form(
                    path.replace(&n, MISSING_CASE)
                        .replace(&format!("/{id}/"), &format!("/{MISSING_FOLLOW_UP}/")),
                    fields.clone(),
                ),
            };
            let (missing_status, missing_body) = client.send(&app, &missing).await;
            assert_eq!(missing_status, 404, "{label} of nothing");
            let as_if_missing = body
                .replace(&n, MISSING_CASE)
                .replace(&format!(" {id} "), &format!(" {MISSING_FOLLOW_UP} "));
            assert_eq!(as_if_missing, missing_body, "{label}: the refusal tells the case exists");
            assert_eq!(audited(&app, "case.refused", case).await, refusals + 1, "{label} audited");
        }

        // Refused: nothing changed, nothing read.
        if who == Who::Other {
            assert_eq!(snapshot(&app, case).await, before);
            assert_eq!(audited(&app, "case.read", case).await, 0);
            let list =
                api::api(&app, "GET", "/api/followups?closed=true", Some(&client.token), None)
                    .await
                    .1;
            assert!(!list.to_string().contains(&n), "{list}");
            let page = client.browser.get("/console/followups?closed=true").await;
            assert!(!page.body.contains(&n), "{}", page.body);
        } else {
            let list =
                api::api(&app, "GET", "/api/followups?closed=true", Some(&client.token), None)
                    .await
                    .1;
            assert!(list.to_string().contains(&n), "{who:?}: {list}");
            let page = client.browser.get("/console/followups?closed=true").await;
            assert!(page.body.contains(&n), "{who:?}: {}", page.body);
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_operator_line_connecting_an_interpreted_caller_opens_that_case_to_that_operator() {
    // Arrange: Russian callers go to Korean operators while no Russian one is on duty.
    let app = spawn_app_with(|c| c.queues.fallbacks = "ru=ko".parse().unwrap()).await;
    let (kim, kim_token) = person(&app, "kim", Role::Operator, &["ko"]).await;
    let (_, min_token) = person(&app, "min", Role::Operator, &["ko"]).await;
    // Kim is on the operator line: only an operator who can be put through holds off a
    // fallback.
    let op_sid = new_call_sid();
    let start = app.post_call("/voice/operator", &op_sid, &[]).await;
    let action = attribute(&start, "Gather", "action").unwrap();
    let asked = app.post_call(&action, &op_sid, &[("Digits", &kim.id.to_string())]).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    let idle = app.post_call(&action, &op_sid, &[("Digits", api::TEST_PIN)]).await;
    assert!(idle.contains("No caller is waiting"), "{idle}");
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
    let case = format!("/api/cases/{}", app.case(&sid).await.number);
    let (before, _) = api::api(&app, "GET", &case, Some(&kim_token), None).await;

    // Act: Kim, on the line, asks for the next caller and is given this one.
    let next = format!("/voice/operator/next?op={}&langs=ko", kim.id);
    let connected = app.post_call(&next, &op_sid, &[]).await;
    assert!(connected.contains("<Queue"), "{connected}");
    assert!(connected.contains("entry="), "{connected}");

    // Assert: the Russian case opens to Kim from then on, and only to Kim.
    assert_eq!(before, 404, "a Russian case before the line gave it to a Korean operator");
    let (status, body) = api::api(&app, "GET", &case, Some(&kim_token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["queue"][0]["interpreter_needed"], true, "{body}");
    let (status, _) = api::api(&app, "GET", &case, Some(&min_token), None).await;
    assert_eq!(status, 404);
    let mut browser = Browser::login(&app, "kim", api::TEST_PASSWORD).await;
    let screen = browser.get("/console/operator").await;
    assert!(screen.body.contains(r#"data-testid="case-number""#), "{}", screen.body);
    app.stop().await;
}
