//! Key material and its encodings: Ed25519 signing keys (who signs a request or an answer),
//! key ids and the verifier's key set (with rotation windows), and the X25519 recipient keys
//! that card lists are sealed to. Public keys travel as base64url without padding of the raw
//! 32 bytes; a signing key loads from PKCS#8 PEM or from its base64url 32-byte seed.
//!
//! This module never logs or prints secret material: `Debug` of a secret shows only `***`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{Signer as _, SigningKey};
use hpke::{Deserializable as _, Kem as _, Serializable as _};
use rand::Rng as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub(crate) type HpkeKem = hpke::kem::X25519HkdfSha256;

/// Why key material could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base64url without padding.
    #[error("the key is not base64url without padding")]
    Base64,
    /// Decoded to the wrong number of bytes.
    #[error("the key has {got} bytes, expected {expected}")]
    Length {
        /// Expected length.
        expected: usize,
        /// Decoded length.
        got: usize,
    },
    /// Not a PKCS#8 PEM Ed25519 private key.
    #[error("the key is not a PKCS#8 PEM Ed25519 private key")]
    Pkcs8,
    /// The bytes are not a valid Ed25519 public key.
    #[error("the bytes are not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// A key id outside the allowed alphabet or length.
    #[error("a key id is 1 to 64 characters of A-Z a-z 0-9 . _ : -")]
    InvalidKeyId,
}

fn decode_32(input: &str) -> Result<[u8; 32], KeyError> {
    let bytes = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(input.trim())
            .map_err(|_| KeyError::Base64)?,
    );
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length {
        expected: 32,
        got: bytes.len(),
    })
}

/// The name of a signing key, carried in the `keyid` signature parameter: 1–64 characters of
/// `A-Z a-z 0-9 . _ : -` (e.g. `hub-2026-11`, `ICBC-1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Validates a key id.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        let ok = (1..=64).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(KeyError::InvalidKeyId)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        KeyId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 key pair that signs requests or responses.
#[derive(Clone)]
pub struct SigningKeyPair {
    key: SigningKey,
}

impl SigningKeyPair {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key pair of a 32-byte seed (the RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// Reads the base64url (no padding) encoding of the 32-byte seed.
    pub fn from_seed_base64url(input: &str) -> Result<Self, KeyError> {
        let seed = Zeroizing::new(decode_32(input)?);
        Ok(Self::from_seed(&seed))
    }

    /// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) Ed25519 private key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|key| Self { key })
            .map_err(|_| KeyError::Pkcs8)
    }

    /// The seed as base64url without padding. Secret: store it like a password.
    pub fn to_seed_base64url(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(URL_SAFE_NO_PAD.encode(seed.as_ref()))
    }

    /// The private key as PKCS#8 PEM. Secret.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map(|pem| Zeroizing::new(pem.as_str().to_owned()))
            .map_err(|_| KeyError::Pkcs8)
    }

    /// The public half.
    pub fn public_key(&self) -> SigningPublicKey {
        SigningPublicKey(self.key.verifying_key())
    }

    /// Signs `message` (for the protocol, a signature base) with Ed25519 (RFC 8032, pure).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("public", &self.public_key())
            .field("secret", &"***")
            .finish()
    }
}

/// An Ed25519 public key, on the wire and in configuration as base64url of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigningPublicKey(ed25519_dalek::VerifyingKey);

impl SigningPublicKey {
    /// From the raw 32 bytes; refuses encodings that are not a curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| KeyError::InvalidPublicKey)
    }

    /// Parses base64url without padding.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&decode_32(input)?)
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Base64url without padding.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// Verifies an Ed25519 signature with the strict rules (no malleable or small-order forms).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for SigningPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningPublicKey({})", self.to_base64url())
    }
}

impl fmt::Display for SigningPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

/// One key the verifier accepts: its id, public key, optional owner (e.g. a bank code, or
/// `hub`) and validity window. Rotation publishes a new key under a new id and gives the old
/// one a `not_after` at the end of the grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    /// The key id senders put in `keyid`.
    pub key_id: KeyId,
    /// The public key.
    pub public_key: SigningPublicKey,
    /// Who holds the private key (free text; by convention the bank code or `hub`).
    pub owner: Option<String>,
    /// Signatures created before this instant are refused.
    pub not_before: Option<OffsetDateTime>,
    /// Signatures verified after this instant are refused (end of a rotation grace period).
    pub not_after: Option<OffsetDateTime>,
}

impl KnownKey {
    /// A key valid at all times, without owner.
    pub fn new(key_id: KeyId, public_key: SigningPublicKey) -> Self {
        Self {
            key_id,
            public_key,
            owner: None,
            not_before: None,
            not_after: None,
        }
    }

    /// Sets the owner.
    pub fn owned_by(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the end of the validity window.
    pub fn valid_until(mut self, not_after: OffsetDateTime) -> Self {
        self.not_after = Some(not_after);
        self
    }

    /// Sets the start of the validity window.
    pub fn valid_from(mut self, not_before: OffsetDateTime) -> Self {
        self.not_before = Some(not_before);
        self
    }

    /// Whether the window contains `at`.
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before.is_none_or(|nb| at >= nb) && self.not_after.is_none_or(|na| at <= na)
    }
}

/// The keys a verifier accepts, by key id. An owner may hold several (rotation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: BTreeMap<KeyId, KnownKey>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the key with this id.
    pub fn insert(&mut self, key: KnownKey) {
        self.keys.insert(key.key_id.clone(), key);
    }

    /// Adds a key, builder style.
    pub fn with(mut self, key: KnownKey) -> Self {
        self.insert(key);
        self
    }

    /// Removes a key.
    pub fn remove(&mut self, key_id: &KeyId) -> Option<KnownKey> {
        self.keys.remove(key_id)
    }

    /// The key with this id.
    pub fn get(&self, key_id: &KeyId) -> Option<&KnownKey> {
        self.keys.get(key_id)
    }

    /// The keys of one owner.
    pub fn of_owner<'a>(&'a self, owner: &'a str) -> impl Iterator<Item = &'a KnownKey> + 'a {
        self.keys
            .values()
            .filter(move |k| k.owner.as_deref() == Some(owner))
    }

    /// All keys.
    pub fn iter(&self) -> impl Iterator<Item = &KnownKey> {
        self.keys.values()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A user's X25519 public key, the recipient of sealed card lists; on the wire base64url
/// (no padding) of the 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientPublicKey([u8; 32]);

impl RecipientPublicKey {
    /// From the raw 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses base64url without padding.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        decode_32(input).map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Base64url without padding.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }
}

impl fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientPublicKey({})", self.to_base64url())
    }
}

impl Serialize for RecipientPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64url())
    }
}

impl<'de> Deserialize<'de> for RecipientPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        RecipientPublicKey::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A user's X25519 private key (32 bytes, zeroized on drop). The hub keeps it wrapped under
/// the user's PIN and unwraps it only to open a report.
#[derive(Clone)]
pub struct RecipientSecretKey(Zeroizing<[u8; 32]>);

impl RecipientSecretKey {
    /// From the raw 32 bytes (clamped when used, as RFC 9180 §7.1.2 requires).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses base64url without padding.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        decode_32(input).map(Self::from_bytes)
    }

    /// The raw bytes. Secret.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    /// The matching public key.
    pub fn public_key(&self) -> RecipientPublicKey {
        let secret = x25519_public(&self.0);
        RecipientPublicKey(secret)
    }

    pub(crate) fn to_hpke(&self) -> Result<<HpkeKem as hpke::Kem>::PrivateKey, hpke::HpkeError> {
        <HpkeKem as hpke::Kem>::PrivateKey::from_bytes(self.0.as_ref())
    }
}

fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    match <HpkeKem as hpke::Kem>::PrivateKey::from_bytes(secret) {
        Ok(sk) => {
            let pk = <HpkeKem as hpke::Kem>::sk_to_pk(&sk);
            let mut out = [0u8; 32];
            out.copy_from_slice(&pk.to_bytes());
            out
        }
        // from_bytes fails only on a wrong length, which the array type rules out.
        Err(_) => [0u8; 32],
    }
}

impl fmt::Debug for RecipientSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecipientSecretKey(***)")
    }
}

/// A user's X25519 key pair.
#[derive(Clone)]
pub struct RecipientKeyPair {
    secret: RecipientSecretKey,
    public: RecipientPublicKey,
}

impl RecipientKeyPair {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> Self {
        let (sk, pk) = HpkeKem::gen_keypair();
        Self::from_hpke(&sk, &pk)
    }

    /// The key pair RFC 9180 `DeriveKeyPair(ikm)` gives (deterministic; for tests and vectors).
    pub fn derive(ikm: &[u8]) -> Self {
        let (sk, pk) = HpkeKem::derive_keypair(ikm);
        Self::from_hpke(&sk, &pk)
    }

    /// The key pair of a known secret.
    pub fn from_secret(secret: RecipientSecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    fn from_hpke(
        sk: &<HpkeKem as hpke::Kem>::PrivateKey,
        pk: &<HpkeKem as hpke::Kem>::PublicKey,
    ) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&sk.to_bytes());
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        Self {
            secret: RecipientSecretKey(secret),
            public: RecipientPublicKey(public),
        }
    }

    /// The public key, to send in inquiries.
    pub fn public_key(&self) -> RecipientPublicKey {
        self.public
    }

    /// The secret key.
    pub fn secret_key(&self) -> &RecipientSecretKey {
        &self.secret
    }
}

impl fmt::Debug for RecipientKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKeyPair")
            .field("public", &self.public)
            .field("secret", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_round_trip_through_seed_and_pem() {
        let pair = SigningKeyPair::generate();
        let seed = pair.to_seed_base64url();
        let again = SigningKeyPair::from_seed_base64url(&seed).unwrap();
        assert_eq!(again.public_key(), pair.public_key());
        let pem = pair.to_pkcs8_pem().unwrap();
        let from_pem = SigningKeyPair::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(from_pem.public_key(), pair.public_key());
        let public = SigningPublicKey::parse(&pair.public_key().to_base64url()).unwrap();
        assert_eq!(public, pair.public_key());
        let sig = pair.sign(b"m");
        assert!(public.verify(b"m", &sig));
        assert!(!public.verify(b"n", &sig));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let pair = SigningKeyPair::generate();
        let seed = pair.to_seed_base64url();
        assert!(!format!("{pair:?}").contains(seed.as_str()));
        let recipient = RecipientKeyPair::generate();
        let secret = URL_SAFE_NO_PAD.encode(recipient.secret_key().to_bytes().as_ref());
        assert!(!format!("{recipient:?}").contains(&secret));
    }

    #[test]
    fn bad_encodings_are_refused() {
        assert_eq!(
            RecipientPublicKey::parse("AAAA"),
            Err(KeyError::Length {
                expected: 32,
                got: 3
            })
        );
        assert_eq!(RecipientPublicKey::parse("a+b/"), Err(KeyError::Base64));
        assert!(SigningKeyPair::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----").is_err());
        assert!(KeyId::parse("").is_err());
        assert!(KeyId::parse("has space").is_err());
        assert!(KeyId::parse(&"k".repeat(65)).is_err());
        assert!(KeyId::parse("hub-2026.11:a_b").is_ok());
    }

    #[test]
    fn recipient_public_key_derives_from_the_secret() {
        let pair = RecipientKeyPair::generate();
        assert_eq!(pair.secret_key().public_key(), pair.public_key());
        let again = RecipientKeyPair::from_secret(pair.secret_key().clone());
        assert_eq!(again.public_key(), pair.public_key());
    }

    #[test]
    fn rotation_windows() {
        use time::macros::datetime;
        let key = KnownKey::new(
            KeyId::parse("k1").unwrap(),
            SigningKeyPair::generate().public_key(),
        )
        .owned_by("ICBC")
        .valid_until(datetime!(2026-12-01 00:00 UTC));
        assert!(key.is_valid_at(datetime!(2026-11-30 00:00 UTC)));
        assert!(!key.is_valid_at(datetime!(2026-12-01 00:00:01 UTC)));
        let set = KeySet::new().with(key);
        assert_eq!(set.of_owner("ICBC").count(), 1);
        assert_eq!(set.of_owner("BOC").count(), 0);
    }
}
