//! ovu-aam: the Admin Area Manager, the back office behind the admin panel.
//!
//! What flows through it: a request carrying a ULM access token enters through kit's layers,
//! is authenticated by [`auth::Caller`] against ULM's JWKS ([`jwks`]) and checked for
//! `aam:access` plus the route's own permission. Then it either
//! - goes to ULM with the caller's own token ([`ulm`]: users, roles, permissions, and ULM's
//!   part of the dashboard and the audit feed), so ULM stays the one authority, or
//! - reads and writes AAM's own tables (application registry, settings with history, AAM's
//!   audit log, health samples), every write recorded in [`audit`] in the same transaction.
//!
//! In the background [`poller`] samples the health of ULM, AAM, PostgreSQL and Redis and keeps
//! 24 hours of history; [`cluster`] reads the OvuSystem's status when running in a cluster.

use axum::Router;
use ovu_kit::health::Deps;

pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod jwks;
pub mod poller;
pub mod routes;
pub mod settings;
pub mod state;
pub mod ulm;

pub use state::AppState;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/aam");

/// The whole HTTP surface; tests call it with `oneshot`.
pub fn app(state: AppState) -> Router {
    let ops = ovu_kit::health::router(
        Deps {
            db: state.db.clone(),
            redis: state.redis.clone(),
        },
        state.metrics.clone(),
    );
    let router = routes::api().with_state(state.clone()).merge(ops);
    ovu_kit::http::finish(router, &state.cfg.http, state.metrics.clone())
}
