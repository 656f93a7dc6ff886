//! The per-profile `store` table: where cached tokens live.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::ExposeSecret;

use super::registry::{CredentialIdentity, ProfileSettings};
use crate::store::TokenStore;
use crate::{Error, RefreshPolicy};

/// Where a profile's tokens are cached, as named by `[profiles.NAME.store] kind = ...`.
///
/// `Debug` hides the password of a Redis URL.
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
    Redis {
        /// The server's URL (`redis://...`).
        url: String,
    },
}

// Not derived: a Redis URL may carry a password (`redis://user:password@host`).
impl std::fmt::Debug for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKind::Memory => f.write_str("Memory"),
            StoreKind::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            StoreKind::Redis { url } => {
                let shown = match url::Url::parse(url) {
                    Ok(mut parsed) if parsed.password().is_some() => {
                        let _ = parsed.set_password(Some("redacted"));
                        parsed.to_string()
                    }
                    Ok(parsed) => parsed.to_string(),
                    Err(_) => "<not a URL>".to_owned(),
                };
                f.debug_struct("Redis").field("url", &shown).finish()
            }
        }
    }
}

/// How profiles are built: the base refresh policy and where tokens are cached by default.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The policy each profile starts from (its `refresh_margin_secs` then applies).
    policy: RefreshPolicy,
    /// The store for profiles without a `store` table; `None` means memory.
    default_file_dir: Option<PathBuf>,
    /// Ignore every `store` table and cache in memory only (the CLI's `--no-cache`).
    memory_only: bool,
    /// Validate only: build no store (no connection, no folder created).
    check_only: bool,
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

    /// Validate the `store` tables without building any store.
    pub fn check_only(mut self) -> Self {
        self.check_only = true;
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
    // The secret that seals tokens in Redis: the store's `seal_key`, else the credential's own.
    let seal_key = match &kind {
        StoreKind::Redis { .. } => {
            let given = read_seal_key(settings)?;
            let own = identity
                .map(|identity| identity.secret().clone())
                .filter(|secret| !secret.expose_secret().is_empty());
            Some(given.or(own).ok_or_else(|| {
                Error::configuration(
                    format!("{}.seal_key", settings.field("store")),
                    "is required: this profile has no client secret to seal its stored tokens \
                     with (give one, e.g. seal_key = { env = \"TOKEN_SEAL_KEY\" })",
                )
            })?)
        }
        _ => None,
    };
    if options.memory_only || options.check_only || kind == StoreKind::Memory {
        return Ok(None);
    }
    let field = settings.field("store");
    let identity = identity.ok_or_else(|| {
        Error::configuration(
            field.clone(),
            "this provider does not say which credential it uses, so its tokens cannot be shared; use kind = \"memory\"",
        )
    })?;
    match kind {
        StoreKind::Memory => Ok(None),
        StoreKind::File { dir } => file_store(&field, dir, settings.name(), identity),
        StoreKind::Redis { url } => {
            let seal_key = seal_key.unwrap_or_else(|| identity.secret().clone());
            redis_store(&field, &url, identity, &seal_key)
        }
    }
}

/// The store table's `seal_key`, resolved (a literal, `{ env = ... }` or `{ file = ... }`).
fn read_seal_key(settings: &ProfileSettings<'_>) -> Result<Option<secrecy::SecretString>, Error> {
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
    let secret = secret.resolve(&field, settings.base_dir())?;
    if secret.expose_secret().is_empty() {
        return Err(Error::configuration(field, "must not be empty"));
    }
    Ok(Some(secret))
}

fn read_kind(settings: &ProfileSettings<'_>) -> Result<Option<StoreKind>, Error> {
    let Some(table) = settings.store_table()? else {
        return Ok(None);
    };
    let field = |key: &str| format!("{}.{key}", settings.field("store"));
    let string = |key: &str| -> Result<Option<String>, Error> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(value) => match value.clone().try_into::<super::SecretValue>() {
                Ok(secret) if key == "url" => Ok(Some(
                    secret
                        .resolve(&field(key), settings.base_dir())?
                        .expose_secret()
                        .to_owned(),
                )),
                _ => Err(Error::configuration(
                    field(key),
                    "expected a non-empty string",
                )),
            },
        }
    };
    for key in table.keys() {
        if !["kind", "url", "dir", "seal_key"].contains(&key.as_str()) {
            return Err(Error::configuration(
                field(key),
                "unknown key; expected kind, url, dir or seal_key",
            ));
        }
    }
    let kind = string("kind")?.ok_or_else(|| Error::configuration(field("kind"), "is required"))?;
    match kind.as_str() {
        "memory" => Ok(Some(StoreKind::Memory)),
        "file" => match string("dir")? {
            Some(dir) => Ok(Some(StoreKind::File {
                dir: settings.resolve_path(&dir),
            })),
            // The caller's default folder (the CLI's cache dir), checked when building.
            None => Ok(None),
        },
        "redis" => {
            let url = string("url")?.ok_or_else(|| {
                Error::configuration(field("url"), "is required for kind = \"redis\"")
            })?;
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(Error::configuration(
                    field("url"),
                    "expected a redis:// or rediss:// URL",
                ));
            }
            Ok(Some(StoreKind::Redis { url }))
        }
        other => Err(Error::configuration(
            field("kind"),
            format!("unknown store kind {other:?}; expected memory, file or redis"),
        )),
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

#[cfg(feature = "redis")]
fn redis_store(
    field: &str,
    url: &str,
    identity: &CredentialIdentity,
    seal_key: &secrecy::SecretString,
) -> Result<Option<SharedStore>, Error> {
    let store = tokensource_redis::RedisTokenStore::new(url, seal_key)
        .map_err(|e| e.with_field(field.to_owned()))?;
    Ok(Some((Arc::new(store), identity.store_key())))
}

#[cfg(not(feature = "redis"))]
fn redis_store(
    field: &str,
    _url: &str,
    _identity: &CredentialIdentity,
    _seal_key: &secrecy::SecretString,
) -> Result<Option<SharedStore>, Error> {
    Err(Error::configuration(
        field.to_owned(),
        "kind = \"redis\" needs tokensource built with the `redis` feature",
    ))
}
