//! `hotline-bench` runs: a tiny configuration of every phase, checked for sane output. Not a
//! timed test: the numbers themselves are for `BENCHMARKS.md`, measured on a quiet machine.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline-bench"))
        .args(["--server", env!("CARGO_BIN_EXE_hotline")])
        .args(["--scripts", concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-scripts")])
        .args(args)
        .output()
        .expect("hotline-bench runs")
}

/// The requests/s column of the summary line that starts with `| label |`.
fn rate_of(out: &str, label: &str) -> f64 {
    let line = out
        .lines()
        .find(|line| line.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no line for {label}:\n{out}"));
    line.split('|').nth(2).unwrap().trim().parse().unwrap()
}

/// Not a timed test: on a loaded machine (other builds and tests on the same cores) a request
/// may take seconds, so the tiny run gives each request two minutes and measures for two
/// seconds. What fails it is what a provider would see as a failure: no answer at all, a
/// status other than 200, TwiML it could not act on.
#[test]
fn a_tiny_run_measures_every_phase() {
    let out = bench(&[
        "--request-timeout",
        "120",
        "--seconds",
        "2",
        "--warmup",
        "0.2",
        "--calls",
        "4",
        "--concurrency",
        "2",
        "--levels",
        "3,6",
        "--rate",
        "100",
        "--history",
        "3000",
        "--api-requests",
        "3",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for section in ["## Throughput", "## Scaling", "## History", "hotline/baseline requests/s"] {
        assert!(stdout.contains(section), "{section} missing:\n{stdout}");
    }
    // Every run answered requests, and no request failed.
    for label in ["hotline serve", "baseline", "3 calls", "6 calls", "new database", "with history"]
    {
        assert!(rate_of(&stdout, label) > 0.0, "{label}:\n{stdout}");
    }
    assert!(!stdout.contains("requests failed"), "{stdout}");
    // Calls went through the scripts' routes, not just the first webhook.
    for route in ["`/voice/incoming`", "`/voice/language`", "`/voice/menu`", "`/voice/status`"] {
        assert!(stdout.contains(route), "{route} never requested:\n{stdout}");
    }
    assert!(stdout.contains("Seeded 3000 cases"), "{stdout}");
    assert!(stdout.contains("`GET /api/cases/{number}` | history"), "{stdout}");
    assert!(stdout.contains("Start-up to ready"), "{stdout}");
}

#[test]
fn bad_arguments_are_refused_before_anything_starts() {
    for args in [
        &["--levels", "0"][..],
        &["--levels", "10,x"],
        &["--levels", ""],
        &["--seconds", "0"],
        &["--seconds", "-1"],
        &["--seconds", "NaN"],
        &["--rate", "inf"],
        &["--request-timeout", "0"],
        &["--concurrency", "0"],
        &["--history", "99999999999"],
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?} accepted");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "{args:?}: no message");
    }
}

#[test]
fn a_missing_server_binary_says_how_to_build_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline-bench"))
        .args(["--server", "/nonexistent/hotline", "--seconds", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cargo build --release"), "{stderr}");
}
