//! Extractors whose rejections speak the [`ApiError`] shape.
//!
//! axum's own `Json`, `Query` and `Path` answer bad input with plain-text bodies; these
//! wrappers keep the status axum chose (400, 413, 415, 422) and give it a stable code.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body in, JSON body out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body whose field rules ([`crate::input`]) are judged only when the handler asks,
/// after its own checks. A malformed body is refused at once, as by [`Json`]; a value that
/// breaks a field's rule is held, so a caller without the permission still gets 403 (or a
/// rate-limited one 429) before learning the rules, as when handlers checked fields
/// themselves.
#[derive(Debug, Clone)]
pub struct CheckedJson<T> {
    value: Result<T, ApiError>,
    raw: Bytes,
}

impl<T> CheckedJson<T> {
    /// The body, or the first field rule it broke.
    pub fn value(self) -> Result<T, ApiError> {
        self.value
    }

    /// The body, or (when it broke a field rule) the error and the body as the client sent
    /// it: a relay hands that on and lets the service that owns the rules answer.
    pub fn value_or_raw(self) -> Result<T, (ApiError, Bytes)> {
        self.value.map_err(|e| (e, self.raw))
    }
}

impl<T, S> FromRequest<S> for CheckedJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(e.into()))?;
        // Decode exactly as `Json` does (content type, then body), from the bytes kept.
        let mut again = Request::new(axum::body::Body::from(raw.clone()));
        *again.headers_mut() = headers;
        match Json::<T>::from_request(again, state).await {
            Ok(Json(v)) => Ok(CheckedJson { value: Ok(v), raw }),
            // Only a field rule's failure names a field here (see `field_error`).
            Err(e) if e.details.contains_key("field") => Ok(CheckedJson { value: Err(e), raw }),
            Err(e) => Err(e),
        }
    }
}

/// Maps axum's JSON rejection onto our codes.
pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // A validated field (crate::input) failed: the same error its check gives.
            if let Some(err) = field_error(&e) {
                return err;
            }
            // serde's message names the field and the expected type; no internals.
            ApiError::validation(clean(&e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::malformed_json(clean(&e.body_text())),
        JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
        other => ApiError::bad_request(clean(&other.body_text())),
    }
}

/// The [`crate::input`] failure inside a JSON data error, naming the field by its JSON path.
fn field_error(e: &axum::extract::rejection::JsonDataError) -> Option<ApiError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(err) = s.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            return crate::input::decode(&err.inner().to_string(), &err.path().to_string());
        }
        source = s.source();
    }
    None
}

/// axum prefixes messages with "Failed to deserialize the JSON body into the target type: ";
/// keep the useful part and bound the length.
fn clean(s: &str) -> String {
    let s = s.rsplit_once("target type: ").map(|(_, r)| r).unwrap_or(s);
    let mut out: String = s.chars().take(300).collect();
    if out.is_empty() {
        out.push_str("invalid request body");
    }
    out
}

/// Query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> ApiError {
    let msg = e.body_text();
    let msg = msg
        .rsplit_once("query string: ")
        .map(|(_, r)| r)
        .unwrap_or(&msg);
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        msg.chars().take(300).collect::<String>(),
    )
}

/// Path parameters; a malformed id is answered like an unknown one would be shaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(path_rejection(e)),
        }
    }
}

fn path_rejection(e: PathRejection) -> ApiError {
    match e {
        PathRejection::FailedToDeserializePathParams(inner) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            inner.body_text().chars().take(300).collect::<String>(),
        ),
        other => ApiError::internal(other.body_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Deserialize)]
    struct In {
        #[allow(dead_code)]
        n: u32,
    }

    async fn call(body: &'static str, ct: Option<&str>) -> (StatusCode, serde_json::Value) {
        let app = Router::new().route("/", post(|Json(_): Json<In>| async { "ok" }));
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = app
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn rejections_use_the_shape() {
        let (s, v) = call("{", Some("application/json")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json"))
        );
        let (s, v) = call(r#"{"n":"x"}"#, Some("application/json")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"))
        );
        let (s, v) = call(r#"{}"#, Some("application/json")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("missing field")
        );
        let (s, v) = call(r#"{"n":1}"#, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported_media_type")
            )
        );
    }

    /// A code of two lowercase letters, for the test below.
    struct Code;

    impl crate::input::Validated for Code {
        const FIELD: &'static str = "code";
        fn parse_field(field: &str, raw: &str) -> Result<Self, ApiError> {
            if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_lowercase()) {
                Ok(Code)
            } else {
                Err(ApiError::field(field, "must be two letters").with_detail("reason", "bad_code"))
            }
        }
    }

    impl<'de> Deserialize<'de> for Code {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            crate::input::deserialize(d)
        }
    }

    #[derive(Deserialize)]
    struct WithCode {
        #[allow(dead_code)]
        primary: Option<Code>,
    }

    #[tokio::test]
    async fn a_validated_field_fails_with_its_own_error_named_by_the_json_key() {
        let app = Router::new().route("/", post(|Json(_): Json<WithCode>| async { "ok" }));
        let send = |body: &'static str| {
            let app = app.clone();
            async move {
                let req = Request::builder()
                    .method("POST")
                    .uri("/")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap();
                let resp = app.oneshot(req).await.unwrap();
                let status = resp.status();
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                (
                    status,
                    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
                )
            }
        };
        let (s, v) = send(r#"{"primary":"ABC"}"#).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(v["error"]["code"], "validation_failed");
        assert_eq!(v["error"]["message"], "must be two letters");
        assert_eq!(v["error"]["details"]["field"], "primary");
        assert_eq!(v["error"]["details"]["reason"], "bad_code");
        let (s, _) = send(r#"{"primary":"ab"}"#).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = send(r#"{"primary":null}"#).await;
        assert_eq!(s, StatusCode::OK);
        // Held until asked for: the handler's own refusal comes first.
        let checked = Router::new().route(
            "/",
            post(|body: CheckedJson<WithCode>| async move {
                if body.value().is_err() {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::OK
                }
            }),
        );
        let req = |body: &'static str| {
            Request::builder()
                .method("POST")
                .uri("/")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap()
        };
        let r = checked
            .clone()
            .oneshot(req(r#"{"primary":"ABC"}"#))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = checked
            .clone()
            .oneshot(req(r#"{"primary":5}"#))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let r = checked.oneshot(req("{")).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // A relay gets the body back as sent, to let the rules' owner answer.
        let relay = Router::new().route(
            "/",
            post(|body: CheckedJson<WithCode>| async move {
                match body.value_or_raw() {
                    Ok(_) => String::new(),
                    Err((e, raw)) => {
                        format!("{} {}", e.details["field"], String::from_utf8_lossy(&raw))
                    }
                }
            }),
        );
        let r = relay.oneshot(req(r#"{"primary":"ABC"}"#)).await.unwrap();
        let text = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&text[..], br#""primary" {"primary":"ABC"}"#);
        // A wrong type is still serde's own message, without a field detail.
        let (s, v) = send(r#"{"primary":5}"#).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(v["error"]["details"].get("field").is_none(), "{v}");
    }
}
