#!/usr/bin/env bash
# ULM throughput and latency (a benchmark, not a test: it prints numbers, it never fails
# on them). Starts ULM from the release build of ovu-stack (services/stack) on
# 127.0.0.1:18101 against a fresh database, with rate limits raised so the login run
# measures hashing, not the throttle; PID in $OVU_RUN_DIR/bench/. Then wrk: 64 connections
# for 20 s on the GET endpoints, 16 on login; and the raw argon2id rate for comparison.
#
#   bench/ulm.sh                 # DURATION=20s CONNS=64 LOGIN_CONNS=16 by default
set -euo pipefail
LOG_TAG=bench
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
WORK="$RUN_DIR/bench"
DURATION="${DURATION:-20s}"
CONNS="${CONNS:-64}"
LOGIN_CONNS="${LOGIN_CONNS:-16}"
PORT="${BENCH_PORT:-18101}"
mkdir -p "$WORK"

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh)"
scripts/services.sh start >/dev/null
# shellcheck source=/dev/null  # written by scripts/services.sh
source "$RUN_DIR/env"
cargo build --release -p ovu-stack -p ovu-ulm --locked >&2

trap 'stop_stack "$WORK"' EXIT
RUST_LOG=warn STACK_BIN=target/release/ovu-stack start_stack "$WORK" "$WORK/ulm.log" --ulm \
  --ulm-addr "127.0.0.1:$PORT" --db-prefix ulm_bench --drop-db --admin-email bench@ovu.test \
  --ulm-env ULM_RATE_LOGIN_PER_MIN=1000000 --ulm-env ULM_LOCKOUT_THRESHOLD=1000000
BASE="$STACK_ULM_URL"

LOGIN_BODY="{\"login\":\"$STACK_ADMIN_EMAIL\",\"password\":\"$STACK_ADMIN_PASSWORD\"}"
resp="$(curl -fsS -H 'content-type: application/json' -d "$LOGIN_BODY" "$BASE/api/v1/auth/login")"
TOKEN="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$resp")"
USER_ID="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$resp")"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), ulm $(git rev-parse --short HEAD), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| endpoint | connections | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
run "GET /api/health" "$CONNS" "$BASE/api/health"
run "GET /api/v1/users/me (JWT)" "$CONNS" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/users/me"
run "GET /api/v1/users/{id} (JWT, admin)" "$CONNS" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/users/$USER_ID"
export BENCH_LOGIN_BODY="$LOGIN_BODY"
run "POST /api/v1/auth/login" "$LOGIN_CONNS" -s bench/login.lua "$BASE/api/v1/auth/login"
echo
log "argon2id raw rate (ovu-ulm's release build, same cost, all cores)"
target/release/ovu-ulm hash-rate --seconds 10
