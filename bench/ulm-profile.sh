#!/usr/bin/env bash
# Where the time of ULM's GET /users/me (or another route) goes with the per-replica cache off:
# a profile, not a benchmark. Starts the release ovu-stack (ULM only, ULM_ME_CACHE_MS=0) on
# 127.0.0.1:$ULM_PORT, drives the route with wrk for DURATION, and meanwhile records with perf
# (linux-perf, scripts/deps.sh):
#   1. the whole machine, no call graphs: which processes (ULM, PostgreSQL, wrk, kernel) get
#      the CPU — ULM, the database and the load generator share the cores;
#   2. ovu-stack alone with DWARF call graphs: which functions, inclusive of callees.
# Reports land in $OVU_RUN_DIR/bench-profile/ (by-process.txt, ulm-children.txt, ulm-self.txt).
#
#   bench/ulm-profile.sh                     # ROUTE=/api/v1/users/me DURATION=10s CONNS=64
#   ROUTE=/api/v1/users/ID bench/ulm-profile.sh   # ID is replaced by the admin's user id
set -euo pipefail
LOG_TAG=bench-profile
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
WORK="$RUN_DIR/bench-profile"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
ULM_PORT="${ULM_PORT:-18203}"
ROUTE="${ROUTE:-/api/v1/users/me}"
ME_CACHE_MS="${ME_CACHE_MS:-0}"
mkdir -p "$WORK"

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh)"
# perf is for profiling only, so scripts/deps.sh (what tests need) does not install it.
command -v perf >/dev/null || die "perf is not installed: apt-get install linux-perf"
[[ $DURATION =~ ^[0-9]+s$ ]] || die "DURATION must be whole seconds, like 10s"
# STACK_BIN: another build to measure (e.g. a copy of an earlier commit's); default: build this one.
services_and_stack

trap 'stop_stack "$WORK"' EXIT
RUST_LOG=warn start_stack "$WORK" "$WORK/stack.log" --ulm \
  --ulm-addr "127.0.0.1:$ULM_PORT" --db-prefix ulm_bench_profile --drop-db \
  --admin-email bench@ovu.test --ulm-env "ULM_ME_CACHE_MS=$ME_CACHE_MS"
resp="$(curl -fsS -H 'content-type: application/json' \
  -d "{\"login\":\"$STACK_ADMIN_EMAIL\",\"password\":\"$STACK_ADMIN_PASSWORD\"}" "$STACK_ULM_URL/api/v1/auth/login")"
TOKEN="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$resp")"
USER_ID="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$resp")"
URL="$STACK_ULM_URL${ROUTE//ID/$USER_ID}"
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL"

secs=${DURATION%s}
log "wrk -t2 -c$CONNS -d$((secs + 4))s $ROUTE; perf for ${secs}s from the 2nd second"
wrk -t2 -c"$CONNS" -d"$((secs + 4))s" --latency -H "Authorization: Bearer $TOKEN" "$URL" >"$WORK/wrk.txt" &
wrk_pid=$!
sleep 2
perf record -q -a -F 499 -o "$WORK/all.data" -- sleep "$((secs / 2))" 2>/dev/null
perf record -q -F 499 --call-graph dwarf,16384 -p "$(<"$WORK/stack.pid")" -o "$WORK/ulm.data" \
  -- sleep "$((secs / 2))" 2>/dev/null
wait "$wrk_pid"
perf report -i "$WORK/all.data" --sort comm --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' >"$WORK/by-process.txt"
perf report -i "$WORK/ulm.data" --children --sort symbol --stdio -g none --percent-limit 2 2>/dev/null |
  grep -v '^#' | grep -v '^$' >"$WORK/ulm-children.txt"
perf report -i "$WORK/ulm.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.7 2>/dev/null |
  grep -v '^#' | grep -v '^$' >"$WORK/ulm-self.txt"
echo "wrk: $(summarise <"$WORK/wrk.txt")   (req/s p50 p99 non-2xx; slowed by perf)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "--- CPU by process (whole machine) ---"; head -15 "$WORK/by-process.txt"
echo "--- ovu-stack, inclusive (children) ---"; head -45 "$WORK/ulm-children.txt"
echo "--- ovu-stack, self ---"; head -30 "$WORK/ulm-self.txt"
