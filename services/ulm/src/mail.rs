//! Outgoing mail. With no SMTP configured (today's only mode) messages land in the
//! `outbox` table, which admins read at `GET /admin/outbox` and tests read for links.

use sqlx::PgExecutor;

pub async fn queue<'e>(
    db: impl PgExecutor<'e>,
    to: &str,
    kind: &str,
    subject: &str,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox (to_email, kind, subject, body) VALUES ($1, $2, $3, $4)")
        .bind(to)
        .bind(kind)
        .bind(subject)
        .bind(body)
        .execute(db)
        .await?;
    tracing::info!(kind, "mail queued in outbox");
    Ok(())
}
