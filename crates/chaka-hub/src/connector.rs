//! The hub's side of protocol v1 over HTTP: sign and send an inquiry batch or a heartbeat to a
//! bank, verify the bank's signed response, and classify it (answered, accepted for callback,
//! retry later, refused). One pooled `reqwest::Client` per bank, with timeouts. A bank's
//! failure is data ([`Delivery`] or [`ConnectorError`]), never a panic; nothing here logs a
//! subject or reads the system clock. Retrying is the fan-out's business ([`crate::fanout`]).

use crate::banks::HubBanks;
use chaka_core::{BankCode, SharedClock};
use chaka_protocol::keys::{KeyId, KeySet, SigningKeyPair};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{Accepted, AnswerBatch, Heartbeat, InquiryBatch};
use chaka_protocol::nonce::MemoryNonceStore;
use chaka_protocol::problem::Problem;
use chaka_protocol::signature::{Signer, Verifier};
use chaka_protocol::{HEARTBEAT_PATH, INQUIRIES_PATH, JSON_CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, header};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Nonces of bank responses remembered for replay protection.
const NONCE_CAPACITY: usize = 1_000_000;

/// What a bank did with a batch.
#[derive(Debug)]
pub enum Delivery {
    /// `200`: the answers, signature verified, naming the bank asked.
    Answered(AnswerBatch),
    /// `202`: accepted; the answers come by callback.
    Accepted(Accepted),
    /// `429` or `503`: try again, after `retry_after` if the bank said.
    RetryLater {
        /// The status.
        status: u16,
        /// The bank's `Retry-After` (seconds or HTTP date).
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
pub enum ConnectorError {
    /// The bank is not in the registry.
    #[error("unknown bank {0}")]
    UnknownBank(BankCode),
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

/// Timeouts and pool sizes.
#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    /// Whole request, from sending to the last body byte.
    pub timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// Idle connections kept per bank.
    pub pool_max_idle_per_host: usize,
    /// Message limits.
    pub limits: Limits,
}

impl Default for ConnectorSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            pool_max_idle_per_host: 16,
            limits: Limits::default(),
        }
    }
}

struct BankClient {
    http: reqwest::Client,
    inquiries: reqwest::Url,
    heartbeat: reqwest::Url,
}

/// Signs requests as the hub and verifies banks' responses; one HTTP client per bank.
#[derive(Clone)]
pub struct Connector(Arc<Inner>);

struct Inner {
    clients: HashMap<BankCode, BankClient>,
    signer: Signer,
    verifier: Verifier,
    bank_keys: KeySet,
    limits: Limits,
    clock: SharedClock,
}

impl Connector {
    /// A connector for every bank of `banks`, signing with `key_id`/`signing_key` and
    /// trusting the banks' keys (each owned by its bank code).
    pub fn new(
        key_id: KeyId,
        signing_key: SigningKeyPair,
        banks: &HubBanks,
        clock: SharedClock,
        settings: &ConnectorSettings,
    ) -> Result<Self, ConnectorError> {
        let mut clients = HashMap::new();
        for bank in banks.iter() {
            let http = reqwest::Client::builder()
                .timeout(settings.timeout)
                .connect_timeout(settings.connect_timeout)
                .pool_max_idle_per_host(settings.pool_max_idle_per_host)
                .build()
                .map_err(|e| ConnectorError::Transport(e.to_string()))?;
            let join = |path: &str| {
                bank.endpoint
                    .join(path)
                    .map_err(|e| ConnectorError::Transport(e.to_string()))
            };
            clients.insert(
                bank.code.clone(),
                BankClient {
                    http,
                    inquiries: join(INQUIRIES_PATH)?,
                    heartbeat: join(HEARTBEAT_PATH)?,
                },
            );
        }
        let bank_keys = banks.key_set();
        let verifier = Verifier::new(
            bank_keys.clone(),
            Arc::new(MemoryNonceStore::new(NONCE_CAPACITY)),
        );
        Ok(Self(Arc::new(Inner {
            clients,
            signer: Signer::new(key_id, signing_key),
            verifier,
            bank_keys,
            limits: settings.limits.clone(),
            clock,
        })))
    }

    /// The hub's signer (also used to sign callback acknowledgements).
    pub fn signer(&self) -> &Signer {
        &self.0.signer
    }

    /// Sends one batch to `bank` and classifies its response.
    pub async fn send(
        &self,
        bank: &BankCode,
        batch: &InquiryBatch,
    ) -> Result<Delivery, ConnectorError> {
        let inner = &*self.0;
        let client = inner.client(bank)?;
        let body = batch
            .to_json()
            .map_err(|e| ConnectorError::Malformed(e.to_string()))?;
        let headers = inner
            .signer
            .sign_request(
                &Method::POST,
                INQUIRIES_PATH,
                Some(JSON_CONTENT_TYPE),
                &body,
                inner.clock.now(),
            )
            .map_err(|e| ConnectorError::Malformed(e.to_string()))?;
        let response = client
            .http
            .post(client.inquiries.clone())
            .headers(headers)
            .header(header::CONTENT_TYPE, JSON_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| ConnectorError::Transport(e.without_url().to_string()))?;
        let (status, headers, body) = inner.read(response).await?;
        match status {
            StatusCode::OK => {
                inner.verify(bank, status, &headers, &body)?;
                let answers = AnswerBatch::from_json(&body, &inner.limits)
                    .map_err(|e| ConnectorError::Malformed(e.code().to_owned()))?;
                if &answers.bank != bank {
                    return Err(ConnectorError::Malformed(
                        "answers name another bank".into(),
                    ));
                }
                Ok(Delivery::Answered(answers))
            }
            StatusCode::ACCEPTED => {
                inner.verify(bank, status, &headers, &body)?;
                let accepted = Accepted::from_json(&body, &inner.limits)
                    .map_err(|e| ConnectorError::Malformed(e.code().to_owned()))?;
                if &accepted.bank != bank {
                    return Err(ConnectorError::Malformed(
                        "acceptance names another bank".into(),
                    ));
                }
                Ok(Delivery::Accepted(accepted))
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let retry_after = headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, inner.clock.now()));
                Ok(Delivery::RetryLater {
                    status: status.as_u16(),
                    retry_after,
                })
            }
            other => Ok(Delivery::Refused {
                status: other.as_u16(),
                code: Problem::from_json(&body).map(|p| p.code),
            }),
        }
    }

    /// Calls the bank's signed heartbeat: proves it is up and that its key is the one we know.
    pub async fn heartbeat(&self, bank: &BankCode) -> Result<Heartbeat, ConnectorError> {
        let inner = &*self.0;
        let client = inner.client(bank)?;
        let headers = inner
            .signer
            .sign_request(&Method::GET, HEARTBEAT_PATH, None, &[], inner.clock.now())
            .map_err(|e| ConnectorError::Malformed(e.to_string()))?;
        let response = client
            .http
            .get(client.heartbeat.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| ConnectorError::Transport(e.without_url().to_string()))?;
        let (status, headers, body) = inner.read(response).await?;
        if status != StatusCode::OK {
            return Err(ConnectorError::Malformed(format!(
                "heartbeat answered {status}"
            )));
        }
        inner.verify(bank, status, &headers, &body)?;
        let beat = Heartbeat::from_json(&body, &inner.limits)
            .map_err(|e| ConnectorError::Malformed(e.code().to_owned()))?;
        if &beat.bank != bank {
            return Err(ConnectorError::Malformed(
                "heartbeat names another bank".into(),
            ));
        }
        Ok(beat)
    }
}

impl Inner {
    fn client(&self, bank: &BankCode) -> Result<&BankClient, ConnectorError> {
        self.clients
            .get(bank)
            .ok_or_else(|| ConnectorError::UnknownBank(bank.clone()))
    }

    async fn read(
        &self,
        response: reqwest::Response,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), ConnectorError> {
        let status = response.status();
        let headers = response.headers().clone();
        let max = self.limits.max_body_bytes;
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(ConnectorError::Malformed("response body too large".into()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| ConnectorError::Transport(e.without_url().to_string()))?;
        if body.len() > max {
            return Err(ConnectorError::Malformed("response body too large".into()));
        }
        Ok((status, headers, body))
    }

    fn verify(
        &self,
        bank: &BankCode,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), ConnectorError> {
        let key = self
            .verifier
            .verify_response(status, headers, body, self.clock.now())
            .map_err(|e| ConnectorError::BadSignature(e.code().to_owned()))?;
        let owner_ok = self
            .bank_keys
            .get(&key.key_id)
            .and_then(|k| k.owner.as_deref())
            .is_some_and(|owner| owner == bank.as_str());
        if !owner_ok {
            return Err(ConnectorError::BadSignature("key_of_another_bank".into()));
        }
        Ok(())
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (IMF-fixdate), relative to `now`.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = datetime!(2026-11-28 10:00 UTC);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
