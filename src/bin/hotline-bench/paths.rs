//! The call paths one at a time: the server's CPU time per request of each of the ten paths
//! callers take, at the most the server answers and at a paced rate, and the latency of the
//! mixed calls at half the most. Server CPU per request (user and system time of the server
//! process over the measurement) holds steady on a shared machine where requests/s does not.
//!
//! The server's CPU is measured per path, not per route: a path's requests go to several
//! routes, and their share of each route is printed beside it.

use crate::load::{Load, Measured, PATHS, quantile};
use crate::report::{self, Row, ServerRun};
use crate::{Args, Setup};

/// The most server CPU per request of a full call step at the most requests/s: the median
/// over the paths, in microseconds.
const TARGET_MICROS_AT_MOST: f64 = 60.0;
/// The same at the paced rate, where batching helps less.
const TARGET_MICROS_PACED: f64 = 120.0;
/// The most p99 latency at half the most requests/s, in microseconds.
const TARGET_P99_MICROS_AT_HALF: u64 = 10_000;

/// One path's measurements.
struct PathRun {
    path: &'static str,
    most: ServerRun,
    paced: ServerRun,
}

/// Runs the phase and prints it; `mixed_rate` is the most requests/s of the mixed calls when
/// the throughput phase measured it.
pub fn run(
    setup: &Setup,
    args: &Args,
    load: &dyn Fn(&str, usize, Option<f64>) -> Load,
    mixed_rate: Option<f64>,
) -> Result<(), String> {
    println!("## Call paths: server CPU per request\n");
    println!(
        "Each path alone, {} calls in progress: as fast as the server answers, then paced at \
         {:.0} requests/s. Server CPU is the server process's user and system time over the \
         measurement, divided by the requests answered.\n",
        args.calls, args.rate
    );
    let (hotline, _) = setup.hotline()?;
    let calls = args.calls as usize;
    let alone = |index: usize, rate: Option<f64>| Load {
        paths: std::slice::from_ref(&PATHS[index]),
        ..load(&hotline.base_url, calls, rate)
    };
    let mut runs = Vec::with_capacity(PATHS.len());
    for (index, path) in PATHS.iter().enumerate() {
        let most =
            report::measured(&hotline, |pid| crate::load::run(&alone(index, None), Some(pid)))?;
        let paced = report::measured(&hotline, |pid| {
            crate::load::run(&alone(index, Some(args.rate)), Some(pid))
        })?;
        runs.push(PathRun { path, most, paced });
    }
    let mixed_rate = match mixed_rate {
        Some(rate) => rate,
        None => {
            let run = report::measured(&hotline, |pid| {
                crate::load::run(&load(&hotline.base_url, calls, None), Some(pid))
            })?;
            run.load.rate()
        }
    };
    let half = report::measured(&hotline, |pid| {
        crate::load::run(&load(&hotline.base_url, calls, Some(mixed_rate / 2.0)), Some(pid))
    })?;
    drop(hotline);
    let base = setup.baseline()?;
    let baseline = report::measured(&base, |pid| {
        crate::load::run(&load(&base.base_url, calls, None), Some(pid))
    })?;
    // The same static answers at the paced rate: what a request costs a server that wakes
    // for each one, the floor of the paced column.
    let baseline_paced = report::measured(&base, |pid| {
        crate::load::run(&load(&base.base_url, calls, Some(args.rate)), Some(pid))
    })?;
    drop(base);

    println!(
        "| path | requests/s | server CPU µs/request | p50 ms | p99 ms | at {:.0}/s: server CPU µs/request | p99 ms | requests per route |",
        args.rate
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for run in &runs {
        let (most, paced) = (&run.most.load, &run.paced.load);
        let (most_all, paced_all) = (sorted(most), sorted(paced));
        println!(
            "| `{}` | {:.0} | {} | {} | {} | {} | {} | {} |",
            run.path,
            most.rate(),
            report::micros(report::cpu_micros_per_request(most)),
            report::ms(quantile(&most_all, 0.5)),
            report::ms(quantile(&most_all, 0.99)),
            report::micros(report::cpu_micros_per_request(paced)),
            report::ms(quantile(&paced_all, 0.99)),
            route_shares(most),
        );
    }
    let baseline_all = sorted(&baseline.load);
    println!(
        "| baseline (static TwiML), mixed paths | {:.0} | {} | {} | {} | {} | {} | {} |\n",
        baseline.load.rate(),
        report::micros(report::cpu_micros_per_request(&baseline.load)),
        report::ms(quantile(&baseline_all, 0.5)),
        report::ms(quantile(&baseline_all, 0.99)),
        report::micros(report::cpu_micros_per_request(&baseline_paced.load)),
        report::ms(quantile(&sorted(&baseline_paced.load), 0.99)),
        route_shares(&baseline.load),
    );

    let at_most = median(runs.iter().map(|r| report::cpu_micros_per_request(&r.most.load)));
    let paced = median(runs.iter().map(|r| report::cpu_micros_per_request(&r.paced.load)));
    let half_p99 = quantile(&sorted(&half.load), 0.99);
    println!("| target | measured | met |\n|---|---:|---|");
    println!(
        "| median server CPU per call step, as fast as answered: ≤ {TARGET_MICROS_AT_MOST:.0} µs | {} µs | {} |",
        report::micros(at_most),
        verdict(at_most.map(|v| v <= TARGET_MICROS_AT_MOST)),
    );
    println!(
        "| the same, paced at {:.0} requests/s: ≤ {TARGET_MICROS_PACED:.0} µs | {} µs | {} |",
        args.rate,
        report::micros(paced),
        verdict(paced.map(|v| v <= TARGET_MICROS_PACED)),
    );
    println!(
        "| p99 of the mixed calls at half their most ({:.0} of {:.0} requests/s): < {} ms | {} ms | {} |\n",
        mixed_rate / 2.0,
        mixed_rate,
        TARGET_P99_MICROS_AT_HALF / 1000,
        report::ms(half_p99),
        verdict(Some(half_p99 < TARGET_P99_MICROS_AT_HALF)),
    );
    report::summary(&[Row::new("mixed paths at half the most", &half)]);
    Ok(())
}

/// Every latency of a run, sorted.
fn sorted(load: &Measured) -> Vec<u64> {
    let mut all = load.all();
    all.sort_unstable();
    all
}

/// Each route's share of a run's requests, largest first: `incoming 25%, menu 50%, …`.
fn route_shares(load: &Measured) -> String {
    let total = load.requests().max(1) as f64;
    let mut shares: Vec<(&str, usize)> = load
        .latencies
        .iter()
        .map(|(route, latencies)| (route.strip_prefix("/voice/").unwrap_or(route), latencies.len()))
        .collect();
    shares.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shares: Vec<String> = shares
        .iter()
        .map(|(route, count)| format!("{route} {:.0}%", 100.0 * *count as f64 / total))
        .collect();
    shares.join(", ")
}

/// The median of the values present; `None` when none is.
fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut values: Vec<f64> = values.flatten().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "not measured",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_ten_paths_is_between_the_middle_two() {
        let values = [9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0, 10.0];
        assert_eq!(median(values.into_iter().map(Some)), Some(5.5));
        assert_eq!(median([Some(3.0), None, Some(1.0), Some(2.0)].into_iter()), Some(2.0));
        assert_eq!(median([None, Some(f64::NAN)].into_iter()), None);
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn route_shares_are_of_all_requests() {
        let mut load = Measured::default();
        load.latencies.insert("/voice/incoming".into(), vec![1; 25]);
        load.latencies.insert("/voice/menu".into(), vec![1; 50]);
        load.latencies.insert("/voice/status".into(), vec![1; 25]);
        assert_eq!(route_shares(&load), "menu 50%, incoming 25%, status 25%");
        assert_eq!(route_shares(&Measured::default()), "");
    }
}
