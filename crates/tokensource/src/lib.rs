//! One way to authenticate to token-protected HTTP APIs.
//!
//! `tokensource` yields access tokens from a [`TokenSource`] (a vendor's token endpoint, or your
//! own code) and caches them with [`CachedTokenSource`]: refreshed before expiry, one fetch for
//! many concurrent callers, and no caller waiting while a valid token exists.
//!
//! # Features
//! Nothing is on by default: enable the providers and integrations you use.
//!
//! | feature | what it adds |
//! |---|---|
//! | `younium` | [`younium`]: Younium auth v1 (`POST /auth/token`) and v2 (`/auth/v2/token`), four environments, `legal-entity` and `api-version` headers |
//! | `client-credentials` | [`client_credentials`]: RFC 6749 client credentials on the `oauth2` crate, HTTP Basic (RFC 6749 2.3.1 encoding) or body authentication |
//! | `noyo` | [`noyo`]: Noyo's Basic-auth token endpoint, `expires_in` in milliseconds, JWT `exp` as a second bound |
//! | `command` | [`command`]: any program that prints a token (`provider = "command"`), like AWS `credential_process` |
//! | `config` | [`config`]: TOML profiles, provider registry |
//! | `middleware` | [`middleware`]: `reqwest-middleware` integration (re-exports `reqwest`, `reqwest_middleware`) |
//! | `tower` | [`tower`]: the same as a `tower::Layer` |
//! | `redis` | [`redis`]: the Redis token store for fleets |
//! | `file-store` | [`file_store`]: tokens cached in files (what the CLI uses) |
//! | `metrics` | metrics through the [`metrics`](https://docs.rs/metrics) facade (names in [`observability`]); `tracing` spans and events need no feature |
//!
//! ```toml
//! [dependencies]
//! tokensource = { version = "0.1", features = ["younium", "config", "middleware"] }
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(inline)]
pub use tokensource_core::{
    BoxError, CacheBuilder, CachedTokenSource, Error, ErrorKind, FnTokenSource, InvalidToken,
    RefreshPolicy, SecretSource, StaticTokenSource, Token, TokenBuilder, TokenSource, async_trait,
    clock, from_fn,
};

#[doc(inline)]
pub use tokensource_core::observability;

/// Where tokens are shared between processes: the [`TokenStore`](store::TokenStore) trait, the
/// in-process [`MemoryStore`](store::MemoryStore), and what a store implementation exchanges
/// with the cache. Writing a store or a provider? See [`extend`].
pub mod store {
    #[doc(inline)]
    pub use tokensource_core::store::{
        ChangeCursor, ChangeNotifier, DEFAULT_LIFETIME, FleetFailure, Lease, MemoryStore,
        StoreError, TokenStore,
    };
}

/// For authors of providers and stores, not for applications: token lifetimes from token
/// responses (`expires_in` in seconds or milliseconds, JWT `exp`), and the stored form of a token
/// (encode, decode, which of two tokens to keep).
pub mod extend {
    #[doc(inline)]
    pub use tokensource_core::lifetime;
    #[doc(inline)]
    pub use tokensource_core::store::{DecodeError, decode, encode, expires_later};
}

#[cfg(feature = "younium")]
#[cfg_attr(docsrs, doc(cfg(feature = "younium")))]
#[doc(inline)]
pub use tokensource_younium as younium;

#[cfg(feature = "client-credentials")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-credentials")))]
#[doc(inline)]
pub use tokensource_client_credentials as client_credentials;

#[cfg(feature = "noyo")]
#[cfg_attr(docsrs, doc(cfg(feature = "noyo")))]
#[doc(inline)]
pub use tokensource_noyo as noyo;

#[cfg(feature = "command")]
#[cfg_attr(docsrs, doc(cfg(feature = "command")))]
#[doc(inline)]
pub use tokensource_command as command;

/// HTTP settings shared by the providers: timeouts, body cap, plain http for non-loopback hosts,
/// and the transport (proxy, extra root certificates, a client certificate).
#[cfg(any(feature = "younium", feature = "client-credentials", feature = "noyo"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "younium", feature = "client-credentials", feature = "noyo")))
)]
pub use tokensource_http::{HttpOptions, Proxy};

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(inline)]
pub use tokensource_redis as redis;

#[cfg(any(feature = "middleware", feature = "tower"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "middleware", feature = "tower"))))]
pub mod rules;

#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub mod middleware;
/// Re-exported so that users of [`middleware`] build requests with the same version of `reqwest`.
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub use reqwest;
/// Re-exported so that users of [`middleware`] build clients with the same version of
/// `reqwest-middleware`.
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub use reqwest_middleware;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;

#[cfg(feature = "file-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "file-store")))]
pub mod file_store;

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(all(
    doctest,
    feature = "younium",
    feature = "client-credentials",
    feature = "config",
    feature = "middleware",
    feature = "metrics"
))]
pub struct ReadmeDoctests;
