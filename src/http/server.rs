//! The HTTP application: built from a validated [`Config`], bound to its listener, run until a
//! shutdown signal. `main` and the integration tests build it the same way, the tests on
//! port 0 with a fresh database.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::app::scripts::live::{History, LiveScripts};
use crate::app::scripts::versions::{self, VersionError};
use crate::app::scripts::watch::Watcher;
use crate::app::secrets::Secrets;
use crate::config::Config;
use crate::domain::secret::CallerHasher;
use crate::http::api::{self, ApiState};
use crate::http::connections::{self, ConnectionLimits};
use crate::http::console::{self, ConsoleState};
use crate::http::limits::{self, Guard, Offenders};
use crate::http::webhooks::{self, Webhooks};
use crate::scripts::Report;
use crate::storage::{KeyCheck, Recorder, Storage, StorageError, StorageOptions};

/// How often the journal is retried while it holds records.
const REPLAY_EVERY: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A script is invalid: the report lists every problem.
    #[error("the IVR scripts have errors; nothing was started:\n{0}")]
    Scripts(Report),
    /// The scripts' versions could not be read or reconciled with the folder.
    #[error("the IVR scripts' versions could not be set up: {0}")]
    ScriptVersions(VersionError),
    /// The database could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The address is taken or not ours.
    #[error(
        "cannot listen on {addr}: {source}. Is another hotline running? Change server.listen or HOTLINE_SERVER_LISTEN"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The system gave no randomness (for the console's login-form key).
    #[error("the system gave no randomness for the console's login form key: {0}")]
    Randomness(getrandom::Error),
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

/// A built server, bound and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    public_url: String,
    recorder: Recorder,
    grace: Duration,
    /// For the retention purge the server runs on a schedule.
    storage: Storage,
    retention: crate::config::RetentionConfig,
    limits: ConnectionLimits,
    /// Publishes edits of the scripts folder and takes up versions published elsewhere.
    watcher: Option<(Watcher, Duration)>,
    /// How long a call can stay silent before the recovery closes its case as lost.
    recovery_bound: Duration,
}

impl Application {
    /// Loads the scripts, opens the database (replaying any journal left by a previous run),
    /// binds the listener and builds the routes.
    pub async fn build(config: &Config, secrets: Secrets) -> Result<Application, StartError> {
        let options =
            StorageOptions { busy_timeout: Duration::from_millis(config.database.busy_timeout_ms) };
        let storage = open_waiting_for_migrations(&config.database.path, options).await?;
        let hasher = CallerHasher::new(secrets.caller_hash_key);
        if let KeyCheck::Differs { stored_keys } = storage.check_caller_hash_key(&hasher).await? {
            return Err(StartError::CallerHashKey { given: hasher.keys(), stored: stored_keys });
        }
        let (live, warnings) = versions::reconcile(&storage, &config.scripts.dir).await.map_err(
            |error| match error {
                VersionError::Invalid(report) => StartError::Scripts(report),
                other => StartError::ScriptVersions(other),
            },
        )?;
        // Warnings do not stop the line (most are recordings not made yet, read by TTS in
        // the meantime); a few are shown, the full list is `hotline check`'s job.
        for warning in warnings.iter().take(3) {
            tracing::warn!("{warning}");
        }
        if warnings.len() > 3 {
            tracing::warn!(
                warnings = warnings.len(),
                "the scripts have more warnings; `hotline check` lists them all"
            );
        }
        let write_deadline = Duration::from_millis(config.database.write_deadline_ms);
        let recorder = Recorder::open(
            storage.clone(),
            &config.database.journal_path(),
            config.database.journal_reserve_bytes(),
            write_deadline,
        )
        .await?;

        let addr = config.listen_addr();
        let listener =
            TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
        let public_url = config.public_url(bound);

        if !config.webhooks.verify_signatures {
            tracing::warn!(
                "SIGNATURE CHECKS ARE OFF (webhooks.verify_signatures = false): anyone who can \
                 reach this server can fake calls. Never run a real line like this."
            );
        }
        let scripts = Arc::clone(&live.set);
        let history = History {
            storage: storage.clone(),
            dir: config.scripts.dir.clone(),
            keep_for: crate::app::recovery::silence_bound(config),
        };
        let live = Arc::new(LiveScripts::with_history(live, history));
        let metrics = Arc::new(crate::app::metrics::Metrics::new());
        recorder.observe_writes(metrics.write_observer());
        let operations = Arc::new(crate::app::metrics::MetricsState {
            metrics,
            storage: storage.clone(),
            recorder: recorder.clone(),
            scripts: Arc::clone(&scripts),
            token_sha256: config.metrics.token_sha256.clone(),
        });
        let api = Arc::new(ApiState {
            storage: storage.clone(),
            config: Arc::new(config.clone()),
            callbacks: crate::domain::followups::Sealer::new(&secrets.callback_key),
            live: Arc::clone(&live),
            hasher: hasher.clone(),
        });
        let watcher = (config.scripts.watch_interval_ms > 0).then(|| {
            let every = Duration::from_millis(config.scripts.watch_interval_ms);
            (Watcher::new(storage.clone(), Arc::clone(&live), config.scripts.dir.clone()), every)
        });
        // Passwords and PINs are checked on a few threads of the server's own, a bounded
        // number at once (`people/hashers.rs`): a flood of them cannot exhaust memory.
        let hashers = Arc::new(crate::app::hashers::Hashers::per_core());
        let webhooks = Arc::new(Webhooks {
            live,
            recorder: recorder.clone(),
            storage: storage.clone(),
            hasher,
            callbacks: crate::domain::followups::Sealer::new(&secrets.callback_key),
            followups: config.followups.clone(),
            auth_token: secrets.auth_token,
            verify_signatures: config.webhooks.verify_signatures,
            public_url: public_url.clone(),
            max_body_bytes: config.webhooks.max_body_bytes,
            deadline: config.webhook_deadline(),
            queues: crate::app::queues::Queues::new(&config.queues),
            blocked_answer: config.blocklist.answer,
            calls_in_progress: Arc::new(crate::http::limits::CallsInProgress::new(
                usize::try_from(config.webhooks.calls_per_caller).unwrap_or(usize::MAX),
            )),
            over_limit_answer: config.webhooks.over_limit_answer,
            refused: Arc::default(),
            pin_policy: crate::domain::lockout::PinPolicy::from_config(&config.operators),
            hashers: Arc::clone(&hashers),
        });
        // Addresses that keep sending forged or unreadable webhooks or wrong API tokens are cut
        // short.
        let offenders = Arc::new(Offenders::new(
            u32::try_from(config.server.refusals_per_minute).unwrap_or(u32::MAX),
            config.server.trusted_proxy.parse().ok(),
        ));
        let guard = |refusal| {
            let guard = Guard { offenders: Arc::clone(&offenders), refusal };
            axum::middleware::from_fn_with_state(guard, limits::refuse_offenders)
        };
        let login_key = console::LoginKey::random().map_err(StartError::Randomness)?;
        let console = Arc::new(ConsoleState::new(
            Arc::clone(&api),
            Arc::clone(&offenders),
            hashers,
            login_key,
            &public_url,
        ));
        let router = webhooks::router(webhooks)
            .layer(guard(StatusCode::FORBIDDEN))
            .nest("/api", api::router(api).layer(guard(StatusCode::UNAUTHORIZED)))
            .nest("/console", console::router(console))
            // Recorded prompts, played by the provider with <Play>. ServeDir refuses paths
            // that climb out of the folder.
            .nest_service("/audio", ServeDir::new(config.scripts.dir.join("audio")))
            .route("/health", get(|| async { "ok\n" }))
            // Requests are logged by method and path only: a query can hold a caller's
            // number (a webhook sent with GET) or a sealed one (our callback URLs).
            .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span));
        // `/metrics`, `/healthz`, `/readyz`, and the layer that times every webhook.
        let router = crate::app::metrics::instrument(router, operations);

        Ok(Application {
            listener,
            router,
            public_url,
            recorder,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            storage,
            retention: config.retention.clone(),
            limits: ConnectionLimits {
                max_connections: usize::try_from(config.server.max_connections)
                    .unwrap_or(usize::MAX),
                header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
                max_header_bytes: usize::try_from(config.server.max_header_bytes)
                    .unwrap_or(usize::MAX),
                request_timeout: Duration::from_millis(config.server.request_timeout_ms),
                max_per_address: usize::try_from(config.server.max_connections_per_address)
                    .unwrap_or(usize::MAX),
                uncapped: config.server.trusted_proxy.parse().ok(),
            },
            watcher,
            recovery_bound: crate::app::recovery::silence_bound(config),
        })
    }

    /// The address the server listens on (the real port when configured with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The base URL the provider must call, as used for signatures.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The storage the server writes through: for tests that break it while it serves.
    pub fn storage(&self) -> Storage {
        self.storage.clone()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for the grace
    /// period. The whole shutdown, the journal's last replay included, ends within it.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let replayer = self.recorder.spawn_replayer(REPLAY_EVERY);
        let purger = crate::app::retention::spawn_schedule(self.storage.clone(), &self.retention);
        let watcher = self.watcher.map(|(watcher, every)| watcher.spawn(every));
        let recovery = crate::app::recovery::spawn(
            self.storage.clone(),
            self.recorder.clone(),
            self.recovery_bound,
        );
        // When the shutdown began, plus the grace period: the moment the process must be done.
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(None);
        let stop_by = stopping_tx.subscribe();
        let grace = self.grace;
        let server = connections::serve(self.listener, self.router, self.limits, async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = stopping_tx.send(Some(tokio::time::Instant::now() + grace));
        });
        let deadline = async move {
            loop {
                let stop_by = *stopping_rx.borrow_and_update();
                if let Some(stop_by) = stop_by {
                    break tokio::time::sleep_until(stop_by).await;
                }
                if stopping_rx.changed().await.is_err() {
                    // The server ended on its own; wait for its result instead.
                    std::future::pending::<()>().await;
                }
            }
        };
        let result = tokio::select! {
            result = server => result,
            () = deadline => {
                tracing::warn!("requests still running after the grace period were cut off");
                Ok(())
            }
        };
        replayer.abort();
        if let Some(purger) = purger {
            purger.abort();
        }
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        recovery.abort();
        // Everything acknowledged is already in the database or the fsync'd journal; a last
        // replay just saves the next start some work, so it gets what is left of the grace
        // period and no more: with the database locked it would wait behind every write
        // queued for the lock. It runs in its own task so that giving up on it never cuts a
        // journal rewrite in half (and one cut by the exit is safe, see the journal).
        let stop_by = *stop_by.borrow();
        let stop_by = stop_by.unwrap_or_else(|| tokio::time::Instant::now() + grace);
        let recorder = self.recorder.clone();
        let replay = tokio::spawn(async move { recorder.replay().await });
        match tokio::time::timeout_at(stop_by, replay).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "journal not replayed at shutdown; it will be at next start");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "the journal's last replay failed"),
            Err(_) => tracing::warn!(
                pending = self.recorder.pending_now().unwrap_or_default(),
                "the grace period ended before the journal's last replay; it will be at next start"
            ),
        }
        result
    }
}

/// How often a start that must migrate the database looks again at a write lock held by
/// another program.
const MIGRATION_RETRY: Duration = Duration::from_secs(1);

/// Opens the database. A schema migration is the one write a start cannot leave to the
/// journal (nothing can be written or read under a schema this build does not know), so
/// while another program holds the write lock it waits, saying so, and tries again; without
/// a migration due, opening needs no write and the server starts at once.
async fn open_waiting_for_migrations(
    path: &std::path::Path,
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

/// Ctrl-C and SIGTERM, listened for from the moment [`ShutdownSignal::listen`] returns. Made
/// before the server starts, so a signal that arrives while it is still starting (its port
/// may already take connections) stops it cleanly instead of killing it with the default
/// handler.
pub struct ShutdownSignal {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignal {
    /// Takes over SIGINT and SIGTERM. Needs the Tokio runtime.
    pub fn listen() -> io::Result<ShutdownSignal> {
        Ok(ShutdownSignal {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Completes when either signal has arrived (at any time since [`ShutdownSignal::listen`]).
    pub async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
    }
}
