//! ovu-aam: the Admin Area Manager, the back office behind the admin panel.
//!
//! What flows through it: a request carrying a ULM access token enters through kit's layers,
//! is authenticated by [`auth::Caller`] against ULM's JWKS ([`jwks`]) and checked for
//! `aam:access` plus the route's own permission, with the permissions ULM reports for the
//! session now ([`session_check`], at most a few seconds old) rather than the token's. Then it either
//! - goes to ULM with the caller's own token ([`ulm`]: users, roles, permissions, and ULM's
//!   part of the dashboard and the audit feed), so ULM stays the one authority, or
//! - reads and writes AAM's own tables (application registry, settings with history, AAM's
//!   audit log, health samples), every write recorded in [`audit`] in the same transaction.
//!
//! In the background [`poller`] samples the health of ULM, AAM, PostgreSQL and Redis and keeps
//! 24 hours of history, calling the alert webhook on every change and pruning AAM's audit log
//! to its retention ([`alerts`]); [`cluster`] reads the OvuSystem's status when running in a cluster.

use axum::Router;
use axum::routing::get;

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod fuzz;
pub mod input;
pub mod jwks;
pub mod poller;
pub mod ready;
pub mod routes;
pub mod session_check;
pub mod settings;
pub mod startup;
pub mod state;
pub mod ulm;

pub use startup::Application;
pub use state::AppState;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/aam");

/// The whole HTTP surface; tests call it with `oneshot`.
pub fn app(state: AppState) -> Router {
    // Liveness and metrics are kit's; readiness is AAM's own (it also reports ULM).
    let ops = Router::new()
        .route("/api/health", get(ovu_kit::health::health))
        .route(
            "/metrics",
            get(ovu_kit::metrics::metrics_handler).with_state(state.metrics.clone()),
        );
    let router = routes::api()
        .route("/api/ready", get(ready::ready))
        .with_state(state.clone())
        .merge(ops);
    ovu_kit::http::finish(router, &state.cfg.http, state.metrics.clone())
}
