//! Where the store's Redis is and how it is reached: one server, a Redis Cluster, or the primary
//! that Sentinel names. [`Connector`] gives every operation a connection, finds the primary
//! again after a failover, refuses a server whose TLS certificate failed, and opens the
//! subscriber's connection for change announcements.

use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    RedisError, RedisFuture, RedisResult, ServerErrorKind, TlsMode,
};
use tokensource_core::Error;
use tokio::time::Instant;

use crate::store::Failure;
use crate::tls::{self, Refusal, TlsSettings};

/// How long a store refuses a server whose TLS certificate failed before it tries once more
/// (the certificate may have been fixed); meanwhile operations fail at once, without a
/// connection.
pub(crate) const REFUSAL_HOLD: Duration = Duration::from_secs(60);

/// The longest pause between two attempts while waiting out a failover.
const FAILOVER_PAUSE_MAX: Duration = Duration::from_millis(500);

/// Where the Redis of a store is, as the user named it (the URLs may hold passwords).
#[derive(Clone)]
pub(crate) enum Topology {
    /// One server.
    Standalone(String),
    /// A Redis Cluster, reached through these seed nodes.
    Cluster(Vec<String>),
    /// The primary that these sentinels name for `master_name`.
    Sentinel {
        sentinels: Vec<String>,
        master_name: String,
    },
}

impl Topology {
    /// The name of the setting that holds the URLs, for errors.
    fn url_field(&self) -> &'static str {
        match self {
            Topology::Standalone(_) => "redis_url",
            Topology::Cluster(_) | Topology::Sentinel { .. } => "urls",
        }
    }

    fn urls(&self) -> &[String] {
        match self {
            Topology::Standalone(url) => std::slice::from_ref(url),
            Topology::Cluster(urls)
            | Topology::Sentinel {
                sentinels: urls, ..
            } => urls,
        }
    }
}

/// The timeouts a [`Connector`] works with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// One connection attempt, one command.
    pub(crate) op: Duration,
    /// How long an operation keeps looking for a new primary (cluster and sentinel).
    pub(crate) failover: Duration,
}

/// Gives operations their connection; see the module's documentation.
pub(crate) struct Connector {
    backend: Backend,
    timeouts: Timeouts,
    /// Shown in `Debug` and messages: addresses, never credentials.
    shown: String,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    /// A certificate refusal, and until when it holds.
    refused: Option<(Instant, Refusal)>,
    /// When the current run of connection failures started (none while Redis answers).
    failing_since: Option<Instant>,
    /// Whether any operation ever succeeded: only then is a failure taken for a failover.
    reached: bool,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per store, built once and never moved"
)]
enum Backend {
    Standalone {
        client: redis::Client,
        /// Made on first use, inside the runtime (making it spawns a task).
        manager: tokio::sync::OnceCell<ConnectionManager>,
    },
    Cluster {
        client: ClusterClient,
        connection: tokio::sync::OnceCell<ClusterConnection>,
        /// One client per seed node, for the subscriber, which may listen on any node.
        nodes: Vec<redis::Client>,
        next_node: AtomicUsize,
    },
    Sentinel {
        master_name: String,
        /// Asks the sentinels; locked so that one operation at a time looks the primary up.
        sentinel: tokio::sync::Mutex<SentinelClient>,
        primary: Mutex<Option<Primary>>,
        generation: AtomicU64,
        config: AsyncConnectionConfig,
    },
}

/// The primary Sentinel named, and the connection to it.
#[derive(Clone)]
struct Primary {
    generation: u64,
    client: redis::Client,
    connection: MultiplexedConnection,
}

/// A connection an operation runs its commands on.
#[derive(Clone)]
pub(crate) enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
    Primary(MultiplexedConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Primary(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Primary(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Primary(c) => c.get_db(),
        }
    }
}

impl Connector {
    /// Checks the URLs and TLS settings and prepares the clients. Nothing connects.
    ///
    /// # Errors
    /// A configuration error naming the setting: `redis_url` or `urls` (not a usable URL,
    /// mixed `redis://` and `rediss://`, `#insecure`, no URL), `master_name` (empty),
    /// `ca_file` or `client_cert_file` (TLS settings with `redis://` URLs).
    pub(crate) fn new(
        topology: &Topology,
        tls_settings: &TlsSettings,
        tls_field: &str,
        timeouts: Timeouts,
    ) -> Result<Connector, Error> {
        let field = topology.url_field();
        let infos = parse_urls(topology.urls(), field)?;
        let uses_tls = infos
            .first()
            .is_some_and(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. }));
        if tls_settings.is_set() && !uses_tls {
            return Err(Error::configuration(
                tls_field.to_owned(),
                format!("is a TLS setting: it needs rediss:// URLs in {field}"),
            ));
        }
        let certificates = uses_tls.then(|| {
            tls::ensure_crypto_provider();
            tls_settings.redis_certificates()
        });
        let invalid = |e: RedisError| {
            // The error may quote the URL, which may hold a password: only its kind is kept.
            Error::configuration(
                field.to_owned(),
                format!("cannot be used ({})", e.category()),
            )
        };
        let client = |info: &ConnectionInfo| match &certificates {
            Some(certificates) => redis::Client::build_with_tls(info.clone(), certificates.clone()),
            None => redis::Client::open(info.clone()),
        };
        let shown = shown(topology, &infos);
        let backend = match topology {
            Topology::Standalone(_) => Backend::Standalone {
                client: client(&infos[0]).map_err(invalid)?,
                manager: tokio::sync::OnceCell::new(),
            },
            Topology::Cluster(_) => {
                let mut builder = ClusterClient::builder(infos.clone())
                    .connection_timeout(timeouts.op)
                    .response_timeout(timeouts.op)
                    // A few quick retries for redirections and a node's restart; a failover
                    // is waited out by `Connector::run`, within the failover timeout.
                    .retries(3)
                    .min_retry_wait(20)
                    .max_retry_wait(200);
                if let Some(certificates) = &certificates {
                    builder = builder.certs(certificates.clone());
                }
                let nodes = infos.iter().map(client).collect::<RedisResult<Vec<_>>>();
                Backend::Cluster {
                    client: builder.build().map_err(invalid)?,
                    connection: tokio::sync::OnceCell::new(),
                    nodes: nodes.map_err(invalid)?,
                    next_node: AtomicUsize::new(0),
                }
            }
            Topology::Sentinel { master_name, .. } => {
                if master_name.is_empty() {
                    return Err(Error::configuration("master_name", "must not be empty"));
                }
                let sentinel =
                    sentinel_client(&infos, master_name, certificates.as_ref()).map_err(invalid)?;
                Backend::Sentinel {
                    master_name: master_name.clone(),
                    sentinel: tokio::sync::Mutex::new(sentinel),
                    primary: Mutex::new(None),
                    generation: AtomicU64::new(0),
                    config: AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(timeouts.op))
                        .set_response_timeout(Some(timeouts.op)),
                }
            }
        };
        Ok(Connector {
            backend,
            timeouts,
            shown,
            health: Mutex::new(Health::default()),
        })
    }

    /// How long the next operation may take in all: one operation timeout, plus what is left of
    /// the failover timeout when a failover may be under way (cluster and sentinel, once Redis
    /// has been reached).
    pub(crate) fn time_limit(&self) -> Duration {
        self.timeouts.op + self.patience_left()
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn waits_out_failovers(&self) -> bool {
        !matches!(self.backend, Backend::Standalone { .. })
    }

    /// What is left of the failover timeout in the current run of failures.
    fn patience_left(&self) -> Duration {
        if !self.waits_out_failovers() {
            return Duration::ZERO;
        }
        let health = self.health();
        if !health.reached {
            return Duration::ZERO;
        }
        match health.failing_since {
            None => self.timeouts.failover,
            Some(since) => self.timeouts.failover.saturating_sub(since.elapsed()),
        }
    }

    /// The refusal in force, if any.
    fn refused(&self) -> Option<Refusal> {
        let mut health = self.health();
        match &health.refused {
            Some((until, refusal)) if Instant::now() < *until => Some(refusal.clone()),
            Some(_) => {
                health.refused = None;
                None
            }
            None => None,
        }
    }

    fn refuse(&self, refusal: Refusal) -> Failure {
        tracing::warn!(
            server = %self.shown,
            "{refusal}; not using this Redis for {} s",
            REFUSAL_HOLD.as_secs()
        );
        self.health().refused = Some((Instant::now() + REFUSAL_HOLD, refusal.clone()));
        Failure::Refused(refusal)
    }

    fn succeeded(&self) {
        let mut health = self.health();
        health.reached = true;
        health.failing_since = None;
    }

    fn failed(&self) {
        let mut health = self.health();
        if health.failing_since.is_none() {
            health.failing_since = Some(Instant::now());
        }
    }

    /// Runs `attempt` on a connection. After a connection failure it runs again on a fresh
    /// connection: once for a standalone server; for a cluster or a sentinel-watched primary,
    /// as long as a failover may be under way (re-asking the sentinels for the primary each
    /// time), within the failover timeout. A certificate refusal is never retried: the server
    /// is not used for [`REFUSAL_HOLD`]. Every operation run through this must be safe to
    /// repeat.
    pub(crate) async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, Failure>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut tries = 0u32;
        let mut pause = Duration::from_millis(50);
        loop {
            if let Some(refusal) = self.refused() {
                return Err(Failure::Refused(refusal));
            }
            tries += 1;
            let (error, generation) = match self.connection().await {
                Ok((conn, generation)) => match attempt(conn).await {
                    Ok(value) => {
                        self.succeeded();
                        return Ok(value);
                    }
                    Err(error) => (error, generation),
                },
                Err(error) => (error, None),
            };
            if let Some(refusal) = tls::refusal(&error) {
                return Err(self.refuse(refusal));
            }
            let retry = if self.waits_out_failovers() {
                if !is_failover(&error) {
                    return Err(Failure::Redis(error));
                }
                self.forget(generation);
                let patience = self.patience_left();
                self.failed();
                tries == 1 || !patience.is_zero()
            } else {
                if !is_connection_loss(&error) {
                    return Err(Failure::Redis(error));
                }
                tries == 1
            };
            if !retry {
                return Err(Failure::Redis(error));
            }
            tracing::debug!(error = %error, tries, "redis connection failed; trying again");
            if tries > 1 {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(FAILOVER_PAUSE_MAX);
            }
        }
    }

    /// The connection for the next attempt, with the generation of a sentinel-named primary.
    async fn connection(&self) -> RedisResult<(Conn, Option<u64>)> {
        let op = self.timeouts.op;
        match &self.backend {
            Backend::Standalone { client, manager } => {
                let manager = manager
                    .get_or_try_init(|| async {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(op))
                            .set_response_timeout(Some(op))
                            // One attempt per operation: a refused connection fails the
                            // operation at once and the next operation tries again.
                            .set_number_of_retries(0);
                        ConnectionManager::new_lazy_with_config(client.clone(), config)
                    })
                    .await?;
                Ok((Conn::Standalone(manager.clone()), None))
            }
            Backend::Cluster {
                client, connection, ..
            } => {
                let connection = connection
                    .get_or_try_init(|| client.get_async_connection())
                    .await?;
                Ok((Conn::Cluster(connection.clone()), None))
            }
            Backend::Sentinel { .. } => {
                let primary = self.primary().await?;
                Ok((Conn::Primary(primary.connection), Some(primary.generation)))
            }
        }
    }

    /// The current primary of a sentinel-watched set, looked up if there is none.
    async fn primary(&self) -> RedisResult<Primary> {
        let Backend::Sentinel {
            sentinel,
            primary,
            generation,
            config,
            ..
        } = &self.backend
        else {
            unreachable!("only sentinel stores have a primary to look up");
        };
        let current = || {
            primary
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        if let Some(found) = current() {
            return Ok(found);
        }
        let mut sentinel = sentinel.lock().await;
        // Another operation may have found it while this one waited for the lock.
        if let Some(found) = current() {
            return Ok(found);
        }
        let client = sentinel.async_get_client().await?;
        let connection = client
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        let found = Primary {
            generation: generation.fetch_add(1, Ordering::Relaxed) + 1,
            client,
            connection,
        };
        tracing::debug!(primary = %found.client.get_connection_info().addr(), "found the redis primary through sentinel");
        *primary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(found.clone());
        Ok(found)
    }

    /// Forgets the sentinel-named primary that failed (not a newer one), so that the next
    /// attempt asks the sentinels again.
    fn forget(&self, generation: Option<u64>) {
        if let (Backend::Sentinel { primary, .. }, Some(generation)) = (&self.backend, generation) {
            let mut primary = primary
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if primary.as_ref().is_some_and(|p| p.generation == generation) {
                *primary = None;
            }
        }
    }

    /// For a Sentinel-watched primary: a subscription to one sentinel's `+switch-master`
    /// announcements, so that the store moves to a new primary as soon as it is promoted, while
    /// the old one may still accept writes (a sentinel demotes it only when it sees it, seconds
    /// later). `None` for the other topologies, or when no sentinel answers (failovers are then
    /// noticed by their errors).
    pub(crate) async fn primary_switches(&self) -> Option<redis::aio::PubSub> {
        let Backend::Sentinel { sentinel, .. } = &self.backend else {
            return None;
        };
        let subscribed = tokio::time::timeout(2 * self.timeouts.op, async {
            let client = sentinel.lock().await.async_get_sentinel_client().await?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            RedisResult::Ok(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => Some(pubsub),
            Ok(Err(error)) => {
                tracing::debug!(error = %error, "cannot subscribe to the sentinels' announcements");
                None
            }
            Err(_) => None,
        }
    }

    /// Takes a `+switch-master` announcement (`<name> <old ip> <old port> <new ip> <new port>`):
    /// when it is about this store's primary, forgets the connection to the old one, so that
    /// the next operation asks the sentinels. Returns whether it was.
    pub(crate) fn primary_switched(&self, announcement: &str) -> bool {
        let Backend::Sentinel {
            master_name,
            primary,
            ..
        } = &self.backend
        else {
            return false;
        };
        if announcement.split_whitespace().next() != Some(master_name.as_str()) {
            return false;
        }
        tracing::debug!("the sentinels switched to a new primary");
        *primary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        true
    }

    /// A pub/sub connection for change announcements: to the standalone server; to one node of
    /// a cluster (a `PUBLISH` reaches every node), trying the seed nodes in turn; or to the
    /// primary the sentinels name.
    pub(crate) async fn pubsub(&self) -> Result<redis::aio::PubSub, Failure> {
        if let Some(refusal) = self.refused() {
            return Err(Failure::Refused(refusal));
        }
        let op = self.timeouts.op;
        let subscribe = |client: redis::Client| async move {
            match tokio::time::timeout(op, client.get_async_pubsub()).await {
                Ok(result) => result,
                Err(_) => Err(RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                ))),
            }
        };
        let result = match &self.backend {
            Backend::Standalone { client, .. } => subscribe(client.clone()).await,
            Backend::Cluster {
                nodes, next_node, ..
            } => {
                let mut last_error = None;
                for _ in 0..nodes.len() {
                    // Each subscription starts at the next node: the last one may have failed.
                    let node = next_node.fetch_add(1, Ordering::Relaxed) % nodes.len();
                    match subscribe(nodes[node].clone()).await {
                        Ok(pubsub) => return Ok(pubsub),
                        Err(error) => {
                            let refused = tls::refusal(&error).is_some();
                            last_error = Some(error);
                            if refused {
                                break;
                            }
                        }
                    }
                }
                Err(last_error.unwrap_or_else(|| {
                    RedisError::from((ErrorKind::InvalidClientConfig, "no cluster node"))
                }))
            }
            Backend::Sentinel { .. } => match tokio::time::timeout(op, self.primary()).await {
                Ok(Ok(primary)) => subscribe(primary.client).await,
                Ok(Err(error)) => Err(error),
                Err(_) => Err(RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                ))),
            },
        };
        result.map_err(|error| match tls::refusal(&error) {
            Some(refusal) => self.refuse(refusal),
            None => Failure::Redis(error),
        })
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Whether `error` means the connection is gone or refused (the connection manager then makes
/// a new one). Timeouts are not: the server may still be working on the command.
fn is_connection_loss(error: &RedisError) -> bool {
    !error.is_timeout()
        && (error.is_connection_refusal()
            || error.is_connection_dropped()
            || error.is_unrecoverable_error())
}

/// Whether `error` may come from a failover: the primary gone, silent or demoted (READONLY),
/// the cluster reorganizing, or the sentinels not yet naming a usable primary.
fn is_failover(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || is_connection_loss(error)
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::ReadOnly
                    // A cluster whose slot map changes under a failover: the cluster client
                    // may hand a redirection back instead of following it.
                    | ServerErrorKind::Moved
                    | ServerErrorKind::Ask
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
            ) | ErrorKind::MasterNameNotFoundBySentinel
                | ErrorKind::NoValidReplicasFoundBySentinel
                | ErrorKind::ClusterConnectionNotFound
        )
        // A script that wrote on a demoted primary may report it inside its own error.
        || error.to_string().contains("READONLY")
}

/// Parses `urls`, refusing what this store cannot use safely.
fn parse_urls(urls: &[String], field: &str) -> Result<Vec<ConnectionInfo>, Error> {
    if urls.is_empty() {
        return Err(Error::configuration(
            field.to_owned(),
            "needs at least one URL",
        ));
    }
    let mut infos = Vec::with_capacity(urls.len());
    for url in urls {
        // The URL may hold a password: it never goes into the error.
        let info = url.as_str().into_connection_info().map_err(|_| {
            Error::configuration(
                field.to_owned(),
                "not a Redis URL (expected redis://[user:password@]host[:port][/db], \
                 rediss://... for TLS, or unix:///path)",
            )
        })?;
        if let ConnectionAddr::TcpTls { insecure: true, .. } = info.addr() {
            return Err(Error::configuration(
                field.to_owned(),
                "asks for TLS without certificate verification (#insecure), which this store \
                 refuses; trust the server's CA with ca_file instead",
            ));
        }
        infos.push(info);
    }
    let tls = |info: &ConnectionInfo| matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    if infos.iter().any(tls) && !infos.iter().all(tls) {
        return Err(Error::configuration(
            field.to_owned(),
            "mixes redis:// and rediss:// URLs",
        ));
    }
    Ok(infos)
}

/// A sentinel client for `master_name`: the sentinels with the credentials of the first URL,
/// and the primary with the same credentials, database and TLS.
fn sentinel_client(
    infos: &[ConnectionInfo],
    master_name: &str,
    certificates: Option<&redis::TlsCertificates>,
) -> RedisResult<SentinelClient> {
    let first = infos[0].redis_settings();
    let mut builder = SentinelClientBuilder::new(
        infos.iter().map(|info| info.addr().clone()),
        master_name,
        SentinelServerType::Master,
    )?
    .set_client_to_redis_db(first.db());
    if let Some(username) = first.username() {
        builder = builder
            .set_client_to_sentinel_username(username)
            .set_client_to_redis_username(username);
    }
    if let Some(password) = first.password() {
        builder = builder
            .set_client_to_sentinel_password(password)
            .set_client_to_redis_password(password);
    }
    if let Some(certificates) = certificates {
        builder = builder
            .set_client_to_sentinel_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_certificates(certificates.clone())
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_redis_certificates(certificates.clone());
    }
    builder.build()
}

/// The servers as shown in `Debug`: scheme, address and database, never credentials.
fn shown(topology: &Topology, infos: &[ConnectionInfo]) -> String {
    let address = |info: &ConnectionInfo| {
        let scheme = match info.addr() {
            ConnectionAddr::TcpTls { .. } => "rediss",
            ConnectionAddr::Tcp(..) => "redis",
            ConnectionAddr::Unix(_) => "unix",
            _ => "redis",
        };
        format!("{scheme}://{}/{}", info.addr(), info.redis_settings().db())
    };
    let list = || infos.iter().map(address).collect::<Vec<_>>().join(", ");
    match topology {
        Topology::Standalone(_) => address(&infos[0]),
        Topology::Cluster(_) => format!("cluster [{}]", list()),
        Topology::Sentinel { master_name, .. } => {
            format!("sentinel {master_name:?} [{}]", list())
        }
    }
}
