#!/usr/bin/env bash
# Builds promtool (Prometheus' rule checker and rule unit-test runner) from the Prometheus Go
# module and prints the binary's path. scripts/test-monitoring.sh runs it on deploy/monitoring/.
#
# Only ./cmd/promtool is built, from the module's own go.mod (GOWORK=off, -mod=mod), and the
# binary is cached outside the clone keyed by version, so a fresh clone (or CI after a
# developer) reuses it and a change of the pin rebuilds it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/promtool-<version>-<build tags>/promtool
#
#   scripts/promtool.sh          # build if needed; print the path
set -euo pipefail
# Prometheus 3.x's Go module is versioned v0.3XX.Y (v0.316.0 is Prometheus 3.16.0).
PROMETHEUS_VERSION=v0.316.0
# Rules are all promtool checks here: without the service-discovery plugins (AWS, Azure, GCE,
# ...; Prometheus' own `remove_all_sd` tag) the build compiles 1,117 packages instead of 1,364.
# `check config` of a file that uses one of those discoveries would then fail; nothing runs it.
BUILD_TAGS=remove_all_sd
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/promtool-$PROMETHEUS_VERSION-$BUILD_TAGS"
BIN="$CACHE/promtool"

if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || { echo "promtool: go is not on PATH (scripts/deps.sh)" >&2; exit 1; }
  mkdir -p "$CACHE"
  staging=$(mktemp -d "$CACHE/.build.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  echo "[promtool] building github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION into $CACHE" >&2
  export GOWORK=off GOFLAGS=-mod=mod
  # v0.316.0 -> 3.16.0, for `promtool --version`.
  minor=${PROMETHEUS_VERSION#v0.}
  minor=${minor%%.*}
  release="${minor:0:1}.${minor:1}.${PROMETHEUS_VERSION##*.}"
  mod_dir=$(cd "$staging" && go mod download -json "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" |
    python3 -c 'import json,sys; m=json.load(sys.stdin); d=m.get("Dir"); print(d) if d else sys.exit(m.get("Error","no Dir"))')
  # Built in the (read-only) module directory: its go.mod and go.sum pin every dependency.
  # The output goes to staging first so a failed or interrupted build never leaves a binary
  # that looks complete.
  (cd "$mod_dir" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags "$BUILD_TAGS" \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
    -o "$staging/promtool" ./cmd/promtool)
  mv "$staging/promtool" "$BIN"
fi
echo "$BIN"
