//! The monitoring step: the PodMonitor of `spec.monitoring.podMonitor`, applied after the
//! bring-up. A cluster without prometheus-operator's API is reported by the
//! `MonitoringReady` condition (and an Event when it turns so), never a failed reconcile.

use super::Error;
use super::run::Run;
use crate::render::{Child, Kind};
use crate::status::{self, Cond};

/// Apply the monitoring children; the condition to report, `None` when monitoring is off.
pub async fn ensure(children: &[Child], run: &mut Run<'_>) -> Result<Option<Cond>, Error> {
    if children.is_empty() {
        return Ok(None);
    }
    let missing = || {
        Cond::new(
            status::MONITORING_READY,
            false,
            "PodMonitorAPIMissing",
            "spec.monitoring.podMonitor is true but the cluster has no monitoring.coreos.com/v1 PodMonitor API; install prometheus-operator (its CRDs); the operator finds it within a minute",
        )
    };
    let mut cond = Cond::new(
        status::MONITORING_READY,
        true,
        "PodMonitorApplied",
        "Prometheus scrapes ULM and AAM through the PodMonitor",
    );
    // Known absent (asked again every OPTIONAL_API_RECHECK): no request that would only 404 (the
    // NetworkPolicy is applied all the same; it is harmless and ready for the PodMonitor).
    let mut apply: Vec<Child> = Vec::new();
    for c in children {
        if c.kind == Kind::PodMonitor && run.cache.kind_absent(Kind::PodMonitor) {
            run.keep(c.kind, &c.name);
            cond = missing();
        } else {
            apply.push(c.clone());
        }
    }
    let absent = |c: &Child, e: &Error| c.kind.optional() && e.is_not_found();
    for (c, r) in run.ensure_all(&apply, absent).await {
        match r {
            Err(e) if absent(c, &e) => cond = missing(),
            r => r?,
        }
    }
    Ok(Some(cond))
}
