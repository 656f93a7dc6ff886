//! [Younium](https://developer.younium.com) access tokens for
//! [tokensource](https://docs.rs/tokensource).
//!
//! [`YouniumTokenSource`] exchanges the client id and secret of a Younium API token for a JWT
//! access token, as Younium's "Get started" pages describe:
//!
//! - auth v1 (the default): `POST https://<host>/auth/token`, answered with `accessToken`,
//!   `refreshToken`, `expiresIn` (seconds) and `expires` (an RFC 1123 date);
//! - auth v2: `POST https://<host>/auth/v2/token`, the same fields in snake_case;
//!
//! both with `Content-Type: application/json` and the body `{"clientId": ..., "secret": ...}`,
//! on the host of the chosen [`YouniumEnvironment`] (or a custom token URL). Tokens live 24 hours;
//! wrap the source in a [`CachedTokenSource`](tokensource_core::CachedTokenSource) so that one
//! token serves every request until shortly before it expires.
//!
//! API requests need two more headers, which the source validates once and hands out with
//! [`YouniumTokenSource::api_headers`]: `legal-entity` (required when the tenant has several legal
//! entities; a wrong or missing one is answered with `403 Forbidden`) and `api-version`.
//!
//! The HTTP rules (timeouts, a 1 MiB body cap, no redirects, https only except to loopback) are
//! [`tokensource_http`]'s, set with [`HttpOptions`].
//!
//! # Example
//! Against the test kit's mock of Younium (in real use, drop `token_url` and pick an environment):
//!
//! ```
//! use tokensource_core::{CachedTokenSource, TokenSource};
//! use tokensource_testkit::{MockServer, YouniumMock};
//! use tokensource_younium::{YouniumAuthVersion, YouniumTokenSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tokensource_core::Error> {
//! let server = MockServer::younium(YouniumMock::new("client-id", "s3cret").auth_v2()).start().await;
//!
//! let younium = YouniumTokenSource::builder("client-id", "s3cret")
//!     .auth_version(YouniumAuthVersion::V2)
//!     .token_url(server.token_url())
//!     .legal_entity("Acme AB")
//!     .build()?;
//! let extra_headers = younium.api_headers();
//! let source = CachedTokenSource::new(younium);
//!
//! let token = source.token().await?;
//! assert!(token.refresh_token().is_some());
//! assert_eq!(extra_headers["legal-entity"], "Acme AB");
//! assert_eq!(server.token_hits(), 1);
//! # Ok(())
//! # }
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod environment;
mod expires;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod profile;
mod response;
mod source;

pub use environment::{YouniumAuthVersion, YouniumEnvironment};
/// The response parser, public for the fuzz targets and property tests only.
#[doc(hidden)]
pub use response::parse_token_response;
pub use source::{API_VERSION, LEGAL_ENTITY, YouniumBuilder, YouniumTokenSource};
pub use tokensource_http::HttpOptions;

/// The provider name errors carry.
/// The provider name errors carry and configuration files use (`provider = "younium"`).
pub const PROVIDER: &str = "younium";

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
