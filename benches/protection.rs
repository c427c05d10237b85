//! How long the caller-data chores take on a database of a busy year: the retention purge
//! (dry run, then shredding with VACUUM and WAL truncation), and a backup and restore, plain
//! and encrypted. Prints the numbers; asserts nothing about time.
//!
//! `cargo bench --bench protection` (or `… -- 20000` for another number of cases).

use std::time::Instant;

use chrono::{Duration, Utc};
use hotline::app::backup;
use hotline::domain::retention::RetentionPolicy;
use hotline::domain::secret::Secret;
use hotline::storage::{Storage, StorageOptions};

fn main() {
    let cases: u32 = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotline.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options =
        || StorageOptions::new(Secret::new("the benchmark's callback key, 32 characters".into()));
    // Opening makes the schema; the year is then written in bulk, in SQL, in the clear, as a
    // release before sealing left it.
    drop(runtime.block_on(Storage::open(&db, options())).unwrap());

    let started = Instant::now();
    fill(&db, cases);
    let size = std::fs::metadata(&db).unwrap().len();
    println!(
        "filled {cases} cases (8 events, 1 note each; every other one a voicemail) in {:.1} s: \
         {:.1} MiB",
        started.elapsed().as_secs_f64(),
        mib(size)
    );

    // The first start of the release that seals: every note and recording URL sealed, the file
    // compacted. Its callers wait for it (the provider's fallback answers them meanwhile).
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DELETE FROM legacy_text_sealed").unwrap();
    drop(conn);
    let started = Instant::now();
    let storage = runtime.block_on(Storage::open(&db, options())).unwrap();
    println!(
        "first start sealing the text of the release before: {:.1} s, {:.1} MiB",
        started.elapsed().as_secs_f64(),
        mib(std::fs::metadata(&db).unwrap().len())
    );

    // Half the year is past every period.
    let policy = RetentionPolicy {
        recordings: Duration::days(180),
        notes: Duration::days(180),
        caller_hashes: Duration::days(180),
    };
    let timed = |what: &str, dry_run: bool| {
        let started = Instant::now();
        let report = runtime.block_on(storage.purge(policy, Utc::now(), dry_run)).unwrap();
        println!(
            "{what}: {:.2} s ({} recordings, {} notes, {} caller hashes)",
            started.elapsed().as_secs_f64(),
            report.recordings,
            report.notes,
            report.caller_hashes
        );
    };
    timed("purge --dry-run", true);
    timed("purge (shred, VACUUM, WAL truncate)", false);
    timed("purge again, nothing due", false);
    let size = std::fs::metadata(&db).unwrap().len();
    println!("database after the purge: {:.1} MiB", mib(size));
    println!("peak memory of the process before the backups: {}", peak_memory());

    let key = Secret::new("bench-backup-secret-0123456789".into());
    for (name, key) in [("plain", None), ("encrypted", Some(&key))] {
        let target = dir.path().join(format!("{name}.bak"));
        let started = Instant::now();
        backup::backup(&db, &target, key).unwrap();
        let took = started.elapsed().as_secs_f64();
        println!(
            "backup {name}: {took:.2} s, {:.0} MiB/s",
            mib(std::fs::metadata(&target).unwrap().len()) / took
        );
        let restored = dir.path().join(format!("{name}-restored.db"));
        let started = Instant::now();
        backup::restore(&target, &restored, false, key).unwrap();
        println!("restore {name}: {:.2} s", started.elapsed().as_secs_f64());
        println!("peak memory of the process so far: {}", peak_memory());
    }
}

/// The process's peak resident memory, as Linux reports it.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l[6..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Cases spread over the last year, written in one transaction (through `Storage` each would
/// be its own synced transaction, and filling would take longer than what is measured).
fn fill(db: &std::path::Path, cases: u32) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO users (name, role, languages, created_at) VALUES ('bench', 'operator', 'ru', ?1)",
        [Utc::now().to_rfc3339()],
    )
    .unwrap();
    let author = tx.last_insert_rowid();
    let now = Utc::now();
    for n in 1..=cases {
        let at = (now - Duration::seconds(i64::from(n) * 31_536_000 / i64::from(cases)))
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let voicemail = n % 2 == 0;
        tx.execute(
            "INSERT INTO cases (number_year, number_seq, call_sid, language, caller_hash, country,
                                started_at, ended_at, status, duration_secs, outcome, recording_url)
             VALUES (2026, ?1, ?2, 'ru', ?3, 'UA', ?4, ?4, 'completed', 95, ?5, ?6)",
            rusqlite::params![
                n,
                format!("CA{n:032x}"),
                format!("{:064x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15),
                at,
                if voicemail { "voicemail" } else { "handed-off" },
                voicemail.then(|| format!("https://api.twilio.com/Recordings/RE{n:032x}")),
            ],
        )
        .unwrap();
        let case = tx.last_insert_rowid();
        for step in 0..8 {
            let detail = if voicemail && step == 7 {
                format!(
                    r#"{{"kind":"voicemail","recording_url":"https://api.twilio.com/Recordings/RE{n:032x}","duration_secs":9}}"#
                )
            } else {
                r#"{"kind":"entered","node":"main","said":"Press 1 if you want to surrender."}"#
                    .to_owned()
            };
            let kind = if voicemail && step == 7 { "voicemail" } else { "entered" };
            tx.execute(
                "INSERT INTO case_events (case_id, step, idx, at, kind, node, detail)
                 VALUES (?1, ?2, 0, ?3, ?4, 'main', ?5)",
                rusqlite::params![case, step, at, kind, detail],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO case_notes (case_id, author_id, at, text) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                case,
                author,
                at,
                "Called from the front; wants to surrender with two others."
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}
