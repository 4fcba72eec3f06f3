//! Group commit: many transactions made durable by one `fsync` of the write-ahead log.
//!
//! The hub writes through one connection that commits with `synchronous=NORMAL`: a commit
//! appends its frames to the WAL file (in the operating system's cache) and releases the write
//! lock without waiting for the disk. No caller is told "done" until [`GroupSync::sync`] has
//! returned, and `sync` returns only once an `fsync` of the WAL file that *started after the
//! caller's commit* has finished. Concurrent callers share that `fsync`: the first one to find
//! no flush running becomes the leader, flushes everything committed so far, and every commit
//! that the flush covered returns without a flush of its own.
//!
//! What this keeps: a commit that a caller saw succeed survives power loss, as with
//! `synchronous=FULL`. What it buys: the write lock is held for the CPU time of a transaction,
//! not for a disk flush, and a burst of N commits costs one or two flushes instead of N.
//! Checkpoints are still synchronised by SQLite itself (in `NORMAL` mode it flushes the WAL
//! before copying it into the database and the database before resetting the WAL).

use super::StoreError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, watch};

/// Shares `fsync`s of one database's WAL file between committers.
#[derive(Debug)]
pub(crate) struct GroupSync {
    /// The WAL file (`<database>-wal`).
    wal: PathBuf,
    /// Commits announced so far (a ticket per commit).
    committed: AtomicU64,
    /// The highest ticket a finished flush covers.
    synced: watch::Sender<u64>,
    /// Held by the one caller flushing now.
    leader: Mutex<()>,
    /// Flushes performed (for tests and figures).
    flushes: AtomicU64,
}

impl GroupSync {
    /// Group commit for the database whose WAL file is `wal`.
    pub(crate) fn new(wal: PathBuf) -> Self {
        Self {
            wal,
            committed: AtomicU64::new(0),
            synced: watch::Sender::new(0),
            leader: Mutex::new(()),
            flushes: AtomicU64::new(0),
        }
    }

    /// Returns once everything committed before this call is on disk. Call it after every
    /// commit of the writer connection and before telling anyone the commit happened.
    pub(crate) async fn sync(&self) -> Result<(), StoreError> {
        let ticket = self.committed.fetch_add(1, Ordering::SeqCst) + 1;
        loop {
            if *self.synced.borrow() >= ticket {
                return Ok(());
            }
            let _leader = self.leader.lock().await;
            if *self.synced.borrow() >= ticket {
                return Ok(());
            }
            // Every commit with a ticket up to `target` finished before this read, so its
            // frames are in the file that the flush below makes durable.
            let target = self.committed.load(Ordering::SeqCst);
            let wal = self.wal.clone();
            tokio::task::spawn_blocking(move || flush(&wal))
                .await
                .map_err(|_| StoreError::Durability("the flushing task stopped"))??;
            self.flushes.fetch_add(1, Ordering::Relaxed);
            self.synced.send_replace(target);
        }
    }

    /// How many flushes were performed.
    pub(crate) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

/// Flushes the WAL file's data to disk. A missing WAL means that a checkpoint moved every frame
/// into the database and removed the log; SQLite flushed the database before doing so.
fn flush(wal: &std::path::Path) -> Result<(), StoreError> {
    match std::fs::File::open(wal) {
        Ok(file) => file
            .sync_data()
            .map_err(|_| StoreError::Durability("fsync of the write-ahead log failed")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => Err(StoreError::Durability(
            "the write-ahead log cannot be opened for fsync",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_commits_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let group = Arc::new(GroupSync::new(wal));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let group = group.clone();
            tasks.push(tokio::spawn(async move { group.sync().await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(group.flushes() >= 1);
        assert!(
            group.flushes() < 64,
            "64 concurrent commits took {} flushes",
            group.flushes()
        );
        // A commit after the burst gets a flush of its own.
        let before = group.flushes();
        group.sync().await.unwrap();
        assert_eq!(group.flushes(), before + 1);
    }

    #[tokio::test]
    async fn a_missing_log_needs_no_flush_and_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let group = GroupSync::new(dir.path().join("absent-wal"));
        group.sync().await.unwrap();
    }
}
