#!/usr/bin/env python3
"""Writes ../dashboard.json, the Grafana dashboard of OVU (operator, systems, services).

Kept as a generator so the panels' layout and queries are read and reviewed as code; the JSON
is committed (users import it as is). Run after editing: python3 generate.py
"""
import json
import os

SYS = 'namespace=~"$namespace", system=~"$system"'
SVC = 'namespace=~"$namespace", ovu_system=~"$system"'
DS = {"type": "prometheus", "uid": "${datasource}"}

panels = []
y = 0
pid = 0


def row(title):
    global y, pid
    pid += 1
    panels.append({"type": "row", "id": pid, "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1


def panel(kind, title, exprs, x, w, h=8, unit=None, legend=None, desc=None, instant=False):
    global pid
    pid += 1
    targets = []
    for i, e in enumerate(exprs):
        t = {"refId": chr(ord("A") + i), "datasource": DS, "expr": e}
        if legend:
            t["legendFormat"] = legend[i] if isinstance(legend, list) else legend
        if instant:
            t["instant"] = True
            t["format"] = "table"
        targets.append(t)
    p = {"type": kind, "id": pid, "title": title, "datasource": DS, "targets": targets,
         "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    if desc:
        p["description"] = desc
    panels.append(p)


row("Systems")
panel("stat", "Systems ready", [f"sum(ovu_system_ready{{{SYS}}})", f"count(ovu_system_ready{{{SYS}}})"],
      0, 4, legend=["ready", "all"])
panel("table", "Phase", [f"ovu_system_phase{{{SYS}}} == 1"], 4, 8, instant=True,
      desc="The phase of each OvuSystem (status.phase).")
panel("table", "Conditions not True", [f"ovu_system_condition{{{SYS}}} != 1"], 12, 12, instant=True,
      desc="0: False, -1: Unknown (BackupHealthy is Unknown until the first backup).")
y += 8
panel("timeseries", "Age of the last good backup",
      [f"time() - ovu_system_backup_last_success_timestamp_seconds{{{SYS}}}"], 0, 8, unit="s",
      legend="{{namespace}}/{{system}}")
panel("timeseries", "Age of the last verified backup",
      [f"time() - ovu_system_backup_last_verified_timestamp_seconds{{{SYS}}}"], 8, 8, unit="s",
      legend="{{namespace}}/{{system}}", desc="Only systems with spec.database.backup.verify.")
panel("timeseries", "Certificate: days left",
      [f"(ovu_system_certificate_not_after_timestamp_seconds{{{SYS}}} - time()) / 86400"], 16, 8,
      unit="d", legend="{{namespace}}/{{system}}")
y += 8
panel("timeseries", "Readiness probes (operator)", [f"ovu_operator_health_up{{{SYS}}}"], 0, 12,
      legend="{{namespace}}/{{system}} {{component}}")
panel("timeseries", "Readiness probe latency", [f"ovu_operator_health_latency_seconds{{{SYS}}}"], 12, 12,
      unit="s", legend="{{namespace}}/{{system}} {{component}}")
y += 8

row("Services (ULM, AAM; spec.monitoring.podMonitor)")
panel("timeseries", "Requests per second by status",
      [f"sum by (service, status) (rate(http_requests_total{{{SVC}}}[5m]))"], 0, 8, unit="reqps",
      legend="{{service}} {{status}}")
panel("timeseries", "Server errors (share of requests)",
      [f'sum by (service) (rate(http_requests_total{{{SVC}, status=~"5.."}}[5m])) / '
       f"sum by (service) (rate(http_requests_total{{{SVC}}}[5m]))"], 8, 8, unit="percentunit",
      legend="{{service}}")
panel("timeseries", "Latency p50 / p99",
      [f"histogram_quantile(0.5, sum by (le, service) (rate(http_request_duration_seconds_bucket{{{SVC}}}[5m])))",
       f"histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket{{{SVC}}}[5m])))"],
      16, 8, unit="s", legend=["p50 {{service}}", "p99 {{service}}"])
y += 8
panel("table", "Slowest routes (p99, 5 m)",
      [f"topk(10, histogram_quantile(0.99, sum by (le, service, method, path) "
       f"(rate(http_request_duration_seconds_bucket{{{SVC}}}[5m]))))"], 0, 12, unit="s", instant=True)
panel("table", "Busiest routes (requests/s, 5 m)",
      [f"topk(10, sum by (service, method, path) (rate(http_requests_total{{{SVC}}}[5m])))"],
      12, 12, unit="reqps", instant=True)
y += 8

row("Operator")
panel("stat", "Replicas up / leader",
      ['sum(up{job="ovu-system/ovu-operator"})', "sum(ovu_operator_leader)"], 0, 4,
      legend=["up", "leader"])
panel("timeseries", "Reconciles and failures per second",
      ["sum(rate(ovu_operator_reconciles_total[5m]))",
       "sum by (reason) (rate(ovu_operator_reconcile_failures_total[5m]))"], 4, 10, unit="ops",
      legend=["reconciles", "failed: {{reason}}"])
panel("timeseries", "Reconcile duration p50 / p99",
      ["histogram_quantile(0.5, sum by (le) (rate(ovu_operator_reconcile_duration_seconds_bucket[5m])))",
       "histogram_quantile(0.99, sum by (le) (rate(ovu_operator_reconcile_duration_seconds_bucket[5m])))"],
      14, 10, unit="s", legend=["p50", "p99"])
y += 8
panel("timeseries", "Child writes per second",
      ["sum by (kind, outcome) (rate(ovu_operator_child_writes_total[5m]))"], 0, 24, unit="ops",
      legend="{{outcome}} {{kind}}",
      desc="Creates and updates of child objects: a steady rate means something rewrites what the operator sets.")
y += 8

dashboard = {
    "uid": "ovu-overview",
    "title": "OVU",
    "description": "The OVU operator, its OvuSystems and their ULM and AAM services.",
    "tags": ["ovu"],
    "timezone": "utc",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "refresh": "1m",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
        {"name": "namespace", "label": "Namespace", "type": "query", "datasource": DS,
         "query": {"query": "label_values(ovu_system_ready, namespace)", "refId": "ns"},
         "definition": "label_values(ovu_system_ready, namespace)",
         "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2,
         "current": {"text": "All", "value": "$__all"}},
        {"name": "system", "label": "System", "type": "query", "datasource": DS,
         "query": {"query": 'label_values(ovu_system_ready{namespace=~"$namespace"}, system)', "refId": "sys"},
         "definition": 'label_values(ovu_system_ready{namespace=~"$namespace"}, system)',
         "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2,
         "current": {"text": "All", "value": "$__all"}},
    ]},
    "panels": panels,
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dashboard.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
