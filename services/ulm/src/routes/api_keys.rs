//! Personal API keys: 32 random bytes shown once, stored as a SHA-256 hash with a visible
//! prefix, limited to scopes the owner holds, with expiry and last use.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ovu_kit::ApiError;
use ovu_kit::extract::{Json, Path};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::auth::{API_KEY_PREFIX, Auth};
use crate::crypto::{random_bytes, token_hash};
use crate::models::*;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/api-keys", get(list).post(create))
        .route("/api/v1/api-keys/{id}", delete(revoke))
}

/// Create an API key. The key is in this response only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api_keys", request_body = CreateApiKeyRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "created; copy the key now", body = CreatedApiKey)))]
pub async fn create(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Json(req): Json<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    p.require_session()?;
    p.require(&state, Perm::ApiKeysWrite)?;
    let name = crate::validate::text("name", &req.name, 100)?;
    if req.scopes.len() > 64 {
        return Err(ApiError::field("scopes", "too many scopes"));
    }
    let mut scopes: Vec<String> = req.scopes.iter().map(|s| s.trim().to_string()).collect();
    scopes.sort();
    scopes.dedup();
    if let Some(bad) = scopes.iter().find(|s| !p.has(s)) {
        return Err(
            ApiError::field("scopes", "a key can only carry permissions you hold")
                .with_detail("scope", bad.clone()),
        );
    }
    if req.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let key = format!(
        "{API_KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    );
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    let mut tx = state.db.begin().await?;
    let row: Result<ApiKey, sqlx::Error> = sqlx::query_as!(
        ApiKey,
        "INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, prefix, scopes, expires_at, last_used_at, created_at",
        p.user_id,
        &name,
        &prefix,
        token_hash(&key),
        &scopes,
        req.expires_at
    )
    .fetch_one(&mut *tx)
    .await;
    let row = match row {
        Ok(r) => r,
        Err(e) if ovu_kit::error::unique_violation(&e).is_some() => {
            return Err(ApiError::conflict("you already have a key with that name")
                .with_detail("field", "name"));
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &mut *tx,
        &meta,
        Event::new("api_key_created")
            .by_self(p.user_id)
            .details(json!({ "key_id": row.id, "prefix": prefix, "scopes": scopes })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            scopes: row.scopes,
            expires_at: row.expires_at,
            created_at: row.created_at,
            key,
        }),
    ))
}

/// The caller's active keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api_keys",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "keys, newest first", body = [ApiKey])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    p.require(&state, Perm::ApiKeysRead)?;
    Ok(Json(
        sqlx::query_as!(
            crate::models::ApiKey,
            "SELECT id, name, prefix, scopes, expires_at, last_used_at, created_at FROM api_keys
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 500",
            p.user_id
        )
        .fetch_all(&state.db)
        .await?,
    ))
}

/// Revoke one of the caller's keys.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api_keys",
    params(("id" = Uuid, Path, description = "key id")),
    security(("bearer" = [])),
    responses((status = 204, description = "revoked")))]
pub async fn revoke(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    p.require_session()?;
    p.require(&state, Perm::ApiKeysWrite)?;
    let n = sqlx::query!("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL", id, p.user_id)
        .execute(&state.db)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found());
    }
    audit::record(
        &state.db,
        &meta,
        Event::new("api_key_revoked")
            .by_self(p.user_id)
            .details(json!({ "key_id": id })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
