//! [`RedisTokenStore`]: the [`TokenStore`] operations on Redis.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult, Value};
use secrecy::SecretString;
use tokensource_core::store::{
    ChangeCursor, ChangeNotifier, FleetFailure, Lease, StoreError, TokenStore,
};
use tokensource_core::{Error, Token};

use crate::builder::RedisTokenStoreBuilder;
use crate::envelope::{SealError, Sealer, expiry_millis, unix_millis};
use crate::key::{change_channel, failure_key, key_of_channel, lease_key, token_key};
use crate::scripts::{COMPARE_AND_DELETE, COMPARE_AND_SET, READ, RECORD_FAILURE, RELEASE, RENEW};

/// The longest value read or written, in bytes. Tokens are a few KiB at most; the cap keeps
/// hostile content in Redis from costing this process memory.
const MAX_VALUE_LEN: usize = 1 << 20;
/// How many compare-and-set rounds a write or remove makes while other processes keep changing
/// the value under it (each round is one round trip; the operation timeout bounds them too).
const CAS_ATTEMPTS: usize = 16;
/// The longest time to live set in Redis (a year): far beyond any real token or lease.
const MAX_TTL_MS: u64 = 365 * 24 * 3600 * 1000;
/// How long a failure record outlives its retry time, so that the next failure of the fleet
/// counts as consecutive and its backoff keeps growing.
const FAILURE_MEMORY_MS: u64 = 10 * 60 * 1000;
/// The longest a failure record may be.
const MAX_FAILURE_LEN: usize = 8192;

/// A [`TokenStore`] on Redis: a fleet of processes with the same credentials shares one token,
/// encrypted at rest.
///
/// # Guarantees
/// - **Single flight across processes**: the refresh lease is `SET {prefix}:{key}:lease <id> NX
///   PX <ttl>`, renewed by its holder while its fetch runs and released by a compare-and-delete
///   script, so one process fetches and the others wait for its token.
/// - **Woken, not polling**: every write, failure record and release is announced with `PUBLISH
///   {prefix}:{key}:changed`; each store keeps one subscriber connection (`PSUBSCRIBE
///   {prefix}:*:changed`, made on the first wait, remade after a loss) and wakes its waiters. While
///   the subscription is down, waiters poll at growing, jittered intervals of at most
///   [`poll_interval`](RedisTokenStoreBuilder::poll_interval).
/// - **One backoff for the fleet**: a failed fetch is recorded (sealed) at
///   `{prefix}:{key}:failure` with the time of the next allowed attempt, so the fleet waits it out
///   together instead of each process trying the endpoint.
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
    /// Wakes this process's waiters on the server's change announcements.
    changes: ChangeNotifier,
    /// The subscriber task, once started: whether it is subscribed, and (dropped with the
    /// store) the signal that stops it.
    subscriber: std::sync::Mutex<Option<Subscriber>>,
}

struct Subscriber {
    subscribed: tokio::sync::watch::Receiver<bool>,
    _stop: tokio::sync::oneshot::Sender<()>,
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
            changes: ChangeNotifier::new(),
            subscriber: std::sync::Mutex::new(None),
        }
    }

    /// Whether change announcements reach this process now; starts the subscriber task on
    /// first use (inside a tokio runtime; outside one, waiters poll).
    fn subscribed(self: &Arc<Self>) -> bool {
        self.subscription().is_some_and(|up| *up.borrow())
    }

    /// Whether the subscription is up, as a receiver that sees it change; `None` outside a
    /// runtime.
    fn subscription(self: &Arc<Self>) -> Option<tokio::sync::watch::Receiver<bool>> {
        let mut subscriber = self
            .subscriber
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(subscriber) = &*subscriber {
            return Some(subscriber.subscribed.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (up, subscribed) = tokio::sync::watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        runtime.spawn(subscribe(Arc::downgrade(self), up, stopped));
        *subscriber = Some(Subscriber {
            subscribed: subscribed.clone(),
            _stop: stop,
        });
        Some(subscribed)
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
        run_script(conn, READ.key(token_key).arg(MAX_VALUE_LEN)).await
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
        let channel = change_channel(&self.settings.key_prefix, key);
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
                let mut set = COMPARE_AND_SET.key(&token_key);
                set.arg(MAX_VALUE_LEN)
                    .arg(expected.as_slice())
                    .arg(value.as_slice())
                    .arg(ttl_ms)
                    .arg(&channel);
                let reply: (i64, Vec<u8>) = run_script(&conn, &mut set).await?;
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
                let mut delete = COMPARE_AND_DELETE.key(&token_key);
                delete.arg(MAX_VALUE_LEN).arg(current.as_slice());
                let deleted: i64 = run_script(&conn, &mut delete).await?;
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
        let ttl_ms = clamp_ttl(ttl);
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
        let channel = change_channel(&self.settings.key_prefix, key);
        self.bounded("release", async {
            let conn = self.connection().await?;
            let _: i64 =
                run_script(&conn, RELEASE.key(&lease_key).arg(lease.id()).arg(&channel)).await?;
            Ok(())
        })
        .await
    }
}

impl Inner {
    async fn renew(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let lease_key = lease_key(&self.settings.key_prefix, key);
        let ttl_ms = clamp_ttl(ttl);
        self.bounded("lease renewal", async {
            let conn = self.connection().await?;
            let renewed: i64 =
                run_script(&conn, RENEW.key(&lease_key).arg(lease.id()).arg(ttl_ms)).await?;
            Ok(renewed == 1)
        })
        .await
    }

    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        let failure_key = failure_key(&self.settings.key_prefix, key);
        let value = self
            .bounded("failure read", async {
                let conn = self.connection().await?;
                Ok(self.read(&conn, &failure_key).await?)
            })
            .await?;
        if value.is_empty() || value.len() > MAX_FAILURE_LEN {
            return Ok(None);
        }
        // A record that does not open or decode is ignored: only the fleet can write one.
        Ok(self
            .sealer
            .open_bytes(&failure_key, &value)
            .and_then(|(plaintext, _)| FleetFailure::decode(&plaintext)))
    }

    async fn record_failure(&self, key: &str, failure: &FleetFailure) -> Result<(), StoreError> {
        let failure_key = failure_key(&self.settings.key_prefix, key);
        let channel = change_channel(&self.settings.key_prefix, key);
        let now_ms = unix_millis(SystemTime::now());
        let ttl_ms = failure
            .retry_at_ms
            .saturating_sub(now_ms)
            .saturating_add(FAILURE_MEMORY_MS)
            .clamp(1, MAX_TTL_MS);
        self.bounded("failure write", async {
            let value = self
                .sealer
                .seal_bytes(&failure_key, &failure.encode(), failure.retry_at_ms)
                .map_err(Failure::Seal)?;
            let conn = self.connection().await?;
            let mut record = RECORD_FAILURE.key(&failure_key);
            record.arg(value.as_slice()).arg(ttl_ms).arg(&channel);
            let _: i64 = run_script(&conn, &mut record).await?;
            Ok(())
        })
        .await
    }

    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        let failure_key = failure_key(&self.settings.key_prefix, key);
        self.bounded("failure removal", async {
            let conn = self.connection().await?;
            let _: i64 = with_reconnect(|| {
                let mut conn = conn.clone();
                let failure_key = failure_key.as_str();
                async move {
                    redis::cmd("DEL")
                        .arg(failure_key)
                        .query_async(&mut conn)
                        .await
                }
            })
            .await?;
            Ok(())
        })
        .await
    }
}

/// A lease or record time to live in whole milliseconds, within what Redis accepts.
fn clamp_ttl(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TTL_MS)
}

/// The subscriber task: keeps a `PSUBSCRIBE {prefix}:*:changed` connection and wakes the waiters
/// of each announced key. When the connection is lost it wakes every waiter (a change may have
/// been missed; they re-read) and reconnects with a growing, jittered delay. It ends when the
/// store is dropped.
async fn subscribe(
    inner: std::sync::Weak<Inner>,
    subscribed: tokio::sync::watch::Sender<bool>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    use futures_util::StreamExt;
    let mut delay = Duration::from_millis(250);
    loop {
        let Some(store) = inner.upgrade() else { return };
        let (client, prefix, timeout) = (
            store.client.clone(),
            store.settings.key_prefix.clone(),
            store.settings.op_timeout,
        );
        drop(store);
        let pattern = format!("{}:*:changed", escape_glob(&prefix));
        let connected = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            RedisResult::Ok(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                subscribed.send_replace(true);
                delay = Duration::from_millis(250);
                tracing::debug!("subscribed to token store change announcements");
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        _ = &mut stop => return,
                    };
                    let Some(message) = message else { break };
                    let Some(store) = inner.upgrade() else { return };
                    if let Some(key) = key_of_channel(&prefix, message.get_channel_name()) {
                        store.changes.notify(key);
                    }
                }
                tracing::debug!("lost the token store's change subscription; reconnecting");
            }
            Ok(Err(error)) => {
                tracing::debug!(error = %error, "cannot subscribe to token store changes");
            }
            Err(_) => tracing::debug!("subscribing to token store changes timed out"),
        }
        subscribed.send_replace(false);
        match inner.upgrade() {
            Some(store) => store.changes.notify_all(),
            None => return,
        }
        let pause = delay + delay.mul_f64(rand::random::<f64>() * 0.5);
        delay = (delay * 2).min(Duration::from_secs(10));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = &mut stop => return,
        }
    }
}

/// `text` with the glob characters of a Redis pattern escaped.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Runs a script invocation through [`with_reconnect`].
async fn run_script<T: redis::FromRedisValue>(
    conn: &ConnectionManager,
    invocation: &mut redis::ScriptInvocation<'_>,
) -> RedisResult<T> {
    let invocation = &*invocation;
    with_reconnect(|| {
        let mut conn = conn.clone();
        async move { invocation.invoke_async(&mut conn).await }
    })
    .await
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
    fn name(&self) -> &str {
        "redis"
    }

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

    async fn renew(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.renew(key, lease, ttl).await
    }

    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        self.inner.failure(key).await
    }

    async fn record_failure(&self, key: &str, failure: &FleetFailure) -> Result<(), StoreError> {
        self.inner.record_failure(key, failure).await
    }

    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        self.inner.clear_failure(key).await
    }

    /// A notified cursor while this store's subscription is up, else a polling one.
    fn change_cursor(&self, key: &str) -> ChangeCursor {
        if self.inner.subscribed() {
            self.inner.changes.cursor(key)
        } else {
            ChangeCursor::polling()
        }
    }

    /// Waits for an announcement of `key` (or the subscription's loss), at most `timeout`;
    /// with a polling cursor, at most the poll interval.
    async fn wait_for_change(
        &self,
        key: &str,
        cursor: &mut ChangeCursor,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let _ = key;
        if cursor.is_notified() {
            cursor.changed(timeout).await;
            return Ok(());
        }
        let timeout = timeout.min(self.inner.settings.poll_interval);
        match self.inner.subscription() {
            // Polling while the subscription comes up (a process starting): return once it is
            // up, so that the cache re-reads and then waits with a notified cursor.
            Some(mut up) => {
                let _ = tokio::time::timeout(timeout, up.wait_for(|up| *up)).await;
            }
            None => {
                cursor.changed(timeout).await;
            }
        }
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
