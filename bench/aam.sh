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
LOG_TAG=bench-aam
source "$(dirname "$0")/lib.sh"
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

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh)"
scripts/services.sh start >/dev/null
# shellcheck source=/dev/null  # written by scripts/services.sh
source "$RUN_DIR/env"
cargo build --release -p ovu-ulm -p ovu-aam --locked >&2
fresh_db ulm_aam_bench
fresh_db aam_bench

# shellcheck disable=SC2317  # called by the EXIT trap
stop() {
  stop_pidfile aam "$WORK/aam.pid" 5
  stop_pidfile ulm "$WORK/ulm.pid" 5
}
trap stop EXIT

PASSWORD="bench admin password"
printf '%s\n' "$PASSWORD" > "$WORK/admin-password"
env DATABASE_URL="$(pg_base)/ulm_aam_bench?sslmode=disable" ULM_LISTEN_ADDR="127.0.0.1:$ULM_PORT" \
    REDIS_KEY_PREFIX="ulm-aam-bench:$$:" RUST_LOG=warn \
    ULM_BOOTSTRAP_ADMIN_EMAIL=bench@ovu.test ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE="$WORK/admin-password" \
    target/release/ovu-ulm serve > "$WORK/ulm.log" 2>&1 &
echo $! > "$WORK/ulm.pid"
wait_ready ulm "$ULM/api/ready" "$WORK/ulm.log" "$WORK/ulm.pid"
env DATABASE_URL="$(pg_base)/aam_bench?sslmode=disable" REDIS_URL="${REDIS_URL%/*}/1" \
    AAM_LISTEN_ADDR="127.0.0.1:$AAM_PORT" ULM_URL="$ULM" RUST_LOG=warn \
    target/release/ovu-aam serve > "$WORK/aam.log" 2>&1 &
echo $! > "$WORK/aam.pid"
wait_ready aam "$AAM/api/ready" "$WORK/aam.log" "$WORK/aam.pid"

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


echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), aam $(git rev-parse --short HEAD); ULM, PostgreSQL and Redis on the same machine"
echo
echo "| endpoint | connections | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
run "GET /api/v1/dashboard" "$CONNS" -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/dashboard"
run "GET /api/v1/apps (50 apps)" "$CONNS" -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/apps"
run "GET /api/v1/apps?tag=bench&limit=10" "$CONNS" -H "Authorization: Bearer $TOKEN" "$AAM/api/v1/apps?tag=bench&limit=10"
