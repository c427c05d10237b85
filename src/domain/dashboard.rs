//! The figures of the supervisors' wall board and the operations metrics: counts and
//! durations only, never a case, a number or a call id. The database side is
//! `storage/dashboard.rs` and `storage/gauges.rs`.

use chrono::{DateTime, Utc};

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
    /// Conversations opened since the line's local midnight.
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
    /// The service level of the callers who joined a queue that day.
    pub service: ServiceLevel,
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

/// The width of a chart's bucket. Buckets are the line's local hours and days (see
/// [`crate::domain::line_time::LineZone::floor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// One hour.
    Hour,
    /// One day.
    Day,
}

/// The service level of a span of time: of the callers who joined an operator queue in it and
/// whose wait is decided, how many an operator answered within the threshold
/// (`[queues] service_level_secs`). Counted per time a caller joins a queue:
///
/// - *in time*: connected to an operator at most the threshold after joining;
/// - *counted*: in time, plus connected later, plus left the queue unanswered (hung up after
///   the threshold, sent on to voicemail, the connection failed). A caller who hung up within
///   the threshold is not counted at all (a short abandon: nobody could have answered them),
///   nor is one still waiting: their wait is not decided yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceLevel {
    /// Answered within the threshold.
    pub in_time: u64,
    /// Every caller whose wait counts, those answered in time included.
    pub counted: u64,
}

impl ServiceLevel {
    /// The share answered in time, from 0 to 1; `None` before any wait counts.
    pub fn share(self) -> Option<f64> {
        // Counts are far below 2^52: the conversion is exact.
        (self.counted > 0).then(|| self.in_time.min(self.counted) as f64 / self.counted as f64)
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
    /// Cases opened since `since` (the line's local midnight), per outcome.
    pub today: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandonment_needs_someone_in_the_queue() {
        let mut day = QueueDay::default();
        assert_eq!(day.abandonment(), None);
        day.reached_queue = 4;
        day.abandoned = 1;
        assert_eq!(day.abandonment(), Some(0.25));
    }

    #[test]
    fn the_service_level_is_the_share_answered_in_time() {
        assert_eq!(ServiceLevel::default().share(), None);
        assert_eq!(ServiceLevel { in_time: 1, counted: 2 }.share(), Some(0.5));
        assert_eq!(ServiceLevel { in_time: 0, counted: 3 }.share(), Some(0.0));
        // Never above 1, whatever the counts say.
        assert_eq!(ServiceLevel { in_time: 9, counted: 3 }.share(), Some(1.0));
        assert_eq!(ServiceLevel { in_time: u64::MAX, counted: u64::MAX }.share(), Some(1.0));
    }
}
