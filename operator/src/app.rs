//! Running the operator: the process the `run` subcommand starts (runtime, metrics server,
//! leader election, controller), and the offline `render` of a manifest. `main.rs` only
//! parses arguments and calls these.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;

use crate::{controller, health, leader, metrics, server, telemetry};

/// What `ovu-operator run` was given.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Address of the /metrics, /healthz and /readyz server.
    pub listen: std::net::SocketAddr,
    /// Namespace the operator runs in (its Lease lives there).
    pub namespace: String,
    /// This replica's identity in the Lease (a random one when `None`).
    pub identity: Option<String>,
    pub lease_name: String,
    pub lease_seconds: u64,
    pub probe_timeout_ms: u64,
    pub health_probes: health::ProbeMode,
    pub concurrency: u16,
    pub debounce_ms: u64,
    /// The images of the components a spec names none of.
    pub default_images: crate::images::DefaultImages,
}

/// Build the runtime and run the operator until a shutdown signal or a lost lease.
pub fn run_blocking(config: RunConfig) -> anyhow::Result<()> {
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
    rt.block_on(run(config))
}

/// Every child of the OvuSystem manifest in `file`, as YAML documents (applies nothing).
/// Images the spec names none of are `default_images`, as the operator would run them.
pub fn render_manifest(
    file: &std::path::Path,
    namespace: String,
    default_images: crate::images::DefaultImages,
) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut sys: ovu_crds::OvuSystem =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    sys.metadata.namespace.get_or_insert(namespace);
    sys.metadata
        .uid
        .get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
    sys.spec.validate()?;
    let facts = crate::render::Facts {
        operator_namespace: "ovu-system".into(),
        tls_hash: None,
        default_images,
        // Offline: no nodes to read; the spec's trustedProxies still apply.
        ..Default::default()
    };
    let desired = crate::render::build(&sys, &facts)?;
    let mut out = String::new();
    for c in desired.all() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&c.object)?);
    }
    Ok(out)
}

/// The operator process: metrics server, leader election, then the controller.
pub async fn run(args: RunConfig) -> anyhow::Result<()> {
    telemetry::init();
    let client = crate::client::infer().await?;
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
            crate::secrets::password(8).to_lowercase()
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
    let mut ctx = controller::Context::new(
        client,
        metrics.clone(),
        args.namespace,
        Some(identity),
        Some(prober),
    );
    ctx.default_images = args.default_images;
    let ctx = Arc::new(ctx);
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
