//! Deletion of the OvuSystem: children with owner references go with it (garbage
//! collection); volumes and the data Secrets stay unless `deletionPolicy: Delete`.

use std::sync::Arc;

use super::events::{EventType, Recorder};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::Action;
use ovu_crds::{DeletionPolicy, OvuSystem};

use super::error::read;
use super::{Context, Error, publish};
use crate::render::names::{Names, instance_selector};

/// Deletion: children with owner references go with the OvuSystem (garbage collection);
/// volumes and the data Secrets stay unless `deletionPolicy: Delete`.
pub async fn cleanup_system(
    sys: Arc<OvuSystem>,
    ctx: &Context,
    recorder: &Recorder,
) -> Result<Action, Error> {
    let ns = sys.namespace().ok_or(Error::Metadata("namespace"))?;
    let name = sys.name_any();
    let selector = instance_selector(&name);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let names = Names::new(&name);
    let data_secrets = [names.postgres_secret(), names.bootstrap_admin_secret()];
    match sys.spec.deletion_policy {
        DeletionPolicy::Delete => {
            let list = pvcs
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(read("cleanup", format!("volumes labelled {selector}")))?;
            let mut gone = Vec::new();
            for p in list.items {
                let n = p.name_any();
                match pvcs.delete(&n, &DeleteParams::default()).await {
                    Ok(_) => gone.push(n),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(source) => {
                        return Err(Error::DeleteChild {
                            step: "cleanup",
                            kind: "PersistentVolumeClaim".into(),
                            name: n,
                            source,
                        });
                    }
                }
            }
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
            for s in &data_secrets {
                match secrets.delete(s, &DeleteParams::default()).await {
                    Ok(_) => gone.push(s.clone()),
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(source) => {
                        return Err(Error::DeleteChild {
                            step: "cleanup",
                            kind: "Secret".into(),
                            name: s.clone(),
                            source,
                        });
                    }
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
