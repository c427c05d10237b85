//! Who an operator takes next, and the shape of the names and states that policy works on.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::cases::CaseNumber;
use crate::domain::language::LanguageTag;

/// A claim from the API keeps a caller for the claiming operator this long.
pub const CLAIM_SECS: i64 = 60;

/// An operator's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PresenceState {
    /// Not working (also: no presence row yet).
    Offline,
    /// Ready for the next caller.
    Available,
    /// Talking to a caller (or being connected to one).
    OnCall,
    /// Finishing the notes of a call; reads as available once its time is over.
    WrapUp,
    /// Away for a while.
    Break,
}

impl PresenceState {
    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceState::Offline => "offline",
            PresenceState::Available => "available",
            PresenceState::OnCall => "on-call",
            PresenceState::WrapUp => "wrap-up",
            PresenceState::Break => "break",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<PresenceState> {
        Some(match s {
            "offline" => PresenceState::Offline,
            "available" => PresenceState::Available,
            "on-call" => PresenceState::OnCall,
            "wrap-up" => PresenceState::WrapUp,
            "break" => PresenceState::Break,
            _ => return None,
        })
    }

    /// Whether an operator in this state will take a caller soon: routing counts them.
    pub fn on_duty(self) -> bool {
        matches!(self, PresenceState::Available | PresenceState::OnCall | PresenceState::WrapUp)
    }
}

/// Where a person stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presence {
    /// The person.
    pub user_id: i64,
    /// The state as stored.
    pub state: PresenceState,
    /// When it was entered.
    pub since: DateTime<Utc>,
    /// The end of a wrap-up.
    pub until: Option<DateTime<Utc>>,
}

impl Presence {
    /// The state as it reads at `now`: a wrap-up whose time is over is available.
    pub fn effective(&self, now: DateTime<Utc>) -> PresenceState {
        match (self.state, self.until) {
            (PresenceState::WrapUp, Some(until)) if until <= now => PresenceState::Available,
            (state, _) => state,
        }
    }
}

/// Where a queue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// Waiting for an operator.
    Waiting,
    /// Given to an operator whose call is dialling their queue.
    Connecting,
    /// Talking to (or finished talking to) the operator.
    Bridged,
    /// Gone without an operator: hung up, taken out at the maximum wait, failed.
    Left,
}

impl EntryState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Waiting => "waiting",
            EntryState::Connecting => "connecting",
            EntryState::Bridged => "bridged",
            EntryState::Left => "left",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<EntryState> {
        Some(match s {
            "waiting" => EntryState::Waiting,
            "connecting" => EntryState::Connecting,
            "bridged" => EntryState::Bridged,
            "left" => EntryState::Left,
            _ => return None,
        })
    }
}

/// The provider queue that holds one caller alone: `c-2026-000042-17` (≤ 64 characters, the
/// provider's limit; at most 28 here).
pub fn provider_queue(case: CaseNumber, entry_id: i64) -> String {
    format!("c-{case}-{entry_id}")
}

/// A waiting caller, as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The queue entry.
    pub id: i64,
    /// The language routed to.
    pub language: LanguageTag,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
    /// A claim on them, and until when it holds.
    pub reserved: Option<(i64, DateTime<Utc>)>,
}

/// The entry `operator` should take next among `waiting`, sorted by `joined_at`.
///
/// The policy, in order: the caller this operator claimed from the API (while the claim
/// holds); else the caller who has waited longest among the languages the operator speaks,
/// skipping callers another operator has claimed. Entries older than `stale_before` are
/// skipped: their caller was taken out at the maximum wait long ago and the row was never
/// closed (a lost Enqueue action).
///
/// Before any of them comes a **due callback** (the operator line asks for one first:
/// `Storage::take_due_callback`): a confirmed callback request in one of the operator's
/// languages that nobody has taken and nobody has tried in the last `[followups]
/// retry_after_mins`, the one whose caller first joined the queue earliest first. A caller
/// who asked to be called back so keeps their place; one who waits on the line is next.
pub fn next_for(
    operator: i64,
    speaks: &[LanguageTag],
    waiting: &[Candidate],
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Option<i64> {
    let fresh = |c: &&Candidate| c.joined_at >= stale_before;
    let claimed =
        |c: &&Candidate| matches!(c.reserved, Some((by, until)) if by == operator && until > now);
    if let Some(mine) = waiting.iter().filter(fresh).find(claimed) {
        return Some(mine.id);
    }
    waiting
        .iter()
        .filter(fresh)
        .filter(|c| speaks.contains(&c.language))
        .filter(|c| !matches!(c.reserved, Some((by, until)) if by != operator && until > now))
        .min_by_key(|c| (c.joined_at, c.id))
        .map(|c| c.id)
}

/// How old an entry may be and still be offered: the maximum wait plus five minutes.
pub fn stale_before(now: DateTime<Utc>, max_wait_secs: u64) -> DateTime<Utc> {
    let secs = i64::try_from(max_wait_secs).unwrap_or(i64::MAX / 2).saturating_add(300);
    now - Duration::seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> LanguageTag {
        LanguageTag::parse(s).unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn candidate(id: i64, lang: &str, joined: i64) -> Candidate {
        Candidate { id, language: tag(lang), joined_at: at(joined), reserved: None }
    }

    #[test]
    fn longest_waiting_in_a_spoken_language_first() {
        let waiting = [candidate(1, "ko", 0), candidate(2, "ru", 5), candidate(3, "ru", 1)];
        assert_eq!(next_for(7, &[tag("ru")], &waiting, at(10), at(-100)), Some(3));
        assert_eq!(next_for(7, &[tag("ru"), tag("ko")], &waiting, at(10), at(-100)), Some(1));
        assert_eq!(next_for(7, &[tag("en")], &waiting, at(10), at(-100)), None);
        assert_eq!(next_for(7, &[tag("ko")], &waiting, at(10), at(1)), None, "stale skipped");
    }

    #[test]
    fn claims_hold_for_their_owner_only_until_they_expire() {
        let mut waiting = [candidate(1, "ru", 0), candidate(2, "ru", 5)];
        waiting[1].reserved = Some((8, at(60)));
        assert_eq!(next_for(8, &[tag("ru")], &waiting, at(10), at(-100)), Some(2));
        waiting[0].reserved = Some((8, at(60)));
        assert_eq!(next_for(7, &[tag("ru")], &waiting, at(10), at(-100)), None);
        assert_eq!(next_for(7, &[tag("ru")], &waiting, at(61), at(-100)), Some(1));
    }

    #[test]
    fn wrap_up_reads_as_available_once_over() {
        let presence = Presence {
            user_id: 1,
            state: PresenceState::WrapUp,
            since: at(0),
            until: Some(at(30)),
        };
        assert_eq!(presence.effective(at(29)), PresenceState::WrapUp);
        assert_eq!(presence.effective(at(30)), PresenceState::Available);
        for s in ["offline", "available", "on-call", "wrap-up", "break"] {
            assert_eq!(PresenceState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(PresenceState::parse("Available"), None);
    }

    #[test]
    fn provider_queue_names_fit_the_limit() {
        let name = provider_queue(CaseNumber { year: 9999, sequence: 999_999_999 }, i64::MAX);
        assert!(name.len() <= 64, "{name}");
    }
}
