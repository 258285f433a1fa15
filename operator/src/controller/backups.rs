//! Backups: the on-demand backup Job an annotation asks for, and what the last scheduled or
//! on-demand backups did (status.backup and the BackupHealthy condition), read from the typed
//! CronJob and Job status.

use k8s_openapi::api::batch::v1::{CronJob, Job};
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
    if let Some(f) = finished.iter().rev().find(|f| f.succeeded) {
        bs.last_success_time = Some(Time(f.at));
        bs.last_backup = Some(f.name.clone());
    }
    if let Some(f) = finished.iter().rev().find(|f| f.succeeded && f.verified) {
        bs.last_verified_time = Some(Time(f.at));
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
        Some(f) if f.succeeded => Cond::new(
            status::BACKUP_HEALTHY,
            true,
            "LastBackupSucceeded",
            if f.verified {
                format!(
                    "backup {} succeeded and a test restore of it held every table",
                    f.name
                )
            } else {
                format!(
                    "backup {} succeeded (not verified: spec.database.backup.verify is off)",
                    f.name
                )
            },
        ),
        Some(f) => Cond::new(
            status::BACKUP_HEALTHY,
            false,
            "LastBackupFailed",
            format!("backup {} failed; see its pod logs", f.name),
        ),
    };
    Ok((cond, bs))
}
