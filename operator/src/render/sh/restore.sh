src="${RESTORE_DIR:-/restore}"
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
pg_wait
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
