//! `ovu-stack --ulm [--aam] …`: see the library's documentation, or `ovu-stack --help`.

use clap::Parser;
use ovu_stack::{Options, Stack};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    ovu_kit::telemetry::init("info");
    match run(Options::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ovu-stack: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(o: Options) -> anyhow::Result<()> {
    let mut stack = Stack::start(o).await?;
    let mut line = format!("ovu-stack ready: ULM http://{}", stack.ulm);
    if let Some(a) = stack.aam {
        line.push_str(&format!(", AAM http://{a}"));
    }
    line.push_str(&format!(" (settings: {})", stack.env_file.display()));
    println!("{line}");
    tokio::select! {
        () = ovu_kit::http::shutdown_signal() => {
            stack.stop().await?;
            println!("ovu-stack stopped");
            Ok(())
        }
        name = stack.ended() => {
            stack.stop().await?;
            anyhow::bail!("{name} stopped by itself")
        }
    }
}
