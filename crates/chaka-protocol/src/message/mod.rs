//! The messages of protocol v1 and their JSON: the hub's [`InquiryBatch`], the bank's
//! [`AnswerBatch`] (synchronous response or callback), the [`Accepted`] acknowledgement of
//! callback mode, the [`Heartbeat`], and the sealed plaintext [`CardList`].
//!
//! Each message is parsed only through its `from_json`, which enforces the [`Limits`], refuses
//! unknown fields, and checks every field (UUIDv7 ids, bank codes, ID numbers and phones via
//! `chaka_core`, name and product lengths, no duplicate inquiry ids, card counts), answering a
//! precise [`ProtocolError`]. Serialisation (`to_json`) writes the same shape. Types holding
//! personal data have a `Debug` that hides it.

mod card_list;
mod error;
pub(crate) mod raw;

pub use card_list::{Card, CardList, OpenCardListError, Unlisted, UnlistedReason};
pub use error::{CardProblem, NameProblem, ProtocolError};

use crate::PROTOCOL_VERSION;
use crate::keys::{KeyId, RecipientPublicKey};
use crate::limits::Limits;
use crate::seal::SealedCardList;
use crate::suite::Suite;
use chaka_core::{BankCode, IdNumber, InquiryId, Phone};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use time::OffsetDateTime;

/// The protocol version a message declares in its `protocol` field.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ProtocolVersion {
    /// `chaka/1`.
    #[default]
    #[serde(rename = "chaka/1")]
    V1,
}

impl ProtocolVersion {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => PROTOCOL_VERSION,
        }
    }
}

/// `POST /chaka/v1/inquiries` request body: inquiries for one bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InquiryBatch {
    /// `chaka/1`.
    pub protocol: ProtocolVersion,
    /// At least one, at most `Limits::max_inquiries_per_batch`, all for the same bank.
    pub inquiries: Vec<Inquiry>,
}

/// One lookup of one person at one bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inquiry {
    /// UUIDv7 naming the inquiry; with `bank`, the idempotency key.
    pub inquiry_id: InquiryId,
    /// The bank asked.
    pub bank: BankCode,
    /// The suite to seal the answer with.
    pub suite: Suite,
    /// Whom to look up.
    pub subject: Subject,
    /// The user's X25519 key the card list is sealed to.
    pub recipient_key: RecipientPublicKey,
    /// After this instant the hub no longer wants an answer.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    /// Where to POST the answer in callback mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<url::Url>,
}

impl Inquiry {
    /// Whether the deadline has passed at `now`.
    pub fn is_past_deadline(&self, now: OffsetDateTime) -> bool {
        now > self.deadline
    }
}

/// The person looked up: the bank matches name + ID number + the phone reserved on the card.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// Name as on the ID card.
    pub name: String,
    /// 18-character resident ID number.
    pub id_number: IdNumber,
    /// Mainland mobile number, 11 digits.
    pub phone: Phone,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("name", &"***")
            .field("id_number", &self.id_number)
            .field("phone", &self.phone)
            .finish()
    }
}

/// Response body of `POST /chaka/v1/inquiries` (200) and callback body: one bank's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerBatch {
    /// `chaka/1`.
    pub protocol: ProtocolVersion,
    /// The answering bank; every answer repeats it.
    pub bank: BankCode,
    /// At least one, at most `Limits::max_answers_per_batch`.
    pub answers: Vec<Answer>,
}

/// The answer to one inquiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The inquiry answered.
    pub inquiry_id: InquiryId,
    /// The answering bank.
    pub bank: BankCode,
    /// Matched, no match, or refused.
    pub outcome: Outcome,
    /// The sealed [`CardList`]: present exactly when `outcome` is `matched`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedCardList>,
    /// When the bank produced the answer.
    #[serde(with = "time::serde::rfc3339")]
    pub answered_at: OffsetDateTime,
}

impl Answer {
    /// A `matched` answer carrying the sealed list.
    pub fn matched(inquiry: &Inquiry, sealed: SealedCardList, answered_at: OffsetDateTime) -> Self {
        Self::new(inquiry, Outcome::Matched, Some(sealed), answered_at)
    }

    /// A `no_match` answer: the bank has no customer with this name and ID number.
    pub fn no_match(inquiry: &Inquiry, answered_at: OffsetDateTime) -> Self {
        Self::new(inquiry, Outcome::NoMatch, None, answered_at)
    }

    /// A `refused` answer.
    pub fn refused(inquiry: &Inquiry, reason: RefusalReason, answered_at: OffsetDateTime) -> Self {
        Self::new(inquiry, Outcome::Refused { reason }, None, answered_at)
    }

    fn new(
        inquiry: &Inquiry,
        outcome: Outcome,
        sealed: Option<SealedCardList>,
        answered_at: OffsetDateTime,
    ) -> Self {
        Self {
            inquiry_id: inquiry.inquiry_id,
            bank: inquiry.bank.clone(),
            outcome,
            sealed,
            answered_at,
        }
    }
}

impl Outcome {
    /// Parses an outcome as serialised in an answer (`{"type":"refused","reason":…}`), e.g. as
    /// a hub stored it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtocolError> {
        raw::parse::<raw::RawOutcome>(bytes, 1024)?.into_outcome(0)
    }
}

/// What the bank found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// The bank knows the person; `sealed` holds the list (possibly with no listed card).
    Matched,
    /// The bank has no customer with this name and ID number.
    NoMatch,
    /// The bank would not look up.
    Refused {
        /// Why.
        reason: RefusalReason,
    },
}

/// Why a bank refused to look up one inquiry. A refusal is final for that inquiry except
/// `temporarily_unavailable`, which the hub retries until the deadline.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The subject fails the bank's own checks (e.g. a name the bank's systems cannot hold).
    InvalidSubject,
    /// The recipient key cannot be sealed to (e.g. a degenerate X25519 point).
    InvalidRecipientKey,
    /// The suite is known to the protocol but disabled at this bank.
    UnsupportedSuite,
    /// The inquiry names another bank.
    WrongBank,
    /// The deadline passed before the bank looked up.
    DeadlinePassed,
    /// The bank cannot look up now; the hub retries with backoff.
    TemporarilyUnavailable,
}

impl RefusalReason {
    /// All reasons.
    pub const ALL: [RefusalReason; 6] = [
        Self::InvalidSubject,
        Self::InvalidRecipientKey,
        Self::UnsupportedSuite,
        Self::WrongBank,
        Self::DeadlinePassed,
        Self::TemporarilyUnavailable,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSubject => "invalid_subject",
            Self::InvalidRecipientKey => "invalid_recipient_key",
            Self::UnsupportedSuite => "unsupported_suite",
            Self::WrongBank => "wrong_bank",
            Self::DeadlinePassed => "deadline_passed",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether the hub should ask again later.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::TemporarilyUnavailable)
    }
}

/// `202` response body in callback mode: the inquiries the bank took on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// `chaka/1`.
    pub protocol: ProtocolVersion,
    /// The bank.
    pub bank: BankCode,
    /// Every inquiry id of the request batch.
    pub accepted: Vec<InquiryId>,
}

/// `GET /chaka/v1/heartbeat` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heartbeat {
    /// Protocol versions the bank speaks, e.g. `["chaka/1"]`.
    pub protocol_versions: Vec<String>,
    /// The bank.
    pub bank: BankCode,
    /// The key id the bank signs with now.
    pub key_id: KeyId,
    /// Suites the bank seals with, preferred first (unknown names are dropped on parse).
    pub suites: Vec<Suite>,
    /// The bank's clock, for skew monitoring.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

impl Heartbeat {
    /// Whether the bank speaks `version` (e.g. [`PROTOCOL_VERSION`]).
    pub fn speaks(&self, version: &str) -> bool {
        self.protocol_versions.iter().any(|v| v == version)
    }

    /// Parses and validates a heartbeat.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, ProtocolError> {
        raw::parse::<raw::RawHeartbeat>(bytes, limits.max_body_bytes)?.into_heartbeat()
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

fn check_count(count: usize, max: usize) -> Result<(), ProtocolError> {
    if count == 0 {
        return Err(ProtocolError::EmptyBatch);
    }
    if count > max {
        return Err(ProtocolError::TooManyEntries { count, max });
    }
    Ok(())
}

fn check_unique<'a>(ids: impl Iterator<Item = &'a InquiryId>) -> Result<(), ProtocolError> {
    let mut seen = HashSet::new();
    for (index, id) in ids.enumerate() {
        if !seen.insert(*id) {
            return Err(ProtocolError::DuplicateInquiryId { index });
        }
    }
    Ok(())
}

impl InquiryBatch {
    /// A batch of these inquiries.
    pub fn new(inquiries: Vec<Inquiry>) -> Self {
        Self {
            protocol: ProtocolVersion::V1,
            inquiries,
        }
    }

    /// Parses and validates a request body.
    ///
    /// ```
    /// use chaka_protocol::{Limits, message::InquiryBatch};
    /// let err = InquiryBatch::from_json(br#"{"protocol":"chaka/1","inquiries":[]}"#, &Limits::default())
    ///     .unwrap_err();
    /// assert_eq!(err.code(), "empty_batch");
    /// ```
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, ProtocolError> {
        let batch =
            raw::parse::<raw::RawInquiryBatch>(bytes, limits.max_body_bytes)?.into_batch()?;
        batch.validate(limits)?;
        Ok(batch)
    }

    /// Checks what typed values cannot: count, duplicates, one bank, names, callback URLs.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtocolError> {
        check_count(self.inquiries.len(), limits.max_inquiries_per_batch)?;
        check_unique(self.inquiries.iter().map(|q| &q.inquiry_id))?;
        let first_bank = self.inquiries.first().map(|q| &q.bank);
        for (index, inquiry) in self.inquiries.iter().enumerate() {
            if Some(&inquiry.bank) != first_bank {
                return Err(ProtocolError::BankMismatch { index });
            }
            raw::check_name(&inquiry.subject.name, limits.max_name_chars)
                .map_err(|problem| ProtocolError::InvalidName { index, problem })?;
            if let Some(url) = &inquiry.callback_url {
                let ok = matches!(url.scheme(), "https" | "http")
                    && url.host_str().is_some()
                    && url.username().is_empty()
                    && url.password().is_none()
                    && url.fragment().is_none()
                    && url.as_str().len() <= limits.max_callback_url_bytes;
                if !ok {
                    return Err(ProtocolError::InvalidCallbackUrl { index });
                }
            }
        }
        Ok(())
    }

    /// The bank all inquiries are for.
    pub fn bank(&self) -> Option<&BankCode> {
        self.inquiries.first().map(|q| &q.bank)
    }

    /// Whether every inquiry has a callback URL (the bank may then answer `202`).
    pub fn allows_callback(&self) -> bool {
        self.inquiries.iter().all(|q| q.callback_url.is_some())
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl AnswerBatch {
    /// A batch of answers from `bank`.
    pub fn new(bank: BankCode, answers: Vec<Answer>) -> Self {
        Self {
            protocol: ProtocolVersion::V1,
            bank,
            answers,
        }
    }

    /// Parses and validates a response or callback body.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, ProtocolError> {
        let batch =
            raw::parse::<raw::RawAnswerBatch>(bytes, limits.max_body_bytes)?.into_batch()?;
        batch.validate(limits)?;
        Ok(batch)
    }

    /// Checks count, duplicates, bank consistency, outcome/sealed pairing and sealed sizes.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtocolError> {
        check_count(self.answers.len(), limits.max_answers_per_batch)?;
        check_unique(self.answers.iter().map(|a| &a.inquiry_id))?;
        for (index, answer) in self.answers.iter().enumerate() {
            if answer.bank != self.bank {
                return Err(ProtocolError::BankMismatch { index });
            }
            match (&answer.outcome, &answer.sealed) {
                (Outcome::Matched, None) => return Err(ProtocolError::SealedMissing { index }),
                (Outcome::NoMatch | Outcome::Refused { .. }, Some(_)) => {
                    return Err(ProtocolError::SealedUnexpected { index });
                }
                (_, Some(sealed)) => {
                    let ok = sealed.enc.len() == sealed.suite.enc_len()
                        && sealed.ciphertext.len() >= sealed.suite.tag_len()
                        && sealed.ciphertext.len() <= limits.max_ciphertext_bytes;
                    if !ok {
                        return Err(ProtocolError::InvalidSealed { index });
                    }
                }
                (_, None) => {}
            }
        }
        Ok(())
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl Accepted {
    /// Acknowledges every inquiry of `batch` on behalf of `bank`.
    pub fn for_batch(bank: BankCode, batch: &InquiryBatch) -> Self {
        Self {
            protocol: ProtocolVersion::V1,
            bank,
            accepted: batch.inquiries.iter().map(|q| q.inquiry_id).collect(),
        }
    }

    /// The hub's acknowledgement of a callback: every inquiry id answered in `answers`.
    pub fn for_answers(answers: &AnswerBatch) -> Self {
        Self {
            protocol: ProtocolVersion::V1,
            bank: answers.bank.clone(),
            accepted: answers.answers.iter().map(|a| a.inquiry_id).collect(),
        }
    }

    /// Parses and validates an acceptance body.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, ProtocolError> {
        let accepted =
            raw::parse::<raw::RawAccepted>(bytes, limits.max_body_bytes)?.into_accepted()?;
        check_count(accepted.accepted.len(), limits.max_inquiries_per_batch)?;
        check_unique(accepted.accepted.iter())?;
        Ok(accepted)
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}
