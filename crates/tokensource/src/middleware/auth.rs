//! [`AuthMiddleware`] and its builder.

use std::fmt;
use std::sync::Arc;

use http::{Extensions, HeaderMap, StatusCode};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use tokensource_core::{Error, Token, TokenSource, async_trait};

use crate::scope::{ConfigError, Origin, Scope, ScopeBuilder};

/// A [`reqwest_middleware::Middleware`] that authenticates requests with tokens from a
/// [`TokenSource`]; see the [module documentation](crate::middleware) for the rules it follows.
///
/// Cloning it is cheap (one reference count); clones share the configuration.
///
/// [`reqwest_middleware::Middleware`]: crate::reqwest_middleware::Middleware
#[derive(Clone)]
pub struct AuthMiddleware {
    scope: Arc<Scope>,
}

/// Builds an [`AuthMiddleware`]; see [`AuthMiddleware::builder`].
pub struct AuthMiddlewareBuilder {
    scope: ScopeBuilder,
}

impl AuthMiddleware {
    /// Starts building a middleware that takes its tokens from `source`. Pass a
    /// [`CachedTokenSource`](crate::CachedTokenSource): the middleware asks the source for a token
    /// on every request.
    pub fn builder(source: Arc<dyn TokenSource>) -> AuthMiddlewareBuilder {
        AuthMiddlewareBuilder {
            scope: ScopeBuilder::new(source),
        }
    }

    /// The token for a request, as a middleware error when the source fails.
    async fn token(&self) -> reqwest_middleware::Result<Token> {
        self.scope
            .source
            .token()
            .await
            .map_err(reqwest_middleware::Error::middleware)
    }
}

impl AuthMiddlewareBuilder {
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

    /// Builds the middleware.
    ///
    /// # Errors
    /// [`ConfigError::NoAllowedOrigin`] when no origin was allowed,
    /// [`ConfigError::InsecureOrigin`] for a plain `http` origin other than loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http).
    pub fn build(self) -> Result<AuthMiddleware, ConfigError> {
        Ok(AuthMiddleware {
            scope: Arc::new(self.scope.build()?),
        })
    }
}

#[async_trait]
impl Middleware for AuthMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if !self.scope.allows_url(req.url()) {
            return next.run(req, extensions).await;
        }
        let token = self.token().await?;
        let retry = req.try_clone();
        self.scope.apply(req.headers_mut(), &token);
        let response = next.clone().run(req, extensions).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }

        self.scope.source.invalidate(&token).await;
        let Some(mut retry) = retry else {
            return Ok(response);
        };
        let fresh = self.token().await?;
        if fresh.same_secret(&token) {
            return Ok(response);
        }
        drop(response);
        self.scope.apply(retry.headers_mut(), &fresh);
        next.run(retry, extensions).await
    }
}

/// The [`tokensource::Error`](crate::Error) inside `error`, when the token source is what failed.
///
/// ```
/// use tokensource::middleware::token_error;
/// use tokensource::{Error, ErrorKind};
///
/// let err = tokensource::reqwest_middleware::Error::middleware(Error::credentials_rejected(
///     "younium", 401, None,
/// ));
/// assert_eq!(token_error(&err).map(Error::kind), Some(ErrorKind::CredentialsRejected));
/// ```
pub fn token_error(error: &reqwest_middleware::Error) -> Option<&Error> {
    if let reqwest_middleware::Error::Middleware(inner) = error {
        inner.downcast_ref::<Error>()
    } else {
        None
    }
}

impl fmt::Debug for AuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AuthMiddleware");
        self.scope.debug_fields(&mut d);
        d.finish()
    }
}

impl fmt::Debug for AuthMiddlewareBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AuthMiddlewareBuilder");
        self.scope.debug_fields(&mut d);
        d.finish()
    }
}
