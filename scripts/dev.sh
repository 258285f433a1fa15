#!/usr/bin/env bash
# `make dev` / `make up` (until the cluster issue lands): PostgreSQL and Redis from
# scripts/services.sh, then the OVU services as background processes on loopback.
# Each service's PID is recorded under $OVU_RUN_DIR/dev/ so `stop` ends exactly those.
#
#   scripts/dev.sh          # start (idempotent)
#   scripts/dev.sh stop     # stop the services started here (PostgreSQL/Redis stay up)
#   scripts/dev.sh status
set -euo pipefail
LOG_TAG=dev
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
DEV="$RUN_DIR/dev"
ULM_ADDR="${ULM_ADDR:-127.0.0.1:8001}"


start_ulm() {
  local bin=target/debug/ovu-ulm
  [ -x "$bin" ] || cargo build -p ovu-ulm --locked
  local pidfile="$DEV/ulm.pid"
  if pidfile_alive "$pidfile"; then log "ulm already running (pid $(cat "$pidfile"))"; return; fi
  # Development secrets, made once and kept under .run/ (never committed).
  if [ ! -s "$DEV/ulm-signing-key.pem" ]; then
    (umask 077; "$bin" gen-key > "$DEV/ulm-signing-key.pem")
  fi
  if [ ! -s "$DEV/ulm-admin-password" ]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(18))' > "$DEV/ulm-admin-password")
  fi
  local db_url; db_url="$(ensure_db ulm_db)"
  export DATABASE_URL="$db_url" ULM_LISTEN_ADDR="$ULM_ADDR" REDIS_KEY_PREFIX="ulm:" \
    ULM_SIGNING_KEY_FILE="$DEV/ulm-signing-key.pem" \
    ULM_BOOTSTRAP_ADMIN_EMAIL="${ULM_BOOTSTRAP_ADMIN_EMAIL:-admin@ovu.local}" \
    ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE="$DEV/ulm-admin-password" \
    ULM_PUBLIC_URL="${ULM_PUBLIC_URL:-http://$ULM_ADDR}" \
    ULM_ADMIN_MFA="${ULM_ADMIN_MFA:-optional}"  # the local stack; deployments default to required
  "$bin" migrate > "$DEV/ulm-migrate.log" 2>&1 || { cat "$DEV/ulm-migrate.log" >&2; exit 1; }
  log "starting ulm on http://$ULM_ADDR (log: $DEV/ulm.log)"
  start_bg "$pidfile" "$DEV/ulm.log" "$bin" serve
  wait_ready ulm "http://$ULM_ADDR/api/ready" "$DEV/ulm.log" "$pidfile" 20 || exit 1
}

start() {
  scripts/services.sh start
  # shellcheck source=/dev/null  # written by scripts/services.sh
  source "$RUN_DIR/env"
  mkdir -p "$DEV"
  start_ulm
  scripts/dev-aam.sh start
  # Hook: AAM and nginx get started here by their issues (same pattern, PID in $DEV).
  log "ULM     http://$ULM_ADDR  (API docs: http://$ULM_ADDR/api/docs)"
  log "admin   ${ULM_BOOTSTRAP_ADMIN_EMAIL:-admin@ovu.local}, password in $DEV/ulm-admin-password"
  log "mail    delivered to Mailpit: http://127.0.0.1:${OVU_MAILPIT_HTTP_PORT:-58025}/ (web UI; newest as text: /view/latest.txt, API: /api/v1/messages)"
  log "stop    make down   (or scripts/dev.sh stop)"
}

stop() {
  scripts/dev-aam.sh stop
  stop_pidfile ulm "$DEV/ulm.pid"
}

status() {
  if pidfile_alive "$DEV/ulm.pid"; then echo "ulm: running (pid $(cat "$DEV/ulm.pid")) on $ULM_ADDR"; else echo "ulm: stopped"; fi
  scripts/dev-aam.sh status
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
