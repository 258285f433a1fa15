#!/usr/bin/env bash
# cert-manager, built from its Go module, for the tests of `tls.mode: CertManager` against the
# real thing (e2e/run starts its controller as a process next to the operator under test).
#
#   scripts/cert-manager.sh controller   # build if needed; print the controller binary's path
#   scripts/cert-manager.sh acmesolver   # the same for its HTTP-01 solver (images/acmesolver)
#   scripts/cert-manager.sh crds         # print its CRDs, ready for `kubectl apply -f -`
#
# v1.11.5 is the newest release whose programs (cmd/controller, cmd/acmesolver, ...) are part
# of its main module: from v1.12 on, cmd/* are separate Go modules, and the Go proxy serves
# none of them. The controller is cached outside the clone, keyed by version
# (scripts/lib.sh go_module_tool):
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/cert-manager-<version>/cert-manager-controller
# The CRDs are the module's deploy/crds/*.yaml, which the Helm chart templates: their labels
# hold `{{ ... }}` expressions, which are replaced by the values the chart would give them.
set -euo pipefail
LOG_TAG=cert-manager
source "$(dirname "$0")/lib.sh"
CERT_MANAGER_MODULE=github.com/cert-manager/cert-manager
CERT_MANAGER_VERSION=v1.11.5

case ${1:-} in
  controller)
    go_module_tool cert-manager-controller "$CERT_MANAGER_MODULE@$CERT_MANAGER_VERSION" ./cmd/controller \
      "cert-manager-$CERT_MANAGER_VERSION" \
      -ldflags "-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$CERT_MANAGER_VERSION"
    ;;
  acmesolver)
    go_module_tool cert-manager-acmesolver "$CERT_MANAGER_MODULE@$CERT_MANAGER_VERSION" ./cmd/acmesolver \
      "cert-manager-$CERT_MANAGER_VERSION" \
      -ldflags "-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$CERT_MANAGER_VERSION"
    ;;
  crds)
    dir=$(cd /tmp && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$CERT_MANAGER_MODULE@$CERT_MANAGER_VERSION" |
      python3 -c 'import json,sys; m=json.load(sys.stdin); d=m.get("Dir"); print(d) if d else sys.exit(m.get("Error","no Dir"))')
    for f in "$dir"/deploy/crds/crd-*.yaml; do
      echo "---"
      sed -e "s/'{{ template \"cert-manager.name\" . }}'/cert-manager/g" \
        -e "s/'{{ .Release.Name }}'/cert-manager/g" \
        -e '/{{/d' "$f"
    done
    ;;
  -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
