//! The web console: the pages operators and supervisors work in, at `/console`.
//!
//! Pages are rendered on the server from askama templates (`templates/console/`, escaped by
//! default) and enhanced by one small script (`assets/console.js`): live regions fed by
//! Server-Sent Events, confirmations, countdowns. There is no front-end build; the stylesheet
//! and the script are compiled into the binary.
//!
//! What every screen shares lives here: the session and its CSRF token (`session.rs`), the
//! page frame and errors (`page.rs`), the interface text in each language (`text.rs`), live
//! regions (`live.rs`). Each screen is its own module with its own `router()`. The console
//! reads and changes the same data as the JSON API, through the same use cases (`crate::app`),
//! and writes the same audit log.

mod audit;
mod blocklist;
mod cases;
mod charts;
mod chats;
mod followups;
mod home;
pub mod live;
mod operator;
mod page;
mod people;
mod recordings;
mod scripts;
mod session;
mod text;
mod wallboard;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use session::{LoginKey, LoginLimiter};
pub use text::Text;

use crate::app::App;
use crate::app::sessions::SessionLimits;
use crate::http::limits::Offenders;

/// What every console handler can reach.
pub struct ConsoleState {
    /// The use cases.
    pub app: App,
    /// Failed logins per name and per address.
    pub logins: LoginLimiter,
    /// Binds the login form's token to its cookie.
    pub login_key: LoginKey,
    /// Tells the client's address behind a trusted proxy.
    pub offenders: Arc<Offenders>,
    /// Whether cookies are marked `Secure`: the console is reached over TLS.
    pub secure_cookies: bool,
    /// A session without a request for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after its login, however busy.
    pub session_lifetime: Duration,
}

impl ConsoleState {
    /// How long the console's sessions live.
    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits { idle_timeout: self.idle_timeout, lifetime: self.session_lifetime }
    }

    /// The console's state, with its limits from `[console]`.
    pub fn new(
        app: App,
        offenders: Arc<Offenders>,
        login_key: LoginKey,
        public_url: &str,
    ) -> ConsoleState {
        let console = &app.config().console;
        ConsoleState {
            logins: LoginLimiter::new(
                u32::try_from(console.login_failures).unwrap_or(u32::MAX),
                session::LOGIN_WINDOW,
            ),
            login_key,
            offenders,
            secure_cookies: public_url.starts_with("https://"),
            idle_timeout: Duration::from_secs(console.idle_timeout_mins.saturating_mul(60)),
            session_lifetime: Duration::from_secs(console.session_hours.saturating_mul(3600)),
            app,
        }
    }
}

/// The console's routes, under `/console`.
pub fn router(state: Arc<ConsoleState>) -> Router {
    Router::new()
        .merge(session::router())
        .merge(home::router())
        .merge(operator::router())
        .merge(chats::router())
        .merge(followups::router())
        .merge(scripts::router())
        .merge(people::router())
        .merge(blocklist::router())
        .merge(audit::router())
        .merge(cases::router())
        .merge(recordings::router())
        .merge(wallboard::router())
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .with_state(state)
        // A script being edited is posted whole (see `session::MAX_FORM_BYTES`).
        .layer(DefaultBodyLimit::max(session::MAX_FORM_BYTES))
        .layer(middleware::from_fn(security_headers))
}

/// The Content-Security-Policy of every console response: our own script and stylesheet
/// only, no inline script or style, no framing, forms only to ourselves. Voicemail
/// recordings play through the server (`recordings.rs`), never from the provider's address.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self'; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every console response. Pages hold case data, so nothing
/// is cached, by the browser or anything between; the assets may be cached briefly.
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().contains("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ];
    for (name, value) in fixed {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    let cache = if is_asset { "private, max-age=300" } else { "no-store" };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

async fn stylesheet() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("assets/console.css"))
}

async fn script() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("assets/console.js"))
}
