//! ULM assembled from its configuration: the one place that wires the stores, the signing
//! key, the bootstrap admin, the listener and the background workers together. `ovu-ulm serve`,
//! the integration tests, AAM's tests (a real ULM beside AAM) and the `ovu-stack` launcher
//! (`make dev`, the benches, the contract and browser tests) all start ULM through it, so
//! none of them has a second copy of the wiring to drift from production.
//!
//! Two steps, as in zero2prod: [`Application::build`] does everything that can fail at
//! start-up (connect, migrate, bootstrap, bind) and reports the bound address, so a caller
//! asking for port 0 learns the port before anything is served; then
//! [`Application::run_until_stopped`] serves until SIGTERM/SIGINT and shuts down gracefully
//! (in-flight requests finish, workers stop, the pool closes).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use ovu_kit::db;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::signing::Signer;
use crate::{AppState, Config, MIGRATOR, app, bootstrap, jobs, mail};

/// ULM built and bound, not yet serving.
pub struct Application {
    state: AppState,
    listener: TcpListener,
    addr: SocketAddr,
}

impl Application {
    /// Connects to PostgreSQL and Redis (retrying for 30 s, so a replica may start before
    /// its stores), applies the migrations unless `ULM_MIGRATE_ON_START=false`, loads the
    /// signing key, then [`Self::build_with`].
    pub async fn build(cfg: Config) -> anyhow::Result<Self> {
        let pool = connect_pg(&cfg, Duration::from_secs(30)).await?;
        if cfg.migrate_on_start {
            ovu_kit::startup::migrate(&MIGRATOR, &pool).await?;
        }
        let redis = db::with_retry("redis", Duration::from_secs(30), || {
            db::connect_redis(&cfg.db)
        })
        .await
        .context("connecting to Redis (REDIS_URL)")?;
        let signer = match &cfg.signing_key_file {
            Some(path) => Signer::from_pem_file(path)?,
            None => {
                tracing::warn!(
                    "ULM_SIGNING_KEY_FILE is not set: using an ephemeral signing key (development only)"
                );
                Signer::ephemeral()
            }
        };
        Self::build_with(cfg, pool, redis, signer).await
    }

    /// The same over stores the caller already holds (a test's `#[sqlx::test]` database,
    /// migrated): the state, the bootstrap admin (when configured) and the listener on
    /// `ULM_LISTEN_ADDR` (port 0 picks a free one; [`Self::addr`] tells which).
    pub async fn build_with(
        cfg: Config,
        pool: PgPool,
        redis: ConnectionManager,
        signer: Signer,
    ) -> anyhow::Result<Self> {
        tracing::info!(kid = signer.kid(), "signing key loaded");
        let listen = cfg.listen;
        let state = AppState::new(cfg, pool, redis, signer)?;
        bootstrap::ensure_admin(&state).await?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding ULM_LISTEN_ADDR {listen}"))?;
        let addr = listener.local_addr()?;
        Ok(Self {
            state,
            listener,
            addr,
        })
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The HTTP application (tests without a socket drive it with `oneshot`).
    pub fn router(&self) -> Router {
        app(self.state.clone())
    }

    /// Every background worker of a replica: scheduled deactivations with retention, and
    /// mail delivery.
    pub fn spawn_workers(&self) -> Workers {
        let interval = Duration::from_secs(self.state.cfg.job_interval_secs);
        let mut w = self.spawn_mailer();
        w.tasks.push(tokio::spawn(jobs::run(
            self.state.clone(),
            interval,
            w.stop_rx(),
        )));
        w
    }

    /// Mail delivery alone (tests that run the jobs' ticks themselves, deterministically).
    pub fn spawn_mailer(&self) -> Workers {
        let (stop, rx) = watch::channel(false);
        let tasks = vec![tokio::spawn(mail::run(self.state.clone(), rx))];
        Workers { stop, tasks }
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(ovu_kit::http::shutdown_signal()).await
    }

    /// Serves with every worker until `shutdown` resolves; then lets in-flight requests
    /// finish, stops the workers and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let workers = self.spawn_workers();
        tracing::info!(addr = %self.addr, "ulm listening");
        let served = ovu_kit::http::serve(self.listener, app(self.state.clone()), shutdown).await;
        if let Err(e) = workers.stop().await {
            tracing::error!(error = %e, "a background worker failed");
        }
        self.state.db.close().await;
        served?;
        tracing::info!("ulm stopped");
        Ok(())
    }
}

/// PostgreSQL from `DATABASE_URL`, retried for 30 s (also `ovu-ulm migrate`'s connection).
pub async fn connect_pg(cfg: &Config, patience: Duration) -> anyhow::Result<PgPool> {
    db::with_retry("postgres", patience, || db::connect_pg(&cfg.db))
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")
}

/// Background tasks started together and stopped together.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    fn stop_rx(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Signals every task to stop and waits until they have; the error of the first task
    /// that panicked, if any (tests fail on it; a stopping server only logs it).
    pub async fn stop(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.stop.send(true);
        let mut first = Ok(());
        for t in self.tasks {
            if let Err(e) = t.await
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }
}
