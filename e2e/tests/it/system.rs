//! One OvuSystem through its life, with the real controllers doing their part: every child
//! made and owned, pods placed by the real scheduler on their tier's node, status truthful,
//! drift repaired, spec changes followed, pause honoured, deletion by policy, quiet resyncs
//! and backups. The operator runs under its own ServiceAccount (e2e/run).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret, Service};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use ovu_crds::names::{self, Component, DEFAULT_TIER_LABEL, Names, Tier};
use ovu_crds::{BACKUP_NOW_ANNOTATION, Phase};
use ovu_e2e::operator::{metric_sum, metrics_text};
use ovu_e2e::{Cluster, Nodes, nodes, patience, system, wait_for, with_temp_ns};
use serde_json::json;

/// A system's bring-up (three times as long on real nodes: see `patience`).
fn ready() -> Duration {
    patience(Duration::from_secs(180))
}
/// Something the operator or a controller does right away.
fn soon() -> Duration {
    patience(Duration::from_secs(60))
}

/// Every child of a default system `n` (TLS SelfSigned, two replicas of each service), and
/// whether it carries an owner reference (data and its credentials deliberately do not).
fn expected_children(n: &str) -> Vec<(&'static str, String, bool)> {
    use Component::{Aam, Backup, Frontend, Postgres, Redis, Ulm};
    let x = Names::new(n);
    let owned = [
        ("StatefulSet", x.of(Postgres)),
        ("Deployment", x.of(Redis)),
        ("Deployment", x.of(Ulm)),
        ("Deployment", x.of(Aam)),
        ("Deployment", x.of(Frontend)),
        ("Service", x.of(Postgres)),
        ("Service", x.of(Redis)),
        ("Service", x.of(Ulm)),
        ("Service", x.of(Aam)),
        ("Service", x.of(Frontend)),
        ("ConfigMap", x.nginx_configmap()),
        ("ConfigMap", x.postgres_init_configmap()),
        ("Secret", x.redis_secret()),
        ("Secret", x.signing_key_secret()),
        ("Secret", x.ca_secret()),
        ("Secret", x.tls_secret()),
        ("CronJob", x.backup_cronjob()),
        ("NetworkPolicy", x.netpol(Tier::Frontend)),
        ("NetworkPolicy", x.netpol(Tier::Backend)),
        ("NetworkPolicy", x.netpol(Tier::Database)),
        ("NetworkPolicy", x.netpol_default_deny()),
        ("NetworkPolicy", x.netpol_egress(Frontend)),
        ("NetworkPolicy", x.netpol_egress(Ulm)),
        ("NetworkPolicy", x.netpol_egress(Aam)),
        ("NetworkPolicy", x.netpol_egress(Backup)),
        ("PodDisruptionBudget", x.of(Ulm)),
        ("PodDisruptionBudget", x.of(Aam)),
        ("PodDisruptionBudget", x.of(Frontend)),
        ("ServiceAccount", x.aam_service_account()),
        ("Role", x.aam_service_account()),
        ("RoleBinding", x.aam_service_account()),
    ];
    let kept = [
        ("Secret", x.postgres_secret()),
        ("Secret", x.bootstrap_admin_secret()),
        ("PersistentVolumeClaim", x.backup_pvc()),
        ("PersistentVolumeClaim", x.postgres_data_pvc()),
    ];
    let owned = owned.into_iter().map(|(k, s)| (k, s, true));
    owned
        .chain(kept.into_iter().map(|(k, s)| (k, s, false)))
        .collect()
}

/// The tier each component's pods belong on.
fn tier_of(component: &str) -> Option<&'static str> {
    Component::from_label(component).map(|c| c.tier().as_str())
}

fn instance(n: &str) -> ListParams {
    ListParams::default().labels(&names::system_selector(n))
}

async fn deployment(c: &Cluster, ns: &str, name: &str) -> anyhow::Result<Deployment> {
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), ns);
    Ok(api.get(name).await?)
}

/// Wait until `n`'s pods are all scheduled and Ready, `want` of them per component.
async fn wait_pods(
    c: &Cluster,
    ns: &str,
    n: &str,
    want: &[(&str, usize)],
) -> anyhow::Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    wait_for(ready(), &format!("pods of {n}"), || {
        let pods = pods.clone();
        async move {
            let list: Vec<Pod> = pods
                .list(&instance(n))
                .await?
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| {
                    p.labels().get(names::COMPONENT_LABEL).map(String::as_str) != Some("backup")
                })
                .collect();
            for (comp, count) in want {
                let ready = list
                    .iter()
                    .filter(|p| {
                        p.labels().get(names::COMPONENT_LABEL).map(String::as_str) == Some(*comp)
                    })
                    .filter(|p| {
                        p.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|cs| {
                                cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
                    .count();
                if ready != *count {
                    return Ok(Err(format!("{comp}: {ready} ready pods, want {count}")));
                }
            }
            Ok(Ok(list))
        }
    })
    .await
}

#[tokio::test]
async fn a_sample_system_gets_every_child_on_its_tier_and_a_truthful_status() {
    with_temp_ns("children", true, |c, ns| async move {
        let n = "ovu";
        c.create(&ns, &system(n, "ovu.example.com", json!({})))
            .await?;
        let sys = c.wait_ready(&ns, n, ready()).await?;
        let uid = sys.metadata.uid.clone().context("no uid")?;

        for (kind, name, owned) in expected_children(n) {
            let obj = c
                .get_obj(&ns, kind, &name)
                .await?
                .with_context(|| format!("{kind} {name} missing"))?;
            let owner = obj
                .metadata
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .find(|o| o.uid == uid);
            if owned {
                let o = owner.with_context(|| {
                    format!("{kind} {name} has no owner reference to the OvuSystem")
                })?;
                ensure!(
                    o.kind == "OvuSystem" && o.controller == Some(true),
                    "{kind} {name}: owner {o:?}"
                );
            } else {
                ensure!(
                    owner.is_none(),
                    "{kind} {name} must outlive the OvuSystem but is owned by it"
                );
            }
            let labels = obj.metadata.labels.unwrap_or_default();
            if kind != "PersistentVolumeClaim" || name == Names::new(n).backup_pvc() {
                ensure!(
                    labels.get(names::MANAGED_BY_LABEL).map(String::as_str)
                        == Some(names::MANAGED_BY),
                    "{kind} {name} lacks the managed-by label: {labels:?}"
                );
            }
        }

        // The real scheduler put each pod on a node of its tier.
        let pods = wait_pods(
            &c,
            &ns,
            n,
            &[
                ("postgres", 1),
                ("redis", 1),
                ("ulm", 2),
                ("aam", 2),
                ("frontend", 2),
            ],
        )
        .await?;
        let nodes: Api<Node> = Api::all(c.client.clone());
        let mut placed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for p in &pods {
            let comp = p
                .labels()
                .get(names::COMPONENT_LABEL)
                .cloned()
                .unwrap_or_default();
            let tier = tier_of(&comp)
                .with_context(|| format!("pod {} has component {comp:?}", p.name_any()))?;
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .with_context(|| format!("pod {} is not scheduled", p.name_any()))?;
            let node_tier = nodes
                .get(&node)
                .await?
                .labels()
                .get(DEFAULT_TIER_LABEL)
                .cloned();
            ensure!(
                node_tier.as_deref() == Some(tier),
                "pod {} ({comp}) runs on {node} labelled {node_tier:?}, want tier {tier}",
                p.name_any()
            );
            placed.entry(tier).or_default().push(node);
        }

        // Status: tiers and where they run, endpoints, certificate, conditions.
        let st = c.get_system(&ns, n).await?.status.context("no status")?;
        let tiers = st.tiers.context("no status.tiers")?;
        for (t, ts, want) in [
            ("database", &tiers.database, 2),
            ("backend", &tiers.backend, 4),
            ("frontend", &tiers.frontend, 2),
        ] {
            ensure!(ts.ready == want && ts.desired == want, "tier {t}: {ts:?}");
            let mut nodes = placed.get(t).cloned().unwrap_or_default();
            nodes.sort();
            nodes.dedup();
            ensure!(
                ts.nodes == nodes,
                "status.tiers.{t}.nodes {:?}, pods run on {nodes:?}",
                ts.nodes
            );
        }
        let ep = st.endpoints.context("no endpoints")?;
        ensure!(
            ep.ulm == "https://ulm.ovu.example.com" && ep.aam == "https://aam.ovu.example.com",
            "{ep:?}"
        );
        let cert = st.certificate.context("no certificate status")?;
        ensure!(
            cert.secret_name.as_deref() == Some("ovu-tls") && cert.not_after.is_some(),
            "{cert:?}"
        );
        let types: Vec<&str> = st.conditions.iter().map(|c| c.type_.as_str()).collect();
        ensure!(
            types
                == [
                    "Ready",
                    "DatabaseReady",
                    "BackendReady",
                    "FrontendReady",
                    "CertificateReady",
                    "BackupHealthy"
                ],
            "conditions {types:?}"
        );
        for cond in &st.conditions {
            ensure!(
                cond.observed_generation == sys.metadata.generation,
                "{cond:?}"
            );
            ensure!(
                !cond.message.is_empty() && !cond.reason.is_empty(),
                "condition without reason/message: {cond:?}"
            );
        }
        // Health probes ran and say what they found (on kwok nothing listens, so not Healthy).
        let comps: Vec<&str> = st.health.iter().map(|h| h.component.as_str()).collect();
        ensure!(comps == ["ulm", "aam"], "status.health {:?}", st.health);
        // The bring-up applied every child without a failed round: no apply error Event.
        // (Applied beside its Role, AAM's RoleBinding got a 404 on nearly every new
        // system — the API server checks a binding against the Role it names — and the
        // first reconcile failed, was retried 5 s later, and said so as a Warning.)
        let failed: Vec<String> = reconcile_failures(&c, &ns, n)
            .await?
            .into_iter()
            .map(|(note, _)| note)
            .filter(|note| note.contains("apply "))
            .collect();
        ensure!(
            failed.is_empty(),
            "the bring-up of a new system failed to apply a child: {failed:?}"
        );
        Ok(())
    })
    .await;
}

/// The Events with `reason` the operator posted on system `n`.
async fn system_events(
    c: &Cluster,
    ns: &str,
    n: &str,
    reason: &str,
) -> anyhow::Result<Vec<k8s_openapi::api::events::v1::Event>> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c.client.clone(), ns);
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(n)
        })
        .collect())
}

/// The `ReconcileFailed` Events the operator posted on system `n`: each Event object's note
/// and how many times it happened (`series.count`).
async fn reconcile_failures(c: &Cluster, ns: &str, n: &str) -> anyhow::Result<Vec<(String, i32)>> {
    Ok(system_events(c, ns, n, "ReconcileFailed")
        .await?
        .into_iter()
        .map(|e| {
            (
                e.note.unwrap_or_default(),
                e.series.map(|s| s.count).unwrap_or(1),
            )
        })
        .collect())
}

/// Delete `n` and wait until the object is gone (the operator removed its finalizer).
async fn delete_system(c: &Cluster, ns: &str, n: &str) -> anyhow::Result<()> {
    c.systems(ns).delete(n, &DeleteParams::default()).await?;
    let api = c.systems(ns);
    wait_for(soon(), &format!("OvuSystem {n} to be gone"), || {
        let api = api.clone();
        async move {
            Ok(match api.get_opt(n).await? {
                None => Ok(()),
                Some(s) => Err(format!(
                    "still there, finalizers {:?}",
                    s.metadata.finalizers
                )),
            })
        }
    })
    .await
}

#[tokio::test]
async fn deletion_with_retain_keeps_data_and_the_garbage_collector_removes_the_rest() {
    with_temp_ns("retain", true, |c, ns| async move {
        let n = "keep";
        c.create(
            &ns,
            &system(n, "keep.example.com", json!({"deletionPolicy": "Retain"})),
        )
        .await?;
        c.wait_ready(&ns, n, ready()).await?;
        delete_system(&c, &ns, n).await?;
        let children = expected_children(n);
        let c2 = c.clone();
        let ns2 = ns.clone();
        wait_for(
            soon(),
            "the garbage collector to remove the owned children",
            || {
                let (c, ns, children) = (c2.clone(), ns2.clone(), children.clone());
                async move {
                    for (kind, name, owned) in &children {
                        if *owned && c.get_obj(&ns, kind, name).await?.is_some() {
                            return Ok(Err(format!("{kind} {name} still exists")));
                        }
                    }
                    Ok(Ok(()))
                }
            },
        )
        .await?;
        for (kind, name, owned) in &children {
            if !owned {
                ensure!(
                    c.get_obj(&ns, kind, name).await?.is_some(),
                    "Retain lost {kind} {name}"
                );
            }
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn deletion_with_delete_removes_the_volumes_and_data_secrets() {
    with_temp_ns("delete", true, |c, ns| async move {
        let n = "gone";
        c.create(
            &ns,
            &system(n, "gone.example.com", json!({"deletionPolicy": "Delete"})),
        )
        .await?;
        c.wait_ready(&ns, n, ready()).await?;
        let x = Names::new(n);
        for (kind, name) in [
            ("PersistentVolumeClaim", x.postgres_data_pvc()),
            ("PersistentVolumeClaim", x.backup_pvc()),
        ] {
            ensure!(
                c.get_obj(&ns, kind, &name).await?.is_some(),
                "{kind} {name} missing before delete"
            );
        }
        delete_system(&c, &ns, n).await?;
        let (c2, ns2) = (c.clone(), ns.clone());
        wait_for(soon(), "the data to be deleted", || {
            let (c, ns) = (c2.clone(), ns2.clone());
            async move {
                let x = Names::new(n);
                for (kind, name) in [
                    ("PersistentVolumeClaim", x.postgres_data_pvc()),
                    ("PersistentVolumeClaim", x.backup_pvc()),
                    ("Secret", x.postgres_secret()),
                    ("Secret", x.bootstrap_admin_secret()),
                    ("StatefulSet", x.of(Component::Postgres)),
                ] {
                    if let Some(o) = c.get_obj(&ns, kind, &name).await? {
                        return Ok(Err(format!(
                            "{kind} {name} still exists (deleting: {})",
                            o.metadata.deletion_timestamp.is_some()
                        )));
                    }
                }
                Ok(Ok(()))
            }
        })
        .await
    })
    .await;
}

#[tokio::test]
async fn a_deleted_deployment_is_restored() {
    with_temp_ns("drift-deploy", true, |c, ns| async move {
        let n = "drift";
        c.create(&ns, &system(n, "drift.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;
        let ulm = Names::new(n).of(Component::Ulm);
        let old = deployment(&c, &ns, &ulm).await?.metadata.uid;
        c.delete_obj(&ns, "Deployment", &ulm).await?;
        let (c2, ns2) = (c.clone(), ns.clone());
        wait_for(soon(), &format!("Deployment {ulm} to come back"), || {
            let (c, ns, old, ulm) = (c2.clone(), ns2.clone(), old.clone(), ulm.clone());
            async move {
                Ok(match c.get_obj(&ns, "Deployment", &ulm).await? {
                    Some(d) if d.metadata.uid != old && d.metadata.deletion_timestamp.is_none() => {
                        Ok(())
                    }
                    Some(_) => Err("the old one is still there".into()),
                    None => Err("absent".into()),
                })
            }
        })
        .await?;
        c.wait_ready(&ns, n, ready()).await?;
        Ok(())
    })
    .await;
}

/// Edit Service `drift-ulm` with a JSON patch and wait until the operator has put back port
/// 8001 and the ulm selector.
async fn edited_service_is_restored(prefix: &str, patch: serde_json::Value) {
    with_temp_ns(prefix, true, |c, ns| async move {
        let n = "drift";
        c.create(&ns, &system(n, "drift.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;
        let svcs: Api<Service> = Api::namespaced(c.client.clone(), &ns);
        let port = |s: &Service| {
            s.spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .map(|p| p.iter().map(|p| p.port).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let ulm = Names::new(n).of(Component::Ulm);
        let ulm_port = names::ports::ULM;
        ensure!(port(&svcs.get(&ulm).await?) == [ulm_port]);
        c.kubectl(&[
            "-n",
            &ns,
            "patch",
            "service",
            &ulm,
            "--type=json",
            "-p",
            &patch.to_string(),
        ])?;
        wait_for(soon(), &format!("Service {ulm} to be repaired"), || {
            let (svcs, ulm) = (svcs.clone(), ulm.clone());
            async move {
                let s = svcs.get(&ulm).await?;
                let sel = s
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .unwrap_or_default();
                Ok(
                    if port(&s) == [ulm_port]
                        && sel.get(names::COMPONENT_LABEL).map(String::as_str)
                            == Some(Component::Ulm.as_str())
                    {
                        Ok(())
                    } else {
                        Err(format!("ports {:?}, selector {sel:?}", port(&s)))
                    },
                )
            }
        })
        .await?;
        c.wait_ready(&ns, n, ready()).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn an_edited_service_selector_is_restored() {
    edited_service_is_restored(
        "drift-svc-sel",
        json!([{
            "op": "replace",
            // JSON pointer: `/` in the label key is written `~1`.
            "path": format!("/spec/selector/{}", names::COMPONENT_LABEL.replace('/', "~1")),
            "value": Component::Aam.as_str(),
        }]),
    )
    .await;
}

#[tokio::test]
async fn an_edited_service_port_is_restored() {
    // Service ports are a list keyed by port number: the edited entry belongs to another
    // field manager, so re-applying ours alone does not remove it.
    edited_service_is_restored(
        "drift-svc-port",
        json!([{"op": "replace", "path": "/spec/ports/0/port", "value": 9999}]),
    )
    .await;
}

#[tokio::test]
async fn a_deleted_nginx_configmap_is_restored() {
    with_temp_ns("drift-cm", true, |c, ns| async move {
        let n = "drift";
        c.create(&ns, &system(n, "drift.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;
        let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
        let before = cms.get("drift-nginx").await?;
        cms.delete("drift-nginx", &DeleteParams::default()).await?;
        let old_uid = before.metadata.uid.clone();
        let restored = wait_for(soon(), "ConfigMap drift-nginx to come back", || {
            let (cms, old_uid) = (cms.clone(), old_uid.clone());
            async move {
                Ok(match cms.get_opt("drift-nginx").await? {
                    Some(cm) if cm.metadata.uid != old_uid => Ok(cm),
                    Some(_) => Err("the old one is still there".into()),
                    None => Err("absent".into()),
                })
            }
        })
        .await?;
        ensure!(
            restored.metadata.uid != before.metadata.uid,
            "same ConfigMap"
        );
        ensure!(
            restored.data == before.data,
            "restored nginx config differs from the original"
        );
        Ok(())
    })
    .await;
}

/// The `SMTP_*` variables of ULM's container, name=value, in order.
async fn smtp_env(c: &Cluster, ns: &str, ulm: &str) -> anyhow::Result<Vec<String>> {
    let d = deployment(c, ns, ulm).await?;
    let env = d
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.into_iter().find(|c| c.name == "ulm"))
        .and_then(|c| c.env)
        .unwrap_or_default();
    Ok(env
        .into_iter()
        .filter(|e| e.name.starts_with("SMTP_"))
        .map(|e| format!("{}={}", e.name, e.value.unwrap_or_default()))
        .collect())
}

/// A section removed from the spec takes what it rendered with it: `spec.mail` removed
/// leaves ULM no SMTP server to send to. (Its variables are the last of ULM's list, which
/// the operator once judged "already there" because the live list held every rendered one.)
#[tokio::test]
async fn a_removed_mail_section_leaves_no_smtp_settings() {
    with_temp_ns("mail-off", true, |c, ns| async move {
        let n = "mailoff";
        let mail = json!({"mail": {"smtp": {"host": "smtp.example.com", "port": 2525, "tls": "None"},
            "from": "no-reply@example.com"}});
        c.create(&ns, &system(n, "mail.example.com", mail)).await?;
        c.wait_ready(&ns, n, ready()).await?;
        let ulm = Names::new(n).of(Component::Ulm);
        let before = smtp_env(&c, &ns, &ulm).await?;
        ensure!(
            before.contains(&"SMTP_HOST=smtp.example.com".to_string())
                && before.contains(&"SMTP_PORT=2525".to_string()),
            "ULM was not given the mail settings: {before:?}"
        );
        c.patch_system(&ns, n, json!({"spec": {"mail": null}})).await?;
        let (c2, ns2) = (c.clone(), ns.clone());
        wait_for(soon(), "ULM's SMTP_* variables to go", || {
            let (c, ns, ulm) = (c2.clone(), ns2.clone(), ulm.clone());
            async move {
                let left = smtp_env(&c, &ns, &ulm).await?;
                Ok(if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("still there: {left:?}"))
                })
            }
        })
        .await?;
        c.wait_ready(&ns, n, ready()).await?;
        Ok(())
    })
    .await;
}

/// The MonitoringReady condition as "status/reason".
async fn monitoring_condition(c: &Cluster, ns: &str, n: &str) -> anyhow::Result<String> {
    let st = c.get_system(ns, n).await?.status.unwrap_or_default();
    Ok(st
        .conditions
        .iter()
        .find(|c| c.type_ == "MonitoringReady")
        .map(|c| format!("{}/{}", c.status, c.reason))
        .unwrap_or_else(|| "absent".into()))
}

/// Wait until MonitoringReady reads `want` and the PodMonitor `exists` (or not).
async fn wait_monitoring(
    c: &Cluster,
    ns: &str,
    n: &str,
    want: &str,
    exists: bool,
) -> anyhow::Result<()> {
    let pm = Names::new(n).pod_monitor();
    let (c2, ns2, n2, want2) = (c.clone(), ns.to_string(), n.to_string(), want.to_string());
    wait_for(
        soon() * 2,
        &format!("MonitoringReady {want}, PodMonitor there: {exists}"),
        || {
            let (c, ns, n, want, pm) = (
                c2.clone(),
                ns2.clone(),
                n2.clone(),
                want2.clone(),
                pm.clone(),
            );
            async move {
                let cond = monitoring_condition(&c, &ns, &n).await?;
                // A read while the API is gone fails; that is "no PodMonitor".
                let there = c
                    .kubectl(&["get", "podmonitor", "-n", &ns, &pm, "-o", "name"])
                    .is_ok();
                Ok(if cond == want && there == exists {
                    Ok(())
                } else {
                    Err(format!("MonitoringReady {cond}, PodMonitor there: {there}"))
                })
            }
        },
    )
    .await
}

/// prometheus-operator installed after the operator started, and removed again: the
/// operator notices both by itself (no restart), makes the PodMonitor once its API is
/// served — prometheus-operator's own CRD, so the real schema accepts what the operator
/// renders — and says so in MonitoringReady; the system stays Ready throughout.
#[tokio::test]
async fn the_podmonitor_follows_prometheus_operator_coming_and_going() {
    with_temp_ns("monitoring", true, |c, ns| async move {
        let crd_file = std::env::var("OVU_E2E_PODMONITOR_CRD").context(
            "OVU_E2E_PODMONITOR_CRD is not set: e2e/run generates prometheus-operator's PodMonitor CRD (scripts/podmonitor-crd) and sets it",
        )?;
        let crd = "podmonitors.monitoring.coreos.com";
        // A cluster kept from an earlier run may have it: start without.
        c.kubectl(&["delete", "crd", crd, "--ignore-not-found", "--wait=true"])?;
        let n = "mon";
        c.create(
            &ns,
            &system(n, "mon.example.com", json!({"monitoring": {"podMonitor": true}})),
        )
        .await?;
        c.wait_ready(&ns, n, ready()).await?;
        wait_monitoring(&c, &ns, n, "False/PodMonitorAPIMissing", false).await?;

        c.kubectl(&["apply", "--server-side", "-f", &crd_file])?;
        wait_monitoring(&c, &ns, n, "True/PodMonitorApplied", true).await?;
        let pm = c.kubectl(&[
            "get", "podmonitor", "-n", &ns, &Names::new(n).pod_monitor(), "-o",
            "jsonpath={.spec.podMetricsEndpoints[*].port}",
        ])?;
        ensure!(!pm.trim().is_empty(), "the PodMonitor names no port: {pm:?}");
        c.wait_ready(&ns, n, ready()).await?;

        c.kubectl(&["delete", "crd", crd, "--wait=true"])?;
        wait_monitoring(&c, &ns, n, "False/PodMonitorAPIMissing", false).await?;
        c.wait_ready(&ns, n, ready()).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn replicas_image_and_domain_changes_are_followed() {
    with_temp_ns("changes", true, |c, ns| async move {
        let n = "chg";
        c.create(&ns, &system(n, "old.example.com", json!({})))
            .await?;
        let before = c.wait_ready(&ns, n, ready()).await?;
        // Watch the object from before the change, so every status write after it arrives
        // as an event (a poll could miss a short Progressing).
        let api = c.systems(&ns);
        let mut events = Box::pin(kube::runtime::watcher::watch_object(api.clone(), n));
        // The first item comes after the initial list: the watch now covers what follows.
        tokio::time::timeout(soon(), events.next())
            .await
            .context("no first event from the OvuSystem watch")?;
        c.patch_system(
            &ns,
            n,
            json!({"spec": {
                "domain": "new.example.com",
                "backend": {"ulm": {"replicas": 3}, "aam": {"image": "ovu/aam:0.2.0"}},
            }}),
        )
        .await?;
        let generation = api.get(n).await?.metadata.generation;
        // Record the phases (and Ready reasons) the status goes through for the new
        // generation, until it is Ready.
        let mut seen: Vec<String> = Vec::new();
        let deadline = tokio::time::Instant::now() + ready();
        let after = loop {
            let ev = tokio::time::timeout_at(deadline, events.next())
                .await
                .map_err(|_| anyhow::anyhow!("not Ready after the change; seen {seen:?}"))?
                .context("the watch ended")?
                .context("watch error")?
                .context("the OvuSystem is gone")?;
            if let Some(st) = &ev.status
                && st.observed_generation == generation
            {
                let reason = st
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .map(|c| c.reason.clone())
                    .unwrap_or_default();
                let p = format!("{:?}/{reason}", st.phase);
                if seen.last() != Some(&p) {
                    seen.push(p);
                }
            }
            if ovu_e2e::ready_verdict(&ev).is_ok() {
                break ev;
            }
        };
        // The rollout showed: Progressing with a reason naming a tier that rolls out, then
        // Ready (the last state seen).
        let rolling = seen
            .iter()
            .position(|p| p.starts_with("Some(Progressing)/") && p.ends_with("RollingOut"));
        ensure!(
            rolling.is_some(),
            "no Progressing/<Tier>RollingOut status for generation {generation:?}: {seen:?}"
        );
        ensure!(
            seen.last().is_some_and(|p| p.starts_with("Some(Ready)/")),
            "{seen:?}"
        );
        eprintln!(
            "phases for generation {:?}: {seen:?}",
            after.metadata.generation
        );
        ensure!(after.metadata.generation > before.metadata.generation);

        let ulm = deployment(&c, &ns, &Names::new(n).of(Component::Ulm)).await?;
        ensure!(
            ulm.spec.as_ref().and_then(|s| s.replicas) == Some(3),
            "ulm replicas {:?}",
            ulm.spec.map(|s| s.replicas)
        );
        wait_pods(&c, &ns, n, &[("ulm", 3)]).await?;
        let aam = deployment(&c, &ns, &Names::new(n).of(Component::Aam)).await?;
        let pod_spec = aam
            .spec
            .and_then(|s| s.template.spec)
            .context("aam has no pod spec")?;
        let images: Vec<String> = pod_spec
            .containers
            .iter()
            .chain(pod_spec.init_containers.iter().flatten())
            .filter_map(|c| c.image.clone())
            .collect();
        ensure!(
            !images.is_empty() && images.iter().all(|i| i == "ovu/aam:0.2.0"),
            "aam images {images:?}"
        );

        let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
        let conf = cms
            .get("chg-nginx")
            .await?
            .data
            .unwrap_or_default()
            .into_values()
            .collect::<Vec<_>>()
            .join("\n");
        ensure!(
            conf.contains("ulm.new.example.com") && !conf.contains("old.example.com"),
            "nginx config still names the old domain"
        );
        let st = after.status.context("no status")?;
        let ep = st.endpoints.context("no endpoints")?;
        ensure!(ep.ulm == "https://ulm.new.example.com", "{ep:?}");
        // The status names what the pods are set to run: the changed image, the others as
        // the spec or the operator's defaults have them.
        let images = st.images.clone().context("no status.images")?;
        ensure!(
            images.aam == "ovu/aam:0.2.0"
                && images.ulm == "ovu/ulm:0.1.0"
                && images.web == "ovu/web:0.1.0",
            "{images:?}"
        );
        let tiers = st.tiers.context("no tiers")?;
        ensure!(
            tiers.backend.desired == 5,
            "backend desired {:?}",
            tiers.backend
        );
        // The serving certificate must name the new sites.
        let secret = c
            .get_obj(&ns, "Secret", &Names::new(n).tls_secret())
            .await?
            .context("no TLS Secret")?;
        let crt = secret
            .data
            .pointer("/data/tls.crt")
            .and_then(|v| v.as_str())
            .context("no tls.crt")?;
        let sans = subject_alt_names(crt)?;
        ensure!(
            sans.contains("DNS:ulm.new.example.com"),
            "certificate SANs after the domain change: {sans}"
        );
        Ok(())
    })
    .await;
}

/// The subjectAltName extension of a base64 PEM certificate, as openssl prints it.
fn subject_alt_names(b64_pem: &str) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let pem = String::from_utf8(base64_decode(b64_pem)?)?;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running openssl")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(pem.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "openssl could not read the certificate"
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn base64_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    let v: k8s_openapi::ByteString = serde_json::from_value(json!(s))?;
    Ok(v.0)
}

#[tokio::test]
async fn paused_means_no_writes_until_unpaused() {
    with_temp_ns("paused", true, |c, ns| async move {
        let n = "still";
        c.create(&ns, &system(n, "still.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;
        c.patch_system(&ns, n, json!({"spec": {"paused": true}}))
            .await?;
        let api = c.systems(&ns);
        wait_for(soon(), "phase Paused", || {
            let api = api.clone();
            async move {
                let s = api.get(n).await?;
                let st = s.status.unwrap_or_default();
                Ok(
                    if st.phase == Some(Phase::Paused)
                        && st.observed_generation == s.metadata.generation
                    {
                        Ok(())
                    } else {
                        Err(format!("phase {:?}", st.phase))
                    },
                )
            }
        })
        .await?;
        let before = c.child_versions(&ns, n).await?;
        // Drift and a spec change the operator would act on if it were not paused.
        c.delete_obj(&ns, "ConfigMap", "still-nginx").await?;
        c.patch_system(
            &ns,
            n,
            json!({"spec": {"backend": {"ulm": {"replicas": 4}}}}),
        )
        .await?;
        // Waited for, not slept: the operator has looked at both changes once it records the
        // new generation (still Paused), so any write it would make is made by then.
        wait_for(
            soon(),
            "the paused operator observes the new generation",
            || {
                let api = api.clone();
                async move {
                    let s = api.get(n).await?;
                    let st = s.status.unwrap_or_default();
                    Ok(
                        if st.phase == Some(Phase::Paused)
                            && st.observed_generation == s.metadata.generation
                        {
                            Ok(())
                        } else {
                            Err(format!(
                                "phase {:?}, observed generation {:?} of {:?}",
                                st.phase, st.observed_generation, s.metadata.generation
                            ))
                        },
                    )
                }
            },
        )
        .await?;
        let mut after = c.child_versions(&ns, n).await?;
        ensure!(
            after.remove("ConfigMap/still-nginx").is_none(),
            "the paused operator restored the ConfigMap"
        );
        let mut expected = before.clone();
        expected.remove("ConfigMap/still-nginx");
        let changed: Vec<&String> = expected
            .keys()
            .filter(|k| after.get(*k) != expected.get(*k))
            .collect();
        ensure!(
            changed.is_empty(),
            "children written while paused: {changed:?}"
        );
        ensure!(
            after.len() == expected.len(),
            "children appeared while paused: {after:?}"
        );

        c.patch_system(&ns, n, json!({"spec": {"paused": false}}))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;
        ensure!(
            c.get_obj(&ns, "ConfigMap", "still-nginx").await?.is_some(),
            "ConfigMap not restored after unpausing"
        );
        let ulm = deployment(&c, &ns, &Names::new(n).of(Component::Ulm)).await?;
        ensure!(
            ulm.spec.and_then(|s| s.replicas) == Some(4),
            "replicas not followed after unpausing"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_no_op_resync_writes_nothing() {
    with_temp_ns("noop", true, |c, ns| async move {
        let n = "quiet";
        c.create(&ns, &system(n, "quiet.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;
        settle(&c, &ns, n).await?;
        // Snapshot, then make the operator reconcile without a spec change.
        let before = c.child_versions(&ns, n).await?;
        let metrics = std::env::var("OVU_E2E_OPERATOR_METRICS").ok();
        let reconciles_before = match &metrics {
            Some(m) => Some(metric_sum(
                &metrics_text(m).await?,
                "ovu_operator_reconciles_total",
                &[],
            )),
            None => None,
        };
        // Every create or apply of a child is an `Applied` Event of the system: a no-op resync
        // must send none, not even for an apply the API server turns into a no-op (an
        // unchanged resourceVersion hides it: until 2026-12-06 every reconcile re-applied the
        // PostgreSQL StatefulSet, whose atomic volumeClaimTemplates carry server defaults).
        let applied_before = applied_events(&c, &ns, n).await?;
        c.patch_system(
            &ns,
            n,
            json!({"metadata": {"annotations": {"e2e.ovu.co.il/nudge": "1"}}}),
        )
        .await?;
        let rv_after_nudge = c.get_system(&ns, n).await?.resource_version();
        tokio::time::sleep(Duration::from_secs(8)).await;
        if let (Some(m), Some(b)) = (&metrics, reconciles_before) {
            let after = metric_sum(
                &metrics_text(m).await?,
                "ovu_operator_reconciles_total",
                &[],
            );
            ensure!(
                after > b,
                "the operator did not reconcile after the annotation ({b} → {after})"
            );
        }
        let applied = applied_events(&c, &ns, n).await?;
        ensure!(
            applied == applied_before,
            "a no-op resync applied children: Applied Events {applied_before:?} → {applied:?}"
        );
        let after = c.child_versions(&ns, n).await?;
        let changed: Vec<String> = before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k} {v} → {:?}", after.get(k)))
            .collect();
        ensure!(
            changed.is_empty() && after.len() == before.len(),
            "a no-op resync wrote: {changed:?}"
        );
        let rv_now = c.get_system(&ns, n).await?.resource_version();
        ensure!(
            rv_now == rv_after_nudge,
            "the resync rewrote the OvuSystem (status churn): {rv_after_nudge:?} → {rv_now:?}"
        );
        Ok(())
    })
    .await;
}

/// The system's `Applied` Events (one per reconcile that created or applied children):
/// name → (resourceVersion, message). A new emission is a new name or a new resourceVersion.
async fn applied_events(
    c: &Cluster,
    ns: &str,
    system: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, (String, String)>> {
    Ok(system_events(c, ns, system, "Applied")
        .await?
        .into_iter()
        .map(|e| {
            (
                e.metadata.name.unwrap_or_default(),
                (
                    e.metadata.resource_version.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                ),
            )
        })
        .collect())
}

/// Wait until neither the children nor the OvuSystem have changed for 5 seconds (Deployment
/// status, the first health probe and the like have settled).
async fn settle(c: &Cluster, ns: &str, n: &str) -> anyhow::Result<()> {
    let snapshot = || async {
        let mut v = c.child_versions(ns, n).await?;
        v.insert(
            "OvuSystem".into(),
            c.get_system(ns, n)
                .await?
                .resource_version()
                .unwrap_or_default(),
        );
        Ok::<_, anyhow::Error>(v)
    };
    let start = std::time::Instant::now();
    let mut prev = snapshot().await?;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = snapshot().await?;
        if now == prev {
            return Ok(());
        }
        if start.elapsed() > ready() {
            bail!(
                "children still change after {:?}: {prev:?} → {now:?}",
                ready()
            );
        }
        prev = now;
    }
}

/// Wait until a backup Job named by `pick` has completed; returns its name.
async fn wait_backup_job(
    c: &Cluster,
    ns: &str,
    n: &str,
    what: &str,
    timeout: Duration,
    pick: impl Fn(&Job) -> bool + Clone,
) -> anyhow::Result<String> {
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), ns);
    let lp = ListParams::default().labels(&names::component_selector(n, Component::Backup));
    wait_for(timeout, what, || {
        let (jobs, lp, pick) = (jobs.clone(), lp.clone(), pick.clone());
        async move {
            let list = jobs.list(&lp).await?;
            let done = list.items.iter().filter(|j| pick(j)).find(|j| {
                j.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Complete" && c.status == "True")
                    })
            });
            Ok(match done {
                Some(j) => Ok(j.name_any()),
                None => Err(format!(
                    "jobs: {:?}",
                    list.items.iter().map(|j| j.name_any()).collect::<Vec<_>>()
                )),
            })
        }
    })
    .await
}

#[tokio::test]
async fn scheduled_backups_run_and_status_records_them() {
    with_temp_ns("backup-cron", true, |c, ns| async move {
        let n = "bk";
        c.create(
            &ns,
            &system(
                n,
                "bk.example.com",
                json!({"database": {"backup": {"schedule": "* * * * *"}}}),
            ),
        )
        .await?;
        c.wait_ready(&ns, n, ready()).await?;
        // The CronJob controller starts a Job within the minute; kwok (or a real node) runs it.
        let job = wait_backup_job(
            &c,
            &ns,
            n,
            "a scheduled backup Job to complete",
            patience(Duration::from_secs(150)),
            |j| {
                j.owner_references()
                    .iter()
                    .any(|o| o.kind == "CronJob" && o.name == Names::new(n).backup_cronjob())
            },
        )
        .await?;
        let api = c.systems(&ns);
        let st = wait_for(
            patience(Duration::from_secs(120)),
            "status.backup to record the backup",
            || {
                let api = api.clone();
                async move {
                    let st = api.get(n).await?.status.unwrap_or_default();
                    let b = st.backup.clone().unwrap_or_default();
                    let healthy = st
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "BackupHealthy" && c.status == "True");
                    Ok(
                        if b.last_schedule_time.is_some()
                            && b.last_success_time.is_some()
                            && b.last_backup.is_some()
                            && healthy
                        {
                            Ok(st)
                        } else {
                            Err(format!(
                                "backup status {b:?}, BackupHealthy {:?}",
                                st.conditions.iter().find(|c| c.type_ == "BackupHealthy")
                            ))
                        },
                    )
                }
            },
        )
        .await?;
        let last = st.backup.and_then(|b| b.last_backup).unwrap_or_default();
        ensure!(
            last.starts_with(&format!("{}-", Names::new(n).backup_cronjob())),
            "lastBackup {last:?} (a completed Job: {job})"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn backup_now_runs_a_backup_and_status_records_it() {
    with_temp_ns("backup-now", true, |c, ns| async move {
        let n = "bn";
        c.create(&ns, &system(n, "bn.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;
        for request in ["first", "second"] {
            // The Jobs that exist before the request: read first, because the operator may
            // create the new Job before a read that follows the patch.
            let seen = c.child_versions(&ns, n).await?;
            let known: Vec<String> = seen
                .keys()
                .filter(|k| k.starts_with("Job/"))
                .cloned()
                .collect();
            c.patch_system(
                &ns,
                n,
                json!({"metadata": {"annotations": {BACKUP_NOW_ANNOTATION: request}}}),
            )
            .await?;
            let job = wait_backup_job(
                &c,
                &ns,
                n,
                &format!("the on-demand backup {request:?}"),
                patience(Duration::from_secs(90)),
                move |j| {
                    j.name_any() == Names::new(n).backup_now_job(request)
                        && !known.contains(&format!("Job/{}", j.name_any()))
                },
            )
            .await?;
            let api = c.systems(&ns);
            let job2 = job.clone();
            wait_for(
                soon(),
                "status.backup to record the on-demand backup",
                || {
                    let (api, job) = (api.clone(), job2.clone());
                    async move {
                        let b = api
                            .get(n)
                            .await?
                            .status
                            .unwrap_or_default()
                            .backup
                            .unwrap_or_default();
                        Ok(
                            // verify defaults on: the Job test-restored its backup.
                            if b.last_requested.as_deref() == Some(request)
                                && b.last_backup.as_deref() == Some(job.as_str())
                                && b.last_success_time.is_some()
                                && b.last_verified_time == b.last_success_time
                            {
                                Ok(())
                            } else {
                                Err(format!("{b:?}"))
                            },
                        )
                    }
                },
            )
            .await?;
            if nodes() == Nodes::Real {
                // The real pg_dump and the real test restore, into a scratch database that is
                // gone again (kwok completes Job pods without running them).
                let log = c.succeeded_job_log(&ns, &job).await?;
                for db in ["ulm_db", "aam_db"] {
                    ensure!(
                        log.contains(&format!("verified {db}: a test restore holds all")),
                        "no test restore of {db} in the backup log:\n{log}"
                    );
                }
                let scratch = c.kubectl(&[
                    "-n",
                    &ns,
                    "exec",
                    &Names::new(n).postgres_pod(),
                    "-c",
                    "postgres",
                    "--",
                    "sh",
                    "-c",
                    "PGPASSWORD=\"$(cat /etc/ovu/postgres-secrets/superuser-password)\" psql -h /var/run/postgresql -U postgres -XtAc \"SELECT count(*) FROM pg_database WHERE datname LIKE 'ovu_verify_%'\"",
                ])?;
                ensure!(
                    scratch.trim() == "0",
                    "scratch databases left: {scratch}"
                );
            }
        }
        // Exactly one Job per request: a resync does not start another.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let jobs: Api<Job> = Api::namespaced(c.client.clone(), &ns);
        let on_demand = jobs
            .list(&instance(n))
            .await?
            .items
            .into_iter()
            .filter(|j| j.name_any().starts_with(&format!("{n}-backup-now-")))
            .count();
        ensure!(
            on_demand == 2,
            "{on_demand} on-demand Jobs for two requests"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_new_system_starts_from_the_backup_of_a_deleted_one() {
    with_temp_ns("restore", true, |c, ns| async move {
        // The old system, backed up on demand, then deleted (Retain keeps its backups).
        let old = "old";
        c.create(&ns, &system(old, "old.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, old, ready()).await?;
        c.patch_system(
            &ns,
            old,
            json!({"metadata": {"annotations": {BACKUP_NOW_ANNOTATION: "before-move"}}}),
        )
        .await?;
        wait_backup_job(
            &c,
            &ns,
            old,
            "the backup of the old system",
            patience(Duration::from_secs(90)),
            |j| j.name_any() == Names::new(old).backup_now_job("before-move"),
        )
        .await?;
        delete_system(&c, &ns, old).await?;
        let old_backups = Names::new(old).backup_pvc();
        ensure!(
            c.get_obj(&ns, "PersistentVolumeClaim", &old_backups)
                .await?
                .is_some(),
            "the old system's backups are gone"
        );

        // The new system restores the latest backup before ULM and AAM start.
        let n = "new";
        c.create(
            &ns,
            &system(
                n,
                "new.example.com",
                json!({"database": {"restore": {"fromClaim": old_backups}}}),
            ),
        )
        .await?;
        let ready_sys = c.wait_ready(&ns, n, ready()).await?;
        let restore = ready_sys
            .status
            .and_then(|s| s.restore)
            .context("no status.restore")?;
        ensure!(
            restore.source == format!("{old_backups}/latest"),
            "{restore:?}"
        );
        let done = restore.completed_time.context("restore not completed")?;
        let jobs: Api<Job> = Api::namespaced(c.client.clone(), &ns);
        let job = jobs.get(&Names::new(n).restore_job()).await?;
        let finished = job
            .status
            .as_ref()
            .and_then(|s| s.completion_time.clone())
            .context("the restore Job has no completion time")?;
        let ulm = deployment(&c, &ns, &Names::new(n).of(Component::Ulm)).await?;
        let ulm_created = ulm
            .metadata
            .creation_timestamp
            .context("no creationTimestamp")?;
        ensure!(
            ulm_created.0 >= finished.0 && done.0 >= finished.0,
            "ULM was created at {:?}, the restore finished at {:?} (recorded {:?})",
            ulm_created.0,
            finished.0,
            done.0
        );

        if ovu_e2e::nodes() == ovu_e2e::Nodes::Real {
            // Real PostgreSQL: the old system's users are in the new database, and since the
            // old bootstrap admin is an active super-admin, ULM made no second one.
            let log = c
                .succeeded_job_log(&ns, &Names::new(n).restore_job())
                .await?;
            // No try spent on a server not yet reachable: the restore waits for it.
            let failed = job.status.as_ref().and_then(|s| s.failed).unwrap_or(0);
            ensure!(
                failed == 0,
                "{failed} restore pods failed before one succeeded; the one that did said: {log}"
            );
            ensure!(
                log.contains("ulm_db restored from") && log.contains("restore complete"),
                "restore log: {log}"
            );
            let emails = c.kubectl(&[
                "-n",
                &ns,
                "exec",
                &Names::new(n).postgres_pod(),
                "-c",
                "postgres",
                "--",
                "sh",
                "-c",
                "PGPASSWORD=\"$(cat /etc/ovu/postgres-secrets/superuser-password)\" psql -h /var/run/postgresql -U postgres -d ulm_db -tAc \"SELECT email FROM users ORDER BY email\"",
            ])?;
            ensure!(
                emails.lines().any(|l| l.trim() == "admin@old.example.com"),
                "the old system's admin is not in the restored database: {emails:?}"
            );
            ensure!(
                !emails.contains("admin@new.example.com"),
                "ULM bootstrapped a second admin over the restored one: {emails:?}"
            );
        }
        Ok(())
    })
    .await;
}

/// A ConfigMap someone else made under the name the system's nginx config would take is not
/// overwritten: the system says whose name is taken in its Ready condition, and takes the name
/// once the stranger's object is gone.
#[tokio::test]
async fn a_strangers_object_is_never_adopted() {
    with_temp_ns("foreign", true, |c, ns| async move {
        let n = "foreign";
        let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
        let theirs: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "foreign-nginx", "labels": {"team": "web"}},
            "data": {"nginx.conf": "# someone else's"},
        }))?;
        cms.create(&Default::default(), &theirs).await?;
        c.create(&ns, &system(n, "foreign.example.com", json!({})))
            .await?;
        let msg = wait_for(soon(), "a ForeignObject condition", || {
            let systems = c.systems(&ns);
            async move {
                let s = systems.get(n).await?;
                let ready = s
                    .status
                    .map(|st| st.conditions)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|cd| cd.type_ == "Ready");
                Ok(match ready {
                    Some(r) if r.reason == "ForeignObject" => Ok(r.message),
                    other => Err(format!("Ready is {other:?}")),
                })
            }
        })
        .await?;
        ensure!(
            msg.contains("ConfigMap foreign-nginx")
                && msg.contains("not managed by this OvuSystem"),
            "{msg}"
        );
        // Each retry fails the same way: one Warning, counted as a series on one Event
        // object, not an object per retry (kube's recorder keyed its memory by the
        // system's resourceVersion, so the status write after the first failure made the
        // second a new object; and it held every event for six minutes).
        let objects = wait_for(
            soon(),
            "three ReconcileFailed Events naming the ConfigMap",
            || {
                let (c, ns) = (&c, ns.as_str());
                async move {
                    let objs: Vec<(String, i32)> = reconcile_failures(c, ns, n)
                        .await?
                        .into_iter()
                        .filter(|(note, _)| note.contains("ConfigMap foreign-nginx"))
                        .collect();
                    let seen: i32 = objs.iter().map(|(_, c)| c).sum();
                    Ok(if seen >= 3 {
                        Ok(objs)
                    } else {
                        Err(format!("{seen} so far: {objs:?}"))
                    })
                }
            },
        )
        .await?;
        ensure!(
            objects.len() == 1,
            "the same failure made {} Event objects: {objects:?}",
            objects.len()
        );
        let still = cms.get("foreign-nginx").await?;
        ensure!(
            still.data == theirs.data && still.labels().get(names::INSTANCE_LABEL).is_none(),
            "the stranger's ConfigMap was changed: {:?}",
            still.data
        );
        cms.delete("foreign-nginx", &DeleteParams::default())
            .await?;
        wait_for(soon(), "the system's own nginx ConfigMap", || {
            let cms = cms.clone();
            async move {
                Ok(match cms.get_opt("foreign-nginx").await? {
                    Some(cm)
                        if cm.labels().get(names::INSTANCE_LABEL).map(String::as_str)
                            == Some(n) =>
                    {
                        Ok(())
                    }
                    Some(_) => Err("still the stranger's".into()),
                    None => Err("absent".into()),
                })
            }
        })
        .await?;
        Ok(())
    })
    .await;
}

/// A restore reads only a volume OVU made for backups: naming some other claim stops the
/// system with a message saying so, and no restore Job ever mounts it.
#[tokio::test]
async fn a_restore_refuses_a_claim_that_is_not_an_ovu_backup() {
    with_temp_ns("stray-claim", true, |c, ns| async move {
        let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
            Api::namespaced(c.client.clone(), &ns);
        let claim = serde_json::from_value(json!({
            "metadata": {"name": "app-data", "labels": {names::COMPONENT_LABEL: Component::Backup.as_str()}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }))?;
        claims.create(&Default::default(), &claim).await?;
        let n = "stray";
        c.create(
            &ns,
            &system(
                n,
                "stray.example.com",
                json!({"database": {"restore": {"fromClaim": "app-data"}}}),
            ),
        )
        .await?;
        // The restore step runs once the database serves.
        wait_for(ready(), "the status to refuse the claim", || {
            let systems = c.systems(&ns);
            async move {
                let status = serde_json::to_string(&systems.get(n).await?.status)?;
                Ok(if status.contains("PersistentVolumeClaim app-data is not an OVU backup volume") {
                    Ok(())
                } else {
                    Err(status)
                })
            }
        })
        .await?;
        ensure!(
            c.get_obj(&ns, "Job", &Names::new(n).restore_job()).await?.is_none(),
            "a restore Job was made for a stranger's claim"
        );
        Ok(())
    })
    .await;
}

/// Wait until the condition `type_` of system `n` is False for the current generation with
/// reason `reason` and a message holding every one of `fragments`; returns that message and
/// the system's `status.message`.
async fn wait_tier(
    c: &Cluster,
    ns: &str,
    n: &str,
    (type_, reason): (&str, &str),
    fragments: &[&str],
    timeout: Duration,
) -> anyhow::Result<(String, String)> {
    wait_for(
        timeout,
        &format!("{type_} of {n}: {reason}, {fragments:?}"),
        || {
            let systems = c.systems(ns);
            async move {
                let s = systems.get(n).await?;
                let st = s.status.clone().unwrap_or_default();
                let cond = st.conditions.iter().find(|c| c.type_ == type_);
                Ok(match cond {
                    Some(cd)
                        if cd.status == "False"
                            && cd.reason == reason
                            && cd.observed_generation == s.metadata.generation
                            && fragments.iter().all(|f| cd.message.contains(f)) =>
                    {
                        Ok((cd.message.clone(), st.message.clone().unwrap_or_default()))
                    }
                    other => Err(format!("{other:?}; status.message {:?}", st.message)),
                })
            }
        },
    )
    .await
}

/// Issue 17: a pod the scheduler cannot place is named in its tier's condition with the
/// scheduler's own words, not only in Events: no node carries the tier label; a volume claim
/// of a storage class that does not exist. Runs on kwok too (the scheduler is real).
#[tokio::test]
async fn a_pod_without_a_node_or_a_volume_is_named_in_the_tier_condition() {
    with_temp_ns("unschedulable", true, |c, ns| async move {
        c.create(
            &ns,
            &system(
                "nonode",
                "nonode.example.com",
                json!({"placement": {"nodeLabel": "ovu.co.il/e2e-no-such-tier"}}),
            ),
        )
        .await?;
        c.create(
            &ns,
            &system(
                "noclass",
                "noclass.example.com",
                json!({"database": {"postgres": {"storage": {"storageClassName": "ovu-e2e-no-such-class"}}}}),
            ),
        )
        .await?;
        let (message, overall) = wait_tier(
            &c,
            &ns,
            "nonode",
            ("DatabaseReady", "Unschedulable"),
            &[
                &format!(
                    "postgres: 0 of 1 ready — pod {} Pending: 0/",
                    Names::new("nonode").postgres_pod()
                ),
                "nodes are available",
                // Redis is stuck the same way, and named too.
                "redis: 0 of 1 ready — pod nonode-redis-",
            ],
            soon(),
        )
        .await?;
        // The scheduler's own reason: tainted tier nodes refuse a pod that tolerates only the
        // label it was given (real nodes); untainted ones do not match its node selector.
        ensure!(
            message.contains("untolerated taint") || message.contains("node affinity/selector"),
            "the scheduler's reason is missing: {message}"
        );
        ensure!(
            overall.starts_with("waiting for the database tier: ")
                && overall.contains(&format!(
                    "{} Pending: 0/",
                    Names::new("nonode").postgres_pod()
                )),
            "{overall}"
        );
        // Only PostgreSQL has a volume: Redis serves.
        wait_tier(
            &c,
            &ns,
            "noclass",
            ("DatabaseReady", "Unschedulable"),
            &[
                "redis 1/1",
                &format!(
                    "postgres: 0 of 1 ready — pod {} Pending",
                    Names::new("noclass").postgres_pod()
                ),
            ],
            soon(),
        )
        .await?;
        Ok(())
    })
    .await;
}

/// Skip a test that needs containers to really run (kwok starts none).
fn real_nodes_only(test: &str) -> bool {
    if nodes() == Nodes::Real {
        return true;
    }
    eprintln!("\n!!! SKIPPED {test}: needs real nodes (e2e/run --mode real) !!!\n");
    false
}

/// Issue 17: an image that cannot be pulled and a container that keeps exiting are named in
/// the tier condition, with the image, instead of "postgres 0/1 … 0 of 1 ready".
#[tokio::test]
async fn an_image_that_cannot_be_pulled_and_a_crashing_container_are_named() {
    if !real_nodes_only("an_image_that_cannot_be_pulled_and_a_crashing_container_are_named") {
        return;
    }
    with_temp_ns("pull-crash", true, |c, ns| async move {
        // Nothing listens on port 1 of this machine: the pull fails at once, and no registry
        // outside is asked.
        let missing = "127.0.0.1:1/ovu/postgres:9.9";
        // The PostgreSQL image has a shell but no redis-server: Redis exits with 127.
        let no_redis = std::env::var("OVU_E2E_POSTGRES_IMAGE")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "ovu/postgres-local:16".into());
        let n = "stuck";
        c.create(
            &ns,
            &system(
                n,
                "stuck.example.com",
                json!({"database": {"postgres": {"image": missing}, "redis": {"image": no_redis}}}),
            ),
        )
        .await?;
        // PostgreSQL comes first in the tier: its reason is the condition's.
        let (_, overall) = wait_tier(
            &c,
            &ns,
            n,
            ("DatabaseReady", "ImagePullBackOff"),
            &[
                &format!(
                    "pod {}: init container bootstrap: ImagePullBackOff: cannot pull image {missing} (",
                    Names::new(n).postgres_pod()
                ),
                &format!("redis: 0 of 1 ready — pod {n}-redis-"),
                &format!(
                    "container redis ({no_redis}) keeps exiting (CrashLoopBackOff): exit code 127"
                ),
            ],
            soon(),
        )
        .await?;
        ensure!(
            overall.contains(&format!("cannot pull image {missing}")),
            "{overall}"
        );
        Ok(())
    })
    .await;
}

/// Issue 17: a failing init container is named with its exit code: PostgreSQL's `bootstrap`
/// (run with an image that has no initdb) and ULM's `migrate` (an image without `ovu-ulm`).
#[tokio::test]
async fn a_failing_init_container_is_named() {
    if !real_nodes_only("a_failing_init_container_is_named") {
        return;
    }
    with_temp_ns("init-fails", true, |c, ns| async move {
        let no_initdb = std::env::var("OVU_E2E_REDIS_IMAGE")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "ovu/redis-local:7".into());
        c.create(
            &ns,
            &system(
                "noinitdb",
                "noinitdb.example.com",
                json!({"database": {"postgres": {"image": no_initdb}}}),
            ),
        )
        .await?;
        // The AAM image has no ovu-ulm: ULM's migrate cannot even start.
        c.create(
            &ns,
            &system(
                "nomigrate",
                "nomigrate.example.com",
                json!({"backend": {"ulm": {"image": "ovu/aam:0.1.0"}}}),
            ),
        )
        .await?;
        wait_tier(
            &c,
            &ns,
            "noinitdb",
            ("DatabaseReady", "InitContainerFailed"),
            &[&format!(
                "pod {}: init container bootstrap ({no_initdb}) failed: exit code 127",
                Names::new("noinitdb").postgres_pod()
            )],
            soon(),
        )
        .await?;
        // The backend comes after the database's bring-up.
        let (_, overall) = wait_tier(
            &c,
            &ns,
            "nomigrate",
            ("BackendReady", "InitContainerFailed"),
            &[
                // Two ULM pods by default: one is named, the other counted.
                &format!(
                    "rolling out ulm: 0 of 2 ready — pod {}-",
                    Names::new("nomigrate").of(Component::Ulm)
                ),
                "(and 1 more pod)",
                "init container migrate (ovu/aam:0.1.0) failed: exit code 128 (StartError)",
                "ovu-ulm",
            ],
            ready(),
        )
        .await?;
        ensure!(
            overall.starts_with("waiting for the backend tier")
                && overall.contains("init container migrate"),
            "{overall}"
        );
        Ok(())
    })
    .await;
}

/// A certificate a user brings (`tls.mode: Secret`) for the system's names (or `names`),
/// valid from `from` to `until` seconds from now; with `key_of` another certificate's key.
fn user_tls_secret(
    name: &str,
    names: &[String],
    from: i64,
    until: i64,
    key_of_other: bool,
) -> Secret {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut p = rcgen::CertificateParams::new(names.to_vec()).expect("names");
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::seconds(from);
    p.not_after = now + time::Duration::seconds(until);
    let cert = p.self_signed(&key).expect("self-signed");
    let key_pem = if key_of_other {
        rcgen::KeyPair::generate().expect("key").serialize_pem()
    } else {
        key.serialize_pem()
    };
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        string_data: Some(BTreeMap::from([
            ("tls.crt".to_string(), cert.pem()),
            ("tls.key".to_string(), key_pem),
        ])),
        ..Default::default()
    }
}

/// CertificateReady as "status/reason: message".
async fn certificate_condition(c: &Cluster, ns: &str, n: &str) -> anyhow::Result<String> {
    let st = c.get_system(ns, n).await?.status.unwrap_or_default();
    Ok(st
        .conditions
        .iter()
        .find(|c| c.type_ == "CertificateReady")
        .map(|c| format!("{}/{}: {}", c.status, c.reason, c.message))
        .unwrap_or_else(|| "absent".into()))
}

/// `tls.mode: Secret` with a certificate the user brings: one that has expired, one for other
/// names, and one whose key is not its own are each named in CertificateReady, and the system
/// does not claim Ready; a good one makes it Ready with its expiry in the status. (Before,
/// any Secret with both keys was "SecretPresent" and nginx was left to fail on it.)
#[tokio::test]
async fn a_user_certificate_that_is_expired_misnamed_or_not_its_keys_is_named() {
    with_temp_ns("user-cert", true, |c, ns| async move {
        let n = "usercert";
        let domain = "cert.example.com";
        let all: Vec<String> = ["", "www.", "ulm.", "aam.", "api."]
            .iter()
            .map(|p| format!("{p}{domain}"))
            .collect();
        let secrets: Api<Secret> = Api::namespaced(c.client.clone(), &ns);
        let put = |s: Secret| {
            let secrets = secrets.clone();
            async move {
                let pp = kube::api::PatchParams::apply("ovu-e2e").force();
                secrets
                    .patch("shop-tls", &pp, &kube::api::Patch::Apply(&s))
                    .await
                    .context("writing Secret shop-tls")
            }
        };
        put(user_tls_secret("shop-tls", &all, -7200, -3600, false)).await?;
        c.create(
            &ns,
            &system(
                n,
                domain,
                json!({"frontend": {"tls": {"mode": "Secret", "secretName": "shop-tls"}}}),
            ),
        )
        .await?;
        let expect = |reason: &'static str, words: &'static str| {
            let (c, ns) = (c.clone(), ns.clone());
            async move {
                wait_for(soon(), &format!("CertificateReady {reason}"), || {
                    let (c, ns) = (c.clone(), ns.clone());
                    async move {
                        let now = certificate_condition(&c, &ns, n).await?;
                        Ok(
                            if now.starts_with(&format!("False/{reason}: ")) && now.contains(words)
                            {
                                Ok(())
                            } else {
                                Err(now)
                            },
                        )
                    }
                })
                .await?;
                let phase = c.get_system(&ns, n).await?.status.unwrap_or_default().phase;
                ensure!(phase != Some(Phase::Ready), "Ready with a bad certificate");
                anyhow::Ok(())
            }
        };
        expect("CertificateExpired", "Secret shop-tls: tls.crt expired at").await?;
        put(user_tls_secret("shop-tls", &all[..3], -60, 86400, false)).await?;
        expect(
            "CertificateWrongNames",
            "does not cover aam.cert.example.com, api.cert.example.com",
        )
        .await?;
        put(user_tls_secret("shop-tls", &all, -60, 86400, true)).await?;
        expect(
            "CertificateKeyMismatch",
            "tls.key is not the private key of tls.crt",
        )
        .await?;
        put(user_tls_secret("shop-tls", &all, -60, 86400, false)).await?;
        let s = c.wait_ready(&ns, n, ready()).await?;
        let cond = certificate_condition(&c, &ns, n).await?;
        ensure!(cond.starts_with("True/SecretPresent"), "{cond}");
        let not_after = s
            .status
            .unwrap_or_default()
            .certificate
            .and_then(|c| c.not_after);
        let left = not_after
            .as_ref()
            .map(|t| {
                t.0.duration_since(k8s_openapi::jiff::Timestamp::now())
                    .as_secs()
            })
            .unwrap_or_default();
        ensure!(
            (86000..=86400).contains(&left),
            "status.certificate.notAfter should be the certificate's, ~1 day ahead: {not_after:?}"
        );
        Ok(())
    })
    .await;
}

/// `tls.mode: CertManager` against real cert-manager (v1.11.5 from its Go module; e2e/run
/// runs its controller): a CA ClusterIssuer with a CA made here issues the system's
/// certificate; the system goes Ready with CertificateReady `Issued` and the certificate's
/// expiry in its status, and the Secret nginx mounts holds a certificate for the system's
/// names that this CA signed.
#[tokio::test]
async fn cert_manager_issues_the_certificate_from_a_ca_cluster_issuer() {
    with_temp_ns("cm-ca", true, |c, ns| async move {
        let n = "cmca";
        let issuer = format!("ovu-e2e-{ns}");
        let key = rcgen::KeyPair::generate()?;
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "OVU e2e CA");
        let ca = p.self_signed(&key)?;
        // A ClusterIssuer's Secret lives in cert-manager's cluster resource namespace.
        let cm_secrets: Api<Secret> = Api::namespaced(c.client.clone(), "cert-manager");
        let ca_secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(issuer.clone()),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            string_data: Some(BTreeMap::from([
                ("tls.crt".to_string(), ca.pem()),
                ("tls.key".to_string(), key.serialize_pem()),
            ])),
            ..Default::default()
        };
        cm_secrets
            .create(&Default::default(), &ca_secret)
            .await
            .context("creating the CA Secret")?;
        let gvk = kube::api::GroupVersionKind::gvk("cert-manager.io", "v1", "ClusterIssuer");
        let issuers: Api<kube::api::DynamicObject> =
            Api::all_with(c.client.clone(), &kube::api::ApiResource::from_gvk(&gvk));
        let obj: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": issuer},
            "spec": {"ca": {"secretName": issuer}},
        }))?;
        issuers
            .create(&Default::default(), &obj)
            .await
            .context("creating the ClusterIssuer")?;

        let outcome = async {
            let tls = json!({"frontend": {"tls": {"mode": "CertManager",
                "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}}}});
            c.create(&ns, &system(n, "cm.example.com", tls)).await?;
            let s = c.wait_ready(&ns, n, ready()).await?;
            let cond = certificate_condition(&c, &ns, n).await?;
            ensure!(cond.starts_with("True/Issued"), "CertificateReady: {cond}");
            let cert = s.status.unwrap_or_default().certificate.unwrap_or_default();
            ensure!(
                cert.not_after.is_some(),
                "no expiry in the status: {cert:?}"
            );
            let secret = Api::<Secret>::namespaced(c.client.clone(), &ns)
                .get(&Names::new(n).tls_secret())
                .await
                .context("reading the issued Secret")?;
            let data = secret.data.unwrap_or_default();
            let text = |k: &str| {
                data.get(k)
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    .unwrap_or_default()
            };
            ensure!(
                text("ca.crt").trim() == ca.pem().trim(),
                "the Secret's ca.crt is not the ClusterIssuer's CA"
            );
            ensure!(
                text("tls.crt").contains("BEGIN CERTIFICATE")
                    && text("tls.key").contains("PRIVATE KEY"),
                "the Secret holds no certificate and key"
            );
            anyhow::Ok(())
        }
        .await;
        // Cluster-scoped, so the namespace's deletion does not take them.
        let _ = issuers.delete(&issuer, &DeleteParams::default()).await;
        let _ = cm_secrets.delete(&issuer, &DeleteParams::default()).await;
        outcome
    })
    .await;
}
