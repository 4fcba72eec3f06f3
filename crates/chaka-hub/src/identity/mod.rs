//! Identity checks at registration: the [`IdentityVerifier`] trait that asks "is this name the
//! holder of this ID number, and is this phone registered to them?", the [`SandboxVerifier`]
//! over the `citizens.sqlite` registry that `chaka gen` writes, and the signed
//! [`HttpVerifier`] for a national ID-check service. It decides nothing about accounts and
//! never logs or returns personal data in errors.

mod http;
mod sandbox;

pub use http::HttpVerifier;
pub use sandbox::SandboxVerifier;

use async_trait::async_trait;
use chaka_core::{IdNumber, Phone};
use serde::{Deserialize, Serialize};

/// The registry's answer about a (name, ID number, phone) triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityVerdict {
    /// The ID number exists, the name is its holder's, and the phone is registered to them.
    Verified,
    /// The ID number exists under another name.
    NameMismatch,
    /// No such ID number.
    Unknown,
    /// Name and ID number match, but the phone is not registered (with the carrier, under
    /// real-name registration) to this person.
    PhoneNotOwned,
}

impl IdentityVerdict {
    /// `verified`, `name_mismatch`, `unknown` or `phone_not_owned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::NameMismatch => "name_mismatch",
            Self::Unknown => "unknown",
            Self::PhoneNotOwned => "phone_not_owned",
        }
    }

    /// Whether the account may become real-name verified.
    pub fn is_verified(self) -> bool {
        self == Self::Verified
    }
}

/// Why no verdict could be had. Messages never carry a name, ID number or phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The registry could not be asked (timeout, connection, 408/429/5xx, database error);
    /// try again later.
    #[error("the identity registry is unavailable: {0}")]
    Unavailable(String),
    /// The registry answered something that is not a verdict (malformed body, unexpected
    /// status): a contract or configuration problem.
    #[error("the identity registry gave an unusable answer: {0}")]
    BadResponse(String),
    /// The verifier cannot be set up (missing or unreadable registry file, bad URL).
    #[error("the identity verifier is misconfigured: {0}")]
    Config(String),
}

impl IdentityError {
    /// Whether asking again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Checks that a person is who they say they are.
#[async_trait]
pub trait IdentityVerifier: Send + Sync {
    /// The registry's verdict on `name` + `id_number` + `phone`. The name is compared exactly:
    /// the caller trims it.
    async fn verify(
        &self,
        name: &str,
        id_number: &IdNumber,
        phone: &Phone,
    ) -> Result<IdentityVerdict, IdentityError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_match_serde() {
        for verdict in [
            IdentityVerdict::Verified,
            IdentityVerdict::NameMismatch,
            IdentityVerdict::Unknown,
            IdentityVerdict::PhoneNotOwned,
        ] {
            assert_eq!(
                serde_json::to_string(&verdict).unwrap(),
                format!("\"{}\"", verdict.as_str())
            );
            assert_eq!(verdict.is_verified(), verdict == IdentityVerdict::Verified);
        }
    }
}
