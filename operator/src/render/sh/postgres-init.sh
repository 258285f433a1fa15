set -eu
umask 077
# Paths default to the pod's mounts; tests point them elsewhere.
conf="${OVU_PG_CONFIG_DIR:-/etc/ovu/postgres}"
sock="${OVU_PG_SOCKET_DIR:-/var/run/postgresql}"
tmp="${OVU_TMP_DIR:-/tmp}"
port="${PGPORT:-5432}"
# Passwords are files of the mounted Secret, never variables or arguments; init.sql reads
# them itself (psql's backquotes), so they reach no command line.
export OVU_PG_SECRETS="${OVU_PG_SECRETS:-/etc/ovu/postgres-secrets}"
# A data directory of another major version (15 from before the image moved to 16) cannot be
# started by this server: refuse before anything touches it, with exit code 4 and a termination
# message the operator turns into the condition DataVersionMismatch (not a crash to wait out).
if [ -s "$PGDATA/PG_VERSION" ]; then
  have=$(cat "$PGDATA/PG_VERSION")
  runs=$(postgres --version | sed -n 's/^postgres (PostgreSQL) \([0-9]*\).*/\1/p')
  if [ -n "$runs" ] && [ "$have" != "$runs" ]; then
    msg="the data directory is PostgreSQL $have's and this image runs PostgreSQL $runs, which cannot open it (nothing was changed): run a PostgreSQL $have image again, or move the data with a backup restored into a new system (README: Moving to PostgreSQL 16)"
    echo "bootstrap: $msg" >&2
    printf '%s\n' "$msg" > "${TERMINATION_LOG:-/dev/termination-log}" 2> /dev/null || true
    exit 4
  fi
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --pwfile="$OVU_PG_SECRETS/superuser-password" --encoding=UTF8 --locale=C --auth=scram-sha-256 > /dev/null
fi
pg_ctl -D "$PGDATA" -w -t 60 -l "$tmp/bootstrap.log" -o "-p $port -c listen_addresses='' -c unix_socket_directories=$sock -c hba_file=$conf/pg_hba.conf" start > /dev/null
trap 'rm -f "$tmp/pgpass"; pg_ctl -D "$PGDATA" -m fast -w stop > /dev/null' EXIT
# printf is the shell's own: the password is written to the file, never in an argv.
printf '*:*:*:postgres:%s\n' "$(cat "$OVU_PG_SECRETS/superuser-password")" > "$tmp/pgpass"
PGPASSFILE="$tmp/pgpass" psql -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d postgres -f "$conf/init.sql"
echo "bootstrap: ulm_user owns ulm_db, aam_user owns aam_db; ovu_backup dumps and restores them"
