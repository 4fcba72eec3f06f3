//! Shared helpers: hex, vector files, a fixed-output RNG, sample messages.

use chaka_core::{BankCode, IdNumber, InquiryId, Phone};
use chaka_protocol::keys::RecipientKeyPair;
use chaka_protocol::message::{Inquiry, InquiryBatch, Subject};
use chaka_protocol::suite::Suite;
use hpke::rand_core::{Infallible, TryCryptoRng, TryRng};
use std::path::PathBuf;
use time::OffsetDateTime;
use time::macros::datetime;

pub const T0: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn vector(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

pub fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {name} missing"))
}

/// An RNG that hands out fixed bytes (for deterministic HPKE ephemeral keys).
pub struct FixedRng {
    bytes: Vec<u8>,
    at: usize,
}

impl FixedRng {
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
            at: 0,
        }
    }
}

impl TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.at + dst.len();
        assert!(end <= self.bytes.len(), "FixedRng exhausted");
        dst.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(())
    }
}

impl TryCryptoRng for FixedRng {}

pub fn bank() -> BankCode {
    BankCode::parse("ICBC").unwrap()
}

/// A synthetic inquiry (the ID number is GB 11643's own example).
pub fn inquiry(n: u32, recipient: &RecipientKeyPair) -> Inquiry {
    Inquiry {
        inquiry_id: InquiryId::generate(T0 + time::Duration::milliseconds(i64::from(n))),
        bank: bank(),
        suite: Suite::HpkeX25519Sha256ChaCha20Poly1305,
        subject: Subject {
            name: "张三".to_owned(),
            id_number: IdNumber::parse_on("11010519491231002X", T0.date()).unwrap(),
            phone: Phone::parse("13800138000").unwrap(),
        },
        recipient_key: recipient.public_key(),
        deadline: T0 + time::Duration::hours(24),
        callback_url: None,
    }
}

pub fn batch(count: u32) -> InquiryBatch {
    let recipient = RecipientKeyPair::generate();
    InquiryBatch::new((0..count).map(|n| inquiry(n, &recipient)).collect())
}
