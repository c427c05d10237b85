//! What the outbox does with a burst at the default pacing: 1,000 replies to 100 people
//! (ten each) waiting when the Telegram worker starts, delivered through a channel faked in
//! process that takes 30 ms to answer, as the real one does from nearby. Prints the time to
//! drain, the fastest any one chat was sent to, the most sends in any one second, and the
//! messages sent twice or never; asserts nothing. `cargo bench --bench outbox` (under a
//! minute: 1,000 messages at 25 a second take 40 s).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hotline::app::secrets::Secrets;
use hotline::app::{App, Clock, Deliver};
use hotline::config::Config;
use hotline::domain::cases::{CallSid, Record};
use hotline::domain::conversation::Channel;
use hotline::domain::outbox::{Delivery, NewOutgoing, OutAction, Outgoing};
use hotline::domain::secret::Secret;
use hotline::storage::{Storage, StorageOptions};

const CHATS: u32 = 100;
const PER_CHAT: u32 = 10;
/// How long the fake channel takes to answer.
const LATENCY: Duration = Duration::from_millis(30);

/// The channel: notes who was sent what when.
struct FakeChannel {
    sends: Mutex<Vec<(i64, String, Instant)>>,
}

impl Deliver for FakeChannel {
    fn deliver(&self, out: &Outgoing) -> Delivery {
        self.sends.lock().unwrap().push((out.id, out.chat_key.clone(), Instant::now()));
        std::thread::sleep(LATENCY);
        Delivery::Sent { provider_id: Some(out.id.to_string()) }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.database.path = dir.path().join("bench.db");
        config.scripts.dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let secrets = Secrets {
            auth_token: Secret::new("bench-auth-token-0123456789".into()),
            caller_hash_key: Secret::new("bench-caller-hash-key-0123456789".into()),
            callback_key: Secret::new("bench-callback-key-0123456789abcdef0123".into()),
            telegram: None,
            provider_api_secret: None,
        };
        let app = App::open(&config, &secrets, Clock::system()).await.unwrap();
        let storage = Storage::open(
            &config.database.path,
            StorageOptions::new(hotline::domain::secret::Secret::new(
                "the benchmark's callback key, 32 characters".into(),
            )),
        )
        .await
        .unwrap();
        for n in 0..CHATS {
            let call_sid = CallSid::parse(&format!("CA{n:032x}")).unwrap();
            let record =
                Record::CallStarted { call_sid, at: Utc::now(), caller: None, country: None };
            storage.apply(record).await.unwrap();
        }
        let conn = rusqlite::Connection::open(&config.database.path).unwrap();
        let cases: Vec<i64> = conn
            .prepare("SELECT id FROM cases ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut enqueued = Vec::new();
        for round in 0..PER_CHAT {
            for (chat, case) in cases.iter().enumerate() {
                let new = NewOutgoing {
                    case_id: *case,
                    channel: Channel::Telegram,
                    address_sealed: format!("sealed-{chat}"),
                    chat_key: format!("chat{chat}"),
                    action: OutAction::Send { text: format!("reply {round}"), buttons: vec![] },
                    dedupe_key: format!("reply:{chat}:{round}"),
                };
                enqueued.push(app.enqueue_outgoing(new).await.unwrap());
            }
        }
        let channel = Arc::new(FakeChannel { sends: Mutex::new(Vec::new()) });
        let started = Instant::now();
        let worker = app.spawn_outbox(Channel::Telegram, channel.clone());
        let total = enqueued.len();
        let deadline = started + Duration::from_secs(300);
        while channel.sends.lock().unwrap().len() < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drained = started.elapsed();
        // A moment more, so a message sent twice shows.
        tokio::time::sleep(Duration::from_secs(2)).await;
        worker.abort();
        let sends = channel.sends.lock().unwrap().clone();
        report(&config, &enqueued, &sends, drained);
    });
}

fn report(config: &Config, enqueued: &[i64], sends: &[(i64, String, Instant)], drained: Duration) {
    let mut times_per_id: HashMap<i64, usize> = HashMap::new();
    let mut by_chat: HashMap<&str, Vec<Instant>> = HashMap::new();
    for (id, chat, at) in sends {
        *times_per_id.entry(*id).or_default() += 1;
        by_chat.entry(chat).or_default().push(*at);
    }
    let duplicates: usize = times_per_id.values().map(|n| n.saturating_sub(1)).sum();
    let lost = enqueued.iter().filter(|id| !times_per_id.contains_key(id)).count();
    let closest = by_chat
        .values()
        .flat_map(|times| times.windows(2).map(|w| w[1] - w[0]))
        .min()
        .unwrap_or_default();
    let mut all: Vec<Instant> = sends.iter().map(|(_, _, at)| *at).collect();
    all.sort();
    let busiest = (0..all.len())
        .map(|i| all[i..].iter().take_while(|t| **t < all[i] + Duration::from_secs(1)).count())
        .max()
        .unwrap_or(0);
    let outbox = &config.outbox;
    println!(
        "outbox burst: {} replies over {CHATS} chats, channel answering in {} ms",
        enqueued.len(),
        LATENCY.as_millis()
    );
    println!(
        "pacing: {} ms per chat, {} per second overall\n",
        outbox.per_chat_interval_ms, outbox.per_second
    );
    println!("{:<44} {:>10.2} s", "time to drain", drained.as_secs_f64());
    println!(
        "{:<44} {:>10.3} s  ({:.2} per second)",
        "closest two sends to one chat",
        closest.as_secs_f64(),
        1.0 / closest.as_secs_f64().max(f64::EPSILON)
    );
    println!("{:<44} {:>10}", "most sends in any one second", busiest);
    println!("{:<44} {:>10}", "sent twice", duplicates);
    println!("{:<44} {:>10}", "never sent", lost);
}
