//! `hotline backup` while calls keep coming, and `hotline restore`: consistent snapshots,
//! plain and encrypted, files only their owner reads, and restores that refuse what they
//! should.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use common::spawn_app;

const KEY: &str = "backup-secret-for-tests-0123";

fn hotline(dir: &Path, db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.current_dir(dir).env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("HOTLINE_") {
            cmd.env_remove(name);
        }
    }
    // A port nothing listens on: `restore` refuses while a server answers on its address.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    cmd.env("HOTLINE_DATABASE_PATH", db).env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"));
    // The test server's callback key, which wraps its data keys, as an operator's shell has it.
    cmd.env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY);
    cmd
}

fn run(cmd: &mut Command) -> (bool, String) {
    let output = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn cases(db: &Path) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT COUNT(*) FROM cases", [], |row| row.get(0)).unwrap()
}

/// A digest of everything recorded about calls: every case's columns, tags and events.
fn checksum(db: &Path) -> String {
    use sha2::{Digest, Sha256};
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut hash = Sha256::new();
    for sql in [
        "SELECT number_year, number_seq, call_sid, language, caller_hash, started_at, ended_at,
                status, outcome, recording_url FROM cases ORDER BY id",
        "SELECT case_id, key, value FROM case_tags ORDER BY case_id, key",
        "SELECT case_id, step, idx, at, detail FROM case_events ORDER BY case_id, step, idx",
    ] {
        let mut statement = conn.prepare(sql).unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let value: rusqlite::types::Value = row.get(i).unwrap();
                hash.update(format!("{value:?}\u{1f}"));
            }
            hash.update("\n");
        }
    }
    format!("{:x}", hash.finalize())
}

/// Every (call, step, idx) event of `db`.
fn events(db: &Path) -> std::collections::BTreeSet<(String, i64, i64, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT c.call_sid, e.step, e.idx, e.detail FROM case_events e
             JOIN cases c ON c.id = e.case_id",
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_every_case_it_saw() {
    let app = Arc::new(spawn_app().await);
    let work = tempfile::tempdir().unwrap();
    let db = app.db_path.clone();
    for _ in 0..3 {
        app.call("1,1,2,2,1", None).await;
    }

    // Callers keep calling while the backups are taken.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU32::new(0));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (app, stop, calls) = (Arc::clone(&app), Arc::clone(&stop), Arc::clone(&calls));
        load.push(tokio::spawn(async move {
            let presses = ["1,1,2,2,1", "1,1,1,1", "2,1,hangup"][worker];
            while !stop.load(Ordering::Relaxed) {
                app.call(presses, None).await;
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    while calls.load(Ordering::Relaxed) < 6 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = cases(&db);
    let (plain, sealed) = (work.path().join("plain.db"), work.path().join("sealed.bak"));
    let (work_dir, db_for_backup, plain_out, sealed_out) =
        (work.path().to_owned(), db.clone(), plain.clone(), sealed.clone());
    let (first, second) = tokio::task::spawn_blocking(move || {
        let first = run(hotline(&work_dir, &db_for_backup).arg("backup").arg(&plain_out));
        let second = run(hotline(&work_dir, &db_for_backup)
            .env("HOTLINE_BACKUP_KEY", KEY)
            .args(["backup", "--encrypt"])
            .arg(&sealed_out));
        (first, second)
    })
    .await
    .unwrap();
    let calls_during = calls.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for worker in load {
        worker.await.unwrap();
    }
    assert!(first.0, "{}", first.1);
    assert!(second.0, "{}", second.1);
    assert!(first.1.contains("not encrypted") && second.1.contains("encrypted"), "{first:?}");
    let after = cases(&db);
    assert!(after > before, "calls went on during the backups: {before} -> {after}");
    let app = Arc::into_inner(app).expect("the load is over");
    let dir = app.stop().await;
    let final_events = events(&db);

    assert_eq!((mode(&plain), mode(&sealed)), (0o600, 0o600));
    let sealed_bytes = std::fs::read(&sealed).unwrap();
    assert!(!sealed_bytes.starts_with(b"SQLite format 3"), "the sealed backup is encrypted");
    assert!(!String::from_utf8_lossy(&sealed_bytes).contains("surrender"));

    // Each snapshot restores to a sound database holding a moment of the line: every case it
    // has is in the final database, with events the final one also has. A database is
    // restored beside its data keys, which no backup carries (docs/security.md, "Data keys").
    std::fs::copy(
        db.with_file_name(hotline::storage::DATA_KEYS_FILE),
        work.path().join(hotline::storage::DATA_KEYS_FILE),
    )
    .unwrap();
    for (backup, key) in [(&plain, None), (&sealed, Some(KEY))] {
        let target = work.path().join(format!("restored-{}.db", rand_suffix()));
        let mut cmd = hotline(work.path(), &target);
        if let Some(key) = key {
            cmd.env("HOTLINE_BACKUP_KEY", key);
        }
        let (ok, text) = run(cmd.arg("restore").arg(backup));
        assert!(ok, "{text}");
        let restored = cases(&target);
        assert!((before..=after).contains(&restored), "{before} <= {restored} <= {after}");
        assert!(events(&target).is_subset(&final_events), "a snapshot holds only real events");
        assert_eq!(mode(&target), 0o600);
        println!(
            "backup under load: {calls_during} calls before the backups ended, {restored} of \
             {after} cases in the snapshot"
        );
    }

    // With the server stopped, a backup and its restore are the database, exactly.
    let still = work.path().join("still.bak");
    let (ok, text) = run(hotline(work.path(), &db)
        .env("HOTLINE_BACKUP_KEY", KEY)
        .args(["backup", "--encrypt"])
        .arg(&still));
    assert!(ok, "{text}");
    let copy = work.path().join("copy.db");
    let (ok, text) =
        run(hotline(work.path(), &copy).env("HOTLINE_BACKUP_KEY", KEY).arg("restore").arg(&still));
    assert!(ok, "{text}");
    assert_eq!(cases(&copy), cases(&db));
    assert_eq!(checksum(&copy), checksum(&db));
    drop(dir);
}

fn rand_suffix() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_restore_refuses_what_it_should_and_touches_nothing() {
    let app = spawn_app().await;
    app.call("1,1,2,2,1", None).await;
    let db = app.db_path.clone();
    let dir = app.stop().await;
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good.bak");
    let sealed = work.path().join("sealed.bak");
    assert!(run(hotline(work.path(), &db).arg("backup").arg(&good)).0);
    let (ok, text) = run(hotline(work.path(), &db).args(["backup", "--encrypt"]).arg(&sealed));
    assert!(!ok && text.contains("HOTLINE_BACKUP_KEY"), "no secret, no encrypted backup: {text}");
    assert!(!sealed.exists());
    let (ok, text) = run(hotline(work.path(), &db)
        .env("HOTLINE_BACKUP_KEY", "short")
        .args(["backup", "--encrypt"])
        .arg(&sealed));
    assert!(!ok && text.contains("too short"), "{text}");
    assert!(
        run(hotline(work.path(), &db)
            .env("HOTLINE_BACKUP_KEY", KEY)
            .args(["backup", "--encrypt"])
            .arg(&sealed))
        .0
    );
    // A backup never overwrites a file.
    let (ok, text) = run(hotline(work.path(), &db).arg("backup").arg(&good));
    assert!(!ok && text.contains("already exists"), "{text}");
    let (ok, text) = run(hotline(work.path(), &work.path().join("none.db"))
        .arg("backup")
        .arg(work.path().join("x.bak")));
    assert!(!ok && text.contains("no database"), "{text}");

    let (ok, text) =
        run(hotline(work.path(), &db).arg("backup").arg(work.path().join("no/such/dir/x.bak")));
    assert!(!ok && text.contains("no/such/dir"), "{text}");
    let (ok, text) = run(hotline(work.path(), &db).arg("backup"));
    assert!(!ok && text.contains("PATH"), "a path is required: {text}");
    let (ok, text) = run(hotline(work.path(), &db)
        .args(["restore", "--force"])
        .arg(work.path().join("missing.bak")));
    assert!(!ok && text.contains("missing.bak"), "{text}");
    let (ok, text) = run(hotline(work.path(), &db).args(["hold", "2026-000999"]));
    assert!(!ok && text.contains("no case 2026-000999"), "{text}");
    let (ok, text) = run(hotline(work.path(), &db).args(["hold", &"9".repeat(10_000)]));
    assert!(!ok && text.contains("hotline hold"), "{}", &text[..text.len().min(300)]);

    let original = checksum(&db);
    let refusals: Vec<(String, Vec<u8>, Option<&str>, &str)> = vec![
        ("without --force".into(), std::fs::read(&good).unwrap(), None, "--force"),
        ("garbage".into(), b"not a database at all".to_vec(), None, "cannot be restored"),
        ("empty".into(), Vec::new(), None, "cannot be restored"),
        ("huge garbage".into(), vec![0x5a; 3 << 20], None, "cannot be restored"),
        ("cut".into(), std::fs::read(&good).unwrap()[..4096].to_vec(), None, "cannot be restored"),
        ("sealed, no key".into(), std::fs::read(&sealed).unwrap(), None, "no backup secret"),
        (
            "sealed, wrong key".into(),
            std::fs::read(&sealed).unwrap(),
            Some("another-secret-0123456"),
            "cannot be restored",
        ),
        (
            "sealed, flipped".into(),
            flipped(&std::fs::read(&sealed).unwrap()),
            Some(KEY),
            "cannot be restored",
        ),
    ];
    for (what, bytes, key, expected) in refusals {
        let file = work.path().join(format!("{}.bak", what.replace([' ', ','], "-")));
        std::fs::write(&file, bytes).unwrap();
        let mut cmd = hotline(work.path(), &db);
        cmd.arg("restore").arg(&file);
        if what != "without --force" {
            cmd.arg("--force");
        }
        if let Some(key) = key {
            cmd.env("HOTLINE_BACKUP_KEY", key);
        }
        let (ok, text) = run(&mut cmd);
        assert!(!ok && text.contains(expected), "{what}: {text}");
        assert_eq!(checksum(&db), original, "{what}: the database was touched");
    }
    // A server answering on the configured address: refused even with --force.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = listener.local_addr().unwrap().to_string();
    let (ok, text) = run(hotline(work.path(), &db)
        .env("HOTLINE_SERVER_LISTEN", &busy)
        .args(["restore", "--force"])
        .arg(&good));
    assert!(!ok && text.contains("stop it first"), "{text}");
    // And with --force, the good ones go through.
    let (ok, text) = run(hotline(work.path(), &db)
        .env("HOTLINE_BACKUP_KEY", KEY)
        .args(["restore", "--force"])
        .arg(&sealed));
    assert!(ok, "{text}");
    assert_eq!(checksum(&db), original);
    drop(dir);
}

fn flipped(bytes: &[u8]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    bytes
}
