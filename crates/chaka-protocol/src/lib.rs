//! chaka-protocol: the wire protocol v1 between the chaka hub and the banks — what a bank
//! integrator needs, and all the hub needs to talk to banks.
//!
//! It owns the messages and their strict JSON ([`message`]), their bounds ([`limits`]), the
//! HTTP Message Signatures that authenticate every request, response and callback
//! ([`signature`], [`digest`], [`nonce`], [`keys`]), the HPKE sealing of card lists to the
//! user's key ([`seal`](mod@seal), [`suite`]) and the `application/problem+json` errors ([`problem`]).
//! It does no I/O, holds no HTTP client or server, and never reads the clock: every function
//! that needs the time takes `now`. `docs/protocol.md` is the normative description.

#![warn(missing_docs)]

pub mod digest;
pub mod keys;
pub mod limits;
pub mod message;
pub mod nonce;
pub mod problem;
pub mod seal;
pub mod signature;
mod structured_field;
pub mod suite;

pub use keys::{
    KeyError, KeyId, KeySet, KnownKey, RecipientKeyPair, RecipientPublicKey, RecipientSecretKey,
    SigningKeyPair, SigningPublicKey,
};
pub use limits::Limits;
pub use message::{
    Accepted, Answer, AnswerBatch, Card, CardList, Heartbeat, Inquiry, InquiryBatch, Outcome,
    ProtocolError, RefusalReason, Subject, Unlisted, UnlistedReason,
};
pub use nonce::{MemoryNonceStore, Nonce, NonceCheck, NonceStore};
pub use problem::Problem;
pub use seal::{SealError, SealedCardList, open, seal};
pub use signature::{SignatureError, Signer, VerifiedKey, Verifier};
pub use suite::Suite;

/// The protocol string every message carries in `protocol`.
pub const PROTOCOL_VERSION: &str = "chaka/1";
/// The inquiry endpoint (`POST`).
pub const INQUIRIES_PATH: &str = "/chaka/v1/inquiries";
/// The heartbeat endpoint (`GET`).
pub const HEARTBEAT_PATH: &str = "/chaka/v1/heartbeat";
/// The media type of every message body.
pub const JSON_CONTENT_TYPE: &str = "application/json";
