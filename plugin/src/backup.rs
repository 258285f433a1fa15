//! `kubectl ovu backup` and `kubectl ovu backups`: on-demand backups as docs/contracts.md
//! defines them (annotation `ovu.co.il/backup-now` set to a new value → the operator creates
//! Job `<n>-backup-now-<hash>` carrying the same annotation), and the backup Jobs the system
//! has (label `app.kubernetes.io/component=backup`), scheduled and on demand.
//!
//! A backup's name is the folder its Job made on the backup volume (`20261203T020000Z`); the
//! API only tells it through the Job's log (`backup /backups/<name> complete`), so where logs
//! cannot be read (pods gone, or no kubelet to serve them) the name is unknown and the Job's
//! name stands in for it.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{Timestamp, tz::TimeZone};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use ovu_crds::{BACKUP_NOW_ANNOTATION, OvuSystem, names};
use serde_json::json;

use crate::timefmt::{relative, utc};
use crate::{Ctx, api_err, out, progress};

/// Whether a Job was scheduled by the CronJob or asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Scheduled,
    OnDemand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Complete,
    Failed,
}

/// One backup Job as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub job: String,
    pub origin: Origin,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
    pub state: State,
    /// The Job ran the test restore (`VERIFY=true` in its pod).
    pub verifies: bool,
    /// Why it failed (the Job's Failed condition).
    pub failure: Option<String>,
    /// The backup's folder name, from the Job's log.
    pub name: Option<String>,
}

impl Row {
    pub fn verified(&self) -> &'static str {
        match (self.state, self.verifies) {
            (State::Complete, true) => "yes",
            (State::Complete, false) => "no (verify off)",
            (State::Running, _) => "-",
            (State::Failed, _) => "no",
        }
    }
}

pub use ovu_crds::job_verifies;

fn finished_condition(job: &Job) -> Option<(State, Option<Timestamp>, Option<String>)> {
    let status = job.status.as_ref()?;
    let c = status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?;
    let at = c
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| status.completion_time.as_ref().map(|t| t.0));
    if c.type_ == "Complete" {
        Some((State::Complete, at, None))
    } else {
        let why = match (c.reason.as_deref(), c.message.as_deref()) {
            (Some(r), Some(m)) if !m.is_empty() => format!("{r}: {m}"),
            (Some(r), _) => r.to_string(),
            (None, Some(m)) => m.to_string(),
            (None, None) => "failed".to_string(),
        };
        Some((State::Failed, at, Some(why)))
    }
}

/// The list's rows, newest first (by when the Job started, then by name).
pub fn rows(jobs: &[Job]) -> Vec<Row> {
    let mut rows: Vec<Row> = jobs
        .iter()
        .map(|j| {
            let (state, finished, failure) =
                finished_condition(j).unwrap_or((State::Running, None, None));
            let started = j
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .or(j.metadata.creation_timestamp.as_ref())
                .map(|t| t.0);
            let origin = if j.annotations().contains_key(BACKUP_NOW_ANNOTATION) {
                Origin::OnDemand
            } else {
                Origin::Scheduled
            };
            Row {
                job: j.name_any(),
                origin,
                started,
                finished,
                state,
                verifies: job_verifies(j),
                failure,
                name: None,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| b.job.cmp(&a.job)));
    rows
}

/// The folder a backup Job's log says it completed (`backup /backups/<name> complete`).
pub fn name_from_log(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let path = l
            .trim()
            .strip_prefix("backup ")?
            .strip_suffix(" complete")?;
        let name = path.rsplit('/').next()?;
        ovu_crds::rules::is_backup_name(name)
            .then(|| name.to_string())
            .filter(|n| n != "latest")
    })
}

/// The table `kubectl ovu backups` prints.
pub fn format_rows(rows: &[Row], last_backup: Option<&str>, now: Timestamp) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<34} {:<17} {:<9} {:<9} {:<16} {:<24} AGE",
        "JOB", "BACKUP", "ORIGIN", "STATE", "VERIFIED", "FINISHED"
    );
    for r in rows {
        let finished = r
            .finished
            .map(|t| utc(t).trim_end_matches(" UTC").to_string())
            .unwrap_or_else(|| "-".into());
        let age = r
            .started
            .map(|t| relative(t, now))
            .unwrap_or_else(|| "-".into());
        let mark = if Some(r.job.as_str()) == last_backup {
            " *"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{:<34} {:<17} {:<9} {:<9} {:<16} {:<24} {age}{mark}",
            r.job,
            r.name.as_deref().unwrap_or("?"),
            match r.origin {
                Origin::Scheduled => "schedule",
                Origin::OnDemand => "on-demand",
            },
            format!("{:?}", r.state),
            r.verified(),
            finished,
        );
        if let Some(why) = &r.failure {
            let _ = writeln!(s, "    failed: {why}");
        }
    }
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "(no backup Jobs: none has run yet, or their Jobs expired)"
        );
    }
    s
}

/// What `restore --from` resolved to: the value for `spec.database.restore.backup`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub backup: String,
    /// Said to the user when the choice needs explaining.
    pub note: Option<String>,
}

/// Which backup `from` names among the known `rows` (newest first): `latest` (there must be
/// a complete one), a backup name some complete Job made, or a complete Job's name. Anything
/// else is refused, naming what there is.
pub fn resolve(from: &str, rows: &[Row]) -> anyhow::Result<Resolved> {
    let complete: Vec<&Row> = rows.iter().filter(|r| r.state == State::Complete).collect();
    let known = || {
        if complete.is_empty() {
            "the system has no complete backup (kubectl ovu backup makes one)".to_string()
        } else {
            format!(
                "known: latest, {}",
                complete
                    .iter()
                    .map(|r| match &r.name {
                        Some(n) => format!("{n} ({})", r.job),
                        None => r.job.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    if from == "latest" {
        if complete.is_empty() {
            bail!("no backup to restore: {}", known());
        }
        return Ok(Resolved {
            backup: "latest".into(),
            note: None,
        });
    }
    if let Some(r) = complete.iter().find(|r| r.name.as_deref() == Some(from)) {
        let _ = r;
        return Ok(Resolved {
            backup: from.to_string(),
            note: None,
        });
    }
    if let Some(r) = rows.iter().find(|r| r.job == from) {
        if r.state != State::Complete {
            bail!(
                "backup Job {from} is {:?}, not complete: only a complete backup can be restored",
                r.state
            );
        }
        if let Some(name) = &r.name {
            return Ok(Resolved {
                backup: name.clone(),
                note: Some(format!("backup Job {from} made backup {name}")),
            });
        }
        // Its log is gone, so its folder is unknown; the newest complete backup is the one
        // `latest` picks (the newest complete folder).
        if complete.first().is_some_and(|newest| newest.job == from) {
            return Ok(Resolved {
                backup: "latest".into(),
                note: Some(format!(
                    "the log of {from} cannot be read, so its backup's name is unknown; it is the newest complete backup, which is what `latest` restores"
                )),
            });
        }
        bail!(
            "the log of backup Job {from} cannot be read, so which backup it made is unknown, and it is not the newest; name the backup (20261203T020000Z) or use latest"
        );
    }
    if ovu_crds::rules::is_backup_name(from) {
        bail!("backup {from:?} is not one this system knows; {}", known());
    }
    bail!(
        "--from {from:?} is neither latest, a backup name such as 20261203T020000Z, nor a backup Job of this system; {}",
        known()
    )
}

fn backup_jobs_selector(sys: &OvuSystem) -> ListParams {
    ListParams::default().labels(&names::component_selector(
        &sys.name_any(),
        names::Component::Backup,
    ))
}

/// The backup Jobs of `sys` with their rows; names read from the logs when they can be.
pub async fn known_rows(ctx: &Ctx, sys: &OvuSystem) -> anyhow::Result<(Vec<Row>, Option<String>)> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let list = jobs.list(&backup_jobs_selector(sys)).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot list the backup Jobs in namespace {}: {}",
            ctx.namespace,
            api_err(&e)
        )
    })?;
    let mut rows = rows(&list.items);
    let mut log_problem = None;
    for r in rows.iter_mut().filter(|r| r.state == State::Complete) {
        if log_problem.is_some() {
            // One unreadable log says the cluster cannot serve them (say kwok nodes): do not
            // wait for each of the others.
            break;
        }
        match job_log(ctx, &r.job).await {
            Ok(log) => r.name = name_from_log(&log),
            Err(e) => log_problem = Some(format!("{e:#}")),
        }
    }
    Ok((rows, log_problem))
}

/// The log of a Job's newest pod (a retried Job has several).
async fn job_log(ctx: &Ctx, job: &str) -> anyhow::Result<String> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .map_err(|e| anyhow::anyhow!("cannot list the pods of Job {job}: {}", api_err(&e)))?;
    let pod = list
        .items
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .with_context(|| format!("Job {job} has no pods left"))?;
    let name = pod.name_any();
    let lp = LogParams {
        container: Some("backup".into()),
        ..Default::default()
    };
    match tokio::time::timeout(Duration::from_secs(5), pods.logs(&name, &lp)).await {
        Ok(Ok(log)) => Ok(log),
        Ok(Err(e)) => bail!("cannot read the log of pod {name}: {}", api_err(&e)),
        Err(_) => bail!("reading the log of pod {name} took longer than 5 s"),
    }
}

pub async fn run_list(ctx: &Ctx, sys: &OvuSystem) -> anyhow::Result<()> {
    let (rows, log_problem) = known_rows(ctx, sys).await?;
    let last = sys
        .status
        .as_ref()
        .and_then(|s| s.backup.as_ref())
        .and_then(|b| b.last_backup.clone());
    let mut text = format_rows(&rows, last.as_deref(), Timestamp::now());
    if last.is_some() {
        text.push_str("* the system's status.backup.lastBackup\n");
    }
    if let Some(last) = &last
        && !rows.iter().any(|r| &r.job == last)
    {
        let _ = writeln!(
            text,
            "status.backup.lastBackup is {last}, whose Job has expired (Jobs are kept 7 days)"
        );
    }
    let _ = writeln!(
        text,
        "Backups are folders on PVC {}-backups (spec.database.backup.retain keeps the newest {}); restore one with kubectl ovu restore --from <BACKUP or JOB> --into <NEW>.",
        sys.name_any(),
        sys.spec.database.backup.retain
    );
    out(&text)?;
    if let Some(p) = log_problem {
        progress(&format!(
            "note: backup names (BACKUP) come from the Jobs' logs, which cannot be read here: {p}"
        ));
    }
    Ok(())
}

/// The annotation value of a new request: unique per call, and says who asked.
fn request_value(now: Timestamp) -> String {
    let z = now.to_zoned(TimeZone::UTC);
    format!(
        "kubectl-ovu-{}-{:03}",
        z.strftime("%Y%m%dT%H%M%SZ"),
        now.subsec_millisecond()
    )
}

/// What a backup pod is doing, in a line.
fn describe_pod(p: &Pod) -> String {
    let name = p.name_any();
    let Some(st) = &p.status else {
        return format!("pod {name} created");
    };
    let phase = st.phase.clone().unwrap_or_else(|| "Pending".into());
    if let Some(c) = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        return format!(
            "pod {name} {phase}: not scheduled: {} {}",
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default()
        );
    }
    for cs in st.container_statuses.iter().flatten() {
        let Some(state) = &cs.state else { continue };
        if let Some(w) = &state.waiting {
            return format!(
                "pod {name} {phase}: container {} waiting: {}{}",
                cs.name,
                w.reason.clone().unwrap_or_default(),
                w.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            );
        }
        if let Some(t) = &state.terminated {
            return format!(
                "pod {name} {phase}: container {} exited {}{}",
                cs.name,
                t.exit_code,
                t.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
    }
    format!("pod {name} {phase}")
}

pub async fn run_backup(
    ctx: &Ctx,
    sys: &OvuSystem,
    follow: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let n = sys.name_any();
    if sys.spec.paused {
        bail!(
            "OvuSystem {}/{n} is paused (spec.paused): the operator would not act on a backup request until it is unpaused",
            ctx.namespace
        );
    }
    let request = request_value(Timestamp::now());
    let systems: Api<OvuSystem> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let patch = json!({"metadata": {"annotations": {BACKUP_NOW_ANNOTATION: request}}});
    systems
        .patch(&n, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot annotate OvuSystem {}/{n}: {}",
                ctx.namespace,
                api_err(&e)
            )
        })?;
    progress(&format!(
        "requested backup {request} of {}/{n} (annotation {BACKUP_NOW_ANNOTATION})",
        ctx.namespace
    ));
    if !follow {
        return out(&format!("{request}\n"));
    }

    let start = Instant::now();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let lp = backup_jobs_selector(sys);
    let mut last_line = String::new();
    let mut say = |line: String| {
        if line != last_line {
            progress(&format!("[{:>4}s] {line}", start.elapsed().as_secs()));
            last_line = line;
        }
    };
    let mut job_name: Option<String> = None;
    say("waiting for the operator to start the backup Job".into());
    loop {
        let list = jobs.list(&lp).await;
        let job = match list {
            Ok(list) => list
                .items
                .into_iter()
                .find(|j| j.annotations().get(BACKUP_NOW_ANNOTATION) == Some(&request)),
            Err(e) => {
                say(format!(
                    "cannot list the backup Jobs (retrying): {}",
                    api_err(&e)
                ));
                None
            }
        };
        if let Some(job) = job {
            let name = job.name_any();
            if job_name.is_none() {
                say(format!("Job {name} started"));
                job_name = Some(name.clone());
            }
            match finished_condition(&job) {
                Some((State::Complete, _, _)) => {
                    say(format!("Job {name} complete"));
                    return finish(ctx, &systems, &n, &job, start).await;
                }
                Some((_, _, why)) => {
                    let why = why.unwrap_or_default();
                    match job_log(ctx, &name).await {
                        Ok(log) => {
                            let tail: Vec<&str> = log.lines().rev().take(15).collect();
                            progress("--- the backup pod's last log lines:");
                            for l in tail.into_iter().rev() {
                                progress(&format!("    {l}"));
                            }
                        }
                        Err(e) => progress(&format!("(no log: {e:#})")),
                    }
                    bail!(
                        "backup Job {}/{name} failed: {why} (kubectl ovu logs backup shows its pods' logs)",
                        ctx.namespace
                    );
                }
                None => {
                    let sel = ListParams::default().labels(&format!("job-name={name}"));
                    match pods.list(&sel).await {
                        Ok(p) => match p
                            .items
                            .iter()
                            .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
                        {
                            Some(pod) => say(describe_pod(pod)),
                            None => say(format!("Job {name}: waiting for its pod")),
                        },
                        Err(e) => say(format!(
                            "cannot list the Job's pods (retrying): {}",
                            api_err(&e)
                        )),
                    }
                }
            }
        }
        if start.elapsed() >= timeout {
            let what = match &job_name {
                None => "the operator never started a backup Job for it (is the operator running? kubectl ovu status tells)".to_string(),
                Some(j) => format!("Job {j} is still running; it goes on, kubectl ovu backups shows how it ends"),
            };
            bail!(
                "timed out after {}s waiting for backup {request}: {what}; last: {last_line}",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// After the Job completed: wait (briefly) for the operator to record it, then say what
/// was made.
async fn finish(
    ctx: &Ctx,
    systems: &Api<OvuSystem>,
    n: &str,
    job: &Job,
    start: Instant,
) -> anyhow::Result<()> {
    let name = job.name_any();
    let verifies = job_verifies(job);
    // The operator records a finished Job on its next reconcile (it watches its Jobs).
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded = loop {
        let b = systems
            .get(n)
            .await
            .ok()
            .and_then(|s| s.status)
            .and_then(|s| s.backup);
        if let Some(b) = b
            && b.last_backup.as_deref() == Some(name.as_str())
        {
            break Some(b);
        }
        if Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let folder = match job_log(ctx, &name).await {
        Ok(log) => {
            for l in log.lines().filter(|l| l.starts_with("verified ")) {
                progress(&format!("       {l}"));
            }
            name_from_log(&log).ok_or_else(|| "its log does not name it".to_string())
        }
        Err(e) => Err(format!("{e:#}")),
    };
    let mut text = match &folder {
        Ok(f) => format!(
            "backup {f} complete after {}s (Job {name})",
            start.elapsed().as_secs()
        ),
        Err(_) => format!(
            "backup complete after {}s (Job {name}; its name is unknown)",
            start.elapsed().as_secs()
        ),
    };
    text.push_str(if verifies {
        "; verified: a test restore held every table\n"
    } else {
        "; not verified (spec.database.backup.verify is off)\n"
    });
    if let Err(why) = &folder {
        progress(&format!(
            "note: the backup's name comes from the Job's log: {why}"
        ));
    }
    if recorded.is_none() {
        text.push_str("note: the operator has not recorded it in status.backup yet\n");
    }
    out(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(
        name: &str,
        on_demand: bool,
        started: &str,
        cond: Option<(&str, &str)>,
        verify: bool,
    ) -> Job {
        let mut annotations = serde_json::Map::new();
        if on_demand {
            annotations.insert(BACKUP_NOW_ANNOTATION.into(), json!("x"));
        }
        let conditions = match cond {
            Some((t, at)) => json!([{"type": t, "status": "True", "lastTransitionTime": at,
                                     "reason": if t == "Failed" { "BackoffLimitExceeded" } else { "" },
                                     "message": if t == "Failed" { "Job has reached the specified backoff limit" } else { "" }}]),
            None => json!([]),
        };
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations, "creationTimestamp": started},
            "spec": {"template": {"spec": {"containers": [{"name": "backup",
                "env": [{"name": "VERIFY", "value": verify.to_string()}]}]}}},
            "status": {"startTime": started, "conditions": conditions},
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-03T06:00:00Z".parse().unwrap()
    }

    fn sample() -> Vec<Row> {
        let mut r = rows(&[
            job(
                "ovu-backup-29412000",
                false,
                "2026-12-03T02:00:00Z",
                Some(("Complete", "2026-12-03T02:00:09Z")),
                true,
            ),
            job(
                "ovu-backup-now-aaaa",
                true,
                "2026-12-03T05:50:00Z",
                Some(("Complete", "2026-12-03T05:50:08Z")),
                true,
            ),
            job(
                "ovu-backup-now-bbbb",
                true,
                "2026-12-03T05:55:00Z",
                Some(("Failed", "2026-12-03T05:56:00Z")),
                true,
            ),
            job(
                "ovu-backup-now-cccc",
                true,
                "2026-12-03T05:59:00Z",
                None,
                false,
            ),
        ]);
        r[2].name = Some("20261203T055001Z".into());
        r
    }

    #[test]
    fn rows_are_newest_first_with_state_and_verification() {
        let r = sample();
        let names: Vec<&str> = r.iter().map(|r| r.job.as_str()).collect();
        assert_eq!(
            names,
            [
                "ovu-backup-now-cccc",
                "ovu-backup-now-bbbb",
                "ovu-backup-now-aaaa",
                "ovu-backup-29412000"
            ]
        );
        assert_eq!(r[0].state, State::Running);
        assert_eq!(r[1].state, State::Failed);
        assert_eq!(
            r[1].failure.as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
        assert_eq!(r[3].origin, Origin::Scheduled);
        assert_eq!(r[2].origin, Origin::OnDemand);
        assert_eq!(r[2].verified(), "yes");
        assert_eq!(r[0].verified(), "-");
        assert_eq!(r[1].verified(), "no");
    }

    #[test]
    fn the_table_marks_the_last_backup() {
        let text = format_rows(&sample(), Some("ovu-backup-now-aaaa"), now());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("JOB "), "{text}");
        assert!(
            lines[1].starts_with("ovu-backup-now-cccc") && lines[1].contains("Running"),
            "{text}"
        );
        assert!(
            lines[3]
                == "    failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
            "{text}"
        );
        let aaaa = lines
            .iter()
            .find(|l| l.starts_with("ovu-backup-now-aaaa"))
            .unwrap();
        assert!(
            aaaa.contains("20261203T055001Z")
                && aaaa.contains("on-demand")
                && aaaa.contains("Complete")
                && aaaa.contains(" yes ")
                && aaaa.contains("2026-12-03 05:50:08")
                && aaaa.ends_with("10m ago *"),
            "{aaaa}"
        );
        let cron = lines
            .iter()
            .find(|l| l.starts_with("ovu-backup-29412000"))
            .unwrap();
        assert!(cron.contains(" ? ") && cron.contains("schedule"), "{cron}");
        assert!(format_rows(&[], None, now()).contains("no backup Jobs"));
    }

    #[test]
    fn the_backup_name_comes_from_the_log() {
        let log = "verified ulm_db: a test restore holds all 12 tables, 40 rows\nbackup /backups/20261203T055001Z complete\nretention: removing /backups/20261120T020000Z\n";
        assert_eq!(name_from_log(log).as_deref(), Some("20261203T055001Z"));
        assert_eq!(
            name_from_log("backup /backups/20261203T055001_1Z complete").as_deref(),
            Some("20261203T055001_1Z")
        );
        assert_eq!(name_from_log("backup /backups/../etc complete"), None);
        assert_eq!(name_from_log("nothing"), None);
    }

    #[test]
    fn restore_sources_resolve_or_are_refused_by_name() {
        let r = sample();
        assert_eq!(resolve("latest", &r).unwrap().backup, "latest");
        assert_eq!(
            resolve("20261203T055001Z", &r).unwrap().backup,
            "20261203T055001Z"
        );
        let by_job = resolve("ovu-backup-now-aaaa", &r).unwrap();
        assert_eq!(by_job.backup, "20261203T055001Z");
        // A Job whose log is gone: only the newest complete one maps to latest.
        let mut no_logs = sample();
        for row in &mut no_logs {
            row.name = None;
        }
        let newest = resolve("ovu-backup-now-aaaa", &no_logs).unwrap();
        assert_eq!(newest.backup, "latest");
        assert!(newest.note.unwrap().contains("newest complete backup"));
        let e = resolve("ovu-backup-29412000", &no_logs)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ovu-backup-29412000") && e.contains("not the newest"),
            "{e}"
        );
        let e = resolve("ovu-backup-now-bbbb", &r).unwrap_err().to_string();
        assert!(e.contains("Failed, not complete"), "{e}");
        let e = resolve("20200101T000000Z", &r).unwrap_err().to_string();
        assert!(
            e.contains("\"20200101T000000Z\" is not one this system knows")
                && e.contains("ovu-backup-now-aaaa"),
            "{e}"
        );
        let e = resolve("yesterday", &r).unwrap_err().to_string();
        assert!(e.contains("\"yesterday\""), "{e}");
        let e = resolve("latest", &[]).unwrap_err().to_string();
        assert!(e.contains("no complete backup"), "{e}");
    }

    #[test]
    fn request_values_are_unique_per_millisecond_and_say_who_asked() {
        let t: Timestamp = "2026-12-03T06:00:00.123Z".parse().unwrap();
        assert_eq!(request_value(t), "kubectl-ovu-20261203T060000Z-123");
    }

    #[test]
    fn a_stuck_pod_says_why() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "bk-1"},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "backup", "image": "postgres:16", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "cannot pull postgres:16"}}}]},
        }))
        .unwrap();
        assert_eq!(
            describe_pod(&p),
            "pod bk-1 Pending: container backup waiting: ImagePullBackOff (cannot pull postgres:16)"
        );
    }
}
