//! Replay protection: the signature `nonce` parameter and the store that remembers which
//! nonces a key has already used, for as long as a signature carrying them could still verify.
//! This module owns the [`NonceStore`] trait and a bounded in-memory implementation; a
//! deployment with several receiving processes behind one address needs a shared store.

use crate::keys::KeyId;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use time::OffsetDateTime;

/// A signature nonce: base64url (no padding) of at least 16 random bytes, at most 128
/// characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    /// Bytes of randomness in a generated nonce.
    pub const GENERATED_BYTES: usize = 16;

    /// A fresh nonce of 16 random bytes (22 characters).
    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::GENERATED_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Validates a received nonce. `None` if it is not base64url of 16 or more bytes.
    pub fn parse(input: &str) -> Option<Self> {
        if !(22..=128).contains(&input.len()) {
            return None;
        }
        let decoded = URL_SAFE_NO_PAD.decode(input).ok()?;
        (decoded.len() >= 16).then(|| Self(input.to_owned()))
    }

    /// The nonce as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", self.0)
    }
}

/// What a [`NonceStore`] says about a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// First use: remembered until its expiry.
    Fresh,
    /// Already used by this key: a replay.
    Replayed,
    /// The store is full of unexpired nonces and cannot vouch for this one; the verifier
    /// refuses the message (fail closed) and the sender retries later.
    Full,
}

/// Remembers `(key id, nonce)` pairs until they expire.
///
/// The verifier calls [`NonceStore::remember`] only after the signature checked out, so an
/// attacker without a key cannot fill the store.
pub trait NonceStore: Send + Sync {
    /// Records the nonce for this key until `expires_at`; says whether it was fresh. `now` lets
    /// the store evict what has expired (stores never read the clock themselves).
    fn remember(
        &self,
        key_id: &KeyId,
        nonce: &Nonce,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> NonceCheck;
}

/// A bounded in-memory [`NonceStore`]: expired entries are evicted on every call; when
/// `capacity` unexpired entries are held, new nonces are refused with [`NonceCheck::Full`].
#[derive(Debug)]
pub struct MemoryNonceStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashMap<(KeyId, Nonce), OffsetDateTime>,
    by_expiry: BTreeSet<(OffsetDateTime, KeyId, String)>,
}

impl MemoryNonceStore {
    /// Default capacity: 200 000 entries (about 40 MB at worst), i.e. more than 600 signed
    /// messages a second sustained over the default 300-second window.
    pub const DEFAULT_CAPACITY: usize = 200_000;

    /// A store holding at most `capacity` unexpired nonces.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Number of nonces currently remembered.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryNonceStore {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl NonceStore for MemoryNonceStore {
    fn remember(
        &self,
        key_id: &KeyId,
        nonce: &Nonce,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> NonceCheck {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(first) = inner.by_expiry.first() {
            if first.0 >= now {
                break;
            }
            if let Some((_, k, n)) = inner.by_expiry.pop_first() {
                inner.seen.remove(&(k, Nonce(n)));
            }
        }
        let entry = (key_id.clone(), nonce.clone());
        if inner.seen.contains_key(&entry) {
            return NonceCheck::Replayed;
        }
        if inner.seen.len() >= self.capacity {
            return NonceCheck::Full;
        }
        inner.seen.insert(entry, expires_at);
        inner
            .by_expiry
            .insert((expires_at, key_id.clone(), nonce.0.clone()));
        NonceCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

    #[test]
    fn a_nonce_is_fresh_once_per_key() {
        let store = MemoryNonceStore::new(10);
        let k1 = KeyId::parse("k1").unwrap();
        let k2 = KeyId::parse("k2").unwrap();
        let n = Nonce::generate();
        let exp = T0 + Duration::minutes(5);
        assert_eq!(store.remember(&k1, &n, exp, T0), NonceCheck::Fresh);
        assert_eq!(store.remember(&k1, &n, exp, T0), NonceCheck::Replayed);
        assert_eq!(store.remember(&k2, &n, exp, T0), NonceCheck::Fresh);
    }

    #[test]
    fn expired_entries_are_evicted_and_capacity_is_enforced() {
        let store = MemoryNonceStore::new(2);
        let k = KeyId::parse("k").unwrap();
        let exp = T0 + Duration::minutes(5);
        let a = Nonce::generate();
        assert_eq!(store.remember(&k, &a, exp, T0), NonceCheck::Fresh);
        assert_eq!(
            store.remember(&k, &Nonce::generate(), exp, T0),
            NonceCheck::Fresh
        );
        assert_eq!(
            store.remember(&k, &Nonce::generate(), exp, T0),
            NonceCheck::Full
        );
        let later = exp + Duration::seconds(1);
        assert_eq!(
            store.remember(&k, &Nonce::generate(), later + Duration::minutes(5), later),
            NonceCheck::Fresh
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn nonces_must_carry_enough_randomness() {
        assert!(Nonce::parse(Nonce::generate().as_str()).is_some());
        assert!(Nonce::parse("short").is_none());
        assert!(Nonce::parse("AAAAAAAAAAAAAAAAAAAAA+").is_none());
        assert!(Nonce::parse(&"A".repeat(129)).is_none());
    }
}
