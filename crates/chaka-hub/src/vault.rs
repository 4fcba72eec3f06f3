//! The vault: every secret-keyed operation of the hub, in one place. It owns the hub's four
//! server secrets ([`Secrets`]), field encryption at rest (XChaCha20-Poly1305), blind indexes
//! (HMAC-SHA256), password hashing (Argon2id), the keyed PIN verifier, wrapping each user's
//! X25519 secret under their payment PIN, session token hashing and the [`Pin`] newtype.
//!
//! It must not log, print or return in an error any key, plaintext, password, PIN or code, and
//! it never reads the clock. Storage, counters and locks belong to the callers.
//!
//! # Formats (version 1)
//!
//! | item | format |
//! |---|---|
//! | sealed field | `0x01 ‖ nonce(24) ‖ XChaCha20-Poly1305(data_key, nonce, plaintext, aad = 0x01 ‖ "chaka/field/<purpose>")` |
//! | blind index | `HMAC-SHA256(index_key, "<purpose>" ‖ 0x00 ‖ value)` (purposes `id_number`, `phone`) |
//! | password hash | PHC string `$argon2id$v=19$m=…,t=…,p=…$<salt 16 B>$<hash 32 B>` |
//! | PIN verifier | the same PHC form, computed with `pin_secret` as Argon2's secret input `K` |
//! | wrapped user key | `salt` (16 B) and `sealed = 0x01 ‖ m u32 BE ‖ t u32 BE ‖ p u32 BE ‖ nonce(24) ‖ ct+tag(48)` |
//! | session token hash | `HMAC-SHA256(session_key, "chaka/session-token/v1" ‖ 0x00 ‖ token)` |
//!
//! The wrapping key of a user key is `HKDF-SHA256(ikm = Argon2id(pin, salt), salt = pin_secret,
//! info = "chaka/user-key-wrap/v1")`; the AEAD's associated data is the 13-byte header followed
//! by the info string, so the Argon2 cost stored in the header cannot be altered either.
//! Storing the cost with each blob lets the operator raise [`KdfParams`] without locking
//! anybody out. Neither a database copy (no `pin_secret`) nor the secrets file (no salt and
//! blob) alone is enough to test a PIN offline.

pub use crate::pin_policy::PinRejection;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use chaka_protocol::keys::RecipientSecretKey;
use hmac::{Hmac, Mac as _};
use rand::TryRng as _;
use serde::{Deserialize, Deserializer};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

mod password;
mod secrets;

pub use password::*;
pub use secrets::*;

/// The version byte that starts every sealed field and wrapped key.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;
/// `version ‖ m ‖ t ‖ p` at the start of a wrapped key.
const WRAP_HEADER_LEN: usize = 1 + 4 + 4 + 4;
const WRAPPED_LEN: usize = WRAP_HEADER_LEN + NONCE_LEN + KEY_LEN + TAG_LEN;
const WRAP_INFO: &[u8] = b"chaka/user-key-wrap/v1";
const SESSION_TOKEN_LABEL: &[u8] = b"chaka/session-token/v1";

/// Why the vault could not do its work. No message carries a key, a plaintext, a password, a
/// PIN or a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// A sealed field or wrapped key is too short or otherwise not in the stored format.
    #[error("the sealed value is malformed")]
    Malformed,
    /// A sealed value starts with a version this build does not know.
    #[error("the sealed value has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The field does not open: another key, another purpose, or altered bytes.
    #[error("the sealed field does not open (wrong key, wrong purpose or altered)")]
    Open,
    /// Encryption failed (only for inputs beyond the AEAD's length limit).
    #[error("encryption failed")]
    Seal,
    /// The Argon2 cost parameters are out of range.
    #[error("the key derivation parameters are out of range")]
    KdfParams,
    /// Argon2 or HKDF failed.
    #[error("key derivation failed")]
    Kdf,
    /// The user key does not unwrap: a wrong PIN, or an altered salt or blob (the two cannot be
    /// told apart on purpose).
    #[error("the PIN is wrong")]
    WrongPin,
}

/// Why a secrets file was refused. Names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// Not base64url without padding.
    #[error("secret `{field}` is not base64url without padding")]
    Base64 {
        /// Which secret.
        field: &'static str,
    },
    /// Not 32 bytes once decoded.
    #[error("secret `{field}` has {got} bytes, expected 32")]
    Length {
        /// Which secret.
        field: &'static str,
        /// Decoded length.
        got: usize,
    },
    /// All zero bytes: a placeholder, not a secret.
    #[error("secret `{field}` is all zero bytes")]
    AllZero {
        /// Which secret.
        field: &'static str,
    },
    /// Two secrets are equal, so one key would serve two purposes.
    #[error("secrets `{first}` and `{second}` are equal; generate each one separately")]
    Reused {
        /// One secret.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
}

/// Fills `buf` from the operating system (`getrandom`). Should the OS ever refuse, falls back
/// to `rand`'s thread generator, a CSPRNG seeded from the OS that panics rather than return
/// weak output; it never returns predictable bytes.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if rand::rngs::SysRng.try_fill_bytes(buf).is_err() {
        use rand::Rng as _;
        rand::rng().fill_bytes(buf);
    }
}

fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// HMAC-SHA256 over the concatenation of `parts`. The 32-byte key is zero-padded to the
/// 64-byte block, which RFC 2104 defines as the same key, so construction cannot fail.
pub(crate) fn hmac_sha256(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = Zeroizing::new([0u8; 64]);
    block[..KEY_LEN].copy_from_slice(key);
    let mut mac = <Hmac<Sha256>>::new((&*block).into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

// ---------------------------------------------------------------------------------------------
// Argon2 cost
// ---------------------------------------------------------------------------------------------

/// Argon2id cost for passwords, PIN verifiers and PIN-derived wrapping keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB (at least 8 × `parallelism`).
    pub memory_kib: u32,
    /// Passes over memory (at least 1).
    pub iterations: u32,
    /// Lanes (at least 1).
    pub parallelism: u32,
}

impl KdfParams {
    /// OWASP's Argon2id recommendation (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane.
    pub const RECOMMENDED: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// 256 KiB, 1 pass, 1 lane: only for tests, where hundreds of hashes must stay fast.
    pub const FAST_FOR_TESTS: Self = Self {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };

    /// The most a stored hash or wrapped key may ask for (1 GiB, 64 passes, 64 lanes), so that
    /// an altered row cannot make the hub allocate without bound.
    const CEILING: Self = Self {
        memory_kib: 1024 * 1024,
        iterations: 64,
        parallelism: 64,
    };

    fn argon2_params(self) -> Result<Params, VaultError> {
        if self.memory_kib > Self::CEILING.memory_kib
            || self.iterations > Self::CEILING.iterations
            || self.parallelism > Self::CEILING.parallelism
        {
            return Err(VaultError::KdfParams);
        }
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|_| VaultError::KdfParams)
    }

    fn of(params: &Params) -> Self {
        Self {
            memory_kib: params.m_cost(),
            iterations: params.t_cost(),
            parallelism: params.p_cost(),
        }
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

// ---------------------------------------------------------------------------------------------
// Purposes, PIN, wrapped key
// ---------------------------------------------------------------------------------------------

/// What a sealed field holds; bound into the ciphertext so that one cannot be served as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldPurpose {
    /// A resident ID number.
    IdNumber,
    /// A person's name.
    Name,
    /// A mobile number.
    Phone,
    /// The subject snapshot of an inquiry (JSON of name, ID number, phone).
    Subject,
    /// Secret parameters of a queued SMS (the code in it).
    SmsParams,
}

impl FieldPurpose {
    /// The associated data: `"chaka/field/<purpose>"`.
    pub fn label(self) -> &'static str {
        match self {
            Self::IdNumber => "chaka/field/id_number",
            Self::Name => "chaka/field/name",
            Self::Phone => "chaka/field/phone",
            Self::Subject => "chaka/field/subject",
            Self::SmsParams => "chaka/field/sms_params",
        }
    }
}

/// What a blind index is computed over; part of the MAC input, so equal values of different
/// kinds never share an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexPurpose {
    /// The canonical 18-character ID number ([`chaka_core::IdNumber::as_str`]).
    IdNumber,
    /// The 11-digit mobile number ([`chaka_core::Phone::as_str`]).
    Phone,
}

impl IndexPurpose {
    /// The MAC prefix (`id_number`, `phone`).
    pub fn label(self) -> &'static str {
        match self {
            Self::IdNumber => "id_number",
            Self::Phone => "phone",
        }
    }
}

/// A payment PIN: exactly six digits. Zeroized on drop; `Debug` prints `Pin(******)`; no
/// `Display`. Whether a PIN is acceptable *as a new PIN* is [`crate::pin_policy::check`].
///
/// Parsing trims surrounding whitespace (including the ideographic space U+3000) and folds
/// full-width digits `０`–`９` to ASCII, as every chaka parser does with what people type on a
/// Chinese keyboard; anything else — signs, inner spaces, other scripts' digits — is refused.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Parses a PIN.
    ///
    /// ```
    /// use chaka_hub::vault::Pin;
    /// assert!(Pin::parse(" 385２０７ ").is_ok());
    /// assert_eq!(Pin::parse("38520").err().map(|e| e.code()), Some("pin_format"));
    /// assert_eq!(format!("{:?}", Pin::parse("385207")?), "Pin(******)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, PinRejection> {
        let mut digits = Zeroizing::new(String::with_capacity(6));
        for c in input.trim_matches(char::is_whitespace).chars() {
            let ascii = match c {
                '0'..='9' => c,
                '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (u32::from(c) - 0xFF10) as u8),
                _ => return Err(PinRejection::Format),
            };
            if digits.len() == 6 {
                return Err(PinRejection::Format);
            }
            digits.push(ascii);
        }
        if digits.len() != 6 {
            return Err(PinRejection::Format);
        }
        Ok(Self(digits))
    }

    /// The six ASCII digits. Crate-private: only the vault and the policy read a PIN.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(******)")
    }
}

/// A user's X25519 secret wrapped under their PIN: the Argon2 salt and the sealed blob (see the
/// module documentation for the format). Not secret by itself, but useless without both the
/// PIN and the server's `pin_secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Argon2id salt (16 random bytes).
    pub salt: Vec<u8>,
    /// `0x01 ‖ m ‖ t ‖ p ‖ nonce ‖ ciphertext+tag` (85 bytes).
    pub sealed: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WrappedKey(salt: {} bytes, sealed: {} bytes)",
            self.salt.len(),
            self.sealed.len()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// A fresh session token: 32 random bytes from the operating system, base64url without
/// padding (43 characters). Show it once; store only [`Vault::token_hash`].
///
/// ```
/// let token = chaka_hub::vault::random_token();
/// assert_eq!(token.len(), 43);
/// assert_ne!(token, chaka_hub::vault::random_token());
/// ```
pub fn random_token() -> String {
    let bytes = Zeroizing::new(random_array::<32>());
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

// ---------------------------------------------------------------------------------------------
// The vault
// ---------------------------------------------------------------------------------------------

/// The hub's keyed operations. Cheap to clone (four keys and the Argon2 cost); `Debug` shows
/// only the cost.
///
/// ```
/// use chaka_hub::vault::{FieldPurpose, KdfParams, Secrets, Vault};
/// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
/// let sealed = vault.seal_field(FieldPurpose::Name, "王静".as_bytes())?;
/// assert_eq!(&vault.open_field(FieldPurpose::Name, &sealed)?[..], "王静".as_bytes());
/// assert!(vault.open_field(FieldPurpose::Phone, &sealed).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Vault {
    secrets: Secrets,
    params: KdfParams,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("params", &self.params)
            .field("secrets", &"***")
            .finish()
    }
}

impl Vault {
    /// A vault over `secrets`, hashing with `params`. Out-of-range parameters surface as
    /// [`VaultError::KdfParams`] on the first hash.
    pub fn new(secrets: &Secrets, params: KdfParams) -> Self {
        Self {
            secrets: secrets.clone(),
            params,
        }
    }

    /// The Argon2 cost new hashes use.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// The session key, for [`crate::otp`].
    pub(crate) fn session_key(&self) -> &[u8; KEY_LEN] {
        &self.secrets.session_key
    }

    fn data_cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.secrets.data_key).into())
    }

    /// Encrypts a personal field at rest: `0x01 ‖ nonce(24) ‖ ciphertext+tag`, with a random
    /// nonce and the purpose (and version) as associated data.
    ///
    /// ```
    /// use chaka_hub::vault::{FieldPurpose, KdfParams, Secrets, Vault};
    /// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
    /// let a = vault.seal_field(FieldPurpose::Phone, b"13812345678")?;
    /// let b = vault.seal_field(FieldPurpose::Phone, b"13812345678")?;
    /// assert_ne!(a, b); // a fresh nonce each time
    /// assert_eq!(a.len(), 1 + 24 + 11 + 16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_field(
        &self,
        purpose: FieldPurpose,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        let nonce = random_array::<NONCE_LEN>();
        let aad = field_aad(purpose);
        let ciphertext = self
            .data_cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts a field sealed by [`Vault::seal_field`] for the same purpose. The plaintext is
    /// zeroized when dropped.
    ///
    /// ```
    /// use chaka_hub::vault::{FieldPurpose, KdfParams, Secrets, Vault, VaultError};
    /// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
    /// let mut sealed = vault.seal_field(FieldPurpose::IdNumber, b"11010519491231002X")?;
    /// sealed[30] ^= 1;
    /// assert_eq!(vault.open_field(FieldPurpose::IdNumber, &sealed), Err(VaultError::Open));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_field(
        &self,
        purpose: FieldPurpose,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (&version, rest) = sealed.split_first().ok_or(VaultError::Malformed)?;
        if version != FORMAT_V1 {
            return Err(VaultError::UnsupportedVersion(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(VaultError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| VaultError::Malformed)?;
        let aad = field_aad(purpose);
        self.data_cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Open)
    }

    /// The blind index of a value: `HMAC-SHA256(index_key, purpose ‖ 0x00 ‖ value)`. Pass the
    /// canonical form (`IdNumber::as_str`, `Phone::as_str`) so equal values index equally.
    /// Without `index_key`, an index cannot be tested against guessed ID or phone numbers.
    ///
    /// ```
    /// use chaka_hub::vault::{IndexPurpose, KdfParams, Secrets, Vault};
    /// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
    /// let a = vault.blind_index(IndexPurpose::Phone, "13812345678");
    /// assert_eq!(a, vault.blind_index(IndexPurpose::Phone, "13812345678"));
    /// assert_ne!(a, vault.blind_index(IndexPurpose::IdNumber, "13812345678"));
    /// ```
    pub fn blind_index(&self, purpose: IndexPurpose, value: &str) -> [u8; 32] {
        hmac_sha256(
            &self.secrets.index_key,
            &[purpose.label().as_bytes(), &[0], value.as_bytes()],
        )
    }

    /// Hashes a login password with Argon2id (random 16-byte salt, 32-byte output) into a PHC
    /// string. Apply [`check_password`] first when the password is new.
    ///
    /// ```
    /// use chaka_hub::vault::{KdfParams, Secrets, Vault};
    /// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
    /// let phc = vault.hash_password("chaka-2026")?;
    /// assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
    /// assert!(vault.verify_password("chaka-2026", &phc));
    /// assert!(!vault.verify_password("chaka-2025", &phc));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hash_password(&self, password: &str) -> Result<String, VaultError> {
        self.phc_hash(None, password.as_bytes())
    }

    /// Whether `password` matches a PHC string from [`Vault::hash_password`]. Uses the cost
    /// stored in the string (bounded); `false` for anything malformed or not Argon2id.
    pub fn verify_password(&self, password: &str, phc: &str) -> bool {
        phc_verify(None, password.as_bytes(), phc)
    }

    /// The PIN verifier: Argon2id of the PIN with `pin_secret` as Argon2's secret input, as a
    /// PHC string. Without `pin_secret`, a stolen verifier cannot be tested against the 10⁶
    /// possible PINs.
    ///
    /// ```
    /// use chaka_hub::vault::{KdfParams, Pin, Secrets, Vault};
    /// let secrets = Secrets::generate();
    /// let vault = Vault::new(&secrets, KdfParams::FAST_FOR_TESTS);
    /// let verifier = vault.pin_verifier(&Pin::parse("385207")?)?;
    /// assert!(vault.verify_pin(&Pin::parse("385207")?, &verifier));
    /// assert!(!vault.verify_pin(&Pin::parse("385208")?, &verifier));
    /// // Another server secret cannot check it.
    /// let other = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
    /// assert!(!other.verify_pin(&Pin::parse("385207")?, &verifier));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pin_verifier(&self, pin: &Pin) -> Result<String, VaultError> {
        self.phc_hash(Some(&self.secrets.pin_secret), pin.as_bytes())
    }

    /// Whether `pin` matches a verifier from [`Vault::pin_verifier`]. Counting failures and
    /// locking is the caller's job.
    pub fn verify_pin(&self, pin: &Pin, verifier: &str) -> bool {
        phc_verify(Some(&self.secrets.pin_secret), pin.as_bytes(), verifier)
    }

    /// Whether a password hash or PIN verifier was made with another cost than the current
    /// one (or is unreadable): rehash it at the next successful verification.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(hash) => {
                hash.algorithm != argon2::ARGON2ID_IDENT
                    || Params::try_from(&hash).map(|p| KdfParams::of(&p)) != Ok(self.params)
            }
            Err(_) => true,
        }
    }

    /// Wraps a user's X25519 secret under their PIN (see the module documentation): a fresh
    /// salt and nonce each time, the current Argon2 cost recorded in the blob.
    ///
    /// ```
    /// use chaka_hub::vault::{KdfParams, Pin, Secrets, Vault, VaultError};
    /// use chaka_protocol::keys::RecipientKeyPair;
    /// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
    /// let pair = RecipientKeyPair::generate();
    /// let wrapped = vault.wrap_user_key(&Pin::parse("385207")?, pair.secret_key())?;
    /// let secret = vault.unwrap_user_key(&Pin::parse("385207")?, &wrapped)?;
    /// assert_eq!(secret.public_key(), pair.public_key());
    /// assert_eq!(
    ///     vault.unwrap_user_key(&Pin::parse("385208")?, &wrapped).err(),
    ///     Some(VaultError::WrongPin)
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wrap_user_key(
        &self,
        pin: &Pin,
        secret: &RecipientSecretKey,
    ) -> Result<WrappedKey, VaultError> {
        let salt = random_array::<SALT_LEN>();
        let header = wrap_header(self.params);
        let key = self.wrapping_key(pin, &salt, self.params)?;
        let nonce = random_array::<NONCE_LEN>();
        let aad = wrap_aad(&header);
        let plaintext = secret.to_bytes();
        let ciphertext = XChaCha20Poly1305::new((&*key).into())
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_ref(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Seal)?;
        let mut sealed = Vec::with_capacity(WRAPPED_LEN);
        sealed.extend_from_slice(&header);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(WrappedKey {
            salt: salt.to_vec(),
            sealed,
        })
    }

    /// Unwraps a user's X25519 secret with their PIN. A wrong PIN, an altered salt, header,
    /// nonce or ciphertext, or another `pin_secret`, all give [`VaultError::WrongPin`]; a blob
    /// of the wrong shape gives [`VaultError::Malformed`] or [`VaultError::UnsupportedVersion`].
    pub fn unwrap_user_key(
        &self,
        pin: &Pin,
        wrapped: &WrappedKey,
    ) -> Result<RecipientSecretKey, VaultError> {
        let sealed = wrapped.sealed.as_slice();
        let (&version, _) = sealed.split_first().ok_or(VaultError::Malformed)?;
        if version != FORMAT_V1 {
            return Err(VaultError::UnsupportedVersion(version));
        }
        if sealed.len() != WRAPPED_LEN || !(SALT_LEN..=64).contains(&wrapped.salt.len()) {
            return Err(VaultError::Malformed);
        }
        let (header, rest) = sealed.split_at(WRAP_HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let params = read_wrap_params(header)?;
        let key = self.wrapping_key(pin, &wrapped.salt, params)?;
        let nonce = XNonce::try_from(nonce).map_err(|_| VaultError::Malformed)?;
        let plaintext = Zeroizing::new(
            XChaCha20Poly1305::new((&*key).into())
                .decrypt(
                    &nonce,
                    Payload {
                        msg: ciphertext,
                        aad: &wrap_aad(header),
                    },
                )
                .map_err(|_| VaultError::WrongPin)?,
        );
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        if plaintext.len() != KEY_LEN {
            return Err(VaultError::Malformed);
        }
        bytes.copy_from_slice(&plaintext);
        Ok(RecipientSecretKey::from_bytes(*bytes))
    }

    /// The stored form of a session token: `HMAC-SHA256(session_key, "chaka/session-token/v1" ‖
    /// 0x00 ‖ token)`. A database copy does not yield usable tokens.
    ///
    /// ```
    /// use chaka_hub::vault::{random_token, KdfParams, Secrets, Vault};
    /// let vault = Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS);
    /// let token = random_token();
    /// assert_eq!(vault.token_hash(&token), vault.token_hash(&token));
    /// assert_ne!(vault.token_hash(&token), vault.token_hash(&random_token()));
    /// ```
    pub fn token_hash(&self, token: &str) -> [u8; 32] {
        hmac_sha256(
            &self.secrets.session_key,
            &[SESSION_TOKEN_LABEL, &[0], token.as_bytes()],
        )
    }

    fn phc_hash(&self, secret: Option<&[u8; KEY_LEN]>, input: &[u8]) -> Result<String, VaultError> {
        let salt = random_array::<SALT_LEN>();
        argon2_with(secret, self.params)?
            .hash_password_with_salt(input, &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| VaultError::Kdf)
    }

    fn wrapping_key(
        &self,
        pin: &Pin,
        salt: &[u8],
        params: KdfParams,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
        let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
        argon2_with(None, params)?
            .hash_password_into(pin.as_bytes(), salt, ikm.as_mut())
            .map_err(|_| VaultError::Kdf)?;
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(self.secrets.pin_secret.as_ref()), ikm.as_ref());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        hkdf.expand(WRAP_INFO, okm.as_mut())
            .map_err(|_| VaultError::Kdf)?;
        Ok(okm)
    }
}

fn argon2_with(
    secret: Option<&[u8; KEY_LEN]>,
    params: KdfParams,
) -> Result<Argon2<'_>, VaultError> {
    let params = params.argon2_params()?;
    match secret {
        Some(secret) => {
            Argon2::new_with_secret(secret, Algorithm::Argon2id, argon2::Version::V0x13, params)
                .map_err(|_| VaultError::Kdf)
        }
        None => Ok(Argon2::new(
            Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )),
    }
}

/// Verifies `input` against an Argon2id PHC string, with the string's own (bounded) cost.
fn phc_verify(secret: Option<&[u8; KEY_LEN]>, input: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    if hash.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let Ok(argon2) = argon2_with(secret, KdfParams::of(&params)) else {
        return false;
    };
    // The verifier compares outputs in constant time.
    argon2.verify_password(input, &hash).is_ok()
}

fn field_aad(purpose: FieldPurpose) -> Vec<u8> {
    let label = purpose.label().as_bytes();
    let mut aad = Vec::with_capacity(1 + label.len());
    aad.push(FORMAT_V1);
    aad.extend_from_slice(label);
    aad
}

fn wrap_header(params: KdfParams) -> [u8; WRAP_HEADER_LEN] {
    let mut header = [0u8; WRAP_HEADER_LEN];
    header[0] = FORMAT_V1;
    header[1..5].copy_from_slice(&params.memory_kib.to_be_bytes());
    header[5..9].copy_from_slice(&params.iterations.to_be_bytes());
    header[9..13].copy_from_slice(&params.parallelism.to_be_bytes());
    header
}

fn read_wrap_params(header: &[u8]) -> Result<KdfParams, VaultError> {
    let word = |at: usize| -> Result<u32, VaultError> {
        header
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(VaultError::Malformed)
    };
    Ok(KdfParams {
        memory_kib: word(1)?,
        iterations: word(5)?,
        parallelism: word(9)?,
    })
}

fn wrap_aad(header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + WRAP_INFO.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(WRAP_INFO);
    aad
}

#[cfg(test)]
mod tests;
