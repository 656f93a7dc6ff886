//! [`RedisTokenStore`]: the [`TokenStore`] operations on Redis.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::{RedisError, Value};
use secrecy::SecretString;
use tokensource_core::store::{
    ChangeCursor, ChangeNotifier, FleetFailure, Lease, StoreError, TokenStore,
};
use tokensource_core::{Error, Token};

use crate::builder::RedisTokenStoreBuilder;
use crate::connection::{Conn, Connector, REFUSAL_HOLD, Topology};
use crate::envelope::{SealError, Sealer, expiry_millis, unix_millis};
use crate::key::{change_channel, failure_key, key_of_channel, lease_key, token_key};
use crate::scripts::{COMPARE_AND_DELETE, COMPARE_AND_SET, READ, RECORD_FAILURE, RELEASE, RENEW};
use crate::tls::{Refusal, TlsRenewal};

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
/// - **Failovers kept single-flight**: in a cluster or behind Sentinel, an operation that lost
///   its primary finds the new one (the cluster's slot map, the sentinels' answer) within
///   [`failover_timeout`](RedisTokenStoreBuilder::failover_timeout) rather than failing, so the
///   processes of a fleet do not all fetch for themselves during a failover.
/// - **Never written to an unverified server**: a `rediss://` server whose certificate fails
///   verification, or that refuses the client certificate, gets no command; for a minute the
///   store fails every operation at once, without connecting.
/// - **No secrets shown**: `Debug` shows the servers' addresses and settings, never the URLs'
///   passwords, the client secret, a client key or a token.
///
/// Cloning is cheap (one reference count); clones share the connection. The store needs a tokio
/// runtime with the time driver, like the cache itself.
#[derive(Clone)]
pub struct RedisTokenStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Shared with the subscriber task, which must not keep the store alive; replaced when the
    /// TLS files change.
    connector: std::sync::Mutex<Arc<Connector>>,
    /// Makes the connector again when its TLS files change (`None` without TLS files).
    renewal: Option<TlsRenewal>,
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
    pub(crate) failover_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) default_lifetime: Duration,
}

impl RedisTokenStore {
    /// A store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// `rediss://...` for TLS with the system's roots, or `unix:///path`) for the credential
    /// whose client secret is `credential_secret`, with the default settings. It does not
    /// connect yet.
    ///
    /// # Errors
    /// A configuration error for a bad URL or an empty secret; see
    /// [`RedisTokenStoreBuilder::build`].
    pub fn new(url: &str, credential_secret: &SecretString) -> Result<Self, Error> {
        RedisTokenStore::builder(url, credential_secret).build()
    }

    /// Starts building a store on one Redis server at `url`; see [`RedisTokenStoreBuilder`]
    /// for the settings (TLS roots and client certificates among them).
    pub fn builder(url: &str, credential_secret: &SecretString) -> RedisTokenStoreBuilder {
        RedisTokenStoreBuilder::new(Topology::Standalone(url.to_owned()), credential_secret)
    }

    /// Starts building a store on a Redis Cluster reached through `seed_nodes` (URLs of some of
    /// its nodes, all `redis://` or all `rediss://`, with the same credentials). The cluster's
    /// other nodes are found from them; each key's commands go to the node of its slot.
    ///
    /// ```no_run
    /// use tokensource_redis::{RedisTokenStore, SecretString};
    ///
    /// # fn run() -> Result<(), tokensource_core::Error> {
    /// let secret = SecretString::from("the client secret");
    /// let store = RedisTokenStore::cluster_builder(
    ///     ["rediss://10.0.0.1:7000", "rediss://10.0.0.2:7000", "rediss://10.0.0.3:7000"],
    ///     &secret,
    /// )
    /// .build()?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster_builder<I, U>(
        seed_nodes: I,
        credential_secret: &SecretString,
    ) -> RedisTokenStoreBuilder
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        RedisTokenStoreBuilder::new(
            Topology::Cluster(seed_nodes.into_iter().map(Into::into).collect()),
            credential_secret,
        )
    }

    /// Starts building a store on the primary that the Sentinels at `sentinels` name for
    /// `master_name`. The URLs' scheme (`redis://` or `rediss://`), user name and password
    /// apply to the sentinels and to the primary; the database is the first URL's. After a
    /// failover the store asks the sentinels again and uses the new primary.
    pub fn sentinel_builder<I, U>(
        sentinels: I,
        master_name: &str,
        credential_secret: &SecretString,
    ) -> RedisTokenStoreBuilder
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        RedisTokenStoreBuilder::new(
            Topology::Sentinel {
                sentinels: sentinels.into_iter().map(Into::into).collect(),
                master_name: master_name.to_owned(),
            },
            credential_secret,
        )
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
pub(crate) enum Failure {
    Redis(RedisError),
    /// The server's TLS certificate failed verification, or it refused ours: not used.
    Refused(Refusal),
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
    pub(crate) fn new(
        connector: Connector,
        renewal: Option<TlsRenewal>,
        sealer: Sealer,
        settings: Settings,
    ) -> Self {
        Inner {
            connector: std::sync::Mutex::new(Arc::new(connector)),
            renewal,
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

    /// The connector in use.
    fn connector(&self) -> Arc<Connector> {
        Arc::clone(
            &self
                .connector
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Makes the connector again if its TLS files changed (read before each operation).
    fn renew_connector(&self) {
        if let Some(connector) = self.renewal.as_ref().and_then(TlsRenewal::renewed) {
            *self
                .connector
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(connector);
        }
    }

    /// Runs `op` within the operation timeout (and, in cluster and sentinel modes, what is left
    /// of the failover timeout), naming the operation in its error.
    async fn bounded<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, StoreError> {
        self.renew_connector();
        let timeout = self.connector().time_limit();
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
            Ok(Err(Failure::Refused(refusal))) => Err(StoreError::new(format!(
                "{refusal}: this Redis is not used (nothing is written to it); next try within {} s",
                REFUSAL_HOLD.as_secs()
            ))),
            Ok(Err(Failure::Seal(SealError::Random))) => Err(StoreError::new(
                "the system random number generator failed; token not stored",
            )),
            Ok(Err(Failure::Seal(SealError::Cipher))) => {
                Err(StoreError::new("the token could not be encrypted"))
            }
            Ok(Err(Failure::Seal(SealError::Secret))) => Err(StoreError::new(
                "the seal secret (a file) cannot be read; nothing was stored",
            )),
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
    async fn read(&self, token_key: &str) -> Result<Vec<u8>, Failure> {
        self.script(READ.key(token_key).arg(MAX_VALUE_LEN)).await
    }

    /// Runs a script invocation through the connector (EVALSHA, loading the script on
    /// NOSCRIPT; in a cluster, routed to the node of its one key).
    async fn script<T: redis::FromRedisValue>(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
    ) -> Result<T, Failure> {
        let invocation = &*invocation;
        self.connector()
            .run(|mut conn: Conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        let token_key = token_key(&self.settings.key_prefix, key);
        let value = self
            .bounded("read", async { self.read(&token_key).await })
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
            let mut current = self.read(&token_key).await?;
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
                let reply: (i64, Vec<u8>) = self.script(&mut set).await?;
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
            for _ in 0..CAS_ATTEMPTS {
                let current = self.read(&token_key).await?;
                match self.sealer.open(&token_key, &current) {
                    Some(stored) if stored.token.same_secret(token) => {}
                    // Absent, foreign or another token: nothing of ours to remove.
                    _ => return Ok(()),
                }
                let current = &current;
                let mut delete = COMPARE_AND_DELETE.key(&token_key);
                delete.arg(MAX_VALUE_LEN).arg(current.as_slice());
                let deleted: i64 = self.script(&mut delete).await?;
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
                let mut retried = false;
                self.connector()
                    .run(|mut conn: Conn| {
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
                    .await
            })
            .await?;
        Ok(taken.then_some(lease))
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        let lease_key = lease_key(&self.settings.key_prefix, key);
        let channel = change_channel(&self.settings.key_prefix, key);
        self.bounded("release", async {
            let _: i64 = self
                .script(RELEASE.key(&lease_key).arg(lease.id()).arg(&channel))
                .await?;
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
            let renewed: i64 = self
                .script(RENEW.key(&lease_key).arg(lease.id()).arg(ttl_ms))
                .await?;
            Ok(renewed == 1)
        })
        .await
    }

    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        let failure_key = failure_key(&self.settings.key_prefix, key);
        let value = self
            .bounded("failure read", async { self.read(&failure_key).await })
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
            let mut record = RECORD_FAILURE.key(&failure_key);
            record.arg(value.as_slice()).arg(ttl_ms).arg(&channel);
            let _: i64 = self.script(&mut record).await?;
            Ok(())
        })
        .await
    }

    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        let failure_key = failure_key(&self.settings.key_prefix, key);
        self.bounded("failure removal", async {
            let failure_key = failure_key.as_str();
            let _: i64 = self
                .connector()
                .run(|mut conn: Conn| async move {
                    redis::cmd("DEL")
                        .arg(failure_key)
                        .query_async(&mut conn)
                        .await
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
        let (connector, prefix, timeout) = (
            store.connector(),
            store.settings.key_prefix.clone(),
            store.settings.op_timeout,
        );
        drop(store);
        let pattern = format!("{}:*:changed", escape_glob(&prefix));
        // Each connection attempt is bounded by the connector (a cluster tries its nodes in
        // turn); the subscription itself by the operation timeout.
        let connected = async {
            let mut pubsub = connector.pubsub().await?;
            match tokio::time::timeout(timeout, pubsub.psubscribe(&pattern)).await {
                Ok(Ok(())) => Ok(pubsub),
                Ok(Err(error)) => Err(Failure::Redis(error)),
                Err(_) => Err(Failure::Redis(RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                )))),
            }
        }
        .await;
        match connected {
            Ok(pubsub) => {
                subscribed.send_replace(true);
                delay = Duration::from_millis(250);
                tracing::debug!("subscribed to token store change announcements");
                let mut messages = pubsub.into_on_message();
                // Behind Sentinel, the sentinels' announcements of a new primary too.
                let mut switches = connector
                    .primary_switches()
                    .await
                    .map(redis::aio::PubSub::into_on_message);
                loop {
                    let switch = async {
                        match &mut switches {
                            Some(switches) => switches.next().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        message = messages.next() => {
                            let Some(message) = message else { break };
                            let Some(store) = inner.upgrade() else { return };
                            if let Some(key) = key_of_channel(&prefix, message.get_channel_name()) {
                                store.changes.notify(key);
                            }
                        }
                        switch = switch => match switch {
                            Some(switch) => {
                                let announcement: String = switch.get_payload().unwrap_or_default();
                                // Listen to the new primary; waiters re-read from it.
                                if connector.primary_switched(&announcement) {
                                    break;
                                }
                            }
                            None => switches = None,
                        },
                        _ = &mut stop => return,
                    }
                }
                tracing::debug!("lost the token store's change subscription; reconnecting");
            }
            Err(Failure::Redis(error)) => {
                tracing::debug!(error = %error, "cannot subscribe to token store changes");
            }
            Err(Failure::Refused(refusal)) => {
                tracing::debug!("cannot subscribe to token store changes: {refusal}");
            }
            Err(_) => tracing::debug!("cannot subscribe to token store changes"),
        }
        drop(connector);
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

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisTokenStore")
            .field("server", &inner.connector())
            .field("key_prefix", &inner.settings.key_prefix)
            .field("op_timeout", &inner.settings.op_timeout)
            .field("poll_interval", &inner.settings.poll_interval)
            .finish_non_exhaustive()
    }
}
