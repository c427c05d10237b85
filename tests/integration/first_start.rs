//! The first start of a new install, read line by line as a newcomer reads it: each thing said
//! once (the recordings still to make, the secrets generated), the URLs to give the provider
//! for both numbers, the command that makes the first supervisor (run here, as pasted), a
//! misspelt variable named with the one meant, and every file in an error named whole.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hotline::simulator;

use crate::common::binary::{self, free_port, printed as text};
use crate::common::copy_dir;

/// The command, in `dir`, with none of this machine's `HOTLINE_` variables.
fn hotline(dir: &Path) -> Command {
    let mut command = binary::hotline(dir);
    command.env("HOTLINE_LOG_FORMAT", "text");
    command
}

/// A folder with what the repository ships: `config.toml` and `ivr-scripts/`.
fn install() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&shipped.join("ivr-scripts"), &dir.path().join("ivr-scripts"));
    std::fs::copy(shipped.join("config.toml"), dir.path().join("config.toml")).unwrap();
    dir
}

/// A running `hotline serve`, its output gathered line by line as it comes.
struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    base: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    /// Starts it with `args` before `serve`.
    fn start_with(dir: &Path, args: &[&str]) -> Server {
        let port = free_port();
        let mut child = hotline(dir)
            .args(args)
            .arg("serve")
            .env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        let readers = [stdout, stderr]
            .into_iter()
            .map(|stream| {
                let lines = Arc::clone(&lines);
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        lines.lock().unwrap().push(line);
                    }
                })
            })
            .collect();
        Server { child, lines, readers, base: format!("http://127.0.0.1:{port}") }
    }

    /// The first line containing `needle`, waiting for it while the server runs.
    fn wait_for(&mut self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && started.elapsed() < Duration::from_secs(30),
                "no line with {needle:?} ({exited:?}):\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it as an init system would and returns every line it printed.
    fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "SIGTERM should stop the server cleanly: {status:?}");
        for reader in std::mem::take(&mut self.readers) {
            reader.join().unwrap();
        }
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// What a log line says, after its time, level and target.
fn message(line: &str) -> &str {
    line.split_once(": ").map_or(line, |(_, message)| message)
}

/// The `http://` URLs in a line.
fn urls(line: &str) -> Vec<String> {
    line.split([' ', ','])
        .filter(|word| word.starts_with("http://"))
        .map(|word| word.trim_end_matches([',', ';', ')']).to_owned())
        .collect()
}

/// Posts to `url` as the provider does, signed with the development token the start made.
fn post_signed(dir: &Path, url: &str, params: &[(&str, &str)]) -> simulator::Reply {
    let token = std::fs::read_to_string(dir.join("data/auth_token")).unwrap();
    let params: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    simulator::post(url, url, Some(token.trim()), &params).unwrap()
}

#[test]
fn a_first_start_says_each_thing_once_and_how_to_add_the_first_supervisor() {
    let dir = install();
    let data = dir.path().join("data");
    let mut server = Server::start(dir.path());
    server.wait_for("hotline is answering");
    let people = message(&server.wait_for("no people yet")).to_owned();
    let hotline_number = server.wait_for("the hotline's number");
    let operator_line = server.wait_for("the operator line's number");
    let base = server.base.clone();

    // Each URL printed is one the server answers as the provider's, signed, request.
    let hotline_urls = urls(&hotline_number);
    let expected: Vec<String> =
        ["incoming", "status", "fallback"].iter().map(|p| format!("{base}/voice/{p}")).collect();
    assert_eq!(hotline_urls, expected, "{hotline_number}");
    let operator_urls = urls(&operator_line);
    let expected = [format!("{base}/voice/operator"), format!("{base}/voice/operator/status")];
    assert_eq!(operator_urls, expected, "{operator_line}");
    let call = [
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+380441234567"),
        ("To", "+18005550101"),
        ("CallStatus", "in-progress"),
    ];
    let answer = post_signed(dir.path(), &operator_urls[0], &call);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("<Gather"), "the operator line asks for an ID: {}", answer.body);
    // An address the operator line does not have gets its sign-in again, not a status's
    // answer: the printed status URL is a real one.
    let unknown = post_signed(dir.path(), &format!("{base}/voice/operator/stat"), &call);
    let ended = [("CallStatus", "completed"), ("CallDuration", "3")];
    let status = post_signed(dir.path(), &operator_urls[1], &[&call[..4], &ended[..]].concat());
    assert_eq!(status.status, 200, "{}", status.body);
    assert_ne!(status.body, unknown.body, "the status URL answers like an unknown one");
    assert!(unknown.body.contains("<Gather"), "{}", unknown.body);

    // The command run in another folder while the server answers is refused: the person
    // would land in a new, empty database that nobody logs in to.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("config.toml"), other.path().join("config.toml")).unwrap();
    let refused = hotline(other.path())
        .args(["users", "add", "eve", "--role", "supervisor", "--languages", "uk"])
        .env("HOTLINE_SERVER_LISTEN", base.trim_start_matches("http://"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("in the server's working directory"), "{}", text(&refused));
    assert!(!other.path().join("data").exists(), "a database was made elsewhere");

    let lines = server.stop();
    let all = lines.join("\n");
    // With no server, the same command makes a database there, and says where.
    let made = hotline(other.path())
        .args(["users", "add", "eve", "--role", "supervisor", "--languages", "uk"])
        .env("HOTLINE_SERVER_LISTEN", base.trim_start_matches("http://"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let at = other.path().join("data").join("hotline.db");
    assert!(text(&made).contains(&format!("created the database at {}", at.display())));

    // The secrets: one line, naming the three, where they are, and that production refuses.
    let generated: Vec<&String> = lines.iter().filter(|l| l.contains("GENERATED")).collect();
    assert_eq!(generated.len(), 1, "{all}");
    for name in ["HOTLINE_AUTH_TOKEN", "HOTLINE_CALLER_HASH_KEY", "HOTLINE_CALLBACK_KEY"] {
        assert!(generated[0].contains(name), "{name} not named: {}", generated[0]);
    }
    assert!(generated[0].contains(&format!("into {} ", data.display())), "{}", generated[0]);
    assert!(generated[0].contains("--production"), "{}", generated[0]);
    for file in ["auth_token", "caller_hash_key", "callback_key"] {
        let secret = std::fs::read_to_string(data.join(file)).unwrap();
        assert!(!all.contains(secret.trim()), "the value of {file} printed");
    }

    // The database: one line that it was created, not one per step of its schema.
    let created: Vec<&String> = lines.iter().filter(|l| l.contains("database created")).collect();
    assert_eq!(created.len(), 1, "{all}");
    assert!(created[0].contains(&data.join("hotline.db").display().to_string()), "{all}");
    assert!(!all.contains("schema"), "{all}");

    // The recordings: a line for Ukrainian, the only language recorded, with the count
    // `hotline check` lists one by one; no line per prompt.
    let check = text(&hotline(dir.path()).arg("check").output().unwrap());
    let missing = check.lines().filter(|l| l.contains("recording audio/uk/")).count();
    assert!(missing > 10, "{check}");
    assert!(!all.contains("recording audio/"), "a line per prompt:\n{all}");
    let recordings: Vec<&str> =
        lines.iter().map(|l| message(l)).filter(|m| m.contains("recordings its prompts")).collect();
    assert_eq!(recordings.len(), 1, "{all}");
    let expected = format!("uk: {missing} of the {missing} recordings");
    assert!(recordings[0].starts_with(&expected), "{}", recordings[0]);
    assert!(recordings[0].contains("`hotline check` lists them"), "{}", recordings[0]);

    // The first supervisor: the command printed works as pasted, with a name put in.
    let command = people
        .strip_prefix("no people yet: ")
        .and_then(|rest| rest.split(" (").next())
        .unwrap_or_else(|| panic!("no command in {people:?}"));
    // It starts where the server runs, since the database's path is read from there.
    let (cd, command) = command.split_once(" && ").unwrap_or_else(|| panic!("{command}"));
    assert_eq!(cd, format!("cd {}", dir.path().display()));
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..3], ["hotline", "users", "add"], "{command}");
    assert!(words.contains(&"NAME") && words.contains(&"supervisor"), "{command}");
    let args: Vec<&str> =
        words[1..].iter().map(|w| if *w == "NAME" { "anna" } else { w }).collect();
    let added = hotline(dir.path()).args(&args).output().unwrap();
    assert!(added.status.success(), "{command}: {}", text(&added));
    assert!(!text(&added).contains("created the database"), "{}", text(&added));
    let list = text(&hotline(dir.path()).args(["users", "list"]).output().unwrap());
    let anna = list.lines().find(|l| l.contains("anna")).unwrap_or_else(|| panic!("{list}"));
    assert!(anna.contains("supervisor") && anna.contains("uk"), "{anna}");

    // The next start has someone, and the secrets it generated: neither is said again.
    let mut server = Server::start(dir.path());
    server.wait_for("the operator line's number");
    let again = server.stop().join("\n");
    assert!(!again.contains("no people yet"), "{again}");
    assert!(!again.contains("GENERATED"), "{again}");
    assert!(!again.contains("database created"), "{again}");
    assert!(again.contains(&expected), "{again}");
}

#[test]
fn a_misspelt_variable_is_named_with_the_one_meant_and_never_its_value() {
    let dir = install();
    let secret = "https://s3cret.example.org";
    for args in [&["serve"][..], &["cases"], &["check"], &["users", "list"]] {
        let output = hotline(dir.path()).args(args).env("HOTLINE_PUBLC_URL", secret).output();
        let output = output.unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let said = text(&output);
        assert!(
            said.contains(
                "HOTLINE_PUBLC_URL is not a configuration variable; did you mean \
                 HOTLINE_SERVER_PUBLIC_URL?"
            ),
            "{args:?}: {said}"
        );
        assert!(!said.contains("s3cret"), "the value printed: {said}");
        assert!(said.lines().count() < 5, "{said}");
    }
    let cases = [
        ("hotline_database_path", "did you mean HOTLINE_DATABASE_PATH?"),
        ("HOTLINE_AUTH_TOKEN_FIEL", "did you mean HOTLINE_AUTH_TOKEN_FILE?"),
        ("HOTLINE_TELEGRAM_TOKN", "did you mean HOTLINE_TELEGRAM_TOKEN?"),
        ("HOTLINE_", "config.toml names each setting's variable"),
        ("HOTLINE_\n<script>", "config.toml names each setting's variable"),
    ];
    for (name, expected) in cases {
        let output = hotline(dir.path()).arg("check").env(name, secret).output().unwrap();
        let said = text(&output);
        assert_eq!(output.status.code(), Some(2), "{name:?}: {said}");
        assert!(said.contains(expected), "{name:?}: {said}");
        assert!(!said.contains("s3cret") && !said.contains("\n<script>"), "{said}");
    }
    let huge = format!("HOTLINE_{}", "Q".repeat(60_000));
    let output = hotline(dir.path()).arg("check").env(&huge, "x").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).len() < 1000, "the whole name echoed");

    // A value that is not UTF-8, in anyone's variable, is no reason to crash; in a setting it
    // is a wrong value like any other.
    use std::os::unix::ffi::OsStrExt;
    let bytes = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let output = hotline(dir.path()).arg("cases").env("SOMEONE_ELSES", bytes).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("no database"), "{}", text(&output));
    let output = hotline(dir.path()).arg("check").env("HOTLINE_SERVER_LISTEN", bytes).output();
    let output = output.unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("[server]"), "{}", text(&output));
    // The variables the hotline reads besides its settings are not refused.
    let output = hotline(dir.path())
        .arg("check")
        .env("HOTLINE_OPERATOR_PIN", "1234")
        .env("HOTLINE_BACKUP_KEY_FILE", "/run/secrets/backup")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn an_error_about_a_file_names_it_whole() {
    let dir = install();
    let at = |relative: &str| dir.path().join(relative).display().to_string();
    let given = [
        ("HOTLINE_AUTH_TOKEN", "0123456789abcdef0123456789abcdef"),
        ("HOTLINE_CALLER_HASH_KEY", "a-caller-hash-key-for-the-test"),
        ("HOTLINE_CALLBACK_KEY", "a-callback-key-of-thirty-two-chars!"),
    ];
    let run = |args: &[&str], vars: &[(&str, &str)]| {
        let output = hotline(dir.path())
            .args(args)
            .env("HOTLINE_SERVER_LISTEN", "127.0.0.1:0")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?} {vars:?}: {}", text(&output));
        text(&output)
    };

    let said = run(&["--config", "conf/hotline.toml", "check"], &[]);
    assert!(said.contains(&at("conf/hotline.toml")), "{said}");
    let said = run(&["serve"], &[("HOTLINE_AUTH_TOKEN_FILE", "secrets/token")]);
    assert!(said.contains(&format!("cannot use {}", at("secrets/token"))), "{said}");
    let said =
        run(&["serve"], &[&given[..], &[("HOTLINE_DATABASE_PATH", "config.toml/h.db")]].concat());
    assert!(said.contains(&at("config.toml/h.db")), "{said}");
    let said = run(&["cases"], &[]);
    assert!(said.contains(&format!("no database at {}", at("data/hotline.db"))), "{said}");
    let said = run(&["backup", "b.bak", "--encrypt"], &[("HOTLINE_BACKUP_KEY_FILE", "keys/b")]);
    assert!(said.contains(&format!("{}: ", at("keys/b"))), "{said}");
    let said = run(&["call", "--operator", "1", "--pin-file", "pins/mine"], &given);
    assert!(said.contains(&format!("--pin-file {}: ", at("pins/mine"))), "{said}");

    // A scripts folder that is not there: named whole before the start fails for want of it.
    let said = run(&["serve"], &[&given[..], &[("HOTLINE_SCRIPTS_DIR", "ivr-scriptz")]].concat());
    assert!(
        said.contains(&format!("the scripts folder {} (scripts.dir)", at("ivr-scriptz"))),
        "{said}"
    );
    let output = hotline(dir.path()).args(["check", "ivr-scriptz"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains(&format!("{}: not a folder", at("ivr-scriptz"))),
        "{}",
        text(&output)
    );

    // A development start, then production: the files it refuses are named whole.
    let fresh = install();
    let mut server = Server::start(fresh.path());
    server.wait_for("hotline is answering");
    server.stop();
    let output = hotline(fresh.path())
        .args(["serve", "--production"])
        .env("HOTLINE_SERVER_PUBLIC_URL", "https://hotline.example.org")
        .output()
        .unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    for file in ["auth_token", "caller_hash_key", "callback_key"] {
        let path = fresh.path().join("data").join(file);
        assert!(said.contains(&format!("generated into {}", path.display())), "{file}: {said}");
    }
}

#[test]
fn the_first_supervisors_command_pastes_into_a_shell_with_the_configuration_used() {
    let dir = install();
    let folder = dir.path().join("my conf's");
    std::fs::create_dir(&folder).unwrap();
    let shipped = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    let elsewhere = shipped.replacen("path = \"data/hotline.db\"", "path = \"there/h.db\"", 1);
    assert_ne!(elsewhere, shipped);
    let config = folder.join("hotline.toml");
    std::fs::write(&config, elsewhere).unwrap();

    let mut server = Server::start_with(dir.path(), &["--config", "my conf's/hotline.toml"]);
    let people = message(&server.wait_for("no people yet")).to_owned();
    server.stop();
    let command = people
        .strip_prefix("no people yet: ")
        .and_then(|rest| rest.split(" (it prints").next())
        .unwrap_or_else(|| panic!("no command in {people:?}"))
        .replace("NAME", "olga");
    // Pasted into a shell where `hotline` is the command.
    let script = format!("hotline() {{ \"$THE_BINARY\" \"$@\"; }}; {command}");
    let mut shell = Command::new("sh");
    // From another folder: the command's own `cd` takes it to the server's.
    let away = tempfile::tempdir().unwrap();
    shell.arg("-c").arg(&script).current_dir(away.path());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().to_ascii_uppercase().starts_with("HOTLINE_") {
            shell.env_remove(name);
        }
    }
    let added = shell.env("THE_BINARY", env!("CARGO_BIN_EXE_hotline")).output().unwrap();
    assert!(added.status.success(), "{script}: {}", text(&added));
    // In the database the server used, not the default one.
    assert!(!dir.path().join("data/hotline.db").exists(), "{command}");
    let list = hotline(dir.path())
        .args(["--config", config.to_str().unwrap(), "users", "list"])
        .output()
        .unwrap();
    assert!(text(&list).contains("olga"), "{}", text(&list));
}

/// One server per database: a second `hotline serve` on a database a server works on refuses
/// to start (on another port, where the port tells nothing), and so do the tools that need
/// the server stopped; once it has stopped, the same database starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_database_refuses_to_start_and_so_do_the_tools() {
    let (config, dir) = crate::common::test_config(|_| {});
    let db = config.database.path.clone();
    let first = crate::common::start(config.clone(), dir).await;
    let elsewhere = format!("127.0.0.1:{}", free_port());
    let with_db = |args: &[&str]| {
        let mut command = hotline(first.dir.path());
        command
            .env("HOTLINE_DATABASE_PATH", &db)
            .env("HOTLINE_SERVER_LISTEN", &elsewhere)
            .env("HOTLINE_CALLBACK_KEY", crate::common::CALLBACK_KEY)
            .args(args);
        command
    };
    let started = Instant::now();
    let second = with_db(&["serve"]).output().unwrap();
    let said = text(&second);
    assert!(!second.status.success(), "{said}");
    assert!(said.contains("one server per database; stop it first"), "{said}");
    assert!(said.contains(&format!("(process {})", std::process::id())), "{said}");
    assert!(started.elapsed() < Duration::from_secs(10), "it waited instead of refusing");
    // Nobody answers on `elsewhere`: the lock is what tells.
    let backup = first.dir.path().join("before.bak");
    let made = with_db(&["backup", backup.to_str().unwrap()]).output().unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let key = first.dir.path().join("new-key");
    std::fs::write(&key, "k".repeat(64)).unwrap();
    for args in [
        vec!["restore", "--force", backup.to_str().unwrap()],
        vec!["keys", "rotate-callback", "--new-key-file", key.to_str().unwrap()],
        vec![
            "migrate-db",
            "--from",
            db.to_str().unwrap(),
            "--to",
            "postgres://nobody@127.0.0.1:1/x",
        ],
    ] {
        let refused = with_db(&args).output().unwrap();
        let said = text(&refused);
        assert!(!refused.status.success(), "{args:?}: {said}");
        assert!(
            said.contains("a server works on") && said.contains("stop it first"),
            "{args:?}: {said}"
        );
    }
    // Stopped: the database is free for the next server (and for the tools).
    let dir = first.stop().await;
    let again = crate::common::start(config, dir).await;
    again.stop().await;
}
