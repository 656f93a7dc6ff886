//! Configuration of a [`RedisTokenStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokensource_core::Error;

use crate::envelope::Sealer;
use crate::key::DEFAULT_KEY_PREFIX;
use crate::store::{Inner, RedisTokenStore, Settings};

/// Builds a [`RedisTokenStore`]; see [`RedisTokenStore::builder`].
///
/// Every setting has a default; [`build`](RedisTokenStoreBuilder::build) reports a bad URL, an
/// empty secret or a zero timeout, naming the setting.
pub struct RedisTokenStoreBuilder {
    client: Result<redis::Client, Error>,
    sealer: Sealer,
    secret_is_empty: bool,
    settings: Settings,
}

impl RedisTokenStoreBuilder {
    pub(crate) fn new(url: &str, credential_secret: &SecretString) -> Self {
        RedisTokenStoreBuilder {
            // Parsing only: nothing connects until the first operation.
            client: redis::Client::open(url).map_err(|_| {
                // The URL may hold a password: it never goes into the error.
                Error::configuration(
                    "redis_url",
                    "not a Redis URL this build can use (expected redis://[user:password@]host[:port][/db] \
                     or unix:///path; rediss:// needs TLS support, which this build lacks)",
                )
            }),
            sealer: Sealer::new(credential_secret),
            secret_is_empty: credential_secret.expose_secret().is_empty(),
            settings: Settings::default(),
        }
    }

    /// How long one store operation may take, connecting included (default 500 ms). When Redis
    /// is down or slow, operations fail after this long and the cache fetches locally.
    #[must_use]
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.settings.op_timeout = timeout;
        self
    }

    /// The prefix of every Redis key (default [`DEFAULT_KEY_PREFIX`], `tokensource:v1`). Keys are
    /// `{prefix}:{key}:token`, `{prefix}:{key}:lease` and
    /// `{prefix}:{key}:failure`; changes are announced on `{prefix}:{key}:changed`.
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

    /// Builds the store. It does not connect: the first operation does, and the store
    /// reconnects by itself after Redis comes back, so this succeeds while Redis is down.
    ///
    /// # Errors
    /// A [`Configuration`](tokensource_core::ErrorKind::Configuration) error naming the setting:
    /// `redis_url` (not a usable URL), `credential_secret` (empty), `op_timeout` or
    /// `poll_interval` (zero), `key_prefix` (empty).
    pub fn build(self) -> Result<RedisTokenStore, Error> {
        let client = self.client?;
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
        Ok(RedisTokenStore {
            inner: Arc::new(Inner::new(client, self.sealer, settings)),
        })
    }
}

impl fmt::Debug for RedisTokenStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RedisTokenStoreBuilder");
        match &self.client {
            Ok(client) => d.field("server", &crate::store::ServerName(client)),
            Err(_) => d.field("server", &"<invalid URL>"),
        };
        d.field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            op_timeout: Duration::from_millis(500),
            poll_interval: Duration::from_secs(1),
            default_lifetime: Duration::from_secs(600),
        }
    }
}
