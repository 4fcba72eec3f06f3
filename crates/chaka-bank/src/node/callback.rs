//! Callback mode: after `202 Accepted`, the node answers later by a signed `POST` of an
//! `AnswerBatch` to each inquiry's `callback_url`, retrying with exponential backoff until the
//! hub acknowledges with a signed `2xx` `Accepted` naming every answer, the inquiries'
//! deadline passes, or the node stops.

use super::answer::Answerer;
use chaka_core::{BankCode, SharedClock};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{Accepted, Answer, AnswerBatch, InquiryBatch};
use chaka_protocol::signature::{Signer, Verifier};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Schedules and delivers callbacks.
#[derive(Clone)]
pub struct CallbackSender(Arc<Inner>);

struct Inner {
    bank: BankCode,
    answerer: Arc<Answerer>,
    signer: Signer,
    clock: SharedClock,
    delay: Duration,
    acknowledgements: Verifier,
    closing: watch::Receiver<bool>,
    http: reqwest::Client,
    delivered: AtomicU64,
}

impl CallbackSender {
    /// A sender that waits `delay` before answering.
    pub fn new(
        bank: BankCode,
        answerer: Arc<Answerer>,
        signer: Signer,
        clock: SharedClock,
        delay: Duration,
        acknowledgements: Verifier,
        closing: watch::Receiver<bool>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self(Arc::new(Inner {
            bank,
            answerer,
            signer,
            clock,
            delay,
            acknowledgements,
            closing,
            http,
            delivered: AtomicU64::new(0),
        }))
    }

    /// Callbacks acknowledged by the hub.
    pub fn delivered(&self) -> u64 {
        self.0.delivered.load(Ordering::Relaxed)
    }

    /// Answers `batch` after the delay and calls back; `impostor` signs with a wrong key (fault).
    pub fn schedule(&self, batch: InquiryBatch, impostor: bool) {
        let inner = self.0.clone();
        tokio::spawn(async move {
            if !inner.pause(inner.delay).await {
                return;
            }
            let mut by_url: BTreeMap<String, (OffsetDateTime, Vec<Answer>)> = BTreeMap::new();
            let answers = match inner.answerer.answer_batch(&batch.inquiries).await {
                Ok(answers) => answers,
                Err(e) => {
                    tracing::error!(error = %e, "could not answer for a callback");
                    return;
                }
            };
            for (inquiry, answer) in batch.inquiries.iter().zip(answers) {
                if let Some(url) = &inquiry.callback_url {
                    let entry = by_url
                        .entry(url.to_string())
                        .or_insert((inquiry.deadline, Vec::new()));
                    entry.0 = entry.0.max(inquiry.deadline);
                    entry.1.push(answer);
                }
            }
            for (url, (deadline, answers)) in by_url {
                inner.deliver(&url, answers, deadline, impostor).await;
            }
        });
    }
}

impl Inner {
    /// Waits, unless the node is stopping; `false` when it is.
    async fn pause(&self, how_long: Duration) -> bool {
        let mut closing = self.closing.clone();
        if *closing.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(how_long) => true,
            _ = closing.wait_for(|c| *c) => false,
        }
    }

    async fn deliver(
        &self,
        url: &str,
        answers: Vec<Answer>,
        deadline: OffsetDateTime,
        impostor: bool,
    ) {
        let count = answers.len();
        let batch = AnswerBatch::new(self.bank.clone(), answers);
        let body = match serde_json::to_vec(&batch) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "could not encode a callback");
                return;
            }
        };
        let path = reqwest::Url::parse(url)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| "/".to_owned());
        let impostor_signer;
        let signer = if impostor {
            impostor_signer = Signer::new(
                self.signer.key_id().clone(),
                chaka_protocol::keys::SigningKeyPair::generate(),
            );
            &impostor_signer
        } else {
            &self.signer
        };
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0u32;
        while self.clock.now() < deadline {
            attempt += 1;
            let headers = match signer.sign_request(
                &http::Method::POST,
                &path,
                Some("application/json"),
                &body,
                self.clock.now(),
            ) {
                Ok(headers) => headers,
                Err(e) => {
                    tracing::error!(code = e.code(), "cannot sign a callback");
                    return;
                }
            };
            let result = self
                .http
                .post(url)
                .headers(headers)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(resp) if resp.status().is_success() => {
                    if self.acknowledged(resp, &batch).await {
                        self.delivered.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(answers = count, attempt, "callback delivered");
                        return;
                    }
                    tracing::warn!(
                        attempt,
                        "callback answered without a valid signed acknowledgement"
                    );
                }
                Ok(resp) => {
                    tracing::warn!(status = resp.status().as_u16(), attempt, "callback refused");
                    if resp.status().is_client_error()
                        && resp.status() != http::StatusCode::TOO_MANY_REQUESTS
                    {
                        return;
                    }
                }
                Err(e) => tracing::warn!(attempt, error = %e.without_url(), "callback failed"),
            }
            if !self.pause(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        tracing::warn!(
            answers = count,
            attempt,
            "callback abandoned: the deadline passed"
        );
    }

    /// `true` when the hub's response is a signed `Accepted` naming every answer delivered.
    async fn acknowledged(&self, resp: reqwest::Response, batch: &AnswerBatch) -> bool {
        let status = resp.status();
        let headers = resp.headers().clone();
        let limits = Limits::default();
        let Ok(body) = resp.bytes().await else {
            return false;
        };
        if body.len() > limits.max_body_bytes
            || self
                .acknowledgements
                .verify_response(status, &headers, &body, self.clock.now())
                .is_err()
        {
            return false;
        }
        let Ok(ack) = Accepted::from_json(&body, &limits) else {
            return false;
        };
        ack.bank == self.bank
            && batch
                .answers
                .iter()
                .all(|a| ack.accepted.contains(&a.inquiry_id))
    }
}
