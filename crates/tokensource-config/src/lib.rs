//! The configuration API providers implement: a profile's settings ([`ProfileSettings`]), what
//! a provider factory returns ([`Provider`]), the factory trait ([`ProviderFactory`]), the
//! identity of a credential for shared stores ([`CredentialIdentity`]) and secret values
//! ([`SecretValue`]).
//!
//! Each provider crate implements its mapping from TOML keys to its builder behind its `config`
//! feature, on this crate alone; the `tokensource` facade reads files, registers the factories
//! by name and caches what they build. A provider never depends on the facade.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

mod secret;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokensource_core::{Error, TokenSource};
use url::Url;

pub use secrecy;
pub use secret::SecretValue;

/// Builds a provider from a profile's settings. Implemented for closures, so a factory is one
/// function: `fn(&ProfileSettings<'_>) -> Result<Provider, Error>`. Each provider crate offers
/// its own behind its `config` feature; the `tokensource` facade registers them by name.
pub trait ProviderFactory: Send + Sync {
    /// Builds the provider; errors name the field with [`ProfileSettings::field`].
    fn build(&self, settings: &ProfileSettings<'_>) -> Result<Provider, Error>;
}

impl<F> ProviderFactory for F
where
    F: Fn(&ProfileSettings<'_>) -> Result<Provider, Error> + Send + Sync,
{
    fn build(&self, settings: &ProfileSettings<'_>) -> Result<Provider, Error> {
        self(settings)
    }
}

/// What a factory returns: the (uncached) source, the extra headers API requests need, the API
/// origins credentials may be sent to, and the credential's identity for shared stores.
pub struct Provider {
    source: Arc<dyn TokenSource>,
    headers: HeaderMap,
    api_origins: Vec<Url>,
    identity: Option<CredentialIdentity>,
}

impl Provider {
    /// A provider around `source`.
    pub fn new(source: impl TokenSource + 'static) -> Self {
        Provider {
            source: Arc::new(source),
            headers: HeaderMap::new(),
            api_origins: Vec::new(),
            identity: None,
        }
    }

    /// Headers every API request made with this provider's tokens carries (e.g. Younium's
    /// `legal-entity` and `api-version`).
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// An API origin the provider's tokens are meant for (used as the middleware's default
    /// allow-list).
    #[must_use]
    pub fn with_api_origin(mut self, origin: Url) -> Self {
        self.api_origins.push(origin);
        self
    }

    /// The credential's identity, needed to share its tokens through a file or Redis store.
    #[must_use]
    pub fn with_identity(mut self, identity: CredentialIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The source, its extra headers, its API origins and its identity, for the configuration
    /// layer that caches the source.
    pub fn into_parts(
        self,
    ) -> (
        Arc<dyn TokenSource>,
        HeaderMap,
        Vec<Url>,
        Option<CredentialIdentity>,
    ) {
        (self.source, self.headers, self.api_origins, self.identity)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("source", &self.source)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("api_origins", &self.api_origins)
            .field("identity", &self.identity)
            .finish()
    }
}

/// Who a credential is: provider, token endpoint, client id, and the secret (kept only to derive
/// keys; never printed, never used as a key itself).
#[derive(Clone)]
pub struct CredentialIdentity {
    provider: String,
    endpoint: String,
    client_id: String,
    /// What else the token depends on (scopes, audience), so that differently scoped tokens of
    /// one client never share a store entry.
    qualifier: String,
    secret: SecretString,
    /// Where the secret is read from when it can change (a file), for stores that seal with it.
    source: Option<tokensource_core::SecretSource>,
}

impl CredentialIdentity {
    /// The identity of `client_id` at `endpoint` of `provider`, with its `secret`.
    pub fn new(
        provider: impl Into<String>,
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        secret: SecretString,
    ) -> Self {
        CredentialIdentity {
            provider: provider.into(),
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            qualifier: String::new(),
            secret,
            source: None,
        }
    }

    /// Where the secret is read from, when it can change while the process runs (a
    /// `{ file = ... }` secret): stores that seal tokens with the secret follow the file.
    #[must_use]
    pub fn with_secret_source(mut self, source: tokensource_core::SecretSource) -> Self {
        self.source = Some(source);
        self
    }

    /// The secret as a source: the one given with [`with_secret_source`](Self::with_secret_source),
    /// else the secret as it was when the identity was made.
    pub fn secret_source(&self) -> tokensource_core::SecretSource {
        self.source
            .clone()
            .unwrap_or_else(|| tokensource_core::SecretSource::from(self.secret.clone()))
    }

    /// Adds what else the token depends on besides the client (requested scopes, audience,
    /// resource): tokens that differ in it are stored under different keys.
    #[must_use]
    pub fn with_qualifier(mut self, qualifier: impl Into<String>) -> Self {
        self.qualifier = qualifier.into();
        self
    }

    /// A key naming the credential in a shared store: a SHA-256 of provider, endpoint and client
    /// id (not the secret: processes with a rotated secret find the same key, and the store's
    /// encryption, keyed by the secret, keeps them from reading each other's tokens).
    pub fn store_key(&self) -> String {
        hex_digest(&[
            &self.provider,
            &self.endpoint,
            &self.client_id,
            &self.qualifier,
        ])
    }

    /// A key that also changes with the secret, for stores that do not encrypt (the CLI's disk
    /// cache): a new secret never finds the old secret's token.
    pub fn secret_bound_key(&self) -> String {
        let secret_digest = hex_digest(&[self.secret.expose_secret()]);
        hex_digest(&[
            &self.provider,
            &self.endpoint,
            &self.client_id,
            &self.qualifier,
            &secret_digest,
        ])
    }

    /// The secret, for deriving a store's encryption key.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }
}

impl fmt::Debug for CredentialIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialIdentity")
            .field("provider", &self.provider)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("qualifier", &self.qualifier)
            .field("secret", &"** redacted **")
            .finish()
    }
}

fn hex_digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"tokensource/v1");
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// One profile's settings, handed to a [`ProviderFactory`]. Every accessor names the field
/// (`profiles.NAME.KEY`) in its errors, and keys no accessor read are reported as unknown.
pub struct ProfileSettings<'a> {
    name: &'a str,
    table: &'a toml::Table,
    base_dir: Option<&'a Path>,
    used: RefCell<BTreeSet<String>>,
}

/// Keys every profile may have, read by the configuration layer itself.
pub const COMMON_KEYS: [&str; 5] = [
    "provider",
    "refresh_margin_secs",
    "timeout_secs",
    "allow_insecure_http",
    "store",
];

impl<'a> ProfileSettings<'a> {
    #[doc(hidden)]
    pub fn new(name: &'a str, table: &'a toml::Table, base_dir: Option<&'a Path>) -> Self {
        ProfileSettings {
            name,
            table,
            base_dir,
            used: RefCell::new(COMMON_KEYS.iter().map(|k| (*k).to_owned()).collect()),
        }
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The full name of `key` in this profile, for error messages: `profiles.NAME.KEY`.
    pub fn field(&self, key: &str) -> String {
        format!("profiles.{}.{key}", self.name)
    }

    fn get(&self, key: &str) -> Option<&'a toml::Value> {
        self.used.borrow_mut().insert(key.to_owned());
        self.table.get(key)
    }

    fn expected(&self, key: &str, what: &str) -> Error {
        Error::configuration(self.field(key), format!("expected {what}"))
    }

    /// A string that must be present and non-empty.
    pub fn required_str(&self, key: &str) -> Result<&'a str, Error> {
        self.optional_str(key)?
            .ok_or_else(|| Error::configuration(self.field(key), "is required"))
    }

    /// A string, if present; an empty string is an error.
    pub fn optional_str(&self, key: &str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(Some(s)),
            Some(toml::Value::String(_)) => Err(self.expected(key, "a non-empty string")),
            Some(_) => Err(self.expected(key, "a string")),
        }
    }

    /// A boolean, if present.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(self.expected(key, "true or false")),
        }
    }

    /// A list of strings, if present.
    pub fn string_list(&self, key: &str) -> Result<Vec<String>, Error> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(self.expected(key, "a list of non-empty strings")),
                })
                .collect(),
            Some(_) => Err(self.expected(key, "a list of strings")),
        }
    }

    /// A table of strings (e.g. `extra_params = { audience = "https://api" }`), if present.
    pub fn string_table(&self, key: &str) -> Result<Vec<(String, String)>, Error> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Table(table)) => table
                .iter()
                .map(|(name, value)| match value {
                    toml::Value::String(s) => Ok((name.clone(), s.clone())),
                    _ => Err(self.expected(key, "a table of strings")),
                })
                .collect(),
            Some(_) => Err(self.expected(key, "a table of strings")),
        }
    }

    /// A secret (a literal, `{ env = "VAR" }` or `{ file = "path" }`), resolved now.
    pub fn secret(&self, key: &str) -> Result<SecretString, Error> {
        self.optional_secret(key)?
            .ok_or_else(|| Error::configuration(self.field(key), "is required"))
    }

    /// A secret, if present, resolved now.
    pub fn optional_secret(&self, key: &str) -> Result<Option<SecretString>, Error> {
        self.secret_value(key)?
            .map(|secret| secret.resolve(&self.field(key), self.base_dir))
            .transpose()
    }

    /// The secret value written for `key`, if present, not resolved.
    fn secret_value(&self, key: &str) -> Result<Option<SecretValue>, Error> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        value.clone().try_into().map(Some).map_err(|_| {
            self.expected(
                key,
                "a string, { env = \"VARIABLE\" } or { file = \"path\" }",
            )
        })
    }

    /// A secret as a [`SecretSource`](tokensource_core::SecretSource): a literal or `{ env =
    /// "VAR" }` is read now; a `{ file = "path" }` is read now (a missing file is an error before
    /// any request) and again before each fetch, so a rotated file is used without a restart.
    pub fn secret_source(&self, key: &str) -> Result<tokensource_core::SecretSource, Error> {
        self.optional_secret_source(key)?
            .ok_or_else(|| Error::configuration(self.field(key), "is required"))
    }

    /// A secret as a [`SecretSource`](tokensource_core::SecretSource), if present.
    pub fn optional_secret_source(
        &self,
        key: &str,
    ) -> Result<Option<tokensource_core::SecretSource>, Error> {
        self.secret_value(key)?
            .map(|secret| secret.source(&self.field(key), self.base_dir))
            .transpose()
    }

    /// A duration in whole or fractional seconds, if present; must be positive and at most a day.
    pub fn optional_secs(&self, key: &str) -> Result<Option<Duration>, Error> {
        let seconds = match self.get(key) {
            None => return Ok(None),
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(toml::Value::Float(f)) => *f,
            Some(_) => return Err(self.expected(key, "a number of seconds")),
        };
        if !(0.0..=86_400.0).contains(&seconds) {
            return Err(self.expected(key, "a number of seconds from 0 to 86400"));
        }
        Ok(Some(Duration::from_secs_f64(seconds)))
    }

    /// The whole request timeout (`timeout_secs`), if set.
    pub fn timeout(&self) -> Result<Option<Duration>, Error> {
        match self.optional_secs("timeout_secs")? {
            Some(d) if d.is_zero() => {
                Err(self.expected("timeout_secs", "a positive number of seconds"))
            }
            other => Ok(other),
        }
    }

    /// Whether plain `http` to non-loopback hosts is allowed (`allow_insecure_http`, default false).
    pub fn allow_insecure_http(&self) -> Result<bool, Error> {
        Ok(self.optional_bool("allow_insecure_http")?.unwrap_or(false))
    }

    /// Deserializes the whole profile (less the common keys) into `T`; use
    /// `#[serde(deny_unknown_fields)]` on `T` to reject unknown keys.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let mut table = self.table.clone();
        for key in COMMON_KEYS {
            table.remove(key);
        }
        self.used.borrow_mut().extend(table.keys().cloned());
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                Error::configuration(
                    format!("profiles.{}", self.name),
                    without_values(e.message()),
                )
            })
    }

    /// The HTTP options from the common keys `timeout_secs` and `allow_insecure_http` and the
    /// transport keys `proxy` (`system`, `none` or a URL), `ca_file`, `client_cert_file` and
    /// `client_key_file` (paths relative to the configuration file's folder, read again before
    /// each request).
    ///
    /// # Errors
    /// When a key has the wrong type, `proxy` is neither `system`, `none` nor an http(s) URL, or
    /// only one of `client_cert_file` and `client_key_file` is given. (The files themselves are
    /// checked when the endpoint is built.)
    pub fn http_options(&self) -> Result<tokensource_http::HttpOptions, Error> {
        let mut options = tokensource_http::HttpOptions::default()
            .with_allow_insecure_http(self.allow_insecure_http()?);
        if let Some(timeout) = self.timeout()? {
            options = options.with_timeout(timeout);
        }
        if let Some(proxy) = self.optional_str("proxy")? {
            let proxy = proxy
                .parse::<tokensource_http::Proxy>()
                .map_err(|e| e.with_field(self.field("proxy")))?;
            options = options.with_proxy(proxy);
        }
        if let Some(ca_file) = self.optional_str("ca_file")? {
            options = options.with_ca_file(self.resolve_path(ca_file));
        }
        match (
            self.optional_str("client_cert_file")?,
            self.optional_str("client_key_file")?,
        ) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                options = options
                    .with_client_identity_files(self.resolve_path(cert), self.resolve_path(key));
            }
            (Some(_), None) => {
                return Err(Error::configuration(
                    self.field("client_key_file"),
                    "is required with client_cert_file (it may name the same file)",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::configuration(
                    self.field("client_cert_file"),
                    "is required with client_key_file (it may name the same file)",
                ));
            }
        }
        Ok(options)
    }

    /// The `store` table, if the profile has one.
    #[doc(hidden)]
    pub fn store_table(&self) -> Result<Option<&'a toml::Table>, Error> {
        match self.get("store") {
            None => Ok(None),
            Some(toml::Value::Table(table)) => Ok(Some(table)),
            Some(_) => Err(self.expected(
                "store",
                "a table such as { kind = \"redis\", url = \"redis://...\" }",
            )),
        }
    }

    /// The folder relative paths resolve against.
    #[doc(hidden)]
    pub fn base_dir(&self) -> Option<&'a Path> {
        self.base_dir
    }

    /// `path` made absolute against the configuration's folder.
    #[doc(hidden)]
    pub fn resolve_path(&self, path: &str) -> std::path::PathBuf {
        match self.base_dir {
            Some(dir) if Path::new(path).is_relative() => dir.join(path),
            _ => Path::new(path).to_path_buf(),
        }
    }

    /// Keys present in the profile that nothing read.
    #[doc(hidden)]
    pub fn unknown_keys(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.table
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }
}

impl fmt::Debug for ProfileSettings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileSettings")
            .field("name", &self.name)
            .field("keys", &self.table.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A TOML or serde message without the value it quotes: serde words type errors as
/// `invalid type: string "…", expected a map`, and a value where a table or a number belongs may
/// be a secret written in the wrong place (a file missing its `[profiles.NAME]` line, say). The
/// kind of value found, what was expected and the line are kept; the value is not.
#[doc(hidden)]
pub fn without_values(message: &str) -> String {
    let Some((head, rest)) = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix).map(|rest| (*prefix, rest)))
    else {
        return message.to_owned();
    };
    // serde's own words come last: `, expected ...` describes the type, never the input.
    let (found, expected) = match rest.rfind(", expected ") {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    // `string "…"`, `integer `5``, `floating point `1.5``, `map`: the kind is before any quote.
    let kind = found
        .split(['"', '`'])
        .next()
        .unwrap_or_default()
        .trim_end();
    format!("{head}{kind}{expected}")
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
