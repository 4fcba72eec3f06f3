//! The HTTP side of the bank node: routes, signature checks on the way in, signatures on the
//! way out, problem documents for every refusal, fault injection, and the two answer modes.

use super::answer::{AnswerError, Answerer};
use super::callback::CallbackSender;
use super::config::{AnswerMode, NodeConfig};
use super::faults::{Fault, FaultConfig, FaultConfigError, FaultInjector};
use crate::store::{CardStore, StoreError};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chaka_core::{BankCode, SharedClock};
use chaka_protocol::PROTOCOL_VERSION;
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair, SigningPublicKey};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{Accepted, AnswerBatch, Heartbeat, InquiryBatch};
use chaka_protocol::nonce::MemoryNonceStore;
use chaka_protocol::problem::{PROBLEM_CONTENT_TYPE, Problem};
use chaka_protocol::signature::{Signer, Verifier};
use chaka_protocol::suite::Suite;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

pub use chaka_protocol::{HEARTBEAT_PATH, INQUIRIES_PATH};
const JSON: &str = chaka_protocol::JSON_CONTENT_TYPE;
/// Nonces remembered for replay protection: a signature lives 300 s, so this holds well over
/// 3,000 requests per second.
const NONCE_CAPACITY: usize = 1_000_000;

/// Everything a node needs, resolved from a [`NodeConfig`] or built by a test.
pub struct NodeSettings {
    /// The bank this node answers for.
    pub bank: BankCode,
    /// Its card store.
    pub store: CardStore,
    /// Its signing key id.
    pub key_id: KeyId,
    /// Its signing key.
    pub signing_key: SigningKeyPair,
    /// Hub keys it accepts.
    pub trusted: KeySet,
    /// Immediate or callback.
    pub answer_mode: AnswerMode,
    /// Delay before a callback.
    pub callback_delay: Duration,
    /// Deliberate misbehaviour.
    pub faults: FaultConfig,
    /// Message limits.
    pub limits: Limits,
    /// The clock.
    pub clock: SharedClock,
}

/// The node cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The card store cannot be opened or belongs to another bank.
    #[error("card store: {0}")]
    Store(#[from] StoreError),
    /// The fault configuration is inconsistent.
    #[error("faults: {0}")]
    Faults(#[from] FaultConfigError),
    /// A key in the configuration is malformed.
    #[error("{0}")]
    Key(String),
}

impl NodeSettings {
    /// Resolves a configuration file's contents: opens the store, reads the signing key.
    pub async fn from_config(config: &NodeConfig, clock: SharedClock) -> Result<Self, NodeError> {
        let store = CardStore::open(&config.store).await?;
        if store.bank_code() != &config.bank {
            return Err(NodeError::Key(format!(
                "the card store {} belongs to {}, not {}",
                config.store.display(),
                store.bank_code(),
                config.bank
            )));
        }
        let pem = std::fs::read_to_string(&config.signing_key).map_err(|e| {
            NodeError::Key(format!(
                "cannot read signing key {}: {e}",
                config.signing_key.display()
            ))
        })?;
        let signing_key = SigningKeyPair::from_pkcs8_pem(&pem).map_err(|e| {
            NodeError::Key(format!("signing key {}: {e}", config.signing_key.display()))
        })?;
        let key_id =
            KeyId::parse(&config.key_id).map_err(|e| NodeError::Key(format!("key_id: {e}")))?;
        let mut trusted = KeySet::new();
        for k in &config.trusted_hub_keys {
            let id = KeyId::parse(&k.key_id)
                .map_err(|e| NodeError::Key(format!("trusted_hub_keys key_id: {e}")))?;
            let public = SigningPublicKey::parse(&k.public_key)
                .map_err(|e| NodeError::Key(format!("trusted_hub_keys {}: {e}", k.key_id)))?;
            let mut known = KnownKey::new(id, public).owned_by("hub");
            if let Some(until) = k.not_after {
                known = known.valid_until(until);
            }
            trusted.insert(known);
        }
        Ok(Self {
            bank: config.bank.clone(),
            store,
            key_id,
            signing_key,
            trusted,
            answer_mode: config.answer_mode,
            callback_delay: Duration::from_secs(config.callback_delay_secs),
            faults: config.faults.clone(),
            limits: Limits::default(),
            clock,
        })
    }
}

/// Counters a test or an operator can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeStats {
    /// Requests received on the inquiry endpoint.
    pub requests: u64,
    /// Inquiries answered (including idempotent replays).
    pub answers: u64,
    /// Card-store lookups (replays make none).
    pub lookups: u64,
    /// Requests refused for their signature.
    pub bad_signatures: u64,
    /// Callbacks delivered.
    pub callbacks_delivered: u64,
}

struct NodeState {
    bank: BankCode,
    answerer: Arc<Answerer>,
    signer: Signer,
    impostor: Signer,
    verifier: Verifier,
    limits: Limits,
    mode: AnswerMode,
    faults: FaultInjector,
    clock: SharedClock,
    started_at: OffsetDateTime,
    callbacks: CallbackSender,
    closing: watch::Receiver<bool>,
    close: watch::Sender<bool>,
    requests: AtomicU64,
    answers: AtomicU64,
    bad_signatures: AtomicU64,
}

/// A running bank node's handle: cheap to clone.
#[derive(Clone)]
pub struct BankNode(Arc<NodeState>);

impl BankNode {
    /// Builds a node from its settings.
    pub fn new(settings: NodeSettings) -> Result<Self, NodeError> {
        let faults = FaultInjector::new(settings.faults)?;
        let signer = Signer::new(settings.key_id.clone(), settings.signing_key);
        let impostor = Signer::new(settings.key_id, SigningKeyPair::generate());
        let verifier = Verifier::new(
            settings.trusted.clone(),
            Arc::new(MemoryNonceStore::new(NONCE_CAPACITY)),
        );
        let acknowledgements = Verifier::new(
            settings.trusted,
            Arc::new(MemoryNonceStore::new(NONCE_CAPACITY)),
        );
        let (close, closing) = watch::channel(false);
        let answerer = Arc::new(Answerer::new(
            settings.bank.clone(),
            settings.store,
            settings.clock.clone(),
        ));
        let callbacks = CallbackSender::new(
            settings.bank.clone(),
            answerer.clone(),
            signer.clone(),
            settings.clock.clone(),
            settings.callback_delay,
            acknowledgements,
            closing.clone(),
        );
        Ok(Self(Arc::new(NodeState {
            bank: settings.bank,
            answerer,
            signer,
            impostor,
            verifier,
            limits: settings.limits,
            mode: settings.answer_mode,
            faults,
            started_at: settings.clock.now(),
            clock: settings.clock,
            callbacks,
            closing,
            close,
            requests: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            bad_signatures: AtomicU64::new(0),
        })))
    }

    /// The bank this node answers for.
    pub fn bank(&self) -> &BankCode {
        &self.0.bank
    }

    /// The node's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route(INQUIRIES_PATH, post(inquiries))
            .route(HEARTBEAT_PATH, get(heartbeat))
            .route("/healthz", get(|| async { "ok" }))
            .fallback(not_found)
            .with_state(self.0.clone())
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting, wakes requests
    /// held by the silent fault, and lets in-flight requests finish.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let close = self.0.close.clone();
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = close.send(true);
            })
            .await
    }

    /// The node's counters.
    pub fn stats(&self) -> NodeStats {
        let s = &self.0;
        NodeStats {
            requests: s.requests.load(Ordering::Relaxed),
            answers: s.answers.load(Ordering::Relaxed),
            lookups: s.answerer.lookups(),
            bad_signatures: s.bad_signatures.load(Ordering::Relaxed),
            callbacks_delivered: s.callbacks.delivered(),
        }
    }
}

async fn inquiries(
    State(state): State<Arc<NodeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let Ok(bytes) = axum::body::to_bytes(body, state.limits.max_body_bytes).await else {
        return state.problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            &format!(
                "the request body exceeds {} bytes",
                state.limits.max_body_bytes
            ),
        );
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(JSON))
        });
    if !json {
        return state.problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be application/json",
        );
    }
    let now = state.clock.now();
    if let Err(e) = state
        .verifier
        .verify_request(&method, uri.path(), &headers, &bytes, now)
    {
        state.bad_signatures.fetch_add(1, Ordering::Relaxed);
        tracing::info!(code = e.code(), "refused a request for its signature");
        return state.problem(e.status(), e.code(), &e.to_string());
    }
    let fault = state.faults.decide(duration_since(state.started_at, now));
    match fault {
        Fault::ServerError => {
            return state.problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "injected fault",
            );
        }
        Fault::Throttle => return state.retry_later(StatusCode::TOO_MANY_REQUESTS),
        Fault::Unavailable => return state.retry_later(StatusCode::SERVICE_UNAVAILABLE),
        _ => {}
    }
    let batch = match InquiryBatch::from_json(&bytes, &state.limits) {
        Ok(batch) => batch,
        Err(e) => {
            tracing::info!(code = e.code(), "refused a malformed inquiry batch");
            return state.problem(e.status(), e.code(), &e.to_string());
        }
    };
    let delay = state.faults.delay();
    if !delay.is_zero() {
        let mut closing = state.closing.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = closing.wait_for(|c| *c) => {}
        }
    }
    if fault == Fault::Silent && state.mode == AnswerMode::Immediate {
        // Hold the request without answering until the client gives up or the node stops.
        let mut closing = state.closing.clone();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = closing.wait_for(|c| *c) => {}
        }
        return state.retry_later(StatusCode::SERVICE_UNAVAILABLE);
    }
    if fault == Fault::Garbage {
        let garbage = format!("{{\"protocol\":\"{PROTOCOL_VERSION}\",\"answers\":[");
        return state.signed(StatusCode::OK, JSON, garbage.into_bytes(), false);
    }
    let mode = if batch.allows_callback() {
        state.mode
    } else {
        // Only a batch whose every inquiry has a callback URL may be answered later.
        AnswerMode::Immediate
    };
    match mode {
        AnswerMode::Callback => {
            let accepted = Accepted::for_batch(state.bank.clone(), &batch);
            if fault != Fault::Silent {
                state
                    .callbacks
                    .schedule(batch, fault == Fault::BadSignature);
            }
            state.json(StatusCode::ACCEPTED, &accepted, false)
        }
        AnswerMode::Immediate => {
            let answers = match state.answerer.answer_batch(&batch.inquiries).await {
                Ok(answers) => answers,
                Err(AnswerError::Conflict(id)) => {
                    return state.problem(
                        StatusCode::CONFLICT,
                        "inquiry_id_reused",
                        &format!("inquiry {id} was already answered for a different inquiry"),
                    );
                }
                Err(e) => return state.internal(&e),
            };
            state
                .answers
                .fetch_add(answers.len() as u64, Ordering::Relaxed);
            tracing::info!(inquiries = answers.len(), "answered a batch");
            let batch = AnswerBatch::new(state.bank.clone(), answers);
            state.json(StatusCode::OK, &batch, fault == Fault::BadSignature)
        }
    }
}

async fn heartbeat(
    State(state): State<Arc<NodeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let now = state.clock.now();
    if let Err(e) = state
        .verifier
        .verify_request(&method, uri.path(), &headers, &[], now)
    {
        state.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return state.problem(e.status(), e.code(), &e.to_string());
    }
    let beat = Heartbeat {
        protocol_versions: vec![PROTOCOL_VERSION.to_owned()],
        bank: state.bank.clone(),
        key_id: state.signer.key_id().clone(),
        suites: Suite::ALL.to_vec(),
        time: now,
    };
    state.json(StatusCode::OK, &beat, false)
}

async fn not_found(State(state): State<Arc<NodeState>>, uri: Uri) -> Response {
    let _ = uri;
    state.problem(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint in protocol v1",
    )
}

fn duration_since(start: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - start).unwrap_or(Duration::ZERO)
}

impl NodeState {
    fn json<T: serde::Serialize>(&self, status: StatusCode, value: &T, impostor: bool) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => self.signed(status, JSON, body, impostor),
            Err(e) => self.internal(&AnswerError::Encoding(e)),
        }
    }

    fn signed(
        &self,
        status: StatusCode,
        content_type: &str,
        body: Vec<u8>,
        impostor: bool,
    ) -> Response {
        let signer = if impostor {
            &self.impostor
        } else {
            &self.signer
        };
        match signer.response_headers(status, content_type, &body, self.clock.now()) {
            Ok(headers) => (status, headers, body).into_response(),
            Err(e) => {
                tracing::error!(code = e.code(), "could not sign a response");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    fn problem(&self, status: StatusCode, code: &str, detail: &str) -> Response {
        let title = status.canonical_reason().unwrap_or("Error");
        let problem = Problem::new(status, code, title).with_detail(detail);
        match problem.to_json() {
            Ok(body) => self.signed(status, PROBLEM_CONTENT_TYPE, body, false),
            Err(_) => status.into_response(),
        }
    }

    fn retry_later(&self, status: StatusCode) -> Response {
        let secs = self.faults.retry_after_secs();
        let mut response = self.problem(
            status,
            if status == StatusCode::TOO_MANY_REQUESTS {
                "rate_limited"
            } else {
                "temporarily_unavailable"
            },
            &format!("try again in {secs} s"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        response
    }

    fn internal(&self, error: &AnswerError) -> Response {
        tracing::error!(error = %error, "could not answer a batch");
        self.problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the bank could not answer; retry later",
        )
    }
}
