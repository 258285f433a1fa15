//! Restore: a new system's `ulm_db` and `aam_db` filled from a backup before ULM and AAM
//! first start (`spec.database.restore`). The Job mounts the backup volume of the system the
//! backup came from (read-only) and `pg_restore`s each database's dump as that database's own
//! role (`ulm_user`, `aam_user`), so the services own what they find, exactly as if their own
//! migrations had made it.

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
pub const RESTORE_SH: &str = r#"src="${RESTORE_DIR:-/restore}"
want="${RESTORE_BACKUP:-latest}"
available() { ls -1 "$src" 2>/dev/null | grep '^2.*Z$' | tr '\n' ' '; }
if [ "$want" = latest ]; then
  b=$(ls -1d "$src"/2*Z 2>/dev/null | sort | tail -n 1)
  if [ -z "$b" ]; then
    echo "restore: no complete backup in the volume (it holds: $(ls -A "$src" | tr '\n' ' '))" >&2
    exit 1
  fi
else
  b="$src/$want"
  if [ ! -d "$b" ]; then
    echo "restore: backup $want is not in the volume; it holds: $(available)" >&2
    exit 1
  fi
fi
name=$(basename "$b")
echo "restore: using backup $name"
for db in ulm_db aam_db; do
  if [ ! -s "$b/$db.dump" ]; then
    echo "restore: $name/$db.dump is missing or empty" >&2
    exit 1
  fi
  pg_restore --list "$b/$db.dump" > /dev/null
done
q() { psql -h "$PGHOST" -p "${PGPORT:-5432}" -d "$1" -v ON_ERROR_STOP=1 -tAc "$2"; }
marker="ovu: restored from backup $name"
for db in ulm_db aam_db; do
  done_from=$(q "$db" "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()")
  if [ "$done_from" = "$marker" ]; then
    echo "restore: $db was already restored from $name"
    continue
  fi
  objects=$(q "$db" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')")
  if [ "$objects" != 0 ]; then
    echo "restore: $db already holds $objects tables or other objects; a restore only fills the empty databases of a new system" >&2
    exit 1
  fi
  pg_restore -h "$PGHOST" -p "${PGPORT:-5432}" -d "$db" --role="${db%_db}_user" \
    --no-owner --no-privileges --single-transaction --exit-on-error "$b/$db.dump"
  q "$db" "COMMENT ON DATABASE $db IS '$marker'" > /dev/null
  echo "restore: $db restored from $name"
done
echo "restore complete"
"#;

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
    let spec = backup::pg_tool_pod(
        ctx,
        "restore",
        RESTORE_SH,
        vec![pod::env("RESTORE_BACKUP", r.backup.clone())],
        backup::BackupVolume {
            claim: &r.from_claim,
            mount_path: "/restore",
            read_only: true,
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
