//! One generation run end to end: validate, prepare the output directory, stream the
//! population from a generator thread (which also writes JSON Lines) to the SQLite writers, then
//! seal every file and write the demo people and the manifest last, so that a directory with a
//! `manifest.json` is always complete.

use super::demo::{DEMO_PEOPLE, describe};
use super::jsonl::{CARDS_FILE, JsonlWriter, PEOPLE_FILE};
use super::population::{Person, Population, market};
use super::stats::MessStats;
use super::{
    BANKS_DIR, CITIZENS_FILE, DEMO_FILE, GenError, GenOptions, MANIFEST_FILE, MAX_PEOPLE,
    OutputFormat, fmt_date,
};
use crate::store::citizens::{CitizenWriter, NewCitizen};
use crate::store::{NewCard, NewHolder, StoreWriter};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// People per chunk. Fixed: transaction boundaries are part of the byte-identical output.
const CHUNK: usize = 4096;

/// What a run wrote (`manifest.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Generator name and format version.
    pub generator: String,
    /// Seed.
    pub seed: u64,
    /// People.
    pub people: u64,
    /// Reference date.
    pub as_of: String,
    /// What was written.
    pub format: OutputFormat,
    /// Cards over all banks.
    pub cards: u64,
    /// Per bank that issues cards (or was asked for): counts and the store file, if written.
    pub banks: Vec<BankEntry>,
    /// The citizen registry file, if written.
    pub citizens: Option<String>,
    /// The JSON Lines files, if written.
    pub jsonl: Option<Vec<String>>,
    /// The demo people file.
    pub demo_people: String,
    /// How much of the realistic mess there is.
    pub stats: MessStats,
}

/// One bank in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BankEntry {
    /// Bank code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// Holders (people with at least one card there).
    pub holders: u64,
    /// Cards.
    pub cards: u64,
    /// Relative path of the card store, if written.
    pub store: Option<String>,
    /// Size of the store file in bytes.
    pub bytes: Option<u64>,
}

/// Runs a generation; `progress(done, total)` is called after each chunk of people is written.
pub async fn generate(
    opts: &GenOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Manifest, GenError> {
    if !(1..=MAX_PEOPLE).contains(&opts.people) {
        return Err(GenError::People);
    }
    let m = market();
    let selected: Vec<usize> = match &opts.banks {
        Some(codes) => codes
            .iter()
            .map(|c| {
                m.bank_index(c.as_str())
                    .map(usize::from)
                    .ok_or_else(|| GenError::UnknownBank(c.as_str().to_owned()))
            })
            .collect::<Result<_, _>>()?,
        None => (0..m.banks.len()).filter(|i| m.issues(*i)).collect(),
    };
    prepare_dir(&opts.out, opts.force).await?;
    let sqlite = opts.format != OutputFormat::Jsonl;
    let meta = vec![
        ("generator", generator_name()),
        ("generator_seed", opts.seed.to_string()),
        ("people", opts.people.to_string()),
        ("as_of", fmt_date(opts.as_of)),
    ];
    let mut stores: Vec<Option<StoreWriter>> = (0..m.banks.len()).map(|_| None).collect();
    let mut citizens = None;
    if sqlite {
        for &i in &selected {
            let code = &m.banks[i].code;
            let path = opts
                .out
                .join(BANKS_DIR)
                .join(format!("{}.sqlite", code.as_str()));
            stores[i] = Some(StoreWriter::create(&path, code, &meta, opts.as_of).await?);
        }
        let path = opts.out.join(CITIZENS_FILE);
        citizens = Some(CitizenWriter::create(&path, &meta, opts.as_of).await?);
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Person>>(2);
    let (seed, people, as_of, out) = (opts.seed, opts.people, opts.as_of, opts.out.clone());
    let jsonl = opts.format != OutputFormat::Sqlite;
    let producer =
        tokio::task::spawn_blocking(move || produce(seed, people, as_of, &out, jsonl, &tx));

    let consumed: Result<(), GenError> = async {
        let mut done = 0u64;
        while let Some(chunk) = rx.recv().await {
            write_chunk(&chunk, &mut stores, citizens.as_mut()).await?;
            done += chunk.len() as u64;
            progress(done, people);
        }
        Ok(())
    }
    .await;
    rx.close();
    let produced = producer.await.map_err(|_| GenError::Worker)?;
    consumed?;
    let Produced {
        stats,
        demo,
        per_bank,
    } = produced?;

    let mut written = Vec::new();
    for (i, s) in stores.into_iter().enumerate() {
        if let Some(s) = s {
            written.push((i, s.finish().await?));
        }
    }
    let citizens = match citizens {
        Some(c) => {
            c.finish().await?;
            Some(CITIZENS_FILE.to_owned())
        }
        None => None,
    };
    let banks = m
        .banks
        .iter()
        .enumerate()
        .filter(|(i, _)| per_bank[*i].1 > 0 || selected.contains(i))
        .map(|(i, b)| {
            let w = written.iter().find(|(j, _)| *j == i).map(|(_, w)| w);
            BankEntry {
                code: b.code.as_str().to_owned(),
                name: b.name_zh.clone(),
                holders: per_bank[i].0,
                cards: per_bank[i].1,
                store: w.map(|_| format!("{BANKS_DIR}/{}.sqlite", b.code.as_str())),
                bytes: w.map(|w| w.bytes),
            }
        })
        .collect();
    write_json(&opts.out.join(DEMO_FILE), &describe(&demo)).await?;
    let manifest = Manifest {
        generator: generator_name(),
        seed: opts.seed,
        people: opts.people,
        as_of: fmt_date(opts.as_of),
        format: opts.format,
        cards: stats.cards,
        banks,
        citizens,
        jsonl: jsonl.then(|| vec![PEOPLE_FILE.to_owned(), CARDS_FILE.to_owned()]),
        demo_people: DEMO_FILE.to_owned(),
        stats,
    };
    write_json(&opts.out.join(MANIFEST_FILE), &manifest).await?;
    Ok(manifest)
}

fn generator_name() -> String {
    format!("chaka-gen/{}", env!("CARGO_PKG_VERSION"))
}

struct Produced {
    stats: MessStats,
    demo: Vec<Person>,
    /// Per bank: (holders, cards).
    per_bank: Vec<(u64, u64)>,
}

/// The generator thread: people in order, JSON Lines, statistics; chunks go to the writers.
fn produce(
    seed: u64,
    people: u64,
    as_of: time::Date,
    out: &Path,
    jsonl: bool,
    tx: &tokio::sync::mpsc::Sender<Vec<Person>>,
) -> Result<Produced, GenError> {
    let m = market();
    let mut population = Population::new(seed, people, as_of)?;
    let mut lines = if jsonl {
        Some(JsonlWriter::create(out)?)
    } else {
        None
    };
    let mut stats = MessStats::default();
    let mut demo = Vec::new();
    let mut per_bank = vec![(0u64, 0u64); m.banks.len()];
    loop {
        let chunk = population.next_chunk(CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        for p in &chunk {
            stats.add(p, as_of);
            if let Some(l) = lines.as_mut() {
                l.write(p)?;
            }
            for r in &p.bank_records {
                per_bank[usize::from(r.bank_index)].0 += 1;
            }
            for c in &p.cards {
                per_bank[usize::from(c.bank_index)].1 += 1;
            }
            if p.index < DEMO_PEOPLE as u64 {
                demo.push(p.clone());
            }
        }
        if tx.blocking_send(chunk).is_err() {
            // The writers stopped (their error is reported); stop generating.
            return Err(GenError::Worker);
        }
    }
    if let Some(l) = lines {
        l.finish()?;
    }
    Ok(Produced {
        stats,
        demo,
        per_bank,
    })
}

async fn write_chunk(
    chunk: &[Person],
    stores: &mut [Option<StoreWriter>],
    citizens: Option<&mut CitizenWriter>,
) -> Result<(), GenError> {
    let mut holders: Vec<Vec<NewHolder<'_>>> = stores.iter().map(|_| Vec::new()).collect();
    let mut cards: Vec<Vec<NewCard<'_>>> = stores.iter().map(|_| Vec::new()).collect();
    for p in chunk {
        let holder_id = p.index as i64;
        for r in &p.bank_records {
            if let Some(h) = holders.get_mut(usize::from(r.bank_index)) {
                h.push(NewHolder {
                    holder_id,
                    id_number: &p.id_number,
                    name: &p.name,
                    id_doc_expires: r.id_doc_expires,
                });
            }
        }
        for c in &p.cards {
            if let Some(v) = cards.get_mut(usize::from(c.bank_index)) {
                v.push(NewCard {
                    holder_id,
                    pan: &c.pan,
                    kind: c.kind,
                    status: c.status,
                    reserved_phone: c.reserved_phone.as_ref(),
                    cnp_enabled: c.cnp_enabled,
                    opened: c.opened,
                    last_active: c.last_active,
                    product: c.product,
                });
            }
        }
    }
    let rows: Vec<NewCitizen<'_>> = chunk
        .iter()
        .map(|p| NewCitizen {
            id_number: &p.id_number,
            name: &p.name,
            phone: &p.phone,
            id_doc_expires: p.id_doc_expires,
        })
        .collect();
    // Every file has its own connection and SQLite thread: write them all at once.
    let banks = futures_util::future::join_all(
        stores
            .iter_mut()
            .zip(&holders)
            .zip(&cards)
            .filter_map(|((s, h), c)| s.as_mut().map(|s| s.append(h, c))),
    );
    let registry = async {
        match citizens {
            Some(c) => c.append(&rows).await,
            None => Ok(()),
        }
    };
    let (banks, registry) = tokio::join!(banks, registry);
    registry?;
    banks.into_iter().collect::<Result<(), _>>()?;
    Ok(())
}

async fn write_json(path: &Path, value: &impl Serialize) -> Result<(), GenError> {
    let mut body = serde_json::to_vec_pretty(value).map_err(|e| GenError::io(path)(e.into()))?;
    body.push(b'\n');
    let partial = path.with_extension("json.partial");
    tokio::fs::write(&partial, &body)
        .await
        .map_err(GenError::io(&partial))?;
    tokio::fs::rename(&partial, path)
        .await
        .map_err(GenError::io(path))
}

/// Creates `out`, or checks it holds no generated population (removing ours with `force`).
async fn prepare_dir(out: &Path, force: bool) -> Result<(), GenError> {
    tokio::fs::create_dir_all(out)
        .await
        .map_err(GenError::io(out))?;
    let banks = out.join(BANKS_DIR);
    let mut ours = Vec::new();
    for name in [
        MANIFEST_FILE,
        CITIZENS_FILE,
        DEMO_FILE,
        PEOPLE_FILE,
        CARDS_FILE,
    ] {
        let p = out.join(name);
        if tokio::fs::try_exists(&p).await.unwrap_or(false) {
            ours.push(p);
        }
    }
    if let Ok(mut entries) = tokio::fs::read_dir(&banks).await {
        while let Ok(Some(e)) = entries.next_entry().await {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".sqlite") {
                ours.push(e.path());
            }
        }
    }
    let complete = ours
        .iter()
        .any(|p| !p.to_string_lossy().ends_with(".partial"));
    if complete && !force {
        return Err(GenError::OutputExists(out.to_owned()));
    }
    let mut entries = tokio::fs::read_dir(out).await.map_err(GenError::io(out))?;
    while let Ok(Some(e)) = entries.next_entry().await {
        if e.file_name().to_string_lossy().ends_with(".partial") {
            ours.push(e.path());
        }
    }
    for p in ours {
        tokio::fs::remove_file(&p).await.map_err(GenError::io(&p))?;
    }
    Ok(())
}
