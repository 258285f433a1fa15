//! Password rules from ASVS 5.0: 8–128 characters (Unicode scalar values), no
//! composition rules, no common passwords, and none of the last five reused.

use std::collections::HashSet;
use std::sync::LazyLock;

use ovu_kit::ApiError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;
pub const HISTORY: i64 = 5;

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect()
});

/// Checks a new password; `context` holds the user's e-mail and username, which must not
/// be the password either.
pub fn check(field: &str, password: &str, context: &[&str]) -> Result<(), ApiError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(ApiError::field(
            field,
            format!("password must be at least {MIN_LEN} characters"),
        )
        .with_detail("reason", "too_short"));
    }
    if len > MAX_LEN {
        return Err(ApiError::field(
            field,
            format!("password must be at most {MAX_LEN} characters"),
        )
        .with_detail("reason", "too_long"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower)
        || context
            .iter()
            .any(|c| !c.is_empty() && c.to_lowercase() == lower)
    {
        return Err(
            ApiError::field(field, "this password is too common or too easy to guess")
                .with_detail("reason", "too_common"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_without_composition_rules() {
        assert!(check("p", "short", &[]).is_err());
        assert!(check("p", "all lowercase words here", &[]).is_ok());
        assert!(check("p", &"x".repeat(128), &[]).is_ok());
        assert!(check("p", &"x".repeat(129), &[]).is_err());
        // Eight characters counted as characters, not bytes.
        assert!(check("p", "שלוםעולםם", &[]).is_ok());
    }

    #[test]
    fn common_and_personal_passwords_are_refused() {
        for p in [
            "password",
            "Password1",
            "12345678",
            "qwertyuiop",
            "iloveyou",
        ] {
            let e = check("p", p, &[]).unwrap_err();
            assert_eq!(e.details["reason"], "too_common", "{p}");
        }
        assert!(check("p", "dana@example.com", &["dana@example.com", "dana"]).is_err());
    }
}
