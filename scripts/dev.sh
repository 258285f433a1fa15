#!/usr/bin/env bash
# `make dev`: PostgreSQL, Redis and Mailpit from scripts/services.sh, then ULM and AAM on
# loopback in one background process (ovu-stack, services/stack) over the databases ulm_db
# and aam_db, which keep their data between runs. Its PID is recorded in
# $OVU_RUN_DIR/dev/stack.pid so `stop` ends exactly it.
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
AAM_ADDR="${AAM_ADDR:-127.0.0.1:8002}"
ADMIN_EMAIL="${ULM_BOOTSTRAP_ADMIN_EMAIL:-admin@ovu.local}"

start() {
  scripts/services.sh start
  # shellcheck source=/dev/null  # written by scripts/services.sh
  source "$RUN_DIR/env"
  mkdir -p "$DEV"
  if pidfile_alive "$DEV/stack.pid"; then
    log "ulm and aam already running (pid $(<"$DEV/stack.pid"))"
  else
    [ -x target/debug/ovu-stack ] || cargo build -p ovu-stack --locked
    log "starting ulm on http://$ULM_ADDR and aam on http://$AAM_ADDR (log: $DEV/stack.log)"
    # The signing key (tokens outlive a restart) and the admin's password are made once
    # and kept under .run/ (never committed). The admin MFA policy is optional here;
    # deployments default to required.
    start_stack "$DEV" "$DEV/stack.log" --ulm --aam \
      --reuse-db --ulm-db ulm_db --aam-db aam_db --redis-prefix ulm: \
      --ulm-addr "$ULM_ADDR" --aam-addr "$AAM_ADDR" \
      --admin-email "$ADMIN_EMAIL" --admin-password-file "$DEV/ulm-admin-password" \
      --signing-key "$DEV/ulm-signing-key.pem" \
      --ulm-env "ULM_PUBLIC_URL=${ULM_PUBLIC_URL:-http://$ULM_ADDR}" \
      --ulm-env "ULM_ADMIN_MFA=${ULM_ADMIN_MFA:-optional}" \
      --aam-env "AAM_ADMIN_MFA=${AAM_ADMIN_MFA:-${ULM_ADMIN_MFA:-optional}}" || exit 1
  fi
  log "ULM     http://$ULM_ADDR  (API docs: http://$ULM_ADDR/api/docs)"
  log "AAM     http://$AAM_ADDR  (API docs: http://$AAM_ADDR/api/docs; sign in at ULM, send its token)"
  log "admin   $ADMIN_EMAIL, password in $DEV/ulm-admin-password"
  log "mail    delivered to Mailpit: http://127.0.0.1:${OVU_MAILPIT_HTTP_PORT:-58025}/ (web UI; newest as text: /view/latest.txt, API: /api/v1/messages)"
  log "stop    make down   (or scripts/dev.sh stop)"
}

stop() { stop_stack "$DEV"; }

status() {
  if pidfile_alive "$DEV/stack.pid"; then
    echo "ulm: running (pid $(<"$DEV/stack.pid")) on $ULM_ADDR"
    echo "aam: running (pid $(<"$DEV/stack.pid")) on $AAM_ADDR"
  else
    echo "ulm: stopped"
    echo "aam: stopped"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
