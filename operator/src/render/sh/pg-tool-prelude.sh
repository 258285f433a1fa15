set -eu
umask 077
export PGUSER=ovu_backup
export PGPASSFILE="${OVU_TMP_DIR:-/tmp}/pgpass"
printf '*:*:*:ovu_backup:%s\n' "$(cat "${OVU_PG_SECRETS:-/etc/ovu/postgres-secrets}/backup-password")" > "$PGPASSFILE"
