# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared by build, up, down, smoke and sa-kubeconfig; sourced, not run.
# Paths are fixed so tests, humans and the Makefile find the same cluster. A second cluster
# (a benchmark next to the test cluster) sets OVU_CLUSTER_RUN_DIR and OVU_CLUSTER_PORT_OFFSET.

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# log, die, usage, wait_for, alive, stop_pid: the repo's one shell library.
# shellcheck source=scripts/lib.sh
source "$CLUSTER_DIR/../../scripts/lib.sh"
BIN_DIR="$CLUSTER_DIR/bin"
RUN_DIR="${OVU_CLUSTER_RUN_DIR:-$CLUSTER_DIR/_run}"
PKI_DIR="$RUN_DIR/pki"
LOG_DIR="$RUN_DIR/logs"
PID_DIR="$RUN_DIR/pids"
KUBECONFIG_ADMIN="$RUN_DIR/kubeconfig"

# 127.0.0.1 ports away from the defaults (2379/6443/10257/10259) so a developer's own
# cluster, or CI's PostgreSQL/Redis on 55432/56379, never clash with this one.
ETCD_CLIENT_PORT=$((23790 + ${OVU_CLUSTER_PORT_OFFSET:-0}))
ETCD_PEER_PORT=$((23800 + ${OVU_CLUSTER_PORT_OFFSET:-0}))
ETCD_METRICS_PORT=$((23810 + ${OVU_CLUSTER_PORT_OFFSET:-0}))
APISERVER_PORT=$((16443 + ${OVU_CLUSTER_PORT_OFFSET:-0}))
KCM_PORT=$((16257 + ${OVU_CLUSTER_PORT_OFFSET:-0}))
SCHEDULER_PORT=$((16259 + ${OVU_CLUSTER_PORT_OFFSET:-0}))
KWOK_PORT=$((16080 + ${OVU_CLUSTER_PORT_OFFSET:-0}))

# Addresses for services, pods and nodes come from 198.18.0.0/15 (set aside for network
# testing), never from private ranges a real network might use.
SERVICE_CIDR=198.18.128.0/20
FIRST_SERVICE_IP=198.18.128.1
POD_CIDR=198.19.0.0/16

# Where the API server listens and what kubeconfigs name. kwok mode: loopback. Real mode: a
# host address on the bridge ovuhost0 that pods can route to (the `kubernetes` Service's
# endpoint); it is a local address of this machine, so the host reaches it as well.
REAL_APISERVER_HOST=198.18.0.1
run_mode() { cat "$RUN_DIR/mode" 2>/dev/null || true; }
if [[ $(run_mode) == real ]]; then APISERVER_HOST=$REAL_APISERVER_HOST; else APISERVER_HOST=127.0.0.1; fi

export GOTOOLCHAIN=local

# kubectl from this repo's build, never the system wrapper.
kc() { "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# component_pid NAME: the PID recorded for NAME if that process still runs our binary (also
# when the binary has since been rebuilt), else nothing. Checking the executable guards
# against a PID the kernel has since given to another program. The binary is bin/NAME unless
# _run/pids/NAME.exe names another (real mode: containerd, kubelet-<tier> -> bin/kubelet).
component_pid() {
  local name=$1 pid exe want="$BIN_DIR/$1"
  [[ -s $PID_DIR/$name.pid ]] || return 0
  [[ -s $PID_DIR/$name.exe ]] && want=$(<"$PID_DIR/$name.exe")
  pid=$(<"$PID_DIR/$name.pid")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
  [[ ${exe% (deleted)} == "$want" ]] && echo "$pid"
  return 0
}

# stop_component NAME: TERM, up to 15 s, then KILL, for the recorded process only. Returns 1
# when nothing of ours was running.
stop_component() {
  local name=$1 pid
  pid=$(component_pid "$name")
  if [[ -z $pid ]]; then
    rm -f "$PID_DIR/$name.pid" "$PID_DIR/$name.exe"
    return 1
  fi
  stop_pid "$name" "$pid" 15
  rm -f "$PID_DIR/$name.pid" "$PID_DIR/$name.exe"
  log "stopped $name (pid $pid)"
}

# lock_run_dir: one up/down at a time, so parallel test runners cannot start two clusters.
lock_run_dir() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/.lock"
  flock -w 600 9 || die "another up/down holds $RUN_DIR/.lock"
}

# For the smoke tests (smoke, real/smoke): a passed check, a failed one, and a check that
# passes within a bound.
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*" >&2; exit 1; }
# eventually TIMEOUT DESCRIPTION COMMAND...: retries COMMAND (quietly) until it succeeds.
eventually() {
  local timeout=$1 what=$2
  shift 2
  WAIT_EVERY=0.5 wait_for "$timeout" "$@" >/dev/null 2>&1 || fail "$what (not within ${timeout}s)"
}
# kubectl on $KUBECONFIG (the smoke tests' cluster).
k() { "$BIN_DIR/kubectl" "$@"; }
