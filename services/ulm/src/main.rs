//! `ovu-ulm serve` runs the service; `ovu-ulm migrate` applies the schema and exits;
//! `ovu-ulm gen-key` prints a new Ed25519 signing key (PKCS#8 PEM).

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ovu_kit::db;
use ovu_ulm::signing::Signer;
use ovu_ulm::{AppState, Config, MIGRATOR, app, bootstrap, jobs, mail};

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
    /// Measure argon2id hashes per second with the configured cost, one thread per core
    /// (the ceiling for login throughput on this machine).
    HashRate {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
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
    if let Command::HashRate { seconds } = cli.command {
        return hash_rate(seconds);
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
        Command::GenKey | Command::HashRate { .. } => unreachable!("handled above"),
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
    let job = tokio::spawn(jobs::run(state.clone(), interval, stop_rx.clone()));
    let mailer = tokio::spawn(mail::run(state.clone(), stop_rx));
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
    let _ = mailer.await;
    state.db.close().await;
    tracing::info!("ulm stopped");
    Ok(())
}

fn hash_rate(seconds: u64) -> anyhow::Result<()> {
    let mut env = ovu_kit::config::Env::from_process();
    let cost = ovu_ulm::config::Argon2Cost {
        m_kib: env.ranged("ULM_ARGON2_M_KIB", 19456, 8, 4 * 1024 * 1024) as u32,
        t: env.ranged("ULM_ARGON2_T", 2, 1, 64) as u32,
        p: env.ranged("ULM_ARGON2_P", 1, 1, 16) as u32,
    };
    env.finish()?;
    let pw = std::sync::Arc::new(
        ovu_ulm::crypto::Passwords::new(cost).map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let until = std::time::Instant::now() + Duration::from_secs(seconds);
    let start = std::time::Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let pw = pw.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while std::time::Instant::now() < until {
                    // Verification is what login does; it costs the same as hashing.
                    let _ = pw.hash_blocking("bench password 123");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "argon2id m={} t={} p={}: {total} hashes in {secs:.1}s on {cores} threads = {:.1} hashes/s",
        cost.m_kib,
        cost.t,
        cost.p,
        total as f64 / secs
    );
    Ok(())
}
