//! The controller: kube-runtime wiring, the per-object error policy, and the reconcile
//! pipeline (read → validate → build → apply → status) in [`reconcile`].

mod acme;
mod backups;
pub mod cache;
mod certificate;
mod cleanup;
mod error;
pub mod events;
mod monitoring;
mod pipeline;
mod placement;
mod pods;
mod probe;
mod prune;
mod restore;
mod run;
mod tiers;
mod validate;
pub mod verdict;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use events::{EventType, Occurrence, Recorder};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use ovu_crds::OvuSystem;
use std::sync::Mutex;
use tracing::Instrument;
use tracing::{debug, info, warn};

use crate::health::Prober;
use crate::metrics::Metrics;
use crate::server::Readiness;

pub use cleanup::cleanup_system;
pub use error::Error;
pub use pipeline::apply_system;
pub use prune::prunable;
pub use verdict::RECOVERY_GRACE;

/// Finalizer that lets the operator decide what happens to data on delete.
pub const FINALIZER: &str = "ovu.co.il/cleanup";

/// Everything a reconcile needs.
pub struct Context {
    pub client: Client,
    /// One recorder for all systems, so repeated events become a series instead of new ones.
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// Namespace the operator runs in (NetworkPolicies admit its health probes).
    pub operator_namespace: String,
    /// Health prober; `None` disables probing (tests without network).
    pub prober: Option<Prober>,
    /// The images of the components a spec names none of (the operator's configuration,
    /// read once at start); the compiled-in fallbacks unless set.
    pub default_images: crate::images::DefaultImages,
    /// Longest a recorded health result may age before it is rewritten.
    pub health_max_age: Duration,
    /// Consecutive failures per object, for exponential backoff.
    backoff: Mutex<HashMap<String, u32>>,
    /// What the reconcile reads of the cluster, from watches (see [`cache`]).
    pub cache: cache::Cache,
    /// The caches' write side until [`run`] starts the watches (or [`Context::fill_caches`]
    /// fills them from lists).
    writers: Mutex<Option<cache::Writers>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("operator_namespace", &self.operator_namespace)
            .finish()
    }
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Metrics,
        operator_namespace: String,
        instance: Option<String>,
        prober: Option<Prober>,
    ) -> Self {
        let (cache, writers) = cache::caches();
        Self {
            recorder: Recorder::new(client.clone(), "ovu-operator", instance),
            cache,
            writers: Mutex::new(Some(writers)),
            client,
            metrics,
            operator_namespace,
            prober,
            default_images: Default::default(),
            health_max_age: Duration::from_secs(300),
            backoff: Mutex::new(HashMap::new()),
        }
    }
}

impl Context {
    /// Fill the caches from one list of each kind, as the watches' first lists do: for
    /// reconciles without the controller (tests). Without it (and before the watches
    /// synced) a reconcile reads the cluster with GETs and LISTs.
    pub async fn fill_caches(&self) -> Result<(), kube::Error> {
        let w = self.writers.lock().ok().and_then(|mut w| w.take());
        let Some(mut w) = w else {
            return Ok(());
        };
        let res = w.fill(&self.client).await;
        if let Ok(mut slot) = self.writers.lock() {
            *slot = Some(w);
        }
        res
    }
}

fn key(sys: &OvuSystem) -> String {
    format!("{}/{}", sys.namespace().unwrap_or_default(), sys.name_any())
}

/// One reconcile of one OvuSystem, wrapped in the finalizer, in a span naming the system
/// (every log line of the reconcile carries it).
pub async fn reconcile(sys: Arc<OvuSystem>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = tracing::info_span!(
        "reconcile",
        namespace = %sys.namespace().unwrap_or_default(),
        system = %sys.name_any(),
    );
    reconcile_inner(sys, ctx).instrument(span).await
}

async fn reconcile_inner(sys: Arc<OvuSystem>, ctx: Arc<Context>) -> Result<Action, Error> {
    let start = Instant::now();
    ctx.metrics.reconciles.inc();
    let ns = sys.namespace().ok_or(Error::Metadata("namespace"))?;
    let api: Api<OvuSystem> = Api::namespaced(ctx.client.clone(), &ns);
    let recorder = &ctx.recorder;
    let res = finalizer(&api, FINALIZER, sys.clone(), |event| async {
        match event {
            finalizer::Event::Apply(s) => apply_system(s, &ctx, &api, recorder).await,
            finalizer::Event::Cleanup(s) => {
                let name = s.name_any();
                let r = cleanup_system(s, &ctx, recorder).await;
                if r.is_ok() {
                    // Gone: its series must not linger (an alert would fire for it).
                    ctx.metrics.systems.forget(&ns, &name);
                }
                r
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.duration.observe(start.elapsed().as_secs_f64());
    match &res {
        Ok(_) => {
            if let Ok(mut m) = ctx.backoff.lock() {
                m.remove(&key(&sys));
            }
        }
        Err(e) if e.namespace_terminating() => {
            // Not a failure: the namespace is going, with this system in it. No Warning (the
            // API would refuse the Event too), no failure counted (the operator-errors alert
            // reads that counter), no backoff step (error_policy).
            info!(system = %key(&sys), "the namespace is being deleted: waiting for this OvuSystem's deletion");
        }
        Err(e) => {
            ctx.metrics.failure(e.metric_label());
            if let Some(msg) = e.foreign() {
                // Say it where a person looks first, not only in an Event.
                let mut st = sys.status.clone().unwrap_or_default();
                st.observed_generation = sys.metadata.generation;
                st.phase = Some(ovu_crds::Phase::Degraded);
                st.message = Some(msg.clone());
                let now = Timestamp::from_second(Timestamp::now().as_second())
                    .unwrap_or_else(|_| Timestamp::now());
                st.conditions = crate::status::merge_conditions(
                    &st.conditions,
                    &[crate::status::Cond::new(
                        crate::status::READY,
                        false,
                        "ForeignObject",
                        msg,
                    )],
                    sys.metadata.generation,
                    now,
                );
                ctx.metrics.systems.observe(&sys, &st);
                if let Err(we) = crate::status::write_if_changed(&api, &sys, &st).await {
                    warn!(system = %key(&sys), error = %we, "could not write the ForeignObject condition");
                }
            }
            publish(
                recorder,
                &sys,
                EventType::Warning,
                "ReconcileFailed",
                "Reconcile",
                e.to_string(),
            )
            .await;
        }
    }
    res
}

/// Requeue a failed object with its own exponential backoff (5 s doubling to 5 min), so one
/// broken object neither spins nor delays the others.
pub fn error_policy(sys: Arc<OvuSystem>, err: &Error, ctx: Arc<Context>) -> Action {
    if err.namespace_terminating() {
        // The deletion of this OvuSystem that the namespace's deletion brings wakes it (its
        // finalizer's cleanup); the requeue is only a net. Before, each such round counted
        // as a failure and the backoff reached 5 minutes (seen on kind: 23 of 26 failed
        // rounds in one operator log were namespaces of finished tests).
        return Action::requeue(NAMESPACE_TERMINATING_RECHECK);
    }
    // A std mutex: it is never held across an await.
    let n = match ctx.backoff.lock() {
        Ok(mut map) => {
            let e = map.entry(key(&sys)).or_insert(0);
            *e = e.saturating_add(1);
            *e
        }
        Err(_) => 1,
    };
    let delay = backoff_delay(n);
    warn!(system = %key(&sys), error = %err, attempt = n, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// When a reconcile that met a terminating namespace looks again (see [`error_policy`]).
pub const NAMESPACE_TERMINATING_RECHECK: Duration = Duration::from_secs(30);

/// 5 s, 10 s, 20 s, … capped at 300 s.
pub fn backoff_delay(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(6);
    Duration::from_secs((5u64 << exp).min(300))
}

/// Publish an Event on the OvuSystem; a failure to publish is logged, never fatal.
pub async fn publish(
    recorder: &Recorder,
    sys: &OvuSystem,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let mut note = note;
    if note.len() > 1000 {
        let mut cut = 997;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    let ev = Occurrence {
        type_,
        reason,
        action,
        note: &note,
    };
    if let Err(e) = recorder.publish(sys, &ev).await {
        debug!(error = %e, "could not publish event");
    }
}

/// How hard the controller works at once. Bounded so memory stays flat with the number of
/// systems: an unbounded controller starts one reconcile per system at start-up, each holding
/// its rendered children and the live objects it read (hundreds of kB each).
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Reconciles running at the same time (never two for the same system).
    pub concurrency: u16,
    /// Trailing-edge debounce of reconcile requests: a burst of child events (a rollout
    /// touches a Deployment, its ReplicaSets' pods and status several times a second)
    /// becomes one reconcile.
    pub debounce: Duration,
    /// Page size of the initial (and re-)lists of the OvuSystems and of the owned kinds
    /// (metadata only): a page is read and parsed whole, so it bounds the start-up peak.
    pub page_size: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            // 2, not 4 (session 26, 500 systems on two cores): the bring-up was faster
            // (406 s against 459-549 s), its peak RSS 1.4 MB lower and its CPU ~40 % less;
            // requests queued longer coalesce more child events into one reconcile.
            concurrency: 2,
            debounce: Duration::from_millis(500),
            page_size: 20,
        }
    }
}

/// What the OvuSystem cache keeps of each object: everything a reconcile reads, minus the
/// server-side-apply bookkeeping and kubectl's copy of the last applied manifest (together
/// often larger than the spec and status).
pub fn slim_system(sys: &mut OvuSystem) {
    sys.metadata.managed_fields = None;
    if let Some(a) = sys.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Longest the controller waits for the watch caches' first lists before it reconciles anyway.
const CACHE_SYNC_WAIT: Duration = Duration::from_secs(60);

/// Run the controller until a shutdown signal. Watches the OvuSystems (cached, slimmed by
/// [`slim_system`]) and, through [`cache`], the children (label-filtered to
/// `app.kubernetes.io/managed-by=ovu-operator`; a child event reconciles its owner), the
/// system's pods, the nodes and the API server's EndpointSlice. Reconciles start once every
/// cache has its first list: a reconcile reads them instead of the API server.
pub async fn run(ctx: Arc<Context>, readiness: Arc<Readiness>, tuning: Tuning) {
    let client = ctx.client.clone();
    let (store, writer) = reflector::store::<OvuSystem>();
    let writers = ctx.writers.lock().ok().and_then(|mut w| w.take());
    let (children, tasks) = match writers {
        Some(w) => {
            let r = readiness.clone();
            let on_error: Arc<dyn Fn(&watcher::Error) + Send + Sync> = Arc::new(move |e| {
                r.watch_error();
                warn!(error = %e, "watch error");
            });
            let (rx, all, namespaces, tasks) = w.run(&client, tuning.page_size, on_error).await;
            // An HTTP-01 solver's Ingress or Service belongs to no system: every system of
            // its namespace is reconciled (nginx routes the challenges of its own names).
            let systems_of = store.clone();
            let by_ns = namespaces.flat_map(move |ns: String| {
                let refs: Vec<_> = systems_of
                    .state()
                    .iter()
                    .filter(|s| s.metadata.namespace.as_deref() == Some(ns.as_str()))
                    .map(|s| reflector::ObjectRef::from_obj(&**s))
                    .collect();
                futures::stream::iter(refs)
            });
            (Some((futures::stream::select(rx, by_ns), all)), tasks)
        }
        None => (None, Vec::new()),
    };
    // Bounded: a watch that cannot list (an operator upgraded before its RBAC) must not stop
    // every reconcile; a kind whose cache has not synced is read with GETs and LISTs.
    let waited = Instant::now();
    while !ctx.cache.synced() && waited.elapsed() < CACHE_SYNC_WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if ctx.cache.synced() {
        info!(
            after_ms = waited.elapsed().as_millis(),
            "watch caches synced"
        );
    } else {
        warn!(unsynced = ?ctx.cache.unsynced(), "watch caches not synced; reconciling with reads of the API server until they are");
    }
    let r = readiness.clone();
    // Paged, and therefore not `any_semantic`: a list at resourceVersion 0 is served from
    // the API server's cache, which ignores the page size, and 500 OvuSystems with their
    // managedFields are one ~8 MB response, parsed whole (the start-up peak: 50 MiB).
    let systems = watcher(
        Api::<OvuSystem>::all(client.clone()),
        watcher::Config::default().page_size(tuning.page_size),
    )
    .default_backoff()
    .modify(slim_system)
    // Ready once the initial list is in the cache. Taken from the event itself: the store's
    // own wait_until_ready never resolved under Controller::for_stream (a leader in a pod
    // stayed "watch has not synced" while it reconciled), which held every rollout of the
    // operator's Deployment.
    .inspect(move |ev| {
        if matches!(ev, Ok(watcher::Event::InitDone))
            && !r.store_ready.swap(true, Ordering::Relaxed)
        {
            info!("ovusystem watch synced");
        }
    })
    .reflect(writer)
    .applied_objects();
    let mut controller = Controller::for_stream(systems, store.clone()).with_config(
        controller::Config::default()
            .concurrency(tuning.concurrency)
            .debounce(tuning.debounce),
    );
    if let Some((rx, all)) = children {
        controller = controller.reconcile_on(rx).reconcile_all_on(all);
    }
    controller
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| {
            let readiness = readiness.clone();
            async move {
                match res {
                    Ok((obj, _)) => debug!(system = %obj.name, "reconciled"),
                    Err(kube::runtime::controller::Error::QueueError(e)) => {
                        readiness.watch_error();
                        warn!(error = %e, "watch error");
                    }
                    Err(e) => debug!(error = %e, "reconcile error"),
                }
            }
        })
        .await;
    for t in tasks {
        t.abort();
    }
}
