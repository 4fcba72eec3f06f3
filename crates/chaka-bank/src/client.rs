//! The hub's side of protocol v1: sign and send an inquiry batch or a heartbeat to a bank,
//! verify the bank's signed response, and classify it (answered, accepted for callback, retry
//! later, refused). Used by `chaka demo`, `chaka bench` and the conformance tests; the hub's
//! fan-out builds on it.

use chaka_core::{BankCode, SharedClock};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair, SigningPublicKey};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{Accepted, AnswerBatch, Heartbeat, InquiryBatch};
use chaka_protocol::nonce::MemoryNonceStore;
use chaka_protocol::problem::Problem;
use chaka_protocol::signature::{Signer, Verifier};
use http::{HeaderMap, Method, StatusCode, header};
use std::sync::Arc;
use std::time::Duration;

use crate::node::server::{HEARTBEAT_PATH, INQUIRIES_PATH};

/// Where a bank is and which keys it signs with.
#[derive(Debug, Clone)]
pub struct BankEndpoint {
    /// The bank.
    pub bank: BankCode,
    /// Base URL, e.g. `http://127.0.0.1:7101`.
    pub base_url: reqwest::Url,
}

/// What a bank did with a batch.
#[derive(Debug)]
pub enum Delivery {
    /// `200`: the answers, signature verified.
    Answered(AnswerBatch),
    /// `202`: accepted; the answers come by callback.
    Accepted(Accepted),
    /// `429` or `503`: try again, after `retry_after` if the bank said.
    RetryLater {
        /// The status.
        status: u16,
        /// The bank's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Any other status: the bank refused the request.
    Refused {
        /// The status.
        status: u16,
        /// The problem document's code, when there was one.
        code: Option<String>,
    },
}

/// Why a response could not be used. Each is a fact about the bank's behaviour, not a crash.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No response: connection refused, reset or timed out.
    #[error("transport: {0}")]
    Transport(String),
    /// The response's signature does not verify or is not the bank's.
    #[error("response signature refused: {0}")]
    BadSignature(String),
    /// The body is not a valid protocol message.
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// Signs requests as the hub and verifies banks' responses.
#[derive(Clone)]
pub struct ProtocolClient {
    http: reqwest::Client,
    signer: Signer,
    verifier: Arc<Verifier>,
    bank_keys: Arc<KeySet>,
    limits: Limits,
    clock: SharedClock,
}

impl ProtocolClient {
    /// A client signing with `key_id`/`signing_key` and trusting `bank_keys` (each key owned
    /// by its bank code).
    pub fn new(
        key_id: KeyId,
        signing_key: SigningKeyPair,
        bank_keys: KeySet,
        clock: SharedClock,
        timeout: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        let bank_keys = Arc::new(bank_keys);
        let verifier = Arc::new(Verifier::new(
            (*bank_keys).clone(),
            Arc::new(MemoryNonceStore::new(1_000_000)),
        ));
        Self {
            http,
            signer: Signer::new(key_id, signing_key),
            verifier,
            bank_keys,
            limits: Limits::default(),
            clock,
        }
    }

    /// A key owned by `bank`, for [`ProtocolClient::new`]'s key set.
    pub fn bank_key(bank: &BankCode, key_id: KeyId, public_key: SigningPublicKey) -> KnownKey {
        KnownKey::new(key_id, public_key).owned_by(bank.as_str())
    }

    /// Sends one batch and classifies the bank's response.
    pub async fn send(
        &self,
        to: &BankEndpoint,
        batch: &InquiryBatch,
    ) -> Result<Delivery, ClientError> {
        let body = serde_json::to_vec(batch).map_err(|e| ClientError::Malformed(e.to_string()))?;
        let url = to
            .base_url
            .join(INQUIRIES_PATH)
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let headers = self
            .signer
            .sign_request(
                &Method::POST,
                INQUIRIES_PATH,
                Some("application/json"),
                &body,
                self.clock.now(),
            )
            .map_err(|e| ClientError::Malformed(e.to_string()))?;
        let response = self
            .http
            .post(url)
            .headers(headers)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
        let (status, headers, body) = self.read(response).await?;
        match status {
            StatusCode::OK => {
                self.verify(to, status, &headers, &body)?;
                let answers = AnswerBatch::from_json(&body, &self.limits)
                    .map_err(|e| ClientError::Malformed(e.to_string()))?;
                if answers.bank != to.bank {
                    return Err(ClientError::Malformed("answers name another bank".into()));
                }
                Ok(Delivery::Answered(answers))
            }
            StatusCode::ACCEPTED => {
                self.verify(to, status, &headers, &body)?;
                let accepted = Accepted::from_json(&body, &self.limits)
                    .map_err(|e| ClientError::Malformed(e.to_string()))?;
                Ok(Delivery::Accepted(accepted))
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let retry_after = headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Ok(Delivery::RetryLater {
                    status: status.as_u16(),
                    retry_after,
                })
            }
            other => {
                let code = Problem::from_json(&body).map(|p| p.code);
                Ok(Delivery::Refused {
                    status: other.as_u16(),
                    code,
                })
            }
        }
    }

    /// Calls the bank's signed heartbeat: proves it is up and that its key is the one we know.
    pub async fn heartbeat(&self, to: &BankEndpoint) -> Result<Heartbeat, ClientError> {
        let url = to
            .base_url
            .join(HEARTBEAT_PATH)
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let headers = self
            .signer
            .sign_request(&Method::GET, HEARTBEAT_PATH, None, &[], self.clock.now())
            .map_err(|e| ClientError::Malformed(e.to_string()))?;
        let response = self
            .http
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
        let (status, headers, body) = self.read(response).await?;
        if status != StatusCode::OK {
            return Err(ClientError::Malformed(format!(
                "heartbeat answered {status}"
            )));
        }
        self.verify(to, status, &headers, &body)?;
        let beat = Heartbeat::from_json(&body, &self.limits)
            .map_err(|e| ClientError::Malformed(e.to_string()))?;
        if beat.bank != to.bank {
            return Err(ClientError::Malformed(
                "heartbeat names another bank".into(),
            ));
        }
        Ok(beat)
    }

    async fn read(
        &self,
        response: reqwest::Response,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), ClientError> {
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|n| n > self.limits.max_body_bytes as u64)
        {
            return Err(ClientError::Malformed("response body too large".into()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
        if body.len() > self.limits.max_body_bytes {
            return Err(ClientError::Malformed("response body too large".into()));
        }
        Ok((status, headers, body))
    }

    fn verify(
        &self,
        to: &BankEndpoint,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), ClientError> {
        let key = self
            .verifier
            .verify_response(status, headers, body, self.clock.now())
            .map_err(|e| ClientError::BadSignature(e.code().to_owned()))?;
        let owner_ok = self
            .bank_keys
            .get(&key.key_id)
            .and_then(|k| k.owner.as_deref())
            .is_some_and(|owner| owner == to.bank.as_str());
        if !owner_ok {
            return Err(ClientError::BadSignature("key_of_another_bank".into()));
        }
        Ok(())
    }
}
