//! The Ed25519 key that signs access tokens, and the JWKS that publishes its public half.
//!
//! The `kid` is derived from the public key (first 16 hex digits of its SHA-256), so every
//! replica loading the same key file advertises the same id.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ovu_kit::jwt::{ACCESS_TOKEN_TYP, AccessClaims, Jwk, Jwks};

pub struct Signer {
    kid: String,
    key: EncodingKey,
    jwks: Jwks,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot read signing key {0}: {1}")]
    Read(String, std::io::Error),
    #[error("signing key {0} is not an Ed25519 PKCS#8 PEM key")]
    Parse(String),
}

impl Signer {
    pub fn from_key(sk: &SigningKey) -> Self {
        let public = sk.verifying_key();
        let kid = hex::encode(&crate::crypto::sha256(public.as_bytes())[..8]);
        // A freshly generated key always encodes; the error type only covers allocation.
        let der = sk.to_pkcs8_der().expect("encode Ed25519 key as PKCS#8");
        let jwks = Jwks {
            keys: vec![Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
                kid: kid.clone(),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            }],
        };
        Self {
            kid,
            key: EncodingKey::from_ed_der(der.as_bytes()),
            jwks,
        }
    }

    pub fn from_pem_file(path: &Path) -> Result<Self, SigningError> {
        let name = path.display().to_string();
        let pem = std::fs::read_to_string(path).map_err(|e| SigningError::Read(name.clone(), e))?;
        let sk = SigningKey::from_pkcs8_pem(&pem).map_err(|_| SigningError::Parse(name))?;
        Ok(Self::from_key(&sk))
    }

    /// Development only: a key that dies with the process.
    pub fn ephemeral() -> Self {
        Self::from_key(&SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// PEM of a new key (for `ovu-ulm gen-key` and the dev script).
    pub fn generate_pem() -> String {
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        sk.to_pkcs8_pem(Default::default())
            .expect("encode Ed25519 key as PEM")
            .to_string()
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}
