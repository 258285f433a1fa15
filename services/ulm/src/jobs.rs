//! Background work: applying scheduled deactivations, and hourly retention ([`crate::retention`]).
//!
//! Each tick claims due rows with `FOR UPDATE SKIP LOCKED`, so several replicas can run
//! the job at once without doing the same user twice.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::state::AppState;

const BATCH: i64 = 100;

/// Deactivates every user whose scheduled time has passed; returns how many.
pub async fn deactivation_tick(state: &AppState) -> Result<u64, sqlx::Error> {
    let mut done = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let due: Vec<(Uuid, Option<String>)> = sqlx::query!(
            "SELECT id, scheduled_deactivation_reason FROM users
             WHERE scheduled_deactivation_at <= now() AND status = 'active'
             ORDER BY scheduled_deactivation_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            BATCH
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.id, r.scheduled_deactivation_reason))
        .collect();
        let n = due.len();
        let meta = Meta {
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            user_agent: "ovu-ulm scheduler".into(),
            request_id: String::new(),
        };
        for (id, reason) in due {
            let reason = reason.unwrap_or_else(|| "scheduled".into());
            if !crate::routes::users::may_leave(&mut tx, id).await? {
                // The handler refuses this too; a schedule set while other super_admins
                // existed must not leave the system with none. Drop the schedule, keep a record.
                tracing::warn!(user_id = %id, "scheduled deactivation of the last super_admin skipped");
                sqlx::query!("UPDATE users SET scheduled_deactivation_at = NULL, scheduled_deactivation_reason = NULL WHERE id = $1", id)
                    .execute(&mut *tx)
                    .await?;
                audit::record(
                    &mut *tx,
                    &meta,
                    Event::new("user_deactivation_skipped")
                        .subject(id)
                        .details(json!({ "reason": "last_super_admin" })),
                )
                .await?;
                continue;
            }
            crate::routes::users::deactivate_now(&mut tx, id, &reason).await?;
            audit::record(
                &mut *tx,
                &meta,
                Event::new("user_deactivated")
                    .subject(id)
                    .details(json!({ "reason": reason, "scheduled": true })),
            )
            .await?;
        }
        tx.commit().await?;
        if n > 0 {
            state.me_cache.bump();
        }
        done += n as u64;
        if (n as i64) < BATCH {
            return Ok(done);
        }
    }
}

/// Runs the tick every `interval` until `stop` flips.
pub async fn run(state: AppState, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Retention scans whole tables; once an hour is plenty (the first pass runs at start).
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    hourly.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = hourly.tick() => {
                match crate::retention::tick(&state.db, state.cfg.retention).await {
                    Ok(p) if p.total() == 0 => {}
                    Ok(p) => tracing::info!(?p, "retention pruned"),
                    Err(e) => tracing::warn!(error = %e, "retention pass failed"),
                }
            }
            _ = ticker.tick() => {
                match deactivation_tick(&state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(users = n, "scheduled deactivations applied"),
                    Err(e) => tracing::warn!(error = %e, "scheduled deactivation tick failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}
