#!/usr/bin/env bash
# `make test-sqlx`: proves that the query data committed under services/ulm/.sqlx and
# services/aam/.sqlx — what the sqlx `query!` macros compile against, offline — matches the
# schema the migrations build. Each service is checked against a fresh database of its own
# (ovu_sqlx_ulm, ovu_sqlx_aam on the PostgreSQL of scripts/services.sh) with its migrations
# applied, like the tests' databases: a query that no longer fits the schema, or a query
# changed without re-preparing its data, fails here.
#
#   scripts/test-sqlx.sh            # check (after scripts/services.sh start)
#   scripts/test-sqlx.sh prepare    # rewrite the .sqlx data after changing a query or a migration
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
[ -f "$RUN_DIR/env" ] || { echo "test-sqlx: no $RUN_DIR/env; run scripts/services.sh start" >&2; exit 1; }
# shellcheck source=/dev/null
source "$RUN_DIR/env"
PATH="$(scripts/sqlx-cli.sh):$PATH"
mode="${1:-check}"
case "$mode" in check) check=(--check) ;; prepare) check=() ;; *) echo "usage: $0 [check|prepare]" >&2; exit 2 ;; esac

for svc in ulm aam; do
  url="postgres://postgres@127.0.0.1:$OVU_PG_PORT/ovu_sqlx_$svc?sslmode=disable"
  sqlx database drop -y --database-url "$url" >/dev/null
  sqlx database create --database-url "$url"
  sqlx migrate run --source "migrations/$svc" --database-url "$url" >/dev/null
  printf '\033[1m[sqlx]\033[0m %s %s against migrations/%s\n' "$mode" "services/$svc/.sqlx" "$svc"
  # `cargo sqlx prepare` runs `cargo check` on this package only, with the macros online.
  (cd "services/$svc" && cargo sqlx prepare "${check[@]}" --database-url "$url" -- --locked)
done
