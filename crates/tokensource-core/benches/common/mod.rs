//! What both benchmarks share: the token caches the cache is compared with.

#![allow(dead_code)] // each benchmark uses its own part

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use tokensource_core::{Error, Token, TokenSource};

/// The lifetime of the token on the hot path: far outside any refresh margin.
pub const FRESH_LIFETIME: Duration = Duration::from_secs(3600);
/// The refresh margin every variant uses on the hot path (the cache's default).
pub const HOT_MARGIN: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Baselines
// ---------------------------------------------------------------------------------------------

/// When a token fetched now should be refreshed: the same rule as the cache (the margin, at most
/// half the lifetime).
pub fn refresh_deadline(token: &Token, margin: Duration) -> Instant {
    let lifetime = token.lifetime().unwrap_or(Duration::from_secs(600));
    Instant::now() + lifetime - margin.min(lifetime / 2)
}

/// (a) A `tokio::sync::Mutex` locked on every call; a refresh happens under the lock.
#[derive(Debug)]
pub struct TokioMutexCache {
    pub upstream: Arc<dyn TokenSource>,
    pub margin: Duration,
    pub slot: tokio::sync::Mutex<Option<(Arc<Token>, Instant)>>,
}

impl TokioMutexCache {
    pub fn new(upstream: Arc<dyn TokenSource>, margin: Duration) -> Self {
        TokioMutexCache {
            upstream,
            margin,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn token(&self) -> Result<Arc<Token>, Error> {
        let mut slot = self.slot.lock().await;
        if let Some((token, refresh_at)) = &*slot
            && Instant::now() < *refresh_at
        {
            return Ok(Arc::clone(token));
        }
        let token = Arc::new(self.upstream.token().await?);
        *slot = Some((Arc::clone(&token), refresh_deadline(&token, self.margin)));
        Ok(token)
    }
}

/// (b) A `tokio::sync::RwLock` read on every call; a caller that finds the token due takes the
/// write lock, checks again and refreshes under it (object_store's token cache).
#[derive(Debug)]
pub struct TokioRwLockCache {
    pub upstream: Arc<dyn TokenSource>,
    pub margin: Duration,
    pub slot: tokio::sync::RwLock<Option<(Token, Instant)>>,
}

impl TokioRwLockCache {
    pub fn new(upstream: Arc<dyn TokenSource>, margin: Duration) -> Self {
        TokioRwLockCache {
            upstream,
            margin,
            slot: tokio::sync::RwLock::new(None),
        }
    }

    pub async fn token(&self) -> Result<Token, Error> {
        {
            let slot = self.slot.read().await;
            if let Some((token, refresh_at)) = &*slot
                && Instant::now() < *refresh_at
            {
                return Ok(token.clone());
            }
        }
        let mut slot = self.slot.write().await;
        if let Some((token, refresh_at)) = &*slot
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let token = self.upstream.token().await?;
        *slot = Some((token.clone(), refresh_deadline(&token, self.margin)));
        Ok(token)
    }
}

/// (c) A `std::sync::RwLock` read on every call (hot path only: `None` means "go refresh").
#[derive(Debug)]
pub struct StdRwLockCache {
    pub slot: std::sync::RwLock<(Token, Instant)>,
}

impl StdRwLockCache {
    #[inline]
    pub fn cached(&self) -> Option<Token> {
        let slot = self.slot.read().unwrap_or_else(PoisonError::into_inner);
        (Instant::now() < slot.1).then(|| slot.0.clone())
    }
}

/// (d) The floor: no synchronisation at all, a clone and an expiry check.
#[derive(Debug)]
pub struct Floor {
    pub token: Token,
    pub refresh_at: Instant,
}

impl Floor {
    #[inline]
    pub fn cached(&self) -> Option<Token> {
        (Instant::now() < self.refresh_at).then(|| self.token.clone())
    }
}

pub fn fresh_token() -> Token {
    Token::builder("hot-path-token")
        .expires_in(FRESH_LIFETIME)
        .build()
        .expect("a valid token")
}

pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
