//! A fault switch for the tests that break the database under a running server: the writer
//! connection (the one every record goes through) made to fail with SQLite's own errors, as
//! a read-only mount or a vanished file would, and restored. Nothing in the server calls it;
//! it is public so that end-to-end tests can hold a real server's storage and switch it.

use std::path::PathBuf;

use super::StorageError;
use super::sqlite::Storage;

/// A fault of the database's writer connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseFault {
    /// Every write fails with `SQLITE_READONLY` (`PRAGMA query_only`).
    ReadOnly,
    /// Every write fails with `SQLITE_NOTADB`: the writer is swapped for a connection to
    /// this file, which is filled with bytes that are not a database.
    Unavailable {
        /// Where to put the file that is not a database.
        not_a_database: PathBuf,
    },
}

/// A fault in place, to hand back to [`Storage::clear_fault`].
#[derive(Debug)]
pub struct InjectedFault {
    /// The real writer connection, kept aside while it is swapped out.
    kept: Option<rusqlite::Connection>,
}

impl Storage {
    /// Puts `fault` in place on the writer connection until [`Storage::clear_fault`].
    pub async fn inject_fault(&self, fault: DatabaseFault) -> Result<InjectedFault, StorageError> {
        self.write(move |conn| {
            let conn = conn.sqlite_mut().ok_or_else(|| sqlite_only("the fault switch"))?;
            match fault {
                DatabaseFault::ReadOnly => {
                    conn.pragma_update(None, "query_only", true)?;
                    Ok(InjectedFault { kept: None })
                }
                DatabaseFault::Unavailable { not_a_database } => {
                    std::fs::write(&not_a_database, vec![0x5a; 8192]).map_err(|e| {
                        StorageError::Data(format!("cannot write the fault file: {e}"))
                    })?;
                    let garbage = rusqlite::Connection::open(&not_a_database)?;
                    Ok(InjectedFault { kept: Some(std::mem::replace(conn, garbage)) })
                }
            }
        })
        .await
    }

    /// Ends a fault: the writer works again.
    pub async fn clear_fault(&self, injected: InjectedFault) -> Result<(), StorageError> {
        self.write(move |conn| {
            let conn = conn.sqlite_mut().ok_or_else(|| sqlite_only("the fault switch"))?;
            match injected.kept {
                Some(real) => *conn = real,
                None => conn.pragma_update(None, "query_only", false)?,
            }
            Ok(())
        })
        .await
    }
}

/// What is refused on a database that is not SQLite.
fn sqlite_only(what: &str) -> StorageError {
    StorageError::Data(format!("{what} works on an SQLite database only"))
}
