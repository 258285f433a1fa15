//! AAM's own audit log: every write to AAM's data (registry, settings) with actor, action,
//! resource, old and new value (sensitive values masked), IP, user agent and request id.
//! Written in the same transaction as the change, so a change and its record commit together.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgExecutor;
use utoipa::ToSchema;

use crate::auth::Caller;

pub const MASK: &str = "********";

/// Object keys whose values are secrets wherever they appear.
fn sensitive_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "credential",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Replaces the values of secret-looking keys, recursively.
pub fn mask(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    if sensitive_key(k) && !v.is_null() {
                        (k.clone(), Value::String(MASK.into()))
                    } else {
                        (k.clone(), mask(v))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(mask).collect()),
        other => other.clone(),
    }
}

pub struct Entry<'a> {
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

pub async fn record<'e>(
    db: impl PgExecutor<'e>,
    caller: &Caller,
    e: Entry<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_log (actor_id, actor_name, action, resource_type, resource_id,
                                old_value, new_value, ip, user_agent, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        caller.claims.sub,
        caller.name(),
        e.action,
        e.resource_type,
        &e.resource_id,
        e.old.as_ref().map(mask),
        e.new.as_ref().map(mask),
        caller.meta.ip.to_string(),
        &caller.meta.user_agent,
        &caller.meta.request_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One row of AAM's audit log.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AamEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<uuid::Uuid>,
    pub actor_name: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_secrets_at_any_depth() {
        let v = json!({"name": "x", "smtp": {"password": "hunter2", "host": "h"},
                       "list": [{"api_key": "k"}], "access_token": null});
        let m = mask(&v);
        assert_eq!(m["smtp"]["password"], MASK);
        assert_eq!(m["smtp"]["host"], "h");
        assert_eq!(m["list"][0]["api_key"], MASK);
        assert_eq!(m["name"], "x");
        assert!(m["access_token"].is_null());
        assert!(!m.to_string().contains("hunter2"));
    }
}
