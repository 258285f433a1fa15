//! Typed configuration from environment variables.
//!
//! Every service reads its variables through an [`Env`], which records each missing or
//! malformed variable by name; [`Env::finish`] then fails start-up with one message
//! listing all of them, so an operator fixes the whole deployment in one go.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One or more variables were missing or invalid.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Reads variables from the process environment or, in tests, from a map.
pub struct Env {
    source: Option<HashMap<String, String>>,
    problems: Vec<String>,
}

impl fmt::Debug for Env {
    // Never print values: some are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("problems", &self.problems)
            .finish()
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::from_process()
    }
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            source: None,
            problems: Vec::new(),
        }
    }

    pub fn from_map<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            source: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            problems: Vec::new(),
        }
    }

    /// The raw value; empty strings count as unset so `FOO=` behaves like no `FOO`.
    pub fn raw(&self, name: &str) -> Option<String> {
        let v = match &self.source {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        v.filter(|s| !s.trim().is_empty())
    }

    fn parse<T: FromStr>(&mut self, name: &str, raw: String) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        match raw.trim().parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems.push(format!("{name}: {e}"));
                None
            }
        }
    }

    /// A variable that must be set.
    pub fn required<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        match self.raw(name) {
            Some(raw) => self.parse(name, raw),
            None => {
                self.problems.push(format!("{name} is required"));
                None
            }
        }
    }

    /// A variable that may be unset.
    pub fn optional<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        let raw = self.raw(name)?;
        self.parse(name, raw)
    }

    /// A variable with a default.
    pub fn or<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: fmt::Display,
    {
        self.optional(name).unwrap_or(default)
    }

    /// An integer that must fall in `min..=max`.
    pub fn ranged(&mut self, name: &str, default: u64, min: u64, max: u64) -> u64 {
        let v = self.or(name, default);
        if !(min..=max).contains(&v) {
            self.problems
                .push(format!("{name}: {v} is outside {min}..={max}"));
            return default;
        }
        v
    }

    /// A boolean: true/false/1/0/yes/no.
    pub fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.raw(name).map(|s| s.trim().to_ascii_lowercase()) {
            None => default,
            Some(s) if matches!(s.as_str(), "true" | "1" | "yes" | "on") => true,
            Some(s) if matches!(s.as_str(), "false" | "0" | "no" | "off") => false,
            Some(s) => {
                self.problems
                    .push(format!("{name}: expected true or false, got {s:?}"));
                default
            }
        }
    }

    /// One of a fixed set of words.
    pub fn choice(
        &mut self,
        name: &str,
        default: &'static str,
        allowed: &[&'static str],
    ) -> &'static str {
        match self.raw(name) {
            None => default,
            Some(s) => match allowed.iter().find(|a| a.eq_ignore_ascii_case(s.trim())) {
                Some(a) => a,
                None => {
                    self.problems.push(format!(
                        "{name}: expected one of {}, got {s:?}",
                        allowed.join("|")
                    ));
                    default
                }
            },
        }
    }

    /// A comma-separated list (empty entries dropped).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Seconds as a [`Duration`].
    pub fn seconds(&mut self, name: &str, default: u64) -> Duration {
        Duration::from_secs(self.or(name, default))
    }

    /// Record a problem found by the caller's own validation.
    pub fn problem(&mut self, msg: impl Into<String>) {
        self.problems.push(msg.into());
    }

    /// Ok when every read succeeded.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// Settings every OVU HTTP service shares.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Exact origins allowed by CORS (`CORS_ORIGINS`); empty means no CORS headers.
    pub cors_origins: Vec<String>,
    /// Largest accepted request body in bytes (`BODY_LIMIT_BYTES`, default 64 KiB).
    pub body_limit: usize,
    /// How long a whole request body may take to arrive (`BODY_TIMEOUT_SECS`, default 30,
    /// nginx's `client_body_timeout`): a client that trickles its body is cut off.
    pub body_timeout: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`, CIDRs).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl HttpConfig {
    pub fn from_env(env: &mut Env) -> Self {
        let cors_origins = env.list("CORS_ORIGINS");
        for o in &cors_origins {
            if http::HeaderValue::from_str(o).is_err()
                || !(o.starts_with("http://") || o.starts_with("https://"))
            {
                env.problem(format!("CORS_ORIGINS: {o:?} is not an http(s) origin"));
            }
        }
        let mut trusted_proxies = Vec::new();
        for p in env.list("TRUSTED_PROXIES") {
            match parse_trusted_proxy(&p) {
                Ok(n) => trusted_proxies.push(n),
                Err(why) => env.problem(format!("TRUSTED_PROXIES: {p:?} {why}")),
            }
        }
        let body_limit = env.ranged("BODY_LIMIT_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024) as usize;
        let body_timeout =
            std::time::Duration::from_secs(env.ranged("BODY_TIMEOUT_SECS", 30, 1, 600));
        Self {
            cors_origins,
            body_limit,
            body_timeout,
            trusted_proxies,
        }
    }
}

/// The widest network a `TRUSTED_PROXIES` entry may name, per family. Every address in a
/// trusted network can claim any client address (and so pick any rate-limit bucket), so a
/// typo such as `0.0.0.0/0` or a whole `10.0.0.0/7` must stop start-up rather than quietly
/// believe the internet. A pod network is /16–/24 per cluster or per node.
pub const MAX_TRUSTED_PREFIX_V4: u8 = 8;
/// See [`MAX_TRUSTED_PREFIX_V4`].
pub const MAX_TRUSTED_PREFIX_V6: u8 = 32;

/// One `TRUSTED_PROXIES` entry: a CIDR or a single address, no wider than /8 (IPv4) or /32
/// (IPv6). The error completes "TRUSTED_PROXIES: \"value\" ...".
pub fn parse_trusted_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let n = s
        .parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| "is not a CIDR or IP address".to_string())?;
    let min = match n {
        ipnet::IpNet::V4(_) => MAX_TRUSTED_PREFIX_V4,
        ipnet::IpNet::V6(_) => MAX_TRUSTED_PREFIX_V6,
    };
    if n.prefix_len() < min {
        return Err(format!(
            "is wider than /{min}: every address in it could claim any client address; list the proxies' own networks"
        ));
    }
    Ok(n)
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            body_limit: 64 * 1024,
            body_timeout: std::time::Duration::from_secs(30),
            trusted_proxies: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_variable_by_name() {
        let mut env = Env::from_map([("PORT", "abc"), ("FLAG", "maybe")]);
        let _: Option<u16> = env.optional("PORT");
        let _: Option<String> = env.required("DATABASE_URL");
        let _ = env.flag("FLAG", false);
        let err = env.finish().unwrap_err().to_string();
        assert!(err.contains("PORT"), "{err}");
        assert!(err.contains("DATABASE_URL is required"), "{err}");
        assert!(err.contains("FLAG"), "{err}");
    }

    #[test]
    fn defaults_ranges_and_lists() {
        let mut env = Env::from_map([("N", "500"), ("L", " a, ,b "), ("E", "")]);
        assert_eq!(env.ranged("N", 5, 1, 100), 5);
        assert_eq!(env.list("L"), vec!["a", "b"]);
        assert_eq!(env.or::<u32>("E", 7), 7);
        assert!(env.finish().is_err());
    }

    #[test]
    fn http_config_rejects_bad_cidr_and_origin() {
        let mut env = Env::from_map([
            ("TRUSTED_PROXIES", "198.18.0.0/15,nonsense"),
            ("CORS_ORIGINS", "ftp://x"),
        ]);
        let cfg = HttpConfig::from_env(&mut env);
        assert_eq!(cfg.trusted_proxies.len(), 1);
        let err = env.finish().unwrap_err().to_string();
        assert!(
            err.contains("TRUSTED_PROXIES") && err.contains("CORS_ORIGINS"),
            "{err}"
        );
    }

    #[test]
    fn trusted_proxies_wider_than_a_slash_8_or_32_stop_start_up() {
        for (bad, width) in [
            ("0.0.0.0/0", "/8"),
            ("198.0.0.0/7", "/8"),
            ("::/0", "/32"),
            ("2001:db8::/31", "/32"),
        ] {
            let mut env = Env::from_map([("TRUSTED_PROXIES", format!("198.19.1.0/24,{bad}"))]);
            let cfg = HttpConfig::from_env(&mut env);
            assert_eq!(cfg.trusted_proxies.len(), 1, "{bad}");
            let err = env.finish().unwrap_err().to_string();
            assert!(
                err.contains("TRUSTED_PROXIES")
                    && err.contains(&format!("{bad:?}"))
                    && err.contains(width),
                "{err}"
            );
        }
        // The limits themselves, single addresses and mapped forms are fine.
        let mut env = Env::from_map([(
            "TRUSTED_PROXIES",
            "198.0.0.0/8,2001:db8::/32,198.19.1.7,fd00::1",
        )]);
        let cfg = HttpConfig::from_env(&mut env);
        env.finish().unwrap();
        assert_eq!(cfg.trusted_proxies.len(), 4);
        assert_eq!(cfg.trusted_proxies[2].to_string(), "198.19.1.7/32");
    }
}
