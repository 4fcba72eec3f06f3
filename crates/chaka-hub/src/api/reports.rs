//! Opening a report with the payment PIN. The hub unseals the banks' answers in memory, renders
//! them and forgets the plaintext; wrong PINs count towards the 24-hour lock. The rules live in
//! `crate::report` and `crate::pin`.

use super::extract::{ApiJson, Caller};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::report::Report;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The payment PIN.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenReport {
    /// 6 digits.
    pub pin: String,
}

/// Opens the report of a final inquiry.
#[utoipa::path(
    post, path = "/inquiries/{inquiry_id}/report", tag = "reports",
    params(("inquiry_id" = String, Path, description = "The inquiry's id.")),
    request_body = OpenReport,
    responses((status = 200, description = "The opened report.", body = Report)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([
        "not_found", "report_not_ready", "report_gone", "report_unreadable", "pin_not_set", "wrong_pin", "pin_locked"
    ])))
)]
pub async fn open(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    Path(inquiry_id): Path<String>,
    ApiJson(request): ApiJson<OpenReport>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(
        hub.open_report(&caller.account, &inquiry_id, &request.pin)
            .await?,
    ))
}

/// A card of the report that the holder did not open.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dispute {
    /// The bank's code, as in the report.
    #[schema(example = "ICBC")]
    pub bank: String,
    /// The card as the report shows it (first 4 and last 4 digits).
    #[schema(example = "6222 **** **** *** 1234")]
    pub card: String,
}

/// Records that a card of the report is not the holder's ("this card is not mine"). The hub
/// keeps the bank and a keyed reference of the card in the audit trail (no card digits); the
/// holder should call the bank to have it frozen and closed. Repeating it changes nothing.
#[utoipa::path(
    post, path = "/inquiries/{inquiry_id}/disputes", tag = "reports",
    params(("inquiry_id" = String, Path, description = "The inquiry's id.")),
    request_body = Dispute,
    responses((status = 204, description = "Recorded.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([
        "not_found", "report_not_ready", "report_gone", "invalid_request"
    ])))
)]
pub async fn dispute(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    Path(inquiry_id): Path<String>,
    ApiJson(request): ApiJson<Dispute>,
) -> Result<StatusCode, ApiError> {
    hub.dispute_card(&caller.account, &inquiry_id, &request.bank, &request.card)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
