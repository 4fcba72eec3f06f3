//! `chaka demo`: the whole world on one machine. On first start it generates a population and
//! keys into the data folder; then it starts one bank node per bank on its own loopback port
//! (most answer in seconds, one by callback after half a minute, one flaky, one down for a
//! while), the hub on 127.0.0.1 with SQLite (or `--database`), pre-registers the documented demo cardholders, and
//! prints what to do next. SMS messages appear in the terminal. `--once` plays one lookup
//! through the hub's API for a demo person and exits.

use crate::world::{self, Behaviour, RunningBank, Stopper};
use anyhow::{Context, bail};
use chaka_bank::node::{AnswerMode, FaultConfig, Latency};
use chaka_core::{BankCode, BankRegistry, SharedClock, SystemClock, Wave};
use chaka_hub::config::{HubConfig, IdentityConfig, SmsConfig};
use chaka_hub::runtime::Runtime;
use chaka_hub::seed::Seed;
use chaka_hub::sms::ConsoleGateway;
use chaka_protocol::keys::{KeySet, KnownKey};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The banks of the demo: the 14 pilot banks, the 2 that joined in 2022, and four regional
/// banks of Shanghai, Yunnan and Beijing.
pub const DEMO_BANKS: [&str; 20] = [
    "ICBC", "ABC", "BOC", "CCB", "COMM", "CMB", "CMBC", "CEB", "CITIC", "HXBANK", "SPABANK", "CIB",
    "SPDB", "GDB", "PSBC", "CZBANK", "SHBANK", "SHRCB", "YNRCC", "BJBANK",
];

/// The password of every demo cardholder.
pub const DEMO_PASSWORD: &str = "chaka-demo-2021";
/// PINs tried in order for each demo cardholder (the first one the PIN rules accept is used).
const DEMO_PINS: [&str; 3] = ["582936", "739164", "415827"];

/// Run the whole world on this machine.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its population, keys and database (created on first start).
    #[arg(long, default_value = "chaka-data")]
    data: PathBuf,
    /// Where the hub serves its API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// First bank node port; the others follow (port 0: any free ports).
    #[arg(long, default_value = "127.0.0.1:7101")]
    banks_listen: SocketAddr,
    /// People in the generated population (first start only).
    #[arg(long, default_value_t = 20_000)]
    people: u64,
    /// Seed of the generated population (first start only).
    #[arg(long, default_value_t = 2021)]
    seed: u64,
    /// Run one lookup through the API for this demo person (0–6) and exit.
    #[arg(long)]
    once: bool,
    /// With --once: the demo person.
    #[arg(long, default_value_t = 0)]
    person: usize,
    /// No injected latency, a callback after 1 s, no outage: for scripts and tests.
    #[arg(long)]
    quick: bool,
    /// With --once: give up waiting for the report after this many seconds.
    #[arg(long, default_value_t = 180)]
    wait_secs: u64,
    /// The hub's database: a SQLite file or a `postgres://` URL, which `chaka hub` instances
    /// started on the demo's files may share (default: `<data>/hub.sqlite`).
    #[arg(long)]
    database: Option<String>,
}

/// A demo person as `chaka gen` describes them in `demo-people.json`.
#[derive(Debug, Clone, Deserialize)]
struct DemoPerson {
    name: String,
    id_number: String,
    phone: String,
    region_name: String,
    shows: String,
}

/// Runs `chaka demo`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    crate::logging::init_with_default("warn");
    let population = args.data.join("population");
    if !population.join(chaka_bank::r#gen::MANIFEST_FILE).exists() {
        println!(
            "First start: generating {} people for {} banks into {} …",
            args.people,
            DEMO_BANKS.len(),
            population.display()
        );
        let banks = DEMO_BANKS
            .iter()
            .map(|c| BankCode::parse(c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut options = chaka_bank::r#gen::GenOptions::new(args.seed, args.people, &population);
        options.banks = Some(banks);
        options.force = true;
        crate::cmd::generate::generate_with_bar(&options).await?;
    }
    let people: Vec<DemoPerson> = read_json(&population.join(chaka_bank::r#gen::DEMO_FILE))?;
    if args.once && args.person >= people.len() {
        bail!("--person must be 0 to {}", people.len().saturating_sub(1));
    }

    let keys = args.data.join("keys");
    let secrets = keys.join("hub-secrets.toml");
    if !secrets.exists() {
        crate::cmd::keys::write_secret_file(
            &secrets,
            chaka_hub::vault::Secrets::generate().to_toml().as_bytes(),
            false,
        )?;
    }
    let hub_key = world::load_or_create_key(&keys.join("hub.pem"))?;
    let hub_keys = KeySet::new().with(
        KnownKey::new(
            chaka_protocol::keys::KeyId::parse("hub-1")?,
            hub_key.public_key(),
        )
        .owned_by("hub"),
    );
    let clock: SharedClock = Arc::new(SystemClock);
    let (stopper, stop) = Stopper::new();

    let mut banks: Vec<RunningBank> = Vec::new();
    for (i, code) in DEMO_BANKS.iter().enumerate() {
        let store = population.join("banks").join(format!("{code}.sqlite"));
        if !store.exists() {
            continue;
        }
        let listen = if args.banks_listen.port() == 0 {
            args.banks_listen
        } else {
            SocketAddr::new(args.banks_listen.ip(), args.banks_listen.port() + i as u16)
        };
        let bank = BankCode::parse(code)?;
        banks.push(
            world::start_bank(
                bank,
                &store,
                &keys,
                hub_keys.clone(),
                behaviour_of(code, args.quick),
                clock.clone(),
                listen,
                stop.clone(),
            )
            .await?,
        );
    }
    let banks_file = args.data.join("banks.toml");
    std::fs::write(&banks_file, bank_registry(&banks))
        .with_context(|| format!("cannot write {}", banks_file.display()))?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Defaults and CHAKA_* variables (e.g. CHAKA_RULES__COOLDOWN_DAYS), then the demo's own
    // files and addresses.
    let mut config = HubConfig::load(None)?;
    config.listen = address;
    config.public_url = format!("http://{address}");
    config.database = match &args.database {
        Some(database) => chaka_hub::store::Location::parse(database)?,
        None => args.data.join("hub.sqlite").into(),
    };
    config.banks_file = banks_file;
    config.secrets_file = secrets;
    config.signing_key = keys.join("hub.pem");
    config.identity = IdentityConfig::Sandbox {
        citizens: population.join(chaka_bank::r#gen::CITIZENS_FILE),
    };
    config.sms = SmsConfig::Console;
    config.validate()?;
    let console = Arc::new(ConsoleGateway::stdout());
    let (runtime, router) = Runtime::start(config, clock.clone(), Some(console.clone())).await?;
    let mut seeded = Vec::new();
    for person in &people {
        let pin = demo_pin(person)?;
        let seed = Seed {
            name: &person.name,
            id_number: &person.id_number,
            phone: &person.phone,
            password: DEMO_PASSWORD,
            pin,
        };
        runtime
            .hub
            .seed_account(&seed)
            .await
            .map_err(|e| anyhow::anyhow!("seeding demo cardholders: {e}"))?;
        seeded.push((person.clone(), pin));
    }
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    print_world(&banks, address, &seeded);

    let result = if args.once {
        let (person, pin) = &seeded[args.person];
        crate::walkthrough::run(
            address,
            &person.phone,
            DEMO_PASSWORD,
            pin,
            &console,
            Duration::from_secs(args.wait_secs),
        )
        .await
    } else {
        println!("\nCtrl-C to stop. SMS messages appear below as they are sent.\n");
        crate::cmd::bank::shutdown_signal().await;
        Ok(())
    };
    server.abort();
    runtime.shutdown().await;
    stopper.stop();
    result
}

/// The hub's bank registry for the running nodes: pilot banks are `pilot`, the others `open`;
/// regional banks serve their province only.
fn bank_registry(banks: &[RunningBank]) -> String {
    let registry = BankRegistry::builtin();
    let mut out =
        String::from("# Written by `chaka demo` at each start: the bank nodes it runs.\n");
    for b in banks {
        let status = match registry.get(&b.bank).and_then(|x| x.wave) {
            Some(Wave::Pilot2021) => "pilot",
            _ => "open",
        };
        let regions = match b.bank.as_str() {
            "SHBANK" | "SHRCB" => "[\"31\"]",
            "YNRCC" => "[\"53\"]",
            "BJBANK" => "[\"11\"]",
            _ => "[]",
        };
        out.push_str(&format!(
            "\n[[bank]]\ncode = \"{}\"\nendpoint = \"{}\"\nstatus = \"{status}\"\nregions = {regions}\n\n[[bank.keys]]\nkey_id = \"{}\"\npublic_key = \"{}\"\n",
            b.bank,
            b.endpoint.as_str().trim_end_matches('/'),
            b.key.key_id.as_str(),
            b.key.public_key.to_base64url(),
        ));
    }
    out
}

fn behaviour_of(code: &str, quick: bool) -> Behaviour {
    match code {
        // Answers by callback, about half a minute later.
        "CEB" => Behaviour {
            label: "callback after 30 s",
            mode: AnswerMode::Callback,
            callback_delay: Duration::from_secs(if quick { 1 } else { 30 }),
            faults: FaultConfig::default(),
        },
        // Flaky: errors and throttling on a good share of requests.
        "CMBC" => Behaviour {
            label: if quick {
                "flaky (20% errors)"
            } else {
                "flaky (30% errors, 20% throttled)"
            },
            // Quick mode keeps it flaky but bounded: with half the requests failing, the
            // fan-out's backoff (1 s doubling to 5 min) could make a scripted run wait minutes.
            faults: FaultConfig {
                error_rate: if quick { 0.2 } else { 0.3 },
                throttle_rate: if quick { 0.0 } else { 0.2 },
                retry_after_secs: if quick { 0 } else { 2 },
                ..FaultConfig::default()
            },
            ..Behaviour::prompt()
        },
        // Down for the first 45 seconds.
        "SPDB" => Behaviour {
            label: "down for the first 45 s",
            faults: FaultConfig {
                down_for_secs: if quick { 0 } else { 45 },
                retry_after_secs: if quick { 0 } else { 5 },
                ..FaultConfig::default()
            },
            ..Behaviour::prompt()
        },
        // Everyone else answers in seconds: median 0.6 s, a tail to 4 s.
        _ => Behaviour {
            faults: FaultConfig {
                latency: if quick {
                    Latency::None
                } else {
                    Latency::LogNormal {
                        median_ms: 600,
                        p99_ms: 4_000,
                    }
                },
                ..FaultConfig::default()
            },
            ..Behaviour::prompt()
        },
    }
}

fn print_world(banks: &[RunningBank], hub: SocketAddr, seeded: &[(DemoPerson, &str)]) {
    let registry = BankRegistry::builtin();
    println!("\n{} bank nodes are up:", banks.len());
    for b in banks {
        let name = registry
            .get(&b.bank)
            .map(|x| x.name_zh.as_str())
            .unwrap_or("");
        println!(
            "  {:<8} {:<12} {:<28} {}",
            b.bank, name, b.endpoint, b.behaviour.label
        );
    }
    println!("\nThe hub is up. Open the cardholder web app in a browser (a phone's works too):");
    println!("  http://{hub}/    (API documentation: http://{hub}/api/docs)");
    println!("\nDemo cardholders (password {DEMO_PASSWORD}; see docs/demo-people.md):");
    for (i, (p, pin)) in seeded.iter().enumerate() {
        println!(
            "  #{i} {:<4} phone {}  PIN {pin:<8} {:<10} {}",
            p.name,
            p.phone,
            p.region_name,
            first_sentence(&p.shows)
        );
    }
    println!(
        "\nTry it: docs/hub.md walks through a lookup with curl; `chaka demo --once` plays one."
    );
}

/// The story of a demo person in a few words: what follows the colon, up to the first ';'.
fn first_sentence(text: &str) -> &str {
    let story = text.split_once(':').map(|(_, rest)| rest).unwrap_or(text);
    story.split(';').next().unwrap_or(story).trim()
}

/// The first demo PIN that the PIN rules accept for this person (the same on every start).
fn demo_pin(person: &DemoPerson) -> anyhow::Result<&'static str> {
    let id = chaka_core::IdNumber::parse(&person.id_number)?;
    let phone = chaka_core::Phone::parse(&person.phone)?;
    DEMO_PINS
        .into_iter()
        .find(|pin| {
            chaka_hub::vault::Pin::parse(pin)
                .is_ok_and(|p| chaka_hub::pin_policy::check(&p, &id, &phone).is_ok())
        })
        .context("no demo PIN passes the PIN rules for a demo person")
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}
