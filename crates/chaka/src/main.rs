//! `chaka` (查卡): the command line. Wiring only: each subcommand parses its flags, builds the
//! pieces from the library crates and runs them. Errors end as one line on stderr and a
//! non-zero exit status.

mod cmd;
mod logging;
mod walkthrough;
mod world;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// chaka (查卡): see every bank card that exists in your name, across banks, in one request.
#[derive(Debug, Parser)]
#[command(name = "chaka", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole world on this machine: a synthetic population, bank nodes over real HTTP,
    /// and a signed, sealed lookup for a demo person.
    Demo(cmd::demo::DemoArgs),
    /// Run the hub: accounts, consent, PIN, fan-out to banks, sealed reports, SMS, retention.
    Hub(cmd::hub::HubArgs),
    /// Serve protocol v1 as the reference bank node over a card store.
    Bank(cmd::bank::BankArgs),
    /// Generate a deterministic synthetic population: card stores, citizen registry, JSON Lines.
    Gen(cmd::generate::GenArgs),
    /// Create signing keys (Ed25519) for hubs and bank nodes.
    Keys(cmd::keys::KeysArgs),
    /// Measure throughput and print figures.
    Bench(cmd::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Hub(args) => cmd::hub::run(args).await,
            Command::Bank(args) => cmd::bank::run(args).await,
            Command::Gen(args) => cmd::generate::run(args).await,
            Command::Keys(args) => cmd::keys::run(args),
            Command::Bench(args) => cmd::bench::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, none of which carry personal data.
            let mut line = e.to_string();
            for cause in e.chain().skip(1) {
                line.push_str(": ");
                line.push_str(&cause.to_string());
            }
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}
