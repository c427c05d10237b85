//! Calls refused at `/voice/incoming` that must not sound refused.
//!
//! Anyone can set a call's caller ID to someone else's number. If a refused call (the number
//! is on the blocklist, or already has its limit of calls in progress) were answered
//! differently from the start, such a call would tell a stranger that the number is blocked,
//! or that its owner is on the line to the hotline right now. So a refused call hears what
//! any caller of that number hears, walks the menus like anyone else, and is told goodbye only
//! where it would reach a person: the operators' queue, a voicemail, a callback request.
//!
//! Nothing in the provider's URLs marks such a call, so its next requests cannot carry the
//! refusal: this table remembers it, by CallSid, until the call's final status. It lives in
//! memory and is bounded like the tables of [`crate::http::limits`]: a restart (or another
//! instance) forgets a refusal, which for a call over its limit only ever lets a call in, and
//! a blocked caller is looked up on the blocklist again before reaching a person.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::domain::cases::CallSid;

/// A refused call whose end was never reported is forgotten after this long: the provider's
/// own limit on a call's length.
const LONGEST_CALL: Duration = Duration::from_secs(4 * 3600);

/// Most refused calls remembered at once. When full of live calls, a newcomer is not
/// remembered, and goes on as an ordinary call (still never queued if blocked).
const MAX_CALLS: usize = 50_000;

/// A full table is swept for stale calls at most this often, so that a flood of refused
/// calls does not make every one of them scan the whole table.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The calls refused at `/voice/incoming` and still in progress.
#[derive(Debug, Default)]
pub struct RefusedCalls {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// Each refused call, with when it was refused.
    calls: HashMap<CallSid, Instant>,
    /// When the full table was last swept for stale calls.
    swept: Option<Instant>,
}

impl RefusedCalls {
    /// Remembers that `call` was refused. A retried voice URL is remembered once.
    pub fn refuse(&self, call: &CallSid) {
        self.refuse_at(call, Instant::now());
    }

    fn refuse_at(&self, call: &CallSid, now: Instant) {
        let mut table = self.lock();
        if table.calls.len() >= MAX_CALLS && !table.calls.contains_key(call) {
            if table.swept.is_none_or(|swept| now.duration_since(swept) >= SWEEP_EVERY) {
                table.swept = Some(now);
                table.calls.retain(|_, refused| now.duration_since(*refused) < LONGEST_CALL);
            }
            if table.calls.len() >= MAX_CALLS {
                tracing::warn!("the refused-calls table is full; a refused call goes untracked");
                return;
            }
        }
        table.calls.entry(call.clone()).or_insert(now);
    }

    /// Whether `call` was refused (and has not ended).
    pub fn is_refused(&self, call: &CallSid) -> bool {
        self.is_refused_at(call, Instant::now())
    }

    fn is_refused_at(&self, call: &CallSid, now: Instant) -> bool {
        self.lock()
            .calls
            .get(call)
            .is_some_and(|refused| now.duration_since(*refused) < LONGEST_CALL)
    }

    /// The call ended (its final status arrived).
    pub fn ended(&self, call: &CallSid) {
        self.lock().calls.remove(call);
    }

    /// Locks the table, recovering it if a holder panicked (every change is a single insert
    /// or remove, or a sweep, so it stays consistent).
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| {
            self.table.clear_poison();
            poisoned.into_inner()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(n: u32) -> CallSid {
        CallSid::parse(&format!("CA{n:032x}")).unwrap()
    }

    #[test]
    fn a_refused_call_is_remembered_until_it_ends() {
        let refused = RefusedCalls::default();
        refused.refuse(&sid(1));
        refused.refuse(&sid(1));
        assert!(refused.is_refused(&sid(1)));
        assert!(!refused.is_refused(&sid(2)));
        refused.ended(&sid(1));
        refused.ended(&sid(1));
        assert!(!refused.is_refused(&sid(1)));
    }

    #[test]
    fn a_call_never_reported_ended_is_forgotten() {
        let refused = RefusedCalls::default();
        let start = Instant::now();
        refused.refuse_at(&sid(1), start);
        assert!(refused.is_refused_at(&sid(1), start + Duration::from_secs(600)));
        assert!(!refused.is_refused_at(&sid(1), start + LONGEST_CALL));
    }

    #[test]
    fn a_flood_of_refused_calls_stays_bounded() {
        let refused = RefusedCalls::default();
        let start = Instant::now();
        for n in 0..(MAX_CALLS as u32 + 100) {
            refused.refuse_at(&sid(n), start);
        }
        assert_eq!(refused.lock().calls.len(), MAX_CALLS);
        assert!(!refused.is_refused_at(&sid(MAX_CALLS as u32 + 1), start));
        // Once the first are stale, newcomers are remembered in their place.
        let later = start + LONGEST_CALL;
        refused.refuse_at(&sid(u32::MAX), later);
        assert!(refused.is_refused_at(&sid(u32::MAX), later));
        assert_eq!(refused.lock().calls.len(), 1);
    }
}
