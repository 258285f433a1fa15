#!/usr/bin/env bash
# `make test-monitoring`: checks deploy/monitoring/ with promtool (built by scripts/promtool.sh,
# cached outside the clone): `promtool check rules` on the PrometheusRule's groups and
# `promtool test rules` on the rule unit tests (deploy/monitoring/tests/), that every alert has
# a test that fires it, and that the Grafana dashboard is valid JSON whose every panel has a
# query. The PodMonitors and the PrometheusRule (deploy/monitoring/ and the PodMonitor the
# operator renders for spec.monitoring.podMonitor) are decoded strictly into
# prometheus-operator's own API types (scripts/monitoring-schema/, a Go program built once and
# cached outside the clone by a hash of its source). That every metric name the rules and the
# dashboard use is one the operator, ULM or AAM really export is checked against a rendering of
# their registries by the operator's tests (`monitoring::` in operator/tests/it).
set -euo pipefail
LOG_TAG=monitoring
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

promtool=$(scripts/promtool.sh)
dir=deploy/monitoring
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The schema checker, cached by a hash of its source (a change rebuilds it).
src=scripts/monitoring-schema
hash=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-12)
schema="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/monitoring-schema-$hash/monitoring-schema"
if [[ ! -x $schema ]]; then
  log "building $src into $(dirname "$schema")"
  mkdir -p "$(dirname "$schema")"
  (cd "$src" && GOWORK=off GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -o "$schema.tmp" .)
  mv "$schema.tmp" "$schema"
fi
# The operator's own rendering of a system with a PodMonitor (the binary `make build` made;
# built here when run alone, the same build).
cargo build --workspace --locked -q
cat >"$work/system.yaml" <<'YAML'
apiVersion: ovu.co.il/v1alpha1
kind: OvuSystem
metadata:
  name: ovu
spec:
  domain: ovu.co.il
  monitoring:
    podMonitor: true
YAML
"${CARGO_TARGET_DIR:-target}/debug/ovu-operator" render "$work/system.yaml" --namespace shop >"$work/rendered.yaml"
grep -q '^kind: PodMonitor$' "$work/rendered.yaml" || die "the operator rendered no PodMonitor for spec.monitoring.podMonitor"
"$schema" "$dir/operator-podmonitor.yaml" "$dir/prometheusrule.yaml" "$work/rendered.yaml"

# promtool reads plain rule files: the PrometheusRule's spec is one (its `groups`).
python3 - "$dir/prometheusrule.yaml" "$work/rules.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
if doc.get("kind") != "PrometheusRule":
    sys.exit(f"{sys.argv[1]}: not a PrometheusRule")
yaml.safe_dump({"groups": doc["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)
PY
cp "$dir/tests/rules-test.yaml" "$work/"

"$promtool" check rules "$work/rules.yaml"
# --run all tests; the test file names rules.yaml beside it.
(cd "$work" && "$promtool" test rules rules-test.yaml)

# Every alert has a unit test (an alert nobody tested is one nobody knows fires).
python3 - "$work/rules.yaml" "$work/rules-test.yaml" "$dir/dashboard.json" <<'PY'
import json, sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])
          if t.get("exp_alerts")}
untested = sorted(alerts - tested)
if untested:
    sys.exit(f"alerts without a unit test that fires them: {untested}")
try:
    dash = json.load(open(sys.argv[3]))
except ValueError as e:
    sys.exit(f"{sys.argv[3]}: not valid JSON: {e}")
panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
if not panels:
    sys.exit(f"{sys.argv[3]}: no panels")
for p in panels:
    exprs = [t.get("expr", "") for t in p.get("targets", [])]
    if not exprs or not all(e.strip() for e in exprs):
        sys.exit(f"{sys.argv[3]}: panel {p.get('title')!r} has no query")
print(f"{len(alerts)} alerts, each unit-tested; dashboard: {len(panels)} panels")
PY
log "ok"
