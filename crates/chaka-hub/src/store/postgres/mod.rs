//! The PostgreSQL implementation of the hub's store, for many hub instances on one database:
//! a pool of connections, migrations from `migrations/postgres` embedded (sqlx takes an
//! advisory lock, so instances starting together apply them once), ordinary transactions
//! (`READ COMMITTED`; a commit that returned is durable with the server's default
//! `synchronous_commit = on`). Work is claimed with `FOR UPDATE SKIP LOCKED` plus leases, so
//! instances never claim the same leg or SMS twice, and every transaction that can make a leg
//! final first locks its inquiry's row (inquiries in id order, then legs), so exactly one of
//! them sees the inquiry's last leg final and writes its "report ready" SMS.
//!
//! Times are stored as the same fixed-width RFC 3339 UTC text as on SQLite
//! ([`crate::store::fmt_time`], columns `COLLATE "C"`): one formatting and parsing path for both
//! stores and their tests, and text order is time order. Comparisons are made on that text,
//! exactly as on SQLite.

mod accounts;
mod inquiries;
pub mod ledger;
pub mod scratch;
mod settle;
#[cfg(test)]
mod tests;

use super::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per hub instance.
const POOL_SIZE: u32 = 16;

/// The hub's PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and applies pending
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?
            // Statements are logged by the hub's own spans, not with their bound values.
            .disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        warn_without_autovacuum(&pool).await;
        Ok(Self { pool })
    }

    /// The pool (for the store's own modules and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Warns when the server's autovacuum is off. The ledger's and the outbox's rows are rewritten
/// several times each, so without it their dead row versions pile up, and its `ANALYZE` is
/// also what makes the pooled connections plan their statements again once the tables have
/// grown: the plans made while a new database was nearly empty (sequential scans) would
/// otherwise stay, and every claim and settlement would read the whole table.
async fn warn_without_autovacuum(pool: &PgPool) {
    let setting: Result<String, _> = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(pool)
        .await;
    if setting.is_ok_and(|s| s == "off") {
        tracing::warn!(
            "PostgreSQL's autovacuum is off on this server: the ledger's dead rows and its \
             planner statistics are not kept up, and claims and settlements slow down as the \
             tables grow; turn it on (docs/deploy.md, \"What grows\")"
        );
    }
}
