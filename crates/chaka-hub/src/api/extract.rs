//! The API's extractors: the caller (a bearer token or the session cookie, with an anti-forgery
//! check on cookie-authenticated writes) and strict JSON bodies (`application/json`, at most
//! [`BODY_LIMIT`] bytes, unknown fields refused). Every failure is an [`ApiError`]; a malformed
//! body is described by position and kind, never by the value it carried.

use crate::account::Session;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::store::Account;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use serde::de::DeserializeOwned;
use std::pin::Pin;
use std::sync::Arc;

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "chaka_session";

/// A logged-in caller: the session and the account as stored now.
pub struct Caller {
    /// The session the request came with.
    pub session: Session,
    /// The caller's account.
    pub account: Account,
}

/// A caller if the request carries live credentials; `None` otherwise (for routes open to
/// everyone whose behaviour depends on being logged in).
pub struct MaybeCaller(pub Option<Caller>);

/// The token of a request and whether it came from the cookie.
fn token_of(headers: &HeaderMap) -> Result<Option<(String, bool)>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::new("unauthenticated"))?;
        let (scheme, token) = value
            .split_once(' ')
            .ok_or_else(|| ApiError::new("unauthenticated"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::new("unauthenticated").detail("use the Bearer scheme"));
        }
        return Ok(Some((token.trim().to_owned(), false)));
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| (value.trim().to_owned(), true));
    Ok(cookie)
}

/// Refuses a cookie-authenticated write that another site started: a browser names the
/// page's origin in `Origin` and says `Sec-Fetch-Site: cross-site`.
fn check_origin(hub: &Hub, parts: &Parts) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let headers = &parts.headers;
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(
            ApiError::new("csrf").detail("a cross-site request cannot use the session cookie")
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = url::Url::parse(&hub.config.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        if origin.as_bytes() != ours.as_bytes() {
            return Err(ApiError::new("csrf").detail("the request comes from another origin"));
        }
    }
    Ok(())
}

/// The caller of a request, if it carries live credentials (also used by the web app).
pub(crate) async fn caller(parts: &Parts, hub: &Hub) -> Result<Option<Caller>, ApiError> {
    let Some((token, from_cookie)) = token_of(&parts.headers)? else {
        return Ok(None);
    };
    if token.is_empty() || token.len() > 128 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new("unauthenticated"));
    }
    let session = hub.authenticate(&token).await?;
    if from_cookie {
        check_origin(hub, parts)?;
    }
    let account = hub.account_of(&session).await?;
    Ok(Some(Caller { session, account }))
}

impl FromRequestParts<Arc<Hub>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, ApiError> {
        caller(parts, hub)
            .await?
            .ok_or_else(|| ApiError::new("unauthenticated"))
    }
}

impl FromRequestParts<Arc<Hub>> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, ApiError> {
        // Stale credentials do not stop what is open to everyone; a forged write does.
        match caller(parts, hub).await {
            Ok(found) => Ok(Self(found)),
            Err(e) if e.code() == "csrf" => Err(e),
            Err(_) => Ok(Self(None)),
        }
    }
}

/// A JSON body parsed strictly into `T`.
pub struct ApiJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn too_large() -> ApiError {
    ApiError::new("body_too_large").with("limit_bytes", BODY_LIMIT)
}

/// Reads at most `limit` bytes of `body`.
async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut buffer = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|_| ApiError::new("invalid_request").detail("the body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > limit {
                return Err(too_large());
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buffer))
}

/// Describes a JSON error by kind and position, dropping any value it quotes.
fn describe(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    let field_rule = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|p| message.starts_with(p));
    if field_rule {
        // "unknown field `x`, expected one of …": the field name is ours or the client's key.
        let head = message.split(", expected").next().unwrap_or(message);
        return head.chars().take(96).collect();
    }
    for kind in ["invalid type", "invalid value", "invalid length"] {
        if message.starts_with(kind) {
            return match message.split_once(", expected ") {
                Some((_, expected)) => format!(
                    "{kind}, expected {}",
                    expected.chars().take(96).collect::<String>()
                ),
                None => kind.to_owned(),
            };
        }
    }
    match e.classify() {
        serde_json::error::Category::Eof => "the JSON ends too early".to_owned(),
        serde_json::error::Category::Syntax => "the body is not valid JSON".to_owned(),
        _ => "the body does not match the expected fields".to_owned(),
    }
}

/// Parses a body already read (also used by tests of the error shapes).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new("invalid_request")
            .detail(describe(&e))
            .with("line", e.line())
            .with("column", e.column())
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new("unsupported_media_type")
                .detail("send Content-Type: application/json"));
        }
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        let bytes = read_limited(request.into_body(), BODY_LIMIT).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        phone: String,
        count: u32,
    }

    #[test]
    fn errors_name_the_position_and_kind_but_not_the_value() {
        let e = parse_json::<Sample>(br#"{"phone": "13817000001", "count": "13912345678"}"#)
            .unwrap_err();
        let text = format!("{e:?}");
        assert_eq!(e.code(), "invalid_request");
        assert!(text.contains("invalid type"), "{text}");
        assert!(!text.contains("13912345678"), "{text}");
        let e = parse_json::<Sample>(br#"{"phone": "1", "count": 1, "surprise": 1}"#).unwrap_err();
        assert!(format!("{e:?}").contains("unknown field `surprise`"));
        let e = parse_json::<Sample>(br#"{"phone": "13817000001""#).unwrap_err();
        assert!(format!("{e:?}").contains("ends too early"));
        let e = parse_json::<Sample>(b"{\"phone\": 13817000001x}").unwrap_err();
        assert!(!format!("{e:?}").contains("13817000001"));
    }

    #[test]
    fn tokens_come_from_bearer_or_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; chaka_session=tok; c=d".parse().unwrap(),
        );
        assert_eq!(token_of(&headers).unwrap(), Some(("tok".to_owned(), true)));
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(token_of(&headers).unwrap(), Some(("abc".to_owned(), false)));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(token_of(&headers).is_err());
    }
}
