//! The operator's HTTP endpoints: `/metrics`, `/healthz` (the process serves) and `/readyz`
//! (a standby is ready; a leader only while its watches are live).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use k8s_openapi::jiff::Timestamp;
use prometheus_client::registry::Registry;

/// Shared liveness facts.
#[derive(Debug, Default)]
pub struct Readiness {
    /// This replica holds the Lease.
    pub leader: AtomicBool,
    /// The OvuSystem store finished its initial list.
    pub store_ready: AtomicBool,
    /// Unix seconds of the last watch error (0: none).
    pub last_watch_error: AtomicI64,
}

/// A watch error within this many seconds makes the leader not ready.
pub const WATCH_ERROR_GRACE_SECS: i64 = 30;

impl Readiness {
    pub fn watch_error(&self) {
        self.last_watch_error
            .store(Timestamp::now().as_second(), Ordering::Relaxed);
    }

    /// Ready, and why not.
    pub fn check(&self) -> Result<(), &'static str> {
        if !self.leader.load(Ordering::Relaxed) {
            return Ok(()); // a standby is ready to take over
        }
        if !self.store_ready.load(Ordering::Relaxed) {
            return Err("watch has not synced");
        }
        let last = self.last_watch_error.load(Ordering::Relaxed);
        if last != 0 && Timestamp::now().as_second() - last < WATCH_ERROR_GRACE_SECS {
            return Err("watch errors in the last 30s");
        }
        Ok(())
    }
}

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    readiness: Arc<Readiness>,
}

pub fn app(registry: Arc<Registry>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            registry,
            readiness,
        })
}

async fn metrics(
    State(s): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::encode(&s.registry),
    )
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    match s.readiness.check() {
        Ok(()) => (StatusCode::OK, "ok\n".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}
