//! The history run: does a hotline with a million past cases answer as fast as a new one?
//!
//! A fresh server takes a few real calls; their cases (written by the server itself, so every
//! column, tag and event is as production writes it) are the templates of the history, which
//! is copied in bulk, in SQL, with new numbers, call ids, caller hashes and dates spread over
//! past years. The same webhook load and the same case API requests (list, filtered list,
//! detail) are then timed before and after.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::child::Server;
use crate::load::{self, Load, Measured};
use crate::report::{self, Row, ServerRun};
use crate::{Args, Setup};

/// Past cases per case-number year: the history spans several years, as a real one would.
const CASES_PER_YEAR: u32 = 200_000;
/// The first year of the history.
const FIRST_YEAR: u32 = 2016;
/// Seconds between two past cases of a year (200,000 of them fill 347 days).
const SECONDS_APART: u32 = 150;

/// Runs the history comparison and prints it.
pub fn run(
    setup: &Setup,
    args: &Args,
    load: &dyn Fn(&str, usize, Option<f64>) -> Load,
) -> Result<(), String> {
    println!("## History: {} past cases in the database\n", args.history);
    let (server, dir) = setup.hotline()?;
    // Template calls: every scripted path a few times.
    let mut warm = load(&server.base_url, 10, None);
    warm.warmup = Duration::ZERO;
    warm.measure = Duration::from_secs(1);
    load::run(&warm, None);
    let env = setup.hotline_env(&dir)?;
    let hotline = |args: &[&str]| -> Result<String, String> {
        let out = Command::new(&setup.server_bin)
            .args(args)
            .current_dir(&dir)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .map_err(|e| format!("hotline {}: {e}", args.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "hotline {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    hotline(&["users", "add", "bench", "--role", "supervisor", "--languages", "ru"])?;
    let token = hotline(&["users", "token", "bench"])?.trim().to_owned();

    let load_of = |server: &Server| load(&server.base_url, 100, Some(args.rate));
    let before = under_load(&server, &load_of(&server), &token, args.api_requests, None)?;
    drop(server);

    let db = dir.join("hotline.db");
    let seeding = Instant::now();
    let (first, last) = seed(&db, args.history)?;
    let seeded_in = seeding.elapsed();
    let server = setup.hotline_in(&dir)?;
    let after =
        under_load(&server, &load_of(&server), &token, args.api_requests, Some(args.history))?;
    println!(
        "Seeded {} cases (numbers {}-{:06} to {}-{:06}) in {:.1} s; the server then started in {:.0} ms. \
         Cases now: {}.\n",
        args.history,
        first.0,
        first.1,
        last.0,
        last.1,
        seeded_in.as_secs_f64(),
        server.start_up.as_secs_f64() * 1000.0,
        count_cases(&db)?
    );
    drop(server);
    println!(
        "Webhooks at {:.0} requests/s, 100 calls in progress, while the case API is read:\n",
        args.rate
    );
    report::summary(&[Row::new("new database", &before.0), Row::new("with history", &after.0)]);
    println!("Case API, one supervisor reading while the calls go on:\n");
    println!("| request | database | requests | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (label, mut before, mut after) in
        before.1.into_iter().zip(after.1).map(|(b, a)| (b.0, b.1, a.1))
    {
        report::api_line(&format!("{label} | new"), &mut before);
        report::api_line(&format!("{label} | history"), &mut after);
    }
    println!();
    Ok(())
}

/// Case API latencies of one kind of request, in microseconds.
type ApiTimes = Vec<(&'static str, Vec<u64>)>;

/// Runs `load` against `server` and, at the same time, times `requests` case API requests of
/// each kind: the list, a filtered list and the detail of a case (one of the `past` cases
/// seeded, when given, else one of the server's own).
fn under_load(
    server: &Server,
    load: &Load,
    token: &str,
    requests: u32,
    past: Option<u32>,
) -> Result<(ServerRun, ApiTimes), String> {
    let pid = server.pid();
    let (run, times) = thread::scope(|scope| {
        let webhooks = scope.spawn(|| load::run(load, Some(pid)));
        // Let the calls get going first, as the measurement does.
        thread::sleep(load.warmup);
        let times = api_times(&server.base_url, token, requests, past);
        (webhooks.join(), times)
    });
    let run: Measured = run.map_err(|_| "the load generator panicked".to_owned())?;
    let run = ServerRun { usage: server.usage()?, load: run };
    Ok((run, times?))
}

/// A case number as its year and sequence.
type CaseNumberRange = (u32, u32);

fn api_times(
    base_url: &str,
    token: &str,
    requests: u32,
    past: Option<u32>,
) -> Result<ApiTimes, String> {
    let agent = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let auth = format!("Bearer {token}");
    let get = |path: &str| -> Result<(u64, String), String> {
        let started = Instant::now();
        let mut response = agent
            .get(&format!("{base_url}{path}"))
            .header("Authorization", &auth)
            .call()
            .map_err(|e| format!("GET {path}: {e}"))?;
        let body = response.body_mut().read_to_string().map_err(|e| format!("GET {path}: {e}"))?;
        let micros = started.elapsed().as_micros() as u64;
        if response.status() != 200 {
            return Err(format!("GET {path}: HTTP {}: {body}", response.status()));
        }
        Ok((micros, body))
    };
    // The server's own cases, for the detail requests on a new database.
    let (_, listed) = get("/api/cases?limit=50")?;
    let own: Vec<String> = serde_json::from_str::<serde_json::Value>(&listed)
        .ok()
        .and_then(|v| {
            v["cases"].as_array().map(|cases| {
                cases.iter().filter_map(|c| c["number"].as_str().map(str::to_owned)).collect()
            })
        })
        .unwrap_or_default();
    if own.is_empty() && past.is_none() {
        return Err("the case list is empty after the template calls".into());
    }
    let mut list = Vec::new();
    let mut filtered = Vec::new();
    let mut detail = Vec::new();
    for i in 0..requests {
        list.push(get("/api/cases?limit=50")?.0);
        filtered.push(get("/api/cases?language=ko&outcome=answered&limit=50")?.0);
        let number = match past {
            // Spread over the whole history, so no page stays cached.
            Some(count) => {
                let n = (u64::from(i) * 7919) % u64::from(count.max(1));
                let year = u64::from(FIRST_YEAR) + n / u64::from(CASES_PER_YEAR);
                format!("{year}-{:06}", n % u64::from(CASES_PER_YEAR) + 1)
            }
            None => own[i as usize % own.len()].clone(),
        };
        detail.push(get(&format!("/api/cases/{number}"))?.0);
    }
    Ok(vec![
        ("`GET /api/cases?limit=50`", list),
        ("`GET /api/cases?language=ko&outcome=answered`", filtered),
        ("`GET /api/cases/{number}`", detail),
    ])
}

/// The number of cases in the database at `db`, or in the PostgreSQL database the server was
/// given in `HOTLINE_DATABASE_URL` (which it inherits from this program).
pub fn count_cases(db: &Path) -> Result<i64, String> {
    if let Some(url) = std::env::var("HOTLINE_DATABASE_URL").ok().filter(|url| !url.is_empty()) {
        let failed = |e: postgres::Error| format!("the PostgreSQL database: {e}");
        let mut client = postgres::Client::connect(&url, postgres::NoTls).map_err(failed)?;
        return client
            .query_one("SELECT count(*) FROM cases", &[])
            .map(|row| row.get(0))
            .map_err(failed);
    }
    let conn = Connection::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
    conn.query_row("SELECT count(*) FROM cases", [], |row| row.get(0))
        .map_err(|e| format!("{}: {e}", db.display()))
}

/// Copies the cases in `db` into `n` past ones; returns the first and last number (year,
/// sequence). The server must be stopped.
fn seed(db: &Path, n: u32) -> Result<(CaseNumberRange, CaseNumberRange), String> {
    let failed = |e: rusqlite::Error| format!("seeding {}: {e}", db.display());
    let mut conn = Connection::open(db).map_err(failed)?;
    // A bulk load of a copy: durability is not the point here, the server's own writes are.
    // A cache big enough for the indexes being built keeps SQLite from spilling and rewriting
    // the same pages in the WAL over and over (the default is 2 MB).
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000;")
        .map_err(failed)?;
    // Every column the migrations made, so templates are copied whole.
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('cases')")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .map_err(failed)?;
    let set_here = [
        "id",
        "number_year",
        "number_seq",
        "call_sid",
        "caller_hash",
        "started_at",
        "ended_at",
        "status_at",
    ];
    let copied: Vec<&str> =
        columns.iter().map(String::as_str).filter(|c| !set_here.contains(c)).collect();
    let tx = conn.transaction().map_err(failed)?;
    tx.execute_batch(
        "CREATE TEMP TABLE template AS
             SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM cases WHERE ended_at IS NOT NULL;",
    )
    .map_err(failed)?;
    let templates: u32 =
        tx.query_row("SELECT count(*) FROM temp.template", [], |row| row.get(0)).map_err(failed)?;
    if templates == 0 {
        return Err("no finished call to copy: the template calls failed".into());
    }
    let base: i64 = tx
        .query_row("SELECT coalesce(max(id), 0) FROM cases", [], |row| row.get(0))
        .map_err(failed)?;
    tx.execute(
        "CREATE TEMP TABLE seq AS
             WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?1)
             SELECT i, ?2 + 1 + i AS id, i % ?3 AS k,
                    ?4 + i / ?5 AS year, i % ?5 + 1 AS seq,
                    datetime(printf('%04d-01-01', ?4 + i / ?5), printf('+%d seconds', (i % ?5) * ?6)) AS at
             FROM s",
        rusqlite::params![n, base, templates, FIRST_YEAR, CASES_PER_YEAR, SECONDS_APART],
    )
    .map_err(failed)?;
    let list = copied.join(", ");
    let from_template = copied.iter().map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    tx.execute_batch(&format!(
        "INSERT INTO cases (id, number_year, number_seq, call_sid, caller_hash, started_at, ended_at, status_at, {list})
             SELECT s.id, s.year, s.seq, printf('CAhistory%023d', s.i), printf('%064d', s.i),
                    replace(s.at, ' ', 'T') || 'Z',
                    replace(datetime(s.at, '+90 seconds'), ' ', 'T') || 'Z',
                    replace(datetime(s.at, '+90 seconds'), ' ', 'T') || 'Z',
                    {from_template}
             FROM temp.seq s JOIN temp.template t ON t.k = s.k JOIN cases c ON c.id = t.id;
         INSERT INTO case_tags (case_id, key, value, position)
             SELECT s.id, g.key, g.value, g.position
             FROM temp.seq s JOIN temp.template t ON t.k = s.k JOIN case_tags g ON g.case_id = t.id;
         INSERT INTO case_events (case_id, step, idx, at, kind, node, digits, detail)
             SELECT s.id, e.step, e.idx, replace(s.at, ' ', 'T') || 'Z', e.kind, e.node, e.digits, e.detail
             FROM temp.seq s JOIN temp.template t ON t.k = s.k JOIN case_events e ON e.case_id = t.id;
         DROP TABLE temp.seq; DROP TABLE temp.template;"
    ))
    .map_err(failed)?;
    tx.commit().map_err(failed)?;
    // Move the bulk load from the WAL into the database file now: otherwise the server's
    // first commit would copy gigabytes during the measurement, which no real history does.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(failed)?;
    let last = n.saturating_sub(1);
    Ok(((FIRST_YEAR, 1), (FIRST_YEAR + last / CASES_PER_YEAR, last % CASES_PER_YEAR + 1)))
}
