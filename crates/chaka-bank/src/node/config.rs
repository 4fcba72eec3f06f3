//! The bank node's configuration: a TOML file (see `docs/bank-node.md` and
//! `examples/bank.toml`), overridable by command-line flags, validated before the node starts.

use super::faults::FaultConfig;
use chaka_core::BankCode;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// How the node delivers answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnswerMode {
    /// In the response to the inquiry request (`200`).
    #[default]
    Immediate,
    /// `202 Accepted` at once, then a signed `POST` to each inquiry's `callback_url`.
    Callback,
}

/// A hub key the node trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// The `keyid` the hub signs with.
    pub key_id: String,
    /// Ed25519 public key, base64url without padding (32 bytes).
    pub public_key: String,
    /// After this instant the key is refused (rotation grace period).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
}

/// The node's configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The bank this node answers for.
    pub bank: BankCode,
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The card store (SQLite) written by `chaka gen`.
    pub store: PathBuf,
    /// The `keyid` of the node's signing key.
    pub key_id: String,
    /// The node's Ed25519 signing key: a PKCS#8 PEM file.
    pub signing_key: PathBuf,
    /// Hub keys accepted on requests.
    #[serde(default)]
    pub trusted_hub_keys: Vec<TrustedKey>,
    /// Immediate answers or callbacks.
    #[serde(default)]
    pub answer_mode: AnswerMode,
    /// In callback mode, how long after accepting the node calls back.
    #[serde(default)]
    pub callback_delay_secs: u64,
    /// Deliberate misbehaviour.
    #[serde(default)]
    pub faults: FaultConfig,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7100))
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or missing fields.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl NodeConfig {
    /// Reads and validates a configuration file. Relative paths inside it are resolved against
    /// the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.store = base.join(&config.store);
        config.signing_key = base.join(&config.signing_key);
        config.validate()?;
        Ok(config)
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.faults
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.key_id.is_empty() || self.key_id.len() > 128 {
            return Err(ConfigError::Invalid(
                "key_id must be 1 to 128 characters".into(),
            ));
        }
        if self.callback_delay_secs > 86_400 {
            return Err(ConfigError::Invalid(
                "callback_delay_secs must be at most 86400 (the hub's deadline)".into(),
            ));
        }
        if self.trusted_hub_keys.is_empty() {
            return Err(ConfigError::Invalid(
                "trusted_hub_keys is empty: the node would refuse every request".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
bank = "ICBC"
listen = "127.0.0.1:0"
store = "banks/ICBC.sqlite"
key_id = "icbc-1"
signing_key = "keys/icbc.pem"
answer_mode = "callback"
callback_delay_secs = 30

[[trusted_hub_keys]]
key_id = "hub-1"
public_key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

[faults]
error_rate = 0.1
latency = { kind = "log_normal", median_ms = 200, p99_ms = 3000 }
"#;

    #[test]
    fn example_parses_and_resolves_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bank.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.bank.as_str(), "ICBC");
        assert_eq!(c.answer_mode, AnswerMode::Callback);
        assert_eq!(c.store, dir.path().join("banks/ICBC.sqlite"));
        assert_eq!(c.faults.error_rate, 0.1);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused_with_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bank.toml");
        std::fs::write(&path, format!("{EXAMPLE}\nsurprise = 1\n")).unwrap();
        let err = NodeConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("surprise"), "{err}");
        std::fs::write(&path, EXAMPLE.replace("0.1", "2.0")).unwrap();
        let err = NodeConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("error_rate"), "{err}");
        std::fs::write(&path, EXAMPLE.replace("\"ICBC\"", "\"icbc\"")).unwrap();
        assert!(NodeConfig::load(&path).is_err());
        let missing = NodeConfig::load(&dir.path().join("nope.toml"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
