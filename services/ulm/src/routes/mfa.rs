//! TOTP enrolment: setup (a pending secret), enable (first code proves it, recovery codes
//! are issued once), disable (password and a code). Every change ends the other sessions.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use ovu_kit::ApiError;
use ovu_kit::extract::Json;
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::auth::{Auth, Enrolling};
use crate::crypto::random_bytes;
use crate::models::*;
use crate::state::AppState;
use crate::{guard, totp};
use crate::{routes::auth::check_second_factor, sessions};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/mfa/setup", post(setup))
        .route("/api/v1/auth/mfa/enable", post(enable))
        .route("/api/v1/auth/mfa/disable", post(disable))
}

/// Start enrolment: a new secret to load into an authenticator app.
#[utoipa::path(post, path = "/api/v1/auth/mfa/setup", tag = "mfa",
    security(("bearer" = [])),
    responses((status = 200, description = "secret to confirm with /auth/mfa/enable", body = MfaSetup)))]
pub async fn setup(
    State(state): State<AppState>,
    Enrolling(p): Enrolling,
) -> Result<Json<MfaSetup>, ApiError> {
    p.require_session()?;
    let secret = random_bytes::<{ totp::SECRET_LEN }>();
    let n = sqlx::query!(
        "UPDATE users SET mfa_pending_secret = $2 WHERE id = $1 AND NOT mfa_enabled",
        p.user_id,
        secret.as_slice()
    )
    .execute(&state.db)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::conflict("MFA is already enabled"));
    }
    Ok(Json(MfaSetup {
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri("OVU", &p.email, &secret),
    }))
}

async fn new_recovery_codes(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query!("DELETE FROM mfa_recovery_codes WHERE user_id = $1", user_id)
        .execute(&mut *conn)
        .await?;
    let codes: Vec<String> = (0..totp::RECOVERY_CODES)
        .map(|_| totp::new_recovery_code())
        .collect();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| totp::recovery_hash(user_id, c))
        .collect();
    sqlx::query!(
        "INSERT INTO mfa_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])",
        user_id,
        &hashes
    )
    .execute(&mut *conn)
    .await?;
    Ok(codes)
}

/// Confirm enrolment with a first code; returns 10 single-use recovery codes, once.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enable", tag = "mfa", request_body = CodeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "MFA on; store the recovery codes", body = RecoveryCodes)))]
pub async fn enable(
    State(state): State<AppState>,
    meta: Meta,
    Enrolling(p): Enrolling,
    Json(req): Json<CodeRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let sid = p.require_session()?;
    let mut tx = state.db.begin().await?;
    let row: Option<(Option<Vec<u8>>, bool)> = sqlx::query!(
        "SELECT mfa_pending_secret, mfa_enabled FROM users WHERE id = $1 FOR UPDATE",
        p.user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.mfa_pending_secret, r.mfa_enabled));
    let secret = match row {
        Some((_, true)) => return Err(ApiError::conflict("MFA is already enabled")),
        Some((Some(s), false)) => s,
        _ => return Err(ApiError::conflict("call /auth/mfa/setup first")),
    };
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let Some(step) = totp::verify(&secret, &req.code, now, 0) else {
        return Err(ApiError::field("code", "the code is wrong or expired"));
    };
    sqlx::query!(
        "UPDATE users SET mfa_secret = mfa_pending_secret, mfa_pending_secret = NULL, mfa_enabled = true, mfa_last_step = $2
         WHERE id = $1",
        p.user_id,
        step as i64
    )
    .execute(&mut *tx)
    .await?;
    let codes = new_recovery_codes(&mut tx, p.user_id).await?;
    let ended = sessions::revoke_all(&mut *tx, p.user_id, Some(sid), "mfa_changed").await?;
    // The current session has now proven the second factor.
    sqlx::query!("UPDATE sessions SET mfa = true WHERE id = $1", sid)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("mfa_enabled")
            .by_self(p.user_id)
            .details(serde_json::json!({"sessions_ended": ended})),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Turn MFA off; needs the password and a current code (or a recovery code).
#[utoipa::path(post, path = "/api/v1/auth/mfa/disable", tag = "mfa", request_body = MfaDisableRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "MFA off")))]
pub async fn disable(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Json(req): Json<MfaDisableRequest>,
) -> Result<StatusCode, ApiError> {
    let sid = p.require_session()?;
    // Throttled like login (per account), and the code below counts towards the
    // account's MFA failures like a code at login.
    guard::mfa_lock(&state, p.user_id).await?;
    if !guard::verify_current_password(&state, p.user_id, req.password).await? {
        return Err(ApiError::field("password", "the password is wrong")
            .with_detail("reason", "wrong_password"));
    }
    let mut tx = state.db.begin().await?;
    let enabled: bool = sqlx::query_scalar!(
        "SELECT mfa_enabled FROM users WHERE id = $1 FOR UPDATE",
        p.user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if !enabled {
        return Err(ApiError::conflict("MFA is not enabled"));
    }
    if check_second_factor(&mut tx, p.user_id, &req.code)
        .await?
        .is_none()
    {
        tx.rollback().await?;
        guard::mfa_failed(&state, p.user_id).await?;
        return Err(ApiError::field(
            "code",
            "the code is wrong or was already used",
        ));
    }
    sqlx::query!(
        "UPDATE users SET mfa_enabled = false, mfa_secret = NULL, mfa_pending_secret = NULL, mfa_last_step = 0 WHERE id = $1",
        p.user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
        p.user_id
    )
    .execute(&mut *tx)
    .await?;
    let ended = sessions::revoke_all(&mut *tx, p.user_id, Some(sid), "mfa_changed").await?;
    sqlx::query!("UPDATE sessions SET mfa = false WHERE id = $1", sid)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("mfa_disabled")
            .by_self(p.user_id)
            .details(serde_json::json!({"sessions_ended": ended})),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
