//! Identity fields with rules, checked while a request body is decoded ("parse, don't
//! validate"). A failure is the error the handlers used to return themselves: 422
//! `validation_failed` with `details.field` (and for a phone `details.reason =
//! "invalid_phone"`); see [`ovu_kit::input`] for how it travels through serde.
//!
//! Each type holds the normalised text (trimmed; a phone in E.164) and serializes as it,
//! so AAM relays what ULM would store.

use ovu_kit::{ApiError, text_type};

text_type!(
    /// An e-mail address: one `@`, non-empty local part, a dotted domain, no spaces or
    /// control characters, at most 254 characters. Case is kept; uniqueness is
    /// case-insensitive in the database.
    Email,
    "email"
);
text_type!(
    /// 3–64 characters: letters, digits, `.`, `_`, `-`.
    Username,
    "username"
);
text_type!(
    /// At most 128 printable characters (may be empty).
    DisplayName,
    "display_name"
);
text_type!(
    /// A language the apps speak: `en`, `he` or `ar`.
    Language,
    "preferred_language"
);
text_type!(
    /// A phone number in E.164 form (`+`, then 8–15 digits, the first not 0), or empty to
    /// clear it. People type numbers with spaces, dashes, dots or brackets between the
    /// digits; those are dropped so the stored value is canonical (one number, one
    /// spelling). Arabic-Indic digits (what an Arabic keyboard types) become ASCII digits.
    Phone,
    "phone"
);

impl Email {
    fn check(field: &str, raw: &str) -> Result<String, ApiError> {
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
}

impl Username {
    fn check(field: &str, raw: &str) -> Result<String, ApiError> {
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
}

impl DisplayName {
    fn check(field: &str, raw: &str) -> Result<String, ApiError> {
        let d = raw.trim();
        if d.chars().count() > 128 || d.chars().any(|c| c.is_control()) {
            return Err(ApiError::field(
                field,
                "must be at most 128 printable characters",
            ));
        }
        Ok(d.to_string())
    }
}

impl Language {
    /// What an account speaks until it says otherwise.
    pub fn english() -> Self {
        Language("en".to_string())
    }

    fn check(field: &str, raw: &str) -> Result<String, ApiError> {
        match raw.trim() {
            l @ ("en" | "he" | "ar") => Ok(l.to_string()),
            _ => Err(ApiError::field(field, "must be one of en, he, ar")),
        }
    }
}

impl Phone {
    /// No number.
    pub fn none() -> Self {
        Phone(String::new())
    }

    fn check(field: &str, raw: &str) -> Result<String, ApiError> {
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
                '\u{0660}'..='\u{0669}' => {
                    digits.push(char::from(b'0' + (c as u32 - 0x0660) as u8))
                }
                '\u{06F0}'..='\u{06F9}' => {
                    digits.push(char::from(b'0' + (c as u32 - 0x06F0) as u8))
                }
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(bad()),
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(bad());
        }
        Ok(format!("+{digits}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovu_kit::input::Validated;
    use serde::{Deserialize, Serialize};

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Dana@Example.com ").unwrap().as_str(),
            "Dana@Example.com"
        );
        for bad in [
            "", "a", "a@b", "@x.io", "a@@x.io", "a b@x.io", "a@x..io", "a@.x.io",
        ] {
            let e = Email::parse(bad).unwrap_err();
            assert_eq!(e.details["field"], "email", "{bad}");
            assert_eq!(e.message, "must be a valid e-mail address");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(Phone::parse("").unwrap().as_str(), "");
        assert_eq!(Phone::parse("   ").unwrap().as_str(), "");
        assert_eq!(
            Phone::parse(" +972 (50) 123-45.67 ").unwrap().as_str(),
            "+972501234567"
        );
        assert_eq!(Phone::parse("+12345678").unwrap().as_str(), "+12345678");
        assert_eq!(
            Phone::parse("+٩٧٢٥٠١٢٣٤٥٦٧").unwrap().as_str(),
            "+972501234567"
        );
        assert_eq!(
            Phone::parse("+123456789012345").unwrap().as_str(),
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
            let e = Phone::parse(bad).unwrap_err();
            assert_eq!(e.code, "validation_failed", "{bad}");
            assert_eq!(e.details["field"], "phone", "{bad}");
            assert_eq!(e.details["reason"], "invalid_phone", "{bad}");
            assert!(e.message.contains("phone"), "{bad}");
        }
    }

    #[test]
    fn usernames_display_names_and_languages() {
        assert_eq!(
            Username::parse(" dana_k-1.x ").unwrap().as_str(),
            "dana_k-1.x"
        );
        assert!(Username::parse("da").is_err());
        assert!(Username::parse("dana k").is_err());
        assert_eq!(DisplayName::parse("  Dana K ").unwrap().as_str(), "Dana K");
        assert_eq!(DisplayName::parse("").unwrap().as_str(), "");
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(129)).is_err());
        for l in ["en", " he ", "ar"] {
            assert_eq!(Language::parse(l).unwrap().as_str(), l.trim());
        }
        let e = Language::parse("fr").unwrap_err();
        assert_eq!(e.details["field"], "preferred_language");
        assert_eq!(e.message, "must be one of en, he, ar");
    }

    /// Decoding a body runs the rules; the value serializes normalised.
    #[test]
    fn bodies_validate_while_decoding_and_serialize_normalised() {
        #[derive(Debug, Deserialize, Serialize)]
        struct Body {
            email: Email,
            phone: Option<Phone>,
        }
        let b: Body =
            serde_json::from_str(r#"{"email":" a@b.io ","phone":"+972 50 123 4567"}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"email": "a@b.io", "phone": "+972501234567"})
        );
        let err = serde_json::from_str::<Body>(r#"{"email":"a@b.io","phone":"12"}"#)
            .unwrap_err()
            .to_string();
        let e = ovu_kit::input::decode(&err, "phone").unwrap();
        assert_eq!(e.details["reason"], "invalid_phone");
        assert!(serde_json::from_str::<Body>(r#"{"email":"nope"}"#).is_err());
    }
}
