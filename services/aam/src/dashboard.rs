//! ULM's statistics as the dashboard needs them, fetched at most every few seconds.
//!
//! The figures are the same for every administrator (ULM's `/admin/stats` is not scoped to
//! the caller), and AAM checks `audit:read` before serving them, so one fetch can serve all
//! admins for `AAM_DASHBOARD_CACHE_MS`. That keeps the dashboard's latency AAM's own, not
//! ULM's, under load. A failure (ULM down) is remembered for a second; a refusal (4xx) is
//! never shared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UlmTotals {
    pub users: i64,
    pub active: i64,
    pub deactivated: i64,
    pub verified: i64,
    pub mfa_enabled: i64,
    pub scheduled_deactivations: i64,
    pub active_sessions: i64,
    pub api_keys: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UlmDailyPoint {
    pub date: String,
    pub registrations: i64,
    pub logins: i64,
    pub failed_logins: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UlmStats {
    pub totals: UlmTotals,
    pub daily: Vec<UlmDailyPoint>,
}

#[derive(Debug, Clone, Deserialize)]
struct EventId {
    #[allow(dead_code)]
    id: i64,
}

/// What the dashboard shows from ULM.
#[derive(Debug, Clone)]
pub struct UlmFigures {
    pub stats: UlmStats,
    pub logins_24h: i64,
    pub failed_logins_24h: i64,
    /// The 24-hour counts hit ULM's page limit and are lower bounds.
    pub capped: bool,
}

/// The 24-hour counts read ULM's audit feed, one page of at most this many events.
const EVENT_PAGE: usize = 1000;

type Outcome = Result<Arc<UlmFigures>, ovu_kit::ApiError>;

pub struct StatsCache {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Outcome)>>,
}

/// How long "ULM is unavailable" is remembered: without it, callers queued behind a failed
/// fetch would each wait out the ULM timeout again, one after the other.
const FAILURE_TTL: Duration = Duration::from_secs(1);

impl StatsCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// Cached figures, or a fresh fetch as `caller`. Errors are ULM's (4xx) or 503.
    pub async fn get(
        &self,
        state: &AppState,
        caller: &Caller,
    ) -> Result<Arc<UlmFigures>, ovu_kit::ApiError> {
        // Holding the lock across the fetch makes concurrent misses wait for one fetch
        // instead of stampeding ULM.
        let mut slot = self.slot.lock().await;
        if let Some((at, outcome)) = &*slot {
            let ttl = if outcome.is_ok() {
                self.ttl
            } else {
                FAILURE_TTL
            };
            if at.elapsed() < ttl {
                return outcome.clone();
            }
        }
        let outcome = fetch(state, caller).await.map(Arc::new);
        // A refusal (4xx) is about this caller's rights, so it is never shared.
        if outcome.as_ref().is_ok() || outcome.as_ref().is_err_and(|e| e.status.is_server_error()) {
            *slot = Some((Instant::now(), outcome.clone()));
        }
        outcome
    }
}

async fn count(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    since: &str,
) -> Result<(i64, bool), ovu_kit::ApiError> {
    let events: Vec<EventId> = state
        .ulm
        .get(
            caller,
            "/api/v1/audit",
            &[
                ("type", kind.to_string()),
                ("since", since.to_string()),
                ("limit", EVENT_PAGE.to_string()),
            ],
        )
        .await?
        .json()?;
    Ok((events.len() as i64, events.len() >= EVENT_PAGE))
}

async fn fetch(state: &AppState, caller: &Caller) -> Result<UlmFigures, ovu_kit::ApiError> {
    let since = (Utc::now() - chrono::Duration::hours(24))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let stats = async {
        state
            .ulm
            .get(caller, "/api/v1/admin/stats", &[("days", "30".to_string())])
            .await?
            .json::<UlmStats>()
    };
    let (stats, ok, failed) = tokio::join!(
        stats,
        count(state, caller, "login_succeeded", &since),
        count(state, caller, "login_failed", &since)
    );
    let (ok, failed) = (ok?, failed?);
    Ok(UlmFigures {
        stats: stats?,
        logins_24h: ok.0,
        failed_logins_24h: failed.0,
        capped: ok.1 || failed.1,
    })
}
