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

use crate::app::secrets::Secrets;
use crate::app::{App, Clock, DatabaseClaim, OpenError};
use crate::config::Config;
use crate::http::api::{self, ApiState};
use crate::http::connections::{self, ConnectionLimits};
use crate::http::console::{self, ConsoleState};
use crate::http::limits::{self, Guard, Offenders};
use crate::http::operations;
use crate::http::text::{self, TextChannels};
use crate::http::webhooks::{self, Webhooks};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The hotline itself could not open: its scripts, its database or its keys.
    #[error(transparent)]
    App(#[from] OpenError),
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
}

/// A built server, bound and ready to run.
pub struct Application {
    app: App,
    listener: TcpListener,
    router: Router,
    public_url: String,
    grace: Duration,
    limits: ConnectionLimits,
    /// Held until the server has stopped, when it was built on its own database.
    claim: Option<DatabaseClaim>,
}

impl Application {
    /// Opens the hotline ([`App::open`]), binds the listener and builds the routes.
    pub async fn build(config: &Config, secrets: Secrets) -> Result<Application, StartError> {
        // Before the database is opened (and perhaps migrated): one server per database.
        let claim = App::claim_database(config)?;
        let app = App::open(config, &secrets, Clock::system()).await?;
        let mut application = Application::serving(app, config, secrets).await?;
        application.claim = Some(claim);
        Ok(application)
    }

    /// Binds the listener and builds the routes around an opened hotline.
    pub async fn serving(
        app: App,
        config: &Config,
        secrets: Secrets,
    ) -> Result<Application, StartError> {
        let addr = config.server.listen;
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
        let api = Arc::new(ApiState { app: app.clone() });
        let twilio_token = secrets.auth_token.clone();
        let webhooks = Arc::new(Webhooks::new(app.clone(), secrets.auth_token, public_url.clone()));
        // Addresses that keep sending forged or unreadable webhooks or wrong API tokens are cut
        // short.
        let offenders = Arc::new(Offenders::new(
            u32::try_from(config.server.refusals_per_minute).unwrap_or(u32::MAX),
            config.server.trusted_proxy,
        ));
        let guard = |refusal| {
            let guard = Guard { offenders: Arc::clone(&offenders), refusal };
            axum::middleware::from_fn_with_state(guard, limits::refuse_offenders)
        };
        let login_key = console::LoginKey::random().map_err(StartError::Randomness)?;
        let console = Arc::new(ConsoleState::new(
            app.clone(),
            Arc::clone(&offenders),
            login_key,
            &public_url,
        ));
        let telegram_secret = secrets
            .telegram
            .filter(|_| config.telegram.enabled)
            .map(|telegram| telegram.webhook_secret);
        let text = Arc::new(
            TextChannels::new(app.clone(), telegram_secret).with_twilio(twilio_token, &public_url),
        );
        let router = webhooks::router(webhooks)
            .merge(text::router(text))
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
        let router =
            operations::instrument(router, app.clone(), config.metrics.token_sha256.clone());

        Ok(Application {
            app,
            listener,
            router,
            public_url,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            limits: ConnectionLimits {
                max_connections: usize::try_from(config.server.max_connections)
                    .unwrap_or(usize::MAX),
                header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
                max_header_bytes: usize::try_from(config.server.max_header_bytes)
                    .unwrap_or(usize::MAX),
                request_timeout: Duration::from_millis(config.server.request_timeout_ms),
                max_per_address: usize::try_from(config.server.max_connections_per_address)
                    .unwrap_or(usize::MAX),
                uncapped: config.server.trusted_proxy,
            },
            claim: None,
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

    /// The hotline the server serves.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The routes it serves, whole: what a test holds the metrics' route groups to.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for the grace
    /// period. The whole shutdown, the journal's last replay included, ends within it.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        // Call-me operators are rung by a task of the duties, which needs the public URL.
        let background = self.app.spawn_background(Some(webhooks::ring_urls(&self.public_url)));
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
        let stop_by = *stop_by.borrow();
        let stop_by = stop_by.unwrap_or_else(|| tokio::time::Instant::now() + grace);
        // Another server sharing the database takes the duties over at once, not when the
        // lease runs out; a database that does not answer gets a second at most.
        let left = stop_by.saturating_duration_since(tokio::time::Instant::now());
        background.stop(left.min(Duration::from_secs(1))).await;
        // Everything acknowledged is already in the database or the fsync'd journal; a last
        // replay just saves the next start some work, so it gets what is left of the grace
        // period and no more: with the database locked it would wait behind every write
        // queued for the lock. It runs in its own task so that giving up on it never cuts a
        // journal rewrite in half (and one cut by the exit is safe, see the journal).
        let app = self.app.clone();
        let replay = tokio::spawn(async move { app.flush_journal().await });
        match tokio::time::timeout_at(stop_by, replay).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "journal not replayed at shutdown; it will be at next start");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "the journal's last replay failed"),
            Err(_) => tracing::warn!(
                pending = self.app.journal_backlog(),
                "the grace period ended before the journal's last replay; it will be at next start"
            ),
        }
        result
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
