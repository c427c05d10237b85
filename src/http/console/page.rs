//! The frame every console page shares, and the console's errors.
//!
//! A page's template extends `console/base.html` and has a `page: Page` field: who is
//! looking, their interface text, their CSRF token for forms, the line's time zone, and the
//! menu their role sees. A handler answers `Result<Html<String>, PageError>`; [`render`]
//! turns a template into the former, and [`PageError`] becomes an HTML error page with the
//! right status.
//!
//! Figures are written the way the viewer's console language writes them, through
//! [`number`], [`decimal`] and [`percent`]: `1,234` and `12.5%` in English, `1 234` and
//! `12,5 %` in Ukrainian (a narrow no-break space between thousands, a no-break space before
//! the sign). Times are the line's local time ([`LineZone::show`]); the footer names the zone
//! once.
//!
//! A script option's label (what a caller's choice means, for the operator) is written in
//! English in the scripts; [`choice_labels`] shows it in the viewer's console language where
//! the console's text has it, by the tag the option sets (`[choice]` in `text/*.toml`).

use askama::Template;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use super::text::Text;
use crate::app::AppError;
use crate::app::queues::labels;
use crate::domain::line_time::{LineZone, Stamp};
use crate::domain::people::Person;
use crate::scripts::{Script, Tag};

/// The language the scripts' option labels are written in (see the head of each script).
const SCRIPT_LABELS: &str = "en";

/// What a page's frame needs to know.
#[derive(Debug, Clone)]
pub struct Page {
    /// Who is looking.
    pub person: Person,
    /// The token every form of this session carries.
    pub csrf: String,
    /// Their interface text.
    pub text: &'static Text,
    /// The line's time zone.
    pub zone: LineZone,
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
    pub fn new(
        person: Person,
        csrf: String,
        text: &'static Text,
        zone: LineZone,
        current: &str,
    ) -> Page {
        let supervisor = person.is_supervisor();
        let nav = SCREENS
            .iter()
            .filter(|(_, _, only_supervisors)| supervisor || !only_supervisors)
            .map(|&(href, label, _)| NavItem { href, label, current: current.starts_with(href) })
            .collect();
        Page { person, csrf, text, zone, nav }
    }

    /// The interface text for `key` in the viewer's language.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.text.get(key)
    }

    /// `at` in the line's time, to the minute.
    pub fn minute(&self, at: impl Instant) -> String {
        self.zone.show(at.instant(), Stamp::Minute)
    }

    /// `at` in the line's time, to the second.
    pub fn second(&self, at: impl Instant) -> String {
        self.zone.show(at.instant(), Stamp::Second)
    }

    /// `at` as a machine reads it (a `<time datetime>`): UTC, RFC 3339.
    pub fn utc(&self, at: impl Instant) -> String {
        at.instant().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// The zone as the footer names it: `Kyiv (Europe/Kyiv)`, or `UTC`.
    pub fn zone_label(&self) -> String {
        zone_label(self.zone)
    }

    /// A count as the viewer's language writes it.
    pub fn n(&self, value: impl TryInto<u64>) -> String {
        number(self.text, value.try_into().unwrap_or(u64::MAX))
    }

    /// The viewer's role, in their language.
    pub fn role(&self) -> &str {
        match self.person.role {
            crate::domain::people::Role::Operator => self.t("role.operator"),
            crate::domain::people::Role::Supervisor => self.t("role.supervisor"),
        }
    }
}

/// A time a template holds, however many references deep (`if let` in a loop binds
/// `&&DateTime`).
pub trait Instant {
    /// The time.
    fn instant(&self) -> DateTime<Utc>;
}

impl Instant for DateTime<Utc> {
    fn instant(&self) -> DateTime<Utc> {
        *self
    }
}

impl<T: Instant + ?Sized> Instant for &T {
    fn instant(&self) -> DateTime<Utc> {
        (**self).instant()
    }
}

/// The zone as a page names it: `Kyiv (Europe/Kyiv)`, or `UTC`.
pub fn zone_label(zone: LineZone) -> String {
    if zone == LineZone::UTC { "UTC".to_owned() } else { format!("{} ({})", zone.place(), zone) }
}

/// How a language writes numbers, read from its sample (`numbers.sample`: 1234.5 per cent as
/// the language writes it, `1,234.5%`, `1 234,5 %`): whatever stands between `1` and `234`,
/// between `234` and `5`, and after `5`.
struct Numerals<'a> {
    thousands: &'a str,
    decimal: &'a str,
    percent: &'a str,
}

impl<'a> Numerals<'a> {
    fn of(text: &'a Text) -> Numerals<'a> {
        let sample = text.get("numbers.sample");
        let parsed = sample.strip_prefix('1').and_then(|rest| {
            let (thousands, rest) = rest.split_once("234")?;
            let (decimal, percent) = rest.split_once('5')?;
            Some(Numerals { thousands, decimal, percent })
        });
        // A catalog without a readable sample (the tests rule it out) writes numbers plainly.
        parsed.unwrap_or(Numerals { thousands: ",", decimal: ".", percent: "%" })
    }
}

/// A whole number as `text`'s language writes it: digits in groups of three, separated by
/// its thousands separator.
pub fn number(text: &Text, value: u64) -> String {
    group(&value.to_string(), Numerals::of(text).thousands)
}

/// `value` with `places` decimals, as `text`'s language writes it (its decimal mark between
/// the whole part and the decimals); a value that is not a number shows as a dash.
pub fn decimal(text: &Text, value: f64, places: usize) -> String {
    if !value.is_finite() {
        return "—".to_owned();
    }
    let numerals = Numerals::of(text);
    let plain = format!("{:.*}", places, value.abs());
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    // `-0.0` and values that round to zero carry no sign.
    let sign = if value < 0.0 && plain.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        "-"
    } else {
        ""
    };
    let mut out = format!("{sign}{}", group(whole, numerals.thousands));
    if !fraction.is_empty() {
        out.push_str(numerals.decimal);
        out.push_str(fraction);
    }
    out
}

/// A share from 0 to 1 as a percentage with one decimal, as `text`'s language writes it
/// (`12.5%`, `12,5 %`).
pub fn percent(text: &Text, share: f64) -> String {
    format!("{}{}", decimal(text, share * 100.0, 1), Numerals::of(text).percent)
}

/// The digits of `whole` in groups of three from the right, joined by `separator`.
fn group(whole: &str, separator: &str) -> String {
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::with_capacity(whole.len() + separator.len() * digits.len() / 3);
    for (i, digit) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(*digit);
    }
    out
}

/// The meaning of each of a caller's `tags`, as the option of `script` that set it labels
/// it, in the viewer's language: the console's own words for the tag (`choice."key=value"`)
/// when the viewer reads another language than the scripts' labels and the console has them,
/// else the script's label (or `key value` for a tag no option sets).
pub fn choice_labels(text: &Text, script: &Script, tags: &[Tag]) -> Vec<String> {
    tags.iter()
        .map(|tag| {
            let key = format!("choice.{}={}", tag.key, tag.value);
            match text.get(&key) {
                translated if text.code != SCRIPT_LABELS && translated != key => {
                    translated.to_owned()
                }
                _ => labels(script, std::slice::from_ref(tag)).concat(),
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    const NNBSP: char = '\u{202F}';
    const NBSP: char = '\u{00A0}';

    #[test]
    fn english_groups_thousands_with_commas_and_decimals_with_a_point() {
        let en = Text::of(Some("en"));
        assert_eq!(number(en, 0), "0");
        assert_eq!(number(en, 999), "999");
        assert_eq!(number(en, 1234), "1,234");
        assert_eq!(number(en, 1_234_567), "1,234,567");
        assert_eq!(number(en, u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(decimal(en, 1234.5, 1), "1,234.5");
        assert_eq!(percent(en, 0.125), "12.5%");
        assert_eq!(percent(en, 1.0), "100.0%");
    }

    #[test]
    fn ukrainian_uses_a_narrow_space_a_comma_and_a_spaced_percent_sign() {
        let uk = Text::of(Some("uk"));
        assert_eq!(number(uk, 1234), format!("1{NNBSP}234"));
        assert_eq!(number(uk, 12_345_678), format!("12{NNBSP}345{NNBSP}678"));
        assert_eq!(number(uk, 999), "999");
        assert_eq!(decimal(uk, 1234.25, 2), format!("1{NNBSP}234,25"));
        assert_eq!(percent(uk, 0.125), format!("12,5{NBSP}%"));
        assert_eq!(percent(uk, 0.0), format!("0,0{NBSP}%"));
    }

    #[test]
    fn every_language_has_a_sample_the_numbers_are_read_from() {
        for text in Text::all() {
            let sample = text.get("numbers.sample");
            assert_ne!(sample, "numbers.sample", "{}", text.code);
            // The sample is the number it says, written by the functions that read it.
            assert_eq!(decimal(text, 1234.5, 1) + Numerals::of(text).percent, sample);
            assert!(sample.starts_with('1') && sample.contains("234"), "{}: {sample}", text.code);
        }
    }

    #[test]
    fn odd_values_stay_readable() {
        let uk = Text::of(Some("uk"));
        assert_eq!(decimal(uk, f64::NAN, 1), "—");
        assert_eq!(decimal(uk, f64::INFINITY, 1), "—");
        assert_eq!(decimal(uk, -0.0, 1), "0,0");
        assert_eq!(decimal(uk, -0.01, 1), "0,0");
        assert_eq!(decimal(uk, -1500.0, 0), format!("-1{NNBSP}500"));
        assert_eq!(decimal(uk, 2.0, 0), "2");
        // The largest finite value is written out whole, grouped, without panicking.
        assert!(decimal(uk, f64::MAX, 0).len() > 300);
    }

    #[test]
    fn choice_labels_follow_the_console_language_and_fall_back_to_the_script() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let loaded = crate::scripts::load_dir(&dir).unwrap();
        let script = loaded.set.scripts.values().next().unwrap();
        let tag = |key: &str, value: &str| Tag { key: key.into(), value: value.into() };
        let tags = [tag("intent", "surrender"), tag("mood", "<b>odd</b>")];
        let en = choice_labels(Text::of(Some("en")), script, &tags);
        assert_eq!(en, ["serviceman, wants to surrender", "mood <b>odd</b>"]);
        let uk = choice_labels(Text::of(Some("uk")), script, &tags);
        assert_eq!(uk, ["військовослужбовець, хоче здатися в полон", "mood <b>odd</b>"]);
        assert!(choice_labels(Text::of(Some("uk")), script, &[]).is_empty());
    }

    #[test]
    fn the_zone_is_named_by_its_place() {
        assert_eq!(zone_label(LineZone::UTC), "UTC");
        let kyiv = LineZone::parse("Europe/Kyiv").unwrap();
        assert_eq!(zone_label(kyiv), "Kyiv (Europe/Kyiv)");
    }
}
