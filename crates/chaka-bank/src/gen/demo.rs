//! The well-known demo people: persons 0–6 of every population, fixed whatever the seed (their
//! ID numbers, phones and card numbers never change), each showing one part of the story —
//! documented in `docs/demo-people.md`. Card dates are relative to the reference date.

use super::GenError;
use super::alloc::Scrambled;
use super::market::Market;
use super::person::{CardDraft, LONG_TERM, PhoneSlot};
use super::population::{BankRecord, Person, card, take_pan};
use chaka_core::{CardKind, CardStatus, IdNumber, Phone, YearMonth};
use serde::Serialize;
use time::{Date, Duration, Month};

/// The seed of the demo people's card-number allocator (independent of the run's seed).
pub(crate) const DEMO_SEED: u64 = 0x6368_616b_6164_656d;

/// How many demo people there are (persons `0..DEMO_PEOPLE`).
pub const DEMO_PEOPLE: usize = 7;

enum Doc {
    Until(i32, u8, u8),
    LongTerm,
    ExpiredDaysAgo(i64),
}

struct C {
    bank: &'static str,
    kind: CardKind,
    status: CardStatus,
    phone: PhoneSlot,
    cnp: bool,
    opened_ago: i32,
    last_ago: Option<i32>,
    stale_doc: Option<(i32, u8, u8)>,
}

const fn c(bank: &'static str, kind: CardKind, opened_ago: i32, last_ago: Option<i32>) -> C {
    C {
        bank,
        kind,
        status: CardStatus::Normal,
        phone: PhoneSlot::Current,
        cnp: true,
        opened_ago,
        last_ago,
        stale_doc: None,
    }
}

struct Spec {
    name: &'static str,
    division: &'static str,
    birth: (i32, u8, u8),
    seq: u16,
    phone: &'static str,
    previous: Option<&'static str>,
    doc: Doc,
    shows: &'static str,
    cards: Vec<C>,
}

use CardKind::{Credit, Debit};

fn specs() -> Vec<Spec> {
    let heavy_banks = [
        "ICBC", "ABC", "BOC", "CCB", "COMM", "CMB", "CMBC", "CEB", "CITIC", "SPABANK", "CIB",
        "SPDB", "GDB", "CZBANK",
    ];
    let mut heavy: Vec<C> = heavy_banks
        .iter()
        .enumerate()
        .map(|(i, b)| c(b, Debit, 30 + 11 * i as i32, Some(i as i32 % 3)))
        .collect();
    for (i, b) in [
        "CMB", "CITIC", "CEB", "GDB", "SPDB", "CIB", "CMBC", "SPABANK",
    ]
    .iter()
    .enumerate()
    {
        heavy.push(c(b, Credit, 6 + 7 * i as i32, Some(i as i32 % 2)));
    }
    vec![
        Spec {
            name: "王静",
            division: "310104",
            birth: (1988, 3, 15),
            seq: 124,
            phone: "13817000001",
            previous: None,
            doc: Doc::Until(2034, 4, 2),
            shows: "Shanghai, pilot region: cards at several pilot banks; one without a reserved \
                    phone (CCB, not listed), one closed (BOC, counted), one with card-not-present \
                    disabled (COMM, not listed), one long unused (ABC, last used 30 months ago), \
                    and a credit card opened last month at a bank she never used (Ping An): the \
                    fraud-looking card the service exists to reveal",
            cards: vec![
                c("ICBC", Debit, 120, Some(0)),
                C {
                    ..c("CMB", Credit, 60, Some(1))
                },
                C {
                    phone: PhoneSlot::None,
                    ..c("CCB", Debit, 180, Some(2))
                },
                C {
                    status: CardStatus::Closed,
                    ..c("BOC", Debit, 150, Some(40))
                },
                C {
                    cnp: false,
                    ..c("COMM", Credit, 48, Some(3))
                },
                c("ABC", Debit, 100, Some(30)),
                c("SPABANK", Credit, 1, Some(0)),
                c("SHBANK", Debit, 90, Some(5)),
            ],
        },
        Spec {
            name: "段丽华",
            division: "530102",
            birth: (1979, 7, 21),
            seq: 246,
            phone: "13987100002",
            previous: None,
            doc: Doc::Until(2039, 8, 10),
            shows: "Kunming, Yunnan, pilot region: pilot banks plus the Yunnan rural credit \
                    cooperative (YNRCC, not in the pilot), a dormant PSBC card and a frozen ICBC card",
            cards: vec![
                c("ABC", Debit, 200, Some(0)),
                c("CCB", Debit, 90, Some(1)),
                c("YNRCC", Credit, 36, Some(0)),
                C {
                    status: CardStatus::Dormant,
                    ..c("PSBC", Debit, 160, Some(50))
                },
                C {
                    status: CardStatus::Frozen,
                    ..c("ICBC", Debit, 70, Some(8))
                },
            ],
        },
        Spec {
            name: "陈建国",
            division: "310115",
            birth: (1965, 10, 1),
            seq: 371,
            phone: "18621700003",
            previous: Some("13601700003"),
            doc: Doc::LongTerm,
            shows: "Shanghai: changed his mobile number 30 months ago; the three older cards \
                    (ICBC, CCB, COMM) still have the old number reserved and are not listed, the \
                    newer CMB and BOC cards are; COMM also still has his expired ID document on file",
            cards: vec![
                C {
                    phone: PhoneSlot::Previous,
                    ..c("ICBC", Debit, 240, Some(0))
                },
                C {
                    phone: PhoneSlot::Previous,
                    ..c("CCB", Debit, 150, Some(4))
                },
                C {
                    phone: PhoneSlot::Previous,
                    stale_doc: Some((2011, 10, 5)),
                    ..c("COMM", Debit, 200, Some(2))
                },
                c("CMB", Debit, 20, Some(0)),
                c("BOC", Credit, 10, Some(1)),
            ],
        },
        Spec {
            name: "刘洋",
            division: "110105",
            birth: (1992, 5, 20),
            seq: 157,
            phone: "13911000004",
            previous: None,
            doc: Doc::Until(2038, 6, 1),
            shows: "Beijing: a region that was not open in the December 2021 pilot (opened in the \
                    March 2022 expansion); a lookup is refused while only the pilot is open",
            cards: vec![
                c("BJBANK", Debit, 96, Some(0)),
                c("ICBC", Debit, 120, Some(1)),
                c("CMB", Credit, 40, Some(0)),
            ],
        },
        Spec {
            name: "赵秀英",
            division: "310110",
            birth: (1950, 2, 14),
            seq: 68,
            phone: "13301600005",
            previous: None,
            doc: Doc::LongTerm,
            shows: "Shanghai, aged 76: no bank card at all; every bank answers with an empty list",
            cards: vec![],
        },
        Spec {
            name: "周晓峰",
            division: "310112",
            birth: (2000, 6, 18),
            seq: 213,
            phone: "15821000006",
            previous: None,
            doc: Doc::ExpiredDaysAgo(118),
            shows: "Shanghai: his ID document expired about four months ago and was not renewed; \
                    every bank has it on file as expired, so no card is listed",
            cards: vec![
                c("ICBC", Debit, 80, Some(0)),
                c("CMB", Debit, 50, Some(0)),
                c("SPDB", Credit, 20, Some(1)),
            ],
        },
        Spec {
            name: "黄磊",
            division: "310107",
            birth: (1984, 9, 9),
            seq: 35,
            phone: "13788000007",
            previous: None,
            doc: Doc::Until(2030, 9, 20),
            shows: "Shanghai: the long tail, 22 cards: a debit card at each of the 14 pilot banks \
                    and 8 credit cards; a large report",
            cards: heavy,
        },
    ]
}

/// What `demo-people.json` says about one demo person.
#[derive(Debug, Clone, Serialize)]
pub struct DemoPerson {
    /// Position in the population.
    pub index: u64,
    /// Name.
    pub name: String,
    /// Full ID number.
    pub id_number: String,
    /// Current mobile number.
    pub phone: String,
    /// Older number, if it changed.
    pub previous_phone: Option<String>,
    /// Province prefix of the ID number.
    pub region: String,
    /// Province name (English).
    pub region_name: String,
    /// ID-document expiry (`9999-12-31` = long-term).
    pub id_doc_expires: String,
    /// What the demo shows with this person.
    pub shows: String,
    /// Their cards, masked: bank, first 4 + last 4, kind, status.
    pub cards: Vec<DemoCard>,
}

/// A demo person's card as listed in `demo-people.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoCard {
    /// Bank code.
    pub bank: String,
    /// Masked number.
    pub pan: String,
    /// Kind.
    pub kind: CardKind,
    /// Status.
    pub status: chaka_core::CardStatus,
}

/// Card numbers to keep out of the run's allocator: `(usable BIN index, value)`.
pub(crate) type Reserved = Vec<(usize, u64)>;

/// The demo people (built with their own card-number allocator) and the card numbers to keep
/// out of the run's allocator: `(usable BIN index, value)`.
pub(crate) fn people(
    market: &'static Market,
    pans: &mut Scrambled,
    as_of: Date,
) -> Result<(Vec<Person>, Reserved), GenError> {
    let now = YearMonth::from_date(as_of);
    let mut out = Vec::new();
    let mut reserved = Vec::new();
    for (index, s) in specs().into_iter().enumerate() {
        let birth = date(s.birth)?;
        let id_number = IdNumber::compose(s.division, birth, s.seq).map_err(|_| GenError::Demo)?;
        let phone = Phone::parse(s.phone).map_err(|_| GenError::Demo)?;
        let previous_phone = s
            .previous
            .map(Phone::parse)
            .transpose()
            .map_err(|_| GenError::Demo)?;
        let id_doc_expires = match s.doc {
            Doc::Until(y, m, d) => date((y, m, d))?,
            Doc::LongTerm => LONG_TERM,
            Doc::ExpiredDaysAgo(days) => as_of - Duration::days(days),
        };
        let mut cards = Vec::new();
        let mut bank_records: Vec<BankRecord> = Vec::new();
        for spec in &s.cards {
            let bank = market.bank_index(spec.bank).ok_or(GenError::Demo)?;
            let bin = *market
                .bins_of(bank, spec.kind)
                .first()
                .ok_or(GenError::Demo)?;
            let draft = CardDraft {
                bank,
                kind: spec.kind,
                bin,
                tier: 0,
                status: spec.status,
                phone: spec.phone,
                cnp_enabled: spec.cnp,
                opened: now.plus_months(-spec.opened_ago),
                last_active: spec.last_ago.map(|a| now.plus_months(-a)),
            };
            let pan = take_pan(pans, market, &draft)?.ok_or(GenError::Demo)?;
            let b = &market.bins[bin as usize];
            let value: u64 = pan.as_str()[b.prefix.len()..pan.len() - 1]
                .parse()
                .map_err(|_| GenError::Demo)?;
            reserved.push((bin as usize, value));
            let reserved_phone = match spec.phone {
                PhoneSlot::None => None,
                PhoneSlot::Current => Some(phone.clone()),
                PhoneSlot::Previous => previous_phone.clone(),
            };
            let record_date = match spec.stale_doc {
                Some(d) => date(d)?,
                None => id_doc_expires,
            };
            let bank_ref = &market.banks[usize::from(bank)];
            if !bank_records.iter().any(|r| std::ptr::eq(r.bank, bank_ref)) {
                bank_records.push(BankRecord {
                    bank: bank_ref,
                    bank_index: bank,
                    id_doc_expires: record_date,
                });
            }
            cards.push(card(market, &draft, pan, reserved_phone));
        }
        cards.sort_by_key(|c| c.opened);
        out.push(Person {
            index: index as u64,
            sex: id_number.sex(),
            birth_date: id_number.birth_date(),
            id_number,
            name: s.name.to_owned(),
            phone,
            previous_phone,
            id_doc_expires,
            cards,
            bank_records,
        });
    }
    Ok((out, reserved))
}

/// The descriptions written to `demo-people.json` for the first `count` demo people.
pub(crate) fn describe(people: &[Person]) -> Vec<DemoPerson> {
    people
        .iter()
        .zip(specs())
        .map(|(p, s)| {
            let region = p.id_number.region();
            DemoPerson {
                index: p.index,
                name: p.name.clone(),
                id_number: p.id_number.as_str().to_owned(),
                phone: p.phone.as_str().to_owned(),
                previous_phone: p.previous_phone.as_ref().map(|x| x.as_str().to_owned()),
                region: region.prefix.clone(),
                region_name: region.name_en.clone(),
                id_doc_expires: super::fmt_date(p.id_doc_expires),
                shows: s.shows.split_whitespace().collect::<Vec<_>>().join(" "),
                cards: p
                    .cards
                    .iter()
                    .map(|c| DemoCard {
                        bank: c.bank.code.as_str().to_owned(),
                        pan: c.pan.masked().to_string(),
                        kind: c.kind,
                        status: c.status,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn date((y, m, d): (i32, u8, u8)) -> Result<Date, GenError> {
    Month::try_from(m)
        .ok()
        .and_then(|m| Date::from_calendar_date(y, m, d).ok())
        .ok_or(GenError::Demo)
}
