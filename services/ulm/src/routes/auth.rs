//! Registration, e-mail verification, login (with the MFA step), refresh, logout and
//! password reset. Answers never reveal whether an account exists.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{Duration, Utc};
use ovu_kit::ApiError;
use ovu_kit::extract::{CheckedJson, Json};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::auth::{Presented, authenticate, presented};
use crate::crypto::{new_token, token_hash};
use crate::models::*;
use crate::sessions::{self, Refreshed};
use crate::state::AppState;
use crate::{guard, mail, password_policy, ratelimit, totp};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/verify-email", post(verify_email))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/login/mfa", post(login_mfa))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/forgot-password", post(forgot_password))
        .route("/api/v1/auth/reset-password", post(reset_password))
}

const MFA_TOKEN_TTL_SECS: u64 = 300;

fn accepted(message: &str) -> (StatusCode, Json<Accepted>) {
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted".into(),
            message: message.into(),
        }),
    )
}

fn bad_link() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_token",
        "the link is invalid or has expired",
    )
}

/// Creates a single-use e-mailed token and returns it (only its hash is stored).
pub async fn one_time_token(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    purpose: &str,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    // A new link supersedes older ones of the same purpose.
    sqlx::query!("UPDATE one_time_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL", user_id, purpose)
        .execute(&mut *conn)
        .await?;
    let token = new_token();
    sqlx::query!("INSERT INTO one_time_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4)", token_hash(&token), user_id, purpose, Utc::now() + ttl)
        .execute(&mut *conn)
        .await?;
    Ok(token)
}

/// Consumes a single-use token, returning its user.
async fn consume_token(
    conn: &mut sqlx::PgConnection,
    token: &str,
    purpose: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    if token.len() > 256 {
        return Ok(None);
    }
    sqlx::query_scalar!(
        "UPDATE one_time_tokens SET used_at = now()
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id",
        token_hash(token),
        purpose
    )
    .fetch_optional(conn)
    .await
}

/// Queues the verification mail for `email`; its link is minted when it is sent. The caller
/// wakes the mailer after its commit.
pub async fn send_verification(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    email: &str,
) -> Result<(), sqlx::Error> {
    mail::queue(conn, mail::Kind::VerifyEmail, Some(user_id), email).await
}

/// Register an account.
///
/// Always 202, whether or not the e-mail is already registered (no enumeration); the
/// owner of an existing address gets an e-mail instead.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 202, description = "accepted; check your e-mail", body = Accepted)))]
pub async fn register(
    State(state): State<AppState>,
    meta: Meta,
    req: CheckedJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let rl = state.key(&["rl", "register", "ip", &meta.ip.to_string()]);
    ratelimit::hit(&state, &rl, state.cfg.rate.register_per_hour, 3600).await?;
    let req = req.value()?;
    // Checked while the body was decoded (ovu_ulm_api::input).
    let email = req.email.into_inner();
    let username = req.username.into_inner();
    let display_name = req.display_name.map(String::from).unwrap_or_default();
    let lang = req
        .preferred_language
        .unwrap_or_else(Language::english)
        .into_inner();
    password_policy::check("password", &req.password, &[&email, &username])?;
    // Hash before looking anything up, so every path costs the same.
    let hash = state.passwords.hash(req.password).await?;
    let message = "if the address can be registered, we sent an e-mail to it";

    let mut tx = state.db.begin().await?;
    let existing: Option<(Uuid, bool)> = sqlx::query!(
        r#"SELECT id, lower(email) = lower($1) AS "same_email!" FROM users WHERE lower(email) = lower($1) OR lower(username) = lower($2)
         ORDER BY 2 DESC LIMIT 1"#,
        &email,
        &username
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.id, r.same_email));
    match existing {
        Some((id, true)) => {
            mail::queue(&mut *tx, mail::Kind::RegisterExisting, Some(id), &email).await?;
            audit::record(
                &mut *tx,
                &meta,
                Event::new("register_existing_email").subject(id),
            )
            .await?;
            tx.commit().await?;
            state.mailer.wake();
            return Ok(accepted(message));
        }
        Some((_, false)) => {
            mail::queue(&mut *tx, mail::Kind::RegisterUsernameTaken, None, &email).await?;
            tx.commit().await?;
            state.mailer.wake();
            return Ok(accepted(message));
        }
        None => {}
    }
    let verified = if state.cfg.email_verification_required {
        None
    } else {
        Some(Utc::now())
    };
    let inserted: Result<Uuid, sqlx::Error> = sqlx::query_scalar!(
        "INSERT INTO users (email, username, password_hash, display_name, preferred_language, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &email,
        &username,
        &hash,
        &display_name,
        &lang,
        verified
    )
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        // Lost a race with an identical registration: same answer as for an existing account.
        Err(e) if ovu_kit::error::unique_violation(&e).is_some() => return Ok(accepted(message)),
        Err(e) => return Err(e.into()),
    };
    sqlx::query!(
        "INSERT INTO password_history (user_id, password_hash) VALUES ($1, $2)",
        id,
        &hash
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE name = 'user'",
        id
    )
    .execute(&mut *tx)
    .await?;
    if verified.is_none() {
        send_verification(&mut tx, id, &email).await?;
    }
    audit::record(&mut *tx, &meta, Event::new("user_registered").by_self(id)).await?;
    tx.commit().await?;
    state.mailer.wake();
    Ok(accepted(message))
}

/// Confirm an e-mail address with the token from the e-mailed link.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses((status = 200, description = "address verified", body = StatusMessage)))]
pub async fn verify_email(
    State(state): State<AppState>,
    meta: Meta,
    Json(req): Json<TokenRequest>,
) -> Result<Json<StatusMessage>, ApiError> {
    let mut tx = state.db.begin().await?;
    let Some(user_id) = consume_token(&mut tx, &req.token, "verify_email").await? else {
        return Err(bad_link());
    };
    sqlx::query!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()) WHERE id = $1",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("email_verified").by_self(user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(StatusMessage {
        status: "verified".into(),
    }))
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    id: Uuid,
    password_hash: String,
    status: String,
    email_verified: bool,
    mfa_enabled: bool,
}

/// Sign in with e-mail or username and password.
///
/// Returns tokens, or `{mfa_required: true, mfa_token}` when the account has MFA on.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "signed in, or a second factor is needed", body = LoginResponse),
        (status = 401, description = "invalid login or password", body = ovu_kit::ErrorBody),
        (status = 429, description = "throttled or locked; see Retry-After", body = ovu_kit::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    meta: Meta,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let login = req.login.trim().to_lowercase();
    if login.is_empty() || login.len() > 254 {
        return Err(ApiError::field(
            "login",
            "must be an e-mail address or username",
        ));
    }
    if req.password.is_empty() || req.password.chars().count() > password_policy::MAX_LEN {
        // Still an authentication failure, but do not spend argon2 on 1 MB passwords.
        return Err(ApiError::invalid_credentials());
    }
    let rate = state.cfg.rate;
    ratelimit::hit(
        &state,
        &state.key(&["rl", "login", "ip", &meta.ip.to_string()]),
        rate.login_per_min,
        60,
    )
    .await?;
    ratelimit::hit(
        &state,
        &state.key(&["rl", "login", "acct", &login]),
        rate.login_per_min,
        60,
    )
    .await?;
    let fail_key = state.key(&["fail", "login", &login]);
    if let Some(secs) = ratelimit::locked_for(&state, &fail_key, rate.lockout_threshold).await? {
        return Err(ApiError::account_locked(secs));
    }

    let row: Option<LoginRow> = sqlx::query_as!(
        LoginRow,
        r#"SELECT id, password_hash, status, email_verified_at IS NOT NULL AS "email_verified!", mfa_enabled
         FROM users WHERE lower(email) = $1 OR lower(username) = $1 LIMIT 1"#,
        &login
    )
    .fetch_optional(&state.db)
    .await?;
    let ok = state
        .passwords
        .verify(
            req.password.clone(),
            row.as_ref().map(|r| r.password_hash.clone()),
        )
        .await?;
    // Once the account is known, its own limits apply too, whichever name it was given
    // (checked after the password so both answers take the same time).
    if let Some(r) = &row {
        ratelimit::hit(
            &state,
            &guard::password_rate_key(&state, r.id),
            rate.login_per_min,
            60,
        )
        .await?;
        guard::password_lock(&state, r.id).await?;
    }
    let row = match (ok, row) {
        (true, Some(r)) => r,
        (_, r) => {
            let window = rate.lockout_minutes * 60;
            let mut failures = ratelimit::count_failure(&state, &fail_key, window).await?;
            if let Some(r) = &r {
                let key = guard::password_fail_key(&state, r.id);
                failures = failures.max(ratelimit::count_failure(&state, &key, window).await?);
            }
            let mut ev = Event::new("login_failed").details(json!({ "failures": failures }));
            if let Some(r) = &r {
                ev = ev.subject(r.id);
            }
            audit::record(&state.db, &meta, ev).await?;
            if failures >= rate.lockout_threshold {
                if let Some(r) = &r {
                    audit::record(&state.db, &meta, Event::new("account_locked").subject(r.id))
                        .await?;
                }
                return Err(ApiError::account_locked(rate.lockout_minutes * 60));
            }
            return Err(ApiError::invalid_credentials());
        }
    };
    // The password was right: telling the owner why they cannot sign in reveals nothing.
    if row.status != "active" {
        audit::record(
            &state.db,
            &meta,
            Event::new("login_refused")
                .subject(row.id)
                .details(json!({"reason": "deactivated"})),
        )
        .await?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account_disabled",
            "this account is deactivated",
        ));
    }
    if state.cfg.email_verification_required && !row.email_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "email_not_verified",
            "confirm your e-mail address first",
        ));
    }
    ratelimit::clear(&state, &fail_key).await?;
    ratelimit::clear(&state, &guard::password_fail_key(&state, row.id)).await?;
    if state.passwords.needs_rehash(&row.password_hash) {
        // Parameters were raised since this hash was made: upgrade it while we have the password.
        let new_hash = state.passwords.hash(req.password).await?;
        sqlx::query!(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            row.id,
            new_hash
        )
        .execute(&state.db)
        .await?;
    }
    if row.mfa_enabled {
        // Code failures count per account and survive a new password login: no fresh
        // set of attempts for signing in again.
        guard::mfa_lock(&state, row.id).await?;
        let mfa_token = new_token();
        let key = state.key(&["mfa", &hex::encode(token_hash(&mfa_token))]);
        let mut conn = state.redis.clone();
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(row.id.to_string())
            .arg("EX")
            .arg(MFA_TOKEN_TTL_SECS)
            .query_async(&mut conn)
            .await?;
        audit::record(
            &state.db,
            &meta,
            Event::new("login_password_ok_mfa_pending").by_self(row.id),
        )
        .await?;
        return Ok(Json(LoginResponse::Mfa(MfaChallenge {
            mfa_required: true,
            mfa_token,
        })));
    }
    let mut tx = state.db.begin().await?;
    let tokens = sessions::start(&state, &mut tx, row.id, false, &meta).await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("login_succeeded").by_self(row.id),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(LoginResponse::Tokens(Box::new(tokens))))
}

/// Checks a TOTP or recovery code for `user_id`, consuming it (no replay). Returns what
/// kind of code matched.
pub async fn check_second_factor(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    code: &str,
) -> Result<Option<&'static str>, ApiError> {
    let row: Option<(Option<Vec<u8>>, i64)> = sqlx::query!(
        "SELECT mfa_secret, mfa_last_step FROM users WHERE id = $1 AND mfa_enabled",
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.mfa_secret, r.mfa_last_step));
    let Some((Some(secret), last_step)) = row else {
        return Ok(None);
    };
    let now = Utc::now().timestamp().max(0) as u64;
    if let Some(step) = totp::verify(&secret, code, now, last_step.max(0) as u64) {
        // Atomic: of two concurrent uses of one code, only one moves the step forward.
        let n = sqlx::query!(
            "UPDATE users SET mfa_last_step = $2 WHERE id = $1 AND mfa_last_step < $2",
            user_id,
            step as i64
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        return Ok((n == 1).then_some("totp"));
    }
    // Codes shorter than the ones issued now (80-bit codes from before) are not looked up:
    // their fast digest does not protect them (see `totp::new_recovery_code`). The caller
    // answers and counts this exactly like a wrong code.
    if !totp::recovery_code_acceptable(code) {
        return Ok(None);
    }
    let used: Option<i64> = sqlx::query_scalar!(
        "UPDATE mfa_recovery_codes SET used_at = now()
         WHERE id = (SELECT id FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL LIMIT 1)
         RETURNING id",
        user_id,
        totp::recovery_hash(user_id, code)
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(used.map(|_| "recovery_code"))
}

/// Second step of a login with MFA: a TOTP code or a recovery code.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth", request_body = MfaLoginRequest,
    responses((status = 200, description = "signed in", body = TokenResponse)))]
pub async fn login_mfa(
    State(state): State<AppState>,
    meta: Meta,
    Json(req): Json<MfaLoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.mfa_token.len() > 256 || req.code.len() > 64 {
        return Err(ApiError::invalid_token());
    }
    let key = state.key(&["mfa", &hex::encode(token_hash(&req.mfa_token))]);
    let mut conn = state.redis.clone();
    let user: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
    let Some(user_id) = user.and_then(|u| u.parse::<Uuid>().ok()) else {
        return Err(ApiError::invalid_token());
    };
    guard::mfa_lock(&state, user_id).await?;
    let mut tx = state.db.begin().await?;
    let Some(kind) = check_second_factor(&mut tx, user_id, &req.code).await? else {
        tx.rollback().await?;
        audit::record(&state.db, &meta, Event::new("mfa_failed").subject(user_id)).await?;
        if let Err(locked) = guard::mfa_failed(&state, user_id).await {
            // Attempts used up: this challenge is spent too.
            let _: () = redis::cmd("DEL").arg(&key).query_async(&mut conn).await?;
            return Err(locked);
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "the code is wrong or was already used",
        ));
    };
    // The challenge is single-use.
    let deleted: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await?;
    if deleted == 0 {
        return Err(ApiError::invalid_token());
    }
    ratelimit::clear(&state, &guard::mfa_fail_key(&state, user_id)).await?;
    let tokens = sessions::start(&state, &mut tx, user_id, true, &meta).await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("login_succeeded")
            .by_self(user_id)
            .details(json!({ "mfa": kind })),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// Exchange a refresh token for new tokens. The presented token stops working; presenting
/// it again ends the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "new tokens", body = TokenResponse)))]
pub async fn refresh(
    State(state): State<AppState>,
    meta: Meta,
    Json(req): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        return Err(ApiError::invalid_token());
    }
    let mut tx = state.db.begin().await?;
    match sessions::refresh(&state, &mut tx, &req.refresh_token).await? {
        Refreshed::Tokens(t) => {
            tx.commit().await?;
            Ok(Json(*t))
        }
        Refreshed::Reused {
            user_id,
            session_id,
        } => {
            audit::record(
                &mut *tx,
                &meta,
                Event::new("refresh_token_reused")
                    .subject(user_id)
                    .details(json!({ "session_id": session_id })),
            )
            .await?;
            tx.commit().await?;
            tracing::warn!(%user_id, %session_id, "refresh token reuse: session revoked");
            Err(ApiError::invalid_token().with_detail("reason", "token_reused"))
        }
        Refreshed::Invalid => Err(ApiError::invalid_token()),
    }
}

/// End this session (by refresh token or bearer token), or every session with `all_devices`.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = LogoutRequest, description = "optional"),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    meta: Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: LogoutRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                ApiError::malformed_json(e.to_string())
            } else {
                ApiError::validation(e.to_string())
            }
        })?
    };
    let (user_id, session_id) = if let Some(rt) =
        req.refresh_token.as_deref().filter(|t| !t.is_empty())
    {
        let found: Option<(Uuid, Uuid)> = sqlx::query!(
            "SELECT s.user_id, s.id FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id WHERE rt.token_hash = $1",
            token_hash(rt)
        )
        .fetch_optional(&state.db)
        .await?
        .map(|r| (r.user_id, r.id));
        found.ok_or_else(ApiError::invalid_token)?
    } else if !matches!(presented(&headers), Presented::None) {
        let p = authenticate(&state, &headers).await?;
        (p.user_id, p.require_session()?)
    } else {
        return Err(ApiError::unauthorized());
    };
    let mut tx = state.db.begin().await?;
    if req.all_devices.unwrap_or(false) {
        let n = sessions::revoke_all(&mut *tx, user_id, None, "logout_all").await?;
        audit::record(
            &mut *tx,
            &meta,
            Event::new("logout")
                .by_self(user_id)
                .details(json!({ "all_devices": true, "sessions": n })),
        )
        .await?;
    } else {
        sessions::revoke_session(&mut *tx, session_id, "logout").await?;
        audit::record(
            &mut *tx,
            &meta,
            Event::new("logout")
                .by_self(user_id)
                .details(json!({ "session_id": session_id })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a password-reset link. Always 202.
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth", request_body = ForgotPasswordRequest,
    responses((status = 202, description = "if the account exists, a link was sent", body = Accepted)))]
pub async fn forgot_password(
    State(state): State<AppState>,
    meta: Meta,
    Json(req): Json<ForgotPasswordRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let email = req.email.into_inner();
    let per_hour = state.cfg.rate.reset_per_hour;
    ratelimit::hit(
        &state,
        &state.key(&["rl", "reset", "ip", &meta.ip.to_string()]),
        per_hour,
        3600,
    )
    .await?;
    ratelimit::hit(
        &state,
        &state.key(&["rl", "reset", "email", &email.to_lowercase()]),
        per_hour,
        3600,
    )
    .await?;
    let mut tx = state.db.begin().await?;
    let user: Option<(Uuid, String)> = sqlx::query!(
        "SELECT id, email FROM users WHERE lower(email) = lower($1) AND status = 'active'",
        &email
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.id, r.email));
    if let Some((id, to)) = user {
        mail::queue(&mut *tx, mail::Kind::ResetPassword, Some(id), &to).await?;
        audit::record(
            &mut *tx,
            &meta,
            Event::new("password_reset_requested").subject(id),
        )
        .await?;
    }
    tx.commit().await?;
    state.mailer.wake();
    Ok(accepted(
        "if the address has an account, we sent a reset link to it",
    ))
}

/// Sets a new password after checking the policy and the last five passwords; in the
/// caller's transaction.
pub async fn set_password(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    field: &str,
    new_password: String,
) -> Result<(), ApiError> {
    let (email, username): (String, String) =
        sqlx::query!("SELECT email, username FROM users WHERE id = $1", user_id)
            .fetch_one(&mut *conn)
            .await
            .map(|r| (r.email, r.username))?;
    password_policy::check(field, &new_password, &[&email, &username])?;
    let recent: Vec<String> = sqlx::query_scalar!(
        "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        user_id,
        password_policy::HISTORY
    )
    .fetch_all(&mut *conn)
    .await?;
    for old in recent {
        if state
            .passwords
            .verify(new_password.clone(), Some(old))
            .await?
        {
            return Err(
                ApiError::field(field, "choose a password you have not used recently")
                    .with_detail("reason", "reused"),
            );
        }
    }
    let hash = state.passwords.hash(new_password).await?;
    sqlx::query!(
        "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        user_id,
        &hash
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO password_history (user_id, password_hash) VALUES ($1, $2)",
        user_id,
        &hash
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Choose a new password with the token from the e-mailed link. Ends every session; MFA
/// is not bypassed (the next sign-in still asks for the second factor).
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 200, description = "password changed", body = StatusMessage)))]
pub async fn reset_password(
    State(state): State<AppState>,
    meta: Meta,
    Json(req): Json<ResetPasswordRequest>,
) -> Result<Json<StatusMessage>, ApiError> {
    let mut tx = state.db.begin().await?;
    let Some(user_id) = consume_token(&mut tx, &req.token, "reset_password").await? else {
        return Err(bad_link());
    };
    set_password(&state, &mut tx, user_id, "new_password", req.new_password).await?;
    let ended = sessions::revoke_all(&mut *tx, user_id, None, "password_reset").await?;
    // The link proved control of the mailbox.
    sqlx::query!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()) WHERE id = $1",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("password_reset")
            .by_self(user_id)
            .details(json!({ "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(StatusMessage {
        status: "password_changed".into(),
    }))
}
