//! `ovu-aam serve` runs the API (and the health poller); `ovu-aam migrate` applies the
//! migrations and exits.

use clap::{Parser, Subcommand};
use ovu_aam::MIGRATOR;
use ovu_aam::config::Config;
use ovu_aam::startup::{self, Application};

#[derive(Parser)]
#[command(name = "ovu-aam", about = "OVU Admin Area Manager", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on AAM_LISTEN_ADDR.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line naming the cause chain, no backtrace; also the termination
            // message, which the operator shows in the system's status.
            let line = format!("ovu-aam: {e:#}");
            eprintln!("{line}");
            tracing::error!(error = format!("{e:#}"), "aam failed");
            ovu_kit::startup::write_termination_message(&line);
            std::process::ExitCode::from(ovu_kit::startup::exit_code(e.downcast_ref()))
        }
    }
}

async fn run() -> anyhow::Result<()> {
    ovu_kit::telemetry::init("info");
    let cli = Cli::parse();
    let cfg = Config::from_env()?;
    match cli.command {
        Command::Migrate => {
            let db = startup::connect_db(&cfg, ovu_kit::db::MIGRATE_PATIENCE).await?;
            ovu_kit::startup::migrate(&MIGRATOR, &db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => Application::build(cfg).await?.run_until_stopped().await,
    }
}
