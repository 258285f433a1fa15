//! Secrets: argon2id password hashing (on blocking threads, bounded by a semaphore),
//! random opaque tokens and their SHA-256 digests.
//!
//! Opaque tokens (refresh tokens, API keys, e-mail links) carry ≥ 256 bits from the OS
//! CSPRNG, so a fast hash is enough to store them: nobody can brute-force the preimage.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ovu_kit::ApiError;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::config::Argon2Cost;

pub struct Passwords {
    params: Params,
    /// argon2 is CPU and memory bound: at most one hash per core at a time, so bursts
    /// queue instead of thrashing memory and every core stays busy.
    permits: Arc<Semaphore>,
    /// Verified against when the login is unknown, so it costs the same as a real one.
    dummy: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish()
    }
}

impl Passwords {
    pub fn new(cost: Argon2Cost) -> Result<Self, argon2::Error> {
        let params = Params::new(cost.m_kib, cost.t, cost.p, None)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let mut me = Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            dummy: String::new(),
        };
        me.dummy = me
            .hash_blocking("dummy password for unknown logins")
            .map_err(|_| argon2::Error::OutputTooShort)?;
        Ok(me)
    }

    fn argon(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub fn hash_blocking(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(Self::argon(self.params.clone())
            .hash_password(password.as_bytes(), &salt)?
            .to_string())
    }

    pub fn verify_blocking(password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            // The parameters come from the stored string, so old hashes keep verifying
            // after the configured cost changes.
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Self::argon(params)
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there is no
    /// account, so both paths take the same time (no enumeration by timing).
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, ApiError> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let real = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.clone());
        let ok = tokio::task::spawn_blocking(move || Self::verify_blocking(&password, &phc))
            .await
            .map_err(ApiError::internal)?;
        Ok(ok && real)
    }

    /// Whether a stored hash was made with other parameters than today's (rehash at login).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(p) => match Params::try_from(&p) {
                Ok(stored) => {
                    p.algorithm.as_str() != "argon2id"
                        || stored.m_cost() != self.params.m_cost()
                        || stored.t_cost() != self.params.t_cost()
                        || stored.p_cost() != self.params.p_cost()
                }
                Err(_) => true,
            },
            Err(_) => true,
        }
    }
}

/// `n` random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// An opaque token: 32 random bytes, base64url (43 characters, 256 bits).
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

pub fn token_hash(token: &str) -> Vec<u8> {
    sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_with_configured_cost() {
        let p = Passwords::new(Argon2Cost {
            m_kib: 64,
            t: 1,
            p: 1,
        })
        .unwrap();
        let h = p.hash_blocking("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert!(Passwords::verify_blocking("correct horse", &h));
        assert!(!Passwords::verify_blocking("wrong horse", &h));
        assert!(!p.needs_rehash(&h));
        let stronger = Passwords::new(Argon2Cost {
            m_kib: 128,
            t: 1,
            p: 1,
        })
        .unwrap();
        assert!(stronger.needs_rehash(&h));
    }

    #[tokio::test]
    async fn unknown_login_uses_the_dummy_and_fails() {
        let p = Passwords::new(Argon2Cost {
            m_kib: 64,
            t: 1,
            p: 1,
        })
        .unwrap();
        assert!(
            !p.verify("dummy password for unknown logins".into(), None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a).len(), 32);
    }
}
