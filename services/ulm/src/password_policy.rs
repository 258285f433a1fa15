//! Password rules from ASVS 5.0: 8–128 characters (Unicode scalar values), no
//! composition rules, no common passwords, and none of the last five reused.
//!
//! The common-password list (`common_passwords.txt`) is the 10,000 most frequent passwords of
//! zxcvbn 4.4.2's frequency list (npm package `zxcvbn`, MIT licence, Copyright (c) 2012-2016
//! Dan Wheeler and Dropbox, Inc.) merged with our earlier hand-made 214, lower-cased, sorted
//! by bytes and de-duplicated. To regenerate: `npm pack zxcvbn@4.4.2`, take the first 10,000
//! comma-separated entries of `passwords` in `lib/frequency_lists.js`, lower-case, merge, and
//! sort with `LC_ALL=C sort -u` under the comment header.

use std::sync::LazyLock;

use ovu_kit::ApiError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;
pub const HISTORY: i64 = 5;

/// The list, embedded and parsed once: a sorted slice borrowed from the binary, searched by
/// bisection, so it costs no allocation per entry and about 14 comparisons per check.
static COMMON: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut list: Vec<&'static str> = include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // The file is committed sorted; sorting again costs little once and keeps a hand edit
    // out of order from silently breaking the search.
    list.sort_unstable();
    list.dedup();
    list
});

/// Whether `password` (compared in lower case) is on the common-password list.
pub fn is_common(password: &str) -> bool {
    COMMON
        .binary_search(&password.to_lowercase().as_str())
        .is_ok()
}

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
    if is_common(&lower)
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

    #[test]
    fn the_list_holds_the_ten_thousand_most_common_passwords() {
        assert!(COMMON.len() >= 10_000, "{} entries", COMMON.len());
        // In zxcvbn's top 10,000 but not in the old 214-entry list; upper case still matches.
        for p in ["commando", "monopoly", "Romashka", "123456aa"] {
            assert!(is_common(p), "{p}");
            assert_eq!(
                check("p", p, &[]).unwrap_err().details["reason"],
                "too_common"
            );
        }
        assert!(!is_common("correct horse battery staple"));
    }
}
