//! Backend tier: the ULM (:8001) and AAM (:8002) Deployments and Services, their
//! PodDisruptionBudgets, and AAM's ServiceAccount + Role to read its own OvuSystem.
//!
//! Env var names are the contract in docs/contracts.md. Database and Redis URLs are composed
//! by the kubelet from Secret-backed variables (`$(VAR)` expansion), so passwords never appear
//! in the Deployment object.

use ovu_crds::App;
use serde_json::{Value, json};

use super::names::{self, Component, Tier, ports};
use super::pod::{self, APP_UID};
use super::{Child, Ctx, Kind};

pub fn render(ctx: &Ctx) -> Vec<Child> {
    let mut out = vec![
        aam_service_account(ctx),
        aam_role(ctx),
        aam_role_binding(ctx),
    ];
    for c in [Component::Ulm, Component::Aam] {
        out.push(service(ctx, c));
        out.push(deployment(ctx, c));
        if let Some(pdb) = pdb(ctx, c, app(ctx, c).replicas) {
            out.push(pdb);
        }
    }
    out
}

/// Seconds a terminating ULM/AAM pod keeps serving after it left its Service (preStop).
pub const PRE_STOP_SECS: i64 = 5;
/// Seconds it then has to finish in-flight requests after SIGTERM before it is killed.
pub const DRAIN_SECS: i64 = 25;

fn app<'a>(ctx: &'a Ctx, c: Component) -> &'a App {
    match c {
        Component::Aam => &ctx.sys.spec.backend.aam,
        _ => &ctx.sys.spec.backend.ulm,
    }
}

fn port(c: Component) -> i32 {
    if c == Component::Aam {
        ports::AAM
    } else {
        ports::ULM
    }
}

fn service(ctx: &Ctx, c: Component) -> Child {
    let name = ctx.names.of(c);
    ctx.child(
        Kind::Service,
        &name,
        c,
        json!({"spec": {
            "type": "ClusterIP",
            "selector": names::selector(ctx.system(), c),
            "ports": [{"name": "http", "port": port(c), "targetPort": "http", "protocol": "TCP"}],
        }}),
    )
}

/// A PodDisruptionBudget, only when there is more than one pod (a single-replica budget would
/// block node drains forever).
pub fn pdb(ctx: &Ctx, c: Component, replicas: i32) -> Option<Child> {
    if replicas <= 1 {
        return None;
    }
    let name = ctx.names.of(c);
    Some(ctx.child(
        Kind::PodDisruptionBudget,
        &name,
        c,
        json!({"spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": names::selector(ctx.system(), c)},
        }}),
    ))
}

/// Origins allowed to call the APIs from a browser: our own sites plus the spec's extras.
pub fn cors_origins(ctx: &Ctx) -> Vec<String> {
    let mut v = vec![
        ctx.site_url("ulm"),
        ctx.site_url("aam"),
        ctx.site_url("api"),
    ];
    for o in &ctx.sys.spec.frontend.cors_origins {
        if !v.contains(o) {
            v.push(o.clone());
        }
    }
    v
}

/// Whose `X-Forwarded-For` a service believes (`TRUSTED_PROXIES`).
///
/// Only the hops that set it: nginx for both services, and AAM for ULM (AAM passes on the
/// admin's address). Their pod IPs change with every rollout, the pod networks of their nodes
/// do not: every OVU pod is pinned to its tier's node(s) by nodeSelector and a toleration of
/// the tier taint, so a frontend-tier node's `podCIDRs` hold nginx pods, and a backend-tier
/// node's hold ULM and AAM. Two things keep any other pod on those networks (a DaemonSet
/// tolerating every taint, say) from presenting a forged header: the backend NetworkPolicy
/// admits ULM/AAM traffic only from frontend and AAM pods (and the operator's probes, which
/// send no such header), and nginx overwrites the header with the address it saw. The
/// spec's `network.trustedProxies` come on top (proxies the operator cannot see, a CNI
/// without per-node pod CIDRs). Entries the services would refuse (wider than /8 or /32) are
/// left out here rather than stopping ULM and AAM from starting.
pub fn trusted_proxies(ctx: &Ctx, c: Component) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let mut add = |n: &String| {
        if ovu_crds::rules::is_ip_or_cidr(n)
            && ovu_crds::rules::is_narrow_enough(n)
            && !v.contains(n)
        {
            v.push(n.clone());
        }
    };
    ctx.facts.frontend_pod_cidrs.iter().for_each(&mut add);
    if c == Component::Ulm {
        ctx.facts.backend_pod_cidrs.iter().for_each(&mut add);
    }
    ctx.sys
        .spec
        .network
        .trusted_proxies
        .iter()
        .for_each(&mut add);
    v
}

/// The largest request body ULM and AAM accept, and so the largest nginx forwards to them:
/// one number, so an oversize body is refused by nginx itself (a JSON 413) and never half
/// sent to a service that has already answered.
pub const API_BODY_LIMIT_BYTES: usize = 64 * 1024;

fn env(ctx: &Ctx, c: Component) -> Vec<Value> {
    let pg = ctx.names.postgres_rw();
    let redis = ctx.names.of(Component::Redis);
    // Each service signs in as its own role, which owns its database and nothing else, and as
    // its own Redis ACL user, confined to its key prefix. Passwords are mounted files (see
    // `secret_mounts`), never variables: `/proc/<pid>/environ` and crash dumps show those.
    let (db, db_user, redis_db) = if c == Component::Aam {
        ("aam_db", "aam_user", 1)
    } else {
        ("ulm_db", "ulm_user", 0)
    };
    let mut e = vec![
        pod::env(
            "DATABASE_URL",
            format!(
                "postgres://{db_user}@{pg}:{}/{db}?sslmode=disable",
                ports::POSTGRES
            ),
        ),
        pod::env(
            "DATABASE_PASSWORD_FILE",
            format!("{CREDENTIALS_DIR}/database-password"),
        ),
        pod::env(
            "REDIS_URL",
            format!("redis://{}@{redis}:{}/{redis_db}", c.as_str(), ports::REDIS),
        ),
        pod::env(
            "REDIS_PASSWORD_FILE",
            format!("{CREDENTIALS_DIR}/redis-password"),
        ),
        pod::env("LOG_FORMAT", "json"),
        pod::env("RUST_LOG", "info"),
        pod::env("CORS_ORIGINS", cors_origins(ctx).join(",")),
        pod::env("BODY_LIMIT_BYTES", API_BODY_LIMIT_BYTES.to_string()),
    ];
    // Only when there is something to trust: the services then count the TCP peer.
    let proxies = trusted_proxies(ctx, c);
    if !proxies.is_empty() {
        e.push(pod::env("TRUSTED_PROXIES", proxies.join(",")));
    }
    // Always explicit, so the policy in the spec is the one in force whatever the binaries'
    // own default.
    let admin_mfa = ctx.sys.spec.security.admin_mfa.env_value();
    e.push(pod::env(
        if c == Component::Aam {
            "AAM_ADMIN_MFA"
        } else {
            "ULM_ADMIN_MFA"
        },
        admin_mfa,
    ));
    match c {
        Component::Aam => e.extend([
            pod::env("AAM_LISTEN_ADDR", format!("0.0.0.0:{}", ports::AAM)),
            pod::env(
                "ULM_URL",
                format!("http://{}:{}", ctx.names.of(Component::Ulm), ports::ULM),
            ),
            pod::env("AAM_JWT_ISSUER", "ovu-ulm"),
            pod::env("AAM_JWT_AUDIENCE", "ovu"),
            pod::env("OVU_SYSTEM_NAME", ctx.system()),
            pod::env("OVU_SYSTEM_NAMESPACE", ctx.ns.clone()),
        ]),
        _ => e.extend([
            pod::env("ULM_LISTEN_ADDR", format!("0.0.0.0:{}", ports::ULM)),
            pod::env("ULM_ISSUER", "ovu-ulm"),
            pod::env("ULM_AUDIENCE", "ovu"),
            pod::env("ULM_PUBLIC_URL", ctx.site_url("ulm")),
            pod::env("ULM_SIGNING_KEY_FILE", "/etc/ovu/signing/key.pem"),
            pod::secret_env(
                "ULM_BOOTSTRAP_ADMIN_EMAIL",
                &ctx.names.bootstrap_admin_secret(),
                "email",
            ),
            pod::env(
                "ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE",
                "/etc/ovu/bootstrap/password",
            ),
        ]),
    }
    if c == Component::Ulm {
        e.extend(mail_env(ctx));
    }
    e
}

/// Where the SMTP password Secret is mounted in ULM's pods.
const SMTP_PASSWORD_DIR: &str = "/etc/ovu/smtp";

/// ULM's `SMTP_*` variables from `spec.mail`; none without it (ULM then keeps mail queued).
/// The password is a mounted file ([`SMTP_PASSWORD_DIR`]), never a variable: variables show
/// in `kubectl describe` and in every child process's environment.
fn mail_env(ctx: &Ctx) -> Vec<Value> {
    let Some(m) = &ctx.sys.spec.mail else {
        return Vec::new();
    };
    let mut e = vec![
        pod::env("SMTP_HOST", m.smtp.host.clone()),
        pod::env("SMTP_TLS", m.smtp.tls.as_env()),
        pod::env("SMTP_FROM", m.from.clone()),
    ];
    if let Some(port) = m.smtp.port {
        e.push(pod::env("SMTP_PORT", port.to_string()));
    }
    if let Some(secret) = &m.credentials_secret {
        e.push(pod::secret_env("SMTP_USERNAME", secret, "username"));
        e.push(pod::env(
            "SMTP_PASSWORD_FILE",
            format!("{SMTP_PASSWORD_DIR}/password"),
        ));
    }
    e
}

/// Where ULM and AAM find their database and Redis passwords.
const CREDENTIALS_DIR: &str = "/etc/ovu/credentials";

/// The service's own database and Redis passwords, projected from the two Secrets into one
/// read-only folder: only the keys of this service, so AAM's pod never holds ULM's.
fn credentials_volume(ctx: &Ctx, c: Component) -> Value {
    use super::database::{AAM_PASSWORD_KEY, REDIS_AAM_KEY, REDIS_ULM_KEY, ULM_PASSWORD_KEY};
    let (db_key, redis_key) = if c == Component::Aam {
        (AAM_PASSWORD_KEY, REDIS_AAM_KEY)
    } else {
        (ULM_PASSWORD_KEY, REDIS_ULM_KEY)
    };
    json!({"name": "credentials", "projected": {"defaultMode": 0o440, "sources": [
        {"secret": {"name": ctx.names.postgres_secret(),
                    "items": [{"key": db_key, "path": "database-password"}]}},
        {"secret": {"name": ctx.names.redis_secret(),
                    "items": [{"key": redis_key, "path": "redis-password"}]}},
    ]}})
}

fn deployment(ctx: &Ctx, c: Component) -> Child {
    let name = ctx.names.of(c);
    let a = app(ctx, c);
    let image = if c == Component::Aam {
        &ctx.images.aam
    } else {
        &ctx.images.ulm
    };
    let binary = format!("ovu-{}", c.as_str());
    let env = env(ctx, c);
    let mut mounts = vec![
        pod::tmp_mount(),
        json!({"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": true}),
    ];
    let mut volumes = vec![pod::tmp_volume(), credentials_volume(ctx, c)];
    if c == Component::Ulm {
        mounts.push(
            json!({"name": "signing-key", "mountPath": "/etc/ovu/signing", "readOnly": true}),
        );
        mounts.push(
            json!({"name": "bootstrap-admin", "mountPath": "/etc/ovu/bootstrap", "readOnly": true}),
        );
        volumes.push(json!({"name": "signing-key", "secret": {
            "secretName": ctx.names.signing_key_secret(), "defaultMode": 0o440,
            "items": [{"key": "key.pem", "path": "key.pem"}]}}));
        volumes.push(json!({"name": "bootstrap-admin", "secret": {
            "secretName": ctx.names.bootstrap_admin_secret(), "defaultMode": 0o440,
            "items": [{"key": "password", "path": "password"}]}}));
        if let Some(secret) = ctx
            .sys
            .spec
            .mail
            .as_ref()
            .and_then(|m| m.credentials_secret.as_ref())
        {
            mounts.push(
                json!({"name": "smtp-credentials", "mountPath": SMTP_PASSWORD_DIR, "readOnly": true}),
            );
            volumes.push(json!({"name": "smtp-credentials", "secret": {
                "secretName": secret, "defaultMode": 0o440,
                "items": [{"key": "password", "path": "password"}]}}));
        }
    }
    let mut body = json!({
        // Migrations run before the new version serves: an init container of the new pod.
        "initContainers": [{
            "name": "migrate",
            "image": image,
            "command": [binary, "migrate"],
            "env": env,
            // The same mounts as the server: `migrate` validates the whole configuration,
            // including the files the environment names (ULM's signing key).
            "volumeMounts": mounts,
            "securityContext": pod::container_security(),
            "resources": pod::resources(&a.resources),
        }],
        "containers": [{
            "name": c.as_str(),
            "image": image,
            "command": [binary, "serve"],
            "env": env,
            "ports": [{"name": "http", "containerPort": port(c), "protocol": "TCP"}],
            "readinessProbe": {
                "httpGet": {"path": "/api/ready", "port": "http"},
                "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3,
            },
            "livenessProbe": {
                "httpGet": {"path": "/api/health", "port": "http"},
                "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 6,
            },
            "volumeMounts": mounts,
            "securityContext": pod::container_security(),
            "resources": pod::resources(&a.resources),
            // A terminating pod leaves the Service's endpoints at once, but kube-proxy on
            // every node and nginx's pooled connections learn it a moment later: keep
            // serving through that moment, then SIGTERM drains what is in flight. (The
            // kubelet's own sleep: the image needs no shell.)
            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECS}}},
        }],
        "volumes": volumes,
        "terminationGracePeriodSeconds": PRE_STOP_SECS + DRAIN_SECS,
    });
    if c == Component::Aam {
        body["serviceAccountName"] = json!(ctx.names.aam_service_account());
    }
    let mut spec = pod::pod_spec(ctx, Tier::Backend, APP_UID, body);
    if c == Component::Aam {
        // AAM reads its own OvuSystem (backup and certificate status) with this token.
        spec["automountServiceAccountToken"] = json!(true);
    }
    ctx.child(
        Kind::Deployment,
        &name,
        c,
        json!({"spec": {
            "replicas": a.replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": names::selector(ctx.system(), c)},
            "template": {
                "metadata": {"labels": names::labels(ctx.system(), c)},
                "spec": spec,
            },
        }}),
    )
}

fn aam_service_account(ctx: &Ctx) -> Child {
    let name = ctx.names.aam_service_account();
    ctx.child(
        Kind::ServiceAccount,
        &name,
        Component::Aam,
        json!({"automountServiceAccountToken": false}),
    )
}

fn aam_role(ctx: &Ctx) -> Child {
    let name = ctx.names.aam_service_account();
    ctx.child(
        Kind::Role,
        &name,
        Component::Aam,
        json!({"rules": [{
            "apiGroups": ["ovu.co.il"],
            "resources": ["ovusystems"],
            "resourceNames": [ctx.system()],
            "verbs": ["get", "watch"],
        }]}),
    )
}

fn aam_role_binding(ctx: &Ctx) -> Child {
    let name = ctx.names.aam_service_account();
    ctx.child(
        Kind::RoleBinding,
        &name,
        Component::Aam,
        json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ctx.ns}],
        }),
    )
}
