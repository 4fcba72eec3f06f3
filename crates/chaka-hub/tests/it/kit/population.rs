//! The generated population shared by the test binary: card stores for [`BANKS`], the citizen
//! registry and the JSON Lines export, with the listing rules to check reports against.

use super::BANKS;
use chaka_bank::r#gen::{GenOptions, OutputFormat};
use chaka_core::BankCode;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The name of a population folder starts so (under `CARGO_TARGET_TMPDIR`).
const PREFIX: &str = "api-population-";
use time::Date;

/// A person of the generated population (`people.jsonl`).
#[derive(Debug, Clone, Deserialize)]
pub struct Person {
    pub id_number: String,
    pub name: String,
    pub region: String,
    pub phone: String,
}

/// A card of the generated population (`cards.jsonl`).
#[derive(Debug, Clone, Deserialize)]
pub struct Card {
    pub id_number: String,
    pub bank: String,
    pub pan: String,
    pub kind: String,
    pub status: String,
    pub reserved_phone: Option<String>,
    pub cnp_enabled: bool,
    pub bank_id_doc_expires: String,
}

impl Card {
    /// The listing rules: not closed, the reserved phone is the person's current phone, the
    /// ID document on file has not expired, card-not-present enabled.
    pub fn is_listed(&self, phone: &str, today: Date) -> bool {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let expires = Date::parse(&self.bank_id_doc_expires, &format).unwrap();
        self.status != "closed"
            && self.reserved_phone.as_deref() == Some(phone)
            && expires >= today
            && self.cnp_enabled
    }
}

/// The generated population, shared by every test of the binary.
pub struct Population {
    pub dir: PathBuf,
    pub people: Vec<Person>,
    pub cards: Vec<Card>,
}

fn lines<T: for<'de> Deserialize<'de>>(path: PathBuf) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Generates (once per test binary) 300 people with card stores for [`BANKS`], the citizen
/// registry and the JSON Lines export.
pub fn population() -> &'static Population {
    static POPULATION: OnceLock<Population> = OnceLock::new();
    POPULATION.get_or_init(|| {
        remove_stale(Path::new(env!("CARGO_TARGET_TMPDIR")));
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let mut options = GenOptions::new(20261128, 300, &dir);
        options.banks = Some(BANKS.iter().map(|b| BankCode::parse(b).unwrap()).collect());
        options.format = OutputFormat::Both;
        // Its own thread and runtime: the population outlives the test that made it.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime
                .block_on(chaka_bank::r#gen::generate(&options, &|_, _| {}))
                .unwrap();
        })
        .join()
        .unwrap();
        Population {
            people: lines(dir.join(chaka_bank::r#gen::PEOPLE_FILE)),
            cards: lines(dir.join(chaka_bank::r#gen::CARDS_FILE)),
            dir,
        }
    })
}

/// Removes the populations of earlier runs (a run keeps its own while it lasts; none lasts an
/// hour).
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let ours = entry.file_name().to_string_lossy().starts_with(PREFIX);
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if ours && age.is_some_and(|age| age > Duration::from_secs(3600)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Demo person `i` (0: Shanghai, 8 cards; 3: Beijing, region not open; 4: no cards).
pub fn person(i: usize) -> Person {
    population().people[i].clone()
}
