//! Case work: what operators and supervisors add to a case after the call, and the blocklist.
//!
//! The call path writes a case from the provider's webhooks; this module is the people's side
//! of it: notes (append-only), a disposition from the configured list and closing, the case
//! detail an operator sees (the caller masked down to their country), the search filters and
//! CSV export of supervisors, and the check `/voice/incoming` makes against the blocklist.
//!
//! Who may see a case is decided here once, by [`may_see`] (a pure rule over the person and
//! the case's [`CaseReach`]), and applied by the use cases (`app/casework.rs`), which every
//! surface goes through before it reads or changes a case or its follow-up.
//!
//! Inputs are parsed here once ([`NoteText`], [`Disposition`], [`CaseFilter`]), so storage and
//! the use cases only see valid values. The use cases are `app/casework.rs`; the SQL is
//! `storage/casework.rs`.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::cases::{CallStatus, Case, CaseNumber, TimedEvent};
use crate::domain::conversation::Channel;
use crate::domain::csv;
use crate::domain::language::{LanguageTag, Tag};
use crate::domain::people::{Person, Role};
use crate::domain::timeline::{CaseOutcome, outcome_at};

/// The longest note, in characters (also a CHECK in the database).
pub const MAX_NOTE_CHARS: usize = 4000;

/// The longest blocklist reason, in characters (also a CHECK in the database).
pub const MAX_REASON_CHARS: usize = 500;

/// The most cases one page of the search returns.
pub const MAX_PAGE: u32 = 500;

/// The most cases one CSV export returns (page through larger sets with `offset`).
pub const MAX_EXPORT: u32 = 10_000;

/// The largest `offset` of a search or an export: beyond, a page would be a long scan.
pub const MAX_OFFSET: u32 = 1_000_000;

/// A disposition: what came of a case, one of `[cases] dispositions` (`surrender-arranged`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
pub struct Disposition(String);

impl Disposition {
    /// Parses a name: 1 to 40 lowercase ASCII letters, digits and `-`.
    pub fn parse(s: &str) -> Option<Disposition> {
        let ok = (1..=40).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Disposition(s.to_owned()))
    }

    /// Parses the configured list, `"surrender-arranged, prank"`: names separated by commas,
    /// at least one, no repeats. The error says which entry is wrong.
    pub fn parse_list(s: &str) -> Result<Vec<Disposition>, String> {
        let mut list: Vec<Disposition> = Vec::new();
        for entry in s.split(',').map(str::trim) {
            let Some(disposition) = Disposition::parse(entry) else {
                return Err(format!(
                    "{entry:?} is not a disposition name: use 1 to 40 lowercase letters, digits \
                     and -, separated by commas"
                ));
            };
            if list.contains(&disposition) {
                return Err(format!("{entry:?} is listed twice"));
            }
            list.push(disposition);
        }
        Ok(list)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The configured dispositions, in order: at least one, no repeats (`[cases] dispositions`,
/// written `"surrender-arranged, prank"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Dispositions(Vec<Disposition>);

impl Dispositions {
    /// The dispositions, in the configured order.
    pub fn as_slice(&self) -> &[Disposition] {
        &self.0
    }
}

impl std::str::FromStr for Dispositions {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Disposition::parse_list(text).map(Dispositions)
    }
}

impl TryFrom<String> for Dispositions {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse().map_err(|problem| format!("dispositions = {text:?}: {problem}"))
    }
}

impl From<Dispositions> for String {
    fn from(list: Dispositions) -> String {
        list.0.iter().map(Disposition::as_str).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free text a person typed: a note, a blocklist reason. Not blank, not over its limit in
/// characters, and no control characters but newline (they hide text on screens and in
/// terminals, and a CR could forge lines in the CSV export or logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteText(String);

impl NoteText {
    /// Parses a note (at most [`MAX_NOTE_CHARS`]); the error says what is wrong.
    pub fn parse(s: &str) -> Result<NoteText, String> {
        NoteText::parse_at_most(s, MAX_NOTE_CHARS)
    }

    /// Parses text of at most `max` characters; the error says what is wrong.
    pub fn parse_at_most(s: &str, max: usize) -> Result<NoteText, String> {
        if s.trim().is_empty() {
            return Err("the text is empty".into());
        }
        let chars = s.chars().count();
        if chars > max {
            return Err(format!("the text has {chars} characters; at most {max} are kept"));
        }
        if s.chars().any(|c| c.is_control() && c != '\n') {
            return Err("the text has control characters; only newlines are allowed".into());
        }
        Ok(NoteText(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person named on a case: an author, the one who closed it, the operator who took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PersonRef {
    /// Their account's id (also their operator number on the phone).
    pub id: i64,
    /// Their name.
    pub name: String,
}

/// An operator's note on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Note {
    /// Its number; notes of a case are listed in this order.
    pub id: i64,
    /// Who wrote it.
    pub author: PersonRef,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub text: String,
}

/// One time the caller waited in an operators' queue (a row of `queue_entries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QueueVisit {
    /// The language queue the caller was routed to.
    pub language: String,
    /// Where it stands: waiting, connecting, bridged, left.
    pub state: String,
    /// Whether routing said an interpreter is needed (a fallback queue).
    pub interpreter_needed: bool,
    /// When the caller joined the queue.
    pub joined_at: DateTime<Utc>,
    /// The operator who took the caller, if one did.
    pub operator: Option<PersonRef>,
    /// When caller and operator were bridged.
    pub bridged_at: Option<DateTime<Utc>>,
    /// When the visit ended (the caller left the queue or the talk ended).
    pub ended_at: Option<DateTime<Utc>>,
    /// The provider's result: bridged, hangup, leave, …
    pub result: Option<String>,
    /// Seconds from joining until bridged (or until leaving), once known.
    pub wait_secs: Option<i64>,
    /// Seconds from bridged until the end, once known.
    pub talk_secs: Option<i64>,
}

impl QueueVisit {
    /// Fills in the wait and talk times from the timestamps.
    pub fn with_times(mut self) -> QueueVisit {
        let waited_until = self.bridged_at.or(self.ended_at);
        self.wait_secs = waited_until.map(|t| (t - self.joined_at).num_seconds().max(0));
        self.talk_secs = match (self.bridged_at, self.ended_at) {
            (Some(bridged), Some(ended)) => Some((ended - bridged).num_seconds().max(0)),
            _ => None,
        };
        self
    }
}

/// The visit that describes the case best: the last one an operator took, else the last.
pub fn main_visit(visits: &[QueueVisit]) -> Option<&QueueVisit> {
    visits.iter().rev().find(|v| v.bridged_at.is_some()).or_else(|| visits.last())
}

/// What case work adds to a case, as storage reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseWork {
    /// The disposition, once set.
    pub disposition: Option<Disposition>,
    /// When the case was closed; `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who closed it.
    pub closed_by: Option<PersonRef>,
    /// The notes, oldest first.
    pub notes: Vec<Note>,
    /// The caller's times in operators' queues, in order.
    pub queue: Vec<QueueVisit>,
    /// Earlier cases of the same caller, newest first (at most 100).
    pub repeat_cases: Vec<CaseNumber>,
}

/// The caller, as people see them: their country, never their number or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MaskedCaller {
    /// The country the provider reported (two letters), if any.
    pub country: Option<String>,
    /// True when the caller withheld their number, so repeat calls cannot be recognised.
    pub hidden: bool,
}

/// `GET /api/cases/{number}`: everything known about a case, the caller masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CaseDetail {
    /// The case's number.
    pub number: CaseNumber,
    /// The language, once chosen.
    pub language: Option<LanguageTag>,
    /// The caller, masked.
    pub caller: MaskedCaller,
    /// When the call arrived.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The provider's last status.
    pub status: Option<CallStatus>,
    /// The call's length in seconds.
    pub duration_secs: Option<u32>,
    /// What came of it.
    pub outcome: CaseOutcome,
    /// The node or queue where its path ended, if it names one.
    pub outcome_at: Option<String>,
    /// Fields the caller's choices set.
    pub tags: Vec<Tag>,
    /// The voicemail's recording, if one was left.
    pub voicemail_url: Option<String>,
    /// Everything that happened in the call, in order.
    pub timeline: Vec<TimedEvent>,
    /// The operator who took the call (from the queue), if one did.
    pub operator: Option<PersonRef>,
    /// Seconds the caller waited in the queue.
    pub wait_secs: Option<i64>,
    /// Seconds the caller talked with the operator.
    pub talk_secs: Option<i64>,
    /// Every queue visit, in order.
    pub queue: Vec<QueueVisit>,
    /// Earlier cases of the same caller, newest first.
    pub repeat_cases: Vec<CaseNumber>,
    /// The disposition.
    pub disposition: Option<Disposition>,
    /// Whether the case is closed.
    pub closed: bool,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who closed it.
    pub closed_by: Option<PersonRef>,
    /// Operators' notes, oldest first.
    pub notes: Vec<Note>,
}

impl CaseDetail {
    /// Joins a case and its case work. The caller's hash goes no further than here.
    pub fn new(case: Case, work: CaseWork) -> CaseDetail {
        let main = main_visit(&work.queue);
        let outcome = CaseOutcome::of(&case);
        CaseDetail {
            number: case.number,
            language: case.language,
            caller: MaskedCaller { country: case.country, hidden: case.caller.is_none() },
            started_at: case.started_at,
            ended_at: case.ended_at,
            status: case.status,
            duration_secs: case.duration_secs,
            outcome,
            outcome_at: outcome_at(&case.outcome),
            tags: case.tags,
            voicemail_url: case.recording_url,
            timeline: case.events,
            operator: main.and_then(|v| v.operator.clone()),
            wait_secs: main.and_then(|v| v.wait_secs),
            talk_secs: main.and_then(|v| v.talk_secs),
            queue: work.queue,
            repeat_cases: work.repeat_cases,
            disposition: work.disposition,
            closed: work.closed_at.is_some(),
            closed_at: work.closed_at,
            closed_by: work.closed_by,
            notes: work.notes,
        }
    }
}

/// One line of the search results and of the CSV export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CaseListing {
    /// The case's number.
    pub number: CaseNumber,
    /// Where it came from: a call, or a text channel.
    pub channel: Channel,
    /// When the call arrived.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The language.
    pub language: Option<String>,
    /// The caller's country.
    pub country: Option<String>,
    /// The provider's last status.
    pub status: Option<String>,
    /// The call's length in seconds.
    pub duration_secs: Option<u32>,
    /// What came of it.
    pub outcome: CaseOutcome,
    /// The node or queue where its path ended, if it names one.
    pub outcome_at: Option<String>,
    /// The caller's choices.
    pub tags: Vec<Tag>,
    /// The disposition.
    pub disposition: Option<Disposition>,
    /// When the case was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The operator who took the call.
    pub operator: Option<PersonRef>,
    /// Seconds waited in the queue.
    pub wait_secs: Option<i64>,
    /// Seconds talked with the operator.
    pub talk_secs: Option<i64>,
}

/// A supervisor's search: every field optional but the page. Parsed from the query string by
/// [`CaseFilter::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFilter {
    /// Cases that started at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Cases that started before this.
    pub to: Option<DateTime<Utc>>,
    /// In this language.
    pub language: Option<LanguageTag>,
    /// From this channel.
    pub channel: Option<Channel>,
    /// With this outcome.
    pub outcome: Option<CaseOutcome>,
    /// With this disposition.
    pub disposition: Option<Disposition>,
    /// With this tag.
    pub tag: Option<Tag>,
    /// Taken by this operator.
    pub operator: Option<i64>,
    /// At most this many cases.
    pub limit: u32,
    /// After skipping this many.
    pub offset: u32,
    /// Only cases listed after this one (newest first): how an export reads page by page
    /// without holding the database for long, or repeating a case when new calls arrive.
    pub after: Option<CaseNumber>,
}

impl CaseFilter {
    /// Parses the query string's pairs. Every parameter at most once, none unknown; `max` is
    /// the largest `limit` (also its default). The error says how to fix the request.
    pub fn parse(pairs: &[(String, String)], max: u32) -> Result<CaseFilter, String> {
        let mut filter = CaseFilter {
            from: None,
            to: None,
            language: None,
            channel: None,
            outcome: None,
            disposition: None,
            tag: None,
            operator: None,
            limit: max.min(100),
            offset: 0,
            after: None,
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name.as_str()) {
                return Err(format!("{name} is given more than once"));
            }
            seen.push(name);
            match name.as_str() {
                "from" => filter.from = Some(parse_time(name, value)?),
                "to" => filter.to = Some(parse_time(name, value)?),
                "language" => {
                    filter.language = Some(LanguageTag::parse(value).ok_or_else(|| {
                        format!("language={value:?} is not a language code like ru or uk")
                    })?);
                }
                "channel" => {
                    filter.channel = Some(Channel::parse(value).ok_or_else(|| {
                        let names: Vec<_> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                        format!("channel={value:?} is not one of {}", names.join(", "))
                    })?);
                }
                "outcome" => {
                    filter.outcome =
                        Some(value.parse().map_err(|problem| format!("outcome={problem}"))?);
                }
                "disposition" => {
                    filter.disposition = Some(Disposition::parse(value).ok_or_else(|| {
                        format!("disposition={value:?} is not a disposition name")
                    })?);
                }
                "tag" => filter.tag = Some(parse_tag(value)?),
                "operator" => {
                    filter.operator =
                        Some(
                            value.parse::<i64>().ok().filter(|id| *id >= 1).ok_or_else(|| {
                                format!("operator={value:?} is not a person's id")
                            })?,
                        );
                }
                "limit" => {
                    filter.limit =
                        value.parse::<u32>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(
                            || format!("limit={value:?} must be a number from 1 to {max}"),
                        )?;
                }
                "offset" => {
                    filter.offset =
                        value.parse::<u32>().ok().filter(|n| *n <= MAX_OFFSET).ok_or_else(
                            || format!("offset={value:?} must be a number from 0 to {MAX_OFFSET}"),
                        )?;
                }
                other => {
                    return Err(format!(
                        "unknown parameter {other:?}; the filters are from, to, language, \
                         channel, outcome, disposition, tag, operator, limit, offset"
                    ));
                }
            }
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from >= to
        {
            return Err("from must be before to".into());
        }
        Ok(filter)
    }
}

/// A time in a filter: RFC 3339 (`2026-03-01T12:00:00Z`) or a date (`2026-03-01`, midnight UTC).
fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
        .ok_or_else(|| {
            format!("{name}={value:?} is not a date (2026-03-01) or a time (2026-03-01T12:00:00Z)")
        })
}

/// A tag filter, `key=value`, in the scripts' tag alphabet.
fn parse_tag(value: &str) -> Result<Tag, String> {
    let valid = |s: &str| {
        (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    match value.split_once('=') {
        Some((key, value)) if valid(key) && valid(value) => {
            Ok(Tag { key: key.to_owned(), value: value.to_owned() })
        }
        _ => Err(format!(
            "tag={value:?} must be key=value in lowercase letters, digits, - and _, like \
             tag=intent=surrender"
        )),
    }
}

/// The CSV export's columns.
pub const CSV_HEADER: [&str; 16] = [
    "number",
    "started_at",
    "ended_at",
    "language",
    "country",
    "status",
    "duration_secs",
    "outcome",
    "outcome_at",
    "tags",
    "disposition",
    "closed_at",
    "operator",
    "wait_secs",
    "talk_secs",
    "channel",
];

/// Writes cases as CSV with the one writer ([`crate::domain::csv`]: RFC 4180, formulas
/// defused), without a byte order mark: programs read this export to the letter. No phone
/// number or caller hash is a column.
pub fn write_csv(cases: &[CaseListing]) -> String {
    let mut writer = csv::Writer::new(csv::Bom::Without, &CSV_HEADER);
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for case in cases {
        let tags: Vec<String> =
            case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
        writer.row(&[
            case.number.to_string(),
            case.started_at.to_rfc3339(),
            time(case.ended_at),
            case.language.clone().unwrap_or_default(),
            case.country.clone().unwrap_or_default(),
            case.status.clone().unwrap_or_default(),
            number(case.duration_secs.map(i64::from)),
            case.outcome.as_str().to_owned(),
            case.outcome_at.clone().unwrap_or_default(),
            tags.join(" "),
            case.disposition.as_ref().map(|d| d.to_string()).unwrap_or_default(),
            time(case.closed_at),
            case.operator.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
            number(case.wait_secs),
            number(case.talk_secs),
            case.channel.as_str().to_owned(),
        ]);
    }
    writer.finish()
}

/// What became of a change asked of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// Done; the new state.
    Done(T),
    /// There is no case with that number.
    NoCase,
    /// The case's state does not allow it (a closed case closed again); says why.
    Conflict(String),
    /// The case cannot take it (a block on a caller who withheld their number); says why.
    Invalid(String),
}

/// How a supervisor names a blocklist entry to remove: its id, or the case it was made from
/// (any case of that caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKey {
    /// The entry's id.
    Id(i64),
    /// A case of the blocked caller.
    Case(CaseNumber),
}

/// An entry of the blocklist as supervisors see it: the case it was made from, never the
/// caller's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BlockEntry {
    /// The entry's number (for `DELETE /api/blocklist/{entry}`).
    pub id: i64,
    /// The case the caller was blocked from.
    pub case: CaseNumber,
    /// Why.
    pub reason: String,
    /// Who blocked them.
    pub created_by: PersonRef,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When the block ends; `None`: until unblocked.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the block is in force now (not expired).
    pub active: bool,
}
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseReach {
    /// The caller's language, once chosen: the operators who speak it serve the case.
    pub language: Option<LanguageTag>,
    /// The operators who were connected to the caller: given them by the operator line (the
    /// whisper told them the case), or who took or tried the case's follow-up, or who took
    /// its text conversation.
    pub connected: Vec<i64>,
    /// A text conversation handed off to the operators of another language (a fallback,
    /// interpreter needed): theirs to see while it is open.
    pub routed: Option<LanguageTag>,
}

/// Whether `person` may see a case, and so read it, add notes, set its disposition, close
/// it, and see or work its follow-up. Supervisors see every case. An operator sees the cases
/// in a language they speak, and those they were connected to whatever the language (an
/// interpreted call, a callback); a case without a language only if connected to it.
///
/// The one place this rule lives: every surface reaches it through the use cases.
pub fn may_see(person: &Person, reach: &CaseReach) -> bool {
    match person.role {
        Role::Supervisor => true,
        Role::Operator => {
            reach.language.as_ref().is_some_and(|language| person.speaks(language))
                || reach.routed.as_ref().is_some_and(|language| person.speaks(language))
                || reach.connected.contains(&person.id)
        }
    }
}

/// A blocklist entry's expiry, as a person types it: RFC 3339 or a date (midnight UTC), in
/// the future. The error says what is wrong.
pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let time = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| {
            format!(
                "expires_at {:?} is not a date (2026-03-01) or a time (2026-03-01T12:00:00Z)",
                text.chars().take(40).collect::<String>()
            )
        })?;
    if time <= now {
        return Err(format!("expires_at {text:?} is in the past"));
    }
    Ok(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn operators_see_their_languages_and_what_they_were_connected_to_supervisors_all() {
        let person = |role, languages: &[&str]| Person {
            id: 101,
            name: "olga".into(),
            role,
            languages: languages.iter().map(|l| LanguageTag::parse(l).unwrap()).collect(),
            disabled: false,
        };
        let reach = |language: Option<&str>, connected: &[i64]| CaseReach {
            routed: None,
            language: language.and_then(LanguageTag::parse),
            connected: connected.to_vec(),
        };
        let russian = person(Role::Operator, &["ru", "uk"]);
        let korean = person(Role::Operator, &["ko"]);
        let supervisor = person(Role::Supervisor, &["ko"]);
        assert!(may_see(&russian, &reach(Some("ru"), &[])));
        assert!(may_see(&russian, &reach(Some("uk"), &[102])));
        assert!(!may_see(&korean, &reach(Some("ru"), &[])));
        assert!(!may_see(&korean, &reach(Some("ru"), &[102, 103])));
        assert!(may_see(&korean, &reach(Some("ru"), &[102, 101])));
        assert!(!may_see(&russian, &reach(None, &[])));
        assert!(may_see(&korean, &reach(None, &[101])));
        for case in [reach(Some("ru"), &[]), reach(None, &[]), reach(Some("en"), &[7])] {
            assert!(may_see(&supervisor, &case), "{case:?}");
        }
    }

    #[test]
    fn dispositions_are_lowercase_names_in_a_comma_list() {
        let list = Disposition::parse_list("surrender-arranged, prank ,wrong-number").unwrap();
        let names: Vec<&str> = list.iter().map(Disposition::as_str).collect();
        assert_eq!(names, ["surrender-arranged", "prank", "wrong-number"]);
        for bad in ["", "a,,b", "Prank", "a b", "prank,prank", "x;drop", &"a".repeat(41)] {
            assert!(Disposition::parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn notes_refuse_blank_huge_and_control_text() {
        assert!(NoteText::parse("line one\nline two — «кириллица» 한국어 🙂").is_ok());
        assert!(NoteText::parse(&"я".repeat(MAX_NOTE_CHARS)).is_ok());
        assert!(NoteText::parse(&"я".repeat(MAX_NOTE_CHARS + 1)).is_err());
        for bad in ["", "  \n ", "a\u{0}b", "a\rb", "bell\u{7}", "esc\u{1b}[31m"] {
            assert!(NoteText::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filters_parse_and_refuse_bad_values() {
        let filter = CaseFilter::parse(
            &pairs(&[
                ("from", "2026-03-01"),
                ("to", "2026-03-02T00:00:00+02:00"),
                ("language", "ru"),
                ("outcome", "answered"),
                ("disposition", "prank"),
                ("tag", "intent=surrender"),
                ("operator", "3"),
                ("limit", "500"),
                ("offset", "10"),
            ]),
            MAX_PAGE,
        )
        .unwrap();
        assert_eq!(filter.from.unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert_eq!(filter.to.unwrap().to_rfc3339(), "2026-03-01T22:00:00+00:00");
        assert_eq!(filter.tag.unwrap().value, "surrender");
        assert_eq!(filter.outcome, Some(CaseOutcome::Answered));
        assert_eq!((filter.limit, filter.offset, filter.operator), (500, 10, Some(3)));
        assert_eq!(CaseFilter::parse(&[], MAX_PAGE).unwrap().limit, 100);

        for bad in [
            ("from", "yesterday"),
            ("to", "2026-13-01"),
            ("language", "'; DROP TABLE cases; --"),
            ("outcome", "won"),
            ("outcome", "handed-off"),
            ("outcome", "Answered"),
            ("disposition", "Prank"),
            ("tag", "intent"),
            ("tag", "intent=sur render"),
            ("operator", "-1"),
            ("limit", "0"),
            ("limit", "-1"),
            ("limit", "501"),
            ("limit", "1000000000000"),
            ("offset", "-5"),
            ("colour", "red"),
        ] {
            assert!(CaseFilter::parse(&pairs(&[bad]), MAX_PAGE).is_err(), "{bad:?}");
        }
        assert!(CaseFilter::parse(&pairs(&[("limit", "1"), ("limit", "2")]), MAX_PAGE).is_err());
        let reversed = [("from", "2026-03-02"), ("to", "2026-03-01")];
        assert!(CaseFilter::parse(&pairs(&reversed), MAX_PAGE).is_err());
    }

    #[test]
    fn the_main_queue_visit_is_the_last_one_bridged() {
        let at = |s: i64| DateTime::from_timestamp(1_772_366_400 + s, 0).unwrap();
        let visit = |joined: i64, bridged: Option<i64>, ended: Option<i64>| {
            QueueVisit {
                language: "ru".into(),
                state: "left".into(),
                interpreter_needed: false,
                joined_at: at(joined),
                operator: None,
                bridged_at: bridged.map(at),
                ended_at: ended.map(at),
                result: None,
                wait_secs: None,
                talk_secs: None,
            }
            .with_times()
        };
        let visits = [visit(0, Some(30), Some(90)), visit(100, None, Some(160))];
        let main = main_visit(&visits).unwrap();
        assert_eq!((main.wait_secs, main.talk_secs), (Some(30), Some(60)));
        assert_eq!((visits[1].wait_secs, visits[1].talk_secs), (Some(60), None));
        assert_eq!(main_visit(&[]), None);
    }
}
