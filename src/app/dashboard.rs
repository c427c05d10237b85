//! The wall board's figures and charts (supervisors): counts only, never a case or a
//! number. The console lays them out; what each counts is written on the page and in
//! docs/wallboard.md. Days and hours are the line's local ones (`[console] time_zone`):
//! "today" starts at its midnight, and a chart's buckets are its hours and days.
//!
//! The numbers come from the operations gauges (in the IVR, waiting), the presence rows read
//! as the queue reads them, and the board's own queries (today's queue, the longest waits,
//! calls per hour or day, the service level); the operator line's PIN locks of the moment go
//! with them.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::app::{Actor, App, AppError};
use crate::domain::dashboard::{
    CallCount, ChannelChats, Gauges, Period, QueueDay, ServiceLevel, WaitingSince,
};
use crate::domain::line_time::LineZone;
use crate::domain::lockout::PinLock;
use crate::domain::queue::PresenceState;

/// A call started longer ago without an end is a lost status callback, not a call in the IVR
/// (as for `/metrics`).
const LONGEST_CALL_HOURS: i64 = 4;

/// The states people are counted in, in the board's order.
pub const STATES: [PresenceState; 5] = [
    PresenceState::Available,
    PresenceState::OnCall,
    PresenceState::WrapUp,
    PresenceState::Break,
    PresenceState::Offline,
];

/// The figures of the moment.
#[derive(Debug)]
pub struct BoardFigures {
    /// When they were read.
    pub now: DateTime<Utc>,
    /// The line's time zone, whose midnight "today" starts at.
    pub zone: LineZone,
    /// The service level's threshold, in seconds.
    pub service_level_secs: u64,
    /// In the IVR, waiting per language.
    pub gauges: Gauges,
    /// When the longest-waiting caller of each queue joined it.
    pub waiting_since: Vec<WaitingSince>,
    /// Today's queue: calls, abandonment, mean wait and talk, service level.
    pub day: QueueDay,
    /// Every language callers can choose, and any other a caller waits in.
    pub languages: BTreeSet<String>,
    /// Enabled people in each of [`STATES`], in its order.
    pub people: [u64; STATES.len()],
    /// The operator line's PIN locks of the moment.
    pub locks: Vec<PinLock>,
    /// Each text channel's conversations (only channels that have any).
    pub chats: Vec<ChannelChats>,
}

/// Calls per hour or day, by language, and the service level, over the last `buckets`
/// periods.
#[derive(Debug)]
pub struct CallsPer {
    /// The line's time zone, whose hours and days the periods are.
    pub zone: LineZone,
    /// The start of each period, oldest first.
    pub starts: Vec<DateTime<Utc>>,
    /// The counts, by period start and language.
    pub counts: Vec<CallCount>,
    /// The service level of each period, by the time callers joined a queue, in the order of
    /// `starts`.
    pub service: Vec<ServiceLevel>,
    /// The service level's threshold, in seconds.
    pub service_level_secs: u64,
}

impl App {
    /// The figures of the moment (supervisor).
    pub async fn board_figures(&self, actor: &Actor) -> Result<BoardFigures, AppError> {
        actor.require_supervisor()?;
        let now = self.now();
        let storage = self.storage();
        let (zone, service_level_secs) = self.board_settings();
        let midnight = zone.floor(Period::Day, now);
        let tomorrow = zone.next(Period::Day, midnight);
        let gauges = storage.gauges(midnight, now - Duration::hours(LONGEST_CALL_HOURS)).await?;
        let waiting_since = storage.waiting_since().await?;
        let day = storage.queue_day(midnight, tomorrow, service_level_secs).await?;
        // Every language callers can choose has its line, at zero when nobody waits, so the
        // board does not jump about as queues empty; a queue of another language (a script
        // since removed) still shows while someone is in it.
        let mut languages: BTreeSet<String> =
            self.live().live().set.scripts.keys().map(|l| l.as_str().to_owned()).collect();
        languages.extend(gauges.waiting.iter().map(|(l, _)| l.clone()));
        // People by their state as the queue reads it: a wrap-up whose time is over is
        // available; someone who never set a state is offline. Disabled people are not
        // counted.
        let presences = storage.presences().await?;
        let mut people = [0u64; STATES.len()];
        for person in storage.people().await?.into_iter().filter(|p| !p.disabled) {
            let state = presences
                .iter()
                .find(|p| p.user_id == person.id)
                .map_or(PresenceState::Offline, |p| p.effective(now));
            if let Some(i) = STATES.iter().position(|s| *s == state) {
                people[i] += 1;
            }
        }
        let locks = storage.pin_locks(now).await?;
        let chats = storage.chat_figures(midnight).await?;
        Ok(BoardFigures {
            now,
            zone,
            service_level_secs,
            gauges,
            waiting_since,
            day,
            languages,
            people,
            locks,
            chats,
        })
    }

    /// Calls per `period` and the service level over the last `buckets` of them, this one
    /// included (supervisor). The periods are the line's local hours or days.
    pub async fn calls_per(
        &self,
        actor: &Actor,
        period: Period,
        buckets: usize,
    ) -> Result<CallsPer, AppError> {
        actor.require_supervisor()?;
        let (zone, service_level_secs) = self.board_settings();
        let bounds = zone.buckets(period, self.now(), buckets);
        let counts = self.storage().calls_per(&bounds).await?;
        let service = self.storage().service_levels(&bounds, service_level_secs).await?;
        let starts = bounds[..bounds.len().saturating_sub(1)].to_vec();
        Ok(CallsPer { zone, starts, counts, service, service_level_secs })
    }

    /// The line's time zone and the service level's threshold.
    fn board_settings(&self) -> (LineZone, u64) {
        let config = self.config();
        (config.console.time_zone, config.queues.service_level_secs)
    }
}
