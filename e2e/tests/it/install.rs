//! Installing the operator and the API server's validation of OvuSystems: the CRD and
//! manifests apply, `kubectl explain` and `kubectl get ovu` show what we documented, and every
//! validation rule of the schema refuses a bad spec with a message a person can act on.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use ovu_e2e::{Cluster, api_message, patience, system, with_temp_ns};
use serde_json::{Value, json};

#[tokio::test]
async fn crds_and_manifests_apply() {
    with_temp_ns("install", false, |c, _ns| async move {
        // The CRD directory as a user would apply it.
        let out = c.kubectl(&["apply", "-f", "crds/"])?;
        ensure!(
            out.contains("customresourcedefinition.apiextensions.k8s.io/ovusystems.ovu.co.il"),
            "kubectl apply -f crds/ said: {out}"
        );
        // The manifests are applied for real by e2e/run (the operator's ServiceAccount must
        // exist before it starts, and the in-cluster Deployment is then scaled to 0 because the
        // tests run the operator as a local process). Here the server checks the whole install
        // again without undoing that scale-down.
        let out = c.kubectl(&["apply", "-k", "manifests/", "--dry-run=server"])?;
        for obj in [
            "namespace/ovu-system",
            "serviceaccount/ovu-operator",
            "clusterrole.rbac.authorization.k8s.io/ovu-operator",
            "clusterrolebinding.rbac.authorization.k8s.io/ovu-operator",
            "role.rbac.authorization.k8s.io/ovu-operator-leader",
            "rolebinding.rbac.authorization.k8s.io/ovu-operator-leader",
            "deployment.apps/ovu-operator",
        ] {
            ensure!(
                out.contains(obj),
                "kubectl apply -k manifests/ did not list {obj}: {out}"
            );
        }
        // What e2e/run applied is there.
        c.kubectl(&[
            "-n",
            "ovu-system",
            "get",
            "serviceaccount/ovu-operator",
            "deployment/ovu-operator",
        ])?;
        c.kubectl(&[
            "get",
            "clusterrole/ovu-operator",
            "clusterrolebinding/ovu-operator",
        ])?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn explain_shows_the_field_docs() {
    with_temp_ns("explain", false, |c, _ns| async move {
        let out = c.kubectl(&["explain", "ovusystem.spec"])?;
        for text in [
            "The public DNS domain",
            "deletionPolicy",
            "paused",
            "placement",
            "Stop reconciling",
        ] {
            ensure!(
                out.contains(text),
                "kubectl explain ovusystem.spec lacks {text:?}:\n{out}"
            );
        }
        let out = c.kubectl(&["explain", "ovusystem.spec.database.backup.schedule"])?;
        ensure!(out.contains("5-field cron expression"), "{out}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn get_ovu_shows_the_printer_columns() {
    with_temp_ns("columns", true, |c, ns| async move {
        c.create(&ns, &system("shop", "shop.example.com", json!({})))
            .await?;
        let header = c.kubectl(&["-n", &ns, "get", "ovu"])?;
        let first = header.lines().next().unwrap_or_default().to_string();
        let cols: Vec<&str> = first.split_whitespace().collect();
        ensure!(
            cols == ["NAME", "PHASE", "READY", "DOMAIN", "LAST", "BACKUP", "AGE"],
            "kubectl get ovu header: {first:?}"
        );
        c.wait_ready(&ns, "shop", patience(Duration::from_secs(120)))
            .await?;
        let out = c.kubectl(&["-n", &ns, "get", "ovu", "shop", "--no-headers"])?;
        let row: Vec<&str> = out.split_whitespace().collect();
        ensure!(
            row.len() >= 5 && row[..4] == ["shop", "Ready", "True", "shop.example.com"],
            "kubectl get ovu row: {out:?}"
        );
        Ok(())
    })
    .await;
}

/// Create `spec_patch` over a valid system and expect the API server to refuse it with a
/// message containing every one of `expect`.
async fn refused(prefix: &str, spec_patch: Value, expect: &[&str]) {
    let expect: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
    let prefix = prefix.to_string();
    with_temp_ns(&prefix.clone(), false, |c, ns| async move {
        let obj = system("bad", "ovu.example.com", spec_patch.clone());
        refused_obj(&c, &ns, &obj, &expect).await
    })
    .await;
}

async fn refused_obj(c: &Cluster, ns: &str, obj: &Value, expect: &[String]) -> anyhow::Result<()> {
    match c.try_create(ns, obj).await {
        Ok(_) => anyhow::bail!("the API server accepted {}", obj["spec"]),
        Err(e) => {
            let msg = api_message(&e)?;
            ensure!(msg.contains("(422)"), "expected 422 Invalid, got {msg}");
            for want in expect {
                ensure!(
                    msg.contains(want.as_str()),
                    "message {msg:?} lacks {want:?}"
                );
            }
            // Readable: the offending field is named and no Go or regex internals leak.
            ensure!(
                !msg.contains("self.matches"),
                "message shows the CEL rule: {msg}"
            );
            Ok(())
        }
    }
}

#[tokio::test]
async fn name_must_be_a_short_dns_label() {
    with_temp_ns("v-name", false, |c, ns| async move {
        let long = "a".repeat(41);
        let obj = system(&long, "ovu.example.com", json!({}));
        refused_obj(
            &c,
            &ns,
            &obj,
            &["metadata.name must be a DNS label of at most 40 characters".into()],
        )
        .await?;
        let obj = system("1abc", "ovu.example.com", json!({}));
        refused_obj(&c, &ns, &obj, &["starting with a letter".into()]).await
    })
    .await;
}

#[tokio::test]
async fn domain_must_be_a_dns_name() {
    refused(
        "v-domain",
        json!({"domain": "Bad Domain!"}),
        &["spec.domain", "domain must be a lowercase DNS name"],
    )
    .await;
}

#[tokio::test]
async fn domain_needs_two_labels() {
    refused(
        "v-domain1",
        json!({"domain": "localhost"}),
        &["spec.domain", "at least two labels"],
    )
    .await;
}

#[tokio::test]
async fn domain_is_required() {
    refused(
        "v-domain0",
        json!({"domain": null}),
        &["spec.domain", "Required value"],
    )
    .await;
}

#[tokio::test]
async fn node_label_must_be_a_label_key() {
    refused(
        "v-nodelabel",
        json!({"placement": {"nodeLabel": "bad key/with space"}}),
        &[
            "spec.placement.nodeLabel",
            "placement.nodeLabel must be a label key",
        ],
    )
    .await;
}

#[tokio::test]
async fn image_must_be_an_image_reference() {
    refused(
        "v-image",
        json!({"backend": {"ulm": {"image": "ovu/ulm:1; rm -rf /"}}}),
        &[
            "spec.backend.ulm.image",
            "image must be a non-empty image reference",
        ],
    )
    .await;
}

#[tokio::test]
async fn replicas_are_bounded() {
    refused(
        "v-replicas",
        json!({"frontend": {"replicas": 0}}),
        &[
            "spec.frontend.replicas",
            "should be greater than or equal to 1",
        ],
    )
    .await;
    refused(
        "v-replicas2",
        json!({"backend": {"aam": {"replicas": 21}}}),
        &[
            "spec.backend.aam.replicas",
            "should be less than or equal to 20",
        ],
    )
    .await;
}

#[tokio::test]
async fn ports_are_bounded() {
    refused(
        "v-port",
        json!({"frontend": {"exposure": {"httpPort": 70000}}}),
        &[
            "spec.frontend.exposure.httpPort",
            "less than or equal to 65535",
        ],
    )
    .await;
}

#[tokio::test]
async fn node_ports_are_in_the_node_port_range() {
    refused(
        "v-nodeport",
        json!({"frontend": {"exposure": {"type": "NodePort", "httpNodePort": 8080}}}),
        &[
            "spec.frontend.exposure.httpNodePort",
            "greater than or equal to 30000",
        ],
    )
    .await;
}

#[tokio::test]
async fn exposure_type_is_an_enum() {
    refused(
        "v-exposure",
        json!({"frontend": {"exposure": {"type": "Ingress"}}}),
        &[
            "spec.frontend.exposure.type",
            "supported values",
            "NodePort",
        ],
    )
    .await;
}

#[tokio::test]
async fn tls_mode_is_an_enum() {
    refused(
        "v-tlsmode",
        json!({"frontend": {"tls": {"mode": "LetsEncrypt"}}}),
        &["spec.frontend.tls.mode", "supported values", "SelfSigned"],
    )
    .await;
}

#[tokio::test]
async fn tls_secret_mode_needs_a_secret_name() {
    refused(
        "v-tls-secret",
        json!({"frontend": {"tls": {"mode": "Secret"}}}),
        &["tls.secretName is required when tls.mode is Secret"],
    )
    .await;
}

#[tokio::test]
async fn tls_secret_name_only_with_secret_mode() {
    refused(
        "v-tls-secret2",
        json!({"frontend": {"tls": {"mode": "SelfSigned", "secretName": "mine"}}}),
        &["tls.secretName is only allowed when tls.mode is Secret"],
    )
    .await;
}

#[tokio::test]
async fn tls_secret_name_must_be_a_secret_name() {
    refused(
        "v-tls-secret3",
        json!({"frontend": {"tls": {"mode": "Secret", "secretName": "Bad_Name"}}}),
        &[
            "spec.frontend.tls.secretName",
            "tls.secretName must be a Secret name",
        ],
    )
    .await;
}

#[tokio::test]
async fn cert_manager_mode_needs_an_issuer() {
    refused(
        "v-issuer",
        json!({"frontend": {"tls": {"mode": "CertManager"}}}),
        &["tls.issuerRef is required when tls.mode is CertManager"],
    )
    .await;
}

#[tokio::test]
async fn issuer_only_with_cert_manager_mode() {
    refused(
        "v-issuer2",
        json!({"frontend": {"tls": {"mode": "Disabled", "issuerRef": {"name": "letsencrypt"}}}}),
        &["tls.issuerRef is only allowed when tls.mode is CertManager"],
    )
    .await;
}

#[tokio::test]
async fn issuer_name_and_group_are_checked() {
    refused(
        "v-issuer3",
        json!({"frontend": {"tls": {"mode": "CertManager", "issuerRef": {"name": "Lets Encrypt"}}}}),
        &["spec.frontend.tls.issuerRef.name", "issuerRef.name must be an issuer name"],
    )
    .await;
    refused(
        "v-issuer4",
        json!({"frontend": {"tls": {"mode": "CertManager", "issuerRef": {"name": "le", "group": "Cert Manager"}}}}),
        &["spec.frontend.tls.issuerRef.group", "issuerRef.group must be an API group"],
    )
    .await;
    refused(
        "v-issuer5",
        json!({"frontend": {"tls": {"mode": "CertManager", "issuerRef": {"name": "le", "kind": "Vault"}}}}),
        &["spec.frontend.tls.issuerRef.kind", "supported values"],
    )
    .await;
}

#[tokio::test]
async fn cors_origins_are_origins() {
    refused(
        "v-cors",
        json!({"frontend": {"corsOrigins": ["https://portal.example.com/path"]}}),
        &[
            "spec.frontend.corsOrigins[0]",
            "each corsOrigins entry must be an origin",
        ],
    )
    .await;
}

#[tokio::test]
async fn cors_origins_are_limited() {
    let many: Vec<String> = (0..17)
        .map(|i| format!("https://p{i}.example.com"))
        .collect();
    refused(
        "v-cors2",
        json!({"frontend": {"corsOrigins": many}}),
        &["spec.frontend.corsOrigins", "must have at most 16 items"],
    )
    .await;
}

#[tokio::test]
async fn trusted_proxies_are_ips_or_cidrs() {
    refused(
        "v-proxies",
        json!({"network": {"trustedProxies": ["198.19.0.0/16", "198.19.0.0/33"]}}),
        &[
            "spec.network.trustedProxies[1]",
            "each trustedProxies entry must be an IP address or CIDR",
        ],
    )
    .await;
    refused(
        "v-proxies2",
        json!({"network": {"trustedProxies": ["nginx.example.com"]}}),
        &["spec.network.trustedProxies[0]", "IP address or CIDR"],
    )
    .await;
    // A network so wide that anyone in it could claim any client address.
    refused(
        "v-proxies3",
        json!({"network": {"trustedProxies": ["198.19.0.0/16", "0.0.0.0/0"]}}),
        &[
            "spec.network.trustedProxies[1]",
            "no wider than /8 (IPv4) or /32 (IPv6)",
        ],
    )
    .await;
    refused(
        "v-proxies4",
        json!({"frontend": {"exposure": {"type": "LoadBalancer", "proxyProtocol": {"trustedCidrs": ["::/0"]}}}}),
        &[
            "spec.frontend.exposure.proxyProtocol.trustedCidrs[0]",
            "no wider than /8 (IPv4) or /32 (IPv6)",
        ],
    )
    .await;
}

#[tokio::test]
async fn resources_are_quantities() {
    refused(
        "v-quantity",
        json!({"database": {"postgres": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}}}),
        &["spec.database.postgres.resources.requests.cpu", "must be a quantity such as 500m"],
    )
    .await;
}

#[tokio::test]
async fn storage_size_is_a_quantity() {
    refused(
        "v-storage",
        json!({"database": {"backup": {"storage": {"size": "big"}}}}),
        &["spec.database.backup.storage.size", "must be a quantity"],
    )
    .await;
}

#[tokio::test]
async fn storage_class_is_a_name() {
    refused(
        "v-storageclass",
        json!({"database": {"postgres": {"storage": {"size": "1Gi", "storageClassName": "Fast SSD"}}}}),
        &["spec.database.postgres.storage.storageClassName", "storageClassName must be a DNS subdomain name"],
    )
    .await;
}

#[tokio::test]
async fn storage_cannot_change_once_created() {
    with_temp_ns("v-immutable", false, |c, ns| async move {
        c.create(&ns, &system("keep", "ovu.example.com", json!({})))
            .await?;
        let err = c
            .raw_systems(&ns)
            .patch(
                "keep",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(
                    json!({"spec": {"database": {"postgres": {"storage": {"size": "2Gi"}}}}}),
                ),
            )
            .await
            .err()
            .context("the API server accepted a storage size change")?;
        let msg = api_message(&err)?;
        ensure!(
            msg.contains("spec.database.postgres.storage")
                && msg.contains(
                    "storage.size and storage.storageClassName cannot change once the volume exists"
                ),
            "{msg}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn redis_max_memory_has_redis_units() {
    refused(
        "v-redis",
        json!({"database": {"redis": {"maxMemory": "256Mi"}}}),
        &[
            "spec.database.redis.maxMemory",
            "redis.maxMemory must be digits followed by kb, mb or gb",
        ],
    )
    .await;
}

#[tokio::test]
async fn backup_schedule_is_cron() {
    refused(
        "v-cron",
        json!({"database": {"backup": {"schedule": "every day at 2"}}}),
        &[
            "spec.database.backup.schedule",
            "backup.schedule must be a 5-field cron expression",
        ],
    )
    .await;
}

#[tokio::test]
async fn backup_retain_is_bounded() {
    refused(
        "v-retain",
        json!({"database": {"backup": {"retain": 0}}}),
        &["spec.database.backup.retain", "greater than or equal to 1"],
    )
    .await;
}

#[tokio::test]
async fn deletion_policy_is_an_enum() {
    refused(
        "v-deletion",
        json!({"deletionPolicy": "Archive"}),
        &["spec.deletionPolicy", "supported values", "Retain"],
    )
    .await;
}

#[tokio::test]
async fn a_valid_full_spec_is_accepted() {
    // The counterpart of the refusals: the documented full sample passes every rule.
    with_temp_ns("v-full", false, |c, ns| async move {
        c.kubectl(&[
            "-n",
            &ns,
            "apply",
            "--dry-run=server",
            "-f",
            "manifests/samples/ovusystem-full.yaml",
        ])?;
        c.kubectl(&[
            "-n",
            &ns,
            "apply",
            "--dry-run=server",
            "-f",
            "manifests/samples/ovusystem.yaml",
        ])?;
        Ok(())
    })
    .await;
}
