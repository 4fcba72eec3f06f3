//! One-time SMS codes: generating six uniform digits from the operating system's randomness,
//! the keyed hash under which a code is stored (bound to its purpose and phone), and a
//! constant-time comparison of two such hashes. Expiry, single use, attempt counts and rate
//! limits live in the store and the account flow; this module holds no state, never logs a
//! code, and never reads the clock.
//!
//! Stored hash: `HMAC-SHA256(session_key, "chaka/otp/v1" ‖ 0x00 ‖ len(purpose) u16 BE ‖ purpose
//! ‖ phone_index(32) ‖ code)`. A code sent for `register` therefore never matches a
//! `pin_reset` check, nor the same digits sent to another phone, and a database copy does not
//! reveal live codes (10⁶ candidates, but no `session_key`).

use crate::vault::{Vault, fill_random, hmac_sha256};
use std::fmt;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

const LABEL: &[u8] = b"chaka/otp/v1";
const CODES: u32 = 1_000_000;
/// The largest multiple of 10⁶ that fits in a `u32`: draws at or above it are rejected, so
/// every code is exactly equally likely.
const ACCEPT_BELOW: u32 = (u32::MAX / CODES) * CODES;

/// A six-digit one-time code. Zeroized on drop; `Debug` prints `Code(******)`; no `Display`.
pub struct Code(Zeroizing<String>);

impl Code {
    /// A fresh code: a uniform draw from 000000–999999 (rejection sampling over 32 random bits
    /// from the operating system).
    ///
    /// ```
    /// let code = chaka_hub::otp::Code::generate();
    /// assert_eq!(code.as_str().len(), 6);
    /// assert!(code.as_str().bytes().all(|b| b.is_ascii_digit()));
    /// assert_eq!(format!("{code:?}"), "Code(******)");
    /// ```
    pub fn generate() -> Self {
        loop {
            let mut draw = Zeroizing::new([0u8; 4]);
            fill_random(draw.as_mut());
            if let Some(code) = Self::from_draw(u32::from_le_bytes(*draw)) {
                return code;
            }
        }
    }

    /// The code for one 32-bit draw, or `None` when the draw falls in the rejected tail.
    fn from_draw(draw: u32) -> Option<Self> {
        if draw >= ACCEPT_BELOW {
            return None;
        }
        let mut value = draw % CODES;
        let mut digits = [0u8; 6];
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        let mut text = Zeroizing::new(String::with_capacity(6));
        text.extend(digits.iter().map(|&b| char::from(b)));
        digits.fill(0);
        Some(Self(text))
    }

    /// The six digits, for the SMS (sealed in the outbox) and for hashing. Secret.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(******)")
    }
}

/// The stored form of a code sent for `purpose` to the phone whose blind index is
/// `phone_index`. Pass the code as the person typed it after trimming; nothing else is
/// normalised here.
///
/// ```
/// use chaka_hub::otp::{otp_hash, otp_matches, Code};
/// use chaka_hub::vault::{IndexPurpose, KdfParams, Secrets, Vault};
/// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
/// let phone = vault.blind_index(IndexPurpose::Phone, "13812345678");
/// let code = Code::generate();
/// let stored = otp_hash(&vault, "register", &phone, code.as_str());
/// assert!(otp_matches(&stored, &otp_hash(&vault, "register", &phone, code.as_str())));
/// assert!(!otp_matches(&stored, &otp_hash(&vault, "pin_reset", &phone, code.as_str())));
/// ```
pub fn otp_hash(vault: &Vault, purpose: &str, phone_index: &[u8; 32], code: &str) -> [u8; 32] {
    let purpose = purpose.as_bytes();
    // Purposes are short static names; a longer one is cut in the length prefix only, and its
    // bytes still all enter the MAC.
    let len = u16::try_from(purpose.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    hmac_sha256(
        vault.session_key(),
        &[LABEL, &[0], &len, purpose, phone_index, code.as_bytes()],
    )
}

/// Whether two code hashes are equal, in time independent of where they differ.
///
/// ```
/// assert!(chaka_hub::otp::otp_matches(&[7; 32], &[7; 32]));
/// assert!(!chaka_hub::otp::otp_matches(&[7; 32], &[8; 32]));
/// ```
pub fn otp_matches(expected: &[u8; 32], candidate: &[u8; 32]) -> bool {
    expected.ct_eq(candidate).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{IndexPurpose, KdfParams, Secrets};
    use proptest::prelude::*;

    fn vault() -> Vault {
        Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS)
    }

    #[test]
    fn codes_are_six_digits_and_cover_every_digit_in_every_place() {
        let mut seen = [[0u32; 10]; 6];
        for _ in 0..3_000 {
            let code = Code::generate();
            let bytes = code.as_str().as_bytes();
            assert_eq!(bytes.len(), 6);
            for (place, &b) in bytes.iter().enumerate() {
                assert!(b.is_ascii_digit());
                seen[place][usize::from(b - b'0')] += 1;
            }
        }
        // 300 expected per cell; a uniform source falls below 180 with negligible probability.
        for (place, counts) in seen.iter().enumerate() {
            for (digit, &n) in counts.iter().enumerate() {
                assert!(n > 180, "digit {digit} in place {place} seen {n} times");
            }
        }
    }

    #[test]
    fn rejection_sampling_boundaries() {
        assert_eq!(ACCEPT_BELOW, 4_294_000_000);
        assert_eq!(Code::from_draw(0).unwrap().as_str(), "000000");
        assert_eq!(Code::from_draw(999_999).unwrap().as_str(), "999999");
        assert_eq!(Code::from_draw(1_000_042).unwrap().as_str(), "000042");
        assert_eq!(
            Code::from_draw(ACCEPT_BELOW - 1).unwrap().as_str(),
            "999999"
        );
        assert!(Code::from_draw(ACCEPT_BELOW).is_none());
        assert!(Code::from_draw(u32::MAX).is_none());
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = Code::from_draw(123_456).unwrap();
        assert_eq!(format!("{code:?}"), "Code(******)");
        assert!(!format!("{code:?}").contains("123456"));
    }

    #[test]
    fn hash_binds_purpose_phone_code_and_key() {
        let vault = vault();
        let phone = vault.blind_index(IndexPurpose::Phone, "13812345678");
        let other_phone = vault.blind_index(IndexPurpose::Phone, "13812345679");
        let base = otp_hash(&vault, "register", &phone, "482913");
        assert_eq!(base, otp_hash(&vault, "register", &phone, "482913"));
        assert_ne!(base, otp_hash(&vault, "inquiry", &phone, "482913"));
        assert_ne!(base, otp_hash(&vault, "register", &other_phone, "482913"));
        assert_ne!(base, otp_hash(&vault, "register", &phone, "482914"));
        assert_ne!(base, otp_hash(&self::vault(), "register", &phone, "482913"));
        // The purpose is length-prefixed: shifting bytes between purpose and code changes it.
        assert_ne!(
            otp_hash(&vault, "a", &phone, "1"),
            otp_hash(&vault, "a1", &phone, "")
        );
        // The session-token hash is a different domain under the same key.
        assert_ne!(base, vault.token_hash("482913"));
    }

    proptest! {
        #[test]
        fn matches_iff_equal(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            prop_assert!(otp_matches(&a, &a));
            prop_assert_eq!(otp_matches(&a, &b), a == b);
        }

        #[test]
        fn every_accepted_draw_is_six_digits(draw in 0u32..ACCEPT_BELOW) {
            let code = Code::from_draw(draw).unwrap();
            prop_assert_eq!(code.as_str().len(), 6);
            prop_assert_eq!(code.as_str().parse::<u32>().unwrap(), draw % CODES);
        }
    }
}
