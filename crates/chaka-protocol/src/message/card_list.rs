//! The plaintext of a sealed answer: the cards a bank lists for the subject (masked number,
//! kind, status, opened and last-active month, product) and the cards it could not list,
//! counted by reason. Only the user's key opens it; this module owns its shape and checks.

use super::error::{CardProblem, ProtocolError};
use super::raw::{self, RawCardList};
use crate::keys::{RecipientPublicKey, RecipientSecretKey};
use crate::limits::Limits;
use crate::seal::{SealError, SealedCardList, open, seal};
use crate::suite::Suite;
use chaka_core::{BankCode, CardKind, CardStatus, InquiryId, MaskedPan, YearMonth};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// Why a bank could not list a card it holds in the subject's name (the cross-check of the
/// design: name + ID number + the phone reserved on the card).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlistedReason {
    /// The card has no reserved phone number.
    NoReservedPhone,
    /// The card's reserved phone is not the subject's phone.
    ReservedPhoneDiffers,
    /// The ID document on file for the card has expired.
    IdDocumentExpired,
    /// Card-not-present (online) service is disabled on the card.
    CardNotPresentDisabled,
    /// The card is closed.
    Closed,
}

impl UnlistedReason {
    /// All reasons.
    pub const ALL: [UnlistedReason; 5] = [
        Self::NoReservedPhone,
        Self::ReservedPhoneDiffers,
        Self::IdDocumentExpired,
        Self::CardNotPresentDisabled,
        Self::Closed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoReservedPhone => "no_reserved_phone",
            Self::ReservedPhoneDiffers => "reserved_phone_differs",
            Self::IdDocumentExpired => "id_document_expired",
            Self::CardNotPresentDisabled => "card_not_present_disabled",
            Self::Closed => "closed",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// One listed card.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Card {
    /// First 4 and last 4 digits and the length. Never more.
    pub pan: MaskedPan,
    /// Debit, credit, semi-credit or prepaid.
    pub kind: CardKind,
    /// Normal, dormant, frozen, reported lost (closed cards are counted in `unlisted`).
    pub status: CardStatus,
    /// Month the card was opened.
    pub opened: YearMonth,
    /// Month of the last customer-initiated activity, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active: Option<YearMonth>,
    /// The bank's product name, e.g. `牡丹灵通卡`.
    pub product: String,
}

impl fmt::Debug for Card {
    /// Shows the card's shape without digits: logs must never carry card digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("pan", &format_args!("****/{}", self.pan.length()))
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("opened", &self.opened)
            .field("last_active", &self.last_active)
            .finish_non_exhaustive()
    }
}

/// A count of unlisted cards for one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Unlisted {
    /// Why.
    pub reason: UnlistedReason,
    /// How many cards (≥ 1).
    pub count: u32,
}

/// The plaintext the bank seals: listed cards and unlisted counts.
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
pub struct CardList {
    /// The cards listed, at most `Limits::max_cards_per_answer`.
    pub cards: Vec<Card>,
    /// The cards not listed, one entry per reason (no repeats, counts ≥ 1).
    pub unlisted: Vec<Unlisted>,
}

impl fmt::Debug for CardList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardList")
            .field("cards", &self.cards.len())
            .field("unlisted", &self.unlisted)
            .finish()
    }
}

/// Why a sealed card list could not be opened into a valid [`CardList`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenCardListError {
    /// Decryption failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The plaintext is not a valid card list.
    #[error("the opened card list is invalid: {0}")]
    Invalid(#[from] ProtocolError),
}

impl CardList {
    /// Parses and validates a card list (the opened plaintext).
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, ProtocolError> {
        let raw: RawCardList = raw::parse(bytes, limits.max_ciphertext_bytes)?;
        let list = raw.into_card_list()?;
        list.validate(limits)?;
        Ok(list)
    }

    /// Checks the limits and rules that typed values cannot express.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtocolError> {
        if self.cards.len() > limits.max_cards_per_answer {
            return Err(ProtocolError::TooManyCards {
                count: self.cards.len(),
                max: limits.max_cards_per_answer,
            });
        }
        for (index, card) in self.cards.iter().enumerate() {
            let bad = |problem| Err(ProtocolError::InvalidCard { index, problem });
            if card.last_active.is_some_and(|last| last < card.opened) {
                return bad(CardProblem::LastActiveBeforeOpened);
            }
            if !valid_product(&card.product, limits.max_product_chars) {
                return bad(CardProblem::Product);
            }
        }
        for (index, entry) in self.unlisted.iter().enumerate() {
            let repeated = self.unlisted[..index]
                .iter()
                .any(|e| e.reason == entry.reason);
            if repeated || entry.count == 0 || entry.count > limits.max_unlisted_count {
                return Err(ProtocolError::InvalidUnlisted { index });
            }
        }
        Ok(())
    }

    /// The JSON plaintext, zeroized when dropped.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        serde_json::to_vec(self).map(Zeroizing::new)
    }

    /// How many cards were not listed for `reason`.
    pub fn unlisted_count(&self, reason: UnlistedReason) -> u32 {
        self.unlisted
            .iter()
            .filter(|u| u.reason == reason)
            .map(|u| u.count)
            .sum()
    }

    /// Serialises and seals this list for one inquiry at one bank (see [`crate::seal::seal`]).
    pub fn seal(
        &self,
        suite: Suite,
        recipient: &RecipientPublicKey,
        inquiry_id: &InquiryId,
        bank: &BankCode,
    ) -> Result<SealedCardList, SealError> {
        let json = self.to_json().map_err(|_| SealError::Seal)?;
        seal(suite, recipient, inquiry_id, bank, &json)
    }

    /// Opens a sealed list and validates the plaintext.
    pub fn open(
        sealed: &SealedCardList,
        recipient: &RecipientSecretKey,
        inquiry_id: &InquiryId,
        bank: &BankCode,
        limits: &Limits,
    ) -> Result<Self, OpenCardListError> {
        let plaintext = open(sealed.suite, recipient, inquiry_id, bank, sealed)?;
        Ok(Self::from_json(&plaintext, limits)?)
    }
}

/// A product name: 1..=max chars, trimmed, no control characters, no run of 5+ digits.
pub(crate) fn valid_product(product: &str, max_chars: usize) -> bool {
    let mut run = 0;
    for c in product.chars() {
        if c.is_control() {
            return false;
        }
        if c.is_ascii_digit() || ('０'..='９').contains(&c) {
            run += 1;
            if run >= 5 {
                return false;
            }
        } else {
            run = 0;
        }
    }
    !product.trim().is_empty() && product.trim() == product && product.chars().count() <= max_chars
}

impl raw::RawCard {
    fn into_card(self, index: usize) -> Result<Card, ProtocolError> {
        let bad = |problem| ProtocolError::InvalidCard { index, problem };
        let pan = MaskedPan::new(&self.pan.first4, &self.pan.last4, self.pan.length)
            .map_err(|_| bad(CardProblem::MaskedPan))?;
        let kind = CardKind::parse(&self.kind).ok_or(bad(CardProblem::Kind))?;
        let status = CardStatus::parse(&self.status).ok_or(bad(CardProblem::Status))?;
        let opened = YearMonth::parse(&self.opened).map_err(|_| bad(CardProblem::Month))?;
        let last_active = self
            .last_active
            .as_deref()
            .map(YearMonth::parse)
            .transpose()
            .map_err(|_| bad(CardProblem::Month))?;
        Ok(Card {
            pan,
            kind,
            status,
            opened,
            last_active,
            product: self.product,
        })
    }
}

impl RawCardList {
    fn into_card_list(self) -> Result<CardList, ProtocolError> {
        let cards = self
            .cards
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.into_card(i))
            .collect::<Result<Vec<_>, _>>()?;
        let unlisted = self
            .unlisted
            .into_iter()
            .enumerate()
            .map(|(index, u)| {
                UnlistedReason::parse(&u.reason)
                    .map(|reason| Unlisted {
                        reason,
                        count: u.count,
                    })
                    .ok_or(ProtocolError::InvalidUnlisted { index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CardList { cards, unlisted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_json(product: &str) -> String {
        format!(
            r#"{{"pan":{{"first4":"6222","last4":"1234","length":19}},"kind":"debit","status":"normal","opened":"2019-03","last_active":"2026-10","product":"{product}"}}"#
        )
    }

    #[test]
    fn parses_a_valid_list() {
        let json = format!(
            r#"{{"cards":[{}],"unlisted":[{{"reason":"no_reserved_phone","count":2}}]}}"#,
            card_json("牡丹灵通卡")
        );
        let list = CardList::from_json(json.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(list.cards.len(), 1);
        assert_eq!(list.unlisted_count(UnlistedReason::NoReservedPhone), 2);
        assert_eq!(list.unlisted_count(UnlistedReason::Closed), 0);
        let again = CardList::from_json(&list.to_json().unwrap(), &Limits::default()).unwrap();
        assert_eq!(again, list);
        assert!(!format!("{list:?}").contains("6222"));
    }

    #[test]
    fn refuses_products_that_could_hide_a_card_number() {
        assert!(valid_product("Visa 2000", 64));
        assert!(!valid_product("card 62221234", 64));
        assert!(!valid_product("卡１２３４５", 64));
        assert!(!valid_product(" padded", 64));
        assert!(!valid_product("", 64));
        assert!(!valid_product(&"卡".repeat(65), 64));
        assert!(!valid_product("a\u{7}b", 64));
    }

    #[test]
    fn refuses_bad_entries_with_their_index() {
        let limits = Limits::default();
        let bad_pan = r#"{"cards":[{"pan":{"first4":"62221","last4":"1234","length":19},"kind":"debit","status":"normal","opened":"2019-03","product":"x"}],"unlisted":[]}"#;
        assert_eq!(
            CardList::from_json(bad_pan.as_bytes(), &limits),
            Err(ProtocolError::InvalidCard {
                index: 0,
                problem: CardProblem::MaskedPan
            })
        );
        let repeated = r#"{"cards":[],"unlisted":[{"reason":"closed","count":1},{"reason":"closed","count":2}]}"#;
        assert_eq!(
            CardList::from_json(repeated.as_bytes(), &limits),
            Err(ProtocolError::InvalidUnlisted { index: 1 })
        );
        let zero = r#"{"cards":[],"unlisted":[{"reason":"closed","count":0}]}"#;
        assert!(CardList::from_json(zero.as_bytes(), &limits).is_err());
        let unknown = r#"{"cards":[],"unlisted":[],"extra":1}"#;
        assert_eq!(
            CardList::from_json(unknown.as_bytes(), &limits)
                .unwrap_err()
                .code(),
            "schema_mismatch"
        );
    }
}
