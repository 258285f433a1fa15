//! Validated input at the edge ("parse, don't validate").
//!
//! A request field with rules (an e-mail address, a URL, a code) is a newtype whose
//! `Deserialize` runs the rules, so a handler only ever sees a value that passed them. A
//! value that fails is answered by the JSON extractor ([`crate::extract::Json`]) with the
//! same error as a handler's check would give: 422 `validation_failed`, `details.field`
//! naming the JSON field (the path serde was at), and any further details (e.g. `reason`).
//!
//! serde's error type can only carry text, so the failure travels inside the message
//! between two [`MARK`] characters as JSON; [`decode`] reads it back.

use serde::de::Error as _;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// ASCII unit separator: never part of a message we write (the rules reject control
/// characters before quoting anything, and the carried JSON escapes it). serde itself quotes
/// input text in some messages, so only a message that starts with it is ours ([`decode`]).
const MARK: char = '\u{1f}';

/// Stands for the field name in a message made while decoding, where only the JSON path
/// (known later) can say which field it was; [`decode`] puts the name in.
const FIELD_SLOT: &str = "\u{1e}";

/// A value with rules: parsed from the text a client sent.
pub trait Validated: Sized {
    /// The field name used in the message when the JSON path is not known (a direct call).
    const FIELD: &'static str;

    /// Checks and normalises `raw`; the error names `field`.
    fn parse_field(field: &str, raw: &str) -> Result<Self, ApiError>;

    /// [`Validated::parse_field`] with the type's usual field name.
    fn parse(raw: &str) -> Result<Self, ApiError> {
        Self::parse_field(Self::FIELD, raw)
    }
}

/// Deserializes a string and validates it; use as the body of a `Deserialize` impl.
pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: Validated,
    D: serde::Deserializer<'de>,
{
    let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    T::parse_field(FIELD_SLOT, &raw).map_err(|e| D::Error::custom(encode(&e)))
}

/// The serde message that carries `e` through a deserializer.
pub fn encode(e: &ApiError) -> String {
    let mut details = e.details.clone();
    // The JSON path replaces the type's default field name when decoded.
    details.remove("field");
    let body = serde_json::json!({ "message": e.message, "details": details });
    format!("{MARK}{body}{MARK}")
}

/// The validation error carried in a serde message, if it carries one, naming `field`.
pub fn decode(message: &str, field: &str) -> Option<ApiError> {
    // Our message is all of serde's (plus its " at line N column M"): a mark further in is
    // the client's own text that serde quoted (an unknown variant or field), not ours.
    if !message.starts_with(MARK) {
        return None;
    }
    let start = 0;
    let end = message.rfind(MARK)?;
    if end <= start {
        return None;
    }
    let body: Value = serde_json::from_str(&message[start + MARK.len_utf8()..end]).ok()?;
    let text = body.get("message")?.as_str()?.replace(FIELD_SLOT, field);
    let mut e = ApiError::field(field, text);
    if let Some(Value::Object(details)) = body.get("details") {
        let extra: Map<String, Value> = details.clone();
        for (k, v) in extra {
            e.details.insert(k, v);
        }
    }
    Some(e)
}

/// Declares a validated text newtype: `pub struct Name(String)` holding the checked (and
/// normalised) text, serialized as that text, deserialized through [`deserialize`] so a body
/// with a bad value is refused naming its JSON field, with `as_str`, `into_inner`, `Deref<str>`,
/// `Display` and `Into<String>`.
///
/// The type supplies the rules as an inherent
/// `fn check(field: &str, raw: &str) -> Result<String, ApiError>` returning the text to keep;
/// `field` is the default field name used by [`Validated::parse`]. Extra attributes (docs,
/// derives such as `sqlx::Type` with `#[sqlx(transparent)]`) go before the name. The calling
/// crate needs `serde` as a dependency (the `Serialize` derive names it).
///
/// ```
/// use ovu_kit::{ApiError, input::Validated};
/// ovu_kit::text_type!(
///     /// Two letters.
///     Code, "code"
/// );
/// impl Code {
///     fn check(field: &str, raw: &str) -> Result<String, ApiError> {
///         let c = raw.trim();
///         if c.len() == 2 && c.bytes().all(|b| b.is_ascii_lowercase()) {
///             Ok(c.to_string())
///         } else {
///             Err(ApiError::field(field, "must be two letters"))
///         }
///     }
/// }
/// assert_eq!(Code::parse(" ab ").unwrap().as_str(), "ab");
/// assert_eq!(Code::parse("abc").unwrap_err().details["field"], "code");
/// ```
#[macro_export]
macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, ::serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl ::std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::input::deserialize(d)
            }
        }

        impl $crate::input::Validated for $name {
            const FIELD: &'static str = $field;
            fn parse_field(field: &str, raw: &str) -> Result<Self, $crate::ApiError> {
                Self::check(field, raw).map($name)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Even(u32);

    impl Validated for Even {
        const FIELD: &'static str = "n";
        fn parse_field(field: &str, raw: &str) -> Result<Self, ApiError> {
            match raw.parse::<u32>() {
                Ok(n) if n % 2 == 0 => Ok(Even(n)),
                _ => Err(ApiError::field(field, format!("{field} must be even"))
                    .with_detail("reason", "odd")),
            }
        }
    }

    impl<'de> serde::Deserialize<'de> for Even {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d)
        }
    }

    #[test]
    fn a_failure_survives_serde_and_names_the_json_field() {
        let err = serde_json::from_str::<Even>(r#""3""#).unwrap_err();
        let e = decode(&err.to_string(), "count").unwrap();
        assert_eq!(e.code, "validation_failed");
        assert_eq!(e.status, 422);
        assert_eq!(e.message, "count must be even");
        assert_eq!(e.details["field"], "count");
        assert_eq!(e.details["reason"], "odd");
        assert_eq!(serde_json::from_str::<Even>(r#""4""#).unwrap().0, 4);
    }

    crate::text_type!(
        /// Trimmed, at most 3 characters.
        Short,
        "short"
    );

    impl Short {
        fn check(field: &str, raw: &str) -> Result<String, ApiError> {
            let s = raw.trim();
            if s.chars().count() <= 3 {
                Ok(s.to_string())
            } else {
                Err(ApiError::field(
                    field,
                    format!("{field} must be at most 3 characters"),
                ))
            }
        }
    }

    #[test]
    fn text_type_keeps_the_checked_text_and_names_the_json_field() {
        let s = Short::parse(" ab ").unwrap();
        assert_eq!(
            (s.as_str(), &*s, s.to_string()),
            ("ab", "ab", "ab".to_string())
        );
        assert_eq!(serde_json::to_value(&s).unwrap(), "ab");
        assert_eq!(String::from(s.clone()), s.into_inner());
        assert_eq!(Short::parse("abcd").unwrap_err().details["field"], "short");
        assert_eq!(
            serde_json::from_str::<Short>(r#"" xy ""#).unwrap().as_str(),
            "xy"
        );
        let err = serde_json::from_str::<Short>(r#""abcd""#).unwrap_err();
        let e = decode(&err.to_string(), "nick").unwrap();
        assert_eq!(e.message, "nick must be at most 3 characters");
        assert_eq!(e.details["field"], "nick");
    }

    #[test]
    fn other_serde_errors_are_not_mistaken_for_one() {
        let err = serde_json::from_str::<Even>("4").unwrap_err();
        assert!(decode(&err.to_string(), "n").is_none());
        assert!(decode("plain", "n").is_none());
        assert!(decode("\u{1f}", "n").is_none());
    }

    /// serde quotes the client's own text in some messages (an unknown enum variant, an
    /// unknown field): text between two marks there must not become the error (found while
    /// writing the body fuzzing: a client could choose its own 422's message and details).
    #[test]
    fn input_text_quoted_by_serde_cannot_forge_a_field_error() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum Kind {
            A,
        }
        let forged = r#"\u001f{\"message\":\"forged\",\"details\":{\"field\":\"x\"}}\u001f"#;
        let err = serde_json::from_str::<Kind>(&format!("\"{forged}\"")).unwrap_err();
        assert!(err.to_string().contains('\u{1f}'), "{err}");
        assert!(decode(&err.to_string(), "kind").is_none(), "{err}");
    }
}
