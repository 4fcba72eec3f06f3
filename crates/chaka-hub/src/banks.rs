//! The hub's bank registry: which banks the hub asks, where they listen, which keys they sign
//! with, whether they are in service and which regions they serve. Read from a TOML file
//! (`[[bank]]` entries), checked against the reference tables of `chaka_core` before the hub
//! starts. It owns no HTTP client (see [`crate::connector`]) and no state that changes at run time.
//!
//! ```toml
//! [[bank]]
//! code = "ICBC"
//! endpoint = "http://127.0.0.1:7101"
//! status = "pilot"            # pilot | open | suspended
//! regions = ["31", "53"]      # empty or absent = all regions
//! [[bank.keys]]
//! key_id = "icbc-1"
//! public_key = "…"            # Ed25519, base64url without padding
//! not_after = "2027-01-01T00:00:00Z"   # optional end of a rotation grace period
//! ```

use chaka_core::{BankCode, BankRegistry, RegionRegistry};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningPublicKey};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Whether a bank takes inquiries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankStatus {
    /// In the pilot: asked by users of the regions it serves.
    Pilot,
    /// Generally open.
    Open,
    /// Not asked for new inquiries (legs already created are still sent).
    Suspended,
}

impl BankStatus {
    /// The configuration word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pilot => "pilot",
            Self::Open => "open",
            Self::Suspended => "suspended",
        }
    }
}

/// A key a bank signs responses and callbacks with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubBankKey {
    /// The `keyid` of its signatures.
    pub key_id: KeyId,
    /// The Ed25519 public key.
    pub public_key: SigningPublicKey,
    /// After this instant the key is refused (end of a rotation grace period).
    pub not_after: Option<OffsetDateTime>,
}

/// One bank as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubBank {
    /// Its code (present in `BankRegistry::builtin()`).
    pub code: BankCode,
    /// Chinese name, from the reference table.
    pub name_zh: String,
    /// English name, from the reference table.
    pub name_en: String,
    /// Base URL of its protocol endpoints (http or https).
    pub endpoint: url::Url,
    /// Pilot, open or suspended.
    pub status: BankStatus,
    /// Province prefixes it serves; empty means all.
    pub regions: Vec<String>,
    /// Its signing keys (at least one).
    pub keys: Vec<HubBankKey>,
}

impl HubBank {
    /// Whether it serves users whose ID number starts with `region` (a two-digit prefix).
    pub fn serves(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| r == region)
    }

    /// Whether it takes new inquiries.
    pub fn is_available(&self) -> bool {
        self.status != BankStatus::Suspended
    }
}

/// The raw file, as written by an operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankRegistryFile {
    /// The `[[bank]]` entries.
    #[serde(default)]
    pub bank: Vec<BankEntry>,
}

/// One `[[bank]]` entry, unchecked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankEntry {
    /// Bank code.
    pub code: String,
    /// Base URL.
    pub endpoint: String,
    /// `pilot`, `open` or `suspended`.
    pub status: BankStatus,
    /// Province prefixes served; empty = all.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Signing keys.
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
}

/// One `[[bank.keys]]` entry, unchecked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Key id.
    pub key_id: String,
    /// Ed25519 public key, base64url without padding.
    pub public_key: String,
    /// Optional end of validity.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
}

/// The registry cannot be used. Every variant names the file or the entry.
#[derive(Debug, thiserror::Error)]
pub enum BanksError {
    /// The file cannot be read.
    #[error("cannot read bank registry {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid TOML, or unknown or missing fields.
    #[error("bank registry{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An entry is invalid.
    #[error("bank registry entry {index} ({code}): {problem}")]
    Entry {
        /// Position of the `[[bank]]` entry, from 1.
        index: usize,
        /// Its code as written.
        code: String,
        /// What is wrong.
        problem: String,
    },
}

/// The banks the hub asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubBanks {
    banks: Vec<HubBank>,
}

impl HubBanks {
    /// Reads and checks a registry file.
    pub fn load(path: &Path) -> Result<Self, BanksError> {
        let text = std::fs::read_to_string(path).map_err(|source| BanksError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// Parses and checks a registry from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, BanksError> {
        Self::parse(text, None)
    }

    fn parse(text: &str, path: Option<&Path>) -> Result<Self, BanksError> {
        let file: BankRegistryFile = toml::from_str(text).map_err(|e| BanksError::Parse {
            path: path.map(Path::to_owned),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        Self::from_file(file)
    }

    /// Checks a parsed file: known bank codes, no bank twice, http(s) endpoints, known
    /// regions, at least one well-formed key per bank, no key id twice.
    pub fn from_file(file: BankRegistryFile) -> Result<Self, BanksError> {
        let mut banks = Vec::with_capacity(file.bank.len());
        let mut codes = HashSet::new();
        let mut key_ids = HashSet::new();
        for (i, entry) in file.bank.into_iter().enumerate() {
            let index = i + 1;
            let bad = |problem: String| BanksError::Entry {
                index,
                code: entry.code.clone(),
                problem,
            };
            let code = BankCode::parse(&entry.code)
                .map_err(|_| bad("the code must be 2 to 16 of A-Z 0-9".into()))?;
            let known = BankRegistry::builtin()
                .get(&code)
                .ok_or_else(|| bad("no such bank in the reference table".into()))?;
            if !codes.insert(code.clone()) {
                return Err(bad("the bank appears twice".into()));
            }
            let endpoint = parse_endpoint(&entry.endpoint).map_err(&bad)?;
            let mut regions = Vec::with_capacity(entry.regions.len());
            for region in &entry.regions {
                if RegionRegistry::builtin().get(region).is_none() {
                    return Err(bad(format!("region {region:?} is not a province prefix")));
                }
                if regions.contains(region) {
                    return Err(bad(format!("region {region} is listed twice")));
                }
                regions.push(region.clone());
            }
            if entry.keys.is_empty() {
                return Err(bad("no keys: its answers could never be verified".into()));
            }
            let mut keys = Vec::with_capacity(entry.keys.len());
            for (k, key) in entry.keys.iter().enumerate() {
                let key_id = KeyId::parse(&key.key_id)
                    .map_err(|e| bad(format!("key {}: key_id: {e}", k + 1)))?;
                let public_key = SigningPublicKey::parse(&key.public_key)
                    .map_err(|e| bad(format!("key {key_id}: public_key: {e}")))?;
                if !key_ids.insert(key_id.clone()) {
                    return Err(bad(format!("key id {key_id} is used twice")));
                }
                keys.push(HubBankKey {
                    key_id,
                    public_key,
                    not_after: key.not_after,
                });
            }
            banks.push(HubBank {
                code,
                name_zh: known.name_zh.clone(),
                name_en: known.name_en.clone(),
                endpoint,
                status: entry.status,
                regions,
                keys,
            });
        }
        Ok(Self { banks })
    }

    /// A registry of already checked banks (for tests and programmatic set-ups).
    pub fn from_banks(banks: Vec<HubBank>) -> Self {
        Self { banks }
    }

    /// Every bank, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &HubBank> {
        self.banks.iter()
    }

    /// How many banks.
    pub fn len(&self) -> usize {
        self.banks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.banks.is_empty()
    }

    /// The bank with this code.
    pub fn get(&self, code: &BankCode) -> Option<&HubBank> {
        self.banks.iter().find(|b| &b.code == code)
    }

    /// The banks a user of `region` (two-digit province prefix) may ask: not suspended and
    /// serving the region. Whether the region itself is open is the caller's rule.
    pub fn open_to(&self, region: &str) -> Vec<&HubBank> {
        self.banks
            .iter()
            .filter(|b| b.is_available() && b.serves(region))
            .collect()
    }

    /// Every bank key, owned by its bank code (for verifying responses and callbacks).
    pub fn key_set(&self) -> KeySet {
        let mut set = KeySet::new();
        for bank in &self.banks {
            for key in &bank.keys {
                let mut known =
                    KnownKey::new(key.key_id.clone(), key.public_key).owned_by(bank.code.as_str());
                if let Some(until) = key.not_after {
                    known = known.valid_until(until);
                }
                set.insert(known);
            }
        }
        set
    }
}

fn parse_endpoint(input: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(input).map_err(|e| format!("endpoint: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("endpoint: the scheme must be http or https".into());
    }
    if url.host_str().is_none() {
        return Err("endpoint: no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("endpoint: user information is not allowed".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("endpoint: a query or fragment is not allowed".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const KEY2: &str = "PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw";

    fn file(body: &str) -> String {
        format!(
            r#"
[[bank]]
code = "ICBC"
endpoint = "http://127.0.0.1:7101"
status = "pilot"
regions = ["31", "53"]
[[bank.keys]]
key_id = "icbc-1"
public_key = "{KEY}"
not_after = "2027-01-01T00:00:00Z"

[[bank]]
code = "CMB"
endpoint = "https://cmb.example/"
status = "open"
[[bank.keys]]
key_id = "cmb-1"
public_key = "{KEY2}"
{body}
"#
        )
    }

    #[test]
    fn parses_and_answers_open_to_and_key_set() {
        let banks = HubBanks::from_toml(&file("")).unwrap();
        assert_eq!(banks.len(), 2);
        let icbc = banks.get(&BankCode::parse("ICBC").unwrap()).unwrap();
        assert_eq!(icbc.status, BankStatus::Pilot);
        assert_eq!(icbc.name_en, "Industrial and Commercial Bank of China");
        let codes = |r| {
            banks
                .open_to(r)
                .iter()
                .map(|b| b.code.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes("31"), ["ICBC", "CMB"]);
        assert_eq!(codes("11"), ["CMB"]);
        let keys = banks.key_set();
        let k = keys.get(&KeyId::parse("icbc-1").unwrap()).unwrap();
        assert_eq!(k.owner.as_deref(), Some("ICBC"));
        assert!(k.not_after.is_some());
        assert_eq!(keys.of_owner("CMB").count(), 1);
    }

    #[test]
    fn suspended_banks_are_not_offered() {
        let text = file("").replace("\"open\"", "\"suspended\"");
        let banks = HubBanks::from_toml(&text).unwrap();
        assert!(banks.open_to("11").is_empty());
    }

    #[test]
    fn errors_name_the_entry() {
        let cases = [
            (file("").replace("\"CMB\"", "\"NOPE\""), "entry 2 (NOPE)"),
            (file("").replace("\"CMB\"", "\"ICBC\""), "appears twice"),
            (
                file("").replace("https://cmb.example/", "ftp://x"),
                "http or https",
            ),
            (file("").replace("[\"31\", \"53\"]", "[\"99\"]"), "\"99\""),
            (file("").replace(KEY2, "short"), "key cmb-1: public_key"),
            (file("").replace("cmb-1", "icbc-1"), "used twice"),
            (
                file("").replace("\"open\"", "\"closed\""),
                "unknown variant",
            ),
            (file("surprise = 1"), "surprise"),
        ];
        for (text, needle) in cases {
            let err = HubBanks::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let no_keys = "[[bank]]\ncode = \"ICBC\"\nendpoint = \"http://h\"\nstatus = \"open\"\n";
        let err = HubBanks::from_toml(no_keys).unwrap_err().to_string();
        assert!(err.contains("entry 1 (ICBC): no keys"), "{err}");
        let missing = HubBanks::load(Path::new("/nonexistent/banks.toml")).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
    }
}
