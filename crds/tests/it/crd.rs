//! The committed CRD must be what the types generate, and it must carry every rule.

use ovu_crds::{OvuSystem, OvuSystemSpec, crd_yaml, rules};
use serde_json::{Value, json};

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ovusystem.yaml")
}

/// Fails when crds/ovusystem.yaml is stale. `UPDATE_CRD=1 cargo test -p ovu-crds` rewrites it.
#[test]
fn committed_crd_matches_generated() {
    let generated = crd_yaml();
    if std::env::var_os("UPDATE_CRD").is_some() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path())
        .expect("crds/ovusystem.yaml is missing: run `UPDATE_CRD=1 cargo test -p ovu-crds`");
    assert!(
        committed == generated,
        "crds/ovusystem.yaml is stale: run `UPDATE_CRD=1 cargo test -p ovu-crds` (or `make crd`)"
    );
}

fn schema() -> Value {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(OvuSystem::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn at<'a>(root: &'a Value, path: &[&str]) -> &'a Value {
    let mut v = root;
    for p in path {
        v = if *p == "items" {
            &v["items"]
        } else {
            &v["properties"][*p]
        };
        assert!(!v.is_null(), "schema has no {path:?}");
    }
    v
}

fn rules_of(v: &Value) -> Vec<String> {
    v["x-kubernetes-validations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["rule"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn has_rule(path: &[&str], rule: &str) {
    let s = schema();
    let v = at(&s, path);
    assert!(
        rules_of(v).iter().any(|r| r == rule),
        "{path:?} lacks rule {rule}: {v}"
    );
}

#[test]
fn name_rule_is_top_level() {
    let r = rules_of(&schema());
    assert!(
        r.iter()
            .any(|r| r.contains("self.metadata.name.size() <= 40"))
    );
}

#[test]
fn domain_is_a_dns_name() {
    has_rule(&["spec", "domain"], rules::CEL_DOMAIN);
    let s = schema();
    assert_eq!(at(&s, &["spec", "domain"])["maxLength"], 253);
    assert!(
        s["properties"]["spec"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("domain"))
    );
}

#[test]
fn images_are_non_empty_references() {
    for p in [
        &["spec", "frontend", "image"][..],
        &["spec", "backend", "ulm", "image"],
        &["spec", "backend", "aam", "image"],
        &["spec", "database", "postgres", "image"],
        &["spec", "database", "redis", "image"],
    ] {
        has_rule(p, rules::CEL_IMAGE);
        assert_eq!(at(&schema(), p)["minLength"], 1);
    }
}

/// The API server must not write an image into a system: a stored default would pin the
/// system to the release it was created under, and upgrading the operator would roll nothing.
#[test]
fn no_image_has_a_schema_default() {
    fn walk(v: &Value, path: &str, bad: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, child) in o {
                    let p = format!("{path}.{k}");
                    // A property named image with a default, or an object default holding one.
                    if k == "default" && child.to_string().contains("\"image\"") {
                        bad.push(p.clone());
                    }
                    if k == "image" && child.get("default").is_some() {
                        bad.push(p.clone());
                    }
                    walk(child, &p, bad);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, path, bad)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&schema(), "", &mut bad);
    assert!(bad.is_empty(), "image defaults in the CRD: {bad:?}");
    for path in [
        &["spec", "frontend", "image"][..],
        &["spec", "backend", "ulm", "image"],
        &["spec", "backend", "aam", "image"],
        &["spec", "database", "postgres", "image"],
        &["spec", "database", "redis", "image"],
    ] {
        let s = schema();
        let parent = at(&s, &path[..path.len() - 1]);
        let required = parent["required"].as_array().cloned().unwrap_or_default();
        assert!(
            !required.contains(&json!("image")),
            "{path:?} is required; it must be optional (the operator's default)"
        );
    }
}

#[test]
fn replicas_at_least_one() {
    for p in [
        &["spec", "frontend", "replicas"][..],
        &["spec", "backend", "ulm", "replicas"],
        &["spec", "backend", "aam", "replicas"],
    ] {
        assert_eq!(at(&schema(), p)["minimum"], 1.0);
    }
}

#[test]
fn backup_schedule_is_cron_and_retain_at_least_one() {
    has_rule(&["spec", "database", "backup", "schedule"], rules::CEL_CRON);
    assert_eq!(
        at(&schema(), &["spec", "database", "backup", "retain"])["minimum"],
        1.0
    );
}

#[test]
fn tls_requirements_follow_mode() {
    let s = schema();
    let tls = at(&s, &["spec", "frontend", "tls"]);
    let r = rules_of(tls);
    for want in [
        "self.mode != 'Secret' || has(self.secretName)",
        "self.mode == 'Secret' || !has(self.secretName)",
        "self.mode != 'CertManager' || has(self.issuerRef)",
        "self.mode == 'CertManager' || !has(self.issuerRef)",
    ] {
        assert!(r.iter().any(|x| x == want), "missing {want}");
    }
}

#[test]
fn node_ports_only_with_node_port_services() {
    has_rule(&["spec", "frontend", "exposure"], rules::CEL_NODE_PORTS);
}

#[test]
fn restore_is_checked_and_only_for_new_systems() {
    has_rule(&["spec", "database"], rules::CEL_RESTORE_ONCE);
    has_rule(
        &["spec", "database", "restore", "fromClaim"],
        rules::CEL_DNS_SUBDOMAIN,
    );
    has_rule(
        &["spec", "database", "restore", "backup"],
        rules::CEL_BACKUP_NAME,
    );
}

#[test]
fn storage_sizes_are_quantities_and_immutable() {
    for base in [
        &["spec", "database", "postgres", "storage"][..],
        &["spec", "database", "backup", "storage"],
    ] {
        has_rule(base, rules::CEL_STORAGE_IMMUTABLE);
        let mut p = base.to_vec();
        p.push("size");
        has_rule(&p, rules::CEL_QUANTITY);
    }
    has_rule(
        &["spec", "frontend", "resources", "limits", "memory"],
        rules::CEL_QUANTITY,
    );
}

#[test]
fn values_reaching_rendered_files_are_constrained() {
    has_rule(
        &["spec", "frontend", "corsOrigins", "items"],
        rules::CEL_ORIGIN,
    );
    assert_eq!(
        at(&schema(), &["spec", "frontend", "corsOrigins"])["maxItems"],
        16
    );
    has_rule(
        &["spec", "database", "redis", "maxMemory"],
        rules::CEL_REDIS_MEMORY,
    );
    has_rule(&["spec", "placement", "nodeLabel"], rules::CEL_LABEL_KEY);
}

#[test]
fn trusted_networks_are_addresses_no_wider_than_a_slash_8_or_32() {
    for path in [
        &["spec", "network", "trustedProxies", "items"][..],
        &[
            "spec",
            "frontend",
            "exposure",
            "proxyProtocol",
            "trustedCidrs",
            "items",
        ][..],
    ] {
        has_rule(path, rules::CEL_IP_OR_CIDR);
        has_rule(path, rules::CEL_PROXY_WIDTH);
    }
    let s = schema();
    let pp = at(
        &s,
        &[
            "spec",
            "frontend",
            "exposure",
            "proxyProtocol",
            "trustedCidrs",
        ],
    );
    assert_eq!(
        (pp["minItems"].clone(), pp["maxItems"].clone()),
        (1.into(), 32.into())
    );
}

/// CEL cost limits: every string in the spec has a maxLength, every list a maxItems.
#[test]
fn every_spec_string_and_list_is_bounded() {
    fn walk(v: &Value, path: &str, bad: &mut Vec<String>) {
        match v["type"].as_str() {
            Some("string") if v.get("enum").is_none() && v.get("maxLength").is_none() => {
                bad.push(path.into())
            }
            Some("array") if v.get("maxItems").is_none() => bad.push(path.into()),
            _ => {}
        }
        if let Some(props) = v["properties"].as_object() {
            for (k, p) in props {
                walk(p, &format!("{path}.{k}"), bad);
            }
        }
        if v.get("items").is_some() {
            walk(&v["items"], &format!("{path}[]"), bad);
        }
    }
    let mut bad = Vec::new();
    walk(at(&schema(), &["spec"]), "spec", &mut bad);
    assert!(bad.is_empty(), "unbounded: {bad:?}");
}

#[test]
fn minimal_spec_gets_every_default() {
    let spec: OvuSystemSpec = serde_json::from_value(json!({"domain": "ovu.co.il"})).unwrap();
    assert_eq!(spec.placement.node_label, "ovu.co.il/tier");
    // Images are left to the operator (its configured defaults), so they stay unset.
    assert_eq!(spec.backend.ulm.image, None);
    assert_eq!(spec.database.postgres.image, None);
    assert_eq!(spec.database.backup.schedule, "0 2 * * *");
    assert_eq!(spec.security.admin_mfa, ovu_crds::AdminMfa::Required);
    assert!(spec.validate().is_ok());
}

#[test]
fn mail_settings_are_constrained() {
    has_rule(&["spec", "mail", "from"], rules::CEL_MAIL_ADDRESS);
    has_rule(&["spec", "mail", "smtp", "host"], rules::CEL_HOST);
    has_rule(
        &["spec", "mail", "credentialsSecret"],
        rules::CEL_DNS_SUBDOMAIN,
    );
    let port = at(&schema(), &["spec", "mail", "smtp", "port"]).clone();
    assert_eq!(port["minimum"].as_f64(), Some(1.0), "{port}");
    assert_eq!(port["maximum"].as_f64(), Some(65535.0), "{port}");
}

#[test]
fn api_version_constant_is_the_resources() {
    use kube::{CustomResourceExt, Resource};
    assert_eq!(OvuSystem::api_version(&()), ovu_crds::API_VERSION);
    let crd = serde_json::to_value(OvuSystem::crd()).unwrap();
    assert_eq!(
        format!(
            "{}/{}",
            crd["spec"]["group"].as_str().unwrap(),
            crd["spec"]["versions"][0]["name"].as_str().unwrap()
        ),
        ovu_crds::API_VERSION
    );
}
