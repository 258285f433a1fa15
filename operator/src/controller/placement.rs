//! Placement: what the renderers need to know about the cluster (the API server's real
//! endpoints, the pod networks of the tier nodes), the system's pods, and which nodes each
//! tier runs on.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use ovu_crds::Tiers;

use super::Error;
use super::cache::Cache;
use super::error::read;
use crate::render::names::{COMPONENT_LABEL, instance_selector};
use crate::render::{self, Ctx};

/// Where the Kubernetes API server really listens: the endpoints of the `kubernetes` Service
/// (EndpointSlice `default/kubernetes`, readable by name only). Unreadable (an operator
/// upgraded without that grant, a cluster without slices) is not fatal: AAM's egress then
/// falls back to the usual ports.
pub async fn api_server_endpoints(
    client: &Client,
    cache: &Cache,
) -> Vec<render::ApiServerEndpoint> {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let slice = match cache.api_server_slice() {
        Some(Some(v)) => match serde_json::from_value::<EndpointSlice>(v) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "unreadable cached EndpointSlice");
                return Vec::new();
            }
        },
        Some(None) => return Vec::new(),
        None => {
            let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
            match slices.get_opt("kubernetes").await {
                Ok(Some(s)) => s,
                Ok(None) => return Vec::new(),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the API server's EndpointSlice");
                    return Vec::new();
                }
            }
        }
    };
    let ports: Vec<i32> = slice
        .ports
        .unwrap_or_default()
        .iter()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| p.port)
        .collect();
    let mut out = Vec::new();
    for e in slice.endpoints {
        for address in e.addresses {
            for &port in &ports {
                let ep = render::ApiServerEndpoint {
                    address: address.clone(),
                    port,
                };
                if !out.contains(&ep) {
                    out.push(ep);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.address, a.port).cmp(&(&b.address, b.port)));
    out
}

/// The pod networks (`spec.podCIDRs`, else `spec.podCIDR`) of the frontend-tier and the
/// backend-tier nodes, each sorted: the proxies ULM and AAM trust (see
/// `render::backend::trusted_proxies`). Sorted and deduplicated so the rendered env, and
/// with it the pod template, only changes when the networks do.
pub async fn tier_pod_cidrs(
    client: &Client,
    cache: &Cache,
    label: &str,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut out = (Vec::new(), Vec::new());
    for (tier, cidrs) in [("frontend", &mut out.0), ("backend", &mut out.1)] {
        if let Some(cached) = cache.nodes(label, tier) {
            for n in cached {
                let spec = &n["spec"];
                let all = spec["podCIDRs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(std::iter::once(&spec["podCIDR"]))
                    .filter_map(|c| c.as_str());
                for c in all {
                    if !cidrs.iter().any(|x| x == c) {
                        cidrs.push(c.to_string());
                    }
                }
            }
            cidrs.sort();
            continue;
        }
        let list = match nodes
            .list(&ListParams::default().labels(&format!("{label}={tier}")))
            .await
        {
            Ok(l) => l,
            // An operator upgraded without the new `nodes: list` grant keeps working; ULM and
            // AAM then trust only spec.network.trustedProxies (fail closed: no forged
            // addresses, per-IP limits count nginx).
            Err(kube::Error::Api(s)) if s.code == 403 => {
                tracing::warn!(
                    tier,
                    "cannot list nodes (forbidden): trusting only spec.network.trustedProxies"
                );
                continue;
            }
            Err(e) => {
                return Err(read("placement", format!("nodes labelled {label}={tier}"))(
                    e,
                ));
            }
        };
        for n in list.items {
            let spec = n.spec.unwrap_or_default();
            let all = spec
                .pod_cidrs
                .unwrap_or_default()
                .into_iter()
                .chain(spec.pod_cidr);
            for c in all {
                if !cidrs.contains(&c) {
                    cidrs.push(c);
                }
            }
        }
        cidrs.sort();
    }
    Ok(out)
}

/// The system's pods (of every component, jobs' included).
pub async fn list_pods(client: &Client, cache: &Cache, rctx: &Ctx<'_>) -> Result<Vec<Pod>, Error> {
    if let Some(cached) = cache.pods(&rctx.ns, rctx.system()) {
        // Sorted by name, as a list returns them: the first problem named stays the same.
        let mut pods: Vec<Pod> = cached
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        return Ok(pods);
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &rctx.ns);
    let selector = instance_selector(rctx.system());
    let lp = ListParams::default().labels(&selector);
    Ok(pods
        .list(&lp)
        .await
        .map_err(read("placement", format!("pods labelled {selector}")))?
        .items)
}

/// Record the nodes each tier's pods run on.
pub fn place_nodes(pods: &[Pod], tiers: &mut Tiers) {
    for p in pods {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        let comp = p.labels().get(COMPONENT_LABEL).cloned().unwrap_or_default();
        let t = match comp.as_str() {
            "postgres" | "redis" => &mut tiers.database,
            "ulm" | "aam" => &mut tiers.backend,
            "frontend" => &mut tiers.frontend,
            _ => continue,
        };
        if !t.nodes.contains(&node) {
            t.nodes.push(node);
        }
    }
    for t in [&mut tiers.database, &mut tiers.backend, &mut tiers.frontend] {
        t.nodes.sort();
    }
}
