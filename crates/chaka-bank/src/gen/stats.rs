//! Counting the realistic mess in a generated population (written to `manifest.json` and
//! quoted in `docs/population.md`): how many cards lack a reserved phone, carry an old one,
//! have card-not-present disabled, are in each status, long unused; how many holder records
//! have an expired ID document; how many people changed phone or let their document expire.

use super::population::Person;
use chaka_core::{CardKind, CardStatus, YearMonth};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::Date;

/// Counts over a population.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessStats {
    /// People.
    pub people: u64,
    /// People without any card.
    pub people_without_cards: u64,
    /// People whose mobile number changed (older cards keep the old one).
    pub people_phone_changed: u64,
    /// People whose own ID document is expired.
    pub people_id_doc_expired: u64,
    /// Holder records (person × bank).
    pub holder_records: u64,
    /// Holder records whose ID document on file is expired.
    pub holder_records_id_doc_expired: u64,
    /// Cards.
    pub cards: u64,
    /// Cards by kind.
    pub cards_by_kind: BTreeMap<String, u64>,
    /// Cards by status.
    pub cards_by_status: BTreeMap<String, u64>,
    /// Cards with no reserved phone.
    pub cards_without_reserved_phone: u64,
    /// Cards whose reserved phone is the holder's previous number.
    pub cards_with_old_reserved_phone: u64,
    /// Cards with card-not-present payments disabled.
    pub cards_cnp_disabled: u64,
    /// Cards not closed and not used for more than 12 months (or never).
    pub cards_long_unused: u64,
    /// Cards the cross-check would list: not closed, the current phone reserved, card-not-present
    /// enabled, and an unexpired ID document on file at the bank.
    pub cards_listable: u64,
}

impl MessStats {
    /// Adds one person.
    pub fn add(&mut self, p: &Person, as_of: Date) {
        let now = YearMonth::from_date(as_of);
        self.people += 1;
        self.people_without_cards += u64::from(p.cards.is_empty());
        self.people_phone_changed += u64::from(p.previous_phone.is_some());
        self.people_id_doc_expired += u64::from(p.id_doc_expires < as_of);
        self.holder_records += p.bank_records.len() as u64;
        for r in &p.bank_records {
            self.holder_records_id_doc_expired += u64::from(r.id_doc_expires < as_of);
        }
        for c in &p.cards {
            self.cards += 1;
            *self
                .cards_by_kind
                .entry(kind_name(c.kind).to_owned())
                .or_default() += 1;
            *self
                .cards_by_status
                .entry(c.status.as_str().to_owned())
                .or_default() += 1;
            self.cards_without_reserved_phone += u64::from(c.reserved_phone.is_none());
            let old = c.reserved_phone.is_some()
                && c.reserved_phone.as_ref() == p.previous_phone.as_ref();
            self.cards_with_old_reserved_phone += u64::from(old);
            self.cards_cnp_disabled += u64::from(!c.cnp_enabled);
            let long_unused = c.last_active.is_none_or(|m| m.months_until(now) > 12);
            self.cards_long_unused += u64::from(c.status != CardStatus::Closed && long_unused);
            let doc_ok = p
                .bank_records
                .iter()
                .find(|r| std::ptr::eq(r.bank, c.bank))
                .is_some_and(|r| r.id_doc_expires >= as_of);
            let listable = c.status != CardStatus::Closed
                && c.reserved_phone.as_ref() == Some(&p.phone)
                && c.cnp_enabled
                && doc_ok;
            self.cards_listable += u64::from(listable);
        }
    }
}

fn kind_name(kind: CardKind) -> &'static str {
    kind.as_str()
}
