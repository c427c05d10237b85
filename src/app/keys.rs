//! Rotation of the caller-hash key: `hotline keys rotate-caller-hash`; and the new key's
//! checks for `hotline keys rotate-callback`, which re-seals callback numbers (see
//! `docs/security.md`).
//!
//! An HMAC cannot be re-keyed without its input, and the hotline never keeps the numbers. So
//! the key is a chain (see [`crate::domain::secret::CallerHasher`]): rotating appends a key, and
//! every stored hash is wrapped under it in one transaction. Repeat callers keep being
//! recognised and the blocklist keeps matching; a stolen copy of an old key alone no longer
//! reverses anything in the database. The server must be stopped meanwhile (a server hashing
//! under the old chain would write hashes that match nothing), and it refuses to start again
//! with the old chain.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::app::secrets::SecretsError;
use crate::domain::secret::{MIN_KEY_CHARS, Secret};

/// Why a rotation could not start; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The current key could not be read.
    #[error("the current caller-hash key: {0}")]
    Current(#[from] SecretsError),
    /// The new key's file could not be read or is unusable.
    #[error("the new key in {path}: {why}")]
    NewKey {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The chain's file could not be written.
    #[error("cannot write the new key chain to {path}: {source}")]
    Out {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads the new key from `path`: one key, at least [`MIN_KEY_CHARS`] characters, not one of
/// the chain's keys already.
pub fn read_new_key(path: &Path, current: &Secret) -> Result<Secret, RotateError> {
    let bad = |why: String| RotateError::NewKey { path: path.display().to_string(), why };
    let text = fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let key = text.trim();
    if key.lines().count() > 1 {
        return Err(bad("the file must hold exactly one key, on one line".into()));
    }
    if key.chars().count() < MIN_KEY_CHARS {
        return Err(bad(format!("the key is shorter than {MIN_KEY_CHARS} characters")));
    }
    if current.expose().lines().any(|old| old.trim() == key) {
        return Err(bad("the key is already in the chain; generate a new one".into()));
    }
    Ok(Secret::new(key.to_owned()))
}

/// Writes the chain extended by `next` to the new file `path` (mode 0600), before the
/// database changes: a crash after the database's transaction must not leave the only copy
/// of the new chain in memory.
pub fn write_chain(path: &Path, current: &Secret, next: &Secret) -> Result<(), RotateError> {
    let failed = |source| RotateError::Out { path: path.display().to_string(), source };
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(failed)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(failed)?;
    let mut chain: Vec<&str> =
        current.expose().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    chain.push(next.expose());
    file.write_all(format!("{}\n", chain.join("\n")).as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)
}

/// The length a callback-number key must have at least, as the server requires.
const MIN_CALLBACK_KEY_CHARS: usize = 32;

/// Reads the new callback-number key from `path`: one line, at least 32 characters, not the
/// current key.
pub fn read_new_callback_key(path: &Path, current: &Secret) -> Result<Secret, RotateError> {
    let bad = |why: String| RotateError::NewKey { path: path.display().to_string(), why };
    let text = fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let key = text.trim();
    if key.lines().count() > 1 {
        return Err(bad("the file must hold exactly one key, on one line".into()));
    }
    if key.chars().count() < MIN_CALLBACK_KEY_CHARS {
        return Err(bad(format!("the key is shorter than {MIN_CALLBACK_KEY_CHARS} characters")));
    }
    if key == current.expose().trim() {
        return Err(bad("the key is the current one; generate a new one".into()));
    }
    Ok(Secret::new(key.to_owned()))
}
