//! `chaka bench hub`: the hub end to end. It starts the pilot banks' nodes in-process on
//! loopback (prompt, no injected latency) and the hub runtime with SQLite in a fresh temporary
//! folder, pre-seeds cardholders of the open regions (31, 53), and drives lookups through the
//! public HTTP API with concurrent clients: ask for the SMS code, read it from the in-process
//! gateway, submit to every bank with an `Idempotency-Key`, and wait for the report to become
//! final (the "report ready" outbox row the finalising transaction writes). It prints one line:
//! completed inquiries per second, submit latency, time to final, bank round trips, CPU and
//! peak memory. `--slow-bank` makes one bank never answer and reports the memory of the process
//! while inquiries pile up waiting on it.
//!
//! Argon2 runs with cheap parameters here: the KDF cost (a property of login and PIN checks,
//! paid once per session or report opening) is not what this measures.

use crate::world::{self, Behaviour, RunningBank, Stopper};
use anyhow::{Context, bail};
use chaka_bank::node::FaultConfig;
use chaka_core::{BankCode, BankRegistry, IdNumber, Phone, SharedClock, SystemClock};
use chaka_hub::config::{HubConfig, IdentityConfig, KdfConfig, SmsConfig};
use chaka_hub::runtime::Runtime;
use chaka_hub::seed::Seed;
use chaka_hub::sms::{Sms, SmsError, SmsGateway, SmsReceipt};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey};
use clap::Args;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
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

/// `chaka bench hub` options.
#[derive(Debug, Args)]
pub struct HubBench {
    /// Banks asked per inquiry (the first N of the 14 pilot banks).
    #[arg(long, default_value_t = 14)]
    banks: usize,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Cardholders to seed (default: enough for the run; each asks once).
    #[arg(long)]
    accounts: Option<usize>,
    /// Concurrent clients; each submits, then waits for its report to be final.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// People in the generated population (generated once into --population).
    #[arg(long, default_value_t = 500_000)]
    people: u64,
    /// Population folder (default: chaka-data/bench-hub-<people>).
    #[arg(long)]
    population: Option<PathBuf>,
    /// Make the last bank never answer, submit --waiting inquiries without waiting for them,
    /// and report the process's memory as they pile up.
    #[arg(long)]
    slow_bank: bool,
    /// With --slow-bank: inquiries to leave waiting on the silent bank.
    #[arg(long, default_value_t = 20_000)]
    waiting: usize,
    /// Argon2id memory for passwords and PINs, KiB (cheap on purpose: not what is measured).
    #[arg(long, default_value_t = 256)]
    kdf_memory_kib: u32,
}

/// Runs `chaka bench hub`.
pub async fn run(args: HubBench) -> anyhow::Result<()> {
    if args.banks == 0 || args.duration == 0 || args.concurrency == 0 {
        bail!("--banks, --duration and --concurrency must be positive");
    }
    let pilot: Vec<BankCode> = BankRegistry::builtin()
        .pilot()
        .map(|b| b.code.clone())
        .collect();
    if args.banks > pilot.len() {
        bail!("--banks must be 1 to {} (the pilot banks)", pilot.len());
    }
    let wanted = if args.slow_bank {
        args.waiting
    } else {
        args.accounts.unwrap_or(300 * args.duration as usize)
    };
    let population = args
        .population
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("chaka-data/bench-hub-{}", args.people)));
    ensure_population(&population, args.people, &pilot).await?;
    let banks: Vec<BankCode> = pilot.into_iter().take(args.banks).collect();

    let dir = tempfile::tempdir()?;
    let clock: SharedClock = Arc::new(SystemClock);
    let (stopper, stop) = Stopper::new();
    let hub_key_path = dir.path().join("hub.pem");
    let hub_key = world::load_or_create_key(&hub_key_path)?;
    let hub_keys = KeySet::new()
        .with(KnownKey::new(KeyId::parse("hub-1")?, hub_key.public_key()).owned_by("hub"));
    // The bank nodes and the load-generating clients run on runtimes of their own, as they
    // would in their own processes: the hub's scheduler then serves only the hub's tasks (the
    // operating system still shares the same 2 cores between all of them).
    let banks_rt = Side::new("bench-banks", 2)?;
    let clients_rt = Side::new("bench-clients", 1)?;
    let mut nodes: Vec<RunningBank> = Vec::new();
    for (i, code) in banks.iter().enumerate() {
        let store = population.join("banks").join(format!("{code}.sqlite"));
        let mut behaviour = Behaviour::prompt();
        if args.slow_bank && i + 1 == banks.len() {
            behaviour.label = "silent";
            behaviour.faults = FaultConfig {
                silent_rate: 1.0,
                ..FaultConfig::default()
            };
        }
        let (code, folder, hub_keys, clock, stop) = (
            code.clone(),
            dir.path().to_owned(),
            hub_keys.clone(),
            clock.clone(),
            stop.clone(),
        );
        let started = banks_rt
            .handle()
            .spawn(async move {
                world::start_bank(
                    code,
                    &store,
                    &folder,
                    hub_keys,
                    behaviour,
                    clock,
                    "127.0.0.1:0".parse()?,
                    stop,
                )
                .await
            })
            .await??;
        nodes.push(started);
    }
    let banks_file = dir.path().join("banks.toml");
    std::fs::write(&banks_file, registry_toml(&nodes))?;
    let secrets = dir.path().join("hub-secrets.toml");
    crate::cmd::keys::write_secret_file(
        &secrets,
        chaka_hub::vault::Secrets::generate().to_toml().as_bytes(),
        false,
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let config = HubConfig {
        listen: address,
        public_url: format!("http://{address}"),
        database: dir.path().join("hub.sqlite").into(),
        banks_file,
        secrets_file: secrets,
        signing_key: hub_key_path,
        identity: IdentityConfig::Sandbox {
            citizens: population.join(chaka_bank::r#gen::CITIZENS_FILE),
        },
        sms: SmsConfig::Console,
        kdf: KdfConfig {
            memory_kib: args.kdf_memory_kib,
            iterations: 1,
            parallelism: 1,
        },
        ..HubConfig::default()
    };
    config.validate()?;
    let gateway = Arc::new(BenchGateway::default());
    let (runtime, router) = Runtime::start(config, clock.clone(), Some(gateway.clone())).await?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let started = Instant::now();
    let people = open_region_people(&population, wanted + wanted / 10 + 50).await?;
    let seeded = seed(&runtime, people, wanted).await?;
    if seeded.len() < wanted {
        eprintln!(
            "warning: only {} cardholders could be seeded (wanted {wanted}); use a larger --people",
            seeded.len()
        );
    }
    let api = Api::new(address)?;
    let holders = login_all(&api, seeded).await?;
    println!(
        "{} cardholders of regions 31/53 seeded and logged in ({:.1} s; Argon2id at {} KiB, 1 pass: \
         the KDF cost is not what is measured)",
        holders.len(),
        started.elapsed().as_secs_f64(),
        args.kdf_memory_kib
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let bank_codes: Vec<String> = banks.iter().map(|b| b.as_str().to_owned()).collect();
    let drive = Drive {
        api,
        gateway,
        holders,
        banks: bank_codes,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        ran_out: AtomicBool::new(false),
        tracker: Tracker::default(),
        failures: AtomicU64::new(0),
        submit_latencies: Mutex::new(Vec::new()),
    };
    let drive = Arc::new(drive);
    // The bench's hub runs on its own SQLite file (configured above).
    let chaka_hub::store::Backend::Sqlite(database) = &runtime.database else {
        anyhow::bail!("chaka bench hub runs its hub on SQLite");
    };
    let watcher = tokio::spawn(watch_finals(database.pool().clone(), drive.clone()));

    let result = if args.slow_bank {
        slow_bank(
            &drive,
            &nodes,
            &clients_rt,
            args.concurrency,
            args.waiting,
            cores,
        )
        .await
    } else {
        throughput(
            &drive,
            &nodes,
            &clients_rt,
            args.concurrency,
            args.duration,
            cores,
        )
        .await
    };
    drive.stop.store(true, Ordering::Relaxed);
    watcher.abort();
    server.abort();
    runtime.shutdown().await;
    stopper.stop();
    result
}

/// A runtime beside the hub's, on threads of its own. Dropping it stops it without waiting
/// (a runtime cannot be dropped from inside another one), so an early `?` still ends cleanly.
struct Side {
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Side {
    fn new(name: &str, threads: usize) -> anyhow::Result<Self> {
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

    fn handle(&self) -> &tokio::runtime::Handle {
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

/// Generates the population once, for the pilot banks.
async fn ensure_population(dir: &Path, people: u64, pilot: &[BankCode]) -> anyhow::Result<()> {
    let complete = dir.join(chaka_bank::r#gen::MANIFEST_FILE).exists()
        && pilot
            .iter()
            .all(|b| dir.join("banks").join(format!("{b}.sqlite")).exists());
    if complete {
        return Ok(());
    }
    println!(
        "Generating {people} people for the {} pilot banks into {} (once) …",
        pilot.len(),
        dir.display()
    );
    let mut options = chaka_bank::r#gen::GenOptions::new(1, people, dir);
    options.banks = Some(pilot.to_vec());
    options.force = true;
    crate::cmd::generate::generate_with_bar(&options).await?;
    Ok(())
}

/// The hub's bank registry for the running nodes (all open, every region).
fn registry_toml(nodes: &[RunningBank]) -> String {
    let mut out = String::from("# Written by `chaka bench hub`.\n");
    for b in nodes {
        out.push_str(&format!(
            "\n[[bank]]\ncode = \"{}\"\nendpoint = \"{}\"\nstatus = \"open\"\nregions = []\n\n\
             [[bank.keys]]\nkey_id = \"{}\"\npublic_key = \"{}\"\n",
            b.bank,
            b.endpoint.as_str().trim_end_matches('/'),
            b.key.key_id.as_str(),
            b.key.public_key.to_base64url(),
        ));
    }
    out
}

struct Person {
    name: String,
    id_number: String,
    phone: String,
}

/// People whose ID number is from Shanghai (31) or Yunnan (53), from the citizen registry.
async fn open_region_people(population: &Path, limit: usize) -> anyhow::Result<Vec<Person>> {
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
async fn seed(runtime: &Runtime, people: Vec<Person>, wanted: usize) -> anyhow::Result<Vec<Phone>> {
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
        let (hub, done) = (runtime.hub.clone(), done.clone());
        tasks.spawn(async move {
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
        });
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
struct Holder {
    phone: Phone,
    token: String,
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(hub: std::net::SocketAddr) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256)
                .build()?,
            base: format!("http://{hub}/api/v1"),
        })
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
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
async fn login_all(api: &Api, phones: Vec<Phone>) -> anyhow::Result<Vec<Holder>> {
    let permits = Arc::new(Semaphore::new(16));
    let mut tasks = JoinSet::new();
    for phone in phones {
        let permit = permits.clone().acquire_owned().await?;
        let api = api.clone();
        tasks.spawn(async move {
            let body = json!({ "phone": phone.as_str(), "password": PASSWORD });
            let answer = api.post("/sessions", None, &body, None).await;
            drop(permit);
            match answer {
                Ok((201, v)) => v.get("token").and_then(Value::as_str).map(|token| Holder {
                    phone,
                    token: token.to_owned(),
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
struct BenchGateway {
    codes: Mutex<HashMap<String, String>>,
    arrived: Notify,
    sent: Mutex<HashMap<&'static str, u64>>,
}

impl BenchGateway {
    fn accept(&self, sms: &Sms) {
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

    fn count(&self, template: &str) -> u64 {
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
struct Tracker {
    state: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    waiting: HashMap<String, (Instant, Option<oneshot::Sender<()>>)>,
    /// Final before its submission was registered (the response was slower than the banks).
    early: HashMap<String, Instant>,
    /// Time to final of every inquiry seen final.
    to_final: Vec<(Instant, Duration)>,
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

    fn finalized(&self, id: String, now: Instant) {
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

    /// (submitted, final, waiting).
    fn counts(&self) -> (u64, u64, usize) {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (s.submitted, s.to_final.len() as u64, s.waiting.len())
    }
}

struct Drive {
    api: Api,
    gateway: Arc<BenchGateway>,
    holders: Vec<Holder>,
    banks: Vec<String>,
    next: AtomicUsize,
    stop: AtomicBool,
    ran_out: AtomicBool,
    tracker: Tracker,
    failures: AtomicU64,
    submit_latencies: Mutex<Vec<(Instant, Duration)>>,
}

/// Follows the outbox's "report ready" rows (`ready:<inquiry>`, written in the transaction that
/// makes a report final) every 5 ms through the hub's own pool (a WAL reader: it never blocks a
/// writer).
async fn watch_finals(pool: sqlx::SqlitePool, drive: Arc<Drive>) {
    let mut last: i64 = 0;
    loop {
        // Every new row moves the mark (rowids grow in commit order: SQLite has one writer), so
        // each poll reads only what was written since the last.
        let rows =
            sqlx::query("SELECT rowid, idempotency_key FROM outbox WHERE rowid > ? ORDER BY rowid")
                .bind(last)
                .fetch_all(&pool)
                .await;
        let now = Instant::now();
        if let Ok(rows) = rows {
            for row in rows {
                if let (Ok(rowid), Ok(key)) = (
                    row.try_get::<i64, _>("rowid"),
                    row.try_get::<String, _>("idempotency_key"),
                ) {
                    last = last.max(rowid);
                    if let Some(id) = key.strip_prefix("ready:") {
                        drive.tracker.finalized(id.to_owned(), now);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One client: takes the next cardholder, asks for a code, submits, and (if `wait_final`)
/// waits for the report to be final before the next.
async fn client(drive: Arc<Drive>, wait_final: bool) {
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
        .post("/inquiries/code", token, &Value::Null, None)
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
        .post("/inquiries", token, &request, Some(&key))
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

/// CPU time of this process (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces): state is field 3; utime and
    // stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A `/proc/self/status` figure in MiB (`VmRSS`, `VmHWM`).
fn memory_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn bank_totals(nodes: &[RunningBank]) -> (u64, u64) {
    nodes.iter().fold((0, 0), |(r, a), n| {
        let s = n.node.stats();
        (r + s.requests, a + s.answers)
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1000.0
}

async fn throughput(
    drive: &Arc<Drive>,
    nodes: &[RunningBank],
    side: &Side,
    concurrency: usize,
    duration: u64,
    cores: usize,
) -> anyhow::Result<()> {
    let (requests0, answers0) = bank_totals(nodes);
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        clients.spawn_on(client(drive.clone(), true), side.handle());
    }
    let window = Duration::from_secs(duration);
    tokio::time::sleep(window).await;
    let t1 = Instant::now();
    let elapsed = t1.duration_since(t0);
    let (requests1, answers1) = bank_totals(nodes);
    let cpu = cpu_time().saturating_sub(cpu0);
    drive.stop.store(true, Ordering::Relaxed);
    // Let the last clients see their reports (they are not counted in the rate).
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    clients.abort_all();
    // The "ready" SMS leave through the outbox after the report is final: give the notifier
    // a moment to deliver the last ones, so the line below checks exactly one per report.
    let (_, finals, _) = drive.tracker.counts();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while drive.gateway.count("report_ready") < finals {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    let secs = elapsed.as_secs_f64();
    let (submitted, finals, waiting) = drive.tracker.counts();
    let (completed, mut to_final): (u64, Vec<Duration>) = {
        let s = drive
            .tracker
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let in_window = s.to_final.iter().filter(|(at, _)| *at <= t1).count() as u64;
        (in_window, s.to_final.iter().map(|(_, d)| *d).collect())
    };
    let mut submits: Vec<Duration> = drive
        .submit_latencies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(_, d)| *d)
        .collect();
    submits.sort_unstable();
    to_final.sort_unstable();
    let rate = completed as f64 / secs;
    println!(
        "\nmachine: {cores} cores, shared by the clients, the hub and {} bank nodes",
        nodes.len()
    );
    println!(
        "{:>5} {:>5} {:>12} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>11} {:>9}",
        "banks",
        "conc",
        "inquiries/s",
        "sub p50",
        "sub p99",
        "fin p50",
        "fin p99",
        "bank req/s",
        "bank ans/s",
        "CPU",
        "peak RSS"
    );
    println!(
        "{:>5} {:>5} {:>12.1} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>11.0} {:>11.0} {:>5.0}% of {cores} {:>6.0} MiB",
        nodes.len(),
        concurrency,
        rate,
        percentile(&submits, 0.50),
        percentile(&submits, 0.99),
        percentile(&to_final, 0.50),
        percentile(&to_final, 0.99),
        (requests1 - requests0) as f64 / secs,
        (answers1 - answers0) as f64 / secs,
        cpu.as_secs_f64() / (secs * cores as f64) * 100.0,
        memory_mib("VmHWM:"),
    );
    println!(
        "\n{completed} inquiries final within {secs:.1} s ({submitted} submitted, {finals} final \
         after the drain, {waiting} still open); {} failed lookups; SMS: {} codes, {} \
         \"requested\", {} \"ready\"",
        drive.failures.load(Ordering::Relaxed),
        drive.gateway.count("otp_inquiry"),
        drive.gateway.count("lookup_requested"),
        drive.gateway.count("report_ready"),
    );
    if drive.ran_out.load(Ordering::Relaxed) {
        eprintln!(
            "warning: the clients ran out of cardholders before the end; pass a larger --accounts"
        );
    }
    Ok(())
}

async fn slow_bank(
    drive: &Arc<Drive>,
    nodes: &[RunningBank],
    side: &Side,
    concurrency: usize,
    waiting: usize,
    cores: usize,
) -> anyhow::Result<()> {
    let silent = nodes.last().map(|n| n.bank.to_string()).unwrap_or_default();
    println!(
        "\n{silent} never answers; submitting {waiting} inquiries with {concurrency} clients \
         (not waiting for them) on {cores} cores"
    );
    println!(
        "{:>8} {:>9} {:>12} {:>10} {:>10} {:>14}",
        "secs", "waiting", "submitted/s", "RSS MiB", "peak MiB", "bank answers"
    );
    let t0 = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        clients.spawn_on(client(drive.clone(), false), side.handle());
    }
    let step = (waiting / 10).max(1);
    let mut next_report = step;
    let mut last = (t0, 0u64);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (submitted, _, open) = drive.tracker.counts();
        let finished = clients.is_empty() || drive.ran_out.load(Ordering::Relaxed);
        if open >= next_report || finished || submitted as usize >= waiting {
            let now = Instant::now();
            let rate = (submitted - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, submitted);
            println!(
                "{:>8.1} {:>9} {:>12.0} {:>10.0} {:>10.0} {:>14}",
                t0.elapsed().as_secs_f64(),
                open,
                rate,
                memory_mib("VmRSS:"),
                memory_mib("VmHWM:"),
                bank_totals(nodes).1,
            );
            next_report = (open / step + 1) * step;
        }
        while clients.try_join_next().is_some() {}
        if submitted as usize >= waiting || clients.is_empty() {
            break;
        }
    }
    drive.stop.store(true, Ordering::Relaxed);
    while clients.join_next().await.is_some() {}
    let (_, _, open) = drive.tracker.counts();
    println!(
        "{open} inquiries waiting on {silent} after {:.0} s; RSS {:.0} MiB, peak {:.0} MiB; \
         {} failed submissions",
        t0.elapsed().as_secs_f64(),
        memory_mib("VmRSS:"),
        memory_mib("VmHWM:"),
        drive.failures.load(Ordering::Relaxed)
    );
    Ok(())
}
