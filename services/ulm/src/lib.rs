//! ovu-ulm: the User Login Manager, OVU's authority on identity.
//!
//! What flows through it: a request passes the kit's envelope (request id, metrics,
//! security headers), reaches a handler in [`routes`], which authenticates the caller in
//! [`auth`] (Ed25519 JWT bound to a live session, or a scoped API key), checks a
//! permission, and changes PostgreSQL in one transaction together with its [`audit`]
//! record. Passwords go through argon2id in [`crypto`] on blocking threads; rate limits
//! and lockouts live in Redis ([`ratelimit`]); the session, profile and account reads of
//! concurrent requests share statements ([`reads`]); tokens are minted in [`sessions`] and
//! signed by [`signing`], whose public key is published as a JWKS for AAM. Mail is queued
//! in the outbox table and delivered over SMTP by the worker in [`mail`], which mints each
//! link's token only when it sends. A background task ([`jobs`]) applies scheduled
//! deactivations.

use axum::Router;
use ovu_kit::health::{self, Deps};

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod catalog;
pub mod config;
pub mod crypto;
pub mod fuzz;
pub mod guard;
pub mod jobs;
pub mod mail;
pub mod me_cache;
pub mod models;
pub mod password_policy;
pub mod ratelimit;
pub mod reads;
pub mod retention;
pub mod routes;
pub mod sessions;
pub mod signing;
mod sql;
pub mod startup;
pub mod state;
pub mod totp;
pub mod validate;

pub use config::Config;
pub use startup::Application;
pub use state::AppState;

/// The embedded migrations; `migrate`/`serve` apply them under sqlx's advisory lock.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/ulm");

/// The whole HTTP application, without a listener (tests drive it with `oneshot`).
pub fn app(state: AppState) -> Router {
    let ops = health::router(
        Deps {
            db: state.db.clone(),
            redis: state.redis.clone(),
        },
        state.metrics.clone(),
    );
    let api = routes::api()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            invalidate_on_write,
        ))
        .with_state(state.clone());
    ovu_kit::http::finish(api.merge(ops), &state.cfg.http, state.metrics.clone())
}

/// Any write on this replica invalidates the `/users/me` cache before the client sees the
/// answer, so "log out, then reload" can never show the old session as live.
async fn invalidate_on_write(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let write = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let resp = next.run(req).await;
    if write {
        state.me_cache.bump();
    }
    resp
}
