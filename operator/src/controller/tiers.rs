//! The tiers as data: which workloads make up each tier, read from their live status as
//! typed k8s-openapi structs, and what a tier's workloads say together ([`TierView`]).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use ovu_crds::{OvuSystemSpec, TierStatus};

use super::pods;
use crate::render::Kind;
use crate::render::names::{COMPONENT_LABEL, Component, Tier};
use crate::status::{self, Cond};

/// The workloads of a tier: component, kind and how many pods the spec asks for.
pub fn workloads(tier: Tier, spec: &OvuSystemSpec) -> Vec<(Component, Kind, i32)> {
    match tier {
        Tier::Database => vec![
            (Component::Postgres, Kind::StatefulSet, 1),
            (Component::Redis, Kind::Deployment, 1),
        ],
        Tier::Backend => vec![
            (Component::Ulm, Kind::Deployment, spec.backend.ulm.replicas),
            (Component::Aam, Kind::Deployment, spec.backend.aam.replicas),
        ],
        Tier::Frontend => vec![(
            Component::Frontend,
            Kind::Deployment,
            spec.frontend.replicas,
        )],
    }
}

/// The condition type of a tier.
pub fn cond_type(tier: Tier) -> &'static str {
    match tier {
        Tier::Database => status::DATABASE_READY,
        Tier::Backend => status::BACKEND_READY,
        Tier::Frontend => status::FRONTEND_READY,
    }
}

/// A workload's live object, as the API server returned it.
#[derive(Clone, Debug)]
pub enum Live {
    Deployment(Deployment),
    StatefulSet(StatefulSet),
}

/// The rollout counters of a workload; fields the API server omits count as zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counters {
    generation: i64,
    observed: i64,
    replicas: i32,
    updated: i32,
    ready_pods: i32,
    /// What the tier reports as ready: Deployments count available pods (ready for
    /// minReadySeconds), StatefulSets ready ones.
    ready: i32,
    /// A StatefulSet also names its revisions; they differ until the last pod is replaced.
    revisions_match: bool,
}

impl Live {
    fn counters(&self) -> Counters {
        match self {
            Live::Deployment(d) => {
                let s = d.status.clone().unwrap_or_default();
                Counters {
                    generation: d.metadata.generation.unwrap_or(0),
                    observed: s.observed_generation.unwrap_or(0),
                    replicas: s.replicas.unwrap_or(0),
                    updated: s.updated_replicas.unwrap_or(0),
                    ready_pods: s.ready_replicas.unwrap_or(0),
                    ready: s.available_replicas.unwrap_or(0),
                    revisions_match: true,
                }
            }
            Live::StatefulSet(st) => {
                let s = st.status.clone().unwrap_or_default();
                let ready = s.ready_replicas.unwrap_or(0);
                Counters {
                    generation: st.metadata.generation.unwrap_or(0),
                    observed: s.observed_generation.unwrap_or(0),
                    replicas: s.replicas,
                    updated: s.updated_replicas.unwrap_or(0),
                    ready_pods: ready,
                    ready,
                    revisions_match: match (&s.current_revision, &s.update_revision) {
                        (Some(c), Some(u)) => c == u,
                        _ => true,
                    },
                }
            }
        }
    }
}

/// One workload (Deployment or StatefulSet) as its live status shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub label: &'static str,
    pub counts: TierStatus,
    /// At least one pod serves.
    pub serving: bool,
    /// The controller has seen the current spec and every pod runs it and is ready, with no
    /// pods of an older revision left.
    pub rolled_out: bool,
    /// What the rollout still waits for (empty when rolled out).
    pub pending: String,
    /// What keeps its pods from serving, while it is not rolled out (see [`with_pods`]), and
    /// how many other pods of it have a problem.
    pub problem: Option<(pods::Problem, usize)>,
}

/// Read the rollout state of a workload from its live object (`None`: not there yet).
pub fn workload(label: &'static str, live: Option<&Live>, desired: i32) -> Workload {
    let c = live.map(Live::counters).unwrap_or_default();
    let mut pending = Vec::new();
    if live.is_none() {
        pending.push("not created yet".to_string());
    } else if c.observed < c.generation {
        pending.push("the controller has not seen the new spec yet".to_string());
    } else {
        if c.updated < desired {
            pending.push(format!("{} of {desired} pods updated", c.updated));
        }
        if c.ready_pods < desired || c.ready < desired {
            pending.push(format!("{} of {desired} ready", c.ready.min(c.ready_pods)));
        }
        if c.replicas > desired {
            pending.push(format!("{} old pods left", c.replicas - desired));
        }
        if !c.revisions_match && pending.is_empty() {
            pending.push("pods of the previous revision left".to_string());
        }
    }
    Workload {
        label,
        counts: TierStatus {
            ready: c.ready,
            desired,
            nodes: vec![],
        },
        serving: c.ready >= 1,
        rolled_out: pending.is_empty(),
        pending: pending.join(", "),
        problem: None,
    }
}

/// Add what the workload's pods are stuck on, if it is not rolled out. A rolled-out workload
/// keeps no problem (a lingering evicted pod of a serving tier changes nothing), so a settled
/// system's status does not depend on its pods.
pub fn with_pods(mut w: Workload, pods: &[Pod]) -> Workload {
    if !w.rolled_out {
        w.problem = pods::worst(
            pods.iter()
                .filter(|p| p.labels().get(COMPONENT_LABEL).map(String::as_str) == Some(w.label)),
        );
    }
    w
}

/// One tier as its workloads show it.
#[derive(Clone, Debug, PartialEq)]
pub struct TierView {
    pub counts: TierStatus,
    pub serving: bool,
    pub rolled_out: bool,
    /// The reason of the first workload's pod problem, if any pod has one.
    pub problem: Option<pods::Reason>,
    /// `postgres 1/1, redis 1/1`, plus what a rollout waits for.
    pub message: String,
}

pub fn tier_view(parts: &[Workload]) -> TierView {
    let counts = TierStatus {
        ready: parts.iter().map(|p| p.counts.ready).sum(),
        desired: parts.iter().map(|p| p.counts.desired).sum(),
        nodes: vec![],
    };
    let mut message = parts
        .iter()
        .map(|p| format!("{} {}/{}", p.label, p.counts.ready, p.counts.desired))
        .collect::<Vec<_>>()
        .join(", ");
    let pending: Vec<String> = parts
        .iter()
        .filter(|p| !p.rolled_out)
        .map(|p| {
            let mut s = format!("{}: {}", p.label, p.pending);
            if let Some((problem, more)) = &p.problem {
                s.push_str(" — ");
                s.push_str(&problem.message);
                match more {
                    0 => {}
                    1 => s.push_str(" (and 1 more pod)"),
                    n => s.push_str(&format!(" (and {n} more pods)")),
                }
            }
            s
        })
        .collect();
    if !pending.is_empty() {
        message.push_str("; rolling out ");
        message.push_str(&pending.join("; "));
    }
    TierView {
        counts,
        serving: parts.iter().all(|p| p.serving),
        rolled_out: parts.iter().all(|p| p.rolled_out),
        // A failed migration outweighs what the other workload waits for: it needs a person.
        problem: parts
            .iter()
            .find_map(|p| {
                p.problem
                    .as_ref()
                    .map(|(pr, _)| pr.reason)
                    .filter(|r| *r == pods::Reason::MigrationFailed)
            })
            .or_else(|| {
                parts
                    .iter()
                    .find_map(|p| p.problem.as_ref().map(|(pr, _)| pr.reason))
            }),
        message,
    }
}

/// The tier condition: True only when every pod serves the current spec; a tier that serves
/// while it rolls out is `RollingOut`, unless a migration of the new pods failed: then the
/// rollout has stopped (the old pods keep serving) and the reason is `MigrationFailed`; one
/// that does not serve says what its pods are stuck on ([`pods::Reason`]), else `Waiting`.
pub fn tier_cond(type_: &'static str, t: &TierView) -> Cond {
    let reason = match (t.serving, t.rolled_out, t.problem) {
        (true, true, _) => "Ready",
        (true, false, Some(pods::Reason::MigrationFailed)) => "MigrationFailed",
        (true, false, _) => "RollingOut",
        (false, _, Some(p)) => p.as_str(),
        (false, _, None) => "Waiting",
    };
    Cond::new(type_, t.serving && t.rolled_out, reason, t.message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn deploy(generation: i64, observed: i64, replicas: i32, updated: i32, ready: i32) -> Live {
        Live::Deployment(
            serde_json::from_value(json!({
                "metadata": {"generation": generation},
                "status": {
                    "observedGeneration": observed,
                    "replicas": replicas,
                    "updatedReplicas": updated,
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                }
            }))
            .unwrap(),
        )
    }

    fn sts(v: Value) -> Live {
        Live::StatefulSet(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn a_settled_deployment_is_rolled_out() {
        let w = workload("ulm", Some(&deploy(3, 3, 2, 2, 2)), 2);
        assert!(w.serving && w.rolled_out, "{w:?}");
        assert_eq!(w.counts.ready, 2);
    }

    #[test]
    fn an_unobserved_generation_is_still_rolling_out() {
        // Just patched: the Deployment controller has not looked at the new spec yet, so the
        // counts describe the old one.
        let w = workload("ulm", Some(&deploy(4, 3, 2, 2, 2)), 2);
        assert!(w.serving && !w.rolled_out);
        assert!(w.pending.contains("not seen"), "{}", w.pending);
    }

    #[test]
    fn old_pods_or_missing_updates_mean_rolling_out() {
        // maxSurge: 3 pods for 2 wanted, 1 of them new.
        let w = workload("ulm", Some(&deploy(4, 4, 3, 1, 2)), 2);
        assert!(w.serving && !w.rolled_out);
        assert!(w.pending.contains("1 of 2 pods updated"), "{}", w.pending);
        assert!(w.pending.contains("1 old pods left"), "{}", w.pending);
        // Scaled up: the new pod is not ready yet.
        let w = workload("ulm", Some(&deploy(5, 5, 3, 3, 2)), 3);
        assert!(w.serving && !w.rolled_out);
        assert!(w.pending.contains("2 of 3 ready"), "{}", w.pending);
    }

    #[test]
    fn missing_or_empty_workloads_do_not_serve() {
        let w = workload("redis", None, 1);
        assert!(!w.serving && !w.rolled_out);
        // The API server omits zero counts.
        let v = Live::Deployment(
            serde_json::from_value(
                json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1}}),
            )
            .unwrap(),
        );
        let w = workload("redis", Some(&v), 1);
        assert!(!w.serving && !w.rolled_out);
    }

    #[test]
    fn statefulset_revisions_must_match() {
        let mut v = json!({
            "metadata": {"generation": 2},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": 1, "currentRevision": "pg-a", "updateRevision": "pg-b"}
        });
        let w = workload("postgres", Some(&sts(v.clone())), 1);
        assert!(w.serving && !w.rolled_out, "{w:?}");
        v["status"]["currentRevision"] = json!("pg-b");
        let w = workload("postgres", Some(&sts(v)), 1);
        assert!(w.rolled_out, "{w:?}");
    }

    #[test]
    fn a_rolling_tier_condition_says_rolling_out() {
        let be = tier_view(&[workload("ulm", Some(&deploy(2, 1, 1, 1, 1)), 1)]);
        let c = tier_cond(status::BACKEND_READY, &be);
        assert!(!c.status);
        assert_eq!(c.reason, "RollingOut");
        assert!(c.message.contains("rolling out ulm"), "{}", c.message);
    }

    fn pulling_pod(name: &str, component: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {COMPONENT_LABEL: component}},
            "spec": {"containers": [{"name": component, "image": "ovu/ulm:9.9"}]},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": component, "image": "ovu/ulm:9.9", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"ovu/ulm:9.9\": ErrImagePull: not found"}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn a_tier_that_does_not_serve_names_what_its_pods_are_stuck_on() {
        let pods = [
            pulling_pod("ovu-ulm-b", "ulm"),
            pulling_pod("ovu-ulm-a", "ulm"),
            // Another component's pod is not ULM's problem.
            pulling_pod("ovu-aam-a", "aam-other"),
        ];
        let ulm = with_pods(workload("ulm", Some(&deploy(1, 1, 2, 2, 0)), 2), &pods);
        let t = tier_view(&[ulm]);
        let c = tier_cond(status::BACKEND_READY, &t);
        assert!(!c.status);
        assert_eq!(c.reason, "ImagePullBackOff");
        assert_eq!(
            c.message,
            "ulm 0/2; rolling out ulm: 0 of 2 ready — pod ovu-ulm-a: container ulm: \
             ImagePullBackOff: cannot pull image ovu/ulm:9.9 (not found) (and 1 more pod)"
        );
        // Without pod problems the reason stays Waiting.
        let t = tier_view(&[with_pods(
            workload("ulm", Some(&deploy(1, 1, 2, 2, 0)), 2),
            &[],
        )]);
        assert_eq!(tier_cond(status::BACKEND_READY, &t).reason, "Waiting");
    }

    #[test]
    fn a_serving_tier_rolling_out_to_a_bad_image_stays_rolling_out_and_says_why() {
        let pods = [pulling_pod("ovu-ulm-new", "ulm")];
        let w = with_pods(workload("ulm", Some(&deploy(2, 2, 3, 1, 2)), 2), &pods);
        let c = tier_cond(status::BACKEND_READY, &tier_view(&[w]));
        assert_eq!(c.reason, "RollingOut");
        assert!(
            c.message
                .contains("pod ovu-ulm-new: container ulm: ImagePullBackOff"),
            "{}",
            c.message
        );
    }

    fn migrating_pod(name: &str, component: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {COMPONENT_LABEL: component}},
            "spec": {"initContainers": [{"name": "migrate", "image": "ovu/ulm:9.9"}],
                     "containers": [{"name": component, "image": "ovu/ulm:9.9"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{
                "name": "migrate", "image": "ovu/ulm:9.9", "imageID": "", "ready": false,
                "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 3, "reason": "Error",
                    "message": "ovu-ulm: migration 20261202000001 (outbox queue) failed: boom"}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn a_rollout_stopped_by_a_failed_migration_says_so_while_the_old_pods_serve() {
        // maxSurge 1, maxUnavailable 0: two old pods serve, the one new pod fails its
        // migration. AAM, first in this tier, has a problem of its own (its image): the
        // migration still names the tier's reason, it is the one a person must repair.
        let pods = [
            migrating_pod("ovu-ulm-new", "ulm"),
            pulling_pod("ovu-aam-new", "aam"),
        ];
        let t = tier_view(&[
            with_pods(workload("aam", Some(&deploy(2, 2, 3, 1, 2)), 2), &pods),
            with_pods(workload("ulm", Some(&deploy(2, 2, 3, 1, 2)), 2), &pods),
        ]);
        assert!(t.serving && !t.rolled_out, "{t:?}");
        let c = tier_cond(status::BACKEND_READY, &t);
        assert!(!c.status);
        assert_eq!(c.reason, "MigrationFailed");
        assert!(
            c.message.contains(
                "ulm: 1 of 2 pods updated, 1 old pods left — pod ovu-ulm-new: init container \
                 migrate (ovu/ulm:9.9): migration failed: exit code 3 (Error): ovu-ulm: \
                 migration 20261202000001 (outbox queue) failed: boom"
            ),
            "{}",
            c.message
        );
        // Not serving at all (a new system): the same reason.
        let t = tier_view(&[with_pods(
            workload("ulm", Some(&deploy(1, 1, 1, 1, 0)), 1),
            &pods,
        )]);
        assert_eq!(
            tier_cond(status::BACKEND_READY, &t).reason,
            "MigrationFailed"
        );
    }

    /// Pod status as a real kubelet wrote it: the `make up` cluster of 2026-12-03, whose ULM
    /// and AAM exited with 1 at start while BackendReady said only "Waiting: ulm 0/2, aam 0/2;
    /// rolling out ulm: 0 of 2 ready; aam: 0 of 2 ready". ULM's pods wait in back-off, AAM's
    /// run again after the fifth exit.
    #[test]
    fn real_crash_looping_backend_pods_are_named() {
        let pods: Vec<Pod> =
            serde_json::from_str(include_str!("testdata/backend-crashing-real.json")).unwrap();
        let t = tier_view(&[
            with_pods(workload("ulm", Some(&deploy(1, 1, 2, 2, 0)), 2), &pods),
            with_pods(workload("aam", Some(&deploy(1, 1, 2, 2, 0)), 2), &pods),
        ]);
        let c = tier_cond(status::BACKEND_READY, &t);
        assert_eq!(c.reason, "CrashLoopBackOff");
        assert_eq!(
            c.message,
            "ulm 0/2, aam 0/2; rolling out ulm: 0 of 2 ready — pod ovu-ulm-79b678cb8c-9ws26: \
             container ulm (ovu/ulm:0.1.0) keeps exiting (CrashLoopBackOff): exit code 1 (Error) \
             (and 1 more pod); aam: 0 of 2 ready — pod ovu-aam-5b95dcdccd-rv75f: container aam \
             (ovu/aam:0.1.0) keeps exiting (CrashLoopBackOff): exit code 1 (Error) (and 1 more pod)"
        );
    }

    #[test]
    fn a_rolled_out_workload_ignores_its_pods() {
        // A settled system's status must not depend on a lingering pod (no status writes).
        let pods = [pulling_pod("ovu-ulm-old", "ulm")];
        let w = with_pods(workload("ulm", Some(&deploy(2, 2, 2, 2, 2)), 2), &pods);
        assert_eq!(w.problem, None);
        assert_eq!(tier_view(&[w]).message, "ulm 2/2");
    }
}
