//! The card market: which bank issues a person's next card (national market shares plus
//! regional banks in their home province), which kind it is, on which BIN, and under which
//! product name. Owns the hand-written share table and the choice of usable BINs; documented in
//! `docs/population.md`.

use super::places::{PROVINCES, province_index};
use super::sample::{PersonRng, Weighted};
use chaka_core::{Bank, BankRegistry, CardKind};

/// Market share of one issuer, in units of 0.01 % of all cards: `national` applies to everybody,
/// `home_weight` only to people living in province `home`; `credit` is the per-mille share of
/// its cards that are credit cards.
struct Share {
    code: &'static str,
    national: u32,
    home: Option<&'static str>,
    home_weight: u32,
    credit: u32,
}

const fn s(code: &'static str, national: u32, credit: u32) -> Share {
    Share {
        code,
        national,
        home: None,
        home_weight: 0,
        credit,
    }
}

const fn r(code: &'static str, home: &'static str, home_weight: u32) -> Share {
    Share {
        code,
        national: 0,
        home: Some(home),
        home_weight,
        credit: 100,
    }
}

/// Issuers not listed here (Hong Kong, Macau and Korean card companies in the BIN table) get no
/// cards: they do not issue to mainland residents.
const SHARES: &[Share] = &[
    // The big six state-owned banks.
    s("ICBC", 1500, 90),
    s("CCB", 1400, 80),
    s("ABC", 1300, 50),
    s("BOC", 900, 80),
    s("PSBC", 850, 20),
    s("COMM", 400, 200),
    // Joint-stock banks.
    s("CMB", 450, 350),
    s("CIB", 250, 300),
    s("CITIC", 250, 350),
    s("CEB", 220, 300),
    s("SPABANK", 220, 300),
    s("SPDB", 200, 300),
    s("CMBC", 200, 300),
    s("GDB", 150, 400),
    s("HXBANK", 100, 250),
    s("CZBANK", 60, 0),
    s("EGBANK", 30, 100),
    s("BOHAIB", 20, 100),
    // Foreign banks' mainland subsidiaries (small, national).
    s("HSBC", 10, 300),
    s("SCB", 5, 300),
    s("CITI", 5, 500),
    s("HKBEA", 5, 300),
    s("DBS", 3, 200),
    s("HSB", 3, 200),
    s("NCB", 2, 200),
    s("FGXYBANK", 1, 0),
    s("DYBANK", 1, 0),
    s("HQBANK", 1, 0),
    s("DIYEBANK", 1, 0),
    // City commercial and rural banks, in their home province only.
    r("SHBANK", "31", 300),
    r("SHRCB", "31", 250),
    r("BJBANK", "11", 300),
    r("BJRCB", "11", 200),
    r("TCCB", "12", 150),
    r("TRCB", "12", 150),
    r("BDCBANK", "12", 5),
    r("BHB", "13", 100),
    r("QHDCCB", "13", 30),
    r("HSBK", "13", 30),
    r("XTB", "13", 30),
    r("CDB", "13", 30),
    r("LPRDNCXYS", "14", 30),
    r("H3CB", "15", 80),
    r("BSB", "15", 80),
    r("SJBANK", "21", 100),
    r("DLB", "21", 80),
    r("FSCB", "21", 30),
    r("BOJZ", "21", 50),
    r("LYCB", "21", 20),
    r("HLDCCB", "21", 20),
    r("JLBANK", "22", 150),
    r("HRBANK", "23", 120),
    r("DAQINGB", "23", 100),
    r("JSBANK", "32", 200),
    r("NJCB", "32", 150),
    r("JSRCU", "32", 300),
    r("ZJCCB", "32", 20),
    r("NBBANK", "33", 120),
    r("HZCB", "33", 150),
    r("WZCB", "33", 60),
    r("JHBANK", "33", 40),
    r("SXCB", "33", 40),
    r("TZCB", "33", 50),
    r("ZJQL", "33", 40),
    r("ZJTLCB", "33", 10),
    r("HZBANK", "33", 30),
    r("CZBANK", "33", 60),
    r("HSBANK", "34", 250),
    r("FJNX", "35", 300),
    r("XMBANK", "35", 80),
    r("FJHXBC", "35", 60),
    r("BOQZ", "35", 50),
    r("JXNCX", "36", 300),
    r("GZB", "36", 60),
    r("SRBANK", "36", 40),
    r("QLB", "37", 80),
    r("QDCCB", "37", 60),
    r("EGBANK", "37", 30),
    r("DYCCB", "37", 20),
    r("DZBANK", "37", 20),
    r("WHSYBANK", "37", 30),
    r("BANKWF", "37", 30),
    r("RZGWYBANK", "37", 20),
    r("QSBANK", "37", 20),
    r("LSB", "37", 30),
    r("YTCB", "37", 30),
    r("ZZBANK", "41", 100),
    r("LYB", "41", 40),
    r("SCBBANK", "41", 30),
    r("JZCBANK", "41", 20),
    r("HKB", "42", 100),
    r("HBC", "42", 40),
    r("SLH", "43", 200),
    r("HNRCC", "43", 150),
    r("CSCB", "43", 120),
    r("HRXJB", "43", 60),
    r("GDRCC", "44", 250),
    r("GZRCU", "44", 100),
    r("GCB", "44", 80),
    r("SRCB", "44", 80),
    r("DRCBCL", "44", 60),
    r("BOD", "44", 50),
    r("GHB", "44", 30),
    r("RBOZ", "44", 30),
    r("GDB", "44", 100),
    r("BGB", "45", 60),
    r("GLBANK", "45", 60),
    r("LZCCB", "45", 40),
    r("CQBANK", "50", 120),
    r("CQNCSYCZ", "50", 5),
    r("CDCB", "51", 120),
    r("CDRCB", "51", 120),
    r("GYCB", "52", 120),
    r("YNRCC", "53", 250),
    r("LZYH", "62", 100),
    r("BOQH", "63", 100),
    r("NXBANK", "64", 120),
    r("URMQCCB", "65", 100),
];

/// A BIN the generator may issue on: its range is not shared with another bank nor shadowed by
/// a longer BIN of the same length, so every number issued on it maps back to its bank alone.
#[derive(Debug, Clone)]
pub(crate) struct UsableBin {
    pub bank: u16,
    pub prefix: String,
    pub length: u8,
    pub kind: CardKind,
}

impl UsableBin {
    /// Digits between the prefix and the Luhn check digit.
    pub(crate) fn free_digits(&self) -> u32 {
        u32::from(self.length) - self.prefix.len() as u32 - 1
    }
}

/// The market model built from a bank registry.
pub(crate) struct Market {
    pub banks: &'static [Bank],
    pub bins: Vec<UsableBin>,
    /// Per bank, per kind (Debit, Credit, SemiCredit, Prepaid): indices into `bins`.
    by_bank_kind: Vec<[Vec<u32>; 4]>,
    credit_per_mille: Vec<u32>,
    /// Per province (index in `PROVINCES`): who issues the next card.
    by_province: Vec<Weighted>,
    /// Per bank: product names [debit, credit, semi-credit, prepaid, credit gold, credit platinum].
    products: Vec<[String; 6]>,
}

fn kind_slot(kind: CardKind) -> usize {
    match kind {
        CardKind::Debit => 0,
        CardKind::Credit => 1,
        CardKind::SemiCredit => 2,
        CardKind::Prepaid => 3,
    }
}

impl Market {
    /// The market over the built-in registry.
    pub(crate) fn builtin() -> Self {
        Self::new(BankRegistry::builtin().banks())
    }

    pub(crate) fn new(banks: &'static [Bank]) -> Self {
        let all: Vec<(usize, &chaka_core::Bin)> = banks
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.bins.iter().map(move |bin| (i, bin)))
            .filter(|(_, bin)| (13..=19).contains(&bin.length))
            .collect();
        let mut bins = Vec::new();
        for (bank, bin) in &all {
            let shadowed = all.iter().any(|(other_bank, other)| {
                other.length == bin.length
                    && ((other.prefix.len() > bin.prefix.len()
                        && other.prefix.starts_with(&bin.prefix))
                        || (other.prefix == bin.prefix && other_bank != bank))
            });
            let duplicate = bins.iter().any(|u: &UsableBin| {
                usize::from(u.bank) == *bank && u.prefix == bin.prefix && u.length == bin.length
            });
            if !shadowed && !duplicate && bin.prefix.len() + 1 < usize::from(bin.length) {
                bins.push(UsableBin {
                    bank: *bank as u16,
                    prefix: bin.prefix.clone(),
                    length: bin.length,
                    kind: bin.kind,
                });
            }
        }
        let mut by_bank_kind: Vec<[Vec<u32>; 4]> = vec![Default::default(); banks.len()];
        for (i, b) in bins.iter().enumerate() {
            by_bank_kind[usize::from(b.bank)][kind_slot(b.kind)].push(i as u32);
        }
        let mut national = vec![0u64; banks.len()];
        let mut home = vec![vec![0u64; banks.len()]; PROVINCES.len()];
        let mut credit_per_mille = vec![100u32; banks.len()];
        for share in SHARES {
            let Some(i) = banks.iter().position(|b| b.code.as_str() == share.code) else {
                continue;
            };
            if by_bank_kind[i].iter().all(Vec::is_empty) {
                continue;
            }
            national[i] += u64::from(share.national);
            if share.home.is_none() {
                credit_per_mille[i] = share.credit;
            }
            if let Some(p) = share.home.and_then(province_index) {
                home[p][i] += u64::from(share.home_weight);
            }
        }
        let by_province = home
            .iter()
            .map(|h| Weighted::new(national.iter().zip(h).map(|(n, h)| n + h)))
            .collect();
        let products = banks.iter().map(products_of).collect();
        Self {
            banks,
            bins,
            by_bank_kind,
            credit_per_mille,
            by_province,
            products,
        }
    }

    /// Draws the issuer of a card for someone living in province `province`.
    pub(crate) fn draw_bank(&self, province: usize, rng: &mut PersonRng) -> u16 {
        self.by_province.get(province).map_or(0, |w| w.draw(rng)) as u16
    }

    /// Whether `bank` issues any card in the model (some province draws it).
    pub(crate) fn issues(&self, bank: usize) -> bool {
        self.by_province.iter().any(|w| {
            let before = if bank == 0 {
                0
            } else {
                w.cumulative_at(bank - 1)
            };
            w.cumulative_at(bank) > before
        })
    }

    /// Draws the kind of a card at `bank`, falling back to a kind the bank has BINs for.
    pub(crate) fn draw_kind(&self, bank: u16, rng: &mut PersonRng) -> Option<CardKind> {
        let b = usize::from(bank);
        let credit = self.credit_per_mille.get(b).copied().unwrap_or(100);
        let x = rng.below(1000) as u32;
        let wanted = if x < credit {
            CardKind::Credit
        } else if x < credit + 10 {
            CardKind::SemiCredit
        } else if x < credit + 20 {
            CardKind::Prepaid
        } else {
            CardKind::Debit
        };
        let slots = self.by_bank_kind.get(b)?;
        [
            wanted,
            CardKind::Debit,
            CardKind::Credit,
            CardKind::SemiCredit,
            CardKind::Prepaid,
        ]
        .into_iter()
        .find(|k| !slots[kind_slot(*k)].is_empty())
    }

    /// The usable BINs of `bank` for `kind`.
    pub(crate) fn bins_of(&self, bank: u16, kind: CardKind) -> &[u32] {
        self.by_bank_kind
            .get(usize::from(bank))
            .map_or(&[], |s| &s[kind_slot(kind)])
    }

    /// The product name of a card: `tier` 0 standard, 1 gold, 2 platinum (credit cards only).
    pub(crate) fn product(&self, bank: u16, kind: CardKind, tier: u8) -> &str {
        let Some(p) = self.products.get(usize::from(bank)) else {
            return "";
        };
        match (kind, tier) {
            (CardKind::Credit, 1) => &p[4],
            (CardKind::Credit, 2) => &p[5],
            _ => &p[kind_slot(kind)],
        }
    }

    /// The index of the bank with this code.
    pub(crate) fn bank_index(&self, code: &str) -> Option<u16> {
        self.banks
            .iter()
            .position(|b| b.code.as_str() == code)
            .map(|i| i as u16)
    }
}

impl Weighted {
    fn cumulative_at(&self, i: usize) -> u64 {
        self.cumulative_slice().get(i).copied().unwrap_or(0)
    }
}

fn products_of(bank: &Bank) -> [String; 6] {
    let (debit, credit) = match bank.code.as_str() {
        "ICBC" => ("灵通卡", "牡丹信用卡"),
        "ABC" => ("金穗借记卡", "金穗信用卡"),
        "BOC" => ("长城借记卡", "长城信用卡"),
        "CCB" => ("龙卡储蓄卡", "龙卡信用卡"),
        "COMM" => ("太平洋借记卡", "太平洋信用卡"),
        "PSBC" => ("绿卡通", "邮储信用卡"),
        "CMB" => ("一卡通", "招商银行信用卡"),
        "CEB" => ("阳光借记卡", "阳光信用卡"),
        "SPDB" => ("东方卡", "浦发信用卡"),
        _ => ("", ""),
    };
    let name = &bank.name_zh;
    let debit = if debit.is_empty() {
        format!("{name}借记卡")
    } else {
        debit.to_owned()
    };
    let credit = if credit.is_empty() {
        format!("{name}信用卡")
    } else {
        credit.to_owned()
    };
    [
        debit,
        format!("{credit} 普卡"),
        format!("{name}准贷记卡"),
        format!("{name}预付卡"),
        format!("{credit} 金卡"),
        format!("{credit} 白金卡"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_share_names_a_known_bank_and_province() {
        let registry = BankRegistry::builtin();
        for share in SHARES {
            assert!(registry.by_code(share.code).is_some(), "{}", share.code);
            if let Some(h) = share.home {
                assert!(province_index(h).is_some(), "{h}");
            }
        }
    }

    #[test]
    fn usable_bins_map_back_to_their_bank() {
        let market = Market::builtin();
        assert!(market.bins.len() > 1500);
        for b in &market.bins {
            assert!((13..=19).contains(&b.length));
            assert!(b.free_digits() >= 1);
        }
    }

    #[test]
    fn shanghai_and_yunnan_get_their_regional_banks() {
        let market = Market::builtin();
        let mut rng = PersonRng::new(1, 1);
        let sh = province_index("31").unwrap_or(0);
        let yn = province_index("53").unwrap_or(0);
        let shbank = market.bank_index("SHBANK").unwrap_or(0);
        let ynrcc = market.bank_index("YNRCC").unwrap_or(0);
        let (mut a, mut b, mut c) = (0, 0, 0);
        for _ in 0..20_000 {
            if market.draw_bank(sh, &mut rng) == shbank {
                a += 1;
            }
            if market.draw_bank(yn, &mut rng) == ynrcc {
                b += 1;
            }
            if market.draw_bank(yn, &mut rng) == shbank {
                c += 1;
            }
        }
        assert!(a > 200, "{a}");
        assert!(b > 200, "{b}");
        assert_eq!(c, 0);
        assert!(market.issues(usize::from(ynrcc)));
    }
}
