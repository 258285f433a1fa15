//! Names, labels and selectors of every child of an OvuSystem: one place, so the operator's
//! renderers and controller, AAM, `kubectl ovu` and the e2e tests agree
//! (docs/contracts.md is the human copy). The operator re-exports it as
//! `ovu_operator::render::names`.

use std::collections::BTreeMap;

/// Label keys (app.kubernetes.io recommended labels) on every child and pod.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";

/// `app.kubernetes.io/managed-by` value on every child; the controller watches by it.
pub const MANAGED_BY: &str = "ovu-operator";
/// The server-side-apply field manager.
pub const FIELD_MANAGER: &str = "ovu-operator";
/// Pod template annotation carrying the hash of configuration the pods read at start.
pub const CONFIG_HASH_ANNOTATION: &str = "ovu.co.il/config-hash";
/// Label selector for everything the operator manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=ovu-operator";

/// The default node label key whose value names a tier (`spec.placement.nodeLabel`).
pub const DEFAULT_TIER_LABEL: &str = "ovu.co.il/tier";

/// The components, as they appear in `app.kubernetes.io/component`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Postgres,
    Redis,
    Ulm,
    Aam,
    Frontend,
    Backup,
    Restore,
}

impl Component {
    /// Every component.
    pub const ALL: [Component; 7] = [
        Component::Postgres,
        Component::Redis,
        Component::Ulm,
        Component::Aam,
        Component::Frontend,
        Component::Backup,
        Component::Restore,
    ];

    /// The component named by an `app.kubernetes.io/component` value.
    pub fn from_label(value: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Postgres => "postgres",
            Component::Redis => "redis",
            Component::Ulm => "ulm",
            Component::Aam => "aam",
            Component::Frontend => "frontend",
            Component::Backup => "backup",
            Component::Restore => "restore",
        }
    }
    /// The tier (node label value) the component runs on.
    pub fn tier(self) -> Tier {
        match self {
            Component::Postgres | Component::Redis | Component::Backup | Component::Restore => {
                Tier::Database
            }
            Component::Ulm | Component::Aam => Tier::Backend,
            Component::Frontend => Tier::Frontend,
        }
    }
}

/// The three tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Frontend,
    Backend,
    Database,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Frontend => "frontend",
            Tier::Backend => "backend",
            Tier::Database => "database",
        }
    }
}

/// Names of the children of one OvuSystem.
#[derive(Clone, Debug)]
pub struct Names {
    pub system: String,
}

impl Names {
    pub fn new(system: &str) -> Self {
        Self {
            system: system.to_string(),
        }
    }
    fn n(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.system)
    }
    pub fn of(&self, c: Component) -> String {
        self.n(c.as_str())
    }
    pub fn postgres_secret(&self) -> String {
        self.n("postgres")
    }
    pub fn redis_secret(&self) -> String {
        self.n("redis")
    }
    pub fn signing_key_secret(&self) -> String {
        self.n("ulm-signing-key")
    }
    pub fn bootstrap_admin_secret(&self) -> String {
        self.n("bootstrap-admin")
    }
    pub fn ca_secret(&self) -> String {
        self.n("ca")
    }
    /// The Secret the frontend reads tls.crt/tls.key from (SelfSigned and CertManager modes).
    pub fn tls_secret(&self) -> String {
        self.n("tls")
    }
    /// The ClusterIP Service clients connect to PostgreSQL through (the `-rw` of
    /// CloudNativePG). Its name always resolves: the headless Service's DNS record vanishes
    /// while no pod is ready, and cluster DNS then caches that answer for up to 30 s after
    /// PostgreSQL is back (23 s of a restart's 26 s of errors were that).
    pub fn postgres_rw(&self) -> String {
        self.n("postgres-rw")
    }
    pub fn postgres_init_configmap(&self) -> String {
        self.n("postgres-init")
    }
    pub fn nginx_configmap(&self) -> String {
        self.n("nginx")
    }
    pub fn backup_script_configmap(&self) -> String {
        self.n("backup-script")
    }
    pub fn backup_pvc(&self) -> String {
        self.n("backups")
    }
    pub fn backup_cronjob(&self) -> String {
        self.n("backup")
    }
    pub fn aam_service_account(&self) -> String {
        self.n("aam")
    }
    pub fn certificate(&self) -> String {
        self.n("tls")
    }
    /// Prometheus' admission to ULM and AAM (`spec.monitoring.podMonitor`).
    pub fn netpol_monitoring(&self) -> String {
        self.n("monitoring")
    }
    /// The PodMonitor of ULM and AAM (`spec.monitoring.podMonitor`).
    pub fn pod_monitor(&self) -> String {
        self.n("services")
    }
    pub fn netpol(&self, tier: Tier) -> String {
        self.n(tier.as_str())
    }
    /// The policy that denies every pod of the system all traffic the others do not allow.
    pub fn netpol_default_deny(&self) -> String {
        self.n("default-deny")
    }
    /// The egress allowance of one component's pods (`<n>-egress-<component>`).
    pub fn netpol_egress(&self, c: Component) -> String {
        self.n(&format!("egress-{}", c.as_str()))
    }
    /// PostgreSQL's only pod (`<sts>-0`).
    pub fn postgres_pod(&self) -> String {
        format!("{}-0", self.of(Component::Postgres))
    }
    /// The PVC the StatefulSet creates for its only pod (`<template>-<sts>-0`).
    pub fn postgres_data_pvc(&self) -> String {
        format!("data-{}-0", self.of(Component::Postgres))
    }
    /// The Job that fills a new system's databases from `spec.database.restore`.
    pub fn restore_job(&self) -> String {
        self.n("restore")
    }
    /// The Job an on-demand backup request becomes.
    pub fn backup_now_job(&self, request: &str) -> String {
        use sha2::{Digest, Sha256};
        let h = hex_prefix(&Sha256::digest(request.as_bytes()), 8);
        self.n(&format!("backup-now-{h}"))
    }
    /// In-cluster DNS name of a component's Service.
    pub fn service_host(&self, c: Component, namespace: &str) -> String {
        format!("{}.{namespace}.svc", self.of(c))
    }
}

pub fn hex_prefix(bytes: &[u8], n: usize) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(n);
    s
}

/// Labels that identify a component's pods (also its selector; never change them, selectors
/// are immutable).
pub fn selector(system: &str, c: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_string(), "ovu".to_string()),
        (INSTANCE_LABEL.to_string(), system.to_string()),
        (COMPONENT_LABEL.to_string(), c.as_str().to_string()),
    ])
}

/// Labels on every child object and pod.
pub fn labels(system: &str, c: Component) -> BTreeMap<String, String> {
    let mut l = selector(system, c);
    l.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string());
    l.insert(PART_OF_LABEL.to_string(), "ovu".to_string());
    l
}

/// Label selector (`k=v,k=v`) for every child and pod the operator made for one system.
pub fn instance_selector(system: &str) -> String {
    format!("{INSTANCE_LABEL}={system},{MANAGED_BY_LABEL}={MANAGED_BY}")
}

/// Label selector for one component's objects of one system (its pods, its Jobs).
pub fn component_selector(system: &str, c: Component) -> String {
    format!("{INSTANCE_LABEL}={system},{COMPONENT_LABEL}={}", c.as_str())
}

/// [`selector`] as a label selector string (`k=v,k=v`): exactly a component's pods.
pub fn pod_selector(system: &str, c: Component) -> String {
    selector_string(&selector(system, c))
}

/// Label selector for every object labelled as part of one system, managed or not (the
/// operator labels all its children and pods with [`INSTANCE_LABEL`]).
pub fn system_selector(system: &str) -> String {
    format!("{INSTANCE_LABEL}={system}")
}

/// `k=v,k=v` of a label map (equality-based label selector).
pub fn selector_string(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether an equality-based selector (`k=v,k=v`, as built here) selects an object with
/// `labels`: what the API server does with it, for tests that check a selector against the
/// labels the operator stamps. Any other selector syntax selects nothing.
pub fn selects(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.starts_with('=') && !k.ends_with('!') => {
            labels.get(k).map(String::as_str) == Some(v)
        }
        _ => false,
    })
}

/// Well-known ports.
pub mod ports {
    pub const POSTGRES: i32 = 5432;
    pub const REDIS: i32 = 6379;
    pub const ULM: i32 = 8001;
    pub const AAM: i32 = 8002;
    /// nginx listens unprivileged inside the pod; the Service maps 80/443 to these.
    pub const NGINX_HTTP: i32 = 8080;
    pub const NGINX_HTTPS: i32 = 8443;
    /// nginx's plain health listener, only with PROXY protocol on the public ports (the
    /// kubelet's probes cannot send a PROXY header).
    pub const NGINX_HEALTH: i32 = 8081;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_named_after_the_system() {
        let n = Names::new("shop");
        assert_eq!(n.of(Component::Postgres), "shop-postgres");
        assert_eq!(n.postgres_pod(), "shop-postgres-0");
        assert_eq!(n.postgres_data_pvc(), "data-shop-postgres-0");
        assert_eq!(n.postgres_secret(), "shop-postgres");
        assert_eq!(n.bootstrap_admin_secret(), "shop-bootstrap-admin");
        assert_eq!(n.tls_secret(), "shop-tls");
        assert_eq!(n.backup_pvc(), "shop-backups");
        assert_eq!(n.backup_cronjob(), "shop-backup");
        assert_eq!(n.netpol_egress(Component::Ulm), "shop-egress-ulm");
        assert_eq!(n.service_host(Component::Ulm, "ovu"), "shop-ulm.ovu.svc");
        let job = n.backup_now_job("before-move");
        assert!(job.starts_with("shop-backup-now-") && job.len() == "shop-backup-now-".len() + 8);
        assert_eq!(job, n.backup_now_job("before-move"), "stable per request");
    }

    #[test]
    fn components_round_trip_through_their_label() {
        for c in Component::ALL {
            assert_eq!(Component::from_label(c.as_str()), Some(c));
        }
        assert_eq!(Component::from_label("nginx"), None);
        assert_eq!(Component::Backup.tier(), Tier::Database);
        assert_eq!(Component::Aam.tier().as_str(), "backend");
    }

    /// The selectors select what the operator labels, and only that.
    #[test]
    fn selectors_select_the_labelled_objects() {
        let pod = labels("shop", Component::Ulm);
        assert!(selects(&pod_selector("shop", Component::Ulm), &pod));
        assert!(selects(&component_selector("shop", Component::Ulm), &pod));
        assert!(selects(&instance_selector("shop"), &pod));
        assert!(selects(&system_selector("shop"), &pod));
        assert!(selects(MANAGED_SELECTOR, &pod));
        assert!(!selects(&pod_selector("shop", Component::Aam), &pod));
        assert!(!selects(&pod_selector("shop2", Component::Ulm), &pod));
        assert!(!selects(
            &instance_selector("shop"),
            &selector("shop", Component::Ulm)
        ));
        assert_eq!(
            pod_selector("ovu", Component::Postgres),
            "app.kubernetes.io/component=postgres,app.kubernetes.io/instance=ovu,app.kubernetes.io/name=ovu"
        );
        assert!(!selects("a!=b", &BTreeMap::new()) && !selects("a==b", &pod));
    }
}
