//! `ovu-ulm serve` runs the service; `ovu-ulm migrate` applies the schema and exits;
//! `ovu-ulm gen-key` prints a new Ed25519 signing key (PKCS#8 PEM).

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ovu_kit::db;
use ovu_ulm::signing::Signer;
use ovu_ulm::{AppState, Config, MIGRATOR, app, bootstrap, jobs};

#[derive(Parser)]
#[command(name = "ovu-ulm", version, about = "OVU User Login Manager")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (runs migrations first unless ULM_MIGRATE_ON_START=false).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print a new Ed25519 signing key as PKCS#8 PEM.
    GenKey,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line naming the cause chain (e.g. the bad variable), no backtrace.
            eprintln!("ovu-ulm: {e:#}");
            tracing::error!(error = format!("{e:#}"), "ulm failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::GenKey = cli.command {
        print!("{}", Signer::generate_pem());
        return Ok(());
    }
    ovu_kit::telemetry::init("info");
    let cfg = Config::from_env()?;
    let pool = db::with_retry("postgres", Duration::from_secs(30), || {
        db::connect_pg(&cfg.db)
    })
    .await
    .context("connecting to PostgreSQL (DATABASE_URL)")?;
    match cli.command {
        Command::Migrate => {
            MIGRATOR.run(&pool).await.context("applying migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => serve(cfg, pool).await,
        Command::GenKey => unreachable!("handled above"),
    }
}

async fn serve(cfg: Config, pool: sqlx::PgPool) -> anyhow::Result<()> {
    if cfg.migrate_on_start {
        MIGRATOR.run(&pool).await.context("applying migrations")?;
    }
    let redis = db::with_retry("redis", Duration::from_secs(30), || {
        db::connect_redis(&cfg.db)
    })
    .await
    .context("connecting to Redis (REDIS_URL)")?;
    let signer = match &cfg.signing_key_file {
        Some(path) => Signer::from_pem_file(path)?,
        None => {
            tracing::warn!(
                "ULM_SIGNING_KEY_FILE is not set: using an ephemeral signing key (development only)"
            );
            Signer::ephemeral()
        }
    };
    tracing::info!(kid = signer.kid(), "signing key loaded");
    let listen = cfg.listen;
    let interval = Duration::from_secs(cfg.job_interval_secs);
    let state = AppState::new(cfg, pool, redis, signer)?;
    bootstrap::ensure_admin(&state).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let job = tokio::spawn(jobs::run(state.clone(), interval, stop_rx));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding ULM_LISTEN_ADDR {listen}"))?;
    tracing::info!(addr = %listen, "ulm listening");
    ovu_kit::http::serve(
        listener,
        app(state.clone()),
        ovu_kit::http::shutdown_signal(),
    )
    .await?;
    let _ = stop_tx.send(true);
    let _ = job.await;
    state.db.close().await;
    tracing::info!("ulm stopped");
    Ok(())
}
