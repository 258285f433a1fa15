//! The OvuSystem API: `ovu.co.il/v1alpha1`, kind `OvuSystem`.
//!
//! What flows through this crate: a user's YAML → [`OvuSystemSpec`] (with every default filled
//! in by the API server from the generated schema) → the operator's renderers. The operator
//! writes back [`OvuSystemStatus`].
//!
//! Validation lives in two places that say the same thing:
//! - the generated CRD schema (OpenAPI bounds + CEL `x-kubernetes-validations`), so the API
//!   server rejects a bad spec with a readable message before the operator sees it;
//! - [`OvuSystemSpec::validate`], the same rules in Rust, so the operator can report a spec that
//!   slipped past an older CRD as a condition instead of rendering it.
//!
//! Every value that can reach a rendered file (nginx config, SQL, shell) is constrained to a
//! character set that cannot escape its context (see [`rules`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod examples;
pub mod names;
pub mod rules;
mod validate;

pub use validate::{ValidationError, ValidationErrors};

/// `apiVersion` of an OvuSystem (what `kube::Resource::api_version` says, as a constant for
/// JSON written by hand).
pub const API_VERSION: &str = "ovu.co.il/v1alpha1";

/// The annotation that asks for an on-demand backup: set it to any new value.
pub const BACKUP_NOW_ANNOTATION: &str = "ovu.co.il/backup-now";

/// One OVU system: the frontend (nginx + both web apps), the backend (ULM and AAM) and the
/// database tier (PostgreSQL + Redis + backups), each pinned to nodes labelled with its tier.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ovu.co.il",
    version = "v1alpha1",
    kind = "OvuSystem",
    namespaced,
    shortname = "ovu",
    status = "OvuSystemStatus",
    doc = "An OVU system: ULM, AAM, their web apps, PostgreSQL, Redis and backups on three labelled tiers.",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Last Backup","type":"date","jsonPath":".status.backup.lastSuccessTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 40 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')").message(rules::MSG_SYSTEM_NAME)
)]
#[serde(rename_all = "camelCase")]
pub struct OvuSystemSpec {
    /// The public DNS domain. The system serves `ulm.<domain>`, `aam.<domain>`,
    /// `api.<domain>`, and redirects `<domain>` and `www.<domain>` to `ulm.<domain>`.
    /// Lowercase letters, digits, hyphens and dots, e.g. `ovu.co.il`.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DOMAIN, "message": rules::MSG_DOMAIN}]))]
    pub domain: String,

    /// Where each tier runs: every pod gets a nodeSelector `<nodeLabel>=<tier>` and tolerates
    /// a NoSchedule taint with the same key and value.
    #[serde(default)]
    pub placement: Placement,

    /// The frontend tier: nginx serving both web apps and proxying `/api/`.
    #[serde(default)]
    pub frontend: Frontend,

    /// The backend tier: the ULM and AAM services.
    #[serde(default)]
    pub backend: Backend,

    /// The database tier: PostgreSQL, Redis and backups.
    #[serde(default)]
    pub database: Database,

    /// What happens to data when the OvuSystem is deleted. `Retain` (default) keeps the
    /// PostgreSQL volume and the backup volume; `Delete` removes them too.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Stop reconciling: the operator changes nothing until this is false again (status still
    /// says it is paused).
    #[serde(default)]
    pub paused: bool,

    /// How requests reach the services.
    #[serde(default, skip_serializing_if = "Network::is_empty")]
    pub network: Network,

    /// Outgoing mail: ULM's e-mail verification and password-reset links go out through this
    /// SMTP server. Without it ULM keeps every mail queued (nothing is lost; it goes out once
    /// mail is configured) and logs that mail is not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<Mail>,

    /// Sign-in security policy of ULM and AAM.
    #[serde(default)]
    pub security: Security,

    /// Prometheus monitoring of this system's services (needs prometheus-operator).
    #[serde(default, skip_serializing_if = "Monitoring::is_default")]
    pub monitoring: Monitoring,

    /// Secrets of type `kubernetes.io/dockerconfigjson` in this namespace that every pod of
    /// the system (PostgreSQL, Redis, ULM, AAM, nginx, backup and restore Jobs) uses to pull
    /// its images from a registry that needs credentials, e.g. the one `make push` filled.
    /// The same as a pod's `imagePullSecrets`; a Secret that does not exist fails the pull and
    /// the system's status names the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub image_pull_secrets: Vec<ImagePullSecret>,
}

/// A Secret that holds registry credentials (`kubectl create secret docker-registry`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePullSecret {
    /// The Secret's name, in the system's namespace.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_PULL_SECRET}]))]
    pub name: String,
}

/// Prometheus monitoring of the system's services.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Monitoring {
    /// Create a PodMonitor (`monitoring.coreos.com/v1`, prometheus-operator's API) that has
    /// Prometheus scrape `/metrics` of the ULM and AAM pods (HTTP request counts and
    /// latencies by route and status). Owned by the OvuSystem; deleted when this turns false.
    /// When the cluster does not serve the PodMonitor API the system still reconciles and the
    /// `MonitoringReady` condition says so. Default false.
    #[serde(default)]
    pub pod_monitor: bool,
    /// The namespace Prometheus runs in. With `podMonitor`, the NetworkPolicy
    /// `<name>-monitoring` lets its pods (label `app.kubernetes.io/name: prometheus`, as
    /// prometheus-operator sets it) reach the ULM and AAM ports. Default `monitoring`.
    #[serde(default = "default_prometheus_namespace")]
    #[schemars(length(min = 1, max = 63))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_LABEL, "message": rules::MSG_PROMETHEUS_NAMESPACE}]))]
    pub prometheus_namespace: String,
}

fn default_prometheus_namespace() -> String {
    "monitoring".into()
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            pod_monitor: false,
            prometheus_namespace: default_prometheus_namespace(),
        }
    }
}

impl Monitoring {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Sign-in security policy of ULM and AAM.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    /// Whether administrators must use multi-factor authentication (a TOTP authenticator app),
    /// set as `ULM_ADMIN_MFA` and `AAM_ADMIN_MFA`. `Required` (default): an account holding any
    /// permission beyond managing its own API keys, signed in without a second factor, can
    /// only enrol in MFA (the AAM panel walks it through) — every other request, AAM's
    /// included, is refused with `mfa_required`; the bootstrap admin enrols at first sign-in.
    /// `Optional`: administrators may sign in with a password alone.
    #[serde(default)]
    pub admin_mfa: AdminMfa,
}

/// Whether administrators must use multi-factor authentication.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AdminMfa {
    /// Administrators must enrol in MFA and sign in with it.
    #[default]
    Required,
    /// Administrators may sign in with a password alone.
    Optional,
}

impl AdminMfa {
    /// The services' `ULM_ADMIN_MFA` / `AAM_ADMIN_MFA` value.
    pub fn env_value(self) -> &'static str {
        match self {
            AdminMfa::Required => "required",
            AdminMfa::Optional => "optional",
        }
    }
}

/// How ULM sends mail.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mail {
    /// The SMTP server ULM submits mail to.
    pub smtp: Smtp,

    /// The sender address of every mail, e.g. `no-reply@ovu.co.il` (a bare address; the
    /// server may have to be allowed to send for its domain).
    #[schemars(length(min = 3, max = 254))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_MAIL_ADDRESS, "message": rules::MSG_MAIL_ADDRESS}]))]
    pub from: String,

    /// A Secret in this namespace with the SMTP login: key `username` (given to ULM as
    /// `SMTP_USERNAME`) and key `password` (mounted as a file, `SMTP_PASSWORD_FILE`, never an
    /// environment variable). Unset: ULM does not authenticate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_MAIL_SECRET}]))]
    pub credentials_secret: Option<String>,
}

/// An SMTP endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Smtp {
    /// Host name or IP address, e.g. `smtp.example.com`, or `mailpit` for a Service in this
    /// namespace. With TLS the certificate must name this host.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_HOST, "message": rules::MSG_SMTP_HOST}]))]
    pub host: String,

    /// Port (1–65535). Unset: 25 with `tls: None`, 587 with `StartTLS`, 465 with `TLS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,

    /// `StartTLS` (default): upgrade with STARTTLS and refuse to send without it. `TLS`:
    /// TLS from the first byte (port 465). `None`: plain SMTP, only for a relay on a trusted
    /// network (a test mail server in the cluster).
    #[serde(default)]
    pub tls: SmtpTlsMode,
}

/// How the SMTP connection is protected.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SmtpTlsMode {
    /// Plain SMTP, no encryption.
    None,
    /// STARTTLS, required.
    #[default]
    StartTLS,
    /// Implicit TLS.
    TLS,
}

impl Smtp {
    /// The port ULM connects to: `port`, or the usual one for the TLS mode (what ULM itself
    /// defaults `SMTP_PORT` to).
    pub fn effective_port(&self) -> i32 {
        self.port.unwrap_or(match self.tls {
            SmtpTlsMode::None => 25,
            SmtpTlsMode::StartTLS => 587,
            SmtpTlsMode::TLS => 465,
        })
    }
}

impl SmtpTlsMode {
    /// ULM's `SMTP_TLS` value.
    pub fn as_env(self) -> &'static str {
        match self {
            SmtpTlsMode::None => "none",
            SmtpTlsMode::StartTLS => "starttls",
            SmtpTlsMode::TLS => "tls",
        }
    }
}

/// How requests reach the services.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Extra addresses (IPs or CIDRs no wider than /8 for IPv4 or /32 for IPv6) whose
    /// `X-Forwarded-For` header ULM and AAM believe (`TRUSTED_PROXIES`). The operator already
    /// trusts the pod networks (`node.spec.podCIDRs`) of the frontend-tier nodes (nginx) and,
    /// for ULM, of the backend-tier nodes (AAM), so this is only needed for proxies it cannot
    /// see, such as a CNI without per-node pod CIDRs. Only list networks whose hosts cannot
    /// be reached directly by untrusted clients: a trusted address can claim any client IP.
    /// At most 32 entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(extend("items" = {"type": "string", "maxLength": 49, "x-kubernetes-validations": [
        {"rule": rules::CEL_IP_OR_CIDR, "message": rules::MSG_IP_OR_CIDR},
        {"rule": rules::CEL_PROXY_WIDTH, "message": rules::MSG_PROXY_WIDTH}
    ]}))]
    pub trusted_proxies: Vec<String>,
}

impl Network {
    pub fn is_empty(&self) -> bool {
        self.trusted_proxies.is_empty()
    }
}

/// Node placement of the three tiers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// The node label key whose value names a tier (`frontend`, `backend` or `database`).
    #[serde(default = "default_node_label")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_LABEL_KEY, "message": rules::MSG_LABEL_KEY}]))]
    pub node_label: String,
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            node_label: default_node_label(),
        }
    }
}

/// The frontend tier.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Frontend {
    /// The web image: nginx plus the built ULM and AAM web apps. Unset: the operator's
    /// default (its release's image), so upgrading the operator rolls this tier forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_IMAGE, "message": rules::MSG_IMAGE}]))]
    pub image: Option<String>,

    /// Number of nginx pods (1–20). More than one adds a PodDisruptionBudget.
    #[serde(default = "default_two")]
    #[schemars(range(min = 1, max = 20))]
    pub replicas: i32,

    /// How the frontend Service is exposed.
    #[serde(default)]
    pub exposure: Exposure,

    /// TLS for all the sites.
    #[serde(default)]
    pub tls: Tls,

    /// Extra origins allowed to call the APIs from a browser (CORS), e.g.
    /// `https://portal.example.com`. The system's own sites are always allowed.
    #[serde(default)]
    #[schemars(length(max = 16))]
    #[schemars(extend("items" = {"type": "string", "maxLength": 255, "x-kubernetes-validations": [{"rule": rules::CEL_ORIGIN, "message": rules::MSG_ORIGIN}]}))]
    pub cors_origins: Vec<String>,

    /// CPU and memory for each nginx pod.
    #[serde(default = "Resources::frontend")]
    pub resources: Resources,

    /// How many API requests nginx takes from one client address; a client over the limit
    /// gets a 429 in the error shape with `Retry-After`.
    #[serde(default, skip_serializing_if = "RateLimits::is_default")]
    pub rate_limits: RateLimits,

    /// Development only (Tilt's `live_update`, see the README's "Develop with Tilt"): nginx
    /// serves the web apps from a writable copy of the image's bundle in the pod (an emptyDir
    /// filled when nginx starts), so files synced into a running pod are served at once. Off
    /// (the default, and what production wants): the apps are served from the image's
    /// read-only filesystem, and nothing in the pod can change them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub writable_web_root: bool,
}

impl Default for Frontend {
    fn default() -> Self {
        Self {
            image: None,
            replicas: 2,
            exposure: Exposure::default(),
            tls: Tls::default(),
            cors_origins: Vec::new(),
            resources: Resources::frontend(),
            rate_limits: RateLimits::default(),
            writable_web_root: false,
        }
    }
}

/// Requests per second nginx accepts from one client address (`$remote_addr`: the PROXY
/// header's client behind a trusted load balancer), each with a burst it lets through at once
/// above that rate. The defaults suit people signing in from their own addresses; raise the
/// sign-in rate when many sign in from behind one address (a company's NAT, a proxy that sends
/// no PROXY header). ULM's own limits (per account and per address) and its lockout still
/// apply behind nginx.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimits {
    /// Sign-in and registration requests (`/api/v1/auth/login` and `register`, ULM's and
    /// AAM's) per second (1–1000, default 1).
    #[serde(default = "RateLimits::default_sign_in_per_second")]
    #[schemars(range(min = 1, max = 1000))]
    pub sign_in_per_second: i32,

    /// Sign-in requests let through at once above that rate (0–1000, default 2).
    #[serde(default = "RateLimits::default_sign_in_burst")]
    #[schemars(range(min = 0, max = 1000))]
    pub sign_in_burst: i32,

    /// Every other API request, per second (1–10000, default 10).
    #[serde(default = "RateLimits::default_api_per_second")]
    #[schemars(range(min = 1, max = 10000))]
    pub api_per_second: i32,

    /// API requests let through at once above that rate (0–10000, default 20).
    #[serde(default = "RateLimits::default_api_burst")]
    #[schemars(range(min = 0, max = 10000))]
    pub api_burst: i32,
}

impl RateLimits {
    fn default_sign_in_per_second() -> i32 {
        1
    }
    fn default_sign_in_burst() -> i32 {
        2
    }
    fn default_api_per_second() -> i32 {
        10
    }
    fn default_api_burst() -> i32 {
        20
    }
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_in_per_second: Self::default_sign_in_per_second(),
            sign_in_burst: Self::default_sign_in_burst(),
            api_per_second: Self::default_api_per_second(),
            api_burst: Self::default_api_burst(),
        }
    }
}

/// How the frontend Service is reachable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": rules::CEL_NODE_PORTS, "message": "exposure.httpNodePort and httpsNodePort are only allowed when exposure.type is NodePort"}
]))]
pub struct Exposure {
    /// The Service type: `ClusterIP` (default, put your own ingress in front), `NodePort` or
    /// `LoadBalancer`.
    #[serde(default, rename = "type")]
    pub type_: ExposureType,

    /// Service port for HTTP.
    #[serde(default = "default_http_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub http_port: i32,

    /// Service port for HTTPS (unused when TLS is Disabled).
    #[serde(default = "default_https_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub https_port: i32,

    /// Fixed node port for HTTP when type is NodePort (30000–32767); chosen by Kubernetes when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub http_node_port: Option<i32>,

    /// Fixed node port for HTTPS when type is NodePort (30000–32767); chosen by Kubernetes when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub https_node_port: Option<i32>,

    /// The load balancer in front of the frontend speaks PROXY protocol (v1 or v2) on both
    /// ports: nginx then requires the PROXY header on every connection and takes the client
    /// address from it, but only from `trustedCidrs`. Leave it out when nothing in front
    /// speaks PROXY protocol (a connection without the header is refused when it is set).
    /// NodePort and LoadBalancer Services always keep the client's source address
    /// (`externalTrafficPolicy: Local`), so only the nodes running nginx answer on the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
}

/// PROXY protocol settings of the frontend.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyProtocol {
    /// Addresses (IPs or CIDRs no wider than /8 or /32) of the load balancers whose PROXY
    /// header nginx believes, e.g. the load balancer subnet. From any other address the
    /// connection's own source counts. 1–32 entries.
    #[schemars(length(min = 1, max = 32))]
    #[schemars(extend("items" = {"type": "string", "maxLength": 49, "x-kubernetes-validations": [
        {"rule": rules::CEL_IP_OR_CIDR, "message": rules::MSG_PP_IP_OR_CIDR},
        {"rule": rules::CEL_PROXY_WIDTH, "message": rules::MSG_PP_WIDTH}
    ]}))]
    pub trusted_cidrs: Vec<String>,
}

impl Default for Exposure {
    fn default() -> Self {
        Self {
            type_: ExposureType::ClusterIP,
            http_port: 80,
            https_port: 443,
            http_node_port: None,
            https_node_port: None,
            proxy_protocol: None,
        }
    }
}

/// Kubernetes Service type of the frontend.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ExposureType {
    /// Reachable inside the cluster only.
    #[default]
    ClusterIP,
    /// Reachable on every node's IP at a node port.
    NodePort,
    /// A cloud load balancer.
    LoadBalancer,
}

/// TLS settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.mode != 'Secret' || has(self.secretName)", "message": "tls.secretName is required when tls.mode is Secret"},
    {"rule": "self.mode == 'Secret' || !has(self.secretName)", "message": "tls.secretName is only allowed when tls.mode is Secret"},
    {"rule": "self.mode != 'CertManager' || has(self.issuerRef)", "message": "tls.issuerRef is required when tls.mode is CertManager"},
    {"rule": "self.mode == 'CertManager' || !has(self.issuerRef)", "message": "tls.issuerRef is only allowed when tls.mode is CertManager"}
]))]
pub struct Tls {
    /// `SelfSigned` (default): the operator runs its own CA and renews the certificate at two
    /// thirds of its lifetime. `CertManager`: a cert-manager Certificate from `issuerRef`.
    /// `Secret`: a kubernetes.io/tls Secret you provide (`secretName`). `Disabled`: HTTP only.
    #[serde(default)]
    pub mode: TlsMode,

    /// The cert-manager issuer; required when mode is CertManager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,

    /// Name of a kubernetes.io/tls Secret in this namespace; required when mode is Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_SECRET_NAME}]))]
    pub secret_name: Option<String>,
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            mode: TlsMode::SelfSigned,
            issuer_ref: None,
            secret_name: None,
        }
    }
}

/// Where the certificate comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TlsMode {
    /// Operator-generated CA and leaf certificate.
    #[default]
    SelfSigned,
    /// A cert-manager Certificate.
    CertManager,
    /// A user-provided kubernetes.io/tls Secret.
    Secret,
    /// No TLS: plain HTTP.
    Disabled,
}

/// A cert-manager issuer reference.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    /// Issuer name, e.g. `letsencrypt`.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_ISSUER_NAME}]))]
    pub name: String,

    /// `ClusterIssuer` (default) or `Issuer` (in this namespace).
    #[serde(default)]
    pub kind: IssuerKind,

    /// API group of the issuer.
    #[serde(default = "default_issuer_group")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": "issuerRef.group must be an API group such as cert-manager.io"}]))]
    pub group: String,
}

/// cert-manager issuer kind.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum IssuerKind {
    /// Cluster-wide issuer.
    #[default]
    ClusterIssuer,
    /// Issuer in the OvuSystem's namespace.
    Issuer,
}

/// The backend tier.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    /// The User Login Manager service (port 8001).
    #[serde(default = "App::ulm")]
    pub ulm: App,
    /// The Admin Area Manager service (port 8002).
    #[serde(default = "App::aam")]
    pub aam: App,
}

/// One backend service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// Container image. Changing it rolls the Deployment; migrations run before the new
    /// version serves. Unset: the operator's default (its release's image), so upgrading the
    /// operator rolls the service forward; set it to pin a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_IMAGE, "message": rules::MSG_IMAGE}]))]
    pub image: Option<String>,

    /// Number of pods (1–20). More than one adds a PodDisruptionBudget.
    #[serde(default = "default_two")]
    #[schemars(range(min = 1, max = 20))]
    pub replicas: i32,

    /// CPU and memory for each pod.
    #[serde(default = "Resources::backend")]
    pub resources: Resources,
}

impl App {
    fn ulm() -> Self {
        Self {
            image: None,
            replicas: 2,
            resources: Resources::backend(),
        }
    }
    fn aam() -> Self {
        Self {
            image: None,
            replicas: 2,
            resources: Resources::backend(),
        }
    }
}

impl Default for Backend {
    fn default() -> Self {
        Self {
            ulm: App::ulm(),
            aam: App::aam(),
        }
    }
}

/// CPU and memory requests and limits of one container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// What the scheduler reserves.
    pub requests: ResourceAmounts,
    /// The most the container may use.
    pub limits: ResourceAmounts,
}

/// A CPU and a memory quantity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAmounts {
    /// CPU quantity, e.g. `100m` or `1`.
    #[schemars(length(min = 1, max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_QUANTITY, "message": rules::MSG_QUANTITY}]))]
    pub cpu: String,
    /// Memory quantity, e.g. `256Mi`.
    #[schemars(length(min = 1, max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_QUANTITY, "message": rules::MSG_QUANTITY}]))]
    pub memory: String,
}

impl Resources {
    fn new(rc: &str, rm: &str, lc: &str, lm: &str) -> Self {
        Self {
            requests: ResourceAmounts {
                cpu: rc.into(),
                memory: rm.into(),
            },
            limits: ResourceAmounts {
                cpu: lc.into(),
                memory: lm.into(),
            },
        }
    }
    /// Default for an nginx pod.
    pub fn frontend() -> Self {
        Self::new("50m", "64Mi", "500m", "256Mi")
    }
    /// Default for a ULM or AAM pod.
    pub fn backend() -> Self {
        Self::new("100m", "128Mi", "1", "512Mi")
    }
    /// Default for PostgreSQL.
    pub fn postgres() -> Self {
        Self::new("250m", "512Mi", "2", "2Gi")
    }
    /// Default for Redis.
    pub fn redis() -> Self {
        Self::new("50m", "128Mi", "500m", "512Mi")
    }
}

/// The database tier.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": rules::CEL_RESTORE_ONCE, "message": rules::MSG_RESTORE_ONCE}
]))]
pub struct Database {
    /// PostgreSQL (one pod; `ulm_db` owned by `ulm_user`, `aam_db` by `aam_user`).
    #[serde(default)]
    pub postgres: Postgres,
    /// Redis (sessions, rate limits), password-protected.
    #[serde(default)]
    pub redis: Redis,
    /// Scheduled `pg_dump` backups of both databases.
    #[serde(default)]
    pub backup: Backup,
    /// Bootstrap this new system's databases from a backup (of another system, or of an
    /// earlier system of the same name) before ULM and AAM first start. Runs once; only into
    /// empty databases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
}

/// Where a new system's data comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": rules::CEL_RESTORE_SOURCE, "message": rules::MSG_RESTORE_SOURCE}
]))]
pub struct Restore {
    /// The PersistentVolumeClaim in this namespace that holds the backups: `<system>-backups`
    /// of the system they were taken from (kept after that system was deleted with
    /// `deletionPolicy: Retain`). Exactly one of `fromClaim` and `fromBucket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_RESTORE_CLAIM}]))]
    pub from_claim: Option<String>,
    /// The off-site bucket another system's `backup.destination` uploaded to: the source
    /// cluster may be gone. Needs the age private key, from a Secret made for the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_bucket: Option<RestoreBucket>,
    /// Which backup: `latest` (the newest complete one, default) or a backup's name, the
    /// folder the backup Job made (e.g. `20261126T020000Z`).
    #[serde(default = "default_latest")]
    #[schemars(length(min = 1, max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_BACKUP_NAME, "message": rules::MSG_BACKUP_NAME}]))]
    pub backup: String,
}

/// PostgreSQL settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Postgres {
    /// PostgreSQL 16 image: the official `postgres:16` or a compatible Debian build. Unset:
    /// the operator's default (its release's image), so upgrading the operator rolls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_IMAGE, "message": rules::MSG_IMAGE}]))]
    pub image: Option<String>,
    /// The data volume. Fixed once created.
    #[serde(default = "Storage::postgres")]
    pub storage: Storage,
    /// CPU and memory.
    #[serde(default = "Resources::postgres")]
    pub resources: Resources,
}

impl Default for Postgres {
    fn default() -> Self {
        Self {
            image: None,
            storage: Storage::postgres(),
            resources: Resources::postgres(),
        }
    }
}

/// A persistent volume request. Both fields are fixed once the volume exists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": rules::CEL_STORAGE_IMMUTABLE, "message": "storage.size and storage.storageClassName cannot change once the volume exists"}
]))]
pub struct Storage {
    /// Volume size, e.g. `10Gi`.
    #[schemars(length(min = 1, max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_QUANTITY, "message": rules::MSG_QUANTITY}]))]
    pub size: String,
    /// StorageClass; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": "storageClassName must be a DNS subdomain name"}]))]
    pub storage_class_name: Option<String>,
}

impl Storage {
    fn postgres() -> Self {
        Self {
            size: "10Gi".into(),
            storage_class_name: None,
        }
    }
    fn backup() -> Self {
        Self {
            size: "20Gi".into(),
            storage_class_name: None,
        }
    }
}

/// Redis settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Redis {
    /// Redis 7 image: the official `redis:7` or a compatible Debian build. Unset: the
    /// operator's default (its release's image), so upgrading the operator rolls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_IMAGE, "message": rules::MSG_IMAGE}]))]
    pub image: Option<String>,
    /// Redis `maxmemory`, e.g. `256mb` (digits then kb, mb or gb).
    #[serde(default = "default_max_memory")]
    #[schemars(length(min = 1, max = 16))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_REDIS_MEMORY, "message": rules::MSG_REDIS_MEMORY}]))]
    pub max_memory: String,
    /// CPU and memory.
    #[serde(default = "Resources::redis")]
    pub resources: Resources,
}

impl Default for Redis {
    fn default() -> Self {
        Self {
            image: None,
            max_memory: default_max_memory(),
            resources: Resources::redis(),
        }
    }
}

/// Scheduled backups.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// When to back up: a 5-field cron expression (minute hour day-of-month month
    /// day-of-week), in the cluster's time zone. Default `0 2 * * *`.
    #[serde(default = "default_schedule")]
    #[schemars(length(min = 9, max = 100))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_CRON, "message": rules::MSG_CRON}]))]
    pub schedule: String,
    /// How many backups to keep (1–365); older ones are deleted after each successful backup.
    #[serde(default = "default_retain")]
    #[schemars(range(min = 1, max = 365))]
    pub retain: i32,
    /// The backup volume. Fixed once created.
    #[serde(default = "Storage::backup")]
    pub storage: Storage,
    /// Stop scheduled backups (on-demand backups still run).
    #[serde(default)]
    pub suspend: bool,
    /// Prove each backup restores: after the dump, restore it into a scratch database on
    /// the same PostgreSQL server, read every table, then drop the scratch database. A backup
    /// that does not restore fails its Job and is not kept. Needs room on the PostgreSQL
    /// volume for a second copy of the data while it runs. Default true.
    #[serde(default = "default_true")]
    pub verify: bool,
    /// Also keep each backup off the cluster: once written (and verified, with `verify`) it is
    /// encrypted with age to `recipientSecret`'s public key and uploaded to an S3 bucket, where
    /// `retain` applies too. Unset: backups stay on the backup volume only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<BackupDestination>,
}

impl Default for Backup {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            retain: default_retain(),
            storage: Storage::backup(),
            suspend: false,
            verify: true,
            destination: None,
        }
    }
}

/// An S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph RGW, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": rules::CEL_ONE_CA, "message": rules::MSG_ONE_CA}
]))]
pub struct S3Bucket {
    /// The S3 server's URL: `https://host[:port]` (or `http://`: the backups are encrypted and
    /// S3 signatures do not reveal the secret key, but names and sizes are readable on the way).
    #[schemars(length(min = 8, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_S3_ENDPOINT, "message": rules::MSG_S3_ENDPOINT}]))]
    pub endpoint: String,
    /// The bucket; it must exist (OVU never creates or deletes buckets).
    #[schemars(length(min = 3, max = 63))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_S3_BUCKET, "message": rules::MSG_S3_BUCKET}]))]
    pub bucket: String,
    /// Folders inside the bucket the backups go to, e.g. `shop/`. Retention only ever
    /// deletes backups in this folder. Default: the bucket's top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_S3_PREFIX, "message": rules::MSG_S3_PREFIX}]))]
    pub prefix: Option<String>,
    /// The region to sign requests for; most S3-compatible servers accept any (default
    /// `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_LABEL, "message": rules::MSG_S3_REGION}]))]
    pub region: Option<String>,
    /// A Secret in this namespace with the access key (mounted into the backup or restore
    /// pod as files, never put in an environment variable).
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_OBJECT_NAME}]))]
    pub credentials_secret: String,
    /// The key of `credentialsSecret` holding the access key ID. Default `access-key-id`.
    #[serde(default = "default_access_key_id_key")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_CONFIG_KEY, "message": rules::MSG_CONFIG_KEY}]))]
    pub access_key_id_key: String,
    /// The key of `credentialsSecret` holding the secret access key. Default `secret-access-key`.
    #[serde(default = "default_secret_access_key_key")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_CONFIG_KEY, "message": rules::MSG_CONFIG_KEY}]))]
    pub secret_access_key_key: String,
    /// A Secret holding the CA certificate (PEM) the server's certificate chains to, for a
    /// private CA; at most one of `caSecret` and `caConfigMap`. Default: the image's CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_OBJECT_NAME}]))]
    pub ca_secret: Option<String>,
    /// A ConfigMap holding that CA certificate instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_OBJECT_NAME}]))]
    pub ca_config_map: Option<String>,
    /// The key of the CA Secret or ConfigMap. Default `ca.crt`.
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_CONFIG_KEY, "message": rules::MSG_CONFIG_KEY}]))]
    pub ca_key: String,
}

/// Where each backup also goes, encrypted: off the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupDestination {
    /// The bucket.
    pub s3: S3Bucket,
    /// A Secret holding the age PUBLIC key (`age1...`, one or more lines) each backup is
    /// encrypted to. The private key stays off the cluster until a restore needs it.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_OBJECT_NAME}]))]
    pub recipient_secret: String,
    /// The key of `recipientSecret`. Default `recipient`.
    #[serde(default = "default_recipient_key")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_CONFIG_KEY, "message": rules::MSG_CONFIG_KEY}]))]
    pub recipient_key: String,
}

/// A restore source in an off-site bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreBucket {
    /// The bucket (and prefix) the source system's `backup.destination` named.
    pub s3: S3Bucket,
    /// A Secret holding the age PRIVATE key (`AGE-SECRET-KEY-1...`) the backups were
    /// encrypted to. Create it for the restore and delete it once the restore completed.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_DNS_SUBDOMAIN, "message": rules::MSG_OBJECT_NAME}]))]
    pub identity_secret: String,
    /// The key of `identitySecret`. Default `identity`.
    #[serde(default = "default_identity_key")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": rules::CEL_CONFIG_KEY, "message": rules::MSG_CONFIG_KEY}]))]
    pub identity_key: String,
}

impl S3Bucket {
    /// The prefix as a folder: empty, or ending in exactly one `/`.
    pub fn folder(&self) -> String {
        match self.prefix.as_deref().map(|p| p.trim_end_matches('/')) {
            None | Some("") => String::new(),
            Some(p) => format!("{p}/"),
        }
    }
    /// The TCP port the endpoint is reached on (explicit, or the scheme's).
    pub fn port(&self) -> i32 {
        let rest = self.endpoint.split_once("://").map_or("", |(_, r)| r);
        match rest.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) {
            Some(p) => p,
            None if self.endpoint.starts_with("http://") => 80,
            None => 443,
        }
    }
    /// Where backup `name` is in the bucket, as status and messages show it.
    pub fn object_url(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.bucket, self.folder())
    }
}

impl Restore {
    /// What is restored, as `status.restore.source` records it: `<fromClaim>/<backup>` or
    /// `s3://<bucket>/<prefix><backup>`.
    pub fn source(&self) -> String {
        match (&self.from_claim, &self.from_bucket) {
            (_, Some(b)) => b.s3.object_url(&self.backup),
            (Some(c), None) => format!("{c}/{}", self.backup),
            (None, None) => format!("(no source)/{}", self.backup),
        }
    }
}

fn default_access_key_id_key() -> String {
    "access-key-id".into()
}
fn default_secret_access_key_key() -> String {
    "secret-access-key".into()
}
fn default_ca_key() -> String {
    "ca.crt".into()
}
fn default_recipient_key() -> String {
    "recipient".into()
}
fn default_identity_key() -> String {
    "identity".into()
}

/// What deleting the OvuSystem does to data.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the PostgreSQL and backup volumes.
    #[default]
    Retain,
    /// Delete the volumes with the system.
    Delete,
}

fn default_node_label() -> String {
    names::DEFAULT_TIER_LABEL.into()
}
fn default_latest() -> String {
    "latest".into()
}
fn default_max_memory() -> String {
    "256mb".into()
}
fn default_schedule() -> String {
    "0 2 * * *".into()
}
fn default_retain() -> i32 {
    7
}
fn default_true() -> bool {
    true
}
fn default_two() -> i32 {
    2
}
fn default_http_port() -> i32 {
    80
}
fn default_https_port() -> i32 {
    443
}
fn default_issuer_group() -> String {
    "cert-manager.io".into()
}

impl Default for IssuerRef {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: IssuerKind::ClusterIssuer,
            group: default_issuer_group(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// status

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OvuSystemStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Progressing, Ready, Degraded, Paused or Invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The bring-up step the operator is on (Database, Backend, Frontend, Done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Why the operator waits, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Ready, DatabaseReady, BackendReady, FrontendReady, CertificateReady, BackupHealthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Replicas and nodes per tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Tiers>,
    /// Public URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// The images the system's pods are set to run: the spec's, or the operator's defaults
    /// for those it leaves out. Ready means every pod runs these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Images>,
    /// The serving certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateStatus>,
    /// Backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,
    /// The restore of `spec.database.restore`, while it runs and once it is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreStatus>,
    /// Health probes of the services, per component (`ulm`, `aam`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<ComponentHealth>,
}

/// Overall phase.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Bringing tiers up or rolling out a change.
    Progressing,
    /// Every tier is ready.
    Ready,
    /// Something that was ready is not, or a step failed.
    Degraded,
    /// `spec.paused` is true.
    Paused,
    /// The spec is invalid; the operator waits for a change.
    Invalid,
}

/// Per-tier replica counts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tiers {
    /// PostgreSQL + Redis.
    pub database: TierStatus,
    /// ULM + AAM.
    pub backend: TierStatus,
    /// nginx.
    pub frontend: TierStatus,
}

/// Ready and desired pods of one tier, and the nodes they run on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierStatus {
    /// Pods ready.
    pub ready: i32,
    /// Pods wanted.
    pub desired: i32,
    /// Nodes running the tier's pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

/// Public URLs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// ULM web app.
    pub ulm: String,
    /// AAM web app.
    pub aam: String,
    /// API documentation host.
    pub api: String,
}

/// The image of each component, resolved: what the spec names, else the operator's default.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Images {
    /// ULM.
    pub ulm: String,
    /// AAM.
    pub aam: String,
    /// nginx and the web apps.
    pub web: String,
    /// PostgreSQL (also the backup and restore Jobs).
    pub postgres: String,
    /// Redis.
    pub redis: String,
}

/// The serving certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// TLS mode in force.
    pub mode: TlsMode,
    /// Secret holding tls.crt and tls.key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Expiry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// When the operator renews it (SelfSigned only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_after: Option<Time>,
}

/// Backups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// Last time the schedule fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// Completion time of the newest successful backup Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_time: Option<Time>,
    /// Name of the newest successful backup Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<String>,
    /// Completion time of the newest successful backup Job that also proved its backup
    /// restores (`spec.database.backup.verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
    /// The last `ovu.co.il/backup-now` value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_requested: Option<String>,
    /// The object the newest successful backup Job uploaded to `backup.destination`:
    /// `s3://<bucket>/<prefix><backup>.tar.age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_uploaded_object: Option<String>,
    /// Its size in bytes (encrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_uploaded_size: Option<i64>,
}

/// Progress of `spec.database.restore`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// `<fromClaim>/<backup>` or `s3://<bucket>/<prefix><backup>` as requested.
    pub source: String,
    /// When the restore Job finished; ULM and AAM start only after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_time: Option<Time>,
}

/// One health probe result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentHealth {
    /// `ulm` or `aam`.
    pub component: String,
    /// `Healthy`, `Unhealthy` or `Unreachable`.
    pub status: String,
    /// Round trip of the readiness probe in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// When the probe ran.
    pub checked_at: Time,
    /// Detail when not healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TlsMode {
    /// Whether the sites are served over HTTPS.
    pub fn enabled(self) -> bool {
        self != TlsMode::Disabled
    }
}

/// The CRD as YAML, exactly as committed in `crds/ovusystem.yaml`.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = OvuSystem::crd();
    let body = serde_yaml::to_string(&crd).expect("a CRD always serializes");
    format!("# Generated by `ovu-operator crd` from crds/src/lib.rs; do not edit.\n{body}")
}

/// Whether a backup Job proves its backup restores: its pod runs the backup script with
/// `VERIFY=true` (read from the Job itself, so a Job made before `verify` changed is judged as
/// it ran). Shared by the operator (status) and `kubectl ovu` (listing), which must agree.
pub fn job_verifies(job: &k8s_openapi::api::batch::v1::Job) -> bool {
    job.spec
        .iter()
        .flat_map(|s| s.template.spec.iter())
        .flat_map(|p| p.containers.iter())
        .flat_map(|c| c.env.iter().flatten())
        .any(|e| e.name == "VERIFY" && e.value.as_deref() == Some("true"))
}
