//! A Redis [`TokenStore`](tokensource_core::store::TokenStore) for
//! [tokensource](https://docs.rs/tokensource): a fleet of processes with the same credentials
//! shares one access token, so the token endpoint sees one fetch per token lifetime instead of
//! one per process.
//!
//! Give each [`CachedTokenSource`](tokensource_core::CachedTokenSource) a [`RedisTokenStore`]
//! built with the credential's client secret, under a [`credential_key`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tokensource_core::{from_fn, CachedTokenSource, Error, Token, TokenSource};
//! use tokensource_redis::{credential_key, RedisTokenStore, SecretString};
//!
//! # async fn run() -> Result<(), Error> {
//! let client_secret = SecretString::from("the client secret");
//! let provider = from_fn("my-api", || async {
//!     // A real provider POSTs the credentials to the token endpoint.
//!     Token::builder("t0k3n")
//!         .expires_in(Duration::from_secs(3600))
//!         .build()
//!         .map_err(Error::from)
//! });
//! let store = RedisTokenStore::builder("redis://127.0.0.1:6379", &client_secret)
//!     .op_timeout(Duration::from_millis(300))
//!     .build()?;
//! let source = CachedTokenSource::builder(provider)
//!     .store(
//!         Arc::new(store),
//!         credential_key("my-api", "https://auth.example.com/token", "my-client-id"),
//!     )
//!     .build();
//! let token = source.token().await?;
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! # What is in Redis
//! For a credential key `k` and the default prefix:
//! - `tokensource:v2:k:token`: `ts2:<expiry, Unix ms>:<nonce><ciphertext>`, the token sealed with
//!   XChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the client secret and salted with
//!   the Redis key, which is also bound as associated data. Its Redis time to live is the token's
//!   remaining lifetime.
//! - `tokensource:v2:k:lease`: the random id of the process refreshing the token, with the
//!   cache's lease time to live ([`RefreshPolicy::with_lease_ttl`](tokensource_core::RefreshPolicy::with_lease_ttl)),
//!   renewed while the holder's fetch runs.
//! - `tokensource:v2:k:failure`: the fleet's last failed fetch and the time of the next allowed
//!   attempt, sealed the same way, kept ten minutes past that time so that consecutive failures
//!   keep counting.
//! - Channel `tokensource:v2:k:changed`: announces every token write, failure record and lease
//!   release, so waiting processes are woken rather than polling.
//!
//! Someone who can read Redis learns which credentials exist (as hashes) and when their tokens
//! expire, not the tokens. The key is only as strong as the client secret: a high-entropy
//! secret, as issued by token endpoints, is what this is designed for.
//!
//! # Managed Redis: TLS, Cluster, Sentinel
//! - `rediss://` URLs speak TLS (rustls with aws-lc-rs) and trust the system's roots, plus those
//!   given with [`ca_file`](RedisTokenStoreBuilder::ca_file) or
//!   [`ca_pem`](RedisTokenStoreBuilder::ca_pem);
//!   [`client_identity`](RedisTokenStoreBuilder::client_identity) presents a client certificate.
//!   The `redis` crate builds its TLS configuration with rustls's process-wide crypto provider:
//!   building a TLS store installs aws-lc-rs as that provider unless the application installed
//!   one before.
//! - [`RedisTokenStore::cluster_builder`]: a Redis Cluster. Every operation is one key (a token, a
//!   lease or a failure record, each in its own slot) and runs on that key's node; the scripts are
//!   loaded where they run. The subscriber listens on one node (a `PUBLISH` reaches all of them)
//!   and moves to the next seed node when its node fails.
//! - [`RedisTokenStore::sentinel_builder`]: the primary the sentinels name, asked again when they
//!   announce a new one (`+switch-master`), after a connection error, or after a `READONLY`
//!   answer from a demoted primary.
//!
//! # When Redis is down, fails over, or fails TLS verification
//! Every operation gives up after [`op_timeout`](RedisTokenStoreBuilder::op_timeout) with a
//! [`StoreError`](tokensource_core::store::StoreError); the cache logs the outage once and
//! fetches in each process until Redis is back, then shares again. Building a store never
//! connects, so a service starts while Redis is down. In a cluster or with Sentinel, an operation
//! that lost its primary keeps looking for the new one for up to
//! [`failover_timeout`](RedisTokenStoreBuilder::failover_timeout), so that a failover costs the
//! fleet at most one extra fetch per lease period rather than one per process. A server whose
//! TLS certificate fails verification (or that refuses the client certificate) is never written
//! to: the store then fails every operation at once, without connecting, for a minute.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

mod builder;
mod connection;
mod envelope;
mod key;
mod scripts;
mod store;
mod tls;

pub use builder::RedisTokenStoreBuilder;
pub use key::{CredentialKey, DEFAULT_KEY_PREFIX, credential_key};
pub use store::RedisTokenStore;

/// Re-exported so that callers pass the client secret in the same type this crate takes.
pub use secrecy::SecretString;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
