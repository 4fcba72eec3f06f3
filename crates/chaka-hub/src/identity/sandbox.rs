//! [`SandboxVerifier`]: the identity check of demos and tests, over the citizen registry
//! (`citizens.sqlite`, table `citizens(id_number PK, name, phone, id_doc_expires)`) that
//! `chaka gen` writes. Opened read-only; one primary-key lookup per check. It stands in for
//! both the national ID check (name ↔ ID number) and the carriers' real-name registry
//! (phone ↔ person). It never writes the file.

use super::{IdentityError, IdentityVerdict, IdentityVerifier};
use async_trait::async_trait;
use chaka_core::{IdNumber, Phone};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::path::Path;

/// Verifies identities against a citizen registry file.
#[derive(Debug, Clone)]
pub struct SandboxVerifier {
    pool: SqlitePool,
}

impl SandboxVerifier {
    /// Opens the registry at `path` read-only. A missing file, or one without a `citizens`
    /// table, is a [`IdentityError::Config`] error (the file is never created).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, IdentityError> {
        let path = path.as_ref();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|_| {
                IdentityError::Config(format!(
                    "cannot open the citizen registry {}",
                    path.display()
                ))
            })?;
        sqlx::query("SELECT id_number, name, phone FROM citizens LIMIT 1")
            .fetch_optional(&pool)
            .await
            .map_err(|_| {
                IdentityError::Config(format!(
                    "{} is not a citizen registry (run `chaka gen`)",
                    path.display()
                ))
            })?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl IdentityVerifier for SandboxVerifier {
    async fn verify(
        &self,
        name: &str,
        id_number: &IdNumber,
        phone: &Phone,
    ) -> Result<IdentityVerdict, IdentityError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, phone FROM citizens WHERE id_number = ?")
                .bind(id_number.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|_| {
                    IdentityError::Unavailable("the citizen registry could not be read".into())
                })?;
        let Some((registered_name, registered_phone)) = row else {
            return Ok(IdentityVerdict::Unknown);
        };
        if registered_name != name {
            return Ok(IdentityVerdict::NameMismatch);
        }
        let owns = Phone::parse(&registered_phone).is_ok_and(|p| &p == phone);
        Ok(if owns {
            IdentityVerdict::Verified
        } else {
            IdentityVerdict::PhoneNotOwned
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    /// The registry schema exactly as `chaka gen` creates it.
    const SCHEMA: &str = include_str!("../../../chaka-bank/migrations/citizens/0001_citizens.sql");

    fn id(sequence: u16) -> IdNumber {
        IdNumber::compose("310101", date!(1990 - 03 - 07), sequence).unwrap()
    }

    fn phone(s: &str) -> Phone {
        Phone::parse(s).unwrap()
    }

    async fn registry(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("citizens.sqlite");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();
        for (id_number, name, phone, expires) in [
            (id(11), "张伟", "13812345678", "2036-05-01"),
            (id(24), "李娜", "13987654321", "9999-12-31"),
        ] {
            sqlx::query(
                "INSERT INTO citizens (id_number, name, phone, id_doc_expires) VALUES (?, ?, ?, ?)",
            )
            .bind(id_number.as_str())
            .bind(name)
            .bind(phone)
            .bind(expires)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
        path
    }

    #[tokio::test]
    async fn every_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = SandboxVerifier::open(registry(dir.path()).await)
            .await
            .unwrap();
        let check = |name: &'static str, id_number: IdNumber, p: &'static str| {
            let verifier = verifier.clone();
            async move { verifier.verify(name, &id_number, &phone(p)).await.unwrap() }
        };
        assert_eq!(
            check("张伟", id(11), "13812345678").await,
            IdentityVerdict::Verified
        );
        assert_eq!(
            check("李娜", id(24), "13987654321").await,
            IdentityVerdict::Verified
        );
        assert_eq!(
            check("张玮", id(11), "13812345678").await,
            IdentityVerdict::NameMismatch
        );
        assert_eq!(
            check("张伟 ", id(11), "13812345678").await,
            IdentityVerdict::NameMismatch
        );
        assert_eq!(
            check("李娜", id(11), "13812345678").await,
            IdentityVerdict::NameMismatch
        );
        assert_eq!(
            check("张伟", id(11), "13987654321").await,
            IdentityVerdict::PhoneNotOwned
        );
        assert_eq!(
            check("张伟", id(13), "13812345678").await,
            IdentityVerdict::Unknown
        );
    }

    #[tokio::test]
    async fn opens_read_only_and_never_creates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.sqlite");
        let err = SandboxVerifier::open(&missing).await.unwrap_err();
        assert!(matches!(err, IdentityError::Config(_)), "{err}");
        assert!(!missing.exists());

        let empty = dir.path().join("empty.sqlite");
        let pool = SqlitePoolOptions::new()
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&empty)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        sqlx::query("CREATE TABLE other (x)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let err = SandboxVerifier::open(&empty).await.unwrap_err();
        assert!(matches!(err, IdentityError::Config(_)), "{err}");

        let path = registry(dir.path()).await;
        let verifier = SandboxVerifier::open(&path).await.unwrap();
        let write = sqlx::query("DELETE FROM citizens")
            .execute(&verifier.pool)
            .await;
        assert!(write.is_err(), "the registry must be opened read-only");
    }
}
