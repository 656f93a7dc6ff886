//! The standard OAuth2 client-credentials provider for [tokensource](https://docs.rs/tokensource):
//! [`ClientCredentialsTokenSource`] asks a token endpoint (RFC 6749 section 4.4) for bearer
//! tokens with a client id and secret.
//!
//! The OAuth2 protocol is the [`oauth2`] crate's: it builds the form request, applies the client
//! authentication (HTTP Basic with the id and secret form-urlencoded first, as RFC 6749 section
//! 2.3.1 requires, or both in the body), and parses replies and RFC 6749 section 5.2 errors. Its
//! requests travel through a [`TokenEndpoint`](tokensource_http::TokenEndpoint), so tokensource's
//! HTTP rules hold: no redirects, timeouts, a 1 MiB body cap, https only (plain http for loopback).
//! Failures come back as a [`tokensource_core::Error`] whose kind says whether retrying helps.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokensource_client_credentials::{AuthStyle, ClientCredentialsTokenSource};
//! use tokensource_core::{CachedTokenSource, TokenSource};
//! use tokensource_http::HttpOptions;
//!
//! # async fn example() -> Result<(), tokensource_core::Error> {
//! let source = ClientCredentialsTokenSource::builder(
//!     "https://auth.example.com/oauth/v2/token",
//!     "my-client",
//!     std::env::var("PARTNER_SECRET").unwrap_or_default(),
//! )
//! .scopes(["read", "write"])
//! .extra_param("audience", "https://api.example.com")
//! .auth_style(AuthStyle::Basic)
//! .http_options(HttpOptions::default().with_timeout(Duration::from_secs(5)))
//! .build()?;
//!
//! // Reuse tokens until shortly before they expire; retry transient failures.
//! let cached = CachedTokenSource::new(source);
//! let token = cached.token().await?;
//! println!("Authorization: {}", token.authorization_header().to_str().unwrap_or_default());
//! # Ok(())
//! # }
//! ```
//!
//! Configuration errors surface at [`build`](ClientCredentialsBuilder::build), naming the setting:
//!
//! ```
//! use tokensource_client_credentials::ClientCredentialsTokenSource;
//! use tokensource_core::ErrorKind;
//!
//! let error = ClientCredentialsTokenSource::builder("http://auth.example.com/token", "id", "secret")
//!     .build()
//!     .unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::Configuration);
//! assert!(error.to_string().contains("token_url"));
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod assertion;
mod config;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod profile;
mod response;
mod source;
mod transport;

pub use assertion::{
    ASSERTION_LIFETIME, AssertionSigner, JWT_BEARER_ASSERTION_TYPE, SigningAlgorithm,
};
pub use config::{AuthStyle, ClientCredentialsBuilder};
/// The response parser, public for the fuzz targets and property tests only.
#[doc(hidden)]
pub use response::parse_token_response;
pub use source::ClientCredentialsTokenSource;
pub use tokensource_http::HttpOptions;

/// The provider name that errors from this crate carry.
pub const PROVIDER: &str = "client-credentials";

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
