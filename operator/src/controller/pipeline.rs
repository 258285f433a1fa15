//! The reconcile pipeline of one OvuSystem (Stackable style):
//! validate → secrets + TLS (made once) → build (pure) → apply tier by tier, in bring-up
//! order → backups and health → status (written only when it changed) → events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::{Client, ResourceExt};
use ovu_crds::{
    BACKUP_NOW_ANNOTATION, CertificateStatus, ComponentHealth, DeletionPolicy, Endpoints,
    OvuSystem, OvuSystemStatus, Phase, RestoreStatus, TierStatus, Tiers, TlsMode, rules,
};
use serde_json::{Value, json};
use tracing::info;

use super::{Context, Error, pods, publish};
use crate::apply::{self, Outcome};
use crate::render::names::{Component, FIELD_MANAGER, ports};
use crate::render::{self, Child, Ctx, Facts, Kind};
use crate::status::{self, Cond};
use crate::{secrets, tls};

/// Requeue while waiting for a tier.
const WAIT: Duration = Duration::from_secs(10);
/// Requeue when everything is ready (health probes, certificate renewal, backup status).
const STEADY: Duration = Duration::from_secs(60);

/// What the apply steps observed.
struct Run<'a> {
    client: &'a Client,
    metrics: &'a crate::metrics::Metrics,
    changes: Vec<String>,
    live: BTreeMap<(Kind, String), Value>,
}

impl<'a> Run<'a> {
    async fn ensure(&mut self, c: &Child) -> Result<(), Error> {
        let a = apply::ensure(self.client, c).await?;
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
                        kind: c.object["kind"].as_str().unwrap_or_default().into(),
                        outcome: verb.into(),
                    })
                    .inc();
                self.changes.push(format!(
                    "{verb} {} {}",
                    c.object["kind"].as_str().unwrap_or(""),
                    c.name
                ));
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
        Ok(())
    }

    fn get(&self, kind: Kind, name: &str) -> Option<&Value> {
        self.live.get(&(kind, name.to_string()))
    }
}

fn int(v: Option<&Value>, ptr: &str) -> i32 {
    v.and_then(|v| v.pointer(ptr))
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(0)
}

/// One workload (Deployment or StatefulSet) as its live status shows it.
#[derive(Clone, Debug, PartialEq)]
struct Workload {
    label: &'static str,
    counts: TierStatus,
    /// At least one pod serves.
    serving: bool,
    /// The controller has seen the current spec and every pod runs it and is ready, with no
    /// pods of an older revision left.
    rolled_out: bool,
    /// What the rollout still waits for (empty when rolled out).
    pending: String,
    /// What keeps its pods from serving, while it is not rolled out (see [`with_pods`]), and
    /// how many other pods of it have a problem.
    problem: Option<(pods::Problem, usize)>,
}

/// Read the rollout state of a workload from its live object (`None`: not there yet).
/// Fields the API server omits count as zero.
fn workload(label: &'static str, kind: Kind, live: Option<&Value>, desired: i32) -> Workload {
    let generation = live
        .and_then(|v| v.pointer("/metadata/generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let observed = live
        .and_then(|v| v.pointer("/status/observedGeneration"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let replicas = int(live, "/status/replicas");
    let updated = int(live, "/status/updatedReplicas");
    let ready_pods = int(live, "/status/readyReplicas");
    // What the tier reports as ready: Deployments count available pods (ready for
    // minReadySeconds), StatefulSets ready ones.
    let ready = match kind {
        Kind::Deployment => int(live, "/status/availableReplicas"),
        _ => ready_pods,
    };
    // A StatefulSet also names its revisions; they differ until the last pod is replaced.
    let revisions_match = match kind {
        Kind::StatefulSet => {
            let cur = live.and_then(|v| v.pointer("/status/currentRevision"));
            let upd = live.and_then(|v| v.pointer("/status/updateRevision"));
            cur.is_none() || upd.is_none() || cur == upd
        }
        _ => true,
    };
    let mut pending = Vec::new();
    if live.is_none() {
        pending.push("not created yet".to_string());
    } else if observed < generation {
        pending.push("the controller has not seen the new spec yet".to_string());
    } else {
        if updated < desired {
            pending.push(format!("{updated} of {desired} pods updated"));
        }
        if ready_pods < desired || ready < desired {
            pending.push(format!("{} of {desired} ready", ready.min(ready_pods)));
        }
        if replicas > desired {
            pending.push(format!("{} old pods left", replicas - desired));
        }
        if !revisions_match && pending.is_empty() {
            pending.push("pods of the previous revision left".to_string());
        }
    }
    Workload {
        label,
        counts: TierStatus {
            ready,
            desired,
            nodes: vec![],
        },
        serving: ready >= 1,
        rolled_out: pending.is_empty(),
        pending: pending.join(", "),
        problem: None,
    }
}

/// The label value of the pods of a component (`app.kubernetes.io/component`).
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Add what the workload's pods are stuck on, if it is not rolled out. A rolled-out workload
/// keeps no problem (a lingering evicted pod of a serving tier changes nothing), so a settled
/// system's status does not depend on its pods.
fn with_pods(mut w: Workload, pods: &[Pod]) -> Workload {
    if !w.rolled_out {
        w.problem = pods::worst(
            pods.iter()
                .filter(|p| p.labels().get(COMPONENT_LABEL).map(String::as_str) == Some(w.label)),
        );
    }
    w
}

/// One tier as its workloads show it.
#[derive(Clone, Debug, PartialEq)]
struct TierView {
    counts: TierStatus,
    serving: bool,
    rolled_out: bool,
    /// The reason of the first workload's pod problem, if any pod has one.
    problem: Option<pods::Reason>,
    /// `postgres 1/1, redis 1/1`, plus what a rollout waits for.
    message: String,
}

fn tier_view(parts: &[Workload]) -> TierView {
    let counts = TierStatus {
        ready: parts.iter().map(|p| p.counts.ready).sum(),
        desired: parts.iter().map(|p| p.counts.desired).sum(),
        nodes: vec![],
    };
    let mut message = parts
        .iter()
        .map(|p| format!("{} {}/{}", p.label, p.counts.ready, p.counts.desired))
        .collect::<Vec<_>>()
        .join(", ");
    let pending: Vec<String> = parts
        .iter()
        .filter(|p| !p.rolled_out)
        .map(|p| {
            let mut s = format!("{}: {}", p.label, p.pending);
            if let Some((problem, more)) = &p.problem {
                s.push_str(" — ");
                s.push_str(&problem.message);
                match more {
                    0 => {}
                    1 => s.push_str(" (and 1 more pod)"),
                    n => s.push_str(&format!(" (and {n} more pods)")),
                }
            }
            s
        })
        .collect();
    if !pending.is_empty() {
        message.push_str("; rolling out ");
        message.push_str(&pending.join("; "));
    }
    TierView {
        counts,
        serving: parts.iter().all(|p| p.serving),
        rolled_out: parts.iter().all(|p| p.rolled_out),
        problem: parts
            .iter()
            .find_map(|p| p.problem.as_ref().map(|(pr, _)| pr.reason)),
        message,
    }
}

/// The tier condition: True only when every pod serves the current spec; a tier that serves
/// while it rolls out is `RollingOut`; one that does not serve says what its pods are stuck
/// on ([`pods::Reason`]), else `Waiting`.
fn tier_cond(type_: &'static str, t: &TierView) -> Cond {
    let reason = match (t.serving, t.rolled_out, t.problem) {
        (true, true, _) => "Ready",
        (true, false, _) => "RollingOut",
        (false, _, Some(p)) => p.as_str(),
        (false, _, None) => "Waiting",
    };
    Cond::new(type_, t.serving && t.rolled_out, reason, t.message.clone())
}

/// The overall verdict once every tier serves (bring-up is done): Ready when no tier rolls
/// out and the certificate is good; otherwise Progressing with a reason naming the first
/// tier still rolling out.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    phase: Phase,
    step: &'static str,
    reason: String,
    message: String,
}

/// How long a system that served may be back to not serving before it is Degraded.
///
/// A whole cluster restarting (`make down` then `make up`, a node reboot) brings every pod
/// back within a minute or two, and the first reconcile after the restart sees them not ready
/// yet: calling that Degraded flashed a fault on every routine start. Within the grace the
/// phase is Progressing with reason `Recovering` (Ready is False, the tier conditions say
/// what is not serving); a system still not serving after it is Degraded.
pub const RECOVERY_GRACE: Duration = Duration::from_secs(180);
const RECOVERING: &str = "Recovering";

/// When a recovery under way began: the time the Ready condition turned False with reason
/// `Recovering` (see [`lost_serving`]); `Some(now)` when Ready is still True (the system
/// served until this reconcile); None otherwise.
fn recovering_since(old_ready: Option<&Condition>, now: Timestamp) -> Option<Timestamp> {
    let c = old_ready?;
    match (c.status.as_str(), c.reason.as_str()) {
        ("True", _) => Some(now),
        ("False", RECOVERING) => Some(c.last_transition_time.0),
        _ => None,
    }
}

/// The verdict for a system that served and does not any more.
fn lost_serving(
    step: &'static str,
    message: String,
    since: Option<Timestamp>,
    now: Timestamp,
) -> Verdict {
    let within_grace =
        since.is_some_and(|t| now.duration_since(t).as_secs() < RECOVERY_GRACE.as_secs() as i64);
    if within_grace {
        Verdict {
            phase: Phase::Progressing,
            step,
            reason: RECOVERING.into(),
            message: format!(
                "recovering (served before; Degraded if not back within {} s): {message}",
                RECOVERY_GRACE.as_secs()
            ),
        }
    } else {
        Verdict {
            phase: Phase::Degraded,
            step,
            reason: "BringingUp".into(),
            message,
        }
    }
}

fn serving_verdict(tiers: &[(&'static str, &TierView)], cert_ok: bool, was_ready: bool) -> Verdict {
    if let Some((name, t)) = tiers.iter().find(|(_, t)| !t.rolled_out) {
        let step = match *name {
            "database" => "Database",
            "backend" => "Backend",
            _ => "Frontend",
        };
        return Verdict {
            phase: Phase::Progressing,
            step,
            reason: format!("{step}RollingOut"),
            message: format!("rolling out the {name} tier: {}", t.message),
        };
    }
    Verdict {
        phase: if cert_ok {
            Phase::Ready
        } else if was_ready {
            // A certificate that stopped being good is a fault, not progress.
            Phase::Degraded
        } else {
            Phase::Progressing
        },
        step: "Done",
        reason: if cert_ok {
            "AllTiersReady"
        } else {
            "CertificateNotReady"
        }
        .to_string(),
        message: "all tiers are serving".to_string(),
    }
}

pub async fn apply_system(
    sys: Arc<OvuSystem>,
    ctx: &Context,
    api: &Api<OvuSystem>,
    recorder: &Recorder,
) -> Result<Action, Error> {
    // Whole seconds: that is what metav1.Time keeps, so a recomputed status compares equal.
    let now =
        Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now());
    let generation = sys.metadata.generation;
    let old = sys.status.clone().unwrap_or_default();
    let mut st = old.clone();
    st.observed_generation = generation;
    let name = sys.name_any();

    // validate: a spec the renderers must not see becomes a condition, not an error loop.
    let mut problems = Vec::new();
    if !rules::is_system_name(&name) {
        problems.push(format!(
            "metadata.name: must be a DNS label of at most {} characters starting with a letter",
            rules::MAX_NAME_LEN
        ));
    }
    if let Err(e) = sys.spec.validate() {
        problems.push(e.to_string());
    }
    if !problems.is_empty() {
        let msg = problems.join("; ");
        st.phase = Some(Phase::Invalid);
        st.step = None;
        st.message = Some(format!("invalid spec: {msg}"));
        st.conditions = status::merge_conditions(
            &old.conditions,
            &[Cond::new(status::READY, false, "InvalidSpec", msg.clone())],
            generation,
            now,
        );
        if status::write_if_changed(api, &sys, &st).await? {
            publish(
                recorder,
                &sys,
                EventType::Warning,
                "InvalidSpec",
                "Validate",
                msg,
            )
            .await;
        }
        return Ok(Action::await_change());
    }

    if sys.spec.paused {
        st.phase = Some(Phase::Paused);
        st.message = Some("spec.paused is true: the operator changes nothing".into());
        st.conditions = status::merge_conditions(
            &old.conditions,
            &[Cond::new(
                status::READY,
                false,
                "Paused",
                "reconciliation is paused (spec.paused)",
            )],
            generation,
            now,
        );
        if status::write_if_changed(api, &sys, &st).await? {
            publish(
                recorder,
                &sys,
                EventType::Normal,
                "Paused",
                "Pause",
                "spec.paused is true: no changes until it is false".into(),
            )
            .await;
        }
        return Ok(Action::await_change());
    }

    let mut run = Run {
        client: &ctx.client,
        metrics: &ctx.metrics,
        changes: Vec::new(),
        live: BTreeMap::new(),
    };
    let (frontend_pod_cidrs, backend_pod_cidrs) =
        tier_pod_cidrs(&ctx.client, &sys.spec.placement.node_label).await?;
    let mut facts = Facts {
        operator_namespace: ctx.operator_namespace.clone(),
        tls_hash: None,
        frontend_pod_cidrs,
        backend_pod_cidrs,
        api_server: api_server_endpoints(&ctx.client).await,
    };

    // Secrets: generated once, never overwritten.
    {
        let rctx = Ctx::new(&sys, &facts)?;
        for s in secrets::generate(&rctx).map_err(|_| Error::KeyGen)? {
            run.ensure(&s).await?;
        }
    }

    // TLS material and the certificate condition.
    let (cert_cond, cert_status) = ensure_tls(&sys, &mut facts, &mut run, now).await?;
    st.certificate = Some(cert_status);

    let desired = render::build(&sys, &facts)?;
    let rctx = Ctx::new(&sys, &facts)?;
    let names = &rctx.names;
    let mut conds = vec![cert_cond];
    st.endpoints = Some(Endpoints {
        ulm: rctx.site_url("ulm"),
        aam: rctx.site_url("aam"),
        api: rctx.site_url("api"),
    });

    // The system's pods, read once: where each tier runs, and what a tier that does not
    // serve is stuck on. Read before this reconcile's writes; pods a write makes are created
    // by the workload controllers later and seen by the next reconcile (every WAIT while a
    // tier is not ready).
    let pods = list_pods(&ctx.client, &rctx).await?;

    // 1. database
    for c in &desired.database {
        run.ensure(c).await?;
    }
    let db = tier_view(&[
        with_pods(
            workload(
                "postgres",
                Kind::StatefulSet,
                run.get(Kind::StatefulSet, &names.of(Component::Postgres)),
                1,
            ),
            &pods,
        ),
        with_pods(
            workload(
                "redis",
                Kind::Deployment,
                run.get(Kind::Deployment, &names.of(Component::Redis)),
                1,
            ),
            &pods,
        ),
    ]);
    conds.push(tier_cond(status::DATABASE_READY, &db));
    let mut tiers = Tiers {
        database: db.counts.clone(),
        ..Default::default()
    };

    // Backups (part of the database tier; independent of the bring-up of the others).
    let backup_cond = backups(&sys, &rctx, &mut run, &mut st).await?;
    conds.push(backup_cond);

    // Bring-up goes tier by tier, each once the one below serves (a rollout of a serving
    // tier does not hold the others back).
    let spec = &sys.spec;
    let mut views: Vec<(&'static str, TierView)> = vec![("database", db.clone())];
    // A restore fills the new databases once they serve and before ULM and AAM first start
    // (their migrations would otherwise create the tables the backup brings).
    let restoring = if db.serving {
        restore(&sys, &rctx, &mut run, &mut st, now).await?
    } else {
        None
    };
    let restore_failed = restoring.as_ref().is_some_and(|r| r.failed);
    let bring_up: Option<(&'static str, String)> = if !db.serving {
        conds.push(Cond::new(
            status::BACKEND_READY,
            false,
            "WaitingForDatabase",
            "waits for the database tier",
        ));
        conds.push(frontend_waits_for_backend());
        Some((
            "Database",
            format!("waiting for the database tier: {}", db.message),
        ))
    } else if let Some(RestoreWait { why, .. }) = restoring {
        conds.push(Cond::new(
            status::BACKEND_READY,
            false,
            "WaitingForRestore",
            "waits for the restore of the databases",
        ));
        conds.push(frontend_waits_for_backend());
        Some(("Restore", why))
    } else {
        // 2. backend
        for c in &desired.backend {
            run.ensure(c).await?;
        }
        let be = tier_view(&[
            with_pods(
                workload(
                    "ulm",
                    Kind::Deployment,
                    run.get(Kind::Deployment, &names.of(Component::Ulm)),
                    spec.backend.ulm.replicas,
                ),
                &pods,
            ),
            with_pods(
                workload(
                    "aam",
                    Kind::Deployment,
                    run.get(Kind::Deployment, &names.of(Component::Aam)),
                    spec.backend.aam.replicas,
                ),
                &pods,
            ),
        ]);
        conds.push(tier_cond(status::BACKEND_READY, &be));
        tiers.backend = be.counts.clone();
        views.push(("backend", be.clone()));
        if !be.serving {
            conds.push(frontend_waits_for_backend());
            Some((
                "Backend",
                format!(
                    "waiting for the backend tier (migrations, readiness): {}",
                    be.message
                ),
            ))
        } else {
            // 3. frontend
            for c in &desired.frontend {
                match run.ensure(c).await {
                    // No cert-manager API in this cluster: say so instead of failing the
                    // whole reconcile in a loop.
                    Err(Error::Kube(kube::Error::Api(s)))
                        if c.kind == Kind::Certificate && s.code == 404 =>
                    {
                        conds[0] = Cond::new(
                            status::CERTIFICATE_READY,
                            false,
                            "CertManagerMissing",
                            "tls.mode is CertManager but the cluster has no cert-manager.io/v1 Certificate API; install cert-manager or pick another mode",
                        );
                    }
                    r => r?,
                }
            }
            let fe = tier_view(&[with_pods(
                workload(
                    "frontend",
                    Kind::Deployment,
                    run.get(Kind::Deployment, &names.of(Component::Frontend)),
                    spec.frontend.replicas,
                ),
                &pods,
            )]);
            conds.push(tier_cond(status::FRONTEND_READY, &fe));
            tiers.frontend = fe.counts.clone();
            views.push(("frontend", fe.clone()));
            if fe.serving {
                None
            } else {
                Some((
                    "Frontend",
                    format!("waiting for the frontend tier: {}", fe.message),
                ))
            }
        }
    };
    let all_serving = bring_up.is_none();

    // Children an earlier spec needed and this one does not.
    prune(&mut run, &sys, &rctx).await?;

    // Where the pods run.
    place_nodes(&pods, &mut tiers);
    st.tiers = Some(tiers);

    // Health of the services, once they exist.
    if all_serving {
        probe_health(ctx, &rctx, &mut st).await;
    }

    let cert_ok = conds
        .iter()
        .any(|c| c.type_ == status::CERTIFICATE_READY && c.status);
    // A system stopped at the restore step never served (the restore precedes the backend's
    // first start), even when that stop made it Degraded.
    let old_ready = old.conditions.iter().find(|c| c.type_ == status::READY);
    let recovering_since = recovering_since(old_ready, now);
    let was_ready = (matches!(old.phase, Some(Phase::Ready) | Some(Phase::Degraded))
        || recovering_since.is_some())
        && old.step.as_deref() != Some("Restore");
    let verdict = match bring_up {
        // A failed restore needs a person; it is not "bringing up" any more.
        Some((step, message)) if restore_failed => Verdict {
            phase: Phase::Degraded,
            step,
            reason: "RestoreFailed".into(),
            message,
        },
        // Something that served does not any more: Degraded, not "bringing up" — after a
        // grace, see `lost_serving`.
        Some((step, message)) if was_ready => lost_serving(step, message, recovering_since, now),
        Some((step, message)) => Verdict {
            phase: Phase::Progressing,
            step,
            reason: "BringingUp".into(),
            message,
        },
        None => {
            let v: Vec<(&'static str, &TierView)> = views.iter().map(|(n, t)| (*n, t)).collect();
            serving_verdict(&v, cert_ok, was_ready)
        }
    };
    let ready = verdict.phase == Phase::Ready;
    conds.insert(
        0,
        Cond::new(
            status::READY,
            ready,
            &verdict.reason,
            verdict.message.clone(),
        ),
    );
    let step = verdict.step;
    let message = verdict.message;
    st.phase = Some(verdict.phase);
    st.step = Some(step.to_string());
    st.message = Some(message.clone());
    st.conditions = status::merge_conditions(&old.conditions, &conds, generation, now);

    let wrote = status::write_if_changed(api, &sys, &st).await?;
    if !run.changes.is_empty() {
        info!(system = %name, changes = run.changes.len(), "applied");
        publish(
            recorder,
            &sys,
            EventType::Normal,
            "Applied",
            "Apply",
            run.changes.join(", "),
        )
        .await;
    }
    if wrote && old.step.as_deref() != Some(step) {
        let t = if ready {
            EventType::Normal
        } else if st.phase == Some(Phase::Degraded) {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(
            recorder,
            &sys,
            t,
            &format!("Step{step}"),
            "BringUp",
            message,
        )
        .await;
    }
    Ok(Action::requeue(if ready { STEADY } else { WAIT }))
}

fn hash_secret_cert(v: &Value) -> Option<String> {
    v.pointer("/data/tls.crt")
        .and_then(Value::as_str)
        .map(|c| render::short_hash(&[c]))
}

async fn get_dynamic(
    client: &Client,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<Option<Value>, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kind.api_resource());
    match api.get_opt(name).await {
        Ok(o) => Ok(o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null))),
        // The cert-manager CRD may not be installed.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// Make sure the serving certificate exists (and is fresh, in SelfSigned mode); report it.
async fn ensure_tls(
    sys: &OvuSystem,
    facts: &mut Facts,
    run: &mut Run<'_>,
    now: Timestamp,
) -> Result<(Cond, CertificateStatus), Error> {
    let rctx = Ctx::new(sys, facts)?;
    let ns = rctx.ns.clone();
    let names = rctx.names.clone();
    let mode = sys.spec.frontend.tls.mode;
    let mut cs = CertificateStatus {
        mode,
        secret_name: rctx.tls_secret_name(),
        ..Default::default()
    };
    let client = run.client;
    let cond = match mode {
        TlsMode::Disabled => Cond::new(
            status::CERTIFICATE_READY,
            true,
            "Disabled",
            "TLS is disabled: the sites are served over plain HTTP",
        ),
        TlsMode::Secret => {
            let name = sys
                .spec
                .frontend
                .tls
                .secret_name
                .clone()
                .unwrap_or_default();
            match get_dynamic(client, Kind::Secret, &ns, &name).await? {
                Some(s)
                    if s.pointer("/data/tls.crt").is_some()
                        && s.pointer("/data/tls.key").is_some() =>
                {
                    facts.tls_hash = hash_secret_cert(&s);
                    Cond::new(
                        status::CERTIFICATE_READY,
                        true,
                        "SecretPresent",
                        format!("using Secret {name}"),
                    )
                }
                Some(_) => Cond::new(
                    status::CERTIFICATE_READY,
                    false,
                    "SecretIncomplete",
                    format!("Secret {name} lacks tls.crt or tls.key"),
                ),
                None => Cond::new(
                    status::CERTIFICATE_READY,
                    false,
                    "SecretMissing",
                    format!("Secret {name} not found in namespace {ns}"),
                ),
            }
        }
        TlsMode::CertManager => {
            if let Some(s) = get_dynamic(client, Kind::Secret, &ns, &names.tls_secret()).await? {
                facts.tls_hash = hash_secret_cert(&s);
            }
            match get_dynamic(client, Kind::Certificate, &ns, &names.certificate()).await? {
                Some(c) => {
                    cs.not_after = c
                        .pointer("/status/notAfter")
                        .and_then(Value::as_str)
                        .and_then(ts)
                        .map(Time);
                    cs.renew_after = c
                        .pointer("/status/renewalTime")
                        .and_then(Value::as_str)
                        .and_then(ts)
                        .map(Time);
                    let ready = c
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().find(|x| x["type"] == "Ready"));
                    match ready {
                        Some(r) if r["status"] == "True" => Cond::new(
                            status::CERTIFICATE_READY,
                            true,
                            "Issued",
                            "cert-manager reports the Certificate ready",
                        ),
                        Some(r) => Cond::new(
                            status::CERTIFICATE_READY,
                            false,
                            "NotIssued",
                            format!(
                                "cert-manager: {}",
                                r["message"].as_str().unwrap_or("not ready")
                            ),
                        ),
                        None => Cond::new(
                            status::CERTIFICATE_READY,
                            false,
                            "Pending",
                            "waiting for cert-manager to issue the Certificate",
                        ),
                    }
                }
                None => Cond::new(
                    status::CERTIFICATE_READY,
                    false,
                    "Pending",
                    "the Certificate is created with the frontend tier; waiting for cert-manager",
                ),
            }
        }
        TlsMode::SelfSigned => {
            let system = names.system.clone();
            // The CA: created once.
            let ca = match get_dynamic(client, Kind::Secret, &ns, &names.ca_secret()).await? {
                Some(s) => decode_pem(&s, "ca.crt", "ca.key"),
                None => None,
            };
            let ca = match ca {
                Some(ca) => ca,
                None => {
                    let ca = tls::generate_ca(&system, now)?;
                    let child = rctx.child_with_meta(
                        Kind::Secret,
                        &names.ca_secret(),
                        rctx.meta(&names.ca_secret(), Component::Frontend),
                        json!({"type": "Opaque", "data": {"ca.crt": b64(&ca.cert), "ca.key": b64(&ca.key)}}),
                        true,
                    );
                    run.ensure(&child).await?;
                    ca
                }
            };
            // The leaf: issued when missing, two thirds through its life, or issued for
            // other names (the domain changed).
            let dns_names = render::frontend::dns_names(&sys.spec.domain);
            let dns_joined = dns_names.join(",");
            let leaf_live = get_dynamic(client, Kind::Secret, &ns, &names.tls_secret()).await?;
            let window = leaf_live.as_ref().and_then(|s| {
                let a = s.pointer("/metadata/annotations")?;
                if a.get(tls::DNS_NAMES_ANNOTATION)?.as_str()? != dns_joined {
                    return None;
                }
                let nb = ts(a.get(tls::NOT_BEFORE_ANNOTATION)?.as_str()?)?;
                let na = ts(a.get(tls::NOT_AFTER_ANNOTATION)?.as_str()?)?;
                s.pointer("/data/tls.crt")?;
                Some((nb, na))
            });
            let (nb, na, hash) = match (window, &leaf_live) {
                (Some((nb, na)), Some(s)) if !tls::needs_renewal(now, nb, na) => {
                    (nb, na, hash_secret_cert(s))
                }
                _ => {
                    let leaf = tls::issue_leaf(&ca, &system, &dns_names, now)?;
                    let mut meta = rctx.meta(&names.tls_secret(), Component::Frontend);
                    meta["annotations"] = json!({
                        tls::NOT_BEFORE_ANNOTATION: leaf.not_before.to_string(),
                        tls::NOT_AFTER_ANNOTATION: leaf.not_after.to_string(),
                        tls::DNS_NAMES_ANNOTATION: dns_joined,
                    });
                    let obj = json!({
                        "apiVersion": "v1", "kind": "Secret", "metadata": meta,
                        "type": "kubernetes.io/tls",
                        "data": {"tls.crt": b64(&leaf.pem.cert), "tls.key": b64(&leaf.pem.key), "ca.crt": b64(&ca.cert)},
                    });
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(client.clone(), &ns, &Kind::Secret.api_resource());
                    api.patch(
                        &names.tls_secret(),
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(&obj),
                    )
                    .await?;
                    run.changes.push(if leaf_live.is_some() {
                        format!("renewed certificate in Secret {}", names.tls_secret())
                    } else {
                        format!("issued certificate into Secret {}", names.tls_secret())
                    });
                    let h = obj
                        .pointer("/data/tls.crt")
                        .and_then(Value::as_str)
                        .map(|c| render::short_hash(&[c]));
                    (leaf.not_before, leaf.not_after, h)
                }
            };
            facts.tls_hash = hash;
            cs.not_after = Some(Time(na));
            cs.renew_after = Some(Time(tls::renew_after(nb, na)));
            Cond::new(
                status::CERTIFICATE_READY,
                true,
                "Issued",
                format!("self-signed certificate valid until {na}"),
            )
        }
    };
    Ok((cond, cs))
}

fn decode_pem(s: &Value, cert: &str, key: &str) -> Option<tls::Pem> {
    use base64::Engine as _;
    let d = |k: &str| -> Option<String> {
        let b = s
            .pointer(&format!("/data/{}", k.replace('/', "~1")))?
            .as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        String::from_utf8(bytes).ok()
    };
    Some(tls::Pem {
        cert: d(cert)?,
        key: d(key)?,
    })
}

/// A backup Job that has finished; ordered by when, then name (the newest is last).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct FinishedBackup {
    at: Timestamp,
    name: String,
    succeeded: bool,
    /// It ran the test restore (`VERIFY=true`).
    verified: bool,
}

/// Scheduled and on-demand backups, and what the last ones did.
async fn backups(
    sys: &OvuSystem,
    rctx: &Ctx<'_>,
    run: &mut Run<'_>,
    st: &mut OvuSystemStatus,
) -> Result<Cond, Error> {
    let mut bs = st.backup.clone().unwrap_or_default();
    if let Some(req) = sys.annotations().get(BACKUP_NOW_ANNOTATION)
        && bs.last_requested.as_deref() != Some(req.as_str())
    {
        let job = render::backup::on_demand_job(rctx, req);
        run.ensure(&job).await?;
        bs.last_requested = Some(req.clone());
    }
    if let Some(cj) = run.get(Kind::CronJob, &rctx.names.backup_cronjob()) {
        bs.last_schedule_time = cj
            .pointer("/status/lastScheduleTime")
            .and_then(Value::as_str)
            .and_then(ts)
            .map(Time);
    }
    let jobs: Api<Job> = Api::namespaced(run.client.clone(), &rctx.ns);
    let lp = ListParams::default().labels(&format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/component=backup",
        rctx.system()
    ));
    let list = jobs.list(&lp).await?;
    let mut finished: Vec<FinishedBackup> = list
        .items
        .iter()
        .filter_map(|j| {
            let s = j.status.as_ref()?;
            let conds = s.conditions.as_ref()?;
            let done = conds
                .iter()
                .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?;
            let t = done
                .last_transition_time
                .as_ref()
                .map(|t| t.0)
                .or_else(|| s.completion_time.as_ref().map(|t| t.0))?;
            Some(FinishedBackup {
                at: t,
                name: j.name_any(),
                succeeded: done.type_ == "Complete",
                verified: render::backup::job_verifies(j),
            })
        })
        .collect();
    finished.sort();
    if let Some(f) = finished.iter().rev().find(|f| f.succeeded) {
        bs.last_success_time = Some(Time(f.at));
        bs.last_backup = Some(f.name.clone());
    }
    if let Some(f) = finished.iter().rev().find(|f| f.succeeded && f.verified) {
        bs.last_verified_time = Some(Time(f.at));
    }
    let cond = match finished.last() {
        None => Cond::unknown(
            status::BACKUP_HEALTHY,
            "NoBackupYet",
            format!(
                "schedule \"{}\"; no backup has finished yet",
                sys.spec.database.backup.schedule
            ),
        ),
        Some(f) if f.succeeded => Cond::new(
            status::BACKUP_HEALTHY,
            true,
            "LastBackupSucceeded",
            if f.verified {
                format!(
                    "backup {} succeeded and a test restore of it held every table",
                    f.name
                )
            } else {
                format!(
                    "backup {} succeeded (not verified: spec.database.backup.verify is off)",
                    f.name
                )
            },
        ),
        Some(f) => Cond::new(
            status::BACKUP_HEALTHY,
            false,
            "LastBackupFailed",
            format!("backup {} failed; see its pod logs", f.name),
        ),
    };
    st.backup = Some(bs);
    Ok(cond)
}

/// FrontendReady while the backend is not serving yet (for whatever reason).
fn frontend_waits_for_backend() -> Cond {
    Cond::new(
        status::FRONTEND_READY,
        false,
        "WaitingForBackend",
        "waits for the backend tier",
    )
}

/// Why the backend waits for the restore, and whether the restore failed.
struct RestoreWait {
    why: String,
    failed: bool,
}

/// `spec.database.restore`: run the restore Job until it succeeded once, and record that in
/// `status.restore`. `Some` while the backend must wait. Once done it is never run again (the
/// status remembers), even if the Job is gone.
async fn restore(
    sys: &OvuSystem,
    rctx: &Ctx<'_>,
    run: &mut Run<'_>,
    st: &mut OvuSystemStatus,
    now: Timestamp,
) -> Result<Option<RestoreWait>, Error> {
    let Some(r) = &sys.spec.database.restore else {
        return Ok(None);
    };
    let source = format!("{}/{}", r.from_claim, r.backup);
    if st
        .restore
        .as_ref()
        .is_some_and(|s| s.source == source && s.completed_time.is_some())
    {
        return Ok(None);
    }
    // In progress until the Job is seen complete (then completedTime is set below).
    st.restore = Some(RestoreStatus {
        source: source.clone(),
        completed_time: None,
    });
    // A Job whose volume does not exist would wait Pending for ever, saying nothing.
    let claim = get_dynamic(
        run.client,
        Kind::PersistentVolumeClaim,
        &rctx.ns,
        &r.from_claim,
    )
    .await?;
    let Some(claim) = claim else {
        return Ok(Some(RestoreWait {
            why: format!(
                "spec.database.restore.fromClaim: there is no PersistentVolumeClaim {} in namespace {} (the backups of a deleted system are on <system>-backups)",
                r.from_claim, rctx.ns
            ),
            failed: true,
        }));
    };
    // The restore runs what it finds there as the database superuser: only a volume OVU made
    // for backups qualifies, never some other application's claim that happens to be named.
    if !render::restore::is_backup_claim(&claim) {
        return Ok(Some(RestoreWait {
            why: format!(
                "spec.database.restore.fromClaim: PersistentVolumeClaim {} is not an OVU backup volume (it lacks the labels {}); only <system>-backups claims made by OVU can be restored from",
                r.from_claim,
                render::restore::BACKUP_CLAIM_LABELS
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            failed: true,
        }));
    }
    let job = render::restore::job(rctx, r);
    run.ensure(&job).await?;
    let live = run.get(Kind::Job, &job.name);
    let finished = |type_: &str| {
        live.and_then(|j| j.pointer("/status/conditions"))
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == type_ && c["status"] == "True")
            })
    };
    if finished("Complete") {
        st.restore = Some(RestoreStatus {
            source,
            completed_time: Some(Time(now)),
        });
        return Ok(None);
    }
    let failed = finished("Failed");
    let why = if failed {
        format!(
            "the restore of {source} failed: see kubectl logs job/{} (fix the cause, then delete the Job to retry)",
            job.name
        )
    } else {
        format!(
            "restoring the databases from backup {source} (Job {})",
            job.name
        )
    };
    Ok(Some(RestoreWait { why, failed }))
}

/// Delete optional children the current spec no longer wants: PodDisruptionBudgets of
/// components scaled to one pod, and the cert-manager Certificate when the mode changed.
async fn prune(run: &mut Run<'_>, sys: &OvuSystem, rctx: &Ctx<'_>) -> Result<(), Error> {
    let spec = &sys.spec;
    let mut unwanted: Vec<(Kind, String)> = Vec::new();
    for (c, replicas) in [
        (Component::Ulm, spec.backend.ulm.replicas),
        (Component::Aam, spec.backend.aam.replicas),
        (Component::Frontend, spec.frontend.replicas),
    ] {
        if replicas <= 1 {
            unwanted.push((Kind::PodDisruptionBudget, rctx.names.of(c)));
        }
    }
    if spec.frontend.tls.mode != TlsMode::CertManager {
        unwanted.push((Kind::Certificate, rctx.names.certificate()));
    }
    for (kind, name) in unwanted {
        if get_dynamic(run.client, kind, &rctx.ns, &name)
            .await?
            .is_none()
        {
            continue;
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(run.client.clone(), &rctx.ns, &kind.api_resource());
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => run
                .changes
                .push(format!("deleted {} {name}", kind.api_resource().kind)),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The pod networks (`spec.podCIDRs`, else `spec.podCIDR`) of the frontend-tier and the
/// backend-tier nodes, each sorted: the proxies ULM and AAM trust (see
/// `render::backend::trusted_proxies`). Sorted and deduplicated so the rendered env, and
/// with it the pod template, only changes when the networks do.
/// Where the Kubernetes API server really listens: the endpoints of the `kubernetes` Service
/// (EndpointSlice `default/kubernetes`, readable by name only). Unreadable (an operator
/// upgraded without that grant, a cluster without slices) is not fatal: AAM's egress then
/// falls back to the usual ports.
async fn api_server_endpoints(client: &Client) -> Vec<render::ApiServerEndpoint> {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let slice = match slices.get_opt("kubernetes").await {
        Ok(Some(s)) => s,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the API server's EndpointSlice");
            return Vec::new();
        }
    };
    let ports: Vec<i32> = slice
        .ports
        .unwrap_or_default()
        .iter()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| p.port)
        .collect();
    let mut out = Vec::new();
    for e in slice.endpoints {
        for address in e.addresses {
            for &port in &ports {
                let ep = render::ApiServerEndpoint {
                    address: address.clone(),
                    port,
                };
                if !out.contains(&ep) {
                    out.push(ep);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.address, a.port).cmp(&(&b.address, b.port)));
    out
}

async fn tier_pod_cidrs(client: &Client, label: &str) -> Result<(Vec<String>, Vec<String>), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut out = (Vec::new(), Vec::new());
    for (tier, cidrs) in [("frontend", &mut out.0), ("backend", &mut out.1)] {
        let list = match nodes
            .list(&ListParams::default().labels(&format!("{label}={tier}")))
            .await
        {
            Ok(l) => l,
            // An operator upgraded without the new `nodes: list` grant keeps working; ULM and
            // AAM then trust only spec.network.trustedProxies (fail closed: no forged
            // addresses, per-IP limits count nginx).
            Err(kube::Error::Api(s)) if s.code == 403 => {
                tracing::warn!(
                    tier,
                    "cannot list nodes (forbidden): trusting only spec.network.trustedProxies"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for n in list.items {
            let spec = n.spec.unwrap_or_default();
            let all = spec
                .pod_cidrs
                .unwrap_or_default()
                .into_iter()
                .chain(spec.pod_cidr);
            for c in all {
                if !cidrs.contains(&c) {
                    cidrs.push(c);
                }
            }
        }
        cidrs.sort();
    }
    Ok(out)
}

/// The system's pods (of every component, jobs' included).
async fn list_pods(client: &Client, rctx: &Ctx<'_>) -> Result<Vec<Pod>, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &rctx.ns);
    let lp = ListParams::default().labels(&format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/managed-by=ovu-operator",
        rctx.system()
    ));
    Ok(pods.list(&lp).await?.items)
}

/// Record the nodes each tier's pods run on.
fn place_nodes(pods: &[Pod], tiers: &mut Tiers) {
    for p in pods {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        let comp = p.labels().get(COMPONENT_LABEL).cloned().unwrap_or_default();
        let t = match comp.as_str() {
            "postgres" | "redis" => &mut tiers.database,
            "ulm" | "aam" => &mut tiers.backend,
            "frontend" => &mut tiers.frontend,
            _ => continue,
        };
        if !t.nodes.contains(&node) {
            t.nodes.push(node);
        }
    }
    for t in [&mut tiers.database, &mut tiers.backend, &mut tiers.frontend] {
        t.nodes.sort();
    }
}

async fn probe_health(ctx: &Context, rctx: &Ctx<'_>, st: &mut OvuSystemStatus) {
    let Some(prober) = &ctx.prober else { return };
    let mut out: Vec<ComponentHealth> = Vec::new();
    for (c, port) in [(Component::Ulm, ports::ULM), (Component::Aam, ports::AAM)] {
        let host = rctx.names.service_host(c, &rctx.ns);
        // The port constants are small positive numbers.
        let port = u16::try_from(port).unwrap_or_default();
        let h = prober.probe(c.as_str(), &host, port).await;
        let labels = crate::metrics::ComponentLabels {
            namespace: rctx.ns.clone(),
            system: rctx.system().to_string(),
            component: c.as_str().into(),
        };
        if prober.enabled() {
            ctx.metrics
                .health_up
                .get_or_create(&labels)
                .set(i64::from(h.status == "Healthy"));
        }
        if let Some(ms) = h.latency_ms {
            #[allow(clippy::cast_precision_loss)]
            ctx.metrics
                .health_latency
                .get_or_create(&labels)
                .set(ms as f64 / 1000.0);
        }
        let old = st.health.iter().find(|o| o.component == h.component);
        // With probes off nothing was measured: refreshing the time would be a status write
        // every few minutes per system that says nothing new.
        let same_verdict = old.is_some_and(|o| o.status == h.status && o.message == h.message);
        if !prober.enabled() && same_verdict {
            out.extend(old.cloned());
        } else if crate::health::worth_recording(old, &h, ctx.health_max_age) {
            out.push(h);
        } else if let Some(o) = old {
            out.push(o.clone());
        }
    }
    st.health = out;
}

/// Deletion: children with owner references go with the OvuSystem (garbage collection);
/// volumes and the data Secrets stay unless `deletionPolicy: Delete`.
pub async fn cleanup_system(
    sys: Arc<OvuSystem>,
    ctx: &Context,
    recorder: &Recorder,
) -> Result<Action, Error> {
    let ns = sys.namespace().ok_or(Error::Metadata("namespace"))?;
    let name = sys.name_any();
    let selector =
        format!("app.kubernetes.io/instance={name},app.kubernetes.io/managed-by=ovu-operator");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let names = crate::render::names::Names::new(&name);
    let data_secrets = [names.postgres_secret(), names.bootstrap_admin_secret()];
    match sys.spec.deletion_policy {
        DeletionPolicy::Delete => {
            let list = pvcs.list(&ListParams::default().labels(&selector)).await?;
            let mut gone = Vec::new();
            for p in list.items {
                let n = p.name_any();
                match pvcs.delete(&n, &DeleteParams::default()).await {
                    Ok(_) => gone.push(n),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
            for s in &data_secrets {
                match secrets.delete(s, &DeleteParams::default()).await {
                    Ok(_) => gone.push(s.clone()),
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            publish(
                recorder,
                &sys,
                EventType::Normal,
                "DataDeleted",
                "Cleanup",
                format!("deletionPolicy Delete: removed {}", gone.join(", ")),
            )
            .await;
        }
        DeletionPolicy::Retain => {
            publish(
                recorder,
                &sys,
                EventType::Normal,
                "DataRetained",
                "Cleanup",
                format!(
                    "deletionPolicy Retain: kept the volumes labelled {selector} and Secrets {}",
                    data_secrets.join(", ")
                ),
            )
            .await;
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(generation: i64, observed: i64, replicas: i32, updated: i32, ready: i32) -> Value {
        json!({
            "metadata": {"generation": generation},
            "status": {
                "observedGeneration": observed,
                "replicas": replicas,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": ready,
            }
        })
    }

    #[test]
    fn a_settled_deployment_is_rolled_out() {
        let w = workload("ulm", Kind::Deployment, Some(&deploy(3, 3, 2, 2, 2)), 2);
        assert!(w.serving && w.rolled_out, "{w:?}");
        assert_eq!(w.counts.ready, 2);
    }

    #[test]
    fn an_unobserved_generation_is_still_rolling_out() {
        // Just patched: the Deployment controller has not looked at the new spec yet, so the
        // counts describe the old one.
        let w = workload("ulm", Kind::Deployment, Some(&deploy(4, 3, 2, 2, 2)), 2);
        assert!(w.serving && !w.rolled_out);
        assert!(w.pending.contains("not seen"), "{}", w.pending);
    }

    #[test]
    fn old_pods_or_missing_updates_mean_rolling_out() {
        // maxSurge: 3 pods for 2 wanted, 1 of them new.
        let w = workload("ulm", Kind::Deployment, Some(&deploy(4, 4, 3, 1, 2)), 2);
        assert!(w.serving && !w.rolled_out);
        assert!(w.pending.contains("1 of 2 pods updated"), "{}", w.pending);
        assert!(w.pending.contains("1 old pods left"), "{}", w.pending);
        // Scaled up: the new pod is not ready yet.
        let w = workload("ulm", Kind::Deployment, Some(&deploy(5, 5, 3, 3, 2)), 3);
        assert!(w.serving && !w.rolled_out);
        assert!(w.pending.contains("2 of 3 ready"), "{}", w.pending);
    }

    #[test]
    fn missing_or_empty_workloads_do_not_serve() {
        let w = workload("redis", Kind::Deployment, None, 1);
        assert!(!w.serving && !w.rolled_out);
        // The API server omits zero counts.
        let v = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1}});
        let w = workload("redis", Kind::Deployment, Some(&v), 1);
        assert!(!w.serving && !w.rolled_out);
    }

    #[test]
    fn statefulset_revisions_must_match() {
        let mut v = json!({
            "metadata": {"generation": 2},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": 1, "currentRevision": "pg-a", "updateRevision": "pg-b"}
        });
        let w = workload("postgres", Kind::StatefulSet, Some(&v), 1);
        assert!(w.serving && !w.rolled_out, "{w:?}");
        v["status"]["currentRevision"] = json!("pg-b");
        let w = workload("postgres", Kind::StatefulSet, Some(&v), 1);
        assert!(w.rolled_out, "{w:?}");
    }

    fn view(rolled_out: bool) -> TierView {
        let parts = [workload(
            "ulm",
            Kind::Deployment,
            Some(&if rolled_out {
                deploy(2, 2, 1, 1, 1)
            } else {
                deploy(2, 1, 1, 1, 1)
            }),
            1,
        )];
        tier_view(&parts)
    }

    #[test]
    fn a_rolling_tier_makes_the_system_progressing_and_names_the_tier() {
        let db = view(true);
        let be = view(false);
        let fe = view(true);
        let v = serving_verdict(
            &[("database", &db), ("backend", &be), ("frontend", &fe)],
            true,
            true,
        );
        assert_eq!(v.phase, Phase::Progressing);
        assert_eq!(v.reason, "BackendRollingOut");
        assert_eq!(v.step, "Backend");
        assert!(v.message.contains("backend tier"), "{}", v.message);
        let c = tier_cond(status::BACKEND_READY, &be);
        assert!(!c.status);
        assert_eq!(c.reason, "RollingOut");
        assert!(c.message.contains("rolling out ulm"), "{}", c.message);
    }

    fn pulling_pod(name: &str, component: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {COMPONENT_LABEL: component}},
            "spec": {"containers": [{"name": component, "image": "ovu/ulm:9.9"}]},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": component, "image": "ovu/ulm:9.9", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"ovu/ulm:9.9\": ErrImagePull: not found"}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn a_tier_that_does_not_serve_names_what_its_pods_are_stuck_on() {
        let pods = [
            pulling_pod("ovu-ulm-b", "ulm"),
            pulling_pod("ovu-ulm-a", "ulm"),
            // Another component's pod is not ULM's problem.
            pulling_pod("ovu-aam-a", "aam-other"),
        ];
        let ulm = with_pods(
            workload("ulm", Kind::Deployment, Some(&deploy(1, 1, 2, 2, 0)), 2),
            &pods,
        );
        let t = tier_view(&[ulm]);
        let c = tier_cond(status::BACKEND_READY, &t);
        assert!(!c.status);
        assert_eq!(c.reason, "ImagePullBackOff");
        assert_eq!(
            c.message,
            "ulm 0/2; rolling out ulm: 0 of 2 ready — pod ovu-ulm-a: container ulm: \
             ImagePullBackOff: cannot pull image ovu/ulm:9.9 (not found) (and 1 more pod)"
        );
        // Without pod problems the reason stays Waiting.
        let t = tier_view(&[with_pods(
            workload("ulm", Kind::Deployment, Some(&deploy(1, 1, 2, 2, 0)), 2),
            &[],
        )]);
        assert_eq!(tier_cond(status::BACKEND_READY, &t).reason, "Waiting");
    }

    #[test]
    fn a_serving_tier_rolling_out_to_a_bad_image_stays_rolling_out_and_says_why() {
        let pods = [pulling_pod("ovu-ulm-new", "ulm")];
        let w = with_pods(
            workload("ulm", Kind::Deployment, Some(&deploy(2, 2, 3, 1, 2)), 2),
            &pods,
        );
        let c = tier_cond(status::BACKEND_READY, &tier_view(&[w]));
        assert_eq!(c.reason, "RollingOut");
        assert!(
            c.message
                .contains("pod ovu-ulm-new: container ulm: ImagePullBackOff"),
            "{}",
            c.message
        );
    }

    /// Pod status as a real kubelet wrote it: the `make up` cluster of 2026-12-03, whose ULM
    /// and AAM exited with 1 at start while BackendReady said only "Waiting: ulm 0/2, aam 0/2;
    /// rolling out ulm: 0 of 2 ready; aam: 0 of 2 ready". ULM's pods wait in back-off, AAM's
    /// run again after the fifth exit.
    #[test]
    fn real_crash_looping_backend_pods_are_named() {
        let pods: Vec<Pod> =
            serde_json::from_str(include_str!("testdata/backend-crashing-real.json")).unwrap();
        let t = tier_view(&[
            with_pods(
                workload("ulm", Kind::Deployment, Some(&deploy(1, 1, 2, 2, 0)), 2),
                &pods,
            ),
            with_pods(
                workload("aam", Kind::Deployment, Some(&deploy(1, 1, 2, 2, 0)), 2),
                &pods,
            ),
        ]);
        let c = tier_cond(status::BACKEND_READY, &t);
        assert_eq!(c.reason, "CrashLoopBackOff");
        assert_eq!(
            c.message,
            "ulm 0/2, aam 0/2; rolling out ulm: 0 of 2 ready — pod ovu-ulm-79b678cb8c-9ws26: \
             container ulm (ovu/ulm:0.1.0) keeps exiting (CrashLoopBackOff): exit code 1 (Error) \
             (and 1 more pod); aam: 0 of 2 ready — pod ovu-aam-5b95dcdccd-rv75f: container aam \
             (ovu/aam:0.1.0) keeps exiting (CrashLoopBackOff): exit code 1 (Error) (and 1 more pod)"
        );
    }

    #[test]
    fn a_rolled_out_workload_ignores_its_pods() {
        // A settled system's status must not depend on a lingering pod (no status writes).
        let pods = [pulling_pod("ovu-ulm-old", "ulm")];
        let w = with_pods(
            workload("ulm", Kind::Deployment, Some(&deploy(2, 2, 2, 2, 2)), 2),
            &pods,
        );
        assert_eq!(w.problem, None);
        assert_eq!(tier_view(&[w]).message, "ulm 2/2");
    }

    #[test]
    fn rolled_out_tiers_are_ready() {
        let t = view(true);
        let v = serving_verdict(
            &[("database", &t), ("backend", &t), ("frontend", &t)],
            true,
            true,
        );
        assert_eq!(v.phase, Phase::Ready);
        assert_eq!(v.step, "Done");
        assert!(tier_cond(status::FRONTEND_READY, &t).status);
        // The certificate still gates Ready; one that went bad after Ready is a fault.
        let v = serving_verdict(&[("database", &t)], false, false);
        assert_eq!(v.phase, Phase::Progressing);
        let v = serving_verdict(&[("database", &t)], false, true);
        assert_eq!(v.phase, Phase::Degraded);
    }

    fn ready_cond(status: &str, reason: &str, at: Timestamp) -> Condition {
        Condition {
            type_: status::READY.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(at),
        }
    }

    /// A system that served and is found not serving (every pod restarting after `make down`
    /// / `make up`) is Recovering, not Degraded, for the grace; still down after it, Degraded.
    #[test]
    fn a_system_that_served_recovers_before_it_is_degraded() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let later = |s: i64| t0 + k8s_openapi::jiff::SignedDuration::from_secs(s);
        // First reconcile after the restart: Ready was True until now.
        let since = recovering_since(Some(&ready_cond("True", "AllTiersReady", later(-900))), t0);
        assert_eq!(since, Some(t0));
        let v = lost_serving("Backend", "waiting".into(), since, t0);
        assert_eq!(
            (v.phase, v.reason.as_str()),
            (Phase::Progressing, "Recovering")
        );
        assert!(v.message.contains("waiting"), "{}", v.message);
        // Later reconciles count from when Ready turned False.
        let since = recovering_since(Some(&ready_cond("False", "Recovering", t0)), later(60));
        assert_eq!(since, Some(t0));
        let v = lost_serving("Backend", "waiting".into(), since, later(60));
        assert_eq!(v.phase, Phase::Progressing);
        let v = lost_serving("Backend", "waiting".into(), since, later(181));
        assert_eq!(
            (v.phase, v.reason.as_str()),
            (Phase::Degraded, "BringingUp")
        );
        // Once Degraded (or never Ready) there is no recovery clock.
        assert_eq!(
            recovering_since(Some(&ready_cond("False", "BringingUp", t0)), later(300)),
            None
        );
        assert_eq!(recovering_since(None, t0), None);
        let v = lost_serving("Frontend", "waiting".into(), None, t0);
        assert_eq!(v.phase, Phase::Degraded);
    }
}
