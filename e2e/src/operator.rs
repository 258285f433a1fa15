//! Operator processes for the tests that start, kill and restart the operator themselves
//! (restart mid-reconcile, two replicas). They run the built `ovu-operator` binary with the
//! ServiceAccount kubeconfig `e2e/run` made, so they have exactly the RBAC in manifests/.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::{OPERATOR_NAMESPACE, absolute, repo_root};

/// One running operator process; killed when dropped.
#[derive(Debug)]
pub struct OperatorProcess {
    pub identity: String,
    /// Base URL of its /metrics, /healthz, /readyz server.
    pub url: String,
    pub log: PathBuf,
    child: Child,
}

/// The ServiceAccount kubeconfig the operator must run under.
pub fn operator_kubeconfig() -> anyhow::Result<PathBuf> {
    match std::env::var_os("OVU_E2E_OPERATOR_KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(p) => Ok(absolute(p.into())),
        None => bail!(
            "OVU_E2E_OPERATOR_KUBECONFIG is not set: it must name a kubeconfig for the \
             ovu-system/ovu-operator ServiceAccount (e2e/run makes one with e2e/cluster/sa-kubeconfig)"
        ),
    }
}

fn operator_binary() -> PathBuf {
    std::env::var_os("OVU_E2E_OPERATOR_BIN")
        .filter(|v| !v.is_empty())
        .map(|p| absolute(p.into()))
        .unwrap_or_else(|| repo_root().join("target/debug/ovu-operator"))
}

fn log_dir() -> PathBuf {
    std::env::var_os("OVU_E2E_LOG_DIR")
        .filter(|v| !v.is_empty())
        .map(|p| absolute(p.into()))
        .unwrap_or_else(|| repo_root().join("target/e2e-logs"))
}

/// A free port on 127.0.0.1 (bound and released; the operator binds it a moment later).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl OperatorProcess {
    /// Start `ovu-operator run` as `identity`, with a short Lease so takeovers are quick.
    pub fn start(identity: &str, lease_seconds: u64) -> anyhow::Result<Self> {
        let kubeconfig = operator_kubeconfig()?;
        let bin = operator_binary();
        if !bin.exists() {
            bail!(
                "{} does not exist (cargo build -p ovu-operator)",
                bin.display()
            );
        }
        let dir = log_dir();
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(format!("{identity}.log"));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let port = free_port()?;
        let child = Command::new(&bin)
            .args([
                "run",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--identity",
                identity,
                "--lease-seconds",
                &lease_seconds.to_string(),
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAMESPACE", OPERATOR_NAMESPACE)
            .env("RUST_LOG", "info,kube=warn")
            .env("LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            identity: identity.into(),
            url: format!("http://127.0.0.1:{port}"),
            log,
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to release its Lease (a crash).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().ok();
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM and wait: a clean shutdown that releases the Lease.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        for _ in 0..100 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.kill()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its Prometheus metrics text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        metrics_text(&self.url).await
    }

    /// The HTTP status of its `/readyz` (what a kubelet's readiness probe sees).
    pub async fn readyz(&self) -> anyhow::Result<u16> {
        let r = reqwest::get(format!("{}/readyz", self.url))
            .await
            .with_context(|| format!("GET {}/readyz", self.url))?;
        Ok(r.status().as_u16())
    }

    /// The last lines of its log, for a failure message.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `<base>/metrics`.
pub async fn metrics_text(base: &str) -> anyhow::Result<String> {
    let r = reqwest::get(format!("{base}/metrics"))
        .await
        .with_context(|| format!("GET {base}/metrics"))?;
    if !r.status().is_success() {
        bail!("GET {base}/metrics answered {}", r.status());
    }
    Ok(r.text().await?)
}

/// Sum of the samples of `name` (any labels) whose label text contains every `filter`.
pub fn metric_sum(text: &str, name: &str, filters: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((m, rest)) => (m, rest),
                None => (series, ""),
            };
            (metric == name && filters.iter().all(|f| labels.contains(f)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}
