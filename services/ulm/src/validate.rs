//! Input rules for identity fields ("parse, don't validate": handlers get normalised values).

use ovu_kit::ApiError;
use ovu_kit::input::Validated;
use ovu_ulm_api::input::{DisplayName, Email};

// The identity rules live with the API types (ovu_ulm_api::input), which check them while a
// body is decoded; these are for text that does not arrive in a body (bootstrap settings)
// or under another field name (a role's description is display-name-shaped).

/// An e-mail address, trimmed (see [`Email`]).
pub fn email(field: &str, raw: &str) -> Result<String, ApiError> {
    Email::parse_field(field, raw).map(String::from)
}

/// Printable text of at most 128 characters, trimmed (see [`DisplayName`]).
pub fn display_name(field: &str, raw: &str) -> Result<String, ApiError> {
    DisplayName::parse_field(field, raw).map(String::from)
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

    /// The rules themselves are tested in ovu_ulm_api::input; here, that the field name
    /// given is the one the error names.
    #[test]
    fn errors_name_the_given_field() {
        let e = email("ULM_BOOTSTRAP_ADMIN_EMAIL", "nope").unwrap_err();
        assert_eq!(e.details["field"], "ULM_BOOTSTRAP_ADMIN_EMAIL");
        let e = display_name("description", &"x".repeat(200)).unwrap_err();
        assert_eq!(e.details["field"], "description");
        assert_eq!(email("e", " a@b.io ").unwrap(), "a@b.io");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a"), "%50\\%\\_a%");
    }
}
