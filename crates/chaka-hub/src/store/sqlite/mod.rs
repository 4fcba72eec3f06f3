//! The SQLite implementation of the hub's store: one file, WAL, `synchronous=FULL` (a commit
//! survives power loss), foreign keys on, migrations from `migrations/sqlite` embedded.

mod accounts;
mod inquiries;
pub mod ledger;

use super::{StoreError, parse_time};
use sqlx::Row;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The hub's SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool (for the store's own modules and tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A nullable stored time.
pub(crate) fn opt_time(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let value: Option<String> = row.try_get(column)?;
    value.as_deref().map(parse_time).transpose()
}

/// A stored time.
pub(crate) fn time_of(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    let value: String = row.try_get(column)?;
    parse_time(&value)
}
