//! The load of `chaka bench hub`: cardholders seeded and logged in, clients that ask for a
//! code, submit and wait for the report to be final (on any of the hub instances), the
//! benchmark's SMS gateway, and the tracker of submitted and final inquiries.

use anyhow::{Context, bail};
use chaka_core::{IdNumber, Phone};
use chaka_hub::hub::Hub;
use chaka_hub::seed::Seed;
use chaka_hub::sms::{Sms, SmsError, SmsGateway, SmsReceipt};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinSet;

/// The password of every benchmark cardholder.
const PASSWORD: &str = "chaka-bench-2021";
/// PINs tried in order for each cardholder (the first the PIN rules accept is used).
const PINS: [&str; 4] = ["582936", "739164", "415827", "294617"];

/// A runtime beside the hub's, on threads of its own. Dropping it stops it without waiting
/// (a runtime cannot be dropped from inside another one), so an early `?` still ends cleanly.
pub(super) struct Side {
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Side {
    pub(super) fn new(name: &str, threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub(super) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(super) struct Person {
    name: String,
    id_number: String,
    phone: String,
}

/// People whose ID number is from Shanghai (31) or Yunnan (53), from the citizen registry.
pub(super) async fn open_region_people(
    population: &Path,
    limit: usize,
) -> anyhow::Result<Vec<Person>> {
    let path = population.join(chaka_bank::r#gen::CITIZENS_FILE);
    let url = format!("sqlite://{}?mode=ro", path.display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let rows = sqlx::query(
        "SELECT id_number, name, phone FROM citizens \
         WHERE substr(id_number, 1, 2) IN ('31', '53') AND phone IS NOT NULL LIMIT ?",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    let mut people = Vec::with_capacity(rows.len());
    for row in rows {
        people.push(Person {
            id_number: row.try_get("id_number")?,
            name: row.try_get("name")?,
            phone: row.try_get("phone")?,
        });
    }
    Ok(people)
}

/// Seeds up to `wanted` of `people` concurrently; returns the phones of those seeded.
pub(super) async fn seed(
    hub: &Arc<Hub>,
    on: &tokio::runtime::Handle,
    people: Vec<Person>,
    wanted: usize,
) -> anyhow::Result<Vec<Phone>> {
    let permits = Arc::new(Semaphore::new(8));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for person in people {
        let Some(pin) = pin_for(&person) else {
            continue;
        };
        let permit = permits.clone().acquire_owned().await?;
        if done.load(Ordering::Relaxed) >= wanted {
            break;
        }
        let (hub, done) = (hub.clone(), done.clone());
        tasks.spawn_on(
            async move {
                let seed = Seed {
                    name: &person.name,
                    id_number: &person.id_number,
                    phone: &person.phone,
                    password: PASSWORD,
                    pin,
                };
                let created = matches!(hub.seed_account(&seed).await, Ok(true));
                drop(permit);
                if created && done.fetch_add(1, Ordering::Relaxed) < wanted {
                    Phone::parse(&person.phone).ok()
                } else {
                    None
                }
            },
            on,
        );
    }
    let mut phones = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Some(phone) = joined? {
            phones.push(phone);
        }
    }
    phones.truncate(wanted);
    Ok(phones)
}

fn pin_for(person: &Person) -> Option<&'static str> {
    let id = IdNumber::parse(&person.id_number).ok()?;
    let phone = Phone::parse(&person.phone).ok()?;
    PINS.into_iter().find(|pin| {
        chaka_hub::vault::Pin::parse(pin)
            .is_ok_and(|p| chaka_hub::pin_policy::check(&p, &id, &phone).is_ok())
    })
}

/// A cardholder ready to ask: their phone and a session token.
pub(super) struct Holder {
    phone: Phone,
    token: String,
    /// The hub instance this cardholder talks to.
    instance: usize,
}

#[derive(Clone)]
pub(super) struct Api {
    http: reqwest::Client,
    /// One API base URL per hub instance.
    bases: Vec<String>,
}

impl Api {
    pub(super) fn new(hubs: &[std::net::SocketAddr]) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256)
                .build()?,
            bases: hubs.iter().map(|h| format!("http://{h}/api/v1")).collect(),
        })
    }

    async fn post(
        &self,
        instance: usize,
        path: &str,
        token: Option<&str>,
        body: &Value,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let base = self
            .bases
            .get(instance % self.bases.len().max(1))
            .context("no hub instance")?;
        let mut request = self.http.post(format!("{base}{path}")).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

/// Logs every cardholder in once (16 at a time).
pub(super) async fn login_all(api: &Api, phones: Vec<Phone>) -> anyhow::Result<Vec<Holder>> {
    let permits = Arc::new(Semaphore::new(16));
    let mut tasks = JoinSet::new();
    for (i, phone) in phones.into_iter().enumerate() {
        let permit = permits.clone().acquire_owned().await?;
        let api = api.clone();
        // The cardholders are spread over the instances, as a load balancer would.
        let instance = i % api.bases.len().max(1);
        tasks.spawn(async move {
            let body = json!({ "phone": phone.as_str(), "password": PASSWORD });
            let answer = api.post(instance, "/sessions", None, &body, None).await;
            drop(permit);
            match answer {
                Ok((201, v)) => v.get("token").and_then(Value::as_str).map(|token| Holder {
                    phone,
                    token: token.to_owned(),
                    instance,
                }),
                _ => None,
            }
        });
    }
    let mut holders = Vec::new();
    let mut failed = 0usize;
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Some(h) => holders.push(h),
            None => failed += 1,
        }
    }
    if failed > 0 {
        eprintln!("warning: {failed} logins failed");
    }
    Ok(holders)
}

/// The benchmark's SMS gateway: prints nothing, keeps only the latest unread code per phone
/// (so that its own memory stays flat) and counts messages per template.
#[derive(Default)]
pub(super) struct BenchGateway {
    codes: Mutex<HashMap<String, String>>,
    arrived: Notify,
    sent: Mutex<HashMap<&'static str, u64>>,
    /// Idempotency keys of the "report ready" SMS received, and how many came twice.
    ready: Mutex<HashSet<String>>,
    ready_twice: AtomicU64,
}

impl BenchGateway {
    fn accept(&self, sms: &Sms) {
        if sms.template == "report_ready"
            && !self
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(sms.idempotency_key.clone())
        {
            self.ready_twice.fetch_add(1, Ordering::Relaxed);
        }
        if sms.template.starts_with("otp_")
            && let Some(code) = sms
                .text
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == 6)
        {
            self.codes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(sms.to.as_str().to_owned(), code.to_owned());
            self.arrived.notify_waiters();
        }
        *self
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(sms.template)
            .or_default() += 1;
    }

    /// The code sent to `phone`, once, waiting up to `wait` for it.
    async fn take_code(&self, phone: &Phone, wait: Duration) -> Option<String> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(code) = self
                .codes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(phone.as_str())
            {
                return Some(code);
            }
            tokio::time::timeout_at(until, arrived).await.ok()?;
        }
    }

    /// "Report ready" SMS received a second time for the same report.
    pub(super) fn ready_twice(&self) -> u64 {
        self.ready_twice.load(Ordering::Relaxed)
    }

    pub(super) fn count(&self, template: &str) -> u64 {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(template)
            .copied()
            .unwrap_or(0)
    }
}

impl SmsGateway for BenchGateway {
    fn send<'a, 'b, 'c>(
        &'a self,
        sms: &'b Sms,
    ) -> Pin<Box<dyn Future<Output = Result<SmsReceipt, SmsError>> + Send + 'c>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.accept(sms);
        Box::pin(std::future::ready(Ok(SmsReceipt { message_id: None })))
    }
}

/// Inquiries submitted and not yet seen final, and the finals seen.
#[derive(Default)]
pub(super) struct Tracker {
    pub(super) state: Mutex<TrackerState>,
}

#[derive(Default)]
pub(super) struct TrackerState {
    pub(super) waiting: HashMap<String, (Instant, Option<oneshot::Sender<()>>)>,
    /// Final before its submission was registered (the response was slower than the banks).
    early: HashMap<String, Instant>,
    /// Time to final of every inquiry seen final.
    pub(super) to_final: Vec<(Instant, Duration)>,
    submitted: u64,
}

impl Tracker {
    fn submitted(&self, id: String, at: Instant, waiter: Option<oneshot::Sender<()>>) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.submitted += 1;
        if let Some(done) = s.early.remove(&id) {
            s.to_final.push((done, done.saturating_duration_since(at)));
            if let Some(w) = waiter {
                let _ = w.send(());
            }
        } else {
            s.waiting.insert(id, (at, waiter));
        }
    }

    pub(super) fn finalized(&self, id: String, now: Instant) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match s.waiting.remove(&id) {
            Some((at, waiter)) => {
                s.to_final.push((now, now.saturating_duration_since(at)));
                if let Some(w) = waiter {
                    let _ = w.send(());
                }
            }
            None => {
                s.early.insert(id, now);
            }
        }
    }

    /// The inquiries submitted and not yet seen final.
    pub(super) fn waiting_ids(&self) -> Vec<String> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.waiting.keys().cloned().collect()
    }

    /// (submitted, final, waiting).
    pub(super) fn counts(&self) -> (u64, u64, usize) {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (s.submitted, s.to_final.len() as u64, s.waiting.len())
    }
}

pub(super) struct Drive {
    pub(super) api: Api,
    pub(super) gateway: Arc<BenchGateway>,
    pub(super) holders: Vec<Holder>,
    pub(super) banks: Vec<String>,
    pub(super) next: AtomicUsize,
    pub(super) stop: AtomicBool,
    pub(super) ran_out: AtomicBool,
    pub(super) tracker: Tracker,
    pub(super) failures: AtomicU64,
    pub(super) submit_latencies: Mutex<Vec<(Instant, Duration)>>,
}

/// One client: takes the next cardholder, asks for a code, submits, and (if `wait_final`)
/// waits for the report to be final before the next.
pub(super) async fn client(drive: Arc<Drive>, wait_final: bool) {
    while !drive.stop.load(Ordering::Relaxed) {
        let i = drive.next.fetch_add(1, Ordering::Relaxed);
        let Some(holder) = drive.holders.get(i) else {
            drive.ran_out.store(true, Ordering::Relaxed);
            return;
        };
        match one_lookup(&drive, holder, i, wait_final).await {
            Ok(()) => {}
            Err(e) => {
                if drive.failures.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("warning: a lookup failed: {e:#}");
                }
            }
        }
    }
}

async fn one_lookup(
    drive: &Drive,
    holder: &Holder,
    i: usize,
    wait_final: bool,
) -> anyhow::Result<()> {
    let token = Some(holder.token.as_str());
    let (status, body) = drive
        .api
        .post(
            holder.instance,
            "/inquiries/code",
            token,
            &Value::Null,
            None,
        )
        .await?;
    if status != 202 {
        bail!("/inquiries/code answered {status}: {}", problem(&body));
    }
    let code = drive
        .gateway
        .take_code(&holder.phone, Duration::from_secs(30))
        .await
        .context("no SMS code within 30 s")?;
    let request = json!({
        "banks": drive.banks,
        "consent_version": chaka_hub::agreement::VERSION,
        "consent_lang": "zh",
        "code": code,
    });
    let key = format!("bench-{i}");
    let sent = Instant::now();
    let (status, body) = drive
        .api
        .post(holder.instance, "/inquiries", token, &request, Some(&key))
        .await?;
    let took = sent.elapsed();
    if status != 201 {
        bail!("/inquiries answered {status}: {}", problem(&body));
    }
    drive
        .submit_latencies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((Instant::now(), took));
    let id = body
        .get("inquiry_id")
        .and_then(Value::as_str)
        .context("no inquiry id")?
        .to_owned();
    if wait_final {
        let (tx, rx) = oneshot::channel();
        drive.tracker.submitted(id, sent, Some(tx));
        tokio::time::timeout(Duration::from_secs(120), rx)
            .await
            .context("the report was not final within 120 s")??;
    } else {
        drive.tracker.submitted(id, sent, None);
    }
    Ok(())
}

fn problem(body: &Value) -> String {
    body.get("code")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}
