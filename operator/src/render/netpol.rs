//! NetworkPolicies with the meaning of the seed's ufw rules: the database accepts 5432/6379
//! only from backend pods (and the backup and restore Jobs), the backend accepts 8001/8002 only from
//! frontend pods (plus AAM → ULM and the operator's health probes), the frontend accepts
//! HTTP/HTTPS from anywhere.
//!
//! Egress is closed the same way, so a compromised pod cannot wander: a default-deny covers
//! every pod of the system (only the system's own pods, selected by instance label, so a
//! namespace shared with other workloads is not broken by it), and each component gets back
//! exactly what it needs — DNS everywhere; nginx → ULM/AAM; ULM → PostgreSQL and Redis (and
//! the SMTP port of `spec.mail`, when set);
//! AAM → PostgreSQL, Redis, ULM and HTTPS (the Kubernetes API it reads the system's status
//! from, whose address differs per cluster, and its alert webhook); backup and restore Jobs →
//! PostgreSQL (and the port of the S3 server in `backup.destination` / `restore.fromBucket`).
//! PostgreSQL and Redis get no egress at all. In CertManager mode nginx may also reach
//! cert-manager's HTTP-01 solver pods (port 8089) in the namespace, to answer challenges.

use serde_json::{Value, json};

use super::names::{Component, Tier, ports};
use super::{Child, Ctx, Kind};

pub(crate) fn pods(ctx: &Ctx, components: &[Component]) -> Value {
    json!({"matchExpressions": [
        {"key": "app.kubernetes.io/instance", "operator": "In", "values": [ctx.system()]},
        {"key": "app.kubernetes.io/component", "operator": "In",
         "values": components.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
    ]})
}

fn policy(ctx: &Ctx, tier: Tier, c: Component, selected: &[Component], ingress: Value) -> Child {
    let name = ctx.names.netpol(tier);
    ctx.child(
        Kind::NetworkPolicy,
        &name,
        c,
        json!({"spec": {
            "podSelector": pods(ctx, selected),
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        }}),
    )
}

pub fn database(ctx: &Ctx) -> Child {
    policy(
        ctx,
        Tier::Database,
        Component::Postgres,
        &[Component::Postgres, Component::Redis],
        json!([{
            "from": [{"podSelector": pods(ctx, &[Component::Ulm, Component::Aam, Component::Backup, Component::Restore])}],
            "ports": [
                {"protocol": "TCP", "port": ports::POSTGRES},
                {"protocol": "TCP", "port": ports::REDIS},
            ],
        }]),
    )
}

pub fn backend(ctx: &Ctx) -> Child {
    let op_ns = if ctx.facts.operator_namespace.is_empty() {
        "ovu-system"
    } else {
        ctx.facts.operator_namespace.as_str()
    };
    policy(
        ctx,
        Tier::Backend,
        Component::Ulm,
        &[Component::Ulm, Component::Aam],
        json!([{
            "from": [
                {"podSelector": pods(ctx, &[Component::Frontend, Component::Aam])},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": op_ns}},
                 "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ovu-operator"}}},
            ],
            "ports": [
                {"protocol": "TCP", "port": ports::ULM},
                {"protocol": "TCP", "port": ports::AAM},
            ],
        }]),
    )
}

pub fn frontend(ctx: &Ctx) -> Child {
    policy(
        ctx,
        Tier::Frontend,
        Component::Frontend,
        &[Component::Frontend],
        json!([{
            "ports": [
                {"protocol": "TCP", "port": ports::NGINX_HTTP},
                {"protocol": "TCP", "port": ports::NGINX_HTTPS},
            ],
        }]),
    )
}

/// DNS to wherever the cluster's resolver runs. A NetworkPolicy port is matched after the
/// Service's translation, i.e. on the pod's port, and CoreDNS often listens elsewhere than
/// 53 (1053 on this project's test cluster, 5353 on others): so port 53 anywhere (node-local
/// caches, resolvers outside the cluster), plus any port on the cluster DNS pods themselves
/// (the `k8s-app: kube-dns` label CoreDNS carries in kubeadm, kind and the managed clouds).
fn dns() -> [Value; 2] {
    [
        json!({"ports": [
            {"protocol": "UDP", "port": 53},
            {"protocol": "TCP", "port": 53},
        ]}),
        json!({"to": [{
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }]}),
    ]
}

/// The Kubernetes API server where it really listens (the `kubernetes` Service's endpoints,
/// which the operator reads): its Service port 443 is translated to the server's own port
/// (6443 on kubeadm, 16443 on this project's cluster) before the policy is matched.
fn api_server(ctx: &Ctx) -> Vec<Value> {
    ctx.facts
        .api_server
        .iter()
        .map(|e| {
            let cidr = if e.address.contains(':') {
                format!("{}/128", e.address)
            } else {
                format!("{}/32", e.address)
            };
            json!({
                "to": [{"ipBlock": {"cidr": cidr}}],
                "ports": [{"protocol": "TCP", "port": e.port}],
            })
        })
        .collect()
}

fn to(ctx: &Ctx, components: &[Component], ports: &[i32]) -> Value {
    json!({
        "to": [{"podSelector": pods(ctx, components)}],
        "ports": ports.iter().map(|p| json!({"protocol": "TCP", "port": p})).collect::<Vec<_>>(),
    })
}

/// Any address on the given TCP ports.
/// cert-manager's HTTP-01 solver pods in the system's namespace (CertManager mode): nginx
/// passes the ACME CA's challenge requests to them.
fn acme_solvers() -> Value {
    json!({
        "to": [{"podSelector": {"matchLabels": {ACME_SOLVER_LABEL: "true"}}}],
        "ports": [{"port": ACME_SOLVER_PORT, "protocol": "TCP"}],
    })
}

/// The label cert-manager gives its HTTP-01 solver pods, Services and Ingresses.
pub const ACME_SOLVER_LABEL: &str = "acme.cert-manager.io/http01-solver";
/// The port cert-manager's HTTP-01 solver listens on (its `--acme-http01-solver` default).
pub const ACME_SOLVER_PORT: i32 = 8089;

fn anywhere(ports: &[i32]) -> Value {
    json!({
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}],
        "ports": ports.iter().map(|p| json!({"protocol": "TCP", "port": p})).collect::<Vec<_>>(),
    })
}

/// ULM → the SMTP server of `spec.mail`, on its port only. The server may be outside the
/// cluster (an address) or a Service inside it (a pod, after the Service's address is
/// translated), so both kinds of peer are allowed; the port must then be the pod's port.
fn smtp(port: i32) -> Value {
    json!({
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}, {"namespaceSelector": {}}],
        "ports": [{"protocol": "TCP", "port": port}],
    })
}

/// Every pod of the system: no ingress or egress beyond what the other policies allow.
pub fn default_deny(ctx: &Ctx) -> Child {
    ctx.child(
        Kind::NetworkPolicy,
        &ctx.names.netpol_default_deny(),
        Component::Postgres,
        json!({"spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/instance": ctx.system()}},
            "policyTypes": ["Ingress", "Egress"],
        }}),
    )
}

fn egress(ctx: &Ctx, c: Component, selected: &[Component], rules: Vec<Value>) -> Child {
    ctx.child(
        Kind::NetworkPolicy,
        &ctx.names.netpol_egress(c),
        c,
        json!({"spec": {
            "podSelector": pods(ctx, selected),
            "policyTypes": ["Egress"],
            "egress": rules,
        }}),
    )
}

/// The egress allowances, one policy per kind of pod. Rendered with the database tier, so
/// they exist, together with the default-deny, before any pod they apply to starts.
pub fn egress_policies(ctx: &Ctx) -> Vec<Child> {
    let db = [Component::Postgres, Component::Redis];
    let mut ulm = Vec::from(dns());
    ulm.push(to(ctx, &db, &[ports::POSTGRES, ports::REDIS]));
    if let Some(m) = &ctx.sys.spec.mail {
        ulm.push(smtp(m.smtp.effective_port()));
    }
    let mut nginx = Vec::from(dns());
    nginx.push(to(
        ctx,
        &[Component::Ulm, Component::Aam],
        &[ports::ULM, ports::AAM],
    ));
    if ctx.sys.spec.frontend.tls.mode == ovu_crds::TlsMode::CertManager {
        nginx.push(acme_solvers());
    }
    vec![
        default_deny(ctx),
        egress(ctx, Component::Frontend, &[Component::Frontend], nginx),
        egress(ctx, Component::Ulm, &[Component::Ulm], ulm),
        egress(
            ctx,
            Component::Aam,
            &[Component::Aam],
            [
                dns().as_slice(),
                &[
                    to(ctx, &db, &[ports::POSTGRES, ports::REDIS]),
                    to(ctx, &[Component::Ulm], &[ports::ULM]),
                    // HTTPS alert webhooks, and the Kubernetes API where the operator could
                    // not read its address (6443 is the usual control-plane port).
                    anywhere(&[443, 6443]),
                ],
                &api_server(ctx),
            ]
            .concat(),
        ),
        egress(
            ctx,
            Component::Backup,
            &[Component::Backup, Component::Restore],
            [
                dns().as_slice(),
                &[to(ctx, &[Component::Postgres], &[ports::POSTGRES])],
                &s3_servers(ctx),
            ]
            .concat(),
        ),
    ]
}

/// Backup and restore Jobs → the S3 servers of `backup.destination` and `restore.fromBucket`,
/// on their ports only. Like SMTP, a server may be outside the cluster or a Service in it.
fn s3_servers(ctx: &Ctx) -> Vec<Value> {
    let db = &ctx.sys.spec.database;
    let mut ports: Vec<i32> = db
        .backup
        .destination
        .iter()
        .map(|d| d.s3.port())
        .chain(
            db.restore
                .iter()
                .filter_map(|r| r.from_bucket.as_ref())
                .map(|b| b.s3.port()),
        )
        .collect();
    ports.sort_unstable();
    ports.dedup();
    if ports.is_empty() {
        return Vec::new();
    }
    vec![json!({
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}, {"namespaceSelector": {}}],
        "ports": ports.iter().map(|p| json!({"protocol": "TCP", "port": p})).collect::<Vec<_>>(),
    })]
}
