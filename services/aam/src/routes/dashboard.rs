//! `GET /dashboard`: ULM's user, login and session figures with AAM's own (registry, service
//! health). When ULM cannot answer, AAM's part is still served and `ulm_available` is false.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use ovu_kit::error::ApiResult;
use ovu_kit::extract::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Caller, perm};
use crate::dashboard::UlmTotals;
use crate::poller::{self, ComponentHealth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/dashboard", get(dashboard))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserTotals {
    pub total: i64,
    pub active: i64,
    pub deactivated: i64,
    pub verified: i64,
    pub mfa_enabled: i64,
    pub scheduled_deactivations: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyPoint {
    /// UTC day, `YYYY-MM-DD`.
    pub date: String,
    pub signups: i64,
    pub logins: i64,
    pub failures: i64,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CountBy {
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppFigures {
    pub total: i64,
    pub by_status: Vec<CountBy>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    /// Whether ULM's figures below are present.
    pub ulm_available: bool,
    /// Users by status (null when ULM is unavailable).
    pub users: Option<UserTotals>,
    pub logins_24h: Option<i64>,
    pub failed_logins_24h: Option<i64>,
    /// The 24-hour counts reached ULM's page limit (1000) and are lower bounds.
    pub logins_capped: bool,
    pub active_sessions: Option<i64>,
    /// Live API keys.
    pub api_keys: Option<i64>,
    /// Last 30 days, oldest first (empty when ULM is unavailable).
    pub daily: Vec<DailyPoint>,
    pub services: Vec<ComponentHealth>,
    pub apps: AppFigures,
    pub generated_at: DateTime<Utc>,
}

/// Figures and 30-day series for the admin dashboard.
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "dashboard",
    responses((status = 200, description = "dashboard figures", body = Dashboard)))]
pub async fn dashboard(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Dashboard>> {
    caller.require(perm::AUDIT_READ)?;
    let apps = sqlx::query_as!(
        CountBy,
        r#"SELECT status AS key, count(*) AS "count!" FROM apps GROUP BY status ORDER BY status"#,
    )
    .fetch_all(&state.db);
    let (ulm, apps, services) = tokio::join!(
        state.stats_cache.get(&state, &caller),
        apps,
        poller::latest(&state)
    );
    let apps = apps?;
    let ulm = match ulm {
        Ok(f) => Some(f),
        // A permission ULM refuses is the caller's problem, not an outage.
        Err(e) if e.status.is_client_error() => return Err(e),
        Err(_) => None,
    };
    let t: Option<&UlmTotals> = ulm.as_ref().map(|f| &f.stats.totals);
    Ok(Json(Dashboard {
        ulm_available: ulm.is_some(),
        users: t.map(|t| UserTotals {
            total: t.users,
            active: t.active,
            deactivated: t.deactivated,
            verified: t.verified,
            mfa_enabled: t.mfa_enabled,
            scheduled_deactivations: t.scheduled_deactivations,
        }),
        logins_24h: ulm.as_ref().map(|f| f.logins_24h),
        failed_logins_24h: ulm.as_ref().map(|f| f.failed_logins_24h),
        logins_capped: ulm.as_ref().is_some_and(|f| f.capped),
        active_sessions: t.map(|t| t.active_sessions),
        api_keys: t.map(|t| t.api_keys),
        daily: ulm
            .as_ref()
            .map(|f| {
                f.stats
                    .daily
                    .iter()
                    .map(|d| DailyPoint {
                        date: d.date.clone(),
                        signups: d.registrations,
                        logins: d.logins,
                        failures: d.failed_logins,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        services,
        apps: AppFigures {
            total: apps.iter().map(|a| a.count).sum(),
            by_status: apps,
        },
        generated_at: Utc::now(),
    }))
}
