//! Case work through the JSON API against a real server: case detail with the caller masked,
//! repeat callers, notes, dispositions, search and CSV export, the blocklist and what a
//! blocked caller hears. Cases are made by real signed calls.

use crate::common;

use common::api::TEST_PASSWORD;
use common::api::{Allowed, BAD_TOKEN, api, assert_matrix, person, raw};
use common::console::Browser;
use common::{TestApp, new_call_sid, spawn_app, spawn_app_with};
use hotline::config::BlockAnswer;
use hotline::domain::audit::AuditFilter;
use hotline::domain::cases::{
    CallSid, CallStatus, CaseNumber, Event, LanguageChoiceMethod, Record,
};
use hotline::domain::casework::{CaseFilter, MAX_PAGE};
use hotline::domain::people::Role;
use hotline::simulator::{CallEnd, Heard};
use serde_json::{Value, json};

/// The number every simulated call comes from (see `tests/common`).
const CALLER_DIGITS: &str = "79161234567";

/// Places a call (Russian, surrender, with others, can't talk, voicemail) and returns its case.
async fn call_case(app: &TestApp) -> CaseNumber {
    let transcript = app.call("1,1,2,2,1", None).await;
    app.case(&transcript.call_sid).await.number
}

/// Opens a case with one signed `/voice/incoming` from `from` (`None`: a withheld number).
async fn incoming_from(app: &TestApp, from: Option<&str>) -> CaseNumber {
    let sid = common::new_call_sid();
    let mut params = vec![("CallSid", sid.as_str()), ("To", "+18005550100")];
    if let Some(from) = from {
        params.push(("From", from));
    }
    assert_eq!(app.post("/voice/incoming", &params).await.status, 200);
    app.case(&sid).await.number
}

/// The audit lines with this action about this case.
async fn audited(app: &TestApp, action: &str, case: Option<CaseNumber>) -> usize {
    let filter = AuditFilter { case, actor: None, action: Some(action.into()), limit: 100 };
    app.storage.audit_log(filter).await.unwrap().len()
}

/// Fails if any trace of the caller's number or of its hash is in `text`.
async fn assert_no_caller_data(app: &TestApp, case: CaseNumber, text: &str) {
    assert!(!text.contains(CALLER_DIGITS), "the caller's number leaked: {text}");
    assert!(!text.contains("1234567"), "digits of the caller's number leaked: {text}");
    let stored = app.storage.case(case).await.unwrap().unwrap();
    if let Some(hash) = stored.caller {
        assert!(!text.contains(&hash.0), "the caller's hash leaked: {text}");
    }
}

/// Fails unless the call went through the IVR as usual (to its voicemail), unflagged.
async fn assert_was_handled_normally(app: &TestApp, call_sid: &str) {
    let case = app.case(call_sid).await;
    assert!(case.events.iter().any(|e| matches!(e.event, Event::Voicemail { .. })), "{case:?}");
    assert!(!case.events.iter().any(|e| matches!(e.event, Event::Blocked { .. })), "{case:?}");
}

fn db(app: &TestApp) -> rusqlite::Connection {
    rusqlite::Connection::open(&app.db_path).unwrap()
}

#[tokio::test]
async fn a_case_detail_shows_the_call_and_never_the_callers_number() {
    let app = spawn_app().await;
    let number = call_case(&app).await;
    let (_, token) = person(&app, "olga", Role::Operator, &["ru"]).await;

    let (status, body) =
        api(&app, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["number"], number.to_string());
    assert_eq!(body["language"], "ru");
    assert_eq!(body["outcome"], "voicemail");
    assert!(body["voicemail_url"].as_str().is_some_and(|u| u.starts_with("http")), "{body}");
    assert!(body["tags"].as_array().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["timeline"].as_array().is_some_and(|t| t.len() > 3), "{body}");
    assert_eq!(body["caller"], json!({ "country": null, "hidden": false }));
    assert_eq!(body["notes"], json!([]));
    assert_eq!(body["closed"], false);
    assert_eq!(body["queue"], json!([]));
    assert_no_caller_data(&app, number, &body.to_string()).await;
    assert_eq!(audited(&app, "case.read", Some(number)).await, 1);
}

#[tokio::test]
async fn case_numbers_are_checked_before_lookup() {
    let app = spawn_app().await;
    let (_, token) = person(&app, "olga", Role::Operator, &["ru"]).await;
    for bad in ["42", "2026-", "2026-00a042", "'%20OR%201=1", "2026-0000000001", "%E2%80%AE"] {
        let (status, body) =
            api(&app, "GET", &format!("/api/cases/{bad}"), Some(&token), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, _) = api(&app, "GET", "/api/cases/2026-999999", Some(&token), None).await;
    assert_eq!(status, 404);
    assert_eq!(audited(&app, "case.read", None).await, 0);
}

#[tokio::test]
async fn a_repeat_caller_is_linked_to_their_earlier_cases_without_their_hash() {
    let app = spawn_app().await;
    // A supervisor: two of these calls end before a language is chosen, and such a case is
    // no operator's (only a supervisor's, or an operator connected to it).
    let (_, token) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let first = call_case(&app).await;
    let other = incoming_from(&app, Some("+380501112233")).await;
    let second = call_case(&app).await;
    let hidden = incoming_from(&app, None).await;

    let get = |n: CaseNumber| {
        let token = token.clone();
        let app = &app;
        async move { api(app, "GET", &format!("/api/cases/{n}"), Some(&token), None).await.1 }
    };
    let second_body = get(second).await;
    assert_eq!(second_body["repeat_cases"], json!([first.to_string()]));
    assert_eq!(get(first).await["repeat_cases"], json!([]));
    assert_eq!(get(other).await["repeat_cases"], json!([]));
    let hidden_body = get(hidden).await;
    assert_eq!(hidden_body["caller"]["hidden"], true);
    assert_eq!(hidden_body["repeat_cases"], json!([]));
    assert_no_caller_data(&app, second, &second_body.to_string()).await;
}

#[tokio::test]
async fn notes_are_appended_authored_and_the_database_refuses_to_change_them() {
    let app = spawn_app().await;
    let number = call_case(&app).await;
    let (olga, token) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let path = format!("/api/cases/{number}/notes");
    let texts = [
        "Caller wants to surrender with two others.\nCall back at night.",
        "Ещё звонок: «всё в порядке» — 한국어 🙂",
        "'); DROP TABLE case_notes; -- <script>alert(1)</script>",
    ];

    for text in texts {
        let (status, body) =
            api(&app, "POST", &path, Some(&token), Some(json!({ "text": text }))).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["author"]["name"], "olga");
        assert_eq!(body["text"], text);
    }

    let (_, detail) = api(&app, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    let notes: Vec<&str> =
        detail["notes"].as_array().unwrap().iter().map(|n| n["text"].as_str().unwrap()).collect();
    assert_eq!(notes, texts);
    assert_eq!(detail["notes"][0]["author"]["id"], olga.id);
    assert_eq!(audited(&app, "case.note", Some(number)).await, 3);
    let conn = db(&app);
    for sql in ["UPDATE case_notes SET text = 'changed'", "DELETE FROM case_notes"] {
        let error = conn.execute(sql, []).unwrap_err().to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
}

#[tokio::test]
async fn bad_notes_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let number = call_case(&app).await;
    let (_, token) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let path = format!("/api/cases/{number}/notes");
    let bodies = [
        json!({ "text": "" }),
        json!({ "text": "   \n  " }),
        json!({ "text": "x".repeat(4001) }),
        json!({ "text": "bell\u{7}" }),
        json!({ "text": "line\r\nforged" }),
        json!({ "text": "fine", "author": "someone else" }),
        json!({ "note": "wrong field" }),
        json!({ "text": 42 }),
        json!("text"),
        json!(null),
    ];
    for body in bodies {
        let (status, answer) = api(&app, "POST", &path, Some(&token), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let (status, _) =
        raw(&app, "POST", &path, Some(&token), Some(b"{not json".to_vec()), "application/json")
            .await;
    assert_eq!(status, 400);
    let huge = format!("{{\"text\": \"{}\"}}", "a".repeat(1024 * 1024));
    let (status, _) =
        raw(&app, "POST", &path, Some(&token), Some(huge.into_bytes()), "application/json").await;
    assert_eq!(status, 400);
    let (status, _) =
        api(&app, "POST", "/api/cases/2026-999999/notes", Some(&token), Some(json!({"text": "x"})))
            .await;
    assert_eq!(status, 404);
    assert_eq!(audited(&app, "case.note", None).await, 0);
    assert_eq!(audited(&app, "case.note", Some(number)).await, 0);
}

#[tokio::test]
async fn a_disposition_closes_a_case_once_and_only_a_supervisor_reopens_it() {
    let app = spawn_app().await;
    let number = call_case(&app).await;
    let (olga, operator) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let path = format!("/api/cases/{number}/disposition");
    let reopen = format!("/api/cases/{number}/reopen");

    let (status, body) = api(
        &app,
        "PUT",
        &path,
        Some(&operator),
        Some(json!({ "disposition": "information-given" })),
    )
    .await;
    assert_eq!((status, body["closed"].clone()), (200, json!(false)), "{body}");
    let close = json!({ "disposition": "surrender-arranged", "close": true });
    let (status, body) = api(&app, "PUT", &path, Some(&operator), Some(close.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed"], true);
    assert_eq!(body["closed_by"]["id"], olga.id);

    let (status, _) = api(&app, "PUT", &path, Some(&operator), Some(close.clone())).await;
    assert_eq!(status, 409);
    let (status, _) =
        api(&app, "PUT", &path, Some(&operator), Some(json!({ "disposition": "prank" }))).await;
    assert_eq!(status, 409);
    let (status, _) = api(&app, "POST", &reopen, Some(&operator), None).await;
    assert_eq!(status, 403);
    let (status, _) = api(&app, "POST", &reopen, Some(&supervisor), None).await;
    assert_eq!(status, 200);
    let (status, _) = api(&app, "POST", &reopen, Some(&supervisor), None).await;
    assert_eq!(status, 409);

    let (_, detail) =
        api(&app, "GET", &format!("/api/cases/{number}"), Some(&operator), None).await;
    assert_eq!(detail["closed"], false);
    assert_eq!(detail["disposition"], "surrender-arranged");
    assert_eq!(audited(&app, "case.disposition", Some(number)).await, 1);
    assert_eq!(audited(&app, "case.close", Some(number)).await, 1);
    assert_eq!(audited(&app, "case.reopen", Some(number)).await, 1);

    for bad in [
        json!({ "disposition": "won-the-war" }),
        json!({ "disposition": "PRANK" }),
        json!({ "disposition": "" }),
        json!({ "disposition": "prank", "close": "yes" }),
        json!({ "disposition": "prank", "closed_by": 1 }),
        json!({}),
    ] {
        let (status, body) = api(&app, "PUT", &path, Some(&operator), Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) =
        api(&app, "PUT", "/api/cases/2026-999999/disposition", Some(&operator), Some(close)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn closing_without_a_chosen_disposition_is_refused_and_records_nothing() {
    let app = spawn_app().await;
    let number = call_case(&app).await;
    let (_, operator) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let path = format!("/api/cases/{number}/disposition");

    for body in [
        json!({ "close": true }),
        json!({ "disposition": null, "close": true }),
        json!({ "disposition": "", "close": true }),
        json!({ "disposition": " \t ", "close": true }),
        json!({}),
    ] {
        let (status, answer) = api(&app, "PUT", &path, Some(&operator), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("no disposition was chosen"), "{body}: {error}");
        assert!(error.contains("surrender-arranged, information-given"), "{error}");
    }
    let huge = json!({ "disposition": "x".repeat(100_000), "close": true });
    let (status, answer) = api(&app, "PUT", &path, Some(&operator), Some(huge)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().len() < 1000, "the refusal does not echo a huge value");

    let work = app.storage.case_work(number).await.unwrap().unwrap();
    assert_eq!((work.disposition, work.closed_at), (None, None));
    assert_eq!(audited(&app, "case.close", Some(number)).await, 0);
    assert_eq!(audited(&app, "case.disposition", Some(number)).await, 0);
}

/// Gives a case a queue visit taken by `operator`: 30 s of waiting, 60 s of talk.
fn bridged_by(app: &TestApp, number: CaseNumber, operator: i64) {
    db(app)
        .execute(
            "INSERT INTO queue_entries (case_id, call_sid, step, language, provider_queue,
                                        joined_at, state, operator_id, bridged_at, ended_at, result)
             SELECT id, call_sid, 99, 'ru', 'test-' || id, '2026-03-01T12:00:00.000000000Z',
                    'left', ?1, '2026-03-01T12:00:30.000000000Z', '2026-03-01T12:01:30.000000000Z',
                    'bridged'
             FROM cases WHERE number_year = ?2 AND number_seq = ?3",
            rusqlite::params![operator, number.year, number.sequence],
        )
        .unwrap();
}

fn numbers(body: &Value) -> Vec<String> {
    body["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_search_filter_narrows_the_cases() {
    let app = spawn_app().await;
    let (olga, operator) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let voicemail = call_case(&app).await;
    let english = app.call("4,_,_,_,hangup", None).await;
    let english = app.case(&english.call_sid).await.number;
    let ringing = incoming_from(&app, Some("+380501112233")).await;
    api(
        &app,
        "PUT",
        &format!("/api/cases/{voicemail}/disposition"),
        Some(&operator),
        Some(json!({ "disposition": "prank" })),
    )
    .await;
    bridged_by(&app, english, olga.id);
    let search = |query: &str| {
        let path = format!("/api/cases{query}");
        let token = supervisor.clone();
        let app = &app;
        async move {
            let (status, body) = api(app, "GET", &path, Some(&token), None).await;
            assert_eq!(status, 200, "{path}: {body}");
            numbers(&body)
        }
    };
    let s = |n: CaseNumber| n.to_string();

    assert_eq!(search("").await, [s(ringing), s(english), s(voicemail)]);
    assert_eq!(search("?limit=1&offset=1").await, [s(english)]);
    assert_eq!(search("?language=en").await, [s(english)]);
    assert_eq!(search("?outcome=voicemail").await, [s(voicemail)]);
    assert_eq!(search("?outcome=in-progress").await, [s(ringing)]);
    assert_eq!(search("?disposition=prank").await, [s(voicemail)]);
    assert_eq!(search("?tag=intent=surrender").await, [s(voicemail)]);
    assert_eq!(search(&format!("?operator={}", olga.id)).await, [s(english)]);
    assert_eq!(search("?from=2000-01-01&to=2100-01-01").await.len(), 3);
    assert!(search("?from=2100-01-01").await.is_empty());
    assert!(search("?to=2000-01-01T00:00:00Z").await.is_empty());
    assert!(search("?language=ko").await.is_empty());
    // The export reads page by page, each page after the last case of the one before.
    let mut page = CaseFilter::parse(&[], MAX_PAGE).unwrap();
    page.after = Some(english);
    let after: Vec<CaseNumber> =
        app.storage.search_cases(page).await.unwrap().iter().map(|c| c.number).collect();
    assert_eq!(after, [voicemail]);

    let (_, body) =
        api(&app, "GET", &format!("/api/cases?operator={}", olga.id), Some(&supervisor), None)
            .await;
    assert_eq!(body["cases"][0]["operator"]["name"], "olga");
    assert_eq!(
        (body["cases"][0]["wait_secs"].clone(), body["cases"][0]["talk_secs"].clone()),
        (json!(30), json!(60))
    );
    let (_, detail) =
        api(&app, "GET", &format!("/api/cases/{english}"), Some(&operator), None).await;
    assert_eq!(detail["operator"]["id"], olga.id);
    assert_eq!((detail["wait_secs"].clone(), detail["talk_secs"].clone()), (json!(30), json!(60)));
    assert!(audited(&app, "cases.search", None).await >= 12);
}

#[tokio::test]
async fn bad_search_parameters_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    for query in [
        "limit=-1",
        "limit=0",
        "limit=10001",
        "limit=1000000000000",
        "offset=-1",
        "from=yesterday",
        "to=2026-02-30",
        "from=2026-03-02&to=2026-03-01",
        "language=%27%20OR%201%3D1%20--",
        "outcome=won",
        "disposition=%3Bdrop",
        "tag=intent",
        "operator=abc",
        "colour=red",
        "limit=1&limit=2",
    ] {
        for route in ["/api/cases", "/api/cases.csv"] {
            let (status, body) =
                api(&app, "GET", &format!("{route}?{query}"), Some(&supervisor), None).await;
            assert_eq!(status, 400, "{route}?{query}: {body}");
            assert!(body["error"].is_string(), "{body}");
        }
    }
    // A page of the search is smaller than an export.
    let (status, _) = api(&app, "GET", "/api/cases?limit=501", Some(&supervisor), None).await;
    assert_eq!(status, 400);
    let (status, _) = api(&app, "GET", "/api/cases.csv?limit=501", Some(&supervisor), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_csv_export_is_rfc_4180_without_numbers_and_defuses_formulas() {
    let app = spawn_app().await;
    let (dash, _) = person(&app, "-danger", Role::Operator, &["ru"]).await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    bridged_by(&app, number, dash.id);

    let (status, body) =
        api(&app, "GET", "/api/cases.csv?language=ru", Some(&supervisor), None).await;

    assert_eq!(status, 200);
    let csv = body.as_str().expect("CSV text, not JSON");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "number,started_at,ended_at,language,country,status,duration_secs,outcome,outcome_at,\
         tags,disposition,closed_at,operator,wait_secs,talk_secs,channel"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with(&format!("{number},")), "{csv}");
    assert!(lines[1].contains(",'-danger,30,60"), "{csv}");
    assert!(lines[1].contains("intent=surrender"), "{csv}");
    assert_no_caller_data(&app, number, csv).await;
    assert_eq!(audited(&app, "cases.export", None).await, 1);
}

#[tokio::test]
async fn a_blocked_caller_is_told_goodbye_instead_of_the_voicemail_until_unblocked() {
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;

    let block = json!({ "case": number.to_string(), "reason": "threatens operators" });
    let (status, entry) =
        api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(block.clone())).await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["case"], number.to_string());
    assert_eq!(entry["active"], true);
    assert_no_caller_data(&app, number, &entry.to_string()).await;
    let (status, _) = api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(block)).await;
    assert_eq!(status, 409);

    let transcript = app.call("1,1,2,2,1", None).await;

    // The menus as any caller hears them (a caller ID can be spoofed: nothing may tell the
    // number is blocked), then the goodbye where the voicemail would have recorded.
    assert_eq!(transcript.end, CallEnd::HungUpByServer);
    let heard: Vec<&str> = transcript
        .heard
        .iter()
        .filter_map(|h| match h {
            Heard::Say { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(heard.len() > 4, "{heard:?}");
    assert!(heard.last().unwrap().contains("До свидания"), "{heard:?}");
    assert!(!transcript.heard.iter().any(|h| matches!(h, Heard::Recording { .. })), "recorded");
    let case = app.case(&transcript.call_sid).await;
    assert_eq!(case.events[0].event, Event::Blocked { refused: true });
    let told = case.events.iter().any(|e| {
        matches!(&e.event, Event::Rejected { reason } if reason.contains("instead of a voicemail"))
    });
    assert!(told, "{:?}", case.events);
    let (_, detail) =
        api(&app, "GET", &format!("/api/cases/{}", case.number), Some(&supervisor), None).await;
    assert_eq!(detail["outcome"], "refused", "a refusal reads as one, not as a goodbye");
    let other = incoming_from(&app, Some("+380501112233")).await;
    let other = app.storage.case(other).await.unwrap().unwrap();
    assert!(!other.events.iter().any(|e| matches!(e.event, Event::Blocked { .. })));

    let (status, list) = api(&app, "GET", "/api/blocklist", Some(&supervisor), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["entries"].as_array().unwrap().len(), 1);
    assert_no_caller_data(&app, number, &list.to_string()).await;
    let (status, _) =
        api(&app, "DELETE", &format!("/api/blocklist/{}", case.number), Some(&supervisor), None)
            .await;
    assert_eq!(status, 200);
    let transcript = app.call("1,1,2,2,1", None).await;
    assert_was_handled_normally(&app, &transcript.call_sid).await;
    let (status, _) =
        api(&app, "DELETE", &format!("/api/blocklist/{}", entry["id"]), Some(&supervisor), None)
            .await;
    assert_eq!(status, 404);
    assert_eq!(audited(&app, "blocklist.add", Some(number)).await, 1);
    assert_eq!(audited(&app, "blocklist.remove", Some(number)).await, 1);
    assert_eq!(audited(&app, "blocklist.read", None).await, 1);
}

#[tokio::test]
async fn in_flag_mode_a_blocked_caller_is_handled_normally_and_the_case_flagged() {
    let app = spawn_app_with(|config| config.blocklist.answer = BlockAnswer::Flag).await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    let block =
        json!({ "case": number.to_string(), "reason": "prank calls", "expires_at": "2100-01-01" });
    assert_eq!(api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(block)).await.0, 201);

    let transcript = app.call("1,1,2,2,1", None).await;

    let case = app.case(&transcript.call_sid).await;
    assert_eq!(case.events[0].event, Event::Blocked { refused: false });
    assert_eq!(case.outcome, app.storage.case(number).await.unwrap().unwrap().outcome);
}

#[tokio::test]
async fn an_expired_block_is_ignored_and_can_be_replaced() {
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    let block =
        json!({ "case": number.to_string(), "reason": "r", "expires_at": "2100-01-01T00:00:00Z" });
    assert_eq!(
        api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(block.clone())).await.0,
        201
    );
    db(&app)
        .execute("UPDATE blocklist SET expires_at = '2001-01-01T00:00:00.000000000Z'", [])
        .unwrap();

    let transcript = app.call("1,1,2,2,1", None).await;

    assert_was_handled_normally(&app, &transcript.call_sid).await;
    let (_, list) = api(&app, "GET", "/api/blocklist", Some(&supervisor), None).await;
    assert_eq!(list["entries"][0]["active"], false);
    assert_eq!(api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(block)).await.0, 201);
}

#[tokio::test]
async fn an_unreadable_blocklist_lets_the_call_through() {
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await;
    let block = json!({ "case": number.to_string(), "reason": "r" });
    assert_eq!(api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(block)).await.0, 201);
    // The table is gone, as after a damaged or half-restored database.
    db(&app).execute_batch("ALTER TABLE blocklist RENAME TO blocklist_gone").unwrap();

    let transcript = app.call("1,1,2,2,1", None).await;

    assert_was_handled_normally(&app, &transcript.call_sid).await;
}

#[tokio::test]
async fn bad_blocklist_requests_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let number = call_case(&app).await.to_string();
    let hidden = incoming_from(&app, None).await.to_string();
    let cases = [
        (json!({ "case": "2026-999999", "reason": "r" }), 404),
        (json!({ "case": "2026", "reason": "r" }), 400),
        (json!({ "case": hidden, "reason": "r" }), 400),
        (json!({ "case": number, "reason": "" }), 400),
        (json!({ "case": number, "reason": "x".repeat(501) }), 400),
        (json!({ "case": number, "reason": "tab\there" }), 400),
        (json!({ "case": number, "reason": "r", "expires_at": "2001-01-01" }), 400),
        (json!({ "case": number, "reason": "r", "expires_at": "next week" }), 400),
        (json!({ "case": number, "reason": "r", "caller_hash": "abc" }), 400),
        (json!({ "case": number }), 400),
        (json!({ "reason": "r" }), 400),
    ];
    for (body, expected) in cases {
        let (status, answer) =
            api(&app, "POST", "/api/blocklist", Some(&supervisor), Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    for (entry, expected) in
        [("abc", 400), ("0", 400), ("-1", 400), ("99", 404), ("2026-999999", 404)]
    {
        let (status, answer) =
            api(&app, "DELETE", &format!("/api/blocklist/{entry}"), Some(&supervisor), None).await;
        assert_eq!(status, expected, "{entry}: {answer}");
    }
    assert_eq!(audited(&app, "blocklist.add", None).await, 0);
}

#[tokio::test]
async fn every_case_work_route_checks_the_token_and_the_role() {
    let app = spawn_app().await;
    let number = call_case(&app).await;
    let n = number.to_string();
    let routes: Vec<(&str, String, Option<Value>, Allowed)> = vec![
        ("GET", format!("/api/cases/{n}"), None, Allowed::Both),
        ("POST", format!("/api/cases/{n}/notes"), Some(json!({ "text": "matrix" })), Allowed::Both),
        (
            "PUT",
            format!("/api/cases/{n}/disposition"),
            Some(json!({ "disposition": "prank" })),
            Allowed::Both,
        ),
        ("POST", format!("/api/cases/{n}/reopen"), None, Allowed::Supervisor),
        ("GET", "/api/cases".into(), None, Allowed::Supervisor),
        ("GET", "/api/cases.csv".into(), None, Allowed::Supervisor),
        ("GET", "/api/blocklist".into(), None, Allowed::Supervisor),
        (
            "POST",
            "/api/blocklist".into(),
            Some(json!({ "case": n, "reason": "matrix" })),
            Allowed::Supervisor,
        ),
        ("DELETE", format!("/api/blocklist/{n}"), None, Allowed::Supervisor),
    ];
    for (method, path, body, allowed) in routes {
        let (status, answer) = assert_matrix(&app, method, &path, body, allowed).await;
        // Reopening an open case is a conflict; everything else succeeds for a supervisor.
        assert!([200, 201, 409].contains(&status), "{method} {path}: {status} {answer}");
    }
    let (status, _) = api(&app, "GET", "/api/cases", Some(BAD_TOKEN), None).await;
    assert_eq!(status, 401);
}

/// A Russian case made of `events` in one step, ended with `status` if given.
async fn case_of(app: &TestApp, events: Vec<Event>, status: Option<CallStatus>) -> CaseNumber {
    let call_sid = CallSid::parse(&new_call_sid()).unwrap();
    let at = chrono::Utc::now();
    let language = hotline::domain::language::LanguageTag::parse("ru").unwrap();
    let mut all = vec![Event::LanguageChosen { language, how: LanguageChoiceMethod::Key }];
    all.extend(events);
    let records = [
        Record::CallStarted { call_sid: call_sid.clone(), at, caller: None, country: None },
        Record::Step { call_sid: call_sid.clone(), step: 1, at, events: all },
    ];
    for record in records {
        app.storage.apply(record).await.unwrap();
    }
    if let Some(status) = status {
        let record = Record::Status {
            call_sid: call_sid.clone(),
            at,
            status,
            duration_secs: Some(30),
            sequence: None,
        };
        app.storage.apply(record).await.unwrap();
    }
    app.storage.case_by_call(&call_sid).await.unwrap().unwrap().number
}

#[tokio::test]
async fn every_surface_names_a_cases_outcome_the_same() {
    // Arrange: one case on each path a call can take.
    let app = spawn_app().await;
    let (_, supervisor) = person(&app, "sveta", Role::Supervisor, &["ru"]).await;
    let mut console = Browser::login(&app, "sveta", TEST_PASSWORD).await;
    let node = |id: &str| hotline::domain::language::NodeId::parse(id).unwrap();
    let entered = |id: &str| Event::Entered { node: node(id), said: "…".into() };
    let handed_off = || Event::HandedOff { node: node("operator"), queue: "ru".into() };
    let left = |result: &str| Event::LeftQueue { result: result.into(), wait_secs: Some(9) };
    let done = Some(CallStatus::Completed);
    let paths: Vec<(&str, Vec<Event>, Option<CallStatus>)> = vec![
        ("in-progress", vec![entered("main")], None),
        ("waiting", vec![handed_off()], None),
        (
            "answered",
            vec![
                handed_off(),
                left("bridged"),
                Event::Answered { operator_id: 1, wait_secs: Some(9) },
            ],
            done,
        ),
        (
            "voicemail",
            vec![Event::Voicemail { recording_url: "https://r/1".into(), duration_secs: Some(5) }],
            done,
        ),
        (
            "callback",
            vec![
                Event::CallbackRequested { hint: "…67".into() },
                entered("callback-goodbye"),
                Event::Finished { node: node("callback-goodbye") },
            ],
            done,
        ),
        ("finished-in-menus", vec![entered("bye"), Event::Finished { node: node("bye") }], done),
        ("hung-up-in-menus", vec![entered("main")], done),
        ("hung-up-waiting", vec![handed_off(), left("hangup")], done),
        (
            "refused",
            vec![
                Event::Blocked { refused: true },
                entered("bye"),
                Event::Finished { node: node("bye") },
            ],
            done,
        ),
    ];
    let mut cases = Vec::new();
    for (name, events, status) in paths {
        cases.push((name, case_of(&app, events, status).await));
    }
    // A text conversation that closed in the menus: it has no call status, only an end.
    let chat = case_of(&app, vec![entered("main")], None).await;
    db(&app)
        .execute(
            "UPDATE cases SET channel = 'telegram', ended_at = started_at
             WHERE number_year = ?1 AND number_seq = ?2",
            rusqlite::params![chat.year, chat.sequence],
        )
        .unwrap();
    cases.push(("chat-closed", chat));

    for (name, number) in &cases {
        // The API's case and its search, filtered on the name: that case alone.
        let (_, detail) =
            api(&app, "GET", &format!("/api/cases/{number}"), Some(&supervisor), None).await;
        assert_eq!(detail["outcome"], *name, "{detail}");
        let (status, found) =
            api(&app, "GET", &format!("/api/cases?outcome={name}"), Some(&supervisor), None).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(numbers(&found), [number.to_string()], "{name}");
        assert_eq!(found["cases"][0]["outcome"], *name);

        // The CSV export's column.
        let (_, csv) =
            api(&app, "GET", &format!("/api/cases.csv?outcome={name}"), Some(&supervisor), None)
                .await;
        let csv = csv.as_str().unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let column = header.iter().position(|h| *h == "outcome").unwrap();
        let row: Vec<&str> = csv.lines().nth(1).expect("the case's row").split(',').collect();
        assert_eq!((row[0], row[column]), (number.to_string().as_str(), *name), "{csv}");

        // The console's search and case page.
        let listed = console.get(&format!("/console/cases?outcome={name}")).await;
        assert_eq!(listed.status, 200);
        assert!(listed.body.contains(&format!(r#"<td data-outcome="{name}">"#)), "{}", listed.body);
        let page = console.get(&format!("/console/cases/{number}")).await;
        assert!(page.body.contains(&format!(r#"data-outcome="{name}""#)), "{}", page.body);
    }

    // The terminal's list reads the same names.
    let recent = app.storage.recent_cases(20).await.unwrap();
    for (name, number) in &cases {
        let summary = recent.iter().find(|c| c.number == *number).unwrap();
        assert_eq!(summary.outcome.as_str(), *name);
        assert!(summary.to_string().contains(&format!("  {name}")), "{summary}");
    }
    // The old names are refused, with the new ones in the reason.
    for old in ["handed-off", "abandoned", "abandoned-in-queue", "finished"] {
        let (status, body) =
            api(&app, "GET", &format!("/api/cases?outcome={old}"), Some(&supervisor), None).await;
        assert_eq!(status, 400, "{old}");
        assert!(body["error"].as_str().unwrap().contains("hung-up-waiting"), "{body}");
    }
}
