dir="${BACKUP_DIR:-/backups}"
ts=$(date -u +%Y%m%dT%H%M%SZ)
# Two backups may run at once on this volume (the schedule and a `backup-now`): each works in a
# folder of its own, and clears only what a killed run left — a partial folder untouched for two
# hours (a Job lives at most one) — never a live one's (seen 2026-12-05: the schedule's backup
# removed a backup-now's folder under it and that Job failed).
mkdir -p "$dir"
find "$dir" -mindepth 1 -maxdepth 1 -name '.partial-*' -mmin +120 -exec rm -rf {} +
work=$(mktemp -d "$dir/.partial-$ts-XXXXXX")
# The same for the scratch databases of the test restores below.
run_id=$(basename "$work" | sed 's/.*-//' | tr '[:upper:]' '[:lower:]')
pg_wait
for db in ulm_db aam_db; do
  pg_dump -h "$PGHOST" -p "${PGPORT:-5432}" -Fc -f "$work/$db.dump" "$db"
  pg_restore --list "$work/$db.dump" > /dev/null
done
if [ "${VERIFY:-true}" = true ]; then
  # A test restore of each dump into a scratch database on the same server: a dump can be
  # well-formed and still not restore (say a CHECK calling a function whose body relies on
  # search_path, which restores run empty). Scratch names carry this backup's time, so the
  # leftovers of a run killed midway (a Job lives at most an hour) are known and dropped.
  sql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "${PGPORT:-5432}" "$@"; }
  sql -d postgres -At -c "SELECT format('DROP DATABASE %I WITH (FORCE);', datname) FROM pg_database
      WHERE datname ~ '^ovu_verify_[0-9]{8}t[0-9]{6}z_' AND pg_get_userbyid(datdba) = current_user
        AND substr(datname, 12, 16) < to_char(now() AT TIME ZONE 'UTC' - interval '2 hours', 'YYYYMMDD\"t\"HH24MISS\"z\"')" |
    sql -d postgres
  scratch=""
  trap '[ -z "$scratch" ] || sql -d postgres -c "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)"' EXIT
  for db in ulm_db aam_db; do
    scratch="ovu_verify_$(echo "$ts" | tr TZ tz)_${run_id}_$db"
    sql -d postgres -c "CREATE DATABASE \"$scratch\""
    if ! pg_restore --exit-on-error --single-transaction --no-owner --no-privileges \
        -h "$PGHOST" -p "${PGPORT:-5432}" -d "$scratch" "$work/$db.dump"; then
      echo "verify: $db.dump does not restore (pg_restore's error above); this backup is not kept" >&2
      exit 1
    fi
    want=$(pg_restore --list "$work/$db.dump" | awk '$4 == "TABLE" && $5 != "DATA"' | wc -l)
    # Every table is read in full: a count per table, summed.
    got=$(sql -d "$scratch" -At -c "SELECT count(*) || ' ' || coalesce(sum((xpath('/row/c/text()',
        query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint), 0)
        FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    if [ "${got% *}" -ne "$want" ]; then
      echo "verify: $db.dump restored ${got% *} tables, its table of contents lists $want; this backup is not kept" >&2
      exit 1
    fi
    sql -d postgres -c "DROP DATABASE \"$scratch\" WITH (FORCE)"
    scratch=""
    echo "verified $db: a test restore holds all ${got% *} tables, ${got#* } rows" | tee -a "$work/verified"
  done
fi
# A second backup within the same second gets a suffix rather than replacing the first.
final="$dir/$ts"
n=1
while [ -e "$final" ]; do final="$dir/${ts%Z}_${n}Z"; n=$((n+1)); done
mv "$work" "$final"
echo "backup $final complete"
# Count-based retention: keep the newest $RETAIN complete backups.
ls -1d "$dir"/2*Z 2>/dev/null | sort | head -n "-$RETAIN" | while read -r old; do
  echo "retention: removing $old"
  rm -rf -- "$old"
done
