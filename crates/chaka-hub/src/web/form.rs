//! Forms of the web app: `application/x-www-form-urlencoded` bodies read within a size limit
//! into name/value pairs, and the anti-forgery check every form passes (double submit: the
//! hidden `csrf` field must equal the `chaka_csrf` cookie, which is HttpOnly and
//! SameSite=Strict; cookie-authenticated writes also have their `Origin` checked by the API's
//! caller extractor). A refused form changes nothing.

use super::page::{Failure, Visitor};
use crate::error::ApiError;
use crate::hub::Hub;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The name of the anti-forgery cookie.
pub const CSRF_COOKIE: &str = "chaka_csrf";
/// The largest form accepted, in bytes.
pub const FORM_LIMIT: usize = 16 * 1024;
/// The most fields a form may have.
const MAX_FIELDS: usize = 200;

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// A form that passed the anti-forgery check.
#[derive(Debug)]
pub struct WebForm {
    pairs: Vec<(String, String)>,
}

impl WebForm {
    /// Builds a form from pairs (tests).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// The first value of `name`, exactly as sent (passwords keep their spaces).
    pub fn raw(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name` (repeated fields: the banks of a lookup).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn ticked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

/// Parses a form body and checks its anti-forgery token against the cookie.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<WebForm, ApiError> {
    if body.len() > FORM_LIMIT {
        return Err(ApiError::new("body_too_large").with("limit_bytes", FORM_LIMIT));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::new("invalid_request").detail("the form could not be read"))?;
    if pairs.len() > MAX_FIELDS {
        return Err(ApiError::new("invalid_request").detail("the form has too many fields"));
    }
    let sent = pairs
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let expected = cookie(headers, CSRF_COOKIE).unwrap_or_default();
    let same: bool = sent.as_bytes().ct_eq(expected.as_bytes()).into();
    if expected.len() < 16 || !same {
        return Err(ApiError::new("csrf").detail("reload the page and send the form again"));
    }
    Ok(WebForm { pairs })
}

/// A refused form is shown as the error page, in the visitor's language.
impl FromRequest<Arc<Hub>> for WebForm {
    type Rejection = Failure;

    async fn from_request(request: Request, hub: &Arc<Hub>) -> Result<Self, Failure> {
        let (mut parts, body) = request.into_parts();
        let ctx = Visitor::from_request_parts(&mut parts, hub).await?.ctx;
        let essence = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if essence != "application/x-www-form-urlencoded" {
            return Err(ctx.fail(
                ApiError::new("unsupported_media_type")
                    .detail("send the form as application/x-www-form-urlencoded"),
            ));
        }
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
            ctx.fail(ApiError::new("body_too_large").with("limit_bytes", FORM_LIMIT))
        })?;
        parse(&parts.headers, &bytes).map_err(|e| ctx.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, cookie.parse().unwrap());
        h
    }

    #[test]
    fn the_token_must_match_the_cookie() {
        let token = "abcdefghijklmnopqrstuvwx";
        let h = headers(&format!("chaka_csrf={token}; other=1"));
        let form = parse(&h, format!("csrf={token}&banks=ICBC&banks=ABC").as_bytes()).unwrap();
        assert_eq!(form.all("banks"), ["ICBC", "ABC"]);
        assert_eq!(parse(&h, b"csrf=wrong").unwrap_err().code(), "csrf");
        assert_eq!(parse(&h, b"banks=ICBC").unwrap_err().code(), "csrf");
        let none = HeaderMap::new();
        assert_eq!(parse(&none, b"csrf=").unwrap_err().code(), "csrf");
        let short = headers("chaka_csrf=abc");
        assert_eq!(parse(&short, b"csrf=abc").unwrap_err().code(), "csrf");
    }

    #[test]
    fn hostile_forms_are_refused_with_a_code() {
        let h = headers("chaka_csrf=abcdefghijklmnopqrstuvwx");
        let big = vec![b'a'; FORM_LIMIT + 1];
        assert_eq!(parse(&h, &big).unwrap_err().code(), "body_too_large");
        let many = "a=1&".repeat(MAX_FIELDS + 1);
        assert_eq!(
            parse(&h, many.as_bytes()).unwrap_err().code(),
            "invalid_request"
        );
    }
}
