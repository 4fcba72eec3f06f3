//! Stored rows read back into the store's records, the same way for every backend: [`Fields`]
//! is the column access both SQLite's and PostgreSQL's rows offer (text, bytes, integers and
//! the stored time format), and the `*_from` functions map a row of a known `SELECT` onto a
//! record. Neither backend keeps a copy of these mappings.

use super::accounts::{Account, PinRecord, SessionRecord};
use super::inquiries::{AuditEvent, InquiryRecord, LegView, OutboxMessage, StoredAnswer};
use super::ledger::{LegKey, LegRecord, LegState};
use super::{StoreError, parse_time};
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::suite::Suite;
use sqlx::Row;
use time::OffsetDateTime;

/// The columns of one stored row, by name.
pub(crate) trait Fields {
    /// A text column.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A byte column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    /// A nullable byte column.
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// An integer column.
    fn int(&self, column: &str) -> Result<i64, StoreError>;

    /// A time column ([`super::fmt_time`] text).
    fn time(&self, column: &str) -> Result<OffsetDateTime, StoreError> {
        parse_time(&self.text(column)?)
    }
    /// A nullable time column.
    fn opt_time(&self, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.opt_text(column)?
            .as_deref()
            .map(parse_time)
            .transpose()
    }
    /// A JSON value stored as text.
    fn json(&self, column: &str, what: &'static str) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&self.text(column)?).map_err(|_| StoreError::Corrupt(what))
    }
}

macro_rules! fields_of {
    ($row:ty) => {
        impl Fields for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(column)?)
            }
        }
    };
}

fields_of!(sqlx::sqlite::SqliteRow);
fields_of!(sqlx::postgres::PgRow);

/// A 32-byte blind index.
pub(crate) fn index(row: &impl Fields, column: &str) -> Result<[u8; 32], StoreError> {
    row.bytes(column)?
        .try_into()
        .map_err(|_| StoreError::Corrupt("blind index"))
}

/// An `accounts` row (`SELECT *`).
pub(crate) fn account_from(row: &impl Fields) -> Result<Account, StoreError> {
    let key_generation = row.int("key_generation")?;
    let user_key = |column| {
        row.opt_bytes(column)?
            .ok_or(StoreError::Corrupt("user key"))
    };
    let pin = match row.opt_text("pin_verifier")? {
        Some(verifier) => Some(PinRecord {
            verifier,
            public_key: user_key("user_public_key")?,
            salt: user_key("user_key_salt")?,
            wrapped: user_key("user_key_wrapped")?,
            key_generation,
        }),
        None => None,
    };
    Ok(Account {
        account_id: row.text("account_id")?,
        id_sealed: row.bytes("id_sealed")?,
        name_sealed: row.bytes("name_sealed")?,
        phone_index: index(row, "phone_index")?,
        phone_sealed: row.bytes("phone_sealed")?,
        region: row.text("region")?,
        password_hash: row.text("password_hash")?,
        verified_at: row.opt_time("verified_at")?,
        phone_changed_at: row.opt_time("phone_changed_at")?,
        pin,
        key_generation,
        pin_failures: row.int("pin_failures")?,
        pin_locked_until: row.opt_time("pin_locked_until")?,
        lang: row.text("lang")?,
        created_at: row.time("created_at")?,
    })
}

/// A `sessions` row.
pub(crate) fn session_from(row: &impl Fields) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        session_id: row.text("session_id")?,
        account_id: row.text("account_id")?,
        created_at: row.time("created_at")?,
        last_seen_at: row.time("last_seen_at")?,
        expires_at: row.time("expires_at")?,
        user_agent: row.opt_text("user_agent")?,
    })
}

/// An `inquiries` row (`SELECT *`).
pub(crate) fn inquiry_from(row: &impl Fields) -> Result<InquiryRecord, StoreError> {
    Ok(InquiryRecord {
        inquiry_id: row.text("inquiry_id")?,
        account_id: row.text("account_id")?,
        state: row.text("state")?,
        banks: serde_json::from_str(&row.text("banks")?)
            .map_err(|_| StoreError::Corrupt("inquiry banks"))?,
        user_public_key: row.bytes("user_public_key")?,
        key_generation: row.int("key_generation")?,
        consent_version: row.text("consent_version")?,
        created_at: row.time("created_at")?,
        deadline: row.time("deadline")?,
        finalized_at: row.opt_time("finalized_at")?,
        purge_after: row.opt_time("purge_after")?,
        purged_at: row.opt_time("purged_at")?,
    })
}

/// A `legs` row as the user sees it.
pub(crate) fn leg_view_from(row: &impl Fields) -> Result<LegView, StoreError> {
    Ok(LegView {
        bank: row.text("bank")?,
        state: row.text("state")?,
        attempts: row.int("attempt")?,
        next_attempt_at: row.opt_time("next_attempt_at")?,
        answered_at: row.opt_time("answered_at")?,
    })
}

/// An `answers` row.
pub(crate) fn answer_from(row: &impl Fields) -> Result<StoredAnswer, StoreError> {
    Ok(StoredAnswer {
        bank: row.text("bank")?,
        outcome: row.text("outcome")?,
        sealed: row.opt_bytes("sealed")?,
        answered_at: row.time("answered_at")?,
    })
}

/// An `outbox` row claimed for sending.
pub(crate) fn outbox_message_from(row: &impl Fields) -> Result<OutboxMessage, StoreError> {
    Ok(OutboxMessage {
        message_id: row.text("message_id")?,
        idempotency_key: row.text("idempotency_key")?,
        phone_sealed: row.bytes("phone_sealed")?,
        template: row.text("template")?,
        params: row.json("params", "sms params")?,
        secret_sealed: row.opt_bytes("secret_sealed")?,
        lang: row.text("lang")?,
        attempts: row.int("attempts")?,
    })
}

/// An `audit` row.
pub(crate) fn audit_from(row: &impl Fields) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        account_id: row.opt_text("account_id")?,
        kind: row.text("kind")?,
        inquiry_id: row.opt_text("inquiry_id")?,
        detail: row.json("detail", "audit detail")?,
        at: row.time("at")?,
    })
}

/// An inquiry id column.
pub(crate) fn inquiry_id_of(row: &impl Fields) -> Result<InquiryId, StoreError> {
    InquiryId::parse(&row.text("inquiry_id")?).map_err(|_| StoreError::Corrupt("legs.inquiry_id"))
}

/// A leg's key (`inquiry_id`, `bank`).
pub(crate) fn leg_key_of(row: &impl Fields) -> Result<LegKey, StoreError> {
    Ok(LegKey {
        inquiry_id: inquiry_id_of(row)?,
        bank: BankCode::parse(&row.text("bank")?).map_err(|_| StoreError::Corrupt("legs.bank"))?,
    })
}

/// A leg's state column.
pub(crate) fn state_of(row: &impl Fields) -> Result<LegState, StoreError> {
    LegState::parse(&row.text("state")?).ok_or(StoreError::Corrupt("legs.state"))
}

/// A leg's suite column.
pub(crate) fn suite_of(row: &impl Fields) -> Result<Suite, StoreError> {
    Suite::parse(&row.text("suite")?).ok_or(StoreError::Corrupt("legs.suite"))
}

/// A `legs` row as stored.
pub(crate) fn leg_record_from(row: &impl Fields) -> Result<LegRecord, StoreError> {
    Ok(LegRecord {
        key: leg_key_of(row)?,
        state: state_of(row)?,
        attempt: row.int("attempt")?,
        next_attempt_at: row.time("next_attempt_at")?,
        deadline: row.time("deadline")?,
        lease_owner: row.opt_text("lease_owner")?,
        lease_expires_at: row.opt_time("lease_expires_at")?,
        last_error: row.opt_text("last_error")?,
        answered_at: row.opt_time("answered_at")?,
    })
}
