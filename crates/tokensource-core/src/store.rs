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
/// - `key` identifies one credential (provider, endpoint, client id, requested scopes); it is
///   never the secret.
/// - [`get`](TokenStore::get) returns `Ok(None)` for an absent, corrupt, foreign or undecryptable
///   value: such a value is never trusted, and the next [`put`](TokenStore::put) overwrites it.
/// - [`put`](TokenStore::put) keeps whichever of the stored and the given token expires later
///   (a token of unknown expiry counts as expiring [`DEFAULT_LIFETIME`] after its issue time,
///   so a fresh token always replaces it).
/// - [`try_lease`](TokenStore::try_lease) is atomic across processes: at most one holder per key
///   until the lease is released or its `ttl` passes (so a holder that dies is replaced);
///   [`renew`](TokenStore::renew) extends a lease its holder still has.
/// - [`record_failure`](TokenStore::record_failure) and [`failure`](TokenStore::failure) share
///   the last failed fetch and the time of the next allowed attempt, so that a fleet backs off as
///   one client. Stores that cannot share it keep the defaults (nothing shared).
/// - [`change_cursor`](TokenStore::change_cursor) and
///   [`wait_for_change`](TokenStore::wait_for_change): a waiter takes a cursor *before* reading
///   the store, then waits; the wait returns when the key may have changed since the cursor was
///   taken, or after `timeout`. Spurious returns are fine (the cache re-reads). A store without
///   notifications returns a polling cursor, and the wait then simply sleeps `timeout`: the
///   cache chooses growing, jittered timeouts.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// A short, fixed name of the kind of store (`"memory"`, `"file"`, `"redis"`): the `store`
    /// field and metric label of the cache's reports (see
    /// [`observability`](crate::observability)). Never a secret, nor anything per key. The
    /// default is `"custom"`.
    fn name(&self) -> &str {
        "custom"
    }

    /// The token stored under `key`, if there is a trustworthy one.
    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError>;

    /// Stores `token` under `key` unless a token that expires later is already there.
    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError>;

    /// Removes the token under `key` if it is still `token` (compare and delete).
    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError>;

    /// Takes the refresh lease for `key` for `ttl`: `Ok(Some(lease))` when taken, `Ok(None)` when
    /// someone else holds it.
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError>;

    /// Releases `lease` if it is still held (compare and delete), and wakes the key's waiters.
    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError>;

    /// Extends `lease` to `ttl` from now if it is still held: `Ok(false)` when it was lost. The
    /// holder renews while its fetch runs, so a slow fetch is not mistaken for a dead holder.
    /// The default does nothing (for stores whose leases do not expire while held).
    async fn renew(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let _ = (key, lease, ttl);
        Ok(true)
    }

    /// The fleet's last failed fetch for `key`, if one was recorded and has not expired.
    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        let _ = key;
        Ok(None)
    }

    /// Records a failed fetch for `key`, for the others to honour until
    /// [`retry_at`](FleetFailure::retry_at). The default shares nothing.
    async fn record_failure(&self, key: &str, failure: &FleetFailure) -> Result<(), StoreError> {
        let _ = (key, failure);
        Ok(())
    }

    /// Forgets the failure record for `key` (after a successful fetch). The default does
    /// nothing.
    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        let _ = key;
        Ok(())
    }

    /// A cursor to wait on for changes under `key`; see the trait's contract. The default is a
    /// polling cursor.
    fn change_cursor(&self, key: &str) -> ChangeCursor {
        let _ = key;
        ChangeCursor::polling()
    }

    /// Waits until the key may have changed since `cursor` was taken, at most `timeout`.
    async fn wait_for_change(
        &self,
        key: &str,
        cursor: &mut ChangeCursor,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let _ = key;
        cursor.changed(timeout).await;
        Ok(())
    }
}

/// The lifetime stores assume for a token whose expiry is unknown, when ordering tokens: the
/// same as [`RefreshPolicy`](crate::RefreshPolicy)'s default.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// A failed fetch, shared through a store so that a fleet backs off as one client.
///
/// It holds what a caller's [`Error`](crate::Error) needs (kind, provider, status, a message that
/// never contains a secret) and when the next attempt is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFailure {
    /// Consecutive failed fetches of the fleet, this one included.
    pub failures: u32,
    /// No process fetches before this time (Unix milliseconds).
    pub retry_at_ms: u64,
    /// The error's kind, as [`ErrorKind`](crate::ErrorKind)'s stable name.
    pub kind: String,
    /// The provider that failed.
    pub provider: String,
    /// The HTTP status, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error's message (sanitized, as every [`Error`](crate::Error) message is).
    pub message: String,
}

/// The longest a fleet failure record may be, in bytes, when decoded.
const MAX_FAILURE_LEN: usize = 4096;

impl FleetFailure {
    /// The record of `error`, the fleet's `failures`-th consecutive failure, after which nobody
    /// fetches before `retry_at`.
    pub fn new(error: &crate::Error, failures: u32, retry_at: SystemTime) -> Self {
        use crate::ErrorKind;
        // What `to_error` rebuilds the error from: the message without the provider and kind
        // words that the rebuilt error's `Display` writes again.
        let mut message = match error.kind() {
            ErrorKind::CredentialsRejected => {
                error.provider_message().unwrap_or_default().to_owned()
            }
            ErrorKind::Other => {
                let shown = error.to_string();
                let prefix = format!("{}: ", error.provider());
                shown.strip_prefix(&prefix).unwrap_or(&shown).to_owned()
            }
            _ => match error.provider_message() {
                Some(said) => format!("{}: {said}", error.detail()),
                None => error.detail().to_owned(),
            },
        };
        if message.len() > 1024 {
            let mut end = 1024;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        FleetFailure {
            failures,
            retry_at_ms: unix_millis(retry_at),
            kind: kind_name(error.kind()).to_owned(),
            provider: error.provider().to_owned(),
            status: error.status(),
            message,
        }
    }

    /// When the next attempt is allowed.
    pub fn retry_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_millis(self.retry_at_ms))
            .unwrap_or(SystemTime::UNIX_EPOCH + MAX_LIFETIME)
    }

    /// The error a caller gets while the fleet backs off.
    pub fn to_error(&self) -> crate::Error {
        use crate::{Error, ErrorKind};
        let provider = self.provider.clone();
        let detail = format!(
            "{} (as another process sharing the token store found)",
            self.message
        );
        let error = match self.kind() {
            ErrorKind::CredentialsRejected => {
                let said = Some(self.message.clone()).filter(|m| !m.is_empty());
                Error::credentials_rejected(provider, self.status.unwrap_or(401), said)
            }
            ErrorKind::InvalidResponse => Error::invalid_response(provider, detail),
            ErrorKind::Configuration => Error::configuration(provider, detail),
            ErrorKind::Unavailable => Error::unavailable(provider, detail),
            _ => Error::other(provider, detail),
        };
        match self.status {
            Some(status) if self.kind() != ErrorKind::CredentialsRejected => {
                error.with_status(status)
            }
            _ => error,
        }
    }

    fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self.kind.as_str() {
            "rejected" => ErrorKind::CredentialsRejected,
            "unavailable" => ErrorKind::Unavailable,
            "invalid" => ErrorKind::InvalidResponse,
            "configuration" => ErrorKind::Configuration,
            _ => ErrorKind::Other,
        }
    }

    /// The record as bytes for a store.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing strings and integers into memory cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads what [`encode`](FleetFailure::encode) wrote; `None` for anything else. Never panics.
    pub fn decode(bytes: &[u8]) -> Option<FleetFailure> {
        if bytes.len() > MAX_FAILURE_LEN {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }
}

fn kind_name(kind: crate::ErrorKind) -> &'static str {
    use crate::ErrorKind;
    match kind {
        ErrorKind::CredentialsRejected => "rejected",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::InvalidResponse => "invalid",
        ErrorKind::Configuration => "configuration",
        _ => "other",
    }
}

/// What a waiter waits on: a store's change notifications, or nothing (polling).
///
/// Take it before reading the store; [`changed`](ChangeCursor::changed) then returns as soon as
/// the key changed after that, so a change between the read and the wait is never missed.
#[derive(Debug)]
pub struct ChangeCursor {
    receiver: Option<tokio::sync::watch::Receiver<u64>>,
}

impl ChangeCursor {
    /// A cursor without notifications: waiting on it sleeps.
    pub fn polling() -> Self {
        ChangeCursor { receiver: None }
    }

    /// Whether waiting on this cursor is woken by notifications (else it only sleeps).
    pub fn is_notified(&self) -> bool {
        self.receiver.is_some()
    }

    /// Waits until a change after this cursor was taken (or the last wait returned), at most
    /// `timeout`. Returns whether it was woken by a notification.
    pub async fn changed(&mut self, timeout: Duration) -> bool {
        match &mut self.receiver {
            Some(receiver) => match tokio::time::timeout(timeout, receiver.changed()).await {
                Ok(Ok(())) => true,
                // The notifier is gone: nothing will wake us; sleep out the rest.
                Ok(Err(_)) => {
                    self.receiver = None;
                    false
                }
                Err(_) => false,
            },
            None => {
                tokio::time::sleep(timeout).await;
                false
            }
        }
    }
}

/// Per-key change notifications inside one process, for stores to hand out [`ChangeCursor`]s:
/// [`MemoryStore`] notifies on its own writes; a Redis store forwards the server's messages.
#[derive(Debug, Default)]
pub struct ChangeNotifier {
    keys: std::sync::Mutex<std::collections::HashMap<String, tokio::sync::watch::Sender<u64>>>,
}

impl ChangeNotifier {
    /// A notifier with no keys yet.
    pub fn new() -> Self {
        ChangeNotifier::default()
    }

    fn keys(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, tokio::sync::watch::Sender<u64>>>
    {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A cursor on `key`, woken by the next [`notify`](ChangeNotifier::notify) of it.
    pub fn cursor(&self, key: &str) -> ChangeCursor {
        let mut keys = self.keys();
        let sender = keys
            .entry(key.to_owned())
            .or_insert_with(|| tokio::sync::watch::Sender::new(0));
        ChangeCursor {
            receiver: Some(sender.subscribe()),
        }
    }

    /// Wakes the waiters on `key`.
    pub fn notify(&self, key: &str) {
        let mut keys = self.keys();
        if let Some(sender) = keys.get(key) {
            sender.send_modify(|v| *v = v.wrapping_add(1));
            // Forget keys nobody waits on, so the map does not grow with every key ever seen.
            if sender.receiver_count() == 0 {
                keys.remove(key);
            }
        }
    }

    /// Wakes every waiter (after a lost connection, say, when any key may have changed).
    pub fn notify_all(&self) {
        let mut keys = self.keys();
        keys.retain(|_, sender| {
            sender.send_modify(|v| *v = v.wrapping_add(1));
            sender.receiver_count() > 0
        });
    }
}

/// A [`TokenStore`] in this process's memory: caches built with the same `MemoryStore` (and key)
/// share one token, one lease, one backoff and change notifications. Useful for tests and for
/// several caches over one credential.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: std::sync::Arc<MemoryShared>,
}

#[derive(Debug, Default)]
struct MemoryShared {
    state: std::sync::Mutex<MemoryInner>,
    changes: ChangeNotifier,
}

#[derive(Debug, Default)]
struct MemoryInner {
    tokens: std::collections::HashMap<String, Token>,
    leases: std::collections::HashMap<String, (Lease, tokio::time::Instant)>,
    failures: std::collections::HashMap<String, FleetFailure>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    fn name(&self) -> &str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.lock().tokens.get(key).cloned())
    }

    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        {
            let mut inner = self.lock();
            let newer = match inner.tokens.get(key) {
                Some(stored) => expires_later(token, stored),
                None => true,
            };
            if !newer {
                return Ok(());
            }
            inner.tokens.insert(key.to_owned(), token.clone());
        }
        self.inner.changes.notify(key);
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
        let released = {
            let mut inner = self.lock();
            let held = inner.leases.get(key).is_some_and(|(held, _)| held == lease);
            if held {
                inner.leases.remove(key);
            }
            held
        };
        if released {
            self.inner.changes.notify(key);
        }
        Ok(())
    }

    async fn renew(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let now = tokio::time::Instant::now();
        match inner.leases.get_mut(key) {
            Some((held, until)) if held == lease && *until > now => {
                *until = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        Ok(self.lock().failures.get(key).cloned())
    }

    async fn record_failure(&self, key: &str, failure: &FleetFailure) -> Result<(), StoreError> {
        self.lock().failures.insert(key.to_owned(), failure.clone());
        self.inner.changes.notify(key);
        Ok(())
    }

    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        self.lock().failures.remove(key);
        Ok(())
    }

    fn change_cursor(&self, key: &str) -> ChangeCursor {
        self.inner.changes.cursor(key)
    }
}

/// Whether `a` expires later than `b`. A token of unknown expiry counts as expiring
/// [`DEFAULT_LIFETIME`] after its issue time, so a fresh token always replaces an old one.
pub fn expires_later(a: &Token, b: &Token) -> bool {
    estimated_expiry(a) > estimated_expiry(b)
}

/// When `token` expires, or is assumed to ([`DEFAULT_LIFETIME`] after its issue time).
fn estimated_expiry(token: &Token) -> SystemTime {
    token.expires_at().unwrap_or_else(|| {
        token
            .issued_at()
            .checked_add(DEFAULT_LIFETIME)
            .unwrap_or_else(|| token.issued_at())
    })
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
    // Checked: a hostile record's time must not overflow `SystemTime` (it is narrower on some
    // platforms, Windows among them).
    let issued_at = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(record.issued_at_ms))
        .ok_or(DecodeError::Malformed)?;
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

    #[test]
    fn a_replayed_failure_reads_like_the_original() {
        use crate::Error;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cases = [
            Error::credentials_rejected("oauth2", 401, Some("invalid_client: bad key".into())),
            Error::credentials_rejected("oauth2", 403, None),
            Error::unavailable("oauth2", "HTTP 503").with_status(503),
            Error::invalid_response("oauth2", "the body is not JSON").with_status(200),
            Error::configuration("client_secret", "the secret file /s cannot be read"),
        ];
        for error in cases {
            let record = FleetFailure::decode(&FleetFailure::new(&error, 1, at).encode()).unwrap();
            let replayed = record.to_error();
            let shown = replayed.to_string();
            assert_eq!(replayed.kind(), error.kind(), "{shown}");
            assert_eq!(replayed.status(), error.status(), "{shown}");
            assert_eq!(
                shown.matches("oauth2").count(),
                error.to_string().matches("oauth2").count(),
                "{shown}"
            );
            assert!(
                shown.starts_with(&error.to_string()) || shown.contains(error.detail()),
                "{error} -> {shown}"
            );
            assert_eq!(
                replayed.provider_message(),
                error.provider_message(),
                "{shown}"
            );
        }
    }
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
