#!/usr/bin/env bash
# The release path against real servers: a CNCF distribution registry (built from its Go
# module by scripts/registry.sh) started here on 127.0.0.1 with TLS (a CA made here) and
# htpasswd auth, and a kwok cluster's real kube-apiserver beside any other cluster
# (its own OVU_CLUSTER_RUN_DIR and port offset). `make test-release`; part of `make test`.
#
# Proves: the registry refuses an anonymous client and one that does not trust the CA; images/push
# pushes the six release images and the digests it prints are the OCI archives' own manifests;
# scripts/release.sh writes install.yaml + the kustomize base and every image reference in it
# (the operator's image + its five default images, OVU_DEFAULT_IMAGE_*) is @sha256: and
# resolves in the registry to what was pushed (scripts/verify-release.sh); install.yaml passes
# `kubectl apply --dry-run=server`, then applied for real, the API server writes no image into
# an OvuSystem that names none (a stored default would pin it to this release), and the
# operator Deployment it holds, its env given to the operator's own renderer, resolves every
# image of that system to the pinned ones; and the check fails on a tampered digest (one the
# push did not record, and one recorded but not in the registry).
#
# Needs the images built (make images; the operator's binary from it renders). Everything it starts is stopped at exit (PIDs only).
set -euo pipefail
LOG_TAG=test-release
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test-registry.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CLUSTER=$ROOT/e2e/cluster
KUBECTL=$CLUSTER/bin/kubectl
WORK=${OVU_RUN_DIR:-$ROOT/.run}/release
started=$SECONDS

for img in operator ulm aam web postgres redis; do
  [[ -s images/_build/oci/$img.tar ]] || die "images/_build/oci/$img.tar is missing: make images"
done
OPERATOR_BIN=$ROOT/target/release-operator/ovu-operator
[[ -x $OPERATOR_BIN ]] || die "$OPERATOR_BIN is missing: make images"
command -v skopeo >/dev/null || die "skopeo is missing (scripts/deps.sh)"
"$CLUSTER/build" >&2

cluster_up=0
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local rc=$?
  stop_test_registry
  # The pushed blobs (about 700 MB) are of no use once it stopped; logs and install.yaml stay.
  rm -rf "$WORK/registry/storage"
  if ((cluster_up)); then
    OVU_CLUSTER_RUN_DIR=$WORK/cluster OVU_CLUSTER_PORT_OFFSET=$offset "$CLUSTER/down" --purge >&2 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$WORK"
mkdir -p "$WORK/dist"

# --- the registry: TLS from a CA made here, htpasswd auth (scripts/test-registry.sh) ----------
start_test_registry "$WORK/registry"
pki=$WORK/registry/pki
user=$REG_USER password=$REG_PASSWORD

# The registry is what a customer's would be: no anonymous pulls, no unknown CA.
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.crt" "https://$REG/v2/")
[[ $code == 401 ]] || die "the registry answered $code to an anonymous client, not 401"
if curl -s -o /dev/null "https://$REG/v2/"; then die "a client without the test CA was not refused"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.crt" -u "$user:$password" "https://$REG/v2/")
[[ $code == 200 ]] || die "the registry answered $code to the right credentials"

# --- push, release ---------------------------------------------------------------------------
export OVU_REGISTRY_CERT_DIR=$REG_CERT_DIR OVU_DIST_DIR=$WORK/dist
t0=$SECONDS
images/push "$REG/ovu" >"$WORK/push.out"
push_s=$((SECONDS - t0))
cat "$WORK/push.out" >&2
# What the registry holds is what images/build made: each pushed digest is the archive's own
# manifest digest (skopeo copies the manifest unchanged).
while read -r img ref; do
  own=$(tar -xOf "images/_build/oci/$img.tar" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')
  [[ ${ref#*@} == "$own" ]] || die "$img: pushed as ${ref#*@}, but its archive's manifest is $own"
done <"$WORK/push.out"

t0=$SECONDS
scripts/release.sh
release_s=$((SECONDS - t0))
install=$WORK/dist/install.yaml
# Six distinct images: the operator and its five default images.
n=$(python3 scripts/release-refs.py refs "$install" | awk '{print $2}' | sort -u | wc -l)
((n == 6)) || die "install.yaml references $n distinct images, not 6"
t0=$SECONDS
scripts/verify-release.sh "$install"
verify_s=$((SECONDS - t0))

# --- a real API server ---------------------------------------------------------------------
# Beside any other cluster on this machine: the first port offset at which none of the
# cluster's ports (e2e/cluster/lib.sh: etcd, apiserver, controller-manager, scheduler, kwok) is taken.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
offset_free() {
  local p
  for p in 23790 23800 23810 16443 16257 16259 16080; do port_taken $((p + $1)) && return 1; done
  return 0
}
offset=${OVU_RELEASE_CLUSTER_OFFSET:-}
if [[ -z $offset ]]; then
  # Not 2000 first: its kwok port 18080 is where e2e/run starts looking for its operator metrics port.
  for o in 1000 4000 5000 2000 3000; do
    if offset_free "$o"; then offset=$o; break; fi
  done
  [[ -n $offset ]] || die "no free port offset for a kwok cluster (set OVU_RELEASE_CLUSTER_OFFSET)"
fi
t0=$SECONDS
cluster_up=1
KUBECONFIG=$(OVU_CLUSTER_RUN_DIR=$WORK/cluster OVU_CLUSTER_PORT_OFFSET=$offset "$CLUSTER/up" --mode kwok)
export KUBECONFIG
cluster_s=$((SECONDS - t0))
# A server-side dry run cannot create a namespace for the objects in it, so install.yaml's own
# Namespace is applied first (as the real apply does first); then the whole file, dry run.
python3 -c 'import sys,yaml; print(yaml.safe_dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Namespace"][0]))' \
  "$install" | "$KUBECTL" apply -f - >&2
"$KUBECTL" apply --dry-run=server -f "$install" >&2 || die "the API server refused install.yaml (dry run)"
"$KUBECTL" apply -f "$install" >&2
OVU_KUBECTL=$KUBECTL "$CLUSTER/crd-established"
# The API server writes no image into an OvuSystem that names none: the system follows the
# operator, whichever release that is.
stored=$("$KUBECTL" apply --dry-run=server -o json -f manifests/samples/ovusystem.yaml |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["spec"]
parts = {"frontend": s["frontend"], "backend.ulm": s["backend"]["ulm"], "backend.aam": s["backend"]["aam"],
         "database.postgres": s["database"]["postgres"], "database.redis": s["database"]["redis"]}
print(" ".join(f"spec.{k}.image={v['"'"'image'"'"']}" for k, v in parts.items() if "image" in v))')
[[ -z $stored ]] || die "the API server wrote images into a sample OvuSystem: $stored"
# The operator as the API server holds it resolves them to the release's: its env, read back,
# given to its own renderer (the same resolution the controller runs).
mapfile -t op_env < <("$KUBECTL" -n ovu-system get deployment ovu-operator -o json | python3 -c '
import json, sys
c = json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0]
for e in c.get("env", []):
    if e["name"].startswith("OVU_DEFAULT_IMAGE_") and "value" in e:
        print(e["name"] + "=" + e["value"])')
got=$(env -i PATH="$PATH" "${op_env[@]}" "$OPERATOR_BIN" render manifests/samples/ovusystem.yaml --namespace ovu |
  python3 -c 'import sys, yaml
seen = set()
def walk(n):
    if isinstance(n, dict):
        for k, v in n.items():
            if k == "image" and isinstance(v, str): seen.add(v)
            else: walk(v)
    elif isinstance(n, list):
        for v in n: walk(v)
for d in yaml.safe_load_all(sys.stdin): walk(d)
print(" ".join(sorted(seen)))') || die "the operator could not render the sample with its Deployment's env"
want=$(awk '$1 != "operator" {print $2}' "$WORK/dist/images.txt" | sort | tr '\n' ' ')
[[ "$got " == "$want" ]] || die "with the installed operator's env a sample OvuSystem runs '$got', not the release's '$want'"
op_image=$("$KUBECTL" -n ovu-system get deployment ovu-operator -o 'jsonpath={.spec.template.spec.containers[0].image}')
op_pushed=$(awk '$1 == "operator" {print $2}' "$WORK/dist/images.txt")
# kustomize writes name@digest (no tag).
[[ $op_image == "${op_pushed%:*@*}@${op_pushed#*@}" ]] ||
  die "the operator Deployment runs $op_image, not the pushed operator"
log "the API server took install.yaml; a sample OvuSystem stores no image and the installed operator runs it on the pinned ones"

# --- tampered digests are caught -------------------------------------------------------------
ulm_ref=$(awk '$1 == "ulm" {print $2}' "$WORK/dist/images.txt")
ulm_digest=${ulm_ref#*@sha256:}
last=${ulm_digest: -1}
if [[ $last == 0 ]]; then swap=1; else swap=0; fi
bad_digest=${ulm_digest%?}$swap
mkdir -p "$WORK/tampered"
sed "s/$ulm_digest/$bad_digest/g" "$install" >"$WORK/tampered/install.yaml"
cp "$WORK/dist/images.txt" "$WORK/tampered/images.txt"
if scripts/verify-release.sh "$WORK/tampered/install.yaml" 2>"$WORK/tampered/out1"; then
  die "verify-release.sh accepted an install.yaml with a tampered ulm digest"
fi
grep -q "is not an image the push recorded" "$WORK/tampered/out1" || { cat "$WORK/tampered/out1" >&2; die "the tampered digest was refused for another reason"; }
# A push record that lies too: then the registry itself must say no.
sed -i "s/$ulm_digest/$bad_digest/g" "$WORK/tampered/images.txt"
if scripts/verify-release.sh "$WORK/tampered/install.yaml" 2>"$WORK/tampered/out2"; then
  die "verify-release.sh accepted a digest the registry does not hold"
fi
grep -q "does not resolve in the registry" "$WORK/tampered/out2" || { cat "$WORK/tampered/out2" >&2; die "the unknown digest was refused for another reason"; }
log "tampered digests refused (push record and registry)"
# An install whose operator lacks one default image would run that component unpinned.
python3 -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Deployment" and d["metadata"]["name"] == "ovu-operator":
        c = d["spec"]["template"]["spec"]["containers"][0]
        c["env"] = [e for e in c["env"] if e["name"] != "OVU_DEFAULT_IMAGE_WEB"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$install" "$WORK/tampered/install.yaml"
cp "$WORK/dist/images.txt" "$WORK/tampered/images.txt"
if scripts/verify-release.sh --offline "$WORK/tampered/install.yaml" 2>"$WORK/tampered/out3"; then
  die "verify-release.sh accepted an install.yaml whose operator does not set OVU_DEFAULT_IMAGE_WEB"
fi
grep -q "does not set OVU_DEFAULT_IMAGE_WEB" "$WORK/tampered/out3" || { cat "$WORK/tampered/out3" >&2; die "the unpinned web image was refused for another reason"; }
log "an operator without a pinned default image refused"
log "passed in $((SECONDS - started)) s (push ${push_s} s, release ${release_s} s, verify ${verify_s} s, kwok cluster up ${cluster_s} s)"
