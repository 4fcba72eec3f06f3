//! Accounts, sessions and PIN counters as stored: sealed personal fields with their blind
//! indexes, the password hash, the PIN verifier and the wrapped user key, and session records
//! keyed by the hash of their token.

use super::StoreError;
use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

/// A new, real-name-verified account.
#[derive(Clone)]
pub struct NewAccount {
    /// UUIDv7.
    pub account_id: String,
    /// Blind index of the ID number.
    pub id_index: [u8; 32],
    /// Sealed ID number.
    pub id_sealed: Vec<u8>,
    /// Sealed name.
    pub name_sealed: Vec<u8>,
    /// Blind index of the phone.
    pub phone_index: [u8; 32],
    /// Sealed phone.
    pub phone_sealed: Vec<u8>,
    /// Province prefix.
    pub region: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When the identity registry confirmed the person.
    pub verified_at: OffsetDateTime,
    /// `zh` or `en`.
    pub lang: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// The PIN's verifier and the user key it wraps.
#[derive(Clone, PartialEq, Eq)]
pub struct PinRecord {
    /// Keyed Argon2id verifier.
    pub verifier: String,
    /// X25519 public key, 32 bytes.
    pub public_key: Vec<u8>,
    /// Argon2id salt of the wrapping key.
    pub salt: Vec<u8>,
    /// The wrapped X25519 secret.
    pub wrapped: Vec<u8>,
    /// Increases with every reset.
    pub key_generation: i64,
}

/// An account as stored.
#[derive(Clone)]
pub struct Account {
    /// UUIDv7.
    pub account_id: String,
    /// Sealed ID number.
    pub id_sealed: Vec<u8>,
    /// Sealed name.
    pub name_sealed: Vec<u8>,
    /// Blind index of the phone.
    pub phone_index: [u8; 32],
    /// Sealed phone.
    pub phone_sealed: Vec<u8>,
    /// Province prefix.
    pub region: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Real-name verification time.
    pub verified_at: Option<OffsetDateTime>,
    /// Last phone change.
    pub phone_changed_at: Option<OffsetDateTime>,
    /// The PIN, once set.
    pub pin: Option<PinRecord>,
    /// Current key generation (also without a PIN).
    pub key_generation: i64,
    /// Consecutive wrong PINs.
    pub pin_failures: i64,
    /// Report opening locked until.
    pub pin_locked_until: Option<OffsetDateTime>,
    /// `zh` or `en`.
    pub lang: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A login session as stored (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public id, for listing and revoking.
    pub session_id: String,
    /// Owner.
    pub account_id: String,
    /// Creation.
    pub created_at: OffsetDateTime,
    /// Last request.
    pub last_seen_at: OffsetDateTime,
    /// Absolute expiry.
    pub expires_at: OffsetDateTime,
    /// Browser or client, as it said.
    pub user_agent: Option<String>,
}

/// The PIN counter after a wrong PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinFailure {
    /// Consecutive failures, including this one (0 once a lock starts).
    pub failures: i64,
    /// Set when this failure started a lock.
    pub locked_until: Option<OffsetDateTime>,
}

/// Accounts, sessions and PIN counters.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts an account; `Conflict("id_number")` or `Conflict("phone")` when taken.
    async fn insert_account(&self, account: &NewAccount) -> Result<(), StoreError>;
    /// The account with this id.
    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError>;
    /// The account registered with this phone (blind index).
    async fn account_by_phone(&self, phone_index: &[u8; 32])
    -> Result<Option<Account>, StoreError>;
    /// Whether an account exists for this ID number (blind index).
    async fn id_number_taken(&self, id_index: &[u8; 32]) -> Result<bool, StoreError>;
    /// Replaces the password and revokes every session but `keep`.
    async fn set_password(
        &self,
        account_id: &str,
        hash: &str,
        keep: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Sets or replaces the PIN and the user key; clears the failure counter and any lock.
    async fn set_pin(&self, account_id: &str, pin: &PinRecord) -> Result<(), StoreError>;
    /// Counts a wrong PIN; at `max` failures the counter resets and opening locks for `lock`.
    async fn record_pin_failure(
        &self,
        account_id: &str,
        now: OffsetDateTime,
        max: i64,
        lock: Duration,
    ) -> Result<PinFailure, StoreError>;
    /// Resets the failure counter after a right PIN.
    async fn clear_pin_failures(&self, account_id: &str) -> Result<(), StoreError>;
    /// Moves the account to a new phone and revokes every session but `keep`;
    /// `Conflict("phone")` when another account has it.
    async fn change_phone(
        &self,
        account_id: &str,
        phone_index: &[u8; 32],
        phone_sealed: &[u8],
        keep: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Stores a new session.
    async fn insert_session(
        &self,
        token_hash: &[u8; 32],
        session: &SessionRecord,
    ) -> Result<(), StoreError>;
    /// The live session for a token hash: not revoked, not past `expires_at`, seen within `idle`.
    /// Touches `last_seen_at`.
    async fn session(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        idle: Duration,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// The account's live sessions.
    async fn sessions(
        &self,
        account_id: &str,
        now: OffsetDateTime,
        idle: Duration,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Revokes one session of the account; `false` when there is no such live session.
    async fn revoke_session(
        &self,
        account_id: &str,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// What happened to a code that was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right, and now used.
    Accepted,
    /// Wrong; the code stays valid for `attempts_left` more tries.
    Wrong {
        /// Tries left.
        attempts_left: i64,
    },
    /// No live code for this phone and purpose (never sent, used, expired, or too many tries).
    NoCode,
}

/// SMS codes.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Stores a new code (hashed); earlier live codes of the same purpose are invalidated.
    async fn insert_code(
        &self,
        phone_index: &[u8; 32],
        purpose: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Codes sent to this phone since `since` (any purpose), for rate limiting.
    async fn codes_sent_since(
        &self,
        phone_index: &[u8; 32],
        since: OffsetDateTime,
    ) -> Result<i64, StoreError>;
    /// Checks a code, single use, at most `max_attempts` tries.
    async fn check_code(
        &self,
        phone_index: &[u8; 32],
        purpose: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        max_attempts: i64,
    ) -> Result<CodeCheck, StoreError>;
}

/// Maps a UNIQUE violation whose constraint names `column` to `Conflict(name)` (SQLite names
/// the column in its message, PostgreSQL the constraint `<table>_<column>_key`).
pub(crate) fn unique(e: sqlx::Error, column: &str, name: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() && db.message().contains(column) => {
            StoreError::Conflict(name)
        }
        _ => StoreError::Database(e),
    }
}

/// Compares two code hashes in constant time.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A session's `last_seen_at` is rewritten at most this often (its idle expiry is measured from
/// it, so a session may end up to this much earlier than its idle limit).
pub(crate) const SESSION_TOUCH_EVERY: Duration = Duration::seconds(60);

/// The [`PinFailure`] reported after the counter's `UPDATE … RETURNING` gave `failures` and
/// `locked_until`.
pub(crate) fn pin_failure(
    failures: i64,
    locked_until: Option<OffsetDateTime>,
    now: OffsetDateTime,
    max: i64,
) -> PinFailure {
    let locked_until = locked_until.filter(|until| *until > now && failures == 0);
    PinFailure {
        failures: if locked_until.is_some() {
            max
        } else {
            failures
        },
        locked_until,
    }
}

/// The [`CodeCheck`] of a code compared with the live one (`stored`, tried `attempts` times).
pub(crate) fn code_check(
    stored: &[u8],
    given: &[u8],
    attempts: i64,
    max_attempts: i64,
) -> CodeCheck {
    if constant_time_eq(stored, given) {
        CodeCheck::Accepted
    } else {
        CodeCheck::Wrong {
            attempts_left: (max_attempts - attempts - 1).max(0),
        }
    }
}
