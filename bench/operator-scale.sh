#!/usr/bin/env bash
# Operator at scale (a benchmark, not a test): on the local kwok cluster, apply 100 and then
# 500 OvuSystems and record
#   - time until every system is Ready,
#   - the operator's peak RSS (VmHWM) and CPU time,
#   - API requests per reconcile (the API server's flow-control count for the operator's
#     ServiceAccount, divided by the operator's reconcile counter),
#   - writes during a no-op resync (operator restarted with 500 Ready systems: it reconciles
#     every one again; changed resourceVersions of OvuSystems and children are counted),
#   - drift latency with every system Ready: a child Service of one system deleted and a
#     value of one of its ConfigMaps edited at once; the time from the API server's DELETED /
#     MODIFIED event to the operator's restoring ADDED / MODIFIED event, as seen by watches
#     (--drift-samples N systems, one after the other; 0 skips it).
#
#   bench/operator-scale.sh [--counts "100 500"] [--drift-samples 7] [--keep] [--external] [--cluster-qps N] [--audit]
#
# --audit (a diagnosis, not a measurement: the audit log costs the API server CPU) restarts the
# API server with an audit log (metadata only) and profiling, prints who made which requests
# during each bring-up (user, verb, resource), and saves a 60 s CPU profile of the API server
# taken 30 s into it (`go tool pprof -top <file>`).
#
# OPERATOR_BIN=<path> runs that binary instead of building target/release-operator/ovu-operator (to
# measure an older build next to a newer one). OVU_CLUSTER_RUN_DIR/OVU_CLUSTER_PORT_OFFSET
# put the cluster next to the test cluster (see e2e/cluster/up).
#
# Runs the image's operator (cargo build --profile release-operator -p ovu-operator) under the operator's
# ServiceAccount, like the e2e tests. Starts the cluster with node capacity for the pods and
# stops it at the end (--keep leaves it up). --external uses the cluster already up at
# $KUBECONFIG (this repo's kwok nodes) and only raises its nodes' capacity. Results: stdout and bench/results/operator-scale-*.txt.
set -euo pipefail
LOG_TAG=bench
source "$(dirname "$0")/../scripts/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CLUSTER=$ROOT/e2e/cluster
KUBECTL=$CLUSTER/bin/kubectl
STATE=${OVU_CLUSTER_RUN_DIR:-$CLUSTER/_run}/bench
# A fresh namespace per run: up keeps etcd data, so an interrupted run leaves its systems behind.
NS=ovu-bench-$(date -u +%H%M%S)
counts="100 500" keep=0 external=0 drift_samples=7 cluster_qps="" ready_timeout=1800 audit=0
while (($#)); do
  case $1 in
    --counts) counts=$2; shift 2 ;;
    --drift-samples) drift_samples=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --external) external=1 keep=1; shift ;;
    # The controller-manager's and scheduler's client rate (e2e/cluster/up --client-qps); the
    # default is a stock cluster's. Only when this script starts the cluster.
    --cluster-qps) cluster_qps=$2; shift 2 ;;
    # Seconds a count may take to be all Ready before the bench stops and says why.
    --ready-timeout) ready_timeout=$2; shift 2 ;;
    --audit) audit=1; shift ;;
    *) echo "usage: $0 [--counts \"100 500\"] [--drift-samples 7] [--keep] [--external] [--cluster-qps N] [--audit]" >&2; exit 2 ;;
  esac
done
mkdir -p "$STATE" bench/results
out=bench/results/operator-scale-$(date -u +%Y%m%dT%H%M%SZ).txt
say() { printf '%s\n' "$*" | tee -a "$out"; }

operator_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
stop_operator() {
  [[ -n $operator_pid ]] || return 0
  stop_pid operator "$operator_pid" 10
  wait "$operator_pid" 2>/dev/null || true
  operator_pid=""
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local rc=$?
  stop_operator
  ((keep)) || "$CLUSTER/down" || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Replicas of 1 per service: 500 systems put 1000 pods on the database and backend nodes each.
max_count=0
for n in $counts; do ((n > max_count)) && max_count=$n; done
pods=$((2 * max_count + 500 > 1500 ? 2 * max_count + 500 : 1500))
capacity="{\"cpu\":\"64\",\"memory\":\"256Gi\",\"pods\":\"$pods\",\"ephemeral-storage\":\"100Gi\"}"
export KUBECONFIG
kc() { "$KUBECTL" "$@"; }
if ((external)); then
  [[ -n ${KUBECONFIG:-} ]] || { echo "--external needs KUBECONFIG" >&2; exit 2; }
  for tier in frontend backend database; do
    kc patch node "ovu-$tier" --subresource=status --type=merge \
      -p "{\"status\":{\"capacity\":$capacity,\"allocatable\":$capacity}}" >/dev/null
  done
else
  "$CLUSTER/build"
  if ((audit)); then
    printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: [RequestReceived]' 'rules: [{level: Metadata}]' >"$STATE/audit-policy.yaml"
    rm -f "$STATE/audit.log"
    export OVU_APISERVER_FLAGS="--profiling=true --audit-policy-file=$STATE/audit-policy.yaml --audit-log-path=$STATE/audit.log --audit-log-maxsize=4000"
  fi
  KUBECONFIG=$("$CLUSTER/up" --mode kwok --node-capacity "cpu=64,memory=256Gi,pods=$pods" ${cluster_qps:+--client-qps "$cluster_qps"})
fi
if [[ -z ${OPERATOR_BIN:-} ]]; then
  cargo build --profile release-operator --locked -p ovu-operator >&2
  OPERATOR_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release-operator/ovu-operator
fi
kc apply -f crds/ovusystem.yaml >/dev/null
OVU_KUBECTL=$KUBECTL "$CLUSTER/crd-established"
kc apply -k manifests/ >/dev/null
kc -n ovu-system scale deployment/ovu-operator --replicas=0 >/dev/null
"$CLUSTER/sa-kubeconfig" --output "$STATE/operator.kubeconfig" ovu-system ovu-operator >/dev/null
# A cluster stopped by `down` without --purge keeps its etcd, and with it the last bench's
# systems: their pods fill the nodes' pod capacity and the new systems stall (seen 2026-12-06:
# 100 of 500 Ready, "Too many pods"), which no figure of this bench may include.
left=$(kc get ovusystems -A --no-headers 2>/dev/null | wc -l)
if ((left > 0)); then
  if ((external)); then
    log "note: $left OvuSystems exist already and share the nodes' pod capacity"
  else
    echo "the cluster still holds $left OvuSystems of an earlier run: run e2e/cluster/down --purge, then this again" >&2
    exit 2
  fi
fi
kc create namespace "$NS" --dry-run=client -o yaml | kc apply -f - >/dev/null
# Each system takes 5 ClusterIPs: the cluster's /20 (4,094) runs out at ~818 systems (seen
# 2026-12-06: "failed to allocate a service IP" from the 819th on). A second range the way a
# cluster admin adds one (ServiceCIDR, GA since Kubernetes 1.33) makes room for ~1,600.
if ((max_count > 800)); then
  kc apply -f - >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata: {name: ovu-bench}
spec: {cidrs: [198.18.144.0/20]}
YAML
fi

port=18180
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
start_operator() {
  KUBECONFIG=$STATE/operator.kubeconfig POD_NAMESPACE=ovu-system RUST_LOG=warn LOG_FORMAT=text \
    "$OPERATOR_BIN" run --listen "127.0.0.1:$port" --identity bench >>"$STATE/operator.log" 2>&1 &
  operator_pid=$!
  wait_for 60 leading && return 0
  log "operator did not lead"; tail -n 30 "$STATE/operator.log" >&2; exit 1
}
leading() { curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^ovu_operator_leader 1'; }
# The sum over every label set: `name{...} value` as well as `name value` (a labelled series
# never equals the bare name: the child writes, by kind, were always read as 0 until 2026-12-06).
metric() { curl -fsS "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { print s + 0 }'; }
# Requests the API server dispatched for ServiceAccounts outside kube-system: here, only the operator.
sa_requests() {
  kc get --raw /metrics | awk '/^apiserver_flowcontrol_dispatched_requests_total\{/ && /flow_schema="service-accounts"/ { s += $NF } END { print s + 0 }'
}
# shellcheck source=bench/cluster.sh
source "$ROOT/bench/cluster.sh"
# What else paces a bring-up: the seconds the controller-manager's API clients (one per
# controller) spent waiting on their own client-side rate limiter, summed, and the requests
# the API server dispatched for them. Read from the controller-manager's /metrics with the
# admin certificate (0 if it cannot be read, e.g. with --external on another cluster).
kcm_port=$((16257 + ${OVU_CLUSTER_PORT_OFFSET:-0}))
kcm_throttled() {
  curl -fsSk --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$kcm_port/metrics" 2>/dev/null |
    awk '/^rest_client_rate_limiter_duration_seconds_sum/ { s += $NF } END { printf "%.1f", s + 0 }'
}
kcm_requests() {
  kc get --raw /metrics | awk '/^apiserver_flowcontrol_dispatched_requests_total\{/ && /flow_schema="kube-system-service-accounts"/ { s += $NF } END { print s + 0 }'
}
# Objects in the bench namespace of one kind (the operator writes Deployments; the
# controller-manager makes pods from them).
# A list of one item carries the count of the rest (remainingItemCount): cheap enough to poll
# every 5 s without loading the API server the bench measures.
count_of() {
  api_get "/$1/namespaces/$NS/$2?limit=1" 2>/dev/null |
    jq '(.items | length) + (.metadata.remainingItemCount // 0)' 2>/dev/null || echo 0
}
cpu_seconds() { awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$operator_pid/stat"; }
# The peak as "<KiB> KiB = <MiB> MiB = <MB> MB" (the target is in MB, 10^6 bytes).
hwm_text() { awk '/^VmHWM/ { printf "%d KiB = %.1f MiB = %.1f MB", $2, $2 / 1024, $2 * 1024 / 1e6 }' "/proc/$operator_pid/status"; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$operator_pid/status"; }
ready_count() {
  if light; then
    # Columns: Name, Phase, Ready, Domain, Last Backup, Age (crds/ovusystem.yaml).
    table_rows "/apis/ovu.co.il/v1alpha1/namespaces/$NS/ovusystems" | jq '[.rows[] | select(.cells[1] == "Ready")] | length'
  else
    kc -n "$NS" get ovusystems -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Ready$' || true
  fi
}
system_yaml() {
  local i
  for i in $(seq "$1" "$2"); do
    cat <<YAML
---
apiVersion: ovu.co.il/v1alpha1
kind: OvuSystem
metadata: {name: s$(printf %04d "$i"), namespace: $NS}
spec:
  domain: s$i.bench.example.com
  frontend: {replicas: 1, resources: {requests: {cpu: 1m, memory: 4Mi}, limits: {cpu: 10m, memory: 16Mi}}}
  backend:
    ulm: {image: "ovu/ulm:0.1.0", replicas: 1, resources: {requests: {cpu: 1m, memory: 4Mi}, limits: {cpu: 10m, memory: 16Mi}}}
    aam: {image: "ovu/aam:0.1.0", replicas: 1, resources: {requests: {cpu: 1m, memory: 4Mi}, limits: {cpu: 10m, memory: 16Mi}}}
  database:
    postgres: {storage: {size: 1Gi}, resources: {requests: {cpu: 1m, memory: 4Mi}, limits: {cpu: 10m, memory: 16Mi}}}
    redis: {resources: {requests: {cpu: 1m, memory: 4Mi}, limits: {cpu: 10m, memory: 16Mi}}}
    backup: {storage: {size: 1Gi}}
YAML
  done
}
# resourceVersions of every OvuSystem and managed child in the bench namespace.
versions() {
  kc -n "$NS" get ovusystems,statefulsets,deployments,services,configmaps,secrets,cronjobs,networkpolicies,poddisruptionbudgets,serviceaccounts,roles,rolebindings,persistentvolumeclaims \
    -o jsonpath='{range .items[*]}{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}' | sort
}

# Requests in the audit log from line $1 on, counted by user, verb and resource.
audit_summary() {
  tail -n +"$1" "$STATE/audit.log" |
    jq -r '[(.user.username | sub("^system:serviceaccount:"; "sa:")), .verb, (.objectRef.resource // .requestURI) + (if .objectRef.subresource then "/" + .objectRef.subresource else "" end)] | join(" ")' |
    sort | uniq -c | sort -rn | head -40
}

start_operator
say "# operator at scale, $(date -u +%FT%TZ), $(nproc) cores, kwok nodes with pods=$pods, controller-manager/scheduler client QPS ${cluster_qps:-default}, load $(cut -d' ' -f1-3 /proc/loadavg)"
have=0
for n in $counts; do
  ((n > have)) || continue
  r0=$(sa_requests) c0=$(metric ovu_operator_reconciles_total) cpu0=$(cpu_seconds)
  k0=$(kcm_requests) kt0=$(kcm_throttled) t_children="" plane0=$(plane_cpu)
  t0=$(date +%s.%N)
  if ((audit)); then
    a0=$(($(wc -l <"$STATE/audit.log") + 1)) prof=bench/results/apiserver-cpu-$(date -u +%Y%m%dT%H%M%SZ).pprof
    (sleep 30 && kc get --raw '/debug/pprof/profile?seconds=60' >"$prof") &
    prof_pid=$!
  fi
  system_yaml $((have + 1)) "$n" | kc create -f - >/dev/null
  t_applied=$(date +%s.%N)
  while :; do
    ready=$(ready_count)
    ((ready >= n)) && break
    if (($(date +%s) - ${t0%.*} > ready_timeout)); then
      say "$n systems: only $ready Ready after ${ready_timeout} s; the operator's most frequent warnings:"
      sed 's/\x1b\[[0-9;]*m//g' "$STATE/operator.log" | grep -o 'error=.*' | cut -c1-200 | sed 's/s[0-9]\{4\}/sNNNN/g' | sort | uniq -c | sort -rn | head -5 | tee -a "$out"
      exit 1
    fi
    # When the operator has written every system's workloads (4 Deployments, 1 StatefulSet);
    # the rest of the bring-up is pods being made, scheduled and started.
    deployments=$(count_of apis/apps/v1 deployments) pods_now=$(count_of api/v1 pods)
    if [[ -z $t_children ]] && ((deployments >= 4 * n)) && (($(count_of apis/apps/v1 statefulsets) >= n)); then
      t_children=$(date +%s.%N)
    fi
    log "$n systems: $ready Ready after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s; $deployments Deployments, $pods_now pods; operator RSS $(( $(rss_kib) / 1024 )) MiB"
    sleep 5
  done
  t1=$(date +%s.%N)
  r1=$(sa_requests) c1=$(metric ovu_operator_reconciles_total) cpu1=$(cpu_seconds)
  say "$n systems ($((n - have)) new): all Ready $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after apply (kubectl create took $(awk -v a="$t0" -v b="$t_applied" 'BEGIN { printf "%.1f", b - a }') s)"
  say "  reconciles $((c1 - c0)), operator API requests $((r1 - r0)) → $(awk -v r=$((r1 - r0)) -v c=$((c1 - c0)) 'BEGIN { printf "%.1f", r / (c ? c : 1) }') per reconcile"
  say "  operator CPU $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }') s, RSS now $(( $(rss_kib) / 1024 )) MiB, peak (VmHWM) $(hwm_text)"
  say "  every system's Deployments and StatefulSet written $(awk -v a="$t0" -v b="${t_children:-$t1}" 'BEGIN { printf "%.1f", b - a }') s after apply${t_children:+ (first seen by the 5 s poll)}"
  say "  control plane CPU during it: $(cpu_delta "$plane0" "$(plane_cpu)")"
  say "  controller-manager: API requests $(($(kcm_requests) - k0)), its clients waited $(awk -v a="$kt0" -v b="$(kcm_throttled)" 'BEGIN { printf "%.1f", b - a }') s in all on their own rate limiters"
  if ((audit)); then
    say "  requests by user, verb and resource (audit log; 40 most frequent):"
    audit_summary "$a0" | tee -a "$out"
    wait "$prof_pid" || say "  (the profile could not be taken)"
    say "  API server CPU profile (60 s from 30 s in): $prof"
  fi
  have=$n
done

# No-op resync: a fresh operator process reconciles every Ready system once more.
sleep 20
before=$(versions)
stop_operator
start_operator
r0=$(sa_requests) c0=$(metric ovu_operator_reconciles_total)
target=$have
reconciled_all() { (($(metric ovu_operator_reconciles_total) >= target)); }
wait_for 240 reconciled_all || true
sleep 10
after=$(versions)
r1=$(sa_requests) c1=$(metric ovu_operator_reconciles_total)
changed=$(comm -13 <(echo "$before") <(echo "$after") | wc -l)
writes=$(metric ovu_operator_child_writes_total)
say "no-op resync of $have Ready systems (operator restarted): reconciles $((c1 - c0)), objects whose resourceVersion changed: $changed, child writes counted by the operator: $writes"
say "  API requests $((r1 - r0)) → $(awk -v r=$((r1 - r0)) -v c=$((c1 - c0)) 'BEGIN { printf "%.1f", r / (c ? c : 1) }') per reconcile; operator peak RSS (VmHWM) $(hwm_text), CPU $(cpu_seconds) s"
if ((changed > 0)); then
  comm -13 <(echo "$before") <(echo "$after") | head -20 | sed 's/^/  changed: /' | tee -a "$out"
fi

# Drift: with every system Ready, one system's Service deleted and one of its ConfigMaps
# edited at once. Times come from watch events stamped on arrival (kubectl's own start-up is
# not in them): DELETED → ADDED for the Service, the edit's MODIFIED → the next MODIFIED for
# the ConfigMap (checked afterwards to hold the rendered value again).
stamp() { while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
# "<TYPE> <resourceVersion>" per event of one object (started in the background with $KUBECTL
# itself, so that $! is kubectl and stopping it leaves no watcher behind).
events_fmt='{.type} {.object.metadata.resourceVersion}{"\n"}'

# seconds between the first line matching $2 and the first later line matching $3 in file $1
event_gap() {
  awk -v a="$2" -v b="$3" '$2 == a && !t0 { t0 = $1; next } t0 && $2 == b { printf "%.3f", $1 - t0; exit }' "$1"
}
stats() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print "no samples"; exit } m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %.3f s, max %.3f s (n=%d; all: ", m, v[NR], NR; for (i = 1; i <= NR; i++) printf "%s%.3f", (i > 1 ? " " : ""), v[i]; print ")" }'; }
if ((drift_samples > 0 && have > 0)); then
  del_times=() edit_times=()
  c0=$(metric ovu_operator_reconciles_total) r0=$(sa_requests)
  for k in $(seq 1 "$drift_samples"); do
    sys=s$(printf %04d $(((k * have) / (drift_samples + 1) + 1)))
    sel="app.kubernetes.io/managed-by=ovu-operator,app.kubernetes.io/instance=$sys"
    svc=$(kc -n "$NS" get services -l "$sel" -o name | sort | head -1) svc=${svc#*/}
    cm=$(kc -n "$NS" get configmaps -l "$sel" -o name | sort | head -1) cm=${cm#*/}
    key=$(kc -n "$NS" get configmap "$cm" -o json | jq -r '.data | keys[0]')
    want=$(kc -n "$NS" get configmap "$cm" -o json | jq -r --arg k "$key" '.data[$k]' | sha256sum)
    "$KUBECTL" -n "$NS" get service "$svc" -w --watch-only --output-watch-events -o jsonpath="$events_fmt" \
      > >(stamp >"$STATE/drift-svc.txt") &
    w1=$!
    "$KUBECTL" -n "$NS" get configmap "$cm" -w --watch-only --output-watch-events -o jsonpath="$events_fmt" \
      > >(stamp >"$STATE/drift-cm.txt") &
    w2=$!
    sleep 2
    kc -n "$NS" delete service "$svc" --wait=false >/dev/null
    kc -n "$NS" patch configmap "$cm" --type merge -p "$(jq -n --arg k "$key" '{data: {($k): "drift"}}')" >/dev/null
    restored() { [[ $(kc -n "$NS" get service "$svc" -o name 2>/dev/null) ]] &&
      [[ $(kc -n "$NS" get configmap "$cm" -o json | jq -r --arg k "$key" '.data[$k]' | sha256sum) == "$want" ]]; }
    WAIT_EVERY=0.5 wait_for 60 restored || say "  drift sample $k ($sys): not restored within 60 s"
    sleep 1
    kill "$w1" "$w2" 2>/dev/null || true
    wait "$w1" "$w2" 2>/dev/null || true
    d=$(event_gap "$STATE/drift-svc.txt" DELETED ADDED) e=$(event_gap "$STATE/drift-cm.txt" MODIFIED MODIFIED)
    say "  drift sample $k ($sys): Service $svc deleted → recreated ${d:-?} s; ConfigMap ${cm}[$key] edited → restored ${e:-?} s"
    if [[ -n $d ]]; then del_times+=("$d"); fi
    if [[ -n $e ]]; then edit_times+=("$e"); fi
  done
  c1=$(metric ovu_operator_reconciles_total) r1=$(sa_requests)
  say "drift at $have Ready systems: Service deleted → recreated: $(printf '%s\n' "${del_times[@]}" | grep . | stats)"
  say "  ConfigMap value edited → restored: $(printf '%s\n' "${edit_times[@]}" | grep . | stats)"
  say "  during the drift samples: reconciles $((c1 - c0)), operator API requests $((r1 - r0)); operator peak RSS (VmHWM) $(hwm_text)"
fi
say "results in $out"
if ((external)); then
  # Leave the shared cluster as it was: the operator removes its finalizers, then the nodes
  # get the default capacity back.
  kc delete namespace "$NS" --wait=false >/dev/null
  kc wait --for=delete "namespace/$NS" --timeout=600s >/dev/null || echo "namespace $NS still terminating" >&2
  kc delete servicecidr ovu-bench --ignore-not-found --wait=false >/dev/null
  default='{"cpu":"4","memory":"8Gi","pods":"110","ephemeral-storage":"100Gi"}'
  for tier in frontend backend database; do
    kc patch node "ovu-$tier" --subresource=status --type=merge \
      -p "{\"status\":{\"capacity\":$default,\"allocatable\":$default}}" >/dev/null
  done
fi
