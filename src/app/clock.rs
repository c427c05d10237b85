//! The one clock of the use cases: the system's, or one a test sets and moves.
//!
//! Time-dependent rules (a PIN lock's end, a session's idle timeout, retention, a blocklist
//! entry's expiry, a callback that becomes due) read it through [`App::now`](super::App::now),
//! so a test can step over an hour without waiting for it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

/// Tells the time: the system clock, or a manual one.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands at `at` until it is [`set`](Clock::set) or
    /// [`advance`](Clock::advance)d; clones share it.
    pub fn manual(at: DateTime<Utc>) -> Clock {
        Clock { manual: Some(Arc::new(Mutex::new(at))) }
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(at) => *at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock to `at`; the system clock ignores it.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(now) = &self.manual {
            *now.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
        }
    }

    /// Moves a manual clock on by `by`; the system clock ignores it.
    pub fn advance(&self, by: TimeDelta) {
        if let Some(now) = &self.manual {
            let mut now = now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *now += by;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc();
        let clock = Clock::manual(start);
        let other = clock.clone();
        assert_eq!(clock.now(), start);
        other.advance(TimeDelta::hours(25));
        assert_eq!(clock.now(), start + TimeDelta::hours(25));
        clock.set(start);
        assert_eq!(other.now(), start);
        let system = Clock::system();
        system.set(start);
        assert!(system.now() > start);
    }
}
