//! The SQL of what servers sharing one database agree on (`0019_shared_duties.sql`): the
//! leases that put one server on duty at a time (`app/duty.rs` says which work that is), and
//! the data keys' floors that carry a purge's destroyed keys to every server's own copy.

use chrono::{DateTime, Utc};

use super::engine::{Connection, OptionalExtension, params};
use super::sqlite::{db_time, decode_time};
use super::{Storage, StorageError};
use crate::domain::data_keys::{DataClass, DataKeys, Month};

/// Who holds a lease, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The id the holder made at its start.
    pub holder: String,
    /// Since when it holds the lease without a break.
    pub taken_at: DateTime<Utc>,
    /// Until when, unless it renews the lease before.
    pub expires_at: DateTime<Utc>,
}

impl Storage {
    /// Takes the lease `name` for `holder` until `until`, or renews it if `holder` has it,
    /// unless another holder's lease still runs at `now`. Whether `holder` has it now. One
    /// statement: two servers trying at once both reach the row, and the database lets one
    /// of them change it.
    #[tracing::instrument(skip(self))]
    pub async fn hold_lease(
        &self,
        name: &'static str,
        holder: String,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "INSERT INTO leases (name, holder, taken_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO UPDATE SET
                         holder = excluded.holder,
                         taken_at = CASE WHEN leases.holder = excluded.holder
                                         THEN leases.taken_at ELSE excluded.taken_at END,
                         expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= ?3",
                )?
                .execute(params![name, holder, db_time(now), db_time(until)])?;
            Ok(changed == 1)
        })
        .await
    }

    /// Gives the lease `name` up, if `holder` has it: another server may take it at once.
    #[tracing::instrument(skip(self))]
    pub async fn release_lease(
        &self,
        name: &'static str,
        holder: String,
    ) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
                .execute(params![name, holder])?;
            Ok(())
        })
        .await
    }

    /// Who holds the lease `name`, expired or not; `None` if nobody took it or it was given up.
    #[tracing::instrument(skip(self))]
    pub async fn lease_holder(
        &self,
        name: &'static str,
    ) -> Result<Option<LeaseHolder>, StorageError> {
        self.read(move |conn| {
            let row = conn
                .prepare_cached("SELECT holder, taken_at, expires_at FROM leases WHERE name = ?1")?
                .query_row([name], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .optional()?;
            row.map(|(holder, taken_at, expires_at)| {
                Ok(LeaseHolder {
                    holder,
                    taken_at: decode_time(&taken_at)?,
                    expires_at: decode_time(&expires_at)?,
                })
            })
            .transpose()
        })
        .await
    }

    /// Destroys, in this server's copy of the data keys, the months another server's purge
    /// destroyed in its own. Returns the classes that moved, and the month each now starts
    /// at. Nothing moves while the keys are locked.
    #[tracing::instrument(skip(self))]
    pub async fn follow_key_floors(&self) -> Result<Vec<(DataClass, Month)>, StorageError> {
        let floors = self.read(|conn| key_floors(conn)).await?;
        let behind: Vec<(DataClass, Month)> = floors
            .into_iter()
            .filter(|(class, floor)| self.keys().first(*class).is_some_and(|first| first < *floor))
            .collect();
        if behind.is_empty() {
            return Ok(behind);
        }
        // The file is rewritten in place and synced: not work for the runtime's threads.
        let keyring = self.keyring().clone();
        super::blocking(move || {
            for (class, floor) in &behind {
                keyring.destroy_before(*class, *floor)?;
            }
            Ok(behind)
        })
        .await
    }
}

/// Records the first month `keys` keeps in each class, where it is past what the database
/// says: a purge's last step, so that the other servers destroy the same months.
pub(super) fn record_key_floors(conn: &Connection, keys: &DataKeys) -> Result<(), StorageError> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO data_key_floors (class, first_month) VALUES (?1, ?2)
         ON CONFLICT (class) DO UPDATE SET first_month = excluded.first_month
         WHERE excluded.first_month > data_key_floors.first_month",
    )?;
    for class in DataClass::ALL {
        if let Some(first) = keys.first(class) {
            statement.execute(params![class.code().to_string(), first.label()])?;
        }
    }
    Ok(())
}

/// The floors the database holds.
fn key_floors(conn: &Connection) -> Result<Vec<(DataClass, Month)>, StorageError> {
    let mut statement = conn.prepare_cached("SELECT class, first_month FROM data_key_floors")?;
    let rows =
        statement.query_map((), |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
    let mut floors = Vec::new();
    for row in rows {
        let (code, month) = row?;
        let class = DataClass::ALL.into_iter().find(|class| code.starts_with(class.code()));
        match (class, Month::parse(&month)) {
            (Some(class), Some(month)) => floors.push((class, month)),
            _ => return Err(StorageError::Data(format!("stored key floor {code:?} {month:?}"))),
        }
    }
    Ok(floors)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::storage::StorageOptions;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 20, 0, 0).unwrap() + Duration::seconds(secs)
    }

    async fn holds(storage: &Storage, holder: &str, now: i64) -> bool {
        storage.hold_lease("duties", holder.into(), at(now), at(now + 15)).await.unwrap()
    }

    #[tokio::test]
    async fn one_holder_at_a_time_until_its_lease_runs_out_or_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("hotline.db"), StorageOptions::for_tests())
            .await
            .unwrap();
        assert_eq!(storage.lease_holder("duties").await.unwrap(), None);

        assert!(holds(&storage, "a", 0).await, "a free lease is taken");
        assert!(!holds(&storage, "b", 5).await, "held by a until 15");
        assert!(holds(&storage, "a", 10).await, "renewed by its holder");
        assert!(!holds(&storage, "b", 24).await, "a renewed it until 25");
        let held = storage.lease_holder("duties").await.unwrap().unwrap();
        assert_eq!((held.holder.as_str(), held.taken_at, held.expires_at), ("a", at(0), at(25)));

        // a stops renewing: b takes it the moment it runs out, and a cannot take it back.
        assert!(holds(&storage, "b", 25).await);
        assert!(!holds(&storage, "a", 26).await);
        let held = storage.lease_holder("duties").await.unwrap().unwrap();
        assert_eq!((held.holder.as_str(), held.taken_at), ("b", at(25)), "taken anew");

        // Giving up is the holder's alone; then anyone takes it at once.
        storage.release_lease("duties", "a".into()).await.unwrap();
        assert!(!holds(&storage, "a", 27).await, "a could not give up b's lease");
        storage.release_lease("duties", "b".into()).await.unwrap();
        assert_eq!(storage.lease_holder("duties").await.unwrap(), None);
        assert!(holds(&storage, "a", 28).await);
        // Another lease is another row.
        assert!(storage.hold_lease("other", "b".into(), at(28), at(40)).await.unwrap());
    }

    #[tokio::test]
    async fn two_servers_racing_for_a_free_lease_get_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.db");
        // Two storages on one database, as two servers have: two writers.
        let servers = [
            Storage::open(&path, StorageOptions::for_tests()).await.unwrap(),
            Storage::open(&path, StorageOptions::for_tests()).await.unwrap(),
        ];
        for round in 0..20 {
            let name: &'static str = if round % 2 == 0 { "even" } else { "odd" };
            let now = at(round * 100);
            let tries = (0..8).map(|n| {
                let storage = servers[n % 2].clone();
                tokio::spawn(async move {
                    storage
                        .hold_lease(name, format!("s{n}"), now, now + Duration::seconds(15))
                        .await
                })
            });
            let won = futures_util::future::join_all(tries)
                .await
                .into_iter()
                .filter(|result| *result.as_ref().unwrap().as_ref().unwrap())
                .count();
            assert_eq!(won, 1, "round {round}");
        }
    }

    #[tokio::test]
    async fn keys_destroyed_by_another_servers_purge_are_destroyed_here_and_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.db");
        let storage = Storage::open(&path, StorageOptions::for_tests()).await.unwrap();
        let first = storage.keys().first(DataClass::Notes).unwrap();
        assert_eq!(storage.follow_key_floors().await.unwrap(), vec![], "no purge yet");

        // Another server's purge destroyed notes' keys before first + 3 months, and said so.
        let floor = first.next().next().next();
        let label = floor.label();
        storage
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO data_key_floors (class, first_month) VALUES ('n', ?1)",
                    [label.as_str()],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(storage.follow_key_floors().await.unwrap(), vec![(DataClass::Notes, floor)]);
        assert_eq!(storage.keys().first(DataClass::Notes), Some(floor));
        assert_eq!(storage.follow_key_floors().await.unwrap(), vec![], "once");
        let recordings = storage.keys().first(DataClass::Recordings);
        drop(storage);
        let reopened = Storage::open(&path, StorageOptions::for_tests()).await.unwrap();
        assert_eq!(reopened.keys().first(DataClass::Notes), Some(floor), "the file moved too");
        assert_eq!(reopened.keys().first(DataClass::Recordings), recordings, "only notes");

        // This server's purge records its own floors; an older one never moves them back.
        let keys = reopened.shared_keys();
        reopened.keys().destroy_before(DataClass::Recordings, floor.next());
        let behind = floor.label();
        let floors = reopened
            .write(move |conn| {
                record_key_floors(conn, &keys)?;
                conn.execute(
                    "INSERT INTO data_key_floors (class, first_month) VALUES ('r', ?1)
                     ON CONFLICT (class) DO UPDATE SET first_month = excluded.first_month
                     WHERE excluded.first_month > data_key_floors.first_month",
                    [behind.as_str()],
                )?;
                key_floors(conn)
            })
            .await
            .unwrap();
        assert!(floors.contains(&(DataClass::Recordings, floor.next())), "{floors:?}");
        assert!(floors.contains(&(DataClass::Notes, floor)), "{floors:?}");
    }

    #[tokio::test]
    async fn a_floor_that_is_not_a_class_and_month_is_refused_by_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("hotline.db"), StorageOptions::for_tests())
            .await
            .unwrap();
        for (class, month) in [("x", "202601"), ("n", "2026-01"), ("", "202601"), ("n", "")] {
            let refused = storage
                .write(move |conn| {
                    conn.execute(
                        "INSERT INTO data_key_floors (class, first_month) VALUES (?1, ?2)",
                        [class, month],
                    )?;
                    Ok(())
                })
                .await;
            assert!(refused.is_err(), "{class:?} {month:?}");
        }
        let long = "h".repeat(200);
        let refused = storage.hold_lease("duties", long, at(0), at(15)).await;
        assert!(refused.is_err(), "a holder of 200 characters");
    }
}
