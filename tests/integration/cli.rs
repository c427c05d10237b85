//! The `hotline` binary as a newcomer and a supervisor use it: check scripts, serve, call,
//! read cases (in the line's time zone); and what an attacker holding the disk or the logs
//! would find.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::binary::{free_port, hotline, printed as text};
use crate::common::copy_dir;

fn shipped_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts")
}

#[test]
fn check_passes_on_the_shipped_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let output = hotline(dir.path()).arg("check").arg(shipped_scripts()).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("valid"), "{}", text(&output));
}

#[test]
fn check_and_serve_list_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("ivr-scripts");
    copy_dir(&shipped_scripts(), &scripts);
    let ru = scripts.join("ru.xml");
    let original = std::fs::read_to_string(&ru).unwrap();
    let broken = original.replacen("goto=\"relative\"", "goto=\"relatives\"", 1);
    let line = broken.lines().position(|l| l.contains("goto=\"relatives\"")).unwrap() + 1;
    std::fs::write(&ru, broken).unwrap();

    let output = hotline(dir.path()).args(["check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report = text(&output);
    assert!(report.contains(&format!("ru.xml:{line}:")), "{report}");
    assert!(report.contains("relatives"), "{report}");

    let output = hotline(dir.path())
        .args(["serve"])
        .env("HOTLINE_SERVER_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains(&format!("ru.xml:{line}:")), "{}", text(&output));
}

#[test]
fn bad_configuration_stops_the_start_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        hotline(dir.path()).args(["serve"]).env("HOTLINE_SERVER_LISTN", "x").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("HOTLINE_SERVER_LISTEN"), "{}", text(&output));

    let output = hotline(dir.path()).args(["--config", "missing.toml", "check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("missing.toml"), "{}", text(&output));

    let output = hotline(dir.path())
        .args(["serve", "--production"])
        .env("HOTLINE_SERVER_PUBLIC_URL", "https://hotline.example.org")
        .env("HOTLINE_SCRIPTS_DIR", shipped_scripts())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("HOTLINE_AUTH_TOKEN"), "{}", text(&output));
    assert!(!dir.path().join("data/auth_token").exists(), "production must not generate secrets");
}

/// Text logs written to a pipe (journald, a container runtime, a file) carry no colour codes:
/// those keep the escape bytes, which garble the lines and defeat searches.
#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    // In an empty folder the start logs its generated secrets, then fails for want of scripts.
    let output = hotline(dir.path())
        .arg("serve")
        .env("HOTLINE_SERVER_LISTEN", "127.0.0.1:0")
        .env("HOTLINE_LOG_FORMAT", "text")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains(" WARN ") && logs.contains(" ERROR "), "{logs}");
    assert!(!output.stderr.contains(&0x1b), "escape codes in {logs:?}");
}

#[test]
fn cli_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["case", "42"][..],
        &["case", "2026-x"],
        &["call", "--press", "1,abc"],
        &["call", "--press", ""],
    ] {
        let output = hotline(dir.path()).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
    }
    let output = hotline(dir.path()).args(["serve", "--bogus"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = hotline(dir.path()).args(["cases"]).output().unwrap();
    assert!(text(&output).contains("no database"), "{}", text(&output));
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// `hotline serve` in `dir` on loopback `port`, with `vars` besides, once it answers; its
/// output piped, for the tests that read its logs.
fn serve(dir: &Path, port: u16, vars: &[(&str, &str)]) -> Server {
    let server = Server(
        hotline(dir)
            .arg("serve")
            .env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until_up(port);
    server
}

fn wait_until_up(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_newcomer_serves_calls_and_reads_the_case_and_no_number_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped_scripts(), &dir.path().join("ivr-scripts"));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"),
        dir.path().join("config.toml"),
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let vars = [("HOTLINE_LOG_LEVEL", "debug"), ("HOTLINE_LOG_FORMAT", "json")];
    let mut server = serve(dir.path(), port, &vars);

    let output = hotline(dir.path())
        .args(["call", "--from", "+7 916 555-12-34", "--press", "2,1,1,1"])
        .env("HOTLINE_SERVER_LISTEN", &listen)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let transcript = text(&output);
    assert!(transcript.contains("ko-KR"), "{transcript}");
    assert!(transcript.contains("상담원"), "{transcript}");

    let output = hotline(dir.path()).args(["cases"]).output().unwrap();
    let cases = text(&output);
    assert!(output.status.success(), "{cases}");
    let number = cases
        .split_whitespace()
        .find(|w| w.len() == 11 && w.as_bytes()[4] == b'-')
        .expect("a case number")
        .to_owned();
    let output = hotline(dir.path()).args(["case", &number]).output().unwrap();
    let case = text(&output);
    assert!(case.contains("intent=surrender") && case.contains("group=alone"), "{case}");
    // The list and the case name the same outcome, in the one vocabulary.
    let listed = cases.lines().find(|line| line.starts_with(&number)).expect("the case's line");
    let name = case
        .lines()
        .find_map(|line| line.trim().strip_prefix("outcome"))
        .and_then(|rest| rest.split('[').nth(1)?.split(']').next())
        .expect("the outcome's name")
        .to_owned();
    assert!(hotline::domain::timeline::CaseOutcome::parse(&name).is_some(), "{case}");
    assert!(listed.contains(&format!("  {name}")), "{listed} / {case}");
    assert!(!case.contains("kind") && !case.contains("{\""), "{case}");
    // The same case for a line run from Kyiv: its local time, the zone's abbreviation said
    // on the line; a zone that does not exist is a clear error.
    let started = |case: &str| {
        let line = case.lines().find(|l| l.trim_start().starts_with("started")).unwrap();
        line.trim_start().trim_start_matches("started").trim().to_owned()
    };
    let utc = started(&case);
    assert!(utc.ends_with(" UTC"), "{utc}");
    let output = hotline(dir.path())
        .args(["case", &number])
        .env("HOTLINE_CONSOLE_TIME_ZONE", "Europe/Kyiv")
        .output()
        .unwrap();
    let kyiv = started(&text(&output));
    let (local, abbreviation) = kyiv.rsplit_once(' ').unwrap();
    assert!(["EET", "EEST"].contains(&abbreviation), "{kyiv}");
    let parse = |t: &str| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap();
    let ahead = parse(local) - parse(utc.trim_end_matches(" UTC"));
    let expected = if abbreviation == "EET" { 2 } else { 3 };
    assert_eq!(ahead, chrono::Duration::hours(expected), "{utc} / {kyiv}");
    let output = hotline(dir.path())
        .args(["case", &number])
        .env("HOTLINE_CONSOLE_TIME_ZONE", "Mars/Olympus_Mons")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output).contains("IANA"), "{}", text(&output));

    // The caller is told by their other cases, as on the console's case page, never by a
    // piece of their hash.
    assert!(case.contains("caller    no other case"), "{case}");
    let output = hotline(dir.path())
        .args(["call", "--from", "+7 916 555-12-34", "--press", "2,1,1,1"])
        .env("HOTLINE_SERVER_LISTEN", &listen)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let again = text(&output);
    let second = again
        .split_whitespace()
        .find(|w| w.len() == 11 && w.as_bytes()[4] == b'-' && *w != number)
        .unwrap_or_else(|| panic!("no second case named: {again}"))
        .to_owned();
    let output = hotline(dir.path()).args(["case", &second]).output().unwrap();
    let repeat = text(&output);
    assert!(repeat.contains(&format!("caller    also called in {number}")), "{repeat}");
    assert!(!repeat.contains('#'), "{repeat}");

    // Stop it as an init system would, and read everything it logged.
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "SIGTERM should stop the server cleanly: {status:?}");
    let mut logs = String::new();
    server.0.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    server.0.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("GENERATED DEVELOPMENT SECRETS"), "{logs}");
    // JSON logs: one object per line, webhooks carrying their CallSid.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["call_sid"].as_str().is_some_and(|s| s.starts_with("CA"))),
        "no webhook span with a CallSid: {logs}"
    );

    // The number, however written, is nowhere: not in logs, not in any file the server wrote.
    for needle in ["5551234", "555-12-34", "9165551234"] {
        assert!(!logs.contains(needle), "logs contain {needle}");
        for entry in walk(&dir.path().join("data")) {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(!contains(&bytes, needle.as_bytes()), "{} contains {needle}", entry.display());
        }
    }
    // Only the server's user can read what it keeps.
    for file in
        ["data/auth_token", "data/caller_hash_key", "data/hotline.db", "data/hotline.db.journal"]
    {
        let meta = std::fs::metadata(dir.path().join(file)).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // Nor list the folder: the file names alone tell what the machine is for.
    let meta = std::fs::metadata(dir.path().join("data")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o700);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Stops a server as an init system would (SIGTERM) and returns everything it logged.
fn stop_and_read_logs(server: &mut Server) -> String {
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "SIGTERM should stop the server cleanly: {status:?}");
    let mut logs = String::new();
    if let Some(mut stderr) = server.0.stderr.take() {
        stderr.read_to_string(&mut logs).unwrap();
    }
    if let Some(mut stdout) = server.0.stdout.take() {
        stdout.read_to_string(&mut logs).unwrap();
    }
    logs
}

/// Runs a command that should end by itself; one that is still running after `limit` (a
/// server that started when it should have refused) is killed and the test fails.
fn output_within(mut command: Command, limit: Duration) -> Output {
    let mut child = Server(command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let started = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < limit, "still running after {limit:?}: it should have stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child.0.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    child.0.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    Output { status: child.0.wait().unwrap(), stdout, stderr }
}

#[test]
fn production_refuses_the_keys_a_development_start_left_and_names_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("ivr-scripts");
    copy_dir(&shipped_scripts(), &scripts);
    // A trial start in development generates the three secrets into data/.
    let port = free_port();
    let mut trial = serve(dir.path(), port, &[("HOTLINE_SCRIPTS_DIR", scripts.to_str().unwrap())]);
    stop_and_read_logs(&mut trial);
    let generated: Vec<String> = ["caller_hash_key", "callback_key"]
        .iter()
        .map(|file| std::fs::read_to_string(dir.path().join("data").join(file)).unwrap())
        .collect();

    // Production with only the auth token given: refused, both keys named in one error.
    let token = "0123456789abcdef0123456789abcdef";
    let production = |token: &str| {
        let mut command = hotline(dir.path());
        command
            .args(["serve", "--production"])
            .env("HOTLINE_SERVER_PUBLIC_URL", "https://hotline.example.org")
            .env("HOTLINE_SCRIPTS_DIR", &scripts)
            .env("HOTLINE_AUTH_TOKEN", token);
        command
    };
    let mut refused = production(token);
    refused.env("HOTLINE_SERVER_LISTEN", "127.0.0.1:0");
    let output = output_within(refused, Duration::from_secs(20));
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    for name in ["HOTLINE_CALLER_HASH_KEY_FILE", "HOTLINE_CALLBACK_KEY_FILE"] {
        assert!(said.contains(name), "{name} not named: {said}");
    }
    for value in &generated {
        assert!(!said.contains(value.trim()), "a secret in the output: {said}");
    }

    // Every secret given, an auth token of another shape: it starts (on a database of its
    // own, since this one knows the development caller-hash key), with a warning that does
    // not repeat the token.
    let odd = "SK-not-a-twilio-auth-token";
    let port = free_port();
    let mut server = Server(
        production(odd)
            .env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOTLINE_DATABASE_PATH", dir.path().join("production/hotline.db"))
            .env("HOTLINE_CALLER_HASH_KEY", "a-caller-hash-key-for-production")
            .env("HOTLINE_CALLBACK_KEY", "a-callback-key-of-thirty-two-characters")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until_up(port);
    let logs = stop_and_read_logs(&mut server);
    assert!(logs.contains("does not look like a Twilio auth token"), "{logs}");
    assert!(!logs.contains(odd), "the token in the logs: {logs}");
}

#[test]
fn an_operator_in_one_terminal_takes_the_caller_waiting_in_another() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped_scripts(), &dir.path().join("ivr-scripts"));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"),
        dir.path().join("config.toml"),
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let added = hotline(dir.path())
        .args(["users", "add", "olga", "--role", "operator", "--languages", "ru"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));
    let added = text(&added);
    let field = |name: &str| {
        added
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {added}"))
    };
    let (id, pin) = (field("operator id:"), field("pin:"));
    // The server's first start writes the development keys the phone number is sealed with.
    let mut server = serve(dir.path(), port, &[]);
    // How she is reached: call me needs a provider account this hotline lacks; numbers are
    // checked before anything is stored.
    let reach = |args: &[&str]| {
        let mut command = hotline(dir.path());
        command.args(["users", "reach", "olga"]).args(args);
        command.output().unwrap()
    };
    let refused = reach(&["--mode", "call-me", "--phone", "+380441234567"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("provider.account_sid"), "{}", text(&refused));
    let huge = format!("+{}", "1".repeat(10_000));
    for phone in ["", "380441234567", "+12", "<script>", huge.as_str()] {
        let wrong = reach(&["--mode", "line", "--phone", phone]);
        assert_eq!(wrong.status.code(), Some(2), "{phone:?}: {}", text(&wrong));
        assert!(!text(&wrong).contains("1111111111"), "the refusal quotes a huge number");
    }
    for mode in ["", "phone", "CALL-ME"] {
        assert_eq!(reach(&["--mode", mode]).status.code(), Some(2), "{mode:?}");
    }
    let set = reach(&["--mode", "line", "--phone", "+380441234567"]);
    assert!(set.status.success(), "{}", text(&set));
    assert!(text(&set).contains("on the line, a phone number"), "{}", text(&set));
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{pin}\n")).unwrap();

    // A caller, at the terminal, asks for an operator and waits.
    let mut caller = Server(
        hotline(dir.path())
            .args(["call", "--from", "+79161234567"])
            .env("HOTLINE_SERVER_LISTEN", &listen)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    {
        use std::io::Write;
        let stdin = caller.0.stdin.as_mut().unwrap();
        stdin.write_all(b"1\n0\n").unwrap();
        stdin.flush().unwrap();
    }
    let cases = || text(&hotline(dir.path()).args(["cases"]).output().unwrap());
    let started = Instant::now();
    while !cases().split_whitespace().any(|w| w.len() == 11 && w.as_bytes()[4] == b'-') {
        assert!(started.elapsed() < Duration::from_secs(20), "no call came: {}", cases());
        std::thread::sleep(Duration::from_millis(200));
    }
    // The two keys take the caller to the queue in a few requests.
    std::thread::sleep(Duration::from_secs(1));

    // The operator, in another terminal: PIN, whisper, the bridge, then hangs up at wrap-up.
    let mut operator = hotline(dir.path());
    operator
        .args(["call", "--operator", &id, "--pin-file"])
        .arg(&pin_file)
        .args(["--talk", "3", "--press", "hangup"])
        .env("HOTLINE_SERVER_LISTEN", &listen);
    let took = output_within(operator, Duration::from_secs(60));
    let transcript = text(&took);
    assert!(took.status.success(), "{transcript}");
    assert!(transcript.contains("Welcome, olga"), "{transcript}");
    assert!(transcript.contains("Russian"), "the whisper: {transcript}");
    assert!(transcript.contains("connected to the caller"), "{transcript}");
    assert!(transcript.contains("The call has ended"), "{transcript}");
    assert!(!transcript.contains(&pin), "the PIN is printed: {transcript}");

    // The caller hangs up after the talk; they heard that an operator was on the way.
    {
        use std::io::Write;
        let stdin = caller.0.stdin.as_mut().unwrap();
        let _ = stdin.write_all(b"h\nh\n");
    }
    let status = caller.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut heard = String::new();
    caller.0.stdout.take().unwrap().read_to_string(&mut heard).unwrap();
    assert!(heard.contains("queue"), "{heard}");

    // A wrong PIN: the operator line refuses it, as on a phone.
    std::fs::write(&pin_file, "0000\n").unwrap();
    let mut wrong = hotline(dir.path());
    wrong
        .args(["call", "--operator", &id, "--pin-file"])
        .arg(&pin_file)
        .args(["--press", "hangup"])
        .env("HOTLINE_SERVER_LISTEN", &listen);
    let refused = output_within(wrong, Duration::from_secs(30));
    assert!(text(&refused).contains("do not match"), "{}", text(&refused));
    for odd in ["", "12", "12345678901234", "abcd"] {
        std::fs::write(&pin_file, odd).unwrap();
        let mut command = hotline(dir.path());
        command.args(["call", "--operator", &id, "--pin-file"]).arg(&pin_file);
        let output = output_within(command, Duration::from_secs(10));
        assert_eq!(output.status.code(), Some(2), "{odd:?}: {}", text(&output));
    }
    let logs = stop_and_read_logs(&mut server);
    for needle in ["380441234567", "441234567"] {
        assert!(!logs.contains(needle), "logs contain {needle}");
        for entry in walk(&dir.path().join("data")) {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(!contains(&bytes, needle.as_bytes()), "{} contains {needle}", entry.display());
        }
    }
}

/// A folder with the shipped scripts and configuration, as a newcomer has it.
fn newcomer_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped_scripts(), &dir.path().join("ivr-scripts"));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"),
        dir.path().join("config.toml"),
    )
    .unwrap();
    dir
}

/// Runs `hotline ARGS` in `dir`, asserting exit 0; its standard output.
fn run_ok(dir: &Path, args: &[&str]) -> String {
    let output = hotline(dir).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", text(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// The JSON array a `--json` list printed.
fn json_list(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let printed = run_ok(dir, args);
    let value: serde_json::Value = serde_json::from_str(&printed)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {printed}"));
    value.as_array().unwrap_or_else(|| panic!("{args:?}: not an array: {printed}")).clone()
}

/// The words of a table's header row.
fn header(printed: &str) -> Vec<String> {
    printed
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The keys of a JSON object, sorted.
fn keys(object: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = object.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn people_and_script_versions_list_with_a_header_or_as_json_with_the_apis_names() {
    let dir = newcomer_folder();
    let dir = dir.path();
    let added =
        run_ok(dir, &["users", "add", "anna", "--role", "supervisor", "--languages", "ru,uk"]);
    let pin = added.lines().find_map(|l| l.strip_prefix("pin: ")).unwrap().to_owned();
    let password = added.lines().find_map(|l| l.strip_prefix("password: ")).unwrap().to_owned();
    run_ok(dir, &["users", "add", "olga", "--role", "operator", "--languages", "ko"]);
    run_ok(dir, &["users", "disable", "olga"]);

    let table = run_ok(dir, &["users", "list"]);
    assert_eq!(header(&table), ["id", "name", "role", "languages", "status"], "{table}");
    let olga = table.lines().find(|l| l.contains("olga")).unwrap();
    assert_eq!(
        olga.split_whitespace().collect::<Vec<_>>(),
        ["102", "olga", "operator", "ko", "disabled"]
    );
    // Each value sits under its column's name.
    let first = table.lines().next().unwrap();
    assert_eq!(first.find("status"), olga.find("disabled"), "{table}");

    let people = json_list(dir, &["users", "list", "--json"]);
    assert_eq!(people.len(), 2);
    for person in &people {
        assert_eq!(keys(person), ["disabled", "id", "languages", "name", "role"], "{person}");
    }
    assert_eq!(people[0]["id"], 101);
    assert_eq!(people[0]["name"], "anna");
    assert_eq!(people[0]["role"], "supervisor");
    assert_eq!(people[0]["languages"], serde_json::json!(["ru", "uk"]));
    assert_eq!(people[0]["disabled"], false);
    assert_eq!(
        (people[1]["name"].as_str(), people[1]["disabled"].as_bool()),
        (Some("olga"), Some(true))
    );
    let everything = run_ok(dir, &["users", "list", "--json"]);
    assert!(
        !everything.contains(&pin)
            && !everything.contains(&password)
            && !everything.contains("hash")
    );

    // Nothing published yet: the lists say so, and the JSON is an empty array.
    assert_eq!(run_ok(dir, &["scripts", "versions"]), "no version is published yet\n");
    assert!(json_list(dir, &["scripts", "versions", "--json"]).is_empty());
    assert!(json_list(dir, &["scripts", "testers", "--json"]).is_empty());
    assert!(json_list(dir, &["cases", "--json"]).is_empty());
    assert!(json_list(dir, &["scripts", "drafts", "--json"]).is_empty());

    // Every file drafted, then published.
    // Until the last, the drafts make scripts with errors (exit 1): a language missing.
    let files = ["en.xml", "ko.xml", "ru.xml", "uk.xml", "languages.xml"];
    for file in files {
        let from = dir.join("ivr-scripts").join(file);
        let output = hotline(dir).args(["scripts", "draft", file, "--from"]).arg(from).output();
        let code = output.unwrap().status.code();
        assert_eq!(code, Some(if file == "languages.xml" { 0 } else { 1 }), "{file}");
    }
    let drafts = run_ok(dir, &["scripts", "drafts"]);
    assert_eq!(header(&drafts), ["file", "saved", "author"], "{drafts}");
    let listed = json_list(dir, &["scripts", "drafts", "--json"]);
    assert_eq!(listed.len(), files.len());
    for draft in &listed {
        assert_eq!(keys(draft), ["author", "file", "updated_at"], "{draft}");
        assert_eq!(draft["author"], "cli");
        assert!(
            chrono::DateTime::parse_from_rfc3339(draft["updated_at"].as_str().unwrap()).is_ok()
        );
    }
    let drafted: Vec<&str> = listed.iter().filter_map(|d| d["file"].as_str()).collect();
    assert!(files.iter().all(|f| drafted.contains(f)), "{drafted:?}");
    run_ok(dir, &["scripts", "publish", "-m", "=first, \"live\""]);

    let versions = run_ok(dir, &["scripts", "versions"]);
    assert_eq!(header(&versions), ["id", "file", "published", "author", "comment"], "{versions}");
    assert_eq!(versions.lines().count(), 1 + files.len(), "{versions}");
    let listed = json_list(dir, &["scripts", "versions", "--json", "--file", "ko.xml"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(keys(&listed[0]), ["author", "comment", "created_at", "file", "id"]);
    assert_eq!(listed[0]["file"], "ko.xml");
    assert_eq!(listed[0]["comment"], "=first, \"live\"");
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    assert!(run_ok(dir, &["scripts", "show", &id]).contains("<script language=\"ko\""));
    assert_eq!(json_list(dir, &["scripts", "versions", "--json", "--limit", "2"]).len(), 2);

    // Wrong, empty, huge and hostile arguments are refused before anything runs.
    for args in [
        &["cases", "--limit", "0"][..],
        &["cases", "--limit", "-1"],
        &["cases", "--limit", "99999999999"],
        &["cases", "--limit", ""],
        &["cases", "--json=yes"],
        &["users", "list", "--json", "extra"],
        &["scripts", "versions", "--limit", "10001"],
        &["scripts", "testers", "--jsonx"],
    ] {
        let output = hotline(dir).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    for file in ["../../etc/passwd", "", "x.xml\n", &"a".repeat(10_000)] {
        let output =
            hotline(dir).args(["scripts", "versions", "--json", "--file", file]).output().unwrap();
        assert_ne!(output.status.code(), Some(0), "{file:?}: {}", text(&output));
        assert!(!String::from_utf8_lossy(&output.stdout).starts_with('['), "{file:?}");
    }
}

#[test]
fn a_call_names_its_case_and_the_case_list_shows_it_with_a_header_or_as_json() {
    let dir = newcomer_folder();
    let dir = dir.path();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _server = serve(dir, port, &[]);
    let mut named = Vec::new();
    for (from, press) in [("+79161230001", "2,1,1,1"), ("+380441230002", "1,3")] {
        let output = hotline(dir)
            .args(["call", "--from", from, "--press", press])
            .env("HOTLINE_SERVER_LISTEN", &listen)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        let printed = String::from_utf8(output.stdout).unwrap();
        let last = printed.lines().last().unwrap();
        let number = last
            .strip_prefix("case ")
            .and_then(|rest| rest.split_once(" recorded"))
            .map(|(number, _)| number.to_owned())
            .unwrap_or_else(|| panic!("the call ends without its case: {printed}"));
        // The same number `hotline case` shows.
        let case = run_ok(dir, &["case", &number]);
        assert!(case.starts_with(&format!("case {number} ")), "{case}");
        named.push((number, case));
    }
    assert_ne!(named[0].0, named[1].0);
    // A server on another database (this terminal's is not there): the call goes through,
    // and says where its case is not.
    let token = std::fs::read_to_string(dir.join("data/auth_token")).unwrap();
    let output = hotline(dir)
        .args(["call", "--from", "+79161230003", "--press", "1,3"])
        .env("HOTLINE_SERVER_LISTEN", &listen)
        .env("HOTLINE_AUTH_TOKEN", token.trim())
        .env("HOTLINE_DATABASE_PATH", "elsewhere/hotline.db")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("recorded"), "{}", text(&output));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("no case of call CA") && said.contains("elsewhere/hotline.db"), "{said}");
    assert!(!dir.join("elsewhere").exists(), "looking made no database");

    let table = run_ok(dir, &["cases"]);
    assert_eq!(
        header(&table),
        ["number", "started", "language", "channel", "status", "length", "outcome", "tags"],
        "{table}"
    );
    // Newest first.
    let numbers: Vec<&str> =
        table.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(numbers, [named[1].0.as_str(), named[0].0.as_str()], "{table}");

    let cases = json_list(dir, &["cases", "--json"]);
    assert_eq!(cases.len(), 3);
    let cases = &cases[1..];
    for (listed, (number, case)) in cases.iter().rev().zip(&named) {
        assert_eq!(
            keys(listed),
            [
                "channel",
                "duration_secs",
                "language",
                "number",
                "outcome",
                "outcome_at",
                "started_at",
                "status",
                "tags"
            ],
            "{listed}"
        );
        assert_eq!(listed["number"], number.as_str());
        assert_eq!(listed["channel"], "voice");
        let language = listed["language"].as_str().unwrap();
        assert!(case.starts_with(&format!("case {number}  ({language})")), "{case} / {listed}");
        let outcome = listed["outcome"].as_str().unwrap();
        assert!(case.contains(&format!("[{outcome}]")), "{case} / {listed}");
        for tag in listed["tags"].as_array().unwrap() {
            let pair =
                format!("{}={}", tag["key"].as_str().unwrap(), tag["value"].as_str().unwrap());
            assert!(case.contains(&pair), "{pair}: {case}");
        }
    }
    assert_eq!(cases[1]["language"], "ko");
    assert!(cases[1]["tags"].as_array().unwrap().iter().any(|t| t["value"] == "surrender"));
    assert_eq!(json_list(dir, &["cases", "--json", "--limit", "1"]).len(), 1);
    // No number, however written, and no caller hash in either list.
    let json = run_ok(dir, &["cases", "--json"]);
    for printed in [&table, &json] {
        for needle in ["9161230001", "441230002", "1230001", "1230002", "1230003", "caller"] {
            assert!(!printed.contains(needle), "{needle} in {printed}");
        }
    }
}

/// One `hotline` command line of README.md: its line number and its arguments.
struct Example {
    line: usize,
    args: Vec<String>,
}

/// Every `hotline …` and `cargo run … -- …` command in README.md's code blocks, as a shell
/// would split it: comments, redirections and other binaries (`--bin hotline-bench`) left out.
fn readme_examples() -> Vec<Example> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut examples = Vec::new();
    let mut in_block = false;
    for (index, line) in readme.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        for command in shell_words(line).split(|word| word == "&&") {
            let args = match command {
                [first, rest @ ..] if first == "hotline" => rest.to_vec(),
                [cargo, run, rest @ ..] if cargo == "cargo" && run == "run" => {
                    let Some(dash) = rest.iter().position(|w| w == "--") else { continue };
                    let other_binary = rest[..dash]
                        .windows(2)
                        .any(|pair| pair[0] == "--bin" && pair[1] != "hotline");
                    if other_binary {
                        continue;
                    }
                    rest[dash + 1..].to_vec()
                }
                _ => continue,
            };
            examples.push(Example { line: index + 1, args });
        }
    }
    examples
}

/// A line split into words as a POSIX shell splits it, for the quoting the README uses
/// (double and single quotes), without its comment and its `> file` redirection.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if let Some(redirect) = words.iter().position(|w| w == ">") {
        words.truncate(redirect);
    }
    words
}

#[test]
fn shell_words_split_as_a_shell_does() {
    assert_eq!(shell_words("hotline a -m \"why not\"  # note"), ["hotline", "a", "-m", "why not"]);
    assert_eq!(shell_words("hotline graph ru > ru.svg"), ["hotline", "graph", "ru"]);
    assert_eq!(shell_words("x 'a # b' c#d"), ["x", "a # b", "c#d"]);
    assert_eq!(shell_words("   # only a comment"), Vec::<String>::new());
}

/// Whether an example can run here, offline, on a fresh folder: it needs no server, no
/// provider, no case and no published version.
fn runs_offline(args: &[String]) -> bool {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["check", ..] | ["cases", ..] | ["purge", ..] | ["backup", ..] | ["restore", ..] => true,
        ["users", "reach", ..] => false,
        ["users", ..] => true,
        ["scripts", "versions" | "drafts" | "report" | "testers", ..] => true,
        ["graph", ..] => words.contains(&"--dir"),
        _ => false,
    }
}

#[test]
fn readme_examples_parse_and_the_offline_ones_run() {
    use clap::Parser;
    let examples = readme_examples();
    // The README shows the command line at length: a parser that found none finds nothing.
    assert!(examples.len() >= 40, "only {} examples found", examples.len());
    for example in &examples {
        let parsed = hotline::cli::Cli::try_parse_from(
            std::iter::once("hotline").chain(example.args.iter().map(String::as_str)),
        );
        if let Err(e) = parsed {
            panic!("README.md line {}: `hotline {}`:\n{e}", example.line, example.args.join(" "));
        }
        // `--press` is read after the arguments: check it as `hotline call` does.
        if let Some(at) = example.args.iter().position(|a| a == "--press") {
            let presses = hotline::simulator::parse_presses(&example.args[at + 1]);
            assert!(presses.is_ok(), "README.md line {}: {presses:?}", example.line);
        }
    }

    let dir = newcomer_folder();
    let dir = dir.path();
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let run = |args: &[String]| {
        hotline(dir)
            .args(args)
            .env("HOTLINE_SERVER_LISTEN", &listen)
            .env("HOTLINE_BACKUP_KEY", "a backup key long enough for the example, 2026")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // The database the server would have made; the README's users come after.
    let setup = ["users", "add", "first", "--role", "supervisor", "--languages", "en"];
    let output = run(&setup.map(str::to_owned));
    assert!(output.status.success(), "{}", text(&output));
    let mut ran = Vec::new();
    for example in examples.iter().filter(|e| runs_offline(&e.args)) {
        let output = run(&example.args);
        assert!(
            output.status.success(),
            "README.md line {}: `hotline {}` exits {:?}:\n{}",
            example.line,
            example.args.join(" "),
            output.status.code(),
            text(&output)
        );
        ran.push(example.args.join(" "));
    }
    for expected in ["check", "cases", "users list", "users add anna", "scripts report", "backup"] {
        assert!(ran.iter().any(|r| r.starts_with(expected)), "{expected} did not run: {ran:?}");
    }
}

#[test]
fn a_huge_argument_is_echoed_cut_short_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "7".repeat(100_000);
    for args in [
        vec!["case", huge.as_str()],
        vec!["hold", huge.as_str()],
        vec!["call", "--draft", huge.as_str()],
    ] {
        let output = hotline(dir.path()).args(&args).output().unwrap();
        let said = text(&output);
        assert_eq!(output.status.code(), Some(2), "{:?}: {said:.300}", args[0]);
        // The start of what was given is repeated, so the person sees which argument is wrong.
        assert!(said.contains(&"7".repeat(40)), "{:?}: {said:.300}", args[0]);
        assert!(said.len() < 300, "{:?}: {} bytes: {said:.300}", args[0], said.len());
    }
}

#[test]
fn a_call_without_a_token_names_the_variables_and_the_development_file_only_before_a_start() {
    // Nothing started here yet: the development start is a way to get a token.
    let dir = tempfile::tempdir().unwrap();
    let output = hotline(dir.path()).args(["call", "--press", "1"]).output().unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("HOTLINE_AUTH_TOKEN,"), "{said}");
    assert!(said.contains("HOTLINE_AUTH_TOKEN_FILE"), "{said}");
    assert!(said.contains("hotline serve"), "{said}");
    assert!(!said.contains("production"), "the CLI is not in production: {said}");
    assert_eq!(said.trim_end().lines().count(), 1, "{said}");

    // A deployed box: the database is there, its token came from a file the CLI is not given.
    let database = dir.path().join("var").join("hotline.db");
    std::fs::create_dir_all(database.parent().unwrap()).unwrap();
    std::fs::write(&database, b"").unwrap();
    let output = hotline(dir.path())
        .args(["call", "--press", "1"])
        .env("HOTLINE_DATABASE_PATH", &database)
        .output()
        .unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("HOTLINE_AUTH_TOKEN_FILE"), "{said}");
    assert!(!said.contains("hotline serve"), "no development advice on a real server: {said}");
    assert!(!said.contains("production"), "{said}");
    assert_eq!(said.trim_end().lines().count(), 1, "{said}");
}

#[test]
fn a_call_to_another_url_than_the_public_one_is_told_why_the_server_refused_it() {
    let dir = newcomer_folder();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _server =
        serve(dir.path(), port, &[("HOTLINE_SERVER_PUBLIC_URL", "https://hotline.example.org")]);

    let output = hotline(dir.path())
        .args(["call", "--press", "1", "--url", &format!("http://{listen}")])
        .output()
        .unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("the server refused the signature"), "{said}");
    assert!(said.contains("server.public_url"), "{said}");
}
