//! What surrounds a lookup: the banks open to the caller's region, the authorization agreement
//! (versioned text and its hash), and the liveness and readiness probes.

use super::extract::Caller;
use crate::agreement::{self, AgreementLang};
use crate::error::ApiError;
use crate::hub::Hub;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// A bank the caller may ask.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankView {
    /// Code.
    #[schema(example = "ICBC")]
    pub code: String,
    /// 中文名.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// `pilot` or `open`.
    pub status: String,
}

/// The banks open to the caller's region.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankList {
    /// The caller's region (province prefix).
    pub region: String,
    /// The banks, in registry order.
    pub banks: Vec<BankView>,
}

/// Lists the banks the caller may ask (pilot gating by region and bank).
#[utoipa::path(
    get, path = "/banks", tag = "inquiries",
    responses((status = 200, description = "The banks open to the caller's region.", body = BankList)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["region_not_open"])))
)]
pub async fn banks(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
) -> Result<Json<BankList>, ApiError> {
    let banks = hub
        .banks_for(&caller.account)?
        .into_iter()
        .map(|b| BankView {
            code: b.code.as_str().to_owned(),
            name_zh: b.name_zh.clone(),
            name_en: b.name_en.clone(),
            status: b.status.as_str().to_owned(),
        })
        .collect();
    Ok(Json(BankList {
        region: caller.account.region.clone(),
        banks,
    }))
}

/// Which language of the agreement.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgreementQuery {
    /// `zh` (default) or `en`.
    pub lang: Option<String>,
}

/// The authorization agreement.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgreementView {
    /// Its version: submit it as `consent_version`.
    pub version: String,
    /// `zh` or `en`.
    pub lang: String,
    /// The text to show.
    pub text: String,
    /// Hex SHA-256 of `text`, recorded with the consent.
    pub sha256: String,
}

/// The current authorization agreement in Chinese or English.
#[utoipa::path(
    get, path = "/agreement", tag = "inquiries",
    params(AgreementQuery),
    responses((status = 200, description = "The agreement.", body = AgreementView)),
    extensions(("x-problem-codes" = json!(["invalid_request"])))
)]
pub async fn agreement(
    query: Result<Query<AgreementQuery>, QueryRejection>,
) -> Result<Json<AgreementView>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::new("invalid_request").detail("the query is malformed"))?;
    let lang = match query.lang.as_deref() {
        None => AgreementLang::Zh,
        Some(lang) => AgreementLang::parse(lang)
            .ok_or_else(|| ApiError::new("invalid_request").detail("lang is zh or en"))?,
    };
    Ok(Json(AgreementView {
        version: agreement::VERSION.to_owned(),
        lang: lang.as_str().to_owned(),
        text: agreement::text(lang).to_owned(),
        sha256: agreement::hash(lang),
    }))
}

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive.", body = String, content_type = "text/plain")),
    extensions(("x-problem-codes" = json!([])))
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The service is ready.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
}

/// Readiness: the database answers a trivial query.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready.", body = Ready)),
    extensions(("x-problem-codes" = json!(["not_ready"])))
)]
pub async fn readyz(State(hub): State<Arc<Hub>>) -> Result<Json<Ready>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, hub.store.account("")).await {
        Ok(Ok(_)) => Ok(Json(Ready {
            status: "ready".into(),
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database fails");
            Err(ApiError::new("not_ready").retry_after(5))
        }
        Err(_) => {
            tracing::warn!("readiness: the database does not answer");
            Err(ApiError::new("not_ready").retry_after(5))
        }
    }
}
