//! What the admin area does on its own between requests, driven by two of its settings:
//! `notifications/alert_webhook_url` is called when a component's health changes, and
//! `audit/retention_days` bounds how long AAM's own audit log is kept.
//!
//! The webhook gets one JSON POST per change (`{"component", "status", "previous",
//! "message", "checked_at"}`), never for an unchanged status, with a short timeout and no
//! retries: a missed alert must not hold up the health poller, and the next change is sent
//! regardless. The URL usually carries a token, so it is never logged.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::poller::ComponentHealth;
use crate::settings;

/// A setting's value: the stored one, else the code-defined default.
pub async fn setting(db: &PgPool, category: &str, key: &str) -> Result<Value, sqlx::Error> {
    let stored: Option<Value> = sqlx::query_scalar!(
        "SELECT value FROM settings WHERE category = $1 AND key = $2",
        category,
        key
    )
    .fetch_optional(db)
    .await?;
    Ok(stored
        .or_else(|| settings::find(category, key).map(|d| (d.default)()))
        .unwrap_or(Value::Null))
}

/// Health changes since the last call, and the webhook calls for them.
pub struct Alerts {
    client: reqwest::Client,
    last: HashMap<String, String>,
}

impl Alerts {
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            last: HashMap::new(),
        })
    }

    /// Posts each component whose status differs from the previous sample. The first sample
    /// after start is remembered, and announced only when something is not healthy.
    /// Returns how many notifications were delivered.
    pub async fn observe(&mut self, db: &PgPool, results: &[ComponentHealth]) -> usize {
        let mut changes = Vec::new();
        for r in results {
            let previous = self.last.insert(r.component.clone(), r.status.clone());
            let changed = match &previous {
                Some(p) => *p != r.status,
                None => r.status != "healthy",
            };
            if changed {
                changes.push(json!({
                    "component": r.component,
                    "status": r.status,
                    "previous": previous,
                    "message": r.message,
                    "checked_at": r.checked_at,
                }));
            }
        }
        if changes.is_empty() {
            return 0;
        }
        let url = match setting(db, "notifications", "alert_webhook_url").await {
            Ok(Value::String(u)) if !u.is_empty() => u,
            Ok(_) => return 0,
            Err(e) => {
                tracing::warn!(error = %e, "reading the alert webhook setting failed");
                return 0;
            }
        };
        let mut sent = 0;
        for body in changes {
            match self.client.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => sent += 1,
                Ok(r) => {
                    tracing::warn!(status = %r.status(), component = %body["component"], "alert webhook refused the notification")
                }
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), component = %body["component"], "alert webhook unreachable")
                }
            }
        }
        sent
    }
}

/// Deletes AAM audit rows older than `audit/retention_days`; returns how many.
pub async fn prune_audit(db: &PgPool) -> Result<u64, sqlx::Error> {
    let days = setting(db, "audit", "retention_days")
        .await?
        .as_i64()
        .unwrap_or(365)
        .clamp(1, 3650) as i32;
    let mut total = 0;
    loop {
        let n = sqlx::query!(
            "DELETE FROM audit_log WHERE id = ANY(ARRAY(SELECT id FROM audit_log
               WHERE occurred_at < now() - make_interval(days => $1) LIMIT 5000))",
            days
        )
        .execute(db)
        .await?
        .rows_affected();
        total += n;
        if n < 5000 {
            return Ok(total);
        }
    }
}
