//! Installing the operator and the API server's validation of OvuSystems: the CRD and
//! manifests apply, `kubectl explain` and `kubectl get ovu` show what we documented, and every
//! validation rule of the schema refuses a bad spec with a message a person can act on.

use std::time::Duration;

use anyhow::ensure;
use ovu_crds::examples::{InvalidSpec, invalid_specs};
use ovu_e2e::{Cluster, api_message, patience, system, with_temp_ns};
use serde_json::json;

#[tokio::test]
async fn crds_and_manifests_apply() {
    with_temp_ns("install", false, |c, _ns| async move {
        // The CRD directory as a user would apply it.
        let out = c.kubectl(&["apply", "-f", "crds/"])?;
        ensure!(
            out.contains("customresourcedefinition.apiextensions.k8s.io/ovusystems.ovu.co.il"),
            "kubectl apply -f crds/ said: {out}"
        );
        // The manifests are applied for real by e2e/run (the operator's ServiceAccount must
        // exist before it starts, and the in-cluster Deployment is then scaled to 0 because the
        // tests run the operator as a local process). Here the server checks the whole install
        // again without undoing that scale-down.
        let out = c.kubectl(&["apply", "-k", "manifests/", "--dry-run=server"])?;
        for obj in [
            "namespace/ovu-system",
            "serviceaccount/ovu-operator",
            "clusterrole.rbac.authorization.k8s.io/ovu-operator",
            "clusterrolebinding.rbac.authorization.k8s.io/ovu-operator",
            "role.rbac.authorization.k8s.io/ovu-operator-leader",
            "rolebinding.rbac.authorization.k8s.io/ovu-operator-leader",
            "deployment.apps/ovu-operator",
            "ingressclass.networking.k8s.io/ovu",
        ] {
            ensure!(
                out.contains(obj),
                "kubectl apply -k manifests/ did not list {obj}: {out}"
            );
        }
        // What e2e/run applied is there.
        c.kubectl(&[
            "-n",
            "ovu-system",
            "get",
            "serviceaccount/ovu-operator",
            "deployment/ovu-operator",
        ])?;
        c.kubectl(&[
            "get",
            "clusterrole/ovu-operator",
            "clusterrolebinding/ovu-operator",
        ])?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn explain_shows_the_field_docs() {
    with_temp_ns("explain", false, |c, _ns| async move {
        let out = c.kubectl(&["explain", "ovusystem.spec"])?;
        for text in [
            "The public DNS domain",
            "deletionPolicy",
            "paused",
            "placement",
            "Stop reconciling",
        ] {
            ensure!(
                out.contains(text),
                "kubectl explain ovusystem.spec lacks {text:?}:\n{out}"
            );
        }
        let out = c.kubectl(&["explain", "ovusystem.spec.database.backup.schedule"])?;
        ensure!(out.contains("5-field cron expression"), "{out}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn get_ovu_shows_the_printer_columns() {
    with_temp_ns("columns", true, |c, ns| async move {
        c.create(&ns, &system("shop", "shop.example.com", json!({})))
            .await?;
        let header = c.kubectl(&["-n", &ns, "get", "ovu"])?;
        let first = header.lines().next().unwrap_or_default().to_string();
        let cols: Vec<&str> = first.split_whitespace().collect();
        ensure!(
            cols == ["NAME", "PHASE", "READY", "DOMAIN", "LAST", "BACKUP", "AGE"],
            "kubectl get ovu header: {first:?}"
        );
        c.wait_ready(&ns, "shop", patience(Duration::from_secs(120)))
            .await?;
        let out = c.kubectl(&["-n", &ns, "get", "ovu", "shop", "--no-headers"])?;
        let row: Vec<&str> = out.split_whitespace().collect();
        ensure!(
            row.len() >= 5 && row[..4] == ["shop", "Ready", "True", "shop.example.com"],
            "kubectl get ovu row: {out:?}"
        );
        Ok(())
    })
    .await;
}

/// Every case of the shared table of invalid specs (`ovu_crds::examples::invalid_specs`, which
/// the crate's offline tests run against the Rust twins of the rules) is refused by the API
/// server with a 422 whose message names the field and says what is wrong. All cases run; the
/// failures are reported together.
#[tokio::test]
async fn every_invalid_spec_is_refused() {
    with_temp_ns("invalid", false, |c, ns| async move {
        let cases = invalid_specs();
        let mut failures = Vec::new();
        for case in &cases {
            if let Err(e) = refused(&c, &ns, case).await {
                failures.push(format!("{} ({}): {e:#}", case.case, case.patch));
            }
        }
        ensure!(
            failures.is_empty(),
            "{} of {} invalid specs were not refused as expected:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
        Ok(())
    })
    .await;
}

/// Create the case's object (for a transition case: create it valid, then patch it) and
/// expect the API server to refuse it with a message containing every fragment of `case.api`.
async fn refused(c: &Cluster, ns: &str, case: &InvalidSpec) -> anyhow::Result<()> {
    let outcome = match &case.created_with {
        None => c
            .try_create(
                ns,
                &system(&case.system, "ovu.example.com", case.patch.clone()),
            )
            .await
            .map(drop),
        Some(before) => {
            c.create(ns, &system(&case.system, "ovu.example.com", before.clone()))
                .await?;
            c.raw_systems(ns)
                .patch(
                    &case.system,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(json!({"spec": case.patch})),
                )
                .await
                .map(drop)
        }
    };
    let Err(e) = outcome else {
        anyhow::bail!("the API server accepted it");
    };
    let msg = api_message(&e)?;
    ensure!(msg.contains("(422)"), "expected 422 Invalid, got {msg}");
    for want in &case.api {
        ensure!(msg.contains(want), "message {msg:?} lacks {want:?}");
    }
    // Readable: no Go or regex internals leak.
    ensure!(
        !msg.contains("self.matches"),
        "message shows the CEL rule: {msg}"
    );
    Ok(())
}

#[tokio::test]
async fn a_valid_full_spec_is_accepted() {
    // The counterpart of the refusals: the documented full sample passes every rule.
    with_temp_ns("v-full", false, |c, ns| async move {
        c.kubectl(&[
            "-n",
            &ns,
            "apply",
            "--dry-run=server",
            "-f",
            "manifests/samples/ovusystem-full.yaml",
        ])?;
        c.kubectl(&[
            "-n",
            &ns,
            "apply",
            "--dry-run=server",
            "-f",
            "manifests/samples/ovusystem.yaml",
        ])?;
        Ok(())
    })
    .await;
}
