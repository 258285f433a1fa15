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

/// Base32 characters in a recovery code: 24 × 5 = 120 random bits.
pub const RECOVERY_CODE_CHARS: usize = 24;

/// A recovery code: 120 random bits as 24 lower-case base32 characters in six groups of four
/// (`abcd-efgh-ijkl-mnop-qrst-uvwx`).
///
/// Why entropy rather than argon2id: a code of at least 112 random bits cannot be found by an
/// offline search of its SHA-256 digest, so a slow hash would add nothing but cost, and it
/// would cost on every attempt — ten argon2 verifications per wrong code, paid by the server
/// for the attacker. A fast digest also keeps the lookup a single indexed equality query.
///
/// That argument holds only for codes this long: codes issued before (80 bits, 16
/// characters) are stored the same way, and an 80-bit code behind a fast digest is within
/// reach of an offline search, so they are refused ([`recovery_code_acceptable`]) rather than
/// kept working until used. A user holding only such codes signs in with the authenticator and
/// gets new ones by enrolling again (disable and enable MFA).
pub fn new_recovery_code() -> String {
    // 20 random bytes encode to 32 characters, each carrying 5 independent random bits.
    let raw: String = base32(&crate::crypto::random_bytes::<SECRET_LEN>())
        .to_lowercase()
        .chars()
        .take(RECOVERY_CODE_CHARS)
        .collect();
    let groups: Vec<&str> = (0..raw.len() / 4).map(|i| &raw[i * 4..i * 4 + 4]).collect();
    groups.join("-")
}

/// Recovery codes are compared without dashes, spaces or case.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// Whether `code` is long enough to be a recovery code issued now: at least
/// [`RECOVERY_CODE_CHARS`] characters after normalising. A shorter one (an old 16-character
/// code, or a guess) is refused before any lookup, exactly like a wrong code.
pub fn recovery_code_acceptable(code: &str) -> bool {
    normalize_recovery_code(code).len() >= RECOVERY_CODE_CHARS
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
        assert_eq!(c.len(), 29, "{c}");
        let chars = normalize_recovery_code(&c);
        // base32: 5 bits a character; at least 112 bits of entropy (ASVS 6.5.2).
        assert!(chars.len() * 5 >= 112, "{c}");
        assert!(
            chars
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        );
        assert_ne!(c, new_recovery_code());
        assert!(recovery_code_acceptable(&c));
        assert!(recovery_code_acceptable(
            &c.to_uppercase().replace('-', " ")
        ));
        // An 80-bit code of the old shape (16 characters in four groups) is refused.
        assert!(!recovery_code_acceptable(&c[..19]));
        assert!(!recovery_code_acceptable("abcd-efgh-ijkl-mnop"));
        assert!(!recovery_code_acceptable(""));
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
