//! The one error shape of every OVU API: `{"error": {"code", "message", "details"}}`.
//!
//! Codes are stable snake_case strings the web apps translate; messages are for humans
//! and never carry internals (SQL, stack traces, key material). Internal failures are
//! logged with their cause and answered with a generic `internal`.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The wire shape.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    /// Human-readable explanation; never contains internals.
    pub message: String,
    /// Structured context (e.g. which fields failed); always an object.
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

/// A failed request, ready to be rendered.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    pub details: Map<String, Value>,
    /// Seconds for a `Retry-After` header (rate limits, lockouts).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }
    }

    /// Adds one key to `details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }

    /// A validation failure about one field.
    pub fn field(field: &str, message: impl Into<Cow<'static, str>>) -> Self {
        let message = message.into();
        Self::validation(message.clone()).with_detail("field", field)
    }

    pub fn malformed_json(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a request with Content-Type: application/json",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is too large",
        )
    }

    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication required",
        )
    }

    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "invalid login or password",
        )
    }

    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "token is invalid",
        )
    }

    pub fn token_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "token has expired",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you do not have permission to do this",
        )
    }

    pub fn missing_permission(permission: &str) -> Self {
        Self::forbidden().with_detail("permission", permission)
    }

    pub fn mfa_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "mfa_required",
            "multi-factor authentication is required for this action",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        )
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests, try again later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    pub fn account_locked(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "account_locked",
            "too many failed attempts, try again later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    pub fn upstream_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "a dependency is unavailable, try again later",
        )
    }

    /// An unexpected failure: the cause is logged here, the client sees only `internal`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.to_string(),
                details: self.details.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// SQLSTATEs that mean "the database is not there right now", not "this request is wrong":
/// connection exceptions (class 08), a server shutting down, restarting or still starting
/// (57P01–57P03: what a client sees while PostgreSQL's pod is replaced), and no free
/// connection slot (53300).
pub(crate) fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| unavailable_sqlstate(&c)),
            _ => false,
        };
        if unavailable {
            tracing::error!(error = %e, "database unavailable");
            let mut e = Self::upstream_unavailable();
            e.retry_after = Some(1);
            e
        } else {
            Self::internal(e)
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        tracing::error!(error = %e, "redis unavailable");
        Self::upstream_unavailable()
    }
}

/// Returns the constraint name when `e` is a PostgreSQL unique violation, so callers can
/// turn a race on a unique index into a 409 instead of a 500.
pub fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or(""))
        }
        _ => None,
    }
}

/// Foreign-key violation (`23503`): usually "the referenced id does not exist".
pub fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_the_shape_and_retry_after() {
        let resp = ApiError::rate_limited(42).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "rate_limited");
        assert!(v["error"]["details"].is_object());
    }

    #[tokio::test]
    async fn internal_hides_the_cause() {
        let resp = ApiError::internal("password=hunter2 in SQL").into_response();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let s = String::from_utf8(body.to_vec()).unwrap();
        assert!(!s.contains("hunter2"));
        assert!(s.contains("\"internal\""));
    }

    /// A query on a connection PostgreSQL terminates (as a fast shutdown does to every
    /// session when its pod is replaced) is a 503 the client may retry, never a 500.
    #[tokio::test]
    async fn a_terminated_database_session_is_503_not_500() {
        use sqlx::Connection as _;
        let url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL: start PostgreSQL with scripts/services.sh and source .run/env");
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let e = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
            .execute(&mut c)
            .await
            .expect_err("the session ends itself");
        let api = ApiError::from(e);
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE, "{api}");
        assert_eq!(api.code, "upstream_unavailable");
        assert_eq!(api.retry_after, Some(1));
    }

    #[test]
    fn sqlstates_of_an_absent_database_are_told_apart_from_bugs() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "22001", "40001"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
    }
}
