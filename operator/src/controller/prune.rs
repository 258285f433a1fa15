//! Prune, the Stackable way: every child of this system that the operator manages (found by
//! its managed-by and instance labels) and that this round did not render is deleted — no
//! list of "children that may have become unwanted" to keep in step with the renderers.
//!
//! Kept regardless:
//! - children without this system's owner reference: data and its credentials (volumes,
//!   the database Secrets) carry none on purpose, and `deletionPolicy` alone decides about
//!   them (see [`super::cleanup`]);
//! - Jobs: they are runs, not desired state (scheduled and on-demand backups, the restore),
//!   and status.backup is read from them; the CronJob's history limit and the Jobs' TTL
//!   remove them;
//! - PersistentVolumeClaims: always data (the StatefulSet's volume has no owner reference
//!   to the system either), so they are not even listed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::{Resource, ResourceExt};
use ovu_crds::OvuSystem;

use super::Error;
use super::error::read;
use super::run::Run;
use crate::render::Kind;
use crate::render::names::instance_selector;

/// Kinds whose objects are never pruned (see the module comment).
fn never_pruned(kind: Kind) -> bool {
    matches!(kind, Kind::Job | Kind::PersistentVolumeClaim)
}

/// Whether prune lists and may delete objects of this kind (RBAC must grant both).
pub fn prunable(kind: Kind) -> bool {
    !never_pruned(kind)
}

/// The children to delete: listed, owned by the system (`owner_uid`), not rendered.
pub fn orphans(
    listed: &[(Kind, ObjectMeta)],
    rendered: &[(Kind, String)],
    owner_uid: &str,
) -> Vec<(Kind, String)> {
    listed
        .iter()
        .filter(|(kind, _)| !never_pruned(*kind))
        .filter(|(_, m)| {
            m.owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == owner_uid)
        })
        .filter_map(|(kind, m)| {
            let name = m.name.clone()?;
            (!rendered.contains(&(*kind, name.clone()))).then_some((*kind, name))
        })
        .collect()
}

/// List the system's managed children of every kind and delete the orphans.
pub async fn prune(run: &mut Run<'_>, sys: &OvuSystem) -> Result<(), Error> {
    let ns = sys.namespace().ok_or(Error::Metadata("namespace"))?;
    let Some(uid) = sys.meta().uid.clone() else {
        return Err(Error::Metadata("uid"));
    };
    let selector = instance_selector(&sys.name_any());
    let mut listed = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| !never_pruned(*k)) {
        if run.cache.kind_absent(kind) {
            continue;
        }
        // From the watch cache (its label selection holds every managed child).
        if let Some(metas) = run.cache.children_meta(kind, &ns, &sys.name_any()) {
            listed.extend(metas.into_iter().map(|m| (kind, m)));
            continue;
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(run.client.clone(), &ns, &kind.api_resource());
        // Metadata only: Secrets and ConfigMaps are not read whole to learn their names.
        match api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
        {
            Ok(list) => listed.extend(list.items.into_iter().map(|o| (kind, o.metadata))),
            // cert-manager is not installed: there are no Certificates to prune.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                let what = format!("{}s labelled {selector}", kind.api_resource().kind);
                return Err(read("prune", what)(e));
            }
        }
    }
    for (kind, name) in orphans(&listed, &run.rendered, &uid) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(run.client.clone(), &ns, &kind.api_resource());
        let k = kind.api_resource().kind;
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => run.changes.push(format!("deleted {k} {name}")),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => {
                return Err(Error::DeleteChild {
                    step: "prune",
                    kind: k,
                    name,
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn meta(name: &str, owner: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            owner_references: owner.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_owned_unrendered_non_job_children_are_orphans() {
        let listed = vec![
            (Kind::Deployment, meta("ovu-ulm", Some("u1"))),
            (Kind::PodDisruptionBudget, meta("ovu-ulm", Some("u1"))),
            (Kind::NetworkPolicy, meta("ovu-frontend", Some("u1"))),
            // Data: no owner reference.
            (Kind::Secret, meta("ovu-postgres", None)),
            // Another system's (a re-created one's) child.
            (Kind::ConfigMap, meta("ovu-nginx", Some("u0"))),
            // A run, not desired state.
            (Kind::Job, meta("ovu-backup-now-1234", Some("u1"))),
        ];
        let rendered = vec![(Kind::Deployment, "ovu-ulm".to_string())];
        assert_eq!(
            orphans(&listed, &rendered, "u1"),
            vec![
                (Kind::PodDisruptionBudget, "ovu-ulm".to_string()),
                (Kind::NetworkPolicy, "ovu-frontend".to_string()),
            ]
        );
    }
}
