//! When the cache refreshes, and how it backs off.

use std::time::Duration;

/// When a [`CachedTokenSource`](crate::CachedTokenSource) refreshes and how it backs off.
///
/// ```
/// use std::time::Duration;
/// use tokensource_core::RefreshPolicy;
///
/// let policy = RefreshPolicy::default()
///     .with_margin(Duration::from_secs(120))
///     .with_max_attempts(5);
/// assert_eq!(policy.margin_for(Duration::from_secs(3600)), Duration::from_secs(120));
/// // Never more than half the lifetime, so short-lived tokens still get used.
/// assert_eq!(policy.margin_for(Duration::from_secs(2)), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshPolicy {
    margin: Duration,
    min_interval: Duration,
    default_lifetime: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_attempts: u32,
    lease_ttl: Duration,
    fetch_timeout: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            margin: Duration::from_secs(60),
            min_interval: Duration::from_secs(1),
            default_lifetime: Duration::from_secs(600),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            max_attempts: 3,
            lease_ttl: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(30),
        }
    }
}

impl RefreshPolicy {
    /// Refresh this long before expiry (default 60 s; never more than half the token's lifetime).
    #[must_use]
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The least time between two fetches started by refresh-ahead or by
    /// [`invalidate`](crate::TokenSource::invalidate), and the least time a fetched token is used
    /// (default 1 s). This is what makes refresh storms impossible, even with zero-lifetime tokens.
    #[must_use]
    pub fn with_min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// The lifetime assumed for a token whose expiry is unknown (default 10 minutes).
    #[must_use]
    pub fn with_default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// The first and the longest backoff delay after a failed fetch (defaults 0.5 s and 60 s).
    /// Delays double per consecutive failure, with jitter.
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// How many attempts one fetch makes on retryable errors before giving up (default 3, at
    /// least 1). Rejected credentials and invalid responses are never retried.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How long a shared store's refresh lease lasts (default 30 s): when the process holding it
    /// dies, another takes over after this long.
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// The longest one attempt to fetch a token may take (default 30 s), custom sources
    /// included: past it the attempt is abandoned and counts as
    /// [`Unavailable`](crate::ErrorKind::Unavailable).
    #[must_use]
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The configured fetch deadline.
    pub fn fetch_timeout(&self) -> Duration {
        self.fetch_timeout
    }

    /// The least time before a token is fetched again after an API refused the one before it,
    /// the `streak`-th time in a row (1-based): the minimum interval, doubling per refusal of a
    /// fresh token, up to the longest backoff. The first recovery stays fast; an API that keeps
    /// refusing every new token (a permission problem, not the token) costs one fetch per
    /// backoff step.
    pub fn refetch_interval(&self, streak: u32) -> Duration {
        let exponent = streak.saturating_sub(1).min(20);
        self.min_interval
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_max.max(self.min_interval))
    }

    /// The configured margin.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// The margin used for a token living `lifetime`: the configured margin, at most half of it.
    pub fn margin_for(&self, lifetime: Duration) -> Duration {
        self.margin.min(lifetime / 2)
    }

    /// The configured minimum interval.
    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// The lifetime assumed for tokens of unknown expiry.
    pub fn default_lifetime(&self) -> Duration {
        self.default_lifetime
    }

    /// The configured number of attempts per fetch.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The configured lease time to live.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// The longest backoff delay.
    pub fn backoff_max(&self) -> Duration {
        self.backoff_max
    }

    /// The delay after the `failures`-th consecutive failure (1-based): exponential, capped, with
    /// "equal jitter" (between half and all of the exponential delay), and at least `retry_after`
    /// when the endpoint asked for one (itself capped at the longest backoff).
    pub fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let base = self
            .backoff_initial
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_max);
        let half = base / 2;
        let jitter = half.mul_f64(rand::random::<f64>());
        let delay = half + jitter;
        match retry_after {
            Some(asked) => delay.max(asked.min(self.backoff_max)),
            None => delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p =
            RefreshPolicy::default().with_backoff(Duration::from_secs(1), Duration::from_secs(8));
        for _ in 0..100 {
            let first = p.backoff(1, None);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let fourth = p.backoff(4, None);
            assert!(fourth >= Duration::from_secs(4) && fourth <= Duration::from_secs(8));
            assert!(p.backoff(u32::MAX, None) <= Duration::from_secs(8));
        }
        assert!(p.backoff(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert!(p.backoff(1, Some(Duration::from_secs(3600))) <= Duration::from_secs(8));
    }
}
