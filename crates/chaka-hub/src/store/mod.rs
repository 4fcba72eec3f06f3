//! Storage: the hub's state lives in the database, never only in memory. One sub-trait per
//! concern (accounts and sessions, codes, inquiries, the outbox, audit; the fan-out ledger in
//! [`ledger`]), one SQLite implementation in [`sqlite`] (the embedded default, one process) and
//! one PostgreSQL implementation in [`postgres`] (many hub instances on one database), with
//! migration trees of the same versions. Handlers never touch SQL.

pub mod accounts;
pub mod backend;
pub mod inquiries;
pub mod ledger;
pub mod postgres;
pub(crate) mod rows;
#[cfg(test)]
mod schema_tests;
pub(crate) mod settlement;
pub mod sqlite;

pub use accounts::{
    Account, AccountStore, CodeCheck, CodeStore, NewAccount, PinFailure, PinRecord, SessionRecord,
};
pub use backend::{Backend, Location};
pub use inquiries::{
    AuditEvent, AuditStore, InquiryRecord, InquiryStore, LegView, NewInquiry, NewSms,
    OutboxMessage, OutboxStore, StoredAnswer, SubmitGuard, Submitted,
};

/// All of the hub's storage, as one object.
pub trait Store: AccountStore + CodeStore + InquiryStore + OutboxStore + AuditStore {}

impl<T: AccountStore + CodeStore + InquiryStore + OutboxStore + AuditStore> Store for T {}

/// A storage failure. Messages carry no personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or is unreachable.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A uniqueness rule was violated (which one).
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// A stored value cannot be read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(&'static str),
    /// A commit could not be made durable (the disk refused a flush).
    #[error("durability: {0}")]
    Durability(&'static str),
}

/// Formats a time for storage: RFC 3339 UTC with a fixed number of fraction digits, so that
/// text comparison orders times correctly.
pub fn fmt_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Parses a stored time.
pub fn parse_time(s: &str) -> Result<time::OffsetDateTime, StoreError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| StoreError::Corrupt("timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn stored_times_sort_as_text_and_round_trip() {
        let a = datetime!(2026-11-28 09:59:59.999999 UTC);
        let b = datetime!(2026-11-28 10:00:00 UTC);
        assert!(fmt_time(a) < fmt_time(b));
        assert_eq!(parse_time(&fmt_time(a)).unwrap(), a);
        assert_eq!(
            fmt_time(datetime!(2026-11-28 18:00 +08:00)),
            "2026-11-28T10:00:00.000000Z"
        );
    }
}
