//! The [`Verifier`]: checks an incoming request's or response's `chaka` signature against
//! the key set, the time the caller passes, the body's digest, and the nonce store.

use super::base::{MessageContext, SignatureInput, header_component, signature_base};
use super::{
    ALGORITHM, DEFAULT_MAX_AGE, DEFAULT_MAX_SKEW, MAX_HEADER_BYTES, REQUEST_WITH_BODY,
    REQUEST_WITHOUT_BODY, RESPONSE, SIGNATURE, SIGNATURE_INPUT, SIGNATURE_LABEL, SignatureError,
};
use crate::digest::{CONTENT_DIGEST, verify_content_digest};
use crate::keys::{KeyId, KeySet};
use crate::nonce::{Nonce, NonceCheck, NonceStore};
use crate::structured_field::{BareItem, Member, parse_dictionary};
use http::{HeaderMap, Method, StatusCode};
use std::sync::{Arc, PoisonError, RwLock};
use time::{Duration, OffsetDateTime};

/// Who signed a verified message, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    /// The key id.
    pub key_id: KeyId,
    /// The key's owner from the key set (bank code or `hub`).
    pub owner: Option<String>,
    /// `created`.
    pub created: OffsetDateTime,
    /// `expires`.
    pub expires: OffsetDateTime,
}

/// Verifies signed requests and responses against a key set, a nonce store and the clock
/// value the caller passes.
pub struct Verifier {
    keys: RwLock<KeySet>,
    nonces: Arc<dyn NonceStore>,
    max_age: Duration,
    max_skew: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("max_age", &self.max_age)
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with the default maximum age and skew (300 s each).
    pub fn new(keys: KeySet, nonces: Arc<dyn NonceStore>) -> Self {
        Self {
            keys: RwLock::new(keys),
            nonces,
            max_age: DEFAULT_MAX_AGE,
            max_skew: DEFAULT_MAX_SKEW,
        }
    }

    /// Changes how old `created` may be.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Changes how far ahead of our clock `created` may be.
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// Replaces the key set (e.g. after a peer rotated its key).
    pub fn replace_keys(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// A copy of the current key set.
    pub fn keys(&self) -> KeySet {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Verifies a request's `chaka` signature. A request with a body (or a `Content-Digest`)
    /// must cover `@method`, `@path`, `content-digest` and `content-type`, and its digest must
    /// match `body`; a bodiless request must cover `@method` and `@path`. See
    /// [`Signer::sign_request`](super::Signer::sign_request) for an example.
    pub fn verify_request(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<VerifiedKey, SignatureError> {
        let required: &[&'static str] = if body.is_empty() && !headers.contains_key(CONTENT_DIGEST)
        {
            &REQUEST_WITHOUT_BODY
        } else {
            &REQUEST_WITH_BODY
        };
        let ctx = MessageContext {
            method: Some(method),
            path: Some(path),
            authority: None,
            status: None,
            headers,
        };
        self.verify(required, &ctx, body, now)
    }

    /// Verifies a response's `chaka` signature, which must cover `@status`, `content-digest`
    /// and `content-type`. See [`Signer::sign_response`](super::Signer::sign_response) for an example.
    pub fn verify_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<VerifiedKey, SignatureError> {
        let ctx = MessageContext {
            method: None,
            path: None,
            authority: None,
            status: Some(status),
            headers,
        };
        self.verify(&RESPONSE, &ctx, body, now)
    }

    fn verify(
        &self,
        required: &[&'static str],
        ctx: &MessageContext<'_>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<VerifiedKey, SignatureError> {
        let input = find_input(ctx.headers)?;
        let signature = find_signature(ctx.headers)?;
        for component in required {
            if !input.components().iter().any(|c| c == component) {
                return Err(SignatureError::MissingComponent(component));
            }
        }
        match input.alg() {
            None => return Err(SignatureError::MissingParameter("alg")),
            Some(ALGORITHM) => {}
            Some(_) => return Err(SignatureError::WrongAlgorithm),
        }
        let key_id = input
            .key_id()
            .ok_or(SignatureError::MissingParameter("keyid"))?;
        let key_id = KeyId::parse(key_id).map_err(|_| SignatureError::UnknownKey)?;
        let nonce = input
            .nonce()
            .ok_or(SignatureError::MissingParameter("nonce"))?;
        let nonce = Nonce::parse(nonce).ok_or(SignatureError::InvalidNonce)?;
        let created = timestamp(input.created(), "created")?;
        let expires = timestamp(input.expires(), "expires")?;
        if expires <= created {
            return Err(SignatureError::Malformed(SIGNATURE_INPUT));
        }
        if created > now + self.max_skew {
            return Err(SignatureError::CreatedInFuture);
        }
        if now >= expires || created < now - self.max_age {
            return Err(SignatureError::Expired);
        }
        let (public_key, owner) = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            let known = keys.get(&key_id).ok_or(SignatureError::UnknownKey)?;
            if !known.is_valid_at(now) || !known.is_valid_at(created) {
                return Err(SignatureError::KeyNotValid);
            }
            (known.public_key, known.owner.clone())
        };
        if input.components().iter().any(|c| c == CONTENT_DIGEST) {
            let value = header_component(ctx.headers, CONTENT_DIGEST)?;
            verify_content_digest(&value, body)?;
        }
        let base = signature_base(&input, ctx)?;
        if !public_key.verify(base.as_bytes(), &signature) {
            return Err(SignatureError::BadSignature);
        }
        let remember_until = expires.min(created + self.max_age);
        match self.nonces.remember(&key_id, &nonce, remember_until, now) {
            NonceCheck::Fresh => Ok(VerifiedKey {
                key_id,
                owner,
                created,
                expires,
            }),
            NonceCheck::Replayed => Err(SignatureError::Replayed),
            NonceCheck::Full => Err(SignatureError::NonceStoreFull),
        }
    }
}

fn timestamp(value: Option<i64>, name: &'static str) -> Result<OffsetDateTime, SignatureError> {
    let secs = value.ok_or(SignatureError::MissingParameter(name))?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| SignatureError::Malformed(SIGNATURE_INPUT))
}

fn combined_header(headers: &HeaderMap, name: &'static str) -> Result<String, SignatureError> {
    let mut parts = Vec::new();
    let mut total = 0;
    for value in headers.get_all(name) {
        let text = value
            .to_str()
            .map_err(|_| SignatureError::Malformed(name))?;
        total += text.len();
        if total > MAX_HEADER_BYTES {
            return Err(SignatureError::Malformed(name));
        }
        parts.push(text);
    }
    if parts.is_empty() {
        return Err(SignatureError::MissingHeader(name));
    }
    Ok(parts.join(", "))
}

fn find_member(headers: &HeaderMap, name: &'static str) -> Result<Member, SignatureError> {
    let value = combined_header(headers, name)?;
    let dict = parse_dictionary(&value).map_err(|_| SignatureError::Malformed(name))?;
    dict.into_iter()
        .find(|(k, _)| k == SIGNATURE_LABEL)
        .map(|(_, m)| m)
        .ok_or(SignatureError::MissingHeader(name))
}

fn find_input(headers: &HeaderMap) -> Result<SignatureInput, SignatureError> {
    match find_member(headers, SIGNATURE_INPUT)? {
        Member::InnerList(items, params) => SignatureInput::from_parts(items, params),
        Member::Item(_) => Err(SignatureError::Malformed(SIGNATURE_INPUT)),
    }
}

fn find_signature(headers: &HeaderMap) -> Result<[u8; 64], SignatureError> {
    match find_member(headers, SIGNATURE)? {
        Member::Item(item) => match item.bare {
            BareItem::Bytes(bytes) => {
                <[u8; 64]>::try_from(bytes.as_slice()).map_err(|_| SignatureError::BadSignature)
            }
            _ => Err(SignatureError::Malformed(SIGNATURE)),
        },
        Member::InnerList(..) => Err(SignatureError::Malformed(SIGNATURE)),
    }
}
