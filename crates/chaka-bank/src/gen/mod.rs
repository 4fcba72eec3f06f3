//! The synthetic population generator behind `chaka gen`: deterministic from a seed (same seed,
//! size and reference date → byte-identical output), realistic (ID numbers across all regions
//! by census weight, names, real mobile segments, ≈ 6.5 cards per person on the banks' real
//! BINs by market share, and the realistic mess), streaming in chunks so memory stays flat.
//! Writes one card store per bank, the citizen registry, the demo people, a manifest, and
//! optionally JSON Lines. It must not read the clock: the reference date is a parameter.
//! The model is documented in `docs/population.md`, the demo people in `docs/demo-people.md`.

mod alloc;
mod demo;
mod jsonl;
mod market;
mod names;
mod person;
mod places;
mod population;
mod run;
mod sample;
mod stats;

pub use demo::{DEMO_PEOPLE, DemoCard, DemoPerson};
pub use jsonl::{CARDS_FILE, PEOPLE_FILE};
pub use person::LONG_TERM;
pub use population::{BankRecord, Card, Person, Population};
pub use run::{BankEntry, Manifest, generate};
pub use stats::MessStats;

use crate::store::StoreError;
use chaka_core::BankCode;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use time::{Date, Month};

/// The default reference date ("today" for ages, card dates and expiries): fixed, so that runs
/// are reproducible.
pub const DEFAULT_AS_OF: Date = match Date::from_calendar_date(2026, Month::November, 1) {
    Ok(d) => d,
    Err(_) => Date::MIN,
};

/// The largest population accepted.
pub const MAX_PEOPLE: u64 = 100_000_000;

/// File names inside the output directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The citizen registry.
pub const CITIZENS_FILE: &str = "citizens.sqlite";
/// The demo people.
pub const DEMO_FILE: &str = "demo-people.json";
/// The folder of card stores (`banks/<CODE>.sqlite`).
pub const BANKS_DIR: &str = "banks";

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Card stores and the citizen registry (the default).
    Sqlite,
    /// `people.jsonl` and `cards.jsonl` only.
    Jsonl,
    /// Both.
    Both,
}

/// A generation run.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Seed of all randomness.
    pub seed: u64,
    /// Number of people (the first [`DEMO_PEOPLE`] are the demo people).
    pub people: u64,
    /// Output directory.
    pub out: PathBuf,
    /// Banks to write card stores for; `None`: every bank that issues cards in the model.
    pub banks: Option<Vec<BankCode>>,
    /// What to write.
    pub format: OutputFormat,
    /// Reference date.
    pub as_of: Date,
    /// Replace an existing generated population in `out`.
    pub force: bool,
}

impl GenOptions {
    /// Options with defaults: all banks, SQLite, [`DEFAULT_AS_OF`], no force.
    pub fn new(seed: u64, people: u64, out: impl Into<PathBuf>) -> Self {
        Self {
            seed,
            people,
            out: out.into(),
            banks: None,
            format: OutputFormat::Sqlite,
            as_of: DEFAULT_AS_OF,
            force: false,
        }
    }
}

/// Why a generation run failed. Messages carry no personal data.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// `--people` out of range.
    #[error("the number of people must be between 1 and {MAX_PEOPLE}")]
    People,
    /// A bank code that is not in the registry.
    #[error("unknown bank code {0}")]
    UnknownBank(String),
    /// The output directory already holds a generated population.
    #[error("{0} already holds a generated population; pass --force to replace it")]
    OutputExists(PathBuf),
    /// The reference date is too early or too late.
    #[error("the reference date is out of range")]
    AsOf,
    /// A space of unique numbers ran out.
    #[error("ran out of unique {0}")]
    Exhausted(&'static str),
    /// The demo people table does not fit the registries (a bug).
    #[error("the demo people do not fit the bank or region registry")]
    Demo,
    /// The generator thread stopped unexpectedly.
    #[error("the generator thread failed")]
    Worker,
    /// A file could not be written.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A card store or the citizen registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GenError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenError + '_ {
        move |source| GenError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn fmt_date(d: Date) -> String {
    crate::store::fmt_date(d)
}
