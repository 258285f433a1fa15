#!/usr/bin/env bash
# AAM for `make dev`, beside the ULM that scripts/dev.sh started: its own database (aam_db),
# Redis db 1, ULM's JWKS at $ULM_ADDR; PID in $OVU_RUN_DIR/dev/aam.pid so `stop` ends exactly it.
#
#   scripts/dev-aam.sh start|stop|status
set -euo pipefail
LOG_TAG=dev
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
DEV="$RUN_DIR/dev"
ULM_ADDR="${ULM_ADDR:-127.0.0.1:8001}"
AAM_ADDR="${AAM_ADDR:-127.0.0.1:8002}"
PIDFILE="$DEV/aam.pid"

running() { pidfile_alive "$PIDFILE"; }

start() {
  # shellcheck source=/dev/null  # written by scripts/services.sh
  source "$RUN_DIR/env"
  mkdir -p "$DEV"
  local bin=target/debug/ovu-aam
  [ -x "$bin" ] || cargo build -p ovu-aam --locked
  if running; then log "aam already running (pid $(cat "$PIDFILE"))"; return; fi
  local db_url; db_url="$(ensure_db aam_db)"
  export DATABASE_URL="$db_url" REDIS_URL="${REDIS_URL%/*}/1" \
    AAM_LISTEN_ADDR="$AAM_ADDR" ULM_URL="http://$ULM_ADDR" \
    AAM_ADMIN_MFA="${AAM_ADMIN_MFA:-${ULM_ADMIN_MFA:-optional}}"
  "$bin" migrate > "$DEV/aam-migrate.log" 2>&1 || { cat "$DEV/aam-migrate.log" >&2; exit 1; }
  log "starting aam on http://$AAM_ADDR (log: $DEV/aam.log)"
  start_bg "$PIDFILE" "$DEV/aam.log" "$bin" serve
  wait_ready aam "http://$AAM_ADDR/api/ready" "$DEV/aam.log" "$PIDFILE" 20 || exit 1
  log "AAM     http://$AAM_ADDR  (API docs: http://$AAM_ADDR/api/docs; sign in at ULM, send its token)"
}

stop() { stop_pidfile aam "$PIDFILE"; }

status() {
  if running; then echo "aam: running (pid $(cat "$PIDFILE")) on $AAM_ADDR"; else echo "aam: stopped"; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
