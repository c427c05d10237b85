//! What a supervisor does to people, shared by the JSON API (`api/people.rs`) and the web
//! console (`console/people.rs`, `console/audit.rs`): the rules (nobody disables themself),
//! the generated secrets, the audit lines (written by storage, in the change's transaction),
//! and the reading of an audit-log filter.
//!
//! A new PIN or password is returned to the caller to show once; only its hash is stored.
//! Disabling a person or resetting their password also ends their console sessions, so a
//! browser left logged in cannot keep working with the old credentials.

use crate::domain::cases::CaseNumber;
use crate::domain::people::{PeopleError, Person, Role};
use crate::storage::{AuditFilter, ChangedBy, NewPerson, Storage, StorageError};

/// The audit lines read when a filter names no limit.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// The most audit lines one read returns.
pub const MAX_AUDIT_LIMIT: u32 = 1000;

/// Why a supervisor's change to a person was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A value given is wrong; the message says how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// No person has this id.
    #[error("no person has the id {0}")]
    NoPerson(i64),
    /// The change conflicts with the current state (a name taken, disabling oneself).
    #[error("{0}")]
    Conflict(String),
    /// Generating or hashing a secret failed.
    #[error(transparent)]
    Secret(PeopleError),
    /// The database failed.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for AdminError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict(message) => AdminError::Conflict(message),
            other => AdminError::Storage(other),
        }
    }
}

/// A person just added, with the secrets to show this once.
#[derive(Debug)]
pub struct Added {
    /// Who was added.
    pub person: Person,
    /// Their dial-in PIN.
    pub pin: String,
    /// Their console password.
    pub password: String,
}

/// Adds a person with a generated PIN and password (audited `user.add`).
pub async fn add(
    storage: &Storage,
    by: ChangedBy,
    name: &str,
    role: &str,
    languages: &[&str],
) -> Result<Added, AdminError> {
    let name = crate::domain::people::check_name(name).map_err(invalid)?;
    let role: Role = role.parse().map_err(invalid)?;
    let languages =
        crate::domain::people::check_languages(languages.iter().copied()).map_err(invalid)?;
    let pin = crate::domain::people::generate_pin().map_err(AdminError::Secret)?;
    let password = crate::domain::people::generate_password().map_err(AdminError::Secret)?;
    let new = NewPerson {
        name,
        role,
        languages,
        password_hash: Some(hash(&password).await?),
        pin_hash: Some(hash(&pin).await?),
    };
    let person = storage.create_person(new, by).await?;
    Ok(Added { person, pin, password })
}

/// Disables (`disabled`) or enables a person (audited `user.disable`, `user.enable`).
/// Disabling revokes their tokens and ends their console sessions. A supervisor cannot
/// disable themself, so the hotline is never left without an enabled supervisor.
pub async fn set_disabled(
    storage: &Storage,
    actor: i64,
    id: i64,
    disabled: bool,
) -> Result<Person, AdminError> {
    if disabled && id == actor {
        return Err(AdminError::Conflict("you cannot disable yourself".into()));
    }
    let person = storage
        .set_disabled(id, disabled, ChangedBy::Person(actor))
        .await?
        .ok_or(AdminError::NoPerson(id))?;
    if disabled {
        storage.end_sessions_of(id).await?;
    }
    Ok(person)
}

/// A new generated PIN for a person, to show once (audited `user.pin-reset`).
pub async fn reset_pin(storage: &Storage, by: ChangedBy, id: i64) -> Result<String, AdminError> {
    let pin = crate::domain::people::generate_pin().map_err(AdminError::Secret)?;
    storage.set_pin_hash(id, hash(&pin).await?, by).await?.ok_or(AdminError::NoPerson(id))?;
    Ok(pin)
}

/// A new generated console password for a person, to show once (audited
/// `user.password-reset`); their console sessions end, so only the new password works.
pub async fn reset_password(
    storage: &Storage,
    by: ChangedBy,
    id: i64,
) -> Result<String, AdminError> {
    let password = crate::domain::people::generate_password().map_err(AdminError::Secret)?;
    storage
        .set_password_hash(id, hash(&password).await?, by)
        .await?
        .ok_or(AdminError::NoPerson(id))?;
    storage.end_sessions_of(id).await?;
    Ok(password)
}

/// Lifts the operator-line lock on a person's ID and on the numbers that failed on it
/// (audited `dial-in.unlock`, see [`crate::domain::lockout`]); their next right PIN is
/// accepted. Returns them and whether anything was locked.
pub async fn unlock_pin(
    storage: &Storage,
    by: ChangedBy,
    id: i64,
) -> Result<(Person, bool), AdminError> {
    let action = crate::domain::audit::AuditAction::DialInUnlock;
    let unlocked = storage.unlock_pin(id, by, action, chrono::Utc::now());
    unlocked.await?.ok_or(AdminError::NoPerson(id))
}

/// Replaces the languages a person takes calls in (audited `user.languages`).
pub async fn set_languages(
    storage: &Storage,
    by: ChangedBy,
    id: i64,
    languages: &[&str],
) -> Result<Person, AdminError> {
    let languages =
        crate::domain::people::check_languages(languages.iter().copied()).map_err(invalid)?;
    storage.set_languages(id, languages, by).await?.ok_or(AdminError::NoPerson(id))
}

/// Reads an audit-log filter from text (a query string's values; absent or empty is no
/// condition): a case number, a person's id, an action code, a limit of 1 to
/// [`MAX_AUDIT_LIMIT`] (default [`DEFAULT_AUDIT_LIMIT`]). The error says which is wrong.
pub fn audit_filter(
    case: Option<&str>,
    actor: Option<&str>,
    action: Option<&str>,
    limit: Option<&str>,
) -> Result<AuditFilter, String> {
    let case = given(case)
        .map(|text| text.parse::<CaseNumber>().map_err(|e| format!("case: {e}")))
        .transpose()?;
    let actor = given(actor)
        .map(|text| {
            text.parse::<i64>()
                .map_err(|_| "actor: give a person's id, a number like 101".to_owned())
        })
        .transpose()?;
    let action = given(action)
        .map(|text| {
            let ok = text.len() <= 64
                && text.bytes().all(|b| b.is_ascii_lowercase() || matches!(b, b'.' | b'-' | b'_'));
            if ok {
                Ok(text.to_owned())
            } else {
                Err("action: give an action code like user.add (lowercase letters, '.', '-')"
                    .to_owned())
            }
        })
        .transpose()?;
    let limit = match given(limit) {
        None => DEFAULT_AUDIT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_AUDIT_LIMIT).contains(n))
            .ok_or_else(|| format!("limit: give a number from 1 to {MAX_AUDIT_LIMIT}"))?,
    };
    Ok(AuditFilter { case, actor, action, limit })
}

/// Hashes a PIN or password on the blocking pool: Argon2 spends tens of milliseconds of CPU
/// on purpose, which must not stall the threads that answer the provider's webhooks.
async fn hash(secret: &str) -> Result<String, AdminError> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || crate::domain::people::hash_secret(&secret))
        .await
        .map_err(|e| AdminError::Secret(PeopleError::Hash(e.to_string())))?
        .map_err(AdminError::Secret)
}

/// A query value that was given and is not empty (an empty form field is no condition).
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|text| !text.is_empty())
}

fn invalid(error: PeopleError) -> AdminError {
    AdminError::Invalid(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_filter_is_read_or_refused_with_its_field_named() {
        let all = audit_filter(None, Some(""), None, None).unwrap();
        assert_eq!(all, AuditFilter { limit: DEFAULT_AUDIT_LIMIT, ..AuditFilter::default() });
        let some = audit_filter(Some("2026-000042"), Some("101"), Some("user.add"), Some("5"));
        let some = some.unwrap();
        assert_eq!(
            (some.actor, some.action.as_deref(), some.limit),
            (Some(101), Some("user.add"), 5)
        );
        for (case, actor, action, limit, field) in [
            (Some("42"), None, None, None, "case:"),
            (None, Some("anna"), None, None, "actor:"),
            (None, None, Some("<script>"), None, "action:"),
            (None, None, Some(&*"a".repeat(65)), None, "action:"),
            (None, None, None, Some("0"), "limit:"),
            (None, None, None, Some("-5"), "limit:"),
            (None, None, None, Some("1001"), "limit:"),
            (None, None, None, Some("99999999999999999999"), "limit:"),
        ] {
            let error = audit_filter(case, actor, action, limit).unwrap_err();
            assert!(error.starts_with(field), "{error}");
        }
    }
}
