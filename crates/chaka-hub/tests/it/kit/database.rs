//! The hub database of one test, on the backend the run asks for: a fresh SQLite file in the
//! test's folder, or, when `CHAKA_TEST_DATABASE_URL` names a PostgreSQL server, a fresh
//! database of its own there (`chaka_t_<random>`, dropped when the test ends). Tests that read
//! or write rows directly go through [`TestDatabase`], which runs one SQL text (`?`
//! placeholders) on either backend.

use chaka_hub::store::postgres::scratch::{ScratchDatabase, test_server};
use chaka_hub::store::{Backend, Location};
use std::path::Path;

/// A migrated, empty hub database.
pub struct TestDatabase {
    /// Where it is (the hub's `database` setting).
    pub location: Location,
    /// It, opened.
    pub backend: Backend,
    /// The PostgreSQL database to drop at the end.
    scratch: Option<ScratchDatabase>,
}

/// Runs `$body` with `$pool` bound to the backend's pool and `$create_legs` to its
/// `ledger::create_legs`: one body, type-checked for each backend.
macro_rules! with_pool {
    ($db:expr, |$pool:ident, $create_legs:ident| $body:expr) => {
        match &$db.backend {
            chaka_hub::store::Backend::Sqlite(store) => {
                #[allow(unused_imports)]
                use chaka_hub::store::sqlite::ledger::create_legs as $create_legs;
                let $pool = store.pool();
                $body
            }
            chaka_hub::store::Backend::Postgres(store) => {
                #[allow(unused_imports)]
                use chaka_hub::store::postgres::ledger::create_legs as $create_legs;
                let $pool = store.pool();
                $body
            }
        }
    };
}
pub(crate) use with_pool;

impl TestDatabase {
    /// A fresh database: on PostgreSQL when the run names a server, else a SQLite file in `dir`.
    pub async fn create(dir: &Path) -> Self {
        let (location, scratch) = match test_server() {
            Some(server) => {
                let scratch = ScratchDatabase::create(&server).await.unwrap();
                (Location::parse(scratch.url()).unwrap(), Some(scratch))
            }
            None => (Location::Sqlite(dir.join("hub.sqlite")), None),
        };
        let backend = Backend::open(&location).await.unwrap();
        Self {
            location,
            backend,
            scratch,
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.scratch.is_some()
    }

    /// `sql` with its `?` placeholders numbered for PostgreSQL (`$1`, `$2`, …).
    pub fn sql(&self, sql: &str) -> sqlx::AssertSqlSafe<String> {
        if !self.is_postgres() {
            return sqlx::AssertSqlSafe(sql.to_owned());
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        sqlx::AssertSqlSafe(out)
    }

    /// The number `sql` counts (`SELECT COUNT(*) …`).
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = self.sql(sql);
        with_pool!(self, |pool, _legs| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .unwrap())
    }

    /// Everything the database holds, as bytes to search: the SQLite file and its WAL, or on
    /// PostgreSQL every row of every table as text (byte columns appear as `\x` and hex).
    pub async fn contents(&self) -> Vec<(String, Vec<u8>)> {
        match &self.backend {
            Backend::Sqlite(_) => {
                let path = self.location.masked();
                ["", "-wal"]
                    .iter()
                    .filter_map(|suffix| {
                        let file = format!("{path}{suffix}");
                        std::fs::read(&file).ok().map(|bytes| (file, bytes))
                    })
                    .collect()
            }
            Backend::Postgres(store) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                )
                .fetch_all(store.pool())
                .await
                .unwrap();
                let mut dump = Vec::new();
                for table in tables {
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t::text FROM {table} AS t"
                    )))
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
                    for row in rows {
                        dump.extend_from_slice(row.as_bytes());
                        dump.push(b'\n');
                    }
                }
                vec![("the PostgreSQL database".to_owned(), dump)]
            }
        }
    }
}
