//! What every pod shares: placement on its tier, the "restricted" security profile, resources.

use ovu_crds::Resources;
use serde_json::{Value, json};

use super::Ctx;
use super::names::Tier;

/// uid/gid the official postgres and redis images (and the Debian builds) run as.
pub const DATA_UID: i64 = 999;
/// uid/gid OVU's own images (ulm, aam, web) run as (see docs/contracts.md).
pub const APP_UID: i64 = 10001;

/// nodeSelector + toleration for a tier.
pub fn placement(ctx: &Ctx, tier: Tier) -> (Value, Value) {
    let key = &ctx.sys.spec.placement.node_label;
    (
        json!({ key.as_str(): tier.as_str() }),
        json!([{
            "key": key,
            "operator": "Equal",
            "value": tier.as_str(),
            "effect": "NoSchedule",
        }]),
    )
}

/// Pod-level security context (Pod Security "restricted").
pub fn pod_security(uid: i64) -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// Container-level security context (Pod Security "restricted" + read-only root).
pub fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

pub fn resources(r: &Resources) -> Value {
    json!({
        "requests": {"cpu": r.requests.cpu, "memory": r.requests.memory},
        "limits": {"cpu": r.limits.cpu, "memory": r.limits.memory},
    })
}

/// Small init steps get small fixed resources.
pub fn small_resources() -> Value {
    json!({
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    })
}

/// A writable scratch directory for programs on a read-only root.
pub fn tmp_volume() -> Value {
    json!({"name": "tmp", "emptyDir": {}})
}

pub fn tmp_mount() -> Value {
    json!({"name": "tmp", "mountPath": "/tmp"})
}

/// A pod spec with placement, security, the system's image pull Secrets, no service-account
/// token unless asked for.
pub fn pod_spec(ctx: &Ctx, tier: Tier, uid: i64, body: Value) -> Value {
    let (node_selector, tolerations) = placement(ctx, tier);
    let mut spec = json!({
        "nodeSelector": node_selector,
        "tolerations": tolerations,
        "securityContext": pod_security(uid),
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
    });
    // Only when asked for: an empty list would still be a field this operator owns, and
    // existing children would be rewritten for nothing.
    let pull = &ctx.sys.spec.image_pull_secrets;
    if !pull.is_empty() {
        spec["imagePullSecrets"] = pull.iter().map(|s| json!({"name": s.name})).collect();
    }
    if let (Value::Object(s), Value::Object(b)) = (&mut spec, body) {
        s.extend(b);
    }
    spec
}

/// An env var from a Secret key.
pub fn secret_env(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

pub fn env(name: &str, value: impl Into<String>) -> Value {
    json!({"name": name, "value": value.into()})
}
