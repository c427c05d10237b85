//! Floods: many calls from one number, forged webhooks and wrong API tokens from one
//! address. The flood is refused; another caller, or the provider, still gets through.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::api::{self, BAD_TOKEN};
use common::console::{Answer, Browser};
use common::{Context, TOKEN, TestApp, assert_valid_twiml, new_call_sid, spawn_app_with, verbs};
use hotline::domain::cases::Event;
use hotline::domain::people::Role;

const FLOODER: &str = "+79160000001";
const REAL_CALLER: &str = "+79169999999";

fn incoming(sid: &str, from: &str) -> Vec<(String, String)> {
    vec![
        ("CallSid".into(), sid.into()),
        ("From".into(), from.into()),
        ("FromCountry".into(), "RU".into()),
    ]
}

async fn post(app: &TestApp, path: &str, params: Vec<(String, String)>) -> String {
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let reply = app.post(path, &params).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_valid_twiml(&reply.body, Context::Call);
    reply.body
}

/// Whether call `sid` was refused for its caller's limit of calls in progress, as its case
/// says. Its answer does not say (`tests/spoofed_caller_id.rs`).
async fn over_the_limit(app: &TestApp, sid: &str) -> bool {
    app.case(sid)
        .await
        .events
        .iter()
        .any(|e| matches!(&e.event, Event::Rejected { reason } if reason.contains("limit")))
}

/// One number calling again and again, each call staying on the line, gets its limit of
/// calls in progress; the rest are refused (told goodbye before they can reach a person),
/// and their cases say why. Another number is answered normally throughout, and the flooder
/// gets a call again once one of theirs ends.
#[tokio::test]
async fn one_number_cannot_fill_the_line() {
    let app = spawn_app_with(|c| c.webhooks.calls_per_caller = 2).await;
    let mut answered = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..12 {
        let sid = new_call_sid();
        post(&app, "/voice/incoming", incoming(&sid, FLOODER)).await;
        if over_the_limit(&app, &sid).await {
            refused.push(sid);
        } else {
            answered.push(sid);
        }
    }
    assert_eq!(answered.len(), 2, "{answered:?}");
    assert_eq!(refused.len(), 10);
    let real = new_call_sid();
    let body = post(&app, "/voice/incoming", incoming(&real, REAL_CALLER)).await;
    assert!(verbs(&body).iter().any(|v| v.starts_with("Gather")), "{body}");
    assert!(!over_the_limit(&app, &real).await);
    // A retried voice URL of an answered call is still answered.
    post(&app, "/voice/incoming", incoming(&answered[0], FLOODER)).await;
    assert!(!over_the_limit(&app, &answered[0]).await);

    let case = app.case(&refused[0]).await;
    assert!(case.caller.is_some(), "the refused call keeps its caller hash");

    // One of the flooder's calls ends: the number may call once more.
    let mut ended = incoming(&answered[0], FLOODER);
    ended.push(("CallStatus".into(), "completed".into()));
    post(&app, "/voice/status", ended).await;
    let again = new_call_sid();
    post(&app, "/voice/incoming", incoming(&again, FLOODER)).await;
    assert!(!over_the_limit(&app, &again).await);
    let more = new_call_sid();
    post(&app, "/voice/incoming", incoming(&more, FLOODER)).await;
    assert!(over_the_limit(&app, &more).await);
    println!(
        "flood from one number: 14 calls, 11 refused; the other caller was answered; \
         refused by limits so far: {}",
        hotline::http::limits::refused_total()
    );
    app.stop().await;
}

/// `webhooks.over_limit_answer = "hangup"`: the call over the limit hears nothing.
#[tokio::test]
async fn calls_over_the_limit_can_be_hung_up_on_at_once() {
    let app = spawn_app_with(|c| {
        c.webhooks.calls_per_caller = 1;
        c.webhooks.over_limit_answer = hotline::config::OverLimitAnswer::Hangup;
    })
    .await;
    post(&app, "/voice/incoming", incoming(&new_call_sid(), FLOODER)).await;
    let body = post(&app, "/voice/incoming", incoming(&new_call_sid(), FLOODER)).await;
    assert_eq!(verbs(&body), ["Hangup"]);
    // A withheld number is nobody in particular: not limited.
    for _ in 0..3 {
        let body = post(&app, "/voice/incoming", incoming(&new_call_sid(), "anonymous")).await;
        assert!(verbs(&body).iter().any(|v| v.starts_with("Gather")), "{body}");
    }
    app.stop().await;
}

/// A raw HTTP/1.1 request through the trusted proxy (the test's own address), naming the
/// client in `X-Forwarded-For`. Returns the status and body.
fn through_proxy(
    port: u16,
    client: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Forwarded-For: {client}\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn port(app: &TestApp) -> u16 {
    app.base_url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Forged webhooks from one address: refused (403) up to the allowance, then answered 429
/// without any work; the provider's signed requests, from another address, go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_webhooks_from_one_address_are_cut_short() {
    let app = spawn_app_with(|c| {
        c.server.refusals_per_minute = 5;
        c.server.trusted_proxy = Some("127.0.0.1".parse().unwrap());
    })
    .await;
    let port = port(&app);
    let form = |sid: &str| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(incoming(sid, REAL_CALLER))
            .finish()
    };
    let forged = vec![
        ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
        ("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl".to_owned()),
    ];
    let attacker = "203.0.113.66";
    let statuses: Vec<u16> = (0..12)
        .map(|_| through_proxy(port, attacker, "POST", "/voice/incoming", &forged, &form("CA1")).0)
        .collect();
    assert_eq!(statuses[..5], [403; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");

    // The provider, from its own address, signs correctly and is answered.
    let sid = new_call_sid();
    let url = format!("{}/voice/incoming", app.base_url);
    let signature =
        hotline::signature::compute(TOKEN.as_bytes(), &url, &incoming(&sid, REAL_CALLER));
    let signed = vec![
        ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
        ("X-Twilio-Signature", signature),
    ];
    let (status, body) =
        through_proxy(port, "198.51.100.20", "POST", "/voice/incoming", &signed, &form(&sid));
    assert_eq!(status, 200, "{body}");
    assert_valid_twiml(&body, Context::Call);
    // Without a trusted proxy naming them, the attacker's address is still refused.
    let (status, _) =
        through_proxy(port, attacker, "POST", "/voice/incoming", &signed, &form(&sid));
    assert_eq!(status, 429);
    // A client the proxy names as 127.0.0.1 is counted like any other: only the machine
    // itself as the connection's peer, without a proxy, goes uncounted.
    let statuses: Vec<u16> = (0..8)
        .map(|_| {
            through_proxy(port, "127.0.0.1", "POST", "/voice/incoming", &forged, &form("CA1")).0
        })
        .collect();
    assert_eq!(statuses, [403, 403, 403, 403, 403, 429, 429, 429]);
    println!("forged webhooks: 12 from one address, 7 answered 429; the provider got through");
    app.stop().await;
}

/// Wrong API tokens from one address: 401 up to the allowance, then 429, even for a right
/// token from there; a supervisor elsewhere is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guessing_from_one_address_is_cut_short() {
    let app = spawn_app_with(|c| {
        c.server.refusals_per_minute = 3;
        c.server.trusted_proxy = Some("127.0.0.1".parse().unwrap());
    })
    .await;
    let (_, token) = api::person(&app, "sasha", Role::Supervisor, &["ru"]).await;
    let port = port(&app);
    let bearer = |token: &str| vec![("Authorization", format!("Bearer {token}"))];
    let guesser = "203.0.113.99";
    let statuses: Vec<u16> = (0..6)
        .map(|_| through_proxy(port, guesser, "GET", "/api/me", &bearer(BAD_TOKEN), "").0)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    let (status, _) = through_proxy(port, guesser, "GET", "/api/me", &bearer(&token), "");
    assert_eq!(status, 429, "a right token from a blocked address");
    let (status, body) = through_proxy(port, "198.51.100.7", "GET", "/api/me", &bearer(&token), "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sasha"), "{body}");
    app.stop().await;
}

/// Unreadable webhooks (not a form, too large, too many parameters) from one address: each
/// answered with safe TwiML, as a call must never drop on how a request was written, but
/// counted like forged ones, so past the allowance the address gets 429 without any work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_webhooks_from_one_address_are_counted_and_cut_short() {
    let app = spawn_app_with(|c| {
        c.server.refusals_per_minute = 5;
        c.server.trusted_proxy = Some("127.0.0.1".parse().unwrap());
        c.webhooks.max_body_bytes = 4096;
    })
    .await;
    let port = port(&app);
    let form = vec![("Content-Type", "application/x-www-form-urlencoded".to_owned())];
    let json = vec![("Content-Type", "application/json".to_owned())];
    let huge = "a=".repeat(5000);
    let many = "a=1&".repeat(150);
    let sender = "203.0.113.80";
    let unreadable: [(&[(&str, String)], &str); 6] = [
        (&json, "{\"CallSid\":\"CA1\"}"),
        (&[], "CallSid=CA1"),
        (&form, &huge),
        (&form, &many),
        (&[("Content-Type", "text/plain".to_owned())], "hello"),
        (&form, &huge),
    ];
    for (n, (headers, body)) in unreadable.iter().enumerate().take(5) {
        let (status, answer) =
            through_proxy(port, sender, "POST", "/voice/incoming", headers, body);
        assert_eq!(status, 200, "request {n}: {answer}");
        assert_valid_twiml(&answer, Context::Call);
    }
    let (headers, body) = unreadable[5];
    let (status, _) = through_proxy(port, sender, "POST", "/voice/incoming", headers, body);
    assert_eq!(status, 429, "the sixth unreadable request from one address");
    // Another address is not affected.
    let (status, answer) =
        through_proxy(port, "198.51.100.80", "POST", "/voice/incoming", &json, "{}");
    assert_eq!(status, 200, "{answer}");
    app.stop().await;
}

/// Posts the login forms of `browsers` all at once, each under a wrong name of its own
/// (`names` and its number), and returns each answer.
async fn log_in_at_once(browsers: Vec<Browser>, names: &str) -> Vec<Answer> {
    let logins: Vec<_> = browsers
        .into_iter()
        .enumerate()
        .map(|(n, mut browser)| {
            let name = format!("{names}{n}");
            tokio::spawn(async move {
                browser
                    .post("/console/login", &[("name", &name), ("password", "wrong-pass-123")])
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for login in logins {
        answers.push(login.await.unwrap());
    }
    answers
}

/// Browsers that have each read the login form, from `address` (through the test's trusted
/// proxy) or, with `None`, from the machine itself.
async fn at_the_login_form(app: &TestApp, address: Option<&str>, count: usize) -> Vec<Browser> {
    let mut browsers = Vec::new();
    for _ in 0..count {
        let mut browser = match address {
            Some(address) => Browser::from_address(app, address),
            None => Browser::new(app),
        };
        assert_eq!(browser.get("/console/login").await.status, 200);
        browsers.push(browser);
    }
    browsers
}

/// A burst of bad logins from one address, all sent before the first is checked: each is
/// counted before its password is checked, so one address gets exactly its allowance of
/// failures (here 1) and the rest are refused as over the limit, not checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_bad_logins_from_one_address_is_held_to_its_limit() {
    let app = spawn_app_with(|c| {
        c.console.login_failures = 1;
        c.server.trusted_proxy = Some("127.0.0.1".parse().unwrap());
    })
    .await;
    api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let browsers = at_the_login_form(&app, Some("203.0.113.70"), 24).await;

    let answers = log_in_at_once(browsers, "guess").await;

    let failed = answers.iter().filter(|a| a.status == 401).count();
    let limited =
        answers.iter().filter(|a| a.status == 429 && a.body.contains("Too many failed")).count();
    assert_eq!(failed, 1, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_eq!(limited, 23);
    // The same /64 of an IPv6 client is one address too.
    let v6 = at_the_login_form(&app, Some("2001:db8:70::1"), 1).await;
    // (Names of their own: a name that failed in the burst is over its own limit.)
    assert_eq!(log_in_at_once(v6, "first-v6-").await[0].status, 401);
    let v6 = at_the_login_form(&app, Some("2001:db8:70::ffff:2"), 1).await;
    assert_eq!(log_in_at_once(v6, "second-v6-").await[0].status, 429);
    // Someone elsewhere logs in.
    let mut anna = Browser::from_address(&app, "198.51.100.70");
    assert_eq!(anna.log_in("anna", api::TEST_PASSWORD).await.status, 303);
    app.stop().await;
}

/// More logins at once than the server checks passwords at once (from the machine itself,
/// which no address limit holds): the extra ones are answered 429 at once with a
/// `Retry-After`, none is lost in a queue, and a login after the burst goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_past_the_password_checks_get_429_with_retry_after() {
    let app = spawn_app_with(|c| c.console.login_failures = 1000).await;
    api::person(&app, "anna", Role::Operator, &["ru"]).await;
    let browsers = at_the_login_form(&app, None, 40).await;

    let answers = log_in_at_once(browsers, "guess").await;

    let failed = answers.iter().filter(|a| a.status == 401).count();
    let busy: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(
        failed + busy.len(),
        40,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(failed >= 1 && !busy.is_empty(), "{failed} checked, {} refused", busy.len());
    for answer in busy {
        assert_eq!(answer.header("retry-after"), "1");
        assert!(answer.body.contains("try again in a moment"), "{}", answer.body);
        assert!(common::console::csrf_of(&answer.body).is_some(), "a fresh form to try again");
    }
    Browser::login(&app, "anna", api::TEST_PASSWORD).await;
    app.stop().await;
}

/// More PIN entries at once on the operator line than the server checks at once: every one
/// is answered with valid TwiML; the extra ones are asked for the PIN again on the same try
/// (the call goes on, and nothing is counted), and the right PIN typed there signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_entries_past_the_checks_are_asked_again_and_the_call_goes_on() {
    // One PIN short of a lock once the flood's checked PINs and those below are counted, and
    // only those: a try that was asked again must not count towards the lockout.
    const LOCK_AFTER: u32 = 50;
    let app = std::sync::Arc::new(spawn_app_with(|c| c.operators.pin_failures = LOCK_AFTER).await);
    let (olga, _) = api::person(&app, "olga", Role::Operator, &["ru"]).await;
    let action = format!("/voice/operator/pin?try=1&op={}", olga.id);
    let entries: Vec<_> = (0..40)
        .map(|_| {
            let (app, action) = (std::sync::Arc::clone(&app), action.clone());
            tokio::spawn(async move {
                let sid = new_call_sid();
                let doc = app.post_call(&action, &sid, &[("Digits", "000000")]).await;
                (sid, doc)
            })
        })
        .collect();
    let mut again = Vec::new();
    let mut wrong = 0;
    for entry in entries {
        let (sid, doc) = entry.await.unwrap();
        assert_valid_twiml(&doc, Context::Call);
        assert!(!verbs(&doc).contains(&"Hangup".to_owned()), "a dropped call: {doc}");
        if doc.contains("busy checking PINs") {
            assert_eq!(common::attribute(&doc, "Gather", "action").as_deref(), Some(&*action));
            again.push(sid);
        } else {
            assert!(doc.contains("do not match"), "{doc}");
            wrong += 1;
        }
    }
    assert!(wrong >= 1 && !again.is_empty(), "{wrong} checked, {} asked again", again.len());
    // Counting the tries asked again would make this more than LOCK_AFTER failures.
    let mut checked = wrong;
    while checked < LOCK_AFTER - 1 {
        let doc = app.post_call(&action, &new_call_sid(), &[("Digits", "000000")]).await;
        checked += u32::from(doc.contains("do not match"));
    }
    let doc = app.post_call(&action, &again[0], &[("Digits", api::TEST_PIN)]).await;
    assert!(doc.contains("Welcome, olga."), "{doc}");
}
