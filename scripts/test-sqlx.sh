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
#
# This is what `cargo sqlx prepare [--check]` does, without building sqlx-cli (minutes of
# CI for one `cargo check`): the macros themselves, compiled online (SQLX_OFFLINE=false,
# DATABASE_URL set), describe every query against the database and write the result into
# SQLX_OFFLINE_DIR; the crate's sources are touched first so cargo re-expands them.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_TAG=sqlx
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
[ -f "$RUN_DIR/env" ] || die "no $RUN_DIR/env; run scripts/services.sh start"
# shellcheck source=/dev/null
source "$RUN_DIR/env"
mode="${1:-check}"
case "$mode" in check | prepare) ;; *) usage >&2; exit 2 ;; esac

target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
for svc in ulm aam; do
  db="ovu_sqlx_$svc"
  fresh_db "$db"
  url="$(pg_base)/$db?sslmode=disable"
  # The migrations are plain SQL applied in file-name order, as sqlx's migrator does.
  for f in "migrations/$svc"/*.sql; do
    psql "$url" -qX -v ON_ERROR_STOP=1 --single-transaction -f "$f" >/dev/null || die "$f failed on a fresh database"
  done
  out="$target/sqlx-check/$svc"
  rm -rf "$out" "$target/sqlx-tmp"
  mkdir -p "$out" "$target/sqlx-tmp"
  log "$mode services/$svc/.sqlx against migrations/$svc"
  touch "services/$svc/src/lib.rs"
  SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out" SQLX_TMP="$target/sqlx-tmp" DATABASE_URL="$url" \
    cargo check --locked --quiet -p "ovu-$svc" --lib --bins
  if [ "$mode" = prepare ]; then
    rm -f "services/$svc/.sqlx"/query-*.json
    mkdir -p "services/$svc/.sqlx"
    cp "$out"/query-*.json "services/$svc/.sqlx/"
    log "wrote $(find "$out" -name 'query-*.json' | wc -l) queries to services/$svc/.sqlx"
    continue
  fi
  # Same verdict as `cargo sqlx prepare --check`: every query the code has is committed, with
  # the same description (compared as JSON); committed files no query uses are reported.
  python3 - "$out" "services/$svc/.sqlx" <<'PY' || die "services/$svc/.sqlx does not match the code and migrations/$svc; run scripts/test-sqlx.sh prepare"
import json, pathlib, sys
built, committed = (pathlib.Path(p) for p in sys.argv[1:3])
names = lambda d: {p.name for p in d.glob("query-*.json")}
b, c = names(built), names(committed)
bad = False
for n in sorted(b - c):
    print(f"  missing from {committed}: {n} ({json.loads((built / n).read_text())['query'][:80]!r})", file=sys.stderr)
    bad = True
for n in sorted(b & c):
    if json.loads((built / n).read_text()) != json.loads((committed / n).read_text()):
        print(f"  differs: {committed / n}", file=sys.stderr)
        bad = True
for n in sorted(c - b):
    print(f"  unused (no query in the code has it): {committed / n}", file=sys.stderr)
    bad = True
print(f"  {len(b)} queries checked", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
done
