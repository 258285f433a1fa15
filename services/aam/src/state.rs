//! Everything a handler needs, behind one cheap-to-clone handle.

use std::ops::Deref;
use std::sync::Arc;

use ovu_kit::metrics::Metrics;
use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::cluster::ClusterSource;
use crate::config::Config;
use crate::dashboard::StatsCache;
use crate::jwks::JwksKeys;
use crate::ulm::UlmClient;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: Config,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub keys: JwksKeys,
    pub ulm: UlmClient,
    pub metrics: Metrics,
    pub cluster: Arc<dyn ClusterSource>,
    pub stats_cache: StatsCache,
    pub health: crate::poller::Latest,
    pub sessions: crate::session_check::SessionChecks,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        cfg: Config,
        db: PgPool,
        redis: ConnectionManager,
        cluster: Arc<dyn ClusterSource>,
    ) -> Result<Self, reqwest::Error> {
        // One client for ULM and its JWKS: connection reuse keeps the dashboard's ULM call cheap.
        let client = reqwest::Client::builder()
            .timeout(cfg.ulm_timeout)
            .connect_timeout(cfg.ulm_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .build()?;
        let keys = JwksKeys::new(
            client.clone(),
            cfg.jwks_url.clone(),
            &cfg.jwt_issuer,
            &cfg.jwt_audience,
            cfg.jwks_ttl,
            cfg.jwks_min_refetch,
        );
        let ulm = UlmClient::new(client, cfg.ulm_url.clone());
        Ok(Self(Arc::new(Inner {
            stats_cache: StatsCache::new(cfg.dashboard_cache),
            sessions: crate::session_check::SessionChecks::new(cfg.session_check),
            cfg,
            db,
            redis,
            keys,
            ulm,
            metrics: Metrics::new("aam"),
            cluster,
            health: Default::default(),
        })))
    }
}
