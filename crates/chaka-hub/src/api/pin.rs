//! The payment PIN: set, change (with the old PIN), reset (password and SMS code; earlier
//! reports become unreadable, which the caller acknowledges). The rules live in `crate::pin`.

use super::extract::{ApiJson, Caller};
use crate::error::ApiError;
use crate::hub::Hub;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The first PIN.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPin {
    /// 6 digits, not trivial.
    #[schema(example = "902741")]
    pub pin: String,
}

/// A PIN change.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePin {
    /// The current PIN.
    pub old_pin: String,
    /// The new PIN (6 digits, not trivial).
    pub new_pin: String,
}

/// A PIN reset.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPin {
    /// The login password.
    pub password: String,
    /// The code sent for `pin_reset`.
    pub code: String,
    /// The new PIN (6 digits, not trivial).
    pub new_pin: String,
    /// The caller was told that reports sealed to the old key can no longer be opened.
    pub acknowledge_unreadable_reports: bool,
}

/// Sets the payment PIN and creates the user's key pair.
#[utoipa::path(
    post, path = "/me/pin", tag = "pin",
    request_body = SetPin,
    responses((status = 204, description = "The PIN is set.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["weak_pin", "pin_already_set"])))
)]
pub async fn set(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(request): ApiJson<SetPin>,
) -> Result<StatusCode, ApiError> {
    hub.set_pin(&caller.account, &request.pin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the PIN with the old one; reports stay readable.
#[utoipa::path(
    put, path = "/me/pin", tag = "pin",
    request_body = ChangePin,
    responses((status = 204, description = "The PIN is changed.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["weak_pin", "pin_not_set", "wrong_pin", "pin_locked"])))
)]
pub async fn change(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(request): ApiJson<ChangePin>,
) -> Result<StatusCode, ApiError> {
    hub.change_pin(&caller.account, &request.old_pin, &request.new_pin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resets a forgotten PIN: a new key pair, so earlier reports become unreadable.
#[utoipa::path(
    post, path = "/me/pin/reset", tag = "pin",
    request_body = ResetPin,
    responses((status = 204, description = "The PIN is reset.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["wrong_password", "weak_pin", "invalid_code", "no_code"])))
)]
pub async fn reset(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(request): ApiJson<ResetPin>,
) -> Result<StatusCode, ApiError> {
    hub.reset_pin(
        &caller.account,
        &request.password,
        &request.code,
        &request.new_pin,
        request.acknowledge_unreadable_reports,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
