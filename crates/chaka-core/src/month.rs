//! `YearMonth`: the month granularity in which card dates travel and are shown (`2019-03`).
//! Banks report months, not days, so a report reveals no more than it needs to.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::{Date, Month};

/// Why a string is not a `YYYY-MM` month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a month as YYYY-MM (1900..=9999)")]
pub struct YearMonthError;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    year: i32,
    month: u8,
}

impl YearMonth {
    /// A month; `month` is 1..=12 and `year` 1900..=9999.
    pub fn new(year: i32, month: u8) -> Result<Self, YearMonthError> {
        if !(1900..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(YearMonthError);
        }
        Ok(Self { year, month })
    }

    /// Parses `YYYY-MM`.
    pub fn parse(input: &str) -> Result<Self, YearMonthError> {
        let bytes = input.as_bytes();
        if bytes.len() != 7 || bytes[4] != b'-' {
            return Err(YearMonthError);
        }
        if !input[..4].bytes().all(|b| b.is_ascii_digit())
            || !input[5..].bytes().all(|b| b.is_ascii_digit())
        {
            return Err(YearMonthError);
        }
        let year = input[..4].parse().map_err(|_| YearMonthError)?;
        let month = input[5..].parse().map_err(|_| YearMonthError)?;
        Self::new(year, month)
    }

    /// The month containing `date`.
    pub fn from_date(date: Date) -> Self {
        Self {
            year: date.year(),
            month: u8::from(date.month()),
        }
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The first day of the month.
    pub fn first_day(self) -> Date {
        Month::try_from(self.month)
            .ok()
            .and_then(|m| Date::from_calendar_date(self.year, m, 1).ok())
            .unwrap_or(Date::MIN)
    }

    /// Whole months from `self` to `later` (negative when `later` is earlier).
    pub fn months_until(self, later: YearMonth) -> i32 {
        (later.year - self.year) * 12 + i32::from(later.month) - i32::from(self.month)
    }

    /// This month moved by `months` (may be negative).
    pub fn plus_months(self, months: i32) -> Self {
        let index = self.year * 12 + i32::from(self.month) - 1 + months;
        Self {
            year: index.div_euclid(12),
            month: (index.rem_euclid(12) + 1) as u8,
        }
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for YearMonth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for YearMonth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        YearMonth::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn parses_and_prints() {
        let m = YearMonth::parse("2019-03").unwrap();
        assert_eq!((m.year(), m.month()), (2019, 3));
        assert_eq!(m.to_string(), "2019-03");
        assert_eq!(m.first_day(), date!(2019 - 03 - 01));
        for bad in [
            "2019-3", "2019-13", "2019-00", "19-03-01", "abcd-ef", "+201-03",
        ] {
            assert!(YearMonth::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn month_arithmetic() {
        let m = YearMonth::new(2025, 11).unwrap();
        assert_eq!(m.plus_months(2), YearMonth::new(2026, 1).unwrap());
        assert_eq!(m.plus_months(-11), YearMonth::new(2024, 12).unwrap());
        assert_eq!(m.months_until(YearMonth::new(2026, 11).unwrap()), 12);
        assert_eq!(
            YearMonth::from_date(date!(2026 - 11 - 28)).to_string(),
            "2026-11"
        );
    }

    proptest! {
        #[test]
        fn round_trip(year in 1900i32..=9999, month in 1u8..=12) {
            let m = YearMonth::new(year, month).unwrap();
            prop_assert_eq!(YearMonth::parse(&m.to_string()).unwrap(), m);
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<YearMonth>(&json).unwrap(), m);
        }
    }
}
