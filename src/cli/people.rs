//! `hotline users …`: managing people from the server's shell.
//!
//! This is how the first supervisor comes to exist on a fresh install (`hotline users add
//! NAME --role supervisor --languages ru`), and how anyone with the server's shell recovers
//! when the API is out of reach. It works on the configured database directly, so it needs no
//! running server and no token; whoever can run it can read the database anyway. Every change
//! is audited with no actor and a detail starting with `cli`.
//!
//! Exit codes, as for every `hotline` command: 0 done, 1 refused (no such person, a name
//! taken, a token for a disabled person), 2 the command could not run (wrong arguments, no
//! database).

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use clap::Subcommand;

use crate::app::secrets::Secrets;
use crate::app::terminal::{StorageError, Terminal};
use crate::cli::listing;
use crate::config::Config;
use crate::domain::followups::CallbackNumber;
use crate::domain::people;
use crate::domain::people::{PeopleError, Person, Role};
use crate::domain::queue::Reach;
use crate::domain::secret::Secret;
use crate::scripts::LanguageTag;

/// The subcommands of `hotline users`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a person; prints their dial-in PIN and console password once.
    Add {
        /// Their login name: 1 to 64 ASCII letters, digits, '.', '_' or '-'.
        #[arg(value_parser = parse_name)]
        name: String,
        /// operator or supervisor.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The languages they take calls in, comma-separated: ru,uk.
        #[arg(long, value_parser = parse_languages)]
        languages: Languages,
        /// Read their console password from the first line of standard input instead of
        /// generating one (at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List everyone: id, name, role, languages, whether disabled. Never a secret.
    List {
        /// Print a JSON array of objects instead, with the fields of `GET /api/users`.
        #[arg(long)]
        json: bool,
    },
    /// Disable a person: they can no longer dial in or use the API; their tokens are revoked.
    Disable {
        /// Their name.
        #[arg(value_parser = parse_name)]
        name: String,
    },
    /// Enable a disabled person again (with no tokens: issue a new one).
    Enable {
        /// Their name.
        #[arg(value_parser = parse_name)]
        name: String,
    },
    /// Issue an API token for a person; printed once.
    Token {
        /// Their name.
        #[arg(value_parser = parse_name)]
        name: String,
    },
    /// Revoke every API token of a person.
    Revoke {
        /// Their name.
        #[arg(value_parser = parse_name)]
        name: String,
    },
    /// Give a person a new generated dial-in PIN; printed once.
    ResetPin {
        /// Their name.
        #[arg(value_parser = parse_name)]
        name: String,
    },
    /// Set how a person is reached when available: `line` (they dial the operator line) or
    /// `call-me` (the hotline rings their phone; needs provider.account_sid,
    /// operators.line_number and their number). The number is sealed under the callback key
    /// (HOTLINE_CALLBACK_KEY); only its last two digits are ever shown.
    Reach {
        /// Their name.
        #[arg(value_parser = parse_name)]
        name: String,
        /// line or call-me.
        #[arg(long, value_parser = parse_reach)]
        mode: Reach,
        /// Their phone number: + and the country code, 7 to 15 digits. Checked after the
        /// arguments are read, so that a refusal does not print it back.
        #[arg(long, conflicts_with = "no_phone")]
        phone: Option<String>,
        /// Remove their phone number.
        #[arg(long)]
        no_phone: bool,
    },
    /// Lift the lock wrong PINs put on a person's operator ID (and on the numbers that
    /// tried it), so their next right PIN is accepted.
    Unlock {
        /// Their name.
        #[arg(value_parser = parse_name)]
        name: String,
    },
}

/// A parsed `--languages` list (a named type, because clap treats a bare `Vec` as a list of
/// repeated arguments).
#[derive(Debug, Clone)]
pub struct Languages(pub Vec<LanguageTag>);

fn parse_reach(text: &str) -> Result<Reach, String> {
    Reach::parse(text).ok_or_else(|| "the mode is line or call-me".into())
}

fn parse_name(text: &str) -> Result<String, PeopleError> {
    people::check_name(text)
}

fn parse_role(text: &str) -> Result<Role, PeopleError> {
    text.parse()
}

fn parse_languages(text: &str) -> Result<Languages, PeopleError> {
    people::parse_languages(text).map(Languages)
}

/// What went wrong, and so which exit code.
enum Failure {
    /// No such person, a name taken, or a token for a disabled person (exit 1).
    Refused(String),
    /// The command could not run (exit 2).
    CannotRun(String),
}

impl From<StorageError> for Failure {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict(message) => Failure::Refused(message),
            other => Failure::CannotRun(other.to_string()),
        }
    }
}

impl From<PeopleError> for Failure {
    fn from(error: PeopleError) -> Self {
        Failure::CannotRun(error.to_string())
    }
}

/// Runs `hotline users …` on the configured database; returns the exit code.
pub fn run(config: &Config, command: UsersCommand) -> ExitCode {
    let path = &config.database.path;
    // Only `add` may create the database: it is how a fresh install gets its first
    // supervisor. Any other command on a missing file is a wrong configuration.
    if !matches!(command, UsersCommand::Add { .. }) && !path.exists() {
        eprintln!(
            "hotline users: no database at {}: add the first person with `hotline users add`, \
             or point --config at the server's configuration",
            path.display()
        );
        return ExitCode::from(2);
    }
    let creating = !path.exists();
    // A server answering on the configured address has its database: a missing one here means
    // this command runs elsewhere (another folder, another configuration), and the person
    // would land in a new, empty database nobody logs in to.
    if let Some(running) = creating.then(|| super::running_server(config)).flatten() {
        eprintln!(
            "hotline users: {running}, but there is no database at {}: run this in the \
             server's working directory, with its --config",
            path.display()
        );
        return ExitCode::from(2);
    }
    // Read before starting the runtime: a password on stdin, if asked for.
    let password = match &command {
        UsersCommand::Add { password_stdin: true, .. } => match read_password() {
            Ok(password) => Some(password),
            Err(message) => {
                eprintln!("hotline users add: {message}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    // A phone number is checked first (the refusal does not repeat it), then sealed under
    // the server's callback key, read only when a number is given.
    let phone = match &command {
        UsersCommand::Reach { phone: Some(text), .. } => {
            let number = match crate::app::operator_reach::parse_phone(text) {
                Ok(number) => number,
                Err(e) => {
                    eprintln!("hotline users reach: --phone: {e}");
                    return ExitCode::from(2);
                }
            };
            match Secrets::callback_key(|name| std::env::var(name).ok(), &config.database.dir()) {
                Ok((key, _)) => Some((number, key)),
                Err(e) => {
                    eprintln!("hotline users reach: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    let call_me_refused = if !config.provider.has_account() {
        Some("the hotline has no provider account to place calls with (provider.account_sid)")
    } else if config.operators.line_number.is_empty() {
        Some("the operator line's number is not configured (operators.line_number)")
    } else {
        None
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hotline users: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let terminal = Terminal::open(config).await?;
        let reach = ReachContext { phone, call_me_refused };
        execute(&terminal, command, password, reach).await
    });
    match result {
        Ok(()) => {
            if creating {
                eprintln!("hotline users: created the database at {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Refused(message)) => {
            eprintln!("hotline users: {message}");
            ExitCode::from(1)
        }
        Err(Failure::CannotRun(message)) => {
            eprintln!("hotline users: {message}");
            ExitCode::from(2)
        }
    }
}

/// `hotline users reach`.
async fn set_reach(
    terminal: &Terminal,
    name: &str,
    mode: Reach,
    phone: Option<Option<(CallbackNumber, Secret)>>,
    call_me_refused: Option<&str>,
) -> Result<(), Failure> {
    let person = find(terminal, name).await?;
    let settings = terminal
        .set_reach(person.id, mode, phone, call_me_refused)
        .await?
        .ok_or_else(|| gone(name))?;
    let number = if settings.phone_sealed.is_some() { "a phone number" } else { "no phone number" };
    println!("{name} (id {}): {}, {number}", person.id, mode.label());
    Ok(())
}

/// The first line of standard input, without its line ending, checked as a password.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    // Bounded: a password is a line, not a file piped in by mistake.
    io::stdin()
        .lock()
        .take(1024)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    people::check_password(&password).map_err(|e| e.to_string())?;
    Ok(password)
}

/// What `hotline users reach` needs beyond the database.
struct ReachContext {
    /// The phone number given, checked, with the callback key to seal it under.
    phone: Option<(CallbackNumber, Secret)>,
    /// Why this hotline cannot place calls, if it cannot.
    call_me_refused: Option<&'static str>,
}

async fn execute(
    terminal: &Terminal,
    command: UsersCommand,
    password: Option<String>,
    reach: ReachContext,
) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match command {
        UsersCommand::Reach { name, mode, no_phone, .. } => {
            let phone = match (reach.phone, no_phone) {
                (Some(phone), _) => Some(Some(phone)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            set_reach(terminal, &name, mode, phone, reach.call_me_refused).await?;
        }
        UsersCommand::Add { name, role, languages: Languages(languages), .. } => {
            let pin = people::generate_pin()?;
            let generated = password.is_none();
            let password = match password {
                Some(password) => password,
                None => people::generate_password()?,
            };
            let (password_hash, pin_hash) =
                (people::hash_secret(&password)?, people::hash_secret(&pin)?);
            let person =
                terminal.add_person(name, role, languages, password_hash, pin_hash).await?;
            let languages = language_list(&person);
            let _ = writeln!(out, "added {} (id {}, {role}, {languages})", person.name, person.id);
            let _ = writeln!(out, "operator id: {}", person.id);
            let _ = writeln!(out, "pin: {pin}");
            if generated {
                let _ = writeln!(out, "password: {password}");
            }
            eprintln!(
                "{} shown once: pass {} on now.",
                if generated { "The PIN and password are" } else { "The PIN is" },
                if generated { "them" } else { "it" }
            );
        }
        UsersCommand::List { json } => {
            let everyone = terminal.people().await?;
            let printed = if json {
                listing::json(&mut out, &everyone)
            } else if everyone.is_empty() {
                writeln!(out, "nobody yet: add the first supervisor with `hotline users add`")
            } else {
                let rows: Vec<Vec<String>> = everyone
                    .iter()
                    .map(|person| {
                        let status = if person.disabled { "disabled" } else { "active" };
                        vec![
                            person.id.to_string(),
                            person.name.clone(),
                            person.role.as_str().to_owned(),
                            language_list(person),
                            status.to_owned(),
                        ]
                    })
                    .collect();
                listing::table(&mut out, &["id", "name", "role", "languages", "status"], &rows)
            };
            printed.map_err(|e| Failure::CannotRun(format!("cannot print the list: {e}")))?;
        }
        UsersCommand::Disable { name } => {
            let person = find(terminal, &name).await?;
            terminal.set_disabled(person.id, true).await?.ok_or_else(|| gone(&name))?;
            let _ = writeln!(out, "disabled {name} (id {}); their tokens are revoked", person.id);
        }
        UsersCommand::Enable { name } => {
            let person = find(terminal, &name).await?;
            terminal.set_disabled(person.id, false).await?.ok_or_else(|| gone(&name))?;
            let _ = writeln!(out, "enabled {name} (id {})", person.id);
        }
        UsersCommand::Token { name } => {
            let person = find(terminal, &name).await?;
            let token = people::generate_token()?;
            let hash = people::token_hash(&token);
            match terminal.issue_token(person.id, hash).await {
                Ok(Some(_)) => {}
                Ok(None) => return Err(gone(&name)),
                Err(StorageError::Conflict(_)) => {
                    return Err(Failure::Refused(format!(
                        "{name} is disabled: `hotline users enable {name}` first"
                    )));
                }
                Err(other) => return Err(other.into()),
            }
            let _ = writeln!(out, "{token}");
            eprintln!(
                "The token is shown once: pass it on now. `hotline users revoke {name}` ends it."
            );
        }
        UsersCommand::Revoke { name } => {
            let person = find(terminal, &name).await?;
            let revoked = terminal.revoke_tokens(person.id).await?.ok_or_else(|| gone(&name))?;
            let _ = writeln!(out, "revoked {revoked} token(s) of {name}");
        }
        UsersCommand::ResetPin { name } => {
            let person = find(terminal, &name).await?;
            let pin = people::generate_pin()?;
            let hash = people::hash_secret(&pin)?;
            terminal.set_pin_hash(person.id, hash).await?.ok_or_else(|| gone(&name))?;
            let _ = writeln!(out, "pin: {pin}");
            eprintln!("The PIN is shown once: pass it on now.");
        }
        UsersCommand::Unlock { name } => {
            let person = find(terminal, &name).await?;
            let was_locked = terminal.unlock_pin(person.id).await?.ok_or_else(|| gone(&name))?;
            let state = if was_locked { "unlocked" } else { "was not locked; counts reset" };
            let _ = writeln!(out, "{name} (id {}): {state}", person.id);
        }
    }
    Ok(())
}

async fn find(terminal: &Terminal, name: &str) -> Result<Person, Failure> {
    terminal.person_named(name).await?.ok_or_else(|| gone(name))
}

fn gone(name: &str) -> Failure {
    let name = crate::domain::excerpt(name);
    Failure::Refused(format!("no person is named {name} (see `hotline users list`)"))
}

fn language_list(person: &Person) -> String {
    person.languages.iter().map(LanguageTag::as_str).collect::<Vec<_>>().join(",")
}
