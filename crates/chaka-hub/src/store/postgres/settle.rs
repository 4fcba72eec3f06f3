//! Settling fan-out legs in PostgreSQL: answers stored and legs marked in one statement per
//! batch (arrays, `UNNEST`), fenced actions one by one, and the finalisation of the inquiries
//! whose legs are all final (state, retention, erasing the subject, the one "report ready"
//! outbox row) in one statement, in the transaction after the legs'. Used inside the ledger's
//! transactions.

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

/// Finalises, in one statement (its own transaction when `conn` is not in one), those of
/// `inquiries` whose legs are all final and that are still open: state, retention, the subject
/// erased, and the one "report ready" SMS each. Returns those it made final.
///
/// Run it *after* the transaction that changed the legs has committed (no lock on the inquiry
/// is held while legs are settled, so the settlements of an inquiry's 14 banks do not queue
/// behind each other). Exactly once: of the transactions that make an inquiry's legs final,
/// the last to commit sees every leg final when it runs this (its statement starts after every
/// commit), so at least one finalises; and when two run it at once, the second waits for the
/// first's row lock, then finds the row no longer `open` and leaves it. Only the inquiries
/// ready to be final are locked, in id order, so two finalisations of overlapping sets never
/// wait on each other in a cycle. An inquiry is ready only with its account (whose row gives
/// the SMS its phone), so every inquiry made final gets its SMS row in the same statement: the
/// insert can only meet an existing row of the same key, i.e. the same SMS. A crash between
/// the two transactions leaves the inquiry open with every leg final, which [`stranded`]
/// finds.
pub(super) async fn finalize_done(
    conn: &mut PgConnection,
    inquiries: &[InquiryId],
    now: OffsetDateTime,
    retention: Duration,
) -> Result<HashSet<InquiryId>, StoreError> {
    if inquiries.is_empty() {
        return Ok(HashSet::new());
    }
    let (mut ids, mut messages, mut keys, mut params) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in inquiries {
        let id = id.to_string();
        let ready = ReadySms::new(&id, now, retention);
        ids.push(id);
        messages.push(ready.message_id);
        keys.push(ready.idempotency_key);
        params.push(ready.params);
    }
    let rows: Vec<String> = sqlx::query_scalar(
        "WITH k AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
           AS k(i, mid, key, params)), \
         ready AS MATERIALIZED ( \
           SELECT i.inquiry_id FROM inquiries i JOIN accounts a ON a.account_id = i.account_id \
           WHERE i.inquiry_id = ANY($1) AND i.state = 'open' AND NOT EXISTS (SELECT 1 FROM legs \
               WHERE legs.inquiry_id = i.inquiry_id AND legs.state NOT IN ('answered', 'no_answer')) \
           ORDER BY i.inquiry_id FOR UPDATE OF i), \
         done AS ( \
           UPDATE inquiries SET state = 'final', finalized_at = $5, purge_after = $6, \
             subject_sealed = NULL \
           FROM ready JOIN k ON k.i = ready.inquiry_id \
           WHERE inquiries.inquiry_id = ready.inquiry_id AND inquiries.state = 'open' \
           RETURNING inquiries.inquiry_id, inquiries.account_id, k.mid, k.key, k.params), \
         sms AS ( \
           INSERT INTO outbox (message_id, idempotency_key, account_id, phone_sealed, template, \
             params, lang, state, attempts, next_attempt_at, created_at) \
           SELECT done.mid, done.key, a.account_id, a.phone_sealed, $7, done.params, a.lang, \
             'pending', 0, $5, $5 \
           FROM done JOIN accounts a ON a.account_id = done.account_id \
           ON CONFLICT (idempotency_key) DO NOTHING) \
         SELECT inquiry_id FROM done",
    )
    .bind(&ids)
    .bind(&messages)
    .bind(&keys)
    .bind(&params)
    .bind(fmt_time(now))
    .bind(fmt_time(now + retention))
    .bind(READY_TEMPLATE)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|id| InquiryId::parse(id).map_err(|_| StoreError::Corrupt("inquiry id")))
        .collect()
}

/// Open inquiries whose legs are all final (left so by a crash between a settlement's commit
/// and its [`finalize_done`]), at most `limit`, for [`finalize_done`].
pub(super) async fn stranded(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<InquiryId>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT i.inquiry_id FROM inquiries i WHERE i.state = 'open' AND NOT EXISTS ( \
           SELECT 1 FROM legs WHERE legs.inquiry_id = i.inquiry_id \
             AND legs.state NOT IN ('answered', 'no_answer')) \
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    ids.iter()
        .map(|id| InquiryId::parse(id).map_err(|_| StoreError::Corrupt("inquiry id")))
        .collect()
}

/// Answers as the columns of an `UNNEST`: inquiry, bank, outcome, sealed list, answered at.
struct AnswerColumns {
    inquiries: Vec<String>,
    banks: Vec<String>,
    outcomes: Vec<String>,
    sealed: Vec<Option<Vec<u8>>>,
    answered: Vec<String>,
}

impl AnswerColumns {
    fn of<'a>(answers: impl ExactSizeIterator<Item = &'a Answer>) -> Result<Self, StoreError> {
        let n = answers.len();
        let mut columns = Self {
            inquiries: Vec::with_capacity(n),
            banks: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            sealed: Vec::with_capacity(n),
            answered: Vec::with_capacity(n),
        };
        for a in answers {
            let (outcome, list) = encode_outcome(a)?;
            columns.inquiries.push(a.inquiry_id.to_string());
            columns.banks.push(a.bank.as_str().to_owned());
            columns.outcomes.push(outcome);
            columns.sealed.push(list);
            columns.answered.push(fmt_time(a.answered_at));
        }
        Ok(columns)
    }
}

/// Marks answered the legs of `answers` still being sent under the settled attempt and stores
/// the answers of those, in one statement (so a settlement of answers only is one statement,
/// its own transaction when `conn` is not in one). Each index with whether it applied.
pub(super) async fn answer_and_store(
    conn: &mut PgConnection,
    settlements: &[Settlement],
    answers: &[(usize, &Answer)],
    now: OffsetDateTime,
) -> Result<Vec<(usize, bool)>, StoreError> {
    if answers.is_empty() {
        return Ok(Vec::new());
    }
    // An answer settles the leg it names (the fan-out's judge settles a leg only with the
    // answer of its inquiry and bank), so the answers' columns are the legs' keys too.
    let columns = AnswerColumns::of(answers.iter().map(|(_, a)| *a))?;
    let attempts: Vec<i64> = answers
        .iter()
        .map(|(i, _)| settlements[*i].attempt)
        .collect();
    // `(state = 'sending') IS TRUE` (state is NOT NULL: the same test) is not a condition an
    // index can serve, so each leg is found through its primary key. With a plain `state =
    // 'sending'` the planner, counting on few legs being sent, read every leg being sent
    // (and the dead index entries each claim and settlement leaves) through an index of the
    // state (legs_deadline, since schema part 4 legs_leases, which holds the legs being sent)
    // on every settlement: a cost growing with the legs in flight instead of the batch.
    let rows = sqlx::query(
        "WITH k AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], \
           $5::bytea[], $6::text[]) AS k(i, b, a, o, s, t)), \
         upd AS ( \
           UPDATE legs SET state = 'answered', answered_at = $7, finished_at = $7, \
             last_error = NULL, lease_owner = NULL, lease_expires_at = NULL \
           FROM k WHERE legs.inquiry_id = k.i AND legs.bank = k.b AND legs.attempt = k.a \
             AND (legs.state = 'sending') IS TRUE \
           RETURNING legs.inquiry_id, legs.bank), \
         ins AS ( \
           INSERT INTO answers (inquiry_id, bank, outcome, sealed, answered_at, received_at) \
           SELECT k.i, k.b, k.o, k.s, k.t, $7 FROM k \
             JOIN upd ON upd.inquiry_id = k.i AND upd.bank = k.b \
           ON CONFLICT (inquiry_id, bank) DO NOTHING) \
         SELECT inquiry_id, bank FROM upd",
    )
    .bind(&columns.inquiries)
    .bind(&columns.banks)
    .bind(&attempts)
    .bind(&columns.outcomes)
    .bind(&columns.sealed)
    .bind(&columns.answered)
    .bind(fmt_time(now))
    .fetch_all(&mut *conn)
    .await?;
    let mut hits: HashSet<(String, String)> = HashSet::with_capacity(rows.len());
    for row in &rows {
        hits.insert((row.text("inquiry_id")?, row.text("bank")?));
    }
    Ok(answers
        .iter()
        .zip(columns.inquiries.into_iter().zip(columns.banks))
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
    let columns = AnswerColumns::of(answers.iter().copied())?;
    sqlx::query(
        "INSERT INTO answers (inquiry_id, bank, outcome, sealed, answered_at, received_at) \
         SELECT i, b, o, s, t, $6 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], \
           $5::text[]) AS k(i, b, o, s, t) \
         ON CONFLICT (inquiry_id, bank) DO NOTHING",
    )
    .bind(&columns.inquiries)
    .bind(&columns.banks)
    .bind(&columns.outcomes)
    .bind(&columns.sealed)
    .bind(&columns.answered)
    .bind(fmt_time(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies one fenced action other than an answer: `Some(true)` when the leg was ours and
/// changed. Answers are settled in bulk ([`answer_and_store`]): `None`.
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
