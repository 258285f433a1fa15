//! The table of invalid OvuSystems, one case per rule, shared by the crate's offline tests
//! (`crds/tests/it/invalid.rs`: [`OvuSystemSpec::validate`](crate::OvuSystemSpec::validate)
//! or serde refuses it, naming the field) and the e2e admission test
//! (`e2e/tests/it/install.rs`: the API server refuses it with a 422 naming the field). One
//! table proves the CEL/OpenAPI rules and their Rust twins agree case by case, and a rule
//! added to the CRD without a case here fails `every_cel_message_has_a_case` offline.

use serde_json::{Value, json};

use crate::rules;

/// Where the crate itself refuses a case (without an API server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offline {
    /// `OvuSystemSpec::validate` reports `field` with a message containing `message`.
    Validate {
        field: &'static str,
        message: &'static str,
    },
    /// The object's name breaks [`rules::is_system_name`] (the CRD's top-level rule).
    Name,
    /// The spec does not deserialize: a type, enum or required-field rule serde enforces too.
    Unparsable,
    /// A transition rule (the object changed after creation): only the API server has the
    /// old object, so nothing to check offline beyond the rule being in the schema.
    Transition,
}

/// One invalid OvuSystem.
#[derive(Clone, Debug)]
pub struct InvalidSpec {
    /// Short, unique, DNS-label-safe name of the case.
    pub case: &'static str,
    /// `metadata.name` of the object (a transition case's own name: its object is created).
    pub system: String,
    /// JSON merge patch over a valid spec (offline: [`valid_spec`]; e2e:
    /// `ovu_e2e::system`'s, which sizes it for its nodes). For a transition case, the patch
    /// applied to the existing object.
    pub patch: Value,
    /// Transition cases: the object is created valid first (this patch), then `patch` is
    /// applied to it.
    pub created_with: Option<Value>,
    pub offline: Offline,
    /// Fragments the API server's 422 message must contain (the field path first).
    pub api: Vec<&'static str>,
}

/// The valid spec the cases patch offline (the smallest one: every other field, the images
/// included, may be left out).
pub fn valid_spec() -> Value {
    json!({"domain": "ovu.example.com"})
}

/// JSON merge patch (RFC 7386) of `patch` into `target`.
pub fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

fn case(case: &'static str, patch: Value, offline: Offline, api: &[&'static str]) -> InvalidSpec {
    InvalidSpec {
        case,
        system: "bad".into(),
        patch,
        created_with: None,
        offline,
        api: api.to_vec(),
    }
}

/// A case refused by a CEL rule whose message Rust repeats word for word: the API server names
/// `api_field` (the object the rule sits on), Rust names `field`.
fn cel(
    name: &'static str,
    patch: Value,
    field: &'static str,
    api_field: &'static str,
    message: &'static str,
) -> InvalidSpec {
    case(
        name,
        patch,
        Offline::Validate { field, message },
        &[api_field, message],
    )
}

/// A case refused by an OpenAPI bound (`minimum`, `maxItems` …): the API server's wording is
/// its own, Rust's is `rust_message`.
fn bound(
    name: &'static str,
    patch: Value,
    field: &'static str,
    rust_message: &'static str,
    api_message: &'static str,
) -> InvalidSpec {
    case(
        name,
        patch,
        Offline::Validate {
            field,
            message: rust_message,
        },
        &[field, api_message],
    )
}

/// Every invalid-spec case.
pub fn invalid_specs() -> Vec<InvalidSpec> {
    use rules::*;
    let many_origins: Vec<String> = (0..17)
        .map(|i| format!("https://p{i}.example.com"))
        .collect();
    let mut v = vec![
        InvalidSpec {
            system: "a".repeat(41),
            ..case("name-long", json!({}), Offline::Name, &[MSG_SYSTEM_NAME])
        },
        InvalidSpec {
            system: "1abc".into(),
            ..case(
                "name-digit",
                json!({}),
                Offline::Name,
                &["starting with a letter"],
            )
        },
        cel(
            "domain-chars",
            json!({"domain": "Bad Domain!"}),
            "spec.domain",
            "spec.domain",
            MSG_DOMAIN,
        ),
        cel(
            "domain-upper",
            json!({"domain": "OVU.co.il"}),
            "spec.domain",
            "spec.domain",
            MSG_DOMAIN,
        ),
        cel(
            "domain-one-label",
            json!({"domain": "localhost"}),
            "spec.domain",
            "spec.domain",
            "at least two labels",
        ),
        cel(
            "domain-semicolon",
            json!({"domain": "a.b;c"}),
            "spec.domain",
            "spec.domain",
            MSG_DOMAIN,
        ),
        case(
            "domain-missing",
            json!({"domain": null}),
            Offline::Unparsable,
            &["spec.domain", "Required value"],
        ),
        cel(
            "node-label",
            json!({"placement": {"nodeLabel": "bad key/with space"}}),
            "spec.placement.nodeLabel",
            "spec.placement.nodeLabel",
            MSG_LABEL_KEY,
        ),
        cel(
            "node-label-bang",
            json!({"placement": {"nodeLabel": "bad key!"}}),
            "spec.placement.nodeLabel",
            "spec.placement.nodeLabel",
            MSG_LABEL_KEY,
        ),
        cel(
            "image-shell",
            json!({"backend": {"ulm": {"image": "ovu/ulm:1; rm -rf /"}}}),
            "spec.backend.ulm.image",
            "spec.backend.ulm.image",
            MSG_IMAGE,
        ),
        cel(
            "image-empty",
            json!({"frontend": {"image": ""}}),
            "spec.frontend.image",
            "spec.frontend.image",
            MSG_IMAGE,
        ),
        cel(
            "image-space",
            json!({"frontend": {"image": "x y"}}),
            "spec.frontend.image",
            "spec.frontend.image",
            MSG_IMAGE,
        ),
        bound(
            "replicas-zero",
            json!({"frontend": {"replicas": 0}}),
            "spec.frontend.replicas",
            "replicas must be between 1 and 20",
            "should be greater than or equal to 1",
        ),
        bound(
            "replicas-ulm-zero",
            json!({"backend": {"ulm": {"replicas": 0}}}),
            "spec.backend.ulm.replicas",
            "replicas must be between 1 and 20",
            "should be greater than or equal to 1",
        ),
        bound(
            "sign-in-rate-zero",
            json!({"frontend": {"rateLimits": {"signInPerSecond": 0}}}),
            "spec.frontend.rateLimits.signInPerSecond",
            "signInPerSecond must be between 1 and 1000",
            "should be greater than or equal to 1",
        ),
        bound(
            "api-burst-many",
            json!({"frontend": {"rateLimits": {"apiBurst": 10001}}}),
            "spec.frontend.rateLimits.apiBurst",
            "apiBurst must be between 0 and 10000",
            "should be less than or equal to 10000",
        ),
        bound(
            "replicas-many",
            json!({"backend": {"aam": {"replicas": 21}}}),
            "spec.backend.aam.replicas",
            "replicas must be between 1 and 20",
            "should be less than or equal to 20",
        ),
        bound(
            "port-high",
            json!({"frontend": {"exposure": {"httpPort": 70000}}}),
            "spec.frontend.exposure.httpPort",
            "port must be between 1 and 65535",
            "less than or equal to 65535",
        ),
        bound(
            "node-port-low",
            json!({"frontend": {"exposure": {"type": "NodePort", "httpNodePort": 8080}}}),
            "spec.frontend.exposure.httpNodePort",
            "node port must be between 30000 and 32767",
            "greater than or equal to 30000",
        ),
        cel(
            "node-port-not-node-port",
            json!({"frontend": {"exposure": {"httpNodePort": 30080}}}),
            "spec.frontend.exposure",
            "spec.frontend.exposure",
            "exposure.httpNodePort and httpsNodePort are only allowed when exposure.type is NodePort",
        ),
        case(
            "exposure-type",
            json!({"frontend": {"exposure": {"type": "Ingress"}}}),
            Offline::Unparsable,
            &[
                "spec.frontend.exposure.type",
                "supported values",
                "NodePort",
            ],
        ),
        case(
            "tls-mode",
            json!({"frontend": {"tls": {"mode": "LetsEncrypt"}}}),
            Offline::Unparsable,
            &["spec.frontend.tls.mode", "supported values", "SelfSigned"],
        ),
        cel(
            "tls-secret-missing",
            json!({"frontend": {"tls": {"mode": "Secret"}}}),
            "spec.frontend.tls.secretName",
            "spec.frontend.tls",
            "tls.secretName is required when tls.mode is Secret",
        ),
        cel(
            "tls-secret-unwanted",
            json!({"frontend": {"tls": {"mode": "SelfSigned", "secretName": "mine"}}}),
            "spec.frontend.tls.secretName",
            "spec.frontend.tls",
            "tls.secretName is only allowed when tls.mode is Secret",
        ),
        cel(
            "tls-secret-name",
            json!({"frontend": {"tls": {"mode": "Secret", "secretName": "Bad_Name"}}}),
            "spec.frontend.tls.secretName",
            "spec.frontend.tls.secretName",
            MSG_SECRET_NAME,
        ),
        cel(
            "issuer-missing",
            json!({"frontend": {"tls": {"mode": "CertManager"}}}),
            "spec.frontend.tls.issuerRef",
            "spec.frontend.tls",
            "tls.issuerRef is required when tls.mode is CertManager",
        ),
        cel(
            "issuer-unwanted",
            json!({"frontend": {"tls": {"mode": "Disabled", "issuerRef": {"name": "letsencrypt"}}}}),
            "spec.frontend.tls.issuerRef",
            "spec.frontend.tls",
            "tls.issuerRef is only allowed when tls.mode is CertManager",
        ),
        cel(
            "issuer-name",
            json!({"frontend": {"tls": {"mode": "CertManager", "issuerRef": {"name": "Lets Encrypt"}}}}),
            "spec.frontend.tls.issuerRef.name",
            "spec.frontend.tls.issuerRef.name",
            MSG_ISSUER_NAME,
        ),
        cel(
            "issuer-group",
            json!({"frontend": {"tls": {"mode": "CertManager", "issuerRef": {"name": "le", "group": "Cert Manager"}}}}),
            "spec.frontend.tls.issuerRef.group",
            "spec.frontend.tls.issuerRef.group",
            "issuerRef.group must be an API group such as cert-manager.io",
        ),
        case(
            "issuer-kind",
            json!({"frontend": {"tls": {"mode": "CertManager", "issuerRef": {"name": "le", "kind": "Vault"}}}}),
            Offline::Unparsable,
            &["spec.frontend.tls.issuerRef.kind", "supported values"],
        ),
        cel(
            "cors-path",
            json!({"frontend": {"corsOrigins": ["https://portal.example.com/path"]}}),
            "spec.frontend.corsOrigins[0]",
            "spec.frontend.corsOrigins[0]",
            MSG_ORIGIN,
        ),
        cel(
            "cors-semicolon",
            json!({"frontend": {"corsOrigins": ["https://x.com; add_header"]}}),
            "spec.frontend.corsOrigins[0]",
            "spec.frontend.corsOrigins[0]",
            MSG_ORIGIN,
        ),
        bound(
            "cors-many",
            json!({"frontend": {"corsOrigins": many_origins}}),
            "spec.frontend.corsOrigins",
            "at most 16 corsOrigins",
            "must have at most 16 items",
        ),
        cel(
            "pull-secret-name",
            json!({"imagePullSecrets": [{"name": "ovu-registry"}, {"name": "Registry_Creds"}]}),
            "spec.imagePullSecrets[1].name",
            "spec.imagePullSecrets[1].name",
            MSG_PULL_SECRET,
        ),
        bound(
            "pull-secrets-many",
            json!({"imagePullSecrets": (0..9).map(|i| json!({"name": format!("creds-{i}")})).collect::<Vec<_>>()}),
            "spec.imagePullSecrets",
            "at most 8 imagePullSecrets",
            "must have at most 8 items",
        ),
        cel(
            "proxies-prefix",
            json!({"network": {"trustedProxies": ["198.19.0.0/16", "198.19.0.0/33"]}}),
            "spec.network.trustedProxies[1]",
            "spec.network.trustedProxies[1]",
            MSG_IP_OR_CIDR,
        ),
        cel(
            "proxies-prefix40",
            json!({"network": {"trustedProxies": ["10.244.0.0/16", "10.0.0.0/40"]}}),
            "spec.network.trustedProxies[1]",
            "spec.network.trustedProxies[1]",
            MSG_IP_OR_CIDR,
        ),
        cel(
            "proxies-host",
            json!({"network": {"trustedProxies": ["nginx.example.com"]}}),
            "spec.network.trustedProxies[0]",
            "spec.network.trustedProxies[0]",
            MSG_IP_OR_CIDR,
        ),
        // Networks so wide that anyone in them could claim any client address.
        cel(
            "proxies-everyone",
            json!({"network": {"trustedProxies": ["198.19.0.0/16", "0.0.0.0/0"]}}),
            "spec.network.trustedProxies[1]",
            "spec.network.trustedProxies[1]",
            MSG_PROXY_WIDTH,
        ),
        cel(
            "proxies-slash7",
            json!({"network": {"trustedProxies": ["198.0.0.0/7"]}}),
            "spec.network.trustedProxies[0]",
            "spec.network.trustedProxies[0]",
            MSG_PROXY_WIDTH,
        ),
        cel(
            "proxies-v6-slash31",
            json!({"network": {"trustedProxies": ["2001:db8::/31"]}}),
            "spec.network.trustedProxies[0]",
            "spec.network.trustedProxies[0]",
            MSG_PROXY_WIDTH,
        ),
        bound(
            "pp-cidrs-empty",
            json!({"frontend": {"exposure": {"type": "LoadBalancer", "proxyProtocol": {"trustedCidrs": []}}}}),
            "spec.frontend.exposure.proxyProtocol.trustedCidrs",
            "between 1 and 32 proxyProtocol.trustedCidrs",
            "should have at least 1 items",
        ),
        cel(
            "pp-cidrs-host",
            json!({"frontend": {"exposure": {"type": "LoadBalancer", "proxyProtocol": {"trustedCidrs": ["198.18.0.0/24", "lb.example.com"]}}}}),
            "spec.frontend.exposure.proxyProtocol.trustedCidrs[1]",
            "spec.frontend.exposure.proxyProtocol.trustedCidrs[1]",
            MSG_PP_IP_OR_CIDR,
        ),
        cel(
            "pp-cidrs-everyone",
            json!({"frontend": {"exposure": {"type": "LoadBalancer", "proxyProtocol": {"trustedCidrs": ["::/0"]}}}}),
            "spec.frontend.exposure.proxyProtocol.trustedCidrs[0]",
            "spec.frontend.exposure.proxyProtocol.trustedCidrs[0]",
            MSG_PP_WIDTH,
        ),
        cel(
            "resources-cpu",
            json!({"database": {"postgres": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}}}),
            "spec.database.postgres.resources.requests.cpu",
            "spec.database.postgres.resources.requests.cpu",
            MSG_QUANTITY,
        ),
        cel(
            "storage-size",
            json!({"database": {"backup": {"storage": {"size": "big"}}}}),
            "spec.database.backup.storage.size",
            "spec.database.backup.storage.size",
            MSG_QUANTITY,
        ),
        cel(
            "storage-size-words",
            json!({"database": {"postgres": {"storage": {"size": "ten gigs"}}}}),
            "spec.database.postgres.storage.size",
            "spec.database.postgres.storage.size",
            MSG_QUANTITY,
        ),
        cel(
            "storage-class",
            json!({"database": {"postgres": {"storage": {"size": "1Gi", "storageClassName": "Fast SSD"}}}}),
            "spec.database.postgres.storage.storageClassName",
            "spec.database.postgres.storage.storageClassName",
            "storageClassName must be a DNS subdomain name",
        ),
        InvalidSpec {
            system: "storage-change".into(),
            created_with: Some(json!({})),
            ..case(
                "storage-change",
                json!({"database": {"postgres": {"storage": {"size": "2Gi"}}}}),
                Offline::Transition,
                &[
                    "spec.database.postgres.storage",
                    "storage.size and storage.storageClassName cannot change once the volume exists",
                ],
            )
        },
        cel(
            "redis-units",
            json!({"database": {"redis": {"maxMemory": "256Mi"}}}),
            "spec.database.redis.maxMemory",
            "spec.database.redis.maxMemory",
            MSG_REDIS_MEMORY,
        ),
        // A second line for redis.conf, short enough (maxLength 16) that the API server
        // gets to the CEL rule: a longer one is refused as "Too long" and the rule skipped.
        cel(
            "redis-newline",
            json!({"database": {"redis": {"maxMemory": "1mb\nrequirepass"}}}),
            "spec.database.redis.maxMemory",
            "spec.database.redis.maxMemory",
            MSG_REDIS_MEMORY,
        ),
        cel(
            "cron-words",
            json!({"database": {"backup": {"schedule": "every day at 2"}}}),
            "spec.database.backup.schedule",
            "spec.database.backup.schedule",
            MSG_CRON,
        ),
        cel(
            "cron-four",
            json!({"database": {"backup": {"schedule": "0 2 * *"}}}),
            "spec.database.backup.schedule",
            "spec.database.backup.schedule",
            MSG_CRON,
        ),
        cel(
            "cron-six",
            json!({"database": {"backup": {"schedule": "0 2 * * * *"}}}),
            "spec.database.backup.schedule",
            "spec.database.backup.schedule",
            MSG_CRON,
        ),
        cel(
            "cron-shell",
            json!({"database": {"backup": {"schedule": "0 2 * * *; rm"}}}),
            "spec.database.backup.schedule",
            "spec.database.backup.schedule",
            MSG_CRON,
        ),
        bound(
            "retain-zero",
            json!({"database": {"backup": {"retain": 0}}}),
            "spec.database.backup.retain",
            "backup.retain must be between 1 and 365",
            "greater than or equal to 1",
        ),
        cel(
            "restore-claim",
            json!({"database": {"restore": {"fromClaim": "Shop_backups"}}}),
            "spec.database.restore.fromClaim",
            "spec.database.restore.fromClaim",
            MSG_RESTORE_CLAIM,
        ),
        cel(
            "restore-backup",
            json!({"database": {"restore": {"fromClaim": "shop-backups", "backup": "yesterday"}}}),
            "spec.database.restore.backup",
            "spec.database.restore.backup",
            MSG_BACKUP_NAME,
        ),
        cel(
            "restore-two-sources",
            json!({"database": {"restore": {"fromClaim": "shop-backups", "fromBucket": {
                "s3": {"endpoint": "https://s3.example.com", "bucket": "ovu-backups", "credentialsSecret": "s3"},
                "identitySecret": "age-identity"}}}}),
            "spec.database.restore",
            "spec.database.restore",
            MSG_RESTORE_SOURCE,
        ),
        cel(
            "restore-no-source",
            json!({"database": {"restore": {"backup": "latest"}}}),
            "spec.database.restore",
            "spec.database.restore",
            MSG_RESTORE_SOURCE,
        ),
        cel(
            "restore-identity-secret",
            json!({"database": {"restore": {"fromBucket": {
                "s3": {"endpoint": "https://s3.example.com", "bucket": "ovu-backups", "credentialsSecret": "s3"},
                "identitySecret": "Age Identity"}}}}),
            "spec.database.restore.fromBucket.identitySecret",
            "spec.database.restore.fromBucket.identitySecret",
            MSG_OBJECT_NAME,
        ),
        InvalidSpec {
            system: "restore-later".into(),
            created_with: Some(json!({})),
            ..case(
                "restore-later",
                json!({"database": {"restore": {"fromClaim": "shop-backups"}}}),
                Offline::Transition,
                &["spec.database", MSG_RESTORE_ONCE],
            )
        },
        case(
            "deletion-policy",
            json!({"deletionPolicy": "Archive"}),
            Offline::Unparsable,
            &["spec.deletionPolicy", "supported values", "Retain"],
        ),
        cel(
            "prometheus-namespace",
            json!({"monitoring": {"podMonitor": true, "prometheusNamespace": "Monitoring.NS"}}),
            "spec.monitoring.prometheusNamespace",
            "spec.monitoring.prometheusNamespace",
            MSG_PROMETHEUS_NAMESPACE,
        ),
    ];
    // backup.destination: a valid one with one field changed.
    let dest = |name: &'static str, patch: Value, field: &'static str, message: &'static str| {
        let mut d = json!({
            "s3": {"endpoint": "https://s3.example.com", "bucket": "ovu-backups", "credentialsSecret": "s3"},
            "recipientSecret": "age-recipient",
        });
        merge(&mut d, patch);
        cel(
            name,
            json!({"database": {"backup": {"destination": d}}}),
            field,
            field,
            message,
        )
    };
    v.extend([
        dest(
            "s3-endpoint-path",
            json!({"s3": {"endpoint": "https://s3.example.com/backups"}}),
            "spec.database.backup.destination.s3.endpoint",
            MSG_S3_ENDPOINT,
        ),
        dest(
            "s3-endpoint-scheme",
            json!({"s3": {"endpoint": "s3.example.com"}}),
            "spec.database.backup.destination.s3.endpoint",
            MSG_S3_ENDPOINT,
        ),
        dest(
            "s3-bucket",
            json!({"s3": {"bucket": "Ovu_Backups"}}),
            "spec.database.backup.destination.s3.bucket",
            MSG_S3_BUCKET,
        ),
        dest(
            "s3-prefix-dotdot",
            json!({"s3": {"prefix": "shop/../other/"}}),
            "spec.database.backup.destination.s3.prefix",
            MSG_S3_PREFIX,
        ),
        dest(
            "s3-region",
            json!({"s3": {"region": "US East"}}),
            "spec.database.backup.destination.s3.region",
            MSG_S3_REGION,
        ),
        dest(
            "s3-credentials-secret",
            json!({"s3": {"credentialsSecret": "S3_Creds"}}),
            "spec.database.backup.destination.s3.credentialsSecret",
            MSG_OBJECT_NAME,
        ),
        dest(
            "s3-key",
            json!({"s3": {"secretAccessKeyKey": "secret key"}}),
            "spec.database.backup.destination.s3.secretAccessKeyKey",
            MSG_CONFIG_KEY,
        ),
        dest(
            "s3-two-cas",
            json!({"s3": {"caSecret": "s3-ca", "caConfigMap": "s3-ca"}}),
            "spec.database.backup.destination.s3",
            MSG_ONE_CA,
        ),
        dest(
            "recipient-key",
            json!({"recipientKey": "age pub"}),
            "spec.database.backup.destination.recipientKey",
            MSG_CONFIG_KEY,
        ),
    ]);
    let mail = |name: &'static str, mail: Value, field: &'static str, message: &'static str| {
        let mut m = json!({"smtp": {"host": "h"}, "from": "a@b.c"});
        merge(&mut m, mail);
        cel(name, json!({"mail": m}), field, field, message)
    };
    v.extend([
        mail(
            "mail-host",
            json!({"smtp": {"host": "smtp example"}}),
            "spec.mail.smtp.host",
            MSG_SMTP_HOST,
        ),
        mail(
            "mail-from-display",
            json!({"from": "OVU <a@b.c>"}),
            "spec.mail.from",
            MSG_MAIL_ADDRESS,
        ),
        mail(
            "mail-from-upper",
            json!({"from": "a@B.c"}),
            "spec.mail.from",
            MSG_MAIL_ADDRESS,
        ),
        mail(
            "mail-from-header",
            json!({"from": "a@b.c\nBcc: x@y.z"}),
            "spec.mail.from",
            MSG_MAIL_ADDRESS,
        ),
        mail(
            "mail-secret",
            json!({"credentialsSecret": "Bad_Name"}),
            "spec.mail.credentialsSecret",
            MSG_MAIL_SECRET,
        ),
        bound(
            "mail-port",
            json!({"mail": {"smtp": {"host": "h", "port": 0}, "from": "a@b.c"}}),
            "spec.mail.smtp.port",
            "port must be between 1 and 65535",
            "greater than or equal to 1",
        ),
    ]);
    v
}
