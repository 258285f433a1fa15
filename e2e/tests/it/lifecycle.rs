//! The operator process itself: killed in the middle of a bring-up and restarted, and two
//! replicas side by side (one leader through the Lease, no conflicting writes, takeover when
//! the leader dies). These tests start their own operators, so no other operator may hold the
//! Lease while they run (e2e/run stops its own first); they take turns.

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams};
use ovu_crds::names::{Component, Names};
use ovu_e2e::operator::{OperatorProcess, metric_sum};
use ovu_e2e::{Cluster, OPERATOR_NAMESPACE, OPERATOR_SA, patience, system, wait_for, with_temp_ns};
use serde_json::json;
use tokio::sync::Mutex;

/// Both tests use the one Lease: run them one at a time even without --test-threads=1.
static TURN: Mutex<()> = Mutex::const_new(());

const LEASE_SECONDS: u64 = 5;
/// A system's bring-up (three times as long on real nodes: see `patience`).
fn ready() -> Duration {
    patience(Duration::from_secs(180))
}

/// Wait until nobody holds the Lease (an earlier operator released it or it expired).
async fn lease_free(c: &Cluster) -> anyhow::Result<()> {
    wait_for(
        patience(Duration::from_secs(40)),
        "the operator Lease to be free",
        || async {
            Ok(match c.lease_holder().await? {
                None => Ok(()),
                Some(h) => Err(format!(
                    "held by {h}: another operator runs against this cluster"
                )),
            })
        },
    )
    .await
}

async fn wait_holder(c: &Cluster, who: &[&str]) -> anyhow::Result<String> {
    let who: Vec<String> = who.iter().map(|s| s.to_string()).collect();
    wait_for(
        patience(Duration::from_secs(60)),
        &format!("one of {who:?} to lead"),
        || {
            let who = who.clone();
            async move {
                Ok(match c.lease_holder().await? {
                    Some(h) if who.contains(&h) => Ok(h),
                    other => Err(format!("holder {other:?}")),
                })
            }
        },
    )
    .await
}

async fn transitions(c: &Cluster) -> anyhow::Result<i32> {
    let api: Api<Lease> = Api::namespaced(c.client.clone(), OPERATOR_NAMESPACE);
    Ok(api
        .get(OPERATOR_SA)
        .await?
        .spec
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0))
}

/// Delete the system while an operator still runs, so its finalizer is removed.
async fn delete_and_wait(c: &Cluster, ns: &str, n: &str) -> anyhow::Result<()> {
    c.systems(ns).delete(n, &DeleteParams::default()).await?;
    wait_for(
        patience(Duration::from_secs(60)),
        "the OvuSystem to be gone",
        || async {
            Ok(match c.systems(ns).get_opt(n).await? {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            })
        },
    )
    .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_bring_up_converges() {
    let _turn = TURN.lock().await;
    with_temp_ns("restart", false, |c, ns| async move {
        lease_free(&c).await?;
        let id_a = unique("e2e-a");
        let mut a = OperatorProcess::start(&id_a, LEASE_SECONDS)?;
        wait_holder(&c, &[&id_a]).await?;
        let before = transitions(&c).await?;

        let n = "rst";
        let x = Names::new(n);
        c.create(&ns, &system(n, "rst.example.com", json!({})))
            .await?;
        // Kill it as soon as it has started writing children, before it is done.
        let start = std::time::Instant::now();
        let secret = loop {
            if let Some(s) = c.get_obj(&ns, "Secret", &x.postgres_secret()).await? {
                break s;
            }
            if start.elapsed() > patience(Duration::from_secs(60)) {
                bail!("operator A wrote nothing in 60 s:\n{}", a.log_tail(30));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        a.kill()?;
        let phase_at_kill = c.get_system(&ns, n).await?.status.and_then(|s| s.phase);
        eprintln!("killed operator A with phase {phase_at_kill:?}");

        let id_b = unique("e2e-b");
        let mut b = OperatorProcess::start(&id_b, LEASE_SECONDS)?;
        wait_holder(&c, &[&id_b]).await?;
        ensure!(
            transitions(&c).await? > before,
            "leaseTransitions did not move on takeover"
        );
        let result = async {
            c.wait_ready(&ns, n, ready()).await?;
            // Secrets are generated once: the restart did not replace the one A made.
            let now = c
                .get_obj(&ns, "Secret", &x.postgres_secret())
                .await?
                .context("the PostgreSQL Secret is gone")?;
            ensure!(
                now.metadata.uid == secret.metadata.uid
                    && now.data.get("data") == secret.data.get("data"),
                "the PostgreSQL credentials changed across the restart"
            );
            for kind_name in [
                ("StatefulSet", x.of(Component::Postgres)),
                ("Deployment", x.of(Component::Ulm)),
                ("Deployment", x.of(Component::Frontend)),
                ("CronJob", x.backup_cronjob()),
            ] {
                ensure!(
                    c.get_obj(&ns, kind_name.0, &kind_name.1).await?.is_some(),
                    "{kind_name:?} missing"
                );
            }
            delete_and_wait(&c, &ns, n).await
        }
        .await;
        if result.is_err() {
            eprintln!("operator B log:\n{}", b.log_tail(40));
        }
        b.stop().await?;
        result
    })
    .await;
}

#[tokio::test]
async fn two_replicas_elect_one_leader_write_without_conflicts_and_fail_over() {
    let _turn = TURN.lock().await;
    with_temp_ns("leader", false, |c, ns| async move {
        lease_free(&c).await?;
        let (id_a, id_b) = (unique("e2e-a"), unique("e2e-b"));
        let a = OperatorProcess::start(&id_a, LEASE_SECONDS)?;
        let b = OperatorProcess::start(&id_b, LEASE_SECONDS)?;
        let holder = wait_holder(&c, &[&id_a, &id_b]).await?;
        let (mut leader, mut standby) = if holder == id_a { (a, b) } else { (b, a) };

        let result = async {
            // Both serve metrics; exactly one says it leads.
            let lm = wait_for(
                patience(Duration::from_secs(20)),
                "the leader's metrics",
                || async {
                    let m = leader.metrics().await?;
                    Ok(if metric_sum(&m, "ovu_operator_leader", &[]) == 1.0 {
                        Ok(m)
                    } else {
                        Err("leader gauge not 1".into())
                    })
                },
            )
            .await?;
            // Both are ready: the standby to take over, the leader once its cache has synced
            // (a leader that never reports ready holds every rollout of the Deployment).
            wait_for(
                patience(Duration::from_secs(30)),
                "the leader's /readyz 200",
                || async {
                    let code = leader.readyz().await?;
                    Ok(if code == 200 {
                        Ok(())
                    } else {
                        Err(format!("/readyz {code}"))
                    })
                },
            )
            .await?;
            anyhow::ensure!(standby.readyz().await? == 200, "the standby is not ready");
            let sm = standby.metrics().await?;
            ensure!(
                metric_sum(&sm, "ovu_operator_leader", &[]) == 0.0,
                "the standby claims to lead:\n{sm}"
            );
            drop(lm);

            let n = "dup";
            c.create(&ns, &system(n, "dup.example.com", json!({})))
                .await?;
            c.wait_ready(&ns, n, ready()).await?;
            let sm = standby.metrics().await?;
            ensure!(
                metric_sum(&sm, "ovu_operator_reconciles_total", &[]) == 0.0,
                "the standby reconciled:\n{}",
                standby.log_tail(20)
            );
            let lm = leader.metrics().await?;
            let conflicts = metric_sum(
                &lm,
                "ovu_operator_reconcile_failures_total",
                &["reason=\"conflict\""],
            );
            ensure!(
                conflicts == 0.0,
                "{conflicts} conflicting writes:\n{}",
                leader.log_tail(30)
            );

            // The leader dies without releasing the Lease; the standby takes over and acts.
            let before = transitions(&c).await?;
            leader.kill()?;
            wait_holder(&c, &[&standby.identity]).await?;
            ensure!(
                transitions(&c).await? > before,
                "leaseTransitions did not move"
            );
            c.patch_system(
                &ns,
                n,
                json!({"spec": {"backend": {"ulm": {"replicas": 3}}}}),
            )
            .await?;
            c.wait_ready(&ns, n, ready()).await?;
            let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);
            let replicas = deps
                .get(&Names::new(n).of(Component::Ulm))
                .await?
                .spec
                .and_then(|s| s.replicas);
            ensure!(
                replicas == Some(3),
                "the new leader did not follow the change: replicas {replicas:?}"
            );
            let sm = standby.metrics().await?;
            ensure!(
                metric_sum(&sm, "ovu_operator_leader", &[]) == 1.0,
                "the new leader's gauge is not 1"
            );
            let conflicts = metric_sum(
                &sm,
                "ovu_operator_reconcile_failures_total",
                &["reason=\"conflict\""],
            );
            ensure!(
                conflicts == 0.0,
                "{conflicts} conflicting writes after the takeover"
            );
            ensure!(standby.running(), "the new leader exited");
            delete_and_wait(&c, &ns, n).await
        }
        .await;
        if result.is_err() {
            eprintln!(
                "standby/new leader {} log:\n{}",
                standby.identity,
                standby.log_tail(40)
            );
        }
        standby.stop().await?;
        drop(leader);
        result
    })
    .await;
}
