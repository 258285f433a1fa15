#!/usr/bin/env bash
# Builds the CNCF distribution registry (`registry`, the reference OCI registry) from its Go
# module and prints the binary's path. scripts/test-release.sh starts it with TLS and htpasswd
# auth, pushes OVU's images into it and checks the release against it.
#
# Only ./cmd/registry is built (scripts/lib.sh go_module_tool: the module's own go.mod), cached
# outside the clone keyed by version, so a fresh clone reuses it and a change of the pin
# rebuilds it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/registry-<version>/registry
#
#   scripts/registry.sh          # build if needed; print the path
set -euo pipefail
LOG_TAG=registry
source "$(dirname "$0")/lib.sh"
REGISTRY_VERSION=v3.1.2
go_module_tool registry "github.com/distribution/distribution/v3@$REGISTRY_VERSION" ./cmd/registry \
  "registry-$REGISTRY_VERSION" \
  -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION"
