//! System health: the latest sample of ULM, AAM, PostgreSQL and Redis, the last 24 hours of
//! samples, and the OvuSystem's status when AAM runs in a cluster.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use ovu_kit::ApiError;
use ovu_kit::error::ApiResult;
use ovu_kit::extract::{Json, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, perm};
use crate::cluster::ClusterStatus;
use crate::poller::{self, ComponentHealth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/system/health", get(health))
        .route("/api/v1/system/health/history", get(history))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Uptime {
    pub component: String,
    /// Share of healthy samples in the window, 0–1 (null without samples).
    pub healthy_ratio: Option<f64>,
    pub samples: i64,
    pub avg_latency_ms: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemHealth {
    /// `healthy` when every component is, `unhealthy` when any is, else `degraded`.
    pub status: String,
    pub components: Vec<ComponentHealth>,
    /// Per component over the last 24 hours.
    pub last_24h: Vec<Uptime>,
    /// The OvuSystem's status; null outside a cluster.
    pub cluster: Option<ClusterStatus>,
    pub checked_at: DateTime<Utc>,
}

pub fn overall(components: &[ComponentHealth]) -> &'static str {
    if components.iter().all(|c| c.status == "healthy") {
        "healthy"
    } else if components.iter().any(|c| c.status == "unhealthy") {
        "unhealthy"
    } else {
        "degraded"
    }
}

/// Current health of every component.
#[utoipa::path(get, path = "/api/v1/system/health", tag = "system",
    responses((status = 200, description = "latest samples, 24 h summary, cluster status", body = SystemHealth)))]
pub async fn health(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SystemHealth>> {
    caller.require(perm::SYSTEM_READ)?;
    let (components, cluster) = tokio::join!(poller::latest(&state), state.cluster.status());
    let last_24h = sqlx::query_as!(
        Uptime,
        r#"SELECT component,
                avg(CASE WHEN status = 'healthy' THEN 1.0 ELSE 0.0 END)::float8 AS healthy_ratio,
                count(*) AS "samples!", avg(latency_ms)::float8 AS avg_latency_ms
         FROM health_samples WHERE checked_at > now() - interval '24 hours'
         GROUP BY component ORDER BY component"#,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(SystemHealth {
        status: overall(&components).into(),
        components,
        last_24h,
        cluster,
        checked_at: Utc::now(),
    }))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Ulm,
    Aam,
    Postgres,
    Redis,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only this component.
    pub component: Option<Component>,
    /// Window in hours, 1–24, default 1.
    #[param(minimum = 1, maximum = 24)]
    pub hours: Option<i32>,
}

/// Health samples, newest first.
#[utoipa::path(get, path = "/api/v1/system/health/history", tag = "system", params(HistoryQuery),
    responses((status = 200, description = "samples, newest first", body = Vec<ComponentHealth>)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Vec<ComponentHealth>>> {
    caller.require(perm::SYSTEM_READ)?;
    let hours = q.hours.unwrap_or(1);
    if !(1..=24).contains(&hours) {
        return Err(ApiError::field("hours", "hours must be 1–24"));
    }
    let component = q.component.map(|c| match c {
        Component::Ulm => "ulm",
        Component::Aam => "aam",
        Component::Postgres => "postgres",
        Component::Redis => "redis",
    });
    let rows = sqlx::query_as!(
        ComponentHealth,
        "SELECT component, status, latency_ms, checked_at, message FROM health_samples
         WHERE checked_at > now() - make_interval(hours => $1) AND ($2::text IS NULL OR component = $2)
         ORDER BY checked_at DESC, id DESC LIMIT 20000",
        hours,
        component
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(rows))
}
