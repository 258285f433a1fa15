//! Backups: a CronJob that `pg_dump`s `ulm_db` and `aam_db` to a backup volume and keeps the
//! newest `retain` backups; the same Job template serves on-demand backups
//! (`ovu.co.il/backup-now`). The backup volume has no owner reference: it outlives the
//! OvuSystem unless `deletionPolicy: Delete`. With `backup.destination` each backup is also
//! encrypted (age) and uploaded to an S3 bucket, which outlives the cluster.

use ovu_crds::S3Bucket;
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

/// The off-site helpers (rclone configuration from the mounted Secrets, the bucket listing)
/// the upload and the fetch share.
pub const OFFSITE_SH: &str = include_str!("sh/offsite.sh");
/// Runs after [`BACKUP_SH`]: encrypts and uploads the backup it just made, applies retention
/// in the bucket, and leaves the object and its size in the pod's termination message.
pub const OFFSITE_UPLOAD_SH: &str = include_str!("sh/offsite-upload.sh");
/// Where the mounted off-site Secrets are, one file per value.
pub const OFFSITE_DIR: &str = "/etc/ovu/offsite";

/// The backup Job's script: with a destination, the upload runs once the backup is complete.
pub fn backup_script(offsite: bool) -> String {
    if offsite {
        tool_script(&format!("{OFFSITE_SH}{BACKUP_SH}{OFFSITE_UPLOAD_SH}"))
    } else {
        tool_script(BACKUP_SH)
    }
}

/// The pod's side of an S3 bucket: its settings as variables (no secrets among them) and the
/// projected volume sources that put the credentials, the CA and `key_file` (the age recipient
/// or identity: Secret name, key, file name) under [`OFFSITE_DIR`].
pub fn s3_access(b: &S3Bucket, key_file: (&str, &str, &str)) -> (Vec<Value>, Vec<Value>) {
    let mut env = vec![
        pod::env("S3_ENDPOINT", b.endpoint.clone()),
        pod::env("S3_BUCKET", b.bucket.clone()),
        pod::env("S3_PREFIX", b.folder()),
    ];
    if let Some(r) = &b.region {
        env.push(pod::env("S3_REGION", r.clone()));
    }
    let mut sources = vec![
        json!({"secret": {"name": b.credentials_secret, "items": [
            {"key": b.access_key_id_key, "path": "access-key-id"},
            {"key": b.secret_access_key_key, "path": "secret-access-key"},
        ]}}),
        json!({"secret": {"name": key_file.0, "items": [{"key": key_file.1, "path": key_file.2}]}}),
    ];
    let ca_item = json!([{"key": b.ca_key, "path": "ca.crt"}]);
    if let Some(s) = &b.ca_secret {
        sources.push(json!({"secret": {"name": s, "items": ca_item}}));
    } else if let Some(c) = &b.ca_config_map {
        sources.push(json!({"configMap": {"name": c, "items": ca_item}}));
    }
    env.push(pod::env("OFFSITE_DIR", OFFSITE_DIR));
    (env, sources)
}

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

/// Where a one-shot PostgreSQL tool pod finds its backups: a claim, or (`claim: None`) an
/// empty scratch volume a restore fetches an off-site backup into.
pub struct BackupVolume<'a> {
    pub claim: Option<&'a str>,
    pub mount_path: &'static str,
    pub read_only: bool,
    /// Projected volume sources mounted read-only at [`OFFSITE_DIR`] (none: no mount).
    pub offsite: Vec<Value>,
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
    // `script` is complete (prelude included): see `tool_script`.
    let mut all_env = vec![
        pod::env(
            "PATH",
            "/usr/lib/postgresql/16/bin:/usr/local/bin:/usr/bin:/bin",
        ),
        pod::env("PGHOST", ctx.names.postgres_rw()),
    ];
    all_env.extend(env);
    let mut mount = json!({"name": "backups", "mountPath": volume.mount_path});
    let backups = match volume.claim {
        Some(c) => {
            let mut claim = json!({"claimName": c});
            if volume.read_only {
                claim["readOnly"] = json!(true);
                mount["readOnly"] = json!(true);
            }
            json!({"name": "backups", "persistentVolumeClaim": claim})
        }
        None => json!({"name": "backups", "emptyDir": {}}),
    };
    let mut spec = pod::pod_spec(
        ctx,
        Tier::Database,
        DATA_UID,
        json!({
            "restartPolicy": "Never",
            "containers": [{
                "name": container,
                "image": ctx.images.postgres,
                "command": ["sh", "-c", script],
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
                backups,
                pod::tmp_volume(),
                {"name": "secrets", "secret": {
                    "secretName": ctx.names.postgres_secret(), "defaultMode": 0o400,
                    "items": [{"key": super::database::BACKUP_PASSWORD_KEY, "path": super::database::BACKUP_PASSWORD_KEY}]}},
            ],
        }),
    );
    if !volume.offsite.is_empty() {
        if let Some(v) = spec["volumes"].as_array_mut() {
            v.push(json!({"name": "offsite", "projected": {"defaultMode": 0o400, "sources": volume.offsite}}));
        }
        if let Some(m) = spec["containers"][0]["volumeMounts"].as_array_mut() {
            m.push(json!({"name": "offsite", "mountPath": OFFSITE_DIR, "readOnly": true}));
        }
    }
    spec
}

/// The Job template both the CronJob and on-demand backups use.
pub fn job_spec(ctx: &Ctx) -> Value {
    let b = &ctx.sys.spec.database.backup;
    let mut env = vec![
        pod::env("RETAIN", b.retain.to_string()),
        pod::env("VERIFY", b.verify.to_string()),
    ];
    let mut offsite = Vec::new();
    if let Some(d) = &b.destination {
        let (e, sources) = s3_access(&d.s3, (&d.recipient_secret, &d.recipient_key, "recipient"));
        env.extend(e);
        offsite = sources;
    }
    let claim = ctx.names.backup_pvc();
    let spec = pg_tool_pod(
        ctx,
        "backup",
        &backup_script(b.destination.is_some()),
        env,
        BackupVolume {
            claim: Some(&claim),
            mount_path: "/backups",
            read_only: false,
            offsite,
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
