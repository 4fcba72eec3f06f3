//! A bank's card store: one SQLite file per bank holding its card holders (keyed by resident ID
//! number), their cards, and the answers the node already gave (idempotency by inquiry id).
//! [`CardStore`] is what the bank node reads at run time; [`StoreWriter`] is how `chaka gen`
//! fills a new store fast; [`citizens`] is the sandbox identity registry built alongside.
//! Errors never carry ID numbers, names, phones or card digits.

pub mod citizens;
mod file;
pub mod writer;

pub use writer::{NewCard, NewHolder, StoreWriter, WrittenStore};

use chaka_core::{
    BankCode, CardKind, CardNumber, CardStatus, IdNumber, InquiryId, Phone, YearMonth,
};
use sqlx::sqlite::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::{Date, OffsetDateTime};

/// The schema version written to `meta.schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// The holder lookup: the unique index on `holders.id_number`.
const FIND_HOLDER: &str = "SELECT holder_id, name, id_doc_expires FROM holders WHERE id_number = ?";
/// The holder's cards: the `cards_by_holder` index, then the primary key.
const HOLDER_CARDS: &str = "SELECT pan, kind, status, reserved_phone, cnp_enabled, opened, \
                            last_active, product FROM cards WHERE holder_id = ? ORDER BY opened, pan";

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/store");

/// Why the card store failed. Messages name files and columns, never personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file does not exist.
    #[error("card store {0} does not exist")]
    Missing(PathBuf),
    /// The file exists but is not a chaka card store (or not a complete one).
    #[error("{0} is not a chaka card store")]
    NotACardStore(PathBuf),
    /// The file exists but is not a complete citizen registry.
    #[error("{0} is not a chaka citizen registry")]
    NotACitizenRegistry(PathBuf),
    /// The store was written by another schema version.
    #[error(
        "card store schema version {found} is not supported (this build reads {SCHEMA_VERSION})"
    )]
    Schema {
        /// The version found in the file.
        found: String,
    },
    /// A stored value does not parse as its domain type.
    #[error("card store holds an invalid value in {0}")]
    Corrupt(&'static str),
    /// SQLite failed.
    #[error("card store database error")]
    Database(#[from] sqlx::Error),
    /// Applying the schema failed.
    #[error("card store schema migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file operation failed.
    #[error("card store file operation failed on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A card holder as the bank knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Name on file.
    pub name: String,
    /// Expiry of the ID document on file ([`time::Date`] 9999-12-31 for long-term).
    pub id_doc_expires: Date,
    /// Every card of the holder at this bank, by opening month.
    pub cards: Vec<CardRecord>,
}

/// One card as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    /// Full card number (stays inside the bank node).
    pub pan: CardNumber,
    /// Kind.
    pub kind: CardKind,
    /// Status.
    pub status: CardStatus,
    /// The mobile number reserved on the card, if any.
    pub reserved_phone: Option<Phone>,
    /// Whether card-not-present payments are enabled.
    pub cnp_enabled: bool,
    /// Opening month.
    pub opened: YearMonth,
    /// Last month with a transaction.
    pub last_active: Option<YearMonth>,
    /// Product name.
    pub product: String,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pool size (concurrent readers; SQLite serialises the rare writes).
    pub max_connections: u32,
    /// `synchronous=FULL` (every stored answer survives power loss) instead of `NORMAL`.
    pub durable_answers: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            durable_answers: true,
        }
    }
}

/// An open card store (cheap to clone: a pool handle and the bank code).
#[derive(Debug, Clone)]
pub struct CardStore {
    pool: SqlitePool,
    bank: BankCode,
}

impl CardStore {
    /// Opens an existing, complete card store with the default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &StoreOptions::default()).await
    }

    /// Opens an existing, complete card store: WAL, foreign keys on, pending migrations applied.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: &StoreOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if !tokio::fs::try_exists(path).await.unwrap_or(false) {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if options.durable_answers {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(|_| StoreError::NotACardStore(path.to_owned()))?;
        let meta = |key: &'static str| {
            sqlx::query_scalar::<_, Option<String>>("SELECT value FROM meta WHERE key = ?")
                .bind(key)
                .fetch_optional(&pool)
        };
        let not_store = || StoreError::NotACardStore(path.to_owned());
        let version = meta("schema_version")
            .await
            .map_err(|_| not_store())?
            .flatten();
        let code = meta("bank_code").await.map_err(|_| not_store())?.flatten();
        let complete = meta("complete").await.map_err(|_| not_store())?.flatten();
        let (Some(version), Some(code), Some(_)) = (version, code, complete) else {
            return Err(not_store());
        };
        if version != SCHEMA_VERSION.to_string() {
            return Err(StoreError::Schema { found: version });
        }
        let bank = BankCode::parse(&code).map_err(|_| StoreError::Corrupt("meta.bank_code"))?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, bank })
    }

    /// The bank this store belongs to.
    pub fn bank_code(&self) -> &BankCode {
        &self.bank
    }

    /// The holder with this ID number and all their cards: one lookup on the unique index of
    /// `holders.id_number`, one on `cards_by_holder`.
    pub async fn find_holder(&self, id_number: &IdNumber) -> Result<Option<Holder>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(row) = sqlx::query(FIND_HOLDER)
            .bind(id_number.as_str())
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let holder_id: i64 = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let expires: String = row.try_get(2)?;
        let rows = sqlx::query(HOLDER_CARDS)
            .bind(holder_id)
            .fetch_all(&mut *conn)
            .await?;
        let cards = rows.iter().map(card_from_row).collect::<Result<_, _>>()?;
        Ok(Some(Holder {
            name,
            id_doc_expires: parse_date(&expires)
                .ok_or(StoreError::Corrupt("holders.id_doc_expires"))?,
            cards,
        }))
    }

    /// The answer body already stored for this inquiry, if any.
    pub async fn stored_answer(
        &self,
        inquiry_id: &InquiryId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .stored_answers(std::slice::from_ref(inquiry_id))
            .await?
            .remove(inquiry_id))
    }

    /// The answer bodies already stored for these inquiries (one query).
    pub async fn stored_answers(
        &self,
        inquiry_ids: &[InquiryId],
    ) -> Result<HashMap<InquiryId, Vec<u8>>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_answers(&mut conn, inquiry_ids).await
    }

    /// Stores the answer for an inquiry unless one is already there, and returns the stored one:
    /// the first writer wins, every later call gets the first body back.
    pub async fn store_answer(
        &self,
        inquiry_id: &InquiryId,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, StoreError> {
        self.store_answers(&[(*inquiry_id, body.to_vec())], now)
            .await?
            .remove(inquiry_id)
            .ok_or(StoreError::Corrupt("answers.body"))
    }

    /// [`CardStore::store_answer`] for many inquiries in one transaction (one durable commit
    /// per batch): returns the stored body of each, first writer wins.
    pub async fn store_answers(
        &self,
        answers: &[(InquiryId, Vec<u8>)],
        now: OffsetDateTime,
    ) -> Result<HashMap<InquiryId, Vec<u8>>, StoreError> {
        if answers.is_empty() {
            return Ok(HashMap::new());
        }
        let mut tx = self.pool.begin().await?;
        let created = fmt_timestamp(now);
        for chunk in answers.chunks(256) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO answers (inquiry_id, body, created_at) ");
            q.push_values(chunk, |mut b, (id, body)| {
                b.push_bind(id.to_string())
                    .push_bind(body.as_slice())
                    .push_bind(created.clone());
            });
            q.push(" ON CONFLICT (inquiry_id) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        let ids: Vec<InquiryId> = answers.iter().map(|(id, _)| *id).collect();
        let stored = read_answers(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn card_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<CardRecord, StoreError> {
    let text = |i: usize| row.try_get::<String, _>(i);
    let opt = |i: usize| row.try_get::<Option<String>, _>(i);
    Ok(CardRecord {
        pan: CardNumber::parse(&text(0)?).map_err(|_| StoreError::Corrupt("cards.pan"))?,
        kind: CardKind::parse(&text(1)?).ok_or(StoreError::Corrupt("cards.kind"))?,
        status: CardStatus::parse(&text(2)?).ok_or(StoreError::Corrupt("cards.status"))?,
        reserved_phone: opt(3)?
            .map(|p| Phone::parse(&p))
            .transpose()
            .map_err(|_| StoreError::Corrupt("cards.reserved_phone"))?,
        cnp_enabled: row.try_get::<i64, _>(4)? != 0,
        opened: YearMonth::parse(&text(5)?).map_err(|_| StoreError::Corrupt("cards.opened"))?,
        last_active: opt(6)?
            .map(|m| YearMonth::parse(&m))
            .transpose()
            .map_err(|_| StoreError::Corrupt("cards.last_active"))?,
        product: text(7)?,
    })
}

/// `YYYY-MM-DD`.
pub(crate) fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = s[..4].parse().ok()?;
    let m: u8 = s[5..7].parse().ok()?;
    let d: u8 = s[8..].parse().ok()?;
    Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

fn fmt_timestamp(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn read_answers(
    conn: &mut sqlx::SqliteConnection,
    inquiry_ids: &[InquiryId],
) -> Result<HashMap<InquiryId, Vec<u8>>, StoreError> {
    let mut out = HashMap::with_capacity(inquiry_ids.len());
    for chunk in inquiry_ids.chunks(256) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT inquiry_id, body FROM answers WHERE inquiry_id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.to_string());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let id: String = row.try_get(0)?;
            let id =
                InquiryId::parse(&id).map_err(|_| StoreError::Corrupt("answers.inquiry_id"))?;
            out.insert(id, row.try_get(1)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn dates_round_trip() {
        for d in [
            date!(2026 - 11 - 01),
            date!(9999 - 12 - 31),
            date!(1950 - 02 - 14),
        ] {
            assert_eq!(parse_date(&fmt_date(d)), Some(d));
        }
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("20261101"), None);
    }

    #[tokio::test]
    async fn lookups_use_indexes_never_a_scan() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("X.sqlite");
        let bank = BankCode::parse("ICBC").unwrap();
        StoreWriter::create(&path, &bank, &[], date!(2026 - 11 - 01))
            .await
            .unwrap()
            .finish()
            .await
            .unwrap();
        let options = SqliteConnectOptions::new().filename(&path);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        for sql in [FIND_HOLDER, HOLDER_CARDS] {
            let plan: Vec<String> =
                sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .bind(1)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(3))
                    .collect();
            assert!(plan.iter().any(|p| p.starts_with("SEARCH")), "{plan:?}");
            assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:?}");
        }
    }
}
