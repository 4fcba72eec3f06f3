//! `chaka hub`: runs the hub from `chaka.toml` (or defaults) and `CHAKA_*` variables until
//! Ctrl-C or SIGTERM, then stops claiming work at once, lets in-flight work finish (or releases
//! it) and answers the requests already received, within bounded grace periods.

use anyhow::Context;
use chaka_core::SystemClock;
use chaka_hub::config::HubConfig;
use chaka_hub::runtime::Runtime;
use clap::{Args, Subcommand};
use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    // On Ctrl-C or SIGTERM the fan-out stops claiming at once (it does not wait for HTTP
    // clients to go): in-flight batches finish within its grace period or their legs are
    // released, while the server answers the requests it has and accepts no more, for at most
    // DRAIN.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let stop_serving = stopping.clone();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop_serving.notified().await })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => {
            runtime.shutdown().await;
            served?;
        }
        () = crate::cmd::bank::shutdown_signal() => {
            stopping.notify_one();
            let (served, ()) = tokio::join!(
                tokio::time::timeout(DRAIN, &mut server),
                runtime.shutdown()
            );
            match served {
                Ok(served) => served?,
                Err(_) => tracing::warn!("open HTTP connections cut after the drain period"),
            }
        }
    }
    Ok(())
}

/// How long a stopping hub keeps answering requests already received.
const DRAIN: Duration = Duration::from_secs(10);
