//! Settling fan-out legs in SQL: answers stored and legs marked in a few statements per
//! batch, fenced actions one by one, and an inquiry's finalisation (state, retention, erasing
//! the subject, the one "report ready" outbox row). Used inside the ledger's transactions.

use crate::store::ledger::{
    LegAction, READY_TEMPLATE, ReadySms, Settlement, encode_outcome, error_text,
};
use crate::store::ledger::{LegKey, LegState};
use crate::store::rows::Fields;
use crate::store::settlement::{ledger_sql_by_functions, leg_for_callback_from};
use crate::store::{StoreError, fmt_time};
use chaka_core::InquiryId;
use chaka_protocol::message::Answer;
use chaka_protocol::suite::Suite;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

/// Finalises those of `inquiries` whose legs are all final (each with its one "ready" SMS),
/// in the caller's transaction: SQLite's one writer runs every finalising transaction alone,
/// so the one that makes an inquiry's last leg final sees every other leg. Returns those it
/// made final.
pub(super) async fn finalize_done(
    conn: &mut SqliteConnection,
    inquiries: &[InquiryId],
    now: OffsetDateTime,
    retention: Duration,
) -> Result<HashSet<InquiryId>, StoreError> {
    let mut finalized = HashSet::new();
    for id in all_legs_final(conn, inquiries).await? {
        if finalize_if_done(conn, &id, now, retention).await? {
            finalized.insert(id);
        }
    }
    Ok(finalized)
}

pub(super) async fn insert_late(
    conn: &mut SqliteConnection,
    answer: &Answer,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let (outcome, _) = encode_outcome(answer)?;
    sqlx::query(
        "INSERT OR IGNORE INTO late_answers (inquiry_id, bank, outcome, had_sealed, answered_at, \
         received_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(answer.inquiry_id.to_string())
    .bind(answer.bank.as_str())
    .bind(outcome)
    .bind(i64::from(answer.sealed.is_some()))
    .bind(fmt_time(answer.answered_at))
    .bind(fmt_time(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// If every leg of the inquiry is final and the inquiry is still open: makes it final, erases
/// its subject, and enqueues the one "report ready" SMS. `true` when it did.
async fn finalize_if_done(
    conn: &mut SqliteConnection,
    inquiry_id: &InquiryId,
    now: OffsetDateTime,
    retention: Duration,
) -> Result<bool, StoreError> {
    let id = inquiry_id.to_string();
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM legs WHERE inquiry_id = ? AND state NOT IN ('answered', 'no_answer')",
    )
    .bind(&id)
    .fetch_one(&mut *conn)
    .await?;
    if open > 0 {
        return Ok(false);
    }
    let ready = ReadySms::new(&id, now, retention);
    let done = sqlx::query(
        "UPDATE inquiries SET state = 'final', finalized_at = ?, purge_after = ?, \
         subject_sealed = NULL WHERE inquiry_id = ? AND state = 'open'",
    )
    .bind(fmt_time(now))
    .bind(fmt_time(ready.purge_after))
    .bind(&id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let inserted = sqlx::query(
        "INSERT OR IGNORE INTO outbox (message_id, idempotency_key, account_id, phone_sealed, \
         template, params, lang, state, attempts, next_attempt_at, created_at) \
         SELECT ?, ?, a.account_id, a.phone_sealed, ?, ?, a.lang, 'pending', 0, ?, ? \
         FROM inquiries i JOIN accounts a ON a.account_id = i.account_id WHERE i.inquiry_id = ?",
    )
    .bind(&ready.message_id)
    .bind(&ready.idempotency_key)
    .bind(READY_TEMPLATE)
    .bind(&ready.params)
    .bind(fmt_time(now))
    .bind(fmt_time(now))
    .bind(&id)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE idempotency_key = ?")
                .bind(&ready.idempotency_key)
                .fetch_one(&mut *conn)
                .await?;
        if exists == 0 {
            // Never make a report final without its SMS: roll the whole change back.
            return Err(StoreError::Corrupt("inquiry without its account"));
        }
    }
    Ok(true)
}

/// Marks answered the legs of `answers` (indices into `settlements`) still being sent under
/// the settled attempt, then stores the answers of those. Each index with whether it applied.
pub(super) async fn answer_and_store(
    conn: &mut SqliteConnection,
    settlements: &[Settlement],
    answers: &[(usize, &Answer)],
    now: OffsetDateTime,
) -> Result<Vec<(usize, bool)>, StoreError> {
    let hits = answer_legs(conn, settlements, answers, now).await?;
    let stored: Vec<&Answer> = answers
        .iter()
        .zip(&hits)
        .filter(|(_, (_, ok))| *ok)
        .map(|((_, a), _)| *a)
        .collect();
    insert_answers(conn, &stored, now).await?;
    Ok(hits)
}

/// Marks answered, in one statement, the legs of `answers` (indices into `settlements`) that
/// are still being sent under the settled attempt. Returns each index with whether it applied.
async fn answer_legs(
    conn: &mut SqliteConnection,
    settlements: &[Settlement],
    answers: &[(usize, &Answer)],
    now: OffsetDateTime,
) -> Result<Vec<(usize, bool)>, StoreError> {
    if answers.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<(String, &str, i64)> = answers
        .iter()
        .map(|(i, _)| {
            let s = &settlements[*i];
            (s.key.inquiry_id.to_string(), s.key.bank.as_str(), s.attempt)
        })
        .collect();
    let now_s = fmt_time(now);
    let mut hits: HashSet<(String, String)> = HashSet::with_capacity(keys.len());
    // A VALUES list joined to the legs through their primary key (a `json_each` source here
    // would be scanned once per leg being sent).
    for chunk in keys.chunks(128) {
        let mut update: QueryBuilder<Sqlite> = QueryBuilder::new("WITH k(i, b, a) AS (");
        update.push_values(chunk, |mut row, (inquiry, bank, attempt)| {
            row.push_bind(inquiry.as_str())
                .push_bind(*bank)
                .push_bind(*attempt);
        });
        update
            .push(") UPDATE legs SET state = 'answered', answered_at = ")
            .push_bind(&now_s)
            .push(", finished_at = ")
            .push_bind(&now_s)
            .push(
                ", last_error = NULL, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE rowid IN (SELECT legs.rowid FROM k JOIN legs \
                   ON legs.inquiry_id = k.i AND legs.bank = k.b \
                   WHERE legs.attempt = k.a AND legs.state = 'sending') \
                 RETURNING inquiry_id, bank",
            );
        for row in update.build().fetch_all(&mut *conn).await? {
            hits.insert((row.text("inquiry_id")?, row.text("bank")?));
        }
    }
    Ok(answers
        .iter()
        .zip(keys)
        .map(|((i, _), (inquiry, bank, _))| (*i, hits.contains(&(inquiry, bank.to_owned()))))
        .collect())
}

/// Stores answers (sealed as received), a first answer per leg wins; in as few statements as
/// the bind limit allows.
pub(super) async fn insert_answers(
    conn: &mut SqliteConnection,
    answers: &[&Answer],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    const ROWS: usize = 128;
    let now_s = fmt_time(now);
    for chunk in answers.chunks(ROWS) {
        let rows = chunk
            .iter()
            .map(|a| encode_outcome(a).map(|(outcome, sealed)| (*a, outcome, sealed)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR IGNORE INTO answers (inquiry_id, bank, outcome, sealed, answered_at, \
             received_at) ",
        );
        insert.push_values(rows, |mut row, (answer, outcome, sealed)| {
            row.push_bind(answer.inquiry_id.to_string())
                .push_bind(answer.bank.as_str().to_owned())
                .push_bind(outcome)
                .push_bind(sealed)
                .push_bind(fmt_time(answer.answered_at))
                .push_bind(now_s.clone());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Those of `inquiries` whose legs are all final, in one statement.
async fn all_legs_final(
    conn: &mut SqliteConnection,
    inquiries: &[InquiryId],
) -> Result<Vec<InquiryId>, StoreError> {
    if inquiries.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = inquiries.iter().map(ToString::to_string).collect();
    let ids = serde_json::to_string(&ids).map_err(|_| StoreError::Corrupt("inquiry ids"))?;
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT j.value FROM json_each(?) AS j WHERE NOT EXISTS ( \
           SELECT 1 FROM legs WHERE legs.inquiry_id = j.value \
             AND legs.state NOT IN ('answered', 'no_answer'))",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|id| InquiryId::parse(id).map_err(|_| StoreError::Corrupt("inquiry id")))
        .collect()
}

/// Applies one fenced action other than an answer: `Some(true)` when the leg was ours and
/// changed. Answers are settled in bulk ([`answer_and_store`]): `None`.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    s: &Settlement,
    now: OffsetDateTime,
) -> Result<Option<bool>, StoreError> {
    /// An UPDATE of one leg, fenced by its attempt and the leg still being sent.
    macro_rules! fenced {
        ($set:literal) => {
            concat!(
                "UPDATE legs SET ",
                $set,
                ", lease_owner = NULL, lease_expires_at = NULL \
                 WHERE inquiry_id = ? AND bank = ? AND attempt = ? AND state = 'sending'"
            )
        };
    }
    let now_s = fmt_time(now);
    let query = match &s.action {
        LegAction::Answer(_) => return Ok(None),
        LegAction::Retry { at, error } => sqlx::query(fenced!(
            "state = 'pending', next_attempt_at = ?, last_error = ?"
        ))
        .bind(fmt_time(*at))
        .bind(error_text(error)),
        LegAction::AwaitCallback { reask_at } => sqlx::query(fenced!(
            "state = 'awaiting_callback', next_attempt_at = ?, last_error = NULL"
        ))
        .bind(fmt_time(*reask_at)),
        LegAction::Release => {
            sqlx::query(fenced!("state = 'pending', next_attempt_at = ?")).bind(now_s)
        }
        LegAction::GiveUp { error } => sqlx::query(fenced!(
            "state = 'no_answer', finished_at = ?, last_error = ?"
        ))
        .bind(now_s)
        .bind(error_text(error)),
    };
    let done = query
        .bind(s.key.inquiry_id.to_string())
        .bind(s.key.bank.as_str())
        .bind(s.attempt)
        .execute(&mut *conn)
        .await?;
    Ok(Some(done.rows_affected() == 1))
}

/// The state, suite and deadline of a leg.
pub(super) async fn leg_for_callback(
    conn: &mut SqliteConnection,
    key: &LegKey,
) -> Result<Option<(LegState, Suite, OffsetDateTime)>, StoreError> {
    sqlx::query("SELECT state, suite, deadline FROM legs WHERE inquiry_id = ? AND bank = ?")
        .bind(key.inquiry_id.to_string())
        .bind(key.bank.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(leg_for_callback_from)
        .transpose()
}

/// Makes an open leg final: `answered` or `no_answer`.
pub(super) async fn close_leg(
    conn: &mut SqliteConnection,
    key: &LegKey,
    answered: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let query = if answered {
        sqlx::query(
            "UPDATE legs SET state = 'answered', answered_at = ?1, finished_at = ?1, \
             last_error = NULL, lease_owner = NULL, lease_expires_at = NULL \
             WHERE inquiry_id = ?2 AND bank = ?3",
        )
    } else {
        sqlx::query(
            "UPDATE legs SET state = 'no_answer', finished_at = ?1, lease_owner = NULL, \
             lease_expires_at = NULL WHERE inquiry_id = ?2 AND bank = ?3",
        )
    };
    query
        .bind(fmt_time(now))
        .bind(key.inquiry_id.to_string())
        .bind(key.bank.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

ledger_sql_by_functions!(SqliteConnection);
