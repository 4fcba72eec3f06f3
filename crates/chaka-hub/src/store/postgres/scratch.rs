//! Scratch databases for tests and measurements: a fresh, uniquely named database on a
//! PostgreSQL server (`CREATE DATABASE chaka_t_<random>`), dropped again when done. The hub's
//! own tests find the server in [`TEST_DATABASE_URL`]; production never uses this module.

use crate::store::StoreError;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;

/// The environment variable naming the server the PostgreSQL tests use
/// (`postgres://postgres@127.0.0.1:5432/postgres`); unset, they run on SQLite only.
pub const TEST_DATABASE_URL: &str = "CHAKA_TEST_DATABASE_URL";

/// The server URL of [`TEST_DATABASE_URL`], if set and not empty.
pub fn test_server() -> Option<String> {
    std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A database created for one test; [`ScratchDatabase::remove`] (or dropping it) drops it.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
    removed: bool,
}

async fn admin(server: &str) -> Result<PgConnection, StoreError> {
    let options = sqlx::postgres::PgConnectOptions::from_str(server)?.disable_statement_logging();
    Ok(PgConnection::connect_with(&options).await?)
}

impl ScratchDatabase {
    /// Creates an empty database on the server of `server` (a URL of any database there).
    pub async fn create(server: &str) -> Result<Self, StoreError> {
        Self::create_named(server, "chaka_t").await
    }

    /// The same, named `<prefix>_<random>` (`prefix`: lowercase letters, digits, `_`).
    pub async fn create_named(server: &str, prefix: &'static str) -> Result<Self, StoreError> {
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Corrupt("scratch database prefix"));
        }
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let mut url =
            url::Url::parse(server).map_err(|_| StoreError::Corrupt("database server URL"))?;
        url.set_path(&name);
        let mut conn = admin(server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(Self {
            server: server.to_owned(),
            name,
            url: url.into(),
            removed: false,
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database (closing every connection still open to it).
    pub async fn remove(mut self) -> Result<(), StoreError> {
        self.removed = true;
        drop_database(&self.server, &self.name).await
    }
}

async fn drop_database(server: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = admin(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        // Dropped without `remove` (a test that ended or failed): drop it on a thread of its
        // own, since `drop` cannot wait for the async runtime it may be running on.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                let _ = runtime.block_on(drop_database(&server, &name));
            }
        });
        let _ = dropper.join();
    }
}
