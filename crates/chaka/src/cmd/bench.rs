//! `chaka bench`: measurements that print figures.
use clap::Args;

/// Measure throughput and print figures.
#[derive(Debug, Args)]
pub struct BenchArgs {}

/// Runs `chaka bench`.
pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
