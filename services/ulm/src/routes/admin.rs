//! Audit log, dashboard statistics, the global token policy and the mail outbox.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{Duration, Utc};
use ovu_kit::ApiError;
use ovu_kit::extract::{Json, Query};
use serde_json::json;

use crate::audit::{self, Event, Meta};
use crate::auth::Auth;
use crate::models::*;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/admin/stats", get(stats))
        .route(
            "/api/v1/admin/token-policy",
            get(get_policy).put(put_policy),
        )
        .route("/api/v1/admin/outbox", get(outbox))
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "events", body = [AuditEvent])))]
pub async fn audit_log(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    p.require(&state, Perm::AuditRead)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    Ok(Json(
        sqlx::query_as!(
            crate::models::AuditEvent,
            "SELECT id, occurred_at, event_type, actor_id, subject_id, ip, user_agent, request_id, details
             FROM audit_events
             WHERE ($1::uuid IS NULL OR actor_id = $1 OR subject_id = $1)
               AND ($2::text IS NULL OR event_type = $2)
               AND ($3::timestamptz IS NULL OR occurred_at >= $3)
               AND ($4::timestamptz IS NULL OR occurred_at < $4)
             ORDER BY occurred_at DESC, id DESC LIMIT $5",
            q.user_id,
            q.event_type,
            q.since,
            q.until,
            limit
        )
        .fetch_all(&state.db)
        .await?,
    ))
}

/// Totals and a daily series (registrations, logins, failed logins) for the dashboard.
#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "admin", params(StatsQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "figures", body = Stats)))]
pub async fn stats(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    p.require(&state, Perm::AuditRead)?;
    let days = q.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::field("days", "must be between 1 and 365"));
    }
    let totals: Totals = sqlx::query_as!(
        crate::models::Totals,
        r#"SELECT count(*) AS "users!",
                count(*) FILTER (WHERE status = 'active') AS "active!",
                count(*) FILTER (WHERE status = 'deactivated') AS "deactivated!",
                count(*) FILTER (WHERE email_verified_at IS NOT NULL) AS "verified!",
                count(*) FILTER (WHERE mfa_enabled) AS "mfa_enabled!",
                count(*) FILTER (WHERE scheduled_deactivation_at IS NOT NULL) AS "scheduled_deactivations!",
                (SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > now()) AS "active_sessions!",
                (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL) AS "api_keys!"
         FROM users"#
    )
    .fetch_one(&state.db)
    .await?;
    let since = (Utc::now() - Duration::days(days - 1)).date_naive();
    let daily: Vec<DailyPoint> = sqlx::query_as!(
        crate::models::DailyPoint,
        r#"WITH days AS (SELECT generate_series($1::date, (now() AT TIME ZONE 'UTC')::date, interval '1 day')::date AS d),
              ev AS (SELECT (occurred_at AT TIME ZONE 'UTC')::date AS d, event_type FROM audit_events
                     WHERE occurred_at >= $1::date AND event_type IN ('user_registered', 'login_succeeded', 'login_failed'))
         SELECT to_char(days.d, 'YYYY-MM-DD') AS "date!",
                count(ev.*) FILTER (WHERE ev.event_type = 'user_registered') AS "registrations!",
                count(ev.*) FILTER (WHERE ev.event_type = 'login_succeeded') AS "logins!",
                count(ev.*) FILTER (WHERE ev.event_type = 'login_failed') AS "failed_logins!"
         FROM days LEFT JOIN ev ON ev.d = days.d GROUP BY days.d ORDER BY days.d"#,
        since
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(Stats {
        days,
        totals,
        daily,
    }))
}

/// The token lifetimes every new token gets.
#[utoipa::path(get, path = "/api/v1/admin/token-policy", tag = "admin",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the policy", body = TokenPolicy)))]
pub async fn get_policy(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<TokenPolicy>, ApiError> {
    p.require(&state, Perm::SettingsRead)?;
    Ok(Json(
        sqlx::query_as!(
            crate::models::TokenPolicy,
            "SELECT access_ttl_minutes, refresh_ttl_days, updated_at FROM token_policy WHERE id",
        )
        .fetch_one(&state.db)
        .await?,
    ))
}

/// Change the token lifetimes (access 5–1440 minutes, refresh 1–90 days).
#[utoipa::path(put, path = "/api/v1/admin/token-policy", tag = "admin", request_body = TokenPolicyUpdate,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the new policy", body = TokenPolicy)))]
pub async fn put_policy(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Json(req): Json<TokenPolicyUpdate>,
) -> Result<Json<TokenPolicy>, ApiError> {
    p.require(&state, Perm::SettingsWrite)?;
    if !(5..=1440).contains(&req.access_ttl_minutes) {
        return Err(ApiError::field(
            "access_ttl_minutes",
            "must be between 5 and 1440",
        ));
    }
    if !(1..=90).contains(&req.refresh_ttl_days) {
        return Err(ApiError::field(
            "refresh_ttl_days",
            "must be between 1 and 90",
        ));
    }
    let mut tx = state.db.begin().await?;
    let policy: TokenPolicy = sqlx::query_as!(
        crate::models::TokenPolicy,
        "UPDATE token_policy SET access_ttl_minutes = $1, refresh_ttl_days = $2, updated_by = $3 WHERE id
         RETURNING access_ttl_minutes, refresh_ttl_days, updated_at",
        req.access_ttl_minutes,
        req.refresh_ttl_days,
        p.user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("token_policy_updated").actor(p.user_id).details(json!({
            "access_ttl_minutes": req.access_ttl_minutes, "refresh_ttl_days": req.refresh_ttl_days
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(policy))
}

/// Outgoing mail and its delivery state, newest first. Metadata only: the message and its
/// link are composed at send time and never stored.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin", params(OutboxQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "messages", body = [OutboxMessage])))]
pub async fn outbox(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<Vec<OutboxMessage>>, ApiError> {
    p.require(&state, Perm::SettingsRead)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    Ok(Json(
        sqlx::query_as!(
            crate::models::OutboxMessage,
            "SELECT id, kind, user_id, to_email, state, attempts, next_attempt_at, last_error,
                    created_at, sent_at
             FROM outbox
             WHERE ($1::text IS NULL OR lower(to_email) = lower($1))
             ORDER BY created_at DESC, id LIMIT $2",
            q.to,
            limit
        )
        .fetch_all(&state.db)
        .await?,
    ))
}
