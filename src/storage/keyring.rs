//! The data keys' file (`data-keys`, beside the database): created with the database, read at
//! every start, rewritten in place when retention destroys a month's keys.
//!
//! The file holds the key chains of [`crate::domain::data_keys`], wrapped under the secret the
//! storage is opened with. It is not in the database on purpose: a backup of the database,
//! or a replica of it, must not carry the keys that open it, or destroying a key would not
//! reach it. Every line has a fixed length and the file is rewritten over itself, then
//! synced, so the destroyed seed is not left in an older copy of the file beside it. Two
//! processes on one database (the server and `hotline purge`) take turns through an advisory
//! lock, and a chain only ever moves forward: whichever advanced further wins.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustix::fs::{FlockOperation, flock};

use super::StorageError;
use crate::domain::data_keys::{DataClass, DataKeys, Locked, Month};
use crate::domain::secret::Secret;

/// The file's name, in the database's folder.
pub const FILE_NAME: &str = "data-keys";

/// The first month of new chains: before any case the hotline can hold, so that text written
/// before sealing existed is sealed under its own month, and retention destroys it with the
/// rest of that month. The months before the oldest data go at the first purge.
fn first_month() -> DateTime<Utc> {
    DateTime::from_timestamp(1_577_836_800, 0).expect("2020-01-01 is a valid time")
}

/// The most bytes the file may have: a few lines.
const MOST_BYTES: u64 = 4096;

/// The data keys of a database and the file they are kept in.
#[derive(Debug, Clone)]
pub(super) struct Keyring {
    keys: Arc<DataKeys>,
    path: PathBuf,
    /// `None` when the keys are locked.
    secret: Option<Secret>,
}

impl Keyring {
    /// Reads the keys beside `database`. When there is no file, creates one if `may_create`, that is if the database holds nothing sealed: new keys for a
    /// database sealed under lost ones would hide that everything in it is unreadable.
    /// Blocking.
    pub(super) fn open(
        database: &Path,
        secret: &Secret,
        may_create: bool,
    ) -> Result<Keyring, StorageError> {
        let path = database.with_file_name(FILE_NAME);
        let error = |reason: String| StorageError::DataKeys { path: path.clone(), reason };
        match Keyring::read(&path, secret) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
                Keyring::create(path, secret)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(error(
                "it is missing, and the database holds text sealed under its keys: put \
                     back the data-keys file that belongs to this database (from where it was \
                     kept), or nothing sealed in it can be read"
                    .into(),
            )),
            Err(e) => Err(error(e.to_string())),
            Ok(keys) => Ok(Keyring { keys: Arc::new(keys), path, secret: Some(secret.clone()) }),
        }
    }

    /// Locked keys for the database at `database`: the file is not read, nor made.
    pub(super) fn locked(database: &Path) -> Keyring {
        let path = database.with_file_name(FILE_NAME);
        Keyring { keys: Arc::new(DataKeys::locked()), path, secret: None }
    }

    /// The keys in the file at `path`; a file that is not a keys file, or not under `secret`,
    /// is an error of kind `InvalidData` saying why.
    fn read(path: &Path, secret: &Secret) -> std::io::Result<DataKeys> {
        let mut file = OpenOptions::new().read(true).open(path)?;
        flock(&file, FlockOperation::LockShared)?;
        let text = read_all(&mut file)?;
        DataKeys::load(secret, &text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }

    /// A new file of new keys at `path`, created only if there is none (another process may
    /// have just made it), synced with its folder so that it outlives a crash.
    fn create(path: PathBuf, secret: &Secret) -> Result<Keyring, StorageError> {
        let error = |reason: String| StorageError::DataKeys { path: path.clone(), reason };
        let keys = DataKeys::generate(secret, first_month())
            .ok_or_else(|| error("the system's random source failed".into()))?;
        let mut file = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let keys = Keyring::read(&path, secret).map_err(|e| error(e.to_string()))?;
                return Ok(Keyring { keys: Arc::new(keys), path, secret: Some(secret.clone()) });
            }
            Err(e) => return Err(error(e.to_string())),
        };
        write_over(&mut file, &keys).map_err(|e| error(e.to_string()))?;
        let folder = path.parent().filter(|dir| !dir.as_os_str().is_empty());
        File::open(folder.unwrap_or(Path::new(".")))
            .and_then(|dir| dir.sync_all())
            .map_err(|e| error(e.to_string()))?;
        Ok(Keyring { keys: Arc::new(keys), path, secret: Some(secret.clone()) })
    }

    /// The keys, to seal and open with.
    pub(super) fn keys(&self) -> &DataKeys {
        &self.keys
    }

    /// The keys, shared.
    pub(super) fn shared(&self) -> Arc<DataKeys> {
        Arc::clone(&self.keys)
    }

    /// Destroys `class`'s keys of the months before `month`, in memory and in the file, and
    /// takes in whatever another process destroyed meanwhile. Returns whether the file
    /// changed. Blocking.
    pub(super) fn destroy_before(
        &self,
        class: DataClass,
        month: Month,
    ) -> Result<bool, StorageError> {
        let secret = self.secret.as_ref().ok_or(Locked)?;
        let error = |reason: String| StorageError::DataKeys { path: self.path.clone(), reason };
        let mut file = self.open_exclusive()?;
        let text = read_all(&mut file).map_err(|e| error(e.to_string()))?;
        let stored = DataKeys::load(secret, &text).map_err(|e| error(e.to_string()))?;
        let mut changed = false;
        for other in DataClass::ALL {
            // What the file says was destroyed is destroyed here too; a file behind this
            // process's keys is brought forward.
            if let Some(first) = stored.first(other) {
                self.keys.destroy_before(other, first);
            }
            changed |= stored.first(other) < self.keys.first(other);
        }
        changed |= self.keys.destroy_before(class, month);
        if changed {
            write_over(&mut file, &self.keys).map_err(|e| error(e.to_string()))?;
        }
        Ok(changed)
    }

    /// The file, open to read and write, under this process's exclusive lock until dropped.
    fn open_exclusive(&self) -> Result<File, StorageError> {
        let error = |e: std::io::Error| StorageError::DataKeys {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let file = OpenOptions::new().read(true).write(true).open(&self.path).map_err(error)?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| error(e.into()))?;
        Ok(file)
    }

    /// Writes the keys wrapped under `next` over the file: after `hotline keys
    /// rotate-callback`, whose key wraps them. Blocking.
    pub(super) fn rewrap(&self, next: &Secret) -> Result<(), StorageError> {
        if self.secret.is_none() {
            return Err(Locked.into());
        }
        let error = |reason: String| StorageError::DataKeys { path: self.path.clone(), reason };
        let mut file = self.open_exclusive()?;
        let text = self
            .keys
            .stored(Some(next))
            .ok_or_else(|| error("the system's random source failed".into()))?;
        write_text(&mut file, &text).map_err(|e| error(e.to_string()))
    }
}

/// The file's text; refused when longer than any keys file.
fn read_all(file: &mut File) -> std::io::Result<String> {
    let mut text = String::new();
    Read::by_ref(file).take(MOST_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MOST_BYTES {
        return Err(std::io::Error::other("it is longer than a data keys file can be"));
    }
    Ok(text)
}

/// Writes `keys`' stored form over the file's bytes.
fn write_over(file: &mut File, keys: &DataKeys) -> std::io::Result<()> {
    let text = keys.stored(None).ok_or_else(|| std::io::Error::other("no random source"))?;
    write_text(file, &text)
}

/// Writes `text` from the file's first byte, cuts what follows, and syncs.
fn write_text(file: &mut File, text: &str) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.set_len(text.len() as u64)?;
    file.sync_all()
}
