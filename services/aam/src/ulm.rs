//! Calls to ULM's admin API with the caller's own token, so ULM stays the one authority
//! and its audit log names the real actor.
//!
//! ULM's 2xx and 4xx answers pass through unchanged (its errors already speak the shared
//! shape); a connection failure, a timeout or a 5xx becomes 503 `upstream_unavailable`.
//! The bound on every call is the client's timeout (`AAM_ULM_TIMEOUT_MS`).

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ovu_kit::ApiError;
use ovu_kit::http::REQUEST_ID;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Caller;

pub const TOTAL_COUNT: &str = "x-total-count";

#[derive(Clone)]
pub struct UlmClient {
    client: reqwest::Client,
    base: String,
}

/// A ULM answer that was not a server failure.
#[derive(Debug)]
pub struct UlmReply {
    pub status: StatusCode,
    pub total_count: Option<HeaderValue>,
    pub body: axum::body::Bytes,
}

impl UlmReply {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// Parses a 2xx body; a 4xx becomes the ApiError ULM sent.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        if !self.is_success() {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            tracing::error!(error = %e, "ulm answered an unexpected body");
            ApiError::upstream_unavailable()
        })
    }

    /// ULM's 4xx as an ApiError (keeping code, message and details).
    pub fn error(&self) -> ApiError {
        match serde_json::from_slice::<ovu_kit::ErrorBody>(&self.body) {
            Ok(b) => {
                let code: &'static str = match b.error.code.as_str() {
                    // ApiError wants a static code: map ULM's known codes, keep others generic.
                    "validation_failed" => "validation_failed",
                    "not_found" => "not_found",
                    "conflict" => "conflict",
                    "forbidden" => "forbidden",
                    "unauthorized" => "unauthorized",
                    "invalid_token" => "invalid_token",
                    "token_expired" => "token_expired",
                    "mfa_required" => "mfa_required",
                    "rate_limited" => "rate_limited",
                    "bad_request" => "bad_request",
                    "invalid_query" => "invalid_query",
                    "invalid_path" => "invalid_path",
                    _ => "upstream_error",
                };
                let mut e = ApiError::new(self.status, code, b.error.message);
                e.details = b.error.details;
                e
            }
            Err(_) => ApiError::new(
                self.status,
                "upstream_error",
                "the user service refused the request",
            ),
        }
    }
}

impl IntoResponse for UlmReply {
    fn into_response(self) -> Response {
        let empty = self.body.is_empty();
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        if !empty {
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let Some(tc) = self.total_count {
            resp.headers_mut().insert(TOTAL_COUNT, tc);
        }
        resp
    }
}

impl UlmClient {
    pub fn new(client: reqwest::Client, base: String) -> Self {
        Self { client, base }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// One call to ULM as `caller`. `path` starts with `/api/v1/`.
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<UlmReply, ApiError> {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .header(header::AUTHORIZATION, caller.authorization.clone())
            .header(header::ACCEPT, "application/json");
        if !caller.meta.request_id.is_empty() {
            req = req.header(REQUEST_ID, caller.meta.request_id.as_str());
        }
        // The admin's own address and browser, so ULM's audit log and its per-IP limits see
        // the person rather than AAM. ULM believes this only when AAM's address is in its
        // TRUSTED_PROXIES.
        req = req.header("x-forwarded-for", caller.meta.ip.to_string());
        if !caller.meta.user_agent.is_empty() {
            req = req.header(header::USER_AGENT, caller.meta.user_agent.as_str());
        }
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            tracing::warn!(error = %e, path, "ulm unreachable");
            ApiError::upstream_unavailable()
        })?;
        let status =
            StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        if status.is_server_error() || status.is_informational() || status.is_redirection() {
            tracing::warn!(status = status.as_u16(), path, "ulm failed");
            return Err(ApiError::upstream_unavailable());
        }
        let total_count = resp
            .headers()
            .get(TOTAL_COUNT)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        let body = resp.bytes().await.map_err(|e| {
            tracing::warn!(error = %e, path, "ulm body read failed");
            ApiError::upstream_unavailable()
        })?;
        Ok(UlmReply {
            status,
            total_count,
            body,
        })
    }

    /// GET without a body.
    pub async fn get(
        &self,
        caller: &Caller,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<UlmReply, ApiError> {
        self.call::<()>(caller, Method::GET, path, query, None)
            .await
    }

    /// ULM's readiness, for the health poller (no token needed).
    pub async fn ready(&self) -> Result<StatusCode, reqwest::Error> {
        let r = self
            .client
            .get(format!("{}/api/ready", self.base))
            .send()
            .await?;
        Ok(StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY))
    }
}
