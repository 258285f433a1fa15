//! Access-token verification shared by ULM (its own tokens) and AAM (keys from ULM's JWKS).
//!
//! Only `EdDSA` is accepted (an allow-list, so `alg: none` or HS256-with-the-public-key
//! tricks fail), the header must carry `typ: at+jwt` and a known `kid`, and `iss`, `aud`,
//! `exp` and `nbf` are checked. Verified tokens are cached until they expire: a token's
//! validity depends only on its bytes, the key set and the clock, so the cache is safe and
//! saves an Ed25519 verification on hot endpoints.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of an OVU access token (docs/contracts.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: Uuid,
    /// Session id: the refresh-token family this token was minted from.
    pub sid: Uuid,
    pub username: String,
    pub email: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    /// Whether the session passed a second factor.
    pub mfa: bool,
}

impl AccessClaims {
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

/// One public key in a JWKS (RFC 8037 OKP).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// base64url public key.
    pub x: String,
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("token expired")]
    Expired,
    #[error("token invalid: {0}")]
    Invalid(&'static str),
    #[error("jwks: {0}")]
    Jwks(String),
}

impl From<JwtError> for ApiError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Expired => ApiError::token_expired(),
            JwtError::Invalid(_) => ApiError::invalid_token(),
            JwtError::Jwks(_) => ApiError::upstream_unavailable(),
        }
    }
}

const CACHE_CAP: usize = 20_000;

pub struct JwtVerifier {
    keys: RwLock<HashMap<String, DecodingKey>>,
    validation: Validation,
    cache: RwLock<HashMap<Box<str>, Arc<AccessClaims>>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl JwtVerifier {
    pub fn new(issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            keys: RwLock::new(HashMap::new()),
            validation,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Replaces the key set (e.g. after fetching a new JWKS); clears the cache so tokens
    /// signed by a removed key stop working at once.
    pub fn set_jwks(&self, jwks: &Jwks) -> Result<(), JwtError> {
        let mut keys = HashMap::new();
        for k in &jwks.keys {
            if k.kty != "OKP" || k.crv != "Ed25519" {
                continue;
            }
            let dk =
                DecodingKey::from_ed_components(&k.x).map_err(|e| JwtError::Jwks(e.to_string()))?;
            keys.insert(k.kid.clone(), dk);
        }
        if keys.is_empty() {
            return Err(JwtError::Jwks("no Ed25519 keys in the set".into()));
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(())
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(kid)
    }

    /// Verifies a compact JWS and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Arc<AccessClaims>, JwtError> {
        if let Some(c) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
        {
            // The cached entry was fully verified; only time can have changed.
            if c.exp + self.validation.leeway as i64 <= now() {
                return Err(JwtError::Expired);
            }
            return Ok(c.clone());
        }
        if token.len() > 8192 {
            return Err(JwtError::Invalid("too long"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(JwtError::Invalid("algorithm not allowed"));
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(JwtError::Invalid("wrong token type"));
        }
        let kid = header.kid.ok_or(JwtError::Invalid("missing kid"))?;
        let claims = {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            let key = keys.get(&kid).ok_or(JwtError::Invalid("unknown kid"))?;
            jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => JwtError::Expired,
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        JwtError::Invalid("not yet valid")
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        JwtError::Invalid("audience")
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => JwtError::Invalid("issuer"),
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        JwtError::Invalid("signature")
                    }
                    _ => JwtError::Invalid("malformed"),
                })?
                .claims
        };
        let claims = Arc::new(claims);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAP {
            // Crude but bounded: dropping everything costs one re-verification per live token.
            cache.clear();
        }
        cache.insert(token.into(), claims.clone());
        Ok(claims)
    }

    /// Fetches a JWKS over HTTP (AAM uses this against ULM).
    pub async fn fetch_jwks(client: &reqwest::Client, url: &str) -> Result<Jwks, JwtError> {
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| JwtError::Jwks(e.to_string()))?
            .error_for_status()
            .map_err(|e| JwtError::Jwks(e.to_string()))?;
        resp.json::<Jwks>()
            .await
            .map_err(|e| JwtError::Jwks(e.to_string()))
    }
}

/// Extracts the bearer token from an `Authorization` header value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::SigningKey;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{EncodingKey, Header};

    struct Signer {
        key: EncodingKey,
        jwk: Jwk,
    }

    fn signer(kid: &str) -> Signer {
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let der = sk.to_pkcs8_der().unwrap();
        Signer {
            key: EncodingKey::from_ed_der(der.as_bytes()),
            jwk: Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: URL_SAFE_NO_PAD.encode(sk.verifying_key().as_bytes()),
                kid: kid.into(),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            },
        }
    }

    fn claims(exp_in: i64) -> AccessClaims {
        let n = now();
        AccessClaims {
            sub: Uuid::new_v4(),
            iss: "ovu-ulm".into(),
            aud: "ovu".into(),
            exp: n + exp_in,
            iat: n,
            nbf: n,
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            username: "u".into(),
            email: "u@example.com".into(),
            roles: vec!["user".into()],
            permissions: vec![],
            mfa: false,
        }
    }

    fn sign(s: &Signer, c: &AccessClaims, typ: &str, kid: &str) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.into());
        h.typ = Some(typ.into());
        jsonwebtoken::encode(&h, c, &s.key).unwrap()
    }

    fn verifier(s: &Signer) -> JwtVerifier {
        let v = JwtVerifier::new("ovu-ulm", "ovu");
        v.set_jwks(&Jwks {
            keys: vec![s.jwk.clone()],
        })
        .unwrap();
        v
    }

    #[test]
    fn accepts_a_good_token_and_caches_it() {
        let s = signer("k1");
        let v = verifier(&s);
        let c = claims(600);
        let t = sign(&s, &c, ACCESS_TOKEN_TYP, "k1");
        assert_eq!(*v.verify(&t).unwrap(), c);
        assert_eq!(*v.verify(&t).unwrap(), c);
    }

    #[test]
    fn rejects_expired_wrong_typ_kid_aud_and_foreign_key() {
        let s = signer("k1");
        let v = verifier(&s);
        assert_eq!(
            v.verify(&sign(&s, &claims(-60), ACCESS_TOKEN_TYP, "k1")),
            Err(JwtError::Expired)
        );
        assert!(v.verify(&sign(&s, &claims(600), "JWT", "k1")).is_err());
        assert!(
            v.verify(&sign(&s, &claims(600), ACCESS_TOKEN_TYP, "k2"))
                .is_err()
        );
        let mut c = claims(600);
        c.aud = "other".into();
        assert!(v.verify(&sign(&s, &c, ACCESS_TOKEN_TYP, "k1")).is_err());
        let other = signer("k1");
        assert_eq!(
            v.verify(&sign(&other, &claims(600), ACCESS_TOKEN_TYP, "k1")),
            Err(JwtError::Invalid("signature"))
        );
        assert!(v.verify("not.a.jwt").is_err());
    }

    #[test]
    fn rejects_hs256_and_none() {
        let s = signer("k1");
        let v = verifier(&s);
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        h.typ = Some(ACCESS_TOKEN_TYP.into());
        // HMAC keyed with the public key: the classic confusion attack.
        let t = jsonwebtoken::encode(
            &h,
            &claims(600),
            &EncodingKey::from_secret(s.jwk.x.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            v.verify(&t),
            Err(JwtError::Invalid("algorithm not allowed"))
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(600)).unwrap())
        );
        assert!(v.verify(&none).is_err());
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
