//! Factories for the providers compiled into this build.

use super::registry::Registry;

/// Registers every built-in provider enabled by features.
pub(crate) fn register_all(registry: &mut Registry) {
    let _ = registry;
}
