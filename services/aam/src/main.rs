//! `ovu-aam serve` runs the API (and the health poller); `ovu-aam migrate` applies the
//! migrations and exits.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ovu_aam::cluster::{ClusterSource, KubeCluster, NoCluster};
use ovu_aam::config::Config;
use ovu_aam::{AppState, MIGRATOR, app, poller};
use ovu_kit::db::{connect_pg, connect_redis, with_retry};

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
    let db = with_retry("postgresql", Duration::from_secs(60), || {
        connect_pg(&cfg.db)
    })
    .await
    .context("connecting to postgresql")?;
    match cli.command {
        Command::Migrate => {
            MIGRATOR.run(&db).await.context("applying migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            if cfg.migrate_on_start {
                // sqlx takes an advisory lock, so replicas starting together migrate once.
                MIGRATOR.run(&db).await.context("applying migrations")?;
            }
            let redis = with_retry("redis", Duration::from_secs(60), || connect_redis(&cfg.db))
                .await
                .context("connecting to redis")?;
            let cluster: Arc<dyn ClusterSource> = match &cfg.system_name {
                Some(name) => {
                    match KubeCluster::connect(name.clone(), cfg.system_namespace.clone()).await {
                        Ok(k) => Arc::new(k),
                        Err(e) => {
                            tracing::warn!(error = %e, "OVU_SYSTEM_NAME is set but no cluster is reachable");
                            Arc::new(NoCluster)
                        }
                    }
                }
                None => Arc::new(NoCluster),
            };
            let listen = cfg.listen;
            let state = AppState::new(cfg, db, redis, cluster)?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let poller = tokio::spawn(poller::run(state.clone(), stop_rx));
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            tracing::info!(addr = %listen, "aam listening");
            ovu_kit::http::serve(listener, app(state), ovu_kit::http::shutdown_signal()).await?;
            let _ = stop_tx.send(true);
            let _ = poller.await;
            Ok(())
        }
    }
}
