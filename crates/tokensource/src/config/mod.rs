//! Configuration: swap providers without code changes.
//!
//! A TOML file names profiles; each becomes a ready, cached `Arc<dyn TokenSource>` plus the
//! extra headers its provider needs, in one call. The format is the one the `tokensource` CLI
//! reads (`docs/cli.md` in the repository):
//!
//! ```toml
//! default_profile = "partner"
//!
//! [profiles.partner]
//! provider = "client-credentials"
//! token_url = "https://auth.example.com/oauth/v2/token"
//! client_id = "my-client"
//! client_secret = { env = "PARTNER_SECRET" }   # a literal, { env = "VAR" } or { file = "path" }
//! refresh_margin_secs = 120                    # common keys: refresh_margin_secs, timeout_secs,
//! timeout_secs = 5                             # allow_insecure_http, and a [profiles.NAME.store]
//! ```
//!
//! Errors are [`ErrorKind::Configuration`](crate::ErrorKind) and name the field
//! (`profiles.partner.client_secret`); missing variables and files are found when the profile is
//! built, before any request. Unknown keys are errors.

mod builtin;
mod registry;
mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::HeaderMap;
use serde::Deserialize;
use url::Url;

pub use registry::{CredentialIdentity, ProfileSettings, Provider, ProviderFactory, Registry};
pub use store::{BuildOptions, RedisMode, RedisSettings, StoreKind, StoreUnavailable};
pub use tokensource_config::SecretValue;

use crate::{CachedTokenSource, Error, ErrorKind, TokenSource};

/// A parsed configuration file: profiles by name, and the default profile.
#[derive(Clone)]
pub struct Config {
    default_profile: Option<String>,
    profiles: BTreeMap<String, toml::Table>,
    base_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, toml::Table>,
}

impl Config {
    /// Parses a configuration from TOML text. Relative `{ file = ... }` paths resolve against
    /// the current directory unless [`with_base_dir`](Config::with_base_dir) says otherwise.
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            Error::configuration(
                "config",
                format!("{}{at}", tokensource_config::without_values(e.message())),
            )
        })?;
        if let Some(default) = &file.default_profile
            && !file.profiles.contains_key(default)
        {
            return Err(Error::configuration(
                "default_profile",
                format!("names the profile {default:?}, which is not defined"),
            ));
        }
        Ok(Config {
            default_profile: file.default_profile,
            profiles: file.profiles,
            base_dir: None,
        })
    }

    /// Reads and parses a configuration file; relative secret file paths resolve against its folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::configuration(
                "config",
                format!("the file {} cannot be read ({e})", path.display()),
            )
        })?;
        let config = Config::from_toml(&text)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config.with_base_dir(dir))
    }

    /// Sets the folder relative secret file paths resolve against.
    #[must_use]
    pub fn with_base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// The profile names, sorted.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// The file's `default_profile`.
    pub fn default_profile(&self) -> Option<&str> {
        self.default_profile.as_deref()
    }

    /// The profile to use: `requested` if given, else the default profile, else the only profile.
    pub fn select_profile<'a>(&'a self, requested: Option<&'a str>) -> Result<&'a str, Error> {
        let name = match requested.or(self.default_profile.as_deref()) {
            Some(name) => name,
            None if self.profiles.len() == 1 => self.profiles.keys().next().map_or("", |k| k),
            None => {
                return Err(Error::configuration(
                    "profile",
                    "no profile chosen: pass one, or set default_profile",
                ));
            }
        };
        if !self.profiles.contains_key(name) {
            return Err(Error::configuration(
                "profile",
                format!("no profile named {name:?} in the configuration"),
            ));
        }
        Ok(name)
    }

    /// Builds `profile` with the built-in providers and a memory store by default.
    pub fn build(&self, profile: &str) -> Result<Profile, Error> {
        self.build_with(profile, Registry::builtins())
    }

    /// Builds `profile` with the providers of `registry`.
    pub fn build_with(&self, profile: &str, registry: &Registry) -> Result<Profile, Error> {
        self.build_with_options(profile, registry, &BuildOptions::default())
    }

    /// Builds `profile` with the providers of `registry`; `options` give the base refresh policy
    /// and where tokens are cached when the profile has no `store` table (the CLI's disk cache).
    pub fn build_with_options(
        &self,
        profile: &str,
        registry: &Registry,
        options: &BuildOptions,
    ) -> Result<Profile, Error> {
        let (name, table) = self.profiles.get_key_value(profile).ok_or_else(|| {
            Error::configuration(
                "profile",
                format!("no profile named {profile:?} in the configuration"),
            )
        })?;
        let settings = ProfileSettings::new(name, table, self.base_dir.as_deref());
        let provider_name = settings.required_str("provider")?;
        let factory = registry.get(provider_name).ok_or_else(|| {
            Error::configuration(
                settings.field("provider"),
                format!(
                    "unknown provider {provider_name:?}; expected one of: {}",
                    registry.names().join(", ")
                ),
            )
        })?;
        // Providers name their own settings (`token_url`); say which profile they are in.
        let provider = factory.build(&settings).map_err(|e| {
            if e.kind() != ErrorKind::Configuration {
                return e;
            }
            let field = match e.field() {
                Some(name) if name.starts_with("profiles.") => name.to_owned(),
                Some(name) => settings.field(name),
                None => settings.field("provider"),
            };
            // A missing key is often a misspelt one: point at a look-alike the profile has.
            let key = field.rsplit('.').next().unwrap_or_default();
            let look_alike = settings
                .unknown_keys()
                .into_iter()
                .find(|unknown| edit_distance(unknown, key) <= 2);
            match look_alike {
                Some(typo) => Error::configuration(
                    field,
                    format!("{} (the profile has {typo:?}: a typo?)", e.detail()),
                ),
                None => e.with_field(field),
            }
        })?;

        let mut policy = options.policy().clone();
        if let Some(margin) = settings.optional_secs("refresh_margin_secs")? {
            policy = policy.with_margin(margin);
        }
        settings.timeout()?;
        settings.allow_insecure_http()?;
        let (source, headers, api_origins, identity) = provider.into_parts();
        let store = store::build(&settings, identity.as_ref(), options)?;

        let unknown = settings.unknown_keys();
        if let Some(key) = unknown.first() {
            return Err(Error::configuration(
                settings.field(key),
                format!("unknown key for provider {provider_name:?}"),
            ));
        }

        let mut cache = CachedTokenSource::builder(source)
            .policy(policy)
            .provider(provider_name);
        if let Some((store, key)) = store {
            cache = cache.store(store, key);
        }
        let cache = cache.build();
        Ok(Profile {
            name: name.clone(),
            provider: provider_name.to_owned(),
            source: Arc::new(cache.clone()),
            cache,
            headers,
            api_origins,
        })
    }

    /// Builds every profile without any network access and returns their names, or the first
    /// error (naming the profile and the field).
    pub fn check(&self, registry: &Registry) -> Result<Vec<String>, Error> {
        for name in self.profiles.keys() {
            self.build_with_options(name, registry, &BuildOptions::default().check_only())?;
        }
        Ok(self.profiles.keys().cloned().collect())
    }
}

/// The Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("default_profile", &self.default_profile)
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .field("base_dir", &self.base_dir)
            .finish()
    }
}

/// A built profile: a cached token source and what API requests made with it need.
#[derive(Clone)]
pub struct Profile {
    name: String,
    provider: String,
    source: Arc<dyn TokenSource>,
    /// The same cache as `source`, typed.
    cache: CachedTokenSource<Arc<dyn TokenSource>>,
    headers: HeaderMap,
    api_origins: Vec<Url>,
}

impl Profile {
    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The provider name (`younium`, `client-credentials`, `noyo`, or a registered one).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The cached token source.
    pub fn source(&self) -> Arc<dyn TokenSource> {
        Arc::clone(&self.source)
    }

    /// The cache behind [`source`](Profile::source) (the same one: they share tokens), for
    /// what only a cache offers: its refresh policy, or following its refreshes with
    /// [`next_token`](CachedTokenSource::next_token), as a sidecar writing a token file does.
    ///
    /// ```
    /// use tokensource::config::{Config, ProfileSettings, Provider, Registry};
    /// use tokensource::{StaticTokenSource, Token};
    ///
    /// let mut registry = Registry::empty();
    /// registry.register("static", |_: &ProfileSettings<'_>| {
    ///     Ok(Provider::new(StaticTokenSource::new(Token::bearer("api-key")?)))
    /// });
    /// let config = Config::from_toml(
    ///     "[profiles.p]\nprovider = \"static\"\nrefresh_margin_secs = 120\n",
    /// )?;
    /// let profile = config.build_with("p", &registry)?;
    /// assert_eq!(profile.cache().policy().margin().as_secs(), 120);
    /// # Ok::<(), tokensource::Error>(())
    /// ```
    pub fn cache(&self) -> &CachedTokenSource<Arc<dyn TokenSource>> {
        &self.cache
    }

    /// Headers API requests need besides `Authorization` (e.g. Younium's `legal-entity`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The API origins the provider's tokens are for, when the provider knows them.
    pub fn api_origins(&self) -> &[Url] {
        &self.api_origins
    }

    /// The HTTP integrations' rules for this profile: its source and extra headers, allowing the
    /// provider's API origins (Younium's environment, for instance). Allow more origins with
    /// [`allow_origin`](crate::rules::AuthRulesBuilder::allow_origin) before building.
    ///
    /// # Errors
    /// An API origin the provider reported does not parse as one.
    #[cfg(any(feature = "middleware", feature = "tower"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "middleware", feature = "tower"))))]
    pub fn auth_rules(&self) -> Result<crate::rules::AuthRulesBuilder, crate::rules::ConfigError> {
        let mut builder =
            crate::rules::AuthRules::builder(self.source()).extra_headers(self.headers.clone());
        for origin in &self.api_origins {
            builder = builder.allow(crate::rules::Origin::of_url(origin)?);
        }
        Ok(builder)
    }

    /// A reqwest middleware for this profile, for the provider's API origins.
    ///
    /// # Errors
    /// No API origin is known (configure your own rules with
    /// [`auth_rules`](Profile::auth_rules)), or one does not parse.
    #[cfg(feature = "middleware")]
    #[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
    pub fn middleware(
        &self,
    ) -> Result<crate::middleware::AuthMiddleware, crate::rules::ConfigError> {
        Ok(self.auth_rules()?.build()?.middleware())
    }

    /// A tower layer for this profile, for the provider's API origins.
    ///
    /// # Errors
    /// As for [`middleware`](Profile::middleware).
    #[cfg(feature = "tower")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    pub fn layer(&self) -> Result<crate::tower::AuthLayer, crate::rules::ConfigError> {
        Ok(self.auth_rules()?.build()?.layer())
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("source", &self.source)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("api_origins", &self.api_origins)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StaticTokenSource, Token};

    fn registry() -> Registry {
        let mut registry = Registry::empty();
        registry.register("static", |s: &ProfileSettings<'_>| {
            let value = s.secret("token")?;
            let token = Token::bearer(secrecy::ExposeSecret::expose_secret(&value).to_owned())
                .map_err(|e| Error::configuration(s.field("token"), e.to_string()))?;
            Ok(Provider::new(StaticTokenSource::new(token)))
        });
        registry
    }

    fn error(text: &str) -> Error {
        let config = match Config::from_toml(text) {
            Ok(config) => config,
            Err(e) => return e,
        };
        config.check(&registry()).unwrap_err()
    }

    #[test]
    fn selects_profiles() {
        let config = Config::from_toml(
            "default_profile = \"b\"\n[profiles.a]\nprovider = \"static\"\ntoken = \"x\"\n[profiles.b]\nprovider = \"static\"\ntoken = \"y\"\n",
        )
        .unwrap();
        assert_eq!(config.select_profile(None).unwrap(), "b");
        assert_eq!(config.select_profile(Some("a")).unwrap(), "a");
        assert!(config.select_profile(Some("c")).is_err());
        assert_eq!(config.check(&registry()).unwrap(), ["a", "b"]);
    }

    #[test]
    fn errors_name_profile_and_field() {
        let cases = [
            ("[profiles.p]\ntoken = \"x\"\n", "profiles.p.provider"),
            ("[profiles.p]\nprovider = \"nope\"\n", "profiles.p.provider"),
            ("[profiles.p]\nprovider = \"static\"\n", "profiles.p.token"),
            (
                "[profiles.p]\nprovider = \"static\"\ntoken = \"x\"\ncolour = 1\n",
                "profiles.p.colour",
            ),
            (
                "[profiles.p]\nprovider = \"static\"\ntoken = \"x\"\ntimeout_secs = -1\n",
                "profiles.p.timeout_secs",
            ),
            (
                "[profiles.p]\nprovider = \"static\"\ntoken = { env = \"TOKENSOURCE_UNSET_FOR_TEST\" }\n",
                "profiles.p.token",
            ),
            (
                "[profiles.p]\nprovider = \"static\"\ntoken = \"x\"\n[profiles.p.store]\nkind = \"floppy\"\n",
                "profiles.p.store",
            ),
            (
                "default_profile = \"zz\"\n[profiles.p]\nprovider = \"static\"\n",
                "default_profile",
            ),
            ("bogus = 1\n", "config"),
            ("[profiles.p\n", "config"),
        ];
        for (text, field) in cases {
            let e = error(text);
            assert_eq!(e.kind(), ErrorKind::Configuration, "{text}");
            assert!(e.to_string().contains(field), "{text}: {e}");
        }
    }

    #[tokio::test]
    async fn builds_a_cached_source() {
        let config = Config::from_toml(
            "[profiles.p]\nprovider = \"static\"\ntoken = \"abc\"\nrefresh_margin_secs = 5\n",
        )
        .unwrap();
        let profile = config.build_with("p", &registry()).unwrap();
        assert_eq!(
            profile.source().token().await.unwrap().expose_secret(),
            "abc"
        );
        assert!(!format!("{profile:?}").contains("abc"));
    }
}
