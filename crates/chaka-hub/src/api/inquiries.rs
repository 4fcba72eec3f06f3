//! Lookups: the SMS code that confirms one, the submission (with an `Idempotency-Key`), the
//! caller's inquiries and one inquiry's per-bank progress. Another account's inquiry is
//! answered exactly like a missing one. The rules live in `crate::inquiry`.

use super::extract::{ApiJson, Caller};
use super::rfc3339;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::inquiry::{BankProgress, Submission, SubmitRequest};
use crate::store::InquiryRecord;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa::ToSchema;

/// The header that makes a submission safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A code is on its way to the account's phone.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InquiryCodeSent {
    /// Seconds the code stays valid.
    pub expires_in_secs: i64,
}

/// Sends the SMS code that confirms a submission (only when a lookup would be allowed now).
#[utoipa::path(
    post, path = "/inquiries/code", tag = "inquiries",
    responses((status = 202, description = "The code was sent to the account's phone.", body = InquiryCodeSent)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([
        "not_verified", "pin_not_set", "phone_recently_changed", "region_not_open", "inquiry_in_flight",
        "cooling_down", "too_many_codes"
    ])))
)]
pub async fn send_code(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
) -> Result<(StatusCode, Json<InquiryCodeSent>), ApiError> {
    hub.send_inquiry_code(&caller.account).await?;
    let sent = InquiryCodeSent {
        expires_in_secs: hub.config.rules.otp_ttl_secs,
    };
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// Submits a lookup. The subject (name, ID number, phone) comes from the verified profile,
/// never from the request. The same `Idempotency-Key` with the same body answers as the first
/// time; with another body it is refused.
#[utoipa::path(
    post, path = "/inquiries", tag = "inquiries",
    request_body = SubmitRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 128 visible ASCII characters, unique per submission.")),
    responses((status = 201, description = "Submitted (or replayed).", body = Submission)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([
        "idempotency_key_missing", "idempotency_key_reused", "not_verified", "pin_not_set", "phone_recently_changed",
        "region_not_open", "bank_not_open", "no_banks_selected", "consent_outdated", "inquiry_in_flight",
        "cooling_down", "invalid_code", "no_code"
    ])))
)]
pub async fn submit(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SubmitRequest>,
) -> Result<Response, ApiError> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        Some(value) => value.to_str().map_err(|_| {
            ApiError::new("idempotency_key_missing").detail("1 to 128 visible ASCII characters")
        })?,
        None => return Err(ApiError::new("idempotency_key_missing")),
    };
    // The same request, however it is spaced, hashes the same.
    let canonical = serde_json::to_vec(&request).map_err(|e| ApiError::internal(&e))?;
    let request_hash = hex::encode(Sha256::digest(&canonical));
    let (status, body) = hub
        .submit_inquiry(&caller.account, &request, key, &request_hash)
        .await?;
    let status = StatusCode::from_u16(status).map_err(|e| ApiError::internal(&e))?;
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// An inquiry as the caller sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InquiryView {
    /// Id.
    pub inquiry_id: String,
    /// `open`, `final` or `purged`.
    pub state: String,
    /// The banks asked.
    pub banks: Vec<String>,
    /// The agreement version consented to.
    pub consent_version: String,
    /// Submission time.
    pub created_at: String,
    /// When the report became final.
    pub finalized_at: Option<String>,
    /// When the report is (or was) deleted.
    pub purge_after: Option<String>,
}

impl From<&InquiryRecord> for InquiryView {
    fn from(q: &InquiryRecord) -> Self {
        Self {
            inquiry_id: q.inquiry_id.clone(),
            state: q.state.clone(),
            banks: q.banks.clone(),
            consent_version: q.consent_version.clone(),
            created_at: rfc3339(q.created_at),
            finalized_at: q.finalized_at.map(rfc3339),
            purge_after: q.purge_after.map(rfc3339),
        }
    }
}

/// The caller's inquiries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InquiryList {
    /// Newest first.
    pub inquiries: Vec<InquiryView>,
}

/// Lists the caller's inquiries, newest first.
#[utoipa::path(
    get, path = "/inquiries", tag = "inquiries",
    responses((status = 200, description = "The inquiries.", body = InquiryList)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([])))
)]
pub async fn list(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
) -> Result<Json<InquiryList>, ApiError> {
    let inquiries = hub.store.inquiries(&caller.account.account_id).await?;
    Ok(Json(InquiryList {
        inquiries: inquiries.iter().map(InquiryView::from).collect(),
    }))
}

/// One inquiry and its per-bank progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct InquiryProgress {
    /// The inquiry.
    pub inquiry: InquiryView,
    /// Per bank: `waiting`, `retrying`, `answered` or `no_answer`.
    pub progress: Vec<BankProgress>,
    /// The report is final at the latest then (banks that have not answered are given up on).
    pub expected_final_by: String,
}

/// Shows an inquiry and each bank's progress.
#[utoipa::path(
    get, path = "/inquiries/{inquiry_id}", tag = "inquiries",
    params(("inquiry_id" = String, Path, description = "The inquiry's id.")),
    responses((status = 200, description = "The inquiry.", body = InquiryProgress)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["not_found"])))
)]
pub async fn get(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    Path(inquiry_id): Path<String>,
) -> Result<Json<InquiryProgress>, ApiError> {
    let record = hub.inquiry_of(&caller.account, &inquiry_id).await?;
    let progress = hub.progress(&record).await?;
    Ok(Json(InquiryProgress {
        inquiry: InquiryView::from(&record),
        progress,
        expected_final_by: rfc3339(record.deadline),
    }))
}
