//! `hotline migrate-db`: a hotline database moved between SQLite and PostgreSQL by storage's
//! row-by-row copy, and where the data keys its sealed text needs are.
//!
//! The copy moves sealed values as they are and opens none, so it needs no key; the data keys
//! stay in their file beside the SQLite database, which the person moving the database copies
//! along.

use std::path::PathBuf;

use crate::app::backup::data_keys_beside;
use crate::storage::postgres::{Endpoint, transfer};

pub use crate::storage::postgres::{TransferError, TransferReport};

/// Copies the database `from` names into the one `to` names: each an SQLite file's path or a
/// `postgres://` URL, exactly one of them PostgreSQL. Blocking.
pub fn migrate_db(from: &str, to: &str) -> Result<TransferReport, TransferError> {
    transfer(&Endpoint::parse(from), &Endpoint::parse(to))
}

/// Where the data keys of a copy are, on its SQLite side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataKeys {
    /// The source's file, to copy to each server that runs the hotline on PostgreSQL.
    CopyFrom(PathBuf),
    /// Where the new SQLite database's keys must be put before the hotline starts on it.
    PutAt(PathBuf),
}

/// Where the data keys of the copy from `from` to `to` are, or must go; `None` when neither
/// side is SQLite (a copy that is refused).
pub fn data_keys(from: &str, to: &str) -> Option<DataKeys> {
    match (Endpoint::parse(from), Endpoint::parse(to)) {
        (Endpoint::Sqlite(source), _) => Some(DataKeys::CopyFrom(data_keys_beside(&source))),
        (_, Endpoint::Sqlite(target)) => Some(DataKeys::PutAt(data_keys_beside(&target))),
        _ => None,
    }
}
