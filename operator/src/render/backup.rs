//! Backups: a CronJob that `pg_dump`s `ulm_db` and `aam_db` to a backup volume and keeps the
//! newest `retain` backups; the same Job template serves on-demand backups
//! (`ovu.co.il/backup-now`). The backup volume has no owner reference: it outlives the
//! OvuSystem unless `deletionPolicy: Delete`.

use serde_json::{Value, json};

use super::names::{self, Component, Tier};
use super::pod::{self, DATA_UID};
use super::{Child, Ctx, Kind};

/// What the backup and restore scripts start with: they sign in as `ovu_backup` (the superuser
/// may not sign in over the network), its password read from the Secret's file into a
/// passfile, so it is in no argument or variable.
pub const PG_TOOL_PRELUDE: &str = include_str!("sh/pg-tool-prelude.sh");

/// A backup or restore script as the Job runs it: the prelude, then `body`.
pub fn tool_script(body: &str) -> String {
    format!("{PG_TOOL_PRELUDE}{body}")
}

/// Each backup is a directory `/backups/<UTC timestamp>/` holding one custom-format dump per
/// database; it only gets its final name once both dumps succeeded, so retention never counts
/// (or keeps) a partial backup.
pub const BACKUP_SH: &str = include_str!("sh/backup.sh");

pub fn render(ctx: &Ctx) -> Vec<Child> {
    vec![pvc(ctx), cronjob(ctx)]
}

fn pvc(ctx: &Ctx) -> Child {
    let name = ctx.names.backup_pvc();
    let s = &ctx.sys.spec.database.backup.storage;
    let mut spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": s.size}},
    });
    if let Some(sc) = &s.storage_class_name {
        spec["storageClassName"] = json!(sc);
    }
    ctx.child_with_meta(
        Kind::PersistentVolumeClaim,
        &name,
        ctx.meta_unowned(&name, Component::Backup),
        json!({"spec": spec}),
        true,
    )
}

/// Where a one-shot PostgreSQL tool pod finds its backup volume.
pub struct BackupVolume<'a> {
    pub claim: &'a str,
    pub mount_path: &'static str,
    pub read_only: bool,
}

/// The pod of a one-shot job with the postgres image's client tools (backups, restores): on
/// the database node, as the data uid (the backup files are that uid's, mode 0600), with
/// `ovu_backup`'s password file from the PostgreSQL Secret, `PGHOST` set to the PostgreSQL Service and the backup
/// volume mounted. `env` comes on top of that.
pub fn pg_tool_pod(
    ctx: &Ctx,
    container: &str,
    script: &str,
    env: Vec<Value>,
    volume: BackupVolume,
) -> Value {
    let mut all_env = vec![
        pod::env(
            "PATH",
            "/usr/lib/postgresql/16/bin:/usr/local/bin:/usr/bin:/bin",
        ),
        pod::env("PGHOST", ctx.names.postgres_rw()),
    ];
    all_env.extend(env);
    let mut claim = json!({"claimName": volume.claim});
    let mut mount = json!({"name": "backups", "mountPath": volume.mount_path});
    if volume.read_only {
        claim["readOnly"] = json!(true);
        mount["readOnly"] = json!(true);
    }
    pod::pod_spec(
        ctx,
        Tier::Database,
        DATA_UID,
        json!({
            "restartPolicy": "Never",
            "containers": [{
                "name": container,
                "image": ctx.sys.spec.database.postgres.image,
                "command": ["sh", "-c", tool_script(script)],
                "env": all_env,
                "volumeMounts": [
                    mount,
                    pod::tmp_mount(),
                    {"name": "secrets", "mountPath": super::database::PG_SECRETS_DIR, "readOnly": true},
                ],
                "securityContext": pod::container_security(),
                "resources": pod::small_resources(),
            }],
            "volumes": [
                {"name": "backups", "persistentVolumeClaim": claim},
                pod::tmp_volume(),
                {"name": "secrets", "secret": {
                    "secretName": ctx.names.postgres_secret(), "defaultMode": 0o400,
                    "items": [{"key": super::database::BACKUP_PASSWORD_KEY, "path": super::database::BACKUP_PASSWORD_KEY}]}},
            ],
        }),
    )
}

/// The Job template both the CronJob and on-demand backups use.
pub fn job_spec(ctx: &Ctx) -> Value {
    let b = &ctx.sys.spec.database.backup;
    let spec = pg_tool_pod(
        ctx,
        "backup",
        BACKUP_SH,
        vec![
            pod::env("RETAIN", b.retain.to_string()),
            pod::env("VERIFY", b.verify.to_string()),
        ],
        BackupVolume {
            claim: &ctx.names.backup_pvc(),
            mount_path: "/backups",
            read_only: false,
        },
    );
    json!({
        "backoffLimit": 2,
        "activeDeadlineSeconds": 3600,
        "ttlSecondsAfterFinished": 604800,
        "template": {
            "metadata": {"labels": names::labels(ctx.system(), Component::Backup)},
            "spec": spec,
        },
    })
}

fn cronjob(ctx: &Ctx) -> Child {
    let name = ctx.names.backup_cronjob();
    let b = &ctx.sys.spec.database.backup;
    ctx.child(
        Kind::CronJob,
        &name,
        Component::Backup,
        json!({"spec": {
            "schedule": b.schedule,
            "suspend": b.suspend,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": names::labels(ctx.system(), Component::Backup)},
                "spec": job_spec(ctx),
            },
        }}),
    )
}

pub use ovu_crds::job_verifies;

/// An on-demand backup Job for one `backup-now` request value.
pub fn on_demand_job(ctx: &Ctx, request: &str) -> Child {
    let name = ctx.names.backup_now_job(request);
    let mut meta = ctx.meta(&name, Component::Backup);
    meta["annotations"] = json!({ovu_crds::BACKUP_NOW_ANNOTATION: request});
    ctx.child_with_meta(Kind::Job, &name, meta, json!({"spec": job_spec(ctx)}), true)
}
