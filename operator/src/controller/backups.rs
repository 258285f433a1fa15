//! Backups: the on-demand backup Job an annotation asks for, and what the last scheduled or
//! on-demand backups did (status.backup and the BackupHealthy condition), read from the typed
//! CronJob and Job status; the object a backup uploaded off-site (`backup.destination`) from
//! its pod's termination message.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use ovu_crds::{BACKUP_NOW_ANNOTATION, BackupStatus, OvuSystem};

use super::Error;
use super::error::read;
use super::run::Run;
use crate::render::names::{COMPONENT_LABEL, Component, component_selector};
use crate::render::{self, Ctx, Kind};
use crate::status::{self, Cond};

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
pub async fn backups(
    sys: &OvuSystem,
    rctx: &Ctx<'_>,
    run: &mut Run<'_>,
    old: Option<&BackupStatus>,
    pods: &[Pod],
) -> Result<(Cond, BackupStatus), Error> {
    let mut bs = old.cloned().unwrap_or_default();
    if let Some(req) = sys.annotations().get(BACKUP_NOW_ANNOTATION)
        && bs.last_requested.as_deref() != Some(req.as_str())
    {
        let job = render::backup::on_demand_job(rctx, req);
        run.ensure(&job).await?;
        bs.last_requested = Some(req.clone());
    }
    if let Some(cj) = run.typed::<CronJob>(Kind::CronJob, &rctx.names.backup_cronjob()) {
        bs.last_schedule_time = cj.status.and_then(|s| s.last_schedule_time);
    }
    let cached = run.cache.children(
        Kind::Job,
        &rctx.ns,
        rctx.system(),
        &[(COMPONENT_LABEL, Component::Backup.as_str())],
    );
    let items: Vec<Job> = match cached {
        Some(c) => c
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        None => {
            let jobs: Api<Job> = Api::namespaced(run.client.clone(), &rctx.ns);
            let selector = component_selector(rctx.system(), Component::Backup);
            jobs.list(&ListParams::default().labels(&selector))
                .await
                .map_err(read("backups", format!("Jobs labelled {selector}")))?
                .items
        }
    };
    let mut finished: Vec<FinishedBackup> = items
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
    let mut uploaded = None;
    if let Some(f) = finished.iter().rev().find(|f| f.succeeded) {
        bs.last_success_time = Some(Time(f.at));
        bs.last_backup = Some(f.name.clone());
        uploaded = upload_of(pods, &f.name);
        // Kept when the pod is gone (or the backup had no destination): the newest upload
        // known stays the newest upload.
        if let Some(u) = &uploaded {
            bs.last_uploaded_object = Some(u.object.clone());
            bs.last_uploaded_size = Some(u.size);
        }
    }
    if let Some(f) = finished.iter().rev().find(|f| f.succeeded && f.verified) {
        bs.last_verified_time = Some(Time(f.at));
    }
    // A destination whose Secret is missing would leave each backup pod waiting for it
    // (ContainerCreating) until the Job's deadline, an hour later, saying nothing here.
    if let Some(d) = &sys.spec.database.backup.destination {
        let missing = run
            .missing_secrets(
                "backups",
                &rctx.ns,
                &[
                    ("s3.credentialsSecret", Some(&d.s3.credentials_secret)),
                    ("recipientSecret", Some(&d.recipient_secret)),
                    ("s3.caSecret", d.s3.ca_secret.as_ref()),
                ],
            )
            .await?;
        if !missing.is_empty() {
            return Ok((
                Cond::new(
                    status::BACKUP_HEALTHY,
                    false,
                    "DestinationSecretMissing",
                    format!(
                        "spec.database.backup.destination: no Secret {} in namespace {}; backups cannot be uploaded until it exists",
                        missing.join(", "),
                        rctx.ns
                    ),
                ),
                bs,
            ));
        }
        if let Some(problem) = run.missing_bucket_ca("backups", &rctx.ns, &d.s3).await? {
            return Ok((
                Cond::new(
                    status::BACKUP_HEALTHY,
                    false,
                    "DestinationCAMissing",
                    format!(
                        "spec.database.backup.destination: {problem}; backups cannot be uploaded until the CA of the S3 server's certificate is there"
                    ),
                ),
                bs,
            ));
        }
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
        Some(f) if f.succeeded => Cond::new(status::BACKUP_HEALTHY, true, "LastBackupSucceeded", {
            let what = if f.verified {
                format!(
                    "backup {} succeeded and a test restore of it held every table",
                    f.name
                )
            } else {
                format!(
                    "backup {} succeeded (not verified: spec.database.backup.verify is off)",
                    f.name
                )
            };
            match &uploaded {
                Some(u) => format!(
                    "{what}; uploaded encrypted to {} ({} bytes)",
                    u.object, u.size
                ),
                None => what,
            }
        }),
        Some(f) => Cond::new(
            status::BACKUP_HEALTHY,
            false,
            "LastBackupFailed",
            format!("backup {} failed; see its pod logs", f.name),
        ),
    };
    Ok((cond, bs))
}

/// What a backup Job's pod says it uploaded (`sh/offsite-upload.sh` writes it as the
/// container's termination message).
#[derive(serde::Deserialize, Debug, PartialEq)]
pub(crate) struct Upload {
    pub object: String,
    pub size: i64,
}

/// The upload of backup Job `job`, from its succeeded pod's termination message.
pub(crate) fn upload_of(pods: &[Pod], job: &str) -> Option<Upload> {
    pods.iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("job-name"))
                .is_some_and(|n| n == job)
        })
        .flat_map(|p| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
        })
        .filter(|c| c.name == "backup")
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
        .filter(|t| t.exit_code == 0)
        .find_map(|t| serde_json::from_str(t.message.as_deref()?.trim()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(job: &str, exit: i32, message: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{job}-x"), "labels": {"job-name": job}},
            "status": {"containerStatuses": [{
                "name": "backup", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": exit, "message": message}},
            }]},
        }))
        .unwrap()
    }

    #[test]
    fn the_upload_is_read_from_the_succeeded_pod_of_that_job_only() {
        let msg = r#"{"object":"s3://b/shop/20261204T020000Z.tar.age","size":5120}"#;
        let pods = [
            pod("ovu-backup-1", 1, msg),
            pod("ovu-backup-2", 0, msg),
            pod("ovu-backup-3", 0, "not json"),
        ];
        assert_eq!(upload_of(&pods, "ovu-backup-1"), None, "a failed pod");
        assert_eq!(
            upload_of(&pods, "ovu-backup-2"),
            Some(Upload {
                object: "s3://b/shop/20261204T020000Z.tar.age".into(),
                size: 5120
            })
        );
        assert_eq!(upload_of(&pods, "ovu-backup-3"), None);
        assert_eq!(upload_of(&pods, "other"), None);
    }
}
