//! The HTTP rules every tokensource provider follows, written once.
//!
//! - **One TLS stack**: reqwest with rustls.
//! - **No redirects**: a 3xx from a token endpoint is an invalid response, so credentials never
//!   travel to another origin.
//! - **Timeouts**: a connect timeout and a whole-request timeout that also bounds a body that
//!   trickles or never ends.
//! - **A body cap** (1 MiB by default): larger bodies are invalid responses, read no further.
//! - **https only**: plain `http` is refused for hosts other than loopback unless explicitly allowed.
//! - **Status mapping** onto [`tokensource_core::ErrorKind`]: 400/401/403 → credentials rejected
//!   (with the provider's message), 429/5xx → unavailable (with `Retry-After`), anything else that is
//!   not 2xx → invalid response.
//!
//! Providers build a [`TokenEndpoint`], send requests through it, and parse the body with
//! [`parse_json`]. Nothing here prints a secret: error details name what was wrong, never the body.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

mod endpoint;
mod message;
mod options;
mod transport;

pub use endpoint::{Reply, TokenEndpoint, check_url};
pub use message::{json_error_message, parse_json, redact};
pub use options::{HttpOptions, Proxy};

pub use reqwest;
pub use url::Url;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
