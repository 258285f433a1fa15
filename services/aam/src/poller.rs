//! Background health sampling of ULM, AAM, PostgreSQL and Redis.
//!
//! Every `AAM_HEALTH_INTERVAL_SECS` the four checks run in parallel; the results are kept in
//! memory for the API and appended to `health_samples`, whose rows older than the retention
//! (24 h by default) are pruned in the same pass. When no fresh sample exists (a just-started
//! replica, or tests without the poller), the API samples on demand.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One component's health at one moment.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ComponentHealth {
    /// `ulm`, `aam`, `postgres` or `redis`.
    pub component: String,
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: String,
    pub latency_ms: f64,
    pub checked_at: DateTime<Utc>,
    /// Why it is not healthy; empty when it is.
    pub message: String,
}

#[derive(Default)]
pub struct Latest(std::sync::RwLock<Option<(Instant, Vec<ComponentHealth>)>>);

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn result(
    component: &str,
    status: &str,
    start: Instant,
    message: impl Into<String>,
) -> ComponentHealth {
    ComponentHealth {
        component: component.into(),
        status: status.into(),
        latency_ms: ms(start.elapsed()),
        checked_at: Utc::now(),
        message: message.into(),
    }
}

async fn check_postgres(db: &PgPool) -> ComponentHealth {
    let start = Instant::now();
    match tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar!("SELECT 1 AS one").fetch_one(db),
    )
    .await
    {
        Ok(Ok(_)) => result("postgres", "healthy", start, ""),
        Ok(Err(_)) => result("postgres", "unhealthy", start, "query failed"),
        Err(_) => result("postgres", "unhealthy", start, "timed out"),
    }
}

async fn check_redis(state: &AppState) -> ComponentHealth {
    let start = Instant::now();
    let mut conn = state.redis.clone();
    let cmd = redis::cmd("PING");
    match tokio::time::timeout(CHECK_TIMEOUT, cmd.query_async::<String>(&mut conn)).await {
        Ok(Ok(_)) => result("redis", "healthy", start, ""),
        Ok(Err(_)) => result("redis", "unhealthy", start, "ping failed"),
        Err(_) => result("redis", "unhealthy", start, "timed out"),
    }
}

async fn check_ulm(state: &AppState) -> ComponentHealth {
    let start = Instant::now();
    match state.ulm.ready().await {
        Ok(s) if s.is_success() => result("ulm", "healthy", start, ""),
        Ok(s) => result(
            "ulm",
            "degraded",
            start,
            format!("readiness answered {}", s.as_u16()),
        ),
        Err(_) => result("ulm", "unhealthy", start, "unreachable"),
    }
}

/// Runs every check once.
pub async fn check_all(state: &AppState) -> Vec<ComponentHealth> {
    let start = Instant::now();
    let (pg, rd, ulm) = tokio::join!(
        check_postgres(&state.db),
        check_redis(state),
        check_ulm(state)
    );
    // AAM itself is healthy when its own dependencies answer.
    let aam = if pg.status == "healthy" && rd.status == "healthy" {
        result("aam", "healthy", start, "")
    } else {
        result("aam", "degraded", start, "a dependency of aam is unhealthy")
    };
    vec![ulm, aam, pg, rd]
}

/// Checks, remembers and stores one sample per component; prunes old samples.
pub async fn sample(state: &AppState) -> Vec<ComponentHealth> {
    let results = check_all(state).await;
    *state.health.0.write().unwrap_or_else(|p| p.into_inner()) =
        Some((Instant::now(), results.clone()));
    if let Err(e) = store(&state.db, &results, state.cfg.health_retention_hours).await {
        tracing::warn!(error = %e, "storing health samples failed");
    }
    results
}

async fn store(
    db: &PgPool,
    results: &[ComponentHealth],
    retention_hours: u64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for r in results {
        sqlx::query!(
            "INSERT INTO health_samples (component, status, latency_ms, message, checked_at)
             VALUES ($1, $2, $3, $4, $5)",
            &r.component,
            &r.status,
            r.latency_ms,
            &r.message,
            r.checked_at
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "DELETE FROM health_samples WHERE checked_at < now() - make_interval(hours => $1)",
        retention_hours as i32
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The newest results: from memory when fresh (two poll periods), otherwise sampled now.
pub async fn latest(state: &AppState) -> Vec<ComponentHealth> {
    let max_age = state.cfg.health_interval * 2;
    if let Some((at, r)) = &*state.health.0.read().unwrap_or_else(|p| p.into_inner())
        && at.elapsed() < max_age
    {
        return r.clone();
    }
    sample(state).await
}

/// The poller loop; ends when `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.cfg.health_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    hourly.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut alerts = match crate::alerts::Alerts::new() {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::error!(error = %e, "alert webhook client could not be built; alerts are off");
            None
        }
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let results = sample(&state).await;
                for r in results.iter().filter(|r| r.status != "healthy") {
                    tracing::warn!(component = %r.component, status = %r.status, message = %r.message, "component not healthy");
                }
                if let Some(a) = alerts.as_mut() {
                    a.observe(&state.db, &results).await;
                }
            }
            _ = hourly.tick() => {
                match crate::alerts::prune_audit(&state.db).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "audit log pruned to its retention"),
                    Err(e) => tracing::warn!(error = %e, "pruning the audit log failed"),
                }
            }
            _ = stop.changed() => break,
        }
    }
}
