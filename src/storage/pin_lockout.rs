//! The operator line's count of PINs tried, and the locks it leads to (tables of
//! `0010_pin_lockout.sql`; the policy and its reasons are in [`crate::domain::lockout`]).
//!
//! An attempt is written before its PIN is checked ([`Storage::begin_pin_attempt`]), in the
//! same transaction that decides whether its keys are locked, so calls arriving together are
//! counted one after the other by the single writer and cannot all slip in under the limit.
//! Its outcome then either removes it ([`Storage::pin_accepted`]) or keeps it as a failure and
//! locks what reached the limit ([`Storage::pin_refused`]). Locks and unlocks are audited in
//! their own transaction.

use super::engine::{Connection, OptionalExtension, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::StorageError;
use super::people::{audit_change, insert_audit_line, load_person};
use super::sqlite::{Storage, db_time, decode_time};
use crate::domain::audit::AuditAction;
use crate::domain::lockout::{LockedKey, PinLock, PinPolicy, REMEMBERED, WITHHELD};
use crate::domain::people::Person;
use crate::storage::ChangedBy;

/// One PIN being tried: its row, and whether its ID or number is locked (then it is refused
/// whatever the PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinAttempt {
    /// Its row in `pin_failures`.
    pub id: i64,
    /// The operator ID or the calling number is locked, or reached the limit already.
    pub locked: bool,
}

/// Deletes failures and ended locks older than a day: they no longer count, and they hold
/// caller hashes. Run by every attempt and by the retention purge, so a line nobody dials
/// into keeps none either.
pub(super) fn forget_old_attempts(
    conn: &Connection,
    now: DateTime<Utc>,
) -> super::engine::Result<()> {
    let forgotten = db_time(now - REMEMBERED);
    conn.prepare_cached("DELETE FROM pin_failures WHERE at < ?1")?.execute([&forgotten])?;
    conn.prepare_cached(
        "DELETE FROM pin_lockouts
         WHERE coalesce(locked_until, '') < ?1 AND coalesce(cleared_at, '') < ?1",
    )?
    .execute([&forgotten])?;
    Ok(())
}

/// The two keys an attempt is counted under.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    Operator(i64),
    Number(&'a str),
}

impl Key<'_> {
    /// Its column in both tables.
    fn column(self) -> &'static str {
        match self {
            Key::Operator(_) => "operator_id",
            Key::Number(_) => "caller_hash",
        }
    }

    fn value(self) -> super::engine::Value {
        match self {
            Key::Operator(id) => id.into(),
            Key::Number(hash) => hash.to_owned().into(),
        }
    }
}

/// The audit actions of a refused PIN, chosen by the caller: which is written depends on what
/// the transaction finds, so each is given.
#[derive(Debug, Clone, Copy)]
pub struct RefusalAudit {
    /// Written for each ID or number the refusal locks.
    pub locked: AuditAction,
    /// Given when the PIN was right (it was refused for a lock): written if the attempt was
    /// locked out.
    pub locked_out: Option<AuditAction>,
}

impl Storage {
    /// Counts one PIN tried for operator ID `operator` (as typed) from the number `caller`
    /// ([`crate::domain::lockout::number_key`]), before it is checked, and says whether it is
    /// locked out: by a lock, or because its ID or number reached `policy.failures` already.
    /// Also forgets failures and ended locks older than a day.
    #[tracing::instrument(skip(self, caller, policy))]
    pub async fn begin_pin_attempt(
        &self,
        operator: i64,
        caller: String,
        policy: PinPolicy,
        now: DateTime<Utc>,
    ) -> Result<PinAttempt, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            forget_old_attempts(&tx, now)?;
            let mut locked = false;
            for key in [Key::Operator(operator), Key::Number(&caller)] {
                locked |= is_locked(&tx, key, now)?
                    || failures(&tx, key, policy, now)? >= policy.failures;
            }
            tx.prepare_cached(
                "INSERT INTO pin_failures (operator_id, caller_hash, at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![operator, caller, db_time(now)])?;
            let id = tx.last_insert_rowid()?;
            tx.commit()?;
            Ok(PinAttempt { id, locked })
        })
        .await
    }

    /// Keeps `attempt` as a failure and locks its ID or number if either reached
    /// `policy.failures` while not locked; returns the new locks, each audited as
    /// `audit.locked`. `audit.locked_out` is given when the PIN was right: if the attempt was
    /// locked out it is audited so, for a supervisor to see who is kept out.
    #[tracing::instrument(skip(self, caller, policy))]
    pub async fn pin_refused(
        &self,
        attempt: PinAttempt,
        operator: i64,
        caller: String,
        policy: PinPolicy,
        audit: RefusalAudit,
        now: DateTime<Utc>,
    ) -> Result<Vec<PinLock>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut locks = Vec::new();
            for key in [Key::Operator(operator), Key::Number(&caller)] {
                if is_locked(&tx, key, now)? {
                    continue;
                }
                let failed = failures(&tx, key, policy, now)?;
                if failed >= policy.failures {
                    let lock = place_lock(&tx, key, policy, now)?;
                    let detail = lock_detail(&lock, operator, failed, policy);
                    insert_audit_line(&tx, None, audit.locked, now, &detail)?;
                    locks.push(lock);
                }
            }
            if let Some(locked_out) = audit.locked_out
                && attempt.locked
            {
                let detail = format!(
                    "the right PIN for operator ID {operator} was refused: the ID or the \
                     calling number is locked"
                );
                let person = load_person(&tx, "users.id = ?1", operator)?.map(|p| p.id);
                insert_audit_line(&tx, person, locked_out, now, &detail)?;
            }
            tx.commit()?;
            Ok(locks)
        })
        .await
    }

    /// Takes back `attempt` when its PIN could not be checked (every password check was busy):
    /// nothing was learnt from it, so it must not count towards a lock of the operator who is
    /// asked to type it again.
    #[tracing::instrument(skip(self))]
    pub async fn withdraw_pin_attempt(&self, attempt: PinAttempt) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM pin_failures WHERE id = ?1")?.execute([attempt.id])?;
            Ok(())
        })
        .await
    }

    /// The PIN of `attempt` was right and nothing was locked: removes it, and starts the
    /// count and the doubling of the operator ID and of the number it came from afresh (an
    /// operator who mistypes on their own phone is not locked out by yesterday's mistakes). Returns how many PINs had failed for
    /// this ID since its last sign-in (within a day; an unlock does not reset this), for the
    /// sign-in's audit line.
    #[tracing::instrument(skip(self, caller))]
    pub async fn pin_accepted(
        &self,
        attempt: PinAttempt,
        operator: i64,
        caller: String,
        now: DateTime<Utc>,
    ) -> Result<u32, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("DELETE FROM pin_failures WHERE id = ?1")?.execute([attempt.id])?;
            let failed: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM pin_failures
                     WHERE operator_id = ?1 AND at > ?2 AND at > coalesce(
                         (SELECT signed_in_at FROM pin_lockouts WHERE operator_id = ?1), '')",
                )?
                .query_row(params![operator, db_time(now - REMEMBERED)], |row| row.get(0))?;
            clear(&tx, Key::Operator(operator), now)?;
            clear(&tx, Key::Number(&caller), now)?;
            tx.prepare_cached("UPDATE pin_lockouts SET signed_in_at = ?2 WHERE operator_id = ?1")?
                .execute(params![operator, db_time(now)])?;
            tx.commit()?;
            Ok(u32::try_from(failed).unwrap_or(u32::MAX))
        })
        .await
    }

    /// Lifts the lock on a person's operator ID and on the numbers that failed on it in the
    /// last day, and starts their counts afresh; audited as `action` (whether anything was
    /// locked). Returns the person and whether anything was locked; `None` if there is no
    /// such person.
    #[tracing::instrument(skip(self))]
    pub async fn unlock_pin(
        &self,
        id: i64,
        by: ChangedBy,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<(Person, bool)>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(person) = load_person(&tx, "users.id = ?1", id)? else { return Ok(None) };
            let numbers: Vec<String> = tx
                .prepare_cached(
                    "SELECT DISTINCT caller_hash FROM pin_failures WHERE operator_id = ?1 AND at >= ?2",
                )?
                .query_map(params![id, db_time(now - REMEMBERED)], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut id_locked = is_locked(&tx, Key::Operator(id), now)?;
            clear(&tx, Key::Operator(id), now)?;
            let mut numbers_locked = 0;
            for number in &numbers {
                if is_locked(&tx, Key::Number(number), now)? {
                    numbers_locked += 1;
                }
                clear(&tx, Key::Number(number), now)?;
            }
            id_locked |= numbers_locked > 0;
            let more = format!(
                "was {} numbers={numbers_locked}",
                if id_locked { "locked" } else { "not locked" }
            );
            audit_change(&tx, by, action, now, &person, &more)?;
            tx.commit()?;
            Ok(Some((person, id_locked)))
        })
        .await
    }

    /// The locks in force at `now`, those ending first first.
    #[tracing::instrument(skip(self))]
    pub async fn pin_locks(&self, now: DateTime<Utc>) -> Result<Vec<PinLock>, StorageError> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT pin_lockouts.operator_id, users.name, pin_lockouts.caller_hash,
                        pin_lockouts.locks, pin_lockouts.locked_until
                 FROM pin_lockouts LEFT JOIN users ON users.id = pin_lockouts.operator_id
                 WHERE pin_lockouts.locked_until > ?1
                 ORDER BY pin_lockouts.locked_until",
            )?;
            let rows = statement.query_map([db_time(now)], |row| {
                Ok((
                    row.get::<_, Option<i64>>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (operator, name, caller, locks, until) = row?;
                let key = match (operator, caller) {
                    (Some(id), _) => LockedKey::Operator { id, name },
                    (None, Some(hash)) if hash == WITHHELD => LockedKey::WithheldNumbers,
                    (None, _) => LockedKey::Number,
                };
                Ok(PinLock {
                    key,
                    locks: u32::try_from(locks).unwrap_or(u32::MAX),
                    until: decode_time(&until)?,
                })
            })
            .collect()
        })
        .await
    }
}

/// Whether `key` is under a lock at `now`.
fn is_locked(conn: &Connection, key: Key<'_>, now: DateTime<Utc>) -> Result<bool, StorageError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM pin_lockouts WHERE {} = ?1 AND locked_until > ?2)",
        key.column()
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![key.value(), db_time(now)], |row| row.get(0))?)
}

/// The failures of `key` that count at `now`: within the window, and since its last lock
/// ended and its last clearing.
fn failures(
    conn: &Connection,
    key: Key<'_>,
    policy: PinPolicy,
    now: DateTime<Utc>,
) -> Result<u32, StorageError> {
    let column = key.column();
    let sql = format!(
        "SELECT count(*) FROM pin_failures
         WHERE {column} = ?1 AND at > ?2
           AND at > coalesce((SELECT locked_until FROM pin_lockouts WHERE {column} = ?1), '')
           AND at > coalesce((SELECT cleared_at FROM pin_lockouts WHERE {column} = ?1), '')"
    );
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params![key.value(), db_time(now - policy.window)], |row| row.get(0))?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Locks `key` from `now`: the next lock in a row if the last one ended within a day, else a
/// first one.
fn place_lock(
    conn: &Connection,
    key: Key<'_>,
    policy: PinPolicy,
    now: DateTime<Utc>,
) -> Result<PinLock, StorageError> {
    let column = key.column();
    let before: Option<(i64, Option<String>)> = conn
        .prepare_cached(&format!(
            "SELECT locks, locked_until FROM pin_lockouts WHERE {column} = ?1"
        ))?
        .query_row([key.value()], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let remembered = db_time(now - REMEMBERED);
    let nth = match before {
        Some((locks, Some(until))) if until >= remembered => {
            u32::try_from(locks).unwrap_or(u32::MAX).saturating_add(1)
        }
        _ => 1,
    };
    let until = now + policy.lock_length(nth);
    conn.prepare_cached(&format!(
        "INSERT INTO pin_lockouts ({column}, locks, locked_at, locked_until) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT ({column}) DO UPDATE SET locks = ?2, locked_at = ?3, locked_until = ?4"
    ))?
    .execute(params![key.value(), nth, db_time(now), db_time(until)])?;
    let key = match key {
        Key::Operator(id) => LockedKey::Operator { id, name: None },
        Key::Number(WITHHELD) => LockedKey::WithheldNumbers,
        Key::Number(_) => LockedKey::Number,
    };
    Ok(PinLock { key, locks: nth, until })
}

/// Ends any lock of `key` now and starts its count and doubling afresh.
fn clear(conn: &Connection, key: Key<'_>, now: DateTime<Utc>) -> Result<(), StorageError> {
    let column = key.column();
    conn.prepare_cached(&format!(
        "INSERT INTO pin_lockouts ({column}, locks, cleared_at) VALUES (?1, 0, ?2)
         ON CONFLICT ({column}) DO UPDATE SET locks = 0, cleared_at = ?2,
             locked_until = CASE WHEN pin_lockouts.locked_until > ?2 THEN ?2
                                 ELSE pin_lockouts.locked_until END"
    ))?
    .execute(params![key.value(), db_time(now)])?;
    Ok(())
}

/// The audit line of a new lock: what, how long, after how many failures. Never a number.
fn lock_detail(lock: &PinLock, operator: i64, failed: u32, policy: PinPolicy) -> String {
    let what = match &lock.key {
        LockedKey::Operator { id, .. } => format!("operator ID {id}"),
        LockedKey::Number => format!("a calling number (last tried operator ID {operator})"),
        LockedKey::WithheldNumbers => {
            format!("withheld numbers (last tried operator ID {operator})")
        }
    };
    format!(
        "{what} locked for {} min (lock {} in a row) after {failed} wrong PINs in {} min",
        policy.lock_length(lock.locks).num_minutes(),
        lock.locks,
        policy.window.num_minutes()
    )
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::people::{Role, parse_languages};
    use crate::storage::{NewPerson, StorageOptions};

    const WRONG_PIN: RefusalAudit =
        RefusalAudit { locked: AuditAction::DialInLocked, locked_out: None };

    async fn open(dir: &tempfile::TempDir) -> Storage {
        Storage::open(&dir.path().join("hotline.db"), StorageOptions::for_tests()).await.unwrap()
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    /// `count` refused attempts on `operator` from `number`, at `when`.
    async fn fail(storage: &Storage, operator: i64, number: &str, count: u32, when: i64) {
        let policy = PinPolicy::default();
        for _ in 0..count {
            let tried =
                storage.begin_pin_attempt(operator, number.into(), policy, at(when)).await.unwrap();
            storage
                .pin_refused(tried, operator, number.into(), policy, WRONG_PIN, at(when))
                .await
                .unwrap();
        }
    }

    async fn locked(storage: &Storage, operator: i64, number: &str, when: i64) -> bool {
        let policy = PinPolicy::default();
        let tried =
            storage.begin_pin_attempt(operator, number.into(), policy, at(when)).await.unwrap();
        storage.pin_accepted(tried, operator, number.into(), at(when)).await.unwrap();
        tried.locked
    }

    #[tokio::test]
    async fn attempts_begun_together_are_counted_before_any_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let policy = PinPolicy::default();
        // Six calls type a PIN at the same moment: the sixth is locked out before any of the
        // first five is checked.
        let mut tried = Vec::new();
        for n in 0..6 {
            let number = format!("{n:064}");
            tried.push(storage.begin_pin_attempt(101, number, policy, at(0)).await.unwrap());
        }
        let locked: Vec<bool> = tried.iter().map(|t| t.locked).collect();
        assert_eq!(locked, [false, false, false, false, false, true]);
        let locks = storage
            .pin_refused(tried[5], 101, "5".repeat(64), policy, WRONG_PIN, at(0))
            .await
            .unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].key, LockedKey::Operator { id: 101, name: None });
        assert_eq!(storage.pin_locks(at(1)).await.unwrap(), locks);
    }

    #[tokio::test]
    async fn locks_double_in_a_row_and_are_forgotten_after_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let number = "withheld";
        fail(&storage, 7, number, 5, 0).await;
        let first = storage.pin_locks(at(0)).await.unwrap();
        assert_eq!(first.len(), 2, "the ID and the withheld numbers: {first:?}");
        assert!(first.iter().all(|l| l.locks == 1 && l.until == at(15)));
        assert!(first.iter().any(|l| l.key == LockedKey::WithheldNumbers));
        // Attempts during the lock do not count towards the next one.
        fail(&storage, 7, number, 10, 5).await;
        assert!(storage.pin_locks(at(15)).await.unwrap().is_empty());
        fail(&storage, 7, number, 4, 16).await;
        assert!(storage.pin_locks(at(16)).await.unwrap().is_empty());
        fail(&storage, 7, number, 1, 17).await;
        let second = storage.pin_locks(at(17)).await.unwrap();
        assert!(second.iter().all(|l| l.locks == 2 && l.until == at(17 + 30)), "{second:?}");
        // Failures outside the window do not add up.
        fail(&storage, 8, "a".repeat(64).as_str(), 4, 0).await;
        fail(&storage, 8, "b".repeat(64).as_str(), 1, 16).await;
        assert!(
            !storage
                .pin_locks(at(16))
                .await
                .unwrap()
                .iter()
                .any(|l| l.key == LockedKey::Operator { id: 8, name: None })
        );
        // A day after the second lock ended, a lock is a first one again.
        let later = 17 + 30 + 24 * 60 + 1;
        fail(&storage, 7, number, 5, later).await;
        let again = storage.pin_locks(at(later)).await.unwrap();
        assert!(again.iter().all(|l| l.locks == 1), "{again:?}");
    }

    #[tokio::test]
    async fn a_locked_number_stays_locked_across_a_rotation_of_the_caller_hash_key() {
        use crate::domain::lockout::number_key;
        use crate::domain::secret::{CallerHasher, Secret};
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let (old_key, new_key) = ("old-caller-hash-key-0123456789", "new-caller-hash-key-987654");
        let old = CallerHasher::new(Secret::new(old_key.into()));
        let number = "+380501234567";
        let before = number_key(old.hash(number));
        for operator in 1..=5 {
            fail(&storage, operator, &before, 1, 0).await;
        }
        fail(&storage, 6, WITHHELD, 5, 0).await;
        storage
            .rotate_caller_hash_key(&old, Secret::new(new_key.into()), Utc::now())
            .await
            .unwrap();
        let chain = CallerHasher::new(Secret::new(format!("{old_key}\n{new_key}")));
        let after = number_key(chain.hash(number));
        assert_ne!(before, after);
        assert!(locked(&storage, 9, &after, 1).await, "the wrapped hash keeps its lock");
        assert!(locked(&storage, 10, WITHHELD, 1).await, "withheld numbers stay one key");
    }

    #[tokio::test]
    async fn a_sign_in_starts_the_count_afresh_and_an_unlock_lifts_the_id_and_its_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let new = NewPerson {
            name: "anna".into(),
            role: Role::Operator,
            languages: parse_languages("ru").unwrap(),
            password_hash: None,
            pin_hash: None,
        };
        let anna = storage.add_person(new, Utc::now()).await.unwrap();
        let own = "c".repeat(64);
        fail(&storage, anna.id, &own, 4, 0).await;
        assert!(!locked(&storage, anna.id, &own, 1).await, "a sign-in after four mistakes");
        fail(&storage, anna.id, &own, 4, 2).await;
        assert!(!locked(&storage, anna.id, &own, 3).await, "the count started again");

        fail(&storage, anna.id, &own, 5, 4).await;
        let locks = storage.pin_locks(at(4)).await.unwrap();
        assert_eq!(locks.len(), 2, "her ID and her own number: {locks:?}");
        assert_eq!(locks[0].key, LockedKey::Operator { id: anna.id, name: Some("anna".into()) });
        let (person, was_locked) = storage
            .unlock_pin(anna.id, ChangedBy::Cli, AuditAction::DialInUnlock, at(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((person.id, was_locked), (anna.id, true));
        assert!(storage.pin_locks(at(5)).await.unwrap().is_empty());
        assert!(!locked(&storage, anna.id, &own, 6).await);
        let (_, was_locked) = storage
            .unlock_pin(anna.id, ChangedBy::Cli, AuditAction::DialInUnlock, at(7))
            .await
            .unwrap()
            .unwrap();
        assert!(!was_locked);
        assert_eq!(
            storage
                .unlock_pin(999, ChangedBy::Cli, AuditAction::DialInUnlock, at(7))
                .await
                .unwrap(),
            None
        );
    }

    /// Rows in the two tables.
    async fn rows(storage: &Storage) -> (i64, i64) {
        let read = storage.read(|conn| {
            let count = |table: &str| -> crate::storage::engine::Result<i64> {
                conn.query_row(&format!("SELECT count(*) FROM {table}"), (), |r| r.get(0))
            };
            Ok((count("pin_failures")?, count("pin_lockouts")?))
        });
        read.await.unwrap()
    }

    #[tokio::test]
    async fn the_retention_purge_forgets_attempts_and_locks_of_a_line_nobody_dials_into() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(&dir).await;
        let number = "d".repeat(64);
        fail(&storage, 101, &number, 5, 0).await;
        assert_eq!(rows(&storage).await, (5, 2), "five failures, two locks");
        let policy = crate::domain::retention::RetentionPolicy {
            recordings: Duration::days(90),
            notes: Duration::days(365),
            caller_hashes: Duration::days(365),
        };
        // Within the day they still count; a day after the lock ended they are gone.
        storage.purge(policy, at(60), false).await.unwrap();
        assert_eq!(rows(&storage).await, (5, 2));
        storage.purge(policy, at(15 + 24 * 60 + 1), false).await.unwrap();
        assert_eq!(rows(&storage).await, (0, 0));
    }
}
