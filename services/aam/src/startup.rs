//! AAM assembled from its configuration: the one place that wires the stores, the cluster
//! source, the listener and the health poller together. `ovu-aam serve`, the integration
//! tests and the `ovu-stack` launcher (`make dev`, the benches, the contract and browser
//! tests) all start AAM through it, so none of them has a second copy of the wiring.
//!
//! [`Application::build`] does everything that can fail at start-up (connect, migrate, bind)
//! and reports the bound address; [`Application::run_until_stopped`] serves until SIGTERM or
//! SIGINT and shuts down gracefully (in-flight requests finish, then the poller stops).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use ovu_kit::db::{connect_pg, connect_redis, with_retry};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::cluster::{ClusterSource, KubeCluster, NoCluster};
use crate::config::Config;
use crate::{AppState, MIGRATOR, app, poller};

/// AAM built and bound, not yet serving.
pub struct Application {
    state: AppState,
    listener: TcpListener,
    addr: SocketAddr,
}

impl Application {
    /// Connects to PostgreSQL and Redis (retrying for 60 s), applies the migrations unless
    /// `AAM_MIGRATE_ON_START=false`, reaches the cluster when `OVU_SYSTEM_NAME` is set, then
    /// [`Self::build_with`].
    pub async fn build(cfg: Config) -> anyhow::Result<Self> {
        let db = connect_db(&cfg, Duration::from_secs(60)).await?;
        if cfg.migrate_on_start {
            // sqlx takes an advisory lock, so replicas starting together migrate once.
            ovu_kit::startup::migrate(&MIGRATOR, &db).await?;
        }
        let redis = with_retry("redis", Duration::from_secs(60), || connect_redis(&cfg.db))
            .await
            .context("connecting to redis")?;
        let cluster: Arc<dyn ClusterSource> = match &cfg.system_name {
            Some(name) => {
                match KubeCluster::connect(name.clone(), cfg.system_namespace.clone()).await {
                    Ok(k) => Arc::new(k),
                    Err(e) => {
                        tracing::warn!(error = %e, "OVU_SYSTEM_NAME is set but no cluster is reachable");
                        Arc::new(NoCluster)
                    }
                }
            }
            None => Arc::new(NoCluster),
        };
        Self::build_with(cfg, db, redis, cluster).await
    }

    /// The same over stores the caller already holds (a test's `#[sqlx::test]` database,
    /// migrated): the state and the listener on `AAM_LISTEN_ADDR` (port 0 picks a free one;
    /// [`Self::addr`] tells which).
    pub async fn build_with(
        cfg: Config,
        db: PgPool,
        redis: ConnectionManager,
        cluster: Arc<dyn ClusterSource>,
    ) -> anyhow::Result<Self> {
        let listen = cfg.listen;
        let state = AppState::new(cfg, db, redis, cluster)?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding AAM_LISTEN_ADDR {listen}"))?;
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

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(ovu_kit::http::shutdown_signal()).await
    }

    /// Serves with the health poller until `shutdown` resolves; then lets in-flight
    /// requests finish and stops the poller.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let poller = tokio::spawn(poller::run(self.state.clone(), stop_rx));
        tracing::info!(addr = %self.addr, "aam listening");
        let served = ovu_kit::http::serve(self.listener, app(self.state.clone()), shutdown).await;
        let _ = stop_tx.send(true);
        let _ = poller.await;
        served?;
        Ok(())
    }
}

/// PostgreSQL from `DATABASE_URL`, retried for `patience` (60 s for the server,
/// `MIGRATE_PATIENCE` for `ovu-aam migrate`).
pub async fn connect_db(cfg: &Config, patience: Duration) -> anyhow::Result<PgPool> {
    with_retry("postgresql", patience, || connect_pg(&cfg.db))
        .await
        .context("connecting to postgresql")
}
