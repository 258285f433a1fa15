//! `ovu-operator`: run the controller, print the CRD, or render the nginx config for the
//! local stack. Thin on purpose; the work is in the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ovu_operator::health;
use ovu_operator::render::nginx;

#[derive(Parser)]
#[command(name = "ovu-operator", version, about = "The OVU Kubernetes operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (leader-elected), with /metrics, /healthz and /readyz.
    Run(Run),
    /// Print the OvuSystem CustomResourceDefinition as YAML.
    Crd,
    /// Render the frontend nginx.conf (the same renderer the operator uses) to stdout.
    RenderNginx(RenderNginx),
    /// Render every child object of an OvuSystem YAML file (for review; applies nothing).
    Render {
        /// Path to an OvuSystem manifest.
        file: std::path::PathBuf,
        /// Namespace to render into when the manifest has none.
        #[arg(long, default_value = "default")]
        namespace: String,
    },
}

#[derive(clap::Args)]
struct Run {
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, env = "OVU_LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// Namespace the operator runs in (its Lease lives there).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ovu-system")]
    namespace: String,
    /// This replica's identity in the Lease (the pod name in the cluster).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, env = "OVU_LEASE_NAME", default_value = "ovu-operator")]
    lease_name: String,
    /// Lease duration in seconds; a standby takes over this long after the leader stops renewing.
    #[arg(long, env = "OVU_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// Timeout of each ULM/AAM health probe, in milliseconds.
    #[arg(long, env = "OVU_PROBE_TIMEOUT_MS", default_value_t = 2000)]
    probe_timeout_ms: u64,
    /// Health probes of ULM/AAM by their cluster DNS names: `auto` probes only when the
    /// operator runs in a pod (out of the cluster those names do not resolve), `on` always,
    /// `off` never (status.health then says probes are off).
    #[arg(long, env = "OVU_HEALTH_PROBES", value_enum, default_value = "auto")]
    health_probes: health::ProbeMode,
    /// Reconciles running at the same time. Bounds memory: each one holds a system's rendered
    /// and live children while it runs.
    #[arg(long, env = "OVU_RECONCILE_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Debounce of reconcile requests in milliseconds (a burst of child events becomes one
    /// reconcile).
    #[arg(long, env = "OVU_RECONCILE_DEBOUNCE_MS", default_value_t = 500)]
    debounce_ms: u64,
}

#[derive(clap::Args)]
struct RenderNginx {
    /// Public domain: serves ulm.<d>, aam.<d>, api.<d>; redirects <d> and www.<d>.
    #[arg(long)]
    domain: String,
    #[arg(long, default_value = "127.0.0.1:8001")]
    ulm_upstream: String,
    #[arg(long, default_value = "127.0.0.1:8002")]
    aam_upstream: String,
    /// Directory holding ulm/ and aam/ built web apps.
    #[arg(long)]
    html_root: String,
    /// Writable directory for nginx temp files.
    #[arg(long)]
    temp_dir: String,
    #[arg(long)]
    pid_file: String,
    #[arg(long, default_value = "/dev/stdout")]
    access_log: String,
    #[arg(long, default_value_t = 8080)]
    listen_http: u16,
    #[arg(long, default_value_t = 8443)]
    listen_https: u16,
    /// HTTPS port browsers use (redirect target).
    #[arg(long, default_value_t = 443)]
    public_https_port: u16,
    /// Certificate file; TLS is off unless both --tls-cert and --tls-key are given.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<String>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<String>,
    /// Allowed CORS origin (repeatable). Defaults to the system's own sites.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            // The operator waits on the API server almost all the time, so one thread runs it
            // by default: glibc gives every thread that allocates its own malloc arena, and
            // with two workers the arenas' free space alone was ~7 MB of the peak RSS with 500
            // systems. TOKIO_WORKER_THREADS=N (N > 1) runs N workers instead.
            let workers = std::env::var("TOKIO_WORKER_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(1);
            let mut builder = if workers == 1 {
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(workers);
                b
            };
            let rt = builder
                // Blocking threads only resolve DNS for health probes and read files.
                .max_blocking_threads(8)
                .enable_all()
                .build()?;
            rt.block_on(run(args))
        }
        Command::Crd => write_stdout(&ovu_crds::crd_yaml()),
        Command::RenderNginx(a) => {
            let tls = match (a.tls_cert, a.tls_key) {
                (Some(cert), Some(key)) => Some(nginx::TlsFiles { cert, key }),
                _ => None,
            };
            // Without TLS browsers reach this nginx on its own HTTP port.
            let public_port = if tls.is_some() {
                a.public_https_port
            } else {
                a.listen_http
            };
            let cors_origins = if a.cors_origins.is_empty() {
                ["ulm", "aam", "api"]
                    .iter()
                    .map(|s| nginx::site_origin(tls.is_some(), s, &a.domain, public_port))
                    .collect()
            } else {
                a.cors_origins
            };
            let input = nginx::NginxInput {
                domain: a.domain,
                ulm_upstream: a.ulm_upstream,
                aam_upstream: a.aam_upstream,
                html_root: a.html_root,
                temp_dir: a.temp_dir,
                pid_file: a.pid_file,
                access_log: a.access_log,
                listen_http: a.listen_http,
                listen_https: a.listen_https,
                public_port,
                tls,
                cors_origins,
                // The local stack has no load balancer in front.
                proxy_protocol: None,
            };
            write_stdout(&nginx::render(&input)?)
        }
        Command::Render { file, namespace } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut sys: ovu_crds::OvuSystem = serde_yaml::from_str(&text)
                .with_context(|| format!("parsing {}", file.display()))?;
            sys.metadata.namespace.get_or_insert(namespace);
            sys.metadata
                .uid
                .get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
            sys.spec.validate()?;
            let facts = ovu_operator::render::Facts {
                operator_namespace: "ovu-system".into(),
                tls_hash: None,
                // Offline: no nodes to read; the spec's trustedProxies still apply.
                ..Default::default()
            };
            let desired = ovu_operator::render::build(&sys, &facts)?;
            let mut out = String::new();
            for c in desired.all() {
                out.push_str("---\n");
                out.push_str(&serde_yaml::to_string(&c.object)?);
            }
            write_stdout(&out)
        }
    }
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn write_stdout(s: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().write_all(s.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

async fn run(args: Run) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use ovu_operator::{controller, leader, metrics, server, telemetry};

    telemetry::init();
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = metrics::Metrics::new(&mut registry);
    let readiness = Arc::new(server::Readiness::default());

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let app = server::app(Arc::new(registry), readiness.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    tracing::info!(listen = %args.listen, "serving /metrics, /healthz, /readyz");

    let identity = args.identity.unwrap_or_else(|| {
        format!(
            "ovu-operator-{}",
            ovu_operator::secrets::password(8).to_lowercase()
        )
    });
    let elector = leader::LeaderElector::new(
        client.clone(),
        leader::LeaseConfig {
            namespace: args.namespace.clone(),
            name: args.lease_name,
            identity: identity.clone(),
            lease_duration: Duration::from_secs(args.lease_seconds),
            renew_every: Duration::from_secs((args.lease_seconds / 3).max(1)),
        },
    );
    tokio::select! {
        _ = elector.acquire() => {}
        _ = tokio::signal::ctrl_c() => return Ok(()),
    }
    readiness.leader.store(true, Ordering::Relaxed);
    metrics.leader.set(1);

    let tuning = controller::Tuning {
        concurrency: args.concurrency,
        debounce: Duration::from_millis(args.debounce_ms),
        ..controller::Tuning::default()
    };
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let prober = if args.health_probes.probes(in_cluster) {
        health::Prober::new(Duration::from_millis(args.probe_timeout_ms))?
    } else {
        tracing::info!("health probes are off (OVU_HEALTH_PROBES, or auto outside a pod)");
        health::Prober::disabled(
            "health probes are off: the operator runs outside the cluster, where service DNS names do not resolve (OVU_HEALTH_PROBES=on forces them)",
        )?
    };
    let ctx = Arc::new(controller::Context::new(
        client,
        metrics.clone(),
        args.namespace,
        Some(identity),
        Some(prober),
    ));
    let lost = tokio::select! {
        _ = controller::run(ctx, readiness.clone(), tuning) => false,
        _ = elector.hold() => true,
    };
    metrics.leader.set(0);
    readiness.leader.store(false, Ordering::Relaxed);
    if lost {
        // Another replica may already be reconciling: stop at once, restart as a candidate.
        anyhow::bail!("lost the leader lease");
    }
    elector.release().await;
    tracing::info!("stopped");
    Ok(())
}
