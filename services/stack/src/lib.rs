//! `ovu-stack`: ULM and/or AAM in one process, each on its own database of a PostgreSQL
//! server, with a bootstrap super-admin — the one way the local callers start "a service on a
//! fresh database with a bootstrap admin": `make dev` (scripts/dev.sh), the contract tests
//! (scripts/test-api*.sh), the benchmarks (bench/ulm.sh, bench/aam.sh) and the browser tests
//! (web/e2e/stack.mjs).
//!
//! Both services are started through their `Application::build`, the same wiring as
//! `ovu-ulm serve` and `ovu-aam serve`; only the configuration comes from here (a map built
//! from the flags, not the process environment, since the two services read the same names
//! such as `DATABASE_URL` with different values).
//!
//! When both are serving, the launcher writes `<dir>/stack.env` (shell `export` lines: the
//! URLs, the admin's e-mail and password, the databases) and prints one line starting with
//! `ovu-stack ready`. SIGTERM or SIGINT stops both gracefully, drops the databases when
//! `--drop-db` was given, and removes the env file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Parser;
use ovu_kit::config::Env;
use sqlx::{Connection, PgConnection};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Where and what to start. The store URLs default to the variables `scripts/services.sh`
/// writes to `.run/env`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ovu-stack",
    version,
    about = "ULM and/or AAM in-process on fresh databases with a bootstrap admin"
)]
pub struct Options {
    /// Start ULM.
    #[arg(long)]
    pub ulm: bool,
    /// Start AAM (needs --ulm: AAM verifies ULM's tokens and relays to it).
    #[arg(long)]
    pub aam: bool,
    /// The PostgreSQL server the databases are created on (any database of it).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// The Redis both services use (ULM under its own key prefix, below).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: String,
    /// Where ULM delivers mail (unset: mail stays queued).
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<String>,
    /// ULM's sender address (`.run/env` sets one; unset: ULM's default).
    #[arg(long, env = "SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// ULM's listen address (port 0: a free one, reported in the env file).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub ulm_addr: SocketAddr,
    /// AAM's listen address (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub aam_addr: SocketAddr,
    /// Databases are `<prefix>_ulm` and `<prefix>_aam` unless named below.
    #[arg(long, default_value = "ovu_stack")]
    pub db_prefix: String,
    /// ULM's database name (lower-case letters, digits, _).
    #[arg(long)]
    pub ulm_db: Option<String>,
    /// AAM's database name.
    #[arg(long)]
    pub aam_db: Option<String>,
    /// Keep the databases' data (create them only when missing); default: drop and create.
    #[arg(long)]
    pub reuse_db: bool,
    /// Drop the databases when stopping.
    #[arg(long)]
    pub drop_db: bool,
    /// ULM's Redis key prefix (default: `<db prefix>:<random>:` for fresh databases, so no
    /// counter of an earlier run carries over; `<db prefix>:` with --reuse-db).
    #[arg(long)]
    pub redis_prefix: Option<String>,
    /// The bootstrap super-admin's e-mail.
    #[arg(long, default_value = "admin@ovu.test")]
    pub admin_email: String,
    /// The admin's password: read from this file, or generated into it when it is missing
    /// (default `<dir>/admin-password`).
    #[arg(long)]
    pub admin_password_file: Option<PathBuf>,
    /// ULM's signing key (PKCS#8 PEM), generated into the file when missing, so tokens
    /// outlive a restart; default: an ephemeral key.
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// The launcher's files: `stack.env`, and the generated admin password.
    #[arg(long, default_value = ".run/stack")]
    pub dir: PathBuf,
    /// An extra ULM setting, `NAME=VALUE` (repeatable; wins over the launcher's own),
    /// e.g. `ULM_RATE_LOGIN_PER_MIN=1000000`.
    #[arg(long = "ulm-env", value_parser = parse_setting)]
    pub ulm_env: Vec<(String, String)>,
    /// An extra AAM setting, `NAME=VALUE` (repeatable).
    #[arg(long = "aam-env", value_parser = parse_setting)]
    pub aam_env: Vec<(String, String)>,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// A running stack: stop it with [`Stack::stop`].
pub struct Stack {
    pub ulm: SocketAddr,
    pub aam: Option<SocketAddr>,
    pub env_file: PathBuf,
    databases: Vec<String>,
    server: String,
    drop_db: bool,
    stop: watch::Sender<bool>,
    tasks: Vec<Task>,
    ended: mpsc::UnboundedReceiver<&'static str>,
}

impl Stack {
    /// Creates the databases, builds and starts the services, writes the env file.
    pub async fn start(o: Options) -> anyhow::Result<Stack> {
        if !o.ulm {
            bail!("nothing to start: give --ulm (and --aam for AAM beside it)");
        }
        std::fs::create_dir_all(&o.dir).with_context(|| format!("creating {}", o.dir.display()))?;
        let env_file = o.dir.join("stack.env");
        // A stale file from an earlier run must not look like this run being ready.
        let _ = std::fs::remove_file(&env_file);

        let ulm_db = o
            .ulm_db
            .clone()
            .unwrap_or_else(|| format!("{}_ulm", o.db_prefix));
        let aam_db = o
            .aam_db
            .clone()
            .unwrap_or_else(|| format!("{}_aam", o.db_prefix));
        let mut databases = vec![ulm_db.clone()];
        if o.aam {
            databases.push(aam_db.clone());
        }
        prepare_databases(&o.database_url, &databases, o.reuse_db).await?;
        let (server, drop_db) = (o.database_url.clone(), o.drop_db);
        match Self::launch(o, env_file, ulm_db, aam_db, databases.clone()).await {
            Ok(stack) => Ok(stack),
            Err(e) => {
                // A run that never became ready leaves nothing behind it was asked to remove.
                if drop_db {
                    let _ = drop_databases(&server, &databases).await;
                }
                Err(e)
            }
        }
    }

    async fn launch(
        o: Options,
        env_file: PathBuf,
        ulm_db: String,
        aam_db: String,
        databases: Vec<String>,
    ) -> anyhow::Result<Stack> {
        let password_file = o
            .admin_password_file
            .clone()
            .unwrap_or_else(|| o.dir.join("admin-password"));
        let password = admin_password(&password_file)?;
        let redis_prefix = o.redis_prefix.clone().unwrap_or_else(|| {
            if o.reuse_db {
                format!("{}:", o.db_prefix)
            } else {
                format!("{}:{}:", o.db_prefix, uuid::Uuid::new_v4().simple())
            }
        });

        let mut ulm_vars = vec![
            (
                "DATABASE_URL".to_string(),
                database(&o.database_url, &ulm_db)?,
            ),
            ("REDIS_URL".into(), o.redis_url.clone()),
            ("REDIS_KEY_PREFIX".into(), redis_prefix),
            ("ULM_LISTEN_ADDR".into(), o.ulm_addr.to_string()),
            ("ULM_BOOTSTRAP_ADMIN_EMAIL".into(), o.admin_email.clone()),
            (
                "ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE".into(),
                path_str(&password_file)?,
            ),
            // A local stack; deployments default to required.
            ("ULM_ADMIN_MFA".into(), "optional".into()),
        ];
        if o.ulm_addr.port() != 0 {
            ulm_vars.push(("ULM_PUBLIC_URL".into(), format!("http://{}", o.ulm_addr)));
        }
        if let Some(smtp) = &o.smtp_url {
            ulm_vars.push(("SMTP_URL".into(), smtp.clone()));
        }
        if let Some(from) = &o.smtp_from {
            ulm_vars.push(("SMTP_FROM".into(), from.clone()));
        }
        if let Some(key) = &o.signing_key {
            ensure_signing_key(key)?;
            ulm_vars.push(("ULM_SIGNING_KEY_FILE".into(), path_str(key)?));
        }
        let ulm_cfg = ovu_ulm::Config::from(Env::from_map(with_overrides(ulm_vars, &o.ulm_env)))
            .context("ULM settings")?;

        let (stop, stop_rx) = watch::channel(false);
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        let ulm = ovu_ulm::Application::build(ulm_cfg)
            .await
            .context("starting ULM")?;
        let ulm_addr = ulm.addr();
        tasks.push(spawn(
            "ulm",
            ulm.run_until(stopped(stop_rx.clone())),
            &ended_tx,
        ));

        let mut aam_addr = None;
        if o.aam {
            let aam_vars = vec![
                (
                    "DATABASE_URL".to_string(),
                    database(&o.database_url, &aam_db)?,
                ),
                ("REDIS_URL".into(), o.redis_url.clone()),
                ("AAM_LISTEN_ADDR".into(), o.aam_addr.to_string()),
                ("ULM_URL".into(), format!("http://{ulm_addr}")),
                ("AAM_ADMIN_MFA".into(), "optional".into()),
            ];
            let aam_cfg =
                ovu_aam::config::Config::from(Env::from_map(with_overrides(aam_vars, &o.aam_env)))
                    .context("AAM settings")?;
            let aam = ovu_aam::Application::build(aam_cfg)
                .await
                .context("starting AAM")?;
            aam_addr = Some(aam.addr());
            tasks.push(spawn("aam", aam.run_until(stopped(stop_rx)), &ended_tx));
        }

        let mut env = vec![
            ("STACK_PID", std::process::id().to_string()),
            ("STACK_ULM_URL", format!("http://{ulm_addr}")),
            ("STACK_ULM_PORT", ulm_addr.port().to_string()),
            ("STACK_ULM_DB", ulm_db),
            ("STACK_ADMIN_EMAIL", o.admin_email.clone()),
            ("STACK_ADMIN_PASSWORD", password),
            ("STACK_ADMIN_PASSWORD_FILE", path_str(&password_file)?),
        ];
        if let Some(a) = aam_addr {
            env.push(("STACK_AAM_URL", format!("http://{a}")));
            env.push(("STACK_AAM_PORT", a.port().to_string()));
            env.push(("STACK_AAM_DB", aam_db));
        }
        write_env(&env_file, &env)?;
        Ok(Stack {
            ulm: ulm_addr,
            aam: aam_addr,
            env_file,
            databases,
            server: o.database_url,
            drop_db: o.drop_db,
            stop,
            tasks,
            ended,
        })
    }

    /// Resolves when a service ends by itself (an error while serving); [`Stack::stop`]
    /// then reports why.
    pub async fn ended(&mut self) -> &'static str {
        self.ended.recv().await.unwrap_or("a service")
    }

    /// Stops both services gracefully, drops the databases if asked, removes the env file.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(&self.env_file);
        let _ = self.stop.send(true);
        let mut first_err = None;
        for (name, t) in self.tasks {
            let r = match t.await {
                Ok(r) => r,
                Err(e) => Err(anyhow::anyhow!("{name} panicked: {e}")),
            };
            if let Err(e) = r
                && first_err.is_none()
            {
                first_err = Some(e.context(format!("{name} failed")));
            }
        }
        if self.drop_db {
            drop_databases(&self.server, &self.databases).await?;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

type Task = (&'static str, JoinHandle<anyhow::Result<()>>);

/// Runs a service, telling `ended` when it returns.
fn spawn(
    name: &'static str,
    run: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    ended: &mpsc::UnboundedSender<&'static str>,
) -> Task {
    let ended = ended.clone();
    let task = tokio::spawn(async move {
        let r = run.await;
        let _ = ended.send(name);
        r
    });
    (name, task)
}

/// Resolves when `rx` says stop (or its sender is gone, which means stop too).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

fn with_overrides(
    mut vars: Vec<(String, String)>,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    for (k, v) in extra {
        vars.retain(|(n, _)| n != k);
        vars.push((k.clone(), v.clone()));
    }
    vars
}

/// Database names go into SQL unquoted, so only plain identifiers are accepted.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        bail!("database name {name:?}: use lower-case letters, digits and _ (at most 63)");
    }
    Ok(())
}

/// `server` with its database replaced by `name`.
fn database(server: &str, name: &str) -> anyhow::Result<String> {
    let mut u = url::Url::parse(server).context("DATABASE_URL is not a URL")?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

async fn prepare_databases(server: &str, names: &[String], reuse: bool) -> anyhow::Result<()> {
    for n in names {
        check_name(n)?;
    }
    let mut conn = PgConnection::connect(server)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    for n in names {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(n)
                .fetch_one(&mut conn)
                .await?;
        if exists && reuse {
            continue;
        }
        if exists {
            sqlx::query(&format!("DROP DATABASE {n} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .with_context(|| format!("dropping database {n}"))?;
        }
        sqlx::query(&format!("CREATE DATABASE {n}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {n}"))?;
        tracing::info!(database = %n, "database created");
    }
    Ok(())
}

async fn drop_databases(server: &str, names: &[String]) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(server)
        .await
        .context("connecting to PostgreSQL to drop the databases")?;
    for n in names {
        // FORCE: a pool that has not finished closing must not keep the database alive.
        sqlx::query(&format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("dropping database {n}"))?;
        tracing::info!(database = %n, "database dropped");
    }
    Ok(())
}

/// The password in `file`, or a new one written there (mode 0600) when the file is missing
/// or empty.
fn admin_password(file: &Path) -> anyhow::Result<String> {
    if let Ok(p) = std::fs::read_to_string(file) {
        let p = p.trim_end_matches(['\n', '\r']).to_string();
        if !p.is_empty() {
            return Ok(p);
        }
    }
    // Two UUIDs' worth of randomness (244 bits), letters and digits only, so the env file
    // and shell callers need no quoting rules for it.
    let p = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(file, &format!("{p}\n"))?;
    Ok(p)
}

fn ensure_signing_key(file: &Path) -> anyhow::Result<()> {
    if std::fs::metadata(file).is_ok_and(|m| m.len() > 0) {
        return Ok(());
    }
    write_private(file, &ovu_ulm::signing::Signer::generate_pem())
}

/// Writes a secret readable by its owner only.
fn write_private(file: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("writing {}", file.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

fn path_str(p: &Path) -> anyhow::Result<String> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    abs.to_str()
        .map(str::to_string)
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

/// Shell `export NAME='value'` lines, written whole (temporary file, then rename) so a
/// reader never sees half of it.
fn write_env(file: &Path, vars: &[(&str, String)]) -> anyhow::Result<()> {
    let mut s = String::new();
    for (k, v) in vars {
        s.push_str(&format!("export {k}='{}'\n", v.replace('\'', r"'\''")));
    }
    let tmp = file.with_extension("env.tmp");
    write_private(&tmp, &s)?;
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_plain_identifiers() {
        for ok in ["ulm_db", "web_e2e_ulm_1733", "a"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "Ulm", "x;drop", "1abc", "a-b", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_database_url_keeps_server_and_query() {
        assert_eq!(
            database(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "x_ulm"
            )
            .unwrap(),
            "postgres://postgres@127.0.0.1:5432/x_ulm?sslmode=disable"
        );
    }

    #[test]
    fn extra_settings_replace_the_launchers() {
        let v = with_overrides(
            vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            &[("A".into(), "9".into())],
        );
        assert_eq!(v, vec![("B".into(), "2".into()), ("A".into(), "9".into())]);
        assert!(parse_setting("NOEQ").is_err());
        assert_eq!(parse_setting("K=a=b").unwrap(), ("K".into(), "a=b".into()));
    }
}
