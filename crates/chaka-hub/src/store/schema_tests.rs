//! The two migration trees describe one schema: the same versions and names, and, applied, the
//! same tables, columns (names and nullability), primary keys, unique constraints, named
//! indexes (names, columns, uniqueness, the values a partial index keeps), foreign keys and
//! number of CHECK constraints, read back from each database's catalogue.

use super::postgres::scratch::{ScratchDatabase, test_server};
use super::postgres::{self, PgStore};
use super::rows::Fields;
use super::sqlite::{self, SqliteStore};
use std::collections::BTreeSet;

/// One fact about the schema, as text (`column accounts.lang not null`).
type Facts = BTreeSet<String>;

/// A partial index's condition as the sorted values it names (`where (pending, sending)`),
/// which reads the same from SQLite's `CREATE INDEX` text and PostgreSQL's `pg_get_expr`
/// (`state = ANY (ARRAY['pending'::text, …])`); empty for a full index.
fn partial_fact(condition: Option<&str>) -> String {
    let Some(condition) = condition else {
        return String::new();
    };
    let mut values: Vec<&str> = condition.split('\'').skip(1).step_by(2).collect();
    values.sort_unstable();
    format!(" where ({})", values.join(", "))
}

fn column_fact(table: &str, column: &str, nullable: bool) -> String {
    let null = if nullable { "nullable" } else { "not null" };
    format!("column {table}.{column} {null}")
}

async fn sqlite_facts(store: &SqliteStore) -> Facts {
    let pool = store.pool();
    let mut facts = Facts::new();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (table, sql) in tables {
        facts.insert(format!("table {table}"));
        facts.insert(format!("checks {table} {}", sql.matches("CHECK (").count()));
        let columns = sqlx::query("SELECT name, \"notnull\", pk FROM pragma_table_info(?)")
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
        let mut primary: Vec<(i64, String)> = Vec::new();
        for c in &columns {
            let (name, pk) = (c.text("name").unwrap(), c.int("pk").unwrap());
            // A primary key column is never NULL in PostgreSQL; SQLite reports it nullable
            // unless declared NOT NULL (it would even store a NULL key), so both are compared
            // as the declared intent: not null.
            let nullable = c.int("notnull").unwrap() == 0 && pk == 0;
            facts.insert(column_fact(&table, &name, nullable));
            if pk > 0 {
                primary.push((pk, name));
            }
        }
        primary.sort();
        let primary: Vec<String> = primary.into_iter().map(|(_, n)| n).collect();
        facts.insert(format!("primary key {table} ({})", primary.join(", ")));
        // A partial index's condition is only in its CREATE INDEX text.
        let indexes = sqlx::query(
            "SELECT l.name, l.\"unique\", l.origin, m.sql AS partial_sql \
             FROM pragma_index_list(?) AS l LEFT JOIN sqlite_master AS m \
               ON l.partial = 1 AND m.type = 'index' AND m.name = l.name",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        for index in &indexes {
            let name = index.text("name").unwrap();
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            let columns = columns.join(", ");
            match index.text("origin").unwrap().as_str() {
                "pk" => {}
                "u" => {
                    facts.insert(format!("unique {table} ({columns})"));
                }
                _ => {
                    let unique = if index.int("unique").unwrap() == 1 {
                        " unique"
                    } else {
                        ""
                    };
                    let sql = index.opt_text("partial_sql").unwrap();
                    let condition = sql.as_deref().and_then(|s| s.split_once(" WHERE "));
                    let partial = partial_fact(condition.map(|(_, c)| c));
                    facts.insert(format!(
                        "index {name} on {table} ({columns}){unique}{partial}"
                    ));
                }
            }
        }
        let keys = sqlx::query(
            "SELECT id, \"table\" AS target, \"from\" AS source, \"to\" AS referenced \
             FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut grouped: Vec<(i64, String, Vec<String>, Vec<String>)> = Vec::new();
        for key in &keys {
            let id = key.int("id").unwrap();
            if grouped.last().is_none_or(|g| g.0 != id) {
                grouped.push((id, key.text("target").unwrap(), Vec::new(), Vec::new()));
            }
            if let Some(last) = grouped.last_mut() {
                last.2.push(key.text("source").unwrap());
                last.3.push(key.text("referenced").unwrap());
            }
        }
        for (_, target, from, to) in grouped {
            facts.insert(foreign_key(&table, &from, &target, &to));
        }
    }
    facts
}

fn foreign_key(table: &str, from: &[String], target: &str, to: &[String]) -> String {
    format!(
        "foreign key {table} ({}) references {target} ({})",
        from.join(", "),
        to.join(", ")
    )
}

/// The names of the columns numbered `numbers` of `relation`, in order (SQL fragment).
const ATTNAMES: &str = "ARRAY(SELECT a.attname::text FROM unnest({numbers}) WITH ORDINALITY \
     AS k(n, o) JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.n ORDER BY k.o)";

fn attnames(numbers: &str, relation: &str) -> String {
    ATTNAMES
        .replace("{numbers}", numbers)
        .replace("{relation}", relation)
}

async fn postgres_facts(store: &PgStore) -> Facts {
    let pool = store.pool();
    let mut facts = Facts::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
         AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in tables {
        facts.insert(format!("table {table}"));
        let checks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'c' AND conrelid = $1::regclass",
        )
        .bind(&table)
        .fetch_one(pool)
        .await
        .unwrap();
        facts.insert(format!("checks {table} {checks}"));
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, is_nullable::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        for (name, nullable) in columns {
            facts.insert(column_fact(&table, &name, nullable == "YES"));
        }
        type Index = (String, bool, bool, bool, Vec<String>, Option<String>);
        let indexes: Vec<Index> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT i.relname::text, ix.indisunique, ix.indisprimary, \
                   EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid), {}, \
                   pg_get_expr(ix.indpred, ix.indrelid) \
                 FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
                 WHERE ix.indrelid = $1::regclass",
            attnames("ix.indkey::int2[]", "ix.indrelid")
        )))
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        for (name, unique, primary, constraint, columns, condition) in indexes {
            let columns = columns.join(", ");
            facts.insert(match (primary, constraint) {
                (true, _) => format!("primary key {table} ({columns})"),
                (false, true) => format!("unique {table} ({columns})"),
                (false, false) => {
                    let unique = if unique { " unique" } else { "" };
                    let partial = partial_fact(condition.as_deref());
                    format!("index {name} on {table} ({columns}){unique}{partial}")
                }
            });
        }
        let keys: Vec<(String, Vec<String>, Vec<String>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT c.confrelid::regclass::text, {}, {} FROM pg_constraint c \
                 WHERE c.contype = 'f' AND c.conrelid = $1::regclass",
                attnames("c.conkey", "c.conrelid"),
                attnames("c.confkey", "c.confrelid")
            )))
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
        for (target, from, to) in keys {
            facts.insert(foreign_key(&table, &from, &target, &to));
        }
    }
    facts
}

#[test]
fn both_trees_have_the_same_versions_and_names() {
    let names = |m: &sqlx::migrate::Migrator| -> Vec<(i64, String)> {
        m.iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    };
    let sqlite = names(&sqlite::MIGRATOR);
    assert!(sqlite.len() >= 2, "{sqlite:?}");
    assert_eq!(sqlite, names(&postgres::MIGRATOR));
}

#[tokio::test]
async fn both_trees_produce_the_same_schema() {
    let Some(server) = test_server() else {
        println!(
            "skipped: {} is not set",
            postgres::scratch::TEST_DATABASE_URL
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("hub.sqlite"))
        .await
        .unwrap();
    let scratch = ScratchDatabase::create(&server).await.unwrap();
    let pg = PgStore::connect(scratch.url()).await.unwrap();
    let (left, right) = (sqlite_facts(&sqlite).await, postgres_facts(&pg).await);
    assert!(left.contains(
        "index legs_due on legs (bank, next_attempt_at) where (awaiting_callback, pending)"
    ));
    assert!(left.contains("index legs_leases on legs (bank, lease_expires_at) where (sending)"));
    assert!(left.contains("unique accounts (id_index)"));
    assert!(
        left.contains("foreign key answers (inquiry_id, bank) references legs (inquiry_id, bank)")
    );
    let only_sqlite: Vec<&String> = left.difference(&right).collect();
    let only_postgres: Vec<&String> = right.difference(&left).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_postgres:#?}"
    );
    pg.pool().close().await;
    scratch.remove().await.unwrap();
}
