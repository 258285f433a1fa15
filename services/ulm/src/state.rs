//! Everything a handler needs, behind one cheap-to-clone handle.

use std::ops::Deref;
use std::sync::Arc;

use ovu_kit::batch::BatchMetrics;
use ovu_kit::jwt::JwtVerifier;
use ovu_kit::metrics::Metrics;
use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::crypto::Passwords;
use crate::mail::Mailer;
use crate::me_cache::MeCache;
use crate::reads::Reads;
use crate::signing::Signer;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: Config,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub signer: Signer,
    pub verifier: JwtVerifier,
    pub passwords: Passwords,
    pub metrics: Metrics,
    pub me_cache: MeCache,
    /// What each role grants, as of the database's latest stamp (see `catalog`).
    pub catalog: Catalog,
    pub mailer: Arc<Mailer>,
    /// The hot point reads, coalesced across the requests waiting at once (see `reads`).
    pub reads: Reads,
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
        signer: Signer,
    ) -> anyhow::Result<Self> {
        let verifier = JwtVerifier::new(&cfg.issuer, &cfg.audience);
        verifier.set_jwks(signer.jwks())?;
        let passwords =
            Passwords::new(cfg.argon2).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let me_cache = MeCache::new(std::time::Duration::from_millis(cfg.me_cache_ms));
        let mailer = Mailer::new(cfg.smtp.as_ref())?;
        let metrics = Metrics::new("ulm");
        let reads = Reads::new(&db, cfg.read_lanes, &BatchMetrics::registered(&metrics));
        Ok(Self(Arc::new(Inner {
            me_cache,
            catalog: Catalog::new(),
            mailer,
            reads,
            cfg,
            db,
            redis,
            signer,
            verifier,
            passwords,
            metrics,
        })))
    }

    /// Redis key under this deployment's prefix.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut k = self.cfg.redis_prefix.clone();
        k.push_str(&parts.join(":"));
        k
    }
}
