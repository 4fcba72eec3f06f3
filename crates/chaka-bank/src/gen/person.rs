//! One synthetic person drawn from their own random stream: where they are registered and live,
//! sex, birth date, name, phone history, ID-document history, and a draft of each card (issuer,
//! kind, BIN, status, dates, reserved phone, card-not-present flag). Numbers that must be unique
//! (ID sequence, phone, card number) are left to `alloc`, run in person order by `population`.

use super::market::Market;
use super::names::{FEMALE_NEW, FEMALE_OLD, MALE_NEW, MALE_OLD, PHONE_PREFIXES, SURNAMES};
use super::places::{AGE_BANDS, MIGRANT_DESTINATIONS, MIGRANT_PER_MILLE, PROVINCES};
use super::sample::{PersonRng, Weighted};
use chaka_core::{CardKind, CardStatus, YearMonth};
use time::{Date, Duration, Month};

/// Cards per person: weights for 0, 1, 2, … cards (a negative binomial with mean ≈ 6.6 and a
/// long tail, fewer people without any card than the plain distribution).
const CARD_COUNT_WEIGHTS: &[u64] = &[
    2000, 7064, 9102, 9990, 10012, 9461, 8578, 7544, 6481, 5464, 4537, 3720, 3018, 2427, 1936,
    1533, 1207, 946, 737, 572, 442, 341, 262, 200, 153, 117, 89, 67, 51, 38, 29, 22, 16, 12, 9, 7,
    5, 4, 3, 2, 2, 1, 1, 1,
];

/// The "long-term" (长期) expiry of ID documents issued at 46 or later.
pub const LONG_TERM: Date = match Date::from_calendar_date(9999, Month::December, 31) {
    Ok(d) => d,
    Err(_) => Date::MAX,
};

/// Per-mille rates of the realistic mess; documented in `docs/population.md`.
pub(crate) mod rates {
    /// Men among adults.
    pub const MALE: u32 = 512;
    /// People whose mobile number changed; older cards keep the old one.
    pub const PHONE_CHANGED: u32 = 90;
    /// People whose own ID document is expired and not yet renewed.
    pub const DOC_OVERDUE: u32 = 15;
    /// Banks that never updated a holder's ID document after a renewal.
    pub const BANK_DOC_STALE: u32 = 120;
    /// Card statuses: closed, dormant, frozen, reported lost (the rest is normal).
    pub const CLOSED: u32 = 90;
    pub const DORMANT: u32 = 70;
    pub const FROZEN: u32 = 6;
    pub const REPORTED_LOST: u32 = 8;
    /// Cards without a reserved phone, by opening year: before 2010, 2010–2015, later.
    pub const NO_PHONE_OLD: u32 = 250;
    pub const NO_PHONE_MID: u32 = 60;
    pub const NO_PHONE_NEW: u32 = 15;
    /// Cards with card-not-present payments disabled: debit and other, credit.
    pub const CNP_OFF: u32 = 70;
    pub const CNP_OFF_CREDIT: u32 = 30;
}

/// Which of the person's numbers a card has reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhoneSlot {
    None,
    Current,
    Previous,
}

/// A card before its number is allocated.
#[derive(Debug, Clone)]
pub(crate) struct CardDraft {
    pub bank: u16,
    pub kind: CardKind,
    pub bin: u32,
    pub tier: u8,
    pub status: CardStatus,
    pub phone: PhoneSlot,
    pub cnp_enabled: bool,
    pub opened: YearMonth,
    pub last_active: Option<YearMonth>,
}

/// A person before their ID sequence, phones and card numbers are allocated.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub division: usize,
    pub division_code: &'static str,
    pub male: bool,
    pub birth: Date,
    pub name: String,
    pub phone_prefix: usize,
    pub previous_prefix: Option<usize>,
    pub id_doc_expires: Date,
    pub cards: Vec<CardDraft>,
    /// Per bank with cards: the ID-document expiry on file there.
    pub bank_docs: Vec<(u16, Date)>,
}

/// Fixed tables turned into samplers once per run.
pub(crate) struct Tables {
    provinces: Weighted,
    division_base: Vec<usize>,
    ages: Weighted,
    surnames: Weighted,
    phone_prefixes: Weighted,
    migrants: Weighted,
    card_counts: Weighted,
}

impl Tables {
    pub(crate) fn new() -> Self {
        let mut base = 0;
        let division_base = PROVINCES
            .iter()
            .map(|p| {
                let b = base;
                base += p.divisions.len();
                b
            })
            .collect();
        Self {
            provinces: Weighted::new(PROVINCES.iter().map(|p| u64::from(p.population_10k))),
            division_base,
            ages: Weighted::new(AGE_BANDS.iter().map(|b| u64::from(b.2))),
            surnames: Weighted::new(SURNAMES.iter().map(|s| u64::from(s.1))),
            phone_prefixes: Weighted::new(PHONE_PREFIXES.iter().map(|p| u64::from(p.1))),
            migrants: Weighted::new(MIGRANT_DESTINATIONS.iter().map(|m| u64::from(m.1))),
            card_counts: Weighted::new(CARD_COUNT_WEIGHTS.iter().copied()),
        }
    }

    /// Number of division codes over all provinces.
    pub(crate) fn division_count(&self) -> usize {
        PROVINCES.iter().map(|p| p.divisions.len()).sum()
    }

    /// The global index of a division code.
    pub(crate) fn division_index(&self, code: &str) -> Option<usize> {
        PROVINCES.iter().enumerate().find_map(|(i, p)| {
            p.divisions
                .iter()
                .position(|d| *d == code)
                .map(|j| self.division_base[i] + j)
        })
    }
}

/// `date` moved `years` years back (29 February becomes 28 February).
pub(crate) fn years_before(date: Date, years: i32) -> Date {
    let year = date.year() - years;
    date.replace_year(year)
        .or_else(|_| Date::from_calendar_date(year, date.month(), 28))
        .unwrap_or(date)
}

fn years_after(date: Date, years: i32) -> Date {
    years_before(date, -years)
}

/// The ID documents a person has held: `(issued, expires)` in order, the last one current.
pub(crate) fn doc_history(rng: &mut PersonRng, birth: Date, as_of: Date) -> Vec<(Date, Date)> {
    let first = years_after(birth, 16) + Duration::days(rng.between(0, 700));
    let mut docs = vec![(first, years_after(first, 10))];
    while let Some(&(_, expires)) = docs.last() {
        if expires > as_of || expires == LONG_TERM {
            break;
        }
        let renewed = expires + Duration::days(rng.between(-90, 30));
        if renewed > as_of {
            break;
        }
        let age = renewed.year() - birth.year();
        let next = if age >= 46 {
            LONG_TERM
        } else {
            years_after(renewed, 20)
        };
        docs.push((renewed, next));
    }
    if rng.per_mille(rates::DOC_OVERDUE)
        && let Some(last) = docs.last_mut()
        && last.1 != LONG_TERM
    {
        // Late to renew: the current document ran out some weeks or months ago.
        last.1 = as_of - Duration::days(rng.between(10, 400));
    }
    docs
}

/// Draws person `index` of a run.
pub(crate) fn draft(t: &Tables, market: &Market, seed: u64, index: u64, as_of: Date) -> Draft {
    let rng = &mut PersonRng::new(seed, index);
    let province = t.provinces.draw(rng);
    let p = &PROVINCES[province];
    let local = rng.below(p.divisions.len() as u64) as usize;
    let male = rng.per_mille(rates::MALE);
    let (from, to, _) = AGE_BANDS[t.ages.draw(rng)];
    let age = rng.between(i64::from(from), i64::from(to) - 1) as i32;
    let birth = years_before(as_of, age) - Duration::days(rng.between(0, 364));
    let name = draw_name(t, rng, male, birth.year());
    let phone_prefix = t.phone_prefixes.draw(rng);
    let as_of_month = YearMonth::from_date(as_of);
    let adult = YearMonth::from_date(years_after(birth, 18)).max(ym(1995, 1));
    let (previous_prefix, phone_changed) = if rng.per_mille(rates::PHONE_CHANGED) {
        let change = as_of_month
            .plus_months(-(rng.between(1, 96) as i32))
            .max(adult.plus_months(1));
        (Some(t.phone_prefixes.draw(rng)), Some(change))
    } else {
        (None, None)
    };
    let residence = if rng.per_mille(MIGRANT_PER_MILLE) {
        super::places::province_index(MIGRANT_DESTINATIONS[t.migrants.draw(rng)].0)
            .unwrap_or(province)
    } else {
        province
    };
    let docs = doc_history(rng, birth, as_of);
    let id_doc_expires = docs.last().map_or(LONG_TERM, |d| d.1);
    let count = t.card_counts.draw(rng);
    let mut cards = Vec::with_capacity(count);
    for _ in 0..count {
        if let Some(card) = draw_card(market, rng, residence, adult, as_of_month, phone_changed) {
            cards.push(card);
        }
    }
    cards.sort_by_key(|c| c.opened);
    let bank_docs = bank_docs(rng, &cards, &docs, id_doc_expires);
    Draft {
        division: t.division_base[province] + local,
        division_code: p.divisions[local],
        male,
        birth,
        name,
        phone_prefix,
        previous_prefix,
        id_doc_expires,
        cards,
        bank_docs,
    }
}

pub(crate) fn ym(year: i32, month: u8) -> YearMonth {
    YearMonth::new(year, month).unwrap_or_else(|_| YearMonth::from_date(Date::MIN))
}

fn draw_name(t: &Tables, rng: &mut PersonRng, male: bool, born: i32) -> String {
    let surname = SURNAMES[t.surnames.draw(rng)].0;
    let pool = match (male, born < 1980) {
        (true, true) => MALE_OLD,
        (true, false) => MALE_NEW,
        (false, true) => FEMALE_OLD,
        (false, false) => FEMALE_NEW,
    };
    let mut name = String::with_capacity(12);
    name.push_str(surname);
    name.push_str(rng.pick(pool).copied().unwrap_or("明"));
    if rng.per_mille(720) {
        name.push_str(rng.pick(pool).copied().unwrap_or("华"));
    }
    name
}

fn draw_card(
    market: &Market,
    rng: &mut PersonRng,
    residence: usize,
    adult: YearMonth,
    now: YearMonth,
    phone_changed: Option<YearMonth>,
) -> Option<CardDraft> {
    let bank = market.draw_bank(residence, rng);
    let kind = market.draw_kind(bank, rng)?;
    let bin = *rng.pick(market.bins_of(bank, kind))?;
    let span = adult.months_until(now).max(0) as u64 + 1;
    let opened = adult.plus_months(rng.below(span).max(rng.below(span)) as i32);
    let age_months = opened.months_until(now);
    let tier = match (kind, rng.below(10)) {
        (CardKind::Credit, 0) => 2,
        (CardKind::Credit, 1..=3) => 1,
        _ => 0,
    };
    let x = rng.below(1000) as u32;
    let status = match x {
        x if x < rates::CLOSED => CardStatus::Closed,
        x if x < rates::CLOSED + rates::DORMANT => CardStatus::Dormant,
        x if x < rates::CLOSED + rates::DORMANT + rates::FROZEN => CardStatus::Frozen,
        x if x < rates::CLOSED + rates::DORMANT + rates::FROZEN + rates::REPORTED_LOST => {
            CardStatus::ReportedLost
        }
        _ => CardStatus::Normal,
    };
    // A card closed in its opening month or dormant within a year of opening is not plausible.
    let status = match status {
        CardStatus::Closed if age_months < 1 => CardStatus::Normal,
        CardStatus::Dormant if age_months < 13 => CardStatus::Normal,
        s => s,
    };
    let back = |rng: &mut PersonRng, lo: i64, hi: i64| {
        Some(now.plus_months(-(rng.between(lo, hi) as i32)).max(opened))
    };
    let y = rng.below(1000);
    let last_active = match status {
        CardStatus::Normal if y < 30 => None,
        CardStatus::Normal if y < 750 => back(rng, 0, 2),
        CardStatus::Normal if y < 850 => back(rng, 3, 12),
        CardStatus::Normal => back(rng, 13, 60),
        CardStatus::Dormant if y < 300 => None,
        CardStatus::Dormant => back(rng, 13, 120).map(|m| m.min(now.plus_months(-13))),
        CardStatus::Frozen | CardStatus::ReportedLost => back(rng, 0, 24),
        CardStatus::Closed if y < 100 => None,
        CardStatus::Closed => back(rng, 1, age_months.max(1).into()),
    };
    let no_phone = match opened.year() {
        ..2010 => rates::NO_PHONE_OLD,
        2010..2016 => rates::NO_PHONE_MID,
        _ => rates::NO_PHONE_NEW,
    };
    let phone = if rng.per_mille(no_phone) {
        PhoneSlot::None
    } else if phone_changed.is_some_and(|c| opened < c) {
        PhoneSlot::Previous
    } else {
        PhoneSlot::Current
    };
    let cnp_off = if kind == CardKind::Credit {
        rates::CNP_OFF_CREDIT
    } else {
        rates::CNP_OFF
    };
    let cnp_enabled = !rng.per_mille(cnp_off);
    Some(CardDraft {
        bank,
        kind,
        bin,
        tier,
        status,
        phone,
        cnp_enabled,
        opened,
        last_active,
    })
}

/// Which ID-document expiry each bank has on file: the current one, or, when the bank never
/// caught up after a renewal, the one that was current when the first card there was opened.
fn bank_docs(
    rng: &mut PersonRng,
    cards: &[CardDraft],
    docs: &[(Date, Date)],
    current: Date,
) -> Vec<(u16, Date)> {
    let mut out: Vec<(u16, Date)> = Vec::new();
    for card in cards {
        if out.iter().any(|(b, _)| *b == card.bank) {
            continue;
        }
        // Cards are sorted by opening month: this is the first card at this bank.
        let day = card.opened.first_day();
        let then = docs
            .iter()
            .rev()
            .find(|d| d.0 <= day)
            .or(docs.first())
            .map_or(current, |d| d.1);
        let on_file = if then < current && rng.per_mille(rates::BANK_DOC_STALE) {
            then
        } else {
            current
        };
        out.push((card.bank, on_file));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn card_count_mean_is_about_six_and_a_half() {
        let total: u64 = CARD_COUNT_WEIGHTS.iter().sum();
        let sum: u64 = CARD_COUNT_WEIGHTS
            .iter()
            .enumerate()
            .map(|(i, w)| i as u64 * w)
            .sum();
        let mean = sum as f64 / total as f64;
        assert!((6.4..6.9).contains(&mean), "{mean}");
    }

    #[test]
    fn doc_history_follows_the_validity_rules() {
        let as_of = date!(2026 - 11 - 01);
        for i in 0..500 {
            let mut rng = PersonRng::new(5, i);
            let birth = years_before(as_of, 18 + (i % 68) as i32);
            let docs = doc_history(&mut rng, birth, as_of);
            assert!(!docs.is_empty());
            for w in docs.windows(2) {
                assert!(w[1].0 > w[0].0);
            }
            let age = as_of.year() - birth.year();
            if age >= 48 {
                let (_, last) = docs[docs.len() - 1];
                assert!(last == LONG_TERM || docs.len() >= 2);
            }
        }
    }

    #[test]
    fn drafts_are_deterministic_and_plausible() {
        let t = Tables::new();
        let m = Market::builtin();
        let as_of = date!(2026 - 11 - 01);
        for i in 0..300 {
            let a = draft(&t, &m, 11, i, as_of);
            let b = draft(&t, &m, 11, i, as_of);
            assert_eq!(a.name, b.name);
            assert_eq!(a.cards.len(), b.cards.len());
            let age = (as_of - a.birth).whole_days() / 365;
            assert!((18..=86).contains(&age), "{age}");
            for c in &a.cards {
                assert!(c.opened <= YearMonth::from_date(as_of));
                if let Some(l) = c.last_active {
                    assert!(l >= c.opened);
                }
            }
        }
        assert_eq!(t.division_index("310104").map(|i| i > 0), Some(true));
    }
}
