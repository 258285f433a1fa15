//! ULM configuration, read once from the environment (docs/contracts.md lists the names).

use std::net::SocketAddr;
use std::path::PathBuf;

use ovu_kit::config::{ConfigError, Env, HttpConfig};
use ovu_kit::db::DbConfig;

/// argon2id cost. Production defaults are OWASP's floor (m=19456 KiB, t=2, p=1); tests
/// lower them through the environment so thousands of hashes stay fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for Argon2Cost {
    fn default() -> Self {
        Self {
            m_kib: 19456,
            t: 2,
            p: 1,
        }
    }
}

/// Anti-automation limits (ASVS 6.1.1): attempts per window, per IP and per account.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// `ULM_RATE_LOGIN_PER_MIN` (default 5): login attempts per minute per IP and per account.
    pub login_per_min: u64,
    /// `ULM_RATE_REGISTER_PER_HOUR` (default 3) per IP.
    pub register_per_hour: u64,
    /// `ULM_RATE_RESET_PER_HOUR` (default 3) per IP and per e-mail.
    pub reset_per_hour: u64,
    /// `ULM_LOCKOUT_THRESHOLD` (default 10): failed logins that lock an account...
    pub lockout_threshold: u64,
    /// `ULM_LOCKOUT_MINUTES` (default 15): ...for this long.
    pub lockout_minutes: u64,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `ULM_LISTEN_ADDR`, default `0.0.0.0:8001`.
    pub listen: SocketAddr,
    pub db: DbConfig,
    pub http: HttpConfig,
    /// `REDIS_KEY_PREFIX`, default `ulm:`; tests give each test its own.
    pub redis_prefix: String,
    /// `ULM_SIGNING_KEY_FILE`: Ed25519 PKCS#8 PEM. Unset means an ephemeral key (development).
    pub signing_key_file: Option<PathBuf>,
    /// `ULM_ISSUER` (default `ovu-ulm`) and `ULM_AUDIENCE` (default `ovu`).
    pub issuer: String,
    pub audience: String,
    /// `ULM_PUBLIC_URL`: base of links in e-mails.
    pub public_url: String,
    /// `ULM_EMAIL_VERIFICATION=required|optional` (default required).
    pub email_verification_required: bool,
    /// `ULM_ADMIN_MFA=required|optional` (default required: secure by default; the operator
    /// always sets it from `spec.security.adminMfa`). Required: an account holding any
    /// permission beyond self-service may only enrol in MFA until its session passed one.
    pub admin_mfa_required: bool,
    /// `ULM_BOOTSTRAP_ADMIN_EMAIL` + `ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE`.
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password_file: Option<PathBuf>,
    /// `ULM_ARGON2_M_KIB`, `ULM_ARGON2_T`, `ULM_ARGON2_P`.
    pub argon2: Argon2Cost,
    pub rate: RateLimits,
    /// `ULM_MIGRATE_ON_START` (default true): `serve` applies migrations under the lock.
    pub migrate_on_start: bool,
    /// `ULM_JOB_INTERVAL_SECS` (default 60): how often scheduled deactivations are applied.
    pub job_interval_secs: u64,
    /// `ULM_SESSION_MAX_DAYS` (default 30): absolute session lifetime, whatever the rotation.
    pub session_max_days: u64,
    /// `ULM_SESSION_RETENTION_DAYS` (default 30, 1–365) and `ULM_AUDIT_RETENTION_DAYS` (default
    /// 365, 1–3650): how long ended sessions and audit events are kept (see `retention`).
    pub retention: crate::retention::Retention,
    /// `ULM_ME_CACHE_MS` (default 1000, 0 = off): how long this replica may reuse a
    /// `GET /users/me` answer for a session (see `me_cache`).
    pub me_cache_ms: u64,
    /// `ULM_ACCESS_TTL_SECS` (unset by default; 10–86400): when set, access tokens live this
    /// many seconds instead of the token policy's minutes. The policy's floor is 5 minutes,
    /// which is right for operators but makes a test of silent token refresh wait that long;
    /// the browser tests set it, deployments do not.
    pub access_ttl_secs: Option<u64>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(Env::from_process())
    }

    pub fn from(mut env: Env) -> Result<Self, ConfigError> {
        let listen = env.or("ULM_LISTEN_ADDR", SocketAddr::from(([0, 0, 0, 0], 8001)));
        let db = DbConfig::from_env(&mut env);
        let http = HttpConfig::from_env(&mut env);
        let email_verification_required = env.choice(
            "ULM_EMAIL_VERIFICATION",
            "required",
            &["required", "optional"],
        ) == "required";
        let admin_mfa_required =
            env.choice("ULM_ADMIN_MFA", "required", &["required", "optional"]) == "required";
        let bootstrap_admin_email: Option<String> = env.optional("ULM_BOOTSTRAP_ADMIN_EMAIL");
        let bootstrap_admin_password_file: Option<PathBuf> =
            env.optional("ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE");
        if bootstrap_admin_email.is_some() != bootstrap_admin_password_file.is_some() {
            env.problem("ULM_BOOTSTRAP_ADMIN_EMAIL and ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE must be set together");
        }
        let signing_key_file: Option<PathBuf> = env.optional("ULM_SIGNING_KEY_FILE");
        if let Some(p) = &signing_key_file
            && !p.is_file()
        {
            env.problem(format!(
                "ULM_SIGNING_KEY_FILE: {} is not a readable file",
                p.display()
            ));
        }
        let argon2 = Argon2Cost {
            m_kib: env.ranged("ULM_ARGON2_M_KIB", 19456, 8, 4 * 1024 * 1024) as u32,
            t: env.ranged("ULM_ARGON2_T", 2, 1, 64) as u32,
            p: env.ranged("ULM_ARGON2_P", 1, 1, 16) as u32,
        };
        let rate = RateLimits {
            login_per_min: env.ranged("ULM_RATE_LOGIN_PER_MIN", 5, 1, 1_000_000),
            register_per_hour: env.ranged("ULM_RATE_REGISTER_PER_HOUR", 3, 1, 1_000_000),
            reset_per_hour: env.ranged("ULM_RATE_RESET_PER_HOUR", 3, 1, 1_000_000),
            lockout_threshold: env.ranged("ULM_LOCKOUT_THRESHOLD", 10, 1, 1_000_000),
            lockout_minutes: env.ranged("ULM_LOCKOUT_MINUTES", 15, 1, 24 * 60),
        };
        let cfg = Self {
            listen,
            http,
            redis_prefix: env.or("REDIS_KEY_PREFIX", "ulm:".to_string()),
            signing_key_file,
            issuer: env.or("ULM_ISSUER", "ovu-ulm".to_string()),
            audience: env.or("ULM_AUDIENCE", "ovu".to_string()),
            public_url: env
                .or("ULM_PUBLIC_URL", "http://localhost:8001".to_string())
                .trim_end_matches('/')
                .to_string(),
            email_verification_required,
            admin_mfa_required,
            bootstrap_admin_email,
            bootstrap_admin_password_file,
            argon2,
            rate,
            migrate_on_start: env.flag("ULM_MIGRATE_ON_START", true),
            job_interval_secs: env.ranged("ULM_JOB_INTERVAL_SECS", 60, 1, 86_400),
            session_max_days: env.ranged("ULM_SESSION_MAX_DAYS", 30, 1, 365),
            retention: crate::retention::Retention {
                session_days: env.ranged("ULM_SESSION_RETENTION_DAYS", 30, 1, 365),
                audit_days: env.ranged("ULM_AUDIT_RETENTION_DAYS", 365, 1, 3650),
            },
            me_cache_ms: env.ranged("ULM_ME_CACHE_MS", 1000, 0, 10_000),
            access_ttl_secs: match env.optional::<u64>("ULM_ACCESS_TTL_SECS") {
                Some(s) if !(10..=86_400).contains(&s) => {
                    env.problem("ULM_ACCESS_TTL_SECS must be 10–86400 seconds");
                    None
                }
                other => other,
            },
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

    #[test]
    fn production_argon2_defaults_are_owasp() {
        assert_eq!(
            Argon2Cost::default(),
            Argon2Cost {
                m_kib: 19456,
                t: 2,
                p: 1
            }
        );
        let cfg = Config::from(Env::from_map([
            ("DATABASE_URL", "postgres://u@127.0.0.1/db?sslmode=disable"),
            ("REDIS_URL", "redis://127.0.0.1/0"),
        ]))
        .unwrap();
        assert_eq!(cfg.argon2, Argon2Cost::default());
        assert!(cfg.email_verification_required);
        // Secure by default: a deployment that forgets ULM_ADMIN_MFA still demands MFA.
        assert!(cfg.admin_mfa_required);
        assert_eq!(cfg.rate.login_per_min, 5);
        assert_eq!(cfg.rate.register_per_hour, 3);
        assert_eq!(cfg.listen.port(), 8001);
        assert_eq!(
            cfg.access_ttl_secs, None,
            "the token policy decides by default"
        );
    }

    #[test]
    fn access_ttl_override_is_bounded() {
        let base = [
            ("DATABASE_URL", "postgres://u@127.0.0.1/db?sslmode=disable"),
            ("REDIS_URL", "redis://127.0.0.1/0"),
        ];
        let with = |v: &'static str| {
            Config::from(Env::from_map(
                base.into_iter().chain([("ULM_ACCESS_TTL_SECS", v)]),
            ))
        };
        assert_eq!(with("40").unwrap().access_ttl_secs, Some(40));
        for bad in ["9", "86401", "soon"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("ULM_ACCESS_TTL_SECS"), "{bad}: {err}");
        }
    }

    #[test]
    fn missing_and_bad_variables_are_named() {
        let err = Config::from(Env::from_map([("ULM_EMAIL_VERIFICATION", "sometimes")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DATABASE_URL is required"), "{err}");
        let err = Config::from(Env::from_map([
            ("DATABASE_URL", "postgres://u@127.0.0.1/db"),
            ("REDIS_URL", "redis://127.0.0.1/0"),
            ("ULM_EMAIL_VERIFICATION", "sometimes"),
            ("ULM_LISTEN_ADDR", "nowhere"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ULM_EMAIL_VERIFICATION") && err.contains("ULM_LISTEN_ADDR"),
            "{err}"
        );
    }
}
