#!/usr/bin/env bash
# `make test-monitoring`: checks deploy/monitoring/ with promtool (built by scripts/promtool.sh,
# cached outside the clone): `promtool check rules` on the PrometheusRule's groups and
# `promtool test rules` on the rule unit tests (deploy/monitoring/tests/), and that the Grafana
# dashboard is valid JSON whose every panel has a query. That every metric name the rules and
# the dashboard use is one the operator, ULM or AAM really export is checked against a
# rendering of their registries by the operator's tests (`monitoring::` in operator/tests/it).
set -euo pipefail
LOG_TAG=monitoring
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

promtool=$(scripts/promtool.sh)
dir=deploy/monitoring
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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
