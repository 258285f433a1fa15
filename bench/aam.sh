#!/usr/bin/env bash
# AAM throughput and latency (a benchmark, not a test: it prints numbers, it never fails on
# them). Starts the release binaries of ULM (127.0.0.1:18111) and AAM (127.0.0.1:18102) on
# fresh databases, PIDs in $OVU_RUN_DIR/bench-aam/, logs in as ULM's bootstrap super-admin,
# then wrk: CONNS connections for DURATION on the dashboard (whose ULM figures AAM caches
# for AAM_DASHBOARD_CACHE_MS, default 5 s, so the run includes refetches from ULM) and on
# the application list.
#
#   bench/aam.sh                 # DURATION=20s CONNS=32 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
WORK="$RUN_DIR/bench-aam"
DURATION="${DURATION:-20s}"
CONNS="${CONNS:-32}"
ULM_PORT="${BENCH_ULM_PORT:-18111}"
AAM_PORT="${BENCH_AAM_PORT:-18102}"
ULM="http://127.0.0.1:$ULM_PORT"
AAM="http://127.0.0.1:$AAM_PORT"
mkdir -p "$WORK"

log() { printf '\033[1m[bench-aam]\033[0m %s\n' "$*" >&2; }

command -v wrk >/dev/null || { echo "bench: wrk is not installed (scripts/deps.sh)" >&2; exit 1; }
scripts/services.sh start >/dev/null
# shellcheck disable=SC1091
source "$RUN_DIR/env"
cargo build --release -p ovu-ulm -p ovu-aam --locked >&2
PG_BASE="${DATABASE_URL%%\?*}"; PG_BASE="${PG_BASE%/*}"
for db in ulm_aam_bench aam_bench; do
  psql "$PG_BASE/postgres?sslmode=disable" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
done

stop() {
  for name in aam ulm; do
    local pid; pid="$(cat "$WORK/$name.pid" 2>/dev/null || true)"
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$WORK/$name.pid"
  done
}
trap stop EXIT

wait_ready() { # url log
  for _ in $(seq 150); do curl -fsS "$1/api/ready" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "bench: $1 did not become ready" >&2; tail -20 "$2" >&2; return 1
}

PASSWORD="bench admin password"
printf '%s\n' "$PASSWORD" > "$WORK/admin-password"
env DATABASE_URL="$PG_BASE/ulm_aam_bench?sslmode=disable" ULM_LISTEN_ADDR="127.0.0.1:$ULM_PORT" \
    REDIS_KEY_PREFIX="ulm-aam-bench:$$:" RUST_LOG=warn \
    ULM_BOOTSTRAP_ADMIN_EMAIL=bench@ovu.test ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE="$WORK/admin-password" \
    target/release/ovu-ulm serve > "$WORK/ulm.log" 2>&1 &
echo $! > "$WORK/ulm.pid"
wait_ready "$ULM" "$WORK/ulm.log"
env DATABASE_URL="$PG_BASE/aam_bench?sslmode=disable" REDIS_URL="${REDIS_URL%/*}/1" \
    AAM_LISTEN_ADDR="127.0.0.1:$AAM_PORT" ULM_URL="$ULM" RUST_LOG=warn \
    target/release/ovu-aam serve > "$WORK/aam.log" 2>&1 &
echo $! > "$WORK/aam.pid"
wait_ready "$AAM" "$WORK/aam.log"

resp="$(curl -fsS -H 'content-type: application/json' \
  -d "{\"login\":\"bench@ovu.test\",\"password\":\"$PASSWORD\"}" "$ULM/api/v1/auth/login")"
TOKEN="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$resp")"
# A registry of realistic size: the two seeded apps plus 48 more.
for i in $(seq 1 48); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"code\":\"app$i\",\"name\":\"App $i\",\"type\":\"service\",\"tags\":[\"bench\"],\"display_order\":$i}" \
    "$AAM/api/v1/apps"
done
# Warm up: the first dashboard call fills the ULM figures and the health sample.
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/dashboard"

summarise() {
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
       END {printf "%s %s %s %s\n", rps, p50, p99, (bad==""?0:bad)}'
}

run() { # label connections [wrk args...]
  local label="$1" conns="$2"; shift 2
  log "$label: wrk -t2 -c$conns -d$DURATION"
  local out; out="$(wrk -t2 -c"$conns" -d"$DURATION" --latency "$@")"
  echo "$out" > "$WORK/$(echo "$label" | tr ' /{}?=&' '_______').txt"
  read -r rps p50 p99 bad <<<"$(echo "$out" | summarise)"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$conns" "$rps" "$p50" "$p99" "$bad"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), aam $(git rev-parse --short HEAD); ULM, PostgreSQL and Redis on the same machine"
echo
echo "| endpoint | connections | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
run "GET /api/v1/dashboard" "$CONNS" -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/dashboard"
run "GET /api/v1/apps (50 apps)" "$CONNS" -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/apps"
run "GET /api/v1/apps?tag=bench&limit=10" "$CONNS" -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/apps?tag=bench&limit=10"
