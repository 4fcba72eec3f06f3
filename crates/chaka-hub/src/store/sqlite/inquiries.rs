//! SQLite implementation of [`InquiryStore`], [`OutboxStore`] and [`AuditStore`].

use super::SqliteStore;
use super::{opt_time, time_of};
use crate::store::inquiries::{
    AuditEvent, AuditStore, InquiryRecord, InquiryStore, LegView, NewInquiry, NewSms,
    OutboxMessage, OutboxStore, StoredAnswer, SubmitGuard, Submitted,
};
use crate::store::{StoreError, fmt_time};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::{Duration, OffsetDateTime};

fn inquiry_from(row: &SqliteRow) -> Result<InquiryRecord, StoreError> {
    let banks: String = row.try_get("banks")?;
    Ok(InquiryRecord {
        inquiry_id: row.try_get("inquiry_id")?,
        account_id: row.try_get("account_id")?,
        state: row.try_get("state")?,
        banks: serde_json::from_str(&banks).map_err(|_| StoreError::Corrupt("inquiry banks"))?,
        user_public_key: row.try_get("user_public_key")?,
        key_generation: row.try_get("key_generation")?,
        consent_version: row.try_get("consent_version")?,
        created_at: time_of(row, "created_at")?,
        deadline: time_of(row, "deadline")?,
        finalized_at: opt_time(row, "finalized_at")?,
        purge_after: opt_time(row, "purge_after")?,
        purged_at: opt_time(row, "purged_at")?,
    })
}

/// Inserts an outbox row inside a transaction; a repeated idempotency key is ignored.
pub(crate) async fn enqueue_in(
    conn: &mut SqliteConnection,
    sms: &NewSms,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT OR IGNORE INTO outbox (message_id, idempotency_key, account_id, phone_sealed, template, params, \
         secret_sealed, lang, state, attempts, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,'pending',0,?,?)",
    )
    .bind(chaka_core::InquiryId::generate(now).to_string())
    .bind(&sms.idempotency_key)
    .bind(&sms.account_id)
    .bind(&sms.phone_sealed)
    .bind(&sms.template)
    .bind(sms.params.to_string())
    .bind(&sms.secret_sealed)
    .bind(&sms.lang)
    .bind(fmt_time(now))
    .bind(fmt_time(now))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts an audit record inside a transaction.
pub(crate) async fn audit_in(
    conn: &mut SqliteConnection,
    e: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit (audit_id, account_id, kind, inquiry_id, detail, at) VALUES (?,?,?,?,?,?)")
        .bind(chaka_core::InquiryId::generate(e.at).to_string())
        .bind(&e.account_id)
        .bind(&e.kind)
        .bind(&e.inquiry_id)
        .bind(e.detail.to_string())
        .bind(fmt_time(e.at))
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl InquiryStore for SqliteStore {
    async fn replay(
        &self,
        account_id: &str,
        key: &str,
    ) -> Result<Option<(String, u16, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT request_hash, status, response FROM idempotency_keys WHERE account_id = ? AND key = ?")
            .bind(account_id)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            let status: i64 = row.try_get("status")?;
            Ok((
                row.try_get("request_hash")?,
                u16::try_from(status).map_err(|_| StoreError::Corrupt("idempotency status"))?,
                row.try_get("response")?,
            ))
        })
        .transpose()
    }

    async fn submit(&self, q: &NewInquiry, guard: &SubmitGuard) -> Result<Submitted, StoreError> {
        // BEGIN IMMEDIATE: the rules below read and write under one write lock.
        let mut tx = self.begin().await?;
        let result = submit_in(&mut tx, q, guard).await;
        match result {
            Ok(Submitted::Created) => {
                self.commit(tx).await?;
                Ok(Submitted::Created)
            }
            other => {
                tx.rollback().await?;
                other
            }
        }
    }

    async fn inquiries(&self, account_id: &str) -> Result<Vec<InquiryRecord>, StoreError> {
        sqlx::query("SELECT * FROM inquiries WHERE account_id = ? ORDER BY created_at DESC")
            .bind(account_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(inquiry_from)
            .collect()
    }

    async fn inquiry(
        &self,
        account_id: &str,
        inquiry_id: &str,
    ) -> Result<Option<InquiryRecord>, StoreError> {
        sqlx::query("SELECT * FROM inquiries WHERE account_id = ? AND inquiry_id = ?")
            .bind(account_id)
            .bind(inquiry_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(inquiry_from)
            .transpose()
    }

    async fn legs(&self, inquiry_id: &str) -> Result<Vec<LegView>, StoreError> {
        sqlx::query("SELECT bank, state, attempt, next_attempt_at, answered_at FROM legs WHERE inquiry_id = ? ORDER BY bank")
            .bind(inquiry_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| {
                Ok(LegView {
                    bank: row.try_get("bank")?,
                    state: row.try_get("state")?,
                    attempts: row.try_get("attempt")?,
                    next_attempt_at: opt_time(row, "next_attempt_at")?,
                    answered_at: opt_time(row, "answered_at")?,
                })
            })
            .collect()
    }

    async fn answers(&self, inquiry_id: &str) -> Result<Vec<StoredAnswer>, StoreError> {
        sqlx::query("SELECT bank, outcome, sealed, answered_at FROM answers WHERE inquiry_id = ? ORDER BY bank")
            .bind(inquiry_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| {
                Ok(StoredAnswer {
                    bank: row.try_get("bank")?,
                    outcome: row.try_get("outcome")?,
                    sealed: row.try_get("sealed")?,
                    answered_at: time_of(row, "answered_at")?,
                })
            })
            .collect()
    }

    async fn purge_due(&self, now: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let due: Vec<(String, String)> = sqlx::query(
            "SELECT inquiry_id, account_id FROM inquiries WHERE state = 'final' AND purge_after <= ?",
        )
        .bind(fmt_time(now))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("inquiry_id")?, row.try_get("account_id")?)))
        .collect::<Result<_, StoreError>>()?;
        for (inquiry_id, account_id) in &due {
            for statement in [
                "DELETE FROM answers WHERE inquiry_id = ?",
                "DELETE FROM late_answers WHERE inquiry_id = ?",
            ] {
                sqlx::query(statement)
                    .bind(inquiry_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE inquiries SET state = 'purged', purged_at = ?, subject_sealed = NULL WHERE inquiry_id = ?")
                .bind(fmt_time(now))
                .bind(inquiry_id)
                .execute(&mut *tx)
                .await?;
            audit_in(
                &mut tx,
                &AuditEvent {
                    account_id: Some(account_id.clone()),
                    kind: "report_purged".into(),
                    inquiry_id: Some(inquiry_id.clone()),
                    detail: serde_json::json!({}),
                    at: now,
                },
            )
            .await?;
        }
        self.commit(tx).await?;
        Ok(due.into_iter().map(|(id, _)| id).collect())
    }
}

async fn submit_in(
    conn: &mut SqliteConnection,
    q: &NewInquiry,
    guard: &SubmitGuard,
) -> Result<Submitted, StoreError> {
    // The three rules in one statement (each statement is a round trip to SQLite's thread
    // while the writer is held): an earlier answer for this key, an inquiry in flight, the
    // cooldown since the last report. `+state`: look the account up by its index; without
    // statistics SQLite may otherwise walk every open inquiry of every account
    // (inquiries_purge), which grows with the inquiries waiting on slow banks.
    let rules = sqlx::query(
        "SELECT r.request_hash, r.status, r.response, \
           (SELECT inquiry_id FROM inquiries WHERE account_id = ?1 AND +state = 'open' LIMIT 1) AS open, \
           (SELECT MAX(finalized_at) FROM inquiries WHERE account_id = ?1) AS last \
         FROM (SELECT 1) LEFT JOIN idempotency_keys r ON r.account_id = ?1 AND r.key = ?2",
    )
    .bind(&q.account_id)
    .bind(&guard.idempotency_key)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(hash) = rules.try_get::<Option<String>, _>("request_hash")? {
        if hash != guard.request_hash {
            return Ok(Submitted::KeyReused);
        }
        let status: i64 = rules.try_get("status")?;
        return Ok(Submitted::Replayed {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt("idempotency status"))?,
            body: rules.try_get("response")?,
        });
    }
    if let Some(inquiry_id) = rules.try_get::<Option<String>, _>("open")? {
        return Ok(Submitted::InFlight { inquiry_id });
    }
    if let Some(last) = opt_time(&rules, "last")? {
        let until = last + guard.cooldown;
        if until > q.created_at {
            return Ok(Submitted::CoolingDown { until });
        }
    }
    let banks =
        serde_json::to_string(&q.banks).map_err(|_| StoreError::Corrupt("inquiry banks"))?;
    sqlx::query(
        "INSERT INTO inquiries (inquiry_id, account_id, state, banks, subject_sealed, user_public_key, key_generation, \
         consent_version, consent_hash, consent_lang, created_at, deadline) VALUES (?,?,'open',?,?,?,?,?,?,?,?,?)",
    )
    .bind(&q.inquiry_id)
    .bind(&q.account_id)
    .bind(&banks)
    .bind(&q.subject_sealed)
    .bind(&q.user_public_key)
    .bind(q.key_generation)
    .bind(&q.consent_version)
    .bind(&q.consent_hash)
    .bind(&q.consent_lang)
    .bind(fmt_time(q.created_at))
    .bind(fmt_time(q.deadline))
    .execute(&mut *conn)
    .await?;
    super::ledger::create_legs(
        &mut *conn,
        &q.inquiry_id,
        &q.banks,
        q.deadline,
        q.created_at,
    )
    .await?;
    enqueue_in(&mut *conn, &guard.notice, q.created_at).await?;
    audit_in(
        &mut *conn,
        &AuditEvent {
            account_id: Some(q.account_id.clone()),
            kind: "inquiry_submitted".into(),
            inquiry_id: Some(q.inquiry_id.clone()),
            detail: serde_json::json!({ "banks": q.banks, "consent_version": q.consent_version, "consent_sha256": q.consent_hash }),
            at: q.created_at,
        },
    )
    .await?;
    sqlx::query("INSERT INTO idempotency_keys (account_id, key, request_hash, status, response, created_at) VALUES (?,?,?,?,?,?)")
        .bind(&q.account_id)
        .bind(&guard.idempotency_key)
        .bind(&guard.request_hash)
        .bind(i64::from(guard.response.0))
        .bind(&guard.response.1)
        .bind(fmt_time(q.created_at))
        .execute(&mut *conn)
        .await?;
    Ok(Submitted::Created)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue(&self, sms: &NewSms, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut conn = self.write().await?;
        let queued = enqueue_in(&mut conn, sms, now).await?;
        drop(conn);
        self.durable().await?;
        Ok(queued)
    }

    async fn claim_sms(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(
            "UPDATE outbox SET lease_owner = ?1, lease_expires_at = ?2 WHERE message_id IN ( \
               SELECT message_id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?3 \
               AND (lease_expires_at IS NULL OR lease_expires_at <= ?3) ORDER BY next_attempt_at LIMIT ?4) \
             RETURNING message_id, idempotency_key, phone_sealed, template, params, secret_sealed, lang, attempts",
        )
        .bind(owner)
        .bind(fmt_time(now + lease))
        .bind(fmt_time(now))
        .bind(limit)
        .fetch_all(&mut *self.write().await?)
        .await?;
        self.durable().await?;
        rows.iter()
            .map(|row| {
                let params: String = row.try_get("params")?;
                Ok(OutboxMessage {
                    message_id: row.try_get("message_id")?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    phone_sealed: row.try_get("phone_sealed")?,
                    template: row.try_get("template")?,
                    params: serde_json::from_str(&params)
                        .map_err(|_| StoreError::Corrupt("sms params"))?,
                    secret_sealed: row.try_get("secret_sealed")?,
                    lang: row.try_get("lang")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    async fn sms_sent(&self, message_id: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = ?, secret_sealed = NULL, attempts = attempts + 1, \
             lease_owner = NULL, lease_expires_at = NULL WHERE message_id = ?",
        )
        .bind(fmt_time(now))
        .bind(message_id)
        .execute(&mut *self.write().await?)
        .await?;
        self.durable().await?;
        Ok(())
    }

    async fn sms_sent_many(
        &self,
        message_ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for message_id in message_ids {
            sqlx::query(
                "UPDATE outbox SET state = 'sent', sent_at = ?, secret_sealed = NULL, attempts = attempts + 1, \
                 lease_owner = NULL, lease_expires_at = NULL WHERE message_id = ?",
            )
            .bind(fmt_time(now))
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn sms_retry(
        &self,
        message_id: &str,
        next: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        match next {
            Some(next) => sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE message_id = ?",
            )
            .bind(fmt_time(next)),
            None => sqlx::query(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, secret_sealed = NULL, lease_owner = NULL, \
                 lease_expires_at = NULL WHERE message_id = ?",
            ),
        }
        .bind(message_id)
        .execute(&mut *self.write().await?)
        .await?;
        self.durable().await?;
        Ok(())
    }

    async fn sms_by_key_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT idempotency_key, state FROM outbox WHERE substr(idempotency_key, 1, length(?1)) = ?1 ORDER BY created_at")
            .bind(prefix)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| Ok((row.try_get("idempotency_key")?, row.try_get("state")?)))
            .collect()
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.write().await?;
        audit_in(&mut conn, event).await?;
        drop(conn);
        self.durable().await
    }

    async fn audit_events(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        sqlx::query("SELECT account_id, kind, inquiry_id, detail, at FROM audit WHERE account_id = ? ORDER BY at DESC LIMIT ?")
            .bind(account_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(AuditEvent {
                    account_id: row.try_get("account_id")?,
                    kind: row.try_get("kind")?,
                    inquiry_id: row.try_get("inquiry_id")?,
                    detail: serde_json::from_str(&detail).map_err(|_| StoreError::Corrupt("audit detail"))?,
                    at: time_of(row, "at")?,
                })
            })
            .collect()
    }
}
