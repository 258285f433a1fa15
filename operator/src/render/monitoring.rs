//! The PodMonitor (prometheus-operator's `monitoring.coreos.com/v1`) that has Prometheus
//! scrape `/metrics` of the system's ULM and AAM pods, when `spec.monitoring.podMonitor`, and
//! the NetworkPolicy that lets Prometheus reach them.
//!
//! The admission is a NetworkPolicy of its own (policies add up), not a rule in the backend's:
//! turning monitoring off deletes it (prune), where a rule removed from a list of the backend
//! policy would be left in place (the live list still covers the rendered one, see
//! `apply::covers`).

use serde_json::json;

use super::names::{COMPONENT_LABEL, INSTANCE_LABEL, NAME_LABEL, ports};
use super::{Child, Ctx, Kind, netpol};
use crate::render::names::Component;

/// Every scraped series gets these target labels, so the dashboard and the alerts can tell
/// systems apart without relabelling rules of their own.
pub const SYSTEM_LABEL: &str = "ovu_system";

pub fn render(ctx: &Ctx) -> Vec<Child> {
    if !ctx.sys.spec.monitoring.pod_monitor {
        return Vec::new();
    }
    let mon = &ctx.sys.spec.monitoring;
    let admit = ctx.child(
        Kind::NetworkPolicy,
        &ctx.names.netpol_monitoring(),
        Component::Ulm,
        json!({"spec": {
            "podSelector": netpol::pods(ctx, &[Component::Ulm, Component::Aam]),
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": mon.prometheus_namespace}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }],
                "ports": [
                    {"protocol": "TCP", "port": ports::ULM},
                    {"protocol": "TCP", "port": ports::AAM},
                ],
            }],
        }}),
    );
    let name = ctx.names.pod_monitor();
    let endpoint = json!({
        // The container port's name (8001 ULM, 8002 AAM): both serve /metrics beside the API.
        "port": "http",
        "path": "/metrics",
        "interval": "30s",
        "relabelings": [
            {"sourceLabels": [format!("__meta_kubernetes_pod_label_{}", prom_label(INSTANCE_LABEL))],
             "targetLabel": SYSTEM_LABEL},
            {"sourceLabels": [format!("__meta_kubernetes_pod_label_{}", prom_label(COMPONENT_LABEL))],
             "targetLabel": "component"},
        ],
    });
    let monitor = ctx.child(
        Kind::PodMonitor,
        &name,
        // Labelled as ULM's: one component label per child; it selects both services.
        Component::Ulm,
        json!({
            "spec": {
                "selector": {
                    "matchLabels": {NAME_LABEL: "ovu", INSTANCE_LABEL: ctx.system()},
                    "matchExpressions": [{
                        "key": COMPONENT_LABEL,
                        "operator": "In",
                        "values": [Component::Ulm.as_str(), Component::Aam.as_str()],
                    }],
                },
                "namespaceSelector": {"matchNames": [ctx.ns]},
                "podMetricsEndpoints": [endpoint],
            },
        }),
    );
    vec![admit, monitor]
}

/// A Kubernetes label name as Prometheus' service discovery spells it in `__meta_*` labels.
fn prom_label(k8s: &str) -> String {
    k8s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
