//! The settings AAM knows: each key's type, bounds, default and sensitivity, in one table.
//!
//! Values are JSON, validated against the key's [`Kind`] before they are stored; only values
//! that differ from the default are kept in the database, so a new default ships with a
//! new release while an administrator's choice survives it.

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::MASK;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Text {
        max_len: usize,
    },
    OneOf(&'static [&'static str]),
    /// An `http(s)://` URL or the empty string.
    Url,
    /// An e-mail address or the empty string.
    Email,
}

impl Kind {
    /// The JSON Schema fragment shown to clients.
    pub fn schema(&self) -> Value {
        match *self {
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
            Kind::Text { max_len } => json!({"type": "string", "maxLength": max_len}),
            Kind::OneOf(v) => json!({"type": "string", "enum": v}),
            Kind::Url => json!({"type": "string", "format": "uri", "maxLength": 2000}),
            Kind::Email => json!({"type": "string", "format": "email", "maxLength": 254}),
        }
    }

    /// Checks a value; the message is for the client.
    pub fn validate(&self, v: &Value) -> Result<(), String> {
        match *self {
            Kind::Bool => v
                .as_bool()
                .map(|_| ())
                .ok_or_else(|| "expected true or false".into()),
            Kind::Int { min, max } => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(format!("expected an integer from {min} to {max}")),
            },
            Kind::Text { max_len } => match v.as_str() {
                Some(s)
                    if s.chars().count() <= max_len
                        && !s.chars().any(|c| c.is_control() && c != '\n') =>
                {
                    Ok(())
                }
                _ => Err(format!("expected text of at most {max_len} characters")),
            },
            Kind::OneOf(allowed) => match v.as_str() {
                Some(s) if allowed.contains(&s) => Ok(()),
                _ => Err(format!("expected one of {}", allowed.join(", "))),
            },
            Kind::Url => match v.as_str() {
                Some("") => Ok(()),
                Some(s)
                    if s.len() <= 2000
                        && reqwest::Url::parse(s).is_ok_and(|u| {
                            matches!(u.scheme(), "http" | "https") && u.host().is_some()
                        }) =>
                {
                    Ok(())
                }
                _ => Err("expected an http(s) URL or an empty string".into()),
            },
            Kind::Email => match v.as_str() {
                Some("") => Ok(()),
                Some(s) if is_email(s) => Ok(()),
                _ => Err("expected an e-mail address or an empty string".into()),
            },
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Int { .. } => "integer",
            Kind::Text { .. } => "text",
            Kind::OneOf(_) => "enum",
            Kind::Url => "url",
            Kind::Email => "email",
        }
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

#[derive(Debug)]
pub struct Def {
    pub category: &'static str,
    pub key: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub default: fn() -> Value,
    /// Masked on read and in history and audit.
    pub sensitive: bool,
}

pub const LANGUAGES: &[&str] = &["en", "he", "ar"];

pub static DEFS: &[Def] = &[
    Def {
        category: "general",
        key: "default_language",
        description: "Language of the web apps for people who have not chosen one",
        kind: Kind::OneOf(LANGUAGES),
        default: || json!("en"),
        sensitive: false,
    },
    Def {
        category: "general",
        key: "site_name",
        description: "Product name shown in page titles and e-mails",
        kind: Kind::Text { max_len: 100 },
        default: || json!("OVU"),
        sensitive: false,
    },
    Def {
        category: "general",
        key: "support_email",
        description: "Where users are told to write for help",
        kind: Kind::Email,
        default: || json!(""),
        sensitive: false,
    },
    Def {
        category: "maintenance",
        key: "banner_enabled",
        description: "Show the maintenance banner in both web apps",
        kind: Kind::Bool,
        default: || json!(false),
        sensitive: false,
    },
    Def {
        category: "maintenance",
        key: "banner_message",
        description: "Text of the maintenance banner",
        kind: Kind::Text { max_len: 500 },
        default: || json!(""),
        sensitive: false,
    },
    Def {
        category: "maintenance",
        key: "banner_level",
        description: "Severity of the maintenance banner",
        kind: Kind::OneOf(&["info", "warning", "critical"]),
        default: || json!("info"),
        sensitive: false,
    },
    Def {
        category: "audit",
        key: "retention_days",
        description: "How long audit events are kept",
        kind: Kind::Int { min: 30, max: 3650 },
        default: || json!(365),
        sensitive: false,
    },
    Def {
        category: "dashboard",
        key: "refresh_seconds",
        description: "How often the admin dashboard refreshes itself",
        kind: Kind::Int { min: 5, max: 3600 },
        default: || json!(60),
        sensitive: false,
    },
    Def {
        category: "notifications",
        key: "alert_webhook_url",
        description: "Webhook called when a service turns unhealthy (its URL usually carries a token)",
        kind: Kind::Url,
        default: || json!(""),
        sensitive: true,
    },
];

/// ULM's token policy (`security/session_policy`) is shown among the settings but lives in
/// ULM: AAM reads it with the caller's token and never stores it.
pub const ULM_CATEGORY: &str = "security";
pub const ULM_SESSION_POLICY_KEY: &str = "session_policy";

pub fn find(category: &str, key: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.category == category && d.key == key)
}

/// The value a client may see.
pub fn shown(def: &Def, v: &Value) -> Value {
    if def.sensitive && v.as_str().is_none_or(|s| !s.is_empty()) {
        json!(MASK)
    } else {
        v.clone()
    }
}

/// One setting as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Setting {
    pub category: String,
    pub key: String,
    pub description: String,
    /// `boolean`, `integer`, `text`, `enum`, `url`, `email`, or `object` (ULM's policy).
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub type_: String,
    /// JSON Schema of the value.
    pub schema: Value,
    /// The value in force (masked when sensitive).
    pub value: Value,
    pub default_value: Value,
    pub is_default: bool,
    pub sensitive: bool,
    /// `aam`, or `ulm` for values that live in ULM (read-only here).
    pub source: String,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_by: Option<uuid::Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_satisfy_their_own_schema() {
        for d in DEFS {
            d.kind
                .validate(&(d.default)())
                .unwrap_or_else(|e| panic!("{}/{}: {e}", d.category, d.key));
        }
    }

    #[test]
    fn validation_rejects_wrong_types_and_bounds() {
        let lang = find("general", "default_language").unwrap();
        assert!(lang.kind.validate(&json!("he")).is_ok());
        assert!(lang.kind.validate(&json!("fr")).is_err());
        assert!(lang.kind.validate(&json!(1)).is_err());
        let days = find("audit", "retention_days").unwrap();
        assert!(days.kind.validate(&json!(29)).is_err());
        assert!(days.kind.validate(&json!(30)).is_ok());
        assert!(days.kind.validate(&json!("30")).is_err());
        let url = find("notifications", "alert_webhook_url").unwrap();
        assert!(url.kind.validate(&json!("javascript:alert(1)")).is_err());
        assert!(
            url.kind
                .validate(&json!("https://hooks.example/x?token=1"))
                .is_ok()
        );
        assert!(Kind::Email.validate(&json!("a@b")).is_err());
        assert!(Kind::Email.validate(&json!("help@example.com")).is_ok());
        assert!(Kind::Text { max_len: 3 }.validate(&json!("abcd")).is_err());
    }

    #[test]
    fn sensitive_values_are_masked_but_empty_is_shown() {
        let url = find("notifications", "alert_webhook_url").unwrap();
        assert_eq!(
            shown(url, &json!("https://x.example/?t=secret")),
            json!(MASK)
        );
        assert_eq!(shown(url, &json!("")), json!(""));
    }
}
