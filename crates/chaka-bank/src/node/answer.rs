//! Answering one inquiry, exactly once: the idempotency record per inquiry id, the lookup, the
//! rules and the sealing. The same inquiry asked twice gets the byte-identical answer and is
//! looked up once, even when both copies arrive at the same moment; the same inquiry id with a
//! different content is refused.

use super::rules::{Verdict, evaluate};
use crate::store::{CardStore, StoreError};
use chaka_core::{BankCode, InquiryId, SharedClock};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{Answer, AnswerBatch, Inquiry, Outcome, RefusalReason};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use zeroize::Zeroizing;

/// What the store keeps per inquiry id: the hex SHA-256 of the inquiry, a newline, and the
/// answer as a one-answer `AnswerBatch` (so that reading it back goes through the protocol's
/// own validating parser).
struct StoredAnswer {
    inquiry_sha256: String,
    answer: Answer,
}

impl StoredAnswer {
    fn encode(&self, bank: &BankCode) -> Result<Vec<u8>, AnswerError> {
        let batch = AnswerBatch::new(bank.clone(), vec![self.answer.clone()]);
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(self.inquiry_sha256.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&batch.to_json()?);
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Result<Self, AnswerError> {
        let split = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(AnswerError::Corrupt)?;
        let inquiry_sha256 = std::str::from_utf8(&bytes[..split])
            .map_err(|_| AnswerError::Corrupt)?
            .to_owned();
        let batch = AnswerBatch::from_json(&bytes[split + 1..], &Limits::default())
            .map_err(|_| AnswerError::Corrupt)?;
        let answer = batch
            .answers
            .into_iter()
            .next()
            .ok_or(AnswerError::Corrupt)?;
        Ok(Self {
            inquiry_sha256,
            answer,
        })
    }
}

/// Why an inquiry could not be answered at all (the batch fails with `500`).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The card store failed.
    #[error("card store: {0}")]
    Store(#[from] StoreError),
    /// An answer could not be encoded.
    #[error("answer encoding: {0}")]
    Encoding(#[from] serde_json::Error),
    /// A stored answer is not readable.
    #[error("a stored answer is corrupt")]
    Corrupt,
    /// The inquiry id was answered before for a different inquiry.
    #[error("inquiry id {0} was already used for a different inquiry")]
    Conflict(InquiryId),
}

/// Answers inquiries for one bank.
pub struct Answerer {
    bank: BankCode,
    store: CardStore,
    clock: SharedClock,
    lookups: AtomicU64,
    in_flight: Mutex<HashMap<InquiryId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Answerer {
    /// An answerer over a card store.
    pub fn new(bank: BankCode, store: CardStore, clock: SharedClock) -> Self {
        Self {
            bank,
            store,
            clock,
            lookups: AtomicU64::new(0),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Card-store lookups made so far (idempotent replays make none).
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// The answer to `inquiry`, computed once per inquiry id.
    pub async fn answer(&self, inquiry: &Inquiry) -> Result<Answer, AnswerError> {
        let mut answers = self.answer_batch(std::slice::from_ref(inquiry)).await?;
        answers.pop().ok_or(AnswerError::Corrupt)
    }

    /// The answers to a batch (distinct inquiry ids), in order: stored answers are read in one
    /// query, new ones computed (lookups run concurrently) and stored in one durable commit.
    pub async fn answer_batch(&self, inquiries: &[Inquiry]) -> Result<Vec<Answer>, AnswerError> {
        // Single flight per inquiry id, gates taken in id order so batches cannot deadlock.
        let mut ids: Vec<InquiryId> = inquiries.iter().map(|i| i.inquiry_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let gates: Vec<_> = {
            let mut map = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            ids.iter()
                .map(|id| map.entry(*id).or_default().clone())
                .collect()
        };
        let mut held = Vec::with_capacity(gates.len());
        for gate in &gates {
            held.push(gate.lock().await);
        }
        let result = self.answer_locked(inquiries).await;
        drop(held);
        {
            let mut map = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (id, gate) in ids.iter().zip(&gates) {
                if Arc::strong_count(gate) <= 2 {
                    map.remove(id);
                }
            }
        }
        result
    }

    async fn answer_locked(&self, inquiries: &[Inquiry]) -> Result<Vec<Answer>, AnswerError> {
        let digests = inquiries
            .iter()
            .map(inquiry_digest)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<InquiryId> = inquiries.iter().map(|i| i.inquiry_id).collect();
        let stored = self.store.stored_answers(&ids).await?;
        let mut out: Vec<Option<Answer>> = vec![None; inquiries.len()];
        let mut fresh = Vec::new();
        for (i, inquiry) in inquiries.iter().enumerate() {
            if let Some(bytes) = stored.get(&inquiry.inquiry_id) {
                let stored = StoredAnswer::decode(bytes)?;
                if stored.inquiry_sha256 != digests[i] {
                    tracing::warn!(inquiry = %inquiry.inquiry_id, "inquiry id reused with a different content");
                    return Err(AnswerError::Conflict(inquiry.inquiry_id));
                }
                out[i] = Some(stored.answer);
            } else {
                fresh.push(i);
            }
        }
        let now = self.clock.now();
        let computed = futures_util::future::try_join_all(
            fresh.iter().map(|&i| self.compute(&inquiries[i], now)),
        )
        .await?;
        let records = fresh
            .iter()
            .zip(computed)
            .map(|(&i, answer)| {
                let record = StoredAnswer {
                    inquiry_sha256: digests[i].clone(),
                    answer,
                }
                .encode(&self.bank)?;
                Ok((inquiries[i].inquiry_id, record))
            })
            .collect::<Result<Vec<_>, AnswerError>>()?;
        let kept = self.store.store_answers(&records, now).await?;
        for &i in &fresh {
            let bytes = kept
                .get(&inquiries[i].inquiry_id)
                .ok_or(AnswerError::Corrupt)?;
            out[i] = Some(StoredAnswer::decode(bytes)?.answer);
        }
        out.into_iter()
            .map(|a| a.ok_or(AnswerError::Corrupt))
            .collect()
    }

    async fn compute(
        &self,
        inquiry: &Inquiry,
        now: time::OffsetDateTime,
    ) -> Result<Answer, AnswerError> {
        if inquiry.bank != self.bank {
            return Ok(self.refusal(inquiry, RefusalReason::WrongBank));
        }
        if inquiry.deadline < now {
            return Ok(self.refusal(inquiry, RefusalReason::DeadlinePassed));
        }
        let holder = self.store.find_holder(&inquiry.subject.id_number).await?;
        self.lookups.fetch_add(1, Ordering::Relaxed);
        Ok(
            match evaluate(
                holder.as_ref(),
                &inquiry.subject.name,
                &inquiry.subject.phone,
                now.date(),
            ) {
                Verdict::NoMatch => Answer::no_match(inquiry, now),
                Verdict::Matched(list) => {
                    match list.seal(
                        inquiry.suite,
                        &inquiry.recipient_key,
                        &inquiry.inquiry_id,
                        &self.bank,
                    ) {
                        Ok(sealed) => Answer::matched(inquiry, sealed, now),
                        // A key that cannot be sealed to (e.g. a low-order point).
                        Err(_) => self.refusal(inquiry, RefusalReason::InvalidRecipientKey),
                    }
                }
            },
        )
    }

    fn refusal(&self, inquiry: &Inquiry, reason: RefusalReason) -> Answer {
        Answer {
            inquiry_id: inquiry.inquiry_id,
            bank: self.bank.clone(),
            outcome: Outcome::Refused { reason },
            sealed: None,
            answered_at: self.clock.now(),
        }
    }
}

fn inquiry_digest(inquiry: &Inquiry) -> Result<String, serde_json::Error> {
    let bytes = Zeroizing::new(serde_json::to_vec(inquiry)?);
    let hash = Sha256::digest(bytes.as_slice());
    Ok(hash.iter().map(|b| format!("{b:02x}")).collect())
}
