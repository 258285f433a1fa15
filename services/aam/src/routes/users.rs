//! User and role administration, through ULM's admin API with the caller's own token.
//!
//! AAM checks the route's permission first (a clear 403 without a ULM round trip), then ULM
//! checks again with live permissions and writes its own audit event naming the real actor.
//! Request bodies are decoded into the types below, so the OpenAPI document describes them
//! and malformed input is refused here; ULM's answers pass through as they are.

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use ovu_kit::ApiError;
use ovu_kit::error::ApiResult;
use ovu_kit::extract::{Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, perm};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", get(get_user).patch(update_user))
        .route("/api/v1/users/{id}/deactivate", post(deactivate))
        .route("/api/v1/users/{id}/reactivate", post(reactivate))
        .route(
            "/api/v1/users/{id}/roles/{role_id}",
            put(assign_role).delete(unassign_role),
        )
        .route(
            "/api/v1/users/{id}/sessions",
            get(list_sessions).delete(end_sessions),
        )
        .route("/api/v1/users/{id}/password-reset", post(password_reset))
        .route("/api/v1/roles", get(list_roles).post(create_role))
        .route(
            "/api/v1/roles/{id}",
            get(get_role).patch(update_role).delete(delete_role),
        )
        .route("/api/v1/permissions", get(permissions))
}

// ---- shapes (ULM's, as AAM relays them) ---------------------------------------------------

/// A user as ULM describes it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub display_name: String,
    pub preferred_language: String,
    /// E.164 (`+` and 8–15 digits), or empty when none is set. Defaults to empty so a ULM
    /// from before the field still relays.
    #[serde(default)]
    #[schema(example = "+972501234567")]
    pub phone: String,
    /// `active` or `deactivated`.
    pub status: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub deactivation_reason: Option<String>,
    pub scheduled_deactivation_at: Option<DateTime<Utc>>,
    pub scheduled_deactivation_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Active,
    Deactivated,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum UserSort {
    #[serde(rename = "-created_at")]
    CreatedDesc,
    #[serde(rename = "created_at")]
    CreatedAsc,
    #[serde(rename = "email")]
    EmailAsc,
    #[serde(rename = "-email")]
    EmailDesc,
    #[serde(rename = "username")]
    UsernameAsc,
    #[serde(rename = "-username")]
    UsernameDesc,
    #[serde(rename = "last_login_at")]
    LastLoginAsc,
    #[serde(rename = "-last_login_at")]
    LastLoginDesc,
}

fn word<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListUsersQuery {
    /// Substring of e-mail, username or display name.
    pub q: Option<String>,
    pub status: Option<StatusFilter>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// `created_at`, `email`, `username` or `last_login_at`; prefix `-` for descending.
    pub sort: Option<UserSort>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub email: String,
    pub username: String,
    pub password: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// International number (`+` and 8–15 digits); empty clears it. ULM validates and
    /// normalises it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Role names (default `user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// International number (`+` and 8–15 digits); empty clears it. ULM validates and
    /// normalises it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Deactivate now, or at `at` (scheduled).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeactivateRequest {
    pub reason: String,
    /// When to deactivate; absent or past means now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
    pub mfa: bool,
    pub current: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub is_system: bool,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateRoleRequest {
    /// Lowercase letters, digits and `_`, 2–63 characters, starting with a letter.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdateRoleRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Permission {
    pub id: Uuid,
    /// `resource:action`.
    pub name: String,
    pub resource: String,
    pub action: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetSent {
    /// Always `sent`: ULM queued a reset link for its mail worker to deliver.
    pub status: String,
}

async fn relay<B: Serialize>(
    state: &AppState,
    caller: &Caller,
    method: Method,
    path: &str,
    query: &[(&str, String)],
    body: Option<&B>,
) -> ApiResult<Response> {
    Ok(state
        .ulm
        .call(caller, method, path, query, body)
        .await?
        .into_response())
}

fn no_nul(field: &str, v: &str) -> ApiResult<()> {
    if v.contains('\0') || v.len() > 1000 {
        return Err(ApiError::field(
            field,
            format!("{field} must be at most 1000 characters without NUL"),
        ));
    }
    Ok(())
}

// ---- users --------------------------------------------------------------------------------

/// Search, filter, sort and page users (total in `X-Total-Count`).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListUsersQuery),
    responses((status = 200, description = "a page of users", body = Vec<User>,
        headers(("X-Total-Count" = i64, description = "matching users")))))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListUsersQuery>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_READ)?;
    let mut query = Vec::new();
    if let Some(s) = q.q {
        no_nul("q", &s)?;
        query.push(("q", s));
    }
    if let Some(s) = q.status {
        query.push(("status", word(s)));
    }
    if let Some(l) = q.limit {
        if !(1..=200).contains(&l) {
            return Err(ApiError::field("limit", "limit must be 1–200"));
        }
        query.push(("limit", l.to_string()));
    }
    if let Some(o) = q.offset {
        if o < 0 {
            return Err(ApiError::field("offset", "offset must not be negative"));
        }
        query.push(("offset", o.to_string()));
    }
    if let Some(s) = q.sort {
        query.push(("sort", word(s)));
    }
    relay::<()>(&state, &caller, Method::GET, "/api/v1/users", &query, None).await
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, description = "created", body = User),
              (status = 409, description = "e-mail or username taken", body = ovu_kit::ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<CreateUserRequest>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    relay(
        &state,
        &caller,
        Method::POST,
        "/api/v1/users",
        &[],
        Some(&b),
    )
    .await
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "the user", body = User)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_READ)?;
    relay::<()>(
        &state,
        &caller,
        Method::GET,
        &format!("/api/v1/users/{id}"),
        &[],
        None,
    )
    .await
}

/// Change a user's profile fields.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest, responses((status = 200, description = "updated", body = User)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateUserRequest>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    relay(
        &state,
        &caller,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &[],
        Some(&b),
    )
    .await
}

/// Deactivate a user now or at a given time; ends their sessions when it takes effect.
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "users", params(("id" = Uuid, Path)),
    request_body = DeactivateRequest,
    responses((status = 200, description = "deactivated or scheduled", body = User)))]
pub async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(b): Json<DeactivateRequest>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    relay(
        &state,
        &caller,
        Method::POST,
        &format!("/api/v1/users/{id}/deactivate"),
        &[],
        Some(&b),
    )
    .await
}

/// Reactivate a user (also cancels a scheduled deactivation).
#[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "active again", body = User)))]
pub async fn reactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    relay::<()>(
        &state,
        &caller,
        Method::POST,
        &format!("/api/v1/users/{id}/reactivate"),
        &[],
        None,
    )
    .await
}

/// Give a user a role.
#[utoipa::path(put, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
    params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
    responses((status = 204, description = "assigned (idempotent)")))]
pub async fn assign_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, role_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    caller.require(perm::ROLES_WRITE)?;
    relay::<()>(
        &state,
        &caller,
        Method::PUT,
        &format!("/api/v1/users/{id}/roles/{role_id}"),
        &[],
        None,
    )
    .await
}

/// Take a role away from a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
    params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
    responses((status = 204, description = "removed")))]
pub async fn unassign_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, role_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    caller.require(perm::ROLES_WRITE)?;
    relay::<()>(
        &state,
        &caller,
        Method::DELETE,
        &format!("/api/v1/users/{id}/roles/{role_id}"),
        &[],
        None,
    )
    .await
}

/// A user's live sessions.
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "live sessions", body = Vec<Session>)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_READ)?;
    relay::<()>(
        &state,
        &caller,
        Method::GET,
        &format!("/api/v1/users/{id}/sessions"),
        &[],
        None,
    )
    .await
}

/// End every session of a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204, description = "sessions ended")))]
pub async fn end_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    relay::<()>(
        &state,
        &caller,
        Method::DELETE,
        &format!("/api/v1/users/{id}/sessions"),
        &[],
        None,
    )
    .await
}

/// Send the user ULM's password-reset e-mail.
#[utoipa::path(post, path = "/api/v1/users/{id}/password-reset", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 202, description = "reset mail sent", body = ResetSent)))]
pub async fn password_reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    // ULM has no admin-initiated reset: look the address up as the admin, then ask for the
    // same mail a user would request for themselves.
    let user: User = state
        .ulm
        .get(&caller, &format!("/api/v1/users/{id}"), &[])
        .await?
        .json()?;
    let reply = state
        .ulm
        .call(
            &caller,
            Method::POST,
            "/api/v1/auth/forgot-password",
            &[],
            Some(&serde_json::json!({"email": user.email})),
        )
        .await?;
    if !reply.is_success() {
        return Err(reply.error());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetSent {
            status: "sent".into(),
        }),
    )
        .into_response())
}

// ---- roles --------------------------------------------------------------------------------

/// Every role with its permissions.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles",
    responses((status = 200, description = "roles by name", body = Vec<Role>)))]
pub async fn list_roles(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(perm::ROLES_READ)?;
    relay::<()>(&state, &caller, Method::GET, "/api/v1/roles", &[], None).await
}

/// Create a role.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = CreateRoleRequest,
    responses((status = 201, description = "created", body = Role),
              (status = 409, description = "name taken", body = ovu_kit::ErrorBody)))]
pub async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<CreateRoleRequest>,
) -> ApiResult<Response> {
    caller.require(perm::ROLES_WRITE)?;
    relay(
        &state,
        &caller,
        Method::POST,
        "/api/v1/roles",
        &[],
        Some(&b),
    )
    .await
}

/// One role.
#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 200, description = "the role", body = Role)))]
pub async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::ROLES_READ)?;
    relay::<()>(
        &state,
        &caller,
        Method::GET,
        &format!("/api/v1/roles/{id}"),
        &[],
        None,
    )
    .await
}

/// Rename a role or change its permissions.
#[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
    request_body = UpdateRoleRequest, responses((status = 200, description = "updated", body = Role)))]
pub async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(b): Json<UpdateRoleRequest>,
) -> ApiResult<Response> {
    caller.require(perm::ROLES_WRITE)?;
    relay(
        &state,
        &caller,
        Method::PATCH,
        &format!("/api/v1/roles/{id}"),
        &[],
        Some(&b),
    )
    .await
}

/// Delete a role (system roles cannot be deleted).
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted"),
              (status = 409, description = "a system role", body = ovu_kit::ErrorBody)))]
pub async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::ROLES_WRITE)?;
    relay::<()>(
        &state,
        &caller,
        Method::DELETE,
        &format!("/api/v1/roles/{id}"),
        &[],
        None,
    )
    .await
}

/// Every permission.
#[utoipa::path(get, path = "/api/v1/permissions", tag = "roles",
    responses((status = 200, description = "permissions by name", body = Vec<Permission>)))]
pub async fn permissions(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(perm::ROLES_READ)?;
    relay::<()>(
        &state,
        &caller,
        Method::GET,
        "/api/v1/permissions",
        &[],
        None,
    )
    .await
}
