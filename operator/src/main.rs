//! `ovu-operator`: run the controller, print the CRD, or render the nginx config for the
//! local stack. Thin on purpose; the work is in the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ovu_operator::render::nginx;

#[derive(Parser)]
#[command(name = "ovu-operator", version, about = "The OVU Kubernetes operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        Command::Crd => write_stdout(&ovu_crds::crd_yaml()),
        Command::RenderNginx(a) => {
            let tls = match (a.tls_cert, a.tls_key) {
                (Some(cert), Some(key)) => Some(nginx::TlsFiles { cert, key }),
                _ => None,
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            let cors_origins = if a.cors_origins.is_empty() {
                ["ulm", "aam", "api"]
                    .iter()
                    .map(|s| format!("{scheme}://{s}.{}", a.domain))
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
                public_https_port: a.public_https_port,
                tls,
                cors_origins,
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
