//! PostgreSQL implementation of [`LedgerStore`], for several hub instances on one database:
//! due legs are claimed with `FOR UPDATE SKIP LOCKED` plus a lease (a leg another instance is
//! claiming is skipped, one it claimed no longer qualifies), every worker change is fenced by
//! `attempt`, and no inquiry is locked while its legs are settled: a settlement commits its
//! legs (a batch of answers: one statement), then finalises, in one statement of its own,
//! those of its inquiries whose legs are all final (`settle::finalize_done`: state, retention,
//! erasing the subject, the one "report ready" outbox row, exactly once). An inquiry left open
//! with every leg final by a crash between the two is finalised by the deadline sweep within a
//! minute ([`STRANDED_EVERY`]). A claim is one statement too, the legs with their subjects.
//! [`create_legs`] runs inside the submission transaction of the caller.

use super::PgStore;
use super::settle::{finalize_done, stranded};
use crate::store::ledger::{
    BankClaim, CallbackRecord, Claim, ClaimedLeg, DEFAULT_RETENTION, LedgerStore, LegAction,
    LegKey, LegRecord, Settled, Settlement, WORKER_LEAVES, WORKER_SEEN, WORKERS_ALIVE,
    WORKERS_FORGOTTEN, claimed_inquiry, settled,
};
use crate::store::rows::{inquiry_id_of, leg_record_from};
use crate::store::settlement::{mark_final, record_callback_in, settle_in};
use crate::store::{StoreError, fmt_time};
use async_trait::async_trait;
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::message::Answer;
use chaka_protocol::suite::Suite;
use sqlx::PgConnection;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use time::{Duration, OffsetDateTime};

/// Inquiries whose expired legs are closed per transaction by
/// [`LedgerStore::expire_deadlines`].
const EXPIRE_CHUNK: i64 = 500;

/// How often (by the clock) the deadline sweep also looks for inquiries left open with every
/// leg final (a crash between a settlement's two transactions).
pub const STRANDED_EVERY: Duration = Duration::minutes(1);

/// The ledger over the hub's PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgLedger {
    store: PgStore,
    retention: Duration,
    /// When the deadline sweep last looked for stranded inquiries.
    stranded_at: Arc<Mutex<Option<OffsetDateTime>>>,
}

impl PgLedger {
    /// A ledger over `store`, keeping final reports [`DEFAULT_RETENTION`].
    pub fn new(store: PgStore) -> Self {
        Self {
            store,
            retention: DEFAULT_RETENTION,
            stranded_at: Arc::new(Mutex::new(None)),
        }
    }

    /// Changes how long a final report is kept (`purge_after = finalized_at + retention`).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The store.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// Finalises, in a statement of its own, those of `inquiries` whose legs are all final
    /// (called after the transaction that changed their legs has committed).
    async fn finalize(
        &self,
        inquiries: &[InquiryId],
        now: OffsetDateTime,
    ) -> Result<HashSet<InquiryId>, StoreError> {
        if inquiries.is_empty() {
            return Ok(HashSet::new());
        }
        let mut conn = self.store.pool().acquire().await?;
        finalize_done(&mut conn, inquiries, now, self.retention).await
    }

    /// At most every [`STRANDED_EVERY`]: finalises the inquiries left open with every leg
    /// final by a crash between a settlement's two transactions.
    async fn finalize_stranded(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        {
            let mut last = self
                .stranded_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|t| now >= t && now - t < STRANDED_EVERY) {
                return Ok(());
            }
            *last = Some(now);
        }
        loop {
            let mut conn = self.store.pool().acquire().await?;
            let found = stranded(&mut conn, EXPIRE_CHUNK).await?;
            drop(conn);
            let finalized = self.finalize(&found, now).await?;
            if !finalized.is_empty() {
                tracing::warn!(
                    inquiries = finalized.len(),
                    "finalised inquiries left open with every leg final"
                );
            }
            if (found.len() as u64) < EXPIRE_CHUNK as u64 || finalized.is_empty() {
                return Ok(());
            }
        }
    }
}

/// Creates one `pending` leg per bank, due at `now`, sealed with the default suite. Call it
/// inside the transaction that inserts the inquiry (the `inquiries` row must exist first).
pub async fn create_legs(
    conn: &mut PgConnection,
    inquiry_id: &str,
    banks: &[impl AsRef<str>],
    deadline: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let inquiry_id =
        InquiryId::parse(inquiry_id).map_err(|_| StoreError::Corrupt("inquiry id for legs"))?;
    let banks = banks
        .iter()
        .map(|b| BankCode::parse(b.as_ref()).map(|b| b.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| StoreError::Corrupt("bank code for legs"))?;
    if banks.is_empty() {
        return Ok(());
    }
    let now = fmt_time(now);
    sqlx::query(
        "INSERT INTO legs (inquiry_id, bank, state, suite, attempt, next_attempt_at, deadline, created_at) \
         SELECT $1, b, 'pending', $3, 0, $4, $5, $4 FROM UNNEST($2::text[]) AS b",
    )
    .bind(inquiry_id.to_string())
    .bind(&banks)
    .bind(Suite::HpkeX25519Sha256ChaCha20Poly1305.as_str())
    .bind(&now)
    .bind(fmt_time(deadline))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl LedgerStore for PgLedger {
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        wants: &[BankClaim],
    ) -> Result<Vec<ClaimedLeg>, StoreError> {
        let (now_s, until) = (fmt_time(now), fmt_time(now + lease));
        let (mut banks, mut limits) = (Vec::new(), Vec::new());
        for want in wants.iter().filter(|w| w.limit > 0) {
            banks.push(want.bank.as_str().to_owned());
            limits.push(i64::try_from(want.limit).unwrap_or(i64::MAX));
        }
        if banks.is_empty() {
            return Ok(Vec::new());
        }
        // Every bank's due legs and their inquiries' subjects in one statement, its own
        // transaction (a round trip per bank, then one for the subjects, were the largest
        // share of the statements per lookup). SKIP LOCKED: legs another instance is claiming
        // or settling right now are left to it; a leg it claimed and committed since this
        // statement began is re-checked under the lock and no longer qualifies (its lease is
        // live), so no leg is claimed twice.
        //
        // The legs due and the expired leases are read by two ordered scans of their own
        // partial index (legs_due, legs_leases), oldest first, the leases only for what the
        // due legs left of the bank's limit. One scan of the two conditions joined by OR was a
        // bitmap scan of both indexes, and a bitmap scan neither stops at the limit nor marks
        // the index entries of dead row versions (every claim and settlement leaves one) as
        // dead: each claim visited every leg the bank had been claimed for since the last
        // vacuum (≈ 960 index entries and 620 heap pages per bank, 19 ms a claim after 10 s of
        // load, in auto_explain). A plain index scan stops at the limit and marks what it
        // found dead.
        let rows = sqlx::query(
            "WITH w AS (SELECT * FROM UNNEST($3::text[], $5::bigint[]) AS w(bank, lim)), \
             due AS ( \
               SELECT d.inquiry_id, d.bank FROM w CROSS JOIN LATERAL ( \
                 SELECT inquiry_id, bank FROM legs WHERE bank = w.bank \
                   AND state IN ('pending', 'awaiting_callback') AND next_attempt_at <= $4 \
                   AND deadline > $4 \
                 ORDER BY next_attempt_at LIMIT w.lim FOR UPDATE SKIP LOCKED) AS d), \
             lapsed AS ( \
               SELECT d.inquiry_id, d.bank FROM w CROSS JOIN LATERAL ( \
                 SELECT inquiry_id, bank FROM legs WHERE bank = w.bank \
                   AND state = 'sending' AND lease_expires_at <= $4 AND deadline > $4 \
                 ORDER BY lease_expires_at \
                 LIMIT GREATEST(w.lim - (SELECT count(*) FROM due WHERE due.bank = w.bank), 0) \
                 FOR UPDATE SKIP LOCKED) AS d), \
             claimed AS ( \
               UPDATE legs SET state = 'sending', attempt = legs.attempt + 1, lease_owner = $1, \
                 lease_expires_at = $2 \
               FROM (SELECT * FROM due UNION ALL SELECT * FROM lapsed) AS c \
               WHERE legs.inquiry_id = c.inquiry_id AND legs.bank = c.bank \
               RETURNING legs.inquiry_id, legs.bank, legs.attempt, legs.suite, legs.deadline, \
                 legs.lease_expires_at) \
             SELECT c.inquiry_id, c.bank, c.attempt, c.suite, c.deadline, c.lease_expires_at, \
               i.subject_sealed, i.user_public_key \
             FROM claimed c LEFT JOIN inquiries i ON i.inquiry_id = c.inquiry_id",
        )
        .bind(owner)
        .bind(&until)
        .bind(&banks)
        .bind(&now_s)
        .bind(&limits)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let claim = Claim::from_row(row)?;
                let (_, (subject_sealed, recipient_key)) = claimed_inquiry(row)
                    .map_err(|_| StoreError::Corrupt("claimed leg without inquiry"))?;
                Ok(claim.with_inquiry(subject_sealed, recipient_key))
            })
            .collect()
    }

    async fn settle(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Result<Vec<Settled>, StoreError> {
        if settlements.is_empty() {
            return Ok(Vec::new());
        }
        let (applied, touched) = if settlements
            .iter()
            .all(|s| matches!(s.action, LegAction::Answer(_)))
        {
            // Answers only (a bank's batch answered): one statement, its own transaction.
            let mut conn = self.store.pool().acquire().await?;
            settle_in(&mut *conn, settlements, now).await?
        } else {
            let mut tx = self.store.pool().begin().await?;
            let settled = settle_in(&mut *tx, settlements, now).await?;
            tx.commit().await?;
            settled
        };
        let finalized = self.finalize(&touched, now).await?;
        Ok(settled(settlements, &applied, &finalized))
    }

    async fn record_callback(
        &self,
        bank: &BankCode,
        answers: &[Answer],
        now: OffsetDateTime,
    ) -> Result<CallbackRecord, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        let (mut record, closed) = record_callback_in(&mut *tx, bank, answers, now).await?;
        if matches!(record, CallbackRecord::Recorded(_)) {
            tx.commit().await?;
            let finalized = self.finalize(&closed, now).await?;
            mark_final(&mut record, &finalized);
        } else {
            // All or nothing: an unknown or invalid answer undoes the ones before it.
            tx.rollback().await?;
        }
        Ok(record)
    }

    async fn expire_deadlines(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now_s = fmt_time(now);
        let mut total = 0u64;
        loop {
            let mut tx = self.store.pool().begin().await?;
            // The expired legs, then (in the next transaction) their inquiries' finalisation.
            let due: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT inquiry_id FROM legs \
                 WHERE state IN ('pending', 'sending', 'awaiting_callback') AND deadline <= $1 \
                 LIMIT $2",
            )
            .bind(&now_s)
            .bind(EXPIRE_CHUNK)
            .fetch_all(&mut *tx)
            .await?;
            let rows = sqlx::query(
                "UPDATE legs SET state = 'no_answer', finished_at = $1, lease_owner = NULL, \
                 lease_expires_at = NULL WHERE inquiry_id = ANY($2) \
                 AND state IN ('pending', 'sending', 'awaiting_callback') AND deadline <= $1 \
                 RETURNING inquiry_id",
            )
            .bind(&now_s)
            .bind(&due)
            .fetch_all(&mut *tx)
            .await?;
            let mut expired = Vec::new();
            for row in &rows {
                let id = inquiry_id_of(row)?;
                if !expired.contains(&id) {
                    expired.push(id);
                }
            }
            tx.commit().await?;
            self.finalize(&expired, now).await?;
            total += rows.len() as u64;
            if (due.len() as u64) < EXPIRE_CHUNK as u64 {
                break;
            }
        }
        self.finalize_stranded(now).await?;
        Ok(total)
    }

    async fn leg(&self, key: &LegKey) -> Result<Option<LegRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT inquiry_id, bank, state, attempt, next_attempt_at, deadline, lease_owner, \
             lease_expires_at, last_error, answered_at FROM legs WHERE inquiry_id = $1 AND bank = $2",
        )
        .bind(key.inquiry_id.to_string())
        .bind(key.bank.as_str())
        .fetch_optional(self.store.pool())
        .await?;
        row.as_ref().map(leg_record_from).transpose()
    }

    async fn heartbeat(
        &self,
        worker: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let (now_s, since) = (fmt_time(now), fmt_time(now - ttl));
        let mut tx = self.store.pool().begin().await?;
        sqlx::query(WORKER_SEEN)
            .bind(worker)
            .bind(&now_s)
            .execute(&mut *tx)
            .await?;
        sqlx::query(WORKERS_FORGOTTEN)
            .bind(&since)
            .execute(&mut *tx)
            .await?;
        let alive: Vec<String> = sqlx::query_scalar(WORKERS_ALIVE)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(alive)
    }

    async fn leave(&self, worker: &str) -> Result<(), StoreError> {
        let mut tx = self.store.pool().begin().await?;
        sqlx::query(WORKER_LEAVES)
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
