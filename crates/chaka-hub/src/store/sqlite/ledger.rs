//! SQLite implementation of [`LedgerStore`]: every write in a `BEGIN IMMEDIATE` transaction
//! (no lock upgrade can fail half-way), every worker change fenced by `attempt`, and the
//! inquiry's finalisation (state, retention, erasing the subject, the one "report ready"
//! outbox row) in the transaction that makes its last leg final. [`create_legs`] runs inside
//! the submission transaction of the caller.

use super::SqliteStore;
use super::settle::finalize_done;
use crate::store::ledger::{
    BankClaim, CallbackRecord, Claim, ClaimedLeg, DEFAULT_RETENTION, LedgerStore, LegKey,
    LegRecord, Settled, Settlement, WORKER_LEAVES, WORKER_SEEN, WORKERS_ALIVE, WORKERS_FORGOTTEN,
    claimed_inquiries, claimed_inquiry, join_claims, settled,
};
use crate::store::rows::{inquiry_id_of, leg_record_from};
use crate::store::settlement::{mark_final, record_callback_in, settle_in};
use crate::store::{StoreError, fmt_time};
use async_trait::async_trait;
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::message::Answer;
use chaka_protocol::suite::Suite;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// Legs expired per transaction by [`LedgerStore::expire_deadlines`].
const EXPIRE_CHUNK: i64 = 500;
pub use crate::store::ledger::READY_TEMPLATE;

/// The ledger over the hub's SQLite store (WAL, its writer connection and group commit).
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    store: SqliteStore,
    retention: Duration,
}

impl SqliteLedger {
    /// A ledger over `store`, keeping final reports [`DEFAULT_RETENTION`].
    pub fn new(store: SqliteStore) -> Self {
        Self {
            store,
            retention: DEFAULT_RETENTION,
        }
    }

    /// Changes how long a final report is kept (`purge_after = finalized_at + retention`).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The store.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }
}

/// Creates one `pending` leg per bank, due at `now`, sealed with the default suite. Call it
/// inside the transaction that inserts the inquiry (the `inquiries` row must exist first).
pub async fn create_legs(
    conn: &mut SqliteConnection,
    inquiry_id: &str,
    banks: &[impl AsRef<str>],
    deadline: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let suite = Suite::HpkeX25519Sha256ChaCha20Poly1305;
    create_legs_with_suite(conn, inquiry_id, banks, suite, deadline, now).await
}

/// [`create_legs`] asking the banks to seal with `suite`.
pub async fn create_legs_with_suite(
    conn: &mut SqliteConnection,
    inquiry_id: &str,
    banks: &[impl AsRef<str>],
    suite: Suite,
    deadline: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let inquiry_id =
        InquiryId::parse(inquiry_id).map_err(|_| StoreError::Corrupt("inquiry id for legs"))?;
    let (now, deadline) = (fmt_time(now), fmt_time(deadline));
    let banks = banks
        .iter()
        .map(|b| BankCode::parse(b.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| StoreError::Corrupt("bank code for legs"))?;
    if banks.is_empty() {
        return Ok(());
    }
    // One statement for all the legs: every statement is a round trip to SQLite's thread while
    // the writer is held.
    let inquiry_id = inquiry_id.to_string();
    let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO legs (inquiry_id, bank, state, suite, attempt, next_attempt_at, deadline, \
         created_at) ",
    );
    insert.push_values(&banks, |mut row, bank| {
        row.push_bind(&inquiry_id)
            .push_bind(bank.as_str())
            .push("'pending'")
            .push_bind(suite.as_str())
            .push("0")
            .push_bind(&now)
            .push_bind(&deadline)
            .push_bind(&now);
    });
    insert.build().execute(&mut *conn).await?;
    Ok(())
}

#[async_trait]
impl LedgerStore for SqliteLedger {
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        wants: &[BankClaim],
    ) -> Result<Vec<ClaimedLeg>, StoreError> {
        let mut tx = self.store.begin().await?;
        let (now_s, until) = (fmt_time(now), fmt_time(now + lease));
        let mut claimed = Vec::new();
        for want in wants.iter().filter(|w| w.limit > 0) {
            // `+deadline`: due legs are found through legs_due (bank, next attempt; pending and
            // awaiting a callback) and expired leases through legs_leases (bank, lease expiry;
            // sending), whose WHERE terms each arm repeats word for word; without statistics
            // SQLite would otherwise walk every waiting leg of every bank through
            // legs_deadline (deadline; every open leg) on each claim, a cost that grows with
            // the number of inquiries waiting on a slow bank.
            let rows = sqlx::query(
                "UPDATE legs SET state = 'sending', attempt = attempt + 1, lease_owner = ?1, \
                 lease_expires_at = ?2 WHERE rowid IN ( \
                   SELECT rowid FROM legs WHERE bank = ?3 AND state IN ('pending', 'awaiting_callback') \
                     AND next_attempt_at <= ?4 AND +deadline > ?4 \
                   UNION ALL \
                   SELECT rowid FROM legs WHERE bank = ?3 AND state = 'sending' \
                     AND lease_expires_at <= ?4 AND +deadline > ?4 \
                   LIMIT ?5) \
                 RETURNING inquiry_id, bank, attempt, suite, deadline, lease_expires_at",
            )
            .bind(owner)
            .bind(&until)
            .bind(want.bank.as_str())
            .bind(&now_s)
            .bind(i64::try_from(want.limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                claimed.push(Claim::from_row(row)?);
            }
        }
        // The claimed legs' inquiries, in one statement.
        let ids = claimed_inquiries(&claimed);
        let mut inquiries = HashMap::with_capacity(ids.len());
        if !ids.is_empty() {
            let ids = serde_json::to_string(&ids)
                .map_err(|_| StoreError::Corrupt("claimed inquiry ids"))?;
            let rows = sqlx::query(
                "SELECT inquiry_id, subject_sealed, user_public_key FROM inquiries \
                 WHERE inquiry_id IN (SELECT value FROM json_each(?))",
            )
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let (id, inquiry) = claimed_inquiry(row)?;
                inquiries.insert(id, inquiry);
            }
        }
        let out = join_claims(claimed, &inquiries)?;
        self.store.commit(tx).await?;
        Ok(out)
    }

    async fn settle(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Result<Vec<Settled>, StoreError> {
        if settlements.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.store.begin().await?;
        let (applied, touched) = settle_in(&mut *tx, settlements, now).await?;
        let finalized = finalize_done(&mut tx, &touched, now, self.retention).await?;
        self.store.commit(tx).await?;
        Ok(settled(settlements, &applied, &finalized))
    }

    async fn record_callback(
        &self,
        bank: &BankCode,
        answers: &[Answer],
        now: OffsetDateTime,
    ) -> Result<CallbackRecord, StoreError> {
        let mut tx = self.store.begin().await?;
        let (mut record, closed) = record_callback_in(&mut *tx, bank, answers, now).await?;
        if matches!(record, CallbackRecord::Recorded(_)) {
            let finalized = finalize_done(&mut tx, &closed, now, self.retention).await?;
            mark_final(&mut record, &finalized);
            self.store.commit(tx).await?;
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
            let mut tx = self.store.begin().await?;
            let rows = sqlx::query(
                "UPDATE legs SET state = 'no_answer', finished_at = ?1, lease_owner = NULL, \
                 lease_expires_at = NULL WHERE rowid IN ( \
                   SELECT rowid FROM legs WHERE state IN ('pending', 'sending', 'awaiting_callback') \
                   AND deadline <= ?1 LIMIT ?2) RETURNING inquiry_id",
            )
            .bind(&now_s)
            .bind(EXPIRE_CHUNK)
            .fetch_all(&mut *tx)
            .await?;
            let mut inquiries = Vec::new();
            for row in &rows {
                let id = inquiry_id_of(row)?;
                if !inquiries.contains(&id) {
                    inquiries.push(id);
                }
            }
            finalize_done(&mut tx, &inquiries, now, self.retention).await?;
            self.store.commit(tx).await?;
            let n = rows.len() as u64;
            total += n;
            if n < EXPIRE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    async fn leg(&self, key: &LegKey) -> Result<Option<LegRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT inquiry_id, bank, state, attempt, next_attempt_at, deadline, lease_owner, \
             lease_expires_at, last_error, answered_at FROM legs WHERE inquiry_id = ? AND bank = ?",
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
        let mut tx = self.store.begin().await?;
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
        self.store.commit(tx).await?;
        Ok(alive)
    }

    async fn leave(&self, worker: &str) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        sqlx::query(WORKER_LEAVES)
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        self.store.commit(tx).await?;
        Ok(())
    }
}
