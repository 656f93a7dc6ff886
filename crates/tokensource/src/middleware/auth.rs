//! [`AuthMiddleware`].

use std::fmt;

use http::{Extensions, StatusCode};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use tokensource_core::{Error, async_trait};

use crate::rules::AuthRules;

/// A [`reqwest_middleware::Middleware`] that authenticates requests under [`AuthRules`]; see the
/// [module documentation](crate::middleware) for what it does.
///
/// Cloning it is cheap (one reference count); clones share the rules.
///
/// [`reqwest_middleware::Middleware`]: crate::reqwest_middleware::Middleware
#[derive(Clone)]
pub struct AuthMiddleware {
    rules: AuthRules,
}

impl AuthMiddleware {
    /// A middleware applying `rules` (also [`AuthRules::middleware`]).
    pub fn new(rules: AuthRules) -> Self {
        AuthMiddleware { rules }
    }

    /// The rules it applies.
    pub fn rules(&self) -> &AuthRules {
        &self.rules
    }
}

impl From<AuthRules> for AuthMiddleware {
    fn from(rules: AuthRules) -> Self {
        AuthMiddleware::new(rules)
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
        if !self.rules.allows_url(req.url()) {
            return next.run(req, extensions).await;
        }
        let token = self
            .rules
            .token()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let retry = req.try_clone();
        self.rules.apply(req.headers_mut(), &token);
        let response = next.clone().run(req, extensions).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let fresh = self
            .rules
            .after_unauthorized(&token, retry.is_some())
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let (Some(mut retry), Some(fresh)) = (retry, fresh) else {
            return Ok(response);
        };
        drop(response);
        self.rules.apply(retry.headers_mut(), &fresh);
        self.rules.replaying("middleware");
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
        f.debug_struct("AuthMiddleware")
            .field("rules", &self.rules)
            .finish()
    }
}
