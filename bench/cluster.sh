# shellcheck shell=bash
# What the kwok-cluster benchmarks (bench/operator-scale.sh, bench/control-plane-floor.sh) read
# from this repo's cluster: each control-plane process's CPU, and the API server itself with the
# admin certificate. Sourced after the cluster is up; needs $CLUSTER and `kc` (kubectl with the
# cluster's kubeconfig).

CLUSTER_RUN=${OVU_CLUSTER_RUN_DIR:-$CLUSTER/_run}
PIDS=$CLUSTER_RUN/pids
PKI=$CLUSTER_RUN/pki
api_url=$(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}')

# CPU seconds (user + system) of each control-plane process this repo's cluster recorded, as
# "name=seconds ..."; on a machine of 2 cores they share the cores with what is measured.
plane_cpu() {
  local f pid
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(<"$f")
    [[ -r /proc/$pid/stat ]] || continue
    awk -v n="$(basename "$f" .pid)" '{ printf "%s=%.1f ", n, ($14 + $15) / 100 }' "/proc/$pid/stat"
  done
}
# "a=1 b=2" then "a=4 b=7" → "a 3.0 s, b 5.0 s" (what each used in between)
cpu_delta() {
  awk -v before="$1" -v after="$2" 'BEGIN {
    n = split(before, b, " "); for (i = 1; i <= n; i++) { split(b[i], kv, "="); was[kv[1]] = kv[2] }
    n = split(after, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); printf "%s%s %.1f s", (i > 1 ? ", " : ""), kv[1], kv[2] - was[kv[1]] }
  }'
}

# The polls go with curl and the admin certificate when the cluster has one: a kubectl process
# per request costs ~0.15 s of CPU on the cores the bench measures. A poll that needs a list asks
# for the API server's Table rows (the printer columns, no objects) from its watch cache
# (control-plane-floor.sh, 2026-12-07: 500 systems' workloads serving in 314 s polled with
# kubectl's full lists every 5 s, in 250 s polled this way).
light() { [[ -r $PKI/admin.key ]]; }
# api_get PATH [ACCEPT]: a GET of PATH (from /); kubectl's --raw when there is no certificate.
api_get() {
  local accept=()
  [[ -z ${2:-} ]] || accept=(-H "Accept: $2")
  if light; then
    curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "${accept[@]}" "$api_url$1"
  else
    kc get --raw "$1"
  fi
}
# table_rows PATH: the Table of a list, from the watch cache (PATH without a query).
table_rows() {
  api_get "$1?resourceVersion=0&includeObject=None" 'application/json;as=Table;v=v1;g=meta.k8s.io'
}
