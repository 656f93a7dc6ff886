//! [`AuthLayer`] and its builder.

use std::fmt;
use std::sync::Arc;

use super::replay::CloneBody;
use super::service::AuthService;
use crate::rules::AuthRules;

/// A [`Layer`](::tower::Layer) that wraps a service in an [`AuthService`] applying
/// [`AuthRules`]; see the [module documentation](crate::tower).
///
/// `R` says how request bodies are replayed after a 401 ([`CloneBody`] by default; see
/// [`ReplayBody`](super::ReplayBody)). Cloning the layer is cheap; clones share the configuration.
pub struct AuthLayer<R = CloneBody> {
    shared: Arc<Shared>,
    replay: R,
}

/// The configuration every [`AuthService`] built from one layer shares.
pub(super) struct Shared {
    pub(super) rules: AuthRules,
    pub(super) allow_relative_uris: bool,
}

impl Shared {
    /// Whether a request to `uri` gets credentials.
    pub(super) fn allows(&self, uri: &http::Uri) -> bool {
        if uri.authority().is_none() {
            return self.allow_relative_uris;
        }
        self.rules.allows_uri(uri)
    }
}

/// Builds an [`AuthLayer`] with settings of its own; see [`AuthLayer::builder`].
pub struct AuthLayerBuilder<R = CloneBody> {
    rules: AuthRules,
    allow_relative_uris: bool,
    replay: R,
}

impl AuthLayer {
    /// A layer applying `rules`, with the default settings (also [`AuthRules::layer`]).
    pub fn new(rules: AuthRules) -> Self {
        AuthLayer::builder(rules).build()
    }

    /// Starts building a layer applying `rules`, for the settings only a tower layer has.
    pub fn builder(rules: AuthRules) -> AuthLayerBuilder {
        AuthLayerBuilder {
            rules,
            allow_relative_uris: false,
            replay: CloneBody,
        }
    }
}

impl From<AuthRules> for AuthLayer {
    fn from(rules: AuthRules) -> Self {
        AuthLayer::new(rules)
    }
}

impl<R> AuthLayerBuilder<R> {
    /// Whether requests with a relative URI (a path, no scheme or authority) get credentials
    /// (default: no). Turn it on only when an inner layer sends every such request to an allowed
    /// origin, for example one that sets the base URL of the API.
    #[must_use]
    pub fn allow_relative_uris(mut self, allow: bool) -> Self {
        self.allow_relative_uris = allow;
        self
    }

    /// Sets how request bodies are copied to resend a request after a 401: [`CloneBody`] (the
    /// default), [`NoReplay`](super::NoReplay), or a function `Fn(&B) -> Option<B>`; see
    /// [`ReplayBody`](super::ReplayBody).
    #[must_use]
    pub fn replay_body<R2>(self, replay: R2) -> AuthLayerBuilder<R2> {
        AuthLayerBuilder {
            rules: self.rules,
            allow_relative_uris: self.allow_relative_uris,
            replay,
        }
    }

    /// Builds the layer.
    pub fn build(self) -> AuthLayer<R> {
        AuthLayer {
            shared: Arc::new(Shared {
                rules: self.rules,
                allow_relative_uris: self.allow_relative_uris,
            }),
            replay: self.replay,
        }
    }
}

impl<S, R: Clone> ::tower::Layer<S> for AuthLayer<R> {
    type Service = AuthService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::new(inner, Arc::clone(&self.shared), self.replay.clone())
    }
}

impl<R: Clone> Clone for AuthLayer<R> {
    fn clone(&self) -> Self {
        AuthLayer {
            shared: Arc::clone(&self.shared),
            replay: self.replay.clone(),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("rules", &self.rules)
            .field("allow_relative_uris", &self.allow_relative_uris)
            .finish()
    }
}

impl<R> fmt::Debug for AuthLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("config", &self.shared)
            .field("replay", &std::any::type_name::<R>())
            .finish()
    }
}

impl<R> fmt::Debug for AuthLayerBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayerBuilder")
            .field("rules", &self.rules)
            .field("allow_relative_uris", &self.allow_relative_uris)
            .field("replay", &std::any::type_name::<R>())
            .finish()
    }
}
