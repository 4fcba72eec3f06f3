//! The running hub: builds every part from a [`HubConfig`] (secrets, vault, database, bank
//! registry, signing key, identity registry, SMS gateway), sweeps expired reports at start-up,
//! starts the fan-out, the SMS notifier and the retention sweeper, and serves the API and the
//! banks' callback endpoint. [`Runtime::shutdown`] stops claiming work and lets in-flight work
//! finish.

use crate::banks::HubBanks;
use crate::config::{HubConfig, IdentityConfig, SmsConfig};
use crate::connector::{Connector, ConnectorSettings};
use crate::fanout::callbacks::{CallbackState, callbacks_router};
use crate::fanout::{Fanout, FanoutConfig, FanoutHandle, SubjectError, subject_from_json};
use crate::hub::Hub;
use crate::identity::{HttpVerifier, IdentityVerifier, SandboxVerifier};
use crate::notify::{Doorbell, Notifier};
use crate::sms::{ConsoleGateway, HttpGateway, SmsGateway};
use crate::store::{Backend, Store};
use crate::vault::{FieldPurpose, KdfParams, Secrets, Vault};
use chaka_core::SharedClock;
use chaka_protocol::keys::{KeyId, SigningKeyPair};
use chaka_protocol::signature::Signer;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The hub cannot start. Each variant names the part and the file.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file is missing or unreadable.
    #[error("{what} {path}: {message}")]
    File {
        /// Which file.
        what: &'static str,
        /// Where.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A part refused its configuration.
    #[error("{0}")]
    Part(String),
}

fn file_error(what: &'static str, path: &Path, e: impl std::fmt::Display) -> StartError {
    StartError::File {
        what,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    data_key: String,
    index_key: String,
    pin_secret: String,
    session_key: String,
}

/// Reads the secrets file written by `chaka keys hub`.
pub fn read_secrets(path: &Path) -> Result<Secrets, StartError> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| file_error("secrets file", path, e))?,
    );
    let file: SecretsFile =
        toml::from_str(&text).map_err(|e| file_error("secrets file", path, e.message()))?;
    Secrets::from_base64url(
        &file.data_key,
        &file.index_key,
        &file.pin_secret,
        &file.session_key,
    )
    .map_err(|e| file_error("secrets file", path, e))
}

/// A running hub.
pub struct Runtime {
    /// The shared state (for in-process callers such as the demo).
    pub hub: Arc<Hub>,
    /// The database, as opened (SQLite or PostgreSQL).
    pub database: Backend,
    /// Its store.
    pub store: Arc<dyn Store>,
    fanout: FanoutHandle,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Runtime {
    /// Builds and starts everything but the HTTP listener; returns the runtime and the router
    /// to serve. `gateway` replaces the configured SMS gateway (the demo passes its console).
    pub async fn start(
        config: HubConfig,
        clock: SharedClock,
        gateway: Option<Arc<dyn SmsGateway>>,
    ) -> Result<(Self, axum::Router), StartError> {
        let secrets = read_secrets(&config.secrets_file)?;
        let kdf = KdfParams {
            memory_kib: config.kdf.memory_kib,
            iterations: config.kdf.iterations,
            parallelism: config.kdf.parallelism,
        };
        let vault = Arc::new(Vault::new(&secrets, kdf));
        drop(secrets);
        if let Some(dir) = config
            .database
            .sqlite_path()
            .and_then(Path::parent)
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| file_error("database folder", dir, e))?;
        }
        // The masked location only: a URL may carry a password.
        let database = Backend::open(&config.database)
            .await
            .map_err(|e| StartError::File {
                what: "database",
                path: config.database.masked(),
                message: e.to_string(),
            })?;
        let store = database.store();
        let banks = Arc::new(
            HubBanks::load(&config.banks_file)
                .map_err(|e| file_error("bank registry", &config.banks_file, e))?,
        );
        let pem = zeroize::Zeroizing::new(
            std::fs::read_to_string(&config.signing_key)
                .map_err(|e| file_error("signing key", &config.signing_key, e))?,
        );
        let signing_key = SigningKeyPair::from_pkcs8_pem(&pem)
            .map_err(|e| file_error("signing key", &config.signing_key, e))?;
        let key_id =
            KeyId::parse(&config.key_id).map_err(|e| StartError::Part(format!("key_id: {e}")))?;
        let signer = Signer::new(key_id.clone(), signing_key.clone());

        let identity: Arc<dyn IdentityVerifier> = match &config.identity {
            IdentityConfig::Sandbox { citizens } => Arc::new(
                SandboxVerifier::open(citizens)
                    .await
                    .map_err(|e| file_error("citizen registry", citizens, e))?,
            ),
            IdentityConfig::Http { url, timeout_secs } => Arc::new(
                HttpVerifier::new(
                    url,
                    signer.clone(),
                    clock.clone(),
                    Duration::from_secs(*timeout_secs),
                )
                .map_err(|e| StartError::Part(format!("identity: {e}")))?,
            ),
        };
        let gateway: Arc<dyn SmsGateway> = match (gateway, &config.sms) {
            (Some(gateway), _) => gateway,
            (None, SmsConfig::Console) => Arc::new(ConsoleGateway::stdout()),
            (None, SmsConfig::Http { url, timeout_secs }) => Arc::new(
                HttpGateway::new(
                    url,
                    signer.clone(),
                    clock.clone(),
                    Duration::from_secs(*timeout_secs),
                )
                .map_err(|e| StartError::Part(format!("sms: {e}")))?,
            ),
        };
        let doorbell = Doorbell::default();
        let hub = Arc::new(
            Hub::new(
                config.clone(),
                store.clone(),
                vault.clone(),
                clock.clone(),
                identity,
                doorbell.clone(),
                banks.clone(),
            )
            .map_err(|e| StartError::Part(e.to_string()))?,
        );
        // A restored old backup never serves an expired report.
        hub.sweep()
            .await
            .map_err(|e| StartError::Part(format!("retention sweep: {e}")))?;

        let connector = Connector::new(
            key_id,
            signing_key,
            &banks,
            clock.clone(),
            &ConnectorSettings::default(),
        )
        .map_err(|e| StartError::Part(format!("connector: {e}")))?;
        let opener_vault = vault.clone();
        let opener = move |sealed: &[u8]| {
            let bytes = opener_vault
                .open_field(FieldPurpose::Subject, sealed)
                .map_err(|e| SubjectError(e.to_string()))?;
            subject_from_json(&bytes)
        };
        let ledger = database.ledger(config.rules.retention());
        // Lease owners name this process among all instances on the database: the process id
        // alone repeats across machines (and is 1 in every container).
        let instance = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        let mut fanout_config = FanoutConfig::new(format!("hub-{instance}"));
        fanout_config.lease = time::Duration::seconds(config.workers.lease_secs);
        fanout_config.max_in_flight_per_bank =
            usize::try_from(config.workers.batches_per_bank).unwrap_or(1);
        fanout_config.batch_wait = std::time::Duration::from_millis(
            u64::try_from(config.workers.batch_wait_ms).unwrap_or(0),
        );
        fanout_config.callback_url = Some(
            format!(
                "{}/chaka/v1/callbacks",
                config.public_url.trim_end_matches('/')
            )
            .parse()
            .map_err(|e| StartError::Part(format!("public_url: {e}")))?,
        );
        let fanout = Fanout::new(
            ledger.clone(),
            connector,
            &banks,
            Arc::new(opener),
            clock.clone(),
            fanout_config,
        );
        // A submission wakes the fan-out at once instead of waiting for its next poll.
        let _ = hub.fanout.set(fanout.clone());
        let fanout = fanout.spawn();

        let (stop, stopped) = watch::channel(false);
        let notifier = Notifier::new(
            store.clone(),
            gateway,
            vault,
            clock.clone(),
            format!("sms-{instance}"),
        );
        let mut tasks = vec![tokio::spawn(notifier.run(doorbell, stopped.clone()))];
        let sweeper = hub.clone();
        let mut sweeper_stop = stopped;
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(60)) => {
                        if let Err(e) = sweeper.sweep().await {
                            tracing::error!(error = %e, "retention sweep failed");
                        }
                    }
                    () = crate::notify::stopped(&mut sweeper_stop) => return,
                }
            }
        }));
        let callbacks = callbacks_router(CallbackState::new(ledger, &banks, signer, clock));
        let router = crate::api::router(hub.clone()).merge(callbacks);
        Ok((
            Self {
                hub,
                database,
                store,
                fanout,
                stop,
                tasks,
            },
            router,
        ))
    }

    /// Stops claiming work, lets in-flight legs finish (within the fan-out's grace period) and
    /// stops the notifier and the sweeper.
    pub async fn shutdown(self) {
        self.fanout.stop().await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
