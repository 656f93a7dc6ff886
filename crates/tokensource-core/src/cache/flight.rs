//! One fetch ("flight") of the cache: retries, the shared store's lease, publishing the result.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::{FlightResult, Shared, millis};
use crate::store::StoreError;
use crate::{Error, ErrorKind, Token, TokenSource};

/// Where a flight's token came from.
enum Origin {
    /// Fetched from the source by this process.
    Fetched,
    /// Read from the shared store, published by another process.
    Store,
}

/// Clears the flight if it ends without publishing (its task was dropped), so callers waiting on
/// it start another instead of waiting forever.
struct FlightGuard<'a, S: TokenSource + 'static> {
    shared: &'a Shared<S>,
    done: bool,
}

impl<S: TokenSource + 'static> Drop for FlightGuard<'_, S> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.lock().flight = None;
        }
    }
}

impl<S: TokenSource + 'static> Shared<S> {
    pub(super) async fn run_flight(
        self: Arc<Self>,
        sender: watch::Sender<FlightResult>,
        delay: Duration,
    ) {
        let mut guard = FlightGuard {
            shared: &self,
            done: false,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let result = self.fetch_with_retries().await;
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
                Err(error) => {
                    state.failures = state.failures.saturating_add(1);
                    let delay = match error.kind() {
                        ErrorKind::CredentialsRejected | ErrorKind::Configuration => {
                            self.policy.backoff_max()
                        }
                        _ => self.policy.backoff(state.failures, error.retry_after()),
                    };
                    state.next_attempt_at = now.saturating_add(millis(delay));
                    state.last_error = Some(error.clone());
                    tracing::warn!(
                        error = %error,
                        failures = state.failures,
                        retry_in_ms = millis(delay),
                        "token fetch failed"
                    );
                    Err(error)
                }
            };
            state.flight = None;
            guard.done = true;
            result
        };
        // Nobody waiting (a background refresh) is fine.
        let _ = sender.send(Some(result));
    }

    async fn fetch_with_retries(&self) -> Result<(Token, Origin), Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once().await {
                Err(error) if error.is_retryable() && attempt < self.policy.max_attempts() => {
                    let delay = self.policy.backoff(attempt, error.retry_after());
                    tracing::debug!(error = %error, attempt, "token fetch failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                result => return result,
            }
        }
    }

    /// One fetch: from the source, or through the shared store's lease when there is one.
    async fn fetch_once(&self) -> Result<(Token, Origin), Error> {
        let Some(binding) = &self.store else {
            return self.fetch_from_source().await;
        };
        let (store, key) = (&binding.store, binding.key.as_str());
        let lease_ttl = self.policy.lease_ttl();
        // Wait for another process's lease at most twice its time to live, then fetch anyway.
        let give_up_at = self
            .clock
            .now_millis()
            .saturating_add(millis(lease_ttl).saturating_mul(2));
        loop {
            let mut cursor = store.change_cursor(key);
            match store.get(key).await {
                Ok(Some(token)) if self.usable_from_store(&token) => {
                    self.store_ok();
                    return Ok((token, Origin::Store));
                }
                Ok(_) => {}
                Err(error) => return self.fetch_locally(&error).await,
            }
            match store.try_lease(key, lease_ttl).await {
                Ok(Some(lease)) => {
                    self.store_ok();
                    // The previous holder may have published and released between our read
                    // and our lease: look once more before fetching.
                    if let Ok(Some(token)) = store.get(key).await
                        && self.usable_from_store(&token)
                    {
                        if let Err(error) = store.release(key, &lease).await {
                            self.store_failed(&error);
                        }
                        return Ok((token, Origin::Store));
                    }
                    let result = self.fetch_from_source().await;
                    if let Ok((token, _)) = &result
                        && let Err(error) = store.put(key, token).await
                    {
                        self.store_failed(&error);
                    }
                    if let Err(error) = store.release(key, &lease).await {
                        self.store_failed(&error);
                    }
                    return result;
                }
                Ok(None) => {
                    let now = self.clock.now_millis();
                    if now >= give_up_at {
                        tracing::warn!("token store lease held too long; fetching locally");
                        return self.fetch_from_source().await;
                    }
                    let left = Duration::from_millis(give_up_at - now);
                    if let Err(error) = store.wait_for_change(key, &mut cursor, left).await {
                        return self.fetch_locally(&error).await;
                    }
                }
                Err(error) => return self.fetch_locally(&error).await,
            }
        }
    }

    async fn fetch_from_source(&self) -> Result<(Token, Origin), Error> {
        tracing::debug!("fetching a token");
        let token = self.source.token().await?;
        Ok((token, Origin::Fetched))
    }

    async fn fetch_locally(&self, error: &StoreError) -> Result<(Token, Origin), Error> {
        self.store_failed(error);
        self.fetch_from_source().await
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

    pub(super) fn store_failed(&self, error: &StoreError) {
        if !self.store_degraded.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %error, "token store unavailable; fetching tokens locally until it is back");
        }
    }

    fn store_ok(&self) {
        if self.store_degraded.swap(false, Ordering::AcqRel) {
            tracing::info!("token store is back; sharing tokens again");
        }
    }
}
