//! ULM's public keys, fetched from its JWKS and kept fresh without a restart.
//!
//! Verification itself is [`ovu_kit::jwt::JwtVerifier`] (EdDSA allow-list, `typ`, `kid`,
//! `iss`, `aud`, `exp`, `nbf`). This module owns *where the keys come from*: the set is
//! fetched on first use, refetched when it is older than the TTL, and refetched at once when
//! a token names a `kid` we do not know (ULM rotated its key) — rate-limited, and one fetch
//! at a time, so a flood of forged kids costs ULM at most one request per interval.
//! Nothing here is AAM-specific; it can move into kit as `JwksSource`.

use std::sync::Arc;
use std::time::Duration;

use ovu_kit::jwt::{AccessClaims, JwtError, JwtVerifier};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct JwksKeys {
    verifier: JwtVerifier,
    client: reqwest::Client,
    url: String,
    ttl: Duration,
    min_refetch: Duration,
    /// When the keys were last fetched successfully, and when a fetch was last tried.
    state: Mutex<FetchState>,
    /// Read without the lock on the hot path: whether the set is older than the TTL.
    fresh_until: std::sync::RwLock<Option<Instant>>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
}

impl std::fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeys")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksKeys {
    pub fn new(
        client: reqwest::Client,
        url: String,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        min_refetch: Duration,
    ) -> Self {
        Self {
            verifier: JwtVerifier::new(issuer, audience),
            client,
            url,
            ttl,
            min_refetch,
            state: Mutex::new(FetchState::default()),
            fresh_until: std::sync::RwLock::new(None),
        }
    }

    fn is_fresh(&self) -> bool {
        self.fresh_until
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| Instant::now() < t)
    }

    /// Fetches the key set unless another caller just did. `force` skips the freshness
    /// check (unknown kid) but never the rate limit.
    async fn refresh(&self, force: bool) -> Result<(), JwtError> {
        let mut st = if !force && self.loaded() {
            // Keys are stale but usable: one caller refreshes, the rest keep verifying with
            // what they have instead of queueing behind a slow ULM.
            match self.state.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(()),
            }
        } else {
            self.state.lock().await
        };
        // Someone else may have refreshed while we waited for the lock.
        if !force && self.is_fresh() {
            return Ok(());
        }
        if let Some(t) = st.last_attempt
            && t.elapsed() < self.min_refetch
        {
            // Rate-limited. Without any key yet that is ULM's outage, not the token's fault.
            return if self.loaded() {
                Ok(())
            } else {
                Err(JwtError::Jwks("ulm keys not fetched yet".into()))
            };
        }
        st.last_attempt = Some(Instant::now());
        let jwks = JwtVerifier::fetch_jwks(&self.client, &self.url).await?;
        self.verifier.set_jwks(&jwks)?;
        *self.fresh_until.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + self.ttl);
        tracing::info!(keys = jwks.keys.len(), "fetched ulm jwks");
        Ok(())
    }

    /// Verifies an access token against ULM's current keys.
    pub async fn verify(&self, token: &str) -> Result<Arc<AccessClaims>, JwtError> {
        if !self.is_fresh() {
            // A stale set is still better than none: keep verifying with it when ULM is down.
            if let Err(e) = self.refresh(false).await {
                tracing::warn!(error = %e, "jwks refresh failed");
            }
        }
        match self.verifier.verify(token) {
            Err(JwtError::Invalid("unknown kid")) => {
                self.refresh(true).await?;
                self.verifier.verify(token)
            }
            other => other,
        }
    }

    /// Whether a key set was ever fetched.
    pub fn loaded(&self) -> bool {
        self.fresh_until
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.verifier.has_kid(kid)
    }
}
