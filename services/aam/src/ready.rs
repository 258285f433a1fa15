//! `/api/ready`: PostgreSQL and Redis decide readiness (as in every OVU service); ULM's
//! reachability is reported beside them but never makes AAM unready, because AAM's own
//! routes work without ULM and a ULM outage must not take the admin panel's registry,
//! settings and health pages down with it.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ovu_kit::health::CheckResult;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct AamReady {
    /// `ok` or `unavailable` (PostgreSQL and Redis only).
    pub status: String,
    pub postgres: CheckResult,
    pub redis: CheckResult,
    /// Reported, not required.
    pub ulm: CheckResult,
}

async fn timed<F: std::future::Future<Output = bool>>(f: F) -> CheckResult {
    let start = Instant::now();
    let ok = tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or(false);
    CheckResult {
        ok,
        latency_ms: (start.elapsed().as_secs_f64() * 100_000.0).round() / 100.0,
    }
}

/// Readiness: PostgreSQL and Redis answer; ULM's state is reported.
#[utoipa::path(get, path = "/api/ready", tag = "health",
    responses(
        (status = 200, description = "PostgreSQL and Redis reachable", body = AamReady),
        (status = 503, description = "PostgreSQL or Redis is down", body = AamReady)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let pg = timed(async {
        sqlx::query_scalar!("SELECT 1 AS one")
            .fetch_one(&state.db)
            .await
            .is_ok()
    });
    let mut conn = state.redis.clone();
    let rd = timed(async move {
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    });
    let ulm = timed(async { state.ulm.ready().await.is_ok_and(|s| s.is_success()) });
    let (postgres, redis, ulm) = tokio::join!(pg, rd, ulm);
    let ok = postgres.ok && redis.ok;
    let body = AamReady {
        status: if ok { "ok" } else { "unavailable" }.into(),
        postgres,
        redis,
        ulm,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
