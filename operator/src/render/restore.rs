//! Restore: a new system's `ulm_db` and `aam_db` filled from a backup before ULM and AAM
//! first start (`spec.database.restore`). The Job mounts the backup volume of the system the
//! backup came from (read-only) and `pg_restore`s each database's dump as that database's own
//! role (`ulm_user`, `aam_user`), so the services own what they find, exactly as if their own
//! migrations had made it. With `fromBucket` the backup comes from an off-site bucket instead:
//! fetched, decrypted with the age identity from a Secret, unpacked into a scratch volume.

use ovu_crds::Restore;
use serde_json::json;

use super::backup;
use super::names::{self, Component};
use super::pod;
use super::{Child, Ctx, Kind};

/// Picks the backup (`latest`: the newest complete folder; partial ones start with a dot and
/// never match), checks both dumps, then restores each database in one transaction. Only
/// into empty databases: a restore bootstraps a new system and never merges into data. A
/// database already restored from this very backup (the Job's pod retried after the first
/// database was done) is skipped, recognised by the comment the restore leaves on it.
pub const RESTORE_SH: &str = include_str!("sh/restore.sh");

/// Runs before [`RESTORE_SH`] for `fromBucket`: picks the object, decrypts it with the age
/// identity and unpacks it into the scratch volume as a backup folder.
pub const OFFSITE_FETCH_SH: &str = include_str!("sh/offsite-fetch.sh");

/// The restore Job's script, for a claim or (`from_bucket`) an off-site bucket.
pub fn restore_script(from_bucket: bool) -> String {
    if from_bucket {
        backup::tool_script(&format!(
            "{}{OFFSITE_FETCH_SH}{RESTORE_SH}",
            backup::OFFSITE_SH
        ))
    } else {
        backup::tool_script(RESTORE_SH)
    }
}

/// The labels every OVU backup volume carries (see `backup::claim`): a restore reads only
/// such a claim.
pub const BACKUP_CLAIM_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/managed-by", names::MANAGED_BY),
    ("app.kubernetes.io/component", "backup"),
];

/// Whether a live PersistentVolumeClaim is an OVU backup volume.
pub fn is_backup_claim(claim: &serde_json::Value) -> bool {
    BACKUP_CLAIM_LABELS
        .iter()
        .all(|(k, v)| claim["metadata"]["labels"][*k].as_str() == Some(*v))
}

/// The restore Job for `r` (owned by the system: it only matters while the system exists).
pub fn job(ctx: &Ctx, r: &Restore) -> Child {
    let mut env = vec![pod::env("RESTORE_BACKUP", r.backup.clone())];
    let mut offsite = Vec::new();
    if let Some(b) = &r.from_bucket {
        let (e, sources) =
            backup::s3_access(&b.s3, (&b.identity_secret, &b.identity_key, "identity"));
        env.extend(e);
        offsite = sources;
    }
    let spec = backup::pg_tool_pod(
        ctx,
        "restore",
        &restore_script(r.from_bucket.is_some()),
        env,
        backup::BackupVolume {
            // fromBucket: the backup is fetched into an empty scratch volume.
            claim: r.from_claim.as_deref().filter(|_| r.from_bucket.is_none()),
            mount_path: "/restore",
            read_only: r.from_bucket.is_none(),
            offsite,
        },
    );
    ctx.child(
        Kind::Job,
        &ctx.names.restore_job(),
        Component::Restore,
        json!({"spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 7200,
            "template": {
                "metadata": {"labels": names::labels(ctx.system(), Component::Restore)},
                "spec": spec,
            },
        }}),
    )
}

#[cfg(test)]
mod claim_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ovu_backup_volumes_qualify() {
        let labelled =
            |l: serde_json::Value| json!({"metadata": {"name": "x-backups", "labels": l}});
        assert!(is_backup_claim(&labelled(json!({
            "app.kubernetes.io/managed-by": "ovu-operator",
            "app.kubernetes.io/component": "backup",
            "app.kubernetes.io/instance": "old",
        }))));
        assert!(!is_backup_claim(&labelled(json!(null))));
        assert!(!is_backup_claim(&labelled(
            json!({"app.kubernetes.io/component": "backup"})
        )));
        assert!(!is_backup_claim(&labelled(json!({
            "app.kubernetes.io/managed-by": "ovu-operator",
            "app.kubernetes.io/component": "postgres",
        }))));
    }
}
