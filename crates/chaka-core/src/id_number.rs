//! Resident identity numbers of mainland China (GB 11643-1999): parsing, the MOD 11-2 check
//! character, and what derives from the number (birth date, sex, province).
//!
//! Normalisation, applied everywhere: surrounding whitespace is trimmed; full-width digits and
//! `Ｘ` are folded to ASCII; a lower-case `x` check character is accepted and stored upper-case;
//! whitespace or separators inside the number are refused; 15-digit legacy numbers (issued
//! before 1999) are refused with their own reason, because every account is keyed on the
//! 18-character form. Only the province (first two digits) is checked against the region
//! registry: chaka does not carry the full GB/T 2260 county table.

use crate::normalize::fold;
use crate::region::{Region, RegionRegistry};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::{Date, Month};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [u8; 11] = *b"10X98765432";
const EARLIEST_BIRTH_YEAR: i32 = 1900;

/// Why a string is not a valid resident ID number. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Nothing was given.
    #[error("the ID number is empty")]
    Empty,
    /// A 15-digit number of the first generation.
    #[error(
        "15-digit ID numbers are no longer accepted; use the 18-character number on your current card"
    )]
    Legacy15,
    /// Neither 15 nor 18 characters.
    #[error("an ID number has 18 characters, this one has {0}")]
    WrongLength(usize),
    /// A character that is not a digit (or `X` in the last place).
    #[error(
        "character {position} of the ID number is not allowed (digits only, and X as the last character)"
    )]
    BadCharacter {
        /// 1-based position.
        position: usize,
    },
    /// The first two digits are not a province of mainland China.
    #[error("the ID number does not start with a known province code")]
    UnknownRegion,
    /// Digits 7–14 are not a calendar date.
    #[error("the birth date in the ID number is not a valid date")]
    InvalidBirthDate,
    /// The birth date is before 1900.
    #[error("the birth date in the ID number is before 1900")]
    BirthDateTooEarly,
    /// The birth date is after today.
    #[error("the birth date in the ID number is in the future")]
    FutureBirthDate,
    /// The 18th character does not match the MOD 11-2 checksum of the first 17.
    #[error("the check character of the ID number is wrong (typo?)")]
    BadCheckCharacter,
    /// `compose` was given a division code that is not six digits or a sequence above 999.
    #[error("invalid parts for an ID number")]
    InvalidParts,
}

/// Sex as encoded in the 17th digit (odd: male, even: female).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Odd 17th digit.
    Male,
    /// Even 17th digit.
    Female,
}

/// A valid 18-character resident ID number in canonical form (ASCII digits, upper-case `X`).
///
/// `Debug` shows only the province and the check character; there is no `Display`: reading the
/// full number takes [`IdNumber::as_str`], on purpose.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdNumber(String);

impl IdNumber {
    /// Parses an ID number, refusing birth dates after today's date (system clock).
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        use crate::clock::{Clock, SystemClock};
        Self::parse_on(input, SystemClock.now().date())
    }

    /// Parses an ID number, refusing birth dates after `today`.
    pub fn parse_on(input: &str, today: Date) -> Result<Self, IdNumberError> {
        let folded = fold(input);
        if folded.is_empty() {
            return Err(IdNumberError::Empty);
        }
        let chars: Vec<char> = folded.chars().collect();
        if chars.len() == 15 && chars.iter().all(char::is_ascii_digit) {
            return Err(IdNumberError::Legacy15);
        }
        if chars.len() != 18 {
            return Err(IdNumberError::WrongLength(chars.len()));
        }
        let mut canonical = String::with_capacity(18);
        for (i, c) in chars.iter().enumerate() {
            match c {
                '0'..='9' => canonical.push(*c),
                'x' | 'X' if i == 17 => canonical.push('X'),
                _ => return Err(IdNumberError::BadCharacter { position: i + 1 }),
            }
        }
        if RegionRegistry::builtin().get(&canonical[..2]).is_none() {
            return Err(IdNumberError::UnknownRegion);
        }
        let birth = birth_date_of(&canonical)?;
        if birth.year() < EARLIEST_BIRTH_YEAR {
            return Err(IdNumberError::BirthDateTooEarly);
        }
        if birth > today {
            return Err(IdNumberError::FutureBirthDate);
        }
        let expected = Self::check_char(&canonical[..17]).ok_or(IdNumberError::InvalidParts)?;
        if canonical.as_bytes()[17] != expected as u8 {
            return Err(IdNumberError::BadCheckCharacter);
        }
        Ok(Self(canonical))
    }

    /// Builds the number for a 6-digit division code, a birth date and a 3-digit sequence
    /// (odd for men, even for women), appending the check character.
    pub fn compose(division: &str, birth: Date, sequence: u16) -> Result<Self, IdNumberError> {
        if division.len() != 6 || !division.bytes().all(|b| b.is_ascii_digit()) || sequence > 999 {
            return Err(IdNumberError::InvalidParts);
        }
        let body = format!(
            "{division}{:04}{:02}{:02}{sequence:03}",
            birth.year(),
            u8::from(birth.month()),
            birth.day()
        );
        if body.len() != 17 {
            return Err(IdNumberError::InvalidParts);
        }
        let check = Self::check_char(&body).ok_or(IdNumberError::InvalidParts)?;
        Self::parse_on(&format!("{body}{check}"), birth)
    }

    /// The MOD 11-2 check character for a 17-digit body, or `None` if `body17` is not 17 ASCII
    /// digits.
    pub fn check_char(body17: &str) -> Option<char> {
        let bytes = body17.as_bytes();
        if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let sum: u32 = bytes
            .iter()
            .zip(WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        Some(char::from(CHECK_CHARS[(sum % 11) as usize]))
    }

    /// The full number. Every call is a place where the number leaves its wrapper.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The birth date (digits 7–14).
    pub fn birth_date(&self) -> Date {
        // Validated at construction; the fallback is unreachable.
        birth_date_of(&self.0).unwrap_or(Date::MIN)
    }

    /// The sex (17th digit).
    pub fn sex(&self) -> Sex {
        if self.0.as_bytes()[16] % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The 6-digit administrative division code.
    pub fn division_code(&self) -> &str {
        &self.0[..6]
    }

    /// The province-level region (first two digits).
    pub fn region(&self) -> &'static Region {
        RegionRegistry::builtin()
            .get(&self.0[..2])
            .unwrap_or_else(|| RegionRegistry::builtin().unknown())
    }

    /// A form safe for display to the holder: first 2 and last 2 characters.
    pub fn masked(&self) -> String {
        format!("{}{}{}", &self.0[..2], "*".repeat(14), &self.0[16..])
    }
}

fn birth_date_of(canonical: &str) -> Result<Date, IdNumberError> {
    let year: i32 = canonical[6..10]
        .parse()
        .map_err(|_| IdNumberError::InvalidBirthDate)?;
    let month: u8 = canonical[10..12]
        .parse()
        .map_err(|_| IdNumberError::InvalidBirthDate)?;
    let day: u8 = canonical[12..14]
        .parse()
        .map_err(|_| IdNumberError::InvalidBirthDate)?;
    let month = Month::try_from(month).map_err(|_| IdNumberError::InvalidBirthDate)?;
    Date::from_calendar_date(year, month, day).map_err(|_| IdNumberError::InvalidBirthDate)
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl Serialize for IdNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IdNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        IdNumber::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 28);

    fn valid(body: &str) -> String {
        format!("{body}{}", IdNumber::check_char(body).unwrap())
    }

    #[test]
    fn accepts_a_valid_number_and_derives_its_facts() {
        // The standard's own example: 11010519491231002X.
        let id = IdNumber::parse_on("11010519491231002X", TODAY).unwrap();
        assert_eq!(id.birth_date(), date!(1949 - 12 - 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.region().name_en, "Beijing");
        assert_eq!(id.division_code(), "110105");
        assert_eq!(id.masked(), "11**************2X");
    }

    #[test]
    fn normalises_case_width_and_surrounding_space() {
        let canonical = IdNumber::parse_on("11010519491231002X", TODAY).unwrap();
        for variant in [
            "11010519491231002x",
            " 11010519491231002X\n",
            "\u{3000}１１０１０５１９４９１２３１００２Ｘ",
            "１１０１０５１９４９１２３１００２ｘ",
        ] {
            assert_eq!(
                IdNumber::parse_on(variant, TODAY).unwrap(),
                canonical,
                "{variant}"
            );
        }
    }

    #[test]
    fn every_rejection_names_its_reason() {
        let cases = [
            ("", IdNumberError::Empty),
            ("110105491231002", IdNumberError::Legacy15),
            ("1101051949123100", IdNumberError::WrongLength(16)),
            (
                "110105 9491231002X",
                IdNumberError::BadCharacter { position: 7 },
            ),
            (
                "1101051949123100X2",
                IdNumberError::BadCharacter { position: 17 },
            ),
            (
                &valid("99010519491231002") as &str,
                IdNumberError::UnknownRegion,
            ),
            (&valid("11010519490231002"), IdNumberError::InvalidBirthDate),
            (
                &valid("11010518991231002"),
                IdNumberError::BirthDateTooEarly,
            ),
            (&valid("11010520261231002"), IdNumberError::FutureBirthDate),
            ("110105194912310021", IdNumberError::BadCheckCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(
                IdNumber::parse_on(input, TODAY),
                Err(expected.clone()),
                "{input:?}"
            );
            let message = expected.to_string();
            assert!(input.is_empty() || !message.contains(input));
        }
    }

    #[test]
    fn debug_never_shows_the_middle() {
        let id = IdNumber::parse_on("11010519491231002X", TODAY).unwrap();
        let shown = format!("{id:?}");
        assert!(!shown.contains("0519491231"), "{shown}");
    }

    #[test]
    fn compose_builds_valid_numbers() {
        let id = IdNumber::compose("310104", date!(1990 - 03 - 07), 123).unwrap();
        assert_eq!(id.birth_date(), date!(1990 - 03 - 07));
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.region().prefix, "31");
        assert!(IdNumber::compose("31010", date!(1990 - 03 - 07), 1).is_err());
        assert!(IdNumber::compose("310104", date!(1990 - 03 - 07), 1000).is_err());
    }

    #[test]
    fn serde_round_trip_validates() {
        let id = IdNumber::parse_on("11010519491231002X", TODAY).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"11010519491231002X\"");
        assert_eq!(serde_json::from_str::<IdNumber>(&json).unwrap(), id);
        assert!(serde_json::from_str::<IdNumber>("\"110105194912310021\"").is_err());
    }

    proptest! {
        #[test]
        fn exactly_one_check_character_validates(
            division in prop::sample::select(vec!["110105", "310104", "530102", "650102", "440305"]),
            days in 0i64..40_000,
            seq in 0u16..=999,
        ) {
            let birth = date!(1910 - 01 - 01) + time::Duration::days(days);
            prop_assume!(birth <= TODAY);
            let body = format!(
                "{division}{:04}{:02}{:02}{seq:03}",
                birth.year(),
                u8::from(birth.month()),
                birth.day()
            );
            let candidates = "0123456789X";
            let accepted: Vec<char> = candidates
                .chars()
                .filter(|c| {
                    let s = format!("{body}{c}");
                    !matches!(
                        IdNumber::parse_on(&s, TODAY),
                        Err(IdNumberError::BadCheckCharacter)
                    )
                })
                .collect();
            prop_assert_eq!(accepted.len(), 1);
            prop_assert_eq!(accepted[0], IdNumber::check_char(&body).unwrap());
        }

        #[test]
        fn compose_parse_round_trip(
            days in 0i64..40_000,
            seq in 0u16..=999,
            division in prop::sample::select(vec!["110105", "310104", "530102", "650102", "440305"]),
        ) {
            let birth = date!(1910 - 01 - 01) + time::Duration::days(days);
            prop_assume!(birth <= TODAY);
            let id = IdNumber::compose(division, birth, seq).unwrap();
            let again = IdNumber::parse_on(&id.as_str().to_lowercase(), TODAY).unwrap();
            prop_assert_eq!(&again, &id);
            prop_assert_eq!(again.birth_date(), birth);
            prop_assert_eq!(again.division_code(), division);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = IdNumber::parse_on(&s, TODAY);
        }
    }
}
