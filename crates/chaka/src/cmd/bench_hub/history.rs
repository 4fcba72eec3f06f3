//! The history of the growth run (`chaka bench hub --history N`): N inquiries of the past,
//! written with bulk SQL before any hub instance starts, as the hub leaves them once their
//! report is purged and their working records are past the retention — the inquiry row (state
//! `purged`, no subject; the cooldown reads it), its two audit rows (submitted, purged), and
//! the accounts that asked (one per 4 inquiries). Its legs, answers, SMS, code and idempotency
//! key are gone by then (`Hub::sweep`). Sealed fields are filler bytes of their real size. Their
//! ids start with [`HISTORY_PREFIX`], so the checks can leave them out.
//!
//! The secondary indexes of these tables are dropped during the fill and built again after it
//! (as a bulk load would), foreign keys are not checked row by row (the history is consistent
//! by construction), then PostgreSQL's statistics are updated (autovacuum would do it in
//! production; SQLite's hub never analyses, so neither does the fill). PostgreSQL writes each
//! batch with `generate_series`, SQLite with a recursive CTE, 500,000 inquiries per
//! transaction.

use super::measure::HISTORY_PREFIX;
use anyhow::Context;
use chaka_core::BankCode;
use chaka_hub::store::Location;
use sqlx::{Connection, Row};
use std::time::Instant;

/// Inquiries per transaction.
const BATCH: u64 = 500_000;
/// Inquiries of the past per account.
const PER_ACCOUNT: u64 = 4;
/// The tables the history writes to.
const TABLES: [&str; 3] = ["accounts", "inquiries", "audit"];

/// The statements of one batch, with `{lo}` and `{hi}` the range of inquiry numbers and
/// `{banks}` the bank codes. Each backend writes them in its own dialect.
struct Dialect {
    /// The series of numbers `i` in `[lo, hi)` with `{cols}` as a `FROM` item named `s`,
    /// computed once per number (not once per joined row: the subquery is a fence).
    series: &'static str,
    /// An id: the history prefix, a 4-hex-digit kind, and the number.
    id: fn(kind: &str, expr: &str) -> String,
    /// The fixed-width UTC time `seconds` after 2020-01-01.
    time: fn(seconds: &str) -> String,
    /// `n` filler bytes; `unique_of` (an expression) makes them unique when given.
    bytes: fn(n: usize, unique_of: Option<&str>) -> String,
    /// Run after each batch's commit.
    after_batch: Option<&'static str>,
}

const PG: Dialect = Dialect {
    series: "(SELECT i, {cols} FROM generate_series({lo}::bigint, {hi}::bigint - 1) AS g(i) \
             OFFSET 0) AS s",
    id: |kind, expr| format!("'{HISTORY_PREFIX}{kind}-8000-' || lpad(to_hex({expr}), 12, '0')"),
    time: |secs| {
        format!(
            "to_char(timestamp '2020-01-01' + ({secs}) * interval '1 second', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )
    },
    bytes: |n, unique| match unique {
        Some(expr) => format!("sha256(({expr})::text::bytea)"),
        None => format!("decode(repeat('5a', {n}), 'hex')"),
    },
    after_batch: None,
};

const SQLITE: Dialect = Dialect {
    series: "(WITH RECURSIVE r(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM r WHERE i + 1 < {hi}) \
             SELECT i, {cols} FROM r LIMIT -1 OFFSET 0) AS s",
    id: |kind, expr| format!("printf('{HISTORY_PREFIX}{kind}-8000-%012x', {expr})"),
    time: |secs| {
        format!("strftime('%Y-%m-%dT%H:%M:%S', 1577836800 + ({secs}), 'unixepoch') || '.000000Z'")
    },
    bytes: |n, unique| match unique {
        Some(_) => "randomblob(32)".to_owned(),
        None => format!("zeroblob({n})"),
    },
    // Keeps the write-ahead log from growing with the history.
    after_batch: Some("PRAGMA wal_checkpoint(TRUNCATE)"),
};

/// The statements that write inquiries `[lo, hi)` and their accounts.
fn batch(d: &Dialect, banks: &[BankCode], lo: u64, hi: u64) -> Vec<String> {
    let account = (d.id)("7a00", &format!("i / {PER_ACCOUNT}"));
    let inquiry = (d.id)("7000", "i");
    // Inquiry i was submitted i seconds after 2020-01-01, final 2 s later, purged 7 days on.
    let cols = format!(
        "{inquiry} AS inq, {account} AS acc, {} AS t0, {} AS t2, {} AS td, {} AS tp",
        (d.time)("i"),
        (d.time)("i + 2"),
        (d.time)("i + 86400"),
        (d.time)("i + 604802"),
    );
    let series = d
        .series
        .replace("{lo}", &lo.to_string())
        .replace("{hi}", &hi.to_string())
        .replace("{cols}", &cols);
    let (account, inquiry) = ("s.acc", "s.inq");
    let (created, finalised, deadline, purged) = ("s.t0", "s.t2", "s.td", "s.tp");
    let codes: Vec<String> = banks.iter().map(|b| format!("\"{b}\"")).collect();
    let banks_json = format!("[{}]", codes.join(","));
    let phone_index = (d.bytes)(32, Some(&format!("'ph' || (i / {PER_ACCOUNT})")));
    vec![
        // One account per PER_ACCOUNT inquiries, written with its first.
        format!(
            "INSERT INTO accounts (account_id, id_index, id_sealed, name_sealed, phone_index, \
             phone_sealed, region, password_hash, verified_at, pin_verifier, user_public_key, \
             user_key_salt, user_key_wrapped, created_at) \
             SELECT {account}, {}, {}, {}, {phone_index}, {}, '11', \
             '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g', \
             {created}, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g', \
             {}, {}, {}, {created} FROM {series} WHERE i % {PER_ACCOUNT} = 0",
            (d.bytes)(32, Some(&format!("'id' || (i / {PER_ACCOUNT})"))),
            (d.bytes)(58, None),
            (d.bytes)(49, None),
            (d.bytes)(51, None),
            (d.bytes)(32, None),
            (d.bytes)(16, None),
            (d.bytes)(72, None),
        ),
        format!(
            "INSERT INTO inquiries (inquiry_id, account_id, state, banks, \
             user_public_key, key_generation, consent_version, consent_hash, consent_lang, \
             created_at, deadline, finalized_at, purge_after, purged_at) \
             SELECT {inquiry}, {account}, 'purged', '{banks_json}', {}, 0, '{}', \
             '{}', 'zh', {created}, {deadline}, {finalised}, {purged}, {purged} FROM {series}",
            (d.bytes)(32, None),
            chaka_hub::agreement::VERSION,
            "0".repeat(64),
        ),
        format!(
            "INSERT INTO audit (audit_id, account_id, kind, inquiry_id, detail, at) \
             SELECT {}, {account}, 'inquiry_submitted', {inquiry}, \
             '{{\"banks\":{banks_json},\"consent_version\":\"{}\",\"consent_sha256\":\"{}\"}}', \
             {created} FROM {series} \
             UNION ALL SELECT {}, {account}, 'report_purged', {inquiry}, '{{}}', {purged} \
             FROM {series}",
            (d.id)("7001", "i"),
            chaka_hub::agreement::VERSION,
            "0".repeat(64),
            (d.id)("7002", "i"),
        ),
    ]
}

/// Drops the secondary `indexes` (name, definition), writes the history in batches with the
/// `dialect`'s statements (running its `after_batch` statement after each commit), and builds
/// the indexes again. A macro: the two backends' connections are different types.
macro_rules! bulk_load {
    ($conn:ident, $indexes:expr, $dialect:expr, $size:expr, $banks:expr) => {
        for (name, _) in $indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
                .execute(&mut $conn)
                .await?;
        }
        let progress = Progress::new($size);
        for (lo, hi) in batches($size) {
            let mut tx = $conn.begin().await?;
            for s in batch($dialect, $banks, lo, hi) {
                sqlx::query(sqlx::AssertSqlSafe(s))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if let Some(after) = $dialect.after_batch {
                sqlx::query(after).execute(&mut $conn).await?;
            }
            progress.done(hi);
        }
        for (_, definition) in $indexes {
            sqlx::query(sqlx::AssertSqlSafe(definition.clone()))
                .execute(&mut $conn)
                .await?;
        }
    };
}

/// Writes `size` historical inquiries into the (migrated, empty) database at `location`.
pub(super) async fn fill(location: &Location, size: u64, banks: &[BankCode]) -> anyhow::Result<()> {
    let started = Instant::now();
    println!(
        "writing {size} historical inquiries (the purged inquiry and 2 audit rows each; one \
         account per {PER_ACCOUNT}) …"
    );
    let bytes = match location {
        Location::Postgres(url) => fill_postgres(url.as_str(), size, banks).await?,
        Location::Sqlite(path) => fill_sqlite(path, size, banks).await?,
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "history written in {secs:.0} s ({:.0} inquiries/s); database {:.0} MiB ({:.1} KiB per \
         historical inquiry)",
        size as f64 / secs,
        bytes as f64 / 1048576.0,
        bytes as f64 / 1024.0 / size as f64
    );
    Ok(())
}

async fn fill_postgres(url: &str, size: u64, banks: &[BankCode]) -> anyhow::Result<i64> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("history: cannot connect")?;
    for setting in [
        "SET synchronous_commit = off",
        // The history is consistent by construction: no foreign-key trigger per row.
        "SET session_replication_role = replica",
        "SET maintenance_work_mem = '512MB'",
    ] {
        sqlx::query(setting).execute(&mut conn).await?;
    }
    let tables: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    let indexes: Vec<(String, String)> = sqlx::query(
        "SELECT c2.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class c2 ON c2.oid = i.indexrelid \
         WHERE c.relname = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
    )
    .bind(&tables)
    .fetch_all(&mut conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("name")?, r.try_get("def")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    bulk_load!(conn, &indexes, &PG, size, banks);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM (ANALYZE) {}",
        TABLES.join(", ")
    )))
    .execute(&mut conn)
    .await?;
    let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await?;
    // Where the bytes are: each table with its indexes and TOAST.
    let sizes: Vec<String> = sqlx::query(
        "SELECT relname AS name, pg_total_relation_size(oid) AS bytes FROM pg_class \
         WHERE relname = ANY($1) AND relkind = 'r' ORDER BY 2 DESC",
    )
    .bind(&tables)
    .fetch_all(&mut conn)
    .await?
    .iter()
    .map(|r| {
        let bytes: i64 = r.try_get("bytes")?;
        Ok(format!(
            "{} {:.0} B",
            r.try_get::<String, _>("name")?,
            bytes as f64 / size as f64
        ))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    println!("per historical inquiry, with indexes: {}", sizes.join(", "));
    conn.close().await?;
    Ok(bytes)
}

async fn fill_sqlite(path: &std::path::Path, size: u64, banks: &[BankCode]) -> anyhow::Result<i64> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .foreign_keys(false)
        .pragma("cache_size", "-262144");
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .context("history: cannot open the SQLite file")?;
    let placeholders = vec!["?"; TABLES.len()].join(",");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name IN ({placeholders})"
    )));
    for t in TABLES {
        query = query.bind(t);
    }
    let indexes: Vec<(String, String)> = query
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("sql")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    bulk_load!(conn, &indexes, &SQLITE, size, banks);
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// The batches of `[0, size)`.
fn batches(size: u64) -> impl Iterator<Item = (u64, u64)> {
    (0..size.div_ceil(BATCH)).map(move |n| (n * BATCH, ((n + 1) * BATCH).min(size)))
}

/// Prints how far the fill is, every 4 batches.
struct Progress {
    size: u64,
    started: Instant,
}

impl Progress {
    fn new(size: u64) -> Self {
        Self {
            size,
            started: Instant::now(),
        }
    }

    fn done(&self, written: u64) {
        if written.is_multiple_of(BATCH * 4) || written == self.size {
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "  {written} of {} ({:.0} inquiries/s)",
                self.size,
                written as f64 / secs
            );
        }
    }
}
