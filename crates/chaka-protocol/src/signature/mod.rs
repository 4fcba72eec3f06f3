//! HTTP Message Signatures (RFC 9421) as protocol v1 uses them: Ed25519, label `chaka`.
//!
//! Requests cover `("@method" "@path" "content-digest" "content-type")` (a bodiless GET only
//! `("@method" "@path")`); responses cover `("@status" "content-digest" "content-type")`; the
//! parameters are `created`, `expires`, `nonce`, `keyid` and `alg="ed25519"`. This module owns
//! the canonical signature base, the [`Signer`] that produces `Content-Digest`,
//! `Signature-Input` and `Signature` headers, and the [`Verifier`] that checks them against a
//! [`KeySet`](crate::keys::KeySet), the clock the caller passes in, and a
//! [`NonceStore`](crate::nonce::NonceStore). It works over the `http`
//! crate's types so that both axum and reqwest can use it, and never reads the system clock.

mod base;
mod signer;
mod verifier;

pub use base::{MessageContext, SignatureInput, signature_base};
pub use signer::Signer;
pub use verifier::{VerifiedKey, Verifier};

use crate::digest::DigestError;
use http::StatusCode;
use time::Duration;

/// The signature label of protocol v1.
pub const SIGNATURE_LABEL: &str = "chaka";
/// The only algorithm of protocol v1.
pub const ALGORITHM: &str = "ed25519";
/// `Signature-Input` header name.
pub const SIGNATURE_INPUT: &str = "signature-input";
/// `Signature` header name.
pub const SIGNATURE: &str = "signature";
/// Default lifetime of a signature (`expires - created`): 300 seconds.
pub const DEFAULT_VALIDITY: Duration = Duration::seconds(300);
/// Default oldest acceptable `created`, relative to the verifier's clock: 300 seconds.
pub const DEFAULT_MAX_AGE: Duration = Duration::seconds(300);
/// Default tolerance for a `created` ahead of the verifier's clock: 300 seconds.
pub const DEFAULT_MAX_SKEW: Duration = Duration::seconds(300);

pub(crate) const MAX_HEADER_BYTES: usize = 4096;
pub(crate) const MAX_COMPONENTS: usize = 16;
pub(crate) const REQUEST_WITH_BODY: [&str; 4] =
    ["@method", "@path", "content-digest", "content-type"];
pub(crate) const REQUEST_WITHOUT_BODY: [&str; 2] = ["@method", "@path"];
pub(crate) const RESPONSE: [&str; 3] = ["@status", "content-digest", "content-type"];
/// Why a message could not be signed, or why its signature is refused. Messages name the
/// failed check, never a header's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// A header is not what RFC 9421 / RFC 8941 allow, or too large.
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    /// The `chaka` signature does not cover a component the protocol requires.
    #[error("the signature does not cover {0}")]
    MissingComponent(&'static str),
    /// The signature covers a component this verifier cannot compute.
    #[error("the signature covers a component that is not supported")]
    UnsupportedComponent,
    /// A required signature parameter is absent.
    #[error("the signature parameter {0} is missing")]
    MissingParameter(&'static str),
    /// `alg` is not `ed25519`.
    #[error("the signature algorithm is not ed25519")]
    WrongAlgorithm,
    /// The nonce is not base64url of at least 16 bytes.
    #[error("the signature nonce is not base64url of at least 16 bytes")]
    InvalidNonce,
    /// `created` is further in the future than the allowed clock skew.
    #[error("the signature was created in the future")]
    CreatedInFuture,
    /// `expires` has passed, or `created` is older than the maximum age.
    #[error("the signature has expired")]
    Expired,
    /// The key id is not in the verifier's key set.
    #[error("the signing key is unknown")]
    UnknownKey,
    /// The key exists but is outside its validity window (e.g. retired after rotation).
    #[error("the signing key is not valid at this time")]
    KeyNotValid,
    /// The body does not match its `Content-Digest`.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The Ed25519 signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// This key already used this nonce.
    #[error("the signature nonce was already used (replay)")]
    Replayed,
    /// The nonce store is full; retry later.
    #[error("too many signatures in flight; retry later")]
    NonceStoreFull,
    /// Signing: the path is not an absolute path without query.
    #[error("the path to sign must start with / and hold only visible ASCII")]
    InvalidPath,
    /// Signing: a body was given without a content type, or a content type is not visible ASCII.
    #[error("a signed body needs a content type of visible ASCII")]
    InvalidContentType,
}

impl SignatureError {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "signature_missing",
            Self::Malformed(_) => "signature_malformed",
            Self::MissingComponent(_) | Self::MissingParameter(_) => "signature_incomplete",
            Self::UnsupportedComponent => "signature_unsupported_component",
            Self::WrongAlgorithm => "signature_wrong_alg",
            Self::InvalidNonce => "signature_bad_nonce",
            Self::CreatedInFuture => "signature_not_yet_valid",
            Self::Expired => "signature_expired",
            Self::UnknownKey => "unknown_key",
            Self::KeyNotValid => "key_not_valid",
            Self::Digest(e) => e.code(),
            Self::BadSignature => "bad_signature",
            Self::Replayed => "signature_replayed",
            Self::NonceStoreFull => "nonce_store_full",
            Self::InvalidPath => "invalid_path",
            Self::InvalidContentType => "invalid_content_type",
        }
    }

    /// The HTTP status a receiver answers with: 401 for a refused signature, 503 when the
    /// nonce store is full, 500 for a signing-side mistake.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NonceStoreFull => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidPath | Self::InvalidContentType => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}
