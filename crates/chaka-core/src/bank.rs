//! Banks: the `BankCode` that names an issuer on the wire, and the registry of the 122 Chinese
//! issuers with their real BIN prefixes (`data/banks.json`), marking the 14 pilot banks of the
//! December 2021 launch and the 2 that joined in March 2022.

use crate::card::{CardKind, CardNumber};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::LazyLock;

/// Why a string is not a bank code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a bank code is 2 to 16 characters of A-Z and 0-9")]
pub struct BankCodeError;

/// A bank's code, e.g. `ICBC`: 2–16 upper-case letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BankCode(String);

impl BankCode {
    /// Validates a bank code. Lower-case is refused rather than folded: codes are identifiers.
    pub fn parse(input: &str) -> Result<Self, BankCodeError> {
        if !(2..=16).contains(&input.len())
            || !input
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(BankCodeError);
        }
        Ok(Self(input.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BankCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for BankCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for BankCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        BankCode::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// When a bank or region joined the real one-click card lookup service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Wave {
    /// December 2021: 14 banks, Shanghai and Yunnan.
    #[serde(rename = "pilot-2021-12")]
    Pilot2021,
    /// March 2022: two more banks, sixteen regions.
    #[serde(rename = "expansion-2022-03")]
    Expansion2022,
}

/// A BIN (IIN) prefix of a bank's card product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    /// The leading digits.
    pub prefix: String,
    /// The full card number length, including the Luhn digit.
    pub length: u8,
    /// Debit, credit, semi-credit or prepaid.
    pub kind: CardKind,
}

/// A card-issuing bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bank {
    /// Its code.
    pub code: BankCode,
    /// Chinese name.
    pub name_zh: String,
    /// English name; the reference table lacks one for most regional banks, and then this is
    /// the bank code.
    pub name_en: String,
    /// When it joined the service, if it did.
    pub wave: Option<Wave>,
    /// Its BIN prefixes.
    pub bins: Vec<Bin>,
}

/// The reference table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Not the expected JSON.
    #[error("bank table is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A bank code is malformed.
    #[error("bank table entry {index}: {source}")]
    Code {
        /// Entry index.
        index: usize,
        /// Cause.
        source: BankCodeError,
    },
    /// A BIN has an unknown type.
    #[error("bank table entry {index}: unknown card type {kind:?}")]
    Kind {
        /// Entry index.
        index: usize,
        /// The type found.
        kind: String,
    },
    /// A bank code appears twice.
    #[error("bank table: code {0} appears twice")]
    Duplicate(String),
}

#[derive(Deserialize)]
struct TableFile {
    banks: Vec<TableBank>,
}

#[derive(Deserialize)]
struct TableBank {
    code: String,
    name_zh: String,
    name_en: Option<String>,
    wave: Option<Wave>,
    bins: Vec<TableBin>,
}

#[derive(Deserialize)]
struct TableBin {
    prefix: String,
    length: u8,
    #[serde(rename = "type")]
    kind: String,
}

/// A set of banks, in table order.
#[derive(Debug, Clone, Default)]
pub struct BankRegistry {
    banks: Vec<Bank>,
}

static BUILTIN: LazyLock<BankRegistry> = LazyLock::new(|| {
    // The table is part of the source tree; a unit test proves it parses, so the empty
    // fallback is never taken in a built binary.
    BankRegistry::from_json(include_str!("../data/banks.json")).unwrap_or_default()
});

impl BankRegistry {
    /// The 122 issuers of the project's reference table.
    pub fn builtin() -> &'static BankRegistry {
        &BUILTIN
    }

    /// Reads a table in the format of `data/banks.json`.
    pub fn from_json(json: &str) -> Result<Self, RegistryError> {
        let file: TableFile = serde_json::from_str(json)?;
        let mut banks: Vec<Bank> = Vec::with_capacity(file.banks.len());
        for (index, b) in file.banks.into_iter().enumerate() {
            let code =
                BankCode::parse(&b.code).map_err(|source| RegistryError::Code { index, source })?;
            if banks.iter().any(|x| x.code == code) {
                return Err(RegistryError::Duplicate(b.code));
            }
            let bins = b
                .bins
                .into_iter()
                .map(|bin| {
                    let kind =
                        CardKind::from_bin_type(&bin.kind).ok_or_else(|| RegistryError::Kind {
                            index,
                            kind: bin.kind.clone(),
                        })?;
                    Ok(Bin {
                        prefix: bin.prefix,
                        length: bin.length,
                        kind,
                    })
                })
                .collect::<Result<Vec<_>, RegistryError>>()?;
            banks.push(Bank {
                code,
                name_zh: b.name_zh,
                name_en: b.name_en.unwrap_or_else(|| b.code.clone()),
                wave: b.wave,
                bins,
            });
        }
        Ok(Self { banks })
    }

    /// All banks in table order.
    pub fn banks(&self) -> &[Bank] {
        &self.banks
    }

    /// The bank with this code.
    pub fn get(&self, code: &BankCode) -> Option<&Bank> {
        self.by_code(code.as_str())
    }

    /// The bank with this code, given as a string.
    pub fn by_code(&self, code: &str) -> Option<&Bank> {
        self.banks.iter().find(|b| b.code.as_str() == code)
    }

    /// The 14 banks of the December 2021 pilot.
    pub fn pilot(&self) -> impl Iterator<Item = &Bank> {
        self.banks
            .iter()
            .filter(|b| b.wave == Some(Wave::Pilot2021))
    }

    /// The bank whose BIN is the longest prefix of `pan` with the right length.
    pub fn issuer_of(&self, pan: &CardNumber) -> Option<&Bank> {
        self.banks
            .iter()
            .flat_map(|bank| bank.bins.iter().map(move |bin| (bank, bin)))
            .filter(|(_, bin)| {
                usize::from(bin.length) == pan.len() && pan.as_str().starts_with(&bin.prefix)
            })
            .max_by_key(|(_, bin)| bin.prefix.len())
            .map(|(bank, _)| bank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::luhn_check_digit;

    #[test]
    fn builtin_table_has_every_issuer() {
        let reg = BankRegistry::from_json(include_str!("../data/banks.json")).unwrap();
        assert_eq!(reg.banks().len(), 122);
        assert_eq!(BankRegistry::builtin().banks().len(), 122);
        assert_eq!(reg.pilot().count(), 14);
        assert_eq!(
            reg.banks()
                .iter()
                .filter(|b| b.wave == Some(Wave::Expansion2022))
                .count(),
            2
        );
        let icbc = reg.by_code("ICBC").unwrap();
        assert_eq!(icbc.name_zh, "中国工商银行");
        assert!(icbc.bins.iter().any(|b| b.kind == CardKind::Debit));
        assert!(icbc.bins.iter().any(|b| b.kind == CardKind::Credit));
    }

    #[test]
    fn issuer_of_finds_the_bank_by_bin() {
        let reg = BankRegistry::builtin();
        let icbc = reg.by_code("ICBC").unwrap();
        let bin = icbc.bins.iter().find(|b| b.length == 19).unwrap();
        let mut body = bin.prefix.clone();
        while body.len() < 18 {
            body.push('0');
        }
        let pan =
            CardNumber::parse(&format!("{body}{}", luhn_check_digit(&body).unwrap())).unwrap();
        assert_eq!(reg.issuer_of(&pan).unwrap().code.as_str(), "ICBC");
    }

    #[test]
    fn bank_codes_are_validated() {
        assert!(BankCode::parse("ICBC").is_ok());
        assert!(BankCode::parse("icbc").is_err());
        assert!(BankCode::parse("I").is_err());
        assert!(BankCode::parse("ICBC-1").is_err());
        assert!(BankCode::parse("ABCDEFGHIJKLMNOPQ").is_err());
        assert!(serde_json::from_str::<BankCode>("\"x y\"").is_err());
    }

    #[test]
    fn malformed_tables_are_refused_with_reasons() {
        assert!(matches!(
            BankRegistry::from_json("{"),
            Err(RegistryError::Json(_))
        ));
        let dup = r#"{"banks":[{"code":"AB","name_zh":"a","name_en":"a","wave":null,"bins":[]},{"code":"AB","name_zh":"b","name_en":"b","wave":null,"bins":[]}]}"#;
        assert!(matches!(
            BankRegistry::from_json(dup),
            Err(RegistryError::Duplicate(_))
        ));
        let kind = r#"{"banks":[{"code":"AB","name_zh":"a","name_en":"a","wave":null,"bins":[{"prefix":"1","length":16,"type":"ZZ"}]}]}"#;
        assert!(matches!(
            BankRegistry::from_json(kind),
            Err(RegistryError::Kind { .. })
        ));
    }
}
