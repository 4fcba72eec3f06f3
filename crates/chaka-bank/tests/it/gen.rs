//! The generator end to end: determinism, validity of every number, realism of the mix, the
//! realistic mess, the demo people, and argument validation.

use chaka_bank::r#gen::{
    DEFAULT_AS_OF, GenError, GenOptions, MessStats, OutputFormat, Population, generate,
};
use chaka_core::{BankCode, BankRegistry, CardNumber, IdNumber, Phone, luhn_valid};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

fn no_progress(_: u64, _: u64) {}

async fn run(
    seed: u64,
    people: u64,
    dir: &Path,
    format: OutputFormat,
) -> chaka_bank::r#gen::Manifest {
    let mut o = GenOptions::new(seed, people, dir);
    o.format = format;
    generate(&o, &no_progress).await.unwrap()
}

/// SHA-256 of every file under `dir`, by relative path.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let digest = Sha256::digest(std::fs::read(&p).unwrap());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                out.insert(rel, hex);
            }
        }
    }
    out
}

fn population(seed: u64, people: u64) -> Vec<chaka_bank::r#gen::Person> {
    let mut p = Population::new(seed, people, DEFAULT_AS_OF).unwrap();
    let mut all = Vec::new();
    loop {
        let chunk = p.next_chunk(1000).unwrap();
        if chunk.is_empty() {
            return all;
        }
        all.extend(chunk);
    }
}

#[tokio::test]
async fn same_seed_and_size_give_byte_identical_output() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run(7, 500, a.path(), OutputFormat::Both).await;
    run(7, 500, b.path(), OutputFormat::Both).await;
    let (ha, hb) = (hashes(a.path()), hashes(b.path()));
    assert!(ha.contains_key("banks/ICBC.sqlite"));
    assert!(ha.contains_key("citizens.sqlite"));
    assert!(ha.contains_key("people.jsonl"));
    assert!(ha.contains_key("cards.jsonl"));
    assert!(
        !ha.keys()
            .any(|k| k.ends_with(".partial") || k.ends_with("-wal"))
    );
    assert_eq!(ha, hb);
}

#[tokio::test]
async fn a_different_seed_gives_a_different_population_with_the_same_demo_people() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run(1, 300, a.path(), OutputFormat::Jsonl).await;
    run(2, 300, b.path(), OutputFormat::Jsonl).await;
    let (ha, hb) = (hashes(a.path()), hashes(b.path()));
    assert_ne!(ha["people.jsonl"], hb["people.jsonl"]);
    assert_ne!(ha["cards.jsonl"], hb["cards.jsonl"]);
    assert_eq!(ha["demo-people.json"], hb["demo-people.json"]);
    // JSON Lines only: no stores.
    assert!(!a.path().join("banks").exists());
    assert!(!a.path().join("citizens.sqlite").exists());
}

#[test]
fn every_number_is_valid_unique_and_on_its_bank() {
    let registry = BankRegistry::builtin();
    let people = population(11, 3000);
    let (mut ids, mut phones, mut pans) = (HashSet::new(), HashSet::new(), HashSet::new());
    for p in &people {
        let id = IdNumber::parse_on(p.id_number.as_str(), DEFAULT_AS_OF).unwrap();
        assert!(ids.insert(id.as_str().to_owned()), "duplicate ID number");
        assert!(
            phones.insert(p.phone.as_str().to_owned()),
            "duplicate phone"
        );
        let age = DEFAULT_AS_OF.year() - p.birth_date.year();
        assert!((18..=86).contains(&age));
        for c in &p.cards {
            let pan = CardNumber::parse(c.pan.as_str()).unwrap();
            assert!(luhn_valid(pan.as_str()));
            assert!(
                pans.insert(pan.as_str().to_owned()),
                "duplicate card number"
            );
            assert_eq!(
                registry.issuer_of(&pan).map(|b| &b.code),
                Some(&c.bank.code)
            );
            let bin = c
                .bank
                .bins
                .iter()
                .filter(|b| {
                    usize::from(b.length) == pan.len() && pan.as_str().starts_with(&b.prefix)
                })
                .max_by_key(|b| b.prefix.len())
                .unwrap();
            assert_eq!(bin.kind, c.kind);
            assert!((13..=19).contains(&pan.len()));
            if let Some(phone) = &c.reserved_phone {
                assert!(Phone::parse(phone.as_str()).is_ok());
            }
        }
    }
}

#[test]
fn about_six_and_a_half_cards_per_person_with_a_long_tail() {
    let people = population(3, 10_000);
    let cards: usize = people.iter().map(|p| p.cards.len()).sum();
    let mean = cards as f64 / people.len() as f64;
    assert!((6.0..=7.0).contains(&mean), "mean {mean}");
    let max = people.iter().map(|p| p.cards.len()).max().unwrap_or(0);
    assert!(max >= 25, "max {max}");
}

#[test]
fn regions_follow_census_weights() {
    let people = population(5, 10_000);
    let mut counts: HashMap<String, u64> = HashMap::new();
    for p in &people {
        *counts
            .entry(p.id_number.region().prefix.clone())
            .or_default() += 1;
    }
    // 2020 census shares (%): Guangdong 8.9, Shandong 7.2, Henan 7.0, Shanghai 1.8, Tibet 0.26.
    for (prefix, share) in [
        ("44", 8.93),
        ("37", 7.2),
        ("41", 7.04),
        ("31", 1.76),
        ("51", 5.93),
    ] {
        let observed = *counts.get(prefix).unwrap_or(&0) as f64 / 100.0;
        assert!(
            (observed - share).abs() < share * 0.2 + 0.3,
            "{prefix}: {observed}% vs {share}%"
        );
    }
    assert!(counts.len() >= 30, "every region appears");
}

#[test]
fn the_realistic_mess_is_present() {
    let mut s = MessStats::default();
    for p in population(9, 10_000) {
        s.add(&p, DEFAULT_AS_OF);
    }
    let per_mille = |x: u64, of: u64| x * 1000 / of.max(1);
    assert!(per_mille(s.cards_without_reserved_phone, s.cards) >= 20);
    assert!(per_mille(s.cards_with_old_reserved_phone, s.cards) >= 20);
    assert!(per_mille(s.cards_cnp_disabled, s.cards) >= 30);
    assert!(per_mille(s.holder_records_id_doc_expired, s.holder_records) >= 10);
    assert!(s.people_id_doc_expired > 0);
    assert!(s.people_phone_changed > 500);
    assert!(s.people_without_cards > 0);
    for status in ["normal", "dormant", "frozen", "reported_lost", "closed"] {
        assert!(
            s.cards_by_status.get(status).copied().unwrap_or(0) > 0,
            "{status}"
        );
    }
    for kind in ["debit", "credit", "semi_credit", "prepaid"] {
        assert!(
            s.cards_by_kind.get(kind).copied().unwrap_or(0) > 0,
            "{kind}"
        );
    }
    assert!(s.cards_long_unused > 0);
    let listable = per_mille(s.cards_listable, s.cards);
    assert!((500..900).contains(&listable), "{listable}");
}

#[test]
fn people_whose_phone_changed_keep_the_old_one_on_older_cards() {
    let people = population(4, 3000);
    let changed: Vec<_> = people
        .iter()
        .filter(|p| p.previous_phone.is_some())
        .collect();
    assert!(!changed.is_empty());
    let mut old = 0;
    for p in changed {
        let mut seen_current = false;
        for c in &p.cards {
            if c.reserved_phone == p.previous_phone {
                old += 1;
                assert!(
                    !seen_current,
                    "an older number on a card newer than one with the new number"
                );
            } else if c.reserved_phone.as_ref() == Some(&p.phone) {
                seen_current = true;
            }
        }
    }
    assert!(old > 0);
}

#[tokio::test]
async fn demo_people_are_written_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    run(99, 50, dir.path(), OutputFormat::Sqlite).await;
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo-people.json")).unwrap())
            .unwrap();
    let demo = demo.as_array().unwrap();
    assert_eq!(demo.len(), chaka_bank::r#gen::DEMO_PEOPLE);
    // The documented first demo person (docs/demo-people.md).
    assert_eq!(demo[0]["name"], "王静");
    assert_eq!(demo[0]["phone"], "13817000001");
    assert_eq!(demo[0]["region"], "31");
    assert!(
        demo[0]["id_number"]
            .as_str()
            .unwrap()
            .starts_with("31010419880315124")
    );
    assert_eq!(demo[4]["cards"].as_array().unwrap().len(), 0);
    assert_eq!(demo[1]["region"], "53");
    assert_eq!(demo[3]["region"], "11");
    assert!(demo[2]["previous_phone"].is_string());
    // Fewer people than demo people: only the first ones.
    let small = tempfile::tempdir().unwrap();
    run(1, 3, small.path(), OutputFormat::Sqlite).await;
    let small: serde_json::Value =
        serde_json::from_slice(&std::fs::read(small.path().join("demo-people.json")).unwrap())
            .unwrap();
    assert_eq!(small.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn jsonl_has_plain_field_names_and_matches_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(5, 200, dir.path(), OutputFormat::Both).await;
    let people = std::fs::read_to_string(dir.path().join("people.jsonl")).unwrap();
    let cards = std::fs::read_to_string(dir.path().join("cards.jsonl")).unwrap();
    assert_eq!(people.lines().count(), 200);
    assert_eq!(cards.lines().count() as u64, m.cards);
    let p: serde_json::Value = serde_json::from_str(people.lines().next().unwrap()).unwrap();
    for f in [
        "id_number",
        "name",
        "sex",
        "birth_date",
        "region",
        "phone",
        "id_doc_expires",
        "previous_phone",
    ] {
        assert!(p.get(f).is_some(), "people.{f}");
    }
    let c: serde_json::Value = serde_json::from_str(cards.lines().next().unwrap()).unwrap();
    for f in [
        "id_number",
        "bank",
        "pan",
        "kind",
        "status",
        "reserved_phone",
        "cnp_enabled",
        "opened",
        "last_active",
        "product",
    ] {
        assert!(c.get(f).is_some(), "cards.{f}");
    }
    let per_bank: u64 = m.banks.iter().map(|b| b.cards).sum();
    assert_eq!(per_bank, m.cards);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], 5);
    assert_eq!(manifest["people"], 200);
}

#[tokio::test]
async fn arguments_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let o = GenOptions::new(1, 0, dir.path());
    assert!(matches!(
        generate(&o, &no_progress).await,
        Err(GenError::People)
    ));
    let mut o = GenOptions::new(1, 10, dir.path());
    o.banks = Some(vec![BankCode::parse("NOSUCHBANK").unwrap()]);
    assert!(matches!(
        generate(&o, &no_progress).await,
        Err(GenError::UnknownBank(_))
    ));
    // A subset of banks.
    let mut o = GenOptions::new(1, 100, dir.path());
    o.banks = Some(vec![
        BankCode::parse("ICBC").unwrap(),
        BankCode::parse("YNRCC").unwrap(),
    ]);
    generate(&o, &no_progress).await.unwrap();
    let mut stores: Vec<_> = std::fs::read_dir(dir.path().join("banks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    stores.sort();
    assert_eq!(stores, ["ICBC.sqlite", "YNRCC.sqlite"]);
    // Refuses to overwrite without --force, replaces with it.
    let o = GenOptions::new(2, 100, dir.path());
    assert!(matches!(
        generate(&o, &no_progress).await,
        Err(GenError::OutputExists(_))
    ));
    let mut o = GenOptions::new(2, 100, dir.path());
    o.force = true;
    let m = generate(&o, &no_progress).await.unwrap();
    assert_eq!(m.seed, 2);
    assert!(dir.path().join("banks/CCB.sqlite").exists());
}
