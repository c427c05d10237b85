//! The one connection type the storage code speaks SQL through, whichever engine is behind it:
//! the embedded SQLite file (rusqlite) or a PostgreSQL server (the `postgres` client).
//!
//! Its shape is rusqlite's — `prepare_cached`, `query_row`, `query_map`, transactions that
//! roll back when dropped, `row.get(i)` — so that the SQL of every module reads the same for
//! both engines, and the SQLite path stays what it was: statements, parameters and values go
//! straight to rusqlite.
//!
//! For PostgreSQL the same calls are translated, and only these:
//! - Placeholders: `?N` (and a bare `?`, numbered in order) become `$N`. Statements are
//!   prepared once per connection and kept, as `prepare_cached` does for SQLite.
//! - Values cross as SQLite's five storage classes ([`Value`]): a parameter is turned into
//!   the type PostgreSQL inferred for its place (a BIGINT, a BOOLEAN, TEXT…), and a column
//!   comes back as the class SQLite would have given it (a BOOLEAN as 0 or 1), then goes
//!   through rusqlite's own conversions. A Rust type reads the same from either engine.
//! - Transactions: a read transaction is `REPEATABLE READ`, the snapshot a read gets in
//!   SQLite's WAL mode. An IMMEDIATE one first takes one advisory lock, so writers of every
//!   hotline instance on the database run one at a time, as SQLite's writers do: every
//!   "check, then change" the storage code does inside such a transaction stays correct
//!   across instances without being rewritten.
//!
//! - Three SQLite functions the storage's SQL uses on JSON text and times are written in
//!   PostgreSQL's terms (`sqlite_functions`): `json_extract(x, '$.key')` (the member as
//!   text), `json_set(x, '$.key', v)` and `julianday(x)`.
//!
//! Where the engines' SQL differs beyond that (booleans used as numbers, the hidden rowid),
//! the caller holds the two texts and asks [`Connection::engine`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use postgres::types::{IsNull, ToSql as PgToSql, Type, to_sql_checked};

pub(super) use rusqlite::types::{Value, ValueRef};
pub(super) use rusqlite::{ToSql, params};

/// The key of the advisory lock every IMMEDIATE transaction takes on PostgreSQL: any number
/// no other program on the database uses; these are "hotline" in ASCII.
pub(super) const WRITER_LOCK: i64 = 0x0068_6f74_6c69_6e65;

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// What went wrong in the engine.
#[derive(Debug)]
pub enum Error {
    /// SQLite's own error.
    Sqlite(rusqlite::Error),
    /// PostgreSQL's (or its connection's); shared, so that every member of a failed group
    /// can be told the same error.
    Postgres(Arc<postgres::Error>),
    /// A statement expected to return a row returned none.
    QueryReturnedNoRows,
    /// A value could not be turned into what the engine or the Rust type needs.
    Conversion(String),
}

/// The engine's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(error) => error.fmt(f),
            Error::Postgres(error) => f.write_str(&describe(error)),
            Error::QueryReturnedNoRows => f.write_str("query returned no rows"),
            Error::Conversion(what) => write!(f, "cannot convert a value: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(error) => Some(error),
            Error::Postgres(error) => Some(&**error),
            Error::QueryReturnedNoRows | Error::Conversion(_) => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        match error {
            rusqlite::Error::QueryReturnedNoRows => Error::QueryReturnedNoRows,
            other => Error::Sqlite(other),
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(error: postgres::Error) -> Self {
        Error::Postgres(Arc::new(error))
    }
}

/// What PostgreSQL's error says: the server's message without its DETAIL, which may quote a
/// row's values, or the client's own reason (a parameter it could not send, a lost session).
pub(super) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(reason) => format!("{error}: {reason}"),
            None => error.to_string(),
        },
    }
}

/// `.optional()` on a single-row result, as rusqlite's extension has it: no row is `None`.
pub(super) trait OptionalExtension<T> {
    /// The row's value, `None` if there was no row, or the error.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// A statement's parameters: `params![…]`, an array of one type, or `()` for none.
pub(super) trait Params {
    /// The parameters in order.
    fn values(&self) -> Vec<&dyn ToSql>;
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.to_vec()
    }
}

impl<const N: usize> Params for &[&dyn ToSql; N] {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.to_vec()
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.iter().map(|value| value as &dyn ToSql).collect()
    }
}

impl Params for () {
    fn values(&self) -> Vec<&dyn ToSql> {
        Vec::new()
    }
}

/// Parameters gathered at run time, like rusqlite's `params_from_iter`.
pub(super) struct ParamsFromIter<T>(Vec<T>);

/// The parameters `values` yields, in order.
pub(super) fn params_from_iter<T: ToSql>(values: impl IntoIterator<Item = T>) -> ParamsFromIter<T> {
    ParamsFromIter(values.into_iter().collect())
}

impl<T: ToSql> Params for ParamsFromIter<T> {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.0.iter().map(|value| value as &dyn ToSql).collect()
    }
}

/// How a transaction begins, as SQLite names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TransactionBehavior {
    /// Reads see one snapshot; the first write takes the write lock (SQLite) or nothing more
    /// (PostgreSQL: such transactions are for reading).
    Deferred,
    /// The writers' lock is taken at once: writers run one at a time.
    Immediate,
}

/// A connection to either engine.
pub(crate) struct Connection {
    engine: Inner,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(PgConnection),
}

/// A PostgreSQL client with its prepared statements, behind `RefCell`s because the storage
/// code, like rusqlite, runs statements through shared references.
pub(super) struct PgConnection {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
    in_transaction: Cell<bool>,
    /// Makes a new session when the server closed this one (a restart, a failover); none
    /// for a connection that must not outlive its session.
    reconnect: Option<Reconnect>,
}

/// How a connection to PostgreSQL is made again.
pub(super) type Reconnect = Box<dyn Fn() -> Result<postgres::Client, postgres::Error> + Send>;

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("engine", &self.engine()).finish_non_exhaustive()
    }
}

impl From<rusqlite::Connection> for Connection {
    fn from(conn: rusqlite::Connection) -> Self {
        Connection { engine: Inner::Sqlite(conn) }
    }
}

impl From<postgres::Client> for Connection {
    fn from(client: postgres::Client) -> Self {
        Connection::postgres(client, None)
    }
}

impl Connection {
    /// A connection to PostgreSQL that, when the server has closed its session, makes a new
    /// one with `reconnect` before its next transaction or statement. Never inside a
    /// transaction: what follows a lost session there fails, and the transaction with it.
    pub(super) fn postgres(client: postgres::Client, reconnect: Option<Reconnect>) -> Connection {
        Connection {
            engine: Inner::Postgres(PgConnection {
                client: RefCell::new(client),
                statements: RefCell::new(HashMap::new()),
                in_transaction: Cell::new(false),
                reconnect,
            }),
        }
    }
}

impl Connection {
    /// Which engine this is.
    pub(super) fn engine(&self) -> Engine {
        match &self.engine {
            Inner::Sqlite(_) => Engine::Sqlite,
            Inner::Postgres(_) => Engine::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, checkpoints, backups, hooks);
    /// `None` on PostgreSQL.
    pub(super) fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.engine {
            Inner::Sqlite(conn) => Some(conn),
            Inner::Postgres(_) => None,
        }
    }

    /// [`Connection::sqlite`], to change it.
    pub(super) fn sqlite_mut(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.engine {
            Inner::Sqlite(conn) => Some(conn),
            Inner::Postgres(_) => None,
        }
    }

    /// The statement `sql`, prepared once per connection and kept for the next time.
    pub(super) fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        match &self.engine {
            Inner::Sqlite(conn) => Ok(Statement::Sqlite(conn.prepare_cached(sql)?)),
            Inner::Postgres(pg) => {
                let statement = pg.prepare_cached(sql)?;
                Ok(Statement::Postgres { conn: pg, statement })
            }
        }
    }

    /// The statement `sql`, prepared for this use only: for SQL built at run time, which
    /// would fill the cache with texts used once.
    pub(super) fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        match &self.engine {
            Inner::Sqlite(conn) => Ok(Statement::SqliteOnce(conn.prepare(sql)?)),
            Inner::Postgres(pg) => {
                let statement = pg.client()?.prepare(&translated(sql))?;
                Ok(Statement::Postgres { conn: pg, statement })
            }
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub(super) fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs one statement and maps its first row; [`Error::QueryReturnedNoRows`] without one.
    pub(super) fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, map)
    }

    /// Runs statements separated by semicolons, without parameters or results.
    pub(super) fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(pg) => Ok(pg.client()?.batch_execute(sql)?),
        }
    }

    /// The id the last insert into a table with a generated id was given.
    pub(super) fn last_insert_rowid(&self) -> Result<i64> {
        match &self.engine {
            Inner::Sqlite(conn) => Ok(conn.last_insert_rowid()),
            // An identity draws from a sequence; lastval() is this session's last draw.
            Inner::Postgres(_) => self.query_row("SELECT lastval()", (), |row| row.get(0)),
        }
    }

    /// Whether no transaction is open.
    pub(super) fn is_autocommit(&self) -> bool {
        match &self.engine {
            Inner::Sqlite(conn) => conn.is_autocommit(),
            Inner::Postgres(pg) => !pg.in_transaction.get(),
        }
    }

    /// Begins a transaction by hand, for a connection that keeps one open between calls (the
    /// reader); [`Connection::transaction`] is the usual way.
    pub(super) fn begin(&self, behavior: TransactionBehavior) -> Result<()> {
        match &self.engine {
            Inner::Sqlite(conn) => run_cached(
                conn,
                match behavior {
                    TransactionBehavior::Deferred => "BEGIN DEFERRED",
                    TransactionBehavior::Immediate => "BEGIN IMMEDIATE",
                },
            )?,
            Inner::Postgres(pg) => {
                let mut client = pg.client()?;
                match behavior {
                    TransactionBehavior::Deferred => {
                        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")?
                    }
                    TransactionBehavior::Immediate => {
                        let locked = client.batch_execute(&format!(
                            "BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
                        ));
                        if let Err(error) = locked {
                            // The transaction began but the lock was not had (a lock timeout,
                            // a cancel): end it, or every later statement would be refused.
                            let _ = client.batch_execute("ROLLBACK");
                            return Err(error.into());
                        }
                    }
                }
                pg.in_transaction.set(true);
            }
        }
        Ok(())
    }

    /// Ends the open transaction, keeping what it wrote (`commit`) or not.
    pub(super) fn end(&self, commit: bool) -> Result<()> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        match &self.engine {
            Inner::Sqlite(conn) => run_cached(conn, sql),
            Inner::Postgres(pg) => {
                // On the session the transaction ran in, never a new one: a COMMIT there
                // would succeed, committing nothing. Whatever the outcome, the server has no
                // transaction open afterwards (a failed COMMIT rolls back), or the session
                // is gone.
                let ended = pg.client.borrow_mut().batch_execute(sql);
                pg.in_transaction.set(false);
                Ok(ended?)
            }
        }
    }

    /// A deferred transaction: see [`TransactionBehavior::Deferred`].
    pub(super) fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.transaction_with_behavior(TransactionBehavior::Deferred)
    }

    /// A transaction begun as `behavior` says; dropped without [`Transaction::commit`], it
    /// rolls back.
    pub(super) fn transaction_with_behavior(
        &mut self,
        behavior: TransactionBehavior,
    ) -> Result<Transaction<'_>> {
        self.begin(behavior)?;
        Ok(Transaction { conn: self, open: true })
    }
}

/// Runs one statement without parameters or results from the connection's cache: a group
/// commit's `BEGIN` and `COMMIT` are parsed once, not at every group.
fn run_cached(conn: &rusqlite::Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute(())?;
    Ok(())
}

impl PgConnection {
    /// The client, connected again first if the server closed its session outside a
    /// transaction.
    fn client(&self) -> Result<std::cell::RefMut<'_, postgres::Client>> {
        let mut client = self.client.borrow_mut();
        if client.is_closed()
            && !self.in_transaction.get()
            && let Some(reconnect) = &self.reconnect
        {
            *client = reconnect()?;
            // Statements were prepared in the old session.
            self.statements.borrow_mut().clear();
        }
        Ok(client)
    }

    fn prepare_cached(&self, sql: &str) -> Result<postgres::Statement> {
        // The session first: one made again has forgotten the statements kept from the old.
        let mut client = self.client()?;
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(&translated(sql))?;
        self.statements.borrow_mut().insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// The session a statement was prepared in, never a new one: the statement means
    /// nothing there. If it is gone the statement fails as a lost connection, and the next
    /// is prepared on a new session.
    fn session(&self) -> std::cell::RefMut<'_, postgres::Client> {
        self.client.borrow_mut()
    }

    fn params(values: &[&dyn ToSql]) -> Result<Vec<PgValue>> {
        values
            .iter()
            .map(|value| match value.to_sql()? {
                rusqlite::types::ToSqlOutput::Borrowed(value) => Ok(PgValue(value.into())),
                rusqlite::types::ToSqlOutput::Owned(value) => Ok(PgValue(value)),
                other => Err(Error::Conversion(format!("unsupported parameter {other:?}"))),
            })
            .collect()
    }

    fn execute(&self, statement: &postgres::Statement, values: &[&dyn ToSql]) -> Result<usize> {
        let params = PgConnection::params(values)?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn postgres::types::ToSql + Sync)).collect();
        let changed = self.session().execute(statement, &refs)?;
        usize::try_from(changed).map_err(|_| Error::Conversion(format!("{changed} rows")))
    }

    fn query(
        &self,
        statement: &postgres::Statement,
        values: &[&dyn ToSql],
    ) -> Result<Vec<postgres::Row>> {
        let params = PgConnection::params(values)?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn postgres::types::ToSql + Sync)).collect();
        Ok(self.session().query(statement, &refs)?)
    }
}

/// A transaction; dropped without [`Transaction::commit`], it rolls back. It dereferences to
/// its connection, so everything that takes a `&Connection` runs inside it.
pub(crate) struct Transaction<'c> {
    conn: &'c Connection,
    open: bool,
}

impl Transaction<'_> {
    /// Keeps what the transaction wrote.
    pub(super) fn commit(mut self) -> Result<()> {
        self.open = false;
        let committed = self.conn.end(true);
        // A COMMIT that fails (a deferred constraint, a full disk) may leave the transaction
        // open in SQLite: it is rolled back, as a dropped transaction would be.
        if committed.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.end(false);
        }
        committed
    }

    /// Drops what the transaction wrote.
    pub(super) fn rollback(mut self) -> Result<()> {
        self.open = false;
        self.conn.end(false)
    }

    /// Ends a transaction that only read.
    pub(super) fn finish(self) -> Result<()> {
        self.rollback()
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // SQLite may have rolled back by itself (an I/O error, a full disk).
        if self.open
            && !self.conn.is_autocommit()
            && let Err(error) = self.conn.end(false)
        {
            tracing::error!(%error, "could not roll back a transaction");
        }
    }
}

/// A prepared statement.
pub(super) enum Statement<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    SqliteOnce(rusqlite::Statement<'c>),
    Postgres { conn: &'c PgConnection, statement: postgres::Statement },
}

/// What a prepared statement runs on, whichever way SQLite's was prepared.
enum Prepared<'s, 'c> {
    Sqlite(&'s mut rusqlite::Statement<'c>),
    Postgres(&'c PgConnection, &'s postgres::Statement),
}

impl<'c> Statement<'c> {
    fn prepared(&mut self) -> Prepared<'_, 'c> {
        match self {
            Statement::Sqlite(statement) => Prepared::Sqlite(statement),
            Statement::SqliteOnce(statement) => Prepared::Sqlite(statement),
            Statement::Postgres { conn, statement } => Prepared::Postgres(conn, statement),
        }
    }

    /// Runs the statement; the number of rows it changed.
    pub(super) fn execute(&mut self, params: impl Params) -> Result<usize> {
        let values = params.values();
        match self.prepared() {
            Prepared::Sqlite(statement) => Ok(statement.execute(sqlite_params(values))?),
            Prepared::Postgres(conn, statement) => conn.execute(statement, &values),
        }
    }

    /// Maps the first row; [`Error::QueryReturnedNoRows`] without one.
    pub(super) fn query_row<T>(
        &mut self,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let values = params.values();
        match self.prepared() {
            Prepared::Sqlite(statement) => {
                let mut rows = statement.query(sqlite_params(values))?;
                let row = rows.next()?.ok_or(Error::QueryReturnedNoRows)?;
                map(&Row::Sqlite(row))
            }
            Prepared::Postgres(conn, statement) => {
                let rows = conn.query(statement, &values)?;
                let row = rows.first().ok_or(Error::QueryReturnedNoRows)?;
                map(&Row::Postgres(row))
            }
        }
    }

    /// Whether the statement returns a row.
    pub(super) fn exists(&mut self, params: impl Params) -> Result<bool> {
        self.query_row(params, |_| Ok(())).optional().map(|row| row.is_some())
    }

    /// Maps every row, in order. SQLite's rows are read as the iterator goes; PostgreSQL's
    /// arrive together.
    pub(super) fn query_map<'s, T, F>(
        &'s mut self,
        params: impl Params,
        mut map: F,
    ) -> Result<Box<dyn Iterator<Item = Result<T>> + 's>>
    where
        F: FnMut(&Row<'_>) -> Result<T> + 's,
        T: 's,
    {
        let values = params.values();
        let statement = match self.prepared() {
            Prepared::Sqlite(statement) => statement,
            Prepared::Postgres(conn, statement) => {
                let rows = conn.query(statement, &values)?;
                let mapped: Vec<Result<T>> =
                    rows.iter().map(|row| map(&Row::Postgres(row))).collect();
                return Ok(Box::new(mapped.into_iter()));
            }
        };
        let rows = statement.query_map(sqlite_params(values), move |row| {
            // rusqlite's closures must return its own error: ours is carried through it.
            map(&Row::Sqlite(row)).map_err(|error| match error {
                Error::Sqlite(error) => error,
                other => rusqlite::Error::ToSqlConversionFailure(Box::new(Carried(other))),
            })
        })?;
        Ok(Box::new(rows.map(|row| {
            row.map_err(|error| match error {
                rusqlite::Error::ToSqlConversionFailure(carried) => match carried.downcast() {
                    Ok(carried) => {
                        let Carried(error) = *carried;
                        error
                    }
                    Err(other) => rusqlite::Error::ToSqlConversionFailure(other).into(),
                },
                other => other.into(),
            })
        })))
    }
}

/// The values as rusqlite binds them.
fn sqlite_params(values: Vec<&dyn ToSql>) -> rusqlite::ParamsFromIter<Vec<&dyn ToSql>> {
    rusqlite::params_from_iter(values)
}

/// An error of ours carried through a rusqlite closure.
#[derive(Debug)]
struct Carried(Error);

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Carried {}

/// One row of a result.
pub(super) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `index` (from 0) as `T`, by rusqlite's conversions whichever the engine.
    pub(super) fn get<I: ColumnIndex, T: rusqlite::types::FromSql>(&self, index: I) -> Result<T> {
        let index = index.index();
        match self {
            Row::Sqlite(row) => Ok(row.get(index)?),
            Row::Postgres(row) => {
                let value: Column = row.try_get(index)?;
                T::column_result(ValueRef::from(&value.0)).map_err(|error| {
                    Error::Conversion(format!(
                        "column {index} ({}): {error}",
                        row.columns()[index].type_()
                    ))
                })
            }
        }
    }
}

impl Row<'_> {
    /// `read` applied to column `index` as text, without copying it out of the row.
    pub(super) fn with_str<T>(&self, index: usize, read: impl FnOnce(&str) -> T) -> Result<T> {
        match self {
            Row::Sqlite(row) => {
                let text = row
                    .get_ref(index)?
                    .as_str()
                    .map_err(|error| Error::Conversion(format!("column {index}: {error}")))?;
                Ok(read(text))
            }
            Row::Postgres(row) => Ok(read(row.try_get::<_, &str>(index)?)),
        }
    }
}

/// How a column is named in [`Row::get`]: by its position, from 0.
pub(super) trait ColumnIndex {
    /// The position.
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// A parameter on its way to PostgreSQL, as SQLite would store it.
#[derive(Debug)]
struct PgValue(Value);

impl PgToSql for PgValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || format!("a {} parameter where PostgreSQL expects {ty}", self.kind());
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(n) => match *ty {
                Type::INT8 => PgToSql::to_sql(&n, ty, out),
                Type::INT4 => PgToSql::to_sql(&i32::try_from(*n)?, ty, out),
                Type::INT2 => PgToSql::to_sql(&i16::try_from(*n)?, ty, out),
                Type::BOOL => PgToSql::to_sql(&(*n != 0), ty, out),
                Type::FLOAT8 => PgToSql::to_sql(&(*n as f64), ty, out),
                // Numbers compared with or stored into text, as SQLite would convert them.
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                    PgToSql::to_sql(&n.to_string(), ty, out)
                }
                _ => Err(mismatch().into()),
            },
            Value::Real(x) => match *ty {
                Type::FLOAT8 => PgToSql::to_sql(&x, ty, out),
                Type::FLOAT4 => PgToSql::to_sql(&(*x as f32), ty, out),
                _ => Err(mismatch().into()),
            },
            Value::Text(text) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN | Type::BPCHAR | Type::NAME => {
                    PgToSql::to_sql(&text.as_str(), &Type::TEXT, out)
                }
                _ => Err(mismatch().into()),
            },
            Value::Blob(bytes) => match *ty {
                Type::BYTEA => PgToSql::to_sql(&bytes.as_slice(), ty, out),
                _ => Err(mismatch().into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in to_sql, where the value's own class is known.
        true
    }

    to_sql_checked!();
}

impl PgValue {
    fn kind(&self) -> &'static str {
        match self.0 {
            Value::Null => "NULL",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// A column read from PostgreSQL, as the SQLite storage class it would have had.
struct Column(Value);

impl<'a> postgres::types::FromSql<'a> for Column {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Column(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(<Vec<u8>>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_sql(&Type::TEXT, raw)?),
        }))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Column(Value::Null))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::BOOL
                | Type::FLOAT8
                | Type::FLOAT4
                | Type::BYTEA
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::UNKNOWN
        )
    }
}

/// `sql` as PostgreSQL takes it: SQLite's functions and placeholders in PostgreSQL's terms,
/// and SQLite's `+column` (which keeps its planner off an index) the plain column.
fn translated(sql: &str) -> String {
    let sql = sql.replace("GROUP BY +", "GROUP BY ").replace("ORDER BY +", "ORDER BY ");
    placeholders(&sqlite_functions(&sql))
}

/// `sql` with the SQLite functions the storage uses written in PostgreSQL's terms. JSON is
/// stored as TEXT on both engines; `->>` gives a member as text, which is what every use
/// compares it with. SQLite's `max` and `min` of several values are PostgreSQL's `GREATEST`
/// and `LEAST` (which skip a NULL where SQLite's give NULL: every use passes values only).
fn sqlite_functions(sql: &str) -> String {
    const NAMES: [&str; 7] =
        ["json_extract(", "json_set(", "julianday(", "max(", "MAX(", "min(", "MIN("];
    let mut out = String::with_capacity(sql.len() + 32);
    let mut rest = sql;
    loop {
        let found = NAMES
            .iter()
            .filter_map(|name| find_call(rest, name).map(|at| (at, *name)))
            .min_by_key(|(at, _)| *at);
        let Some((at, name)) = found else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        let after = &rest[at + name.len()..];
        let Some((args, end)) = arguments(after) else {
            // Unbalanced: left for PostgreSQL to refuse.
            out.push_str(&rest[at..]);
            return out;
        };
        let args: Vec<String> = args.iter().map(|arg| sqlite_functions(arg.trim())).collect();
        let member = |path: &str| path.trim_matches('\'').trim_start_matches("$.").to_owned();
        match (name, args.as_slice()) {
            ("json_extract(", [doc, path]) => {
                out.push_str(&format!("(CAST({doc} AS jsonb) ->> '{}')", member(path)));
            }
            ("json_set(", [doc, path, value]) => {
                let value = if value == "json('null')" {
                    "'null'::jsonb".to_owned()
                } else {
                    format!("to_jsonb(CAST({value} AS TEXT))")
                };
                out.push_str(&format!(
                    "CAST(jsonb_set(CAST({doc} AS jsonb), '{{{}}}', {value}) AS TEXT)",
                    member(path)
                ));
            }
            ("max(" | "MAX(" | "min(" | "MIN(", [_, _, ..]) => {
                let name = if name.eq_ignore_ascii_case("max(") { "GREATEST" } else { "LEAST" };
                out.push_str(&format!("{name}({})", args.join(", ")));
            }
            ("max(" | "MAX(" | "min(" | "MIN(", [value]) => {
                out.push_str(&format!("{name}{value})"));
            }
            ("julianday(", [time]) => {
                out.push_str(&format!(
                    "(date_part('epoch', CAST({time} AS timestamptz)) / 86400.0 + 2440587.5)"
                ));
            }
            _ => out.push_str(&rest[at..at + name.len() + end]),
        }
        rest = &after[end..];
    }
}

/// Where `name` (a function's name and its parenthesis) is first called in `text`: not as the
/// end of a longer name.
fn find_call(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(name) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Some(at);
        }
        from = at + name.len();
    }
    None
}

/// The top-level arguments of a call whose text starts after its `(`, and how many bytes
/// they take up to and including the closing `)`.
fn arguments(text: &str) -> Option<(Vec<&str>, usize)> {
    let (mut depth, mut quoted, mut start) = (0usize, false, 0usize);
    let mut args = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            _ if quoted => {}
            '(' => depth += 1,
            ')' if depth == 0 => {
                args.push(&text[start..i]);
                return Some((args, i + 1));
            }
            ')' => depth -= 1,
            ',' if depth == 0 => {
                args.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// `sql` with SQLite's placeholders (`?N`, or `?` numbered in order) as PostgreSQL's `$N`.
/// Quoted text, quoted identifiers and comments are left as they are.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0u32;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        // Everything up to the end of what `c` opens is copied as it is.
        let until = match (c, chars.peek()) {
            ('\'' | '"', _) => Some(c.to_string()),
            ('-', Some('-')) => Some("\n".to_owned()),
            ('/', Some('*')) => Some("*/".to_owned()),
            ('?', _) => {
                out.pop();
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                if digits.is_empty() {
                    next += 1;
                    digits = next.to_string();
                } else {
                    next = next.max(digits.parse().unwrap_or(0));
                }
                out.push('$');
                out.push_str(&digits);
                None
            }
            _ => None,
        };
        if let Some(until) = until {
            if c == '/' || c == '-' {
                out.extend(chars.next());
            }
            for d in chars.by_ref() {
                out.push(d);
                if out.ends_with(&until) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(placeholders("SELECT ?1, ?2 WHERE a = ?1"), "SELECT $1, $2 WHERE a = $1");
        assert_eq!(placeholders("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(placeholders("SELECT '?1', \"a?\" , ?"), "SELECT '?1', \"a?\" , $1");
        assert_eq!(
            placeholders("WHERE x = 'it''s ?' AND y = ?3"),
            "WHERE x = 'it''s ?' AND y = $3"
        );
        assert_eq!(
            placeholders("SELECT ? -- who?\n, ? /* what? */ , ?"),
            "SELECT $1 -- who?\n, $2 /* what? */ , $3"
        );
        assert_eq!(placeholders("SELECT 1 - ?1 / ?2"), "SELECT 1 - $1 / $2");
        assert_eq!(
            translated("SELECT a FROM t GROUP BY +a ORDER BY +a"),
            "SELECT a FROM t GROUP BY a ORDER BY a"
        );
    }

    #[test]
    fn sqlite_functions_are_written_in_postgres_terms() {
        assert_eq!(
            sqlite_functions("SELECT json_extract(e.detail, '$.recording_url') <> ''"),
            "SELECT (CAST(e.detail AS jsonb) ->> 'recording_url') <> ''"
        );
        assert_eq!(
            sqlite_functions("SET detail = json_set(detail, '$.url', json('null')) WHERE 1"),
            "SET detail = CAST(jsonb_set(CAST(detail AS jsonb), '{url}', 'null'::jsonb) AS TEXT) \
             WHERE 1"
        );
        assert_eq!(
            sqlite_functions("json_set(d, '$.url', ?2)"),
            "CAST(jsonb_set(CAST(d AS jsonb), '{url}', to_jsonb(CAST(?2 AS TEXT))) AS TEXT)"
        );
        assert_eq!(
            sqlite_functions("avg((julianday(b) - julianday(a)) * 86400)"),
            "avg(((date_part('epoch', CAST(b AS timestamptz)) / 86400.0 + 2440587.5) - \
             (date_part('epoch', CAST(a AS timestamptz)) / 86400.0 + 2440587.5)) * 86400)"
        );
        assert_eq!(sqlite_functions("SELECT 1"), "SELECT 1");
        assert_eq!(
            sqlite_functions("SELECT MAX(a, COALESCE((SELECT MAX(e.at) FROM e), b)), max(x)"),
            "SELECT GREATEST(a, COALESCE((SELECT MAX(e.at) FROM e), b)), max(x)"
        );
        assert_eq!(
            sqlite_functions("SELECT smax(a, b), min(a, b)"),
            "SELECT smax(a, b), LEAST(a, b)"
        );
    }

    fn sqlite() -> Connection {
        rusqlite::Connection::open_in_memory().unwrap().into()
    }

    #[test]
    fn a_transaction_dropped_without_commit_rolls_back() {
        let mut conn = sqlite();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
            tx.execute("INSERT INTO t VALUES (?1)", [1]).unwrap();
        }
        assert!(conn.is_autocommit());
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (?1)", [2]).unwrap();
        tx.commit().unwrap();
        let n: i64 = conn.query_row("SELECT sum(n) FROM t", (), |row| row.get(0)).unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn an_error_inside_a_mapped_row_comes_back_as_it_was() {
        let conn = sqlite();
        let mut statement = conn.prepare("SELECT 1 UNION ALL SELECT 2").unwrap();
        let rows: Vec<Result<i64>> = statement
            .query_map((), |row| {
                let n: i64 = row.get(0)?;
                if n == 2 { Err(Error::Conversion("two".into())) } else { Ok(n) }
            })
            .unwrap()
            .collect();
        assert!(matches!(rows[0], Ok(1)));
        assert!(matches!(&rows[1], Err(Error::Conversion(what)) if what == "two"), "{rows:?}");
        let none = conn.query_row("SELECT 1 WHERE 0", (), |row| row.get::<_, i64>(0)).optional();
        assert!(matches!(none, Ok(None)));
    }
}

/// The same calls against a real PostgreSQL server, started by the integration tests' own
/// script (`tests/postgres/cluster`, installed by `scripts/setup-tests`).
#[cfg(test)]
mod postgres_tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::storage::StorageError;
    use crate::storage::test_postgres::Postgres;

    fn connect(server: &Postgres) -> Connection {
        postgres::Client::connect(server.uri(), postgres::NoTls).unwrap().into()
    }

    /// A table of every column type the schema uses, on either engine.
    fn kinds(conn: &Connection) {
        let sql = match conn.engine() {
            Engine::Sqlite => "CREATE TABLE kinds (n INTEGER, t TEXT, b BLOB, f INTEGER)",
            Engine::Postgres => "CREATE TABLE kinds (n BIGINT, t TEXT, b BYTEA, f BOOLEAN)",
        };
        conn.execute_batch(sql).unwrap();
    }

    type Kinds = (i64, Option<String>, Vec<u8>, bool);

    fn round_trip(conn: &Connection) -> (Vec<Kinds>, i64, bool, i64) {
        kinds(conn);
        let insert = "INSERT INTO kinds (n, t, b, f) VALUES (?1, ?2, ?3, ?4)";
        conn.execute(insert, params![i64::MIN, "привет 상담원 '?1'", vec![0u8, 255], true])
            .unwrap();
        conn.execute(insert, params![7, None::<String>, Vec::<u8>::new(), false]).unwrap();
        let rows = conn
            .prepare_cached("SELECT n, t, b, f FROM kinds WHERE n < ? ORDER BY n")
            .unwrap()
            .query_map([100], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .unwrap()
            .collect::<Result<Vec<Kinds>>>()
            .unwrap();
        let count: i64 = conn.query_row("SELECT count(*) FROM kinds", (), |r| r.get(0)).unwrap();
        let exists: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM kinds WHERE f)", (), |r| r.get(0))
            .unwrap();
        // A parameter whose type the engine infers from an expression (an integer here).
        let sum: i64 = conn.query_row("SELECT ?1 + 1", [41], |r| r.get(0)).unwrap();
        (rows, count, exists, sum)
    }

    /// Has the server end `victim`'s session, through `killer`'s, and waits until it is gone:
    /// until then the backend still answers.
    fn end_session(killer: &Connection, victim: &Connection) {
        let pid: i32 = victim.query_row("SELECT pg_backend_pid()", (), |r| r.get(0)).unwrap();
        killer
            .query_row("SELECT pg_terminate_backend(?1)", [pid], |r| r.get::<_, bool>(0))
            .unwrap();
        let gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = ?1";
        while killer.query_row(gone, [pid], |r| r.get::<_, i64>(0)).unwrap() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn values_read_back_the_same_from_both_engines() {
        let server = Postgres::single();
        let from_postgres = round_trip(&connect(&server));
        let from_sqlite = round_trip(&rusqlite::Connection::open_in_memory().unwrap().into());
        assert_eq!(from_postgres, from_sqlite);
        assert_eq!(from_postgres.0[0].1.as_deref(), Some("привет 상담원 '?1'"));
        assert_eq!(from_postgres.3, 42);
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_an_error_not_a_guess() {
        let server = Postgres::single();
        let conn = connect(&server);
        kinds(&conn);
        let wrong = conn.execute("INSERT INTO kinds (n) VALUES (?1)", ["seven"]);
        assert!(matches!(&wrong, Err(Error::Postgres(_))), "{wrong:?}");
        assert!(wrong.unwrap_err().to_string().contains("text"), "names the kind");
        conn.execute("INSERT INTO kinds (t) VALUES (?1)", ["seven"]).unwrap();
        let read = conn.query_row("SELECT t FROM kinds", (), |r| r.get::<_, i64>(0));
        assert!(matches!(read, Err(Error::Conversion(_))), "{read:?}");
        let none = conn.query_row("SELECT n FROM kinds WHERE n = 8", (), |r| r.get::<_, i64>(0));
        assert!(matches!(none.optional(), Ok(None)));
    }

    #[test]
    fn transactions_roll_back_unless_committed_and_generated_ids_are_read_back() {
        let server = Postgres::single();
        let mut conn = connect(&server);
        conn.execute_batch("CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY, v TEXT)")
            .unwrap();
        {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
            tx.execute("INSERT INTO t (v) VALUES (?1)", ["dropped"]).unwrap();
            assert!(!tx.is_autocommit());
        }
        assert!(conn.is_autocommit());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        tx.execute("INSERT INTO t (v) VALUES (?1)", ["kept"]).unwrap();
        let id = tx.last_insert_rowid().unwrap();
        tx.commit().unwrap();
        let kept: Vec<(i64, String)> = conn
            .prepare("SELECT id, v FROM t")
            .unwrap()
            .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        // The identity drew 1 for the rolled-back row: sequences do not roll back.
        assert_eq!(kept, [(2, "kept".to_owned())]);
        assert_eq!(id, 2);
    }

    #[test]
    fn a_session_the_server_ended_is_made_again_but_never_inside_a_transaction() {
        let server = Postgres::single();
        let uri = server.uri().to_owned();
        let reconnect: Reconnect =
            Box::new(move || postgres::Client::connect(&uri, postgres::NoTls));
        let mut conn = Connection::postgres(
            postgres::Client::connect(server.uri(), postgres::NoTls).unwrap(),
            Some(reconnect),
        );
        let killer = connect(&server);
        let kill = |conn: &Connection| end_session(&killer, conn);
        conn.execute_batch("CREATE TABLE t (n BIGINT)").unwrap();

        // Inside a transaction the lost session fails the rest of it, COMMIT included.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        tx.execute("INSERT INTO t VALUES (?1)", [1]).unwrap();
        kill(&tx);
        assert!(
            StorageError::from(tx.execute("INSERT INTO t VALUES (?1)", [2]).unwrap_err())
                .is_unavailable()
        );
        assert!(tx.commit().is_err(), "a commit on a lost session is not a success");

        // The next transaction runs on a new session, with its statements prepared again.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        tx.execute("INSERT INTO t VALUES (?1)", [3]).unwrap();
        tx.commit().unwrap();
        let kept: Vec<i64> = conn
            .prepare("SELECT n FROM t")
            .unwrap()
            .query_map((), |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(kept, [3]);

        // A statement outside a transaction reconnects too.
        kill(&conn);
        let lost = conn.query_row("SELECT 1", (), |r| r.get::<_, i64>(0)).unwrap_err();
        assert!(StorageError::from(lost).is_unavailable());
        assert_eq!(
            conn.query_row("SELECT count(*) FROM t", (), |r| r.get::<_, i64>(0)).unwrap(),
            1
        );
    }

    #[test]
    fn a_statement_kept_from_an_ended_session_is_prepared_again_on_the_new_one() {
        let server = Postgres::single();
        let uri = server.uri().to_owned();
        let reconnect: Reconnect =
            Box::new(move || postgres::Client::connect(&uri, postgres::NoTls));
        let conn = Connection::postgres(
            postgres::Client::connect(server.uri(), postgres::NoTls).unwrap(),
            Some(reconnect),
        );
        let killer = connect(&server);
        let kept = "SELECT count(*) FROM pg_class WHERE relname = ?1";
        conn.query_row(kept, ["pg_class"], |r| r.get::<_, i64>(0)).unwrap();

        // A failover: another statement finds the session gone...
        end_session(&killer, &conn);
        let lost = conn.query_row("SELECT 1", (), |r| r.get::<_, i64>(0)).unwrap_err();
        assert!(StorageError::from(lost).is_unavailable());
        // ...and the kept one runs on the new session, not as a name that session never had
        // ("prepared statement does not exist").
        assert_eq!(conn.query_row(kept, ["pg_class"], |r| r.get::<_, i64>(0)).unwrap(), 1);
    }

    #[test]
    fn writers_on_two_connections_take_turns_as_in_sqlite() {
        let server = Postgres::single();
        let mut first = connect(&server);
        let uri = server.uri().to_owned();
        let tx = first.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        let (began, waited) = mpsc::channel();
        let second = std::thread::spawn(move || {
            let mut second: Connection =
                postgres::Client::connect(&uri, postgres::NoTls).unwrap().into();
            let tx = second.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
            began.send(()).unwrap();
            tx.commit().unwrap();
        });
        assert!(
            waited.recv_timeout(Duration::from_millis(300)).is_err(),
            "the second writer must wait for the first"
        );
        tx.commit().unwrap();
        waited.recv_timeout(Duration::from_secs(10)).expect("then it goes on");
        second.join().unwrap();
    }

    #[test]
    fn a_lost_connection_or_a_lock_wait_passes_and_a_broken_rule_does_not() {
        let server = Postgres::single();
        let mut first = connect(&server);
        first.execute_batch("CREATE TABLE u (k TEXT PRIMARY KEY)").unwrap();
        first.execute("INSERT INTO u VALUES (?1)", ["a"]).unwrap();
        let duplicate =
            StorageError::from(first.execute("INSERT INTO u VALUES (?1)", ["a"]).unwrap_err());
        assert!(!duplicate.is_unavailable(), "{duplicate:?}");

        // A writer waiting longer than the lock timeout, as SQLite's busy timeout.
        let second = connect(&server);
        second.execute_batch("SET lock_timeout = '100ms'").unwrap();
        let tx = first.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        let mut second = second;
        let waited = second.transaction_with_behavior(TransactionBehavior::Immediate).map(drop);
        let waited = StorageError::from(waited.unwrap_err());
        assert!(waited.is_unavailable(), "{waited:?}");
        tx.commit().unwrap();

        // The server ends the session (as a failover or a restart does).
        end_session(&first, &second);
        let lost = StorageError::from(
            second.query_row("SELECT 1", (), |r| r.get::<_, i64>(0)).unwrap_err(),
        );
        assert!(lost.is_unavailable(), "{lost:?}");
    }
}
