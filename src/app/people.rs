//! What is done to people, whichever surface asks (the JSON API, the console, `hotline
//! users`): the rules (a supervisor's, nobody disables themself, anyone may revoke their own
//! tokens), the generated secrets, the audit action of each change (written by storage, in
//! the change's transaction), a bearer token's check, and the reading of an audit-log
//! filter.
//!
//! A new PIN, password or token is returned to the caller to show once; only its hash is
//! stored. Disabling a person or resetting their password also ends their console sessions,
//! so a browser left logged in cannot keep working with the old credentials.

use chrono::TimeDelta;

use crate::app::{Actor, App, AppError};
use crate::domain::audit::{AuditAction, AuditFilter, AuditRecord};
use crate::domain::cases::CaseNumber;
use crate::domain::lockout::PinLock;
use crate::domain::people::{self, PeopleError, Person, Role};
use crate::storage::NewPerson;

/// The audit lines read when a filter names no limit.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// The most audit lines one read returns.
pub const MAX_AUDIT_LIMIT: u32 = 1000;

/// How stale a token's `last_used_at` may get before a request refreshes it: noting every
/// use would make every read a write.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

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

impl App {
    /// Everyone, disabled or not, by id (supervisor).
    pub async fn people(&self, actor: &Actor) -> Result<Vec<Person>, AppError> {
        actor.require_supervisor()?;
        Ok(self.storage().people().await?)
    }

    /// Adds a person with a generated PIN and password (supervisor; audited `user.add`).
    pub async fn add_person(
        &self,
        actor: &Actor,
        name: &str,
        role: &str,
        languages: &[&str],
    ) -> Result<Added, AppError> {
        actor.require_supervisor()?;
        let name = people::check_name(name).map_err(invalid)?;
        let role: Role = role.parse().map_err(invalid)?;
        let languages = people::check_languages(languages.iter().copied()).map_err(invalid)?;
        let pin = people::generate_pin().map_err(internal)?;
        let password = people::generate_password().map_err(internal)?;
        let new = NewPerson {
            name,
            role,
            languages,
            password_hash: Some(hash(&password).await?),
            pin_hash: Some(hash(&pin).await?),
        };
        let person = self
            .storage()
            .create_person(new, actor.changed_by(), AuditAction::UserAdd, self.now())
            .await?;
        Ok(Added { person, pin, password })
    }

    /// Disables (`disabled`) or enables a person (supervisor; audited `user.disable`,
    /// `user.enable`). Disabling revokes their tokens and ends their console sessions. A
    /// supervisor cannot disable themself, so the hotline is never left without an enabled
    /// supervisor.
    pub async fn set_disabled(
        &self,
        actor: &Actor,
        id: i64,
        disabled: bool,
    ) -> Result<Person, AppError> {
        actor.require_supervisor()?;
        if disabled && actor.audit_id() == Some(id) {
            return Err(AppError::Conflict("you cannot disable yourself".into()));
        }
        let action = if disabled { AuditAction::UserDisable } else { AuditAction::UserEnable };
        let person = self
            .storage()
            .change_disabled(id, disabled, actor.changed_by(), action, self.now())
            .await?
            .ok_or_else(|| no_person(id))?;
        if disabled {
            self.storage().end_sessions_of(id).await?;
        }
        Ok(person)
    }

    /// A new generated PIN for a person, to show once (supervisor; audited
    /// `user.pin-reset`).
    pub async fn reset_pin(&self, actor: &Actor, id: i64) -> Result<(Person, String), AppError> {
        actor.require_supervisor()?;
        let pin = people::generate_pin().map_err(internal)?;
        let person = self
            .storage()
            .set_pin_hash(
                id,
                hash(&pin).await?,
                actor.changed_by(),
                AuditAction::UserPinReset,
                self.now(),
            )
            .await?
            .ok_or_else(|| no_person(id))?;
        Ok((person, pin))
    }

    /// A new generated console password for a person, to show once (supervisor; audited
    /// `user.password-reset`); their console sessions end, so only the new password works.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(Person, String), AppError> {
        actor.require_supervisor()?;
        let password = people::generate_password().map_err(internal)?;
        let hashed = hash(&password).await?;
        let person = self
            .storage()
            .set_password_hash(
                id,
                hashed,
                actor.changed_by(),
                AuditAction::UserPasswordReset,
                self.now(),
            )
            .await?
            .ok_or_else(|| no_person(id))?;
        self.storage().end_sessions_of(id).await?;
        Ok((person, password))
    }

    /// Lifts the operator-line lock on a person's ID and on the numbers that failed on it
    /// (supervisor; audited `dial-in.unlock`, see [`crate::domain::lockout`]); their next
    /// right PIN is accepted. Returns them and whether anything was locked.
    pub async fn unlock_pin(&self, actor: &Actor, id: i64) -> Result<(Person, bool), AppError> {
        actor.require_supervisor()?;
        self.storage()
            .unlock_pin(id, actor.changed_by(), AuditAction::DialInUnlock, self.now())
            .await?
            .ok_or_else(|| no_person(id))
    }

    /// The operator line's locks of the moment, those ending first first (supervisor).
    pub async fn pin_locks(&self, actor: &Actor) -> Result<Vec<PinLock>, AppError> {
        actor.require_supervisor()?;
        Ok(self.storage().pin_locks(self.now()).await?)
    }

    /// Replaces the languages a person takes calls in (supervisor; audited
    /// `user.languages`).
    pub async fn set_languages(
        &self,
        actor: &Actor,
        id: i64,
        languages: &[&str],
    ) -> Result<Person, AppError> {
        actor.require_supervisor()?;
        let languages = people::check_languages(languages.iter().copied()).map_err(invalid)?;
        self.storage()
            .set_languages(
                id,
                languages,
                actor.changed_by(),
                AuditAction::UserLanguages,
                self.now(),
            )
            .await?
            .ok_or_else(|| no_person(id))
    }

    /// A new API token for a person, to show once (supervisor; audited `token.issue`). A
    /// disabled person gets none ([`AppError::Conflict`]).
    pub async fn issue_token(&self, actor: &Actor, id: i64) -> Result<String, AppError> {
        actor.require_supervisor()?;
        let token = people::generate_token().map_err(internal)?;
        self.storage()
            .issue_token(
                id,
                people::token_hash(&token),
                actor.changed_by(),
                AuditAction::TokenIssue,
                self.now(),
            )
            .await?
            .ok_or_else(|| no_person(id))?;
        Ok(token)
    }

    /// Revokes every token of a person (a supervisor's, or the person's own; audited
    /// `token.revoke`); how many were still valid.
    pub async fn revoke_tokens(&self, actor: &Actor, id: i64) -> Result<usize, AppError> {
        if actor.audit_id() != Some(id) {
            actor.require_supervisor()?;
        }
        let (_, revoked) = self
            .storage()
            .revoke_tokens(id, actor.changed_by(), AuditAction::TokenRevoke, self.now())
            .await?
            .ok_or_else(|| no_person(id))?;
        Ok(revoked)
    }

    /// The enabled person holding this valid token, as the actor of a request; `None` for
    /// an unknown or revoked token and for a disabled person, without saying which. The
    /// lookup is one indexed query on the token's hash, so its time does not depend on
    /// whether the person exists either.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<Actor>, AppError> {
        let Some(owner) = self.storage().token_owner(&people::token_hash(token)).await? else {
            return Ok(None);
        };
        let now = self.now();
        if owner.last_used_at.is_none_or(|last| now - last >= TOUCH_INTERVAL) {
            // Bookkeeping only: a failure must not refuse a valid request.
            if let Err(error) = self.storage().touch_token(owner.token_id, now).await {
                tracing::warn!(%error, "could not note a token's use");
            }
        }
        Ok(Some(Actor::Person(owner.person)))
    }

    /// The audit log, newest first, as `filter` narrows it (supervisor).
    pub async fn read_audit_log(
        &self,
        actor: &Actor,
        filter: AuditFilter,
    ) -> Result<Vec<AuditRecord>, AppError> {
        actor.require_supervisor()?;
        Ok(self.storage().audit_log(filter).await?)
    }
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
async fn hash(secret: &str) -> Result<String, AppError> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || people::hash_secret(&secret))
        .await
        .map_err(|e| internal(PeopleError::Hash(e.to_string())))?
        .map_err(internal)
}

/// A query value that was given and is not empty (an empty form field is no condition).
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|text| !text.is_empty())
}

fn no_person(id: i64) -> AppError {
    AppError::NotFound(format!("no person has the id {id}"))
}

fn invalid(error: PeopleError) -> AppError {
    AppError::Invalid(error.to_string())
}

fn internal(error: PeopleError) -> AppError {
    AppError::Internal(Box::new(error))
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
