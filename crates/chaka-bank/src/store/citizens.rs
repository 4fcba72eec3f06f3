//! The sandbox identity registry (`citizens.sqlite`): every generated person's ID number, name,
//! mobile number and ID-document expiry, so the hub's sandbox identity check can verify a
//! registration against "the national registry". Written by the generator, read by the hub.

use super::file::BuildFile;
use super::writer::{batches, insert_meta};
use super::{StoreError, fmt_date, parse_date};
use chaka_core::{IdNumber, Phone};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{QueryBuilder, Row};
use std::path::{Path, PathBuf};
use time::Date;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/citizens");

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    /// Name.
    pub name: String,
    /// Mobile number registered under the ID.
    pub phone: Phone,
    /// ID-document expiry (9999-12-31 for long-term).
    pub id_doc_expires: Date,
}

/// A row to write.
#[derive(Debug, Clone, Copy)]
pub struct NewCitizen<'a> {
    /// ID number.
    pub id_number: &'a IdNumber,
    /// Name.
    pub name: &'a str,
    /// Mobile number.
    pub phone: &'a Phone,
    /// ID-document expiry.
    pub id_doc_expires: Date,
}

/// Writes a new registry; it appears under its final name only when finished.
pub struct CitizenWriter {
    file: BuildFile,
    path: PathBuf,
    count: u64,
}

impl CitizenWriter {
    /// Starts the registry at `path`, with `meta` key/value pairs.
    pub async fn create(
        path: &Path,
        meta: &[(&str, String)],
        as_of: Date,
    ) -> Result<Self, StoreError> {
        let mut file = BuildFile::create(path, &MIGRATOR, as_of).await?;
        let mut pairs = vec![("schema_version", "1".to_owned())];
        pairs.extend(meta.iter().map(|(k, v)| (*k, v.clone())));
        insert_meta(&mut file.conn, &pairs).await?;
        Ok(Self {
            file,
            path: path.to_owned(),
            count: 0,
        })
    }

    /// Appends people in one transaction.
    pub async fn append(&mut self, people: &[NewCitizen<'_>]) -> Result<(), StoreError> {
        let conn = &mut self.file.conn;
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        for chunk in batches(people) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO citizens (id_number, name, phone, id_doc_expires) ");
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.id_number.as_str().to_owned())
                    .push_bind(c.name.to_owned())
                    .push_bind(c.phone.as_str().to_owned())
                    .push_bind(fmt_date(c.id_doc_expires));
            });
            q.build().execute(&mut *conn).await?;
        }
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        self.count += people.len() as u64;
        Ok(())
    }

    /// Marks the registry complete and moves it into place; returns the path, rows and bytes.
    pub async fn finish(mut self) -> Result<(PathBuf, u64, u64), StoreError> {
        let pairs = [
            ("citizens", self.count.to_string()),
            ("complete", "1".to_owned()),
        ];
        insert_meta(&mut self.file.conn, &pairs).await?;
        let bytes = self.file.seal().await?;
        Ok((self.path, self.count, bytes))
    }
}

/// Read access to a registry.
#[derive(Debug, Clone)]
pub struct CitizenRegistry {
    pool: SqlitePool,
}

impl CitizenRegistry {
    /// Opens a complete registry read-only.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if !tokio::fs::try_exists(path).await.unwrap_or(false) {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let not_registry = || StoreError::NotACitizenRegistry(path.to_owned());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|_| not_registry())?;
        let complete: Option<Option<String>> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'citizens'")
                .fetch_optional(&pool)
                .await
                .map_err(|_| not_registry())?;
        if complete.flatten().is_none() {
            return Err(not_registry());
        }
        Ok(Self { pool })
    }

    /// The person registered under `id_number`.
    pub async fn lookup(&self, id_number: &IdNumber) -> Result<Option<Citizen>, StoreError> {
        let Some(row) =
            sqlx::query("SELECT name, phone, id_doc_expires FROM citizens WHERE id_number = ?")
                .bind(id_number.as_str())
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let phone: String = row.try_get(1)?;
        let expires: String = row.try_get(2)?;
        Ok(Some(Citizen {
            name: row.try_get(0)?,
            phone: Phone::parse(&phone).map_err(|_| StoreError::Corrupt("citizens.phone"))?,
            id_doc_expires: parse_date(&expires)
                .ok_or(StoreError::Corrupt("citizens.id_doc_expires"))?,
        }))
    }
}
