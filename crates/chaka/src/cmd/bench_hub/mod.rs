//! `chaka bench hub`: the hub end to end. It starts the pilot banks' nodes in-process on
//! loopback (prompt, no injected latency) and one or more hub instances, each a runtime with
//! its own listener and worker id, on SQLite in a fresh temporary folder (the default) or on a
//! fresh PostgreSQL database created on `--database-url`'s server and dropped at the end. It
//! pre-seeds cardholders of the open regions (31, 53), and drives lookups through the public
//! HTTP API with concurrent clients spread over the instances: ask for the SMS code, read it
//! from the in-process gateway, submit to every bank with an `Idempotency-Key`, and wait for
//! the report to become final (the "report ready" outbox row the finalising transaction
//! writes). The same load runs `--warmup` seconds before the measured window (on PostgreSQL
//! followed by `ANALYZE`, as autovacuum would have run on a server in service). It prints
//! completed inquiries per second, submit latency, time to final, bank round trips, CPU (of
//! this process and of the database server's processes) and checks exactly one ready SMS per
//! report and no leg asked twice. `--history` first fills the database with
//! historical inquiries (one run per size: the growth table). `--slow-bank` makes one bank
//! never answer and reports the memory of the process while inquiries pile up waiting on it.
//!
//! Argon2 runs with cheap parameters here: the KDF cost (a property of login and PIN checks,
//! paid once per session or report opening) is not what this measures.

mod drive;
mod history;
mod measure;

use crate::world::{self, Behaviour, RunningBank, Stopper};
use anyhow::{Context, bail};
use chaka_bank::node::FaultConfig;
use chaka_core::{BankCode, BankRegistry, SharedClock, SystemClock};
use chaka_hub::config::{HubConfig, IdentityConfig, KdfConfig, SmsConfig};
use chaka_hub::runtime::Runtime;
use chaka_hub::store::postgres::scratch::ScratchDatabase;
use chaka_hub::store::{Backend, Location};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey};
use clap::Args;
use drive::{BenchGateway, Drive, Side};
use measure::{Db, Figures};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `chaka bench hub` options.
#[derive(Debug, Args)]
pub struct HubBench {
    /// Banks asked per inquiry (the first N of the 14 pilot banks).
    #[arg(long, default_value_t = 14)]
    banks: usize,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds of the same load before the measured window, not counted. On PostgreSQL the
    /// database's planner statistics are then gathered (`ANALYZE`, as autovacuum does on a
    /// server that has run for a while), so the window measures a service in its steady
    /// state, not a database seconds old. 0: measure from the first second, no `ANALYZE`.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
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
    /// A PostgreSQL server (postgres://user@host:port/database): the hub runs on a fresh
    /// database created there (chaka_bench_<random>) and dropped at the end. Default: SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Hub instances on the one database (more than one needs --database-url); the clients
    /// are spread over them.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Historical inquiries (final and purged: the inquiry row and its audit rows, as the
    /// retention sweep leaves them) written before the load, e.g. 1000000,10000000: one run
    /// per size, each on a fresh database.
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    history: Vec<u64>,
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
    /// The hubs' `[workers] batch_wait_ms`: how long a partly filled batch waits for more of
    /// its bank's legs (default: the hub's default).
    #[arg(long, value_name = "MS")]
    batch_wait_ms: Option<i64>,
}

/// What every run of one invocation shares: the bank nodes, the files the hub reads, the
/// population.
struct Shared {
    dir: tempfile::TempDir,
    server: Option<String>,
    clock: SharedClock,
    nodes: Vec<RunningBank>,
    banks: Vec<BankCode>,
    banks_file: PathBuf,
    secrets: PathBuf,
    hub_key_path: PathBuf,
    population: PathBuf,
    clients_rt: Side,
    cores: usize,
}

/// Runs `chaka bench hub`.
pub async fn run(args: HubBench) -> anyhow::Result<()> {
    if args.banks == 0 || args.duration == 0 || args.concurrency == 0 {
        bail!("--banks, --duration and --concurrency must be positive");
    }
    if args.instances == 0 {
        bail!("--instances must be at least 1");
    }
    let server = match &args.database_url {
        None if args.instances > 1 => bail!(
            "--instances {} needs --database-url: a SQLite file serves one hub process",
            args.instances
        ),
        None => None,
        Some(url) => Some(postgres_server(url).await?),
    };
    if args.slow_bank && !args.history.is_empty() {
        bail!("--history and --slow-bank are separate runs");
    }
    if let Some(wait) = args.batch_wait_ms {
        let mut config = HubConfig::default();
        config.workers.batch_wait_ms = wait;
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("--batch-wait-ms: {e}"))?;
    }
    let pilot: Vec<BankCode> = BankRegistry::builtin()
        .pilot()
        .map(|b| b.code.clone())
        .collect();
    if args.banks > pilot.len() {
        bail!("--banks must be 1 to {} (the pilot banks)", pilot.len());
    }
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
    // would in their own processes, and so does each hub instance: a hub's scheduler serves
    // only that hub's tasks (the operating system still shares the same cores between all).
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
    let shared = Shared {
        dir,
        server,
        clock,
        nodes,
        banks,
        banks_file,
        secrets,
        hub_key_path,
        population,
        clients_rt,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let sizes = if args.history.is_empty() {
        vec![None]
    } else {
        args.history.iter().copied().map(Some).collect()
    };
    let mut rows = Vec::new();
    let mut result = Ok(());
    for (n, history) in sizes.into_iter().enumerate() {
        match one_run(&shared, &args, n, history).await {
            Ok(Some(figures)) => rows.push((history, figures)),
            Ok(None) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if !rows.is_empty() {
        print_table(&shared, &args, &rows);
    }
    stopper.stop();
    drop(banks_rt);
    result
}

/// Checks `--database-url` and that its server answers; returns the URL.
async fn postgres_server(url: &str) -> anyhow::Result<String> {
    let location = Location::parse(url).map_err(|e| anyhow::anyhow!("--database-url: {e}"))?;
    let Location::Postgres(parsed) = &location else {
        bail!("--database-url must be a postgres:// or postgresql:// URL");
    };
    let options: sqlx::postgres::PgConnectOptions = parsed
        .as_str()
        .parse()
        .map_err(|_| anyhow::anyhow!("--database-url: not a valid PostgreSQL URL"))?;
    let connection = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::PgConnection::connect_with(&options),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "cannot reach the PostgreSQL server at {}: timed out",
            location.masked()
        )
    })?
    .with_context(|| {
        format!(
            "cannot reach the PostgreSQL server at {}",
            location.masked()
        )
    })?;
    connection.close().await?;
    Ok(url.to_owned())
}

/// One hub instance: its runtime, the hub, and its HTTP server.
struct Instance {
    side: Side,
    runtime: Runtime,
    address: std::net::SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    async fn start(
        shared: &Shared,
        args: &HubBench,
        i: usize,
        database: &Location,
        gateway: &Arc<BenchGateway>,
    ) -> anyhow::Result<Self> {
        // Instances sharing the machine share its cores, as processes sized for it would:
        // each runtime gets its part of them (at least one thread).
        let threads = (shared.cores / args.instances).max(1);
        let side = Side::new(&format!("bench-hub-{i}"), threads)?;
        let mut config = HubConfig {
            database: database.clone(),
            banks_file: shared.banks_file.clone(),
            secrets_file: shared.secrets.clone(),
            signing_key: shared.hub_key_path.clone(),
            identity: IdentityConfig::Sandbox {
                citizens: shared.population.join(chaka_bank::r#gen::CITIZENS_FILE),
            },
            sms: SmsConfig::Console,
            kdf: KdfConfig {
                memory_kib: args.kdf_memory_kib,
                iterations: 1,
                parallelism: 1,
            },
            ..HubConfig::default()
        };
        if let Some(wait) = args.batch_wait_ms {
            config.workers.batch_wait_ms = wait;
        }
        let (clock, gateway, handle) =
            (shared.clock.clone(), gateway.clone(), side.handle().clone());
        // Started from a thread of its own that enters the instance's runtime (the start-up
        // future is not `Send`, so it cannot be spawned there from here).
        let (runtime, address, server) = tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let address = listener.local_addr()?;
                config.listen = address;
                config.public_url = format!("http://{address}");
                config.validate()?;
                let (runtime, router) = Runtime::start(config, clock, Some(gateway)).await?;
                let server = tokio::spawn(async move { axum::serve(listener, router).await });
                anyhow::Ok((runtime, address, server))
            })
        })
        .await??;
        Ok(Self {
            side,
            runtime,
            address,
            server,
        })
    }

    async fn stop(self) {
        self.server.abort();
        let (runtime, handle) = (self.runtime, self.side.handle().clone());
        let _ = tokio::task::spawn_blocking(move || handle.block_on(runtime.shutdown())).await;
    }
}

/// The database of one run: a SQLite file in the bench's folder or a fresh PostgreSQL
/// database (dropped when the run ends, or when this is dropped after an error).
async fn run_database(
    shared: &Shared,
    n: usize,
) -> anyhow::Result<(Location, Option<ScratchDatabase>)> {
    match &shared.server {
        None => Ok((
            Location::Sqlite(shared.dir.path().join(format!("hub-{n}.sqlite"))),
            None,
        )),
        Some(server) => {
            let scratch = ScratchDatabase::create_named(server, "chaka_bench")
                .await
                .context("cannot create the bench database")?;
            let location = Location::parse(scratch.url())
                .map_err(|e| anyhow::anyhow!("bench database: {e}"))?;
            Ok((location, Some(scratch)))
        }
    }
}

/// One measured run on a fresh database (after `history` historical inquiries if given).
async fn one_run(
    shared: &Shared,
    args: &HubBench,
    n: usize,
    history: Option<u64>,
) -> anyhow::Result<Option<Figures>> {
    let (location, scratch) = run_database(shared, n).await?;
    let db_name = scratch
        .as_ref()
        .map_or_else(|| "SQLite".to_owned(), |s| s.name().to_owned());
    println!(
        "
== {} · {} instance(s) · history {} · load average {}",
        db_name,
        args.instances,
        history.map_or_else(|| "none".to_owned(), |h| h.to_string()),
        load_average()
    );
    // Migrate, then write the history before any hub instance starts.
    Backend::open(&location)
        .await
        .context("cannot open the bench database")?
        .close()
        .await;
    if let Some(size) = history.filter(|s| *s > 0) {
        history::fill(&location, size, &shared.banks).await?;
    }
    let gateway = Arc::new(BenchGateway::default());
    let mut instances = Vec::new();
    for i in 0..args.instances {
        instances.push(Instance::start(shared, args, i, &location, &gateway).await?);
    }
    let result = drive_load(shared, args, &instances, &location, gateway).await;
    for instance in instances {
        instance.stop().await;
    }
    if let Some(scratch) = scratch {
        scratch
            .remove()
            .await
            .context("cannot drop the bench database")?;
    }
    result
}

async fn drive_load(
    shared: &Shared,
    args: &HubBench,
    instances: &[Instance],
    location: &Location,
    gateway: Arc<BenchGateway>,
) -> anyhow::Result<Option<Figures>> {
    let first = instances.first().context("no hub instance")?;
    let wanted = if args.slow_bank {
        args.waiting
    } else {
        args.accounts
            .unwrap_or(300 * (args.warmup + args.duration) as usize)
    };
    let started = Instant::now();
    let people = drive::open_region_people(&shared.population, wanted + wanted / 10 + 50).await?;
    let seeded = drive::seed(&first.runtime.hub, first.side.handle(), people, wanted).await?;
    if seeded.len() < wanted {
        eprintln!(
            "warning: only {} cardholders could be seeded (wanted {wanted}); use a larger --people",
            seeded.len()
        );
    }
    let addresses: Vec<_> = instances.iter().map(|i| i.address).collect();
    let api = drive::Api::new(&addresses)?;
    let holders = drive::login_all(&api, seeded).await?;
    println!(
        "{} cardholders of regions 31/53 seeded and logged in ({:.1} s; Argon2id at {} KiB, 1 pass: \
         the KDF cost is not what is measured)",
        holders.len(),
        started.elapsed().as_secs_f64(),
        args.kdf_memory_kib
    );
    let drive = Arc::new(Drive {
        api,
        gateway,
        holders,
        banks: shared.banks.iter().map(|b| b.as_str().to_owned()).collect(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        ran_out: AtomicBool::new(false),
        tracker: drive::Tracker::default(),
        failures: AtomicU64::new(0),
        submit_latencies: Mutex::new(Vec::new()),
    });
    let db = match (&first.runtime.database, location) {
        (Backend::Sqlite(store), _) => Db::Sqlite(store.pool().clone()),
        (Backend::Postgres(_), Location::Postgres(url)) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(url.as_str())
                .await
                .context("cannot connect to the bench database")?;
            Db::Postgres(pool, url.path().trim_start_matches('/').to_owned())
        }
        (Backend::Postgres(_), Location::Sqlite(_)) => bail!("the bench database changed kind"),
    };
    let before = measure::table_bytes(&db).await?;
    let watcher = tokio::spawn(measure::watch_finals(db.clone(), drive.clone()));
    let result = if args.slow_bank {
        measure::slow_bank(
            &drive,
            &shared.nodes,
            &shared.clients_rt,
            args.concurrency,
            args.waiting,
            shared.cores,
        )
        .await
        .map(|()| None)
    } else {
        let figures = measure::throughput(
            &drive,
            &db,
            &shared.nodes,
            &shared.clients_rt,
            args.concurrency,
            measure::Window {
                warmup: args.warmup,
                duration: args.duration,
            },
            shared.cores,
        )
        .await?;
        println!("{}", figures.summary);
        println!("{}", figures.checks.line());
        if let (Some(before), Some(after)) = (before, measure::table_bytes(&db).await?) {
            print_growth(&before, &after, figures.checks.finals);
        }
        Ok(Some(figures))
    };
    drive.stop.store(true, Ordering::Relaxed);
    watcher.abort();
    result
}

/// The figures of every run, one line each.
fn print_table(shared: &Shared, args: &HubBench, rows: &[(Option<u64>, Figures)]) {
    let backend = if shared.server.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "
machine: {} cores, shared by the clients, {} hub instance(s), {} bank nodes{}; \
         {} clients; load average {}",
        shared.cores,
        args.instances,
        shared.nodes.len(),
        if shared.server.is_some() {
            " and the PostgreSQL server"
        } else {
            ""
        },
        args.concurrency,
        load_average()
    );
    println!(
        "{:<10} {:>4} {:>11} {:>12} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>8} {:>9} {:>9} {:>7}",
        "database",
        "inst",
        "history",
        "inquiries/s",
        "sub p50",
        "sub p99",
        "fin p50",
        "fin p99",
        "bank ans/s",
        "CPU hub",
        "CPU db",
        "CPU/inq",
        "peak RSS",
        "checks"
    );
    for (history, f) in rows {
        println!(
            "{:<10} {:>4} {:>11} {:>12.1} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>10.0} {:>7.0}% {:>7.0}% {:>7.1}ms {:>5.0} MiB {:>7}",
            backend,
            args.instances,
            history.unwrap_or(0),
            f.rate,
            f.submit_p50,
            f.submit_p99,
            f.final_p50,
            f.final_p99,
            f.bank_answers,
            f.cpu,
            f.server_cpu,
            f.cpu_per_inquiry_ms,
            f.peak_rss,
            if f.checks.hold() { "ok" } else { "FAILED" },
        );
    }
    println!(
        "(CPU: % of all {} cores during the window; \"CPU hub\" is this process: hub instances, \
         bank nodes and clients; \"CPU/inq\" is both per completed inquiry)",
        shared.cores
    );
}

/// What the run's inquiries added to each table, per final inquiry (PostgreSQL's sizes move in
/// pages, so small tables read coarsely).
fn print_growth(before: &[(String, i64)], after: &[(String, i64)], finals: i64) {
    if finals <= 0 {
        return;
    }
    let mut total = 0;
    let mut parts = Vec::new();
    for (table, bytes) in after {
        let was = before
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, b)| *b);
        let grew = bytes - was;
        total += grew;
        if grew > 0 {
            parts.push(format!("{table} {:.0} B", grew as f64 / finals as f64));
        }
    }
    println!(
        "database growth per final inquiry of the run, with indexes: {:.1} KiB ({})",
        total as f64 / 1024.0 / finals as f64,
        parts.join(", ")
    );
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_owned())
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
