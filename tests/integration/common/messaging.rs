//! A fake Twilio REST API on loopback, faithful to the real one where the hotline can tell.
//! Every request is authenticated (HTTP basic, the account SID and auth token: `401`/20003
//! otherwise) and dispatched by its resource under `/2010-04-01/Accounts/{AccountSid}/`
//! (`404`/20404 for another account or an unknown resource); each resource the hotline uses
//! has its own handler below.
//!
//! Messages: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, a form with `To`,
//! `From` or `MessagingServiceSid`, `Body` or `ContentSid`; HTTP basic authentication with
//! the account SID and auth token; `201` with a Message resource (`sid` `SM…`, `status`
//! `queued`); Twilio's refusals as `{"code":…, "message":…, "more_info":…, "status":…}`:
//! `401`/20003 for wrong credentials, `404`/20404 for another account or path, `400`/21604
//! without `To`, 21603 without a sender, 21602 without a body, 21617 for a body over 1600
//! characters, 21211 for a `To` that is not a number, 63016 for free text to a WhatsApp user
//! whose 24-hour window is closed, `429`/20429 when told to.
//!
//! Calls: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`, a form with `To`, `From`, `Url`
//! (or `Twiml`), `StatusCallback`, `StatusCallbackEvent`, `Timeout`; `201` with a Call resource
//! (`sid` `CA…`, `status` `queued`); `400`/21201 without `To`, 21213 without `From`, 21205
//! without a `Url` (or `Twiml`) or with one that is not absolute http(s), 21211 for a `To`
//! that is not a number, 21208 for a `Timeout` that is not a whole number of 1 to 600. It
//! records the calls it placed ([`FakeTwilio::calls`]) and can be told to fail the next ones
//! ([`FakeTwilio::fail_next_calls`]); the test then plays the provider's side of each call.
//! `GET Calls.json` lists them, oldest first, each with the `url` and `status_callback` the
//! hotline gave (Twilio's list leaves those out): how a test in another process, the
//! browser's, plays the provider's side.
//!
//! It records what it accepted ([`FakeTwilio::sent`]), can be told to fail the next requests
//! ([`FakeTwilio::fail_next`]) or to close a WhatsApp user's window ([`FakeTwilio::close_window`]),
//! and writes the forms Twilio posts to the hotline's webhook for an incoming message
//! ([`FakeTwilio::incoming`]), WhatsApp's profile name included, so a test can prove it is not
//! kept. Like the Bot API fake it runs on a thread of its own.
//!
//! Queues and recordings (see [`FakeTwilio::add_queue`], [`FakeTwilio::add_recording`]):
//! `GET Queues.json?PageSize=…&Page=…` lists queues a page at a time (`next_page_uri`
//! relative to the API's base, `null` on the last page), `GET`/`DELETE Queues/{QU…}.json`
//! reads or deletes one (`404`/20404 when unknown, `400` when calls are still in it: only an
//! empty queue can be deleted, `204` when done); `GET Recordings/{RE…}.mp3` answers the
//! audio (`audio/mpeg`), `DELETE Recordings/{RE…}.json` deletes it (`204`, `404`/20404 when
//! unknown). They also take an API key ([`FakeTwilio::accept_api_key`]), can be told to fail
//! or to be slow ([`FakeTwilio::fail_rest_next`], [`FakeTwilio::slow_rest`]), and log every
//! request they got ([`FakeTwilio::rest_requests`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::TOKEN;
use super::loopback::Loopback;

/// The account of the tests.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// The hotline's number.
pub const HOTLINE_NUMBER: &str = "+18005550199";
/// The hotline's WhatsApp sender.
pub const WHATSAPP_NUMBER: &str = "+18005550177";
/// What WhatsApp tells of the person writing, which the hotline must never keep or log.
pub const PROFILE_NAME: &str = "Oksana-Fakeprofile-Wq";

/// A fault to answer the next requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `429` (Twilio's 20429), with this `Retry-After` in seconds, or none.
    TooMany(Option<u64>),
    /// This HTTP status, with this Twilio error code.
    Status(u16, u32),
}

/// A message the hotline created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its `sid`.
    pub sid: String,
    /// `To`, as given.
    pub to: String,
    /// `From`, or the Messaging Service's SID.
    pub from: String,
    /// `Body` (empty for a template).
    pub body: String,
    /// `ContentSid`, for a template.
    pub content_sid: Option<String>,
}

/// A call the hotline placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Its `sid`.
    pub sid: String,
    /// `To`, as given.
    pub to: String,
    /// `From`, as given.
    pub from: String,
    /// `Url`: what the provider requests when the call is answered.
    pub url: String,
    /// `StatusCallback`.
    pub status_callback: String,
    /// Every `StatusCallbackEvent` given.
    pub events: Vec<String>,
    /// `Timeout`, in seconds.
    pub timeout: Option<u32>,
}

#[derive(Default)]
struct FakeState {
    sent: Vec<Sent>,
    faults: Vec<Fault>,
    requests: usize,
    closed_windows: HashSet<String>,
    next_sid: u64,
    // The Calls resource.
    placed: Vec<Placed>,
    call_faults: Vec<Fault>,
    call_requests: usize,
    next_call_sid: u64,
    // The Queue and Recording resources.
    rest: RestState,
}

/// A queue at the fake provider.
#[derive(Debug, Clone)]
struct FakeQueue {
    sid: String,
    name: String,
    size: u32,
    created: chrono::DateTime<chrono::Utc>,
}

/// The state of the Queue and Recording resources.
#[derive(Default)]
struct RestState {
    queues: Vec<FakeQueue>,
    recordings: BTreeMap<String, Vec<u8>>,
    /// Every request to them: method and path with its query.
    requests: Vec<(String, String)>,
    /// Requests to answer `503` before the next one is served.
    failing: usize,
    /// How long each request waits before it is answered.
    delay: Option<Duration>,
    /// The largest page of queues served (Twilio's is 1000).
    max_page_size: usize,
    /// An API key (SID, secret) accepted besides the account's auth token.
    api_key: Option<(String, String)>,
    next_sid: u64,
}

/// A running fake Messages API.
pub struct FakeTwilio {
    /// `http://127.0.0.1:PORT`: the `api_base` to give the hotline.
    pub base: String,
    state: Arc<Mutex<FakeState>>,
    /// The router served; stops when dropped.
    _server: Loopback,
}

impl FakeTwilio {
    /// Starts a fake answering to [`ACCOUNT_SID`] and the tests' auth token.
    pub fn start() -> FakeTwilio {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let shared = Arc::clone(&state);
        let server = Loopback::serve(Router::new().fallback(answer).with_state(shared));
        FakeTwilio { base: server.base.clone(), state, _server: server }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Every message created, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.with(|s| s.sent.clone())
    }

    /// Every request to the Messages resource, answered or failed.
    pub fn requests(&self) -> usize {
        self.with(|s| s.requests)
    }

    /// The next `n` requests fail with `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.with(|s| s.faults.extend(std::iter::repeat_n(fault, n)));
    }

    /// Every call placed, in order.
    pub fn calls(&self) -> Vec<Placed> {
        self.with(|s| s.placed.clone())
    }

    /// Every request to the Calls resource, answered or failed.
    pub fn call_requests(&self) -> usize {
        self.with(|s| s.call_requests)
    }

    /// The next `n` requests to the Calls resource fail with `fault`.
    pub fn fail_next_calls(&self, n: usize, fault: Fault) {
        self.with(|s| s.call_faults.extend(std::iter::repeat_n(fault, n)));
    }

    /// The WhatsApp user `number` last wrote more than 24 hours ago: free text to them fails.
    pub fn close_window(&self, number: &str) {
        self.with(|s| s.closed_windows.insert(format!("whatsapp:{number}")));
    }

    /// Adds a queue named `name` with `size` calls in it, made at `created`; its `QU…` id.
    pub fn add_queue(
        &self,
        name: &str,
        size: u32,
        created: chrono::DateTime<chrono::Utc>,
    ) -> String {
        self.with(|s| {
            s.rest.next_sid += 1;
            let sid = format!("QU{:032x}", s.rest.next_sid);
            let queue = FakeQueue { sid: sid.clone(), name: name.into(), size, created };
            s.rest.queues.push(queue);
            sid
        })
    }

    /// The names of the queues there now.
    pub fn queue_names(&self) -> Vec<String> {
        self.with(|s| s.rest.queues.iter().map(|q| q.name.clone()).collect())
    }

    /// Adds recording `sid` (`RE…`) with this audio.
    pub fn add_recording(&self, sid: &str, audio: &[u8]) {
        self.with(|s| s.rest.recordings.insert(sid.into(), audio.to_vec()));
    }

    /// Recording `sid` is no longer there (deleted at the provider by someone else).
    pub fn forget_recording(&self, sid: &str) {
        self.with(|s| s.rest.recordings.remove(sid));
    }

    /// Whether recording `sid` is there.
    pub fn has_recording(&self, sid: &str) -> bool {
        self.with(|s| s.rest.recordings.contains_key(sid))
    }

    /// Every request to the queues and recordings: (method, path and query).
    pub fn rest_requests(&self) -> Vec<(String, String)> {
        self.with(|s| s.rest.requests.clone())
    }

    /// The next `n` requests to the queues and recordings fail with `503`.
    pub fn fail_rest_next(&self, n: usize) {
        self.with(|s| s.rest.failing = n);
    }

    /// Requests to the queues and recordings are answered after `delay`.
    pub fn slow_rest(&self, delay: Duration) {
        self.with(|s| s.rest.delay = Some(delay));
    }

    /// Pages of queues hold at most `n`.
    pub fn pages_of(&self, n: usize) {
        self.with(|s| s.rest.max_page_size = n);
    }

    /// The API key `sid` with `secret` is accepted like the auth token.
    pub fn accept_api_key(&self, sid: &str, secret: &str) {
        self.with(|s| s.rest.api_key = Some((sid.into(), secret.into())));
    }

    /// The form Twilio posts for message `sid` from `from` (`+E164` or `whatsapp:+E164`).
    pub fn incoming(&self, sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
        let whatsapp = from.starts_with("whatsapp:");
        let to =
            if whatsapp { format!("whatsapp:{WHATSAPP_NUMBER}") } else { HOTLINE_NUMBER.into() };
        let mut form = vec![
            ("ToCountry", "US".to_owned()),
            ("SmsMessageSid", sid.to_owned()),
            ("NumMedia", "0".to_owned()),
            ("SmsSid", sid.to_owned()),
            ("SmsStatus", "received".to_owned()),
            ("Body", body.to_owned()),
            ("To", to),
            ("NumSegments", "1".to_owned()),
            ("MessageSid", sid.to_owned()),
            ("AccountSid", ACCOUNT_SID.to_owned()),
            ("From", from.to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
        ];
        if whatsapp {
            let wa_id = from.trim_start_matches("whatsapp:+").to_owned();
            form.push(("ProfileName", PROFILE_NAME.to_owned()));
            form.push(("WaId", wa_id));
            form.push(("MessageType", "text".to_owned()));
        } else {
            form.push(("FromCountry", "UA".to_owned()));
        }
        form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

fn refusal(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn answer(
    State(state): State<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{TOKEN}"))
    );
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    let authorized = given == Some(&expected) || is_api_key(&state, given);
    if !authorized {
        return refusal(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let root = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/");
    let resource = uri.path().strip_prefix(&root).unwrap_or_default();
    match (method, resource) {
        (Method::POST, "Messages.json") => create_message(&state, &body),
        (method, resource)
            if resource.starts_with("Queues") || resource.starts_with("Recordings") =>
        {
            queues_and_recordings(&state, &method, resource, uri.query().unwrap_or_default()).await
        }
        (Method::POST, "Calls.json") => create_call(&state, &body),
        (Method::GET, "Calls.json") => list_calls(&state),
        _ => refusal(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"),
    }
}

/// The answer to a fault asked by the test.
fn fault_answer(fault: Fault) -> Response {
    match fault {
        Fault::TooMany(wait) => {
            let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            if let Some(wait) = wait {
                response.headers_mut().insert("retry-after", wait.into());
            }
            response
        }
        Fault::Status(status, code) => {
            refusal(StatusCode::from_u16(status).unwrap(), code, "Fault asked by the test")
        }
    }
}

/// Whether `number` is `+` and 8 to 15 digits, as Twilio's number check reads it.
fn is_phone_number(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `POST Calls.json`: places a call, or refuses it as Twilio would.
fn create_call(state: &Mutex<FakeState>, body: &[u8]) -> Response {
    let form: Vec<(String, String)> =
        form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut state = state.lock().unwrap();
    state.call_requests += 1;
    if !state.call_faults.is_empty() {
        let fault = state.call_faults.remove(0);
        return fault_answer(fault);
    }
    let Some(to) = param("To") else {
        return refusal(StatusCode::BAD_REQUEST, 21201, "No 'To' number is specified");
    };
    let Some(from) = param("From") else {
        return refusal(StatusCode::BAD_REQUEST, 21213, "No 'From' number is specified");
    };
    let url = param("Url").unwrap_or_default();
    let absolute = url.starts_with("https://") || url.starts_with("http://");
    if !absolute && param("Twiml").is_none() {
        return refusal(StatusCode::BAD_REQUEST, 21205, "Url is not a valid URL");
    }
    if !is_phone_number(&to) {
        return refusal(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    let timeout = match param("Timeout") {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(secs) if (1..=600).contains(&secs) => Some(secs),
            _ => return refusal(StatusCode::BAD_REQUEST, 21208, "Invalid Timeout"),
        },
    };
    state.next_call_sid += 1;
    let sid = format!("CA{:032x}", state.next_call_sid);
    let events =
        form.iter().filter(|(k, _)| k == "StatusCallbackEvent").map(|(_, v)| v.clone()).collect();
    state.placed.push(Placed {
        sid: sid.clone(),
        to: to.clone(),
        from: from.clone(),
        url,
        status_callback: param("StatusCallback").unwrap_or_default(),
        events,
        timeout,
    });
    let resource = json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "direction": "outbound-api",
        "from": from,
        "sid": sid,
        "status": "queued",
        "to": to,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"),
    });
    (StatusCode::CREATED, [("content-type", "application/json")], resource.to_string())
        .into_response()
}

/// `GET Calls.json`: the calls placed, oldest first, with the URLs the hotline gave.
fn list_calls(state: &Mutex<FakeState>) -> Response {
    let calls: Vec<_> = state
        .lock()
        .unwrap()
        .placed
        .iter()
        .map(|call| {
            json!({
                "sid": call.sid,
                "to": call.to,
                "from": call.from,
                "url": call.url,
                "status_callback": call.status_callback,
            })
        })
        .collect();
    let body = json!({ "calls": calls });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// `POST Messages.json`: creates a message, or refuses it as Twilio would.
fn create_message(state: &Mutex<FakeState>, body: &[u8]) -> Response {
    let form: Vec<(String, String)> =
        form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut state = state.lock().unwrap();
    state.requests += 1;
    if !state.faults.is_empty() {
        return match state.faults.remove(0) {
            Fault::TooMany(wait) => {
                let mut response =
                    refusal(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
                if let Some(wait) = wait {
                    response.headers_mut().insert("retry-after", wait.into());
                }
                response
            }
            Fault::Status(status, code) => {
                refusal(StatusCode::from_u16(status).unwrap(), code, "Fault asked by the test")
            }
        };
    }
    let Some(to) = param("To") else {
        return refusal(StatusCode::BAD_REQUEST, 21604, "A 'To' phone number is required.");
    };
    let Some(from) = param("From").or_else(|| param("MessagingServiceSid")) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
        );
    };
    let number = to.trim_start_matches("whatsapp:");
    let valid = number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return refusal(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if to.starts_with("whatsapp:") != from.starts_with("whatsapp:") && !from.starts_with("MG") {
        return refusal(
            StatusCode::BAD_REQUEST,
            63007,
            "Twilio could not find a Channel with the specified From address",
        );
    }
    let body_text = param("Body").unwrap_or_default();
    let content_sid = param("ContentSid");
    if body_text.is_empty() && content_sid.is_none() {
        return refusal(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    }
    if body_text.chars().count() > 1600 {
        return refusal(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if content_sid.is_none() && state.closed_windows.contains(&to) {
        return refusal(
            StatusCode::BAD_REQUEST,
            63016,
            &format!(
                "Failed to send freeform message to {to} because you are outside the allowed window."
            ),
        );
    }
    state.next_sid += 1;
    let sid = format!("SM{:032x}", state.next_sid);
    state.sent.push(Sent {
        sid: sid.clone(),
        to: to.clone(),
        from: from.clone(),
        body: body_text.clone(),
        content_sid,
    });
    let resource = json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": body_text,
        "direction": "outbound-api",
        "from": from,
        "num_segments": "1",
        "sid": sid,
        "status": "queued",
        "to": to,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
    });
    (StatusCode::CREATED, [("content-type", "application/json")], resource.to_string())
        .into_response()
}

// The Queue and Recording resources.

/// Whether `given` is `Basic` with the API key the test accepts.
fn is_api_key(state: &Mutex<FakeState>, given: Option<&str>) -> bool {
    let key = state.lock().unwrap().rest.api_key.clone();
    key.is_some_and(|(sid, secret)| {
        let expected = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{secret}"));
        given == Some(&format!("Basic {expected}"))
    })
}

/// A queue as Twilio writes it.
fn queue_json(queue: &FakeQueue) -> serde_json::Value {
    json!({
        "account_sid": ACCOUNT_SID,
        "average_wait_time": 0,
        "current_size": queue.size,
        "date_created": queue.created.to_rfc2822(),
        "date_updated": queue.created.to_rfc2822(),
        "friendly_name": queue.name,
        "max_size": 1000,
        "sid": queue.sid,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Queues/{}.json", queue.sid),
    })
}

fn json_answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn not_found() -> Response {
    refusal(StatusCode::NOT_FOUND, 20404, "The requested resource was not found")
}

/// `Queues.json`, `Queues/{sid}.json`, `Recordings/{sid}.mp3`, `Recordings/{sid}.json`.
async fn queues_and_recordings(
    state: &Mutex<FakeState>,
    method: &Method,
    resource: &str,
    query: &str,
) -> Response {
    let delay = {
        let mut state = state.lock().unwrap();
        let logged =
            if query.is_empty() { resource.to_owned() } else { format!("{resource}?{query}") };
        state.rest.requests.push((method.to_string(), logged));
        state.rest.delay
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut state = state.lock().unwrap();
    let rest = &mut state.rest;
    if rest.failing > 0 {
        rest.failing -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "<html>Service Unavailable</html>")
            .into_response();
    }
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if (method, resource) == (&Method::GET, "Queues.json") {
        let asked = params.get("PageSize").and_then(|n| n.parse::<usize>().ok()).unwrap_or(50);
        let cap = if rest.max_page_size == 0 { 1000 } else { rest.max_page_size };
        let size = asked.clamp(1, cap);
        let page = params.get("Page").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
        let queues: Vec<_> =
            rest.queues.iter().skip(page * size).take(size).map(queue_json).collect();
        let more = rest.queues.len() > (page + 1) * size;
        let list = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Queues.json");
        let next =
            more.then(|| format!("{list}?PageSize={size}&Page={}&PageToken=PAQU{page}", page + 1));
        return json_answer(
            StatusCode::OK,
            json!({
                "queues": queues,
                "next_page_uri": next,
                "first_page_uri": format!("{list}?PageSize={size}&Page=0"),
                "previous_page_uri": null,
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + queues.len(),
                "uri": format!("{list}?PageSize={size}&Page={page}"),
            }),
        );
    }
    if let Some(sid) = resource.strip_prefix("Queues/").and_then(|r| r.strip_suffix(".json")) {
        let Some(at) = rest.queues.iter().position(|q| q.sid == sid) else { return not_found() };
        return match *method {
            Method::GET => json_answer(StatusCode::OK, queue_json(&rest.queues[at])),
            Method::DELETE if rest.queues[at].size > 0 => refusal(
                StatusCode::BAD_REQUEST,
                20001,
                "Queue cannot be deleted while it has members",
            ),
            Method::DELETE => {
                rest.queues.remove(at);
                StatusCode::NO_CONTENT.into_response()
            }
            _ => not_found(),
        };
    }
    if let Some(sid) = resource.strip_prefix("Recordings/").and_then(|r| r.strip_suffix(".mp3")) {
        return match (method, rest.recordings.get(sid)) {
            (&Method::GET, Some(audio)) => {
                (StatusCode::OK, [("content-type", "audio/mpeg")], audio.clone()).into_response()
            }
            _ => not_found(),
        };
    }
    if let Some(sid) = resource.strip_prefix("Recordings/").and_then(|r| r.strip_suffix(".json")) {
        if method == Method::DELETE && rest.recordings.remove(sid).is_some() {
            return StatusCode::NO_CONTENT.into_response();
        }
        return not_found();
    }
    not_found()
}
