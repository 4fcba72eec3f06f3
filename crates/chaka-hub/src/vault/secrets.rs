//! The four server secrets of the hub (data, index, PIN and session keys): generation, the
//! secrets file format, validation. Zeroized on drop, never printed.

use super::*;

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// The hub's four server secrets, 32 random bytes each, base64url (no padding) in the secrets
/// file. Zeroized on drop; `Debug` shows nothing. There is deliberately no `Serialize`: the
/// only way out is [`Secrets::to_toml`], for writing the secrets file.
///
/// ```
/// use chaka_hub::vault::Secrets;
/// let secrets = Secrets::generate();
/// let again: Secrets = toml::from_str(&secrets.to_toml())?;
/// assert_eq!(format!("{again:?}"), "Secrets(***)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Secrets {
    pub(super) data_key: Zeroizing<[u8; KEY_LEN]>,
    pub(super) index_key: Zeroizing<[u8; KEY_LEN]>,
    pub(super) pin_secret: Zeroizing<[u8; KEY_LEN]>,
    pub(super) session_key: Zeroizing<[u8; KEY_LEN]>,
}

impl Secrets {
    /// Four fresh secrets from the operating system's randomness.
    pub fn generate() -> Self {
        let fresh = || {
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            fill_random(key.as_mut());
            key
        };
        Self {
            data_key: fresh(),
            index_key: fresh(),
            pin_secret: fresh(),
            session_key: fresh(),
        }
    }

    /// Parses the four secrets (base64url without padding, surrounding whitespace ignored).
    /// Refuses wrong lengths, all-zero placeholders and a secret reused for two purposes.
    ///
    /// ```
    /// use chaka_hub::vault::{Secrets, SecretsError};
    /// let a = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
    /// let b = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI";
    /// let c = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM";
    /// let d = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ";
    /// assert!(Secrets::from_base64url(a, b, c, d).is_ok());
    /// assert_eq!(
    ///     Secrets::from_base64url(a, a, c, d).err(),
    ///     Some(SecretsError::Reused { first: "data_key", second: "index_key" })
    /// );
    /// ```
    pub fn from_base64url(
        data_key: &str,
        index_key: &str,
        pin_secret: &str,
        session_key: &str,
    ) -> Result<Self, SecretsError> {
        let secrets = Self {
            data_key: decode_secret("data_key", data_key)?,
            index_key: decode_secret("index_key", index_key)?,
            pin_secret: decode_secret("pin_secret", pin_secret)?,
            session_key: decode_secret("session_key", session_key)?,
        };
        let named = secrets.named();
        for (i, (first, a)) in named.iter().enumerate() {
            for (second, b) in &named[i + 1..] {
                if a == b {
                    return Err(SecretsError::Reused { first, second });
                }
            }
        }
        Ok(secrets)
    }

    /// The secrets file: four `name = "base64url"` lines under a warning comment. Secret.
    pub fn to_toml(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(512));
        out.push_str(
            "# chaka hub secrets: 32 random bytes each, base64url without padding.\n\
             # Keep this file private (mode 0600) and backed up apart from the database:\n\
             # losing data_key loses every sealed field, losing pin_secret every user key.\n",
        );
        for (name, key) in self.named() {
            let encoded = Zeroizing::new(URL_SAFE_NO_PAD.encode(key));
            out.push_str(name);
            out.push_str(" = \"");
            out.push_str(&encoded);
            out.push_str("\"\n");
        }
        out
    }

    pub(super) fn named(&self) -> [(&'static str, &[u8; KEY_LEN]); 4] {
        [
            ("data_key", &self.data_key),
            ("index_key", &self.index_key),
            ("pin_secret", &self.pin_secret),
            ("session_key", &self.session_key),
        ]
    }
}

fn decode_secret(
    field: &'static str,
    input: &str,
) -> Result<Zeroizing<[u8; KEY_LEN]>, SecretsError> {
    let bytes = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(input.trim())
            .map_err(|_| SecretsError::Base64 { field })?,
    );
    if bytes.len() != KEY_LEN {
        return Err(SecretsError::Length {
            field,
            got: bytes.len(),
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&bytes);
    if key.iter().all(|&b| b == 0) {
        return Err(SecretsError::AllZero { field });
    }
    Ok(key)
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets(***)")
    }
}

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            data_key: String,
            index_key: String,
            pin_secret: String,
            session_key: String,
        }
        let Raw {
            data_key,
            index_key,
            pin_secret,
            session_key,
        } = Raw::deserialize(d)?;
        let (data_key, index_key, pin_secret, session_key) = (
            Zeroizing::new(data_key),
            Zeroizing::new(index_key),
            Zeroizing::new(pin_secret),
            Zeroizing::new(session_key),
        );
        Secrets::from_base64url(&data_key, &index_key, &pin_secret, &session_key)
            .map_err(serde::de::Error::custom)
    }
}
