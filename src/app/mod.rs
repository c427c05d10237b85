//! The use cases: what the hotline does, whichever surface asked.
//!
//! Every surface (the provider's webhooks, the JSON API, the console, the command line) holds
//! one [`App`] and calls its methods; none of them reaches storage, opens a sealed number,
//! chooses an audit action or reads the clock itself. A method takes the [`Actor`] asking
//! when a role rule applies, checks the rule here, writes the audit line here, and fails
//! with an [`AppError`] that each surface maps to its own answer.
//!
//! The methods are grouped by what they are about, one file each: `calls.rs` (a call walking
//! its script), `operator_line.rs`, `operator_reach.rs`, `casework.rs`, `followups.rs`, `queues/`, `people.rs`,
//! `scripts/` (publication under one lock), `retention.rs`, `recovery.rs`, `backup.rs`,
//! `keys.rs`, `provider.rs` (the provider's queues and recordings), `duty.rs` (the work one
//! server does for all that share a database).

mod actor;
pub(crate) mod audit;
pub mod backup;
pub(crate) mod calls;
pub(crate) mod casework;
pub(crate) mod channels;
pub(crate) mod chat_screens;
mod clock;
pub(crate) mod conversations;
pub(crate) mod dashboard;
pub mod duty;
mod error;
pub(crate) mod followups;
pub mod hashers;
pub(crate) mod keys;
pub(crate) mod messaging;
pub(crate) mod metrics;
pub(crate) mod migrate_db;
pub(crate) mod operator_line;
pub mod operator_reach;
pub(crate) mod outbox;
pub(crate) mod people;
pub(crate) mod presence;
pub(crate) mod provider;
pub(crate) mod queues;
pub(crate) mod recovery;
pub(crate) mod retention;
pub mod scripts;
pub mod secrets;
pub(crate) mod sessions;
pub mod telegram;
pub(crate) mod terminal;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

pub use actor::Actor;
pub use clock::Clock;
pub use error::AppError;
pub use outbox::Deliver;

use crate::app::hashers::Hashers;
use crate::app::metrics::Metrics;
use crate::app::operator_reach::RingUrls;
use crate::app::queues::Queues;
use crate::app::scripts::live::{History, LiveScripts};
use crate::app::scripts::versions::{self, VersionError};
use crate::app::scripts::watch::Watcher;
use crate::app::secrets::Secrets;
use crate::config::Config;
use crate::domain::followups::Sealer;
use crate::domain::lockout::PinPolicy;
use crate::domain::secret::{CallerHasher, Secret};
use crate::scripts::Report;
use crate::storage::{KeyCheck, Recorder, Serving, Storage, StorageError, StorageOptions};
use crate::twilio::account::Account;

/// How often the journal is retried while it holds records.
const REPLAY_EVERY: Duration = Duration::from_secs(5);

/// How often a start that must migrate the database looks again at a write lock held by
/// another program.
const MIGRATION_RETRY: Duration = Duration::from_secs(1);

/// A server's hold on its database ([`App::claim_database`]); dropping it lets another
/// server start.
#[derive(Debug)]
pub struct DatabaseClaim {
    _serving: Serving,
}

/// Why the hotline could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A script is invalid: the report lists every problem.
    #[error("the IVR scripts have errors; nothing was started:\n{0}")]
    Scripts(Report),
    /// The scripts' versions could not be read or reconciled with the folder.
    #[error("the IVR scripts' versions could not be set up: {0}")]
    ScriptVersions(VersionError),
    /// The database could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The caller-hash key is not the one the stored hashes were made under.
    #[error(
        "the caller-hash key (a chain of {given} key(s)) is not the one this database's caller \
         hashes were made under (a chain of {stored} key(s)): repeat callers and the blocklist \
         would silently stop matching. Set HOTLINE_CALLER_HASH_KEY(_FILE) to the chain written \
         by the last `hotline keys rotate-caller-hash`, or restore the matching key"
    )]
    CallerHashKey {
        /// Keys in the chain given.
        given: usize,
        /// Keys in the chain of the database.
        stored: u32,
    },
}

/// The running hotline, as every surface sees it. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    storage: Storage,
    recorder: Recorder,
    live: Arc<LiveScripts>,
    caller_hasher: CallerHasher,
    sealer: Sealer,
    hashers: Arc<Hashers>,
    queues: Queues,
    pin_policy: PinPolicy,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// What wakes the text channels' outbox workers (`outbox.rs`).
    outbox: outbox::Wakers,
    /// The Telegram bot's token, when the bot is on (`channels.rs`).
    telegram_token: Option<Secret>,
    /// One chat's updates take turns (`conversations.rs`).
    chat_turns: conversations::ChatTurns,
    /// The provider's REST API, when `[provider]` names an account.
    provider: Option<Arc<Account>>,
    /// Queues being deleted at the provider behind webhooks (`provider.rs`), bounded.
    queue_deletions: provider::InFlight,
    /// What wakes the ringer of call-me operators (`operator_reach.rs`).
    ringer: operator_reach::Ringer,
}

impl App {
    /// Opens the database (waiting for another program's write lock if the schema must be
    /// migrated, and replaying any journal left by a previous run), checks the caller-hash
    /// key against it, and brings the published scripts up to date with the folder.
    pub async fn open(config: &Config, secrets: &Secrets, clock: Clock) -> Result<App, OpenError> {
        let options = StorageOptions {
            busy_timeout: Duration::from_millis(config.database.busy_timeout_ms),
            data_keys_secret: Some(secrets.callback_key.clone()),
        };
        let storage = match config.database.postgres_url() {
            Some(url) => Storage::open_postgres(url, &config.database.path, options).await?,
            None => open_waiting_for_migrations(&config.database.path, options).await?,
        };
        App::on(storage, config, secrets, clock).await
    }

    /// The lock of a server at work on the configured database, taken before [`App::open`]
    /// and held until the server stops: a second server on the same database refuses to
    /// start instead of answering calls from a stale memory of the cases.
    pub fn claim_database(config: &Config) -> Result<DatabaseClaim, OpenError> {
        Ok(DatabaseClaim { _serving: Serving::take(&config.database.path)? })
    }

    /// Whether a server holds the configured database now ([`App::claim_database`]).
    pub fn database_is_claimed(config: &Config) -> Result<bool, OpenError> {
        Ok(Serving::held(&config.database.path)?)
    }

    /// [`App::open`] on a database already open: for tests that hold the very storage the
    /// hotline writes through, to break it while it serves.
    pub async fn on(
        storage: Storage,
        config: &Config,
        secrets: &Secrets,
        clock: Clock,
    ) -> Result<App, OpenError> {
        let caller_hasher = CallerHasher::new(secrets.caller_hash_key.clone());
        if let KeyCheck::Differs { stored_keys } =
            storage.check_caller_hash_key(&caller_hasher, clock.now()).await?
        {
            return Err(OpenError::CallerHashKey {
                given: caller_hasher.keys(),
                stored: stored_keys,
            });
        }
        let (live, warnings) = versions::reconcile(&storage, &config.scripts.dir, clock.now())
            .await
            .map_err(|error| match error {
                VersionError::Invalid(report) => OpenError::Scripts(report),
                other => OpenError::ScriptVersions(other),
            })?;
        // Warnings do not stop the line (most are recordings not made yet, read by TTS in
        // the meantime): summed up per language, the full list is `hotline check`'s job.
        let notes = crate::scripts::report::at_start(&live.set, &warnings);
        notes.summary.iter().for_each(|line| tracing::warn!("{line}"));
        notes.details.iter().for_each(|line| tracing::debug!("{line}"));
        let recorder = Recorder::open(
            storage.clone(),
            &config.database.journal_path(),
            config.database.journal_reserve_bytes(),
            Duration::from_millis(config.database.write_deadline_ms),
        )
        .await?;
        let history = History {
            storage: storage.clone(),
            dir: config.scripts.dir.clone(),
            keep_for: recovery::silence_bound(config),
        };
        let metrics = Arc::new(Metrics::new());
        recorder.observe_writes(metrics.write_observer());
        Ok(App {
            inner: Arc::new(Inner {
                config: Arc::new(config.clone()),
                live: Arc::new(LiveScripts::with_history(live, history)),
                storage,
                recorder,
                sealer: Sealer::new(&secrets.callback_key),
                caller_hasher,
                // Passwords and PINs are checked on a few threads of the server's own, a
                // bounded number at once (`hashers.rs`): a flood of them cannot exhaust memory.
                hashers: Arc::new(Hashers::per_core()),
                // Call-me operators count as on duty only where they can be rung.
                queues: Queues::new(
                    &config.queues,
                    config.provider.has_account() && !config.operators.line_number.is_empty(),
                ),
                pin_policy: config.operators.pin_policy(),
                metrics,
                clock,
                outbox: outbox::Wakers::default(),
                telegram_token: secrets
                    .telegram
                    .as_ref()
                    .filter(|_| config.telegram.enabled)
                    .map(|telegram| telegram.token.clone()),
                chat_turns: conversations::ChatTurns::default(),
                provider: provider::account(&config.provider, secrets).map(Arc::new),
                queue_deletions: provider::InFlight::default(),
                ringer: operator_reach::Ringer::default(),
            }),
        })
    }

    /// Starts what runs beside the requests: on every server the journal's replay, the
    /// recovery of calls whose end was never reported, and the scripts' watcher (following
    /// what is published); on the server on duty (`duty.rs`) the retention schedule, the
    /// publication of the folder's edits, the chat upkeep, the outbox workers, the provider's
    /// upkeep and, given `ring` (the webhooks' URLs), the ringer of call-me operators. They
    /// stop when the returned value is dropped or stopped.
    pub fn spawn_background(&self, ring: Option<RingUrls>) -> Background {
        let inner = &self.inner;
        let config = &inner.config;
        let mut tasks = vec![
            inner.recorder.spawn_replayer(REPLAY_EVERY),
            recovery::spawn(
                inner.storage.clone(),
                inner.recorder.clone(),
                recovery::silence_bound(config),
            ),
        ];
        let ring = ring.map(Arc::new);
        let app = self.clone();
        let duties = Box::new(move || app.spawn_duties(ring.clone()));
        let (rota, on_duty) = duty::Rota::new(self.clone(), duties);
        let (rota, step_down) = rota.spawn();
        tasks.push(rota);
        if config.scripts.watch_interval_ms > 0 {
            let every = Duration::from_millis(config.scripts.watch_interval_ms);
            let watcher = Watcher::new(
                inner.storage.clone(),
                Arc::clone(&inner.live),
                config.scripts.dir.clone(),
                inner.clock.clone(),
                on_duty,
            );
            tasks.push(watcher.spawn(every));
        }
        Background { tasks, step_down: Some(step_down) }
    }

    /// Starts the duties' tasks: on one server at a time (`duty.rs`).
    fn spawn_duties(&self, ring: Option<Arc<RingUrls>>) -> Vec<JoinHandle<()>> {
        let inner = &self.inner;
        let config = &inner.config;
        let mut tasks = Vec::new();
        tasks.extend(retention::spawn_schedule(
            inner.storage.clone(),
            inner.clock.clone(),
            &config.retention,
            inner.provider.is_some(),
        ));
        if config.telegram.enabled || config.sms.enabled {
            let every = Duration::from_millis(config.chats.upkeep_interval_ms);
            tasks.push(self.spawn_chat_upkeep(every));
        }
        tasks.extend(self.spawn_text_channels());
        tasks.extend(self.spawn_provider_upkeep());
        tasks.extend(ring.and_then(|urls| self.spawn_ringer(urls)));
        tasks
    }

    /// Replays what the journal still holds, at shutdown; the caller bounds how long.
    pub async fn flush_journal(&self) -> Result<(), StorageError> {
        self.inner.recorder.replay().await.map(|_| ())
    }

    /// Records the journal still holds (none when it cannot tell).
    pub fn journal_backlog(&self) -> usize {
        self.inner.recorder.pending_now().unwrap_or_default()
    }

    /// The time now, by the hotline's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The scripts folder.
    pub fn scripts_dir(&self) -> &Path {
        &self.inner.config.scripts.dir
    }

    /// The metrics every surface counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The live scripts: the version each call is on.
    pub fn live(&self) -> &Arc<LiveScripts> {
        &self.inner.live
    }

    /// The queue settings.
    pub fn queues(&self) -> &Queues {
        &self.inner.queues
    }

    /// The operator line's PIN policy.
    pub fn pin_policy(&self) -> &PinPolicy {
        &self.inner.pin_policy
    }

    /// Turns a caller's number into its hash: done once, where the number comes in.
    pub fn caller_hasher(&self) -> &CallerHasher {
        &self.inner.caller_hasher
    }

    /// The password and PIN checkers.
    pub fn hashers(&self) -> &Arc<Hashers> {
        &self.inner.hashers
    }

    /// The Telegram bot's token, when the bot is on.
    fn telegram_token(&self) -> Option<&Secret> {
        self.inner.telegram_token.as_ref()
    }

    /// The turns a chat's updates take.
    fn chat_turns(&self) -> &conversations::ChatTurns {
        &self.inner.chat_turns
    }

    /// The provider's REST API, when an account is configured.
    pub(crate) fn provider(&self) -> Option<&Arc<Account>> {
        self.inner.provider.as_ref()
    }

    /// What wakes the ringer.
    fn ringer(&self) -> &operator_reach::Ringer {
        &self.inner.ringer
    }

    /// The callback numbers' sealer.
    pub(crate) fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    /// The database. Only the use cases reach it; a surface asks them.
    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Writes the records of a call: to the database, or to the journal while it is down.
    pub(crate) fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }
}

/// The tasks started by [`App::spawn_background`]; dropping it stops them.
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
    /// Gives the duties' lease up; taken by [`Background::stop`].
    step_down: Option<duty::StepDown>,
}

impl Background {
    /// Stops the tasks, then gives the duties up (within `within`), so that another server
    /// sharing the database takes them over at once instead of when the lease runs out.
    pub async fn stop(mut self, within: Duration) {
        for task in self.tasks.drain(..) {
            task.abort();
            // Aborted tasks end at their next await; the duties' stop before the lease goes.
            let _ = task.await;
        }
        if let Some(step_down) = self.step_down.take() {
            step_down.now(within).await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens the database. A schema migration is the one write a start cannot leave to the
/// journal (nothing can be written or read under a schema this build does not know), so
/// while another program holds the write lock it waits, saying so, and tries again; without
/// a migration due, opening needs no write and the server starts at once.
async fn open_waiting_for_migrations(
    path: &Path,
    options: StorageOptions,
) -> Result<Storage, StorageError> {
    let mut waited = Duration::ZERO;
    loop {
        match Storage::open(path, options.clone()).await {
            Err(StorageError::Migration { name, source, .. })
                if matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) =>
            {
                tracing::warn!(
                    migration = name,
                    waited_secs = waited.as_secs(),
                    "another program holds the database's write lock and the schema must be \
                     migrated before calls can be answered; waiting for the lock"
                );
                tokio::time::sleep(MIGRATION_RETRY).await;
                waited += MIGRATION_RETRY;
            }
            other => return other,
        }
    }
}
