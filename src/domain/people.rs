//! The people who work the hotline: operators who take callers, supervisors who manage them.
//!
//! A person has a role, the languages they speak (which queues they can take), and three
//! secrets, each stored only as a hash: a numeric PIN for dialling in from a phone, a password
//! for the console, and any number of bearer tokens for the API. PINs and passwords are short
//! and chosen or typed by people, so they are hashed with Argon2id (slow on purpose); tokens
//! are 256 random bits, so a fast SHA-256 is enough (see [`token_hash`]). The server checks
//! PINs and passwords through its [`Hashers`], a few at once, so that a flood of them cannot
//! exhaust its memory.
//!
//! The database side is `storage/people.rs`; the API side `api/auth.rs` and `api/people.rs`;
//! the `hotline users …` command [`cli`].

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::domain::language::LanguageTag;

/// What a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes callers and works their cases.
    Operator,
    /// Everything an operator does, and manages people, the blocklist, exports, the audit log.
    Supervisor,
}

impl Role {
    /// The role as stored and shown: `operator`, `supervisor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PeopleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "supervisor" => Ok(Role::Supervisor),
            _ => Err(PeopleError::Role(s.chars().take(32).collect())),
        }
    }
}

/// A person who works the hotline, as everyone may see them: no secret is here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Person {
    /// Their number: the key in the database, and the operator ID typed on a phone's keypad
    /// when dialling in (3 digits or more: ids start at 101).
    pub id: i64,
    /// Their login name, unique: 1 to 64 ASCII letters, digits, `.`, `_` or `-` (see
    /// [`check_name`]).
    #[schema(example = "olga")]
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The languages they take calls in, in their order of preference.
    pub languages: Vec<LanguageTag>,
    /// Disabled people keep their history but cannot dial in or use the API.
    pub disabled: bool,
}

impl Person {
    /// Whether they take calls in this language.
    pub fn speaks(&self, language: &LanguageTag) -> bool {
        self.languages.contains(language)
    }

    /// Whether they are a supervisor.
    pub fn is_supervisor(&self) -> bool {
        self.role == Role::Supervisor
    }
}

/// Why a person's details or secrets were refused. Messages say what is allowed, and quote
/// at most a short prefix of what was given (it may be hostile or huge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleError {
    /// The name is not 1–64 of the allowed characters.
    #[error(
        "the name {0:?} is not allowed: use 1 to 64 ASCII letters, digits, '.', '_' or '-' \
         (no spaces or accents)"
    )]
    Name(String),
    /// The role is not one we know.
    #[error("the role {0:?} is not known: use operator or supervisor")]
    Role(String),
    /// The language list is empty, has a bad code, or repeats one.
    #[error("{0}")]
    Languages(String),
    /// A password is too short or too long.
    #[error("a password must be {MIN_PASSWORD_CHARS} to {MAX_SECRET_BYTES} bytes long")]
    Password,
    /// Hashing failed (it only does on a broken parameter set, never on input).
    #[error("hashing a secret failed: {0}")]
    Hash(String),
}

/// The longest name: a person's login, shown on screens and in the audit log.
pub const MAX_NAME_CHARS: usize = 64;
/// How many languages one person may list: more is a typo, not a polyglot.
pub const MAX_LANGUAGES: usize = 16;
/// The shortest password people may choose (generated ones are longer).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest secret hashed: Argon2 takes any length, but a megabyte "password" is an
/// attack on our CPU, not a password.
pub const MAX_SECRET_BYTES: usize = 128;
/// How many digits a PIN has.
pub const PIN_DIGITS: usize = 6;

/// Checks a name: 1–64 ASCII letters, digits, `.`, `_`, `-`. ASCII only, so two people can
/// never have names that look the same, and a name is safe in a log line, a CSV cell or a
/// URL without escaping.
pub fn check_name(name: &str) -> Result<String, PeopleError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(name.to_owned()) } else { Err(PeopleError::Name(short(name))) }
}

/// Parses a comma-separated list of language codes (`ru,uk`); spaces around codes are
/// allowed. Refuses an empty list, an empty or bad code, and repeats.
pub fn parse_languages(list: &str) -> Result<Vec<LanguageTag>, PeopleError> {
    check_languages(list.split(',').map(str::trim))
}

/// Checks a list of language codes: 1 to [`MAX_LANGUAGES`], each valid, none repeated.
pub fn check_languages<'a>(
    codes: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<LanguageTag>, PeopleError> {
    let mut languages: Vec<LanguageTag> = Vec::new();
    for code in codes {
        let language = LanguageTag::parse(code).ok_or_else(|| {
            PeopleError::Languages(format!(
                "{:?} is not a language code: use two or three lowercase letters, like ru or uk, \
                 separated by commas",
                short(code)
            ))
        })?;
        if languages.contains(&language) {
            return Err(PeopleError::Languages(format!("the language {language} is listed twice")));
        }
        if languages.len() == MAX_LANGUAGES {
            return Err(PeopleError::Languages(format!(
                "at most {MAX_LANGUAGES} languages may be listed"
            )));
        }
        languages.push(language);
    }
    if languages.is_empty() {
        return Err(PeopleError::Languages("at least one language is needed, like ru".into()));
    }
    Ok(languages)
}

/// Checks a password people chose: long enough to resist guessing, short enough to hash.
pub fn check_password(password: &str) -> Result<(), PeopleError> {
    let ok = password.chars().count() >= MIN_PASSWORD_CHARS && password.len() <= MAX_SECRET_BYTES;
    if ok { Ok(()) } else { Err(PeopleError::Password) }
}

/// Hashes a PIN or password with Argon2id and a random salt, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), which carries its own parameters so they
/// can be raised later without breaking stored hashes.
pub fn hash_secret(secret: &str) -> Result<String, PeopleError> {
    if secret.len() > MAX_SECRET_BYTES {
        return Err(PeopleError::Password);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PeopleError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PeopleError::Hash(e.to_string()))?;
    // The crate's defaults are OWASP's recommendation for Argon2id (19 MiB, 2 passes).
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PeopleError::Hash(e.to_string()))
}

/// A new PIN: [`PIN_DIGITS`] random digits, uniformly drawn.
pub fn generate_pin() -> Result<String, PeopleError> {
    (0..PIN_DIGITS).map(|_| random_below(10).map(|d| char::from(b'0' + d))).collect()
}

/// A new password: 20 characters from an alphabet without look-alikes (no 0/O, 1/l/I), about
/// 115 bits, to be read off a screen and typed once.
pub fn generate_password() -> Result<String, PeopleError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let n = u8::try_from(ALPHABET.len()).unwrap_or(u8::MAX);
    (0..20).map(|_| random_below(n).map(|i| char::from(ALPHABET[usize::from(i)]))).collect()
}

/// The prefix every API token starts with, so a leaked one is recognisable (and secret
/// scanners can be taught to look for it).
pub const TOKEN_PREFIX: &str = "hlt_";

/// A new API token: [`TOKEN_PREFIX`] and [`random_hex`].
pub fn generate_token() -> Result<String, PeopleError> {
    Ok(format!("{TOKEN_PREFIX}{}", random_hex()?))
}

/// 256 random bits in 64 lowercase hex digits: tokens nobody can guess (API tokens, console
/// sessions, CSRF tokens).
pub fn random_hex() -> Result<String, PeopleError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| PeopleError::Hash(e.to_string()))?;
    Ok(hex(&bytes))
}

/// Whether `token` looks like one of ours: the prefix and 64 lowercase hex digits. Checked
/// before any lookup, so a hostile header costs nothing.
pub fn is_token_shaped(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// How a token is stored and looked up: the hex SHA-256 of its text.
///
/// A fast hash is right here, unlike for PINs: a token has 256 random bits, so nobody can
/// guess it from its hash however fast they hash, and the lookup must be fast because it
/// happens on every request. Being deterministic, it can be an indexed unique column.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A uniformly random number below `n` (1..=255), by rejection: taking a byte modulo `n`
/// would make small values likelier.
fn random_below(n: u8) -> Result<u8, PeopleError> {
    let limit = 256 - 256 % u16::from(n);
    loop {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(|e| PeopleError::Hash(e.to_string()))?;
        if u16::from(byte[0]) < limit {
            return Ok(byte[0] % n);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// At most 32 characters of a value, to quote it in a message.
fn short(value: &str) -> String {
    value.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_ascii() {
        for good in ["anna", "Anna.K", "op_7", "a", "x-y", &"n".repeat(64)] {
            assert_eq!(check_name(good).as_deref(), Ok(good), "{good}");
        }
        for bad in ["", "anna k", "анна", "a\"b", "a'b", "a/b", "é", &"n".repeat(65), "a\nb"] {
            assert!(matches!(check_name(bad), Err(PeopleError::Name(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_refused_name_is_quoted_short() {
        let message = check_name(&"x".repeat(10_000)).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn languages_are_a_list_of_distinct_codes() {
        let tags = |codes: &[&str]| -> Vec<LanguageTag> {
            codes.iter().map(|c| LanguageTag::parse(c).unwrap()).collect()
        };
        assert_eq!(parse_languages("ru,uk"), Ok(tags(&["ru", "uk"])));
        assert_eq!(parse_languages(" ko , ru "), Ok(tags(&["ko", "ru"])));
        for bad in ["", "xx,,", ",", "ru,RU", "russian", "ru,ru", "r1", "ру"] {
            assert!(matches!(parse_languages(bad), Err(PeopleError::Languages(_))), "{bad:?}");
        }
        let many = (0..17).map(|i| format!("a{}", char::from(b'a' + i))).collect::<Vec<_>>();
        assert!(parse_languages(&many.join(",")).is_err());
    }

    #[test]
    fn roles_parse_exactly() {
        assert_eq!("operator".parse(), Ok(Role::Operator));
        assert_eq!("supervisor".parse(), Ok(Role::Supervisor));
        for bad in ["admin", "Operator", "", "supervisor "] {
            assert!(bad.parse::<Role>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_secrets_have_their_shapes() {
        let pin = generate_pin().unwrap();
        assert_eq!(pin.len(), PIN_DIGITS);
        assert!(pin.bytes().all(|b| b.is_ascii_digit()));
        let password = generate_password().unwrap();
        assert_eq!(password.len(), 20);
        assert!(check_password(&password).is_ok());
        let token = generate_token().unwrap();
        assert!(is_token_shaped(&token), "{token}");
        assert_ne!(token, generate_token().unwrap());
        assert!(!is_token_shaped("hlt_xyz"));
        assert!(!is_token_shaped(&token.to_uppercase()));
    }

    #[test]
    fn a_token_hash_is_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_person_speaks_their_languages() {
        let person = Person {
            id: 101,
            name: "anna".into(),
            role: Role::Operator,
            languages: parse_languages("ru,uk").unwrap(),
            disabled: false,
        };
        assert!(person.speaks(&LanguageTag::parse("uk").unwrap()));
        assert!(!person.speaks(&LanguageTag::parse("ko").unwrap()));
        assert!(!person.is_supervisor());
    }
}
