//! The PostgreSQL schema as the binary carries it: the files of `db/postgres/`, and the one-row
//! table that says which of SQLite's schema versions a PostgreSQL database is at.

use postgres::Transaction;

/// Every file of `db/postgres/`, in order: file *n* brings the schema to SQLite's version
/// 16 + *n* (the first is the whole schema of version 17). Only ever append here.
const FILES: &[(&str, &str)] = &[
    ("0001_schema.sql", include_str!("../../../db/postgres/0001_schema.sql")),
    ("0002_waiting_lines.sql", include_str!("../../../db/postgres/0002_waiting_lines.sql")),
    ("0003_shared_duties.sql", include_str!("../../../db/postgres/0003_shared_duties.sql")),
    ("0004_outbox_due.sql", include_str!("../../../db/postgres/0004_outbox_due.sql")),
];

/// The SQLite schema version the first file brings a database to.
const FIRST_VERSION: u32 = 17;

/// The table that keeps the schema version, as SQLite keeps `PRAGMA user_version`: one row,
/// written in the same transaction as the schema it describes.
pub(super) const VERSION_TABLE: &str = "hotline_schema_version";

/// The SQLite schema version the files here bring a database to.
pub(super) fn version() -> u32 {
    // A handful of files: far from u32's end.
    FIRST_VERSION - 1 + u32::try_from(FILES.len()).unwrap_or(u32::MAX - FIRST_VERSION)
}

/// Applies every file to an empty database and records the version, inside `tx`: whoever
/// commits it gets the whole schema, whoever rolls it back nothing.
pub(super) fn apply(tx: &mut Transaction<'_>) -> Result<(), SchemaError> {
    run(tx, FILES)?;
    let record = format!(
        "CREATE TABLE {VERSION_TABLE} (
             id      BIGINT PRIMARY KEY CHECK (id = 1),
             version BIGINT NOT NULL
         );
         INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, {});",
        version()
    );
    tx.batch_execute(&record).map_err(|source| SchemaError { name: VERSION_TABLE, source })
}

/// Applies the files a database at version `from` lacks and records the new version, inside
/// `tx`: a database made by an older build is brought forward, as SQLite's migrations bring a
/// file. `None` when `from` is older than the first file, which nothing here can bring forward.
pub(super) fn upgrade(tx: &mut Transaction<'_>, from: u32) -> Option<Result<(), SchemaError>> {
    // The first file brings an empty database to FIRST_VERSION: a database below that was
    // never made from these files.
    let done = usize::try_from(from.checked_sub(FIRST_VERSION)? + 1).ok()?;
    let missing = FILES.get(done..)?;
    let record = format!("UPDATE {VERSION_TABLE} SET version = {} WHERE id = 1", version());
    Some(run(tx, missing).and_then(|()| {
        tx.batch_execute(&record).map_err(|source| SchemaError { name: VERSION_TABLE, source })
    }))
}

/// Runs `files` in order, naming the one refused.
fn run(tx: &mut Transaction<'_>, files: &[(&'static str, &str)]) -> Result<(), SchemaError> {
    for (name, sql) in files {
        tx.batch_execute(sql).map_err(|source| SchemaError { name, source })?;
    }
    Ok(())
}

/// The version recorded in the database, `None` when it has no version table.
pub(super) fn recorded_version(tx: &mut Transaction<'_>) -> Result<Option<i64>, postgres::Error> {
    let exists = tx.query_one(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = $1",
        &[&VERSION_TABLE],
    )?;
    if exists.get::<_, i64>(0) == 0 {
        return Ok(None);
    }
    let row = tx.query_opt(&format!("SELECT version FROM {VERSION_TABLE} WHERE id = 1"), &[])?;
    Ok(row.map(|row| row.get(0)))
}

/// A schema file that PostgreSQL refused.
#[derive(Debug)]
pub(super) struct SchemaError {
    /// The file, or the version table.
    pub(super) name: &'static str,
    /// PostgreSQL's refusal.
    pub(super) source: postgres::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_db_postgres_is_carried_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("db/postgres");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        on_disk.sort();
        let carried: Vec<(String, String)> =
            FILES.iter().map(|(name, sql)| ((*name).to_owned(), (*sql).to_owned())).collect();
        assert_eq!(carried, on_disk);
    }
}
