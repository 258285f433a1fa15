//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step of skew) and recovery codes.
//!
//! Replay protection lives in the database: a code is accepted only for a time step
//! greater than the last accepted one (`users.mfa_last_step`), updated atomically.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

pub const STEP: u64 = 30;
pub const SECRET_LEN: usize = 20;
pub const RECOVERY_CODES: usize = 10;

fn totp(secret: &[u8]) -> Option<TOTP> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP, secret.to_vec()).ok()
}

pub fn base32(secret: &[u8]) -> String {
    totp(secret)
        .map(|t| t.get_secret_base32())
        .unwrap_or_default()
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=…` for authenticator apps.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP}",
        pct(issuer),
        pct(account),
        base32(secret),
        pct(issuer)
    )
}

/// The code for a time step (tests and clients).
pub fn code_at_step(secret: &[u8], step: u64) -> String {
    totp(secret)
        .map(|t| t.generate(step * STEP))
        .unwrap_or_default()
}

/// Returns the matching step within ±1 of `now`, if any and if it is newer than `last_step`.
pub fn verify(secret: &[u8], code: &str, now_unix: u64, last_step: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret)?;
    let current = now_unix / STEP;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|&step| {
            step > last_step
                && bool::from(t.generate(step * STEP).as_bytes().ct_eq(code.as_bytes()))
        })
}

/// A recovery code: 16 base32 characters (80 bits) shown as four groups.
pub fn new_recovery_code() -> String {
    let raw = base32(&crate::crypto::random_bytes::<SECRET_LEN>());
    let s: String = raw.chars().take(16).collect::<String>().to_lowercase();
    format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
}

/// Recovery codes are compared without dashes, spaces or case.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// Stored digest of a recovery code, salted with the user id.
pub fn recovery_hash(user_id: uuid::Uuid, code: &str) -> Vec<u8> {
    let mut data = user_id.as_bytes().to_vec();
    data.extend_from_slice(normalize_recovery_code(code).as_bytes());
    crate::crypto::sha256(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, T = 59 s, 8 digits 94287082 → 6 digits 287082.
        let secret = b"12345678901234567890";
        assert_eq!(code_at_step(secret, 59 / STEP), "287082");
    }

    #[test]
    fn skew_and_replay() {
        let secret = crate::crypto::random_bytes::<SECRET_LEN>();
        let now = 1_800_000_000;
        let step = now / STEP;
        let prev = code_at_step(&secret, step - 1);
        assert_eq!(verify(&secret, &prev, now, 0), Some(step - 1));
        assert_eq!(
            verify(&secret, &code_at_step(&secret, step + 1), now, 0),
            Some(step + 1)
        );
        assert_eq!(
            verify(&secret, &code_at_step(&secret, step - 2), now, 0),
            None
        );
        // Already used step: refused.
        assert_eq!(verify(&secret, &prev, now, step - 1), None);
        assert_eq!(verify(&secret, "12345", now, 0), None);
    }

    #[test]
    fn recovery_codes() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 19);
        let id = uuid::Uuid::new_v4();
        assert_eq!(
            recovery_hash(id, &c),
            recovery_hash(id, &c.to_uppercase().replace('-', " "))
        );
        assert!(
            otpauth_uri("OVU", "a b@example.com", b"12345678901234567890")
                .starts_with("otpauth://totp/OVU:a%20b@example.com?secret=")
        );
    }
}
