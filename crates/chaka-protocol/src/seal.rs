//! Sealing a card list to the user's key with HPKE (RFC 9180), single-shot base mode, so the
//! hub relays and stores only ciphertext. The `info` and the AAD are both
//! `chaka/1 answer <inquiry id> <bank code>` (ASCII), which binds a sealed list to one inquiry
//! at one bank: moved to another inquiry or bank, it no longer opens.
//!
//! This module owns the suite dispatch, the binding string and the [`SealedCardList`] wire
//! type; the plaintext format is `message::CardList`'s JSON.

use crate::PROTOCOL_VERSION;
use crate::keys::{HpkeKem, RecipientPublicKey, RecipientSecretKey};
use crate::suite::Suite;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chaka_core::{BankCode, InquiryId};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use serde::{Serialize, Serializer};
use std::fmt;
use zeroize::Zeroizing;

/// Why sealing or opening failed. Opening failures are deliberately not told apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The suite is not implemented here.
    #[error("the sealing suite is not supported")]
    UnsupportedSuite,
    /// The sealed list names another suite than the one asked for.
    #[error("the sealed list uses another suite")]
    SuiteMismatch,
    /// Encapsulation failed (e.g. a degenerate recipient key).
    #[error("could not seal to this recipient key")]
    Seal,
    /// Wrong key, wrong inquiry or bank, or tampered bytes.
    #[error("the sealed card list does not open with this key for this inquiry and bank")]
    Open,
}

impl SealError {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedSuite => "unsupported_suite",
            Self::SuiteMismatch => "suite_mismatch",
            Self::Seal => "seal_failed",
            Self::Open => "open_failed",
        }
    }
}

/// A sealed card list as it travels: the suite, the encapsulated key and the ciphertext
/// (both base64url without padding on the wire).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SealedCardList {
    /// The suite that sealed it.
    pub suite: Suite,
    /// HPKE `enc` (32 bytes for the X25519 suite).
    #[serde(serialize_with = "b64")]
    pub enc: Vec<u8>,
    /// AEAD ciphertext including its 16-byte tag.
    #[serde(serialize_with = "b64")]
    pub ciphertext: Vec<u8>,
}

fn b64<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&URL_SAFE_NO_PAD.encode(bytes))
}

impl SealedCardList {
    /// Parses a sealed list as serialised in an answer (`{"suite","enc","ciphertext"}`), e.g. as
    /// a hub stored it; at most `limits.max_ciphertext_bytes` of ciphertext.
    pub fn from_json(
        bytes: &[u8],
        limits: &crate::limits::Limits,
    ) -> Result<Self, crate::message::ProtocolError> {
        let sealed = crate::message::raw::parse::<crate::message::raw::RawSealed>(
            bytes,
            limits.max_ciphertext_bytes * 2,
        )?
        .into_sealed(0)?;
        if sealed.ciphertext.len() > limits.max_ciphertext_bytes {
            return Err(crate::message::ProtocolError::InvalidSealed { index: 0 });
        }
        Ok(sealed)
    }
}

impl fmt::Debug for SealedCardList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCardList")
            .field("suite", &self.suite)
            .field("enc_len", &self.enc.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// The `info` and AAD binding: `chaka/1 answer <inquiry id> <bank code>`.
///
/// ```
/// use chaka_core::{BankCode, InquiryId};
/// let id = InquiryId::parse("019aca1e-5c00-7000-8000-000000000001").unwrap();
/// let bank = BankCode::parse("ICBC").unwrap();
/// assert_eq!(
///     chaka_protocol::seal::binding(&id, &bank),
///     b"chaka/1 answer 019aca1e-5c00-7000-8000-000000000001 ICBC".to_vec()
/// );
/// ```
pub fn binding(inquiry_id: &InquiryId, bank: &BankCode) -> Vec<u8> {
    format!("{PROTOCOL_VERSION} answer {inquiry_id} {bank}").into_bytes()
}

/// Seals `plaintext` (a `CardList` as JSON) to the recipient for this inquiry and bank.
///
/// ```
/// use chaka_core::{BankCode, InquiryId};
/// use chaka_protocol::keys::RecipientKeyPair;
/// use chaka_protocol::seal::{open, seal};
/// use chaka_protocol::suite::Suite;
/// use time::macros::datetime;
///
/// let user = RecipientKeyPair::generate();
/// let id = InquiryId::generate(datetime!(2026-11-28 10:00 UTC));
/// let bank = BankCode::parse("ICBC").unwrap();
/// let suite = Suite::HpkeX25519Sha256ChaCha20Poly1305;
/// let sealed = seal(suite, &user.public_key(), &id, &bank, b"{\"cards\":[]}").unwrap();
/// let opened = open(suite, user.secret_key(), &id, &bank, &sealed).unwrap();
/// assert_eq!(opened.as_slice(), b"{\"cards\":[]}");
/// // Another bank cannot claim it.
/// let other = BankCode::parse("BOC").unwrap();
/// assert!(open(suite, user.secret_key(), &id, &other, &sealed).is_err());
/// ```
pub fn seal(
    suite: Suite,
    recipient: &RecipientPublicKey,
    inquiry_id: &InquiryId,
    bank: &BankCode,
    plaintext: &[u8],
) -> Result<SealedCardList, SealError> {
    let mut rng = rand::rng();
    seal_with_rng(suite, recipient, inquiry_id, bank, plaintext, &mut rng)
}

/// [`seal`] with the randomness given: the ephemeral key is `DeriveKeyPair` of the first 32
/// bytes drawn. For test vectors only.
pub fn seal_with_rng(
    suite: Suite,
    recipient: &RecipientPublicKey,
    inquiry_id: &InquiryId,
    bank: &BankCode,
    plaintext: &[u8],
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<SealedCardList, SealError> {
    match suite {
        Suite::HpkeX25519Sha256ChaCha20Poly1305 => {
            let pk = <HpkeKem as hpke::Kem>::PublicKey::from_bytes(recipient.as_bytes())
                .map_err(|_| SealError::Seal)?;
            let bound = binding(inquiry_id, bank);
            let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<
                ChaCha20Poly1305,
                HkdfSha256,
                HpkeKem,
            >(
                &OpModeS::Base, &pk, &bound, plaintext, &bound, rng
            )
            .map_err(|_| SealError::Seal)?;
            Ok(SealedCardList {
                suite,
                enc: enc.to_bytes().to_vec(),
                ciphertext,
            })
        }
    }
}

/// Opens a sealed card list with the recipient's secret key, for this inquiry and bank. The
/// plaintext is zeroized when dropped.
///
/// See [`seal`] for an example.
pub fn open(
    suite: Suite,
    recipient: &RecipientSecretKey,
    inquiry_id: &InquiryId,
    bank: &BankCode,
    sealed: &SealedCardList,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.suite != suite {
        return Err(SealError::SuiteMismatch);
    }
    match suite {
        Suite::HpkeX25519Sha256ChaCha20Poly1305 => {
            let sk = recipient.to_hpke().map_err(|_| SealError::Open)?;
            let enc = <HpkeKem as hpke::Kem>::EncappedKey::from_bytes(&sealed.enc)
                .map_err(|_| SealError::Open)?;
            let bound = binding(inquiry_id, bank);
            hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, HpkeKem>(
                &OpModeR::Base,
                &sk,
                &enc,
                &bound,
                &sealed.ciphertext,
                &bound,
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::RecipientKeyPair;
    use time::macros::datetime;

    const SUITE: Suite = Suite::HpkeX25519Sha256ChaCha20Poly1305;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let user = RecipientKeyPair::generate();
        let id = InquiryId::generate(datetime!(2026-11-28 10:00 UTC));
        let other_id = InquiryId::generate(datetime!(2026-11-28 10:00:01 UTC));
        let bank = BankCode::parse("ICBC").unwrap();
        let sealed = seal(SUITE, &user.public_key(), &id, &bank, b"hello").unwrap();
        assert_eq!(sealed.enc.len(), SUITE.enc_len());
        assert_eq!(sealed.ciphertext.len(), 5 + SUITE.tag_len());
        assert_eq!(
            open(SUITE, user.secret_key(), &id, &bank, &sealed)
                .unwrap()
                .as_slice(),
            b"hello"
        );
        assert_eq!(
            open(SUITE, user.secret_key(), &other_id, &bank, &sealed),
            Err(SealError::Open)
        );
        let stranger = RecipientKeyPair::generate();
        assert_eq!(
            open(SUITE, stranger.secret_key(), &id, &bank, &sealed),
            Err(SealError::Open)
        );
        let mut short = sealed.clone();
        short.enc.pop();
        assert_eq!(
            open(SUITE, user.secret_key(), &id, &bank, &short),
            Err(SealError::Open)
        );
    }
}
