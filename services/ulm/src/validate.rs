//! Input rules for identity fields ("parse, don't validate": handlers get normalised values).

use ovu_kit::ApiError;

/// Trims and checks an e-mail address: one `@`, non-empty local part, a dotted domain,
/// no spaces or control characters, at most 254 characters. Case is kept; uniqueness is
/// case-insensitive in the database.
pub fn email(field: &str, raw: &str) -> Result<String, ApiError> {
    let e = raw.trim();
    let bad = || ApiError::field(field, "must be a valid e-mail address");
    if e.len() < 3 || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(e.to_string())
}

pub fn username(field: &str, raw: &str) -> Result<String, ApiError> {
    let u = raw.trim();
    if !(3..=64).contains(&u.len())
        || !u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(ApiError::field(
            field,
            "must be 3–64 characters: letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(u.to_string())
}

pub fn display_name(field: &str, raw: &str) -> Result<String, ApiError> {
    let d = raw.trim();
    if d.chars().count() > 128 || d.chars().any(|c| c.is_control()) {
        return Err(ApiError::field(
            field,
            "must be at most 128 printable characters",
        ));
    }
    Ok(d.to_string())
}

pub fn language(field: &str, raw: &str) -> Result<String, ApiError> {
    match raw.trim() {
        l @ ("en" | "he" | "ar") => Ok(l.to_string()),
        _ => Err(ApiError::field(field, "must be one of en, he, ar")),
    }
}

/// A phone number in E.164 form: `+`, then 8–15 digits, the first not 0. People type
/// numbers with spaces, dashes, dots or brackets between the digits; those are dropped so
/// the stored value is canonical (one number, one spelling). Arabic-Indic digits (what an
/// Arabic keyboard types) become ASCII digits. Empty (after trimming) clears it.
pub fn phone(field: &str, raw: &str) -> Result<String, ApiError> {
    let p = raw.trim();
    if p.is_empty() {
        return Ok(String::new());
    }
    let bad = || {
        ApiError::field(
            field,
            format!(
                "{field} must be an international number: '+' and 8–15 digits, e.g. +972501234567"
            ),
        )
        .with_detail("reason", "invalid_phone")
    };
    let rest = p.strip_prefix('+').ok_or_else(bad)?;
    // Bound the work before looking at characters: a valid number with separators is short.
    if rest.len() > 64 {
        return Err(bad());
    }
    let mut digits = String::with_capacity(15);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            // Arabic-Indic (U+0660–0669) and Eastern Arabic-Indic (U+06F0–06F9) digits.
            '\u{0660}'..='\u{0669}' => digits.push(char::from(b'0' + (c as u32 - 0x0660) as u8)),
            '\u{06F0}'..='\u{06F9}' => digits.push(char::from(b'0' + (c as u32 - 0x06F0) as u8)),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(bad()),
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(bad());
    }
    Ok(format!("+{digits}"))
}

/// Free text such as a deactivation reason.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be 1–{max} characters"),
        ));
    }
    Ok(t.to_string())
}

/// A value that goes into SQL LIKE: escape the wildcards.
pub fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("e", " Dana@Example.com ").unwrap(),
            "Dana@Example.com"
        );
        for bad in [
            "", "a", "a@b", "@x.io", "a@@x.io", "a b@x.io", "a@x..io", "a@.x.io",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(phone("phone", "").unwrap(), "");
        assert_eq!(phone("phone", "   ").unwrap(), "");
        assert_eq!(
            phone("phone", " +972 (50) 123-45.67 ").unwrap(),
            "+972501234567"
        );
        assert_eq!(phone("phone", "+12345678").unwrap(), "+12345678");
        assert_eq!(phone("phone", "+٩٧٢٥٠١٢٣٤٥٦٧").unwrap(), "+972501234567");
        assert_eq!(
            phone("phone", "+123456789012345").unwrap(),
            "+123456789012345"
        );
        for bad in [
            "0501234567",
            "+",
            "+1234567",
            "+1234567890123456",
            "+0501234567",
            "+972-50-abc-4567",
            "++972501234567",
            "+97250123456\u{0}",
        ] {
            let e = phone("phone", bad).unwrap_err();
            assert_eq!(e.code, "validation_failed", "{bad}");
            assert_eq!(e.details["field"], "phone", "{bad}");
            assert_eq!(e.details["reason"], "invalid_phone", "{bad}");
            assert!(e.message.contains("phone"), "{bad}");
        }
    }

    #[test]
    fn usernames_and_like() {
        assert!(username("u", "dana_k-1.x").is_ok());
        assert!(username("u", "da").is_err());
        assert!(username("u", "dana k").is_err());
        assert_eq!(like_pattern("50%_a"), "%50\\%\\_a%");
    }
}
