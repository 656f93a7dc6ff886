//! Where the cache reads the time.
//!
//! The cache's hot path reads a coarse monotonic clock (about a millisecond of resolution, a few
//! nanoseconds a read): refresh margins are seconds, so this is plenty, and it is several times
//! cheaper than `Instant::now()`. Tests swap in [`TokioClock`], which follows
//! `tokio::time::pause` and `advance`, or a [`ManualClock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A monotonic clock with millisecond resolution plus the wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Milliseconds since an arbitrary, fixed origin. Never goes backwards.
    fn now_millis(&self) -> u64;

    /// The wall-clock time, for absolute expiry times (JWT `exp`, shared stores).
    fn system_time(&self) -> SystemTime;
}

/// The default clock: the operating system's coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE` on Linux) and `SystemTime::now()`.
#[derive(Debug, Clone, Copy)]
pub struct CoarseClock {
    origin: coarsetime::Instant,
}

impl Default for CoarseClock {
    fn default() -> Self {
        CoarseClock {
            origin: coarsetime::Instant::now(),
        }
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now_millis(&self) -> u64 {
        coarsetime::Instant::now_without_cache_update()
            .duration_since(self.origin)
            .as_millis()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that follows tokio's clock, so `tokio::time::pause()` and `advance()` move it.
///
/// Its wall-clock time is the system time at creation plus tokio's elapsed time, so absolute
/// and monotonic times stay consistent under a paused clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
    system_origin: SystemTime,
}

impl TokioClock {
    /// A clock whose origin is tokio's "now".
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
            system_origin: SystemTime::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now_millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn system_time(&self) -> SystemTime {
        self.system_origin + self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
///
/// ```
/// use std::time::Duration;
/// use tokensource_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now_millis(), 2000);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
    system_origin: SystemTime,
}

impl ManualClock {
    /// A clock at zero, whose wall-clock time starts at the system time now.
    pub fn new() -> Self {
        ManualClock {
            millis: Arc::new(AtomicU64::new(0)),
            system_origin: SystemTime::now(),
        }
    }

    /// Moves the clock forward (clones share the same time).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // Saturating: a clock far in the future stays there rather than wrapping.
        let _ = self
            .millis
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                Some(m.saturating_add(by))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::Acquire)
    }

    fn system_time(&self) -> SystemTime {
        self.system_origin + Duration::from_millis(self.now_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_pause() {
        let clock = TokioClock::new();
        let wall = clock.system_time();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now_millis(), 90_000);
        assert_eq!(clock.system_time(), wall + Duration::from_secs(90));
    }

    #[test]
    fn coarse_clock_is_monotonic() {
        let clock = CoarseClock::default();
        let a = clock.now_millis();
        let b = clock.now_millis();
        assert!(b >= a);
    }
}
