//! What the supervisors' wall board reads beyond the operations gauges ([`Storage::gauges`],
//! which it shows as well): since when the oldest caller of each queue has waited, how a day's
//! queue went (abandonment, waits, talk), and calls per hour or per day and language for its
//! charts. Counts and durations only, never a case, a number or a call id.
//!
//! Every query reads a range of an index (`0009_dashboard.sql` says which and why), so the
//! board stays cheap with a million cases; `cargo bench --bench wallboard` prints the plans
//! and the times.

use super::engine::{Transaction, params};
use chrono::{DateTime, Utc};

use super::StorageError;
use super::sqlite::{Storage, db_time, decode_time};
use crate::domain::dashboard::{CallCount, QueueDay, ServiceLevel, WaitingSince};

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Voice calls per language that started in `[from, to)`, in language order.
fn calls_by_language(
    tx: &Transaction<'_>,
    from: &str,
    to: &str,
) -> Result<Vec<(Option<String>, u64)>, StorageError> {
    // `+language`: grouping on the (language, started_at) index would walk all of it to skip
    // the sort of a day's few hundred rows.
    let rows = tx
        .prepare_cached(
            "SELECT language, count(*) FROM cases \
             WHERE started_at >= ?1 AND started_at < ?2 AND channel = 'voice' \
             GROUP BY +language ORDER BY +language",
        )?
        .query_map(params![from, to], |r| Ok((r.get::<_, Option<String>>(0)?, count(r.get(1)?))))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The service level of the callers who joined a queue in `[from, to)` (see [`ServiceLevel`]
/// for what counts). A caller hung up when their entry's result is `hangup`: the provider's
/// `QueueResult`, or the call's end while they waited. A wait is the stored times'
/// difference, with a millisecond's slack so a wait of exactly the threshold, stored to the
/// nanosecond, is not lost to floating point.
fn service_level(
    tx: &Transaction<'_>,
    from: &str,
    to: &str,
    threshold_secs: u64,
) -> Result<ServiceLevel, StorageError> {
    let threshold = threshold_secs as f64;
    let (in_time, counted) = tx
        .prepare_cached(
            "SELECT \
               coalesce(sum(e.bridged_at IS NOT NULL AND \
                   (julianday(e.bridged_at) - julianday(e.joined_at)) * 86400 <= ?3 + 0.001), 0), \
               coalesce(sum(NOT coalesce(e.bridged_at IS NULL AND e.result = 'hangup' \
                   AND (julianday(e.ended_at) - julianday(e.joined_at)) * 86400 < ?3 - 0.001, 0)), 0) \
             FROM queue_entries e \
             WHERE e.joined_at >= ?1 AND e.joined_at < ?2 AND e.state IN ('bridged', 'left')",
        )?
        .query_row(params![from, to, threshold], |r| Ok((count(r.get(0)?), count(r.get(1)?))))?;
    Ok(ServiceLevel { in_time, counted })
}

impl Storage {
    /// The oldest caller waiting or being connected in each queue, in language order.
    #[tracing::instrument(skip(self))]
    pub async fn waiting_since(&self) -> Result<Vec<WaitingSince>, StorageError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT language, min(joined_at) FROM queue_entries \
                 WHERE state IN ('waiting', 'connecting') GROUP BY language ORDER BY language",
            )?;
            let rows =
                stmt.query_map((), |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            rows.map(|row| {
                let (language, since) = row?;
                Ok(WaitingSince { language, since: decode_time(&since)? })
            })
            .collect()
        })
        .await
    }

    /// How the queue went in `[from, to)`, the line's day (see [`QueueDay`] for what each
    /// figure counts); the service level's threshold is `service_level_secs`.
    #[tracing::instrument(skip(self))]
    pub async fn queue_day(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        service_level_secs: u64,
    ) -> Result<QueueDay, StorageError> {
        let (from, to) = (db_time(from), db_time(to));
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let calls = calls_by_language(&tx, &from, &to)?;
            let (reached_queue, abandoned) = tx
                .prepare_cached(
                    "SELECT count(DISTINCT e.case_id), \
                            count(DISTINCT CASE WHEN c.outcome = 'abandoned-in-queue' \
                                                THEN e.case_id END) \
                     FROM queue_entries e JOIN cases c ON c.id = e.case_id \
                     WHERE e.joined_at >= ?1 AND e.joined_at < ?2 \
                       AND e.state IN ('bridged', 'left')",
                )?
                .query_row(params![from, to], |r| Ok((count(r.get(0)?), count(r.get(1)?))))?;
            let (answered, mean_wait_secs, talks, mean_talk_secs) = tx
                // Each span at least 0: a bridge time taken from the operator's side can come
                // out a moment before the join.
                .prepare_cached(
                    "SELECT count(DISTINCT case_id), \
                            avg(max(0.0, (julianday(bridged_at) - julianday(joined_at)) * 86400)), \
                            count(ended_at), \
                            avg(max(0.0, (julianday(ended_at) - julianday(bridged_at)) * 86400)) \
                     FROM queue_entries WHERE bridged_at >= ?1 AND bridged_at < ?2",
                )?
                .query_row(params![from, to], |r| {
                    Ok((
                        count(r.get(0)?),
                        r.get::<_, Option<f64>>(1)?,
                        count(r.get(2)?),
                        r.get::<_, Option<f64>>(3)?,
                    ))
                })?;
            let service = service_level(&tx, &from, &to, service_level_secs)?;
            tx.finish()?;
            Ok(QueueDay {
                calls,
                reached_queue,
                abandoned,
                answered,
                mean_wait_secs,
                talks,
                mean_talk_secs,
                service,
            })
        })
        .await
    }

    /// Calls per bucket and language, the buckets `[bounds[i], bounds[i + 1])` (the line's
    /// local hours or days: their lengths differ across a change of summer time), oldest
    /// first; a bucket's languages without calls are absent. One range of the index per
    /// bucket, in one read.
    #[tracing::instrument(skip_all)]
    pub async fn calls_per(
        &self,
        bounds: &[DateTime<Utc>],
    ) -> Result<Vec<CallCount>, StorageError> {
        let bounds: Vec<(DateTime<Utc>, String)> =
            bounds.iter().map(|b| (*b, db_time(*b))).collect();
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let mut counts = Vec::new();
            for pair in bounds.windows(2) {
                let [(bucket, from), (_, to)] = pair else { continue };
                for (language, calls) in calls_by_language(&tx, from, to)? {
                    counts.push(CallCount { bucket: *bucket, language, calls });
                }
            }
            tx.finish()?;
            Ok(counts)
        })
        .await
    }

    /// The service level of each bucket `[bounds[i], bounds[i + 1])`, by the time callers
    /// joined the queue, with a threshold of `threshold_secs`.
    #[tracing::instrument(skip(self, bounds))]
    pub async fn service_levels(
        &self,
        bounds: &[DateTime<Utc>],
        threshold_secs: u64,
    ) -> Result<Vec<ServiceLevel>, StorageError> {
        let bounds: Vec<String> = bounds.iter().map(|b| db_time(*b)).collect();
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let levels = bounds
                .windows(2)
                .map(|pair| service_level(&tx, &pair[0], &pair[1], threshold_secs))
                .collect::<Result<Vec<_>, _>>()?;
            tx.finish()?;
            Ok(levels)
        })
        .await
    }
}
