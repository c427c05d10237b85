//! The deployment kit (`deploy/`) as the person deploying the hotline uses it: `hotline
//! health` against running, stopped, unready, hung and foreign servers; the Dockerfile's facts
//! and its image's command run as Docker would run it (the image itself cannot be built here:
//! no Docker daemon, no registry); the systemd unit through `systemd-analyze`; the Caddyfile
//! validated, then in front of a test server, a signed webhook verifying through it.
//!
//! caddy and systemd-analyze come from `scripts/install-deploy-tools`; a test whose tool is
//! missing fails and says so, rather than passing without having looked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::common::binary::{free_port, hotline, printed as text};
use crate::common::copy_dir;
use crate::common::loopback::Loopback;
use crate::common::{self, TOKEN, assert_valid_twiml, call_params, spawn_app};

/// The repository's root.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `hotline health ARGS` from a folder without a config.toml, off the async runtime.
async fn health(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        hotline(dir.path()).arg("health").args(&args).output().unwrap()
    })
    .await
    .unwrap()
}

/// The one line `hotline health` printed on standard output.
fn line(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {}", text(output));
    lines[0].to_owned()
}

// ---- hotline health ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_ready_for_a_running_server_at_the_configured_address_or_the_url_given() {
    let app = spawn_app().await;
    let output = health(&["--url", &app.base_url]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(line(&output), format!("ready: {}/readyz answered", app.base_url));

    let output = health(&["--url", &format!("{}/", app.base_url), "--live"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(line(&output), format!("live: {}/healthz answered", app.base_url));

    // Without --url: server.listen of the configuration, here from the environment.
    let listen = app.base_url.trim_start_matches("http://").to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        hotline(dir.path()).arg("health").env("HOTLINE_SERVER_LISTEN", listen).output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(line(&output).starts_with("ready: "), "{}", text(&output));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_connection_refused_once_the_server_has_stopped() {
    let app = spawn_app().await;
    let base = app.base_url.clone();
    let _folder = app.stop().await;
    for args in [vec!["--url", base.as_str()], vec!["--url", base.as_str(), "--live"]] {
        let output = health(&args).await;
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        let line = line(&output);
        assert!(line.starts_with("unreachable: connection refused at "), "{line}");
        assert!(line.contains(&base), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_not_ready_with_the_servers_reason_while_the_database_is_locked() {
    let app = spawn_app().await;
    let locker = rusqlite::Connection::open(&app.db_path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let output = health(&["--url", &app.base_url]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let line = line(&output);
    assert!(line.starts_with("not ready: "), "{line}");
    assert!(line.ends_with(&format!("({}/readyz)", app.base_url)), "{line}");
    assert!(line.len() > "not ready: ".len() + app.base_url.len() + 10, "no reason: {line}");
    // The process still answers: only readiness is lost.
    let output = health(&["--url", &app.base_url, "--live"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    locker.execute_batch("ROLLBACK").unwrap();
    let output = health(&["--url", &app.base_url]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_gives_up_on_a_server_that_never_answers_after_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // Takes the connection and never answers, for longer than the test waits.
    std::thread::spawn(move || {
        let _held = listener.accept();
        std::thread::sleep(Duration::from_secs(10));
    });
    let started = Instant::now();
    let output = health(&["--url", &base, "--timeout", "1"]).await;
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        line(&output),
        format!("unreachable: no answer from {base}/readyz within 1 s (timeout)")
    );
    assert!(took >= Duration::from_secs(1), "gave up before its timeout: {took:?}");
    assert!(took < Duration::from_secs(4), "the timeout was not honoured: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_a_foreign_or_hostile_answer_without_echoing_it() {
    let foreign = Loopback::serve(Router::new().route("/readyz", get(|| async { "hello" })));
    let output = health(&["--url", &format!("{}/", foreign.base), "--live"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(line(&output).contains("/healthz answered 404"), "{}", text(&output));

    // A 503 whose "reason" is terminal escapes, bells and a megabyte of text.
    let hostile = Loopback::serve(Router::new().route(
        "/readyz",
        get(|| async {
            let body = format!("not ready: \x1b[2Jdisk\x07 on fire\r\n{}", "x".repeat(1 << 20));
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }),
    ));
    let output = health(&["--url", &hostile.base]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let line = line(&output);
    assert!(line.starts_with("not ready: [2Jdisk on fire ("), "{line}");
    assert!(!line.chars().any(char::is_control), "{line:?}");
    assert!(line.len() < 400, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_refuses_a_url_that_is_not_a_servers_address_and_asks_nothing() {
    let huge = format!("http://{}.org", "a".repeat(100_000));
    for url in [
        "",
        "not a url",
        "127.0.0.1:8080",
        "ftp://127.0.0.1:8080",
        "file:///etc/passwd",
        "http://",
        "http://127.0.0.1:99999",
        "http://admin:secret@127.0.0.1:8080",
        "http://127.0.0.1:8080/readyz",
        "http://127.0.0.1:8080/?x=1",
        "http://127.0.0.1:8080\r\nX-Injected: 1",
        "http://127.0.0.1:8080\u{1b}[2J",
        huge.as_str(),
    ] {
        let output = health(&["--url", url]).await;
        assert_eq!(output.status.code(), Some(2), "{url:?}: {}", text(&output));
        assert!(output.stdout.is_empty(), "{url:?}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("hotline health: --url "), "{url:?}: {stderr}");
        assert!(stderr.contains("is not a server's address"), "{url:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{url:?}: {stderr}");
        assert!(!stderr.trim_end().chars().any(char::is_control), "{url:?}: {stderr:?}");
        assert!(stderr.len() < 400, "{url:?}: {} bytes", stderr.len());
        assert!(!stderr.contains("secret"), "a password echoed: {stderr}");
    }
    for timeout in ["0", "61", "-1", "", "soon", "99999999999999999999"] {
        let timeout = format!("--timeout={timeout}");
        let output = health(&["--url", "http://127.0.0.1:1", &timeout]).await;
        assert_eq!(output.status.code(), Some(2), "--timeout {timeout:?}: {}", text(&output));
        assert!(text(&output).contains("--timeout"), "{}", text(&output));
    }
    // A listening address of port 0 names no server: said, not guessed.
    let output = tokio::task::spawn_blocking(|| {
        let dir = tempfile::tempdir().unwrap();
        hotline(dir.path()).arg("health").env("HOTLINE_SERVER_LISTEN", "127.0.0.1:0").output()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("give --url"), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_documents_the_exit_code_of_a_check_that_could_not_run() {
    let output = health(&["--url", "not a url"]).await;
    let code = output.status.code().expect("an exit code");
    let help = health(&["--help"]).await;
    let help =
        String::from_utf8_lossy(&help.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains(&format!("{code} if it could not ask")), "{help}");
    let deployment = std::fs::read_to_string(repo().join("docs/deployment.md")).unwrap();
    let deployment = deployment.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(deployment.contains(&format!("{code} the check could not run")), "docs/deployment.md");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_so_when_https_is_asked_of_a_plain_http_server() {
    let app = spawn_app().await;
    let https = app.base_url.replacen("http://", "https://", 1);
    let output = health(&["--url", &https]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let line = line(&output);
    assert!(line.contains("the server answered plain HTTP, not TLS: use http://"), "{line}");
    assert!(!line.contains("InvalidContentType"), "{line}");
}

// ---- deploy/Dockerfile ----

/// One instruction of a Dockerfile: its keyword in capitals and the rest of it, continuation
/// lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile's instructions, in order. Comment lines are dropped wherever they are, as
/// Docker drops them (inside a continued instruction too).
fn dockerfile() -> Vec<Instruction> {
    let text = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                pending.push_str(start);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                let (keyword, args) = pending.split_once(' ').expect("an instruction");
                instructions.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.split_whitespace().collect::<Vec<_>>().join(" "),
                });
                pending.clear();
            }
        }
    }
    assert!(pending.is_empty(), "the Dockerfile ends inside an instruction");
    instructions
}

/// The instructions of each stage, `FROM` first.
fn stages(instructions: &[Instruction]) -> Vec<&[Instruction]> {
    let starts: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| i.keyword == "FROM")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(starts.first(), Some(&0), "a Dockerfile starts with FROM");
    starts
        .iter()
        .enumerate()
        .map(|(n, start)| {
            &instructions[*start..starts.get(n + 1).copied().unwrap_or(instructions.len())]
        })
        .collect()
}

/// The arguments of the stage's only `keyword` instruction.
fn only<'a>(stage: &'a [Instruction], keyword: &str) -> &'a str {
    let found: Vec<&Instruction> = stage.iter().filter(|i| i.keyword == keyword).collect();
    assert_eq!(found.len(), 1, "one {keyword} expected in the image's stage");
    &found[0].args
}

/// An exec-form array (`["hotline", "serve"]`).
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not an exec-form array ({e}): {args}"))
}

/// The stage's `ENV` variables (`K=V` pairs, without quotes: what this test reads).
fn env_of(stage: &[Instruction]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for instruction in stage.iter().filter(|i| i.keyword == "ENV") {
        for pair in instruction.args.split_whitespace() {
            let (name, value) = pair.split_once('=').expect("ENV written as NAME=value");
            assert!(!value.contains(['"', '\'']), "a quoted ENV value: {pair}");
            env.insert(name.to_owned(), value.to_owned());
        }
    }
    env
}

/// A `COPY`: the stage it copies from, if not the build context, its sources and its
/// destination (other flags, `--chown`, left out).
struct Copy {
    from: Option<String>,
    sources: Vec<String>,
    destination: String,
}

fn copies(stage: &[Instruction]) -> Vec<Copy> {
    stage
        .iter()
        .filter(|i| i.keyword == "COPY")
        .map(|i| {
            let mut words: Vec<String> = i.args.split_whitespace().map(str::to_owned).collect();
            let from = words.iter().find_map(|w| w.strip_prefix("--from=").map(str::to_owned));
            words.retain(|w| !w.starts_with("--"));
            let destination = words.pop().expect("a COPY destination");
            Copy { from, sources: words, destination }
        })
        .collect()
}

/// Whether `.dockerignore` keeps `path` (relative to the repository) in the build context:
/// its patterns in order, the last that matches deciding; a pattern matches the path or a
/// folder above it. Only `*` alone is a wildcard here, which the test checks the file keeps to.
fn in_build_context(path: &str) -> bool {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let mut kept = true;
    for pattern in ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let pattern = pattern.trim_matches('/');
        assert!(pattern == "*" || !pattern.contains(['*', '?', '[']), "{pattern}: too clever");
        let parts: Vec<&str> = path.split('/').collect();
        let matches = pattern == "*" || (1..=parts.len()).any(|n| parts[..n].join("/") == pattern);
        if matches {
            kept = negated;
        }
    }
    kept
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_unprivileged_in_another() {
    let instructions = dockerfile();
    let stages = stages(&instructions);
    assert_eq!(stages.len(), 2, "a build stage and the image");
    let (build, image) = (stages[0], stages[1]);

    let from = &build[0].args;
    assert!(from.starts_with("rust:") && from.contains("bookworm"), "{from}");
    let name =
        from.rsplit_once(" AS ").or_else(|| from.rsplit_once(" as ")).expect("a named stage").1;
    let runs: Vec<&str> =
        build.iter().filter(|i| i.keyword == "RUN").map(|i| i.args.as_str()).collect();
    assert!(runs.iter().any(|r| r.contains("cargo build --release --locked")), "{runs:?}");
    assert!(image[0].args.starts_with("debian:bookworm-slim"), "{}", image[0].args);

    // Every file of the context copied exists, and .dockerignore lets it through.
    for copy in copies(build).iter().chain(&copies(image)).filter(|c| c.from.is_none()) {
        for source in &copy.sources {
            let source = source.trim_end_matches('/');
            assert!(repo().join(source).exists(), "COPY {source}: not in the repository");
            assert!(in_build_context(source), "COPY {source}: left out by .dockerignore");
        }
    }
    // What the crate is built from is all in the build stage: its manifest's targets too.
    for needed in ["Cargo.toml", "Cargo.lock", "src", "templates", "db", "benches"] {
        let copied = copies(build)
            .iter()
            .any(|c| c.sources.iter().any(|s| s.trim_end_matches('/') == needed));
        assert!(copied, "the build does not copy {needed}");
    }
    for left_out in
        ["target/release/hotline", "data/hotline.db", "tests/integration/main.rs", ".git/config"]
    {
        assert!(!in_build_context(left_out), "{left_out} is sent to the build");
    }
    let binary = copies(image).into_iter().find(|c| c.from.as_deref() == Some(name));
    assert!(binary.is_some(), "the image copies the binary from the {name} stage");

    let user = only(image, "USER");
    assert!(!["root", "0", "0:0"].contains(&user) && !user.starts_with("root:"), "USER {user}");

    // The folder the database is kept in (config.toml's, from the working directory) is a
    // volume, and so is the scripts folder the server writes published versions into.
    let workdir = Path::new(only(image, "WORKDIR"));
    let config = hotline::config::Config::default();
    let volumes = exec_form(only(image, "VOLUME"));
    for kept in [workdir.join(config.database.dir()), workdir.join(&config.scripts.dir)] {
        assert!(
            volumes.iter().any(|v| kept.starts_with(v)),
            "{} is in no VOLUME {volumes:?}",
            kept.display()
        );
    }

    let env = env_of(image);
    assert_eq!(env.get("HOTLINE_SERVER_PRODUCTION").map(String::as_str), Some("true"));
    let listen: std::net::SocketAddr = env["HOTLINE_SERVER_LISTEN"].parse().unwrap();
    assert_eq!(only(image, "EXPOSE"), listen.port().to_string());
    for secret in
        ["HOTLINE_AUTH_TOKEN_FILE", "HOTLINE_CALLER_HASH_KEY_FILE", "HOTLINE_CALLBACK_KEY_FILE"]
    {
        assert!(env.get(secret).is_some_and(|path| path.starts_with("/run/secrets/")), "{secret}");
        assert!(!env.contains_key(secret.trim_end_matches("_FILE")), "{secret} given in clear");
    }
    // Docker kills a container 10 s after `docker stop`: the grace must end before.
    let grace: u64 = env["HOTLINE_SERVER_SHUTDOWN_GRACE_SECS"].parse().unwrap();
    assert!(grace < 10, "a grace of {grace} s outlasts Docker's 10 s");

    let healthcheck = only(image, "HEALTHCHECK");
    let (options, command) = healthcheck.split_once(" CMD ").expect("HEALTHCHECK ... CMD [...]");
    // Liveness, not readiness: docs/resilience.md restarts for the one, never the other.
    assert_eq!(exec_form(command), ["hotline", "health", "--live"]);
    let check_timeout = options
        .split_whitespace()
        .find_map(|o| o.strip_prefix("--timeout="))
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|t| t.parse::<u64>().ok())
        .expect("HEALTHCHECK --timeout=Ns");
    let help = hotline(repo()).args(["health", "--help"]).output().unwrap();
    let own = text(&help);
    let own_timeout: u64 = own
        .split("[default: ")
        .filter_map(|rest| rest.split(']').next()?.parse().ok())
        .next()
        .expect("health --help shows its timeout's default");
    assert!(check_timeout > own_timeout, "Docker would cut `hotline health` short: {own}");
    assert_eq!(exec_form(only(image, "ENTRYPOINT")), ["hotline"]);
}

/// A stopped child is waited for; one still running is killed first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every file under `dir`.
fn files_under(dir: &Path, found: &mut BTreeSet<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            files_under(&entry.path(), found);
        } else {
            found.insert(entry.path());
        }
    }
}

/// The image's file system laid out under a temporary root, and how to run a command in it as
/// Docker would: the image's environment only (its absolute paths moved under the root), in
/// its working directory, the `hotline` of the command being the binary built for the tests.
struct Image {
    root: tempfile::TempDir,
    env: BTreeMap<String, String>,
    workdir: PathBuf,
    volume: PathBuf,
    command: Vec<String>,
    healthcheck: Vec<String>,
}

impl Image {
    /// Lays the image out as its Dockerfile says: the files of the context it copies, its
    /// working directory and its volume. `listen_port` replaces the exposed port (tests run
    /// beside each other); `public_url` is what every deployment sets.
    fn lay_out(listen_port: u16, public_url: &str) -> Image {
        let instructions = dockerfile();
        let image = stages(&instructions)[1];
        let root = tempfile::tempdir().unwrap();
        let at = |path: &str| root.path().join(path.trim_start_matches('/'));
        for copy in copies(image).iter().filter(|c| c.from.is_none()) {
            for source in &copy.sources {
                let from = repo().join(source);
                let to = at(&copy.destination);
                if from.is_dir() {
                    copy_dir(&from, &to);
                } else {
                    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                    std::fs::copy(&from, &to).unwrap();
                }
            }
        }
        let workdir = at(only(image, "WORKDIR"));
        std::fs::create_dir_all(&workdir).unwrap();
        let volume = at(&exec_form(only(image, "VOLUME"))[0]);
        std::fs::create_dir_all(&volume).unwrap();
        let mut env = BTreeMap::new();
        for (name, value) in env_of(image) {
            let value =
                if value.starts_with('/') { at(&value).display().to_string() } else { value };
            env.insert(name, value);
        }
        let listen = env["HOTLINE_SERVER_LISTEN"].rsplit_once(':').unwrap().0.to_owned();
        env.insert("HOTLINE_SERVER_LISTEN".into(), format!("{listen}:{listen_port}"));
        env.insert("HOTLINE_SERVER_PUBLIC_URL".into(), public_url.into());
        let mut command = exec_form(only(image, "ENTRYPOINT"));
        command.extend(exec_form(only(image, "CMD")));
        let healthcheck = exec_form(only(image, "HEALTHCHECK").split_once(" CMD ").unwrap().1);
        Image { root, env, workdir, volume, command, healthcheck }
    }

    /// Writes each secret file the environment names, as `docker secret` would mount them.
    fn mount_secrets(&self) {
        for (name, path) in self.env.iter().filter(|(name, _)| name.ends_with("_FILE")) {
            let path = Path::new(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let value = format!("{}-{}", name.to_ascii_lowercase(), "0123456789abcdef".repeat(3));
            std::fs::write(path, format!("{value}\n")).unwrap();
        }
    }

    /// `command` as the image runs it.
    fn run(&self, command: &[String]) -> Command {
        assert_eq!(command[0], "hotline", "the image's commands run hotline");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
        cmd.args(&command[1..])
            .current_dir(&self.workdir)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(&self.env);
        cmd
    }
}

#[test]
fn the_images_command_serves_from_its_volume_and_its_healthcheck_sees_it_live() {
    let port = free_port();
    let image = Image::lay_out(port, "https://hotline.example.org");

    // Without its secrets the image refuses to start, naming what is missing.
    let output = image.run(&image.command).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("/run/secrets/hotline_auth_token"), "{}", text(&output));

    image.mount_secrets();
    let mut before = BTreeSet::new();
    files_under(image.root.path(), &mut before);
    let output = image.run(&image.healthcheck).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("connection refused"), "{}", text(&output));

    let mut server = Running(
        image.run(&image.command).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
    );
    let started = Instant::now();
    let healthy = loop {
        let output = image.run(&image.healthcheck).output().unwrap();
        if output.status.success() {
            break output;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut logs = String::new();
            server.0.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
            panic!("the server stopped ({status}): {logs}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never healthy: {}", text(&output));
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(line(&healthy), format!("live: http://127.0.0.1:{port}/healthz answered"));
    let ready = image.run(&["hotline".into(), "health".into()]).output().unwrap();
    assert_eq!(line(&ready), format!("ready: http://127.0.0.1:{port}/readyz answered"));

    // Stopped as `docker stop` does, within the grace it gives.
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");

    // Everything the server wrote is in the volume; its logs are JSON, its secrets its own.
    let mut after = BTreeSet::new();
    files_under(image.root.path(), &mut after);
    let written: Vec<&PathBuf> = after.difference(&before).collect();
    assert!(written.iter().any(|f| f.ends_with("data/hotline.db")), "{written:?}");
    for file in &written {
        assert!(file.starts_with(&image.volume), "{} is outside the volume", file.display());
    }
    let mut logs = String::new();
    server.0.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    server.0.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(!logs.contains("GENERATED"), "{logs}");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

// ---- the tools of the other tests ----

/// `name` on the PATH; a test that needs it fails, naming the script that installs it.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: run scripts/install-deploy-tools (as root or with sudo)"
            )
        })
}

// ---- deploy/hotline.service ----

/// The unit's `Key=value` lines of `[Service]`, every value of each key.
fn service_settings(unit: &str) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = "";
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]"
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            settings.entry(key.to_owned()).or_default().push(value.to_owned());
        }
    }
    settings
}

#[test]
fn the_systemd_unit_verifies_and_keeps_the_server_to_its_folder() {
    let analyze = tool("systemd-analyze");
    let unit = std::fs::read_to_string(repo().join("deploy/hotline.service")).unwrap();
    let settings = service_settings(&unit);
    let one = |key: &str| -> &str {
        let values = settings.get(key).unwrap_or_else(|| panic!("no {key}="));
        assert_eq!(values.len(), 1, "{key}= given {} times", values.len());
        &values[0]
    };

    // The secrets come from credentials, each variable naming its file in the credentials'
    // folder, and never from the unit itself.
    let credentials: Vec<&str> =
        settings["LoadCredential"].iter().map(|c| c.split(':').next().unwrap()).collect();
    for secret in ["HOTLINE_AUTH_TOKEN", "HOTLINE_CALLER_HASH_KEY", "HOTLINE_CALLBACK_KEY"] {
        let given = settings["Environment"]
            .iter()
            .find_map(|e| e.strip_prefix(&format!("{secret}_FILE=%d/")))
            .unwrap_or_else(|| panic!("{secret}_FILE is not set to a credential"));
        assert!(credentials.contains(&given), "{secret}_FILE names {given}, not loaded");
        assert!(!settings["Environment"].iter().any(|e| e.starts_with(&format!("{secret}="))));
    }
    // The data folder is the working directory, writable, the rest of the system not.
    let workdir = one("WorkingDirectory");
    assert_eq!(format!("/var/lib/{}", one("StateDirectory")), workdir);
    assert!(settings["ReadWritePaths"].iter().any(|p| p == workdir), "{workdir} not writable");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("CapabilityBoundingSet"), "");
    assert_eq!(one("Restart"), "always");
    assert!(!["root", "0"].contains(&one("User")));
    // Calls in flight get the server's whole grace before systemd kills.
    let stop: u64 = one("TimeoutStopSec").parse().unwrap();
    let grace = hotline::config::Config::default().server.shutdown_grace_secs;
    assert!(stop > grace, "TimeoutStopSec={stop} cuts the server's {grace} s grace short");
    // The same layout as the container image's, so docs/deployment.md describes one.
    let instructions = dockerfile();
    let image = stages(&instructions)[1];
    assert_eq!(only(image, "WORKDIR"), workdir);
    let config = settings["Environment"].iter().find_map(|e| e.strip_prefix("HOTLINE_CONFIG="));
    assert_eq!(config, env_of(image).get("HOTLINE_CONFIG").map(String::as_str));

    // systemd's own checks, on a copy that starts the binary built for the tests.
    let exec = one("ExecStart");
    let program = exec.split_whitespace().next().unwrap();
    assert_eq!(program, "/usr/local/bin/hotline");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hotline.service");
    std::fs::write(&copy, unit.replace(program, env!("CARGO_BIN_EXE_hotline"))).unwrap();
    let output = Command::new(&analyze).arg("verify").arg(&copy).output().unwrap();
    let said = text(&output);
    let about_it: Vec<&str> = said.lines().filter(|l| l.contains("hotline.service")).collect();
    assert!(output.status.success() && about_it.is_empty(), "systemd-analyze verify:\n{said}");
    // And its exposure score: the hardening above, read by systemd, not by this test.
    let output =
        Command::new(&analyze).args(["security", "--offline=true"]).arg(&copy).output().unwrap();
    let said = text(&output);
    let score: f64 = said
        .split("Overall exposure level for hotline.service: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level:\n{said}"));
    assert!(score <= 2.0, "exposure {score} (systemd says 2.0 or less is OK):\n{said}");
}

// ---- deploy/Caddyfile ----

/// The shipped Caddyfile's site, which a deployment replaces with its own name.
const SITE: &str = "hotline.example.org";
/// The upstream the shipped Caddyfile proxies to: `hotline serve` on its default address.
const UPSTREAM: &str = "127.0.0.1:8080";

/// Caddy, its state (certificates, its own CA) kept in `home`.
fn caddy(home: &Path) -> Command {
    let mut cmd = Command::new(tool("caddy"));
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

#[test]
fn the_caddyfile_is_valid_and_matches_the_hotlines_defaults() {
    let caddyfile = std::fs::read_to_string(repo().join("deploy/Caddyfile")).unwrap();
    let sites: Vec<&str> =
        caddyfile.lines().filter(|l| l.ends_with('{') && !l.starts_with(['#', '\t'])).collect();
    assert_eq!(sites, [format!("{SITE} {{")], "one site, the hotline's");
    assert!(caddyfile.contains(&format!("reverse_proxy {UPSTREAM}\n")));
    let config = hotline::config::Config::default();
    assert_eq!(config.server.listen.to_string(), UPSTREAM, "the upstream is the hotline's default");
    assert!(caddyfile.contains(&format!("public_url = \"https://{SITE}\"")));
    assert!(caddyfile.contains("trusted_proxy = \"127.0.0.1\""));
    // Nothing that would change what the hotline signs over, or keep callers' addresses.
    let directives: Vec<&str> =
        caddyfile.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    for changes in ["uri", "rewrite", "header_up", "log"] {
        let found = directives.iter().find(|l| l.split_whitespace().next() == Some(changes));
        assert!(found.is_none(), "{found:?} in the Caddyfile");
    }

    let home = tempfile::tempdir().unwrap();
    let output = caddy(home.path())
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(repo().join("deploy/Caddyfile"))
        .output()
        .unwrap();
    let said = text(&output);
    assert!(output.status.success(), "caddy validate:\n{said}");
    assert!(said.contains("Valid configuration"), "{said}");
    let warnings: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("\"level\":\"warn\"") || l.contains("\"level\":\"error\""))
        .collect();
    assert!(warnings.is_empty(), "caddy validate warned:\n{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_verifies_through_caddy_and_forgers_are_counted_by_their_own_address() {
    let proxy_port = free_port();
    let public_url = format!("https://127.0.0.1:{proxy_port}");
    // Its own address, since the test server names only its public URL once it has one.
    let upstream = format!("127.0.0.1:{}", free_port());
    let app = common::spawn_app_with(|c| {
        c.server.listen = upstream.parse().unwrap();
        c.server.public_url = public_url.clone();
        c.server.trusted_proxy = Some("127.0.0.1".parse().unwrap());
        c.server.refusals_per_minute = 3;
    })
    .await;

    // The shipped Caddyfile for this machine: the test server's site and port, and, since
    // Let's Encrypt cannot be reached from here, certificates from Caddy's own local CA.
    let home = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(repo().join("deploy/Caddyfile")).unwrap();
    let site = shipped.lines().find(|l| l.starts_with(SITE)).expect("the site's block");
    let local = format!(
        "{{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\tauto_https disable_redirects\n}}\n{}",
        shipped
            .replace(site, &site.replace(SITE, &format!("127.0.0.1:{proxy_port}")))
            .replace(&format!("reverse_proxy {UPSTREAM}"), &format!("reverse_proxy {upstream}"))
    );
    let config = home.path().join("Caddyfile");
    std::fs::write(&config, local).unwrap();
    let mut proxy = Running(
        caddy(home.path())
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let root = home.path().join("data/caddy/pki/authorities/local/root.crt");
    let started = Instant::now();
    while !(root.exists() && std::net::TcpStream::connect(("127.0.0.1", proxy_port)).is_ok()) {
        if let Some(status) = proxy.0.try_wait().unwrap() {
            let mut logs = String::new();
            proxy.0.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
            panic!("caddy stopped ({status}):\n{logs}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "caddy did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ca = std::fs::read(&root).unwrap();

    let sid = common::new_call_sid();
    let params: Vec<(String, String)> =
        call_params(&sid).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let incoming = format!("{public_url}/voice/incoming");
    let signature = hotline::signature::compute(TOKEN.as_bytes(), &incoming, &params);
    let (status, answer) = through_tls(&ca, &incoming, &params, &signature, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_valid_twiml(&answer, common::Context::Call);
    app.case(&sid).await;
    // The next URL the provider is given, relative, is resolved against the public URL; its
    // signature, over the query string too, verifies through the proxy as well.
    let next = answer
        .split("action=\"/voice/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|rest| format!("{public_url}/voice/{}", rest.replace("&amp;", "&")))
        .unwrap_or_else(|| panic!("no action in:\n{answer}"));
    assert!(next.contains('?'), "{next}");
    let mut pressed = params.clone();
    pressed.push(("Digits".into(), "1".into()));
    let signature = hotline::signature::compute(TOKEN.as_bytes(), &next, &pressed);
    let (status, answer) = through_tls(&ca, &next, &pressed, &signature, None).await;
    assert_eq!(status, 200, "{next}: {answer}");
    assert_valid_twiml(&answer, common::Context::Call);

    // Forged signatures, each claiming another address: Caddy replaces the claim with the
    // sender's own, so the sender is cut short once past its allowance.
    let mut statuses = Vec::new();
    for n in 0..5 {
        let claimed = format!("203.0.113.{n}");
        let (status, _) = through_tls(&ca, &incoming, &params, "forged", Some(&claimed)).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [403, 403, 403, 429, 429]);
    app.stop().await;
}

/// Posts `params` to `url` over TLS, trusting only `ca`, signed with `signature`, claiming to
/// come from `forwarded_for` when given; the status and the body.
async fn through_tls(
    ca: &[u8],
    url: &str,
    params: &[(String, String)],
    signature: &str,
    forwarded_for: Option<&str>,
) -> (u16, String) {
    let root = ureq::tls::Certificate::from_pem(ca).unwrap().to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[root]))
        .build();
    let agent = common::agent_config().tls_config(tls).build().new_agent();
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let (url, signature) = (url.to_owned(), signature.to_owned());
    let forwarded_for = forwarded_for.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut request = agent
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signature);
        if let Some(claimed) = &forwarded_for {
            request = request.header("X-Forwarded-For", claimed);
        }
        let mut response = request.send(body.as_str()).unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    })
    .await
    .unwrap()
}
