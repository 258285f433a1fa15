//! Retention: what ULM stops needing is deleted instead of piling up for ever — expired and
//! used one-time tokens (verification, reset), refresh tokens past their expiry, sessions that
//! ended more than `ULM_SESSION_RETENTION_DAYS` ago, audit events older than
//! `ULM_AUDIT_RETENTION_DAYS`, and outbox rows of mail sent (or given up on) more than
//! `ULM_MAIL_RETENTION_DAYS` ago.
//!
//! Deletes run in batches by `ctid` so no statement holds many row locks or runs long, and
//! every condition is idempotent, so several replicas may prune at once.

use sqlx::PgPool;

/// Rows deleted per statement.
const BATCH: i64 = 5_000;

/// How long what ended is kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// `ULM_SESSION_RETENTION_DAYS` (default 30): ended sessions (signed out, revoked,
    /// expired) stay visible this long for investigations.
    pub session_days: u64,
    /// `ULM_AUDIT_RETENTION_DAYS` (default 365): the audit log's horizon.
    pub audit_days: u64,
    /// `ULM_MAIL_RETENTION_DAYS` (default 30): how long the outbox remembers a delivered or
    /// abandoned mail (kind, recipient, attempts: enough to answer "was it sent?").
    pub mail_days: u64,
}

/// What one pass deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub one_time_tokens: u64,
    pub refresh_tokens: u64,
    pub sessions: u64,
    pub audit_events: u64,
    pub mail: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.one_time_tokens + self.refresh_tokens + self.sessions + self.audit_events + self.mail
    }
}

/// Deletes every row of `table` matching `condition` in batches; `$1` in the condition is
/// `days` when given.
async fn prune(
    db: &PgPool,
    table: &str,
    condition: &str,
    days: Option<u64>,
) -> Result<u64, sqlx::Error> {
    // Dynamic on purpose: the table is an identifier, which no bind parameter can stand
    // for, and the five (table, condition) pairs come from `tick` below, never from input.
    let sql = format!(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {condition} LIMIT {BATCH}))"
    );
    let mut total = 0;
    loop {
        let mut q = sqlx::query(&sql);
        if let Some(d) = days {
            q = q.bind(i32::try_from(d).unwrap_or(i32::MAX));
        }
        let n = q.execute(db).await?.rows_affected();
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// One retention pass.
pub async fn tick(db: &PgPool, r: Retention) -> Result<Pruned, sqlx::Error> {
    Ok(Pruned {
        // A used or expired link is worthless after a day (kept that long to tell a user who
        // clicks twice why it no longer works).
        one_time_tokens: prune(
            db,
            "one_time_tokens",
            "(used_at IS NOT NULL OR expires_at < now()) AND created_at < now() - interval '1 day'",
            None,
        )
        .await?,
        // An expired refresh token can neither be used nor replayed.
        refresh_tokens: prune(
            db,
            "refresh_tokens",
            "expires_at < now() - interval '1 day'",
            None,
        )
        .await?,
        // Their refresh tokens go with them (ON DELETE CASCADE).
        sessions: prune(
            db,
            "sessions",
            "COALESCE(LEAST(revoked_at, expires_at), expires_at) < now() - make_interval(days => $1)",
            Some(r.session_days),
        )
        .await?,
        audit_events: prune(
            db,
            "audit_events",
            "occurred_at < now() - make_interval(days => $1)",
            Some(r.audit_days),
        )
        .await?,
        // Queued mail is kept whatever its age: the worker still owes it a delivery.
        mail: prune(
            db,
            "outbox",
            "state IN ('sent', 'failed') AND COALESCE(sent_at, next_attempt_at) < now() - make_interval(days => $1)",
            Some(r.mail_days),
        )
        .await?,
    })
}
