//! JSON Lines export: `people.jsonl` (one person a line) and `cards.jsonl` (one card a line),
//! plain field names, for bank engineers loading the population into their own test systems.
//! Written synchronously by the generator thread under `.partial` names, renamed when complete.

use super::population::Person;
use super::{GenError, fmt_date};
use chaka_core::{CardKind, CardStatus, Sex};
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// File name of the people export.
pub const PEOPLE_FILE: &str = "people.jsonl";
/// File name of the cards export.
pub const CARDS_FILE: &str = "cards.jsonl";

#[derive(Serialize)]
struct PersonLine<'a> {
    id_number: &'a str,
    name: &'a str,
    sex: Sex,
    birth_date: String,
    region: &'a str,
    region_name: &'a str,
    phone: &'a str,
    id_doc_expires: String,
    previous_phone: Option<&'a str>,
}

#[derive(Serialize)]
struct CardLine<'a> {
    id_number: &'a str,
    bank: &'a str,
    pan: &'a str,
    kind: CardKind,
    status: CardStatus,
    reserved_phone: Option<&'a str>,
    cnp_enabled: bool,
    opened: String,
    last_active: Option<String>,
    product: &'a str,
    bank_id_doc_expires: String,
}

struct Out {
    file: BufWriter<File>,
    partial: PathBuf,
    path: PathBuf,
}

impl Out {
    fn create(dir: &Path, name: &str) -> Result<Self, GenError> {
        let path = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        let file = File::create(&partial).map_err(GenError::io(&partial))?;
        Ok(Self {
            file: BufWriter::with_capacity(1 << 20, file),
            partial,
            path,
        })
    }

    fn line(&mut self, value: &impl Serialize) -> Result<(), GenError> {
        serde_json::to_writer(&mut self.file, value)
            .map_err(|e| GenError::io(&self.partial)(e.into()))?;
        self.file
            .write_all(b"\n")
            .map_err(GenError::io(&self.partial))
    }

    fn finish(self) -> Result<(), GenError> {
        let file = self
            .file
            .into_inner()
            .map_err(|e| GenError::io(&self.partial)(e.into_error()))?;
        file.sync_all().map_err(GenError::io(&self.partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(GenError::io(&self.path))
    }
}

/// Writes both JSON Lines files.
pub(crate) struct JsonlWriter {
    people: Out,
    cards: Out,
}

impl JsonlWriter {
    pub(crate) fn create(dir: &Path) -> Result<Self, GenError> {
        Ok(Self {
            people: Out::create(dir, PEOPLE_FILE)?,
            cards: Out::create(dir, CARDS_FILE)?,
        })
    }

    pub(crate) fn write(&mut self, p: &Person) -> Result<(), GenError> {
        let region = p.id_number.region();
        self.people.line(&PersonLine {
            id_number: p.id_number.as_str(),
            name: &p.name,
            sex: p.sex,
            birth_date: fmt_date(p.birth_date),
            region: &region.prefix,
            region_name: &region.name_en,
            phone: p.phone.as_str(),
            id_doc_expires: fmt_date(p.id_doc_expires),
            previous_phone: p.previous_phone.as_ref().map(|x| x.as_str()),
        })?;
        for c in &p.cards {
            let on_file = p
                .bank_records
                .iter()
                .find(|r| std::ptr::eq(r.bank, c.bank))
                .map_or(p.id_doc_expires, |r| r.id_doc_expires);
            self.cards.line(&CardLine {
                id_number: p.id_number.as_str(),
                bank: c.bank.code.as_str(),
                pan: c.pan.as_str(),
                kind: c.kind,
                status: c.status,
                reserved_phone: c.reserved_phone.as_ref().map(|x| x.as_str()),
                cnp_enabled: c.cnp_enabled,
                opened: c.opened.to_string(),
                last_active: c.last_active.map(|m| m.to_string()),
                product: c.product,
                bank_id_doc_expires: fmt_date(on_file),
            })?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<(), GenError> {
        self.people.finish()?;
        self.cards.finish()
    }
}
