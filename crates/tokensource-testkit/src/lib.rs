//! In-process mock token servers for testing code that uses
//! [tokensource](https://docs.rs/tokensource) — or any other client of these providers.
//!
//! A [`MockServer`] binds `127.0.0.1` on a free port and plays one provider's token protocol as
//! its documentation describes it, checking each request as the real service would:
//!
//! | mock | token endpoint | client authentication | lifetime field |
//! |---|---|---|---|
//! | [`YouniumMock`] | `POST /auth/token` (v1, camelCase) and `POST /auth/v2/token` (v2, snake_case) | JSON body `{"clientId", "secret"}` | `expiresIn`, seconds |
//! | [`NoyoMock`] | `POST /auth/public/token` | `Authorization: Basic` with the raw `id:secret`, JSON body `{"grant_type": "client_credentials"}` | `expires_in`, milliseconds |
//! | [`OAuth2Mock`] | `POST /oauth/v2/token` | RFC 6749 2.3.1 Basic (form-urlencoded id and secret) or body parameters | `expires_in`, seconds |
//!
//! Each server also serves a protected API under `/api/` ([`MockServer::api_url`]) that accepts only
//! valid tokens it issued, so that a client's whole flow — fetch, cache, call, recover from a
//! `401` after [`revoke`](MockServer::revoke) — can be tested end to end. It counts token and API
//! requests, records them, and misbehaves on demand ([`Fault`]): `5xx` a number of times, `429`,
//! slow answers, malformed bodies, rejected credentials, or any [`RawResponse`].
//!
//! # Example
//! Fetching a token through `tokensource`'s cache and calling the API with it:
//!
//! ```
//! use tokensource_core::{CachedTokenSource, TokenSource};
//! use tokensource_testkit::{Fault, MockServer, YouniumMock};
//! use tokensource_younium::YouniumTokenSource;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = MockServer::younium(YouniumMock::new("client-id", "s3cret")).start().await;
//! let source = CachedTokenSource::new(
//!     YouniumTokenSource::builder("client-id", "s3cret")
//!         .token_url(server.token_url())
//!         .build()?,
//! );
//!
//! server.fail_next(Fault::ServerError); // the cache retries the 503
//! let token = source.token().await?;
//! let again = source.token().await?;
//! assert!(token.same_secret(&again));
//! assert_eq!((server.token_hits(), server.tokens_issued()), (2, 1));
//!
//! let reply = reqwest::Client::new()
//!     .get(server.api_url())
//!     .header("authorization", token.authorization_header())
//!     .send()
//!     .await?;
//! assert_eq!(reply.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! # Reports
//! [`observe`] records what the code under test reports: every `tracing` span (fields, parent,
//! `follows_from` links) and event, and every `metrics` counter, gauge and histogram, across the
//! worker threads and spawned tasks a thread-local subscriber or recorder would miss.
//!
//! # Time
//! The server keeps real time (it runs on its own thread). Do not pause tokio's clock in tests that
//! talk to it over HTTP: a paused clock jumps ahead while the runtime waits for the socket and fires
//! the client's timeouts. To test expiry without waiting, use [`MockServer::expire_all`].
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

mod fault;
mod noyo;
mod oauth2;
pub mod observe;
pub mod oidc;
mod protocol;
mod providers;
pub mod proxy;
pub mod raw;
mod recorded;
pub mod redis_server;
mod server;
pub mod tls;
mod tokens;
mod younium;

pub use fault::{Fault, RawResponse};
pub use noyo::NoyoMock;
pub use oauth2::{ClientAuthMethod, OAuth2Mock};
pub use providers::Provider;
pub use recorded::RecordedRequest;
pub use server::{MockServer, MockServerBuilder};
pub use younium::YouniumMock;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
