#!/usr/bin/env bash
# ULM's read path against the database's own ceiling, in one run (a benchmark, not a test: it
# prints numbers, it never fails on them). Everything on 127.0.0.1, bounded load only.
#
#  1. `pgbench -S -M prepared` (select-only, prepared statements) with the same client count
#     and threads as wrk, against the same PostgreSQL (scripts/services.sh), scale PGBENCH_SCALE
#     (default 1: 100,000 accounts, all in shared_buffers, like ULM's small hot tables).
#  2. ovu-stack (release) with ULM_ME_CACHE_MS=0 (no /users/me cache) and AAM: /api/health,
#     GET /users/me, GET /users/{id}, then AAM's relayed GET /users/{id} against ULM's own at
#     CONNS connections and at 1 connection (where the p50 difference is the relay's own cost,
#     not queueing behind a second service on the same cores).
#     The /users rows run twice: every request with one token (one session: requests waiting
#     together share one row of ULM's coalesced reads), and with CONNS sessions taken in turn
#     (bench/sessions.lua: a row per request).
#  3. ovu-stack with the cache on (the default 1000 ms): /api/health, /users/me, /users/{id}.
#
#   bench/ulm-vs-pgbench.sh      # DURATION=10s CONNS=64 PGBENCH_SCALE=1 ULM_PORT=18201 AAM_PORT=18202 ULM_ENV=
#
# Raw outputs land in $OVU_RUN_DIR/bench-pg/. Prints one markdown table (for bench/README.md)
# whose last column is the 1-minute load average right after each row: the machine is shared.
set -euo pipefail
LOG_TAG=bench-pg
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
WORK="$RUN_DIR/bench-pg"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
PGBENCH_SCALE="${PGBENCH_SCALE:-1}"
ULM_PORT="${ULM_PORT:-18201}"
AAM_PORT="${AAM_PORT:-18202}"
mkdir -p "$WORK"

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh)"
command -v pgbench >/dev/null || die "pgbench is not installed (scripts/deps.sh: postgresql)"
[[ $DURATION =~ ^[0-9]+s$ ]] || die "DURATION must be whole seconds, like 10s"
# ULM_ENV: more settings for ULM, space-separated (e.g. "ULM_READ_LANES=1").
EXTRA_ENV=()
for kv in ${ULM_ENV:-}; do EXTRA_ENV+=(--ulm-env "$kv"); done
# STACK_BIN: another build to measure (e.g. a copy of an earlier commit's); default: build this one.
services_and_stack

load1() { cut -d' ' -f1 /proc/loadavg; }

# row LABEL CONNECTIONS [wrk args...]: lib.sh's run with the load average appended.
row() {
  local line
  line="$(run "$@")"
  printf '%s %s |\n' "$line" "$(load1)"
}

# pgbench_row: pgbench -S on its own database; p50/p99 from its per-transaction log.
pgbench_row() {
  local db=ulm_bench_pgbench
  fresh_db "$db"
  log "pgbench -i -s $PGBENCH_SCALE"
  pgbench -q -i -s "$PGBENCH_SCALE" "$(pg_base)/$db?sslmode=disable" >"$WORK/pgbench-init.txt" 2>&1
  rm -f "$WORK"/pgbench_log.*
  log "pgbench -S -M prepared -c$CONNS -j2 -T${DURATION%s}"
  (cd "$WORK" && pgbench -n -S -M prepared -c "$CONNS" -j 2 -T "${DURATION%s}" -l \
    "$(pg_base)/$db?sslmode=disable") >"$WORK/pgbench.txt" 2>&1
  local load tps p50 p99
  load="$(load1)"
  tps="$(awk '/^tps/ {printf "%.2f", $3}' "$WORK/pgbench.txt")"
  # Log lines: client transaction latency_us script epoch_s epoch_us.
  read -r p50 p99 <<<"$(cat "$WORK"/pgbench_log.* | awk '{print $3}' | sort -n |
    awk '{v[NR]=$1} END {printf "%.2fms %.2fms\n", v[int(NR*0.5)]/1000, v[int(NR*0.99)]/1000}')"
  rm -f "$WORK"/pgbench_log.*
  psql "$(pg_base)/postgres?sslmode=disable" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  printf '| pgbench -S -M prepared (scale %s) | %s | %s | %s | %s | 0 | %s |\n' \
    "$PGBENCH_SCALE" "$CONNS" "$tps" "$p50" "$p99" "$load"
}

# stack_up NAME ME_CACHE_MS: ULM and AAM in one ovu-stack; sets BASE, AAM, TOKEN, USER_ID.
stack_up() {
  local dir="$WORK/$1"
  trap 'stop_stack "$WORK/off"; stop_stack "$WORK/on"' EXIT
  RUST_LOG=warn start_stack "$dir" "$dir.log" --ulm --aam \
    --ulm-addr "127.0.0.1:$ULM_PORT" --aam-addr "127.0.0.1:$AAM_PORT" \
    --db-prefix "ulm_bench_$1" --drop-db --admin-email bench@ovu.test \
    --ulm-env "ULM_ME_CACHE_MS=$2" \
    --ulm-env ULM_RATE_LOGIN_PER_MIN=1000000 --ulm-env ULM_LOCKOUT_THRESHOLD=1000000 \
    "${EXTRA_ENV[@]}"
  BASE="$STACK_ULM_URL"
  AAM="$STACK_AAM_URL"
  local resp
  resp="$(curl -fsS -H 'content-type: application/json' \
    -d "{\"login\":\"$STACK_ADMIN_EMAIL\",\"password\":\"$STACK_ADMIN_PASSWORD\"}" "$BASE/api/v1/auth/login")"
  TOKEN="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$resp")"
  USER_ID="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$resp")"
  # CONNS more sessions of the same account, one per line, for the rows where concurrent
  # requests carry different sessions (bench/sessions.lua).
  TOKENS_FILE="$WORK/tokens-$1.txt"
  : >"$TOKENS_FILE"
  local i
  for ((i = 0; i < CONNS; i++)); do
    curl -fsS -H 'content-type: application/json' \
      -d "{\"login\":\"$STACK_ADMIN_EMAIL\",\"password\":\"$STACK_ADMIN_PASSWORD\"}" "$BASE/api/v1/auth/login" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' >>"$TOKENS_FILE"
  done
  export TOKENS_FILE
  # Warm both paths (AAM's JWKS and session check, the statement caches).
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/users/$USER_ID"
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/users/me"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $DURATION per row, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | connections | req/s (tps) | p50 | p99 | non-2xx | load 1 min after |"
echo "|---|---|---|---|---|---|---|"
pgbench_row

stack_up off 0
AUTH=(-H "Authorization: Bearer $TOKEN")
row "cache off: GET /api/health" "$CONNS" "$BASE/api/health"
row "cache off: GET /api/v1/users/me" "$CONNS" "${AUTH[@]}" "$BASE/api/v1/users/me"
row "cache off: GET /api/v1/users/{id}" "$CONNS" "${AUTH[@]}" "$BASE/api/v1/users/$USER_ID"
row "cache off: GET /api/v1/users/me, $CONNS sessions" "$CONNS" -s bench/sessions.lua "$BASE/api/v1/users/me"
row "cache off: GET /api/v1/users/{id}, $CONNS sessions" "$CONNS" -s bench/sessions.lua "$BASE/api/v1/users/$USER_ID"
row "AAM relay: GET /api/v1/users/{id}" "$CONNS" "${AUTH[@]}" "$AAM/api/v1/users/$USER_ID"
row "ULM own: GET /api/v1/users/{id}" 1 "${AUTH[@]}" "$BASE/api/v1/users/$USER_ID"
row "AAM relay: GET /api/v1/users/{id}" 1 "${AUTH[@]}" "$AAM/api/v1/users/$USER_ID"
stop_stack "$WORK/off"

stack_up on 1000
AUTH=(-H "Authorization: Bearer $TOKEN")
row "cache on: GET /api/health" "$CONNS" "$BASE/api/health"
row "cache on: GET /api/v1/users/me" "$CONNS" "${AUTH[@]}" "$BASE/api/v1/users/me"
row "cache on: GET /api/v1/users/{id}" "$CONNS" "${AUTH[@]}" "$BASE/api/v1/users/$USER_ID"
