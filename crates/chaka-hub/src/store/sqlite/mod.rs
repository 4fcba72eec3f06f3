//! The SQLite implementation of the hub's store: one file, WAL, foreign keys on, migrations
//! from `migrations/sqlite` embedded. Reads go through a pool of connections; every write goes
//! through one writer connection, so writers queue in the process (first come, first served)
//! instead of sleeping in SQLite's busy handler, and its commits are made durable together by
//! [`durable`] (group commit: a commit that returned survives power loss).

mod accounts;
mod durable;
mod inquiries;
pub mod ledger;
mod settle;

use super::StoreError;
use durable::GroupSync;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The hub's SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Connections for reads.
    pool: SqlitePool,
    /// The one connection that writes.
    writer: Arc<tokio::sync::Mutex<Writer>>,
    /// Shared flushes of the writer's commits.
    group: Arc<GroupSync>,
}

/// The writer connection, and whether a transaction on it was left open (its holder failed
/// half-way; the next holder rolls it back before anything else).
#[derive(Debug)]
struct Writer {
    conn: SqliteConnection,
    open: bool,
}

/// The writer connection, held: by [`SqliteStore::write`] for one statement, or by
/// [`SqliteStore::begin`] for a transaction (`BEGIN IMMEDIATE`), which ends with
/// [`SqliteStore::commit`] (returns once the commit is durable) or [`WriteTx::rollback`]. A
/// transaction dropped half-way is rolled back by the next holder.
///
/// The connection is held directly, not through a pool: a pool would test the connection on
/// every acquire and release, a round trip to SQLite's thread each time, and the writer is the
/// one resource that every write waits for.
pub(crate) struct WriteTx<'a> {
    writer: tokio::sync::MutexGuard<'a, Writer>,
}

impl WriteTx<'_> {
    /// Rolls the transaction back.
    pub(crate) async fn rollback(mut self) -> Result<(), StoreError> {
        if self.writer.open {
            sqlx::query("ROLLBACK")
                .execute(&mut self.writer.conn)
                .await?;
            self.writer.open = false;
        }
        Ok(())
    }
}

impl Deref for WriteTx<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.writer.conn
    }
}

impl DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.writer.conn
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // The writer's commits are flushed by `GroupSync`; a stray write on a reader connection
        // (there should be none) is still flushed by SQLite itself.
        let mut writer =
            SqliteConnection::connect_with(&options.clone().synchronous(SqliteSynchronous::Normal))
                .await?;
        MIGRATOR.run(&mut writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.synchronous(SqliteSynchronous::Full))
            .await?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(Writer {
                conn: writer,
                open: false,
            })),
            group: Arc::new(GroupSync::new(wal.into())),
        })
    }

    /// The pool of reading connections (for the store's own modules and tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The writer connection, in turn (first come, first served), for one statement in
    /// autocommit mode; follow the statement with [`Self::durable`].
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>, StoreError> {
        let mut writer = self.writer.lock().await;
        if writer.open {
            // The last holder stopped half-way. Its COMMIT may even have run (the holder was
            // cancelled while waiting for the answer), in which case there is nothing to roll
            // back and SQLite says so: either way no transaction is open afterwards.
            let _ = sqlx::query("ROLLBACK").execute(&mut writer.conn).await;
            writer.open = false;
        }
        Ok(WriteTx { writer })
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`) on the writer connection, in turn.
    pub(crate) async fn begin(&self) -> Result<WriteTx<'_>, StoreError> {
        let mut tx = self.write().await?;
        // Marked open first: if this future is dropped mid-statement, the next holder rolls back.
        tx.writer.open = true;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut tx.writer.conn)
            .await?;
        Ok(tx)
    }

    /// Commits `tx`, releases the writer, and returns once the commit is durable.
    pub(crate) async fn commit(&self, mut tx: WriteTx<'_>) -> Result<(), StoreError> {
        sqlx::query("COMMIT").execute(&mut tx.writer.conn).await?;
        tx.writer.open = false;
        drop(tx);
        self.durable().await
    }

    /// Returns once every commit made so far by the writer is durable.
    pub(crate) async fn durable(&self) -> Result<(), StoreError> {
        self.group.sync().await
    }

    /// How many WAL flushes the writer's commits have needed so far.
    pub fn flushes(&self) -> u64 {
        self.group.flushes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hub.sqlite"))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .execute(&mut *store.write().await.unwrap())
            .await
            .unwrap();
        (dir, store)
    }

    /// A transaction that inserts `n`, left open.
    async fn inserting(store: &SqliteStore, n: i64) -> WriteTx<'_> {
        let mut tx = store.begin().await.unwrap();
        sqlx::query("INSERT INTO t (n) VALUES (?)")
            .bind(n)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx
    }

    async fn count(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn concurrent_transactions_all_land_and_share_flushes() {
        let (_dir, store) = store().await;
        let before = store.flushes();
        let mut tasks = Vec::new();
        for n in 0..40i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = store.begin().await?;
                sqlx::query("INSERT INTO t (n) VALUES (?)")
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                store.commit(tx).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(count(&store).await, 40);
        let flushes = store.flushes() - before;
        assert!((1..=40).contains(&flushes), "{flushes} flushes");
    }

    #[tokio::test]
    async fn a_transaction_dropped_half_way_is_rolled_back_by_the_next_writer() {
        let (_dir, store) = store().await;
        // Dropped without commit, as when a handler fails with `?` half-way.
        drop(inserting(&store, 1).await);
        store.commit(inserting(&store, 2).await).await.unwrap();
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, vec![2]);

        let tx = store.begin().await.unwrap();
        tx.rollback().await.unwrap();
        sqlx::query("INSERT INTO t (n) VALUES (3)")
            .execute(&mut *store.write().await.unwrap())
            .await
            .unwrap();
        assert_eq!(count(&store).await, 2);
    }

    #[tokio::test]
    async fn a_holder_cancelled_after_its_commit_ran_leaves_a_usable_writer() {
        let (_dir, store) = store().await;
        let mut tx = inserting(&store, 1).await;
        // The COMMIT ran, but its holder never learnt it (the flag still says "open").
        sqlx::query("COMMIT").execute(&mut *tx).await.unwrap();
        drop(tx);
        store.commit(inserting(&store, 2).await).await.unwrap();
        assert_eq!(count(&store).await, 2);
    }
}
