//! Settling fan-out legs in PostgreSQL: the inquiry locks every finalising transaction takes
//! first, answers stored and legs marked in one statement per batch (arrays, `UNNEST`), fenced
//! actions one by one, and an inquiry's finalisation (state, retention, erasing the subject,
//! the one "report ready" outbox row). Used inside the ledger's transactions.

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
use sqlx::PgConnection;
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

/// Locks the rows of `inquiries` (sorted by id, so two transactions never wait on each other
/// in a cycle). Every transaction that can make a leg final calls this before touching legs:
/// then the one that makes an inquiry's last leg final sees every other leg as committed, and
/// exactly one of them finalises it.
pub(super) async fn lock_inquiries(
    conn: &mut PgConnection,
    inquiries: &[InquiryId],
) -> Result<(), StoreError> {
    if inquiries.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<String> = inquiries.iter().map(ToString::to_string).collect();
    ids.sort_unstable();
    ids.dedup();
    sqlx::query(
        "SELECT inquiry_id FROM inquiries WHERE inquiry_id = ANY($1) ORDER BY inquiry_id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_late(
    conn: &mut PgConnection,
    answer: &Answer,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let (outcome, _) = encode_outcome(answer)?;
    sqlx::query(
        "INSERT INTO late_answers (inquiry_id, bank, outcome, had_sealed, answered_at, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (inquiry_id, bank, answered_at) DO NOTHING",
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
/// its subject, and enqueues the one "report ready" SMS. `true` when it did. The caller holds
/// the inquiry's lock ([`lock_inquiries`]).
pub(super) async fn finalize_if_done(
    conn: &mut PgConnection,
    inquiry_id: &InquiryId,
    now: OffsetDateTime,
    retention: Duration,
) -> Result<bool, StoreError> {
    let id = inquiry_id.to_string();
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM legs WHERE inquiry_id = $1 AND state NOT IN ('answered', 'no_answer')",
    )
    .bind(&id)
    .fetch_one(&mut *conn)
    .await?;
    if open > 0 {
        return Ok(false);
    }
    let ready = ReadySms::new(&id, now, retention);
    let done = sqlx::query(
        "UPDATE inquiries SET state = 'final', finalized_at = $1, purge_after = $2, \
         subject_sealed = NULL WHERE inquiry_id = $3 AND state = 'open'",
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
        "INSERT INTO outbox (message_id, idempotency_key, account_id, phone_sealed, \
         template, params, lang, state, attempts, next_attempt_at, created_at) \
         SELECT $1, $2, a.account_id, a.phone_sealed, $3, $4, a.lang, 'pending', 0, $5, $5 \
         FROM inquiries i JOIN accounts a ON a.account_id = i.account_id WHERE i.inquiry_id = $6 \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&ready.message_id)
    .bind(&ready.idempotency_key)
    .bind(READY_TEMPLATE)
    .bind(&ready.params)
    .bind(fmt_time(now))
    .bind(&id)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE idempotency_key = $1")
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

/// Marks answered, in one statement, the legs of `answers` (indices into `settlements`) that
/// are still being sent under the settled attempt. Returns each index with whether it applied.
pub(super) async fn answer_legs(
    conn: &mut PgConnection,
    settlements: &[Settlement],
    answers: &[(usize, &Answer)],
    now: OffsetDateTime,
) -> Result<Vec<(usize, bool)>, StoreError> {
    if answers.is_empty() {
        return Ok(Vec::new());
    }
    let mut inquiries = Vec::with_capacity(answers.len());
    let mut banks = Vec::with_capacity(answers.len());
    let mut attempts = Vec::with_capacity(answers.len());
    for (i, _) in answers {
        let s = &settlements[*i];
        inquiries.push(s.key.inquiry_id.to_string());
        banks.push(s.key.bank.as_str().to_owned());
        attempts.push(s.attempt);
    }
    let now_s = fmt_time(now);
    let rows = sqlx::query(
        "UPDATE legs SET state = 'answered', answered_at = $4, finished_at = $4, last_error = NULL, \
         lease_owner = NULL, lease_expires_at = NULL \
         FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS k(i, b, a) \
         WHERE legs.inquiry_id = k.i AND legs.bank = k.b AND legs.attempt = k.a \
           AND legs.state = 'sending' \
         RETURNING legs.inquiry_id, legs.bank",
    )
    .bind(&inquiries)
    .bind(&banks)
    .bind(&attempts)
    .bind(&now_s)
    .fetch_all(&mut *conn)
    .await?;
    let mut hits: HashSet<(String, String)> = HashSet::with_capacity(rows.len());
    for row in &rows {
        hits.insert((row.text("inquiry_id")?, row.text("bank")?));
    }
    Ok(answers
        .iter()
        .zip(inquiries.into_iter().zip(banks))
        .map(|((i, _), key)| (*i, hits.contains(&key)))
        .collect())
}

/// Stores answers (sealed as received), a first answer per leg wins, in one statement.
pub(super) async fn insert_answers(
    conn: &mut PgConnection,
    answers: &[&Answer],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if answers.is_empty() {
        return Ok(());
    }
    let mut inquiries = Vec::with_capacity(answers.len());
    let mut banks = Vec::with_capacity(answers.len());
    let mut outcomes = Vec::with_capacity(answers.len());
    let mut sealed = Vec::with_capacity(answers.len());
    let mut answered = Vec::with_capacity(answers.len());
    for a in answers {
        let (outcome, list) = encode_outcome(a)?;
        inquiries.push(a.inquiry_id.to_string());
        banks.push(a.bank.as_str().to_owned());
        outcomes.push(outcome);
        sealed.push(list);
        answered.push(fmt_time(a.answered_at));
    }
    sqlx::query(
        "INSERT INTO answers (inquiry_id, bank, outcome, sealed, answered_at, received_at) \
         SELECT i, b, o, s, t, $6 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], \
           $5::text[]) AS k(i, b, o, s, t) \
         ON CONFLICT (inquiry_id, bank) DO NOTHING",
    )
    .bind(&inquiries)
    .bind(&banks)
    .bind(&outcomes)
    .bind(&sealed)
    .bind(&answered)
    .bind(fmt_time(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Those of `inquiries` whose legs are all final, in one statement.
pub(super) async fn all_legs_final(
    conn: &mut PgConnection,
    inquiries: &[InquiryId],
) -> Result<Vec<InquiryId>, StoreError> {
    if inquiries.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = inquiries.iter().map(ToString::to_string).collect();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT j FROM UNNEST($1::text[]) AS j WHERE NOT EXISTS ( \
           SELECT 1 FROM legs WHERE legs.inquiry_id = j \
             AND legs.state NOT IN ('answered', 'no_answer'))",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|id| InquiryId::parse(id).map_err(|_| StoreError::Corrupt("inquiry id")))
        .collect()
}

/// Applies one fenced action other than an answer: `Some(true)` when the leg was ours and
/// changed. Answers are settled in bulk ([`answer_legs`], [`insert_answers`]): `None`.
pub(super) async fn apply(
    conn: &mut PgConnection,
    s: &Settlement,
    now: OffsetDateTime,
) -> Result<Option<bool>, StoreError> {
    /// An UPDATE of one leg, fenced by its attempt and the leg still being sent; the action's
    /// own values are `$4` and `$5`.
    macro_rules! fenced {
        ($set:literal) => {
            concat!(
                "UPDATE legs SET ",
                $set,
                ", lease_owner = NULL, lease_expires_at = NULL \
                 WHERE inquiry_id = $1 AND bank = $2 AND attempt = $3 AND state = 'sending'"
            )
        };
    }
    let (sql, values): (&'static str, Vec<String>) = match &s.action {
        LegAction::Answer(_) => return Ok(None),
        LegAction::Retry { at, error } => (
            fenced!("state = 'pending', next_attempt_at = $4, last_error = $5"),
            vec![fmt_time(*at), error_text(error)],
        ),
        LegAction::AwaitCallback { reask_at } => (
            fenced!("state = 'awaiting_callback', next_attempt_at = $4, last_error = NULL"),
            vec![fmt_time(*reask_at)],
        ),
        LegAction::Release => (
            fenced!("state = 'pending', next_attempt_at = $4"),
            vec![fmt_time(now)],
        ),
        LegAction::GiveUp { error } => (
            fenced!("state = 'no_answer', finished_at = $4, last_error = $5"),
            vec![fmt_time(now), error_text(error)],
        ),
    };
    let mut query = sqlx::query(sql)
        .bind(s.key.inquiry_id.to_string())
        .bind(s.key.bank.as_str())
        .bind(s.attempt);
    for value in values {
        query = query.bind(value);
    }
    let done = query.execute(&mut *conn).await?;
    Ok(Some(done.rows_affected() == 1))
}

/// The state, suite and deadline of a leg.
pub(super) async fn leg_for_callback(
    conn: &mut PgConnection,
    key: &LegKey,
) -> Result<Option<(LegState, Suite, OffsetDateTime)>, StoreError> {
    sqlx::query("SELECT state, suite, deadline FROM legs WHERE inquiry_id = $1 AND bank = $2")
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
    conn: &mut PgConnection,
    key: &LegKey,
    answered: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let query = if answered {
        sqlx::query(
            "UPDATE legs SET state = 'answered', answered_at = $1, finished_at = $1, \
             last_error = NULL, lease_owner = NULL, lease_expires_at = NULL \
             WHERE inquiry_id = $2 AND bank = $3",
        )
    } else {
        sqlx::query(
            "UPDATE legs SET state = 'no_answer', finished_at = $1, lease_owner = NULL, \
             lease_expires_at = NULL WHERE inquiry_id = $2 AND bank = $3",
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

ledger_sql_by_functions!(PgConnection);
