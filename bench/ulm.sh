#!/usr/bin/env bash
# ULM throughput and latency (a benchmark, not a test: it prints numbers, it never fails
# on them). Starts the release binary on 127.0.0.1:18101 against a fresh database, with
# rate limits raised so the login run measures hashing, not the throttle; PID in
# $OVU_RUN_DIR/bench/. Then wrk: 64 connections for 20 s on the GET endpoints, 16 on
# login; and the raw argon2id rate for comparison.
#
#   bench/ulm.sh                 # DURATION=20s CONNS=64 LOGIN_CONNS=16 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
WORK="$RUN_DIR/bench"
DURATION="${DURATION:-20s}"
CONNS="${CONNS:-64}"
LOGIN_CONNS="${LOGIN_CONNS:-16}"
PORT="${BENCH_PORT:-18101}"
BASE="http://127.0.0.1:$PORT"
BIN=target/release/ovu-ulm
mkdir -p "$WORK"

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

command -v wrk >/dev/null || { echo "bench: wrk is not installed (scripts/deps.sh)" >&2; exit 1; }
scripts/services.sh start >/dev/null
# shellcheck disable=SC1091
source "$RUN_DIR/env"
cargo build --release -p ovu-ulm --locked >&2
PG_BASE="${DATABASE_URL%%\?*}"; PG_BASE="${PG_BASE%/*}"
psql "$PG_BASE/postgres?sslmode=disable" -qX -c "DROP DATABASE IF EXISTS ulm_bench WITH (FORCE)" -c "CREATE DATABASE ulm_bench" >/dev/null

PASSWORD="bench admin password"
printf '%s\n' "$PASSWORD" > "$WORK/admin-password"
env DATABASE_URL="$PG_BASE/ulm_bench?sslmode=disable" ULM_LISTEN_ADDR="127.0.0.1:$PORT" \
    REDIS_KEY_PREFIX="ulm-bench:$$:" RUST_LOG=warn \
    ULM_BOOTSTRAP_ADMIN_EMAIL=bench@ovu.test ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE="$WORK/admin-password" \
    ULM_RATE_LOGIN_PER_MIN=1000000 ULM_LOCKOUT_THRESHOLD=1000000 \
    "$BIN" serve > "$WORK/ulm.log" 2>&1 &
echo $! > "$WORK/ulm.pid"
stop() {
  local pid; pid="$(cat "$WORK/ulm.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -f "$WORK/ulm.pid"
}
trap stop EXIT
for _ in $(seq 100); do curl -fsS "$BASE/api/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$BASE/api/ready" >/dev/null || { echo "bench: ulm did not start:" >&2; tail -5 "$WORK/ulm.log" >&2; exit 1; }

LOGIN_BODY="{\"login\":\"bench@ovu.test\",\"password\":\"$PASSWORD\"}"
resp="$(curl -fsS -H 'content-type: application/json' -d "$LOGIN_BODY" "$BASE/api/v1/auth/login")"
TOKEN="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$resp")"
USER_ID="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$resp")"

# wrk output → "req/s p50 p99"
summarise() {
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
       END {printf "%s %s %s %s\n", rps, p50, p99, (bad==""?0:bad)}'
}

run() { # label connections [wrk args...]
  local label="$1" conns="$2"; shift 2
  log "$label: wrk -t2 -c$conns -d$DURATION"
  local out; out="$(wrk -t2 -c"$conns" -d"$DURATION" --latency "$@")"
  echo "$out" > "$WORK/$(echo "$label" | tr ' /{}' '____').txt"
  read -r rps p50 p99 bad <<<"$(echo "$out" | summarise)"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$conns" "$rps" "$p50" "$p99" "$bad"
}

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
log "argon2id raw rate (same binary, same cost, all cores)"
"$BIN" hash-rate --seconds 10
