//! The hub's state: configuration, store, vault, clock, identity registry and the doorbell of
//! the SMS notifier, shared by the API handlers and the flows (`account`, `pin`, `inquiry`,
//! `report`). Built once at start-up by [`Hub::new`]; tests build it with a fake clock.

use crate::banks::HubBanks;
use crate::config::HubConfig;
use crate::identity::IdentityVerifier;
use crate::notify::Doorbell;
use crate::store::Store;
use crate::vault::Vault;
use chaka_core::SharedClock;
use std::sync::Arc;

/// Everything a request needs.
pub struct Hub {
    /// Configuration.
    pub config: HubConfig,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Keys and secrets.
    pub vault: Arc<Vault>,
    /// Time.
    pub clock: SharedClock,
    /// The identity registry.
    pub identity: Arc<dyn IdentityVerifier>,
    /// Wakes the SMS notifier.
    pub notifier: Doorbell,
    /// The banks and their endpoints.
    pub banks: Arc<HubBanks>,
    /// A password hash to verify against when the phone is unknown (equal work either way).
    pub(crate) dummy_password_hash: String,
    /// Wakes the fan-out after a submission (set by the runtime once the fan-out exists; without
    /// it, new legs wait for the fan-out's next poll).
    pub fanout: std::sync::OnceLock<crate::fanout::Fanout>,
}

impl Hub {
    /// Assembles the state.
    pub fn new(
        config: HubConfig,
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        clock: SharedClock,
        identity: Arc<dyn IdentityVerifier>,
        notifier: Doorbell,
        banks: Arc<HubBanks>,
    ) -> Result<Self, crate::vault::VaultError> {
        let dummy_password_hash = vault.hash_password(&crate::vault::random_token())?;
        Ok(Self {
            config,
            store,
            vault,
            clock,
            identity,
            notifier,
            banks,
            dummy_password_hash,
            fanout: std::sync::OnceLock::new(),
        })
    }
}
