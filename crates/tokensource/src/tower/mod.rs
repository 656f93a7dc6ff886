//! Authenticates [`http::Request`]s with a [`tower`] layer.
//!
//! [`AuthLayer`] wraps an HTTP client service (anything that is a
//! `Service<http::Request<B>, Response = http::Response<R>>`, such as a `hyper-util` client) in an
//! [`AuthService`] that takes a token from a [`TokenSource`](crate::TokenSource) and, for each
//! request to an origin it was told about, sets `Authorization` and the provider's extra headers.
//! It follows the same rules as the reqwest middleware (feature `middleware`):
//!
//! - **Origins**: only requests whose URI has one of the allowed [`Origin`]s (scheme, host and
//!   port) get credentials; others go through untouched. Building without an allowed origin is an
//!   error. A relative URI (no scheme or authority) gets no credentials unless
//!   [`allow_relative_uris`](AuthLayerBuilder::allow_relative_uris) is set, for stacks where an
//!   inner layer adds the base URL.
//! - **Headers**: `Authorization` replaces any value the request had; an extra header is added only
//!   when the request does not set it.
//! - **401**: the token is reported to [`TokenSource::invalidate`](crate::TokenSource::invalidate),
//!   and the request is sent once more with a new token if its body can be replayed (see
//!   [`ReplayBody`]), never more than once. Otherwise the 401 is returned.
//! - **Errors**: the service's error is a [`BoxError`](crate::BoxError). When the token source
//!   fails it holds the [`tokensource::Error`](crate::Error): get it back with
//!   `error.downcast_ref::<tokensource::Error>()`. Errors from the inner service are boxed as they
//!   are.
//!
//! Put a redirect-following layer *outside* this one (`ServiceBuilder::new().layer(follow_redirect)
//! .layer(auth)`), so that every hop passes through [`AuthService`] and is checked against the
//! allowed origins.
//!
//! # Bodies and replay
//! By default ([`CloneBody`]) the body type must be [`Clone`] (`String`, `Bytes`,
//! `http_body_util::Full`, ...) and every request to an allowed origin is cloned before it is
//! sent, so that it can be replayed after a 401. For a body that is not `Clone`, pass a function
//! that returns a copy when it can (`|body: &MyBody| -> Option<MyBody>`), or [`NoReplay`] to never
//! retry, to [`AuthLayerBuilder::replay_body`].
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use http::{Request, Response, StatusCode};
//! use tokensource::rules::AuthRules;
//! use tokensource::{CachedTokenSource, Token, from_fn};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let source = Arc::new(CachedTokenSource::new(from_fn("my-api", || async {
//!     Ok(Token::builder("t0k3n")
//!         .expires_in(Duration::from_secs(3600))
//!         .build()?)
//! })));
//! let layer = AuthRules::builder(source)
//!     .allow_origin("https://api.example.com")?
//!     .build()?
//!     .layer();
//!
//! // Stands for an HTTP client: answers 200 when the request carries the token.
//! let client = service_fn(|req: Request<String>| async move {
//!     let ok = req.headers()["authorization"] == "Bearer t0k3n";
//!     let status = if ok { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
//!     Ok::<_, Infallible>(Response::builder().status(status).body(String::new()).unwrap())
//! });
//! let mut service = layer.layer(client);
//!
//! let request = Request::get("https://api.example.com/items").body(String::new())?;
//! let response = service.ready().await?.call(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok::<(), tokensource::BoxError>(())
//! # }).unwrap();
//! ```

mod layer;
mod replay;
mod service;

pub use self::layer::{AuthLayer, AuthLayerBuilder};
pub use self::replay::{CloneBody, NoReplay, ReplayBody};
pub use self::service::{AuthService, ResponseFuture};
pub use crate::rules::{AuthRules, AuthRulesBuilder, ConfigError, Origin};
