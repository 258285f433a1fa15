//! The HTTP envelope around a service's routes: request id, tracing span, metrics,
//! security headers, CORS, body limit, 404/405 in the error shape, and graceful serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use crate::config::HttpConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::net::{RequestId, TrustedProxies};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a service's router with everything every OVU API needs. Call it last, on the
/// router with state already applied.
pub fn finish(router: Router, cfg: &HttpConfig, metrics: Metrics) -> Router {
    let trusted = TrustedProxies(Arc::new(cfg.trusted_proxies.clone()));
    let mut router = router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(cfg.body_limit));
    if !cfg.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = cfg
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-api-key"),
                    REQUEST_ID,
                ])
                .expose_headers([
                    HeaderName::from_static("x-total-count"),
                    REQUEST_ID,
                    header::RETRY_AFTER,
                ])
                .max_age(std::time::Duration::from_secs(600)),
        );
    }
    router
        .layer(axum::middleware::from_fn_with_state(metrics, observe))
        .layer(axum::Extension(trusted))
}

/// A client-supplied id is kept only when it is short and plain, so it cannot inject
/// anything into logs; otherwise we mint one.
fn accept_request_id(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    (1..=64).contains(&s.len()).then_some(())?;
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        .then_some(s)
}

/// Request id + span + metrics + security headers, in one middleware to keep the hot path short.
async fn observe(State(metrics): State<Metrics>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id: Arc<str> = match req.headers().get(&REQUEST_ID).and_then(accept_request_id) {
        Some(s) => Arc::from(s),
        None => Arc::from(uuid::Uuid::new_v4().simple().to_string()),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    // Only the route template goes into the span: raw paths and query strings can carry
    // tokens, and headers/bodies are never logged.
    let span = tracing::info_span!("request", method = %method, path = %path, request_id = %id);
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status();
    let elapsed = start.elapsed();
    metrics.observe(
        method.as_str(),
        &path,
        status.as_u16(),
        elapsed.as_secs_f64(),
    );
    let ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), ms, "request failed");
        } else if status.is_client_error() {
            tracing::info!(status = status.as_u16(), ms, "request rejected");
        } else {
            tracing::debug!(status = status.as_u16(), ms, "request served");
        }
    });
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    // Handlers that serve HTML (the docs page) set their own CSP and caching.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received, draining connections");
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Renders any `IntoResponse` error as the shape (used by handlers that build responses by hand).
pub fn error_response(e: ApiError) -> Response {
    e.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn app() -> Router {
        let r = Router::new().route("/ok", get(|| async { "ok" })).route(
            "/echo",
            post(
                |crate::extract::Json(v): crate::extract::Json<serde_json::Value>| async move {
                    crate::extract::Json(v)
                },
            ),
        );
        let cfg = HttpConfig {
            cors_origins: vec!["https://ulm.example".into()],
            body_limit: 1024,
            trusted_proxies: vec![],
        };
        finish(r, &cfg, Metrics::new("t"))
    }

    async fn code(resp: Response) -> String {
        let b = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        v["error"]["code"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn headers_request_id_and_fallbacks() {
        let resp = app()
            .oneshot(
                Request::get("/ok")
                    .header("x-request-id", "abc-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-request-id"], "abc-1");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
        assert!(
            resp.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );

        // A hostile id is replaced.
        let resp = app()
            .oneshot(
                Request::get("/ok")
                    .header("x-request-id", "bad id; with <chars>")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-request-id"].len(), 32);

        let resp = app()
            .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(code(resp).await, "not_found");
        let resp = app()
            .oneshot(Request::delete("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(code(resp).await, "method_not_allowed");
    }

    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn request_logs_carry_no_credentials() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let body = r#"{"password":"hunter2-secret"}"#;
        for uri in ["/echo?token=query-secret", "/nope?token=query-secret"] {
            app()
                .oneshot(
                    Request::post(uri)
                        .header("authorization", "Bearer header-secret")
                        .header("cookie", "sid=cookie-secret")
                        .header("content-type", "application/json")
                        .body(Body::from(body))
                        .unwrap(),
                )
                .await
                .unwrap();
        }
        let logged = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("request"), "nothing logged: {logged}");
        for secret in [
            "hunter2-secret",
            "query-secret",
            "header-secret",
            "cookie-secret",
        ] {
            assert!(
                !logged.contains(secret),
                "{secret} leaked into logs: {logged}"
            );
        }
    }

    #[tokio::test]
    async fn graceful_shutdown_finishes_in_flight_requests() {
        // The handler says when the request is inside it, so the shutdown below starts with
        // a request in flight for certain (not after a guessed 100 ms).
        let entered = std::sync::Arc::new(tokio::sync::Notify::new());
        let in_handler = entered.clone();
        let router = Router::new().route(
            "/slow",
            get(move || async move {
                in_handler.notify_one();
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                "done"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = rx.await;
        }));
        let client = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        });
        entered.notified().await;
        tx.send(()).unwrap();
        let reply = client.await.unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("done"),
            "{reply}"
        );
        server.await.unwrap().unwrap();
        // And it no longer accepts connections.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn oversize_body_is_413_in_the_shape() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(4096));
        let resp = app()
            .oneshot(
                Request::post("/echo")
                    .header("content-type", "application/json")
                    .body(Body::from(big))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
        assert_eq!(code(resp).await, "payload_too_large");
    }

    #[tokio::test]
    async fn cors_only_for_configured_origins() {
        let ok = app()
            .oneshot(
                Request::get("/ok")
                    .header("origin", "https://ulm.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "https://ulm.example"
        );
        let other = app()
            .oneshot(
                Request::get("/ok")
                    .header("origin", "https://evil.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(other.headers().get("access-control-allow-origin").is_none());
    }
}
