//! Prometheus metrics: reconciles, failures by reason, durations, writes, health, leadership
//! (`ovu_operator_*`), and what each OvuSystem's status says (`ovu_system_*`: readiness,
//! phase, conditions, the last good and the last verified backup, the certificate's expiry),
//! which the alerts in `deploy/monitoring/` read.

use std::borrow::Cow;
use std::sync::Arc;
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

/// One OvuSystem. Its namespace and name label ~15 series each (readiness, five phases, the
/// conditions, backups, certificate): one shared text per system rather than a copy per
/// series, which at 500 systems was ~15,000 small allocations of the operator's memory.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SystemLabels {
    pub namespace: Arc<String>,
    pub system: Arc<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub namespace: Arc<String>,
    pub system: Arc<String>,
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub namespace: Arc<String>,
    pub system: Arc<String>,
    /// The operator's own condition types are static; another (none today) is kept as given.
    pub condition: Cow<'static, str>,
}

/// The condition types the operator sets.
const CONDITIONS: [&str; 7] = [
    crate::status::READY,
    crate::status::DATABASE_READY,
    crate::status::BACKEND_READY,
    crate::status::FRONTEND_READY,
    crate::status::CERTIFICATE_READY,
    crate::status::BACKUP_HEALTHY,
    crate::status::MONITORING_READY,
];

fn condition_label(t: &str) -> Cow<'static, str> {
    CONDITIONS
        .iter()
        .find(|c| **c == t)
        .map_or_else(|| Cow::Owned(t.to_string()), |c| Cow::Borrowed(*c))
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
    pub systems: SystemMetrics,
}

/// The `ovu_system_*` gauges, set from each status the operator computes.
#[derive(Clone, Default)]
pub struct SystemMetrics {
    ready: Family<SystemLabels, Gauge>,
    phase: Family<PhaseLabels, Gauge>,
    condition: Family<ConditionLabels, Gauge>,
    backup_success: Family<SystemLabels, Gauge>,
    backup_verified: Family<SystemLabels, Gauge>,
    cert_not_after: Family<SystemLabels, Gauge>,
}

const PHASES: [ovu_crds::Phase; 5] = [
    ovu_crds::Phase::Progressing,
    ovu_crds::Phase::Ready,
    ovu_crds::Phase::Degraded,
    ovu_crds::Phase::Paused,
    ovu_crds::Phase::Invalid,
];

fn phase_str(p: ovu_crds::Phase) -> &'static str {
    match p {
        ovu_crds::Phase::Progressing => "Progressing",
        ovu_crds::Phase::Ready => "Ready",
        ovu_crds::Phase::Degraded => "Degraded",
        ovu_crds::Phase::Paused => "Paused",
        ovu_crds::Phase::Invalid => "Invalid",
    }
}

impl SystemMetrics {
    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("ovu_system");
        r.register(
            "ready",
            "1 when the OvuSystem's Ready condition is True, else 0",
            self.ready.clone(),
        );
        r.register(
            "phase",
            "1 for the OvuSystem's current phase, 0 for the others",
            self.phase.clone(),
        );
        r.register(
            "condition",
            "Status of each condition of the OvuSystem: 1 True, 0 False, -1 Unknown",
            self.condition.clone(),
        );
        r.register(
            "backup_last_success_timestamp_seconds",
            "When the last successful backup finished (Unix time)",
            self.backup_success.clone(),
        );
        r.register(
            "backup_last_verified_timestamp_seconds",
            "When the last backup proven to restore finished (Unix time); only with spec.database.backup.verify",
            self.backup_verified.clone(),
        );
        r.register(
            "certificate_not_after_timestamp_seconds",
            "When the serving certificate expires (Unix time)",
            self.cert_not_after.clone(),
        );
    }

    /// Set every gauge of one system from the status the reconcile computed. A value the
    /// status does not have (no backup yet, plain HTTP) is removed, not left at its last value.
    pub fn observe(&self, sys: &ovu_crds::OvuSystem, st: &ovu_crds::OvuSystemStatus) {
        use kube::ResourceExt;
        let l = SystemLabels {
            namespace: Arc::new(sys.namespace().unwrap_or_default()),
            system: Arc::new(sys.name_any()),
        };
        let ready = st
            .conditions
            .iter()
            .any(|c| c.type_ == crate::status::READY && c.status == "True");
        self.ready.get_or_create(&l).set(i64::from(ready));
        for p in PHASES {
            let pl = PhaseLabels {
                namespace: l.namespace.clone(),
                system: l.system.clone(),
                phase: phase_str(p),
            };
            self.phase
                .get_or_create(&pl)
                .set(i64::from(st.phase == Some(p)));
        }
        // Conditions come and go (MonitoringReady with spec.monitoring): start from none.
        self.forget_conditions(&l);
        for c in &st.conditions {
            let v = match c.status.as_str() {
                "True" => 1,
                "False" => 0,
                _ => -1,
            };
            self.condition
                .get_or_create(&ConditionLabels {
                    namespace: l.namespace.clone(),
                    system: l.system.clone(),
                    condition: condition_label(&c.type_),
                })
                .set(v);
        }
        let backup = st.backup.as_ref();
        set_time(
            &self.backup_success,
            &l,
            backup.and_then(|b| b.last_success_time.as_ref()),
        );
        set_time(
            &self.backup_verified,
            &l,
            backup
                .filter(|_| sys.spec.database.backup.verify)
                .and_then(|b| b.last_verified_time.as_ref()),
        );
        set_time(
            &self.cert_not_after,
            &l,
            st.certificate.as_ref().and_then(|c| c.not_after.as_ref()),
        );
    }

    fn forget_conditions(&self, l: &SystemLabels) {
        for t in CONDITIONS {
            self.condition.remove(&ConditionLabels {
                namespace: l.namespace.clone(),
                system: l.system.clone(),
                condition: Cow::Borrowed(t),
            });
        }
    }

    /// Drop every series of a system that is gone (deleted), so no alert fires for it.
    pub fn forget(&self, namespace: &str, system: &str) {
        let l = SystemLabels {
            namespace: Arc::new(namespace.into()),
            system: Arc::new(system.into()),
        };
        self.ready.remove(&l);
        for p in PHASES {
            self.phase.remove(&PhaseLabels {
                namespace: l.namespace.clone(),
                system: l.system.clone(),
                phase: phase_str(p),
            });
        }
        self.forget_conditions(&l);
        self.backup_success.remove(&l);
        self.backup_verified.remove(&l);
        self.cert_not_after.remove(&l);
    }
}

fn set_time(
    g: &Family<SystemLabels, Gauge>,
    l: &SystemLabels,
    t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) {
    match t {
        Some(t) => {
            g.get_or_create(l).set(t.0.as_second());
        }
        None => {
            g.remove(l);
        }
    }
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
            systems: SystemMetrics::default(),
        };
        m.systems.register(registry);
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
