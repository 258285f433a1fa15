//! Frontend tier: nginx (the web image: nginx + both built web apps) with its config in a
//! ConfigMap, its Service, a PodDisruptionBudget, and — in CertManager mode — the Certificate.

use ovu_crds::{ExposureType, TlsMode};
use serde_json::{Value, json};

use super::backend::{DRAIN_SECS, PRE_STOP_SECS};
use super::names::{self, Component, Tier, ports};
use super::nginx::{self, NginxInput, ProxyProtocol, TlsFiles};
use super::pod::{self, APP_UID};
use super::{Child, Ctx, Kind};

/// Where the web image keeps the built apps (`ulm/`, `aam/`); see docs/contracts.md.
pub const HTML_ROOT: &str = "/usr/share/ovu/web";
/// With `spec.frontend.writableWebRoot` (development): where the pod's writable copy of the
/// apps is (an emptyDir) and nginx serves from; Tilt's live_update syncs into it.
pub const WRITABLE_HTML_ROOT: &str = "/srv/ovu/web";
/// The writable copy's cap: the two bundles are a few MB; a runaway sync must not fill the node.
const WRITABLE_HTML_ROOT_LIMIT: &str = "256Mi";
const CONF_DIR: &str = "/etc/ovu/nginx";
const TLS_DIR: &str = "/etc/ovu/tls";

pub fn render(ctx: &Ctx) -> Vec<Child> {
    let conf = nginx_conf(ctx);
    let mut out = vec![configmap(ctx, &conf), service(ctx), deployment(ctx, &conf)];
    if let Some(p) = super::backend::pdb(ctx, Component::Frontend, ctx.sys.spec.frontend.replicas) {
        out.push(p);
    }
    if ctx.sys.spec.frontend.tls.mode == TlsMode::CertManager {
        out.push(certificate(ctx));
    }
    out
}

/// The nginx input for the in-cluster frontend.
pub fn nginx_input(ctx: &Ctx) -> NginxInput {
    let e = &ctx.sys.spec.frontend.exposure;
    NginxInput {
        domain: ctx.sys.spec.domain.clone(),
        ulm_upstream: format!(
            "{}:{}",
            ctx.names.service_host(Component::Ulm, &ctx.ns),
            ports::ULM
        ),
        aam_upstream: format!(
            "{}:{}",
            ctx.names.service_host(Component::Aam, &ctx.ns),
            ports::AAM
        ),
        html_root: html_root(ctx).into(),
        temp_dir: "/tmp".into(),
        pid_file: "/tmp/nginx.pid".into(),
        access_log: "/dev/stdout".into(),
        listen_http: ports::NGINX_HTTP as u16,
        listen_https: ports::NGINX_HTTPS as u16,
        public_port: ctx.public_port(),
        tls: ctx.tls_on().then(|| TlsFiles {
            cert: format!("{TLS_DIR}/tls.crt"),
            key: format!("{TLS_DIR}/tls.key"),
        }),
        cors_origins: super::backend::cors_origins(ctx),
        proxy_protocol: e.proxy_protocol.as_ref().map(|p| ProxyProtocol {
            trusted: p.trusted_cidrs.clone(),
            listen_health: ports::NGINX_HEALTH as u16,
        }),
        acme_challenges: if ctx.sys.spec.frontend.tls.mode == TlsMode::CertManager {
            ctx.facts.acme_challenges.clone()
        } else {
            Vec::new()
        },
        rate_limits: ctx.sys.spec.frontend.rate_limits,
    }
}

/// Where nginx serves the apps from: the image's read-only bundle, or (development) the pod's
/// writable copy of it.
fn html_root(ctx: &Ctx) -> &'static str {
    if ctx.sys.spec.frontend.writable_web_root {
        WRITABLE_HTML_ROOT
    } else {
        HTML_ROOT
    }
}

/// The named container port the kubelet probes: the public HTTP port, or the plain health
/// port when the public ports expect a PROXY header first.
fn probe_port(ctx: &Ctx) -> &'static str {
    if ctx.sys.spec.frontend.exposure.proxy_protocol.is_some() {
        "health"
    } else {
        "http"
    }
}

fn nginx_conf(ctx: &Ctx) -> String {
    // The spec was validated before rendering; a failure here means validation and renderer
    // disagree, and the config says so instead of serving something unsafe.
    nginx::render(&nginx_input(ctx)).unwrap_or_else(|e| format!("# refused to render: {e}\n"))
}

fn configmap(ctx: &Ctx, conf: &str) -> Child {
    let name = ctx.names.nginx_configmap();
    ctx.child(
        Kind::ConfigMap,
        &name,
        Component::Frontend,
        json!({"data": {"nginx.conf": conf}}),
    )
}

fn service(ctx: &Ctx) -> Child {
    let name = ctx.names.of(Component::Frontend);
    let e = &ctx.sys.spec.frontend.exposure;
    let mut http =
        json!({"name": "http", "port": e.http_port, "targetPort": "http", "protocol": "TCP"});
    let mut https =
        json!({"name": "https", "port": e.https_port, "targetPort": "https", "protocol": "TCP"});
    if e.type_ == ExposureType::NodePort {
        if let Some(p) = e.http_node_port {
            http["nodePort"] = json!(p);
        }
        if let Some(p) = e.https_node_port {
            https["nodePort"] = json!(p);
        }
    }
    let mut ports = vec![http];
    if ctx.tls_on() {
        ports.push(https);
    }
    let t = match e.type_ {
        ExposureType::ClusterIP => "ClusterIP",
        ExposureType::NodePort => "NodePort",
        ExposureType::LoadBalancer => "LoadBalancer",
    };
    let mut spec = json!({
        "type": t,
        "selector": names::selector(ctx.system(), Component::Frontend),
        "ports": ports,
    });
    // With the default `Cluster` policy a node forwards NodePort/LoadBalancer traffic to a pod
    // on any node and SNATs it to its own address, so nginx (and through it ULM's limits and
    // audit) would see a node instead of the client. `Local` delivers only to nginx pods on
    // the receiving node, with the client's source address intact; every frontend pod runs
    // on the frontend-tier node(s), which are the ones to send traffic to.
    if e.type_ != ExposureType::ClusterIP {
        spec["externalTrafficPolicy"] = json!("Local");
    }
    ctx.child(
        Kind::Service,
        &name,
        Component::Frontend,
        json!({ "spec": spec }),
    )
}

/// How long nginx's start waits for its upstreams' names to resolve.
pub const START_WAIT_SECS: u32 = 120;

/// The nginx container's start. nginx resolves each upstream's name once, when it starts, and
/// exits if one does not resolve. After a whole cluster restarts (`make down` and `make up`, a
/// power cut) nginx's pods start together with CoreDNS, nothing resolves for a few seconds, and
/// the kubelet restarts nginx with a growing back-off: the sites stayed down for ~2 minutes
/// after everything else was up (seen on kind, 2026-12-05). So the start tests the config until
/// the names resolve (at most START_WAIT_SECS, saying why it waits every 10 s), then runs
/// nginx; any other config error starts nginx at once, to fail with its own message.
///
/// `web_copy` = (the image's bundle, the writable root): the start first copies the bundle
/// there, unless a previous start of this pod did (a restarted container keeps the emptyDir,
/// and with it what a developer synced into it).
pub fn start_script(conf: &str, web_copy: Option<(&str, &str)>) -> String {
    let copy = match web_copy {
        Some((from, to)) => format!(
            r#"if [ ! -d {to}/ulm ] || [ ! -d {to}/aam ]; then
  cp -R {from}/. {to}/ || {{ echo "cannot copy the web apps from {from} to {to}" >&2; exit 1; }}
fi
"#
        ),
        None => String::new(),
    };
    format!(
        r#"{copy}n=0
until err=$(nginx -t -q -e stderr -c {conf} 2>&1); do
  case $err in *"host not found"*) ;; *) break ;; esac
  n=$((n + 1))
  [ "$n" -ge {START_WAIT_SECS} ] && break
  [ $((n % 10)) -eq 1 ] && echo "waiting for cluster DNS: $err" >&2
  sleep 1
done
exec nginx -e stderr -c {conf}"#
    )
}

fn deployment(ctx: &Ctx, conf: &str) -> Child {
    let name = ctx.names.of(Component::Frontend);
    let fe = &ctx.sys.spec.frontend;
    let mut mounts = vec![
        json!({"name": "config", "mountPath": CONF_DIR, "readOnly": true}),
        pod::tmp_mount(),
    ];
    let mut volumes: Vec<Value> = vec![
        json!({"name": "config", "configMap": {"name": ctx.names.nginx_configmap(), "defaultMode": 0o444}}),
        pod::tmp_volume(),
    ];
    let mut container_ports =
        vec![json!({"name": "http", "containerPort": ports::NGINX_HTTP, "protocol": "TCP"})];
    if fe.exposure.proxy_protocol.is_some() {
        container_ports.push(
            json!({"name": "health", "containerPort": ports::NGINX_HEALTH, "protocol": "TCP"}),
        );
    }
    let web_copy = fe
        .writable_web_root
        .then_some((HTML_ROOT, WRITABLE_HTML_ROOT));
    if web_copy.is_some() {
        mounts.push(json!({"name": "web", "mountPath": WRITABLE_HTML_ROOT}));
        volumes.push(json!({"name": "web", "emptyDir": {"sizeLimit": WRITABLE_HTML_ROOT_LIMIT}}));
    }
    if let Some(secret) = ctx.tls_secret_name() {
        mounts.push(json!({"name": "tls", "mountPath": TLS_DIR, "readOnly": true}));
        volumes.push(json!({"name": "tls", "secret": {"secretName": secret, "defaultMode": 0o440,
            "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}}));
        container_ports
            .push(json!({"name": "https", "containerPort": ports::NGINX_HTTPS, "protocol": "TCP"}));
    }
    // A new config or a renewed certificate rolls the pods, so nginx loads it.
    let hash = super::short_hash(&[conf, ctx.facts.tls_hash.as_deref().unwrap_or("")]);
    let spec = pod::pod_spec(
        ctx,
        Tier::Frontend,
        APP_UID,
        json!({
            "containers": [{
                "name": "nginx",
                "image": ctx.images.web,
                "command": ["/bin/sh", "-c", start_script(&format!("{CONF_DIR}/nginx.conf"), web_copy)],
                "ports": container_ports,
                // The start may wait for cluster DNS (`start_script`); liveness begins after it.
                "startupProbe": {
                    "httpGet": {"path": "/healthz", "port": probe_port(ctx)},
                    "periodSeconds": 2, "timeoutSeconds": 2,
                    "failureThreshold": START_WAIT_SECS / 2 + 15,
                },
                "readinessProbe": {
                    "httpGet": {"path": "/healthz", "port": probe_port(ctx)},
                    "periodSeconds": 5, "timeoutSeconds": 2,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": probe_port(ctx)},
                    "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 2,
                },
                "volumeMounts": mounts,
                "securityContext": pod::container_security(),
                "resources": pod::resources(&fe.resources),
                // A rollout (a new config, a renewed certificate) must fail no request. The
                // kubelet's SIGTERM is nginx's fast shutdown, which cuts open connections;
                // instead a terminating pod keeps serving while kube-proxy learns it left the
                // Service, then quits gracefully (SIGQUIT: in-flight requests finish, idle
                // keep-alive connections close) and the hook waits for the master (PID 1) to
                // exit, so the SIGTERM that follows finds nothing left to cut.
                "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", format!(
                    "sleep {PRE_STOP_SECS}; nginx -e stderr -c {CONF_DIR}/nginx.conf -s quit; \
                     while kill -0 1 2>/dev/null; do sleep 0.2; done"
                )]}}},
            }],
            "volumes": volumes,
            "terminationGracePeriodSeconds": PRE_STOP_SECS + DRAIN_SECS,
        }),
    );
    ctx.child(
        Kind::Deployment,
        &name,
        Component::Frontend,
        json!({"spec": {
            "replicas": fe.replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": names::selector(ctx.system(), Component::Frontend)},
            "template": {
                "metadata": {
                    "labels": names::labels(ctx.system(), Component::Frontend),
                    "annotations": {names::CONFIG_HASH_ANNOTATION: hash},
                },
                "spec": spec,
            },
        }}),
    )
}

/// The serving names of the system.
pub fn dns_names(domain: &str) -> Vec<String> {
    vec![
        domain.to_string(),
        format!("www.{domain}"),
        format!("ulm.{domain}"),
        format!("aam.{domain}"),
        format!("api.{domain}"),
    ]
}

fn certificate(ctx: &Ctx) -> Child {
    let name = ctx.names.certificate();
    let issuer = ctx
        .sys
        .spec
        .frontend
        .tls
        .issuer_ref
        .clone()
        .unwrap_or_default();
    let kind = match issuer.kind {
        ovu_crds::IssuerKind::ClusterIssuer => "ClusterIssuer",
        ovu_crds::IssuerKind::Issuer => "Issuer",
    };
    // Until the first certificate is issued the Secret would not exist and nginx could not
    // start, and an HTTP-01 challenge needs nginx serving port 80: cert-manager puts a
    // temporary self-signed certificate in the Secret meanwhile. CertificateReady stays
    // False on it (cert-manager's Ready condition is False until the real one is issued).
    let mut meta = ctx.meta(&name, Component::Frontend);
    meta["annotations"] = json!({ISSUE_TEMPORARY_CERTIFICATE: "true"});
    ctx.child_with_meta(
        Kind::Certificate,
        &name,
        meta,
        json!({"spec": {
            "secretName": ctx.names.tls_secret(),
            "dnsNames": dns_names(&ctx.sys.spec.domain),
            "issuerRef": {"name": issuer.name, "kind": kind, "group": issuer.group},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        }}),
        false,
    )
}

/// cert-manager's annotation asking for a temporary certificate until the first is issued.
pub const ISSUE_TEMPORARY_CERTIFICATE: &str = "cert-manager.io/issue-temporary-certificate";
