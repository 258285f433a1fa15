//! `ovu-e2e`: the operator's end-to-end tests against a real Kubernetes API server.
//!
//! What flows through this crate: a kubeconfig (`OVU_E2E_KUBECONFIG`, else `KUBECONFIG`) →
//! a [`Cluster`] handle (kube client + the repo's `kubectl`) → each test gets its own
//! namespace from [`with_temp_ns`], creates OvuSystems in it, and watches what the operator
//! (running under its own ServiceAccount, see `e2e/run`) and the real controllers make of them.
//!
//! Nothing here assumes the local kwok cluster: the same tests run against kind or any other
//! cluster. The tests live behind the `cluster` feature so `cargo test --workspace` does not
//! need a cluster; `e2e/run` (and `make test-e2e`) bring one up and run them.

pub mod operator;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource, ResourceExt};
use ovu_crds::{OvuSystem, Phase, names};
use serde_json::{Value, json};

/// Namespace the operator runs in (its Lease lives there).
pub const OPERATOR_NAMESPACE: &str = "ovu-system";
/// The operator's ServiceAccount and Lease name, from manifests/.
pub const OPERATOR_SA: &str = "ovu-operator";

/// The repository root (this crate lives in `<root>/e2e`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A cluster the tests run against.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// Admin kubeconfig (tests act as the cluster admin; the operator does not).
    pub kubeconfig: PathBuf,
    /// The `kubectl` binary: `OVU_E2E_KUBECTL`, else `e2e/cluster/bin/kubectl`, else PATH.
    pub kubectl: PathBuf,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("kubeconfig", &self.kubeconfig)
            .finish()
    }
}

/// The kubeconfig the tests use, if any.
pub fn kubeconfig_path() -> Option<PathBuf> {
    ["OVU_E2E_KUBECONFIG", "KUBECONFIG"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(|p| absolute(p.into()))
}

/// Paths from the environment are taken relative to the repository root (where e2e/run and
/// make run), not to the test binary's working directory (`e2e/`).
pub fn absolute(p: PathBuf) -> PathBuf {
    if p.is_relative() {
        repo_root().join(p)
    } else {
        p
    }
}

fn kubectl_path() -> PathBuf {
    if let Some(p) = std::env::var_os("OVU_E2E_KUBECTL").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let local = repo_root().join("e2e/cluster/bin/kubectl");
    if local.exists() {
        local
    } else {
        "kubectl".into()
    }
}

impl Cluster {
    /// Connect with the test kubeconfig; `Ok(None)` when none is configured.
    pub async fn connect() -> anyhow::Result<Option<Cluster>> {
        let Some(path) = kubeconfig_path() else {
            return Ok(None);
        };
        let kc = Kubeconfig::read_from(&path)
            .with_context(|| format!("reading kubeconfig {}", path.display()))?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("loading kubeconfig {}", path.display()))?;
        let client = Client::try_from(config)?;
        Ok(Some(Cluster {
            client,
            kubeconfig: path,
            kubectl: kubectl_path(),
        }))
    }

    /// Run kubectl against this cluster; returns stdout, fails with stderr.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl_output(args)?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The log of the Job's pod that succeeded. `kubectl logs job/<name>` shows any one of the
    /// Job's pods, so after a retry it may show the try that failed, not the one that did the work.
    pub async fn succeeded_job_log(&self, ns: &str, job: &str) -> anyhow::Result<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let pods = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await?
            .items;
        let done = pods
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
            .with_context(|| format!("none of Job {job}'s {} pods succeeded", pods.len()))?;
        self.kubectl(&["-n", ns, "logs", &done.name_any()])
    }

    /// Run kubectl from the repository root and return whatever it did.
    pub fn kubectl_output(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Command::new(&self.kubectl)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .current_dir(repo_root())
            .output()
            .with_context(|| format!("running {}", self.kubectl.display()))
    }

    pub fn systems(&self, ns: &str) -> Api<OvuSystem> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// OvuSystems as untyped objects, so tests can send what the Rust types cannot express.
    pub fn raw_systems(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            ns,
            &ApiResource::erase::<OvuSystem>(&()),
        )
    }

    /// Create an OvuSystem from JSON (see [`system`]).
    pub async fn try_create(&self, ns: &str, obj: &Value) -> Result<DynamicObject, kube::Error> {
        let dyn_obj: DynamicObject =
            serde_json::from_value(obj.clone()).map_err(kube::Error::SerdeError)?;
        self.raw_systems(ns)
            .create(&PostParams::default(), &dyn_obj)
            .await
    }

    pub async fn create(&self, ns: &str, obj: &Value) -> anyhow::Result<DynamicObject> {
        self.try_create(ns, obj)
            .await
            .with_context(|| format!("creating OvuSystem {}", obj["metadata"]["name"]))
    }

    /// Merge-patch an OvuSystem (spec or metadata).
    pub async fn patch_system(&self, ns: &str, name: &str, patch: Value) -> anyhow::Result<()> {
        self.raw_systems(ns)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("patching OvuSystem {ns}/{name} with {patch}"))?;
        Ok(())
    }

    pub async fn get_system(&self, ns: &str, name: &str) -> anyhow::Result<OvuSystem> {
        self.systems(ns)
            .get(name)
            .await
            .with_context(|| format!("reading OvuSystem {ns}/{name}"))
    }

    /// Wait until the OvuSystem is Ready for its current generation: phase Ready, Ready
    /// condition True, and every condition's observedGeneration current.
    pub async fn wait_ready(
        &self,
        ns: &str,
        name: &str,
        timeout: Duration,
    ) -> anyhow::Result<OvuSystem> {
        let api = self.systems(ns);
        wait_for(timeout, &format!("OvuSystem {ns}/{name} Ready"), || {
            let api = api.clone();
            async move {
                let s = api.get(name).await?;
                let verdict = ready_verdict(&s);
                Ok(match verdict {
                    Ok(()) => Ok(s),
                    Err(why) => Err(why),
                })
            }
        })
        .await
    }

    /// resourceVersion of every child the operator manages for `system`, by `Kind/name`.
    pub async fn child_versions(
        &self,
        ns: &str,
        system: &str,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let lp = ListParams::default().labels(&names::instance_selector(system));
        let mut out = BTreeMap::new();
        macro_rules! kinds {
            ($($k:ty),*) => {$(
                let api: Api<$k> = Api::namespaced(self.client.clone(), ns);
                for o in api.list(&lp).await? {
                    out.insert(
                        format!("{}/{}", <$k as Resource>::kind(&()), o.name_any()),
                        o.resource_version().unwrap_or_default(),
                    );
                }
            )*};
        }
        kinds!(
            StatefulSet,
            Deployment,
            Service,
            ConfigMap,
            Secret,
            CronJob,
            Job,
            NetworkPolicy,
            PodDisruptionBudget,
            ServiceAccount,
            Role,
            RoleBinding,
            PersistentVolumeClaim
        );
        Ok(out)
    }

    /// Who holds the operator's Lease, if anyone renewed it recently.
    pub async fn lease_holder(&self) -> anyhow::Result<Option<String>> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), OPERATOR_NAMESPACE);
        let Some(lease) = api.get_opt(OPERATOR_SA).await? else {
            return Ok(None);
        };
        let Some(spec) = lease.spec else {
            return Ok(None);
        };
        let (Some(holder), Some(renew)) = (spec.holder_identity, spec.renew_time) else {
            return Ok(None);
        };
        let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
        let age = k8s_openapi::jiff::Timestamp::now().as_second() - renew.0.as_second();
        Ok((!holder.is_empty() && age <= duration).then_some(holder))
    }

    /// Print what a person debugging a failed test wants to see first.
    pub fn dump(&self, ns: &str) {
        for args in [
            vec!["-n", ns, "get", "ovusystems", "-o", "yaml"],
            vec![
                "-n",
                ns,
                "get",
                "all,pvc,cm,secret,netpol,pdb,cronjob,job",
                "-o",
                "wide",
            ],
            vec!["-n", ns, "get", "events", "--sort-by=.lastTimestamp"],
            // What the namespace cannot show: a node under pressure (tainted, evicting, its
            // images garbage-collected) or a volume provisioner whose helper pods are stuck.
            vec![
                "get",
                "nodes",
                "-o",
                "custom-columns=NODE:.metadata.name,TRUE:.status.conditions[?(@.status==\"True\")].type,TAINTS:.spec.taints[*].key",
            ],
            vec![
                "get",
                "pods",
                "-A",
                "-o",
                "wide",
                "--field-selector=status.phase!=Running,status.phase!=Succeeded",
            ],
            vec![
                "-n",
                "local-path-storage",
                "get",
                "events",
                "--sort-by=.lastTimestamp",
            ],
        ] {
            match self.kubectl_output(&args) {
                Ok(o) => eprintln!(
                    "--- kubectl {}\n{}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => eprintln!("--- kubectl {}: {e:#}", args.join(" ")),
            }
        }
    }
}

/// Why an OvuSystem is not (yet) Ready for its current generation.
pub fn ready_verdict(s: &OvuSystem) -> Result<(), String> {
    let generation = s.metadata.generation;
    let Some(st) = &s.status else {
        return Err("no status yet".into());
    };
    if st.observed_generation != generation {
        return Err(format!(
            "observedGeneration {:?} != generation {generation:?} (phase {:?})",
            st.observed_generation, st.phase
        ));
    }
    if st.phase != Some(Phase::Ready) {
        return Err(format!(
            "phase {:?}, step {:?}: {}",
            st.phase,
            st.step,
            st.message.as_deref().unwrap_or("")
        ));
    }
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready");
    if ready.map(|c| c.status.as_str()) != Some("True") {
        return Err(format!("Ready condition is {ready:?}"));
    }
    if let Some(stale) = st
        .conditions
        .iter()
        .find(|c| c.observed_generation != generation)
    {
        return Err(format!(
            "condition {} has observedGeneration {:?}, generation is {generation:?}",
            stale.type_, stale.observed_generation
        ));
    }
    Ok(())
}

/// Poll `f` every half second until it yields `Ok(Ok(v))`; `Ok(Err(why))` means "not yet"
/// (the last `why` is in the timeout error), `Err` ends the wait at once.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Result<T, String>>>,
{
    let start = Instant::now();
    let mut last;
    loop {
        match f().await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(why)) => last = why,
            // The API server can be briefly busy; a transient error is another "not yet".
            Err(e) => last = format!("error: {e:#}"),
        }
        if start.elapsed() >= timeout {
            bail!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What runs the test pods: kwok's simulated nodes (pods are "Running" without containers) or
/// real kubelets (real PostgreSQL, migrations, nginx). `OVU_E2E_NODES=kwok|real`; `e2e/run`
/// sets it from its `--mode` (kwok when unset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nodes {
    Kwok,
    Real,
}

/// The node kind of the test cluster (see [`Nodes`]); an unknown value is a setup error.
pub fn nodes() -> Nodes {
    match std::env::var("OVU_E2E_NODES").as_deref() {
        Err(_) | Ok("") | Ok("kwok") => Nodes::Kwok,
        Ok("real") => Nodes::Real,
        Ok(other) => panic!("OVU_E2E_NODES={other:?}: expected kwok or real"),
    }
}

/// How long to wait for something a kwok cluster does in `kwok_time`: real nodes start real
/// containers (PostgreSQL's initdb, migrations, image unpacking) on the same two cores as the
/// control plane, so they get three times as long. Waits end as soon as the condition holds.
pub fn patience(kwok_time: Duration) -> Duration {
    match nodes() {
        Nodes::Kwok => kwok_time,
        Nodes::Real => kwok_time * 3,
    }
}

/// An OvuSystem manifest sized for the test cluster, everything else at its default; `patch`
/// is merged over the spec.
///
/// On kwok nodes nothing runs, so requests and limits are tiny and many systems fit. On real
/// nodes the limits are what the processes need (PostgreSQL with 64Mi would be OOM-killed),
/// while requests stay small so several test systems fit next to each other on the two cores.
/// `OVU_E2E_POSTGRES_IMAGE` / `OVU_E2E_REDIS_IMAGE` replace `postgres:16` / `redis:7` where
/// the nodes cannot pull them (the local cluster uses the images built in images/).
pub fn system(name: &str, domain: &str, patch: Value) -> Value {
    let sized = |request_memory: &str, limit_cpu: &str, limit_memory: &str| match nodes() {
        Nodes::Kwok => {
            json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}})
        }
        Nodes::Real => json!({
            "requests": {"cpu": "10m", "memory": request_memory},
            "limits": {"cpu": limit_cpu, "memory": limit_memory},
        }),
    };
    let mut spec = json!({
        "domain": domain,
        "frontend": {"resources": sized("16Mi", "500m", "128Mi")},
        "backend": {
            "ulm": {"image": "ovu/ulm:0.1.0", "resources": sized("32Mi", "1", "256Mi")},
            "aam": {"image": "ovu/aam:0.1.0", "resources": sized("32Mi", "1", "256Mi")},
        },
        "database": {
            "postgres": {"resources": sized("64Mi", "1", "512Mi"), "storage": {"size": "1Gi"}},
            "redis": {"resources": sized("16Mi", "500m", "128Mi")},
            "backup": {"storage": {"size": "1Gi"}},
        },
    });
    for (var, component) in [
        ("OVU_E2E_POSTGRES_IMAGE", "postgres"),
        ("OVU_E2E_REDIS_IMAGE", "redis"),
    ] {
        if let Some(image) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            spec["database"][component]["image"] = json!(image);
        }
    }
    merge(&mut spec, patch);
    json!({
        "apiVersion": ovu_crds::API_VERSION,
        "kind": "OvuSystem",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// JSON merge patch (RFC 7386) of `patch` into `target` (the one the shared invalid-spec
/// table patches with, so the e2e and offline runs build the same objects).
pub use ovu_crds::examples::merge;

/// Run `f` in a fresh namespace (Pod Security "restricted" enforced, as a real tenant would
/// have it), print diagnostics when it fails, delete the namespace afterwards.
///
/// With `needs_operator`, first check that an operator holds the Lease (a missing operator is
/// a setup error, not a hundred timeouts). Without a kubeconfig the test is skipped — loudly.
pub async fn with_temp_ns<F, Fut>(prefix: &str, needs_operator: bool, f: F)
where
    F: FnOnce(Cluster, String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cluster = match Cluster::connect().await {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!(
                "\n!!! SKIPPED {prefix}: neither OVU_E2E_KUBECONFIG nor KUBECONFIG is set; \
                 run e2e/run (make test-e2e) to test against a real cluster !!!\n"
            );
            return;
        }
        Err(e) => panic!("cannot connect to the test cluster: {e:#}"),
    };
    if needs_operator {
        match cluster.lease_holder().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!(
                "no operator holds the Lease {OPERATOR_NAMESPACE}/{OPERATOR_SA}: start one \
                 (e2e/run does) before running these tests"
            ),
            Err(e) => panic!("reading the operator Lease: {e:#}"),
        }
    }
    let ns = match create_namespace(&cluster, prefix).await {
        Ok(ns) => ns,
        Err(e) => panic!("creating a test namespace: {e:#}"),
    };
    let result = f(cluster.clone(), ns.clone()).await;
    if let Err(e) = &result {
        eprintln!("test in namespace {ns} failed: {e:#}");
        cluster.dump(&ns);
    }
    if std::env::var_os("OVU_E2E_KEEP_NS").is_none() {
        let api: Api<Namespace> = Api::all(cluster.client.clone());
        if let Err(e) = api.delete(&ns, &DeleteParams::background()).await {
            eprintln!("could not delete namespace {ns}: {e}");
        }
    }
    if let Err(e) = result {
        panic!("{e:#}");
    }
}

/// Create a fresh test namespace `e2e-<prefix>-<random>` (Pod Security "restricted"
/// enforced); for a test that manages its namespaces itself (e.g. deletes one mid-test).
pub async fn create_namespace(cluster: &Cluster, prefix: &str) -> anyhow::Result<String> {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    let name = format!("e2e-{}-{suffix}", prefix.trim_matches('-'));
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {
                "ovu.co.il/e2e": "true",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }))?;
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    api.create(&PostParams::default(), &ns).await?;
    Ok(name)
}

/// The message of a refused API request (for asserting it is one a person can act on).
pub fn api_message(e: &kube::Error) -> anyhow::Result<String> {
    match e {
        kube::Error::Api(s) => Ok(format!("{} ({})", s.message, s.code)),
        other => Err(anyhow!("expected the API server to refuse, got {other}")),
    }
}

/// The API resource of a kind the operator manages, by its `kind`.
pub fn api_resource(kind: &str) -> anyhow::Result<ApiResource> {
    Ok(match kind {
        "StatefulSet" => ApiResource::erase::<StatefulSet>(&()),
        "Deployment" => ApiResource::erase::<Deployment>(&()),
        "Service" => ApiResource::erase::<Service>(&()),
        "ConfigMap" => ApiResource::erase::<ConfigMap>(&()),
        "Secret" => ApiResource::erase::<Secret>(&()),
        "CronJob" => ApiResource::erase::<CronJob>(&()),
        "Job" => ApiResource::erase::<Job>(&()),
        "NetworkPolicy" => ApiResource::erase::<NetworkPolicy>(&()),
        "PodDisruptionBudget" => ApiResource::erase::<PodDisruptionBudget>(&()),
        "ServiceAccount" => ApiResource::erase::<ServiceAccount>(&()),
        "Role" => ApiResource::erase::<Role>(&()),
        "RoleBinding" => ApiResource::erase::<RoleBinding>(&()),
        "PersistentVolumeClaim" => ApiResource::erase::<PersistentVolumeClaim>(&()),
        other => bail!("no API resource known for kind {other}"),
    })
}

impl Cluster {
    /// One object by kind and name, untyped; `None` when it does not exist.
    pub async fn get_obj(
        &self,
        ns: &str,
        kind: &str,
        name: &str,
    ) -> anyhow::Result<Option<DynamicObject>> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &api_resource(kind)?);
        Ok(api.get_opt(name).await?)
    }

    /// Delete one object by kind and name (background propagation).
    pub async fn delete_obj(&self, ns: &str, kind: &str, name: &str) -> anyhow::Result<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &api_resource(kind)?);
        api.delete(name, &DeleteParams::background())
            .await
            .with_context(|| format!("deleting {kind} {ns}/{name}"))?;
        Ok(())
    }
}
