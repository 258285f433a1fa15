#!/usr/bin/env bash
# Contract tests: runs schemathesis against each service's own OpenAPI document.
#
# For ULM: a fresh database, the built binary on a free loopback port (PID in
# $OVU_RUN_DIR/test-api/), a bootstrap super-admin whose token authenticates the run,
# then `schemathesis run --checks all`. Any 5xx or schema violation fails the script.
#
#   scripts/test-api.sh            # all services
#   MAX_EXAMPLES=50 scripts/test-api.sh
set -euo pipefail
LOG_TAG=test-api
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
WORK="$RUN_DIR/test-api"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
SCHEMATHESIS=.venv/bin/schemathesis
mkdir -p "$WORK"

[ -x "$SCHEMATHESIS" ] || die "$SCHEMATHESIS missing (run scripts/deps.sh)"
[ -f "$RUN_DIR/env" ] || scripts/services.sh start >/dev/null
# shellcheck source=/dev/null  # written by scripts/services.sh
source "$RUN_DIR/env"

PIDS=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local pidfile
  for pidfile in "${PIDS[@]}"; do stop_pidfile "$(basename "$pidfile" .pid)" "$pidfile" 5; done
}
trap cleanup EXIT

test_ulm() {
  local bin="${ULM_BIN:-target/debug/ovu-ulm}"
  [ -x "$bin" ] || cargo build -p ovu-ulm --locked
  local port; port="$(free_port)"
  local base="http://127.0.0.1:$port"
  fresh_db ulm_api_test
  printf 'schemathesis admin pw\n' > "$WORK/ulm-admin-password"
  log "ulm: starting $bin on $base"
  env DATABASE_URL="$(pg_base)/ulm_api_test?sslmode=disable" \
      ULM_LISTEN_ADDR="127.0.0.1:$port" \
      REDIS_KEY_PREFIX="ulm-api-test:$$:" \
      ULM_BOOTSTRAP_ADMIN_EMAIL=admin@ovu.test \
      ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE="$WORK/ulm-admin-password" \
      ULM_PUBLIC_URL="$base" \
      ULM_ADMIN_MFA=optional \
      RUST_LOG="${RUST_LOG:-warn}" \
      "$bin" serve > "$WORK/ulm.log" 2>&1 &
  echo $! > "$WORK/ulm.pid"
  PIDS+=("$WORK/ulm.pid")
  wait_ready ulm "$base/api/ready" "$WORK/ulm.log" "$WORK/ulm.pid"
  local token
  token="$(curl -fsS -H 'content-type: application/json' \
      -d '{"login":"admin@ovu.test","password":"schemathesis admin pw"}' "$base/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  # Logout with all_devices would end the run's own session halfway through; it is
  # covered by the integration tests instead.
  run_schemathesis ulm "$base" "$token" --exclude-path-regex '^/api/v1/auth/logout$'
  if grep -a -q '"level":"ERROR"\|ERROR' "$WORK/ulm.log"; then
    log "ulm logged errors during the run:"
    grep -a 'ERROR' "$WORK/ulm.log" | tail -20 >&2
    return 1
  fi
}

test_ulm
# Hook: AAM adds `test_aam` here (same pattern: fresh_db, start by PID, token from ULM,
# run_schemathesis aam "$base" "$token").
log "all contract tests passed"
