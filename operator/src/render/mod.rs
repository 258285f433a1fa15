//! Pure builders: `(OvuSystem, observed facts) → desired child objects`.
//!
//! Nothing here talks to the cluster. Every decision about what the system looks like (names,
//! labels, placement, probes, security contexts, config files) is made here and pinned by the
//! snapshot tests in `operator/tests/it/render.rs`. Objects are built as JSON values (the shape
//! that is server-side applied); a test round-trips each through its k8s-openapi type to catch
//! misspelt fields.

pub mod backend;
pub mod backup;
pub mod database;
pub mod frontend;
pub mod monitoring;
pub mod names;
pub mod netpol;
pub mod nginx;
pub mod pod;
pub mod restore;

use kube::Resource;
use kube::api::ApiResource;
use ovu_crds::{ExposureType, OvuSystem, TlsMode};
use serde_json::{Value, json};

use crate::images::DefaultImages;
use names::{Component, Names};

/// The kinds of object the operator creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Secret,
    ConfigMap,
    Service,
    ServiceAccount,
    PersistentVolumeClaim,
    StatefulSet,
    Deployment,
    CronJob,
    Job,
    NetworkPolicy,
    PodDisruptionBudget,
    Role,
    RoleBinding,
    Certificate,
    PodMonitor,
}

impl Kind {
    /// Every kind, for RBAC checks.
    pub const ALL: [Kind; 15] = [
        Kind::Secret,
        Kind::ConfigMap,
        Kind::Service,
        Kind::ServiceAccount,
        Kind::PersistentVolumeClaim,
        Kind::StatefulSet,
        Kind::Deployment,
        Kind::CronJob,
        Kind::Job,
        Kind::NetworkPolicy,
        Kind::PodDisruptionBudget,
        Kind::Role,
        Kind::RoleBinding,
        Kind::Certificate,
        Kind::PodMonitor,
    ];

    /// Kinds whose API comes from a CRD another project installs (cert-manager,
    /// prometheus-operator): a cluster may not serve them, and that is reported, not fatal.
    pub const OPTIONAL: [Kind; 2] = [Kind::Certificate, Kind::PodMonitor];

    pub fn optional(self) -> bool {
        Self::OPTIONAL.contains(&self)
    }

    /// Kinds the operator deletes (pruning, `deletionPolicy: Delete`).
    pub fn deleted(self) -> bool {
        matches!(
            self,
            Kind::PersistentVolumeClaim
                | Kind::Secret
                | Kind::PodDisruptionBudget
                | Kind::Certificate
                | Kind::PodMonitor
        )
    }

    pub fn api_resource(self) -> ApiResource {
        let (group, version, kind, plural) = match self {
            Kind::Secret => ("", "v1", "Secret", "secrets"),
            Kind::ConfigMap => ("", "v1", "ConfigMap", "configmaps"),
            Kind::Service => ("", "v1", "Service", "services"),
            Kind::ServiceAccount => ("", "v1", "ServiceAccount", "serviceaccounts"),
            Kind::PersistentVolumeClaim => {
                ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
            }
            Kind::StatefulSet => ("apps", "v1", "StatefulSet", "statefulsets"),
            Kind::Deployment => ("apps", "v1", "Deployment", "deployments"),
            Kind::CronJob => ("batch", "v1", "CronJob", "cronjobs"),
            Kind::Job => ("batch", "v1", "Job", "jobs"),
            Kind::NetworkPolicy => (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
            ),
            Kind::PodDisruptionBudget => (
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            ),
            Kind::Role => ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
            Kind::RoleBinding => (
                "rbac.authorization.k8s.io",
                "v1",
                "RoleBinding",
                "rolebindings",
            ),
            Kind::Certificate => ("cert-manager.io", "v1", "Certificate", "certificates"),
            Kind::PodMonitor => ("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors"),
        };
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version,
            kind: kind.into(),
            plural: plural.into(),
        }
    }
}

/// One desired child object.
#[derive(Clone, Debug)]
pub struct Child {
    pub kind: Kind,
    pub name: String,
    /// The full object as it is applied (apiVersion, kind, metadata, spec…).
    pub object: Value,
    /// Created when missing, never updated (generated Secrets, the backup volume).
    pub create_only: bool,
}

/// Everything one OvuSystem should consist of, grouped by bring-up step.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    pub database: Vec<Child>,
    pub backend: Vec<Child>,
    pub frontend: Vec<Child>,
    /// Applied after the bring-up, by its own step: an API the cluster may not serve
    /// (prometheus-operator's) must not hold a tier back.
    pub monitoring: Vec<Child>,
}

impl Desired {
    pub fn all(&self) -> impl Iterator<Item = &Child> {
        self.database
            .iter()
            .chain(self.backend.iter())
            .chain(self.frontend.iter())
            .chain(self.monitoring.iter())
    }
}

/// Facts observed in the cluster that the pure build needs.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Namespace the operator runs in (its pods probe ULM/AAM, so NetworkPolicies let it in).
    pub operator_namespace: String,
    /// Hash of the serving certificate now in the TLS Secret; a change rolls nginx so it
    /// loads the new certificate.
    pub tls_hash: Option<String>,
    /// `spec.podCIDRs` of the nodes labelled for the frontend tier (where nginx runs), sorted.
    pub frontend_pod_cidrs: Vec<String>,
    /// `spec.podCIDRs` of the nodes labelled for the backend tier (where AAM runs), sorted.
    pub backend_pod_cidrs: Vec<String>,
    /// Where the Kubernetes API server listens (the `kubernetes` Service's endpoints, after
    /// translation): AAM's egress policy lets it reach exactly these.
    pub api_server: Vec<ApiServerEndpoint>,
    /// The HTTP-01 challenges cert-manager is solving for the system's names (CertManager
    /// mode): nginx routes each token on port 80 to its solver. Sorted.
    pub acme_challenges: Vec<nginx::AcmeChallenge>,
    /// The operator's default images, for the components the spec names none of.
    pub default_images: DefaultImages,
}

/// One address and port of the Kubernetes API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiServerEndpoint {
    pub address: String,
    pub port: i32,
}

/// Why a spec cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the OvuSystem has no {0}")]
    MissingMetadata(&'static str),
}

/// Context shared by the tier renderers.
pub struct Ctx<'a> {
    pub sys: &'a OvuSystem,
    pub ns: String,
    pub names: Names,
    pub facts: &'a Facts,
    /// The image of each component: the spec's, else the operator's default. Every container
    /// the renderers make takes its image from here.
    pub images: ovu_crds::Images,
    owner: Value,
}

impl<'a> Ctx<'a> {
    pub fn new(sys: &'a OvuSystem, facts: &'a Facts) -> Result<Self, RenderError> {
        let name = sys
            .metadata
            .name
            .clone()
            .ok_or(RenderError::MissingMetadata("metadata.name"))?;
        let ns = sys
            .metadata
            .namespace
            .clone()
            .ok_or(RenderError::MissingMetadata("metadata.namespace"))?;
        let owner = sys
            .controller_owner_ref(&())
            .ok_or(RenderError::MissingMetadata("metadata.uid"))?;
        Ok(Self {
            sys,
            ns,
            names: Names::new(&name),
            facts,
            images: facts.default_images.resolve(&sys.spec),
            owner: serde_json::to_value(owner).expect("owner refs serialize"),
        })
    }

    pub fn system(&self) -> &str {
        &self.names.system
    }

    /// Metadata of an owned child (garbage-collected with the OvuSystem).
    pub fn meta(&self, name: &str, c: Component) -> Value {
        json!({
            "name": name,
            "namespace": self.ns,
            "labels": names::labels(self.system(), c),
            "ownerReferences": [self.owner],
        })
    }

    /// Metadata of a child that must outlive the OvuSystem (data volumes): no owner reference.
    pub fn meta_unowned(&self, name: &str, c: Component) -> Value {
        json!({
            "name": name,
            "namespace": self.ns,
            "labels": names::labels(self.system(), c),
        })
    }

    pub fn child(&self, kind: Kind, name: &str, c: Component, body: Value) -> Child {
        self.child_with_meta(kind, name, self.meta(name, c), body, false)
    }

    pub fn child_with_meta(
        &self,
        kind: Kind,
        name: &str,
        meta: Value,
        body: Value,
        create_only: bool,
    ) -> Child {
        let ar = kind.api_resource();
        let mut object = json!({
            "apiVersion": ar.api_version,
            "kind": ar.kind,
            "metadata": meta,
        });
        if let (Value::Object(o), Value::Object(b)) = (&mut object, body) {
            o.extend(b);
        }
        Child {
            kind,
            name: name.to_string(),
            object,
            create_only,
        }
    }

    pub fn tls_on(&self) -> bool {
        self.sys.spec.frontend.tls.mode.enabled()
    }

    /// The Secret nginx reads its certificate from, when TLS is on.
    pub fn tls_secret_name(&self) -> Option<String> {
        match self.sys.spec.frontend.tls.mode {
            TlsMode::Disabled => None,
            TlsMode::Secret => self.sys.spec.frontend.tls.secret_name.clone(),
            TlsMode::SelfSigned | TlsMode::CertManager => Some(self.names.tls_secret()),
        }
    }

    /// The port browsers reach the system on, for the scheme in use (HTTPS with TLS, else
    /// HTTP): a fixed NodePort when the frontend is a NodePort Service (`make up`: 30443),
    /// otherwise the Service port (a LoadBalancer's port; with ClusterIP, the port an ingress
    /// in front is expected to keep). A NodePort that Kubernetes chooses is not known here:
    /// such a system should fix `httpsNodePort` or list its origin in `corsOrigins`.
    pub fn public_port(&self) -> u16 {
        let e = &self.sys.spec.frontend.exposure;
        let tls = self.tls_on();
        let (service, node) = if tls {
            (e.https_port, e.https_node_port)
        } else {
            (e.http_port, e.http_node_port)
        };
        let port = match (e.type_, node) {
            (ExposureType::NodePort, Some(p)) => p,
            _ => service,
        };
        u16::try_from(port).unwrap_or(if tls { 443 } else { 80 })
    }

    /// Public URL (the browser's origin) of a site (`ulm`, `aam`, `api`), port included when
    /// it is not the scheme's default. CORS, mail links and `status.endpoints` all use it.
    pub fn site_url(&self, site: &str) -> String {
        nginx::site_origin(
            self.tls_on(),
            site,
            &self.sys.spec.domain,
            self.public_port(),
        )
    }
}

/// Build every desired child (except the generated Secrets and the TLS material, which are
/// made once by `secrets.rs` and `tls.rs`, never by a pure function).
pub fn build(sys: &OvuSystem, facts: &Facts) -> Result<Desired, RenderError> {
    let ctx = Ctx::new(sys, facts)?;
    let mut d = Desired::default();
    d.database.extend(database::render(&ctx));
    d.database.extend(backup::render(&ctx));
    d.database.push(netpol::database(&ctx));
    d.database.extend(netpol::egress_policies(&ctx));
    d.backend.extend(backend::render(&ctx));
    d.backend.push(netpol::backend(&ctx));
    d.frontend.extend(frontend::render(&ctx));
    d.frontend.push(netpol::frontend(&ctx));
    d.monitoring.extend(monitoring::render(&ctx));
    Ok(d)
}

/// A stable short hash of some text, for pod-template annotations.
pub fn short_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    names::hex_prefix(&h.finalize(), 16)
}
