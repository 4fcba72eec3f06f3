//! Error responses of the protocol endpoints: `application/problem+json` (RFC 9457) with the
//! members `type`, `title`, `status`, `detail` and chaka's `code`. This module owns the
//! [`Problem`] type and the mapping from this crate's errors; it never puts a personal value
//! in `detail` (the errors it maps from carry none).

use crate::message::ProtocolError;
use crate::seal::SealError;
use crate::signature::SignatureError;
use http::StatusCode;
use serde::{Deserialize, Serialize};

/// The media type of problem responses.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The prefix of every `type` URI: `urn:chaka:problem:` followed by the code.
pub const TYPE_PREFIX: &str = "urn:chaka:problem:";

/// Largest problem body a client reads (bytes).
pub const MAX_PROBLEM_BYTES: usize = 16 * 1024;

/// An RFC 9457 problem document. Unknown extension members are ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:chaka:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short, fixed summary for the code.
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// This occurrence, without personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable snake_case code.
    pub code: String,
}

impl Problem {
    /// A problem with this status, code and title.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            type_uri: format!("{TYPE_PREFIX}{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            code: code.to_owned(),
        }
    }

    /// Adds the `detail` member.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The status as an `http` type (500 if the number is not a valid status).
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `429 rate_limited`: send again after `Retry-After`.
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        )
    }

    /// `503 temporarily_unavailable`: send again after `Retry-After`.
    pub fn temporarily_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Temporarily unavailable",
        )
    }

    /// `415 unsupported_media_type`: the body is not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The body must be application/json",
        )
    }

    /// `500 internal_error`.
    pub fn internal_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
        )
    }

    /// Parses a problem body (lenient: extension members are allowed).
    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_PROBLEM_BYTES {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl From<&ProtocolError> for Problem {
    fn from(err: &ProtocolError) -> Self {
        Problem::new(err.status(), err.code(), "The message is invalid")
            .with_detail(err.to_string())
    }
}

impl From<&SignatureError> for Problem {
    fn from(err: &SignatureError) -> Self {
        let title = match err.status() {
            StatusCode::UNAUTHORIZED => "The signature is not accepted",
            StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
            _ => "Could not sign",
        };
        Problem::new(err.status(), err.code(), title).with_detail(err.to_string())
    }
}

impl From<&SealError> for Problem {
    fn from(err: &SealError) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            err.code(),
            "Sealing failed",
        )
        .with_detail(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_has_the_rfc_9457_members_and_the_code() {
        let p = Problem::from(&ProtocolError::EmptyBatch);
        let json: serde_json::Value = serde_json::from_slice(&p.to_json().unwrap()).unwrap();
        assert_eq!(json["type"], "urn:chaka:problem:empty_batch");
        assert_eq!(json["status"], 400);
        assert_eq!(json["code"], "empty_batch");
        assert_eq!(json["detail"], "the batch is empty");
        let back = Problem::from_json(
            br#"{"type":"about:blank","title":"t","status":429,"code":"rate_limited","extra":1}"#,
        )
        .unwrap();
        assert_eq!(back.status_code(), StatusCode::TOO_MANY_REQUESTS);
    }
}
