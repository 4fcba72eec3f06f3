//! `chaka gen` (placeholder until the generator's CLI lands).
use clap::Args;

/// Generate a population.
#[derive(Debug, Args)]
pub struct GenArgs {}

/// Runs `chaka gen`.
pub async fn run(_args: GenArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}

/// Generates with a progress bar.
pub async fn generate_with_bar(options: &chaka_bank::r#gen::GenOptions) -> anyhow::Result<()> {
    chaka_bank::r#gen::generate(options, &|_, _| {}).await?;
    Ok(())
}
