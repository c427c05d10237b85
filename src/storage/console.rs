//! The web console's sessions and each person's console language.
//!
//! A session is found by the SHA-256 of its cookie's token, the way API tokens are; the row
//! also holds the session's CSRF token. Expiry is checked by the caller (the console knows its
//! timeouts); rows past them are removed by [`Storage::end_expired_sessions`].

use super::engine::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::StorageError;
use super::people::{AuditEntry, PERSON_COLUMNS, insert_audit, person_from_row};
use super::sqlite::{Storage, db_time, decode_time};
use crate::domain::audit::AuditAction;
use crate::domain::people::Person;
use crate::domain::session::ConsoleSession;

/// What a login needs to know of a name: the person, whether they may log in, and the hash
/// to check the password against.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The person, disabled or not.
    pub person: Person,
    /// Their Argon2 password hash; `None`: no console password was ever set.
    pub password_hash: Option<String>,
}

impl Storage {
    /// The person named `name` with their password hash, for a login; `None` if no one has
    /// that name.
    #[tracing::instrument(skip(self))]
    pub async fn login_record(&self, name: &str) -> Result<Option<LoginRecord>, StorageError> {
        let name = name.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {PERSON_COLUMNS}, users.password_hash FROM users WHERE users.name = ?1"
            ))?
            .query_row([name], |row| Ok((person_from_row(row), row.get::<_, Option<String>>(5)?)))
            .optional()?
            .map(|(person, password_hash)| Ok(LoginRecord { person: person?, password_hash }))
            .transpose()
        })
        .await
    }

    /// Starts a session for a person at `now` and audits the login (`action`:
    /// `console.login`).
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn start_session(
        &self,
        user_id: i64,
        token_hash: String,
        csrf: String,
        detail: String,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached(
                "INSERT INTO console_sessions (token_hash, user_id, csrf, created_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![token_hash, user_id, csrf, db_time(now)])?;
            let entry = AuditEntry { actor: Some(user_id), action, case: None, detail, at: now };
            insert_audit(&tx, &entry)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The session whose token has this hash, if it exists and its person is enabled.
    #[tracing::instrument(skip_all)]
    pub async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StorageError> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| {
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {PERSON_COLUMNS}, s.csrf, users.console_language, s.created_at,
                            s.last_seen_at
                     FROM console_sessions AS s JOIN users ON users.id = s.user_id
                     WHERE s.token_hash = ?1 AND users.disabled_at IS NULL"
                ))?
                .query_row([token_hash], |row| {
                    Ok((
                        person_from_row(row),
                        row.get::<_, String>(5)?,
                        row.get::<_, Option<String>>(6)?,
                        row.get::<_, String>(7)?,
                        row.get::<_, String>(8)?,
                    ))
                })
                .optional()?;
            let Some((person, csrf, language, created_at, last_seen_at)) = found else {
                return Ok(None);
            };
            Ok(Some(ConsoleSession {
                person: person?,
                csrf,
                language,
                created_at: decode_time(&created_at)?,
                last_seen_at: decode_time(&last_seen_at)?,
            }))
        })
        .await
    }

    /// Notes that a session was used at `at`.
    #[tracing::instrument(skip_all)]
    pub async fn touch_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE console_sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
            )?
            .execute(params![token_hash, db_time(at)])?;
            Ok(())
        })
        .await
    }

    /// Ends a session at `now`; `audit` names the person and the action (`console.logout`) to
    /// audit (a session that merely expired is not audited). Ending a session that is gone is
    /// not an error.
    #[tracing::instrument(skip_all)]
    pub async fn end_session(
        &self,
        token_hash: &str,
        audit: Option<(i64, AuditAction)>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let ended = tx
                .prepare_cached("DELETE FROM console_sessions WHERE token_hash = ?1")?
                .execute([token_hash])?;
            if let Some((user_id, action)) = audit.filter(|_| ended > 0) {
                let entry = AuditEntry {
                    actor: Some(user_id),
                    action,
                    case: None,
                    detail: String::new(),
                    at: now,
                };
                insert_audit(&tx, &entry)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Ends every session of a person (disabled, password reset); returns how many.
    #[tracing::instrument(skip(self))]
    pub async fn end_sessions_of(&self, user_id: i64) -> Result<usize, StorageError> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM console_sessions WHERE user_id = ?1")?
                .execute([user_id])?)
        })
        .await
    }

    /// Removes sessions idle since before `idle_before` or started before `started_before`;
    /// returns how many.
    #[tracing::instrument(skip(self))]
    pub async fn end_expired_sessions(
        &self,
        idle_before: DateTime<Utc>,
        started_before: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(
                    "DELETE FROM console_sessions WHERE last_seen_at < ?1 OR created_at < ?2",
                )?
                .execute(params![db_time(idle_before), db_time(started_before)])?)
        })
        .await
    }

    /// Sets the language of a person's console (`None`: the default).
    #[tracing::instrument(skip(self))]
    pub async fn set_console_language(
        &self,
        user_id: i64,
        language: Option<String>,
    ) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached("UPDATE users SET console_language = ?2 WHERE id = ?1")?
                .execute(params![user_id, language])?;
            Ok(())
        })
        .await
    }
}
