//! System settings: typed values validated against each key's schema, sensitive values
//! masked on read, every change kept in `settings_history` and AAM's audit log.
//! `security/session_policy` is ULM's token policy, shown here read-only.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use ovu_kit::ApiError;
use ovu_kit::error::ApiResult;
use ovu_kit::extract::{Json, Path, Query};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::auth::{Caller, perm};
use crate::settings::{self, Def, Setting};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/settings", get(list))
        .route(
            "/api/v1/settings/{category}/{key}",
            get(get_one).put(put_one),
        )
        .route("/api/v1/settings/{category}/{key}/history", get(history))
        .route("/api/v1/settings/{category}/{key}/reset", post(reset))
}

#[derive(sqlx::FromRow)]
struct Row {
    category: String,
    key: String,
    value: Value,
    updated_by: Option<Uuid>,
    updated_at: DateTime<Utc>,
}

fn render(def: &Def, row: Option<&Row>) -> Setting {
    let default = (def.default)();
    let value = row
        .map(|r| r.value.clone())
        .unwrap_or_else(|| default.clone());
    Setting {
        category: def.category.into(),
        key: def.key.into(),
        description: def.description.into(),
        type_: def.kind.type_name().into(),
        schema: def.kind.schema(),
        is_default: row.is_none(),
        value: settings::shown(def, &value),
        default_value: settings::shown(def, &default),
        sensitive: def.sensitive,
        source: "aam".into(),
        updated_at: row.map(|r| r.updated_at),
        updated_by: row.and_then(|r| r.updated_by),
    }
}

/// ULM's token policy as a read-only setting; `null` value when ULM cannot be asked.
async fn session_policy(state: &AppState, caller: &Caller) -> Setting {
    let value = match state
        .ulm
        .get(caller, "/api/v1/admin/token-policy", &[])
        .await
    {
        Ok(r) if r.is_success() => serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Setting {
        category: settings::ULM_CATEGORY.into(),
        key: settings::ULM_SESSION_POLICY_KEY.into(),
        description: "Access- and refresh-token lifetimes, enforced by ULM (change them in ULM)"
            .into(),
        type_: "object".into(),
        schema: json!({"type": "object", "readOnly": true}),
        is_default: false,
        default_value: Value::Null,
        value,
        sensitive: false,
        source: "ulm".into(),
        updated_at: None,
        updated_by: None,
    }
}

fn is_ulm_key(category: &str, key: &str) -> bool {
    category == settings::ULM_CATEGORY && key == settings::ULM_SESSION_POLICY_KEY
}

fn def_or_404(category: &str, key: &str) -> ApiResult<&'static Def> {
    settings::find(category, key).ok_or_else(|| {
        ApiError::not_found()
            .with_detail("category", category.chars().take(64).collect::<String>())
            .with_detail("key", key.chars().take(64).collect::<String>())
    })
}

async fn row(
    db: impl sqlx::PgExecutor<'_>,
    def: &Def,
    lock: bool,
) -> Result<Option<Row>, sqlx::Error> {
    if lock {
        sqlx::query_as!(
            Row,
            "SELECT category, key, value, updated_by, updated_at FROM settings WHERE category = $1 AND key = $2 FOR UPDATE",
            def.category,
            def.key
        )
        .fetch_optional(db)
        .await
    } else {
        sqlx::query_as!(
            Row,
            "SELECT category, key, value, updated_by, updated_at FROM settings WHERE category = $1 AND key = $2",
            def.category,
            def.key
        )
        .fetch_optional(db)
        .await
    }
}

/// Every setting, with its schema and whether it differs from the default.
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings",
    responses((status = 200, description = "all settings", body = Vec<Setting>)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Setting>>> {
    caller.require(perm::SETTINGS_READ)?;
    let (rows, policy) = tokio::join!(
        sqlx::query_as!(
            Row,
            "SELECT category, key, value, updated_by, updated_at FROM settings"
        )
        .fetch_all(&state.db),
        session_policy(&state, &caller)
    );
    let rows = rows?;
    let mut out: Vec<Setting> = settings::DEFS
        .iter()
        .map(|d| {
            render(
                d,
                rows.iter()
                    .find(|r| r.category == d.category && r.key == d.key),
            )
        })
        .collect();
    out.push(policy);
    Ok(Json(out))
}

/// One setting.
#[utoipa::path(get, path = "/api/v1/settings/{category}/{key}", tag = "settings",
    params(("category" = String, Path), ("key" = String, Path)),
    responses((status = 200, description = "the setting", body = Setting)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((category, key)): Path<(String, String)>,
) -> ApiResult<Json<Setting>> {
    caller.require(perm::SETTINGS_READ)?;
    if is_ulm_key(&category, &key) {
        return Ok(Json(session_policy(&state, &caller).await));
    }
    let def = def_or_404(&category, &key)?;
    let r = row(&state.db, def, false).await?;
    Ok(Json(render(def, r.as_ref())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PutSetting {
    /// Must satisfy the key's schema.
    pub value: Value,
}

async fn write(
    state: &AppState,
    caller: &Caller,
    def: &Def,
    new: Option<Value>,
    action: &str,
) -> ApiResult<Setting> {
    let mut tx = state.db.begin().await?;
    let old = row(&mut *tx, def, true).await?;
    let old_value = old
        .as_ref()
        .map(|r| r.value.clone())
        .unwrap_or_else(|| (def.default)());
    let new_value = new.clone().unwrap_or_else(|| (def.default)());
    let saved = match &new {
        // Storing the default is the same as resetting: keep only real overrides.
        Some(v) if *v != (def.default)() => Some(
            sqlx::query_as!(
                Row,
                "INSERT INTO settings (category, key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (category, key) DO UPDATE SET value = EXCLUDED.value,
                     updated_by = EXCLUDED.updated_by, updated_at = now()
                 RETURNING category, key, value, updated_by, updated_at",
                def.category,
                def.key,
                v,
                caller.claims.sub
            )
            .fetch_one(&mut *tx)
            .await?,
        ),
        _ => {
            sqlx::query!(
                "DELETE FROM settings WHERE category = $1 AND key = $2",
                def.category,
                def.key
            )
            .execute(&mut *tx)
                .await?;
            None
        }
    };
    // History and audit never hold a sensitive value in clear.
    let (old_shown, new_shown) = (
        settings::shown(def, &old_value),
        settings::shown(def, &new_value),
    );
    sqlx::query!(
        "INSERT INTO settings_history (category, key, old_value, new_value, changed_by, changed_by_name, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        def.category,
        def.key,
        &old_shown,
        &new_shown,
        caller.claims.sub,
        caller.name(),
        &caller.meta.request_id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        caller,
        Entry {
            action,
            resource_type: "setting",
            resource_id: format!("{}/{}", def.category, def.key),
            old: Some(old_shown),
            new: Some(new_shown),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(render(def, saved.as_ref()))
}

/// Change a setting.
#[utoipa::path(put, path = "/api/v1/settings/{category}/{key}", tag = "settings",
    params(("category" = String, Path), ("key" = String, Path)), request_body = PutSetting,
    responses((status = 200, description = "changed", body = Setting)))]
pub async fn put_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((category, key)): Path<(String, String)>,
    Json(b): Json<PutSetting>,
) -> ApiResult<Json<Setting>> {
    caller.require(perm::SETTINGS_WRITE)?;
    if is_ulm_key(&category, &key) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "read_only",
            "this setting belongs to ULM and is changed there",
        ));
    }
    let def = def_or_404(&category, &key)?;
    def.kind
        .validate(&b.value)
        .map_err(|m| ApiError::field("value", m).with_detail("schema", def.kind.schema()))?;
    Ok(Json(
        write(&state, &caller, def, Some(b.value), "setting.update").await?,
    ))
}

/// Put a setting back to its default.
#[utoipa::path(post, path = "/api/v1/settings/{category}/{key}/reset", tag = "settings",
    params(("category" = String, Path), ("key" = String, Path)),
    responses((status = 200, description = "back to the default", body = Setting)))]
pub async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    Path((category, key)): Path<(String, String)>,
) -> ApiResult<Json<Setting>> {
    caller.require(perm::SETTINGS_WRITE)?;
    if is_ulm_key(&category, &key) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "read_only",
            "this setting belongs to ULM and is changed there",
        ));
    }
    let def = def_or_404(&category, &key)?;
    Ok(Json(
        write(&state, &caller, def, None, "setting.reset").await?,
    ))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct HistoryEntry {
    pub id: i64,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub changed_by: Option<Uuid>,
    pub changed_by_name: String,
    pub request_id: String,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Changes of one setting, newest first.
#[utoipa::path(get, path = "/api/v1/settings/{category}/{key}/history", tag = "settings",
    params(("category" = String, Path), ("key" = String, Path), HistoryQuery),
    responses((status = 200, description = "newest first", body = Vec<HistoryEntry>)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((category, key)): Path<(String, String)>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    caller.require(perm::SETTINGS_READ)?;
    let def = def_or_404(&category, &key)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be 1–500"));
    }
    let rows = sqlx::query_as!(
        HistoryEntry,
        "SELECT id, old_value, new_value, changed_by, changed_by_name, request_id, changed_at
         FROM settings_history WHERE category = $1 AND key = $2 ORDER BY changed_at DESC, id DESC LIMIT $3",
        def.category,
        def.key,
        limit
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(rows))
}
