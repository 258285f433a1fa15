# shellcheck shell=bash
# The one library of OVU's shell scripts (scripts/, bench/, images/, e2e/run*, e2e/cluster/ through
# its own lib.sh): logging, waiting with a bound, and processes controlled by PID file. Sourced,
# never run:
#
#   source "$(dirname "$0")/../scripts/lib.sh"       # LOG_TAG=name first to change the prefix
#
# Progress goes to stderr so that stdout carries only results (e2e/cluster/up prints the
# kubeconfig path, scripts/mailpit.sh the binary's).

# The prefix of log lines: the script's file name unless the script sets LOG_TAG.
LOG_TAG=${LOG_TAG:-$(basename "$0")}
# Bold prefix on a terminal only, so logs in files and CI stay plain text.
if [[ -t 2 ]]; then _lib_b=$'\033[1m' _lib_r=$'\033[0m'; else _lib_b="" _lib_r=""; fi

log() { printf '%s[%s]%s %s\n' "$_lib_b" "$LOG_TAG" "$_lib_r" "$*" >&2; }
die() { printf '%s[%s]%s error: %s\n' "$_lib_b" "$LOG_TAG" "$_lib_r" "$*" >&2; exit 1; }

# usage: prints the comment block at the top of the running script (its help).
usage() { awk 'NR > 1 && /^#/ { if ($0 !~ /shellcheck/) { sub(/^# ?/, ""); print }; next } NR > 1 { exit }' "$0"; }

# _lib_now_us: microseconds since the epoch (EPOCHREALTIME without its decimal separator, which
# the locale may make a comma).
_lib_now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }

# wait_for SECONDS COMMAND...: runs COMMAND every WAIT_EVERY seconds (default 0.1) until it
# succeeds (0), or returns 1 once SECONDS have passed without success. The one way scripts
# wait: never an unbounded loop, never a fixed sleep standing in for a condition.
#   WAIT_EVERY=1 wait_for 60 kubectl_says_ready
wait_for() {
  local until_us=$(($(_lib_now_us) + $1 * 1000000))
  shift
  until "$@"; do
    (($(_lib_now_us) < until_us)) || return 1
    sleep "${WAIT_EVERY:-0.1}"
  done
}

# go_module_tool NAME MODULE@VERSION PACKAGE KEY [go build flags...]: prints the path of the Go
# program PACKAGE (e.g. ./cmd/registry) of MODULE, built once from the module's own go.mod and
# go.sum (GOWORK=off, -mod=mod: every dependency as the project pinned it) into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/KEY/NAME
# outside the clone, so a fresh clone reuses it and a new pin (a new KEY) rebuilds it. Static
# (CGO_ENABLED=0), -trimpath, no VCS stamp. The binary is built into a staging directory and
# moved into place, so a failed or interrupted build never leaves one that looks complete.
go_module_tool() {
  local name=$1 module=$2 pkg=$3 key=$4
  shift 4
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/$key"
  local bin="$cache/$name" staging mod_dir rc=0
  if [[ ! -x $bin ]]; then
    command -v go >/dev/null || die "go is not on PATH (scripts/deps.sh)"
    mkdir -p "$cache"
    staging=$(mktemp -d "$cache/.build.XXXXXX")
    log "building ${module%@*}/${pkg#./}@${module##*@} into $cache"
    # Read-only module directory from the module cache; its go.mod decides every version.
    mod_dir=$(cd "$staging" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module" |
      python3 -c 'import json,sys; m=json.load(sys.stdin); d=m.get("Dir"); print(d) if d else sys.exit(m.get("Error","no Dir"))') || rc=$?
    if ((rc == 0)); then
      (cd "$mod_dir" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
        go build -trimpath -buildvcs=false "$@" -o "$staging/$name" "$pkg") || rc=$?
    fi
    ((rc == 0)) && mv "$staging/$name" "$bin"
    rm -rf "$staging"
    ((rc == 0)) || die "building $name from $module failed"
  fi
  echo "$bin"
}

# alive PID: running and not a zombie waiting for its parent to reap it.
alive() {
  local state
  [[ -r /proc/$1/stat ]] || return 1
  read -r _ _ state _ <"/proc/$1/stat" 2>/dev/null || return 1
  [[ $state != Z ]]
}
_lib_dead() { ! alive "$1"; }

# pidfile_alive FILE: the process FILE records is alive.
pidfile_alive() {
  [[ -s $1 ]] || return 1
  alive "$(<"$1")"
}

# stop_pid NAME PID [SECONDS=10]: TERM, up to SECONDS for it to exit, then KILL. Quiet when
# the process is already gone.
stop_pid() {
  local name=$1 pid=$2 secs=${3:-10}
  alive "$pid" || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$secs" _lib_dead "$pid"; then
    log "$name (pid $pid) ignored TERM for ${secs}s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 5 _lib_dead "$pid" || true
  fi
}

# stop_pidfile NAME FILE [SECONDS=10]: stop_pid for the process FILE records, then remove FILE.
stop_pidfile() {
  if pidfile_alive "$2"; then stop_pid "$1" "$(<"$2")" "${3:-10}"; fi
  rm -f "$2"
}

# start_bg PIDFILE LOGFILE COMMAND...: COMMAND in the background, output appended to LOGFILE,
# its PID written to PIDFILE.
start_bg() {
  local pidfile=$1 logfile=$2
  shift 2
  "$@" >>"$logfile" 2>&1 &
  echo $! >"$pidfile"
}

# http_ok URL: a 2xx answer (curl -f) within 5 s.
http_ok() { curl -fsS -m 5 -o /dev/null "$1" 2>/dev/null; }

_lib_ready_or_dead() { http_ok "$1" || { [[ -n $2 ]] && ! pidfile_alive "$2"; }; }

# wait_ready NAME URL LOGFILE [PIDFILE] [SECONDS=30]: waits for URL to answer 2xx; on timeout,
# or as soon as the process PIDFILE records has exited, prints LOGFILE's tail and returns 1.
wait_ready() {
  local name=$1 url=$2 logfile=$3 pidfile=${4:-} secs=${5:-30}
  if wait_for "$secs" _lib_ready_or_dead "$url" "$pidfile" && http_ok "$url"; then return 0; fi
  log "$name at $url did not become ready; its log:"
  tail -30 "$logfile" >&2
  return 1
}

# pg_base: the server part of $DATABASE_URL (postgres://user@host:port), for other databases.
pg_base() {
  local base=${DATABASE_URL%%\?*}
  echo "${base%/*}"
}

# fresh_db NAME: drops and creates database NAME on $DATABASE_URL's server.
fresh_db() {
  psql "$(pg_base)/postgres?sslmode=disable" -qX -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

## --- the local stack (services/stack: ovu-stack) --------------------------------------------

# start_stack DIR LOGFILE [ovu-stack args...]: ULM (and AAM with --aam) in one background
# process, $STACK_BIN (default target/debug/ovu-stack), its files under DIR, PID in
# DIR/stack.pid. Needs $DATABASE_URL/$REDIS_URL/$SMTP_URL (.run/env). Waits until it is
# ready (or has exited: then prints LOGFILE's tail and returns 1) and sources DIR/stack.env:
# STACK_ULM_URL, STACK_AAM_URL, STACK_ADMIN_EMAIL, STACK_ADMIN_PASSWORD, ...
start_stack() {
  local dir=$1 logfile=$2
  shift 2
  mkdir -p "$dir"
  rm -f "$dir/stack.env"
  start_bg "$dir/stack.pid" "$logfile" "${STACK_BIN:-target/debug/ovu-stack}" --dir "$dir" "$@"
  if ! wait_for 120 _lib_stack_settled "$dir" || [[ ! -s $dir/stack.env ]]; then
    log "ovu-stack did not become ready; its log:"
    tail -30 "$logfile" >&2
    return 1
  fi
  # shellcheck source=/dev/null  # written by ovu-stack
  source "$dir/stack.env"
}
_lib_stack_settled() { [[ -s $1/stack.env ]] || ! pidfile_alive "$1/stack.pid"; }

# stop_stack DIR: stops the ovu-stack started by start_stack DIR (TERM: it drains, stops both
# services and drops its databases if it was given --drop-db).
stop_stack() { stop_pidfile ovu-stack "$1/stack.pid" 30; }

# admin_token: an access token of the stack's bootstrap admin.
admin_token() {
  curl -fsS -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"login": sys.argv[1], "password": sys.argv[2]}))' \
      "$STACK_ADMIN_EMAIL" "$STACK_ADMIN_PASSWORD")" "$STACK_ULM_URL/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

## --- contract tests (scripts/test-api.sh, scripts/test-api-aam.sh) -------------------------

# Positive and negative data, every check except negative_data_rejection: schemathesis
# 3.39 counts an optional query parameter "negated" to null — which is simply left out of
# the URL — as accepted bad input (a false positive seen on GET /audit). Negative cases
# still run through every other check, so bad input that causes a 5xx or an undocumented
# answer still fails the run.
# run_schemathesis NAME BASE_URL TOKEN [extra args...]: scripts/test-api*.sh's contract run, with
# $SCHEMATHESIS (the binary) and $MAX_EXAMPLES (per operation).
run_schemathesis() {
  local name="$1" base="$2" token="$3"; shift 3
  log "$name: schemathesis --checks all, $MAX_EXAMPLES examples per operation"
  "$SCHEMATHESIS" run "$base/api/openapi.json" \
    --base-url "$base" \
    --checks all \
    --exclude-checks negative_data_rejection \
    --experimental=openapi-3.1 \
    -H "Authorization: Bearer $token" \
    --hypothesis-max-examples "$MAX_EXAMPLES" \
    --hypothesis-derandomize \
    --data-generation-method=all \
    --request-timeout 10000 \
    --generation-with-security-parameters=false \
    --no-color \
    "$@"
}

# free_mib PATH...: the least free space (MiB) among the filesystems holding PATHs; a long run
# (make test, the kind pass) logs it, since the disk is what a CI machine runs out of first.
free_mib() { df -Pm "$@" | awk 'NR > 1 && (m == "" || $4 < m) { m = $4 } END { print m }'; }
# gib MIB: "N.N GiB".
gib() { awk -v m="$1" 'BEGIN { printf "%.1f GiB", m / 1024 }'; }
# disk_free: "N.N GiB free" on the clone's and ~/.cache/ovu's filesystems (the kind nodes).
disk_free() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  echo "$(gib "$(free_mib "$here" "${XDG_CACHE_HOME:-$HOME/.cache}")") free"
}
