//! The whole OVU system on real nodes, as `make up` leaves it (e2e/run-real runs `make up`
//! first): the OvuSystem `ovu/ovu` on domain `ovu.localhost`, its frontend a NodePort on
//! 127.0.0.1:30443. Everything goes the way a user's browser goes: through kube-proxy to the
//! real nginx over TLS, trusting only the CA the operator generated.
//!
//! `OVU_E2E_REAL_NAMESPACE`, `OVU_E2E_REAL_SYSTEM`, `OVU_E2E_REAL_DOMAIN` and
//! `OVU_E2E_REAL_HTTPS_PORT` point the tests at another system (kind, a customer cluster).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use ovu_crds::BACKUP_NOW_ANNOTATION;
use ovu_crds::names::{self, Component, DEFAULT_TIER_LABEL, Names};
use ovu_e2e::{Cluster, wait_for};
use serde_json::{Value, json};

mod acme;
mod admin;
mod offsite;

/// nginx limits each client address (1 r/s, burst 2 on login/register; 10 r/s, burst 20 on
/// the APIs) and these tests run at once from one address, so they wait out a 429 the way a
/// well-behaved client does: after its Retry-After.
trait Patient {
    async fn send_patiently(self) -> reqwest::Result<reqwest::Response>;
}

impl Patient for reqwest::RequestBuilder {
    async fn send_patiently(self) -> reqwest::Result<reqwest::Response> {
        let mut rb = self;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let again = rb.try_clone();
            let r = rb.send().await?;
            let Some(next) = again.filter(|_| r.status() == 429 && attempt < 20) else {
                return Ok(r);
            };
            let secs = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 60);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            rb = next;
        }
    }
}

struct Target {
    cluster: Cluster,
    ns: String,
    system: String,
    domain: String,
    port: u16,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

async fn target() -> Target {
    let cluster = Cluster::connect()
        .await
        .expect("connecting to the cluster")
        .expect("no kubeconfig: run these through e2e/run-real (or set OVU_E2E_KUBECONFIG)");
    Target {
        cluster,
        ns: env_or("OVU_E2E_REAL_NAMESPACE", "ovu"),
        system: env_or("OVU_E2E_REAL_SYSTEM", "ovu"),
        domain: env_or("OVU_E2E_REAL_DOMAIN", "ovu.localhost"),
        port: env_or("OVU_E2E_REAL_HTTPS_PORT", "30443")
            .parse()
            .expect("OVU_E2E_REAL_HTTPS_PORT is not a port number"),
    }
}

impl Target {
    async fn secret(&self, name: &str, key: &str) -> anyhow::Result<String> {
        let s = Api::<Secret>::namespaced(self.cluster.client.clone(), &self.ns)
            .get(name)
            .await
            .with_context(|| format!("reading Secret {}/{name}", self.ns))?;
        let v = s
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .with_context(|| format!("Secret {name} has no {key}"))?;
        Ok(String::from_utf8(v.0.clone())?)
    }

    /// The names of the system's children.
    fn names(&self) -> Names {
        Names::new(&self.system)
    }

    fn host(&self, app: &str) -> String {
        format!("{app}.{}", self.domain)
    }

    fn url(&self, app: &str, path: &str) -> String {
        format!("https://{}:{}{path}", self.host(app), self.port)
    }

    /// An HTTPS client that trusts only the system's CA (from `<system>-tls`'s `ca.crt`) and
    /// sends both site names to 127.0.0.1, as a browser on this machine does for *.localhost.
    async fn client(&self) -> anyhow::Result<reqwest::Client> {
        self.client_for(&["ulm", "aam"]).await
    }

    /// Like [`Self::client`], for the given site names.
    async fn client_for(&self, apps: &[&str]) -> anyhow::Result<reqwest::Client> {
        let ca = self.secret(&self.names().tls_secret(), "ca.crt").await?;
        let ca = reqwest::Certificate::from_pem(ca.as_bytes()).context("parsing ca.crt")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut b = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca);
        for app in apps {
            b = b.resolve(&self.host(app), addr);
        }
        Ok(b.timeout(Duration::from_secs(20)).build()?)
    }

    /// POST /api/v1/auth/login through nginx.
    async fn login(
        &self,
        http: &reqwest::Client,
        login: &str,
        password: &str,
    ) -> reqwest::Result<reqwest::Response> {
        http.post(self.url("ulm", "/api/v1/auth/login"))
            .json(&json!({"login": login, "password": password}))
            .send_patiently()
            .await
    }

    /// An access token of the bootstrap admin, both factors given (see [`admin`]).
    async fn admin_token(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        admin::token(self, http).await
    }
}

/// GET a JSON document with a bearer token; an error status is an error.
async fn get_json(http: &reqwest::Client, url: String, token: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(url)
        .bearer_auth(token)
        .send_patiently()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// The tier a component runs on (the operator's placement rule, restated independently).
fn tier_of(component: &str) -> Option<&'static str> {
    Component::from_label(component).map(|c| c.tier().as_str())
}

#[tokio::test]
async fn every_pod_runs_ready_on_the_node_of_its_tier() {
    let t = target().await;
    let nodes = Api::<Node>::all(t.cluster.client.clone())
        .list(&ListParams::default())
        .await
        .expect("listing nodes");
    let tier_by_node: std::collections::HashMap<String, String> = nodes
        .items
        .iter()
        .filter_map(|n| {
            let tier = n.metadata.labels.as_ref()?.get(DEFAULT_TIER_LABEL)?;
            Some((n.metadata.name.clone()?, tier.clone()))
        })
        .collect();
    assert_eq!(tier_by_node.len(), 3, "three tier nodes: {tier_by_node:?}");
    let pods = Api::<Pod>::namespaced(t.cluster.client.clone(), &t.ns)
        .list(&ListParams::default().labels(&names::system_selector(&t.system)))
        .await
        .expect("listing pods");
    let mut seen = std::collections::BTreeSet::new();
    for p in &pods.items {
        let name = p.metadata.name.clone().unwrap_or_default();
        let component = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(names::COMPONENT_LABEL))
            .cloned()
            .unwrap_or_default();
        let want = tier_of(&component)
            .unwrap_or_else(|| panic!("pod {name} has an unknown component {component:?}"));
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        if node.is_none() && component == "backup" {
            // A backup Job (another test may have just asked for one) not yet scheduled;
            // backup_now_runs_a_real_dump checks where its pods run.
            continue;
        }
        let node = node.unwrap_or_else(|| panic!("pod {name} is not scheduled"));
        assert_eq!(
            tier_by_node.get(&node).map(String::as_str),
            Some(want),
            "pod {name} ({component}) runs on {node}"
        );
        let status = p.status.clone().unwrap_or_default();
        let phase = status.phase.clone().unwrap_or_default();
        if component == "backup" {
            // Backup Job pods run to completion; a failed one is a failed backup.
            assert_ne!(phase, "Failed", "backup pod {name} failed");
            continue;
        }
        assert_eq!(phase, "Running", "pod {name} phase");
        let ready = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "pod {name} is Running but not Ready");
        seen.insert(component);
    }
    for c in ["frontend", "ulm", "aam", "postgres", "redis"] {
        assert!(seen.contains(c), "no running {c} pod (saw {seen:?})");
    }
}

#[tokio::test]
async fn nginx_serves_both_apps_and_proxies_the_api_over_tls() {
    let t = target().await;
    let http = t.client().await.expect("https client");
    for app in ["ulm", "aam"] {
        let r = http
            .get(t.url(app, "/"))
            .send_patiently()
            .await
            .expect("GET /");
        assert_eq!(r.status(), 200, "{app}: GET /");
        let ct = r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_string();
        let hsts = r.headers().get("strict-transport-security").is_some();
        let html = r.text().await.unwrap_or_default();
        assert!(ct.starts_with("text/html"), "{app}: content-type {ct}");
        assert!(
            html.contains("<div id=\"root\"") || html.contains("id=\"app\""),
            "{app}: not the app shell: {html:.300}"
        );
        assert!(hsts, "{app}: no Strict-Transport-Security over TLS");
        // A client route falls back to the app shell (SPA routing), not a 404 from nginx.
        let r = http
            .get(t.url(app, "/some/client/route"))
            .send_patiently()
            .await
            .expect("GET route");
        assert_eq!(r.status(), 200, "{app}: SPA fallback");
        let r = http
            .get(t.url(app, "/api/health"))
            .send_patiently()
            .await
            .expect("GET /api/health");
        assert_eq!(r.status(), 200, "{app}: /api/health through nginx");
        let body: Value = r.json().await.expect("health JSON");
        assert!(body.is_object(), "{app}: health answer {body}");
    }
    // The services' metrics are for the scraper on the pods, not for the public hosts.
    let api = t.client_for(&["api"]).await.expect("https client");
    for path in ["/metrics", "/aam/metrics", "//metrics", "/%6detrics?x=1"] {
        let r = api
            .get(t.url("api", path))
            .send_patiently()
            .await
            .expect("GET metrics");
        assert_eq!(r.status(), 404, "api host {path}");
    }
    let r = api
        .get(t.url("api", "/api/health"))
        .send_patiently()
        .await
        .expect("GET api /api/health");
    assert_eq!(r.status(), 200, "api host /api/health (control)");
    // The same name without the CA is refused: the certificate is the operator's, not a
    // public one, and the client really verified it.
    let strict = reqwest::Client::builder()
        .resolve(&t.host("ulm"), SocketAddr::from(([127, 0, 0, 1], t.port)))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(
        strict
            .get(t.url("ulm", "/api/health"))
            .send_patiently()
            .await
            .is_err(),
        "TLS verified without the CA"
    );
}

#[tokio::test]
async fn a_user_registers_verifies_and_signs_in_through_nginx() {
    let t = target().await;
    let http = t.client().await.expect("https client");
    // The bootstrap admin can sign in (the system is administrable from the start).
    t.admin_token(&http)
        .await
        .expect("bootstrap admin signs in");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("real-{}@example.com", &id[..12]);
    let password = format!("Real-e2e-{id}!");
    let r = http
        .post(t.url("ulm", "/api/v1/auth/register"))
        .json(&json!({"email": email, "username": format!("real{}", &id[..10]), "password": password}))
        .send_patiently()
        .await
        .expect("register");
    assert!(
        r.status().is_success(),
        "register: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );

    // The verification mail, delivered over SMTP to the Mailpit `make up` runs beside ULM
    // (deploy/local/system/mailpit.yaml) and read from its API like a person opening it.
    let mailpit = env_or("OVU_E2E_REAL_MAILPIT_URL", "http://127.0.0.1:30825");
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let token = wait_for(Duration::from_secs(60), "verification mail", || {
        let plain = plain.clone();
        let search = format!("{mailpit}/api/v1/search");
        let mailpit = mailpit.clone();
        let email = email.clone();
        async move {
            let found: Value = plain
                .get(&search)
                .query(&[("query", format!("to:{email}"))])
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let messages = found["messages"].as_array().cloned().unwrap_or_default();
            for m in &messages {
                let id = m["ID"].as_str().unwrap_or_default();
                let full: Value = plain
                    .get(format!("{mailpit}/api/v1/message/{id}"))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let text = full["Text"].as_str().unwrap_or("");
                // The token rides in the fragment, so it never reaches nginx's access log.
                if let Some(i) = text.find("/verify-email#token=") {
                    let tok: String = text[i + "/verify-email#token=".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    return Ok(Ok(tok));
                }
            }
            Ok(Err(format!(
                "{} mails to {email}, none with a verify link",
                messages.len()
            )))
        }
    })
    .await
    .expect("the verification mail arrives");
    // Before verifying, sign-in is refused with a stable code.
    let r = t.login(&http, &email, &password).await.unwrap();
    assert!(
        r.status().is_client_error(),
        "unverified sign-in: {}",
        r.status()
    );
    let r = http
        .post(t.url("ulm", "/api/v1/auth/verify-email"))
        .json(&json!({"token": token}))
        .send_patiently()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "verify: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
    let r = t.login(&http, &email, &password).await.unwrap();
    assert_eq!(r.status(), 200, "sign-in after verifying");
    let body: Value = r.json().await.unwrap();
    let access = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let me: Value = http
        .get(t.url("ulm", "/api/v1/users/me"))
        .bearer_auth(&access)
        .send_patiently()
        .await
        .unwrap()
        .error_for_status()
        .expect("GET /users/me")
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], json!(email), "{me}");
}

/// The mail URL `make up` prints opens Mailpit's web UI: its page and the script bundle the
/// page loads (built and embedded by scripts/mailpit.sh; without it the page stays blank).
#[tokio::test]
async fn mailpit_serves_its_web_ui_on_the_printed_url() {
    let mailpit = env_or("OVU_E2E_REAL_MAILPIT_URL", "http://127.0.0.1:30825");
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let page = plain
        .get(format!("{mailpit}/"))
        .send()
        .await
        .expect("GET Mailpit /");
    assert_eq!(page.status(), 200, "Mailpit /");
    let html = page.text().await.unwrap();
    let scripts: Vec<&str> = html
        .split("<script")
        .skip(1)
        .filter_map(|tag| {
            let attrs = tag.split_once('>')?.0;
            attrs.split_once(" src=\"")?.1.split_once('"').map(|s| s.0)
        })
        .collect();
    assert!(
        !scripts.is_empty(),
        "no <script src> in Mailpit's page:\n{html}"
    );
    for src in scripts {
        let url = format!("{mailpit}/{}", src.trim_start_matches('/'));
        let r = plain.get(&url).send().await.expect("GET the script bundle");
        assert_eq!(r.status(), 200, "{url}");
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(kind.contains("javascript"), "{url}: content type {kind}");
        let body = r.bytes().await.unwrap();
        assert!(body.len() > 50_000, "{url}: only {} bytes", body.len());
    }
}

/// `make up` keeps the sample's `adminMfa: Required`: once the bootstrap admin has a second
/// factor (the first sign-in enrols it), its password alone yields only the MFA challenge, and
/// the challenge's token opens no API.
#[tokio::test]
async fn the_bootstrap_admin_needs_a_second_factor() {
    let t = target().await;
    let http = t.client().await.expect("https client");
    let token = t
        .admin_token(&http)
        .await
        .expect("admin signs in with both factors");
    let (email, password) = admin::credentials(&t).await.unwrap();
    let body: Value = t
        .login(&http, &email, &password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    let challenge = body["mfa_token"].as_str().expect("mfa_token");
    let r = http
        .get(t.url("aam", "/api/v1/dashboard"))
        .bearer_auth(challenge)
        .send_patiently()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "AAM with the challenge token");
    // The two-factor token does open the panel's API.
    get_json(&http, t.url("aam", "/api/v1/dashboard"), &token)
        .await
        .expect("AAM dashboard with the admin's token");
}

#[tokio::test]
async fn aam_reports_every_component_healthy() {
    let t = target().await;
    let http = t.client().await.expect("https client");
    let admin = t
        .admin_token(&http)
        .await
        .expect("bootstrap admin signs in");
    // AAM's poller samples on an interval: right after `make up` the first sample may not be in.
    let health = wait_for(
        Duration::from_secs(120),
        "AAM system health: all healthy",
        || {
            let http = http.clone();
            let url = t.url("aam", "/api/v1/system/health");
            let admin = admin.clone();
            async move {
                let h = get_json(&http, url, &admin).await?;
                let comps = h["components"].as_array().cloned().unwrap_or_default();
                let names: Vec<&str> = comps
                    .iter()
                    .filter_map(|c| c["component"].as_str())
                    .collect();
                let all = ["ulm", "aam", "postgres", "redis"]
                    .iter()
                    .all(|w| names.contains(w));
                if h["status"] == "healthy" && all {
                    Ok(Ok(h))
                } else {
                    Ok(Err(h.to_string()))
                }
            }
        },
    )
    .await
    .expect("every component healthy");
    let comps = health["components"].as_array().unwrap();
    assert!(comps.iter().all(|c| c["status"] == "healthy"), "{health}");
    // In a cluster AAM also reads the OvuSystem's status (backups, certificate expiry).
    assert!(
        health["cluster"].is_object(),
        "no cluster status in {health}"
    );
}

/// A pod outside the system is stopped by the operator's NetworkPolicies from reaching the
/// database, while the same pod reaches the public frontend: the rules are really enforced.
#[tokio::test]
async fn network_policies_keep_strangers_off_the_database() {
    let t = target().await;
    let ns = format!(
        "ovu-e2e-np-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let c = &t.cluster;
    c.kubectl(&["create", "namespace", &ns])
        .expect("create namespace");
    let probe = |target: &str| {
        format!(
            "for i in 1 2 3; do if timeout 3 bash -c '</dev/tcp/{target}' 2>/dev/null; then echo open; exit 0; fi; done; echo closed"
        )
    };
    let fqdn = |svc: &str| format!("{svc}.{}.svc.cluster.local", t.ns);
    // A listener on this machine stands in for "the internet": the stranger (no policies)
    // reaches it, the system's own pods must not.
    let outside = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("listener");
    let outside_port = outside.local_addr().expect("port").port();
    let accept = tokio::spawn(async move {
        while let Ok((s, _)) = outside.accept().await {
            drop(s);
        }
    });
    let outside_addr = format!(
        "{}/{outside_port}",
        env_or("OVU_E2E_HOST_ADDRESS", "198.18.0.1")
    );
    let script = format!(
        "echo frontend=$({}); echo postgres=$({}); echo redis=$({}); echo outside=$({}); sleep 1",
        probe(&format!("{}/443", fqdn(&t.names().of(Component::Frontend)))),
        probe(&format!(
            "{}/{}",
            fqdn(&t.names().of(Component::Postgres)),
            names::ports::POSTGRES
        )),
        probe(&format!(
            "{}/{}",
            fqdn(&t.names().of(Component::Redis)),
            names::ports::REDIS
        )),
        probe(&outside_addr),
    );
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stranger", "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {DEFAULT_TIER_LABEL: "backend"},
            "tolerations": [{"key": DEFAULT_TIER_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe", "image": "ovu/redis-local:7", "imagePullPolicy": "Never",
                "command": ["bash", "-c", script],
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            }],
        },
    });
    let pods = Api::<Pod>::namespaced(c.client.clone(), &ns);
    let result = async {
        pods.create(&Default::default(), &serde_json::from_value(pod)?)
            .await?;
        wait_for(Duration::from_secs(90), "probe pod finished", || {
            let pods = pods.clone();
            async move {
                let p = pods.get("stranger").await?;
                let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
                Ok(if phase == "Succeeded" || phase == "Failed" {
                    Ok(phase)
                } else {
                    Err(phase)
                })
            }
        })
        .await?;
        let log = c.kubectl(&["-n", &ns, "logs", "stranger"])?;
        anyhow::Ok(log)
    }
    .await;
    let _ = c.kubectl(&["delete", "namespace", &ns, "--wait=false"]);
    let log = result.expect("probe pod ran");
    assert!(
        log.contains("frontend=open"),
        "the frontend must be reachable (control): {log}"
    );
    assert!(
        log.contains("postgres=closed"),
        "postgres reachable from a stranger: {log}"
    );
    assert!(
        log.contains("redis=closed"),
        "redis reachable from a stranger: {log}"
    );
    assert!(
        log.contains("outside=open"),
        "the stand-in for the internet must be reachable without policies (control): {log}"
    );

    // Egress: from inside the system's own pods, each reaches only what it needs.
    let exec_probe = |component: Component, targets: &[(&str, String)]| {
        let pod = c
            .kubectl(&[
                "-n",
                &t.ns,
                "get",
                "pods",
                "-l",
                &names::component_selector(&t.system, component),
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ])
            .expect("find pod");
        let script = targets
            .iter()
            .map(|(name, addr)| format!("echo {name}=$({})", probe(addr)))
            .collect::<Vec<_>>()
            .join("; ");
        c.kubectl(&["-n", &t.ns, "exec", pod.trim(), "--", "bash", "-c", &script])
            .expect("exec probe")
    };
    let svc = |c: Component, port: i32| format!("{}/{port}", fqdn(&t.names().of(c)));
    let log = exec_probe(
        Component::Frontend,
        &[
            ("ulm", svc(Component::Ulm, names::ports::ULM)),
            ("postgres", svc(Component::Postgres, names::ports::POSTGRES)),
            ("redis", svc(Component::Redis, names::ports::REDIS)),
            ("outside", outside_addr.clone()),
        ],
    );
    for want in [
        "ulm=open",
        "postgres=closed",
        "redis=closed",
        "outside=closed",
    ] {
        assert!(log.contains(want), "frontend pod: want {want}: {log}");
    }
    let log = exec_probe(
        Component::Ulm,
        &[
            ("postgres", svc(Component::Postgres, names::ports::POSTGRES)),
            ("redis", svc(Component::Redis, names::ports::REDIS)),
            ("frontend", svc(Component::Frontend, 443)),
            ("outside", outside_addr.clone()),
        ],
    );
    for want in [
        "postgres=open",
        "redis=open",
        "frontend=closed",
        "outside=closed",
    ] {
        assert!(log.contains(want), "ulm pod: want {want}: {log}");
    }
    accept.abort();
}

/// Each service has its own credentials and nothing more: the PostgreSQL superuser is
/// refused over the network even with its password (it works on the pod's own socket), Redis
/// has no default user, and ULM's Redis user cannot touch AAM's keys or flush the database.
/// The passwords are files in the pods, read here the way the pods read them.
#[tokio::test]
async fn each_service_has_its_own_credentials_and_the_superuser_stays_local() {
    let t = target().await;
    let c = &t.cluster;
    let pg = t.names().postgres_pod();
    let su = "PGPASSWORD=\"$(cat /etc/ovu/postgres-secrets/superuser-password)\" psql -XtA -U postgres -d postgres";
    let exec = |pod: &str, container: &str, script: &str| {
        c.kubectl(&[
            "-n",
            &t.ns,
            "exec",
            pod,
            "-c",
            container,
            "--",
            "sh",
            "-c",
            &format!("{script} 2>&1; true"),
        ])
        .expect("kubectl exec")
    };
    let local = exec(
        &pg,
        "postgres",
        &format!("{su} -h /var/run/postgresql -c 'select 42'"),
    );
    assert_eq!(local.trim(), "42", "the superuser on the socket: {local}");
    // Over TCP to the pod's own address (its egress is closed, so not through a Service name:
    // the pod resolves no names and reaches no other pod).
    let pod_ip = c
        .kubectl(&[
            "-n",
            &t.ns,
            "get",
            "pod",
            &pg,
            "-o",
            "jsonpath={.status.podIP}",
        ])
        .expect("postgres pod address");
    let remote = exec(
        &pg,
        "postgres",
        &format!("{su} -h {} -c 'select 42'", pod_ip.trim()),
    );
    assert!(
        remote.contains("pg_hba.conf rejects connection") && remote.contains("postgres"),
        "the superuser over the network: {remote}"
    );

    let redis = c
        .kubectl(&[
            "-n",
            &t.ns,
            "get",
            "pods",
            "-l",
            &names::component_selector(&t.system, Component::Redis),
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])
        .expect("find the redis pod");
    let as_user = |user: &str, key: &str, cmd: &str| {
        exec(
            redis.trim(),
            "redis",
            &format!(
                "REDISCLI_AUTH=\"$(cat /etc/ovu/redis-secrets/{key})\" redis-cli --user {user} {cmd}"
            ),
        )
    };
    let anonymous = exec(redis.trim(), "redis", "redis-cli ping");
    assert!(anonymous.contains("NOAUTH"), "no sign-in: {anonymous}");
    let own = as_user("ulm", "ulm-password", "exists ulm:e2e-probe");
    assert_eq!(own.trim(), "0", "ULM's own prefix: {own}");
    for cmd in [
        "get aam:e2e-probe",
        "flushdb",
        "config get maxmemory",
        "keys *",
    ] {
        let got = as_user("ulm", "ulm-password", cmd);
        assert!(got.contains("NOPERM"), "ULM's Redis user ran {cmd}: {got}");
    }
    let got = as_user("aam", "aam-password", "get ulm:e2e-probe");
    assert!(
        got.contains("NOPERM"),
        "AAM's Redis user read ULM's keys: {got}"
    );
    // The services' passwords are in no pod's environment or command line.
    let deployments = c
        .kubectl(&["-n", &t.ns, "get", "deployments,statefulsets", "-o", "json"])
        .expect("list workloads");
    for want_absent in [
        "OVU_DB_PASSWORD",
        "REDIS_PASSWORD\"",
        "POSTGRES_SUPERUSER_PASSWORD",
        "PGPASSWORD",
    ] {
        assert!(
            !deployments.contains(want_absent),
            "{want_absent} is still passed in a workload's environment"
        );
    }
}

/// `ovu.co.il/backup-now` runs a real pg_dump in a Job on the database node and the status
/// records it.
#[tokio::test]
async fn backup_now_runs_a_real_dump() {
    let t = target().await;
    let c = &t.cluster;
    let stamp = uuid::Uuid::new_v4().simple().to_string();
    let before = c
        .get_system(&t.ns, &t.system)
        .await
        .expect("reading the OvuSystem")
        .status
        .and_then(|s| s.backup)
        .and_then(|b| b.last_backup);
    c.systems(&t.ns)
        .patch(
            &t.system,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {BACKUP_NOW_ANNOTATION: stamp}}})),
        )
        .await
        .expect("annotating backup-now");
    let jobs = Api::<Job>::namespaced(c.client.clone(), &t.ns);
    let sys = c.systems(&t.ns);
    let status = wait_for(
        Duration::from_secs(240),
        "backup recorded in status",
        || {
            let sys = sys.clone();
            let stamp = stamp.clone();
            let name = t.system.clone();
            let before = before.clone();
            async move {
                let s = sys.get(&name).await?;
                let b = s.status.and_then(|s| s.backup).unwrap_or_default();
                let new_backup = b.last_backup.is_some() && b.last_backup != before;
                Ok(
                    if b.last_requested.as_deref() == Some(&stamp)
                        && new_backup
                        && b.last_success_time.is_some()
                    {
                        Ok(b)
                    } else {
                        Err(format!("{b:?}"))
                    },
                )
            }
        },
    )
    .await
    .expect("backup-now completes");
    let job = jobs
        .get(status.last_backup.as_deref().unwrap())
        .await
        .expect("the recorded Job");
    let succeeded = job.status.and_then(|s| s.succeeded).unwrap_or(0);
    assert!(
        succeeded >= 1,
        "Job {:?} did not succeed",
        job.metadata.name
    );
    let job_name = job.metadata.name.clone().unwrap_or_default();
    // The dump ran on the database node, next to the volume.
    let pods = Api::<Pod>::namespaced(c.client.clone(), &t.ns)
        .list(&ListParams::default().labels(&format!("job-name={job_name}")))
        .await
        .expect("listing the Job's pods");
    assert!(!pods.items.is_empty(), "Job {job_name} has no pods left");
    for p in &pods.items {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let n = Api::<Node>::all(c.client.clone())
            .get(&node)
            .await
            .expect("the pod's node");
        let tier = n
            .metadata
            .labels
            .unwrap_or_default()
            .get(DEFAULT_TIER_LABEL)
            .cloned();
        assert_eq!(
            tier.as_deref(),
            Some("database"),
            "backup pod ran on {node}"
        );
    }
    let log = c
        .succeeded_job_log(&t.ns, &job_name)
        .await
        .expect("Job log");
    assert!(!log.to_lowercase().contains("error"), "backup log: {log}");
}

/// The origin a browser sends from one of the apps at the URL `make up` prints: scheme, host
/// and port (a page at `https://aam.ovu.localhost:30443/` sends exactly that).
fn browser_origin(t: &Target, app: &str) -> String {
    t.url(app, "")
}

/// The values of one response header (all of them, to catch duplicates).
fn header_values(r: &reqwest::Response, name: &str) -> Vec<String> {
    r.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("?").to_string())
        .collect()
}

/// A browser's cross-origin call from `origin`: the CORS preflight must allow it, then the
/// answer must name the origin (else the browser hides it and the app says "The server cannot
/// be reached", issue 17).
async fn preflight(http: &reqwest::Client, url: &str, origin: &str, method: &str, headers: &str) {
    let r = http
        .request(reqwest::Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send_patiently()
        .await
        .expect("preflight");
    assert!(
        r.status().is_success(),
        "preflight {url} from {origin}: {}",
        r.status()
    );
    assert_eq!(
        header_values(&r, "access-control-allow-origin"),
        [origin],
        "preflight {url} from {origin}"
    );
}

/// Both apps sign in the way their pages do in a browser at the printed URLs, Origin header
/// included: ULM's page signs in to ULM (same origin); AAM's page signs in to ULM
/// (cross-origin, with a CORS preflight) and then reads AAM's API with the token. Before the
/// public port was part of the allowed origins, nginx answered AAM's preflight without
/// `Access-Control-Allow-Origin` and the panel could not sign in. `status.endpoints` name the
/// same URLs, and every API answer carries one of each security header (issue 17 found two
/// disagreeing Referrer-Policy headers).
#[tokio::test]
async fn both_apps_sign_in_through_nginx_with_the_browsers_origin() {
    let t = target().await;
    let http = t.client().await.expect("https client");
    let (email, password) = admin::credentials(&t).await.expect("admin credentials");
    admin::ensure_enrolled(&t, &http)
        .await
        .expect("admin MFA enrolment");

    // status.endpoints are the URLs a browser uses (port included), the ones `make up` prints.
    let st = t
        .cluster
        .get_system(&t.ns, &t.system)
        .await
        .expect("reading the OvuSystem")
        .status
        .expect("status");
    let ep = st.endpoints.expect("status.endpoints");
    assert_eq!(ep.ulm, browser_origin(&t, "ulm"));
    assert_eq!(ep.aam, browser_origin(&t, "aam"));

    let login = t.url("ulm", "/api/v1/auth/login");
    // What each page reads first after signing in: ULM's own profile, AAM's dashboard.
    let first_read = |app: &str| {
        t.url(
            app,
            if app == "ulm" {
                "/api/v1/users/me"
            } else {
                "/api/v1/dashboard"
            },
        )
    };
    for page in ["ulm", "aam"] {
        let origin = browser_origin(&t, page);
        if page != "ulm" {
            preflight(
                &http,
                &login,
                &origin,
                "POST",
                "content-type,accept-language",
            )
            .await;
        }
        let r = http
            .post(&login)
            .header("origin", &origin)
            .json(&json!({"login": email, "password": password}))
            .send_patiently()
            .await
            .expect("login");
        let status = r.status();
        let allow = header_values(&r, "access-control-allow-origin");
        let referrer = header_values(&r, "referrer-policy");
        let body: Value = r.json().await.expect("login JSON");
        assert!(status.is_success(), "{page} page: login {status} {body}");
        assert_eq!(allow, [origin.as_str()], "{page} page: login answer's CORS");
        assert_eq!(
            referrer,
            ["no-referrer"],
            "{page} page: login answer's Referrer-Policy"
        );
        // The second factor (adminMfa: Required), from the same page: its answer carries the
        // same CORS and Referrer-Policy.
        let mfa_url = t.url("ulm", "/api/v1/auth/login/mfa");
        let token = admin::complete(&t, &body, |step| {
            let rb = http.post(&mfa_url).header("origin", &origin).json(&step);
            let origin = origin.clone();
            async move {
                let r = rb.send_patiently().await?;
                ensure!(
                    header_values(&r, "access-control-allow-origin") == [origin.as_str()],
                    "MFA step's CORS: {:?}",
                    r.headers()
                );
                ensure!(
                    header_values(&r, "referrer-policy") == ["no-referrer"],
                    "MFA step's Referrer-Policy: {:?}",
                    r.headers()
                );
                Ok((r.status().as_u16(), r.json().await?))
            }
        })
        .await
        .expect("admin MFA step");
        let token = token.as_str();

        // The page's own API (AAM's panel reads AAM; ULM's app reads ULM), same origin.
        let r = http
            .get(first_read(page))
            .header("origin", &origin)
            .bearer_auth(token)
            .send_patiently()
            .await
            .expect("GET the page's first read");
        assert!(r.status().is_success(), "{page}: first read {}", r.status());
        for name in [
            "referrer-policy",
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
            "strict-transport-security",
        ] {
            assert_eq!(
                header_values(&r, name).len(),
                1,
                "{page}: {name} {:?}",
                r.headers()
            );
        }
        assert_eq!(header_values(&r, "referrer-policy"), ["no-referrer"]);
        assert_eq!(
            header_values(&r, "access-control-allow-origin"),
            [origin.as_str()]
        );
    }
    // AAM's panel also calls ULM with its token (users, sessions): the preflight for an
    // authorised GET from AAM's origin is allowed too.
    preflight(
        &http,
        &t.url("ulm", "/api/v1/users/me"),
        &browser_origin(&t, "aam"),
        "GET",
        "authorization,accept-language",
    )
    .await;
}

/// nginx's own limit answers in the services' error shape with Retry-After, so a client
/// treats it like ULM's and AAM's `rate_limited` (plain nginx would send an HTML page).
#[tokio::test]
async fn nginx_rate_limits_answer_in_the_error_shape() {
    let t = target().await;
    let http = t.client().await.expect("https client");
    // 60 at once against a 10 r/s limit with a burst of 20: some must be refused. Health is
    // not rate-limited by AAM itself, so every 429 here is nginx's.
    let url = t.url("aam", "/api/health");
    let answers = futures::future::join_all(
        (0..60)
            .map(|_| {
                let http = http.clone();
                let url = url.clone();
                async move { http.get(url).send().await }
            })
            .collect::<Vec<_>>(),
    )
    .await;
    let mut limited = None;
    for a in answers {
        let r = a.expect("GET /api/health");
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("60 requests at once were all let through: no rate limit");
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let ct = r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let body: Value = r.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
}

/// A body over the services' limit gets nginx's JSON 413 every time, through TLS and on
/// both sites (before, 17 of 20 such requests became nginx's 502 page: it forwarded up to
/// 10 MB to a service that answered early and closed).
#[tokio::test]
async fn an_oversize_body_gets_a_json_413_through_nginx_every_time() {
    let t = target().await;
    let http = t.client().await.expect("https client");
    let big =
        json!({"email": "big@example.com", "username": "big", "password": "x".repeat(3_000_000)});
    for (attempt, url) in std::iter::repeat_n(
        [
            t.url("ulm", "/api/v1/auth/register"),
            t.url("aam", "/api/v1/settings"),
        ],
        5,
    )
    .flatten()
    .enumerate()
    {
        let r = http
            .post(&url)
            .json(&big)
            .send()
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt} {url}: {e}"));
        let status = r.status();
        let ct = r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_string();
        let body = r.text().await.unwrap_or_default();
        assert_eq!(status, 413, "attempt {attempt} {url}: {body}");
        assert!(
            ct.starts_with("application/json"),
            "{url}: content-type {ct}"
        );
        let v: Value = serde_json::from_str(&body).expect("a JSON body");
        assert_eq!(v["error"]["code"], "payload_too_large", "{body}");
    }
}

/// The values worth stealing in the system's Secrets: every password, token and private key
/// (each line of a PEM key's body), skipping public certificates and short or descriptive
/// values (an e-mail address, a user name).
fn secret_values(secrets: &[Secret]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in secrets {
        let name = s.metadata.name.clone().unwrap_or_default();
        for (key, v) in s.data.iter().flatten() {
            if key.ends_with(".crt")
                || ["email", "user", "username", "from"].contains(&key.as_str())
            {
                continue;
            }
            let Ok(text) = String::from_utf8(v.0.clone()) else {
                continue;
            };
            if text.contains("-----BEGIN") {
                for line in text
                    .lines()
                    .filter(|l| l.len() >= 20 && !l.starts_with("-----"))
                {
                    out.push((
                        format!("{name}/{key} (a line of the key)"),
                        line.to_string(),
                    ));
                }
            } else if text.trim().len() >= 12 {
                out.push((format!("{name}/{key}"), text.trim().to_string()));
            }
        }
    }
    out
}

/// No generated secret appears in a ConfigMap, an Event, the OvuSystem's status or any log
/// line of the operator, ULM, AAM, nginx, PostgreSQL, Redis or a backup Job so far in the run.
#[tokio::test]
async fn no_secret_value_leaks_into_configmaps_events_status_or_logs() {
    use k8s_openapi::api::core::v1::{ConfigMap, Event};
    let t = target().await;
    let c = t.cluster.client.clone();
    let secrets = Api::<Secret>::namespaced(c.clone(), &t.ns)
        .list(&ListParams::default())
        .await
        .expect("listing Secrets")
        .items;
    let values = secret_values(&secrets);
    assert!(
        values.len() >= 8,
        "expected the generated passwords and keys, found {}",
        values.len()
    );
    // Everything a reader of the cluster or of the logs could see, labelled by where it was.
    let mut places: Vec<(String, String)> = Vec::new();
    for ns in [t.ns.as_str(), "ovu-system"] {
        for cm in Api::<ConfigMap>::namespaced(c.clone(), ns)
            .list(&ListParams::default())
            .await
            .expect("listing ConfigMaps")
            .items
        {
            let name = cm.metadata.name.clone().unwrap_or_default();
            places.push((
                format!("ConfigMap {ns}/{name}"),
                serde_json::to_string(&cm).unwrap(),
            ));
        }
        for e in Api::<Event>::namespaced(c.clone(), ns)
            .list(&ListParams::default())
            .await
            .expect("listing Events")
            .items
        {
            let name = e.metadata.name.clone().unwrap_or_default();
            places.push((
                format!("Event {ns}/{name}"),
                serde_json::to_string(&e).unwrap(),
            ));
        }
        let pods = Api::<Pod>::namespaced(c.clone(), ns);
        for p in pods
            .list(&ListParams::default())
            .await
            .expect("listing Pods")
            .items
        {
            let pod = p.metadata.name.clone().unwrap_or_default();
            let spec = p.spec.unwrap_or_default();
            let containers = spec
                .init_containers
                .unwrap_or_default()
                .into_iter()
                .chain(spec.containers);
            for ctr in containers {
                for previous in [false, true] {
                    let lp = kube::api::LogParams {
                        container: Some(ctr.name.clone()),
                        previous,
                        ..Default::default()
                    };
                    // A container that never restarted has no previous log: nothing to read.
                    if let Ok(log) = pods.logs(&pod, &lp).await {
                        places.push((format!("log of {ns}/{pod}/{}", ctr.name), log));
                    }
                }
            }
        }
    }
    for s in t
        .cluster
        .systems(&t.ns)
        .list(&ListParams::default())
        .await
        .expect("listing OvuSystems")
        .items
    {
        let name = s.metadata.name.clone().unwrap_or_default();
        let status = serde_json::to_string(&s.status).unwrap();
        places.push((format!("status of OvuSystem {name}"), status));
    }
    assert!(
        places.iter().any(|(w, _)| w.starts_with("log of")),
        "read no logs at all"
    );
    let leaks: Vec<String> = values
        .iter()
        .flat_map(|(what, v)| {
            places
                .iter()
                .filter(move |(_, text)| text.contains(v.as_str()))
                .map(move |(place, _)| format!("{what} in {place}"))
        })
        .collect();
    assert!(leaks.is_empty(), "secret values found: {leaks:#?}");
}

/// The operator runs in-cluster from its image and every replica is Ready: the leader once
/// its cache synced, the standby to take over. (A leader that never turned ready once held
/// the Deployment's rollouts forever.)
#[tokio::test]
async fn the_in_cluster_operator_is_fully_available() {
    let t = target().await;
    let d = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(
        t.cluster.client.clone(),
        "ovu-system",
    );
    let status = wait_for(
        Duration::from_secs(90),
        "ovu-operator replicas ready",
        || {
            let d = d.clone();
            async move {
                let dep = d.get("ovu-operator").await?;
                let want = dep.spec.and_then(|s| s.replicas).unwrap_or(1);
                let st = dep.status.unwrap_or_default();
                let ready = st.ready_replicas.unwrap_or(0);
                Ok(if ready == want && st.updated_replicas == Some(want) {
                    Ok(ready)
                } else {
                    Err(format!("{ready}/{want} ready"))
                })
            }
        },
    )
    .await
    .expect("the operator Deployment becomes available");
    assert!(status >= 1);
}

/// Two made-up client machines in a network namespace of their own, each with one address from
/// 198.18.0.0/15 that the cluster does not use, reaching the frontend node's NodePort the way
/// an outside client does: routed in from another interface, not from this host's own
/// addresses (kube-proxy masquerades host-local sources even with `externalTrafficPolicy:
/// Local`, which is why every browser on this machine shows up as the node). Removed on drop
/// (deleting the namespace deletes the veth pair, its addresses and the host routes).
struct OutsideClients {
    ns: &'static str,
    ca: std::path::PathBuf,
    /// curl's `--resolve`: the ULM site's name and port to the frontend node's address.
    resolve: String,
    /// `https://ulm.<domain>:<port>`.
    base: String,
}

const CLIENT_A: &str = "198.18.200.11";
const CLIENT_B: &str = "198.18.200.12";

fn run(cmd: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One answer seen by an outside client.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl OutsideClients {
    async fn start(t: &Target) -> anyhow::Result<Self> {
        const NS: &str = "ovu-e2e-clients";
        // A namespace left by an interrupted run goes first (with its veth and routes).
        let _ = run(&["ip", "netns", "del", NS]);
        let nodes = Api::<Node>::all(t.cluster.client.clone())
            .list(&ListParams::default().labels(&format!("{DEFAULT_TIER_LABEL}=frontend")))
            .await?;
        let node_ip = nodes
            .items
            .iter()
            .flat_map(|n| n.status.iter().flat_map(|s| s.addresses.iter().flatten()))
            .find(|a| a.type_ == "InternalIP")
            .map(|a| a.address.clone())
            .context("the frontend node has no InternalIP")?;
        let me = Self {
            ns: NS,
            ca: std::env::temp_dir().join(format!("ovu-e2e-ca-{}.crt", std::process::id())),
            resolve: format!("{}:{}:{node_ip}", t.host("ulm"), t.port),
            base: t.url("ulm", ""),
        };
        let ca = t.secret(&t.names().tls_secret(), "ca.crt").await?;
        std::fs::write(&me.ca, ca)?;
        let node_net = format!("{node_ip}/32");
        for cmd in [
            vec!["ip", "netns", "add", NS],
            vec![
                "ip", "link", "add", "ovuclih", "type", "veth", "peer", "name", "ovuclin",
            ],
            vec!["ip", "link", "set", "ovuclin", "netns", NS],
            vec!["ip", "link", "set", "ovuclih", "up"],
            vec!["ip", "-n", NS, "link", "set", "lo", "up"],
            vec!["ip", "-n", NS, "link", "set", "ovuclin", "up"],
            vec![
                "ip",
                "-n",
                NS,
                "addr",
                "add",
                &format!("{CLIENT_A}/32"),
                "dev",
                "ovuclin",
            ],
            vec![
                "ip",
                "-n",
                NS,
                "addr",
                "add",
                &format!("{CLIENT_B}/32"),
                "dev",
                "ovuclin",
            ],
            // On-link both ways: the host answers ARP for the node's address (its own on the
            // real-node cluster; a kind node's sits behind a bridge, hence proxy ARP), the
            // namespace for the clients'.
            vec!["ip", "-n", NS, "route", "add", &node_net, "dev", "ovuclin"],
            vec!["sysctl", "-qw", "net.ipv4.conf.ovuclih.proxy_arp=1"],
            vec![
                "ip",
                "route",
                "add",
                &format!("{CLIENT_A}/32"),
                "dev",
                "ovuclih",
            ],
            vec![
                "ip",
                "route",
                "add",
                &format!("{CLIENT_B}/32"),
                "dev",
                "ovuclih",
            ],
        ] {
            run(&cmd)?;
        }
        Ok(me)
    }

    /// `method path` on the ULM site from `src`, through the frontend node's NodePort.
    fn send(
        &self,
        src: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let resolve = &self.resolve;
        let url = format!("{}{path}", self.base);
        let ca = self.ca.to_string_lossy().into_owned();
        let mut cmd: Vec<String> = [
            "ip",
            "netns",
            "exec",
            self.ns,
            "curl",
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            &ca,
            "--resolve",
            resolve,
            "--interface",
            src,
            "-X",
            method,
            "-D",
            "-",
            "-w",
            "\n%{http_code}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (k, v) in headers {
            cmd.push("-H".into());
            cmd.push(format!("{k}: {v}"));
        }
        if let Some(b) = body {
            cmd.extend(["-H".into(), "content-type: application/json".into()]);
            cmd.extend(["--data-binary".into(), b.to_string()]);
        }
        cmd.push(url);
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = run(&args)?;
        let (rest, code) = out.rsplit_once('\n').context("curl printed no status")?;
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        let retry_after = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("retry-after")
                .then(|| v.trim().parse().ok())?
        });
        Ok(Answer {
            status: code.trim().parse()?,
            retry_after,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        })
    }
}

impl Drop for OutsideClients {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", self.ns]);
        let _ = std::fs::remove_file(&self.ca);
    }
}

/// Per-IP limits and records follow the real client, end to end: two outside clients behind
/// the same nginx get separate login rate-limit buckets in ULM, a forged X-Forwarded-For does
/// not move a client into another bucket, and the audit log and sessions name the clients'
/// own addresses, never the nginx pod's or the node's.
#[tokio::test]
async fn each_client_address_has_its_own_login_limit_and_audit_trail() {
    let t = target().await;
    let clients = OutsideClients::start(&t).await.expect("outside clients");
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let ua_a = format!("ovu-e2e-client-a/{run_id}");
    let ua_b = format!("ovu-e2e-client-b/{run_id}");
    let failed_login = |i: usize| json!({"login": format!("nobody-{run_id}-{i}@example.com"), "password": "not-the-password-1"});
    let login = |src: &str, ua: &str, i: usize, extra: &[(&str, &str)]| {
        let mut h = vec![("user-agent", ua)];
        h.extend_from_slice(extra);
        clients
            .send(
                src,
                "POST",
                "/api/v1/auth/login",
                &h,
                Some(&failed_login(i)),
            )
            .expect("login from an outside client")
    };

    // ULM allows 5 logins per minute per address (ULM_RATE_LOGIN_PER_MIN); every attempt names
    // a different account so only the address limit can trip. 1.1 s apart stays under nginx's
    // 1 r/s, so every 429 below is ULM's own.
    let limit = 5;
    for i in 0..limit {
        let a = login(CLIENT_A, &ua_a, i, &[]);
        assert_eq!(a.status, 401, "A's attempt {i}: {}", a.body);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let a = login(CLIENT_A, &ua_a, limit, &[]);
    assert_eq!(a.status, 429, "A past its limit: {}", a.body);
    assert_eq!(a.body["error"]["code"], "rate_limited", "{}", a.body);
    assert!(
        a.retry_after.is_some_and(|s| s > 1),
        "ULM's window, not nginx's 1 s: {:?}",
        a.retry_after
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // B, behind the same nginx, still has its whole budget.
    let b = login(CLIENT_B, &ua_b, 100, &[]);
    assert_eq!(b.status, 401, "B while A is limited: {}", b.body);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // A claiming to be B (or anyone) stays A.
    let forged = [
        ("x-forwarded-for", CLIENT_B),
        ("x-real-ip", CLIENT_B),
        ("forwarded", "for=198.18.200.12"),
    ];
    let a = login(CLIENT_A, &ua_a, limit + 1, &forged);
    assert_eq!(a.status, 429, "A with a forged X-Forwarded-For: {}", a.body);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // A session from B carries B's address.
    let (email, password) = admin::credentials(&t).await.unwrap();
    let http = t.client().await.expect("https client");
    admin::ensure_enrolled(&t, &http)
        .await
        .expect("admin MFA enrolment");
    let mut token = None;
    for _ in 0..20 {
        // Other tests sign the admin in too (5 per minute per account): wait out a 429.
        let r = clients
            .send(
                CLIENT_B,
                "POST",
                "/api/v1/auth/login",
                &[("user-agent", &ua_b)],
                Some(&json!({"login": email, "password": password})),
            )
            .unwrap();
        if r.status == 429 {
            let secs = r.retry_after.unwrap_or(1).clamp(1, 60);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            continue;
        }
        assert_eq!(r.status, 200, "admin sign-in from B: {}", r.body);
        // The second factor from B too: the session begins there.
        let tok = admin::complete(&t, &r.body, |step| {
            let a = clients.send(
                CLIENT_B,
                "POST",
                "/api/v1/auth/login/mfa",
                &[("user-agent", &ua_b)],
                Some(&step),
            );
            async move { a.map(|a| (a.status, a.body)) }
        })
        .await
        .expect("admin MFA step from B");
        token = Some(tok);
        break;
    }
    let token = token.expect("admin signed in from B");
    let bearer = format!("Bearer {token}");
    let sessions = clients
        .send(
            CLIENT_B,
            "GET",
            "/api/v1/users/me/sessions",
            &[("authorization", &bearer)],
            None,
        )
        .unwrap();
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    let current = sessions.body.as_array().and_then(|s| {
        s.iter()
            .find(|s| s["current"] == true)
            .map(|s| s["ip"].clone())
    });
    assert_eq!(current, Some(json!(CLIENT_B)), "{}", sessions.body);

    // The audit log: A's five failures from A, B's one from B, nothing from the pod network.
    let audit = get_json(
        &t.client().await.unwrap(),
        t.url("ulm", "/api/v1/audit?type=login_failed&limit=1000"),
        &token,
    )
    .await
    .expect("audit log");
    let ips_of = |ua: &str| -> Vec<String> {
        audit
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["user_agent"] == ua)
            .map(|e| e["ip"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        ips_of(&ua_a),
        vec![CLIENT_A.to_string(); limit],
        "A's failures"
    );
    assert_eq!(ips_of(&ua_b), vec![CLIENT_B.to_string()], "B's failure");
    drop(clients);
}

/// The least time between two request starts of the chaos load: at most 6.25 r/s in all,
/// against nginx's `rate=10r/s` per client address on the API.
const LOAD_SPACING: Duration = Duration::from_millis(160);

/// One answer seen by the chaos load: when, what, and the status or transport error.
#[derive(Debug, Clone)]
struct Seen {
    at: std::time::Instant,
    what: &'static str,
    status: Option<u16>,
    detail: String,
}

/// A bounded client load through nginx for the chaos tests: the admin creates an account
/// every half second (registration itself allows a client address three an hour), reads its
/// own account four times a second, and, with `aam`, reads AAM's system health twice a second
/// (AAM checks the session with ULM on each). All streams share one pacer that starts a
/// request at most every [`LOAD_SPACING`], so the whole load stays under nginx's 10 r/s per
/// client address without using its burst: a 429 from nginx is then never the load's own
/// doing (a run on 2026-12-04 got one when the streams, 8 r/s together, bunched up behind a
/// slow rollout). Every answer is kept with its time.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// When the next request may start (shared by every stream).
    pace: std::sync::Arc<tokio::sync::Mutex<tokio::time::Instant>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    registered: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(t: &Target, http: &reqwest::Client, token: &str, aam: bool) -> Load {
        use std::sync::atomic::Ordering;
        let load = Load {
            stop: Default::default(),
            pace: std::sync::Arc::new(tokio::sync::Mutex::new(tokio::time::Instant::now())),
            seen: Default::default(),
            registered: Default::default(),
            tasks: Vec::new(),
        };
        let mut tasks = Vec::new();
        // (what, URL, interval, bound on requests, creates an account)
        let mut streams = vec![
            ("create", t.url("ulm", "/api/v1/users"), 500, 1000, true),
            ("me", t.url("ulm", "/api/v1/users/me"), 250, 2000, false),
        ];
        if aam {
            streams.push((
                "aam",
                t.url("aam", "/api/v1/system/health"),
                500,
                1000,
                false,
            ));
        }
        for (what, url, every_ms, bound, create) in streams {
            let (http, token) = (http.clone(), token.to_string());
            let (stop, pace, seen, registered) = (
                load.stop.clone(),
                load.pace.clone(),
                load.seen.clone(),
                load.registered.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for _ in 0..bound {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    {
                        // Holding the lock while sleeping queues the other streams behind
                        // this slot: starts are at least LOAD_SPACING apart, whatever bunches.
                        let mut next = pace.lock().await;
                        tokio::time::sleep_until(*next).await;
                        *next = tokio::time::Instant::now() + LOAD_SPACING;
                    }
                    let mut email = None;
                    let r = if create {
                        let id = uuid::Uuid::new_v4().simple().to_string();
                        let e = format!("chaos-{}@example.com", &id[..12]);
                        let body = json!({"email": e, "username": format!("chaos{}", &id[..10]),
                            "password": format!("Chaos-e2e-{id}!")});
                        email = Some(e);
                        http.post(&url).bearer_auth(&token).json(&body).send().await
                    } else {
                        http.get(&url).bearer_auth(&token).send().await
                    };
                    let (status, detail) = match Self::answer(r).await {
                        Ok((s, body)) => (Some(s), body),
                        Err(e) => (None, e.to_string()),
                    };
                    if let (Some(e), Some(200..300)) = (email, status) {
                        registered.lock().unwrap().push(e);
                    }
                    seen.lock().unwrap().push(Seen {
                        at: std::time::Instant::now(),
                        what,
                        status,
                        detail,
                    });
                    tokio::time::sleep(Duration::from_millis(every_ms)).await;
                }
            }));
        }
        Load { tasks, ..load }
    }

    async fn answer(r: reqwest::Result<reqwest::Response>) -> reqwest::Result<(u16, String)> {
        let r = r?;
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Ok((
            status,
            format!("{ct} {}", r.text().await.unwrap_or_default()),
        ))
    }

    /// Every answer so far.
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Stops the load; every answer, and the accounts whose creation got a 2xx.
    async fn finish(self) -> (Vec<Seen>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let seen = self.seen.lock().unwrap().clone();
        let registered = self.registered.lock().unwrap().clone();
        (seen, registered)
    }
}

/// Every account whose creation was acknowledged exists (at least ten, so the load ran).
async fn assert_all_present(
    t: &Target,
    http: &reqwest::Client,
    token: &str,
    registered: &[String],
) {
    assert!(
        registered.len() >= 10,
        "too few registrations: {registered:?}"
    );
    for email in registered {
        let found = get_json(
            http,
            format!("{}?q={email}", t.url("ulm", "/api/v1/users")),
            token,
        )
        .await
        .unwrap_or_else(|e| panic!("searching {email}: {e}"));
        assert_eq!(
            found.as_array().map(Vec::len),
            Some(1),
            "{email} was acknowledged and is gone: {found}"
        );
    }
}

/// Chaos (make test-all, alone: it takes PostgreSQL away from every other test). The
/// PostgreSQL pod is deleted while a client keeps creating accounts and reading its own
/// through nginx. What was lost must be nothing acknowledged: every account whose creation
/// got a 2xx is there afterwards. Meanwhile every failure is a 503 in the error shape
/// (never a 500, never an HTML page), the failures end within 15 s of the delete, and the
/// system's status says Degraded and then Ready again.
#[tokio::test]
#[ignore = "chaos: deletes the PostgreSQL pod; e2e/run-real runs it alone (make test-all)"]
async fn chaos_postgres_pod_deleted_under_load_loses_nothing_acknowledged() {
    use std::time::Instant;
    let t = target().await;
    let http = t.client().await.expect("https client");
    let token = t.admin_token(&http).await.expect("admin signs in");
    let load = Load::start(&t, &http, &token, false);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before: Vec<Seen> = load.seen();
    assert!(
        before.iter().all(|s| s.status.is_some_and(|c| c < 300)),
        "failures before the delete: {before:#?}"
    );
    // An operator at work before the database goes: its status is half of what is checked
    // here. The chaos test before this one restarts the API server, and once (session 28) its
    // operators could not reach it for another 65 s after the cluster was back — no status
    // moved in all of this test's outage, which it then blamed on the status, not the cluster.
    wait_for(
        Duration::from_secs(180),
        "an operator renewing its Lease",
        || async {
            Ok(match t.cluster.lease_holder().await? {
                Some(_) => Ok(()),
                None => Err("no operator renewed the Lease within its duration".to_string()),
            })
        },
    )
    .await
    .expect("a leading operator before the delete");
    let pods = Api::<Pod>::namespaced(t.cluster.client.clone(), &t.ns);
    let pod = t.names().postgres_pod();
    let deleted_at = Instant::now();
    pods.delete(&pod, &Default::default())
        .await
        .expect("deleting the PostgreSQL pod");
    // The status must leave Ready while the database is away, then come back.
    let mut phases = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(240);
    let back = loop {
        if let Ok(s) = t.cluster.get_system(&t.ns, &t.system).await {
            let phase = s.status.and_then(|s| s.phase);
            if phases.last() != Some(&phase) {
                phases.push(phase);
            }
            if phases.len() > 1 && phase == Some(ovu_crds::Phase::Ready) {
                break Ok(());
            }
        }
        if Instant::now() > give_up {
            break Err(format!("not Ready again in 240 s; phases {phases:?}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Keep the load on a little longer: the failures must have ended, not paused.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (seen, registered) = load.finish().await;
    if let Err(e) = back {
        // What the operator was doing: its status is the thing that did not move.
        for args in [
            &["-n", "ovu-system", "get", "pods", "-o", "wide"][..],
            &[
                "-n",
                "ovu-system",
                "logs",
                "deploy/ovu-operator",
                "--tail=80",
            ][..],
            &["-n", t.ns.as_str(), "get", "pods", "-o", "wide"][..],
        ] {
            eprintln!(
                "--- kubectl {}\n{}",
                args.join(" "),
                t.cluster.kubectl(args).unwrap_or_else(|e| e.to_string())
            );
        }
        panic!("{e}");
    }
    assert!(
        phases.contains(&Some(ovu_crds::Phase::Degraded))
            || phases.contains(&Some(ovu_crds::Phase::Progressing)),
        "the status never left Ready while PostgreSQL was away: {phases:?}"
    );

    let failed: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.at >= deleted_at && s.status.is_none_or(|c| c >= 300))
        .collect();
    // Nginx's own limit (429) is not an outage; anything else that failed must be a 503
    // in the error shape.
    let bad: Vec<&&Seen> = failed
        .iter()
        .filter(|s| {
            s.status != Some(429)
                && !(s.status == Some(503)
                    && s.detail.starts_with("application/json")
                    && s.detail.contains("\"code\""))
        })
        .collect();
    assert!(bad.is_empty(), "failures other than a JSON 503: {bad:#?}");
    let outage = failed
        .iter()
        .filter(|s| s.status != Some(429))
        .map(|s| s.at.duration_since(deleted_at))
        .max()
        .unwrap_or_default();
    let total = seen.iter().filter(|s| s.at >= deleted_at).count();
    let failed_writes = failed.iter().filter(|s| s.what == "create").count();
    eprintln!(
        "chaos: {} of {total} requests after the delete failed ({failed_writes} account creations); \
         the last {:.1} s after it; phases {phases:?}",
        failed.len(),
        outage.as_secs_f64()
    );
    assert!(
        outage < Duration::from_secs(15),
        "requests failed until {:.1} s after the delete",
        outage.as_secs_f64()
    );

    // Nothing acknowledged is lost: every registration that got a 2xx is a user now.
    assert_all_present(&t, &http, &token, &registered).await;
}

/// Every Deployment of `components` has rolled out its current template: observed, all
/// replicas updated, available and ready, and no old pod left.
async fn rolled_out(t: &Target, components: &[ovu_crds::names::Component]) -> Result<(), String> {
    use k8s_openapi::api::apps::v1::Deployment;
    let api = Api::<Deployment>::namespaced(t.cluster.client.clone(), &t.ns);
    let names = ovu_crds::names::Names::new(&t.system);
    for &c in components {
        let name = names.of(c);
        let d = api.get(&name).await.map_err(|e| format!("{name}: {e}"))?;
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let st = d.status.unwrap_or_default();
        let current = d.metadata.generation == st.observed_generation
            && st.updated_replicas == Some(want)
            && st.ready_replicas == Some(want)
            && st.available_replicas == Some(want)
            && st.replicas == Some(want);
        if !current {
            return Err(format!(
                "{name}: want {want}, updated {:?}, ready {:?}, available {:?}, total {:?}",
                st.updated_replicas, st.ready_replicas, st.available_replicas, st.replicas
            ));
        }
    }
    Ok(())
}

/// Chaos (make test-all): ULM and AAM at two replicas each roll to a new pod template while
/// a client keeps creating accounts, reading its own and reading AAM's health through
/// nginx. Nothing may fail — not one request: a pod leaves its Service before it stops
/// (preStop), drains what it was serving, and new pods take traffic only once ready; the
/// PodDisruptionBudget and `maxUnavailable: 0` keep the old ones until then.
#[tokio::test]
#[ignore = "chaos: rolls ULM and AAM; e2e/run-real runs it alone (make test-all)"]
async fn chaos_rolling_change_under_load_fails_nothing() {
    use ovu_crds::names::Component::{Aam, Ulm};
    let t = target().await;
    let http = t.client().await.expect("https client");
    let token = t.admin_token(&http).await.expect("admin signs in");
    let before = t
        .cluster
        .get_system(&t.ns, &t.system)
        .await
        .expect("system");
    let (ulm0, aam0) = (&before.spec.backend.ulm, &before.spec.backend.aam);
    let (ulm_cpu0, aam_cpu0) = (&ulm0.resources.requests.cpu, &aam0.resources.requests.cpu);
    let backend = |ulm: (i32, &str), aam: (i32, &str)| {
        json!({"spec": {"backend": {
            "ulm": {"replicas": ulm.0, "resources": {"requests": {"cpu": ulm.1}}},
            "aam": {"replicas": aam.0, "resources": {"requests": {"cpu": aam.1}}},
        }}})
    };
    // Two replicas each, before any load.
    t.cluster
        .patch_system(&t.ns, &t.system, backend((2, ulm_cpu0), (2, aam_cpu0)))
        .await
        .expect("two replicas");
    wait_for(
        Duration::from_secs(300),
        "two replicas of ULM and AAM",
        || async { Ok(rolled_out(&t, &[Ulm, Aam]).await) },
    )
    .await
    .expect("two replicas each");
    t.cluster
        .wait_ready(&t.ns, &t.system, Duration::from_secs(120))
        .await
        .expect("Ready at two replicas");

    let load = Load::start(&t, &http, &token, true);
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A new pod template for both (a different CPU request): every pod is replaced.
    let cpu1 = ["61m", "62m", "63m"]
        .into_iter()
        .find(|c| c != ulm_cpu0 && c != aam_cpu0)
        .unwrap();
    t.cluster
        .patch_system(&t.ns, &t.system, backend((2, cpu1), (2, cpu1)))
        .await
        .expect("the rolling change");
    // Wait for the rollout to begin (the operator applies the template), then to finish.
    let rolled = wait_for(
        Duration::from_secs(300),
        "the rolling change done",
        || async {
            use k8s_openapi::api::apps::v1::Deployment;
            let api = Api::<Deployment>::namespaced(t.cluster.client.clone(), &t.ns);
            let names = ovu_crds::names::Names::new(&t.system);
            for c in [Ulm, Aam] {
                let d = api.get(&names.of(c)).await?;
                let cpu = d
                    .spec
                    .and_then(|s| s.template.spec)
                    .and_then(|s| s.containers.into_iter().next())
                    .and_then(|c| c.resources)
                    .and_then(|r| r.requests)
                    .and_then(|r| r.get("cpu").map(|q| q.0.clone()));
                if cpu.as_deref() != Some(cpu1) {
                    return Ok(Err(format!("{c:?} not changed yet (cpu {cpu:?})")));
                }
            }
            Ok(rolled_out(&t, &[Ulm, Aam]).await)
        },
    )
    .await;
    // A little more load on the new pods, then stop.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (seen, registered) = load.finish().await;
    rolled.expect("the rollout completes");

    let failed: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.status.is_none_or(|c| c >= 300))
        .collect();
    let by_what = |w: &str| seen.iter().filter(|s| s.what == w).count();
    eprintln!(
        "rolling: {} requests ({} creates, {} reads of ULM, {} of AAM), {} failed",
        seen.len(),
        by_what("create"),
        by_what("me"),
        by_what("aam"),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "requests failed during the rollout: {failed:#?}"
    );
    assert_all_present(&t, &http, &token, &registered).await;

    // Leave the system as it was for whatever runs next.
    t.cluster
        .patch_system(
            &t.ns,
            &t.system,
            backend((ulm0.replicas, ulm_cpu0), (aam0.replicas, aam_cpu0)),
        )
        .await
        .expect("restoring the replicas");
    t.cluster
        .wait_ready(&t.ns, &t.system, Duration::from_secs(300))
        .await
        .expect("Ready again as before");
}

/// Runs SQL as PostgreSQL's superuser on its local socket in the system's PostgreSQL pod, in
/// database `db`; what psql printed (rows only).
fn psql(t: &Target, db: &str, sql: &str) -> anyhow::Result<String> {
    psql_in(&t.cluster, &t.ns, &t.system, db, sql)
}

/// [`psql`] for any system `system` in namespace `ns` (the off-site test's systems too).
fn psql_in(c: &Cluster, ns: &str, system: &str, db: &str, sql: &str) -> anyhow::Result<String> {
    let script = format!(
        "PGPASSWORD=\"$(cat /etc/ovu/postgres-secrets/superuser-password)\" \
         psql -XqtA -v ON_ERROR_STOP=1 -U postgres -h /var/run/postgresql -d {db} -c \"{sql}\""
    );
    c.kubectl(&[
        "-n",
        ns,
        "exec",
        &Names::new(system).postgres_pod(),
        "-c",
        "postgres",
        "--",
        "sh",
        "-c",
        &script,
    ])
}

/// The Ready and BackendReady conditions of the system: (Ready reason, BackendReady reason,
/// BackendReady message).
async fn backend_condition(t: &Target) -> anyhow::Result<(String, String, String)> {
    let s = t.cluster.get_system(&t.ns, &t.system).await?;
    let conds = s.status.map(|s| s.conditions).unwrap_or_default();
    let get = |ty: &str| conds.iter().find(|c| c.type_ == ty).cloned();
    let ready = get("Ready").map(|c| c.reason).unwrap_or_default();
    let be = get("BackendReady").context("no BackendReady condition")?;
    Ok((ready, be.reason, be.message))
}

/// Chaos (make test-all): a migration that fails stops a rollout, the system's status names
/// the migration, and the old pods keep serving. ULM runs at two replicas while a client keeps
/// creating accounts, reading its own and reading AAM's health through nginx; the last applied
/// migration in ULM's database is changed (its checksum, as when the schema or a released
/// migration file was edited by hand), so sqlx refuses to start on it; then ULM's pod template
/// changes. The new pod's `migrate` fails (exit 3), the tier and the system say
/// `MigrationFailed` with the migration's version, the two old pods serve throughout (not one
/// request fails), and once the migration is repaired and the stuck pod replaced, the rollout
/// goes through and the system is Ready.
#[tokio::test]
#[ignore = "chaos: breaks ULM's migrations and rolls ULM; e2e/run-real runs it alone (make test-all)"]
async fn chaos_failed_migration_stops_the_rollout_and_the_old_pods_serve() {
    use k8s_openapi::api::apps::v1::Deployment;
    use ovu_crds::names::Component::Ulm;
    use std::time::Instant;
    let t = target().await;
    let http = t.client().await.expect("https client");
    let token = t.admin_token(&http).await.expect("admin signs in");
    let before = t
        .cluster
        .get_system(&t.ns, &t.system)
        .await
        .expect("system");
    let ulm0 = &before.spec.backend.ulm;
    let cpu0 = ulm0.resources.requests.cpu.clone();
    let ulm = |replicas: i32, cpu: &str| json!({"spec": {"backend": {"ulm": {"replicas": replicas, "resources": {"requests": {"cpu": cpu}}}}}});
    t.cluster
        .patch_system(&t.ns, &t.system, ulm(2, &cpu0))
        .await
        .expect("two ULM replicas");
    wait_for(Duration::from_secs(300), "two ULM replicas", || async {
        Ok(rolled_out(&t, &[Ulm]).await)
    })
    .await
    .expect("two ULM replicas");
    t.cluster
        .wait_ready(&t.ns, &t.system, Duration::from_secs(120))
        .await
        .expect("Ready at two ULM replicas");
    let deployments = Api::<Deployment>::namespaced(t.cluster.client.clone(), &t.ns);
    let ulm_name = t.names().of(Ulm);
    let old_generation = deployments
        .get(&ulm_name)
        .await
        .expect("ULM's Deployment")
        .metadata
        .generation;

    // The last migration ULM applied no longer matches the one its image carries.
    let version = psql(
        &t,
        "ulm_db",
        "UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea || checksum \
         WHERE version = (SELECT max(version) FROM _sqlx_migrations) RETURNING version",
    )
    .expect("changing the checksum of ULM's last migration");
    let version = version
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        !version.is_empty() && version.chars().all(|c| c.is_ascii_digit()),
        "{version:?}"
    );

    let load = Load::start(&t, &http, &token, true);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu1 = ["61m", "62m", "63m"]
        .into_iter()
        .find(|c| *c != cpu0)
        .unwrap();
    let changed_at = Instant::now();
    t.cluster
        .patch_system(&t.ns, &t.system, ulm(2, cpu1))
        .await
        .expect("ULM's new pod template");
    let named = format!("migration {version} (");
    let stopped = wait_for(
        Duration::from_secs(240),
        "BackendReady MigrationFailed naming the migration",
        || async {
            let (ready, reason, message) = backend_condition(&t).await?;
            Ok(
                if ready == "MigrationFailed"
                    && reason == "MigrationFailed"
                    && message.contains(&named)
                {
                    Ok(message)
                } else {
                    Err(format!("Ready {ready}, BackendReady {reason}: {message}"))
                },
            )
        },
    )
    .await;
    let stopped_after = changed_at.elapsed();
    // The rollout stays stopped while the old pods serve: both available, one new pod that
    // never becomes ready, and the condition holds still.
    let mut held = Ok(());
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let d = deployments.get(&ulm_name).await.expect("ULM's Deployment");
        let st = d.status.clone().unwrap_or_default();
        if d.metadata.generation == old_generation
            || st.available_replicas != Some(2)
            || st.updated_replicas != Some(1)
        {
            held = Err(format!(
                "ULM: generation {:?} (was {old_generation:?}), available {:?}, updated {:?}",
                d.metadata.generation, st.available_replicas, st.updated_replicas
            ));
            break;
        }
        let (_, reason, _) = backend_condition(&t).await.expect("conditions");
        if reason != "MigrationFailed" {
            held = Err(format!("BackendReady turned to {reason}"));
            break;
        }
    }
    let seen_stalled = load.seen().len();

    // Repaired: the checksum as it was; the stuck pod is replaced rather than waiting out
    // the kubelet's back-off (up to five minutes), as a person would after a repair.
    psql(
        &t,
        "ulm_db",
        &format!(
            "UPDATE _sqlx_migrations SET checksum = substring(checksum from 2) WHERE version = {version}"
        ),
    )
    .expect("repairing the checksum");
    let repaired_at = Instant::now();
    let pods = Api::<Pod>::namespaced(t.cluster.client.clone(), &t.ns);
    let ulm_pods = pods
        .list(&ListParams::default().labels(&names::component_selector(&t.system, Ulm)))
        .await
        .expect("ULM's pods");
    for p in ulm_pods.items {
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if !ready {
            let name = p.metadata.name.unwrap_or_default();
            pods.delete(&name, &Default::default())
                .await
                .unwrap_or_else(|e| panic!("deleting the stuck pod {name}: {e}"));
        }
    }
    let rolled = wait_for(Duration::from_secs(300), "ULM rolled out", || async {
        let d = deployments.get(&ulm_name).await?;
        let cpu = d
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|s| s.containers.into_iter().next())
            .and_then(|c| c.resources)
            .and_then(|r| r.requests)
            .and_then(|r| r.get("cpu").map(|q| q.0.clone()));
        if cpu.as_deref() != Some(cpu1) {
            return Ok(Err(format!("template not changed (cpu {cpu:?})")));
        }
        Ok(rolled_out(&t, &[Ulm]).await)
    })
    .await;
    let ready = t
        .cluster
        .wait_ready(&t.ns, &t.system, Duration::from_secs(120))
        .await;
    let ready_after = repaired_at.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (seen, registered) = load.finish().await;

    let message = stopped.expect("the system names the failed migration");
    eprintln!(
        "migration: BackendReady MigrationFailed {:.1} s after the change: {message}",
        stopped_after.as_secs_f64()
    );
    held.expect("the rollout stays stopped while the two old pods serve");
    rolled.expect("the rollout goes through after the repair");
    ready.expect("Ready after the repair");
    let failed: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.status.is_none_or(|c| c >= 300))
        .collect();
    eprintln!(
        "migration: {} requests ({seen_stalled} until the repair), {} failed; Ready {:.1} s after the repair",
        seen.len(),
        failed.len(),
        ready_after.as_secs_f64()
    );
    assert!(
        failed.is_empty(),
        "requests failed while the rollout was stopped: {failed:#?}"
    );
    assert_all_present(&t, &http, &token, &registered).await;

    // Leave the system as it was for whatever runs next.
    t.cluster
        .patch_system(&t.ns, &t.system, ulm(ulm0.replicas, &cpu0))
        .await
        .expect("restoring ULM");
    t.cluster
        .wait_ready(&t.ns, &t.system, Duration::from_secs(300))
        .await
        .expect("Ready again as before");
}

/// The host PIDs of a container's processes: the nodes' containerd runs on this machine, and
/// each container's cgroup path ends in its ID (`containerd://<id>` in the pod's status).
fn container_pids(container_id: &str) -> Vec<u32> {
    let id = container_id
        .rsplit("://")
        .next()
        .unwrap_or(container_id)
        .to_string();
    assert!(id.len() >= 32, "not a container ID: {container_id:?}");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(&id)) {
            out.push(pid);
        }
    }
    out
}

/// Sends `signal` (a `kill` name: KILL, TERM) to one process.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Kills the leading operator's process with SIGKILL, as an OOM kill or a node fault does: no
/// shutdown, whatever it was writing left half done. Returns the pod's name.
async fn kill_the_leading_operator(t: &Target) -> String {
    let leader = t
        .cluster
        .lease_holder()
        .await
        .expect("the operator Lease")
        .expect("an operator holds the Lease");
    let pod = Api::<Pod>::namespaced(t.cluster.client.clone(), "ovu-system")
        .get(&leader)
        .await
        .unwrap_or_else(|e| panic!("the leader {leader} is no pod: {e}"));
    let id = pod
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.into_iter().find(|c| c.name == "operator"))
        .and_then(|c| c.container_id)
        .expect("the operator container's ID");
    let pids: Vec<u32> = container_pids(&id)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "ovu-operator")
        })
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "the operator's process in container {id}: {pids:?}"
    );
    signal(pids[0], "KILL");
    leader
}

/// Stops the cluster's kube-apiserver (by the PID e2e/cluster/up recorded) and starts it again
/// with e2e/cluster/up, which restarts the components that are not running with the same
/// flags and data. Returns how long the API server was away.
/// `run` is the cluster's state folder (e2e/cluster/_run, where the kubeconfig is). Blocking.
fn restart_the_api_server(run: std::path::PathBuf) -> Duration {
    let pid: u32 = std::fs::read_to_string(run.join("pids/kube-apiserver.pid"))
        .expect("e2e/cluster/_run/pids/kube-apiserver.pid")
        .trim()
        .parse()
        .expect("a PID");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the API server runs");
    assert!(exe.ends_with("bin/kube-apiserver"), "PID {pid} is {exe:?}");
    let stopped_at = std::time::Instant::now();
    signal(pid, "TERM");
    // Stopped once it is gone or a zombie: its parent (`up` ran it under setsid and exited)
    // is not ours to reap it, so /proc/<pid> may stay (seen 2026-12-03).
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        })
    };
    // Its HTTP server waits up to 60 s for open connections before it exits ("Failed to
    // shutdown server: context deadline exceeded", then gone; seen 2026-12-05): a limit of
    // exactly 60 s raced it.
    while running() {
        assert!(
            stopped_at.elapsed() < Duration::from_secs(120),
            "kube-apiserver {pid} did not stop in 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let up = std::process::Command::new(repo.join("e2e/cluster/up"))
        .args(["--mode", "real"])
        .env("OVU_CLUSTER_RUN_DIR", &run)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("e2e/cluster/up");
    assert!(
        up.success(),
        "e2e/cluster/up did not bring the API server back"
    );
    stopped_at.elapsed()
}

/// What the status said and what served, sampled while a system is brought up.
#[derive(Debug, Default)]
struct ReadyWatch {
    /// Samples in which the status said Ready while a workload had no ready pod.
    lies: Vec<String>,
    /// The phases the status went through.
    phases: Vec<Option<ovu_crds::Phase>>,
    samples: usize,
}

/// Chaos (make test-all): the operator killed while it brings a system up, and the API server
/// restarted while it goes on. A new OvuSystem is created; at the first child it writes the
/// leading operator's process gets SIGKILL; once the backend tier exists the kube-apiserver is
/// stopped and started again. The system must still come up: Ready, every child exactly once
/// (one Deployment or StatefulSet per component, one ReplicaSet or revision each: nothing
/// applied twice with other content), as many pods as asked for; and from start to end the
/// status never says Ready while a workload has no ready pod.
#[tokio::test]
#[ignore = "chaos: kills the operator and restarts the API server; e2e/run-real runs it alone (make test-all)"]
async fn chaos_operator_killed_and_api_server_restarted_during_bring_up() {
    use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet, StatefulSet};
    use ovu_crds::names::Component::{Aam, Frontend, Postgres, Redis, Ulm};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let t = target().await;
    ovu_e2e::with_temp_ns("chaos-operator", true, |c, ns| async move {
        let name = "chaos";
        let sized = |mem: &str, cpu: &str, limit: &str| {
            json!({"requests": {"cpu": "10m", "memory": mem},
                   "limits": {"cpu": cpu, "memory": limit}})
        };
        let sys = json!({
            "apiVersion": ovu_crds::API_VERSION,
            "kind": "OvuSystem",
            "metadata": {"name": name},
            "spec": {
                "domain": "chaos.example.com",
                "frontend": {"replicas": 1, "resources": sized("16Mi", "500m", "128Mi")},
                "backend": {
                    "ulm": {"image": "ovu/ulm:0.1.0", "replicas": 1,
                        "resources": sized("32Mi", "1", "256Mi")},
                    "aam": {"image": "ovu/aam:0.1.0", "replicas": 1,
                        "resources": sized("32Mi", "1", "256Mi")},
                },
                "database": {
                    "postgres": {"image": "ovu/postgres-local:16",
                        "resources": sized("64Mi", "1", "512Mi"), "storage": {"size": "1Gi"}},
                    "redis": {"image": "ovu/redis-local:7",
                        "resources": sized("16Mi", "500m", "128Mi")},
                    "backup": {"storage": {"size": "1Gi"}},
                },
            },
        });
        let names = Names::new(name);
        let workloads = [
            (Postgres, true),
            (Redis, false),
            (Ulm, false),
            (Aam, false),
            (Frontend, false),
        ];
        // The watch: every 300 ms, the status and every workload's ready pods.
        let watch = Arc::new(Mutex::new(ReadyWatch::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (c, ns, watch, stop, names) = (
                c.clone(),
                ns.clone(),
                watch.clone(),
                stop.clone(),
                names.clone(),
            );
            tokio::spawn(async move {
                let deploys = Api::<Deployment>::namespaced(c.client.clone(), &ns);
                let sets = Api::<StatefulSet>::namespaced(c.client.clone(), &ns);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    // Read the status first: a tier seen serving after a Ready status was
                    // written from it (a tier never stops serving during a bring-up).
                    let Ok(s) = c.get_system(&ns, name).await else {
                        continue;
                    };
                    let mut not_serving = Vec::new();
                    let mut failed = false;
                    for (comp, sts) in workloads {
                        let ready = if sts {
                            sets.get_opt(&names.of(comp))
                                .await
                                .map(|o| o.and_then(|o| o.status).and_then(|s| s.ready_replicas))
                        } else {
                            deploys
                                .get_opt(&names.of(comp))
                                .await
                                .map(|o| o.and_then(|o| o.status).and_then(|s| s.ready_replicas))
                        };
                        match ready {
                            Ok(r) if r.unwrap_or(0) >= 1 => {}
                            Ok(_) => not_serving.push(comp.as_str()),
                            Err(_) => failed = true,
                        }
                    }
                    if failed {
                        continue;
                    }
                    let st = s.status.unwrap_or_default();
                    let says_ready = st
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True");
                    let mut w = watch.lock().unwrap();
                    w.samples += 1;
                    if w.phases.last() != Some(&st.phase) {
                        w.phases.push(st.phase);
                    }
                    if (says_ready || st.phase == Some(ovu_crds::Phase::Ready))
                        && !not_serving.is_empty()
                    {
                        w.lies
                            .push(format!("Ready while {not_serving:?} had no ready pod"));
                    }
                }
            })
        };

        let started = Instant::now();
        c.create(&ns, &sys).await?;
        // The operator's first writes: kill it as soon as one child exists.
        let secrets = Api::<Secret>::namespaced(c.client.clone(), &ns);
        let selector = names::instance_selector(name);
        // Polled every 50 ms (not wait_for's 500): the first reconcile writes its children
        // within a second or two.
        let lp = ListParams::default().labels(&selector);
        loop {
            if !secrets.list(&lp).await?.items.is_empty() {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "no child after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let killed = kill_the_leading_operator(&t).await;
        let killed_at = started.elapsed();
        // Counted after the kill, so the kill is not delayed (no other operator takes over
        // within the Lease's 15 s).
        let at_kill = c.child_versions(&ns, name).await?.len();
        // Once the operator is back at work and the backend tier exists, the API server goes.
        let deploys = Api::<Deployment>::namespaced(c.client.clone(), &ns);
        wait_for(Duration::from_secs(400), "ULM's Deployment", || async {
            Ok(match deploys.get_opt(&names.of(Ulm)).await? {
                Some(_) => Ok(()),
                None => Err("not yet".to_string()),
            })
        })
        .await?;
        let at_restart = c.child_versions(&ns, name).await?.len();
        let run = c
            .kubeconfig
            .parent()
            .context("the kubeconfig's folder")?
            .to_path_buf();
        let away = tokio::task::spawn_blocking(move || restart_the_api_server(run)).await?;
        let restarted_at = started.elapsed();
        // A fresh client: the old one's connections died with the API server.
        let c = ovu_e2e::Cluster::connect().await?.context("kubeconfig")?;
        let s = c.wait_ready(&ns, name, Duration::from_secs(600)).await?;
        let ready_at = started.elapsed();
        // A little longer: Ready must stay while nothing changes.
        tokio::time::sleep(Duration::from_secs(5)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = sampler.await;
        let children = c.child_versions(&ns, name).await?;
        let w = std::mem::take(&mut *watch.lock().unwrap());
        eprintln!(
            "operator chaos: killed {killed} {:.1} s after the create ({at_kill} children then); \
             API server away {:.1} s from {:.1} s ({at_restart} children then); Ready at {:.1} s \
             with {} children; {} samples, phases {:?}",
            killed_at.as_secs_f64(),
            away.as_secs_f64(),
            restarted_at.as_secs_f64() - away.as_secs_f64(),
            ready_at.as_secs_f64(),
            children.len(),
            w.samples,
            w.phases
        );
        ensure!(
            w.lies.is_empty(),
            "the status said Ready while a tier did not serve: {:?}",
            w.lies
        );
        ensure!(
            w.samples > 20,
            "too few samples of the status: {}",
            w.samples
        );
        ensure!(
            at_kill < children.len(),
            "the kill came after the bring-up wrote every child"
        );

        // Every child once: one workload per component, each applied with one content.
        let sets = Api::<StatefulSet>::namespaced(c.client.clone(), &ns);
        let by = |comp| ListParams::default().labels(&names::component_selector(name, comp));
        for (comp, sts) in workloads {
            let n = if sts {
                sets.list(&by(comp)).await?.items.len()
            } else {
                deploys.list(&by(comp)).await?.items.len()
            };
            ensure!(n == 1, "{} workloads of {}", n, comp.as_str());
        }
        // What the workload controllers made for each, found by owner (the namespace holds
        // this system only).
        let owned_by = |meta: &kube::api::ObjectMeta, owner: &str| {
            meta.owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o.name == owner))
        };
        let all = ListParams::default();
        let replica_sets = Api::<ReplicaSet>::namespaced(c.client.clone(), &ns)
            .list(&all)
            .await?
            .items;
        for comp in [Redis, Ulm, Aam, Frontend] {
            let owner = names.of(comp);
            let sets: Vec<String> = replica_sets
                .iter()
                .filter(|r| owned_by(&r.metadata, &owner))
                .map(|r| r.metadata.name.clone().unwrap_or_default())
                .collect();
            ensure!(
                sets.len() == 1,
                "{owner} has ReplicaSets {sets:?}: a template applied twice"
            );
        }
        let revisions: Vec<String> = Api::<ControllerRevision>::namespaced(c.client.clone(), &ns)
            .list(&all)
            .await?
            .items
            .into_iter()
            .filter(|r| owned_by(&r.metadata, &names.of(Postgres)))
            .map(|r| r.metadata.name.unwrap_or_default())
            .collect();
        ensure!(
            revisions.len() == 1,
            "PostgreSQL's StatefulSet has revisions {revisions:?}"
        );
        let pods = Api::<Pod>::namespaced(c.client.clone(), &ns);
        for (comp, want) in [(Postgres, 1), (Redis, 1), (Ulm, 1), (Aam, 1), (Frontend, 1)] {
            let live = pods
                .list(&by(comp))
                .await?
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .count();
            ensure!(
                live == want,
                "{} pods of {}, want {want}",
                live,
                comp.as_str()
            );
        }
        ensure!(
            s.status.and_then(|s| s.phase) == Some(ovu_crds::Phase::Ready),
            "not Ready at the end"
        );
        // The operator is whole again: its Deployment fully available (a replica that lost
        // its Lease while the API server was away exits and is restarted).
        let op = Api::<Deployment>::namespaced(c.client.clone(), "ovu-system");
        wait_for(
            Duration::from_secs(120),
            "the operator available",
            || async {
                let d = op.get("ovu-operator").await?;
                let st = d.status.unwrap_or_default();
                Ok(
                    if st.available_replicas == d.spec.and_then(|s| s.replicas) {
                        Ok(())
                    } else {
                        Err(format!("{st:?}"))
                    },
                )
            },
        )
        .await?;
        Ok(())
    })
    .await;
}

/// Chaos (make test-all, last: it stops the whole cluster). `make down` then `make up`, as a
/// user does at the end and start of a day: the system comes back Ready without ever saying
/// Degraded on the way (its pods restart; that is Progressing, reason Recovering), and
/// `make up` prints what a newcomer needs: both URLs with the port, the bootstrap admin's
/// e-mail, how to trust the CA, and no empty line where a setting was missing.
#[tokio::test]
#[ignore = "chaos: stops and starts the cluster; e2e/run-real runs it alone (make test-all)"]
async fn chaos_zz_make_down_then_up_never_says_degraded() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let t = target().await;
    let email = t
        .secret(&format!("{}-bootstrap-admin", t.system), "email")
        .await
        .expect("bootstrap admin e-mail");
    let down = std::process::Command::new(repo.join("scripts/up.sh"))
        .arg("down")
        .status()
        .expect("make down");
    assert!(down.success(), "make down failed");
    let mut up = tokio::process::Command::new(repo.join("scripts/up.sh"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("make up");
    let stderr = up.stderr.take().unwrap();
    let printed = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut s = String::new();
        let mut r = tokio::io::BufReader::new(stderr);
        let _ = r.read_to_string(&mut s).await;
        s
    });
    // Every phase the status shows while `make up` runs (the API server comes back first;
    // until then reads fail and are skipped). A fresh client each time: the old connection
    // died with the API server.
    let mut phases: Vec<Option<ovu_crds::Phase>> = Vec::new();
    let status = loop {
        if let Ok(Some(c)) = ovu_e2e::Cluster::connect().await
            && let Ok(s) = c.get_system(&t.ns, &t.system).await
        {
            let p = s.status.and_then(|s| s.phase);
            if phases.last() != Some(&p) {
                phases.push(p);
            }
        }
        if let Ok(Some(st)) = up.try_wait() {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let printed = printed.await.unwrap();
    assert!(status.success(), "make up failed:\n{printed}");
    let t = target().await;
    let s = t.cluster.get_system(&t.ns, &t.system).await.unwrap();
    assert_eq!(s.status.and_then(|s| s.phase), Some(ovu_crds::Phase::Ready));
    assert!(
        !phases.contains(&Some(ovu_crds::Phase::Degraded)),
        "the status said Degraded during a routine make up: {phases:?}"
    );
    // What make up printed, from "OVU is up" on.
    let summary = &printed[printed.find("OVU is up").expect("no summary printed")..];
    for want in [
        format!("https://ulm.{}:{}/", t.domain, t.port),
        format!("https://aam.{}:{}/", t.domain, t.port),
        format!("Bootstrap admin: {email}"),
        "second factor:".to_string(),
        "Authorities > Import".to_string(),
        "make down".to_string(),
    ] {
        assert!(
            summary.contains(&want),
            "make up did not print {want:?}:\n{summary}"
        );
    }
    let empty: Vec<&str> = summary
        .lines()
        .filter(|l| l.trim_end().ends_with(':'))
        .collect();
    assert!(
        empty.is_empty(),
        "settings printed without a value: {empty:?}\n{summary}"
    );
}
