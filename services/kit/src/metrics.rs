//! Prometheus metrics: request count and latency by matched route, method and status.
//!
//! Labels use the route template (`/api/v1/users/{id}`), never the raw path, so ids do not
//! explode the series count.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub path: String,
    pub status: u16,
}

type HistFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// Cheap to clone; shared by the middleware and the `/metrics` handler.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    requests: Family<HttpLabels, Counter>,
    latency: HistFamily,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ])
}

impl Metrics {
    /// `service` becomes a `service` label prefix-free: metric names are `http_*`.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_labels(
            [(
                std::borrow::Cow::Borrowed("service"),
                std::borrow::Cow::Owned(service.to_string()),
            )]
            .into_iter(),
        );
        let requests = Family::<HttpLabels, Counter>::default();
        let latency: HistFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        Self {
            registry: Arc::new(Mutex::new(registry)),
            requests,
            latency,
        }
    }

    pub fn observe(&self, method: &str, path: &str, status: u16, seconds: f64) {
        let labels = HttpLabels {
            method: method.to_string(),
            path: path.to_string(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// Lets a service add its own metrics (e.g. logins) to the same registry.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut reg)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        out
    }
}

/// `GET /metrics`.
pub async fn metrics_handler(axum::extract::State(m): axum::extract::State<Metrics>) -> Response {
    let mut resp = m.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_by_route() {
        let m = Metrics::new("test");
        m.observe("GET", "/api/v1/users/{id}", 200, 0.002);
        m.observe("GET", "/api/v1/users/{id}", 200, 0.003);
        let text = m.render();
        assert!(text.contains(r#"http_requests_total{service="test",method="GET",path="/api/v1/users/{id}",status="200"} 2"#), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket"));
    }
}
