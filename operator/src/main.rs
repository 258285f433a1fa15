//! `ovu-operator`: run the controller, print the CRD, or render the nginx config for the
//! local stack. Thin on purpose; the work is in the library.

use clap::{Parser, Subcommand};
use ovu_operator::health;
use ovu_operator::images::DefaultImages;
use ovu_operator::render::nginx;

#[derive(Parser)]
#[command(name = "ovu-operator", version, about = "The OVU Kubernetes operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the default images come from (read by `run` and `render`).
const IMAGES_HELP: &str = "\
An image the OvuSystem leaves out is the operator's default, from the environment:
  OVU_DEFAULT_IMAGE_ULM       (unset: ovu/ulm:0.1.0)
  OVU_DEFAULT_IMAGE_AAM       (unset: ovu/aam:0.1.0)
  OVU_DEFAULT_IMAGE_WEB       (unset: ovu/web:0.1.0)
  OVU_DEFAULT_IMAGE_POSTGRES  (unset: postgres:16)
  OVU_DEFAULT_IMAGE_REDIS     (unset: redis:7)
A release pins them by digest in the operator's Deployment. A value that is not an image
reference stops start-up.";

#[derive(Subcommand)]
enum Command {
    /// Run the controller (leader-elected), with /metrics, /healthz and /readyz.
    #[command(after_help = IMAGES_HELP)]
    Run(Run),
    /// Print the OvuSystem CustomResourceDefinition as YAML.
    Crd,
    /// Render the frontend nginx.conf (the same renderer the operator uses) to stdout.
    RenderNginx(RenderNginx),
    /// Render every child object of an OvuSystem YAML file (for review; applies nothing).
    #[command(after_help = IMAGES_HELP)]
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
    /// and live children while it runs. 4 brought 500 systems up as fast as 8 did (the control
    /// plane paces a bring-up; a reconcile makes ~3 requests) with 1.5–2.6 MB less peak memory
    /// (bench/README.md, session 24). The default is `Tuning`'s, kept in one place.
    #[arg(long, env = "OVU_RECONCILE_CONCURRENCY", default_value_t = ovu_operator::controller::Tuning::default().concurrency, value_parser = clap::value_parser!(u16).range(1..))]
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
    /// Sign-in and registration requests per second from one client address.
    #[arg(long, default_value_t = ovu_crds::RateLimits::default().sign_in_per_second, value_parser = clap::value_parser!(i32).range(1..=1000))]
    sign_in_per_second: i32,
    /// Sign-in requests let through at once above that rate.
    #[arg(long, default_value_t = ovu_crds::RateLimits::default().sign_in_burst, value_parser = clap::value_parser!(i32).range(0..=1000))]
    sign_in_burst: i32,
    /// Other API requests per second from one client address.
    #[arg(long, default_value_t = ovu_crds::RateLimits::default().api_per_second, value_parser = clap::value_parser!(i32).range(1..=10000))]
    api_per_second: i32,
    /// API requests let through at once above that rate.
    #[arg(long, default_value_t = ovu_crds::RateLimits::default().api_burst, value_parser = clap::value_parser!(i32).range(0..=10000))]
    api_burst: i32,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(a) => ovu_operator::app::run_blocking(ovu_operator::app::RunConfig {
            default_images: default_images()?,
            listen: a.listen,
            namespace: a.namespace,
            identity: a.identity,
            lease_name: a.lease_name,
            lease_seconds: a.lease_seconds,
            probe_timeout_ms: a.probe_timeout_ms,
            health_probes: a.health_probes,
            concurrency: a.concurrency,
            debounce_ms: a.debounce_ms,
        }),
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
                // The local stack has no load balancer in front, nor an ACME CA.
                proxy_protocol: None,
                acme_challenges: Vec::new(),
                rate_limits: ovu_crds::RateLimits {
                    sign_in_per_second: a.sign_in_per_second,
                    sign_in_burst: a.sign_in_burst,
                    api_per_second: a.api_per_second,
                    api_burst: a.api_burst,
                },
            };
            write_stdout(&nginx::render(&input)?)
        }
        Command::Render { file, namespace } => write_stdout(&ovu_operator::app::render_manifest(
            &file,
            namespace,
            default_images()?,
        )?),
    }
}

/// The default images from the environment, read once; a bad one stops start-up.
fn default_images() -> anyhow::Result<DefaultImages> {
    Ok(DefaultImages::from_env()?)
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn write_stdout(s: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().write_all(s.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}
