//! ULM configuration, read once from the environment (docs/contracts.md lists the names).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

/// A value that must never reach a log: `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the SMTP connection is protected (`SMTP_TLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same node or in the cluster, or Mailpit in tests).
    None,
    /// STARTTLS, required: the connection fails rather than fall back to plain text.
    StartTls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
}

/// How an `SMTP_URL` asks for TLS, in lettre's terms: kept beside the URL so the transport
/// can be built with the same mode but with `SMTP_CA_FILE`'s roots added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlTls {
    /// `smtp://` without `tls=`.
    None,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or no mail.
    Required,
    /// `smtps://`: implicit TLS.
    Wrapper,
}

/// Where mail goes. Either an `SMTP_URL` (lettre's URL semantics) or the separate variables.
#[derive(Debug, Clone)]
pub enum SmtpEndpoint {
    /// `SMTP_URL`: `smtp://host:port` (plain; `?tls=required` for STARTTLS) or
    /// `smtps://host:port` (implicit TLS), optionally `user:password@`. Kept whole as a
    /// secret because it may carry the password; `host` is `host[:port]` for logs, `domain`
    /// the name the server's certificate must carry.
    Url {
        url: Secret,
        host: String,
        domain: String,
        tls: UrlTls,
    },
    /// `SMTP_HOST`, `SMTP_PORT`, `SMTP_TLS`, `SMTP_USERNAME` + `SMTP_PASSWORD_FILE`.
    Host {
        host: String,
        port: u16,
        tls: SmtpTls,
        credentials: Option<(String, Secret)>,
    },
}

/// `SMTP_CA_FILE`: PEM certificates trusted as roots for the SMTP server's certificate, in
/// addition to the webpki (Mozilla) roots, for a relay whose certificate a private CA signed.
/// Read and checked at start, like the password file.
#[derive(Clone)]
pub struct SmtpCa {
    pub path: PathBuf,
    pub pem: Vec<u8>,
}

impl fmt::Debug for SmtpCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpCa({})", self.path.display())
    }
}

impl SmtpCa {
    /// TLS parameters for a server named `domain` that trust these roots besides the default
    /// ones. Fails when the file holds no certificate or one rustls cannot use as a root.
    pub fn tls_parameters(
        &self,
        domain: &str,
    ) -> Result<lettre::transport::smtp::client::TlsParameters, String> {
        use lettre::transport::smtp::client::{Certificate, TlsParameters};
        // lettre reads an empty or non-PEM file as no certificates at all, silently.
        if !String::from_utf8_lossy(&self.pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err("no PEM certificate in the file".into());
        }
        let roots = Certificate::from_pem(&self.pem).map_err(|e| e.to_string())?;
        TlsParameters::builder(domain.to_string())
            .add_root_certificate(roots)
            .build()
            .map_err(|e| e.to_string())
    }
}

/// Outgoing mail (`mail`). Absent: mail stays queued in the outbox until SMTP is configured.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub endpoint: SmtpEndpoint,
    /// `SMTP_FROM`: the sender, `addr@example.com` or `Name <addr@example.com>`.
    pub from: String,
    /// `SMTP_TIMEOUT_SECS` (default 10, 1–300): one SMTP conversation, connect to QUIT.
    pub timeout: Duration,
    /// `SMTP_CA_FILE` (see [`SmtpCa`]); only with a TLS mode.
    pub ca: Option<SmtpCa>,
}

impl SmtpConfig {
    /// `host:port` for logs: never the URL, which may hold a password.
    pub fn server(&self) -> String {
        match &self.endpoint {
            SmtpEndpoint::Url { host, .. } => host.clone(),
            SmtpEndpoint::Host { host, port, .. } => format!("{host}:{port}"),
        }
    }

    fn from_env(env: &mut Env) -> Option<Self> {
        let url = env.raw("SMTP_URL");
        let host = env.raw("SMTP_HOST");
        let timeout = Duration::from_secs(env.ranged("SMTP_TIMEOUT_SECS", 10, 1, 300));
        let from = env.raw("SMTP_FROM");
        let endpoint = match (url, host) {
            (None, None) => {
                for v in [
                    "SMTP_FROM",
                    "SMTP_PORT",
                    "SMTP_TLS",
                    "SMTP_USERNAME",
                    "SMTP_PASSWORD_FILE",
                    "SMTP_CA_FILE",
                ] {
                    if env.raw(v).is_some() {
                        env.problem(format!("{v} is set but neither SMTP_URL nor SMTP_HOST is"));
                    }
                }
                return None;
            }
            (Some(_), Some(_)) => {
                env.problem("SMTP_URL and SMTP_HOST are exclusive: set one of them");
                return None;
            }
            (Some(url), None) => Self::url_endpoint(env, url.trim())?,
            (None, Some(host)) => Self::host_endpoint(env, host.trim().to_string())?,
        };
        let Some(from) = from else {
            env.problem("SMTP_FROM is required when SMTP_URL or SMTP_HOST is set");
            return None;
        };
        let from = from.trim().to_string();
        if let Err(e) = from.parse::<lettre::message::Mailbox>() {
            env.problem(format!("SMTP_FROM: not a mail address ({e})"));
            return None;
        }
        let ca = match env.optional::<PathBuf>("SMTP_CA_FILE") {
            None => None,
            Some(path) => {
                let uses_tls = match &endpoint {
                    SmtpEndpoint::Url { tls, .. } => *tls != UrlTls::None,
                    SmtpEndpoint::Host { tls, .. } => *tls != SmtpTls::None,
                };
                if !uses_tls {
                    env.problem(
                        "SMTP_CA_FILE is set but the SMTP connection uses no TLS (SMTP_TLS=none or smtp:// without tls=)",
                    );
                    return None;
                }
                Some(Self::ca(env, path)?)
            }
        };
        Some(Self {
            endpoint,
            from,
            timeout,
            ca,
        })
    }

    /// Reads `SMTP_CA_FILE` and checks that it holds at least one certificate rustls accepts
    /// as a root, so a wrong file stops start-up instead of failing every delivery later.
    fn ca(env: &mut Env, path: PathBuf) -> Option<SmtpCa> {
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) => {
                env.problem(format!(
                    "SMTP_CA_FILE: cannot read {} ({e})",
                    path.display()
                ));
                return None;
            }
        };
        let ca = SmtpCa { path, pem };
        if let Err(e) = ca.tls_parameters("localhost") {
            env.problem(format!("SMTP_CA_FILE: {} ({e})", ca.path.display()));
            return None;
        }
        Some(ca)
    }

    fn url_endpoint(env: &mut Env, raw: &str) -> Option<SmtpEndpoint> {
        // Messages name the variable and the fault, never the value: it may hold a password.
        let parsed = match url::Url::parse(raw) {
            Ok(u) => u,
            Err(e) => {
                env.problem(format!("SMTP_URL: not a URL ({e})"));
                return None;
            }
        };
        if !matches!(parsed.scheme(), "smtp" | "smtps") {
            env.problem("SMTP_URL: the scheme must be smtp:// or smtps://");
            return None;
        }
        let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
            env.problem("SMTP_URL: no host");
            return None;
        };
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        if parsed.scheme() == "smtp"
            && !matches!(tls.as_deref(), None | Some("required" | "opportunistic"))
        {
            env.problem("SMTP_URL: tls= must be required or opportunistic");
            return None;
        }
        if let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(raw) {
            env.problem(format!("SMTP_URL: {e}"));
            return None;
        }
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let tls = match (parsed.scheme(), tls.as_deref()) {
            ("smtps", _) => UrlTls::Wrapper,
            (_, Some("required")) => UrlTls::Required,
            (_, Some("opportunistic")) => UrlTls::Opportunistic,
            _ => UrlTls::None,
        };
        Some(SmtpEndpoint::Url {
            url: Secret::new(raw),
            host: format!("{host}{port}"),
            domain: host.to_string(),
            tls,
        })
    }

    fn host_endpoint(env: &mut Env, host: String) -> Option<SmtpEndpoint> {
        let tls = match env.choice("SMTP_TLS", "starttls", &["none", "starttls", "tls"]) {
            "none" => SmtpTls::None,
            "tls" => SmtpTls::Tls,
            _ => SmtpTls::StartTls,
        };
        let default_port = match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        };
        let port = env.ranged("SMTP_PORT", default_port, 1, 65535) as u16;
        let username = env.raw("SMTP_USERNAME");
        let password_file: Option<PathBuf> = env.optional("SMTP_PASSWORD_FILE");
        let credentials = match (username, password_file) {
            (None, None) => None,
            (Some(user), Some(path)) => match std::fs::read_to_string(&path) {
                // A Secret mounted as a file usually ends with a newline nobody typed.
                Ok(pw) => Some((
                    user.trim().to_string(),
                    Secret::new(pw.trim_end_matches(['\r', '\n'])),
                )),
                Err(e) => {
                    env.problem(format!(
                        "SMTP_PASSWORD_FILE: cannot read {} ({e})",
                        path.display()
                    ));
                    return None;
                }
            },
            _ => {
                env.problem("SMTP_USERNAME and SMTP_PASSWORD_FILE must be set together");
                return None;
            }
        };
        Some(SmtpEndpoint::Host {
            host,
            port,
            tls,
            credentials,
        })
    }
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
    /// 365, 1–3650), `ULM_MAIL_RETENTION_DAYS` (default 30, 1–365): how long ended sessions,
    /// audit events and sent mail's outbox rows are kept (see `retention`).
    pub retention: crate::retention::Retention,
    /// `ULM_ME_CACHE_MS` (default 1000, 0 = off): how long this replica may reuse a
    /// `GET /users/me` answer for a session (see `me_cache`).
    pub me_cache_ms: u64,
    /// `ULM_READ_LANES` (default half of `DB_MAX_CONNECTIONS`, 1 to 4; 1–64): how many
    /// coalesced statements of each hot read may run at once, and the size of their own pool
    /// (see `reads`), so ULM opens up to `DB_MAX_CONNECTIONS` + this many connections. A few
    /// are enough: each statement carries every key waiting, so more lanes only make
    /// smaller batches.
    pub read_lanes: usize,
    /// `ULM_ACCESS_TTL_SECS` (unset by default; 10–86400): when set, access tokens live this
    /// many seconds instead of the token policy's minutes. The policy's floor is 5 minutes,
    /// which is right for operators but makes a test of silent token refresh wait that long;
    /// the browser tests set it, deployments do not.
    pub access_ttl_secs: Option<u64>,
    /// SMTP (`SMTP_*`, see [`SmtpConfig`]); `None` keeps mail queued.
    pub smtp: Option<SmtpConfig>,
    /// `ULM_MAIL_POLL_MS` (default 1000, 100–60000): how often the mail worker looks for due
    /// rows besides being woken by this replica's own writes (other replicas' writes and
    /// retries are found by the poll).
    pub mail_poll_ms: u64,
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
        let smtp = SmtpConfig::from_env(&mut env);
        let cfg = Self {
            smtp,
            mail_poll_ms: env.ranged("ULM_MAIL_POLL_MS", 1000, 100, 60_000),
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
                mail_days: env.ranged("ULM_MAIL_RETENTION_DAYS", 30, 1, 365),
            },
            me_cache_ms: env.ranged("ULM_ME_CACHE_MS", 1000, 0, 10_000),
            read_lanes: env.ranged(
                "ULM_READ_LANES",
                db.as_ref()
                    .map_or(1, |d| u64::from(d.max_connections) / 2)
                    .clamp(1, 4),
                1,
                64,
            ) as usize,
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

    fn with_smtp(extra: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
        let mut vars: Vec<(&str, String)> = vec![
            ("DATABASE_URL", "postgres://u@127.0.0.1/db".into()),
            ("REDIS_URL", "redis://127.0.0.1/0".into()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        Config::from(Env::from_map(vars))
    }

    #[test]
    fn smtp_is_optional_and_parsed_from_either_form() {
        assert!(with_smtp(&[]).unwrap().smtp.is_none());
        let cfg = with_smtp(&[
            ("SMTP_URL", "smtp://user:hunter2@127.0.0.1:1025"),
            ("SMTP_FROM", "OVU <no-reply@example.com>"),
        ])
        .unwrap();
        let smtp = cfg.smtp.unwrap();
        assert_eq!(smtp.server(), "127.0.0.1:1025");
        assert_eq!(smtp.timeout, Duration::from_secs(10));
        assert!(
            !format!("{smtp:?}").contains("hunter2"),
            "the password never reaches a log"
        );
        let cfg = with_smtp(&[
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_TLS", "tls"),
            ("SMTP_FROM", "no-reply@example.com"),
            ("SMTP_TIMEOUT_SECS", "3"),
        ])
        .unwrap();
        let smtp = cfg.smtp.unwrap();
        assert_eq!(smtp.server(), "mail.example.com:465");
        assert!(matches!(
            smtp.endpoint,
            SmtpEndpoint::Host {
                tls: SmtpTls::Tls,
                credentials: None,
                ..
            }
        ));
    }

    #[test]
    fn smtp_ca_file_is_read_checked_and_only_with_tls() {
        let dir = std::env::temp_dir().join(format!("ulm-smtp-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let good = dir.join("ca.pem");
        std::fs::write(&good, ca.pem()).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let (good, empty, broken) = (
            good.to_str().unwrap(),
            empty.to_str().unwrap(),
            broken.to_str().unwrap(),
        );
        for endpoint in [
            ("SMTP_URL", "smtps://mail.example.com"),
            ("SMTP_URL", "smtp://mail.example.com?tls=required"),
            ("SMTP_HOST", "mail.example.com"),
        ] {
            let cfg = with_smtp(&[
                endpoint,
                ("SMTP_CA_FILE", good),
                ("SMTP_FROM", "no-reply@example.com"),
            ])
            .unwrap();
            let ca = cfg.smtp.unwrap().ca.expect("SMTP_CA_FILE read");
            assert_eq!(ca.pem, std::fs::read(good).unwrap());
        }
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            (
                &[("SMTP_HOST", "h"), ("SMTP_CA_FILE", empty)],
                "no PEM certificate",
            ),
            (
                &[("SMTP_HOST", "h"), ("SMTP_CA_FILE", broken)],
                "SMTP_CA_FILE",
            ),
            (
                &[("SMTP_HOST", "h"), ("SMTP_CA_FILE", "/nonexistent/ca.pem")],
                "SMTP_CA_FILE: cannot read",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("SMTP_TLS", "none"),
                    ("SMTP_CA_FILE", good),
                ],
                "uses no TLS",
            ),
            (
                &[("SMTP_URL", "smtp://h"), ("SMTP_CA_FILE", good)],
                "uses no TLS",
            ),
            (&[("SMTP_CA_FILE", good)], "SMTP_CA_FILE is set but neither"),
        ];
        for (vars, named) in cases {
            let mut vars = vars.to_vec();
            vars.push(("SMTP_FROM", "a@example.com"));
            let err = with_smtp(&vars).unwrap_err().to_string();
            assert!(err.contains(named), "{vars:?}: {err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn smtp_password_comes_from_a_file() {
        let dir = std::env::temp_dir().join(format!("ulm-smtp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let path = file.to_str().unwrap();
        let cfg = with_smtp(&[
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_USERNAME", "ovu"),
            ("SMTP_PASSWORD_FILE", path),
            ("SMTP_FROM", "no-reply@example.com"),
        ])
        .unwrap();
        let smtp = cfg.smtp.unwrap();
        let SmtpEndpoint::Host {
            port, credentials, ..
        } = &smtp.endpoint
        else {
            panic!("host form")
        };
        assert_eq!(*port, 587, "STARTTLS by default");
        let (user, pw) = credentials.as_ref().unwrap();
        assert_eq!((user.as_str(), pw.expose()), ("ovu", "s3cret"));
        assert!(!format!("{smtp:?}").contains("s3cret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_smtp_settings_are_named_without_their_values() {
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            (&[("SMTP_URL", "smtp://h:1")], "SMTP_FROM is required"),
            (&[("SMTP_FROM", "a@example.com")], "SMTP_FROM is set"),
            (
                &[
                    ("SMTP_URL", "http://u:hunter2@h"),
                    ("SMTP_FROM", "a@example.com"),
                ],
                "SMTP_URL",
            ),
            (
                &[
                    ("SMTP_URL", "smtp://h?tls=maybe"),
                    ("SMTP_FROM", "a@example.com"),
                ],
                "SMTP_URL",
            ),
            (
                &[
                    ("SMTP_URL", "smtp://h"),
                    ("SMTP_HOST", "h"),
                    ("SMTP_FROM", "a@example.com"),
                ],
                "SMTP_URL and SMTP_HOST",
            ),
            (
                &[("SMTP_HOST", "h"), ("SMTP_FROM", "not an address")],
                "SMTP_FROM",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("SMTP_TLS", "maybe"),
                    ("SMTP_FROM", "a@example.com"),
                ],
                "SMTP_TLS",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("SMTP_PORT", "0"),
                    ("SMTP_FROM", "a@example.com"),
                ],
                "SMTP_PORT",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("SMTP_USERNAME", "u"),
                    ("SMTP_FROM", "a@example.com"),
                ],
                "SMTP_USERNAME and SMTP_PASSWORD_FILE",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("SMTP_USERNAME", "u"),
                    ("SMTP_PASSWORD_FILE", "/nonexistent/pw"),
                    ("SMTP_FROM", "a@example.com"),
                ],
                "SMTP_PASSWORD_FILE",
            ),
        ];
        for (vars, named) in cases {
            let err = with_smtp(vars).unwrap_err().to_string();
            assert!(err.contains(named), "{vars:?}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
