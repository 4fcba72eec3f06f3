//! The card store as the node uses it: exact holder lookups over a generated store, the
//! first-writer-wins answer table, clear failures on missing or foreign files, and the citizen
//! registry.

use chaka_bank::r#gen::{DEFAULT_AS_OF, GenOptions, Population, generate};
use chaka_bank::store::citizens::CitizenRegistry;
use chaka_bank::store::{CardStore, StoreError};
use chaka_core::{IdNumber, InquiryId};
use std::collections::BTreeSet;
use time::macros::datetime;

const SEED: u64 = 21;
const PEOPLE: u64 = 400;

async fn generated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenOptions::new(SEED, PEOPLE, dir.path()), &|_, _| {})
        .await
        .unwrap();
    dir
}

fn people() -> Vec<chaka_bank::r#gen::Person> {
    let mut p = Population::new(SEED, PEOPLE, DEFAULT_AS_OF).unwrap();
    p.next_chunk(PEOPLE as usize).unwrap()
}

#[tokio::test]
async fn find_holder_returns_exactly_the_persons_cards_at_that_bank() {
    let dir = generated().await;
    for bank in ["ICBC", "CMB", "SHBANK"] {
        let store = CardStore::open(dir.path().join(format!("banks/{bank}.sqlite")))
            .await
            .unwrap();
        assert_eq!(store.bank_code().as_str(), bank);
        let mut holders = 0;
        for p in people() {
            let expected: BTreeSet<String> = p
                .cards
                .iter()
                .filter(|c| c.bank.code.as_str() == bank)
                .map(|c| c.pan.as_str().to_owned())
                .collect();
            let found = store.find_holder(&p.id_number).await.unwrap();
            match found {
                None => assert!(expected.is_empty()),
                Some(h) => {
                    holders += 1;
                    assert_eq!(h.name, p.name);
                    let got: BTreeSet<String> =
                        h.cards.iter().map(|c| c.pan.as_str().to_owned()).collect();
                    assert_eq!(got, expected);
                    let record = p
                        .bank_records
                        .iter()
                        .find(|r| r.bank.code.as_str() == bank)
                        .unwrap();
                    assert_eq!(h.id_doc_expires, record.id_doc_expires);
                    for (stored, card) in h
                        .cards
                        .iter()
                        .zip(p.cards.iter().filter(|c| c.bank.code.as_str() == bank))
                    {
                        if stored.pan == card.pan {
                            assert_eq!(stored.kind, card.kind);
                            assert_eq!(stored.status, card.status);
                            assert_eq!(stored.reserved_phone, card.reserved_phone);
                            assert_eq!(stored.cnp_enabled, card.cnp_enabled);
                            assert_eq!(stored.opened, card.opened);
                            assert_eq!(stored.last_active, card.last_active);
                            assert_eq!(stored.product, card.product);
                        }
                    }
                }
            }
        }
        if bank == "ICBC" {
            assert!(holders > 100, "{holders}");
        }
        store.close().await;
    }
}

#[tokio::test]
async fn store_answer_first_writer_wins() {
    let dir = generated().await;
    let store = CardStore::open(dir.path().join("banks/CCB.sqlite"))
        .await
        .unwrap();
    let now = datetime!(2026-11-28 10:00 UTC);
    let id = InquiryId::generate(now);
    assert_eq!(store.stored_answer(&id).await.unwrap(), None);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8u8 {
        let store = store.clone();
        tasks.spawn(async move { store.store_answer(&id, &[i; 16], now).await.unwrap() });
    }
    let bodies: BTreeSet<Vec<u8>> = tasks.join_all().await.into_iter().collect();
    assert_eq!(bodies.len(), 1, "every caller gets the first body");
    let stored = store.stored_answer(&id).await.unwrap().unwrap();
    assert!(bodies.contains(&stored));
    assert_eq!(store.store_answer(&id, b"late", now).await.unwrap(), stored);
    // Survives reopening.
    store.close().await;
    let again = CardStore::open(dir.path().join("banks/CCB.sqlite"))
        .await
        .unwrap();
    assert_eq!(again.stored_answer(&id).await.unwrap(), Some(stored));
}

#[tokio::test]
async fn open_fails_clearly_on_missing_or_foreign_files() {
    let dir = generated().await;
    let missing = CardStore::open(dir.path().join("banks/NOPE.sqlite")).await;
    assert!(matches!(missing, Err(StoreError::Missing(_))));
    let foreign = CardStore::open(dir.path().join("citizens.sqlite")).await;
    assert!(matches!(foreign, Err(StoreError::NotACardStore(_))));
    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(
        &garbage,
        b"this is not a database at all, not even close........",
    )
    .unwrap();
    assert!(matches!(
        CardStore::open(&garbage).await,
        Err(StoreError::NotACardStore(_))
    ));
    let message = CardStore::open(&garbage).await.unwrap_err().to_string();
    assert!(message.contains("not a chaka card store"), "{message}");
}

#[tokio::test]
async fn the_citizen_registry_knows_everybody() {
    let dir = generated().await;
    let registry = CitizenRegistry::open(dir.path().join("citizens.sqlite"))
        .await
        .unwrap();
    for p in people().iter().take(50) {
        let c = registry.lookup(&p.id_number).await.unwrap().unwrap();
        assert_eq!(c.name, p.name);
        assert_eq!(c.phone, p.phone);
        assert_eq!(c.id_doc_expires, p.id_doc_expires);
    }
    let stranger = IdNumber::compose("110101", time::macros::date!(1990 - 01 - 01), 999).unwrap();
    assert_eq!(registry.lookup(&stranger).await.unwrap(), None);
    assert!(
        CitizenRegistry::open(dir.path().join("banks/ICBC.sqlite"))
            .await
            .is_err()
    );
}
