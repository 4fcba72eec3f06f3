//! Sessions: log in (a token shown once, and the same token as an HttpOnly, SameSite=Strict
//! cookie, `Secure` when the hub is served over https), list the account's sessions, revoke
//! one, log out.

use super::extract::{ApiJson, Caller, SESSION_COOKIE};
use super::rfc3339;
use crate::error::ApiError;
use crate::hub::Hub;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Phone and password.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The registered mobile number.
    #[schema(example = "13817000001")]
    pub phone: String,
    /// The login password.
    pub password: String,
}

/// A new session. The token is shown once; the hub keeps only its hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// `Authorization: Bearer <token>` (also set as the `chaka_session` cookie).
    pub token: String,
    /// The session's public id (for listing and revoking).
    pub session_id: String,
    /// The session ends at this time whatever happens (it also ends when idle).
    pub expires_at: String,
}

/// One of the account's live sessions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Public id.
    pub session_id: String,
    /// Login time.
    pub created_at: String,
    /// Last request.
    pub last_seen_at: String,
    /// Absolute expiry.
    pub expires_at: String,
    /// The client, as it said.
    pub user_agent: Option<String>,
    /// Whether this request came with it.
    pub current: bool,
}

/// The account's live sessions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// The session cookie (also set by the web app's login).
pub(crate) fn cookie(hub: &Hub, value: &str, clear: bool) -> Option<HeaderValue> {
    let secure = if hub.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = if clear { "; Max-Age=0" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{secure}{max_age}"
    ))
    .ok()
}

/// Logs in. A wrong password and an unknown phone are answered alike.
#[utoipa::path(
    post, path = "/sessions", tag = "sessions",
    request_body = LoginRequest,
    responses((status = 201, description = "Logged in; the cookie `chaka_session` is set.", body = LoginResponse,
        headers(("set-cookie" = String, description = "chaka_session=<token>; HttpOnly; SameSite=Strict; Path=/[; Secure]")))),
    extensions(("x-problem-codes" = json!(["wrong_credentials"])))
)]
pub async fn login(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let (token, record) = hub
        .login(&request.phone, &request.password, user_agent)
        .await?;
    let body = LoginResponse {
        session_id: record.session_id,
        expires_at: rfc3339(record.expires_at),
        token,
    };
    let set_cookie =
        cookie(&hub, &body.token, false).ok_or_else(|| ApiError::internal(&"session cookie"))?;
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie);
    Ok(response)
}

/// Lists the account's live sessions, marking the current one.
#[utoipa::path(
    get, path = "/sessions", tag = "sessions",
    responses((status = 200, description = "The live sessions.", body = SessionList)),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([])))
)]
pub async fn list(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
) -> Result<Json<SessionList>, ApiError> {
    let now = hub.clock.now();
    let sessions = hub
        .store
        .sessions(
            &caller.account.account_id,
            now,
            hub.config.rules.session_idle(),
        )
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.session_id == caller.session.session_id,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            expires_at: rfc3339(s.expires_at),
            user_agent: s.user_agent,
            session_id: s.session_id,
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// Logs out: ends the current session and clears the cookie.
#[utoipa::path(
    delete, path = "/sessions/current", tag = "sessions",
    responses((status = 204, description = "Logged out.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!([])))
)]
pub async fn logout(State(hub): State<Arc<Hub>>, caller: Caller) -> Result<Response, ApiError> {
    hub.logout(&caller.session).await?;
    Ok(cleared(&hub))
}

fn cleared(hub: &Hub) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(value) = cookie(hub, "", true) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Revokes one of the account's sessions (another account's is `not_found`).
#[utoipa::path(
    delete, path = "/sessions/{session_id}", tag = "sessions",
    params(("session_id" = String, Path, description = "The session's public id.")),
    responses((status = 204, description = "Revoked.")),
    security(("bearer" = []), ("cookie" = [])),
    extensions(("x-problem-codes" = json!(["not_found"])))
)]
pub async fn revoke(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> Result<Response, ApiError> {
    hub.revoke_session(&caller.account, &session_id).await?;
    if session_id == caller.session.session_id {
        return Ok(cleared(&hub));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
