//! The population as a sequence: drafts each person from their own random stream, then, in
//! person order, allocates their unique numbers and yields finished [`Person`]s in chunks. The
//! demo people come first. Memory is bounded by the chunk and the allocator tables.

use super::GenError;
use super::alloc::{IdSequences, Scrambled};
use super::demo;
use super::market::Market;
use super::names::PHONE_PREFIXES;
use super::person::{self, CardDraft, Draft, PhoneSlot, Tables, years_before};
use chaka_core::{
    Bank, CardKind, CardNumber, CardStatus, IdNumber, Phone, Sex, YearMonth, luhn_check_digit,
};
use std::sync::LazyLock;
use time::{Date, Month};

static MARKET: LazyLock<Market> = LazyLock::new(Market::builtin);

/// The market model over the built-in bank registry.
pub(crate) fn market() -> &'static Market {
    &MARKET
}

/// One generated person with all their cards.
#[derive(Debug, Clone)]
pub struct Person {
    /// Position in the population (0-based); also the holder id in every card store.
    pub index: u64,
    /// Resident ID number.
    pub id_number: IdNumber,
    /// Full name in Chinese characters.
    pub name: String,
    /// Sex (as encoded in the ID number).
    pub sex: Sex,
    /// Birth date (as encoded in the ID number).
    pub birth_date: Date,
    /// Current mobile number.
    pub phone: Phone,
    /// The number before the last change, still reserved on older cards.
    pub previous_phone: Option<Phone>,
    /// Expiry of the current ID document; [`LONG_TERM`](super::LONG_TERM) for 长期.
    pub id_doc_expires: Date,
    /// Every card, sorted by opening month.
    pub cards: Vec<Card>,
    /// One record per bank the person has cards at.
    pub bank_records: Vec<BankRecord>,
}

/// What a bank has on file about a holder besides the cards.
#[derive(Debug, Clone)]
pub struct BankRecord {
    /// The bank.
    pub bank: &'static Bank,
    /// Its position in the built-in registry.
    pub bank_index: u16,
    /// The ID-document expiry the bank has on file (may be an older, expired document).
    pub id_doc_expires: Date,
}

/// One card.
#[derive(Debug, Clone)]
pub struct Card {
    /// The issuer.
    pub bank: &'static Bank,
    /// Its position in the built-in registry.
    pub bank_index: u16,
    /// The full card number (on one of the issuer's BINs, Luhn-valid).
    pub pan: CardNumber,
    /// Debit, credit, semi-credit or prepaid (matching the BIN).
    pub kind: CardKind,
    /// Status at the bank.
    pub status: CardStatus,
    /// The mobile number reserved on the card, if any.
    pub reserved_phone: Option<Phone>,
    /// Whether card-not-present payments are enabled.
    pub cnp_enabled: bool,
    /// Opening month.
    pub opened: YearMonth,
    /// Last month with a transaction, if any.
    pub last_active: Option<YearMonth>,
    /// Product name.
    pub product: &'static str,
}

/// Generates a population in order, chunk by chunk.
pub struct Population {
    seed: u64,
    people: u64,
    as_of: Date,
    next: u64,
    tables: Tables,
    ids: IdSequences,
    phones: Scrambled,
    pans: Scrambled,
    demo: Vec<Person>,
}

/// Salts separating the allocators' offsets.
const PHONE_SALT: u64 = 0x70686f6e65;
const PAN_SALT: u64 = 0x70616e;

impl Population {
    /// A population of `people` for `seed`, with ages and dates relative to `as_of`.
    pub fn new(seed: u64, people: u64, as_of: Date) -> Result<Self, GenError> {
        let tables = Tables::new();
        let market = market();
        let first_day = Date::from_calendar_date(years_before(as_of, 88).year(), Month::January, 1)
            .map_err(|_| GenError::AsOf)?;
        let mut ids = IdSequences::new(seed, tables.division_count(), first_day, 90 * 366);
        let prefix_digits = vec![8; PHONE_PREFIXES.len()];
        let mut phones = Scrambled::new(seed, PHONE_SALT, &prefix_digits);
        let bin_digits: Vec<u32> = market.bins.iter().map(|b| b.free_digits()).collect();
        let mut pans = Scrambled::new(seed, PAN_SALT, &bin_digits);
        let mut demo_pans = Scrambled::new(demo::DEMO_SEED, PAN_SALT, &bin_digits);
        let (demo, reserved_pans) = demo::people(market, &mut demo_pans, as_of)?;
        for p in &demo {
            let division = tables.division_index(p.id_number.division_code());
            let seq: u16 = p.id_number.as_str()[14..17]
                .parse()
                .map_err(|_| GenError::Demo)?;
            if let Some(d) = division {
                ids.reserve(d, p.birth_date, seq);
            }
            for phone in std::iter::once(&p.phone).chain(&p.previous_phone) {
                let s = phone.as_str();
                if let (Some(k), Ok(v)) = (prefix_index(&s[..3]), s[3..].parse::<u64>()) {
                    phones.reserve(k, v);
                }
            }
        }
        for (bin, value) in reserved_pans {
            pans.reserve(bin, value);
        }
        Ok(Self {
            seed,
            people,
            as_of,
            next: 0,
            tables,
            ids,
            phones,
            pans,
            demo,
        })
    }

    /// The reference date.
    pub fn as_of(&self) -> Date {
        self.as_of
    }

    /// How many people were yielded so far.
    pub fn done(&self) -> u64 {
        self.next
    }

    /// The next up to `max` people; empty when the population is complete.
    pub fn next_chunk(&mut self, max: usize) -> Result<Vec<Person>, GenError> {
        let end = self.people.min(self.next + max as u64);
        let mut out = Vec::with_capacity((end - self.next) as usize);
        while self.next < end {
            let index = self.next;
            let person = match self.demo.get(index as usize) {
                Some(p) => p.clone(),
                None => {
                    let d = person::draft(&self.tables, market(), self.seed, index, self.as_of);
                    self.finish(index, d)?
                }
            };
            out.push(person);
            self.next += 1;
        }
        Ok(out)
    }

    fn finish(&mut self, index: u64, d: Draft) -> Result<Person, GenError> {
        let (birth, seq) = self
            .ids
            .take(d.division, d.birth, d.male)
            .ok_or(GenError::Exhausted("ID sequence numbers"))?;
        let id_number = IdNumber::compose(d.division_code, birth, seq)
            .map_err(|_| GenError::Exhausted("ID numbers"))?;
        let phone = take_phone(&mut self.phones, d.phone_prefix)?;
        let previous_phone = match d.previous_prefix {
            Some(p) => Some(take_phone(&mut self.phones, p)?),
            None => None,
        };
        let m = market();
        let mut cards = Vec::with_capacity(d.cards.len());
        for c in &d.cards {
            if let Some(pan) = take_pan(&mut self.pans, m, c)? {
                let reserved_phone = match c.phone {
                    PhoneSlot::None => None,
                    PhoneSlot::Current => Some(phone.clone()),
                    PhoneSlot::Previous => previous_phone.clone().or_else(|| Some(phone.clone())),
                };
                cards.push(card(m, c, pan, reserved_phone));
            }
        }
        let bank_records = d
            .bank_docs
            .iter()
            .filter_map(|(b, date)| {
                m.banks.get(usize::from(*b)).map(|bank| BankRecord {
                    bank,
                    bank_index: *b,
                    id_doc_expires: *date,
                })
            })
            .collect();
        Ok(Person {
            index,
            sex: id_number.sex(),
            birth_date: id_number.birth_date(),
            id_number,
            name: d.name,
            phone,
            previous_phone,
            id_doc_expires: d.id_doc_expires,
            cards,
            bank_records,
        })
    }
}

pub(crate) fn card(
    m: &'static Market,
    c: &CardDraft,
    pan: CardNumber,
    reserved_phone: Option<Phone>,
) -> Card {
    let bank = &m.banks[usize::from(c.bank)];
    Card {
        bank,
        bank_index: c.bank,
        pan,
        kind: c.kind,
        status: c.status,
        reserved_phone,
        cnp_enabled: c.cnp_enabled,
        opened: c.opened,
        last_active: c.last_active,
        product: m.product(c.bank, c.kind, c.tier),
    }
}

fn prefix_index(prefix: &str) -> Option<usize> {
    PHONE_PREFIXES.iter().position(|(p, _)| *p == prefix)
}

fn take_phone(phones: &mut Scrambled, prefix: usize) -> Result<Phone, GenError> {
    let number = phones
        .take(prefix)
        .ok_or(GenError::Exhausted("mobile numbers"))?;
    let (p, _) = PHONE_PREFIXES
        .get(prefix)
        .ok_or(GenError::Exhausted("mobile numbers"))?;
    Phone::parse(&format!("{p}{number:08}")).map_err(|_| GenError::Exhausted("mobile numbers"))
}

/// Allocates a number on the drafted BIN, or on another BIN of the same bank and kind when that
/// one is full; `None` when all are full (the card is dropped and counted).
pub(crate) fn take_pan(
    pans: &mut Scrambled,
    m: &Market,
    c: &CardDraft,
) -> Result<Option<CardNumber>, GenError> {
    let alternatives = m.bins_of(c.bank, c.kind);
    let start = alternatives.iter().position(|b| *b == c.bin).unwrap_or(0);
    for k in 0..alternatives.len() {
        let bin_index = alternatives[(start + k) % alternatives.len()];
        if let Some(value) = pans.take(bin_index as usize) {
            let bin = &m.bins[bin_index as usize];
            return pan_string(&bin.prefix, bin.free_digits(), value)
                .and_then(|s| CardNumber::parse(&s).ok())
                .map(Some)
                .ok_or(GenError::Exhausted("card numbers"));
        }
    }
    Ok(None)
}

/// `prefix` + `value` zero-padded to `digits` + the Luhn check digit.
pub(crate) fn pan_string(prefix: &str, digits: u32, value: u64) -> Option<String> {
    let mut body = String::with_capacity(20);
    body.push_str(prefix);
    body.push_str(&format!("{value:0width$}", width = digits as usize));
    let check = luhn_check_digit(&body)?;
    body.push(char::from(b'0' + check));
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn pan_strings_pass_luhn() {
        let s = pan_string("622202", 12, 42).unwrap_or_default();
        assert_eq!(s.len(), 19);
        assert!(chaka_core::luhn_valid(&s));
    }

    #[test]
    fn chunking_does_not_change_the_population() {
        let as_of = date!(2026 - 11 - 01);
        let mut a = Population::new(3, 300, as_of).unwrap();
        let mut b = Population::new(3, 300, as_of).unwrap();
        let whole = a.next_chunk(1000).unwrap();
        let mut parts = Vec::new();
        loop {
            let c = b.next_chunk(37).unwrap();
            if c.is_empty() {
                break;
            }
            parts.extend(c);
        }
        assert_eq!(whole.len(), 300);
        assert_eq!(parts.len(), 300);
        for (x, y) in whole.iter().zip(&parts) {
            assert_eq!(x.id_number, y.id_number);
            assert_eq!(x.cards.len(), y.cards.len());
            for (c, d) in x.cards.iter().zip(&y.cards) {
                assert_eq!(c.pan, d.pan);
            }
        }
    }
}
