//! Card numbers (PANs): the Luhn check, the one masked form chaka ever shows (first 4 + last 4
//! and the length), card kinds and statuses.
//!
//! A full card number exists only inside a bank node; everything that crosses to the hub is a
//! [`MaskedPan`]. `CardNumber`'s `Debug` and `Display` print the masked form.

use crate::normalize::fold;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not a card number. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardNumberError {
    /// A character other than digits, spaces or hyphens.
    #[error("a card number may contain only digits, spaces and hyphens")]
    BadCharacter,
    /// Fewer than 13 or more than 19 digits.
    #[error("a card number has 13 to 19 digits, this one has {0}")]
    WrongLength(usize),
    /// The Luhn check digit does not match.
    #[error("the card number's check digit is wrong (typo?)")]
    BadCheckDigit,
}

/// `true` when `digits` (ASCII digits only) passes the Luhn (mod 10) check.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    luhn_sum(digits.bytes().rev(), false).is_multiple_of(10)
}

/// The Luhn check digit to append to `body`, or `None` if `body` is empty or not all digits.
pub fn luhn_check_digit(body: &str) -> Option<u8> {
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum = luhn_sum(body.bytes().rev(), true);
    Some(((10 - sum % 10) % 10) as u8)
}

fn luhn_sum(reversed: impl Iterator<Item = u8>, double_first: bool) -> u32 {
    reversed
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 0) == double_first {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum()
}

/// A full card number, 13–19 digits with a valid Luhn digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardNumber(String);

impl CardNumber {
    /// Parses a card number; spaces and hyphens between digit groups are removed.
    pub fn parse(input: &str) -> Result<Self, CardNumberError> {
        let folded = fold(input);
        let mut digits = String::with_capacity(19);
        for c in folded.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(CardNumberError::BadCharacter),
            }
        }
        if !(13..=19).contains(&digits.len()) {
            return Err(CardNumberError::WrongLength(digits.len()));
        }
        if !luhn_valid(&digits) {
            return Err(CardNumberError::BadCheckDigit);
        }
        Ok(Self(digits))
    }

    /// The digits. Only a bank node should ever call this.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a card number has at least 13 digits.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// First 4 + last 4 digits and the length: all that may leave the bank.
    pub fn masked(&self) -> MaskedPan {
        MaskedPan {
            first4: self.0[..4].to_owned(),
            last4: self.0[self.0.len() - 4..].to_owned(),
            length: self.0.len() as u8,
        }
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({})", self.masked())
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.masked(), f)
    }
}

/// Why a masked card number is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a masked card number has exactly 4 leading and 4 trailing digits and a length of 13 to 19"
)]
pub struct MaskedPanError;

/// A masked card number: the first 4 and last 4 digits and the full length. Nothing more, ever.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "MaskedPanWire", into = "MaskedPanWire")]
pub struct MaskedPan {
    first4: String,
    last4: String,
    length: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaskedPanWire {
    first4: String,
    last4: String,
    length: u8,
}

impl TryFrom<MaskedPanWire> for MaskedPan {
    type Error = MaskedPanError;
    fn try_from(w: MaskedPanWire) -> Result<Self, Self::Error> {
        MaskedPan::new(&w.first4, &w.last4, w.length)
    }
}

impl From<MaskedPan> for MaskedPanWire {
    fn from(m: MaskedPan) -> Self {
        Self {
            first4: m.first4,
            last4: m.last4,
            length: m.length,
        }
    }
}

impl MaskedPan {
    /// Validates the parts: exactly 4 ASCII digits each, length 13..=19.
    pub fn new(first4: &str, last4: &str, length: u8) -> Result<Self, MaskedPanError> {
        let four_digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        if !four_digits(first4) || !four_digits(last4) || !(13..=19).contains(&length) {
            return Err(MaskedPanError);
        }
        Ok(Self {
            first4: first4.to_owned(),
            last4: last4.to_owned(),
            length,
        })
    }

    /// The first 4 digits.
    pub fn first4(&self) -> &str {
        &self.first4
    }

    /// The last 4 digits.
    pub fn last4(&self) -> &str {
        &self.last4
    }

    /// The number of digits of the full card number.
    pub fn length(&self) -> u8 {
        self.length
    }
}

impl fmt::Display for MaskedPan {
    /// `6222 **** **** 1234`: first 4, stars in groups of four for the hidden middle, last 4.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = usize::from(self.length).saturating_sub(8);
        let mut out = self.first4.clone();
        let mut left = hidden;
        while left > 0 {
            let group = left.min(4);
            out.push(' ');
            out.push_str(&"*".repeat(group));
            left -= group;
        }
        out.push(' ');
        out.push_str(&self.last4);
        f.write_str(&out)
    }
}

/// What kind of card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// 借记卡 (DC).
    Debit,
    /// 贷记卡 / credit card (CC).
    Credit,
    /// 准贷记卡 / semi-credit card (SCC).
    SemiCredit,
    /// 预付费卡 / prepaid card (PC).
    Prepaid,
}

impl CardKind {
    /// From the type code of the BIN tables: `DC`, `CC`, `SCC`, `PC`.
    pub fn from_bin_type(code: &str) -> Option<Self> {
        match code {
            "DC" => Some(Self::Debit),
            "CC" => Some(Self::Credit),
            "SCC" => Some(Self::SemiCredit),
            "PC" => Some(Self::Prepaid),
            _ => None,
        }
    }

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
            Self::SemiCredit => "semi_credit",
            Self::Prepaid => "prepaid",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Debit, Self::Credit, Self::SemiCredit, Self::Prepaid]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// The state of a card at its bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    /// 正常: in use.
    Normal,
    /// 久悬 / dormant: no activity for a long time.
    Dormant,
    /// 冻结: frozen (by the bank or an authority).
    Frozen,
    /// 挂失: reported lost.
    ReportedLost,
    /// 销户: closed. Closed cards are never listed, only counted.
    Closed,
}

impl CardStatus {
    /// All statuses.
    pub const ALL: [CardStatus; 5] = [
        Self::Normal,
        Self::Dormant,
        Self::Frozen,
        Self::ReportedLost,
        Self::Closed,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Dormant => "dormant",
            Self::Frozen => "frozen",
            Self::ReportedLost => "reported_lost",
            Self::Closed => "closed",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn_valid("4111111111111111"));
        assert!(
            luhn_valid("6222021234567890128")
                == (luhn_check_digit("622202123456789012") == Some(8))
        );
        assert_eq!(luhn_check_digit("7992739871"), Some(3));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
        assert_eq!(luhn_check_digit("12a"), None);
    }

    #[test]
    fn parse_and_mask() {
        let pan = CardNumber::parse("4111 1111 1111 1111").unwrap();
        assert_eq!(pan.len(), 16);
        assert_eq!(pan.to_string(), "4111 **** **** 1111");
        assert_eq!(format!("{pan:?}"), "CardNumber(4111 **** **** 1111)");
        assert_eq!(
            CardNumber::parse("41111"),
            Err(CardNumberError::WrongLength(5))
        );
        assert_eq!(
            CardNumber::parse("4111x1111"),
            Err(CardNumberError::BadCharacter)
        );
        assert_eq!(
            CardNumber::parse("4111111111111112"),
            Err(CardNumberError::BadCheckDigit)
        );
    }

    #[test]
    fn masked_pan_display_groups_the_hidden_middle() {
        assert_eq!(
            MaskedPan::new("6222", "1234", 16).unwrap().to_string(),
            "6222 **** **** 1234"
        );
        assert_eq!(
            MaskedPan::new("6222", "1234", 19).unwrap().to_string(),
            "6222 **** **** *** 1234"
        );
        assert_eq!(
            MaskedPan::new("6222", "1234", 13).unwrap().to_string(),
            "6222 **** * 1234"
        );
        assert!(MaskedPan::new("622", "1234", 16).is_err());
        assert!(MaskedPan::new("6222", "12345", 16).is_err());
        assert!(MaskedPan::new("6222", "1234", 20).is_err());
        assert!(
            serde_json::from_str::<MaskedPan>(
                r#"{"first4":"6222","last4":"1234","length":16,"middle":"1"}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<MaskedPan>(r#"{"first4":"62221","last4":"1234","length":16}"#)
                .is_err()
        );
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for kind in [
            CardKind::Debit,
            CardKind::Credit,
            CardKind::SemiCredit,
            CardKind::Prepaid,
        ] {
            assert_eq!(CardKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        for status in CardStatus::ALL {
            assert_eq!(CardStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert_eq!(CardKind::from_bin_type("SCC"), Some(CardKind::SemiCredit));
        assert_eq!(CardKind::from_bin_type("XX"), None);
    }

    proptest! {
        #[test]
        fn masking_never_reveals_the_middle(body in "[0-9]{12,18}") {
            let check = luhn_check_digit(&body).unwrap();
            let full = format!("{body}{check}");
            let pan = CardNumber::parse(&full).unwrap();
            let masked = pan.masked();
            let shown = [pan.to_string(), format!("{pan:?}"), masked.to_string(), serde_json::to_string(&masked).unwrap()];
            let digits_shown: Vec<String> = shown
                .iter()
                .map(|s| s.chars().filter(char::is_ascii_digit).collect())
                .collect();
            let first_last = format!("{}{}", &full[..4], &full[full.len() - 4..]);
            // Display/Debug forms hold exactly first 4 + last 4 digits.
            prop_assert_eq!(&digits_shown[0], &first_last);
            prop_assert_eq!(&digits_shown[1], &first_last);
            prop_assert_eq!(&digits_shown[2], &first_last);
            prop_assert_eq!(masked.length() as usize, full.len());
            prop_assert_eq!(masked.first4(), &full[..4]);
            prop_assert_eq!(masked.last4(), &full[full.len() - 4..]);
        }

        #[test]
        fn exactly_one_luhn_digit_validates(body in "[0-9]{12,18}") {
            let valid: Vec<u8> = (0..=9u8).filter(|d| luhn_valid(&format!("{body}{d}"))).collect();
            prop_assert_eq!(valid, vec![luhn_check_digit(&body).unwrap()]);
        }

        #[test]
        fn parse_format_round_trip(body in "[0-9]{12,18}") {
            let full = format!("{body}{}", luhn_check_digit(&body).unwrap());
            let grouped: Vec<String> = full.as_bytes().chunks(4).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
            let parsed = CardNumber::parse(&grouped.join(" ")).unwrap();
            prop_assert_eq!(parsed.as_str(), full.as_str());
        }
    }
}
