//! `chaka bank`: runs the reference bank node from a configuration file, with flags that
//! override the file's values (or supply them all, without a file).

use anyhow::{Context, bail};
use chaka_bank::node::{AnswerMode, BankNode, NodeConfig, NodeSettings, TrustedKey};
use chaka_core::{BankCode, SystemClock};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Serve protocol v1 for one bank over its card store.
#[derive(Debug, Args)]
pub struct BankArgs {
    /// Configuration file (TOML; see docs/bank-node.md). Flags below override its values.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The bank code, e.g. ICBC.
    #[arg(long)]
    bank: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:7101.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The card store written by `chaka gen` (e.g. pop/banks/ICBC.sqlite).
    #[arg(long)]
    store: Option<PathBuf>,
    /// The key id of the node's signing key.
    #[arg(long)]
    key_id: Option<String>,
    /// The node's signing key (PKCS#8 PEM, from `chaka keys ed25519`).
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// A hub key to trust, as KEY_ID=PUBLIC_KEY (repeatable).
    #[arg(long = "trust", value_name = "KEY_ID=PUBLIC_KEY")]
    trust: Vec<String>,
    /// Answer at once (`immediate`) or accept and call back later (`callback`).
    #[arg(long, value_parser = parse_mode)]
    answer_mode: Option<AnswerMode>,
    /// In callback mode, seconds before calling back.
    #[arg(long)]
    callback_delay_secs: Option<u64>,
}

fn parse_mode(s: &str) -> Result<AnswerMode, String> {
    match s {
        "immediate" => Ok(AnswerMode::Immediate),
        "callback" => Ok(AnswerMode::Callback),
        _ => Err("expected `immediate` or `callback`".into()),
    }
}

/// Runs `chaka bank` until Ctrl-C or SIGTERM.
pub async fn run(args: BankArgs) -> anyhow::Result<()> {
    crate::logging::init();
    let config = resolve(args)?;
    let settings = NodeSettings::from_config(&config, Arc::new(SystemClock)).await?;
    let node = BankNode::new(settings)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(bank = %config.bank, address = %local, mode = ?config.answer_mode, "bank node listening");
    println!("chaka bank {} listening on http://{local}", config.bank);
    node.serve(listener, shutdown_signal()).await?;
    Ok(())
}

fn resolve(args: BankArgs) -> anyhow::Result<NodeConfig> {
    let mut config = match &args.config {
        Some(path) => NodeConfig::load(path)?,
        None => {
            let (Some(bank), Some(store), Some(key_id), Some(signing_key)) =
                (&args.bank, &args.store, &args.key_id, &args.signing_key)
            else {
                bail!(
                    "without --config, give --bank, --store, --key-id, --signing-key and at least one --trust"
                );
            };
            NodeConfig {
                bank: BankCode::parse(bank).context("--bank")?,
                listen: SocketAddr::from(([127, 0, 0, 1], 7100)),
                store: store.clone(),
                key_id: key_id.clone(),
                signing_key: signing_key.clone(),
                trusted_hub_keys: Vec::new(),
                answer_mode: AnswerMode::Immediate,
                callback_delay_secs: 0,
                faults: Default::default(),
            }
        }
    };
    if let Some(bank) = &args.bank {
        config.bank = BankCode::parse(bank).context("--bank")?;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(store) = args.store {
        config.store = store;
    }
    if let Some(key_id) = args.key_id {
        config.key_id = key_id;
    }
    if let Some(key) = args.signing_key {
        config.signing_key = key;
    }
    for t in &args.trust {
        let Some((key_id, public_key)) = t.split_once('=') else {
            bail!("--trust expects KEY_ID=PUBLIC_KEY");
        };
        config.trusted_hub_keys.push(TrustedKey {
            key_id: key_id.to_owned(),
            public_key: public_key.to_owned(),
            not_after: None,
        });
    }
    if let Some(mode) = args.answer_mode {
        config.answer_mode = mode;
    }
    if let Some(delay) = args.callback_delay_secs {
        config.callback_delay_secs = delay;
    }
    config.validate()?;
    Ok(config)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
