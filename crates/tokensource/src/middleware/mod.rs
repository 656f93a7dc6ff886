//! Authenticates [`reqwest`] requests with a
//! [`reqwest-middleware`](crate::reqwest_middleware) middleware.
//!
//! [`AuthMiddleware`] applies [`AuthRules`]: it takes a token from a
//! [`TokenSource`](crate::TokenSource) (normally a [`CachedTokenSource`](crate::CachedTokenSource),
//! so that the token is reused) and, for each request to an allowed origin, sets `Authorization`
//! and the provider's extra headers. The [tower layer](crate::tower) is built from the same rules.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tokensource::rules::AuthRules;
//! use tokensource::reqwest::header::{HeaderMap, HeaderValue};
//! use tokensource::reqwest_middleware::ClientBuilder;
//! use tokensource::{CachedTokenSource, Token, from_fn};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(CachedTokenSource::new(from_fn("my-api", || async {
//!     Ok(Token::builder("t0k3n")
//!         .expires_in(Duration::from_secs(3600))
//!         .build()?)
//! })));
//! let mut extra = HeaderMap::new();
//! extra.insert("api-version", HeaderValue::from_static("2.1"));
//!
//! let auth = AuthRules::builder(source)
//!     .extra_headers(extra)
//!     .allow_origin("https://api.younium.com")?
//!     .build()?
//!     .middleware();
//! let client = ClientBuilder::new(tokensource::reqwest::Client::new())
//!     .with(auth)
//!     .build();
//!
//! let response = client.get("https://api.younium.com/Invoices").send().await?;
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
//!
//! # Which requests get credentials
//! Only requests whose URL has one of the allowed [`Origin`]s (same scheme, host and port) get
//! `Authorization` and the extra headers; every other request goes out untouched, so a URL taken
//! from user input or from an API response cannot carry the token elsewhere. Building without an
//! allowed origin is an error ([`ConfigError::NoAllowedOrigin`]), and so is a plain `http` origin
//! other than loopback unless [`allow_insecure_http`](AuthRulesBuilder::allow_insecure_http)
//! is set.
//!
//! `Authorization` always replaces a value the request already had: for its origins the
//! middleware owns authentication. An extra header is added only when the request does not set
//! that header itself, so one call can override, say, `api-version`.
//!
//! Redirects are followed inside `reqwest`, after the middleware. `reqwest`'s redirect policy
//! removes `Authorization` (and cookies) when a redirect leaves the origin; the extra headers,
//! which are provider metadata such as Younium's `legal-entity`, are kept. When an extra header is
//! itself a secret, build the `reqwest::Client` with `redirect::Policy::none()`.
//!
//! # Rejected tokens
//! When the API answers `401 Unauthorized`, the middleware reports the token to
//! [`TokenSource::invalidate`](crate::TokenSource::invalidate), takes a new token and sends the
//! request once more, if the request can be cloned ([`reqwest::Request::try_clone`]: a body from
//! bytes or a string can, a stream cannot). It never retries more than once: a second 401 is
//! returned to the caller. A request that cannot be cloned is not retried: its 401 is returned,
//! and the next request gets the new token. When the source hands back the same token after the
//! invalidation (a [`StaticTokenSource`](crate::StaticTokenSource), say), the 401 is returned
//! without a pointless second request.
//!
//! # Errors
//! When the token source fails, the request is not sent and the caller gets
//! [`reqwest_middleware::Error::Middleware`] wrapping the [`tokensource::Error`](crate::Error).
//! Get it back with [`token_error`], or with `anyhow`'s `downcast_ref::<tokensource::Error>()` on
//! the wrapped error. That includes the case where the API answered 401 and the new token could
//! not be fetched.
//!
//! [`reqwest::Request::try_clone`]: crate::reqwest::Request::try_clone
//! [`reqwest_middleware::Error::Middleware`]: crate::reqwest_middleware::Error::Middleware

mod auth;

pub use self::auth::{AuthMiddleware, token_error};
pub use crate::rules::{AuthRules, AuthRulesBuilder, ConfigError, Origin};
