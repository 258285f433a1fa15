//! PostgreSQL pool and Redis connection, both with timeouts so a dead dependency turns
//! into a quick 503 instead of hung requests.

use std::str::FromStr;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::Env;

#[derive(Debug, Clone)]
pub struct DbConfig {
    pub database_url: String,
    /// `DB_MAX_CONNECTIONS`, default 2 × cores.
    pub max_connections: u32,
    /// `DB_ACQUIRE_TIMEOUT_SECS`, default 5.
    pub acquire_timeout: Duration,
    pub redis_url: String,
    /// `REDIS_TIMEOUT_MS`, default 2000 (connect and response).
    pub redis_timeout: Duration,
}

impl DbConfig {
    pub fn from_env(env: &mut Env) -> Option<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2) as u64;
        let database_url: Option<String> = env.required("DATABASE_URL");
        let redis_url: Option<String> = env.required("REDIS_URL");
        let max_connections = env.ranged("DB_MAX_CONNECTIONS", 2 * cores, 1, 1000) as u32;
        let acquire_timeout = Duration::from_secs(env.ranged("DB_ACQUIRE_TIMEOUT_SECS", 5, 1, 300));
        let redis_timeout = Duration::from_millis(env.ranged("REDIS_TIMEOUT_MS", 2000, 50, 60_000));
        if let Some(url) = &database_url
            && PgConnectOptions::from_str(url).is_err()
        {
            env.problem("DATABASE_URL: not a valid postgres:// URL");
        }
        if let Some(url) = &redis_url
            && redis::Client::open(url.as_str()).is_err()
        {
            env.problem("REDIS_URL: not a valid redis:// URL");
        }
        Some(Self {
            database_url: database_url?,
            max_connections,
            acquire_timeout,
            redis_url: redis_url?,
            redis_timeout,
        })
    }
}

/// Opens the pool. `sslmode` in the URL is honoured (`disable` on loopback avoids TLS cost).
pub async fn connect_pg(cfg: &DbConfig) -> Result<PgPool, sqlx::Error> {
    let opts = PgConnectOptions::from_str(&cfg.database_url)?
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .min_connections(1)
        .acquire_timeout(cfg.acquire_timeout)
        .connect_with(opts)
        .await
}

/// Connects to Redis; the manager reconnects by itself after failures.
pub async fn connect_redis(cfg: &DbConfig) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(cfg.redis_url.as_str())?;
    let mcfg = ConnectionManagerConfig::new()
        .set_connection_timeout(cfg.redis_timeout)
        .set_response_timeout(cfg.redis_timeout)
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client, mcfg).await
}

/// Retries `connect` until it succeeds or `total` elapses: in a cluster the database
/// may come up after us.
pub async fn with_retry<T, E, F, Fut>(what: &str, total: Duration, mut connect: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let deadline = tokio::time::Instant::now() + total;
    loop {
        match connect().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "{what} not reachable yet, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
