//! Watch caches: what a reconcile reads about the cluster, kept up to date by watches instead
//! of read with a GET or a LIST on every reconcile (issue 16: a no-op reconcile made ~51 API
//! requests; from the caches it makes none).
//!
//! One watch per kind the operator makes (label-selected to `managed-by=ovu-operator`), the
//! system's pods (same label), the nodes, the `default/kubernetes` EndpointSlice and
//! cert-manager's HTTP-01 solver Ingresses and Services (label-selected to its solver label;
//! a change reconciles the systems of their namespace), each
//! applied to its own map ([`apply_event`], kube's watcher and its backoff underneath). The
//! child watches also trigger the owning system's reconcile (drift repair), as
//! `Controller::owns` did.
//!
//! Memory: 500 systems have ~15,000 children of ~60 kB of JSON per system, so a cache of the
//! objects themselves (and kube's reflector store, ~2 kB of bookkeeping per object: a full
//! `ObjectMeta`, an `ApiResource` in every key) would double the operator's 30 MB budget.
//! What is kept of a child ([`slim_child`]) is its metadata, the status a reconcile reads,
//! Secret and ConfigMap values as digests ([`digest`]: the cache never holds a secret value)
//! and a [`fingerprint`] of the fields the operator set ([`projection`]), which a reconcile
//! compares with the fingerprint of what it rendered; only when they differ is the whole
//! object read (a GET) and compared field by field ([`crate::apply::covers`]). Each object is
//! kept as one compact JSON string.
//!
//! A cache is an accelerator, never the authority where a stale answer could do harm: a child
//! the cache does not have is read with a GET before it is created (an object that is not the
//! operator's is never in the label-selected cache, and a generated Secret must never be made
//! twice), and a kind whose watch has not synced is read the old way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use ovu_crds::OvuSystem;
use serde_json::{Value, json};

use crate::render::names::{COMPONENT_LABEL, INSTANCE_LABEL, MANAGED_SELECTOR};
use crate::render::{Kind, short_hash};

/// The annotation that named an Ingress's class before `spec.ingressClassName` (cert-manager's
/// `http01.ingress.class` still sets it).
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// What a cached ConfigMap or Secret value is replaced by: this prefix and
/// `render::short_hash(&[value])` (base64 never contains a `:`).
pub const DIGEST_PREFIX: &str = "ovu-digest:";

/// The digest of one ConfigMap or Secret value, as the cache keeps it.
pub fn digest(value: &str) -> String {
    format!("{DIGEST_PREFIX}{}", short_hash(&[value]))
}

/// Replace every `data`/`binaryData` value of a ConfigMap or Secret by its digest (a value
/// that already is one stays).
pub fn digest_data(obj: &mut Value) {
    for field in ["data", "binaryData"] {
        if let Some(m) = obj.get_mut(field).and_then(Value::as_object_mut) {
            for v in m.values_mut() {
                if let Some(s) = v.as_str()
                    && !s.starts_with(DIGEST_PREFIX)
                {
                    *v = Value::String(digest(s));
                }
            }
        }
    }
}

/// Whether a value read from the cache is a digest rather than the value itself.
pub fn is_digest(v: &str) -> bool {
    v.starts_with(DIGEST_PREFIX)
}

/// The cached things that are not children.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Other {
    Pods,
    Nodes,
    ApiServerSlice,
    /// cert-manager's HTTP-01 solver Ingresses (label-selected): the challenges nginx routes.
    SolverIngresses,
    /// The solvers' Services (label-selected): where each challenge goes.
    SolverServices,
}

/// The label cert-manager puts on its HTTP-01 solver Ingresses, Services and pods.
const SOLVER_SELECTOR: &str = "acme.cert-manager.io/http01-solver=true";

/// What a cache holds of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Child(Kind),
    Other(Other),
}

impl Source {
    fn api_resource(self) -> ApiResource {
        match self {
            Source::Child(k) => k.api_resource(),
            Source::Other(Other::Pods) => {
                ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Pod"), "pods")
            }
            Source::Other(Other::Nodes) => {
                ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Node"), "nodes")
            }
            Source::Other(Other::ApiServerSlice) => ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("discovery.k8s.io", "v1", "EndpointSlice"),
                "endpointslices",
            ),
            Source::Other(Other::SolverIngresses) => ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress"),
                "ingresses",
            ),
            Source::Other(Other::SolverServices) => ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "Service"),
                "services",
            ),
        }
    }

    /// The API and list/watch selection of this source.
    fn api(self, client: &Client) -> (Api<DynamicObject>, watcher::Config) {
        let ar = self.api_resource();
        match self {
            Source::Child(_) | Source::Other(Other::Pods) => (
                Api::all_with(client.clone(), &ar),
                watcher::Config::default().labels(MANAGED_SELECTOR),
            ),
            Source::Other(Other::Nodes) => (
                Api::all_with(client.clone(), &ar),
                watcher::Config::default(),
            ),
            // Readable by name only (RBAC resourceNames): a list or watch names it with a
            // field selector, which the API server authorizes as that name.
            Source::Other(Other::ApiServerSlice) => (
                Api::namespaced_with(client.clone(), "default", &ar),
                watcher::Config::default().fields("metadata.name=kubernetes"),
            ),
            Source::Other(Other::SolverIngresses | Other::SolverServices) => (
                Api::all_with(client.clone(), &ar),
                watcher::Config::default().labels(SOLVER_SELECTOR),
            ),
        }
    }

    /// Whether events of this source reconcile every system of the object's namespace (the
    /// object is cert-manager's, owned by no system).
    fn triggers_namespace(self) -> bool {
        matches!(
            self,
            Source::Other(Other::SolverIngresses | Other::SolverServices)
        )
    }

    /// Whether events of this source trigger the owning system's reconcile.
    fn triggers(self) -> bool {
        matches!(self, Source::Child(_))
    }
}

/// The fields of a child that compare with a rendered object: `metadata.labels`,
/// `annotations` and `ownerReferences` and everything but `status` (no `apiVersion`, `kind`,
/// name or namespace: they are the cache's key), nulls and empty lists dropped (the API
/// server omits them). The same on both sides of [`fingerprint`].
fn comparable(obj: &Value) -> Value {
    fn clean(v: &Value) -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Array(a) if a.is_empty() => None,
            Value::Array(a) => Some(Value::Array(a.iter().filter_map(clean).collect())),
            Value::Object(m) => Some(Value::Object(
                m.iter()
                    .filter_map(|(k, v)| clean(v).map(|v| (k.clone(), v)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }
    let mut out = serde_json::Map::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" | "status" => {}
                "metadata" => {
                    let mut meta = serde_json::Map::new();
                    for f in ["labels", "annotations", "ownerReferences"] {
                        if let Some(c) = v.get(f).and_then(clean) {
                            meta.insert(f.into(), c);
                        }
                    }
                    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                        a.remove("kubectl.kubernetes.io/last-applied-configuration");
                    }
                    out.insert(k.clone(), Value::Object(meta));
                }
                _ => {
                    if let Some(c) = clean(v) {
                        out.insert(k.clone(), c);
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// Keys sorted at every level, so that equal objects serialize equally whatever the order
/// their maps were built in.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The fingerprint of an object's comparable fields ([`comparable`]). Equal fingerprints of
/// a rendered child and of a live one's [`projection`] mean the live one has every field
/// rendered with the same value ([`crate::apply::covers`] would say so too); a difference
/// only means "compare the whole object" (a quantity the API server wrote in another unit,
/// a field the operator never set but the server defaulted).
pub fn fingerprint(obj: &Value) -> String {
    let mut s = String::new();
    canonical(&comparable(obj), &mut s);
    short_hash(&[&s])
}

/// The part of `v` that the fieldsV1 set `f` names (server-side apply's field ownership:
/// `f:<field>`, `k:<key fields>` and `v:<value>` list entries, `i:<index>`, `.` the node
/// itself). A node without children is a leaf: kept whole.
fn project(v: &Value, f: &Value) -> Value {
    let Some(fm) = f.as_object() else {
        return v.clone();
    };
    if fm.keys().all(|k| k == ".") {
        return v.clone();
    }
    match v {
        Value::Object(m) => Value::Object(
            fm.iter()
                .filter_map(|(k, sub)| {
                    let name = k.strip_prefix("f:")?;
                    m.get(name).map(|c| (name.to_string(), project(c, sub)))
                })
                .collect(),
        ),
        Value::Array(a) => {
            // (k: key fields, v: value, i: index, the sub-set) of each list entry named.
            type Named<'a> = (Option<Value>, Option<Value>, Option<usize>, &'a Value);
            let keyed: Vec<Named<'_>> = fm
                .iter()
                .map(|(k, sub)| {
                    let key = k
                        .strip_prefix("k:")
                        .and_then(|j| serde_json::from_str(j).ok());
                    let val = k
                        .strip_prefix("v:")
                        .and_then(|j| serde_json::from_str(j).ok());
                    let idx = k.strip_prefix("i:").and_then(|i| i.parse().ok());
                    (key, val, idx, sub)
                })
                .collect();
            Value::Array(
                a.iter()
                    .enumerate()
                    .filter_map(|(i, e)| {
                        keyed.iter().find_map(|(key, val, idx, sub)| {
                            let hit = match (key, val, idx) {
                                (Some(Value::Object(kf)), _, _) => {
                                    kf.iter().all(|(kk, kv)| e.get(kk) == Some(kv))
                                }
                                (_, Some(x), _) => e == x,
                                (_, _, Some(n)) => *n == i,
                                _ => false,
                            };
                            hit.then(|| project(e, sub))
                        })
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// What of a live child the operator's own field manager set (its `fieldsV1`, apply and
/// update, not the status): the live object without the server's defaults and other
/// managers' fields, which a rendered object never has. A field someone else took over
/// (kubectl edit, scale) is missing from it, so the fingerprints differ. Objects without
/// managedFields (an API without server-side apply's bookkeeping) are taken whole.
pub fn projection(live: &Value) -> Value {
    owned(live).unwrap_or_else(|| live.clone())
}

/// The fields of `live` the operator's field manager set, as [`projection`] says; `None`
/// when the object has no managedFields of that manager to tell them by.
pub fn owned(live: &Value) -> Option<Value> {
    owned_fields(live).map(|fields| project(live, &fields))
}

/// The fieldsV1 set of what the operator's field manager set in `live` (apply and update, not
/// the status): the paths, where [`owned`] gives their values. `None` when the object has no
/// managedFields of that manager.
pub fn owned_fields(live: &Value) -> Option<Value> {
    let mut fields = Value::Object(serde_json::Map::new());
    let mut found = false;
    for m in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if m["manager"] != crate::render::names::FIELD_MANAGER
            || m.get("subresource")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        {
            continue;
        }
        if let Some(f) = m.get("fieldsV1") {
            union(&mut fields, f);
            found = true;
        }
    }
    found.then_some(fields)
}

fn union(into: &mut Value, f: &Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), f.as_object()) {
        for (k, v) in b {
            union(a.entry(k.clone()).or_insert(json!({})), v);
        }
    }
}

/// What the cache keeps of a child: its metadata (no managedFields, no kubectl copy), the
/// status a reconcile reads (the rollout counters, a Job's conditions, a CronJob's last
/// schedule), a Secret's type and the digests of its values (which keys it has, the
/// certificate's hash), and the [`fingerprint`] of the rest.
fn slim_child(kind: Kind, full: &Value) -> Value {
    let fp = fingerprint(&projection(full));
    let mut meta = full["metadata"].clone();
    if let Some(m) = meta.as_object_mut() {
        // A child's own uid is read by nothing (prune reads the owner's, in the owner
        // reference): 45 bytes of ~250 in every cached child.
        for k in ["managedFields", "creationTimestamp", "selfLink", "uid"] {
            m.remove(k);
        }
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    let mut out = json!({"metadata": meta, "fingerprint": fp});
    let status = &full["status"];
    match kind {
        Kind::Deployment | Kind::StatefulSet => {
            let mut st = serde_json::Map::new();
            for k in [
                "observedGeneration",
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
                "currentRevision",
                "updateRevision",
            ] {
                if let Some(v) = status.get(k) {
                    st.insert(k.into(), v.clone());
                }
            }
            // StatefulSetStatus.replicas is required.
            if kind == Kind::StatefulSet {
                st.entry("replicas").or_insert(json!(0));
            }
            out["status"] = Value::Object(st);
        }
        Kind::CronJob => {
            out["status"] = json!({"lastScheduleTime": status.get("lastScheduleTime")});
        }
        // cert-manager's verdict (CertificateReady, status.certificate).
        Kind::Certificate => out["status"] = status.clone(),
        // A PodMonitor has no status the operator reads.
        Kind::Job => {
            out["status"] = status.clone();
            // Whether a backup ran the test restore (`job_verifies`): the VERIFY variable.
            let env: Vec<Value> = full
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    json!({"name": c["name"], "env": c["env"].as_array().map(|e| e.iter()
                        .filter(|v| v["name"] == "VERIFY").cloned().collect::<Vec<_>>())})
                })
                .collect();
            out["spec"] = json!({"template": {"spec": {"containers": env}}});
        }
        Kind::Secret | Kind::ConfigMap => {
            let mut d = json!({"data": full["data"], "binaryData": full["binaryData"]});
            digest_data(&mut d);
            for f in ["data", "binaryData"] {
                if !d[f].is_null() {
                    out[f] = d[f].take();
                }
            }
            if let Some(t) = full.get("type") {
                out["type"] = t.clone();
            }
        }
        _ => {}
    }
    out
}

/// The labels of a pod anything reads: its tier (placement, the workloads' pods), its system
/// (the cache's index) and its backup Job (`backups::upload_of`). The rest (the ReplicaSet's
/// hash, the StatefulSet's pod name and index, the other `app.kubernetes.io/` labels) made
/// every cached pod's label text unique and ~4 times longer.
const POD_LABELS: [&str; 3] = [COMPONENT_LABEL, INSTANCE_LABEL, "job-name"];

/// What the cache keeps of a pod: its name and [`POD_LABELS`], the node and the containers'
/// names and images, and the status (less the addresses): what placement and the pod
/// problems read.
pub(crate) fn slim_pod(full: &Value) -> Value {
    let keep = |list: &Value| -> Value {
        list.as_array()
            .map(|l| {
                l.iter()
                    .map(|c| json!({"name": c["name"], "image": c["image"]}))
                    .collect()
            })
            .unwrap_or_default()
    };
    let spec = &full["spec"];
    let mut s = json!({"containers": keep(&spec["containers"])});
    if spec["initContainers"].is_array() {
        s["initContainers"] = keep(&spec["initContainers"]);
    }
    if let Some(n) = spec.get("nodeName") {
        s["nodeName"] = n.clone();
    }
    let m = &full["metadata"];
    let labels: serde_json::Map<String, Value> = POD_LABELS
        .iter()
        .filter_map(|k| Some(((*k).to_string(), m["labels"].get(*k)?.clone())))
        .collect();
    let mut meta = json!({"name": m["name"], "namespace": m["namespace"], "labels": labels});
    // A pod on its way out is no problem of its tier (`pods::pod_problem`).
    if let Some(t) = m.get("deletionTimestamp") {
        meta["deletionTimestamp"] = t.clone();
    }
    json!({"metadata": meta, "spec": s, "status": slim_pod_status(&full["status"])})
}

/// Of a pod's status, what `pods::pod_problem` reads: the phase and why, the conditions'
/// verdicts, and of each container its readiness, restarts and how its runs went. A kubelet's
/// status is mostly what this drops (times, IDs, IPs, and since Kubernetes 1.30 each container's
/// resources, volume mounts and user): ~1.6 kB of a cached pod became ~0.5 kB.
fn slim_pod_status(full: &Value) -> Value {
    fn pick(from: &Value, keys: &[&str]) -> Value {
        let mut out = serde_json::Map::new();
        for k in keys {
            if let Some(v) = from.get(*k).filter(|v| !v.is_null()) {
                out.insert((*k).to_string(), v.clone());
            }
        }
        Value::Object(out)
    }
    fn state(s: &Value) -> Value {
        let mut out = serde_json::Map::new();
        if let Some(w) = s.get("waiting") {
            out.insert("waiting".into(), pick(w, &["reason", "message"]));
        }
        if s.get("running").is_some() {
            out.insert("running".into(), json!({}));
        }
        if let Some(t) = s.get("terminated") {
            out.insert(
                "terminated".into(),
                pick(t, &["exitCode", "signal", "reason", "message"]),
            );
        }
        Value::Object(out)
    }
    fn containers(list: &Value) -> Value {
        list.as_array()
            .map(|l| {
                l.iter()
                    .map(|c| {
                        // `imageID` is required by the typed ContainerStatus; its value is not read.
                        let mut o = pick(c, &["name", "image", "ready", "restartCount"]);
                        o["imageID"] = json!("");
                        for k in ["state", "lastState"] {
                            if let Some(s) = c.get(k).filter(|s| s.is_object()) {
                                o[k] = state(s);
                            }
                        }
                        o
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    if !full.is_object() {
        return Value::Null;
    }
    let mut out = pick(full, &["phase", "reason", "message"]);
    if let Some(cs) = full["conditions"].as_array() {
        out["conditions"] = cs
            .iter()
            .map(|c| pick(c, &["type", "status", "reason", "message"]))
            .collect();
    }
    for k in ["initContainerStatuses", "containerStatuses"] {
        if full[k].is_array() {
            out[k] = containers(&full[k]);
        }
    }
    out
}

/// What the cache keeps of an object of `source`.
fn slim(source: Source, full: &Value) -> Value {
    let mut v = match source {
        Source::Child(kind) => slim_child(kind, full),
        Source::Other(Other::Pods) => slim_pod(full),
        Source::Other(Other::Nodes) => {
            let spec = &full["spec"];
            json!({"metadata": {"name": full["metadata"]["name"], "labels": full["metadata"]["labels"]},
                "spec": {"podCIDR": spec["podCIDR"], "podCIDRs": spec["podCIDRs"]}})
        }
        Source::Other(Other::ApiServerSlice) => {
            let mut v = full.clone();
            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
            v
        }
        Source::Other(Other::SolverIngresses) => {
            let m = &full["metadata"];
            json!({"metadata": {"name": m["name"], "namespace": m["namespace"],
                "annotations": {INGRESS_CLASS_ANNOTATION: m["annotations"][INGRESS_CLASS_ANNOTATION]}},
                "spec": {"ingressClassName": full["spec"]["ingressClassName"], "rules": full["spec"]["rules"]}})
        }
        Source::Other(Other::SolverServices) => {
            let m = &full["metadata"];
            json!({"metadata": {"name": m["name"], "namespace": m["namespace"]},
                "spec": {"clusterIP": full["spec"]["clusterIP"], "ports": full["spec"]["ports"]}})
        }
    };
    let ar = source.api_resource();
    v["apiVersion"] = json!(ar.api_version);
    v["kind"] = json!(ar.kind);
    v
}

/// One cached object: its namespace (empty for cluster-scoped objects), its name and the rest
/// of the slimmed object as compact JSON in one text (name first), less what the source says
/// (apiVersion, kind); its `app.kubernetes.io/instance` label (to find a system's objects
/// without parsing the others); and its labels and owner references (shared, see [`Shared`]).
/// The namespace, like the instance, is one [`Shared::name`] for every object that has it:
/// each was a small allocation of its own, ~40,000 of them at 500 systems, costing more than
/// their text in allocator chunks; the name was one more, and a key of its own in the table.
/// [`Part::entry`] splits an object so, [`parse`] puts it back together.
struct Obj {
    ns: Interned,
    text: Box<str>,
    name_len: u32,
    instance: Option<Interned>,
    shared: Option<Interned>,
}

/// A text kept once in [`Shared`], behind a thin pointer: 8 bytes in each of the ~19,000
/// objects' table slots that hold it (three per slot), where an `Arc<str>` takes 16. The cost
/// is one more small allocation per distinct text, of which there are a few thousand.
#[derive(Clone)]
struct Interned(Arc<Box<str>>);

impl Interned {
    fn new(text: &str) -> Self {
        Self(Arc::new(text.into()))
    }

    /// Whether `a` and `b` are the one kept copy (tests: the text was not kept twice).
    #[cfg(test)]
    fn same(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// How many holders the text has, the set that keeps it included.
    fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

impl std::ops::Deref for Interned {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// So a set of them is searched by `&str`; hashing and equality are therefore the text's.
impl std::borrow::Borrow<str> for Interned {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Interned {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || **self.0 == **other.0
    }
}

impl Eq for Interned {}

impl std::hash::Hash for Interned {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self.0).hash(state);
    }
}

impl Obj {
    fn name(&self) -> &str {
        self.text.get(..self.name_len as usize).unwrap_or_default()
    }

    fn body(&self) -> &str {
        self.text.get(self.name_len as usize..).unwrap_or_default()
    }
}

/// One cache's objects by (namespace, name): a hash table of [`Obj`]s found by hashing the two
/// texts each holds, so no key is kept beside the object (std's `HashMap` needs one).
#[derive(Default)]
struct Objects {
    table: hashbrown::HashTable<Obj>,
    hasher: std::hash::RandomState,
}

impl Objects {
    fn hash(hasher: &std::hash::RandomState, ns: &str, name: &str) -> u64 {
        std::hash::BuildHasher::hash_one(hasher, (ns, name))
    }

    fn get(&self, ns: &str, name: &str) -> Option<&Obj> {
        self.table.find(Self::hash(&self.hasher, ns, name), |o| {
            &*o.ns == ns && o.name() == name
        })
    }

    /// Insert `o`, replacing the object of the same namespace and name.
    fn insert(&mut self, o: Obj) {
        let Objects { table, hasher } = self;
        let h = Self::hash(hasher, &o.ns, o.name());
        match table.entry(
            h,
            |x| x.ns == o.ns && x.name() == o.name(),
            |x| Self::hash(hasher, &x.ns, x.name()),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = o,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(o);
            }
        }
    }

    fn remove(&mut self, ns: &str, name: &str) {
        let h = Self::hash(&self.hasher, ns, name);
        if let Ok(e) = self
            .table
            .find_entry(h, |o| &*o.ns == ns && o.name() == name)
        {
            e.remove();
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Obj> {
        self.table.iter()
    }
}
/// (kind, namespace, name) → (resourceVersion, rendered fingerprint); see [`Cache::verified`].
type Verified = HashMap<(Kind, String, String), (String, String)>;

/// The labels and owner references of cached objects, each distinct JSON text kept once. They
/// were ~60 % of a cached child (five `app.kubernetes.io/` labels and the owner reference to
/// the system, ~370 of ~560 bytes) and are the same on every child of one component of one
/// system, whatever its kind: 500 systems' ~17,000 cached children share ~3,000 of them. A
/// text no cached object holds any more is dropped by [`Shared::sweep`].
/// Namespaces and instance names are kept the same way, in a set of their own.
#[derive(Default)]
struct Shared {
    texts: Mutex<HashSet<Interned>>,
    names: Mutex<HashSet<Interned>>,
    changes: AtomicUsize,
}

impl Shared {
    fn intern(&self, text: String) -> Interned {
        Self::intern_in(&self.texts, text.as_str())
    }

    /// A namespace or an instance name, kept once.
    fn name(&self, name: &str) -> Interned {
        Self::intern_in(&self.names, name)
    }

    fn intern_in(set: &Mutex<HashSet<Interned>>, text: &str) -> Interned {
        let Ok(mut texts) = set.lock() else {
            return Interned::new(text);
        };
        if let Some(t) = texts.get(text) {
            return t.clone();
        }
        let t = Interned::new(text);
        texts.insert(t.clone());
        t
    }

    /// Drop the texts only this set still holds.
    fn sweep(&self) {
        for set in [&self.texts, &self.names] {
            if let Ok(mut texts) = set.lock() {
                texts.retain(|t| t.holders() > 1);
            }
        }
    }

    /// Count a change to a cache; every [`SWEEP_EVERY`] changes, sweep.
    fn changed(&self) {
        if self.changes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.texts.lock().map(|t| t.len()).unwrap_or(0)
    }

    #[cfg(test)]
    fn names_len(&self) -> usize {
        self.names.lock().map(|t| t.len()).unwrap_or(0)
    }
}

/// How many cache changes between two sweeps of [`Shared`] (a sweep walks its few thousand
/// texts; a stale one costs only its bytes until then).
const SWEEP_EVERY: usize = 1024;

/// The metadata fields kept in [`Shared`] rather than in each object's own text.
const SHARED_FIELDS: [&str; 2] = ["labels", "ownerReferences"];

/// One cache: its objects by namespace and name, and whether its first list is in.
struct Part {
    objects: RwLock<Objects>,
    synced: AtomicBool,
    shared: Arc<Shared>,
}

impl Part {
    fn entry(&self, source: Source, o: &DynamicObject) -> Option<Obj> {
        let full = serde_json::to_value(o).ok()?;
        let ns = self
            .shared
            .name(o.metadata.namespace.as_deref().unwrap_or_default());
        let name = o.metadata.name.as_deref()?;
        let name_len = u32::try_from(name.len()).ok()?;
        let instance = o.labels().get(INSTANCE_LABEL).map(|s| self.shared.name(s));
        let mut v = slim(source, &full);
        let mut fragment = serde_json::Map::new();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SHARED_FIELDS {
                if let Some(x) = m.remove(f) {
                    fragment.insert(f.into(), x);
                }
            }
            m.remove("name");
            if !ns.is_empty() {
                m.remove("namespace");
            }
        }
        if let Some(m) = v.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        let shared =
            (!fragment.is_empty()).then(|| self.shared.intern(Value::Object(fragment).to_string()));
        let body = v.to_string();
        let mut text = String::with_capacity(name.len() + body.len());
        text.push_str(name);
        text.push_str(&body);
        Some(Obj {
            ns,
            text: text.into_boxed_str(),
            name_len,
            instance,
            shared,
        })
    }
}

/// The cached object `e` of a source of kind `ar`, as [`slim`] made it.
fn parse(ar: &ApiResource, e: &Obj) -> Value {
    let mut v: Value = serde_json::from_str(e.body()).unwrap_or_else(|_| json!({}));
    if !v.is_object() {
        v = json!({});
    }
    v["apiVersion"] = json!(ar.api_version);
    v["kind"] = json!(ar.kind);
    let meta = &mut v["metadata"];
    meta["name"] = json!(e.name());
    if !e.ns.is_empty() {
        meta["namespace"] = json!(&*e.ns);
    }
    if let Some(Ok(Value::Object(f))) = e.shared.as_deref().map(serde_json::from_str::<Value>) {
        for (k, x) in f {
            meta[k] = x;
        }
    }
    v
}

/// The read side, in the reconcile's [`super::Context`].
pub struct Cache {
    parts: BTreeMap<Source, Arc<Part>>,
    /// Which optional kinds' APIs exist (found at start): those kinds are cached too.
    served: Served,
    /// Children whose live object a GET showed to cover the rendered one although the
    /// fingerprints differ: (kind, namespace, name) → (resourceVersion, rendered
    /// fingerprint). While neither changes, no second GET.
    verified: Mutex<Verified>,
}

/// The write side: fed by the watches ([`Writers::run`]) or, without them, by one list of
/// each kind ([`Writers::fill`]).
pub struct Writers {
    parts: Vec<(Source, Arc<Part>)>,
    served: Served,
}

/// Whether the API of each optional kind ([`Kind::optional`]: cert-manager's Certificate,
/// prometheus-operator's PodMonitor) is served: as found when the caches started, and
/// turned on when a later check finds it installed ([`OPTIONAL_API_RECHECK`]).
#[derive(Clone, Default)]
struct Served(Arc<Mutex<BTreeMap<Kind, bool>>>);

impl Served {
    fn get(&self, kind: Kind) -> bool {
        self.0
            .lock()
            .is_ok_and(|m| m.get(&kind).copied().unwrap_or(false))
    }
    fn set(&self, kind: Kind, served: bool) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(kind, served);
        }
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

/// The read and the write side of every cache.
pub fn caches() -> (Cache, Writers) {
    let mut sources: Vec<Source> = Kind::ALL.into_iter().map(Source::Child).collect();
    sources.extend([
        Source::Other(Other::Pods),
        Source::Other(Other::Nodes),
        Source::Other(Other::ApiServerSlice),
        Source::Other(Other::SolverIngresses),
        Source::Other(Other::SolverServices),
    ]);
    let served = Served::default();
    let shared = Arc::new(Shared::default());
    let mut parts = BTreeMap::new();
    let mut writers = Vec::new();
    for s in sources {
        let p = Arc::new(Part {
            objects: RwLock::new(Objects::default()),
            synced: AtomicBool::new(false),
            shared: shared.clone(),
        });
        parts.insert(s, p.clone());
        writers.push((s, p));
    }
    (
        Cache {
            parts,
            served: served.clone(),
            verified: Mutex::new(HashMap::new()),
        },
        Writers {
            parts: writers,
            served,
        },
    )
}

/// What the cache knows of one child.
#[derive(Debug)]
pub enum Lookup {
    /// The cached object: metadata, the status, a Secret's or ConfigMap's value digests and
    /// `fingerprint` (see [`slim_child`]).
    Found(Value),
    /// The synced cache does not have it: read it to be sure before creating it.
    Missing,
    /// The kind is not cached (yet): read it.
    Unknown,
}

impl Cache {
    fn part(&self, s: Source) -> Option<&Part> {
        if let Source::Child(k) = s
            && k.optional()
            && !self.served.get(k)
        {
            return None;
        }
        let p = self.parts.get(&s)?;
        p.synced.load(Ordering::Relaxed).then_some(&**p)
    }

    /// One child by name.
    pub fn child(&self, kind: Kind, ns: &str, name: &str) -> Lookup {
        let Some(part) = self.part(Source::Child(kind)) else {
            return Lookup::Unknown;
        };
        let Ok(objects) = part.objects.read() else {
            return Lookup::Unknown;
        };
        match objects.get(ns, name) {
            Some(e) => Lookup::Found(parse(&kind.api_resource(), e)),
            None => Lookup::Missing,
        }
    }

    /// A rendered child with this fingerprint was found to be covered by the live object at
    /// this resourceVersion (see `apply::ensure`).
    pub fn verified(&self, kind: Kind, ns: &str, name: &str, rv: &str, fp: &str) -> bool {
        self.verified.lock().is_ok_and(|m| {
            m.get(&(kind, ns.to_string(), name.to_string()))
                .is_some_and(|(r, f)| r == rv && f == fp)
        })
    }

    pub fn set_verified(&self, kind: Kind, ns: &str, name: &str, rv: String, fp: String) {
        if let Ok(mut m) = self.verified.lock() {
            m.insert((kind, ns.to_string(), name.to_string()), (rv, fp));
        }
    }

    /// The cached objects of `source` in `ns` (all namespaces: `None`) of system `instance`
    /// (any: `None`) whose labels include every `(key, value)` of `labels`; `None` when not
    /// cached.
    fn select(
        &self,
        source: Source,
        ns: Option<&str>,
        instance: Option<&str>,
        labels: &[(&str, &str)],
    ) -> Option<Vec<Value>> {
        let part = self.part(source)?;
        let ar = source.api_resource();
        let objects = part.objects.read().ok()?;
        Some(
            objects
                .iter()
                .filter(|e| ns.is_none_or(|ns| &*e.ns == ns))
                .filter(|e| instance.is_none_or(|i| e.instance.as_deref() == Some(i)))
                .map(|e| parse(&ar, e))
                .filter(|v| {
                    labels
                        .iter()
                        .all(|(k, want)| v["metadata"]["labels"][*k].as_str() == Some(*want))
                })
                .collect(),
        )
    }

    /// A system's children of one kind; `None`: not cached.
    pub fn children(
        &self,
        kind: Kind,
        ns: &str,
        system: &str,
        labels: &[(&str, &str)],
    ) -> Option<Vec<Value>> {
        self.select(Source::Child(kind), Some(ns), Some(system), labels)
    }

    /// The metadata of a system's children of one kind, for prune.
    pub fn children_meta(
        &self,
        kind: Kind,
        ns: &str,
        system: &str,
    ) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>> {
        Some(
            self.children(kind, ns, system, &[])?
                .into_iter()
                .filter_map(|v| serde_json::from_value(v["metadata"].clone()).ok())
                .collect(),
        )
    }

    /// Whether prune has to look at this kind at all: a cluster without cert-manager has
    /// no Certificates to prune, one without prometheus-operator no PodMonitors (and would
    /// answer each list with a 404).
    pub fn kind_absent(&self, kind: Kind) -> bool {
        kind.optional()
            && self.parts[&Source::Child(kind)]
                .synced
                .load(Ordering::Relaxed)
            && !self.served.get(kind)
    }

    /// Whether the API of an optional kind is served, as last found (`false` also before
    /// the caches started).
    pub fn kind_served(&self, kind: Kind) -> bool {
        !kind.optional() || self.served.get(kind)
    }

    /// A system's pods (`None`: not cached).
    pub fn pods(&self, ns: &str, system: &str) -> Option<Vec<Value>> {
        self.select(Source::Other(Other::Pods), Some(ns), Some(system), &[])
    }

    /// The nodes labelled `key=value` (`None`: not cached).
    pub fn nodes(&self, key: &str, value: &str) -> Option<Vec<Value>> {
        self.select(Source::Other(Other::Nodes), None, None, &[(key, value)])
    }

    /// The `default/kubernetes` EndpointSlice: `Some(None)` when it does not exist, `None`
    /// when not cached.
    pub fn api_server_slice(&self) -> Option<Option<Value>> {
        let source = Source::Other(Other::ApiServerSlice);
        let part = self.part(source)?;
        let objects = part.objects.read().ok()?;
        Some(
            objects
                .get("default", "kubernetes")
                .map(|e| parse(&source.api_resource(), e)),
        )
    }

    /// cert-manager's HTTP-01 solver Ingresses in `ns` (`None`: not cached).
    pub fn solver_ingresses(&self, ns: &str) -> Option<Vec<Value>> {
        self.select(Source::Other(Other::SolverIngresses), Some(ns), None, &[])
    }

    /// The HTTP-01 solvers' Services in `ns` (`None`: not cached).
    pub fn solver_services(&self, ns: &str) -> Option<Vec<Value>> {
        self.select(Source::Other(Other::SolverServices), Some(ns), None, &[])
    }

    /// The caches without their first list (for the log).
    pub fn unsynced(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter(|(_, p)| !p.synced.load(Ordering::Relaxed))
            .map(|(s, _)| format!("{s:?}"))
            .collect()
    }

    /// Whether every cache has its first list.
    pub fn synced(&self) -> bool {
        self.parts
            .values()
            .all(|p| p.synced.load(Ordering::Relaxed))
    }
}

/// Whether the API of an optional kind is served (a 404 says its CRD is not installed).
async fn kind_served(client: &Client, kind: Kind) -> Result<bool, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.api_resource());
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The systems that own a child (by owner reference), to reconcile after it changed.
fn owners(o: &DynamicObject) -> impl Iterator<Item = ObjectRef<OvuSystem>> + '_ {
    let ns = o.metadata.namespace.clone().unwrap_or_default();
    o.owner_references()
        .iter()
        .filter(|r| r.kind == "OvuSystem" && r.api_version.starts_with("ovu.co.il/"))
        .map(move |r| ObjectRef::new(&r.name).within(&ns))
}

/// Apply one watch event to a cache. A (re-)list is gathered aside and swapped in whole at
/// its end, so a reconcile never sees half a list.
fn apply_event(
    source: Source,
    part: &Part,
    buf: &mut Option<Objects>,
    ev: &watcher::Event<DynamicObject>,
) {
    match ev {
        watcher::Event::Init => *buf = Some(Objects::default()),
        watcher::Event::InitApply(o) => {
            if let (Some(b), Some(e)) = (buf.as_mut(), part.entry(source, o)) {
                b.insert(e);
            }
        }
        watcher::Event::InitDone => {
            if let (Some(b), Ok(mut objects)) = (buf.take(), part.objects.write()) {
                // The list replaced every object: the old ones' shared texts may be unused now.
                *objects = b;
                drop(objects);
                part.shared.sweep();
            }
            part.synced.store(true, Ordering::Relaxed);
        }
        watcher::Event::Apply(o) => {
            if let (Some(e), Ok(mut objects)) = (part.entry(source, o), part.objects.write()) {
                objects.insert(e);
                drop(objects);
                part.shared.changed();
            }
        }
        watcher::Event::Delete(o) => {
            if let (Some(name), Ok(mut objects)) =
                (o.metadata.name.as_deref(), part.objects.write())
            {
                let ns = o.metadata.namespace.as_deref().unwrap_or_default();
                objects.remove(ns, name);
                drop(objects);
                part.shared.changed();
            }
        }
    }
}

impl Writers {
    /// Fill every cache from one list of each kind, as a watch's initial list would (for
    /// tests, and anything that reconciles without the controller's watches). Call again to
    /// refresh.
    pub async fn fill(&mut self, client: &Client) -> Result<(), kube::Error> {
        for kind in Kind::OPTIONAL {
            self.served.set(kind, kind_served(client, kind).await?);
        }
        for (source, part) in &self.parts {
            if let Source::Child(k) = source
                && k.optional()
                && !self.served.get(*k)
            {
                part.synced.store(true, Ordering::Relaxed);
                continue;
            }
            let (api, wc) = source.api(client);
            let mut lp = ListParams::default();
            if let Some(l) = &wc.label_selector {
                lp = lp.labels(l);
            }
            if let Some(f) = &wc.field_selector {
                lp = lp.fields(f);
            }
            let list = api.list(&lp).await?;
            let mut buf = None;
            apply_event(*source, part, &mut buf, &watcher::Event::Init);
            for o in list.items {
                apply_event(*source, part, &mut buf, &watcher::Event::InitApply(o));
            }
            apply_event(*source, part, &mut buf, &watcher::Event::InitDone);
        }
        Ok(())
    }

    /// Start a watch per cache (each on its own task, paged by `page_size`). Returns the
    /// systems to reconcile because a child of theirs changed, a signal to reconcile every
    /// system (an optional kind's API appeared), and the tasks (to abort).
    pub async fn run(
        self,
        client: &Client,
        page_size: u32,
        on_error: Arc<dyn Fn(&watcher::Error) + Send + Sync>,
    ) -> (
        mpsc::UnboundedReceiver<ObjectRef<OvuSystem>>,
        mpsc::UnboundedReceiver<()>,
        mpsc::UnboundedReceiver<String>,
        Vec<tokio::task::JoinHandle<()>>,
    ) {
        for kind in Kind::OPTIONAL {
            let mut tries = 0;
            let served = loop {
                match kind_served(client, kind).await {
                    Ok(c) => break c,
                    // Not cached then: the kind is read with GETs, as before the caches,
                    // until the re-check below finds it.
                    Err(e) if tries >= 4 => {
                        tracing::warn!(?kind, error = %e, "cannot tell whether the kind's API is served; it is not cached");
                        break false;
                    }
                    Err(e) => {
                        tries += 1;
                        tracing::warn!(?kind, error = %e, "cannot tell whether the kind's API is served; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            };
            self.served.set(kind, served);
        }
        let (tx, rx) = mpsc::unbounded();
        let (all_tx, all_rx) = mpsc::unbounded();
        let (ns_tx, ns_rx) = mpsc::unbounded();
        let mut tasks = Vec::new();
        for (source, part) in self.parts {
            let late = match source {
                Source::Child(k) if k.optional() && !self.served.get(k) => Some(k),
                _ => None,
            };
            if late.is_some() {
                // Nothing to read: every lookup answers "absent" without a request.
                part.synced.store(true, Ordering::Relaxed);
            }
            let (client, tx, all_tx) = (client.clone(), tx.clone(), all_tx.clone());
            let ns_tx = ns_tx.clone();
            let (on_error, served) = (on_error.clone(), self.served.clone());
            tasks.push(tokio::spawn(async move {
                let optional = match source {
                    Source::Child(k) if k.optional() => Some(k),
                    _ => None,
                };
                let mut absent = late.is_some();
                loop {
                    if let (Some(kind), true) = (optional, absent) {
                        // A cluster that gains cert-manager or prometheus-operator after the
                        // operator started (or got it back): asked again until it has, then
                        // cached like the rest.
                        while !matches!(kind_served(&client, kind).await, Ok(true)) {
                            tokio::time::sleep(OPTIONAL_API_RECHECK).await;
                        }
                        part.synced.store(false, Ordering::Relaxed);
                        served.set(kind, true);
                        tracing::info!(
                            ?kind,
                            "the kind's API is served now; caching it and reconciling every system"
                        );
                    }
                    let was_absent = absent;
                    let (api, wc) = source.api(&client);
                    let stream = watcher(api, wc.page_size(page_size)).default_backoff();
                    let mut stream = std::pin::pin!(stream);
                    let mut buf = None;
                    while let Some(ev) = stream.next().await {
                        let ev = match ev {
                            Ok(ev) => ev,
                            Err(e) if optional.is_some() && not_found(&e) => {
                                absent = true;
                                break;
                            }
                            Err(e) => {
                                on_error(&e);
                                continue;
                            }
                        };
                        let synced = part.synced.load(Ordering::Relaxed);
                        apply_event(source, &part, &mut buf, &ev);
                        if was_absent && !synced && part.synced.load(Ordering::Relaxed) {
                            // The systems that want this kind skipped it so far: each now
                            // gets its objects, and a condition that says so.
                            let _ = all_tx.unbounded_send(());
                        }
                        // The first list's objects need no trigger: every system is reconciled
                        // after the start anyway. A re-list's may be changes the broken watch
                        // missed.
                        let o = match &ev {
                            watcher::Event::InitApply(o) if synced => o,
                            watcher::Event::Apply(o) | watcher::Event::Delete(o) => o,
                            _ => continue,
                        };
                        if source.triggers() {
                            for r in owners(o) {
                                let _ = tx.unbounded_send(r);
                            }
                        }
                        if source.triggers_namespace()
                            && let Some(ns) = &o.metadata.namespace
                        {
                            let _ = ns_tx.unbounded_send(ns.clone());
                        }
                    }
                    let Some(kind) = optional.filter(|_| absent) else {
                        return;
                    };
                    // Its API was removed (prometheus-operator uninstalled): an empty cache
                    // that answers "absent", not a watch that fails every few seconds and
                    // keeps the operator unready.
                    tracing::info!(?kind, "the kind's API is no longer served; not caching it");
                    served.set(kind, false);
                    let mut buf = None;
                    apply_event(source, &part, &mut buf, &watcher::Event::Init);
                    apply_event(source, &part, &mut buf, &watcher::Event::InitDone);
                    let _ = all_tx.unbounded_send(());
                }
            }));
        }
        (rx, all_rx, ns_rx, tasks)
    }
}

/// Whether a watch failed because its resource is not served (404).
fn not_found(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 404,
        watcher::Error::WatchError(s) => s.code == 404,
        _ => false,
    }
}

/// How often an optional kind's API that was not served is asked for again.
pub const OPTIONAL_API_RECHECK: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str, body: Value) -> Value {
        let mut v = body;
        v["apiVersion"] = json!("v1");
        v["kind"] = json!(kind);
        v["metadata"] = json!({"name": "x", "namespace": "ns", "resourceVersion": "7",
            "labels": {"app.kubernetes.io/instance": "ovu"},
            "managedFields": [{"manager": "ovu-operator", "operation": "Apply",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/instance": {}}},
                             "f:data": {"f:password": {}}, "f:type": {}}}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "1"}});
        v
    }

    fn part(shared: &Arc<Shared>) -> Part {
        Part {
            objects: RwLock::new(Objects::default()),
            synced: AtomicBool::new(true),
            shared: shared.clone(),
        }
    }

    fn child_of(kind: &str, api_version: &str, name: &str, component: &str) -> Value {
        json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": "bench", "uid": format!("uid-{name}"),
                "resourceVersion": "42", "generation": 3,
                "labels": {"app.kubernetes.io/component": component, "app.kubernetes.io/instance": "s1",
                    "app.kubernetes.io/managed-by": "ovu-operator", "app.kubernetes.io/name": "ovu",
                    "app.kubernetes.io/part-of": "ovu"},
                "annotations": {"ovu.co.il/config-hash": "abc"},
                "ownerReferences": [{"apiVersion": "ovu.co.il/v1alpha1", "kind": "OvuSystem", "name": "s1",
                    "uid": "11111111-2222-3333-4444-555555555555", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": 1}, "status": {"replicas": 1, "readyReplicas": 1}})
    }

    /// What a reconcile reads back from the cache is exactly what `slim` made, whatever was
    /// moved out of the object's own text: for namespaced children, pods, cluster-scoped
    /// nodes and the API server's EndpointSlice.
    #[test]
    fn a_cached_object_reads_back_as_slim_made_it() {
        let shared = Arc::new(Shared::default());
        let cases = [
            (
                Source::Child(Kind::Deployment),
                child_of("Deployment", "apps/v1", "s1-ulm", "ulm"),
            ),
            (
                Source::Child(Kind::Service),
                child_of("Service", "v1", "s1-ulm", "ulm"),
            ),
            (
                Source::Child(Kind::Secret),
                obj(
                    "Secret",
                    json!({"type": "Opaque", "data": {"password": "c2VjcmV0"}}),
                ),
            ),
            (
                Source::Other(Other::Pods),
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "s1-ulm-abc", "namespace": "bench", "labels": {"app.kubernetes.io/instance": "s1"}},
                    "spec": {"nodeName": "n1", "containers": [{"name": "ulm", "image": "ovu/ulm:1"}]},
                    "status": {"phase": "Running"}}),
            ),
            (
                Source::Other(Other::Nodes),
                json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": "n1", "labels": {"ovu.co.il/tier": "backend"}},
                    "spec": {"podCIDR": "198.18.1.0/24"}}),
            ),
            (
                Source::Other(Other::ApiServerSlice),
                json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "kubernetes", "namespace": "default"},
                    "addressType": "IPv4", "endpoints": [{"addresses": ["198.18.0.1"]}]}),
            ),
        ];
        for (source, full) in cases {
            let p = part(&shared);
            let o: DynamicObject = serde_json::from_value(full.clone()).unwrap();
            let e = p.entry(source, &o).unwrap();
            assert!(
                !e.body().contains("app.kubernetes.io/part-of") && !e.body().contains("\"kind\""),
                "{source:?}: {}",
                e.body()
            );
            assert_eq!(
                parse(&source.api_resource(), &e),
                slim(source, &full),
                "{source:?}"
            );
        }
    }

    /// A cache's table finds an object by namespace and name, keeps one per pair (a later
    /// event replaces it), tells namespaces apart, and holds the name in the object's own text.
    #[test]
    fn a_table_slot_holds_three_thin_pointers() {
        // ns, instance and shared as `Arc<str>` made a slot 72 bytes; ~19,000 slots (and the
        // empty ones a table keeps) at 500 systems.
        assert_eq!(std::mem::size_of::<Obj>(), 48);
    }

    #[test]
    fn objects_are_one_per_namespace_and_name() {
        let shared = Arc::new(Shared::default());
        let p = part(&shared);
        let source = Source::Child(Kind::Service);
        let obj = |ns: &str, rv: u16| {
            let o: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s1-ulm", "namespace": ns, "resourceVersion": rv.to_string()}}))
            .unwrap();
            p.entry(source, &o).unwrap()
        };
        let mut t = Objects::default();
        t.insert(obj("a", 1));
        t.insert(obj("b", 2));
        t.insert(obj("a", 3));
        assert_eq!(t.iter().count(), 2, "a's second object replaced its first");
        let rv = |ns: &str| {
            let e = t.get(ns, "s1-ulm").unwrap();
            assert_eq!(e.name(), "s1-ulm");
            assert!(e.body().starts_with('{'), "{}", e.body());
            let v = parse(&source.api_resource(), e);
            assert_eq!(v["metadata"]["namespace"], ns);
            v["metadata"]["resourceVersion"].clone()
        };
        assert_eq!((rv("a"), rv("b")), (json!("3"), json!("2")));
        assert!(t.get("c", "s1-ulm").is_none() && t.get("a", "s1-ul").is_none());
        t.remove("a", "s1-ulm");
        assert!(t.get("a", "s1-ulm").is_none());
        assert!(t.get("b", "s1-ulm").is_some(), "only a's went");
        // What a table slot costs: the object is the slot (no key beside it).
        assert!(std::mem::size_of::<Obj>() <= 72);
    }

    /// Children of one component of one system share one text of labels and owner references,
    /// whatever their kind; a text no object holds any more goes at the next sweep.
    #[test]
    fn labels_and_owners_are_kept_once_and_dropped_when_unused() {
        let shared = Arc::new(Shared::default());
        let deployments = part(&shared);
        let services = part(&shared);
        let mut buf = None;
        let ev =
            |v: Value| watcher::Event::Apply(serde_json::from_value::<DynamicObject>(v).unwrap());
        apply_event(
            Source::Child(Kind::Deployment),
            &deployments,
            &mut buf,
            &ev(child_of("Deployment", "apps/v1", "s1-ulm", "ulm")),
        );
        apply_event(
            Source::Child(Kind::Service),
            &services,
            &mut buf,
            &ev(child_of("Service", "v1", "s1-ulm", "ulm")),
        );
        apply_event(
            Source::Child(Kind::Service),
            &services,
            &mut buf,
            &ev(child_of("Service", "v1", "s1-aam", "aam")),
        );
        assert_eq!(shared.len(), 2, "ulm's text once for both kinds, and aam's");
        assert_eq!(
            shared.names_len(),
            2,
            "the namespace and the instance, once"
        );
        {
            let d = deployments.objects.read().unwrap();
            let s = services.objects.read().unwrap();
            let (de, se) = (
                d.get("bench", "s1-ulm").unwrap(),
                s.get("bench", "s1-ulm").unwrap(),
            );
            assert!(Interned::same(
                de.shared.as_ref().unwrap(),
                se.shared.as_ref().unwrap()
            ));
            assert!(Interned::same(&de.ns, &se.ns), "one namespace text");
            assert!(Interned::same(
                de.instance.as_ref().unwrap(),
                se.instance.as_ref().unwrap()
            ));
        }
        let gone = |name: &str, kind: &str| {
            watcher::Event::Delete(serde_json::from_value::<DynamicObject>(
                json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "bench"}}),
            ).unwrap())
        };
        apply_event(
            Source::Child(Kind::Service),
            &services,
            &mut buf,
            &gone("s1-aam", "Service"),
        );
        shared.sweep();
        assert_eq!(shared.len(), 1, "aam's text went with its last object");
        apply_event(
            Source::Child(Kind::Service),
            &services,
            &mut buf,
            &gone("s1-ulm", "Service"),
        );
        shared.sweep();
        assert_eq!(shared.len(), 1, "the Deployment still holds ulm's");
        apply_event(
            Source::Child(Kind::Deployment),
            &deployments,
            &mut buf,
            &gone("s1-ulm", "Deployment"),
        );
        shared.sweep();
        assert_eq!(shared.len(), 0);
        assert_eq!(shared.names_len(), 0, "names go with their last object too");
    }

    #[test]
    fn secret_values_are_never_cached_only_their_digests() {
        let o = obj(
            "Secret",
            json!({"type": "Opaque", "data": {"password": "c2VjcmV0LXZhbHVl"}}),
        );
        let text = slim(Source::Child(Kind::Secret), &o).to_string();
        assert!(!text.contains("c2VjcmV0LXZhbHVl"), "{text}");
        assert!(
            !text.contains("managedFields") && !text.contains("last-applied"),
            "{text}"
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["data"]["password"], json!(digest("c2VjcmV0LXZhbHVl")));
        assert_eq!(body["metadata"]["annotations"]["keep"], "1");
        assert_eq!(body["kind"], "Secret");
    }

    #[test]
    fn the_fingerprint_of_what_the_operator_set_matches_the_rendering() {
        let rendered = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "ovu-ulm", "namespace": "ns", "labels": {"a": "1"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "ulm", "image": "ovu/ulm:1", "ports": [{"containerPort": 8080}], "args": []}]}}}});
        let mut live = rendered.clone();
        // Server defaults, another manager's label, status, bookkeeping.
        live["metadata"]["labels"]["theirs"] = json!("x");
        live["metadata"]["resourceVersion"] = json!("9");
        live["spec"]["revisionHistoryLimit"] = json!(10);
        live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
            json!("/dev/termination-log");
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        live["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("args");
        live["status"] = json!({"replicas": 2});
        let ours = json!({"f:metadata": {"f:labels": {"f:a": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"ulm\"}": {".": {}, "f:name": {}, "f:image": {}, "f:args": {},
                    "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}});
        live["metadata"]["managedFields"] = json!([
            {"manager": "ovu-operator", "operation": "Apply", "fieldsV1": ours},
            {"manager": "kubectl-label", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:theirs": {}}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {"f:replicas": {}}}},
        ]);
        assert_eq!(fingerprint(&projection(&live)), fingerprint(&rendered));
        // Someone scales it: the field is theirs now, the fingerprints differ.
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        scaled["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
            .as_object_mut()
            .unwrap()
            .remove("f:replicas");
        assert_ne!(fingerprint(&projection(&scaled)), fingerprint(&rendered));
        // A value of ours changed in place (an update by our own manager elsewhere).
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("ovu/ulm:2");
        assert_ne!(fingerprint(&projection(&edited)), fingerprint(&rendered));
        // The cached form carries the fingerprint and the status, not the spec.
        let c = slim(Source::Child(Kind::Deployment), &live);
        assert_eq!(c["fingerprint"], json!(fingerprint(&rendered)));
        assert!(c.get("spec").is_none());
        assert_eq!(c["status"]["replicas"], 2);
    }

    #[test]
    fn pods_and_nodes_keep_only_what_is_read() {
        let p = obj(
            "Pod",
            json!({"spec": {"nodeName": "n1", "volumes": [{"name": "v"}],
                "containers": [{"name": "ulm", "image": "ovu/ulm:1", "env": [{"name": "A", "value": "b"}]}]},
                "status": {"phase": "Running", "podIP": "198.18.0.1"}}),
        );
        let b = slim(Source::Other(Other::Pods), &p);
        assert_eq!(
            b["spec"],
            json!({"nodeName": "n1", "containers": [{"name": "ulm", "image": "ovu/ulm:1"}]})
        );
        assert_eq!(b["status"], json!({"phase": "Running"}));
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(b).unwrap();
        assert_eq!(pod.spec.unwrap().node_name.as_deref(), Some("n1"));
        let n = obj(
            "Node",
            json!({"spec": {"podCIDR": "198.19.0.0/24", "podCIDRs": ["198.19.0.0/24"]},
            "status": {"images": [{"names": ["big"]}]}}),
        );
        let b = slim(Source::Other(Other::Nodes), &n);
        assert_eq!(b["spec"]["podCIDRs"][0], "198.19.0.0/24");
        assert!(b.get("status").is_none());
    }

    /// A pod keeps the labels placement, the workloads and the backups read, and no other;
    /// a child keeps no uid of its own (its owner's stays, in the owner reference).
    #[test]
    fn a_cached_pod_keeps_only_the_labels_read_and_a_child_no_uid() {
        let mut p = obj("Pod", json!({"spec": {"containers": []}}));
        p["metadata"]["labels"] = json!({
            "app.kubernetes.io/component": "backup", "app.kubernetes.io/instance": "s1",
            "app.kubernetes.io/name": "ovu", "app.kubernetes.io/part-of": "ovu",
            "app.kubernetes.io/managed-by": "ovu-operator", "job-name": "s1-backup-1",
            "batch.kubernetes.io/controller-uid": "c0ffee", "pod-template-hash": "5d8f"});
        let pod: k8s_openapi::api::core::v1::Pod =
            serde_json::from_value(slim(Source::Other(Other::Pods), &p)).unwrap();
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(
            labels.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "app.kubernetes.io/component",
                "app.kubernetes.io/instance",
                "job-name"
            ]
        );
        assert_eq!(labels["job-name"], "s1-backup-1");
        let d = child_of("Deployment", "apps/v1", "s1-ulm", "ulm");
        let b = slim(Source::Child(Kind::Deployment), &d);
        assert!(b["metadata"].get("uid").is_none(), "{b}");
        assert_eq!(
            b["metadata"]["ownerReferences"][0]["uid"],
            d["metadata"]["ownerReferences"][0]["uid"]
        );
    }
}
