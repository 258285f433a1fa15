//! Status: conditions that carry observedGeneration and whose `lastTransitionTime` moves only
//! when their status does, written only when something changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use ovu_crds::{OvuSystem, OvuSystemStatus};
use serde_json::json;

pub const READY: &str = "Ready";
pub const DATABASE_READY: &str = "DatabaseReady";
pub const BACKEND_READY: &str = "BackendReady";
pub const FRONTEND_READY: &str = "FrontendReady";
pub const CERTIFICATE_READY: &str = "CertificateReady";
pub const BACKUP_HEALTHY: &str = "BackupHealthy";
/// Present only with `spec.monitoring.podMonitor`.
pub const MONITORING_READY: &str = "MonitoringReady";

/// One condition as the reconcile computed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
    /// `Unknown` instead of True/False (nothing to judge yet).
    pub unknown: bool,
}

impl Cond {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
            unknown: false,
        }
    }
    pub fn unknown(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            unknown: true,
            ..Self::new(type_, false, reason, message)
        }
    }
    fn status_str(&self) -> &'static str {
        if self.unknown {
            "Unknown"
        } else if self.status {
            "True"
        } else {
            "False"
        }
    }
}

/// Merge computed conditions into the previous list: keep `lastTransitionTime` when the status
/// is unchanged, set it to `now` when it changed or is new. Conditions not computed this time
/// are kept as they were.
pub fn merge_conditions(
    old: &[Condition],
    new: &[Cond],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = old.to_vec();
    for c in new {
        let status = c.status_str().to_string();
        let prev = out.iter().position(|o| o.type_ == c.type_);
        let last_transition_time = match prev.map(|i| &out[i]) {
            Some(o) if o.status == status => o.last_transition_time.clone(),
            _ => Time(now),
        };
        let cond = Condition {
            type_: c.type_.to_string(),
            status,
            reason: c.reason.clone(),
            message: c.message.clone(),
            observed_generation: generation,
            last_transition_time,
        };
        match prev {
            Some(i) => out[i] = cond,
            None => out.push(cond),
        }
    }
    let order = [
        READY,
        DATABASE_READY,
        BACKEND_READY,
        FRONTEND_READY,
        CERTIFICATE_READY,
        BACKUP_HEALTHY,
        MONITORING_READY,
    ];
    out.sort_by_key(|c| {
        order
            .iter()
            .position(|o| *o == c.type_)
            .unwrap_or(order.len())
    });
    out
}

/// Write the status when it differs from what the object has; returns whether it wrote.
pub async fn write_if_changed(
    api: &Api<OvuSystem>,
    sys: &OvuSystem,
    new: &OvuSystemStatus,
) -> Result<bool, kube::Error> {
    // Compare serialized forms: that is what the API server stores (times to the second).
    let old = sys.status.as_ref().map(serde_json::to_value);
    if let Some(Ok(old)) = old
        && serde_json::to_value(new).is_ok_and(|n| n == old)
    {
        return Ok(false);
    }
    write(api, sys, new).await?;
    Ok(true)
}

/// Write the status (a merge patch of the status subresource).
pub async fn write(
    api: &Api<OvuSystem>,
    sys: &OvuSystem,
    new: &OvuSystemStatus,
) -> Result<(), kube::Error> {
    let name = sys.metadata.name.as_deref().unwrap_or_default();
    let patch = json!({"status": new});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_status() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let t2: Timestamp = "2026-01-01T02:00:00Z".parse().unwrap();
        let a = merge_conditions(&[], &[Cond::new(READY, false, "Waiting", "x")], Some(1), t0);
        assert_eq!(a[0].last_transition_time.0, t0);
        // same status, new message and generation: time stays
        let b = merge_conditions(&a, &[Cond::new(READY, false, "Waiting", "y")], Some(2), t1);
        assert_eq!(b[0].last_transition_time.0, t0);
        assert_eq!(b[0].message, "y");
        assert_eq!(b[0].observed_generation, Some(2));
        // status flips: time moves
        let c = merge_conditions(&b, &[Cond::new(READY, true, "Ready", "ok")], Some(2), t2);
        assert_eq!(c[0].last_transition_time.0, t2);
        assert_eq!(c[0].status, "True");
    }

    #[test]
    fn conditions_keep_a_stable_order() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = merge_conditions(
            &[],
            &[
                Cond::new(BACKUP_HEALTHY, true, "A", ""),
                Cond::new(READY, true, "A", ""),
                Cond::new(DATABASE_READY, true, "A", ""),
            ],
            None,
            t0,
        );
        let types: Vec<_> = c.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec![READY, DATABASE_READY, BACKUP_HEALTHY]);
    }
}
