//! The [`Signer`]: produces the `Content-Digest`, `Signature-Input` and `Signature` headers
//! of an outgoing request or response.

use super::base::{MessageContext, SignatureInput, signature_base};
use super::{
    DEFAULT_VALIDITY, REQUEST_WITH_BODY, REQUEST_WITHOUT_BODY, RESPONSE, SIGNATURE,
    SIGNATURE_INPUT, SIGNATURE_LABEL, SignatureError,
};
use crate::digest::{CONTENT_DIGEST, content_digest};
use crate::keys::{KeyId, SigningKeyPair};
use crate::nonce::Nonce;
use crate::structured_field::is_sf_string;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use time::{Duration, OffsetDateTime};

/// Signs outgoing requests and responses with one Ed25519 key.
#[derive(Debug, Clone)]
pub struct Signer {
    key_id: KeyId,
    key: SigningKeyPair,
    validity: Duration,
}

impl Signer {
    /// A signer whose signatures expire [`DEFAULT_VALIDITY`] after creation.
    pub fn new(key_id: KeyId, key: SigningKeyPair) -> Self {
        Self {
            key_id,
            key,
            validity: DEFAULT_VALIDITY,
        }
    }

    /// Changes the signature lifetime.
    pub fn with_validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// The key id this signer puts in `keyid`.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKeyPair {
        &self.key
    }

    /// Signs a request. Returns the headers to add: `content-digest` (when there is a body or
    /// a content type), `signature-input` and `signature`. The request must carry exactly
    /// `content_type` as its `Content-Type`. For a bodiless GET pass `None` and an empty body.
    ///
    /// ```
    /// use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair};
    /// use chaka_protocol::nonce::MemoryNonceStore;
    /// use chaka_protocol::signature::{Signer, Verifier};
    /// use std::sync::Arc;
    /// use time::macros::datetime;
    ///
    /// let key = SigningKeyPair::generate();
    /// let key_id = KeyId::parse("hub-1").unwrap();
    /// let signer = Signer::new(key_id.clone(), key.clone());
    /// let now = datetime!(2026-11-28 10:00 UTC);
    /// let body = br#"{"protocol":"chaka/1","inquiries":[]}"#;
    /// let mut headers = signer
    ///     .sign_request(&http::Method::POST, "/chaka/v1/inquiries", Some("application/json"), body, now)
    ///     .unwrap();
    /// headers.insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
    ///
    /// let keys = KeySet::new().with(KnownKey::new(key_id, key.public_key()).owned_by("hub"));
    /// let verifier = Verifier::new(keys, Arc::new(MemoryNonceStore::default()));
    /// let who = verifier
    ///     .verify_request(&http::Method::POST, "/chaka/v1/inquiries", &headers, body, now)
    ///     .unwrap();
    /// assert_eq!(who.owner.as_deref(), Some("hub"));
    /// // The same request again is a replay.
    /// assert!(verifier
    ///     .verify_request(&http::Method::POST, "/chaka/v1/inquiries", &headers, body, now)
    ///     .is_err());
    /// ```
    pub fn sign_request(
        &self,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<HeaderMap, SignatureError> {
        self.sign_request_with_nonce(method, path, content_type, body, now, &Nonce::generate())
    }

    /// [`Signer::sign_request`] with a given nonce: for test vectors only. Never reuse a nonce.
    pub fn sign_request_with_nonce(
        &self,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
        nonce: &Nonce,
    ) -> Result<HeaderMap, SignatureError> {
        if !path.starts_with('/') || path.contains('?') || !is_visible_ascii(path) {
            return Err(SignatureError::InvalidPath);
        }
        let mut headers = HeaderMap::new();
        let components: &[&str] = match content_type {
            None if body.is_empty() => &REQUEST_WITHOUT_BODY,
            None => return Err(SignatureError::InvalidContentType),
            Some(ct) => {
                insert_body_headers(&mut headers, ct, body)?;
                &REQUEST_WITH_BODY
            }
        };
        let ctx = MessageContext {
            method: Some(method),
            path: Some(path),
            authority: None,
            status: None,
            headers: &headers,
        };
        let out = self.finish(components, &ctx, now, nonce)?;
        headers.remove(CONTENT_TYPE);
        headers.extend(out);
        Ok(headers)
    }

    /// Signs a response. Returns the headers to add: `content-digest`, `signature-input` and
    /// `signature`. The response must carry exactly `content_type` as its `Content-Type`.
    ///
    /// ```
    /// # use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair};
    /// # use chaka_protocol::nonce::MemoryNonceStore;
    /// # use chaka_protocol::signature::{Signer, Verifier};
    /// # use std::sync::Arc;
    /// # use time::macros::datetime;
    /// let key = SigningKeyPair::generate();
    /// let signer = Signer::new(KeyId::parse("ICBC-1").unwrap(), key.clone());
    /// let now = datetime!(2026-11-28 10:00 UTC);
    /// let body = b"{}";
    /// let mut headers = signer
    ///     .sign_response(http::StatusCode::OK, "application/json", body, now)
    ///     .unwrap();
    /// headers.insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
    /// let keys = KeySet::new().with(KnownKey::new(signer.key_id().clone(), key.public_key()));
    /// let verifier = Verifier::new(keys, Arc::new(MemoryNonceStore::default()));
    /// assert!(verifier.verify_response(http::StatusCode::OK, &headers, body, now).is_ok());
    /// ```
    pub fn sign_response(
        &self,
        status: StatusCode,
        content_type: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<HeaderMap, SignatureError> {
        self.sign_response_with_nonce(status, content_type, body, now, &Nonce::generate())
    }

    /// Every header a signed response carries: [`Signer::sign_response`]'s and the
    /// `Content-Type` itself, ready to put on the response.
    pub fn response_headers(
        &self,
        status: StatusCode,
        content_type: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<HeaderMap, SignatureError> {
        let mut headers = self.sign_response(status, content_type, body, now)?;
        let value =
            HeaderValue::from_str(content_type).map_err(|_| SignatureError::InvalidContentType)?;
        headers.insert(CONTENT_TYPE, value);
        Ok(headers)
    }

    /// [`Signer::sign_response`] with a given nonce: for test vectors only.
    pub fn sign_response_with_nonce(
        &self,
        status: StatusCode,
        content_type: &str,
        body: &[u8],
        now: OffsetDateTime,
        nonce: &Nonce,
    ) -> Result<HeaderMap, SignatureError> {
        let mut headers = HeaderMap::new();
        insert_body_headers(&mut headers, content_type, body)?;
        let ctx = MessageContext {
            method: None,
            path: None,
            authority: None,
            status: Some(status),
            headers: &headers,
        };
        let out = self.finish(&RESPONSE, &ctx, now, nonce)?;
        headers.remove(CONTENT_TYPE);
        headers.extend(out);
        Ok(headers)
    }

    fn finish(
        &self,
        components: &[&str],
        ctx: &MessageContext<'_>,
        now: OffsetDateTime,
        nonce: &Nonce,
    ) -> Result<HeaderMap, SignatureError> {
        let input = SignatureInput::new(components, now, now + self.validity, nonce, &self.key_id);
        let base = signature_base(&input, ctx)?;
        let signature = self.key.sign(base.as_bytes());
        let mut out = HeaderMap::new();
        let input_value = format!("{SIGNATURE_LABEL}={}", input.serialize());
        let signature_value = format!("{SIGNATURE_LABEL}=:{}:", STANDARD.encode(signature));
        for (name, value) in [(SIGNATURE_INPUT, input_value), (SIGNATURE, signature_value)] {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| SignatureError::Malformed(SIGNATURE_INPUT))?;
            out.insert(HeaderName::from_static(name), value);
        }
        Ok(out)
    }
}

fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

fn insert_body_headers(
    headers: &mut HeaderMap,
    content_type: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    if content_type.is_empty() || !is_sf_string(content_type) {
        return Err(SignatureError::InvalidContentType);
    }
    let ct = HeaderValue::from_str(content_type).map_err(|_| SignatureError::InvalidContentType)?;
    let digest = HeaderValue::from_str(&content_digest(body))
        .map_err(|_| SignatureError::Malformed(CONTENT_DIGEST))?;
    headers.insert(CONTENT_TYPE, ct);
    headers.insert(HeaderName::from_static(CONTENT_DIGEST), digest);
    Ok(())
}
