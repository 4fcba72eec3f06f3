//! Inquiries as stored, the submission transaction (idempotency key, the one-in-flight and
//! cooldown rules, the inquiry, its ledger legs, the "lookup requested" SMS and the audit
//! record, all or nothing), the outbox of SMS messages, and the audit trail.

use super::StoreError;
use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

/// An inquiry to create.
#[derive(Clone)]
pub struct NewInquiry {
    /// UUIDv7.
    pub inquiry_id: String,
    /// Owner.
    pub account_id: String,
    /// The banks asked, by code.
    pub banks: Vec<String>,
    /// Vault-sealed subject (name, ID number, phone) for the fan-out.
    pub subject_sealed: Vec<u8>,
    /// The key the banks seal to.
    pub user_public_key: Vec<u8>,
    /// Its generation.
    pub key_generation: i64,
    /// Agreement version.
    pub consent_version: String,
    /// SHA-256 of the agreement text shown.
    pub consent_hash: String,
    /// Language of the agreement shown.
    pub consent_lang: String,
    /// Submission time.
    pub created_at: OffsetDateTime,
    /// When unanswered legs become final.
    pub deadline: OffsetDateTime,
}

/// The rules the submission transaction enforces, and the idempotency record.
#[derive(Clone)]
pub struct SubmitGuard {
    /// The client's `Idempotency-Key`.
    pub idempotency_key: String,
    /// SHA-256 of the request body.
    pub request_hash: String,
    /// The response to store for replays (status, body).
    pub response: (u16, Vec<u8>),
    /// Minimum time between the last report's generation and a new inquiry.
    pub cooldown: Duration,
    /// The "lookup requested" SMS to enqueue with the inquiry.
    pub notice: NewSms,
}

/// What the submission transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Created.
    Created,
    /// The same key and body were submitted before: the stored response.
    Replayed {
        /// Status.
        status: u16,
        /// Body.
        body: Vec<u8>,
    },
    /// The same key with another body.
    KeyReused,
    /// Another inquiry of the account is still open.
    InFlight {
        /// Its id.
        inquiry_id: String,
    },
    /// The last report was generated less than the cooldown ago.
    CoolingDown {
        /// When a new inquiry is allowed.
        until: OffsetDateTime,
    },
}

/// An inquiry as stored (without its subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquiryRecord {
    /// UUIDv7.
    pub inquiry_id: String,
    /// Owner.
    pub account_id: String,
    /// `open`, `final` or `purged`.
    pub state: String,
    /// The banks asked.
    pub banks: Vec<String>,
    /// The key the banks sealed to.
    pub user_public_key: Vec<u8>,
    /// Its generation.
    pub key_generation: i64,
    /// Agreement version.
    pub consent_version: String,
    /// Submission time.
    pub created_at: OffsetDateTime,
    /// Deadline of the legs.
    pub deadline: OffsetDateTime,
    /// When the report became final.
    pub finalized_at: Option<OffsetDateTime>,
    /// When it will be (or was due to be) purged.
    pub purge_after: Option<OffsetDateTime>,
    /// When it was purged.
    pub purged_at: Option<OffsetDateTime>,
}

/// One bank's part of an inquiry, as the user may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegView {
    /// Bank code.
    pub bank: String,
    /// `pending`, `sending`, `awaiting_callback`, `answered` or `no_answer`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Next attempt, while open.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When the bank answered.
    pub answered_at: Option<OffsetDateTime>,
}

/// A bank's stored answer: the outcome and the sealed list, never plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// Bank code.
    pub bank: String,
    /// The protocol `Outcome` as JSON.
    pub outcome: String,
    /// The `SealedCardList` as JSON bytes, for `matched`.
    pub sealed: Option<Vec<u8>>,
    /// The bank's `answered_at`.
    pub answered_at: OffsetDateTime,
}

/// Inquiries.
#[async_trait]
pub trait InquiryStore: Send + Sync {
    /// The stored response of an idempotency key: (request hash, status, body).
    async fn replay(
        &self,
        account_id: &str,
        key: &str,
    ) -> Result<Option<(String, u16, Vec<u8>)>, StoreError>;
    /// The submission transaction.
    async fn submit(
        &self,
        inquiry: &NewInquiry,
        guard: &SubmitGuard,
    ) -> Result<Submitted, StoreError>;
    /// The account's inquiries, newest first.
    async fn inquiries(&self, account_id: &str) -> Result<Vec<InquiryRecord>, StoreError>;
    /// One inquiry of the account (another account's is `None`).
    async fn inquiry(
        &self,
        account_id: &str,
        inquiry_id: &str,
    ) -> Result<Option<InquiryRecord>, StoreError>;
    /// The legs of an inquiry.
    async fn legs(&self, inquiry_id: &str) -> Result<Vec<LegView>, StoreError>;
    /// The stored answers of an inquiry.
    async fn answers(&self, inquiry_id: &str) -> Result<Vec<StoredAnswer>, StoreError>;
    /// Purges every final report whose `purge_after` has passed: answers and legs deleted,
    /// state `purged`, an audit record each. Returns the purged inquiry ids.
    async fn purge_due(&self, now: OffsetDateTime) -> Result<Vec<String>, StoreError>;
    /// Deletes, at most `limit` rows per table, the working records older than `before` that
    /// no rule reads any more: SMS codes expired before it, SMS messages sent or given up and
    /// created before it, and idempotency keys created before it. The audit trail and the
    /// inquiry rows (the cooldown reads them) stay. Returns the rows deleted.
    async fn purge_trail(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<TrailPurged, StoreError>;
}

/// What [`InquiryStore::purge_trail`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrailPurged {
    /// SMS codes.
    pub codes: u64,
    /// SMS messages of the outbox.
    pub messages: u64,
    /// Idempotency keys.
    pub idempotency_keys: u64,
}

/// The statements of [`InquiryStore::purge_trail`], one per table, with `$1` the time before
/// which rows go and `$2` the limit (SQLite reads `$1` and `$2` as its first and second
/// parameters, so both backends run this text). Each deletes at most `$2` rows through the
/// table's age index (migration 0003), so a sweep over a large backlog stays a short
/// transaction; the sweep repeats until less than `$2` is deleted.
pub(crate) const TRAIL: [&str; 3] = [
    "DELETE FROM otps WHERE otp_id IN \
     (SELECT otp_id FROM otps WHERE expires_at < $1 LIMIT $2)",
    "DELETE FROM outbox WHERE message_id IN \
     (SELECT message_id FROM outbox WHERE created_at < $1 AND state IN ('sent', 'failed') \
      LIMIT $2)",
    "DELETE FROM idempotency_keys WHERE (account_id, key) IN \
     (SELECT account_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
];

impl TrailPurged {
    /// Records `deleted` rows of the table of `TRAIL[i]`.
    pub(crate) fn add(&mut self, i: usize, deleted: u64) {
        match i {
            0 => self.codes += deleted,
            1 => self.messages += deleted,
            _ => self.idempotency_keys += deleted,
        }
    }

    /// All rows deleted.
    pub fn total(&self) -> u64 {
        self.codes + self.messages + self.idempotency_keys
    }

    /// The most rows deleted from one table (a chunk at the limit means more may be left).
    pub fn most(&self) -> u64 {
        self.codes.max(self.messages).max(self.idempotency_keys)
    }
}

impl std::ops::AddAssign for TrailPurged {
    fn add_assign(&mut self, other: Self) {
        self.codes += other.codes;
        self.messages += other.messages;
        self.idempotency_keys += other.idempotency_keys;
    }
}

/// An SMS to send through the outbox.
#[derive(Clone)]
pub struct NewSms {
    /// At most one message per key, ever.
    pub idempotency_key: String,
    /// The account, if any.
    pub account_id: Option<String>,
    /// The vault-sealed phone.
    pub phone_sealed: Vec<u8>,
    /// Template name.
    pub template: String,
    /// Non-secret parameters (JSON).
    pub params: serde_json::Value,
    /// A vault-sealed secret parameter (an SMS code).
    pub secret_sealed: Option<Vec<u8>>,
    /// `zh` or `en`.
    pub lang: String,
}

/// A message claimed for sending.
#[derive(Clone)]
pub struct OutboxMessage {
    /// Id.
    pub message_id: String,
    /// Idempotency key (also sent to the gateway).
    pub idempotency_key: String,
    /// Sealed phone.
    pub phone_sealed: Vec<u8>,
    /// Template.
    pub template: String,
    /// Parameters.
    pub params: serde_json::Value,
    /// Sealed secret parameter.
    pub secret_sealed: Option<Vec<u8>>,
    /// Language.
    pub lang: String,
    /// Attempts before this one.
    pub attempts: i64,
}

/// The SMS outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Enqueues a message; a repeated idempotency key is ignored. `true` when new.
    async fn enqueue(&self, sms: &NewSms, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Claims due messages with a lease.
    async fn claim_sms(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Marks a message sent and forgets its secret parameter.
    async fn sms_sent(&self, message_id: &str, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Marks several messages sent (the SQLite store does it in one transaction).
    async fn sms_sent_many(
        &self,
        message_ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        for id in message_ids {
            self.sms_sent(id, now).await?;
        }
        Ok(())
    }
    /// Schedules another attempt, or gives up (`next = None`) and forgets the secret.
    async fn sms_retry(
        &self,
        message_id: &str,
        next: Option<OffsetDateTime>,
    ) -> Result<(), StoreError>;
    /// Messages of an idempotency-key prefix (for tests and the console), oldest first.
    async fn sms_by_key_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError>;
}

/// An audit record: who did what, when; never card data or personal fields.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The account.
    pub account_id: Option<String>,
    /// What happened (`registered`, `inquiry_submitted`, `report_opened`, …).
    pub kind: String,
    /// The inquiry concerned.
    pub inquiry_id: Option<String>,
    /// Details (bank codes, consent version, counts).
    pub detail: serde_json::Value,
    /// When.
    pub at: OffsetDateTime,
}

/// The audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records an event.
    async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The account's events, newest first.
    async fn audit_events(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The stored HTTP status of an idempotency record.
pub(crate) fn status_of(row: &impl super::rows::Fields) -> Result<u16, StoreError> {
    u16::try_from(row.int("status")?).map_err(|_| StoreError::Corrupt("idempotency status"))
}

/// The submission rules, from one row of the submission's first query: `request_hash`,
/// `status`, `response` (the key's earlier record, all NULL if none), `open` (an open inquiry
/// of the account, if any) and `last` (the account's last `finalized_at`). `Some` when the
/// submission is refused or replayed.
pub(crate) fn submit_rules(
    rules: &impl super::rows::Fields,
    q: &NewInquiry,
    guard: &SubmitGuard,
) -> Result<Option<Submitted>, StoreError> {
    if let Some(hash) = rules.opt_text("request_hash")? {
        if hash != guard.request_hash {
            return Ok(Some(Submitted::KeyReused));
        }
        return Ok(Some(Submitted::Replayed {
            status: status_of(rules)?,
            body: rules.bytes("response")?,
        }));
    }
    if let Some(inquiry_id) = rules.opt_text("open")? {
        return Ok(Some(Submitted::InFlight { inquiry_id }));
    }
    if let Some(last) = rules.opt_time("last")? {
        let until = last + guard.cooldown;
        if until > q.created_at {
            return Ok(Some(Submitted::CoolingDown { until }));
        }
    }
    Ok(None)
}

impl AuditEvent {
    /// The record of a submission.
    pub(crate) fn submitted(q: &NewInquiry) -> Self {
        Self {
            account_id: Some(q.account_id.clone()),
            kind: "inquiry_submitted".into(),
            inquiry_id: Some(q.inquiry_id.clone()),
            detail: serde_json::json!({
                "banks": q.banks,
                "consent_version": q.consent_version,
                "consent_sha256": q.consent_hash,
            }),
            at: q.created_at,
        }
    }

    /// The record of a purged report.
    pub(crate) fn purged(account_id: &str, inquiry_id: &str, now: OffsetDateTime) -> Self {
        Self {
            account_id: Some(account_id.to_owned()),
            kind: "report_purged".into(),
            inquiry_id: Some(inquiry_id.to_owned()),
            detail: serde_json::json!({}),
            at: now,
        }
    }
}
