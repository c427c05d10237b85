//! The storage's own tests, run on PostgreSQL as well: with `HOTLINE_TEST_POSTGRES` naming a
//! server (`postgres://user@host:port/db`), every [`Storage::open`] of a test opens a fresh
//! database of its own on that server instead of the SQLite file, so that one suite holds
//! both engines to the same behaviour. `scripts/test-postgres` starts a server and runs them.
//!
//! Tests that look at what only SQLite has (its file's bytes, its log, its pragmas) ask
//! [`postgres_under_test`] and check PostgreSQL's own counterpart, or say why there is none.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Storage, StorageError, StorageOptions};

/// The variable naming the server.
const VARIABLE: &str = "HOTLINE_TEST_POSTGRES";

/// The server the tests run on.
#[derive(Debug)]
pub(super) struct PostgresUnderTest {
    uri: String,
}

/// The server named by `HOTLINE_TEST_POSTGRES`, if any.
pub(super) fn postgres_under_test() -> Option<&'static PostgresUnderTest> {
    static SERVER: OnceLock<Option<PostgresUnderTest>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let uri = std::env::var(VARIABLE).ok().filter(|uri| !uri.is_empty())?;
            Some(PostgresUnderTest { uri })
        })
        .as_ref()
}

/// Whether the test runs on PostgreSQL, for a test whose subject is SQLite's own file (its
/// bytes on the disk, its pragmas, rows written into it around the storage): such a test
/// returns early there, saying why, and runs whole on SQLite.
pub(super) fn sqlite_file_only(why: &str) -> bool {
    let skipped = postgres_under_test().is_some();
    if skipped {
        eprintln!("on SQLite only: {why}");
    }
    skipped
}

impl PostgresUnderTest {
    /// The URI of the database that stands for `path` (made by [`PostgresUnderTest::open`]).
    pub(super) fn database_uri(&self, path: &Path) -> String {
        let number = databases().lock().unwrap().0[path];
        let name = format!("t{}_{number}", std::process::id());
        let (base, rest) = self.uri.rsplit_once('/').expect("checked when opened");
        match rest.split_once('?') {
            Some((_, query)) => format!("{base}/{name}?{query}"),
            None => format!("{base}/{name}"),
        }
    }

    /// A new, empty database on the server, opened as the hotline opens one, with the data
    /// keys beside `path` as they would be beside the SQLite file.
    pub(super) async fn open(
        &self,
        path: &Path,
        options: StorageOptions,
    ) -> Result<Storage, StorageError> {
        static OPENED: AtomicU32 = AtomicU32::new(0);
        assert!(self.uri.contains('/'), "{VARIABLE} must end in /DATABASE: {}", self.uri);
        // One database per opened path: a test that opens the same file twice (a restart)
        // finds what it wrote.
        let name =
            format!("t{}_{}", std::process::id(), databases().lock().unwrap().name(path, &OPENED));
        let admin = self.uri.clone();
        let created = name.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&created])
                .unwrap()
                .is_some();
            if !exists {
                client.batch_execute(&format!("CREATE DATABASE {created}")).unwrap();
            }
        })
        .await
        .unwrap();
        let uri = self.database_uri(path);
        Storage::open_postgres(&uri, path, options).await
    }
}

/// The databases made so far, by the path each stands for.
#[derive(Default)]
struct Databases(std::collections::HashMap<std::path::PathBuf, u32>);

impl Databases {
    fn name(&mut self, path: &Path, opened: &AtomicU32) -> u32 {
        *self.0.entry(path.to_owned()).or_insert_with(|| opened.fetch_add(1, Ordering::Relaxed))
    }
}

fn databases() -> &'static std::sync::Mutex<Databases> {
    static DATABASES: OnceLock<std::sync::Mutex<Databases>> = OnceLock::new();
    DATABASES.get_or_init(Default::default)
}

/// The database's write lock, held by another connection until dropped (as a backup tool or
/// a long transaction of another program would hold it): SQLite's exclusive lock on the file
/// at `path`, or on PostgreSQL the writers' advisory lock (`engine.rs`).
pub(super) enum HeldLock {
    Sqlite(#[allow(dead_code, reason = "held, not read")] rusqlite::Connection),
    Postgres(Option<postgres::Client>),
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // The postgres client blocks on its own runtime when closed: not on a test's.
        if let HeldLock::Postgres(client) = self
            && let Some(client) = client.take()
        {
            std::thread::spawn(move || drop(client)).join().unwrap();
        }
    }
}

/// Takes the write lock of the database at `path` (see [`HeldLock`]).
pub(super) fn hold_write_lock(path: &Path) -> HeldLock {
    match postgres_under_test() {
        None => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            HeldLock::Sqlite(conn)
        }
        Some(server) => {
            let uri = server.database_uri(path);
            // The postgres client runs its own runtime: not on a test's.
            let client = std::thread::spawn(move || {
                let mut client = postgres::Client::connect(&uri, postgres::NoTls).unwrap();
                client
                    .batch_execute(&format!(
                        "BEGIN; SELECT pg_advisory_xact_lock({})",
                        super::engine::WRITER_LOCK
                    ))
                    .unwrap();
                client
            })
            .join()
            .unwrap();
            HeldLock::Postgres(Some(client))
        }
    }
}
