//! The caching layer: [`CachedTokenSource`] wraps any [`TokenSource`] and is itself one.

mod flight;
#[cfg(feature = "metrics")]
mod gauge;
mod next;
mod policy;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use tokio::runtime::Handle;
use tokio::sync::watch;

pub use policy::RefreshPolicy;

use flight::Reason;

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
/// - **Invalidate** drops the cached token only if it is still the one given, from memory and from
///   the store (compare and delete there, also when this process never held it). The first recovery
///   is fast (one [`min_interval`](RefreshPolicy::with_min_interval)); when freshly fetched tokens
///   keep being refused (a permission problem, not the token), the refetch interval doubles up to
///   the longest backoff, the refused token is served meanwhile (so callers get the API's answer
///   rather than waiting), and the interval resets once a token survives.
/// - **Faults end in errors, never in hangs or spins**: every fetch attempt has a deadline
///   ([`RefreshPolicy::with_fetch_timeout`], default 30 s; past it the attempt counts as
///   [`Unavailable`](crate::ErrorKind::Unavailable)); a source that panics, a fetch whose task is
///   dropped and a runtime that has shut down all give every waiter an [`Error`] and count for
///   backoff like any other failure (a panic is not retried within the fetch).
/// - **Fleets** (with a [`TokenStore`]): one process fetches under the store's lease, renewing it
///   while its fetch runs; the others wait for the store's change notification (or poll at
///   growing, jittered intervals); a failure and the time of the next allowed attempt are shared
///   through the store, so an outage costs the fleet one request per backoff step.
/// - **Observable off the hot path**: each fetch is a `tokensource.fetch` span linked to the
///   caller that needed it, refresh ahead, invalidation and store outages are events, and with
///   the `metrics` feature fetches, their durations, store errors and the token's remaining life
///   are metrics, labelled with [`CacheBuilder::provider`]. A call answered from the cached token
///   reports nothing. See [`observability`](crate::observability).
///
/// Time comes from a [`Clock`]: the default reads the coarse monotonic clock; tests pass a
/// [`TokioClock`](crate::clock::TokioClock) and use `tokio::time::pause`.
///
/// # Runtime
/// Fetches run as tasks on a tokio runtime the cache holds: the one given to
/// [`CacheBuilder::runtime`], or else the one current at the first call that needs a fetch. A
/// fetch never runs on whichever caller's runtime comes first. If the held runtime shuts down,
/// the fetch that was on it fails, and the next fetch runs on the runtime of the caller that
/// starts it. Used where no runtime is current, or on a runtime without the time driver, a call
/// that needs a fetch returns a [`Configuration`](crate::ErrorKind::Configuration) error.
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
///         Ok(Token::builder(format!("token-{n}"))
///             .expires_in(Duration::from_secs(3600))
///             .build()?)
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
    runtime: Option<Handle>,
    provider: Arc<str>,
}

/// A shared store and the key this cache's credential lives under.
struct StoreBinding {
    store: Arc<dyn TokenStore>,
    key: String,
    /// The store's [`name`](TokenStore::name), for events and metrics.
    name: Arc<str>,
}

/// The provider label of a cache not given one.
const UNKNOWN_PROVIDER: &str = "unknown";

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
    /// The provider's name in spans, events and metric labels.
    provider: Arc<str>,
    /// Whether a task keeps the expiry gauge counting down (see `gauge`).
    #[cfg(feature = "metrics")]
    gauge_ticking: AtomicBool,
}

/// A cached token and the times (on the clock's millisecond timeline) that matter for it.
struct Entry {
    token: Token,
    /// Copies of `token` in separate allocations, one per shard of threads: each thread clones
    /// its own, so the reference count every caller increments is not one contended cache line.
    shards: Box<[Token]>,
    refresh_at: u64,
    expires_at: u64,
    /// When this process got the token, for telling a refused fresh token from an old one.
    fetched_at: u64,
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
    fn new(token: Token, refresh_at: u64, expires_at: u64, fetched_at: u64) -> Entry {
        let shards = (1..shard_count())
            .map(|_| token.duplicate())
            .chain(std::iter::once(token.clone()))
            .collect();
        Entry {
            token,
            shards,
            refresh_at,
            expires_at,
            fetched_at,
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
    /// Which flight is the current one (a finished flight only clears its own).
    flight_id: u64,
    /// The runtime fetches run on, once taken.
    runtime: Option<Handle>,
    /// Whether `runtime` was checked for a time driver.
    runtime_checked: bool,
    /// When the source was last called, for the minimum interval.
    last_fetch_at: Option<u64>,
    /// How many tokens in a row were refused while fresh.
    refused_streak: u32,
    /// No fetch before this time after a refused token.
    refetch_not_before: u64,
    /// Consecutive failed flights.
    failures: u32,
    /// No new flight before this time after a failure.
    next_attempt_at: u64,
    /// What the last failed flight returned, handed to callers during the backoff delay.
    last_error: Option<Error>,
    /// The last token invalidated, never to be reloaded from a shared store.
    invalidated: Option<Token>,
    /// Whether an invalidation happened since the last flight started (the next flight's reason).
    invalidated_since_flight: bool,
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
            runtime: None,
            provider: Arc::from(UNKNOWN_PROVIDER),
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

    /// Waits for the token that follows `after` and returns it: for a process that hands the
    /// cache's tokens on to others (a sidecar writing a token file) and so must see every
    /// refresh, and every failed one. With `after = None`, the first token.
    ///
    /// - If the cache holds a valid token other than `after` (a refresh happened since), it is
    ///   returned at once.
    /// - Else this waits until `after` enters its refresh margin (at once if it already has,
    ///   or if the cache holds no valid token), or, after a failed fetch, until the backoff
    ///   allows the next attempt; then it refreshes, joining a fetch already running, and returns
    ///   the fetch's result: the new token, or the error of the failed fetch (`after` stays
    ///   cached and served to [`token`](TokenSource::token) callers while it is valid). Call it
    ///   again to wait for the next attempt.
    /// - A fetch that yields `after` again (a shared store still holding it) is not returned:
    ///   the wait goes on until the refresh yields another token.
    ///
    /// "Another token" means another secret, or the same secret with another issue or expiry
    /// time (a provider that hands out one long-lived key with a new expiry each time).
    ///
    /// It never spins: a refresh starts at most once per
    /// [`min_interval`](RefreshPolicy::with_min_interval) and once per backoff step. Dropping
    /// the future cancels the wait, not a fetch it started. Must be called inside a tokio runtime
    /// with the time driver, else it returns a [`Configuration`](crate::ErrorKind::Configuration)
    /// error.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// use tokensource_core::{from_fn, CachedTokenSource, Error, RefreshPolicy, Token, TokenSource};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let fetches = Arc::new(AtomicUsize::new(0));
    /// let counter = fetches.clone();
    /// let cache = CachedTokenSource::builder(from_fn("demo", move || {
    ///     let n = counter.fetch_add(1, Ordering::SeqCst);
    ///     async move { Ok(Token::builder(format!("token-{n}")).expires_in(Duration::from_secs(60)).build()?) }
    /// }))
    /// .policy(RefreshPolicy::default().with_margin(Duration::from_secs(10)))
    /// .clock(tokensource_core::clock::TokioClock::new())
    /// .build();
    /// let first = cache.next_token(None).await?;
    /// assert_eq!(first.expose_secret(), "token-0");
    /// // Returns about 50 s later, when the first token entered its margin and was replaced.
    /// let second = cache.next_token(Some(&first)).await?;
    /// assert_eq!(second.expose_secret(), "token-1");
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn next_token(&self, after: Option<&Token>) -> Result<Token, Error> {
        Arc::clone(&self.shared).next_token(after).await
    }

    /// The provider's name in spans, events and metric labels ([`CacheBuilder::provider`]).
    pub fn provider(&self) -> &str {
        &self.shared.provider
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
        let name = Arc::from(store.name());
        self.store = Some(StoreBinding {
            store,
            key: key.into(),
            name,
        });
        self
    }

    /// Names the provider in the cache's `tracing` fields and metric labels (`provider`; see
    /// [`observability`](crate::observability)), such as `"younium"`; default `"unknown"`.
    /// Profiles built from configuration set their `provider`. Keep it to a few fixed names (it
    /// is a metric label) and never put a secret in it.
    ///
    /// ```
    /// use tokensource_core::{CachedTokenSource, StaticTokenSource, Token};
    ///
    /// # fn main() -> Result<(), tokensource_core::InvalidToken> {
    /// let cache = CachedTokenSource::builder(StaticTokenSource::new(Token::bearer("t")?))
    ///     .provider("static")
    ///     .build();
    /// assert_eq!(cache.provider(), "static");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn provider(mut self, name: impl Into<String>) -> Self {
        self.provider = Arc::from(name.into());
        self
    }

    /// Runs fetches on `runtime` (which must have the time driver). Without it, the cache takes
    /// the runtime current at the first call that needs a fetch.
    #[must_use]
    pub fn runtime(mut self, runtime: Handle) -> Self {
        self.runtime = Some(runtime);
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
                state: Mutex::new(State {
                    runtime: self.runtime,
                    ..State::default()
                }),
                store_degraded: AtomicBool::new(false),
                provider: self.provider,
                #[cfg(feature = "metrics")]
                gauge_ticking: AtomicBool::new(false),
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
        // The launch lives in a block of its own, so that this future (which every call of
        // `token` allocates) keeps no room for it across the wait below.
        let mut flight = {
            let (flight, launch) = {
                let mut state = self.lock();
                let now = self.clock.now_millis();
                if let Some(entry) = &*self.current.load() {
                    if now < entry.refresh_at {
                        return Ok(entry.handout().clone());
                    }
                    if now < entry.expires_at {
                        // Inside the margin: hand out the valid token, refresh in the background.
                        // Without a usable runtime there is no background: the token is still
                        // valid, and a caller gets the configuration error once it expires.
                        let launch = if self.may_refresh_ahead(&state, now) {
                            self.prepare_flight(&mut state, now, Reason::RefreshAhead, false)
                                .ok()
                                .map(|(_, launch)| launch)
                        } else {
                            None
                        };
                        let token = entry.handout().clone();
                        drop(state);
                        if let Some(launch) = launch {
                            let left = entry.expires_at.saturating_sub(now);
                            tracing::debug!(
                                provider = &*self.provider,
                                expires_in_ms = left,
                                "refreshing the token ahead of expiry; the cached token is \
                                 served meanwhile"
                            );
                            self.record_expiry(now);
                            launch.spawn();
                        }
                        return Ok(token);
                    }
                }
                match &state.flight {
                    Some(flight) => (flight.clone(), None),
                    None => {
                        if now < state.next_attempt_at
                            && let Some(error) = &state.last_error
                        {
                            return Err(error.clone());
                        }
                        let reason = if self.current.load().is_some() {
                            Reason::Expired
                        } else {
                            Reason::NoToken
                        };
                        let (flight, launch) =
                            self.prepare_flight(&mut state, now, reason, true)?;
                        (flight, Some(launch))
                    }
                }
            };
            // Spawned without the lock held: spawning on a runtime that has shut down drops
            // the task at once, and its guard then takes the lock to fail the flight.
            if let Some(launch) = launch {
                launch.spawn();
            }
            flight
        };
        match flight.wait_for(Option::is_some).await {
            Ok(result) => result
                .clone()
                .unwrap_or_else(|| Err(flight::ended_without_result())),
            // The flight's guard always sends before the sender goes; this is a last resort.
            Err(_) => Err(flight::ended_without_result()),
        }
    }

    fn may_refresh_ahead(&self, state: &State, now: u64) -> bool {
        state.flight.is_none()
            && now >= state.next_attempt_at
            && now >= state.refetch_not_before
            && state
                .last_fetch_at
                .is_none_or(|at| now >= at.saturating_add(millis(self.policy.min_interval())))
    }

    /// The runtime fetches run on: the one held, or the current one (which is then held).
    fn runtime(&self, state: &mut State) -> Result<Handle, Error> {
        let handle = match &state.runtime {
            Some(handle) => handle.clone(),
            None => {
                let handle = Handle::try_current().map_err(|_| {
                    Error::configuration(
                        "runtime",
                        "CachedTokenSource fetches tokens on a tokio runtime, and none is \
                         running here (call it from inside a runtime, or give the cache one \
                         with CacheBuilder::runtime)",
                    )
                })?;
                state.runtime = Some(handle.clone());
                state.runtime_checked = false;
                handle
            }
        };
        if !state.runtime_checked {
            if !has_time_driver(&handle) {
                state.runtime = None;
                return Err(Error::configuration(
                    "runtime",
                    "the tokio runtime has no time driver, which the cache needs for fetch \
                     deadlines and backoff: build it with enable_time() or enable_all()",
                ));
            }
            state.runtime_checked = true;
        }
        Ok(handle)
    }

    /// Registers a new flight and returns a receiver for its result and the task to spawn
    /// (after the lock is released). `waited` says whether the caller waits for it (else it is
    /// a refresh in the background).
    fn prepare_flight(
        self: &Arc<Self>,
        state: &mut State,
        now: u64,
        reason: Reason,
        waited: bool,
    ) -> Result<(watch::Receiver<FlightResult>, flight::Launch<S>), Error> {
        let runtime = self.runtime(state)?;
        let reason = if std::mem::take(&mut state.invalidated_since_flight) {
            Reason::Invalidated
        } else {
            reason
        };
        // A fetch right after another (an invalidated token) waits out the minimum interval,
        // and after repeatedly refused tokens the growing refetch interval.
        let not_before = state
            .last_fetch_at
            .map_or(now, |at| {
                at.saturating_add(millis(self.policy.min_interval()))
            })
            .max(state.refetch_not_before);
        let delay = Duration::from_millis(not_before.saturating_sub(now));
        let (sender, receiver) = watch::channel(None);
        state.flight = Some(receiver.clone());
        state.flight_id = state.flight_id.wrapping_add(1);
        let launch = flight::Launch::new(
            Arc::clone(self),
            runtime,
            sender,
            state.flight_id,
            delay,
            reason,
            waited,
        );
        Ok((receiver, launch))
    }

    async fn invalidate(&self, token: &Token) {
        // Whether `token` was the cached one (and is dropped), and whether to remove it from
        // the store: also when this process does not hold it (a new process told of a token an
        // earlier one handed out, as a git credential helper's `erase` is), since the store
        // deletes it only if it still holds exactly that token.
        let (dropped, from_store) = {
            let mut state = self.lock();
            let now = self.clock.now_millis();
            let current = self.current.load();
            let seen = state
                .invalidated
                .as_ref()
                .is_some_and(|seen| seen.same_secret(token));
            match &*current {
                Some(entry) if entry.token.same_secret(token) && !seen => {
                    // A token refused while fresh extends the streak; one that survived the
                    // longest backoff starts a new one.
                    let age = now.saturating_sub(entry.fetched_at);
                    state.refused_streak = if age < millis(self.policy.backoff_max()) {
                        state.refused_streak.saturating_add(1)
                    } else {
                        1
                    };
                    let interval = self.policy.refetch_interval(state.refused_streak);
                    state.refetch_not_before = entry.fetched_at.saturating_add(millis(interval));
                    if state.refused_streak <= 1 || state.refetch_not_before <= now {
                        self.current.store(None);
                    } else {
                        // Refused again and again: keep serving it until the refetch is due,
                        // so that callers get the API's answer instead of waiting.
                        self.current.store(Some(Arc::new(Entry::new(
                            entry.token.clone(),
                            now,
                            entry.expires_at,
                            entry.fetched_at,
                        ))));
                        tracing::warn!(
                            provider = &*self.provider,
                            refused = state.refused_streak,
                            refetch_in_ms = state.refetch_not_before.saturating_sub(now),
                            "freshly fetched tokens keep being refused; backing off"
                        );
                    }
                    state.invalidated = Some(token.clone());
                    state.invalidated_since_flight = true;
                    (true, true)
                }
                // Already invalidated here: removed from the store then.
                _ => (false, !seen),
            }
        };
        if dropped {
            tracing::info!(provider = &*self.provider, "cached token invalidated");
            self.record_expiry(self.clock.now_millis());
        }
        if from_store
            && let Some(binding) = &self.store
            && let Err(error) = binding.store.remove(&binding.key, token).await
        {
            self.store_failed(&error);
        }
    }

    /// Sets the `tokensource_token_expires_in_seconds` gauge from the cached token (zero
    /// without one), with the `metrics` feature.
    fn record_expiry(&self, now: u64) {
        #[cfg(feature = "metrics")]
        {
            let left = self
                .current
                .load()
                .as_ref()
                .map_or(0, |entry| entry.expires_at.saturating_sub(now));
            crate::observability::record_expires_in(&self.provider, Duration::from_millis(left));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = now;
    }

    /// The cache entry for `token`, which has `remaining` time to live as of `now`.
    ///
    /// The refresh point is jittered (up to a tenth of the margin earlier), so that a fleet of
    /// processes holding one shared token does not wake at one instant.
    ///
    /// The token counts as expired a little before its stated expiry (a second, at most a tenth
    /// of its lifetime), for the time a request takes to reach the API and for clock skew.
    fn entry(&self, token: Token, remaining: Duration, now: u64) -> Entry {
        let full = token.lifetime().unwrap_or(remaining).max(remaining);
        let floor = now.saturating_add(millis(self.policy.min_interval()));
        let safety = EXPIRY_SAFETY.min(full / 10);
        let expires_at = now.saturating_add(millis(remaining.saturating_sub(safety)));
        let margin = self.policy.margin_for(full);
        let margin = margin + (margin / 10).mul_f64(rand::random::<f64>());
        let refresh_at = expires_at.saturating_sub(millis(margin));
        Entry::new(token, refresh_at.max(floor), expires_at.max(floor), now)
    }
}

impl<S: fmt::Debug> fmt::Debug for CachedTokenSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("CachedTokenSource")
            .field("provider", &shared.provider)
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
            .field("provider", &self.provider)
            .field("source", &self.source)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// How long before its stated expiry a token stops being handed out (at most a tenth of its
/// lifetime).
const EXPIRY_SAFETY: Duration = Duration::from_secs(1);

/// Whether `runtime` has the time driver. Tokio offers no query for it; creating a timer is
/// the test (it panics without the driver, and the panic is caught here, once per runtime).
fn has_time_driver(runtime: &Handle) -> bool {
    let _entered = runtime.enter();
    std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO))).is_ok()
}

/// Whole milliseconds in `d`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
