//! Storage: every line of SQL in the crate, and the journal that keeps records while the
//! database cannot take them.
//!
//! - [`Storage`] is the SQLite database of cases (`sqlite.rs`), its schema kept in
//!   `db/migrations/` and applied at start (`migrations.rs`). Writes are [`Record`]s, applied
//!   idempotently; what a case's columns say (outcome, tags, language) is derived from its
//!   events (`derived.rs`), so the result does not depend on the order webhooks arrive in.
//! - [`Recorder`] (`journal.rs`) is how webhooks write: it never fails and never makes a caller
//!   wait longer than its deadline. When the database is slow or down, records go to an
//!   append-only journal file and are applied later.
//!
//! Every module's SQL goes through one connection type (`engine.rs`), which speaks to SQLite
//! or to PostgreSQL; what only SQLite has (pragmas, checkpoints, backups) stays with the
//! SQLite file's own code (`sqlite.rs`, `checkpoint.rs`, `backup.rs`, `migrations.rs`).
//!
//! SQLite is synchronous; no call to it runs on the threads that answer the provider, so a
//! slow disk or a locked database never stalls them. Writes go to the writer's own thread
//! (`group_commit.rs`), reads to the reader's (`reader.rs`), file work to tokio's blocking
//! pool.
//!
//! [`Record`]: crate::domain::cases::Record

mod backup;
mod callback_keys;
mod casework;
mod checkpoint;
#[cfg(test)]
mod conformance;
mod console;
mod conversations;
mod dashboard;
mod derived;
mod duties;
mod engine;
mod event_cache;
mod faults;
mod followups;
mod gauges;
mod group_commit;
mod journal;
mod keyring;
mod keys;
mod migrations;
pub(crate) mod outbox;
mod people;
mod pin_lockout;
pub mod postgres;
mod provider_deletions;
mod queue;
mod reader;
mod recovery;
mod retention;
mod scripts;
mod sealing;
mod serving;
mod sqlite;

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::secret::Secret;

pub use backup::{BackupCheck, Snapshot, check_backup};
pub use checkpoint::LOG_MOST_BYTES;
pub use console::LoginRecord;
pub use conversations::{ChatStep, CloseReason, NewMessage, NewReply, StepOutcome, StepTarget};
pub use duties::LeaseHolder;
pub use faults::{DatabaseFault, InjectedFault};
pub use followups::Refusal;
pub use journal::WriteObserver;
pub use journal::{Durability, Recorder};
pub use keys::KeyCheck;
pub use outbox::{OutboxCounts, Settlement};
pub use people::{AuditEntry, ChangedBy, NewPerson, ReachSettings, TokenOwner};
pub use pin_lockout::{PinAttempt, RefusalAudit};
pub use provider_deletions::PendingDeletion;
pub use queue::{LineState, NewEntry, RingCandidate, WaitingCaller};
pub use recovery::SilentCall;
pub use retention::SHREDDED_NOTE;
pub use scripts::{PUBLISHED_MEANWHILE, Publication, ScriptsStamp};
pub use serving::Serving;
pub use sqlite::Storage;

pub use keyring::FILE_NAME as DATA_KEYS_FILE;

/// How the database is opened.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// How long a statement waits for another connection's lock before failing as
    /// [`StorageError::Busy`].
    pub busy_timeout: Duration,
    /// The secret the data keys are wrapped under (`keyring.rs`): the callback key, which
    /// already seals callers' numbers and, like every secret, comes from the environment.
    /// `None`: the keys stay locked (a tool without the key doing what needs no sensitive
    /// text); whatever would seal or open text is then refused.
    pub data_keys_secret: Option<Secret>,
}

impl StorageOptions {
    /// The options of a database whose data keys are wrapped under `data_keys_secret`, with
    /// the default busy timeout (5 s).
    pub fn new(data_keys_secret: Secret) -> StorageOptions {
        StorageOptions {
            busy_timeout: Duration::from_secs(5),
            data_keys_secret: Some(data_keys_secret),
        }
    }

    /// The options of a database opened with its data keys locked (see `data_keys_secret`).
    pub fn without_data_keys() -> StorageOptions {
        StorageOptions { busy_timeout: Duration::from_secs(5), data_keys_secret: None }
    }

    /// Options for the unit tests, under a fixed secret.
    #[cfg(test)]
    pub(crate) fn for_tests() -> StorageOptions {
        StorageOptions::new(Secret::new("the unit tests' callback key".into()))
    }
}

/// Why storage could not do what was asked.
///
/// Messages name the file and say what to do, because they end up in front of whoever runs
/// the hotline. None carries caller data.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database file or its directory could not be created or opened.
    #[error(
        "cannot open the database {}: {source}; check that its directory exists or can be \
         created, that this user may write there, and that the file is an SQLite database",
        .path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The PostgreSQL database cannot be reached, or is not one the hotline can use.
    #[error(
        "cannot use the PostgreSQL database {database}: {reason}; check that the server runs \
         and takes connections from this machine, and the URL's user, password and database"
    )]
    Connect {
        /// The database, as `host:port/name`, never with a password.
        database: String,
        /// What went wrong.
        reason: String,
    },
    /// A schema migration failed; the database stays at the previous version.
    #[error(
        "migration {name} of the database {} failed: {source}; the database was left at \
         schema version {} (each migration is one transaction). Fix or restore the database \
         from a backup, then start again",
        .path.display(), .version - 1
    )]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The migration's file name.
        name: &'static str,
        /// The version it would have brought the database to.
        version: u32,
        /// What went wrong.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer release of the hotline.
    #[error(
        "the database {} has schema version {found}, but this build of the hotline only knows \
         versions up to {known}: it was upgraded by a newer release. Run that release (or \
         newer), or restore a backup taken before the upgrade; do not edit user_version by hand",
        .path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// Another connection held the database's lock for longer than the busy timeout, or the
    /// PostgreSQL server cannot take the work now (the connection lost, the server shutting
    /// down or read-only during a failover, a conflict with a concurrent transaction).
    #[error("the database is busy or unreachable: {0}")]
    Busy(#[source] engine::Error),
    /// The write conflicts with what is stored, like a name already taken; the message says
    /// what, for the person who asked.
    #[error("{0}")]
    Conflict(String),
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// Any other PostgreSQL error.
    #[error("database error: {}", engine::describe(.0))]
    Postgres(#[source] Arc<::postgres::Error>),
    /// A value could not be converted between its Rust and its stored form: a row edited by
    /// hand, or written by a build with other rules.
    #[error("a stored value cannot be converted: {0}")]
    Data(String),
    /// The journal file could not be read or written.
    #[error(
        "the journal {} cannot be used: {source}; check that its directory is writable by this \
         user and that the disk is not full",
        .path.display()
    )]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The data keys' file (`keyring.rs`) cannot be read, created or written.
    #[error("the data keys file {} cannot be used: {reason}", .path.display())]
    DataKeys {
        /// The file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// A server works on the database: a second one, or a tool that needs it stopped, waits.
    #[error(
        "a hotline server is working on {}{}: one server per database; stop it first",
        .database.display(),
        .pid.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    Served {
        /// The database.
        database: PathBuf,
        /// The server's process, as it wrote it.
        pid: Option<u32>,
    },
    /// The data keys are locked: the database was opened without the callback key.
    #[error("{0}")]
    Locked(#[from] crate::domain::data_keys::Locked),
    /// The background task doing the work panicked or was cancelled (runtime shutting down).
    #[error("the storage task failed: {0}")]
    Task(String),
}

impl StorageError {
    /// Whether the failure is likely to pass by itself (a lock held elsewhere, a task lost to
    /// shutdown), so trying again later may succeed, as opposed to a broken file or schema.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StorageError::Busy(_) | StorageError::Task(_))
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match error.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => StorageError::Busy(engine::Error::Sqlite(error)),
            _ => StorageError::Sqlite(error),
        }
    }
}

impl From<Arc<::postgres::Error>> for StorageError {
    fn from(error: Arc<::postgres::Error>) -> Self {
        use ::postgres::error::SqlState;
        let passing = match error.code() {
            // No SQLSTATE: the connection itself failed or was closed.
            None => error.is_closed() || error.as_db_error().is_none(),
            Some(code) => {
                let class = &code.code()[..2];
                // 08: connection exceptions; 57: the server shutting down or cancelling;
                // 40: serialization failures and deadlocks, which succeed when run again;
                // 25006: a read-only transaction, what a demoted primary answers; 55P03: a
                // lock waited for longer than `lock_timeout`, as SQLite's busy timeout.
                matches!(class, "08" | "57" | "40")
                    || *code == SqlState::READ_ONLY_SQL_TRANSACTION
                    || *code == SqlState::LOCK_NOT_AVAILABLE
            }
        };
        if passing {
            StorageError::Busy(engine::Error::Postgres(error))
        } else {
            StorageError::Postgres(error)
        }
    }
}

impl From<engine::Error> for StorageError {
    fn from(error: engine::Error) -> Self {
        match error {
            engine::Error::Sqlite(error) => error.into(),
            engine::Error::Postgres(error) => error.into(),
            engine::Error::QueryReturnedNoRows => {
                StorageError::Data("a row the database should hold is missing".into())
            }
            engine::Error::Conversion(what) => StorageError::Data(what),
        }
    }
}

/// Runs blocking work (SQLite, file I/O with fsync) on tokio's blocking pool.
///
/// A panic in `work` becomes [`StorageError::Task`] carrying the panic's message, so it is
/// reported to the caller instead of vanishing with the thread.
async fn blocking<T, F>(work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => {
            let message = panic_message(&*error.into_panic());
            Err(StorageError::Task(format!("panicked: {message}")))
        }
        Err(error) => Err(StorageError::Task(error.to_string())),
    }
}

/// The message a panic was raised with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Creates the folder that holds the database, its journal and the development secrets,
/// readable by its owner only: everything in it is about callers. An existing folder is left
/// as it is (its owner chose its mode). The empty path (the current folder) needs nothing.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// The integration tests' throwaway PostgreSQL server, for the storage's own tests.
#[cfg(test)]
#[allow(dead_code, reason = "shared with the integration tests, which use all of it")]
#[path = "../../tests/integration/common/postgres.rs"]
mod test_postgres;

/// What `test_postgres` takes from the integration tests' `binary.rs`.
#[cfg(test)]
mod binary {
    pub(crate) fn printed(output: &std::process::Output) -> String {
        let (stdout, stderr) = (&output.stdout, &output.stderr);
        format!("{}{}", String::from_utf8_lossy(stdout), String::from_utf8_lossy(stderr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_blocking_work_is_an_error() {
        let result: Result<(), _> = blocking(|| panic!("boom")).await;
        match result {
            Err(StorageError::Task(message)) => assert!(message.contains("boom"), "{message}"),
            other => panic!("expected a task error, got {other:?}"),
        }
    }

    #[test]
    fn busy_and_locked_are_told_apart_from_other_errors() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(StorageError::from(busy).is_unavailable());
        let other = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        );
        assert!(!StorageError::from(other).is_unavailable());
    }
}
