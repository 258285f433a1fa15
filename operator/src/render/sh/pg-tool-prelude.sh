set -eu
umask 077
export PGUSER=ovu_backup
export PGPASSFILE="${OVU_TMP_DIR:-/tmp}/pgpass"
printf '*:*:*:ovu_backup:%s\n' "$(cat "${OVU_PG_SECRETS:-/etc/ovu/postgres-secrets}/backup-password")" > "$PGPASSFILE"
# Waits until the server accepts connections, at most PG_WAIT_SECONDS (default 180). A Job can
# start before it can reach the server: a restore's pod before kube-proxy has the new Service's
# endpoint (it answers "Connection refused" until then; seen in CI 2026-12-06), a scheduled
# backup while PostgreSQL restarts. Failing at once would spend one of the Job's few retries.
pg_wait() {
  limit="${PG_WAIT_SECONDS:-180}"
  waited=0
  until pg_isready -q -h "$PGHOST" -p "${PGPORT:-5432}" -d postgres; do
    if [ "$waited" -ge "$limit" ]; then
      echo "PostgreSQL at $PGHOST:${PGPORT:-5432} did not accept connections within $limit s" >&2
      exit 1
    fi
    if [ $((waited % 30)) -eq 0 ]; then
      echo "waiting for PostgreSQL at $PGHOST:${PGPORT:-5432} to accept connections" >&2
    fi
    sleep 2
    waited=$((waited + 2))
  done
}
