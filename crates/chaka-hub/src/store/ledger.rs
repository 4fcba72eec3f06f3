//! The fan-out ledger: one leg per inquiry × bank, which is also the job queue. Workers claim
//! due legs with short leases; every change a worker makes is fenced by the leg's `attempt`
//! (bumped by each claim), so a worker whose lease expired and whose leg was claimed again
//! cannot overwrite the newer attempt. When the last leg of an inquiry becomes final, the same
//! transaction makes the inquiry final and enqueues exactly one "report ready" SMS.
//!
//! It stores banks' answers as the outcome and the sealed list only, never plaintext.

use super::StoreError;
use async_trait::async_trait;
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::keys::RecipientPublicKey;
use chaka_protocol::message::Answer;
use chaka_protocol::suite::Suite;
use time::{Duration, OffsetDateTime};

/// How long a final report is kept before it is purged (7 natural days).
pub const DEFAULT_RETENTION: Duration = Duration::days(7);

/// Whether `answer` may be stored for a leg whose bank must seal with `suite`: a sealed list
/// exactly when `matched`, in that suite, of a plausible shape.
pub fn answer_fits(answer: &Answer, suite: Suite) -> bool {
    use chaka_protocol::message::Outcome;
    match (&answer.outcome, &answer.sealed) {
        (Outcome::Matched, Some(sealed)) => {
            sealed.suite == suite
                && sealed.enc.len() == suite.enc_len()
                && sealed.ciphertext.len() >= suite.tag_len()
        }
        (Outcome::Matched, None) | (_, Some(_)) => false,
        (_, None) => true,
    }
}

/// Names one leg.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegKey {
    /// The inquiry.
    pub inquiry_id: InquiryId,
    /// The bank asked.
    pub bank: BankCode,
}

/// Where a leg stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker (lease) and being sent.
    Sending,
    /// The bank accepted it (202) and will call back; asked again at `next_attempt_at`.
    AwaitingCallback,
    /// Final: the bank answered (matched, no match or a final refusal).
    Answered,
    /// Final: no answer before the deadline.
    NoAnswer,
}

impl LegState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::AwaitingCallback => "awaiting_callback",
            Self::Answered => "answered",
            Self::NoAnswer => "no_answer",
        }
    }

    /// Parses a stored word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "sending" => Self::Sending,
            "awaiting_callback" => Self::AwaitingCallback,
            "answered" => Self::Answered,
            "no_answer" => Self::NoAnswer,
            _ => return None,
        })
    }

    /// Whether the leg will change no more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Answered | Self::NoAnswer)
    }
}

/// A leg claimed by a worker, with what it needs to build the inquiry.
#[derive(Clone)]
pub struct ClaimedLeg {
    /// Which leg.
    pub key: LegKey,
    /// The fencing token: pass it back with every change.
    pub attempt: i64,
    /// The suite the bank must seal with.
    pub suite: Suite,
    /// After this instant the hub wants no answer.
    pub deadline: OffsetDateTime,
    /// Until when the claim is ours.
    pub lease_expires_at: OffsetDateTime,
    /// The vault-sealed subject; `None` if it was already erased.
    pub subject_sealed: Option<Vec<u8>>,
    /// The user's key the bank seals to.
    pub recipient_key: RecipientPublicKey,
}

impl std::fmt::Debug for ClaimedLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedLeg")
            .field("key", &self.key)
            .field("attempt", &self.attempt)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// How many due legs of one bank a worker wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankClaim {
    /// The bank.
    pub bank: BankCode,
    /// At most this many legs.
    pub limit: usize,
}

/// What to do with a claimed leg.
#[derive(Debug, Clone)]
pub enum LegAction {
    /// The bank answered finally: store the answer, the leg is `answered`.
    Answer(Box<Answer>),
    /// Try again at `at` (state `pending`).
    Retry {
        /// Next attempt.
        at: OffsetDateTime,
        /// Why (no personal data).
        error: String,
    },
    /// The bank will call back; ask again at `reask_at` if it does not.
    AwaitCallback {
        /// When to ask again.
        reask_at: OffsetDateTime,
    },
    /// Give the leg back untouched (shutdown): `pending`, due at once.
    Release,
    /// The bank refused the inquiry itself as invalid (`400` or `413` for it alone; protocol
    /// §8: not retried): the leg is final at once as `no_answer`, with the reason.
    GiveUp {
        /// Why (no personal data).
        error: String,
    },
}

/// A change to one claimed leg, fenced by `attempt`.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// Which leg.
    pub key: LegKey,
    /// The attempt the change belongs to.
    pub attempt: i64,
    /// The change.
    pub action: LegAction,
}

/// What became of a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Applied; `inquiry_final` when this made the inquiry final (the "ready" SMS is queued).
    Applied {
        /// The inquiry became final in this transaction.
        inquiry_final: bool,
    },
    /// Refused: the leg was claimed again (newer attempt) or is no longer being sent.
    Fenced,
}

/// What happened to one answer of a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Recorded for an open leg, which is now `answered`.
    Recorded {
        /// The inquiry became final in this transaction.
        inquiry_final: bool,
    },
    /// The leg was already answered: nothing changed.
    Duplicate,
    /// The leg was already final without an answer (deadline): kept in `late_answers`, ignored.
    Late,
    /// A `temporarily_unavailable` refusal: not an answer; the leg stays open and is asked again.
    Deferred,
}

/// The result of recording a callback's answers: all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackRecord {
    /// Every answer matched a leg of the bank.
    Recorded(Vec<(InquiryId, CallbackOutcome)>),
    /// An answer names no leg of this bank; nothing was recorded.
    UnknownLeg(InquiryId),
    /// An answer is sealed with another suite than the leg's, or carries no valid sealed
    /// list; nothing was recorded.
    InvalidAnswer(InquiryId),
}

/// A leg as stored (diagnostics and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRecord {
    /// Which leg.
    pub key: LegKey,
    /// Its state.
    pub state: LegState,
    /// Claims so far (the fencing counter).
    pub attempt: i64,
    /// Next attempt (or re-ask), while open.
    pub next_attempt_at: OffsetDateTime,
    /// Its deadline.
    pub deadline: OffsetDateTime,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// Until when.
    pub lease_expires_at: Option<OffsetDateTime>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the answer was stored.
    pub answered_at: Option<OffsetDateTime>,
}

/// The ledger.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Claims, per bank, up to `limit` legs that are due (`pending` or `awaiting_callback`
    /// with `next_attempt_at <= now`, or `sending` with an expired lease) and whose deadline
    /// has not passed: state `sending`, lease to `owner` until `now + lease`, `attempt + 1`.
    /// One transaction for all banks.
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        wants: &[BankClaim],
    ) -> Result<Vec<ClaimedLeg>, StoreError>;

    /// Applies the changes of one batch in one transaction, each fenced by its attempt (and
    /// the leg still being `sending`). Returns one [`Settled`] per settlement, in order.
    async fn settle(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Result<Vec<Settled>, StoreError>;

    /// Records a callback's answers from `bank`, all or nothing: open legs become `answered`
    /// (finalising inquiries as needed), repeats are duplicates, answers for legs already
    /// final without an answer (or past their deadline) go to `late_answers`.
    async fn record_callback(
        &self,
        bank: &BankCode,
        answers: &[Answer],
        now: OffsetDateTime,
    ) -> Result<CallbackRecord, StoreError>;

    /// Legs whose deadline has passed become `no_answer`, finalising their inquiries as
    /// needed. Returns how many legs expired.
    async fn expire_deadlines(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// One leg as stored.
    async fn leg(&self, key: &LegKey) -> Result<Option<LegRecord>, StoreError>;

    /// Marks one leg answered (fenced). See [`LedgerStore::settle`].
    async fn complete_leg(
        &self,
        key: &LegKey,
        attempt: i64,
        answer: Answer,
        now: OffsetDateTime,
    ) -> Result<Settled, StoreError> {
        self.settle_one(key, attempt, LegAction::Answer(Box::new(answer)), now)
            .await
    }

    /// Schedules another attempt of one leg (fenced). `false` when fenced.
    async fn reschedule_leg(
        &self,
        key: &LegKey,
        attempt: i64,
        next_attempt_at: OffsetDateTime,
        error: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let action = LegAction::Retry {
            at: next_attempt_at,
            error: error.to_owned(),
        };
        let settled = self.settle_one(key, attempt, action, now).await?;
        Ok(settled != Settled::Fenced)
    }

    /// Puts one leg in `awaiting_callback` until `reask_at` (fenced). `false` when fenced.
    async fn await_callback(
        &self,
        key: &LegKey,
        attempt: i64,
        reask_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let action = LegAction::AwaitCallback { reask_at };
        let settled = self.settle_one(key, attempt, action, now).await?;
        Ok(settled != Settled::Fenced)
    }

    /// [`LedgerStore::settle`] for one leg.
    async fn settle_one(
        &self,
        key: &LegKey,
        attempt: i64,
        action: LegAction,
        now: OffsetDateTime,
    ) -> Result<Settled, StoreError> {
        let settlement = Settlement {
            key: key.clone(),
            attempt,
            action,
        };
        let settled = self.settle(std::slice::from_ref(&settlement), now).await?;
        Ok(settled.into_iter().next().unwrap_or(Settled::Fenced))
    }
}
