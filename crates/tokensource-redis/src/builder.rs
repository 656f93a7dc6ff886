//! Configuration of a [`RedisTokenStore`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokensource_core::Error;

use crate::connection::{Connector, Timeouts, Topology};
use crate::envelope::Sealer;
use crate::key::DEFAULT_KEY_PREFIX;
use crate::store::{Inner, RedisTokenStore, Settings};
use crate::tls::{TlsInput, TlsRenewal, TlsSettings, read_pem_file};

/// Builds a [`RedisTokenStore`]; see [`RedisTokenStore::builder`] (one server),
/// [`RedisTokenStore::cluster_builder`] (a Redis Cluster) and
/// [`RedisTokenStore::sentinel_builder`] (a primary watched by Sentinel).
///
/// Every setting has a default; [`build`](RedisTokenStoreBuilder::build) reports a bad URL, an
/// empty secret, a zero timeout or a bad TLS file, naming the setting.
///
/// ```no_run
/// use tokensource_redis::{RedisTokenStore, SecretString};
///
/// # fn run() -> Result<(), tokensource_core::Error> {
/// let secret = SecretString::from("the client secret");
/// let store = RedisTokenStore::sentinel_builder(
///     ["rediss://10.0.0.1:26379", "rediss://10.0.0.2:26379"],
///     "mymaster",
///     &secret,
/// )
/// .ca_file("/etc/redis/ca.pem")
/// .client_identity_files("/etc/redis/client.pem", "/etc/redis/client.key")
/// .key_prefix("team-a:tokens")
/// .build()?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
pub struct RedisTokenStoreBuilder {
    topology: Topology,
    sealer: Sealer,
    secret_is_empty: bool,
    tls: TlsSettings,
    /// What the TLS settings were made from, to make them again when a file changes.
    tls_inputs: Vec<TlsInput>,
    /// The setting named when TLS settings meet plain `redis://` URLs.
    tls_field: Option<&'static str>,
    /// The first TLS setting that could not be used; reported by `build`.
    tls_error: Option<Error>,
    settings: Settings,
}

impl RedisTokenStoreBuilder {
    /// The one place a store's seal is made from the credential's secret.
    pub(crate) fn new(topology: Topology, credential_secret: &SecretString) -> Self {
        RedisTokenStoreBuilder {
            topology,
            sealer: Sealer::new(credential_secret),
            secret_is_empty: credential_secret.expose_secret().is_empty(),
            tls: TlsSettings::default(),
            tls_inputs: Vec::new(),
            tls_field: None,
            tls_error: None,
            settings: Settings::default(),
        }
    }

    /// Seals with `secret` as it is at each operation instead of the secret given to the
    /// builder: with a [`SecretSource::file`](tokensource_core::SecretSource::file), a rotated
    /// secret file seals with the new secret as soon as the file holds it, so that processes
    /// that read the new file share tokens again (those still on the old secret cannot open the
    /// new values and fetch for themselves meanwhile). While the file cannot be read, values
    /// read as absent and nothing is written.
    #[must_use]
    pub fn seal_secret(mut self, secret: tokensource_core::SecretSource) -> Self {
        self.secret_is_empty = secret.read().is_ok_and(|s| s.expose_secret().is_empty());
        self.sealer = Sealer::from_source(secret);
        self
    }

    /// How long one store operation may take, connecting included (default 500 ms). When Redis
    /// is down or slow, operations fail after this long and the cache fetches locally.
    #[must_use]
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.settings.op_timeout = timeout;
        self
    }

    /// For a Redis Cluster or a Sentinel-watched primary: how long an operation that lost its
    /// primary (refused or dropped connection, timeout, `READONLY` from a demoted primary,
    /// `CLUSTERDOWN`) keeps looking for the new one before it fails and the cache fetches
    /// locally (default 15 s). This keeps the fleet's single flight through a failover. The
    /// patience is given once per outage, and only to a store that has reached Redis before:
    /// once an outage has lasted this long, or when Redis was never reached, operations fail
    /// after [`op_timeout`](Self::op_timeout). Callers holding a valid token never wait for it.
    #[must_use]
    pub fn failover_timeout(mut self, timeout: Duration) -> Self {
        self.settings.failover_timeout = timeout;
        self
    }

    /// The prefix of every Redis key (default [`DEFAULT_KEY_PREFIX`], `tokensource:v2`). Keys
    /// are `{prefix}:{key}:token`, `{prefix}:{key}:lease` and `{prefix}:{key}:failure`;
    /// changes are announced on `{prefix}:{key}:changed`.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.key_prefix = prefix.into();
        self
    }

    /// The longest wait between two reads of a process waiting for another's refresh while
    /// change announcements do not reach it (default 1 s; the waits start shorter and grow,
    /// jittered). With the subscription up, waiters are woken instead.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// The lifetime assumed for a token whose expiry is unknown, to order tokens and set their
    /// Redis time to live (default 10 minutes, like
    /// [`RefreshPolicy`](tokensource_core::RefreshPolicy)'s default).
    #[must_use]
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.default_lifetime = lifetime;
        self
    }

    /// Trusts the PEM root certificates in the file at `path`, in addition to the system's,
    /// for `rediss://` servers (a private CA). The file is read now (a file that cannot be read
    /// or holds no valid certificate fails [`build`](Self::build), naming `ca_file`) and again
    /// before each store operation: when it, or a client certificate or key file, changed, new
    /// connections use the new files (a renewed certificate needs no restart); a file that cannot
    /// be used then leaves the connections made as they are.
    #[must_use]
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.tls_inputs
            .push(TlsInput::CaFile(path.as_ref().to_path_buf()));
        let pem = read_pem_file(path.as_ref(), "ca_file");
        self.with_tls("ca_file", |tls| tls.add_roots(&pem?, "ca_file"))
    }

    /// Trusts the PEM root certificates in `pem`, in addition to the system's; as
    /// [`ca_file`](Self::ca_file), naming `ca_pem` in errors.
    #[must_use]
    pub fn ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls_inputs.push(TlsInput::CaPem(pem.as_ref().to_vec()));
        self.with_tls("ca_pem", |tls| tls.add_roots(pem.as_ref(), "ca_pem"))
    }

    /// Presents this client certificate to `rediss://` servers that ask for one (Redis
    /// `tls-auth-clients`): `cert_pem` is the PEM chain (end entity first), `key_pem` its PEM
    /// private key (PKCS#8, PKCS#1 or SEC1). A chain without a certificate, or a key that is
    /// missing, unsupported or not the certificate's, fails [`build`](Self::build), naming
    /// `client_cert_pem` or `client_key_pem`.
    #[must_use]
    pub fn client_identity(
        mut self,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Self {
        self.tls_inputs.push(TlsInput::IdentityPem(
            cert_pem.as_ref().to_vec(),
            zeroize::Zeroizing::new(key_pem.as_ref().to_vec()),
        ));
        self.with_tls("client_cert_pem", |tls| {
            tls.set_identity(
                cert_pem.as_ref(),
                key_pem.as_ref(),
                ("client_cert_pem", "client_key_pem"),
            )
        })
    }

    /// As [`client_identity`](Self::client_identity), from files (which may be the same file);
    /// errors name `client_cert_file` or `client_key_file`.
    #[must_use]
    pub fn client_identity_files(
        mut self,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Self {
        self.tls_inputs.push(TlsInput::IdentityFiles(
            cert_path.as_ref().to_path_buf(),
            key_path.as_ref().to_path_buf(),
        ));
        let cert = read_pem_file(cert_path.as_ref(), "client_cert_file");
        let key = read_pem_file(key_path.as_ref(), "client_key_file").map(zeroize::Zeroizing::new);
        self.with_tls("client_cert_file", |tls| {
            tls.set_identity(&cert?, &key?, ("client_cert_file", "client_key_file"))
        })
    }

    fn with_tls(
        mut self,
        field: &'static str,
        set: impl FnOnce(&mut TlsSettings) -> Result<(), Error>,
    ) -> Self {
        self.tls_field.get_or_insert(field);
        if let Err(error) = set(&mut self.tls) {
            self.tls_error.get_or_insert(error);
        }
        self
    }

    /// Builds the store. It does not connect: the first operation does, and the store
    /// reconnects by itself after Redis comes back, so this succeeds while Redis is down.
    ///
    /// # Errors
    /// A [`Configuration`](tokensource_core::ErrorKind::Configuration) error naming the setting:
    /// `redis_url` or `urls` (not a usable URL; mixed `redis://` and `rediss://`; `#insecure`,
    /// which would turn certificate verification off), `master_name` (empty),
    /// `credential_secret` (empty), `op_timeout` or `poll_interval` (zero), `key_prefix`
    /// (empty), a TLS setting (a file that cannot be read or does not hold what it should; TLS
    /// settings with `redis://` URLs).
    pub fn build(self) -> Result<RedisTokenStore, Error> {
        if let Some(error) = self.tls_error {
            return Err(error);
        }
        if self.secret_is_empty {
            return Err(Error::configuration(
                "credential_secret",
                "must not be empty: the token encryption key is derived from it",
            ));
        }
        let settings = self.settings;
        if settings.op_timeout.is_zero() {
            return Err(Error::configuration(
                "op_timeout",
                "must be longer than zero",
            ));
        }
        if settings.poll_interval.is_zero() {
            return Err(Error::configuration(
                "poll_interval",
                "must be longer than zero",
            ));
        }
        if settings.key_prefix.is_empty() {
            return Err(Error::configuration("key_prefix", "must not be empty"));
        }
        let tls_field = self.tls_field.unwrap_or("ca_file");
        let timeouts = Timeouts {
            op: settings.op_timeout,
            failover: settings.failover_timeout,
        };
        let connector = Connector::new(&self.topology, &self.tls, tls_field, timeouts)?;
        // With TLS files, the connector is made again when they change.
        let renewal = TlsRenewal::new(self.topology, tls_field, timeouts, self.tls_inputs)?;
        Ok(RedisTokenStore {
            inner: Arc::new(Inner::new(connector, renewal, self.sealer, settings)),
        })
    }
}

impl fmt::Debug for RedisTokenStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URLs may hold passwords: only the mode and the number of servers are shown.
        let servers = match &self.topology {
            Topology::Standalone(_) => "standalone".to_owned(),
            Topology::Cluster(urls) => format!("cluster of {} seed nodes", urls.len()),
            Topology::Sentinel {
                sentinels,
                master_name,
            } => format!("{master_name:?} through {} sentinels", sentinels.len()),
        };
        f.debug_struct("RedisTokenStoreBuilder")
            .field("servers", &servers)
            .field("tls", &self.tls)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            op_timeout: Duration::from_millis(500),
            failover_timeout: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            default_lifetime: Duration::from_secs(600),
        }
    }
}
