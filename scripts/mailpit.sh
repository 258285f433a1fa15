#!/usr/bin/env bash
# Builds Mailpit (a real SMTP server that keeps every message and serves them over an HTTP
# API and a web UI) from its Go module and prints the binary's path. Tests and `make dev` send
# ULM's mail to it; images/build packs the same binary for the cluster, where `make up`'s
# newcomer opens the web UI (http://127.0.0.1:30825/) to read the verification mail.
#
# The module ships the web UI's sources (a Vue app, server/ui-src) but not its build
# (server/ui/dist, which the binary embeds with go:embed), so this script builds it: the
# module's source is copied to a staging directory, the UI is bundled there with Mailpit's own
# esbuild.config.mjs, and the binary is built from that directory so the bundle is embedded.
# The UI's npm packages are pinned in scripts/mailpit/ (package.json + package-lock.json, an
# `npm ci` that is reproducible and served from npm's cache after the first run): Mailpit's own
# package.json trimmed to what the bundle needs (no linters, no test runners), at Mailpit's
# locked versions except where the registry reachable here lacks them (rapidoc 12 -> 9.3.8,
# which only the /api/v1/ API docs page uses). scripts/mailpit/.npmrc says why sass-embedded
# is left out.
#
# The binary is cached outside the clone, keyed by version and a hash of scripts/mailpit/, so a
# second clone (or CI after a developer) never rebuilds it and a change of the pins does:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/mailpit-<version>-ui-<hash>/mailpit
# Besides the UI (/), it serves /api/v1/messages, /view/<ID>.txt and /view/latest.txt.
#
#   scripts/mailpit.sh          # build if needed; print the path
set -euo pipefail
MAILPIT_VERSION=v1.33.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PINS="$HERE/mailpit"
pins_hash=$(cat "$PINS/package.json" "$PINS/package-lock.json" "$PINS/.npmrc" | sha256sum | cut -c1-12)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/mailpit-$MAILPIT_VERSION-ui-$pins_hash"
BIN="$CACHE/mailpit"

if [ ! -x "$BIN" ]; then
  for tool in go node npm; do
    command -v "$tool" >/dev/null || { echo "mailpit: $tool is not on PATH (scripts/deps.sh)" >&2; exit 1; }
  done
  mkdir -p "$CACHE"
  staging=$(mktemp -d "$CACHE/.build.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  echo "[mailpit] building github.com/axllent/mailpit@$MAILPIT_VERSION with its web UI into $CACHE" >&2
  # GOWORK=off, -mod=mod: the module's own go.mod, not a workspace or vendor directory.
  export GOWORK=off GOFLAGS=-mod=mod
  mod_json=$(cd "$staging" && go mod download -json "github.com/axllent/mailpit@$MAILPIT_VERSION")
  mod_dir=$(printf '%s' "$mod_json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);if(!m.Dir){console.error(m.Error||"no Dir");process.exit(1)}console.log(m.Dir)})')
  src="$staging/src"
  # The module cache is read-only: copy it, then make the copy writable for node_modules and dist.
  cp -R "$mod_dir" "$src"
  chmod -R u+w "$src"
  cp "$PINS/package.json" "$PINS/package-lock.json" "$PINS/.npmrc" "$src/"
  # --include=dev: the bundler is a devDependency, whatever NODE_ENV says. --ignore-scripts:
  # no install script is needed (esbuild's binary comes as an optional package), and none may
  # fetch anything from outside the registry. --prefer-offline: npm's cache first, so a rebuild
  # needs no network for packages it has seen.
  (cd "$src" && npm ci --include=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2)
  (cd "$src" && MINIFY=true node esbuild.config.mjs >&2)
  for f in app.js app.css docs.js; do
    [ -s "$src/server/ui/dist/$f" ] || { echo "mailpit: the UI build made no server/ui/dist/$f" >&2; exit 1; }
  done
  # Static (CGO off; its SQLite is pure Go), so the same binary runs on the image's base.
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=$MAILPIT_VERSION" \
    -o "$staging/mailpit" .)
  mv "$staging/mailpit" "$BIN"
fi
echo "$BIN"
