//! Backups: `hotline backup PATH` copies the live database consistently while the server runs
//! (SQLite's online backup API, in `storage/backup.rs`), optionally encrypted; `hotline
//! restore PATH` checks a backup and puts it in place of the database.
//!
//! An encrypted backup is XChaCha20-Poly1305 in the STREAM construction (64 KiB chunks, each
//! authenticated, the last one marked, so a cut or reordered file is refused), under a key
//! derived with Argon2id from the secret in `HOTLINE_BACKUP_KEY` or the file named by
//! `HOTLINE_BACKUP_KEY_FILE`, with a random salt kept in the file's header. The plaintext of
//! an encrypted backup is never written to the disk: the snapshot is taken into memory and
//! encrypted from there, so a backup needs about twice as much free memory as the database
//! is large (the snapshot, and SQLite's serialised copy of it).
//!
//! Every backup file, plain or encrypted, is created with mode 0600.
//!
//! A backup does not carry the data keys its sealed text opens with (`data-keys` beside the
//! database, see `storage/keyring.rs`): a backup restores beside them, and a purge that
//! destroys a month's keys makes that month unreadable in every backup.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};

use crate::config::{BACKUP_KEY_FILE_VAR, BACKUP_KEY_VAR, resolved};
use crate::domain::secret::Secret;
use crate::storage::{BackupCheck, DATA_KEYS_FILE, Snapshot, check_backup};

/// The data keys' file of the database at `database`, which no backup carries.
pub fn data_keys_beside(database: &Path) -> PathBuf {
    database.with_file_name(DATA_KEYS_FILE)
}

/// The first bytes of an encrypted backup (a plain one starts with SQLite's own header).
const MAGIC: &[u8; 16] = b"hotline-backup\x001";
const SALT_LEN: usize = 16;
/// XChaCha20's 24-byte nonce less STREAM's 5 bytes of counter and last-chunk flag.
const NONCE_PREFIX_LEN: usize = 19;
const HEADER_LEN: usize = MAGIC.len() + SALT_LEN + NONCE_PREFIX_LEN;
const CHUNK: usize = 64 * 1024;
const TAG_LEN: usize = 16;
/// The shortest backup secret accepted.
const MIN_SECRET_CHARS: usize = 16;

/// Why a backup or a restore failed. Messages say what to do; none holds caller data.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written; the message names it whole.
    #[error("{}: {source}", resolved(.path).display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The backup would overwrite an existing file.
    #[error("{0} already exists; choose a new name (a backup never overwrites a file)")]
    Exists(PathBuf),
    /// SQLite could not take the snapshot.
    #[error("the snapshot failed: {0}")]
    Snapshot(String),
    /// The backup secret is missing or unusable.
    #[error(
        "{0}; set {BACKUP_KEY_VAR} or {BACKUP_KEY_FILE_VAR} (at least {MIN_SECRET_CHARS} characters)"
    )]
    Key(String),
    /// The file is not a backup this build can restore; the database was not touched.
    #[error("{} cannot be restored: {why}; the database was not touched", resolved(.path).display())]
    Invalid {
        /// The backup.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A database is there and `--force` was not given.
    #[error(
        "a database is already at {}; restoring replaces it and everything recorded since the \
         backup is lost. Stop the server, then run restore again with --force",
        resolved(.0).display()
    )]
    WouldOverwrite(PathBuf),
}

/// Reads the backup secret from the environment (`env` reads one variable).
pub fn backup_key(env: impl Fn(&str) -> Option<String>) -> Result<Secret, BackupError> {
    let value = match (env(BACKUP_KEY_VAR), env(BACKUP_KEY_FILE_VAR)) {
        (Some(value), _) => value,
        (None, Some(path)) => fs::read_to_string(&path)
            .map_err(|source| BackupError::Io { path: path.into(), source })?
            .trim()
            .to_owned(),
        (None, None) => return Err(BackupError::Key("no backup secret is set".into())),
    };
    if value.chars().count() < MIN_SECRET_CHARS {
        return Err(BackupError::Key("the backup secret is too short".into()));
    }
    Ok(Secret::new(value))
}

/// Backs the database at `database` up into the new file `target`, encrypted under `key` if
/// given. Returns what the backup holds, checked.
pub fn backup(
    database: &Path,
    target: &Path,
    key: Option<&Secret>,
) -> Result<BackupCheck, BackupError> {
    if !database.exists() {
        return Err(BackupError::Snapshot(format!(
            "there is no database at {}",
            resolved(database).display()
        )));
    }
    let snapshot = Snapshot::take(database).map_err(|e| BackupError::Snapshot(e.to_string()))?;
    let check =
        snapshot.check().map_err(|why| BackupError::Invalid { path: database.to_owned(), why })?;
    let mut out = create_private(target)?;
    let written = snapshot
        .write_with(|bytes| match key {
            None => out.write_all(bytes),
            Some(key) => encrypt(&mut &bytes[..], &mut out, key),
        })
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|written| written);
    // A failed backup leaves no half-written file under a name a person would trust.
    if let Err(source) = written.and_then(|()| out.sync_all()) {
        let _ = fs::remove_file(target);
        return Err(BackupError::Io { path: target.to_owned(), source });
    }
    Ok(check)
}

/// Restores the backup `source` over the database at `database`. Refuses to replace an
/// existing database without `force`; checks the backup before anything is replaced.
pub fn restore(
    source: &Path,
    database: &Path,
    force: bool,
    key: Option<&Secret>,
) -> Result<BackupCheck, BackupError> {
    if database.exists() && !force {
        return Err(BackupError::WouldOverwrite(database.to_owned()));
    }
    let invalid = |why: String| BackupError::Invalid { path: source.to_owned(), why };
    let dir = database.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| BackupError::Io { path: dir.to_owned(), source })?;
    let staged = dir.join(format!(
        ".{}.restoring",
        database.file_name().and_then(|n| n.to_str()).unwrap_or("hotline.db")
    ));
    let _ = fs::remove_file(&staged);
    let mut input = open(source)?;
    let mut magic = [0u8; MAGIC.len()];
    let encrypted = input.read_exact(&mut magic).is_ok() && &magic == MAGIC;
    let mut input = open(source)?;
    let mut out = create_private(&staged)?;
    let copied = if encrypted {
        let key = key.ok_or_else(|| {
            BackupError::Key(format!(
                "{} is encrypted and no backup secret is set",
                source.display()
            ))
        })?;
        decrypt(&mut input, &mut out, key)
    } else {
        io::copy(&mut input, &mut out).map(|_| ())
    };
    let cleanup = |e: BackupError| {
        let _ = fs::remove_file(&staged);
        e
    };
    copied.and_then(|()| out.sync_all()).map_err(|e| cleanup(invalid(e.to_string())))?;
    let check = check_backup(&staged).map_err(|why| cleanup(invalid(why)))?;
    // The old database's WAL and shared-memory files belong to the old file: left there, the
    // next open would apply the old log to the restored database.
    for suffix in ["-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        match fs::remove_file(PathBuf::from(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(cleanup(BackupError::Io { path: database.to_owned(), source: e }));
            }
            _ => {}
        }
    }
    fs::rename(&staged, database)
        .map_err(|source| cleanup(BackupError::Io { path: database.to_owned(), source }))?;
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(check)
}

fn open(path: &Path) -> Result<File, BackupError> {
    File::open(path).map_err(|source| BackupError::Io { path: path.to_owned(), source })
}

/// A new file readable by its owner only; never an existing one.
fn create_private(path: &Path) -> Result<File, BackupError> {
    let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    let file = file.map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => BackupError::Exists(path.to_owned()),
        _ => BackupError::Io { path: path.to_owned(), source },
    })?;
    // The mode above is filtered by the umask; set it exactly.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|source| BackupError::Io { path: path.to_owned(), source })?;
    Ok(file)
}

fn random<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes)
}

/// The file key: Argon2id of the secret with the file's salt.
fn file_key(secret: &Secret, salt: &[u8]) -> io::Result<XChaCha20Poly1305> {
    let mut key = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(secret.expose().as_bytes(), salt, &mut key)
        .map_err(|e| io::Error::other(format!("deriving the backup key: {e}")))?;
    Ok(XChaCha20Poly1305::new(&key.into()))
}

/// Reads up to a whole chunk; fewer bytes only at the end of the input.
fn read_chunk(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn encrypt(input: &mut impl Read, out: &mut impl Write, secret: &Secret) -> io::Result<()> {
    let salt: [u8; SALT_LEN] = random()?;
    let prefix: [u8; NONCE_PREFIX_LEN] = random()?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&salt);
    header.extend_from_slice(&prefix);
    out.write_all(&header)?;
    let mut stream = EncryptorBE32::from_aead(file_key(secret, &salt)?, (&prefix).into());
    let sealed = |_| io::Error::other("encryption failed");
    // One chunk is held back, so the last one can be sealed as last.
    let mut current = vec![0u8; CHUNK];
    let mut filled = read_chunk(input, &mut current)?;
    let mut next = vec![0u8; CHUNK];
    loop {
        let more = read_chunk(input, &mut next)?;
        if more == 0 {
            let payload = Payload { msg: &current[..filled], aad: &header };
            out.write_all(&stream.encrypt_last(payload).map_err(sealed)?)?;
            return Ok(());
        }
        let payload = Payload { msg: &current[..filled], aad: &header };
        out.write_all(&stream.encrypt_next(payload).map_err(sealed)?)?;
        std::mem::swap(&mut current, &mut next);
        filled = more;
    }
}

fn decrypt(input: &mut impl Read, out: &mut impl Write, secret: &Secret) -> io::Result<()> {
    let mut header = [0u8; HEADER_LEN];
    input.read_exact(&mut header)?;
    let salt = &header[MAGIC.len()..MAGIC.len() + SALT_LEN];
    let prefix: [u8; NONCE_PREFIX_LEN] =
        header[MAGIC.len() + SALT_LEN..].try_into().map_err(io::Error::other)?;
    let mut stream = DecryptorBE32::from_aead(file_key(secret, salt)?, (&prefix).into());
    let refused =
        |_| io::Error::other("the backup secret is wrong, or the file was changed or cut short");
    let mut current = vec![0u8; CHUNK + TAG_LEN];
    let mut filled = read_chunk(input, &mut current)?;
    let mut next = vec![0u8; CHUNK + TAG_LEN];
    loop {
        let more = read_chunk(input, &mut next)?;
        let payload = Payload { msg: &current[..filled], aad: &header };
        if more == 0 {
            out.write_all(&stream.decrypt_last(payload).map_err(refused)?)?;
            return Ok(());
        }
        out.write_all(&stream.decrypt_next(payload).map_err(refused)?)?;
        std::mem::swap(&mut current, &mut next);
        filled = more;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s.into())
    }

    fn round_trip(plain: &[u8]) -> Vec<u8> {
        let mut sealed = Vec::new();
        encrypt(&mut &plain[..], &mut sealed, &secret("backup-secret-0123")).unwrap();
        assert!(sealed.starts_with(MAGIC));
        let mut opened = Vec::new();
        decrypt(&mut &sealed[..], &mut opened, &secret("backup-secret-0123")).unwrap();
        assert_eq!(opened, plain);
        sealed
    }

    #[test]
    fn encryption_round_trips_at_every_chunk_boundary() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = round_trip(&plain);
            assert_eq!(sealed.len(), HEADER_LEN + len + TAG_LEN * len.div_ceil(CHUNK).max(1));
        }
    }

    #[test]
    fn a_wrong_secret_a_flipped_bit_or_a_cut_file_is_refused() {
        let plain = vec![7u8; 2 * CHUNK + 10];
        let sealed = round_trip(&plain);
        let opens = |bytes: &[u8], key: &str| {
            decrypt(&mut &bytes[..], &mut Vec::new(), &secret(key)).is_ok()
        };
        assert!(!opens(&sealed, "another-secret-0123"));
        let mut flipped = sealed.clone();
        flipped[HEADER_LEN + CHUNK] ^= 1;
        assert!(!opens(&flipped, "backup-secret-0123"));
        let mut salted = sealed.clone();
        salted[MAGIC.len()] ^= 1;
        assert!(!opens(&salted, "backup-secret-0123"));
        // Cut after a whole chunk: the chunk left is not marked last.
        assert!(!opens(&sealed[..HEADER_LEN + CHUNK + TAG_LEN], "backup-secret-0123"));
        assert!(!opens(&sealed[..10], "backup-secret-0123"));
    }

    #[test]
    fn the_backup_secret_comes_from_the_environment_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        fs::write(&file, "from-a-file-0123456\n").unwrap();
        let file = file.to_str().unwrap().to_owned();
        let key = backup_key(|name| (name == BACKUP_KEY_FILE_VAR).then(|| file.clone())).unwrap();
        assert_eq!(key.expose(), "from-a-file-0123456");
        assert!(matches!(backup_key(|_| None), Err(BackupError::Key(_))));
        assert!(matches!(backup_key(|_| Some("short".into())), Err(BackupError::Key(_))));
        let missing = backup_key(|n| (n == BACKUP_KEY_FILE_VAR).then(|| "/nonexistent/k".into()));
        assert!(matches!(missing, Err(BackupError::Io { .. })));
    }
}
