//! The ledger's settlement and callback steps, written once for both backends: what a batch of
//! settlements and a bank's callback do to legs, answers and inquiries, in order, inside the
//! caller's transaction. The statements themselves are each backend's own ([`LedgerSql`],
//! implemented for SQLite's and PostgreSQL's connections); the order and the rules are here.

use super::StoreError;
use super::ledger::{
    CallbackOutcome, CallbackRecord, CallbackStep, LegKey, LegState, Settled, Settlement,
    answer_fits, answers_of, callback_step, finalising, settled,
};
use async_trait::async_trait;
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::message::Answer;
use chaka_protocol::suite::Suite;
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

/// The ledger statements a settlement or a callback runs, on one connection in a transaction.
#[async_trait]
pub(crate) trait LedgerSql: Send {
    /// Marks answered the legs of `answers` (indices into `settlements`) still being sent
    /// under the settled attempt; each index with whether it applied.
    async fn answer_legs(
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
    /// Those of `inquiries` whose legs are all final.
    async fn all_legs_final(
        &mut self,
        inquiries: &[InquiryId],
    ) -> Result<Vec<InquiryId>, StoreError>;
    /// Makes the inquiry final with its one "ready" SMS if every leg is final; `true` if so.
    async fn finalize_if_done(
        &mut self,
        inquiry: &InquiryId,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<bool, StoreError>;
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
/// actions one by one, then the inquiries whose last leg became final are finalised.
pub(crate) async fn settle_in(
    conn: &mut impl LedgerSql,
    settlements: &[Settlement],
    now: OffsetDateTime,
    retention: Duration,
) -> Result<Vec<Settled>, StoreError> {
    let answers = answers_of(settlements);
    let mut applied = vec![false; settlements.len()];
    for (i, ok) in conn.answer_legs(settlements, &answers, now).await? {
        applied[i] = ok;
    }
    let stored: Vec<&Answer> = answers
        .iter()
        .filter(|(i, _)| applied[*i])
        .map(|(_, a)| *a)
        .collect();
    conn.insert_answers(&stored, now).await?;
    for (i, s) in settlements.iter().enumerate() {
        if let Some(ok) = conn.apply(s, now).await? {
            applied[i] = ok;
        }
    }
    // The inquiries whose leg became final here may now be final themselves.
    let touched = finalising(settlements, &applied);
    let mut finalized = HashSet::new();
    for id in conn.all_legs_final(&touched).await? {
        if conn.finalize_if_done(&id, now, retention).await? {
            finalized.insert(id);
        }
    }
    Ok(settled(settlements, &applied, &finalized))
}

/// Records a callback's answers from `bank`; anything but [`CallbackRecord::Recorded`] means
/// the caller must roll the transaction back (all or nothing).
pub(crate) async fn record_callback_in(
    conn: &mut impl LedgerSql,
    bank: &BankCode,
    answers: &[Answer],
    now: OffsetDateTime,
    retention: Duration,
) -> Result<CallbackRecord, StoreError> {
    let mut outcomes = Vec::with_capacity(answers.len());
    for answer in answers {
        let id = answer.inquiry_id;
        if &answer.bank != bank {
            return Ok(CallbackRecord::UnknownLeg(id));
        }
        let key = LegKey {
            inquiry_id: id,
            bank: bank.clone(),
        };
        let Some((state, suite, deadline)) = conn.leg_for_callback(&key).await? else {
            return Ok(CallbackRecord::UnknownLeg(id));
        };
        if !answer_fits(answer, suite) {
            return Ok(CallbackRecord::InvalidAnswer(id));
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
                conn.finalize_if_done(&id, now, retention).await?;
                CallbackOutcome::Late
            }
            // Not an answer yet: the leg stays open and is asked again.
            CallbackStep::Defer => CallbackOutcome::Deferred,
            CallbackStep::Record => {
                conn.close_leg(&key, true, now).await?;
                conn.insert_answers(&[answer], now).await?;
                let inquiry_final = conn.finalize_if_done(&id, now, retention).await?;
                CallbackOutcome::Recorded { inquiry_final }
            }
        };
        outcomes.push((id, outcome));
    }
    Ok(CallbackRecord::Recorded(outcomes))
}

/// Implements [`LedgerSql`] for a backend's connection type by its settle module's functions
/// of the same names (each taking the connection first).
macro_rules! ledger_sql_by_functions {
    ($conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::settlement::LedgerSql for $conn {
            async fn answer_legs(
                &mut self,
                settlements: &[$crate::store::ledger::Settlement],
                answers: &[(usize, &chaka_protocol::message::Answer)],
                now: time::OffsetDateTime,
            ) -> Result<Vec<(usize, bool)>, $crate::store::StoreError> {
                answer_legs(self, settlements, answers, now).await
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
            async fn all_legs_final(
                &mut self,
                inquiries: &[chaka_core::InquiryId],
            ) -> Result<Vec<chaka_core::InquiryId>, $crate::store::StoreError> {
                all_legs_final(self, inquiries).await
            }
            async fn finalize_if_done(
                &mut self,
                inquiry: &chaka_core::InquiryId,
                now: time::OffsetDateTime,
                retention: time::Duration,
            ) -> Result<bool, $crate::store::StoreError> {
                finalize_if_done(self, inquiry, now, retention).await
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
