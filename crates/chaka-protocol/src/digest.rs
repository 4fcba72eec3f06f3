//! `Content-Digest` (RFC 9530): the SHA-256 digest of a message body, which the signature
//! covers instead of the body itself. This module owns computing the header value and checking
//! a received one against the body; it knows nothing about signatures or keys.

use crate::structured_field::{BareItem, Member, parse_dictionary};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

/// The header name.
pub const CONTENT_DIGEST: &str = "content-digest";

/// Why a `Content-Digest` header does not vouch for the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The header is not a structured-field dictionary of byte sequences.
    #[error("the Content-Digest header is malformed")]
    Malformed,
    /// The header carries no `sha-256` member (the only algorithm of protocol v1).
    #[error("the Content-Digest header has no sha-256 digest")]
    MissingSha256,
    /// The `sha-256` digest is not the body's.
    #[error("the Content-Digest does not match the body")]
    Mismatch,
}

impl DigestError {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "digest_malformed",
            Self::MissingSha256 => "digest_missing",
            Self::Mismatch => "digest_mismatch",
        }
    }
}

/// The `Content-Digest` header value for `body`: `sha-256=:<base64 of SHA-256(body)>:`.
///
/// ```
/// use chaka_protocol::digest::content_digest;
/// // RFC 9530's example body.
/// assert_eq!(
///     content_digest(br#"{"hello": "world"}"#),
///     "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
/// );
/// ```
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Checks a received `Content-Digest` value against `body`. Other algorithms in the
/// dictionary are ignored (RFC 9530 §2); a `sha-256` member is required and must match.
///
/// ```
/// use chaka_protocol::digest::{content_digest, verify_content_digest, DigestError};
/// let body = b"{}";
/// assert!(verify_content_digest(&content_digest(body), body).is_ok());
/// assert_eq!(verify_content_digest(&content_digest(body), b"[]"), Err(DigestError::Mismatch));
/// ```
pub fn verify_content_digest(header_value: &str, body: &[u8]) -> Result<(), DigestError> {
    let dict = parse_dictionary(header_value).map_err(|_| DigestError::Malformed)?;
    let mut found = None;
    for (key, member) in dict {
        match member {
            Member::Item(item) => match item.bare {
                BareItem::Bytes(bytes) if key == "sha-256" => found = Some(bytes),
                BareItem::Bytes(_) => {}
                _ => return Err(DigestError::Malformed),
            },
            Member::InnerList(..) => return Err(DigestError::Malformed),
        }
    }
    let expected = found.ok_or(DigestError::MissingSha256)?;
    let actual = Sha256::digest(body);
    if expected.as_slice() == actual.as_slice() {
        Ok(())
    } else {
        Err(DigestError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_has_the_well_known_digest() {
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn other_algorithms_are_ignored_but_sha256_is_required() {
        let body = b"x";
        let both = format!("sha-512=:AAAA:, {}", content_digest(body));
        assert!(verify_content_digest(&both, body).is_ok());
        assert_eq!(
            verify_content_digest("sha-512=:AAAA:", body),
            Err(DigestError::MissingSha256)
        );
        assert_eq!(
            verify_content_digest("sha-256=abc", body),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            verify_content_digest("sha-256=:not base64:", body),
            Err(DigestError::Malformed)
        );
    }
}
