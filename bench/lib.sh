# shellcheck shell=bash
# The wrk benchmarks' shared part (bench/ulm.sh, bench/aam.sh, bench/ulm-vs-pgbench.sh, bench/ulm-profile.sh), on top of scripts/lib.sh.
# Sourced, never run; needs $WORK (raw outputs) and $DURATION.

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# wrk output → "req/s p50 p99 non-2xx"
summarise() {
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
       END {printf "%s %s %s %s\n", rps, p50, p99, (bad==""?0:bad)}'
}

# run LABEL CONNECTIONS [wrk args...]: one wrk run (2 threads, 1 for a single connection), its raw output under $WORK, one table row.
run() {
  local label="$1" conns="$2"; shift 2
  # wrk needs a connection per thread: one connection, one thread.
  local threads=$((conns < 2 ? 1 : 2))
  log "$label: wrk -t$threads -c$conns -d$DURATION"
  local out; out="$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$@")"
  echo "$out" > "$WORK/$(echo "$label" | tr ' /{}?=&' '_______').txt"
  local rps p50 p99 bad
  read -r rps p50 p99 bad <<<"$(echo "$out" | summarise)"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$conns" "$rps" "$p50" "$p99" "$bad"
}

# services_and_stack: the local PostgreSQL/Redis started and their environment loaded, and
# STACK_BIN set: the launcher to measure (a copy of an earlier commit's build, if given; else
# this tree's release build).
services_and_stack() {
  scripts/services.sh start >/dev/null
  # shellcheck source=/dev/null  # written by scripts/services.sh
  source "$RUN_DIR/env"
  if [[ -z ${STACK_BIN:-} ]]; then
    cargo build --release -p ovu-stack --locked >&2
    STACK_BIN=target/release/ovu-stack
  fi
}
