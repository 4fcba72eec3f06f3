//! PostgreSQL implementation of [`InquiryStore`], [`OutboxStore`] and [`AuditStore`]. The
//! submission locks the account's row first, so two instances submitting for one person are
//! serialised (one-in-flight, cooldown and idempotency rules hold across instances); SMS and
//! purges are claimed with `FOR UPDATE SKIP LOCKED`.

use super::PgStore;
use crate::store::inquiries::{
    AuditEvent, AuditStore, InquiryRecord, InquiryStore, LegView, NewInquiry, NewSms,
    OutboxMessage, OutboxStore, StoredAnswer, SubmitGuard, Submitted, TRAIL, TrailPurged,
    status_of, submit_rules,
};
use crate::store::rows::{
    Fields, answer_from, audit_from, inquiry_from, leg_view_from, outbox_message_from,
};
use crate::store::{StoreError, fmt_time};
use async_trait::async_trait;
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};

/// Inserts an outbox row inside a transaction; a repeated idempotency key is ignored.
pub(super) async fn enqueue_in(
    conn: &mut PgConnection,
    sms: &NewSms,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO outbox (message_id, idempotency_key, account_id, phone_sealed, template, params, \
         secret_sealed, lang, state, attempts, next_attempt_at, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'pending',0,$9,$9) ON CONFLICT (idempotency_key) DO NOTHING",
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
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts an audit record inside a transaction.
pub(super) async fn audit_in(conn: &mut PgConnection, e: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit (audit_id, account_id, kind, inquiry_id, detail, at) VALUES ($1,$2,$3,$4,$5,$6)",
    )
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
impl InquiryStore for PgStore {
    async fn replay(
        &self,
        account_id: &str,
        key: &str,
    ) -> Result<Option<(String, u16, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT request_hash, status, response FROM idempotency_keys WHERE account_id = $1 AND key = $2",
        )
        .bind(account_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok((
                row.text("request_hash")?,
                status_of(&row)?,
                row.bytes("response")?,
            ))
        })
        .transpose()
    }

    async fn submit(&self, q: &NewInquiry, guard: &SubmitGuard) -> Result<Submitted, StoreError> {
        let mut tx = self.pool().begin().await?;
        let result = submit_in(&mut tx, q, guard).await?;
        if result == Submitted::Created {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(result)
    }

    async fn inquiries(&self, account_id: &str) -> Result<Vec<InquiryRecord>, StoreError> {
        sqlx::query("SELECT * FROM inquiries WHERE account_id = $1 ORDER BY created_at DESC")
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
        sqlx::query("SELECT * FROM inquiries WHERE account_id = $1 AND inquiry_id = $2")
            .bind(account_id)
            .bind(inquiry_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(inquiry_from)
            .transpose()
    }

    async fn legs(&self, inquiry_id: &str) -> Result<Vec<LegView>, StoreError> {
        sqlx::query(
            "SELECT bank, state, attempt, next_attempt_at, answered_at FROM legs WHERE inquiry_id = $1 ORDER BY bank",
        )
        .bind(inquiry_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(leg_view_from)
        .collect()
    }

    async fn answers(&self, inquiry_id: &str) -> Result<Vec<StoredAnswer>, StoreError> {
        sqlx::query(
            "SELECT bank, outcome, sealed, answered_at FROM answers WHERE inquiry_id = $1 ORDER BY bank",
        )
        .bind(inquiry_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(answer_from)
        .collect()
    }

    async fn purge_due(&self, now: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool().begin().await?;
        // SKIP LOCKED: instances sweeping at once purge (and audit) each report once.
        let due: Vec<(String, String)> = sqlx::query(
            "SELECT inquiry_id, account_id FROM inquiries WHERE state = 'final' AND purge_after <= $1 \
             ORDER BY inquiry_id FOR UPDATE SKIP LOCKED",
        )
        .bind(fmt_time(now))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| Ok((row.text("inquiry_id")?, row.text("account_id")?)))
        .collect::<Result<_, StoreError>>()?;
        for (inquiry_id, account_id) in &due {
            for statement in [
                "DELETE FROM answers WHERE inquiry_id = $1",
                "DELETE FROM late_answers WHERE inquiry_id = $1",
                "DELETE FROM legs WHERE inquiry_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(inquiry_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE inquiries SET state = 'purged', purged_at = $1, subject_sealed = NULL WHERE inquiry_id = $2",
            )
            .bind(fmt_time(now))
            .bind(inquiry_id)
            .execute(&mut *tx)
            .await?;
            audit_in(&mut tx, &AuditEvent::purged(account_id, inquiry_id, now)).await?;
        }
        tx.commit().await?;
        Ok(due.into_iter().map(|(id, _)| id).collect())
    }

    async fn purge_trail(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<TrailPurged, StoreError> {
        let mut purged = TrailPurged::default();
        let mut tx = self.pool().begin().await?;
        for (i, statement) in TRAIL.iter().enumerate() {
            let done = sqlx::query(*statement)
                .bind(fmt_time(before))
                .bind(limit)
                .execute(&mut *tx)
                .await?;
            purged.add(i, done.rows_affected());
        }
        tx.commit().await?;
        Ok(purged)
    }
}

async fn submit_in(
    conn: &mut PgConnection,
    q: &NewInquiry,
    guard: &SubmitGuard,
) -> Result<Submitted, StoreError> {
    // The account's row lock serialises this person's submissions on every instance: the
    // rules below are read and the inquiry written under it (SQLite's single writer does the
    // same for one process).
    sqlx::query("SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE")
        .bind(&q.account_id)
        .fetch_optional(&mut *conn)
        .await?;
    let rules = sqlx::query(
        "SELECT r.request_hash, r.status, r.response, \
           (SELECT inquiry_id FROM inquiries WHERE account_id = $1 AND state = 'open' LIMIT 1) AS open, \
           (SELECT MAX(finalized_at) FROM inquiries WHERE account_id = $1) AS last \
         FROM (SELECT 1) AS one LEFT JOIN idempotency_keys r ON r.account_id = $1 AND r.key = $2",
    )
    .bind(&q.account_id)
    .bind(&guard.idempotency_key)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(refused) = submit_rules(&rules, q, guard)? {
        return Ok(refused);
    }
    let banks =
        serde_json::to_string(&q.banks).map_err(|_| StoreError::Corrupt("inquiry banks"))?;
    sqlx::query(
        "INSERT INTO inquiries (inquiry_id, account_id, state, banks, subject_sealed, user_public_key, key_generation, \
         consent_version, consent_hash, consent_lang, created_at, deadline) \
         VALUES ($1,$2,'open',$3,$4,$5,$6,$7,$8,$9,$10,$11)",
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
    audit_in(&mut *conn, &AuditEvent::submitted(q)).await?;
    sqlx::query(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, status, response, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
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
impl OutboxStore for PgStore {
    async fn enqueue(&self, sms: &NewSms, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut conn = self.pool().acquire().await?;
        enqueue_in(&mut conn, sms, now).await
    }

    async fn claim_sms(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        // SKIP LOCKED: a message another instance is claiming right now is left to it; one it
        // claimed and committed no longer matches (its lease is live). The due messages are
        // read by an ordered scan of outbox_due that stops at the limit, the limit coming from
        // a row the planner does not see into: with the limit in view it chose a bitmap scan
        // and a sort, which reads the entry of every message sent since the last vacuum (their
        // dead `pending` entries, which a bitmap scan, unlike an index scan, never marks dead):
        // ≈ 5,000 entries and 50 ms a claim after 20 s of load (`auto_explain`).
        let rows = sqlx::query(
            "WITH w AS MATERIALIZED (SELECT $4::bigint AS lim) \
             UPDATE outbox SET lease_owner = $1, lease_expires_at = $2 WHERE message_id IN ( \
               SELECT d.message_id FROM w CROSS JOIN LATERAL ( \
                 SELECT message_id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $3 \
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
                 ORDER BY next_attempt_at LIMIT w.lim FOR UPDATE SKIP LOCKED) AS d) \
             RETURNING message_id, idempotency_key, phone_sealed, template, params, secret_sealed, lang, attempts",
        )
        .bind(owner)
        .bind(fmt_time(now + lease))
        .bind(fmt_time(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_message_from).collect()
    }

    async fn sms_sent(&self, message_id: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        self.sms_sent_many(std::slice::from_ref(&message_id.to_owned()), now)
            .await
    }

    async fn sms_sent_many(
        &self,
        message_ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $1, secret_sealed = NULL, attempts = attempts + 1, \
             lease_owner = NULL, lease_expires_at = NULL WHERE message_id = ANY($2)",
        )
        .bind(fmt_time(now))
        .bind(message_ids)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn sms_retry(
        &self,
        message_id: &str,
        next: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        match next {
            Some(next) => sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, lease_owner = NULL, \
                 lease_expires_at = NULL WHERE message_id = $1",
            )
            .bind(message_id)
            .bind(fmt_time(next)),
            None => sqlx::query(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, secret_sealed = NULL, \
                 lease_owner = NULL, lease_expires_at = NULL WHERE message_id = $1",
            )
            .bind(message_id),
        }
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn sms_by_key_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query(
            "SELECT idempotency_key, state FROM outbox \
             WHERE substr(idempotency_key, 1, length($1)) = $1 ORDER BY created_at",
        )
        .bind(prefix)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| Ok((row.text("idempotency_key")?, row.text("state")?)))
        .collect()
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        audit_in(&mut conn, event).await
    }

    async fn audit_events(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        sqlx::query(
            "SELECT account_id, kind, inquiry_id, detail, at FROM audit WHERE account_id = $1 \
             ORDER BY at DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(audit_from)
        .collect()
    }
}
