//! The database schema's versions: the SQL files of `db/migrations/`, compiled into the binary
//! and applied in order at start.
//!
//! The version a database is at is its `PRAGMA user_version` (0 for a new file). Migration
//! *n* brings it from *n − 1* to *n* in one transaction together with the new user_version, so
//! a crash or an error leaves it at a version it really has. A database at a version newer
//! than this build knows is refused: this build cannot know what the newer one changed.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StorageError;

/// One schema change.
struct Migration {
    /// Its file name in `db/migrations/`, for messages.
    name: &'static str,
    /// Its SQL: plain statements, without transaction control or `user_version`.
    sql: &'static str,
}

/// Every migration, in order: entry *i* brings the schema to version *i + 1*. Only ever
/// append here.
const MIGRATIONS: &[Migration] = &[
    Migration { name: "0001_cases.sql", sql: include_str!("../../db/migrations/0001_cases.sql") },
    Migration { name: "0002_people.sql", sql: include_str!("../../db/migrations/0002_people.sql") },
    Migration { name: "0003_queue.sql", sql: include_str!("../../db/migrations/0003_queue.sql") },
    Migration {
        name: "0004_casework.sql",
        sql: include_str!("../../db/migrations/0004_casework.sql"),
    },
    Migration {
        name: "0005_followups.sql",
        sql: include_str!("../../db/migrations/0005_followups.sql"),
    },
    Migration {
        name: "0006_retention.sql",
        sql: include_str!("../../db/migrations/0006_retention.sql"),
    },
    Migration {
        name: "0007_script_versions.sql",
        sql: include_str!("../../db/migrations/0007_script_versions.sql"),
    },
    Migration {
        name: "0008_console.sql",
        sql: include_str!("../../db/migrations/0008_console.sql"),
    },
    Migration {
        name: "0009_dashboard.sql",
        sql: include_str!("../../db/migrations/0009_dashboard.sql"),
    },
    Migration {
        name: "0010_pin_lockout.sql",
        sql: include_str!("../../db/migrations/0010_pin_lockout.sql"),
    },
    Migration { name: "0011_faults.sql", sql: include_str!("../../db/migrations/0011_faults.sql") },
    Migration {
        name: "0012_conversations.sql",
        sql: include_str!("../../db/migrations/0012_conversations.sql"),
    },
    Migration { name: "0013_outbox.sql", sql: include_str!("../../db/migrations/0013_outbox.sql") },
    Migration {
        name: "0014_provider_deletions.sql",
        sql: include_str!("../../db/migrations/0014_provider_deletions.sql"),
    },
    Migration {
        name: "0015_operator_reach.sql",
        sql: include_str!("../../db/migrations/0015_operator_reach.sql"),
    },
    Migration {
        name: "0016_waiting_line.sql",
        sql: include_str!("../../db/migrations/0016_waiting_line.sql"),
    },
    Migration {
        name: "0017_sealed_text.sql",
        sql: include_str!("../../db/migrations/0017_sealed_text.sql"),
    },
    Migration {
        name: "0018_waiting_lines.sql",
        sql: include_str!("../../db/migrations/0018_waiting_lines.sql"),
    },
    Migration {
        name: "0019_shared_duties.sql",
        sql: include_str!("../../db/migrations/0019_shared_duties.sql"),
    },
    Migration {
        name: "0020_outbox_due.sql",
        sql: include_str!("../../db/migrations/0020_outbox_due.sql"),
    },
];

/// The schema version this build brings databases to.
pub(super) fn latest_version() -> u32 {
    // The list is a handful of entries; it cannot exceed u32.
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Brings the database to [`latest_version`], or refuses one that is newer.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StorageError> {
    let known = latest_version();
    let found = user_version(conn)?;
    if found > known {
        return Err(StorageError::TooNew { path: path.to_owned(), found, known });
    }
    let mut applied = 0;
    for (version, migration) in (1..).zip(MIGRATIONS).skip_while(|(version, _)| *version <= found) {
        let failed = |source| StorageError::Migration {
            path: path.to_owned(),
            name: migration.name,
            version,
            source,
        };
        // IMMEDIATE takes the write lock before the version is read again, so two processes
        // starting at once cannot both apply the same migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        if user_version(&tx).map_err(failed)? >= version {
            continue;
        }
        tx.execute_batch(migration.sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .and_then(|()| tx.commit())
            .map_err(failed)?;
        tracing::debug!(migration = migration.name, version, "database schema migrated");
        applied += 1;
    }
    // One line for a start, not one per migration: a new database takes them all.
    let path = path.display();
    if applied > 0 && found == 0 {
        tracing::info!(version = known, "database created at {path}");
    } else if applied > 0 {
        tracing::info!(from = found, to = known, "database schema at {path} brought up to date");
    }
    Ok(())
}

/// The database's schema version.
pub(super) fn user_version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}
