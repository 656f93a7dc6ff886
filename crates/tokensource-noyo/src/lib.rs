//! [Noyo](https://noyo.com) access tokens for [tokensource](https://docs.rs/tokensource).
//!
//! [`NoyoTokenSource`] exchanges an API key's `CLIENT_ID` and `CLIENT_SECRET` for a short-lived
//! JWT, as Noyo's authentication page describes: `POST https://accounts.noyo.com/auth/public/token`
//! with `Authorization: Basic base64(CLIENT_ID:CLIENT_SECRET)`, `Content-Type: application/json`
//! and the body `{"grant_type": "client_credentials"}`, answered with
//! `{"access_token", "expires_in", "token_type": "Bearer"}` where `expires_in` is in
//! **milliseconds**. The JWT's `exp` claim bounds the lifetime too; see [`NoyoTokenSource`] for why
//! that matters with Noyo.
//!
//! Wrap the source in a [`CachedTokenSource`](tokensource_core::CachedTokenSource) so that one
//! token serves every request until shortly before it expires. The HTTP rules (timeouts, a 1 MiB
//! body cap, no redirects, https only except to loopback) are [`tokensource_http`]'s, set with
//! [`HttpOptions`].
//!
//! # Example
//! Against the test kit's mock of Noyo (in real use, drop `token_url`):
//!
//! ```
//! use std::time::Duration;
//! use tokensource_core::{CachedTokenSource, TokenSource};
//! use tokensource_noyo::NoyoTokenSource;
//! use tokensource_testkit::{MockServer, NoyoMock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tokensource_core::Error> {
//! let server = MockServer::noyo(NoyoMock::new("CLIENT_ID", "CLIENT_SECRET")).start().await;
//! let source = CachedTokenSource::new(
//!     NoyoTokenSource::builder("CLIENT_ID", "CLIENT_SECRET")
//!         .token_url(server.token_url())
//!         .build()?,
//! );
//! let token = source.token().await?;
//! // `expires_in` was 600000 milliseconds: ten minutes.
//! assert!(token.lifetime().unwrap() <= Duration::from_secs(600));
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

#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod profile;
mod response;
mod source;

/// The response parser, public for the fuzz targets and property tests only.
#[doc(hidden)]
pub use response::parse_token_response;
pub use source::{DEFAULT_TOKEN_URL, NoyoBuilder, NoyoTokenSource};
pub use tokensource_http::HttpOptions;

/// The provider name errors carry.
/// The provider name errors carry and configuration files use (`provider = "noyo"`).
pub const PROVIDER: &str = "noyo";

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
