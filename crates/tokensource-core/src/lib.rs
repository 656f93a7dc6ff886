//! The core of [tokensource](https://docs.rs/tokensource): the [`TokenSource`] trait, the
//! [`Token`] it yields, the [`Error`] it fails with, and [`CachedTokenSource`], the caching layer
//! every provider is used through.
//!
//! What the cache reports (a `tokensource.fetch` span per fetch, events, and with the `metrics`
//! feature Prometheus-style metrics) is described in [`observability`].
//!
//! This crate has no HTTP client and knows no provider. Providers (`tokensource-younium`,
//! `tokensource-client-credentials`, `tokensource-noyo`) implement [`TokenSource`]; most users
//! depend on the `tokensource` facade instead of this crate.
//!
//! ```
//! use std::time::Duration;
//! use tokensource_core::{from_fn, CachedTokenSource, Error, Token, TokenSource};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let source = CachedTokenSource::new(from_fn("example", || async {
//!     Ok(Token::builder("secret-token")
//!         .expires_in(Duration::from_secs(3600))
//!         .build()?)
//! }));
//! let token = source.token().await?;
//! assert_eq!(token.authorization_header().to_str().unwrap(), "Bearer secret-token");
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
pub mod clock;
mod error;
mod jwt;
pub mod lifetime;
pub mod observability;
mod secret;
mod source;
pub mod store;
mod token;

pub use cache::{CacheBuilder, CachedTokenSource, RefreshPolicy};
pub use error::{BoxError, Error, ErrorKind};
pub use secret::SecretSource;
pub use source::{FnTokenSource, StaticTokenSource, TokenSource, from_fn};
pub use token::{InvalidToken, MAX_TOKEN_LEN, Token, TokenBuilder};

/// Re-exported so that implementors of [`TokenSource`] use the same version of `async-trait`.
pub use async_trait::async_trait;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
