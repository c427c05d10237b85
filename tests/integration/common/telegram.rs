//! A fake Telegram Bot API on loopback, faithful to the real one where the hotline can tell:
//! `/bot{token}/{method}` (methods case-insensitive, as Telegram's are), `{"ok":true,
//! "result":…}` answers with real `Message` objects whose ids count up per chat (shared by the
//! person's and the bot's messages, as in a real chat), and Telegram's own refusals: `401
//! Unauthorized` for another token, `404 Not Found` for an unknown method, `400` for an empty
//! or too long text, bad button data, a chat it does not know, a message that is not there or
//! not modified, a stale button press, a webhook it would not deliver to; `403` from a person
//! who blocked the bot.
//!
//! It records what it accepted ([`FakeBotApi::sent`], [`FakeBotApi::edits`], …) and can be
//! told to fail a method's next requests ([`FakeBotApi::fail_next`]). It also writes the
//! updates Telegram would post to the hotline ([`FakeBotApi::update_text`], …), with the
//! sender's names and username in them as Telegram sends them, so a test can prove none of it
//! is kept.
//!
//! What the hotline never uses it does not imitate: another kind of keyboard is refused in
//! words that say so rather than accepted wrongly, and other parameters (parse modes, link
//! previews…) are ignored, as are the methods' other uses (media, inline mode).
//!
//! It runs on a thread of its own, so sync tests (the `hotline` binary, the blocking client)
//! and async tests use it alike; dropping it stops it, hung requests included.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::loopback::Loopback;

/// The token the fake answers to: a token of @BotFather's shape.
pub const BOT_TOKEN: &str = "7012345678:AAF-fakeTokenForTheHotlineTests_0123456";
/// The bot's own user id.
const BOT_ID: i64 = 7_012_345_678;
/// What Telegram tells of the person writing, which the hotline must never keep or log.
pub const PERSON_FIRST_NAME: &str = "Zoryana-Fakefirst";
/// The person's last name.
pub const PERSON_LAST_NAME: &str = "Fakelastname-Qx";
/// The person's username.
pub const PERSON_USERNAME: &str = "zoryana_fake_username";
/// Telegram's limit on a message's text, in UTF-16 code units (how Telegram counts).
const MAX_TEXT_UNITS: usize = 4096;

/// A fault to answer a method's next requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Flood control: `429` with `parameters.retry_after` of this many seconds.
    RetryAfter(u64),
    /// This HTTP status, with Telegram's JSON error body.
    Status(u16),
    /// No answer at all, ever: the client's timeout is what ends it.
    Hang,
}

/// A message the bot sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The chat.
    pub chat_id: i64,
    /// The id Telegram gave the message.
    pub message_id: i64,
    /// Its text.
    pub text: String,
    /// Its buttons, as rows of (text, callback data).
    pub buttons: Vec<Vec<(String, String)>>,
}

/// An edit of one of the bot's messages: the new text and buttons.
pub type Edit = Sent;

/// The webhook as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Where updates go.
    pub url: String,
    /// The secret token sent with each update.
    pub secret_token: Option<String>,
    /// The updates asked for.
    pub allowed_updates: Option<Vec<String>>,
    /// `max_connections`, if given.
    pub max_connections: Option<u64>,
    /// Whether pending updates were to be dropped.
    pub drop_pending_updates: bool,
}

/// A message in a chat, the person's or the bot's.
#[derive(Debug, Clone)]
struct Stored {
    text: String,
    markup: Option<Value>,
    from_bot: bool,
}

#[derive(Default)]
struct Chat {
    /// The last message id used in the chat.
    last_id: i64,
    messages: HashMap<i64, Stored>,
    /// The person blocked the bot.
    blocked: bool,
}

#[derive(Default)]
struct FakeState {
    chats: HashMap<i64, Chat>,
    sent: Vec<Sent>,
    edits: Vec<Edit>,
    callback_answers: Vec<String>,
    deletions: Vec<(i64, i64)>,
    webhook: Option<Webhook>,
    /// Button presses Telegram is waiting for an answer to.
    open_queries: HashSet<String>,
    next_query: u64,
    faults: HashMap<String, Vec<Fault>>,
    calls: HashMap<String, usize>,
    pending_updates: u64,
    last_error: Option<(i64, String)>,
    /// Accept `http://` loopback webhooks (Telegram refuses them), for a test server.
    loopback_webhooks: bool,
}

/// A running fake Bot API.
pub struct FakeBotApi {
    /// `http://127.0.0.1:PORT`: the `api_base` to give the hotline.
    pub base: String,
    state: Arc<Mutex<FakeState>>,
    /// The router served; stops when dropped.
    _server: Loopback,
}

impl FakeBotApi {
    /// Starts a fake answering to [`BOT_TOKEN`] on a port of its own.
    pub fn start() -> FakeBotApi {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let shared = Arc::clone(&state);
        let server = Loopback::serve(Router::new().fallback(answer).with_state(shared));
        FakeBotApi { base: server.base.clone(), state, _server: server }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Every message the bot sent, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.with(|s| s.sent.clone())
    }

    /// Every edit accepted, in order.
    pub fn edits(&self) -> Vec<Edit> {
        self.with(|s| s.edits.clone())
    }

    /// The button presses answered, by callback query id, in order.
    pub fn callback_answers(&self) -> Vec<String> {
        self.with(|s| s.callback_answers.clone())
    }

    /// The messages deleted, as (chat, message), in order.
    pub fn deletions(&self) -> Vec<(i64, i64)> {
        self.with(|s| s.deletions.clone())
    }

    /// The webhook registered, if any.
    pub fn webhook(&self) -> Option<Webhook> {
        self.with(|s| s.webhook.clone())
    }

    /// Requests made to `method` (any case), answered or not.
    pub fn calls(&self, method: &str) -> usize {
        self.with(|s| s.calls.get(&method.to_ascii_lowercase()).copied().unwrap_or(0))
    }

    /// Answers the next `n` requests to `method` with `fault` (after any faults already
    /// queued for it).
    pub fn fail_next(&self, method: &str, n: usize, fault: Fault) {
        self.with(|s| {
            s.faults.entry(method.to_ascii_lowercase()).or_default().extend(vec![fault; n])
        });
    }

    /// The person in `chat_id` blocks the bot: sending there is refused with `403`.
    pub fn block(&self, chat_id: i64) {
        self.with(|s| s.chats.entry(chat_id).or_default().blocked = true);
    }

    /// What getWebhookInfo reports of deliveries: updates waiting, and the last error.
    pub fn set_delivery(&self, pending: u64, last_error: Option<&str>) {
        self.with(|s| {
            s.pending_updates = pending;
            s.last_error = last_error.map(|e| (now(), e.to_owned()));
        });
    }

    /// Accept `http://` webhooks to this machine, which Telegram refuses: lets a test register
    /// a test server.
    pub fn accept_loopback_webhooks(&self) {
        self.with(|s| s.loopback_webhooks = true);
    }

    /// The text the chat's message `message_id` has now, if it is there.
    pub fn message_text(&self, chat_id: i64, message_id: i64) -> Option<String> {
        self.with(|s| Some(s.chats.get(&chat_id)?.messages.get(&message_id)?.text.clone()))
    }

    /// The update Telegram posts when the person in private chat `chat_id` writes `text`.
    pub fn update_text(&self, update_id: i64, chat_id: i64, text: &str) -> String {
        let message_id = self.incoming(chat_id, text);
        json!({
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "from": person(chat_id),
                "chat": private_chat(chat_id),
                "date": now(),
                "text": text,
            }
        })
        .to_string()
    }

    /// The update Telegram posts when the person presses a button carrying `data` under the
    /// bot's message `message_id`. Its callback query id is then waiting for an answer.
    pub fn update_button(
        &self,
        update_id: i64,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> String {
        let (query, message) = self.with(|s| {
            s.next_query += 1;
            let query = format!("{}{:08}", BOT_ID, s.next_query);
            s.open_queries.insert(query.clone());
            let stored = s.chats.get(&chat_id).and_then(|chat| chat.messages.get(&message_id));
            let mut message = json!({
                "message_id": message_id,
                "from": bot(),
                "chat": private_chat(chat_id),
                "date": now(),
                "text": stored.map_or("", |m| m.text.as_str()),
            });
            if let Some(markup) = stored.and_then(|m| m.markup.clone()) {
                message["reply_markup"] = markup;
            }
            (query, message)
        });
        json!({
            "update_id": update_id,
            "callback_query": {
                "id": query,
                "from": person(chat_id),
                "message": message,
                "chat_instance": "-4915362398453175238",
                "data": data,
            }
        })
        .to_string()
    }

    /// The update Telegram posts when the person sends a photo (with a caption).
    pub fn update_photo(&self, update_id: i64, chat_id: i64) -> String {
        let message_id = self.incoming(chat_id, "");
        json!({
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "from": person(chat_id),
                "chat": private_chat(chat_id),
                "date": now(),
                "photo": [
                    {"file_id": "AgACAgIAAxkBAAIBZ2V-small", "file_unique_id": "AQADsmall",
                     "file_size": 1101, "width": 90, "height": 67},
                    {"file_id": "AgACAgIAAxkBAAIBZ2V-large", "file_unique_id": "AQADlarge",
                     "file_size": 48712, "width": 800, "height": 600},
                ],
                "caption": "see this",
            }
        })
        .to_string()
    }

    /// The update Telegram posts when someone writes `text` in group `chat_id` (negative,
    /// as group ids are) where the bot is a member.
    pub fn update_group_text(&self, update_id: i64, chat_id: i64, text: &str) -> String {
        let message_id = self.incoming(chat_id, text);
        json!({
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "from": person(4_242_424_242),
                "chat": {"id": chat_id, "title": "A group", "type": "group"},
                "date": now(),
                "text": text,
            }
        })
        .to_string()
    }

    /// A message from the person: the chat is now one Telegram knows the bot is in.
    fn incoming(&self, chat_id: i64, text: &str) -> i64 {
        self.with(|s| {
            let chat = s.chats.entry(chat_id).or_default();
            chat.last_id += 1;
            let stored = Stored { text: text.to_owned(), markup: None, from_bot: false };
            chat.messages.insert(chat.last_id, stored);
            chat.last_id
        })
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The person of a private chat, as Telegram describes them.
fn person(id: i64) -> Value {
    json!({
        "id": id,
        "is_bot": false,
        "first_name": PERSON_FIRST_NAME,
        "last_name": PERSON_LAST_NAME,
        "username": PERSON_USERNAME,
        "language_code": "uk",
    })
}

fn private_chat(id: i64) -> Value {
    json!({
        "id": id,
        "first_name": PERSON_FIRST_NAME,
        "last_name": PERSON_LAST_NAME,
        "username": PERSON_USERNAME,
        "type": "private",
    })
}

fn bot() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Hotline", "username": "hotline_fake_bot"})
}

/// Telegram's answer: `{"ok":true,"result":…}`.
fn ok(result: Value) -> Response {
    (StatusCode::OK, axum::Json(json!({"ok": true, "result": result}))).into_response()
}

/// Telegram's refusal, with the HTTP status it uses (the error code).
fn refuse(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"ok": false, "error_code": code, "description": description});
    (status, axum::Json(body)).into_response()
}

/// The parameters of a request, which Telegram takes from the query string, a JSON body or
/// a form.
fn parameters(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Map<String, Value> {
    let mut params = Map::new();
    let form = |text: &[u8], params: &mut Map<String, Value>| {
        for (name, value) in form_urlencoded::parse(text) {
            params.insert(name.into_owned(), Value::String(value.into_owned()));
        }
    };
    if let Some(query) = uri.query() {
        form(query.as_bytes(), &mut params);
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(json)) = serde_json::from_slice(body) {
            params.extend(json);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        form(body, &mut params);
    }
    params
}

/// An integer parameter, given as a number or as its text (as a form gives it).
fn integer(params: &Map<String, Value>, name: &str) -> Option<i64> {
    match params.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn string<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name)?.as_str()
}

/// A parameter that is JSON, given as an object or serialized in a string.
fn json_param(params: &Map<String, Value>, name: &str) -> Option<Value> {
    match params.get(name)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

/// Checks a message text as Telegram does: not empty once trimmed, at most 4096 UTF-16 units.
/// A refusal not yet written out: Telegram's error code and description.
type Refusal = (u16, &'static str);

fn check_text(params: &Map<String, Value>) -> Result<String, Refusal> {
    let text = string(params, "text").unwrap_or_default().trim();
    if text.is_empty() {
        return Err((400, "Bad Request: message text is empty"));
    }
    if text.encode_utf16().count() > MAX_TEXT_UNITS {
        return Err((400, "Bad Request: message is too long"));
    }
    Ok(text.to_owned())
}

/// Checks an inline keyboard as Telegram does; the markup and its buttons as (text, data).
#[allow(clippy::type_complexity)]
fn check_markup(
    params: &Map<String, Value>,
) -> Result<(Option<Value>, Vec<Vec<(String, String)>>), Refusal> {
    let Some(markup) = json_param(params, "reply_markup") else { return Ok((None, Vec::new())) };
    let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) else {
        return Err((
            400,
            "Bad Request: the fake Bot API takes inline keyboards only (the hotline sends no other)",
        ));
    };
    let mut buttons = Vec::new();
    for row in rows {
        let Some(row) = row.as_array() else {
            return Err((
                400,
                "Bad Request: can't parse inline keyboard button: Field \"inline_keyboard\" must be of type Array",
            ));
        };
        let mut kept = Vec::new();
        for button in row {
            let Some(text) = button.get("text").and_then(Value::as_str) else {
                return Err((
                    400,
                    "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                ));
            };
            let Some(data) = button.get("callback_data").and_then(Value::as_str) else {
                return Err((
                    400,
                    "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                ));
            };
            if data.is_empty() || data.len() > 64 {
                return Err((400, "Bad Request: BUTTON_DATA_INVALID"));
            }
            kept.push((text.to_owned(), data.to_owned()));
        }
        buttons.push(kept);
    }
    let markup = (!rows.is_empty()).then_some(markup);
    Ok((markup, buttons))
}

/// Every request: the token, a fault if one is queued, then the method.
async fn answer(
    State(state): State<Arc<Mutex<FakeState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((token, method)) =
        uri.path().strip_prefix("/bot").and_then(|rest| rest.split_once('/'))
    else {
        return refuse(404, "Not Found");
    };
    if token != BOT_TOKEN {
        return refuse(401, "Unauthorized");
    }
    let method = method.to_ascii_lowercase();
    let fault = {
        let mut state = state.lock().unwrap();
        *state.calls.entry(method.clone()).or_default() += 1;
        let queued = state.faults.get_mut(&method);
        queued.and_then(|q| (!q.is_empty()).then(|| q.remove(0)))
    };
    match fault {
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::RetryAfter(secs)) => {
            let body = json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": {"retry_after": secs},
            });
            return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        }
        Some(Fault::Status(code)) => {
            let reason = StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            return refuse(code, reason);
        }
        None => {}
    }
    let params = parameters(&uri, &headers, &body);
    let mut state = state.lock().unwrap();
    match method.as_str() {
        "sendmessage" => send_message(&mut state, &params),
        "editmessagetext" => edit_message_text(&mut state, &params),
        "answercallbackquery" => {
            let id = string(&params, "callback_query_id").unwrap_or_default().to_owned();
            if !state.open_queries.remove(&id) {
                return refuse(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID is invalid",
                );
            }
            state.callback_answers.push(id);
            ok(json!(true))
        }
        "deletemessage" => {
            let chat_id = integer(&params, "chat_id");
            let message_id = integer(&params, "message_id");
            let (Some(chat_id), Some(message_id)) = (chat_id, message_id) else {
                return refuse(400, "Bad Request: message identifier is not specified");
            };
            let Some(chat) = state.chats.get_mut(&chat_id) else {
                return refuse(400, "Bad Request: chat not found");
            };
            if chat.messages.remove(&message_id).is_none() {
                return refuse(400, "Bad Request: message to delete not found");
            }
            state.deletions.push((chat_id, message_id));
            ok(json!(true))
        }
        "setwebhook" => set_webhook(&mut state, &params),
        "getwebhookinfo" => {
            let Some(webhook) = &state.webhook else {
                return ok(
                    json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}),
                );
            };
            let mut info = json!({
                "url": webhook.url,
                "has_custom_certificate": false,
                "pending_update_count": state.pending_updates,
                "ip_address": "203.0.113.7",
                "max_connections": webhook.max_connections.unwrap_or(40),
            });
            if let Some(allowed) = &webhook.allowed_updates {
                info["allowed_updates"] = json!(allowed);
            }
            if let Some((date, message)) = &state.last_error {
                info["last_error_date"] = json!(date);
                info["last_error_message"] = json!(message);
            }
            ok(info)
        }
        _ => refuse(404, "Not Found"),
    }
}

fn send_message(state: &mut FakeState, params: &Map<String, Value>) -> Response {
    let Some(chat_id) = integer(params, "chat_id") else {
        return refuse(400, "Bad Request: chat not found");
    };
    let text = match check_text(params) {
        Ok(text) => text,
        Err((code, description)) => return refuse(code, description),
    };
    let (markup, buttons) = match check_markup(params) {
        Ok(markup) => markup,
        Err((code, description)) => return refuse(code, description),
    };
    let Some(chat) = state.chats.get_mut(&chat_id) else {
        return refuse(400, "Bad Request: chat not found");
    };
    if chat.blocked {
        return refuse(403, "Forbidden: bot was blocked by the user");
    }
    chat.last_id += 1;
    let message_id = chat.last_id;
    let stored = Stored { text: text.clone(), markup: markup.clone(), from_bot: true };
    chat.messages.insert(message_id, stored);
    state.sent.push(Sent { chat_id, message_id, text: text.clone(), buttons });
    ok(message_json(chat_id, message_id, &text, markup))
}

fn edit_message_text(state: &mut FakeState, params: &Map<String, Value>) -> Response {
    let (Some(chat_id), Some(message_id)) =
        (integer(params, "chat_id"), integer(params, "message_id"))
    else {
        return refuse(400, "Bad Request: message identifier is not specified");
    };
    let text = match check_text(params) {
        Ok(text) => text,
        Err((code, description)) => return refuse(code, description),
    };
    let (markup, buttons) = match check_markup(params) {
        Ok(markup) => markup,
        Err((code, description)) => return refuse(code, description),
    };
    let Some(chat) = state.chats.get_mut(&chat_id) else {
        return refuse(400, "Bad Request: chat not found");
    };
    if chat.blocked {
        return refuse(403, "Forbidden: bot was blocked by the user");
    }
    let Some(message) = chat.messages.get_mut(&message_id) else {
        return refuse(400, "Bad Request: message to edit not found");
    };
    if !message.from_bot {
        return refuse(400, "Bad Request: message can't be edited");
    }
    if message.text == text && message.markup == markup {
        return refuse(
            400,
            "Bad Request: message is not modified: specified new message content and reply \
             markup are exactly the same as a current content and reply markup of the message",
        );
    }
    *message = Stored { text: text.clone(), markup: markup.clone(), from_bot: true };
    state.edits.push(Edit { chat_id, message_id, text: text.clone(), buttons });
    ok(message_json(chat_id, message_id, &text, markup))
}

fn set_webhook(state: &mut FakeState, params: &Map<String, Value>) -> Response {
    let url = string(params, "url").unwrap_or_default().to_owned();
    if url.is_empty() {
        state.webhook = None;
        return ok_described("Webhook was deleted");
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse::<u16>().ok()),
        _ => (authority, None),
    };
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let accepted_http = scheme == "http" && loopback && state.loopback_webhooks;
    if scheme != "https" && !accepted_http {
        return refuse(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook");
    }
    if !accepted_http && port.is_some_and(|p| ![443, 80, 88, 8443].contains(&p)) {
        return refuse(
            400,
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        );
    }
    let secret_token = string(params, "secret_token").map(str::to_owned);
    if let Some(secret) = &secret_token {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if secret.is_empty() || secret.len() > 256 || !secret.bytes().all(allowed) {
            return refuse(400, "Bad Request: secret token contains unallowed characters");
        }
    }
    let allowed_updates = json_param(params, "allowed_updates").and_then(|v| {
        v.as_array().map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect())
    });
    let max_connections = integer(params, "max_connections").map(|n| n.clamp(1, 100) as u64);
    let drop_pending_updates = match params.get("drop_pending_updates") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    state.webhook =
        Some(Webhook { url, secret_token, allowed_updates, max_connections, drop_pending_updates });
    if drop_pending_updates {
        state.pending_updates = 0;
    }
    ok_described("Webhook was set")
}

/// `{"ok":true,"result":true,"description":…}`, as setWebhook answers.
fn ok_described(description: &str) -> Response {
    let body = json!({"ok": true, "result": true, "description": description});
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// A `Message` sent by the bot, as Telegram returns it.
fn message_json(chat_id: i64, message_id: i64, text: &str, markup: Option<Value>) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "from": bot(),
        "chat": private_chat(chat_id),
        "date": now(),
        "text": text,
    });
    if let Some(markup) = markup {
        message["reply_markup"] = markup;
    }
    message
}
