//! AAM configuration, read once from the environment (docs/contracts.md lists the names).

use std::net::SocketAddr;
use std::time::Duration;

use ovu_kit::config::{ConfigError, Env, HttpConfig};
use ovu_kit::db::DbConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// `AAM_LISTEN_ADDR`, default `0.0.0.0:8002`.
    pub listen: SocketAddr,
    pub db: DbConfig,
    pub http: HttpConfig,
    /// `ULM_URL`, e.g. `http://ulm:8001` (no trailing slash kept).
    pub ulm_url: String,
    /// `AAM_JWKS_URL`: where ULM's public keys are published; defaults to
    /// `<ULM_URL>/api/v1/.well-known/jwks.json`.
    pub jwks_url: String,
    /// `AAM_ULM_TIMEOUT_MS` (default 3000): the bound on every call to ULM, so a slow ULM
    /// turns into a prompt 503 instead of hung admin requests.
    pub ulm_timeout: Duration,
    /// `AAM_JWT_ISSUER` (default `ovu-ulm`) and `AAM_JWT_AUDIENCE` (default `ovu`): must equal
    /// ULM's `ULM_ISSUER` / `ULM_AUDIENCE`.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// `AAM_JWKS_TTL_SECS` (default 300): how long a fetched key set is trusted before it is
    /// fetched again, so a key ULM retired stops working within this time.
    pub jwks_ttl: Duration,
    /// `AAM_JWKS_MIN_REFETCH_MS` (default 5000): an unknown `kid` refetches the key set at
    /// most this often, so forged kids cannot turn AAM into a request amplifier against ULM.
    pub jwks_min_refetch: Duration,
    /// `AAM_DASHBOARD_CACHE_MS` (default 5000): ULM's statistics are shared by every admin,
    /// so they are fetched at most this often.
    pub dashboard_cache: Duration,
    /// `AAM_HEALTH_INTERVAL_SECS` (default 30): the background health poller's period.
    pub health_interval: Duration,
    /// `AAM_HEALTH_RETENTION_HOURS` (default 24): health samples kept.
    pub health_retention_hours: u64,
    /// `OVU_SYSTEM_NAME` / `OVU_SYSTEM_NAMESPACE`: the OvuSystem whose status is shown when
    /// AAM runs in a cluster. Namespace defaults to the pod's own.
    pub system_name: Option<String>,
    pub system_namespace: Option<String>,
    /// `AAM_ADMIN_MFA=required|optional` (default required, like ULM's `ULM_ADMIN_MFA`): when
    /// required, only tokens from sessions that passed a second factor reach AAM.
    pub admin_mfa_required: bool,
    /// `AAM_SESSION_CHECK_SECS` (default 5, 0–60): how old ULM's answer about a session may be
    /// before AAM asks again — the longest a revoked session or removed role keeps working here.
    pub session_check: Duration,
    /// `AAM_MIGRATE_ON_START` (default true): `serve` applies migrations first.
    pub migrate_on_start: bool,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(Env::from_process())
    }

    pub fn from(mut env: Env) -> Result<Self, ConfigError> {
        let listen = env.or("AAM_LISTEN_ADDR", SocketAddr::from(([0, 0, 0, 0], 8002)));
        let db = DbConfig::from_env(&mut env);
        let http = HttpConfig::from_env(&mut env);
        let ulm_url: Option<String> = env.required("ULM_URL");
        let ulm_url = ulm_url.map(|u| u.trim().trim_end_matches('/').to_string());
        if let Some(u) = &ulm_url
            && reqwest::Url::parse(u)
                .ok()
                .filter(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
                .is_none()
        {
            env.problem(format!("ULM_URL: {u:?} is not an http(s) URL"));
        }
        let jwks_url = env.optional::<String>("AAM_JWKS_URL").unwrap_or_else(|| {
            format!(
                "{}/api/v1/.well-known/jwks.json",
                ulm_url.as_deref().unwrap_or("")
            )
        });
        let cfg = Self {
            listen,
            jwks_url,
            http,
            ulm_timeout: Duration::from_millis(env.ranged("AAM_ULM_TIMEOUT_MS", 3000, 50, 60_000)),
            jwt_issuer: env.or("AAM_JWT_ISSUER", "ovu-ulm".to_string()),
            jwt_audience: env.or("AAM_JWT_AUDIENCE", "ovu".to_string()),
            jwks_ttl: Duration::from_secs(env.ranged("AAM_JWKS_TTL_SECS", 300, 1, 86_400)),
            jwks_min_refetch: Duration::from_millis(env.ranged(
                "AAM_JWKS_MIN_REFETCH_MS",
                5000,
                0,
                3_600_000,
            )),
            dashboard_cache: Duration::from_millis(env.ranged(
                "AAM_DASHBOARD_CACHE_MS",
                5000,
                0,
                3_600_000,
            )),
            health_interval: Duration::from_secs(env.ranged(
                "AAM_HEALTH_INTERVAL_SECS",
                30,
                1,
                3600,
            )),
            health_retention_hours: env.ranged("AAM_HEALTH_RETENTION_HOURS", 24, 1, 24 * 90),
            system_name: env.optional("OVU_SYSTEM_NAME"),
            system_namespace: env.optional("OVU_SYSTEM_NAMESPACE"),
            admin_mfa_required: env.choice("AAM_ADMIN_MFA", "required", &["required", "optional"])
                == "required",
            session_check: Duration::from_secs(env.ranged("AAM_SESSION_CHECK_SECS", 5, 0, 60)),
            migrate_on_start: env.flag("AAM_MIGRATE_ON_START", true),
            ulm_url: ulm_url.unwrap_or_default(),
            db: match db {
                Some(db) => db,
                None => {
                    // DbConfig already recorded which variable is missing.
                    return Err(env
                        .finish()
                        .expect_err("missing database settings were recorded"));
                }
            },
        };
        env.finish()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: (&str, &str) = (
        "DATABASE_URL",
        "postgres://u@127.0.0.1/aam_db?sslmode=disable",
    );
    const REDIS: (&str, &str) = ("REDIS_URL", "redis://127.0.0.1/1");

    #[test]
    fn defaults_follow_the_contract() {
        let cfg =
            Config::from(Env::from_map([DB, REDIS, ("ULM_URL", "http://ulm:8001/")])).unwrap();
        assert_eq!(cfg.listen.port(), 8002);
        assert_eq!(cfg.ulm_url, "http://ulm:8001");
        assert_eq!(cfg.jwks_url, "http://ulm:8001/api/v1/.well-known/jwks.json");
        assert_eq!(
            (cfg.jwt_issuer.as_str(), cfg.jwt_audience.as_str()),
            ("ovu-ulm", "ovu")
        );
        assert_eq!(cfg.ulm_timeout, Duration::from_secs(3));
        assert!(cfg.system_name.is_none());
        // Secure by default: a deployment that forgets AAM_ADMIN_MFA still demands MFA.
        assert!(cfg.admin_mfa_required);
    }

    #[test]
    fn bad_and_missing_variables_are_named() {
        let err = Config::from(Env::from_map([DB, REDIS]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ULM_URL is required"), "{err}");
        let err = Config::from(Env::from_map([
            DB,
            REDIS,
            ("ULM_URL", "ftp://ulm"),
            ("AAM_ULM_TIMEOUT_MS", "0"),
            ("AAM_LISTEN_ADDR", "nowhere"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ULM_URL")
                && err.contains("AAM_ULM_TIMEOUT_MS")
                && err.contains("AAM_LISTEN_ADDR"),
            "{err}"
        );
    }
}
