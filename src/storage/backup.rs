//! The SQL of backups: a consistent copy of a live database with SQLite's online backup API,
//! and the checks a file must pass before it may replace the database.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::StorageError;
use super::migrations::{latest_version, user_version};

/// Pages copied per step of an online backup; between steps the server's writers get the
/// lock, so a backup of a big file never holds the line up for long.
const PAGES_PER_STEP: std::os::raw::c_int = 256;

/// What a checked backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCheck {
    /// Its schema version.
    pub schema_version: u32,
    /// How many cases it holds.
    pub cases: u64,
}

/// A consistent snapshot of the database at `source`, in memory, made while the server keeps
/// writing: the backup API copies a few pages at a time and starts over if a write lands
/// meanwhile, so the snapshot is one moment of the database.
pub struct Snapshot(Connection);

impl Snapshot {
    /// Takes the snapshot.
    pub fn take(source: &Path) -> Result<Snapshot, StorageError> {
        let open =
            |e: rusqlite::Error| StorageError::Open { path: source.to_owned(), source: e.into() };
        let from =
            Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open)?;
        from.busy_timeout(Duration::from_secs(5)).map_err(open)?;
        let mut to = Connection::open_in_memory()?;
        Backup::new(&from, &mut to)?.run_to_completion(
            PAGES_PER_STEP,
            Duration::from_millis(5),
            None,
        )?;
        Ok(Snapshot(to))
    }

    /// Checks the snapshot like [`check_backup`].
    pub fn check(&self) -> Result<BackupCheck, String> {
        check(&self.0)
    }

    /// Hands the snapshot, as the bytes of a database file, to `write`.
    pub fn write_with<T>(&self, write: impl FnOnce(&[u8]) -> T) -> Result<T, StorageError> {
        Ok(write(&self.0.serialize(MAIN_DB)?))
    }
}

/// Checks that `path` is a sound hotline database this build can open: SQLite's integrity
/// and foreign-key checks pass, and its schema version is one this build knows.
pub fn check_backup(path: &Path) -> Result<BackupCheck, String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("not a readable SQLite database: {e}"))?;
    check(&conn)
}

fn check(conn: &Connection) -> Result<BackupCheck, String> {
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", (), |row| row.get(0))
        .map_err(|e| format!("not an SQLite database: {e}"))?;
    if integrity != "ok" {
        return Err(format!("the database is damaged: {integrity}"));
    }
    let violations: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", (), |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if violations > 0 {
        return Err(format!("{violations} rows point at rows that are missing"));
    }
    let schema_version = user_version(conn).map_err(|e| e.to_string())?;
    if schema_version == 0 || schema_version > latest_version() {
        return Err(format!(
            "schema version {schema_version} is not one this build knows (1 to {})",
            latest_version()
        ));
    }
    let cases: u64 = conn
        .query_row("SELECT COUNT(*) FROM cases", (), |row| row.get(0))
        .map_err(|e| format!("not a hotline database: {e}"))?;
    Ok(BackupCheck { schema_version, cases })
}
