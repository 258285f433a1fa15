//! `ovu-ulm serve` runs the service; `ovu-ulm migrate` applies the schema and exits;
//! `ovu-ulm gen-key` prints a new Ed25519 signing key (PKCS#8 PEM).

use std::time::Duration;

use clap::{Parser, Subcommand};
use ovu_kit::startup;
use ovu_ulm::signing::Signer;
use ovu_ulm::startup::{self as ulm_startup, Application};
use ovu_ulm::{Config, MIGRATOR};

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
            // One readable line naming the cause chain (e.g. the bad variable), no backtrace;
            // also the termination message, which the operator shows in the system's status.
            let line = format!("ovu-ulm: {e:#}");
            eprintln!("{line}");
            tracing::error!(error = format!("{e:#}"), "ulm failed");
            startup::write_termination_message(&line);
            std::process::ExitCode::from(startup::exit_code(e.downcast_ref()))
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::GenKey => {
            print!("{}", Signer::generate_pem());
            Ok(())
        }
        Command::HashRate { seconds } => hash_rate(seconds),
        Command::Migrate => {
            ovu_kit::telemetry::init("info");
            let cfg = Config::from_env()?;
            let pool = ulm_startup::connect_pg(&cfg, ovu_kit::db::MIGRATE_PATIENCE).await?;
            startup::migrate(&MIGRATOR, &pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            ovu_kit::telemetry::init("info");
            let cfg = Config::from_env()?;
            Application::build(cfg).await?.run_until_stopped().await
        }
    }
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
