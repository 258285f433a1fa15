//! The HTTP surface: one module per resource, each exposing `router()`.

use axum::Router;

use crate::state::AppState;

pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod docs;
pub mod me;
pub mod mfa;
pub mod roles;
pub mod users;

pub fn api() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(mfa::router())
        .merge(me::router())
        .merge(api_keys::router())
        .merge(users::router())
        .merge(roles::router())
        .merge(admin::router())
        .merge(docs::router())
}
