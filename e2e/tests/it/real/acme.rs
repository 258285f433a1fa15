//! ACME certificates on real nodes (issue 14, Certificates): a system in `tls.mode:
//! CertManager` with a ClusterIssuer of Pebble (Let's Encrypt's test CA) gets its certificate
//! through an HTTP-01 challenge that OVU's own nginx routes (`/.well-known/acme-challenge/` on
//! port 80 → cert-manager's solver pod), then a renewal under a bounded load through nginx
//! fails no request.
//!
//! What runs where:
//! - Pebble and its DNS server (pebble-challtestsrv, every name → the frontend node) on the
//!   host address the pods reach (`OVU_E2E_HOST_ADDR`), `scripts/pebble.sh`. Pebble validates
//!   on the frontend's HTTP NodePort.
//! - cert-manager's controller (`scripts/cert-manager.sh controller`) in a network namespace
//!   of this test: its self-check fetches `http://<name>/.well-known/acme-challenge/<token>`
//!   on port 80 (fixed in v1.11), which a DNAT in that namespace's own iptables (never the
//!   host's) sends to the frontend node's HTTP NodePort. Its solver pods run the image
//!   `OVU_E2E_ACMESOLVER_IMAGE` (images/acmesolver, loaded onto the frontend node by
//!   e2e/run-real) on the frontend node (the Issuer's podTemplate tolerates its taint).
//! - The same on both real-container clusters: every address is the frontend node's own
//!   (the host's on the real nodes, a container's behind the `kind` bridge on kind), and the
//!   namespace reaches the API server at the address it advertises when the kubeconfig names
//!   a loopback one (kind publishes it on 127.0.0.1, which inside the namespace is its own).
//! - The solver is `http01.ingress.class: ovu`: cert-manager v1.11 names the class with the
//!   annotation (v1.12 on: `ingressClassName`; the operator takes both).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use ovu_crds::names::{Component, DEFAULT_TIER_LABEL, Names};
use ovu_e2e::{Cluster, repo_root, wait_for};
use serde_json::{Value, json};

use super::offsite::{Images, TestNs, small_system, wait_namespace_gone};
use super::{env_or, run, target};

const NETNS: &str = "ovu-e2e-acme";
/// cert-manager's address in [`NETNS`] (198.18.0.0/15, unused by the cluster).
const CM_ADDR: &str = "198.18.200.21";
/// The ACME system's NodePorts: none of make up's (30443/30080/30825 on the real nodes,
/// 31443/31080/31825 on kind). The real-node cluster's kube-proxy claims its NodePorts on every
/// local address of this machine, so 31443 here took kind's URLs while both ran (2026-12-05).
const HTTP_NODE_PORT: u16 = 31480;
const HTTPS_NODE_PORT: u16 = 31444;

/// Pebble, the network namespace and cert-manager's controller of this test: stopped (by the
/// PIDs recorded) and removed when dropped.
struct Acme {
    dir: PathBuf,
    /// The frontend node's address: Pebble validates, the self-check and the load connect there.
    node_ip: String,
    controller: Option<Child>,
    env: std::collections::BTreeMap<String, String>,
}

impl Acme {
    fn var(&self, k: &str) -> anyhow::Result<&str> {
        self.env
            .get(k)
            .map(String::as_str)
            .with_context(|| format!("{k} not in {}/env", self.dir.display()))
    }
}

impl Drop for Acme {
    fn drop(&mut self) {
        if let Some(mut c) = self.controller.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = run(&["ip", "netns", "del", NETNS]);
        let _ = Command::new(repo_root().join("scripts/pebble.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
        if std::env::var_os("OVU_E2E_KEEP_NS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn frontend_node_ip(c: &Cluster) -> anyhow::Result<String> {
    let nodes = Api::<Node>::all(c.client.clone())
        .list(&ListParams::default().labels(&format!("{DEFAULT_TIER_LABEL}=frontend")))
        .await?;
    nodes
        .items
        .iter()
        .flat_map(|n| n.status.iter().flat_map(|s| s.addresses.iter().flatten()))
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
        .context("the frontend node has no InternalIP")
}

/// The kubeconfig cert-manager's controller uses inside [`NETNS`], and the address to route
/// there for it. The test's own when its API server address is not loopback (the real nodes':
/// the host's bridge address, routed already); else (kind: 127.0.0.1, published by docker) a
/// copy naming the address the API server advertises — the `kubernetes` Service's endpoint,
/// the control-plane node's, which its serving certificate names.
async fn kubeconfig_for_netns(
    c: &Cluster,
    dir: &std::path::Path,
) -> anyhow::Result<(PathBuf, Option<String>)> {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let text = std::fs::read_to_string(&c.kubeconfig)
        .with_context(|| format!("reading {}", c.kubeconfig.display()))?;
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .map(str::trim)
        .with_context(|| format!("no server in {}", c.kubeconfig.display()))?;
    let authority = server
        .strip_prefix("https://")
        .with_context(|| format!("the API server {server} is not https"))?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Ok((c.kubeconfig.clone(), None));
    }
    let slice = Api::<EndpointSlice>::namespaced(c.client.clone(), "default")
        .get("kubernetes")
        .await
        .context("the kubernetes Service's EndpointSlice")?;
    let addr = slice
        .endpoints
        .iter()
        .flat_map(|e| e.addresses.iter())
        .next()
        .context("the API server advertises no address")?
        .clone();
    let port = slice
        .ports
        .iter()
        .flatten()
        .find_map(|p| p.port)
        .context("the API server advertises no port")?;
    let path = dir.join("kubeconfig");
    // It holds the test's client key: readable by this user only, removed with `dir`.
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?
        .write_all(
            text.replace(server, &format!("https://{addr}:{port}"))
                .as_bytes(),
        )?;
    Ok((path, Some(addr)))
}

/// `kubectl apply -f -` of `yaml`.
fn kubectl_apply(c: &Cluster, yaml: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut child = Command::new(&c.kubectl)
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(yaml)?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl Acme {
    async fn start(c: &Cluster, host: &str, node_ip: &str, image: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "ovu-e2e-acme-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&dir)?;
        let mut me = Acme {
            dir,
            node_ip: node_ip.to_string(),
            controller: None,
            env: Default::default(),
        };
        let base: u16 = env_or("OVU_E2E_PEBBLE_PORT_BASE", "18480")
            .parse()
            .context("OVU_E2E_PEBBLE_PORT_BASE is not a port number")?;
        let out = Command::new(repo_root().join("scripts/pebble.sh"))
            .arg("start")
            .arg(&me.dir)
            .args([
                host,
                &base.to_string(),
                &HTTP_NODE_PORT.to_string(),
                node_ip,
            ])
            .output()
            .context("running scripts/pebble.sh")?;
        ensure!(
            out.status.success(),
            "scripts/pebble.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        me.env = std::fs::read_to_string(me.dir.join("env"))?
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();

        // cert-manager's CRDs (the operator notices the Certificate API within 20 s).
        let crds = Command::new(repo_root().join("scripts/cert-manager.sh"))
            .arg("crds")
            .output()?;
        ensure!(crds.status.success(), "scripts/cert-manager.sh crds failed");
        kubectl_apply(c, &crds.stdout)?;
        for crd in [
            "certificates.cert-manager.io",
            "certificaterequests.cert-manager.io",
            "issuers.cert-manager.io",
            "clusterissuers.cert-manager.io",
            "orders.acme.cert-manager.io",
            "challenges.acme.cert-manager.io",
        ] {
            c.kubectl(&[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{crd}"),
            ])?;
        }
        let nss: Api<Namespace> = Api::all(c.client.clone());
        if nss.get_opt("cert-manager").await?.is_none() {
            c.kubectl(&["create", "namespace", "cert-manager"])?;
        }

        // The namespace: routed to the host (Pebble; the API server on the real nodes), the
        // frontend node and, on kind, the control-plane node's API server.
        let (kubeconfig, api_addr) = kubeconfig_for_netns(c, &me.dir).await?;
        let _ = run(&["ip", "netns", "del", NETNS]);
        for cmd in [
            vec!["ip", "netns", "add", NETNS],
            vec![
                "ip", "link", "add", "ovuacmeh", "type", "veth", "peer", "name", "ovuacmen",
            ],
            vec!["ip", "link", "set", "ovuacmen", "netns", NETNS],
            vec!["ip", "link", "set", "ovuacmeh", "up"],
            vec!["ip", "-n", NETNS, "link", "set", "lo", "up"],
            vec!["ip", "-n", NETNS, "link", "set", "ovuacmen", "up"],
            vec![
                "ip",
                "-n",
                NETNS,
                "addr",
                "add",
                &format!("{CM_ADDR}/32"),
                "dev",
                "ovuacmen",
            ],
            vec![
                "ip",
                "-n",
                NETNS,
                "route",
                "add",
                &format!("{node_ip}/32"),
                "dev",
                "ovuacmen",
            ],
            vec![
                "ip",
                "-n",
                NETNS,
                "route",
                "add",
                &format!("{host}/32"),
                "dev",
                "ovuacmen",
            ],
            // On-link both ways, as `OutsideClients` in real.rs: the host answers ARP for the
            // node's address (its own on the real nodes; a kind node's sits behind a bridge).
            vec!["sysctl", "-qw", "net.ipv4.conf.ovuacmeh.proxy_arp=1"],
            vec![
                "ip",
                "route",
                "add",
                &format!("{CM_ADDR}/32"),
                "dev",
                "ovuacmeh",
            ],
            // The self-check's port 80 is the frontend's HTTP NodePort, in this namespace only.
            vec![
                "ip",
                "netns",
                "exec",
                NETNS,
                "iptables",
                "-t",
                "nat",
                "-A",
                "OUTPUT",
                "-p",
                "tcp",
                "-d",
                node_ip,
                "--dport",
                "80",
                "-j",
                "DNAT",
                "--to-destination",
                &format!("{node_ip}:{HTTP_NODE_PORT}"),
            ],
        ] {
            run(&cmd)?;
        }
        if let Some(addr) = &api_addr {
            run(&[
                "ip",
                "-n",
                NETNS,
                "route",
                "add",
                &format!("{addr}/32"),
                "dev",
                "ovuacmen",
            ])?;
        }

        let bin = run(&[
            repo_root()
                .join("scripts/cert-manager.sh")
                .to_str()
                .context("path")?,
            "controller",
        ])?;
        let log = std::fs::File::create(me.dir.join("cert-manager.log"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", NETNS, bin.trim()])
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args([
                "--leader-elect=false",
                "--cluster-resource-namespace=cert-manager",
                "--metrics-listen-address=127.0.0.1:9402",
                &format!("--acme-http01-solver-image={image}"),
                &format!("--acme-http01-solver-nameservers={}", me.var("ACME_DNS")?),
                "--v=2",
            ])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting cert-manager's controller")?;
        me.controller = Some(child);
        Ok(me)
    }

    fn log_tail(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The certificate `openssl s_client` is served at `addr`:`port` for `name`, verified
/// against `root` only: (serial, issuer). An error when it does not chain to `root`.
fn served_certificate(
    name: &str,
    addr: &str,
    port: u16,
    root: &std::path::Path,
) -> anyhow::Result<(String, String)> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("{addr}:{port}"),
            "-servername",
            name,
        ])
        .arg("-CAfile")
        .arg(root)
        .arg("-verify_return_error")
        .stdin(Stdio::null())
        .output()
        .context("openssl s_client")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && text.contains("Verify return code: 0 (ok)"),
        "the certificate served for {name} does not chain to Pebble's root: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .context("no certificate")?;
    let end = text
        .find("-----END CERTIFICATE-----")
        .context("no certificate end")?;
    let pem = &text[begin..end + "-----END CERTIFICATE-----".len()];
    use std::io::Write as _;
    let mut x = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-issuer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    x.stdin.take().context("stdin")?.write_all(pem.as_bytes())?;
    let o = x.wait_with_output()?;
    let t = String::from_utf8_lossy(&o.stdout);
    let serial = t
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .context("no serial")?;
    let issuer = t
        .lines()
        .find_map(|l| l.strip_prefix("issuer="))
        .unwrap_or_default();
    Ok((serial.to_string(), issuer.trim().to_string()))
}

/// The frontend Deployment's rollout is over: every pod runs the current template and is
/// available, none of an older one is left.
async fn frontend_rolled_out(c: &Cluster, ns: &str, system: &str) -> anyhow::Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let fe = Names::new(system).of(Component::Frontend);
    wait_for(
        Duration::from_secs(180),
        "the frontend rollout done",
        || {
            let (deployments, pods, fe) = (deployments.clone(), pods.clone(), fe.clone());
            async move {
                let d = deployments.get(&fe).await?;
                let st = d.status.clone().unwrap_or_default();
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let done = st.observed_generation == d.metadata.generation
                    && st.updated_replicas == Some(want)
                    && st.replicas == Some(want)
                    && st.available_replicas == Some(want);
                if !done {
                    return Ok(Err(format!("{st:?}")));
                }
                // The Deployment counts no terminating pod, but one still answers on the node
                // port until its endpoint is gone (its preStop pause): the old certificate's
                // pod is over only when it is deleted.
                let selector = d
                    .spec
                    .and_then(|s| s.selector.match_labels)
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let listed = pods.list(&ListParams::default().labels(&selector)).await?;
                let left: Vec<String> = listed
                    .items
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_some())
                    .filter_map(|p| p.metadata.name.clone())
                    .collect();
                Ok(if left.is_empty() && listed.items.len() == want as usize {
                    Ok(())
                } else {
                    Err(format!(
                        "{} pods, terminating: {left:?}",
                        listed.items.len()
                    ))
                })
            }
        },
    )
    .await
}

fn dynamic(c: &Cluster, ns: Option<&str>, group: &str, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, "v1", kind));
    match ns {
        Some(ns) => Api::namespaced_with(c.client.clone(), ns, &ar),
        None => Api::all_with(c.client.clone(), &ar),
    }
}

/// A system gets its certificate from Pebble through an HTTP-01 challenge routed by its own
/// nginx, reports it (CertificateReady True/Issued, notAfter), serves it (chained to Pebble's
/// root), and a renewal under a bounded load through nginx (5 r/s of new connections) fails
/// no request while the served serial changes.
#[tokio::test]
async fn an_acme_certificate_from_pebble_is_issued_and_renewed_under_load() {
    let t0 = Instant::now();
    if let Err(e) = acme_round_trip().await {
        panic!("{e:#}");
    }
    eprintln!(
        "ACME issuance and renewal (Pebble, HTTP-01 through nginx) took {} s",
        t0.elapsed().as_secs()
    );
}

async fn acme_round_trip() -> anyhow::Result<()> {
    let (Ok(host), Ok(image)) = (
        std::env::var("OVU_E2E_HOST_ADDR"),
        std::env::var("OVU_E2E_ACMESOLVER_IMAGE"),
    ) else {
        bail!(
            "OVU_E2E_HOST_ADDR and OVU_E2E_ACMESOLVER_IMAGE must be set (e2e/run-real sets \
             them, after loading images/acmesolver onto the frontend node)"
        );
    };
    let t = target().await;
    let c = t.cluster.clone();
    let images = Images::of(&c, &t.ns, &t.system).await?;
    let node_ip = frontend_node_ip(&c).await?;
    let acme = Acme::start(&c, &host, &node_ip, &image).await?;
    let outcome = issue_and_renew(&c, &acme, &images).await;
    if outcome.is_err() {
        eprintln!(
            "--- cert-manager (last lines) ---\n{}\n--- pebble ---\n{}",
            acme.log_tail("cert-manager.log"),
            acme.log_tail("pebble.log")
        );
    }
    outcome
}

async fn issue_and_renew(c: &Cluster, acme: &Acme, images: &Images) -> anyhow::Result<()> {
    let ca = std::fs::read(acme.dir.join("ca.crt"))?;
    let ns = TestNs::create(c, "acme").await?;
    let issuer = format!("ovu-e2e-{}", ns.name);
    let issuers = dynamic(c, None, "cert-manager.io", "ClusterIssuer");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": issuer},
        "spec": {"acme": {
            "server": acme.var("ACME_DIRECTORY")?,
            "caBundle": base64_encode(&ca),
            "privateKeySecretRef": {"name": format!("{issuer}-account")},
            "solvers": [{"http01": {"ingress": {
                "class": "ovu",
                "serviceType": "ClusterIP",
                "podTemplate": {"spec": {
                    "nodeSelector": {DEFAULT_TIER_LABEL: "frontend"},
                    "tolerations": [{"key": DEFAULT_TIER_LABEL, "operator": "Equal",
                        "value": "frontend", "effect": "NoSchedule"}],
                }},
            }}}],
        }},
    }))?;
    issuers
        .create(&Default::default(), &obj)
        .await
        .context("creating the ClusterIssuer")?;
    let mut outcome = with_issuer(c, acme, images, &ns.name, &issuer).await;
    // Gone before the browser test that follows the real tests: pods' network interfaces
    // going away under Chromium make it fail with ERR_NETWORK_CHANGED (see offsite.rs).
    if outcome.is_ok() && std::env::var_os("OVU_E2E_KEEP_NS").is_none() {
        outcome = c
            .kubectl(&["delete", "namespace", &ns.name, "--wait=false"])
            .map(drop);
        if outcome.is_ok() {
            outcome = wait_namespace_gone(c, &ns.name, Duration::from_secs(180)).await;
        }
    }
    let _ = issuers.delete(&issuer, &DeleteParams::default()).await;
    let _ = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(c.client.clone(), "cert-manager")
        .delete(&format!("{issuer}-account"), &DeleteParams::default())
        .await;
    outcome
}

/// Base64, as the API's byte fields take it (k8s-openapi's ByteString serializes so).
fn base64_encode(b: &[u8]) -> String {
    serde_json::to_value(k8s_openapi::ByteString(b.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn certificate_condition(c: &Cluster, ns: &str, name: &str) -> anyhow::Result<String> {
    let s = c.get_system(ns, name).await?;
    Ok(s.status
        .unwrap_or_default()
        .conditions
        .iter()
        .find(|x| x.type_ == "CertificateReady")
        .map(|x| format!("{}/{}", x.status, x.reason))
        .unwrap_or_else(|| "none".into()))
}

async fn with_issuer(
    c: &Cluster,
    acme: &Acme,
    images: &Images,
    ns: &str,
    issuer: &str,
) -> anyhow::Result<()> {
    let n = "acme";
    let domain = format!("{ns}.example.com");
    let ulm = format!("ulm.{domain}");
    c.create(
        ns,
        &small_system(
            n,
            images,
            json!({
                "domain": domain,
                "frontend": {
                    "exposure": {"type": "NodePort", "httpNodePort": HTTP_NODE_PORT, "httpsNodePort": HTTPS_NODE_PORT},
                    "tls": {"mode": "CertManager", "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}},
                },
            }),
        ),
    )
    .await?;

    // First issuance: the operator must not call a temporary certificate ready.
    let t_up = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let cond = certificate_condition(c, ns, n).await?;
        if seen.last() != Some(&cond) {
            seen.push(cond.clone());
        }
        let s = c.get_system(ns, n).await?;
        if ovu_e2e::ready_verdict(&s).is_ok() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the system was not Ready within 600 s; CertificateReady went {seen:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    eprintln!(
        "first certificate issued, system Ready in {} s; CertificateReady went {seen:?}",
        t_up.elapsed().as_secs()
    );
    let cond = certificate_condition(c, ns, n).await?;
    ensure!(cond == "True/Issued", "CertificateReady: {cond}");
    let sys = c.get_system(ns, n).await?;
    let cs = sys
        .status
        .unwrap_or_default()
        .certificate
        .unwrap_or_default();
    ensure!(
        cs.not_after.is_some(),
        "no notAfter in status.certificate: {cs:?}"
    );

    // Pebble's root (made at its start), and the served chain verified against it alone.
    let root = acme.dir.join("pebble-root.pem");
    let pem = run(&[
        "curl",
        "-fsS",
        "--cacert",
        acme.dir.join("ca.crt").to_str().context("path")?,
        &format!("{}/roots/0", acme.var("PEBBLE_MANAGEMENT")?),
    ])?;
    std::fs::write(&root, &pem)?;
    let (serial1, issuer1) = wait_for(
        Duration::from_secs(120),
        "nginx serving Pebble's certificate",
        || {
            let (ulm, root) = (ulm.clone(), root.clone());
            async move {
                Ok(
                    served_certificate(&ulm, &acme.node_ip, HTTPS_NODE_PORT, &root)
                        .map_err(|e| format!("{e:#}")),
                )
            }
        },
    )
    .await?;
    // The system is Ready once cert-manager says the certificate is; nginx's pods are rolled
    // onto it after that (the temporary certificate's pod goes last). The load measures the
    // renewal, so it starts once that first rollout is over and every answer is Pebble's.
    frontend_rolled_out(c, ns, n).await?;
    for _ in 0..5 {
        let (s, _) = served_certificate(&ulm, &acme.node_ip, HTTPS_NODE_PORT, &root)?;
        ensure!(
            s == serial1,
            "nginx serves serial {s} and {serial1} after its rollout"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("served: serial {serial1}, issuer {issuer1}");

    // The load: new connections (no pooling: each request sees the certificate being served
    // and must finish even while its pod is being replaced), 5 r/s, bounded.
    let ca = reqwest::Certificate::from_pem(pem.as_bytes())?;
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .resolve(
            &ulm,
            std::net::SocketAddr::new(
                acme.node_ip
                    .parse()
                    .context("the frontend node's InternalIP")?,
                HTTPS_NODE_PORT,
            ),
        )
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = format!("https://{ulm}:{HTTPS_NODE_PORT}/");
    let load = {
        let (http, stop) = (http.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            let started = Instant::now();
            for _ in 0..3000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => ok += 1,
                    Ok(r) => failed.push(format!("{:?}: {}", started.elapsed(), r.status())),
                    Err(e) => failed.push(format!("{:?}: {e:?}", started.elapsed())),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Renew: what `cmctl renew` does (the Issuing condition), then the new certificate is
    // issued, the Secret changes and the operator rolls nginx.
    let certs = dynamic(c, Some(ns), "cert-manager.io", "Certificate");
    let cert_name = Names::new(n).certificate();
    let before = certs.get(&cert_name).await?;
    let rev = before
        .data
        .pointer("/status/revision")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let generation = before.metadata.generation.unwrap_or(1);
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!([{"op": "add", "path": "/status/conditions/-", "value": {
        "type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
        "message": "renewal asked for by the e2e test", "lastTransitionTime": now,
        "observedGeneration": generation,
    }}]);
    c.kubectl(&[
        "-n",
        ns,
        "patch",
        "certificate",
        &cert_name,
        "--subresource=status",
        "--type=json",
        "-p",
        &patch.to_string(),
    ])?;
    let t_renew = Instant::now();
    let certs2 = certs.clone();
    let cert_name2 = cert_name.clone();
    wait_for(Duration::from_secs(300), "the renewed Certificate", || {
        let (certs, name) = (certs2.clone(), cert_name2.clone());
        async move {
            let o = certs.get(&name).await?;
            let r = o
                .data
                .pointer("/status/revision")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let ready = o
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|a| {
                    a.iter()
                        .any(|x| x["type"] == "Ready" && x["status"] == "True")
                });
            Ok(if r > rev && ready {
                Ok(())
            } else {
                Err(format!("revision {r} (was {rev}), ready {ready}"))
            })
        }
    })
    .await?;
    let serial2 = wait_for(
        Duration::from_secs(180),
        "nginx serving the renewed certificate",
        || {
            let (ulm, root, old) = (ulm.clone(), root.clone(), serial1.clone());
            async move {
                Ok(
                    match served_certificate(&ulm, &acme.node_ip, HTTPS_NODE_PORT, &root) {
                        Ok((s, _)) if s != old => Ok(s),
                        Ok((s, _)) => Err(format!("still serial {s}")),
                        Err(e) => Err(format!("{e:#}")),
                    },
                )
            }
        },
    )
    .await?;
    // Through the end of the rollout (the old pod gone), and a little after.
    frontend_rolled_out(c, ns, n).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.await?;
    eprintln!(
        "renewed in {} s: serial {serial1} → {serial2}; load through nginx: {ok} answered 2xx, {} failed",
        t_renew.elapsed().as_secs(),
        failed.len()
    );
    ensure!(
        failed.is_empty(),
        "requests failed during the renewal: {failed:?}"
    );
    ensure!(ok >= 20, "the load made too few requests ({ok})");
    let cond = certificate_condition(c, ns, n).await?;
    ensure!(
        cond == "True/Issued",
        "CertificateReady after the renewal: {cond}"
    );
    Ok(())
}
