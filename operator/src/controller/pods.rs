//! Why a workload's pods do not serve, read from their typed status: the image that cannot be
//! pulled, the container that keeps exiting, the init container (migrations) that failed, the
//! pod the scheduler cannot place. Until this, only Events said so, and a tier read
//! "postgres 0/1 … 0 of 1 ready".
//!
//! Pure: pods in, a [`Problem`] (a small [`Reason`] plus a message naming the pod, the
//! container and its image) out. The messages are built to stay the same while the pod stays
//! stuck the same way, so that a status written from them is not rewritten on every resync:
//! the kubelet alternates `ErrImagePull`/`ImagePullBackOff` and a crashing container between
//! `CrashLoopBackOff` and a short run, and neither alternation changes the [`Reason`] or the
//! message.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

/// The exit code with which ULM and AAM (`serve` and `migrate`) say that a migration failed or
/// the applied migrations do not match theirs (`ovu_kit::startup::MIGRATION_FAILED_EXIT`);
/// their termination message names the migration.
pub const MIGRATION_FAILED_EXIT: i32 = 3;

/// The exit code with which PostgreSQL's `bootstrap` init container (render/sh/postgres-init.sh)
/// refuses a data directory of another major version (15's under a 16 image); its termination
/// message says which versions and how to move the data.
pub const DATA_VERSION_MISMATCH_EXIT: i32 = 4;
/// The PostgreSQL pod's init container that runs that check.
const PG_BOOTSTRAP: &str = "bootstrap";

/// What keeps a pod from serving. The names are condition reasons (docs/contracts.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The image of a container (or init container) cannot be pulled: `ErrImagePull`,
    /// `ImagePullBackOff`, `InvalidImageName`, `ErrImageNeverPull`.
    ImagePullBackOff,
    /// The kubelet cannot create a container: a missing Secret or ConfigMap key
    /// (`CreateContainerConfigError`), `CreateContainerError`, `RunContainerError`.
    ContainerConfigError,
    /// ULM or AAM exits with [`MIGRATION_FAILED_EXIT`]: a migration failed (its `migrate` init
    /// container, or `serve` migrating at start). The message names the migration.
    MigrationFailed,
    /// PostgreSQL's `bootstrap` exits with [`DATA_VERSION_MISMATCH_EXIT`]: the volume holds a
    /// data directory of another major version, which this image's server cannot open. It
    /// stays so until a person acts (README: Moving to PostgreSQL 16), so it is not reported
    /// as a crash to wait out.
    DataVersionMismatch,
    /// An init container (ULM/AAM `migrate`, PostgreSQL's `init`) exits with an error.
    InitContainerFailed,
    /// A container keeps exiting (`CrashLoopBackOff`, or running again after a failed run).
    CrashLoopBackOff,
    /// The scheduler finds no node: no node of the tier, too little CPU or memory, an
    /// unbound volume claim.
    Unschedulable,
    /// The pod failed as a whole (evicted, node lost).
    PodFailed,
    /// The containers run but are not ready (readiness probe not passing yet).
    NotReady,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ImagePullBackOff => "ImagePullBackOff",
            Reason::ContainerConfigError => "ContainerConfigError",
            Reason::MigrationFailed => "MigrationFailed",
            Reason::DataVersionMismatch => "DataVersionMismatch",
            Reason::InitContainerFailed => "InitContainerFailed",
            Reason::CrashLoopBackOff => "CrashLoopBackOff",
            Reason::Unschedulable => "Unschedulable",
            Reason::PodFailed => "PodFailed",
            Reason::NotReady => "NotReady",
        }
    }
}

/// One pod's problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: Reason,
    pub pod: String,
    /// Starts with `pod <name>`; names the container and its image where one is at fault.
    pub message: String,
}

/// Longest piece of a kubelet or scheduler message kept (containerd's pull errors run to
/// several hundred characters; the condition is read on one screen).
const MAX_DETAIL: usize = 300;

const PULL_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
];
const CREATE_REASONS: &[&str] = &[
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "PreStartHookError",
];

/// `s` trimmed, without a final full stop (the message goes on after it), and at most
/// [`MAX_DETAIL`] bytes.
fn cut(s: &str) -> String {
    let s = s.trim().trim_end_matches('.');
    if s.len() <= MAX_DETAIL {
        return s.to_string();
    }
    let mut end = MAX_DETAIL;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The pull error without the back-off wrapper the kubelet puts around it
/// (`Back-off pulling image "x": ErrImagePull: <error>`), so both phases read the same.
fn pull_detail(msg: &str) -> String {
    let m = msg.trim();
    let m = match m.strip_prefix("Back-off pulling image ") {
        // Past the quoted image name and the `: ` after it.
        Some(rest) => match rest.find("\": ") {
            Some(i) => &rest[i + 3..],
            None => "",
        },
        None => m,
    };
    let m = m.strip_prefix("ErrImagePull: ").unwrap_or(m);
    cut(m)
}

/// The image a container runs, as the spec names it (the status may show the resolved name).
fn image_of(pod: &Pod, cs: &ContainerStatus, init: bool) -> String {
    let spec = pod.spec.as_ref().and_then(|s| {
        let list = if init {
            s.init_containers.as_ref()
        } else {
            Some(&s.containers)
        };
        list.and_then(|l| l.iter().find(|c| c.name == cs.name))
            .and_then(|c| c.image.clone())
    });
    spec.unwrap_or_else(|| cs.image.clone())
}

/// How the current or else the last run ended, if one did.
fn last_terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    [cs.state.as_ref(), cs.last_state.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|s| s.terminated.as_ref())
}

/// `exit code 127 (Error): <termination message>` of the last run, if it ended.
fn last_exit(cs: &ContainerStatus) -> Option<String> {
    let t = last_terminated(cs)?;
    let mut out = format!("exit code {}", t.exit_code);
    if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
        out.push_str(&format!(" ({r})"));
    }
    if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
        out.push_str(&format!(": {}", cut(m)));
    }
    Some(out)
}

/// The last run ended in an error (a non-zero exit or a kill).
fn failed_before(cs: &ContainerStatus) -> bool {
    cs.last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .is_some_and(|t| t.exit_code != 0 || t.signal.is_some())
        || cs.restart_count > 0
}

/// What one container status says, if it is stuck.
fn container_problem(pod: &Pod, name: &str, cs: &ContainerStatus, init: bool) -> Option<Problem> {
    let which = if init {
        format!("init container {}", cs.name)
    } else {
        format!("container {}", cs.name)
    };
    let image = image_of(pod, cs, init);
    let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
    let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
    let terminated = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
    let wreason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or("");
    let wmessage = waiting.and_then(|w| w.message.as_deref()).unwrap_or("");
    let problem = |reason: Reason, message: String| {
        Some(Problem {
            reason,
            pod: name.to_string(),
            message,
        })
    };
    if PULL_REASONS.contains(&wreason) {
        let detail = pull_detail(wmessage);
        let mut m = format!("pod {name}: {which}: ImagePullBackOff: cannot pull image {image}");
        if !detail.is_empty() {
            m.push_str(&format!(" ({detail})"));
        }
        return problem(Reason::ImagePullBackOff, m);
    }
    if CREATE_REASONS.contains(&wreason) {
        let mut m = format!("pod {name}: {which} ({image}): {wreason}");
        if !wmessage.trim().is_empty() {
            m.push_str(&format!(": {}", cut(wmessage)));
        }
        return problem(Reason::ContainerConfigError, m);
    }
    // A container that keeps exiting: waiting in back-off, ended, or running again after a
    // failed run without being ready. All three read the same, so the message holds still
    // while the kubelet cycles through them.
    let crashing = wreason == "CrashLoopBackOff"
        || terminated.is_some_and(|t| t.exit_code != 0)
        || (running && !cs.ready && failed_before(cs) && !init)
        || (running && init && failed_before(cs));
    if crashing {
        let exit = last_exit(cs).unwrap_or_else(|| "no exit recorded".into());
        // A failed migration is not a crash to wait out: the same migration fails on every
        // restart until a person repairs it, and the termination message names it.
        if last_terminated(cs).is_some_and(|t| t.exit_code == MIGRATION_FAILED_EXIT) {
            return problem(
                Reason::MigrationFailed,
                format!("pod {name}: {which} ({image}): migration failed: {exit}"),
            );
        }
        if init
            && cs.name == PG_BOOTSTRAP
            && last_terminated(cs).is_some_and(|t| t.exit_code == DATA_VERSION_MISMATCH_EXIT)
        {
            return problem(
                Reason::DataVersionMismatch,
                format!("pod {name}: {which} ({image}) refused the volume: {exit}"),
            );
        }
        return if init {
            problem(
                Reason::InitContainerFailed,
                format!("pod {name}: {which} ({image}) failed: {exit}"),
            )
        } else {
            problem(
                Reason::CrashLoopBackOff,
                format!("pod {name}: {which} ({image}) keeps exiting (CrashLoopBackOff): {exit}"),
            )
        };
    }
    if running && !cs.ready && !init {
        return problem(
            Reason::NotReady,
            format!("pod {name}: {which} is running but not ready (readiness probe)"),
        );
    }
    None
}

/// What keeps one pod from serving, if anything does. A pod on its way (being scheduled,
/// pulling, its init containers running) has no problem yet.
pub fn pod_problem(pod: &Pod) -> Option<Problem> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    let st = pod.status.as_ref()?;
    match st.phase.as_deref() {
        Some("Succeeded") => return None,
        Some("Failed") => {
            let mut m = format!("pod {name} failed");
            if let Some(r) = st.reason.as_deref().filter(|r| !r.is_empty()) {
                m.push_str(&format!(": {r}"));
            }
            if let Some(msg) = st.message.as_deref().filter(|m| !m.trim().is_empty()) {
                m.push_str(&format!(": {}", cut(msg)));
            }
            return Some(Problem {
                reason: Reason::PodFailed,
                pod: name,
                message: m,
            });
        }
        _ => {}
    }
    let conditions = st.conditions.as_deref().unwrap_or_default();
    // The scheduler says `Unschedulable` when no node fits, `SchedulerError` when it cannot
    // judge (a volume claim of a storage class that does not exist, in some versions).
    if let Some(c) = conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        let mut m = format!("pod {name} Pending");
        if let Some(r) = c
            .reason
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "Unschedulable")
        {
            m.push_str(&format!(" ({r})"));
        }
        if let Some(msg) = c.message.as_deref().filter(|m| !m.trim().is_empty()) {
            m.push_str(&format!(": {}", cut(msg)));
        }
        return Some(Problem {
            reason: Reason::Unschedulable,
            pod: name,
            message: m,
        });
    }
    // Init containers run one after the other: the first that has not completed is the one
    // the pod waits on, and the main containers have not started.
    for cs in st.init_container_statuses.as_deref().unwrap_or_default() {
        let done = cs
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0);
        if done {
            continue;
        }
        return container_problem(pod, &name, cs, true);
    }
    // The most telling container problem of the pod.
    st.container_statuses
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|cs| container_problem(pod, &name, cs, false))
        .min_by_key(|p| p.reason)
}

/// The most telling problem among a workload's pods, and how many of its other pods have one.
/// Deterministic for the same pods (by reason, then pod name), so the status holds still.
pub fn worst<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Option<(Problem, usize)> {
    let mut all: Vec<Problem> = pods.into_iter().filter_map(pod_problem).collect();
    all.sort_by(|a, b| (a.reason, &a.pod).cmp(&(b.reason, &b.pod)));
    let more = all.len().saturating_sub(1);
    all.into_iter().next().map(|p| (p, more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(name: &str, status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "initContainers": [{"name": "migrate", "image": "ovu/ulm:9.9"}],
                "containers": [{"name": "ulm", "image": "ovu/ulm:9.9"}],
            },
            "status": status,
        }))
        .unwrap()
    }

    fn waiting(name: &str, reason: &str, message: &str) -> Value {
        json!({"name": name, "image": "docker.io/ovu/ulm:9.9", "imageID": "", "ready": false,
               "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}})
    }

    fn init_done() -> Value {
        json!({"name": "migrate", "image": "ovu/ulm:9.9", "imageID": "", "ready": true,
               "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}})
    }

    /// (case, pod status, expected reason or None, fragments the message must hold)
    fn table() -> Vec<(&'static str, Value, Option<Reason>, Vec<&'static str>)> {
        vec![
            (
                "image pull error in the main container",
                json!({"phase": "Pending", "initContainerStatuses": [init_done()],
                       "containerStatuses": [waiting("ulm", "ErrImagePull",
                           "failed to pull and unpack image \"docker.io/ovu/ulm:9.9\": not found")]}),
                Some(Reason::ImagePullBackOff),
                vec![
                    "pod p: container ulm: ImagePullBackOff: cannot pull image ovu/ulm:9.9",
                    "not found",
                ],
            ),
            (
                "image pull back-off of the init container, wrapper dropped",
                json!({"phase": "Pending", "initContainerStatuses": [waiting("migrate", "ImagePullBackOff",
                           "Back-off pulling image \"ovu/ulm:9.9\": ErrImagePull: failed to pull and unpack image \"docker.io/ovu/ulm:9.9\": not found")],
                       "containerStatuses": [waiting("ulm", "PodInitializing", "")]}),
                Some(Reason::ImagePullBackOff),
                vec![
                    "init container migrate: ImagePullBackOff: cannot pull image ovu/ulm:9.9 (failed to pull and unpack",
                ],
            ),
            (
                "crash loop with the last exit",
                json!({"phase": "Running", "initContainerStatuses": [init_done()],
                       "containerStatuses": [{"name": "ulm", "image": "ovu/ulm:9.9", "imageID": "", "ready": false,
                           "restartCount": 4,
                           "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=ulm"}},
                           "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
                Some(Reason::CrashLoopBackOff),
                vec![
                    "container ulm (ovu/ulm:9.9) keeps exiting (CrashLoopBackOff): exit code 137 (OOMKilled)",
                ],
            ),
            (
                "a crashing container briefly running again reads the same",
                json!({"phase": "Running", "initContainerStatuses": [init_done()],
                       "containerStatuses": [{"name": "ulm", "image": "ovu/ulm:9.9", "imageID": "", "ready": false,
                           "restartCount": 5, "state": {"running": {}},
                           "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
                Some(Reason::CrashLoopBackOff),
                vec![
                    "container ulm (ovu/ulm:9.9) keeps exiting (CrashLoopBackOff): exit code 137 (OOMKilled)",
                ],
            ),
            (
                "failing migrate init container",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "image": "ovu/ulm:9.9",
                           "imageID": "", "ready": false, "restartCount": 3,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                               "message": "migration 0004 failed: relation exists"}}}],
                       "containerStatuses": [waiting("ulm", "PodInitializing", "")]}),
                Some(Reason::InitContainerFailed),
                vec![
                    "pod p: init container migrate (ovu/ulm:9.9) failed: exit code 1 (Error): migration 0004 failed",
                ],
            ),
            (
                "a migration that fails in the migrate init container",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "image": "ovu/ulm:9.9",
                           "imageID": "", "ready": false, "restartCount": 2,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 3, "reason": "Error",
                               "message": "ovu-ulm: migration 20261202000001 (outbox queue) was applied with other content than this version's (checksum mismatch)"}}}],
                       "containerStatuses": [waiting("ulm", "PodInitializing", "")]}),
                Some(Reason::MigrationFailed),
                vec![
                    "pod p: init container migrate (ovu/ulm:9.9): migration failed: exit code 3 (Error): \
                     ovu-ulm: migration 20261202000001 (outbox queue) was applied with other content",
                ],
            ),
            (
                "the same migration failing again, just ended",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "image": "ovu/ulm:9.9",
                           "imageID": "", "ready": false, "restartCount": 3,
                           "state": {"terminated": {"exitCode": 3, "reason": "Error",
                               "message": "ovu-ulm: migration 20261202000001 (outbox queue) failed: x"}}}]}),
                Some(Reason::MigrationFailed),
                vec![
                    "init container migrate (ovu/ulm:9.9): migration failed: exit code 3 (Error): ovu-ulm: migration 20261202000001",
                ],
            ),
            (
                "serve migrating at start",
                json!({"phase": "Running", "initContainerStatuses": [init_done()],
                       "containerStatuses": [{"name": "ulm", "image": "ovu/ulm:9.9", "imageID": "", "ready": false,
                           "restartCount": 1,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 3, "reason": "Error",
                               "message": "ovu-ulm: migration 7 (x) is partially applied"}}}]}),
                Some(Reason::MigrationFailed),
                vec![
                    "pod p: container ulm (ovu/ulm:9.9): migration failed: exit code 3 (Error): ovu-ulm: migration 7 (x)",
                ],
            ),
            (
                "PostgreSQL's bootstrap refusing a data directory of another major version",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "bootstrap", "image": "ovu/postgres-local:16",
                           "imageID": "", "ready": false, "restartCount": 2,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 4, "reason": "Error",
                               "message": "the data directory is PostgreSQL 15's and this image runs PostgreSQL 16, which cannot open it (nothing was changed)"}}}],
                       "containerStatuses": [waiting("postgres", "PodInitializing", "")]}),
                Some(Reason::DataVersionMismatch),
                vec![
                    "pod p: init container bootstrap (ovu/postgres-local:16) refused the volume: exit code 4 (Error): \
                     the data directory is PostgreSQL 15's and this image runs PostgreSQL 16",
                ],
            ),
            (
                "exit code 4 of another init container is no version mismatch",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "image": "ovu/ulm:9.9",
                           "imageID": "", "ready": false, "restartCount": 1,
                           "state": {"terminated": {"exitCode": 4, "reason": "Error"}}}]}),
                Some(Reason::InitContainerFailed),
                vec!["pod p: init container migrate (ovu/ulm:9.9) failed: exit code 4 (Error)"],
            ),
            (
                "init container that could not start",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "image": "ovu/ulm:9.9",
                           "imageID": "", "ready": false, "restartCount": 1,
                           "state": {"terminated": {"exitCode": 128, "reason": "StartError",
                               "message": "exec: \"ulm\": executable file not found in $PATH"}}}]}),
                Some(Reason::InitContainerFailed),
                vec![
                    "failed: exit code 128 (StartError): exec: \"ulm\": executable file not found",
                ],
            ),
            (
                "no node for the pod",
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                       "reason": "Unschedulable",
                       "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}]}),
                Some(Reason::Unschedulable),
                vec!["pod p Pending: 0/3 nodes are available: 3 node(s) didn't match"],
            ),
            (
                "the scheduler cannot judge",
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                       "reason": "SchedulerError",
                       "message": "storageclass.storage.k8s.io \"nope\" not found"}]}),
                Some(Reason::Unschedulable),
                vec![
                    "pod p Pending (SchedulerError): storageclass.storage.k8s.io \"nope\" not found",
                ],
            ),
            (
                "missing Secret key",
                json!({"phase": "Pending", "initContainerStatuses": [init_done()],
                       "containerStatuses": [waiting("ulm", "CreateContainerConfigError",
                           "secret \"ovu-redis\" not found")]}),
                Some(Reason::ContainerConfigError),
                vec![
                    "container ulm (ovu/ulm:9.9): CreateContainerConfigError: secret \"ovu-redis\" not found",
                ],
            ),
            (
                "evicted",
                json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
                Some(Reason::PodFailed),
                vec!["pod p failed: Evicted: The node was low on resource: memory"],
            ),
            (
                "running, not ready yet",
                json!({"phase": "Running", "initContainerStatuses": [init_done()],
                       "containerStatuses": [{"name": "ulm", "image": "ovu/ulm:9.9", "imageID": "",
                           "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
                Some(Reason::NotReady),
                vec!["pod p: container ulm is running but not ready"],
            ),
            // On its way: no problem to report.
            (
                "not scheduled yet",
                json!({"phase": "Pending"}),
                None,
                vec![],
            ),
            (
                "migrations running",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "image": "ovu/ulm:9.9",
                           "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}],
                       "containerStatuses": [waiting("ulm", "PodInitializing", "")]}),
                None,
                vec![],
            ),
            (
                "creating the container",
                json!({"phase": "Pending", "initContainerStatuses": [init_done()],
                       "containerStatuses": [waiting("ulm", "ContainerCreating", "")]}),
                None,
                vec![],
            ),
            (
                "serving",
                json!({"phase": "Running", "initContainerStatuses": [init_done()],
                       "containerStatuses": [{"name": "ulm", "image": "ovu/ulm:9.9", "imageID": "",
                           "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
                None,
                vec![],
            ),
            ("finished", json!({"phase": "Succeeded"}), None, vec![]),
        ]
    }

    #[test]
    fn each_pod_state_maps_to_its_reason_and_message() {
        for (case, status, want, fragments) in table() {
            let got = pod_problem(&pod("p", status));
            assert_eq!(got.as_ref().map(|p| p.reason), want, "{case}: {got:?}");
            if let Some(p) = got {
                assert_eq!(p.pod, "p", "{case}");
                for f in fragments {
                    assert!(p.message.contains(f), "{case}: {:?} lacks {f:?}", p.message);
                }
            }
        }
    }

    /// The watch cache keeps a slimmed pod (`cache::slim_pod`); whatever it drops must be
    /// something this module never reads.
    #[test]
    fn the_cached_pod_says_what_the_whole_pod_says() {
        use crate::controller::cache::slim_pod;
        let whole = |status: Value, deleting: bool| {
            let mut v = json!({
                "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"},
                    "uid": "u", "managedFields": [{"manager": "kubelet"}]},
                "spec": {
                    "nodeName": "n1",
                    "initContainers": [{"name": "migrate", "image": "ovu/ulm:9.9", "env": []}],
                    "containers": [{"name": "ulm", "image": "ovu/ulm:9.9", "env": []}],
                },
                "status": status,
            });
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!("2026-12-04T10:00:00Z");
            }
            v
        };
        let mut cases = table();
        // What a kubelet of Kubernetes 1.36 writes besides: times, IDs, addresses, and per
        // container its resources, mounts and user.
        cases.push((
            "crash loop, as a kubelet writes it",
            json!({"phase": "Running", "hostIP": "198.18.0.12", "podIP": "198.19.2.7",
                "podIPs": [{"ip": "198.19.2.7"}], "qosClass": "Burstable", "observedGeneration": 1,
                "startTime": "2026-12-04T10:00:00Z",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                    "message": "containers with unready status: [ulm]", "lastProbeTime": null,
                    "lastTransitionTime": "2026-12-04T10:00:00Z", "observedGeneration": 1}],
                "initContainerStatuses": [{"name": "migrate", "image": "ovu/ulm:9.9",
                    "imageID": "sha256:aa", "containerID": "containerd://1", "ready": true,
                    "restartCount": 0, "started": false,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                        "startedAt": "2026-12-04T10:00:01Z", "finishedAt": "2026-12-04T10:00:02Z",
                        "containerID": "containerd://1"}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    "user": {"linux": {"uid": 10001, "gid": 10001, "supplementalGroups": [10001]}}}],
                "containerStatuses": [{"name": "ulm", "image": "ovu/ulm:9.9",
                    "imageID": "sha256:aa", "containerID": "containerd://2", "ready": false,
                    "restartCount": 4, "started": false,
                    "state": {"waiting": {"reason": "CrashLoopBackOff",
                        "message": "back-off 1m20s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": 3, "reason": "Error",
                        "message": "migration 20261126000001 (users search trgm) failed",
                        "startedAt": "2026-12-04T10:00:03Z", "finishedAt": "2026-12-04T10:00:04Z"}},
                    "allocatedResources": {"cpu": "100m", "memory": "128Mi"},
                    "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "256Mi"}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    "user": {"linux": {"uid": 10001, "gid": 10001}}}]}),
            Some(Reason::MigrationFailed),
            vec!["migration 20261126000001"],
        ));
        for (case, status, want, _) in cases {
            for deleting in [false, true] {
                let full = whole(status.clone(), deleting);
                let slim = slim_pod(&full);
                let a: Pod = serde_json::from_value(full.clone()).unwrap();
                let b: Pod = serde_json::from_value(slim.clone())
                    .unwrap_or_else(|e| panic!("{case}: the cached pod does not parse: {e}"));
                assert_eq!(
                    pod_problem(&a),
                    pod_problem(&b),
                    "{case} (deleting: {deleting})"
                );
                if !deleting {
                    assert_eq!(pod_problem(&b).map(|p| p.reason), want, "{case}");
                }
                let (fl, sl) = (full.to_string().len(), slim.to_string().len());
                assert!(sl <= fl, "{case}: {sl} > {fl}");
            }
        }
        // The kubelet's bookkeeping is what goes.
        let full = whole(cases_last_status(), false);
        let slim = slim_pod(&full).to_string();
        for gone in [
            "startedAt",
            "containerID",
            "volumeMounts",
            "allocatedResources",
            "podIP",
            "uid",
        ] {
            assert!(!slim.contains(gone), "{gone} is still cached: {slim}");
        }
    }

    fn cases_last_status() -> Value {
        json!({"phase": "Running", "podIP": "198.19.2.7", "containerStatuses": [{"name": "ulm",
            "image": "i", "imageID": "sha256:aa", "containerID": "containerd://2", "ready": true,
            "restartCount": 0, "state": {"running": {"startedAt": "2026-12-04T10:00:03Z"}},
            "allocatedResources": {"cpu": "1"}, "volumeMounts": []}]})
    }

    #[test]
    fn both_pull_phases_read_the_same() {
        // The kubelet alternates the two; the status must not change with it.
        let err = pod(
            "p",
            json!({"phase": "Pending", "initContainerStatuses": [init_done()],
                   "containerStatuses": [waiting("ulm", "ErrImagePull", "rpc error: not found")]}),
        );
        let backoff = pod(
            "p",
            json!({"phase": "Pending", "initContainerStatuses": [init_done()],
                   "containerStatuses": [waiting("ulm", "ImagePullBackOff",
                       "Back-off pulling image \"ovu/ulm:9.9\": ErrImagePull: rpc error: not found")]}),
        );
        assert_eq!(pod_problem(&err), pod_problem(&backoff));
    }

    #[test]
    fn a_failing_migration_reads_the_same_through_the_restarts() {
        // The kubelet shows the init container waiting in back-off, running again, and just
        // ended; the status must not change with it.
        let message =
            "ovu-ulm: migration 20261202000001 (outbox queue) was applied with other content";
        let last = json!({"terminated": {"exitCode": 3, "reason": "Error", "message": message}});
        let init = |state: Value, restarts: i32| {
            pod(
                "p",
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate",
                    "image": "ovu/ulm:9.9", "imageID": "", "ready": false, "restartCount": restarts,
                    "state": state, "lastState": last}]}),
            )
        };
        let waiting = pod_problem(&init(json!({"waiting": {"reason": "CrashLoopBackOff"}}), 2));
        let running = pod_problem(&init(json!({"running": {}}), 3));
        let ended = pod_problem(&init(last.clone(), 3));
        assert_eq!(
            waiting.as_ref().map(|p| p.reason),
            Some(Reason::MigrationFailed)
        );
        assert!(
            waiting.as_ref().unwrap().message.contains(message),
            "{waiting:?}"
        );
        assert_eq!(waiting, running);
        assert_eq!(waiting, ended);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let p = pod(
            "p",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                   "reason": "Unschedulable", "message": long}]}),
        );
        let m = pod_problem(&p).unwrap().message;
        assert!(m.len() < 400, "{}", m.len());
        assert!(m.ends_with('…'));
    }

    #[test]
    fn a_terminating_pod_is_not_a_problem() {
        let mut p = pod("p", json!({"phase": "Failed", "reason": "Evicted"}));
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        assert_eq!(pod_problem(&p), None);
    }

    #[test]
    fn worst_picks_the_most_telling_pod_and_counts_the_rest() {
        let not_ready = pod(
            "a",
            json!({"phase": "Running", "containerStatuses": [{"name": "ulm", "image": "x", "imageID": "",
                   "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
        );
        let pull_b = pod(
            "b",
            json!({"phase": "Pending", "containerStatuses": [waiting("ulm", "ErrImagePull", "x")]}),
        );
        let pull_c = pod(
            "c",
            json!({"phase": "Pending", "containerStatuses": [waiting("ulm", "ErrImagePull", "x")]}),
        );
        let fine = pod("d", json!({"phase": "Pending"}));
        let (p, more) = worst([&not_ready, &pull_c, &fine, &pull_b]).unwrap();
        assert_eq!(
            (p.reason, p.pod.as_str(), more),
            (Reason::ImagePullBackOff, "b", 2)
        );
        assert_eq!(worst([&fine]), None);
    }
}
