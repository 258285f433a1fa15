//! Generated Secrets: the PostgreSQL superuser's, each service's and the backup role's
//! database password, the Redis admin's and each service's ACL password, the ULM Ed25519 signing key and the bootstrap admin credentials.
//!
//! Values come from the OS CSPRNG, are created once and are never overwritten, logged, or put
//! anywhere but the Secret. A key a newer version adds to an existing Secret is filled in
//! (see `apply::ensure`); the keys already there keep their values. The PostgreSQL and bootstrap
//! admin Secrets belong with the data (the database holds those passwords), so like the volumes
//! they outlive the OvuSystem unless `deletionPolicy: Delete`.

use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use rand::Rng;
use rand::rngs::OsRng;
use serde_json::{Value, json};

use crate::render::names::Component;
use crate::render::{Child, Ctx, Kind};

/// A random password of `len` characters from `[A-Za-z0-9]` (URL- and shell-safe: it is
/// embedded in connection URLs by the kubelet).
pub fn password(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A fresh Ed25519 private key, PKCS#8 PEM (what `ULM_SIGNING_KEY_FILE` expects).
pub fn signing_key_pem() -> Result<String, ed25519_dalek::pkcs8::Error> {
    let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
    Ok(key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?
        .to_string())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn secret(ctx: &Ctx, name: &str, c: Component, owned: bool, data: &[(&str, String)]) -> Child {
    let meta = if owned {
        ctx.meta(name, c)
    } else {
        ctx.meta_unowned(name, c)
    };
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(b64(v))))
        .collect();
    ctx.child_with_meta(
        Kind::Secret,
        name,
        meta,
        json!({"type": "Opaque", "data": data}),
        true,
    )
}

/// The generated Secrets with fresh random values. Applied create-only: an existing Secret
/// keeps its values.
pub fn generate(ctx: &Ctx) -> Result<Vec<Child>, ed25519_dalek::pkcs8::Error> {
    let n = &ctx.names;
    Ok(vec![
        secret(
            ctx,
            &n.postgres_secret(),
            Component::Postgres,
            false,
            &[
                ("superuser-password", password(32)),
                (crate::render::database::ULM_PASSWORD_KEY, password(32)),
                (crate::render::database::AAM_PASSWORD_KEY, password(32)),
                (crate::render::database::BACKUP_PASSWORD_KEY, password(32)),
            ],
        ),
        secret(
            ctx,
            &n.redis_secret(),
            Component::Redis,
            true,
            &[
                (crate::render::database::REDIS_ADMIN_KEY, password(32)),
                (crate::render::database::REDIS_ULM_KEY, password(32)),
                (crate::render::database::REDIS_AAM_KEY, password(32)),
            ],
        ),
        secret(
            ctx,
            &n.signing_key_secret(),
            Component::Ulm,
            true,
            &[("key.pem", signing_key_pem()?)],
        ),
        secret(
            ctx,
            &n.bootstrap_admin_secret(),
            Component::Ulm,
            false,
            &[
                ("email", format!("admin@{}", ctx.sys.spec.domain)),
                ("password", password(24)),
            ],
        ),
    ])
}

/// Names of the Secrets that live with the data (deleted only by `deletionPolicy: Delete`).
pub fn data_secrets(ctx: &Ctx) -> Vec<String> {
    vec![
        ctx.names.postgres_secret(),
        ctx.names.bootstrap_admin_secret(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_and_url_safe() {
        let a = password(32);
        let b = password(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn signing_key_is_pkcs8_pem() {
        let pem = signing_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
    }
}
