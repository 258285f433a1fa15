//! Outgoing mail: a durable queue in the `outbox` table, delivered over SMTP by a worker.
//!
//! What flows through it: a handler that wants a mail sent calls [`queue`] inside its own
//! transaction with only the kind and the recipient, and calls [`Mailer::wake`] after the
//! commit. The worker ([`run`]) claims due rows with `FOR UPDATE SKIP LOCKED`, and only then
//! mints the link's single-use token (its hash goes to `one_time_tokens`, as before), composes
//! the message and sends it. The row never holds a body, a link or a token, so a database
//! dump holds no usable link; links carry the token in the URL fragment, so it never reaches
//! an access log or a `Referer` either.
//!
//! A failed send invalidates the token it carried, counts the attempt, records the error and
//! backs off exponentially; a mail server outage, or a login it refuses, delays mail and loses
//! none. With no SMTP
//! configured the worker does not run and mail stays queued.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::response::Category;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::PgExecutor;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::config::{SmtpConfig, SmtpEndpoint, SmtpTls, UrlTls};
use crate::crypto::token_hash;
use crate::routes::auth::one_time_token;
use crate::state::AppState;

/// How long an e-mail verification link works, from the moment it is sent.
pub const VERIFY_TTL_HOURS: i64 = 24;
/// How long a password-reset link works, from the moment it is sent.
pub const RESET_TTL_HOURS: i64 = 1;

/// First retry after this long; each further failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// A mail still undelivered after this many attempts, or this long after it was queued, is
/// given up (`failed`): a verification link a day late is worth less than a clear state.
const MAX_ATTEMPTS: i32 = 30;
const MAX_AGE_HOURS: i64 = 24;
/// Rows one worker pass sends at most, so a stop request is seen between passes.
const BATCH: usize = 50;

/// What a mail is about. The text is composed from this at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    VerifyEmail,
    ResetPassword,
    RegisterExisting,
    RegisterUsernameTaken,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::ResetPassword => "reset_password",
            Kind::RegisterExisting => "register_existing",
            Kind::RegisterUsernameTaken => "register_username_taken",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Kind::VerifyEmail,
            Kind::ResetPassword,
            Kind::RegisterExisting,
            Kind::RegisterUsernameTaken,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Queues a mail in the caller's transaction. Call [`Mailer::wake`] after the commit.
pub async fn queue<'e>(
    db: impl PgExecutor<'e>,
    kind: Kind,
    user_id: Option<Uuid>,
    to: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO outbox (kind, user_id, to_email) VALUES ($1, $2, $3)",
        kind.as_str(),
        user_id,
        to
    )
    .execute(db)
    .await?;
    tracing::info!(kind = kind.as_str(), "mail queued");
    Ok(())
}

/// The SMTP side, shared by the handlers (to wake the worker) and the worker.
pub struct Mailer {
    transport: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    timeout: Duration,
    wake: Notify,
}

impl Mailer {
    pub fn new(cfg: Option<&SmtpConfig>) -> anyhow::Result<Arc<Self>> {
        let (transport, timeout) = match cfg {
            None => (None, Duration::from_secs(10)),
            Some(cfg) => {
                let from: Mailbox = cfg
                    .from
                    .parse()
                    .map_err(|e| anyhow::anyhow!("SMTP_FROM: {e}"))?;
                (Some((transport(cfg)?, from)), cfg.timeout)
            }
        };
        Ok(Arc::new(Self {
            transport,
            timeout,
            wake: Notify::new(),
        }))
    }

    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Tells the worker a row was committed, so it sends now rather than at the next poll.
    pub fn wake(&self) {
        // A permit is stored when the worker is busy, so a wake during a pass is not lost.
        self.wake.notify_one();
    }
}

fn transport(cfg: &SmtpConfig) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    // The same parameters lettre builds by itself, plus the roots of SMTP_CA_FILE if set.
    let params = |domain: &str| match &cfg.ca {
        None => {
            TlsParameters::new(domain.to_string()).map_err(|e| anyhow::anyhow!("SMTP TLS: {e}"))
        }
        Some(ca) => ca
            .tls_parameters(domain)
            .map_err(|e| anyhow::anyhow!("SMTP_CA_FILE: {e}")),
    };
    let builder = match &cfg.endpoint {
        SmtpEndpoint::Url {
            url, domain, tls, ..
        } => {
            let b = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?;
            // The URL's own TLS mode, rebuilt so that a private CA applies to it too.
            match tls {
                UrlTls::None => b,
                UrlTls::Opportunistic => b.tls(Tls::Opportunistic(params(domain)?)),
                UrlTls::Required => b.tls(Tls::Required(params(domain)?)),
                UrlTls::Wrapper => b.tls(Tls::Wrapper(params(domain)?)),
            }
        }
        SmtpEndpoint::Host {
            host,
            port,
            tls,
            credentials,
        } => {
            let tls = match tls {
                SmtpTls::None => Tls::None,
                SmtpTls::StartTls => Tls::Required(params(host)?),
                SmtpTls::Tls => Tls::Wrapper(params(host)?),
            };
            let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                .port(*port)
                .tls(tls);
            if let Some((user, password)) = credentials {
                b = b.credentials(Credentials::new(
                    user.clone(),
                    password.expose().to_string(),
                ));
            }
            b
        }
    };
    Ok(builder.timeout(Some(cfg.timeout)).build())
}

/// A claimed row, ready to send: the message and the hash of the token inside it.
struct Job {
    id: Uuid,
    kind: Kind,
    attempts: i32,
    token_hash: Option<Vec<u8>>,
    message: Message,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    user_id: Option<Uuid>,
    to_email: String,
    attempts: i32,
    created_at: DateTime<Utc>,
}

/// Why a claimed row is not sent at all.
enum Skip {
    /// Given up: too many attempts, too old, or it can never be sent.
    Failed(String),
}

/// Runs the worker until `stop` flips: a pass over due rows whenever woken, and at least
/// every `ULM_MAIL_POLL_MS` (retries, and rows other replicas queued).
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let Some(server) = state.cfg.smtp.as_ref().map(|s| s.server()) else {
        tracing::warn!(
            "mail is not configured (SMTP_URL or SMTP_HOST): mail stays queued in the outbox"
        );
        return;
    };
    tracing::info!(server, "mail worker started");
    let poll = Duration::from_millis(state.cfg.mail_poll_ms);
    loop {
        match deliver_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(attempts = n, "mail pass done"),
            Err(e) => tracing::warn!(error = %e, "mail pass failed"),
        }
        tokio::select! {
            _ = state.mailer.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One pass: claims and sends due rows one at a time; returns how many were attempted.
/// Does nothing without SMTP.
pub async fn deliver_due(state: &AppState) -> Result<usize, sqlx::Error> {
    let Some((transport, from)) = &state.mailer.transport else {
        return Ok(0);
    };
    let mut attempted = 0;
    while attempted < BATCH {
        let Some(job) = claim(state, from).await? else {
            break;
        };
        attempted += 1;
        let sent = tokio::time::timeout(state.mailer.timeout, transport.send(job.message))
            .await
            .map_err(|_| SendError::Timeout)
            .and_then(|r| r.map_err(SendError::Smtp));
        settle(state, job.id, job.kind, job.attempts, job.token_hash, sent).await?;
    }
    Ok(attempted)
}

enum SendError {
    Timeout,
    Smtp(lettre::transport::smtp::Error),
}

/// Claims the next due row in a short transaction of its own: leases it (so no other replica
/// takes it while the SMTP conversation runs without a database transaction open), counts the
/// attempt and mints the token its link needs. The token is committed before it is mailed, so
/// a recipient quicker than our bookkeeping still finds it valid.
async fn claim(state: &AppState, from: &Mailbox) -> Result<Option<Job>, sqlx::Error> {
    loop {
        let mut tx = state.db.begin().await?;
        let row: Option<Row> = sqlx::query_as!(
            Row,
            "SELECT id, kind, user_id, to_email, attempts, created_at FROM outbox
             WHERE state = 'queued' AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        match compose(state, &mut tx, from, &row).await? {
            Ok((kind, message, token_hash)) => {
                let lease = state.mailer.timeout + Duration::from_secs(60);
                sqlx::query!(
                    "UPDATE outbox SET attempts = attempts + 1,
                        next_attempt_at = now() + make_interval(secs => $2)
                     WHERE id = $1",
                    row.id,
                    lease.as_secs_f64()
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(Some(Job {
                    id: row.id,
                    kind,
                    attempts: row.attempts + 1,
                    token_hash,
                    message,
                }));
            }
            Err(Skip::Failed(why)) => {
                sqlx::query!(
                    "UPDATE outbox SET state = 'failed', last_error = $2 WHERE id = $1",
                    row.id,
                    &why
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                tracing::warn!(id = %row.id, kind = row.kind, reason = why, "mail given up");
            }
        }
    }
}

type Composed = (Kind, Message, Option<Vec<u8>>);

/// Builds the message for a claimed row, minting its token when it carries a link. A mail
/// whose reason went away (the address changed, the account was deactivated) is not sent:
/// a verification link must only ever reach the address it verifies.
async fn compose(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    from: &Mailbox,
    row: &Row,
) -> Result<Result<Composed, Skip>, sqlx::Error> {
    let Some(kind) = Kind::parse(&row.kind) else {
        return Ok(Err(Skip::Failed(format!("unknown kind {:?}", row.kind))));
    };
    if row.attempts >= MAX_ATTEMPTS {
        return Ok(Err(Skip::Failed(format!(
            "gave up after {} attempts",
            row.attempts
        ))));
    }
    if Utc::now() - row.created_at > chrono::Duration::hours(MAX_AGE_HOURS) {
        return Ok(Err(Skip::Failed(format!(
            "gave up: not delivered within {MAX_AGE_HOURS} hours"
        ))));
    }
    let to: Mailbox = match row.to_email.parse() {
        Ok(m) => m,
        Err(_) => {
            return Ok(Err(Skip::Failed(
                "the recipient is not a mail address".into(),
            )));
        }
    };
    let base = &state.cfg.public_url;
    let (subject, text, token_hash) = match kind {
        Kind::VerifyEmail | Kind::ResetPassword => {
            let Some(user_id) = row.user_id else {
                return Ok(Err(Skip::Failed("no account for a link".into())));
            };
            let current: Option<(String, bool, String)> = sqlx::query!(
                r#"SELECT email, email_verified_at IS NOT NULL AS "verified!", status FROM users WHERE id = $1"#,
                user_id
            )
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| (r.email, r.verified, r.status));
            let Some((email, verified, status)) = current else {
                return Ok(Err(Skip::Failed("the account is gone".into())));
            };
            if !email.eq_ignore_ascii_case(&row.to_email) {
                return Ok(Err(Skip::Failed(
                    "not sent: the account's address changed".into(),
                )));
            }
            if kind == Kind::VerifyEmail && verified {
                return Ok(Err(Skip::Failed(
                    "not sent: the address is already verified".into(),
                )));
            }
            if kind == Kind::ResetPassword && status != "active" {
                return Ok(Err(Skip::Failed(
                    "not sent: the account is deactivated".into(),
                )));
            }
            let (purpose, hours) = if kind == Kind::VerifyEmail {
                ("verify_email", VERIFY_TTL_HOURS)
            } else {
                ("reset_password", RESET_TTL_HOURS)
            };
            let token =
                one_time_token(&mut *tx, user_id, purpose, chrono::Duration::hours(hours)).await?;
            let hash = token_hash(&token);
            let (subject, text) = if kind == Kind::VerifyEmail {
                let link = format!("{base}/verify-email#token={token}");
                (
                    "Confirm your e-mail address",
                    format!(
                        "Welcome to OVU. Confirm your address within {VERIFY_TTL_HOURS} hours:\n{link}\n"
                    ),
                )
            } else {
                let link = format!("{base}/reset-password#token={token}");
                (
                    "Reset your OVU password",
                    format!(
                        "Use this link within {RESET_TTL_HOURS} hour to choose a new password:\n{link}\nIf you did not ask for it, ignore this e-mail.\n"
                    ),
                )
            };
            (subject, text, Some(hash))
        }
        Kind::RegisterExisting => (
            "Someone tried to register with your address",
            "Someone (maybe you) tried to create an OVU account with this address, which already has one.\nIf it was you, sign in or reset your password.\n".to_string(),
            None,
        ),
        Kind::RegisterUsernameTaken => (
            "Choose another username",
            "The username you chose for your OVU account is taken; please register again with another one.\n".to_string(),
            None,
        ),
    };
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(text);
    match message {
        Ok(m) => Ok(Ok((kind, m, token_hash))),
        Err(e) => Ok(Err(Skip::Failed(format!("cannot compose: {e}")))),
    }
}

/// Records the outcome of one attempt. A failure voids the token the mail carried (nobody
/// will ever read it, and a valid token that exists nowhere but in a half-sent mail is a
/// liability), then schedules a retry or gives up on a permanent refusal.
async fn settle(
    state: &AppState,
    id: Uuid,
    kind: Kind,
    attempts: i32,
    token: Option<Vec<u8>>,
    sent: Result<lettre::transport::smtp::response::Response, SendError>,
) -> Result<(), sqlx::Error> {
    let err = match sent {
        Ok(_) => {
            sqlx::query!(
                "UPDATE outbox SET state = 'sent', sent_at = now(), last_error = NULL WHERE id = $1",
                id
            )
            .execute(&state.db)
            .await?;
            tracing::info!(%id, kind = kind.as_str(), attempts, "mail sent");
            return Ok(());
        }
        Err(e) => e,
    };
    let (permanent, message) = match &err {
        SendError::Timeout => (
            false,
            format!(
                "timed out after {}s (SMTP_TIMEOUT_SECS)",
                state.mailer.timeout.as_secs()
            ),
        ),
        SendError::Smtp(e) if refuses_our_login(e) => (
            false,
            format!("the server refused our login, check SMTP_USERNAME and the password: {e}"),
        ),
        SendError::Smtp(e) => (e.is_permanent(), e.to_string()),
    };
    let message: String = message.chars().take(500).collect();
    let mut tx = state.db.begin().await?;
    if let Some(hash) = token {
        sqlx::query!(
            "UPDATE one_time_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL",
            hash
        )
        .execute(&mut *tx)
        .await?;
    }
    let give_up = permanent || attempts >= MAX_ATTEMPTS;
    let backoff = backoff(attempts);
    sqlx::query!(
        "UPDATE outbox SET last_error = $2,
            state = CASE WHEN $3 THEN 'failed' ELSE 'queued' END,
            next_attempt_at = now() + make_interval(secs => $4)
         WHERE id = $1",
        id,
        &message,
        give_up,
        backoff.as_secs_f64()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::warn!(%id, kind = kind.as_str(), attempts, permanent, retry_in_secs = backoff.as_secs(), error = message, "mail not sent");
    Ok(())
}

/// Whether a 5xx reply refuses our login rather than this mail: the x3x family (530
/// authentication required, 534 mechanism too weak, 535 credentials invalid, 538 encryption
/// required). Other 5xx replies are about the mail and retrying cannot help; these are about
/// the setting, and giving up on them would throw away every mail queued while a password is
/// wrong or the server's policy changed. They are retried like an outage until someone fixes
/// the setting, and `last_error` (and the log) say so.
fn refuses_our_login(e: &lettre::transport::smtp::Error) -> bool {
    e.is_permanent() && matches!(e.status(), Some(code) if code.category == Category::Unspecified3)
}

/// The wait before the next attempt after `attempts` failures: 10 s, 20 s, 40 s, … up to 1 h.
pub fn backoff(attempts: i32) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    FIRST_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(5), Duration::from_secs(160));
        assert_eq!(backoff(9), Duration::from_secs(2560));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(MAX_ATTEMPTS), MAX_BACKOFF);
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            Kind::VerifyEmail,
            Kind::ResetPassword,
            Kind::RegisterExisting,
            Kind::RegisterUsernameTaken,
        ] {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("body"), None);
    }
}
