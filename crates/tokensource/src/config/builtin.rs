//! The providers compiled into this build: each crate maps its own configuration keys
//! (`profile::build`, behind its `config` feature); this is only the wiring.

use super::registry::Registry;

/// Registers every built-in provider enabled by features.
pub(crate) fn register_all(registry: &mut Registry) {
    #[cfg(feature = "client-credentials")]
    registry.register(
        tokensource_client_credentials::PROVIDER,
        tokensource_client_credentials::profile::build,
    );
    #[cfg(feature = "younium")]
    registry.register(
        tokensource_younium::PROVIDER,
        tokensource_younium::profile::build,
    );
    #[cfg(feature = "noyo")]
    registry.register(tokensource_noyo::PROVIDER, tokensource_noyo::profile::build);
    #[cfg(feature = "command")]
    registry.register(
        tokensource_command::PROVIDER,
        tokensource_command::profile::build,
    );
    let _ = registry;
}
