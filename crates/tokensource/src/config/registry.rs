//! Provider factories: how a profile's `provider = "..."` becomes a token source.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use tokensource_config::{CredentialIdentity, ProfileSettings, Provider, ProviderFactory};

/// The provider names a configuration may use, each with its factory. Registering a custom
/// provider is one call:
///
/// ```
/// use tokensource::config::{Config, Provider, Registry};
/// use tokensource::{StaticTokenSource, Token};
///
/// let mut registry = Registry::with_builtins();
/// registry.register("my-vault", |settings: &tokensource::config::ProfileSettings<'_>| {
///     let path = settings.required_str("path")?;
///     let token = Token::bearer(format!("vault-token-for-{}", path.len()))
///         .map_err(|e| tokensource::Error::configuration(settings.field("path"), e.to_string()))?;
///     Ok(Provider::new(StaticTokenSource::new(token)))
/// });
/// let config = Config::from_toml(r#"
///     [profiles.vault]
///     provider = "my-vault"
///     path = "secret/api"
/// "#)?;
/// let profile = config.build_with("vault", &registry)?;
/// assert_eq!(profile.name(), "vault");
/// # Ok::<(), tokensource::Error>(())
/// ```
pub struct Registry {
    factories: HashMap<String, Arc<dyn ProviderFactory>>,
}

impl Registry {
    /// A registry with no providers.
    pub fn empty() -> Self {
        Registry {
            factories: HashMap::new(),
        }
    }

    /// The registry of the providers compiled in, made once and shared.
    pub fn builtins() -> &'static Registry {
        static BUILTINS: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        BUILTINS.get_or_init(Registry::with_builtins)
    }

    /// A registry with the providers compiled in (features `younium`, `client-credentials`, `noyo`).
    pub fn with_builtins() -> Self {
        let mut registry = Registry::empty();
        super::builtin::register_all(&mut registry);
        registry
    }

    /// Registers `factory` under `name`, replacing any provider of that name.
    pub fn register(&mut self, name: impl Into<String>, factory: impl ProviderFactory + 'static) {
        self.factories.insert(name.into(), Arc::new(factory));
    }

    /// The factory registered under `name`.
    pub fn get(&self, name: &str) -> Option<&dyn ProviderFactory> {
        self.factories.get(name).map(|f| &**f)
    }

    /// The registered provider names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.factories.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::with_builtins()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("providers", &self.names())
            .finish()
    }
}
