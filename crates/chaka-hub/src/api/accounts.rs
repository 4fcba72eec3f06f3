//! `POST /codes` (SMS codes for registration and for the account's own changes) and
//! `POST /accounts` (real-name registration). The rules live in `crate::account`.

use super::extract::{ApiJson, MaybeCaller};
use crate::account::{Registration, parse_phone};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::sms::OtpPurpose;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Asks for an SMS code.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// `register` (no session; `phone` required), `pin_reset` and `phone_change_old` (session;
    /// the code goes to the account's phone, no `phone`), `phone_change_new` (session; `phone`
    /// is the new number).
    #[schema(example = "register")]
    pub purpose: String,
    /// The mobile number, where the purpose takes one.
    #[serde(default)]
    #[schema(example = "13817000001")]
    pub phone: Option<String>,
    /// Language of the SMS before an account exists: `zh` (default) or `en`.
    #[serde(default)]
    pub lang: Option<String>,
}

/// A code is on its way.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CodeSent {
    /// The purpose the code is bound to.
    pub purpose: String,
    /// Seconds the code stays valid.
    pub expires_in_secs: i64,
}

fn lang_of(lang: Option<&str>) -> Result<&'static str, ApiError> {
    match lang {
        None | Some("zh") => Ok("zh"),
        Some("en") => Ok("en"),
        Some(_) => Err(ApiError::new("invalid_request").detail("lang is zh or en")),
    }
}

/// Sends a 6-digit SMS code bound to its purpose (5 minutes, single use, rate-limited per phone).
#[utoipa::path(
    post, path = "/codes", tag = "accounts",
    request_body = CodeRequest,
    responses((status = 202, description = "The code was sent.", body = CodeSent)),
    security((), ("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["invalid_phone", "too_many_codes"])))
)]
pub async fn send_code(
    State(hub): State<Arc<Hub>>,
    MaybeCaller(caller): MaybeCaller,
    ApiJson(request): ApiJson<CodeRequest>,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    let purpose: OtpPurpose = request.purpose.parse().map_err(|_| {
        ApiError::new("invalid_request")
            .detail("purpose is register, pin_reset, phone_change_old or phone_change_new")
    })?;
    let lang = lang_of(request.lang.as_deref())?;
    match purpose {
        OtpPurpose::Register => {
            let phone = request
                .phone
                .as_deref()
                .ok_or_else(|| ApiError::new("invalid_request").detail("phone is required"))?;
            hub.send_code(&parse_phone(phone)?, purpose, None, lang)
                .await?;
        }
        OtpPurpose::PinReset | OtpPurpose::PhoneChangeOld => {
            let caller = caller.ok_or_else(|| ApiError::new("unauthenticated"))?;
            if request.phone.is_some() {
                return Err(ApiError::new("invalid_request")
                    .detail("this code goes to the account's phone: send no phone"));
            }
            hub.send_code_to_account(&caller.account, purpose).await?;
        }
        OtpPurpose::PhoneChangeNew => {
            let caller = caller.ok_or_else(|| ApiError::new("unauthenticated"))?;
            let phone = request.phone.as_deref().ok_or_else(|| {
                ApiError::new("invalid_request").detail("phone (the new number) is required")
            })?;
            hub.send_code(&parse_phone(phone)?, purpose, Some(&caller.account), lang)
                .await?;
        }
        OtpPurpose::Inquiry => {
            return Err(ApiError::new("invalid_request")
                .detail("ask for a lookup's code with POST /api/v1/inquiries/code"));
        }
    }
    let sent = CodeSent {
        purpose: purpose.as_str().to_owned(),
        expires_in_secs: hub.config.rules.otp_ttl_secs,
    };
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// A real-name registration.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The name on the ID card.
    #[schema(example = "王静")]
    pub name: String,
    /// The 18-digit resident ID number.
    #[schema(example = "310104198803151241")]
    pub id_number: String,
    /// The mobile number the code was sent to.
    #[schema(example = "13817000001")]
    pub phone: String,
    /// The code sent for `register`.
    #[schema(example = "123456")]
    pub code: String,
    /// The login password.
    pub password: String,
    /// `zh` (default) or `en`.
    #[serde(default)]
    pub lang: Option<String>,
}

/// The new account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// Its id.
    pub account_id: String,
    /// Whether the identity registry confirmed the person (always true on success).
    pub verified: bool,
}

/// Registers a real-name-verified account: the code proves the phone, the identity registry
/// confirms name, ID number and phone. One account per ID number.
#[utoipa::path(
    post, path = "/accounts", tag = "accounts",
    request_body = RegisterRequest,
    responses((status = 201, description = "The account exists and is verified.", body = Registered)),
    extensions(("x-problem-codes" = json!([
        "invalid_name", "invalid_id_number", "invalid_phone", "weak_password", "invalid_code", "no_code",
        "id_number_registered", "phone_registered", "identity_mismatch", "identity_unavailable"
    ])))
)]
pub async fn register(
    State(hub): State<Arc<Hub>>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let lang = lang_of(request.lang.as_deref())?;
    let account = hub
        .register(&Registration {
            name: &request.name,
            id_number: &request.id_number,
            phone: &request.phone,
            code: &request.code,
            password: &request.password,
            lang,
        })
        .await?;
    let registered = Registered {
        account_id: account.account_id,
        verified: account.verified_at.is_some(),
    };
    Ok((StatusCode::CREATED, Json(registered)))
}
