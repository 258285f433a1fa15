//! /healthz, /readyz and /metrics, called without a port.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use http::{Request, StatusCode};
use ovu_operator::metrics::Metrics;
use ovu_operator::server::{Readiness, app};
use tower::ServiceExt;

async fn get(app: axum::Router, path: &str) -> (StatusCode, String) {
    let r = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn readyz_follows_leadership_and_watch_health() {
    let mut reg = prometheus_client::registry::Registry::default();
    let m = Metrics::new(&mut reg);
    m.reconciles.inc();
    let ready = Arc::new(Readiness::default());
    let app = app(Arc::new(reg), ready.clone());

    assert_eq!(get(app.clone(), "/healthz").await.0, StatusCode::OK);
    // A standby is ready to take over.
    assert_eq!(get(app.clone(), "/readyz").await.0, StatusCode::OK);
    // A leader whose watch has not synced is not.
    ready.leader.store(true, Ordering::Relaxed);
    let (s, body) = get(app.clone(), "/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("not synced"));
    ready.store_ready.store(true, Ordering::Relaxed);
    assert_eq!(get(app.clone(), "/readyz").await.0, StatusCode::OK);
    // A recent watch error makes it unready.
    ready.watch_error();
    assert_eq!(
        get(app.clone(), "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let (s, metrics) = get(app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        metrics.contains("ovu_operator_reconciles_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ovu_operator_reconcile_duration_seconds"));
}
