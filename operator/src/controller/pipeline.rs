//! The reconcile pipeline of one OvuSystem (Stackable style):
//! validate → secrets + TLS (made once) → build (pure) → apply tier by tier, in bring-up
//! order → backups and health → status (written only when it changed) → events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::{Client, ResourceExt};
use ovu_crds::{
    BACKUP_NOW_ANNOTATION, BackupStatus, CertificateStatus, ComponentHealth, DeletionPolicy,
    Endpoints, OvuSystem, OvuSystemStatus, Phase, TierStatus, Tiers, TlsMode, rules,
};
use serde_json::{Value, json};
use tracing::info;

use super::{Context, Error, publish};
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
        self.live.insert((c.kind, c.name.clone()), a.live);
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

/// Ready pods of a workload (StatefulSet readyReplicas, Deployment availableReplicas).
fn workload(run: &Run, kind: Kind, name: &str, desired: i32) -> TierStatus {
    let v = run.get(kind, name);
    let ready = match kind {
        Kind::Deployment => int(v, "/status/availableReplicas"),
        _ => int(v, "/status/readyReplicas"),
    };
    TierStatus {
        ready,
        desired,
        nodes: vec![],
    }
}

fn sum(parts: &[&TierStatus]) -> TierStatus {
    TierStatus {
        ready: parts.iter().map(|p| p.ready).sum(),
        desired: parts.iter().map(|p| p.desired).sum(),
        nodes: vec![],
    }
}

/// Every part has at least one pod serving.
fn serving(parts: &[&TierStatus]) -> bool {
    parts.iter().all(|p| p.ready >= 1)
}

fn counts(label: &str, t: &TierStatus) -> String {
    format!("{label} {}/{}", t.ready, t.desired)
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
    let mut facts = Facts {
        operator_namespace: ctx.operator_namespace.clone(),
        tls_hash: None,
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

    // 1. database
    for c in &desired.database {
        run.ensure(c).await?;
    }
    let pg = workload(&run, Kind::StatefulSet, &names.of(Component::Postgres), 1);
    let redis = workload(&run, Kind::Deployment, &names.of(Component::Redis), 1);
    let db_ok = serving(&[&pg, &redis]);
    let db_msg = format!("{}, {}", counts("postgres", &pg), counts("redis", &redis));
    conds.push(Cond::new(
        status::DATABASE_READY,
        db_ok,
        if db_ok { "Ready" } else { "Waiting" },
        db_msg.clone(),
    ));
    let mut tiers = Tiers {
        database: sum(&[&pg, &redis]),
        ..Default::default()
    };

    // Backups (part of the database tier; independent of the bring-up of the others).
    let backup_cond = backups(&sys, &rctx, &mut run, &mut st).await?;
    conds.push(backup_cond);

    let spec = &sys.spec;
    let (step, message, all_ok) = if !db_ok {
        conds.push(Cond::new(
            status::BACKEND_READY,
            false,
            "WaitingForDatabase",
            "waits for the database tier",
        ));
        conds.push(Cond::new(
            status::FRONTEND_READY,
            false,
            "WaitingForBackend",
            "waits for the backend tier",
        ));
        (
            "Database",
            format!("waiting for the database tier: {db_msg}"),
            false,
        )
    } else {
        // 2. backend
        for c in &desired.backend {
            run.ensure(c).await?;
        }
        let ulm = workload(
            &run,
            Kind::Deployment,
            &names.of(Component::Ulm),
            spec.backend.ulm.replicas,
        );
        let aam = workload(
            &run,
            Kind::Deployment,
            &names.of(Component::Aam),
            spec.backend.aam.replicas,
        );
        let be_ok = serving(&[&ulm, &aam]);
        let be_msg = format!("{}, {}", counts("ulm", &ulm), counts("aam", &aam));
        conds.push(Cond::new(
            status::BACKEND_READY,
            be_ok,
            if be_ok { "Ready" } else { "Waiting" },
            be_msg.clone(),
        ));
        tiers.backend = sum(&[&ulm, &aam]);
        if !be_ok {
            conds.push(Cond::new(
                status::FRONTEND_READY,
                false,
                "WaitingForBackend",
                "waits for the backend tier",
            ));
            (
                "Backend",
                format!("waiting for the backend tier (migrations, readiness): {be_msg}"),
                false,
            )
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
            let fe = workload(
                &run,
                Kind::Deployment,
                &names.of(Component::Frontend),
                spec.frontend.replicas,
            );
            let fe_ok = serving(&[&fe]);
            let fe_msg = counts("frontend", &fe);
            conds.push(Cond::new(
                status::FRONTEND_READY,
                fe_ok,
                if fe_ok { "Ready" } else { "Waiting" },
                fe_msg.clone(),
            ));
            tiers.frontend = fe;
            if fe_ok {
                ("Done", "all tiers are serving".to_string(), true)
            } else {
                (
                    "Frontend",
                    format!("waiting for the frontend tier: {fe_msg}"),
                    false,
                )
            }
        }
    };

    // Children an earlier spec needed and this one does not.
    prune(&mut run, &sys, &rctx).await?;

    // Where the pods run.
    place_nodes(&ctx.client, &rctx, &mut tiers).await?;
    st.tiers = Some(tiers);

    // Health of the services, once they exist.
    if all_ok {
        probe_health(ctx, &rctx, &mut st).await;
    }

    let cert_ok = conds
        .iter()
        .any(|c| c.type_ == status::CERTIFICATE_READY && c.status);
    let ready = all_ok && cert_ok;
    conds.insert(
        0,
        Cond::new(
            status::READY,
            ready,
            if ready {
                "AllTiersReady"
            } else if all_ok {
                "CertificateNotReady"
            } else {
                "BringingUp"
            },
            message.clone(),
        ),
    );
    let was_ready = matches!(old.phase, Some(Phase::Ready) | Some(Phase::Degraded));
    st.phase = Some(if ready {
        Phase::Ready
    } else if was_ready {
        Phase::Degraded
    } else {
        Phase::Progressing
    });
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
        } else if was_ready {
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
    // (finished time, name, succeeded)
    let mut finished: Vec<(Timestamp, String, bool)> = list
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
            Some((t, j.name_any(), done.type_ == "Complete"))
        })
        .collect();
    finished.sort();
    if let Some((t, n, _)) = finished.iter().rev().find(|f| f.2) {
        bs.last_success_time = Some(Time(*t));
        bs.last_backup = Some(n.clone());
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
        Some((_, n, true)) => Cond::new(
            status::BACKUP_HEALTHY,
            true,
            "LastBackupSucceeded",
            format!("backup {n} succeeded"),
        ),
        Some((_, n, false)) => Cond::new(
            status::BACKUP_HEALTHY,
            false,
            "LastBackupFailed",
            format!("backup {n} failed; see its pod logs"),
        ),
    };
    st.backup = Some(BackupStatus { ..bs });
    Ok(cond)
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

/// Record the nodes each tier's pods run on.
async fn place_nodes(client: &Client, rctx: &Ctx<'_>, tiers: &mut Tiers) -> Result<(), Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &rctx.ns);
    let lp = ListParams::default().labels(&format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/managed-by=ovu-operator",
        rctx.system()
    ));
    let list = pods.list(&lp).await?;
    for p in list.items {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        let comp = p
            .labels()
            .get("app.kubernetes.io/component")
            .cloned()
            .unwrap_or_default();
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
    Ok(())
}

async fn probe_health(ctx: &Context, rctx: &Ctx<'_>, st: &mut OvuSystemStatus) {
    let Some(prober) = &ctx.prober else { return };
    let mut out: Vec<ComponentHealth> = Vec::new();
    for (c, port) in [(Component::Ulm, ports::ULM), (Component::Aam, ports::AAM)] {
        let url = format!(
            "http://{}:{port}/api/ready",
            rctx.names.service_host(c, &rctx.ns)
        );
        let h = prober.probe(c.as_str(), &url).await;
        let labels = crate::metrics::ComponentLabels {
            namespace: rctx.ns.clone(),
            system: rctx.system().to_string(),
            component: c.as_str().into(),
        };
        ctx.metrics
            .health_up
            .get_or_create(&labels)
            .set(i64::from(h.status == "Healthy"));
        if let Some(ms) = h.latency_ms {
            #[allow(clippy::cast_precision_loss)]
            ctx.metrics
                .health_latency
                .get_or_create(&labels)
                .set(ms as f64 / 1000.0);
        }
        let old = st.health.iter().find(|o| o.component == h.component);
        if crate::health::worth_recording(old, &h, ctx.health_max_age) {
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
