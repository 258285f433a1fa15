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
