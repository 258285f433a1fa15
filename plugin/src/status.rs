//! `kubectl ovu status`: one screen of what the operator wrote into `status`.

use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt as _;
use ovu_crds::{OvuSystem, TierStatus};

use crate::cron::Schedule;
use crate::timefmt::{relative, when};
use crate::{Ctx, out};

pub async fn run(ctx: &Ctx, sys: &OvuSystem) -> anyhow::Result<()> {
    let _ = ctx;
    out(&render(sys, Timestamp::now()))
}

fn condition<'a>(sys: &'a OvuSystem, type_: &str) -> Option<&'a Condition> {
    sys.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// `True  Reason: message` (or `-` when the operator has not written it yet).
fn cond_text(c: Option<&Condition>) -> String {
    match c {
        None => "-".into(),
        Some(c) if c.message.is_empty() => format!("{:<5}  {}", c.status, c.reason),
        Some(c) => format!("{:<5}  {}: {}", c.status, c.reason, c.message),
    }
}

/// The status screen. `now` makes the relative times (and the next backup) testable.
pub fn render(sys: &OvuSystem, now: Timestamp) -> String {
    let mut s = String::new();
    let st = sys.status.clone().unwrap_or_default();
    let ns = sys.namespace().unwrap_or_default();
    let _ = writeln!(
        s,
        "OvuSystem {ns}/{}    domain {}",
        sys.name_any(),
        sys.spec.domain
    );
    let phase = st
        .phase
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "(no status yet: is the operator running?)".into());
    let mut line = format!("Phase:        {phase}");
    if let Some(step) = &st.step {
        let _ = write!(line, " (step {step})");
    }
    if sys.spec.paused {
        line.push_str("  [spec.paused: the operator changes nothing]");
    }
    let _ = writeln!(s, "{line}");
    if st.observed_generation.is_some() && st.observed_generation != sys.metadata.generation {
        let _ = writeln!(
            s,
            "              status is of generation {}, the spec is at {} (the operator has not caught up)",
            st.observed_generation.unwrap_or_default(),
            sys.metadata.generation.unwrap_or_default()
        );
    }
    if let Some(m) = st.message.as_deref().filter(|m| !m.is_empty()) {
        let _ = writeln!(s, "Message:      {m}");
    }
    let _ = writeln!(s, "Ready:        {}", cond_text(condition(sys, "Ready")));

    let _ = writeln!(s, "\nTiers:");
    let tiers = st.tiers.clone().unwrap_or_default();
    let rows: [(&str, &TierStatus, &str); 3] = [
        ("database", &tiers.database, "DatabaseReady"),
        ("backend", &tiers.backend, "BackendReady"),
        ("frontend", &tiers.frontend, "FrontendReady"),
    ];
    for (name, t, cond) in rows {
        let nodes = if t.nodes.is_empty() {
            "-".to_string()
        } else {
            t.nodes.join(",")
        };
        let _ = writeln!(
            s,
            "  {name:<9} {:>5}  {nodes:<14} {}",
            format!("{}/{}", t.ready, t.desired),
            cond_text(condition(sys, cond))
        );
    }

    let _ = writeln!(s, "\nHealth:");
    if st.health.is_empty() {
        let _ = writeln!(s, "  (no probe results yet)");
    }
    for h in &st.health {
        let mut line = format!("  {:<9} {}", h.component, h.status);
        if let Some(ms) = h.latency_ms {
            let _ = write!(line, " in {ms} ms");
        }
        let _ = write!(line, ", checked {}", relative(h.checked_at.0, now));
        if let Some(m) = &h.message {
            let _ = write!(line, ": {m}");
        }
        let _ = writeln!(s, "{line}");
    }

    let _ = writeln!(s, "\nEndpoints:");
    match &st.endpoints {
        Some(e) => {
            let _ = writeln!(s, "  ULM       {}", e.ulm);
            let _ = writeln!(s, "  AAM       {}", e.aam);
            let _ = writeln!(s, "  API       {}", e.api);
        }
        None => {
            let _ = writeln!(s, "  (not published yet)");
        }
    }

    let _ = writeln!(s, "\nCertificate:");
    match &st.certificate {
        Some(c) => {
            let mut line = format!("  {:?}", c.mode);
            if let Some(secret) = &c.secret_name {
                let _ = write!(line, ", Secret {secret}");
            }
            let _ = writeln!(s, "{line}");
            if let Some(t) = &c.not_after {
                let expired = if t.0 <= now { "  EXPIRED" } else { "" };
                let _ = writeln!(s, "  expires   {}{expired}", when(t.0, now));
            }
            if let Some(t) = &c.renew_after {
                let _ = writeln!(s, "  renews    after {}", when(t.0, now));
            }
        }
        None => {
            let _ = writeln!(s, "  (not issued yet)");
        }
    }
    let _ = writeln!(
        s,
        "  condition {}",
        cond_text(condition(sys, "CertificateReady"))
    );

    let _ = writeln!(s, "\nBackups:");
    let b = &sys.spec.database.backup;
    let next = if b.suspend {
        "suspended (on-demand backups still run)".to_string()
    } else {
        match Schedule::parse(&b.schedule) {
            Ok(sched) => match sched.next_after(now) {
                Some(t) => format!("next {}", when(t, now)),
                None => "never fires".into(),
            },
            Err(e) => format!("cannot read it: {e}"),
        }
    };
    let _ = writeln!(s, "  schedule  \"{}\": {next}", b.schedule);
    let bs = st.backup.clone().unwrap_or_default();
    match (&bs.last_backup, &bs.last_success_time) {
        (Some(name), Some(t)) => {
            let _ = writeln!(s, "  last      {name}, {}", when(t.0, now));
        }
        (Some(name), None) => {
            let _ = writeln!(s, "  last      {name}");
        }
        _ => {
            let _ = writeln!(s, "  last      none yet");
        }
    }
    let verified = match (&bs.last_verified_time, &bs.last_success_time) {
        (Some(v), Some(l)) if v == l => format!("{} (the last backup)", when(v.0, now)),
        (Some(v), _) => when(v.0, now),
        (None, _) if !b.verify => "never (spec.database.backup.verify is off)".into(),
        (None, _) => "none yet".into(),
    };
    let _ = writeln!(s, "  verified  {verified}");
    // Off-site: where the copies go, and the newest one there.
    match (&b.destination, &bs.last_uploaded_object) {
        (Some(_), Some(o)) => {
            let size = bs
                .last_uploaded_size
                .map(|n| format!(" ({n} bytes)"))
                .unwrap_or_default();
            let _ = writeln!(s, "  off-site  {o}{size}");
        }
        (Some(d), None) => {
            let _ = writeln!(
                s,
                "  off-site  {} (nothing uploaded yet)",
                d.s3.object_url("")
            );
        }
        (None, Some(o)) => {
            let _ = writeln!(s, "  off-site  none configured (the last upload was {o})");
        }
        (None, None) => {}
    }
    if let Some(t) = &bs.last_schedule_time {
        let _ = writeln!(s, "  scheduled last {}", when(t.0, now));
    }
    let _ = writeln!(
        s,
        "  condition {}",
        cond_text(condition(sys, "BackupHealthy"))
    );

    if let Some(r) = &st.restore {
        let done = match &r.completed_time {
            Some(t) => format!("completed {}", when(t.0, now)),
            None => "running".into(),
        };
        let _ = writeln!(s, "\nRestore:      from {}, {done}", r.source);
    } else if let Some(r) = &sys.spec.database.restore {
        let _ = writeln!(s, "\nRestore:      from {}, not started yet", r.source());
    }

    // Conditions this screen has not shown above (a newer operator's), so nothing is hidden.
    const SHOWN: [&str; 6] = [
        "Ready",
        "DatabaseReady",
        "BackendReady",
        "FrontendReady",
        "CertificateReady",
        "BackupHealthy",
    ];
    let others: Vec<&Condition> = st
        .conditions
        .iter()
        .filter(|c| !SHOWN.contains(&c.type_.as_str()))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(s, "\nOther conditions:");
        for c in others {
            let _ = writeln!(s, "  {:<18} {}", c.type_, cond_text(Some(c)));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sys(status: serde_json::Value) -> OvuSystem {
        serde_json::from_value(json!({
            "apiVersion": ovu_crds::API_VERSION,
            "kind": "OvuSystem",
            "metadata": {"name": "ovu", "namespace": "prod", "generation": 3},
            "spec": {"domain": "ovu.localhost"},
            "status": status,
        }))
        .unwrap()
    }

    fn cond(t: &str, s: &str, reason: &str, msg: &str) -> serde_json::Value {
        json!({"type": t, "status": s, "reason": reason, "message": msg,
               "lastTransitionTime": "2026-12-03T05:00:00Z", "observedGeneration": 3})
    }

    fn now() -> Timestamp {
        "2026-12-03T06:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_ready_system_on_one_screen() {
        let s = sys(json!({
            "observedGeneration": 3,
            "phase": "Ready",
            "step": "Done",
            "conditions": [
                cond("Ready", "True", "AllTiersReady", "every tier is ready"),
                cond("DatabaseReady", "True", "RolledOut", "postgres 1/1, redis 1/1"),
                cond("BackendReady", "True", "RolledOut", "ulm 2/2, aam 2/2"),
                cond("FrontendReady", "True", "RolledOut", "frontend 2/2"),
                cond("CertificateReady", "True", "Issued", "self-signed"),
                cond("BackupHealthy", "True", "LastBackupSucceeded", "backup ovu-backup-now-1 succeeded"),
            ],
            "tiers": {
                "database": {"ready": 2, "desired": 2, "nodes": ["ovu-database"]},
                "backend": {"ready": 4, "desired": 4, "nodes": ["ovu-backend"]},
                "frontend": {"ready": 2, "desired": 2, "nodes": ["ovu-frontend"]},
            },
            "endpoints": {"ulm": "https://ulm.ovu.localhost:30443", "aam": "https://aam.ovu.localhost:30443", "api": "https://api.ovu.localhost:30443"},
            "certificate": {"mode": "SelfSigned", "secretName": "ovu-tls", "notAfter": "2027-03-02T06:00:00Z", "renewAfter": "2027-02-01T06:00:00Z"},
            "backup": {"lastBackup": "ovu-backup-now-1", "lastSuccessTime": "2026-12-03T05:55:00Z", "lastVerifiedTime": "2026-12-03T05:55:00Z"},
            "health": [
                {"component": "ulm", "status": "Healthy", "latencyMs": 3, "checkedAt": "2026-12-03T05:59:50Z"},
                {"component": "aam", "status": "Unreachable", "checkedAt": "2026-12-03T05:59:50Z", "message": "connection refused"},
            ],
        }));
        let text = render(&s, now());
        insta_like(
            &text,
            "OvuSystem prod/ovu    domain ovu.localhost
Phase:        Ready (step Done)
Ready:        True   AllTiersReady: every tier is ready

Tiers:
  database    2/2  ovu-database   True   RolledOut: postgres 1/1, redis 1/1
  backend     4/4  ovu-backend    True   RolledOut: ulm 2/2, aam 2/2
  frontend    2/2  ovu-frontend   True   RolledOut: frontend 2/2

Health:
  ulm       Healthy in 3 ms, checked 10s ago
  aam       Unreachable, checked 10s ago: connection refused

Endpoints:
  ULM       https://ulm.ovu.localhost:30443
  AAM       https://aam.ovu.localhost:30443
  API       https://api.ovu.localhost:30443

Certificate:
  SelfSigned, Secret ovu-tls
  expires   2027-03-02 06:00:00 UTC (in 89d)
  renews    after 2027-02-01 06:00:00 UTC (in 60d)
  condition True   Issued: self-signed

Backups:
  schedule  \"0 2 * * *\": next 2026-12-04 02:00:00 UTC (in 20h)
  last      ovu-backup-now-1, 2026-12-03 05:55:00 UTC (5m ago)
  verified  2026-12-03 05:55:00 UTC (5m ago) (the last backup)
  condition True   LastBackupSucceeded: backup ovu-backup-now-1 succeeded
",
        );
    }

    /// The whole screen compared line by line, so a failure shows the first line that differs.
    fn insta_like(got: &str, want: &str) {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "line {}\n--- got:\n{got}", i + 1);
        }
        assert_eq!(got.lines().count(), want.lines().count(), "--- got:\n{got}");
    }

    #[test]
    fn a_stuck_tier_shows_its_reason_and_message() {
        let s = sys(json!({
            "observedGeneration": 2,
            "phase": "Progressing",
            "step": "Backend",
            "message": "ulm 0/1; rolling out ulm: 0 of 1 ready — pod ovu-ulm-x: container ulm: ImagePullBackOff: cannot pull image ovu/ulm:9.9",
            "conditions": [
                cond("BackendReady", "False", "ImagePullBackOff", "ulm 0/1; rolling out ulm: 0 of 1 ready — pod ovu-ulm-x: container ulm: ImagePullBackOff: cannot pull image ovu/ulm:9.9"),
                cond("Shiny", "True", "New", "a condition of a newer operator"),
            ],
            "tiers": {"database": {"ready": 2, "desired": 2}, "backend": {"ready": 0, "desired": 1}, "frontend": {"ready": 0, "desired": 0}},
        }));
        let text = render(&s, now());
        assert!(
            text.contains("Phase:        Progressing (step Backend)\n"),
            "{text}"
        );
        assert!(
            text.contains("status is of generation 2, the spec is at 3"),
            "{text}"
        );
        assert!(
            text.contains("  backend     0/1  -              False  ImagePullBackOff: ulm 0/1; rolling out ulm"),
            "{text}"
        );
        assert!(text.contains("cannot pull image ovu/ulm:9.9"), "{text}");
        assert!(
            text.contains("  frontend    0/0  -              -\n"),
            "{text}"
        );
        assert!(text.contains("Other conditions:\n  Shiny              True   New: a condition of a newer operator"), "{text}");
        assert!(
            text.contains("  last      none yet\n  verified  none yet\n"),
            "{text}"
        );
    }

    #[test]
    fn no_status_yet_says_so_and_suspended_backups_too() {
        let mut s = sys(json!(null));
        s.status = None;
        s.spec.database.backup.suspend = true;
        s.spec.database.backup.verify = false;
        let text = render(&s, now());
        assert!(
            text.contains("Phase:        (no status yet: is the operator running?)"),
            "{text}"
        );
        assert!(text.contains("(no probe results yet)"), "{text}");
        assert!(text.contains("(not published yet)"), "{text}");
        assert!(text.contains("\"0 2 * * *\": suspended"), "{text}");
        assert!(
            text.contains("verified  never (spec.database.backup.verify is off)"),
            "{text}"
        );
    }

    #[test]
    fn an_expired_certificate_and_a_restore_are_shown() {
        let s = sys(json!({
            "phase": "Degraded",
            "certificate": {"mode": "Secret", "secretName": "mine", "notAfter": "2026-12-01T00:00:00Z"},
            "restore": {"source": "old-backups/latest", "completedTime": "2026-12-03T05:00:00Z"},
        }));
        let text = render(&s, now());
        assert!(
            text.contains("expires   2026-12-01 00:00:00 UTC (2d ago)  EXPIRED"),
            "{text}"
        );
        assert!(
            text.contains(
                "Restore:      from old-backups/latest, completed 2026-12-03 05:00:00 UTC (60m ago)"
            ),
            "{text}"
        );
        assert!(
            !text.contains("off-site"),
            "no destination, no upload: {text}"
        );
    }

    #[test]
    fn the_off_site_copy_is_shown_with_its_size() {
        let mut s = sys(json!({
            "backup": {"lastBackup": "ovu-backup-now-1", "lastSuccessTime": "2026-12-03T05:55:00Z",
                       "lastUploadedObject": "s3://ovu-backups/shop/20261203T055500Z.tar.age",
                       "lastUploadedSize": 48213},
        }));
        s.spec.database.backup.destination = Some(
            serde_json::from_value(json!({
                "s3": {"endpoint": "https://s3.example.com", "bucket": "ovu-backups", "prefix": "shop",
                       "credentialsSecret": "s3"},
                "recipientSecret": "age",
            }))
            .unwrap(),
        );
        let text = render(&s, now());
        assert!(
            text.contains(
                "  off-site  s3://ovu-backups/shop/20261203T055500Z.tar.age (48213 bytes)"
            ),
            "{text}"
        );
        s.status.as_mut().unwrap().backup = None;
        let text = render(&s, now());
        assert!(
            text.contains("  off-site  s3://ovu-backups/shop/ (nothing uploaded yet)"),
            "{text}"
        );
    }
}
