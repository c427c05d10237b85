//! The SQL of the caller-hash key: its fingerprint, checked at every start, and the rotation
//! that wraps every stored hash under a new key (see [`crate::domain::secret::CallerHasher`]).

use super::engine::{OptionalExtension, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::sqlite::db_time;
use super::{Storage, StorageError};
use crate::domain::cases::CallerHash;
use crate::domain::secret::{CallerHasher, Secret};

/// How the key chain in use compares with the one the stored hashes were made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// The same chain.
    Matches,
    /// The database had no fingerprint yet; this chain's is now recorded.
    Recorded,
    /// Another chain: the database's has this many keys.
    Differs {
        /// Keys in the chain the database was hashed under.
        stored_keys: u32,
    },
}

impl Storage {
    /// Compares `hasher`'s chain with the database's, recording it if there is none yet.
    #[tracing::instrument(skip_all)]
    pub async fn check_caller_hash_key(
        &self,
        hasher: &CallerHasher,
        now: DateTime<Utc>,
    ) -> Result<KeyCheck, StorageError> {
        let fingerprint = hasher.fingerprint();
        let keys = u32::try_from(hasher.keys()).unwrap_or(u32::MAX);
        // Read first: once the chain is recorded, a start needs no write, so it can go ahead
        // while another program holds the write lock (records then go to the journal).
        let expected = fingerprint.0.clone();
        let stored = self
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT fingerprint, keys FROM caller_hash_key WHERE id = 1")?
                    .query_row((), |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?)))
                    .optional()?)
            })
            .await?;
        match stored {
            Some((stored, _)) if stored == expected => return Ok(KeyCheck::Matches),
            Some((_, stored_keys)) => return Ok(KeyCheck::Differs { stored_keys }),
            None => {}
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored: Option<(String, u32)> = tx
                .prepare_cached("SELECT fingerprint, keys FROM caller_hash_key WHERE id = 1")?
                .query_row((), |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let check = match stored {
                Some((stored, _)) if stored == fingerprint.0 => KeyCheck::Matches,
                Some((_, stored_keys)) => KeyCheck::Differs { stored_keys },
                None => {
                    tx.prepare_cached(
                        "INSERT INTO caller_hash_key (id, fingerprint, keys, set_at)
                         VALUES (1, ?1, ?2, ?3)",
                    )?
                    .execute(params![fingerprint.0, keys, db_time(now)])?;
                    KeyCheck::Recorded
                }
            };
            tx.commit()?;
            Ok(check)
        })
        .await
    }

    /// Wraps every stored caller hash (cases and blocklist) and the fingerprint under `next`,
    /// in one transaction, after checking that they were made under `current`. Returns how
    /// many hashes were wrapped; [`StorageError::Conflict`] if `current` is not the chain of
    /// the database.
    #[tracing::instrument(skip_all)]
    pub async fn rotate_caller_hash_key(
        &self,
        current: &CallerHasher,
        next: Secret,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let fingerprint = current.fingerprint();
        let keys = u32::try_from(current.keys() + 1).unwrap_or(u32::MAX);
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored: Option<String> = tx
                .prepare_cached("SELECT fingerprint FROM caller_hash_key WHERE id = 1")?
                .query_row((), |row| row.get(0))
                .optional()?;
            if stored.as_ref().is_some_and(|stored| *stored != fingerprint.0) {
                return Err(StorageError::Conflict(
                    "the current caller-hash key is not the one this database's hashes were \
                     made under; nothing was changed"
                        .into(),
                ));
            }
            let wrap = |hash: String| CallerHasher::wrap(&CallerHash(hash), &next).0;
            let mut wrapped = 0u64;
            // The operator line's counts of wrong PINs (0010) keep withheld numbers under a
            // word, not a hash: that one stays as it is.
            for table in ["cases", "blocklist", "pin_failures", "pin_lockouts"] {
                let rows: Vec<(i64, String)> = tx
                    .prepare(&format!(
                        "SELECT id, caller_hash FROM {table}
                         WHERE caller_hash IS NOT NULL AND caller_hash <> 'withheld'"
                    ))?
                    .query_map((), |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                let mut update =
                    tx.prepare(&format!("UPDATE {table} SET caller_hash = ?2 WHERE id = ?1"))?;
                for (id, hash) in rows {
                    update.execute(params![id, wrap(hash)])?;
                    wrapped += 1;
                }
            }
            tx.prepare_cached(
                "INSERT INTO caller_hash_key (id, fingerprint, keys, set_at) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET fingerprint = ?1, keys = ?2, set_at = ?3",
            )?
            .execute(params![wrap(fingerprint.0), keys, db_time(now)])?;
            tx.commit()?;
            // The old hashes are in freed space (zeroed by secure_delete) and in the WAL's
            // older frames: empty it, so the file holds only the wrapped ones.
            super::retention::checkpoint_truncate(conn)?;
            Ok(wrapped)
        })
        .await
    }
}
