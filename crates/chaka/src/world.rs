//! An in-process world of bank nodes, each on its own loopback port over real HTTP: keys that
//! persist in a data folder, the card stores of a generated population, and a behaviour
//! profile per bank. Used by `chaka demo` and `chaka bench`.

use anyhow::Context;
use chaka_bank::node::{AnswerMode, BankNode, FaultConfig, NodeSettings};
use chaka_bank::store::{CardStore, StoreOptions};
use chaka_core::{BankCode, SharedClock};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair};
use chaka_protocol::limits::Limits;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

/// How a bank behaves in the world.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// A word for the terminal: `prompt`, `callback`, `flaky`, `down`.
    pub label: &'static str,
    /// Immediate or callback.
    pub mode: AnswerMode,
    /// Delay before a callback.
    pub callback_delay: Duration,
    /// Faults.
    pub faults: FaultConfig,
}

impl Behaviour {
    /// Answers at once, no faults.
    pub fn prompt() -> Self {
        Self {
            label: "prompt",
            mode: AnswerMode::Immediate,
            callback_delay: Duration::ZERO,
            faults: FaultConfig::default(),
        }
    }
}

impl RunningBank {
    /// The bank as the hub's registry knows it.
    pub fn hub_bank(&self) -> chaka_hub::banks::HubBank {
        let info = chaka_core::BankRegistry::builtin().get(&self.bank);
        chaka_hub::banks::HubBank {
            code: self.bank.clone(),
            name_zh: info.map(|b| b.name_zh.clone()).unwrap_or_default(),
            name_en: info.map(|b| b.name_en.clone()).unwrap_or_default(),
            endpoint: self.endpoint.clone(),
            status: chaka_hub::banks::BankStatus::Open,
            regions: Vec::new(),
            keys: vec![chaka_hub::banks::HubBankKey {
                key_id: self.key.key_id.clone(),
                public_key: self.key.public_key,
                not_after: None,
            }],
        }
    }
}

/// One running bank node.
pub struct RunningBank {
    /// Its code.
    pub bank: BankCode,
    /// Its base URL, e.g. `http://127.0.0.1:7101`.
    pub endpoint: url::Url,
    /// Its key as the hub knows it.
    pub key: KnownKey,
    /// The node's handle (counters).
    pub node: BankNode,
    /// Its behaviour.
    pub behaviour: Behaviour,
}

/// Stops every node of a world when dropped or when [`Stopper::stop`] is called.
pub struct Stopper(watch::Sender<bool>);

impl Stopper {
    /// A stopper and the receiver nodes watch.
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Self(tx), rx)
    }

    /// Stops the nodes.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the signing key at `path`, creating it (mode 0600) on first use.
pub fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKeyPair> {
    if path.exists() {
        return crate::cmd::keys::read_signing_key(path);
    }
    let pair = SigningKeyPair::generate();
    crate::cmd::keys::write_private(path, &pair, false)?;
    Ok(pair)
}

/// Starts a node for `bank` over the store at `store`, trusting `hub_keys`.
#[allow(clippy::too_many_arguments)]
pub async fn start_bank(
    bank: BankCode,
    store: &Path,
    key_dir: &Path,
    hub_keys: KeySet,
    behaviour: Behaviour,
    clock: SharedClock,
    listen: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<RunningBank> {
    let key_id = KeyId::parse(&format!("{}-1", bank.as_str().to_lowercase()))?;
    let signing_key = load_or_create_key(&key_dir.join(format!("{}.pem", bank.as_str())))?;
    let options = StoreOptions {
        max_connections: 4,
        ..StoreOptions::default()
    };
    let card_store = CardStore::open_with(store, &options)
        .await
        .with_context(|| format!("card store of {bank}"))?;
    let key = KnownKey::new(key_id.clone(), signing_key.public_key()).owned_by(bank.as_str());
    let node = BankNode::new(NodeSettings {
        bank: bank.clone(),
        store: card_store,
        key_id,
        signing_key,
        trusted: hub_keys,
        answer_mode: behaviour.mode,
        callback_delay: behaviour.callback_delay,
        faults: behaviour.faults.clone(),
        limits: Limits::default(),
        clock,
    })?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let serving = node.clone();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = serving.serve(listener, shutdown).await {
            tracing::error!(error = %e, "a bank node stopped");
        }
    });
    Ok(RunningBank {
        endpoint: format!("http://{address}").parse()?,
        bank,
        key,
        node,
        behaviour,
    })
}
