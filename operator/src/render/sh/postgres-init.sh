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
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --pwfile="$OVU_PG_SECRETS/superuser-password" --encoding=UTF8 --locale=C --auth=scram-sha-256 > /dev/null
fi
pg_ctl -D "$PGDATA" -w -t 60 -l "$tmp/bootstrap.log" -o "-p $port -c listen_addresses='' -c unix_socket_directories=$sock -c hba_file=$conf/pg_hba.conf" start > /dev/null
trap 'rm -f "$tmp/pgpass"; pg_ctl -D "$PGDATA" -m fast -w stop > /dev/null' EXIT
# printf is the shell's own: the password is written to the file, never in an argv.
printf '*:*:*:postgres:%s\n' "$(cat "$OVU_PG_SECRETS/superuser-password")" > "$tmp/pgpass"
PGPASSFILE="$tmp/pgpass" psql -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d postgres -f "$conf/init.sql"
echo "bootstrap: ulm_user owns ulm_db, aam_user owns aam_db; ovu_backup dumps and restores them"
