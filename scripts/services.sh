#!/usr/bin/env bash
# Starts and stops the PostgreSQL, Redis and Mailpit (SMTP server with an HTTP API and web UI, the
# tests' mailbox) that tests and `make dev` use: private instances on loopback ports, data
# under $OVU_RUN_DIR (default .run/), PIDs recorded there so `stop` ends exactly what
# `start` began.
#
#   scripts/services.sh start   # idempotent; writes $OVU_RUN_DIR/env
#   scripts/services.sh stop
#   scripts/services.sh env     # prints the export lines
set -euo pipefail
LOG_TAG=services
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUN_DIR="${OVU_RUN_DIR:-$PWD/.run}"
PG_PORT="${OVU_PG_PORT:-55432}"
REDIS_PORT="${OVU_REDIS_PORT:-56379}"
MAILPIT_SMTP_PORT="${OVU_MAILPIT_SMTP_PORT:-51025}"
MAILPIT_HTTP_PORT="${OVU_MAILPIT_HTTP_PORT:-58025}"
# PostgreSQL 16, production's major version (Debian 12 ships 15): the tree
# scripts/postgres16.sh assembles (cached outside the clone), linked into $RUN_DIR/pg16 because
# the cache may be in root's home, which the postgres account cannot enter. OVU_PG_BIN=<dir>
# picks other binaries; if the tree cannot be had, Debian's newest, said loudly.
pg16_bin() {
  local tree
  tree=$(scripts/postgres16.sh) || return 1
  if [ "$(cat "$RUN_DIR/pg16.tree" 2>/dev/null)" != "$tree" ] || [ ! -x "$RUN_DIR/pg16/bin/postgres" ]; then
    rm -rf "$RUN_DIR/pg16"
    cp -al "$tree" "$RUN_DIR/pg16" 2>/dev/null || cp -a "$tree" "$RUN_DIR/pg16"
    echo "$tree" >"$RUN_DIR/pg16.tree"
  fi
  echo "$RUN_DIR/pg16/bin"
}
debian_pg_bin() { printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -1 || true; }
PG_BIN="${OVU_PG_BIN:-}"
PG_DATA="$RUN_DIR/pg/data"
# A fixed development password: this Redis listens on loopback only and holds test data.
REDIS_PASSWORD="ovu-dev-redis"

as_pg() {
  # PostgreSQL refuses to run as root; use the postgres account the package created.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_running() { [ -f "$PG_DATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
mailpit_running() { pidfile_alive "$RUN_DIR/mailpit.pid"; }
redis_running() { pidfile_alive "$RUN_DIR/redis.pid"; }

write_env() {
  cat > "$RUN_DIR/env" <<ENV
export OVU_PG_BIN=$PG_BIN
export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable
export REDIS_URL=redis://default:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0
export OVU_PG_PORT=$PG_PORT
export OVU_REDIS_PORT=$REDIS_PORT
export SMTP_URL=smtp://127.0.0.1:$MAILPIT_SMTP_PORT
export SMTP_FROM='OVU <no-reply@ovu.localhost>'
export MAILPIT_API=http://127.0.0.1:$MAILPIT_HTTP_PORT
export OVU_MAILPIT_SMTP_PORT=$MAILPIT_SMTP_PORT
export OVU_MAILPIT_HTTP_PORT=$MAILPIT_HTTP_PORT
ENV
}

# The binaries the data directory's server runs (env, stop): the recorded ones if any.
running_pg_bin() {
  [ -z "$PG_BIN" ] && PG_BIN=$(cat "$RUN_DIR/pg/bin" 2>/dev/null || debian_pg_bin)
  true
}

start() {
  mkdir -p "$RUN_DIR/pg"
  if [ -z "$PG_BIN" ]; then
    if ! PG_BIN=$(pg16_bin); then
      PG_BIN=$(debian_pg_bin)
      log "WARNING: PostgreSQL 16 (scripts/postgres16.sh) is not available; the services run on Debian's $("$PG_BIN/postgres" --version 2>/dev/null | awk '{print $3}'), not production's major version"
    fi
  fi
  [ -x "$PG_BIN/postgres" ] || { echo "services: PostgreSQL is not installed (run scripts/deps.sh)" >&2; exit 1; }
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$RUN_DIR/pg"; chmod 755 "$RUN_DIR"; fi
  # A data directory of another major version (the services ran on Debian's 15 before) cannot
  # be started by these binaries: its server is stopped with the binaries that started it and
  # the directory kept aside (test data only; nothing reads it again).
  major=$("$PG_BIN/postgres" --version | sed -n 's/^postgres (PostgreSQL) \([0-9]*\).*/\1/p')
  if [ -f "$PG_DATA/PG_VERSION" ] && [ "$(cat "$PG_DATA/PG_VERSION")" != "$major" ]; then
    old=$(cat "$PG_DATA/PG_VERSION")
    old_bin=$(cat "$RUN_DIR/pg/bin" 2>/dev/null || echo "/usr/lib/postgresql/$old/bin")
    if [ -x "$old_bin/pg_ctl" ] && as_pg "$old_bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
      log "stopping the PostgreSQL $old server of $PG_DATA"
      as_pg "$old_bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    fi
    log "$PG_DATA is PostgreSQL $old's; moved to $PG_DATA-$old, a new one is made for $major"
    rm -rf "$PG_DATA-$old"
    mv "$PG_DATA" "$PG_DATA-$old"
  fi
  echo "$PG_BIN" >"$RUN_DIR/pg/bin"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initialising PostgreSQL in $PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! pg_running; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$RUN_DIR/pg/postgres.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $RUN_DIR/pg -c max_connections=400 -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
      || { tail -20 "$RUN_DIR/pg/postgres.log" >&2; exit 1; }
  fi
  if ! redis_running; then
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$REDIS_PASSWORD" \
      --save '' --appendonly no --daemonize yes --pidfile "$RUN_DIR/redis.pid" \
      --logfile "$RUN_DIR/redis.log" --dir "$RUN_DIR" >/dev/null
    wait_for 5 redis_running || { tail -20 "$RUN_DIR/redis.log" >&2; exit 1; }
  fi
  if ! mailpit_running; then
    mailpit="$(scripts/mailpit.sh)"
    log "starting Mailpit: SMTP 127.0.0.1:$MAILPIT_SMTP_PORT, web UI http://127.0.0.1:$MAILPIT_HTTP_PORT/ (API: /api/v1/messages)"
    # Loopback only, nothing fetched from outside (no version check, no reverse DNS); the
    # store is a temporary file Mailpit deletes on exit; --max 0 keeps every message so a
    # long test run never prunes a mail a test still waits for. Its own session (setsid; no
    # fork here, so $! is Mailpit's PID), so a Ctrl-C in the terminal that ran `make` does not
    # take it down with the command.
    setsid nohup "$mailpit" --smtp "127.0.0.1:$MAILPIT_SMTP_PORT" --listen "127.0.0.1:$MAILPIT_HTTP_PORT" \
      --disable-version-check --smtp-disable-rdns --smtp-auth-accept-any --smtp-auth-allow-insecure \
      --max 0 --quiet >"$RUN_DIR/mailpit.log" 2>&1 &
    echo $! >"$RUN_DIR/mailpit.pid"
    wait_ready Mailpit "http://127.0.0.1:$MAILPIT_HTTP_PORT/api/v1/info" "$RUN_DIR/mailpit.log" "$RUN_DIR/mailpit.pid" 10 \
      || exit 1
  fi
  write_env
  log "ready (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') from $PG_BIN); source $RUN_DIR/env"
}

stop() {
  running_pg_bin
  if pg_running; then log "stopping PostgreSQL"; as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true; fi
  stop_pidfile Redis "$RUN_DIR/redis.pid" 5
  stop_pidfile Mailpit "$RUN_DIR/mailpit.pid" 5
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) running_pg_bin; write_env; cat "$RUN_DIR/env" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
