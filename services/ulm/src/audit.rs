//! Audit events: who did what to whom, when, from where (IP, user agent, request id).
//! Details never hold secrets — no passwords, tokens, codes or key material.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ovu_kit::net::{ClientIp, RequestId, UserAgent};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

/// Where a request came from; extracted once per handler that writes audit events.
#[derive(Debug, Clone)]
pub struct Meta {
    pub ip: IpAddr,
    pub user_agent: String,
    pub request_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let UserAgent(user_agent) = UserAgent::from_request_parts(parts, state).await?;
        let RequestId(id) = RequestId::from_request_parts(parts, state).await?;
        Ok(Self {
            ip,
            user_agent,
            request_id: id.to_string(),
        })
    }
}

pub struct Event<'a> {
    pub kind: &'a str,
    pub actor: Option<Uuid>,
    pub subject: Option<Uuid>,
    pub details: Value,
}

impl<'a> Event<'a> {
    pub fn new(kind: &'a str) -> Self {
        Self {
            kind,
            actor: None,
            subject: None,
            details: Value::Object(Default::default()),
        }
    }
    pub fn actor(mut self, id: Uuid) -> Self {
        self.actor = Some(id);
        self
    }
    pub fn subject(mut self, id: Uuid) -> Self {
        self.subject = Some(id);
        self
    }
    /// Both actor and subject: a person acting on their own account.
    pub fn by_self(self, id: Uuid) -> Self {
        self.actor(id).subject(id)
    }
    pub fn details(mut self, v: Value) -> Self {
        self.details = v;
        self
    }
}

/// Writes the event in the caller's transaction (or pool), so an action and its audit
/// record commit together.
pub async fn record<'e>(
    db: impl PgExecutor<'e>,
    meta: &Meta,
    e: Event<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_events (event_type, actor_id, subject_id, ip, user_agent, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        e.kind,
        e.actor,
        e.subject,
        meta.ip.to_string(),
        &meta.user_agent,
        &meta.request_id,
        &e.details
    )
    .execute(db)
    .await?;
    Ok(())
}
