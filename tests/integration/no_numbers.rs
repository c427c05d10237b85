//! The whole of the operators' handoff with known phone numbers, while every log line is
//! captured as JSON: the digits of those numbers appear in no log line, no webhook answer
//! (but the operator line's own `<Dial><Number>` of a callback), no API response (but the one
//! audited reveal) and no CSV export.
//! The log capture is the test binary's (`common::logs`).

use crate::common;

use common::api::{self, TEST_PIN};
use common::{TestApp, attribute, new_call_sid, text};
use hotline::domain::people::Role;
use serde_json::Value;

/// The callers' numbers, and the number one of them types to be called back on.
const CALLERS: [&str; 4] = ["+79161234567", "+380501234567", "+821012345678", "+79035550199"];
const TYPED: &str = "4915112345678";

/// The digits that must not appear: each number without its `+`, and without its country
/// code (how a number is often written at home).
fn forbidden() -> Vec<String> {
    let mut digits: Vec<String> = CALLERS.iter().map(|n| n[1..].to_owned()).collect();
    digits.extend(["9161234567", "501234567", "1012345678", "9035550199"].map(String::from));
    digits.push(TYPED.to_owned());
    digits.push(TYPED[2..].to_owned());
    digits
}

fn assert_clean(what: &str, text: &str) {
    for digits in forbidden() {
        assert!(!text.contains(&digits), "{digits} in {what}: {text}");
    }
}

struct Flow<'a> {
    app: &'a TestApp,
}

impl Flow<'_> {
    async fn post(&self, path: &str, sid: &str, from: &str, extra: &[(&str, &str)]) -> String {
        let mut all: Vec<(&str, &str)> = vec![
            ("CallSid", sid),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("From", from),
            ("To", "+18005550100"),
            ("CallStatus", "in-progress"),
            ("Caller", from),
        ];
        all.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        all.extend_from_slice(extra);
        let reply = self.app.post(path, &all).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.body
    }

    /// A caller through the Russian surrender path into the queue: (sid, enqueue document).
    async fn enqueued(&self, from: &str) -> (String, String) {
        let sid = new_call_sid();
        let mut doc = self.post("/voice/incoming", &sid, from, &[]).await;
        for key in ["1", "1", "2", "1"] {
            let action = attribute(&doc, "Gather", "action").unwrap();
            doc = self.post(&action, &sid, from, &[("Digits", key)]).await;
            assert_clean("a webhook answer", &doc);
        }
        // The unit is asked on the way; the caller skips it.
        let question = attribute(&doc, "Record", "action").expect("the question");
        doc = self.post(&question, &sid, from, &[]).await;
        (sid, doc)
    }

    async fn leave_with(&self, sid: &str, from: &str, enqueued: &str, key: &str) -> String {
        let wait_url = attribute(enqueued, "Enqueue", "waitUrl").unwrap();
        let wait = self.post(&wait_url, sid, from, &[("QueuePosition", "1")]).await;
        let gather = attribute(&wait, "Gather", "action").unwrap();
        self.post(&gather, sid, from, &[("Digits", key)]).await;
        let action = attribute(enqueued, "Enqueue", "action").unwrap();
        self.post(&action, sid, from, &[("QueueResult", "leave"), ("QueueTime", "20")]).await
    }

    async fn ended(&self, sid: &str, from: &str) {
        self.post(
            "/voice/status",
            sid,
            from,
            &[("CallStatus", "completed"), ("CallDuration", "60")],
        )
        .await;
    }
}

#[tokio::test]
async fn no_phone_number_reaches_a_log_line_an_api_answer_or_the_csv() {
    // Every log line of this process, as JSON, at the most talkative level; but the test's
    // own HTTP client's, which logs the URLs it requests (the server's lines are the point).
    let capture = common::logs();

    let app = common::spawn_app().await;
    let flow = Flow { app: &app };
    let (olga, olga_token) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let (_, boss) = api::person(&app, "boss", Role::Supervisor, &["ru", "ko", "uk", "en"]).await;

    // A callback on a typed number, after a first read-back of the caller's own.
    let (cb_sid, enqueued) = flow.enqueued(CALLERS[0]).await;
    let asked = flow.leave_with(&cb_sid, CALLERS[0], &enqueued, "2").await;
    let action = attribute(&asked, "Gather", "action").unwrap();
    let read = flow.post(&action, &cb_sid, CALLERS[0], &[("Digits", "")]).await;
    let confirm = attribute(&read, "Gather", "action").unwrap();
    let again = flow.post(&confirm, &cb_sid, CALLERS[0], &[("Digits", "2")]).await;
    let action = attribute(&again, "Gather", "action").unwrap();
    let read = flow.post(&action, &cb_sid, CALLERS[0], &[("Digits", TYPED)]).await;
    let confirm = attribute(&read, "Gather", "action").unwrap();
    let done = flow.post(&confirm, &cb_sid, CALLERS[0], &[("Digits", "1")]).await;
    assert_clean("the callback's goodbye", &done);
    flow.ended(&cb_sid, CALLERS[0]).await;

    // A voicemail from the wait document, with its recording callback.
    let (vm_sid, enqueued) = flow.enqueued(CALLERS[1]).await;
    let record = flow.leave_with(&vm_sid, CALLERS[1], &enqueued, "1").await;
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE9";
    let action = attribute(&record, "Record", "action").unwrap();
    let status_url = attribute(&record, "Record", "recordingStatusCallback").unwrap();
    flow.post(&action, &vm_sid, CALLERS[1], &[("RecordingUrl", url), ("RecordingDuration", "7")])
        .await;
    let done =
        [("RecordingStatus", "completed"), ("RecordingUrl", url), ("RecordingDuration", "8")];
    flow.post(&status_url, &vm_sid, CALLERS[1], &done).await;
    flow.ended(&vm_sid, CALLERS[1]).await;

    // A caller who gives up in the queue, and one who waits for an operator.
    let (missed_sid, enqueued) = flow.enqueued(CALLERS[2]).await;
    let action = attribute(&enqueued, "Enqueue", "action").unwrap();
    flow.post(&action, &missed_sid, CALLERS[2], &[("QueueResult", "hangup"), ("QueueTime", "9")])
        .await;
    flow.ended(&missed_sid, CALLERS[2]).await;
    let (waiting_sid, enqueued) = flow.enqueued(CALLERS[3]).await;

    // The operator dials in: the callback first (its document is the one that must hold the
    // number), then the waiting caller, whispered and bridged.
    let op_sid = new_call_sid();
    let op = "+79990001122";
    let start = flow.post("/voice/operator", &op_sid, op, &[]).await;
    let action = attribute(&start, "Gather", "action").unwrap();
    let pin = flow.post(&action, &op_sid, op, &[("Digits", &olga.id.to_string())]).await;
    let action = attribute(&pin, "Gather", "action").unwrap();
    let calling = flow.post(&action, &op_sid, op, &[("Digits", TEST_PIN)]).await;
    assert_eq!(text(&calling, "Number").as_deref(), Some(format!("+{TYPED}").as_str()));
    let action = attribute(&calling, "Dial", "action").unwrap();
    let talked = [("DialCallStatus", "completed"), ("DialCallDuration", "120")];
    let after = flow.post(&action, &op_sid, op, &talked).await;
    assert_clean("the operator line after the callback", &after);
    let next = text(&after, "Redirect").unwrap();
    let whisper = flow.post(&next, &op_sid, op, &[("Digits", "1")]).await;
    assert_clean("the whisper", &whisper);
    let dial = attribute(&whisper, "Dial", "action").unwrap();
    let queue_action = attribute(&enqueued, "Enqueue", "action").unwrap();
    flow.post(
        &queue_action,
        &waiting_sid,
        CALLERS[3],
        &[("QueueResult", "bridged"), ("QueueTime", "30")],
    )
    .await;
    flow.post(&dial, &op_sid, op, &talked).await;
    flow.ended(&waiting_sid, CALLERS[3]).await;

    // The API: every read a screen makes, as the operator and as the supervisor.
    let (_, list) =
        api::api(&app, "GET", "/api/followups?closed=true", Some(&olga_token), None).await;
    let mut reads: Vec<String> = vec![
        "/api/followups".into(),
        "/api/followups?closed=true".into(),
        "/api/queues".into(),
        "/api/cases".into(),
        "/api/operators".into(),
        "/api/audit".into(),
        "/api/me".into(),
    ];
    for item in list["followups"].as_array().unwrap() {
        reads.push(format!("/api/followups/{}", item["id"]));
        reads.push(format!("/api/cases/{}", item["case"].as_str().unwrap()));
    }
    assert!(reads.len() >= 10, "{list}");
    for path in &reads {
        for token in [&olga_token, &boss] {
            let (_, body) = api::api(&app, "GET", path, Some(token), None).await;
            assert_clean(path, &body.to_string());
        }
    }
    // The missed call: taken and tried, with nothing to reveal.
    let missed = list["followups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "missed")
        .expect("the missed call is listed");
    let take = format!("/api/followups/{}/take", missed["id"]);
    let (_, taken) = api::api(&app, "POST", &take, Some(&olga_token), None).await;
    assert_clean("take", &taken.to_string());

    // The CSV export.
    let url = format!("{}/api/cases.csv", app.base_url);
    let csv = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .new_agent();
        agent
            .get(&url)
            .header("Authorization", &format!("Bearer {boss}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(csv.lines().count() >= 5, "{csv}");
    assert_clean("the CSV", &csv);

    // A webhook sent with GET (a number configured so at the provider) has the caller's number
    // in its query: refused, and logged by its path alone.
    let get = format!("/voice/incoming?CallSid={}&From=%2B{}", new_call_sid(), &CALLERS[0][1..]);
    assert_eq!(api::api(&app, "GET", &get, None, None).await.0, 405);

    app.stop().await;

    // Every log line: JSON, and without any of the numbers.
    let logs = String::from_utf8(capture.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() > 100, "the capture caught the run: {} lines", lines.len());
    for line in &lines {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "not JSON: {line}");
        assert_clean("a log line", line);
    }
    assert!(logs.contains("callback request confirmed"), "the flow was logged");
    let get = lines.iter().find(|line| line.contains(r#""method":"GET","path":"/voice/incoming""#));
    assert!(get.is_some(), "the GET webhook was logged");
}
