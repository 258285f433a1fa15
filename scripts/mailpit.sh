#!/usr/bin/env bash
# Builds Mailpit (a real SMTP server that keeps every message and serves them over an HTTP
# API) from its Go module and prints the binary's path. Tests and `make dev` send ULM's mail
# to it; images/build packs the same binary for the cluster.
#
# The binary is cached outside the clone, keyed by version, so a second clone (or CI after a
# developer) never rebuilds it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/mailpit-<version>/mailpit
#
# Built from the Go module alone, Mailpit has no web UI script bundle (the module ships the UI's
# sources, not its build, and that build needs npm packages newer than the registry here has):
# its HTTP API and the plain views work — /api/v1/messages, /view/<ID>.txt, /view/latest.txt.
#
#   scripts/mailpit.sh          # build if needed; print the path
set -euo pipefail
MAILPIT_VERSION=v1.33.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/mailpit-$MAILPIT_VERSION"
BIN="$CACHE/mailpit"

if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || { echo "mailpit: go is not on PATH (scripts/deps.sh)" >&2; exit 1; }
  mkdir -p "$CACHE"
  staging=$(mktemp -d "$CACHE/.build.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  echo "[mailpit] building github.com/axllent/mailpit@$MAILPIT_VERSION into $CACHE" >&2
  # Static (CGO off; its SQLite is pure Go), so the same binary runs on the image's base.
  # -mod=mod: build from the module's own go.mod, not a workspace or vendor directory.
  (cd "$staging" && CGO_ENABLED=0 GOBIN="$staging" GOFLAGS=-mod=mod go install -trimpath \
    -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=$MAILPIT_VERSION" \
    "github.com/axllent/mailpit@$MAILPIT_VERSION")
  mv "$staging/mailpit" "$BIN"
fi
echo "$BIN"
