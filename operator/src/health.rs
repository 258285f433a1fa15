//! Health probes of the running services: GET `/api/ready` of ULM and AAM over their Services,
//! with a short timeout, recording status, latency and time.

use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use ovu_crds::ComponentHealth;

/// Probes services over HTTP.
#[derive(Clone, Debug)]
pub struct Prober {
    client: reqwest::Client,
}

impl Prober {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
        })
    }

    /// Probe one component at `url` (its `/api/ready`).
    pub async fn probe(&self, component: &str, url: &str) -> ComponentHealth {
        let start = Instant::now();
        let res = self.client.get(url).send().await;
        let latency_ms = i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX);
        let checked_at = Time(Timestamp::now());
        match res {
            Ok(r) if r.status().is_success() => ComponentHealth {
                component: component.into(),
                status: "Healthy".into(),
                latency_ms: Some(latency_ms),
                checked_at,
                message: None,
            },
            Ok(r) => ComponentHealth {
                component: component.into(),
                status: "Unhealthy".into(),
                latency_ms: Some(latency_ms),
                checked_at,
                message: Some(format!("/api/ready answered {}", r.status().as_u16())),
            },
            Err(e) => ComponentHealth {
                component: component.into(),
                status: "Unreachable".into(),
                latency_ms: None,
                checked_at,
                message: Some(if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    "connection failed".to_string()
                }),
            },
        }
    }
}

/// Whether a new probe result is worth a status write: the verdict changed, or the recorded
/// one is older than `max_age` (so latency and time stay roughly current without a write per
/// reconcile).
pub fn worth_recording(
    old: Option<&ComponentHealth>,
    new: &ComponentHealth,
    max_age: Duration,
) -> bool {
    match old {
        None => true,
        Some(o) => {
            o.status != new.status
                || new
                    .checked_at
                    .0
                    .duration_since(o.checked_at.0)
                    .unsigned_abs()
                    >= max_age
        }
    }
}
