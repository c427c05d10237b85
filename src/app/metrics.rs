//! The metrics registry behind `GET /metrics` (Prometheus' text format, OpenMetrics
//! flavour), and the readiness check behind `GET /readyz` (the database takes writes and the
//! scripts are loaded: send calls here). The routes themselves are HTTP's operations module.
//!
//! What the registry holds is counts only — webhook latency per route, calls in the IVR,
//! callers waiting per language, operators per state, today's cases per outcome, database
//! write latency, the journal's backlog, signature failures, rate-limited requests — never a
//! number, a call id or a case. Counts still say how busy the line is and with whom, which is
//! why the route is off unless `metrics.token_sha256` is set.
//!
//! Webhook latencies, signature failures and rate-limited requests are counted as responses
//! go by, by a layer around the whole application, so the handlers know nothing of metrics.
//! The gauges are read from the database at each scrape ([`App::render_metrics`]), and so
//! are the operator line's PIN locks.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::app::App;
use crate::storage::{LOG_MOST_BYTES, WriteObserver};

/// Webhook and write latency buckets, in seconds: fine below 10 ms, where the line should be,
/// coarse up to the 5 s webhook deadline.
const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// A call started longer ago without an end is a lost status callback, not a call in the IVR.
const LONGEST_CALL_HOURS: i64 = 4;
/// The longest `/readyz` waits for the database's write lock.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes in a mebibyte, for the disk room `/readyz` reports.
const MIB: u64 = 1 << 20;

/// One label: name and value.
type Labels = Vec<(&'static str, String)>;

/// The server's metrics. Counters and histograms are updated as requests go by; gauges are
/// refreshed from the database at each scrape.
pub struct Metrics {
    registry: Registry,
    webhook_latency: Family<Labels, Histogram, fn() -> Histogram>,
    write_latency: Histogram,
    signature_failures: Counter,
    rate_limited: Counter,
    in_ivr: Gauge,
    waiting: Family<Labels, Gauge>,
    operators: Family<Labels, Gauge>,
    cases_today: Family<Labels, Gauge>,
    journal_backlog: Gauge,
    /// Bytes of the journal's reserve holding records: the alarm is at half of the next.
    journal_reserve_used: Gauge,
    /// Bytes the journal owns on disk.
    journal_reserve: Gauge,
    database_up: Gauge,
    /// Operator-line locks of the moment, per kind of key: someone may be guessing PINs.
    pin_locks: Family<Labels, Gauge>,
    /// Text-channel messages waiting to be delivered, and those delivered and given up on
    /// since start (`app/outbox.rs`).
    outbox_pending: Gauge,
    outbox_sent: Counter,
    outbox_failed: Counter,
    /// One scrape at a time: a scrape clears and refills the gauge families.
    scraping: tokio::sync::Mutex<()>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hotline");
        let webhook_latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "webhook_duration_seconds",
            "Time to answer a provider webhook, per route",
            webhook_latency.clone(),
        );
        let write_latency = latency_histogram();
        registry.register(
            "database_write_duration_seconds",
            "Time to write one call record to the database (slower than the write deadline: journaled)",
            write_latency.clone(),
        );
        let signature_failures = Counter::default();
        registry.register(
            "signature_failures",
            "Webhook requests refused for a missing or wrong provider signature",
            signature_failures.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused by a rate limit (answered 429)",
            rate_limited.clone(),
        );
        let in_ivr = Gauge::default();
        registry.register(
            "calls_in_ivr",
            "Calls in progress that have not reached an operator's queue",
            in_ivr.clone(),
        );
        let waiting = Family::<Labels, Gauge>::default();
        registry.register(
            "callers_waiting",
            "Callers waiting for an operator, per language queue",
            waiting.clone(),
        );
        let operators = Family::<Labels, Gauge>::default();
        registry.register("operators", "Operators per presence state", operators.clone());
        let cases_today = Family::<Labels, Gauge>::default();
        registry.register(
            "cases_today",
            "Cases opened since midnight UTC, per outcome",
            cases_today.clone(),
        );
        let journal_backlog = Gauge::default();
        registry.register(
            "journal_backlog_records",
            "Records in the journal waiting for the database",
            journal_backlog.clone(),
        );
        let journal_reserve_used = Gauge::default();
        registry.register(
            "journal_reserve_used_bytes",
            "Bytes of the journal's reserve holding records; /readyz fails past half of it",
            journal_reserve_used.clone(),
        );
        let journal_reserve = Gauge::default();
        registry.register(
            "journal_reserve_bytes",
            "Bytes the journal owns on disk (database.journal_reserve_mb, or less when the disk \
             had no room at start)",
            journal_reserve.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "database_up",
            "1 when the last scrape could read the gauges from the database, else 0",
            database_up.clone(),
        );
        let pin_locks = Family::<Labels, Gauge>::default();
        registry.register(
            "pin_locks",
            "Operator IDs and calling numbers locked out of the operator line by wrong PINs now, \
             per kind (operator-id, number, withheld)",
            pin_locks.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Text-channel messages waiting to be delivered (or being delivered)",
            outbox_pending.clone(),
        );
        let outbox_sent = Counter::default();
        registry.register(
            "outbox_sent",
            "Text-channel messages the channel took",
            outbox_sent.clone(),
        );
        let outbox_failed = Counter::default();
        registry.register(
            "outbox_failed",
            "Text-channel messages given up on (refused by the channel, or out of attempts)",
            outbox_failed.clone(),
        );
        Metrics {
            registry,
            outbox_pending,
            outbox_sent,
            outbox_failed,
            pin_locks,
            webhook_latency,
            write_latency,
            signature_failures,
            rate_limited,
            in_ivr,
            waiting,
            operators,
            cases_today,
            journal_backlog,
            journal_reserve_used,
            journal_reserve,
            database_up,
            scraping: tokio::sync::Mutex::new(()),
        }
    }

    /// The counter of rate-limited requests: any `429`.
    pub fn rate_limited(&self) -> &Counter {
        &self.rate_limited
    }

    /// The counter of text-channel messages delivered.
    pub fn outbox_sent(&self) -> &Counter {
        &self.outbox_sent
    }

    /// The counter of text-channel messages given up on.
    pub fn outbox_failed(&self) -> &Counter {
        &self.outbox_failed
    }

    /// What the [`Recorder`] calls with the time of each database write.
    pub fn write_observer(&self) -> WriteObserver {
        let histogram = self.write_latency.clone();
        Arc::new(move |took: Duration| histogram.observe(took.as_secs_f64()))
    }

    /// The counter of signature failures: webhook requests refused with a `403`.
    pub fn signature_failures(&self) -> &Counter {
        &self.signature_failures
    }

    /// Records the time a webhook took to answer, under its route's label (a closed set:
    /// a stranger's requests must not create series without end).
    pub fn observe_webhook(&self, route: &'static str, took: Duration) {
        self.webhook_latency
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(took.as_secs_f64());
    }

    /// Every metric as it stands, in the exposition format, without refreshing the gauges.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            // Writing to a String cannot fail; an empty answer beats a panic all the same.
            text.clear();
        }
        text
    }
}

/// The kinds of operator-line locks, as the `kind` label of `hotline_pin_locks`.
const PIN_LOCK_KINDS: [&str; 3] = ["operator-id", "number", "withheld"];

/// Why the instance should not be sent calls now; its text is the reason `/readyz` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// No script is loaded: a call would have nothing to play.
    #[error("no scripts loaded")]
    NoScripts,
    /// The journal could not reserve its whole room on disk at start.
    #[error("the disk had no room for the journal's whole reserve")]
    ReserveShort,
    /// The journal's reserve is filling: the database has been down a while.
    #[error("the journal's reserve is more than half used")]
    ReserveHalfUsed,
    /// The database's disk has less room than the write-ahead log may need before its next
    /// restart, so writes are about to fail even if one still commits now.
    #[error(
        "the database's disk is nearly full: {} MiB free, {} MiB needed",
        free / MIB,
        LOG_MOST_BYTES / MIB
    )]
    DiskFull {
        /// Bytes free on the disk.
        free: u64,
    },
    /// A write to the database failed.
    #[error("the database does not take writes")]
    NotWritable,
    /// A write did not get the database's lock in time.
    #[error("the database is busy")]
    Busy,
}

impl App {
    /// Refreshes the gauges (from the database, the journal and the live scripts) and writes
    /// every metric in the exposition format.
    pub async fn render_metrics(&self) -> String {
        let metrics = self.metrics();
        let _one_at_a_time = metrics.scraping.lock().await;
        let now = self.now();
        let midnight = now.date_naive().and_hms_opt(0, 0, 0).map_or(now, |t| t.and_utc());
        let since = now - Span::hours(LONGEST_CALL_HOURS);
        match self.storage().gauges(midnight, since).await {
            Ok(gauges) => {
                metrics.database_up.set(1);
                metrics.in_ivr.set(i64::try_from(gauges.in_ivr).unwrap_or(i64::MAX));
                // Every language has a series, at zero when nobody waits, so a graph does not
                // break off when a queue empties.
                metrics.waiting.clear();
                for language in self.live().live().set.scripts.keys() {
                    metrics
                        .waiting
                        .get_or_create(&vec![("language", language.as_str().to_owned())])
                        .set(0);
                }
                for (family, counts, label) in [
                    (&metrics.waiting, &gauges.waiting, "language"),
                    (&metrics.operators, &gauges.operators, "state"),
                    (&metrics.cases_today, &gauges.today, "outcome"),
                ] {
                    if label != "language" {
                        family.clear();
                    }
                    for (value, count) in counts {
                        family
                            .get_or_create(&vec![(label, value.clone())])
                            .set(i64::try_from(*count).unwrap_or(i64::MAX));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: the gauges could not be read from the database");
                metrics.database_up.set(0);
            }
        }
        match self.storage().pin_locks(now).await {
            Ok(locks) => {
                // Every kind has its series, at zero without a lock, so an alert can watch it.
                for kind in PIN_LOCK_KINDS {
                    let count = locks.iter().filter(|lock| lock.key.kind() == kind);
                    let count = i64::try_from(count.count()).unwrap_or(i64::MAX);
                    metrics.pin_locks.get_or_create(&vec![("kind", kind.to_owned())]).set(count);
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: the PIN locks could not be read"),
        }
        match self.storage().outbox_counts().await {
            Ok(counts) => {
                metrics.outbox_pending.set(i64::try_from(counts.pending).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::warn!(%error, "metrics: the outbox could not be counted"),
        }
        let recorder = self.recorder();
        if let Some(pending) = recorder.pending_now() {
            metrics.journal_backlog.set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
        if let Some(reserve) = recorder.reserve_now() {
            metrics.journal_reserve_used.set(i64::try_from(reserve.used).unwrap_or(i64::MAX));
            metrics.journal_reserve.set(i64::try_from(reserve.capacity).unwrap_or(i64::MAX));
        }
        metrics.encode()
    }

    /// Whether the instance can take calls now: the scripts are loaded, the journal's reserve
    /// is whole and at most half used, the database's disk has room for the write-ahead log
    /// to grow to its most, and a real write commits within [`READY_TIMEOUT`].
    pub async fn readiness(&self) -> Result<(), NotReady> {
        if self.live().live().set.scripts.is_empty() {
            return Err(NotReady::NoScripts);
        }
        // `None`: a record is being journaled right now; the next probe looks again.
        if let Some(reserve) = self.recorder().reserve_now()
            && !reserve.healthy()
        {
            let reason = if reserve.capacity < reserve.wanted {
                NotReady::ReserveShort
            } else {
                NotReady::ReserveHalfUsed
            };
            tracing::warn!(
                used_bytes = reserve.used,
                reserve_bytes = reserve.capacity,
                wanted_bytes = reserve.wanted,
                "readyz: {reason}"
            );
            return Err(reason);
        }
        match self.storage().disk_room().await {
            Ok(free) if free < LOG_MOST_BYTES => {
                tracing::warn!(free_bytes = free, "readyz: the database's disk is nearly full");
                return Err(NotReady::DiskFull { free });
            }
            Ok(_) => {}
            // The write below says whether the database works; this was only a forecast.
            Err(error) => tracing::warn!(%error, "readyz: the database's disk cannot be measured"),
        }
        match tokio::time::timeout(READY_TIMEOUT, self.storage().check_writable(self.now())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::warn!(%error, "readyz: the database does not take writes");
                Err(NotReady::NotWritable)
            }
            Err(_) => Err(NotReady::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_registry_encodes_every_metric() {
        let text = Metrics::new().encode();
        for name in [
            "hotline_signature_failures_total",
            "hotline_journal_backlog_records",
            "hotline_outbox_pending",
            "hotline_outbox_sent_total",
            "hotline_outbox_failed_total",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
