//! Text conversations proven from outside, where they can go wrong without anyone seeing it:
//! the server killed in the middle of sending a reply, a day of chats followed by the retention
//! purge (then every file and log line scanned for the people), people who fall silent, and a
//! webhook flooded with the same and different updates and hostile texts.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use hotline::app::Clock;
use hotline::config::Config;
use hotline::domain::cases::CaseNumber;
use hotline::domain::conversation::{Author, MessageKind};
use hotline::domain::people::Role;

use crate::common::api::{self, TEST_PASSWORD};
use crate::common::chats::chat_app;
use crate::common::console::Browser;
use crate::common::process::healthy;
use crate::common::telegram::{
    BOT_TOKEN, FakeBotApi, Fault, PERSON_FIRST_NAME, PERSON_LAST_NAME, PERSON_USERNAME, Sent,
};
use crate::common::{self, TELEGRAM_SECRET, TOKEN, TestApp};

/// Waits (up to `within`) until `done` holds; whether it did.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the bot sent to `chat`, in order.
fn sent_to(fake: &FakeBotApi, chat: i64) -> Vec<Sent> {
    fake.sent().into_iter().filter(|s| s.chat_id == chat).collect()
}

/// Waits (up to 10 s, without blocking the server's runtime) until `chat` got `n` messages;
/// returns them all.
async fn delivered(fake: &FakeBotApi, chat: i64, n: usize) -> Vec<Sent> {
    let start = Instant::now();
    loop {
        let sent = sent_to(fake, chat);
        if sent.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One number from the database, on a connection of the test's own.
fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Every case's number, oldest first.
fn case_numbers(db: &Path) -> Vec<CaseNumber> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement =
        conn.prepare("SELECT number_year, number_seq FROM cases ORDER BY id").unwrap();
    statement
        .query_map([], |row| Ok(CaseNumber { year: row.get(0)?, sequence: row.get(1)? }))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Waits until the outbox holds nothing still to send.
async fn outbox_drained(db: &Path) {
    let start = Instant::now();
    while count(db, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')") > 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "the outbox never emptied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of a script's `<chat>` part (`reminder`, `closed`…) in a shipped language.
fn chat_words(language: &str, part: &str) -> String {
    let path = common::shipped_scripts().join(format!("{language}.xml"));
    let xml = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let node = doc.descendants().find(|n| n.has_tag_name(part)).expect("the script has it");
    node.text().unwrap_or_default().trim().to_owned()
}

/// Whether `needle` is in the bytes (read as text: a file's invalid UTF-8 cannot hide a valid
/// needle, and std's string search is fast on the journal's tens of megabytes).
fn contains(haystack: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(haystack).contains(needle)
}

// --- 1. kill -9 in the middle of a send ------------------------------------------------------

/// A `hotline serve` process with the Telegram bot on, answering through a fake Bot API.
struct Served {
    child: Child,
}

impl Served {
    /// `kill -9`: no shutdown code runs.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // A failing test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hotline serve` on `port` and the database in `dir`, and waits until it answers.
fn serve(dir: &Path, port: u16, fake: &FakeBotApi) -> Served {
    let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("HOTLINE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOTLINE_DATABASE_PATH", dir.join("hotline.db"))
        .env("HOTLINE_SCRIPTS_DIR", common::shipped_scripts())
        .env("HOTLINE_AUTH_TOKEN", TOKEN)
        .env("HOTLINE_CALLER_HASH_KEY", "test-caller-hash-key-0123456789")
        .env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY)
        .env("HOTLINE_TELEGRAM_ENABLED", "true")
        .env("HOTLINE_TELEGRAM_API_BASE", &fake.base)
        .env("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN)
        .env("HOTLINE_TELEGRAM_SECRET", TELEGRAM_SECRET)
        .env("HOTLINE_OUTBOX_PER_CHAT_INTERVAL_MS", "10")
        .env("HOTLINE_OUTBOX_PER_SECOND", "1000")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the hotline binary starts");
    let served = Served { child };
    assert!(eventually(Duration::from_secs(20), || healthy(port)), "the server did not come up");
    served
}

/// Posts an update to a server process as Telegram does; it must be acknowledged.
fn post_update(port: u16, body: String) {
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("http://127.0.0.1:{port}/text/telegram"))
        .header("Content-Type", "application/json")
        .header("X-Telegram-Bot-Api-Secret-Token", TELEGRAM_SECRET)
        .body(body.into_bytes())
        .unwrap();
    let agent: ureq::Agent = common::agent_config().build().new_agent();
    let mut response = agent.run(request).expect("the server answers");
    let text = response.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(response.status().as_u16(), 200, "the update was not acknowledged: {text}");
}

/// Telegram's `sendMessage` takes no idempotency key: a request cut by a crash may or may not
/// have reached the person, and nothing can tell. The hotline sends it again (a person may see
/// it twice, never not at all); this proves it is exactly one resend and that nothing else
/// queued is lost or doubled.
#[test]
fn a_kill_in_the_middle_of_a_send_resends_that_message_once_and_loses_nothing() {
    const CUT: i64 = 5_550_611_001;
    const OTHER: i64 = 5_550_611_002;
    let fake = FakeBotApi::start();
    fake.fail_next("sendMessage", 1, Fault::Hang);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotline.db");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let first = serve(dir.path(), port, &fake);

    // The first reply hangs at Telegram; another chat's reply and the cut chat's next one are
    // queued meanwhile.
    post_update(port, fake.update_text(1, CUT, "/start"));
    let hung = eventually(Duration::from_secs(10), || fake.calls("sendMessage") >= 1);
    assert!(hung, "the first reply was never sent");
    post_update(port, fake.update_text(2, OTHER, "/start"));
    assert!(eventually(Duration::from_secs(10), || sent_to(&fake, OTHER).len() == 1));
    post_update(port, fake.update_button(3, CUT, 1, "l:en"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(sent_to(&fake, CUT).is_empty(), "a chat's next message overtook the one in flight");
    let in_flight = "SELECT COUNT(*) FROM outbox WHERE state = 'sending'";
    assert_eq!(count(&db, in_flight), 1, "the hung message is marked as being sent");
    first.kill9();

    let _second = serve(dir.path(), port, &fake);
    let resent = eventually(Duration::from_secs(15), || sent_to(&fake, CUT).len() >= 2);
    assert!(resent, "after the restart: {:#?}", fake.sent());
    // Time for a wrong second resend or a doubled message to show.
    std::thread::sleep(Duration::from_millis(1500));
    let cut = sent_to(&fake, CUT);
    let other = sent_to(&fake, OTHER);
    assert_eq!(cut.len(), 2, "{cut:#?}");
    assert_eq!(other.len(), 1, "{other:#?}");
    assert_eq!(cut[0].text, other[0].text, "the cut message (the languages) was sent again");
    assert_eq!(cut[0].buttons, other[0].buttons);
    assert_ne!(cut[1].text, cut[0].text, "then the next one, in order: {cut:#?}");
    // The cut request, the other chat's, the resend and the menu: one resend in all.
    assert_eq!(fake.calls("sendMessage"), 4);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE state <> 'sent'"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox"), 3);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE body IS NOT NULL"), 0);
    let resent_once = "SELECT COUNT(*) FROM outbox WHERE attempts = 2";
    assert_eq!(count(&db, resent_once), 1, "only the cut message was attempted twice");
}

// --- 2. a day of chats, then the purge --------------------------------------------------------

/// A test server with the bot on whose use cases read `clock`.
async fn chat_app_with_clock(
    fake: &FakeBotApi,
    clock: &Clock,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = dir.path().join("hotline.db");
    config.scripts.dir = common::shipped_scripts();
    config.telegram.enabled = true;
    config.telegram.api_base = fake.base.clone();
    config.outbox.per_chat_interval_ms = 10;
    config.outbox.per_second = 1000;
    adjust(&mut config);
    common::start_with_clock(config, dir, clock.clone()).await
}

/// `hotline ARGS…` on the database `db`, as an administrator runs it: its success and output.
fn hotline_cli(db: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    command.current_dir(work.path()).env_clear().env("HOTLINE_DATABASE_PATH", db).args(args);
    command.env("HOTLINE_CALLBACK_KEY", common::CALLBACK_KEY);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The key encrypted backups are made with in this test.
const BACKUP_KEY: &str = "test-backup-key-0123456789abcdef";

#[tokio::test]
async fn after_a_day_of_chats_and_the_purge_nothing_of_the_people_is_left_in_plaintext() {
    const WALKER: i64 = 5_550_622_001;
    const WAITER: i64 = 5_550_622_002;
    const LEAVER: i64 = 5_550_622_003;
    const KOREAN: i64 = 5_550_622_004;
    let logs = common::logs();
    let fake = FakeBotApi::start();
    // The day is 400 days ago: past both `notes_days` and `caller_hashes_days` (365) today.
    let clock = Clock::manual(Utc::now() - TimeDelta::days(400));
    let app = chat_app_with_clock(&fake, &clock, |config| {
        config.retention.purge_every_mins = 0;
    })
    .await;
    let db = app.db_path.clone();
    let mut written: Vec<String> = Vec::new();
    let mut say = |text: &str| {
        written.push(text.to_owned());
        text.to_owned()
    };

    // One person walks the English script to the question and answers it, then reaches an
    // operator, who replies and closes.
    app.telegram(fake.update_text(1, WALKER, "/start")).await;
    app.telegram(fake.update_button(2, WALKER, 1, "l:en")).await;
    let menu = delivered(&fake, WALKER, 2).await;
    let option = menu[1].buttons.iter().flatten().next().expect("a menu").0.clone();
    app.telegram(fake.update_text(3, WALKER, &option)).await;
    app.telegram(fake.update_text(4, WALKER, "1")).await;
    let talk = delivered(&fake, WALKER, 4).await;
    let yes = talk[3].buttons[0][0].1.clone();
    app.telegram(fake.update_button(5, WALKER, talk[3].message_id, &yes)).await;
    delivered(&fake, WALKER, 5).await;
    app.telegram(fake.update_text(6, WALKER, &say("Kestrel-unit 7781 at the old mill"))).await;
    delivered(&fake, WALKER, 7).await;
    app.telegram(fake.update_text(7, WALKER, &say("Walker-words: we are nine, two hurt"))).await;
    clock.advance(TimeDelta::minutes(3));

    // One reaches the Russian queue and waits, still open at the purge.
    app.telegram(fake.update_text(10, WAITER, "/start")).await;
    app.telegram(fake.update_button(11, WAITER, 1, "l:ru")).await;
    app.telegram(fake.update_text(12, WAITER, "0")).await;
    app.telegram(fake.update_text(13, WAITER, &say("Ждун-слова: подвал на Садовой"))).await;
    clock.advance(TimeDelta::minutes(4));

    // One writes freely at the menu, leaves by the goodbye, and writes again: a second case.
    app.telegram(fake.update_text(20, LEAVER, "/start")).await;
    app.telegram(fake.update_button(21, LEAVER, 1, "l:en")).await;
    app.telegram(fake.update_text(22, LEAVER, &say("Leaver-words: is this safe"))).await;
    for (update, key) in (23..).zip(["3", "7", "7", "7"]) {
        app.telegram(fake.update_text(update, LEAVER, key)).await;
    }
    app.telegram(fake.update_text(30, LEAVER, &say("Leaver-again: me once more"))).await;
    clock.advance(TimeDelta::minutes(5));

    // One in Korean.
    app.telegram(fake.update_text(40, KOREAN, "/start")).await;
    app.telegram(fake.update_button(41, KOREAN, 1, "l:ko")).await;
    app.telegram(fake.update_text(42, KOREAN, &say("한국어-말: 도와주세요 지금"))).await;

    // The operator takes the walker's chat, replies, and closes it.
    api::person(&app, "olga", Role::Operator, &["en", "ru"]).await;
    let mut olga = Browser::login(&app, "olga", TEST_PASSWORD).await;
    assert_eq!(olga.get("/console/chats").await.status, 200);
    let walker_case = case_numbers(&db)[0];
    let page = format!("/console/chats/{walker_case}");
    assert_eq!(olga.get(&page).await.status, 200);
    let taken = olga.post(&format!("{page}/take"), &[]).await;
    assert_eq!(taken.status, 303, "{}", taken.body);
    let reply = say("Olga-reply: stay low, we call the Red Cross");
    let replied = olga.post(&format!("{page}/reply"), &[("text", &reply)]).await;
    assert_eq!(replied.status, 303, "{}", replied.body);
    outbox_drained(&db).await;
    let closed = olga.post(&format!("{page}/close"), &[("disposition", "referred")]).await;
    assert_eq!(closed.status, 303, "{}", closed.body);
    outbox_drained(&db).await;
    assert!(sent_to(&fake, WALKER).iter().any(|s| s.text == reply), "the reply was delivered");
    let cases = case_numbers(&db);
    assert_eq!(cases.len(), 5, "four people, one of them twice");
    let kept_before: usize = {
        let mut kept = 0;
        for case in &cases {
            kept += app.storage.chat_messages(*case).await.unwrap().len();
        }
        kept
    };

    // Backups taken before the purge: neither holds the words in the clear, not even the plain
    // one, since they are stored sealed under the data keys (which no backup carries).
    let before = tempfile::tempdir().unwrap();
    let plain_before = before.path().join("before.db");
    let sealed_before = before.path().join("before.db.enc");
    let (ok, text) = hotline_cli(&db, &["backup", plain_before.to_str().unwrap()], &[]);
    assert!(ok, "{text}");
    let key = [("HOTLINE_BACKUP_KEY", BACKUP_KEY)];
    let args = ["backup", sealed_before.to_str().unwrap(), "--encrypt"];
    let (ok, text) = hotline_cli(&db, &args, &key);
    assert!(ok, "{text}");
    let plain = std::fs::read(&plain_before).unwrap();
    for word in &written {
        assert!(!contains(&plain, word), "a plain backup shows {word}");
    }
    assert!(contains(&plain, "dk1.n."), "the plain backup holds the words sealed");
    let sealed = std::fs::read(&sealed_before).unwrap();
    for word in &written {
        assert!(!contains(&sealed, word), "an encrypted backup shows {word}");
    }

    // Today: the purge.
    clock.set(Utc::now());
    let (ok, purged) = hotline_cli(&db, &["purge"], &[]);
    assert!(ok, "{purged}");
    assert!(purged.contains(&format!("{kept_before} chat message(s)")), "{purged}");
    assert!(purged.contains("5 caller hash(es)"), "{purged}");
    let after = app.dir.path().join("after.db");
    let (ok, text) = hotline_cli(&db, &["backup", after.to_str().unwrap()], &[]);
    assert!(ok, "{text}");
    let chats: Vec<String> = [WALKER, WAITER, LEAVER, KOREAN].map(|c| c.to_string()).into();
    let mut needles: Vec<&str> = vec![PERSON_FIRST_NAME, PERSON_LAST_NAME, PERSON_USERNAME];
    needles.extend(chats.iter().map(String::as_str));
    needles.extend(written.iter().map(String::as_str));
    // While the server runs (its write-ahead log and journal open), and once it stopped.
    let running = common::assert_in_no_file(app.dir.path(), &needles);
    let dir = app.stop().await;
    let stopped = common::assert_in_no_file(dir.path(), &needles);
    assert!(running.0.iter().any(|f| f.ends_with("after.db")), "{:?}", running.0);
    assert!(running.0.iter().any(|f| f.ends_with("hotline.db-wal")), "{:?}", running.0);
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    for needle in &needles {
        assert!(!logs.contains(needle), "{needle} in the logs");
    }
    for needle in &needles {
        assert!(!purged.contains(needle), "{needle} in the purge's output");
    }
    println!(
        "purge: {} — scanned {} + {} files ({} + {} bytes) and {} log lines for {} needles",
        purged.trim(),
        running.0.len(),
        stopped.0.len(),
        running.1,
        stopped.1,
        logs.lines().count(),
        needles.len()
    );
}

// --- 3. silence --------------------------------------------------------------------------------

#[tokio::test]
async fn silence_brings_one_reminder_then_the_closing_words_and_a_later_message_a_new_case() {
    const SILENT: i64 = 5_550_633_001;
    const BACK: i64 = 5_550_633_002;
    let fake = FakeBotApi::start();
    let clock = Clock::manual(Utc::now());
    let app = chat_app_with_clock(&fake, &clock, |config| {
        config.chats.upkeep_interval_ms = 200;
        config.chats.remind_after_mins = 30;
        config.chats.close_after_mins = 30;
    })
    .await;
    let db = app.db_path.clone();
    let (reminder_uk, closed_uk) = (chat_words("uk", "reminder"), chat_words("uk", "closed"));
    let reminder_en = chat_words("en", "reminder");
    assert!(!reminder_uk.is_empty() && reminder_uk != reminder_en);
    app.telegram(fake.update_text(1, SILENT, "/start")).await;
    app.telegram(fake.update_button(2, SILENT, 1, "l:uk")).await;
    app.telegram(fake.update_text(3, BACK, "/start")).await;
    app.telegram(fake.update_button(4, BACK, 1, "l:en")).await;
    delivered(&fake, SILENT, 2).await;
    delivered(&fake, BACK, 2).await;
    let cases = case_numbers(&db);
    let (silent_case, back_case) = (cases[0], cases[1]);

    // Not yet silent long enough: nothing.
    clock.advance(TimeDelta::minutes(29));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sent_to(&fake, SILENT).len(), 2, "reminded too early");

    // Silent past the reminder's time: one reminder each, in their language, however many
    // rounds of upkeep pass.
    clock.advance(TimeDelta::minutes(2));
    let silent = delivered(&fake, SILENT, 3).await;
    assert_eq!(silent.last().unwrap().text, reminder_uk);
    let back = delivered(&fake, BACK, 3).await;
    assert_eq!(back.last().unwrap().text, reminder_en);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sent_to(&fake, SILENT).len(), 3, "reminded more than once");

    // One writes after the reminder; then both are silent for the closing time.
    app.telegram(fake.update_text(5, BACK, "still here, sorry")).await;
    outbox_drained(&db).await;
    let back_before = sent_to(&fake, BACK).len();
    clock.advance(TimeDelta::minutes(31));
    let silent = delivered(&fake, SILENT, 4).await;
    assert_eq!(silent.len(), 4, "{silent:#?}");
    assert_eq!(silent[3].text, closed_uk);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sent_to(&fake, SILENT).len(), 4, "the closing words were sent more than once");
    let conversation = app.storage.conversation_of(silent_case).await.unwrap().unwrap();
    assert_eq!(conversation.position.state(), "closed");
    assert!(conversation.address_sealed.is_none(), "the reply address is shredded at close");
    assert!(app.storage.case(silent_case).await.unwrap().unwrap().ended_at.is_some());
    // The one who wrote is not closed: their silence started again, so a new reminder at most.
    let back_now = app.storage.conversation_of(back_case).await.unwrap().unwrap();
    assert_ne!(back_now.position.state(), "closed");
    assert!(back_now.address_sealed.is_some());
    let back_sent = sent_to(&fake, BACK);
    let closed_en = chat_words("en", "closed");
    assert!(back_sent.iter().all(|s| s.text != closed_en), "{back_sent:#?}");
    assert!(back_sent.len() <= back_before + 1, "{back_sent:#?}");

    // The closed one writes again: a new case, recognised as the same person.
    app.telegram(fake.update_text(6, SILENT, "я повернулася")).await;
    let cases = case_numbers(&db);
    assert_eq!(cases.len(), 3);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let hash_of = |case: CaseNumber| -> Option<String> {
        conn.query_row(
            "SELECT caller_hash FROM cases WHERE number_year = ?1 AND number_seq = ?2",
            rusqlite::params![case.year, case.sequence],
            |row| row.get(0),
        )
        .unwrap()
    };
    let first_hash = hash_of(silent_case).expect("a caller hash");
    assert_eq!(hash_of(cases[2]), Some(first_hash.clone()), "the same person");
    assert_ne!(hash_of(back_case), Some(first_hash));
    let kept = app.storage.chat_messages(cases[2]).await.unwrap();
    assert_eq!(kept[0].body, "я повернулася");
}

// --- 4. floods and hostile input ---------------------------------------------------------------

/// What a flood of one chat's updates came to.
struct Flood {
    app: Arc<TestApp>,
    case: CaseNumber,
    /// The conversation's step before the flood.
    step_before: u32,
    /// The statuses of the first delivery of the 200 posts.
    first: Vec<u16>,
    /// Rounds of redelivery until every update was acknowledged.
    redeliveries: usize,
    /// How long the first round took.
    took: Duration,
}

/// A person waiting for an operator, then 100 updates of theirs (`flood-000`…), each posted
/// twice, all 200 at once; then, as Telegram does, each update not acknowledged is delivered
/// again (all of them at once, a round at a time) until every one is.
async fn flood(chat: i64) -> Flood {
    let fake = FakeBotApi::start();
    let app = Arc::new(chat_app(&fake).await);
    app.telegram(fake.update_text(1, chat, "/start")).await;
    app.telegram(fake.update_button(2, chat, 1, "l:en")).await;
    app.telegram(fake.update_text(3, chat, "operator")).await;
    let case = case_numbers(&app.db_path)[0];
    let step_before = app.storage.conversation_of(case).await.unwrap().unwrap().step;
    let updates: Vec<String> =
        (0..100).map(|n| fake.update_text(100 + n, chat, &format!("flood-{n:03}"))).collect();
    let mut waiting: Vec<String> = updates.iter().chain(updates.iter()).cloned().collect();
    let (mut first, mut took, mut redeliveries) = (Vec::new(), Duration::ZERO, 0);
    for round in 0..50 {
        let started = Instant::now();
        let mut posts = tokio::task::JoinSet::new();
        for update in waiting.drain(..) {
            let app = Arc::clone(&app);
            posts.spawn(async move {
                let (status, _) = app.telegram_as(update.clone(), Some(TELEGRAM_SECRET)).await;
                (status, update)
            });
        }
        while let Some(joined) = posts.join_next().await {
            let (status, update) = joined.unwrap();
            assert!(status == 200 || status == 503, "{status}: only a retry is asked for");
            if round == 0 {
                first.push(status);
            }
            if status != 200 {
                waiting.push(update);
            }
        }
        if round == 0 {
            took = started.elapsed();
        }
        if waiting.is_empty() {
            break;
        }
        redeliveries += 1;
        // Telegram waits before it delivers again.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting.is_empty(), "{} updates never acknowledged", waiting.len());
    Flood { app, case, step_before, first, redeliveries, took }
}

#[tokio::test]
async fn two_hundred_updates_of_one_chat_at_once_are_each_handled_once() {
    let Flood { app, case, step_before, first, redeliveries, took } = flood(5_550_644_001).await;
    let db = &app.db_path;
    assert_eq!(count(db, "SELECT COUNT(*) FROM text_updates"), 103, "each update recorded once");
    assert_eq!(count(db, "SELECT COUNT(*) FROM cases"), 1);
    let kept = app.storage.chat_messages(case).await.unwrap();
    let flood: Vec<&str> = kept
        .iter()
        .filter(|m| m.author == Author::Person && m.body.starts_with("flood-"))
        .map(|m| m.body.as_str())
        .collect();
    let distinct: BTreeSet<&str> = flood.iter().copied().collect();
    assert_eq!((flood.len(), distinct.len()), (100, 100), "no update lost or kept twice");
    let conversation = app.storage.conversation_of(case).await.unwrap().unwrap();
    assert_eq!(conversation.step - step_before, 100, "one step per update handled");
    let refused = first.iter().filter(|status| **status != 200).count();
    println!(
        "200 updates of one chat (100 distinct) at once: first round in {took:?}, {refused} \
         answered 503, all acknowledged after {redeliveries} redelivery round(s)"
    );
}

/// Telegram delivers one bot's updates over up to `max_connections` (40 by default)
/// connections at once, so updates of one chat can arrive together; each one answered 503 is
/// delivered again later, with a growing delay, for every chat of the bot.
#[tokio::test]
async fn two_hundred_updates_of_one_chat_at_once_are_all_acknowledged_the_first_time() {
    let Flood { first, .. } = flood(5_550_644_002).await;
    let refused = first.iter().filter(|status| **status != 200).count();
    assert_eq!(refused, 0, "{refused} of 200 answered 503");
}

#[tokio::test]
async fn a_huge_body_leaves_nothing_and_hostile_texts_are_kept_exactly_and_answered() {
    const HOSTILE: i64 = 5_550_655_001;
    let fake = FakeBotApi::start();
    let app = chat_app(&fake).await;
    let db = app.db_path.clone();

    // A 1 MB update: refused, or acknowledged without a case.
    let huge = fake.update_text(1, HOSTILE, &"x".repeat(1 << 20));
    let (status, _) = app.telegram_as(huge, Some(TELEGRAM_SECRET)).await;
    assert!(status == 200 || status == 413, "{status}");
    println!("a 1 MB update was answered {status}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM cases"), 0);

    // Hostile texts, at the menu and while waiting for an operator.
    let nul = "before\0after";
    let rtl = "\u{202E}evil\u{202C} \u{200F}שלום\u{200E} مرحبا \u{2066}x\u{2069}";
    let emoji = "🙂".repeat(4096);
    app.telegram(fake.update_text(2, HOSTILE, "/start")).await;
    app.telegram(fake.update_button(3, HOSTILE, 1, "l:en")).await;
    app.telegram(fake.update_text(4, HOSTILE, nul)).await;
    app.telegram(fake.update_text(5, HOSTILE, rtl)).await;
    app.telegram(fake.update_text(6, HOSTILE, "operator")).await;
    app.telegram(fake.update_text(7, HOSTILE, &emoji)).await;
    let case = case_numbers(&db)[0];
    let kept: Vec<String> = app
        .storage
        .chat_messages(case)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.author == Author::Person && m.kind == MessageKind::Text)
        .map(|m| m.body)
        .collect();
    for text in [nul, rtl, emoji.as_str()] {
        assert!(kept.iter().any(|k| k == text), "not kept exactly: {:.40?} in {kept:.200?}", text);
    }

    // Every reply went out and Telegram took it (the fake checks texts and buttons).
    outbox_drained(&db).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'"), 0);
    let queued = count(&db, "SELECT COUNT(*) FROM outbox WHERE action = 'send'") as usize;
    assert!(queued >= 3, "the bot answered: {queued}");
    assert_eq!(sent_to(&fake, HOSTILE).len(), queued);
}
