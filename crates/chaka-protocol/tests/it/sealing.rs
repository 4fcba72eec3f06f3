//! Sealing properties: round trip, tamper evidence, binding to inquiry and bank.

use crate::support::T0;
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::keys::RecipientKeyPair;
use chaka_protocol::seal::{SealError, open, seal};
use chaka_protocol::suite::Suite;
use proptest::prelude::*;
use std::sync::LazyLock;
use time::Duration;

const SUITE: Suite = Suite::HpkeX25519Sha256ChaCha20Poly1305;
static USER: LazyLock<RecipientKeyPair> = LazyLock::new(RecipientKeyPair::generate);

fn id(n: i64) -> InquiryId {
    InquiryId::generate(T0 + Duration::milliseconds(n))
}

fn bank_code() -> impl Strategy<Value = BankCode> {
    "[A-Z0-9]{2,16}".prop_map(|s| BankCode::parse(&s).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn seal_then_open_returns_the_plaintext(plaintext in proptest::collection::vec(any::<u8>(), 0..2048), bank in bank_code()) {
        let inquiry = id(1);
        let sealed = seal(SUITE, &USER.public_key(), &inquiry, &bank, &plaintext).unwrap();
        prop_assert_eq!(sealed.ciphertext.len(), plaintext.len() + SUITE.tag_len());
        let opened = open(SUITE, USER.secret_key(), &inquiry, &bank, &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn any_flipped_byte_of_enc_or_ciphertext_fails(plaintext in proptest::collection::vec(any::<u8>(), 0..256), at in any::<prop::sample::Index>(), flip in 1u8.., in_enc in any::<bool>()) {
        let inquiry = id(2);
        let bank = BankCode::parse("ICBC").unwrap();
        let mut sealed = seal(SUITE, &USER.public_key(), &inquiry, &bank, &plaintext).unwrap();
        let target = if in_enc { &mut sealed.enc } else { &mut sealed.ciphertext };
        let i = at.index(target.len());
        target[i] ^= flip;
        prop_assert_eq!(open(SUITE, USER.secret_key(), &inquiry, &bank, &sealed), Err(SealError::Open));
    }

    #[test]
    fn another_inquiry_or_bank_cannot_open(plaintext in proptest::collection::vec(any::<u8>(), 0..256), other_bank in bank_code(), other in 3i64..1_000_000) {
        let inquiry = id(0);
        let bank = BankCode::parse("ICBC").unwrap();
        let sealed = seal(SUITE, &USER.public_key(), &inquiry, &bank, &plaintext).unwrap();
        prop_assert_eq!(open(SUITE, USER.secret_key(), &id(other), &bank, &sealed), Err(SealError::Open));
        if other_bank != bank {
            prop_assert_eq!(open(SUITE, USER.secret_key(), &inquiry, &other_bank, &sealed), Err(SealError::Open));
        }
        let stranger = RecipientKeyPair::generate();
        prop_assert_eq!(open(SUITE, stranger.secret_key(), &inquiry, &bank, &sealed), Err(SealError::Open));
    }
}
