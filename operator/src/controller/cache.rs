//! Watch caches: what a reconcile reads about the cluster, kept up to date by watches instead
//! of read with a GET or a LIST on every reconcile (issue 16: a no-op reconcile made ~51 API
//! requests; from the caches it makes none).
//!
//! One reflector per kind the operator makes (label-selected to `managed-by=ovu-operator`), the
//! system's pods (same label), the nodes (their labels and pod networks only) and the
//! `default/kubernetes` EndpointSlice. The child watches also trigger the owning system's
//! reconcile (drift repair), as `Controller::owns` did.
//!
//! Memory: every cached object is slimmed ([`slim`]) and then kept as one compact JSON string
//! (see [`Cache::body`]); a `serde_json::Value` tree costs five to ten times its text, and
//! 500 systems have ~15,000 children. ConfigMap and Secret values are replaced by their
//! digest ([`digest`]): the cache never holds a secret value, and the nginx configuration is
//! not kept twice. A reconcile compares digests with digests ([`digest_data`]).
//!
//! A cache is an accelerator, never the authority where a stale answer could do harm: a child
//! the cache does not have is read with a GET before it is created (an object that is not the
//! operator's is never in the label-selected cache, and a generated Secret must never be made
//! twice), and a kind whose watch has not synced is read the old way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::{GroupVersionKind, TypeMeta};
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use ovu_crds::OvuSystem;
use serde_json::{Value, json};

use crate::render::names::{INSTANCE_LABEL, MANAGED_SELECTOR};
use crate::render::{Kind, short_hash};

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
}

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
        }
    }

    /// Whether events of this source trigger the owning system's reconcile.
    fn triggers(self) -> bool {
        matches!(self, Source::Child(_))
    }
}

/// Slim an object before it is cached: what no reconcile reads goes (server-side-apply
/// bookkeeping, kubectl's last-applied copy, ConfigMap and Secret values but for their
/// digests, everything of a pod and a node but what placement and the pod problems read),
/// and the rest becomes one compact JSON string.
fn slim(source: Source, o: &mut DynamicObject) {
    let m = &mut o.metadata;
    m.managed_fields = None;
    if let Some(a) = m.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    let mut body = std::mem::take(&mut o.data);
    match source {
        Source::Child(Kind::Secret | Kind::ConfigMap) => digest_data(&mut body),
        Source::Other(Other::Pods) => {
            let keep = |list: &Value| -> Value {
                list.as_array()
                    .map(|l| {
                        l.iter()
                            .map(|c| json!({"name": c["name"], "image": c["image"]}))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let spec = &body["spec"];
            let mut s = json!({"containers": keep(&spec["containers"])});
            if spec["initContainers"].is_array() {
                s["initContainers"] = keep(&spec["initContainers"]);
            }
            if let Some(n) = spec.get("nodeName") {
                s["nodeName"] = n.clone();
            }
            let mut status = body.get("status").cloned().unwrap_or(Value::Null);
            if let Some(st) = status.as_object_mut() {
                for k in ["podIP", "podIPs", "hostIP", "hostIPs", "qosClass"] {
                    st.remove(k);
                }
            }
            body = json!({"spec": s, "status": status});
            o.metadata.owner_references = None;
            o.metadata.annotations = None;
        }
        Source::Other(Other::Nodes) => {
            let spec = &body["spec"];
            body = json!({"spec": {"podCIDR": spec["podCIDR"], "podCIDRs": spec["podCIDRs"]}});
            let labels = o.metadata.labels.take();
            let name = o.metadata.name.take();
            o.metadata = Default::default();
            o.metadata.labels = labels;
            o.metadata.name = name;
        }
        _ => {}
    }
    o.data = Value::String(body.to_string());
}

/// One cache: its store and whether its first list is in.
struct Part {
    store: Store<DynamicObject>,
    synced: Arc<AtomicBool>,
}

/// The read side, in the reconcile's [`super::Context`].
pub struct Cache {
    parts: BTreeMap<Source, Part>,
    /// cert-manager's Certificate API exists (found at start): its kind is cached too.
    certificates: Arc<AtomicBool>,
}

/// The write side: fed by the watches ([`Writers::run`]) or, without them, by one list of
/// each kind ([`Writers::fill`]).
pub struct Writers {
    parts: Vec<(Source, Writer<DynamicObject>, Arc<AtomicBool>)>,
    certificates: Arc<AtomicBool>,
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
    ]);
    let certificates = Arc::new(AtomicBool::new(false));
    let mut parts = BTreeMap::new();
    let mut writers = Vec::new();
    for s in sources {
        let w = Writer::new(s.api_resource());
        let synced = Arc::new(AtomicBool::new(false));
        parts.insert(
            s,
            Part {
                store: w.as_reader(),
                synced: synced.clone(),
            },
        );
        writers.push((s, w, synced));
    }
    (
        Cache {
            parts,
            certificates: certificates.clone(),
        },
        Writers {
            parts: writers,
            certificates,
        },
    )
}

/// What the cache knows of one child.
#[derive(Debug)]
pub enum Lookup {
    /// The cached object (slimmed, values of ConfigMaps and Secrets digested).
    Found(Value),
    /// The synced cache does not have it: read it to be sure before creating it.
    Missing,
    /// The kind is not cached (yet): read it.
    Unknown,
}

impl Cache {
    fn part(&self, s: Source) -> Option<&Store<DynamicObject>> {
        if s == Source::Child(Kind::Certificate) && !self.certificates.load(Ordering::Relaxed) {
            return None;
        }
        let p = self.parts.get(&s)?;
        p.synced.load(Ordering::Relaxed).then_some(&p.store)
    }

    /// The whole (slimmed) object of a cached entry.
    pub fn body(o: &DynamicObject) -> Value {
        let mut v = match &o.data {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| json!({})),
            other => other.clone(),
        };
        if !v.is_object() {
            v = json!({});
        }
        v["metadata"] = serde_json::to_value(&o.metadata).unwrap_or_default();
        if let Some(t) = &o.types {
            v["apiVersion"] = json!(t.api_version);
            v["kind"] = json!(t.kind);
        }
        v
    }

    /// One child by name.
    pub fn child(&self, kind: Kind, ns: &str, name: &str) -> Lookup {
        let Some(store) = self.part(Source::Child(kind)) else {
            return Lookup::Unknown;
        };
        let key = ObjectRef::new_with(name, kind.api_resource()).within(ns);
        match store.get(&key) {
            Some(o) => Lookup::Found(Self::body(&o)),
            None => Lookup::Missing,
        }
    }

    /// The cached objects of `source` in `ns` (all namespaces: `None`) whose labels include
    /// every `(key, value)` of `labels`; `None` when not cached.
    fn select(
        &self,
        source: Source,
        ns: Option<&str>,
        labels: &[(&str, &str)],
    ) -> Option<Vec<Value>> {
        let store = self.part(source)?;
        Some(
            store
                .state()
                .iter()
                .filter(|o| ns.is_none() || o.metadata.namespace.as_deref() == ns)
                .filter(|o| {
                    let l = o.labels();
                    labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
                })
                .map(|o| Self::body(o))
                .collect(),
        )
    }

    /// A system's children of one kind (`labels` as in [`Self::select`]); `None`: not cached.
    pub fn children(&self, kind: Kind, ns: &str, labels: &[(&str, &str)]) -> Option<Vec<Value>> {
        self.select(Source::Child(kind), Some(ns), labels)
    }

    /// The names (and metadata) of a system's children of one kind, for prune.
    pub fn children_meta(
        &self,
        kind: Kind,
        ns: &str,
        system: &str,
    ) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>> {
        let store = self.part(Source::Child(kind))?;
        Some(
            store
                .state()
                .iter()
                .filter(|o| o.metadata.namespace.as_deref() == Some(ns))
                .filter(|o| o.labels().get(INSTANCE_LABEL).map(String::as_str) == Some(system))
                .map(|o| o.metadata.clone())
                .collect(),
        )
    }

    /// Whether prune has to look at this kind at all: a cluster without cert-manager has
    /// no Certificates to prune (and would answer each list with a 404).
    pub fn kind_absent(&self, kind: Kind) -> bool {
        kind == Kind::Certificate
            && self.parts[&Source::Child(kind)]
                .synced
                .load(Ordering::Relaxed)
            && !self.certificates.load(Ordering::Relaxed)
    }

    /// A system's pods (`None`: not cached).
    pub fn pods(&self, ns: &str, system: &str) -> Option<Vec<Value>> {
        self.select(
            Source::Other(Other::Pods),
            Some(ns),
            &[(INSTANCE_LABEL, system)],
        )
    }

    /// The nodes labelled `key=value` (`None`: not cached).
    pub fn nodes(&self, key: &str, value: &str) -> Option<Vec<Value>> {
        self.select(Source::Other(Other::Nodes), None, &[(key, value)])
    }

    /// The `default/kubernetes` EndpointSlice: `Some(None)` when it does not exist, `None`
    /// when not cached.
    pub fn api_server_slice(&self) -> Option<Option<Value>> {
        let store = self.part(Source::Other(Other::ApiServerSlice))?;
        let key = ObjectRef::new_with(
            "kubernetes",
            Source::Other(Other::ApiServerSlice).api_resource(),
        )
        .within("default");
        Some(store.get(&key).map(|o| Self::body(&o)))
    }

    /// Whether every cache has its first list.
    pub fn synced(&self) -> bool {
        self.parts
            .values()
            .all(|p| p.synced.load(Ordering::Relaxed))
    }
}

/// Whether cert-manager's Certificate API is served (a 404 says it is not installed).
async fn certificates_served(client: &Client) -> Result<bool, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &Kind::Certificate.api_resource());
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

impl Writers {
    /// Fill every cache from one list of each kind, as a watch's initial list would (for
    /// tests, and anything that reconciles without the controller's watches). Call again to
    /// refresh.
    pub async fn fill(&mut self, client: &Client) -> Result<(), kube::Error> {
        let certs = certificates_served(client).await?;
        self.certificates.store(certs, Ordering::Relaxed);
        for (source, writer, synced) in &mut self.parts {
            if *source == Source::Child(Kind::Certificate) && !certs {
                synced.store(true, Ordering::Relaxed);
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
            writer.apply_watcher_event(&watcher::Event::Init);
            for mut o in list.items {
                if o.types.is_none() {
                    let ar = source.api_resource();
                    o.types = Some(TypeMeta {
                        api_version: ar.api_version.clone(),
                        kind: ar.kind.clone(),
                    });
                }
                slim(*source, &mut o);
                writer.apply_watcher_event(&watcher::Event::InitApply(o));
            }
            writer.apply_watcher_event(&watcher::Event::InitDone);
            synced.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Start a watch per cache (each on its own task, paged by `page_size`). Returns the
    /// systems to reconcile because a child of theirs changed, and the tasks (aborted when
    /// dropped by the caller). `on_error` is told of every watch error.
    pub async fn run(
        self,
        client: &Client,
        page_size: u32,
        on_error: Arc<dyn Fn(&watcher::Error) + Send + Sync>,
    ) -> (
        mpsc::UnboundedReceiver<ObjectRef<OvuSystem>>,
        Vec<tokio::task::JoinHandle<()>>,
    ) {
        // Asked once: a cluster that gains cert-manager later is seen after a restart (until
        // then its Certificates are read with GETs).
        let certs = loop {
            match certificates_served(client).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell whether cert-manager is installed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        };
        self.certificates.store(certs, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded();
        let mut tasks = Vec::new();
        for (source, writer, synced) in self.parts {
            if source == Source::Child(Kind::Certificate) && !certs {
                synced.store(true, Ordering::Relaxed);
                continue;
            }
            let (api, wc) = source.api(client);
            let tx = tx.clone();
            let on_error = on_error.clone();
            let stream = watcher(api, wc.page_size(page_size))
                .default_backoff()
                .modify(move |o| slim(source, o))
                .reflect(writer);
            tasks.push(tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(ev) = stream.next().await {
                    match ev {
                        Ok(watcher::Event::InitDone) => synced.store(true, Ordering::Relaxed),
                        // The first list's objects need no trigger: every system is
                        // reconciled after the start anyway. A re-list's may be changes the
                        // broken watch missed.
                        Ok(watcher::Event::InitApply(o))
                            if source.triggers() && synced.load(Ordering::Relaxed) =>
                        {
                            for r in owners(&o) {
                                let _ = tx.unbounded_send(r);
                            }
                        }
                        Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o))
                            if source.triggers() =>
                        {
                            for r in owners(&o) {
                                let _ = tx.unbounded_send(r);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => on_error(&e),
                    }
                }
            }));
        }
        (rx, tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str, body: Value) -> DynamicObject {
        let mut v = body;
        v["apiVersion"] = json!("v1");
        v["kind"] = json!(kind);
        v["metadata"] = json!({"name": "x", "namespace": "ns",
            "managedFields": [{"manager": "ovu-operator"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "1"}});
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn secret_values_are_never_cached_only_their_digests() {
        let mut o = obj(
            "Secret",
            json!({"type": "Opaque", "data": {"password": "c2VjcmV0LXZhbHVl"}}),
        );
        slim(Source::Child(Kind::Secret), &mut o);
        // Everything the cache keeps of it (the body is one string).
        let text = format!("{o:?}");
        assert!(!text.contains("c2VjcmV0LXZhbHVl"), "{text}");
        assert!(
            o.metadata.managed_fields.is_none() && !text.contains("last-applied"),
            "{text}"
        );
        let body = Cache::body(&o);
        assert_eq!(body["data"]["password"], json!(digest("c2VjcmV0LXZhbHVl")));
        assert_eq!(body["metadata"]["annotations"]["keep"], "1");
        assert_eq!(body["kind"], "Secret");
        // A desired object digested the same way compares equal.
        let mut want = json!({"data": {"password": "c2VjcmV0LXZhbHVl"}});
        digest_data(&mut want);
        assert!(crate::apply::covers(&body, &want));
        let mut other = json!({"data": {"password": "b3RoZXI="}});
        digest_data(&mut other);
        assert!(!crate::apply::covers(&body, &other));
    }

    #[test]
    fn pods_and_nodes_keep_only_what_is_read() {
        let mut p = obj(
            "Pod",
            json!({"spec": {"nodeName": "n1", "volumes": [{"name": "v"}],
                "containers": [{"name": "ulm", "image": "ovu/ulm:1", "env": [{"name": "A", "value": "b"}]}]},
                "status": {"phase": "Running", "podIP": "198.18.0.1"}}),
        );
        slim(Source::Other(Other::Pods), &mut p);
        let b = Cache::body(&p);
        assert_eq!(
            b["spec"],
            json!({"nodeName": "n1", "containers": [{"name": "ulm", "image": "ovu/ulm:1"}]})
        );
        assert_eq!(b["status"], json!({"phase": "Running"}));
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(b).unwrap();
        assert_eq!(pod.spec.unwrap().node_name.as_deref(), Some("n1"));
        let mut n = obj(
            "Node",
            json!({"spec": {"podCIDR": "198.19.0.0/24", "podCIDRs": ["198.19.0.0/24"]},
            "status": {"images": [{"names": ["big"]}]}}),
        );
        slim(Source::Other(Other::Nodes), &mut n);
        let b = Cache::body(&n);
        assert_eq!(b["spec"]["podCIDRs"][0], "198.19.0.0/24");
        assert!(b.get("status").is_none());
    }
}
