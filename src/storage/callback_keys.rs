//! The SQL of changing the callback-number key: every sealed number re-sealed under the new
//! key in one transaction (see `hotline keys rotate-callback`).

use rusqlite::{TransactionBehavior, params};

use super::{Storage, StorageError};
use crate::domain::cases::CallSid;
use crate::domain::followups::Sealer;

impl Storage {
    /// Opens every stored callback number with `current` and seals it again with `next`, in
    /// one transaction, then empties the WAL so the file keeps no old sealed value. Returns
    /// how many were re-sealed. If any does not open with `current` (it is not the key they
    /// were sealed under), nothing is changed: [`StorageError::Conflict`].
    #[tracing::instrument(skip_all)]
    pub async fn reseal_callback_numbers(
        &self,
        current: Sealer,
        next: Sealer,
    ) -> Result<u64, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows: Vec<(i64, String, String)> = tx
                .prepare(
                    "SELECT f.id, c.call_sid, f.number_sealed FROM follow_ups f
                     JOIN cases c ON c.id = f.case_id
                     WHERE f.number_sealed IS NOT NULL",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut update =
                tx.prepare("UPDATE follow_ups SET number_sealed = ?2 WHERE id = ?1")?;
            for (id, sid, sealed) in &rows {
                let conflict = || {
                    StorageError::Conflict(format!(
                        "follow-up {id}'s callback number does not open with the current key; \
                         is HOTLINE_CALLBACK_KEY the key the numbers were sealed under? \
                         Nothing was changed"
                    ))
                };
                let call = CallSid::parse(sid).ok_or_else(conflict)?;
                let number = current.open(sealed, &call).ok_or_else(conflict)?;
                let resealed = next.seal(&number, &call).ok_or_else(|| {
                    StorageError::Data(
                        "the system's random source failed; nothing was changed".into(),
                    )
                })?;
                update.execute(params![id, resealed])?;
            }
            drop(update);
            tx.commit()?;
            // The old sealed values are in freed space (zeroed by secure_delete) and in the
            // WAL's older frames: empty it, so the file holds only the new ones.
            super::retention::checkpoint_truncate(conn)?;
            Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
        })
        .await
    }
}
