//! One way to authenticate to token-protected HTTP APIs.
//!
//! `tokensource` yields access tokens from a [`TokenSource`] (a vendor's token endpoint, or your
//! own code) and caches them with [`CachedTokenSource`]: refreshed before expiry, one fetch for
//! many concurrent callers, and no caller waiting while a valid token exists.
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
    RefreshPolicy, StaticTokenSource, Token, TokenBuilder, TokenSource, async_trait, clock,
    from_fn, lifetime, store,
};
