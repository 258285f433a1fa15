//! NetworkPolicies with the meaning of the seed's ufw rules: the database accepts 5432/6379
//! only from backend pods (and the backup and restore Jobs), the backend accepts 8001/8002 only from
//! frontend pods (plus AAM → ULM and the operator's health probes), the frontend accepts
//! HTTP/HTTPS from anywhere.

use serde_json::{Value, json};

use super::names::{Component, Tier, ports};
use super::{Child, Ctx, Kind};

fn pods(ctx: &Ctx, components: &[Component]) -> Value {
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
