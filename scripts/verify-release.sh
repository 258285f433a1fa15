#!/usr/bin/env bash
# Checks a release's install.yaml: the operator Deployment sets every default image
# (OVU_DEFAULT_IMAGE_*: unset, the operator would fall back to an unpinned tag), and every
# image reference in it (the operator's container, those defaults, any image default of a
# CRD) is pinned by digest, is one of the images the push
# recorded (images.txt beside install.yaml, written by images/push), and — unless --offline —
# resolves in the registry to that very manifest (its bytes hash to the digest).
#
#   scripts/verify-release.sh [--offline] [--pushed images.txt] install.yaml
#
# Registry access as images/push: REGISTRY_AUTH_FILE, OVU_REGISTRY_CERT_DIR. Exit 1 naming
# every reference that fails.
set -euo pipefail
LOG_TAG=verify-release
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)

offline=0 pushed="" install=""
while (($#)); do
  case $1 in
    --offline) offline=1 ;;
    --pushed) pushed=${2:?--pushed needs a file}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [[ -z $install ]] || die "one install.yaml only"; install=$1 ;;
  esac
  shift
done
[[ -n $install && -s $install ]] || die "usage: verify-release.sh [--offline] [--pushed images.txt] install.yaml"
pushed=${pushed:-$(dirname "$install")/images.txt}
[[ -s $pushed ]] || die "$pushed (the push record) is missing"
tls=()
[[ -n ${OVU_REGISTRY_CERT_DIR:-} ]] && tls=(--cert-dir "$OVU_REGISTRY_CERT_DIR")

# A reference's identity is its name and digest: a pinned reference may keep the tag
# (name:tag@digest, as the default images do, for people reading it) or drop it (name@digest, as
# kustomize writes the operator's); the digest is what a runtime pulls either way.
identity() { local name=${1%@*}; [[ ${name##*/} == *:* ]] && name=${name%:*}; echo "$name@${1#*@}"; }
declare -A PUSHED=()
while read -r _ ref; do PUSHED[$(identity "$ref")]=1; done <"$pushed"

missing=$(python3 "$ROOT/scripts/release-refs.py" missing-vars "$install") || die "cannot read $install"
[[ -z $missing ]] || die "$install: the operator Deployment does not set $(echo "$missing" | tr '\n' ' ')(its systems would run unpinned images)"
refs=$(python3 "$ROOT/scripts/release-refs.py" refs "$install") || die "cannot read $install"
[[ -n $refs ]] || die "$install has no image references"
failed=0 count=0
declare -A RESOLVED=()
while read -r where ref; do
  count=$((count + 1))
  if [[ ! $ref =~ @sha256:[0-9a-f]{64}$ ]]; then
    log "FAIL $where: $ref is not pinned by digest"
    failed=1
    continue
  fi
  if [[ -z ${PUSHED[$(identity "$ref")]:-} ]]; then
    log "FAIL $where: $ref is not an image the push recorded ($pushed)"
    failed=1
    continue
  fi
  ((offline)) && continue
  if [[ -z ${RESOLVED[$ref]:-} ]]; then
    # By digest (skopeo takes name@digest, not name:tag@digest): the registry must serve a
    # manifest whose sha256 is that digest.
    if manifest_sha=$(skopeo inspect --raw --retry-times 2 "${tls[@]}" "docker://$(identity "$ref")" 2>&1 | sha256sum) &&
      [[ sha256:${manifest_sha%% *} == "${ref#*@}" ]]; then
      RESOLVED[$ref]=ok
    else
      RESOLVED[$ref]=bad
    fi
  fi
  if [[ ${RESOLVED[$ref]} != ok ]]; then
    log "FAIL $where: $ref does not resolve in the registry to that digest"
    failed=1
  fi
done <<<"$refs"
((failed == 0)) || die "$install: some image references are not the pushed images (above)"
if ((offline)); then
  log "ok: $count image references in $install, all pinned by digest to pushed images"
else
  log "ok: $count image references in $install, all pinned by digest and resolving in the registry to what was pushed"
fi
