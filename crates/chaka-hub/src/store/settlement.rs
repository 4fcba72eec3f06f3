//! The ledger's settlement and callback steps, written once for both backends: what a batch of
//! settlements and a bank's callback do to legs and answers, in order, inside the caller's
//! transaction, and which inquiries may have become final by it. Finalising those is each
//! backend's own step (SQLite: in the same transaction; PostgreSQL: in the next one, see
//! `postgres::settle::finalize_done`). The statements themselves are each backend's own
//! ([`LedgerSql`], implemented for SQLite's and PostgreSQL's connections); the order and the
//! rules are here.

use super::StoreError;
use super::ledger::{
    CallbackOutcome, CallbackRecord, CallbackStep, LegKey, LegState, Settlement, answer_fits,
    answers_of, callback_step, finalising,
};
use async_trait::async_trait;
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::message::Answer;
use chaka_protocol::suite::Suite;
use std::collections::HashSet;
use time::OffsetDateTime;

/// The ledger statements a settlement or a callback runs, on one connection in a transaction.
#[async_trait]
pub(crate) trait LedgerSql: Send {
    /// Marks answered the legs of `answers` (indices into `settlements`) still being sent
    /// under the settled attempt and stores the answers of those, the first per leg winning;
    /// each index with whether it applied.
    async fn answer_and_store(
        &mut self,
        settlements: &[Settlement],
        answers: &[(usize, &Answer)],
        now: OffsetDateTime,
    ) -> Result<Vec<(usize, bool)>, StoreError>;
    /// Stores answers, the first per leg winning.
    async fn insert_answers(
        &mut self,
        answers: &[&Answer],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Applies one fenced action other than an answer (`None` for an answer).
    async fn apply(
        &mut self,
        settlement: &Settlement,
        now: OffsetDateTime,
    ) -> Result<Option<bool>, StoreError>;
    /// The state, suite and deadline of a leg.
    async fn leg_for_callback(
        &mut self,
        key: &LegKey,
    ) -> Result<Option<(LegState, Suite, OffsetDateTime)>, StoreError>;
    /// Makes an open leg final: `answered` (its answer is stored apart) or `no_answer`.
    async fn close_leg(
        &mut self,
        key: &LegKey,
        answered: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Keeps an answer that came after its leg was final.
    async fn insert_late(&mut self, answer: &Answer, now: OffsetDateTime)
    -> Result<(), StoreError>;
}

/// Applies one batch of settlements, each fenced by its attempt: answers in bulk, other
/// actions one by one. Returns which settlements applied and the inquiries one of whose legs
/// became final here (each may now be final itself: the caller finalises them).
pub(crate) async fn settle_in(
    conn: &mut impl LedgerSql,
    settlements: &[Settlement],
    now: OffsetDateTime,
) -> Result<(Vec<bool>, Vec<InquiryId>), StoreError> {
    let answers = answers_of(settlements);
    let mut applied = vec![false; settlements.len()];
    for (i, ok) in conn.answer_and_store(settlements, &answers, now).await? {
        applied[i] = ok;
    }
    for (i, s) in settlements.iter().enumerate() {
        if let Some(ok) = conn.apply(s, now).await? {
            applied[i] = ok;
        }
    }
    let touched = finalising(settlements, &applied);
    Ok((applied, touched))
}

/// Records a callback's answers from `bank`; anything but [`CallbackRecord::Recorded`] means
/// the caller must roll the transaction back (all or nothing). Returns the record (with
/// `inquiry_final` false: see [`mark_final`]) and the inquiries one of whose legs became final
/// here, for the caller to finalise (as after [`settle_in`]).
pub(crate) async fn record_callback_in(
    conn: &mut impl LedgerSql,
    bank: &BankCode,
    answers: &[Answer],
    now: OffsetDateTime,
) -> Result<(CallbackRecord, Vec<InquiryId>), StoreError> {
    let mut outcomes = Vec::with_capacity(answers.len());
    let mut closed = Vec::new();
    for answer in answers {
        let id = answer.inquiry_id;
        if &answer.bank != bank {
            return Ok((CallbackRecord::UnknownLeg(id), Vec::new()));
        }
        let key = LegKey {
            inquiry_id: id,
            bank: bank.clone(),
        };
        let Some((state, suite, deadline)) = conn.leg_for_callback(&key).await? else {
            return Ok((CallbackRecord::UnknownLeg(id), Vec::new()));
        };
        if !answer_fits(answer, suite) {
            return Ok((CallbackRecord::InvalidAnswer(id), Vec::new()));
        }
        let outcome = match callback_step(state, deadline <= now, answer) {
            CallbackStep::Duplicate => CallbackOutcome::Duplicate,
            CallbackStep::Late => {
                conn.insert_late(answer, now).await?;
                CallbackOutcome::Late
            }
            CallbackStep::ExpireThenLate => {
                conn.close_leg(&key, false, now).await?;
                conn.insert_late(answer, now).await?;
                if !closed.contains(&id) {
                    closed.push(id);
                }
                CallbackOutcome::Late
            }
            // Not an answer yet: the leg stays open and is asked again.
            CallbackStep::Defer => CallbackOutcome::Deferred,
            CallbackStep::Record => {
                conn.close_leg(&key, true, now).await?;
                conn.insert_answers(&[answer], now).await?;
                if !closed.contains(&id) {
                    closed.push(id);
                }
                CallbackOutcome::Recorded {
                    inquiry_final: false,
                }
            }
        };
        outcomes.push((id, outcome));
    }
    Ok((CallbackRecord::Recorded(outcomes), closed))
}

/// Marks, in a callback's record, the answers whose inquiry became final.
pub(crate) fn mark_final(record: &mut CallbackRecord, finalized: &HashSet<InquiryId>) {
    if let CallbackRecord::Recorded(outcomes) = record {
        for (id, outcome) in outcomes {
            if let CallbackOutcome::Recorded { inquiry_final } = outcome {
                *inquiry_final = finalized.contains(id);
            }
        }
    }
}

/// Implements [`LedgerSql`] for a backend's connection type by its settle module's functions
/// of the same names (each taking the connection first).
macro_rules! ledger_sql_by_functions {
    ($conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::settlement::LedgerSql for $conn {
            async fn answer_and_store(
                &mut self,
                settlements: &[$crate::store::ledger::Settlement],
                answers: &[(usize, &chaka_protocol::message::Answer)],
                now: time::OffsetDateTime,
            ) -> Result<Vec<(usize, bool)>, $crate::store::StoreError> {
                answer_and_store(self, settlements, answers, now).await
            }
            async fn insert_answers(
                &mut self,
                answers: &[&chaka_protocol::message::Answer],
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                insert_answers(self, answers, now).await
            }
            async fn apply(
                &mut self,
                settlement: &$crate::store::ledger::Settlement,
                now: time::OffsetDateTime,
            ) -> Result<Option<bool>, $crate::store::StoreError> {
                apply(self, settlement, now).await
            }
            async fn leg_for_callback(
                &mut self,
                key: &$crate::store::ledger::LegKey,
            ) -> Result<
                Option<(
                    $crate::store::ledger::LegState,
                    chaka_protocol::suite::Suite,
                    time::OffsetDateTime,
                )>,
                $crate::store::StoreError,
            > {
                leg_for_callback(self, key).await
            }
            async fn close_leg(
                &mut self,
                key: &$crate::store::ledger::LegKey,
                answered: bool,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                close_leg(self, key, answered, now).await
            }
            async fn insert_late(
                &mut self,
                answer: &chaka_protocol::message::Answer,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                insert_late(self, answer, now).await
            }
        }
    };
}
pub(crate) use ledger_sql_by_functions;

/// A leg's state, suite and deadline from a row of `state, suite, deadline`.
pub(crate) fn leg_for_callback_from(
    row: &impl super::rows::Fields,
) -> Result<(LegState, Suite, OffsetDateTime), StoreError> {
    Ok((
        super::rows::state_of(row)?,
        super::rows::suite_of(row)?,
        row.time("deadline")?,
    ))
}
