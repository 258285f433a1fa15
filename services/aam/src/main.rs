//! `ovu-aam serve` runs the API (and the health poller); `ovu-aam migrate` applies the
//! migrations and exits.

use anyhow::Context;
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
async fn main() -> anyhow::Result<()> {
    ovu_kit::telemetry::init("info");
    let cli = Cli::parse();
    let cfg = Config::from_env()?;
    match cli.command {
        Command::Migrate => {
            let db = startup::connect_db(&cfg).await?;
            MIGRATOR.run(&db).await.context("applying migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => Application::build(cfg).await?.run_until_stopped().await,
    }
}
