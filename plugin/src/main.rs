//! `kubectl ovu …`: day-2 operations on an OVU system from the command line.
//!
//! What flows through this crate: the command line (clap) and a kubeconfig (`--kubeconfig`,
//! else `KUBECONFIG`, else `~/.kube/config`, else the pod's service account) → a kube client
//! → one OvuSystem, chosen by name or as the only one in the namespace ([`system::choose`]) →
//! one subcommand that reads what the operator wrote (`status`, the backup Jobs, the
//! bootstrap-admin Secret, pod logs) or asks it for something through the API, exactly as
//! docs/contracts.md says (the `ovu.co.il/backup-now` annotation; a new OvuSystem with
//! `spec.database.restore`). Nothing here talks to the pods or the database directly: what
//! the plugin can do, `kubectl` with the same RBAC could do by hand.
//!
//! The pure parts (the status screen, choosing a system, the backup list, which backup a
//! restore names, the restore object, the next cron run) are functions of their inputs with
//! unit tests; the e2e crate runs the built binary against the test cluster
//! (e2e/tests/it/plugin.rs).
//!
//! kubectl finds the binary by its name `kubectl-ovu` on `PATH` and passes it every argument
//! after `kubectl ovu`.

mod backup;
mod bucket;
mod cron;
mod logs;
mod restore;
mod status;
mod system;
mod timefmt;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};

/// Day-2 operations on OVU systems (the OvuSystem resource of the OVU operator).
#[derive(Parser, Debug)]
#[command(
    name = "kubectl ovu",
    bin_name = "kubectl ovu",
    version,
    about,
    args_override_self = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Where to find the cluster and the system; accepted before or after the subcommand.
#[derive(Args, Debug, Clone)]
struct Global {
    /// Namespace of the OvuSystem (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "CONTEXT")]
    context: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One screen: phase, each tier's condition, health, endpoints, certificate, backups.
    Status {
        /// The OvuSystem (default: the only one in the namespace).
        system: Option<String>,
    },
    /// Ask the operator for a backup now (annotation ovu.co.il/backup-now) and follow it.
    Backup {
        /// The OvuSystem (default: the only one in the namespace).
        system: Option<String>,
        /// Follow the backup until it completes or fails (default); `--wait=false` or
        /// `--no-wait` only asks for it.
        #[arg(long, require_equals = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        wait: Option<bool>,
        /// Only ask for the backup, do not follow it.
        #[arg(long, conflicts_with = "wait")]
        no_wait: bool,
        /// How long to follow it: seconds, or with a unit (90s, 10m, 1h).
        #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
        timeout: Duration,
    },
    /// The backups the system knows (its backup Jobs and status), newest first.
    Backups {
        /// The OvuSystem (default: the only one in the namespace).
        system: Option<String>,
    },
    /// Create a new OvuSystem NEW, a copy of this one's spec that starts from one of its
    /// backups (spec.database.restore); or, with --from-bucket, a new system that starts from
    /// an off-site backup in an S3 bucket (the system that made it may be gone).
    Restore {
        /// The OvuSystem whose backup to restore (default: the only one in the namespace).
        #[arg(conflicts_with = "from_bucket")]
        system: Option<String>,
        /// Which backup: `latest`, a backup name (20261203T020000Z) or a backup Job's name,
        /// as `kubectl ovu backups` lists them. With --from-bucket: `latest` (default) or a
        /// backup name in the bucket's folder.
        #[arg(long, value_name = "BACKUP", required_unless_present = "from_bucket")]
        from: Option<String>,
        /// Name of the new OvuSystem (must not exist yet).
        #[arg(long, value_name = "NEW", required_unless_present = "list")]
        into: Option<String>,
        /// Public domain of the new system (default: the source's; needed with --from-bucket).
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// Restore from the bucket a backup.destination uploaded to: its folder
        /// `s3://<bucket>/<prefix>/`, or one object `s3://<bucket>/<prefix>/<backup>.tar.age`
        /// (status.backup.lastUploadedObject). The folder is listed first, with the key and
        /// CA below, so a wrong endpoint, key or backup name is said here.
        #[arg(long, value_name = "S3_URL", requires_all = ["endpoint", "credentials_secret"])]
        from_bucket: Option<String>,
        /// The S3 server: https://host[:port].
        #[arg(long, value_name = "URL", requires = "from_bucket")]
        endpoint: Option<String>,
        /// The region requests are signed for (default us-east-1).
        #[arg(long, value_name = "REGION", requires = "from_bucket")]
        region: Option<String>,
        /// Secret in the namespace with the bucket's key (access-key-id, secret-access-key).
        #[arg(long, value_name = "SECRET", requires = "from_bucket")]
        credentials_secret: Option<String>,
        /// Secret in the namespace with the age private key (key `identity`) the backups were
        /// encrypted to. Needed with --from-bucket, except with --list.
        // clap cannot say "required if --from-bucket and not --list": a restore from a backup of
        // the cluster always has --from, so `from` exempts it here and `run` checks the rest.
        #[arg(
            long,
            value_name = "SECRET",
            requires = "from_bucket",
            required_unless_present_any = ["list", "from"]
        )]
        identity_secret: Option<String>,
        /// ConfigMap with the CA (key ca.crt) of a server with a private CA.
        #[arg(
            long,
            value_name = "CONFIGMAP",
            requires = "from_bucket",
            conflicts_with = "ca_secret"
        )]
        ca_config_map: Option<String>,
        /// Secret with that CA (key ca.crt) instead.
        #[arg(long, value_name = "SECRET", requires = "from_bucket")]
        ca_secret: Option<String>,
        /// Only list the backups in the bucket's folder, newest first.
        #[arg(long, requires = "from_bucket")]
        list: bool,
        /// Print the OvuSystem instead of creating it.
        #[arg(long, requires = "from_bucket")]
        dry_run: bool,
    },
    /// Print the bootstrap admin's e-mail and password (Secret <system>-bootstrap-admin).
    AdminPassword {
        /// The OvuSystem (default: the only one in the namespace).
        system: Option<String>,
    },
    /// Logs of a component's pods, read through the API server.
    Logs {
        /// ulm, aam, frontend, postgres, redis, backup or restore.
        component: logs::Component,
        /// The OvuSystem (default: the only one in the namespace).
        system: Option<String>,
        /// Keep streaming new lines.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Lines from the end of each container's log (default: all).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
        tail: Option<i64>,
        /// Only this container (default: every container of the pod but init containers).
        #[arg(short = 'c', long, value_name = "NAME")]
        container: Option<String>,
    },
}

/// `90`, `90s`, `10m`, `1h`: how long to wait. A bad value names itself.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{s:?} is not a duration: write seconds or a number with s, m or h (e.g. 90s, 10m)")
    };
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some(_) => (s, 1),
        None => return Err(bad()),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("{s:?}: the timeout must be longer than zero"));
    }
    n.checked_mul(mult).map(Duration::from_secs).ok_or_else(bad)
}

/// The API connection and the namespace every subcommand works in.
pub struct Ctx {
    pub client: Client,
    pub namespace: String,
}

async fn connect(g: &Global) -> anyhow::Result<Ctx> {
    let options = KubeConfigOptions {
        context: g.context.clone(),
        ..Default::default()
    };
    let config = if let Some(path) = &g.kubeconfig {
        let kc = Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
        Config::from_custom_kubeconfig(kc, &options)
            .await
            .with_context(|| format!("cannot use the kubeconfig {}", path.display()))?
    } else if g.context.is_some() {
        Config::from_kubeconfig(&options)
            .await
            .context("cannot use the kubeconfig ($KUBECONFIG or ~/.kube/config)")?
    } else {
        Config::infer()
            .await
            .context("no cluster to talk to: set KUBECONFIG or --kubeconfig (or run in a pod)")?
    };
    let client = Client::try_from(config).context("cannot build a Kubernetes client")?;
    let namespace = match &g.namespace {
        Some(ns) => {
            if !is_dns_label(ns) {
                anyhow::bail!(
                    "--namespace {ns:?} is not a namespace name (lowercase letters, digits and hyphens, at most 63)"
                );
            }
            ns.clone()
        }
        None => client.default_namespace().to_string(),
    };
    Ok(Ctx { client, namespace })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Write to stdout; a closed pipe (`kubectl ovu logs … | head`) ends the program quietly
/// instead of panicking as `println!` would.
pub fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r.context("writing to stdout"),
    }
}

/// A progress line on stderr (stdout stays for what a script would read).
pub fn progress(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// How an API error reads for a person: the API server's own message, else kube's.
pub fn api_err(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.reason.is_empty() => format!("{} (HTTP {})", s.message, s.code),
        kube::Error::Api(s) => format!("{} (HTTP {} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Refuse a bad name before any API call.
    let mut bucket = None;
    if let Command::Restore {
        into,
        from_bucket,
        endpoint,
        region,
        credentials_secret,
        identity_secret,
        ca_config_map,
        ca_secret,
        list,
        dry_run,
        from,
        domain,
        ..
    } = &cli.command
    {
        if let Some(into) = into {
            restore::check_new_name(into)?;
        }
        if let Some(location) = from_bucket {
            if identity_secret.is_none() && !list {
                anyhow::bail!(
                    "--identity-secret is needed with --from-bucket: the Secret with the age private key the backups were encrypted to"
                );
            }
            let domain = match (domain, list) {
                (Some(d), _) => d.clone(),
                (None, true) => "unused.example.com".into(),
                (None, false) => anyhow::bail!(
                    "--domain is needed with --from-bucket: the new system's spec starts from the defaults"
                ),
            };
            let r = bucket::Request {
                location: location.clone(),
                endpoint: endpoint.clone().unwrap_or_default(),
                region: region.clone(),
                credentials_secret: credentials_secret.clone().unwrap_or_default(),
                ca_config_map: ca_config_map.clone(),
                ca_secret: ca_secret.clone(),
                identity_secret: identity_secret.clone().unwrap_or_else(|| "unused".into()),
                from: from.clone(),
                into: into.clone().unwrap_or_else(|| "unused".into()),
                domain,
                dry_run: *dry_run,
                list_only: *list,
            };
            let loc = bucket::check(&r)?;
            bucket = Some((r, loc));
        }
    }
    let ctx = connect(&cli.global).await?;
    if let Some((r, loc)) = bucket {
        return bucket::run(&ctx, &r, &loc).await;
    }
    match cli.command {
        Command::Status { system } => {
            let sys = system::get(&ctx, system.as_deref()).await?;
            status::run(&ctx, &sys).await
        }
        Command::Backup {
            system,
            wait,
            no_wait,
            timeout,
        } => {
            let sys = system::get(&ctx, system.as_deref()).await?;
            let follow = !no_wait && wait.unwrap_or(true);
            backup::run_backup(&ctx, &sys, follow, timeout).await
        }
        Command::Backups { system } => {
            let sys = system::get(&ctx, system.as_deref()).await?;
            backup::run_list(&ctx, &sys).await
        }
        Command::Restore {
            system,
            from,
            into,
            domain,
            ..
        } => {
            // clap requires both without --from-bucket (handled above).
            let (Some(from), Some(into)) = (from, into) else {
                anyhow::bail!("--from and --into are needed");
            };
            let sys = system::get(&ctx, system.as_deref()).await?;
            restore::run(&ctx, &sys, &from, &into, domain.as_deref()).await
        }
        Command::AdminPassword { system } => {
            let sys = system::get(&ctx, system.as_deref()).await?;
            system::admin_password(&ctx, &sys).await
        }
        Command::Logs {
            component,
            system,
            follow,
            tail,
            container,
        } => {
            let sys = system::get(&ctx, system.as_deref()).await?;
            logs::run(&ctx, &sys, component, follow, tail, container.as_deref()).await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            progress(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            progress(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "m", "ten", "5d", "-5", "1.5m", "0"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn the_command_line_parses_as_documented() {
        let cli =
            Cli::try_parse_from(["kubectl-ovu", "backup", "sys", "-n", "prod", "--wait=false"])
                .unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("prod"));
        assert!(matches!(
            cli.command,
            Command::Backup {
                wait: Some(false),
                no_wait: false,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["kubectl-ovu", "backup", "--wait", "sys"]).unwrap();
        assert!(
            matches!(&cli.command, Command::Backup { wait: Some(true), system: Some(s), .. } if s == "sys")
        );
        let cli =
            Cli::try_parse_from(["kubectl-ovu", "-n", "x", "logs", "ulm", "--tail", "5"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Logs {
                component: logs::Component::Ulm,
                tail: Some(5),
                system: None,
                ..
            }
        ));
        // As with kubectl, a repeated flag takes its last value.
        let cli = Cli::try_parse_from(["kubectl-ovu", "-n", "a", "status", "-n", "b"]).unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("b"));
        // Bad input names the bad value.
        let e = Cli::try_parse_from(["kubectl-ovu", "logs", "nginx"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nginx") && e.contains("ulm"), "{e}");
        let e = Cli::try_parse_from(["kubectl-ovu", "logs", "ulm", "--tail", "-3"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("-3"), "{e}");
        let e = Cli::try_parse_from(["kubectl-ovu", "backup", "--timeout", "soon"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"soon\""), "{e}");
        assert!(Cli::try_parse_from(["kubectl-ovu", "restore", "--from", "latest"]).is_err());
    }

    #[test]
    fn restore_from_a_bucket_needs_its_endpoint_and_key_but_no_source() {
        let b = [
            "kubectl-ovu",
            "restore",
            "--from-bucket",
            "s3://ovu-backups/shop/",
        ];
        let with = |extra: &[&'static str]| {
            Cli::try_parse_from(b.iter().chain(extra).copied()).map(|c| c.command)
        };
        // A restore from a backup in the cluster needs none of the bucket's flags.
        let local = Cli::try_parse_from([
            "kubectl-ovu",
            "restore",
            "shop",
            "--from",
            "latest",
            "--into",
            "shop2",
        ])
        .map(|c| c.command);
        assert!(
            matches!(
                &local,
                Ok(Command::Restore {
                    from_bucket: None,
                    identity_secret: None,
                    ..
                })
            ),
            "{local:?}"
        );
        // Listing needs neither --into nor the identity.
        let list = with(&[
            "--endpoint",
            "https://s3.example.com",
            "--credentials-secret",
            "k",
            "--list",
        ]);
        assert!(
            matches!(
                list,
                Ok(Command::Restore {
                    list: true,
                    into: None,
                    ..
                })
            ),
            "{list:?}"
        );
        let e = with(&["--credentials-secret", "k", "--list"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--endpoint"), "{e}");
        let e = with(&[
            "--endpoint",
            "https://s3.example.com",
            "--credentials-secret",
            "k",
            "--into",
            "x",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("--identity-secret"), "{e}");
        let e = Cli::try_parse_from([
            "kubectl-ovu",
            "restore",
            "shop",
            "--from-bucket",
            "s3://b/f/",
            "--endpoint",
            "https://s",
            "--credentials-secret",
            "k",
            "--list",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot be used with"), "{e}");
        let e = Cli::try_parse_from([
            "kubectl-ovu",
            "restore",
            "--from",
            "latest",
            "--into",
            "x",
            "--list",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("--from-bucket"), "{e}");
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(is_dns_label("ovu-system"));
        for bad in ["", "Prod", "a_b", "-a", "a-", &"x".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
