//! The query behind the recovery of lost calls (see `app/recovery.rs`): the open cases
//! nothing has been heard of since a cutoff.

use chrono::{DateTime, Utc};

use super::StorageError;
use super::sqlite::{Storage, db_time, decode_time};
use crate::domain::cases::CallSid;

/// An open case whose call has been silent since `last_heard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentCall {
    /// The call.
    pub call_sid: CallSid,
    /// The latest of its start, its last stored event and its last status.
    pub last_heard: DateTime<Utc>,
}

impl Storage {
    /// The calls with no end whose last sign of life is older than `cutoff`, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn silent_open_calls(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<SilentCall>, StorageError> {
        self.read(move |conn| {
            // Times are fixed-width text, so the scalar MAX of them is the latest. Only calls:
            // a conversation has no status to lose, and ends by its own rules (`[chats]`).
            let mut query = conn.prepare_cached(
                "SELECT call_sid, last_heard FROM (
                     SELECT c.call_sid,
                            MAX(c.started_at,
                                COALESCE(c.status_at, c.started_at),
                                COALESCE((SELECT MAX(e.at) FROM case_events e
                                          WHERE e.case_id = c.id), c.started_at)) AS last_heard
                     FROM cases c WHERE c.ended_at IS NULL AND c.channel = 'voice') AS heard
                 WHERE last_heard < ?1
                 ORDER BY last_heard",
            )?;
            let rows = query.query_map([db_time(cutoff)], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut calls = Vec::new();
            for row in rows {
                let (sid, last_heard) = row?;
                let call_sid = CallSid::parse(&sid)
                    .ok_or_else(|| StorageError::Data(format!("stored call id {sid:?}")))?;
                calls.push(SilentCall { call_sid, last_heard: decode_time(&last_heard)? });
            }
            Ok(calls)
        })
        .await
    }
}
