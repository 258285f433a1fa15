//! `/api/health` (liveness: the process answers) and `/api/ready` (PostgreSQL and Redis
//! answer within a short timeout), plus `/metrics`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use redis::aio::ConnectionManager;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::metrics::{Metrics, metrics_handler};

#[derive(Clone)]
pub struct Deps {
    pub db: PgPool,
    pub redis: ConnectionManager,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// Always `ok` when the process answers.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub ok: bool,
    pub latency_ms: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// `ok` or `unavailable`.
    pub status: String,
    pub postgres: CheckResult,
    pub redis: CheckResult,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, description = "process is alive", body = HealthBody)))]
pub async fn health() -> axum::Json<HealthBody> {
    axum::Json(HealthBody {
        status: "ok".into(),
    })
}

async fn timed<F: std::future::Future<Output = bool>>(f: F) -> CheckResult {
    let start = Instant::now();
    let ok = tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or(false);
    CheckResult {
        ok,
        latency_ms: (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
    }
}

/// Readiness: PostgreSQL and Redis both answer.
#[utoipa::path(get, path = "/api/ready", tag = "health",
    responses(
        (status = 200, description = "dependencies reachable", body = ReadyBody),
        (status = 503, description = "a dependency is down", body = ReadyBody)))]
pub async fn ready(State(deps): State<Deps>) -> Response {
    // Unchecked on purpose: `SELECT 1` touches no table, and a checked macro would give
    // the kit (which owns no schema) query data of its own to prepare against some database.
    let pg = timed(async { sqlx::query("SELECT 1").execute(&deps.db).await.is_ok() });
    let mut conn = deps.redis.clone();
    let rd = timed(async move {
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    });
    let (postgres, redis) = tokio::join!(pg, rd);
    let ok = postgres.ok && redis.ok;
    let body = ReadyBody {
        status: if ok { "ok" } else { "unavailable" }.into(),
        postgres,
        redis,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// The three operational routes, ready to merge into a service router.
pub fn router(deps: Deps, metrics: Metrics) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/ready", get(ready).with_state(deps))
        .route("/metrics", get(metrics_handler).with_state(metrics))
}
