//! Prometheus metrics: reconciles, failures by reason, durations, writes, health, leadership.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub namespace: String,
    pub system: String,
    pub component: String,
}

/// All operator metrics, registered once.
#[derive(Clone)]
pub struct Metrics {
    pub reconciles: Counter,
    pub failures: Family<ReasonLabels, Counter>,
    pub duration: Histogram,
    pub child_writes: Family<KindLabels, Counter>,
    pub health_latency: Family<ComponentLabels, Gauge<f64, AtomicU64>>,
    pub health_up: Family<ComponentLabels, Gauge>,
    pub leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Create the metrics and register them under `ovu_operator_`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            reconciles: Counter::default(),
            failures: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            child_writes: Family::default(),
            health_latency: Family::default(),
            health_up: Family::default(),
            leader: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("ovu_operator");
        r.register("reconciles", "Reconciles run", m.reconciles.clone());
        r.register(
            "reconcile_failures",
            "Reconciles that failed, by reason",
            m.failures.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            m.duration.clone(),
        );
        r.register(
            "child_writes",
            "Child objects created or updated, by kind",
            m.child_writes.clone(),
        );
        r.register(
            "health_latency_seconds",
            "Latency of the last readiness probe of a service",
            m.health_latency.clone(),
        );
        r.register(
            "health_up",
            "Whether the last readiness probe of a service succeeded",
            m.health_up.clone(),
        );
        r.register(
            "leader",
            "1 when this replica holds the leader lease",
            m.leader.clone(),
        );
        m
    }

    pub fn failure(&self, reason: &str) {
        self.failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }
}

/// Render the registry in the Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut s, registry);
    s
}
