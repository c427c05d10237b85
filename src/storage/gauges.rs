//! What the operations metrics read from the database at each scrape: counts only, never a
//! case, a number or a call id. Each query is a lookup on an existing index (cases by outcome
//! or by start time, the waiting queue entries, the presence table), so a scrape stays cheap
//! with years of cases.

use chrono::{DateTime, Utc};

use super::{Storage, StorageError};
use crate::domain::dashboard::Gauges;

impl Storage {
    /// The counts of the moment. `today` is the start of the current UTC day; calls started
    /// before `since` without an end are taken as lost callbacks, not as calls in the IVR.
    #[tracing::instrument(skip(self))]
    pub async fn gauges(
        &self,
        today: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<Gauges, StorageError> {
        // Stored times are RFC 3339 in UTC, so text order is time order.
        let today = today.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let in_ivr = tx
                .prepare_cached(
                    "SELECT count(*) FROM cases \
                     WHERE outcome = 'in-progress' AND started_at >= ?1 AND ended_at IS NULL \
                       AND channel = 'voice'",
                )?
                .query_row([&since], |r| r.get::<_, i64>(0))?;
            let grouped = |sql: &str,
                           param: Option<&str>|
             -> Result<Vec<(String, u64)>, StorageError> {
                let mut stmt = tx.prepare_cached(sql)?;
                let map = |r: &super::engine::Row<'_>| {
                    Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
                };
                let rows = match param {
                    Some(p) => stmt.query_map([p], map)?.collect::<Result<Vec<_>, _>>()?,
                    None => stmt.query_map((), map)?.collect::<Result<Vec<_>, _>>()?,
                };
                Ok(rows)
            };
            let waiting = grouped(
                "SELECT language, count(*) FROM queue_entries \
                 WHERE state IN ('waiting', 'connecting') GROUP BY language ORDER BY language",
                None,
            )?;
            let operators = grouped(
                "SELECT state, count(*) FROM presence GROUP BY state ORDER BY state",
                None,
            )?;
            let today_counts = grouped(
                // `+outcome`: grouping on the (outcome, started_at) index would walk all of it
                // (every case ever) to skip sorting today's few.
                "SELECT outcome, count(*) FROM cases WHERE started_at >= ?1 \
                 GROUP BY +outcome ORDER BY +outcome",
                Some(&today),
            )?;
            tx.finish()?;
            Ok(Gauges {
                in_ivr: u64::try_from(in_ivr).unwrap_or(0),
                waiting,
                operators,
                today: today_counts,
            })
        })
        .await
    }

    /// Whether the database takes writes now: commits the time into the probe's one row
    /// (`0011_faults.sql`), so a read-only file, a full disk or a lock fail it as they would
    /// fail a record. For `/readyz`.
    #[tracing::instrument(skip(self))]
    pub async fn check_writable(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        let now = super::sqlite::db_time(now);
        self.write(move |conn| {
            let tx =
                conn.transaction_with_behavior(super::engine::TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO ready_probe (id, probed_at) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
            )?
            .execute([now])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
