//! [`RedisTokenStore`]: the [`TokenStore`] operations on Redis.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult, Value};
use secrecy::SecretString;
use tokensource_core::store::{ChangeCursor, Lease, StoreError, TokenStore};
use tokensource_core::{Error, Token};

use crate::builder::RedisTokenStoreBuilder;
use crate::envelope::{SealError, Sealer, expiry_millis, unix_millis};
use crate::key::{lease_key, token_key};
use crate::scripts::{COMPARE_AND_DELETE, COMPARE_AND_SET, READ, RELEASE};

/// The longest value read or written, in bytes. Tokens are a few KiB at most; the cap keeps
/// hostile content in Redis from costing this process memory.
const MAX_VALUE_LEN: usize = 1 << 20;
/// How many compare-and-set rounds a write or remove makes while other processes keep changing
/// the value under it (each round is one round trip; the operation timeout bounds them too).
const CAS_ATTEMPTS: usize = 16;
/// The longest time to live set in Redis (a year): far beyond any real token or lease.
const MAX_TTL_MS: u64 = 365 * 24 * 3600 * 1000;

/// A [`TokenStore`] on Redis: a fleet of processes with the same credentials shares one token,
/// encrypted at rest.
///
/// # Guarantees
/// - **Single flight across processes**: the refresh lease is `SET {prefix}:{key}:lease <id> NX
///   PX <ttl>`, released by a compare-and-delete script, so one process fetches and the others
///   wait for its token (they re-read every [`poll_interval`](RedisTokenStoreBuilder::poll_interval)).
///   Waiting polls rather than subscribing to a channel: a process waits at most once per token
///   lifetime, and polling needs no second connection and cannot miss a notification.
/// - **Encrypted and authenticated**: values are sealed with XChaCha20-Poly1305 under a key
///   derived by HKDF-SHA256 from the credential's client secret, with the Redis key as
///   associated data. Reading Redis yields no usable token; a value written under another secret
///   or another key, tampered with or garbage reads as absent, and the next put replaces it.
/// - **Put if newer**: a put keeps whichever token expires later (compare-and-set in a Lua
///   script, after checking the stored value in this process), and sets the Redis time to live
///   to the token's remaining lifetime.
/// - **Remove compares**: [`remove`](TokenStore::remove) deletes only the token it is given.
/// - **Availability first**: every operation gives up after
///   [`op_timeout`](RedisTokenStoreBuilder::op_timeout) (default 500 ms) with a [`StoreError`],
///   and the cache then fetches locally. Building the store never connects; the connection is
///   made on first use and remade after Redis comes back.
/// - **No secrets shown**: `Debug` shows the server address and settings, never the URL's
///   password, the client secret or a token.
///
/// Cloning is cheap (one reference count); clones share the connection. The store needs a tokio
/// runtime with the time driver, like the cache itself.
#[derive(Clone)]
pub struct RedisTokenStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    client: redis::Client,
    /// Made on first use, inside the runtime (making it spawns a task).
    connection: tokio::sync::OnceCell<ConnectionManager>,
    sealer: Sealer,
    settings: Settings,
}

/// Everything the builder sets besides the server and the secret.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) key_prefix: String,
    pub(crate) op_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) default_lifetime: Duration,
}

impl RedisTokenStore {
    /// A store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]` or
    /// `unix:///path`) for the credential whose client secret is `credential_secret`, with the
    /// default settings. It does not connect yet.
    ///
    /// # Errors
    /// A configuration error for a bad URL or an empty secret; see
    /// [`RedisTokenStoreBuilder::build`].
    pub fn new(url: &str, credential_secret: &SecretString) -> Result<Self, Error> {
        RedisTokenStore::builder(url, credential_secret).build()
    }

    /// Starts building a store; see [`RedisTokenStoreBuilder`] for the settings.
    pub fn builder(url: &str, credential_secret: &SecretString) -> RedisTokenStoreBuilder {
        RedisTokenStoreBuilder::new(url, credential_secret)
    }

    /// The Redis key that holds the token for `key`.
    pub fn token_key(&self, key: &str) -> String {
        token_key(&self.inner.settings.key_prefix, key)
    }

    /// The Redis key that holds the refresh lease for `key`.
    pub fn lease_key(&self, key: &str) -> String {
        lease_key(&self.inner.settings.key_prefix, key)
    }
}

/// Why an operation failed, before it becomes a [`StoreError`].
enum Failure {
    Redis(RedisError),
    Seal(SealError),
    TooLarge(usize),
    Contended,
}

impl From<RedisError> for Failure {
    fn from(error: RedisError) -> Self {
        Failure::Redis(error)
    }
}

impl Inner {
    pub(crate) fn new(client: redis::Client, sealer: Sealer, settings: Settings) -> Self {
        Inner {
            client,
            connection: tokio::sync::OnceCell::new(),
            sealer,
            settings,
        }
    }

    async fn connection(&self) -> RedisResult<ConnectionManager> {
        let timeout = self.settings.op_timeout;
        self.connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    // One attempt per operation: a refused connection fails the operation at
                    // once (the cache fetches locally) and the next operation tries again.
                    .set_number_of_retries(0);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
    }

    /// Runs `op` within the operation timeout, naming the operation in its error.
    async fn bounded<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, StoreError> {
        let timeout = self.settings.op_timeout;
        match tokio::time::timeout(timeout, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Failure::Redis(error))) if error.is_timeout() => Err(StoreError::with_source(
                format!("redis {what} timed out after {} ms", timeout.as_millis()),
                error,
            )),
            Ok(Err(Failure::Redis(error))) => Err(StoreError::with_source(
                format!("redis {what} failed: {error}"),
                error,
            )),
            Ok(Err(Failure::Seal(SealError::Random))) => Err(StoreError::new(
                "the system random number generator failed; token not stored",
            )),
            Ok(Err(Failure::Seal(SealError::Cipher))) => {
                Err(StoreError::new("the token could not be encrypted"))
            }
            Ok(Err(Failure::TooLarge(len))) => Err(StoreError::new(format!(
                "the sealed token is {len} bytes, over the limit of {MAX_VALUE_LEN}; not stored"
            ))),
            Ok(Err(Failure::Contended)) => Err(StoreError::new(format!(
                "redis {what} gave up: the value changed under it {CAS_ATTEMPTS} times"
            ))),
            Err(_) => Err(StoreError::new(format!(
                "redis {what} timed out after {} ms",
                timeout.as_millis()
            ))),
        }
    }

    /// The value under `token_key` as [`READ`] normalizes it (`""` for absent or foreign).
    async fn read(&self, conn: &ConnectionManager, token_key: &str) -> RedisResult<Vec<u8>> {
        with_reconnect(|| {
            let mut conn = conn.clone();
            async move {
                READ.key(token_key)
                    .arg(MAX_VALUE_LEN)
                    .invoke_async(&mut conn)
                    .await
            }
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        let token_key = token_key(&self.settings.key_prefix, key);
        let value = self
            .bounded("read", async {
                let conn = self.connection().await?;
                Ok(self.read(&conn, &token_key).await?)
            })
            .await?;
        if value.is_empty() {
            return Ok(None);
        }
        match self.sealer.open(&token_key, &value) {
            Some(opened) => Ok(Some(opened.token)),
            None => {
                tracing::debug!(
                    key,
                    "ignoring a stored token that does not open with this credential"
                );
                Ok(None)
            }
        }
    }

    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        let token_key = token_key(&self.settings.key_prefix, key);
        let expiry_ms = expiry_millis(token, self.settings.default_lifetime);
        let now_ms = unix_millis(SystemTime::now());
        if expiry_ms <= now_ms {
            tracing::debug!(key, "not sharing an expired token");
            return Ok(());
        }
        let ttl_ms = (expiry_ms - now_ms).min(MAX_TTL_MS);
        self.bounded("write", async {
            let value = self
                .sealer
                .seal(&token_key, token, expiry_ms)
                .map_err(Failure::Seal)?;
            if value.len() > MAX_VALUE_LEN {
                return Err(Failure::TooLarge(value.len()));
            }
            let conn = self.connection().await?;
            let mut current = self.read(&conn, &token_key).await?;
            for _ in 0..CAS_ATTEMPTS {
                if let Some(stored) = self.sealer.open(&token_key, &current)
                    && stored.expiry_ms >= expiry_ms
                {
                    tracing::debug!(key, "kept the stored token, which expires later");
                    return Ok(());
                }
                let (expected, value) = (&current, &value);
                let reply: (i64, Vec<u8>) = with_reconnect(|| {
                    let mut conn = conn.clone();
                    let token_key = token_key.as_str();
                    async move {
                        COMPARE_AND_SET
                            .key(token_key)
                            .arg(MAX_VALUE_LEN)
                            .arg(expected.as_slice())
                            .arg(value.as_slice())
                            .arg(ttl_ms)
                            .invoke_async(&mut conn)
                            .await
                    }
                })
                .await?;
                match reply {
                    (1, _) => return Ok(()),
                    // Another process wrote in between: judge what it wrote.
                    (_, found) => current = found,
                }
            }
            Err(Failure::Contended)
        })
        .await
    }

    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        let token_key = token_key(&self.settings.key_prefix, key);
        self.bounded("remove", async {
            let conn = self.connection().await?;
            for _ in 0..CAS_ATTEMPTS {
                let current = self.read(&conn, &token_key).await?;
                match self.sealer.open(&token_key, &current) {
                    Some(stored) if stored.token.same_secret(token) => {}
                    // Absent, foreign or another token: nothing of ours to remove.
                    _ => return Ok(()),
                }
                let current = &current;
                let deleted: i64 = with_reconnect(|| {
                    let mut conn = conn.clone();
                    let token_key = token_key.as_str();
                    async move {
                        COMPARE_AND_DELETE
                            .key(token_key)
                            .arg(MAX_VALUE_LEN)
                            .arg(current.as_slice())
                            .invoke_async(&mut conn)
                            .await
                    }
                })
                .await?;
                if deleted == 1 {
                    return Ok(());
                }
            }
            Err(Failure::Contended)
        })
        .await
    }

    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let lease_key = lease_key(&self.settings.key_prefix, key);
        let lease = Lease::random();
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_TTL_MS);
        let taken = self
            .bounded("lease", async {
                let conn = self.connection().await?;
                let mut retried = false;
                let taken = with_reconnect(|| {
                    let mut conn = conn.clone();
                    let (lease_key, id) = (lease_key.as_str(), lease.id());
                    // A retry follows a failure that may have taken the lease before the reply
                    // was lost: then the lease is there with our id, and it is ours.
                    let check_holder = std::mem::replace(&mut retried, true);
                    async move {
                        let reply: Value = redis::cmd("SET")
                            .arg(lease_key)
                            .arg(id)
                            .arg("NX")
                            .arg("PX")
                            .arg(ttl_ms)
                            .query_async(&mut conn)
                            .await?;
                        if matches!(reply, Value::Okay) {
                            return Ok(true);
                        }
                        if check_holder {
                            let holder: Option<Vec<u8>> = redis::cmd("GET")
                                .arg(lease_key)
                                .query_async(&mut conn)
                                .await?;
                            return Ok(holder.as_deref() == Some(id.as_bytes()));
                        }
                        Ok(false)
                    }
                })
                .await?;
                Ok(taken)
            })
            .await?;
        Ok(taken.then_some(lease))
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        let lease_key = lease_key(&self.settings.key_prefix, key);
        self.bounded("release", async {
            let conn = self.connection().await?;
            let _: i64 = with_reconnect(|| {
                let mut conn = conn.clone();
                let (lease_key, id) = (lease_key.as_str(), lease.id());
                async move { RELEASE.key(lease_key).arg(id).invoke_async(&mut conn).await }
            })
            .await?;
            Ok(())
        })
        .await
    }
}

/// Runs `attempt`, and once more if it failed on a broken or refused connection: the connection
/// manager reconnects on such a failure, so the second attempt finds Redis if it is back (the
/// first operation after a restart succeeds instead of failing on the dead connection).
/// Timeouts are not retried; every operation built on this is safe to repeat.
async fn with_reconnect<T, F, Fut>(mut attempt: F) -> RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    match attempt().await {
        Err(error)
            if !error.is_timeout()
                && (error.is_connection_refusal()
                    || error.is_connection_dropped()
                    || error.is_unrecoverable_error()) =>
        {
            tracing::debug!(error = %error, "redis connection failed; trying once more");
            attempt().await
        }
        result => result,
    }
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.inner.put(key, token).await
    }

    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.inner.remove(key, token).await
    }

    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.inner.try_lease(key, ttl).await
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release(key, lease).await
    }

    /// Polls: sleeps for the shorter of `timeout` and the poll interval (the cache re-reads).
    async fn wait_for_change(
        &self,
        key: &str,
        cursor: &mut ChangeCursor,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let _ = key;
        cursor
            .changed(timeout.min(self.inner.settings.poll_interval))
            .await;
        Ok(())
    }
}

/// Shows where a client connects, without the URL's credentials.
pub(crate) struct ServerName<'a>(pub(crate) &'a redis::Client);

impl fmt::Debug for ServerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0.get_connection_info();
        write!(f, "{}/{}", info.addr(), info.redis_settings().db())
    }
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisTokenStore")
            .field("server", &ServerName(&inner.client))
            .field("key_prefix", &inner.settings.key_prefix)
            .field("op_timeout", &inner.settings.op_timeout)
            .field("poll_interval", &inner.settings.poll_interval)
            .finish_non_exhaustive()
    }
}
