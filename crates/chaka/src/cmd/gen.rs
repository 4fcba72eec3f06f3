//! `chaka gen`: generates a deterministic synthetic population (card stores per bank, the
//! citizen registry, the demo people, optionally JSON Lines) with a progress bar. Wiring only:
//! the model lives in `chaka_bank::gen`.

use anyhow::Context;
use chaka_bank::r#gen::{DEFAULT_AS_OF, GenOptions, MAX_PEOPLE, Manifest, OutputFormat, generate};
use chaka_core::BankCode;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

/// Generate a deterministic synthetic population.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Seed of all randomness: the same seed, size and date give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of people (the first 7 are the documented demo people).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=MAX_PEOPLE))]
    people: u64,
    /// Output directory (banks/<CODE>.sqlite, citizens.sqlite, demo-people.json, manifest.json).
    #[arg(long)]
    out: PathBuf,
    /// Only write card stores for these banks (comma-separated codes, e.g. ICBC,CMB); the
    /// population itself does not change. Default: every bank that issues cards.
    #[arg(long, value_delimiter = ',', value_parser = parse_bank)]
    banks: Option<Vec<BankCode>>,
    /// What to write: SQLite stores, JSON Lines (people.jsonl, cards.jsonl), or both.
    #[arg(long, value_enum, default_value_t = Format::Sqlite)]
    format: Format,
    /// The reference date ("today") for ages, card dates and document expiries (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    as_of: Option<time::Date>,
    /// Replace a population already generated in the output directory.
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Output format on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Card stores and the citizen registry.
    Sqlite,
    /// people.jsonl and cards.jsonl only.
    Jsonl,
    /// Both.
    Both,
}

fn parse_bank(s: &str) -> Result<BankCode, String> {
    BankCode::parse(s.trim()).map_err(|e| e.to_string())
}

fn parse_date(s: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, format).map_err(|_| "expected a date as YYYY-MM-DD".to_owned())
}

/// Runs `chaka gen`.
pub async fn run(args: GenArgs) -> anyhow::Result<()> {
    let mut options = GenOptions::new(args.seed, args.people, &args.out);
    options.banks = args.banks;
    options.format = match args.format {
        Format::Sqlite => OutputFormat::Sqlite,
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Both => OutputFormat::Both,
    };
    options.as_of = args.as_of.unwrap_or(DEFAULT_AS_OF);
    options.force = args.force;
    let started = Instant::now();
    let manifest = if args.quiet {
        generate(&options, &|_, _| {}).await?
    } else {
        generate_with_bar(&options).await?
    };
    let seconds = started.elapsed().as_secs_f64();
    let stores = manifest.banks.iter().filter(|b| b.store.is_some()).count();
    println!(
        "{} people, {} cards ({:.2} per person), {} card stores in {} ({:.1} s)",
        manifest.people,
        manifest.cards,
        manifest.cards as f64 / manifest.people as f64,
        stores,
        args.out.display(),
        seconds
    );
    Ok(())
}

/// Generates with a progress bar on stderr (hidden when stderr is not a terminal).
pub async fn generate_with_bar(options: &GenOptions) -> anyhow::Result<Manifest> {
    let bar = ProgressBar::new(options.people);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} generating [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} people ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = generate(options, &|done, _| bar.set_position(done)).await;
    bar.finish_and_clear();
    result.with_context(|| format!("generating a population in {}", options.out.display()))
}
