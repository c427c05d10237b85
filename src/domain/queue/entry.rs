//! A caller's place in the queues, as read back. The database side is `storage/queue.rs`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::EntryState;
use crate::domain::cases::{CallSid, CaseNumber};
use crate::domain::language::LanguageTag;

/// A caller's place in the queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QueueEntry {
    /// The entry's id.
    pub id: i64,
    /// The caller's case.
    pub case: CaseNumber,
    /// The caller's call.
    #[serde(skip)]
    pub call_sid: CallSid,
    /// The operators' language routed to.
    pub language: LanguageTag,
    /// The provider queue that holds this caller alone.
    #[serde(skip)]
    pub provider_queue: String,
    /// Routed to another language than the caller's.
    pub interpreter_needed: bool,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
    /// Where the entry is.
    pub state: EntryState,
    /// The operator who took them (or is being connected).
    pub operator_id: Option<i64>,
    /// When they were connected to the operator.
    pub bridged_at: Option<DateTime<Utc>>,
    /// When they left the queue or their talk with the operator ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The provider's QueueResult or our reason.
    pub result: Option<String>,
}

impl QueueEntry {
    /// Seconds waited: until bridged, or until gone, or until `now`.
    pub fn wait_secs(&self, now: DateTime<Utc>) -> i64 {
        (self.bridged_at.or(self.ended_at).unwrap_or(now) - self.joined_at).num_seconds().max(0)
    }
}
