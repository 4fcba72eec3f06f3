//! `chaka bench`: measurements that print figures. `chaka bench bank` measures one reference
//! bank node over loopback HTTP (verification, indexed lookup, rules, sealing and signing
//! included) against the same machine's bare HTTP round trip, with batches of 1 and of 32.

use crate::world::{self, Behaviour, Stopper};
use anyhow::{Context, bail};
use chaka_core::{BankCode, IdNumber, InquiryId, Phone, SharedClock, SystemClock};
use chaka_hub::banks::HubBanks;
use chaka_hub::connector::{Connector, ConnectorSettings, Delivery};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, RecipientKeyPair, SigningKeyPair};
use chaka_protocol::message::{Inquiry, InquiryBatch, Subject};
use chaka_protocol::suite::Suite;
use clap::{Args, Subcommand};
use sqlx::Row;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Measure throughput and print figures.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Answered inquiries per second of one bank node over loopback HTTP.
    Bank(BankBench),
    /// The hub end to end: completed 14-bank inquiries per second through the public API.
    Hub(crate::cmd::bench_hub::HubBench),
}

#[derive(Debug, Args)]
struct BankBench {
    /// People in the population (generated once into --population).
    #[arg(long, default_value_t = 1_000_000)]
    people: u64,
    /// Population folder (default: chaka-data/bench-<people>).
    #[arg(long)]
    population: Option<PathBuf>,
    /// The bank to measure.
    #[arg(long, default_value = "ICBC")]
    bank: String,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Batch sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    batch: Vec<usize>,
}

/// Runs `chaka bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    crate::logging::init_with_default("warn");
    match args.target {
        BenchTarget::Bank(b) => bank(b).await,
        BenchTarget::Hub(h) => Box::pin(crate::cmd::bench_hub::run(h)).await,
    }
}

struct Subjects(Vec<Subject>);

async fn bank(args: BankBench) -> anyhow::Result<()> {
    if args.batch.iter().any(|b| !(1..=64).contains(b)) {
        bail!("--batch sizes must be 1 to 64 (the protocol's batch limit)");
    }
    if args.duration == 0 || args.concurrency == 0 {
        bail!("--duration and --concurrency must be positive");
    }
    let code = BankCode::parse(&args.bank).context("--bank")?;
    let population = args
        .population
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("chaka-data/bench-{}", args.people)));
    let store = population.join("banks").join(format!("{code}.sqlite"));
    if !store.exists() {
        println!(
            "Generating {} people for {code} into {} (once) …",
            args.people,
            population.display()
        );
        let mut options = chaka_bank::r#gen::GenOptions::new(1, args.people, &population);
        options.banks = Some(vec![code.clone()]);
        options.force = true;
        crate::cmd::generate::generate_with_bar(&options).await?;
    }
    let subjects = load_subjects(&store, 50_000).await?;
    println!(
        "{} subjects with cards at {code} loaded from {}",
        subjects.0.len(),
        store.display()
    );

    let clock: SharedClock = Arc::new(SystemClock);
    let hub_key = SigningKeyPair::generate();
    let hub_key_id = KeyId::parse("hub-bench")?;
    let hub_keys =
        KeySet::new().with(KnownKey::new(hub_key_id.clone(), hub_key.public_key()).owned_by("hub"));
    let key_dir = tempfile::tempdir()?;
    let (stopper, stop) = Stopper::new();
    let node = world::start_bank(
        code.clone(),
        &store,
        key_dir.path(),
        hub_keys,
        Behaviour::prompt(),
        clock.clone(),
        "127.0.0.1:0".parse()?,
        stop,
    )
    .await?;
    let registry = HubBanks::from_banks(vec![node.hub_bank()]);
    let settings = ConnectorSettings {
        timeout: Duration::from_secs(30),
        pool_max_idle_per_host: 64,
        ..ConnectorSettings::default()
    };
    let client = Connector::new(hub_key_id, hub_key, &registry, clock.clone(), &settings)?;
    let duration = Duration::from_secs(args.duration);

    let baseline = bare_http(args.concurrency, duration).await?;
    println!(
        "\nmachine: {} cores; load generator, signer/verifier and node share them",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("bare HTTP round trips (POST, 200, same client and concurrency): {baseline:.0} /s\n");
    println!(
        "{:>6} {:>16} {:>12} {:>10} {:>10} {:>14}",
        "batch", "inquiries/s", "requests/s", "p50 ms", "p99 ms", "vs bare HTTP"
    );
    let subjects = Arc::new(subjects);
    for &batch in &args.batch {
        let r = drive(
            &client,
            &node.bank,
            &subjects,
            batch,
            args.concurrency,
            duration,
            &clock,
        )
        .await?;
        println!(
            "{:>6} {:>16.0} {:>12.0} {:>10.1} {:>10.1} {:>13.2}x",
            batch,
            r.inquiries_per_sec,
            r.requests_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.inquiries_per_sec / baseline
        );
    }
    let stats = node.node.stats();
    println!(
        "\nnode: {} requests, {} answers, {} lookups, {} refused signatures",
        stats.requests, stats.answers, stats.lookups, stats.bad_signatures
    );
    stopper.stop();
    Ok(())
}

async fn load_subjects(store: &std::path::Path, limit: i64) -> anyhow::Result<Subjects> {
    let url = format!("sqlite://{}?mode=ro", store.display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let rows = sqlx::query(
        "SELECT h.id_number, h.name, MIN(c.reserved_phone) AS phone FROM holders h \
         JOIN cards c ON c.holder_id = h.holder_id \
         WHERE c.reserved_phone IS NOT NULL GROUP BY h.holder_id LIMIT ?",
    )
    .bind(limit)
    .fetch_all(&pool)
    .await?;
    let mut subjects = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id_number")?;
        let phone: String = row.try_get("phone")?;
        subjects.push(Subject {
            name: row.try_get("name")?,
            id_number: IdNumber::parse(&id)?,
            phone: Phone::parse(&phone)?,
        });
    }
    pool.close().await;
    if subjects.is_empty() {
        bail!("the store has no card holder with a reserved phone");
    }
    Ok(Subjects(subjects))
}

struct Figures {
    inquiries_per_sec: f64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn drive(
    client: &Connector,
    bank: &BankCode,
    subjects: &Arc<Subjects>,
    batch: usize,
    concurrency: usize,
    duration: Duration,
    clock: &SharedClock,
) -> anyhow::Result<Figures> {
    let user_key = RecipientKeyPair::generate().public_key();
    let answered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, bank, subjects, clock) = (
            client.clone(),
            bank.clone(),
            subjects.clone(),
            clock.clone(),
        );
        let (answered, failed, stop, user_key) =
            (answered.clone(), failed.clone(), stop.clone(), user_key);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut next = worker * 7919;
            while !stop.load(Ordering::Relaxed) {
                let now = clock.now();
                let inquiries = (0..batch)
                    .map(|_| {
                        next = (next + 104_729) % subjects.0.len();
                        Inquiry {
                            inquiry_id: InquiryId::generate(now),
                            bank: bank.clone(),
                            suite: Suite::HpkeX25519Sha256ChaCha20Poly1305,
                            subject: subjects.0[next].clone(),
                            recipient_key: user_key,
                            deadline: now + time::Duration::hours(24),
                            callback_url: None,
                        }
                    })
                    .collect();
                let sent = Instant::now();
                match client.send(&bank, &InquiryBatch::new(inquiries)).await {
                    Ok(Delivery::Answered(a)) => {
                        answered.fetch_add(a.answers.len() as u64, Ordering::Relaxed);
                        latencies.push(sent.elapsed());
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if failed.load(Ordering::Relaxed) > 0 {
        eprintln!(
            "warning: {} requests failed",
            failed.load(Ordering::Relaxed)
        );
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(Figures {
        inquiries_per_sec: answered.load(Ordering::Relaxed) as f64 / elapsed,
        requests_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// Round trips per second of a trivial POST endpoint on this machine, same client settings.
async fn bare_http(concurrency: usize, duration: Duration) -> anyhow::Result<f64> {
    let app = axum::Router::new().route("/ping", axum::routing::post(|| async { "{}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/ping", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, done, stop) = (http.clone(), url.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sent = http
                    .post(&url)
                    .body("{\"protocol\":\"chaka/1\"}")
                    .send()
                    .await;
                if let Ok(r) = sent
                    && r.bytes().await.is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(duration.min(Duration::from_secs(5))).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    server.abort();
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
