//! [`AuthLayer`] and its builder.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use tokensource_core::TokenSource;

use super::replay::CloneBody;
use super::service::AuthService;
use crate::scope::{ConfigError, Origin, Scope, ScopeBuilder};

/// A [`Layer`](::tower::Layer) that wraps a service in an [`AuthService`]; see the
/// [module documentation](crate::tower) for the rules it follows.
///
/// `R` says how request bodies are replayed after a 401 ([`CloneBody`] by default; see
/// [`ReplayBody`](super::ReplayBody)). Cloning the layer is cheap; clones share the configuration.
pub struct AuthLayer<R = CloneBody> {
    shared: Arc<Shared>,
    replay: R,
}

/// The configuration every [`AuthService`] built from one layer shares.
pub(super) struct Shared {
    pub(super) scope: Scope,
    pub(super) allow_relative_uris: bool,
}

impl Shared {
    /// Whether a request to `uri` gets credentials.
    pub(super) fn allows(&self, uri: &http::Uri) -> bool {
        if uri.authority().is_none() {
            return self.allow_relative_uris;
        }
        self.scope.allows_uri(uri)
    }
}

/// Builds an [`AuthLayer`]; see [`AuthLayer::builder`].
pub struct AuthLayerBuilder<R = CloneBody> {
    scope: ScopeBuilder,
    allow_relative_uris: bool,
    replay: R,
}

impl AuthLayer {
    /// Starts building a layer that takes its tokens from `source`. Pass a
    /// [`CachedTokenSource`](crate::CachedTokenSource): the service asks the source for a token on
    /// every request.
    pub fn builder(source: Arc<dyn TokenSource>) -> AuthLayerBuilder {
        AuthLayerBuilder {
            scope: ScopeBuilder::new(source),
            allow_relative_uris: false,
            replay: CloneBody,
        }
    }
}

impl<R> AuthLayerBuilder<R> {
    /// Headers the provider requires besides `Authorization` (for example Younium's
    /// `legal-entity` and `api-version`), added to each request to an allowed origin that does not
    /// set them itself. Replaces headers given before.
    #[must_use]
    pub fn extra_headers(mut self, headers: HeaderMap) -> Self {
        self.scope.extra_headers(headers);
        self
    }

    /// Allows an origin such as `"https://api.younium.com"`: requests to it get credentials.
    /// Call it once per origin.
    ///
    /// # Errors
    /// [`ConfigError::InvalidOrigin`] when `origin` is not a scheme, host and optional port.
    pub fn allow_origin(self, origin: &str) -> Result<Self, ConfigError> {
        Ok(self.allow(Origin::parse(origin)?))
    }

    /// Allows an already parsed origin.
    #[must_use]
    pub fn allow(mut self, origin: Origin) -> Self {
        self.scope.allow(origin);
        self
    }

    /// Allows plain `http` origins on hosts other than loopback (default: refused, because the
    /// token would travel unencrypted). Only for trusted networks.
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.scope.allow_insecure_http(allow);
        self
    }

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
            scope: self.scope,
            allow_relative_uris: self.allow_relative_uris,
            replay,
        }
    }

    /// Builds the layer.
    ///
    /// # Errors
    /// [`ConfigError::NoAllowedOrigin`] when no origin was allowed (even with
    /// [`allow_relative_uris`](Self::allow_relative_uris)), [`ConfigError::InsecureOrigin`] for a
    /// plain `http` origin other than loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http).
    pub fn build(self) -> Result<AuthLayer<R>, ConfigError> {
        Ok(AuthLayer {
            shared: Arc::new(Shared {
                scope: self.scope.build()?,
                allow_relative_uris: self.allow_relative_uris,
            }),
            replay: self.replay,
        })
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
        let mut d = f.debug_struct("AuthConfig");
        self.scope.debug_fields(&mut d);
        d.field("allow_relative_uris", &self.allow_relative_uris)
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
        let mut d = f.debug_struct("AuthLayerBuilder");
        self.scope.debug_fields(&mut d);
        d.field("allow_relative_uris", &self.allow_relative_uris)
            .field("replay", &std::any::type_name::<R>())
            .finish()
    }
}
