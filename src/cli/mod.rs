//! The `hotline` command: `serve`, `health`, `check`, `call`, `cases`, `case`, `users`,
//! `scripts`, `graph`, `telegram`, and caring for callers' data: `purge`, `hold`, `backup`,
//! `restore`, `keys`, and moving the database to PostgreSQL and back: `migrate-db`.
//!
//! Each subcommand is a few lines that load the configuration and call into the library; the
//! exit code says what happened (0 fine, 1 the thing checked is wrong, 2 the command could not
//! run).

mod health;
mod listing;
mod migrate_db;
pub mod people;
mod preview;
pub mod scripts;
pub mod telegram;

use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::Actor;
use crate::app::secrets::{Mode, Secrets, SecretsError, TelegramSecrets};
use crate::app::terminal::Terminal;
use crate::config::{CONFIG_VAR, Config, OPERATOR_PIN_VAR, resolved};
use crate::domain::cases::{Case, CaseNumber, CaseSummary};
use crate::domain::line_time::{LineZone, Stamp};
use crate::domain::timeline::{CaseOutcome, TimelineLine, outcome_at, timeline};
use crate::http::server::{self, Application};
use crate::simulator::{self, CallOptions, SimulatorError};
use crate::telemetry;

/// The backend of a 24-hour multilingual hotline.
#[derive(Debug, Parser)]
#[command(name = "hotline", version, about)]
pub struct Cli {
    /// The configuration file [default: ./config.toml if present, else built-in defaults].
    #[arg(long, global = true, env = CONFIG_VAR, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook server.
    Serve {
        /// Production mode: missing secrets and unsafe settings stop the server.
        #[arg(long)]
        production: bool,
    },
    /// Check the IVR scripts and list every problem (exit 1 if any error).
    Check {
        /// The scripts folder [default: scripts.dir from the configuration].
        dir: Option<PathBuf>,
    },
    /// Call the running hotline from this terminal, as the telephony provider would.
    Call {
        /// The server's base URL [default: the configured public URL].
        #[arg(long)]
        url: Option<String>,
        /// The caller's number.
        #[arg(long, default_value = "+79161234567")]
        from: String,
        /// The hotline's number.
        #[arg(long, default_value = "+18005550100")]
        to: String,
        /// The caller's country (two letters), as the provider reports it: `UA`, `KR`.
        #[arg(long)]
        country: Option<String>,
        /// Keys to press, comma-separated, then hang up: `1,1,2`; `_` waits silently,
        /// `hangup` hangs up. Without it, keys are read from the terminal.
        #[arg(long, value_name = "KEYS")]
        press: Option<String>,
        /// Wait announcements to hear in a queue before hanging up.
        #[arg(long, default_value_t = 1)]
        waits: u32,
        /// Send unsigned requests (for a server with signature checks off).
        #[arg(long)]
        unsigned: bool,
        /// Call the drafts instead, in this language, on a private server of their own (the
        /// live line and its cases are not touched).
        #[arg(long, value_name = "LANG", conflicts_with_all = ["url", "unsigned"])]
        draft: Option<String>,
        /// Play an operator instead, on the operator line, with this operator ID: the PIN,
        /// the whisper, the bridge to a caller waiting (a second terminal runs `hotline
        /// call` as the caller) and the wrap-up (`--press` answers it). The PIN is read from
        /// --pin-file, else HOTLINE_OPERATOR_PIN, else asked at the terminal.
        #[arg(long, value_name = "ID", conflicts_with = "draft", value_parser = parse_operator_id)]
        operator: Option<u64>,
        /// A file whose first line is the operator's PIN (with --operator).
        #[arg(long, value_name = "PATH", requires = "operator")]
        pin_file: Option<PathBuf>,
        /// Seconds the operator talks to the caller before the talk ends (with --operator and
        /// --press; interactively, Enter ends it).
        #[arg(long, default_value_t = 5, requires = "operator",
              value_parser = clap::value_parser!(u32).range(1..=14_400))]
        talk: u32,
    },
    /// List recent cases, newest first: number, start, language, status, length, outcome,
    /// tags.
    Cases {
        /// How many, 1 to 10000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Print a JSON array of objects instead, with the fields of `GET /api/cases`.
        #[arg(long)]
        json: bool,
    },
    /// Show one case with its timeline.
    Case {
        /// The case number, like 2026-000042.
        number: String,
    },
    /// Manage the people who work the hotline: add, list, disable, enable, tokens, PINs.
    Users {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli::people::UsersCommand,
    },
    /// Versions of the IVR scripts: list, show, diff, draft, publish, roll back.
    Scripts {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli::scripts::ScriptsCommand,
    },
    /// Draw a language's live menu flow: SVG, DOT (Graphviz) or Mermaid, on standard output.
    Graph {
        /// The language, like ru.
        language: String,
        /// The format.
        #[arg(long, value_enum, default_value = "svg")]
        format: crate::scripts::graph::Format,
        /// Draw this scripts folder instead of the live (published) version in the database.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Shred personal data past its retention period (`[retention]`); cases under legal hold
    /// are kept.
    Purge {
        /// Only show what would go.
        #[arg(long)]
        dry_run: bool,
    },
    /// Put a case under legal hold (the purge leaves it whole), or release it.
    Hold {
        /// The case number, like 2026-000042.
        number: String,
        /// Release the hold instead.
        #[arg(long)]
        release: bool,
    },
    /// Copy the database into a new file, consistently, while the server runs.
    Backup {
        /// The backup file to create (never overwritten).
        path: PathBuf,
        /// Encrypt it with the secret in HOTLINE_BACKUP_KEY or HOTLINE_BACKUP_KEY_FILE.
        #[arg(long)]
        encrypt: bool,
    },
    /// Replace the database with a backup, after checking it (stop the server first).
    Restore {
        /// The backup file.
        path: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Copy the database between SQLite and PostgreSQL, checked row by row (stop the server
    /// first).
    ///
    /// One side is an SQLite file, the other a postgres:// URL. To PostgreSQL: the source
    /// must be at this build's schema version and the target database must exist and be
    /// empty; the schema is created, every row copied and compared with the source, all in
    /// one transaction. To SQLite: the file must not exist; it is created with the hotline's
    /// schema and filled the same way. The source is read at one moment: what a running
    /// server writes after it would not be copied, so stop the server first. Whatever fails,
    /// the target is left as it was. Sealed text is copied sealed: copy the data-keys file
    /// along, as the command says at the end.
    MigrateDb {
        /// The database to copy: an SQLite file, or postgres://USER@HOST:PORT/DATABASE.
        #[arg(long, value_name = "FILE|URL")]
        from: String,
        /// Where to copy it: a new SQLite file, or an empty PostgreSQL database's URL.
        #[arg(long, value_name = "FILE|URL")]
        to: String,
    },
    /// Rotate the key that hashes callers' numbers, or the one that seals callback numbers.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Ask the running server whether it can take calls (`/readyz`) and say so in one line:
    /// exit 0 if it can, 1 if not or if it does not answer, 2 if it could not ask (a wrong
    /// --url or --timeout, a configuration that does not load). For a container's
    /// HEALTHCHECK, a monitor, or after a deploy.
    Health {
        /// Ask only whether the server's process answers (`/healthz`), not whether it can
        /// take calls: what a container's HEALTHCHECK asks, since a restart mends the one and
        /// not the other.
        #[arg(long)]
        live: bool,
        /// The server's base URL, like http://127.0.0.1:8080 [default: http:// and
        /// server.listen of the configuration, on loopback when it listens everywhere].
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout: u64,
    },
    /// Connect the Telegram bot: register its webhook, show its status.
    Telegram {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli::telegram::TelegramCommand,
    },
}

/// `hotline keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Wrap every stored caller hash under a new key (stop the server first). Writes the new
    /// key chain to a new file, which the server must then be given as
    /// HOTLINE_CALLER_HASH_KEY_FILE.
    RotateCallerHash {
        /// A file holding the new key (one line, at least 16 characters).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
        /// The file to create with the whole new chain (mode 0600).
        #[arg(long, value_name = "FILE")]
        chain_out: PathBuf,
    },
    /// Re-seal every stored callback number under a new key (stop the server first). The
    /// server must then be given the new key as HOTLINE_CALLBACK_KEY_FILE.
    RotateCallback {
        /// A file holding the new key (one line, at least 32 characters).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
}

/// Runs the command line; returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("hotline: {message}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve { production } => serve(config, production, cli.config.as_deref()),
        Command::Check { dir } => check(dir.as_deref().unwrap_or(&config.scripts.dir)),
        Command::Call {
            url,
            from,
            to,
            country,
            press,
            waits,
            unsigned,
            draft,
            operator,
            pin_file,
            talk,
        } => {
            let presses = match press.as_deref().map(simulator::parse_presses).transpose() {
                Ok(presses) => presses,
                Err(message) => {
                    eprintln!("hotline call: --press: {message}");
                    return ExitCode::from(2);
                }
            };
            if let Some(language) = draft {
                let options = CallOptions {
                    base_url: String::new(),
                    auth_token: None,
                    from,
                    to,
                    from_country: country,
                    call_sid: None,
                    presses,
                    queue_waits: waits,
                    max_requests: 200,
                };
                return preview::call_draft(&config, &language, options);
            }
            let auth_token = if unsigned {
                None
            } else {
                match Secrets::auth_token(env, &config.database.dir()) {
                    Ok(token) => Some(token.expose().to_owned()),
                    Err(SecretsError::Missing { .. }) => {
                        eprintln!("hotline call: {}", no_token(&config));
                        return ExitCode::from(2);
                    }
                    Err(e) => {
                        eprintln!("hotline call: {e}");
                        return ExitCode::from(2);
                    }
                }
            };
            let base_url = url.unwrap_or_else(|| config.public_url(config.server.listen));
            let options = CallOptions {
                base_url,
                auth_token,
                from,
                to,
                from_country: country,
                call_sid: None,
                presses,
                queue_waits: waits,
                max_requests: 200,
            };
            match operator {
                Some(operator) => {
                    let pin = match operator_pin(pin_file.as_deref(), env) {
                        Ok(pin) => pin,
                        Err(message) => {
                            eprintln!("hotline call: {message}");
                            return ExitCode::from(2);
                        }
                    };
                    let line = Some(config.operators.line_number.clone()).filter(|n| !n.is_empty());
                    let options = CallOptions { to: line.unwrap_or(options.to), ..options };
                    call_as_operator(&options, operator, &pin, talk)
                }
                None => call(&config, &options),
            }
        }
        Command::Users { command } => crate::cli::people::run(&config, command),
        Command::Scripts { command } => crate::cli::scripts::run(&config, command),
        Command::Telegram { command } => crate::cli::telegram::run(&config, command),
        Command::Health { live, url, timeout } => health::run(
            config.server.listen,
            url.as_deref(),
            live,
            std::time::Duration::from_secs(timeout),
        ),
        Command::Graph { language, format, dir: Some(dir) } => {
            graph(crate::scripts::load_dir(&dir), &language, format)
        }
        Command::Graph { language, format, dir: None } => {
            let dir = config.scripts.dir.clone();
            with_terminal(&config, |terminal| async move {
                let texts = terminal.live_scripts().await.map_err(|e| e.to_string())?;
                if texts.is_empty() {
                    return Err("nothing is published yet: start `hotline serve` once, or draw \
                                the folder with --dir"
                        .into());
                }
                Ok(graph(crate::scripts::load_texts(&dir, &texts), &language, format))
            })
        }
        Command::Purge { dry_run } => purge(&config, dry_run),
        Command::Hold { number, release } => hold(&config, &number, !release),
        Command::Backup { path, encrypt } => backup(&config, &path, encrypt),
        Command::Restore { path, force } => restore(&config, &path, force),
        Command::MigrateDb { from, to } => {
            if let Some(running) =
                is_the_database(&config, &from).then(|| running_server(&config)).flatten()
            {
                eprintln!(
                    "hotline migrate-db: {running}; stop it first (a call it took after the copy \
                     began would be in the database and not in the copy)"
                );
                return ExitCode::from(2);
            }
            migrate_db::run(&from, &to)
        }
        Command::Keys { command: KeysCommand::RotateCallerHash { new_key_file, chain_out } } => {
            rotate_caller_hash(&config, &new_key_file, &chain_out)
        }
        Command::Keys { command: KeysCommand::RotateCallback { new_key_file } } => {
            rotate_callback(&config, &new_key_file)
        }
        Command::Cases { limit, json } => {
            let zone = config.console.time_zone;
            with_terminal(&config, |terminal| async move {
                let cases = terminal.recent_cases(limit).await.map_err(|e| e.to_string())?;
                print_cases(&cases, zone, json).map_err(|e| e.to_string())?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Case { number } => {
            let number: CaseNumber = match number.parse() {
                Ok(number) => number,
                Err(message) => {
                    eprintln!("hotline case: {message}");
                    return ExitCode::from(2);
                }
            };
            let zone = config.console.time_zone;
            with_terminal(&config, |terminal| async move {
                match terminal.case(number).await.map_err(|e| e.to_string())? {
                    Some(case) => {
                        let earlier =
                            terminal.repeat_cases(number).await.map_err(|e| e.to_string())?;
                        print_case(&case, &earlier, zone);
                        Ok(ExitCode::SUCCESS)
                    }
                    None => {
                        eprintln!("hotline case: no case {number}");
                        Ok(ExitCode::from(1))
                    }
                }
            })
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The configuration file given, or `./config.toml` if there is one, or the defaults; its
/// database's paths resolved, so that every message names the file meant.
fn load_config(path: Option<&Path>) -> Result<Config, String> {
    let default = Path::new("config.toml");
    let path = path.or_else(|| default.exists().then_some(default));
    // Any variable may hold bytes that are not UTF-8, which `env::vars` would panic on: they
    // are read lossily, and a setting's value so mangled is then refused as any wrong value.
    let vars = std::env::vars_os().map(|(name, value)| {
        (name.to_string_lossy().into_owned(), value.to_string_lossy().into_owned())
    });
    let mut config = Config::load(path, vars).map_err(|e| e.to_string())?;
    config.resolve_paths();
    Ok(config)
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// The runtime that answers requests, on `server.worker_threads` threads.
fn serving_runtime(config: &Config) -> io::Result<tokio::runtime::Runtime> {
    let threads = usize::try_from(config.server.worker_threads).unwrap_or(1).max(1);
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
}

/// `hotline serve [--production]`; `config_file` is the `--config` given, for the commands the
/// start suggests.
fn serve(mut config: Config, production: bool, config_file: Option<&Path>) -> ExitCode {
    if production {
        config.server.production = true;
        if let Err(e) = config.validate() {
            eprintln!("hotline: {e}");
            return ExitCode::from(2);
        }
    }
    telemetry::init(&config.log);
    let mode = if config.server.production { Mode::Production } else { Mode::Development };
    let (mut secrets, origins) = match Secrets::load(env, &config.database.dir(), mode) {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    // The bot enabled without its secrets would take updates it cannot check or answer.
    if config.telegram.enabled {
        match TelegramSecrets::load(env) {
            Ok(telegram) => secrets.telegram = Some(telegram),
            Err(e) => {
                tracing::error!(
                    "[telegram] enabled = true (HOTLINE_TELEGRAM_ENABLED), but {e}\n(or turn the \
                     bot off)"
                );
                return ExitCode::from(2);
            }
        }
    }
    // An API key named without its secret would make every REST call fail: said at once.
    if config.provider.has_api_key() {
        match Secrets::provider_api_secret(env) {
            Ok(secret) => secrets.provider_api_secret = Some(secret),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(warning) = secrets.auth_token_warning(&origins[0]) {
        tracing::warn!("{warning}");
    }
    if let Some(note) = Secrets::generated_note(&origins) {
        tracing::warn!("{note}");
    }
    // Without its folder a first start has nothing to publish, and a later one runs on the
    // version last published, blind to edits: said before anything else goes wrong.
    if !config.scripts.dir.is_dir() {
        tracing::warn!(
            "the scripts folder {} (scripts.dir) is missing or not a folder: the line can only \
             run on the version last published in the database, and no edit is picked up",
            resolved(&config.scripts.dir).display()
        );
    }
    let users_add = users_add_command(config_file);
    let runtime = match serving_runtime(&config) {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async move {
        let mut shutdown = match server::ShutdownSignal::listen() {
            Ok(shutdown) => shutdown,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM and Ctrl-C");
                return ExitCode::from(2);
            }
        };
        // A start can wait (for another program's lock on a migration): a signal ends it.
        let built = tokio::select! {
            built = Application::build(&config, secrets) => built,
            () = shutdown.received() => {
                tracing::info!("stopped before the server had started");
                return ExitCode::SUCCESS;
            }
        };
        let app = match built {
            Ok(app) => app,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        };
        let addr = app.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let url = app.public_url();
        tracing::info!(
            listen = %addr,
            public_url = url,
            "hotline is answering; the console for people is at {url}/console"
        );
        tracing::info!(
            "the hotline's number, at the provider (HTTP POST): voice URL {url}/voice/incoming, \
             status callback {url}/voice/status, fallback URL {url}/voice/fallback"
        );
        tracing::info!(
            "the operator line's number, at the provider (HTTP POST): voice URL \
             {url}/voice/operator, status callback {url}/voice/operator/status"
        );
        // Before serving, so the line comes with the others; bounded, so that a database
        // slow to answer cannot hold the calls waiting in the listen backlog for long.
        let people = tokio::time::timeout(PEOPLE_WAIT, app.app().people(&Actor::Terminal)).await;
        match people {
            Ok(Ok(people)) if people.is_empty() => {
                let live = app.app().live().live();
                let languages: Vec<&str> = live.set.scripts.keys().map(|l| l.as_str()).collect();
                tracing::warn!(
                    "no people yet: {users_add} NAME --role supervisor --languages {} (it \
                     prints their password once, for {url}/console)",
                    languages.join(",")
                );
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the people could not be counted"),
        }
        match app.run_until(async move { shutdown.received().await }).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "server stopped");
                ExitCode::from(2)
            }
        }
    });
    // The server is done within its grace period; what may still run is blocking work stuck
    // on the database's lock, whose results nobody waits for any more (anything acknowledged
    // is in the database or the journal). Dropping the runtime would wait for it.
    runtime.shutdown_timeout(EXIT_WAIT);
    code
}

/// The command line that adds a person to the database this start uses: in the server's
/// working directory (a relative database path is read from there), with its configuration.
fn users_add_command(config_file: Option<&Path>) -> String {
    let here = std::env::current_dir().map(|dir| shell_word(&dir)).unwrap_or_default();
    let cd = if here.is_empty() { String::new() } else { format!("cd {here} && ") };
    match config_file {
        Some(file) => format!("{cd}hotline --config {} users add", shell_word(&resolved(file))),
        None => format!("{cd}hotline users add"),
    }
}

/// A path as one word of a shell command: quoted unless plainly safe, since the line is meant
/// to be pasted.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
    if plain { text } else { format!("'{}'", text.replace('\'', "'\\''")) }
}

/// How long a start waits to know whether anyone can log in yet.
const PEOPLE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// How long `serve` waits, after the server is done, for blocking work still running.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Prints the diagram of one language's script of `loaded` (the live version from the database,
/// or a folder with `--dir`); exit 1 if the scripts have errors or no such language.
fn graph(
    loaded: Result<crate::scripts::Loaded, crate::scripts::Report>,
    language: &str,
    format: crate::scripts::graph::Format,
) -> ExitCode {
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(report) => {
            eprintln!("hotline graph: the scripts have errors (see `hotline check`):\n{report}");
            return ExitCode::from(1);
        }
    };
    let Some(script) = crate::scripts::LanguageTag::parse(language)
        .and_then(|l| loaded.set.scripts.get(&l).cloned())
    else {
        let known: Vec<&str> = loaded.set.scripts.keys().map(|l| l.as_str()).collect();
        eprintln!(
            "hotline graph: no script for {}; the languages are {}",
            crate::domain::excerpt(language),
            known.join(", ")
        );
        return ExitCode::from(1);
    };
    let _ =
        io::stdout().lock().write_all(crate::scripts::graph::render(&script, format).as_bytes());
    ExitCode::SUCCESS
}

/// Prints every problem of the scripts in `dir`; exit 1 if any is an error.
fn check(dir: &Path) -> ExitCode {
    if !dir.is_dir() {
        println!("{}: not a folder (the scripts folder checked)", resolved(dir).display());
    }
    match crate::scripts::load_dir(dir) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                println!("{warning}");
            }
            let languages: Vec<&str> = loaded.set.scripts.keys().map(|l| l.as_str()).collect();
            println!(
                "{}: scripts are valid ({}; {} warning(s))",
                dir.display(),
                languages.join(", "),
                loaded.warnings.len()
            );
            ExitCode::SUCCESS
        }
        Err(report) => {
            println!("{report}");
            ExitCode::from(1)
        }
    }
}

/// Places a simulated call, then names the case it made; exit 1 if the server misbehaved.
fn call(config: &Config, options: &CallOptions) -> ExitCode {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let transcript = {
        let mut out = io::stdout().lock();
        simulator::run(options, &mut input as &mut dyn BufRead, &mut out)
    };
    match transcript {
        Ok(transcript) => {
            name_the_case(config, &transcript.call_sid);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hotline call: {}", call_failure(&e));
            ExitCode::from(1)
        }
    }
}

/// What `hotline call` says when it has no token to sign with, in one sentence: which
/// variables give it the server's. The file a development start keeps is named only where no
/// server has started with this configuration (no database yet): where one has, and left no
/// such file, its token comes from the environment or a file, as on a deployed server.
fn no_token(config: &Config) -> String {
    let variables = "no token to sign the webhooks with: set HOTLINE_AUTH_TOKEN, or \
                     HOTLINE_AUTH_TOKEN_FILE to a file holding it, to the server's auth token";
    if config.database.path.exists() {
        variables.to_owned()
    } else {
        let file = resolved(&config.database.dir().join("auth_token"));
        format!(
            "{variables}, or run `hotline serve` here first: a development start keeps one in {}",
            file.display()
        )
    }
}

/// What a failed call says: a `403` is the server refusing the signature, which covers the
/// URL: `--url` must be the address the provider calls, not another way to the same server.
fn call_failure(error: &SimulatorError) -> String {
    match error {
        SimulatorError::Status { url, status: 403, .. } => format!(
            "{url}: the server refused the signature: --url must be the server's public_url \
             (server.public_url), as the provider calls it"
        ),
        other => other.to_string(),
    }
}

/// Prints `case NUMBER recorded` for the call just made, read from the configured database;
/// a server on another database (`--url` elsewhere) is said so, and the call still went fine.
fn name_the_case(config: &Config, call_sid: &str) {
    let elsewhere = || {
        eprintln!(
            "hotline call: no case of call {call_sid} is in {}: a server on another database \
             keeps it there, and its `hotline cases` lists it",
            config.database.path.display()
        );
    };
    let Some(sid) = crate::domain::cases::CallSid::parse(call_sid) else { return elsewhere() };
    if !config.database.path.exists() {
        return elsewhere();
    }
    let found = runtime().map_err(|e| e.to_string()).and_then(|runtime| {
        runtime.block_on(async {
            let terminal = Terminal::open(config).await.map_err(|e| e.to_string())?;
            // The server writes the call's records as it answers; the last may still be on
            // their way when the call ends.
            for _ in 0..20 {
                if let Some(number) =
                    terminal.case_of_call(&sid).await.map_err(|e| e.to_string())?
                {
                    return Ok(Some(number));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(None)
        })
    });
    match found {
        Ok(Some(number)) => println!("case {number} recorded (`hotline case {number}` shows it)"),
        Ok(None) => elsewhere(),
        Err(message) => eprintln!("hotline call: cannot read the case of the call: {message}"),
    }
}

/// Plays an operator on the operator line (`hotline call --operator`).
fn call_as_operator(options: &CallOptions, operator: u64, pin: &str, talk: u32) -> ExitCode {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut out = io::stdout().lock();
    let id = operator.to_string();
    match simulator::run_operator(options, &id, pin, talk, &mut input as &mut dyn BufRead, &mut out)
    {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotline call: {}", call_failure(&e));
            ExitCode::from(1)
        }
    }
}

/// An operator ID as typed on the keypad: 1 to 12 digits.
fn parse_operator_id(text: &str) -> Result<u64, String> {
    let ok = (1..=12).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| "an operator ID is 1 to 12 digits (`hotline users list` shows it)".into())
}

/// The operator's PIN: the first line of `file`, else `HOTLINE_OPERATOR_PIN`, else typed at
/// the terminal. 4 to 12 digits, as the operator line takes it.
fn operator_pin(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let text = match file {
        Some(path) => {
            let mut text = String::new();
            std::fs::File::open(path)
                .and_then(|file| file.take(1024).read_to_string(&mut text))
                .map_err(|e| format!("--pin-file {}: {e}", resolved(path).display()))?;
            text.lines().next().unwrap_or_default().to_owned()
        }
        None => match env(OPERATOR_PIN_VAR) {
            Some(pin) => pin,
            None => {
                eprint!("PIN (shown as you type): ");
                let mut line = String::new();
                io::stdin()
                    .lock()
                    .take(1024)
                    .read_line(&mut line)
                    .map_err(|e| format!("reading the PIN: {e}"))?;
                line
            }
        },
    };
    let pin = text.trim();
    if (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(pin.to_owned())
    } else {
        Err("the PIN must be 4 to 12 digits".into())
    }
}

/// Opens the configured database for a command and runs `work` on it.
fn with_terminal<F, Fut>(config: &Config, work: F) -> ExitCode
where
    F: FnOnce(Terminal) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, String>>,
{
    if !config.database.path.exists() {
        eprintln!(
            "hotline: no database at {}: no call has been taken yet (start `hotline serve`)",
            config.database.path.display()
        );
        return ExitCode::from(2);
    }
    let result = runtime().map_err(|e| e.to_string()).and_then(|runtime| {
        runtime.block_on(async {
            let terminal = Terminal::open(config).await.map_err(|e| e.to_string())?;
            work(terminal).await
        })
    });
    result.unwrap_or_else(|message| {
        eprintln!("hotline: {message}");
        ExitCode::from(2)
    })
}

/// Prints the case list: a table in the line's time zone, or JSON (times in UTC, as the API
/// gives them). A summary holds no caller at all, not even masked.
fn print_cases(cases: &[CaseSummary], zone: LineZone, json: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if json {
        return listing::json(&mut out, cases);
    }
    if cases.is_empty() {
        return writeln!(out, "no cases yet");
    }
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|case| {
            let outcome = match &case.outcome_at {
                Some(at) => format!("{} ({at})", case.outcome.as_str()),
                None => case.outcome.as_str().to_owned(),
            };
            let tags: Vec<String> =
                case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
            vec![
                case.number.to_string(),
                zone.show(case.started_at, Stamp::Labelled),
                case.language.as_ref().map_or("-", |l| l.as_str()).to_owned(),
                case.channel.as_str().to_owned(),
                case.status.map_or("-", |s| s.as_str()).to_owned(),
                case.duration_secs.map_or("-".into(), |d| format!("{d} s")),
                outcome,
                tags.join(" "),
            ]
        })
        .collect();
    let header =
        ["number", "started", "language", "channel", "status", "length", "outcome", "tags"];
    listing::table(&mut out, &header, &rows)
}

/// Prints a case and its timeline for a person, its times in the line's zone.
fn print_case(case: &Case, earlier: &[CaseNumber], zone: LineZone) {
    let mut out = io::stdout().lock();
    let language = case.language.as_ref().map_or("-", |l| l.as_str());
    let _ = writeln!(out, "case {}  ({language})", case.number);
    let _ = writeln!(out, "  call      {}", case.call_sid);
    let caller = match (&case.caller, earlier) {
        (None, _) => "hidden number".to_owned(),
        (Some(_), []) => "no other case".to_owned(),
        (Some(_), earlier) => {
            let numbers: Vec<String> = earlier.iter().map(ToString::to_string).collect();
            format!("also called in {}", numbers.join(", "))
        }
    };
    let _ = writeln!(out, "  caller    {caller}");
    let _ = writeln!(out, "  country   {}", case.country.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "  started   {}", zone.show(case.started_at, Stamp::Labelled));
    if let Some(ended) = case.ended_at {
        let _ = writeln!(out, "  ended     {}", zone.show(ended, Stamp::Labelled));
    }
    let status = case.status.map_or("-", |s| s.as_str());
    let duration = case.duration_secs.map_or(String::new(), |d| format!(", {d} s"));
    let _ = writeln!(out, "  status    {status}{duration}");
    let outcome = CaseOutcome::of(case);
    let at = outcome_at(&case.outcome).map(|at| format!(" ({at})")).unwrap_or_default();
    let _ = writeln!(out, "  outcome   {} [{}]{at}", outcome.words(), outcome.as_str());
    let tags: Vec<String> = case.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    let _ =
        writeln!(out, "  tags      {}", if tags.is_empty() { "-".into() } else { tags.join(" ") });
    if let Some(url) = &case.recording_url {
        let _ = writeln!(out, "  voicemail {url}");
    }
    let _ = writeln!(out, "  timeline");
    for line in timeline(&case.events) {
        let offset = (line.at - case.started_at).num_seconds();
        let _ = writeln!(out, "    +{offset:>4}s  {}", describe(&line));
    }
}

/// One line of a timeline, with every fact: the terminal is the full record.
fn describe(line: &TimelineLine) -> String {
    let mut text = line.what.words().to_owned();
    if !line.detail.is_empty() {
        text.push(' ');
        text.push_str(&line.detail);
    }
    if let Some(extra) = &line.extra {
        text.push_str(" — ");
        text.push_str(extra);
    }
    if let Some(operator) = line.operator {
        text.push_str(&format!(" (operator {operator})"));
    }
    if let Some(recording) = &line.recording {
        text.push_str(&format!(" <{recording}>"));
    }
    text
}

/// `hotline purge [--dry-run]`.
fn purge(config: &Config, dry_run: bool) -> ExitCode {
    let retention = config.retention.clone();
    let at_provider = config.provider.has_account();
    with_terminal(config, |terminal| async move {
        let report =
            terminal.purge(&retention, dry_run, at_provider).await.map_err(|e| e.to_string())?;
        let summary = crate::app::retention::describe(&report);
        if dry_run {
            println!("would shred: {summary}");
        } else {
            println!("shredded: {summary}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `hotline hold NUMBER [--release]`.
fn hold(config: &Config, number: &str, hold: bool) -> ExitCode {
    let number: CaseNumber = match number.parse() {
        Ok(number) => number,
        Err(message) => {
            eprintln!("hotline hold: {message}");
            return ExitCode::from(2);
        }
    };
    with_terminal(config, |terminal| async move {
        match terminal.set_legal_hold(number, hold).await.map_err(|e| e.to_string())? {
            None => {
                eprintln!("hotline hold: no case {number}");
                Ok(ExitCode::from(1))
            }
            Some(changed) => {
                let state = if hold { "under legal hold" } else { "not under legal hold" };
                if changed {
                    println!("case {number} is now {state}");
                } else {
                    println!("case {number} was already {state}");
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Whether `given` names the configured database file (a URL or another file does not).
fn is_the_database(config: &Config, given: &str) -> bool {
    let configured = std::fs::canonicalize(&config.database.path);
    matches!((std::fs::canonicalize(given), configured), (Ok(a), Ok(b)) if a == b)
}

/// A running hotline, said as the tools that need it stopped say it: a server holding the
/// configured database (whatever address it listens on), or something answering on the
/// configured address.
fn running_server(config: &Config) -> Option<String> {
    match crate::app::App::database_is_claimed(config) {
        Ok(true) => {
            return Some(format!("a server works on {}", config.database.path.display()));
        }
        Ok(false) => {}
        Err(e) => return Some(format!("the database's server lock cannot be read ({e})")),
    }
    let mut addr = config.server.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300))
        .is_ok()
        .then(|| format!("a server answers on {}", config.server.listen))
}

/// The refusal of `backup` and `restore` when the cases are in PostgreSQL, whose own tools
/// copy a cluster whole (with its standby and its log) where a file copy could not.
fn kept_in_postgres(config: &Config, command: &str) -> Option<ExitCode> {
    config.database.postgres_url()?;
    eprintln!(
        "hotline {command}: the cases are in PostgreSQL (database.url), not in {}: use \
         PostgreSQL's own tools (pg_basebackup, pg_dump and pg_restore), and keep the data-keys \
         file of the data folder with them (docs/operations.md)",
        config.database.path.display()
    );
    Some(ExitCode::from(2))
}

/// `hotline backup PATH [--encrypt]`.
fn backup(config: &Config, path: &Path, encrypt: bool) -> ExitCode {
    if let Some(refused) = kept_in_postgres(config, "backup") {
        return refused;
    }
    let key = match encrypt.then(|| crate::app::backup::backup_key(env)).transpose() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("hotline backup: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::app::backup::backup(&config.database.path, path, key.as_ref()) {
        Ok(check) => {
            let how = if encrypt { "encrypted" } else { "not encrypted" };
            println!(
                "backed up {} case(s) (schema version {}) to {}, {how}; its notes, messages, \
                 recording URLs and numbers open only with {} (not in the backup: keep its \
                 latest copy apart)",
                check.cases,
                check.schema_version,
                path.display(),
                crate::app::backup::data_keys_beside(&config.database.path).display()
            );
            let cases = check.cases;
            with_terminal(config, |terminal| async move {
                terminal.backed_up(cases, encrypt).await.map_err(|e| e.to_string())?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Err(e) => {
            eprintln!("hotline backup: {e}");
            ExitCode::from(1)
        }
    }
}

/// `hotline restore PATH [--force]`.
fn restore(config: &Config, path: &Path, force: bool) -> ExitCode {
    if let Some(refused) = kept_in_postgres(config, "restore") {
        return refused;
    }
    if let Some(running) = running_server(config) {
        eprintln!(
            "hotline restore: {running}; stop it first (it would keep writing to \
             the database being replaced)"
        );
        return ExitCode::from(2);
    }
    let key = crate::app::backup::backup_key(env).ok();
    match crate::app::backup::restore(path, &config.database.path, force, key.as_ref()) {
        Ok(check) => {
            println!(
                "restored {} case(s) (schema version {}) from {} to {}",
                check.cases,
                check.schema_version,
                path.display(),
                config.database.path.display()
            );
            let cases = check.cases;
            with_terminal(config, |terminal| async move {
                terminal.restored(cases).await.map_err(|e| e.to_string())?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Err(e) => {
            eprintln!("hotline restore: {e}");
            ExitCode::from(1)
        }
    }
}

/// `hotline keys rotate-caller-hash --new-key-file F --chain-out OUT`.
fn rotate_caller_hash(config: &Config, new_key_file: &Path, chain_out: &Path) -> ExitCode {
    if let Some(running) = running_server(config) {
        eprintln!(
            "hotline keys: {running}; stop it first (it would go on hashing \
             callers under the old key)"
        );
        return ExitCode::from(2);
    }
    let prepared = Secrets::caller_hash_key(env, &config.database.dir())
        .map_err(crate::app::keys::RotateError::from)
        .and_then(|(current, _)| {
            let next = crate::app::keys::read_new_key(new_key_file, &current)?;
            crate::app::keys::write_chain(chain_out, &current, &next)?;
            Ok((current, next))
        });
    let (current, next) = match prepared {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("hotline keys: {e}");
            return ExitCode::from(2);
        }
    };
    let chain_out = chain_out.to_owned();
    with_terminal(config, |terminal| async move {
        match terminal.rotate_caller_hash_key(current, next).await {
            Ok(wrapped) => {
                println!(
                    "wrapped {wrapped} caller hash(es) under the new key. The new key chain is \
                     in {}: start the server with HOTLINE_CALLER_HASH_KEY_FILE={0} (it refuses \
                     the old chain), then destroy the new key's own file",
                    chain_out.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&chain_out);
                Err(e.to_string())
            }
        }
    })
}

/// `hotline keys rotate-callback --new-key-file F`.
fn rotate_callback(config: &Config, new_key_file: &Path) -> ExitCode {
    if let Some(running) = running_server(config) {
        eprintln!(
            "hotline keys: {running}; stop it first (it would go on sealing \
             callback numbers under the old key)"
        );
        return ExitCode::from(2);
    }
    let current = match Secrets::callback_key(env, &config.database.dir()) {
        Ok((current, _)) => current,
        Err(e) => {
            eprintln!("hotline keys: the current callback key: {e}");
            return ExitCode::from(2);
        }
    };
    let next = match crate::app::keys::read_new_callback_key(new_key_file, &current) {
        Ok(next) => next,
        Err(e) => {
            eprintln!("hotline keys: {e}");
            return ExitCode::from(2);
        }
    };
    let new_key_file = new_key_file.to_owned();
    with_terminal(config, |terminal| async move {
        let resealed =
            terminal.reseal_callback_numbers(&current, &next).await.map_err(|e| e.to_string())?;
        println!(
            "re-sealed {resealed} callback number(s) and the data keys under the new key. Start the server with \
             HOTLINE_CALLBACK_KEY_FILE={} (the old key no longer opens them), and destroy \
             every copy of the old key",
            new_key_file.display()
        );
        Ok(ExitCode::SUCCESS)
    })
}
