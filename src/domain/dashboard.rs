//! The figures of the supervisors' wall board and the operations metrics: counts and
//! durations only, never a case, a number or a call id. The database side is
//! `storage/dashboard.rs` and `storage/gauges.rs`.

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::domain::conversation::Channel;

/// The oldest caller still waiting (or being connected) in one language's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingSince {
    /// The operators' language of the queue.
    pub language: String,
    /// When the longest-waiting caller joined it.
    pub since: DateTime<Utc>,
}

/// A text channel's conversations at this moment, for the wall board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelChats {
    /// The text channel.
    pub channel: Channel,
    /// Open conversations still walking the script (no operator asked for yet).
    pub in_script: u64,
    /// Waiting for an operator.
    pub waiting: u64,
    /// Held by an operator.
    pub with_operator: u64,
    /// Conversations opened since midnight (UTC).
    pub today: u64,
}

/// How one day's queue went. "Callers" are cases: a caller put back in a queue twice counts
/// once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueDay {
    /// Calls that started that day, per language chosen (`None`: none chosen yet, or the
    /// caller hung up before choosing), in language order.
    pub calls: Vec<(Option<String>, u64)>,
    /// Callers who joined an operator queue that day and are no longer waiting in it
    /// (answered, hung up, or sent on to voicemail).
    pub reached_queue: u64,
    /// Of those, the callers whose call ended because they hung up while waiting
    /// (outcome `abandoned-in-queue`).
    pub abandoned: u64,
    /// Callers connected to an operator that day.
    pub answered: u64,
    /// Their mean time from joining the queue to being connected, in seconds.
    pub mean_wait_secs: Option<f64>,
    /// Conversations connected that day that have ended.
    pub talks: u64,
    /// Their mean length (connected to ended), in seconds.
    pub mean_talk_secs: Option<f64>,
}

impl QueueDay {
    /// Every call of the day.
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().map(|(_, n)| n).sum()
    }

    /// Abandoned callers per caller who reached the queue, from 0 to 1; `None` before anyone
    /// has.
    pub fn abandonment(&self) -> Option<f64> {
        // Counts are far below 2^52: the conversion is exact.
        (self.reached_queue > 0).then(|| self.abandoned as f64 / self.reached_queue as f64)
    }
}

/// The width of a chart's bucket. Buckets are aligned on UTC hours and days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Period {
    /// The start of the bucket `at` falls in.
    pub fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let start = match self {
            Period::Hour => day.and_hms_opt(at.hour(), 0, 0),
            Period::Day => day.and_hms_opt(0, 0, 0),
        };
        start.map_or(at, |t| t.and_utc())
    }

    /// The bucket's length.
    pub fn span(self) -> Duration {
        match self {
            Period::Hour => Duration::hours(1),
            Period::Day => Duration::days(1),
        }
    }
}

/// The calls of one bucket in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCount {
    /// The start of the bucket.
    pub bucket: DateTime<Utc>,
    /// The language chosen (`None`: none).
    pub language: Option<String>,
    /// Calls that started in the bucket.
    pub calls: u64,
}

/// Counts of the moment, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Calls still in the IVR: started since `since`, not ended, not yet handed off.
    pub in_ivr: u64,
    /// Callers waiting for an operator, per language queue.
    pub waiting: Vec<(String, u64)>,
    /// Operators per presence state (`available`, `on-call`, …).
    pub operators: Vec<(String, u64)>,
    /// Cases opened today (UTC), per outcome.
    pub today: Vec<(String, u64)>,
}
