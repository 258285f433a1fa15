//! Health probes of the running services: GET `/api/ready` of ULM and AAM over their Services,
//! with a short timeout, recording status, latency and time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use ovu_crds::ComponentHealth;

/// How the operator probes. The services are reached by their cluster DNS names
/// (`<system>-ulm.<namespace>.svc`), which only resolve inside the cluster (CoreDNS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeMode {
    /// Probe when running in a pod (`KUBERNETES_SERVICE_HOST` is set), off otherwise.
    Auto,
    /// Always probe (fails with a clear message where cluster DNS does not resolve).
    On,
    /// Never probe; status.health says so.
    Off,
}

impl ProbeMode {
    /// Whether to probe, given whether the process runs in a pod.
    pub fn probes(self, in_cluster: bool) -> bool {
        match self {
            ProbeMode::Auto => in_cluster,
            ProbeMode::On => true,
            ProbeMode::Off => false,
        }
    }
}

/// DNS lookups allowed in flight. A lookup that outlives its probe keeps its permit until
/// the resolver gives up, so a cluster DNS that does not answer cannot pile up blocked
/// resolver threads: new probes then fail at once with "DNS lookups are backed up".
const DNS_IN_FLIGHT: usize = 4;

/// Probes services over HTTP.
#[derive(Clone, Debug)]
pub struct Prober {
    client: reqwest::Client,
    timeout: Duration,
    dns: Arc<Semaphore>,
    /// `Some(why)`: probing is off; every result is `Unknown` with this message.
    off: Option<String>,
}

impl Prober {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                // Service addresses are cluster-internal: never through a proxy.
                .no_proxy()
                .build()?,
            timeout,
            dns: Arc::new(Semaphore::new(DNS_IN_FLIGHT)),
            off: None,
        })
    }

    /// A prober that never touches the network and reports why.
    pub fn disabled(why: impl Into<String>) -> Result<Self, reqwest::Error> {
        Ok(Self {
            off: Some(why.into()),
            ..Self::new(Duration::from_secs(1))?
        })
    }

    /// Whether probes run at all.
    pub fn enabled(&self) -> bool {
        self.off.is_none()
    }

    /// Resolve `host` with the system resolver, bounded by the probe timeout.
    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let ms = self.timeout.as_millis();
        let permit = match tokio::time::timeout(self.timeout, self.dns.clone().acquire_owned())
            .await
        {
            Ok(Ok(p)) => p,
            _ => {
                return Err(format!(
                    "DNS lookups are backed up (earlier lookups of service names have not answered within {ms} ms); is cluster DNS reachable?"
                ));
            }
        };
        let target = format!("{host}:{port}");
        let lookup = tokio::spawn(async move {
            let _permit = permit;
            tokio::net::lookup_host(target)
                .await
                .map(|mut addrs| addrs.next())
        });
        match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => Err(format!(
                "DNS lookup of {host} timed out after {ms} ms; service names resolve only inside the cluster (run the operator in a pod, or set OVU_HEALTH_PROBES=off)"
            )),
            Ok(Err(_)) => Err(format!("DNS lookup of {host} failed")),
            Ok(Ok(Err(e))) => Err(format!(
                "cannot resolve {host} ({e}); service names resolve only inside the cluster (run the operator in a pod, or set OVU_HEALTH_PROBES=off)"
            )),
            Ok(Ok(Ok(None))) => Err(format!("{host} resolves to no address")),
            Ok(Ok(Ok(Some(a)))) => Ok(a),
        }
    }

    /// Probe one component's `/api/ready` on `host:port`.
    pub async fn probe(&self, component: &str, host: &str, port: u16) -> ComponentHealth {
        let checked_at = || Time(Timestamp::now());
        let unreachable = |message: String| ComponentHealth {
            component: component.into(),
            status: "Unreachable".into(),
            latency_ms: None,
            checked_at: checked_at(),
            message: Some(message),
        };
        if let Some(why) = &self.off {
            return ComponentHealth {
                component: component.into(),
                status: "Unknown".into(),
                latency_ms: None,
                checked_at: checked_at(),
                message: Some(why.clone()),
            };
        }
        let addr = match self.resolve(host, port).await {
            Ok(a) => a,
            Err(m) => return unreachable(m),
        };
        let start = Instant::now();
        // By address: the name is resolved already (and reqwest's resolver has no timeout of
        // its own); the Host header still names the service.
        let res = self
            .client
            .get(format!("http://{addr}/api/ready"))
            .header(reqwest::header::HOST, format!("{host}:{port}"))
            .send()
            .await;
        let latency_ms = i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX);
        match res {
            Ok(r) if r.status().is_success() => ComponentHealth {
                component: component.into(),
                status: "Healthy".into(),
                latency_ms: Some(latency_ms),
                checked_at: checked_at(),
                message: None,
            },
            Ok(r) => ComponentHealth {
                component: component.into(),
                status: "Unhealthy".into(),
                latency_ms: Some(latency_ms),
                checked_at: checked_at(),
                message: Some(format!("/api/ready answered {}", r.status().as_u16())),
            },
            Err(e) => unreachable(if e.is_timeout() {
                format!(
                    "{addr} ({host}) did not answer within {} ms",
                    self.timeout.as_millis()
                )
            } else {
                format!("connection to {addr} ({host}) failed")
            }),
        }
    }
}

/// Whether a new probe result is worth a status write: the verdict changed, or the recorded
/// one is older than `max_age` (so latency and time stay roughly current without a write per
/// reconcile).
pub fn worth_recording(
    old: Option<&ComponentHealth>,
    new: &ComponentHealth,
    max_age: Duration,
) -> bool {
    match old {
        None => true,
        Some(o) => {
            o.status != new.status
                || new
                    .checked_at
                    .0
                    .duration_since(o.checked_at.0)
                    .unsigned_abs()
                    >= max_age
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_probes_only_in_a_pod() {
        assert!(ProbeMode::Auto.probes(true));
        assert!(!ProbeMode::Auto.probes(false));
        assert!(ProbeMode::On.probes(false));
        assert!(!ProbeMode::Off.probes(true));
    }

    #[tokio::test]
    async fn a_disabled_prober_says_why_without_network() {
        let p = Prober::disabled("probes are off").unwrap();
        assert!(!p.enabled());
        let h = p.probe("ulm", "ovu-ulm.ns.svc", 8001).await;
        assert_eq!(h.status, "Unknown");
        assert_eq!(h.message.as_deref(), Some("probes are off"));
    }

    #[tokio::test]
    async fn an_unresolvable_name_fails_with_a_message() {
        // `.invalid` never resolves (RFC 6761); the answer comes from the local resolver or
        // the timeout, both of which name the host.
        let p = Prober::new(Duration::from_millis(1500)).unwrap();
        let h = p.probe("ulm", "ovu-ulm.ns.svc.invalid", 8001).await;
        assert_eq!(h.status, "Unreachable");
        let m = h.message.unwrap_or_default();
        assert!(m.contains("ovu-ulm.ns.svc.invalid"), "{m}");
    }

    #[tokio::test]
    async fn a_listening_service_is_probed_by_address() {
        // A one-shot HTTP server on loopback answering 503.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(req.starts_with("GET /api/ready "), "{req}");
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
        });
        let p = Prober::new(Duration::from_secs(5)).unwrap();
        let h = p.probe("aam", "localhost", port).await;
        assert_eq!(h.status, "Unhealthy", "{h:?}");
        assert_eq!(h.message.as_deref(), Some("/api/ready answered 503"));
    }
}
