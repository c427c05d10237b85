//! The metrics registry behind `GET /metrics` (Prometheus' text format, OpenMetrics
//! flavour), and the readiness check behind `GET /readyz` (the database takes writes and the
//! scripts are loaded: send calls here). The routes themselves are HTTP's operations module.
//!
//! What the registry holds is counts only — requests per route group and status class,
//! webhook latency per route, calls in the IVR, callers waiting per language, operators per
//! state, cases opened per channel, today's cases per outcome, database write latency, the
//! journal's backlog, signature failures, rate-limited requests, the build and the process —
//! never a number, a call id or a case. Counts still say how busy the line is and with whom,
//! which is why the route is off unless `metrics.token_sha256` is set.
//!
//! Every series a label can take exists from the start, at 0: a dashboard's `rate()` and an
//! alert on a series that has never moved work before the first call. The route groups are
//! HTTP's (`http/operations.rs` names them when it wraps the application); the states are the
//! domain's, listed here.
//!
//! Requests, webhook latencies, signature failures and rate-limited requests are counted as
//! responses go by, by a layer around the whole application, so the handlers know nothing of
//! metrics. The gauges are read from the database at each scrape ([`App::render_metrics`]),
//! and so are the operator line's PIN locks; the process's figures are read from `/proc` at
//! each scrape (Linux only: elsewhere they are left out).

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::app::App;
use crate::domain::conversation::Channel;
use crate::domain::queue::PresenceState;
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

/// The status classes of `hotline_http_requests_total`. A handler's final answer is never
/// `1xx`, so anything below 300 is a success.
const STATUS_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];
/// The presence states, as the `state` label of `hotline_operators`.
const PRESENCE_STATES: [PresenceState; 5] = [
    PresenceState::Offline,
    PresenceState::Available,
    PresenceState::OnCall,
    PresenceState::WrapUp,
    PresenceState::Break,
];
/// Where a case's path ended, as stored (`db/migrations/0001_cases.sql`), as the `outcome`
/// label of `hotline_cases_today`.
const STORED_OUTCOMES: [&str; 6] =
    ["in-progress", "finished", "abandoned", "handed-off", "abandoned-in-queue", "voicemail"];
/// The kinds of operator-line locks, as the `kind` label of `hotline_pin_locks`.
const PIN_LOCK_KINDS: [&str; 3] = ["operator-id", "number", "withheld"];

/// One label: name and value.
type Labels = Vec<(&'static str, String)>;
/// The labels of a series counted on every request, all static: nothing is allocated to
/// find it.
type RouteLabels<const N: usize> = [(&'static str, &'static str); N];

/// The label set of one series with one label.
fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_owned())]
}

/// A count as a gauge's value, saturated.
fn gauge_value(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

/// The server's metrics. Counters and histograms are updated as requests go by; gauges are
/// refreshed from the database at each scrape.
pub struct Metrics {
    registry: Registry,
    /// Every request answered, per route group and status class.
    requests: Family<RouteLabels<2>, Counter>,
    webhook_latency: Family<RouteLabels<1>, Histogram, fn() -> Histogram>,
    write_latency: Histogram,
    signature_failures: Counter,
    rate_limited: Counter,
    /// Cases opened since start, per channel: a dashboard's "today" is its `increase()`.
    cases_opened: Family<Labels, Counter>,
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
    /// 1 while this server is on duty (`duty.rs`): set by the rota, not read at scrapes.
    on_duty: Gauge,
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
    /// Every metric, registered, and every series of a known label value at zero.
    pub fn new() -> Metrics {
        let mut root = Registry::default();
        // Prometheus' standard names, unprefixed, so the usual process dashboards work as is.
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("hotline");
        registry.register(
            "build",
            "The running build: its version (the crate's)",
            Info::new(label("version", env!("CARGO_PKG_VERSION"))),
        );
        let requests = Family::<RouteLabels<2>, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, per route group and status class (2xx, 3xx, 4xx, 5xx)",
            requests.clone(),
        );
        let webhook_latency =
            Family::<RouteLabels<1>, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
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
        let cases_opened = Family::<Labels, Counter>::default();
        registry.register(
            "cases_opened",
            "Cases opened since the server started, per channel (a new call, a new conversation)",
            cases_opened.clone(),
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
            "Cases opened since midnight UTC, per outcome so far (for counts over time: \
             hotline_cases_opened_total)",
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
        let on_duty = Gauge::default();
        registry.register(
            "on_duty",
            "1 while this server runs the duties (purge, publication, outbox, ringing) for all \
             servers sharing the database, else 0",
            on_duty.clone(),
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
        // The series whose label values the domain knows, at zero until they move.
        for channel in Channel::ALL {
            // Created is enough: a series exists from its first `get_or_create`.
            let _ = cases_opened.get_or_create(&label("channel", channel.as_str()));
        }
        for state in PRESENCE_STATES {
            let _ = operators.get_or_create(&label("state", state.as_str()));
        }
        for outcome in STORED_OUTCOMES {
            let _ = cases_today.get_or_create(&label("outcome", outcome));
        }
        for kind in PIN_LOCK_KINDS {
            let _ = pin_locks.get_or_create(&label("kind", kind));
        }
        Metrics {
            registry: root,
            requests,
            cases_opened,
            outbox_pending,
            on_duty,
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

    /// Whether this server is on duty now.
    pub fn set_on_duty(&self, on: bool) {
        self.on_duty.set(i64::from(on));
    }

    /// Creates the series of every route group a request can be counted under, each status
    /// class at zero, so a route's rate exists before its first request. `routes` is a
    /// closed set: a stranger's requests must not create series without end.
    pub fn expect_routes(&self, routes: &[&'static str]) {
        for route in routes {
            for class in STATUS_CLASSES {
                let _ = self.requests.get_or_create(&request_labels(route, class));
            }
        }
    }

    /// Creates the latency series of every webhook route, empty.
    pub fn expect_webhooks(&self, routes: &[&'static str]) {
        for route in routes {
            let _ = self.webhook_latency.get_or_create(&[("route", route)]);
        }
    }

    /// Counts a request answered with `status`, under its route group (one of those given
    /// to [`Metrics::expect_routes`]).
    pub fn count_request(&self, route: &'static str, status: u16) {
        let class = match status {
            ..=299 => STATUS_CLASSES[0],
            300..=399 => STATUS_CLASSES[1],
            400..=499 => STATUS_CLASSES[2],
            _ => STATUS_CLASSES[3],
        };
        self.requests.get_or_create(&request_labels(route, class)).inc();
    }

    /// Counts a case opened on `channel`.
    pub fn case_opened(&self, channel: Channel) {
        self.cases_opened.get_or_create(&label("channel", channel.as_str())).inc();
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

    /// Records the time a webhook took to answer, under its route's label (one of those
    /// given to [`Metrics::expect_webhooks`]).
    pub fn observe_webhook(&self, route: &'static str, took: Duration) {
        self.webhook_latency.get_or_create(&[("route", route)]).observe(took.as_secs_f64());
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

/// The labels of one series of `hotline_http_requests_total`.
fn request_labels(route: &'static str, class: &'static str) -> RouteLabels<2> {
    [("route", route), ("status", class)]
}

/// The process's figures under Prometheus' standard names (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`,
/// `process_start_time_seconds`), read at each scrape. A figure that cannot be read is left
/// out rather than shown as 0.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = process::Figures::now();
        let mut write = |name: &str, help: &str, metric: &dyn EncodeMetric| {
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        if let Some(seconds) = now.cpu_seconds {
            let help = "Total user and system CPU time spent in seconds";
            write("process_cpu_seconds", help, &ConstCounter::new(seconds))?;
        }
        if let Some(bytes) = now.resident_bytes {
            let help = "Resident memory size in bytes";
            write("process_resident_memory_bytes", help, &ConstGauge::new(gauge_value(bytes)))?;
        }
        if let Some(open) = now.open_fds {
            let help = "Number of open file descriptors";
            write("process_open_fds", help, &ConstGauge::new(gauge_value(open)))?;
        }
        if let Some(max) = now.max_fds {
            let help = "Maximum number of open file descriptors";
            write("process_max_fds", help, &ConstGauge::new(gauge_value(max)))?;
        }
        if let Some(start) = now.start_time_seconds {
            let help = "Start time of the process since unix epoch in seconds";
            write("process_start_time_seconds", help, &ConstGauge::new(start))?;
        }
        Ok(())
    }
}

/// The process's figures, from `/proc` on Linux; none elsewhere.
mod process {
    /// What the process collector shows; `None`: it could not be read.
    #[derive(Debug, Default, Clone, Copy, PartialEq)]
    pub(super) struct Figures {
        /// User and system CPU time, in seconds.
        pub cpu_seconds: Option<f64>,
        /// Resident memory, in bytes.
        pub resident_bytes: Option<u64>,
        /// File descriptors open now.
        pub open_fds: Option<u64>,
        /// The soft limit of open file descriptors (none when unlimited).
        pub max_fds: Option<u64>,
        /// When the process started, in seconds since the Unix epoch.
        pub start_time_seconds: Option<f64>,
    }

    impl Figures {
        /// The figures of this process now.
        #[cfg(target_os = "linux")]
        pub(super) fn now() -> Figures {
            let read = |path: &str| std::fs::read_to_string(path).ok();
            let ticks = rustix::param::clock_ticks_per_second();
            let stat = read("/proc/self/stat").and_then(|text| procfs::Stat::parse(&text));
            let boot = read("/proc/stat").and_then(|text| procfs::boot_time(&text));
            Figures {
                cpu_seconds: stat.and_then(|stat| stat.cpu_seconds(ticks)),
                resident_bytes: read("/proc/self/status")
                    .and_then(|text| procfs::resident_bytes(&text)),
                open_fds: std::fs::read_dir("/proc/self/fd")
                    .ok()
                    .and_then(|entries| u64::try_from(entries.count()).ok()),
                max_fds: read("/proc/self/limits").and_then(|text| procfs::max_open_files(&text)),
                start_time_seconds: stat
                    .zip(boot)
                    .and_then(|(stat, boot)| stat.start_time_seconds(boot, ticks)),
            }
        }

        /// Nothing: only Linux has `/proc` as read here.
        #[cfg(not(target_os = "linux"))]
        pub(super) fn now() -> Figures {
            Figures::default()
        }
    }

    /// Readers of `/proc`'s texts. Each takes the whole text and answers `None` for anything
    /// it does not recognise: a kernel's odd answer leaves a figure out, never a scrape.
    #[cfg(target_os = "linux")]
    pub(super) mod procfs {
        /// What `/proc/self/stat` says of CPU time and start, in clock ticks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Stat {
            /// Ticks in user mode (field 14).
            pub user: u64,
            /// Ticks in kernel mode (field 15).
            pub system: u64,
            /// Ticks from boot to the start (field 22).
            pub start: u64,
        }

        impl Stat {
            /// Reads the fields after the command's name, which is in parentheses and may
            /// itself hold spaces and parentheses: its last `)` ends it.
            pub fn parse(text: &str) -> Option<Stat> {
                let (_, rest) = text.rsplit_once(')')?;
                // `rest` starts at field 3 (the state).
                let fields: Vec<&str> = rest.split_whitespace().take(20).collect();
                let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
                Some(Stat { user: field(14)?, system: field(15)?, start: field(22)? })
            }

            /// User and system time, in seconds.
            pub fn cpu_seconds(self, ticks_per_second: u64) -> Option<f64> {
                let ticks = self.user.checked_add(self.system)?;
                (ticks_per_second > 0).then(|| ticks as f64 / ticks_per_second as f64)
            }

            /// The start, in seconds since the Unix epoch, given the boot's.
            pub fn start_time_seconds(self, boot: u64, ticks_per_second: u64) -> Option<f64> {
                (ticks_per_second > 0)
                    .then(|| boot as f64 + self.start as f64 / ticks_per_second as f64)
            }
        }

        /// The boot time in seconds since the Unix epoch: `btime` of `/proc/stat`.
        pub fn boot_time(text: &str) -> Option<u64> {
            text.lines().find_map(|line| line.strip_prefix("btime "))?.trim().parse().ok()
        }

        /// Resident memory in bytes: `VmRSS` of `/proc/self/status`, in kB.
        pub fn resident_bytes(text: &str) -> Option<u64> {
            let value = text.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
            let mut words = value.split_whitespace();
            let kib: u64 = words.next()?.parse().ok()?;
            (words.next() == Some("kB")).then_some(())?;
            kib.checked_mul(1024)
        }

        /// The soft limit of open files: `Max open files` of `/proc/self/limits` (`None` when
        /// unlimited).
        pub fn max_open_files(text: &str) -> Option<u64> {
            let value = text.lines().find_map(|line| line.strip_prefix("Max open files"))?;
            value.split_whitespace().next()?.parse().ok()
        }
    }
}

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
        // Every loaded language has a series, at zero when nobody waits, so a graph does not
        // break off when a queue empties (nor starts late when the database is down).
        let languages: Vec<String> =
            self.live().live().set.scripts.keys().map(|l| l.as_str().to_owned()).collect();
        match self.storage().gauges(midnight, since).await {
            Ok(gauges) => {
                metrics.database_up.set(1);
                metrics.in_ivr.set(gauge_value(gauges.in_ivr));
                let states = PRESENCE_STATES.map(|state| state.as_str().to_owned());
                let outcomes = STORED_OUTCOMES.map(str::to_owned);
                for (family, name, known, counts) in [
                    (&metrics.waiting, "language", &languages[..], &gauges.waiting),
                    (&metrics.operators, "state", &states[..], &gauges.operators),
                    (&metrics.cases_today, "outcome", &outcomes[..], &gauges.today),
                ] {
                    // Cleared, so a language no longer loaded goes; every known value back
                    // at zero before the counts.
                    family.clear();
                    for value in known {
                        family.get_or_create(&label(name, value)).set(0);
                    }
                    for (value, count) in counts {
                        family.get_or_create(&label(name, value)).set(gauge_value(*count));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: the gauges could not be read from the database");
                metrics.database_up.set(0);
                for language in &languages {
                    let _ = metrics.waiting.get_or_create(&label("language", language));
                }
            }
        }
        match self.storage().pin_locks(now).await {
            Ok(locks) => {
                for kind in PIN_LOCK_KINDS {
                    let count = locks.iter().filter(|lock| lock.key.kind() == kind).count();
                    metrics.pin_locks.get_or_create(&label("kind", kind)).set(gauge_value(count));
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: the PIN locks could not be read"),
        }
        match self.storage().outbox_counts().await {
            Ok(counts) => {
                metrics.outbox_pending.set(gauge_value(counts.pending));
            }
            Err(error) => tracing::warn!(%error, "metrics: the outbox could not be counted"),
        }
        let recorder = self.recorder();
        if let Some(pending) = recorder.pending_now() {
            metrics.journal_backlog.set(gauge_value(pending));
        }
        if let Some(reserve) = recorder.reserve_now() {
            metrics.journal_reserve_used.set(gauge_value(reserve.used));
            metrics.journal_reserve.set(gauge_value(reserve.capacity));
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
    fn a_fresh_registry_encodes_every_metric_and_every_known_state_at_zero() {
        let text = Metrics::new().encode();
        for line in [
            "hotline_signature_failures_total 0",
            "hotline_journal_backlog_records 0",
            "hotline_outbox_pending 0",
            "hotline_outbox_sent_total 0",
            "hotline_outbox_failed_total 0",
            "hotline_cases_opened_total{channel=\"voice\"} 0",
            "hotline_cases_opened_total{channel=\"whatsapp\"} 0",
            "hotline_operators{state=\"wrap-up\"} 0",
            "hotline_cases_today{outcome=\"abandoned-in-queue\"} 0",
            "hotline_pin_locks{kind=\"withheld\"} 0",
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} missing:\n{text}");
        }
        let version = env!("CARGO_PKG_VERSION");
        assert!(text.contains(&format!("hotline_build_info{{version=\"{version}\"}} 1\n")));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn routes_and_cases_are_counted_where_they_are_expected() {
        let metrics = Metrics::new();
        metrics.expect_routes(&["/api/cases"]);
        metrics.expect_webhooks(&["menu"]);
        let text = metrics.encode();
        for class in STATUS_CLASSES {
            let line = format!(
                "hotline_http_requests_total{{route=\"/api/cases\",status=\"{class}\"}} 0\n"
            );
            assert!(text.contains(&line), "{line} missing:\n{text}");
        }
        assert!(text.contains("hotline_webhook_duration_seconds_count{route=\"menu\"} 0\n"));
        for status in [0, 100, 200, 204, 303, 404, 429, 500, 599, 999, u16::MAX] {
            metrics.count_request("/api/cases", status);
        }
        metrics.case_opened(Channel::Telegram);
        let text = metrics.encode();
        for (class, count) in [("2xx", 4), ("3xx", 1), ("4xx", 2), ("5xx", 4)] {
            let line = format!(
                "hotline_http_requests_total{{route=\"/api/cases\",status=\"{class}\"}} {count}\n"
            );
            assert!(text.contains(&line), "{line} missing:\n{text}");
        }
        assert!(text.contains("hotline_cases_opened_total{channel=\"telegram\"} 1\n"));
        assert!(text.contains("hotline_cases_opened_total{channel=\"sms\"} 0\n"));
    }

    #[test]
    fn every_presence_state_is_listed() {
        for state in PRESENCE_STATES {
            // A state added to the domain fails to compile here until it is listed above.
            match state {
                PresenceState::Offline
                | PresenceState::Available
                | PresenceState::OnCall
                | PresenceState::WrapUp
                | PresenceState::Break => {}
            }
            assert_eq!(PresenceState::parse(state.as_str()), Some(state));
        }
        let names: std::collections::BTreeSet<&str> =
            PRESENCE_STATES.map(PresenceState::as_str).into();
        assert_eq!(names.len(), PRESENCE_STATES.len(), "a state listed twice: {names:?}");
    }

    #[test]
    fn the_outcomes_listed_are_those_the_database_allows() {
        let sql = include_str!("../../db/migrations/0001_cases.sql");
        let (_, rest) = sql.split_once("CHECK (outcome IN (").unwrap();
        let (list, _) = rest.split_once("))").unwrap();
        let allowed: Vec<&str> =
            list.split(',').map(|name| name.trim().trim_matches('\'')).collect();
        assert_eq!(allowed, STORED_OUTCOMES);
        // A later migration that changed the list would have to be read here instead.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("db/migrations");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let first = path.ends_with("0001_cases.sql");
            assert_eq!(text.contains("outcome IN ("), first, "{}", path.display());
        }
    }

    #[test]
    fn this_process_has_its_figures_on_linux() {
        let now = process::Figures::now();
        if cfg!(target_os = "linux") {
            assert!(now.cpu_seconds.is_some_and(|s| s >= 0.0), "{now:?}");
            assert!(now.resident_bytes.is_some_and(|b| b > 1 << 20), "{now:?}");
            assert!(now.open_fds.is_some_and(|n| n >= 3), "{now:?}");
            let started = now.start_time_seconds.unwrap();
            let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            let age = clock.unwrap().as_secs_f64() - started;
            assert!((0.0..86_400.0).contains(&age), "started {age} s ago");
            let text = Metrics::new().encode();
            for name in [
                "# TYPE process_cpu_seconds counter\n",
                "process_cpu_seconds_total ",
                "process_resident_memory_bytes ",
                "process_open_fds ",
                "process_start_time_seconds ",
            ] {
                assert!(text.contains(name), "{name} missing:\n{text}");
            }
        } else {
            assert_eq!(now, process::Figures::default());
        }
    }

    #[cfg(target_os = "linux")]
    mod procfs {
        use super::super::process::procfs::*;

        #[test]
        fn stat_is_read_past_a_name_with_spaces_and_parentheses() {
            let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 800 0 0 0 150 25 0 0 20 0 \
                        9 0 123456 1000000 500 18446744073709551615";
            let stat = Stat::parse(line).unwrap();
            assert_eq!(stat, Stat { user: 150, system: 25, start: 123456 });
            assert_eq!(stat.cpu_seconds(100), Some(1.75));
            assert_eq!(stat.start_time_seconds(1_700_000_000, 100), Some(1_700_001_234.56));
            assert_eq!(stat.cpu_seconds(0), None);
            assert_eq!(stat.start_time_seconds(1, 0), None);
            let most = Stat { user: u64::MAX, system: 1, start: 0 };
            assert_eq!(most.cpu_seconds(100), None);
        }

        #[test]
        fn odd_texts_leave_a_figure_out() {
            let huge = "9".repeat(100_000);
            for text in [
                "",
                "4242 no parenthesis S 1 2 3",
                "4242 (short) S 1 2",
                "4242 (x) S 1 4242 4242 0 -1 4194560 800 0 0 0 -150 25 0 0 20 0 9 0 1",
                "4242 (x) S 1 4242 4242 0 -1 4194560 800 0 0 0 1\u{fc} 25 0 0 20 0 9 0 1",
                huge.as_str(),
            ] {
                assert_eq!(Stat::parse(text), None, "{:?}", &text[..text.len().min(40)]);
            }
            for text in ["", "cpu 1 2 3\n", "btime\n", "btime x\n", "btime -5\n", huge.as_str()] {
                assert_eq!(boot_time(text), None, "{:?}", &text[..text.len().min(40)]);
            }
            for text in [
                "",
                "VmRSS:\n",
                "VmRSS:  12 MB\n",
                "VmRSS:  x kB\n",
                "VmRSS:  99999999999999999999 kB\n",
                "VmRSS:  18446744073709551615 kB\n",
                huge.as_str(),
            ] {
                assert_eq!(resident_bytes(text), None, "{:?}", &text[..text.len().min(40)]);
            }
            for text in ["", "Max open files\n", "Max open files  unlimited  unlimited  files\n"] {
                assert_eq!(max_open_files(text), None, "{text:?}");
            }
        }

        #[test]
        fn the_kernels_texts_are_read() {
            assert_eq!(
                boot_time("cpu  1 2 3\nintr 5\nbtime 1765000000\nprocesses 9\n"),
                Some(1_765_000_000)
            );
            let status = "Name:\thotline\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
            assert_eq!(resident_bytes(status), Some(12345 * 1024));
            let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                          Max processes             63408                63408                processes \n\
                          Max open files            1024                 524288               files     \n";
            assert_eq!(max_open_files(limits), Some(1024));
        }
    }
}
