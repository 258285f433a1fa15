//! The signed-in person's own account: profile, password, sessions.
//!
//! `GET /users/me` is the hot path (every page load of both web apps): the token is
//! verified from the in-memory cache and the profile, session liveness and roles come
//! from one indexed query.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use ovu_kit::ApiError;
use ovu_kit::extract::{CheckedJson, Json, Path};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::auth::{Auth, Presented, authenticate, presented, verify_bearer};
use crate::models::*;
use crate::state::AppState;
use crate::{guard, routes::auth::send_verification, routes::auth::set_password, sessions};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/me", get(get_me).patch(update_me))
        .route("/api/v1/users/me/password", post(change_password))
        .route("/api/v1/users/me/sessions", get(list_sessions))
        .route("/api/v1/users/me/sessions/{id}", delete(end_session))
        .route("/api/v1/auth/session", get(check_session))
}

/// What a caller may do right now, read live: the answer another service (AAM) relies on
/// instead of the permissions frozen into an access token for its whole lifetime.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SessionCheck {
    pub user_id: Uuid,
    /// The session of a bearer token; absent for an API key.
    pub session_id: Option<Uuid>,
    /// Effective permissions now (`resource:action`).
    pub permissions: Vec<String>,
    /// The session passed a second factor.
    pub mfa: bool,
}

/// Whether the caller's session is live and what it may do now: 401 once the session has
/// ended (sign-out, revocation, deactivation, deletion), and permissions as they are after
/// any role change. AAM asks this every few seconds per session.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "me",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the session is live", body = SessionCheck)))]
pub async fn check_session(Auth(p): Auth) -> Result<Json<SessionCheck>, ApiError> {
    Ok(Json(SessionCheck {
        user_id: p.user_id,
        session_id: p.session_id,
        permissions: p.permissions,
        mfa: p.mfa,
    }))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "me",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the caller's account", body = User)))]
pub async fn get_me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Presented::Bearer(t) = presented(&headers) {
        let claims = verify_bearer(&state, t)?;
        if let Some(body) = state.me_cache.get(claims.sid, claims.sub) {
            return Ok(json_bytes(body));
        }
        let _fill = match state.me_cache.enabled() {
            true => Some(state.me_cache.fill_lock(claims.sid).lock().await),
            false => None,
        };
        // Someone else may have filled it while we waited.
        if let Some(body) = state.me_cache.get(claims.sid, claims.sub) {
            return Ok(json_bytes(body));
        }
        let generation = state.me_cache.generation();
        // Only a live session finds a row. Role names come from the replica's role
        // catalogue as of the stamp read with it (crate::catalog); the read is shared with
        // the other requests waiting at this moment (crate::reads).
        let row = state.reads.me(claims.sub, claims.sid).await?;
        return match row {
            Some(r) if r.status == "active" => {
                let roles = state
                    .catalog
                    .at(&state.db, r.stamp)
                    .await?
                    .names(&r.role_ids);
                let user = r.into_user(roles);
                let body = Bytes::from(serde_json::to_vec(&user).map_err(ApiError::internal)?);
                state
                    .me_cache
                    .put(claims.sid, claims.sub, generation, body.clone());
                Ok(json_bytes(body))
            }
            _ => Err(ApiError::invalid_token().with_detail("reason", "session_ended")),
        };
    }
    let p = authenticate(&state, &headers).await?;
    let user = sessions::load_user(&state.db, p.user_id)
        .await?
        .ok_or_else(ApiError::invalid_token)?;
    Ok(Json(user).into_response())
}

fn json_bytes(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Update the caller's profile. Changing the e-mail needs `current_password` and starts a
/// new verification.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "me", request_body = UpdateMeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "updated account", body = User)))]
pub async fn update_me(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    req: CheckedJson<UpdateMeRequest>,
) -> Result<Json<User>, ApiError> {
    p.require_session()?;
    let req = req.value()?;
    // Checked while the body was decoded (ovu_ulm_api::input).
    let display_name = req.display_name.map(String::from);
    let lang = req.preferred_language.map(String::from);
    let phone = req.phone.map(String::from);
    let username = req.username.map(String::from);
    let email = req.email.map(String::from);
    let email_changes = email
        .as_ref()
        .is_some_and(|e| !e.eq_ignore_ascii_case(&p.email));
    if email_changes {
        // Re-authentication before an e-mail change (ASVS 7.5.1), throttled like login.
        let given = req.current_password.clone().unwrap_or_default();
        if given.is_empty() || !guard::verify_current_password(&state, p.user_id, given).await? {
            return Err(ApiError::field(
                "current_password",
                "the current password is needed to change the e-mail address",
            ));
        }
    }
    let mut tx = state.db.begin().await?;
    let res = sqlx::query!(
        "UPDATE users SET display_name = COALESCE($2, display_name), preferred_language = COALESCE($3, preferred_language),
                username = COALESCE($4, username), email = COALESCE($5, email),
                email_verified_at = CASE WHEN $6 THEN NULL ELSE email_verified_at END,
                phone = COALESCE($7, phone)
         WHERE id = $1",
        p.user_id,
        display_name.as_deref(),
        lang.as_deref(),
        username.as_deref(),
        email.as_deref(),
        email_changes && state.cfg.email_verification_required,
        phone.as_deref()
    )
    .execute(&mut *tx)
    .await;
    if let Err(e) = res {
        return Err(match ovu_kit::error::unique_violation(&e) {
            Some(c) if c.contains("email") => {
                ApiError::conflict("that e-mail address is taken").with_detail("field", "email")
            }
            Some(_) => {
                ApiError::conflict("that username is taken").with_detail("field", "username")
            }
            None => e.into(),
        });
    }
    if email_changes
        && state.cfg.email_verification_required
        && let Some(e) = &email
    {
        send_verification(&mut tx, p.user_id, e).await?;
    }
    let fields: Vec<&str> = [
        display_name.as_ref().map(|_| "display_name"),
        lang.as_ref().map(|_| "preferred_language"),
        phone.as_ref().map(|_| "phone"),
        username.as_ref().map(|_| "username"),
        email.as_ref().map(|_| "email"),
    ]
    .into_iter()
    .flatten()
    .collect();
    audit::record(
        &mut *tx,
        &meta,
        Event::new("profile_updated")
            .by_self(p.user_id)
            .details(json!({ "fields": fields })),
    )
    .await?;
    let user = sessions::load_user(&mut *tx, p.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    state.mailer.wake();
    Ok(Json(user))
}

/// Change the password (needs the current one). Ends every other session.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "me", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "password changed")))]
pub async fn change_password(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let sid = p.require_session()?;
    // Throttled like login (per account): a stolen session must not be a password oracle.
    if !guard::verify_current_password(&state, p.user_id, req.current_password).await? {
        audit::record(
            &state.db,
            &meta,
            Event::new("password_change_failed").by_self(p.user_id),
        )
        .await?;
        return Err(
            ApiError::field("current_password", "the current password is wrong")
                .with_detail("reason", "wrong_password"),
        );
    }
    let mut tx = state.db.begin().await?;
    set_password(&state, &mut tx, p.user_id, "new_password", req.new_password).await?;
    let ended = sessions::revoke_all(&mut *tx, p.user_id, Some(sid), "password_changed").await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("password_changed")
            .by_self(p.user_id)
            .details(json!({ "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn sessions_of(
    state: &AppState,
    user_id: Uuid,
    current: Option<Uuid>,
) -> Result<Vec<Session>, ApiError> {
    Ok(sqlx::query_as!(
        crate::models::Session,
        r#"SELECT id, created_at, last_used_at, expires_at, ip, user_agent, mfa, (id = $2) AS "current!"
         FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
         ORDER BY created_at DESC LIMIT 500"#,
        user_id,
        current.unwrap_or(Uuid::nil())
    )
    .fetch_all(&state.db)
    .await?)
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/api/v1/users/me/sessions", tag = "me",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "live sessions, newest first", body = [Session])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(sessions_of(&state, p.user_id, p.session_id).await?))
}

/// End one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/users/me/sessions/{id}", tag = "me",
    params(("id" = Uuid, Path, description = "session id")),
    security(("bearer" = [])),
    responses((status = 204, description = "session ended")))]
pub async fn end_session(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    p.require_session()?;
    let n = sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'ended_by_user'
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        id,
        p.user_id
    )
    .execute(&state.db)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found());
    }
    audit::record(
        &state.db,
        &meta,
        Event::new("session_revoked")
            .by_self(p.user_id)
            .details(json!({ "session_id": id })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
