//! The per-profile `store` table: where cached tokens live.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::registry::{CredentialIdentity, ProfileSettings};
use crate::store::{ChangeCursor, FleetFailure, Lease, StoreError, TokenStore};
use crate::{Error, RefreshPolicy, Token};

/// Where a profile's tokens are cached, as named by `[profiles.NAME.store] kind = ...`.
///
/// `Debug` hides the passwords of Redis URLs.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// In this process only (a library user's default).
    Memory,
    /// Files in a folder, mode 0600 (the CLI's default).
    File {
        /// The folder.
        dir: PathBuf,
    },
    /// Redis, shared by a fleet (feature `redis`).
    Redis(RedisSettings),
}

// Not derived: a Redis URL may carry a password (`redis://user:password@host`).
impl std::fmt::Debug for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKind::Memory => f.write_str("Memory"),
            StoreKind::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            StoreKind::Redis(settings) => f.debug_tuple("Redis").field(settings).finish(),
        }
    }
}

/// How a Redis store reaches its servers (`mode` in the store table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RedisMode {
    /// One server, named by `url` (the default).
    #[default]
    Standalone,
    /// A Redis Cluster, reached through the seed nodes in `urls`.
    Cluster,
    /// The primary that the Sentinels in `urls` name for `master_name`.
    Sentinel,
}

/// The Redis settings of a store table: servers, TLS files (resolved against the configuration
/// file's folder) and key prefix.
///
/// `Debug` hides the passwords of the URLs.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisSettings {
    /// `mode`.
    pub mode: RedisMode,
    /// `url` (standalone: one) or `urls` (the seed nodes or the sentinels); they may hold a
    /// password.
    pub urls: Vec<String>,
    /// `master_name` (sentinel).
    pub master_name: Option<String>,
    /// `ca_file`: PEM roots trusted in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// `client_cert_file`: the PEM certificate chain for TLS client authentication.
    pub client_cert_file: Option<PathBuf>,
    /// `client_key_file`: its PEM private key.
    pub client_key_file: Option<PathBuf>,
    /// `key_prefix`: the namespace of every key written.
    pub key_prefix: Option<String>,
}

impl RedisSettings {
    /// A standalone server at `url`, with no TLS files and the default key prefix.
    pub fn standalone(url: impl Into<String>) -> Self {
        RedisSettings {
            mode: RedisMode::Standalone,
            urls: vec![url.into()],
            master_name: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            key_prefix: None,
        }
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|url| without_password(url)).collect();
        f.debug_struct("RedisSettings")
            .field("mode", &self.mode)
            .field("urls", &urls)
            .field("master_name", &self.master_name)
            .field("ca_file", &self.ca_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// `url` with its password replaced, or a placeholder when it does not parse.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<not a URL>".to_owned(),
    }
}

/// Called with the first failure of a profile's shared store (see
/// [`BuildOptions::on_store_unavailable`]).
pub type StoreUnavailable = Arc<dyn Fn(&StoreError) + Send + Sync>;

/// How profiles are built: the base refresh policy and where tokens are cached by default.
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// The policy each profile starts from (its `refresh_margin_secs` then applies).
    policy: RefreshPolicy,
    /// The store for profiles without a `store` table; `None` means memory.
    default_file_dir: Option<PathBuf>,
    /// Ignore every `store` table and cache in memory only (the CLI's `--no-cache`).
    memory_only: bool,
    /// Validate only: build no store (no connection, no folder created).
    check_only: bool,
    /// Told once when a profile's shared store fails.
    on_store_unavailable: Option<StoreUnavailable>,
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("policy", &self.policy)
            .field("default_file_dir", &self.default_file_dir)
            .field("memory_only", &self.memory_only)
            .field("check_only", &self.check_only)
            .field("on_store_unavailable", &self.on_store_unavailable.is_some())
            .finish()
    }
}

impl BuildOptions {
    /// Profiles start from `policy` (e.g. a shorter longest backoff for a command-line tool).
    pub fn with_policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The base refresh policy.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    /// Profiles without a `store` table cache tokens in files under `dir`.
    pub fn with_default_file_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.default_file_dir = Some(dir.into());
        self
    }

    /// Cache in memory only, whatever the profiles say.
    pub fn memory_only(mut self) -> Self {
        self.memory_only = true;
        self
    }

    /// Validate the `store` tables without building any store. (A Redis store is still built,
    /// which reads its TLS files and connects nowhere.)
    pub fn check_only(mut self) -> Self {
        self.check_only = true;
        self
    }

    /// Calls `report` with the first failure of each profile's shared store (Redis down or
    /// refusing, a TLS certificate that failed verification, a file store that cannot be
    /// written). The cache fetches without the store meanwhile; a command-line tool can say so
    /// once.
    pub fn on_store_unavailable(
        mut self,
        report: impl Fn(&StoreError) + Send + Sync + 'static,
    ) -> Self {
        self.on_store_unavailable = Some(Arc::new(report));
        self
    }
}

/// A shared store and the key a profile's tokens live under in it.
pub(crate) type SharedStore = (Arc<dyn TokenStore>, String);

/// Reads the profile's `store` table (if any) and builds the store with its key.
pub(crate) fn build(
    settings: &ProfileSettings<'_>,
    identity: Option<&CredentialIdentity>,
    options: &BuildOptions,
) -> Result<Option<SharedStore>, Error> {
    let kind = match read_kind(settings)? {
        Some(kind) => kind,
        None => match &options.default_file_dir {
            Some(dir) => StoreKind::File { dir: dir.clone() },
            None => StoreKind::Memory,
        },
    };
    let field = settings.field("store");
    // A Redis store is built even when it will not be used: building checks the URLs and reads
    // the TLS files, and connects nowhere.
    let redis = match &kind {
        StoreKind::Redis(redis) => {
            // The secret that seals tokens in Redis: the store's `seal_key`, else the
            // credential's own.
            // Either is a source read again at each store operation when it is a file, so a
            // rotated secret seals with the new secret as soon as the file holds it.
            let given = read_seal_key(settings)?;
            let own = identity
                .filter(|identity| !identity.secret().expose_secret().is_empty())
                .map(CredentialIdentity::secret_source);
            let seal_key = given.or(own).ok_or_else(|| {
                Error::configuration(
                    format!("{field}.seal_key"),
                    "is required: this profile has no client secret to seal its stored tokens \
                     with (give one, e.g. seal_key = { env = \"TOKEN_SEAL_KEY\" })",
                )
            })?;
            Some(redis_store(&field, redis, &seal_key)?)
        }
        _ => None,
    };
    if options.memory_only || options.check_only || kind == StoreKind::Memory {
        return Ok(None);
    }
    let identity = identity.ok_or_else(|| {
        Error::configuration(
            field.clone(),
            "this provider does not say which credential it uses, so its tokens cannot be shared; use kind = \"memory\"",
        )
    })?;
    let shared = match (kind, redis) {
        (StoreKind::File { dir }, _) => file_store(&field, dir, settings.name(), identity)?,
        (StoreKind::Redis(_), Some(store)) => Some((store, identity.store_key())),
        _ => None,
    };
    Ok(
        shared.map(|(store, key)| match &options.on_store_unavailable {
            Some(report) => {
                let store: Arc<dyn TokenStore> = Arc::new(Reported {
                    inner: store,
                    report: Arc::clone(report),
                    reported: AtomicBool::new(false),
                });
                (store, key)
            }
            None => (store, key),
        }),
    )
}

/// The store table's `seal_key` (a literal, `{ env = ... }` or `{ file = ... }`, which is read now
/// and again at each store operation).
fn read_seal_key(settings: &ProfileSettings<'_>) -> Result<Option<crate::SecretSource>, Error> {
    let Some(table) = settings.store_table()? else {
        return Ok(None);
    };
    let Some(value) = table.get("seal_key") else {
        return Ok(None);
    };
    let field = format!("{}.seal_key", settings.field("store"));
    let secret: super::SecretValue = value.clone().try_into().map_err(|_| {
        Error::configuration(
            field.clone(),
            "expected a string, { env = \"VAR\" } or { file = \"path\" }",
        )
    })?;
    let source = secret.source(&field, settings.base_dir())?;
    if source.read_for(field.clone())?.expose_secret().is_empty() {
        return Err(Error::configuration(field, "must not be empty"));
    }
    Ok(Some(source))
}

/// The keys a store table may hold.
const STORE_KEYS: &[&str] = &[
    "kind",
    "url",
    "urls",
    "mode",
    "master_name",
    "ca_file",
    "client_cert_file",
    "client_key_file",
    "key_prefix",
    "seal_key",
    "dir",
];

fn read_kind(settings: &ProfileSettings<'_>) -> Result<Option<StoreKind>, Error> {
    let Some(table) = settings.store_table()? else {
        return Ok(None);
    };
    let field = |key: &str| format!("{}.{key}", settings.field("store"));
    for key in table.keys() {
        if !STORE_KEYS.contains(&key.as_str()) {
            return Err(Error::configuration(
                field(key),
                format!("unknown key; expected one of {}", STORE_KEYS.join(", ")),
            ));
        }
    }
    let kind = plain_string(table, "kind", &field)?
        .ok_or_else(|| Error::configuration(field("kind"), "is required"))?;
    match kind.as_str() {
        "memory" => Ok(Some(StoreKind::Memory)),
        "file" => match plain_string(table, "dir", &field)? {
            Some(dir) => Ok(Some(StoreKind::File {
                dir: settings.resolve_path(&dir),
            })),
            // The caller's default folder (the CLI's cache dir), checked when building.
            None => Ok(None),
        },
        "redis" => read_redis(settings, table).map(|redis| Some(StoreKind::Redis(redis))),
        other => Err(Error::configuration(
            field("kind"),
            format!("unknown store kind {other:?}; expected memory, file or redis"),
        )),
    }
}

/// A non-empty string setting of the store table.
fn plain_string(
    table: &toml::Table,
    key: &str,
    field: &impl Fn(&str) -> String,
) -> Result<Option<String>, Error> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(Error::configuration(
            field(key),
            "expected a non-empty string",
        )),
    }
}

/// A Redis URL: a string, `{ env = "VAR" }` or `{ file = "path" }` (it may hold a password),
/// `redis://` or `rediss://`.
fn redis_url(
    value: &toml::Value,
    field: &str,
    settings: &ProfileSettings<'_>,
) -> Result<String, Error> {
    let url = match value {
        toml::Value::String(s) => s.clone(),
        other => match other.clone().try_into::<super::SecretValue>() {
            Ok(secret) => secret
                .resolve(field, settings.base_dir())?
                .expose_secret()
                .to_owned(),
            Err(_) => {
                return Err(Error::configuration(
                    field.to_owned(),
                    "expected a URL string, { env = \"VAR\" } or { file = \"path\" }",
                ));
            }
        },
    };
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(Error::configuration(
            field.to_owned(),
            "expected a redis:// or rediss:// URL",
        ));
    }
    Ok(url)
}

/// The Redis settings of a `kind = "redis"` table.
fn read_redis(settings: &ProfileSettings<'_>, table: &toml::Table) -> Result<RedisSettings, Error> {
    let field = |key: &str| format!("{}.{key}", settings.field("store"));
    let mode = match plain_string(table, "mode", &field)?.as_deref() {
        None | Some("standalone") => RedisMode::Standalone,
        Some("cluster") => RedisMode::Cluster,
        Some("sentinel") => RedisMode::Sentinel,
        Some(other) => {
            return Err(Error::configuration(
                field("mode"),
                format!("unknown mode {other:?}; expected standalone, cluster or sentinel"),
            ));
        }
    };
    let urls = match (mode, table.get("url"), table.get("urls")) {
        (RedisMode::Standalone, Some(url), None) => {
            vec![redis_url(url, &field("url"), settings)?]
        }
        (RedisMode::Standalone, _, Some(_)) => {
            return Err(Error::configuration(
                field("urls"),
                "is for mode = \"cluster\" or \"sentinel\"; a standalone server takes url",
            ));
        }
        (RedisMode::Standalone, None, None) => {
            return Err(Error::configuration(
                field("url"),
                "is required for kind = \"redis\"",
            ));
        }
        (_, Some(_), _) => {
            return Err(Error::configuration(
                field("url"),
                "is for a standalone server; a cluster or sentinel takes urls",
            ));
        }
        (_, None, None) => {
            return Err(Error::configuration(
                field("urls"),
                format!(
                    "is required for mode = {:?}: {}",
                    if mode == RedisMode::Cluster {
                        "cluster"
                    } else {
                        "sentinel"
                    },
                    if mode == RedisMode::Cluster {
                        "the URLs of some of the cluster's nodes"
                    } else {
                        "the URLs of the sentinels"
                    }
                ),
            ));
        }
        (_, None, Some(toml::Value::Array(values))) if !values.is_empty() => values
            .iter()
            .map(|value| redis_url(value, &field("urls"), settings))
            .collect::<Result<Vec<_>, _>>()?,
        (_, None, Some(_)) => {
            return Err(Error::configuration(
                field("urls"),
                "expected a non-empty array of redis:// or rediss:// URLs",
            ));
        }
    };
    let master_name = plain_string(table, "master_name", &field)?;
    match (mode, &master_name) {
        (RedisMode::Sentinel, None) => {
            return Err(Error::configuration(
                field("master_name"),
                "is required for mode = \"sentinel\": the name the sentinels know the primary by",
            ));
        }
        (RedisMode::Standalone | RedisMode::Cluster, Some(_)) => {
            return Err(Error::configuration(
                field("master_name"),
                "is for mode = \"sentinel\" only",
            ));
        }
        _ => {}
    }
    let path = |key: &str| -> Result<Option<PathBuf>, Error> {
        Ok(plain_string(table, key, &field)?.map(|path| settings.resolve_path(&path)))
    };
    let (client_cert_file, client_key_file) = (path("client_cert_file")?, path("client_key_file")?);
    match (&client_cert_file, &client_key_file) {
        (Some(_), None) => {
            return Err(Error::configuration(
                field("client_key_file"),
                "is required with client_cert_file",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::configuration(
                field("client_cert_file"),
                "is required with client_key_file",
            ));
        }
        _ => {}
    }
    Ok(RedisSettings {
        mode,
        urls,
        master_name,
        ca_file: path("ca_file")?,
        client_cert_file,
        client_key_file,
        key_prefix: plain_string(table, "key_prefix", &field)?,
    })
}

/// Reports a store's first failure, then passes everything through.
struct Reported {
    inner: Arc<dyn TokenStore>,
    report: StoreUnavailable,
    reported: AtomicBool,
}

impl Reported {
    fn check<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result
            && !self.reported.swap(true, Ordering::AcqRel)
        {
            (self.report)(error);
        }
        result
    }
}

impl std::fmt::Debug for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[crate::async_trait]
impl TokenStore for Reported {
    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        self.check(self.inner.get(key).await)
    }

    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.check(self.inner.put(key, token).await)
    }

    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.check(self.inner.remove(key, token).await)
    }

    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.check(self.inner.try_lease(key, ttl).await)
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        self.check(self.inner.release(key, lease).await)
    }

    async fn renew(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.check(self.inner.renew(key, lease, ttl).await)
    }

    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        self.check(self.inner.failure(key).await)
    }

    async fn record_failure(&self, key: &str, failure: &FleetFailure) -> Result<(), StoreError> {
        self.check(self.inner.record_failure(key, failure).await)
    }

    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        self.check(self.inner.clear_failure(key).await)
    }

    fn change_cursor(&self, key: &str) -> ChangeCursor {
        self.inner.change_cursor(key)
    }

    async fn wait_for_change(
        &self,
        key: &str,
        cursor: &mut ChangeCursor,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let result = self.inner.wait_for_change(key, cursor, timeout).await;
        self.check(result)
    }
}

/// Files are keyed by profile and credential (as the CLI contract says): profiles of one client
/// may ask for different scopes, so they never share a token.
#[cfg(feature = "file-store")]
fn file_store(
    field: &str,
    dir: PathBuf,
    profile: &str,
    identity: &CredentialIdentity,
) -> Result<Option<SharedStore>, Error> {
    let store = crate::file_store::FileStore::new(dir)
        .map_err(|e| Error::configuration(field.to_owned(), e.to_string()))?;
    let key = format!("{profile}-{}", identity.secret_bound_key());
    Ok(Some((Arc::new(store), key)))
}

#[cfg(not(feature = "file-store"))]
fn file_store(
    field: &str,
    _dir: PathBuf,
    _profile: &str,
    _identity: &CredentialIdentity,
) -> Result<Option<SharedStore>, Error> {
    Err(Error::configuration(
        field.to_owned(),
        "kind = \"file\" needs tokensource built with the `file-store` feature",
    ))
}

/// Builds the Redis store of `settings` (connecting nowhere); errors name the store table's key.
#[cfg(feature = "redis")]
fn redis_store(
    field: &str,
    settings: &RedisSettings,
    seal: &crate::SecretSource,
) -> Result<Arc<dyn TokenStore>, Error> {
    use tokensource_redis::RedisTokenStore;
    let urls = settings.urls.iter().cloned();
    let seal_key = &seal.read_for(format!("{field}.seal_key"))?;
    let mut builder = match (settings.mode, &settings.master_name) {
        (RedisMode::Cluster, _) => RedisTokenStore::cluster_builder(urls, seal_key),
        (RedisMode::Sentinel, Some(master_name)) => {
            RedisTokenStore::sentinel_builder(urls, master_name, seal_key)
        }
        _ => RedisTokenStore::builder(&settings.urls[0], seal_key),
    }
    .seal_secret(seal.clone());
    if let Some(ca_file) = &settings.ca_file {
        builder = builder.ca_file(ca_file);
    }
    if let (Some(cert), Some(key)) = (&settings.client_cert_file, &settings.client_key_file) {
        builder = builder.client_identity_files(cert, key);
    }
    if let Some(prefix) = &settings.key_prefix {
        builder = builder.key_prefix(prefix.clone());
    }
    let store = builder.build().map_err(|error| {
        // The builder names its own settings; the configuration names the table's keys.
        let key = match error.field() {
            Some("redis_url") => "url",
            Some("credential_secret") => "seal_key",
            Some(
                key @ ("urls" | "master_name" | "ca_file" | "client_cert_file" | "client_key_file"
                | "key_prefix"),
            ) => key,
            _ => "",
        };
        let field = if key.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{key}")
        };
        error.with_field(field)
    })?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
fn redis_store(
    field: &str,
    _settings: &RedisSettings,
    _seal: &crate::SecretSource,
) -> Result<Arc<dyn TokenStore>, Error> {
    Err(Error::configuration(
        field.to_owned(),
        "kind = \"redis\" needs tokensource built with the `redis` feature",
    ))
}
