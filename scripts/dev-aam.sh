#!/usr/bin/env bash
# AAM for `make dev`, beside the ULM that scripts/dev.sh started: its own database (aam_db),
# Redis db 1, ULM's JWKS at $ULM_ADDR; PID in $OVU_RUN_DIR/dev/aam.pid so `stop` ends exactly it.
#
#   scripts/dev-aam.sh start|stop|status
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
DEV="$RUN_DIR/dev"
ULM_ADDR="${ULM_ADDR:-127.0.0.1:8001}"
AAM_ADDR="${AAM_ADDR:-127.0.0.1:8002}"
PIDFILE="$DEV/aam.pid"

log() { printf '\033[1m[dev]\033[0m %s\n' "$*"; }
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  # shellcheck disable=SC1091
  source "$RUN_DIR/env"
  mkdir -p "$DEV"
  local bin=target/debug/ovu-aam
  [ -x "$bin" ] || cargo build -p ovu-aam --locked
  if running; then log "aam already running (pid $(cat "$PIDFILE"))"; return; fi
  local base="${DATABASE_URL%%\?*}"; base="${base%/*}"
  if ! psql "$base/postgres?sslmode=disable" -tAX -c "SELECT 1 FROM pg_database WHERE datname = 'aam_db'" | grep -q 1; then
    log "creating database aam_db"
    psql "$base/postgres?sslmode=disable" -qX -c "CREATE DATABASE aam_db"
  fi
  export DATABASE_URL="$base/aam_db?sslmode=disable" REDIS_URL="${REDIS_URL%/*}/1" \
    AAM_LISTEN_ADDR="$AAM_ADDR" ULM_URL="http://$ULM_ADDR" \
    AAM_ADMIN_MFA="${AAM_ADMIN_MFA:-${ULM_ADMIN_MFA:-optional}}"
  "$bin" migrate > "$DEV/aam-migrate.log" 2>&1 || { cat "$DEV/aam-migrate.log" >&2; exit 1; }
  log "starting aam on http://$AAM_ADDR (log: $DEV/aam.log)"
  "$bin" serve >> "$DEV/aam.log" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 100); do
    curl -fsS "http://$AAM_ADDR/api/ready" >/dev/null 2>&1 && break
    running || { tail -20 "$DEV/aam.log" >&2; exit 1; }
    sleep 0.2
  done
  curl -fsS "http://$AAM_ADDR/api/ready" >/dev/null || { tail -20 "$DEV/aam.log" >&2; exit 1; }
  log "AAM     http://$AAM_ADDR  (API docs: http://$AAM_ADDR/api/docs; sign in at ULM, send its token)"
}

stop() {
  if running; then
    local pid; pid="$(cat "$PIDFILE")"
    log "stopping aam (pid $pid)"
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDFILE"
}

status() {
  if running; then echo "aam: running (pid $(cat "$PIDFILE")) on $AAM_ADDR"; else echo "aam: stopped"; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
