//! The frame every console page shares, and the console's errors.
//!
//! A page's template extends `console/base.html` and has a `page: Page` field: who is
//! looking, their interface text, their CSRF token for forms, and the menu their role sees.
//! A handler answers `Result<Html<String>, PageError>`; [`render`] turns a template into the
//! former, and [`PageError`] becomes an HTML error page with the right status.

use askama::Template;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::text::Text;
use crate::app::AppError;
use crate::domain::people::Person;

/// What a page's frame needs to know.
#[derive(Debug, Clone)]
pub struct Page {
    /// Who is looking.
    pub person: Person,
    /// The token every form of this session carries.
    pub csrf: String,
    /// Their interface text.
    pub text: &'static Text,
    /// The menu their role sees, with the current page marked.
    pub nav: Vec<NavItem>,
}

/// One entry of the menu.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Where it leads.
    pub href: &'static str,
    /// Its interface-text key.
    pub label: &'static str,
    /// Whether it is the page shown.
    pub current: bool,
}

/// The console's screens: path, text key, and whether only supervisors see it.
const SCREENS: [(&str, &str, bool); 10] = [
    ("/console/operator", "nav.operator", false),
    ("/console/chats", "nav.chats", false),
    ("/console/followups", "nav.followups", false),
    ("/console/wallboard", "nav.wallboard", true),
    ("/console/scripts", "nav.scripts", true),
    ("/console/people", "nav.people", true),
    ("/console/blocklist", "nav.blocklist", true),
    ("/console/audit", "nav.audit", true),
    ("/console/cases", "nav.cases", true),
    ("/console/settings", "nav.settings", false),
];

impl Page {
    /// The frame for `person` looking at `current` (a path of [`SCREENS`], or any other).
    pub fn new(person: Person, csrf: String, text: &'static Text, current: &str) -> Page {
        let supervisor = person.is_supervisor();
        let nav = SCREENS
            .iter()
            .filter(|(_, _, only_supervisors)| supervisor || !only_supervisors)
            .map(|&(href, label, _)| NavItem { href, label, current: current.starts_with(href) })
            .collect();
        Page { person, csrf, text, nav }
    }

    /// The interface text for `key` in the viewer's language.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.text.get(key)
    }

    /// The viewer's role, in their language.
    pub fn role(&self) -> &str {
        match self.person.role {
            crate::domain::people::Role::Operator => self.t("role.operator"),
            crate::domain::people::Role::Supervisor => self.t("role.supervisor"),
        }
    }
}

/// Renders a page's template.
pub fn render(template: &impl Template) -> Result<Html<String>, PageError> {
    template.render().map(Html).map_err(|error| PageError::Internal(Box::new(error)))
}

/// The answer to a form that worked: back to a page with `303 See Other`, so a reload does
/// not post it again.
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// Why a console request failed. Client mistakes show their message; an internal error's
/// cause is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No session, or one that ended: the login page.
    #[error("please log in")]
    LoginNeeded,
    /// A form without this session's CSRF token, or a role that may not do this (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The thing named does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The form's values are wrong (400); the message says how to fix them.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many password checks at once (503).
    #[error("the server is busy; try again in a moment")]
    Busy,
    /// Something failed on our side (500).
    #[error("something went wrong on the server; try again")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Forbidden => PageError::Forbidden(ROLE_FORBIDDEN),
            AppError::NotFound(message) => PageError::NotFound(message),
            AppError::Invalid(message) | AppError::Rejected { message, .. } => {
                PageError::BadRequest(message)
            }
            AppError::Conflict(message) => PageError::Conflict(message),
            AppError::Busy => PageError::Busy,
            AppError::Internal(cause) => PageError::Internal(cause),
        }
    }
}

/// The message of a page the viewer's role may not open.
pub const ROLE_FORBIDDEN: &str = "your role may not open this page";

/// An error page: bilingual, since an error may come before we know who is asking.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::LoginNeeded => {
                return (StatusCode::SEE_OTHER, [(LOCATION, "/console/login")]).into_response();
            }
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(cause) => {
                tracing::error!(error = %cause, "console request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = self.to_string();
        let page = ErrorPage { status: status.as_u16(), message: &message };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, message).into_response(),
        }
    }
}
