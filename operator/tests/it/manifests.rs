//! The install manifests: the ClusterRole grants exactly what the operator uses, the
//! operator Deployment meets Pod Security "restricted", kustomize lists files that exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ovu_operator::render::Kind;
use serde::Deserialize;
use serde_yaml::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

fn docs(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

type Grant = (String, String, String);

fn grants(role: &Value) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for r in role["rules"].as_sequence().unwrap() {
        assert!(r.get("resourceNames").is_none() || role["kind"] == "Role");
        for g in r["apiGroups"].as_sequence().unwrap() {
            for res in r["resources"].as_sequence().unwrap() {
                for v in r["verbs"].as_sequence().unwrap() {
                    let s = |x: &Value| x.as_str().unwrap().to_string();
                    assert_ne!(s(v), "*", "no wildcards");
                    out.insert((s(g), s(res), s(v)));
                }
            }
        }
    }
    out
}

fn needed() -> BTreeSet<Grant> {
    let mut n = BTreeSet::new();
    let mut add = |g: &str, r: &str, verbs: &[&str]| {
        for v in verbs {
            n.insert((g.to_string(), r.to_string(), v.to_string()));
        }
    };
    add(
        "ovu.co.il",
        "ovusystems",
        &["get", "list", "watch", "patch"],
    );
    add("ovu.co.il", "ovusystems/status", &["get", "patch"]);
    // Read from watch caches (controller::cache).
    add("", "pods", &["list", "watch"]);
    add("", "nodes", &["list", "watch"]);
    add("events.k8s.io", "events", &["create", "patch"]);
    // cert-manager's HTTP-01 solver Ingresses and Services (controller::cache).
    add("networking.k8s.io", "ingresses", &["list", "watch"]);
    add("", "services", &["list", "watch"]);
    for k in Kind::ALL {
        let ar = k.api_resource();
        add(&ar.group, &ar.plural, &["get", "create", "patch"]);
        // Every kind is read from a watch cache (Certificates when cert-manager is there).
        add(&ar.group, &ar.plural, &["list", "watch"]);
        if k.deleted() {
            add(&ar.group, &ar.plural, &["delete"]);
        }
        // Prune lists every kind it may delete by label and deletes what was not rendered.
        if ovu_operator::controller::prunable(k) {
            add(&ar.group, &ar.plural, &["list", "delete"]);
        }
    }
    // backup Jobs and volumes are listed to report backups / clean up
    add("batch", "jobs", &["list"]);
    add("", "persistentvolumeclaims", &["list"]);
    n
}

#[test]
fn cluster_role_is_exactly_what_the_operator_uses() {
    let d = docs("rbac.yaml");
    let have = grants(find(&d, "ClusterRole", "ovu-operator"));
    let want = needed();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(missing.is_empty(), "ClusterRole lacks {missing:?}");
    assert!(
        extra.is_empty(),
        "ClusterRole grants more than needed: {extra:?}"
    );
}

#[test]
fn lease_role_is_namespaced_and_named() {
    let d = docs("rbac.yaml");
    let role = find(&d, "Role", "ovu-operator-leader");
    assert_eq!(role["metadata"]["namespace"], "ovu-system");
    let text = serde_yaml::to_string(role).unwrap();
    assert!(text.contains("coordination.k8s.io") && text.contains("resourceNames"));
    let b = find(&d, "ClusterRoleBinding", "ovu-operator");
    assert_eq!(b["subjects"][0]["name"], "ovu-operator");
}

#[test]
fn apiserver_role_reads_one_endpointslice_by_name() {
    let d = docs("rbac.yaml");
    let role = find(&d, "Role", "ovu-operator-apiserver");
    assert_eq!(role["metadata"]["namespace"], "default");
    let rules = role["rules"].as_sequence().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["resources"][0], "endpointslices");
    assert_eq!(rules[0]["resourceNames"][0], "kubernetes");
    // get, and list/watch of that one name (a field selector metadata.name=kubernetes,
    // which the API server authorizes as the name): the watch cache of the slice.
    let verbs: Vec<&str> = rules[0]["verbs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["get", "list", "watch"]);
    let b = find(&d, "RoleBinding", "ovu-operator-apiserver");
    assert_eq!(b["metadata"]["namespace"], "default");
    assert_eq!(b["roleRef"]["name"], "ovu-operator-apiserver");
    assert_eq!(b["subjects"][0]["name"], "ovu-operator");
    assert_eq!(b["subjects"][0]["namespace"], "ovu-system");
}

#[test]
fn operator_deployment_is_restricted_and_leader_elected() {
    let d = docs("deployment.yaml");
    let dep = find(&d, "Deployment", "ovu-operator");
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(dep["spec"]["replicas"], 2);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let env = serde_yaml::to_string(&c["env"]).unwrap();
    assert!(env.contains("POD_NAME") && env.contains("POD_NAMESPACE"));
    // The backend NetworkPolicy admits the operator's health probes by this label.
    assert_eq!(
        dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        "ovu-operator"
    );
}

#[test]
fn kustomization_lists_files_that_exist() {
    let k = &docs("kustomization.yaml")[0];
    for r in k["resources"].as_sequence().unwrap() {
        let p = dir().join(r.as_str().unwrap());
        assert!(p.exists(), "{} missing", p.display());
        if p.is_dir() {
            // Any name kustomize reads; crds/ uses `Kustomization` so that
            // `kubectl apply -f crds/` (which skips files without .yaml/.yml) applies only the CRD.
            assert!(
                ["kustomization.yaml", "kustomization.yml", "Kustomization"]
                    .iter()
                    .any(|n| p.join(n).exists()),
                "{} has no kustomization",
                p.display()
            );
        }
    }
}

#[test]
fn samples_parse_validate_and_cover_every_field() {
    for f in [
        "samples/ovusystem.yaml",
        "samples/ovusystem-full.yaml",
        "samples/ovusystem-restore.yaml",
        "samples/ovusystem-restore-bucket.yaml",
    ] {
        let text = std::fs::read_to_string(dir().join(f)).unwrap();
        let sys: ovu_crds::OvuSystem = serde_yaml::from_str(&text).unwrap();
        sys.spec.validate().unwrap();
        assert_eq!(sys.metadata.name.as_deref(), Some("ovu"));
    }
    // The full sample names every spec field the schema has.
    let full: Value = serde_yaml::from_str(
        &std::fs::read_to_string(dir().join("samples/ovusystem-full.yaml")).unwrap(),
    )
    .unwrap();
    let schema =
        serde_json::to_value(<ovu_crds::OvuSystem as kube::CustomResourceExt>::crd()).unwrap();
    let spec_schema =
        &schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    fn walk(s: &serde_json::Value, v: &Value, path: &str, missing: &mut Vec<String>) {
        let Some(props) = s["properties"].as_object() else {
            return;
        };
        for (k, sub) in props {
            let child = &v[k.as_str()];
            if child.is_null() {
                missing.push(format!("{path}.{k}"));
            } else {
                walk(sub, child, &format!("{path}.{k}"), missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(spec_schema, &full["spec"], "spec", &mut missing);
    // secretName and issuerRef exclude each other; the sample shows secretName in a comment.
    missing.retain(|m| m != "spec.frontend.tls.secretName");
    // So do caConfigMap and caSecret (the restore sample shows caSecret).
    missing.retain(|m| m != "spec.database.backup.destination.s3.caSecret");
    // restore only belongs in a new system's spec: shown in a comment there and in its own
    // sample, which must name every restore field.
    // fromClaim and fromBucket exclude each other: each has its sample, and a field is
    // missing only if neither names it.
    let mut restore_missing: Option<Vec<String>> = None;
    for f in [
        "samples/ovusystem-restore.yaml",
        "samples/ovusystem-restore-bucket.yaml",
    ] {
        let restore: Value =
            serde_yaml::from_str(&std::fs::read_to_string(dir().join(f)).unwrap()).unwrap();
        let mut m = Vec::new();
        walk(
            &spec_schema["properties"]["database"]["properties"]["restore"],
            &restore["spec"]["database"]["restore"],
            "spec.database.restore",
            &mut m,
        );
        restore_missing = Some(match restore_missing {
            None => m,
            Some(before) => before.into_iter().filter(|x| m.contains(x)).collect(),
        });
    }
    let restore_missing = restore_missing.unwrap_or_default();
    assert!(
        restore_missing.is_empty(),
        "ovusystem-restore.yaml lacks {restore_missing:?}"
    );
    missing.retain(|m| m != "spec.database.restore");
    assert!(missing.is_empty(), "ovusystem-full.yaml lacks {missing:?}");
}

/// `make up`'s mail server (deploy/local/system/mailpit.yaml) runs in the system namespace,
/// which enforces Pod Security "restricted", on the backend tier's node; the OvuSystem's
/// `spec.mail` (the overlay's patch) names its Service and SMTP port, and validates.
#[test]
fn local_mailpit_is_restricted_on_the_backend_node_and_is_what_spec_mail_names() {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/system");
    let text = std::fs::read_to_string(local.join("mailpit.yaml")).unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect();
    let d = find(&docs, "Deployment", "mailpit");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["ovu.co.il/tier"], "backend");
    assert_eq!(pod["tolerations"][0]["value"], "backend");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let svc = find(&docs, "Service", "mailpit");
    let smtp = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "smtp")
        .expect("an smtp port");

    let kust: Value =
        serde_yaml::from_str(&std::fs::read_to_string(local.join("kustomization.yaml")).unwrap())
            .unwrap();
    assert!(
        kust["resources"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|r| r == "mailpit.yaml")
    );
    let patch = kust["patches"][0]["patch"].as_str().unwrap();
    let ops: Vec<serde_json::Value> = serde_yaml::from_str(patch).unwrap();
    let mail = ops
        .iter()
        .find(|o| o["path"] == "/spec/mail")
        .expect("the overlay sets spec.mail")["value"]
        .clone();
    assert_eq!(mail["smtp"]["host"], "mailpit");
    assert_eq!(
        mail["smtp"]["port"].as_i64(),
        smtp["port"].as_i64(),
        "spec.mail names the Service's SMTP port"
    );
    let sys: ovu_crds::OvuSystemSpec =
        serde_json::from_value(serde_json::json!({"domain": "ovu.localhost", "mail": mail}))
            .unwrap();
    sys.validate().unwrap();
}
