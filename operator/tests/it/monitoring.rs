//! Monitoring: the `ovu_system_*` metrics as /metrics serves them after real reconciles
//! (against the in-memory API), the PodMonitor of `spec.monitoring.podMonitor` (made, owned,
//! pruned; a cluster without its API reported, not failed), and that every metric name the
//! alerts and the dashboard in deploy/monitoring/ use is one the operator or the services
//! export.

use crate::common;
use crate::fake::Fake;
use crate::reconcile::{
    SYS_PATH, cond, reconcile, reconcile_cached, setup, status, with_finalizer,
};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use http::Request;
use ovu_operator::controller::Context;
use ovu_operator::metrics::Metrics;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tower::ServiceExt;

const POD_MONITOR: &str =
    "/apis/monitoring.coreos.com/v1/namespaces/ovu-test/podmonitors/ovu-services";
const MONITORING_NETPOL: &str =
    "/apis/networking.k8s.io/v1/namespaces/ovu-test/networkpolicies/ovu-monitoring";

/// A fake cluster holding `sys` and a context whose metrics registry the test keeps.
fn setup_with_registry(sys: ovu_crds::OvuSystem) -> (Arc<Fake>, Arc<Context>, Arc<Registry>) {
    let (client, fake) = Fake::start();
    fake.auto_ready.store(true, Ordering::Relaxed);
    fake.put(SYS_PATH, serde_json::to_value(with_finalizer(sys)).unwrap());
    let mut reg = Registry::default();
    let m = Metrics::new(&mut reg);
    let ctx = Arc::new(Context::new(client, m, "ovu-system".into(), None, None));
    (fake, ctx, Arc::new(reg))
}

/// GET /metrics of the operator's HTTP server (no port), as Prometheus scrapes it.
async fn scrape(reg: &Arc<Registry>) -> String {
    let app = ovu_operator::server::app(reg.clone(), Arc::new(Default::default()));
    let r = app
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), http::StatusCode::OK);
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of one sample (`name{labels}`) in a scrape; `None` when absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// Run an on-demand backup to completion at `when`, as the backup test in reconcile.rs does.
async fn complete_a_backup(fake: &Fake, ctx: &Arc<Context>, when: &str) {
    let mut o = fake.get(SYS_PATH).unwrap();
    o["metadata"]["annotations"] = json!({"ovu.co.il/backup-now": "m1"});
    fake.put(SYS_PATH, o);
    reconcile(fake, ctx).await.unwrap();
    let job = fake
        .objects
        .lock()
        .unwrap()
        .keys()
        .find(|k| k.contains("/jobs/ovu-backup-now-"))
        .cloned()
        .expect("a backup-now Job");
    let mut j = fake.get(&job).unwrap();
    j["status"] = json!({"succeeded": 1, "completionTime": when,
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": when}]});
    fake.put(&job, j);
    reconcile(fake, ctx).await.unwrap();
}

fn unix(rfc3339: &str) -> f64 {
    rfc3339
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap()
        .as_second() as f64
}

#[tokio::test]
async fn system_metrics_follow_the_status_and_go_with_the_system() {
    let (fake, ctx, reg) = setup_with_registry(common::minimal());
    reconcile(&fake, &ctx).await.unwrap();
    let l = r#"namespace="ovu-test",system="ovu""#;
    let text = scrape(&reg).await;
    assert_eq!(
        sample(&text, &format!("ovu_system_ready{{{l}}}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!(r#"ovu_system_phase{{{l},phase="Ready"}}"#)),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"ovu_system_phase{{{l},phase="Degraded"}}"#)
        ),
        Some(0.0)
    );
    // No backup yet: Unknown, and no timestamp (an alert on its age must not fire).
    assert_eq!(
        sample(
            &text,
            &format!(r#"ovu_system_condition{{{l},condition="BackupHealthy"}}"#)
        ),
        Some(-1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("ovu_system_backup_last_success_timestamp_seconds{{{l}}}")
        ),
        None
    );
    // The self-signed certificate's expiry, as status.certificate.notAfter says.
    let not_after = status(&fake)["certificate"]["notAfter"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sample(
            &text,
            &format!("ovu_system_certificate_not_after_timestamp_seconds{{{l}}}")
        ),
        Some(unix(&not_after))
    );

    complete_a_backup(&fake, &ctx, "2026-11-26T10:00:00Z").await;
    let text = scrape(&reg).await;
    let t = unix("2026-11-26T10:00:00Z");
    assert_eq!(
        sample(
            &text,
            &format!("ovu_system_backup_last_success_timestamp_seconds{{{l}}}")
        ),
        Some(t),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("ovu_system_backup_last_verified_timestamp_seconds{{{l}}}")
        ),
        Some(t)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"ovu_system_condition{{{l},condition="BackupHealthy"}}"#)
        ),
        Some(1.0)
    );

    // Paused: not ready, and the phase says why.
    let mut o = fake.get(SYS_PATH).unwrap();
    o["spec"]["paused"] = json!(true);
    fake.put(SYS_PATH, o);
    reconcile(&fake, &ctx).await.unwrap();
    let text = scrape(&reg).await;
    assert_eq!(
        sample(&text, &format!("ovu_system_ready{{{l}}}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!(r#"ovu_system_phase{{{l},phase="Paused"}}"#)),
        Some(1.0)
    );

    // Deleted: every series of the system goes.
    let mut o = fake.get(SYS_PATH).unwrap();
    o["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    fake.put(SYS_PATH, o);
    reconcile(&fake, &ctx).await.unwrap();
    let text = scrape(&reg).await;
    assert!(
        !text.lines().any(|l| l.starts_with("ovu_system_")),
        "series left for a deleted system:\n{text}"
    );
}

#[tokio::test]
async fn a_reconcile_failure_is_counted_by_reason_on_metrics() {
    // No OvuSystem in the cluster: the finalizer's write fails.
    let (client, _fake) = Fake::start();
    let mut reg = Registry::default();
    let ctx = Arc::new(Context::new(
        client,
        Metrics::new(&mut reg),
        "ovu-system".into(),
        None,
        None,
    ));
    let reg = Arc::new(reg);
    let sys = with_finalizer(common::minimal());
    let err = ovu_operator::controller::reconcile(Arc::new(sys), ctx.clone())
        .await
        .expect_err("nothing to reconcile against");
    let text = scrape(&reg).await;
    let series = format!(
        r#"ovu_operator_reconcile_failures_total{{reason="{}"}}"#,
        err.metric_label()
    );
    assert_eq!(sample(&text, &series), Some(1.0), "{text}");
}

#[tokio::test]
async fn pod_monitor_is_made_owned_admitted_and_pruned_when_turned_off() {
    let mut sys = common::minimal();
    sys.spec.monitoring.pod_monitor = true;
    let (fake, ctx) = setup(sys, true);
    reconcile(&fake, &ctx).await.unwrap();
    let pm = fake.get(POD_MONITOR).expect("PodMonitor created");
    assert_eq!(pm["metadata"]["ownerReferences"][0]["kind"], "OvuSystem");
    assert_eq!(
        pm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "ovu"
    );
    assert_eq!(
        pm["spec"]["selector"]["matchExpressions"][0]["values"],
        json!(["ulm", "aam"])
    );
    assert_eq!(
        pm["spec"]["namespaceSelector"]["matchNames"],
        json!(["ovu-test"])
    );
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["port"], "http");
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["path"], "/metrics");
    // The ULM and AAM containers name their port `http` (the endpoint scrapes it by name).
    for d in ["ovu-ulm", "ovu-aam"] {
        let dep = fake
            .get(&format!(
                "/apis/apps/v1/namespaces/ovu-test/deployments/{d}"
            ))
            .unwrap();
        assert_eq!(
            dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"], "http",
            "{d}"
        );
    }
    // Prometheus (in `monitoring`) may reach the services' ports, and only Prometheus.
    let np = fake.get(MONITORING_NETPOL).expect("Prometheus admitted");
    assert_eq!(np["metadata"]["ownerReferences"][0]["kind"], "OvuSystem");
    assert_eq!(
        np["spec"]["ingress"][0]["from"],
        json!([{
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }]),
        "{np}"
    );
    assert_eq!(
        np["spec"]["ingress"][0]["ports"],
        json!([{"protocol": "TCP", "port": 8001}, {"protocol": "TCP", "port": 8002}])
    );
    assert_eq!(
        np["spec"]["podSelector"]["matchExpressions"][1]["values"],
        json!(["ulm", "aam"])
    );
    let st = status(&fake);
    assert_eq!(cond(&st, "MonitoringReady")["status"], "True", "{st}");
    assert_eq!(st["phase"], "Ready");

    // Steady: nothing is rewritten.
    fake.clear_log();
    reconcile(&fake, &ctx).await.unwrap();
    assert_eq!(fake.writes(), vec![]);

    // Turned off: the PodMonitor, the NetworkPolicy's admission and the condition go.
    let mut o = fake.get(SYS_PATH).unwrap();
    o["spec"]["monitoring"]["podMonitor"] = json!(false);
    fake.put(SYS_PATH, o);
    reconcile(&fake, &ctx).await.unwrap();
    assert!(fake.get(POD_MONITOR).is_none(), "PodMonitor not pruned");
    assert!(
        fake.get(MONITORING_NETPOL).is_none(),
        "Prometheus still admitted"
    );
    let st = status(&fake);
    assert!(
        !st["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "MonitoringReady"),
        "{st}"
    );
}

#[tokio::test]
async fn without_the_pod_monitor_api_the_system_is_ready_and_says_so_once() {
    let mut sys = common::minimal();
    sys.spec.monitoring.pod_monitor = true;
    let (fake, ctx) = setup(sys, true);
    fake.absent_groups
        .lock()
        .unwrap()
        .push("monitoring.coreos.com".into());
    reconcile(&fake, &ctx)
        .await
        .expect("the reconcile must not fail");
    let st = status(&fake);
    assert_eq!(st["phase"], "Ready", "{st}");
    let c = cond(&st, "MonitoringReady");
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "PodMonitorAPIMissing");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("prometheus-operator"),
        "{c}"
    );
    let warnings = || -> Vec<Value> {
        fake.objects
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, e)| p.contains("/events") && e["reason"] == "PodMonitorAPIMissing")
            .map(|(_, e)| e.clone())
            .collect()
    };
    assert_eq!(warnings().len(), 1);
    assert_eq!(warnings()[0]["type"], "Warning");

    // Known absent since the caches started: no request that would only 404, no new Event,
    // nothing written.
    ctx.fill_caches().await.unwrap();
    fake.clear_log();
    reconcile_cached(&fake, &ctx).await.unwrap();
    let log = fake.log.lock().unwrap().clone();
    assert!(
        !log.iter()
            .any(|(_, p)| p.starts_with("/apis/monitoring.coreos.com/")),
        "{log:?}"
    );
    assert_eq!(fake.writes(), vec![]);
    assert_eq!(warnings().len(), 1);
}

/// The metric names a PromQL expression reads: identifiers with OVU's prefixes (`ovu_`,
/// `http_`) outside label matchers (`{...}`) and grouping clauses (`by (...)`, `on (...)`),
/// where label names such as `ovu_system` stand.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth = 0;
    let mut chars = expr.chars().peekable();
    let mut word = String::new();
    let mut skip_parens = false;
    let mut paren_depth = 0;
    while let Some(c) = chars.next() {
        if depth > 0 {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            continue;
        }
        if skip_parens {
            match c {
                '(' => paren_depth += 1,
                ')' => {
                    paren_depth -= 1;
                    if paren_depth == 0 {
                        skip_parens = false;
                    }
                }
                _ => {}
            }
            continue;
        }
        if c == '{' {
            depth = 1;
            plain.push(' ');
            word.clear();
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if c == '(' || c.is_whitespace() {
                let w = word.trim();
                if matches!(
                    w,
                    "by" | "on" | "without" | "ignoring" | "group_left" | "group_right"
                ) {
                    // Skip to the clause's '(' and over its label list.
                    if c == '(' {
                        skip_parens = true;
                        paren_depth = 1;
                    } else {
                        while chars.peek().is_some_and(|n| n.is_whitespace()) {
                            chars.next();
                        }
                        if chars.peek() == Some(&'(') {
                            chars.next();
                            skip_parens = true;
                            paren_depth = 1;
                        }
                    }
                    word.clear();
                    plain.push(' ');
                    continue;
                }
            }
            word.clear();
        }
        plain.push(c);
    }
    plain
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("ovu_") || w.starts_with("http_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn metric_names_skip_labels_and_grouping() {
    let got = metric_names(
        r#"sum by (namespace, ovu_system) (rate(http_requests_total{ovu_system="a"}[5m])) / on (ovu_system) ovu_x"#,
    );
    assert_eq!(
        got,
        BTreeSet::from(["http_requests_total".to_string(), "ovu_x".to_string()])
    );
}

fn deploy(file: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/monitoring")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every query in the dashboard (panel targets and template variables).
fn dashboard_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                    ("query", Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_queries(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// The sample names of a Prometheus text exposition.
fn exported(text: &str, into: &mut BTreeSet<String>) {
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = l.find(['{', ' ']).unwrap_or(l.len());
        into.insert(l[..end].to_string());
    }
}

#[tokio::test]
async fn every_metric_the_alerts_and_the_dashboard_read_is_exported() {
    // The operator's registry after real reconciles (a backup, a failure, probes, leadership).
    let (fake, ctx, reg) = setup_with_registry(common::minimal());
    reconcile(&fake, &ctx).await.unwrap();
    complete_a_backup(&fake, &ctx, "2026-11-26T10:00:00Z").await;
    ctx.metrics.failure("example");
    let c = ovu_operator::metrics::ComponentLabels {
        namespace: "ovu-test".into(),
        system: "ovu".into(),
        component: "ulm".into(),
    };
    ctx.metrics.health_up.get_or_create(&c).set(1);
    ctx.metrics.health_latency.get_or_create(&c).set(0.01);
    ctx.metrics.leader.set(1);
    let mut names = BTreeSet::new();
    exported(&scrape(&reg).await, &mut names);
    // The services' registry (ovu-kit's, which ULM and AAM serve on /metrics) after a request.
    let svc = ovu_kit::metrics::Metrics::new("ulm");
    svc.observe("GET", "/api/ready", 200, 0.001);
    exported(&svc.render(), &mut names);

    let rule: Value = serde_yaml::from_str(&deploy("prometheusrule.yaml")).unwrap();
    let mut queries: Vec<String> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect();
    let n_rules = queries.len();
    let dash: Value = serde_json::from_str(&deploy("dashboard.json")).unwrap();
    dashboard_queries(&dash, &mut queries);
    assert!(queries.len() > n_rules + 10, "{queries:?}");

    let mut used = BTreeSet::new();
    let mut unknown = Vec::new();
    for q in &queries {
        for n in metric_names(q) {
            if !names.contains(&n) {
                unknown.push(format!("{n} (in {q})"));
            }
            used.insert(n);
        }
    }
    assert!(
        unknown.is_empty(),
        "not exported by the operator or the services: {unknown:#?}\nexported: {names:#?}"
    );
    // The monitoring covers what the issue asks for.
    for n in [
        "ovu_system_ready",
        "ovu_system_phase",
        "ovu_system_condition",
        "ovu_system_backup_last_success_timestamp_seconds",
        "ovu_system_backup_last_verified_timestamp_seconds",
        "ovu_system_certificate_not_after_timestamp_seconds",
        "ovu_operator_reconcile_failures_total",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
    ] {
        assert!(used.contains(n), "{n} is not used");
    }
}
