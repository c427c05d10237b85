//! The copy of a whole hotline database from SQLite to PostgreSQL or back (`hotline
//! migrate-db`): every stored value moved as it is, so sealed text stays sealed and nothing is
//! opened (no key needed), in one transaction on the target, checked row by row against the
//! source before that transaction commits. Whatever fails, the target is left as it was: an
//! empty PostgreSQL database, or no SQLite file.
//!
//! The source is read in one snapshot (a read transaction on SQLite, REPEATABLE READ on
//! PostgreSQL): what a running server writes after it is not copied, so the server is stopped
//! first. Errors name a table, a row's primary key and a column, never a value: values are
//! about callers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, IsolationLevel};

use super::tls::Target;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::schema::{self, SchemaError, VERSION_TABLE};
use crate::storage::migrations::{latest_version, migrate, user_version};

/// How long a connection to PostgreSQL may take when the URL does not say
/// (`connect_timeout`): an unreachable server is reported instead of waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Endpoint {
    /// A URL whose scheme is `postgres` or `postgresql` (in any case) names PostgreSQL;
    /// anything else is an SQLite file's path.
    pub fn parse(text: &str) -> Endpoint {
        let scheme = text.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => Endpoint::Postgres(text.to_owned()),
            _ => Endpoint::Sqlite(PathBuf::from(text)),
        }
    }
}

/// What a copy moved.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferReport {
    /// Every table in the order it was copied (referenced tables first), with its rows.
    pub tables: Vec<TableCount>,
    /// How long the whole copy took, checks included.
    pub seconds: f64,
}

impl TransferReport {
    /// The rows of every table.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// The rows copied of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: String,
    /// Its rows, all of them copied and checked.
    pub rows: u64,
}

/// Why a copy was refused or failed. The target is untouched in every case. Messages name
/// tables, keys and columns, never a stored value, nor a URL's password.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Both sides are SQLite files.
    #[error(
        "both sides are SQLite files: to copy an SQLite database use `hotline backup`; \
         migrate-db moves one between SQLite and PostgreSQL"
    )]
    BothSqlite,
    /// Both sides are PostgreSQL databases.
    #[error(
        "both sides are PostgreSQL databases: copy one with PostgreSQL's own tools (pg_dump); \
         migrate-db moves one between SQLite and PostgreSQL"
    )]
    BothPostgres,
    /// The SQLite source does not exist.
    #[error("no database at {}: nothing to copy", shown(.0))]
    SourceMissing(PathBuf),
    /// The SQLite target exists already.
    #[error(
        "{} already exists: migrate-db creates the SQLite database itself and never \
         overwrites one; choose a new path",
        shown(.0)
    )]
    TargetExists(PathBuf),
    /// An SQLite file could not be opened, created or read.
    #[error("the SQLite database {}: {source}", shown(.path))]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The SQLite target could not be created.
    #[error("cannot create {}: {source}", shown(.path))]
    Create {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The new SQLite file could not be given the hotline's schema.
    #[error("{0}")]
    Migrate(#[source] crate::storage::StorageError),
    /// The SQLite source has an older schema than this build.
    #[error(
        "{} is at schema version {found}, this build's is {known}: start the hotline once \
         on it (it migrates), then copy",
        shown(.path)
    )]
    SourceTooOld {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// This build's.
        known: u32,
    },
    /// The SQLite source was made by a newer release.
    #[error(
        "{} is at schema version {found}, newer than this build's {known}: copy it with \
         the release that wrote it",
        shown(.path)
    )]
    SourceTooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// This build's.
        known: u32,
    },
    /// The PostgreSQL source is not at this build's schema version.
    #[error(
        "the PostgreSQL database {database} {}, this build's is {known}: copy it with the \
         release whose schema it has",
        match .found {
            Some(found) => format!("is at schema version {found}"),
            None => format!("has no {VERSION_TABLE} table: it was not made by the hotline"),
        }
    )]
    PostgresVersion {
        /// host:port/database.
        database: String,
        /// The version it records, if any.
        found: Option<i64>,
        /// This build's.
        known: u32,
    },
    /// The PostgreSQL URL does not parse.
    #[error(
        "not a PostgreSQL URL ({reason}): write postgres://USER@HOST:PORT/DATABASE, with \
         ?connect_timeout=SECONDS and the like after it"
    )]
    BadUrl {
        /// What the parser said (it never repeats the URL).
        reason: String,
    },
    /// PostgreSQL could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {database}: {reason}")]
    Connect {
        /// host:port/database.
        database: String,
        /// Why.
        reason: String,
    },
    /// The PostgreSQL target already holds tables.
    #[error(
        "the PostgreSQL database {database} is not empty ({tables} table(s) in schema public): \
         migrate-db fills an empty database only and touched nothing; create a new one \
         (createdb) or drop what is there"
    )]
    TargetNotEmpty {
        /// host:port/database.
        database: String,
        /// How many tables it holds.
        tables: i64,
    },
    /// The PostgreSQL schema files failed to apply.
    #[error("applying {name} to PostgreSQL failed: {reason}")]
    Schema {
        /// The file.
        name: &'static str,
        /// PostgreSQL's message.
        reason: String,
    },
    /// The two sides do not have the same tables or columns: different schema versions.
    #[error(
        "the two databases have different schemas ({what}): they come from different \
         versions of the hotline"
    )]
    SchemaDiffers {
        /// What differs.
        what: String,
    },
    /// A stored value cannot be copied as it is.
    #[error("table {table}, row {key}, column {column}: {problem}; nothing was copied")]
    Unrepresentable {
        /// The table.
        table: String,
        /// The row's primary key.
        key: String,
        /// The column.
        column: String,
        /// What is wrong with the value (never the value).
        problem: String,
    },
    /// The copy does not read back as the source: a bug, or a server that changed it.
    #[error("the copy of table {table} differs from the source: {what}; nothing was copied")]
    Differs {
        /// The table.
        table: String,
        /// Where (key and column).
        what: String,
    },
    /// PostgreSQL failed a statement.
    #[error("PostgreSQL, {doing}: {reason}")]
    Postgres {
        /// What the copy was doing.
        doing: String,
        /// PostgreSQL's message, without the detail lines that may quote a row.
        reason: String,
    },
}

/// Copies the database at `from` into `to`, which must be on the other engine: a new SQLite
/// file, or an empty PostgreSQL database. Blocking.
pub fn transfer(from: &Endpoint, to: &Endpoint) -> Result<TransferReport, TransferError> {
    match (from, to) {
        (Endpoint::Sqlite(_), Endpoint::Sqlite(_)) => Err(TransferError::BothSqlite),
        (Endpoint::Postgres(_), Endpoint::Postgres(_)) => Err(TransferError::BothPostgres),
        (Endpoint::Sqlite(source), Endpoint::Postgres(target)) => {
            sqlite_to_postgres(source, target)
        }
        (Endpoint::Postgres(source), Endpoint::Sqlite(target)) => {
            postgres_to_sqlite(source, target)
        }
    }
}

/// The type of a column, the same on both engines (`db/postgres/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Blob,
}

impl Kind {
    /// The kind of SQLite's declared type, of a hotline table (every one typed).
    fn of_sqlite(declared: &str) -> Option<Kind> {
        match declared.to_ascii_uppercase().as_str() {
            "INTEGER" => Some(Kind::Integer),
            "REAL" => Some(Kind::Real),
            "TEXT" => Some(Kind::Text),
            "BLOB" => Some(Kind::Blob),
            _ => None,
        }
    }

    /// The PostgreSQL type of the kind.
    fn postgres(self) -> Type {
        match self {
            Kind::Integer => Type::INT8,
            Kind::Real => Type::FLOAT8,
            Kind::Text => Type::TEXT,
            Kind::Blob => Type::BYTEA,
        }
    }

    /// The name `information_schema.columns.data_type` gives it.
    fn postgres_name(self) -> &'static str {
        match self {
            Kind::Integer => "bigint",
            Kind::Real => "double precision",
            Kind::Text => "text",
            Kind::Blob => "bytea",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Integer => "an integer",
            Kind::Real => "a real",
            Kind::Text => "a text",
            Kind::Blob => "a blob",
        }
    }
}

/// One stored value, of either engine. No `Debug`: it may be about a caller.
#[derive(Clone, PartialEq)]
enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Only the kind: the value may be about a caller.
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Value::Null => "NULL",
            Value::Integer(_) => "<integer>",
            Value::Real(_) => "<real>",
            Value::Text(_) => "<text>",
            Value::Blob(_) => "<blob>",
        })
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => i.to_sql(ty, out),
            Value::Real(r) => r.to_sql(ty, out),
            Value::Text(t) => t.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [Type::INT8, Type::FLOAT8, Type::TEXT, Type::BYTEA].contains(ty)
    }

    to_sql_checked!();
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// A value as SQLite stored it, before it is checked against its column.
enum Stored {
    Value(Value),
    /// Text that is not UTF-8, which neither PostgreSQL nor the hotline can read.
    BadText,
}

impl From<ValueRef<'_>> for Stored {
    fn from(value: ValueRef<'_>) -> Stored {
        Stored::Value(match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(text) => Value::Text(text.to_owned()),
                Err(_) => return Stored::BadText,
            },
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

/// A table as both engines have it.
struct Table {
    name: String,
    /// Every column copied, SQLite's hidden rowid included where PostgreSQL keeps it.
    columns: Vec<(String, Kind)>,
    /// The primary key's columns, as positions in `columns`.
    key: Vec<usize>,
}

impl Table {
    fn column_list(&self) -> String {
        let names: Vec<String> = self.columns.iter().map(|(name, _)| quoted(name)).collect();
        names.join(", ")
    }

    /// The rows in primary key order: text keys compare byte by byte on both engines
    /// (BINARY, `COLLATE "C"`), so both list them alike.
    fn select(&self) -> String {
        let key: Vec<String> = self.key.iter().map(|&i| quoted(&self.columns[i].0)).collect();
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.column_list(),
            quoted(&self.name),
            key.join(", ")
        )
    }

    /// The row's primary key, for a message: `id=42`, text escaped.
    fn key_of(&self, row: &[Value]) -> String {
        let mut text = String::new();
        for &i in &self.key {
            if !text.is_empty() {
                text.push_str(", ");
            }
            let _ = write!(text, "{}=", self.columns[i].0);
            let _ = match &row[i] {
                Value::Null => write!(text, "NULL"),
                Value::Integer(n) => write!(text, "{n}"),
                Value::Real(r) => write!(text, "{r}"),
                Value::Text(t) => write!(text, "\"{}\"", t.escape_debug()),
                Value::Blob(b) => write!(text, "<{} bytes>", b.len()),
            };
        }
        format!("({text})")
    }

    /// Checks a row read from SQLite against the columns, and that PostgreSQL can hold it.
    fn checked(&self, stored: Vec<Stored>) -> Result<Vec<Value>, TransferError> {
        let mut row = Vec::with_capacity(stored.len());
        let mut problems = Vec::new();
        for (i, value) in stored.into_iter().enumerate() {
            match value {
                Stored::Value(value) => row.push(value),
                Stored::BadText => {
                    row.push(Value::Null);
                    problems.push((i, "holds text that is not UTF-8".to_owned()));
                }
            }
        }
        for (i, ((_, kind), value)) in self.columns.iter().zip(&row).enumerate() {
            let problem = match (kind, value) {
                (_, Value::Null) => continue,
                (Kind::Text, Value::Text(t)) if t.contains('\0') => {
                    "holds the character U+0000 (NUL), which PostgreSQL text cannot hold".to_owned()
                }
                (Kind::Integer, Value::Integer(_))
                | (Kind::Real, Value::Real(_))
                | (Kind::Text, Value::Text(_))
                | (Kind::Blob, Value::Blob(_)) => continue,
                (kind, found) => format!(
                    "holds {} where the schema has {}",
                    match found {
                        Value::Integer(_) => Kind::Integer.word(),
                        Value::Real(_) => Kind::Real.word(),
                        Value::Text(_) => Kind::Text.word(),
                        _ => Kind::Blob.word(),
                    },
                    kind.word()
                ),
            };
            problems.push((i, problem));
        }
        match problems.into_iter().next() {
            None => Ok(row),
            Some((column, problem)) => Err(TransferError::Unrepresentable {
                table: self.name.clone(),
                key: self.key_of(&row),
                column: self.columns[column].0.clone(),
                problem,
            }),
        }
    }

    /// A row read from PostgreSQL, by the columns' kinds.
    fn read_postgres(&self, row: &postgres::Row) -> Result<Vec<Value>, postgres::Error> {
        let mut values = Vec::with_capacity(self.columns.len());
        for (i, (_, kind)) in self.columns.iter().enumerate() {
            values.push(
                match kind {
                    Kind::Integer => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
                    Kind::Real => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
                    Kind::Text => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
                    Kind::Blob => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
                }
                .unwrap_or(Value::Null),
            );
        }
        Ok(values)
    }
}

/// `name` as an SQL identifier, the same on both engines.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// PostgreSQL's message of a failure, without its DETAIL (which may quote a whole row).
fn postgres_reason(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let _ = write!(reason, ": {cause}");
                source = cause.source();
            }
            reason
        }
    }
}

/// A failure of PostgreSQL while doing `doing`.
fn pg(doing: impl Into<String>) -> impl FnOnce(postgres::Error) -> TransferError {
    let doing = doing.into();
    move |error| TransferError::Postgres { doing, reason: postgres_reason(&error) }
}

/// The longest name of a database or path in a message: both are typed by a person, and a
/// huge one must not flood the terminal.
const NAME_MOST_CHARS: usize = 200;

/// `name`, cut to [`NAME_MOST_CHARS`] characters.
fn shortened(name: &str) -> String {
    match name.char_indices().nth(NAME_MOST_CHARS) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

/// A path for a message, cut like a database's name.
fn shown(path: &Path) -> String {
    shortened(&path.display().to_string())
}

/// A connection, and how to name the database in messages (never with its password).
fn connect(url: &str) -> Result<(Client, String), TransferError> {
    let target = Target::parse(url, CONNECT_TIMEOUT)
        .map_err(|e| TransferError::BadUrl { reason: e.reason() })?;
    let database = shortened(&super::open::named(&target.config));
    let client = target.connect().map_err(|e| TransferError::Connect {
        database: database.clone(),
        reason: postgres_reason(&e),
    })?;
    Ok((client, database))
}

/// The hotline's tables in SQLite, without SQLite's own.
fn sqlite_tables(conn: &Connection) -> rusqlite::Result<BTreeSet<String>> {
    let mut statement = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'",
    )?;
    statement.query_map([], |row| row.get(0))?.collect()
}

/// The tables of schema public, without the version table.
fn postgres_tables(tx: &mut postgres::Transaction<'_>) -> Result<BTreeSet<String>, TransferError> {
    let rows = tx
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1",
            &[&VERSION_TABLE],
        )
        .map_err(pg("listing the tables"))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Both sides' tables, which must be the same.
fn same_tables(
    sqlite: BTreeSet<String>,
    postgres: &BTreeSet<String>,
) -> Result<BTreeSet<String>, TransferError> {
    if &sqlite == postgres {
        return Ok(sqlite);
    }
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
        a.difference(b).cloned().collect::<Vec<_>>().join(", ")
    };
    Err(TransferError::SchemaDiffers {
        what: format!(
            "tables only in SQLite: [{}]; only in PostgreSQL: [{}]",
            only(&sqlite, postgres),
            only(postgres, &sqlite)
        ),
    })
}

/// Tables whose rows the target's own triggers write while the others are copied (the
/// lengths of the waiting lines, from the conversations). They are copied last, over what
/// the triggers wrote, so that the copy holds the source's rows and not a recount.
const KEPT_BY_TRIGGERS: &[&str] = &["waiting_lines"];

/// The tables in an order where every table comes after those its foreign keys name
/// (a table naming itself, like an outbox row and the row it replaces, does not count), by
/// name among equals so that the order is always the same; those kept by triggers last.
fn foreign_key_order(
    conn: &Connection,
    path: &Path,
    tables: &BTreeSet<String>,
) -> Result<Vec<String>, TransferError> {
    let sqlite = |source| TransferError::Sqlite { path: path.to_owned(), source };
    let mut needs: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for table in tables {
        let mut statement =
            conn.prepare("SELECT \"table\" FROM pragma_foreign_key_list(?1)").map_err(sqlite)?;
        let referenced: BTreeSet<String> = statement
            .query_map([table], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(sqlite)?;
        needs.insert(table, referenced.into_iter().filter(|r| r != table).collect());
    }
    let mut order: Vec<String> = Vec::with_capacity(tables.len());
    while order.len() < tables.len() {
        let next = needs
            .iter()
            .find(|(table, referenced)| {
                !order.iter().any(|t| t == *table)
                    && referenced.iter().all(|r| order.contains(r) || !tables.contains(r))
            })
            .map(|(table, _)| (*table).to_owned());
        match next {
            Some(table) => order.push(table),
            None => {
                let left: Vec<&str> =
                    needs.keys().copied().filter(|t| !order.iter().any(|o| o == t)).collect();
                return Err(TransferError::SchemaDiffers {
                    what: format!("foreign keys go round in a circle among {}", left.join(", ")),
                });
            }
        }
    }
    order.sort_by_key(|table| KEPT_BY_TRIGGERS.contains(&table.as_str()));
    Ok(order)
}

/// A table's columns and key as SQLite has them, with its hidden rowid where PostgreSQL keeps
/// one as a `rowid` column; checked against PostgreSQL's columns.
fn describe(
    conn: &Connection,
    path: &Path,
    tx: &mut postgres::Transaction<'_>,
    name: &str,
) -> Result<Table, TransferError> {
    let sqlite = |source| TransferError::Sqlite { path: path.to_owned(), source };
    let mut statement = conn
        .prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(sqlite)?;
    let rows: Vec<(String, String, i64)> = statement
        .query_map([name], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .and_then(|rows| rows.collect())
        .map_err(sqlite)?;
    let differs = |what: String| TransferError::SchemaDiffers { what };
    let mut columns = Vec::new();
    let mut key: Vec<(i64, usize)> = Vec::new();
    for (i, (column, declared, pk)) in rows.into_iter().enumerate() {
        let kind = Kind::of_sqlite(&declared)
            .ok_or_else(|| differs(format!("{name}.{column} has SQLite type {declared:?}")))?;
        if pk > 0 {
            key.push((pk, i));
        }
        columns.push((column, kind));
    }
    key.sort_unstable();
    let mut key: Vec<usize> = key.into_iter().map(|(_, i)| i).collect();

    let found: BTreeMap<String, String> = tx
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1",
            &[&name],
        )
        .map_err(pg(format!("reading the columns of {name}")))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    if found.contains_key("rowid") && !columns.iter().any(|(c, _)| c == "rowid") {
        columns.push(("rowid".to_owned(), Kind::Integer));
    }
    if key.is_empty() {
        // Every hotline table has a primary key; without one, the rowid orders the rows.
        match columns.iter().position(|(c, _)| c == "rowid") {
            Some(rowid) => key.push(rowid),
            None => return Err(differs(format!("{name} has no primary key"))),
        }
    }
    let expected: BTreeMap<String, String> = columns
        .iter()
        .map(|(column, kind)| (column.clone(), kind.postgres_name().to_owned()))
        .collect();
    if expected != found {
        let show = |m: &BTreeMap<String, String>| {
            m.iter().map(|(c, t)| format!("{c} {t}")).collect::<Vec<_>>().join(", ")
        };
        return Err(differs(format!(
            "{name} has columns [{}] in SQLite, [{}] in PostgreSQL",
            show(&expected),
            show(&found)
        )));
    }
    Ok(Table { name: name.to_owned(), columns, key })
}

/// Compares two row streams of `table` row by row, value by value.
fn compare(
    table: &Table,
    mut source: impl Iterator<Item = Result<Vec<Value>, TransferError>>,
    mut target: impl Iterator<Item = Result<Vec<Value>, TransferError>>,
) -> Result<u64, TransferError> {
    let differs = |what: String| TransferError::Differs { table: table.name.clone(), what };
    let mut rows = 0;
    loop {
        match (source.next().transpose()?, target.next().transpose()?) {
            (None, None) => return Ok(rows),
            (Some(row), None) => {
                return Err(differs(format!("row {} is missing", table.key_of(&row))));
            }
            (None, Some(row)) => {
                return Err(differs(format!("row {} is not in the source", table.key_of(&row))));
            }
            (Some(a), Some(b)) => {
                if let Some(i) = (0..table.columns.len()).find(|&i| a[i] != b[i]) {
                    let what = if table.key.contains(&i) {
                        format!("row {} is missing", table.key_of(&a))
                    } else {
                        format!("row {}, column {}", table.key_of(&a), table.columns[i].0)
                    };
                    return Err(differs(what));
                }
                rows += 1;
            }
        }
    }
}

/// The rows of `table` in SQLite, checked against its columns.
fn sqlite_rows<'s>(
    statement: &'s mut rusqlite::Statement<'_>,
    table: &'s Table,
    path: &'s Path,
) -> Result<impl Iterator<Item = Result<Vec<Value>, TransferError>> + 's, TransferError> {
    let width = table.columns.len();
    let rows = statement
        .query_map([], move |row| {
            (0..width)
                .map(|i| row.get_ref(i).map(Stored::from))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|source| TransferError::Sqlite { path: path.to_owned(), source })?;
    Ok(rows.map(move |row| {
        row.map_err(|source| TransferError::Sqlite { path: path.to_owned(), source })
            .and_then(|stored| table.checked(stored))
    }))
}

/// The rows of `table` in PostgreSQL.
fn postgres_rows<'t>(
    tx: &'t mut postgres::Transaction<'_>,
    table: &'t Table,
) -> Result<impl Iterator<Item = Result<Vec<Value>, TransferError>> + 't, TransferError> {
    let reading = format!("reading {}", table.name);
    let rows = tx
        .query_raw(&table.select(), std::iter::empty::<&(dyn ToSql + Sync)>())
        .map_err(pg(reading.clone()))?;
    Ok(rows
        .iterator()
        .map(move |row| row.and_then(|row| table.read_postgres(&row)).map_err(pg(reading.clone()))))
}

/// SQLite → PostgreSQL.
fn sqlite_to_postgres(source: &Path, url: &str) -> Result<TransferReport, TransferError> {
    let started = Instant::now();
    let sqlite =
        |source_error| TransferError::Sqlite { path: source.to_owned(), source: source_error };
    if !source.is_file() {
        return Err(TransferError::SourceMissing(source.to_owned()));
    }
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
    // One read transaction: every table is read at the same moment of the database.
    conn.execute_batch("BEGIN").map_err(sqlite)?;
    let found = user_version(&conn).map_err(sqlite)?;
    let known = latest_version();
    if found < known {
        return Err(TransferError::SourceTooOld { path: source.to_owned(), found, known });
    }
    if found > known {
        return Err(TransferError::SourceTooNew { path: source.to_owned(), found, known });
    }
    let tables = sqlite_tables(&conn).map_err(sqlite)?;

    let (mut client, database) = connect(url)?;
    let mut tx = client.transaction().map_err(pg("starting a transaction"))?;
    let present: i64 = tx
        .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[])
        .map_err(pg("looking at the target"))?
        .get(0);
    if present > 0 {
        return Err(TransferError::TargetNotEmpty { database, tables: present });
    }
    schema::apply(&mut tx).map_err(|SchemaError { name, source }| TransferError::Schema {
        name,
        reason: postgres_reason(&source),
    })?;
    let tables = same_tables(tables, &postgres_tables(&mut tx)?)?;
    let order = foreign_key_order(&conn, source, &tables)?;
    let mut described = Vec::with_capacity(order.len());
    for name in &order {
        described.push(describe(&conn, source, &mut tx, name)?);
    }

    for table in &described {
        let mut statement = conn.prepare(&table.select()).map_err(sqlite)?;
        let copying = format!("copying {}", table.name);
        if KEPT_BY_TRIGGERS.contains(&table.name.as_str()) {
            tx.execute(&format!("DELETE FROM {}", quoted(&table.name)), &[])
                .map_err(pg(copying.clone()))?;
        }
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                quoted(&table.name),
                table.column_list()
            ))
            .map_err(pg(copying.clone()))?;
        let types: Vec<Type> = table.columns.iter().map(|(_, kind)| kind.postgres()).collect();
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        for row in sqlite_rows(&mut statement, table, source)? {
            let row = row?;
            let values: Vec<&(dyn ToSql + Sync)> =
                row.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            writer.write(&values).map_err(pg(copying.clone()))?;
        }
        writer.finish().map_err(pg(copying))?;
    }
    set_identities(&mut tx)?;

    let mut counts = Vec::with_capacity(described.len());
    for table in &described {
        let mut statement = conn.prepare(&table.select()).map_err(sqlite)?;
        let source_rows = sqlite_rows(&mut statement, table, source)?;
        let rows = compare(table, source_rows, postgres_rows(&mut tx, table)?)?;
        counts.push(TableCount { table: table.name.clone(), rows });
    }
    tx.commit().map_err(pg("committing"))?;
    Ok(TransferReport { tables: counts, seconds: started.elapsed().as_secs_f64() })
}

/// Moves every identity past the largest id copied (a copy gives ids itself, which does not
/// move an identity), and never below where the schema starts it (users at 101).
fn set_identities(tx: &mut postgres::Transaction<'_>) -> Result<(), TransferError> {
    let identities = tx
        .query(
            "SELECT table_name::text, column_name::text, identity_start::bigint
             FROM information_schema.columns
             WHERE table_schema = 'public' AND is_identity = 'YES'",
            &[],
        )
        .map_err(pg("listing the identities"))?;
    for row in identities {
        let (table, column, start): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), max({column}))
                 FROM {table} HAVING max({column}) >= $3",
                column = quoted(&column),
                table = quoted(&table)
            ),
            &[&quoted(&table), &column, &start],
        )
        .map_err(pg(format!("moving the identity of {table}.{column}")))?;
    }
    Ok(())
}

/// Removes a new SQLite file and its companions unless the copy into it committed.
struct NewFile<'p> {
    path: &'p Path,
    keep: bool,
}

impl Drop for NewFile<'_> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = self.path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
}

/// PostgreSQL → SQLite.
fn postgres_to_sqlite(url: &str, target: &Path) -> Result<TransferReport, TransferError> {
    let started = Instant::now();
    let sqlite = |source| TransferError::Sqlite { path: target.to_owned(), source };
    if target.symlink_metadata().is_ok() {
        return Err(TransferError::TargetExists(target.to_owned()));
    }
    let (mut client, database) = connect(url)?;
    // One snapshot of the whole database, and a promise to write nothing.
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(pg("starting a transaction"))?;
    let known = latest_version();
    let found = schema::recorded_version(&mut tx).map_err(pg("reading the schema version"))?;
    if found != Some(i64::from(known)) {
        return Err(TransferError::PostgresVersion { database, found, known });
    }

    if let Some(dir) = target.parent() {
        crate::storage::create_private_dir(dir)
            .map_err(|source| TransferError::Create { path: target.to_owned(), source })?;
    }
    // Readable by its owner only, as the hotline creates its database.
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(target).map_err(
        |source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => TransferError::TargetExists(target.to_owned()),
            _ => TransferError::Create { path: target.to_owned(), source },
        },
    )?;
    let mut file = NewFile { path: target, keep: false };
    let mut conn = Connection::open(target).map_err(sqlite)?;
    migrate(&mut conn, target).map_err(TransferError::Migrate)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(sqlite)?;

    let tables = same_tables(sqlite_tables(&conn).map_err(sqlite)?, &postgres_tables(&mut tx)?)?;
    let order = foreign_key_order(&conn, target, &tables)?;
    let mut described = Vec::with_capacity(order.len());
    for name in &order {
        described.push(describe(&conn, target, &mut tx, name)?);
    }

    let write = conn.transaction().map_err(sqlite)?;
    // A row may name one later in its own table (an outbox row the one it replaces): the
    // foreign keys are checked at the commit, over the whole copy.
    write.pragma_update(None, "defer_foreign_keys", true).map_err(sqlite)?;
    for table in &described {
        if KEPT_BY_TRIGGERS.contains(&table.name.as_str()) {
            write.execute(&format!("DELETE FROM {}", quoted(&table.name)), []).map_err(sqlite)?;
        }
        let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
        let mut insert = write
            .prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quoted(&table.name),
                table.column_list(),
                marks.join(", ")
            ))
            .map_err(sqlite)?;
        for row in postgres_rows(&mut tx, table)? {
            insert.execute(rusqlite::params_from_iter(row?)).map_err(sqlite)?;
        }
    }
    let mut counts = Vec::with_capacity(described.len());
    for table in &described {
        let mut statement = write.prepare(&table.select()).map_err(sqlite)?;
        let copied = sqlite_rows(&mut statement, table, target)?;
        let rows = compare(table, postgres_rows(&mut tx, table)?, copied)?;
        counts.push(TableCount { table: table.name.clone(), rows });
    }
    write.commit().map_err(sqlite)?;
    drop(conn);
    file.keep = true;
    Ok(TransferReport { tables: counts, seconds: started.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_postgresql_and_anything_else_a_file() {
        for url in ["postgres://u@h/db", "postgresql://h:5432/db?x=1", "POSTGRES://h/db"] {
            assert_eq!(Endpoint::parse(url), Endpoint::Postgres(url.to_owned()), "{url}");
        }
        for file in ["hotline.db", "", "/var/lib/hotline/hotline.db", "postgres:/x", "mysql://h/db"]
        {
            assert_eq!(Endpoint::parse(file), Endpoint::Sqlite(PathBuf::from(file)), "{file}");
        }
    }

    /// The hotline's schema, as a new database has it.
    fn hotline_schema() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        conn
    }

    #[test]
    fn every_table_comes_after_the_tables_it_names() {
        let conn = hotline_schema();
        let tables = sqlite_tables(&conn).unwrap();
        let order = foreign_key_order(&conn, Path::new(":memory:"), &tables).unwrap();
        assert_eq!(order.iter().cloned().collect::<BTreeSet<_>>(), tables);
        assert_eq!(order.len(), tables.len());
        let mut checked = 0;
        for (position, table) in order.iter().enumerate() {
            let mut statement =
                conn.prepare("SELECT \"table\" FROM pragma_foreign_key_list(?1)").unwrap();
            let named: Vec<String> = statement
                .query_map([table], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for other in named.iter().filter(|other| *other != table) {
                let at = order.iter().position(|t| t == other).unwrap();
                assert!(at < position, "{table} comes before {other}, which it names");
                checked += 1;
            }
        }
        assert!(checked > 20, "the foreign keys were not read: {checked}");
        assert!(order.iter().position(|t| t == "users") < order.iter().position(|t| t == "cases"));
        // What the triggers keep comes after everything that fires them.
        assert_eq!(order.last().map(String::as_str), Some("waiting_lines"));
    }

    #[test]
    fn foreign_keys_in_a_circle_are_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, b INTEGER REFERENCES b (id));
             CREATE TABLE b (id INTEGER PRIMARY KEY, a INTEGER REFERENCES a (id));",
        )
        .unwrap();
        let tables = sqlite_tables(&conn).unwrap();
        let refused = foreign_key_order(&conn, Path::new(":memory:"), &tables).unwrap_err();
        assert!(refused.to_string().contains("in a circle among a, b"), "{refused}");
    }

    fn testers() -> Table {
        Table {
            name: "script_testers".into(),
            columns: vec![
                ("caller_hash".into(), Kind::Text),
                ("label".into(), Kind::Text),
                ("rowid".into(), Kind::Integer),
            ],
            key: vec![0],
        }
    }

    fn text(t: &str) -> Stored {
        Stored::Value(Value::Text(t.into()))
    }

    #[test]
    fn a_value_postgresql_cannot_hold_is_named_by_table_key_and_column_never_shown() {
        let table = testers();
        let ok = table.checked(vec![text("h"), text("label"), Stored::Value(Value::Integer(3))]);
        assert!(ok.is_ok());
        let secret = "call me on +79161234567";
        let cases = [
            (
                vec![text("h1"), text(&format!("{secret}\0")), Stored::Value(Value::Null)],
                "label",
                "U+0000",
            ),
            (vec![text("h2"), Stored::BadText, Stored::Value(Value::Null)], "label", "not UTF-8"),
            (
                vec![text("h3"), text(secret), text(secret)],
                "rowid",
                "holds a text where the schema has an integer",
            ),
            (
                vec![
                    text("h4"),
                    Stored::Value(Value::Blob(secret.into())),
                    Stored::Value(Value::Integer(1)),
                ],
                "label",
                "a blob",
            ),
        ];
        for (row, column, words) in cases {
            let error = table.checked(row).err().unwrap().to_string();
            assert!(error.contains(&format!("column {column}:")), "{error}");
            assert!(error.contains(words), "{error}");
            assert!(error.starts_with("table script_testers, row (caller_hash=\"h"), "{error}");
            assert!(!error.contains("1234567"), "a value shown: {error}");
        }
        // A key that holds odd characters is shown escaped, on one line.
        let error = table
            .checked(vec![text("a\nb\0\u{202e}"), text("\0"), Stored::Value(Value::Null)])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains(r#"(caller_hash="a\nb\0\u{202e}")"#), "{error}");
    }

    #[test]
    fn rows_that_differ_are_named_by_key_and_column() {
        let table = testers();
        let row = |hash: &str, label: &str| -> Result<Vec<Value>, TransferError> {
            Ok(vec![Value::Text(hash.into()), Value::Text(label.into()), Value::Integer(1)])
        };
        let same = compare(
            &table,
            [row("a", "x"), row("b", "y")].into_iter(),
            [row("a", "x"), row("b", "y")].into_iter(),
        );
        assert_eq!(same.unwrap(), 2);
        let cases = [
            (
                vec![row("a", "x")],
                vec![row("a", "secret")],
                "row (caller_hash=\"a\"), column label",
            ),
            (
                vec![row("a", "x"), row("b", "y")],
                vec![row("a", "x")],
                "row (caller_hash=\"b\") is missing",
            ),
            (
                vec![row("a", "x")],
                vec![row("a", "x"), row("c", "z")],
                "row (caller_hash=\"c\") is not in the source",
            ),
            (vec![row("a", "x")], vec![row("b", "x")], "row (caller_hash=\"a\") is missing"),
        ];
        for (source, target, words) in cases {
            let error =
                compare(&table, source.into_iter(), target.into_iter()).unwrap_err().to_string();
            assert!(error.contains(words), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
        let integer = |n: i64| Ok(vec![Value::Text("a".into()), Value::Null, Value::Integer(n)]);
        let real = Ok(vec![Value::Text("a".into()), Value::Null, Value::Real(1.0)]);
        assert!(
            compare(&table, [integer(1)].into_iter(), [real].into_iter()).is_err(),
            "1 is not 1.0"
        );
        assert!(compare(&table, [integer(1)].into_iter(), [integer(2)].into_iter()).is_err());
    }

    #[test]
    fn a_value_in_debug_output_shows_its_kind_only() {
        let shown = format!("{:?}", vec![Value::Text("+79161234567".into()), Value::Integer(42)]);
        assert_eq!(shown, "[<text>, <integer>]");
    }

    #[test]
    fn a_huge_database_name_is_cut_in_messages() {
        assert_eq!(shortened("hotline"), "hotline");
        let cut = shortened(&"я".repeat(100_000));
        assert_eq!(cut.chars().count(), NAME_MOST_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn the_postgresql_schema_is_at_the_version_of_sqlites() {
        assert_eq!(schema::version(), latest_version());
    }
}
