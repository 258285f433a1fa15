#!/usr/bin/env bash
# Contract tests: runs schemathesis against each service's own OpenAPI document.
#
# For ULM: ovu-stack (services/stack) starts it on a fresh database and a free loopback port
# (PID in $OVU_RUN_DIR/test-api/stack.pid) with a bootstrap super-admin whose token
# authenticates the run, then `schemathesis run --checks all`. Any 5xx, schema violation or
# ERROR line in the service's log fails the script.
#
#   scripts/test-api.sh            # all services
#   MAX_EXAMPLES=50 scripts/test-api.sh
#   STACK_BIN=target/release/ovu-stack scripts/test-api.sh   # a given build, used as it is
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
# A given binary is used as it is; otherwise build (a no-op when up to date), so the run
# never tests a stale binary. The whole workspace, as `make build` does: `-p ovu-stack` alone
# resolves syn's and kube's features differently and compiled ~37 crates again (51 s in CI).
[ -n "${STACK_BIN:-}" ] || cargo build --workspace --locked
export RUST_LOG="${RUST_LOG:-warn}"

trap 'stop_stack "$WORK"' EXIT

test_ulm() {
  : > "$WORK/ulm.log"
  start_stack "$WORK" "$WORK/ulm.log" --ulm \
    --db-prefix ulm_api_test --drop-db --ulm-env "ULM_ADMIN_MFA=optional"
  log "ulm: serving on $STACK_ULM_URL"
  # Logout with all_devices would end the run's own session halfway through; it is
  # covered by the integration tests instead.
  run_schemathesis ulm "$STACK_ULM_URL" "$(admin_token)" --exclude-path-regex '^/api/v1/auth/logout$'
  if grep -a -q 'ERROR' "$WORK/ulm.log"; then
    log "ulm logged errors during the run:"
    grep -a 'ERROR' "$WORK/ulm.log" | tail -20 >&2
    return 1
  fi
}

test_ulm
log "all contract tests passed"
