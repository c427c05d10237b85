//! The hotline with its cases in PostgreSQL (`database.url`), on a real server started by
//! `tests/postgres/cluster`: a database `hotline migrate-db` moved there, served from there;
//! and two servers sharing one database, as a line on two machines runs, each answering any
//! step of any call, one at a time on duty.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::api::{api, person};
use crate::common::binary::printed;
use crate::common::postgres::Postgres;
use crate::common::{self, TestApp, attribute};
use crate::console_operator::{operator, waiting_caller};
use crate::metrics::{SCRAPER, scrape, sha256_hex};
use crate::migrate_db::{NOTE, filled, migrate, path, voicemail_case};
use hotline::config::Config;
use hotline::domain::cases::CallSid;
use hotline::domain::data_keys::DataKeys;
use hotline::domain::people::Role;
use hotline::domain::retention::RetentionPolicy;
use hotline::domain::secret::Secret;
use hotline::storage::{DATA_KEYS_FILE, Storage};
use serde_json::json;

/// A server on the PostgreSQL database `url`, with a copy of the data keys at `keys` (when
/// given) in its own data folder, as each machine of a line keeps one.
async fn serving(url: &str, keys: Option<&Path>) -> TestApp {
    serving_with(url, keys, |_, _| {}).await
}

/// [`serving`], the configuration changed by `adjust`, which also gets the server's folder.
async fn serving_with(
    url: &str,
    keys: Option<&Path>,
    adjust: impl FnOnce(&mut Config, &Path),
) -> TestApp {
    let (mut config, dir) = common::test_config(|config| config.database.url = url.to_owned());
    adjust(&mut config, dir.path());
    if let Some(keys) = keys {
        std::fs::copy(keys, config.database.path.with_file_name(DATA_KEYS_FILE)).unwrap();
    }
    common::start(config, dir).await
}

#[tokio::test]
async fn a_database_moved_to_postgresql_is_served_from_there() {
    let (dir, db, number) = filled().await;
    let pg = Postgres::single();
    let moved = migrate(dir.path(), path(&db), pg.uri());
    assert!(moved.status.success(), "{}", printed(&moved));
    let cases_before: u32 = pg.query("SELECT count(*) FROM cases").parse().unwrap();

    let app = serving(pg.uri(), Some(&db.with_file_name(DATA_KEYS_FILE))).await;
    let (_, token) = person(&app, "taras", Role::Supervisor, &["ru"]).await;
    let (status, body) =
        api(&app, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notes"][0]["text"], NOTE, "the note opens with the copied keys: {body}");

    // A new call is answered and kept there, not in a file.
    let new = voicemail_case(&app).await;
    let (status, body) = api(&app, "GET", &format!("/api/cases/{new}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "voicemail", "{body}");
    let cases_after: u32 = pg.query("SELECT count(*) FROM cases").parse().unwrap();
    assert_eq!(cases_after, cases_before + 1);
    assert!(!app.db_path.exists(), "no SQLite file is made beside the data keys");
    app.stop().await;
}

/// Follows one call through the menus, each request to the server `at(step)` names, as the
/// provider does when its primary URL fails over to the fallback.
async fn call_across(servers: [&TestApp; 2], sid: &str, keys: &[&str]) {
    let mut doc = servers[0].post_call("/voice/incoming", sid, &[]).await;
    for (n, key) in keys.iter().enumerate() {
        let action = attribute(&doc, "Gather", "action").expect("a menu");
        doc = servers[(n + 1) % 2].post_call(&action, sid, &[("Digits", key)]).await;
    }
    let done = [("CallStatus", "completed"), ("CallDuration", "30")];
    servers[keys.len() % 2].post_call("/voice/status", sid, &done).await;
}

#[tokio::test]
async fn two_servers_on_one_database_answer_any_step_of_any_call() {
    let pg = Postgres::single();
    // The first server makes the schema and the data keys; the second gets a copy of them.
    let first = serving(pg.uri(), None).await;
    let keys = first.db_path.with_file_name(DATA_KEYS_FILE);
    let second = serving(pg.uri(), Some(&keys)).await;

    // Twelve calls at once, each step answered by the other server than the step before.
    let sids: Vec<String> = (0..12).map(|_| common::new_call_sid()).collect();
    let calls = sids.iter().enumerate().map(|(n, sid)| {
        let servers = if n % 2 == 0 { [&first, &second] } else { [&second, &first] };
        async move { call_across(servers, sid, &["1", "1", "2"]).await }
    });
    futures_util::future::join_all(calls).await;

    assert_eq!(pg.query("SELECT count(*) FROM cases"), "12", "one case per call");
    for sid in &sids {
        let call = CallSid::parse(sid).unwrap();
        let seen_by_first = first.storage.case_by_call(&call).await.unwrap().unwrap();
        let seen_by_second = second.storage.case_by_call(&call).await.unwrap().unwrap();
        assert_eq!(seen_by_first.number, seen_by_second.number);
        let steps: Vec<u32> = seen_by_first.events.iter().map(|e| e.step).collect();
        let mut distinct = steps.clone();
        distinct.dedup();
        assert_eq!(distinct, [0, 1, 2, 3], "every step once, in order: {steps:?}");
        assert_eq!(seen_by_first.events.len(), seen_by_second.events.len());
        assert!(seen_by_first.ended_at.is_some(), "the final status landed");
    }

    // Someone added on one server signs in on the other.
    let (_, token) = person(&first, "oksana", Role::Supervisor, &["ru"]).await;
    let number = first.case(&sids[0]).await.number.to_string();
    let (status, body) =
        api(&second, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    first.stop().await;
    second.stop().await;
}

/// A server on `url` like [`serving`], scraped by the metrics tests' token, with a scripts
/// folder of its own looked at every 100 ms, and the duties' lease at its shortest.
async fn serving_on_duty_watch(url: &str, keys: Option<&Path>) -> TestApp {
    serving_with(url, keys, |config, dir| {
        config.database.duty_lease_ms = 1500;
        config.scripts.watch_interval_ms = 100;
        config.scripts.dir = common::shipped_scripts_copy(dir);
        config.metrics.token_sha256 = sha256_hex(SCRAPER);
    })
    .await
}

/// Whether `app` says it is on duty.
async fn on_duty(app: &TestApp) -> bool {
    scrape(app).await["hotline_on_duty"] == 1.0
}

/// Waits up to `within` for `condition`, checking every 50 ms; the time it took.
async fn waited_for<F: std::future::Future<Output = bool>>(
    within: Duration,
    mut condition: impl FnMut() -> F,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if condition().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// What a new call hears first on `app`: the language menu of `languages.xml`.
async fn first_prompt(app: &TestApp) -> String {
    common::said(&app.post_call("/voice/incoming", &common::new_call_sid(), &[]).await).join(" ")
}

/// Replaces `from` by `to` in the folder's `languages.xml`.
fn edit_languages(dir: &Path, from: &str, to: &str) {
    let file = dir.join("languages.xml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&file, text.replace(from, to)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_at_a_time_is_on_duty_and_the_other_takes_over_when_it_stops() {
    let pg = Postgres::single();
    let first = serving_on_duty_watch(pg.uri(), None).await;
    let keys = first.db_path.with_file_name(DATA_KEYS_FILE);
    let second = serving_on_duty_watch(pg.uri(), Some(&keys)).await;

    // One of the two takes the duties, and only one, for as long as both run.
    let one = waited_for(Duration::from_secs(10), || async {
        on_duty(&first).await != on_duty(&second).await
    })
    .await;
    assert!(one.is_some(), "nobody, or both, on duty");
    for _ in 0..10 {
        assert_ne!(on_duty(&first).await, on_duty(&second).await, "exactly one on duty");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (on, off) = if on_duty(&first).await { (first, second) } else { (second, first) };
    let folder = |app: &TestApp| app.db_path.with_file_name("ivr-scripts");

    // An edit of the folder of the server off duty is not published...
    edit_languages(&folder(&off), "For English, press 4.", "Press 4 for English.");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!first_prompt(&on).await.contains("Press 4 for English."));
    assert!(!first_prompt(&off).await.contains("Press 4 for English."));
    // ...one of the folder of the server on duty is, and the other server follows it.
    edit_languages(&folder(&on), "For English, press 4.", "For English, press four.");
    let followed = waited_for(Duration::from_secs(10), || async {
        first_prompt(&off).await.contains("For English, press four.")
    })
    .await;
    assert!(followed.is_some(), "the version published on duty is not live on the other");
    assert!(first_prompt(&on).await.contains("For English, press four."));

    // A purge destroys months of data keys in its server's copy; the other's copy follows.
    let keys_elsewhere = off.db_path.with_file_name(DATA_KEYS_FILE);
    let before = std::fs::read(&keys_elsewhere).unwrap();
    let month = chrono::Duration::days(30);
    let policy = RetentionPolicy { recordings: month, notes: month, caller_hashes: month };
    let report = on.storage.purge(policy, chrono::Utc::now(), false).await.unwrap();
    assert!(!report.note_keys_from.is_empty(), "{report:?}");
    let followed = waited_for(Duration::from_secs(10), || async {
        std::fs::read(&keys_elsewhere).unwrap() != before
    })
    .await;
    assert!(followed.is_some(), "the other server's data keys kept the destroyed months");

    // The server on duty stops and gives the lease up; the other takes it at its next look
    // and publishes the edit its folder held.
    let holder = pg.query("SELECT holder FROM leases WHERE name = 'duties'");
    on.stop().await;
    assert_ne!(pg.query("SELECT holder FROM leases WHERE name = 'duties'"), holder);
    let took = waited_for(Duration::from_secs(10), || on_duty(&off)).await;
    let took = took.expect("the other server did not take the duties over");
    println!("duties taken over {} ms after the server on duty stopped", took.as_millis());
    let published = waited_for(Duration::from_secs(10), || async {
        first_prompt(&off).await.contains("Press 4 for English.")
    })
    .await;
    assert!(published.is_some(), "the edit made off duty was not published on duty");
    off.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_on_two_servers_see_one_live_queue_and_never_take_the_same_caller() {
    let pg = Postgres::single();
    // The callers call from one number: more than the two calls at once one number may have.
    let many = |config: &mut Config, _: &Path| config.webhooks.calls_per_caller = 10;
    let first = serving_with(pg.uri(), None, many).await;
    let keys = first.db_path.with_file_name(DATA_KEYS_FILE);
    let second = serving_with(pg.uri(), Some(&keys), many).await;
    let (_, olga) = operator(&second, "olga", &["ru"]).await;
    let queue = "/console/operator/queues/events";
    let empty = olga.first_live_message(queue).await;
    assert!(!empty.contains("data-case="), "{empty}");
    // Olga's console on the second server is open while a caller queues on the first: her
    // live queue shows them without a reload.
    let watching = tokio::spawn(async move {
        olga.live_event_where(queue, |html| html.contains("data-case=")).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sid, _) = waiting_caller(&first).await;
    let mut cases = vec![first.case(&sid).await.number.to_string()];
    let live = watching.await.unwrap().expect("a live message with the caller");
    assert!(live.contains(&format!(r#"data-case="{}""#, cases[0])), "{live}");

    // Five more callers wait, queued by either server.
    for n in 1..6 {
        let (sid, _) = waiting_caller(if n % 2 == 0 { &first } else { &second }).await;
        cases.push(first.case(&sid).await.number.to_string());
    }

    // Eight operators claim at once, four through each server: six get a caller each, never
    // the same one, and two find nobody.
    let mut tokens = Vec::new();
    for n in 0..8 {
        tokens.push(person(&first, &format!("op{n}"), Role::Operator, &["ru"]).await.1);
    }
    let claims = tokens.iter().enumerate().map(|(n, token)| {
        let server = if n % 2 == 0 { &first } else { &second };
        async move { api(server, "POST", "/api/queues/claim", Some(token), None).await }
    });
    let answers = futures_util::future::join_all(claims).await;
    let mut claimed: Vec<String> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body["case"].as_str().unwrap().to_owned())
        .collect();
    let nobody = answers.iter().filter(|(status, _)| *status == 404).count();
    assert_eq!((claimed.len(), nobody), (6, 2), "{answers:?}");
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), 6, "a caller claimed twice: {answers:?}");
    cases.sort();
    assert_eq!(claimed, cases);
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_database_of_an_older_build_is_brought_forward_and_others_are_refused() {
    let pg = Postgres::single();
    let dir = tempfile::tempdir().unwrap();
    let beside = dir.path().join("hotline.db");
    let open = || Storage::open_postgres(pg.uri(), &beside, common::storage_options());
    let storage = open().await.unwrap();
    let version = pg.query("SELECT version FROM hotline_schema_version");
    storage.hold_lease("duties", "a".into(), chrono::Utc::now(), chrono::Utc::now()).await.unwrap();
    drop(storage);

    // As the build before the duties' leases left it: brought forward through both files
    // since, its rows kept.
    let due_index = "SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_pending'";
    let indexed_by_due_time = pg.query(due_index);
    assert!(indexed_by_due_time.contains("(channel, next_at, id)"), "{indexed_by_due_time}");
    pg.query(&format!(
        "DROP TABLE leases; DROP TABLE data_key_floors; DROP INDEX outbox_pending;
         CREATE INDEX outbox_pending ON outbox (channel, id) WHERE state = 'pending';
         UPDATE hotline_schema_version SET version = {version} - 2"
    ));
    let storage = open().await.unwrap();
    assert_eq!(pg.query("SELECT version FROM hotline_schema_version"), version);
    assert_eq!(pg.query(due_index), indexed_by_due_time);
    assert_eq!(pg.query("SELECT count(*) FROM leases"), "0");
    assert_eq!(pg.query("SELECT count(*) FROM cases WHERE false"), "0");
    assert!(
        storage
            .hold_lease("duties", "b".into(), chrono::Utc::now(), chrono::Utc::now())
            .await
            .unwrap()
    );
    drop(storage);

    // Older than any file here, newer than this build, or someone else's tables: refused,
    // saying what to do, and left as they were.
    for (setup, expected) in [
        ("UPDATE hotline_schema_version SET version = 16", "move it with the release"),
        ("UPDATE hotline_schema_version SET version = 99", "newer"),
        (
            "DROP TABLE hotline_schema_version; DROP SCHEMA public CASCADE; CREATE SCHEMA public;
             CREATE TABLE invoices (id BIGINT)",
            "holds 1 tables but no hotline schema",
        ),
    ] {
        pg.query(setup);
        let before = pg.query("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'");
        let Err(error) = open().await else { panic!("opened after {setup}") };
        let error = error.to_string();
        assert!(error.contains(expected), "{setup}: {error}");
        assert!(!error.contains("postgres://"), "the URL is never repeated: {error}");
        let after = pg.query("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'");
        assert_eq!(before, after);
    }
}

/// The sealed values (`dk1.<class>.<yyyymm>.<base64url>`) in `bytes`.
fn sealed_values(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    for (at, _) in text.match_indices("dk1.") {
        let value: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect();
        // The prefix (13 characters) and at least a nonce and a tag.
        if value.len() > 13 + 30 {
            found.push(value);
        }
    }
    found
}

/// The data keys in the file at `path`, opened as the servers open them.
fn keys_in(path: &Path) -> DataKeys {
    let secret = Secret::new(common::CALLBACK_KEY.into());
    DataKeys::load(&secret, &std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_leaves_a_note_unreadable_on_the_standby_in_the_wal_and_in_an_older_base_backup() {
    let cluster = Postgres::cluster();
    let first = serving(cluster.uri(), None).await;
    let keys_file = first.db_path.with_file_name(DATA_KEYS_FILE);
    let second = serving(cluster.uri(), Some(&keys_file)).await;
    let (_, token) = person(&first, "olga", Role::Supervisor, &["ru"]).await;
    let number = voicemail_case(&first).await;
    let note = format!("SHRED-{} waits at the bridge", common::new_call_sid());
    let notes = format!("/api/cases/{number}/notes");
    let (status, _) =
        api(&second, "POST", &notes, Some(&token), Some(json!({ "text": note }))).await;
    assert_eq!(status, 201);
    let (_, detail) = api(&first, "GET", &format!("/api/cases/{number}"), Some(&token), None).await;
    let recording = detail["voicemail_url"].as_str().expect("a voicemail").to_owned();

    // A base backup of the primary, taken before the purge, as a nightly one would be.
    let primary = cluster.query("SELECT inet_server_port()");
    let backup = tempfile::tempdir().unwrap();
    let taken = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_basebackup")
        .args(["-d", &format!("host=127.0.0.1 port={primary} user=postgres")])
        .arg("-D")
        .arg(backup.path().join("base"))
        .args(["-X", "stream", "-c", "fast"])
        .output()
        .unwrap();
    assert!(taken.status.success(), "{}", printed(&taken));
    // The backup holds the note and the recording's address, sealed, and the keys open them.
    let sealed: Vec<String> = common::files_under(backup.path())
        .iter()
        .flat_map(|file| sealed_values(&std::fs::read(file).unwrap()))
        .collect();
    let opened: Vec<String> =
        sealed.iter().filter_map(|value| keys_in(&keys_file).open(value).ok()).collect();
    assert!(opened.contains(&note), "the note is not in the backup: {} sealed", sealed.len());
    assert!(opened.contains(&recording), "the recording is not in the backup");

    // The purge, run as if a year had passed: the note and the address go, with their
    // months' keys, in the copy of the server that ran it and then in the other's.
    let month = chrono::Duration::days(30);
    let policy = RetentionPolicy { recordings: month, notes: month, caller_hashes: month };
    let later = chrono::Utc::now() + chrono::Duration::days(400);
    let report = first.storage.purge(policy, later, false).await.unwrap();
    assert!(report.notes >= 1 && report.recordings >= 1, "{report:?}");
    let elsewhere = second.db_path.with_file_name(DATA_KEYS_FILE);
    let followed = waited_for(Duration::from_secs(30), || async {
        sealed.iter().all(|value| keys_in(&elsewhere).open(value).is_err())
    })
    .await;
    assert!(followed.is_some(), "the second server's keys still open the backup's values");

    // Nothing anywhere opens what the backup, the primary, the standby or their WAL hold,
    // and no byte of the note or the address is there in the clear.
    let mut scanned = 0;
    for dir in [cluster.dir(), backup.path(), first.dir.path(), second.dir.path()] {
        let (files, bytes) = common::assert_in_no_file(dir, &[&note, &recording]);
        scanned += bytes;
        for file in files {
            for value in sealed_values(&std::fs::read(&file).unwrap()) {
                for keys in [&keys_file, &elsewhere] {
                    let opened = keys_in(keys).open(&value);
                    let plain = opened.as_deref().unwrap_or("");
                    assert!(plain != note && plain != recording, "{} opens", file.display());
                }
            }
        }
    }
    println!("{} sealed values in the backup, {scanned} bytes scanned", sealed.len());
    first.stop().await;
    second.stop().await;
}

/// A CA, and a certificate and key it signed for `names`, in PEM: (CA, certificate, key).
fn certificates(names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let server = rcgen::CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
    (ca_pem, server.pem(), key.serialize_pem())
}

/// Turns `pg`'s server to TLS only: its certificate and key from `server`, and connections
/// over TCP without TLS refused (only the server's own socket stays plain).
fn tls_only(pg: &Postgres, server: (&str, &str)) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let data = pg.dir().join("data");
    let owner = std::fs::metadata(&data).unwrap();
    let write = |name: &str, text: &str| {
        let path = data.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
    };
    write("server.crt", server.0);
    write("server.key", server.1);
    write(
        "pg_hba.conf",
        "local all all trust\n\
         hostssl all all 127.0.0.1/32 trust\n\
         hostnossl all all 127.0.0.1/32 reject\n",
    );
    pg.query(
        "ALTER SYSTEM SET ssl = on;
         ALTER SYSTEM SET ssl_cert_file = 'server.crt';
         ALTER SYSTEM SET ssl_key_file = 'server.key';
         SELECT pg_reload_conf();",
    );
}

#[tokio::test]
async fn over_tls_the_database_servers_certificate_is_checked_and_nothing_goes_in_the_clear() {
    let pg = Postgres::single();
    let (ca, certificate, key) = certificates(&["127.0.0.1", "localhost"]);
    let (other_ca, _, _) = certificates(&["127.0.0.1"]);
    tls_only(&pg, (&certificate, &key));
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, other_ca_file) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
    std::fs::write(&ca_file, &ca).unwrap();
    std::fs::write(&other_ca_file, &other_ca).unwrap();
    let verified =
        |ca: &Path| format!("{}?sslmode=verify-full&sslrootcert={}", pg.uri(), ca.display());
    // psql's `require` encrypts without checking, enough to look from outside.
    let tls_psql = |sql: &str| {
        let output = pg.psql(&format!("{}?sslmode=require", pg.uri()), sql, &[]);
        assert!(output.status.success(), "{}", printed(&output));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let ready = waited_for(Duration::from_secs(10), || async {
        !pg.psql(&format!("{}?sslmode=disable", pg.uri()), "SELECT 1", &[]).status.success()
    })
    .await;
    assert!(ready.is_some(), "the server still takes plain TCP");

    // Plain TCP is refused by the server; another CA's certificate is refused by the hotline.
    let beside = dir.path().join("hotline.db");
    let open = |url: String| {
        let beside = beside.clone();
        async move { Storage::open_postgres(&url, &beside, common::storage_options()).await }
    };
    let Err(plain) = open(pg.uri().to_owned()).await else { panic!("opened in plain TCP") };
    assert!(plain.to_string().contains("no encryption"), "{plain}");
    let Err(stranger) = open(verified(&other_ca_file)).await else {
        panic!("trusted a certificate another CA signed")
    };
    assert!(stranger.to_string().to_lowercase().contains("certificate"), "{stranger}");
    assert_eq!(tls_psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");

    // The right CA: a whole server answers a call, every session of it encrypted.
    let app = serving_with(&verified(&ca_file), None, |_, _| {}).await;
    let number = voicemail_case(&app).await;
    assert_eq!(tls_psql("SELECT count(*) FROM cases"), "1", "case {number}");
    let sessions = tls_psql(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a
         JOIN pg_stat_ssl s USING (pid) WHERE a.datname = 'hotline' AND a.pid <> pg_backend_pid()",
    );
    let (encrypted, all) = sessions.split_once('|').unwrap();
    assert!(all.parse::<u32>().unwrap() >= 2 && encrypted == all, "{sessions}");
    app.stop().await;
}
