//! Registry fields with rules, checked while a request body is decoded (see
//! [`ovu_kit::input`]): a handler gets only values that passed, and a failure is the 422
//! `validation_failed` naming the field that the handlers used to return themselves. The
//! machinery is `ovu_kit::text_type!`; these also map to and from a TEXT column (the
//! registry stores and reads them as they are), hence `sqlx::Type`.

use ovu_kit::{ApiError, text_type};

text_type!(
    /// An app's code: lowercase letters, digits, `_` and `-`, 2–32 characters, starting with
    /// a letter.
    #[derive(sqlx::Type)]
    #[sqlx(transparent)]
    AppCode,
    "code"
);
text_type!(
    /// An `http://` or `https://` URL with a host, at most 2000 characters, or empty (which
    /// clears a stored URL). Kept as typed: the parser would percent-encode control
    /// characters, but the text itself is stored, so those are refused instead.
    #[derive(sqlx::Type)]
    #[sqlx(transparent)]
    HttpUrl,
    "url"
);
text_type!(
    /// `#rrggbb`, or empty (which clears it).
    #[derive(sqlx::Type)]
    #[sqlx(transparent)]
    Color,
    "color"
);

impl AppCode {
    fn check(field: &str, v: &str) -> Result<String, ApiError> {
        let b = v.as_bytes();
        let ok = (2..=32).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-');
        if ok {
            Ok(v.to_string())
        } else {
            Err(ApiError::field(
                field,
                "code must be 2–32 lowercase letters, digits, _ or -, starting with a letter",
            ))
        }
    }
}

impl HttpUrl {
    fn check(field: &str, v: &str) -> Result<String, ApiError> {
        if v.is_empty() {
            return Ok(String::new());
        }
        let ok = v.len() <= 2000
            && !v.chars().any(|c| c.is_control() || c.is_whitespace())
            && (v.starts_with("http://") || v.starts_with("https://"))
            && reqwest::Url::parse(v).is_ok_and(|u| u.host().is_some());
        if ok {
            Ok(v.to_string())
        } else {
            Err(ApiError::field(
                field,
                format!("{field} must be an http(s) URL"),
            ))
        }
    }
}

impl Color {
    fn check(field: &str, v: &str) -> Result<String, ApiError> {
        let b = v.as_bytes();
        if v.is_empty()
            || (b.len() == 7 && b[0] == b'#' && b[1..].iter().all(u8::is_ascii_hexdigit))
        {
            Ok(v.to_string())
        } else {
            Err(ApiError::field(field, "color must look like #1a2b3c"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovu_kit::input::Validated;
    use serde::Deserialize;

    #[test]
    fn codes() {
        for ok in ["ab", "ulm", "a-b_c9", &"a".repeat(32)] {
            assert_eq!(AppCode::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["a", "9ab", "Ab", "a b", "a.b", &"a".repeat(33), ""] {
            let e = AppCode::parse(bad).unwrap_err();
            assert_eq!(e.details["field"], "code", "{bad}");
        }
    }

    #[test]
    fn urls_name_the_field_they_came_in() {
        assert_eq!(HttpUrl::parse("").unwrap().as_str(), "");
        assert!(HttpUrl::parse("https://ovu.example/x?y=1").is_ok());
        for bad in [
            "ftp://x.io",
            "https://",
            "http://a b.io",
            "https://x.io/\u{7}",
            "x.io",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
        // Through serde, the message names the JSON key, not the type's default.
        #[derive(Debug, Deserialize)]
        struct Body {
            #[allow(dead_code)]
            docs_url: HttpUrl,
        }
        let err = serde_json::from_str::<Body>(r#"{"docs_url":"nope"}"#)
            .unwrap_err()
            .to_string();
        let e = ovu_kit::input::decode(&err, "docs_url").unwrap();
        assert_eq!(e.message, "docs_url must be an http(s) URL");
        assert_eq!(e.details["field"], "docs_url");
    }

    #[test]
    fn colors() {
        assert!(Color::parse("").is_ok());
        assert!(Color::parse("#1a2B3c").is_ok());
        for bad in ["1a2b3c", "#1a2b3", "#1a2b3g", "#1a2b3c0"] {
            assert!(Color::parse(bad).is_err(), "{bad}");
        }
    }
}
