//! The SQL of changing the callback-number key: every sealed number replaced in one
//! transaction by its re-sealing under the new key, which the use case does (see `hotline
//! keys rotate-callback`).

use super::engine::{TransactionBehavior, params};

use super::{Storage, StorageError, sealing};
use crate::domain::cases::CallSid;
use crate::domain::data_keys::label_of;
use crate::domain::secret::Secret;

impl Storage {
    /// Replaces every stored callback number by what `reseal` makes of it, and every
    /// operator's phone number (call-me mode, sealed under the same key) by what
    /// `reseal_phone` makes of it (the use case opens each with the current key and seals it
    /// with the next; storage never opens one), in one transaction, then empties the WAL so the file keeps no old sealed value. Returns how
    /// many were re-sealed. If `reseal` fails for any, nothing is changed and its error is
    /// returned.
    #[tracing::instrument(skip_all)]
    pub async fn reseal_callback_numbers(
        &self,
        mut reseal: impl FnMut(i64, &str, &CallSid) -> Result<String, StorageError> + Send + 'static,
        mut reseal_phone: impl FnMut(i64, &str) -> Result<String, StorageError> + Send + 'static,
    ) -> Result<u64, StorageError> {
        let keys = self.shared_keys();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows: Vec<(i64, String, String)> = tx
                .prepare(
                    "SELECT f.id, c.call_sid, f.number_sealed FROM follow_ups f
                     JOIN cases c ON c.id = f.case_id
                     WHERE f.number_sealed IS NOT NULL",
                )?
                .query_map((), |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut update =
                tx.prepare("UPDATE follow_ups SET number_sealed = ?2 WHERE id = ?1")?;
            for (id, sid, stored) in &rows {
                let call = CallSid::parse(sid).ok_or_else(|| {
                    StorageError::Data(format!("follow-up {id}'s case has no valid call id"))
                })?;
                // Under the data key of its month (sealing.rs), the number sealed under the
                // callback key: that inner layer changes, the outer is made again in its month.
                // Its class too: a held case's number is sealed as held.
                let Some((class, month)) = label_of(stored) else {
                    return Err(StorageError::Data(format!(
                        "follow-up {id}'s number is not sealed under a data key"
                    )));
                };
                // A number whose month's key is gone is shredded: nothing to re-seal.
                let Some(sealed) = sealing::open(&keys, stored) else { continue };
                let resealed = keys.seal_in(class, month, &reseal(*id, &sealed, &call)?)?;
                update.execute(params![id, resealed])?;
            }
            drop(update);
            let phones: Vec<(i64, String)> = tx
                .prepare("SELECT id, phone_sealed FROM users WHERE phone_sealed IS NOT NULL")?
                .query_map((), |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut update = tx.prepare("UPDATE users SET phone_sealed = ?2 WHERE id = ?1")?;
            for (id, sealed) in &phones {
                update.execute(params![id, reseal_phone(*id, sealed)?])?;
            }
            drop(update);
            tx.commit()?;
            // The old sealed values are in freed space (zeroed by secure_delete) and in the
            // WAL's older frames: empty it, so the file holds only the new ones.
            super::retention::checkpoint_truncate(conn)?;
            Ok(u64::try_from(rows.len() + phones.len()).unwrap_or(u64::MAX))
        })
        .await
    }

    /// Wraps the data keys (`keyring.rs`) under `next`, the new callback key.
    #[tracing::instrument(skip_all)]
    pub async fn rewrap_data_keys(&self, next: Secret) -> Result<(), StorageError> {
        let keyring = self.keyring().clone();
        super::blocking(move || keyring.rewrap(&next)).await
    }
}
