//! The status verdict, pure: (old status, what this round observed, now) → (new status,
//! Events to publish, when to look again). The reconcile gathers [`Observed`], calls
//! [`judge`], then writes what it returns; nothing here talks to the API server, so every
//! case is a row of the table in the tests below.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;
use ovu_crds::{
    BackupStatus, CertificateStatus, ComponentHealth, Endpoints, Images, OvuSystemStatus, Phase,
    RestoreStatus, Tiers,
};

use super::pods;
use super::tiers::{self, TierView};
use crate::render::names::Tier;
use crate::status::{self, Cond};

/// Requeue while waiting for a tier.
pub const WAIT: Duration = Duration::from_secs(10);
/// Requeue when everything is ready (health probes, certificate renewal, backup status).
pub const STEADY: Duration = Duration::from_secs(60);

/// How long a system that served may be back to not serving before it is Degraded.
///
/// A whole cluster restarting (`make down` then `make up`, a node reboot) brings every pod
/// back within a minute or two, and the first reconcile after the restart sees them not ready
/// yet: calling that Degraded flashed a fault on every routine start. Within the grace the
/// phase is Progressing with reason `Recovering` (Ready is False, the tier conditions say
/// what is not serving); a system still not serving after it is Degraded.
pub const RECOVERY_GRACE: Duration = Duration::from_secs(180);
const RECOVERING: &str = "Recovering";
/// The Ready reason while a rollout has stopped at a failed migration.
const MIGRATION_FAILED: &str = "MigrationFailed";

/// The bring-up steps, in order, and `Done`. `status.step` holds [`Step::as_str`] (the same
/// strings it always held).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Database,
    /// Filling new databases from `spec.database.restore`, before ULM and AAM first start.
    Restore,
    Backend,
    Frontend,
    Done,
}

impl Step {
    /// Bring-up as data: each step waits for the one before it to pass.
    pub const BRING_UP: [Step; 4] = [Step::Database, Step::Restore, Step::Backend, Step::Frontend];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Database => "Database",
            Step::Restore => "Restore",
            Step::Backend => "Backend",
            Step::Frontend => "Frontend",
            Step::Done => "Done",
        }
    }

    /// The tier a step brings up (`Restore` and `Done` bring up none).
    pub fn tier(self) -> Option<Tier> {
        match self {
            Step::Database => Some(Tier::Database),
            Step::Backend => Some(Tier::Backend),
            Step::Frontend => Some(Tier::Frontend),
            Step::Restore | Step::Done => None,
        }
    }

    /// What the step waits for, as the status message says it.
    fn waiting(self, detail: &str) -> String {
        match self {
            Step::Database => format!("waiting for the database tier: {detail}"),
            Step::Backend => {
                format!("waiting for the backend tier (migrations, readiness): {detail}")
            }
            Step::Frontend => format!("waiting for the frontend tier: {detail}"),
            Step::Restore | Step::Done => detail.to_string(),
        }
    }

    /// The condition of a tier that was not reached because this step holds it back.
    fn holds_back(self, tier: Tier) -> Cond {
        let (reason, message) = match self {
            Step::Restore => (
                "WaitingForRestore",
                "waits for the restore of the databases",
            ),
            Step::Database => ("WaitingForDatabase", "waits for the database tier"),
            _ => ("WaitingForBackend", "waits for the backend tier"),
        };
        Cond::new(tiers::cond_type(tier), false, reason, message)
    }
}

/// The `action` of an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAction {
    Validate,
    Pause,
    Apply,
    BringUp,
    Cleanup,
    Reconcile,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Validate => "Validate",
            EventAction::Pause => "Pause",
            EventAction::Apply => "Apply",
            EventAction::BringUp => "BringUp",
            EventAction::Cleanup => "Cleanup",
            EventAction::Reconcile => "Reconcile",
        }
    }
}

/// An Event to publish on the OvuSystem.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub type_: EventType,
    pub reason: String,
    pub action: EventAction,
    pub message: String,
}

/// What one bring-up step found.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// A tier's workloads, applied this round.
    Tier(TierView),
    /// The restore: `Some` while the backend must wait for it.
    Restore(Option<RestoreWait>),
}

impl Stage {
    /// Whether the next step may go ahead.
    pub fn passed(&self) -> bool {
        match self {
            Stage::Tier(t) => t.serving,
            Stage::Restore(w) => w.is_none(),
        }
    }
}

/// Why the backend waits for the restore, and whether the restore failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreWait {
    pub why: String,
    pub failed: bool,
}

/// What a round that applied the spec observed.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    pub certificate: Cond,
    pub certificate_status: CertificateStatus,
    pub endpoints: Endpoints,
    /// The images this round rendered (`status.images`).
    pub images: Images,
    pub backup: Cond,
    pub backup_status: BackupStatus,
    /// `MonitoringReady` (`None`: monitoring is off, and the condition is dropped).
    pub monitoring: Option<Cond>,
    pub restore_status: Option<RestoreStatus>,
    /// The bring-up steps reached this round, in order; the last one that did not pass
    /// holds the rest back.
    pub stages: Vec<(Step, Stage)>,
    /// Ready/desired counts and nodes of each tier.
    pub tiers: Tiers,
    /// Health of ULM and AAM when probed this round (`None`: kept as it was).
    pub health: Option<Vec<ComponentHealth>>,
    /// What the apply steps changed ("created Deployment ovu-ulm", …).
    pub changes: Vec<String>,
}

/// What the reconcile observed.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// The spec breaks a rule; the problems, joined.
    Invalid(String),
    Paused,
    Applied(Box<Round>),
}

/// When to reconcile again, unless something changes before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    AwaitChange,
    After(Duration),
}

/// The verdict: the status to write (when `changed`), the Events to publish, and the requeue.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub status: OvuSystemStatus,
    /// The status differs from the stored one (compared as the API server stores it).
    pub changed: bool,
    pub events: Vec<Note>,
    pub requeue: Requeue,
}

/// The overall verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    phase: Phase,
    step: Step,
    reason: String,
    message: String,
}

/// The status to write *before* a round applies new images to a system whose status says Ready
/// on others (`None`: nothing to say first). An image change that moves no generation (the
/// operator's defaults changed: an operator upgrade) would otherwise leave "Ready" on the old
/// images standing while the apply's new pods start, until the round's own status write.
/// A status that names no images yet (written before `status.images` existed) is left alone:
/// what it speaks for is unknown, and flipping Ready on every operator restart would be noise.
pub fn images_changing(
    old: Option<&OvuSystemStatus>,
    generation: Option<i64>,
    images: &Images,
    now: Timestamp,
) -> Option<OvuSystemStatus> {
    let old = old?;
    let was = old.images.as_ref()?;
    let ready = old
        .conditions
        .iter()
        .any(|c| c.type_ == status::READY && c.status == "True");
    if was == images || !ready {
        return None;
    }
    let changed: Vec<String> = [
        ("ulm", &was.ulm, &images.ulm),
        ("aam", &was.aam, &images.aam),
        ("web", &was.web, &images.web),
        ("postgres", &was.postgres, &images.postgres),
        ("redis", &was.redis, &images.redis),
    ]
    .iter()
    .filter(|(_, a, b)| a != b)
    .map(|(c, _, b)| format!("{c} {b}"))
    .collect();
    let message = format!("rolling out new images: {}", changed.join(", "));
    let mut st = old.clone();
    st.images = Some(images.clone());
    st.phase = Some(Phase::Progressing);
    st.message = Some(message.clone());
    st.conditions = status::merge_conditions(
        &old.conditions,
        &[Cond::new(status::READY, false, "ImagesChanged", message)],
        generation,
        now,
    );
    Some(st)
}

/// Warnings about settings of the spec that are meant for development, said once per spec
/// generation (when the stored status has not yet observed it): a production system that has
/// one by mistake is told so where `kubectl describe` and `kubectl get events` show it.
pub fn development_settings(
    spec: &ovu_crds::OvuSystemSpec,
    old: Option<&OvuSystemStatus>,
    generation: Option<i64>,
) -> Vec<Note> {
    if old.and_then(|o| o.observed_generation) == generation && generation.is_some() {
        return Vec::new();
    }
    let mut notes = Vec::new();
    if spec.frontend.writable_web_root {
        notes.push(Note {
            type_: EventType::Warning,
            reason: "DevelopmentSetting".into(),
            action: EventAction::Apply,
            message: "spec.frontend.writableWebRoot is on: nginx serves the web apps from a \
                      writable copy in the pod, so a process in it can change what users load \
                      (meant for Tilt's live update; turn it off in production)"
                .into(),
        });
    }
    notes
}

/// Judge one round. `old` is the status stored on the object (`None`: never written),
/// `generation` the spec's generation, `now` whole seconds (what metav1.Time keeps, so a
/// recomputed status compares equal).
pub fn judge(
    old_stored: Option<&OvuSystemStatus>,
    generation: Option<i64>,
    observed: &Observed,
    now: Timestamp,
) -> Judgement {
    let old = old_stored.cloned().unwrap_or_default();
    let mut st = old.clone();
    st.observed_generation = generation;
    let mut events = Vec::new();
    let (step_event, requeue) = match observed {
        Observed::Invalid(msg) => {
            st.phase = Some(Phase::Invalid);
            st.step = None;
            st.message = Some(format!("invalid spec: {msg}"));
            st.conditions = status::merge_conditions(
                &old.conditions,
                &[Cond::new(status::READY, false, "InvalidSpec", msg.clone())],
                generation,
                now,
            );
            let note = Note {
                type_: EventType::Warning,
                reason: "InvalidSpec".into(),
                action: EventAction::Validate,
                message: msg.clone(),
            };
            (Some(note), Requeue::AwaitChange)
        }
        Observed::Paused => {
            st.phase = Some(Phase::Paused);
            st.message = Some("spec.paused is true: the operator changes nothing".into());
            st.conditions = status::merge_conditions(
                &old.conditions,
                &[Cond::new(
                    status::READY,
                    false,
                    "Paused",
                    "reconciliation is paused (spec.paused)",
                )],
                generation,
                now,
            );
            let note = Note {
                type_: EventType::Normal,
                reason: "Paused".into(),
                action: EventAction::Pause,
                message: "spec.paused is true: no changes until it is false".into(),
            };
            (Some(note), Requeue::AwaitChange)
        }
        Observed::Applied(r) => {
            let (verdict, conds) = judge_round(&old, r, now);
            let ready = verdict.phase == Phase::Ready;
            st.certificate = Some(r.certificate_status.clone());
            st.endpoints = Some(r.endpoints.clone());
            st.images = Some(r.images.clone());
            st.backup = Some(r.backup_status.clone());
            st.restore = r.restore_status.clone();
            st.tiers = Some(r.tiers.clone());
            if let Some(h) = &r.health {
                st.health = h.clone();
            }
            st.phase = Some(verdict.phase);
            st.step = Some(verdict.step.as_str().to_string());
            st.message = Some(verdict.message.clone());
            st.conditions = status::merge_conditions(&old.conditions, &conds, generation, now);
            if r.monitoring.is_none() {
                st.conditions
                    .retain(|c| c.type_ != status::MONITORING_READY);
            }
            // Say once, when it turns so, that the PodMonitor could not be made.
            if let Some(m) = r.monitoring.as_ref().filter(|m| !m.status) {
                let was = old
                    .conditions
                    .iter()
                    .find(|c| c.type_ == status::MONITORING_READY)
                    .map(|c| c.reason.as_str());
                if was != Some(m.reason.as_str()) {
                    events.push(Note {
                        type_: EventType::Warning,
                        reason: m.reason.clone(),
                        action: EventAction::Apply,
                        message: m.message.clone(),
                    });
                }
            }
            if !r.changes.is_empty() {
                events.push(Note {
                    type_: EventType::Normal,
                    reason: "Applied".into(),
                    action: EventAction::Apply,
                    message: r.changes.join(", "),
                });
            }
            // A stopped rollout keeps its step (the tier's): say it once, as a Warning, when
            // the Ready reason turns to it.
            let old_reason = old
                .conditions
                .iter()
                .find(|c| c.type_ == status::READY)
                .map(|c| c.reason.as_str());
            if verdict.reason == MIGRATION_FAILED && old_reason != Some(MIGRATION_FAILED) {
                events.push(Note {
                    type_: EventType::Warning,
                    reason: MIGRATION_FAILED.into(),
                    action: EventAction::Apply,
                    message: verdict.message.clone(),
                });
            }
            let note = (old.step.as_deref() != Some(verdict.step.as_str())).then(|| Note {
                type_: if verdict.phase == Phase::Degraded {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: format!("Step{}", verdict.step.as_str()),
                action: EventAction::BringUp,
                message: verdict.message,
            });
            (note, Requeue::After(if ready { STEADY } else { WAIT }))
        }
    };
    // Compare serialized forms: that is what the API server stores (times to the second).
    let changed = match old_stored {
        None => true,
        Some(o) => serde_json::to_value(o).ok() != serde_json::to_value(&st).ok(),
    };
    // Say a step (or a verdict on the spec) once, when the status turns to it.
    if changed {
        events.extend(step_event);
    }
    Judgement {
        status: st,
        changed,
        events,
        requeue,
    }
}

/// The verdict and the conditions of a round that applied the spec.
fn judge_round(old: &OvuSystemStatus, r: &Round, now: Timestamp) -> (Verdict, Vec<Cond>) {
    let mut conds = vec![r.certificate.clone(), r.backup.clone()];
    conds.extend(r.monitoring.clone());
    // Walk the bring-up: the first step that did not pass holds back every tier above it.
    let mut blocked: Option<(Step, String, bool)> = None;
    let mut views: Vec<(Step, &TierView)> = Vec::new();
    // The step an unreached tier waits for: the blocker, or the nearest tier below.
    let mut below: Option<Step> = None;
    for step in Step::BRING_UP {
        let stage = r.stages.iter().find(|(s, _)| *s == step).map(|(_, s)| s);
        match (stage, step.tier()) {
            (Some(Stage::Tier(view)), Some(tier)) => {
                conds.push(tiers::tier_cond(tiers::cond_type(tier), view));
                views.push((step, view));
                if !view.serving && blocked.is_none() {
                    blocked = Some((step, step.waiting(&view.message), false));
                }
            }
            (Some(Stage::Restore(Some(w))), _) if blocked.is_none() => {
                blocked = Some((step, w.why.clone(), w.failed));
            }
            (None, Some(tier)) => {
                let by = below.unwrap_or(Step::Database);
                conds.push(by.holds_back(tier));
            }
            _ => {}
        }
        if step.tier().is_some() || blocked.as_ref().is_some_and(|(s, _, _)| *s == step) {
            below = Some(step);
        }
    }
    let cert_ok = r.certificate.status;
    // A system stopped at the restore step never served (the restore precedes the backend's
    // first start), even when that stop made it Degraded.
    let old_ready = old.conditions.iter().find(|c| c.type_ == status::READY);
    let since = recovering_since(old_ready, now);
    let was_ready = (matches!(old.phase, Some(Phase::Ready) | Some(Phase::Degraded))
        || since.is_some())
        && old.step.as_deref() != Some(Step::Restore.as_str());
    let verdict = match blocked {
        // A failed restore needs a person; it is not "bringing up" any more.
        Some((step, message, true)) => Verdict {
            phase: Phase::Degraded,
            step,
            reason: "RestoreFailed".into(),
            message,
        },
        // Something that served does not any more: Degraded, not "bringing up" — after a
        // grace, see `lost_serving`.
        Some((step, message, _)) if was_ready => lost_serving(step, message, since, now),
        Some((step, message, _)) => Verdict {
            phase: Phase::Progressing,
            step,
            reason: "BringingUp".into(),
            message,
        },
        None => serving_verdict(&views, cert_ok, was_ready),
    };
    conds.insert(
        0,
        Cond::new(
            status::READY,
            verdict.phase == Phase::Ready,
            &verdict.reason,
            verdict.message.clone(),
        ),
    );
    (verdict, conds)
}

/// When a recovery under way began: the time the Ready condition turned False with reason
/// `Recovering` (see [`lost_serving`]); `Some(now)` when Ready is still True (the system
/// served until this reconcile); None otherwise.
fn recovering_since(old_ready: Option<&Condition>, now: Timestamp) -> Option<Timestamp> {
    let c = old_ready?;
    match (c.status.as_str(), c.reason.as_str()) {
        ("True", _) => Some(now),
        ("False", RECOVERING) => Some(c.last_transition_time.0),
        _ => None,
    }
}

/// The verdict for a system that served and does not any more.
fn lost_serving(step: Step, message: String, since: Option<Timestamp>, now: Timestamp) -> Verdict {
    let within_grace =
        since.is_some_and(|t| now.duration_since(t).as_secs() < RECOVERY_GRACE.as_secs() as i64);
    if within_grace {
        Verdict {
            phase: Phase::Progressing,
            step,
            reason: RECOVERING.into(),
            message: format!(
                "recovering (served before; Degraded if not back within {} s): {message}",
                RECOVERY_GRACE.as_secs()
            ),
        }
    } else {
        Verdict {
            phase: Phase::Degraded,
            step,
            reason: "BringingUp".into(),
            message,
        }
    }
}

/// The verdict once every tier serves (bring-up is done): Ready when no tier rolls out and
/// the certificate is good; otherwise Progressing with a reason naming the first tier still
/// rolling out.
fn serving_verdict(tiers: &[(Step, &TierView)], cert_ok: bool, was_ready: bool) -> Verdict {
    if let Some((step, t)) = tiers.iter().find(|(_, t)| !t.rolled_out) {
        let name = step.tier().map(Tier::as_str).unwrap_or_default();
        // The new pods cannot start until a person repairs the migration; the old ones serve.
        if t.problem == Some(pods::Reason::MigrationFailed) {
            return Verdict {
                phase: Phase::Progressing,
                step: *step,
                reason: MIGRATION_FAILED.into(),
                message: format!(
                    "the rollout of the {name} tier stopped: a migration failed (the old pods \
                     keep serving): {}",
                    t.message
                ),
            };
        }
        return Verdict {
            phase: Phase::Progressing,
            step: *step,
            reason: format!("{}RollingOut", step.as_str()),
            message: format!("rolling out the {name} tier: {}", t.message),
        };
    }
    Verdict {
        phase: if cert_ok {
            Phase::Ready
        } else if was_ready {
            // A certificate that stopped being good is a fault, not progress.
            Phase::Degraded
        } else {
            Phase::Progressing
        },
        step: Step::Done,
        reason: if cert_ok {
            "AllTiersReady"
        } else {
            "CertificateNotReady"
        }
        .to_string(),
        message: "all tiers are serving".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use ovu_crds::TierStatus;

    #[test]
    fn a_development_setting_is_said_once_per_generation() {
        let mut spec: ovu_crds::OvuSystemSpec =
            serde_json::from_value(serde_json::json!({"domain": "shop.example"})).unwrap();
        assert!(development_settings(&spec, None, Some(1)).is_empty());
        spec.frontend.writable_web_root = true;
        let notes = development_settings(&spec, None, Some(1));
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].type_, EventType::Warning);
        assert_eq!(notes[0].reason, "DevelopmentSetting");
        assert!(notes[0].message.contains("writableWebRoot"));
        // Not again while the stored status has observed this generation; again for a new one.
        let seen = OvuSystemStatus {
            observed_generation: Some(1),
            ..Default::default()
        };
        assert!(development_settings(&spec, Some(&seen), Some(1)).is_empty());
        assert_eq!(development_settings(&spec, Some(&seen), Some(2)).len(), 1);
    }

    fn t0() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }
    fn at(s: i64) -> Timestamp {
        t0() + k8s_openapi::jiff::SignedDuration::from_secs(s)
    }

    fn images(tag: &str) -> Images {
        Images {
            ulm: format!("ovu/ulm:{tag}"),
            aam: format!("ovu/aam:{tag}"),
            web: format!("ovu/web:{tag}"),
            postgres: "postgres:16".into(),
            redis: "redis:7".into(),
        }
    }

    #[test]
    fn new_images_end_a_ready_status_before_they_are_applied() {
        let ready = |ok: bool, imgs: Option<Images>| OvuSystemStatus {
            observed_generation: Some(3),
            phase: Some(if ok { Phase::Ready } else { Phase::Progressing }),
            conditions: status::merge_conditions(
                &[],
                &[Cond::new(status::READY, ok, "Ready", "all tiers ready")],
                Some(3),
                t0(),
            ),
            images: imgs,
            ..Default::default()
        };
        let old = ready(true, Some(images("1.0.0")));
        let st = images_changing(Some(&old), Some(3), &images("1.1.0"), at(60)).unwrap();
        assert_eq!(st.images, Some(images("1.1.0")));
        assert_eq!(st.phase, Some(Phase::Progressing));
        let c = st
            .conditions
            .iter()
            .find(|c| c.type_ == status::READY)
            .unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "ImagesChanged")
        );
        assert_eq!(c.last_transition_time.0, at(60));
        assert_eq!(
            st.message.as_deref(),
            Some("rolling out new images: ulm ovu/ulm:1.1.0, aam ovu/aam:1.1.0, web ovu/web:1.1.0")
        );
        // The same images, a status that is not Ready, one that names no images, no status:
        // nothing to say before the round.
        assert_eq!(
            images_changing(Some(&old), Some(3), &images("1.0.0"), at(60)),
            None
        );
        let not_ready = ready(false, Some(images("1.0.0")));
        assert_eq!(
            images_changing(Some(&not_ready), Some(3), &images("1.1.0"), at(60)),
            None
        );
        let unnamed = ready(true, None);
        assert_eq!(
            images_changing(Some(&unnamed), Some(3), &images("1.1.0"), at(60)),
            None
        );
        assert_eq!(
            images_changing(None, Some(3), &images("1.1.0"), at(60)),
            None
        );
    }

    fn view(serving: bool, rolled_out: bool, message: &str) -> TierView {
        TierView {
            counts: TierStatus {
                ready: i32::from(serving),
                desired: 1,
                nodes: vec![],
            },
            serving,
            rolled_out: serving && rolled_out,
            problem: None,
            message: message.into(),
        }
    }
    fn up() -> Stage {
        Stage::Tier(view(true, true, "ok 1/1"))
    }
    fn down(msg: &str) -> Stage {
        Stage::Tier(view(false, false, msg))
    }
    fn rolling(msg: &str) -> Stage {
        Stage::Tier(view(true, false, msg))
    }
    /// A serving tier whose rollout stopped: its new pod's migration failed.
    fn migration_failed(msg: &str) -> Stage {
        Stage::Tier(TierView {
            problem: Some(pods::Reason::MigrationFailed),
            ..view(true, false, msg)
        })
    }
    fn restoring(failed: bool) -> Stage {
        Stage::Restore(Some(RestoreWait {
            why: if failed {
                "restore failed"
            } else {
                "restoring"
            }
            .into(),
            failed,
        }))
    }

    fn cert(ok: bool) -> Cond {
        if ok {
            Cond::new(status::CERTIFICATE_READY, true, "Disabled", "plain HTTP")
        } else {
            Cond::new(
                status::CERTIFICATE_READY,
                false,
                "SecretMissing",
                "no Secret",
            )
        }
    }

    fn backup(ok: Option<bool>) -> Cond {
        match ok {
            None => Cond::unknown(status::BACKUP_HEALTHY, "NoBackupYet", "none yet"),
            Some(true) => Cond::new(status::BACKUP_HEALTHY, true, "LastBackupSucceeded", "b1"),
            Some(false) => Cond::new(status::BACKUP_HEALTHY, false, "LastBackupFailed", "b2"),
        }
    }

    fn round(stages: Vec<(Step, Stage)>, cert_ok: bool, backup_ok: Option<bool>) -> Observed {
        Observed::Applied(Box::new(Round {
            certificate: cert(cert_ok),
            certificate_status: CertificateStatus::default(),
            endpoints: Endpoints::default(),
            images: Images::default(),
            backup: backup(backup_ok),
            backup_status: BackupStatus::default(),
            monitoring: None,
            restore_status: None,
            stages,
            tiers: Tiers::default(),
            health: None,
            changes: vec![],
        }))
    }

    fn all_up() -> Vec<(Step, Stage)> {
        vec![
            (Step::Database, up()),
            (Step::Restore, Stage::Restore(None)),
            (Step::Backend, up()),
            (Step::Frontend, up()),
        ]
    }

    /// A stored status: phase, step, and the Ready condition (status, reason, since).
    fn old(phase: Phase, step: Step, ready: (&str, &str, Timestamp)) -> OvuSystemStatus {
        OvuSystemStatus {
            phase: Some(phase),
            step: Some(step.as_str().into()),
            conditions: vec![Condition {
                type_: status::READY.into(),
                status: ready.0.into(),
                reason: ready.1.into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: Time(ready.2),
            }],
            ..Default::default()
        }
    }
    fn was_ready() -> Option<OvuSystemStatus> {
        Some(old(
            Phase::Ready,
            Step::Done,
            ("True", "AllTiersReady", at(-900)),
        ))
    }

    struct Row {
        name: &'static str,
        old: Option<OvuSystemStatus>,
        observed: Observed,
        now: Timestamp,
        phase: Phase,
        step: Option<&'static str>,
        /// Reason of the Ready condition.
        reason: &'static str,
        /// Other conditions: (type, status, reason).
        conds: &'static [(&'static str, &'static str, &'static str)],
        /// Reasons of the Events, in order.
        events: &'static [&'static str],
        requeue: Requeue,
    }

    fn rows() -> Vec<Row> {
        let wait = Requeue::After(WAIT);
        vec![
            Row {
                name: "fresh system, database not serving",
                old: None,
                observed: round(vec![(Step::Database, down("postgres 0/1"))], true, None),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Database"),
                reason: "BringingUp",
                conds: &[
                    ("DatabaseReady", "False", "Waiting"),
                    ("BackendReady", "False", "WaitingForDatabase"),
                    ("FrontendReady", "False", "WaitingForBackend"),
                    ("BackupHealthy", "Unknown", "NoBackupYet"),
                ],
                events: &["StepDatabase"],
                requeue: wait,
            },
            Row {
                name: "restore under way holds the backend back",
                old: None,
                observed: round(
                    vec![(Step::Database, up()), (Step::Restore, restoring(false))],
                    true,
                    None,
                ),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Restore"),
                reason: "BringingUp",
                conds: &[
                    ("DatabaseReady", "True", "Ready"),
                    ("BackendReady", "False", "WaitingForRestore"),
                    ("FrontendReady", "False", "WaitingForBackend"),
                ],
                events: &["StepRestore"],
                requeue: wait,
            },
            Row {
                name: "a failed restore is Degraded",
                old: None,
                observed: round(
                    vec![(Step::Database, up()), (Step::Restore, restoring(true))],
                    true,
                    None,
                ),
                now: t0(),
                phase: Phase::Degraded,
                step: Some("Restore"),
                reason: "RestoreFailed",
                conds: &[("BackendReady", "False", "WaitingForRestore")],
                events: &["StepRestore"],
                requeue: wait,
            },
            Row {
                name: "a restore that stopped a system never made it one that served",
                old: Some(old(
                    Phase::Degraded,
                    Step::Restore,
                    ("False", "RestoreFailed", at(-900)),
                )),
                observed: round(
                    vec![(Step::Database, up()), (Step::Restore, restoring(false))],
                    true,
                    None,
                ),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Restore"),
                reason: "BringingUp",
                conds: &[],
                events: &[],
                requeue: wait,
            },
            Row {
                name: "backend not serving holds the frontend back",
                old: None,
                observed: round(
                    vec![
                        (Step::Database, up()),
                        (Step::Restore, Stage::Restore(None)),
                        (Step::Backend, down("ulm 0/2")),
                    ],
                    true,
                    None,
                ),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Backend"),
                reason: "BringingUp",
                conds: &[
                    ("BackendReady", "False", "Waiting"),
                    ("FrontendReady", "False", "WaitingForBackend"),
                ],
                events: &["StepBackend"],
                requeue: wait,
            },
            Row {
                name: "every tier rolled out and a good certificate: Ready",
                old: None,
                observed: round(all_up(), true, Some(true)),
                now: t0(),
                phase: Phase::Ready,
                step: Some("Done"),
                reason: "AllTiersReady",
                conds: &[
                    ("DatabaseReady", "True", "Ready"),
                    ("BackendReady", "True", "Ready"),
                    ("FrontendReady", "True", "Ready"),
                    ("CertificateReady", "True", "Disabled"),
                    ("BackupHealthy", "True", "LastBackupSucceeded"),
                ],
                events: &["StepDone"],
                requeue: Requeue::After(STEADY),
            },
            Row {
                name: "a failed backup is a condition, not a phase",
                old: was_ready(),
                observed: round(all_up(), true, Some(false)),
                now: t0(),
                phase: Phase::Ready,
                step: Some("Done"),
                reason: "AllTiersReady",
                conds: &[("BackupHealthy", "False", "LastBackupFailed")],
                // Still Done: no step Event.
                events: &[],
                requeue: Requeue::After(STEADY),
            },
            Row {
                name: "a serving tier rolling out makes the system Progressing",
                old: was_ready(),
                observed: round(
                    vec![
                        (Step::Database, up()),
                        (Step::Restore, Stage::Restore(None)),
                        (
                            Step::Backend,
                            rolling("ulm 2/2; rolling out ulm: 1 of 2 pods updated"),
                        ),
                        (Step::Frontend, up()),
                    ],
                    true,
                    None,
                ),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Backend"),
                reason: "BackendRollingOut",
                conds: &[("BackendReady", "False", "RollingOut")],
                events: &["StepBackend"],
                requeue: wait,
            },
            Row {
                name: "a rollout stopped by a failed migration says so, once as a Warning",
                old: was_ready(),
                observed: round(
                    vec![
                        (Step::Database, up()),
                        (Step::Restore, Stage::Restore(None)),
                        (
                            Step::Backend,
                            migration_failed(
                                "ulm 2/2; rolling out ulm: 1 of 2 pods updated — pod u: \
                                 init container migrate (i): migration failed: exit code 3",
                            ),
                        ),
                        (Step::Frontend, up()),
                    ],
                    true,
                    None,
                ),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Backend"),
                reason: "MigrationFailed",
                conds: &[("BackendReady", "False", "MigrationFailed")],
                events: &["MigrationFailed", "StepBackend"],
                requeue: wait,
            },
            Row {
                name: "certificate not ready on the way up: Progressing",
                old: None,
                observed: round(all_up(), false, None),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Done"),
                reason: "CertificateNotReady",
                conds: &[("CertificateReady", "False", "SecretMissing")],
                events: &["StepDone"],
                requeue: wait,
            },
            Row {
                name: "certificate gone bad after Ready: Degraded",
                old: was_ready(),
                observed: round(all_up(), false, None),
                now: t0(),
                phase: Phase::Degraded,
                step: Some("Done"),
                reason: "CertificateNotReady",
                conds: &[],
                events: &[],
                requeue: wait,
            },
            Row {
                name: "a tier that served stops serving: Recovering within the grace",
                old: was_ready(),
                observed: round(
                    vec![
                        (Step::Database, up()),
                        (Step::Restore, Stage::Restore(None)),
                        (Step::Backend, up()),
                        (Step::Frontend, down("frontend 0/2")),
                    ],
                    true,
                    None,
                ),
                now: t0(),
                phase: Phase::Progressing,
                step: Some("Frontend"),
                reason: "Recovering",
                conds: &[("FrontendReady", "False", "Waiting")],
                events: &["StepFrontend"],
                requeue: wait,
            },
            Row {
                name: "still not serving after the grace: Degraded",
                old: Some(old(
                    Phase::Progressing,
                    Step::Database,
                    ("False", "Recovering", t0()),
                )),
                observed: round(vec![(Step::Database, down("postgres 0/1"))], true, None),
                now: at(181),
                phase: Phase::Degraded,
                step: Some("Database"),
                reason: "BringingUp",
                conds: &[("BackendReady", "False", "WaitingForDatabase")],
                // Same step as before: the Warning was the step Event of the change.
                events: &[],
                requeue: wait,
            },
            Row {
                name: "never ready and not serving: just bringing up",
                old: Some(old(
                    Phase::Progressing,
                    Step::Backend,
                    ("False", "BringingUp", t0()),
                )),
                observed: round(vec![(Step::Database, down("postgres 0/1"))], true, None),
                now: at(600),
                phase: Phase::Progressing,
                step: Some("Database"),
                reason: "BringingUp",
                conds: &[],
                events: &["StepDatabase"],
                requeue: wait,
            },
            Row {
                name: "invalid spec",
                old: was_ready(),
                observed: Observed::Invalid("spec.database.backup.retain: too small".into()),
                now: t0(),
                phase: Phase::Invalid,
                step: None,
                reason: "InvalidSpec",
                conds: &[],
                events: &["InvalidSpec"],
                requeue: Requeue::AwaitChange,
            },
            Row {
                name: "paused",
                old: was_ready(),
                observed: Observed::Paused,
                now: t0(),
                phase: Phase::Paused,
                step: Some("Done"),
                reason: "Paused",
                conds: &[],
                events: &["Paused"],
                requeue: Requeue::AwaitChange,
            },
        ]
    }

    #[test]
    fn the_verdict_table() {
        for r in rows() {
            let j = judge(r.old.as_ref(), Some(1), &r.observed, r.now);
            let st = &j.status;
            let n = r.name;
            assert_eq!(st.phase, Some(r.phase), "{n}: {st:?}");
            assert_eq!(st.step.as_deref(), r.step, "{n}");
            assert_eq!(st.observed_generation, Some(1), "{n}");
            let get = |t: &str| st.conditions.iter().find(|c| c.type_ == t);
            let ready = get(status::READY).unwrap_or_else(|| panic!("{n}: no Ready"));
            assert_eq!(ready.reason, r.reason, "{n}: {ready:?}");
            assert_eq!(ready.status == "True", r.phase == Phase::Ready, "{n}");
            for (t, s, reason) in r.conds {
                let c = get(t).unwrap_or_else(|| panic!("{n}: no {t}"));
                assert_eq!(
                    (c.status.as_str(), c.reason.as_str()),
                    (*s, *reason),
                    "{n}: {t}"
                );
            }
            let events: Vec<&str> = j.events.iter().map(|e| e.reason.as_str()).collect();
            assert_eq!(events, r.events, "{n}");
            assert_eq!(j.requeue, r.requeue, "{n}");
            // Judging the result again changes nothing and says nothing (no write loop).
            let again = judge(Some(st), Some(1), &r.observed, r.now);
            assert!(!again.changed, "{n}: a second verdict changed the status");
            assert!(again.events.is_empty(), "{n}: {:?}", again.events);
        }
    }

    #[test]
    fn changes_are_one_applied_event_and_a_degraded_step_is_a_warning() {
        let Observed::Applied(mut r) =
            round(vec![(Step::Database, down("postgres 0/1"))], true, None)
        else {
            unreachable!()
        };
        r.changes = vec![
            "created StatefulSet ovu-postgres".into(),
            "created Service ovu-redis".into(),
        ];
        let old = old(
            Phase::Progressing,
            Step::Database,
            ("False", "Recovering", t0()),
        );
        let j = judge(Some(&old), Some(2), &Observed::Applied(r), at(181));
        assert_eq!(j.events.len(), 1, "{:?}", j.events);
        assert_eq!(j.events[0].reason, "Applied");
        assert_eq!(
            j.events[0].message,
            "created StatefulSet ovu-postgres, created Service ovu-redis"
        );
        let Observed::Applied(r) = round(
            vec![(Step::Database, up()), (Step::Restore, restoring(true))],
            true,
            None,
        ) else {
            unreachable!()
        };
        let j = judge(None, Some(1), &Observed::Applied(r), t0());
        assert_eq!(j.events[0].type_, EventType::Warning);
        assert_eq!(j.events[0].action, EventAction::BringUp);
    }

    #[test]
    fn recovering_since_counts_from_when_ready_turned_false() {
        let c = |s: &str, reason: &str, t| {
            old(Phase::Ready, Step::Done, (s, reason, t)).conditions[0].clone()
        };
        assert_eq!(
            recovering_since(Some(&c("True", "AllTiersReady", at(-900))), t0()),
            Some(t0())
        );
        assert_eq!(
            recovering_since(Some(&c("False", "Recovering", t0())), at(60)),
            Some(t0())
        );
        assert_eq!(
            recovering_since(Some(&c("False", "BringingUp", t0())), at(300)),
            None
        );
        assert_eq!(recovering_since(None, t0()), None);
    }

    #[test]
    fn steps_read_as_the_status_always_said() {
        let all = [
            Step::Database,
            Step::Restore,
            Step::Backend,
            Step::Frontend,
            Step::Done,
        ];
        let s: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(s, ["Database", "Restore", "Backend", "Frontend", "Done"]);
    }
}
