#!/usr/bin/env bash
# The control plane's floor for an OVU bring-up (a benchmark, not a test): how long this
# cluster needs to run the workload N OvuSystems ask for when nothing orchestrates it.
#
# Every child the operator would make for N systems (`ovu-operator render`, the operator's own
# renderer, with each referenced Secret added as a small placeholder and the owner references
# dropped, since no OvuSystem exists to own them) is created at once, 16 requests at a time;
# the clock stops when every Deployment has its pod available and every
# StatefulSet its pod ready, which is what makes an OvuSystem Ready. No waves, no status
# writes, no Events, no reads: whatever an operator does, a bring-up of the same systems on
# the same machine cannot be faster than this. bench/operator-scale.sh's "all Ready" minus
# this floor is what the operator's orchestration costs.
#
#   bench/control-plane-floor.sh [--count 500] [--cluster-qps 1000] [--apply] [--keep]
#
# --apply writes the children the way the operator does, which costs the control plane more
# than a plain create: the N OvuSystems are created first (before the clock; no operator runs,
# so they get no status), and each child is a server-side apply (field manager ovu-operator,
# force) with its owner reference to its system, so the garbage collector tracks it.
#
# Starts a purged kwok cluster (e2e/cluster/up --mode kwok) with room for the pods, like
# operator-scale.sh, and stops it at the end unless --keep. Results: stdout and
# bench/results/control-plane-floor-*.txt.
set -euo pipefail
LOG_TAG=floor
source "$(dirname "$0")/../scripts/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CLUSTER=$ROOT/e2e/cluster
KUBECTL=$CLUSTER/bin/kubectl
# Outside the cluster's run directory, which `down --purge` removes.
STATE=$ROOT/.run/floor
NS=ovu-floor
count=500 cluster_qps=1000 keep=0 mode=create
while (($#)); do
  case $1 in
    --count) count=$2; shift 2 ;;
    --cluster-qps) cluster_qps=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --apply) mode=apply; shift ;;
    *) echo "usage: $0 [--count 500] [--cluster-qps 1000] [--apply] [--keep]" >&2; exit 2 ;;
  esac
done
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "--count takes a whole number of systems (got '$count')" >&2; exit 2; }
mkdir -p "$STATE" bench/results
out=bench/results/control-plane-floor-$(date -u +%Y%m%dT%H%M%SZ).txt
say() { printf '%s\n' "$*" | tee -a "$out"; }
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local rc=$?
  ((keep)) || "$CLUSTER/down" --purge >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --profile release-operator --locked -p ovu-operator >&2
OPERATOR_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release-operator/ovu-operator

# The children, rendered before the clock starts, one JSON object a line; the systems too.
stamp="$count $(sha256sum "$OPERATOR_BIN" "$0" | cut -c1-16 | tr "\n" " ")"
if [[ $(cat "$STATE/chunks/stamp" 2>/dev/null) != "$stamp" ]]; then
log "rendering the children of $count systems"
rm -rf "$STATE/chunks" && mkdir -p "$STATE/chunks"
python3 - "$OPERATOR_BIN" "$count" "$NS" "$STATE/chunks" <<'PY'
import json, subprocess, sys, yaml
binary, count, ns, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = open(f"{outdir}/objects.jsonl", "w")
res = {"requests": {"cpu": "1m", "memory": "4Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}}
for i in range(1, count + 1):
    # The same spec as bench/operator-scale.sh's systems.
    system = {"apiVersion": "ovu.co.il/v1alpha1", "kind": "OvuSystem",
              "metadata": {"name": f"s{i:04d}", "namespace": ns, "uid": f"00000000-0000-0000-0000-{i:012d}"},
              "spec": {"domain": f"s{i}.bench.example.com",
                       "frontend": {"replicas": 1, "resources": res},
                       "backend": {"ulm": {"image": "ovu/ulm:0.1.0", "replicas": 1, "resources": res},
                                   "aam": {"image": "ovu/aam:0.1.0", "replicas": 1, "resources": res}},
                       "database": {"postgres": {"storage": {"size": "1Gi"}, "resources": res},
                                    "redis": {"resources": res}, "backup": {"storage": {"size": "1Gi"}}}}}
    with open(f"{outdir}/systems.jsonl", "a") as f:
        f.write(json.dumps({k: v for k, v in system.items()}, separators=(",", ":")) + "\n")
    spec_file = f"{outdir}/system.yaml"
    with open(spec_file, "w") as f:
        yaml.safe_dump(system, f)
    rendered = subprocess.run([binary, "render", spec_file], check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    secrets = set()
    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("secretName",) and isinstance(x, str):
                    secrets.add(x)
                elif k == "secretKeyRef" and isinstance(x, dict):
                    secrets.add(x["name"])
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    for d in docs:
        walk(d)
    docs += [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s, "namespace": ns},
              "stringData": {"placeholder": "floor"}} for s in sorted(secrets)]
    for d in docs:
        out.write(json.dumps(d, separators=(",", ":")) + "\n")
out.close()
PY
echo "$stamp" >"$STATE/chunks/stamp"
fi
objects=$(wc -l <"$STATE/chunks/objects.jsonl")
log "$objects objects"

pods=$((2 * count + 500 > 1500 ? 2 * count + 500 : 1500))
"$CLUSTER/down" --purge >/dev/null 2>&1 || true
"$CLUSTER/build"
KUBECONFIG=$("$CLUSTER/up" --mode kwok --node-capacity "cpu=64,memory=256Gi,pods=$pods" --client-qps "$cluster_qps")
export KUBECONFIG
kc() { "$KUBECTL" "$@"; }
kc create namespace "$NS" >/dev/null
if ((count > 800)); then
  kc apply -f - >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata: {name: ovu-bench}
spec: {cidrs: [198.18.144.0/20]}
YAML
fi

# shellcheck source=bench/cluster.sh
source "$ROOT/bench/cluster.sh"
# Workloads whose pod serves: Deployments with an available replica, StatefulSets with a ready
# one, from Table rows every 5 s (bench/cluster.sh): the poll must not load the API server
# whose floor it measures (a full list of 2,000 Deployments is ~10 MB of JSON).
# Deployment columns: Name, Ready, Up-to-date, Available, Age; StatefulSet: Name, Ready ("1/1"), Age.
serving() {
  local d s
  d=$(table_rows "/apis/apps/v1/namespaces/$NS/deployments" | jq '[.rows[] | select(.cells[3] >= 1)] | length') || d=0
  s=$(table_rows "/apis/apps/v1/namespaces/$NS/statefulsets" | jq '[.rows[] | select((.cells[1] | split("/") | .[0] | tonumber) >= 1)] | length') || s=0
  echo $((d + s))
}
want=$((5 * count))
if [[ $mode == apply ]]; then
  kc apply -f crds/ovusystem.yaml >/dev/null
  OVU_KUBECTL=$KUBECTL "$CLUSTER/crd-established"
  jq -s '{apiVersion: "v1", kind: "List", items: [.[] | del(.metadata.uid)]}' "$STATE/chunks/systems.jsonl" | kc create -f - >/dev/null
  # Each system's uid in place of the placeholder its children's owner references carry.
  kc -n "$NS" get ovusystems -o json |
    jq -c '[.items[] | {key: ("00000000-0000-0000-0000-" + (.metadata.name[1:] | tonumber | tostring | ("000000000000" + .) | .[-12:])), value: .metadata.uid}] | from_entries' >"$STATE/uids.json"
fi
say "# control-plane floor ($mode), $(date -u +%FT%TZ), $(nproc) cores, $count systems ($objects objects), controller-manager/scheduler client QPS $cluster_qps, load $(cut -d' ' -f1-3 /proc/loadavg)"
plane0=$(plane_cpu)
t0=$(date +%s.%N)
# kubectl throttles itself (5 requests/s per process): the creates go straight to the API
# server instead, 16 at a time over kept-alive connections, with the admin certificate.
python3 - "$STATE/chunks" "$api_url" "$PKI" "$mode" "$STATE/uids.json" <<'PY' || { echo "the creates failed" >&2; exit 1; }
import concurrent.futures, http.client, json, ssl, sys, threading, urllib.parse
chunks, server, pki, mode, uids_file = sys.argv[1:6]
uids = json.load(open(uids_file)) if mode == "apply" else {}
url = urllib.parse.urlparse(server)
ctx = ssl.create_default_context(cafile=f"{pki}/ca.crt")
ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
paths = {"ConfigMap": "api/v1/{}/configmaps", "Secret": "api/v1/{}/secrets",
         "Service": "api/v1/{}/services", "ServiceAccount": "api/v1/{}/serviceaccounts",
         "PersistentVolumeClaim": "api/v1/{}/persistentvolumeclaims",
         "Deployment": "apis/apps/v1/{}/deployments", "StatefulSet": "apis/apps/v1/{}/statefulsets",
         "CronJob": "apis/batch/v1/{}/cronjobs",
         "NetworkPolicy": "apis/networking.k8s.io/v1/{}/networkpolicies",
         "Role": "apis/rbac.authorization.k8s.io/v1/{}/roles",
         "RoleBinding": "apis/rbac.authorization.k8s.io/v1/{}/rolebindings"}
docs = [json.loads(line) for line in open(f"{chunks}/objects.jsonl")]
for d in docs:
    if mode == "apply":
        for o in d["metadata"].get("ownerReferences", []):
            o["uid"] = uids[o["uid"]]
    else:
        d["metadata"].pop("ownerReferences", None)
local = threading.local()
def create(d):
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx)
    path = "/" + paths[d["kind"]].format("namespaces/" + d["metadata"]["namespace"])
    if mode == "apply":
        local.conn.request("PATCH", f"{path}/{d['metadata']['name']}?fieldManager=ovu-operator&force=true",
                           json.dumps(d).encode(), {"Content-Type": "application/apply-patch+yaml"})
    else:
        local.conn.request("POST", path, json.dumps(d).encode(), {"Content-Type": "application/json"})
    r = local.conn.getresponse()
    body = r.read()
    if r.status != 201:
        raise SystemExit(f"{d['kind']} {d['metadata']['name']}: HTTP {r.status} {body[:300]!r}")
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    for _ in pool.map(create, docs):
        pass
PY
t_created=$(date +%s.%N)
while :; do
  n=$(serving)
  ((n >= want)) && break
  (($(date +%s) - ${t0%.*} > 1800)) && { say "only $n of $want workloads serving after 1800 s"; exit 1; }
  log "$n of $want workloads serving after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"
  sleep 5
done
t1=$(date +%s.%N)
cpu_line=$(cpu_delta "$plane0" "$(plane_cpu)")
say "$count systems' workloads all serving $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after the creates began (the $objects creates took $(awk -v a="$t0" -v b="$t_created" 'BEGIN { printf "%.1f", b - a }') s)"
say "  control plane CPU during it: $cpu_line"
say "results in $out"
