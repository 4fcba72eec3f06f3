//! The hub's part of one lookup, as `chaka demo` plays it before the hub exists: one signed
//! inquiry per bank, retries with backoff that honour `Retry-After`, a callback endpoint that
//! verifies banks' signatures, and the answers opened with the person's key in memory.

use crate::world::RunningBank;
use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use chaka_bank::client::{Delivery, ProtocolClient};
use chaka_core::{BankCode, IdNumber, InquiryId, Phone, SharedClock};
use chaka_protocol::JSON_CONTENT_TYPE;
use chaka_protocol::keys::{KeyId, KeySet, RecipientKeyPair, SigningKeyPair};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{
    Accepted, Answer, AnswerBatch, Card, CardList, Inquiry, InquiryBatch, Outcome, Subject,
    Unlisted, UnlistedReason,
};
use chaka_protocol::nonce::MemoryNonceStore;
use chaka_protocol::signature::{Signer, Verifier};
use chaka_protocol::suite::Suite;
use http::{HeaderMap, Method, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const CALLBACK_PATH: &str = "/chaka/v1/callbacks";

/// Who is looked up, and how long to wait.
pub struct LookupPlan {
    /// Name on the ID card.
    pub name: String,
    /// ID number.
    pub id_number: IdNumber,
    /// Registered phone.
    pub phone: Phone,
    /// Banks still silent after this are reported as not answering.
    pub give_up_after: Duration,
}

/// What one bank said, opened.
pub struct BankReport {
    /// The bank.
    pub bank: BankCode,
    /// Matched, no match, refused, or `None` for no answer.
    pub outcome: Option<Outcome>,
    /// Listed cards.
    pub cards: Vec<Card>,
    /// Cards the bank could not list.
    pub unlisted: Vec<Unlisted>,
    /// Attempts made.
    pub attempts: u32,
    /// Time to the answer.
    pub elapsed: Duration,
}

impl BankReport {
    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let took = format!(
            "{:.1} s, {} attempt(s)",
            self.elapsed.as_secs_f64(),
            self.attempts
        );
        match self.outcome {
            None => format!("no answer ({took})"),
            Some(Outcome::NoMatch) => format!("no card in your name ({took})"),
            Some(Outcome::Refused { reason }) => format!("refused: {} ({took})", reason.as_str()),
            Some(Outcome::Matched) => format!("{} card(s) listed ({took})", self.cards.len()),
        }
    }
}

/// `6222 **** **** 1234  debit   normal  opened 2019-03  last active 2026-10`.
pub fn describe_card(card: &Card) -> String {
    let last = card
        .last_active
        .map(|m| m.to_string())
        .unwrap_or_else(|| "never".into());
    format!(
        "{:<24} {:<11} {:<13} opened {}  last active {:<7}  {}",
        card.pan.to_string(),
        card.kind.as_str(),
        card.status.as_str(),
        card.opened,
        last,
        card.product
    )
}

/// Plain words for a reason.
pub fn describe_reason(reason: UnlistedReason) -> &'static str {
    match reason {
        UnlistedReason::NoReservedPhone => "no phone number reserved on the card",
        UnlistedReason::ReservedPhoneDiffers => {
            "the card's reserved phone is not your current number"
        }
        UnlistedReason::IdDocumentExpired => "your ID document on file at the bank has expired",
        UnlistedReason::CardNotPresentDisabled => "online (card-not-present) service is disabled",
        UnlistedReason::Closed => "closed",
        _ => "another reason",
    }
}

type Waiters = Arc<Mutex<HashMap<InquiryId, (BankCode, oneshot::Sender<Answer>)>>>;

#[derive(Clone)]
struct CallbackState {
    signer: Signer,
    verifier: Arc<Verifier>,
    keys: Arc<KeySet>,
    waiters: Waiters,
    clock: SharedClock,
}

/// Runs the lookup against every bank and returns one report per bank, in bank order.
pub async fn run(
    plan: &LookupPlan,
    banks: &[RunningBank],
    hub_key_id: KeyId,
    hub_key: SigningKeyPair,
    clock: SharedClock,
) -> anyhow::Result<Vec<BankReport>> {
    let bank_keys = banks
        .iter()
        .fold(KeySet::new(), |set, b| set.with(b.key.clone()));
    let waiters: Waiters = Arc::default();
    let state = CallbackState {
        signer: Signer::new(hub_key_id.clone(), hub_key.clone()),
        verifier: Arc::new(Verifier::new(
            bank_keys.clone(),
            Arc::new(MemoryNonceStore::default()),
        )),
        keys: Arc::new(bank_keys.clone()),
        waiters: waiters.clone(),
        clock: clock.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("callback endpoint")?;
    let callback_url: url::Url =
        format!("http://{}{CALLBACK_PATH}", listener.local_addr()?).parse()?;
    let app = axum::Router::new()
        .route(CALLBACK_PATH, post(receive))
        .with_state(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = ProtocolClient::new(
        hub_key_id,
        hub_key,
        bank_keys,
        clock.clone(),
        Duration::from_secs(10),
    );
    let user_key = RecipientKeyPair::generate();
    let now = clock.now();
    let mut tasks = Vec::new();
    for bank in banks {
        let inquiry = Inquiry {
            inquiry_id: InquiryId::generate(now),
            bank: bank.bank.clone(),
            suite: Suite::HpkeX25519Sha256ChaCha20Poly1305,
            subject: Subject {
                name: plan.name.clone(),
                id_number: plan.id_number.clone(),
                phone: plan.phone.clone(),
            },
            recipient_key: user_key.public_key(),
            deadline: now + time::Duration::hours(24),
            callback_url: Some(callback_url.clone()),
        };
        let (tx, rx) = oneshot::channel();
        waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(inquiry.inquiry_id, (bank.bank.clone(), tx));
        let client = client.clone();
        let endpoint = bank.endpoint.clone();
        let give_up = plan.give_up_after;
        tasks.push(tokio::spawn(async move {
            ask(client, endpoint, inquiry, rx, give_up).await
        }));
    }
    let mut reports = Vec::new();
    for (task, bank) in tasks.into_iter().zip(banks) {
        let (inquiry_id, answer, attempts, elapsed) = task.await?;
        let mut report = BankReport {
            bank: bank.bank.clone(),
            outcome: answer.as_ref().map(|a| a.outcome),
            cards: Vec::new(),
            unlisted: Vec::new(),
            attempts,
            elapsed,
        };
        if let Some(sealed) = answer.as_ref().and_then(|a| a.sealed.as_ref()) {
            let list = CardList::open(
                sealed,
                user_key.secret_key(),
                &inquiry_id,
                &bank.bank,
                &Limits::default(),
            )
            .with_context(|| format!("the answer of {} does not open", bank.bank))?;
            report.cards = list.cards;
            report.unlisted = list.unlisted;
        }
        println!("  {:<8} {}", bank.bank, report.summary());
        reports.push(report);
    }
    server.abort();
    Ok(reports)
}

async fn ask(
    client: ProtocolClient,
    endpoint: chaka_bank::client::BankEndpoint,
    inquiry: Inquiry,
    mut callback: oneshot::Receiver<Answer>,
    give_up: Duration,
) -> (InquiryId, Option<Answer>, u32, Duration) {
    let started = Instant::now();
    let id = inquiry.inquiry_id;
    let batch = InquiryBatch::new(vec![inquiry]);
    let mut backoff = Duration::from_millis(250);
    let mut attempts = 0;
    while started.elapsed() < give_up {
        attempts += 1;
        let wait = match client.send(&endpoint, &batch).await {
            Ok(Delivery::Answered(mut answers)) => {
                if let Some(pos) = answers.answers.iter().position(|a| a.inquiry_id == id) {
                    return (
                        id,
                        Some(answers.answers.swap_remove(pos)),
                        attempts,
                        started.elapsed(),
                    );
                }
                backoff
            }
            Ok(Delivery::Accepted(_)) => {
                let left = give_up.saturating_sub(started.elapsed());
                let answer = tokio::time::timeout(left, &mut callback)
                    .await
                    .ok()
                    .and_then(Result::ok);
                return (id, answer, attempts, started.elapsed());
            }
            Ok(Delivery::RetryLater { retry_after, .. }) => retry_after
                .unwrap_or(backoff)
                .max(Duration::from_millis(100)),
            Ok(Delivery::Refused { status, .. }) if status >= 500 => backoff,
            Ok(Delivery::Refused { status, code }) => {
                tracing::warn!(bank = %endpoint.bank, status, code = ?code, "the bank refused the request");
                return (id, None, attempts, started.elapsed());
            }
            Err(e) => {
                tracing::warn!(bank = %endpoint.bank, error = %e, "no usable answer");
                backoff
            }
        };
        tokio::time::sleep(wait.min(give_up.saturating_sub(started.elapsed()))).await;
        backoff = (backoff * 2).min(Duration::from_secs(8));
    }
    (id, None, attempts, started.elapsed())
}

async fn receive(
    State(state): State<CallbackState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let refuse = |status: StatusCode| (status, HeaderMap::new(), Vec::new());
    let now = state.clock.now();
    let verified =
        match state
            .verifier
            .verify_request(&Method::POST, CALLBACK_PATH, &headers, &body, now)
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(code = e.code(), "refused a callback for its signature");
                return refuse(StatusCode::UNAUTHORIZED);
            }
        };
    let Ok(batch) = AnswerBatch::from_json(&body, &Limits::default()) else {
        return refuse(StatusCode::BAD_REQUEST);
    };
    let owner = state
        .keys
        .get(&verified.key_id)
        .and_then(|k| k.owner.clone());
    if owner.as_deref() != Some(batch.bank.as_str()) {
        return refuse(StatusCode::FORBIDDEN);
    }
    {
        let mut waiters = state.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for answer in &batch.answers {
            let matches = waiters
                .get(&answer.inquiry_id)
                .is_some_and(|(bank, _)| *bank == batch.bank);
            if matches && let Some((_, tx)) = waiters.remove(&answer.inquiry_id) {
                let _ = tx.send(answer.clone());
            }
        }
    }
    // Acknowledge with a signed `Accepted` naming every answer received (repeats included).
    let Ok(ack) = Accepted::for_answers(&batch).to_json() else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR);
    };
    match state
        .signer
        .sign_response(StatusCode::OK, JSON_CONTENT_TYPE, &ack, now)
    {
        Ok(mut headers) => {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(JSON_CONTENT_TYPE),
            );
            (StatusCode::OK, headers, ack)
        }
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR),
    }
}
