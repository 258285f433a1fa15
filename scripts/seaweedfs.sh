#!/usr/bin/env bash
# Builds `weed` (SeaweedFS: a maintained object store with an S3 API that users run in
# production) from its Go module and prints the binary's path. The off-site backup tests
# (scripts/test-offsite.sh, the e2e offsite case) run it as the S3 bucket backups go to.
#
# Only ./weed is built, from the module's own go.mod (GOWORK=off, -mod=mod), and the binary is
# cached outside the clone keyed by version, so a fresh clone (or CI after a developer) reuses
# it and a change of the pin rebuilds it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/seaweedfs-<version>/weed
#
#   scripts/seaweedfs.sh          # build if needed; print the path
set -euo pipefail
# SeaweedFS tags releases as 3.x but its go.mod module path has no /v3, so the Go proxy only
# serves pseudo-versions; this one is the commit of 2026-11-09.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/seaweedfs-$SEAWEEDFS_VERSION"
BIN="$CACHE/weed"

if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || { echo "seaweedfs: go is not on PATH (scripts/deps.sh)" >&2; exit 1; }
  mkdir -p "$CACHE"
  staging=$(mktemp -d "$CACHE/.build.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  echo "[seaweedfs] building github.com/seaweedfs/seaweedfs/weed@$SEAWEEDFS_VERSION into $CACHE" >&2
  export GOWORK=off GOFLAGS=-mod=mod
  mod_dir=$(cd "$staging" && go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" |
    python3 -c 'import json,sys; m=json.load(sys.stdin); d=m.get("Dir"); print(d) if d else sys.exit(m.get("Error","no Dir"))')
  # Built in the (read-only) module directory: its go.mod and go.sum pin every dependency.
  # The output goes to staging first so a failed or interrupted build never leaves a binary
  # that looks complete.
  (cd "$mod_dir" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" \
    -o "$staging/weed" ./weed)
  mv "$staging/weed" "$BIN"
fi
echo "$BIN"
