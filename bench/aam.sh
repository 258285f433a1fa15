#!/usr/bin/env bash
# AAM throughput and latency (a benchmark, not a test: it prints numbers, it never fails on
# them). Starts ULM (127.0.0.1:18111) and AAM (127.0.0.1:18102) from the release build of
# ovu-stack (services/stack, one process) on fresh databases, PID in $OVU_RUN_DIR/bench-aam/,
# logs in as ULM's bootstrap super-admin, then wrk: CONNS connections for DURATION on the
# dashboard (whose ULM figures AAM caches for AAM_DASHBOARD_CACHE_MS, default 5 s, so the run
# includes refetches from ULM) and on the application list.
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
mkdir -p "$WORK"

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh)"
scripts/services.sh start >/dev/null
# shellcheck source=/dev/null  # written by scripts/services.sh
source "$RUN_DIR/env"
cargo build --release -p ovu-stack --locked >&2

trap 'stop_stack "$WORK"' EXIT
RUST_LOG=warn STACK_BIN=target/release/ovu-stack start_stack "$WORK" "$WORK/stack.log" --ulm --aam \
  --ulm-addr "127.0.0.1:$ULM_PORT" --aam-addr "127.0.0.1:$AAM_PORT" \
  --db-prefix aam_bench --drop-db --admin-email bench@ovu.test
AAM="$STACK_AAM_URL"

resp="$(curl -fsS -H 'content-type: application/json' \
  -d "{\"login\":\"$STACK_ADMIN_EMAIL\",\"password\":\"$STACK_ADMIN_PASSWORD\"}" "$STACK_ULM_URL/api/v1/auth/login")"
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
