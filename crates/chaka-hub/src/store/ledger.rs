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
/// The statements of [`LedgerStore::heartbeat`] and [`LedgerStore::leave`], one text for
/// both backends (SQLite reads `$1` and `$2` as its first and second parameters): this
/// worker seen at `$2`, workers last seen before `$1` forgotten, the workers alive, and this
/// worker leaving.
pub(crate) const WORKER_SEEN: &str = "INSERT INTO workers (worker_id, seen_at) VALUES ($1, $2) \
     ON CONFLICT (worker_id) DO UPDATE SET seen_at = excluded.seen_at";
/// See [`WORKER_SEEN`].
pub(crate) const WORKERS_FORGOTTEN: &str = "DELETE FROM workers WHERE seen_at < $1";
/// See [`WORKER_SEEN`].
pub(crate) const WORKERS_ALIVE: &str = "SELECT worker_id FROM workers ORDER BY worker_id";
/// See [`WORKER_SEEN`].
pub(crate) const WORKER_LEAVES: &str = "DELETE FROM workers WHERE worker_id = $1";

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

    /// Records that fan-out worker `worker` is alive at `now`, forgets workers not heard of
    /// for `ttl`, and returns the workers alive on the database (this one included), sorted.
    async fn heartbeat(
        &self,
        worker: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError>;

    /// Forgets worker `worker` (it stops): the others share out its banks at their next
    /// heartbeat instead of after `ttl`.
    async fn leave(&self, worker: &str) -> Result<(), StoreError>;

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

// --- What both backends decide the same way (their SQL differs, these rules do not) --------

/// The outbox template of the "report ready" SMS.
pub const READY_TEMPLATE: &str = "report_ready";

/// The protocol outcome (JSON text) and the sealed list (JSON bytes) of an answer, as stored.
pub(crate) fn encode_outcome(answer: &Answer) -> Result<(String, Option<Vec<u8>>), StoreError> {
    let outcome = serde_json::to_string(&answer.outcome)
        .map_err(|_| StoreError::Corrupt("answer outcome"))?;
    let sealed = answer
        .sealed
        .as_ref()
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|_| StoreError::Corrupt("answer sealed list"))?;
    Ok((outcome, sealed))
}

/// The one "report ready" outbox row of an inquiry that becomes final at `now`.
pub(crate) struct ReadySms {
    /// A UUIDv7 of `now`.
    pub message_id: String,
    /// `ready:<inquiry_id>`: unique, so a report never gets two.
    pub idempotency_key: String,
    /// The template's parameters (JSON text).
    pub params: String,
    /// When the report will be purged.
    pub purge_after: OffsetDateTime,
}

impl ReadySms {
    /// The row for `inquiry_id`, final at `now`, kept `retention`.
    pub(crate) fn new(inquiry_id: &str, now: OffsetDateTime, retention: Duration) -> Self {
        let purge_after = now + retention;
        let expires = purge_after.date();
        let params = serde_json::json!({
            "inquiry_id": inquiry_id,
            "expires": format!("{:04}-{:02}-{:02}", expires.year(), u8::from(expires.month()), expires.day()),
            "purge_after": super::fmt_time(purge_after),
        });
        let message_id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            u64::try_from(now.unix_timestamp()).unwrap_or(0),
            now.nanosecond(),
        ));
        Self {
            message_id: message_id.to_string(),
            idempotency_key: format!("ready:{inquiry_id}"),
            params: params.to_string(),
            purge_after,
        }
    }
}

/// Whether the action, once applied, makes its leg final.
pub(crate) fn makes_final(action: &LegAction) -> bool {
    matches!(action, LegAction::Answer(_) | LegAction::GiveUp { .. })
}

/// The answers among `settlements`, with their index (they are settled in bulk).
pub(crate) fn answers_of(settlements: &[Settlement]) -> Vec<(usize, &Answer)> {
    settlements
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.action {
            LegAction::Answer(a) => Some((i, &**a)),
            _ => None,
        })
        .collect()
}

/// The inquiries of `settlements` whose leg became final (`applied`), once each, in order.
pub(crate) fn finalising(settlements: &[Settlement], applied: &[bool]) -> Vec<InquiryId> {
    let mut touched: Vec<InquiryId> = Vec::new();
    for (s, _) in settlements.iter().zip(applied).filter(|(_, ok)| **ok) {
        if makes_final(&s.action) && !touched.contains(&s.key.inquiry_id) {
            touched.push(s.key.inquiry_id);
        }
    }
    touched
}

/// One [`Settled`] per settlement, from whether it applied and which inquiries became final.
pub(crate) fn settled(
    settlements: &[Settlement],
    applied: &[bool],
    finalized: &std::collections::HashSet<InquiryId>,
) -> Vec<Settled> {
    settlements
        .iter()
        .zip(applied)
        .map(|(s, ok)| match ok {
            false => Settled::Fenced,
            true => Settled::Applied {
                inquiry_final: makes_final(&s.action) && finalized.contains(&s.key.inquiry_id),
            },
        })
        .collect()
}

/// What a callback's answer does to its leg (see [`LedgerStore::record_callback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackStep {
    /// Already answered: nothing changes.
    Duplicate,
    /// Already final without an answer: kept in `late_answers`.
    Late,
    /// Open but past its deadline: the leg becomes `no_answer` (the inquiry may become final)
    /// and the answer is kept in `late_answers`.
    ExpireThenLate,
    /// A `temporarily_unavailable` refusal: the leg stays open.
    Defer,
    /// Stored: the leg becomes `answered` (the inquiry may become final).
    Record,
}

/// The step for an answer to a leg in `state`, whose deadline passed or not.
pub(crate) fn callback_step(state: LegState, past_deadline: bool, answer: &Answer) -> CallbackStep {
    use chaka_protocol::message::{Outcome, RefusalReason};
    match state {
        LegState::Answered => CallbackStep::Duplicate,
        LegState::NoAnswer => CallbackStep::Late,
        _ if past_deadline => CallbackStep::ExpireThenLate,
        _ if matches!(
            answer.outcome,
            Outcome::Refused {
                reason: RefusalReason::TemporarilyUnavailable
            }
        ) =>
        {
            CallbackStep::Defer
        }
        _ => CallbackStep::Record,
    }
}

/// A leg just claimed, before its inquiry's subject and key are joined to it.
pub(crate) struct Claim {
    /// Which leg.
    pub key: LegKey,
    /// The new attempt.
    pub attempt: i64,
    /// The suite asked.
    pub suite: Suite,
    /// Its deadline.
    pub deadline: OffsetDateTime,
    /// The new lease's end.
    pub lease_expires_at: OffsetDateTime,
}

impl Claim {
    /// A row of the claiming `UPDATE … RETURNING inquiry_id, bank, attempt, suite, deadline,
    /// lease_expires_at`.
    pub(crate) fn from_row(row: &impl super::rows::Fields) -> Result<Self, StoreError> {
        Ok(Self {
            key: super::rows::leg_key_of(row)?,
            attempt: row.int("attempt")?,
            suite: super::rows::suite_of(row)?,
            deadline: row.time("deadline")?,
            lease_expires_at: row.time("lease_expires_at")?,
        })
    }

    /// The claimed leg, with its inquiry's subject (if not erased) and the user's key.
    pub(crate) fn with_inquiry(
        self,
        subject_sealed: Option<Vec<u8>>,
        recipient_key: RecipientPublicKey,
    ) -> ClaimedLeg {
        ClaimedLeg {
            key: self.key,
            attempt: self.attempt,
            suite: self.suite,
            deadline: self.deadline,
            lease_expires_at: self.lease_expires_at,
            subject_sealed,
            recipient_key,
        }
    }
}

/// The sorted, distinct inquiry ids of `claims`.
pub(crate) fn claimed_inquiries(claims: &[Claim]) -> Vec<String> {
    let mut ids: Vec<String> = claims
        .iter()
        .map(|c| c.key.inquiry_id.to_string())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A claimed leg's inquiry: its sealed subject (if not erased) and the user's key.
pub(crate) type ClaimedInquiry = (Option<Vec<u8>>, RecipientPublicKey);

/// The subject and user key of an inquiry, from a row of `inquiry_id, subject_sealed,
/// user_public_key`.
pub(crate) fn claimed_inquiry(
    row: &impl super::rows::Fields,
) -> Result<(String, ClaimedInquiry), StoreError> {
    let public: [u8; 32] = row
        .bytes("user_public_key")?
        .try_into()
        .map_err(|_| StoreError::Corrupt("inquiries.user_public_key"))?;
    Ok((
        row.text("inquiry_id")?,
        (
            row.opt_bytes("subject_sealed")?,
            RecipientPublicKey::from_bytes(public),
        ),
    ))
}

/// Joins the claims with their inquiries' subjects and keys.
pub(crate) fn join_claims(
    claims: Vec<Claim>,
    inquiries: &std::collections::HashMap<String, ClaimedInquiry>,
) -> Result<Vec<ClaimedLeg>, StoreError> {
    claims
        .into_iter()
        .map(|c| {
            let (subject_sealed, recipient_key) = inquiries
                .get(&c.key.inquiry_id.to_string())
                .cloned()
                .ok_or(StoreError::Corrupt("claimed leg without inquiry"))?;
            Ok(c.with_inquiry(subject_sealed, recipient_key))
        })
        .collect()
}

/// A failure text as kept in `legs.last_error` (at most 200 characters).
pub(crate) fn error_text(error: &str) -> String {
    error.chars().take(200).collect()
}
