//! Where cached tokens live beyond one process's memory.
//!
//! The [`CachedTokenSource`](crate::CachedTokenSource) always keeps the current token in memory;
//! a [`TokenStore`] under it lets several processes share one token (a file for the CLI, Redis
//! for a fleet). The cache logic (margins, single-flight, backoff) stays in the cache: a store
//! only keeps bytes and a lease.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::BoxError;
use crate::token::unix_millis;
use crate::{Token, lifetime::MAX_LIFETIME};

/// A store's failure. The cache treats every store failure the same way: it logs it once per
/// episode and falls back to fetching in this process (availability first).
#[derive(Debug, thiserror::Error)]
#[error("token store: {message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl StoreError {
    /// A failure described by `message` (which must not contain a secret).
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            source: None,
        }
    }

    /// A failure with an underlying cause.
    pub fn with_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// Proof of holding a store's refresh lease: whoever holds it fetches the token for everyone.
#[derive(Clone, PartialEq, Eq)]
pub struct Lease {
    id: String,
}

impl Lease {
    /// A lease with a fresh random identity.
    pub fn random() -> Self {
        Lease {
            id: format!("{:032x}", rand::random::<u128>()),
        }
    }

    /// The lease identity, as written to the store.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lease").field(&self.id).finish()
    }
}

/// A place where tokens are shared between processes.
///
/// # Contract
/// - `key` identifies one credential (provider, endpoint, client id); it is never the secret.
/// - [`get`](TokenStore::get) returns `Ok(None)` for an absent, corrupt, foreign or undecryptable
///   value: such a value is never trusted, and the next [`put`](TokenStore::put) overwrites it.
/// - [`put`](TokenStore::put) keeps whichever of the stored and the given token expires later.
/// - [`try_lease`](TokenStore::try_lease) is atomic across processes: at most one holder per key
///   until the lease is released or its `ttl` passes (so a holder that dies is replaced).
/// - [`wait_for_change`](TokenStore::wait_for_change) returns when the key may have changed or
///   after `timeout`; spurious returns are fine, the cache re-reads.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The token stored under `key`, if there is a trustworthy one.
    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError>;

    /// Stores `token` under `key` unless a token that expires later is already there.
    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError>;

    /// Removes the token under `key` if it is still `token` (compare and delete).
    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError>;

    /// Takes the refresh lease for `key` for `ttl`: `Ok(Some(lease))` when taken, `Ok(None)` when
    /// someone else holds it.
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError>;

    /// Releases `lease` if it is still held (compare and delete).
    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError>;

    /// Waits until the token under `key` may have changed, at most `timeout`. The default polls:
    /// it sleeps for the shorter of `timeout` and 50 ms.
    async fn wait_for_change(&self, key: &str, timeout: Duration) -> Result<(), StoreError> {
        let _ = key;
        tokio::time::sleep(timeout.min(Duration::from_millis(50))).await;
        Ok(())
    }
}

/// A [`TokenStore`] in this process's memory: caches built with the same `MemoryStore` (and key)
/// share one token. Useful for tests and for several caches over one credential.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: std::sync::Arc<std::sync::Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    tokens: std::collections::HashMap<String, Token>,
    leases: std::collections::HashMap<String, (Lease, tokio::time::Instant)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.lock().tokens.get(key).cloned())
    }

    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let newer = match inner.tokens.get(key) {
            Some(stored) => expires_later(token, stored),
            None => true,
        };
        if newer {
            inner.tokens.insert(key.to_owned(), token.clone());
        }
        Ok(())
    }

    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.tokens.get(key).is_some_and(|t| t.same_secret(token)) {
            inner.tokens.remove(key);
        }
        Ok(())
    }

    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let mut inner = self.lock();
        let now = tokio::time::Instant::now();
        if inner.leases.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(None);
        }
        let lease = Lease::random();
        inner
            .leases
            .insert(key.to_owned(), (lease.clone(), now + ttl));
        Ok(Some(lease))
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.leases.get(key).is_some_and(|(held, _)| held == lease) {
            inner.leases.remove(key);
        }
        Ok(())
    }
}

/// Whether `a` expires later than `b` (an unknown expiry counts as the latest).
pub fn expires_later(a: &Token, b: &Token) -> bool {
    match (a.expires_at(), b.expires_at()) {
        (Some(a), Some(b)) => a > b,
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// The stored form of a token, version 1.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredToken<'a> {
    v: u8,
    #[serde(borrow)]
    access_token: Cow<'a, str>,
    #[serde(borrow)]
    token_type: Cow<'a, str>,
    issued_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(borrow)]
    refresh_token: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
}

/// Why stored bytes could not be read back as a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not the JSON this module writes.
    #[error("the stored value is not a token record")]
    Malformed,
    /// A record of a version this build does not know.
    #[error("the stored token record has unknown version {0}")]
    UnknownVersion(u8),
    /// The record decodes, but the token in it is not valid.
    #[error("the stored token is invalid: {0}")]
    InvalidToken(#[from] crate::InvalidToken),
}

/// Encodes `token` for a store (JSON, including the secret: encrypt it or protect the file).
pub fn encode(token: &Token) -> Zeroizing<Vec<u8>> {
    let record = StoredToken {
        v: 1,
        access_token: Cow::Borrowed(token.expose_secret()),
        token_type: Cow::Borrowed(token.token_type()),
        issued_at_ms: unix_millis(token.issued_at()),
        lifetime_ms: token
            .lifetime()
            .map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX)),
        refresh_token: token
            .refresh_token()
            .map(|r| Cow::Borrowed(r.expose_secret())),
        scopes: token.scopes().to_vec(),
    };
    // Serializing plain strings and integers into memory cannot fail.
    Zeroizing::new(serde_json::to_vec(&record).unwrap_or_default())
}

/// Decodes what [`encode`] wrote. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Token, DecodeError> {
    let record: StoredToken<'_> =
        serde_json::from_slice(bytes).map_err(|_| DecodeError::Malformed)?;
    if record.v != 1 {
        return Err(DecodeError::UnknownVersion(record.v));
    }
    let issued_at = SystemTime::UNIX_EPOCH + Duration::from_millis(record.issued_at_ms);
    let mut builder = Token::builder(record.access_token.into_owned())
        .token_type(record.token_type.into_owned())
        .issued_at(issued_at)
        .scopes(record.scopes);
    if let Some(ms) = record.lifetime_ms {
        builder = builder.expires_in(Duration::from_millis(ms).min(MAX_LIFETIME));
    }
    if let Some(refresh) = record.refresh_token {
        builder = builder.refresh_token(refresh.into_owned());
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let token = Token::builder("abc")
            .expires_in(Duration::from_secs(60))
            .refresh_token("r")
            .scopes(["read"])
            .build()
            .unwrap();
        let back = decode(&encode(&token)).unwrap();
        assert!(back.same_secret(&token));
        assert_eq!(back.lifetime(), token.lifetime());
        assert_eq!(back.scopes(), ["read"]);
        assert_eq!(
            unix_millis(back.issued_at()),
            unix_millis(token.issued_at())
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(decode(b"\xff\x00"), Err(DecodeError::Malformed)));
        assert!(matches!(
            decode(br#"{"v":2,"access_token":"a","token_type":"Bearer","issued_at_ms":0}"#),
            Err(DecodeError::UnknownVersion(2))
        ));
        assert!(matches!(
            decode(br#"{"v":1,"access_token":"a b","token_type":"Bearer","issued_at_ms":0}"#),
            Err(DecodeError::InvalidToken(_))
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn valid_tokens_round_trip(
            secret in "[!-~]{1,64}",
            lifetime_ms in proptest::option::of(0u64..10_000_000_000),
        ) {
            let mut builder = Token::builder(secret.clone());
            if let Some(ms) = lifetime_ms {
                builder = builder.expires_in(Duration::from_millis(ms));
            }
            let token = builder.build().unwrap();
            let back = decode(&encode(&token)).unwrap();
            prop_assert_eq!(back.expose_secret(), secret.as_str());
            prop_assert_eq!(back.lifetime(), token.lifetime());
        }
    }
}
