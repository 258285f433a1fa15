//! `kubectl ovu restore`: a new OvuSystem that starts from a backup of an existing one, as
//! docs/contracts.md defines restores: the source's spec, with
//! `spec.database.restore = {fromClaim: <source>-backups, backup: <name or latest>}`.

use anyhow::bail;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::ResourceExt as _;
use kube::api::{Api, ObjectMeta, PostParams};
use ovu_crds::names::Names;
use ovu_crds::{OvuSystem, Restore};

use crate::backup::{self, Resolved};
use crate::{Ctx, api_err, out, progress};

/// The new system's name must be one the CRD accepts; said before anything is read.
pub fn check_new_name(name: &str) -> anyhow::Result<()> {
    if !ovu_crds::rules::is_system_name(name) {
        bail!(
            "--into {name:?} is not a valid OvuSystem name: a DNS label of at most 40 characters starting with a letter (lowercase letters, digits, hyphens)"
        );
    }
    Ok(())
}

/// The OvuSystem to create, and what was changed from the source besides the restore (to
/// be said). Fixed node ports are dropped: two Services cannot hold the same node port, and
/// the source still holds them. A paused source's copy is not paused: it would never restore.
pub fn build(
    source: &OvuSystem,
    new_name: &str,
    resolved: &Resolved,
    domain: Option<&str>,
) -> (OvuSystem, Vec<String>) {
    let mut spec = source.spec.clone();
    let mut notes = Vec::new();
    spec.database.restore = Some(Restore {
        from_claim: Some(Names::new(&source.name_any()).backup_pvc()),
        from_bucket: None,
        backup: resolved.backup.clone(),
    });
    if let Some(d) = domain {
        spec.domain = d.to_string();
    }
    // Two live systems uploading to one bucket folder would apply their retention to each
    // other's backups.
    if let Some(d) = spec.database.backup.destination.take() {
        notes.push(format!(
            "backup.destination ({}) stays with {}: set another bucket or prefix for the new system's off-site copies",
            d.s3.object_url(""),
            source.name_any()
        ));
    }
    let exposure = &mut spec.frontend.exposure;
    let fixed: Vec<String> = [
        exposure.http_node_port.take(),
        exposure.https_node_port.take(),
    ]
    .into_iter()
    .flatten()
    .map(|p| p.to_string())
    .collect();
    if !fixed.is_empty() {
        notes.push(format!(
            "node ports {} stay with {}: Kubernetes picks the new system's (set spec.frontend.exposure.*NodePort to fix them)",
            fixed.join(", "),
            source.name_any()
        ));
    }
    if spec.paused {
        spec.paused = false;
        notes.push(format!(
            "{} is paused; the new system is not (a paused system would never restore)",
            source.name_any()
        ));
    }
    let mut sys = OvuSystem::new(new_name, spec);
    sys.metadata = ObjectMeta {
        name: Some(new_name.to_string()),
        namespace: source.namespace(),
        ..Default::default()
    };
    (sys, notes)
}

pub async fn run(
    ctx: &Ctx,
    source: &OvuSystem,
    from: &str,
    into: &str,
    domain: Option<&str>,
) -> anyhow::Result<()> {
    let systems: Api<OvuSystem> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    match systems.get_opt(into).await {
        Ok(Some(_)) => bail!(
            "OvuSystem {}/{into} already exists: a restore creates a new system (choose another --into, or delete {into} first)",
            ctx.namespace
        ),
        Ok(None) => {}
        Err(e) => bail!(
            "cannot check for OvuSystem {}/{into}: {}",
            ctx.namespace,
            api_err(&e)
        ),
    }
    if let Some(d) = domain
        && !ovu_crds::rules::is_domain(d)
    {
        bail!(
            "--domain {d:?} is not a domain: {}",
            ovu_crds::rules::MSG_DOMAIN
        );
    }
    let claim = Names::new(&source.name_any()).backup_pvc();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    match pvcs.get_opt(&claim).await {
        Ok(Some(_)) => {}
        Ok(None) => bail!(
            "the backup volume {}/{claim} does not exist: {} has no backups to restore",
            ctx.namespace,
            source.name_any()
        ),
        Err(e) => bail!(
            "cannot read PersistentVolumeClaim {}/{claim}: {}",
            ctx.namespace,
            api_err(&e)
        ),
    }
    let (rows, log_problem) = backup::known_rows(ctx, source).await?;
    let resolved = backup::resolve(from, &rows).map_err(|e| match &log_problem {
        Some(p) => anyhow::anyhow!(
            "{e:#} (backup names are read from the Jobs' logs, which cannot be read here: {p})"
        ),
        None => e,
    })?;
    if let Some(note) = &resolved.note {
        progress(&format!("note: {note}"));
    }
    let (new, notes) = build(source, into, &resolved, domain);
    for n in &notes {
        progress(&format!("note: {n}"));
    }
    systems
        .create(&PostParams::default(), &new)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot create OvuSystem {}/{into}: {}",
                ctx.namespace,
                api_err(&e)
            )
        })?;
    out(&format!(
        "created OvuSystem {}/{into} restoring {claim}/{} (domain {}); follow it with: kubectl ovu status {into} -n {}\n",
        ctx.namespace, resolved.backup, new.spec.domain, ctx.namespace
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(spec: serde_json::Value) -> OvuSystem {
        serde_json::from_value(json!({
            "apiVersion": ovu_crds::API_VERSION,
            "kind": "OvuSystem",
            "metadata": {"name": "shop", "namespace": "prod", "uid": "1", "resourceVersion": "9",
                         "annotations": {ovu_crds::BACKUP_NOW_ANNOTATION: "x"}},
            "spec": spec,
            "status": {"phase": "Ready"},
        }))
        .unwrap()
    }

    fn resolved(b: &str) -> Resolved {
        Resolved {
            backup: b.into(),
            note: None,
        }
    }

    #[test]
    fn the_new_system_is_the_source_spec_with_a_restore() {
        let src = source(
            json!({"domain": "shop.example.com", "backend": {"ulm": {"image": "ovu/ulm:0.1.0", "replicas": 3}}}),
        );
        let (new, notes) = build(&src, "shop2", &resolved("20261203T020000Z"), None);
        assert!(notes.is_empty(), "{notes:?}");
        let v = serde_json::to_value(&new).unwrap();
        assert_eq!(v["apiVersion"], ovu_crds::API_VERSION);
        assert_eq!(v["kind"], "OvuSystem");
        // Only a name and namespace: no uid, resourceVersion, or the source's backup request.
        assert_eq!(v["metadata"], json!({"name": "shop2", "namespace": "prod"}));
        assert!(v.get("status").is_none_or(|s| s.is_null()), "{v}");
        assert_eq!(
            v["spec"]["database"]["restore"],
            json!({"fromClaim": "shop-backups", "backup": "20261203T020000Z"})
        );
        let mut want = src.spec.clone();
        want.database.restore = new.spec.database.restore.clone();
        assert_eq!(new.spec, want);
        assert_eq!(new.spec.backend.ulm.replicas, 3);
    }

    #[test]
    fn fixed_node_ports_and_pause_are_not_copied_and_are_said() {
        let src = source(json!({
            "domain": "ovu.localhost",
            "paused": true,
            "frontend": {"exposure": {"type": "NodePort", "httpNodePort": 30080, "httpsNodePort": 30443}},
        }));
        let (new, notes) = build(
            &src,
            "ovu-restored",
            &resolved("latest"),
            Some("restored.localhost"),
        );
        assert_eq!(new.spec.domain, "restored.localhost");
        assert_eq!(new.spec.frontend.exposure.http_node_port, None);
        assert_eq!(new.spec.frontend.exposure.https_node_port, None);
        assert!(!new.spec.paused);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("30080, 30443") && notes[0].contains("shop"),
            "{notes:?}"
        );
        assert!(notes[1].contains("paused"), "{notes:?}");
    }

    #[test]
    fn bad_new_names_are_named() {
        assert!(check_new_name("shop-2").is_ok());
        for bad in ["Shop", "2shop", "shop_2", "", &"s".repeat(41)] {
            let e = check_new_name(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
