//! [`OvuSystemSpec::validate`]: the schema's rules, checked again in Rust.
//!
//! The API server enforces the schema; the operator still checks, because a CRD installed from
//! an older version (or a spec written before a rule existed) can hold values the renderers
//! must never see. Every failure names the field and says what a good value looks like.

use crate::{OvuSystemSpec, Resources, S3Bucket, Storage, TlsMode, rules};
use std::fmt;

/// One rule a spec breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// JSON path of the field, e.g. `spec.frontend.replicas`.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

/// Every rule a spec breaks (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

struct Collector(Vec<ValidationError>);

impl Collector {
    fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.0.push(ValidationError {
                field: field.into(),
                message: message.into(),
            });
        }
    }
    /// An image the spec names; unset is fine (the operator's default).
    fn image(&mut self, v: Option<&String>, field: &str) {
        if let Some(v) = v {
            self.check(rules::is_image(v), field, rules::MSG_IMAGE);
        }
    }
    fn object_name(&mut self, v: &str, field: &str) {
        self.check(rules::is_dns_subdomain(v), field, rules::MSG_OBJECT_NAME);
    }
    fn key(&mut self, v: &str, field: &str) {
        self.check(rules::is_config_key(v), field, rules::MSG_CONFIG_KEY);
    }
    fn s3(&mut self, b: &S3Bucket, field: &str) {
        self.check(
            b.endpoint.len() <= 253 && rules::is_s3_endpoint(&b.endpoint),
            &format!("{field}.endpoint"),
            rules::MSG_S3_ENDPOINT,
        );
        self.check(
            rules::is_s3_bucket(&b.bucket),
            &format!("{field}.bucket"),
            rules::MSG_S3_BUCKET,
        );
        if let Some(p) = &b.prefix {
            self.check(
                p.len() <= 200 && rules::is_s3_prefix(p),
                &format!("{field}.prefix"),
                rules::MSG_S3_PREFIX,
            );
        }
        if let Some(r) = &b.region {
            self.check(
                rules::is_region(r),
                &format!("{field}.region"),
                rules::MSG_S3_REGION,
            );
        }
        self.object_name(&b.credentials_secret, &format!("{field}.credentialsSecret"));
        self.key(&b.access_key_id_key, &format!("{field}.accessKeyIdKey"));
        self.key(
            &b.secret_access_key_key,
            &format!("{field}.secretAccessKeyKey"),
        );
        for (v, f) in [
            (&b.ca_secret, "caSecret"),
            (&b.ca_config_map, "caConfigMap"),
        ] {
            if let Some(v) = v {
                self.object_name(v, &format!("{field}.{f}"));
            }
        }
        self.key(&b.ca_key, &format!("{field}.caKey"));
        self.check(
            !(b.ca_secret.is_some() && b.ca_config_map.is_some()),
            field,
            rules::MSG_ONE_CA,
        );
    }
    fn resources(&mut self, r: &Resources, field: &str) {
        for (v, f) in [
            (&r.requests.cpu, "requests.cpu"),
            (&r.requests.memory, "requests.memory"),
            (&r.limits.cpu, "limits.cpu"),
            (&r.limits.memory, "limits.memory"),
        ] {
            self.check(
                rules::is_quantity(v),
                &format!("{field}.{f}"),
                rules::MSG_QUANTITY,
            );
        }
    }
    fn storage(&mut self, s: &Storage, field: &str) {
        self.check(
            rules::is_quantity(&s.size),
            &format!("{field}.size"),
            rules::MSG_QUANTITY,
        );
        if let Some(sc) = &s.storage_class_name {
            self.check(
                rules::is_dns_subdomain(sc),
                &format!("{field}.storageClassName"),
                "storageClassName must be a DNS subdomain name",
            );
        }
    }
    fn replicas(&mut self, n: i32, field: &str) {
        self.check(
            (1..=20).contains(&n),
            field,
            "replicas must be between 1 and 20",
        );
    }
}

impl OvuSystemSpec {
    /// Check the spec against every schema rule that does not need the previous version
    /// (transition rules such as immutable storage are left to the API server).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut c = Collector(Vec::new());
        c.check(
            rules::is_domain(&self.domain),
            "spec.domain",
            rules::MSG_DOMAIN,
        );
        c.check(
            rules::is_label_key(&self.placement.node_label),
            "spec.placement.nodeLabel",
            rules::MSG_LABEL_KEY,
        );

        let fe = &self.frontend;
        c.image(fe.image.as_ref(), "spec.frontend.image");
        c.replicas(fe.replicas, "spec.frontend.replicas");
        for (port, f) in [
            (fe.exposure.http_port, "spec.frontend.exposure.httpPort"),
            (fe.exposure.https_port, "spec.frontend.exposure.httpsPort"),
        ] {
            c.check(
                (1..=65535).contains(&port),
                f,
                "port must be between 1 and 65535",
            );
        }
        for (port, f) in [
            (
                fe.exposure.http_node_port,
                "spec.frontend.exposure.httpNodePort",
            ),
            (
                fe.exposure.https_node_port,
                "spec.frontend.exposure.httpsNodePort",
            ),
        ] {
            if let Some(p) = port {
                c.check(
                    (30000..=32767).contains(&p),
                    f,
                    "node port must be between 30000 and 32767",
                );
            }
        }
        c.check(
            fe.exposure.type_ == crate::ExposureType::NodePort
                || (fe.exposure.http_node_port.is_none() && fe.exposure.https_node_port.is_none()),
            "spec.frontend.exposure",
            "exposure.httpNodePort and httpsNodePort are only allowed when exposure.type is NodePort",
        );
        let tls = &fe.tls;
        c.check(
            tls.mode != TlsMode::Secret || tls.secret_name.is_some(),
            "spec.frontend.tls.secretName",
            "tls.secretName is required when tls.mode is Secret",
        );
        c.check(
            tls.mode == TlsMode::Secret || tls.secret_name.is_none(),
            "spec.frontend.tls.secretName",
            "tls.secretName is only allowed when tls.mode is Secret",
        );
        c.check(
            tls.mode != TlsMode::CertManager || tls.issuer_ref.is_some(),
            "spec.frontend.tls.issuerRef",
            "tls.issuerRef is required when tls.mode is CertManager",
        );
        c.check(
            tls.mode == TlsMode::CertManager || tls.issuer_ref.is_none(),
            "spec.frontend.tls.issuerRef",
            "tls.issuerRef is only allowed when tls.mode is CertManager",
        );
        if let Some(s) = &tls.secret_name {
            c.check(
                rules::is_dns_subdomain(s),
                "spec.frontend.tls.secretName",
                rules::MSG_SECRET_NAME,
            );
        }
        if let Some(i) = &tls.issuer_ref {
            c.check(
                rules::is_dns_subdomain(&i.name),
                "spec.frontend.tls.issuerRef.name",
                rules::MSG_ISSUER_NAME,
            );
            c.check(
                rules::is_dns_subdomain(&i.group),
                "spec.frontend.tls.issuerRef.group",
                "issuerRef.group must be an API group such as cert-manager.io",
            );
        }
        c.check(
            fe.cors_origins.len() <= 16,
            "spec.frontend.corsOrigins",
            "at most 16 corsOrigins",
        );
        for (i, o) in fe.cors_origins.iter().enumerate() {
            c.check(
                rules::is_origin(o),
                &format!("spec.frontend.corsOrigins[{i}]"),
                rules::MSG_ORIGIN,
            );
        }
        c.resources(&fe.resources, "spec.frontend.resources");
        let rl = &fe.rate_limits;
        for (n, field, min, max) in [
            (rl.sign_in_per_second, "signInPerSecond", 1, 1000),
            (rl.sign_in_burst, "signInBurst", 0, 1000),
            (rl.api_per_second, "apiPerSecond", 1, 10000),
            (rl.api_burst, "apiBurst", 0, 10000),
        ] {
            c.check(
                (min..=max).contains(&n),
                &format!("spec.frontend.rateLimits.{field}"),
                &format!("{field} must be between {min} and {max}"),
            );
        }

        let pull = &self.image_pull_secrets;
        c.check(
            pull.len() <= 8,
            "spec.imagePullSecrets",
            "at most 8 imagePullSecrets",
        );
        for (i, p) in pull.iter().enumerate() {
            c.check(
                !p.name.is_empty() && p.name.len() <= 253 && rules::is_dns_subdomain(&p.name),
                &format!("spec.imagePullSecrets[{i}].name"),
                rules::MSG_PULL_SECRET,
            );
        }

        let tp = &self.network.trusted_proxies;
        c.check(
            tp.len() <= 32,
            "spec.network.trustedProxies",
            "at most 32 trustedProxies",
        );
        for (i, p) in tp.iter().enumerate() {
            let f = format!("spec.network.trustedProxies[{i}]");
            c.check(rules::is_ip_or_cidr(p), &f, rules::MSG_IP_OR_CIDR);
            c.check(rules::is_narrow_enough(p), &f, rules::MSG_PROXY_WIDTH);
        }
        if let Some(pp) = &fe.exposure.proxy_protocol {
            let f = "spec.frontend.exposure.proxyProtocol.trustedCidrs";
            c.check(
                (1..=32).contains(&pp.trusted_cidrs.len()),
                f,
                "between 1 and 32 proxyProtocol.trustedCidrs",
            );
            for (i, p) in pp.trusted_cidrs.iter().enumerate() {
                let f = format!("{f}[{i}]");
                c.check(rules::is_ip_or_cidr(p), &f, rules::MSG_PP_IP_OR_CIDR);
                c.check(rules::is_narrow_enough(p), &f, rules::MSG_PP_WIDTH);
            }
        }

        for (app, f) in [
            (&self.backend.ulm, "spec.backend.ulm"),
            (&self.backend.aam, "spec.backend.aam"),
        ] {
            c.image(app.image.as_ref(), &format!("{f}.image"));
            c.replicas(app.replicas, &format!("{f}.replicas"));
            c.resources(&app.resources, &format!("{f}.resources"));
        }

        let db = &self.database;
        c.image(db.postgres.image.as_ref(), "spec.database.postgres.image");
        c.storage(&db.postgres.storage, "spec.database.postgres.storage");
        c.resources(&db.postgres.resources, "spec.database.postgres.resources");
        c.image(db.redis.image.as_ref(), "spec.database.redis.image");
        c.check(
            rules::is_redis_memory(&db.redis.max_memory),
            "spec.database.redis.maxMemory",
            rules::MSG_REDIS_MEMORY,
        );
        c.resources(&db.redis.resources, "spec.database.redis.resources");
        c.check(
            rules::is_cron(&db.backup.schedule),
            "spec.database.backup.schedule",
            rules::MSG_CRON,
        );
        c.check(
            (1..=365).contains(&db.backup.retain),
            "spec.database.backup.retain",
            "backup.retain must be between 1 and 365",
        );
        c.storage(&db.backup.storage, "spec.database.backup.storage");
        if let Some(d) = &db.backup.destination {
            let f = "spec.database.backup.destination";
            c.s3(&d.s3, &format!("{f}.s3"));
            c.object_name(&d.recipient_secret, &format!("{f}.recipientSecret"));
            c.key(&d.recipient_key, &format!("{f}.recipientKey"));
        }
        if let Some(r) = &db.restore {
            c.check(
                r.from_claim.is_some() != r.from_bucket.is_some(),
                "spec.database.restore",
                rules::MSG_RESTORE_SOURCE,
            );
            if let Some(claim) = &r.from_claim {
                c.check(
                    !claim.is_empty() && claim.len() <= 253 && rules::is_dns_subdomain(claim),
                    "spec.database.restore.fromClaim",
                    rules::MSG_RESTORE_CLAIM,
                );
            }
            if let Some(b) = &r.from_bucket {
                let f = "spec.database.restore.fromBucket";
                c.s3(&b.s3, &format!("{f}.s3"));
                c.object_name(&b.identity_secret, &format!("{f}.identitySecret"));
                c.key(&b.identity_key, &format!("{f}.identityKey"));
            }
            c.check(
                rules::is_backup_name(&r.backup),
                "spec.database.restore.backup",
                rules::MSG_BACKUP_NAME,
            );
        }

        if let Some(m) = &self.mail {
            c.check(
                rules::is_host(&m.smtp.host),
                "spec.mail.smtp.host",
                rules::MSG_SMTP_HOST,
            );
            if let Some(p) = m.smtp.port {
                c.check(
                    (1..=65535).contains(&p),
                    "spec.mail.smtp.port",
                    "port must be between 1 and 65535",
                );
            }
            c.check(
                rules::is_mail_address(&m.from),
                "spec.mail.from",
                rules::MSG_MAIL_ADDRESS,
            );
            if let Some(s) = &m.credentials_secret {
                c.check(
                    rules::is_dns_subdomain(s),
                    "spec.mail.credentialsSecret",
                    rules::MSG_MAIL_SECRET,
                );
            }
        }

        c.check(
            rules::is_namespace_name(&self.monitoring.prometheus_namespace),
            "spec.monitoring.prometheusNamespace",
            rules::MSG_PROMETHEUS_NAMESPACE,
        );

        if c.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(c.0))
        }
    }
}
