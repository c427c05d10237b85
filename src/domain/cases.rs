//! Cases: what the hotline remembers of each call, and the records that build them.
//!
//! A webhook never writes SQL. It describes what happened as a [`Record`] and hands it to
//! storage; the same record can be journaled to a file while the database is unavailable and
//! applied later, exactly once, because every record carries its own idempotency key (the call
//! and the step of the call it belongs to).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::conversation::Channel;
use crate::domain::excerpt;
use crate::domain::language::{LanguageTag, NodeId, Tag};
use crate::domain::timeline::CaseOutcome;

/// The provider's id of a call (`CA` + 32 hex digits at Twilio).
///
/// Other providers use other shapes (a UUID at SignalWire, `v3:` and 54 URL-safe base64
/// characters at Telnyx), so any 1–64 ASCII letters, digits, `-`, `_` and `:` are accepted;
/// anything else is refused at the edge and never reaches storage or logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CallSid(String);

impl CallSid {
    /// Parses a call id; `None` if it is empty, too long or has other characters.
    pub fn parse(s: &str) -> Option<CallSid> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'));
        ok.then(|| CallSid(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CallSid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CallSid::parse(&s).ok_or_else(|| "not a call id".to_owned())
    }
}

impl From<CallSid> for String {
    fn from(sid: CallSid) -> String {
        sid.0
    }
}

/// A keyed hash (HMAC-SHA256, hex) of a caller's number: recognises a repeat caller without
/// keeping the number. Made by [`crate::domain::secret::CallerHasher`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallerHash(pub String);

/// The human-readable number of a case: the year it was opened and a sequence within that
/// year, printed `2026-000042`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CaseNumber {
    /// The year (UTC) the call arrived.
    pub year: i32,
    /// 1 for the year's first case.
    pub sequence: u32,
}

/// Described as what it serializes to: the printed number.
impl utoipa::PartialSchema for CaseNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("A case's number: the year it was opened and a sequence within it."))
            .pattern(Some("^[0-9]{4}-[0-9]{6}$"))
            .examples(["2026-000042"])
            .into()
    }
}

impl utoipa::ToSchema for CaseNumber {}

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:06}", self.year, self.sequence)
    }
}

impl FromStr for CaseNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{} is not a case number; they look like 2026-000042", excerpt(s));
        let (year, sequence) = s.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || sequence.is_empty() || sequence.len() > 9 {
            return Err(bad());
        }
        if !year.bytes().chain(sequence.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(CaseNumber {
            year: year.parse().map_err(|_| bad())?,
            sequence: sequence.parse().map_err(|_| bad())?,
        })
    }
}

impl From<CaseNumber> for String {
    fn from(n: CaseNumber) -> String {
        n.to_string()
    }
}

impl TryFrom<String> for CaseNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The state of a call as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    /// Waiting to be placed.
    Queued,
    /// Being placed.
    Initiated,
    /// Ringing.
    Ringing,
    /// Answered and going on.
    InProgress,
    /// Ended normally.
    Completed,
    /// The other side was busy.
    Busy,
    /// Could not be placed.
    Failed,
    /// Nobody answered.
    NoAnswer,
    /// Ended before it was answered.
    Canceled,
    /// Never reported by the provider: the hotline's own mark on a call whose final status
    /// callback never came (it ended while the server was down) and that has been silent
    /// for longer than any real call can be (see `app/recovery.rs`). A final status that
    /// arrives later replaces it.
    Lost,
}

impl CallStatus {
    /// Parses the provider's `CallStatus` value.
    pub fn parse(s: &str) -> Option<CallStatus> {
        Some(match s {
            "queued" => CallStatus::Queued,
            "initiated" => CallStatus::Initiated,
            "ringing" => CallStatus::Ringing,
            "in-progress" => CallStatus::InProgress,
            "completed" => CallStatus::Completed,
            "busy" => CallStatus::Busy,
            "failed" => CallStatus::Failed,
            "no-answer" => CallStatus::NoAnswer,
            "canceled" => CallStatus::Canceled,
            // "lost" is ours, not the provider's: a request claiming it is refused.
            _ => return None,
        })
    }

    /// The provider's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Initiated => "initiated",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in-progress",
            CallStatus::Completed => "completed",
            CallStatus::Busy => "busy",
            CallStatus::Failed => "failed",
            CallStatus::NoAnswer => "no-answer",
            CallStatus::Canceled => "canceled",
            CallStatus::Lost => "lost",
        }
    }

    /// Whether the call is over: no webhook for it will follow.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallStatus::Completed
                | CallStatus::Busy
                | CallStatus::Failed
                | CallStatus::NoAnswer
                | CallStatus::Canceled
                | CallStatus::Lost
        )
    }

    /// Reads a status as stored: the provider's spellings and our own `lost`.
    pub fn from_stored(s: &str) -> Option<CallStatus> {
        match s {
            "lost" => Some(CallStatus::Lost),
            other => CallStatus::parse(other),
        }
    }
}

/// How a language was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LanguageChoiceMethod {
    /// The caller pressed its key.
    Key,
    /// The caller's country is configured for it.
    Country,
    /// The caller chose nothing; the default language was taken.
    Default,
}

/// One thing that happened in a call, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// The call's language was set.
    LanguageChosen {
        /// The language.
        language: LanguageTag,
        /// How.
        how: LanguageChoiceMethod,
    },
    /// The caller was offered the language-choice menu.
    LanguageMenu {
        /// 1 for the first time it was offered.
        attempt: u32,
    },
    /// The call reached a node and heard its prompt.
    Entered {
        /// The node.
        node: NodeId,
        /// What was said, as text.
        said: String,
    },
    /// The caller pressed keys at a node.
    Pressed {
        /// Where the call was (`None` in the language-choice menu).
        node: Option<NodeId>,
        /// The keys, exactly as received (already checked to be `0-9*#`).
        digits: String,
        /// What the keys meant: an option's label, "operator", "back", "invalid".
        meaning: String,
    },
    /// The caller pressed nothing before the menu's timeout.
    NoInput {
        /// Where the call was (`None` in the language-choice menu).
        node: Option<NodeId>,
        /// Which offering of the menu timed out.
        attempt: u32,
    },
    /// A menu's attempts ran out and the caller was sent to its default.
    AttemptsExhausted {
        /// The menu.
        node: NodeId,
    },
    /// An option set a field on the case.
    Tagged {
        /// The field.
        tag: Tag,
    },
    /// The caller was put into an operators' queue.
    HandedOff {
        /// The handoff node.
        node: NodeId,
        /// The queue.
        queue: String,
    },
    /// The caller left the queue (the provider's `QueueResult`).
    LeftQueue {
        /// The provider's reason: `bridged`, `hangup`, `leave`, `queue-full`, `error`, …
        result: String,
        /// Seconds spent waiting, if reported.
        wait_secs: Option<u32>,
    },
    /// A voicemail was recorded.
    Voicemail {
        /// Where the provider keeps the recording.
        recording_url: String,
        /// Its length, if reported.
        duration_secs: Option<u32>,
    },
    /// The caller answered the question of an `<ask>` node. The answer is no tag and no
    /// voicemail: it is kept for the operator who takes the case, and asks for no follow-up.
    AskAnswered {
        /// The ask node.
        node: NodeId,
        /// The name the script keeps the answer under (`unit`).
        var: String,
        /// The spoken answer's recording; `None` when the caller said nothing, and for a text
        /// channel, which keeps the message itself.
        recording_url: Option<String>,
        /// The recording's length, if reported.
        duration_secs: Option<u32>,
    },
    /// The call reached a hangup node: the IVR finished it.
    Finished {
        /// The hangup node.
        node: NodeId,
    },
    /// The provider called the fallback URL: our answer to an earlier request failed.
    Fallback {
        /// The provider's error code, if given (digits only).
        error_code: Option<String>,
    },
    /// A request could not be understood (bad digits, unknown node); the caller got safe TwiML.
    Rejected {
        /// What was wrong, without any caller data.
        reason: String,
    },
    /// At a handoff, the server decided where the caller waits (see `crate::domain::queue`).
    Routed {
        /// The operators' language routed to; `None` when sent to the voicemail at once.
        language: Option<LanguageTag>,
        /// Routed to operators of another language than the caller's.
        interpreter_needed: bool,
        /// Why ("no ko operator available"), without caller data.
        reason: String,
    },
    /// An operator took the caller from the queue.
    Answered {
        /// The operator's id.
        operator_id: i64,
        /// Seconds the caller waited, when known.
        wait_secs: Option<u32>,
    },
    /// The caller asked to be called back and confirmed the number read to them. The number
    /// itself is sealed in the follow-up ([`Record::Callback`]), never in an event.
    CallbackRequested {
        /// The number masked: its last two digits at most (`…67`).
        hint: String,
    },
    /// The caller is on the blocklist (`[blocklist] answer` in the configuration).
    Blocked {
        /// True: the call was refused (answered as any call, then told goodbye where it
        /// would have reached a person); false: the call went on as usual, and this event is
        /// the case's flag.
        refused: bool,
    },
    /// The person wrote words of their own on a text channel (at a menu, to an operator, as
    /// a written message). The words are kept with the conversation's messages, never here:
    /// events say what happened, not what was written.
    Wrote {
        /// Where it was written, once a script node was reached.
        node: Option<NodeId>,
        /// How long it was, in characters.
        chars: u32,
    },
    /// The person asked for the conversation to be deleted from their phone (`/delete`): the
    /// messages the channel still allows are deleted, and the conversation closes. The case
    /// keeps its record.
    DeletionAsked,
    /// The recovery step closed the call: no final status callback came, and nothing had
    /// been heard of it for longer than any real call stays silent (see
    /// `app/recovery.rs`). Stays on the timeline if the status comes after all.
    StatusLost {
        /// Seconds between the last thing heard of the call and its closing.
        silent_secs: u64,
    },
}

impl Event {
    /// The event's kind as its JSON's `kind` tag says it: storage keeps it in a column of its
    /// own without serialising the event twice.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::LanguageChosen { .. } => "language-chosen",
            Event::LanguageMenu { .. } => "language-menu",
            Event::Entered { .. } => "entered",
            Event::Pressed { .. } => "pressed",
            Event::NoInput { .. } => "no-input",
            Event::AttemptsExhausted { .. } => "attempts-exhausted",
            Event::Tagged { .. } => "tagged",
            Event::HandedOff { .. } => "handed-off",
            Event::LeftQueue { .. } => "left-queue",
            Event::Voicemail { .. } => "voicemail",
            Event::AskAnswered { .. } => "ask-answered",
            Event::Finished { .. } => "finished",
            Event::Fallback { .. } => "fallback",
            Event::Rejected { .. } => "rejected",
            Event::Routed { .. } => "routed",
            Event::Answered { .. } => "answered",
            Event::CallbackRequested { .. } => "callback-requested",
            Event::Blocked { .. } => "blocked",
            Event::Wrote { .. } => "wrote",
            Event::DeletionAsked => "deletion-asked",
            Event::StatusLost { .. } => "status-lost",
        }
    }
}

/// What the hotline writes about a call. Each is idempotent: applying one twice changes
/// nothing the second time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Record {
    /// A call arrived: open its case (once per `call_sid`).
    CallStarted {
        /// The call.
        call_sid: CallSid,
        /// When the webhook arrived.
        at: DateTime<Utc>,
        /// The caller's keyed hash, when the number was given.
        caller: Option<CallerHash>,
        /// The caller's country as the provider reports it (two capital letters).
        country: Option<String>,
    },
    /// Events of one step of the call (one webhook). `step` is unique within the call; a
    /// retried webhook carries the same step and is ignored.
    Step {
        /// The call.
        call_sid: CallSid,
        /// The step's number within the call, from the URL the provider requested.
        step: u32,
        /// When the webhook arrived.
        at: DateTime<Utc>,
        /// What happened, in order.
        events: Vec<Event>,
    },
    /// The provider's status callback.
    Status {
        /// The call.
        call_sid: CallSid,
        /// When the callback arrived.
        at: DateTime<Utc>,
        /// The reported status.
        status: CallStatus,
        /// The call's length in seconds, reported with final statuses.
        duration_secs: Option<u32>,
        /// The provider's `SequenceNumber`: callbacks may arrive out of order.
        sequence: Option<u32>,
    },
    /// A confirmed callback request: the step's events (a
    /// [`Event::CallbackRequested`] among them) and the number, sealed, for the follow-up list.
    Callback {
        /// The call.
        call_sid: CallSid,
        /// The step of the confirmation.
        step: u32,
        /// When the webhook arrived.
        at: DateTime<Utc>,
        /// The step's events.
        events: Vec<Event>,
        /// The number, encrypted and authenticated with the call as associated data
        /// ([`crate::domain::followups::Sealer`]); only the key in the environment opens it.
        sealed: String,
        /// The number masked (`…67`).
        hint: String,
    },
    /// The caller left the operators' queue (the Enqueue action, or the end of the call):
    /// their waiting or connecting entry is closed, a bridge is noted. Queue bookkeeping goes
    /// through the journal like the case, so a hang-up while the database is unavailable
    /// cannot leave a ghost caller waiting for an operator.
    QueueLeft {
        /// The caller's call.
        call_sid: CallSid,
        /// When the caller left. Only an entry joined by then is touched, so a late replay
        /// cannot close a later wait of the same call.
        at: DateTime<Utc>,
        /// The provider's `QueueResult` (`hangup`, `bridged`, …) or ours (`hangup` at the end).
        result: String,
        /// Seconds in the queue, as the provider reports them.
        queue_secs: Option<u32>,
    },
    /// A call on the operator line ended: its operator goes offline, and a caller being
    /// connected to them (not yet bridged) waits again.
    OperatorLineEnded {
        /// The operator line's call.
        call_sid: CallSid,
        /// When it ended.
        at: DateTime<Utc>,
    },
}

impl Record {
    /// The call the record belongs to.
    pub fn call_sid(&self) -> &CallSid {
        match self {
            Record::CallStarted { call_sid, .. }
            | Record::Step { call_sid, .. }
            | Record::Status { call_sid, .. }
            | Record::Callback { call_sid, .. }
            | Record::QueueLeft { call_sid, .. }
            | Record::OperatorLineEnded { call_sid, .. } => call_sid,
        }
    }
}

/// Where a case's path ended, as storage keeps it: the columns reports group on, derived
/// from the events alone. People read what came of the case instead, a
/// [`CaseOutcome`](crate::domain::timeline::CaseOutcome), which adds what the events say
/// (an operator answered, a callback was asked for, a blocked caller was refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The call is still going on (or its end was never reported).
    InProgress,
    /// The IVR ended the call at a hangup node.
    Finished {
        /// The hangup node.
        node: NodeId,
    },
    /// The caller hung up in the IVR.
    Abandoned {
        /// The last node they reached (`None` in the language choice).
        node: Option<NodeId>,
    },
    /// The caller was put in an operators' queue.
    HandedOff {
        /// The queue.
        queue: String,
    },
    /// The caller hung up while waiting in the queue.
    AbandonedInQueue {
        /// The queue.
        queue: String,
    },
    /// The caller left a voicemail.
    Voicemail,
}

/// A case as read back from storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// Its number.
    pub number: CaseNumber,
    /// The call (for a text conversation, the id its records are kept under).
    pub call_sid: CallSid,
    /// Where it came from.
    pub channel: Channel,
    /// The language, once chosen.
    pub language: Option<LanguageTag>,
    /// The caller's keyed hash.
    pub caller: Option<CallerHash>,
    /// The caller's country.
    pub country: Option<String>,
    /// When the call arrived.
    pub started_at: DateTime<Utc>,
    /// When its final status arrived.
    pub ended_at: Option<DateTime<Utc>>,
    /// The last status reported.
    pub status: Option<CallStatus>,
    /// The call's length in seconds, when reported.
    pub duration_secs: Option<u32>,
    /// How it ended up.
    pub outcome: Outcome,
    /// Fields set by the caller's choices, in the order first set.
    pub tags: Vec<Tag>,
    /// The voicemail's recording, if one was left.
    pub recording_url: Option<String>,
    /// Everything that happened, in order.
    pub events: Vec<TimedEvent>,
}

/// An event with its place in the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimedEvent {
    /// The step (webhook) it happened in.
    pub step: u32,
    /// When.
    pub at: DateTime<Utc>,
    /// What: an object whose `kind` says which event it is (`language-chosen`, `entered`,
    /// `pressed`, …), with that event's fields.
    #[schema(value_type = Object)]
    pub event: Event,
}

/// One line of the case list: enough to find a case without loading its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    /// The case's number.
    pub number: CaseNumber,
    /// Where it came from.
    pub channel: Channel,
    /// The language, once chosen.
    pub language: Option<LanguageTag>,
    /// When the call arrived.
    pub started_at: DateTime<Utc>,
    /// The last status the provider reported.
    pub status: Option<CallStatus>,
    /// The call's length in seconds, once reported.
    pub duration_secs: Option<u32>,
    /// What came of it.
    pub outcome: CaseOutcome,
    /// The node or queue where its path ended, if it names one.
    pub outcome_at: Option<String>,
    /// Fields set by the caller's choices, in the order first set.
    pub tags: Vec<Tag>,
}

/// One line for a terminal: number, start, language, status and length, outcome (its
/// machine name, a column to grep), tags.
impl fmt::Display for CaseSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let language = self.language.as_ref().map_or("--", LanguageTag::as_str);
        let status = self.status.map_or("--", CallStatus::as_str);
        write!(
            f,
            "{}  {}  {language:<3}  {status:<11}",
            self.number,
            self.started_at.format("%Y-%m-%d %H:%M:%SZ"),
        )?;
        match self.duration_secs {
            Some(secs) => write!(f, " {secs:>5}s")?,
            None => write!(f, "       ")?,
        }
        write!(f, "  {}", self.outcome.as_str())?;
        if let Some(at) = &self.outcome_at {
            write!(f, " ({at})")?;
        }
        for tag in &self.tags {
            write!(f, "  {}={}", tag.key, tag.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event of every kind. The match below has no wildcard, so a new kind fails to
    /// compile here until it has a sample.
    fn one_of_each_kind() -> Vec<Event> {
        let node = || NodeId::parse("main").unwrap();
        let events = vec![
            Event::LanguageChosen {
                language: LanguageTag::parse("uk").unwrap(),
                how: LanguageChoiceMethod::Key,
            },
            Event::LanguageMenu { attempt: 1 },
            Event::Entered { node: node(), said: "…".into() },
            Event::Pressed { node: None, digits: "1".into(), meaning: "back".into() },
            Event::NoInput { node: Some(node()), attempt: 2 },
            Event::AttemptsExhausted { node: node() },
            Event::Tagged { tag: Tag { key: "intent".into(), value: "info".into() } },
            Event::HandedOff { node: node(), queue: "uk".into() },
            Event::LeftQueue { result: "hangup".into(), wait_secs: None },
            Event::Voicemail { recording_url: "https://rec/1".into(), duration_secs: Some(3) },
            Event::AskAnswered {
                node: node(),
                var: "unit".into(),
                recording_url: None,
                duration_secs: None,
            },
            Event::Finished { node: node() },
            Event::Fallback { error_code: Some("11200".into()) },
            Event::Rejected { reason: "bad digits".into() },
            Event::Routed { language: None, interpreter_needed: false, reason: "none".into() },
            Event::Answered { operator_id: 7, wait_secs: Some(4) },
            Event::CallbackRequested { hint: "…67".into() },
            Event::Blocked { refused: true },
            Event::Wrote { node: None, chars: 12 },
            Event::DeletionAsked,
            Event::StatusLost { silent_secs: 7200 },
        ];
        let mut seen: Vec<usize> = events
            .iter()
            .map(|event| match event {
                Event::LanguageChosen { .. } => 0,
                Event::LanguageMenu { .. } => 1,
                Event::Entered { .. } => 2,
                Event::Pressed { .. } => 3,
                Event::NoInput { .. } => 4,
                Event::AttemptsExhausted { .. } => 5,
                Event::Tagged { .. } => 6,
                Event::HandedOff { .. } => 7,
                Event::LeftQueue { .. } => 8,
                Event::Voicemail { .. } => 9,
                Event::AskAnswered { .. } => 10,
                Event::Finished { .. } => 11,
                Event::Fallback { .. } => 12,
                Event::Rejected { .. } => 13,
                Event::Routed { .. } => 14,
                Event::Answered { .. } => 15,
                Event::CallbackRequested { .. } => 16,
                Event::Blocked { .. } => 17,
                Event::Wrote { .. } => 18,
                Event::DeletionAsked => 19,
                Event::StatusLost { .. } => 20,
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..21).collect::<Vec<_>>(), "one sample of each kind");
        events
    }

    #[test]
    fn an_events_kind_is_the_tag_serde_writes() {
        for event in one_of_each_kind() {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["kind"].as_str(), Some(event.kind()), "{json}");
        }
    }

    #[test]
    fn case_numbers_print_and_parse_back() {
        let n = CaseNumber { year: 2026, sequence: 42 };
        assert_eq!(n.to_string(), "2026-000042");
        assert_eq!("2026-000042".parse::<CaseNumber>(), Ok(n));
        assert_eq!("2026-1234567".parse::<CaseNumber>().map(|n| n.sequence), Ok(1_234_567));
        for bad in ["", "2026", "2026-", "26-000042", "2026-00a042", "-2026-1", "2026-+42"] {
            assert!(bad.parse::<CaseNumber>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn call_sids_refuse_anything_that_could_inject() {
        assert!(CallSid::parse("CA0123456789abcdef0123456789abcdef").is_some());
        // SignalWire's and Telnyx's shapes.
        assert!(CallSid::parse("b3877c40-da60-4998-90ad-b792e98472ca").is_some());
        assert!(
            CallSid::parse("v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ").is_some()
        );
        for bad in ["", "CA 1", "CA\n1", "CA'1", "ÇA1", &"C".repeat(65), "v3:a/b", "v3:a=", "a;b"]
        {
            assert!(CallSid::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn only_ended_calls_have_final_statuses() {
        for s in ["completed", "busy", "failed", "no-answer", "canceled"] {
            assert!(CallStatus::parse(s).unwrap().is_final(), "{s}");
        }
        for s in ["queued", "initiated", "ringing", "in-progress"] {
            assert!(!CallStatus::parse(s).unwrap().is_final(), "{s}");
            assert_eq!(CallStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(CallStatus::parse("Completed"), None);
    }

    #[test]
    fn records_survive_a_json_round_trip() {
        let record = Record::Step {
            call_sid: CallSid::parse("CA1").unwrap(),
            step: 3,
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            events: vec![Event::Pressed {
                node: NodeId::parse("main"),
                digits: "1".into(),
                meaning: "wants to surrender".into(),
            }],
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
    }

    #[test]
    fn a_summary_prints_on_one_line() {
        let summary = CaseSummary {
            channel: Channel::Voice,
            number: CaseNumber { year: 2026, sequence: 42 },
            language: LanguageTag::parse("uk"),
            started_at: DateTime::from_timestamp(1_772_366_400, 0).unwrap(),
            status: Some(CallStatus::Completed),
            duration_secs: Some(95),
            outcome: CaseOutcome::Answered,
            outcome_at: Some("uk".into()),
            tags: vec![Tag { key: "intent".into(), value: "surrender".into() }],
        };
        assert_eq!(
            summary.to_string(),
            "2026-000042  2026-03-01 12:00:00Z  uk   completed      95s  answered (uk)  \
             intent=surrender"
        );
    }
}
