//! The HTTP surface: one module per resource, each exposing `router()`.

use axum::Router;
use ovu_kit::ApiError;

use crate::state::AppState;

pub mod apps;
pub mod audit;
pub mod dashboard;
pub mod docs;
pub mod settings;
pub mod system;
pub mod users;

pub fn api() -> Router<AppState> {
    Router::new()
        .merge(dashboard::router())
        .merge(users::router())
        .merge(apps::router())
        .merge(settings::router())
        .merge(audit::router())
        .merge(system::router())
        .merge(docs::router())
}

/// A CHECK or NOT NULL violation means input slipped past the handler's own validation:
/// still the client's mistake, so 422 rather than 500.
pub(crate) fn check_violation(e: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &e
        && matches!(
            db.code().as_deref(),
            Some("23514" | "23502" | "22001" | "22P05" | "22021")
        )
    {
        return ApiError::validation("a value is out of range or malformed")
            .with_detail("constraint", db.constraint().unwrap_or("").to_string());
    }
    ApiError::from(e)
}
