//! "This card is not mine": a cardholder marks a card of their report as one they did not
//! open. The hub records it in the audit trail with the bank and a keyed reference of the card
//! (HMAC under the session key of the inquiry, the bank and the first and last four digits), so
//! the record holds no card digits, yet the report can show the mark again when it is opened.
//! The hub cannot check that the card was in the report (it never reads reports); it checks
//! that the inquiry is the caller's, final and not deleted, and that the bank was asked. The
//! message to the bank itself is a later protocol step: the user is told to call the bank.

use crate::error::ApiError;
use crate::hub::Hub;
use crate::store::Account;

/// The audit kind of a dispute.
pub const KIND: &str = "card_disputed";

/// A card as the report shows it, reduced to what identifies it: first and last four digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardMark {
    first4: String,
    last4: String,
}

impl CardMark {
    /// Parses `6222 **** **** 1234` (or `6222********1234`): four digits, stars and spaces,
    /// four digits.
    pub fn parse(masked: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::new("invalid_request").detail("card is the masked number the report shows")
        };
        let masked = masked.trim();
        if masked.len() < 9 || masked.len() > 40 || !masked.is_ascii() {
            return Err(invalid());
        }
        let (first4, rest) = masked.split_at(4);
        let (middle, last4) = rest.split_at(rest.len() - 4);
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !digits(first4)
            || !digits(last4)
            || !middle.contains('*')
            || !middle.bytes().all(|b| b == b'*' || b == b' ')
        {
            return Err(invalid());
        }
        Ok(Self {
            first4: first4.to_owned(),
            last4: last4.to_owned(),
        })
    }
}

impl Hub {
    /// The keyed reference of a card in an inquiry (hex).
    fn card_ref(&self, inquiry_id: &str, bank: &str, card: &CardMark) -> String {
        hex::encode(
            &self.vault.token_hash(&format!(
                "card-dispute\0{inquiry_id}\0{bank}\0{}{}",
                card.first4, card.last4
            ))[..16],
        )
    }

    /// Records that a card of the caller's report is not theirs.
    pub async fn dispute_card(
        &self,
        account: &Account,
        inquiry_id: &str,
        bank: &str,
        masked: &str,
    ) -> Result<(), ApiError> {
        let record = self.inquiry_of(account, inquiry_id).await?;
        match record.state.as_str() {
            "purged" => return Err(ApiError::new("report_gone")),
            "open" => return Err(ApiError::new("report_not_ready")),
            _ => {}
        }
        if !record.banks.iter().any(|b| b == bank) {
            return Err(ApiError::new("invalid_request").detail("the bank was not asked"));
        }
        let card = CardMark::parse(masked)?;
        let reference = self.card_ref(inquiry_id, bank, &card);
        if self
            .disputed(account, inquiry_id)
            .await?
            .contains(&reference)
        {
            return Ok(());
        }
        self.audit(
            Some(&account.account_id),
            KIND,
            Some(inquiry_id),
            serde_json::json!({ "bank": bank, "card_ref": reference }),
        )
        .await?;
        tracing::info!(inquiry = %inquiry_id, bank, "card reported as not the holder's");
        Ok(())
    }

    /// The references of the cards of an inquiry that the caller reported.
    async fn disputed(&self, account: &Account, inquiry_id: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .store
            .audit_events(&account.account_id, 1000)
            .await?
            .into_iter()
            .filter(|e| e.kind == KIND && e.inquiry_id.as_deref() == Some(inquiry_id))
            .filter_map(|e| e.detail["card_ref"].as_str().map(str::to_owned))
            .collect())
    }

    /// Whether each `(bank, masked)` of a report was reported as not the holder's.
    pub async fn disputed_cards(
        &self,
        account: &Account,
        inquiry_id: &str,
        cards: &[(&str, &str)],
    ) -> Result<Vec<bool>, ApiError> {
        let disputed = self.disputed(account, inquiry_id).await?;
        Ok(cards
            .iter()
            .map(|(bank, masked)| {
                CardMark::parse(masked)
                    .is_ok_and(|c| disputed.contains(&self.card_ref(inquiry_id, bank, &c)))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::CardMark;

    #[test]
    fn only_masked_numbers_are_marks() {
        let mark = CardMark::parse("6222 **** **** *** 1234").unwrap();
        assert_eq!(
            (mark.first4.as_str(), mark.last4.as_str()),
            ("6222", "1234")
        );
        assert!(CardMark::parse("6222********1234").is_ok());
        for bad in [
            "6222021234561234",
            "6222 **** 12 1234",
            "62a2 **** 1234",
            "",
            "6222 1234",
            "６２２２ **** 1234",
        ] {
            assert!(CardMark::parse(bad).is_err(), "{bad}");
        }
    }
}
