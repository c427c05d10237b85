//! Opening the hotline's storage on a PostgreSQL database: the same [`Storage`], its writer and
//! reader threads each holding a client of the server instead of an SQLite connection.
//!
//! An empty database gets the schema the binary carries (`schema.rs`), in one transaction; one
//! made by an older build gets the files it lacks, as SQLite's migrations bring a file
//! forward; one from a newer build is refused. The data
//! keys (`keyring.rs`) and the journal stay in the data folder, on the machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

use postgres::Client;

use super::schema;
use super::tls::Target;
use crate::storage::engine::{Connection, Reconnect};
use crate::storage::group_commit::Writer;
use crate::storage::keyring::Keyring;
use crate::storage::reader::Reader;
use crate::storage::sqlite::{Connections, apply_cached};
use crate::storage::{Storage, StorageError, StorageOptions, blocking, sealing};

/// How long a connection attempt waits for a server that does not answer, unless the URL
/// says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Storage {
    /// Opens the storage on the PostgreSQL database at `url`. The data keys are kept where
    /// they would be beside the SQLite file `beside` (`database.path`), in the data folder
    /// that also holds the journal. The schema is created in an empty database.
    pub async fn open_postgres(
        url: &str,
        beside: &Path,
        options: StorageOptions,
    ) -> Result<Storage, StorageError> {
        let (url, beside) = (url.to_owned(), beside.to_owned());
        let connections = blocking(move || open_blocking(&url, &beside, &options)).await?;
        Ok(Storage::over(connections))
    }
}

fn open_blocking(
    url: &str,
    beside: &Path,
    options: &StorageOptions,
) -> Result<Connections, StorageError> {
    if let Some(dir) = beside.parent() {
        crate::storage::create_private_dir(dir)
            .map_err(|e| StorageError::Open { path: dir.to_owned(), source: e.into() })?;
    }
    let target = parse(url)?;
    let database = named(&target.config);
    let lock_timeout = options.busy_timeout;
    let mut writer =
        session(&target, lock_timeout, false).map_err(|e| connect_error(&database, &e))?;
    prepare_schema(&mut writer, &database)?;
    // The reader only ever reads: a slip is an error rather than a second writer.
    let reader = session(&target, lock_timeout, true).map_err(|e| connect_error(&database, &e))?;
    tracing::info!(database, tls = target.encrypted(), "the cases are kept in PostgreSQL");
    // After a restart or a failover the server has closed both sessions: each thread makes
    // its own again before its next transaction, instead of failing until the hotline is
    // restarted.
    let again = |read_only: bool| -> Reconnect {
        let target = target.clone();
        Box::new(move || session(&target, lock_timeout, read_only))
    };
    let writer = Connection::postgres(writer, Some(again(false)));
    let reader = Connection::postgres(reader, Some(again(true)));
    let file = beside.to_owned();
    let keyring = match &options.data_keys_secret {
        Some(secret) => Keyring::open(&file, secret, !sealing::holds_sealed(&writer)?)?,
        None => Keyring::locked(&file),
    };
    let started = |e: std::io::Error| StorageError::Open { path: file.clone(), source: e.into() };
    Ok(Connections {
        writer: Writer::start(writer, apply_cached, None).map_err(started)?,
        reader: Reader::start(reader).map_err(started)?,
        file: file.clone(),
        _checkpointer: None,
        keyring,
    })
}

/// The URL's settings, with a connect timeout unless it gives one. The message never repeats
/// the URL, which can hold a password.
fn parse(url: &str) -> Result<Target, StorageError> {
    Target::parse(url, CONNECT_TIMEOUT).map_err(|e| StorageError::Connect {
        database: "of database.url".into(),
        reason: e.reason(),
    })
}

/// A session on the server: a lock waited for longer than the busy timeout fails, as in
/// SQLite, and a reader's transactions can only read.
fn session(
    target: &Target,
    lock_timeout: Duration,
    read_only: bool,
) -> Result<Client, postgres::Error> {
    let mut client = target.connect()?;
    let millis = lock_timeout.as_millis();
    client.batch_execute(&format!("SET lock_timeout = {millis}"))?;
    if read_only {
        client.batch_execute("SET default_transaction_read_only = on")?;
    }
    Ok(client)
}

/// `host,host:port,port/database`, as messages name a database.
pub(super) fn named(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let name = config.get_dbname().or(config.get_user()).unwrap_or("?");
    format!("{}:{}/{name}", hosts.join(","), ports.join(","))
}

fn connect_error(database: &str, error: &postgres::Error) -> StorageError {
    StorageError::Connect { database: database.to_owned(), reason: reason(error) }
}

/// What went wrong, without a DETAIL line (it can quote a row).
fn reason(error: &postgres::Error) -> String {
    crate::storage::engine::describe(error)
}

/// Creates the schema in an empty database, brings one made by an older build forward, or
/// checks that the database is at this build's version. Under the writers' lock, so that two
/// instances starting together change it once.
fn prepare_schema(client: &mut Client, database: &str) -> Result<(), StorageError> {
    let failed = |e: postgres::Error| connect_error(database, &e);
    let refused = |e: schema::SchemaError| StorageError::Connect {
        database: database.to_owned(),
        reason: format!("its schema file {} was refused: {}", e.name, reason(&e.source)),
    };
    let mut tx = client.transaction().map_err(failed)?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({})",
        crate::storage::engine::WRITER_LOCK
    ))
    .map_err(failed)?;
    let known = schema::version();
    match schema::recorded_version(&mut tx).map_err(failed)? {
        Some(found) if found == i64::from(known) => return Ok(()),
        Some(found) if found > i64::from(known) => {
            return Err(StorageError::TooNew {
                path: PathBuf::from(database),
                found: u32::try_from(found).unwrap_or(u32::MAX),
                known,
            });
        }
        Some(found) => {
            let upgraded =
                u32::try_from(found).ok().and_then(|from| schema::upgrade(&mut tx, from));
            return match upgraded {
                Some(Ok(())) => {
                    tracing::info!(database, from = found, to = known, "schema brought forward");
                    tx.commit().map_err(failed)
                }
                Some(Err(e)) => Err(refused(e)),
                None => Err(StorageError::Connect {
                    database: database.to_owned(),
                    reason: format!(
                        "it is at schema version {found} and this build needs {known}: move it \
                         with the release that matches it, or through SQLite with migrate-db"
                    ),
                }),
            };
        }
        None => {}
    }
    let tables: i64 = tx
        .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[])
        .map_err(failed)?
        .get(0);
    if tables > 0 {
        return Err(StorageError::Connect {
            database: database.to_owned(),
            reason: format!(
                "it holds {tables} tables but no hotline schema: give the hotline an empty \
                 database of its own"
            ),
        });
    }
    schema::apply(&mut tx).map_err(refused)?;
    tx.commit().map_err(failed)
}
