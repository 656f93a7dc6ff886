//! The caching layer: [`CachedTokenSource`] wraps any [`TokenSource`] and is itself one.

mod flight;
mod policy;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use tokio::sync::watch;

pub use policy::RefreshPolicy;

use crate::clock::{Clock, CoarseClock};
use crate::store::TokenStore;
use crate::{Error, Token, TokenSource};

/// A caching [`TokenSource`] over any other.
///
/// # Guarantees
/// - **Hot path**: while the cached token is outside its refresh margin, [`token`](TokenSource::token)
///   is one atomic load, one coarse clock read and a reference-count increment. No lock.
/// - **Refresh ahead**: inside the margin (default 60 s, never more than half the token's lifetime),
///   callers still get the valid token at once while one refresh runs in the background. Nobody waits
///   for the network while a valid token exists.
/// - **Single flight**: however many callers find the cache empty or expired, one fetch runs and all
///   of them get its result, token or error.
/// - **Backoff**: a failed fetch is retried inside the same flight with exponential backoff and jitter
///   for retryable errors (up to [`RefreshPolicy::with_max_attempts`]); afterwards callers get the
///   error at once until the backoff delay has passed, so the endpoint sees one attempt per backoff
///   step, however many callers there are. Rejected credentials are not retried and wait the
///   longest backoff. A failed background refresh keeps serving the still-valid token.
/// - **No storms**: refresh-ahead fetches are at least [`RefreshPolicy::with_min_interval`] apart, and
///   a token is used for at least that long even if it arrives already expired.
/// - **Invalidate** drops the cached token only if it is still the one given.
///
/// Time comes from a [`Clock`]: the default reads the coarse monotonic clock; tests pass a
/// [`TokioClock`](crate::clock::TokioClock) and use `tokio::time::pause`. The cache needs a tokio
/// runtime to run fetches on.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use tokensource_core::{from_fn, CachedTokenSource, Error, Token, TokenSource};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let fetches = Arc::new(AtomicUsize::new(0));
/// let counter = fetches.clone();
/// let source = CachedTokenSource::new(from_fn("demo", move || {
///     let n = counter.fetch_add(1, Ordering::SeqCst);
///     async move {
///         Token::builder(format!("token-{n}"))
///             .expires_in(Duration::from_secs(3600))
///             .build()
///             .map_err(|e| Error::invalid_response("demo", e.to_string()))
///     }
/// }));
/// for _ in 0..100 {
///     assert_eq!(source.token().await?.expose_secret(), "token-0");
/// }
/// assert_eq!(fetches.load(Ordering::SeqCst), 1);
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
pub struct CachedTokenSource<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for CachedTokenSource<S> {
    fn clone(&self) -> Self {
        CachedTokenSource {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Builds a [`CachedTokenSource`]; see [`CachedTokenSource::builder`].
pub struct CacheBuilder<S> {
    source: S,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
    store: Option<StoreBinding>,
}

/// A shared store and the key this cache's credential lives under.
struct StoreBinding {
    store: Arc<dyn TokenStore>,
    key: String,
}

struct Shared<S> {
    source: S,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
    store: Option<StoreBinding>,
    /// The token callers get, read without a lock.
    current: ArcSwapOption<Entry>,
    /// Everything the slow path coordinates on.
    state: Mutex<State>,
    /// Whether the store is failing, so that an outage is logged once, not per call.
    store_degraded: AtomicBool,
}

/// A cached token and the times (on the clock's millisecond timeline) that matter for it.
struct Entry {
    token: Token,
    /// Copies of `token` in separate allocations, one per shard of threads: each thread clones
    /// its own, so the reference count every caller increments is not one contended cache line.
    shards: Box<[Token]>,
    refresh_at: u64,
    expires_at: u64,
}

/// How many copies of a token an entry holds: the number of CPUs, at most 8.
fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(8)
    })
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, handed out round-robin.
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
}

impl Entry {
    fn new(token: Token, refresh_at: u64, expires_at: u64) -> Entry {
        let shards = (1..shard_count())
            .map(|_| token.duplicate())
            .chain(std::iter::once(token.clone()))
            .collect();
        Entry {
            token,
            shards,
            refresh_at,
            expires_at,
        }
    }

    /// The copy of the token this thread hands out.
    #[inline]
    fn handout(&self) -> &Token {
        let shard = SHARD.try_with(|shard| *shard).unwrap_or(0);
        &self.shards[shard % self.shards.len()]
    }
}

type FlightResult = Option<Result<Token, Error>>;

#[derive(Default)]
struct State {
    /// The fetch in progress, if any; its receivers get the result.
    flight: Option<watch::Receiver<FlightResult>>,
    /// When the last fetch started, for the minimum interval.
    last_fetch_at: Option<u64>,
    /// Consecutive failed flights.
    failures: u32,
    /// No new flight before this time after a failure.
    next_attempt_at: u64,
    /// What the last failed flight returned, handed to callers during the backoff delay.
    last_error: Option<Error>,
    /// The last token invalidated, never to be reloaded from a shared store.
    invalidated: Option<Token>,
}

impl<S: TokenSource + 'static> CachedTokenSource<S> {
    /// A cache over `source` with the default [`RefreshPolicy`] and clock.
    pub fn new(source: S) -> Self {
        CachedTokenSource::builder(source).build()
    }

    /// Starts building a cache over `source`.
    pub fn builder(source: S) -> CacheBuilder<S> {
        CacheBuilder {
            source,
            policy: RefreshPolicy::default(),
            clock: Arc::new(CoarseClock::default()),
            store: None,
        }
    }

    /// The cached token if it is fresh (outside its refresh margin), without waiting and without
    /// starting a refresh. When this returns `None`, call [`token`](TokenSource::token).
    #[inline]
    pub fn cached_token(&self) -> Option<Token> {
        let now = self.shared.clock.now_millis();
        let guard = self.shared.current.load();
        match &*guard {
            Some(entry) if now < entry.refresh_at => Some(entry.handout().clone()),
            _ => None,
        }
    }

    /// The refresh policy in force.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.shared.policy
    }

    /// The wrapped source.
    pub fn source(&self) -> &S {
        &self.shared.source
    }
}

impl<S: TokenSource + 'static> CacheBuilder<S> {
    /// Sets the refresh policy.
    #[must_use]
    pub fn policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the clock (for tests: [`TokioClock`](crate::clock::TokioClock) or
    /// [`ManualClock`](crate::clock::ManualClock)).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Shares tokens through `store` under `key` (which identifies the credential and must not
    /// contain the secret).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.store = Some(StoreBinding {
            store,
            key: key.into(),
        });
        self
    }

    /// Builds the cache. Nothing is fetched until the first call.
    pub fn build(self) -> CachedTokenSource<S> {
        CachedTokenSource {
            shared: Arc::new(Shared {
                source: self.source,
                policy: self.policy,
                clock: self.clock,
                store: self.store,
                current: ArcSwapOption::empty(),
                state: Mutex::new(State::default()),
                store_degraded: AtomicBool::new(false),
            }),
        }
    }
}

#[async_trait]
impl<S: TokenSource + 'static> TokenSource for CachedTokenSource<S> {
    #[inline]
    async fn token(&self) -> Result<Token, Error> {
        let now = self.shared.clock.now_millis();
        if let Some(entry) = &*self.shared.current.load()
            && now < entry.refresh_at
        {
            return Ok(entry.handout().clone());
        }
        Arc::clone(&self.shared).token_slow().await
    }

    async fn invalidate(&self, token: &Token) {
        self.shared.invalidate(token).await;
    }
}

impl<S: TokenSource + 'static> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn token_slow(self: Arc<Self>) -> Result<Token, Error> {
        loop {
            let mut flight = {
                let mut state = self.lock();
                let now = self.clock.now_millis();
                if let Some(entry) = &*self.current.load() {
                    if now < entry.refresh_at {
                        return Ok(entry.handout().clone());
                    }
                    if now < entry.expires_at {
                        // Inside the margin: hand out the valid token, refresh in the background.
                        if self.may_refresh_ahead(&state, now) {
                            // Without a runtime there is no background: the token is still valid,
                            // and a caller will fetch in the foreground once it expires.
                            let _ = self.start_flight(&mut state, now);
                        }
                        return Ok(entry.handout().clone());
                    }
                }
                match &state.flight {
                    Some(flight) => flight.clone(),
                    None => {
                        if now < state.next_attempt_at
                            && let Some(error) = &state.last_error
                        {
                            return Err(error.clone());
                        }
                        self.start_flight(&mut state, now)?
                    }
                }
            };
            let finished = match flight.wait_for(Option::is_some).await {
                Ok(result) => result.clone(),
                Err(_) => None,
            };
            if let Some(result) = finished {
                return result;
            }
            // The flight was dropped without a result (its runtime shut down, perhaps before it
            // ever ran): forget it, so that the next round starts another.
            let mut state = self.lock();
            if state
                .flight
                .as_ref()
                .is_some_and(|current| current.same_channel(&flight))
            {
                state.flight = None;
            }
        }
    }

    fn may_refresh_ahead(&self, state: &State, now: u64) -> bool {
        state.flight.is_none()
            && now >= state.next_attempt_at
            && state
                .last_fetch_at
                .is_none_or(|at| now >= at.saturating_add(millis(self.policy.min_interval())))
    }

    /// Starts a fetch on the current tokio runtime and returns a receiver for its result.
    fn start_flight(
        self: &Arc<Self>,
        state: &mut State,
        now: u64,
    ) -> Result<watch::Receiver<FlightResult>, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::configuration(
                "runtime",
                "CachedTokenSource fetches tokens on a tokio runtime, and none is running",
            )
        })?;
        // A fetch right after another (an invalidated token) waits out the minimum interval.
        let not_before = state.last_fetch_at.map_or(now, |at| {
            at.saturating_add(millis(self.policy.min_interval()))
        });
        let delay = Duration::from_millis(not_before.saturating_sub(now));
        let (sender, receiver) = watch::channel(None);
        state.flight = Some(receiver.clone());
        state.last_fetch_at = Some(now.max(not_before));
        runtime.spawn(Arc::clone(self).run_flight(sender, delay));
        Ok(receiver)
    }

    async fn invalidate(&self, token: &Token) {
        let dropped = {
            let mut state = self.lock();
            let current = self.current.load();
            match &*current {
                Some(entry) if entry.token.same_secret(token) => {
                    self.current.store(None);
                    state.invalidated = Some(token.clone());
                    true
                }
                _ => false,
            }
        };
        if dropped {
            tracing::debug!("cached token invalidated");
            if let Some(binding) = &self.store
                && let Err(error) = binding.store.remove(&binding.key, token).await
            {
                self.store_failed(&error);
            }
        }
    }

    /// The cache entry for `token`, which has `remaining` time to live as of `now`.
    fn entry(&self, token: Token, remaining: Duration, now: u64) -> Entry {
        let full = token.lifetime().unwrap_or(remaining).max(remaining);
        let floor = now.saturating_add(millis(self.policy.min_interval()));
        let expires_at = now.saturating_add(millis(remaining));
        let refresh_at = expires_at.saturating_sub(millis(self.policy.margin_for(full)));
        Entry::new(token, refresh_at.max(floor), expires_at.max(floor))
    }
}

impl<S: fmt::Debug> fmt::Debug for CachedTokenSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("CachedTokenSource")
            .field("source", &shared.source)
            .field("policy", &shared.policy)
            .field("has_token", &shared.current.load().is_some())
            .field("store", &shared.store.as_ref().map(|b| &b.store))
            .finish()
    }
}

impl<S: fmt::Debug> fmt::Debug for CacheBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("source", &self.source)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Whole milliseconds in `d`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
