//! PostgreSQL pool and Redis connection, both with timeouts so a dead dependency turns
//! into a quick 503 instead of hung requests.

use std::str::FromStr;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::Env;
pub use crate::secret::SecretUrl;

/// Where the two stores are. The URLs may carry passwords (read from `*_PASSWORD_FILE`), so
/// they are [`SecretUrl`]s, which print redacted: a logged config never leaks a credential.
#[derive(Clone, Debug)]
pub struct DbConfig {
    pub database_url: SecretUrl,
    /// `DB_MAX_CONNECTIONS`, default 2 × cores.
    pub max_connections: u32,
    /// `DB_ACQUIRE_TIMEOUT_SECS`, default 5.
    pub acquire_timeout: Duration,
    pub redis_url: SecretUrl,
    /// `REDIS_TIMEOUT_MS`, default 2000 (connect and response).
    pub redis_timeout: Duration,
}

/// Puts the password read from `file_var` (when that variable is set) into the URL from
/// `url_var`. Passwords travel as mounted files, never in the environment or on a command
/// line, where `ps`, `/proc/<pid>/environ` and crash reports would show them.
fn with_password_file(
    env: &mut Env,
    url_var: &str,
    file_var: &str,
    url: Option<String>,
) -> Option<String> {
    let file: Option<std::path::PathBuf> = env.optional(file_var);
    let url = url?;
    let Some(file) = file else {
        return Some(url);
    };
    let password = match std::fs::read_to_string(&file) {
        Ok(p) => p.trim_end_matches(['\n', '\r']).to_string(),
        Err(e) => {
            env.problem(format!("{file_var}: cannot read {} ({e})", file.display()));
            return None;
        }
    };
    if password.is_empty() {
        env.problem(format!("{file_var}: {} is empty", file.display()));
        return None;
    }
    let mut parsed = match url::Url::parse(&url) {
        Ok(u) => u,
        Err(_) => {
            env.problem(format!("{url_var}: not a valid URL"));
            return None;
        }
    };
    if parsed.password().is_some() {
        env.problem(format!(
            "{url_var}: carries a password and {file_var} is set too; give one"
        ));
        return None;
    }
    if parsed.username().is_empty() || parsed.set_password(Some(&password)).is_err() {
        env.problem(format!(
            "{url_var}: needs a user name to go with {file_var}"
        ));
        return None;
    }
    Some(parsed.to_string())
}

impl DbConfig {
    pub fn from_env(env: &mut Env) -> Option<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2) as u64;
        let database_url: Option<String> = env.required("DATABASE_URL");
        let database_url =
            with_password_file(env, "DATABASE_URL", "DATABASE_PASSWORD_FILE", database_url);
        let redis_url: Option<String> = env.required("REDIS_URL");
        let redis_url = with_password_file(env, "REDIS_URL", "REDIS_PASSWORD_FILE", redis_url);
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
            database_url: SecretUrl::new(database_url?),
            max_connections,
            acquire_timeout,
            redis_url: SecretUrl::new(redis_url?),
            redis_timeout,
        })
    }
}

/// Opens the pool. `sslmode` in the URL is honoured (`disable` on loopback avoids TLS cost).
pub async fn connect_pg(cfg: &DbConfig) -> Result<PgPool, sqlx::Error> {
    let opts = PgConnectOptions::from_str(cfg.database_url.expose())?
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    pool_options(cfg.max_connections, cfg.acquire_timeout)
        .min_connections(1)
        .connect_with(opts)
        .await
}

/// The services' pool policy: size, acquire timeout, and when a checked-out connection is
/// pinged.
fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        // sqlx pings a connection (one round trip) when it hands it out and again when it
        // takes it back. For a one-statement request that triples the round trips, and the
        // services' hot reads are exactly that. The ping on return stays (sqlx always does
        // it; it drops a connection that a failed or cancelled query left broken); the one
        // on checkout is kept only for a connection that sat idle long enough for the server
        // to have gone away meanwhile. A busy connection that died since its last use fails
        // its next statement with an I/O error — a 503, never a 500 — and the ping on return
        // then drops it, so a restarted server costs at most one failed request per pooled
        // connection that was in use at that moment.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// How long a pooled connection may sit unused before it is pinged when checked out.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connects to Redis; the manager reconnects by itself after failures.
///
/// One connection attempt per reconnect, no backoff: every command waits for the shared
/// reconnect future, so retries inside it would hold each request hostage while Redis is
/// down. (redis 0.32 hands its `factor` (100) to backon as the multiplier over a 1 s
/// minimum: two retries meant 1 s then 60 s plus jitter, and requests waited ~2 minutes
/// before their 503.) With none, a request fails within `REDIS_TIMEOUT_MS`, the error
/// starts the next attempt, and the first request after Redis is back gets through.
pub async fn connect_redis(cfg: &DbConfig) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(cfg.redis_url.expose())?;
    let mcfg = ConnectionManagerConfig::new()
        .set_connection_timeout(cfg.redis_timeout)
        .set_response_timeout(cfg.redis_timeout)
        .set_number_of_retries(0);
    ConnectionManager::new_with_config(client, mcfg).await
}

/// How long `migrate` (the services' init container) waits for PostgreSQL. An init container
/// has no probe to satisfy, and each exit costs a kubelet back-off (10 s, 20 s, 40 s, …) on
/// top: after a whole cluster restarted (`make down`, `make up`), PostgreSQL and cluster DNS
/// took more than the servers' 30–60 s, and the back-offs kept the sites down ~40 s longer.
pub const MIGRATE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<DbConfig, String> {
        let mut env = Env::from_map(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let cfg = DbConfig::from_env(&mut env);
        env.finish().map_err(|e| e.to_string())?;
        Ok(cfg.expect("config"))
    }

    #[test]
    fn passwords_come_from_files_and_never_print() {
        let dir = std::env::temp_dir().join(format!("ovu-kit-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pg, rd) = (dir.join("pg"), dir.join("redis"));
        // A generated password may hold any character; the trailing newline of a file is not part of it.
        std::fs::write(&pg, "p@ss/w:rd\n").unwrap();
        std::fs::write(&rd, "r3dis").unwrap();
        let cfg = load(&[
            (
                "DATABASE_URL",
                "postgres://ulm_user@db:5432/ulm_db?sslmode=disable",
            ),
            ("DATABASE_PASSWORD_FILE", pg.to_str().unwrap()),
            ("REDIS_URL", "redis://ulm@redis:6379/0"),
            ("REDIS_PASSWORD_FILE", rd.to_str().unwrap()),
        ])
        .unwrap();
        let opts = PgConnectOptions::from_str(cfg.database_url.expose()).unwrap();
        assert_eq!(opts.get_username(), "ulm_user");
        let info = redis::Client::open(cfg.redis_url.expose()).unwrap();
        assert_eq!(
            info.get_connection_info().redis.username.as_deref(),
            Some("ulm")
        );
        assert_eq!(
            info.get_connection_info().redis.password.as_deref(),
            Some("r3dis")
        );
        assert!(
            cfg.database_url.expose().contains("p%40ss%2Fw%3Ard"),
            "{}",
            cfg.database_url
        );
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("p%40ss") && !shown.contains("r3dis"),
            "{shown}"
        );
        assert!(shown.contains("ulm_user:***@db"), "{shown}");

        // Without the file variables the URLs are used as given.
        let cfg = load(&[
            ("DATABASE_URL", "postgres://u@h/db"),
            ("REDIS_URL", "redis://h/0"),
        ])
        .unwrap();
        assert_eq!(cfg.redis_url.expose(), "redis://h/0");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_password_file_names_the_variable() {
        let err = load(&[
            ("DATABASE_URL", "postgres://u@h/db"),
            ("DATABASE_PASSWORD_FILE", "/nonexistent/ovu-pw"),
            ("REDIS_URL", "redis://h/0"),
        ])
        .unwrap_err();
        assert!(
            err.contains("DATABASE_PASSWORD_FILE: cannot read /nonexistent/ovu-pw"),
            "{err}"
        );
        let file = std::env::temp_dir().join(format!("ovu-kit-db-pw-{}", std::process::id()));
        std::fs::write(&file, "x").unwrap();
        let err = load(&[
            ("DATABASE_URL", "postgres://u@h/db"),
            ("REDIS_URL", "redis://:inline@h/0"),
            ("REDIS_PASSWORD_FILE", file.to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(
            err.contains("REDIS_URL: carries a password and REDIS_PASSWORD_FILE is set too"),
            "{err}"
        );
        std::fs::remove_file(&file).unwrap();
    }
}

/// The pool against a real PostgreSQL (scripts/services.sh): what happens to a pooled
/// connection the server ends, now that checkouts ping only idle connections.
#[cfg(test)]
mod pool_tests {
    use super::*;
    use crate::error::ApiError;

    async fn pool() -> (PgPool, PgPool) {
        let url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL: start PostgreSQL with scripts/services.sh and source .run/env");
        let cfg = DbConfig {
            database_url: SecretUrl::new(url),
            // One connection, so every checkout gets the same one until it is replaced.
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            redis_url: SecretUrl::new("redis://127.0.0.1:1/0"),
            redis_timeout: Duration::from_secs(1),
        };
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(cfg.database_url.expose())
            .await
            .unwrap();
        (connect_pg(&cfg).await.unwrap(), admin)
    }

    async fn backend(pool: &PgPool) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(pool)
            .await
    }

    /// Waits until the connection is idle in the pool again: sqlx hands it back from a
    /// spawned task after its own ping, and a ping that ran after `terminate` would replace
    /// the connection before the statement under test.
    async fn settled(pool: &PgPool) {
        for _ in 0..500 {
            if pool.num_idle() == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the connection never came back to the pool");
    }

    async fn terminate(admin: &PgPool, pid: i32) {
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
            .bind(pid)
            .fetch_one(admin)
            .await
            .unwrap();
        assert!(ended);
    }

    /// A connection that sat idle is pinged when checked out: the server having ended it
    /// (a restart between two quiet moments) costs the caller nothing.
    #[tokio::test]
    async fn an_idle_connection_the_server_ended_is_replaced_unseen() {
        let (pool, admin) = pool().await;
        let first = backend(&pool).await.unwrap();
        settled(&pool).await;
        terminate(&admin, first).await;
        tokio::time::sleep(PING_IF_IDLE_FOR + Duration::from_millis(200)).await;
        let second = backend(&pool)
            .await
            .expect("the dead connection was replaced");
        assert_ne!(first, second);
    }

    /// The price of not pinging a busy connection: one statement on a connection the server
    /// ended a moment ago fails, as a 503 the client may retry (never a 500), and the next
    /// one runs on a fresh connection.
    #[tokio::test]
    async fn a_busy_connection_the_server_ended_fails_one_statement_as_503() {
        let (pool, admin) = pool().await;
        let first = backend(&pool).await.unwrap();
        settled(&pool).await;
        terminate(&admin, first).await;
        let e = backend(&pool)
            .await
            .expect_err("used within the second: not pinged");
        let api = ApiError::from(e);
        assert_eq!(
            api.status,
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "{api}"
        );
        let second = backend(&pool)
            .await
            .expect("the broken connection was dropped");
        assert_ne!(first, second);
    }
}
