//! HTTP-01 through OVU's own nginx: OVU is the ingress controller of exactly cert-manager's
//! solver Ingresses of class [`INGRESS_CLASS`]. Each such Ingress in a system's namespace that
//! names one of the system's serving names becomes one `location = /.well-known/acme-challenge/
//! <token>` in nginx's port-80 server, proxied to the solver Service's ClusterIP (see
//! `render::nginx`). Ingresses of other classes, other hosts or other paths are not ours.

use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::Error;
use super::cache::{Cache, INGRESS_CLASS_ANNOTATION};
use crate::render::nginx::{ACME_CHALLENGE_PREFIX, AcmeChallenge};

/// The IngressClass whose Ingresses OVU serves (manifests/ingressclass.yaml); an Issuer's
/// solver says `http01: {ingress: {ingressClassName: ovu}}`.
pub const INGRESS_CLASS: &str = "ovu";

/// The challenges among `ingresses` for `hosts`, each to the ClusterIP of its Service in
/// `services` (same namespace). A path whose Service has no ClusterIP yet is left out until
/// it has one (its event reconciles again). Sorted, without duplicates.
pub fn challenges(ingresses: &[Value], services: &[Value], hosts: &[String]) -> Vec<AcmeChallenge> {
    let mut out = Vec::new();
    for ing in ingresses {
        let class = ing
            .pointer("/spec/ingressClassName")
            .and_then(Value::as_str)
            .or_else(|| {
                ing.pointer("/metadata/annotations")
                    .and_then(|a| a.get(INGRESS_CLASS_ANNOTATION))
                    .and_then(Value::as_str)
            });
        if class != Some(INGRESS_CLASS) {
            continue;
        }
        let rules = ing.pointer("/spec/rules").and_then(Value::as_array);
        for rule in rules.into_iter().flatten() {
            let host = rule["host"].as_str().unwrap_or_default();
            if !hosts.iter().any(|h| h == host) {
                continue;
            }
            let paths = rule.pointer("/http/paths").and_then(Value::as_array);
            for p in paths.into_iter().flatten() {
                let Some(token) = p["path"]
                    .as_str()
                    .and_then(|x| x.strip_prefix(ACME_CHALLENGE_PREFIX))
                else {
                    continue;
                };
                let backend = &p["backend"]["service"];
                let (Some(name), Some(port)) =
                    (backend["name"].as_str(), backend["port"]["number"].as_i64())
                else {
                    continue;
                };
                let ip = services
                    .iter()
                    .find(|s| s["metadata"]["name"].as_str() == Some(name))
                    .and_then(|s| s["spec"]["clusterIP"].as_str())
                    .filter(|ip| !ip.is_empty() && *ip != "None");
                let Some(ip) = ip else { continue };
                let upstream = if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                };
                out.push(AcmeChallenge {
                    token: token.to_string(),
                    upstream,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The challenges for `hosts` in namespace `ns`, from the caches (a LIST of each before they
/// have synced).
pub async fn observe(
    client: &kube::Client,
    cache: &Cache,
    ns: &str,
    hosts: &[String],
) -> Result<Vec<AcmeChallenge>, Error> {
    let ingresses = match cache.solver_ingresses(ns) {
        Some(v) => v,
        None => list(client, ns, "networking.k8s.io", "Ingress", "ingresses").await?,
    };
    if ingresses.is_empty() {
        return Ok(Vec::new());
    }
    let services = match cache.solver_services(ns) {
        Some(v) => v,
        None => list(client, ns, "", "Service", "services").await?,
    };
    Ok(challenges(&ingresses, &services, hosts))
}

async fn list(
    client: &kube::Client,
    ns: &str,
    group: &str,
    kind: &str,
    plural: &str,
) -> Result<Vec<Value>, Error> {
    let gvk = kube::core::GroupVersionKind::gvk(group, "v1", kind);
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let list = api
        .list(&ListParams::default().labels("acme.cert-manager.io/http01-solver=true"))
        .await
        .map_err(super::error::read(
            "acme",
            format!("HTTP-01 solver {plural} in {ns}"),
        ))?;
    Ok(list
        .items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(class: &str, host: &str, token: &str, svc: &str) -> Value {
        json!({
            "metadata": {"name": format!("cm-acme-http-solver-{token}")},
            "spec": {"ingressClassName": class, "rules": [{"host": host, "http": {"paths": [{
                "path": format!("/.well-known/acme-challenge/{token}"), "pathType": "ImplementationSpecific",
                "backend": {"service": {"name": svc, "port": {"number": 8089}}},
            }]}}]},
        })
    }

    fn service(name: &str, ip: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"clusterIP": ip}})
    }

    fn hosts() -> Vec<String> {
        crate::render::frontend::dns_names("example.com")
    }

    #[test]
    fn each_token_of_our_class_and_names_goes_to_its_own_solver() {
        let ings = [
            ingress("ovu", "ulm.example.com", "tokB", "s-b"),
            ingress("ovu", "example.com", "tokA", "s-a"),
            // Another controller's, another system's name, no Service address yet.
            ingress("nginx", "aam.example.com", "tokC", "s-c"),
            ingress("ovu", "ulm.other.com", "tokD", "s-d"),
            ingress("ovu", "api.example.com", "tokE", "s-e"),
        ];
        let svcs = [
            service("s-a", "198.18.130.1"),
            service("s-b", "fd00::7"),
            service("s-c", "198.18.130.3"),
            service("s-d", "198.18.130.4"),
            service("s-e", ""),
        ];
        assert_eq!(
            challenges(&ings, &svcs, &hosts()),
            vec![
                AcmeChallenge {
                    token: "tokA".into(),
                    upstream: "198.18.130.1:8089".into()
                },
                AcmeChallenge {
                    token: "tokB".into(),
                    upstream: "[fd00::7]:8089".into()
                },
            ]
        );
    }

    #[test]
    fn the_class_annotation_counts_and_other_paths_do_not() {
        let mut by_annotation = ingress("", "www.example.com", "tokA", "s-a");
        by_annotation["spec"]
            .as_object_mut()
            .unwrap()
            .remove("ingressClassName");
        by_annotation["metadata"]["annotations"] = json!({INGRESS_CLASS_ANNOTATION: "ovu"});
        let mut other_path = ingress("ovu", "www.example.com", "tokB", "s-a");
        other_path["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/admin");
        let got = challenges(
            &[by_annotation, other_path],
            &[service("s-a", "198.18.130.1")],
            &hosts(),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].token, "tokA");
    }
}
