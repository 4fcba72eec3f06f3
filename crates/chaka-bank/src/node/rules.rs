//! The eligibility rules: which of a person's cards a bank lists in an answer, and under which
//! reason it counts the others. Pure: a holder record, the subject of the inquiry and today's
//! date in, a card list out. Masking happens here, before anything is sealed.
//!
//! A card is listed when the holder's name and ID number match the subject, the phone
//! reserved on the card equals the subject's phone, the holder's ID document has not expired,
//! card-not-present service is enabled, and the card is not closed. Every other card of the
//! person is counted under the first rule it fails, in this order: closed, ID document
//! expired, no reserved phone, reserved phone differs, card-not-present disabled.

use crate::store::Holder;
use chaka_core::{CardStatus, Phone};
use chaka_protocol::message::{Card, CardList, Unlisted, UnlistedReason};
use std::collections::BTreeMap;
use time::Date;

/// The outcome of the rules for one inquiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The bank does not know this person under this name and ID number.
    NoMatch,
    /// The person is a customer; here is what may be told.
    Matched(CardList),
}

/// Applies the rules. `holder` is the record found by ID number, if any.
pub fn evaluate(holder: Option<&Holder>, name: &str, phone: &Phone, today: Date) -> Verdict {
    let Some(holder) = holder else {
        return Verdict::NoMatch;
    };
    if holder.name != name.trim() {
        return Verdict::NoMatch;
    }
    let document_expired = holder.id_doc_expires < today;
    let mut cards = Vec::new();
    let mut unlisted: BTreeMap<UnlistedReason, u32> = BTreeMap::new();
    for card in &holder.cards {
        let refusal = if card.status == CardStatus::Closed {
            Some(UnlistedReason::Closed)
        } else if document_expired {
            Some(UnlistedReason::IdDocumentExpired)
        } else if card.reserved_phone.is_none() {
            Some(UnlistedReason::NoReservedPhone)
        } else if card.reserved_phone.as_ref() != Some(phone) {
            Some(UnlistedReason::ReservedPhoneDiffers)
        } else if !card.cnp_enabled {
            Some(UnlistedReason::CardNotPresentDisabled)
        } else {
            None
        };
        match refusal {
            Some(reason) => *unlisted.entry(reason).or_default() += 1,
            None => cards.push(Card {
                pan: card.pan.masked(),
                kind: card.kind,
                status: card.status,
                opened: card.opened,
                last_active: card.last_active,
                product: card.product.clone(),
            }),
        }
    }
    Verdict::Matched(CardList {
        cards,
        unlisted: unlisted
            .into_iter()
            .map(|(reason, count)| Unlisted { reason, count })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CardRecord;
    use chaka_core::{CardKind, CardNumber, YearMonth, luhn_check_digit};
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 28);

    fn pan(body: &str) -> CardNumber {
        CardNumber::parse(&format!("{body}{}", luhn_check_digit(body).unwrap())).unwrap()
    }

    fn card(body: &str, phone: Option<&str>, cnp: bool, status: CardStatus) -> CardRecord {
        CardRecord {
            pan: pan(body),
            kind: CardKind::Debit,
            status,
            reserved_phone: phone.map(|p| Phone::parse(p).unwrap()),
            cnp_enabled: cnp,
            opened: YearMonth::new(2019, 3).unwrap(),
            last_active: Some(YearMonth::new(2026, 10).unwrap()),
            product: "灵通卡".into(),
        }
    }

    fn holder(expires: Date) -> Holder {
        let p = Some("13812345678");
        Holder {
            name: "张三".into(),
            id_doc_expires: expires,
            cards: vec![
                card("622202000000000001", p, true, CardStatus::Normal),
                card("622202000000000002", p, true, CardStatus::Dormant),
                card("622202000000000003", None, true, CardStatus::Normal),
                card(
                    "622202000000000004",
                    Some("13900000000"),
                    true,
                    CardStatus::Normal,
                ),
                card("622202000000000005", p, false, CardStatus::Normal),
                card("622202000000000006", p, true, CardStatus::Closed),
            ],
        }
    }

    fn phone() -> Phone {
        Phone::parse("13812345678").unwrap()
    }

    #[test]
    fn lists_only_cards_that_pass_every_rule_and_counts_the_rest() {
        let Verdict::Matched(list) = evaluate(
            Some(&holder(date!(2030 - 01 - 01))),
            "张三",
            &phone(),
            TODAY,
        ) else {
            panic!("expected a match");
        };
        let shown: Vec<String> = list.cards.iter().map(|c| c.pan.to_string()).collect();
        assert_eq!(shown.len(), 2);
        assert!(shown.iter().all(|s| s.starts_with("6222 ")), "{shown:?}");
        assert_eq!(list.unlisted_count(UnlistedReason::NoReservedPhone), 1);
        assert_eq!(list.unlisted_count(UnlistedReason::ReservedPhoneDiffers), 1);
        assert_eq!(
            list.unlisted_count(UnlistedReason::CardNotPresentDisabled),
            1
        );
        assert_eq!(list.unlisted_count(UnlistedReason::Closed), 1);
        assert_eq!(list.unlisted_count(UnlistedReason::IdDocumentExpired), 0);
    }

    #[test]
    fn an_expired_id_document_hides_every_open_card() {
        let Verdict::Matched(list) = evaluate(
            Some(&holder(date!(2026 - 11 - 27))),
            "张三",
            &phone(),
            TODAY,
        ) else {
            panic!("expected a match");
        };
        assert!(list.cards.is_empty());
        assert_eq!(list.unlisted_count(UnlistedReason::IdDocumentExpired), 5);
        assert_eq!(list.unlisted_count(UnlistedReason::Closed), 1);
    }

    #[test]
    fn another_name_or_no_record_is_no_match() {
        let h = holder(date!(2030 - 01 - 01));
        assert_eq!(
            evaluate(Some(&h), "张四", &phone(), TODAY),
            Verdict::NoMatch
        );
        assert_eq!(evaluate(None, "张三", &phone(), TODAY), Verdict::NoMatch);
    }

    #[test]
    fn a_stranger_phone_lists_nothing() {
        let Verdict::Matched(list) = evaluate(
            Some(&holder(date!(2030 - 01 - 01))),
            "张三",
            &Phone::parse("13700000000").unwrap(),
            TODAY,
        ) else {
            panic!("expected a match");
        };
        assert!(list.cards.is_empty());
        assert_eq!(list.unlisted_count(UnlistedReason::ReservedPhoneDiffers), 4);
    }
}
