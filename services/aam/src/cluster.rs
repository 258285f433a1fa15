//! The OvuSystem this AAM belongs to, when it runs in a cluster with read access to it.
//!
//! Behind [`ClusterSource`] so the HTTP layer and its tests need no cluster: outside one (or
//! with `OVU_SYSTEM_NAME` unset) the source is [`NoCluster`] and the API reports
//! `"cluster": null`.

use futures::future::BoxFuture;
use ovu_crds::OvuSystem;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What the system health page shows about the OvuSystem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterStatus {
    pub name: String,
    pub namespace: String,
    /// `Pending`, `Progressing`, `Ready`, `Degraded`, `Paused`, `Invalid`, or null before the
    /// operator first wrote a status.
    pub phase: Option<String>,
    pub message: Option<String>,
    /// Kubernetes conditions (type, status, reason, message, lastTransitionTime).
    pub conditions: Vec<Value>,
    /// Last schedule and last success of the backup CronJob.
    pub backup: Option<Value>,
    /// Serving certificate, including `notAfter` (expiry).
    pub certificate: Option<Value>,
    /// Set when the resource could not be read (RBAC, missing object); the other fields are then empty.
    pub error: Option<String>,
}

pub trait ClusterSource: Send + Sync {
    /// `None` when AAM is not configured to watch an OvuSystem.
    fn status(&self) -> BoxFuture<'_, Option<ClusterStatus>>;
}

/// Not in a cluster, or not asked to look.
#[derive(Debug, Default)]
pub struct NoCluster;

impl ClusterSource for NoCluster {
    fn status(&self) -> BoxFuture<'_, Option<ClusterStatus>> {
        Box::pin(async { None })
    }
}

/// Reads `OvuSystem/<name>` with the pod's service account.
pub struct KubeCluster {
    api: kube::Api<OvuSystem>,
    name: String,
    namespace: String,
}

impl KubeCluster {
    pub async fn connect(name: String, namespace: Option<String>) -> Result<Self, kube::Error> {
        let client = kube::Client::try_default().await?;
        let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
        Ok(Self {
            api: kube::Api::namespaced(client, &namespace),
            name,
            namespace,
        })
    }
}

/// The API shape of an OvuSystem's status (pure, tested without a cluster).
pub fn summarize(name: &str, namespace: &str, sys: Option<&OvuSystem>) -> ClusterStatus {
    let mut out = ClusterStatus {
        name: name.to_string(),
        namespace: namespace.to_string(),
        phase: None,
        message: None,
        conditions: Vec::new(),
        backup: None,
        certificate: None,
        error: None,
    };
    let Some(sys) = sys else {
        out.error = Some("ovusystem not found".into());
        return out;
    };
    if let Some(st) = &sys.status {
        out.phase = st
            .phase
            .and_then(|p| serde_json::to_value(p).ok())
            .and_then(|v| v.as_str().map(str::to_string));
        out.message = st.message.clone();
        out.conditions = st
            .conditions
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect();
        out.backup = st
            .backup
            .as_ref()
            .and_then(|b| serde_json::to_value(b).ok());
        out.certificate = st
            .certificate
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok());
    }
    out
}

impl ClusterSource for KubeCluster {
    fn status(&self) -> BoxFuture<'_, Option<ClusterStatus>> {
        Box::pin(async move {
            match self.api.get_opt(&self.name).await {
                Ok(sys) => Some(summarize(&self.name, &self.namespace, sys.as_ref())),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the ovusystem failed");
                    let mut s = summarize(&self.name, &self.namespace, None);
                    s.error = Some("the ovusystem could not be read".into());
                    Some(s)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_phase_conditions_backup_and_certificate() {
        let sys: OvuSystem = serde_json::from_value(serde_json::json!({
            "apiVersion": ovu_crds::API_VERSION, "kind": "OvuSystem",
            "metadata": {"name": "prod", "namespace": "ovu"},
            "spec": {"domain": "example.com"},
            "status": {
                "phase": "Ready",
                "conditions": [{"type": "Ready", "status": "True", "reason": "AllTiersReady",
                                "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                "backup": {"lastSuccessTime": "2026-01-02T03:00:00Z", "lastBackup": "prod-backup-1"},
                "certificate": {"mode": "SelfSigned", "notAfter": "2027-01-01T00:00:00Z"}
            }
        }))
        .expect("a valid OvuSystem");
        let s = summarize("prod", "ovu", Some(&sys));
        assert_eq!(s.phase.as_deref(), Some("Ready"));
        assert_eq!(s.conditions[0]["type"], "Ready");
        assert_eq!(s.backup.unwrap()["lastBackup"], "prod-backup-1");
        assert_eq!(s.certificate.unwrap()["notAfter"], "2027-01-01T00:00:00Z");
        assert!(summarize("x", "y", None).error.is_some());
    }
}
