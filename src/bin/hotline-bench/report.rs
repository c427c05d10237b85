//! The benchmark's output: Markdown tables of what was measured, and the machine it ran on.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::child::{Server, Usage};
use crate::load::{Measured, quantile};

/// A load run against one server, with the server's memory after it.
pub struct ServerRun {
    /// What the load generator measured.
    pub load: Measured,
    /// The server's memory when the run ended.
    pub usage: Usage,
}

/// Runs `f` (a load run against `server`) and reads the server's memory afterwards.
pub fn measured(server: &Server, f: impl FnOnce(u32) -> Measured) -> Result<ServerRun, String> {
    let load = f(server.pid());
    let usage = server.usage()?;
    if load.requests() == 0 {
        return Err(format!(
            "no request was answered during the measurement ({} failures: {:?})",
            load.failures, load.failure_samples
        ));
    }
    Ok(ServerRun { load, usage })
}

/// One line of a summary table.
pub struct Row {
    label: String,
    rate: f64,
    latencies: Vec<u64>,
    cpu_percent: f64,
    cpu_micros: Option<f64>,
    own_cpu_percent: f64,
    peak_rss_kib: u64,
    failures: u64,
    failure_samples: Vec<String>,
    retried: u64,
    calls: u64,
}

impl Row {
    /// The line of `run`, labelled.
    pub fn new(label: &str, run: &ServerRun) -> Row {
        let mut latencies = run.load.all();
        latencies.sort_unstable();
        let secs = run.load.elapsed.as_secs_f64().max(1e-9);
        Row {
            label: label.to_owned(),
            rate: run.load.rate(),
            latencies,
            cpu_percent: 100.0 * run.load.server_cpu_secs / secs,
            cpu_micros: cpu_micros_per_request(&run.load),
            own_cpu_percent: 100.0 * run.load.own_cpu_secs / secs,
            peak_rss_kib: run.usage.peak_rss_kib,
            failures: run.load.failures,
            failure_samples: run.load.failure_samples.clone(),
            retried: run.load.retried,
            calls: run.load.calls_completed,
        }
    }
}

/// A table of requests/s, latency quantiles, CPU and peak memory, one line per run.
pub fn summary(rows: &[Row]) {
    println!(
        "| run | requests/s | p50 ms | p90 ms | p99 ms | max ms | server CPU | server CPU µs/request | load generator CPU | server peak RSS | calls ended | failures |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let q = |q: f64| ms(quantile(&row.latencies, q));
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {:.0}% | {} | {:.0}% | {:.1} MB | {} | {} |",
            row.label,
            row.rate,
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0),
            row.cpu_percent,
            micros(row.cpu_micros),
            row.own_cpu_percent,
            row.peak_rss_kib as f64 / 1024.0,
            row.calls,
            row.failures,
        );
    }
    println!();
    for row in rows {
        if row.failures > 0 {
            println!("{}: {} requests failed, for example:\n", row.label, row.failures);
            for sample in &row.failure_samples {
                println!("- {sample}");
            }
            println!();
        }
        if row.retried > 0 {
            println!(
                "{}: {} requests sent again after their connection dropped without an answer.\n",
                row.label, row.retried
            );
        }
    }
}

/// Latency per route of one run.
pub fn routes(label: &str, run: &ServerRun) {
    println!("**{label}**, per route:\n");
    println!("| route | requests | requests/s | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let secs = run.load.elapsed.as_secs_f64().max(1e-9);
    for (route, latencies) in &run.load.latencies {
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        let q = |q: f64| ms(quantile(&sorted, q));
        println!(
            "| `{route}` | {} | {:.0} | {} | {} | {} | {} |",
            sorted.len(),
            sorted.len() as f64 / secs,
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
    }
    println!();
    if !run.load.failure_samples.is_empty() {
        println!("First failures: {:?}\n", run.load.failure_samples);
    }
}

/// Latency of one kind of API request.
pub fn api_line(label: &str, latencies: &mut [u64]) {
    latencies.sort_unstable();
    let q = |q: f64| ms(quantile(latencies, q));
    println!(
        "| {label} | {} | {} | {} | {} | {} |",
        latencies.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}

/// Start-up times: process start to the first 200 from `/readyz`.
pub fn start_ups(times: &[Duration]) {
    let mut millis: Vec<u64> = times.iter().map(|t| t.as_micros() as u64).collect();
    millis.sort_unstable();
    if millis.is_empty() {
        return;
    }
    println!(
        "Start-up to ready (process start to the first 200 from `/readyz`, four languages \
         loaded, fresh database), over {} starts: median {} ms, max {} ms.\n",
        millis.len(),
        ms(quantile(&millis, 0.5)),
        ms(quantile(&millis, 1.0))
    );
}

/// The machine, from `/proc`, and the binary measured.
pub fn machine(server_bin: &Path) {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let name =
        server_bin.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    println!("# hotline-bench\n");
    println!(
        "Machine: {model}, {cores} cores available, {memory_gib:.1} GiB memory, Linux {}. \
         Server: `{name}`; the load generator runs on the same cores.\n",
        kernel.trim()
    );
}

/// The server's CPU time (user and system, every thread) per request answered during the
/// measurement, in microseconds; `None` when the server was not watched or answered nothing.
pub fn cpu_micros_per_request(load: &Measured) -> Option<f64> {
    let requests = load.requests();
    (requests > 0 && load.server_cpu_secs > 0.0)
        .then(|| load.server_cpu_secs * 1e6 / requests as f64)
}

/// CPU microseconds per request, or a dash when not measured.
pub fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

/// Microseconds as milliseconds with two decimals.
pub fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}
