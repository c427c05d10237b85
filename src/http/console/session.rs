//! Logging in and out, the session cookie, and the CSRF token of every form.
//!
//! - A login checks the name and Argon2 password, then stores a session under the SHA-256 of
//!   a random token the cookie `hotline_session` carries (`HttpOnly`, `SameSite=Strict`,
//!   `Secure` over TLS). A session ends after `console.idle_timeout_mins` without a request,
//!   `console.session_hours` after login, at logout, or when its person is disabled.
//! - Every form carries the session's CSRF token (a synchronizer token held in the session
//!   row); [`CsrfForm`] refuses a body without it. The login form, before any session, is
//!   protected by a double-submit cookie whose form field is bound to it ([`LoginKey`]): an
//!   HMAC of the cookie under a key the server draws at start, so a pair made up elsewhere
//!   does not pass.
//! - Logins are counted per name and per address (an IPv6 client by its /64) before the
//!   password is checked ([`LoginLimiter::reserve`]), and given back when it was right: a
//!   burst cannot all pass the limit before the first has failed. Past the limit the login
//!   is refused with `429` before the password is even checked.
//! - The password is checked by [`crate::app::App::check_password`], a few at once;
//!   when they are all taken the login is answered `429` with `Retry-After` at once, and
//!   the attempt is not counted.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::ConsoleState;
use super::page::{Page, PageError, ROLE_FORBIDDEN, see_other};
use super::text::Text;
use crate::app::sessions::StartedSession;
use crate::app::{Actor, AppError};
use crate::domain::line_time::LineZone;
use crate::domain::people::{Person, check_name, token_hash};

/// The cookie of a logged-in browser.
const SESSION_COOKIE: &str = "hotline_session";
/// The cookie of the login form's double-submit token.
const LOGIN_COOKIE: &str = "hotline_login";
/// How long failed logins count against a name or an address.
pub(super) const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The largest form the console accepts: a script being edited is at most 1 MiB, and its
/// URL encoding can triple it.
pub const MAX_FORM_BYTES: usize = 4 << 20;
/// What a login refused because every password check is taken tells the browser: checks
/// take a few tens of milliseconds, so a second is plenty.
const BUSY_RETRY_AFTER_SECS: &str = "1";

/// The routes of logging in and out, and of choosing the console's language.
pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/language", post(choose_language))
}

/// The person looking at a console page, from their session cookie. A handler that takes
/// a `Viewer` runs only for a live session of an enabled person; any other request is sent
/// to the login page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Who they are.
    pub person: Person,
    /// Their session's CSRF token.
    pub csrf: String,
    /// Their console's language.
    pub text: &'static Text,
    /// The line's time zone, every time on their pages is shown in.
    pub zone: LineZone,
    /// The SHA-256 of their session token, to check the session is still live (live regions).
    pub session: String,
}

impl Viewer {
    /// A `403` page for anyone but a supervisor.
    pub fn require_supervisor(&self) -> Result<(), PageError> {
        if self.person.is_supervisor() { Ok(()) } else { Err(PageError::Forbidden(ROLE_FORBIDDEN)) }
    }

    /// The viewer as the use cases see them.
    pub fn actor(&self) -> Actor {
        Actor::Person(self.person.clone())
    }

    /// The frame of a page at `path` for this viewer.
    pub fn page(&self, path: &str) -> Page {
        Page::new(self.person.clone(), self.csrf.clone(), self.text, self.zone, path)
    }

    /// The interface text for `key` in the viewer's language.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        self.text.get(key)
    }
}

impl FromRequestParts<Arc<ConsoleState>> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ConsoleState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(viewer) = parts.extensions.get::<Viewer>() {
            return Ok(viewer.clone());
        }
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(PageError::LoginNeeded)?;
        if !is_token_shaped(token) {
            return Err(PageError::LoginNeeded);
        }
        let hash = token_hash(token);
        let viewer = live_session(state, &hash).await?.ok_or(PageError::LoginNeeded)?;
        parts.extensions.insert(viewer.clone());
        Ok(viewer)
    }
}

/// The viewer of a session if it is still live; an expired one is removed.
pub(super) async fn live_session(
    state: &ConsoleState,
    hash: &str,
) -> Result<Option<Viewer>, PageError> {
    let Some(session) = state.app.live_session(hash, state.session_limits()).await? else {
        return Ok(None);
    };
    Ok(Some(Viewer {
        text: Text::of(session.language.as_deref()),
        zone: state.app.config().console.time_zone,
        person: session.person,
        csrf: session.csrf,
        session: hash.to_owned(),
    }))
}

/// A form posted from a console page, accepted only with its session's CSRF token (field
/// `csrf`); the rest of the body is deserialised into `T` (unknown fields, like `csrf`, are
/// ignored unless `T` refuses them). A missing or wrong token is a `403` page and nothing
/// is changed. Take a [`Viewer`] before it to know who posted.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<ConsoleState>> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(
        request: Request,
        state: &Arc<ConsoleState>,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let body = Bytes::from_request(request, state).await.map_err(|_| {
            PageError::BadRequest(format!("the form is too large: at most {MAX_FORM_BYTES} bytes"))
        })?;
        let csrf = form_urlencoded::parse(&body)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.into_owned());
        if !csrf.is_some_and(|token| same(&token, &viewer.csrf)) {
            tracing::warn!(
                target: "hotline::security",
                user = viewer.person.id,
                "refused a console form without its session's CSRF token"
            );
            return Err(PageError::Forbidden(CSRF_FORBIDDEN));
        }
        serde_urlencoded::from_bytes(&body)
            .map(CsrfForm)
            .map_err(|error| PageError::BadRequest(format!("the form is not valid: {error}")))
    }
}

/// The message of a form refused for its CSRF token.
const CSRF_FORBIDDEN: &str = "this form is not from this session (it may be old, or from another site): reload the page \
     and try again";

/// Failed logins per name and per address in a window; bounded in size, forgetting the
/// oldest windows first when full (which can only let a login through, never refuse one).
#[derive(Debug)]
pub struct LoginLimiter {
    allowed: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Most names and addresses tracked at once.
const MAX_TRACKED: usize = 10_000;

impl LoginLimiter {
    /// `allowed` failures per key in each `window`.
    pub fn new(allowed: u32, window: Duration) -> LoginLimiter {
        LoginLimiter { allowed: allowed.max(1), window, failures: Mutex::default() }
    }

    /// Counts an attempt against each of `keys` before its password is checked, unless one
    /// of them has used up its failures: then `false`, and nothing is counted. Counting
    /// first means a burst of attempts cannot all pass before the first of them has failed;
    /// an attempt that succeeds, or could not be checked, is given back ([`Self::release`]).
    pub fn reserve(&self, keys: &[String]) -> bool {
        let now = Instant::now();
        let mut failures = self.lock();
        let limited = keys.iter().any(|key| {
            failures.get(key).is_some_and(|&(count, since)| {
                now.duration_since(since) < self.window && count >= self.allowed
            })
        });
        if limited {
            return false;
        }
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        for key in keys {
            if failures.len() >= MAX_TRACKED && !failures.contains_key(key) {
                continue;
            }
            let entry = failures.entry(key.clone()).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 = entry.0.saturating_add(1);
        }
        true
    }

    /// Gives back an attempt [`Self::reserve`] counted: it was right, or was not checked.
    pub fn release(&self, keys: &[String]) {
        let mut failures = self.lock();
        for key in keys {
            if let Some(entry) = failures.get_mut(key) {
                entry.0 = entry.0.saturating_sub(1);
                if entry.0 == 0 {
                    failures.remove(key);
                }
            }
        }
    }

    /// Forgets the failures of `key` (a successful login of that name).
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|poisoned| {
            self.failures.clear_poison();
            poisoned.into_inner()
        })
    }
}

/// The key that binds the login form's token to its cookie: the cookie carries a random
/// token, the form field its HMAC-SHA256 under this key. A pair not made by this server
/// (an equal cookie and field planted by another site, say) does not pass. Drawn at each
/// start: a form shown before a restart is refused once, with a fresh one.
pub struct LoginKey([u8; 32]);

impl LoginKey {
    /// A key from the system's randomness.
    pub fn random() -> Result<LoginKey, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(LoginKey(key))
    }

    /// The form field that goes with the cookie `token`.
    fn field(&self, token: &str) -> String {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(b"hotline console login form\0");
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `field` was made by [`Self::field`] for the cookie `token`.
    fn binds(&self, token: &str, field: &str) -> bool {
        is_token_shaped(token) && is_token_shaped(field) && same(field, &self.field(token))
    }

    /// A fresh pair: the cookie's token and the form's field.
    fn pair(&self) -> Result<(String, String), PageError> {
        let token = random_hex()?;
        let field = self.field(&token);
        Ok((token, field))
    }
}

impl std::fmt::Debug for LoginKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginKey(…)")
    }
}

/// The login page.
#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    text: &'static Text,
    csrf: &'a str,
    name: &'a str,
    error: Option<&'a str>,
}

impl LoginPage<'_> {
    fn t<'a>(&self, key: &'a str) -> &'a str {
        self.text.get(key)
    }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    lang: Option<String>,
}

/// `GET /console/login`: the form, with a fresh double-submit token in a cookie and a field.
async fn login_form(
    State(state): State<Arc<ConsoleState>>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let text = Text::of(query.lang.as_deref());
    let (token, field) = state.login_key.pair()?;
    let page = LoginPage { text, csrf: &field, name: "", error: None };
    let html = page.render().map_err(|e| PageError::Internal(Box::new(e)))?;
    let cookie = set_cookie(&state, LOGIN_COOKIE, &token, 3600)?;
    Ok(([(SET_COOKIE, cookie)], Html(html)).into_response())
}

#[derive(Debug, Deserialize)]
struct Credentials {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: Option<String>,
}

/// `POST /console/login`.
async fn login(
    State(state): State<Arc<ConsoleState>>,
    request: Request,
) -> Result<Response, PageError> {
    let (parts, body) = request.into_parts();
    let connect = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
    let headers = parts.headers;
    let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::BadRequest("the form is too large".into()))?;
    let form: Credentials = serde_urlencoded::from_bytes(&body)
        .map_err(|error| PageError::BadRequest(format!("the form is not valid: {error}")))?;
    let text = Text::of(form.lang.as_deref());
    let again =
        |status: StatusCode, key: &'static str, name: &str| -> Result<Response, PageError> {
            let (token, field) = state.login_key.pair()?;
            let shown = if check_name(name).is_ok() { name } else { "" };
            let page = LoginPage { text, csrf: &field, name: shown, error: Some(text.get(key)) };
            let html = page.render().map_err(|e| PageError::Internal(Box::new(e)))?;
            let cookie = set_cookie(&state, LOGIN_COOKIE, &token, 3600)?;
            Ok((status, [(SET_COOKIE, cookie)], Html(html)).into_response())
        };
    let expected = cookie(&headers, LOGIN_COOKIE);
    if !expected.is_some_and(|token| state.login_key.binds(token, &form.csrf)) {
        return again(StatusCode::FORBIDDEN, "login.stale", &form.name);
    }
    let address = connect.map(|ConnectInfo(peer)| peer.ip());
    let counted = address.and_then(|peer| state.offenders.counted_as(peer, &headers));
    let keys = limiter_keys(&form.name, counted);
    if !state.logins.reserve(&keys) {
        crate::http::limits::count_refusal();
        tracing::warn!(target: "hotline::security", "refused a console login: too many failures");
        return again(StatusCode::TOO_MANY_REQUESTS, "login.limited", &form.name);
    }
    let person = match state.app.check_password(&form.name, form.password.clone()).await {
        Ok(person) => person,
        Err(AppError::Busy) => {
            state.logins.release(&keys);
            crate::http::limits::count_refusal();
            tracing::warn!(
                target: "hotline::security",
                "refused a console login: every check busy"
            );
            let mut busy = again(StatusCode::TOO_MANY_REQUESTS, "login.busy", &form.name)?;
            let retry = HeaderValue::from_static(BUSY_RETRY_AFTER_SECS);
            busy.headers_mut().insert(RETRY_AFTER, retry);
            return Ok(busy);
        }
        Err(error) => {
            // Nothing was checked: the attempt does not count.
            state.logins.release(&keys);
            return Err(error.into());
        }
    };
    let Some(person) = person else {
        // The reserved attempt stays counted: it failed.
        tracing::warn!(target: "hotline::security", "a console login failed");
        return again(StatusCode::UNAUTHORIZED, "login.failed", &form.name);
    };
    state.logins.release(&keys);
    state.logins.succeeded(&keys[0]);
    let detail = connect.map_or(String::new(), |ConnectInfo(peer)| {
        format!("from={}", state.offenders.client_address(peer.ip(), &headers))
    });
    let StartedSession { token } =
        state.app.start_session(&person, detail, state.session_limits()).await?;
    let max_age = state.session_lifetime.as_secs();
    let session = set_cookie(&state, SESSION_COOKIE, &token, max_age)?;
    let spent = set_cookie(&state, LOGIN_COOKIE, "", 0)?;
    let mut response = see_other("/console");
    response.headers_mut().append(SET_COOKIE, session);
    response.headers_mut().append(SET_COOKIE, spent);
    Ok(response)
}

/// The keys a login counts against: its name, and the address it is counted as
/// ([`crate::http::limits::Offenders::counted_as`]: none for the machine itself, an IPv6 client's
/// /64).
fn limiter_keys(name: &str, address: Option<IpAddr>) -> Vec<String> {
    let mut keys = vec![format!("name:{}", name.chars().take(64).collect::<String>())];
    if let Some(address) = address {
        keys.push(format!("address:{address}"));
    }
    keys
}

/// `POST /console/logout`: ends the session and its cookie.
async fn logout(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    state.app.end_session(&viewer.actor(), &viewer.session).await?;
    let mut response = see_other("/console/login");
    response.headers_mut().append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", 0)?);
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct LanguageChoice {
    language: String,
}

/// `POST /console/language`: the viewer's console language.
async fn choose_language(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    CsrfForm(choice): CsrfForm<LanguageChoice>,
) -> Result<Response, PageError> {
    if !Text::is_known(&choice.language) {
        let known: Vec<_> = Text::all().iter().map(|t| t.code).collect();
        return Err(PageError::BadRequest(format!(
            "the console speaks {}; choose one of them",
            known.join(", ")
        )));
    }
    state.app.set_console_language(&viewer.actor(), choice.language).await?;
    Ok(see_other("/console/settings"))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, scoped to the console, `Secure` when
/// served over TLS; `max_age` 0 removes the cookie.
fn set_cookie(
    state: &ConsoleState,
    name: &str,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, PageError> {
    cookie_header(state.secure_cookies, name, value, max_age)
}

fn cookie_header(
    secure: bool,
    name: &str,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, PageError> {
    let mut cookie = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    cookie.push_str(&format!("; Max-Age={max_age}"));
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).map_err(|e| PageError::Internal(Box::new(e)))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A session or CSRF token: [`crate::domain::people::random_hex`].
fn random_hex() -> Result<String, PageError> {
    crate::domain::people::random_hex().map_err(|e| PageError::Internal(Box::new(e)))
}

fn is_token_shaped(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Compares two tokens in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; hotline_session=abc; x_hotline_login=z"),
        );
        headers.append(COOKIE, HeaderValue::from_static("hotline_login=def"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), Some("def"));
        assert_eq!(cookie(&headers, "hotline"), None);
        assert_eq!(cookie(&HeaderMap::new(), SESSION_COOKIE), None);
    }

    #[test]
    fn cookies_are_secure_over_tls_and_never_readable_by_scripts() {
        let plain = cookie_header(false, SESSION_COOKIE, "abc", 60).unwrap();
        let tls = cookie_header(true, SESSION_COOKIE, "abc", 60).unwrap();
        assert_eq!(
            plain.to_str().unwrap(),
            "hotline_session=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(tls.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
        let token = random_hex().unwrap();
        assert!(is_token_shaped(&token));
        assert_ne!(token, random_hex().unwrap());
        for bad in ["", "ABC", &"g".repeat(64), &"a".repeat(65), &"A".repeat(64)] {
            assert!(!is_token_shaped(bad), "{bad}");
        }
    }

    #[test]
    fn the_limiter_refuses_past_the_allowance_and_forgets_after_the_window() {
        let limiter = LoginLimiter::new(2, Duration::from_millis(200));
        let keys = vec!["name:ann".to_owned(), "address:192.0.2.1".to_owned()];
        assert!(limiter.reserve(&keys));
        assert!(limiter.reserve(&keys));
        assert!(!limiter.reserve(&keys));
        // Another name from the same address is refused too; the name from elsewhere as well.
        assert!(!limiter.reserve(&["name:bob".into(), "address:192.0.2.1".into()]));
        assert!(!limiter.reserve(&["name:ann".into()]));
        assert!(limiter.reserve(&["name:bob".into()]));
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.reserve(&keys));
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked_and_given_back_when_right() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let keys = vec!["name:ann".to_owned(), "address:192.0.2.1".to_owned()];
        // A burst: only the allowance passes, before any of them has been checked.
        let passed = (0..50).filter(|_| limiter.reserve(&keys)).count();
        assert_eq!(passed, 3);
        // Right ones (or unchecked ones) are given back, and make room again.
        limiter.release(&keys);
        assert!(limiter.reserve(&keys));
        assert!(!limiter.reserve(&keys));
        // Giving back what was never counted changes nothing.
        limiter.release(&["name:nobody".into()]);
        assert!(!limiter.reserve(&keys));
    }

    #[test]
    fn the_limiter_stays_bounded_under_a_flood_of_names() {
        let limiter = LoginLimiter::new(1, Duration::from_secs(60));
        for n in 0..(MAX_TRACKED + 500) {
            assert!(limiter.reserve(&[format!("name:{n}")]));
        }
        assert!(limiter.lock().len() <= MAX_TRACKED);
    }

    #[test]
    fn a_login_counts_against_its_name_and_the_address_it_is_counted_as() {
        assert_eq!(limiter_keys("ann", None).len(), 1);
        assert_eq!(limiter_keys("ann", Some("192.0.2.7".parse().unwrap()))[1], "address:192.0.2.7");
        assert_eq!(limiter_keys(&"x".repeat(10_000), None)[0].len(), 5 + 64);
    }

    #[test]
    fn the_login_field_is_bound_to_its_cookie_and_the_servers_key() {
        let key = LoginKey::random().unwrap();
        let (token, field) = key.pair().unwrap();
        assert!(key.binds(&token, &field));
        assert_ne!(token, field);
        // The old double-submit: an equal cookie and field no longer pass.
        assert!(!key.binds(&token, &token));
        // Another token's field, another server's field, and hostile values do not pass.
        let (other, other_field) = key.pair().unwrap();
        assert!(!key.binds(&token, &other_field) && !key.binds(&other, &field));
        let elsewhere = LoginKey::random().unwrap();
        assert!(!elsewhere.binds(&token, &field));
        for bad in ["", "0", &field.to_uppercase(), &format!("{field}0"), &"f".repeat(100_000)] {
            assert!(!key.binds(&token, bad), "{bad:.20}");
            assert!(!key.binds(bad, &field), "{bad:.20}");
        }
        assert_eq!(format!("{key:?}"), "LoginKey(…)");
    }
}
