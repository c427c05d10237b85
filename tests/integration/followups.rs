//! Follow-ups: keys pressed while waiting, voicemail with its recording callback, callback
//! requests (read back, re-entered, confirmed, sealed), missed calls, and the follow-up API
//! (take, audited reveal, attempts and their limit). Real server, signed webhooks.

use crate::common;

use common::api::{self, Allowed};
use common::{
    Context, TestApp, assert_valid_twiml, attribute, call_params, new_call_sid, said, spawn_app,
    spawn_app_with, text, verbs,
};
use hotline::domain::audit::AuditFilter;
use hotline::domain::cases::{CallSid, Event};
use hotline::domain::people::{Person, Role};
use serde_json::{Value, json};

/// The number they ask to be called back on, typed on the keypad.
const TYPED: &str = "4915112345678";

/// Posts as the provider for call `sid`; the answer holds neither number.
async fn post(app: &TestApp, path: &str, sid: &str, extra: &[(&'static str, &str)]) -> String {
    let body = app.post_call(path, sid, extra).await;
    assert!(!body.contains(TYPED), "the typed number in an answer");
    body
}

/// A Russian caller on the surrender path (tags set) who is now waiting: (sid, enqueue doc).
async fn waiting_caller(app: &TestApp) -> (String, String) {
    let sid = new_call_sid();
    let mut doc = post(app, "/voice/incoming", &sid, &[]).await;
    for key in ["1", "1", "2", "1"] {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = post(app, &action, &sid, &[("Digits", key)]).await;
    }
    // The unit is asked on the way; the caller skips it.
    let question = attribute(&doc, "Record", "action").expect("the question");
    doc = post(app, &question, &sid, &[]).await;
    assert!(text(&doc, "Enqueue").is_some(), "{doc}");
    (sid, doc)
}

/// Presses `key` in the wait document and follows the Leave to the Enqueue action.
async fn leave_with(app: &TestApp, sid: &str, enqueued: &str, key: &str) -> String {
    let wait_url = attribute(enqueued, "Enqueue", "waitUrl").unwrap();
    let wait = post(app, &wait_url, sid, &[("QueuePosition", "1")]).await;
    assert_valid_twiml(&wait, Context::Wait);
    let gather = attribute(&wait, "Gather", "action").expect("the wait document offers keys");
    // A key that is not offered, or hostile input, keeps the caller waiting.
    let forty = "1".repeat(40);
    for other in ["5", "0", "*", "<Leave/>", "١", forty.as_str(), ""] {
        let still = post(app, &gather, sid, &[("Digits", other)]).await;
        assert_valid_twiml(&still, Context::Wait);
        assert!(!still.contains("<Leave"), "{other:?}: {still}");
    }
    let forged = [("CallSid", sid), ("Digits", key)];
    assert_eq!(app.post_as(&gather, &forged, None).await.status, 403);
    let left = post(app, &gather, sid, &[("Digits", key)]).await;
    assert_valid_twiml(&left, Context::Wait);
    assert_eq!(verbs(&left), ["Leave"], "{left}");
    let action = attribute(enqueued, "Enqueue", "action").unwrap();
    let next = post(app, &action, sid, &[("QueueResult", "leave"), ("QueueTime", "30")]).await;
    assert_valid_twiml(&next, Context::Call);
    next
}

async fn hang_up(app: &TestApp, sid: &str) {
    post(app, "/voice/status", sid, &[("CallStatus", "completed"), ("CallDuration", "90")]).await;
}

async fn followups(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = api::api(app, "GET", "/api/followups", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["followups"].as_array().unwrap().clone()
}

async fn person(app: &TestApp, name: &str, languages: &[&str]) -> (Person, String) {
    api::person(app, name, Role::Operator, languages).await
}

/// The callback flow up to the read-back of the number the caller calls from.
async fn callback_asked(app: &TestApp) -> (String, String) {
    let (sid, enqueued) = waiting_caller(app).await;
    let asked = leave_with(app, &sid, &enqueued, "2").await;
    assert_eq!(attribute(&asked, "Gather", "finishOnKey").as_deref(), Some("#"), "{asked}");
    (sid, asked)
}

#[tokio::test]
async fn a_voicemail_left_from_the_wait_document_is_in_the_follow_up_list_with_url_and_length() {
    // Arrange
    let app = spawn_app().await;
    let (_, olga) = person(&app, "olga", &["ru"]).await;
    let (_, taras) = person(&app, "taras", &["uk"]).await;
    let (sid, enqueued) = waiting_caller(&app).await;

    // Act: key 1 while waiting, then the recording and its status callback (twice: a retry).
    let record = leave_with(&app, &sid, &enqueued, "1").await;
    assert!(verbs(&record).contains(&"Record".to_owned()), "{record}");
    let status_url = attribute(&record, "Record", "recordingStatusCallback").unwrap();
    let action = attribute(&record, "Record", "action").unwrap();
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1";
    post(&app, &action, &sid, &[("RecordingUrl", url), ("RecordingDuration", "9")]).await;
    let done =
        [("RecordingStatus", "completed"), ("RecordingUrl", url), ("RecordingDuration", "12")];
    for _ in 0..2 {
        post(&app, &status_url, &sid, &done).await;
    }
    hang_up(&app, &sid).await;

    // Assert
    let list = followups(&app, &olga).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let item = &list[0];
    assert_eq!(item["kind"], "voicemail");
    assert_eq!(item["recording_url"], url);
    assert_eq!(item["recording_secs"], 12, "the status callback's final length");
    assert_eq!(item["language"], "ru");
    assert_eq!(item["case"], app.case(&sid).await.number.to_string());
    assert!(item["tags"].as_array().unwrap().iter().any(|t| t["value"] == "surrender"), "{item}");
    assert!(item["wait_secs"].is_i64(), "{item}");
    assert!(followups(&app, &taras).await.is_empty(), "another language's operator");
    let case = app.case(&sid).await;
    let pressed = case.events.iter().any(|e| {
        matches!(&e.event, Event::Pressed { digits, meaning, .. }
            if digits == "1" && meaning.contains("message"))
    });
    assert!(pressed, "the key is on the case: {:?}", case.events);
    let voicemails =
        case.events.iter().filter(|e| matches!(e.event, Event::Voicemail { .. })).count();
    assert_eq!(voicemails, 2, "the action and one status callback, not the retry");
    // Shown as it came, stored sealed: the database, its log and the journal never hold the
    // recording's address in the clear.
    let (files, _) = common::assert_in_no_file(app.dir.path(), &["Recordings/RE1"]);
    assert!(files.iter().any(|f| f.ends_with("hotline.db")), "{files:?}");
    app.stop().await;
}

#[tokio::test]
async fn forged_or_unfinished_recording_callbacks_change_nothing() {
    let app = spawn_app().await;
    let (_, olga) = person(&app, "olga", &["ru"]).await;
    let (sid, enqueued) = waiting_caller(&app).await;
    let record = leave_with(&app, &sid, &enqueued, "1").await;
    let status_url = attribute(&record, "Record", "recordingStatusCallback").unwrap();
    let evil = "https://evil.example/x.mp3";
    let forged =
        [("CallSid", sid.as_str()), ("RecordingStatus", "completed"), ("RecordingUrl", evil)];
    assert_eq!(app.post_as(&status_url, &forged, None).await.status, 403);
    assert_eq!(app.post_as(&status_url, &forged, Some("wrong-token")).await.status, 403);
    for bad in [
        vec![("RecordingStatus", "failed"), ("RecordingUrl", evil)],
        vec![("RecordingStatus", "completed"), ("RecordingUrl", "javascript:alert(1)")],
        vec![("RecordingStatus", "completed"), ("RecordingUrl", "")],
        vec![("RecordingStatus", "completed")],
    ] {
        post(&app, &status_url, &sid, &bad).await;
    }
    let huge = format!("https://x.example/{}", "a".repeat(5000));
    post(&app, &status_url, &sid, &[("RecordingStatus", "completed"), ("RecordingUrl", &huge)])
        .await;
    hang_up(&app, &sid).await;
    assert!(app.case(&sid).await.recording_url.is_none());
    let list = followups(&app, &olga).await;
    assert!(list.iter().all(|f| f["kind"] != "voicemail"), "{list:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_callback_is_read_back_re_entered_confirmed_and_kept_only_sealed() {
    // Arrange
    let app = spawn_app().await;
    let (sid, asked) = callback_asked(&app).await;

    // Act 1: just `#`: the number called from is read back digit by digit.
    let action = attribute(&asked, "Gather", "action").unwrap();
    let read = post(&app, &action, &sid, &[("Digits", "")]).await;
    assert_valid_twiml(&read, Context::Call);
    let heard = said(&read);
    assert!(heard.contains(&"7, 9, 1, 6, 1, 2, 3, 4, 5, 6, 7".to_owned()), "{heard:?}");
    assert!(heard.iter().any(|s| s.contains("Вы ввели")), "in Russian: {heard:?}");

    // Act 2: 2 re-enters; the typed number is read back.
    let confirm = attribute(&read, "Gather", "action").unwrap();
    let again = post(&app, &confirm, &sid, &[("Digits", "2")]).await;
    let action = attribute(&again, "Gather", "action").unwrap();
    let read = post(&app, &action, &sid, &[("Digits", TYPED)]).await;
    assert!(said(&read).contains(&"4, 9, 1, 5, 1, 1, 2, 3, 4, 5, 6, 7, 8".to_owned()));

    // Act 3: silence reads it back again; 1 confirms.
    let confirm = attribute(&read, "Gather", "action").unwrap();
    let repeated = post(&app, &confirm, &sid, &[]).await;
    assert!(said(&repeated).contains(&"4, 9, 1, 5, 1, 1, 2, 3, 4, 5, 6, 7, 8".to_owned()));
    let confirm = attribute(&repeated, "Gather", "action").unwrap();
    let thanks = post(&app, &confirm, &sid, &[("Digits", "1")]).await;
    assert_eq!(verbs(&thanks).last().map(String::as_str), Some("Hangup"), "{thanks}");
    // A retried confirmation files nothing twice.
    post(&app, &confirm, &sid, &[("Digits", "1")]).await;
    hang_up(&app, &sid).await;

    // Assert: on the case, masked; in the follow-up list, in its place in line.
    let case = app.case(&sid).await;
    let hints: Vec<&str> = case
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::CallbackRequested { hint } => Some(hint.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(hints, ["…78"]);
    let (_, olga) = person(&app, "olga", &["ru"]).await;
    let list = followups(&app, &olga).await;
    let callbacks: Vec<&Value> = list.iter().filter(|f| f["kind"] == "callback").collect();
    assert_eq!(callbacks.len(), 1, "{list:?}");
    assert_eq!(callbacks[0]["number"], "…78");
    assert!(callbacks[0]["joined_at"].is_string(), "keeps the place in line: {list:?}");

    // Assert: neither number is anywhere on disk in the clear.
    let dir = app.stop().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        // The last connection to close removes SQLite's -wal and -shm files, possibly between
        // the listing and the read: a file that is gone holds nothing.
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => panic!("{}: {error}", path.display()),
        };
        for digits in [TYPED, "79161234567"] {
            let found = bytes.windows(digits.len()).any(|w| w == digits.as_bytes());
            assert!(!found, "{digits} in {}", path.display());
        }
    }
}

#[tokio::test]
async fn the_database_file_and_its_wal_never_hold_the_callback_digits() {
    let app = spawn_app().await;
    let (sid, asked) = callback_asked(&app).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    let read = post(&app, &action, &sid, &[("Digits", TYPED)]).await;
    let confirm = attribute(&read, "Gather", "action").unwrap();
    post(&app, &confirm, &sid, &[("Digits", "1")]).await;
    // While the server runs, the WAL holds the latest pages.
    let wal = app.db_path.with_extension("db-wal");
    let wal_bytes = std::fs::read(&wal).expect("a WAL beside the database");
    let db_bytes = std::fs::read(&app.db_path).unwrap();
    for bytes in [&wal_bytes, &db_bytes] {
        assert!(!bytes.windows(TYPED.len()).any(|w| w == TYPED.as_bytes()));
    }
    let sealed_somewhere = {
        let sid = CallSid::parse(&sid).unwrap();
        app.storage.case_by_call(&sid).await.unwrap().is_some()
    };
    assert!(sealed_somewhere);
    app.stop().await;
}

#[tokio::test]
async fn hostile_callback_numbers_are_asked_again_then_the_caller_goes_to_voicemail() {
    let app = spawn_app().await;
    let (sid, asked) = callback_asked(&app).await;
    let mut doc = asked;
    let forty = "7".repeat(40);
    for bad in ["123", "abc", "٧٩١٦١٢٣٤٥٦٧", "0791612345", "12*45#7890"] {
        let action = attribute(&doc, "Gather", "action").unwrap();
        doc = post(&app, &action, &sid, &[("Digits", bad)]).await;
        assert_valid_twiml(&doc, Context::Call);
        if verbs(&doc).contains(&"Record".to_owned()) {
            break;
        }
        assert!(said(&doc).iter().any(|s| s.contains("не номер")), "{bad:?}: {doc}");
    }
    // Three wrong entries: the voicemail instead.
    assert!(verbs(&doc).contains(&"Record".to_owned()), "{doc}");

    // A hidden caller ID with nothing typed, and 40 digits, are not numbers either.
    let (sid2, asked) = callback_asked(&app).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    let hidden = post(&app, &action, &sid2, &[("From", "anonymous"), ("Digits", "")]).await;
    assert!(said(&hidden).iter().any(|s| s.contains("не номер")), "{hidden}");
    let action = attribute(&hidden, "Gather", "action").unwrap();
    let long = post(&app, &action, &sid2, &[("Digits", &forty)]).await;
    assert!(said(&long).iter().any(|s| s.contains("не номер")), "{long}");

    // A confirmation URL with a forged or foreign sealed number asks for the number again.
    let action = attribute(&long, "Gather", "action").unwrap();
    let read = post(&app, &action, &sid2, &[("Digits", TYPED)]).await;
    let confirm = attribute(&read, "Gather", "action").unwrap();
    let (base, sealed) = confirm.split_once("&n=").unwrap();
    for forged in [format!("{base}&n=AAAA"), format!("{base}&n="), confirm.clone()] {
        let foreign_call = new_call_sid();
        let call = if forged == confirm { foreign_call.as_str() } else { sid2.as_str() };
        let again = post(&app, &forged, call, &[("Digits", "1")]).await;
        assert_eq!(attribute(&again, "Gather", "finishOnKey").as_deref(), Some("#"), "{again}");
    }
    assert!(!sealed.is_empty());
    hang_up(&app, &sid).await;
    hang_up(&app, &sid2).await;
    let (_, olga) = person(&app, "olga", &["ru"]).await;
    let list = followups(&app, &olga).await;
    assert!(list.iter().all(|f| f["kind"] != "callback"), "nothing confirmed: {list:?}");
    app.stop().await;
}

/// Confirms a callback on `TYPED` and returns the follow-up's id.
async fn confirmed_callback(app: &TestApp, token: &str) -> i64 {
    let (sid, asked) = callback_asked(app).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    let read = post(app, &action, &sid, &[("Digits", TYPED)]).await;
    let confirm = attribute(&read, "Gather", "action").unwrap();
    post(app, &confirm, &sid, &[("Digits", "1")]).await;
    hang_up(app, &sid).await;
    let list = followups(app, token).await;
    list.iter().find(|f| f["kind"] == "callback").unwrap()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn only_the_operator_who_took_a_callback_may_reveal_it_and_every_reveal_is_audited() {
    let app = spawn_app().await;
    let (olga, olga_token) = person(&app, "olga", &["ru"]).await;
    let (ivan, ivan_token) = person(&app, "ivan", &["ru"]).await;
    let (_, taras) = person(&app, "taras", &["uk"]).await;
    let id = confirmed_callback(&app, &olga_token).await;
    let path = |what: &str| format!("/api/followups/{id}/{what}");

    // Nobody took it yet: no reveal.
    let (status, _) = api::api(&app, "POST", &path("reveal"), Some(&olga_token), None).await;
    assert_eq!(status, 409);
    // Another language's operator cannot take it; Olga can; then Ivan cannot.
    let (status, _) = api::api(&app, "POST", &path("take"), Some(&taras), None).await;
    assert_eq!(status, 404);
    let (status, taken) = api::api(&app, "POST", &path("take"), Some(&olga_token), None).await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken["taken_by"], olga.id);
    let (status, _) = api::api(&app, "POST", &path("take"), Some(&ivan_token), None).await;
    assert_eq!(status, 409);

    // Ivan's reveal is refused and audited; Olga's shows the number and is audited.
    let (status, body) = api::api(&app, "POST", &path("reveal"), Some(&ivan_token), None).await;
    assert_eq!(status, 409, "{body}");
    assert!(!body.to_string().contains(TYPED));
    let (status, body) = api::api(&app, "POST", &path("reveal"), Some(&olga_token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["number"], format!("+{TYPED}"));

    let log = |actor: i64, action: &str| AuditFilter {
        actor: Some(actor),
        action: Some(action.into()),
        limit: 10,
        ..AuditFilter::default()
    };
    let reveals = app.storage.audit_log(log(olga.id, "followup.reveal")).await.unwrap();
    assert_eq!(reveals.len(), 1);
    assert!(reveals[0].case.is_some());
    assert!(!reveals[0].detail.contains(TYPED));
    let refused = app.storage.audit_log(log(ivan.id, "followup.reveal-refused")).await.unwrap();
    assert_eq!(refused.len(), 1);
    let takes = app.storage.audit_log(log(olga.id, "followup.take")).await.unwrap();
    assert_eq!(takes.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn attempts_are_recorded_until_the_limit_closes_the_follow_up() {
    let app = spawn_app_with(|c| c.followups.max_attempts = 3).await;
    let (_, olga) = person(&app, "olga", &["ru"]).await;
    let (_, ivan) = person(&app, "ivan", &["ru"]).await;
    let id = confirmed_callback(&app, &olga).await;
    let attempts = format!("/api/followups/{id}/attempts");
    let body = |result: &str| Some(json!({ "result": result }));

    // Not taken yet: no attempt.
    let (status, _) = api::api(&app, "POST", &attempts, Some(&olga), body("tried")).await;
    assert_eq!(status, 409);
    api::api(&app, "POST", &format!("/api/followups/{id}/take"), Some(&olga), None).await;
    for bad in [
        json!({}),
        json!({ "result": "" }),
        json!({ "result": "maybe" }),
        json!({ "result": "tried", "extra": 1 }),
        json!({ "result": "ü".repeat(300) }),
    ] {
        let (status, answer) = api::api(&app, "POST", &attempts, Some(&olga), Some(bad)).await;
        assert_eq!(status, 400, "{answer}");
    }
    let (status, _) = api::api(&app, "POST", &attempts, Some(&ivan), body("reached")).await;
    assert_eq!(status, 409, "only the one who took it");

    let (status, one) = api::api(&app, "POST", &attempts, Some(&olga), body("no-answer")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["state"], "taken");
    let (_, two) = api::api(&app, "POST", &attempts, Some(&olga), body("tried")).await;
    assert_eq!(two["attempts"].as_array().unwrap().len(), 2);
    let (_, three) = api::api(&app, "POST", &attempts, Some(&olga), body("no-answer")).await;
    assert_eq!(three["state"], "closed");
    assert_eq!(three["closed_reason"], "attempts");
    let (status, _) = api::api(&app, "POST", &attempts, Some(&olga), body("reached")).await;
    assert_eq!(status, 409, "closed");
    assert!(followups(&app, &olga).await.is_empty(), "closed ones are not listed");
    let (_, all) = api::api(&app, "GET", "/api/followups?closed=true", Some(&olga), None).await;
    assert_eq!(all["followups"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_caller_who_gives_up_in_the_queue_is_a_missed_call_in_the_follow_up_list() {
    let app = spawn_app().await;
    let (_, olga) = person(&app, "olga", &["ru"]).await;
    let (sid, enqueued) = waiting_caller(&app).await;
    let action = attribute(&enqueued, "Enqueue", "action").unwrap();
    post(&app, &action, &sid, &[("QueueResult", "hangup"), ("QueueTime", "75")]).await;
    hang_up(&app, &sid).await;
    let list = followups(&app, &olga).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kind"], "missed");
    assert_eq!(list[0]["number"], Value::Null, "no number is kept for a missed call");
    let id = list[0]["id"].as_i64().unwrap();
    api::api(&app, "POST", &format!("/api/followups/{id}/take"), Some(&olga), None).await;
    let (status, _) =
        api::api(&app, "POST", &format!("/api/followups/{id}/reveal"), Some(&olga), None).await;
    assert_eq!(status, 404, "nothing to reveal");
    app.stop().await;
}

#[tokio::test]
async fn every_follow_up_route_checks_the_token_and_role() {
    let app = spawn_app().await;
    let (_, olga) = person(&app, "olga", &["ru"]).await;
    let id = confirmed_callback(&app, &olga).await;
    api::assert_matrix(&app, "GET", "/api/followups", None, Allowed::Both).await;
    api::assert_matrix(&app, "GET", &format!("/api/followups/{id}"), None, Allowed::Both).await;
    api::assert_matrix(&app, "POST", &format!("/api/followups/{id}/take"), None, Allowed::Both)
        .await;
    api::assert_matrix(&app, "POST", &format!("/api/followups/{id}/reveal"), None, Allowed::Both)
        .await;
    let body = Some(json!({ "result": "tried" }));
    api::assert_matrix(&app, "POST", &format!("/api/followups/{id}/attempts"), body, Allowed::Both)
        .await;
    for bad in ["abc", "-1", "99999999999999999999", "%F0%9F%98%80", "0x1"] {
        let (status, _) =
            api::api(&app, "GET", &format!("/api/followups/{bad}"), Some(&olga), None).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _) = api::api(&app, "GET", "/api/followups/424242", Some(&olga), None).await;
    assert_eq!(status, 404);
    let (status, _) = api::api(&app, "GET", "/api/followups?closed=maybe", Some(&olga), None).await;
    assert_eq!(status, 400);
    let huge = vec![b'{'; 100_000];
    let (status, _) = api::raw(
        &app,
        "POST",
        &format!("/api/followups/{id}/attempts"),
        Some(&olga),
        Some(huge),
        "application/json",
    )
    .await;
    assert!([0, 400, 413].contains(&status), "{status}");
    app.stop().await;
}

/// The operator line up to the first document after the PIN (which may hold a number: it is
/// read with `app.post`, not the number-checking `post`).
async fn dial_in(app: &TestApp, op_sid: &str, id: i64) -> String {
    let start = post(app, "/voice/operator", op_sid, &[]).await;
    let action = attribute(&start, "Gather", "action").unwrap();
    let pin = post(app, &action, op_sid, &[("Digits", &id.to_string())]).await;
    let action = attribute(&pin, "Gather", "action").unwrap();
    let base = call_params(op_sid);
    let mut all: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("Digits", api::TEST_PIN));
    let reply = app.post(&action, &all).await;
    assert_eq!(reply.status, 200);
    reply.body
}

#[tokio::test]
async fn a_due_callback_comes_first_on_the_operator_line_and_its_dial_is_the_attempt() {
    // Arrange: a callback, then a caller waiting on the line.
    let app = spawn_app().await;
    let (olga, olga_token) = person(&app, "olga", &["ru"]).await;
    let id = confirmed_callback(&app, &olga_token).await;
    let (waiting_sid, _) = waiting_caller(&app).await;

    // Act: Olga dials in.
    let op_sid = new_call_sid();
    let doc = dial_in(&app, &op_sid, olga.id).await;

    // Assert: the callback first, with the whisper of its case, dialled by number.
    assert_eq!(verbs(&doc), ["Say", "Say", "Dial[Number]"], "{doc}");
    let whisper = said(&doc).join(" ");
    assert!(whisper.contains("Callback request"), "{whisper}");
    assert!(!whisper.contains(TYPED), "{whisper}");
    assert_eq!(text(&doc, "Number").as_deref(), Some(format!("+{TYPED}").as_str()));
    // The caller sees the hotline's number, not the operator's own phone.
    assert_eq!(attribute(&doc, "Dial", "callerId").as_deref(), Some("+18005550100"));
    let (_, item) =
        api::api(&app, "GET", &format!("/api/followups/{id}"), Some(&olga_token), None).await;
    assert_eq!(item["state"], "taken");
    assert_eq!(item["taken_by"], olga.id);

    // Nobody answers: an attempt, back to the list, and the waiting caller is next.
    let action = attribute(&doc, "Dial", "action").unwrap();
    let after = post(&app, &action, &op_sid, &[("DialCallStatus", "no-answer")]).await;
    assert!(said(&after).iter().any(|s| s.contains("Nobody answered")), "{after}");
    let (_, item) =
        api::api(&app, "GET", &format!("/api/followups/{id}"), Some(&olga_token), None).await;
    assert_eq!(item["state"], "open");
    assert_eq!(item["attempts"][0]["result"], "no-answer");
    let next = text(&after, "Redirect").unwrap();
    let doc = post(&app, &next, &op_sid, &[]).await;
    let queue = text(&doc, "Queue").expect("the waiting caller, not the callback again");
    let entry = app
        .storage
        .queue_entry_of_call(&CallSid::parse(&waiting_sid).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queue, entry.provider_queue);
    let audited = app
        .storage
        .audit_log(AuditFilter {
            actor: Some(olga.id),
            action: Some("followup.dial".into()),
            limit: 5,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_callback_that_reaches_the_caller_closes_and_puts_the_operator_in_wrap_up() {
    let app = spawn_app().await;
    let (olga, olga_token) = person(&app, "olga", &["ru"]).await;
    let (taras, _) = person(&app, "taras", &["uk"]).await;
    let id = confirmed_callback(&app, &olga_token).await;

    // Another language's operator is not given it.
    let doc = dial_in(&app, &new_call_sid(), taras.id).await;
    assert!(text(&doc, "Number").is_none(), "{doc}");

    let op_sid = new_call_sid();
    let doc = dial_in(&app, &op_sid, olga.id).await;
    let action = attribute(&doc, "Dial", "action").unwrap();
    let talked = [("DialCallStatus", "completed"), ("DialCallDuration", "240")];
    let after = post(&app, &action, &op_sid, &talked).await;
    assert_valid_twiml(&after, Context::Call);
    // A retried Dial action records nothing twice.
    post(&app, &action, &op_sid, &talked).await;
    let (_, item) =
        api::api(&app, "GET", "/api/followups?closed=true", Some(&olga_token), None).await;
    let item = &item["followups"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["state"], "closed");
    assert_eq!(item["closed_reason"], "reached");
    assert_eq!(item["attempts"].as_array().unwrap().len(), 1);
    let presence = app.storage.presences().await.unwrap();
    let olga_state = presence.iter().find(|p| p.user_id == olga.id).map(|p| p.state);
    assert_eq!(olga_state, Some(hotline::domain::queue::PresenceState::WrapUp));
    app.stop().await;
}

#[tokio::test]
async fn a_callback_confirmed_while_the_database_is_locked_is_journaled_sealed_and_not_lost() {
    let app = spawn_app_with(|c| {
        c.database.busy_timeout_ms = 20;
        c.database.write_deadline_ms = 200;
    })
    .await;
    let (sid, asked) = callback_asked(&app).await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    let read = post(&app, &action, &sid, &[("Digits", TYPED)]).await;
    let confirm = attribute(&read, "Gather", "action").unwrap();

    // Another program holds the write lock while the caller confirms.
    let blocker = rusqlite::Connection::open(&app.db_path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let thanks = post(&app, &confirm, &sid, &[("Digits", "1")]).await;
    assert_eq!(verbs(&thanks).last().map(String::as_str), Some("Hangup"), "{thanks}");
    let journal = app.db_path.with_extension("db.journal");
    let journaled = std::fs::read_to_string(&journal).unwrap();
    assert!(journaled.contains("\"record\":\"callback\""), "{journaled}");
    assert!(!journaled.contains(TYPED), "the journal holds the number in the clear");
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);

    // At the latest at shutdown the journal reaches the database, the number still sealed.
    let db_path = app.db_path.clone();
    let _dir = app.stop().await;
    let storage =
        hotline::storage::Storage::open(&db_path, common::storage_options()).await.unwrap();
    let list = storage.follow_ups(false).await.unwrap();
    let callback =
        list.iter().find(|f| f.kind == hotline::domain::followups::Kind::Callback).unwrap();
    assert_eq!(callback.number.as_deref(), Some("…78"));
    let (_, sealed) = storage.sealed_number(callback.id).await.unwrap().unwrap();
    let sealer = hotline::domain::followups::Sealer::new(&hotline::domain::secret::Secret::new(
        common::CALLBACK_KEY.into(),
    ));
    let opened = sealer.open(&sealed.unwrap(), &CallSid::parse(&sid).unwrap()).unwrap();
    assert_eq!(opened.e164(), format!("+{TYPED}"));
}

/// `hotline keys rotate-callback` with the server stopped.
fn rotate_callback(dir: &std::path::Path, new_key_file: &std::path::Path) -> std::process::Output {
    // A port nothing listens on: the command checks that no server answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["keys", "rotate-callback", "--new-key-file"])
        .arg(new_key_file)
        .current_dir(dir)
        .env_clear()
        .env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOTLINE_DATABASE_PATH", dir.join("hotline.db"))
        .env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY)
        .output()
        .unwrap()
}

/// The stored (call id, sealed number, stored form) triples: the number as sealed under the
/// callback key, opened from its data key's layer with the keys wrapped under `key`.
fn sealed_numbers(db: &std::path::Path, key: &str) -> Vec<(String, String, String)> {
    use hotline::domain::data_keys::DataKeys;
    let stored = std::fs::read_to_string(db.with_file_name(hotline::storage::DATA_KEYS_FILE));
    let keys = DataKeys::load(&hotline::domain::secret::Secret::new(key.into()), &stored.unwrap())
        .unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut query = conn
        .prepare(
            "SELECT c.call_sid, f.number_sealed FROM follow_ups f JOIN cases c ON c.id = f.case_id
             WHERE f.number_sealed IS NOT NULL ORDER BY f.id",
        )
        .unwrap();
    let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap);
    rows.map(|(sid, stored): (String, String)| (sid, keys.open(&stored).unwrap(), stored)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_callback_key_reseals_every_number_and_leaves_no_old_one_on_disk() {
    use hotline::domain::followups::Sealer;
    use hotline::domain::secret::Secret;

    let app = spawn_app().await;
    let mut calls = Vec::new();
    for typed in [TYPED, "380501234567"] {
        let (sid, asked) = callback_asked(&app).await;
        let action = attribute(&asked, "Gather", "action").unwrap();
        let read = post(&app, &action, &sid, &[("Digits", typed)]).await;
        let confirm = attribute(&read, "Gather", "action").unwrap();
        post(&app, &confirm, &sid, &[("Digits", "1")]).await;
        hang_up(&app, &sid).await;
        calls.push((sid, typed));
    }
    let dir = app.stop().await;
    let db = dir.path().join("hotline.db");
    let before = sealed_numbers(&db, common::CALLBACK_KEY);
    assert_eq!(before.len(), 2);
    let old = Sealer::new(&Secret::new(common::CALLBACK_KEY.into()));

    // Refused, changing nothing: no file, an empty, short, two-line or unchanged key.
    let key_file = dir.path().join("new-callback-key");
    let huge = "k".repeat(1 << 20);
    let bad: [Option<&str>; 6] = [
        None,
        Some(""),
        Some("too-short-for-a-callback-key"),
        Some("first-line-of-a-long-enough-callback-key\nsecond-line-of-a-long-enough-key"),
        Some(common::CALLBACK_KEY),
        Some(&huge[..31]),
    ];
    for content in bad {
        match content {
            Some(text) => std::fs::write(&key_file, text).unwrap(),
            None => {
                let _ = std::fs::remove_file(&key_file);
            }
        }
        let out = rotate_callback(dir.path(), &key_file);
        assert_eq!(out.status.code(), Some(2), "{content:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("new key"), "{out:?}");
        assert_eq!(
            sealed_numbers(&db, common::CALLBACK_KEY),
            before,
            "{content:?} changed the numbers"
        );
    }

    // Rotated.
    let new_key = "a-brand-new-callback-key-0123456789-abcdef";
    std::fs::write(&key_file, new_key).unwrap();
    let out = rotate_callback(dir.path(), &key_file);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-sealed 2"), "{out:?}");
    let after = sealed_numbers(&db, new_key);
    let new = Sealer::new(&Secret::new(new_key.into()));
    let bytes: Vec<u8> = ["hotline.db", "hotline.db-wal"]
        .iter()
        .flat_map(|f| std::fs::read(dir.path().join(f)).unwrap_or_default())
        .collect();
    for ((sid, typed), ((_, old_sealed, old_stored), (_, new_sealed, _))) in
        calls.iter().zip(before.iter().zip(&after))
    {
        let call = CallSid::parse(sid).unwrap();
        assert_ne!(old_sealed, new_sealed);
        let opened = new.open(new_sealed, &call).expect("opens with the new key");
        assert_eq!(opened.e164(), format!("+{typed}"));
        assert!(old.open(new_sealed, &call).is_none(), "the old key still opens it");
        assert!(
            !bytes.windows(old_stored.len()).any(|w| w == old_stored.as_bytes()),
            "the old sealed value is still in the file"
        );
        assert!(!bytes.windows(typed.len()).any(|w| w == typed.as_bytes()));
    }

    // Run again with the old key as the current one: the data keys, wrapped under the new
    // key now, do not open, and nothing moves.
    std::fs::write(&key_file, "yet-another-callback-key-0123456789-xyz").unwrap();
    let out = rotate_callback(dir.path(), &key_file);
    assert!(!out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("do not open with this callback key"), "{out:?}");
    assert_eq!(sealed_numbers(&db, new_key), after);
}
