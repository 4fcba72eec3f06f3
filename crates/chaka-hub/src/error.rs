//! The one error type at the HTTP edge: every refusal of the hub's API is an
//! `application/problem+json` document (RFC 9457) with a stable `code` from [`codes`],
//! documented in the OpenAPI description. Details never carry personal data; internal causes
//! are logged (without personal data) and answered briefly.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// Stable problem codes, with the status each is answered with.
pub mod codes {
    use axum::http::StatusCode;

    /// Every code the API can answer, for the OpenAPI description and the tests.
    pub const ALL: &[(&str, StatusCode, &str)] = &[
        (
            "invalid_request",
            StatusCode::BAD_REQUEST,
            "The request body or a parameter is malformed.",
        ),
        (
            "body_too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large.",
        ),
        (
            "unsupported_media_type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The body must be application/json.",
        ),
        (
            "invalid_name",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The name is empty, too long or has characters a name cannot have.",
        ),
        (
            "invalid_id_number",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The resident ID number is not valid (the detail says why).",
        ),
        (
            "invalid_phone",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The mobile number is not a mainland mobile number.",
        ),
        (
            "weak_password",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The password does not meet the rules.",
        ),
        (
            "weak_pin",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The payment PIN is trivial (the detail says which rule).",
        ),
        (
            "invalid_code",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The SMS code is wrong; `attempts_left` says how many tries remain.",
        ),
        (
            "no_code",
            StatusCode::UNPROCESSABLE_ENTITY,
            "No valid SMS code: none was sent, it expired, was used, or was tried too often.",
        ),
        (
            "too_many_codes",
            StatusCode::TOO_MANY_REQUESTS,
            "Too many SMS codes for this phone or account; see Retry-After.",
        ),
        (
            "identity_mismatch",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The identity registry does not confirm this name, ID number and phone.",
        ),
        (
            "identity_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity registry cannot be reached; try again later.",
        ),
        (
            "id_number_registered",
            StatusCode::CONFLICT,
            "An account already exists for this ID number.",
        ),
        (
            "phone_registered",
            StatusCode::CONFLICT,
            "An account already uses this mobile number.",
        ),
        (
            "unauthenticated",
            StatusCode::UNAUTHORIZED,
            "Log in first (the session is missing, expired or revoked).",
        ),
        (
            "wrong_credentials",
            StatusCode::UNAUTHORIZED,
            "The phone number or password is wrong.",
        ),
        (
            "wrong_password",
            StatusCode::FORBIDDEN,
            "The password is wrong.",
        ),
        (
            "csrf",
            StatusCode::FORBIDDEN,
            "The form's anti-forgery token is missing or wrong.",
        ),
        (
            "pin_not_set",
            StatusCode::CONFLICT,
            "Set a payment PIN first.",
        ),
        (
            "pin_already_set",
            StatusCode::CONFLICT,
            "A payment PIN is set; change or reset it instead.",
        ),
        (
            "wrong_pin",
            StatusCode::FORBIDDEN,
            "The payment PIN is wrong; `attempts_left` says how many tries remain.",
        ),
        (
            "pin_locked",
            StatusCode::LOCKED,
            "Too many wrong PINs: report opening is locked until `locked_until`.",
        ),
        (
            "not_verified",
            StatusCode::FORBIDDEN,
            "The account is not real-name verified.",
        ),
        (
            "region_not_open",
            StatusCode::FORBIDDEN,
            "The service is not open in your region yet.",
        ),
        (
            "bank_not_open",
            StatusCode::UNPROCESSABLE_ENTITY,
            "A selected bank is not open to your region.",
        ),
        (
            "no_banks_selected",
            StatusCode::UNPROCESSABLE_ENTITY,
            "Select at least one bank.",
        ),
        (
            "consent_outdated",
            StatusCode::CONFLICT,
            "The agreement accepted is not the current version.",
        ),
        (
            "inquiry_in_flight",
            StatusCode::CONFLICT,
            "A lookup is already in progress.",
        ),
        (
            "cooling_down",
            StatusCode::CONFLICT,
            "A new lookup is possible 7 days after the last report; see `until`.",
        ),
        (
            "phone_recently_changed",
            StatusCode::CONFLICT,
            "The phone number changed recently; lookups resume at `until`.",
        ),
        (
            "idempotency_key_missing",
            StatusCode::BAD_REQUEST,
            "Send an Idempotency-Key header.",
        ),
        (
            "idempotency_key_reused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "This Idempotency-Key was used with another request body.",
        ),
        ("not_found", StatusCode::NOT_FOUND, "No such resource."),
        (
            "method_not_allowed",
            StatusCode::METHOD_NOT_ALLOWED,
            "This route does not answer this method.",
        ),
        (
            "report_not_ready",
            StatusCode::CONFLICT,
            "The report is not final yet.",
        ),
        (
            "report_gone",
            StatusCode::GONE,
            "The report was deleted 7 days after it was generated.",
        ),
        (
            "report_unreadable",
            StatusCode::GONE,
            "The report was sealed to a key that a PIN reset replaced.",
        ),
        (
            "not_ready",
            StatusCode::SERVICE_UNAVAILABLE,
            "The service cannot answer now (its database does not respond); try again later.",
        ),
        (
            "internal",
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; nothing was changed.",
        ),
    ];

    /// The status of a code (500 for an unknown one).
    pub fn status_of(code: &str) -> StatusCode {
        ALL.iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, s, _)| *s)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The title of a code.
    pub fn title_of(code: &str) -> &'static str {
        ALL.iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, _, t)| *t)
            .unwrap_or("Internal error")
    }
}

/// A refusal, answered as `application/problem+json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    code: &'static str,
    detail: Option<String>,
    extra: Map<String, Value>,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl ApiError {
    /// A refusal with a code of [`codes::ALL`].
    pub fn new(code: &'static str) -> Self {
        Self {
            code,
            detail: None,
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// Adds a human-readable detail (never personal data).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a machine-readable member (`attempts_left`, `locked_until`, `until`…).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// A machine-readable member, if set (`attempts_left`, `locked_until`, `until`…).
    pub fn member(&self, key: &str) -> Option<&Value> {
        self.extra.get(key)
    }

    /// Seconds the client should wait before trying again (`Retry-After`), if set.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    /// The human-readable detail, if any (never personal data).
    pub fn detail_text(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        codes::status_of(self.code)
    }

    /// An internal failure: logged with its cause, answered without it.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new("internal")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ProblemBody {
            type_uri: format!("urn:chaka:problem:{}", self.code),
            title: codes::title_of(self.code),
            status: status.as_u16(),
            code: self.code,
            detail: self.detail.as_deref(),
            extra: &self.extra,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_error_statuses() {
        let mut seen = std::collections::HashSet::new();
        for (code, status, title) in codes::ALL {
            assert!(seen.insert(*code), "{code} twice");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}"
            );
            assert!(!title.is_empty());
        }
    }

    #[tokio::test]
    async fn answers_problem_json_with_extras_and_retry_after() {
        let response = ApiError::new("too_many_codes")
            .with("scope", "phone")
            .retry_after(60)
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(response.headers()[header::RETRY_AFTER], "60");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "too_many_codes");
        assert_eq!(json["status"], 429);
        assert_eq!(json["scope"], "phone");
        assert_eq!(json["type"], "urn:chaka:problem:too_many_codes");
    }
}
