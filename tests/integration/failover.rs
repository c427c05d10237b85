//! The line on PostgreSQL with synchronous replication losing a machine: a pg_auto_failover
//! cluster on loopback (a monitor, a primary node1 and its synchronous standby node2, from
//! `tests/postgres/cluster`), `hotline serve` processes on it, and the provider emulator of
//! `common::provider` calling them. A machine that dies is `kill -9`: its hotline, or its
//! PostgreSQL with the keeper watching it, runs no code of its own on the way out.
//!
//! What must hold: every webhook is answered (through the fallback URL when its server is
//! gone, from the journal while the database cannot commit), nothing acknowledged is lost or
//! stored twice once the journals have replayed, and a node that comes back rejoins as a
//! standby. The times measured here are the ones docs/operations.md and BENCHMARKS.md give.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use hotline::storage::{DATA_KEYS_FILE, Storage};

use crate::common::binary::printed;
use crate::common::postgres::Postgres;
use crate::common::process::{JournalWatch, Setup};
use crate::common::provider::{Endpoint, Ledger, spawn_callers};
use crate::common::{self, journal_records};

/// The journal's reserve, in MiB: written whole at each start and read whole by the test's
/// watch every 50 ms, so smaller than the default; these outages fill a fraction of it.
const JOURNAL_RESERVE_MB: &str = "8";

/// How long a caller listens to each prompt. A real caller takes seconds; this keeps twelve
/// calls at once busy, yet well below what the journal's replay brings back while they go
/// on: a caller answered from the journal does not wait for a commit, and twelve that hardly
/// listen would outrun the replay (a debug build, each statement a round trip to a server on
/// the same two busy cores; see BENCHMARKS.md).
const LISTENING: Duration = Duration::from_millis(500);

/// Held by each test for its whole run: each has a cluster of three servers, hotlines and
/// twelve callers, and two of them at once on two cores would measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a test waits for the cluster to fail over, or for a journal to drain: seconds
/// on an idle machine, but the tests may share it with others.
const PATIENCE: Duration = Duration::from_secs(60);

/// The environment of a server on `cluster`, with `more`.
fn on<'a>(cluster: &'a Postgres, more: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
    let mut env = vec![
        ("HOTLINE_DATABASE_URL", cluster.uri()),
        ("HOTLINE_DATABASE_JOURNAL_RESERVE_MB", JOURNAL_RESERVE_MB),
    ];
    env.extend_from_slice(more);
    env
}

/// Steps stored more than once: the events of one step all come from one request, made at
/// one time, so a step whose events carry two times was stored by two requests.
fn steps_stored_twice(cluster: &Postgres) -> String {
    cluster.query(
        "SELECT c.call_sid || ' step ' || e.step FROM case_events e JOIN cases c ON c.id = \
         e.case_id GROUP BY c.call_sid, e.step HAVING count(DISTINCT e.at) > 1",
    )
}

/// A failover as seen on node2, each time counted from the kill.
struct Failover {
    /// It left recovery: promoted.
    promoted: Duration,
    /// It took writes: pg_auto_failover keeps a promoted node read-only until the old primary
    /// must have stopped (`primary_demote_timeout`), so that two nodes never both commit.
    writable: Duration,
    /// It held the first event of a webhook that arrived after the kill: the first answer
    /// committed on the new primary.
    first_commit: Duration,
}

/// Polls node2 every 100 ms from the kill (at `killed`; webhooks stamped after `cutoff`
/// reached the hotline after it) until it holds a webhook's event of after the kill: only a
/// server still up can have taken that webhook, and only the new primary committed it.
fn failover_seen(cluster: &Postgres, killed: Instant, cutoff: &str) -> Failover {
    let node2 = cluster.node_uri("node2");
    let sql = format!(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), EXISTS \
         (SELECT 1 FROM case_events WHERE CAST(at AS timestamptz) > '{cutoff}')"
    );
    let (mut promoted, mut writable) = (None, None);
    loop {
        // A server in the middle of its promotion may refuse a connection: not yet.
        let polled = cluster.psql(&node2, &sql, &[]);
        let row = String::from_utf8_lossy(&polled.stdout).trim().to_owned();
        let at = killed.elapsed();
        if row.starts_with("f|") {
            promoted.get_or_insert(at);
        }
        if row.starts_with("f|off|") {
            writable.get_or_insert(at);
        }
        if let (Some(promoted), Some(writable), "f|off|t") = (promoted, writable, row.as_str()) {
            return Failover { promoted, writable, first_commit: at };
        }
        let seen = format!("promoted {promoted:?}, writable {writable:?}");
        assert!(at < PATIENCE, "no failover seen on node2 ({seen}): {}", printed(&polled));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two instances on the cluster, the provider's voice URL on A and its fallback URL on B;
/// A and the primary are killed together in the middle of twelve calls at once. The calls
/// go on through B, which journals while no node takes writes; node2 is promoted, B's
/// journal replays into it, and when node1 comes back it follows node2 and refuses writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_and_an_instance_killed_together_lose_nothing_acknowledged() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Postgres::cluster();
    let env = on(&cluster, &[]);
    // A makes the schema and the data keys; B gets a copy of the keys, as each machine of a
    // line keeps one.
    let (a, b) = (Setup::new(), Setup::new());
    let server_a = a.start(&env);
    std::fs::create_dir_all(b.data_dir()).unwrap();
    std::fs::copy(a.data_dir().join(DATA_KEYS_FILE), b.data_dir().join(DATA_KEYS_FILE)).unwrap();
    let server_b = b.start(&env);
    let watch = JournalWatch::start(&b.journal_path());
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let primary = Endpoint { base_url: server_a.base_url.clone(), port: a.port };
    let fallback = Endpoint { base_url: server_b.base_url.clone(), port: b.port };
    let callers = spawn_callers(&primary, &fallback, LISTENING, &ledger, &stop);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Half the callers are listening to a prompt, the others are in the middle of requests.
    ledger.hold.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_kill = ledger.acknowledged.lock().unwrap().len();
    let killed = Instant::now();
    server_a.kill();
    cluster.kill("node1");
    // Whatever reaches B from now on can only be committed by a promoted node2.
    let cutoff = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    // A's journal is lost with its machine: what A acknowledged must all have been committed,
    // on node1 and, synchronously, on node2.
    let stranded = journal_records(&a.journal_path());
    ledger.epoch.store(1, Ordering::Relaxed);
    ledger.hold.store(false, Ordering::Relaxed);

    let failover = failover_seen(&cluster, killed, &cutoff);
    // The monitor's word (what node2 reports may lag behind what it was told to be).
    let (reported, assigned) = cluster.node_state("node2");
    assert!(assigned.ends_with("primary"), "node2 is {reported}, to be {assigned}");
    // Calls answered and committed on the new primary for a while, then every call ends.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.join().expect("a caller failed");
    }
    let backlog = watch.drained_within(PATIENCE);

    // The old primary comes back: rewound to follow node2, it refuses writes, and it holds
    // every event node2 does.
    let returning = Instant::now();
    cluster.resume("node1");
    let rejoined = returning.elapsed();
    assert_eq!(cluster.node_state("node2"), ("primary".into(), "primary".into()));
    assert_eq!(cluster.node_state("node1"), ("secondary".into(), "secondary".into()));
    let node1 = cluster.node_uri("node1");
    assert_eq!(cluster.query_on(&node1, "SELECT pg_is_in_recovery()"), "t");
    let write = cluster.psql(&node1, "CREATE TABLE written_on_node1 (n int)", &[]);
    assert!(printed(&write).contains("read-only transaction"), "{}", printed(&write));
    let events = "SELECT count(*) FROM case_events";
    let waited = Instant::now();
    while cluster.query_on(&node1, events) != cluster.query(events) {
        assert!(waited.elapsed() < PATIENCE, "node1 does not catch up with node2");
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(server_b.terminate().code(), Some(0));
    let storage = Storage::open_postgres(cluster.uri(), &b.db_path(), common::storage_options())
        .await
        .unwrap();
    let kept = ledger.kept_in(&storage).await;
    let acknowledged = ledger.acknowledged.lock().unwrap().len();
    println!(
        "failover test: {} calls, {acknowledged} requests acknowledged ({before_kill} before \
         kill -9 of instance A and the primary), {} events stored, {} requests cut, {} calls \
         through the fallback URL to B, B journaled {} records (peak backlog) and replayed \
         them all; after the kill node2 was promoted in {} ms, took writes in {} ms, and \
         committed B's first answer in {} ms (the failover time); slowest answer from B {} \
         ms, node1 back as a standby in {} ms, events lost: {}",
        ledger.calls.load(Ordering::Relaxed),
        kept.events,
        ledger.cut.load(Ordering::Relaxed),
        ledger.fell_back.load(Ordering::Relaxed),
        backlog.peak,
        failover.promoted.as_millis(),
        failover.writable.as_millis(),
        failover.first_commit.as_millis(),
        ledger.slowest(killed..Instant::now()).as_millis(),
        rejoined.as_millis(),
        kept.lost.len(),
    );
    assert!(stranded.is_empty(), "A died holding records only it had: {stranded:?}");
    assert!(kept.lost.is_empty(), "acknowledged but not stored: {:#?}", kept.lost);
    assert_eq!(cluster.query("SELECT count(*) FROM cases"), kept.calls.to_string());
    assert_eq!(steps_stored_twice(&cluster), "", "steps stored twice");
    assert!(ledger.fell_back.load(Ordering::Relaxed) > 0, "no call went through B");
    assert!(backlog.peak > 0, "B never journaled: the database was never down for it");
    assert!(before_kill > 0 && acknowledged > before_kill, "the test drove too little");
    assert!(journal_records(&b.journal_path()).is_empty(), "B's journal was not emptied");
}

/// One instance on the cluster, twelve calls at once, and the synchronous standby killed:
/// commits wait for a standby that is gone until the monitor lets the primary commit alone,
/// and meanwhile every webhook is answered within its deadlines from the journal. The
/// journal drains into the primary, the standby comes back, and every record acknowledged is
/// there once, the commits that were in doubt when their wait was given up included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_standby_keeps_webhooks_within_the_write_deadline() {
    const DEADLINE_MS: u64 = 300;
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Postgres::cluster();
    let deadline = DEADLINE_MS.to_string();
    // A caller handed to an operator also waits for their queue entry, a write too: bounded
    // by a setting of its own, given the same deadline here.
    let env = on(
        &cluster,
        &[
            ("HOTLINE_DATABASE_WRITE_DEADLINE_MS", &deadline),
            ("HOTLINE_QUEUES_DB_TIMEOUT_MS", &deadline),
        ],
    );
    let setup = Setup::new();
    let server = setup.start(&env);
    let watch = JournalWatch::start(&setup.journal_path());
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let endpoint = Endpoint { base_url: server.base_url.clone(), port: setup.port };
    let started = Instant::now();
    let callers = spawn_callers(&endpoint, &endpoint, LISTENING, &ledger, &stop);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let lost = Instant::now();
    let before_loss = ledger.slowest(started..lost);
    cluster.kill("node2");
    let backlog = watch.drained_within(PATIENCE);
    let drained = backlog.drained.unwrap().duration_since(lost);
    // The monitor let node1 commit without its standby.
    let (reported, assigned) = cluster.node_state("node1");
    assert_eq!(assigned, "wait_primary", "node1 is {reported}");
    let returning = Instant::now();
    cluster.resume("node2");
    let rejoined = returning.elapsed();
    let during_loss = ledger.slowest(lost..Instant::now());
    // Calls committed with the standby back, then every call ends.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.join().expect("a caller failed");
    }
    assert_eq!(server.terminate().code(), Some(0));

    let storage =
        Storage::open_postgres(cluster.uri(), &setup.db_path(), common::storage_options())
            .await
            .unwrap();
    let kept = ledger.kept_in(&storage).await;
    println!(
        "standby loss: {} calls, {} requests acknowledged, {} events stored; with the write \
         deadline at {DEADLINE_MS} ms the slowest answer was {} ms before the loss and {} ms \
         from the loss until the standby was back; the journal held up to {} records, first \
         {} ms after the kill, drained {} ms after it; the standby was back in {} ms; events \
         lost: {}",
        ledger.calls.load(Ordering::Relaxed),
        ledger.acknowledged.lock().unwrap().len(),
        kept.events,
        before_loss.as_millis(),
        during_loss.as_millis(),
        backlog.peak,
        backlog.first.unwrap().duration_since(lost).as_millis(),
        drained.as_millis(),
        rejoined.as_millis(),
        kept.lost.len(),
    );
    assert_eq!(ledger.cut.load(Ordering::Relaxed), 0, "a request went unanswered");
    let bound = Duration::from_millis(DEADLINE_MS) + Duration::from_secs(1);
    assert!(during_loss < bound, "an answer took {during_loss:?} while the standby was gone");
    assert!(backlog.peak > 0, "nothing was journaled: the commits never waited");
    assert!(kept.lost.is_empty(), "acknowledged but not stored: {:#?}", kept.lost);
    assert_eq!(cluster.query("SELECT count(*) FROM cases"), kept.calls.to_string());
    assert_eq!(steps_stored_twice(&cluster), "", "steps stored twice");
    assert!(journal_records(&setup.journal_path()).is_empty(), "the journal was not emptied");
}
