//! Restore: `spec.database.restore` fills a new system's databases once they serve and
//! before ULM and AAM first start (their migrations would otherwise create the tables the
//! backup brings).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use ovu_crds::{OvuSystem, RestoreStatus};

use super::Error;
use super::run::Run;
use super::verdict::RestoreWait;
use crate::render::{self, Ctx, Kind};

/// `spec.database.restore`: run the restore Job until it succeeded once, and record that in
/// `status.restore`. `Some` while the backend must wait. Once done it is never run again (the
/// status remembers), even if the Job is gone.
pub async fn restore(
    sys: &OvuSystem,
    rctx: &Ctx<'_>,
    run: &mut Run<'_>,
    restore_status: &mut Option<RestoreStatus>,
    now: Timestamp,
) -> Result<Option<RestoreWait>, Error> {
    let Some(r) = &sys.spec.database.restore else {
        return Ok(None);
    };
    let source = r.source();
    if restore_status
        .as_ref()
        .is_some_and(|s| s.source == source && s.completed_time.is_some())
    {
        return Ok(None);
    }
    // In progress until the Job is seen complete (then completedTime is set below).
    *restore_status = Some(RestoreStatus {
        source: source.clone(),
        completed_time: None,
    });
    if let Some(b) = &r.from_bucket {
        // A Job whose Secret does not exist would wait in ContainerCreating, saying nothing
        // the status shows: name the missing ones instead.
        let missing = run
            .missing_secrets(
                "restore",
                &rctx.ns,
                &[
                    ("s3.credentialsSecret", Some(&b.s3.credentials_secret)),
                    ("identitySecret", Some(&b.identity_secret)),
                    ("s3.caSecret", b.s3.ca_secret.as_ref()),
                ],
            )
            .await?;
        if !missing.is_empty() {
            return Ok(Some(RestoreWait {
                why: format!(
                    "spec.database.restore.fromBucket: no Secret {} in namespace {} (create it; the identity is the age private key the backups were encrypted to)",
                    missing.join(", "),
                    rctx.ns
                ),
                failed: true,
            }));
        }
        if let Some(problem) = run.missing_bucket_ca("restore", &rctx.ns, &b.s3).await? {
            return Ok(Some(RestoreWait {
                why: format!(
                    "spec.database.restore.fromBucket: {problem} (the CA of the S3 server's certificate)"
                ),
                failed: true,
            }));
        }
        return job_progress(rctx, r, run, restore_status, source, now).await;
    }
    let from_claim = r.from_claim.as_deref().unwrap_or_default();
    // A Job whose volume does not exist would wait Pending for ever, saying nothing.
    let claim = run
        .get("restore", Kind::PersistentVolumeClaim, &rctx.ns, from_claim)
        .await?;
    let Some(claim) = claim else {
        return Ok(Some(RestoreWait {
            why: format!(
                "spec.database.restore.fromClaim: there is no PersistentVolumeClaim {} in namespace {} (the backups of a deleted system are on <system>-backups)",
                from_claim, rctx.ns
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
                from_claim,
                render::restore::BACKUP_CLAIM_LABELS
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            failed: true,
        }));
    }
    job_progress(rctx, r, run, restore_status, source, now).await
}

/// Runs the restore Job and says where it is.
async fn job_progress(
    rctx: &Ctx<'_>,
    r: &ovu_crds::Restore,
    run: &mut Run<'_>,
    restore_status: &mut Option<RestoreStatus>,
    source: String,
    now: Timestamp,
) -> Result<Option<RestoreWait>, Error> {
    let job = render::restore::job(rctx, r);
    run.ensure(&job).await?;
    let conditions = run
        .typed::<Job>(Kind::Job, &job.name)
        .and_then(|j| j.status)
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    let finished = |type_: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    };
    if finished("Complete") {
        *restore_status = Some(RestoreStatus {
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
