//! The compatible providers: a hotline configured for SignalWire or Telnyx TeXML takes their
//! signed webhooks, with their own ids, and answers TwiML; a forged, replayed or
//! other provider's request is refused with a 403.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use hotline::config::Provider;
use hotline::domain::cases::Outcome;

use crate::common::{self, CALLER, Context, TOKEN, TestApp, assert_valid_twiml, attribute};

/// Telnyx's TeXML parameters of an inbound call, as its documentation shows them.
fn texml_params(sid: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", "f5586561-8ff0-4291-a51b-c7dfe4139ff9".into()),
        ("CallSid", sid.into()),
        ("CallSidLegacy", sid.into()),
        ("CallStatus", "ringing".into()),
        ("ConnectionId", "1234567890".into()),
        ("Direction", "inbound".into()),
        ("From", CALLER.into()),
        ("To", "+18005550100".into()),
    ]
}

/// SignalWire's compatibility (cXML) parameters: UUIDs for the account and the call.
fn cxml_params(sid: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", "446e9986-0848-4d46-a617-48793c5f5e07".into()),
        ("ApiVersion", "2010-04-01".into()),
        ("CallSid", sid.into()),
        ("CallStatus", "ringing".into()),
        ("Direction", "inbound".into()),
        ("From", CALLER.into()),
        ("To", "+18005550100".into()),
    ]
}

fn with(base: &[(&'static str, String)], name: &'static str, value: &str) -> Vec<(String, String)> {
    base.iter()
        .filter(|(k, _)| *k != name)
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain([(name.to_owned(), value.to_owned())])
        .collect()
}

fn owned(params: &[(&'static str, String)]) -> Vec<(String, String)> {
    params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn encode(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

/// POSTs `body` as a form to `path` with these headers; the status and the body answered.
fn post(app: &TestApp, path: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let port: u16 = app.base_url.rsplit(':').next().unwrap().parse().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
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

/// Headers of a request, by name.
type Headers = Vec<(&'static str, String)>;

/// Telnyx's headers for `body`: the Ed25519 signature of `{timestamp}|{body}`.
fn telnyx_headers(key: &SigningKey, timestamp: i64, body: &str) -> Headers {
    let message = format!("{timestamp}|{body}");
    vec![
        ("telnyx-signature-ed25519", STANDARD.encode(key.sign(message.as_bytes()).to_bytes())),
        ("telnyx-timestamp", timestamp.to_string()),
    ]
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signalwire_call_is_answered_under_its_signing_key_and_its_ids() {
    let app = common::spawn_app_with(|c| c.webhooks.provider = Provider::SignalWire).await;
    let sid = "b3877c40-da60-4998-90ad-b792e98472ca";
    let params = owned(&cxml_params(sid));
    let url = format!("{}/voice/incoming", app.base_url);
    let signature = hotline::signature::compute(TOKEN.as_bytes(), &url, &params);
    let (status, body) = post(
        &app,
        "/voice/incoming",
        &[("X-SignalWire-Signature", signature.clone())],
        &encode(&params),
    );
    assert_eq!(status, 200, "{body}");
    assert_valid_twiml(&body, Context::Call);
    let action = attribute(&body, "Gather", "action").unwrap();
    assert!(action.starts_with("/voice/language?attempt=1&step=1&v="), "{action}");
    let case = app.case(sid).await;
    assert_eq!(case.outcome, Outcome::InProgress);
    assert!(case.caller.is_some());

    // The caller chooses Korean; SignalWire's Twilio-named alias carries the signature.
    let chose = with(&cxml_params(sid), "Digits", "2");
    let path = action.replace("&amp;", "&");
    let signature =
        hotline::signature::compute(TOKEN.as_bytes(), &format!("{}{path}", app.base_url), &chose);
    let (status, body) = post(&app, &path, &[("X-Twilio-Signature", signature)], &encode(&chose));
    assert_eq!(status, 200, "{body}");
    assert_valid_twiml(&body, Context::Call);
    assert_eq!(app.case(sid).await.language.unwrap().as_str(), "ko");

    // Forged: a wrong key, a changed parameter, no header, another provider's header.
    let forged = hotline::signature::compute(b"not-the-signing-key", &url, &params);
    let changed = with(&cxml_params(sid), "From", "+15550000000");
    let genuine = hotline::signature::compute(TOKEN.as_bytes(), &url, &params);
    let key = SigningKey::from_bytes(&[5; 32]);
    for (headers, body) in [
        (vec![("X-SignalWire-Signature", forged)], encode(&params)),
        (vec![("X-SignalWire-Signature", genuine.clone())], encode(&changed)),
        (vec![], encode(&params)),
        (telnyx_headers(&key, now(), &encode(&params)), encode(&params)),
        // Longer than any signature, within the server's header limit (beyond it: 431).
        (vec![("X-SignalWire-Signature", "A".repeat(8_000))], encode(&params)),
    ] {
        let (status, answer) = post(&app, "/voice/incoming", &headers, &body);
        let names: Vec<_> = headers.iter().map(|(name, value)| (name, value.len())).collect();
        assert_eq!(status, 403, "{names:?}: {answer}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telnyx_call_is_answered_when_signed_and_refused_when_forged_or_replayed() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = STANDARD.encode(key.verifying_key().as_bytes());
    let app = common::spawn_app_with(|c| {
        c.webhooks.provider = Provider::Telnyx;
        c.webhooks.telnyx_public_key = public;
    })
    .await;
    let sid = "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ";
    let body = encode(&owned(&texml_params(sid)));
    let signed_at = now();
    let headers = telnyx_headers(&key, signed_at, &body);
    let (status, answer) = post(&app, "/voice/incoming", &headers, &body);
    assert_eq!(status, 200, "{answer}");
    assert_valid_twiml(&answer, Context::Call);
    let action = attribute(&answer, "Gather", "action").unwrap().replace("&amp;", "&");
    assert!(action.starts_with("/voice/language?attempt=1&step=1&v="), "{action}");
    assert_eq!(app.case(sid).await.outcome, Outcome::InProgress);

    // The caller presses 2 for Korean: TeXML's Gather posts Digits like Twilio's.
    let chose = encode(&with(&texml_params(sid), "Digits", "2"));
    let (status, answer) = post(&app, &action, &telnyx_headers(&key, now(), &chose), &chose);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(attribute(&answer, "Say", "voice").as_deref(), Some("Polly.Seoyeon"));
    assert_eq!(app.case(sid).await.language.unwrap().as_str(), "ko");

    let other_key = SigningKey::from_bytes(&[43; 32]);
    let twilio_signed = hotline::signature::compute(
        TOKEN.as_bytes(),
        &format!("{}/voice/incoming", app.base_url),
        &owned(&texml_params(sid)),
    );
    let tampered = body.replace("ringing", "completed");
    let refused: Vec<(&str, Headers, &str)> = vec![
        ("replayed six minutes later", telnyx_headers(&key, signed_at - 360, &body), &body),
        ("from the future", telnyx_headers(&key, now() + 360, &body), &body),
        ("another account's key", telnyx_headers(&other_key, now(), &body), &body),
        ("a changed body", telnyx_headers(&key, now(), &body), &tampered),
        ("no headers", vec![], &body),
        ("Twilio's signature", vec![("X-Twilio-Signature", twilio_signed)], &body),
        (
            "a timestamp that is not a number",
            vec![
                ("telnyx-signature-ed25519", headers[0].1.clone()),
                ("telnyx-timestamp", "<script>".into()),
            ],
            &body,
        ),
        (
            "a huge signature",
            vec![
                ("telnyx-signature-ed25519", "A".repeat(8_000)),
                ("telnyx-timestamp", now().to_string()),
            ],
            &body,
        ),
        (
            "an empty signature",
            vec![
                ("telnyx-signature-ed25519", String::new()),
                ("telnyx-timestamp", now().to_string()),
            ],
            &body,
        ),
    ];
    for (what, headers, body) in refused {
        let (status, answer) = post(&app, "/voice/incoming", &headers, body);
        assert_eq!(status, 403, "{what}: {answer}");
    }
    // Nothing refused was recorded: the tampered "completed" never ended the call.
    assert_eq!(app.case(sid).await.outcome, Outcome::InProgress);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_hotline_takes_no_other_providers_header() {
    let app = common::spawn_app().await;
    let sid = common::new_call_sid();
    let params = owned(&common::call_params(&sid));
    let url = format!("{}/voice/incoming", app.base_url);
    let signature = hotline::signature::compute(TOKEN.as_bytes(), &url, &params);
    let (status, _) = post(
        &app,
        "/voice/incoming",
        &[("X-SignalWire-Signature", signature.clone())],
        &encode(&params),
    );
    assert_eq!(status, 403);
    let (status, body) =
        post(&app, "/voice/incoming", &[("X-Twilio-Signature", signature)], &encode(&params));
    assert_eq!(status, 200, "{body}");
    assert_valid_twiml(&body, Context::Call);
    app.stop().await;
}
