//! One fetch ("flight") of the cache: its task and guard, deadlines, retries, the shared store's
//! lease and failure record, publishing the result.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{Either, select};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::{FlightResult, Shared, millis};
use crate::observability;
use crate::store::{FleetFailure, Lease, StoreError, TokenStore};
use crate::{Error, ErrorKind, Token, TokenSource};

/// The provider named in errors the cache itself makes.
const CACHE: &str = "token cache";
/// The first and the longest wait between two polls of a store without notifications.
const POLL_FIRST: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(2);

/// Where a flight's token came from.
pub(super) enum Origin {
    /// Fetched from the source by this process.
    Fetched,
    /// Read from the shared store, published by another process.
    Store,
}

impl Origin {
    fn as_str(&self) -> &'static str {
        match self {
            Origin::Fetched => "provider",
            Origin::Store => "store",
        }
    }
}

/// Why a flight started (the `reason` field of its span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// No token: the first use, or earlier fetches failed.
    NoToken,
    /// The cached token expired.
    Expired,
    /// An API refused the cached token.
    Invalidated,
    /// The valid cached token is inside its refresh margin.
    RefreshAhead,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::NoToken => "no_token",
            Reason::Expired => "expired",
            Reason::Invalidated => "invalidated",
            Reason::RefreshAhead => "refresh_ahead",
        }
    }
}

/// A failed flight: the error, and how long to wait before the next attempt when that was
/// already decided (by the fleet's shared failure record).
pub(super) struct Failed {
    error: Error,
    retry_in: Option<Duration>,
}

impl Failed {
    fn local(error: Error) -> Self {
        Failed {
            error,
            retry_in: None,
        }
    }
}

/// The error for a flight that ended without sending a result.
pub(super) fn ended_without_result() -> Error {
    Error::other(CACHE, "the token fetch ended without a result")
}

/// A flight ready to be spawned.
pub(super) struct Launch<S: TokenSource + 'static> {
    runtime: Handle,
    guard: FlightGuard<S>,
    delay: Duration,
    reason: Reason,
    /// Whether the caller that starts it waits for it.
    waited: bool,
}

impl<S: TokenSource + 'static> Launch<S> {
    pub(super) fn new(
        shared: Arc<Shared<S>>,
        runtime: Handle,
        sender: watch::Sender<FlightResult>,
        id: u64,
        delay: Duration,
        reason: Reason,
        waited: bool,
    ) -> Self {
        Launch {
            runtime,
            guard: FlightGuard {
                shared,
                sender: Some(sender),
                id,
                started: false,
                span: Span::none(),
                launched_at: Instant::now(),
                attempts: AtomicU32::new(0),
            },
            delay,
            reason,
            waited,
        }
    }

    /// Spawns the flight on the cache's runtime, in its `tokensource.fetch` span. Must be
    /// called without the state lock (on a runtime that has shut down, the task is dropped at
    /// once and its guard fails the flight), in the caller's context (the span links to the
    /// caller's span).
    pub(super) fn spawn(self) {
        let Launch {
            runtime,
            mut guard,
            delay,
            reason,
            waited,
        } = self;
        let span = flight_span(&guard.shared.provider, reason, waited);
        guard.span = span.clone();
        guard.launched_at = Instant::now();
        #[cfg(feature = "metrics")]
        super::gauge::ensure_ticking(&guard.shared, &runtime);
        runtime.spawn(run_flight(guard, delay).instrument(span));
    }
}

/// The span of a flight, linked to the caller's current span: its child when the caller waits
/// for the flight, else (a refresh in the background, which may outlive the caller's span) a
/// root span that follows from it. See the `observability` module's documentation.
fn flight_span(provider: &str, reason: Reason, waited: bool) -> Span {
    let caller = Span::current();
    macro_rules! fetch_span {
        ($parent:expr) => {
            tracing::info_span!(
                parent: $parent,
                "tokensource.fetch",
                provider,
                reason = reason.as_str(),
                attempt = Empty,
                origin = Empty,
                outcome = Empty,
                status = Empty,
                duration_ms = Empty,
            )
        };
    }
    if waited {
        fetch_span!(&caller)
    } else {
        let span = fetch_span!(None);
        span.follows_from(&caller);
        span
    }
}

/// Owns the flight's result channel inside its task: however the task ends (a result, a panic,
/// the task dropped by a runtime shutting down, before or after it first ran), every waiter gets
/// a result, and a failure counts for backoff.
struct FlightGuard<S: TokenSource + 'static> {
    shared: Arc<Shared<S>>,
    sender: Option<watch::Sender<FlightResult>>,
    id: u64,
    /// Whether the task ever ran.
    started: bool,
    /// The flight's span, which gets the result's fields.
    span: Span,
    launched_at: Instant,
    /// Calls of the source so far.
    attempts: AtomicU32,
}

impl<S: TokenSource + 'static> FlightGuard<S> {
    fn finish(mut self, result: Result<(Token, Origin), Failed>) {
        if let Some(sender) = self.sender.take() {
            self.record(&result);
            self.shared.complete(self.id, result, &sender);
        }
    }

    /// Records the flight's result on its span.
    fn record(&self, result: &Result<(Token, Origin), Failed>) {
        let span = &self.span;
        span.record("attempt", self.attempts.load(Ordering::Relaxed));
        match result {
            Ok((_, origin)) => {
                span.record("outcome", "ok");
                span.record("origin", origin.as_str());
            }
            Err(failed) => {
                span.record("outcome", observability::outcome(failed.error.kind()));
                span.record("status", failed.error.status());
            }
        }
        span.record("duration_ms", millis(self.launched_at.elapsed()));
    }
}

impl<S: TokenSource + 'static> Drop for FlightGuard<S> {
    fn drop(&mut self) {
        let Some(sender) = self.sender.take() else {
            return;
        };
        let error = if !self.started {
            // Let the next fetch take the runtime of whichever caller starts it.
            self.shared.lock().runtime = None;
            Error::unavailable(
                CACHE,
                "the token fetch never ran: the tokio runtime it was started on has shut down",
            )
        } else if std::thread::panicking() {
            Error::other(CACHE, "the token fetch panicked")
        } else {
            Error::unavailable(
                CACHE,
                "the token fetch was dropped before it finished (its tokio runtime shut down)",
            )
        };
        let result = Err(Failed::local(error));
        self.record(&result);
        self.shared.complete(self.id, result, &sender);
    }
}

async fn run_flight<S: TokenSource + 'static>(mut guard: FlightGuard<S>, delay: Duration) {
    guard.started = true;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let result = guard.shared.fetch(&guard.attempts).await;
    guard.finish(result);
}

impl<S: TokenSource + 'static> Shared<S> {
    /// Publishes a flight's result: the new entry or the failure and its backoff, then every
    /// waiter's result.
    fn complete(
        &self,
        id: u64,
        result: Result<(Token, Origin), Failed>,
        sender: &watch::Sender<FlightResult>,
    ) {
        let now = self.clock.now_millis();
        let result = {
            let mut state = self.lock();
            let result = match result {
                Ok((token, origin)) => {
                    let remaining = match origin {
                        Origin::Fetched => token
                            .lifetime()
                            .unwrap_or_else(|| self.policy.default_lifetime()),
                        Origin::Store => self.remaining_in_store(&token),
                    };
                    self.current
                        .store(Some(Arc::new(self.entry(token.clone(), remaining, now))));
                    state.failures = 0;
                    state.next_attempt_at = 0;
                    state.last_error = None;
                    Ok(token)
                }
                Err(Failed { error, retry_in }) => {
                    state.failures = state.failures.saturating_add(1);
                    let delay =
                        retry_in.unwrap_or_else(|| self.failure_delay(state.failures, &error));
                    state.next_attempt_at = now.saturating_add(millis(delay));
                    state.last_error = Some(error.clone());
                    tracing::warn!(
                        provider = &*self.provider,
                        error = %error,
                        failures = state.failures,
                        retry_in_ms = millis(delay),
                        "token fetch failed"
                    );
                    Err(error)
                }
            };
            if state.flight_id == id {
                state.flight = None;
            }
            result
        };
        self.record_expiry(now);
        // Nobody waiting (a background refresh) is fine.
        let _ = sender.send(Some(result));
    }

    /// How long to wait after the `failures`-th consecutive failure, ending with `error`.
    fn failure_delay(&self, failures: u32, error: &Error) -> Duration {
        match error.kind() {
            ErrorKind::CredentialsRejected | ErrorKind::Configuration => self.policy.backoff_max(),
            _ => self.policy.backoff(failures, error.retry_after()),
        }
    }

    /// One flight's work; `attempts` counts the calls of the source.
    async fn fetch(&self, attempts: &AtomicU32) -> Result<(Token, Origin), Failed> {
        match &self.store {
            None => self
                .fetch_from_source(attempts)
                .await
                .map(|token| (token, Origin::Fetched))
                .map_err(Failed::local),
            Some(binding) => {
                self.fetch_through_store(&*binding.store, &binding.key, attempts)
                    .await
            }
        }
    }

    /// Fetches from the source, retrying retryable errors with backoff.
    async fn fetch_from_source(&self, attempts: &AtomicU32) -> Result<Token, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            attempts.fetch_add(1, Ordering::Relaxed);
            match self.attempt(attempt).await {
                Err(error) if error.is_retryable() && attempt < self.policy.max_attempts() => {
                    let delay = self.policy.backoff(attempt, error.retry_after());
                    tracing::debug!(
                        error = %error,
                        attempt,
                        retry_in_ms = millis(delay),
                        "token fetch failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                result => return result,
            }
        }
    }

    /// One call of the source, within the fetch deadline; a panic becomes an error. Each is
    /// counted in the fetch metrics.
    async fn attempt(&self, attempt: u32) -> Result<Token, Error> {
        tracing::debug!(attempt, "fetching a token");
        self.lock().last_fetch_at = Some(self.clock.now_millis());
        let timeout = self.policy.fetch_timeout();
        let started = Instant::now();
        let call = AssertUnwindSafe(self.source.token()).catch_unwind();
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(Ok(result)) => result,
            // The payload is not shown: a panic message may quote anything, secrets included.
            Ok(Err(_panic)) => Err(Error::other(CACHE, "the token source panicked")),
            Err(_) => Err(Error::unavailable(
                CACHE,
                format!(
                    "the token source did not answer within the fetch deadline of {} ms; \
                     the attempt was abandoned",
                    timeout.as_millis()
                ),
            )),
        };
        let elapsed = started.elapsed();
        let (outcome, status) = match &result {
            Ok(_) => ("ok", None),
            Err(error) => (observability::outcome(error.kind()), error.status()),
        };
        tracing::debug!(
            attempt,
            outcome,
            status,
            duration_ms = millis(elapsed),
            "token fetch attempt finished"
        );
        observability::record_fetch(&self.provider, outcome, elapsed);
        result
    }

    /// One fetch through the shared store: its token if usable, else under its lease (one
    /// process fetches for the fleet), honouring the fleet's shared backoff.
    async fn fetch_through_store(
        &self,
        store: &dyn TokenStore,
        key: &str,
        attempts: &AtomicU32,
    ) -> Result<(Token, Origin), Failed> {
        let started = self.clock.now_millis();
        let give_up_at = started.saturating_add(millis(jittered(self.longest_wait(), 0.5)));
        let mut poll = POLL_FIRST;
        loop {
            // Taken before reading, so that a change between the read and the wait is seen.
            let mut cursor = store.change_cursor(key);
            match store.get(key).await {
                Ok(Some(token)) if self.usable_from_store(&token) => {
                    self.store_ok();
                    return Ok((token, Origin::Store));
                }
                Ok(_) => {}
                Err(error) => return self.fetch_locally(&error, attempts).await,
            }
            match store.try_lease(key, self.policy.lease_ttl()).await {
                Ok(Some(lease)) => {
                    self.store_ok();
                    let result = self.fetch_as_holder(store, key, &lease, attempts).await;
                    if let Err(error) = store.release(key, &lease).await {
                        self.store_failed(&error);
                    }
                    return result;
                }
                Ok(None) => {}
                Err(error) => return self.fetch_locally(&error, attempts).await,
            }
            let now = self.clock.now_millis();
            if now >= give_up_at {
                tracing::warn!("the token store's lease was held too long; fetching locally");
                return self.fetch_locally_anyway(attempts).await;
            }
            let left = Duration::from_millis(give_up_at - now);
            // With notifications, wake on them (re-reading now and then in case one is lost);
            // without, poll at growing, jittered intervals.
            let wait = if cursor.is_notified() {
                jittered(self.policy.lease_ttl() / 2, 0.5)
            } else {
                let wait = jittered(poll, 0.5);
                poll = (poll * 2).min(POLL_MAX);
                wait
            };
            if let Err(error) = store
                .wait_for_change(key, &mut cursor, wait.min(left))
                .await
            {
                return self.fetch_locally(&error, attempts).await;
            }
        }
    }

    /// Holding the lease: look once more (the previous holder may have published or failed
    /// between our read and our lease), then fetch for everyone, renewing the lease meanwhile,
    /// and share the token or the failure.
    async fn fetch_as_holder(
        &self,
        store: &dyn TokenStore,
        key: &str,
        lease: &Lease,
        attempts: &AtomicU32,
    ) -> Result<(Token, Origin), Failed> {
        match store.get(key).await {
            Ok(Some(token)) if self.usable_from_store(&token) => {
                return Ok((token, Origin::Store));
            }
            Ok(_) => {}
            Err(error) => self.store_failed(&error),
        }
        let shared = match store.failure(key).await {
            Ok(shared) => shared,
            Err(error) => {
                self.store_failed(&error);
                None
            }
        };
        if let Some(failure) = &shared
            && let Ok(left) = failure.retry_at().duration_since(self.clock.system_time())
            && !left.is_zero()
        {
            tracing::debug!(
                retry_in_ms = millis(left),
                "the fleet is backing off after a failed fetch"
            );
            return Err(Failed {
                error: failure.to_error(),
                retry_in: Some(left),
            });
        }
        match self.fetch_renewing(store, key, lease, attempts).await {
            Ok(token) => {
                if let Err(error) = store.put(key, &token).await {
                    self.store_failed(&error);
                }
                if shared.is_some()
                    && let Err(error) = store.clear_failure(key).await
                {
                    self.store_failed(&error);
                }
                Ok((token, Origin::Fetched))
            }
            Err(error) => {
                let local = self.lock().failures;
                let failures = local
                    .max(shared.as_ref().map_or(0, |f| f.failures))
                    .saturating_add(1);
                let delay = self.failure_delay(failures, &error);
                let retry_at = self.clock.system_time() + delay;
                let record = FleetFailure::new(&error, failures, retry_at);
                if let Err(store_error) = store.record_failure(key, &record).await {
                    self.store_failed(&store_error);
                }
                Err(Failed {
                    error,
                    retry_in: Some(delay),
                })
            }
        }
    }

    /// Fetches from the source while renewing `lease` every third of its time to live, so that
    /// a slow fetch is not mistaken for a dead holder.
    async fn fetch_renewing(
        &self,
        store: &dyn TokenStore,
        key: &str,
        lease: &Lease,
        attempts: &AtomicU32,
    ) -> Result<Token, Error> {
        let ttl = self.policy.lease_ttl();
        let renew = async {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match store.renew(key, lease, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!("lost the token store's lease while fetching");
                        return;
                    }
                    Err(error) => self.store_failed(&error),
                }
            }
        };
        let fetch = std::pin::pin!(self.fetch_from_source(attempts));
        let renew = std::pin::pin!(renew);
        match select(fetch, renew).await {
            Either::Left((result, _)) => result,
            Either::Right(((), fetch)) => fetch.await,
        }
    }

    /// The longest a process waits for another's lease before fetching itself: the holder's
    /// longest possible fetch (every attempt to its deadline, every backoff at its longest) and
    /// one lease time to live. A holder that dies stops renewing, and its lease expires sooner.
    fn longest_wait(&self) -> Duration {
        let attempts = self.policy.max_attempts();
        (self.policy.fetch_timeout() + self.policy.backoff_max()).saturating_mul(attempts)
            + self.policy.lease_ttl()
    }

    async fn fetch_locally(
        &self,
        error: &StoreError,
        attempts: &AtomicU32,
    ) -> Result<(Token, Origin), Failed> {
        self.store_failed(error);
        self.fetch_locally_anyway(attempts).await
    }

    async fn fetch_locally_anyway(&self, attempts: &AtomicU32) -> Result<(Token, Origin), Failed> {
        self.fetch_from_source(attempts)
            .await
            .map(|token| (token, Origin::Fetched))
            .map_err(Failed::local)
    }

    /// Whether a token read from the store may be used: not the one we invalidated, and not yet
    /// inside its refresh margin (else this process should refresh it).
    fn usable_from_store(&self, token: &Token) -> bool {
        if let Some(invalidated) = &self.lock().invalidated
            && invalidated.same_secret(token)
        {
            return false;
        }
        let remaining = self.remaining_in_store(token);
        let full = token.lifetime().unwrap_or(remaining);
        remaining > self.policy.margin_for(full)
    }

    /// How long a stored token has left by the clock's wall time.
    fn remaining_in_store(&self, token: &Token) -> Duration {
        let now = self.clock.system_time();
        match token.expires_at() {
            Some(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
            None => {
                let age = now
                    .duration_since(token.issued_at())
                    .unwrap_or(Duration::ZERO);
                self.policy.default_lifetime().saturating_sub(age)
            }
        }
    }

    /// A store operation failed: counted each time, reported once per episode.
    pub(super) fn store_failed(&self, error: &StoreError) {
        let store = self.store.as_ref().map_or("", |binding| &*binding.name);
        if let Some(binding) = &self.store {
            observability::record_store_error(&binding.name);
        }
        if !self.store_degraded.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                provider = &*self.provider,
                store,
                error = %error,
                "token store unavailable; fetching tokens locally until it is back"
            );
        }
    }

    /// A store operation succeeded: the end of an episode of failures is reported once.
    fn store_ok(&self) {
        if self.store_degraded.swap(false, Ordering::AcqRel) {
            let store = self.store.as_ref().map_or("", |binding| &*binding.name);
            tracing::info!(
                provider = &*self.provider,
                store,
                "token store is back; sharing tokens again"
            );
        }
    }
}

/// `base` stretched by a random factor in `[1, 1 + spread]`.
fn jittered(base: Duration, spread: f64) -> Duration {
    base + base.mul_f64(spread * rand::random::<f64>())
}
