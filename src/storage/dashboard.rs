//! What the supervisors' wall board reads beyond the operations gauges ([`Storage::gauges`],
//! which it shows as well): since when the oldest caller of each queue has waited, how a day's
//! queue went (abandonment, waits, talk), and calls per hour or per day and language for its
//! charts. Counts and durations only, never a case, a number or a call id.
//!
//! Every query reads a range of an index (`0009_dashboard.sql` says which and why), so the
//! board stays cheap with a million cases; `cargo bench --bench wallboard` prints the plans
//! and the times.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use rusqlite::params;

use super::StorageError;
use super::sqlite::{Storage, db_time, decode_time};
use crate::domain::dashboard::{CallCount, Period, QueueDay, WaitingSince};

/// How stored times are cut into a chart's buckets: storage's side of [`Period`].
impl Period {
    /// The characters of a stored time that name its bucket (`2026-11-27T05`, `2026-11-27`).
    fn prefix_len(self) -> usize {
        match self {
            Period::Hour => 13,
            Period::Day => 10,
        }
    }

    /// The start of the bucket a prefix names.
    fn parse(self, prefix: &str) -> Result<DateTime<Utc>, StorageError> {
        let bad =
            |e: chrono::ParseError| StorageError::Data(format!("stored time {prefix:?}: {e}"));
        Ok(match self {
            Period::Hour => {
                NaiveDateTime::parse_from_str(&format!("{prefix}:00"), "%Y-%m-%dT%H:%M")
                    .map_err(bad)?
                    .and_utc()
            }
            Period::Day => NaiveDate::parse_from_str(prefix, "%Y-%m-%d")
                .map_err(bad)?
                .and_time(chrono::NaiveTime::MIN)
                .and_utc(),
        })
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
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
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            rows.map(|row| {
                let (language, since) = row?;
                Ok(WaitingSince { language, since: decode_time(&since)? })
            })
            .collect()
        })
        .await
    }

    /// How the queue went on the UTC day that starts at `day` (see [`QueueDay`] for what
    /// each figure counts).
    #[tracing::instrument(skip(self))]
    pub async fn queue_day(&self, day: DateTime<Utc>) -> Result<QueueDay, StorageError> {
        let (from, to) = (db_time(day), db_time(day + Duration::days(1)));
        self.read(move |conn| {
            let tx = conn.transaction()?;
            // `+language`: grouping on the (language, started_at) index would walk all of it
            // to skip the sort of a day's few hundred rows.
            let calls = tx
                .prepare_cached(
                    "SELECT language, count(*) FROM cases \
                     WHERE started_at >= ?1 AND started_at < ?2 AND channel = 'voice' \
                     GROUP BY +language ORDER BY +language",
                )?
                .query_map(params![from, to], |r| {
                    Ok((r.get::<_, Option<String>>(0)?, count(r.get(1)?)))
                })?
                .collect::<Result<Vec<_>, _>>()?;
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
            tx.finish()?;
            Ok(QueueDay {
                calls,
                reached_queue,
                abandoned,
                answered,
                mean_wait_secs,
                talks,
                mean_talk_secs,
            })
        })
        .await
    }

    /// Calls per `period` and language that started in `[from, to)`, oldest bucket first;
    /// buckets without calls are absent. `from` should be the start of a bucket.
    #[tracing::instrument(skip(self))]
    pub async fn calls_per(
        &self,
        period: Period,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallCount>, StorageError> {
        let (from, to) = (db_time(from), db_time(to));
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT substr(started_at, 1, ?3), language, count(*) FROM cases \
                 WHERE started_at >= ?1 AND started_at < ?2 AND channel = 'voice' \
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )?;
            let len = i64::try_from(period.prefix_len()).unwrap_or(13);
            let rows = stmt.query_map(params![from, to, len], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, i64>(2)?))
            })?;
            rows.map(|row| {
                let (prefix, language, calls) = row?;
                Ok(CallCount { bucket: period.parse(&prefix)?, language, calls: count(calls) })
            })
            .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn buckets_are_utc_hours_and_days() {
        let t = at("2026-11-27T05:59:59.999999999Z");
        assert_eq!(Period::Hour.floor(t), at("2026-11-27T05:00:00Z"));
        assert_eq!(Period::Day.floor(t), at("2026-11-27T00:00:00Z"));
        assert_eq!(Period::Hour.parse("2026-11-27T05").unwrap(), at("2026-11-27T05:00:00Z"));
        assert_eq!(Period::Day.parse("2026-11-27").unwrap(), at("2026-11-27T00:00:00Z"));
        assert!(Period::Hour.parse("2026-11-27T5x").is_err());
        assert_eq!(&db_time(t)[..Period::Hour.prefix_len()], "2026-11-27T05");
    }

    #[test]
    fn abandonment_needs_someone_in_the_queue() {
        let mut day = QueueDay::default();
        assert_eq!(day.abandonment(), None);
        day.reached_queue = 4;
        day.abandoned = 1;
        assert_eq!(day.abandonment(), Some(0.25));
    }
}
