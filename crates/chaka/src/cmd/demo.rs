//! `chaka demo`: the whole world on one machine. Generates a population on first start, starts
//! one bank node per bank on its own loopback port (most prompt, one answering by callback
//! after half a minute, one flaky, one down for a while), then plays the hub's part of a
//! lookup for a demo person: signed inquiries to every bank, retries, callbacks, answers
//! sealed to the person's key, opened and printed.

use crate::lookup::{self, BankReport, LookupPlan};
use crate::world::{self, Behaviour, RunningBank, Stopper};
use anyhow::{Context, bail};
use chaka_bank::node::{AnswerMode, FaultConfig, Latency};
use chaka_core::{BankCode, BankRegistry, IdNumber, Phone, SharedClock, SystemClock};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey};
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

/// Run the whole world on this machine.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its population and keys (created on first start).
    #[arg(long, default_value = "chaka-data")]
    data: PathBuf,
    /// People in the generated population (first start only).
    #[arg(long, default_value_t = 20_000)]
    people: u64,
    /// Seed of the generated population (first start only).
    #[arg(long, default_value_t = 2021)]
    seed: u64,
    /// Which demo person looks up their cards (0–6, see docs/demo-people.md).
    #[arg(long, default_value_t = 0)]
    person: usize,
    /// First bank node port; the others follow (0: any free ports).
    #[arg(long, default_value = "127.0.0.1:7101")]
    listen: SocketAddr,
    /// Stop after the lookup instead of serving until Ctrl-C.
    #[arg(long)]
    once: bool,
    /// No injected latency, a callback after 1 s, no outage: for scripts and tests.
    #[arg(long)]
    quick: bool,
    /// Give up on banks that have not answered after this many seconds.
    #[arg(long, default_value_t = 120)]
    wait_secs: u64,
}

/// A demo person as `chaka gen` describes them in `demo-people.json`.
#[derive(Debug, Deserialize)]
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
    let Some(person) = people.get(args.person) else {
        bail!("--person must be 0 to {}", people.len().saturating_sub(1));
    };

    let keys_dir = args.data.join("keys");
    let hub_key = world::load_or_create_key(&keys_dir.join("hub.pem"))?;
    let hub_key_id = KeyId::parse("hub-1")?;
    let hub_keys =
        KeySet::new().with(KnownKey::new(hub_key_id.clone(), hub_key.public_key()).owned_by("hub"));
    let clock: SharedClock = Arc::new(SystemClock);
    let (stopper, stop) = Stopper::new();

    let mut banks: Vec<RunningBank> = Vec::new();
    for (i, code) in DEMO_BANKS.iter().enumerate() {
        let store = population.join("banks").join(format!("{code}.sqlite"));
        if !store.exists() {
            continue;
        }
        let listen = if args.listen.port() == 0 {
            args.listen
        } else {
            SocketAddr::new(args.listen.ip(), args.listen.port() + i as u16)
        };
        let bank = BankCode::parse(code)?;
        let behaviour = behaviour_of(code, args.quick);
        banks.push(
            world::start_bank(
                bank,
                &store,
                &keys_dir,
                hub_keys.clone(),
                behaviour,
                clock.clone(),
                listen,
                stop.clone(),
            )
            .await?,
        );
    }
    print_banks(&banks);

    let subject_id = IdNumber::parse(&person.id_number).context("demo person's ID number")?;
    let subject_phone = Phone::parse(&person.phone).context("demo person's phone")?;
    println!(
        "\nLooking up every card of demo person #{} — {} ({}, ID {}, phone {}).\n  {}\n",
        args.person,
        person.name,
        person.region_name,
        subject_id.masked(),
        subject_phone.masked(),
        person.shows
    );
    let plan = LookupPlan {
        name: person.name.clone(),
        id_number: subject_id,
        phone: subject_phone,
        give_up_after: Duration::from_secs(args.wait_secs),
    };
    let reports = lookup::run(&plan, &banks, hub_key_id, hub_key, clock).await?;
    print_report(&reports);

    if args.once {
        stopper.stop();
        return Ok(());
    }
    println!(
        "\nThe bank nodes keep running (Ctrl-C to stop). Try `chaka bank --help` and docs/protocol.md."
    );
    crate::cmd::bank::shutdown_signal().await;
    stopper.stop();
    Ok(())
}

fn behaviour_of(code: &str, quick: bool) -> Behaviour {
    let seconds = |s: u64| if quick { 0 } else { s };
    match code {
        // Answers by callback, about half a minute later.
        "CEB" => Behaviour {
            label: "callback",
            mode: AnswerMode::Callback,
            callback_delay: Duration::from_secs(if quick { 1 } else { 30 }),
            faults: FaultConfig::default(),
        },
        // Flaky: errors and throttling on a good share of requests.
        "CMBC" => Behaviour {
            label: "flaky",
            faults: FaultConfig {
                error_rate: 0.3,
                throttle_rate: 0.2,
                retry_after_secs: if quick { 0 } else { 2 },
                ..FaultConfig::default()
            },
            ..Behaviour::prompt()
        },
        // Down for the first 45 seconds.
        "SPDB" => Behaviour {
            label: "down for a while",
            faults: FaultConfig {
                down_for_secs: seconds(45),
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

fn print_banks(banks: &[RunningBank]) {
    println!("\n{} bank nodes are up:", banks.len());
    let registry = BankRegistry::builtin();
    for b in banks {
        let name = registry
            .get(&b.bank)
            .map(|x| x.name_zh.as_str())
            .unwrap_or("");
        println!(
            "  {:<8} {:<12} {:<28} {}",
            b.bank, name, b.endpoint.base_url, b.behaviour.label
        );
    }
}

fn print_report(reports: &[BankReport]) {
    let registry = BankRegistry::builtin();
    println!("\n===== 查卡报告 · card report =====");
    let (mut debit, mut credit) = (0, 0);
    for r in reports {
        let name = registry
            .get(&r.bank)
            .map(|x| x.name_zh.as_str())
            .unwrap_or("");
        println!("\n{} {} — {}", r.bank, name, r.summary());
        for card in &r.cards {
            match card.kind {
                chaka_core::CardKind::Debit | chaka_core::CardKind::Prepaid => debit += 1,
                _ => credit += 1,
            }
            println!("    {}", lookup::describe_card(card));
        }
        for u in &r.unlisted {
            println!(
                "    {} card(s) not listed: {} — contact the bank",
                u.count,
                lookup::describe_reason(u.reason)
            );
        }
    }
    println!(
        "\nIn all: {debit} debit and {credit} credit card(s) listed across {} banks.",
        reports.len()
    );
    println!(
        "Nobody legitimate ever asks you to run a lookup or to tell them its result. 任何人要求您查卡或告知查卡结果都是诈骗。"
    );
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}
