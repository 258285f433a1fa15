#!/usr/bin/env bash
# Builds promtool (Prometheus' rule checker and rule unit-test runner) from the Prometheus Go
# module and prints the binary's path. scripts/test-monitoring.sh runs it on deploy/monitoring/.
#
# Only ./cmd/promtool is built (scripts/lib.sh go_module_tool: the module's own go.mod), and the
# binary is cached outside the clone keyed by version, so a fresh clone (or CI after a
# developer) reuses it and a change of the pin rebuilds it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/promtool-<version>-<build tags>/promtool
#
#   scripts/promtool.sh          # build if needed; print the path
set -euo pipefail
LOG_TAG=promtool
source "$(dirname "$0")/lib.sh"
# Prometheus 3.x's Go module is versioned v0.3XX.Y (v0.316.0 is Prometheus 3.16.0).
PROMETHEUS_VERSION=v0.316.0
# Rules are all promtool checks here: without the service-discovery plugins (AWS, Azure, GCE,
# ...; Prometheus' own `remove_all_sd` tag) the build compiles 1,117 packages instead of 1,364.
# `check config` of a file that uses one of those discoveries would then fail; nothing runs it.
BUILD_TAGS=remove_all_sd
# v0.316.0 -> 3.16.0, for `promtool --version`.
minor=${PROMETHEUS_VERSION#v0.}
minor=${minor%%.*}
release="${minor:0:1}.${minor:1}.${PROMETHEUS_VERSION##*.}"
go_module_tool promtool "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" ./cmd/promtool \
  "promtool-$PROMETHEUS_VERSION-$BUILD_TAGS" -tags "$BUILD_TAGS" \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release"
