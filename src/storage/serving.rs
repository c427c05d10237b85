//! The mark of a server at work on a database: an exclusive lock on a file beside it
//! (`hotline.db.serving`), held from before the database is opened until the server stops.
//!
//! One server per SQLite file: the writer keeps the cases it wrote lately in memory
//! (`event_cache.rs`) and each server journals into the same file beside the database, so a
//! second server on the same file would answer calls from a stale fold and write over the
//! first one's journal. The ports two servers listen on tell nothing about that. The lock is
//! the kernel's (`flock`): a server killed by any signal, or a machine that loses power,
//! leaves no lock behind. The tools that need the server stopped (`restore`, the key
//! rotations, `migrate-db`) ask the same lock.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use super::StorageError;

/// The lock file of the database at `database`.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_owned();
    name.push(".serving");
    database.with_file_name(name)
}

/// Held while a server works on a database; dropping it lets another server start.
#[derive(Debug)]
pub struct Serving {
    _file: File,
}

impl Serving {
    /// Takes the lock of the database at `database`, or says that a server holds it (with its
    /// process id, as that server wrote it).
    pub fn take(database: &Path) -> Result<Serving, StorageError> {
        let path = lock_path(database);
        let error = |source: std::io::Error| StorageError::Open {
            path: path.clone(),
            source: Box::new(source),
        };
        if let Some(dir) = path.parent() {
            super::create_private_dir(dir).map_err(error)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(error)?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(StorageError::Served {
                database: database.to_owned(),
                pid: holder.trim().parse().ok(),
            });
        }
        // Who holds it, for the message another server or a tool gives.
        file.set_len(0).map_err(error)?;
        writeln!(file, "{}", std::process::id()).map_err(error)?;
        Ok(Serving { _file: file })
    }

    /// Whether a server holds the lock of the database at `database` now. No lock file is no
    /// server; a lock file that cannot be opened is told as it is.
    pub fn held(database: &Path) -> Result<bool, StorageError> {
        let path = lock_path(database);
        let file = match OpenOptions::new().read(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StorageError::Open { path, source: Box::new(e) }),
        };
        // A shared lock is refused only while a server holds the exclusive one; it is let go
        // with the file at once.
        Ok(flock(&file, FlockOperation::NonBlockingLockShared).is_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_per_database_and_the_lock_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hotline.db");
        assert!(!Serving::held(&db).unwrap(), "no server yet");
        let first = Serving::take(&db).unwrap();
        assert!(Serving::held(&db).unwrap());
        match Serving::take(&db) {
            Err(StorageError::Served { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("a second server on the same database: {other:?}"),
        }
        // Another database beside it is another server's business.
        let other = Serving::take(&dir.path().join("other.db")).unwrap();
        drop(first);
        assert!(!Serving::held(&db).unwrap(), "the lock outlived its server");
        let again = Serving::take(&db).unwrap();
        drop((again, other));
    }
}
