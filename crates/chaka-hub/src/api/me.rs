//! The caller's profile (masked), password and phone changes, and the caller's audit trail.

use super::extract::{ApiJson, Caller};
use super::rfc3339;
use crate::error::ApiError;
use crate::hub::Hub;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// How many audit events `GET /audit` lists.
const AUDIT_LIMIT: i64 = 200;

/// A region (province).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegionView {
    /// Two-digit province prefix of the ID number.
    pub code: String,
    /// 中文名.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Whether lookups are open there.
    pub open: bool,
}

/// The caller's profile. The ID number and phone are masked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    /// Account id.
    pub account_id: String,
    /// The name on the ID card.
    pub name: String,
    /// The ID number, masked.
    #[schema(example = "3101**********1241")]
    pub id_number: String,
    /// The phone, masked.
    #[schema(example = "138****0001")]
    pub phone: String,
    /// The region of the ID number.
    pub region: RegionView,
    /// Real-name verified.
    pub verified: bool,
    /// A payment PIN is set.
    pub pin_set: bool,
    /// Report opening is locked until then, after too many wrong PINs.
    pub pin_locked_until: Option<String>,
    /// `zh` or `en`.
    pub lang: String,
    /// The generation of the user's key (a PIN reset increases it).
    pub key_generation: i64,
}

/// Shows the caller's profile.
#[utoipa::path(
    get, path = "/me", tag = "me",
    responses((status = 200, description = "The profile.", body = Profile)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([])))
)]
pub async fn me(State(hub): State<Arc<Hub>>, caller: Caller) -> Result<Json<Profile>, ApiError> {
    let account = &caller.account;
    let now = hub.clock.now();
    let regions = chaka_core::RegionRegistry::builtin();
    let region = regions.get(&account.region);
    Ok(Json(Profile {
        account_id: account.account_id.clone(),
        name: hub.name_of(account)?,
        id_number: hub.id_number_of(account)?.masked(),
        phone: hub.phone_of(account)?.masked(),
        region: RegionView {
            code: account.region.clone(),
            name_zh: region.map(|r| r.name_zh.clone()).unwrap_or_default(),
            name_en: region.map(|r| r.name_en.clone()).unwrap_or_default(),
            open: hub.config.pilot.regions.contains(&account.region),
        },
        verified: account.verified_at.is_some(),
        pin_set: account.pin.is_some(),
        pin_locked_until: account.pin_locked_until.filter(|t| *t > now).map(rfc3339),
        lang: account.lang.clone(),
        key_generation: account.key_generation,
    }))
}

/// A password change.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new password.
    pub new_password: String,
}

/// Changes the password; every other session ends.
#[utoipa::path(
    post, path = "/me/password", tag = "me",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed; the other sessions are revoked.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["wrong_password", "weak_password"])))
)]
pub async fn change_password(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    hub.change_password(
        &caller.session,
        &request.old_password,
        &request.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A phone change: the password, a code sent to the old phone (`phone_change_old`) and one sent
/// to the new phone (`phone_change_new`).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneChange {
    /// The login password.
    pub password: String,
    /// The code sent to the current phone.
    pub old_code: String,
    /// The new mobile number.
    pub new_phone: String,
    /// The code sent to the new phone.
    pub new_code: String,
}

/// Moves the account to a new phone; every other session ends and lookups pause for the
/// cooling-off period.
#[utoipa::path(
    post, path = "/me/phone", tag = "me",
    request_body = PhoneChange,
    responses((status = 204, description = "Changed; the other sessions are revoked.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["wrong_password", "invalid_phone", "invalid_code", "no_code", "phone_registered"])))
)]
pub async fn change_phone(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(request): ApiJson<PhoneChange>,
) -> Result<StatusCode, ApiError> {
    hub.change_phone(
        &caller.session,
        &request.password,
        &request.old_code,
        &request.new_phone,
        &request.new_code,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One audit event (never card data or personal fields).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// What happened (`registered`, `logged_in`, `inquiry_submitted`, `report_opened`, `report_purged`, …).
    pub kind: String,
    /// The inquiry concerned.
    pub inquiry_id: Option<String>,
    /// Details (bank codes, consent version, counts).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// When.
    pub at: String,
}

/// The caller's audit trail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Newest first (at most 200).
    pub events: Vec<AuditView>,
}

/// Lists the caller's audit events; they outlive the reports.
#[utoipa::path(
    get, path = "/audit", tag = "me",
    responses((status = 200, description = "The events, newest first.", body = AuditList)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([])))
)]
pub async fn audit(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
) -> Result<Json<AuditList>, ApiError> {
    let events = hub
        .store
        .audit_events(&caller.account.account_id, AUDIT_LIMIT)
        .await?
        .into_iter()
        .map(|e| AuditView {
            kind: e.kind,
            inquiry_id: e.inquiry_id,
            detail: e.detail,
            at: rfc3339(e.at),
        })
        .collect();
    Ok(Json(AuditList { events }))
}
