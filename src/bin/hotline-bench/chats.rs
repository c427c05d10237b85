//! The `chats` phase: text conversations through the whole path, as Telegram drives them.
//!
//! Updates are posted to `POST /text/telegram` of a real `hotline serve` with the webhook's
//! secret, and the server's outbox sends its replies to a small fake Bot API inside this
//! process, which answers as Telegram does and notes when each message of each chat arrived.
//! Three measurements, each on a fresh server:
//!
//! 1. updates/s at saturation: many chats in progress, each walking a realistic conversation
//!    (`/start`, a language button, a menu digit, words, `0` for an operator), a chat's next
//!    update posted once its previous one was answered, as Telegram does per chat;
//! 2. update → first reply: new chats at a fixed rate, from posting `/start` to the fake
//!    receiving that chat's first `sendMessage`;
//! 3. the outbox under a burst: many replies queued at once at the default pacing, then the
//!    fake's log checked for the pacing, duplicates and losses.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::Setup;
use crate::child::{Server, usage_of};
use crate::load::quantile;

/// The bot's token, of @BotFather's shape (the server refuses another shape).
const BOT_TOKEN: &str = "7000000001:AAbench-token-for-the-fake-bot-api_01";
/// The webhook's secret token.
const WEBHOOK_SECRET: &str = "bench-telegram-webhook-secret_0123456789";
/// The header Telegram sends the secret token in.
const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// The outbox's fastest global pacing the server accepts: phases 1 and 2 measure the server,
/// not Telegram's limit of about 30 messages/s, which would otherwise queue their replies.
const UNPACED_PER_SECOND: &str = "1000";
/// The shortest spacing of one chat's messages the server accepts, for the same reason.
const UNPACED_PER_CHAT_MS: &str = "10";

/// New chats per second of the first-reply run at the default pacing: below its 25 messages
/// a second, so that every first reply can go out at once.
const PACED_CHAT_RATE: f64 = 20.0;

/// Chats of the burst.
const BURST_CHATS: usize = 100;
/// The burst's conversation: the language menu, the language, then forward into the
/// "surrender" menu and back to the main menu four times, every update answered.
const BURST: &[Step] = &[
    Step::Text("/start"),
    Step::Button("l:ru"),
    Step::Text("1"),
    Step::Text("*"),
    Step::Text("1"),
    Step::Text("*"),
    Step::Text("1"),
    Step::Text("*"),
    Step::Text("1"),
    Step::Text("*"),
];
/// The longest the burst's replies may take to arrive before the run reports them lost.
const BURST_DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// The longest the paced run waits for the last first replies after the measurement.
const FIRST_REPLY_LIMIT: Duration = Duration::from_secs(60);

/// The realistic conversation of the throughput run: a person opens the bot, picks Russian,
/// chooses the first option by its digit, writes about themself, and asks for an operator.
const CONVERSATION: &[Step] = &[
    Step::Text("/start"),
    Step::Button("l:ru"),
    Step::Text("1"),
    Step::Text("Мы в подвале, трое, связи почти нет, что делать?"),
    Step::Text("0"),
];

/// One update a person sends.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Words (or a command) typed.
    Text(&'static str),
    /// A button pressed, with its data.
    Button(&'static str),
}

impl Step {
    /// The label of its latency line.
    fn label(self) -> &'static str {
        match self {
            Step::Text("/start") => "`/start`",
            Step::Text("0") => "`0` (operator)",
            Step::Text(text) if text.chars().all(|c| c.is_ascii_digit() || c == '*') => "menu key",
            Step::Text(_) => "words",
            Step::Button(_) => "language button",
        }
    }

    /// The update Telegram posts for it, in private chat `chat_id`; `message_id` is the
    /// person's message (or the bot's message under which the button was).
    fn update(self, update_id: i64, chat_id: i64, message_id: i64) -> String {
        let chat = json!({"id": chat_id, "first_name": "Bench", "type": "private"});
        let from = json!({"id": chat_id, "is_bot": false, "first_name": "Bench"});
        match self {
            Step::Text(text) => json!({
                "update_id": update_id,
                "message": {
                    "message_id": message_id, "from": from, "chat": chat, "date": 1_765_000_000,
                    "text": text,
                }
            }),
            Step::Button(data) => json!({
                "update_id": update_id,
                "callback_query": {
                    "id": format!("{chat_id}{update_id:08}"),
                    "from": from,
                    "message": {
                        "message_id": message_id, "chat": chat, "date": 1_765_000_000,
                        "text": "…",
                    },
                    "chat_instance": "-4915362398453175238",
                    "data": data,
                }
            }),
        }
        .to_string()
    }
}

/// What the chats phase needs from the command line.
pub struct ChatsOptions {
    /// Chats in progress during the throughput run.
    pub chats: usize,
    /// New chats per second of the first-reply run.
    pub rate: f64,
    /// Updates in flight at once, at most.
    pub concurrency: usize,
    /// Load before each measurement.
    pub warmup: Duration,
    /// Each measurement's length.
    pub measure: Duration,
    /// How long one request may take before it counts as failed.
    pub request_timeout: Duration,
    /// Voice requests/s of the throughput phase in the same run, if it ran.
    pub voice_rate: Option<f64>,
}

/// Runs the three measurements and prints them.
pub fn run(setup: &Setup, options: &ChatsOptions) -> Result<(), String> {
    println!("## Text channels (Telegram): updates through the whole path\n");
    let poster = Poster::new(options.concurrency, options.request_timeout);

    let fake = FakeBotApi::start()?;
    let (server, _) = start_server(setup, &fake, true)?;
    let throughput = saturate(&server, &fake, &poster, options)?;
    drop(server);
    throughput.print(options);

    let fake = FakeBotApi::start()?;
    let (server, _) = start_server(setup, &fake, true)?;
    let unpaced = first_replies(&server, &fake, &poster, options, options.rate)?;
    drop(server);
    let fake = FakeBotApi::start()?;
    let (server, _) = start_server(setup, &fake, false)?;
    let paced = first_replies(&server, &fake, &poster, options, PACED_CHAT_RATE)?;
    drop(server);
    print_first_replies(&[
        (format!("{:.0} new chats/s, outbox at its fastest", options.rate), unpaced),
        (format!("{PACED_CHAT_RATE:.0} new chats/s, default pacing"), paced),
    ]);

    let fake = FakeBotApi::start()?;
    let (server, dir) = start_server(setup, &fake, false)?;
    let burst = burst(&server, &fake, &poster, &dir.join("hotline.db"))?;
    drop(server);
    burst.print();
    Ok(())
}

/// A fresh hotline with the bot on, sending to `fake`: at the fastest outbox pacing the
/// server accepts (`unpaced`) or at the default one.
fn start_server(
    setup: &Setup,
    fake: &FakeBotApi,
    unpaced: bool,
) -> Result<(Server, std::path::PathBuf), String> {
    let dir = setup.work.fresh("hotline-chats")?;
    let mut env = setup.hotline_env(&dir)?;
    env.extend([
        ("HOTLINE_TELEGRAM_ENABLED", "true".to_owned()),
        ("HOTLINE_TELEGRAM_API_BASE", fake.base.clone()),
        ("HOTLINE_TELEGRAM_TOKEN", BOT_TOKEN.to_owned()),
        ("HOTLINE_TELEGRAM_SECRET", WEBHOOK_SECRET.to_owned()),
    ]);
    if unpaced {
        env.extend([
            ("HOTLINE_OUTBOX_PER_SECOND", UNPACED_PER_SECOND.to_owned()),
            ("HOTLINE_OUTBOX_PER_CHAT_INTERVAL_MS", UNPACED_PER_CHAT_MS.to_owned()),
        ]);
    }
    let server = Server::start(&setup.server_bin, &["serve"], &env, &dir, "/readyz")?;
    Ok((server, dir))
}

/// Posts updates to the server's webhook over a pool of keep-alive connections, as Telegram
/// does over its `max_connections`.
#[derive(Clone)]
struct Poster {
    agent: ureq::Agent,
    concurrency: usize,
}

impl Poster {
    fn new(concurrency: usize, timeout: Duration) -> Poster {
        let concurrency = concurrency.max(1);
        let agent = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .max_idle_connections(concurrency)
            .max_idle_connections_per_host(concurrency)
            .timeout_global(Some(timeout))
            .build()
            .new_agent();
        Poster { agent, concurrency }
    }

    /// Posts one update to the server at `base_url`; `Err` says why it was not acknowledged.
    fn post(&self, base_url: &str, body: String) -> Result<(), String> {
        let url = format!("{base_url}/text/telegram");
        let response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header(SECRET_HEADER, WEBHOOK_SECRET)
            .send(body);
        match response {
            Ok(mut response) if response.status() == 200 => {
                // Read to the end, so that the connection goes back to the pool.
                let _ = response.body_mut().read_to_vec();
                Ok(())
            }
            Ok(response) => Err(format!("HTTP {}", response.status())),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Chat ids of the benchmark's people: beyond any real user id of today.
const FIRST_CHAT_ID: i64 = 9_000_000_000;

/// A person writing to the bot: their chat, and how far into the conversation they are.
struct Person {
    chat_id: i64,
    step: usize,
    /// The last message id in the chat (the person's and the bot's messages share a counter).
    message_id: i64,
}

impl Person {
    fn new(chat_id: i64) -> Person {
        Person { chat_id, step: 0, message_id: 0 }
    }

    /// The update of the person's next step of `conversation`.
    fn next_update(&mut self, conversation: &[Step], update_id: i64) -> (Step, String) {
        let step = conversation[self.step % conversation.len()];
        self.message_id += 1;
        let body = step.update(update_id, self.chat_id, self.message_id);
        // The bot's answer takes a message id in the chat too.
        self.message_id += 1;
        self.step += 1;
        (step, body)
    }
}

/// What the throughput run measured.
struct Throughput {
    /// Webhook answer times in µs, per kind of update.
    latencies: BTreeMap<&'static str, Vec<u64>>,
    failures: u64,
    failure_samples: Vec<String>,
    elapsed: Duration,
    server_cpu_secs: f64,
    own_cpu_secs: f64,
    peak_rss_kib: u64,
    /// Conversations that reached the operator's queue during the measurement.
    conversations: u64,
    /// Messages the fake Bot API received during the measurement: an outbox that falls
    /// behind the updates shows here, not in the webhook's answers.
    delivered: usize,
}

impl Throughput {
    fn updates(&self) -> usize {
        self.latencies.values().map(Vec::len).sum()
    }

    fn print(&self, options: &ChatsOptions) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let updates = self.updates();
        let rate = updates as f64 / secs;
        let mut all: Vec<u64> = self.latencies.values().flatten().copied().collect();
        all.sort_unstable();
        println!(
            "### Updates per second at saturation\n\n{} chats in progress, each walking `/start`, \
             the Russian button, `1`, a sentence, `0` (then a new person starts), at most {} \
             updates in flight; every reply sent to the fake Bot API (replies delivered/s: what \
             it received meanwhile; each update is answered by one message, a handoff by two).\n",
            options.chats, options.concurrency
        );
        println!(
            "| run | updates/s | p50 ms | p90 ms | p99 | max ms | server CPU | server CPU µs/update | load generator CPU | server peak RSS | conversations to an operator | replies delivered/s | failures |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let q = |q: f64| ms(quantile(&all, q));
        println!(
            "| hotline serve, Telegram | {rate:.0} | {} | {} | {} | {} | {:.0}% | {:.0} | {:.0}% | {:.1} MB | {} | {:.0} | {} |\n",
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0),
            100.0 * self.server_cpu_secs / secs,
            1e6 * self.server_cpu_secs / (updates as f64).max(1.0),
            100.0 * self.own_cpu_secs / secs,
            self.peak_rss_kib as f64 / 1024.0,
            self.conversations,
            self.delivered as f64 / secs,
            self.failures,
        );
        println!("| update | updates | p50 ms | p90 ms | p99 ms | max ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (label, latencies) in &self.latencies {
            let mut sorted = latencies.clone();
            sorted.sort_unstable();
            let q = |q: f64| ms(quantile(&sorted, q));
            println!(
                "| {label} | {} | {} | {} | {} | {} |",
                sorted.len(),
                q(0.5),
                q(0.9),
                q(0.99),
                q(1.0)
            );
        }
        println!();
        if let Some(voice) = options.voice_rate {
            println!(
                "Voice call steps in the same run: {voice:.0} requests/s; text updates/s ÷ voice \
                 steps/s: **{:.0}%** (the target: at least 100%).\n",
                100.0 * rate / voice.max(1e-9)
            );
        }
        if self.failures > 0 {
            println!("{} updates failed, for example: {:?}\n", self.failures, self.failure_samples);
        }
    }
}

/// As many updates as the server takes: `chats` conversations in progress, at most
/// `concurrency` updates in flight, a chat's next update posted once its previous one was
/// answered; a finished conversation is followed by a new person's.
fn saturate(
    server: &Server,
    fake: &FakeBotApi,
    poster: &Poster,
    options: &ChatsOptions,
) -> Result<Throughput, String> {
    let people: VecDeque<Person> =
        (0..options.chats as i64).map(|i| Person::new(FIRST_CHAT_ID + i)).collect();
    let people = Arc::new(Mutex::new(people));
    let next_chat = Arc::new(AtomicI64::new(FIRST_CHAT_ID + options.chats as i64));
    let next_update = Arc::new(AtomicI64::new(1));
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let conversations = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..poster.concurrency.min(options.chats) {
        let (people, next_chat, next_update) =
            (Arc::clone(&people), Arc::clone(&next_chat), Arc::clone(&next_update));
        let (recording, stop, conversations) =
            (Arc::clone(&recording), Arc::clone(&stop), Arc::clone(&conversations));
        let poster = poster.clone();
        let base = server.base_url.clone();
        workers.push(thread::spawn(move || {
            let mut latencies: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                // Taken out of the line while its update is in flight: one at a time per chat.
                let Some(mut person) = lock(&people).pop_front() else { break };
                let update_id = next_update.fetch_add(1, Ordering::Relaxed);
                let (step, body) = person.next_update(CONVERSATION, update_id);
                let was_recording = recording.load(Ordering::SeqCst);
                let started = Instant::now();
                let result = poster.post(&base, body);
                let micros = started.elapsed().as_micros() as u64;
                if was_recording && recording.load(Ordering::SeqCst) {
                    match result {
                        Ok(()) => latencies.entry(step.label()).or_default().push(micros),
                        Err(e) => failures.push(e),
                    }
                }
                if person.step == CONVERSATION.len() {
                    if was_recording {
                        conversations.fetch_add(1, Ordering::Relaxed);
                    }
                    person = Person::new(next_chat.fetch_add(1, Ordering::Relaxed));
                }
                lock(&people).push_back(person);
            }
            (latencies, failures)
        }));
    }
    thread::sleep(options.warmup);
    let cpu = |pid: u32| usage_of(pid).map_or(0.0, |u| u.cpu_secs);
    let own = std::process::id();
    let (server_before, own_before) = (cpu(server.pid()), cpu(own));
    let received_before = fake.received();
    recording.store(true, Ordering::SeqCst);
    let started = Instant::now();
    thread::sleep(options.measure);
    recording.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed();
    let delivered = fake.received() - received_before;
    let (server_cpu_secs, own_cpu_secs) =
        (cpu(server.pid()) - server_before, cpu(own) - own_before);
    stop.store(true, Ordering::SeqCst);
    let mut measured = Throughput {
        latencies: BTreeMap::new(),
        failures: 0,
        failure_samples: Vec::new(),
        elapsed,
        server_cpu_secs,
        own_cpu_secs,
        peak_rss_kib: server.usage()?.peak_rss_kib,
        conversations: conversations.load(Ordering::SeqCst),
        delivered,
    };
    for worker in workers {
        let (latencies, failures) = worker.join().map_err(|_| "a poster panicked".to_owned())?;
        for (label, values) in latencies {
            measured.latencies.entry(label).or_default().extend(values);
        }
        measured.failures += failures.len() as u64;
        for failure in failures {
            if measured.failure_samples.len() < 5 {
                measured.failure_samples.push(failure);
            }
        }
    }
    if measured.updates() == 0 {
        return Err(format!(
            "no update was acknowledged during the measurement ({} failures: {:?})",
            measured.failures, measured.failure_samples
        ));
    }
    Ok(measured)
}

/// What the first-reply run measured.
struct FirstReplies {
    /// Chats opened during the measurement.
    opened: usize,
    /// From posting `/start` to the fake receiving the chat's first message, in µs.
    latencies: Vec<u64>,
    /// Webhook answer times of those `/start`s, in µs.
    webhook: Vec<u64>,
    /// Chats whose first reply had not arrived when the run gave up waiting.
    missing: usize,
    failures: u64,
    /// The rate the `/start`s actually went out at.
    achieved_rate: f64,
}

/// New chats at `rate` per second, each a `/start`: the time from posting it to the fake
/// receiving that chat's first `sendMessage`.
fn first_replies(
    server: &Server,
    fake: &FakeBotApi,
    poster: &Poster,
    options: &ChatsOptions,
    rate: f64,
) -> Result<FirstReplies, String> {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let begin = Instant::now();
    let measure_from = begin + options.warmup;
    let end = measure_from + options.measure;
    let slot = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..poster.concurrency {
        let (slot, poster, base) = (Arc::clone(&slot), poster.clone(), server.base_url.clone());
        workers.push(thread::spawn(move || {
            // (chat, posted at, webhook µs) of the chats opened during the measurement.
            let mut opened = Vec::new();
            let mut failures = 0u64;
            loop {
                let n = slot.fetch_add(1, Ordering::Relaxed);
                let due = begin + interval.mul_f64(n as f64);
                if due >= end {
                    break;
                }
                thread::sleep(due.saturating_duration_since(Instant::now()));
                let chat_id = FIRST_CHAT_ID + n as i64;
                let mut person = Person::new(chat_id);
                let (_, body) = person.next_update(CONVERSATION, n as i64 + 1);
                let posted = Instant::now();
                let result = poster.post(&base, body);
                let micros = posted.elapsed().as_micros() as u64;
                if due >= measure_from {
                    match result {
                        Ok(()) => opened.push((chat_id, posted, micros)),
                        Err(_) => failures += 1,
                    }
                }
            }
            (opened, failures)
        }));
    }
    let mut opened = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (chats, failed) = worker.join().map_err(|_| "a poster panicked".to_owned())?;
        opened.extend(chats);
        failures += failed;
    }
    let first = opened.iter().map(|(_, posted, _)| *posted).min();
    let last = opened.iter().map(|(_, posted, _)| *posted).max();
    let achieved_rate = match (first, last) {
        (Some(first), Some(last)) if last > first => {
            (opened.len() - 1) as f64 / (last - first).as_secs_f64()
        }
        _ => 0.0,
    };
    if opened.is_empty() {
        return Err(format!(
            "no /start was acknowledged during the measurement ({failures} failures)"
        ));
    }
    let waited = Instant::now();
    let arrivals = loop {
        let arrivals = fake.first_sends();
        let all_in = opened.iter().all(|(chat, _, _)| arrivals.contains_key(chat));
        if all_in || waited.elapsed() > FIRST_REPLY_LIMIT {
            break arrivals;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let mut latencies = Vec::new();
    let mut missing = 0;
    for (chat, posted, _) in &opened {
        match arrivals.get(chat) {
            Some(at) => latencies.push(at.saturating_duration_since(*posted).as_micros() as u64),
            None => missing += 1,
        }
    }
    latencies.sort_unstable();
    let mut webhook: Vec<u64> = opened.iter().map(|(_, _, micros)| *micros).collect();
    webhook.sort_unstable();
    Ok(FirstReplies { opened: opened.len(), latencies, webhook, missing, failures, achieved_rate })
}

fn print_first_replies(runs: &[(String, FirstReplies)]) {
    println!(
        "### From an update to the first reply\n\nA new chat's `/start` posted to the webhook, \
         until the fake Bot API receives that chat's first `sendMessage` (the language menu).\n"
    );
    println!(
        "| run | chats opened | /start sent at | webhook p50 ms | webhook p99 ms | first reply p50 ms | p95 ms | p99 ms | max ms | no reply | failures |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, run) in runs {
        let q = |q: f64| ms(quantile(&run.latencies, q));
        println!(
            "| {label} | {} | {:.0}/s | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.opened,
            run.achieved_rate,
            ms(quantile(&run.webhook, 0.5)),
            ms(quantile(&run.webhook, 0.99)),
            q(0.5),
            q(0.95),
            q(0.99),
            q(1.0),
            run.missing,
            run.failures,
        );
    }
    println!();
}

/// What the burst run measured, from the fake's log and the server's outbox.
struct Burst {
    updates: usize,
    failures: u64,
    /// From the first update posted to the last of them answered.
    posting: Duration,
    /// From the first update posted to the last message received.
    drain: Duration,
    /// Messages the fake received (sends, edits, deletes).
    received: usize,
    /// Messages the server queued.
    queued: usize,
    /// The shortest time between two messages to one chat.
    min_chat_gap: Option<Duration>,
    /// The most messages to one chat in any second.
    max_chat_per_second: usize,
    /// The most messages to all chats in any second.
    max_per_second: usize,
    duplicates: usize,
    lost: usize,
}

/// [`BURST_CHATS`] chats each posting [`BURST`] as fast as the server answers, at the
/// default pacing; then waits for the outbox to drain and checks what the fake received.
fn burst(server: &Server, fake: &FakeBotApi, poster: &Poster, db: &Path) -> Result<Burst, String> {
    let next = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..poster.concurrency.min(BURST_CHATS) {
        let (next, poster, base) = (Arc::clone(&next), poster.clone(), server.base_url.clone());
        workers.push(thread::spawn(move || {
            let mut failures = 0u64;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= BURST_CHATS as u64 {
                    break;
                }
                let mut person = Person::new(FIRST_CHAT_ID + n as i64);
                for i in 0..BURST.len() {
                    let update_id = (n * BURST.len() as u64 + i as u64 + 1) as i64;
                    let (_, body) = person.next_update(BURST, update_id);
                    if poster.post(&base, body).is_err() {
                        failures += 1;
                    }
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for worker in workers {
        failures += worker.join().map_err(|_| "a poster panicked".to_owned())?;
    }
    let posting = begin.elapsed();
    let outbox = loop {
        let outbox = Outbox::read(db)?;
        let drained = outbox.unfinished == 0 && fake.received() >= outbox.rows;
        if drained || begin.elapsed() > BURST_DRAIN_LIMIT {
            break outbox;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let arrivals = fake.arrivals();
    let drain = arrivals.iter().map(|a| a.at).max().map_or(Duration::ZERO, |last| last - begin);
    let mut by_chat: HashMap<i64, Vec<Instant>> = HashMap::new();
    for arrival in &arrivals {
        by_chat.entry(arrival.chat_id).or_default().push(arrival.at);
    }
    let mut min_chat_gap: Option<Duration> = None;
    let mut max_chat_per_second = 0;
    for times in by_chat.values_mut() {
        times.sort_unstable();
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            min_chat_gap = Some(min_chat_gap.map_or(gap, |min| min.min(gap)));
        }
        max_chat_per_second = max_chat_per_second.max(most_in_a_second(times));
    }
    let mut all: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    all.sort_unstable();
    let (duplicates, lost) = outbox.compare(&arrivals);
    Ok(Burst {
        updates: BURST_CHATS * BURST.len(),
        failures,
        posting,
        drain,
        received: arrivals.len(),
        queued: outbox.rows,
        min_chat_gap,
        max_chat_per_second,
        max_per_second: most_in_a_second(&all),
        duplicates,
        lost,
    })
}

impl Burst {
    fn print(&self) {
        println!(
            "### The outbox under a burst\n\n{BURST_CHATS} chats each post {} updates (`/start`, \
             the Russian button, then `1` and `*` — into a menu and back — four times) as fast \
             as the server answers; the replies go out at the default pacing (1 message per \
             chat per second, 25 per second in all).\n",
            BURST.len()
        );
        println!(
            "| updates posted | posting took | replies queued | received | drain (first update → last reply) | shortest gap in one chat | most to one chat in 1 s | most in 1 s overall | duplicates | lost | failed posts |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {:.2} s | {} | {} | {:.1} s | {} | {} | {} | {} | {} | {} |\n",
            self.updates,
            self.posting.as_secs_f64(),
            self.queued,
            self.received,
            self.drain.as_secs_f64(),
            self.min_chat_gap
                .map_or_else(|| "—".to_owned(), |gap| format!("{} ms", gap.as_millis())),
            self.max_chat_per_second,
            self.max_per_second,
            self.duplicates,
            self.lost,
            self.failures,
        );
    }
}

/// The most of `sorted` instants within any one second (`[t, t + 1 s)`).
fn most_in_a_second(sorted: &[Instant]) -> usize {
    let mut most = 0;
    let mut start = 0;
    for (end, at) in sorted.iter().enumerate() {
        while *at - sorted[start] >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

/// The server's outbox as its database has it.
struct Outbox {
    /// Every message queued.
    rows: usize,
    /// Those not yet sent nor given up on.
    unfinished: usize,
    /// Per action (`send`, `edit`, `delete`): how many rows are `sent`.
    sent: HashMap<String, usize>,
    /// Rows not sent: given up on, or still waiting.
    not_sent: usize,
    /// The message ids the fake gave the sent `send`s.
    provider_ids: HashSet<i64>,
}

impl Outbox {
    fn read(db: &Path) -> Result<Outbox, String> {
        let failed = |e: rusqlite::Error| format!("{}: {e}", db.display());
        let conn = Connection::open(db).map_err(failed)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(failed)?;
        let mut statement =
            conn.prepare("SELECT action, state, provider_id FROM outbox").map_err(failed)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(failed)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        let mut outbox = Outbox {
            rows: rows.len(),
            unfinished: 0,
            sent: HashMap::new(),
            not_sent: 0,
            provider_ids: HashSet::new(),
        };
        for (action, state, provider_id) in rows {
            match state.as_str() {
                "sent" => {
                    if action == "send"
                        && let Some(id) = provider_id.and_then(|id| id.parse().ok())
                    {
                        outbox.provider_ids.insert(id);
                    }
                    *outbox.sent.entry(action).or_default() += 1;
                }
                "failed" => outbox.not_sent += 1,
                _ => {
                    outbox.unfinished += 1;
                    outbox.not_sent += 1;
                }
            }
        }
        Ok(outbox)
    }

    /// Duplicates (messages received that the outbox sent once, or never) and losses
    /// (messages queued that never arrived) against what the fake received.
    fn compare(&self, arrivals: &[Arrival]) -> (usize, usize) {
        let sends: Vec<i64> =
            arrivals.iter().filter(|a| a.method == Method::Send).map(|a| a.message_id).collect();
        // A send the outbox knows by the id the fake gave it arrived once; any other send is
        // a second delivery of a message (its first answer lost) or one never queued.
        let unknown_sends = sends.iter().filter(|id| !self.provider_ids.contains(id)).count();
        let received_ids: HashSet<i64> = sends.iter().copied().collect();
        let sends_lost = self.provider_ids.iter().filter(|id| !received_ids.contains(id)).count();
        let count = |method: Method| arrivals.iter().filter(|a| a.method == method).count();
        let sent = |action: &str| self.sent.get(action).copied().unwrap_or(0);
        let mut duplicates = unknown_sends;
        let mut lost = self.not_sent + sends_lost;
        for (method, action) in [(Method::Edit, "edit"), (Method::Delete, "delete")] {
            let (received, sent) = (count(method), sent(action));
            duplicates += received.saturating_sub(sent);
            lost += sent.saturating_sub(received);
        }
        (duplicates, lost)
    }
}

/// The Bot API methods the outbox calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Send,
    Edit,
    Delete,
}

/// A message the fake received.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Instant,
    chat_id: i64,
    method: Method,
    /// The id the fake gave a sent message, or the one an edit or delete acted on.
    message_id: i64,
}

#[derive(Default)]
struct FakeLog {
    /// The last message id given: one counter for all chats, so that every sent message is
    /// known by its id alone.
    last_id: i64,
    arrivals: Vec<Arrival>,
    /// When each chat's first `sendMessage` arrived.
    first_sends: HashMap<i64, Instant>,
}

/// A minimal Bot API on loopback, on a thread of its own: it answers `sendMessage`,
/// `editMessageText` and `deleteMessage` as Telegram does when all is well, and notes when
/// each arrived for which chat. Dropping it stops it.
struct FakeBotApi {
    /// `http://127.0.0.1:PORT`.
    base: String,
    log: Arc<Mutex<FakeLog>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FakeBotApi {
    fn start() -> Result<FakeBotApi, String> {
        let log = Arc::new(Mutex::new(FakeLog::default()));
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let shared = Arc::clone(&log);
        let thread = thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = bound.send(Err(format!("the fake Bot API's runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = bound.send(Err(format!("the fake Bot API's port: {e}")));
                        return;
                    }
                };
                let _ = bound.send(listener.local_addr().map_err(|e| e.to_string()));
                let router = Router::new().fallback(answer).with_state(shared);
                tokio::select! {
                    _ = axum::serve(listener, router) => {}
                    _ = stopped => {}
                }
            });
        });
        let address = address.recv().map_err(|_| "the fake Bot API did not start".to_owned())??;
        Ok(FakeBotApi {
            base: format!("http://{address}"),
            log,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Every message received so far.
    fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.log).arrivals.clone()
    }

    /// How many messages were received so far.
    fn received(&self) -> usize {
        lock(&self.log).arrivals.len()
    }

    /// When each chat's first message arrived.
    fn first_sends(&self) -> HashMap<i64, Instant> {
        lock(&self.log).first_sends.clone()
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request to `/bot{token}/{method}`.
async fn answer(State(log): State<Arc<Mutex<FakeLog>>>, uri: Uri, body: Bytes) -> Response {
    let at = Instant::now();
    let Some((token, method)) = uri.path().strip_prefix("/bot").and_then(|p| p.split_once('/'))
    else {
        return refuse(StatusCode::NOT_FOUND, "Not Found");
    };
    if token != BOT_TOKEN {
        return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(chat_id) = params.get("chat_id").and_then(Value::as_i64) else {
        return refuse(StatusCode::BAD_REQUEST, "Bad Request: chat not found");
    };
    let method = match method.to_ascii_lowercase().as_str() {
        "sendmessage" => Method::Send,
        "editmessagetext" => Method::Edit,
        "deletemessage" => Method::Delete,
        _ => return refuse(StatusCode::NOT_FOUND, "Not Found"),
    };
    let mut log = lock(&log);
    let message_id = match method {
        Method::Send => {
            log.last_id += 1;
            log.first_sends.entry(chat_id).or_insert(at);
            log.last_id
        }
        Method::Edit | Method::Delete => {
            params.get("message_id").and_then(Value::as_i64).unwrap_or_default()
        }
    };
    log.arrivals.push(Arrival { at, chat_id, method, message_id });
    drop(log);
    let result = match method {
        Method::Delete => Value::Bool(true),
        Method::Send | Method::Edit => json!({
            "message_id": message_id,
            "from": {"id": 7_000_000_001_i64, "is_bot": true, "first_name": "Hotline"},
            "chat": {"id": chat_id, "type": "private"},
            "date": 1_765_000_000,
            "text": params.get("text").cloned().unwrap_or(Value::Null),
        }),
    };
    (StatusCode::OK, axum::Json(json!({"ok": true, "result": result}))).into_response()
}

/// Telegram's refusal.
fn refuse(status: StatusCode, description: &str) -> Response {
    let body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    (status, axum::Json(body)).into_response()
}

/// A lock, even if a thread panicked holding it: the numbers are still worth printing.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Microseconds as milliseconds with two decimals.
fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline::telegram::update::{Update, UpdateKind};

    #[test]
    fn the_updates_posted_are_read_by_the_server_as_meant() {
        let mut person = Person::new(FIRST_CHAT_ID);
        let (_, start) = person.next_update(CONVERSATION, 1);
        let (_, button) = person.next_update(CONVERSATION, 2);
        let (_, words) = person.next_update(CONVERSATION, 3);
        let start = Update::parse(start.as_bytes()).map(|u| u.kind);
        assert!(
            matches!(&start, Ok(UpdateKind::Text { chat_id: FIRST_CHAT_ID, message_id: 1, text }) if text == "/start")
        );
        let button = Update::parse(button.as_bytes()).map(|u| u.kind);
        assert!(
            matches!(&button, Ok(UpdateKind::Button { chat_id: FIRST_CHAT_ID, message_id: 3, data, .. }) if data == "l:ru")
        );
        let words = Update::parse(words.as_bytes()).map(|u| (u.update_id, u.kind));
        assert!(matches!(&words, Ok((3, UpdateKind::Text { message_id: 5, .. }))));
    }

    #[test]
    fn a_second_window_holds_what_falls_within_one_second() {
        let t = Instant::now();
        let at = |millis: u64| t + Duration::from_millis(millis);
        assert_eq!(most_in_a_second(&[]), 0);
        assert_eq!(most_in_a_second(&[at(0), at(1000), at(2000)]), 1);
        assert_eq!(most_in_a_second(&[at(0), at(999), at(1500), at(1998)]), 3);
        let burst: Vec<Instant> = (0..30).map(|i| at(i * 40)).collect();
        assert_eq!(most_in_a_second(&burst), 25);
    }

    #[test]
    fn duplicates_and_losses_are_told_apart() {
        let at = Instant::now();
        let send = |message_id| Arrival { at, chat_id: 1, method: Method::Send, message_id };
        let edit = Arrival { at, chat_id: 1, method: Method::Edit, message_id: 1 };
        let outbox = Outbox {
            rows: 4,
            unfinished: 0,
            sent: HashMap::from([("send".to_owned(), 2), ("edit".to_owned(), 1)]),
            not_sent: 1,
            provider_ids: HashSet::from([1, 3]),
        };
        // All arrived once: only the row never sent is lost.
        assert_eq!(outbox.compare(&[send(1), send(3), edit]), (0, 1));
        // A send delivered twice (the first answer lost: id 2 unknown), an edit twice.
        assert_eq!(outbox.compare(&[send(1), send(2), send(3), edit, edit]), (2, 1));
        // A send the outbox counts as sent never arrived, nor did the edit.
        assert_eq!(outbox.compare(&[send(1)]), (0, 3));
    }
}
