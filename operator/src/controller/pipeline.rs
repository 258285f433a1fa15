//! The reconcile pipeline of one OvuSystem (Stackable style): validate → secrets + TLS
//! (made once) → build (pure) → apply tier by tier, in bring-up order → backups, restore,
//! prune, placement and health → the verdict ([`verdict::judge`], pure) → write the status
//! when it changed → Events.
//!
//! Each step lives in its own module; this one only gathers what they observed.

use std::sync::Arc;

use super::events::Recorder;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use ovu_crds::{Endpoints, OvuSystem, RestoreStatus, Tiers};
use tracing::info;

use super::run::Run;
use super::tiers::{self, tier_view, with_pods, workload};
use super::verdict::{self, Observed, Requeue, Stage, Step};
use super::{
    Context, Error, acme, backups, certificate, monitoring, placement, probe, prune, publish,
    restore,
};
use crate::render::{self, Ctx, Desired, Facts, Kind};
use crate::status::{self, Cond};

/// One reconcile of a system that is not being deleted.
pub async fn apply_system(
    sys: Arc<OvuSystem>,
    ctx: &Context,
    api: &Api<OvuSystem>,
    recorder: &Recorder,
) -> Result<Action, Error> {
    // Whole seconds: that is what metav1.Time keeps, so a recomputed status compares equal.
    let now =
        Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now());
    // New images with no new generation (the operator's defaults moved): the status stops
    // saying Ready on the old ones before the apply below starts pods on the new ones.
    if super::validate::problems(&sys).is_none() && !sys.spec.paused {
        let images = ctx.default_images.resolve(&sys.spec);
        if let Some(st) =
            verdict::images_changing(sys.status.as_ref(), sys.metadata.generation, &images, now)
        {
            info!(
                message = st.message.as_deref().unwrap_or_default(),
                "images change"
            );
            status::write(api, &sys, &st)
                .await
                .map_err(|source| Error::WriteStatus { source })?;
        }
    }
    let observed = observe(&sys, ctx, now).await?;
    let mut j = verdict::judge(sys.status.as_ref(), sys.metadata.generation, &observed, now);
    if let Observed::Applied(_) = &observed {
        j.events.extend(verdict::development_settings(
            &sys.spec,
            sys.status.as_ref(),
            sys.metadata.generation,
        ));
    }
    ctx.metrics.systems.observe(&sys, &j.status);
    if j.changed {
        status::write(api, &sys, &j.status)
            .await
            .map_err(|source| Error::WriteStatus { source })?;
    }
    if let Observed::Applied(r) = &observed
        && !r.changes.is_empty()
    {
        info!(changes = r.changes.len(), "applied");
    }
    for e in j.events {
        publish(
            recorder,
            &sys,
            e.type_,
            &e.reason,
            e.action.as_str(),
            e.message,
        )
        .await;
    }
    Ok(match j.requeue {
        Requeue::AwaitChange => Action::await_change(),
        Requeue::After(d) => Action::requeue(d),
    })
}

/// Run the steps and gather what they observed; every API call of a reconcile but the
/// status write happens here.
async fn observe(sys: &OvuSystem, ctx: &Context, now: Timestamp) -> Result<Observed, Error> {
    if let Some(problems) = super::validate::problems(sys) {
        return Ok(Observed::Invalid(problems));
    }
    if sys.spec.paused {
        return Ok(Observed::Paused);
    }
    let old = sys.status.clone().unwrap_or_default();
    let mut run = Run::new(&ctx.client, &ctx.cache, &ctx.metrics);
    let (frontend_pod_cidrs, backend_pod_cidrs) =
        placement::tier_pod_cidrs(&ctx.client, &ctx.cache, &sys.spec.placement.node_label).await?;
    let mut facts = Facts {
        operator_namespace: ctx.operator_namespace.clone(),
        tls_hash: None,
        frontend_pod_cidrs,
        backend_pod_cidrs,
        api_server: placement::api_server_endpoints(&ctx.client, &ctx.cache).await,
        acme_challenges: Vec::new(),
        default_images: ctx.default_images.clone(),
    };
    if sys.spec.frontend.tls.mode == ovu_crds::TlsMode::CertManager
        && let Some(ns) = sys.metadata.namespace.as_deref()
    {
        let hosts = render::frontend::dns_names(&sys.spec.domain);
        facts.acme_challenges = acme::observe(&ctx.client, &ctx.cache, ns, &hosts).await?;
    }

    certificate::ensure_secrets(sys, &facts, &mut run).await?;
    let (mut cert_cond, cert_status) =
        certificate::ensure_tls(sys, &mut facts, &mut run, now).await?;

    let desired = render::build(sys, &facts)?;
    let rctx = Ctx::new(sys, &facts)?;
    // Everything rendered is wanted, also the tiers this round does not reach: prune
    // deletes only what the spec no longer renders.
    for c in desired.all() {
        run.keep(c.kind, &c.name);
    }

    // The system's pods, read once: where each tier runs, and what a tier that does not
    // serve is stuck on. Read before this reconcile's writes; pods a write makes are created
    // by the workload controllers later and seen by the next reconcile (every WAIT while a
    // tier is not ready).
    let pods = placement::list_pods(&ctx.client, &ctx.cache, &rctx).await?;

    // Bring-up: each step once the one before it passed (a rollout of a serving tier does
    // not hold the others back).
    let mut restore_status = old.restore.clone();
    let stages = bring_up(
        sys,
        &rctx,
        &desired,
        &pods,
        &mut run,
        &mut cert_cond,
        &mut restore_status,
        now,
    )
    .await?;
    let all_serving =
        stages.len() == Step::BRING_UP.len() && stages.iter().all(|(_, s)| s.passed());

    // Backups (part of the database tier, applied above; independent of the bring-up).
    let (backup, backup_status) =
        backups::backups(sys, &rctx, &mut run, old.backup.as_ref(), &pods).await?;

    // The PodMonitor (independent of the bring-up: its API may be missing).
    let monitoring = monitoring::ensure(&desired.monitoring, &mut run).await?;

    // Children an earlier spec needed and this one does not.
    prune::prune(&mut run, sys).await?;

    // Where the pods run.
    let mut tiers = Tiers::default();
    for (step, stage) in &stages {
        if let Stage::Tier(view) = stage {
            let t = match step {
                Step::Database => &mut tiers.database,
                Step::Backend => &mut tiers.backend,
                _ => &mut tiers.frontend,
            };
            *t = view.counts.clone();
        }
    }
    placement::place_nodes(&pods, &mut tiers);

    // Health of the services, once they exist.
    let health = if all_serving {
        probe::probe_health(ctx, &rctx, &old.health).await
    } else {
        None
    };

    Ok(Observed::Applied(Box::new(verdict::Round {
        certificate: cert_cond,
        certificate_status: cert_status,
        endpoints: Endpoints {
            ulm: rctx.site_url("ulm"),
            aam: rctx.site_url("aam"),
            api: rctx.site_url("api"),
        },
        images: rctx.images.clone(),
        backup,
        backup_status,
        monitoring,
        restore_status,
        stages,
        tiers,
        health,
        changes: run.changes,
    })))
}

/// Apply the tiers in bring-up order ([`Step::BRING_UP`]), each once the step before it
/// passed, and say what each step reached found.
#[allow(clippy::too_many_arguments)]
async fn bring_up(
    sys: &OvuSystem,
    rctx: &Ctx<'_>,
    desired: &Desired,
    pods: &[Pod],
    run: &mut Run<'_>,
    cert_cond: &mut Cond,
    restore_status: &mut Option<RestoreStatus>,
    now: Timestamp,
) -> Result<Vec<(Step, Stage)>, Error> {
    let mut stages: Vec<(Step, Stage)> = Vec::new();
    for step in Step::BRING_UP {
        let stage = match step.tier() {
            Some(tier) => {
                // No cert-manager API in this cluster: say so instead of failing the
                // whole reconcile in a loop.
                let no_cert_manager =
                    |c: &render::Child, e: &Error| c.kind == Kind::Certificate && e.is_not_found();
                for (c, r) in run
                    .ensure_all(tier_children(desired, step), no_cert_manager)
                    .await
                {
                    match r {
                        Err(e) if no_cert_manager(c, &e) => {
                            *cert_cond = Cond::new(
                                status::CERTIFICATE_READY,
                                false,
                                "CertManagerMissing",
                                "tls.mode is CertManager but the cluster has no cert-manager.io/v1 Certificate API; install cert-manager or pick another mode",
                            );
                        }
                        r => r?,
                    }
                }
                let parts: Vec<_> = tiers::workloads(tier, &sys.spec)
                    .into_iter()
                    .map(|(c, kind, replicas)| {
                        let live = run.workload(kind, &rctx.names.of(c));
                        with_pods(workload(c.as_str(), live.as_ref(), replicas), pods)
                    })
                    .collect();
                Stage::Tier(tier_view(&parts))
            }
            // A restore fills the new databases once they serve and before ULM and AAM
            // first start.
            None => Stage::Restore(restore::restore(sys, rctx, run, restore_status, now).await?),
        };
        let passed = stage.passed();
        stages.push((step, stage));
        if !passed {
            break;
        }
    }
    Ok(stages)
}

/// The children a bring-up step applies.
fn tier_children(desired: &Desired, step: Step) -> &[render::Child] {
    match step {
        Step::Database => &desired.database,
        Step::Backend => &desired.backend,
        Step::Frontend => &desired.frontend,
        Step::Restore | Step::Done => &[],
    }
}
