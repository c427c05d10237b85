//! Secrets: the provider's auth token (it signs every webhook), the key that turns callers'
//! numbers into hashes, and the key that seals callback numbers.
//!
//! They come from the environment (`HOTLINE_AUTH_TOKEN`, `HOTLINE_CALLER_HASH_KEY`,
//! `HOTLINE_CALLBACK_KEY`) or from a
//! file named by `…_FILE`, never from `config.toml`, which is easy to commit or share. In
//! development a missing secret is generated once and kept beside the database (mode 0600), so
//! the server and `hotline call` agree on it with no setup. In production every secret must
//! be given: the development files are refused (nobody chose those values, and they sit
//! beside the database), and every missing or unsafe secret is reported in one error, so one
//! restart fixes them all. [`Secret`] never prints its value.
//!
//! The Telegram bot's two secrets ([`TelegramSecrets`]: `HOTLINE_TELEGRAM_TOKEN`,
//! `HOTLINE_TELEGRAM_SECRET`) come from the same places but never from a development file:
//! nobody but the bot's owner can make a bot token. Nor does the secret of the provider's API
//! key (`HOTLINE_PROVIDER_API_SECRET`, when `[provider] api_key_sid` names one).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::{
    AUTH_TOKEN_VAR, CALLBACK_KEY_VAR, CALLER_HASH_KEY_VAR, PROVIDER_API_SECRET_VAR,
    TELEGRAM_SECRET_VAR, TELEGRAM_TOKEN_VAR, resolved,
};
use crate::domain::secret::{MIN_KEY_CHARS, Secret, valid_key_chain};

/// The secrets the server needs.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// The provider account's auth token: the key of webhook signatures.
    pub auth_token: Secret,
    /// The key of callers' number hashes.
    pub caller_hash_key: Secret,
    /// The key that seals callback numbers ([`crate::domain::followups::Sealer`]); never the
    /// caller-hash key.
    pub callback_key: Secret,
    /// The Telegram bot's secrets, when `[telegram] enabled` ([`TelegramSecrets::load`]).
    pub telegram: Option<TelegramSecrets>,
    /// The secret of the provider's API key, when `[provider] api_key_sid` names one
    /// ([`Secrets::provider_api_secret`]); the REST API is then called with it instead of the
    /// auth token.
    pub provider_api_secret: Option<Secret>,
}

/// Where a secret's value came from, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The environment variable.
    Environment,
    /// The file named by the `…_FILE` variable.
    File(PathBuf),
    /// The development file beside the database, read again.
    Stored(PathBuf),
    /// Generated just now and stored in this file.
    Generated(PathBuf),
}

/// Where a start may take secrets from besides the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The development files beside the database, generated when missing.
    Development,
    /// Nowhere: every secret comes from its variable or the file its `_FILE` names.
    Production,
}

/// What [`load_one`] does with a secret's development file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredFile {
    /// Reads it, and creates it when missing (a development start).
    Generate,
    /// Reads it if there is one (the tools that work with the server's secrets).
    Read,
    /// Refuses it (a production start).
    Refuse,
}

/// Why secrets could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A production start without the secret.
    #[error(
        "{name} is not set. In production every secret must be given: set {name}, or \
         {name}_FILE to the path of a file holding it"
    )]
    Missing {
        /// The variable's name.
        name: &'static str,
    },
    /// The secret's file could not be read or written.
    #[error("cannot use {} for {name}: {source}", .path.display())]
    Io {
        /// The variable's name.
        name: &'static str,
        /// The file, resolved ([`resolved`]): which file was meant.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The callback key is the caller-hash key: one leaked key would expose both.
    #[error(
        "HOTLINE_CALLBACK_KEY is the same as HOTLINE_CALLER_HASH_KEY; give callback numbers a \
         key of their own"
    )]
    SharedKey,
    /// The secret is there but unusable.
    #[error(
        "{name} is empty or too short (at least {min} characters){}; set a real value",
        .file.as_ref().map(|file| format!(", in {}", file.display())).unwrap_or_default()
    )]
    TooShort {
        /// The variable's name.
        name: &'static str,
        /// The minimum length.
        min: usize,
        /// The file it was read from, resolved; `None` when it came from the variable.
        file: Option<PathBuf>,
    },
    /// A production start found the secret only in the development file beside the database.
    #[error(
        "{name} is not set, and production does not use the development value generated into \
         {}. Set {name}, or {name}_FILE to the path of a file holding it (to keep that value, \
         for instance the caller-hash key repeat callers are recognised by, move the file out \
         of the data folder and name it in {name}_FILE)",
        .path.display()
    )]
    Stored {
        /// The variable's name.
        name: &'static str,
        /// The development file, resolved.
        path: PathBuf,
    },
    /// The secret is there but not shaped as it must be.
    #[error("{name} is not {expected}; set the real value")]
    Malformed {
        /// The variable's name.
        name: &'static str,
        /// What it should look like.
        expected: &'static str,
    },
    /// A secret of the Telegram bot is not set.
    #[error(
        "{name} is not set: {why}. Set {name}, or {name}_FILE to the path of a file holding it"
    )]
    TelegramMissing {
        /// The variable's name.
        name: &'static str,
        /// What it is for and where to get it.
        why: &'static str,
    },
    /// `[provider] api_key_sid` names an API key, but its secret is not set.
    #[error(
        "{name} is not set: [provider] api_key_sid names an API key, and this is its secret \
         (shown once, when the key is made). Set {name}, or {name}_FILE to the path of a file \
         holding it, or empty api_key_sid to call the provider with the auth token"
    )]
    ProviderKeyMissing {
        /// The variable's name.
        name: &'static str,
    },
    /// Every problem of a start's secrets, so that one restart can fix them all.
    #[error("the secrets cannot be used:{}", list(.0))]
    Unusable(Vec<SecretsError>),
}

/// Problems as an indented list, one per line.
fn list(problems: &[SecretsError]) -> String {
    problems.iter().map(|problem| format!("\n  - {problem}")).collect()
}

/// A secret's sources, in order.
struct Spec {
    name: &'static str,
    /// The development file's name, inside the secrets directory.
    stored: &'static str,
    /// Shorter values are refused: a short hash key makes caller hashes guessable.
    min_len: usize,
}

const AUTH_TOKEN: Spec = Spec { name: AUTH_TOKEN_VAR, stored: "auth_token", min_len: 1 };
const CALLER_HASH_KEY: Spec =
    Spec { name: CALLER_HASH_KEY_VAR, stored: "caller_hash_key", min_len: MIN_KEY_CHARS };
/// At least 32 characters: it is the only thing between a stolen database and the callback
/// numbers in it.
const CALLBACK_KEY: Spec = Spec { name: CALLBACK_KEY_VAR, stored: "callback_key", min_len: 32 };

impl Secrets {
    /// Loads the three secrets. `dir` holds the development files, which `mode` says whether
    /// to use. `env` reads a variable (the real environment, or a map in tests). Returns the
    /// secrets and where each came from, or [`SecretsError::Unusable`] with every problem.
    pub fn load(
        env: impl Fn(&str) -> Option<String>,
        dir: &Path,
        mode: Mode,
    ) -> Result<(Secrets, [Origin; 3]), SecretsError> {
        let stored = match mode {
            Mode::Development => StoredFile::Generate,
            Mode::Production => StoredFile::Refuse,
        };
        let mut problems = Vec::new();
        let mut load =
            |spec| load_one(&env, spec, dir, stored).map_err(|problem| problems.push(problem)).ok();
        let auth_token = load(&AUTH_TOKEN);
        let caller_hash_key = load(&CALLER_HASH_KEY);
        let callback_key = load(&CALLBACK_KEY);
        if let (Some((key, _)), Some((callback, _))) = (&caller_hash_key, &callback_key)
            && key == callback
        {
            problems.push(SecretsError::SharedKey);
        }
        match (auth_token, caller_hash_key, callback_key) {
            (Some(auth), Some(key), Some(callback)) if problems.is_empty() => {
                let secrets = Secrets {
                    auth_token: auth.0,
                    caller_hash_key: key.0,
                    callback_key: callback.0,
                    telegram: None,
                    provider_api_secret: None,
                };
                Ok((secrets, [auth.1, key.1, callback.1]))
            }
            _ => Err(SecretsError::Unusable(problems)),
        }
    }

    /// The one line a development start says about the secrets it generated: which, where,
    /// and that production will not use them; `None` when none was generated. `origins` are
    /// [`Secrets::load`]'s.
    pub fn generated_note(origins: &[Origin; 3]) -> Option<String> {
        let names = [AUTH_TOKEN.name, CALLER_HASH_KEY.name, CALLBACK_KEY.name];
        let generated: Vec<(&str, &Path)> = names
            .into_iter()
            .zip(origins)
            .filter_map(|(name, origin)| match origin {
                Origin::Generated(path) => Some((name, path.as_path())),
                _ => None,
            })
            .collect();
        let folder = resolved(generated.first()?.1.parent().unwrap_or(Path::new(".")));
        let names: Vec<&str> = generated.iter().map(|(name, _)| *name).collect();
        Some(format!(
            "GENERATED DEVELOPMENT SECRETS {} into {} (mode 0600): fine for trying the hotline; \
             `hotline serve --production` refuses them, and a real line gives each in its \
             variable or in a file named by its _FILE variable (config.toml lists them)",
            names.join(", "),
            folder.display()
        ))
    }

    /// A warning when the auth token was given but does not look like Twilio's (32 hex
    /// characters): most often the account SID or an API key's secret pasted instead, which
    /// would make every genuine webhook fail its signature check. Only a warning, since
    /// compatible providers have tokens of their own shape.
    pub fn auth_token_warning(&self, origin: &Origin) -> Option<&'static str> {
        let given = matches!(origin, Origin::Environment | Origin::File(_));
        let token = self.auth_token.expose();
        let twilio_like = token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
        (given && !twilio_like).then_some(
            "HOTLINE_AUTH_TOKEN does not look like a Twilio auth token (32 hex characters). \
             With Twilio, check it is the account's auth token, not its SID or an API key; \
             another provider's token may look different. Webhooks signed with another token \
             are refused",
        )
    }

    /// Reads the auth token the way the server does, without generating it: what `hotline
    /// call` uses to sign like the provider.
    pub fn auth_token(
        env: impl Fn(&str) -> Option<String>,
        dir: &Path,
    ) -> Result<Secret, SecretsError> {
        load_one(&env, &AUTH_TOKEN, dir, StoredFile::Read).map(|(secret, _)| secret)
    }

    /// Reads the caller-hash key (or chain) the way the server does, without generating it,
    /// and where it came from: what `hotline keys` works with.
    pub fn caller_hash_key(
        env: impl Fn(&str) -> Option<String>,
        dir: &Path,
    ) -> Result<(Secret, Origin), SecretsError> {
        load_one(&env, &CALLER_HASH_KEY, dir, StoredFile::Read)
    }

    /// The callback-number key alone, from where the server would read it (never generated).
    pub fn callback_key(
        env: impl Fn(&str) -> Option<String>,
        dir: &Path,
    ) -> Result<(Secret, Origin), SecretsError> {
        load_one(&env, &CALLBACK_KEY, dir, StoredFile::Read)
    }
}

fn load_one(
    env: &impl Fn(&str) -> Option<String>,
    spec: &Spec,
    dir: &Path,
    stored: StoredFile,
) -> Result<(Secret, Origin), SecretsError> {
    let io_error = |path: &Path| {
        let path = resolved(path);
        move |source| SecretsError::Io { name: spec.name, path, source }
    };
    let (value, origin) = if let Some(given) = given(env, spec.name)? {
        given
    } else {
        let path = dir.join(spec.stored);
        if stored == StoredFile::Refuse {
            // Not read: production names the development file without touching it.
            return Err(if path.exists() {
                SecretsError::Stored { name: spec.name, path: resolved(&path) }
            } else {
                SecretsError::Missing { name: spec.name }
            });
        }
        match fs::read_to_string(&path) {
            Ok(value) => (value.trim().to_owned(), Origin::Stored(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && stored == StoredFile::Generate => {
                let value = generate_value().map_err(io_error(&path))?;
                store(&path, &value).map_err(io_error(&path))?;
                (value, Origin::Generated(path))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SecretsError::Missing { name: spec.name });
            }
            Err(e) => return Err(io_error(&path)(e)),
        }
    };
    let too_short = if spec.name == CALLER_HASH_KEY_VAR {
        !valid_key_chain(&value)
    } else {
        value.chars().count() < spec.min_len
    };
    if too_short {
        let file = match origin {
            Origin::Environment => None,
            Origin::File(path) | Origin::Stored(path) | Origin::Generated(path) => {
                Some(resolved(&path))
            }
        };
        return Err(SecretsError::TooShort { name: spec.name, min: spec.min_len, file });
    }
    Ok((Secret::new(value), origin))
}

/// The value of the variable `name`, or of the file its `_FILE` variable names (trimmed), and
/// where it came from; `None` if neither is set.
fn given(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<(String, Origin)>, SecretsError> {
    if let Some(value) = env(name) {
        return Ok(Some((value, Origin::Environment)));
    }
    let Some(path) = env(&format!("{name}_FILE")) else { return Ok(None) };
    let path = PathBuf::from(path);
    match fs::read_to_string(&path) {
        Ok(value) => Ok(Some((value.trim().to_owned(), Origin::File(path)))),
        Err(source) => Err(SecretsError::Io { name, path: resolved(&path), source }),
    }
}

impl Secrets {
    /// The secret of the provider's API key, checked: what the REST API is called with when
    /// `[provider] api_key_sid` names a key. Never from a development file: only the key's
    /// owner has it.
    pub fn provider_api_secret(
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Secret, SecretsError> {
        let name = PROVIDER_API_SECRET_VAR;
        let Some((value, _)) = given(&env, name)? else {
            return Err(SecretsError::ProviderKeyMissing { name });
        };
        // Twilio's secrets are 32 letters and digits; any printable value a compatible
        // provider gives is taken, but not one that could not be a password at all.
        let printable = value.bytes().all(|b| b.is_ascii_graphic());
        if !(16..=256).contains(&value.len()) || !printable {
            return Err(SecretsError::Malformed {
                name,
                expected: "an API key's secret (16 to 256 printable characters, no spaces)",
            });
        }
        Ok(Secret::new(value))
    }
}

/// The Telegram bot's secrets, which the server needs when `[telegram] enabled`.
#[derive(Debug, Clone)]
pub struct TelegramSecrets {
    /// The bot's token, from @BotFather: whoever has it is the bot.
    pub token: Secret,
    /// The secret token Telegram sends with every update (`X-Telegram-Bot-Api-Secret-Token`),
    /// proving an update comes from Telegram.
    pub webhook_secret: Secret,
}

/// What a bot token looks like.
const TOKEN_SHAPE: &str = "a bot token as @BotFather gives it (digits, a colon, then at least 30 \
                           letters, digits, _ or -)";
/// What a webhook secret looks like: Telegram's own rule for `secret_token`.
const SECRET_SHAPE: &str = "a webhook secret token Telegram accepts (1 to 256 letters, digits, _ \
                            or -)";

impl TelegramSecrets {
    /// Loads both secrets for a start with the bot enabled, reporting every problem in one
    /// error.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Result<TelegramSecrets, SecretsError> {
        let mut problems = Vec::new();
        let token = TelegramSecrets::token(&env).map_err(|e| problems.push(e)).ok();
        let secret = TelegramSecrets::webhook_secret(&env).map_err(|e| problems.push(e)).ok();
        match (token, secret) {
            (Some(token), Some(Some(webhook_secret))) if problems.is_empty() => {
                Ok(TelegramSecrets { token, webhook_secret })
            }
            (_, Some(None)) => {
                problems.push(SecretsError::TelegramMissing {
                    name: TELEGRAM_SECRET_VAR,
                    why: "without it anyone could post updates as Telegram; `hotline telegram \
                          set-webhook` makes one and registers it",
                });
                Err(SecretsError::Unusable(problems))
            }
            _ => Err(SecretsError::Unusable(problems)),
        }
    }

    /// The bot's token alone, checked: what `hotline telegram` calls the Bot API with.
    pub fn token(env: impl Fn(&str) -> Option<String>) -> Result<Secret, SecretsError> {
        let Some((value, _)) = given(&env, TELEGRAM_TOKEN_VAR)? else {
            return Err(SecretsError::TelegramMissing {
                name: TELEGRAM_TOKEN_VAR,
                why: "it is the bot's token, which @BotFather gives when the bot is created",
            });
        };
        if !is_bot_token(&value) {
            return Err(SecretsError::Malformed {
                name: TELEGRAM_TOKEN_VAR,
                expected: TOKEN_SHAPE,
            });
        }
        Ok(Secret::new(value))
    }

    /// The webhook's secret token, checked, or `None` when it is not set.
    pub fn webhook_secret(
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, SecretsError> {
        let Some((value, _)) = given(&env, TELEGRAM_SECRET_VAR)? else { return Ok(None) };
        if !is_webhook_secret(&value) {
            return Err(SecretsError::Malformed {
                name: TELEGRAM_SECRET_VAR,
                expected: SECRET_SHAPE,
            });
        }
        Ok(Some(Secret::new(value)))
    }

    /// A new webhook secret: 256 random bits as 64 hex digits, within Telegram's alphabet.
    pub fn generate_webhook_secret() -> io::Result<Secret> {
        generate_value().map(Secret::new)
    }
}

/// `digits:[A-Za-z0-9_-]{30,}`, the shape of every token @BotFather has given.
fn is_bot_token(value: &str) -> bool {
    let Some((id, key)) = value.split_once(':') else { return false };
    !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit())
        && (30..=200).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// 1 to 256 characters of `A-Za-z0-9_-`: what `setWebhook` accepts as a `secret_token`.
fn is_webhook_secret(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// 32 random bytes as hex: 256 bits, printable, easy to paste into a provider's console.
fn generate_value() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a new secret file readable by its owner only. `create_new` refuses to overwrite a
/// file that appeared meanwhile (another process generating the same secret).
fn store(path: &Path, value: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::storage::create_private_dir(dir)?;
    }
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    // The mode above is filtered by the umask; set it exactly.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use crate::domain::secret::CallerHasher;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_api_keys_secret_comes_from_its_variable_or_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "sEcReT0123456789abcdef0123456789";
        let given = Secrets::provider_api_secret(env(&[(PROVIDER_API_SECRET_VAR, secret)]));
        assert_eq!(given.unwrap().expose(), secret);
        let file = dir.path().join("key");
        fs::write(&file, format!("{secret}\n")).unwrap();
        let path = file.display().to_string();
        let from_file = Secrets::provider_api_secret(env(&[(
            "HOTLINE_PROVIDER_API_SECRET_FILE",
            path.as_str(),
        )]));
        assert_eq!(from_file.unwrap().expose(), secret, "read from the file, trimmed");
        let missing = Secrets::provider_api_secret(env(&[])).unwrap_err();
        assert!(matches!(missing, SecretsError::ProviderKeyMissing { .. }), "{missing}");
        assert!(missing.to_string().contains("api_key_sid"), "{missing}");
        let huge = "x".repeat(100_000);
        for wrong in ["", "short", "has spaces in it, sixteen+", "tab\there-0123456789", &huge] {
            let err = Secrets::provider_api_secret(env(&[(PROVIDER_API_SECRET_VAR, wrong)]));
            let err = err.unwrap_err();
            assert!(matches!(err, SecretsError::Malformed { .. }), "{wrong:?}: {err}");
            assert!(!err.to_string().contains(wrong) || wrong.is_empty(), "the value is not shown");
        }
        let unreadable = dir.path().join("absent").display().to_string();
        let err = Secrets::provider_api_secret(env(&[(
            "HOTLINE_PROVIDER_API_SECRET_FILE",
            unreadable.as_str(),
        )]));
        assert!(matches!(err, Err(SecretsError::Io { .. })));
    }

    /// The problems of a start's error.
    fn problems(error: &SecretsError) -> &[SecretsError] {
        match error {
            SecretsError::Unusable(problems) => problems,
            other => panic!("not a start's error: {other}"),
        }
    }

    /// A token of Twilio's shape.
    const TWILIO_TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn production_refuses_the_development_keys_and_names_both() {
        let dir = tempfile::tempdir().unwrap();
        // An earlier development start generated all three beside the database.
        let (generated, _) = Secrets::load(env(&[]), dir.path(), Mode::Development).unwrap();
        let err = Secrets::load(
            env(&[("HOTLINE_AUTH_TOKEN", TWILIO_TOKEN)]),
            dir.path(),
            Mode::Production,
        )
        .unwrap_err();
        let text = err.to_string();
        match problems(&err) {
            [
                SecretsError::Stored { name: key, .. },
                SecretsError::Stored { name: callback, .. },
            ] => {
                assert_eq!((*key, *callback), (CALLER_HASH_KEY_VAR, CALLBACK_KEY_VAR));
            }
            other => panic!("{other:?}"),
        }
        for fix in ["HOTLINE_CALLER_HASH_KEY_FILE", "HOTLINE_CALLBACK_KEY_FILE", "caller_hash_key"]
        {
            assert!(text.contains(fix), "{text}");
        }
        for secret in [&generated.caller_hash_key, &generated.callback_key] {
            assert!(!text.contains(secret.expose()), "a secret in the message: {text}");
        }
        // Naming a kept file on purpose is a choice, not an accident: accepted.
        let key_file = dir.path().join("caller_hash_key");
        let vars = [
            ("HOTLINE_AUTH_TOKEN", TWILIO_TOKEN),
            ("HOTLINE_CALLER_HASH_KEY_FILE", key_file.to_str().unwrap()),
            ("HOTLINE_CALLBACK_KEY", "a-callback-key-of-thirty-two-chars!"),
        ];
        let (secrets, origins) = Secrets::load(env(&vars), dir.path(), Mode::Production).unwrap();
        assert_eq!(secrets.caller_hash_key, generated.caller_hash_key);
        assert_eq!(origins[1], Origin::File(key_file));
    }

    #[test]
    fn every_missing_or_unsafe_secret_is_in_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Secrets::load(env(&[]), dir.path(), Mode::Production).unwrap_err();
        let names: Vec<_> = problems(&err)
            .iter()
            .map(|problem| match problem {
                SecretsError::Missing { name } => *name,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, [AUTH_TOKEN_VAR, CALLER_HASH_KEY_VAR, CALLBACK_KEY_VAR]);
        assert_eq!(err.to_string().lines().count(), 4, "a line per problem: {err}");

        let huge = "x".repeat(1 << 20);
        let vars = [
            ("HOTLINE_AUTH_TOKEN_FILE", "/nonexistent/token"),
            ("HOTLINE_CALLER_HASH_KEY", "short\n<script>"),
            ("HOTLINE_CALLBACK_KEY", ""),
        ];
        let err = Secrets::load(env(&vars), dir.path(), Mode::Production).unwrap_err();
        assert!(
            matches!(
                problems(&err),
                [
                    SecretsError::Io { name: AUTH_TOKEN_VAR, .. },
                    SecretsError::TooShort { name: CALLER_HASH_KEY_VAR, .. },
                    SecretsError::TooShort { name: CALLBACK_KEY_VAR, min: 32, file: None },
                ]
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("<script>"), "{err}");

        let vars = [("HOTLINE_CALLER_HASH_KEY", huge.as_str()), ("HOTLINE_CALLBACK_KEY", &huge)];
        let err = Secrets::load(env(&vars), dir.path(), Mode::Production).unwrap_err();
        assert!(
            matches!(
                problems(&err),
                [SecretsError::Missing { name: AUTH_TOKEN_VAR }, SecretsError::SharedKey]
            ),
            "{err}"
        );
        assert!(err.to_string().len() < 2000, "no value is echoed");
    }

    #[test]
    fn an_auth_token_not_shaped_like_twilios_is_warned_about_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let load = |token: &str| {
            let vars = [
                ("HOTLINE_AUTH_TOKEN", token),
                ("HOTLINE_CALLER_HASH_KEY", "0123456789abcdef"),
                ("HOTLINE_CALLBACK_KEY", "a-callback-key-of-thirty-two-chars!"),
            ];
            let (secrets, origins) = Secrets::load(env(&vars), dir.path(), Mode::Production)
                .unwrap_or_else(|err| panic!("{token:?}: {err}"));
            secrets.auth_token_warning(&origins[0])
        };
        assert_eq!(load(TWILIO_TOKEN), None);
        assert_eq!(load(&TWILIO_TOKEN.to_uppercase()), None);
        let account_sid = format!("AC{TWILIO_TOKEN}");
        let huge = "f".repeat(1 << 20);
        let hostile = format!("{}\n", &TWILIO_TOKEN[..31]);
        for odd in [
            &TWILIO_TOKEN[..31],
            &account_sid,
            "0123456789abcdef0123456789abcdeg",
            "ééééééééééééééééé",
            &huge,
            &hostile,
        ] {
            let warning = load(odd).unwrap_or_else(|| panic!("{odd:?} not warned about"));
            assert!(warning.contains("32 hex characters"), "{warning}");
            assert!(!warning.contains(odd), "{warning}");
        }
        // A development token is not the provider's, and not worth a warning.
        let dev = tempfile::tempdir().unwrap();
        let (secrets, origins) = Secrets::load(env(&[]), dev.path(), Mode::Development).unwrap();
        assert_eq!(secrets.auth_token_warning(&origins[0]), None);
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2hunter2".into());
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        let hasher = CallerHasher::new(secret);
        assert!(!format!("{hasher:?}").contains("hunter2"));
    }

    #[test]
    fn development_generates_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let (first, origins) = Secrets::load(env(&[]), dir.path(), Mode::Development).unwrap();
        assert!(matches!(origins[0], Origin::Generated(_)));
        assert_eq!(first.auth_token.expose().len(), 64);
        let mode = fs::metadata(dir.path().join("caller_hash_key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, origins) = Secrets::load(env(&[]), dir.path(), Mode::Development).unwrap();
        assert!(matches!(origins[1], Origin::Stored(_)));
        assert_eq!(again.caller_hash_key, first.caller_hash_key);
        assert_eq!(Secrets::auth_token(env(&[]), dir.path()).unwrap(), first.auth_token);
    }

    #[test]
    fn production_refuses_to_start_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let err = Secrets::load(env(&[]), dir.path(), Mode::Production).unwrap_err();
        assert!(err.to_string().contains("HOTLINE_AUTH_TOKEN_FILE"), "{err}");
        assert!(!dir.path().join("auth_token").exists());
    }

    #[test]
    fn environment_and_files_win_over_stored_values() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        fs::write(&key_file, "0123456789abcdef-from-file\n").unwrap();
        let key_file = key_file.to_str().unwrap();
        let vars = [
            ("HOTLINE_AUTH_TOKEN", "tok"),
            ("HOTLINE_CALLER_HASH_KEY_FILE", key_file),
            ("HOTLINE_CALLBACK_KEY", "callback-key-from-the-environment-0123"),
        ];
        let (secrets, origins) = Secrets::load(env(&vars), dir.path(), Mode::Production).unwrap();
        assert_eq!(secrets.auth_token.expose(), "tok");
        assert_eq!(secrets.caller_hash_key.expose(), "0123456789abcdef-from-file");
        assert_eq!(origins[0], Origin::Environment);
    }

    #[test]
    fn short_or_unreadable_secrets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("HOTLINE_AUTH_TOKEN", "t"), ("HOTLINE_CALLER_HASH_KEY", "short")];
        let err = Secrets::load(env(&vars), dir.path(), Mode::Development).unwrap_err();
        assert!(matches!(problems(&err), [SecretsError::TooShort { .. }]), "{err}");
        let vars = [("HOTLINE_AUTH_TOKEN", ""), ("HOTLINE_CALLER_HASH_KEY", "0123456789abcdef")];
        assert!(Secrets::load(env(&vars), dir.path(), Mode::Development).is_err());
        let vars = [("HOTLINE_AUTH_TOKEN_FILE", "/nonexistent/token")];
        let err = Secrets::load(env(&vars), dir.path(), Mode::Development).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/token"), "{err}");
    }

    #[test]
    fn the_callback_key_is_its_own_long_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (secrets, origins) = Secrets::load(env(&[]), dir.path(), Mode::Development).unwrap();
        assert!(matches!(origins[2], Origin::Generated(_)));
        assert_ne!(secrets.callback_key, secrets.caller_hash_key);
        let mode = fs::metadata(dir.path().join("callback_key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let empty = tempfile::tempdir().unwrap();
        let vars = [("HOTLINE_AUTH_TOKEN", "t"), ("HOTLINE_CALLER_HASH_KEY", "0123456789abcdef")];
        let err = Secrets::load(env(&vars), empty.path(), Mode::Production).unwrap_err();
        assert!(err.to_string().contains("HOTLINE_CALLBACK_KEY_FILE"), "{err}");
        assert!(!err.to_string().contains("0123456789abcdef"), "{err}");

        let same = "0123456789abcdef0123456789abcdef";
        let vars = [
            ("HOTLINE_AUTH_TOKEN", "t"),
            ("HOTLINE_CALLER_HASH_KEY", same),
            ("HOTLINE_CALLBACK_KEY", same),
        ];
        let err = Secrets::load(env(&vars), empty.path(), Mode::Production).unwrap_err();
        assert!(matches!(problems(&err), [SecretsError::SharedKey]), "{err}");
        assert!(!err.to_string().contains(same), "{err}");

        let vars = [
            ("HOTLINE_AUTH_TOKEN", "t"),
            ("HOTLINE_CALLER_HASH_KEY", same),
            ("HOTLINE_CALLBACK_KEY", "too-short-for-a-key"),
        ];
        let err = Secrets::load(env(&vars), empty.path(), Mode::Production).unwrap_err();
        assert!(matches!(problems(&err), [SecretsError::TooShort { min: 32, .. }]), "{err}");
    }

    #[test]
    fn every_key_of_a_chain_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        for (value, ok) in [
            ("0123456789abcdef\nfedcba9876543210", true),
            ("0123456789abcdef\n\n  fedcba9876543210  \n", true),
            ("0123456789abcdef\nshort", false),
            ("\n\n", false),
        ] {
            let vars = [
                ("HOTLINE_AUTH_TOKEN", "t"),
                ("HOTLINE_CALLER_HASH_KEY", value),
                ("HOTLINE_CALLBACK_KEY", "a-callback-key-of-thirty-two-chars!"),
            ];
            assert_eq!(
                Secrets::load(env(&vars), dir.path(), Mode::Production).is_ok(),
                ok,
                "{value:?}"
            );
        }
    }

    /// A token of @BotFather's shape.
    const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    #[test]
    fn telegrams_secrets_are_checked_and_never_echoed() {
        let load = |vars: &[(&str, &str)]| TelegramSecrets::load(env(vars));
        let secrets = load(&[
            ("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN),
            ("HOTLINE_TELEGRAM_SECRET", "a_Secret-token-0123"),
        ])
        .unwrap();
        assert_eq!(secrets.token.expose(), BOT_TOKEN);
        assert_eq!(secrets.webhook_secret.expose(), "a_Secret-token-0123");
        assert!(!format!("{secrets:?}").contains("AAHdq"));

        // Neither: both named, with how to get them, in one error.
        let err = load(&[]).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                problems(&err),
                [
                    SecretsError::TelegramMissing { name: TELEGRAM_TOKEN_VAR, .. },
                    SecretsError::TelegramMissing { name: TELEGRAM_SECRET_VAR, .. },
                ]
            ),
            "{text}"
        );
        assert!(text.contains("@BotFather") && text.contains("set-webhook"), "{text}");

        let huge = "1".repeat(1 << 20);
        let long_secret = "s".repeat(257);
        let hostile_token = format!("{BOT_TOKEN}\n<script>");
        for bad_token in [
            "",
            "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "123456789:short",
            "abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            ":AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/../x",
            "123456789:AAHdqTcvCH1vGWJxfSéofSAs0K5PALDsawxx",
            &hostile_token,
            &huge,
        ] {
            for bad_secret in ["", "has space", "ünïcode", "semi;colon", long_secret.as_str()] {
                let err = load(&[
                    ("HOTLINE_TELEGRAM_TOKEN", bad_token),
                    ("HOTLINE_TELEGRAM_SECRET", bad_secret),
                ])
                .unwrap_err();
                let text = err.to_string();
                assert!(
                    matches!(
                        problems(&err),
                        [SecretsError::Malformed { .. }, SecretsError::Malformed { .. }]
                    ),
                    "{bad_token:?} {bad_secret:?}: {text}"
                );
                assert!(text.len() < 1000, "no value echoed");
                assert!(!text.contains("<script>") && !text.contains("AAHdq"), "{text}");
            }
        }
        // At the edges of the shapes.
        let max_secret = "-".repeat(256);
        let ok = load(&[
            ("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN),
            ("HOTLINE_TELEGRAM_SECRET", &max_secret),
        ]);
        assert!(ok.is_ok());
        assert!(TelegramSecrets::webhook_secret(env(&[])).unwrap().is_none());
    }

    #[test]
    fn telegrams_secrets_may_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("bot");
        fs::write(&token_file, format!("{BOT_TOKEN}\n")).unwrap();
        let token_file = token_file.to_str().unwrap();
        let token = TelegramSecrets::token(env(&[("HOTLINE_TELEGRAM_TOKEN_FILE", token_file)]));
        assert_eq!(token.unwrap().expose(), BOT_TOKEN);
        let missing = [("HOTLINE_TELEGRAM_SECRET_FILE", "/nonexistent/hook")];
        let err = TelegramSecrets::webhook_secret(env(&missing)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hook"), "{err}");
        // Nothing is generated beside the database for the bot.
        assert!(TelegramSecrets::token(env(&[])).is_err());
    }

    #[test]
    fn a_generated_webhook_secret_is_strong_and_telegram_accepts_it() {
        let one = TelegramSecrets::generate_webhook_secret().unwrap();
        let two = TelegramSecrets::generate_webhook_secret().unwrap();
        assert_ne!(one, two);
        assert_eq!(one.expose().len(), 64);
        assert!(is_webhook_secret(one.expose()));
    }
}

#[cfg(test)]
mod start_tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn a_development_start_names_what_it_generated_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_, origins) = Secrets::load(env(&[]), dir.path(), Mode::Development).unwrap();
        let note = Secrets::generated_note(&origins).expect("a note");
        assert_eq!(note.lines().count(), 1, "{note}");
        for name in [AUTH_TOKEN_VAR, CALLER_HASH_KEY_VAR, CALLBACK_KEY_VAR] {
            assert!(note.contains(name), "{name} not named: {note}");
        }
        assert!(note.contains(&dir.path().display().to_string()), "{note}");
        assert!(note.contains("--production"), "{note}");
        // The next start reads them again: nothing to say.
        let (_, origins) = Secrets::load(env(&[]), dir.path(), Mode::Development).unwrap();
        assert_eq!(Secrets::generated_note(&origins), None);

        // Only what was generated is named; what was given is not.
        let fresh = tempfile::tempdir().unwrap();
        let vars = [("HOTLINE_AUTH_TOKEN", "given-token")];
        let (_, origins) = Secrets::load(env(&vars), fresh.path(), Mode::Development).unwrap();
        let note = Secrets::generated_note(&origins).unwrap();
        assert!(!note.contains(AUTH_TOKEN_VAR) && note.contains(CALLBACK_KEY_VAR), "{note}");
        assert!(!note.contains("given-token"), "{note}");
    }

    #[test]
    fn a_file_that_cannot_be_used_is_named_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let here = std::env::current_dir().unwrap();
        // A relative _FILE is read from the folder the hotline was started in: named so.
        let vars = [("HOTLINE_AUTH_TOKEN_FILE", "no/such/token")];
        let err = Secrets::load(env(&vars), dir.path(), Mode::Production).unwrap_err();
        let expected = here.join("no/such/token").display().to_string();
        assert!(err.to_string().contains(&expected), "{err}");

        // A file that holds too little is named, its value never.
        let short = dir.path().join("short-key");
        fs::write(&short, "abc\n").unwrap();
        let short_path = short.to_str().unwrap();
        let vars = [
            ("HOTLINE_AUTH_TOKEN", "t"),
            ("HOTLINE_CALLER_HASH_KEY_FILE", short_path),
            ("HOTLINE_CALLBACK_KEY", ""),
        ];
        let err = Secrets::load(env(&vars), dir.path(), Mode::Production).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("HOTLINE_CALLER_HASH_KEY is empty or too short (at least 16 characters), in {short_path}")), "{text}");
        assert!(
            text.contains(
                "HOTLINE_CALLBACK_KEY is empty or too short (at least 32 characters); set"
            ),
            "{text}"
        );
        // An empty development file beside the database is named too.
        let dev = tempfile::tempdir().unwrap();
        fs::write(dev.path().join("auth_token"), "").unwrap();
        let err = Secrets::load(env(&[]), dev.path(), Mode::Development).unwrap_err();
        assert!(
            err.to_string().contains(&dev.path().join("auth_token").display().to_string()),
            "{err}"
        );
    }
}
