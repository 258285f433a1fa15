//! Snapshot and property tests of the rendered children of both samples.

use crate::common;

use ovu_operator::render::{self, Child, Facts, Kind};
use serde_json::Value;

fn facts() -> Facts {
    Facts {
        operator_namespace: "ovu-system".into(),
        tls_hash: Some("0123456789abcdef".into()),
        frontend_pod_cidrs: vec!["198.19.1.0/24".into()],
        backend_pod_cidrs: vec!["198.19.2.0/24".into(), "fd00:2::/64".into()],
        ..Default::default()
    }
}

fn children(sys: &ovu_crds::OvuSystem) -> Vec<Child> {
    render::build(sys, &facts())
        .unwrap()
        .all()
        .cloned()
        .collect()
}

fn as_yaml_docs(children: &[Child]) -> Vec<Value> {
    children.iter().map(|c| c.object.clone()).collect()
}

#[test]
fn snapshot_minimal() {
    insta::assert_yaml_snapshot!("minimal", as_yaml_docs(&children(&common::minimal())));
}

#[test]
fn snapshot_full() {
    insta::assert_yaml_snapshot!("full", as_yaml_docs(&children(&common::full())));
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
    let typed: T = serde_json::from_value(v.clone()).unwrap();
    strip_nulls(&serde_json::to_value(typed).unwrap())
}

/// A misspelt field would be silently dropped by the typed round trip: catch it here, not in
/// the cluster.
#[test]
fn every_child_round_trips_through_its_kubernetes_type() {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    use k8s_openapi::api::{networking::v1 as net, policy::v1 as policy, rbac::v1 as rbac};
    for sys in [common::minimal(), common::full()] {
        for c in children(&sys) {
            let v = &c.object;
            let mut v = v.clone();
            // k8s-openapi writes apiVersion/kind into volumeClaimTemplates; we leave them out
            // (the API server does not echo them), so compare without.
            if let Some(vcts) = v
                .pointer_mut("/spec/volumeClaimTemplates")
                .and_then(Value::as_array_mut)
            {
                for t in vcts {
                    t.as_object_mut()
                        .unwrap()
                        .insert("apiVersion".into(), "v1".into());
                    t.as_object_mut()
                        .unwrap()
                        .insert("kind".into(), "PersistentVolumeClaim".into());
                }
            }
            let v = &v;
            let back = match c.kind {
                Kind::Secret => roundtrip::<core::Secret>(v),
                Kind::ConfigMap => roundtrip::<core::ConfigMap>(v),
                Kind::Service => roundtrip::<core::Service>(v),
                Kind::ServiceAccount => roundtrip::<core::ServiceAccount>(v),
                Kind::PersistentVolumeClaim => roundtrip::<core::PersistentVolumeClaim>(v),
                Kind::StatefulSet => roundtrip::<apps::StatefulSet>(v),
                Kind::Deployment => roundtrip::<apps::Deployment>(v),
                Kind::CronJob => roundtrip::<batch::CronJob>(v),
                Kind::Job => roundtrip::<batch::Job>(v),
                Kind::NetworkPolicy => roundtrip::<net::NetworkPolicy>(v),
                Kind::PodDisruptionBudget => roundtrip::<policy::PodDisruptionBudget>(v),
                Kind::Role => roundtrip::<rbac::Role>(v),
                Kind::RoleBinding => roundtrip::<rbac::RoleBinding>(v),
                // CRDs of other projects: no k8s-openapi type (their fields are pinned by the
                // reconcile tests, the PodMonitor's in monitoring.rs).
                Kind::Certificate | Kind::PodMonitor => continue,
            };
            assert_eq!(
                &back, v,
                "{:?} {} has fields its type does not know",
                c.kind, c.name
            );
        }
    }
}

fn pod_specs(children: &[Child]) -> Vec<(String, Value)> {
    let mut out = vec![];
    for c in children {
        let spec = &c.object["spec"];
        let pod = match c.kind {
            Kind::Deployment | Kind::StatefulSet | Kind::Job => &spec["template"]["spec"],
            Kind::CronJob => &spec["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        out.push((c.name.clone(), pod.clone()));
    }
    out
}

#[test]
fn every_pod_is_pinned_to_its_tier_and_tolerates_its_taint() {
    let cs = children(&common::full());
    let want = [
        ("ovu-postgres", "database"),
        ("ovu-redis", "database"),
        ("ovu-backup", "database"),
        ("ovu-ulm", "backend"),
        ("ovu-aam", "backend"),
        ("ovu-frontend", "frontend"),
    ];
    let pods = pod_specs(&cs);
    assert_eq!(pods.len(), want.len());
    for (name, tier) in want {
        let (_, p) = pods.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(p["nodeSelector"]["ovu.co.il/tier"], tier, "{name}");
        let t = &p["tolerations"][0];
        assert_eq!(
            (t["key"].as_str(), t["value"].as_str(), t["effect"].as_str()),
            (Some("ovu.co.il/tier"), Some(tier), Some("NoSchedule")),
            "{name}"
        );
    }
}

#[test]
fn every_pod_meets_pod_security_restricted() {
    for sys in [common::minimal(), common::full()] {
        for (name, p) in pod_specs(&children(&sys)) {
            let sc = &p["securityContext"];
            assert_eq!(sc["runAsNonRoot"], true, "{name}");
            assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
            let containers = p["containers"]
                .as_array()
                .unwrap()
                .iter()
                .chain(p["initContainers"].as_array().into_iter().flatten());
            for c in containers {
                let cs = &c["securityContext"];
                assert_eq!(cs["allowPrivilegeEscalation"], false, "{name}");
                assert_eq!(cs["capabilities"]["drop"][0], "ALL", "{name}");
                assert_eq!(cs["readOnlyRootFilesystem"], true, "{name}");
                assert!(c["resources"]["limits"]["memory"].is_string(), "{name}");
                assert!(c["resources"]["requests"]["cpu"].is_string(), "{name}");
            }
        }
    }
}

#[test]
fn pdbs_only_where_replicas_exceed_one() {
    let pdbs: Vec<String> = children(&common::full())
        .into_iter()
        .filter(|c| c.kind == Kind::PodDisruptionBudget)
        .map(|c| c.name)
        .collect();
    // full sample: ulm 3, aam 1, frontend 2
    assert_eq!(pdbs, vec!["ovu-ulm", "ovu-frontend"]);
}

#[test]
fn every_child_is_labelled_and_owned_except_the_backup_volume() {
    for c in children(&common::full()) {
        let m = &c.object["metadata"];
        assert_eq!(m["labels"]["app.kubernetes.io/managed-by"], "ovu-operator");
        assert_eq!(m["labels"]["app.kubernetes.io/instance"], "ovu");
        let owned = m["ownerReferences"][0]["uid"] == common::UID;
        assert_eq!(owned, c.kind != Kind::PersistentVolumeClaim, "{}", c.name);
    }
}

/// The selectors AAM, `kubectl ovu` and the e2e tests take from `ovu_crds::names` select what
/// the operator renders: every child by its system, every pod by its component (and none of
/// another component's), so a renderer that drifted from the shared labels fails here.
#[test]
fn the_shared_selectors_select_the_rendered_children_and_pods() {
    use ovu_crds::names::{self, Component};
    use std::collections::BTreeMap;
    let labels_of = |v: &Value| -> BTreeMap<String, String> {
        serde_json::from_value(v["labels"].clone()).unwrap_or_default()
    };
    let cs = children(&common::full());
    let mut pods = 0;
    for c in &cs {
        let m = labels_of(&c.object["metadata"]);
        assert!(
            names::selects(&names::instance_selector("ovu"), &m),
            "{}: {m:?}",
            c.name
        );
        assert!(names::selects(names::MANAGED_SELECTOR, &m), "{}", c.name);
        let spec = &c.object["spec"];
        let template = match c.kind {
            Kind::Deployment | Kind::StatefulSet | Kind::Job => &spec["template"],
            Kind::CronJob => &spec["jobTemplate"]["spec"]["template"],
            _ => continue,
        };
        let pod = labels_of(&template["metadata"]);
        let component = pod
            .get(names::COMPONENT_LABEL)
            .and_then(|v| Component::from_label(v))
            .unwrap_or_else(|| panic!("{}: pod labels {pod:?} name no component", c.name));
        for other in Component::ALL {
            assert_eq!(
                names::selects(&names::pod_selector("ovu", other), &pod),
                other == component,
                "{}: pod_selector({other:?}) on {pod:?}",
                c.name
            );
        }
        assert!(names::selects(
            &names::component_selector("ovu", component),
            &pod
        ));
        assert!(names::selects(&names::instance_selector("ovu"), &pod));
        pods += 1;
    }
    assert!(pods >= 6, "only {pods} pod templates rendered");
}

#[test]
fn services_match_the_contract() {
    let cs = children(&common::minimal());
    let port = |name: &str| {
        let s = cs
            .iter()
            .find(|c| c.kind == Kind::Service && c.name == name)
            .unwrap();
        s.object["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(port("ovu-postgres"), vec![5432]);
    assert_eq!(port("ovu-redis"), vec![6379]);
    assert_eq!(port("ovu-ulm"), vec![8001]);
    assert_eq!(port("ovu-aam"), vec![8002]);
    assert_eq!(port("ovu-frontend"), vec![80, 443]);
}

/// Passwords reach processes as files of mounted Secrets only: no environment variable holds
/// one (the kubelet puts those in `/proc/<pid>/environ`, and URLs built with `$(VAR)` in the
/// arguments), and every `*_FILE` setting points into a Secret volume of its own pod.
#[test]
fn passwords_reach_pods_only_as_secret_files() {
    let mut files = 0;
    for c in children(&common::full()) {
        let Some(pod) = pod_spec(&c.object) else {
            continue;
        };
        let secret_volumes: Vec<&str> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["secret"].is_object() || v["projected"]["sources"].is_array())
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        let containers = pod["containers"]
            .as_array()
            .into_iter()
            .chain(pod["initContainers"].as_array())
            .flatten();
        for ctr in containers {
            let mounts = ctr["volumeMounts"].as_array().cloned().unwrap_or_default();
            for e in ctr["env"].as_array().into_iter().flatten() {
                let n = e["name"].as_str().unwrap();
                let v = e["value"].as_str().unwrap_or("");
                assert!(
                    !e["valueFrom"]["secretKeyRef"]["key"]
                        .as_str()
                        .is_some_and(|k| k.contains("password")),
                    "{}/{n}: a password in the environment",
                    c.name
                );
                assert!(
                    !v.contains("$("),
                    "{}/{n} = {v}: built from a variable",
                    c.name
                );
                if n.ends_with("_FILE") && n.contains("PASSWORD") {
                    files += 1;
                    let mount = mounts
                        .iter()
                        .find(|m| v.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())));
                    let mount =
                        mount.unwrap_or_else(|| panic!("{}/{n}: {v} is not mounted", c.name));
                    assert!(
                        secret_volumes.contains(&mount["name"].as_str().unwrap()),
                        "{}/{n}: {v} is not in a Secret volume",
                        c.name
                    );
                }
            }
        }
    }
    // ULM and AAM: database and Redis each; ULM: SMTP and the bootstrap admin.
    assert!(
        files >= 5,
        "expected *_PASSWORD_FILE settings, found {files}"
    );
}

/// The pod template of a workload (Deployment, StatefulSet, Job, CronJob), if it is one.
fn pod_spec(o: &Value) -> Option<&Value> {
    let s = &o["spec"];
    [
        &s["template"]["spec"],
        &s["jobTemplate"]["spec"]["template"]["spec"],
    ]
    .into_iter()
    .find(|p| p["containers"].is_array())
}

#[test]
fn backend_database_urls_point_at_the_contract_services() {
    let cs = children(&common::minimal());
    let d = cs
        .iter()
        .find(|c| c.kind == Kind::Deployment && c.name == "ovu-aam")
        .unwrap();
    let env = d.object["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let get = |k: &str| {
        env.iter()
            .find(|e| e["name"] == k)
            .map(|e| e["value"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(
        get("DATABASE_URL"),
        "postgres://aam_user@ovu-postgres-rw:5432/aam_db?sslmode=disable"
    );
    // Through a virtual IP, not the headless Service: its name must resolve while
    // PostgreSQL restarts (a missing record is cached by cluster DNS after it is back).
    let rw = cs
        .iter()
        .find(|c| c.kind == Kind::Service && c.name == "ovu-postgres-rw")
        .expect("the postgres-rw Service");
    assert_eq!(rw.object["spec"]["type"], "ClusterIP");
    assert!(
        rw.object["spec"].get("clusterIP").is_none(),
        "{}",
        rw.object
    );
    assert_eq!(get("REDIS_URL"), "redis://aam@ovu-redis:6379/1");
    // AAM's pod holds its own two passwords, not ULM's.
    let volumes = d.object["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("\"aam-password\""), "{volumes}");
    assert!(!volumes.contains("ulm-password"), "{volumes}");
    assert_eq!(get("ULM_URL"), "http://ovu-ulm:8001");
    assert_eq!(get("OVU_SYSTEM_NAMESPACE"), common::NS);
}

#[test]
fn ulm_trusts_nginx_and_aam_nodes_and_aam_trusts_nginx_nodes_plus_the_spec() {
    let env_of = |cs: &[Child], name: &str| -> Option<String> {
        let d = cs
            .iter()
            .find(|c| c.kind == Kind::Deployment && c.name == name)
            .unwrap();
        d.object["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "TRUSTED_PROXIES")
            .map(|e| e["value"].as_str().unwrap().to_string())
    };
    // The frontend node's pod network (nginx) for both; the backend node's (AAM → ULM) only
    // for ULM; the spec's extras after them.
    let full = children(&common::full());
    assert_eq!(
        env_of(&full, "ovu-ulm").as_deref(),
        Some("198.19.1.0/24,198.19.2.0/24,fd00:2::/64,198.19.0.0/16")
    );
    assert_eq!(
        env_of(&full, "ovu-aam").as_deref(),
        Some("198.19.1.0/24,198.19.0.0/16")
    );
    let minimal = children(&common::minimal());
    assert_eq!(
        env_of(&minimal, "ovu-ulm").as_deref(),
        Some("198.19.1.0/24,198.19.2.0/24,fd00:2::/64")
    );
    assert_eq!(
        env_of(&minimal, "ovu-aam").as_deref(),
        Some("198.19.1.0/24")
    );
    // Nothing known and nothing in the spec: no variable, the services count the TCP peer.
    let none = |sys: &ovu_crds::OvuSystem| -> Vec<Child> {
        render::build(sys, &Facts::default())
            .unwrap()
            .all()
            .cloned()
            .collect()
    };
    for d in ["ovu-ulm", "ovu-aam"] {
        assert_eq!(env_of(&none(&common::minimal()), d), None, "{d}");
    }
    // A node network the services would refuse (wider than /8) is left out rather than
    // stopping them; duplicates once.
    let odd = Facts {
        frontend_pod_cidrs: vec!["198.0.0.0/6".into(), "198.19.1.0/24".into()],
        backend_pod_cidrs: vec!["198.19.1.0/24".into()],
        ..facts()
    };
    let cs: Vec<Child> = render::build(&common::minimal(), &odd)
        .unwrap()
        .all()
        .cloned()
        .collect();
    assert_eq!(env_of(&cs, "ovu-ulm").as_deref(), Some("198.19.1.0/24"));
}

#[test]
fn frontend_service_keeps_the_client_address() {
    let svc = |cs: &[Child]| -> Value {
        cs.iter()
            .find(|c| c.kind == Kind::Service && c.name == "ovu-frontend")
            .unwrap()
            .object["spec"]
            .clone()
    };
    // NodePort (the full sample): no SNAT on the way to nginx.
    assert_eq!(
        svc(&children(&common::full()))["externalTrafficPolicy"],
        "Local"
    );
    // ClusterIP (the minimal sample) has no external traffic; the API server refuses the field.
    assert!(
        svc(&children(&common::minimal()))
            .get("externalTrafficPolicy")
            .is_none()
    );
    let mut lb = common::minimal();
    lb.spec.frontend.exposure.type_ = ovu_crds::ExposureType::LoadBalancer;
    assert_eq!(svc(&children(&lb))["externalTrafficPolicy"], "Local");
}

#[test]
fn proxy_protocol_moves_the_probes_to_a_plain_health_port() {
    let dep = |cs: &[Child]| -> Value {
        cs.iter()
            .find(|c| c.kind == Kind::Deployment && c.name == "ovu-frontend")
            .unwrap()
            .object["spec"]["template"]["spec"]["containers"][0]
            .clone()
    };
    let with = dep(&children(&common::full()));
    assert_eq!(with["readinessProbe"]["httpGet"]["port"], "health");
    assert_eq!(with["livenessProbe"]["httpGet"]["port"], "health");
    assert!(
        with["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "health" && p["containerPort"] == 8081)
    );
    let without = dep(&children(&common::minimal()));
    assert_eq!(without["readinessProbe"]["httpGet"]["port"], "http");
    assert!(
        !without["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "health")
    );
}

#[test]
fn admin_mfa_policy_reaches_ulm_and_aam_required_by_default() {
    let env_of = |sys: &ovu_crds::OvuSystem, name: &str, var: &str| -> Option<String> {
        let cs = children(sys);
        let d = cs
            .iter()
            .find(|c| c.kind == Kind::Deployment && c.name == name)
            .unwrap();
        d.object["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == var)
            .map(|e| e["value"].as_str().unwrap().to_string())
    };
    let mut sys = common::minimal();
    assert_eq!(
        env_of(&sys, "ovu-ulm", "ULM_ADMIN_MFA").as_deref(),
        Some("required")
    );
    assert_eq!(
        env_of(&sys, "ovu-aam", "AAM_ADMIN_MFA").as_deref(),
        Some("required")
    );
    sys.spec.security.admin_mfa = ovu_crds::AdminMfa::Optional;
    assert_eq!(
        env_of(&sys, "ovu-ulm", "ULM_ADMIN_MFA").as_deref(),
        Some("optional")
    );
    assert_eq!(
        env_of(&sys, "ovu-aam", "AAM_ADMIN_MFA").as_deref(),
        Some("optional")
    );
}

/// A container whose environment names a file (`*_FILE`) must mount it: init containers too,
/// since `ovu-ulm migrate` validates the same configuration as `serve` (on real nodes the
/// migrate step failed with "ULM_SIGNING_KEY_FILE ... is not a readable file" without it).
#[test]
fn every_file_a_container_is_told_about_is_mounted() {
    for (name, pod) in pod_specs(&children(&common::full())) {
        let empty = vec![];
        let containers = pod["initContainers"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .chain(pod["containers"].as_array().unwrap_or(&empty));
        for c in containers {
            let mounts: Vec<&str> = c["volumeMounts"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(|m| m["mountPath"].as_str())
                .collect();
            for e in c["env"].as_array().unwrap_or(&empty) {
                let (Some(var), Some(path)) = (e["name"].as_str(), e["value"].as_str()) else {
                    continue;
                };
                if !var.ends_with("_FILE") {
                    continue;
                }
                assert!(
                    mounts.iter().any(|m| path.starts_with(&format!("{m}/"))),
                    "{name}/{}: {var}={path} is on no mount ({mounts:?})",
                    c["name"]
                );
            }
        }
    }
}

/// The restore Job the pipeline applies for `spec.database.restore` (not part of `build`: it
/// exists only while a new system is being filled).
#[test]
fn the_restore_job_runs_on_the_database_node_reads_the_source_read_only_and_meets_restricted() {
    let mut sys = common::full();
    sys.spec.database.restore = Some(ovu_crds::Restore {
        from_claim: Some("shop-backups".into()),
        from_bucket: None,
        backup: "20261126T020000Z".into(),
    });
    let f = facts();
    let ctx = render::Ctx::new(&sys, &f).unwrap();
    let job = render::restore::job(&ctx, sys.spec.database.restore.as_ref().unwrap());
    assert_eq!((job.kind, job.name.as_str()), (Kind::Job, "ovu-restore"));
    let m = &job.object["metadata"];
    assert_eq!(m["labels"]["app.kubernetes.io/component"], "restore");
    assert_eq!(m["ownerReferences"][0]["uid"], common::UID);
    roundtrip::<k8s_openapi::api::batch::v1::Job>(&job.object);

    let pods = pod_specs(std::slice::from_ref(&job));
    let (_, p) = &pods[0];
    assert_eq!(p["nodeSelector"]["ovu.co.il/tier"], "database");
    assert_eq!(p["securityContext"]["runAsNonRoot"], true);
    let c = &p["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    let source = p["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "backups")
        .unwrap();
    assert_eq!(
        source["persistentVolumeClaim"],
        serde_json::json!({"claimName": "shop-backups", "readOnly": true})
    );
    let env = c["env"].as_array().unwrap();
    let var = |n: &str| env.iter().find(|e| e["name"] == n).unwrap().clone();
    assert_eq!(var("RESTORE_BACKUP")["value"], "20261126T020000Z");
    // Signs in as ovu_backup with the password file of the PostgreSQL Secret (the superuser
    // may not use the network).
    assert!(env.iter().all(|e| e["name"] != "PGPASSWORD"), "{env:?}");
    let secrets = p["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "secrets")
        .unwrap();
    assert_eq!(secrets["secret"]["secretName"], "ovu-postgres");
    assert_eq!(secrets["secret"]["items"][0]["key"], "backup-password");
    assert!(
        c["command"][2]
            .as_str()
            .unwrap()
            .contains("PGUSER=ovu_backup")
    );
    assert!(
        c["command"][2].as_str().unwrap().contains("pg_restore"),
        "runs the restore script"
    );

    // The database's NetworkPolicy lets the restore pod in.
    let netpol = children(&sys)
        .into_iter()
        .find(|c| c.kind == Kind::NetworkPolicy && c.name == "ovu-database")
        .unwrap();
    let from = netpol.object["spec"]["ingress"][0]["from"][0]["podSelector"].to_string();
    assert!(from.contains("\"restore\""), "{from}");
}

fn s3_bucket() -> ovu_crds::S3Bucket {
    serde_json::from_value(serde_json::json!({
        "endpoint": "https://s3.example.com:9000",
        "bucket": "ovu-backups",
        "prefix": "shop",
        "credentialsSecret": "backup-s3",
        "caConfigMap": "backup-s3-ca",
    }))
    .unwrap()
}

/// `backup.destination`: the backup Job gets the bucket's settings as variables and every
/// secret (the key, the CA, the age recipient) as files of one read-only projected volume;
/// the backup pods may reach the S3 port and nothing more. Without it, nothing changes.
#[test]
fn a_backup_destination_mounts_its_secrets_as_files_and_opens_only_the_s3_port() {
    let mut plain = common::full();
    plain.spec.database.backup.destination = None;
    let mut sys = plain.clone();
    sys.spec.database.backup.destination = Some(ovu_crds::BackupDestination {
        s3: s3_bucket(),
        recipient_secret: "backup-age".into(),
        recipient_key: "age.pub".into(),
    });
    let f = facts();
    let job_pod = |sys: &ovu_crds::OvuSystem| {
        let ctx = render::Ctx::new(sys, &f).unwrap();
        render::backup::job_spec(&ctx)["template"]["spec"].clone()
    };
    let p = job_pod(&sys);
    let c = &p["containers"][0];
    let env = c["env"].as_array().unwrap();
    let var = |n: &str| {
        env.iter()
            .find(|e| e["name"] == n)
            .map(|e| e["value"].clone())
    };
    assert_eq!(var("S3_ENDPOINT").unwrap(), "https://s3.example.com:9000");
    assert_eq!(var("S3_BUCKET").unwrap(), "ovu-backups");
    assert_eq!(var("S3_PREFIX").unwrap(), "shop/");
    // No value of any variable comes from a Secret: the secrets are files.
    assert!(env.iter().all(|e| e.get("valueFrom").is_none()), "{env:?}");
    let vol = p["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "offsite")
        .expect("the offsite volume");
    assert_eq!(
        vol["projected"]["sources"],
        serde_json::json!([
            {"secret": {"name": "backup-s3", "items": [
                {"key": "access-key-id", "path": "access-key-id"},
                {"key": "secret-access-key", "path": "secret-access-key"}]}},
            {"secret": {"name": "backup-age", "items": [{"key": "age.pub", "path": "recipient"}]}},
            {"configMap": {"name": "backup-s3-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        ])
    );
    assert_eq!(vol["projected"]["defaultMode"], 0o400);
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "offsite")
        .unwrap();
    assert_eq!(mount["readOnly"], true);
    let script = c["command"][2].as_str().unwrap();
    assert!(
        script.contains("age -e -R") && script.contains("rcat"),
        "uploads"
    );
    // Without a destination: no upload, no mount, no S3 variables.
    let p = job_pod(&plain);
    let script = p["containers"][0]["command"][2].as_str().unwrap();
    assert!(!script.contains("rclone") && !p.to_string().contains("offsite"));

    // Egress: the S3 port (9000) for the backup and restore pods, and not without it.
    let egress = |sys: &ovu_crds::OvuSystem| {
        children(sys)
            .into_iter()
            .find(|c| c.kind == Kind::NetworkPolicy && c.name.ends_with("-egress-backup"))
            .map(|c| c.object["spec"]["egress"].to_string())
            .unwrap()
    };
    assert!(egress(&sys).contains(r#""port":9000"#), "{}", egress(&sys));
    assert!(!egress(&plain).contains("9000"));
}

/// `restore.fromBucket`: the backup is fetched into an empty scratch volume (no claim), with
/// the age identity (and the bucket's key) as files; the restore script fetches first.
#[test]
fn a_restore_from_a_bucket_fetches_into_scratch_with_the_identity_as_a_file() {
    let mut sys = common::full();
    sys.spec.database.restore = Some(ovu_crds::Restore {
        from_claim: None,
        from_bucket: Some(ovu_crds::RestoreBucket {
            s3: s3_bucket(),
            identity_secret: "restore-age".into(),
            identity_key: "identity".into(),
        }),
        backup: "latest".into(),
    });
    let f = facts();
    let ctx = render::Ctx::new(&sys, &f).unwrap();
    let job = render::restore::job(&ctx, sys.spec.database.restore.as_ref().unwrap());
    roundtrip::<k8s_openapi::api::batch::v1::Job>(&job.object);
    let pods = pod_specs(std::slice::from_ref(&job));
    let (_, p) = &pods[0];
    let vols = p["volumes"].as_array().unwrap();
    let by = |n: &str| vols.iter().find(|v| v["name"] == n).unwrap().clone();
    assert_eq!(by("backups")["emptyDir"], serde_json::json!({}));
    assert_eq!(
        by("offsite")["projected"]["sources"][1],
        serde_json::json!({"secret": {"name": "restore-age", "items": [{"key": "identity", "path": "identity"}]}})
    );
    let script = p["containers"][0]["command"][2].as_str().unwrap();
    let fetch = script.find("age -d -i").expect("decrypts");
    let restore = script.find("pg_restore -h").expect("restores");
    assert!(fetch < restore, "fetches before it restores");
    assert_eq!(
        sys.spec.database.restore.as_ref().unwrap().source(),
        "s3://ovu-backups/shop/latest"
    );
}

/// `spec.mail` reaches ULM (and only ULM) as `SMTP_*` variables, the password as a mounted
/// Secret file; without it ULM gets none and keeps mail queued.
#[test]
fn mail_settings_reach_ulm_with_the_password_as_a_file() {
    let env_of = |cs: &[Child], name: &str| -> Vec<Value> {
        let d = cs
            .iter()
            .find(|c| c.kind == Kind::Deployment && c.name == name)
            .unwrap();
        d.object["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"].as_str().unwrap().starts_with("SMTP_"))
            .cloned()
            .collect()
    };
    let full = children(&common::full());
    let ulm = env_of(&full, "ovu-ulm");
    let get = |n: &str| ulm.iter().find(|e| e["name"] == n).cloned();
    assert_eq!(get("SMTP_HOST").unwrap()["value"], "smtp.ovu.co.il");
    assert_eq!(get("SMTP_PORT").unwrap()["value"], "587");
    assert_eq!(get("SMTP_TLS").unwrap()["value"], "starttls");
    assert_eq!(get("SMTP_FROM").unwrap()["value"], "no-reply@ovu.co.il");
    assert_eq!(
        get("SMTP_USERNAME").unwrap()["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "ovu-smtp", "key": "username"})
    );
    assert_eq!(
        get("SMTP_PASSWORD_FILE").unwrap()["value"],
        "/etc/ovu/smtp/password"
    );
    assert!(get("SMTP_PASSWORD").is_none(), "never the password itself");
    let d = full
        .iter()
        .find(|c| c.kind == Kind::Deployment && c.name == "ovu-ulm")
        .unwrap();
    let volumes = d.object["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    let v = volumes
        .iter()
        .find(|v| v["name"] == "smtp-credentials")
        .expect("the credentials volume");
    assert_eq!(v["secret"]["secretName"], "ovu-smtp");
    assert_eq!(
        v["secret"]["items"],
        serde_json::json!([{"key": "password", "path": "password"}])
    );
    assert!(env_of(&full, "ovu-aam").is_empty(), "AAM sends no mail");
    let minimal = children(&common::minimal());
    assert!(env_of(&minimal, "ovu-ulm").is_empty());
}

/// Egress is closed by default: with `spec.mail`, ULM (and only ULM) may reach the SMTP port,
/// inside or outside the cluster; without it, no such rule exists.
#[test]
fn ulm_may_reach_the_smtp_port_of_spec_mail_and_nothing_more() {
    let egress_ports = |cs: &[Child], name: &str| -> Vec<i64> {
        let p = cs
            .iter()
            .find(|c| c.kind == Kind::NetworkPolicy && c.name == name)
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"));
        p.object["spec"]["egress"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["port"].as_i64())
            .collect()
    };
    let full = children(&common::full());
    assert!(egress_ports(&full, "ovu-egress-ulm").contains(&587));
    assert!(!egress_ports(&full, "ovu-egress-aam").contains(&587));
    let minimal = children(&common::minimal());
    assert!(!egress_ports(&minimal, "ovu-egress-ulm").contains(&587));
    // The port follows the TLS mode when unset (ULM's own default).
    let mut sys = common::full();
    let mail = sys.spec.mail.as_mut().unwrap();
    mail.smtp.port = None;
    mail.smtp.tls = ovu_crds::SmtpTlsMode::TLS;
    assert!(egress_ports(&children(&sys), "ovu-egress-ulm").contains(&465));
}

/// A NetworkPolicy matches ports after a Service's translation: every pod may reach the
/// cluster DNS pods on whatever port they listen (1053 on the test cluster), and AAM the API
/// server at the address and port the operator read from its endpoints (16443 there), not
/// only the Service's 53 and 443.
#[test]
fn egress_follows_dns_and_the_api_server_to_their_real_ports() {
    let sys = common::full();
    let facts = ovu_operator::render::Facts {
        api_server: vec![ovu_operator::render::ApiServerEndpoint {
            address: "198.18.0.1".into(),
            port: 16443,
        }],
        ..Default::default()
    };
    let desired = ovu_operator::render::build(&sys, &facts).unwrap();
    let all: Vec<Child> = desired.all().cloned().collect();
    let rules = |name: &str| -> Vec<serde_json::Value> {
        all.iter()
            .find(|c| c.kind == Kind::NetworkPolicy && c.name == name)
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
            .object["spec"]["egress"]
            .as_array()
            .unwrap()
            .clone()
    };
    let dns_pods = serde_json::json!({"to": [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }]});
    for p in [
        "ovu-egress-frontend",
        "ovu-egress-ulm",
        "ovu-egress-aam",
        "ovu-egress-backup",
    ] {
        assert!(rules(p).contains(&dns_pods), "{p} cannot resolve names");
    }
    let api = serde_json::json!({
        "to": [{"ipBlock": {"cidr": "198.18.0.1/32"}}],
        "ports": [{"protocol": "TCP", "port": 16443}],
    });
    assert!(rules("ovu-egress-aam").contains(&api));
    assert!(
        !rules("ovu-egress-ulm").contains(&api),
        "only AAM reads the API"
    );
    // Without the endpoints (no grant to read them), the usual ports still apply.
    let plain: Vec<Child> = ovu_operator::render::build(&sys, &Default::default())
        .unwrap()
        .all()
        .cloned()
        .collect();
    let aam = plain
        .iter()
        .find(|c| c.name == "ovu-egress-aam")
        .unwrap()
        .object["spec"]["egress"]
        .to_string();
    assert!(aam.contains("6443") && !aam.contains("16443"));
}

/// The origin a browser sends carries the port it reached nginx on: `make up` serves on
/// NodePort 30443, and a page at `https://aam.d:30443` sends `Origin: https://aam.d:30443`,
/// which an allow-list of `https://aam.d` refused (issue 17: "The server cannot be reached").
/// Every consumer of the public URL takes it from one derivation: the services' CORS list,
/// nginx's CORS map and redirects, ULM's mail links and `status.endpoints` (`site_url`).
#[test]
fn public_origins_carry_the_public_port_unless_it_is_the_default() {
    let env_of = |sys: &ovu_crds::OvuSystem, name: &str, var: &str| -> String {
        let cs = children(sys);
        let d = cs
            .iter()
            .find(|c| c.kind == Kind::Deployment && c.name == name)
            .unwrap();
        d.object["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == var)
            .map(|e| e["value"].as_str().unwrap().to_string())
            .unwrap()
    };
    let nginx_conf = |sys: &ovu_crds::OvuSystem| -> String {
        children(sys)
            .iter()
            .find(|c| c.kind == Kind::ConfigMap && c.name == "ovu-nginx")
            .unwrap()
            .object["data"]["nginx.conf"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let f = facts();

    // NodePort 30443 (the full sample, like `make up`): the port is part of every origin.
    let full = common::full();
    let want = "https://ulm.ovu.co.il:30443,https://aam.ovu.co.il:30443,https://api.ovu.co.il:30443,https://portal.ovu.co.il";
    assert_eq!(env_of(&full, "ovu-ulm", "CORS_ORIGINS"), want);
    assert_eq!(env_of(&full, "ovu-aam", "CORS_ORIGINS"), want);
    assert_eq!(
        env_of(&full, "ovu-ulm", "ULM_PUBLIC_URL"),
        "https://ulm.ovu.co.il:30443"
    );
    let conf = nginx_conf(&full);
    for site in ["ulm", "aam", "api"] {
        assert!(
            conf.contains(&format!("\"https://{site}.ovu.co.il:30443\" $http_origin;")),
            "{site} missing from nginx's CORS map"
        );
    }
    assert!(!conf.contains("\"https://aam.ovu.co.il\" $http_origin;"));
    assert!(conf.contains("return 301 https://ulm.ovu.co.il:30443$request_uri;"));
    let ctx = render::Ctx::new(&full, &f).unwrap();
    assert_eq!(ctx.public_port(), 30443);
    assert_eq!(ctx.site_url("aam"), "https://aam.ovu.co.il:30443");

    // ClusterIP on 443 (the minimal sample): no port in the origins.
    let min = common::minimal();
    assert_eq!(
        env_of(&min, "ovu-aam", "CORS_ORIGINS"),
        "https://ulm.ovu.co.il,https://aam.ovu.co.il,https://api.ovu.co.il"
    );
    let ctx = render::Ctx::new(&min, &f).unwrap();
    assert_eq!(ctx.site_url("ulm"), "https://ulm.ovu.co.il");

    // A LoadBalancer on another port, and plain HTTP on a NodePort.
    let mut lb = common::minimal();
    lb.spec.frontend.exposure.type_ = ovu_crds::ExposureType::LoadBalancer;
    lb.spec.frontend.exposure.https_port = 8443;
    let ctx = render::Ctx::new(&lb, &f).unwrap();
    assert_eq!(ctx.site_url("api"), "https://api.ovu.co.il:8443");
    let mut plain = common::full();
    plain.spec.frontend.tls.mode = ovu_crds::TlsMode::Disabled;
    let ctx = render::Ctx::new(&plain, &f).unwrap();
    assert_eq!(
        ctx.site_url("aam"),
        format!(
            "http://aam.ovu.co.il:{}",
            plain.spec.frontend.exposure.http_node_port.unwrap()
        )
    );
}

/// ULM and AAM leave their Service before they stop: a preStop pause (the kubelet's own
/// sleep, no shell in the image) while kube-proxy and nginx catch up, then a grace period
/// long enough to drain after SIGTERM. Without it a rolling change failed requests
/// (e2e/tests/it/real.rs chaos_rolling_change_under_load_fails_nothing).
#[test]
fn backend_pods_leave_their_service_before_they_stop() {
    use ovu_operator::render::backend::{DRAIN_SECS, PRE_STOP_SECS};
    let all = children(&common::full());
    for name in ["ovu-ulm", "ovu-aam"] {
        let d = all
            .iter()
            .find(|c| c.kind == Kind::Deployment && c.name.ends_with(&name[3..]))
            .unwrap_or_else(|| panic!("no Deployment {name}"));
        let pod = &d.object["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"], PRE_STOP_SECS,
            "{name}"
        );
        const { assert!(PRE_STOP_SECS >= 3 && DRAIN_SECS >= 10) };
        assert_eq!(
            pod["terminationGracePeriodSeconds"],
            PRE_STOP_SECS + DRAIN_SECS,
            "{name}"
        );
    }
}

/// `spec.imagePullSecrets` reaches every pod the operator makes (the tiers, the backup
/// CronJob, the backup Job run on demand, the restore Job) and nothing else changes; without
/// it no pod gets the field, so systems that do not use it are not rewritten.
#[test]
fn image_pull_secrets_reach_every_pod_and_only_when_asked_for() {
    let pulls = |sys: &ovu_crds::OvuSystem| {
        let f = facts();
        let ctx = render::Ctx::new(sys, &f).unwrap();
        let restore = ovu_crds::Restore {
            from_claim: Some("shop-backups".into()),
            from_bucket: None,
            backup: "20261126T020000Z".into(),
        };
        let mut pods = pod_specs(&children(sys));
        pods.extend(pod_specs(&[render::restore::job(&ctx, &restore)]));
        pods.push((
            "backup-now".into(),
            render::backup::job_spec(&ctx)["template"]["spec"].clone(),
        ));
        pods
    };
    let mut plain = common::full();
    plain.spec.image_pull_secrets.clear();
    let without = pulls(&plain);
    assert_eq!(
        without.len(),
        8,
        "six tier pods, the restore and the backup Job"
    );
    for (name, p) in &without {
        assert!(p.get("imagePullSecrets").is_none(), "{name}: {p}");
    }

    let mut sys = plain.clone();
    sys.spec.image_pull_secrets = ["ovu-registry", "mirror.creds"]
        .map(|n| ovu_crds::ImagePullSecret { name: n.into() })
        .to_vec();
    let with = pulls(&sys);
    for ((name, p), (_, before)) in with.iter().zip(&without) {
        assert_eq!(
            p["imagePullSecrets"],
            serde_json::json!([{"name": "ovu-registry"}, {"name": "mirror.creds"}]),
            "{name}"
        );
        let mut rest = p.clone();
        rest.as_object_mut().unwrap().remove("imagePullSecrets");
        assert_eq!(&rest, before, "{name}: only the pull Secrets differ");
    }
}

/// Every container of every pod (the tiers, the backup CronJob and an on-demand backup, a
/// restore), as (pod, container, image).
fn images_of(sys: &ovu_crds::OvuSystem, f: &Facts) -> Vec<(String, String, String)> {
    let ctx = render::Ctx::new(sys, f).unwrap();
    let restore = ovu_crds::Restore {
        from_claim: Some("shop-backups".into()),
        from_bucket: None,
        backup: "20261126T020000Z".into(),
    };
    let mut objects: Vec<Child> = render::build(sys, f).unwrap().all().cloned().collect();
    objects.push(render::restore::job(&ctx, &restore));
    let mut pods = pod_specs(&objects);
    pods.push((
        "backup-now".into(),
        render::backup::job_spec(&ctx)["template"]["spec"].clone(),
    ));
    let mut out = vec![];
    for (pod, spec) in pods {
        for list in ["initContainers", "containers"] {
            for c in spec[list].as_array().into_iter().flatten() {
                out.push((
                    pod.clone(),
                    c["name"].as_str().unwrap().to_string(),
                    c["image"].as_str().unwrap_or("<none>").to_string(),
                ));
            }
        }
    }
    out
}

/// Which component's image a rendered container must run.
fn component_image<'a>(images: &'a ovu_crds::Images, pod: &str) -> &'a str {
    match pod {
        p if p.ends_with("-ulm") => &images.ulm,
        p if p.ends_with("-aam") => &images.aam,
        p if p.ends_with("-frontend") => &images.web,
        p if p.ends_with("-redis") => &images.redis,
        // PostgreSQL, and the backup and restore Jobs (they run its tools).
        _ => &images.postgres,
    }
}

/// A system that names no image runs the operator's configured defaults (so an operator
/// upgrade moves it), and one that names an image keeps that one whatever the defaults say.
#[test]
fn images_are_the_specs_else_the_operators_configured_defaults() {
    let configured = ovu_operator::images::DefaultImages(ovu_crds::Images {
        ulm: "registry.example.com/ovu/ulm:2.0.0@sha256:1111".into(),
        aam: "registry.example.com/ovu/aam:2.0.0".into(),
        web: "registry.example.com/ovu/web:2.0.0".into(),
        postgres: "registry.example.com/ovu/postgres:16.9".into(),
        redis: "registry.example.com/ovu/redis:7.2".into(),
    });
    let f = Facts {
        default_images: configured.clone(),
        ..facts()
    };
    let mut sys = common::full();
    sys.spec.frontend.image = None;
    sys.spec.backend.ulm.image = None;
    sys.spec.backend.aam.image = None;
    sys.spec.database.postgres.image = None;
    sys.spec.database.redis.image = None;

    let got = images_of(&sys, &f);
    // postgres (init + server), redis, backup CronJob, ulm (migrate + server), aam (migrate +
    // server), nginx, restore, backup-now.
    assert_eq!(got.len(), 11, "{got:#?}");
    for (pod, container, image) in &got {
        assert_eq!(
            image,
            component_image(&configured.0, pod),
            "{pod}/{container} runs {image}"
        );
    }
    // Every configured default is used somewhere: no component is left on a fallback.
    for want in [
        &configured.0.ulm,
        &configured.0.aam,
        &configured.0.web,
        &configured.0.postgres,
        &configured.0.redis,
    ] {
        assert!(got.iter().any(|(_, _, i)| i == want), "{want} unused");
    }

    // Pinned in the spec: the spec's image, whatever the operator's default.
    let pinned = ovu_crds::Images {
        ulm: "ovu/ulm:1.0.0".into(),
        aam: "ovu/aam:1.0.0".into(),
        web: "ovu/web:1.0.0".into(),
        postgres: "ovu/postgres-local:16".into(),
        redis: "ovu/redis-local:7".into(),
    };
    sys.spec.frontend.image = Some(pinned.web.clone());
    sys.spec.backend.ulm.image = Some(pinned.ulm.clone());
    sys.spec.backend.aam.image = Some(pinned.aam.clone());
    sys.spec.database.postgres.image = Some(pinned.postgres.clone());
    sys.spec.database.redis.image = Some(pinned.redis.clone());
    for (pod, container, image) in images_of(&sys, &f) {
        assert_eq!(image, component_image(&pinned, &pod), "{pod}/{container}");
    }

    // One pinned, the rest follow the defaults.
    sys.spec = common::full().spec;
    sys.spec.frontend.image = None;
    sys.spec.backend.ulm.image = None;
    sys.spec.backend.aam.image = Some("ovu/aam:1.0.0".into());
    sys.spec.database.postgres.image = None;
    sys.spec.database.redis.image = None;
    let ctx = render::Ctx::new(&sys, &f).unwrap();
    assert_eq!(
        ctx.images,
        ovu_crds::Images {
            aam: "ovu/aam:1.0.0".into(),
            ..configured.0.clone()
        }
    );
}
