//! One round's dealings with the API server for the apply steps: ensure a child (recording
//! what changed and the live status the later steps read, typed), read one by name.

use std::collections::BTreeMap;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Error;
use super::cache::{Cache, Lookup};
use super::error::read;
use super::tiers::Live;
use crate::apply::{self, Outcome};
use crate::render::{Child, Kind};

/// Requests one reconcile has in flight while it ensures a set of children
/// ([`Run::ensure_all`]); the controller runs up to `--concurrency` reconciles at once.
pub const APPLY_CONCURRENCY: usize = 8;

/// In which wave [`Run::ensure_all`] applies a kind: what others refer to first, then the
/// RoleBindings (the API server looks their Role up to check the binding grants nothing its
/// creator lacks, and answers 404 while the Role is not there yet: applied beside the Role,
/// every new system's first reconcile failed on it), then the kinds pods are made from (a
/// pod is never created before its ServiceAccount or volume).
fn wave(kind: Kind) -> u8 {
    match kind {
        Kind::RoleBinding => 1,
        Kind::Deployment | Kind::StatefulSet | Kind::CronJob | Kind::Job => 2,
        _ => 0,
    }
}

/// How often a RoleBinding's 404 is retried within the round, and the first pause (doubled
/// each time): the Role was created in the wave before, but the API server checks bindings
/// against its own watch of Roles, which may lag the create by a moment.
const ROLE_LAG_RETRIES: u32 = 3;
const ROLE_LAG_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

async fn apply_one<'c>(
    client: &Client,
    cache: &Cache,
    c: &'c Child,
) -> (&'c Child, Result<apply::Applied, apply::ApplyError>) {
    let mut pause = ROLE_LAG_PAUSE;
    let mut tries = 0;
    loop {
        let r = apply::ensure(client, cache, c).await;
        match &r {
            Err(apply::ApplyError::Kube(kube::Error::Api(e)))
                if c.kind == Kind::RoleBinding && e.code == 404 && tries < ROLE_LAG_RETRIES =>
            {
                tries += 1;
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            _ => return (c, r),
        }
    }
}

/// What the apply steps did and saw.
pub struct Run<'a> {
    pub client: &'a Client,
    /// The watch caches: children are read from them ([`Run::get`]).
    pub cache: &'a Cache,
    metrics: &'a crate::metrics::Metrics,
    /// "created Deployment ovu-ulm", … for the Applied Event.
    pub changes: Vec<String>,
    /// Every child rendered (applied or not) this round: what prune keeps.
    pub rendered: Vec<(Kind, String)>,
    live: BTreeMap<(Kind, String), Value>,
}

impl<'a> Run<'a> {
    pub fn new(client: &'a Client, cache: &'a Cache, metrics: &'a crate::metrics::Metrics) -> Self {
        Self {
            client,
            cache,
            metrics,
            changes: Vec::new(),
            rendered: Vec::new(),
            live: BTreeMap::new(),
        }
    }

    /// Record a child as wanted this round without applying it (a tier not reached yet).
    pub fn keep(&mut self, kind: Kind, name: &str) {
        let k = (kind, name.to_string());
        if !self.rendered.contains(&k) {
            self.rendered.push(k);
        }
    }

    pub async fn ensure(&mut self, c: &Child) -> Result<(), Error> {
        self.keep(c.kind, &c.name);
        let a = apply::ensure(self.client, self.cache, c).await;
        self.record(c, a).map_or(Ok(()), Err)
    }

    /// Ensure many children, up to [`APPLY_CONCURRENCY`] at a time, in three waves ([`wave`]):
    /// first everything the others refer to (ServiceAccounts, Roles, ConfigMaps, Secrets,
    /// Services, PVCs, …), then the RoleBindings, then the workloads, so that a binding never
    /// reaches the API server before its Role, nor a pod before its ServiceAccount or volume
    /// (the workload controllers would back off and retry). At
    /// scale a reconcile that creates a tier waits on the API server, not on the CPU: one
    /// request after the other, ~30 creates took 5–10 s each under load (bench/README.md).
    /// An error that `tolerated` does not accept ends the round after its wave; the results
    /// come back in the order of `children`.
    pub async fn ensure_all<'c>(
        &mut self,
        children: &'c [Child],
        tolerated: impl Fn(&Child, &Error) -> bool,
    ) -> Vec<(&'c Child, Result<(), Error>)> {
        for c in children {
            self.keep(c.kind, &c.name);
        }
        let mut results = Vec::with_capacity(children.len());
        // The waves of [`wave`], in order.
        for w in 0..=2 {
            // The futures made first, from an `async fn` (an async block in the stream's
            // `map` closure is not provably `Send` for the controller).
            let futures: Vec<_> = children
                .iter()
                .filter(|c| wave(c.kind) == w)
                .map(|c| apply_one(self.client, self.cache, c))
                .collect();
            let applied: Vec<_> = futures::stream::iter(futures)
                .buffered(APPLY_CONCURRENCY)
                .collect()
                .await;
            let mut failed = false;
            for (c, a) in applied {
                let r = self.record(c, a).map_or(Ok(()), Err);
                if let Err(e) = &r {
                    failed |= !tolerated(c, e);
                }
                results.push((c, r));
            }
            if failed {
                break;
            }
        }
        // Back in the order of `children` (the waves reorder them).
        results.sort_by_key(|(c, _)| {
            children
                .iter()
                .position(|d| std::ptr::eq(d, *c))
                .unwrap_or(usize::MAX)
        });
        results
    }

    /// Count and remember what ensuring one child did (an error becomes the step's error).
    fn record(&mut self, c: &Child, a: Result<apply::Applied, apply::ApplyError>) -> Option<Error> {
        let kind = c.object["kind"].as_str().unwrap_or_default().to_string();
        let a = match a {
            Ok(a) => a,
            Err(source) => {
                return Some(Error::ApplyChild {
                    kind,
                    name: c.name.clone(),
                    source,
                });
            }
        };
        match a.outcome {
            Outcome::Unchanged => {}
            o => {
                let verb = if o == Outcome::Created {
                    "created"
                } else {
                    "updated"
                };
                self.metrics
                    .child_writes
                    .get_or_create(&crate::metrics::KindLabels {
                        kind: kind.clone(),
                        outcome: verb.into(),
                    })
                    .inc();
                self.changes.push(format!("{verb} {kind} {}", c.name));
            }
        }
        // Only the status is read later (rollout state, CronJob schedule); keeping whole
        // objects (Secrets, the nginx config) for the rest of the reconcile costs memory per
        // concurrent reconcile.
        if let Some(status) = a.live.get("status").filter(|s| !s.is_null()) {
            self.live.insert(
                (c.kind, c.name.clone()),
                json!({"status": status, "metadata": {"generation": a.live.pointer("/metadata/generation")}}),
            );
        }
        None
    }

    /// The live status of a child ensured this round, as its k8s-openapi type.
    pub fn typed<K: DeserializeOwned>(&self, kind: Kind, name: &str) -> Option<K> {
        let v = self.live.get(&(kind, name.to_string()))?;
        match serde_json::from_value(v.clone()) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!(?kind, name, error = %e, "unreadable live status");
                None
            }
        }
    }

    /// A workload ensured this round.
    pub fn workload(&self, kind: Kind, name: &str) -> Option<Live> {
        match kind {
            Kind::Deployment => self.typed(kind, name).map(Live::Deployment),
            Kind::StatefulSet => self.typed(kind, name).map(Live::StatefulSet),
            _ => None,
        }
    }
}

impl Run<'_> {
    /// Read one object by name: from the cache (ConfigMap and Secret values are digests
    /// there, see [`super::cache`]), else with a GET; `None` when it (or its API) is absent.
    /// Which of the named Secrets (`(field, name)`, `None` for an optional field left out)
    /// do not exist in `ns`, as "field name" — for a condition that names them before a Job
    /// would wait in ContainerCreating for one, saying nothing the status shows.
    pub async fn missing_secrets(
        &self,
        step: &'static str,
        ns: &str,
        named: &[(&str, Option<&String>)],
    ) -> Result<Vec<String>, Error> {
        let mut missing = Vec::new();
        for (what, name) in named {
            let Some(name) = name else { continue };
            if self.get(step, Kind::Secret, ns, name).await?.is_none() {
                missing.push(format!("{what} {name}"));
            }
        }
        Ok(missing)
    }

    /// What is wrong with the CA a bucket names (`s3.caConfigMap` or `s3.caSecret`): the
    /// object missing, or without `s3.caKey`; `None` when it is there or none is named. Both
    /// would otherwise leave the Job's pod in ContainerCreating (a projected volume's source or
    /// key that does not exist), saying nothing the status shows.
    pub async fn missing_bucket_ca(
        &self,
        step: &'static str,
        ns: &str,
        s3: &ovu_crds::S3Bucket,
    ) -> Result<Option<String>, Error> {
        let (kind, what, field, name) = match (&s3.ca_config_map, &s3.ca_secret) {
            (Some(n), _) => (Kind::ConfigMap, "ConfigMap", "s3.caConfigMap", n),
            (None, Some(n)) => (Kind::Secret, "Secret", "s3.caSecret", n),
            (None, None) => return Ok(None),
        };
        Ok(match self.get(step, kind, ns, name).await? {
            None => Some(format!("no {what} {name} ({field}) in namespace {ns}")),
            Some(o) => {
                let has_key = ["data", "binaryData"]
                    .iter()
                    .any(|f| o.get(f).and_then(|d| d.get(&s3.ca_key)).is_some());
                (!has_key).then(|| {
                    format!(
                        "{what} {ns}/{name} ({field}) has no key {} (s3.caKey)",
                        s3.ca_key
                    )
                })
            }
        })
    }

    pub async fn get(
        &self,
        step: &'static str,
        kind: Kind,
        ns: &str,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        match self.cache.child(kind, ns, name) {
            Lookup::Found(v) => Ok(Some(v)),
            Lookup::Missing | Lookup::Unknown => {
                get_dynamic(self.client, step, kind, ns, name).await
            }
        }
    }
}

/// Read one object by name; `None` when it (or its API, such as cert-manager's) is absent.
pub async fn get_dynamic(
    client: &Client,
    step: &'static str,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<Option<Value>, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kind.api_resource());
    match api.get_opt(name).await {
        Ok(o) => Ok(o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null))),
        // The cert-manager CRD may not be installed.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(read(step, format!("{} {name}", kind.api_resource().kind))(
            e,
        )),
    }
}
