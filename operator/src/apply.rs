//! Server-side apply of desired children, quietly.
//!
//! Each child is read first — from the watch cache ([`crate::controller::cache`]), with a GET
//! only when the cache does not have it — and the write happens only when the live object
//! does not already carry every field we want with the value we want ([`covers`]), or still
//! carries one the operator set and no longer renders ([`up_to_date`]). So a reconcile with nothing
//! to change performs no writes (no resourceVersion churn, no watch events), and a child that
//! someone edited or deleted is put back. Writes use field manager `ovu-operator` with force:
//! the operator owns the fields it renders — but only of objects that are its own: an object
//! with a child's name that lacks this system's instance labels belongs to someone else and is
//! never overwritten ([`ApplyError::Foreign`]).

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::controller::cache::{self, Cache, Lookup, fingerprint};
use crate::render::names::{FIELD_MANAGER, INSTANCE_LABEL, MANAGED_BY_LABEL};
use crate::render::{Child, Kind};

/// Why a child could not be ensured.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// An object with the child's name exists and is not this system's.
    #[error(
        "{kind} {name} already exists and is not managed by this OvuSystem (it lacks the labels app.kubernetes.io/managed-by={managed_by} and app.kubernetes.io/instance={instance}); rename or remove it"
    )]
    Foreign {
        kind: String,
        name: String,
        managed_by: &'static str,
        instance: String,
    },
}

/// Whether `live` carries the labels that mark it as the same system's child as `desired`.
/// Labels, not owner references: data and its credentials deliberately carry none, so that a
/// system re-created under the same name finds them again.
pub fn is_ours(live: &Value, desired: &Value) -> bool {
    let label = |v: &Value, k: &str| v["metadata"]["labels"][k].as_str().map(str::to_owned);
    let managed = MANAGED_BY_LABEL;
    let instance = INSTANCE_LABEL;
    label(live, managed).is_some()
        && label(live, managed) == label(desired, managed)
        && label(live, instance).is_some()
        && label(live, instance) == label(desired, instance)
}

/// What happened to one child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Created,
    Updated,
}

/// The result of ensuring one child.
#[derive(Clone, Debug)]
pub struct Applied {
    pub outcome: Outcome,
    /// The live object after the step (status included when the API server has one).
    pub live: Value,
}

fn api(client: &Client, child: &Child) -> Api<DynamicObject> {
    let ar = child.kind.api_resource();
    let ns = child.object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    Api::namespaced_with(client.clone(), &ns, &ar)
}

/// A live object read with a GET: the object without its managedFields (often its largest
/// part), and the fields the operator's field manager set ([`cache::owned_fields`]).
struct Read {
    live: Value,
    fields: Option<Value>,
}

/// GET one object.
async fn read(api: &Api<DynamicObject>, name: &str) -> Result<Option<Read>, ApplyError> {
    let Some(obj) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let mut live = serde_json::to_value(obj).map_err(kube::Error::SerdeError)?;
    let fields = cache::owned_fields(&live);
    if let Some(m) = live["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    Ok(Some(Read { live, fields }))
}

/// Whether `live` needs no apply to become `desired`: it carries every desired field
/// ([`covers`]), and the operator set no field that `desired` no longer has. The second half
/// is what makes a spec change that drops a field or a list's last entries (`spec.mail`
/// removed: ULM's trailing `SMTP_*` variables and the credentials volume) reach the object —
/// the apply then removes them, as server-side apply does with fields its manager stops
/// sending. Fields other managers or the API server set are not ours and do not count. The
/// second half goes by the paths of `fields` (the operator's fieldsV1,
/// [`cache::owned_fields`]), not by the values under them: an atomic field (a StatefulSet's
/// `volumeClaimTemplates`, `f:…: {}`) is the operator's as a whole, server defaults inside it
/// (apiVersion, kind, `spec.volumeMode`, `status.phase`) included.
pub fn up_to_date(live: &Value, fields: Option<&Value>, desired: &Value) -> bool {
    covers(live, desired) && fields.is_none_or(|f| still_rendered(desired, live, f))
}

/// Whether every field of `live` that the fieldsV1 set `f` names is still in `desired`.
/// Values are [`covers`]'s concern; here only presence counts, and the length of an atomic
/// list (an `f:…: {}` leaf: apply replaces it whole, so a shorter rendering removes its tail).
fn still_rendered(desired: &Value, live: &Value, f: &Value) -> bool {
    let Some(fm) = f.as_object().filter(|m| m.keys().any(|k| k != ".")) else {
        return match (live, desired) {
            (Value::Array(l), Value::Array(d)) => d.len() >= l.len(),
            _ => true,
        };
    };
    fm.iter().all(|(k, sub)| {
        if let Some(name) = k.strip_prefix("f:") {
            return match live.get(name) {
                None => true,
                Some(lv) => match desired.get(name).filter(|d| !d.is_null()) {
                    Some(dv) => still_rendered(dv, lv, sub),
                    None => is_zero(lv),
                },
            };
        }
        let Some(l) = live.as_array() else {
            return true;
        };
        let d = desired.as_array().map(Vec::as_slice).unwrap_or_default();
        if let Some(key) = k
            .strip_prefix("k:")
            .and_then(|j| serde_json::from_str::<serde_json::Map<String, Value>>(j).ok())
        {
            let hit = |e: &&Value| key.iter().all(|(kk, kv)| e.get(kk) == Some(kv));
            return match (l.iter().find(hit), d.iter().find(hit)) {
                (None, _) => true,
                (Some(le), Some(de)) => still_rendered(de, le, sub),
                (Some(_), None) => false,
            };
        }
        if let Some(v) = k
            .strip_prefix("v:")
            .and_then(|j| serde_json::from_str::<Value>(j).ok())
        {
            return !l.contains(&v) || d.contains(&v);
        }
        if let Some(i) = k.strip_prefix("i:").and_then(|i| i.parse::<usize>().ok()) {
            return match (l.get(i), d.get(i)) {
                (None, _) => true,
                (Some(le), Some(de)) => still_rendered(de, le, sub),
                (Some(_), None) => false,
            };
        }
        true
    })
}

fn check_ours(live: &Value, child: &Child) -> Result<(), ApplyError> {
    if is_ours(live, &child.object) {
        return Ok(());
    }
    Err(ApplyError::Foreign {
        kind: child.object["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        name: child.name.clone(),
        managed_by: crate::render::names::MANAGED_BY,
        instance: child.object["metadata"]["labels"][INSTANCE_LABEL]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// Decide from the cached child alone when that is enough: `None` means "read the whole
/// object". A create-only child needs only its keys (the cache has them, as digests); any
/// other is unchanged when the fingerprint of what was rendered equals the cached one of
/// what the operator set, or when a GET showed the same resourceVersion to cover the same
/// rendering before.
async fn from_cache(
    api: &Api<DynamicObject>,
    cache: &Cache,
    child: &Child,
    ns: &str,
    cached: Value,
) -> Result<Option<Applied>, ApplyError> {
    check_ours(&cached, child)?;
    if child.create_only {
        return add_missing_data(api, child, cached).await.map(Some);
    }
    let want = fingerprint(&child.object);
    let rv = cached
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if cached["fingerprint"].as_str() == Some(want.as_str())
        || cache.verified(child.kind, ns, &child.name, rv, &want)
    {
        return Ok(Some(Applied {
            outcome: Outcome::Unchanged,
            live: cached,
        }));
    }
    Ok(None)
}

/// Make the live child match the desired one, writing only when needed.
pub async fn ensure(client: &Client, cache: &Cache, child: &Child) -> Result<Applied, ApplyError> {
    let api = api(client, child);
    let ns = child.object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let live: Option<Read> = match cache.child(child.kind, ns, &child.name) {
        Lookup::Found(cached) => {
            if let Some(done) = from_cache(&api, cache, child, ns, cached).await? {
                return Ok(done);
            }
            // The fingerprints differ: compare the whole object.
            read(&api, &child.name).await?
        }
        // Not in the cache: read it. An object with the child's name that is not ours is
        // never in the label-selected cache, and a generated Secret the cache has not seen
        // yet must not be made a second time.
        Lookup::Missing | Lookup::Unknown => read(&api, &child.name).await?,
    };
    let (live, fields) = match live {
        Some(r) => (Some(r.live), r.fields),
        None => (None, None),
    };
    if let Some(live) = &live {
        check_ours(live, child)?;
        if child.create_only {
            return add_missing_data(&api, child, live.clone()).await;
        }
        if up_to_date(live, fields.as_ref(), &child.object) {
            // Remember it, so the next reconcile needs no GET while neither side changes.
            if let Some(rv) = live
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
            {
                cache.set_verified(
                    child.kind,
                    ns,
                    &child.name,
                    rv.to_string(),
                    fingerprint(&child.object),
                );
            }
            return Ok(Applied {
                outcome: Outcome::Unchanged,
                live: live.clone(),
            });
        }
    }
    if let (Some(live), Kind::Service) = (&live, child.kind) {
        let desired_ports = &child.object["spec"]["ports"];
        if !desired_ports.is_null() && !covers(&live["spec"]["ports"], desired_ports) {
            // Someone edited a port: that list entry now belongs to their field manager, so
            // applying ours would add a second entry with the same name (422 on every
            // reconcile). A JSON merge patch replaces the whole list; the apply below then
            // takes ownership of it again.
            let merge = serde_json::json!({"spec": {"ports": desired_ports}});
            api.patch(
                &child.name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_string()),
                    ..PatchParams::default()
                },
                &Patch::Merge(&merge),
            )
            .await?;
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = api
        .patch(&child.name, &params, &Patch::Apply(&child.object))
        .await?;
    applied.metadata.managed_fields = None;
    Ok(Applied {
        outcome: if live.is_some() {
            Outcome::Updated
        } else {
            Outcome::Created
        },
        live: serde_json::to_value(applied).map_err(kube::Error::SerdeError)?,
    })
}

#[cfg(test)]
mod ownership_tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "labels": labels}})
    }

    #[test]
    fn only_objects_with_the_same_instance_labels_are_ours() {
        let desired = obj(
            json!({"app.kubernetes.io/managed-by": "ovu-operator", "app.kubernetes.io/instance": "a"}),
        );
        assert!(is_ours(&desired, &desired));
        // Someone else's object with the same name: no labels, other instance, other manager.
        assert!(!is_ours(&obj(json!(null)), &desired));
        assert!(!is_ours(
            &obj(
                json!({"app.kubernetes.io/managed-by": "ovu-operator", "app.kubernetes.io/instance": "b"})
            ),
            &desired
        ));
        assert!(!is_ours(
            &obj(
                json!({"app.kubernetes.io/managed-by": "helm", "app.kubernetes.io/instance": "a"})
            ),
            &desired
        ));
        assert!(!is_ours(
            &obj(json!({"app.kubernetes.io/instance": "a"})),
            &desired
        ));
        // A desired object without labels never claims a live one.
        assert!(!is_ours(&obj(json!(null)), &obj(json!(null))));
    }
}

/// A create-only child (generated Secrets, the CA, backup Jobs) is never changed once made,
/// except that data keys a newer version renders and the live object lacks are added — a
/// merge patch of just those keys, so every value already there stays as it is.
async fn add_missing_data(
    api: &Api<DynamicObject>,
    child: &Child,
    live: Value,
) -> Result<Applied, ApplyError> {
    let missing: serde_json::Map<String, Value> = child.object["data"]
        .as_object()
        .map(|d| {
            d.iter()
                .filter(|(k, _)| live["data"].get(k.as_str()).is_none())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if missing.is_empty() {
        return Ok(Applied {
            outcome: Outcome::Unchanged,
            live,
        });
    }
    let patched = api
        .patch(
            &child.name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            },
            &Patch::Merge(&serde_json::json!({"data": missing})),
        )
        .await?;
    Ok(Applied {
        outcome: Outcome::Updated,
        live: serde_json::to_value(patched).map_err(kube::Error::SerdeError)?,
    })
}

/// Whether `live` already has every field of `desired` with an equal value. Lists must hold
/// at least the desired elements, in order, each covered; scalars must be equal, except that
/// quantities compare by value (`0.5` and `500m` are the same CPU).
pub fn covers(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => covers(lv, dv),
            // The API server omits zero values of optional fields (omitempty).
            None => is_zero(dv),
        }),
        (Value::Array(l), Value::Array(d)) => {
            l.len() >= d.len() && d.iter().zip(l.iter()).all(|(dv, lv)| covers(lv, dv))
        }
        (Value::String(l), Value::String(d)) => {
            l == d
                || matches!((quantity(l), quantity(d)), (Some(a), Some(b)) if (a - b).abs() < 1e-9 * a.abs().max(1.0))
        }
        (Value::Number(l), Value::Number(d)) => l.as_f64() == d.as_f64(),
        (l, d) => l == d,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// The value of a Kubernetes quantity, when the string is one.
fn quantity(s: &str) -> Option<f64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn covers_ignores_server_defaults_and_extra_fields() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}}}});
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {"dnsPolicy": "ClusterFirst", "containers": [{"name": "a", "terminationMessagePath": "/dev/termination-log", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}, "status": {"readyReplicas": 2}});
        assert!(covers(&live, &desired));
    }

    #[test]
    fn covers_detects_drift() {
        let desired = json!({"spec": {"replicas": 2, "env": [{"name": "A", "value": "1"}]}});
        assert!(!covers(
            &json!({"spec": {"replicas": 3, "env": [{"name": "A", "value": "1"}]}}),
            &desired
        ));
        assert!(!covers(
            &json!({"spec": {"replicas": 2, "env": []}}),
            &desired
        ));
        assert!(!covers(&json!({"spec": {"replicas": 2}}), &desired));
        assert!(!covers(
            &json!({"spec": {"replicas": 2, "env": [{"name": "A", "value": "2"}]}}),
            &desired
        ));
    }

    #[test]
    fn omitted_zero_values_are_covered() {
        let desired = json!({"spec": {"publishNotReadyAddresses": false, "ports": []}});
        assert!(covers(&json!({"spec": {}}), &desired));
        assert!(!covers(
            &json!({"spec": {}}),
            &json!({"spec": {"suspend": true}})
        ));
    }

    /// A Deployment as the API server returns it after the operator applied `env` and
    /// someone else (`kubectl set env`) added `EXTRA`: managedFields say who set what.
    fn deployment(env: &[&str], ours: &[&str]) -> Value {
        let entries: Vec<Value> = env
            .iter()
            .map(|n| json!({"name": n, "value": "v"}))
            .collect();
        let owned_env: serde_json::Map<String, Value> = ours
            .iter()
            .map(|n| {
                (
                    format!("k:{{\"name\":\"{n}\"}}"),
                    json!({".": {}, "f:name": {}, "f:value": {}}),
                )
            })
            .collect();
        let containers =
            json!({"k:{\"name\":\"ulm\"}": {".": {}, "f:name": {}, "f:env": owned_env}});
        json!({
            "metadata": {"name": "s-ulm", "resourceVersion": "7", "managedFields": [
                {"manager": "ovu-operator", "operation": "Apply", "fieldsV1": {
                    "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": containers}}}}},
                {"manager": "kubectl", "operation": "Update", "fieldsV1": {
                    "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"ulm\"}": {
                        "f:env": {"k:{\"name\":\"EXTRA\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                    "fieldsV1": {"f:status": {"f:replicas": {}}}}
            ]},
            "spec": {"replicas": 1, "revisionHistoryLimit": 10, "template": {"spec": {
                "dnsPolicy": "ClusterFirst",
                "containers": [{"name": "ulm", "imagePullPolicy": "IfNotPresent", "env": entries}]}}},
            "status": {"replicas": 1}
        })
    }

    fn rendered(env: &[&str]) -> Value {
        let entries: Vec<Value> = env
            .iter()
            .map(|n| json!({"name": n, "value": "v"}))
            .collect();
        json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "ulm", "env": entries}]}}}})
    }

    fn check(live: &Value, desired: &Value) -> bool {
        up_to_date(
            live,
            crate::controller::cache::owned_fields(live).as_ref(),
            desired,
        )
    }

    #[test]
    fn a_field_the_operator_stopped_rendering_needs_an_apply() {
        // spec.mail removed: the rendered env loses its last entries. `covers` alone accepts
        // the longer live list; the fields the operator set say the tail is ours to remove.
        let live = deployment(
            &["DB", "SMTP_HOST", "SMTP_FROM"],
            &["DB", "SMTP_HOST", "SMTP_FROM"],
        );
        assert!(covers(&live, &rendered(&["DB"])));
        assert!(!check(&live, &rendered(&["DB"])));
        assert!(check(&live, &rendered(&["DB", "SMTP_HOST", "SMTP_FROM"])));
    }

    #[test]
    fn fields_others_set_do_not_call_for_an_apply() {
        // An entry another manager added, server defaults and the status are not ours: a
        // no-op resync must stay a no-op.
        let live = deployment(&["DB", "EXTRA"], &["DB"]);
        assert!(check(&live, &rendered(&["DB"])));
        // Without managedFields (an API that keeps none) only `covers` can decide.
        let mut bare = deployment(&["DB", "SMTP_HOST"], &["DB", "SMTP_HOST"]);
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert!(check(&bare, &rendered(&["DB"])));
    }

    #[test]
    fn server_defaults_inside_an_atomic_field_do_not_call_for_an_apply() {
        // A StatefulSet's volumeClaimTemplates is an atomic list (`f:volumeClaimTemplates: {}`):
        // the whole value is the operator's, with what the API server defaulted into it
        // (apiVersion, kind, spec.volumeMode, status.phase). A no-op resync must not apply.
        let template = |defaulted: bool| {
            let mut t = json!({"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
            if defaulted {
                t["apiVersion"] = json!("v1");
                t["kind"] = json!("PersistentVolumeClaim");
                t["spec"]["volumeMode"] = json!("Filesystem");
                t["status"] = json!({"phase": "Pending"});
            }
            t
        };
        let live = json!({
            "metadata": {"name": "s-postgres", "resourceVersion": "7", "managedFields": [
                {"manager": "ovu-operator", "operation": "Apply", "fieldsV1": {
                    "f:spec": {"f:replicas": {}, "f:volumeClaimTemplates": {}, "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"postgres\"}": {".": {}, "f:name": {}, "f:args": {}}}}}}}}]},
            "spec": {"replicas": 1, "volumeClaimTemplates": [template(true)],
                "template": {"spec": {"containers": [{"name": "postgres", "args": ["-c", "a", "-c", "b"]}]}}}
        });
        let desired = |args: Value, templates: Value| {
            json!({"spec": {"replicas": 1, "volumeClaimTemplates": templates,
                "template": {"spec": {"containers": [{"name": "postgres", "args": args}]}}}})
        };
        let same = desired(json!(["-c", "a", "-c", "b"]), json!([template(false)]));
        assert!(check(&live, &same));
        // An atomic list rendered shorter still needs the apply that removes its tail.
        assert!(!check(
            &live,
            &desired(json!(["-c", "a"]), json!([template(false)]))
        ));
        // So does a field the operator set and no longer renders.
        let mut dropped = same.clone();
        dropped["spec"]
            .as_object_mut()
            .unwrap()
            .remove("volumeClaimTemplates");
        assert!(!check(&live, &dropped));
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(covers(&json!("500m"), &json!("0.5")));
        assert!(covers(&json!("1"), &json!("1000m")));
        assert!(covers(&json!("1Gi"), &json!("1024Mi")));
        assert!(!covers(&json!("1G"), &json!("1Gi")));
        assert!(!covers(&json!("ovu"), &json!("ovu2")));
    }
}
