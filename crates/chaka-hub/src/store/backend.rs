//! Which database the hub runs on: the `database` setting ([`Location`]: a SQLite file path, or
//! a `postgres://` / `postgresql://` URL) and the opened [`Backend`], which hands out the store
//! and the ledger as trait objects so that nothing above the store branches on the database.

use super::ledger::LedgerStore;
use super::postgres::PgStore;
use super::postgres::ledger::PgLedger;
use super::sqlite::SqliteStore;
use super::sqlite::ledger::SqliteLedger;
use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::Duration;

/// Where the hub's state lives: the `database` setting.
///
/// A value that starts with `postgres://` or `postgresql://` is a PostgreSQL URL (many hub
/// instances may share it); anything else is the path of a SQLite file (one hub process). The
/// password is best left out of the URL (libpq's `PGPASSWORD` or `~/.pgpass` are read); one
/// written in the URL is masked by [`Location::masked`] and by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL server and database.
    Postgres(url::Url),
}

/// The `database` setting cannot be used (the value is not repeated: it may hold a password).
#[derive(Debug, thiserror::Error)]
#[error("database: not a valid PostgreSQL URL (postgres://user@host:port/database)")]
pub struct LocationError;

impl Location {
    /// Reads the setting.
    pub fn parse(value: &str) -> Result<Self, LocationError> {
        let lower = value.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let url = url::Url::parse(value.trim()).map_err(|_| LocationError)?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(LocationError);
            }
            Ok(Self::Postgres(url))
        } else {
            Ok(Self::Sqlite(PathBuf::from(value)))
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }

    /// The setting as it may be printed: a password in a PostgreSQL URL shows as `****`.
    pub fn masked(&self) -> String {
        String::from(self.without_password())
    }

    /// The same location with a password in the URL replaced by `****`.
    pub fn without_password(&self) -> Self {
        match self {
            Self::Sqlite(path) => Self::Sqlite(path.clone()),
            Self::Postgres(url) => {
                let mut url = url.clone();
                if url.password().is_some() {
                    let _ = url.set_password(Some("****"));
                }
                Self::Postgres(url)
            }
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl TryFrom<String> for Location {
    type Error = LocationError;
    fn try_from(value: String) -> Result<Self, LocationError> {
        Self::parse(&value)
    }
}

impl From<Location> for String {
    /// The full setting, password included (configuration files round-trip through it; print
    /// [`Location::masked`] instead).
    fn from(location: Location) -> String {
        match location {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => url.into(),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Self::Sqlite(path)
    }
}

/// An opened database.
#[derive(Debug, Clone)]
pub enum Backend {
    /// One SQLite file (one hub process).
    Sqlite(SqliteStore),
    /// PostgreSQL (many hub instances).
    Postgres(PgStore),
}

impl Backend {
    /// Opens (for SQLite: creating the file if needed, in an existing folder) and migrates.
    pub async fn open(location: &Location) -> Result<Self, StoreError> {
        match location {
            Location::Sqlite(path) => Ok(Self::Sqlite(SqliteStore::open(path).await?)),
            Location::Postgres(url) => Ok(Self::Postgres(PgStore::connect(url.as_str()).await?)),
        }
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// The fan-out ledger, keeping final reports `retention`.
    pub fn ledger(&self, retention: Duration) -> Arc<dyn LedgerStore> {
        match self {
            Self::Sqlite(store) => {
                Arc::new(SqliteLedger::new(store.clone()).with_retention(retention))
            }
            Self::Postgres(store) => {
                Arc::new(PgLedger::new(store.clone()).with_retention(retention))
            }
        }
    }

    /// Closes every connection (the store answers errors afterwards).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.pool().close().await,
            Self::Postgres(store) => store.pool().close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_are_told_apart_and_passwords_never_shown() {
        assert_eq!(
            Location::parse("chaka-data/hub.sqlite").unwrap(),
            Location::Sqlite("chaka-data/hub.sqlite".into())
        );
        let url = Location::parse("postgres://chaka:s3cret-pw@db.example:5432/chaka").unwrap();
        assert!(matches!(url, Location::Postgres(_)));
        assert_eq!(url.masked(), "postgres://chaka:****@db.example:5432/chaka");
        assert!(!format!("{url:?} {url}").contains("s3cret-pw"));
        assert_eq!(
            String::from(url),
            "postgres://chaka:s3cret-pw@db.example:5432/chaka"
        );
        let bare = Location::parse("postgresql://db.example/chaka").unwrap();
        assert_eq!(bare.masked(), "postgresql://db.example/chaka");
        let error = Location::parse("postgres://chaka:s3cret-pw@").unwrap_err();
        assert!(!error.to_string().contains("s3cret-pw"));
    }
}
