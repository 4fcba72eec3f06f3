//! Why a protocol message is refused. Every variant has a stable snake_case code, and no
//! message ever repeats the offending value: positions are given as 0-based indexes into the
//! batch (`inquiries[i]`, `answers[i]`, `cards[i]`), reasons come from fixed texts.

use chaka_core::{IdNumberError, PhoneError};
use http::StatusCode;

/// What is wrong with a subject name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Empty after trimming.
    Empty,
    /// Longer than the limit (in Unicode scalar values).
    TooLong,
    /// Control characters, digits, or leading/trailing whitespace.
    ForbiddenCharacter,
}

/// What is wrong with a card entry of a card list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardProblem {
    /// `pan` is not 4 + 4 digits with a length of 13–19.
    MaskedPan,
    /// `kind` is not a known card kind.
    Kind,
    /// `status` is not a known card status.
    Status,
    /// `opened` or `last_active` is not `YYYY-MM`.
    Month,
    /// `last_active` is before `opened`.
    LastActiveBeforeOpened,
    /// `product` is empty, too long, has control characters or a run of 5 or more digits
    /// (which could be a card number).
    Product,
}

impl CardProblem {
    fn text(self) -> &'static str {
        match self {
            Self::MaskedPan => {
                "pan must be 4 leading and 4 trailing digits with a length of 13 to 19"
            }
            Self::Kind => "kind is not a known card kind",
            Self::Status => "status is not a known card status",
            Self::Month => "a month is not YYYY-MM",
            Self::LastActiveBeforeOpened => "last_active is before opened",
            Self::Product => {
                "product must be 1 to the maximum number of characters, with no control \
                 characters and no run of 5 or more digits"
            }
        }
    }
}

/// Why a message is refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The body is larger than the limit.
    #[error("the body has {size} bytes, more than the limit of {max}")]
    BodyTooLarge {
        /// Body size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The body is not JSON.
    #[error("the body is not valid JSON (line {line}, column {column})")]
    MalformedJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The JSON does not have the message's shape (missing, unknown or mistyped field).
    #[error("the body does not match the schema (line {line}, column {column}): {detail}")]
    Schema {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, without any value from the body.
        detail: String,
    },
    /// `protocol` is not `chaka/1`.
    #[error("unsupported protocol version (this node speaks chaka/1)")]
    UnsupportedProtocol,
    /// A batch with no entries.
    #[error("the batch is empty")]
    EmptyBatch,
    /// More entries than the limit.
    #[error("the batch has {count} entries, more than the limit of {max}")]
    TooManyEntries {
        /// Entries.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// The same inquiry id twice in a batch.
    #[error("entry {index} repeats an inquiry id of the same batch")]
    DuplicateInquiryId {
        /// Index of the repeat.
        index: usize,
    },
    /// An inquiry id that is not a UUIDv7.
    #[error("entry {index}: the inquiry id is not a UUID version 7")]
    InvalidInquiryId {
        /// Entry index.
        index: usize,
    },
    /// A bank code that is not 2–16 of `A-Z0-9` (`index` is `None` for the batch's own).
    #[error("a bank code is not 2 to 16 characters of A-Z and 0-9")]
    InvalidBankCode {
        /// Entry index, if not the batch's own bank field.
        index: Option<usize>,
    },
    /// An entry for another bank than the batch's (or than the first inquiry's).
    #[error("entry {index} is for another bank than the rest of the batch")]
    BankMismatch {
        /// Entry index.
        index: usize,
    },
    /// A suite this node does not know.
    #[error("entry {index}: unsupported sealing suite")]
    UnsupportedSuite {
        /// Entry index.
        index: usize,
    },
    /// The subject's name.
    #[error("inquiry {index}: the subject name is invalid ({problem:?})")]
    InvalidName {
        /// Inquiry index.
        index: usize,
        /// What is wrong.
        problem: NameProblem,
    },
    /// The subject's ID number.
    #[error("inquiry {index}: the subject ID number is invalid: {reason}")]
    InvalidIdNumber {
        /// Inquiry index.
        index: usize,
        /// Why (never shows the number).
        reason: IdNumberError,
    },
    /// The subject's phone.
    #[error("inquiry {index}: the subject phone is invalid: {reason}")]
    InvalidPhone {
        /// Inquiry index.
        index: usize,
        /// Why (never shows the number).
        reason: PhoneError,
    },
    /// `recipient_key` is not base64url of 32 bytes.
    #[error("inquiry {index}: recipient_key is not base64url (no padding) of 32 bytes")]
    InvalidRecipientKey {
        /// Inquiry index.
        index: usize,
    },
    /// A timestamp that is not RFC 3339.
    #[error("{field} is not an RFC 3339 timestamp")]
    InvalidTimestamp {
        /// Entry index (`None` for a batch-level field).
        index: Option<usize>,
        /// Field name.
        field: &'static str,
    },
    /// `callback_url` is too long, not absolute http(s), or has credentials or a fragment.
    #[error(
        "inquiry {index}: callback_url must be an absolute http or https URL without credentials or fragment, within the length limit"
    )]
    InvalidCallbackUrl {
        /// Inquiry index.
        index: usize,
    },
    /// `outcome` is not one of the allowed shapes.
    #[error("answer {index}: outcome must be matched, no_match, or refused with a known reason")]
    InvalidOutcome {
        /// Answer index.
        index: usize,
    },
    /// A `matched` answer without `sealed`.
    #[error("answer {index}: a matched answer must carry a sealed card list")]
    SealedMissing {
        /// Answer index.
        index: usize,
    },
    /// A `no_match` or `refused` answer with `sealed`.
    #[error("answer {index}: only a matched answer carries a sealed card list")]
    SealedUnexpected {
        /// Answer index.
        index: usize,
    },
    /// `sealed` has bad base64, a wrong `enc` length or too large a ciphertext.
    #[error("answer {index}: the sealed card list is malformed")]
    InvalidSealed {
        /// Answer index.
        index: usize,
    },
    /// A `key_id` that is not a valid key id.
    #[error("key_id is not 1 to 64 characters of A-Z a-z 0-9 . _ : -")]
    InvalidKeyId,
    /// More cards than the limit.
    #[error("the card list has {count} cards, more than the limit of {max}")]
    TooManyCards {
        /// Cards.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A card entry.
    #[error("card {index}: {}", .problem.text())]
    InvalidCard {
        /// Card index.
        index: usize,
        /// What is wrong.
        problem: CardProblem,
    },
    /// An `unlisted` entry: unknown or repeated reason, or a count of 0 or above the limit.
    #[error("unlisted entry {index}: unknown or repeated reason, or count outside 1 to the limit")]
    InvalidUnlisted {
        /// Entry index.
        index: usize,
    },
}

impl ProtocolError {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::MalformedJson { .. } => "malformed_json",
            Self::Schema { .. } => "schema_mismatch",
            Self::UnsupportedProtocol => "unsupported_protocol",
            Self::EmptyBatch => "empty_batch",
            Self::TooManyEntries { .. } => "too_many_entries",
            Self::DuplicateInquiryId { .. } => "duplicate_inquiry_id",
            Self::InvalidInquiryId { .. } => "invalid_inquiry_id",
            Self::InvalidBankCode { .. } => "invalid_bank_code",
            Self::BankMismatch { .. } => "bank_mismatch",
            Self::UnsupportedSuite { .. } => "unsupported_suite",
            Self::InvalidName { .. } => "invalid_name",
            Self::InvalidIdNumber { .. } => "invalid_id_number",
            Self::InvalidPhone { .. } => "invalid_phone",
            Self::InvalidRecipientKey { .. } => "invalid_recipient_key",
            Self::InvalidTimestamp { .. } => "invalid_timestamp",
            Self::InvalidCallbackUrl { .. } => "invalid_callback_url",
            Self::InvalidOutcome { .. } => "invalid_outcome",
            Self::SealedMissing { .. } => "sealed_missing",
            Self::SealedUnexpected { .. } => "sealed_unexpected",
            Self::InvalidSealed { .. } => "invalid_sealed",
            Self::InvalidKeyId => "invalid_key_id",
            Self::TooManyCards { .. } => "too_many_cards",
            Self::InvalidCard { .. } => "invalid_card",
            Self::InvalidUnlisted { .. } => "invalid_unlisted",
        }
    }

    /// The HTTP status a receiver answers with: 413 for an oversized body, 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Turns a serde_json error into a [`ProtocolError`] that carries no value from the body:
/// only the position, and for missing/unknown/duplicate fields the field name when it is a
/// plain identifier (starts with a letter, at most 32 of `a-z 0-9 _`).
pub(crate) fn from_serde(err: &serde_json::Error) -> ProtocolError {
    let (line, column) = (err.line(), err.column());
    match err.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ProtocolError::MalformedJson { line, column }
        }
        serde_json::error::Category::Data | serde_json::error::Category::Io => {
            let text = err.to_string();
            let detail = ["missing field", "unknown field", "duplicate field"]
                .into_iter()
                .find_map(|prefix| {
                    let rest = text.strip_prefix(prefix)?.strip_prefix(" `")?;
                    let name = &rest[..rest.find('`')?];
                    let plain = name.len() <= 32
                        && name.starts_with(|c: char| c.is_ascii_lowercase())
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                    Some(if plain {
                        format!("{prefix} `{name}`")
                    } else {
                        prefix.to_owned()
                    })
                })
                .unwrap_or_else(|| "a value has the wrong type or shape".to_owned());
            ProtocolError::Schema {
                line,
                column,
                detail,
            }
        }
    }
}
