//! `hotline-bench`: the load benchmark of whole calls.
//!
//! It starts the real `hotline serve` (the `hotline` binary built beside this one) as a child
//! process on a fresh database and configuration, signatures on, and drives simulated calls
//! through the shipped scripts over loopback HTTP: signed requests, the language menu, menus,
//! invalid keys, silence, the handoff and its wait documents, voicemail, hang-ups and status
//! callbacks, every event committed to SQLite as in production. In the same run it measures a
//! baseline — this program re-executed as a minimal axum server answering one static TwiML
//! document — with the same load generator, and prints for both requests/s, latency per route,
//! CPU and peak memory, then the scaling of calls in progress, start-up time and the cost of a
//! history of a million cases, and text conversations through the Telegram webhook and the
//! outbox. Output is Markdown, ready for `BENCHMARKS.md`.
//!
//! Inside: `load` generates the calls, `child` runs and watches the servers, `baseline` is
//! the static server, `wrk` measures it with the reference load generator, `paths` measures
//! the server's CPU per request of each call path, `history` fills a database with past
//! cases, `chats` drives the text channel against a fake Bot API, `report` prints.

mod baseline;
mod chats;
mod child;
mod client;
mod history;
mod load;
mod paths;
mod report;
mod wrk;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::child::Server;
use crate::load::Load;
use crate::report::Row;

/// The auth token the benchmark's servers check signatures against.
const AUTH_TOKEN: &str = "bench-auth-token-0123456789abcdef";
/// The caller-hash key of the benchmark's servers.
const CALLER_HASH_KEY: &str = "bench-caller-hash-key-0123456789";

/// The load benchmark of whole calls against `hotline serve`, with a static baseline.
#[derive(Debug, Parser)]
#[command(name = "hotline-bench")]
struct Args {
    /// The `hotline` binary to measure [default: the one beside this program].
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
    /// The IVR scripts the server loads.
    #[arg(long, value_name = "DIR", default_value = "ivr-scripts")]
    scripts: PathBuf,
    /// Seconds each measurement lasts.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    seconds: f64,
    /// Seconds of load before each measurement starts.
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    warmup: f64,
    /// Requests in flight at once, at most (the provider's connections).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Calls in progress during the throughput comparison.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    calls: u32,
    /// Calls in progress of each scaling step, comma-separated.
    #[arg(long, default_value = "10,100,1000,10000", value_parser = levels)]
    levels: Levels,
    /// Requests per second of the paced runs (scaling and history).
    #[arg(long, default_value_t = 1000.0, value_parser = positive_rate)]
    rate: f64,
    /// Past cases put in the database for the history run; 0 skips it.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(0..=50_000_000))]
    history: u32,
    /// Chats in progress during the text channel's throughput run.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    chats: u32,
    /// New chats per second of the text channel's first-reply run.
    #[arg(long, default_value_t = 200.0, value_parser = positive_rate)]
    chat_rate: f64,
    /// The phases to run, comma-separated: throughput, paths, scaling, history, chats.
    #[arg(long, default_value = "throughput,paths,scaling,history,chats", value_parser = phases)]
    phases: Phases,
    /// Seconds one request may take before it counts as failed.
    #[arg(long, default_value_t = 20.0, value_parser = positive_seconds)]
    request_timeout: f64,
    /// Case API requests of each kind timed in the history run.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    api_requests: u32,
    #[command(subcommand)]
    mode: Option<Mode>,
}

/// Internal modes: the benchmark runs itself as its baseline server.
#[derive(Debug, Subcommand)]
enum Mode {
    /// Serve the static baseline on `HOTLINE_SERVER_LISTEN` (run by the benchmark itself).
    #[command(hide = true)]
    Baseline,
}

/// Calls-in-progress levels.
#[derive(Debug, Clone)]
struct Levels(Vec<usize>);

fn levels(s: &str) -> Result<Levels, String> {
    let levels = s
        .split(',')
        .map(|item| match item.trim().parse::<usize>() {
            Ok(n) if (1..=100_000).contains(&n) => Ok(n),
            _ => Err(format!("{item:?} is not a number of calls from 1 to 100000")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Levels(levels))
}

/// Which phases run.
#[derive(Debug, Clone)]
struct Phases {
    throughput: bool,
    paths: bool,
    scaling: bool,
    history: bool,
    chats: bool,
}

fn phases(s: &str) -> Result<Phases, String> {
    let mut phases =
        Phases { throughput: false, paths: false, scaling: false, history: false, chats: false };
    for item in s.split(',') {
        match item.trim() {
            "throughput" => phases.throughput = true,
            "paths" => phases.paths = true,
            "scaling" => phases.scaling = true,
            "history" => phases.history = true,
            "chats" => phases.chats = true,
            other => {
                return Err(format!(
                    "{other:?} is not a phase; the phases are throughput, paths, scaling, history, \
                     chats"
                ));
            }
        }
    }
    Ok(phases)
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds from 0 to 3600")),
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    seconds(s).and_then(|v| if v > 0.0 { Ok(v) } else { Err("must be more than 0".into()) })
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1_000_000.0 => Ok(v),
        _ => Err(format!("{s:?} is not a rate from 0 to 1000000 requests/s")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Mode::Baseline) = args.mode {
        return baseline::serve();
    }
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotline-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Where the servers live and how they are started.
struct Setup {
    server_bin: PathBuf,
    own_bin: PathBuf,
    scripts: PathBuf,
    work: WorkDir,
}

impl Setup {
    /// A fresh hotline in a new folder: its own configuration and database.
    fn hotline(&self) -> Result<(Server, PathBuf), String> {
        let dir = self.work.fresh("hotline")?;
        let server = self.hotline_in(&dir)?;
        Ok((server, dir))
    }

    /// Starts a hotline on the configuration and database of `dir`.
    fn hotline_in(&self, dir: &Path) -> Result<Server, String> {
        Server::start(&self.server_bin, &["serve"], &self.hotline_env(dir)?, dir, "/readyz")
    }

    /// The environment of a hotline process in `dir`.
    fn hotline_env(&self, dir: &Path) -> Result<Vec<(&'static str, String)>, String> {
        let config = dir.join("config.toml");
        if !config.exists() {
            let text = format!(
                "# Written by hotline-bench: a fresh server, signatures checked.\n\
                 [database]\npath = {:?}\n\n[scripts]\ndir = {:?}\n\n\
                 [webhooks]\nverify_signatures = true\n\n[log]\nlevel = \"warn\"\n",
                dir.join("hotline.db"),
                self.scripts,
            );
            fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        }
        Ok(vec![
            ("HOTLINE_CONFIG", config.display().to_string()),
            ("HOTLINE_AUTH_TOKEN", AUTH_TOKEN.into()),
            ("HOTLINE_CALLER_HASH_KEY", CALLER_HASH_KEY.into()),
        ])
    }

    fn baseline(&self) -> Result<Server, String> {
        let dir = self.work.fresh("baseline")?;
        Server::start(&self.own_bin, &["baseline"], &[], &dir, "/readyz")
    }
}

fn bench(args: &Args) -> Result<(), String> {
    let own_bin = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let server_bin = match &args.server {
        Some(path) => path.clone(),
        None => own_bin.with_file_name("hotline"),
    };
    if !server_bin.is_file() {
        return Err(format!(
            "no hotline binary at {}: build it first (`cargo build --release`) or pass --server",
            server_bin.display()
        ));
    }
    let scripts = fs::canonicalize(&args.scripts)
        .map_err(|e| format!("scripts folder {}: {e}", args.scripts.display()))?;
    let setup = Setup { server_bin, own_bin, scripts, work: WorkDir::new()? };
    let measure = Duration::from_secs_f64(args.seconds);
    let warmup = Duration::from_secs_f64(args.warmup);
    let request_timeout = Duration::from_secs_f64(args.request_timeout);
    let concurrency = args.concurrency as usize;
    let load = |base_url: &str, calls: usize, rate: Option<f64>| Load {
        base_url: base_url.to_owned(),
        auth_token: AUTH_TOKEN.into(),
        calls,
        concurrency: concurrency.min(calls),
        rate,
        warmup,
        measure,
        request_timeout,
        paths: load::PATHS,
    };

    report::machine(&setup.server_bin);
    println!(
        "Each measurement: {:.0} s after {:.0} s of warm-up; at most {concurrency} requests in \
         flight.\n",
        args.seconds, args.warmup
    );

    let mut voice_rate = None;
    if args.phases.throughput {
        voice_rate = Some(throughput(&setup, args, &load)?);
    }
    if args.phases.paths {
        paths::run(&setup, args, &load, voice_rate)?;
    }
    if args.phases.scaling {
        scaling(&setup, args, &load)?;
    }
    if args.phases.history && args.history > 0 {
        history::run(&setup, args, &load)?;
    }
    if args.phases.chats {
        let options = chats::ChatsOptions {
            chats: args.chats as usize,
            rate: args.chat_rate,
            concurrency,
            warmup,
            measure,
            request_timeout,
            voice_rate,
        };
        chats::run(&setup, &options)?;
    }
    setup.work.remove();
    Ok(())
}

/// The hotline against the static baseline, as fast as each answers; the hotline's
/// requests/s.
fn throughput(
    setup: &Setup,
    args: &Args,
    load: &dyn Fn(&str, usize, Option<f64>) -> Load,
) -> Result<f64, String> {
    println!("## Throughput: full call steps against a static TwiML baseline\n");
    println!("{} calls in progress, requests sent as fast as the server answers.\n", args.calls);
    let (hotline, hotline_dir) = setup.hotline()?;
    let hotline_run = report::measured(&hotline, |pid| {
        load::run(&load(&hotline.base_url, args.calls as usize, None), Some(pid))
    })?;
    let recorded = history::count_cases(&hotline_dir.join("hotline.db"))?;
    drop(hotline);
    let base = setup.baseline()?;
    let baseline_run = report::measured(&base, |pid| {
        load::run(&load(&base.base_url, args.calls as usize, None), Some(pid))
    })?;
    // The reference generator against the same baseline server, right after.
    let reference =
        wrk::run(&base, AUTH_TOKEN, Duration::from_secs_f64(args.seconds), &setup.work.path);
    drop(base);
    report::routes("hotline serve", &hotline_run);
    report::routes("baseline (static TwiML)", &baseline_run);
    report::summary(&[
        Row::new("hotline serve", &hotline_run),
        Row::new("baseline", &baseline_run),
    ]);
    println!(
        "hotline/baseline requests/s: **{:.0}%**; cases in the hotline's database after the \
         run: {recorded}\n",
        100.0 * hotline_run.load.rate() / baseline_run.load.rate().max(1e-9)
    );
    match reference {
        Ok(wrk) => {
            println!(
                "Static baseline, same server: `wrk -t1 -c32` {:.0} requests/s (server CPU {} \
                 µs/request{}); hotline-bench {:.0} requests/s (its own CPU {} µs/request): \
                 **{:.0}%** of wrk (target ≥ 75%).\n",
                wrk.rate,
                report::micros(wrk.cpu_micros_per_request()),
                if wrk.failed > 0 {
                    format!(", {} failed answers", wrk.failed)
                } else {
                    String::new()
                },
                baseline_run.load.rate(),
                // The generator shares the machine with the server: what it spends per request
                // is what it takes from the server.
                report::micros((baseline_run.load.requests() > 0).then(|| {
                    1e6 * baseline_run.load.own_cpu_secs / baseline_run.load.requests() as f64
                })),
                100.0 * baseline_run.load.rate() / wrk.rate.max(1e-9)
            );
        }
        Err(e) => println!("{e}.\n"),
    }

    Ok(hotline_run.load.rate())
}

/// Calls in progress from few to many, paced, each on a fresh server.
fn scaling(
    setup: &Setup,
    args: &Args,
    load: &dyn Fn(&str, usize, Option<f64>) -> Load,
) -> Result<(), String> {
    println!("## Scaling: calls in progress at {:.0} requests/s\n", args.rate);
    println!("A fresh server for each line, so its peak memory is that load's.\n");
    let mut rows = Vec::new();
    let mut start_ups = Vec::new();
    for &calls in &args.levels.0 {
        let (hotline, _) = setup.hotline()?;
        start_ups.push(hotline.start_up);
        let run = report::measured(&hotline, |pid| {
            load::run(&load(&hotline.base_url, calls, Some(args.rate)), Some(pid))
        })?;
        rows.push(Row::new(&format!("{calls} calls"), &run));
    }
    report::summary(&rows);
    report::start_ups(&start_ups);
    Ok(())
}

/// The benchmark's scratch folder: one subfolder per server started, removed at the end
/// (kept when the run fails, with the servers' logs).
struct WorkDir {
    path: PathBuf,
    next: AtomicU32,
}

impl WorkDir {
    fn new() -> Result<WorkDir, String> {
        let path = std::env::temp_dir().join(format!("hotline-bench-{}", std::process::id()));
        fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(WorkDir { path, next: AtomicU32::new(0) })
    }

    fn fresh(&self, name: &str) -> Result<PathBuf, String> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let dir = self.path.join(format!("{n:02}-{name}"));
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    fn remove(&self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::try_parse_from([&["hotline-bench"][..], args].concat()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_chats_phase_runs_alone_or_with_the_others() {
        let alone = parse(&["--phases", "chats"]).map(|a| a.phases);
        assert!(matches!(
            alone,
            Ok(Phases {
                chats: true,
                throughput: false,
                paths: false,
                scaling: false,
                history: false
            })
        ));
        let default = parse(&[]).map(|a| (a.phases.chats, a.phases.throughput, a.chats));
        assert_eq!(default, Ok((true, true, 2000)));
        for wrong in
            ["", "chat", "chats,", "chats;rm -rf /", "CHATS", "chats,".repeat(10_000).as_str()]
        {
            assert!(parse(&["--phases", wrong]).is_err(), "{wrong:.20}");
        }
    }

    #[test]
    fn chats_and_their_rate_are_bounded() {
        assert_eq!(
            parse(&["--chats", "100000", "--chat-rate", "0.5"]).map(|a| a.chats),
            Ok(100_000)
        );
        for wrong in ["0", "", "-1", "100001", "99999999999999999999", "2k", "١٠"] {
            assert!(parse(&["--chats", wrong]).is_err(), "--chats {wrong}");
        }
        for wrong in ["0", "", "-5", "NaN", "inf", "1e400", "1000001", "fast"] {
            assert!(parse(&["--chat-rate", wrong]).is_err(), "--chat-rate {wrong}");
        }
    }

    #[test]
    fn the_paths_phase_is_on_by_default_and_alone_on_demand() {
        let default = parse(&[]).map(|a| (a.phases.paths, a.phases.throughput, a.rate));
        assert_eq!(default, Ok((true, true, 1000.0)));
        let alone = parse(&["--phases", "throughput, paths"]).map(|a| a.phases);
        assert!(matches!(
            alone,
            Ok(Phases {
                throughput: true,
                paths: true,
                scaling: false,
                history: false,
                chats: false
            })
        ));
        for wrong in ["path", "paths,,", " ", "paths\u{0}", "PATHS"] {
            assert!(parse(&["--phases", wrong]).is_err(), "{wrong:?}");
        }
    }
}
