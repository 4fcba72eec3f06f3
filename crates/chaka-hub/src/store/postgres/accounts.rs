//! PostgreSQL implementation of [`AccountStore`] and [`CodeStore`]: the same statements as on
//! SQLite, with the row locks PostgreSQL needs where SQLite's single writer serialised them (a
//! code is checked under `FOR UPDATE`, so two instances cannot both accept it).

use super::PgStore;
use crate::store::accounts::{
    Account, AccountStore, CodeCheck, CodeStore, NewAccount, PinFailure, PinRecord,
    SESSION_TOUCH_EVERY, SessionRecord, code_check, pin_failure, unique,
};
use crate::store::rows::{Fields, account_from, session_from};
use crate::store::{StoreError, fmt_time};
use async_trait::async_trait;
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};

#[async_trait]
impl AccountStore for PgStore {
    async fn insert_account(&self, a: &NewAccount) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (account_id, id_index, id_sealed, name_sealed, phone_index, phone_sealed, \
             region, password_hash, verified_at, lang, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(&a.account_id)
        .bind(a.id_index.as_slice())
        .bind(&a.id_sealed)
        .bind(&a.name_sealed)
        .bind(a.phone_index.as_slice())
        .bind(&a.phone_sealed)
        .bind(&a.region)
        .bind(&a.password_hash)
        .bind(fmt_time(a.verified_at))
        .bind(&a.lang)
        .bind(fmt_time(a.created_at))
        .execute(self.pool())
        .await
        .map_err(|e| match unique(e, "id_index", "id_number") {
            StoreError::Database(e) => unique(e, "phone_index", "phone"),
            other => other,
        })?;
        Ok(())
    }

    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        sqlx::query("SELECT * FROM accounts WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(account_from)
            .transpose()
    }

    async fn account_by_phone(
        &self,
        phone_index: &[u8; 32],
    ) -> Result<Option<Account>, StoreError> {
        sqlx::query("SELECT * FROM accounts WHERE phone_index = $1")
            .bind(phone_index.as_slice())
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(account_from)
            .transpose()
    }

    async fn id_number_taken(&self, id_index: &[u8; 32]) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT 1 FROM accounts WHERE id_index = $1")
            .bind(id_index.as_slice())
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }

    async fn set_password(
        &self,
        account_id: &str,
        hash: &str,
        keep: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE account_id = $2")
            .bind(hash)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        revoke_others(&mut tx, account_id, keep, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_pin(&self, account_id: &str, pin: &PinRecord) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE accounts SET pin_verifier = $1, user_public_key = $2, user_key_salt = $3, user_key_wrapped = $4, \
             key_generation = $5, pin_failures = 0, pin_locked_until = NULL WHERE account_id = $6",
        )
        .bind(&pin.verifier)
        .bind(&pin.public_key)
        .bind(&pin.salt)
        .bind(&pin.wrapped)
        .bind(pin.key_generation)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn record_pin_failure(
        &self,
        account_id: &str,
        now: OffsetDateTime,
        max: i64,
        lock: Duration,
    ) -> Result<PinFailure, StoreError> {
        // One statement (the row is locked while it runs): concurrent wrong PINs, on any
        // instance, cannot both see the same count.
        let row = sqlx::query(
            "UPDATE accounts SET \
               pin_locked_until = CASE WHEN pin_failures + 1 >= $1 THEN $2 ELSE pin_locked_until END, \
               pin_failures = CASE WHEN pin_failures + 1 >= $1 THEN 0 ELSE pin_failures + 1 END \
             WHERE account_id = $3 RETURNING pin_failures, pin_locked_until",
        )
        .bind(max)
        .bind(fmt_time(now + lock))
        .bind(account_id)
        .fetch_one(self.pool())
        .await?;
        Ok(pin_failure(
            row.int("pin_failures")?,
            row.opt_time("pin_locked_until")?,
            now,
            max,
        ))
    }

    async fn clear_pin_failures(&self, account_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET pin_failures = 0 WHERE account_id = $1")
            .bind(account_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn change_phone(
        &self,
        account_id: &str,
        phone_index: &[u8; 32],
        phone_sealed: &[u8],
        keep: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE accounts SET phone_index = $1, phone_sealed = $2, phone_changed_at = $3 WHERE account_id = $4",
        )
        .bind(phone_index.as_slice())
        .bind(phone_sealed)
        .bind(fmt_time(now))
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique(e, "phone_index", "phone"))?;
        revoke_others(&mut tx, account_id, keep, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_session(
        &self,
        token_hash: &[u8; 32],
        s: &SessionRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, session_id, account_id, created_at, last_seen_at, expires_at, user_agent) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(token_hash.as_slice())
        .bind(&s.session_id)
        .bind(&s.account_id)
        .bind(fmt_time(s.created_at))
        .bind(fmt_time(s.last_seen_at))
        .bind(fmt_time(s.expires_at))
        .bind(&s.user_agent)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        idle: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // As on SQLite: a read, and a write only once a minute per session.
        let row = sqlx::query(
            "SELECT session_id, account_id, created_at, last_seen_at, expires_at, user_agent \
             FROM sessions \
             WHERE token_hash = $2 AND revoked_at IS NULL AND expires_at > $1 AND last_seen_at > $3",
        )
        .bind(fmt_time(now))
        .bind(token_hash.as_slice())
        .bind(fmt_time(now - idle))
        .fetch_optional(self.pool())
        .await?;
        let Some(mut record) = row.as_ref().map(session_from).transpose()? else {
            return Ok(None);
        };
        if record.last_seen_at <= now - SESSION_TOUCH_EVERY {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 \
                 WHERE token_hash = $2 AND revoked_at IS NULL AND last_seen_at < $1",
            )
            .bind(fmt_time(now))
            .bind(token_hash.as_slice())
            .execute(self.pool())
            .await?;
            record.last_seen_at = now;
        }
        Ok(Some(record))
    }

    async fn sessions(
        &self,
        account_id: &str,
        now: OffsetDateTime,
        idle: Duration,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        sqlx::query(
            "SELECT session_id, account_id, created_at, last_seen_at, expires_at, user_agent FROM sessions \
             WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3 ORDER BY created_at",
        )
        .bind(account_id)
        .bind(fmt_time(now))
        .bind(fmt_time(now - idle))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(session_from)
        .collect()
    }

    async fn revoke_session(
        &self,
        account_id: &str,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND session_id = $3 AND revoked_at IS NULL",
        )
        .bind(fmt_time(now))
        .bind(account_id)
        .bind(session_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn revoke_others(
    tx: &mut PgConnection,
    account_id: &str,
    keep: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL \
         AND session_id IS DISTINCT FROM $3",
    )
    .bind(fmt_time(now))
    .bind(account_id)
    .bind(keep)
    .execute(tx)
    .await?;
    Ok(())
}

#[async_trait]
impl CodeStore for PgStore {
    async fn insert_code(
        &self,
        phone_index: &[u8; 32],
        purpose: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE otps SET used_at = $1 WHERE phone_index = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(fmt_time(now))
        .bind(phone_index.as_slice())
        .bind(purpose)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO otps (otp_id, phone_index, purpose, code_hash, created_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(chaka_core::InquiryId::generate(now).to_string())
        .bind(phone_index.as_slice())
        .bind(purpose)
        .bind(code_hash.as_slice())
        .bind(fmt_time(now))
        .bind(fmt_time(now + ttl))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn codes_sent_since(
        &self,
        phone_index: &[u8; 32],
        since: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM otps WHERE phone_index = $1 AND created_at >= $2",
        )
        .bind(phone_index.as_slice())
        .bind(fmt_time(since))
        .fetch_one(self.pool())
        .await?;
        row.int("n")
    }

    async fn check_code(
        &self,
        phone_index: &[u8; 32],
        purpose: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        max_attempts: i64,
    ) -> Result<CodeCheck, StoreError> {
        let mut tx = self.pool().begin().await?;
        // FOR UPDATE: a concurrent check of the same code (on this or another instance) waits,
        // then finds it used or with one more attempt, never accepts it a second time.
        let row = sqlx::query(
            "SELECT otp_id, code_hash, attempts FROM otps WHERE phone_index = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 AND attempts < $4 \
             ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
        )
        .bind(phone_index.as_slice())
        .bind(purpose)
        .bind(fmt_time(now))
        .bind(max_attempts)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(CodeCheck::NoCode);
        };
        let otp_id = row.text("otp_id")?;
        let result = code_check(
            &row.bytes("code_hash")?,
            code_hash,
            row.int("attempts")?,
            max_attempts,
        );
        let update = match result {
            CodeCheck::Accepted => {
                sqlx::query("UPDATE otps SET used_at = $1 WHERE otp_id = $2").bind(fmt_time(now))
            }
            _ => sqlx::query("UPDATE otps SET attempts = attempts + 1 WHERE otp_id = $1"),
        };
        update.bind(&otp_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(result)
    }
}
