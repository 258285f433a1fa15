#!/usr/bin/env bash
# Builds the CNCF distribution registry (`registry`, the reference OCI registry) from its Go
# module and prints the binary's path. scripts/test-release.sh starts it with TLS and htpasswd
# auth, pushes OVU's images into it and checks the release against it.
#
# Only ./cmd/registry is built, from the module's own go.mod (GOWORK=off, -mod=mod), cached
# outside the clone keyed by version, so a fresh clone reuses it and a change of the pin
# rebuilds it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/registry-<version>/registry
#
#   scripts/registry.sh          # build if needed; print the path
set -euo pipefail
REGISTRY_VERSION=v3.1.2
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/registry-$REGISTRY_VERSION"
BIN="$CACHE/registry"

if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || { echo "registry: go is not on PATH (scripts/deps.sh)" >&2; exit 1; }
  mkdir -p "$CACHE"
  staging=$(mktemp -d "$CACHE/.build.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  echo "[registry] building github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION into $CACHE" >&2
  export GOWORK=off GOFLAGS=-mod=mod
  mod_dir=$(cd "$staging" && go mod download -json "github.com/distribution/distribution/v3@$REGISTRY_VERSION" |
    python3 -c 'import json,sys; m=json.load(sys.stdin); d=m.get("Dir"); print(d) if d else sys.exit(m.get("Error","no Dir"))')
  # Built in the (read-only) module directory: its go.mod and go.sum pin every dependency.
  # The output goes to staging first so an interrupted build never leaves a binary that looks
  # complete.
  (cd "$mod_dir" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" \
    -o "$staging/registry" ./cmd/registry)
  mv "$staging/registry" "$BIN"
fi
echo "$BIN"
