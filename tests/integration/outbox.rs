//! The outbox's worker against a channel faked in process: a burst delivered once each, paced
//! per chat and overall; a channel asking to wait silences everyone; failures retried or given
//! up on; a worker killed mid-send repeating only the message it was sending; nothing of a
//! message's text or address in the logs (that the database drops them is storage's test).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::Utc;
use hotline::app::secrets::Secrets;
use hotline::app::{App, AppError, Clock, Deliver};
use hotline::config::Config;
use hotline::domain::cases::{CallSid, Record};
use hotline::domain::conversation::Channel;
use hotline::domain::outbox::{
    Button, Delivery, NewOutgoing, OutAction, OutState, OutStatus, Outgoing,
};
use hotline::domain::secret::Secret;
use hotline::storage::Storage;

use crate::common;

/// The longest a test waits for the worker.
const PATIENCE: Duration = Duration::from_secs(20);

/// One call of the fake channel.
#[derive(Debug, Clone)]
struct Call {
    id: i64,
    chat: String,
    at: Instant,
    out: Outgoing,
}

type Answer = Box<dyn Fn(&Outgoing) -> Delivery + Send + Sync>;

/// A channel in process: records every call, answers as the test says.
struct Fake {
    calls: Mutex<Vec<Call>>,
    answer: Answer,
}

impl Fake {
    fn new(answer: impl Fn(&Outgoing) -> Delivery + Send + Sync + 'static) -> Arc<Fake> {
        Arc::new(Fake { calls: Mutex::new(Vec::new()), answer: Box::new(answer) })
    }

    fn delivering() -> Arc<Fake> {
        Fake::new(|out| Delivery::Sent { provider_id: Some(format!("p{}", out.id)) })
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Deliver for Fake {
    fn deliver(&self, out: &Outgoing) -> Delivery {
        self.calls.lock().unwrap().push(Call {
            id: out.id,
            chat: out.chat_key.clone(),
            at: Instant::now(),
            out: out.clone(),
        });
        (self.answer)(out)
    }
}

/// A hotline (no HTTP server: the outbox needs none) with `cases` cases, and their ids.
struct Line {
    app: App,
    storage: Storage,
    cases: Vec<i64>,
    _dir: tempfile::TempDir,
}

async fn line(cases: u32, adjust: impl FnOnce(&mut Config)) -> Line {
    common::logs();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database.path = dir.path().join("hotline.db");
    config.scripts.dir = common::shipped_scripts();
    adjust(&mut config);
    config.validate().unwrap();
    let secrets = Secrets {
        auth_token: Secret::new(common::TOKEN.into()),
        caller_hash_key: Secret::new("test-caller-hash-key-0123456789".into()),
        callback_key: Secret::new(common::CALLBACK_KEY.into()),
        telegram: None,
        provider_api_secret: None,
    };
    let app = App::open(&config, &secrets, Clock::system()).await.unwrap();
    let storage = Storage::open(&config.database.path, common::storage_options()).await.unwrap();
    for n in 0..cases {
        let call_sid = CallSid::parse(&format!("CA{n:032x}")).unwrap();
        let record = Record::CallStarted { call_sid, at: Utc::now(), caller: None, country: None };
        storage.apply(record).await.unwrap();
    }
    let cases = case_ids(&config.database.path);
    Line { app, storage, cases, _dir: dir }
}

fn case_ids(path: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn.prepare("SELECT id FROM cases ORDER BY id").unwrap();
    statement.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn message(case_id: i64, chat: &str, key: &str, text: &str) -> NewOutgoing {
    NewOutgoing {
        case_id,
        channel: Channel::Telegram,
        address_sealed: format!("sealed-address-of-{chat}"),
        chat_key: chat.into(),
        action: OutAction::Send { text: text.into(), buttons: Vec::new() },
        dedupe_key: key.into(),
    }
}

/// Waits until `done` holds for the fake's calls.
async fn wait_for(fake: &Fake, done: impl Fn(&[Call]) -> bool) {
    let start = Instant::now();
    while !done(&fake.calls()) {
        assert!(start.elapsed() < PATIENCE, "gave up waiting; calls: {}", fake.calls().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every message of `case` is sent or failed, and returns them.
async fn settled(line: &Line, case: i64) -> Vec<OutStatus> {
    let start = Instant::now();
    loop {
        let states = line.storage.outgoing_of_case(case).await.unwrap();
        if states.iter().all(|s| matches!(s.state, OutState::Sent | OutState::Failed)) {
            return states;
        }
        assert!(start.elapsed() < PATIENCE, "still not settled: {states:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The most calls in any one second.
fn busiest_second(calls: &[Call]) -> usize {
    let mut times: Vec<Instant> = calls.iter().map(|c| c.at).collect();
    times.sort();
    (0..times.len())
        .map(|i| times[i..].iter().take_while(|t| **t < times[i] + Duration::from_secs(1)).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_delivered_once_each_in_order_and_paced() {
    let line = line(100, |config| {
        config.outbox.per_chat_interval_ms = 50;
        config.outbox.per_second = 300;
    })
    .await;
    // Ten replies to each of 100 people, each person's in order, all waiting when the worker
    // starts.
    let mut typing = tokio::task::JoinSet::new();
    for (chat, case) in line.cases.iter().copied().enumerate() {
        let app = line.app.clone();
        typing.spawn(async move {
            let mut ids = Vec::new();
            for round in 0..10 {
                let (key, text) = (format!("reply:{chat}:{round}"), format!("reply {round}"));
                let new = message(case, &format!("chat{chat}"), &key, &text);
                ids.push(app.enqueue_outgoing(new).await.unwrap());
            }
            ids
        });
    }
    let enqueued: Vec<i64> = typing.join_all().await.into_iter().flatten().collect();
    let fake = Fake::delivering();
    let started = Instant::now();
    let worker = line.app.spawn_outbox(Channel::Telegram, fake.clone());
    wait_for(&fake, |calls| calls.len() >= 1000).await;
    let drained = started.elapsed();
    for case in &line.cases {
        assert!(settled(&line, *case).await.iter().all(|s| s.state == OutState::Sent));
    }
    // A moment more: anything sent twice would show now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.abort();
    let calls = fake.calls();
    assert_eq!(calls.len(), 1000, "each message delivered exactly once");
    let delivered: HashSet<i64> = calls.iter().map(|c| c.id).collect();
    assert_eq!(delivered, enqueued.iter().copied().collect::<HashSet<_>>());
    let mut by_chat: HashMap<&str, Vec<&Call>> = HashMap::new();
    for call in &calls {
        by_chat.entry(&call.chat).or_default().push(call);
    }
    assert_eq!(by_chat.len(), 100);
    for (chat, calls) in by_chat {
        let ids: Vec<i64> = calls.iter().map(|c| c.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "{chat}'s messages out of order");
        for pair in calls.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(gap >= Duration::from_millis(50), "{chat}: two sends {gap:?} apart");
        }
    }
    let busiest = busiest_second(&calls);
    assert!(busiest <= 300, "{busiest} sends in one second");
    assert_eq!(line.app.metrics().outbox_sent().get(), 1000);
    // At most 300 in any second: the last 100 cannot go before three seconds have passed.
    assert!(drained >= Duration::from_secs(3), "drained in {drained:?}");
    eprintln!("drained in {drained:?}; busiest second: {busiest} sends");
}

#[tokio::test]
async fn the_same_update_twice_answers_once_and_bad_messages_are_refused() {
    let line = line(1, |_| {}).await;
    let case = line.cases[0];
    let first = line.app.enqueue_outgoing(message(case, "a", "tg-update:9:0", "Hi")).await.unwrap();
    let again = line.app.enqueue_outgoing(message(case, "a", "tg-update:9:0", "Hi")).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(line.storage.outgoing_of_case(case).await.unwrap().len(), 1);
    let huge = "x".repeat(5000);
    for (new, expected) in [
        (message(case, "a", "k1", ""), "invalid"),
        (message(case, "a", "k2", &huge), "invalid"),
        (message(case, "", "k3", "Hi"), "invalid"),
        (message(case, "a", "", "Hi"), "invalid"),
        (message(case, "a\u{0}", "k4", "Hi"), "invalid"),
        (message(case + 1000, "a", "k5", "Hi"), "conflict"),
        (message(-1, "a", "k6", "Hi"), "invalid"),
    ] {
        match (line.app.enqueue_outgoing(new).await, expected) {
            (Err(AppError::Invalid(_)), "invalid") | (Err(AppError::Conflict(_)), "conflict") => {}
            (other, expected) => panic!("expected {expected}, got {other:?}"),
        }
    }
    assert_eq!(line.storage.outgoing_of_case(case).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_asking_to_wait_silences_every_chat() {
    let line = line(1, |config| config.outbox.per_chat_interval_ms = 10).await;
    let case = line.cases[0];
    let asked = Arc::new(Mutex::new(false));
    let once = Arc::clone(&asked);
    let fake = Fake::new(move |out| {
        let mut asked = once.lock().unwrap();
        if *asked {
            Delivery::Sent { provider_id: Some(format!("p{}", out.id)) }
        } else {
            *asked = true;
            Delivery::RetryAfter(Duration::from_millis(700))
        }
    });
    let worker = line.app.spawn_outbox(Channel::Telegram, fake.clone());
    let first = line.app.enqueue_outgoing(message(case, "first", "k0", "one")).await.unwrap();
    wait_for(&fake, |calls| !calls.is_empty()).await;
    let refused_at = fake.calls()[0].at;
    for n in 1..=20 {
        let chat = format!("chat{n}");
        line.app.enqueue_outgoing(message(case, &chat, &format!("k{n}"), "hello")).await.unwrap();
    }
    wait_for(&fake, |calls| calls.len() >= 22).await;
    let states = settled(&line, case).await;
    worker.abort();
    assert!(states.iter().all(|s| s.state == OutState::Sent), "{states:?}");
    let calls = fake.calls();
    assert_eq!(calls.len(), 22, "the asked-to-wait message once more, the others once");
    for call in &calls[1..] {
        let after = call.at - refused_at;
        assert!(after >= Duration::from_millis(700), "message {} sent {after:?} after", call.id);
    }
    assert_eq!(calls.iter().filter(|c| c.id == first).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_backoff_or_given_up_on() {
    let line = line(1, |config| {
        config.outbox.per_chat_interval_ms = 10;
        config.outbox.max_attempts = 2;
    })
    .await;
    let case = line.cases[0];
    let fake = Fake::new(|out| match (&out.action, out.attempt) {
        (OutAction::Send { text, .. }, 1) if text == "flaky" => Delivery::Transient("502".into()),
        (OutAction::Send { text, .. }, _) if text == "down" => {
            Delivery::Transient("timeout".into())
        }
        (OutAction::Send { text, .. }, _) if text == "blocked" => {
            Delivery::Refused("Forbidden: bot was blocked by the user".into())
        }
        _ => Delivery::Sent { provider_id: Some(format!("p{}", out.id)) },
    });
    let worker = line.app.spawn_outbox(Channel::Telegram, fake.clone());
    let flaky = line.app.enqueue_outgoing(message(case, "a", "k1", "flaky")).await.unwrap();
    let after = line.app.enqueue_outgoing(message(case, "a", "k2", "after")).await.unwrap();
    let down = line.app.enqueue_outgoing(message(case, "b", "k3", "down")).await.unwrap();
    let blocked = line.app.enqueue_outgoing(message(case, "c", "k4", "blocked")).await.unwrap();
    let states = settled(&line, case).await;
    worker.abort();
    let state = |id: i64| states.iter().find(|s| s.id == id).unwrap().clone();
    assert_eq!((state(flaky).state, state(flaky).attempts), (OutState::Sent, 2));
    assert_eq!((state(after).state, state(after).attempts), (OutState::Sent, 1));
    assert_eq!((state(down).state, state(down).attempts), (OutState::Failed, 2));
    assert_eq!(state(down).error.as_deref(), Some("timeout"));
    assert_eq!((state(blocked).state, state(blocked).attempts), (OutState::Failed, 1));
    let calls = fake.calls();
    let at = |id: i64| calls.iter().filter(|c| c.id == id).map(|c| c.at).collect::<Vec<_>>();
    // The second attempt waited the first backoff, and the chat's next message waited for it.
    let (tries, next) = (at(flaky), at(after));
    assert!(tries[1] - tries[0] >= Duration::from_secs(1), "{:?}", tries[1] - tries[0]);
    assert!(next[0] > tries[1], "a later message overtook one being retried");
    assert_eq!(line.app.metrics().outbox_failed().get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_reaches_the_message_the_channel_named() {
    let line = line(1, |config| config.outbox.per_chat_interval_ms = 10).await;
    let case = line.cases[0];
    let fake = Fake::delivering();
    let worker = line.app.spawn_outbox(Channel::Telegram, fake.clone());
    let mut menu = message(case, "a", "k1", "Choose");
    menu.action = OutAction::Send {
        text: "Choose".into(),
        buttons: vec![vec![Button { text: "Help".into(), data: "1".into(), key: None }]],
    };
    let menu = line.app.enqueue_outgoing(menu).await.unwrap();
    let mut edit = message(case, "a", "k2", "");
    edit.action = OutAction::Edit { of: menu, text: "Chosen: Help".into(), buttons: vec![] };
    line.app.enqueue_outgoing(edit).await.unwrap();
    wait_for(&fake, |calls| calls.len() >= 2).await;
    worker.abort();
    let calls = fake.calls();
    assert_eq!(calls[1].out.target_provider_id, Some(format!("p{menu}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_send_repeats_that_message_and_nothing_else() {
    let line = line(1, |config| config.outbox.per_chat_interval_ms = 10).await;
    let case = line.cases[0];
    let (entered, in_send) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let hold = Mutex::new(Some((entered, released)));
    let stuck = Fake::new(move |out| {
        if let OutAction::Send { text, .. } = &out.action
            && text == "stuck"
            && let Some((entered, released)) = hold.lock().unwrap().take()
        {
            entered.send(()).unwrap();
            released.recv().unwrap();
        }
        Delivery::Sent { provider_id: None }
    });
    let worker = line.app.spawn_outbox(Channel::Telegram, stuck.clone());
    let before = line.app.enqueue_outgoing(message(case, "a", "k1", "before")).await.unwrap();
    wait_for(&stuck, |calls| calls.len() == 1).await;
    settled(&line, case).await;
    let cut = line.app.enqueue_outgoing(message(case, "b", "k2", "stuck")).await.unwrap();
    tokio::task::spawn_blocking(move || in_send.recv().unwrap()).await.unwrap();
    // The worker dies while the channel holds the message; the channel then takes it.
    worker.abort();
    let _ = worker.await;
    release.send(()).unwrap();
    wait_for(&stuck, |calls| calls.len() == 2).await;
    let waiting = line.app.enqueue_outgoing(message(case, "c", "k3", "later")).await.unwrap();
    let fresh = Fake::delivering();
    let worker = line.app.spawn_outbox(Channel::Telegram, fresh.clone());
    wait_for(&fresh, |calls| calls.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.abort();
    let mut again: Vec<i64> = fresh.calls().iter().map(|c| c.id).collect();
    again.sort_unstable();
    assert_eq!(again, [cut, waiting], "only the interrupted message is repeated");
    assert!(!again.contains(&before));
    let states = settled(&line, case).await;
    assert_eq!(states.iter().find(|s| s.id == cut).unwrap().attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_text_and_no_address_reach_the_logs() {
    let line = line(1, |config| config.outbox.per_chat_interval_ms = 10).await;
    let case = line.cases[0];
    let fake = Fake::new(|out| match &out.action {
        OutAction::Send { text, .. } if text.contains("refused") => {
            Delivery::Refused("chat not found".into())
        }
        _ => Delivery::Sent { provider_id: Some("1".into()) },
    });
    let worker = line.app.spawn_outbox(Channel::Telegram, fake.clone());
    let mut sent = message(case, "a", "k1", "I am hiding at 12 Elm Street");
    sent.address_sealed = "SEALED-ADDRESS-MARKER-1".into();
    let mut refused = message(case, "b", "k2", "refused: my name is Olga Petrova");
    refused.address_sealed = "SEALED-ADDRESS-MARKER-2".into();
    line.app.enqueue_outgoing(sent).await.unwrap();
    line.app.enqueue_outgoing(refused).await.unwrap();
    settled(&line, case).await;
    worker.abort();
    let logs = String::from_utf8_lossy(&common::logs().lock().unwrap()).into_owned();
    assert!(logs.contains("outbox: delivered"), "the outcome is logged");
    for secret in ["Elm Street", "Olga Petrova", "SEALED-ADDRESS-MARKER"] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}
