//! The hub's configuration: defaults, then `chaka.toml`, then `CHAKA_*` environment variables
//! (`CHAKA_RULES__COOLDOWN_DAYS=1`), into typed structs validated at start-up. Secrets are read
//! from their own file and never printed ([`HubConfig::masked`]).

use crate::store::Location;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use time::Duration;

/// Everything `chaka hub` needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Where the API and the web app listen.
    pub listen: SocketAddr,
    /// The URL banks use to reach the hub's callback endpoint (`<public_url>/chaka/v1/callbacks`).
    pub public_url: String,
    /// The database: a SQLite file path (one hub process), or a `postgres://` URL (many hub
    /// instances on one database). See [`Location`].
    pub database: Location,
    /// The bank registry (TOML; see `docs/hub.md`).
    pub banks_file: PathBuf,
    /// The secrets file (written by `chaka keys hub`).
    pub secrets_file: PathBuf,
    /// The hub's signing key id.
    pub key_id: String,
    /// The hub's Ed25519 signing key (PKCS#8 PEM).
    pub signing_key: PathBuf,
    /// Pilot gating.
    pub pilot: Pilot,
    /// Deadlines, cooldowns, retention, limits.
    pub rules: Rules,
    /// The SMS adapter.
    pub sms: SmsConfig,
    /// The identity registry adapter.
    pub identity: IdentityConfig,
    /// Argon2id cost for passwords, PINs and the PIN-derived key.
    pub kdf: KdfConfig,
    /// The background workers (fan-out and SMS).
    pub workers: Workers,
}

/// Background worker settings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    /// How long a worker holds claimed work (a ledger leg, an SMS) before another worker, or
    /// the same hub restarted, may take it over, seconds.
    pub lease_secs: i64,
    /// Protocol batches in flight to one bank at most. Instances on one database share the
    /// banks out (each bank's legs are claimed by one of them), so this bounds a bank's load
    /// for the whole cluster, except for a moment while instances join or leave. A partly
    /// filled batch goes out only when none of the bank's is in flight; more than one only
    /// while the bank has a backlog of full batches.
    #[serde(default = "default_batches_per_bank")]
    pub batches_per_bank: i64,
    /// How long a claimed, partly filled batch waits for more of its bank's legs before it is
    /// sent, milliseconds (0 to 1000). Longer waits make fewer, larger batches (fewer
    /// signatures, requests and settlements per inquiry, for the hub and for the banks) and
    /// add at most this much to the time a report takes.
    #[serde(default = "default_batch_wait_ms")]
    pub batch_wait_ms: i64,
}

fn default_batches_per_bank() -> i64 {
    4
}

fn default_batch_wait_ms() -> i64 {
    20
}

/// The longest `[workers] batch_wait_ms` accepted.
const MAX_BATCH_WAIT_MS: i64 = 1000;

impl Default for Workers {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            batches_per_bank: default_batches_per_bank(),
            batch_wait_ms: default_batch_wait_ms(),
        }
    }
}

/// Which regions (province prefixes) and banks are open.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pilot {
    /// Open regions; the real service started with Shanghai (31) and Yunnan (53).
    pub regions: Vec<String>,
}

/// The service's rules, all adjustable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// After this, a bank that has not answered is final as "no answer".
    pub deadline_hours: i64,
    /// Days between the last report's generation and a new inquiry.
    pub cooldown_days: i64,
    /// Natural days a report is kept after generation.
    pub retention_days: i64,
    /// Days after a phone change during which no new inquiry is accepted.
    pub phone_change_cooling_days: i64,
    /// A card without activity for this many months is marked "long unused".
    pub long_unused_months: i32,
    /// Wrong PINs before report opening locks.
    pub pin_max_failures: i64,
    /// How long the lock lasts, hours.
    pub pin_lock_hours: i64,
    /// Validity of an SMS code, seconds.
    pub otp_ttl_secs: i64,
    /// Tries per SMS code.
    pub otp_max_attempts: i64,
    /// SMS codes per phone per hour.
    pub otp_per_phone_per_hour: i64,
    /// Minimum seconds between two codes to one phone.
    pub otp_resend_secs: i64,
    /// A session unused this long ends, minutes.
    pub session_idle_minutes: i64,
    /// A session ends this long after login whatever happens, hours.
    pub session_absolute_hours: i64,
}

/// How SMS leave the hub.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "adapter", rename_all = "snake_case", deny_unknown_fields)]
pub enum SmsConfig {
    /// Printed on the terminal and kept in the outbox (the demo's default).
    Console,
    /// POSTed to a gateway, signed with the hub's key.
    Http {
        /// The gateway's URL.
        url: String,
        /// Request timeout, seconds.
        timeout_secs: u64,
    },
}

/// How identities are checked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "adapter", rename_all = "snake_case", deny_unknown_fields)]
pub enum IdentityConfig {
    /// The citizen registry written by `chaka gen` (sandbox).
    Sandbox {
        /// Path of `citizens.sqlite`.
        citizens: PathBuf,
    },
    /// A national ID-check service, called with signed requests.
    Http {
        /// Its URL.
        url: String,
        /// Request timeout, seconds.
        timeout_secs: u64,
    },
}

/// Argon2id cost.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KdfConfig {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            database: Location::Sqlite("chaka-data/hub.sqlite".into()),
            banks_file: "chaka-data/banks.toml".into(),
            secrets_file: "chaka-data/keys/hub-secrets.toml".into(),
            key_id: "hub-1".into(),
            signing_key: "chaka-data/keys/hub.pem".into(),
            pilot: Pilot {
                regions: vec!["31".into(), "53".into()],
            },
            rules: Rules::default(),
            sms: SmsConfig::Console,
            identity: IdentityConfig::Sandbox {
                citizens: "chaka-data/population/citizens.sqlite".into(),
            },
            kdf: KdfConfig {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1,
            },
            workers: Workers::default(),
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            deadline_hours: 24,
            cooldown_days: 7,
            retention_days: 7,
            phone_change_cooling_days: 7,
            long_unused_months: 12,
            pin_max_failures: 5,
            pin_lock_hours: 24,
            otp_ttl_secs: 300,
            otp_max_attempts: 5,
            otp_per_phone_per_hour: 5,
            otp_resend_secs: 60,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
        }
    }
}

impl Rules {
    /// The fan-out deadline.
    pub fn deadline(&self) -> Duration {
        Duration::hours(self.deadline_hours)
    }
    /// The cooldown between reports.
    pub fn cooldown(&self) -> Duration {
        Duration::days(self.cooldown_days)
    }
    /// The retention of reports.
    pub fn retention(&self) -> Duration {
        Duration::days(self.retention_days)
    }
    /// The cooling-off period after a phone change.
    pub fn phone_change_cooling(&self) -> Duration {
        Duration::days(self.phone_change_cooling_days)
    }
    /// The PIN lock.
    pub fn pin_lock(&self) -> Duration {
        Duration::hours(self.pin_lock_hours)
    }
    /// Validity of a code.
    pub fn otp_ttl(&self) -> Duration {
        Duration::seconds(self.otp_ttl_secs)
    }
    /// Idle session expiry.
    pub fn session_idle(&self) -> Duration {
        Duration::minutes(self.session_idle_minutes)
    }
    /// Absolute session expiry.
    pub fn session_absolute(&self) -> Duration {
        Duration::hours(self.session_absolute_hours)
    }
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable is malformed.
    #[error("configuration: {0}")]
    Load(String),
    /// A value is out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl HubConfig {
    /// Defaults, then `file` (if it exists), then `CHAKA_*` variables; validated.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(HubConfig::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Load(format!(
                    "{} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: HubConfig = figment
            // CHAKA_LOG (the log filter), CHAKA_FAILPOINT (crash tests) and
            // CHAKA_TEST_DATABASE_URL (the tests' PostgreSQL server) are not settings.
            .merge(
                Env::prefixed("CHAKA_")
                    .ignore(&["log", "failpoint", "test_database_url"])
                    .split("__"),
            )
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string().replace('\n', " ")))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.rules;
        let positive = [
            ("rules.deadline_hours", r.deadline_hours),
            ("rules.retention_days", r.retention_days),
            ("rules.pin_max_failures", r.pin_max_failures),
            ("rules.otp_ttl_secs", r.otp_ttl_secs),
            ("rules.otp_max_attempts", r.otp_max_attempts),
            ("rules.otp_per_phone_per_hour", r.otp_per_phone_per_hour),
            ("rules.session_idle_minutes", r.session_idle_minutes),
            ("rules.session_absolute_hours", r.session_absolute_hours),
            ("workers.lease_secs", self.workers.lease_secs),
            ("workers.batches_per_bank", self.workers.batches_per_bank),
        ];
        for (name, value) in positive {
            if value <= 0 {
                return Err(ConfigError::Invalid(format!("{name} must be positive")));
            }
        }
        for (name, value) in [
            ("rules.cooldown_days", r.cooldown_days),
            (
                "rules.phone_change_cooling_days",
                r.phone_change_cooling_days,
            ),
            ("rules.pin_lock_hours", r.pin_lock_hours),
            ("rules.otp_resend_secs", r.otp_resend_secs),
        ] {
            if value < 0 {
                return Err(ConfigError::Invalid(format!("{name} must not be negative")));
            }
        }
        if !(0..=MAX_BATCH_WAIT_MS).contains(&self.workers.batch_wait_ms) {
            return Err(ConfigError::Invalid(format!(
                "workers.batch_wait_ms must be 0 to {MAX_BATCH_WAIT_MS}"
            )));
        }
        let regions = chaka_core::RegionRegistry::builtin();
        if let Some(bad) = self.pilot.regions.iter().find(|p| regions.get(p).is_none()) {
            return Err(ConfigError::Invalid(format!(
                "pilot.regions: {bad:?} is not a province prefix"
            )));
        }
        if !self.public_url.starts_with("http://") && !self.public_url.starts_with("https://") {
            return Err(ConfigError::Invalid(
                "public_url must be an http(s) URL".into(),
            ));
        }
        if self.kdf.memory_kib < 8 * self.kdf.parallelism.max(1) || self.kdf.iterations == 0 {
            return Err(ConfigError::Invalid(
                "kdf: memory_kib or iterations too small".into(),
            ));
        }
        Ok(())
    }

    /// The configuration as TOML, for `chaka config print`: the secrets live in
    /// `secrets_file`, which is never printed, and a password in a PostgreSQL `database` URL
    /// shows as `****`.
    pub fn masked(&self) -> String {
        let printable = Self {
            database: self.database.without_password(),
            ..self.clone()
        };
        toml::to_string_pretty(&printable).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail returns its own error type
    fn defaults_are_valid_and_environment_overrides_files() {
        let config = HubConfig::default();
        config.validate().unwrap();
        assert_eq!(config.pilot.regions, ["31", "53"]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chaka.toml");
        std::fs::write(&file, "[rules]\ncooldown_days = 3\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("CHAKA_RULES__RETENTION_DAYS", "2");
            let loaded = HubConfig::load(Some(&file)).unwrap();
            assert_eq!(loaded.rules.cooldown_days, 3);
            assert_eq!(loaded.rules.retention_days, 2);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail returns its own error type
    fn the_database_is_a_path_or_a_postgres_url_whose_password_is_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chaka.toml");
        std::fs::write(&file, "database = \"/var/lib/chaka/hub.sqlite\"\n").unwrap();
        let loaded = HubConfig::load(Some(&file)).unwrap();
        assert_eq!(
            loaded.database,
            Location::Sqlite("/var/lib/chaka/hub.sqlite".into())
        );
        assert!(
            loaded
                .masked()
                .contains("database = \"/var/lib/chaka/hub.sqlite\"")
        );
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "CHAKA_DATABASE",
                "postgres://chaka:pw-9f3a@db.internal:5432/chaka",
            );
            let loaded = HubConfig::load(Some(&file)).unwrap();
            assert!(matches!(loaded.database, Location::Postgres(_)));
            let printed = loaded.masked();
            assert!(printed.contains("postgres://chaka:****@db.internal:5432/chaka"));
            assert!(!printed.contains("pw-9f3a"));
            assert!(!format!("{loaded:?}").contains("pw-9f3a"));
            jail.set_env("CHAKA_DATABASE", "postgres://chaka:pw-9f3a@/");
            let refused = HubConfig::load(Some(&file)).unwrap_err().to_string();
            assert!(refused.contains("PostgreSQL URL"), "{refused}");
            assert!(!refused.contains("pw-9f3a"), "{refused}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let mut config = HubConfig::default();
        config.rules.pin_max_failures = 0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("pin_max_failures")
        );
        for wait in [-1, 1001] {
            let mut config = HubConfig::default();
            config.workers.batch_wait_ms = wait;
            let refused = config.validate().unwrap_err().to_string();
            assert!(
                refused.contains("workers.batch_wait_ms must be 0 to 1000"),
                "{refused}"
            );
        }
        let mut config = HubConfig::default();
        config.workers.batch_wait_ms = 0;
        config.validate().unwrap();
        let mut config = HubConfig::default();
        config.pilot.regions = vec!["99".into()];
        assert!(config.validate().unwrap_err().to_string().contains("99"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chaka.toml");
        std::fs::write(&file, "surprise = true\n").unwrap();
        assert!(
            HubConfig::load(Some(&file))
                .unwrap_err()
                .to_string()
                .contains("surprise")
        );
    }
}
