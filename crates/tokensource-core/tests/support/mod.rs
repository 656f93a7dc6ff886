//! What the observability tests share: a scripted source and a store that fails on demand.

#![allow(dead_code)] // Each test binary uses part of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokensource_core::clock::TokioClock;
use tokensource_core::store::{
    ChangeCursor, FleetFailure, Lease, MemoryStore, StoreError, TokenStore,
};
use tokensource_core::{CachedTokenSource, Error, RefreshPolicy, Token, TokenSource};

/// The start of every token the scripted source issues: never to be seen in any report.
pub const SECRET_PREFIX: &str = "SENTINEL-TOKEN-";

/// What the scripted source does on one call.
#[derive(Debug, Clone)]
pub enum Step {
    /// A token living this long, after `delay`.
    Token { lifetime: Duration, delay: Duration },
    /// This error, after `delay`.
    Fail { error: Error, delay: Duration },
    /// A panic.
    Panic,
    /// No answer, ever.
    Hang,
}

/// A token living `lifetime`, at once.
pub fn token(lifetime: Duration) -> Step {
    Step::Token {
        lifetime,
        delay: Duration::ZERO,
    }
}

/// `error`, at once.
pub fn fail(error: Error) -> Step {
    Step::Fail {
        error,
        delay: Duration::ZERO,
    }
}

/// A source that follows a script (its last step repeats) and counts its calls.
#[derive(Debug, Clone)]
pub struct Scripted {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    steps: std::sync::Mutex<Vec<Step>>,
    calls: AtomicUsize,
}

impl Scripted {
    pub fn new(steps: Vec<Step>) -> Self {
        assert!(!steps.is_empty());
        Scripted {
            inner: Arc::new(Inner {
                steps: std::sync::Mutex::new(steps),
                calls: AtomicUsize::new(0),
            }),
        }
    }

    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenSource for Scripted {
    async fn token(&self) -> Result<Token, Error> {
        let n = self.inner.calls.fetch_add(1, Ordering::SeqCst);
        let step = {
            let steps = self.inner.steps.lock().unwrap();
            steps[n.min(steps.len() - 1)].clone()
        };
        match step {
            Step::Token { lifetime, delay } => {
                tokio::time::sleep(delay).await;
                Ok(Token::builder(format!("{SECRET_PREFIX}{n}"))
                    .expires_in(lifetime)
                    .build()?)
            }
            Step::Fail { error, delay } => {
                tokio::time::sleep(delay).await;
                Err(error)
            }
            Step::Panic => panic!("scripted panic {SECRET_PREFIX}"),
            Step::Hang => std::future::pending().await,
        }
    }
}

/// A [`MemoryStore`] that fails every operation while [`set_failing`](Self::set_failing) is on,
/// and counts the operations it failed.
#[derive(Debug, Clone)]
pub struct FlakyStore {
    name: &'static str,
    inner: MemoryStore,
    failing: Arc<AtomicBool>,
    failed: Arc<AtomicUsize>,
}

impl FlakyStore {
    pub fn new(name: &'static str) -> Self {
        FlakyStore {
            name,
            inner: MemoryStore::new(),
            failing: Arc::default(),
            failed: Arc::default(),
        }
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many operations failed so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            self.failed.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::new("the flaky store is down"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl TokenStore for FlakyStore {
    fn name(&self) -> &str {
        self.name
    }

    async fn get(&self, key: &str) -> Result<Option<Token>, StoreError> {
        self.check()?;
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put(key, token).await
    }

    async fn remove(&self, key: &str, token: &Token) -> Result<(), StoreError> {
        self.check()?;
        self.inner.remove(key, token).await
    }

    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.check()?;
        self.inner.try_lease(key, ttl).await
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        self.check()?;
        self.inner.release(key, lease).await
    }

    async fn failure(&self, key: &str) -> Result<Option<FleetFailure>, StoreError> {
        self.check()?;
        self.inner.failure(key).await
    }

    async fn record_failure(&self, key: &str, failure: &FleetFailure) -> Result<(), StoreError> {
        self.check()?;
        self.inner.record_failure(key, failure).await
    }

    async fn clear_failure(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.clear_failure(key).await
    }

    fn change_cursor(&self, key: &str) -> ChangeCursor {
        self.inner.change_cursor(key)
    }
}

/// Short backoff, for tests on tokio's paused clock.
pub fn paused_policy() -> RefreshPolicy {
    RefreshPolicy::default().with_backoff(Duration::from_millis(100), Duration::from_secs(1))
}

/// A cache (on tokio's clock) whose one fetch takes three attempts: two HTTP 503s, then a token
/// for an hour.
pub fn retried_twice(provider: &str) -> CachedTokenSource<Scripted> {
    let unavailable = Error::unavailable("scripted", "HTTP 503").with_status(503);
    CachedTokenSource::builder(Scripted::new(vec![
        fail(unavailable.clone()),
        fail(unavailable),
        token(Duration::from_secs(3600)),
    ]))
    .provider(provider)
    .policy(paused_policy().with_max_attempts(3))
    .clock(TokioClock::new())
    .build()
}

/// A cache (on tokio's clock) whose fetches make one attempt each, of at most `deadline`, the
/// first one playing `step`.
pub fn one_attempt(provider: &str, step: Step, deadline: Duration) -> CachedTokenSource<Scripted> {
    CachedTokenSource::builder(Scripted::new(vec![step]))
        .provider(provider)
        .policy(
            paused_policy()
                .with_max_attempts(1)
                .with_fetch_timeout(deadline),
        )
        .clock(TokioClock::new())
        .build()
}
