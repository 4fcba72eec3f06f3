//! The crypto suite that seals a card list. Protocol v1 defines one, HPKE (RFC 9180) base mode
//! with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305; a Chinese
//! national-cryptography suite (SM2/SM3/SM4) is planned, which is why the suite travels in
//! every inquiry and sealed answer instead of being a constant. This module owns the names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A sealing suite, named on the wire by its [`Suite::as_str`] string.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Suite {
    /// HPKE base mode, KEM 0x0020 DHKEM(X25519, HKDF-SHA256), KDF 0x0001 HKDF-SHA256,
    /// AEAD 0x0003 ChaCha20-Poly1305. Wire name `hpke-x25519-sha256-chacha20poly1305`.
    #[serde(rename = "hpke-x25519-sha256-chacha20poly1305")]
    HpkeX25519Sha256ChaCha20Poly1305,
}

impl Suite {
    /// Every suite this implementation supports, preferred first.
    pub const ALL: [Suite; 1] = [Suite::HpkeX25519Sha256ChaCha20Poly1305];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HpkeX25519Sha256ChaCha20Poly1305 => "hpke-x25519-sha256-chacha20poly1305",
        }
    }

    /// Parses a wire name; `None` for a suite this implementation does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Length in bytes of the encapsulated key (`enc`) of this suite.
    pub fn enc_len(self) -> usize {
        match self {
            Self::HpkeX25519Sha256ChaCha20Poly1305 => 32,
        }
    }

    /// Length in bytes of the AEAD tag appended to every ciphertext.
    pub fn tag_len(self) -> usize {
        match self {
            Self::HpkeX25519Sha256ChaCha20Poly1305 => 16,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_on_the_wire() {
        for suite in Suite::ALL {
            assert_eq!(Suite::parse(suite.as_str()), Some(suite));
            let json = serde_json::to_string(&suite).unwrap();
            assert_eq!(json, format!("\"{}\"", suite.as_str()));
        }
        assert_eq!(Suite::parse("sm2-sm3-sm4"), None);
    }
}
