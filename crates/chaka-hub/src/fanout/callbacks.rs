//! Callback intake: banks that answered `202` POST their signed `AnswerBatch` to
//! `/chaka/v1/callbacks`. The hub checks the signature (known key, fresh, not replayed, owned
//! by the answering bank), parses the batch strictly, records it all or nothing against the
//! legs of that bank (open legs answered, repeats acknowledged again, answers after the
//! deadline recorded as late and ignored), and answers a hub-signed `Accepted`. Bodies and
//! subjects are never logged.

use crate::banks::HubBanks;
use crate::store::StoreError;
use crate::store::ledger::{CallbackOutcome, CallbackRecord, LedgerStore};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chaka_core::{InquiryId, SharedClock};
use chaka_protocol::JSON_CONTENT_TYPE;
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{Accepted, AnswerBatch, ProtocolError};
use chaka_protocol::nonce::MemoryNonceStore;
use chaka_protocol::problem::{PROBLEM_CONTENT_TYPE, Problem};
use chaka_protocol::signature::{SignatureError, Signer, Verifier};
use std::sync::Arc;
use time::OffsetDateTime;

/// The callback endpoint's path.
pub const CALLBACKS_PATH: &str = "/chaka/v1/callbacks";
/// Callback nonces remembered for replay protection.
const NONCE_CAPACITY: usize = 1_000_000;

/// Why a callback was refused. Messages name positions and codes, never personal values.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The body is not `application/json`.
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The signature was refused.
    #[error("signature refused: {0}")]
    Signature(#[from] SignatureError),
    /// The body is not a valid `AnswerBatch`.
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// The key that signed belongs to another bank than the batch names.
    #[error("the callback is signed with a key of another bank")]
    KeyOfAnotherBank,
    /// An answer names no inquiry asked of this bank.
    #[error("an answer names no inquiry asked of this bank ({0})")]
    UnknownInquiry(InquiryId),
    /// An answer's sealed list does not fit its inquiry (suite, shape).
    #[error("an answer's sealed list does not fit its inquiry ({0})")]
    InvalidAnswer(InquiryId),
    /// The ledger failed.
    #[error("ledger: {0}")]
    Store(#[from] StoreError),
}

impl CallbackError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Signature(e) => e.status(),
            Self::Protocol(e) => e.status(),
            Self::KeyOfAnotherBank | Self::UnknownInquiry(_) | Self::InvalidAnswer(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Signature(e) => e.code(),
            Self::Protocol(e) => e.code(),
            Self::KeyOfAnotherBank => "bank_mismatch",
            Self::UnknownInquiry(_) => "unknown_inquiry",
            Self::InvalidAnswer(_) => "invalid_sealed",
            Self::Store(_) => "internal_error",
        }
    }

    /// The problem document (no personal data; store failures are not detailed).
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let problem = Problem::new(status, self.code(), title);
        match self {
            Self::Store(_) => problem,
            other => problem.with_detail(other.to_string()),
        }
    }
}

/// Verifies, parses and records one callback. `path` is the request's path as received.
/// Returns the acknowledgement to sign: every answer of the batch.
pub async fn intake(
    store: &dyn LedgerStore,
    verifier: &Verifier,
    limits: &Limits,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Accepted, CallbackError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(JSON_CONTENT_TYPE));
    if !json {
        return Err(CallbackError::UnsupportedMediaType);
    }
    let key = verifier.verify_request(&Method::POST, path, headers, body, now)?;
    let batch = AnswerBatch::from_json(body, limits)?;
    if key.owner.as_deref() != Some(batch.bank.as_str()) {
        return Err(CallbackError::KeyOfAnotherBank);
    }
    match store
        .record_callback(&batch.bank, &batch.answers, now)
        .await?
    {
        CallbackRecord::UnknownLeg(id) => Err(CallbackError::UnknownInquiry(id)),
        CallbackRecord::InvalidAnswer(id) => Err(CallbackError::InvalidAnswer(id)),
        CallbackRecord::Recorded(outcomes) => {
            let count =
                |f: fn(&CallbackOutcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
            tracing::info!(
                bank = %batch.bank,
                recorded = count(|o| matches!(o, CallbackOutcome::Recorded { .. })),
                duplicates = count(|o| matches!(o, CallbackOutcome::Duplicate)),
                late = count(|o| matches!(o, CallbackOutcome::Late)),
                deferred = count(|o| matches!(o, CallbackOutcome::Deferred)),
                "callback recorded"
            );
            Ok(Accepted::for_answers(&batch))
        }
    }
}

/// What the callback endpoint needs.
#[derive(Clone)]
pub struct CallbackState {
    /// The ledger.
    pub store: Arc<dyn LedgerStore>,
    /// Verifies banks' signatures (keys owned by bank codes) and remembers nonces.
    pub verifier: Arc<Verifier>,
    /// Signs the acknowledgements as the hub.
    pub signer: Signer,
    /// The clock.
    pub clock: SharedClock,
    /// Message limits.
    pub limits: Limits,
}

impl CallbackState {
    /// State trusting the keys of `banks`, with its own nonce store.
    pub fn new(
        store: Arc<dyn LedgerStore>,
        banks: &HubBanks,
        signer: Signer,
        clock: SharedClock,
    ) -> Self {
        let verifier = Verifier::new(
            banks.key_set(),
            Arc::new(MemoryNonceStore::new(NONCE_CAPACITY)),
        );
        Self {
            store,
            verifier: Arc::new(verifier),
            signer,
            clock,
            limits: Limits::default(),
        }
    }
}

/// `POST /chaka/v1/callbacks`, answering a hub-signed `Accepted` or a signed problem. The
/// signature covers the path as the bank sent it: merge this router at the root (a reverse
/// proxy must not rewrite the path).
pub fn callbacks_router(state: CallbackState) -> Router {
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route(CALLBACKS_PATH, post(callback))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn callback(
    State(state): State<CallbackState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let result = intake(
        state.store.as_ref(),
        &state.verifier,
        &state.limits,
        uri.path(),
        &headers,
        &body,
        now,
    )
    .await;
    match result {
        Ok(accepted) => match accepted.to_json() {
            Ok(body) => signed(&state, StatusCode::OK, JSON_CONTENT_TYPE, body),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Err(e) => {
            match &e {
                CallbackError::Store(cause) => {
                    tracing::error!(error = %cause, "could not record a callback");
                }
                other => tracing::info!(code = other.code(), "refused a callback"),
            }
            let status = e.status();
            match e.problem().to_json() {
                Ok(body) => signed(&state, status, PROBLEM_CONTENT_TYPE, body),
                Err(_) => status.into_response(),
            }
        }
    }
}

fn signed(
    state: &CallbackState,
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
) -> Response {
    match state
        .signer
        .response_headers(status, content_type, &body, state.clock.now())
    {
        Ok(headers) => (status, headers, body).into_response(),
        Err(e) => {
            tracing::error!(code = e.code(), "could not sign a callback response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
