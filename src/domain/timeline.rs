//! How a case reads to people: its one outcome, and its timeline line by line.
//!
//! Storage keeps where a call's path ended ([`Outcome`], the columns reports group on); people
//! ask a different question: what came of it? A caller who was answered, who asked for a
//! callback, or who was refused as a blocked caller all "finished" somewhere in the menus.
//! [`CaseOutcome`] answers that question once, from the stored path and the case's events,
//! with a stable machine name (the API, the CSV export, the search filter) and words (the
//! terminal; the console translates the name). Storage's search mirrors the derivation in SQL
//! (`storage/casework.rs`), and the tests hold the two together.
//!
//! [`timeline`] turns events into lines that read: when, what (a [`What`], named and worded
//! here, translated by the console), and the facts. Facts are split by who may see them, so
//! each screen keeps showing what it showed before and no more: the `detail` goes wherever the
//! line goes; the server's own `extra` words (prompts, reasons) go to the full record; a
//! `recording` of the caller's voice only where recordings are played; the operator who
//! answered only where people are named.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::domain::cases::{Case, Event, LanguageChoiceMethod, Outcome, TimedEvent};
use crate::domain::conversation::Channel;

/// The provider's `QueueResult` values that mean an operator was connected.
const BRIDGED: [&str; 3] = ["bridged", "bridging-in-process", "redirected-from-bridged"];

/// What came of a case, in one vocabulary for every screen, export and filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseOutcome {
    /// Still going on in the menus (or a conversation still open there).
    InProgress,
    /// Handed to the operators and waiting for one now.
    Waiting,
    /// An operator answered.
    Answered,
    /// Left a voicemail (or a written message on a text channel).
    Voicemail,
    /// Asked to be called back, and confirmed the number.
    Callback,
    /// The menus reached their end and said goodbye (information given).
    FinishedInMenus,
    /// Hung up in the menus, before reaching an operator.
    HungUpInMenus,
    /// Hung up while waiting for an operator.
    HungUpWaiting,
    /// A blocked caller, refused.
    Refused,
    /// A text conversation that closed without an operator, a message or a callback.
    ChatClosed,
}

impl CaseOutcome {
    /// Every outcome, in the order screens list them.
    pub const ALL: [CaseOutcome; 10] = [
        CaseOutcome::InProgress,
        CaseOutcome::Waiting,
        CaseOutcome::Answered,
        CaseOutcome::Voicemail,
        CaseOutcome::Callback,
        CaseOutcome::FinishedInMenus,
        CaseOutcome::HungUpInMenus,
        CaseOutcome::HungUpWaiting,
        CaseOutcome::Refused,
        CaseOutcome::ChatClosed,
    ];

    /// The stable machine name: the API's `outcome`, the CSV column, the search filter.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseOutcome::InProgress => "in-progress",
            CaseOutcome::Waiting => "waiting",
            CaseOutcome::Answered => "answered",
            CaseOutcome::Voicemail => "voicemail",
            CaseOutcome::Callback => "callback",
            CaseOutcome::FinishedInMenus => "finished-in-menus",
            CaseOutcome::HungUpInMenus => "hung-up-in-menus",
            CaseOutcome::HungUpWaiting => "hung-up-waiting",
            CaseOutcome::Refused => "refused",
            CaseOutcome::ChatClosed => "chat-closed",
        }
    }

    /// The outcome in English words (the terminal, the API's `outcome_text`).
    pub fn words(self) -> &'static str {
        match self {
            CaseOutcome::InProgress => "in progress",
            CaseOutcome::Waiting => "waiting for an operator",
            CaseOutcome::Answered => "answered by an operator",
            CaseOutcome::Voicemail => "left a voicemail",
            CaseOutcome::Callback => "asked for a callback",
            CaseOutcome::FinishedInMenus => "finished in the menus",
            CaseOutcome::HungUpInMenus => "hung up in the menus",
            CaseOutcome::HungUpWaiting => "hung up waiting for an operator",
            CaseOutcome::Refused => "refused (blocked caller)",
            CaseOutcome::ChatClosed => "conversation closed unanswered",
        }
    }

    /// The outcome named so; `None` for any other text.
    pub fn parse(text: &str) -> Option<CaseOutcome> {
        CaseOutcome::ALL.into_iter().find(|outcome| outcome.as_str() == text)
    }

    /// What came of a case, from where its path ended (`route`, as storage keeps it), its
    /// channel, whether it has ended, and its events. The first rule that holds decides:
    ///
    /// 1. a refused blocked caller is `refused`, whatever else happened;
    /// 2. an operator who answered (or the provider's bridge) makes it `answered`;
    /// 3. a confirmed callback request, `callback` (someone has to call);
    /// 4. then the path: a voicemail, the menus' end, a queue (waiting, or hung up waiting
    ///    once ended), the menus (in progress, or hung up once ended).
    ///
    /// A text conversation cannot hang up: one that ended in a queue or the menus is
    /// `chat-closed`. `storage/casework.rs` writes the same rules in SQL for the search.
    pub fn derive<'a>(
        route: &Outcome,
        channel: Channel,
        ended: bool,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> CaseOutcome {
        let (mut refused, mut answered, mut callback) = (false, false, false);
        for event in events {
            match event {
                Event::Blocked { refused: true } => refused = true,
                Event::Answered { .. } => answered = true,
                Event::LeftQueue { result, .. } if BRIDGED.contains(&result.as_str()) => {
                    answered = true;
                }
                Event::CallbackRequested { .. } => callback = true,
                _ => {}
            }
        }
        let hung_up = |voice: CaseOutcome| {
            if channel == Channel::Voice { voice } else { CaseOutcome::ChatClosed }
        };
        match route {
            _ if refused => CaseOutcome::Refused,
            _ if answered => CaseOutcome::Answered,
            _ if callback => CaseOutcome::Callback,
            Outcome::Voicemail => CaseOutcome::Voicemail,
            Outcome::Finished { .. } => CaseOutcome::FinishedInMenus,
            Outcome::AbandonedInQueue { .. } => hung_up(CaseOutcome::HungUpWaiting),
            Outcome::HandedOff { .. } if ended => hung_up(CaseOutcome::HungUpWaiting),
            Outcome::HandedOff { .. } => CaseOutcome::Waiting,
            Outcome::InProgress | Outcome::Abandoned { .. } if ended => {
                hung_up(CaseOutcome::HungUpInMenus)
            }
            Outcome::InProgress | Outcome::Abandoned { .. } => CaseOutcome::InProgress,
        }
    }

    /// What came of `case`.
    pub fn of(case: &Case) -> CaseOutcome {
        CaseOutcome::derive(
            &case.outcome,
            case.channel,
            case.ended_at.is_some(),
            case.events.iter().map(|timed| &timed.event),
        )
    }
}

impl fmt::Display for CaseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

impl FromStr for CaseOutcome {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CaseOutcome::parse(text).ok_or_else(|| {
            let names: Vec<&str> = CaseOutcome::ALL.iter().map(|o| o.as_str()).collect();
            // Echo no more than a name's length of what was given.
            let given: String = text.chars().take(40).collect();
            format!("{given:?} is not one of {}", names.join(", "))
        })
    }
}

/// Serialised as its machine name.
impl Serialize for CaseOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Described as what it serializes to: one of the machine names.
impl utoipa::PartialSchema for CaseOutcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("What came of a case."))
            .enum_values(Some(CaseOutcome::ALL.map(CaseOutcome::as_str)))
            .into()
    }
}

impl utoipa::ToSchema for CaseOutcome {}

/// Where a case's path ended: the node or the queue of its stored path, if it names one.
pub fn outcome_at(route: &Outcome) -> Option<String> {
    match route {
        Outcome::Finished { node } | Outcome::Abandoned { node: Some(node) } => {
            Some(node.to_string())
        }
        Outcome::HandedOff { queue } | Outcome::AbandonedInQueue { queue } => Some(queue.clone()),
        Outcome::InProgress | Outcome::Abandoned { node: None } | Outcome::Voicemail => None,
    }
}

/// What a line of a timeline says happened: a stable name the console translates
/// (`timeline.<name>`) and English words for the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum What {
    /// The caller pressed the language's key.
    LanguageByKey,
    /// The language followed from the caller's country.
    LanguageByCountry,
    /// The caller chose nothing: the default language.
    LanguageByDefault,
    /// The language menu was offered.
    LanguageMenu,
    /// The caller reached a node and heard its prompt.
    Heard,
    /// The caller pressed keys.
    Pressed,
    /// The caller pressed nothing before the timeout.
    NoInput,
    /// A menu's attempts ran out: its default route.
    AttemptsExhausted,
    /// A choice set a field on the case.
    Tagged,
    /// The caller was put into an operators' queue.
    HandedOff,
    /// Routed to the operators of a language.
    Routed,
    /// Routed to the operators of another language: an interpreter is needed.
    RoutedInterpreter,
    /// Sent straight to the voicemail: nobody on duty speaks the language.
    RoutedVoicemail,
    /// The caller left the queue.
    LeftQueue,
    /// An operator answered, after the wait shown.
    AnsweredAfter,
    /// An operator answered.
    Answered,
    /// The caller left a voicemail.
    Voicemail,
    /// The caller answered a question of the script.
    AskAnswered,
    /// The menus reached a hangup node.
    Finished,
    /// The provider called the fallback URL.
    Fallback,
    /// A request could not be understood.
    Rejected,
    /// The caller asked to be called back.
    CallbackRequested,
    /// A blocked caller, refused.
    BlockedRefused,
    /// A blocked caller, flagged.
    BlockedFlagged,
    /// The person wrote words of their own (so many characters).
    Wrote,
    /// The person asked for the conversation to be deleted from their phone.
    DeletionAsked,
    /// No end was reported: the call was closed after its silence.
    StatusLost,
}

impl What {
    /// The stable name (`pressed`); the console's text key is `timeline.<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            What::LanguageByKey => "language_key",
            What::LanguageByCountry => "language_country",
            What::LanguageByDefault => "language_default",
            What::LanguageMenu => "language_menu",
            What::Heard => "heard",
            What::Pressed => "pressed",
            What::NoInput => "no_input",
            What::AttemptsExhausted => "attempts_exhausted",
            What::Tagged => "tagged",
            What::HandedOff => "handed_off",
            What::Routed => "routed",
            What::RoutedInterpreter => "routed_interpreter",
            What::RoutedVoicemail => "routed_voicemail",
            What::LeftQueue => "left_queue",
            What::AnsweredAfter => "answered_after",
            What::Answered => "answered",
            What::Voicemail => "voicemail",
            What::AskAnswered => "ask_answered",
            What::Finished => "finished",
            What::Fallback => "fallback",
            What::Rejected => "rejected",
            What::CallbackRequested => "callback",
            What::BlockedRefused => "blocked_refused",
            What::BlockedFlagged => "blocked_flagged",
            What::Wrote => "wrote",
            What::DeletionAsked => "deletion_asked",
            What::StatusLost => "status_lost",
        }
    }

    /// The line's words in English, followed by its detail when it has one.
    pub fn words(self) -> &'static str {
        match self {
            What::LanguageByKey => "Chose the language",
            What::LanguageByCountry => "Language from the caller's country",
            What::LanguageByDefault => "Language by default",
            What::LanguageMenu => "Offered the language menu, attempt",
            What::Heard => "Heard",
            What::Pressed => "Pressed",
            What::NoInput => "No key pressed at",
            What::AttemptsExhausted => "Attempts used up, default route at",
            What::Tagged => "Choice noted",
            What::HandedOff => "Put in the operators' queue",
            What::Routed => "Routed to",
            What::RoutedInterpreter => "Routed, interpreter needed, to",
            What::RoutedVoicemail => "Sent to the voicemail: nobody on duty speaks the language",
            What::LeftQueue => "Left the queue:",
            What::AnsweredAfter => "Answered by an operator after",
            What::Answered => "Answered by an operator",
            What::Voicemail => "Left a voicemail",
            What::AskAnswered => "Answered the question",
            What::Finished => "The menus ended the call at",
            What::Fallback => "Provider fallback, error",
            What::Rejected => "Request not understood; safe answer given",
            What::CallbackRequested => "Asked to be called back on",
            What::BlockedRefused => "Blocked caller, refused",
            What::BlockedFlagged => "Blocked caller, flagged",
            What::Wrote => "Wrote, in characters:",
            What::DeletionAsked => "Asked for the conversation to be deleted from their phone",
            What::StatusLost => "No end reported; closed after a silence of",
        }
    }

    /// Whether the operator's screen shows the line: the caller's choices and their way to
    /// an operator. Prompts, written lengths, answers, provider faults and bookkeeping are
    /// the full record's (the supervisor's case page, `hotline case`).
    pub fn on_operator_screen(self) -> bool {
        matches!(
            self,
            What::LanguageByKey
                | What::LanguageByCountry
                | What::LanguageByDefault
                | What::Pressed
                | What::NoInput
                | What::Tagged
                | What::Routed
                | What::RoutedInterpreter
                | What::RoutedVoicemail
                | What::LeftQueue
                | What::AnsweredAfter
                | What::Answered
                | What::Voicemail
                | What::CallbackRequested
                | What::BlockedRefused
                | What::BlockedFlagged
        )
    }
}

/// One line of a case's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLine {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub what: What,
    /// The facts every screen showing the line may show: nodes, keys and their meaning,
    /// languages, queues, waits and lengths, the callback number masked (`…67`).
    pub detail: String,
    /// The server's own words for the full record: the prompt heard, a routing or refusal
    /// reason. Never caller data.
    pub extra: Option<String>,
    /// The recording of the caller's voice (a voicemail, an answer): only where recordings
    /// are played.
    pub recording: Option<String>,
    /// The operator who answered, for the screens that name people.
    pub operator: Option<i64>,
}

/// The longest prompt a line quotes, in characters.
const SAID_CHARS: usize = 70;

/// Seconds as `m:ss` (`h:mm:ss` past an hour), as every screen shows a wait or a length.
pub fn clock(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// A case's events as lines, in order.
pub fn timeline(events: &[TimedEvent]) -> Vec<TimelineLine> {
    events.iter().map(|timed| line(timed.at, &timed.event)).collect()
}

/// One event as a line.
pub fn line(at: DateTime<Utc>, event: &Event) -> TimelineLine {
    let secs = |s: Option<u32>| s.map(|s| clock(i64::from(s))).unwrap_or_default();
    let at_node = |node: &Option<crate::domain::language::NodeId>| {
        node.as_ref().map(ToString::to_string).unwrap_or_default()
    };
    let (mut extra, mut recording, mut operator) = (None, None, None);
    let (what, detail) = match event {
        Event::LanguageChosen { language, how } => {
            let what = match how {
                LanguageChoiceMethod::Key => What::LanguageByKey,
                LanguageChoiceMethod::Country => What::LanguageByCountry,
                LanguageChoiceMethod::Default => What::LanguageByDefault,
            };
            (what, language.to_string())
        }
        Event::LanguageMenu { attempt } => (What::LanguageMenu, attempt.to_string()),
        Event::Entered { node, said } => {
            let mut quoted: String = said.chars().take(SAID_CHARS).collect();
            if said.chars().count() > SAID_CHARS {
                quoted.push('…');
            }
            extra = Some(format!("“{quoted}”"));
            (What::Heard, node.to_string())
        }
        Event::Pressed { node, digits, meaning } => {
            let place = node.as_ref().map(|n| format!(" · {n}")).unwrap_or_default();
            (What::Pressed, format!("{digits}: {meaning}{place}"))
        }
        Event::NoInput { node, attempt } => {
            (What::NoInput, format!("{} #{attempt}", at_node(node)).trim_start().to_owned())
        }
        Event::AttemptsExhausted { node } => (What::AttemptsExhausted, node.to_string()),
        Event::Tagged { tag } => (What::Tagged, format!("{} = {}", tag.key, tag.value)),
        Event::HandedOff { node, queue } => (What::HandedOff, format!("{queue} · {node}")),
        Event::Routed { language, interpreter_needed, reason } => {
            extra = Some(reason.clone());
            match language {
                None => (What::RoutedVoicemail, String::new()),
                Some(language) if *interpreter_needed => {
                    (What::RoutedInterpreter, language.to_string())
                }
                Some(language) => (What::Routed, language.to_string()),
            }
        }
        Event::LeftQueue { result, wait_secs } => {
            let wait = wait_secs.map(|s| format!(" · {}", clock(i64::from(s)))).unwrap_or_default();
            (What::LeftQueue, format!("{result}{wait}"))
        }
        Event::Answered { operator_id, wait_secs } => {
            operator = Some(*operator_id);
            match wait_secs {
                Some(_) => (What::AnsweredAfter, secs(*wait_secs)),
                None => (What::Answered, String::new()),
            }
        }
        Event::Voicemail { recording_url, duration_secs } => {
            recording = Some(recording_url.clone()).filter(|url| !url.is_empty());
            (What::Voicemail, secs(*duration_secs))
        }
        Event::AskAnswered { node, var, recording_url, duration_secs } => {
            recording = recording_url.clone().filter(|url| !url.is_empty());
            let length = duration_secs.map(|s| format!(" · {}", clock(i64::from(s))));
            (What::AskAnswered, format!("{var} · {node}{}", length.unwrap_or_default()))
        }
        Event::Finished { node } => (What::Finished, node.to_string()),
        Event::Fallback { error_code } => {
            (What::Fallback, error_code.clone().unwrap_or_else(|| "—".to_owned()))
        }
        Event::Rejected { reason } => {
            extra = Some(reason.clone());
            (What::Rejected, String::new())
        }
        Event::CallbackRequested { hint } => (What::CallbackRequested, hint.clone()),
        Event::Blocked { refused: true } => (What::BlockedRefused, String::new()),
        Event::Blocked { refused: false } => (What::BlockedFlagged, String::new()),
        Event::Wrote { node, chars } => {
            let place = node.as_ref().map(|n| format!(" · {n}")).unwrap_or_default();
            (What::Wrote, format!("{chars}{place}"))
        }
        Event::DeletionAsked => (What::DeletionAsked, String::new()),
        Event::StatusLost { silent_secs } => {
            (What::StatusLost, clock(i64::try_from(*silent_secs).unwrap_or(i64::MAX)))
        }
    };
    TimelineLine { at, what, detail, extra, recording, operator }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::language::{LanguageTag, NodeId, Tag};

    fn node(id: &str) -> NodeId {
        NodeId::parse(id).unwrap()
    }

    fn answered() -> Event {
        Event::Answered { operator_id: 7, wait_secs: Some(12) }
    }

    fn left(result: &str) -> Event {
        Event::LeftQueue { result: result.into(), wait_secs: Some(40) }
    }

    fn voicemail() -> Event {
        Event::Voicemail { recording_url: "https://r/1".into(), duration_secs: Some(30) }
    }

    fn callback() -> Event {
        Event::CallbackRequested { hint: "…67".into() }
    }

    fn outcome(route: Outcome, channel: Channel, ended: bool, events: &[Event]) -> CaseOutcome {
        CaseOutcome::derive(&route, channel, ended, events)
    }

    #[test]
    fn every_path_of_a_call_has_its_outcome() {
        let queue = || "ru".to_owned();
        let voice = Channel::Voice;
        let cases: Vec<(Outcome, bool, Vec<Event>, CaseOutcome)> = vec![
            (Outcome::InProgress, false, vec![], CaseOutcome::InProgress),
            (Outcome::HandedOff { queue: queue() }, false, vec![], CaseOutcome::Waiting),
            // Answered: by the operator line's event, or by the provider's bridge alone.
            (
                Outcome::HandedOff { queue: queue() },
                true,
                vec![left("bridged"), answered()],
                CaseOutcome::Answered,
            ),
            (
                Outcome::HandedOff { queue: queue() },
                true,
                vec![left("bridging-in-process")],
                CaseOutcome::Answered,
            ),
            (Outcome::Voicemail, true, vec![voicemail()], CaseOutcome::Voicemail),
            // A callback request ends at the menus' goodbye, and still reads as a callback.
            (
                Outcome::Finished { node: node("bye") },
                true,
                vec![callback(), Event::Finished { node: node("bye") }],
                CaseOutcome::Callback,
            ),
            (Outcome::Abandoned { node: None }, true, vec![callback()], CaseOutcome::Callback),
            (Outcome::Finished { node: node("bye") }, true, vec![], CaseOutcome::FinishedInMenus),
            (
                Outcome::Abandoned { node: Some(node("main")) },
                true,
                vec![],
                CaseOutcome::HungUpInMenus,
            ),
            (Outcome::Abandoned { node: None }, true, vec![], CaseOutcome::HungUpInMenus),
            (
                Outcome::AbandonedInQueue { queue: queue() },
                true,
                vec![left("hangup")],
                CaseOutcome::HungUpWaiting,
            ),
            // The queue's result never came, but the call ended in the queue.
            (Outcome::HandedOff { queue: queue() }, true, vec![], CaseOutcome::HungUpWaiting),
            (
                Outcome::Finished { node: node("bye") },
                true,
                vec![Event::Blocked { refused: true }],
                CaseOutcome::Refused,
            ),
            // A flagged caller goes on as usual: the flag is no outcome.
            (
                Outcome::HandedOff { queue: queue() },
                true,
                vec![Event::Blocked { refused: false }, answered()],
                CaseOutcome::Answered,
            ),
            // A queue that was full sends the caller back to the menus: no answer.
            (
                Outcome::Abandoned { node: Some(node("voicemail")) },
                true,
                vec![left("queue-full")],
                CaseOutcome::HungUpInMenus,
            ),
        ];
        for (route, ended, events, expected) in cases {
            assert_eq!(
                outcome(route.clone(), voice, ended, &events),
                expected,
                "{route:?} {events:?}"
            );
        }
    }

    #[test]
    fn a_conversation_closes_where_a_call_hangs_up() {
        for channel in [Channel::Telegram, Channel::Sms, Channel::WhatsApp] {
            let answered_chat =
                outcome(Outcome::HandedOff { queue: "ru".into() }, channel, true, &[answered()]);
            assert_eq!(answered_chat, CaseOutcome::Answered);
            assert_eq!(
                outcome(Outcome::HandedOff { queue: "ru".into() }, channel, false, &[]),
                CaseOutcome::Waiting
            );
            assert_eq!(
                outcome(Outcome::HandedOff { queue: "ru".into() }, channel, true, &[]),
                CaseOutcome::ChatClosed
            );
            // A conversation has no final status: its stored path stays "in progress".
            assert_eq!(outcome(Outcome::InProgress, channel, true, &[]), CaseOutcome::ChatClosed);
            assert_eq!(outcome(Outcome::InProgress, channel, false, &[]), CaseOutcome::InProgress);
            assert_eq!(
                outcome(Outcome::Voicemail, channel, true, &[voicemail()]),
                CaseOutcome::Voicemail
            );
            let finished = outcome(Outcome::Finished { node: node("bye") }, channel, true, &[]);
            assert_eq!(finished, CaseOutcome::FinishedInMenus);
        }
    }

    #[test]
    fn names_are_unique_and_parse_back_and_nothing_else_does() {
        for outcome in CaseOutcome::ALL {
            assert_eq!(CaseOutcome::parse(outcome.as_str()), Some(outcome));
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
            assert!(!outcome.words().is_empty());
        }
        let old = ["finished", "abandoned", "handed-off", "abandoned-in-queue"];
        for bad in old.into_iter().chain(["", "ANSWERED", "answered ", "' OR 1=1 --", "ответ"])
        {
            assert_eq!(CaseOutcome::parse(bad), None, "{bad:?}");
            assert!(bad.parse::<CaseOutcome>().unwrap_err().contains("answered"));
        }
        let huge = "x".repeat(100_000).parse::<CaseOutcome>().unwrap_err();
        assert!(huge.len() < 300, "the error echoes a bounded part: {}", huge.len());
    }

    #[test]
    fn a_timeline_reads_without_serialised_fields() {
        let at = DateTime::from_timestamp(1_772_366_400, 0).unwrap();
        let events = [
            Event::LanguageChosen {
                language: LanguageTag::parse("uk").unwrap(),
                how: LanguageChoiceMethod::Key,
            },
            Event::Entered { node: node("main"), said: "Press 1 ".repeat(20) },
            Event::Pressed {
                node: Some(node("main")),
                digits: "1".into(),
                meaning: "surrender".into(),
            },
            Event::Tagged { tag: Tag { key: "intent".into(), value: "surrender".into() } },
            answered(),
            callback(),
            voicemail(),
            Event::Routed { language: None, interpreter_needed: false, reason: "nobody".into() },
        ];
        let timed: Vec<TimedEvent> =
            events.iter().map(|event| TimedEvent { step: 1, at, event: event.clone() }).collect();
        let lines = timeline(&timed);
        let whats: Vec<What> = lines.iter().map(|l| l.what).collect();
        assert_eq!(
            whats,
            [
                What::LanguageByKey,
                What::Heard,
                What::Pressed,
                What::Tagged,
                What::AnsweredAfter,
                What::CallbackRequested,
                What::Voicemail,
                What::RoutedVoicemail,
            ]
        );
        assert_eq!(lines[2].detail, "1: surrender · main");
        assert_eq!(lines[3].detail, "intent = surrender");
        assert_eq!((lines[4].detail.as_str(), lines[4].operator), ("0:12", Some(7)));
        assert_eq!(lines[5].detail, "…67");
        // The recording is kept apart from what every screen shows.
        assert_eq!(lines[6].detail, "0:30");
        assert_eq!(lines[6].recording.as_deref(), Some("https://r/1"));
        // A long prompt is cut, and kept for the full record only.
        let said = lines[1].extra.as_deref().unwrap();
        assert!(said.ends_with("…”") && said.chars().count() <= SAID_CHARS + 3, "{said}");
        assert!(!What::Heard.on_operator_screen() && What::CallbackRequested.on_operator_screen());
        for line in &lines {
            assert!(!line.detail.contains("{\"") && !line.detail.contains("kind"), "{line:?}");
        }
    }

    #[test]
    fn waits_read_as_a_clock() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(65), "1:05");
        assert_eq!(clock(3_725), "1:02:05");
        assert_eq!(clock(-4), "0:00");
    }
}
