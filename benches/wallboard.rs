//! What the wall board costs with a million past cases: each of its reads, timed over many
//! runs, with the indexes of `0009_dashboard.sql` and then without them (dropped on the same
//! database), so the numbers show what the indexes buy. Prints; asserts nothing.
//! `cargo bench --bench wallboard` (about a minute: most of it seeding).
//!
//! The history is a busy line: a call a minute for 1,000,000 minutes (almost two years)
//! ending now, a fifth with no language chosen, a quarter reaching an operator queue, and
//! 30 callers waiting at the moment of the reads.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use hotline::domain::dashboard::Period;
use hotline::domain::line_time::LineZone;
use hotline::storage::{Storage, StorageOptions};

const CASES: u32 = 1_000_000;

/// The options the bench opens its database with: its data keys under a key of its own.
fn options() -> StorageOptions {
    StorageOptions::new(hotline::domain::secret::Secret::new(
        "the benchmark's callback key, 32 characters".into(),
    ))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.db");
        // Opening migrates the schema; the history is then written in bulk, in SQL.
        drop(Storage::open(&path, options()).await.unwrap());
        let seeding = Instant::now();
        seed(&path);
        println!(
            "seeded {CASES} cases ({} queue entries) in {:.1} s\n",
            count(&path, "queue_entries"),
            seeding.elapsed().as_secs_f64()
        );
        let storage = Storage::open(&path, options()).await.unwrap();
        println!("{:<52} {:>12} {:>12}", "read (1,000,000 cases)", "with 0009", "without");
        let with = reads(&storage).await;
        drop(storage);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP INDEX cases_by_started_at_language; DROP INDEX queue_entries_by_joined_at; \
             DROP INDEX queue_entries_open;",
        )
        .unwrap();
        drop(conn);
        let storage = Storage::open(&path, options()).await.unwrap();
        let without = reads(&storage).await;
        for ((label, with), (_, without)) in with.iter().zip(&without) {
            println!("{label:<52} {:>9.3} ms {:>9.3} ms", ms(*with), ms(*without));
        }
        let figures: Duration = with.iter().take(3).map(|(_, d)| *d).sum();
        println!(
            "\nthe figures of one tick of the live region (gauges, oldest waits, today's queue): \
             {:.3} ms with the indexes",
            ms(figures)
        );
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Each of the board's reads, the mean of several runs after one to warm the cache.
async fn reads(storage: &Storage) -> Vec<(&'static str, Duration)> {
    let now = Utc::now();
    // Kyiv's hours and days: the board's reads for a line run from another zone than UTC.
    let zone = LineZone::parse("Europe/Kyiv").unwrap();
    let midnight = zone.floor(Period::Day, now);
    let tomorrow = zone.next(Period::Day, midnight);
    let hours = zone.buckets(Period::Hour, now, 24);
    let days = zone.buckets(Period::Day, now, 30);
    let mut out = Vec::new();
    macro_rules! time {
        ($label:expr, $runs:expr, $read:expr) => {{
            black_box($read.await.unwrap());
            let started = Instant::now();
            for _ in 0..$runs {
                black_box($read.await.unwrap());
            }
            out.push(($label, started.elapsed() / $runs));
        }};
    }
    time!(
        "gauges (in the IVR, waiting, presence, today)",
        20,
        storage.gauges(midnight, now - Span::hours(4))
    );
    time!("oldest wait per queue (waiting_since)", 20, storage.waiting_since());
    time!("today's queue (queue_day)", 20, storage.queue_day(midnight, tomorrow, 20));
    time!("calls per hour and language, 24 hours (calls_per)", 20, storage.calls_per(&hours));
    time!("calls per day and language, 30 days (calls_per)", 5, storage.calls_per(&days));
    time!(
        "service level per hour, 24 hours (service_levels)",
        20,
        storage.service_levels(&hours, 20)
    );
    out
}

/// A call a minute back from now, in SQL: far faster than going through the webhooks, and
/// the board reads only the columns set here. No ANALYZE: the server never runs it, so the
/// planner must choose well without statistics.
fn seed(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CASES})
         INSERT INTO cases (id, number_year, number_seq, call_sid, language, started_at, ended_at,
                            outcome)
         SELECT i, 2000 + i / 500000, i % 500000 + 1, printf('CA%032x', i),
                CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'ru' WHEN 2 THEN 'ko' WHEN 3 THEN 'uk'
                           ELSE 'en' END,
                strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', '-' || (({CASES} - i) * 60) || ' seconds'),
                strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', '-' || (({CASES} - i) * 60 - 300) || ' seconds'),
                CASE WHEN i % 8 = 0 THEN 'abandoned-in-queue' WHEN i % 8 = 1 THEN 'handed-off'
                     WHEN i % 8 = 2 THEN 'voicemail' ELSE 'finished' END
         FROM n;
         INSERT INTO queue_entries (case_id, call_sid, step, language, provider_queue, joined_at,
                                    state, bridged_at, ended_at, result)
         SELECT id, call_sid, 3, coalesce(language, 'ru'), 'q-' || id, started_at,
                CASE WHEN id > {CASES} - 30 THEN 'waiting'
                     WHEN outcome = 'handed-off' THEN 'bridged' ELSE 'left' END,
                CASE WHEN outcome = 'handed-off' THEN strftime('%Y-%m-%dT%H:%M:%S.000000000Z', started_at, '+40 seconds') END,
                CASE WHEN id <= {CASES} - 30 THEN ended_at END,
                CASE WHEN outcome = 'handed-off' THEN 'bridged' ELSE 'hangup' END
         FROM cases WHERE outcome IN ('abandoned-in-queue', 'handed-off') OR id > {CASES} - 30;
         UPDATE cases SET outcome = 'handed-off', ended_at = NULL WHERE id > {CASES} - 30;
         COMMIT;"
    ))
    .unwrap();
}

fn count(path: &std::path::Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}
