//! The PostgreSQL schema (`db/postgres/`) on a real PostgreSQL, started by
//! `tests/postgres/cluster` in a folder of its own: it applies whole or not at all, it has
//! every table, column, index, key and trigger of the SQLite schema the hotline makes, its
//! rules accept and refuse the same rows as SQLite's, and a cluster started by the script
//! commits through its URI with a synchronous standby.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use hotline::storage::Storage;
use rusqlite::Connection;

use crate::common;
use crate::common::binary::printed;
use crate::common::postgres::{self, Postgres};

/// The schema's files, in order.
fn schema_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("db").join("postgres");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

/// Every schema file, each applied in one transaction as the backend will.
fn apply_schema(pg: &Postgres, uri: &str) -> std::process::Output {
    for file in schema_files() {
        let sql = std::fs::read_to_string(&file).unwrap();
        let output = pg.psql(uri, &sql, &["--single-transaction"]);
        if !output.status.success() {
            return output;
        }
    }
    pg.psql(uri, "SELECT 1", &[])
}

/// A database freshly made by the hotline, as SQLite has it, with its foreign keys on as the
/// hotline's connections have them.
async fn fresh_sqlite(dir: &Path) -> Connection {
    let path = dir.join("hotline.db");
    let storage = Storage::open(&path, common::storage_options()).await.unwrap();
    drop(storage);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    conn
}

#[test]
fn the_schema_applies_whole_or_not_at_all() {
    let pg = Postgres::single();
    let applied = apply_schema(&pg, pg.uri());
    assert!(applied.status.success(), "{}", printed(&applied));
    let objects = "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                    WHERE n.nspname = 'public')
                       || ' ' || (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                                    WHERE n.nspname = 'public')";
    let before = pg.query(objects);
    pg.query(
        "INSERT INTO users (name, role, languages, created_at)
         VALUES ('anna', 'operator', 'ru', '2026-12-07T12:00:00.000000000Z')",
    );

    // A second time, on a database that has it: refused, and nothing changed.
    let again = apply_schema(&pg, pg.uri());
    assert!(!again.status.success(), "applied twice: {}", printed(&again));
    assert!(printed(&again).contains("already exists"), "{}", printed(&again));
    assert_eq!(pg.query(objects), before);
    assert_eq!(pg.query("SELECT id || ' ' || name FROM users"), "101 anna");

    // A failure at its very end leaves an empty database: one transaction.
    pg.query("CREATE DATABASE broken");
    let broken_uri = pg.database_uri("broken");
    let schema: String =
        schema_files().iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let broken =
        pg.psql(&broken_uri, &format!("{schema}\nSELECT 1 / 0;\n"), &["--single-transaction"]);
    assert!(!broken.status.success(), "{}", printed(&broken));
    let left = pg.psql(&broken_uri, objects, &[]);
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "0 0", "{}", printed(&left));

    // A database that cannot hold every character SQLite holds is refused by name.
    pg.query("CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C'");
    let latin = apply_schema(&pg, &pg.database_uri("latin"));
    assert!(!latin.status.success(), "{}", printed(&latin));
    assert!(printed(&latin).contains("must be in UTF8, not LATIN1"), "{}", printed(&latin));
}

/// One line per thing the schema has, the same words for both engines: comparing the sets
/// names whatever one engine has and the other lacks.
pub(crate) fn sqlite_schema(conn: &Connection) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    let strings = |sql: &str, args: &[&str]| -> Vec<Vec<Option<String>>> {
        let mut statement = conn.prepare(sql).unwrap();
        let columns = statement.column_count();
        statement
            .query_map(rusqlite::params_from_iter(args), |row| {
                (0..columns)
                    .map(|i| {
                        row.get_ref(i).map(|value| match value {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(i) => Some(i.to_string()),
                            other => {
                                Some(String::from_utf8_lossy(other.as_bytes().unwrap()).into())
                            }
                        })
                    })
                    .collect()
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let tables = strings(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'",
        &[],
    );
    for table in tables.iter().map(|row| text(&row[0])) {
        lines.insert(format!("table {table}"));
        let columns = strings(
            "SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid",
            &[&table],
        );
        let mut key: Vec<(String, String)> = Vec::new();
        for column in &columns {
            let kind = match text(&column[2]).to_ascii_uppercase().as_str() {
                "INTEGER" => "bigint".to_owned(),
                "TEXT" => "text".to_owned(),
                "REAL" => "double precision".to_owned(),
                "BLOB" => "bytea".to_owned(),
                other => format!("no PostgreSQL type for {other}"),
            };
            // STRICT tables and WITHOUT ROWID ones refuse NULL in the primary key, and an
            // INTEGER PRIMARY KEY is the rowid: never NULL, whatever table_info says.
            let pk = text(&column[5]);
            let not_null = text(&column[3]) == "1" || pk != "0";
            if pk != "0" {
                key.push((pk, text(&column[1])));
            }
            lines.insert(format!(
                "column {table} #{} {} {kind}{} default {}",
                text(&column[0]).parse::<u32>().unwrap() + 1,
                text(&column[1]),
                if not_null { " not null" } else { "" },
                column[4].clone().unwrap_or_else(|| "none".into()),
            ));
        }
        key.sort_by_key(|(position, _)| position.parse::<u32>().unwrap());
        if !key.is_empty() {
            let names: Vec<_> = key.into_iter().map(|(_, name)| name).collect();
            lines.insert(format!("primary key {table} ({})", names.join(",")));
        }
        for index in strings(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)",
            &[&table],
        ) {
            let name = text(&index[0]);
            let columns: Vec<_> =
                strings("SELECT name FROM pragma_index_info(?1) ORDER BY seqno", &[&name])
                    .iter()
                    .map(|row| row[0].clone().unwrap_or_else(|| "<expression>".into()))
                    .collect();
            match text(&index[2]).as_str() {
                "c" => lines.insert(format!(
                    "index {name} on {table} unique={} partial={} ({})",
                    text(&index[1]),
                    text(&index[3]),
                    columns.join(",")
                )),
                "u" => lines.insert(format!("unique {table} ({})", columns.join(","))),
                _ => false,
            };
        }
        let mut keys: Vec<(String, String, String, String, String)> = Vec::new();
        for fk in strings(
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?1)
             ORDER BY id, seq",
            &[&table],
        ) {
            match keys.last_mut() {
                Some(last) if last.0 == text(&fk[0]) => {
                    last.2.push_str(&format!(",{}", text(&fk[2])));
                    last.3.push_str(&format!(",{}", text(&fk[3])));
                }
                _ => keys.push((
                    text(&fk[0]),
                    text(&fk[1]),
                    text(&fk[2]),
                    text(&fk[3]),
                    text(&fk[4]),
                )),
            }
        }
        for (_, target, from, to, on_delete) in keys {
            lines.insert(format!(
                "foreign key {table} ({from}) references {target} ({to}) on delete {}",
                on_delete.to_ascii_lowercase()
            ));
        }
    }
    for trigger in strings("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger'", &[]) {
        lines.insert(format!("trigger {} on {}", text(&trigger[0]), text(&trigger[1])));
    }
    lines
}

/// The table in which a database filled by `hotline migrate-db` keeps its schema version, as
/// SQLite keeps `user_version`: no table of SQLite's.
const VERSION_TABLE: &str = "hotline_schema_version";

/// The same lines, read from PostgreSQL's catalogue. Left out, and checked on their own by
/// `the_schema_is_sqlites`: triggers on TRUNCATE (SQLite has no such statement), and columns
/// named `rowid`, which stand for SQLite's hidden one; and the version table.
pub(crate) fn postgres_schema(pg: &Postgres) -> BTreeSet<String> {
    let rows = |sql: &str| -> Vec<Vec<String>> {
        let output = pg.psql(pg.uri(), sql, &["-F", "\t"]);
        assert!(output.status.success(), "{sql}\n{}", printed(&output));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.split('\t').map(str::to_owned).collect())
            .collect()
    };
    let columns_of = |key: &str, relation: &str| {
        format!(
            "(SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest({key}) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.attnum)"
        )
    };
    let mut lines = BTreeSet::new();
    for row in rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'") {
        lines.insert(format!("table {}", row[0]));
    }
    for row in rows(
        "SELECT table_name, row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position),
                column_name, data_type, is_nullable, coalesce(column_default, 'none')
         FROM information_schema.columns WHERE table_schema = 'public' AND column_name <> 'rowid'",
    ) {
        let default = row[5].strip_suffix("::text").unwrap_or(&row[5]);
        lines.insert(format!(
            "column {} #{} {} {}{} default {default}",
            row[0],
            row[1],
            row[2],
            row[3],
            if row[4] == "NO" { " not null" } else { "" },
        ));
    }
    let index_columns =
        "(SELECT string_agg(coalesce(a.attname, '<expression>'), ',' ORDER BY k.ord)
          FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum)";
    for row in rows(&format!(
        "SELECT i.relname, t.relname, x.indisunique::int, (x.indpred IS NOT NULL)::int, {index_columns}
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND NOT EXISTS (
             SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u'))"
    )) {
        lines.insert(format!("index {} on {} unique={} partial={} ({})", row[0], row[1], row[2], row[3], row[4]));
    }
    for row in rows(&format!(
        "SELECT c.contype, t.relname, {}, coalesce(r.relname, ''), coalesce({}, ''), c.confdeltype
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace LEFT JOIN pg_class r ON r.oid = c.confrelid
         WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')",
        columns_of("c.conkey", "c.conrelid"),
        columns_of("c.confkey", "c.confrelid"),
    )) {
        lines.insert(match row[0].as_str() {
            "p" => format!("primary key {} ({})", row[1], row[2]),
            "u" if row[2] == "rowid" => continue,
            "u" => format!("unique {} ({})", row[1], row[2]),
            _ => format!(
                "foreign key {} ({}) references {} ({}) on delete {}",
                row[1],
                row[2],
                row[3],
                row[4],
                match row[5].as_str() {
                    "a" => "no action",
                    "c" => "cascade",
                    "r" => "restrict",
                    "n" => "set null",
                    "d" => "set default",
                    other => other,
                }
            ),
        });
    }
    for row in rows(
        "SELECT g.tgname, t.relname FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
         WHERE NOT g.tgisinternal AND g.tgtype & 32 = 0",
    ) {
        lines.insert(format!("trigger {} on {}", row[0], row[1]));
    }
    lines.retain(|line| !line.split_whitespace().any(|word| word == VERSION_TABLE));
    lines
}

/// Whether SQLite keeps a rowid of its own in `table`: not a WITHOUT ROWID table, and no
/// INTEGER PRIMARY KEY that is the rowid under another name.
fn has_hidden_rowid(conn: &Connection, table: &str) -> bool {
    let has_rowid = conn.prepare(&format!("SELECT rowid FROM {table}")).is_ok();
    let alias: bool = conn
        .query_row(
            "SELECT count(*) = 1 AND max(type = 'INTEGER') FROM pragma_table_info(?1) WHERE pk > 0",
            [table],
            |row| row.get(0),
        )
        .unwrap();
    has_rowid && !alias
}

#[tokio::test]
async fn the_schema_is_sqlites() {
    let folder = tempfile::tempdir().unwrap();
    let conn = fresh_sqlite(folder.path()).await;
    let sqlite = sqlite_schema(&conn);
    let pg = Postgres::single();
    let applied = apply_schema(&pg, pg.uri());
    assert!(applied.status.success(), "{}", printed(&applied));
    let postgres = postgres_schema(&pg);

    assert!(sqlite.len() > 200, "SQLite's schema was not read: {sqlite:#?}");
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the PostgreSQL schema differs from SQLite's (add a file to db/postgres/ for each new \
         migration, see db/postgres/README.md)\nonly in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_postgres:#?}"
    );

    // A `rowid` column stands for SQLite's hidden rowid: only where SQLite has one (not an
    // alias of an INTEGER PRIMARY KEY), so that it keeps the number SQLite gave each row.
    let rowids = pg.query(
        "SELECT string_agg(table_name, ' ') FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'rowid'",
    );
    for table in rowids.split_whitespace() {
        assert!(
            has_hidden_rowid(&conn, table),
            "{table}.rowid stands for no hidden rowid in SQLite"
        );
        let identity = pg.query(&format!(
            "SELECT is_identity || is_nullable FROM information_schema.columns
             WHERE table_name = '{table}' AND column_name = 'rowid'"
        ));
        assert_eq!(identity, "YESNO", "{table}.rowid is filled in like SQLite's");
    }

    // Text compares byte by byte in SQLite; here too, on every text column.
    let collations = pg.query(
        "SELECT string_agg(table_name || '.' || column_name, ', ') FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C'",
    );
    assert_eq!(collations, "", "text columns without COLLATE \"C\"");
    // Every table SQLite keeps append-only refuses TRUNCATE too.
    let truncate = pg.query(
        "SELECT string_agg(DISTINCT t.relname, ',' ORDER BY t.relname) FROM pg_trigger g
         JOIN pg_class t ON t.oid = g.tgrelid WHERE NOT g.tgisinternal AND g.tgtype & 32 <> 0",
    );
    let append_only: BTreeSet<_> = sqlite
        .iter()
        .filter_map(|line| line.strip_prefix("trigger "))
        .filter_map(|line| line.split(" on ").nth(1))
        .collect();
    assert_eq!(truncate, append_only.into_iter().collect::<Vec<_>>().join(","));
}

/// A statement run on both engines, and whether each must take it.
struct Probe {
    what: &'static str,
    sql: String,
    sqlite: bool,
    postgres: bool,
    /// Words both engines' refusals must contain.
    refusal: Option<&'static str>,
}

/// Accepted by both engines, or refused by both.
fn both(what: &'static str, sql: impl Into<String>, accepted: bool) -> Probe {
    Probe { what, sql: sql.into(), sqlite: accepted, postgres: accepted, refusal: None }
}

/// Refused by both with these words: the message the storage code and a person read.
fn refused_saying(what: &'static str, sql: impl Into<String>, words: &'static str) -> Probe {
    Probe { what, sql: sql.into(), sqlite: false, postgres: false, refusal: Some(words) }
}

/// Where the engines part: documented in db/postgres/README.md.
fn differs(what: &'static str, sql: impl Into<String>, sqlite: bool, postgres: bool) -> Probe {
    Probe { what, sql: sql.into(), sqlite, postgres, refusal: None }
}

/// `text` as an SQL string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

const AT: &str = "'2026-12-07T12:00:00.000000000Z'";

fn user(name: &str) -> String {
    format!(
        "INSERT INTO users (name, role, languages, created_at) VALUES ({}, 'operator', 'ru', {AT})",
        quoted(name)
    )
}

fn case(seq: u32, sid: &str, closed_by: &str) -> String {
    format!(
        "INSERT INTO cases (number_year, number_seq, call_sid, started_at, closed_by)
         VALUES (2026, {seq}, {}, {AT}, {closed_by})",
        quoted(sid)
    )
}

/// A test caller, numbered as a copy numbers it, or by the database.
fn tester(number: Option<u32>, hash: &str) -> String {
    let values = format!("{}, 'phone', {AT}", quoted(hash));
    match number {
        Some(number) => format!(
            "INSERT INTO script_testers (rowid, caller_hash, label, added_at) VALUES ({number}, {values})"
        ),
        None => {
            format!("INSERT INTO script_testers (caller_hash, label, added_at) VALUES ({values})")
        }
    }
}

fn note(text: &str) -> String {
    format!(
        "INSERT INTO case_notes (case_id, author_id, at, text) VALUES (1, 101, {AT}, {})",
        quoted(text)
    )
}

fn script(file: &str, text: &str) -> String {
    format!(
        "INSERT INTO script_versions (file, author, comment, created_at, text)
         VALUES ({}, 'anna', '', {AT}, {})",
        quoted(file),
        quoted(text)
    )
}

fn event(id: u32, detail: &str) -> String {
    format!(
        "INSERT INTO case_events (case_id, step, idx, at, kind, detail) VALUES (1, 0, {id}, {AT}, 'entered', {})",
        quoted(detail)
    )
}

fn outbox(key: &str, buttons: &str) -> String {
    format!(
        "INSERT INTO outbox (case_id, channel, chat_key, action, body, buttons, next_at, created_at, dedupe_key)
         VALUES (1, 'telegram', 'chat', 'send', 'hello', {buttons}, {AT}, {AT}, {})",
        quoted(key)
    )
}

/// What the schema promises, each statement on both engines, in order: the rows each takes
/// are the same, so each statement meets the same data.
fn probes() -> Vec<Probe> {
    let sealed = |len: usize| format!("dk1.n.{}", "a".repeat(len - "dk1.n.".len()));
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    vec![
        both(
            "the first person (id 101: an operator ID has three digits or more)",
            user("anna"),
            true,
        ),
        both("a case closed by the person 101", case(1, "CA1", "101"), true),
        both("a case closed by nobody known", case(2, "CA2", "999"), false),
        both("a second case with the same number", case(1, "CA3", "NULL"), false),
        both("a user name with a space", user("anna maria"), false),
        both("a user name with a Cyrillic letter", user("аnna"), false),
        both("an empty user name", user(""), false),
        both("a user name of 65 characters", user(&"a".repeat(65)), false),
        both("a user name of 64 allowed characters", user(&("a.b_c-9".repeat(9) + "z")), true),
        both("a user name that is SQL", user("x'); DROP TABLE cases; --"), false),
        both(
            "a console language in capitals",
            "UPDATE users SET console_language = 'UK' WHERE id = 101",
            false,
        ),
        both(
            "a console language of three letters",
            "UPDATE users SET console_language = 'ukr' WHERE id = 101",
            false,
        ),
        both("a console language", "UPDATE users SET console_language = 'uk' WHERE id = 101", true),
        both("a note", note("first"), true),
        both("a second note", note("second"), true),
        both("an empty note", note(""), false),
        both("a note of 4000 Cyrillic letters (8000 bytes)", note(&"я".repeat(4000)), true),
        both("a note of 4001 letters", note(&"я".repeat(4001)), false),
        both("a sealed note of 32768 characters", note(&sealed(32768)), true),
        both("a sealed note of 32769 characters", note(&sealed(32769)), false),
        both("a note that is SQL", note("it's'); DELETE FROM case_notes; --"), true),
        refused_saying(
            "a note edited",
            "UPDATE case_notes SET text = 'changed' WHERE id = 1",
            "append-only",
        ),
        refused_saying(
            "a note given to another author",
            "UPDATE case_notes SET author_id = 101, at = '2027-01-01T00:00:00.000000000Z' WHERE id = 1",
            "append-only",
        ),
        refused_saying("a note deleted", "DELETE FROM case_notes WHERE id = 1", "append-only"),
        refused_saying("every note deleted", "DELETE FROM case_notes", "append-only"),
        refused_saying(
            "a note shredded to another text",
            format!("UPDATE case_notes SET text = 'gone', shredded_at = {AT} WHERE id = 1"),
            "append-only",
        ),
        both(
            "a note shredded",
            format!("UPDATE case_notes SET text = '[shredded]', shredded_at = {AT} WHERE id = 1"),
            true,
        ),
        refused_saying(
            "a note shredded twice",
            "UPDATE case_notes SET text = '[shredded]', shredded_at = '2027-01-01T00:00:00.000000000Z' WHERE id = 1",
            "append-only",
        ),
        refused_saying(
            "a shredded note sealed",
            "UPDATE case_notes SET text = 'dk1.n.202612.x' WHERE id = 1",
            "append-only",
        ),
        // A sealed form is known by its exact prefix, in both engines.
        refused_saying(
            "a note replaced by text that only looks sealed, in capitals",
            "UPDATE case_notes SET text = 'DK1.N.202612.x' WHERE id = 2",
            "append-only",
        ),
        both(
            "a legacy note sealed",
            "UPDATE case_notes SET text = 'dk1.n.202612.y' WHERE id = 2",
            true,
        ),
        both(
            "a sealed note sealed again for a legal hold",
            "UPDATE case_notes SET text = 'dk1.h.202612.z' WHERE id = 2",
            true,
        ),
        both(
            "a sealed note shredded",
            format!("UPDATE case_notes SET text = '[shredded]', shredded_at = {AT} WHERE id = 2"),
            true,
        ),
        both(
            "an audit line",
            format!(
                "INSERT INTO audit_log (at, actor_id, action, detail) VALUES ({AT}, 101, 'case.read', 'x')"
            ),
            true,
        ),
        both(
            "an audit line without an action",
            format!(
                "INSERT INTO audit_log (at, actor_id, action, detail) VALUES ({AT}, 101, '', 'x')"
            ),
            false,
        ),
        refused_saying(
            "an audit line changed",
            "UPDATE audit_log SET detail = 'y'",
            "audit log is append-only",
        ),
        refused_saying(
            "an audit line deleted",
            "DELETE FROM audit_log",
            "audit log is append-only",
        ),
        both(
            "a follow-up",
            format!(
                "INSERT INTO follow_ups (case_id, kind, created_at) VALUES (1, 'missed', {AT})"
            ),
            true,
        ),
        both("a follow-up in an unknown state", "UPDATE follow_ups SET state = 'opened'", false),
        both("a follow-up in no state", "UPDATE follow_ups SET state = NULL", false),
        both("a follow-up taken", "UPDATE follow_ups SET state = 'taken', taken_by = 101", true),
        both(
            "a second missed-call follow-up of the case",
            format!(
                "INSERT INTO follow_ups (case_id, kind, created_at) VALUES (1, 'missed', {AT})"
            ),
            false,
        ),
        both("an outbox message", outbox("k1", "NULL"), true),
        both("an outbox message enqueued twice", outbox("k1", "NULL"), false),
        both(
            "an outbox message with buttons",
            outbox("k2", "'[[{\"text\": \"да\", \"data\": \"1\"}]]'"),
            true,
        ),
        both("an outbox message with broken buttons", outbox("k3", "'[[{\"text\": ]]'"), false),
        both(
            "an outbox edit of nothing",
            format!(
                "INSERT INTO outbox (case_id, channel, chat_key, action, body, next_at, created_at, dedupe_key) VALUES (1, 'telegram', 'chat', 'edit', 'x', {AT}, {AT}, 'k4')"
            ),
            false,
        ),
        both("an event", event(0, "{\"kind\": \"entered\", \"node\": \"menu\"}"), true),
        both("an event with empty detail", event(1, ""), false),
        both("an event whose detail is not JSON", event(2, "{kind: entered}"), false),
        both("an event whose detail has a key twice", event(3, "{\"a\": 1, \"a\": 2}"), true),
        both("an event whose detail is a scalar", event(4, "42"), true),
        both("an event whose detail nests 1000 deep", event(5, &nested(1000)), true),
        // SQLite's JSON stops at 1000 levels; PostgreSQL's parser at its stack's depth.
        differs("an event whose detail nests 1001 deep", event(6, &nested(1001)), false, true),
        both("an event whose detail nests 100000 deep", event(7, &nested(100_000)), false),
        both(
            "a PIN lock with both keys",
            "INSERT INTO pin_lockouts (operator_id, caller_hash) VALUES (101, 'h')",
            false,
        ),
        both("a PIN lock with neither key", "INSERT INTO pin_lockouts (locks) VALUES (1)", false),
        both(
            "a PIN lock of an operator ID",
            "INSERT INTO pin_lockouts (operator_id) VALUES (7)",
            true,
        ),
        both("a PIN lock of a number", "INSERT INTO pin_lockouts (caller_hash) VALUES ('h')", true),
        both(
            "a second PIN lock of the number",
            "INSERT INTO pin_lockouts (caller_hash) VALUES ('h')",
            false,
        ),
        both("a script", script("ru.xml", "<script/>"), true),
        both("a script of a three-letter language", script("rus.xml", "<script/>"), true),
        both("the languages file", script("languages.xml", "<languages/>"), true),
        both("a script of a one-letter language", script("r.xml", "<script/>"), false),
        both("a script named in capitals", script("RU.xml", "<script/>"), false),
        both("a script with a name that goes on", script("ru.xml.bak", "<script/>"), false),
        both("a script file outside the folder", script("../ru.xml", "<script/>"), false),
        both("a script of 1 MiB", script("uk.xml", &"a".repeat(1 << 20)), true),
        both("a script of 1 MiB and a byte", script("uk.xml", &"a".repeat((1 << 20) + 1)), false),
        both(
            "a script of 524289 Cyrillic letters (1 MiB and 2 bytes)",
            script("uk.xml", &"я".repeat((1 << 19) + 1)),
            false,
        ),
        // A test caller's number is SQLite's hidden rowid: PostgreSQL has a column for it.
        both("a test caller with the number a copy gives it", tester(Some(7), "h7"), true),
        both("a test caller numbered by the database", tester(None, "h8"), true),
        both("a test caller with a taken number", tester(Some(7), "h9"), false),
        both("a test caller removed by number", "DELETE FROM script_testers WHERE rowid = 7", true),
        both(
            "a readiness probe",
            format!("INSERT INTO ready_probe (probed_at) VALUES ({AT})"),
            true,
        ),
        both(
            "a second readiness probe row",
            format!("INSERT INTO ready_probe (probed_at) VALUES ({AT})"),
            false,
        ),
        both(
            "a Telegram update",
            format!(
                "INSERT INTO text_updates (channel, update_key, at) VALUES ('telegram', '1', {AT})"
            ),
            true,
        ),
        both(
            "the same Telegram update again",
            format!(
                "INSERT INTO text_updates (channel, update_key, at) VALUES ('telegram', '1', {AT})"
            ),
            false,
        ),
        // Refused inserts used up ids of PostgreSQL's identity, not SQLite's: name the case by
        // its call from here on.
        both("another case", case(9, "CA9", "NULL"), true),
        both(
            "a tag on it",
            "INSERT INTO case_tags (case_id, key, value, position) SELECT id, 'intent', 'surrender', 0 FROM cases WHERE call_sid = 'CA9'",
            true,
        ),
        both(
            "an event of it",
            format!(
                "INSERT INTO case_events (case_id, step, idx, at, kind, detail) SELECT id, 0, 0, {AT}, 'entered', '{{}}' FROM cases WHERE call_sid = 'CA9'"
            ),
            true,
        ),
        both(
            "a case deleted with its events and tags",
            "DELETE FROM cases WHERE call_sid = 'CA9'",
            true,
        ),
        both("a case deleted with notes on it", "DELETE FROM cases WHERE id = 1", false),
    ]
}

#[tokio::test]
async fn the_rules_hold_in_both_engines() {
    let folder = tempfile::tempdir().unwrap();
    let sqlite = fresh_sqlite(folder.path()).await;
    let pg = Postgres::single();
    let applied = apply_schema(&pg, pg.uri());
    assert!(applied.status.success(), "{}", printed(&applied));

    // The hotline's first start wrote a row or two in SQLite already.
    let sqlite_rows_before: Vec<(String, i64)> = sqlite
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .map(|table| {
            let count = sqlite
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))
                .unwrap();
            (table, count)
        })
        .collect();
    let mut wrong = Vec::new();
    for probe in probes() {
        // What one engine takes and the other refuses is undone at once, so that the statements
        // after it meet the same rows in both.
        let undone = probe.sqlite != probe.postgres;
        let in_sqlite = if undone {
            sqlite.execute_batch("BEGIN").unwrap();
            let result = sqlite.execute_batch(&probe.sql).map_err(|e| e.to_string());
            sqlite.execute_batch("ROLLBACK").unwrap();
            result
        } else {
            sqlite.execute_batch(&probe.sql).map_err(|e| e.to_string())
        };
        let sql =
            if undone { format!("BEGIN;\n{};\nROLLBACK;", probe.sql) } else { probe.sql.clone() };
        let output = pg.psql(pg.uri(), &sql, &[]);
        let in_postgres = if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        };
        let said = |result: &Result<(), String>| match (result, probe.refusal) {
            (Err(message), Some(words)) => message.contains(words),
            _ => true,
        };
        if in_sqlite.is_ok() != probe.sqlite
            || in_postgres.is_ok() != probe.postgres
            || !said(&in_sqlite)
            || !said(&in_postgres)
        {
            wrong.push(format!(
                "{}: SQLite {:?} (expected {}), PostgreSQL {:?} (expected {})",
                probe.what,
                in_sqlite,
                if probe.sqlite { "accepted" } else { "refused" },
                in_postgres,
                if probe.postgres { "accepted" } else { "refused" },
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // And so both added the same rows.
    for (table, before) in sqlite_rows_before {
        let count = format!("SELECT count(*) FROM {table}");
        let added = sqlite.query_row(&count, [], |row| row.get::<_, i64>(0)).unwrap() - before;
        assert_eq!(pg.query(&count), added.to_string(), "rows added to {table}");
    }

    // PostgreSQL also has TRUNCATE, which no row trigger sees.
    for table in ["audit_log", "case_notes"] {
        let truncated = pg.psql(pg.uri(), &format!("TRUNCATE {table} CASCADE"), &[]);
        assert!(!truncated.status.success(), "{table} truncated");
        assert!(printed(&truncated).contains("append-only"), "{}", printed(&truncated));
    }
    assert_eq!(pg.query("SELECT count(*) FROM audit_log"), "1");
    // The SQLSTATE the backend will tell these refusals by.
    let state = pg.psql(pg.uri(), "\\set VERBOSITY verbose\nDELETE FROM audit_log;", &[]);
    assert!(printed(&state).contains("ERROR:  23000:"), "{}", printed(&state));
}

/// The count of each waiting line, kept by triggers in both engines (SQLite's 0018), follows
/// the same moves to the same numbers: joining, a fallback to another line, being taken,
/// given back, leaving for a menu, closing, a change of language, a deletion.
#[tokio::test]
async fn the_waiting_lines_are_counted_alike_in_both_engines() {
    let folder = tempfile::tempdir().unwrap();
    let sqlite = fresh_sqlite(folder.path()).await;
    let pg = Postgres::single();
    let applied = apply_schema(&pg, pg.uri());
    assert!(applied.status.success(), "{}", printed(&applied));

    let mut setup = String::from(
        "INSERT INTO users (id, name, role, languages, created_at)
         VALUES (107, 'Olena', 'operator', 'ru', '2026-12-07T00:00:00Z');",
    );
    for id in 1..=4 {
        setup.push_str(&format!(
            "INSERT INTO cases (id, number_year, number_seq, call_sid, started_at, channel)
             VALUES ({id}, 2026, {id}, 'TG{id}', '2026-12-07T00:00:00Z', 'telegram');
             INSERT INTO conversations (id, case_id, channel, state, language, started_at, last_in_at)
             VALUES ({id}, {id}, 'telegram', 'menu', 'ru', '2026-12-07T00:00:00Z',
                     '2026-12-07T00:00:00Z');"
        ));
    }
    let queue = |id: u8, line: &str| {
        format!(
            "UPDATE conversations SET state = 'operator', operator_id = NULL, queue_language = {line},
             queued_at = '2026-12-07T00:00:0{id}Z' WHERE id = {id}"
        )
    };
    let moves = [
        setup,
        queue(1, "NULL"),
        queue(2, "'ru'"),
        queue(3, "'ko'"),
        queue(4, "'ru'"),
        "UPDATE conversations SET queue_language = 'uk' WHERE id = 2".into(),
        "UPDATE conversations SET operator_id = 107 WHERE id = 1".into(),
        "UPDATE conversations SET operator_id = NULL WHERE id = 1".into(),
        "UPDATE conversations SET language = 'en' WHERE id = 1".into(),
        "UPDATE conversations SET state = 'menu', queue_language = NULL WHERE id = 4".into(),
        "UPDATE conversations SET state = 'closed' WHERE id = 3".into(),
        "DELETE FROM conversations WHERE id = 2".into(),
        "UPDATE conversations SET step = step + 1".into(),
    ];
    let mut seen = Vec::new();
    for sql in moves {
        sqlite.execute_batch(&sql).unwrap();
        let output = pg.psql(pg.uri(), &sql, &[]);
        assert!(output.status.success(), "{sql}\n{}", printed(&output));
        let in_sqlite: String = sqlite
            .query_row(
                "SELECT COALESCE(group_concat(line || ':' || waiting, ','), '')
                 FROM (SELECT line, waiting FROM waiting_lines WHERE waiting > 0 ORDER BY line)",
                [],
                |row| row.get(0),
            )
            .unwrap();
        let in_postgres = pg.query(
            "SELECT COALESCE(string_agg(line || ':' || waiting, ',' ORDER BY line), '')
             FROM waiting_lines WHERE waiting > 0",
        );
        assert_eq!(in_postgres, in_sqlite, "after {sql}");
        seen.push(in_sqlite);
    }
    // The sequence did move the counts: it is a comparison of something.
    assert_eq!(seen[4], "ko:1,ru:3");
    assert_eq!(seen[5], "ko:1,ru:2,uk:1");
    assert_eq!(seen.last().unwrap(), "en:1");
}

#[test]
fn a_cluster_commits_through_its_uri_to_a_synchronous_standby() {
    let cluster = Postgres::cluster();
    let uri = cluster.uri().to_owned();
    let hosts = uri
        .strip_prefix("postgres://postgres@")
        .and_then(|rest| rest.strip_suffix("/hotline?target_session_attrs=read-write"))
        .unwrap_or_else(|| panic!("not a multi-host URI: {uri}"));
    let ports: Vec<&str> =
        hosts.split(',').filter_map(|host| host.strip_prefix("127.0.0.1:")).collect();
    assert_eq!(ports.len(), 2, "{uri}");

    // A write commits through the URI, on the primary, which streams to a synchronous standby.
    let primary = cluster.query(
        "CREATE TABLE calls (sid text PRIMARY KEY);
         INSERT INTO calls VALUES ('CA1');
         SELECT inet_server_port();",
    );
    assert!(ports.contains(&primary.as_str()), "{primary} is none of {ports:?}");
    let replication = cluster
        .query("SELECT string_agg(state || ' ' || sync_state, ',') FROM pg_stat_replication");
    assert!(
        replication == "streaming quorum" || replication == "streaming sync",
        "pg_stat_replication: {replication}"
    );
    assert_ne!(cluster.query("SHOW synchronous_standby_names"), "");

    // The standby has the row (applied soon after the commit it acknowledged) and refuses writes.
    let standby = ports.iter().find(|port| **port != primary).unwrap();
    let standby_uri = format!("postgres://postgres@127.0.0.1:{standby}/hotline");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let read = cluster.psql(&standby_uri, "SELECT sid FROM calls", &[]);
        if String::from_utf8_lossy(&read.stdout).trim() == "CA1" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not on the standby: {}", printed(&read));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let write = cluster.psql(&standby_uri, "INSERT INTO calls VALUES ('CA2')", &[]);
    assert!(printed(&write).contains("read-only transaction"), "{}", printed(&write));

    let state = Command::new(postgres::script()).arg("state").arg(cluster.dir()).output().unwrap();
    let state = printed(&state);
    assert!(state.contains("primary") && state.contains("secondary"), "{state}");

    let dir = cluster.dir().to_owned();
    drop(cluster);
    assert!(!dir.exists(), "{} is still there", dir.display());
    let listening = Command::new("ss").args(["-ltn"]).output();
    if let Ok(listening) = listening {
        let listening = String::from_utf8_lossy(&listening.stdout);
        for port in ports {
            assert!(
                !listening.contains(&format!("127.0.0.1:{port} ")),
                "port {port} still listens"
            );
        }
    }
}

/// Runs the script with these arguments, without a terminal.
fn cluster_script(args: &[&str]) -> (bool, String) {
    let output = Command::new(postgres::script()).args(args).stdin(Stdio::null()).output().unwrap();
    (output.status.success(), printed(&output))
}

#[test]
fn the_cluster_script_refuses_what_it_cannot_do() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("servers");
    let dir = dir.to_str().unwrap();
    let hostile = format!("{dir}$(touch pwned)");
    let spaced = format!("{dir} 'x'");
    let long = format!("{dir}/{}", "d".repeat(100));

    for (args, words) in [
        (vec![], "cluster single DIR PORT"),
        (vec!["single"], "cluster single DIR PORT"),
        (vec!["reboot", dir], "cluster single DIR PORT"),
        (vec!["reboot", dir], "cluster resume DIR NODE"),
        (vec!["single", dir], "not ''"),
        (vec!["single", dir, ""], "not ''"),
        (vec!["single", dir, "80"], "not '80'"),
        (vec!["single", dir, "32768"], "not '32768'"),
        (vec!["single", dir, "99999999999999999999"], "not '99999999999999999999'"),
        (vec!["single", dir, "5432; rm -rf /"], "not '5432; rm -rf /'"),
        (vec!["start", dir, "32766"], "not '32766'"),
        (vec!["state", dir], "holds no servers"),
        (vec!["kill", dir], "node1 or node2, not ''"),
        (vec!["kill", dir, "monitor"], "node1 or node2, not 'monitor'"),
        (vec!["resume", dir, "node1; rm -rf /"], "node1 or node2, not 'node1; rm -rf /'"),
        (vec!["kill", dir, "node1"], "holds no servers"),
        (vec!["resume", dir, "node2"], "holds no servers"),
        (vec!["single", &hostile, "24000"], "letters, digits"),
        (vec!["single", &spaced, "24000"], "letters, digits"),
        (vec!["single", &long, "24000"], "too long"),
    ] {
        let (ok, said) = cluster_script(&args);
        assert!(!ok, "{args:?} succeeded: {said}");
        assert!(said.contains(words), "{args:?}: {said}");
        // Whatever the script made for a start it refused, stopping removes.
        let (stopped, said) = cluster_script(&["stop", dir]);
        assert!(stopped, "{said}");
        for made in [dir, &hostile, &spaced] {
            assert!(!Path::new(made).exists(), "{args:?} left {made}");
        }
    }

    // A port in use is refused before anything starts.
    let taken =
        std::net::TcpListener::bind(("127.0.0.1", postgres::free_port_below_32768())).unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (ok, said) = cluster_script(&["single", dir, &port]);
    assert!(!ok && said.contains(&format!("port {port} is in use")), "{said}");
    assert!(cluster_script(&["stop", dir]).0);

    // Stopping what is not there is done; a folder that is not the script's is left alone.
    assert!(cluster_script(&["stop", dir]).0);
    let mine = parent.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("keep.txt"), "mine").unwrap();
    let (ok, said) = cluster_script(&["stop", mine.to_str().unwrap()]);
    assert!(!ok && said.contains("left alone"), "{said}");
    assert_eq!(std::fs::read_to_string(mine.join("keep.txt")).unwrap(), "mine");
}
