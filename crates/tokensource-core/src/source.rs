//! The [`TokenSource`] trait and the simplest sources.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{Error, Token};

/// Something that yields access tokens: a provider talking to a token endpoint, a cache over
/// one, or your own code.
///
/// # Contract
/// - [`token`](TokenSource::token) returns a token that is valid now, or an [`Error`] whose
///   [`kind`](crate::ErrorKind) tells the caller whether retrying can help. A provider fetches on
///   every call; wrap it in a [`CachedTokenSource`](crate::CachedTokenSource) to reuse tokens.
/// - [`invalidate`](TokenSource::invalidate) reports that an API refused `token` (HTTP 401). A
///   caching source drops it only if it is still the token it would hand out, so a 401 seen on an
///   old token never throws away a newer one. Sources that keep nothing ignore it (the default).
/// - Implementations are `Send + Sync + Debug`, and their `Debug` never shows a secret.
/// - The trait is object safe: `Arc<dyn TokenSource>` is the currency between crates.
///
/// # Example: a custom provider
/// ```
/// use async_trait::async_trait;
/// use std::time::Duration;
/// use tokensource_core::{Error, Token, TokenSource};
///
/// #[derive(Debug)]
/// struct Vault;
///
/// #[async_trait]
/// impl TokenSource for Vault {
///     async fn token(&self) -> Result<Token, Error> {
///         // A token that cannot be built converts into an invalid-response error.
///         Ok(Token::builder("from-the-vault")
///             .expires_in(Duration::from_secs(300))
///             .build()?)
///     }
/// }
/// # tokio_test_block(async {
/// let source: std::sync::Arc<dyn TokenSource> = std::sync::Arc::new(Vault);
/// assert_eq!(source.token().await?.expose_secret(), "from-the-vault");
/// # Ok::<(), Error>(())
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Returns a token that is valid now.
    async fn token(&self) -> Result<Token, Error>;

    /// Reports that an API refused `token`; see the trait's contract.
    async fn invalidate(&self, token: &Token) {
        let _ = token;
    }
}

macro_rules! forward_token_source {
    ($($ty:ty),*) => {$(
        // Written out rather than with `#[async_trait]`, which would box a second future around
        // the inner one on every call: hand the inner boxed future through.
        impl<T: TokenSource + ?Sized> TokenSource for $ty {
            fn token<'life0, 'async_trait>(
                &'life0 self,
            ) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<Token, Error>>
                + ::core::marker::Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                (**self).token()
            }

            fn invalidate<'life0, 'life1, 'async_trait>(
                &'life0 self,
                token: &'life1 Token,
            ) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = ()>
                + ::core::marker::Send + 'async_trait>>
            where
                'life0: 'async_trait,
                'life1: 'async_trait,
                Self: 'async_trait,
            {
                (**self).invalidate(token)
            }
        }
    )*};
}

forward_token_source!(Arc<T>, Box<T>, &T);

/// A source that always returns the same token: for tests, and for long-lived API keys.
///
/// ```
/// use tokensource_core::{StaticTokenSource, Token, TokenSource};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let source = StaticTokenSource::new(Token::bearer("api-key")?);
/// assert_eq!(source.token().await?.expose_secret(), "api-key");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct StaticTokenSource {
    token: Token,
}

impl StaticTokenSource {
    /// A source that yields `token` forever.
    pub fn new(token: Token) -> Self {
        StaticTokenSource { token }
    }
}

#[async_trait]
impl TokenSource for StaticTokenSource {
    async fn token(&self) -> Result<Token, Error> {
        Ok(self.token.clone())
    }
}

/// A source built from an async closure; see [`from_fn`].
pub struct FnTokenSource<F> {
    name: &'static str,
    fetch: F,
}

/// Builds a source from an async closure that fetches one token per call.
///
/// ```
/// use std::time::Duration;
/// use tokensource_core::{from_fn, CachedTokenSource, Token, TokenSource};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let source = CachedTokenSource::new(from_fn("my-api", || async {
///     Ok(Token::builder("t0k3n")
///         .expires_in(Duration::from_secs(3600))
///         .build()?)
/// }));
/// assert_eq!(source.token().await?.expose_secret(), "t0k3n");
/// # Ok::<(), tokensource_core::Error>(())
/// # }).unwrap();
/// ```
pub fn from_fn<F, Fut>(name: &'static str, fetch: F) -> FnTokenSource<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Token, Error>> + Send,
{
    FnTokenSource { name, fetch }
}

impl<F> fmt::Debug for FnTokenSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTokenSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<F, Fut> TokenSource for FnTokenSource<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Token, Error>> + Send,
{
    async fn token(&self) -> Result<Token, Error> {
        (self.fetch)().await
    }
}
