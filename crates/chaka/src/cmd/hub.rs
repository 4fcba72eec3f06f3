//! `chaka hub`: runs the hub from `chaka.toml` (or defaults) and `CHAKA_*` variables until
//! Ctrl-C or SIGTERM, then stops claiming work and lets in-flight work finish.

use anyhow::Context;
use chaka_core::SystemClock;
use chaka_hub::config::HubConfig;
use chaka_hub::runtime::Runtime;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

/// Run the hub: the API, the fan-out to banks, the SMS notifier and the retention sweeper.
#[derive(Debug, Args)]
pub struct HubArgs {
    /// Configuration file (see docs/hub.md and examples/chaka.toml).
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<HubCommand>,
}

#[derive(Debug, Subcommand)]
enum HubCommand {
    /// Print the effective configuration (secrets live in their own file and are never printed).
    Config,
}

/// Runs `chaka hub`.
pub async fn run(args: HubArgs) -> anyhow::Result<()> {
    let config = HubConfig::load(args.config.as_deref())?;
    if let Some(HubCommand::Config) = args.command {
        print!("{}", config.masked());
        return Ok(());
    }
    crate::logging::init();
    let listen = config.listen;
    let (runtime, router) = Runtime::start(config, Arc::new(SystemClock), None).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!(
        "chaka hub listening on http://{} (API docs at /api/docs)",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::cmd::bank::shutdown_signal())
        .await?;
    runtime.shutdown().await;
    Ok(())
}
