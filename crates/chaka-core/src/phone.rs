//! Mainland China mobile numbers: 11 digits starting 13–19. Accepts the `+86` / `0086` country
//! prefix, spaces and hyphens, and full-width digits (the same folding as ID numbers); stores
//! the bare 11 digits.

use crate::normalize::fold;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a string is not a mainland mobile number. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing was given.
    #[error("the mobile number is empty")]
    Empty,
    /// A character other than digits, spaces, hyphens or a leading `+`.
    #[error("the mobile number may contain only digits, spaces, hyphens and a leading +86")]
    BadCharacter,
    /// A country code other than +86.
    #[error("only mainland China mobile numbers (+86) are accepted")]
    ForeignCountry,
    /// Not 11 digits after the country code.
    #[error("a mobile number has 11 digits, this one has {0}")]
    WrongLength(usize),
    /// Does not start with 13–19.
    #[error("a mainland mobile number starts with 13 to 19")]
    NotMobile,
}

/// A mainland mobile number, 11 ASCII digits. `Debug` shows the masked form; there is no
/// `Display`: the full number takes [`Phone::as_str`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Parses and normalises a mobile number.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let folded = fold(input);
        if folded.is_empty() {
            return Err(PhoneError::Empty);
        }
        let (rest, had_plus) = match folded.strip_prefix('+') {
            Some(rest) => (rest, true),
            None => (folded.as_str(), false),
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(PhoneError::BadCharacter),
            }
        }
        let national = if had_plus {
            digits
                .strip_prefix("86")
                .ok_or(PhoneError::ForeignCountry)?
        } else if let Some(rest) = digits.strip_prefix("0086") {
            rest
        } else if digits.starts_with("00") {
            return Err(PhoneError::ForeignCountry);
        } else {
            &digits
        };
        if national.len() != 11 {
            return Err(PhoneError::WrongLength(national.len()));
        }
        let bytes = national.as_bytes();
        if bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
            return Err(PhoneError::NotMobile);
        }
        Ok(Self(national.to_owned()))
    }

    /// The 11 digits. Every call is a place where the number leaves its wrapper.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 3 and last 4 digits: `138****5678`, as SMS and pages show it.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    /// The last 4 digits.
    pub fn last4(&self) -> &str {
        &self.0[7..]
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl Serialize for Phone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Phone::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_common_forms() {
        for input in [
            "13812345678",
            "+86 138 1234 5678",
            "+86-138-1234-5678",
            "0086 13812345678",
            " 138-1234-5678 ",
            "１３８１２３４５６７８",
        ] {
            assert_eq!(
                Phone::parse(input).unwrap().as_str(),
                "13812345678",
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_with_reasons() {
        assert_eq!(Phone::parse(""), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("138a2345678"), Err(PhoneError::BadCharacter));
        assert_eq!(
            Phone::parse("+1 4155550100"),
            Err(PhoneError::ForeignCountry)
        );
        assert_eq!(
            Phone::parse("0044 7700900123"),
            Err(PhoneError::ForeignCountry)
        );
        assert_eq!(Phone::parse("1381234567"), Err(PhoneError::WrongLength(10)));
        assert_eq!(Phone::parse("12812345678"), Err(PhoneError::NotMobile));
        assert_eq!(Phone::parse("02112345678"), Err(PhoneError::NotMobile));
    }

    #[test]
    fn masked_everywhere_it_is_printed() {
        let p = Phone::parse("13812345678").unwrap();
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(format!("{p:?}"), "Phone(138****5678)");
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(second in 3u8..=9, rest in "[0-9]{9}") {
            let raw = format!("1{second}{rest}");
            let p = Phone::parse(&raw).unwrap();
            prop_assert_eq!(p.as_str(), raw.as_str());
            let spaced = format!("+86 {} {} {}", &raw[..3], &raw[3..7], &raw[7..]);
            prop_assert_eq!(Phone::parse(&spaced).unwrap(), p);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Phone::parse(&s);
        }
    }
}
