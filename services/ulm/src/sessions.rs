//! Sessions and the tokens minted from them.
//!
//! A session is one login on one device. Its refresh tokens form a family: each refresh
//! marks the presented token rotated and issues the next one. Presenting a rotated token
//! again means it was copied: the whole session is revoked and an audit event written.

use chrono::{DateTime, Duration, Utc};
use ovu_kit::ApiError;
use ovu_kit::jwt::AccessClaims;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::audit::Meta;
use crate::crypto::{new_token, token_hash};
use crate::models::{TokenResponse, User};
use crate::sql::query_users;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Policy {
    pub access_ttl_minutes: i32,
    pub refresh_ttl_days: i32,
}

pub async fn policy<'e>(db: impl PgExecutor<'e>) -> Result<Policy, sqlx::Error> {
    sqlx::query_as!(
        Policy,
        "SELECT access_ttl_minutes, refresh_ttl_days FROM token_policy WHERE id"
    )
    .fetch_one(db)
    .await
}

pub async fn load_user<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    query_users!("SELECT", "FROM users u WHERE u.id = $1", id)
        .fetch_optional(db)
        .await
}

#[derive(sqlx::FromRow)]
struct Authz {
    roles: Vec<String>,
    permissions: Vec<String>,
}

async fn authz(conn: &mut PgConnection, user_id: Uuid) -> Result<Authz, sqlx::Error> {
    sqlx::query_as!(
        Authz,
        r#"SELECT ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                      WHERE ur.user_id = $1 ORDER BY r.name) AS "roles!",
                ARRAY(SELECT DISTINCT p.resource || ':' || p.action
                      FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                      JOIN permissions p ON p.id = rp.permission_id
                      WHERE ur.user_id = $1 ORDER BY 1) AS "permissions!""#,
        user_id
    )
    .fetch_one(conn)
    .await
}

/// The longest an access token carrying any administrative permission lives (15 minutes).
pub const ADMIN_ACCESS_TTL_SECS: i64 = 15 * 60;

/// Signs an access token for `user` in `session_id`.
async fn access_token(
    state: &AppState,
    conn: &mut PgConnection,
    user: &User,
    session_id: Uuid,
    mfa: bool,
    policy: Policy,
) -> Result<(String, i64), ApiError> {
    let az = authz(conn, user.id).await?;
    let now = Utc::now().timestamp();
    let ttl = match state.cfg.access_ttl_secs {
        Some(s) => s as i64,
        None => i64::from(policy.access_ttl_minutes) * 60,
    };
    // A stolen admin token is worth the most, and services that trust its claims see a
    // change only when it is renewed: whatever the policy says, administration gets at most
    // ADMIN_ACCESS_TTL_SECS.
    let ttl = if az
        .permissions
        .iter()
        .any(|p| !crate::auth::SELF_SERVICE.contains(&p.as_str()))
    {
        ttl.min(ADMIN_ACCESS_TTL_SECS)
    } else {
        ttl
    };
    let claims = AccessClaims {
        sub: user.id,
        iss: state.cfg.issuer.clone(),
        aud: state.cfg.audience.clone(),
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: Uuid::new_v4(),
        sid: session_id,
        username: user.username.clone(),
        email: user.email.clone(),
        roles: az.roles,
        permissions: az.permissions,
        mfa,
    };
    let token = state.signer.sign(&claims).map_err(ApiError::internal)?;
    Ok((token, ttl))
}

async fn insert_refresh(
    conn: &mut PgConnection,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let token = new_token();
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
        token_hash(&token),
        session_id,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(token)
}

/// Starts a new session (a new id on every login, ASVS 7.2.4) and returns its tokens.
/// Runs inside the caller's transaction.
pub async fn start(
    state: &AppState,
    conn: &mut PgConnection,
    user_id: Uuid,
    mfa: bool,
    meta: &Meta,
) -> Result<TokenResponse, ApiError> {
    let policy = policy(&mut *conn).await?;
    let now = Utc::now();
    let absolute = now + Duration::days(state.cfg.session_max_days as i64);
    let refresh_expiry = (now + Duration::days(i64::from(policy.refresh_ttl_days))).min(absolute);
    let session_id: Uuid = sqlx::query_scalar!(
        "INSERT INTO sessions (user_id, mfa, ip, user_agent, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        user_id,
        mfa,
        meta.ip.to_string(),
        &meta.user_agent,
        absolute
    )
    .fetch_one(&mut *conn)
    .await?;
    let refresh_token = insert_refresh(conn, session_id, refresh_expiry).await?;
    let user = query_users!(
        "UPDATE users u SET last_login_at = now() WHERE u.id = $1 RETURNING",
        "",
        user_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let (access_token, expires_in) =
        access_token(state, conn, &user, session_id, mfa, policy).await?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in,
        user,
    })
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    session_id: Uuid,
    user_id: Uuid,
    rotated: bool,
    token_valid: bool,
    session_valid: bool,
    user_active: bool,
    mfa: bool,
    session_expires_at: DateTime<Utc>,
}

pub enum Refreshed {
    Tokens(Box<TokenResponse>),
    /// A rotated token came back: the session was revoked.
    Reused {
        user_id: Uuid,
        session_id: Uuid,
    },
    Invalid,
}

/// Exchanges a refresh token. The row lock serialises concurrent use of one token, so
/// exactly one exchange wins and any other is treated as reuse.
pub async fn refresh(
    state: &AppState,
    conn: &mut PgConnection,
    token: &str,
) -> Result<Refreshed, ApiError> {
    let row: Option<RefreshRow> = sqlx::query_as!(
        RefreshRow,
        r#"SELECT rt.session_id, s.user_id, rt.rotated_at IS NOT NULL AS "rotated!",
                rt.expires_at > now() AS "token_valid!",
                (s.revoked_at IS NULL AND s.expires_at > now()) AS "session_valid!",
                u.status = 'active' AS "user_active!", s.mfa, s.expires_at AS session_expires_at
         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id JOIN users u ON u.id = s.user_id
         WHERE rt.token_hash = $1
         FOR UPDATE OF rt, s"#,
        token_hash(token)
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(Refreshed::Invalid);
    };
    if r.rotated {
        if r.session_valid {
            revoke_session(&mut *conn, r.session_id, "refresh_token_reuse").await?;
        }
        return Ok(Refreshed::Reused {
            user_id: r.user_id,
            session_id: r.session_id,
        });
    }
    if !r.token_valid || !r.session_valid || !r.user_active {
        return Ok(Refreshed::Invalid);
    }
    sqlx::query!(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1",
        token_hash(token)
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE sessions SET last_used_at = now() WHERE id = $1",
        r.session_id
    )
    .execute(&mut *conn)
    .await?;
    let policy = policy(&mut *conn).await?;
    let expiry =
        (Utc::now() + Duration::days(i64::from(policy.refresh_ttl_days))).min(r.session_expires_at);
    let refresh_token = insert_refresh(conn, r.session_id, expiry).await?;
    let user = load_user(&mut *conn, r.user_id)
        .await?
        .ok_or_else(ApiError::invalid_token)?;
    let (access_token, expires_in) =
        access_token(state, conn, &user, r.session_id, r.mfa, policy).await?;
    Ok(Refreshed::Tokens(Box::new(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in,
        user,
    })))
}

pub async fn revoke_session<'e>(
    db: impl PgExecutor<'e>,
    session_id: Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query!("UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL", session_id, reason)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Ends every live session of a user except `keep` (the caller's own, when it should survive).
pub async fn revoke_all<'e>(
    db: impl PgExecutor<'e>,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
        user_id,
        keep,
        reason
    )
    .execute(db)
    .await?
    .rows_affected())
}
