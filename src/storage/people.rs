//! People, their API tokens, and the audit log (tables of `0002_people.sql`).
//!
//! Secrets arrive here already hashed (`crate::domain::people` hashes them); this module never sees a
//! PIN, password or token in the clear.

use super::engine::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::StorageError;
use super::sqlite::{Storage, db_time, decode_language, decode_time};
use crate::domain::audit::{AuditAction, AuditFilter, AuditRecord};
use crate::domain::cases::CaseNumber;
use crate::domain::people::{Person, Role};
use crate::domain::queue::Reach;
use crate::scripts::LanguageTag;

/// A person to add. Their id is given by the database.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Their login name, already checked with [`crate::domain::people::check_name`].
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The languages they take calls in (at least one).
    pub languages: Vec<LanguageTag>,
    /// Argon2 hash of their console password, if they have one.
    pub password_hash: Option<String>,
    /// Argon2 hash of their dial-in PIN, if they have one.
    pub pin_hash: Option<String>,
}

/// Who changes a person, as the change's audit line records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedBy {
    /// A person (a supervisor, or someone revoking their own tokens), through the API.
    Person(i64),
    /// Someone at the server's shell, with `hotline users …`: no actor, and the detail starts
    /// with `cli`.
    Cli,
}

/// How a person is reached when available (see [`crate::domain::queue::Reach`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReachSettings {
    /// On the line, or call me.
    pub reach: Reach,
    /// Their phone number, sealed for them (`Sealer::seal_operator_phone`).
    pub phone_sealed: Option<String>,
}

/// One line to add to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who did it; `None` for the command line.
    pub actor: Option<i64>,
    /// What was done.
    pub action: AuditAction,
    /// The case concerned, if any.
    pub case: Option<CaseNumber>,
    /// What else a reader needs; never a phone number or a secret.
    pub detail: String,
    /// When it was done: the use case's clock, so a test's manual clock times its lines too.
    pub at: DateTime<Utc>,
}

/// The person a token belongs to, for the API's authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The person, who is not disabled.
    pub person: Person,
    /// The token's row, to note its use.
    pub token_id: i64,
    /// When the token was last noted as used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The columns of a [`Person`], in the order [`person_from_row`] reads them.
pub(super) const PERSON_COLUMNS: &str =
    "users.id, users.name, users.role, users.languages, users.disabled_at";

impl Storage {
    /// Adds a person at `now`, writing no audit line: for seeding and tests. The API and the
    /// command line use [`Storage::create_person`].
    #[tracing::instrument(skip_all, fields(name = %new.name))]
    pub async fn add_person(
        &self,
        new: NewPerson,
        now: DateTime<Utc>,
    ) -> Result<Person, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let person = insert_person(&tx, new, now)?;
            tx.commit()?;
            Ok(person)
        })
        .await
    }

    /// Adds a person and audits it (`action`: `user.add`), in one transaction. A name already
    /// taken is [`StorageError::Conflict`].
    #[tracing::instrument(skip_all, fields(name = %new.name))]
    pub async fn create_person(
        &self,
        new: NewPerson,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Person, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let person = insert_person(&tx, new, now)?;
            let more =
                format!("role={} languages={}", person.role, join_languages(&person.languages));
            audit_change(&tx, by, action, now, &person, &more)?;
            tx.commit()?;
            Ok(person)
        })
        .await
    }

    /// The person with this id, disabled or not.
    #[tracing::instrument(skip(self))]
    pub async fn person(&self, id: i64) -> Result<Option<Person>, StorageError> {
        self.read(move |conn| load_person(conn, "users.id = ?1", id)).await
    }

    /// The person with this name, disabled or not.
    #[tracing::instrument(skip(self))]
    pub async fn person_by_name(&self, name: &str) -> Result<Option<Person>, StorageError> {
        let name = name.to_owned();
        self.read(move |conn| load_person(conn, "users.name = ?1", name)).await
    }

    /// Everyone, disabled or not, by id.
    #[tracing::instrument(skip(self))]
    pub async fn people(&self) -> Result<Vec<Person>, StorageError> {
        self.read(|conn| {
            let mut statement =
                conn.prepare_cached(&format!("SELECT {PERSON_COLUMNS} FROM users ORDER BY id"))?;
            let rows = statement.query_map((), |row| Ok(person_from_row(row)))?;
            rows.map(|row| row?).collect()
        })
        .await
    }

    /// The PIN hash of an enabled person; `None` if there is no such person, they are
    /// disabled, or they have no PIN. Check it with the hashers' `verify`, which takes
    /// as long for `None`, so dial-in does not reveal which IDs exist.
    #[tracing::instrument(skip(self))]
    pub async fn pin_hash(&self, id: i64) -> Result<Option<String>, StorageError> {
        self.read(move |conn| {
            let hash: Option<Option<String>> = conn
                .prepare_cached("SELECT pin_hash FROM users WHERE id = ?1 AND disabled_at IS NULL")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            Ok(hash.flatten())
        })
        .await
    }

    /// Replaces a person's PIN hash and audits it at `now` (`action`: `user.pin-reset`); `None` if
    /// there is no such person.
    #[tracing::instrument(skip(self, pin_hash))]
    pub async fn set_pin_hash(
        &self,
        id: i64,
        pin_hash: String,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<Person>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(person) = load_person(&tx, "users.id = ?1", id)? else { return Ok(None) };
            tx.prepare_cached("UPDATE users SET pin_hash = ?2 WHERE id = ?1")?
                .execute(params![id, pin_hash])?;
            audit_change(&tx, by, action, now, &person, "")?;
            tx.commit()?;
            Ok(Some(person))
        })
        .await
    }

    /// Replaces a person's console password hash and audits it at `now` (`action`:
    /// `user.password-reset`); `None` if there is no such person. Their console sessions are
    /// the caller's to end.
    #[tracing::instrument(skip(self, password_hash))]
    pub async fn set_password_hash(
        &self,
        id: i64,
        password_hash: String,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<Person>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(person) = load_person(&tx, "users.id = ?1", id)? else { return Ok(None) };
            tx.prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
                .execute(params![id, password_hash])?;
            audit_change(&tx, by, action, now, &person, "")?;
            tx.commit()?;
            Ok(Some(person))
        })
        .await
    }

    /// Replaces the languages a person takes calls in (already checked with
    /// [`crate::domain::people::check_languages`]) and audits it at `now` (`action`: `user.languages`,
    /// old and new); `None` if there is no such person.
    #[tracing::instrument(skip(self))]
    pub async fn set_languages(
        &self,
        id: i64,
        languages: Vec<LanguageTag>,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<Person>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(before) = load_person(&tx, "users.id = ?1", id)? else { return Ok(None) };
            tx.prepare_cached("UPDATE users SET languages = ?2 WHERE id = ?1")?
                .execute(params![id, join_languages(&languages)])?;
            let more = format!(
                "languages={} was={}",
                join_languages(&languages),
                join_languages(&before.languages)
            );
            let person = Person { languages, ..before };
            audit_change(&tx, by, action, now, &person, &more)?;
            tx.commit()?;
            Ok(Some(person))
        })
        .await
    }

    /// A person's reach: their mode and their sealed phone number; `None` if there is no such
    /// person.
    #[tracing::instrument(skip(self))]
    pub async fn reach_settings(&self, id: i64) -> Result<Option<ReachSettings>, StorageError> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT reach, phone_sealed FROM users WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))
                .optional()?
                .map(|(reach, phone_sealed)| {
                    let reach = Reach::parse(&reach)
                        .ok_or_else(|| StorageError::Data(format!("stored reach {reach:?}")))?;
                    Ok(ReachSettings { reach, phone_sealed })
                })
                .transpose()
        })
        .await
    }

    /// Everyone's reach, by id (for the people's and the supervisor's screens).
    #[tracing::instrument(skip(self))]
    pub async fn reaches(&self) -> Result<Vec<(i64, ReachSettings)>, StorageError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, reach, phone_sealed FROM users ORDER BY id")?;
            let rows = stmt.query_map((), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
            })?;
            rows.map(|row| {
                let (id, reach, phone_sealed) = row?;
                let reach = Reach::parse(&reach)
                    .ok_or_else(|| StorageError::Data(format!("stored reach {reach:?}")))?;
                Ok((id, ReachSettings { reach, phone_sealed }))
            })
            .collect()
        })
        .await
    }

    /// Sets a person's mode and, when `phone` is given, their sealed phone number (`Some(None)`
    /// removes it), and audits it at `now` (`action`, `user.reach`: the mode, and whether a
    /// number is set; never the number). `None` if there is no such person.
    #[tracing::instrument(skip(self, phone))]
    pub async fn set_reach(
        &self,
        id: i64,
        reach: Reach,
        phone: Option<Option<String>>,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<ReachSettings>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(person) = load_person(&tx, "users.id = ?1", id)? else { return Ok(None) };
            tx.prepare_cached("UPDATE users SET reach = ?2 WHERE id = ?1")?
                .execute(params![id, reach.as_str()])?;
            if let Some(phone) = &phone {
                tx.prepare_cached("UPDATE users SET phone_sealed = ?2 WHERE id = ?1")?
                    .execute(params![id, phone])?;
            }
            let phone_sealed: Option<String> = tx
                .prepare_cached("SELECT phone_sealed FROM users WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?;
            let number = match (&phone, &phone_sealed) {
                (Some(Some(_)), _) => "number=changed",
                (Some(None), _) => "number=removed",
                (None, Some(_)) => "number=kept",
                (None, None) => "number=none",
            };
            let more = format!("reach={} {number}", reach.as_str());
            audit_change(&tx, by, action, now, &person, &more)?;
            tx.commit()?;
            Ok(Some(ReachSettings { reach, phone_sealed }))
        })
        .await
    }

    /// Disables or enables a person at `now`, audits it (`action`: `user.disable`,
    /// `user.enable`) and returns them; `None` if there is no such person. Disabling also
    /// revokes all their tokens, so enabling them again does not bring old (possibly leaked)
    /// tokens back. One transaction.
    #[tracing::instrument(skip(self))]
    pub async fn change_disabled(
        &self,
        id: i64,
        disabled: bool,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<Person>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stamp = db_time(now);
            // COALESCE keeps the first disabling's time when disabled twice.
            let changed = if disabled {
                revoke_all(&tx, id, &stamp)?;
                tx.prepare_cached(
                    "UPDATE users SET disabled_at = COALESCE(disabled_at, ?2) WHERE id = ?1",
                )?
                .execute(params![id, stamp])?
            } else {
                tx.prepare_cached("UPDATE users SET disabled_at = NULL WHERE id = ?1")?
                    .execute([id])?
            };
            if changed == 0 {
                return Ok(None);
            }
            let person = load_person(&tx, "users.id = ?1", id)?;
            if let Some(person) = &person {
                audit_change(&tx, by, action, now, person, "")?;
            }
            tx.commit()?;
            Ok(person)
        })
        .await
    }

    /// Stores a new token of a person by its hash ([`crate::domain::people::token_hash`]), made
    /// at `now`, writing no audit line: for seeding and tests. The API and command line use
    /// [`Storage::issue_token`].
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn add_token(
        &self,
        user_id: i64,
        token_hash: String,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |conn| insert_token(conn, user_id, &token_hash, now)).await
    }

    /// Stores a new token of an enabled person by its hash, made at `now`, and audits it
    /// (`action`: `token.issue`); `None` if there is no such person,
    /// [`StorageError::Conflict`] if they are disabled.
    #[tracing::instrument(skip(self, token_hash))]
    pub async fn issue_token(
        &self,
        user_id: i64,
        token_hash: String,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<Person>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(person) = load_person(&tx, "users.id = ?1", user_id)? else {
                return Ok(None);
            };
            if person.disabled {
                return Err(StorageError::Conflict(format!(
                    "{} is disabled: enable them before issuing a token",
                    person.name
                )));
            }
            insert_token(&tx, user_id, &token_hash, now)?;
            audit_change(&tx, by, action, now, &person, "")?;
            tx.commit()?;
            Ok(Some(person))
        })
        .await
    }

    /// Revokes every token of a person at `now` and audits it (`action`: `token.revoke`);
    /// returns them and how many tokens were still valid, or `None` if there is no such
    /// person.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_tokens(
        &self,
        user_id: i64,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<(Person, usize)>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(person) = load_person(&tx, "users.id = ?1", user_id)? else {
                return Ok(None);
            };
            let revoked = revoke_all(&tx, user_id, &db_time(now))?;
            audit_change(&tx, by, action, now, &person, &format!("revoked={revoked}"))?;
            tx.commit()?;
            Ok(Some((person, revoked)))
        })
        .await
    }

    /// The enabled person holding this valid (not revoked) token, looked up by its hash.
    /// One indexed lookup whether or not the token or its person exists.
    #[tracing::instrument(skip_all)]
    pub async fn token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>, StorageError> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| {
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {PERSON_COLUMNS}, api_tokens.id, api_tokens.last_used_at
                     FROM api_tokens JOIN users ON users.id = api_tokens.user_id
                     WHERE api_tokens.token_hash = ?1 AND api_tokens.revoked_at IS NULL
                       AND users.disabled_at IS NULL"
                ))?
                .query_row([token_hash], |row| {
                    let last_used: Option<String> = row.get(6)?;
                    Ok((person_from_row(row), row.get::<_, i64>(5)?, last_used))
                })
                .optional()?;
            let Some((person, token_id, last_used)) = found else { return Ok(None) };
            Ok(Some(TokenOwner {
                person: person?,
                token_id,
                last_used_at: last_used.as_deref().map(decode_time).transpose()?,
            }))
        })
        .await
    }

    /// Notes that a token was used at `at`.
    #[tracing::instrument(skip(self))]
    pub async fn touch_token(&self, token_id: i64, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![token_id, db_time(at)])?;
            Ok(())
        })
        .await
    }

    /// Appends a line to the audit log, timed by its `at`.
    #[tracing::instrument(skip_all, fields(action = %entry.action))]
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), StorageError> {
        self.write(move |conn| insert_audit(conn, &entry)).await
    }

    /// Lines of the audit log matching `filter`, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn audit_log(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StorageError> {
        self.read(move |conn| {
            // Each condition is off when its parameter is NULL, so one cached statement
            // serves every combination.
            let mut statement = conn.prepare_cached(
                "SELECT audit_log.id, audit_log.at, audit_log.actor_id, users.name,
                        audit_log.action, audit_log.case_number, audit_log.detail
                 FROM audit_log LEFT JOIN users ON users.id = audit_log.actor_id
                 WHERE (CAST(?1 AS TEXT) IS NULL OR audit_log.case_number = ?1)
                   AND (CAST(?2 AS BIGINT) IS NULL OR audit_log.actor_id = ?2)
                   AND (CAST(?3 AS TEXT) IS NULL OR audit_log.action = ?3)
                 ORDER BY audit_log.id DESC
                 LIMIT ?4",
            )?;
            let case = filter.case.map(|n| n.to_string());
            let rows = statement.query_map(
                params![case, filter.actor, filter.action, filter.limit],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<i64>>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, String>(6)?,
                    ))
                },
            )?;
            rows.map(|row| {
                let (id, at, actor_id, actor_name, action, case, detail) = row?;
                let case = case
                    .map(|text| {
                        text.parse::<CaseNumber>().map_err(|e| StorageError::Data(e.to_string()))
                    })
                    .transpose()?;
                Ok(AuditRecord {
                    id,
                    at: decode_time(&at)?,
                    actor_id,
                    actor_name,
                    action,
                    case,
                    detail,
                })
            })
            .collect()
        })
        .await
    }
}

/// Inserts a person; a name already taken is [`StorageError::Conflict`].
fn insert_person(
    tx: &Connection,
    new: NewPerson,
    now: DateTime<Utc>,
) -> Result<Person, StorageError> {
    let taken: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)")?
        .query_row([&new.name], |row| row.get(0))?;
    if taken {
        return Err(StorageError::Conflict(format!("a person named {} already exists", new.name)));
    }
    tx.prepare_cached(
        "INSERT INTO users (name, role, languages, password_hash, pin_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        new.name,
        new.role.as_str(),
        join_languages(&new.languages),
        new.password_hash,
        new.pin_hash,
        db_time(now)
    ])?;
    let id = tx.last_insert_rowid()?;
    Ok(Person { id, name: new.name, role: new.role, languages: new.languages, disabled: false })
}

fn insert_token(
    conn: &Connection,
    user_id: i64,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![user_id, token_hash, db_time(now)])?;
    Ok(())
}

pub(super) fn insert_audit(conn: &Connection, entry: &AuditEntry) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor_id, action, case_number, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        db_time(entry.at),
        entry.actor,
        entry.action.code(),
        entry.case.map(|n| n.to_string()),
        entry.detail
    ])?;
    Ok(())
}

/// Appends an audit line timed `at` inside the caller's transaction, for changes audited by
/// other storage modules.
pub(super) fn insert_audit_line(
    conn: &Connection,
    actor: Option<i64>,
    action: AuditAction,
    at: DateTime<Utc>,
    detail: &str,
) -> Result<(), StorageError> {
    let entry = AuditEntry { actor, action, case: None, detail: detail.into(), at };
    insert_audit(conn, &entry)
}

/// The audit line of a change to a person made `at`: `[cli ]user=ID name=NAME[ more]`.
pub(super) fn audit_change(
    conn: &Connection,
    by: ChangedBy,
    action: AuditAction,
    at: DateTime<Utc>,
    person: &Person,
    more: &str,
) -> Result<(), StorageError> {
    let (actor, prefix) = match by {
        ChangedBy::Person(id) => (Some(id), ""),
        ChangedBy::Cli => (None, "cli "),
    };
    let mut detail = format!("{prefix}user={} name={}", person.id, person.name);
    if !more.is_empty() {
        detail = format!("{detail} {more}");
    }
    insert_audit(conn, &AuditEntry { actor, action, case: None, detail, at })
}

fn revoke_all(conn: &Connection, user_id: i64, now: &str) -> Result<usize, StorageError> {
    Ok(conn
        .prepare_cached(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![user_id, now])?)
}

pub(super) fn load_person(
    conn: &Connection,
    condition: &str,
    key: impl super::engine::ToSql,
) -> Result<Option<Person>, StorageError> {
    conn.prepare_cached(&format!("SELECT {PERSON_COLUMNS} FROM users WHERE {condition}"))?
        .query_row([key], |row| Ok(person_from_row(row)))
        .optional()?
        .transpose()
}

/// Reads the [`PERSON_COLUMNS`] of a row. The outer `Result` is SQLite's, the inner one a
/// stored value that does not convert.
pub(super) fn person_from_row(row: &Row<'_>) -> Result<Person, StorageError> {
    let role: String = row.get(2)?;
    let languages: String = row.get(3)?;
    let disabled_at: Option<String> = row.get(4)?;
    Ok(Person {
        id: row.get(0)?,
        name: row.get(1)?,
        role: role.parse().map_err(|_| StorageError::Data(format!("stored role {role:?}")))?,
        languages: languages.split(',').map(decode_language).collect::<Result<_, _>>()?,
        disabled: disabled_at.is_some(),
    })
}

fn join_languages(languages: &[LanguageTag]) -> String {
    languages.iter().map(LanguageTag::as_str).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The time of a change in these tests: the clock is the use cases', not storage's.
    fn now() -> DateTime<Utc> {
        Utc::now()
    }
    use crate::domain::people::{hash_secret, parse_languages, token_hash};
    use crate::storage::StorageOptions;

    async fn open(dir: &tempfile::TempDir) -> Storage {
        Storage::open(&dir.path().join("hotline.db"), StorageOptions::for_tests()).await.unwrap()
    }

    fn new_person(name: &str, role: Role) -> NewPerson {
        NewPerson {
            name: name.into(),
            role,
            languages: parse_languages("ru,uk").unwrap(),
            password_hash: None,
            pin_hash: None,
        }
    }

    #[tokio::test]
    async fn ids_start_at_101_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let anna = storage.add_person(new_person("anna", Role::Operator), now()).await.unwrap();
        let boris = storage.add_person(new_person("boris", Role::Supervisor), now()).await.unwrap();
        assert_eq!((anna.id, boris.id), (101, 102));
        assert_eq!(storage.person(101).await.unwrap(), Some(anna.clone()));
        assert_eq!(storage.person_by_name("boris").await.unwrap(), Some(boris.clone()));
        assert_eq!(storage.person(7).await.unwrap(), None);
        assert_eq!(storage.people().await.unwrap(), vec![anna, boris]);
        let again = storage.add_person(new_person("anna", Role::Operator), now()).await;
        assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    }

    #[tokio::test]
    async fn the_database_refuses_a_bad_name_or_role_written_around_the_checks() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let refused = storage.add_person(new_person("a b", Role::Operator), now()).await;
        assert!(
            matches!(refused, Err(StorageError::Sqlite(_) | StorageError::Postgres(_))),
            "{refused:?}"
        );
        let role = storage
            .write(|conn| {
                Ok(conn.execute(
                    "INSERT INTO users (name, role, languages, created_at) \
                     VALUES ('x', 'admin', 'ru', 'now')",
                    (),
                ))
            })
            .await
            .unwrap();
        assert!(role.is_err());
    }

    #[tokio::test]
    async fn a_disabled_person_has_no_pin_and_no_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let mut new = new_person("anna", Role::Operator);
        new.pin_hash = Some(hash_secret("246810").unwrap());
        let anna = storage.add_person(new, now()).await.unwrap();
        storage.add_token(anna.id, token_hash("t1"), now()).await.unwrap();
        assert!(storage.pin_hash(anna.id).await.unwrap().is_some());
        let owner = storage.token_owner(&token_hash("t1")).await.unwrap().unwrap();
        assert_eq!(owner.person, anna);
        assert_eq!(owner.last_used_at, None);

        let disabled = storage
            .change_disabled(anna.id, true, ChangedBy::Cli, AuditAction::UserDisable, now())
            .await
            .unwrap()
            .unwrap();
        assert!(disabled.disabled);
        assert_eq!(storage.pin_hash(anna.id).await.unwrap(), None);
        assert_eq!(storage.token_owner(&token_hash("t1")).await.unwrap(), None);

        // Enabling does not bring the old token back.
        assert!(
            !storage
                .change_disabled(anna.id, false, ChangedBy::Cli, AuditAction::UserEnable, now())
                .await
                .unwrap()
                .unwrap()
                .disabled
        );
        assert_eq!(storage.token_owner(&token_hash("t1")).await.unwrap(), None);
        assert!(storage.pin_hash(anna.id).await.unwrap().is_some());
        assert_eq!(
            storage
                .change_disabled(999, true, ChangedBy::Cli, AuditAction::UserDisable, now())
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn revoking_ends_every_token_and_touching_notes_the_time() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let anna = storage.add_person(new_person("anna", Role::Operator), now()).await.unwrap();
        storage.add_token(anna.id, token_hash("t1"), now()).await.unwrap();
        storage.add_token(anna.id, token_hash("t2"), now()).await.unwrap();
        let owner = storage.token_owner(&token_hash("t2")).await.unwrap().unwrap();
        let at = DateTime::from_timestamp(1_772_366_400, 0).unwrap();
        storage.touch_token(owner.token_id, at).await.unwrap();
        let owner = storage.token_owner(&token_hash("t2")).await.unwrap().unwrap();
        assert_eq!(owner.last_used_at, Some(at));

        let revoke = || {
            storage.revoke_tokens(
                anna.id,
                ChangedBy::Person(anna.id),
                AuditAction::TokenRevoke,
                now(),
            )
        };
        assert_eq!(revoke().await.unwrap(), Some((anna.clone(), 2)));
        assert_eq!(revoke().await.unwrap(), Some((anna.clone(), 0)));
        assert_eq!(
            storage
                .revoke_tokens(999, ChangedBy::Cli, AuditAction::TokenRevoke, now())
                .await
                .unwrap(),
            None
        );
        assert_eq!(storage.token_owner(&token_hash("t1")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn each_change_to_a_person_is_audited_in_its_own_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let boss = storage.add_person(new_person("boss", Role::Supervisor), now()).await.unwrap();
        let by = ChangedBy::Person(boss.id);

        let anna = storage
            .create_person(new_person("anna", Role::Operator), by, AuditAction::UserAdd, now())
            .await
            .unwrap();
        storage
            .set_pin_hash(anna.id, hash_secret("1").unwrap(), by, AuditAction::UserPinReset, now())
            .await
            .unwrap()
            .unwrap();
        storage
            .issue_token(anna.id, token_hash("t"), by, AuditAction::TokenIssue, now())
            .await
            .unwrap()
            .unwrap();
        storage
            .change_disabled(anna.id, true, ChangedBy::Cli, AuditAction::UserDisable, now())
            .await
            .unwrap()
            .unwrap();
        let refused =
            storage.issue_token(anna.id, token_hash("u"), by, AuditAction::TokenIssue, now()).await;
        assert!(matches!(refused, Err(StorageError::Conflict(_))), "{refused:?}");
        storage
            .change_disabled(anna.id, false, by, AuditAction::UserEnable, now())
            .await
            .unwrap()
            .unwrap();
        storage.revoke_tokens(anna.id, by, AuditAction::TokenRevoke, now()).await.unwrap().unwrap();
        // Nothing happens, and nothing is audited, for someone who does not exist.
        assert_eq!(
            storage
                .issue_token(999, token_hash("v"), by, AuditAction::TokenIssue, now())
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            storage
                .set_pin_hash(999, "h".into(), by, AuditAction::UserPinReset, now())
                .await
                .unwrap(),
            None
        );
        let taken = storage
            .create_person(new_person("anna", Role::Operator), by, AuditAction::UserAdd, now())
            .await;
        assert!(matches!(taken, Err(StorageError::Conflict(_))), "{taken:?}");

        let log = storage.audit_log(AuditFilter { limit: 100, ..AuditFilter::default() }).await;
        let lines: Vec<(Option<i64>, String, String)> =
            log.unwrap().into_iter().rev().map(|r| (r.actor_id, r.action, r.detail)).collect();
        let who = Some(boss.id);
        let about = "user=102 name=anna";
        assert_eq!(
            lines,
            [
                (who, "user.add".into(), format!("{about} role=operator languages=ru,uk")),
                (who, "user.pin-reset".into(), about.into()),
                (who, "token.issue".into(), about.into()),
                (None, "user.disable".into(), format!("cli {about}")),
                (who, "user.enable".into(), about.into()),
                (who, "token.revoke".into(), format!("{about} revoked=0")),
            ]
        );
    }

    #[tokio::test]
    async fn the_audit_log_filters_newest_first_and_cannot_be_changed() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let anna = storage.add_person(new_person("anna", Role::Supervisor), now()).await.unwrap();
        let case = CaseNumber { year: 2026, sequence: 42 };
        for (actor, action, case) in [
            (None, AuditAction::UserAdd, None),
            (Some(anna.id), AuditAction::CaseRead, Some(case)),
            (Some(anna.id), AuditAction::CaseNote, Some(case)),
        ] {
            let entry = AuditEntry { actor, action, case, detail: "d".into(), at: now() };
            storage.audit(entry).await.unwrap();
        }
        let all = storage.audit_log(AuditFilter { limit: 10, ..AuditFilter::default() }).await;
        let actions: Vec<_> = all.unwrap().into_iter().map(|r| r.action).collect();
        assert_eq!(actions, ["case.note", "case.read", "user.add"]);

        let filter = AuditFilter { case: Some(case), limit: 1, ..AuditFilter::default() };
        let newest = storage.audit_log(filter).await.unwrap();
        assert_eq!(newest.len(), 1);
        assert_eq!(newest[0].actor_name.as_deref(), Some("anna"));
        assert_eq!(newest[0].case, Some(case));
        let filter =
            AuditFilter { action: Some("user.add".into()), limit: 9, ..Default::default() };
        assert_eq!(storage.audit_log(filter).await.unwrap()[0].actor_id, None);

        for sql in ["UPDATE audit_log SET detail = 'x'", "DELETE FROM audit_log"] {
            let refused =
                storage.write(move |conn| Ok(conn.execute(sql, ()).map(|_| ()))).await.unwrap();
            let message = refused.unwrap_err().to_string();
            assert!(message.contains("append-only"), "{sql}: {message}");
        }
    }
}
