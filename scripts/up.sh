#!/usr/bin/env bash
# `make up`: the whole OVU system on a real Kubernetes cluster built on this machine.
#
#   scripts/up.sh            # install, build, start, deploy, wait for Ready, print the URLs
#   scripts/up.sh down       # stop everything up started (the cluster keeps its data on disk)
#   scripts/up.sh status     # the OvuSystem's conditions and pods
#
# The cluster: OVU_CLUSTER=kind (default, what make test's real-container pass runs on) is the
# kind cluster of e2e/kind (one control plane and three tier nodes as containers of OVU's own
# dockerd); OVU_CLUSTER=nodes is the real-node cluster of e2e/cluster (etcd, control plane and
# three kubelets as processes in network namespaces; make test-all's chaos tests). Both get the
# same operator, system and URLs; on kind the NodePorts are 31443 and 31825
# (deploy/local/kind/system), on the real nodes 30443 and 30825, so the two may run side by side.
#
# Steps (each a no-op when already done, so a second `make up` is fast; each prints its time):
#   1. scripts/deps.sh                      Debian packages, toolchains
#   2. nodes: e2e/cluster/build             kube-apiserver, kubelet, ... from the Go module proxy
#      kind:  e2e/kind/cluster prepare      dockerd, kind, the node image (from that same build)
#   3. images/build                         release binaries, web bundles, the OCI images
#   4. nodes: e2e/cluster/up --mode real    etcd + control plane + 3 real nodes + addons
#      kind:  e2e/kind/cluster up           the kind cluster: reused, restarted or created
#   5. nodes: e2e/cluster/load-images       the OVU images into each node's containerd
#      kind:  e2e/kind/cluster load         each image into the node(s) of its tier only
#   6. kubectl apply -k deploy/local/operator   CRD, RBAC, the operator from its image
#   7. kubectl apply -k deploy/local/system     manifests/samples/ovusystem.yaml on ovu.localhost,
#                                               with Mailpit as its mail server (kind:
#                                               deploy/local/kind/system, other NodePorts)
#   8. wait for Ready (printing the conditions as they change), then print the URLs.
# Environment: OVU_CLUSTER (nodes|kind), OVU_UP_TIMEOUT (seconds to wait for Ready, default 900).
set -euo pipefail
LOG_TAG=up
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CLUSTER=$ROOT/e2e/cluster
KIND_DIR=$ROOT/e2e/kind
KUBECTL=$CLUSTER/bin/kubectl
OUT=${OVU_RUN_DIR:-$ROOT/.run}/up
NS=ovu
NAME=ovu
DOMAIN=ovu.localhost
TIMEOUT=${OVU_UP_TIMEOUT:-900}
# kind unless OVU_CLUSTER says otherwise; `down` and `status` act on the cluster of
# the last `make up` (recorded in $OUT/cluster), so `make down` needs no variable.
if [[ -z ${OVU_CLUSTER:-} ]]; then
  case ${1:-up} in
    down | status) OVU_CLUSTER=$(cat "$OUT/cluster" 2>/dev/null || echo kind) ;;
    *) OVU_CLUSTER=kind ;;
  esac
fi
case $OVU_CLUSTER in
  nodes)
    KUBECONFIG=$CLUSTER/_run/kubeconfig
    SYSTEM_DIR=deploy/local/system HTTPS_PORT=30443 MAILPIT_PORT=30825
    ;;
  kind)
    KUBECONFIG=${OVU_KIND_RUN_DIR:-$KIND_DIR/_run}/kubeconfig
    SYSTEM_DIR=deploy/local/kind/system HTTPS_PORT=31443 MAILPIT_PORT=31825
    ;;
  *) die "OVU_CLUSTER=$OVU_CLUSTER: expected nodes or kind" ;;
esac

# step TEXT: prints the end of the previous step with its time (also into $OUT/times), then TEXT.
step_name="" step_t0=$SECONDS
mkdir -p "$OUT"
step_end() {
  [[ -n $step_name ]] || return 0
  log "  ${step_name%% *} done in $((SECONDS - step_t0)) s"
  printf '%s %s %s\n' "$OVU_CLUSTER" "${step_name%% *}" "$((SECONDS - step_t0))" >>"$OUT/times"
}
step() { step_end; step_name=$1 step_t0=$SECONDS; log "$@"; }
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

case ${1:-up} in
  down)
    if [[ $OVU_CLUSTER == kind ]]; then
      log "stopping the kind cluster's nodes and OVU's dockerd (the cluster stays; e2e/kind/cluster delete deletes it)"
      "$KIND_DIR/cluster" stop
      "$KIND_DIR/docker" stop
    else
      log "stopping the local cluster (its data stays in e2e/cluster/_run; e2e/cluster/down --purge deletes it)"
      [[ -x $CLUSTER/down ]] && "$CLUSTER/down"
    fi
    exit 0
    ;;
  status)
    export KUBECONFIG
    kc -n "$NS" get ovusystem "$NAME" -o wide
    kc -n "$NS" get ovusystem "$NAME" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
    kc -n "$NS" get pods -o wide
    exit 0
    ;;
  up) ;;
  -h | --help) usage; exit 0 ;;
  *) die "unknown command $1 (up, down, status)" ;;
esac

[[ $(id -u) == 0 ]] || die "make up runs containers and node networking: run it as root"
t0=$SECONDS
: >"$OUT/times"
echo "$OVU_CLUSTER" >"$OUT/cluster"
step "1/8 dependencies"
scripts/deps.sh
if [[ $OVU_CLUSTER == kind ]]; then
  step "2/8 dockerd, kind and the node image (Kubernetes built once from the Go module proxy)"
  "$KIND_DIR/cluster" prepare
else
  step "2/8 Kubernetes binaries (built once from the Go module proxy)"
  "$CLUSTER/build"
fi
step "3/8 images (release build, web bundles, images/build; cached)"
if [[ $OVU_CLUSTER == kind ]]; then
  # The add-on images (CoreDNS, local-path, pause, kube-network-policies) are in the node image.
  images/build operator ulm aam web postgres redis mailpit >&2
else
  images/build >&2
fi
# OVU_LEAN_DISK=1 (scripts/stages.sh sets it when a test run starts short of disk): the release
# profiles' intermediate files — every dependency compiled twice over, ~1.9 GiB — go once the
# binaries are in the images, before the cluster fills the disk. make test's later stages build
# no release binary (test-images-smoke and test-release run before its kind pass); the next
# images/build compiles the dependencies again (~10 min).
if [[ ${OVU_LEAN_DISK:-0} == 1 ]]; then
  for profile in release release-operator; do
    d=${CARGO_TARGET_DIR:-$ROOT/target}/$profile
    [[ -d $d/deps ]] || continue
    freed=$(du -scm "$d"/{deps,build,.fingerprint,incremental,examples} 2>/dev/null | tail -1 | cut -f1)
    rm -rf "${d:?}"/{deps,build,.fingerprint,incremental,examples}
    log "OVU_LEAN_DISK: removed target/$profile's intermediate files ($freed MB), kept its binaries"
  done
fi
if [[ $OVU_CLUSTER == kind ]]; then
  step "4/8 the local cluster: kind (a control plane and three tier nodes in OVU's dockerd)"
  KUBECONFIG=$("$KIND_DIR/cluster" up)
  export KUBECONFIG
  step "5/8 loading the OVU images into the nodes of their tiers"
  "$KIND_DIR/cluster" load operator ulm aam web postgres redis mailpit
else
  step "4/8 the local cluster, real nodes"
  KUBECONFIG=$("$CLUSTER/up" --mode real)
  export KUBECONFIG
  step "5/8 loading the OVU images into the nodes"
  "$CLUSTER/load-images" images/_build/oci/{operator,ulm,aam,web,postgres,redis,mailpit}.tar
fi

step "6/8 the CRD, RBAC and the operator (in-cluster, from its image)"
kc apply -f crds/ovusystem.yaml >/dev/null
OVU_KUBECTL=$KUBECTL "$CLUSTER/crd-established"
kc apply -k deploy/local/operator >/dev/null
# A rebuilt image keeps its tag: restart the operator when the image in the node differs from
# what its pods run, so a second `make up` after a code change runs the new code.
want=$(kc -n ovu-system get deploy ovu-operator -o jsonpath='{.spec.template.metadata.annotations.ovu\.co\.il/image-id}' 2>/dev/null || true)
have=$(sha256sum images/_build/oci/operator.tar | cut -c1-16)
if [[ $want != "$have" ]]; then
  kc -n ovu-system patch deploy ovu-operator --type merge \
    -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"ovu.co.il/image-id\":\"$have\"}}}}}" >/dev/null
fi
kc -n ovu-system rollout status deploy/ovu-operator --timeout=300s >&2 ||
  { kc -n ovu-system get pods -o wide >&2; kc -n ovu-system logs deploy/ovu-operator --tail=40 >&2 || true; die "the operator did not become ready"; }

step "7/8 the OvuSystem (manifests/samples/ovusystem.yaml on $DOMAIN, $SYSTEM_DIR)"
kc apply -k "$SYSTEM_DIR" >/dev/null
# Services run the image the node holds; after an image rebuild under the same tag, restart them.
# Mailpit too (deploy/local/system/mailpit.yaml): its tag is Mailpit's version, kept when
# scripts/mailpit.sh's build changes (as when it gained the web UI).
for c in ulm aam frontend mailpit; do
  case $c in
    frontend) deploy=$NAME-frontend archive=web ;;
    mailpit) deploy=mailpit archive=mailpit ;;
    *) deploy=$NAME-$c archive=$c ;;
  esac
  id=$(sha256sum "images/_build/oci/$archive.tar" | cut -c1-16)
  if kc -n "$NS" get deploy "$deploy" >/dev/null 2>&1; then
    cur=$(kc -n "$NS" get deploy "$deploy" -o jsonpath='{.metadata.annotations.ovu\.co\.il/local-image-id}')
    # Not yet annotated: a fresh Deployment runs the fresh image; but a Mailpit without the
    # annotation may be from a cluster made before this loop knew it, with a binary without the UI.
    if [[ $cur != "$id" && (-n $cur || $c == mailpit) ]]; then
      kc -n "$NS" rollout restart deploy "$deploy" >/dev/null
    fi
    kc -n "$NS" annotate --overwrite deploy "$deploy" "ovu.co.il/local-image-id=$id" >/dev/null
  fi
done

step "8/8 waiting for Ready (up to ${TIMEOUT}s)"
last=""
# Prints the phase and conditions each time they change; true once Ready.
ready_reporting() {
  local now
  now=$(kc -n "$NS" get ovusystem "$NAME" -o jsonpath='{.status.phase}{"|"}{range .status.conditions[*]}{.type}={.status} ({.reason}) {end}' 2>/dev/null || true)
  if [[ $now != "$last" ]]; then
    printf '  %s\n' "${now//|/  }" >&2
    last=$now
  fi
  # Ready of the spec just applied: right after an apply that changed it, the status still
  # says Ready about the previous generation (seen: tests started while ULM and AAM rolled).
  local gen observed ready
  read -r gen observed ready < <(kc -n "$NS" get ovusystem "$NAME" -o jsonpath='{.metadata.generation}{" "}{.status.observedGeneration}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}' 2>/dev/null || echo)
  [[ $ready == True && -n $gen && $gen == "$observed" ]]
}
if ! WAIT_EVERY=2 wait_for "$TIMEOUT" ready_reporting; then
  kc -n "$NS" get pods -o wide >&2 || true
  kc -n "$NS" get events --sort-by=.lastTimestamp 2>/dev/null | tail -20 >&2 || true
  kc -n ovu-system logs deploy/ovu-operator --tail=30 >&2 || true
  die "the OvuSystem is not Ready after ${TIMEOUT}s (above: pods, events, operator log)"
fi

# ULM's mail server (deploy/local/system/mailpit.yaml): not part of the OvuSystem's Ready, but
# the first registration's mail should not wait for a retry.
kc -n "$NS" rollout status deploy/mailpit --timeout=120s >&2 ||
  { kc -n "$NS" get pods -l app.kubernetes.io/name=mailpit -o wide >&2; die "Mailpit (ULM's mail server) did not become ready"; }

step_end
kc -n "$NS" get secret "$NAME-tls" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$OUT/ca.crt"
# The answer a user would see first: the health endpoint through nginx, over TLS, trusting only
# the generated CA. After `make down` the status read above can still be the Ready of before
# the nodes stopped (the operator has not looked again yet) while nginx starts, so the answer
# gets the time a restart takes (frontend pods wait for cluster DNS), each try bounded.
health_url=https://ulm.$DOMAIN:$HTTPS_PORT/api/health
health() { curl -sS --max-time 5 --cacert "$OUT/ca.crt" --resolve "ulm.$DOMAIN:$HTTPS_PORT:127.0.0.1" "$health_url" "$@"; }
health_ok() { health -f -o /dev/null 2>/dev/null; }
if ! WAIT_EVERY=2 wait_for 180 health_ok; then
  health >&2 || true
  kc -n "$NS" get pods -o wide >&2 || true
  die "the system is Ready but $health_url does not answer after 180 s"
fi
admin_email=$(kc -n "$NS" get secret "$NAME-bootstrap-admin" -o jsonpath='{.data.email}' | base64 -d)
cat >&2 <<EOF

OVU is up ($((SECONDS - t0)) s).
  ULM app:   https://ulm.$DOMAIN:$HTTPS_PORT/
  AAM panel: https://aam.$DOMAIN:$HTTPS_PORT/
  (both on 127.0.0.1; *.localhost names resolve there)
  Bootstrap admin: $admin_email
    password: $KUBECTL --kubeconfig $KUBECONFIG -n $NS get secret $NAME-bootstrap-admin -o jsonpath='{.data.password}' | base64 -d
    second factor: admins must use one (spec.security.adminMfa: Required); the AAM panel walks
    you through setting up an authenticator app at the first sign-in
  Mail:      http://127.0.0.1:$MAILPIT_PORT/   (Mailpit's web UI: every mail ULM sent, e.g. the verification link;
             as text: http://127.0.0.1:$MAILPIT_PORT/view/latest.txt (the newest), API: /api/v1/messages)
  CA certificate: $OUT/ca.crt   (e.g. curl --cacert $OUT/ca.crt https://ulm.$DOMAIN:$HTTPS_PORT/api/health)
    To trust it in a browser, import it as an authority: Chromium/Chrome: Settings > Privacy and
    security > Security > Manage certificates > Authorities > Import ("Trust this certificate for
    identifying websites"); Firefox: Settings > Privacy & Security > View Certificates >
    Authorities > Import ("This certificate can identify websites").
  kubectl:   export KUBECONFIG=$KUBECONFIG PATH=$CLUSTER/bin:\$PATH
  Stop:      make down   (this $OVU_CLUSTER cluster; it keeps its data for the next make up)
EOF
