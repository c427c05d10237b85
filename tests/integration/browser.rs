//! The web console in a real browser: a server like production's (the shipped scripts,
//! signatures on), an operator and a supervisor with passwords, and headless Chromium driven
//! by `tests/browser/run.mjs` through every scenario of `tests/browser/scenarios/`.
//!
//! Chromium and the Node modules come from `tests/browser/setup`; without them this test fails
//! (it never passes without having looked at a page). Screenshots land in
//! `target/browser-artifacts/`.

use crate::common;
use crate::common::messaging::{ACCOUNT_SID, FakeTwilio};
use crate::common::telegram::FakeBotApi;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::api::{self, TEST_PASSWORD};
use hotline::domain::people::Role;

/// The browser the scenarios drive: Debian's package.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The operator line's number: call-me rings come from it.
const OPERATOR_LINE: &str = "+18005550111";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("browser")
}

/// What is missing for the run, if anything.
fn missing_tools() -> Option<String> {
    let dir = browser_dir();
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(CHROMIUM.to_owned());
    }
    if !dir.join("node_modules").join("playwright-core").exists() {
        missing.push("tests/browser/node_modules (playwright-core)".to_owned());
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".to_owned());
    }
    if missing.is_empty() { None } else { Some(missing.join(", ")) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser() {
    if let Some(missing) = missing_tools() {
        panic!(
            "missing {missing}: run `tests/browser/setup` first (it installs Chromium and the Node modules)"
        );
    }
    // Publishing from the browser rewrites the scripts folder: give the server a copy.
    let scratch = tempfile::tempdir().unwrap();
    let scripts = common::shipped_scripts_copy(scratch.path());
    // The Telegram bot is on, so the chat scenario can write to it; its answers go to a
    // fake Bot API, where the operator's reply shows as delivered.
    let fake = FakeBotApi::start();
    // The provider's REST API is a fake too, so an operator can choose call me and be rung:
    // the reach scenario reads the calls it placed and answers them as the provider would.
    let provider = FakeTwilio::start();
    let app = common::spawn_app_with(|config| {
        config.scripts.dir = scripts.clone();
        config.telegram.enabled = true;
        config.telegram.api_base = fake.base.clone();
        config.provider.account_sid = ACCOUNT_SID.into();
        config.provider.api_base = provider.base.clone();
        config.operators.line_number = OPERATOR_LINE.into();
    })
    .await;
    let (operator, _) = api::person(&app, "olena", Role::Operator, &["ru", "uk"]).await;
    let (supervisor, _) = api::person(&app, "sofia", Role::Supervisor, &["ru", "uk"]).await;

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("browser-artifacts");
    let dir = browser_dir();
    let mut run = Command::new("node");
    run.arg(dir.join("run.mjs"))
        .current_dir(&dir)
        .env("HOTLINE_BASE_URL", &app.base_url)
        .env("HOTLINE_AUTH_TOKEN", common::TOKEN)
        .env("HOTLINE_OPERATOR_NAME", operator.name.as_str())
        .env("HOTLINE_OPERATOR_PASSWORD", TEST_PASSWORD)
        .env("HOTLINE_SUPERVISOR_NAME", supervisor.name.as_str())
        .env("HOTLINE_SUPERVISOR_PASSWORD", TEST_PASSWORD)
        .env("HOTLINE_SCRIPTS_DIR", &scripts)
        .env("HOTLINE_OPERATOR_PIN", api::TEST_PIN)
        .env("HOTLINE_TELEGRAM_SECRET", common::TELEGRAM_SECRET)
        .env("HOTLINE_ARTIFACTS_DIR", &artifacts)
        .env("HOTLINE_PROVIDER_API", &provider.base)
        .env("HOTLINE_PROVIDER_ACCOUNT", ACCOUNT_SID)
        .env("HOTLINE_OPERATOR_LINE", OPERATOR_LINE);
    // The server answers the browser from this process's runtime while the run blocks a
    // thread of its own.
    let output = tokio::task::spawn_blocking(move || run.output()).await.unwrap();
    let output = output.expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "browser scenarios failed ({}): their report is above",
        output.status
    );
    app.stop().await;
}
