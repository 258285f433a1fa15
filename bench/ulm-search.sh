#!/usr/bin/env bash
# The admin's user search (GET /api/v1/users?q=…): its SQL, as the service sends it (a
# prepared statement, search_filter(true) in services/ulm/src/routes/users.rs), over
# USERS users (default 200000), before and after the trigram index of migration
# 20261126000001. pgbench, 2 clients, 15 s each; every search looks for a different user.
#
#   bench/ulm-search.sh [USERS]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$(dirname "$0")/.."
USERS=${1:-200000}
export PGOPTIONS="-c client_min_messages=warning"
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
scripts/services.sh start >/dev/null
# shellcheck source=/dev/null  # written by scripts/services.sh
source "$RUN_DIR/env"
PG_BASE=$(pg_base)
DB="$PG_BASE/ulm_search_bench?sslmode=disable"
fresh_db ulm_search_bench
trap 'psql "$PG_BASE/postgres?sslmode=disable" -qX -c "DROP DATABASE IF EXISTS ulm_search_bench WITH (FORCE)" >/dev/null' EXIT
# The migrations' users table without the index, then USERS users in 50 mail domains.
for m in migrations/ulm/*.sql; do
  [[ $m == *users_search_trgm* ]] || psql "$DB" -qX -v ON_ERROR_STOP=1 -f "$m" >/dev/null
done
psql "$DB" -qX -v ON_ERROR_STOP=1 -c "INSERT INTO users (email, username, password_hash, display_name)
  SELECT 'user' || g || '@corp' || (g % 50) || '.example', 'user' || g, 'x', 'User Number ' || g
  FROM generate_series(1, $USERS) g" -c "ANALYZE users"
script=$(mktemp)
cat >"$script" <<SQL
\set n random(1, $USERS)
SELECT count(*) FROM users u WHERE (u.email ILIKE '%user' || :n || '@%' OR u.username ILIKE '%user' || :n || '@%' OR u.display_name ILIKE '%user' || :n || '@%') AND (NULL::text IS NULL OR u.status = NULL);
SQL
run() {
  pgbench -n -M prepared -f "$script" -T 15 -c 2 -j 2 "$DB" 2>/dev/null |
    awk -v what="$1" '/latency average/ { lat = $4 } /^tps/ { tps = $3 } END { printf "| %s | %s ms | %.1f |\n", what, lat, tps }'
}
echo "| $USERS users | mean latency | searches/s |"
echo "|---|---|---|"
run "seq scan (no index)"
psql "$DB" -qX -v ON_ERROR_STOP=1 -f migrations/ulm/20261126000001_users_search_trgm.sql -c "ANALYZE users"
run "trigram index"
rm -f "$script"
