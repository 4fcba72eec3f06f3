//! Building a SQLite file in bulk: created under a `.partial` name with journaling and syncing
//! off (a crash leaves only an obviously unfinished file), the schema applied by the embedded
//! migrations with their bookkeeping made deterministic, and sealed at the end (WAL mode,
//! fsync, atomic rename). Shared by the card store and the citizen registry writers.

use super::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use time::Date;

/// A SQLite file being built.
pub(crate) struct BuildFile {
    pub conn: SqliteConnection,
    partial: PathBuf,
    path: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `path` with `.partial` appended.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

async fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl BuildFile {
    /// Starts `path` afresh (as `path.partial`) with the schema of `migrator`; the migrations'
    /// install time is recorded as `installed_on` so equal inputs give equal files.
    pub(crate) async fn create(
        path: &Path,
        migrator: &sqlx::migrate::Migrator,
        installed_on: Date,
    ) -> Result<Self, StoreError> {
        let partial = partial_path(path);
        for p in [
            partial.clone(),
            sibling(&partial, "-wal"),
            sibling(&partial, "-shm"),
        ] {
            remove_if_present(&p).await?;
        }
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&partial)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off)
            .locking_mode(SqliteLockingMode::Exclusive)
            .foreign_keys(false)
            .pragma("cache_size", "-1024")
            .pragma("temp_store", "memory")
            // Zero the free space of pages: without it, SQLite leaves whatever the page buffer
            // held before in the gaps, and equal inputs would not always give equal files.
            .pragma("secure_delete", "ON");
        let mut conn = SqliteConnection::connect_with(&options).await?;
        migrator.run(&mut conn).await?;
        sqlx::query("UPDATE _sqlx_migrations SET installed_on = ?, execution_time = 0")
            .bind(format!("{} 00:00:00", super::fmt_date(installed_on)))
            .execute(&mut conn)
            .await?;
        Ok(Self {
            conn,
            partial,
            path: path.to_owned(),
        })
    }

    /// Switches the file to WAL, closes it, syncs it and renames it to its final name. Returns
    /// the file size in bytes.
    pub(crate) async fn seal(self) -> Result<u64, StoreError> {
        let Self {
            mut conn,
            partial,
            path,
        } = self;
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        for p in [sibling(&partial, "-wal"), sibling(&partial, "-shm")] {
            remove_if_present(&p).await?;
        }
        let file = tokio::fs::File::open(&partial)
            .await
            .map_err(io(&partial))?;
        file.sync_all().await.map_err(io(&partial))?;
        let bytes = file.metadata().await.map_err(io(&partial))?.len();
        drop(file);
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(io(&path))?;
        if let Some(dir) = path.parent()
            && let Ok(d) = tokio::fs::File::open(dir).await
        {
            // Best effort: make the rename itself durable.
            let _ = d.sync_all().await;
        }
        Ok(bytes)
    }
}
