//! The fan-out worker: claims due legs from the ledger with short leases, groups them by bank
//! into protocol batches (≤ 64, after waiting a few milliseconds for more), opens each subject
//! only in memory just before signing, sends, and settles every leg fenced by its attempt:
//! answered, awaiting a callback (asked again later), or retried with backoff and jitter until
//! its deadline, after which it is final as "no answer". Each bank has its own bounded set of
//! in-flight batches, so a slow or broken bank delays only its own legs. Callbacks come in
//! through [`callbacks`].
//!
//! A bank is sent a partly filled batch only when none of its batches is in flight (Nagle's
//! rule): the legs that come due meanwhile wait for that batch's answer and go out together in
//! the next. Batches therefore grow with the load instead of with how often the worker looks,
//! and a bank gets as few requests for the same inquiries whatever the number of instances.
//! More batches of a bank go out at once only while it has a backlog (its last claim filled
//! every free slot with full batches), up to its bound.
//!
//! Several workers (hub instances) on one database share the banks out: each sends a heartbeat
//! every second, and of the banks sorted by code, the i-th goes to the (i mod n)-th of the n
//! workers alive, sorted by name. A worker claims only its own banks' legs, so a bank's legs
//! are batched by one worker as they would be with one instance, and the batches in flight to
//! a bank stay bounded for the whole cluster. A worker not heard of for [`FanoutConfig::
//! worker_ttl`] is forgotten and its banks go to the others (its claimed legs come back when
//! their leases expire); one that stops leaves at once. While workers disagree for a moment
//! about who is alive, a bank may have two claimers (harmless: claims skip locked legs and
//! are fenced) or none (its legs wait for the next heartbeat).
//!
//! One iteration can be driven by a test ([`Fanout::tick`], every bank) with a manual clock;
//! in service, [`Fanout::spawn`] runs iterations until [`FanoutHandle::stop`]. Logs carry bank
//! codes, counts and error kinds, never a subject.

pub mod callbacks;
pub mod delivery;

use crate::banks::HubBanks;
use crate::connector::{Connector, Delivery};
use crate::store::StoreError;
use crate::store::ledger::{BankClaim, ClaimedLeg, LedgerStore, LegAction, LegKey, Settlement};
use chaka_core::{BankCode, IdNumber, InquiryId, Phone, SharedClock};
use chaka_protocol::message::{Inquiry, InquiryBatch, Subject};
use delivery::{Backoff, Judge};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration as StdDuration;
use time::{Duration, OffsetDateTime};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

/// The default deadline of a leg (submission + 24 h).
pub const DEFAULT_DEADLINE: Duration = Duration::hours(24);

/// The subject snapshot cannot be opened. Carries no personal data.
#[derive(Debug, thiserror::Error)]
#[error("the subject cannot be opened: {0}")]
pub struct SubjectError(pub String);

/// Opens an inquiry's sealed subject snapshot (in service: the vault's `open_field` with the
/// subject purpose, then [`subject_from_json`]).
pub trait SubjectOpener: Send + Sync {
    /// The subject, in memory only.
    fn open(&self, sealed: &[u8]) -> Result<Subject, SubjectError>;
}

impl<F> SubjectOpener for F
where
    F: Fn(&[u8]) -> Result<Subject, SubjectError> + Send + Sync,
{
    fn open(&self, sealed: &[u8]) -> Result<Subject, SubjectError> {
        self(sealed)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectJson {
    name: String,
    id_number: String,
    phone: String,
}

/// Parses the subject snapshot's plaintext `{"name", "id_number", "phone"}`.
pub fn subject_from_json(bytes: &[u8]) -> Result<Subject, SubjectError> {
    let raw: SubjectJson =
        serde_json::from_slice(bytes).map_err(|_| SubjectError("not a subject snapshot".into()))?;
    Ok(Subject {
        id_number: IdNumber::parse(&raw.id_number)
            .map_err(|_| SubjectError("invalid ID number".into()))?,
        phone: Phone::parse(&raw.phone).map_err(|_| SubjectError("invalid phone".into()))?,
        name: raw.name,
    })
}

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    /// This worker's name in leases (unique per process).
    pub owner: String,
    /// How long a claim is ours (longer than the connector's timeout).
    pub lease: Duration,
    /// Inquiries per protocol batch (≤ 64).
    pub batch_max: usize,
    /// How long to wait for more legs of a bank when a batch is not full.
    pub batch_wait: StdDuration,
    /// Batches in flight per bank.
    pub max_in_flight_per_bank: usize,
    /// Pause between iterations when idle.
    pub poll_interval: StdDuration,
    /// After a `202`, when to ask again if no callback came (the bank answers idempotently).
    pub reask_after: Duration,
    /// Retry delays.
    pub backoff: Backoff,
    /// The hub's callback URL put in every inquiry (`None`: synchronous answers only).
    pub callback_url: Option<url::Url>,
    /// At stop, how long in-flight batches may take before their legs are released.
    pub stop_grace: StdDuration,
    /// A worker without a heartbeat for this long is taken for dead and its banks are shared
    /// out among the others.
    pub worker_ttl: Duration,
}

impl FanoutConfig {
    /// Defaults for a worker named `owner`.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            lease: Duration::seconds(30),
            batch_max: 64,
            batch_wait: StdDuration::from_millis(20),
            max_in_flight_per_bank: 4,
            poll_interval: StdDuration::from_millis(200),
            reask_after: Duration::minutes(10),
            backoff: Backoff::default(),
            callback_url: None,
            stop_grace: StdDuration::from_secs(10),
            worker_ttl: Duration::seconds(10),
        }
    }
}

/// The worker failed to use its store (the iteration is abandoned; leases expire).
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// The ledger failed.
    #[error("ledger: {0}")]
    Store(#[from] StoreError),
}

/// What one iteration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Legs made final by their deadline.
    pub expired: u64,
    /// Legs claimed.
    pub claimed: usize,
    /// Protocol requests sent.
    pub requests: usize,
}

/// The fan-out worker (cheap to clone).
#[derive(Clone)]
pub struct Fanout(Arc<Inner>);

struct Inner {
    store: Arc<dyn LedgerStore>,
    connector: Connector,
    opener: Arc<dyn SubjectOpener>,
    clock: SharedClock,
    config: FanoutConfig,
    slots: Vec<(BankCode, Arc<Semaphore>)>,
    in_flight: Mutex<HashMap<u64, Vec<(LegKey, i64)>>>,
    next_task: AtomicU64,
    wake: Notify,
    /// The banks this worker claims for (`None`: every bank).
    owned: Mutex<Option<HashSet<BankCode>>>,
    /// The banks whose last claim filled all it asked for: more of their legs may be due, so
    /// they are claimed for again while batches of theirs are in flight.
    backlogged: Mutex<HashSet<BankCode>>,
}

/// A running worker.
pub struct FanoutHandle {
    stop: watch::Sender<bool>,
    fanout: Fanout,
    task: tokio::task::JoinHandle<()>,
}

impl FanoutHandle {
    /// Asks for an iteration now (e.g. after a submission).
    pub fn wake(&self) {
        self.fanout.0.wake.notify_one();
    }

    /// Stops claiming, lets in-flight batches finish within the grace period, releases the
    /// legs of those that do not, and returns when the worker is gone.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

type BatchResult = Result<usize, FanoutError>;

impl Fanout {
    /// A worker for the banks of `banks`.
    pub fn new(
        store: Arc<dyn LedgerStore>,
        connector: Connector,
        banks: &HubBanks,
        opener: Arc<dyn SubjectOpener>,
        clock: SharedClock,
        mut config: FanoutConfig,
    ) -> Self {
        config.batch_max = config.batch_max.clamp(1, 64);
        config.max_in_flight_per_bank = config.max_in_flight_per_bank.max(1);
        let slots = banks
            .iter()
            .map(|b| {
                let permits = Arc::new(Semaphore::new(config.max_in_flight_per_bank));
                (b.code.clone(), permits)
            })
            .collect();
        Self(Arc::new(Inner {
            store,
            connector,
            opener,
            clock,
            config,
            slots,
            in_flight: Mutex::new(HashMap::new()),
            next_task: AtomicU64::new(0),
            wake: Notify::new(),
            owned: Mutex::new(None),
            backlogged: Mutex::new(HashSet::new()),
        }))
    }

    /// Asks a running worker for an iteration now (e.g. after a submission); a no-op if
    /// none runs.
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }

    /// One iteration at `now`: expires legs past their deadline, claims due legs, sends their
    /// batches and waits until all are settled.
    pub async fn tick(&self, now: OffsetDateTime) -> Result<TickReport, FanoutError> {
        let expired = self.0.store.expire_deadlines(now).await?;
        let mut tasks = JoinSet::new();
        let claimed = self.start_batches(now, &mut tasks).await?;
        let (mut requests, mut failure) = (0, None);
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(n)) => requests += n,
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => {}
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(TickReport {
            expired,
            claimed,
            requests,
        })
    }

    /// Runs iterations in the background until stopped.
    pub fn spawn(self) -> FanoutHandle {
        let (stop, stopping) = watch::channel(false);
        let fanout = self.clone();
        let task = tokio::spawn(self.run(stopping));
        FanoutHandle { stop, fanout, task }
    }

    async fn run(self, mut stopping: watch::Receiver<bool>) {
        let mut tasks: JoinSet<BatchResult> = JoinSet::new();
        let mut last_sweep: Option<OffsetDateTime> = None;
        loop {
            if *stopping.borrow() {
                break;
            }
            let now = self.0.clock.now();
            if last_sweep.is_none_or(|t| now - t >= Duration::seconds(1) || now < t) {
                self.share_banks(now).await;
                match self.0.store.expire_deadlines(now).await {
                    Ok(n) if n > 0 => tracing::info!(legs = n, "legs reached their deadline"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "deadline sweep failed"),
                }
                last_sweep = Some(now);
            }
            if let Err(e) = self.start_batches(now, &mut tasks).await {
                tracing::error!(error = %e, "claiming legs failed");
            }
            while let Some(joined) = tasks.try_join_next() {
                if let Ok(Err(e)) = joined {
                    tracing::error!(error = %e, "settling a batch failed; its leases will expire");
                }
            }
            tokio::select! {
                _ = stopping.changed() => {}
                () = self.0.wake.notified() => {}
                () = tokio::time::sleep(self.0.config.poll_interval) => {}
            }
        }
        if let Err(e) = self.0.store.leave(&self.0.config.owner).await {
            tracing::warn!(error = %e, "leaving the workers failed; the others wait for its heartbeat to age");
        }
        let grace = tokio::time::sleep(self.0.config.stop_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                joined = tasks.join_next() => if joined.is_none() { break },
                () = &mut grace => {
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    self.release_in_flight().await;
                    break;
                }
            }
        }
    }

    /// Sends this worker's heartbeat and takes its share of the banks among the workers alive
    /// (every bank when it is alone, or when the heartbeat fails: claims are safe to race).
    async fn share_banks(&self, now: OffsetDateTime) {
        let inner = &*self.0;
        let owner = &inner.config.owner;
        let share = match inner
            .store
            .heartbeat(owner, now, inner.config.worker_ttl)
            .await
        {
            Ok(alive) => share_of(owner, alive, inner.slots.iter().map(|(bank, _)| bank)),
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed; claiming for every bank");
                None
            }
        };
        let mut owned = inner.owned.lock().unwrap_or_else(PoisonError::into_inner);
        if *owned != share {
            match &share {
                Some(banks) => tracing::info!(
                    banks = banks.len(),
                    "banks shared out among the fan-out workers"
                ),
                None => tracing::info!("claiming for every bank"),
            }
            *owned = share;
        }
    }

    /// Gives back the legs of aborted batches (fenced: a leg already settled stays so).
    async fn release_in_flight(&self) {
        let legs: Vec<Settlement> = self
            .0
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .flat_map(|(_, legs)| legs)
            .map(|(key, attempt)| Settlement {
                key,
                attempt,
                action: LegAction::Release,
            })
            .collect();
        if legs.is_empty() {
            return;
        }
        match self.0.store.settle(&legs, self.0.clock.now()).await {
            Ok(_) => tracing::info!(legs = legs.len(), "released legs at shutdown"),
            Err(e) => {
                tracing::error!(error = %e, "releasing legs failed; their leases will expire");
            }
        }
    }

    /// Claims due legs for every bank that may be sent a batch now (none of its batches in
    /// flight, or a backlog and a free slot) and starts their batches. Returns how many legs
    /// were claimed.
    async fn start_batches(
        &self,
        now: OffsetDateTime,
        tasks: &mut JoinSet<BatchResult>,
    ) -> Result<usize, FanoutError> {
        let inner = &*self.0;
        let max = inner.config.batch_max;
        // A bank with every slot free has no batch in flight.
        let all_free = inner.config.max_in_flight_per_bank;
        let wants: Vec<BankClaim> = {
            let owned = inner.owned.lock().unwrap_or_else(PoisonError::into_inner);
            let backlogged = inner
                .backlogged
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            inner
                .slots
                .iter()
                .filter(|(bank, _)| owned.as_ref().is_none_or(|o| o.contains(bank)))
                .filter(|(bank, slots)| {
                    let free = slots.available_permits();
                    free == all_free || (free > 0 && backlogged.contains(bank))
                })
                .map(|(bank, slots)| BankClaim {
                    bank: bank.clone(),
                    limit: slots.available_permits() * max,
                })
                .collect()
        };
        if wants.is_empty() {
            return Ok(0);
        }
        let (owner, lease) = (&inner.config.owner, inner.config.lease);
        let mut by_bank: HashMap<BankCode, Vec<ClaimedLeg>> = HashMap::new();
        for leg in inner.store.claim_due(owner, now, lease, &wants).await? {
            by_bank.entry(leg.key.bank.clone()).or_default().push(leg);
        }
        {
            let mut backlogged = inner
                .backlogged
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for w in &wants {
                if by_bank.get(&w.bank).map_or(0, Vec::len) >= w.limit {
                    backlogged.insert(w.bank.clone());
                } else {
                    backlogged.remove(&w.bank);
                }
            }
        }
        // A partly filled batch waits a few milliseconds for more legs of its bank.
        let top_up: Vec<BankClaim> = wants
            .iter()
            .filter_map(|w| {
                let n = by_bank.get(&w.bank).map_or(0, Vec::len);
                (n > 0 && n < w.limit && !n.is_multiple_of(max)).then(|| BankClaim {
                    bank: w.bank.clone(),
                    limit: max - n % max,
                })
            })
            .collect();
        if !top_up.is_empty() && !inner.config.batch_wait.is_zero() {
            tokio::time::sleep(inner.config.batch_wait).await;
            let later = inner.clock.now().max(now);
            for leg in inner.store.claim_due(owner, later, lease, &top_up).await? {
                by_bank.entry(leg.key.bank.clone()).or_default().push(leg);
            }
        }
        let mut claimed = 0;
        for (bank, slots) in &inner.slots {
            let Some(legs) = by_bank.remove(bank) else {
                continue;
            };
            claimed += legs.len();
            for chunk in legs.chunks(max) {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    continue;
                };
                let id = inner.next_task.fetch_add(1, Ordering::Relaxed);
                let fenced = chunk.iter().map(|l| (l.key.clone(), l.attempt)).collect();
                inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, fenced);
                let this = self.clone();
                let (bank, chunk) = (bank.clone(), chunk.to_vec());
                tasks.spawn(async move {
                    let result = this.run_batch(&bank, chunk).await;
                    this.0
                        .in_flight
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                    drop(permit);
                    this.0.wake.notify_one();
                    result
                });
            }
        }
        Ok(claimed)
    }

    /// Sends one bank's claimed legs and settles them. A batch the bank refuses as a whole
    /// (400, 413) is split in halves, so one bad inquiry cannot hold back the others. Returns
    /// the number of requests sent.
    async fn run_batch(&self, bank: &BankCode, legs: Vec<ClaimedLeg>) -> BatchResult {
        let inner = &*self.0;
        let judge = Judge {
            backoff: inner.config.backoff,
            reask_after: inner.config.reask_after,
            jitter: rand::random_range(0.0..=1.0),
        };
        let mut unopened = Vec::new();
        let mut inquiries = Vec::with_capacity(legs.len());
        for leg in &legs {
            let subject = match leg.subject_sealed.as_deref() {
                Some(sealed) => inner.opener.open(sealed),
                None => Err(SubjectError("erased".into())),
            };
            match subject {
                Ok(subject) => inquiries.push(Inquiry {
                    inquiry_id: leg.key.inquiry_id,
                    bank: bank.clone(),
                    suite: leg.suite,
                    subject,
                    recipient_key: leg.recipient_key,
                    deadline: leg.deadline,
                    callback_url: inner.config.callback_url.clone(),
                }),
                Err(e) => {
                    tracing::error!(bank = %bank, error = %e, "cannot build an inquiry");
                    let wait = inner.config.backoff.delay(leg.attempt, judge.jitter);
                    unopened.push(Settlement {
                        key: leg.key.clone(),
                        attempt: leg.attempt,
                        action: LegAction::Retry {
                            at: inner.clock.now() + wait,
                            error: e.to_string(),
                        },
                    });
                }
            }
        }
        if !unopened.is_empty() {
            inner.store.settle(&unopened, inner.clock.now()).await?;
        }
        let legs: HashMap<InquiryId, ClaimedLeg> =
            legs.into_iter().map(|l| (l.key.inquiry_id, l)).collect();
        let mut requests = 0;
        let mut parts = vec![inquiries];
        while let Some(part) = parts.pop() {
            if part.is_empty() {
                continue;
            }
            let batch = InquiryBatch::new(part);
            let result = inner.connector.send(bank, &batch).await;
            crate::failpoint::reach(crate::failpoint::FANOUT_AFTER_SEND).await;
            requests += 1;
            let mut part = batch.inquiries;
            if let Ok(Delivery::Refused {
                status: 400 | 413, ..
            }) = &result
                && part.len() > 1
            {
                let half = part.split_off(part.len() / 2);
                parts.push(half);
                parts.push(part);
                continue;
            }
            let ids: Vec<InquiryId> = part.iter().map(|q| q.inquiry_id).collect();
            drop(part);
            log_delivery(bank, ids.len(), &result);
            let now = inner.clock.now();
            let settlements = judge.settle(&legs, &ids, result, now);
            let settled = inner.store.settle(&settlements, now).await?;
            let fenced = settled
                .iter()
                .filter(|s| **s == crate::store::ledger::Settled::Fenced)
                .count();
            if fenced > 0 {
                tracing::warn!(bank = %bank, legs = fenced, "settlements refused: the legs were claimed again or answered by callback");
            }
        }
        Ok(requests)
    }
}

fn log_delivery(
    bank: &BankCode,
    inquiries: usize,
    result: &Result<Delivery, crate::connector::ConnectorError>,
) {
    match result {
        Ok(Delivery::Answered(b)) => {
            tracing::debug!(bank = %bank, inquiries, answers = b.answers.len(), "bank answered");
        }
        Ok(Delivery::Accepted(_)) => {
            tracing::debug!(bank = %bank, inquiries, "bank will call back");
        }
        Ok(Delivery::RetryLater { status, .. }) => {
            tracing::info!(bank = %bank, inquiries, status, "bank asks to retry later");
        }
        Ok(Delivery::Refused { status, code }) => {
            tracing::warn!(bank = %bank, inquiries, status, code = code.as_deref().unwrap_or("-"), "bank refused a batch");
        }
        Err(e) => tracing::warn!(bank = %bank, inquiries, error = %e, "batch failed"),
    }
}

/// The banks `worker` claims for among the workers `alive`: of the banks sorted by code, those
/// whose position modulo the number of workers is the worker's position among them, sorted by
/// name. `None` (every bank) when it is alone or not among them.
fn share_of<'a>(
    worker: &str,
    mut alive: Vec<String>,
    banks: impl Iterator<Item = &'a BankCode>,
) -> Option<HashSet<BankCode>> {
    alive.sort_unstable();
    alive.dedup();
    let me = alive.iter().position(|w| w == worker)?;
    if alive.len() < 2 {
        return None;
    }
    let mut banks: Vec<&BankCode> = banks.collect();
    banks.sort_unstable();
    Some(
        banks
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % alive.len() == me)
            .map(|(_, bank)| bank.clone())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::share_of;
    use chaka_core::BankCode;
    use std::collections::HashSet;

    fn banks(codes: &[&str]) -> Vec<BankCode> {
        codes.iter().map(|c| BankCode::parse(c).unwrap()).collect()
    }

    #[test]
    fn every_bank_goes_to_exactly_one_worker_alive_and_the_shares_are_even() {
        let all = banks(&["ICBC", "CMB", "ABC", "BOC", "CCB", "BOCOM", "PSBC"]);
        let alive: Vec<String> = ["hub-b", "hub-a", "hub-c"].map(String::from).to_vec();
        let shares: Vec<HashSet<BankCode>> = alive
            .iter()
            .map(|w| share_of(w, alive.clone(), all.iter()).unwrap())
            .collect();
        let mut seen = HashSet::new();
        for share in &shares {
            assert!((2..=3).contains(&share.len()), "{share:?}");
            for bank in share {
                assert!(seen.insert(bank.clone()), "{bank} owned twice");
            }
        }
        assert_eq!(seen.len(), all.len(), "no bank left without a worker");
        // The same whatever order the banks and the workers are listed in.
        let mut reversed = all.clone();
        reversed.reverse();
        let mut shuffled = alive.clone();
        shuffled.rotate_left(1);
        assert_eq!(
            share_of("hub-b", shuffled, reversed.iter()),
            Some(shares[0].clone())
        );
    }

    #[test]
    fn a_worker_alone_or_not_yet_listed_claims_for_every_bank() {
        let all = banks(&["ICBC", "CMB"]);
        assert_eq!(share_of("hub-a", vec!["hub-a".into()], all.iter()), None);
        assert_eq!(
            share_of("hub-z", vec!["hub-a".into(), "hub-b".into()], all.iter()),
            None
        );
    }
}
