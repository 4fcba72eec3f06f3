//! Filling a new card store fast: multi-row INSERTs in one transaction per batch, on a file
//! built by `file::BuildFile` (no journal while writing, WAL once sealed, renamed into place
//! only when complete). Used by the generator; the node only reads.

use super::file::BuildFile;
use super::{MIGRATOR, SCHEMA_VERSION, StoreError, fmt_date};
use chaka_core::{BankCode, CardKind, CardNumber, CardStatus, IdNumber, Phone, YearMonth};
use sqlx::sqlite::Sqlite;
use sqlx::{QueryBuilder, SqliteConnection};
use std::path::{Path, PathBuf};
use time::Date;

/// Rows per INSERT statement: statements of the same shape are prepared once and reused.
const ROWS_PER_STATEMENT: usize = 64;

/// A holder row to write.
#[derive(Debug, Clone, Copy)]
pub struct NewHolder<'a> {
    /// Unique holder id (the generator uses the person's index).
    pub holder_id: i64,
    /// ID number (unique per store).
    pub id_number: &'a IdNumber,
    /// Name.
    pub name: &'a str,
    /// Expiry of the ID document on file.
    pub id_doc_expires: Date,
}

/// A card row to write.
#[derive(Debug, Clone, Copy)]
pub struct NewCard<'a> {
    /// Holder id (written before or in the same batch).
    pub holder_id: i64,
    /// Card number (unique per store).
    pub pan: &'a CardNumber,
    /// Kind.
    pub kind: CardKind,
    /// Status.
    pub status: CardStatus,
    /// Reserved mobile number.
    pub reserved_phone: Option<&'a Phone>,
    /// Card-not-present payments enabled.
    pub cnp_enabled: bool,
    /// Opening month.
    pub opened: YearMonth,
    /// Last active month.
    pub last_active: Option<YearMonth>,
    /// Product name.
    pub product: &'a str,
}

/// A finished store file.
#[derive(Debug, Clone)]
pub struct WrittenStore {
    /// Where it is.
    pub path: PathBuf,
    /// Holder rows.
    pub holders: u64,
    /// Card rows.
    pub cards: u64,
    /// File size.
    pub bytes: u64,
}

/// Writes a new card store; nothing appears under the final name until [`StoreWriter::finish`].
pub struct StoreWriter {
    file: BuildFile,
    path: PathBuf,
    holders: u64,
    cards: u64,
}

impl StoreWriter {
    /// Starts a store for `bank` at `path` (replacing any unfinished one), recording `meta`
    /// key/value pairs besides the bank code and schema version. `as_of` is recorded as the
    /// schema's install date so that equal inputs give byte-identical files.
    pub async fn create(
        path: &Path,
        bank: &BankCode,
        meta: &[(&str, String)],
        as_of: Date,
    ) -> Result<Self, StoreError> {
        let mut file = BuildFile::create(path, &MIGRATOR, as_of).await?;
        let mut pairs = vec![
            ("bank_code", bank.as_str().to_owned()),
            ("schema_version", SCHEMA_VERSION.to_string()),
        ];
        pairs.extend(meta.iter().map(|(k, v)| (*k, v.clone())));
        insert_meta(&mut file.conn, &pairs).await?;
        Ok(Self {
            file,
            path: path.to_owned(),
            holders: 0,
            cards: 0,
        })
    }

    /// Appends holders and cards in one transaction.
    pub async fn append(
        &mut self,
        holders: &[NewHolder<'_>],
        cards: &[NewCard<'_>],
    ) -> Result<(), StoreError> {
        if holders.is_empty() && cards.is_empty() {
            return Ok(());
        }
        let conn = &mut self.file.conn;
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        for chunk in batches(holders) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO holders (holder_id, id_number, name, id_doc_expires) ",
            );
            q.push_values(chunk, |mut b, h| {
                b.push_bind(h.holder_id)
                    .push_bind(h.id_number.as_str().to_owned())
                    .push_bind(h.name.to_owned())
                    .push_bind(fmt_date(h.id_doc_expires));
            });
            q.build().execute(&mut *conn).await?;
        }
        for chunk in batches(cards) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO cards (pan, holder_id, kind, status, reserved_phone, cnp_enabled, \
                 opened, last_active, product) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.pan.as_str().to_owned())
                    .push_bind(c.holder_id)
                    .push_bind(c.kind.as_str())
                    .push_bind(c.status.as_str())
                    .push_bind(c.reserved_phone.map(|p| p.as_str().to_owned()))
                    .push_bind(i64::from(c.cnp_enabled))
                    .push_bind(c.opened.to_string())
                    .push_bind(c.last_active.map(|m| m.to_string()))
                    .push_bind(c.product.to_owned());
            });
            q.build().execute(&mut *conn).await?;
        }
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        self.holders += holders.len() as u64;
        self.cards += cards.len() as u64;
        Ok(())
    }

    /// Records the counts, marks the store complete, switches it to WAL and moves it into place.
    pub async fn finish(mut self) -> Result<WrittenStore, StoreError> {
        let pairs = [
            ("holders", self.holders.to_string()),
            ("cards", self.cards.to_string()),
            ("complete", "1".to_owned()),
        ];
        insert_meta(&mut self.file.conn, &pairs).await?;
        let bytes = self.file.seal().await?;
        Ok(WrittenStore {
            path: self.path,
            holders: self.holders,
            cards: self.cards,
            bytes,
        })
    }
}

/// Splits rows into statements of at most [`ROWS_PER_STATEMENT`] rows whose sizes are powers
/// of two, so a connection only ever prepares a handful of statement shapes (each shape is
/// cached; arbitrary sizes would fill the statement cache with large one-off statements).
pub(crate) fn batches<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= ROWS_PER_STATEMENT {
            ROWS_PER_STATEMENT
        } else {
            1 << rest.len().ilog2()
        };
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}

pub(crate) async fn insert_meta(
    conn: &mut SqliteConnection,
    pairs: &[(&str, String)],
) -> Result<(), StoreError> {
    for (k, v) in pairs {
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
            .bind(*k)
            .bind(v.clone())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_use_few_shapes_and_cover_every_row() {
        let rows: Vec<u32> = (0..1000).collect();
        let sizes: Vec<usize> = batches(&rows).map(<[u32]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(
            sizes
                .iter()
                .all(|s| s.is_power_of_two() && *s <= ROWS_PER_STATEMENT)
        );
        assert_eq!(batches(&rows[..0]).count(), 0);
        assert_eq!(
            batches(&rows[..1]).map(<[u32]>::len).collect::<Vec<_>>(),
            [1]
        );
    }
}
