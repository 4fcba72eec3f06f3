//! The JSON exactly as it arrives: every field a string or number, unknown fields refused.
//! Parsing goes body → these raw structs (serde, strict) → the typed messages (one check per
//! field, each failure a precise [`ProtocolError`] that never repeats the value).

use super::error::{NameProblem, ProtocolError, from_serde};
use super::{
    Accepted, Answer, AnswerBatch, Heartbeat, Inquiry, InquiryBatch, Outcome, ProtocolVersion,
    RefusalReason, Subject,
};
use crate::PROTOCOL_VERSION;
use crate::keys::{KeyId, RecipientPublicKey};
use crate::seal::SealedCardList;
use crate::suite::Suite;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chaka_core::{BankCode, IdNumber, InquiryId, Phone};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// Size check, then strict serde parse with sanitised errors.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, ProtocolError> {
    if bytes.len() > max {
        return Err(ProtocolError::BodyTooLarge {
            size: bytes.len(),
            max,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| from_serde(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInquiryBatch {
    protocol: String,
    inquiries: Vec<RawInquiry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInquiry {
    inquiry_id: String,
    bank: String,
    suite: String,
    subject: RawSubject,
    recipient_key: String,
    deadline: String,
    #[serde(default)]
    callback_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    name: String,
    id_number: String,
    phone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnswerBatch {
    protocol: String,
    bank: String,
    answers: Vec<RawAnswer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    inquiry_id: String,
    bank: String,
    outcome: RawOutcome,
    #[serde(default)]
    sealed: Option<RawSealed>,
    answered_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutcome {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSealed {
    suite: String,
    enc: String,
    ciphertext: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccepted {
    protocol: String,
    bank: String,
    accepted: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeat {
    protocol_versions: Vec<String>,
    bank: String,
    key_id: String,
    suites: Vec<String>,
    time: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCardList {
    pub(crate) cards: Vec<RawCard>,
    pub(crate) unlisted: Vec<RawUnlisted>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCard {
    pub(crate) pan: RawPan,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) opened: String,
    #[serde(default)]
    pub(crate) last_active: Option<String>,
    pub(crate) product: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPan {
    pub(crate) first4: String,
    pub(crate) last4: String,
    pub(crate) length: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUnlisted {
    pub(crate) reason: String,
    pub(crate) count: u32,
}

fn protocol(raw: &str) -> Result<ProtocolVersion, ProtocolError> {
    if raw == PROTOCOL_VERSION {
        Ok(ProtocolVersion::V1)
    } else {
        Err(ProtocolError::UnsupportedProtocol)
    }
}

fn inquiry_id(raw: &str, index: usize) -> Result<InquiryId, ProtocolError> {
    InquiryId::parse(raw).map_err(|_| ProtocolError::InvalidInquiryId { index })
}

fn bank(raw: &str, index: Option<usize>) -> Result<BankCode, ProtocolError> {
    BankCode::parse(raw).map_err(|_| ProtocolError::InvalidBankCode { index })
}

fn suite(raw: &str, index: usize) -> Result<Suite, ProtocolError> {
    Suite::parse(raw).ok_or(ProtocolError::UnsupportedSuite { index })
}

fn timestamp(
    raw: &str,
    index: Option<usize>,
    field: &'static str,
) -> Result<OffsetDateTime, ProtocolError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| ProtocolError::InvalidTimestamp { index, field })
}

/// Checks a subject name: trimmed, non-empty, ≤ `max` chars, no control chars or digits.
pub(crate) fn check_name(name: &str, max: usize) -> Result<(), NameProblem> {
    if name.trim().is_empty() {
        return Err(NameProblem::Empty);
    }
    if name.chars().count() > max {
        return Err(NameProblem::TooLong);
    }
    let forbidden = |c: char| c.is_control() || c.is_numeric();
    if name.trim() != name || name.chars().any(forbidden) {
        return Err(NameProblem::ForbiddenCharacter);
    }
    Ok(())
}

impl RawInquiryBatch {
    pub(crate) fn into_batch(self) -> Result<InquiryBatch, ProtocolError> {
        let protocol = protocol(&self.protocol)?;
        let inquiries = self
            .inquiries
            .into_iter()
            .enumerate()
            .map(|(i, q)| q.into_inquiry(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InquiryBatch {
            protocol,
            inquiries,
        })
    }
}

impl RawInquiry {
    fn into_inquiry(self, index: usize) -> Result<Inquiry, ProtocolError> {
        // The "not in the future" birth-date rule is the hub's registration rule and needs a
        // clock; on the wire the number's form, province, date and check character are checked.
        let id_number = IdNumber::parse_on(&self.subject.id_number, Date::MAX)
            .map_err(|reason| ProtocolError::InvalidIdNumber { index, reason })?;
        let phone = Phone::parse(&self.subject.phone)
            .map_err(|reason| ProtocolError::InvalidPhone { index, reason })?;
        let recipient_key = RecipientPublicKey::parse(&self.recipient_key)
            .map_err(|_| ProtocolError::InvalidRecipientKey { index })?;
        let callback_url = match self.callback_url {
            None => None,
            Some(raw) if raw.len() > 4096 => {
                return Err(ProtocolError::InvalidCallbackUrl { index });
            }
            Some(raw) => Some(
                url::Url::parse(&raw).map_err(|_| ProtocolError::InvalidCallbackUrl { index })?,
            ),
        };
        Ok(Inquiry {
            inquiry_id: inquiry_id(&self.inquiry_id, index)?,
            bank: bank(&self.bank, Some(index))?,
            suite: suite(&self.suite, index)?,
            subject: Subject {
                name: self.subject.name,
                id_number,
                phone,
            },
            recipient_key,
            deadline: timestamp(&self.deadline, Some(index), "deadline")?,
            callback_url,
        })
    }
}

impl RawAnswerBatch {
    pub(crate) fn into_batch(self) -> Result<AnswerBatch, ProtocolError> {
        let protocol = protocol(&self.protocol)?;
        let bank_code = bank(&self.bank, None)?;
        let answers = self
            .answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.into_answer(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AnswerBatch {
            protocol,
            bank: bank_code,
            answers,
        })
    }
}

impl RawOutcome {
    pub(crate) fn into_outcome(self, index: usize) -> Result<Outcome, ProtocolError> {
        let invalid_outcome = ProtocolError::InvalidOutcome { index };
        Ok(match (self.kind.as_str(), self.reason.as_deref()) {
            ("matched", None) => Outcome::Matched,
            ("no_match", None) => Outcome::NoMatch,
            ("refused", Some(reason)) => Outcome::Refused {
                reason: RefusalReason::parse(reason).ok_or(invalid_outcome)?,
            },
            _ => return Err(invalid_outcome),
        })
    }
}

impl RawAnswer {
    fn into_answer(self, index: usize) -> Result<Answer, ProtocolError> {
        let outcome = self.outcome.into_outcome(index)?;
        let sealed = match self.sealed {
            None => None,
            Some(raw) => Some(raw.into_sealed(index)?),
        };
        Ok(Answer {
            inquiry_id: inquiry_id(&self.inquiry_id, index)?,
            bank: bank(&self.bank, Some(index))?,
            outcome,
            sealed,
            answered_at: timestamp(&self.answered_at, Some(index), "answered_at")?,
        })
    }
}

impl RawSealed {
    pub(crate) fn into_sealed(self, index: usize) -> Result<SealedCardList, ProtocolError> {
        let suite = suite(&self.suite, index)?;
        let invalid = || ProtocolError::InvalidSealed { index };
        let enc = URL_SAFE_NO_PAD.decode(&self.enc).map_err(|_| invalid())?;
        let ciphertext = URL_SAFE_NO_PAD
            .decode(&self.ciphertext)
            .map_err(|_| invalid())?;
        Ok(SealedCardList {
            suite,
            enc,
            ciphertext,
        })
    }
}

impl RawAccepted {
    pub(crate) fn into_accepted(self) -> Result<Accepted, ProtocolError> {
        let protocol = protocol(&self.protocol)?;
        let bank_code = bank(&self.bank, None)?;
        let accepted = self
            .accepted
            .iter()
            .enumerate()
            .map(|(i, id)| inquiry_id(id, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Accepted {
            protocol,
            bank: bank_code,
            accepted,
        })
    }
}

impl RawHeartbeat {
    pub(crate) fn into_heartbeat(self) -> Result<Heartbeat, ProtocolError> {
        let versions_ok = !self.protocol_versions.is_empty()
            && self.protocol_versions.len() <= 16
            && self.protocol_versions.iter().all(|v| {
                v.len() <= 16
                    && v.strip_prefix("chaka/")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
        if !versions_ok {
            return Err(ProtocolError::UnsupportedProtocol);
        }
        if self.suites.len() > 16 {
            return Err(ProtocolError::TooManyEntries {
                count: self.suites.len(),
                max: 16,
            });
        }
        Ok(Heartbeat {
            protocol_versions: self.protocol_versions,
            bank: bank(&self.bank, None)?,
            key_id: KeyId::parse(&self.key_id).map_err(|_| ProtocolError::InvalidKeyId)?,
            // Suites this node does not know are skipped: that is how negotiation tolerates a
            // bank that already offers a newer suite.
            suites: self.suites.iter().filter_map(|s| Suite::parse(s)).collect(),
            time: timestamp(&self.time, None, "time")?,
        })
    }
}
