#!/usr/bin/env bash
# Builds `weed` (SeaweedFS: a maintained object store with an S3 API that users run in
# production) from its Go module and prints the binary's path. The off-site backup tests
# (scripts/test-offsite.sh, the e2e offsite case) run it as the S3 bucket backups go to.
#
# Only ./weed is built (scripts/lib.sh go_module_tool: the module's own go.mod), and the binary is
# cached outside the clone keyed by version, so a fresh clone (or CI after a developer) reuses
# it and a change of the pin rebuilds it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/seaweedfs-<version>/weed
#
#   scripts/seaweedfs.sh          # build if needed; print the path
set -euo pipefail
LOG_TAG=seaweedfs
source "$(dirname "$0")/lib.sh"
# SeaweedFS tags releases as 3.x but its go.mod module path has no /v3, so the Go proxy only
# serves pseudo-versions; this one is the commit of 2026-11-09.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
go_module_tool weed "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" ./weed \
  "seaweedfs-$SEAWEEDFS_VERSION" -ldflags "-s -w"
