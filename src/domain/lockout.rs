//! How PIN guessing on the operator line is locked out.
//!
//! Operator IDs are sequential and PINs have six digits, so the PIN is the whole secret of the
//! line: an automated dialler trying PINs call after call would get in. Every PIN tried is
//! counted in the database (`0010_pin_lockout.sql`), across calls and restarts, under two
//! keys: the operator ID as typed, and the calling number (its caller hash; every withheld
//! number shares one key, [`WITHHELD`], so hiding the number does not escape the count).
//! [`PinPolicy::failures`] failures of one key within [`PinPolicy::window`] lock that key for
//! [`PinPolicy::lock_length`]: the first lock lasts `operators.pin_lock_mins`, each further lock
//! in a row twice as long as the one before, up to [`MAX_LOCK`].
//!
//! A locked key is refused exactly like a wrong PIN: the same Argon2 work, the same words,
//! whether or not the ID belongs to anyone, so the line tells no one which IDs exist or are
//! locked. Failures counted while a key is locked do not count towards its next lock. A lock
//! ends by itself, or when a supervisor unlocks the person (`hotline users unlock`, the API,
//! the console); a successful sign-in, an unlock, or a day without a lock starts the count and
//! the doubling afresh.
//!
//! The storage side is `storage/pin_lockout.rs`; the line's side `webhooks/operator.rs`.

use chrono::{DateTime, Duration, Utc};

use crate::domain::cases::CallerHash;

/// The key every withheld (hidden) calling number is counted under.
pub const WITHHELD: &str = "withheld";

/// The longest one lock lasts, however many came before it.
pub const MAX_LOCK: Duration = Duration::hours(24);

/// How long failures and locks are remembered: a key without a lock or a clearing for this
/// long starts again at its first lock.
pub const REMEMBERED: Duration = Duration::hours(24);

/// When PIN failures lock an operator ID or a calling number, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinPolicy {
    /// Failures of one key within [`PinPolicy::window`] that lock it (at least 1).
    pub failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// The length of a first lock.
    pub lock: Duration,
}

impl PinPolicy {
    /// The length of the `nth` lock in a row (1 for the first): [`PinPolicy::lock`], doubled
    /// for each lock before it, never above [`MAX_LOCK`].
    pub fn lock_length(&self, nth: u32) -> Duration {
        // Eleven doublings of a minute are over a day already: more would only overflow.
        let doublings = nth.saturating_sub(1).min(16);
        let factor = 1i32 << doublings;
        self.lock.checked_mul(factor).map_or(MAX_LOCK, |length| length.min(MAX_LOCK))
    }
}

impl Default for PinPolicy {
    fn default() -> Self {
        // `[operators]`'s defaults: five wrong PINs in a quarter of an hour lock for as long.
        PinPolicy { failures: 5, window: Duration::minutes(15), lock: Duration::minutes(15) }
    }
}

/// The key a calling number is counted under: its caller hash, or [`WITHHELD`].
pub fn number_key(caller: Option<CallerHash>) -> String {
    caller.map_or_else(|| WITHHELD.to_owned(), |hash| hash.0)
}

/// What a lock is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockedKey {
    /// An operator ID as typed on the line.
    Operator {
        /// The ID.
        id: i64,
        /// The person with that ID; `None` when nobody has it (someone is guessing IDs).
        name: Option<String>,
    },
    /// One calling number (never shown: only its hash is kept).
    Number,
    /// Every caller whose number is withheld.
    WithheldNumbers,
}

impl LockedKey {
    /// Its kind as the API and `/metrics` name it: `operator-id`, `number` or `withheld`.
    pub fn kind(&self) -> &'static str {
        match self {
            LockedKey::Operator { .. } => "operator-id",
            LockedKey::Number => "number",
            LockedKey::WithheldNumbers => "withheld",
        }
    }
}

/// A lock of the moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinLock {
    /// What is locked.
    pub key: LockedKey,
    /// How many locks in a row this is (1 for the first).
    pub locks: u32,
    /// When it ends by itself.
    pub until: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_in_a_row_up_to_a_day() {
        let policy = PinPolicy::default();
        let minutes: Vec<i64> = (1..=9).map(|n| policy.lock_length(n).num_minutes()).collect();
        assert_eq!(minutes, [15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
        assert_eq!(policy.lock_length(0), policy.lock);
        assert_eq!(policy.lock_length(u32::MAX), MAX_LOCK);
        let long = PinPolicy { lock: Duration::minutes(1440), ..policy };
        assert_eq!(long.lock_length(2), MAX_LOCK);
    }

    #[test]
    fn a_withheld_number_has_a_key_no_hash_can_be() {
        assert_eq!(number_key(None), WITHHELD);
        let hash = CallerHash("ab".repeat(32));
        assert_eq!(number_key(Some(hash.clone())), hash.0);
    }
}
